"""Running a sweep plan: rows cut into chunks, each a pure function of arrays.

:func:`run_plan` cuts the rows into chunks, runs each through :func:`run_chunk` (numba threads
inside), writes the chunk into its slice of the result and reshapes to named dims. Because a
row's result depends only on that row's inputs (the kernels integrate rows independently and do
not reduce across them), results are bitwise identical for any chunk size or thread count. A
row whose solve fails is NaN over all times, keeps its non-zero ``status``, and is reported (a
:class:`SweepWarning` with the count and the first messages, and the ``n_failed``/``failures``
attributes); it never stops the sweep.

:func:`run_chunk` takes a model *reference* (a path or shipped name, with the model hash to
check) as well as a Model, so a distributed worker needs only plain data: it resolves the
reference through its own per-process cache and the on-disk numba cache.
"""
from __future__ import annotations

import contextlib
import os
import sys
import warnings
from dataclasses import dataclass

import numba
import numpy as np

from ldnsim.errors import ConfigError, ModelError
from ldnsim.model import Model, load_model
from ldnsim.results import make_dataset, provenance_attrs
from ldnsim.simulation import run_rows
from ldnsim.solver import STAT_NAMES, Status

__all__ = ["run_plan", "run_chunk", "ChunkResult", "SweepWarning", "numba_threads",
           "DEFAULT_CHUNK_SIZE", "MAX_FAILURE_MESSAGES"]

#: Rows per chunk: large enough to keep numba threads busy, small enough for a smooth progress
#: bar and modest per-chunk memory (states and outputs of every row of the chunk).
DEFAULT_CHUNK_SIZE = 256
#: How many failure messages are kept in attrs and warnings.
MAX_FAILURE_MESSAGES = 5


class SweepWarning(UserWarning):
    """Some rows of a sweep failed (they are NaN in the result; see ``status``)."""


@dataclass(frozen=True)
class ChunkResult:
    """``values`` (r, m, n_keep) NaN on failed rows, ``status`` (r,), ``stats`` (r, n_stats)."""

    values: np.ndarray
    status: np.ndarray
    stats: np.ndarray


_COMPILED: dict = {}


def _compiled(model, model_hash=None):
    """CompiledModel for a Model, a shipped name or a path (references cached per process)."""
    if isinstance(model, Model):
        compiled = model.compile()  # the generated module is reused within the process
    else:
        key = (os.fspath(model), model_hash)
        compiled = _COMPILED.get(key)
        if compiled is None:
            compiled = load_model(model).compile()
    if model_hash is not None and compiled.model.hash != model_hash:
        raise ModelError(f"{compiled.model.location}: the model file changed since the sweep "
                         f"was planned (hash {compiled.model.hash[:12]} != {model_hash[:12]})")
    if not isinstance(model, Model):
        _COMPILED[key] = compiled
    return compiled


def run_chunk(model, t_eval, P, y0, events, *, method="auto", rtol=1e-6, atol=1e-9,
              max_steps=100_000, keep_index=None, model_hash=None) -> ChunkResult:
    """Integrate rows of one model: a pure function of arrays (the unit of parallel work).

    Parameters
    ----------
    model : Model, shipped model name or path
        A reference is resolved (and compiled) through a per-process cache, so a remote worker
        needs only the string; ``model_hash`` guards against a changed file.
    t_eval : (m,) ; P : (r, k) ; y0 : (n,) or (r, n)
    events : four (r or 1, d) arrays ``(time, kind, index, amount)`` from ``pad_event_tables``.
    method, rtol, atol, max_steps : solver settings.
    keep_index : (n_keep,) int, optional
        Positions among ``states + outputs`` to return (default: all).

    Returns
    -------
    ChunkResult
        Rows whose status is non-zero are NaN over all times.
    """
    compiled = _compiled(model, model_hash)
    res = run_rows(compiled, t_eval, P, y0, events, method=method, rtol=rtol, atol=atol,
                   max_steps=max_steps)
    values = np.concatenate([res.states, res.outputs], axis=-1)
    if keep_index is not None:
        values = values[..., np.asarray(keep_index, dtype=np.int64)]
    status = np.asarray(res.status, dtype=np.int64)
    values[status != 0] = np.nan
    stats = np.stack([np.asarray(res.stats[k], dtype=np.int64) for k in STAT_NAMES], axis=-1)
    return ChunkResult(values=np.ascontiguousarray(values), status=status, stats=stats)


