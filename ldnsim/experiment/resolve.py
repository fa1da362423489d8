"""Resolving a validated experiment against its model into a sweep plan.

Each step checks one part of the file against the model and returns a small value; every
problem is one :class:`~ldnsim.errors.ConfigError` naming the file, the section and the key.
"""
from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ldnsim._limits import limit, raise_hint
from ldnsim._text import suggest
from ldnsim.dosing import Dose, Regimen
from ldnsim.errors import ConfigError, LdnsimError, ModelError, RegimenError
from ldnsim.metrics import METRICS
from ldnsim.model import Model, load_model
from ldnsim.model.compiled import check_cost, prepare_source
from ldnsim.population import Population, fresh_seed
from ldnsim.sampling import sample_design
from ldnsim.sweep import SweepPlan, plan_sweep
from ldnsim.sweep.plan import check_run_size

from .finish import rehearse
from .messages import fail
from .schema import ExperimentConfig

__all__ = ["Experiment", "resolve", "output_times"]

#: Most output times a run may ask for (a typo guard: 50 million times one variable is 400 MB
#: per row). Raise with LDNSIM_MAX_OUTPUT_TIMES.
MAX_OUTPUT_TIMES = 50_000_000
#: Model time units -> time units per day (for ``days =``).
_PER_DAY = {"h": 24.0, "hr": 24.0, "hour": 24.0, "min": 1440.0, "s": 86400.0, "d": 1.0,
            "day": 1.0}


@dataclass(frozen=True, eq=False)
class Experiment:
    """A validated experiment; ``plan`` is set once it is resolved against its model.

    Attributes
    ----------
    config : ExperimentConfig
    name : str
    text : str or None
        The file text (None when built from a dict).
    path : pathlib.Path or None
    where : str
        How messages refer to it (the path, or ``<experiment text>``).
    raw : dict
        The parsed TOML (keeps the order of the sweep axes).
    model : Model or None; plan : ldnsim.sweep.SweepPlan or None
    metric_vars : tuple of str
        Model variables the metrics read (simulated even when not kept).
    seeds : dict
        ``population`` / ``sampling`` seeds actually used (fresh entropy when not given).
    """

    config: ExperimentConfig
    name: str
    text: str | None
    path: Path | None
    where: str
    raw: dict
    model: Model | None = None
    plan: SweepPlan | None = None
    metric_vars: tuple = ()
    seeds: dict | None = None

    def summary(self) -> str:
        """A few lines for ``ldnsim validate``."""
        cfg = self.config
        lines = [f"experiment: {self.name}" + (f" -- {cfg.experiment.description}"
                                               if cfg.experiment.description else "")]
        if self.path is not None:
            lines.append(f"file:       {self.path}")
        if self.plan is None:
            lines.append(f"model:      {cfg.model.name} (not resolved)")
            return "\n".join(lines)
        lines.append(self.plan.describe())
        seeds = self.seeds or {}
        if cfg.population is not None:
            names = ", ".join(cfg.population.iiv_names()) or "none"
            lines.append(f"population: {cfg.population.subjects} subjects, IIV on {names}, "
                         f"seed {seeds.get('population')}")
        if cfg.sampling is not None:
            lines.append(f"sampling:   {cfg.sampling.method}, n = {cfg.sampling.n}, seed "
                         f"{seeds.get('sampling')}")
        if cfg.metrics is not None:
            lines.append(f"metrics:    {', '.join(cfg.metrics.names)}")
        return "\n".join(lines)


# ------------------------------------------------------------------------------- the steps
def _load_model(exp):
    name = exp.config.model.name
    try:
        if any(ord(c) < 32 for c in name):
            raise ConfigError(f"{name!r} contains control characters; give a shipped model's "
                              "name or the path of a .toml file")
        if name.endswith(".toml") or "/" in name or "\\" in name:
            base = exp.path.parent if exp.path is not None else Path.cwd()
            try:
                candidate = Path(name).expanduser()
                if not candidate.is_absolute():
                    candidate = base / candidate
                found = candidate.is_file()
            except (RuntimeError, ValueError, OSError) as exc:  # ~nouser, a NUL byte, ...
                raise ConfigError(f"{name!r} is not a usable path ({exc})") from None
            if not found:
                raise ConfigError(f"no model file at {candidate} (paths are relative to the "
                                  "experiment file)")
            return load_model(candidate)
        return load_model(name)
    except LdnsimError as exc:
        raise fail(exp.where, ("model", "name"), str(exc)) from None


