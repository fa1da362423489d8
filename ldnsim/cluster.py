"""Command-line options for running at scale: dask clusters and Zarr stores.

``ldnsim run`` and ``ldnsim sensitivity`` share them::

    --scheduler ADDRESS      connect to a running dask scheduler (tcp://host:8786); without
                             ADDRESS, the one in the user's dask config (scheduler-address)
    --scheduler-file FILE    connect through a scheduler file (dask scheduler --scheduler-file)
    --local-cluster N        start a LocalCluster of N single-threaded worker processes on this
                             machine (loopback only), for the run
    -o RESULT.zarr           a Zarr store, written chunk by chunk; the same command on an
                             existing store resumes it (checked first: experiment, model hash,
                             version); --overwrite starts afresh

Without them a run stays in this process (numba threads), as before. Nothing here changes a
value: every backend and every resume gives the same result bit for bit.
"""
from __future__ import annotations

import contextlib
from pathlib import Path

from .errors import LdnsimError

__all__ = ["add_scale_options", "client_from", "wants_scale", "is_store_path", "run_scaled",
           "local_cluster"]


class ClusterError(LdnsimError):
    """A dask cluster cannot be reached or started, or dask is not installed."""


def add_scale_options(parser, *, overwrite=True):
    """Add ``--scheduler``, ``--scheduler-file``, ``--local-cluster`` (and ``--overwrite``)."""
    g = parser.add_argument_group("running at scale (dask, Zarr)")
    x = g.add_mutually_exclusive_group()
    x.add_argument("--scheduler", nargs="?", const="config", metavar="ADDRESS",
                   help="run the chunks on this dask scheduler (no ADDRESS: dask config's "
                        "scheduler-address)")
    x.add_argument("--scheduler-file", metavar="FILE", help="dask scheduler file to connect to")
    x.add_argument("--local-cluster", type=int, metavar="N",
                   help="start a dask LocalCluster of N worker processes for this run")
    if overwrite:
        g.add_argument("--overwrite", action="store_true",
                       help="replace an existing Zarr store instead of resuming it")


def wants_scale(args) -> bool:
    """True when the options ask for dask or a Zarr store."""
    return bool(getattr(args, "scheduler", None) or getattr(args, "scheduler_file", None)
                or getattr(args, "local_cluster", None) is not None
                or is_store_path(getattr(args, "output", None)))


def is_store_path(path) -> bool:
    return path is not None and Path(path).suffix.lower() == ".zarr"


def _distributed():
    try:
        import distributed
    except ModuleNotFoundError:
        raise ClusterError("running on dask needs dask.distributed: pip install "
                           "'ldnsim[dask]'") from None
    return distributed


def local_cluster(n_workers):
    """A ``distributed.LocalCluster`` of ``n_workers`` single-threaded worker processes that
    listens on the loopback interface only, without a dashboard (its HTTP server, which
    distributed always starts, on a free loopback port instead of 8787 on every interface).
    """
    distributed = _distributed()
    return distributed.LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                                    host="127.0.0.1", dashboard_address="127.0.0.1:0",
                                    scheduler_kwargs={"dashboard": False})


@contextlib.contextmanager
def client_from(args):
    """A ``distributed.Client`` for the options (closed after), or None for in-process."""
    scheduler = getattr(args, "scheduler", None)
    scheduler_file = getattr(args, "scheduler_file", None)
    local = getattr(args, "local_cluster", None)
    if not (scheduler or scheduler_file or local is not None):
        yield None
        return
    distributed = _distributed()
    if local is not None:
        if local < 1:
            raise ClusterError(f"--local-cluster needs at least 1 worker, got {local}")
        with local_cluster(local) as cluster, distributed.Client(cluster) as client:
            yield client
        return
    if scheduler == "config":
        import dask

        scheduler = dask.config.get("scheduler-address", None)
        if not scheduler:
            raise ClusterError("--scheduler without an address needs scheduler-address in "
                               "the dask config (e.g. DASK_SCHEDULER_ADDRESS=tcp://host:8786)")
    if scheduler_file is not None and not Path(scheduler_file).is_file():
        raise ClusterError(f"no scheduler file at {scheduler_file}")
    try:
        client = (distributed.Client(scheduler_file=scheduler_file, timeout="30s")
                  if scheduler_file else distributed.Client(scheduler, timeout="30s"))
    except OSError as exc:
        raise ClusterError(f"cannot reach the dask scheduler "
                           f"{scheduler or scheduler_file}: {exc}") from None
    with client:
        yield client


def run_scaled(args, exp, default_output, save_result, save_figure) -> Path:
    """``ldnsim run`` on dask and/or into a Zarr store: returns the written path.

    ``save_result(ds, path)`` writes a NetCDF result; ``save_figure(ds, path)`` the figure.
    """
    from .experiment import run_experiment

    out = Path(args.output or default_output)
    store = out if is_store_path(out) else None
    with client_from(args) as client:
        ds = run_experiment(exp, threads=args.threads, chunk_size=args.chunk_size,
                            progress=False if args.no_progress else None, client=client,
                            store=store, overwrite=getattr(args, "overwrite", False))
    if store is None:
        save_result(ds, out)
    n_failed = int(ds.attrs.get("n_failed", 0))
    print(f"wrote {out} ({exp.plan.n_rows} rows" + (f", {n_failed} failed" if n_failed else "")
          + ")")
    if args.plot:
        print(f"wrote {save_figure(ds.load() if store is not None else ds, args.plot)}")
    return out
