"""Planning a sweep: a grid of doses, scenarios, parameters, samples and subjects -> rows.

:func:`plan_sweep` flattens the grid into rows (C order over the dims) and builds plain arrays:
the parameter matrix ``P`` (rows, k), the initial state, a few distinct dose event tables and,
per row, the index of its table. It runs as a sequence of named steps, each returning a small
value: the axes (:func:`_axis_values`), the grid of dims (:class:`_Grid`, grown by
:func:`_grid_of_axes`, :func:`_sample_dim`, :func:`_subject_dim`), the kept variables, the
parameter rows and the event tables. Nothing random happens later: population draws use one
``SeedSequence`` child per subject (:mod:`ldnsim.population`), so row ``r``'s inputs depend only
on the configuration and ``r``.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import numpy as np

from ldnsim._limits import limit, raise_hint
from ldnsim.dosing import Dose, Regimen
from ldnsim.errors import ConfigError
from ldnsim.events import pad_event_tables
from ldnsim.model import Model, load_model
from ldnsim.population import Population
from ldnsim.solver import METHODS, STAT_NAMES

__all__ = ["SweepPlan", "plan_sweep", "scenario_label", "MAX_RESULT_BYTES", "RESERVED_DIMS",
           "PLAN_PARAMETERS", "run_bytes", "check_run_size"]

#: Largest memory a run may hold: the result, the parameter rows, the per-row bookkeeping, one
#: chunk of solver output and the metrics' work arrays (:func:`run_bytes`). More is almost
#: always a mistake in ``output.step`` or the grid (use fewer variables, a coarser step, or a
#: smaller grid); raise it with LDNSIM_MAX_RESULT_BYTES.
MAX_RESULT_BYTES = 8 * 2**30
#: Dims the sweep names itself; a parameter axis may not use them.
RESERVED_DIMS = ("time", "status", "subject", "sample", "case")
#: Rows per chunk assumed by :func:`run_bytes` (``ldnsim.sweep.run.DEFAULT_CHUNK_SIZE``).
_CHUNK_ROWS = 256


def run_bytes(n_rows, n_times, n_keep, *, n_states, n_outputs, n_params, n_dims=1,
              n_subjects=0, n_metric_reads=0, chunk_size=None) -> dict:
    """Bytes each array of a run will hold at its peak, computed before anything is allocated.

    Parameters
    ----------
    n_rows, n_times, n_keep : int
        Rows of the sweep, output times, variables kept (including those metrics read).
    n_states, n_outputs, n_params : int
        The model's sizes (``n_params`` counts inputs too).
    n_dims : int
        Sweep dims (row indices are unravelled over them).
    n_subjects : int
        Virtual subjects drawn (their etas, covariates and parameter factors).
    n_metric_reads : int
        0 without metrics; else the metrics' work arrays (about three copies of one variable
        over all rows and times) are counted.
    chunk_size : int, optional
        Rows solved at once (default 256).

    Returns
    -------
    dict
        Name -> bytes (Python ints: no overflow however large the grid).
    """
    rows, m = int(n_rows), int(n_times)
    chunk = min(rows, int(chunk_size or _CHUNK_ROWS))
    return {
        "result values": 8 * n_keep * rows * m,
        "solver output of one chunk": 8 * chunk * m * (2 * (n_states + n_outputs) + n_keep),
        "parameter rows": 8 * 2 * rows * n_params,
        "row bookkeeping": 8 * rows * (len(STAT_NAMES) + 2 + (n_dims + 1)) + 4 * rows,
        "metric work arrays": 8 * 3 * rows * m if n_metric_reads else 0,
        "population draws": 8 * n_subjects * (2 * n_params + 4),
    }


def check_run_size(n_rows, n_times, n_keep, **sizes) -> int:
    """Raise a ConfigError when a run would hold more than ``MAX_RESULT_BYTES``.

    Parameters are those of :func:`run_bytes`. Returns the total in bytes.
    """
    parts = run_bytes(n_rows, n_times, n_keep, **sizes)
    total = sum(parts.values())
    cap = limit("MAX_RESULT_BYTES", MAX_RESULT_BYTES)
    if total > cap:
        big = sorted(parts.items(), key=lambda kv: -kv[1])[:2]
        detail = ", ".join(f"{name} {_gib(b)}" for name, b in big if b)
        raise ConfigError(f"this run would hold {_gib(total)} in memory ({n_rows:,} rows x "
                          f"{n_times:,} times x {n_keep} variables; {detail}), more than "
                          f"{_gib(cap)}; use a coarser output step, fewer variables or a "
                          f"smaller grid ({raise_hint('MAX_RESULT_BYTES')})")
    return total


def _gib(nbytes) -> str:
    return f"{nbytes / 2**30:.3g} GiB" if nbytes < 2**30 * 1e6 else f"{nbytes / 2**30:.2e} GiB"


def scenario_label(combo) -> str:
    """Coordinate label of a scenario combination: names joined with '+', 'base' for none."""
    return "+".join(combo) if combo else "base"


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

    model: Model
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


# ------------------------------------------------------------------------------- the steps
@dataclass(frozen=True)
class _Axes:
    """The sweep axes, parsed: values and attrs per axis, and what each kind needs later."""

    values: dict            # axis name -> (values array, attrs)
    dose: np.ndarray | None
    combos: list | None     # scenario combinations (tuples of names)
    params: dict            # parameter axis name -> values


@dataclass(frozen=True)
class _Grid:
    """The result's dims so far: names, sizes, coordinates, and which dim each key indexes."""

    dims: tuple = ()
    shape: tuple = ()
    coords: dict = field(default_factory=dict)
    dim_of: dict = field(default_factory=dict)  # axis name or "@sample"/"@subject" -> position

    def with_dim(self, dim, size, coords, keys):
        return _Grid(self.dims + (dim,), self.shape + (int(size),), {**self.coords, **coords},
                     {**self.dim_of, **{k: len(self.dims) for k in keys}})

    @property
    def n_rows(self) -> int:
        return math.prod(self.shape)

    def index_of(self, key):
        """Per row, the index along the dim of ``key`` (C order over the dims)."""
        if not self.shape:
            return np.zeros(1, np.int64)
        return np.unravel_index(np.arange(self.n_rows), self.shape)[self.dim_of[key]]


