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
from ldnsim.events import PARAMETER, EventTable, pad_event_tables
from ldnsim.model import Model, load_model
from ldnsim.population import Population, Schedule
from ldnsim.solver import METHODS, STAT_NAMES

__all__ = ["SweepPlan", "plan_sweep", "scenario_label", "MAX_RESULT_BYTES", "RESERVED_DIMS",
           "PLAN_PARAMETERS", "run_bytes", "check_run_size"]

#: Largest memory a run may hold: the result, the parameter rows, the per-row bookkeeping, one
#: chunk of solver output and the metrics' work arrays (:func:`run_bytes`). More is almost
#: always a mistake in ``output.step`` or the grid (use fewer variables, a coarser step, or a
#: smaller grid); raise it with LDNSIM_MAX_RESULT_BYTES.
MAX_RESULT_BYTES = 8 * 2**30
#: Dims the sweep names itself; a parameter axis may not use them.
RESERVED_DIMS = ("time", "status", "subject", "sample", "case", "draw")
#: Rows per chunk assumed by :func:`run_bytes` (``ldnsim.sweep.run.DEFAULT_CHUNK_SIZE``).
_CHUNK_ROWS = 256


def run_bytes(n_rows, n_times, n_keep, *, n_states, n_outputs, n_params, n_dims=1,
              n_subjects=0, n_metric_reads=0, chunk_size=None, trajectories=True) -> dict:
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
    trajectories : bool
        False when the run keeps only metrics (computed chunk by chunk, so the values of all
        rows are never held, nor the metrics' work arrays of more than one chunk).

    Returns
    -------
    dict
        Name -> bytes (Python ints: no overflow however large the grid).
    """
    rows, m = int(n_rows), int(n_times)
    chunk = min(rows, int(chunk_size or _CHUNK_ROWS))
    return {
        "result values": 8 * n_keep * rows * m if trajectories else 0,
        "solver output of one chunk": 8 * chunk * m * (2 * (n_states + n_outputs) + n_keep),
        "parameter rows of one chunk": 8 * 2 * chunk * n_params,  # built per chunk
        "row bookkeeping": 8 * rows * (len(STAT_NAMES) + 2 + (n_dims + 1)) + 4 * rows,
        "metric work arrays": (8 * 3 * (rows if trajectories else chunk) * m
                               if n_metric_reads else 0),
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
#: Rows per block when the parameter rows are checked at planning time.
_CHECK_BLOCK = 65_536


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
    P : (rows, k) parameter rows (parameters then inputs); a property computing every row,
        use :meth:`rows` for a range (a large sweep never holds all of them)
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
    recipe: _Rows
    y0: np.ndarray
    tables: tuple
    table_index: np.ndarray
    keep: tuple
    keep_index: np.ndarray
    solver: dict
    attrs: dict

    @property
    def n_rows(self) -> int:
        return math.prod(self.shape)

    @property
    def P(self) -> np.ndarray:
        """``(rows, k)``: every parameter row (for large sweeps prefer :meth:`rows`)."""
        return self.recipe.rows(0, self.n_rows)

    def rows(self, start, stop) -> np.ndarray:
        """``(stop - start, k)`` parameter rows ``start:stop``, computed on demand."""
        return self.recipe.rows(start, stop)

    @property
    def nbytes(self) -> int:
        """Size of the values the result keeps (float64)."""
        return self.n_rows * self.t_eval.size * len(self.keep) * 8

    def events(self, start, stop):
        """Padded ``(time, kind, index, amount)`` arrays for rows ``start:stop``: the dose
        table of each row, and its parameter changes from time-varying covariates."""
        doses = [self.tables[i] for i in self.table_index[start:stop]]
        changes = self.recipe.changes(start, stop)
        if changes is None:
            return pad_event_tables(doses)
        return pad_event_tables([EventTable.concat([d, c]) if d is not None else c
                                 for d, c in zip(doses, changes)])

    @property
    def time_varying(self) -> bool:
        """True when rows have their own parameter changes (time-varying covariates)."""
        return self.recipe.schedule is not None

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


def _at_time(regimen, first):
    """The regimen shifted in time so that its earliest entry starts at ``first``."""
    if not len(regimen):
        return regimen
    shift = float(first) - min(d.time for d in regimen.doses)
    out = []
    for d in regimen.doses:
        until = None if d.until is None else d.until + shift
        out.append(dataclasses.replace(d, time=d.time + shift, until=until))
    return Regimen(tuple(out))


#: Spawn key (after the subject's) of the stream that draws a subject's missed doses, so the
#: draws never touch those of its parameters and covariates.
MISSED_STREAM = 0x6D697373


def missed_rng(seed, subject) -> np.random.Generator:
    """The generator of subject ``subject``'s missed doses (population ``seed``)."""
    return np.random.default_rng(np.random.SeedSequence(
        int(seed), spawn_key=(int(subject), MISSED_STREAM)))


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
    regimens: list | None = None      # names of the regimen axis
    first_dose: np.ndarray | None = None  # the dose_time axis


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

    def index_of(self, key, start=0, stop=None):
        """Per row (of rows ``start:stop``), the index along the dim of ``key`` (C order)."""
        stop = self.n_rows if stop is None else stop
        if not self.shape:
            return np.zeros(stop - start, np.int64)
        return np.unravel_index(np.arange(start, stop), self.shape)[self.dim_of[key]]


@dataclass(frozen=True, eq=False)
class _Rows:
    """How to compute any range of parameter rows: scenarios, then axes, then samples and
    draws, then the subjects' factors (so a sweep of millions of rows never holds its whole
    ``P``)."""

    grid: _Grid
    base: np.ndarray         # (n_combos, k) one row per scenario combination
    scenario_axis: bool
    columns: tuple           # ((column, values, grid key), ...) for axes and samples
    factors: np.ndarray | None   # (n_subjects, n_parameters) or None
    n_parameters: int
    schedule: Schedule | None = None   # time-varying covariates (parameter changes)
    per_draw: int = 0        # subjects per draw when every draw has its own (else 0: shared)

    def subjects(self, start, stop):
        """Per row of ``start:stop``, the index into the subjects' factors and schedules."""
        index = self.grid.index_of("@subject", start, stop)
        if self.per_draw:
            index = self.grid.index_of("@draw", start, stop) * self.per_draw + index
        return index

    def rows(self, start, stop, *, at_start=True):
        """Rows ``start:stop``; ``at_start=False``: before the time-varying covariates'
        values at the start of the run are applied."""
        n = stop - start
        P = (self.base[self.grid.index_of("scenario", start, stop)] if self.scenario_axis
             else np.repeat(self.base, n, axis=0))
        for col, vals, key in self.columns:
            P[:, col] = vals[self.grid.index_of(key, start, stop)]
        if self.factors is not None:
            with np.errstate(over="ignore", invalid="ignore"):  # checked in _parameter_rows
                P[:, :self.n_parameters] *= self.factors[self.subjects(start, stop)]
        if self.schedule is not None and at_start:
            P = self.schedule.start(P, self.subjects(start, stop))
        return np.ascontiguousarray(P)

    def changes(self, start, stop):
        """Per row of ``start:stop``: the EventTable of its parameter changes, or None."""
        if self.schedule is None:
            return None
        subjects = self.subjects(start, stop)
        return [EventTable(t, np.full(t.size, PARAMETER), c, a)
                for t, c, a in self.schedule.events(self.rows(start, stop, at_start=False),
                                                    subjects)]


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
    regimen = _as_regimen(regimen)
    scenarios = (scenarios,) if isinstance(scenarios, str) else tuple(scenarios)
    return model, t_eval, regimen, scenarios


def _as_regimen(regimen):
    if regimen is not None and not isinstance(regimen, Regimen):
        regimen = Regimen(regimen) if isinstance(regimen, Dose) else Regimen(tuple(regimen))
    return regimen


def _subjects_of_table(population, subject_regimens):
    """Subjects dosed from an event table: one per regimen (with the population's
    variability when there is one; its size must match)."""
    if subject_regimens is None:
        return population, None
    subject_regimens = [_as_regimen(r) or Regimen() for r in subject_regimens]
    if not subject_regimens:
        raise ConfigError("the dosing event table has no subjects")
    if population is None:
        population = Population(len(subject_regimens), [], np.zeros((0, 0)), seed=0)
    elif population.n_subjects != len(subject_regimens):
        raise ConfigError(f"the dosing event table has {len(subject_regimens)} subjects (IDs) "
                          f"but [population] draws {population.n_subjects}; make them equal "
                          "(each ID is one subject)")
    return population, subject_regimens


def _axis_values(model, axes, regimen, regimens=None) -> _Axes:
    pindex = set(model.parameter_names)
    varnames = set(model.state_names) | set(model.output_names)
    values, dose, combos, params = {}, None, None, {}
    named, first = None, None
    for name, vals in dict(axes or {}).items():
        if name == "regimen":
            if not regimens:
                raise ConfigError("a regimen axis needs named regimens (regimens={name: "
                                  "Regimen}, or [[regimen]] entries with name = ...)")
            if isinstance(vals, str) or not all(isinstance(v, str) for v in vals) or not vals:
                raise ConfigError(f"the regimen axis must be a list of regimen names, got "
                                  f"{vals!r:.80}")
            unknown = [v for v in vals if v not in regimens]
            if unknown:
                raise ConfigError(f"the regimen axis names {unknown[0]!r}, which is not a "
                                  f"named regimen; named: {', '.join(regimens)}")
            if len(set(vals)) != len(vals):
                raise ConfigError("the regimen axis lists a name twice")
            named = list(vals)
            values[name] = (np.array(named), {"long_name": "dosing regimen"})
            continue
        if name == "dose_time":
            if regimen is None and not regimens:
                raise ConfigError("a dose_time axis needs a regimen (each value moves the "
                                  "regimen so that its first dose is at that time)")
            first = _floats(vals, "the dose_time axis")
            values[name] = (first, {"units": model.time_unit,
                                    "long_name": "time of the first dose"})
            continue
        if name == "dose":
            if (regimen is None or not len(regimen)) and not regimens:
                raise ConfigError("a dose axis needs a regimen (each dose value replaces the "
                                  "amount of every dose in it)")
            dose = _floats(vals, "the dose axis", nonneg=True)
            some = regimen if regimen is not None and len(regimen) else next(
                iter(regimens.values()))
            values[name] = (dose, {"units": _dose_unit(model, some),
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
            raise ConfigError(f"sweep axis {name!r} is not 'dose', 'scenario', 'regimen', "
                              f"'dose_time' or a parameter of model {model.name!r}{hint}; "
                              f"parameters: {', '.join(model.parameter_names)}")
    return _Axes(values, dose, combos, params, named, first)


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


def _subject_dim(model, population, grid: _Grid, t0=0.0):
    """``(grid with a "subject" dim, per-subject parameter factors, Schedule or None)``, or
    ``(grid, None, None)``."""
    if population is None:
        return grid, None, None
    if not isinstance(population, Population):
        raise ConfigError(f"population must be a ldnsim.population.Population, got "
                          f"{type(population).__name__}")
    taken = set(grid.coords) | {"subject", "time", "status"} | {
        f"eta_{p}" for p in population.parameters}
    taken |= set(model.state_names) | set(model.output_names)
    seen = set()
    for c in population.covariates + population.time_varying:
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
        if getattr(c, "categorical", False):  # level names, e.g. "F"/"M"
            coords[c.name] = ("subject", c.labels(cov[c.name]),
                              {"long_name": f"covariate {c.name} (categorical)",
                               "levels": ", ".join(c.levels)})
            continue
        coords[c.name] = ("subject", cov[c.name],
                          {"long_name": f"covariate {c.name}", "units": c.unit or "1"})
    schedule = population.schedule(model.parameter_names, t0, model.input_names)
    return (grid.with_dim("subject", population.n_subjects, coords, ("@subject",)), factors,
            schedule)


def _draw_dim(model, draws, axes: _Axes, grid: _Grid, samples, mode):
    """``(grid with a "draw" dim, {parameter: values})``: parameter sets drawn from fits
    (``[uncertainty]``). With ``mode == "zip"`` the samples of ``[sampling]`` ride on the same
    dim (draw i with sample i) instead of a "sample" dim of their own."""
    if not draws:
        return grid, {}
    values = {}
    for name, vals in dict(draws).items():
        if name not in model.parameter_names:
            raise ConfigError(f"drawn parameter {name!r} is not a parameter of model "
                              f"{model.name!r}")
        if name in axes.params or name in (samples or {}):
            raise ConfigError(f"parameter {name!r} is drawn and also swept or sampled; "
                              "choose one")
        values[name] = _floats(vals, f"draws of {name!r}")
    lengths = {v.size for v in values.values()}
    zipped = mode == "zip" and bool(samples)
    if zipped:
        lengths |= {np.asarray(v).size for v in samples.values()}
    if len(lengths) != 1:
        raise ConfigError(f"every drawn (and, zipped, sampled) parameter needs the same number "
                          f"of values, got {sorted(lengths)}")
    n = lengths.pop()
    coords = {"draw": ("draw", np.arange(n), {
        "long_name": "parameter set drawn from a fit's uncertainty"
                     + (" (paired with a sample of the declared ranges)" if zipped else "")})}
    coords.update({name: ("draw", vals, _param_attrs(model, name))
                   for name, vals in values.items()})
    keys: tuple[str, ...] = ("@draw",)
    if zipped:
        coords.update({name: ("draw", _floats(vals, f"samples of {name!r}"),
                              _param_attrs(model, name)) for name, vals in samples.items()})
        keys += ("@sample",)
    return grid.with_dim("draw", n, coords, keys), values


def _sample_and_draw_dims(model, samples, draws, draw_mode, axes: _Axes, grid: _Grid):
    """``(grid, sample values, draw values)``: the "sample" dim, then the "draw" dim; zipped
    (``draw_mode == "zip"``), samples ride on the draw dim."""
    if draw_mode not in ("product", "zip"):
        raise ConfigError(f"draw_mode must be 'product' or 'zip', got {draw_mode!r}")
    if draws and draw_mode == "zip" and samples:
        _, sample_values = _sample_dim(model, samples, axes, _Grid())  # the same checks
        grid, draw_values = _draw_dim(model, draws, axes, grid, sample_values, "zip")
        return grid, sample_values, draw_values
    grid, sample_values = _sample_dim(model, samples, axes, grid)
    grid, draw_values = _draw_dim(model, draws, axes, grid, sample_values, "product")
    return grid, sample_values, draw_values


def _subject_dim_per_draw(model, population, grid: _Grid, t0=0.0):
    """Like :func:`_subject_dim`, but every draw has its own subjects: subject ``s`` of draw
    ``d`` is subject ``d * n + s`` of one population of ``n_draws * n`` (so its values depend
    only on the seed, ``d`` and ``s``). Returns ``(grid, factors (n_draws * n, k), Schedule or
    None)``."""
    if population is None or "draw" not in grid.dims:
        raise ConfigError("subjects per draw need a population and parameter draws")
    n_draws = grid.shape[grid.dims.index("draw")]
    n = population.n_subjects
    big = dataclasses.replace(population, n_subjects=n_draws * n)
    _, factors, schedule = _subject_dim(model, big, grid, t0)  # the same checks and draws
    etas, cov = big.draw()
    coords: dict[str, tuple] = {"subject": ("subject", np.arange(n), {
        "long_name": "virtual subject (new ones for every draw)"})}
    for j, p in enumerate(population.parameters):
        coords[f"eta_{p}"] = (("draw", "subject"), etas[:, j].reshape(n_draws, n),
                              {"long_name": f"random effect of {p} (log scale)", "units": "1"})
    for c in population.covariates:
        if getattr(c, "categorical", False):
            coords[c.name] = (("draw", "subject"),
                              np.asarray(c.labels(cov[c.name])).reshape(n_draws, n),
                              {"long_name": f"covariate {c.name} (categorical)",
                               "levels": ", ".join(c.levels)})
            continue
        coords[c.name] = (("draw", "subject"), cov[c.name].reshape(n_draws, n),
                          {"long_name": f"covariate {c.name}", "units": c.unit or "1"})
    return grid.with_dim("subject", n, coords, ("@subject",)), factors, schedule


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


def _parameter_rows(model, params, scenarios, axes: _Axes, grid: _Grid, samples,
                    factors, schedule=None, draws=None, per_draw=0) -> _Rows:
    """How to build ``P`` (rows, k), checked finite block by block (never held whole)."""
    pnames = model.parameter_names
    pindex = {n: i for i, n in enumerate(pnames)}
    combos = axes.combos if axes.combos is not None else [()]
    base = np.stack([model.parameter_vector(params, scenarios + c) for c in combos])
    columns = tuple([(pindex[name], vals, name) for name, vals in axes.params.items()]
                    + [(pindex[name], vals, "@sample") for name, vals in samples.items()]
                    + [(pindex[name], vals, "@draw") for name, vals in (draws or {}).items()])
    recipe = _Rows(grid, base, axes.combos is not None, columns, factors, len(pnames),
                   schedule, per_draw)
    for start in range(0, grid.n_rows, _CHECK_BLOCK):
        P = recipe.rows(start, min(start + _CHECK_BLOCK, grid.n_rows))
        if not np.all(np.isfinite(P)):
            bad_row, col = (int(i[0]) for i in np.nonzero(~np.isfinite(P)))
            name = (list(pnames) + list(model.input_names))[col]
            where = (f"[sweep] {name}" if name in axes.params else
                     "[sampling] ranges" if name in samples else
                     "[uncertainty]" if name in (draws or {}) else "[population]")
            raise ConfigError(f"{where}: parameter {name!r} becomes {P[bad_row, col]} in row "
                              f"{start + bad_row} (a value near the floating-point limit, "
                              "scaled by the population's variability, overflows); use a "
                              "finite, plausible value")
    return recipe


def _event_tables(model, regimen, axes: _Axes, grid: _Grid, t_eval, *, regimens=None,
                  subject_regimens=None, population=None):
    """``(distinct dosing, per-row index into it)``.

    Each distinct combination of the dosing dims (``dose``, ``regimen``, ``dose_time``, and
    ``subject`` when subjects dose differently: their own event-table regimens or random
    missed doses) gets one entry: an EventTable, or the Regimen itself when its table depends
    on each row's parameters (named lag/bioavailability, a steady state; see
    :mod:`ldnsim.steady`).
    """
    keys = [k for k, on in (("dose", axes.dose is not None),
                            ("regimen", axes.regimens is not None),
                            ("dose_time", axes.first_dose is not None)) if on]
    base = [regimen] if axes.regimens is None else [regimens[n] for n in axes.regimens]
    random_missed = any(r is not None and r.missed_fraction for r in base)
    if random_missed and population is None:
        raise ConfigError("a fraction of missed doses is drawn per subject: add a "
                          "[population] (its seed draws them)")
    per_subject = subject_regimens is not None or random_missed
    if per_subject:
        keys.append("@subject")
    if not keys:
        entry = _dosing_entry(model, regimen)
        tables: tuple | list = (entry,)
        table_index = np.zeros(grid.n_rows, np.int64)
    else:
        idx = np.stack([grid.index_of(k) for k in keys])
        combos, table_index = np.unique(idx, axis=1, return_inverse=True)
        entries: list = []
        for combo in combos.T:
            at = dict(zip(keys, combo.tolist()))
            r = base[at.get("regimen", 0)]
            if subject_regimens is not None:
                r = (r if r is not None else Regimen()) + subject_regimens[at["@subject"]]
            if r is not None and axes.dose is not None and "dose" in at:
                r = _with_amount(r, axes.dose[at["dose"]])
            if r is not None and axes.first_dose is not None and "dose_time" in at:
                r = _at_time(r, axes.first_dose[at["dose_time"]])
            if r is not None and r.missed_fraction:
                r = r.draw_missed(missed_rng(population.seed, at["@subject"]))
            entries.append(_dosing_entry(model, r))
        tables, table_index = tuple(entries), np.asarray(table_index, np.int64).ravel()
    first = min((_first_time(t) for t in tables if t is not None and len(t)), default=None)
    if first is not None and first < t_eval[0]:
        raise ConfigError(f"the first dose (t={first:g}) lies before the first output time "
                          f"({t_eval[0]:g}); start the output at or before the first dose")
    return tables, table_index


def _dosing_entry(model, regimen):
    if regimen is None:
        return None
    if regimen.per_row:
        # names are checked now; values per row when the rows are solved
        regimen.expand(model, params=model.parameter_vector(),
                       steady_state=np.zeros(len(model.state_names)))
        return regimen
    return regimen.expand(model)


def _first_time(entry):
    if isinstance(entry, Regimen):  # lags >= 0 only delay it
        return min(d.time for d in entry.doses)
    return float(entry.time[0])


def _check_dosing_parameters(model, tables, table_index, recipe, grid):
    """Named lags and bioavailabilities in range on every row, before anything is solved."""
    pindex = {n: i for i, n in enumerate(model.parameter_names)}
    for ti, entry in enumerate(tables):
        if not isinstance(entry, Regimen) or not entry.parameters:
            continue
        for start in range(0, grid.n_rows, _CHECK_BLOCK):
            stop = min(start + _CHECK_BLOCK, grid.n_rows)
            rows = np.flatnonzero(table_index[start:stop] == ti)
            if not rows.size:
                continue
            P = recipe.rows(start, stop)[rows]
            for d in entry.doses:
                for field_name, lo_ok, what in (("lag", lambda v: v >= 0, ">= 0"),
                                                ("bioavailability",
                                                 lambda v: (v > 0) & (v <= 1), "in (0, 1]")):
                    name = getattr(d, field_name)
                    if not isinstance(name, str):
                        continue
                    v = P[:, pindex[name]]
                    bad = np.flatnonzero(~lo_ok(v))
                    if bad.size:
                        row = start + int(rows[bad[0]])
                        raise ConfigError(f"parameter {name!r} is the {field_name} of a dose "
                                          f"and must be {what}, but it is {v[bad[0]]:g} in row "
                                          f"{row} ({_row_label(grid, row)}); narrow its "
                                          "variability or range")


def _row_label(grid, row):
    if not grid.dims:
        return "the only row"
    idx = np.unravel_index(int(row), grid.shape)
    return ", ".join(f"{d}={i}" for d, i in zip(grid.dims, idx))


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
        if population.time_varying:
            info["population"]["time_varying"] = [
                {"name": c.name, "effects": dict(c.effects), "reference": c.reference,
                 "sets": c.sets, "unit": c.unit, "per_subject": c.per_subject,
                 **({} if c.per_subject else {"times": c.times.tolist(),
                                              "values": c.values.tolist()})}
                for c in population.time_varying]
    info.update(attrs or {})
    return info


# ------------------------------------------------------------------------------------- plan
def plan_sweep(model, t_eval, *, axes=None, mode="product", regimen=None, params=None,
               scenarios=(), samples=None, population=None, y0=None, keep=None,
               method="auto", rtol=1e-6, atol=1e-9, max_steps=100_000, attrs=None,
               check_size=True, draws=None, draw_mode="product", draw_subjects="shared",
               regimens=None, subject_regimens=None):
    """Flatten a sweep into rows of arrays (:func:`ldnsim.sweep.sweep` runs them).

    Parameters
    ----------
{plan_parameters}    check_size : bool
        Count the trajectories of all rows against :data:`MAX_RESULT_BYTES`; False for a sweep
        that keeps only metrics or streams its trajectories to a store (the rest of the run's
        memory is still checked).
    draws : mapping parameter -> values (all of length n), optional
        Parameter sets drawn from fits (``[uncertainty]``), one more dim ``draw`` after
        ``sample``; they overwrite the parameter after scenarios, params and samples.
    draw_mode : {"product", "zip"}
        With ``samples``: a product of the two dims, or sample i paired with draw i on the
        one dim ``draw``.
    draw_subjects : {"shared", "per_draw"}
        With ``population``: the same subjects for every draw, or new ones for each.

    Returns
    -------
    SweepPlan

    Raises
    ------
    ConfigError, ModelError, RegimenError
        Unknown axis, parameter, scenario or variable; bad values; a result too large.
    """
    model, t_eval, regimen, scenarios = _inputs(model, t_eval, method, regimen, scenarios)
    regimens = {str(k): _as_regimen(v) for k, v in dict(regimens or {}).items()}
    params = dict(params or {})
    parsed = _axis_values(model, axes, regimen, regimens)
    if regimens and parsed.regimens is None:
        raise ConfigError(f"named regimens ({', '.join(regimens)}) need a regimen axis "
                          "listing the ones to run (axes={'regimen': [...]}, or [sweep] "
                          "regimen = [...])")
    population, subject_regimens = _subjects_of_table(population, subject_regimens)
    grid = _grid_of_axes(parsed, mode)
    keep, keep_index = _kept(model, keep)
    # Sizes first, by arithmetic: nothing is drawn or allocated for a grid that cannot run.
    n_samples = len(next(iter(dict(samples).values()))) if samples else 1
    n_draws = len(next(iter(dict(draws).values()))) if draws else 1
    n_sets = (n_draws if draws and samples and draw_mode == "zip" else n_samples * n_draws)
    n_subjects = population.n_subjects if isinstance(population, Population) else 0
    check_run_size(grid.n_rows * n_sets * max(n_subjects, 1), t_eval.size, len(keep),
                   n_states=len(model.states), n_outputs=len(model.outputs),
                   n_params=len(model.parameter_names) + len(model.input_names),
                   n_dims=len(grid.dims) + bool(samples) + bool(draws) + bool(n_subjects),
                   n_subjects=n_subjects * (n_draws if draw_subjects == "per_draw" else 1),
                   trajectories=check_size)
    grid, sample_values, draw_values = _sample_and_draw_dims(model, samples, draws, draw_mode,
                                                             parsed, grid)
    per_draw = draw_subjects == "per_draw" and population is not None and bool(draw_values)
    grid, factors, schedule = (
        _subject_dim_per_draw(model, population, grid, float(t_eval[0])) if per_draw
        else _subject_dim(model, population, grid, float(t_eval[0])))
    _check_coords(model, grid)
    recipe = _parameter_rows(model, params, scenarios, parsed, grid, sample_values, factors,
                             schedule, draw_values,
                             population.n_subjects if per_draw else 0)
    tables, table_index = _event_tables(model, regimen, parsed, grid, t_eval,
                                        regimens=regimens, subject_regimens=subject_regimens,
                                        population=population)
    _check_dosing_parameters(model, tables, table_index, recipe, grid)
    if schedule is not None and any(t is not None and not isinstance(t, EventTable)
                                    for t in tables):
        raise ConfigError("time-varying covariates cannot be combined yet with per-row dosing "
                          "(steady-state doses or a lag/bioavailability named by a parameter); "
                          "use one of them")
    solver = {"method": method, "rtol": float(rtol), "atol": float(atol),
              "max_steps": int(max_steps)}
    info = _provenance(model, grid, mode, scenarios, params, regimen, solver, population, attrs)
    if regimens:
        info["regimens"] = {k: repr(v) for k, v in regimens.items()}
    return SweepPlan(model=model, t_eval=t_eval, dims=grid.dims, shape=grid.shape,
                     coords=grid.coords, recipe=recipe, y0=model.initial_state(y0), tables=tables,
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
        A regimen with a steady-state entry or parameter-named lag/bioavailability is expanded
        per row where the rows are solved (:mod:`ldnsim.steady`).
    regimens : mapping name -> Regimen, optional
        Named regimens for a ``"regimen"`` axis (its values are names); each gets ``regimen``'s
        role in turn. A ``"dose_time"`` axis moves the regimen so that its first dose is at
        each value. Entries with a fraction of missed doses (``Dose(missed=0.1)``) are drawn per
        subject from the population's seed (:func:`missed_rng`).
    subject_regimens : sequence of Regimen, optional
        Per-subject dosing (from an event table): adds a ``subject`` dim of that size (or
        matches the population's), each subject's regimen added to ``regimen``.
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