def _check_model_code(exp, model, *, generate):
    """The model's code has a bounded cost (checked first, by arithmetic) and can be generated
    (``generate``: sympy runs now and the code is cached for the run)."""
    try:
        prepare_source(model) if generate else check_cost(model)
    except LdnsimError as exc:
        raise fail(exp.where, ("model", "name"), str(exc)) from None


def _check_size(exp, model, axes, t_eval, keep, metric_vars):
    """The run's memory, by arithmetic, before the design or the population is drawn."""
    cfg = exp.config
    sizes = [len(v) for v in axes.values()]
    rows = (max(sizes) if cfg.sweep is not None and cfg.sweep.mode == "zip" and sizes
            else math.prod(sizes))
    subjects = cfg.population.subjects if cfg.population is not None else 0
    rows *= (cfg.sampling.n if cfg.sampling is not None else 1) * max(subjects, 1)
    try:
        check_run_size(rows, t_eval.size, len(keep), n_states=len(model.states),
                       n_outputs=len(model.outputs),
                       n_params=len(model.parameter_names) + len(model.input_names),
                       n_dims=len(axes) + 2, n_subjects=subjects,
                       n_metric_reads=len(metric_vars) if cfg.metrics is not None else 0)
    except ConfigError as exc:
        raise ConfigError(" ".join(f"{exp.where}: {exc}".split())) from None


def _check_names(exp, names, known, parts, what, model):
    for i, n in enumerate(names):
        if n not in known:
            raise fail(exp.where, parts(n, i), f"{what} {n!r} is not in model {model.name!r}"
                       f"{suggest(n, known)}; known: {', '.join(known) or 'none'}")


def _check_scenarios(exp, model, names, parts):
    """Scenarios applied together must not set the same parameter (a ModelError otherwise)."""
    try:
        model.scenario_values(tuple(names))
    except ModelError as exc:
        raise fail(exp.where, parts, str(exc)) from None


def _check_model_section(exp, model):
    cfg = exp.config
    _check_names(exp, cfg.model.scenarios, list(model.scenarios),
                 lambda n, i: ("model", "scenarios", i), "scenario", model)
    _check_names(exp, list(cfg.model.params), list(model.parameter_names),
                 lambda n, i: ("model", "params", n), "parameter", model)
    _check_scenarios(exp, model, cfg.model.scenarios, ("model", "scenarios"))


def _axes(exp, model) -> dict:
    """The sweep axes in file order: ``{"dose": [...], "scenario": [...], param: [...]}``."""
    cfg = exp.config
    if cfg.sweep is None:
        return {}
    extra = cfg.sweep.__pydantic_extra__ or {}
    _check_names(exp, list(extra), list(model.parameter_names), lambda n, i: ("sweep", n),
                 "sweep axis (not 'dose' or 'scenario', so a parameter)", model)
    for i, combo in enumerate(cfg.sweep.scenario or []):
        _check_names(exp, combo, list(model.scenarios), lambda n, j, i=i: ("sweep", "scenario", i),
                     "scenario", model)
        _check_scenarios(exp, model, list(cfg.model.scenarios) + list(combo),
                         ("sweep", "scenario", i))
    raw = exp.raw.get("sweep")
    order = [k for k in raw if k != "mode"] if isinstance(raw, Mapping) else []
    values = {"dose": cfg.sweep.dose, "scenario": cfg.sweep.scenario, **extra}
    return {key: values[key] for key in order + [k for k in values if k not in order]
            if values.get(key) is not None}


def _samples(exp, model, axes):
    """``(samples or None, seed or None)`` from ``[sampling]``."""
    s = exp.config.sampling
    if s is None:
        return None, None
    _check_names(exp, list(s.ranges), list(model.parameter_names),
                 lambda n, i: ("sampling", "ranges", n), "parameter", model)
    for n in s.ranges:
        if n in axes:
            raise fail(exp.where, ("sampling", "ranges", n), f"{n!r} is also a sweep axis; "
                       "a parameter is either swept or sampled")
    return sample_design(s.method, s.n, s.ranges, log=s.log, seed=s.seed)


