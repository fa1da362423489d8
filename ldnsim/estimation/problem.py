"""Data + model -> a simulation design: every subject a row of ONE ``run_rows`` batch.

A :class:`Problem` holds what does not change while fitting: the compiled model, each subject's
parameter vector (scenarios and fixed values applied), its dose events, the shared output grid,
and where each observation is read from the simulated arrays. :meth:`Problem.predict` takes a
matrix of candidate parameter values (one per row: an optimiser's point, its finite-difference
perturbations, a posterior walker, a predictive draw) and simulates all of them for all subjects
in one batch, so numba's threads see ``n_candidates * n_subjects`` independent rows.

Times. Each subject's simulation starts at its first record (the model's initial state there);
internally times are relative to that start. An observation that precedes a dose at the same
time in file order (NONMEM's convention) is read just before the dose.

Summary observations ``METRIC(VAR)`` are computed with :func:`ldnsim.metrics.nca` (Cmax, Tmax,
AUC, AUCinf, half_life) or directly (Cmin, Cavg = AUC / window length) on the simulated VAR over
``[TSTART, TIME]`` sampled at :data:`WINDOW_POINTS` points; Tmax is measured from the window
start.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .._text import suggest
from ..dataset import ObservedData, parse_name, read_dataset
from ..errors import LdnsimError
from ..events import EventTable, pad_event_tables
from ..observation import ERROR_MODELS as _OBSERVATION_MODELS

__all__ = ["Problem", "ParameterSpec", "ErrorSpec", "EstimationError", "build_problem",
           "WINDOW_POINTS", "ERROR_MODELS"]

#: Samples of the simulated profile across the window of each summary observation.
WINDOW_POINTS = 241
#: The residual error models a fit estimates (those of ``ldnsim.observation`` on the natural
#: scale; simulated observations may also use the log-normal "exponential" model).
ERROR_MODELS = tuple(m for m in _OBSERVATION_MODELS if m != "exponential")
_PREDOSE_EPS = 1e-9


class EstimationError(LdnsimError):
    """A fit cannot be set up or run as asked; the message says what to change."""


@dataclass(frozen=True)
class ParameterSpec:
    """A fitted parameter: ``init`` (natural scale), bounds, ``scale`` ("log" or "lin") and an
    optional prior ``(dist, a, b)`` for the posterior (see ``ldnsim.estimation.posterior``)."""

    name: str
    init: float
    lower: float
    upper: float
    scale: str = "log"
    prior: tuple | None = None

    def __post_init__(self):
        if self.scale not in ("log", "lin"):
            raise EstimationError(f"parameter {self.name}: scale must be 'log' or 'lin', got "
                                  f"{self.scale!r}")
        for key in ("init", "lower", "upper"):
            v = getattr(self, key)
            if not (isinstance(v, (int, float)) and math.isfinite(v)):
                raise EstimationError(f"parameter {self.name}: {key} must be a finite number, "
                                      f"got {v!r}")
        if not self.lower < self.upper:
            raise EstimationError(f"parameter {self.name}: lower ({self.lower:g}) must be below "
                                  f"upper ({self.upper:g})")
        if not self.lower <= self.init <= self.upper:
            raise EstimationError(f"parameter {self.name}: init {self.init:g} is outside its "
                                  f"bounds [{self.lower:g}, {self.upper:g}]")
        if self.scale == "log" and self.lower <= 0:
            raise EstimationError(f"parameter {self.name}: a log-scale parameter needs lower > "
                                  f"0, got {self.lower:g}; give a positive lower bound or "
                                  "scale = 'lin'")

    def to_x(self, value):
        return np.log(value) if self.scale == "log" else np.asarray(value, dtype=float)

    def from_x(self, x):
        return np.exp(x) if self.scale == "log" else np.asarray(x, dtype=float)


@dataclass(frozen=True)
class ErrorSpec:
    """Residual error of one observed NAME: sd = a (additive), b*|f| (proportional) or
    sqrt(a^2 + b^2 f^2) (combined). ``additive``/``proportional`` are initial values (ML) or
    the fixed values (WLS, or ``estimate=False``)."""

    name: str
    model: str = "proportional"
    additive: float = 1.0
    proportional: float = 0.1
    estimate: bool = True

    def __post_init__(self):
        if self.model not in ERROR_MODELS:
            raise EstimationError(f"error model of {self.name}: expected one of "
                                  f"{', '.join(ERROR_MODELS)}, got {self.model!r}")
        for key in ("additive", "proportional"):
            v = getattr(self, key)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                raise EstimationError(f"error model of {self.name}: {key} must be a number > 0, "
                                      f"got {v!r}")

    @property
    def parameters(self):
        """Names of its parameters: ``sigma_add_<NAME>`` and/or ``sigma_prop_<NAME>``."""
        tag = error_tag(self.name)
        return {"additive": (f"sigma_add_{tag}",), "proportional": (f"sigma_prop_{tag}",),
                "combined": (f"sigma_add_{tag}", f"sigma_prop_{tag}")}[self.model]

    @property
    def values(self):
        return {"additive": (self.additive,), "proportional": (self.proportional,),
                "combined": (self.additive, self.proportional)}[self.model]


def error_tag(name):
    """``"Cmax(C_ntx)"`` -> ``"Cmax_C_ntx"``: an identifier for parameter names."""
    return name.replace("(", "_").replace(")", "").replace(" ", "")


@dataclass(eq=False)
class Problem:
    """A fit problem: model, data and the batch layout (see the module docstring).

    Attributes
    ----------
    model : Model
        The model as given.
    sim_model, compiled : Model, CompiledModel
        What is simulated: ``model`` reduced to the states the observations depend on
        (``ldnsim.estimation.reduce``; ``model`` itself when nothing can be dropped).
    data : ObservedData
    params : tuple of ParameterSpec
    errors : dict of str to ErrorSpec
        Per observed NAME (only NAMEs with at least one observation without SD).
    method : {"ml", "wls"}
    base : ndarray, shape (S, k)
        Parameter vector of each subject (scenarios, fixed values; fitted entries overwritten).
    events : tuple of 4 ndarrays, shape (S, w)
    y0 : ndarray, shape (n_states,)
    grid : ndarray, shape (m,)
        Output times relative to each subject's first record.
    y, sd : ndarray, shape (n_obs,)
        Observed values; per-row SD (NaN = from the error model).
    """

    model: object
    compiled: object
    data: ObservedData
    params: tuple
    errors: dict
    sim_model: object = None
    method: str = "ml"
    fixed: dict = field(default_factory=dict)
    scenarios: tuple = ()
    solver: dict = field(default_factory=dict)
    base: np.ndarray | None = None
    events: tuple | None = None
    y0: np.ndarray | None = None
    grid: np.ndarray | None = None
    y: np.ndarray | None = None
    sd: np.ndarray | None = None
    obs_subject: np.ndarray | None = None
    # (obs idx array, subject idx, grid idx, "outputs"/"states", var idx)
    _direct: list | None = None
    _summary: list | None = None  # (var, kind, var idx, start, end, [(obs, subject, metric)])
    _param_index: np.ndarray | None = None
    _error_obs: dict | None = None

    # ------------------------------------------------------------------ sizes and names
    @property
    def n_subjects(self):
        return self.base.shape[0]

    @property
    def n_obs(self):
        return self.y.shape[0]

    @property
    def param_names(self):
        return tuple(p.name for p in self.params)

    @property
    def error_params(self):
        """``(name, NAME, "additive"/"proportional", initial value)`` of every residual-error
        parameter that is estimated (ML only)."""
        out = []
        if self.method != "ml":
            return out
        for spec in self.errors.values():
            if not spec.estimate:
                continue
            for pname, value, kind in zip(spec.parameters, spec.values,
                                          {"additive": ("additive",),
                                           "proportional": ("proportional",),
                                           "combined": ("additive", "proportional")}[spec.model]):
                out.append((pname, spec.name, kind, value))
        return out

    @property
    def x_names(self):
        """Names of the optimiser's vector: fitted parameters, then error parameters."""
        return self.param_names + tuple(e[0] for e in self.error_params)

    # ------------------------------------------------------------------ simulation
    def predict(self, theta, *, threads=None):
        """Simulate candidate parameter rows for every subject and read the observations.

        Parameters
        ----------
        theta : array_like, shape (R, n_params) or (n_params,)
            Values of the fitted parameters on their natural scale, one candidate per row.

        Returns
        -------
        f : ndarray, shape (R, n_obs)
            Predictions (NaN where a row failed).
        ok : ndarray of bool, shape (R,)
            False where any subject's solve failed for that candidate.
        """
        from ..simulation import run_rows

        theta = np.atleast_2d(np.asarray(theta, dtype=float))
        R, S = theta.shape[0], self.n_subjects
        P = np.repeat(self.base[None, :, :], R, axis=0)          # (R, S, k)
        P[:, :, self._param_index] = theta[:, None, :]
        P = P.reshape(R * S, -1)
        events = tuple(np.tile(a, (R, 1)) for a in self.events)
        res = run_rows(self.compiled, self.grid, P, self.y0, events, **self.solver)
        return self._observe(res, R)

    def _observe(self, res, R):
        S = self.n_subjects
        f = np.full((R, self.n_obs), np.nan)
        arrays = {"outputs": res.outputs, "states": res.states}
        for obs_idx, s, gi, kind, vi in self._direct:
            f[:, obs_idx] = arrays[kind][s::S][:, gi, vi]
        for var, kind, vi, start, end, items in self._summary:
            values = _summaries(self.grid, arrays[kind][:, :, vi], var, start, end,
                                {m for _, _, m in items}, self.sim_model)
            for o, s, metric in items:
                f[:, o] = values[metric][s::S]
        ok = (res.status == 0).reshape(R, S).all(axis=1)
        f[~ok] = np.nan
        return f, ok

    def curves(self, theta, times_per_subject=200):
        """Dense simulated profiles of every directly observed variable, for plots.

        Returns ``(t, values)`` with ``t`` of shape (m,) relative to each subject's start and
        ``values`` a dict NAME -> ndarray (R, S, m)."""
        from ..simulation import run_rows

        theta = np.atleast_2d(np.asarray(theta, dtype=float))
        R, S = theta.shape[0], self.n_subjects
        t = np.unique(np.concatenate([self.grid, np.linspace(self.grid[0], self.grid[-1],
                                                             times_per_subject)]))
        P = np.repeat(self.base[None, :, :], R, axis=0)
        P[:, :, self._param_index] = theta[:, None, :]
        events = tuple(np.tile(a, (R, 1)) for a in self.events)
        res = run_rows(self.compiled, t, P.reshape(R * S, -1), self.y0, events, **self.solver)
        out = {}
        names = set(self.data.observations["NAME"].values.tolist())
        sim = self.sim_model
        for name in sorted(names):
            metric, var = parse_name(name)
            if metric is not None:
                continue
            if var in sim.output_names:
                arr = res.outputs[:, :, sim.output_names.index(var)]
            else:
                arr = res.states[:, :, sim.state_names.index(var)]
            arr = np.where((res.status == 0)[:, None], arr, np.nan)
            out[name] = arr.reshape(R, S, -1)
        return t, out