def _inputs(model, t_eval, method, regimen, scenarios):
    if not isinstance(model, Model):
        model = load_model(model)
    t_eval = np.asarray(t_eval, dtype=np.float64)
    if t_eval.ndim != 1 or t_eval.size < 1 or not np.all(np.isfinite(t_eval)) \
            or np.any(np.diff(t_eval) <= 0):
        raise ConfigError("output times must be a non-empty, finite, strictly increasing list")
    if method not in METHODS:
        raise ConfigError(f"unknown solver method {method!r}; choose one of "
                          f"{', '.join(sorted(METHODS))}")
    if regimen is not None and not isinstance(regimen, Regimen):
        regimen = Regimen(regimen) if isinstance(regimen, Dose) else Regimen(tuple(regimen))
    scenarios = (scenarios,) if isinstance(scenarios, str) else tuple(scenarios)
    return model, t_eval, regimen, scenarios


def _axis_values(model, axes, regimen) -> _Axes:
    pindex = set(model.parameter_names)
    varnames = set(model.state_names) | set(model.output_names)
    values, dose, combos, params = {}, None, None, {}
    for name, vals in dict(axes or {}).items():
        if name == "dose":
            if regimen is None or not len(regimen):
                raise ConfigError("a dose axis needs a regimen (each dose value replaces the "
                                  "amount of every dose in it)")
            dose = _floats(vals, "the dose axis", nonneg=True)
            values[name] = (dose, {"units": _dose_unit(model, regimen),
                                   "long_name": "dose per administration"})
        elif name == "scenario":
            combos, labels = _combos(vals)
            values[name] = (np.array(labels), {
                "long_name": "scenario combination ('+' joins scenarios applied together)"})
        elif name in pindex:
            if name in RESERVED_DIMS or name in varnames:
                raise ConfigError(f"parameter {name!r} cannot be a sweep dim: the name is "
                                  "taken by a variable or a reserved dim")
            params[name] = _floats(vals, f"the sweep axis {name!r}")
            values[name] = (params[name], _param_attrs(model, name))
        else:
            hint = (" (it is an input, set by a regimen)" if name in model.input_names else "")
            raise ConfigError(f"sweep axis {name!r} is not 'dose', 'scenario' or a parameter "
                              f"of model {model.name!r}{hint}; parameters: "
                              f"{', '.join(model.parameter_names)}")
    return _Axes(values, dose, combos, params)


