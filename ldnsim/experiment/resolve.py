"""Resolving a validated experiment against its model into a sweep plan.

Each step checks one part of the file against the model and returns a small value; every
problem is one :class:`~ldnsim.errors.ConfigError` naming the file, the section and the key.
"""
from __future__ import annotations

import hashlib
import json
import math
import warnings
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

    def stored_variables(self) -> tuple:
        """The variables whose trajectories the result stores (none for a metrics-only run;
        the plan may solve more, for the metrics)."""
        cfg = self.config
        if not cfg.output.trajectories or self.plan is None:
            return ()
        model = self.plan.model
        return tuple(cfg.output.variables or model.output_names or model.state_names)

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
        stored = self.stored_variables()
        solved_only = [v for v in self.plan.keep if v not in stored]
        for line in self.plan.describe().splitlines():
            if line.startswith("variables:"):  # what the result file will hold
                line = (f"variables:  {', '.join(stored) or 'none (metrics only)'}"
                        + (f"; solved for the metrics only, not stored: "
                           f"{', '.join(solved_only)}" if solved_only else ""))
            lines.append(line)
        seeds = self.seeds or {}
        if cfg.population is not None:
            names = ", ".join(cfg.population.iiv_names()) or "none"
            lines.append(f"population: {cfg.population.subjects} subjects, IIV on {names}, "
                         f"seed {seeds.get('population')}")
            covs = [f"{n} ({c.distribution})" for n, c in cfg.population.covariates.items()]
            covs += [f"{n} (time-varying)" for n in cfg.population.time_varying]
            if covs:
                lines.append(f"covariates: {', '.join(covs)}")
        if cfg.sampling is not None:
            lines.append(f"sampling:   {cfg.sampling.method}, n = {cfg.sampling.n}, seed "
                         f"{seeds.get('sampling')}")
        if cfg.uncertainty is not None:
            u = cfg.uncertainty
            lines.append(f"uncertainty: {u.draws} draws from {', '.join(u.fits)} ({u.source}, "
                         f"{u.with_sampling} with samples, subjects {u.subjects}), seed "
                         f"{seeds.get('uncertainty')}")
        if cfg.metrics is not None:
            lines.append(f"metrics:    {', '.join(cfg.metrics.names)}"
                         + ("" if cfg.output.trajectories else " (metrics only, no trajectories)"))
        if cfg.observation is not None:
            lines.append("observation: " + ", ".join(
                f"{e.variable}_obs {e.describe()}" for e in cfg.observation.errors())
                + f", seed {seeds.get('observation')}")
        if cfg.sensitivity is not None:
            sa = cfg.sensitivity
            n_par = len(sa.ranges) + len(sa.normal) + len(sa.lognormal)
            lines.append(f"sensitivity: {sa.method}, n = {sa.n}, {n_par} parameters, "
                         f"seed {seeds.get('sampling')}, outputs {', '.join(sa.outputs)}")
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


def _check_size(exp, model, axes, t_eval, keep, metric_vars, table_subjects=0):
    """The run's memory, by arithmetic, before the design or the population is drawn."""
    cfg = exp.config
    sizes = [len(v) for v in axes.values()]
    rows = (max(sizes) if cfg.sweep is not None and cfg.sweep.mode == "zip" and sizes
            else math.prod(sizes))
    subjects = cfg.population.subjects if cfg.population is not None else table_subjects
    rows *= (cfg.sampling.n if cfg.sampling is not None else 1) * max(subjects, 1)
    u = cfg.uncertainty
    if u is not None and (cfg.sampling is None or u.with_sampling == "product"):
        rows *= u.draws  # [uncertainty] adds a 'draw' dim (zipped with samples: no more rows)
    try:
        check_run_size(rows, t_eval.size, len(keep), n_states=len(model.states),
                       n_outputs=len(model.outputs),
                       n_params=len(model.parameter_names) + len(model.input_names),
                       n_dims=len(axes) + 2, n_subjects=subjects,
                       n_metric_reads=len(metric_vars) if cfg.metrics is not None else 0,
                       trajectories=cfg.output.trajectories)
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
    values = {"dose": cfg.sweep.dose, "scenario": cfg.sweep.scenario,
              "regimen": cfg.sweep.regimen, "dose_time": cfg.sweep.dose_time, **extra}
    return {key: values[key] for key in order + [k for k in values if k not in order]
            if values.get(key) is not None}


def _samples(exp, model, axes):
    """``(samples or None, seed or None)`` from ``[sampling]`` (or ``[sensitivity]``)."""
    if exp.config.sensitivity is not None:
        return _sensitivity_samples(exp, model, axes)
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


