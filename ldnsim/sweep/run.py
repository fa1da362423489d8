"""Running a sweep plan: rows cut into chunks, each a pure function of arrays.

:func:`run_plan` cuts the rows into chunks (:mod:`ldnsim.sweep.chunks`: each chunk is a block
of the result's dims), runs each through :func:`~ldnsim.sweep.jobs.run_job` on a backend
(:mod:`ldnsim.sweep.backends`: numba threads in this process, or a ``dask.distributed``
client), and either assembles the labelled result in memory or lets every chunk write itself
into a Zarr store (:mod:`ldnsim.store`), which a later run with the same inputs resumes.
Because a row's result depends only on that row's inputs (the kernels integrate rows
independently and do not reduce across them), results are bitwise identical for any chunk
size, thread count, backend or resume.

With ``metrics``, every chunk computes the metrics on its own block (where its rows were
solved); with ``trajectories=()`` only the metrics are kept, a few numbers per row.

A row whose solve fails is NaN over all times, keeps its non-zero ``status``, and is reported
(a :class:`SweepWarning` with the count and the first messages, and the
``n_failed``/``failures`` attributes); it never stops the sweep.

:func:`run_chunk` takes a model *reference* (a path or shipped name, with the model hash to
check) as well as a Model, so a distributed worker needs only plain data: it resolves the
reference through its own per-process cache and the on-disk numba cache.
"""
from __future__ import annotations

import dataclasses
import hashlib
import os
import sys
import warnings
from pathlib import Path

import numpy as np

from ldnsim._version import __version__
from ldnsim.errors import ConfigError
from ldnsim.results import make_dataset, provenance_attrs
from ldnsim.solver import STAT_NAMES, Status

from .backends import backend_for
from .chunks import chunk_grid
from .jobs import (
    METRIC_PREFIX,
    ChunkJob,
    ChunkResult,
    MetricsSpec,
    RunSpec,
    metric_layout,
    numba_threads,
    run_chunk,
    stat_totals,
)

__all__ = ["run_plan", "run_chunk", "ChunkResult", "SweepWarning", "numba_threads",
           "DEFAULT_CHUNK_SIZE", "MAX_FAILURE_MESSAGES", "MetricsSpec", "METRIC_PREFIX"]

#: Rows per chunk: large enough to keep numba threads busy, small enough for a smooth progress
#: bar and modest per-chunk memory (states and outputs of every row of the chunk).
DEFAULT_CHUNK_SIZE = 256
#: How many failure messages are kept in attrs and warnings.
MAX_FAILURE_MESSAGES = 5


class SweepWarning(UserWarning):
    """Some rows of a sweep failed (they are NaN in the result; see ``status``)."""


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


def _metrics_spec(metrics) -> MetricsSpec | None:
    if metrics is None or isinstance(metrics, MetricsSpec):
        return metrics
    if isinstance(metrics, str):
        return MetricsSpec((metrics,), {})
    if isinstance(metrics, tuple) and len(metrics) == 2 and isinstance(metrics[1], dict):
        names, options = metrics
        names = (names,) if isinstance(names, str) else tuple(names)
        return MetricsSpec(names, dict(options))
    return MetricsSpec(tuple(metrics), {})


def _spec(plan, metrics, trajectories, store, grid=None) -> RunSpec:
    model = plan.model
    units = {s.name: s.unit for s in model.states}
    units.update({o.name: o.unit for o in model.outputs})
    long_names = {s.name: s.description or s.name for s in model.states}
    long_names.update({o.name: o.description or o.name for o in model.outputs})
    keep = tuple(plan.keep)
    stored = keep if trajectories is None else tuple(trajectories)
    unknown = [v for v in stored if v not in keep]
    if unknown:
        raise ConfigError(f"trajectory {unknown[0]!r} is not among the sweep's variables "
                          f"({', '.join(keep)})")
    return RunSpec(model=str(model.path) if model.path is not None else model,
                   model_hash=model.hash, t_eval=plan.t_eval, y0=plan.y0, tables=plan.tables,
                   keep=keep, keep_index=plan.keep_index, store_keep=stored,
                   solver=dict(plan.solver), dims=tuple(plan.dims), shape=tuple(plan.shape),
                   coords=plan.coords, units=units, long_names=long_names,
                   time_unit=model.time_unit, metrics=metrics,
                   grid=grid if grid is not None else chunk_grid(plan.shape, 1),
                   # absolute: workers on dask may run in another working directory
                   store=None if store is None else os.path.abspath(store))


def _jobs(plan, grid, indices):
    for i in indices:
        a, b = grid.rows(i)
        yield ChunkJob(int(i), plan.rows(a, b), plan.table_index[a:b],
                       plan.events(a, b) if plan.time_varying else None)