def _summaries(grid, values, var, start, end, metrics, model):
    """Summary metrics of ``values`` (rows, m) over the window; dict metric -> (rows,)."""
    import xarray as xr

    from ..metrics import nca

    out = {}
    unit = {o.name: o.unit for o in model.outputs}.get(var, "1")
    nca_metrics = metrics & {"Cmax", "Tmax", "AUC", "AUCinf", "half_life", "Cavg"}
    if nca_metrics:
        ds = xr.Dataset({var: (("row", "time"), values, {"units": unit})},
                        coords={"time": ("time", grid, {"units": model.time_unit})})
        res = nca(ds, var, start=start, end=end)
        for m in nca_metrics - {"Cavg"}:
            out[m] = res[m].values
        if nca_metrics & {"Cmax", "Tmax"}:
            cmax, tmax = _refined_peak(grid, values, start, end)
            if "Cmax" in out:
                out["Cmax"] = np.where(np.isfinite(cmax), np.maximum(cmax, out["Cmax"]),
                                       out["Cmax"])
            if "Tmax" in out:
                out["Tmax"] = np.where(np.isfinite(tmax), tmax - start, out["Tmax"])
        if "Cavg" in nca_metrics:
            out["Cavg"] = res["AUC"].values / (end - start)
    if "Cmin" in metrics:
        inside = (grid >= start - 1e-12) & (grid <= end + 1e-12)
        v = values[:, inside]
        out["Cmin"] = np.where(np.isnan(v).any(axis=1), np.nan, np.min(v, axis=1))
    return out