def _grid_of_axes(axes: _Axes, mode) -> _Grid:
    if mode not in ("product", "zip"):
        raise ConfigError(f"sweep mode must be 'product' or 'zip', got {mode!r}")
    grid = _Grid()
    if mode == "zip" and len(axes.values) > 1:
        sizes = {n: v[0].size for n, v in axes.values.items()}
        if len(set(sizes.values())) != 1:
            raise ConfigError("zipped sweep axes must have equal lengths, got "
                              + ", ".join(f"{n}: {s}" for n, s in sizes.items()))
        n = next(iter(sizes.values()))
        coords = {"case": ("case", np.arange(n), {"long_name": "zipped sweep case"})}
        coords.update({name: ("case", vals, a) for name, (vals, a) in axes.values.items()})
        return grid.with_dim("case", n, coords, axes.values)
    for name, (vals, a) in axes.values.items():
        grid = grid.with_dim(name, vals.size, {name: (name, vals, a)}, (name,))
    return grid


def _sample_dim(model, samples, axes: _Axes, grid: _Grid):
    """``(grid with a "sample" dim, {parameter: values})``, or unchanged without samples."""
    if not samples:
        return grid, {}
    varnames = set(model.state_names) | set(model.output_names)
    values, lengths = {}, set()
    for name, vals in dict(samples).items():
        if name not in model.parameter_names:
            raise ConfigError(f"sampled parameter {name!r} is not a parameter of model "
                              f"{model.name!r}; parameters: {', '.join(model.parameter_names)}")
        if name in axes.params:
            raise ConfigError(f"parameter {name!r} is both a sweep axis and sampled; "
                              "choose one")
        if name in varnames or name in RESERVED_DIMS:
            raise ConfigError(f"sampled parameter {name!r} clashes with a variable name")
        values[name] = _floats(vals, f"samples of {name!r}")
        lengths.add(values[name].size)
    if len(lengths) > 1:
        raise ConfigError(f"every sampled parameter needs the same number of samples, "
                          f"got {sorted(lengths)}")
    n = lengths.pop()
    coords = {"sample": ("sample", np.arange(n), {"long_name": "sample of parameter space"})}
    coords.update({name: ("sample", vals, _param_attrs(model, name))
                   for name, vals in values.items()})
    return grid.with_dim("sample", n, coords, ("@sample",)), values


def _subject_dim(model, population, grid: _Grid):
    """``(grid with a "subject" dim, per-subject parameter factors)``, or ``(grid, None)``."""
    if population is None:
        return grid, None
    if not isinstance(population, Population):
        raise ConfigError(f"population must be a ldnsim.population.Population, got "
                          f"{type(population).__name__}")
    taken = set(grid.coords) | {"subject", "time", "status"} | {
        f"eta_{p}" for p in population.parameters}
    taken |= set(model.state_names) | set(model.output_names)
    seen = set()
    for c in population.covariates:
        if c.name in taken or c.name in seen:
            raise ConfigError(f"covariate {c.name!r} has the name of a sweep coordinate, a "
                              "model variable or another covariate ('time', 'status', "
                              "'subject' and eta_<parameter> are taken too); rename the "
                              "covariate")
        seen.add(c.name)
    etas, cov = population.draw()
    factors = population.factors(model.parameter_names, draws=(etas, cov))
    coords = {"subject": ("subject", np.arange(population.n_subjects),
                          {"long_name": "virtual subject"})}
    for j, p in enumerate(population.parameters):
        coords[f"eta_{p}"] = ("subject", etas[:, j],
                              {"long_name": f"random effect of {p} (log scale)", "units": "1"})
    for c in population.covariates:
        coords[c.name] = ("subject", cov[c.name],
                          {"long_name": f"covariate {c.name}", "units": c.unit or "1"})
    return grid.with_dim("subject", population.n_subjects, coords, ("@subject",)), factors