def _population(exp, model):
    """``(Population or None, seed or None)`` from ``[population]``."""
    p = exp.config.population
    if p is None:
        return None, None
    pnames = list(model.parameter_names)
    key = "parameters" if p.covariance is not None else "iiv"
    _check_names(exp, p.iiv_names(), pnames,
                 (lambda n, i: ("population", key, i)) if key == "parameters"
                 else (lambda n, i: ("population", key, n)), "parameter", model)
    for cname, cov in p.covariates.items():
        _check_names(exp, list(cov.effects), pnames,
                     lambda n, i, c=cname: ("population", "covariates", c, "effects", n),
                     "parameter", model)
    seed = p.seed if p.seed is not None else fresh_seed()
    try:
        population = Population(p.subjects, p.iiv_names(), p.omega(), seed=seed,
                                covariates=[c.covariate(n) for n, c in p.covariates.items()])
    except ConfigError as exc:
        raise fail(exp.where, ("population",), str(exc)) from None
    return population, seed


def _metric_vars(exp, model) -> tuple:
    """Model variables the metrics read (:attr:`Metric.reads`), checked to exist."""
    cfg = exp.config.metrics
    if cfg is None:
        return ()
    known = list(model.state_names) + list(model.output_names)
    found = []
    for name in cfg.names:
        metric, given = METRICS[name], cfg.options().get(name, {})
        for v in metric.reads(metric.bind(given)):
            if not isinstance(v, str):
                continue
            if v not in known:
                arg = next((k for k, x in given.items() if x == v or
                            (isinstance(x, list) and v in x)), None)
                where = ("metrics", name, arg) if arg else ("metrics", name)
                default = "" if arg else " (the default)"
                raise fail(exp.where, where,
                           f"metric {name!r} reads {v!r}{default}, which is not a variable "
                           f"of model {model.name!r}{suggest(v, known)}; set the option to "
                           f"one of {', '.join(known)}")
            found.append(v)
    return tuple(dict.fromkeys(found))


def _kept_variables(exp, model, metric_vars) -> list:
    variables = exp.config.output.variables
    if variables is not None:
        _check_names(exp, variables, list(model.state_names) + list(model.output_names),
                     lambda n, i: ("output", "variables", i), "variable", model)
    keep = list(variables or (model.output_names or model.state_names))
    return keep + [v for v in metric_vars if v not in keep]


def _regimen(exp, model):
    r = exp.config.regimen
    if r is None:
        return None
    day = _day_length(exp, model, ("regimen", "days"), r.days)
    try:
        dose = Dose(r.dose if r.dose is not None else 0.0, time=r.start, target=r.target,
                    every=r.every, count=r.count or 1, duration=r.duration, lag=r.lag,
                    bioavailability=r.bioavailability,
                    until=None if r.days is None else r.start + r.days * day)
        regimen = Regimen((dose,))
        regimen.expand(model)  # binds the target now, so a typo is reported as a config error
    except RegimenError as exc:
        raise fail(exp.where, ("regimen",), str(exc)) from None
    return regimen


def _day_length(exp, model, parts, days):
    if days is None:
        return 1.0
    per_day = _PER_DAY.get(model.time_unit)
    if per_day is None:
        raise fail(exp.where, parts, f"days needs a model time unit in {', '.join(_PER_DAY)}; "
                   f"model {model.name!r} uses {model.time_unit!r}: give the time directly")
    return per_day


def output_times(exp, model) -> np.ndarray:
    """The output grid of ``[output]``, in the model's time unit."""
    o = exp.config.output
    if o.times is not None:
        return np.asarray(o.times, dtype=float)
    t_end = o.t_end if o.t_end is not None else o.days * _day_length(
        exp, model, ("output", "days"), o.days)
    if not t_end > o.t_start:
        raise fail(exp.where, ("output", "days"),
                   f"the output must end after t_start ({o.t_start:g})")
    if o.dense_from is not None and not o.dense_from < t_end:
        raise fail(exp.where, ("output", "dense_from"),
                   f"dense_from ({o.dense_from:g}) must be earlier than the end ({t_end:g})")
    step = o.step if o.step is not None else (t_end - o.t_start) / 500.0
    if o.dense_from is None:
        return _grid(exp, o.t_start, t_end, step)
    # Long runs whose metrics only read the last days: coarse samples, then dense ones.
    coarse = _grid(exp, o.t_start, o.dense_from, o.coarse_step)
    return np.concatenate([coarse[:-1], _grid(exp, o.dense_from, t_end, step)])