# --- [sensitivity]: the design's parameter samples, and outputs that the metrics produce ----
def _sensitivity_samples(exp, model, axes):
    """``(samples, seed)``: the SALib design of ``[sensitivity]`` (Sobol or Morris)."""
    from ldnsim.sensitivity.design import sensitivity_design

    s = exp.config.sensitivity
    for table in ("ranges", "normal", "lognormal"):
        names = list(getattr(s, table))
        _check_names(exp, names, list(model.parameter_names),
                     lambda n, i, t=table: ("sensitivity", t, n), "parameter", model)
        for n in names:
            if n in axes:
                raise fail(exp.where, ("sensitivity", table, n), f"{n!r} is also a sweep "
                           "axis; a parameter is either swept or analysed")
    try:
        design = sensitivity_design(s.method, s.n, s.ranges, log=s.log_names(), seed=s.seed,
                                    second_order=s.second_order, levels=s.levels,
                                    normal=s.normal, lognormal=s.lognormal)
    except ConfigError as exc:
        raise fail(exp.where, ("sensitivity",), str(exc)) from None
    return design.samples, design.seed


def _check_sensitivity_outputs(exp):
    from ldnsim.sensitivity.analysis import DERIVED_OUTPUTS

    s, m = exp.config.sensitivity, exp.config.metrics
    if s is None or m is None:
        return
    known = [o for name in m.names
             for o in METRICS[name].outputs(METRICS[name].bind(m.options().get(name)))]
    # lowest/highest_dose_in_window are derived from in_window over a dose axis
    window = "in_window" in known and exp.config.sweep is not None \
        and exp.config.sweep.dose is not None
    derived = list(DERIVED_OUTPUTS) if window else []
    for i, out in enumerate(s.outputs):
        if out in DERIVED_OUTPUTS and not window:
            raise fail(exp.where, ("sensitivity", "outputs", i),
                       f"{out!r} needs the window metric (window_summary: in_window) and a "
                       "[sweep] dose axis")
        if out not in known and out not in derived:
            raise fail(exp.where, ("sensitivity", "outputs", i),
                       f"{out!r} is not an output of the metrics {list(m.names)}"
                       f"{suggest(out, known + derived)}; outputs: "
                       f"{', '.join(known + derived)}")


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
    covariates = []
    for cname, cov in p.covariates.items():
        try:
            if cov.file is not None:
                levels, probs = _column_levels(exp, cname, cov)
                covariates.append(cov.covariate(cname, levels, probs))
            else:
                covariates.append(cov.covariate(cname))
        except ConfigError as exc:
            raise fail(exp.where, ("population", "covariates", cname), str(exc)) from None
    time_varying = []
    for cname, tv in p.time_varying.items():
        _check_names(exp, list(tv.effects), pnames, lambda n, i, c=cname: (
            "population", "time_varying", c, "effects", n), "parameter", model)
        if tv.sets is not None:
            _check_names(exp, [tv.sets], pnames + list(model.input_names), lambda n, i, c=cname:
                         ("population", "time_varying", c, "sets"), "parameter or input", model)
        if cname in p.covariates:
            raise fail(exp.where, ("population", "time_varying", cname), f"{cname!r} is also "
                       "a static covariate; give each covariate one name")
        try:
            rows = _schedule_rows(exp, cname, tv) if tv.file is not None else None
            time_varying.append(tv.covariate(cname, rows))
        except ConfigError as exc:
            raise fail(exp.where, ("population", "time_varying", cname), str(exc)) from None
    seed = p.seed if p.seed is not None else fresh_seed()
    try:
        population = Population(p.subjects, p.iiv_names(), p.omega(), seed=seed,
                                covariates=covariates, time_varying=time_varying)
    except ConfigError as exc:
        raise fail(exp.where, ("population",), str(exc)) from None
    return population, seed


def _csv_rows(exp, name):
    import csv

    base = exp.path.parent if exp.path is not None else Path.cwd()
    path = Path(name).expanduser()
    path = path if path.is_absolute() else base / path
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            return path, list(csv.DictReader(fh))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ConfigError(f"file: cannot read {path} ({exc})") from None