def _inputs_hash(plan) -> str:
    """sha256 of everything the rows are computed from (parameters block by block)."""
    h = hashlib.sha256()
    for arr in (plan.t_eval, plan.y0, plan.table_index, plan.keep_index):
        h.update(np.ascontiguousarray(arr).tobytes())
    for table in plan.tables:
        if table is not None and not hasattr(table, "arrays"):  # a per-row Regimen
            h.update(repr(table).encode())
            continue
        for arr in (table.arrays() if table is not None else ()):
            h.update(np.ascontiguousarray(arr).tobytes())
    h.update(repr(sorted(plan.solver.items())).encode())
    for a in range(0, plan.n_rows, 65_536):
        h.update(plan.rows(a, min(a + 65_536, plan.n_rows)).tobytes())
        if plan.time_varying:  # each row's parameter changes
            for arr in plan.events(a, min(a + 65_536, plan.n_rows)):
                h.update(np.ascontiguousarray(arr).tobytes())
    return h.hexdigest()


def _store_layout(plan, spec, layout, attrs):
    from ldnsim.store import StoreLayout

    time_attrs = {"units": plan.model.time_unit, "long_name": "time", "axis": "T"}
    trajectories = {n: {"long_name": str(spec.long_names.get(n) or n),
                        **({"units": spec.units[n]} if spec.units.get(n) is not None else {})}
                    for n in spec.store_keep}
    metrics = ({} if layout is None else
               {n: (layout.dims[n], layout.dtypes[n], layout.attrs[n]) for n in layout.dims})
    fingerprint = {
        "model_hash": plan.model.hash, "ldnsim_version": __version__,
        "experiment": str(plan.attrs.get("experiment_name", "")),
        "inputs": _inputs_hash(plan),
        "layout": {"dims": list(spec.dims), "shape": list(spec.shape),
                   "chunks": list(spec.grid.chunk_shape), "trajectories": list(spec.store_keep),
                   "metrics": {n: list(d) for n, d in (layout.dims if layout else {}).items()},
                   "metric_options": {n: spec.metrics.options.get(n, {})
                                      for n in spec.metrics.names} if spec.metrics else {}},
    }
    return StoreLayout(dims=spec.dims, shape=spec.shape, chunk_shape=spec.grid.chunk_shape,
                       n_chunks=spec.grid.n_chunks, coords=plan.coords, t_eval=plan.t_eval,
                       time_attrs=time_attrs, trajectories=trajectories, metrics=metrics,
                       stat_names=tuple(STAT_NAMES), attrs=attrs, fingerprint=fingerprint)


def _failures(plan, status):
    failed = np.flatnonzero(status)
    messages = [f"{plan.row_label(r)}: {Status(int(status[r])).message}"
                for r in failed[:MAX_FAILURE_MESSAGES]]
    if failed.size:
        warnings.warn(f"{failed.size} of {plan.n_rows} rows failed and are NaN in the result; "
                      "first: " + "; ".join(messages), SweepWarning, stacklevel=3)
    return int(failed.size), messages