def _refined_peak(grid, values, start, end):
    """Peak height and time from the parabola through the sampled maximum and its two
    neighbours (NaN where the maximum is at a window edge): unlike the sampled maximum, they
    change smoothly with the parameters, so their finite-difference gradients are not zero."""
    inside = np.flatnonzero((grid >= start - 1e-12) & (grid <= end + 1e-12))
    t, v = grid[inside], values[:, inside]
    i = np.argmax(np.nan_to_num(v, nan=-np.inf), axis=1)
    ok = (i > 0) & (i < t.size - 1)
    j = np.clip(i, 1, t.size - 2)
    rows = np.arange(v.shape[0])
    t0, t1, t2 = t[j - 1], t[j], t[j + 1]
    y0, y1, y2 = v[rows, j - 1], v[rows, j], v[rows, j + 1]
    # Newton form: y = y1 + d01 (x - t1) + c (x - t1)(x - t0); vertex where dy/dx = 0
    d01 = (y1 - y0) / (t1 - t0)
    d12 = (y2 - y1) / (t2 - t1)
    c = (d12 - d01) / (t2 - t0)
    with np.errstate(divide="ignore", invalid="ignore"):
        x = 0.5 * (t0 + t1) - d01 / (2 * c)
        x = np.where((c < 0) & ok, np.clip(x, t0, t2), np.nan)
        peak = y1 + d01 * (x - t1) + c * (x - t1) * (x - t0)
    return peak, x


