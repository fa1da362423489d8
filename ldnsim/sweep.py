"""Sweeps: a grid of doses, scenarios, parameters, samples and subjects, run in chunks of rows.

``sweep(model, t_eval, axes={"dose": [...], "scenario": [...], "CL": [...]}, ...)`` returns an
``xarray.Dataset`` with one dim per axis (plus ``sample`` and ``subject`` when given) and
``time``. It is two steps, each usable alone:

1. :func:`plan_sweep` flattens the grid into rows (C order over the dims) and builds plain
   arrays: the parameter matrix ``P`` (rows, k), the initial state, a few distinct dose event
   tables and, per row, the index of its table. Nothing random happens later: population draws
   use one ``SeedSequence`` child per subject (:mod:`ldnsim.population`), so row ``r``'s inputs
   depend only on the configuration and ``r``.
2. :func:`run_plan` cuts the rows into chunks, runs each through :func:`run_chunk` (numba
   threads inside), writes the chunk into its slice of the result and reshapes to named dims.

Because a row's result depends only on that row's inputs (the kernels integrate rows
independently and do not reduce across them), results are bitwise identical for any chunk size
or thread count. A row whose solve fails is NaN over all times, keeps its non-zero ``status``,
and is reported (a :class:`SweepWarning` with the count and the first messages, and the
``n_failed``/``failures`` attributes); it never stops the sweep.

Design note: distributed runs and Zarr region writes
----------------------------------------------------
:func:`run_chunk` is a pure function of arrays plus a model *reference* (a path or shipped name,
with the model hash to check): ``run_chunk(model_ref, t_eval, P[a:b], y0, events(a, b), ...,
model_hash=h) -> (values (b-a, m, n_keep), status (b-a,), stats)``. A worker resolves the
reference through its own in-process cache and the on-disk numba cache, so nothing unpicklable
(compiled functions, Model objects) has to travel. A ``dask.distributed`` backend therefore only
replaces the loop in :func:`run_plan`: ``client.submit(run_chunk, ...)`` per row range
``[a, b)``, collecting futures with ``as_completed``. For results larger than memory, the same
loop writes each chunk with ``zarr_array[a:b] = values`` (xarray ``to_zarr(region={"row":
slice(a, b)})``) into a flat ``(row, time, variable)`` store together with a boolean
``done[row]`` completion mask written after the data; a resumed run skips finished chunks, and
since rows are deterministic a chunk that is re-run after a crash writes identical bytes. The
named dims are recovered by reshaping the row axis (C order over ``plan.dims``), exactly as
:func:`run_plan` does in memory.
"""
from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import sys
import warnings
from dataclasses import dataclass

import numpy as np

from .dosing import Dose, Regimen
from .events import pad_event_tables
from .errors import ConfigError, ModelError

__all__ = ["sweep", "plan_sweep", "run_plan", "run_chunk", "SweepPlan", "ChunkResult",
           "SweepWarning", "DEFAULT_CHUNK_SIZE", "MAX_RESULT_BYTES", "scenario_label"]

#: Rows per chunk: large enough to keep numba threads busy, small enough for a smooth progress
#: bar and modest per-chunk memory (states and outputs of every row of the chunk).
DEFAULT_CHUNK_SIZE = 256
#: Largest in-memory result (float64 values kept) a plan accepts; more is almost always a
#: mistake in ``output.step`` or the grid (use fewer variables, a coarser step, or a later
#: Zarr backend).
MAX_RESULT_BYTES = 8 * 2**30
#: Dims the sweep names itself; a parameter axis may not use them.
RESERVED_DIMS = ("time", "status", "subject", "sample", "case")
#: How many failure messages are kept in attrs and warnings.
MAX_FAILURE_MESSAGES = 5


class SweepWarning(UserWarning):
    """Some rows of a sweep failed (they are NaN in the result; see ``status``)."""


def scenario_label(combo) -> str:
    """Coordinate label of a scenario combination: names joined with '+', 'base' for none."""
    return "+".join(combo) if combo else "base"


