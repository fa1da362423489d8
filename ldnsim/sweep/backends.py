"""Where chunks run: in this process on numba threads, or on a ``dask.distributed`` cluster.

Both backends run the same function, :func:`ldnsim.sweep.jobs.run_job`, on the same chunks, so
their results are bitwise identical. A backend takes a :class:`~ldnsim.sweep.jobs.RunSpec`
(shared by all chunks) and an iterator of :class:`~ldnsim.sweep.jobs.ChunkJob` (built lazily,
one chunk's parameter rows at a time) and yields :class:`~ldnsim.sweep.jobs.ChunkOutcome` as
chunks finish, in any order.

The dask backend ships the spec once to every worker (``scatter(broadcast=True)``) and keeps
only a few chunks in flight (:attr:`DaskBackend.in_flight`), so the driver never holds more
than a few chunks' inputs, whatever the sweep size. Workers find the model by its file path and
hash and compile it once per process (numba's on-disk cache makes that a load, not a
compilation). A worker lost mid-task (killed, out of memory) is the scheduler's business: it
reruns the task elsewhere, and since a chunk is a pure function of its inputs and is written
whole before it is marked complete, the result is the same.
"""
from __future__ import annotations

import dataclasses
import itertools
import uuid
from collections.abc import Iterable, Iterator

from ldnsim.errors import ConfigError

from .jobs import ChunkJob, ChunkOutcome, RunSpec, numba_threads, run_job

__all__ = ["ThreadsBackend", "DaskBackend", "backend_for"]


class ThreadsBackend:
    """Chunks one after another in this process; numba threads inside each chunk.

    Parameters
    ----------
    threads : int, optional
        numba threads (default: numba's current setting).
    """

    name = "threads"

    def __init__(self, threads=None):
        self.threads = threads

    def run(self, spec: RunSpec, jobs: Iterable[ChunkJob]) -> Iterator[ChunkOutcome]:
        with numba_threads(self.threads):
            for job in jobs:
                yield run_job(spec, job)


class DaskBackend:
    """Chunks as tasks on a ``distributed.Client``.

    Parameters
    ----------
    client : distributed.Client
    threads : int, optional
        numba threads inside each task (default 1: dask runs one task per worker thread).
    in_flight : int, optional
        Chunks submitted but not finished (default: twice the cluster's worker threads).
    """

    name = "dask"

    def __init__(self, client, threads=None, in_flight=None):
        self.client = client
        self.threads = 1 if threads is None else threads
        self.in_flight = in_flight

    def _window(self):
        if self.in_flight is not None:
            return max(1, int(self.in_flight))
        return max(2, 2 * sum(self.client.nthreads().values()))

    def run(self, spec: RunSpec, jobs: Iterable[ChunkJob]) -> Iterator[ChunkOutcome]:
        from distributed import as_completed

        spec = dataclasses.replace(spec, threads=self.threads)
        [shared] = self.client.scatter([spec], broadcast=True, hash=False)
        token = uuid.uuid4().hex[:12]
        jobs = iter(jobs)
        pending = as_completed()
        inflight = set()

        def submit(job):
            # The key names the chunk (not a hash of its arrays): a chunk always runs.
            future = self.client.submit(run_job, shared, job, pure=False,
                                        key=f"ldnsim-chunk-{job.index}-{token}")
            inflight.add(future)
            pending.add(future)

        try:
            for job in itertools.islice(jobs, self._window()):
                submit(job)
            for future in pending:
                outcome = future.result()
                inflight.discard(future)
                future.release()
                for job in itertools.islice(jobs, 1):
                    submit(job)
                yield outcome
        finally:
            for future in inflight:
                future.cancel()
            shared.release()


def backend_for(client=None, threads=None):
    """:class:`DaskBackend` on ``client``, or :class:`ThreadsBackend` when it is None."""
    if client is None:
        return ThreadsBackend(threads)
    if not hasattr(client, "submit") or not hasattr(client, "scatter"):
        raise ConfigError(f"client must be a distributed.Client, got {type(client).__name__}")
    return DaskBackend(client, threads)