# ---------------------------------------------------------------------------- building
def _specs(model, params):
    """Normalise ``params`` (names, or a dict name -> dict/ParameterSpec) to specs."""
    if isinstance(params, str):
        params = [params]
    if isinstance(params, dict):
        items = list(params.items())
    else:
        items = [(p.name, p) if isinstance(p, ParameterSpec) else (p, {}) for p in params]
    if not items:
        raise EstimationError("no parameters to fit: give params=[...] (model parameter names)")
    known = {p.name: p for p in model.parameters}
    specs = []
    for name, spec in items:
        if name not in known:
            raise EstimationError(f"cannot fit {name!r}: model {model.name!r} has no parameter "
                                  f"of that name{suggest(name, known)}; parameters: "
                                  f"{', '.join(known)}")
        if isinstance(spec, ParameterSpec):
            specs.append(spec)
            continue
        spec = dict(spec or {})
        prm = known[name]
        init = float(spec.get("init", prm.value))
        scale = spec.get("scale", "log")
        lower, upper = spec.get("lower"), spec.get("upper")
        if lower is None:
            lower = prm.lower if prm.lower is not None and (scale == "lin" or prm.lower > 0) \
                else (init / 100.0 if scale == "log" else init - 100.0 * max(abs(init), 1.0))
        if upper is None:
            upper = prm.upper if prm.upper is not None else (
                init * 100.0 if scale == "log" else init + 100.0 * max(abs(init), 1.0))
        if scale == "log" and init <= 0:
            raise EstimationError(f"parameter {name}: init {init:g} must be > 0 on the log "
                                  "scale; give init or scale = 'lin'")
        specs.append(ParameterSpec(name, init, float(lower), float(upper), scale,
                                   spec.get("prior")))
    names = [s.name for s in specs]
    dup = [n for i, n in enumerate(names) if n in names[:i]]
    if dup:
        raise EstimationError(f"parameter {dup[0]!r} is listed twice")
    return tuple(specs)