def _schedule_rows(exp, cname, tv):
    """``(ids, times, values)`` of a per-subject schedule file (rows with a value only)."""
    path, rows = _csv_rows(exp, tv.file)
    column = tv.column or cname
    for key, col in (("id", tv.id), ("time", tv.time), ("column", column)):
        if not rows or col not in rows[0]:
            known = ", ".join(rows[0]) if rows else "none (the file has no data rows)"
            raise ConfigError(f"{key}: {path.name} has no column {col!r}; columns: {known}")
    ids, times, values = [], [], []
    for i, r in enumerate(rows, start=2):
        cell = (r.get(column) or "").strip()
        if not cell or cell == ".":
            continue
        try:
            times.append(float(r[tv.time]))
            values.append(float(cell))
        except ValueError:
            raise ConfigError(f"file: {path.name} line {i}: {tv.time} and {column} must be "
                              f"numbers, got {r[tv.time]!r} and {cell!r}") from None
        ids.append((r.get(tv.id) or "").strip())
    if not ids:
        raise ConfigError(f"column: {column!r} of {path.name} has no values")
    return ids, times, values


def _column_levels(exp, cname, cov):
    """Levels (sorted) and their frequencies in column ``cov.column`` of CSV ``cov.file``."""
    path, rows = _csv_rows(exp, cov.file)
    if not rows or cov.column not in rows[0]:
        known = ", ".join(rows[0]) if rows else "none (the file has no data rows)"
        raise ConfigError(f"column: {path.name} has no column {cov.column!r}; columns: {known}")
    values = [(r.get(cov.column) or "").strip() for r in rows]
    values = [v for v in values if v and v != "."]
    if not values:
        raise ConfigError(f"column: {cov.column!r} of {path.name} has no values")
    levels = sorted(set(values))
    return levels, [values.count(v) / len(values) for v in levels]


def _fit_path(exp, name, i):
    base = exp.path.parent if exp.path is not None else Path.cwd()
    path = Path(name).expanduser()
    path = path if path.is_absolute() else base / path
    if not path.is_file():
        raise fail(exp.where, ("uncertainty", "from", i), f"no fit file at {path} (paths are "
                   "relative to the experiment file; write one with ldnsim fit -o or "
                   "ldnsim.estimation.save_fit)")
    return path


def _open_fit(exp, path, i, model):
    """The fit at ``path`` and the names of its model parameters, checked against ``model``."""
    from ldnsim.estimation.draws import open_fit
    from ldnsim.model.compiled import structure_key
    from ldnsim.results import provenance

    try:
        fit = open_fit(path)
    except LdnsimError as exc:
        raise fail(exp.where, ("uncertainty", "from", i), str(exc)) from None
    except (OSError, ValueError) as exc:  # not NetCDF at all
        raise fail(exp.where, ("uncertainty", "from", i), f"{path}: not an ldnsim fit result "
                   f"({type(exc).__name__}: {exc})") from None
    attrs = provenance(fit)
    if attrs.get("model") != model.name:
        raise fail(exp.where, ("uncertainty", "from", i), f"{path} is a fit of model "
                   f"{attrs.get('model')!r}, not of this experiment's model {model.name!r}")
    structure = attrs.get("model_structure")
    changed = (structure != structure_key(model) if structure else
               attrs.get("model_hash") != model.hash)
    if changed:
        warnings.warn(f"{exp.where}: [uncertainty] {path.name} was fitted with a different "
                      f"version of model {model.name!r} (its equations or file changed since)",
                      UserWarning, stacklevel=4)
    kinds = np.asarray(fit["kind"].values).astype(str)
    names = [str(p) for p, k in zip(fit["parameter"].values, kinds) if k == "model"]
    unknown = [n for n in names if n not in model.parameter_names]
    if unknown:
        raise fail(exp.where, ("uncertainty", "from", i), f"{path} fitted "
                   f"{', '.join(map(repr, unknown))}, which model {model.name!r} does not have")
    return fit, names


def _drawn_elsewhere(exp, model, names, axes):
    """A drawn parameter may not also be set by [model] params, a sweep axis, [sampling] or a
    scenario (which value should win is a modelling decision, so it is an error)."""
    cfg = exp.config
    sampled = set(cfg.sampling.ranges) if cfg.sampling is not None else set()
    axis = (cfg.sweep.scenario or []) if cfg.sweep is not None else []
    combos = [list(cfg.model.scenarios)] + [list(cfg.model.scenarios) + list(c) for c in axis]
    for n in names:
        where = ("[model] params" if n in cfg.model.params else
                 "a sweep axis" if n in axes else "[sampling] ranges" if n in sampled else None)
        if where is None:
            hit = next((sc for combo in combos for sc in combo
                        if n in model.scenarios[sc].values), None)
            where = f"scenario {hit!r}" if hit else None
        if where:
            raise fail(exp.where, ("uncertainty",), f"parameter {n!r} is drawn from a fit and "
                       f"also set by {where}; a parameter is either drawn or set (remove it "
                       "there, or leave it out with uncertainty.parameters)")