def _check_coords(model, grid: _Grid):
    varnames = set(model.state_names) | set(model.output_names)
    clash = [c for c in grid.coords if c in varnames or c in ("time", "status")]
    if clash:
        raise ConfigError(f"the name {clash[0]!r} is both a coordinate of the sweep and a "
                          "model variable (or 'time' or 'status', which every result has); "
                          "rename the covariate or axis")


def _kept(model, keep):
    """``(names, their positions among states + outputs)``."""
    varnames = list(model.state_names) + list(model.output_names)
    keep = tuple(keep) if keep is not None else (tuple(model.output_names)
                                                 or tuple(model.state_names))
    unknown = [v for v in keep if v not in varnames]
    if unknown:
        raise ConfigError(f"unknown variable {unknown[0]!r}; model {model.name!r} has "
                          f"{', '.join(varnames)}")
    if not keep:
        raise ConfigError("no variables to keep")
    return keep, np.array([varnames.index(v) for v in keep], dtype=np.int64)


def _parameter_rows(model, params, scenarios, axes: _Axes, grid: _Grid, samples, factors):
    """``P`` (rows, k): scenarios, then axes, then samples, then the subjects' factors."""
    pnames = model.parameter_names
    pindex = {n: i for i, n in enumerate(pnames)}
    n_rows = grid.n_rows
    combos = axes.combos if axes.combos is not None else [()]
    base = np.stack([model.parameter_vector(params, scenarios + c) for c in combos])
    P = (base[grid.index_of("scenario")] if axes.combos is not None
         else np.repeat(base, n_rows, axis=0))
    for name, vals in axes.params.items():
        P[:, pindex[name]] = vals[grid.index_of(name)]
    for name, vals in samples.items():
        P[:, pindex[name]] = vals[grid.index_of("@sample")]
    if factors is not None:
        with np.errstate(over="ignore", invalid="ignore"):  # caught just below, with its key
            P[:, :len(pnames)] *= factors[grid.index_of("@subject")]
    if not np.all(np.isfinite(P)):
        bad_row, col = (int(i[0]) for i in np.nonzero(~np.isfinite(P)))
        name = (list(pnames) + list(model.input_names))[col]
        where = (f"[sweep] {name}" if name in axes.params else
                 "[sampling] ranges" if name in samples else "[population]")
        raise ConfigError(f"{where}: parameter {name!r} becomes {P[bad_row, col]} in row "
                          f"{bad_row} (a value near the floating-point limit, scaled by the "
                          "population's variability, overflows); use a finite, plausible value")
    return np.ascontiguousarray(P)


def _event_tables(model, regimen, axes: _Axes, grid: _Grid, t_eval):
    """``(distinct event tables, per-row index into them)``."""
    if axes.dose is not None:
        tables = tuple(_with_amount(regimen, a).expand(model) for a in axes.dose)
        table_index = grid.index_of("dose").astype(np.int64)
    else:
        tables = (regimen.expand(model) if regimen is not None else None,)
        table_index = np.zeros(grid.n_rows, np.int64)
    first = min((float(t.time[0]) for t in tables if t is not None and len(t)), default=None)
    if first is not None and first < t_eval[0]:
        raise ConfigError(f"the first dose (t={first:g}) lies before the first output time "
                          f"({t_eval[0]:g}); start the output at or before the first dose")
    return tables, table_index