def _grid(exp, t0, t1, step):
    """Times t0, t0 + step, ... with t1 always the last one."""
    intervals = (t1 - t0) / step * (1 + 1e-12)  # a float: inf for a subnormal step
    top = limit("MAX_OUTPUT_TIMES", MAX_OUTPUT_TIMES)
    if not intervals < top:
        raise fail(exp.where, ("output", "step"),
                   f"{intervals + 1:.3g} output times is too many (at most {top:,}); use a "
                   f"larger step ({raise_hint('MAX_OUTPUT_TIMES')})")
    n = math.floor(intervals) + 1
    t = t0 + step * np.arange(n)
    if t[-1] < t1 - 1e-9 * max(1.0, abs(t1)):
        t = np.append(t, t1)  # the end is always an output time
    else:
        t[-1] = min(t[-1], t1)
    return t


def _check_first_dose(exp, t_eval):
    r = exp.config.regimen
    if r is not None and r.start + r.lag < t_eval[0]:
        raise fail(exp.where, ("regimen", "start"), f"the first dose (start + lag = "
                   f"{r.start + r.lag:g}) lies before the first output time ({t_eval[0]:g}); "
                   "start the output at or before the first dose")


def _provenance(exp, seeds) -> dict:
    cfg = exp.config
    attrs = {
        "experiment_name": exp.name, "experiment_description": cfg.experiment.description,
        "experiment_path": str(exp.path or ""),
        "experiment": exp.text if exp.text is not None else json.dumps(
            exp.raw, sort_keys=False, default=str),
        "experiment_config": cfg.model_dump(mode="json"),
        "population_seed": seeds.get("population"), "sampling_seed": seeds.get("sampling"),
    }
    return {k: v for k, v in attrs.items() if v is not None}


# ----------------------------------------------------------------------------------- resolve
def resolve(exp: Experiment) -> Experiment:
    """Check ``exp`` against its model and plan its sweep; returns a resolved copy.

    Everything a run checks before solving is checked here: names, sizes (by arithmetic,
    before anything is drawn), the solver settings, what happens to the result after solving
    (:func:`ldnsim.experiment.finish.rehearse`) and the model's code (generated now when it is
    not cached yet; numba compiles it at the first run).

    Raises
    ------
    ConfigError
        The first problem, naming the file, the section and the key.
    """
    cfg = exp.config
    model = _load_model(exp)
    _check_model_code(exp, model, generate=False)
    _check_model_section(exp, model)
    axes = _axes(exp, model)
    metric_vars = _metric_vars(exp, model)
    keep = _kept_variables(exp, model, metric_vars)
    regimen = _regimen(exp, model)
    t_eval = output_times(exp, model)
    _check_first_dose(exp, t_eval)
    _check_size(exp, model, axes, t_eval, keep, metric_vars)
    samples, sampling_seed = _samples(exp, model, axes)
    population, population_seed = _population(exp, model)
    seeds = {k: v for k, v in (("sampling", sampling_seed), ("population", population_seed))
             if v is not None}
    s = cfg.solver
    try:
        plan = plan_sweep(model, t_eval, axes=axes, mode=cfg.sweep.mode if cfg.sweep else
                          "product", regimen=regimen, params=cfg.model.params,
                          scenarios=cfg.model.scenarios, samples=samples,
                          population=population, keep=keep, method=s.method, rtol=s.rtol,
                          atol=s.atol, max_steps=s.max_steps, attrs=_provenance(exp, seeds))
    except LdnsimError as exc:
        raise ConfigError(" ".join(f"{exp.where}: {exc}".split())) from None
    resolved = replace(exp, model=model, plan=plan, metric_vars=metric_vars, seeds=seeds)
    rehearse(resolved)  # the steps after solving, on a one-row stand-in: fail now, not then
    _check_model_code(exp, model, generate=True)
    return resolved
