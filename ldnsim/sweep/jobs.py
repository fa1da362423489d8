"""The unit of parallel work: one chunk of rows solved, its metrics computed, its result kept.

:func:`run_job` is a pure function of plain data (:class:`RunSpec`, shared by every chunk,
and :class:`ChunkJob`, one chunk's rows), so the same function runs in-process on numba
threads or on a ``dask.distributed`` worker, with bitwise identical results: a row's values
depend only on that row's inputs, and a chunk is a block of the result's dims
(:mod:`ldnsim.sweep.chunks`), so metrics computed on it are the metrics of that block of the
whole result.

Metrics per chunk ("metrics without trajectories"): the chunk's rows are labelled exactly as
their block of the whole result (same dims, the block's coordinates, units) and the registered
metric functions run on that small Dataset. Metrics reduce ``time`` and at most trailing dims
that the chunk grid keeps whole (``window_summary`` reduces ``subject``); :func:`metric_layout`
finds which dims each metric output keeps by running the metrics on an all-failed (NaN) block.
"""
from __future__ import annotations

import contextlib
import os
import time
import warnings
from dataclasses import dataclass

import numpy as np
import xarray as xr

from ldnsim.errors import ConfigError, ModelError
from ldnsim.events import EventTable, pad_event_tables
from ldnsim.metrics import merge_metrics, metric_parts
from ldnsim.model import Model, load_model
from ldnsim.results import make_dataset
from ldnsim.simulation import run_rows
from ldnsim.solver import STAT_NAMES

from .chunks import ChunkGrid

__all__ = ["RunSpec", "ChunkJob", "ChunkOutcome", "MetricsSpec", "MetricLayout", "run_job",
           "chunk_dataset", "metric_layout", "METRIC_PREFIX", "run_chunk", "ChunkResult",
           "numba_threads"]

#: Prefix of metric variables in a result (as in ``ldnsim.experiment``).
METRIC_PREFIX = "metric_"


@dataclass(frozen=True)
class MetricsSpec:
    """Metrics computed per chunk: registry ``names`` and ``{name: options}``."""

    names: tuple
    options: dict


@dataclass(frozen=True)
class MetricLayout:
    """Per metric variable (prefixed): its dims, dtype and attrs; and each metric's attrs."""

    dims: dict
    dtypes: dict
    attrs: dict
    metric_attrs: dict

    def whole(self, sweep_dims) -> int:
        """How many trailing sweep dims a chunk must keep whole (from the first reduced one)."""
        reduced = [i for i, d in enumerate(sweep_dims)
                   if any(d not in v for v in self.dims.values())]
        return len(sweep_dims) - min(reduced) if reduced else 0


@dataclass(frozen=True, eq=False)
class RunSpec:
    """Everything shared by the chunks of one run, as plain data.

    Attributes
    ----------
    model : str or Model
        The model file's path (workers load and compile it through their per-process cache
        and numba's on-disk cache), or the Model itself when it has no file.
    model_hash : str
    t_eval : (m,) ; y0 : (n,)
    tables : tuple of EventTable or None
        Distinct dose event tables (rows name theirs in :attr:`ChunkJob.table_index`).
    keep : tuple of str; keep_index : (n_keep,) int
        Variables solved for (trajectories and metric inputs) and their positions.
    store_keep : tuple of str
        Trajectories the result keeps (a subset of ``keep``; empty: metrics only).
    solver : dict
    dims, shape : tuple; coords : dict
        The sweep's dims and coordinates (chunk Datasets are labelled with their block).
    units, long_names : dict ; time_unit : str
    metrics : MetricsSpec or None
    grid : ChunkGrid
    store : str or None
        Path of a Zarr store the job writes its chunk into (else the arrays come back).
    threads : int or None
        numba threads inside a job (None: the process's setting).
    """

    model: object
    model_hash: str
    t_eval: np.ndarray
    y0: np.ndarray
    tables: tuple
    keep: tuple
    keep_index: np.ndarray
    store_keep: tuple
    solver: dict
    dims: tuple
    shape: tuple
    coords: dict
    units: dict
    long_names: dict
    time_unit: str
    metrics: MetricsSpec | None
    grid: ChunkGrid
    store: str | None = None
    threads: int | None = None