def _errors(data, error, method):
    """An ErrorSpec per observed NAME that has rows without SD."""
    obs = data.observations
    names = obs["NAME"].values
    sd = obs["SD"].values
    if error is None or isinstance(error, (str, ErrorSpec)):
        default, per_name = error or {}, {}
    elif isinstance(error, dict) and isinstance(error.get("model"), str):
        default, per_name = error, {}  # one spec for every NAME
    elif isinstance(error, dict):
        default, per_name = {}, error
    else:
        raise EstimationError(f"error must be a model name, a spec dict or {{NAME: spec}}, got "
                              f"{type(error).__name__}")
    unknown = [k for k in per_name if k not in set(names.tolist())]
    if unknown:
        raise EstimationError(f"error model for {unknown[0]!r}, which the data do not observe; "
                              f"observed: {', '.join(sorted(set(names.tolist())))}")
    out = {}
    for name in sorted(set(names.tolist())):
        mask = names == name
        if np.all(np.isfinite(sd[mask])):
            continue
        spec = per_name.get(name, default)
        if isinstance(spec, ErrorSpec):
            out[name] = spec if spec.name == name else ErrorSpec(
                name, spec.model, spec.additive, spec.proportional, spec.estimate)
            continue
        spec = {"model": spec} if isinstance(spec, str) else dict(spec)
        typical = float(np.nanmean(np.abs(obs["DV"].values[mask]))) or 1.0
        model = spec.get("model", "proportional")
        add_default = 0.1 * typical if method == "ml" else 1.0
        prop_default = 0.1 if method == "ml" else 1.0
        out[name] = ErrorSpec(name, model, float(spec.get("additive", add_default)),
                              float(spec.get("proportional", prop_default)),
                              bool(spec.get("estimate", True)))
    return out


def build_problem(model, data, params, *, method="ml", error=None, fixed=None, scenarios=(),
                  rtol=1e-8, atol=1e-10, solver_method="rodas5p", max_steps=100_000,
                  reduce=True):
    """Lay out a fit problem.

    Parameters
    ----------
    model : Model or str
    data : ObservedData, path, or list of paths
    params : list of names, or dict name -> {init, lower, upper, scale, prior}
        Fitted parameters. Defaults: init = the model's value; bounds = the model's
        ``lower``/``upper`` when given (and > 0 on the log scale), else init/100 .. init*100;
        scale "log".
    method : {"ml", "wls"}
    error : dict
        Residual error: one spec ``{model, additive, proportional, estimate}`` for every NAME,
        or ``{NAME: spec}`` per NAME. Default: proportional, 10 %.
    fixed : dict name -> value
        Parameters set for every subject and not fitted (after scenarios).
    scenarios : sequence of str
        Applied to every subject before its own ``SCENARIO``.
    rtol, atol, solver_method, max_steps : solver settings (tighter than simulation defaults,
        so finite-difference gradients are accurate).
    reduce : bool
        Simulate only the states the observations depend on (exact; see
        ``ldnsim.estimation.reduce``).

    Returns
    -------
    Problem
    """
    from ..model import load_model

    model = load_model(model)
    if not isinstance(data, ObservedData):
        data = read_dataset(data, model)
    elif data.model != model.name:
        data = data.check(model)
    if method not in ("ml", "wls"):
        raise EstimationError(f"method must be 'ml' (maximum likelihood) or 'wls' (weighted "
                              f"least squares), got {method!r}")
    if isinstance(scenarios, str):
        scenarios = (scenarios,)
    specs = _specs(model, params)
    fixed = dict(fixed or {})
    clash = [p.name for p in specs if p.name in fixed]
    if clash:
        raise EstimationError(f"parameter {clash[0]!r} is both fitted and fixed; remove it from "
                              "one of them")
    from .reduce import reduced_model

    observed = {parse_name(n)[1] for n in set(data.observations["NAME"].values.tolist())}
    dosed = {d.target or model.dose_target for reg in data.regimens.values() for d in reg}
    full = model
    model = reduced_model(full, observed, dosed) if reduce else full
    compiled = model.compile()
    pnames = model.parameter_names
    index = np.array([pnames.index(p.name) for p in specs], dtype=np.int64)
    subjects = data.subjects
    base, tables = _subject_setup(model, data, specs, fixed, scenarios)
    if not compiled.autonomous and any(data.start[s] != 0 for s in subjects):
        raise EstimationError(f"model {full.name!r} reads the time t, so each subject must "
                              "start at TIME 0 (their first records differ)")
    obs = data.observations
    sid_index = {s: i for i, s in enumerate(subjects)}
    obs_subject = np.array([sid_index[s] for s in obs["ID"].values.tolist()], dtype=np.int64)
    grid, direct_list, summary_list = _read_layout(model, data, tables, obs_subject)
    errors = _errors(data, error, method)
    error_obs = {name: np.flatnonzero((obs["NAME"].values == name) & ~np.isfinite(
        obs["SD"].values)) for name in errors}
    return Problem(model=full, sim_model=model, compiled=compiled, data=data, params=specs,
                   errors=errors,
                   method=method, fixed=fixed, scenarios=tuple(scenarios),
                   solver={"rtol": rtol, "atol": atol, "method": solver_method,
                           "max_steps": max_steps},
                   base=base, events=pad_event_tables(tables), y0=model.initial_state(),
                   grid=grid, y=obs["DV"].values.astype(float), sd=obs["SD"].values.astype(float),
                   obs_subject=obs_subject, _direct=direct_list, _summary=summary_list,
                   _param_index=index, _error_obs=error_obs)