def _uncertainty(exp, model, axes):
    """``(draws {parameter: (n,) values} or None, provenance or None)`` from
    ``[uncertainty]``: every fit drawn with its own seed from one SeedSequence."""
    from ldnsim.estimation.draws import draw_parameters

    u = exp.config.uncertainty
    if u is None:
        return None, None
    seed = u.seed if u.seed is not None else fresh_seed()
    children = np.random.SeedSequence(seed).spawn(len(u.fits))
    wanted = None if u.parameters is None else list(u.parameters)
    draws, info, seen = {}, [], {}
    for i, name in enumerate(u.fits):
        path = _fit_path(exp, name, i)
        fit, names = _open_fit(exp, path, i, model)
        take = names if wanted is None else [n for n in names if n in wanted]
        for n in take:
            if n in seen:
                raise fail(exp.where, ("uncertainty", "from", i), f"parameter {n!r} is fitted "
                           f"in both {seen[n]} and {path.name}; draw each parameter from one fit")
            seen[n] = path.name
        fit_seed = int(children[i].generate_state(1)[0])
        try:
            da = draw_parameters(fit, u.draws, seed=fit_seed, source=u.source)
        except LdnsimError as exc:
            raise fail(exp.where, ("uncertainty", "from", i), f"{path.name}: {exc}") from None
        draws.update({n: np.asarray(da.sel(parameter=n).values, dtype=float) for n in take})
        info.append({"path": str(path), "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
                     "source": str(da.attrs["source"]), "seed": fit_seed, "parameters": take})
    if wanted is not None:
        missing = [n for n in wanted if n not in seen]
        if missing:
            raise fail(exp.where, ("uncertainty", "parameters"), f"{', '.join(map(repr, missing))}"
                       f" {'is' if len(missing) == 1 else 'are'} not fitted in "
                       f"{', '.join(u.fits)}")
    _drawn_elsewhere(exp, model, list(draws), axes)
    return draws, {"draws": u.draws, "seed": seed, "source": u.source,
                   "with_sampling": u.with_sampling, "subjects": u.subjects, "fits": info}


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
    if not exp.config.output.trajectories:  # metrics only: solve for what they read
        return list(metric_vars)
    variables = exp.config.output.variables
    if variables is not None:
        _check_names(exp, variables, list(model.state_names) + list(model.output_names),
                     lambda n, i: ("output", "variables", i), "variable", model)
    keep = list(variables or (model.output_names or model.state_names))
    return keep + [v for v in metric_vars if v not in keep]


def _observation_seed(exp, kept):
    """The seed of ``[observation]`` (fresh entropy when not given), its variables checked."""
    obs = exp.config.observation
    if obs is None:
        return None
    for name in obs.errors():
        if name.variable not in kept:
            raise fail(exp.where, ("observation", name.variable),
                       f"{name.variable!r} is not a stored variable{suggest(name.variable, kept)}"
                       f"; [output] variables: {', '.join(kept)}")
    return obs.seed if obs.seed is not None else fresh_seed()


@dataclass(frozen=True)
class _Dosing:
    """What ``[regimen]``/``[[regimen]]`` resolve to (see :func:`ldnsim.sweep.plan_sweep`)."""

    regimen: Regimen | None = None
    regimens: dict | None = None          # named regimens (the regimen axis)
    subject_regimens: list | None = None  # per subject, from a dosing event table
    ids: tuple = ()                       # the event table's IDs, in order


def _regimen_parts(exp, i):
    return ("regimen", i) if isinstance(exp.config.regimen, list) else ("regimen",)


def _dose_of(exp, model, r, i):
    day = _day_length(exp, model, _regimen_parts(exp, i) + ("days",), r.days)
    try:
        dose = Dose(r.dose if r.dose is not None else 0.0, time=r.start, target=r.target,
                    every=r.every, count=r.count or 1, duration=r.duration, lag=r.lag,
                    bioavailability=r.bioavailability,
                    until=None if r.days is None else r.start + r.days * day, ss=r.ss,
                    missed=tuple(r.missed) if isinstance(r.missed, list) else r.missed)
        _check_regimen(model, Regimen((dose,)))
    except RegimenError as exc:
        raise fail(exp.where, _regimen_parts(exp, i), str(exc)) from None
    return dose


def _check_regimen(model, regimen):
    """Binds targets and parameter names now, so a typo is reported as a config error."""
    if regimen.missed_fraction:
        regimen = regimen.draw_missed(np.random.default_rng(0))
    regimen.expand(model, params=model.parameter_vector(),
                   steady_state=np.zeros(len(model.state_names)))