@dataclass(frozen=True, eq=False)
class ChunkJob:
    """One chunk: its index in the grid, its rows' parameters and event-table indices."""

    index: int
    P: np.ndarray
    table_index: np.ndarray
    #: the rows' own padded event arrays (time-varying covariates), else built from tables
    events: tuple | None = None


@dataclass(frozen=True, eq=False)
class ChunkOutcome:
    """What a job returns: ``status`` (r,), ``stats`` (r, n_stats), and unless the job wrote
    to a store, ``values`` (r, m, len(store_keep)) and ``metrics`` ``{name: block}``.
    ``seconds`` (wall time of the job) and ``pid`` (the process that ran it) are for
    benchmarks."""

    index: int
    status: np.ndarray
    stats: np.ndarray
    values: np.ndarray | None = None
    metrics: dict | None = None
    seconds: float = 0.0
    pid: int = 0


def _block_coords(spec: RunSpec, region) -> dict:
    """The sweep's coordinates restricted to one chunk's block."""
    where = dict(zip(spec.dims, region))
    out = {}
    for name, (dim, values, attrs) in spec.coords.items():
        # a coordinate over several dims (e.g. a subject's eta over (draw, subject)): one
        # slice per dim
        index = tuple(where[d] for d in dim) if isinstance(dim, tuple) else where[dim]
        out[name] = (dim, np.asarray(values)[index], attrs)
    return out


def chunk_dataset(spec: RunSpec, index, values, status) -> xr.Dataset:
    """The chunk's rows as the block of the whole result they are.

    Parameters
    ----------
    spec : RunSpec
    index : int
        The chunk.
    values : (r, m, n_keep) ; status : (r,)

    Returns
    -------
    xarray.Dataset
        ``keep`` variables over ``(*dims, "time")`` with the block's sizes and coordinates.
    """
    region = spec.grid.region(index)
    block = tuple(s.stop - s.start for s in region)
    y = values.reshape(block + values.shape[1:])
    return make_dataset(spec.t_eval, y, list(spec.keep), spec.units, spec.long_names,
                        dims=spec.dims, coords=_block_coords(spec, region),
                        status=status.reshape(block), time_unit=spec.time_unit)


def _metrics_of(spec: RunSpec, ds: xr.Dataset):
    metrics = spec.metrics
    assert metrics is not None
    parts = metric_parts(ds, metrics.names, metrics.options)
    merged = merge_metrics(list(parts.values()), metrics.names)
    merged = merged.rename({v: f"{METRIC_PREFIX}{v}" for v in merged.data_vars})
    return merged, parts


def metric_layout(spec: RunSpec) -> MetricLayout:
    """Dims, dtypes and attrs of every metric variable, from the metrics run on a one-row
    block (every dim of size 1) whose row failed (NaN), so nothing is solved. A dim missing
    from an output is one the metric reduces (see :meth:`MetricLayout.whole`).

    Raises
    ------
    ConfigError
        A metric returns a dim that is not a sweep dim.
    """
    region = tuple(slice(0, 1) for _ in spec.dims)
    y = np.full((1,) * len(spec.dims) + (spec.t_eval.size, len(spec.keep)), np.nan)
    ds = make_dataset(spec.t_eval, y, list(spec.keep), spec.units, spec.long_names,
                      dims=spec.dims, coords=_block_coords(spec, region),
                      status=np.ones((1,) * len(spec.dims), np.int64), time_unit=spec.time_unit)
    with warnings.catch_warnings():  # all-NaN medians and the like: it is a probe
        warnings.simplefilter("ignore")
        merged, parts = _metrics_of(spec, ds)
    dims, dtypes, attrs = {}, {}, {}
    for name, da in merged.data_vars.items():
        if any(d not in spec.dims for d in da.dims):
            raise ConfigError(f"metric variable {name[len(METRIC_PREFIX):]!r} has dims "
                              f"{list(da.dims)}, not all of them sweep dims {list(spec.dims)}")
        dims[str(name)] = tuple(d for d in spec.dims if d in da.dims)
        dtypes[str(name)] = da.dtype
        attrs[str(name)] = dict(da.attrs)
    return MetricLayout(dims, dtypes, attrs, {n: dict(p.attrs) for n, p in parts.items()})