def _subject_setup(model, data, specs, fixed, scenarios):
    """Each subject's parameter vector (shape (n_subjects, n_parameters)) and event table
    (times relative to its first record)."""
    base, tables = [], []
    for sid in data.subjects:
        scen = tuple(scenarios) + tuple(data.scenarios.get(sid, ()))
        p = model.parameter_vector(fixed, scen)
        set_by = {k for sc in scen for k in model.scenarios[sc].values}
        hit = [s.name for s in specs if s.name in set_by]
        if hit:
            raise EstimationError(f"parameter {hit[0]!r} is fitted, but a scenario of subject "
                                  f"{sid} ({'+'.join(scen)}) sets it; fit it under another name "
                                  "or drop the scenario")
        base.append(p)
        t0 = data.start[sid]
        table = data.regimens[sid].expand(model)
        tables.append(EventTable(table.time - t0, table.kind, table.index, table.amount))
    return np.array(base), tables


def _var_slot(model, var):
    """("outputs", index) or ("states", index) of the observed variable ``var``."""
    return (("outputs", model.output_names.index(var)) if var in model.output_names
            else ("states", model.state_names.index(var)))


def _read_layout(model, data, tables, obs_subject):
    """The shared time grid and where each observation is read from it.

    Returns
    -------
    grid : ndarray, shape (n_times,)
    direct : list of (obs indices, subject, grid indices, kind, variable index)
    summary : list of (var, kind, variable index, start, end, [(obs, subject, metric)])
    """
    obs = data.observations
    rel = obs["TIME"].values - np.array([data.start[s] for s in obs["ID"].values.tolist()])
    predose = obs["PREDOSE"].values
    t_needed = np.where(predose, rel - _PREDOSE_EPS * np.maximum(1.0, np.abs(rel)), rel)
    names = obs["NAME"].values.tolist()
    points = [np.array([0.0]), t_needed]
    windows = {}
    for o, name in enumerate(names):
        metric, var = parse_name(name)
        if metric is None:
            continue
        s = obs_subject[o]
        tstart = obs["TSTART"].values[o]
        start = 0.0 if np.isnan(tstart) else tstart - data.start[data.subjects[s]]
        windows.setdefault((var, float(start), float(rel[o])), []).append((o, s, metric))
        points.append(np.linspace(start, rel[o], WINDOW_POINTS))
        ev_t = tables[s].time
        points.append(ev_t[(ev_t >= start) & (ev_t <= rel[o])])
    grid = np.unique(np.concatenate(points))
    grid = grid[np.concatenate([[True], np.diff(grid) > 1e-12 * np.maximum(1, np.abs(grid[1:]))])]
    direct = {}
    for o, name in enumerate(names):
        metric, var = parse_name(name)
        if metric is not None:
            continue
        kind, vi = _var_slot(model, var)
        gi = int(np.argmin(np.abs(grid - t_needed[o])))
        direct.setdefault((int(obs_subject[o]), kind, vi), []).append((o, gi))
    direct_list = []
    for (s, kind, vi), items in direct.items():
        o = np.array([i for i, _ in items])
        g = np.array([j for _, j in items])
        direct_list.append((o, s, g, kind, vi))
    summary_list = []
    for (var, start, end), items in windows.items():
        kind, vi = _var_slot(model, var)
        summary_list.append((var, kind, vi, start, end, items))
    return grid, direct_list, summary_list