def _provenance(model, grid, mode, scenarios, params, regimen, solver, population, attrs):
    pnames = model.parameter_names
    info = {
        "model": model.name, "model_hash": model.hash, "model_path": str(model.path or ""),
        "sweep_dims": list(grid.dims), "sweep_mode": mode, "scenarios": list(scenarios),
        "parameters": dict(zip(pnames, model.parameter_vector(params, scenarios)[:len(pnames)]
                               .tolist())),
        "regimen": repr(regimen), "solver": solver, "n_rows": grid.n_rows,
    }
    if population is not None:
        info["population"] = {
            "subjects": population.n_subjects, "seed": population.seed,
            "parameters": list(population.parameters), "omega": population.omega.tolist(),
            "covariates": [dataclasses.asdict(c) for c in population.covariates]}
    info.update(attrs or {})
    return info


# ------------------------------------------------------------------------------------- plan
def plan_sweep(model, t_eval, *, axes=None, mode="product", regimen=None, params=None,
               scenarios=(), samples=None, population=None, y0=None, keep=None,
               method="auto", rtol=1e-6, atol=1e-9, max_steps=100_000, attrs=None):
    """Flatten a sweep into rows of arrays (:func:`ldnsim.sweep.sweep` runs them).

    Parameters
    ----------
{plan_parameters}
    Returns
    -------
    SweepPlan

    Raises
    ------
    ConfigError, ModelError, RegimenError
        Unknown axis, parameter, scenario or variable; bad values; a result too large.
    """
    model, t_eval, regimen, scenarios = _inputs(model, t_eval, method, regimen, scenarios)
    params = dict(params or {})
    parsed = _axis_values(model, axes, regimen)
    grid = _grid_of_axes(parsed, mode)
    keep, keep_index = _kept(model, keep)
    # Sizes first, by arithmetic: nothing is drawn or allocated for a grid that cannot run.
    n_samples = len(next(iter(dict(samples).values()))) if samples else 1
    n_subjects = population.n_subjects if isinstance(population, Population) else 0
    check_run_size(grid.n_rows * n_samples * max(n_subjects, 1), t_eval.size, len(keep),
                   n_states=len(model.states), n_outputs=len(model.outputs),
                   n_params=len(model.parameter_names) + len(model.input_names),
                   n_dims=len(grid.dims) + bool(samples) + bool(n_subjects),
                   n_subjects=n_subjects)
    grid, sample_values = _sample_dim(model, samples, parsed, grid)
    grid, factors = _subject_dim(model, population, grid)
    _check_coords(model, grid)
    P = _parameter_rows(model, params, scenarios, parsed, grid, sample_values, factors)
    tables, table_index = _event_tables(model, regimen, parsed, grid, t_eval)
    solver = {"method": method, "rtol": float(rtol), "atol": float(atol),
              "max_steps": int(max_steps)}
    info = _provenance(model, grid, mode, scenarios, params, regimen, solver, population, attrs)
    return SweepPlan(model=model, t_eval=t_eval, dims=grid.dims, shape=grid.shape,
                     coords=grid.coords, P=P, y0=model.initial_state(y0), tables=tables,
                     table_index=table_index, keep=keep, keep_index=keep_index,
                     solver=solver, attrs=info)


PLAN_PARAMETERS = """    model : Model, shipped model name or path
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
    method, rtol, atol, max_steps : str, float, float or (n,), int
        Solver settings (see :func:`ldnsim.solver.integrate`).
    attrs : dict, optional
        Extra provenance attributes.
"""
"""The parameters of :func:`plan_sweep` and :func:`ldnsim.sweep.sweep`, documented once."""

if plan_sweep.__doc__:  # None under python -OO
    plan_sweep.__doc__ = plan_sweep.__doc__.replace("{plan_parameters}", PLAN_PARAMETERS)