def solve_job(spec: RunSpec, job: ChunkJob):
    """``ChunkResult`` of the job's rows (the solve only)."""
    if job.events is not None:  # dose tables merged with covariate changes (plan.events)
        events = job.events
    elif any(t is not None and not isinstance(t, EventTable) for t in spec.tables):
        from ldnsim.steady import row_tables  # per-row dosing: named F/lag, steady states
        tables = row_tables(_compiled(spec.model, spec.model_hash), spec.tables,
                            job.table_index, job.P, spec.y0, float(spec.t_eval[0]),
                            {k: spec.solver[k] for k in ("method", "rtol", "atol",
                                                         "max_steps")})
        events = pad_event_tables(tables)
    else:
        events = pad_event_tables([spec.tables[i] for i in job.table_index])
    return run_chunk(spec.model, spec.t_eval, job.P, spec.y0, events, keep_index=spec.keep_index,
                     model_hash=spec.model_hash, threads=spec.threads, **spec.solver)


# --------------------------------------------------------------------- solving rows of a model
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


@dataclass(frozen=True)
class ChunkResult:
    """``values`` (r, m, n_keep) NaN on failed rows, ``status`` (r,), ``stats`` (r, n_stats)."""

    values: np.ndarray
    status: np.ndarray
    stats: np.ndarray


@contextlib.contextmanager
def numba_threads(threads):
    """Run the block with ``numba.set_num_threads(threads)``; restore the old count after."""
    if threads is None:
        yield
        return
    import numba

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


def run_chunk(model, t_eval, P, y0, events, *, method="auto", rtol=1e-6, atol=1e-9,
              max_steps=100_000, keep_index=None, model_hash=None, threads=None) -> ChunkResult:
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
    model_hash : str, optional
        The hash the model must have.
    threads : int, optional
        numba threads for this call (default: the process's setting).

    Returns
    -------
    ChunkResult
        Rows whose status is non-zero are NaN over all times.
    """
    compiled = _compiled(model, model_hash)
    with numba_threads(threads):
        res = run_rows(compiled, t_eval, P, y0, events, method=method, rtol=rtol, atol=atol,
                       max_steps=max_steps)
    values = np.concatenate([res.states, res.outputs], axis=-1)
    if keep_index is not None:
        values = values[..., np.asarray(keep_index, dtype=np.int64)]
    status = np.asarray(res.status, dtype=np.int64)
    values[status != 0] = np.nan
    stats = np.stack([np.asarray(res.stats[k], dtype=np.int64) for k in STAT_NAMES], axis=-1)
    return ChunkResult(values=np.ascontiguousarray(values), status=status, stats=stats)


def run_job(spec: RunSpec, job: ChunkJob) -> ChunkOutcome:
    """Solve one chunk, compute its metrics, and write it to the store or return it.

    Parameters
    ----------
    spec : RunSpec
    job : ChunkJob

    Returns
    -------
    ChunkOutcome
        With the arrays when ``spec.store`` is None; else the store holds them and the
        chunk is marked complete there (after its data).
    """
    t0 = time.perf_counter()
    res = solve_job(spec, job)
    region = spec.grid.region(job.index)
    block = tuple(s.stop - s.start for s in region)
    stored = [spec.keep.index(name) for name in spec.store_keep]
    values = res.values[:, :, stored]
    metrics = {}
    if spec.metrics is not None:
        ds = chunk_dataset(spec, job.index, res.values, res.status)
        merged, _ = _metrics_of(spec, ds)
        for name, da in merged.data_vars.items():
            metrics[str(name)] = np.asarray(da.transpose(*[d for d in spec.dims
                                                           if d in da.dims]).values)
    if spec.store is None:
        return ChunkOutcome(job.index, res.status, res.stats, values, metrics,
                            time.perf_counter() - t0, os.getpid())
    from ldnsim.store import write_chunk

    trajectories = {name: values[:, :, j].reshape(block + (spec.t_eval.size,))
                    for j, name in enumerate(spec.store_keep)}
    write_chunk(spec.store, job.index, region, spec.dims, trajectories, metrics,
                res.status.reshape(block), res.stats.sum(axis=0))
    return ChunkOutcome(job.index, res.status, res.stats, seconds=time.perf_counter() - t0,
                        pid=os.getpid())


def stat_totals(stats) -> dict:
    """``{name: total}`` of solver statistics (r, n_stats) or (n_stats,)."""
    arr = np.asarray(stats).reshape(-1, len(STAT_NAMES)).sum(axis=0)
    return {k: int(arr[i]) for i, k in enumerate(STAT_NAMES)}