def _regimen(exp, model) -> _Dosing:
    entries = exp.config.regimen_entries()
    if not entries:
        return _Dosing()
    shared: list = []
    named: dict = {}
    table = None
    for i, r in enumerate(entries):
        if r.table is not None:
            table = _event_table_file(exp, model, r, i)
            continue
        dose = _dose_of(exp, model, r, i)
        if r.name is None:
            shared.append(dose)
        else:
            named.setdefault(r.name, []).append(dose)
    try:
        regimens = {n: Regimen(tuple(shared) + tuple(d)) for n, d in named.items()} or None
        regimen = None if regimens else Regimen(tuple(shared))
    except RegimenError as exc:
        raise fail(exp.where, ("regimen",), str(exc)) from None
    if table is None:
        return _Dosing(regimen, regimens)
    ids, subject = table
    return _Dosing(regimen, regimens, subject, ids)


def _event_table_file(exp, model, r, i):
    """``(IDs, a Regimen per ID)`` of a NONMEM-style dosing event table."""
    from ldnsim.dataset import read_dosing_table

    base = exp.path.parent if exp.path is not None else Path.cwd()
    path = Path(r.table).expanduser()
    path = path if path.is_absolute() else base / path
    try:
        table = read_dosing_table(path, model)
    except LdnsimError as exc:
        raise fail(exp.where, _regimen_parts(exp, i) + ("table",), str(exc)) from None
    return tuple(table), [table[k] for k in table]


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
    for i, r in enumerate(exp.config.regimen_entries()):
        if r.table is not None:
            continue
        lag = r.lag if isinstance(r.lag, float) else 0.0
        if r.start + lag < t_eval[0]:
            raise fail(exp.where, _regimen_parts(exp, i) + ("start",), f"the first dose "
                       f"(start + lag = {r.start + lag:g}) lies before the first output time "
                       f"({t_eval[0]:g}); start the output at or before the first dose")


def _provenance(exp, seeds) -> dict:
    cfg = exp.config
    attrs = {
        "experiment_name": exp.name, "experiment_description": cfg.experiment.description,
        "experiment_path": str(exp.path or ""),
        "experiment": exp.text if exp.text is not None else json.dumps(
            exp.raw, sort_keys=False, default=str),
        "experiment_config": cfg.model_dump(mode="json"),
        "population_seed": seeds.get("population"), "sampling_seed": seeds.get("sampling"),
        "observation_seed": seeds.get("observation"),
        "uncertainty": seeds.get("uncertainty_info"),
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
    _check_sensitivity_outputs(exp)
    keep = _kept_variables(exp, model, metric_vars)
    dosing = _regimen(exp, model)
    t_eval = output_times(exp, model)
    _check_first_dose(exp, t_eval)
    _check_size(exp, model, axes, t_eval, keep, metric_vars, len(dosing.ids))
    samples, sampling_seed = _samples(exp, model, axes)
    population, population_seed = _population(exp, model)
    draws, uncertainty = _uncertainty(exp, model, axes)
    stored = list(cfg.output.variables or model.output_names or model.state_names)
    observation_seed = _observation_seed(exp, stored)
    seeds = {k: v for k, v in (("sampling", sampling_seed), ("population", population_seed),
                               ("observation", observation_seed),
                               ("uncertainty", uncertainty and uncertainty["seed"]))
             if v is not None}
    u = cfg.uncertainty
    s = cfg.solver
    try:
        plan = plan_sweep(model, t_eval, axes=axes, mode=cfg.sweep.mode if cfg.sweep else
                          "product", regimen=dosing.regimen, params=cfg.model.params,
                          scenarios=cfg.model.scenarios, samples=samples,
                          population=population, keep=keep, method=s.method, rtol=s.rtol,
                          atol=s.atol, max_steps=s.max_steps,
                          attrs=_provenance(exp, {**seeds, "uncertainty_info": uncertainty}),
                          check_size=cfg.output.trajectories,
                          draws=draws, draw_mode=u.with_sampling if u else "product",
                          draw_subjects=u.subjects if u else "shared",
                          regimens=dosing.regimens, subject_regimens=dosing.subject_regimens)
        if dosing.ids:
            plan.coords["id"] = ("subject", np.array(dosing.ids), {
                "long_name": "ID in the dosing event table"})
    except LdnsimError as exc:
        raise ConfigError(" ".join(f"{exp.where}: {exc}".split())) from None
    resolved = replace(exp, model=model, plan=plan, metric_vars=metric_vars, seeds=seeds)
    rehearse(resolved)  # the steps after solving, on a one-row stand-in: fail now, not then
    _check_model_code(exp, model, generate=True)
    return resolved