def run_plan(plan, *, threads=None, progress=None, chunk_size=None, client=None, metrics=None,
             trajectories=None, store=None, overwrite=False):
    """Run a :class:`SweepPlan` chunk by chunk and return the labelled result.

    Parameters
    ----------
    plan : SweepPlan
    threads : int, optional
        numba threads (default: numba's current setting in this process, 1 per dask task).
    progress : bool or None
        True: always show a progress bar; False: never; None: on a terminal, for runs of more
        than one chunk that last more than 2 s.
    chunk_size : int, optional
        Rows per chunk (default :data:`DEFAULT_CHUNK_SIZE`; a chunk is a block of the dims,
        so it may hold a few more or fewer). Does not change the results. Resuming a store
        needs the chunk size it was written with (another one is refused).
    client : distributed.Client, optional
        Run the chunks as tasks on this dask cluster instead of in this process.
    metrics : MetricsSpec, (names, {name: options}) or sequence of names, optional
        Metrics computed per chunk where its rows were solved, stored as ``metric_<var>``.
    trajectories : sequence of str, optional
        Variables whose time courses the result keeps (default: all of ``plan.keep``;
        ``()``: none, metrics only).
    store : str or os.PathLike, optional
        A Zarr store to write chunk by chunk (see :mod:`ldnsim.store`). An existing store of
        the same run is resumed (its finished chunks are skipped); one of another run is
        refused.
    overwrite : bool
        Replace an existing store instead of resuming it.

    Returns
    -------
    xarray.Dataset
        The kept variables over ``(*plan.dims, "time")``, the metrics, ``status`` over
        ``plan.dims``, coordinates with units, provenance attrs (``n_failed``, ``failures``,
        solver stats). With a store: the store opened with ``xarray.open_zarr`` (lazy).

    Raises
    ------
    ConfigError
        Bad options; a metric that returns a dim the sweep does not have.
    ldnsim.store.StoreError
        The store exists and holds another run, or cannot be written.
    """
    chunk = DEFAULT_CHUNK_SIZE if chunk_size is None else chunk_size
    if isinstance(chunk, bool) or not isinstance(chunk, (int, np.integer)) or chunk < 1:
        raise ConfigError(f"chunk_size must be an integer >= 1, got {chunk_size!r}")
    mspec = _metrics_spec(metrics)
    spec = _spec(plan, mspec, trajectories, store)
    layout = metric_layout(spec) if mspec is not None else None
    whole = layout.whole(spec.dims) if layout is not None else 0
    spec = dataclasses.replace(spec, grid=chunk_grid(plan.shape, int(chunk), whole=whole))
    info = dict(plan.attrs)
    if mspec is not None:
        info.update(metrics=list(mspec.names),
                    metric_options={n: mspec.options.get(n, {}) for n in mspec.names},
                    metric_attrs=layout.metric_attrs)
    backend = backend_for(client, threads)
    if store is not None:
        return _run_to_store(plan, spec, layout, info, backend, progress, overwrite)
    return _run_in_memory(plan, spec, layout, info, backend, progress)


def _run_in_memory(plan, spec, layout, info, backend, progress):
    rows, m, grid = plan.n_rows, plan.t_eval.size, spec.grid
    values = np.empty((len(spec.store_keep), rows, m))  # one block per variable
    status = np.zeros(rows, np.int64)
    stats = np.zeros((rows, len(STAT_NAMES)), np.int64)
    mvalues = {}
    if layout is not None:
        for name, dims in layout.dims.items():
            shape = tuple(plan.shape[plan.dims.index(d)] for d in dims)
            mvalues[name] = np.empty(shape, layout.dtypes[name])
    with _progress_bar(rows, progress, grid.n_chunks) as bar:
        for out in backend.run(spec, _jobs(plan, grid, range(grid.n_chunks))):
            a, b = grid.rows(out.index)
            values[:, a:b] = np.moveaxis(out.values, -1, 0)
            status[a:b], stats[a:b] = out.status, out.stats
            region = dict(zip(spec.dims, grid.region(out.index)))
            for name, block in (out.metrics or {}).items():
                mvalues[name][tuple(region[d] for d in layout.dims[name])] = block
            bar.update(b - a)
    n_failed, messages = _failures(plan, status)
    attrs = provenance_attrs(**info, n_failed=n_failed, failures=messages,
                             solver_stats=stat_totals(stats))
    y = np.moveaxis(values.reshape((len(spec.store_keep),) + plan.shape + (m,)), 0, -1)
    ds = make_dataset(plan.t_eval, y, list(spec.store_keep), spec.units, spec.long_names,
                      dims=plan.dims, coords=plan.coords, status=status.reshape(plan.shape),
                      attrs=attrs, time_unit=plan.model.time_unit)
    if not spec.store_keep:
        ds = ds.drop_dims("time")
    for name, arr in mvalues.items():
        ds[name] = (layout.dims[name], arr, layout.attrs[name])
    return ds


def _run_to_store(plan, spec, layout, info, backend, progress, overwrite):
    import xarray as xr

    from ldnsim import store as zs

    path = Path(spec.store)
    slayout = _store_layout(plan, spec, layout, provenance_attrs(**info))
    if zs.is_store(path) and not overwrite:
        zs.check_store(path, slayout)
    else:
        zs.create_store(path, slayout, overwrite=overwrite)
    done = zs.done_chunks(path)
    todo = np.flatnonzero(~done)
    grid = spec.grid
    total = sum(b - a for a, b in (grid.rows(int(i)) for i in todo))
    with _progress_bar(total, progress, len(todo)) as bar:
        for out in backend.run(spec, _jobs(plan, grid, todo)):
            a, b = grid.rows(out.index)
            bar.update(b - a)
    status = zs.read_status(path).reshape(-1)
    n_failed, messages = _failures(plan, status)
    per_chunk = zs.store_stats(path)
    zs.finalize_store(path, {"n_failed": n_failed, "failures": messages,
                             "solver_stats": stat_totals(per_chunk)})
    return xr.open_zarr(path, decode_times=False, decode_timedelta=False)