# --------------------------------------------------------------------------------------- plan
@dataclass(frozen=True, eq=False)
class SweepPlan:
    """Everything a sweep run needs, as arrays; build it with :func:`plan_sweep`.

    Attributes
    ----------
    model : Model
    t_eval : (m,) output times
    dims : tuple of str; shape : tuple of int
        The result's sweep dims (before ``time``) and their sizes; rows are C-ordered over them.
    coords : dict
        xarray coordinates for the dims (values, units, long names).
    P : (rows, k) parameter rows (parameters then inputs)
    y0 : (n,) initial state, shared by all rows
    tables : tuple of EventTable or None; table_index : (rows,) int
        Distinct dose event tables and which one each row uses.
    keep : tuple of str; keep_index : (n_keep,) int
        Variables stored, and their positions among ``states + outputs``.
    solver : dict with method, rtol, atol, max_steps
    attrs : dict of provenance for the result
    """

    model: object
    t_eval: np.ndarray
    dims: tuple
    shape: tuple
    coords: dict
    P: np.ndarray
    y0: np.ndarray
    tables: tuple
    table_index: np.ndarray
    keep: tuple
    keep_index: np.ndarray
    solver: dict
    attrs: dict

    @property
    def n_rows(self) -> int:
        return int(self.P.shape[0])

    @property
    def nbytes(self) -> int:
        """Size of the values the result keeps (float64)."""
        return self.n_rows * self.t_eval.size * len(self.keep) * 8

    def events(self, start, stop):
        """Padded ``(time, kind, index, amount)`` arrays for rows ``start:stop``."""
        return pad_event_tables([self.tables[i] for i in self.table_index[start:stop]])

    def row_label(self, row) -> str:
        """``dose=3 mg, scenario=a+b, subject=4`` for row ``row`` (for messages)."""
        if not self.dims:
            return "the only row"
        idx = np.unravel_index(int(row), self.shape)
        parts = []
        for dim, i in zip(self.dims, idx):
            values, attrs = self.coords[dim][1], self.coords[dim][2]
            unit = attrs.get("units", "")
            v = values[i]
            text = f"{v:g}" if isinstance(v, (float, np.floating)) else str(v)
            parts.append(f"{dim}={text}{' ' + unit if unit and unit != '1' else ''}")
        return ", ".join(parts)

    def describe(self) -> str:
        """A few lines for humans: model, dims, rows, times, size."""
        dims = " x ".join(f"{d} ({n})" for d, n in zip(self.dims, self.shape)) or "none"
        t = self.t_eval
        size = self.nbytes
        unit = next(u for u, s in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10), ("B", 1))
                    if size >= s or s == 1)
        scale = {"GiB": 2**30, "MiB": 2**20, "KiB": 2**10, "B": 1}[unit]
        return "\n".join([
            f"model:      {self.model.name} ({self.model.location})",
            f"dims:       {dims}",
            f"rows:       {self.n_rows}",
            f"times:      {t.size} points from {t[0]:g} to {t[-1]:g} {self.model.time_unit}",
            f"variables:  {', '.join(self.keep)}",
            f"solver:     {self.solver['method']} (rtol={self.solver['rtol']:g}, "
            f"atol={self.solver['atol']:g})",
            f"result:     about {size / scale:.3g} {unit}",
        ])