@contextlib.contextmanager
def numba_threads(threads):
    """Run the block with ``numba.set_num_threads(threads)``; restore the old count after."""
    if threads is None:
        yield
        return
    top = numba.config.NUMBA_NUM_THREADS
    if isinstance(threads, bool) or not isinstance(threads, (int, np.integer)) \
            or not 1 <= threads <= top:
        raise ConfigError(f"threads must be an integer from 1 to {top} (NUMBA_NUM_THREADS), "
                          f"got {threads!r}")
    old = numba.get_num_threads()
    numba.set_num_threads(int(threads))
    try:
        yield
    finally:
        numba.set_num_threads(old)


def _progress_bar(total, progress, n_chunks):
    from tqdm.auto import tqdm

    disable = progress is False or (n_chunks <= 1 and progress is None)
    if hasattr(sys.stderr, "isatty") and sys.stderr.isatty():
        return tqdm(total=total, unit="row", desc="ldnsim", disable=disable,
                    delay=0 if progress is True else 2.0, leave=False, dynamic_ncols=True)
    # A log file or CI: a long run still says how far it is, but only every 30 s, one line
    # each time, and keeps its last line.
    return tqdm(total=total, unit="row", desc="ldnsim", disable=disable, mininterval=30.0,
                delay=0 if progress is True else 10.0, ascii=True, ncols=80)


def run_plan(plan, *, threads=None, progress=None, chunk_size=None):
    """Run a :class:`SweepPlan` chunk by chunk and return the labelled result.

    Parameters
    ----------
    plan : SweepPlan
    threads : int, optional
        numba threads (default: numba's current setting).
    progress : bool or None
        True: always show a progress bar; False: never; None: on a terminal, for runs of more
        than one chunk that last more than 2 s.
    chunk_size : int, optional
        Rows per chunk (default :data:`DEFAULT_CHUNK_SIZE`). Does not change the results.

    Returns
    -------
    xarray.Dataset
        The kept variables over ``(*plan.dims, "time")``, ``status`` over ``plan.dims``,
        coordinates with units, provenance attrs (``n_failed``, ``failures``, solver stats).
    """
    chunk = DEFAULT_CHUNK_SIZE if chunk_size is None else chunk_size
    if isinstance(chunk, bool) or not isinstance(chunk, (int, np.integer)) or chunk < 1:
        raise ConfigError(f"chunk_size must be an integer >= 1, got {chunk_size!r}")
    rows, m, nk = plan.n_rows, plan.t_eval.size, len(plan.keep)
    values = np.empty((nk, rows, m))  # one contiguous block per variable, for metrics and IO
    status = np.zeros(rows, np.int64)
    stats = np.zeros((rows, len(STAT_NAMES)), np.int64)
    starts = range(0, rows, int(chunk))
    with numba_threads(threads), _progress_bar(rows, progress, len(starts)) as bar:
        for a in starts:
            b = min(a + int(chunk), rows)
            res = run_chunk(plan.model, plan.t_eval, plan.P[a:b], plan.y0, plan.events(a, b),
                            keep_index=plan.keep_index, **plan.solver)
            values[:, a:b] = np.moveaxis(res.values, -1, 0)
            status[a:b], stats[a:b] = res.status, res.stats
            bar.update(b - a)

    failed = np.flatnonzero(status)
    messages = [f"{plan.row_label(r)}: {Status(int(status[r])).message}"
                for r in failed[:MAX_FAILURE_MESSAGES]]
    if failed.size:
        warnings.warn(f"{failed.size} of {rows} rows failed and are NaN in the result; first: "
                      + "; ".join(messages), SweepWarning, stacklevel=2)
    model = plan.model
    units = {s.name: s.unit for s in model.states}
    units.update({o.name: o.unit for o in model.outputs})
    long_names = {s.name: s.description or s.name for s in model.states}
    long_names.update({o.name: o.description or o.name for o in model.outputs})
    attrs = provenance_attrs(**plan.attrs, n_failed=int(failed.size), failures=messages,
                             solver_stats={k: int(stats[:, i].sum())
                                           for i, k in enumerate(STAT_NAMES)})
    y = np.moveaxis(values.reshape((nk,) + plan.shape + (m,)), 0, -1)
    return make_dataset(plan.t_eval, y, list(plan.keep),
                        units, long_names, dims=plan.dims, coords=plan.coords,
                        status=status.reshape(plan.shape), attrs=attrs,
                        time_unit=model.time_unit)