def _floats(values, what, *, nonneg=False):
    try:
        arr = np.array(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise ConfigError(f"{what} must be a list of numbers, got {values!r:.80}") from None
    if arr.ndim != 1 or arr.size == 0:
        raise ConfigError(f"{what} must be a non-empty 1-D list of numbers, got {values!r:.80}")
    if not np.all(np.isfinite(arr)):
        raise ConfigError(f"{what} must contain finite numbers only")
    if nonneg and np.any(arr < 0):
        raise ConfigError(f"{what} must be >= 0, got {arr[arr < 0][0]:g}")
    return arr


def _combos(values):
    if isinstance(values, str) or not hasattr(values, "__iter__"):
        raise ConfigError(f"the scenario axis must be a list of scenario combinations, "
                          f"got {values!r:.80}")
    combos = []
    for v in values:
        combo = (v,) if isinstance(v, str) else tuple(v)
        if not all(isinstance(s, str) for s in combo):
            raise ConfigError(f"a scenario combination must be scenario names, got {v!r:.80}")
        combos.append(combo)
    if not combos:
        raise ConfigError("the scenario axis is empty")
    labels = [scenario_label(c) for c in combos]
    dup = [lab for lab in labels if labels.count(lab) > 1]
    if dup:
        raise ConfigError(f"the scenario axis lists {dup[0]!r} twice")
    return combos, labels


def _dose_unit(model, regimen):
    target = None
    if regimen is not None and len(regimen):
        target = regimen.doses[0].target
    target = target or model.dose_target
    units = {s.name: s.unit for s in model.states}
    if target in units:
        return units[target]
    for inp in model.inputs:  # an infusion named by its input: the unit of the state it feeds
        if inp.name == target and inp.target in units:
            return units[inp.target]
    return ""


def _with_amount(regimen, amount):
    return Regimen(tuple(dataclasses.replace(d, amount=float(amount)) for d in regimen.doses))


def _param_attrs(model, name):
    prm = next(p for p in model.parameters if p.name == name)
    attrs = {"long_name": prm.description or name}
    if prm.unit:
        attrs["units"] = prm.unit
    return attrs


def plan_sweep(model, t_eval, *, axes=None, mode="product", regimen=None, params=None,
               scenarios=(), samples=None, population=None, y0=None, keep=None,
               method="rodas5p", rtol=1e-6, atol=1e-9, max_steps=100_000, attrs=None):
    """Flatten a sweep into rows of arrays; see :func:`sweep` for the parameters.

    Returns
    -------
    SweepPlan

    Raises
    ------
    ConfigError, ModelError, RegimenError
        Unknown axis, parameter, scenario or variable; bad values; a result too large.
    """
    from . import solver as _solver
    from .model import Model, load_model

    if not isinstance(model, Model):
        model = load_model(model)
    t_eval = np.asarray(t_eval, dtype=np.float64)
    if t_eval.ndim != 1 or t_eval.size < 1 or not np.all(np.isfinite(t_eval)) \
            or np.any(np.diff(t_eval) <= 0):
        raise ConfigError("output times must be a non-empty, finite, strictly increasing list")
    if method not in _solver.METHODS:
        raise ConfigError(f"unknown solver method {method!r}; choose one of "
                          f"{', '.join(sorted(_solver.METHODS))}")
    if regimen is not None and not isinstance(regimen, Regimen):
        regimen = Regimen(regimen) if isinstance(regimen, Dose) else Regimen(tuple(regimen))
    scenarios = (scenarios,) if isinstance(scenarios, str) else tuple(scenarios)
    params = dict(params or {})
    pnames = model.parameter_names
    pindex = {n: i for i, n in enumerate(pnames)}
    varnames = list(model.state_names) + list(model.output_names)

    # ---- axes -> dims
    if mode not in ("product", "zip"):
        raise ConfigError(f"sweep mode must be 'product' or 'zip', got {mode!r}")
    axes = dict(axes or {})
    dose_values = combos = None
    param_axes = {}
    axis_values = {}  # name -> (values array, attrs)
    for name, values in axes.items():
        if name == "dose":
            if regimen is None or not len(regimen):
                raise ConfigError("a dose axis needs a regimen (each dose value replaces the "
                                  "amount of every dose in it)")
            dose_values = _floats(values, "the dose axis", nonneg=True)
            axis_values[name] = (dose_values, {"units": _dose_unit(model, regimen),
                                               "long_name": "dose per administration"})
        elif name == "scenario":
            combos, labels = _combos(values)
            axis_values[name] = (np.array(labels), {
                "long_name": "scenario combination ('+' joins scenarios applied together)"})
        elif name in pindex:
            if name in RESERVED_DIMS or name in varnames:
                raise ConfigError(f"parameter {name!r} cannot be a sweep dim: the name is "
                                  "taken by a variable or a reserved dim")
            param_axes[name] = _floats(values, f"the sweep axis {name!r}")
            axis_values[name] = (param_axes[name], _param_attrs(model, name))
        else:
            hint = (" (it is an input, set by a regimen)" if name in model.input_names else "")
            raise ConfigError(f"sweep axis {name!r} is not 'dose', 'scenario' or a parameter "
                              f"of model {model.name!r}{hint}; parameters: {', '.join(pnames)}")
    dims, shape, coords = [], [], {}
    axis_dim = {}  # axis name -> (dim position)
    if mode == "zip" and len(axis_values) > 1:
        sizes = {n: v[0].size for n, v in axis_values.items()}
        if len(set(sizes.values())) != 1:
            raise ConfigError("zipped sweep axes must have equal lengths, got "
                              + ", ".join(f"{n}: {s}" for n, s in sizes.items()))
        n = next(iter(sizes.values()))
        dims.append("case")
        shape.append(n)
        coords["case"] = ("case", np.arange(n), {"long_name": "zipped sweep case"})
        for name, (vals, a) in axis_values.items():
            coords[name] = ("case", vals, a)
            axis_dim[name] = 0
    else:
        for name, (vals, a) in axis_values.items():
            axis_dim[name] = len(dims)
            dims.append(name)
            shape.append(vals.size)
            coords[name] = (name, vals, a)

    # ---- samples
    sample_values = {}
    if samples:
        lengths = set()
        for name, values in dict(samples).items():
            if name not in pindex:
                raise ConfigError(f"sampled parameter {name!r} is not a parameter of model "
                                  f"{model.name!r}; parameters: {', '.join(pnames)}")
            if name in param_axes:
                raise ConfigError(f"parameter {name!r} is both a sweep axis and sampled; "
                                  "choose one")
            if name in varnames or name in RESERVED_DIMS:
                raise ConfigError(f"sampled parameter {name!r} clashes with a variable name")
            sample_values[name] = _floats(values, f"samples of {name!r}")
            lengths.add(sample_values[name].size)
        if len(lengths) > 1:
            raise ConfigError(f"every sampled parameter needs the same number of samples, "
                              f"got {sorted(lengths)}")
        n = lengths.pop()
        axis_dim["@sample"] = len(dims)
        dims.append("sample")
        shape.append(n)
        coords["sample"] = ("sample", np.arange(n), {"long_name": "sample of parameter space"})
        for name, vals in sample_values.items():
            coords[name] = ("sample", vals, _param_attrs(model, name))

    # ---- population
    factors = None
    if population is not None:
        from .population import Population
        if not isinstance(population, Population):
            raise ConfigError(f"population must be a ldnsim.population.Population, got "
                              f"{type(population).__name__}")
        etas, cov = population.draw()
        factors = population.factors(pnames, draws=(etas, cov))
        axis_dim["@subject"] = len(dims)
        dims.append("subject")
        shape.append(population.n_subjects)
        coords["subject"] = ("subject", np.arange(population.n_subjects),
                             {"long_name": "virtual subject"})
        for j, p in enumerate(population.parameters):
            coords[f"eta_{p}"] = ("subject", etas[:, j],
                                  {"long_name": f"random effect of {p} (log scale)",
                                   "units": "1"})
        for c in population.covariates:
            if c.name in coords:
                raise ConfigError(f"covariate {c.name!r} has the name of a sweep coordinate; "
                                  "rename the covariate")
            coords[c.name] = ("subject", cov[c.name],
                              {"long_name": f"covariate {c.name}", "units": c.unit or "1"})
    clash = [c for c in coords if c in varnames or c == "time"]
    if clash:
        raise ConfigError(f"the name {clash[0]!r} is both a coordinate of the sweep and a "
                          "model variable (or 'time'); rename the covariate or axis")

    # ---- variables kept
    if keep is None:
        keep = tuple(model.output_names) or tuple(model.state_names)
    keep = tuple(keep)
    unknown = [v for v in keep if v not in varnames]
    if unknown:
        raise ConfigError(f"unknown variable {unknown[0]!r}; model {model.name!r} has "
                          f"{', '.join(varnames)}")
    if not keep:
        raise ConfigError("no variables to keep")
    keep_index = np.array([varnames.index(v) for v in keep], dtype=np.int64)

    # ---- rows
    shape = tuple(int(s) for s in shape)
    n_rows = math.prod(shape)
    nbytes = n_rows * t_eval.size * len(keep) * 8
    if nbytes > MAX_RESULT_BYTES:
        raise ConfigError(f"this sweep would keep {nbytes / 2**30:.1f} GiB of values ({n_rows} "
                          f"rows x {t_eval.size} times x {len(keep)} variables), more than "
                          f"{MAX_RESULT_BYTES / 2**30:.0f} GiB; use a coarser output step, fewer "
                          "variables or a smaller grid")
    idx = np.unravel_index(np.arange(n_rows), shape) if shape else ()

    def index_of(key):
        return idx[axis_dim[key]] if shape else np.zeros(n_rows, np.int64)

    base_combos = combos if combos is not None else [()]
    base = np.stack([model.parameter_vector(params, scenarios + c) for c in base_combos])
    P = base[index_of("scenario")] if combos is not None else np.repeat(base, n_rows, axis=0)
    for name, vals in param_axes.items():
        P[:, pindex[name]] = vals[index_of(name)]
    for name, vals in sample_values.items():
        P[:, pindex[name]] = vals[index_of("@sample")]
    if factors is not None:
        with np.errstate(over="ignore", invalid="ignore"):  # caught just below, with its key
            P[:, :len(pnames)] *= factors[index_of("@subject")]
    if not np.all(np.isfinite(P)):
        bad_row, col = (int(i[0]) for i in np.nonzero(~np.isfinite(P)))
        name = (list(pnames) + list(model.input_names))[col]
        where = (f"[sweep] {name}" if name in param_axes else
                 "[sampling] ranges" if name in sample_values else "[population]")
        raise ConfigError(f"{where}: parameter {name!r} becomes {P[bad_row, col]} in row "
                          f"{bad_row} (a value near the floating-point limit, scaled by the "
                          "population's variability, overflows); use a finite, plausible value")

    # ---- events
    if dose_values is not None:
        tables = tuple(_with_amount(regimen, a).expand(model) for a in dose_values)
        table_index = index_of("dose").astype(np.int64)
    else:
        tables = (regimen.expand(model) if regimen is not None else None,)
        table_index = np.zeros(n_rows, np.int64)
    first = min((float(t.time[0]) for t in tables if t is not None and len(t)), default=None)
    if first is not None and first < t_eval[0]:
        raise ConfigError(f"the first dose (t={first:g}) lies before the first output time "
                          f"({t_eval[0]:g}); start the output at or before the first dose")

    solver = {"method": method, "rtol": float(rtol), "atol": float(atol),
              "max_steps": int(max_steps)}
    info = {
        "model": model.name, "model_hash": model.hash, "model_path": str(model.path or ""),
        "sweep_dims": list(dims), "sweep_mode": mode, "scenarios": list(scenarios),
        "parameters": dict(zip(pnames, model.parameter_vector(params, scenarios)[:len(pnames)]
                               .tolist())),
        "regimen": repr(regimen), "solver": solver, "n_rows": n_rows,
    }
    if population is not None:
        info["population"] = {
            "subjects": population.n_subjects, "seed": population.seed,
            "parameters": list(population.parameters), "omega": population.omega.tolist(),
            "covariates": [dataclasses.asdict(c) for c in population.covariates]}
    info.update(attrs or {})
    return SweepPlan(model=model, t_eval=t_eval, dims=tuple(dims), shape=shape, coords=coords,
                     P=np.ascontiguousarray(P), y0=model.initial_state(y0), tables=tables,
                     table_index=table_index, keep=keep, keep_index=keep_index,
                     solver=solver, attrs=info)


# ------------------------------------------------------------------------------------ chunks
@dataclass(frozen=True)
class ChunkResult:
    """``values`` (r, m, n_keep) NaN on failed rows, ``status`` (r,), ``stats`` (r, n_stats)."""

    values: np.ndarray
    status: np.ndarray
    stats: np.ndarray


_COMPILED = {}


def _compiled(model, model_hash=None):
    """CompiledModel for a Model, a shipped name or a path (references cached per process)."""
    from .model import Model, load_model

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


def run_chunk(model, t_eval, P, y0, events, *, method="rodas5p", rtol=1e-6, atol=1e-9,
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
    from .simulation import run_rows

    compiled = _compiled(model, model_hash)
    res = run_rows(compiled, t_eval, P, y0, events, method=method, rtol=rtol, atol=atol,
                   max_steps=max_steps)
    values = np.concatenate([res.states, res.outputs], axis=-1)
    if keep_index is not None:
        values = values[..., np.asarray(keep_index, dtype=np.int64)]
    status = np.asarray(res.status, dtype=np.int64)
    values[status != 0] = np.nan
    from .solver import STAT_NAMES
    stats = np.stack([np.asarray(res.stats[k], dtype=np.int64) for k in STAT_NAMES], axis=-1)
    return ChunkResult(values=np.ascontiguousarray(values), status=status, stats=stats)


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
    from .results import make_dataset, provenance_attrs
    from .solver import STAT_NAMES, Status

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


def sweep(model, t_eval, *, axes=None, mode="product", regimen=None, params=None,
          scenarios=(), samples=None, population=None, y0=None, keep=None, method="rodas5p",
          rtol=1e-6, atol=1e-9, max_steps=100_000, threads=None, progress=None,
          chunk_size=None, attrs=None):
    """Simulate a grid of doses, scenarios, parameter values, samples and virtual subjects.

    Parameters
    ----------
    model : Model, shipped model name or path
    t_eval : (m,) output times in the model's time unit (the first is the start).
    axes : mapping name -> values, optional
        One dim per entry, in order: ``"dose"`` (amounts per administration; every dose of
        ``regimen`` gets the amount), ``"scenario"`` (a list of scenario combinations, each a
        name or a list of names applied together, labelled by joining with '+'), or a
        parameter name (its values).
    mode : {"product", "zip"}
        Product grid of the axes, or the axes zipped element-wise into one dim ``case``.
    regimen : Regimen or Dose, optional
    params : dict, optional
        Parameter values for every row (after scenarios, before axes and samples).
    scenarios : sequence of str
        Scenarios applied to every row, before the scenario axis.
    samples : mapping parameter -> values (all of length n), optional
        Points in parameter space, one more dim ``sample`` (see ``ldnsim.experiment`` for
        random and Latin-hypercube designs).
    population : ldnsim.population.Population, optional
        Virtual subjects, dim ``subject``: parameters are multiplied by each subject's factors.
    y0 : dict or array, optional
        Initial state.
    keep : sequence of str, optional
        Variables to store (default: every output, or every state when there are none).
    method, rtol, atol, max_steps : solver settings.
    threads, progress, chunk_size : see :func:`run_plan`; none of them changes the values.
    attrs : dict, optional
        Extra provenance attributes.

    Returns
    -------
    xarray.Dataset

    Examples
    --------
    >>> ds = sweep("one_compartment_oral", np.linspace(0, 48, 97),
    ...            axes={"dose": [10, 50], "CL": [100.0, 200.0]},
    ...            regimen=Regimen.repeat(1.0, every=24.0, count=2))  # doctest: +SKIP
    """
    plan = plan_sweep(model, t_eval, axes=axes, mode=mode, regimen=regimen, params=params,
                      scenarios=scenarios, samples=samples, population=population, y0=y0,
                      keep=keep, method=method, rtol=rtol, atol=atol, max_steps=max_steps,
                      attrs=attrs)
    return run_plan(plan, threads=threads, progress=progress, chunk_size=chunk_size)

