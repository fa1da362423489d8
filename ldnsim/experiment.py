"""Experiment files: a TOML description of a sweep, validated on load, run to a Dataset.

An experiment names a model, a dosing regimen, output times, solver settings and what to vary::

    [experiment]
    name = "pk_single_dose"
    description = "Single oral doses of naltrexone"

    [model]
    name = "one_compartment_oral"    # a shipped model, or a path relative to this file
    scenarios = []                   # applied to every row, in order
    params = { CL = 210.0 }          # applied after the scenarios

    [regimen]                        # one line of a prescription (see ldnsim.dosing.Dose)
    dose = 50.0                      # amount per administration (unit of the dosed state)
    every = 24.0                     # interval, model time unit (h for every shipped model)
    count = 1                        # or days = 56 (administrations strictly before start+days)
    start = 0.0
    duration = 0.0                   # > 0: zero-order infusion over this time
    target = "gut"                   # default: the model's dose_target
    lag = 0.0
    bioavailability = 1.0

    [output]
    t_end = 48.0                     # or days = 2, or times = [0, 0.5, 1, ...]
    step = 0.25                      # output spacing (default: 500 intervals)
    # dense_from = 1176.0            # optional: outputs every coarse_step before this time,
    # coarse_step = 24.0             #   every step after it (long runs, metrics on the end)
    variables = ["C_plasma"]         # stored variables (default: every model output)

    [solver]
    method = "rodas5p"               # or "dopri5"
    rtol = 1e-6
    atol = 1e-9
    max_steps = 100000

    [sweep]                          # one dim per axis, in file order
    dose = [0.5, 4.5, 50]            # replaces the regimen's dose
    scenario = [["pharmaceutical", "human_pet"], ["racemic", "human_pet"]]  # label: joined by '+'
    CL = [150.0, 210.0]              # any model parameter
    mode = "product"                 # or "zip": the axes zipped into one dim "case"

    [sampling]                       # one more dim "sample": points in parameter space
    method = "lhs"                   # or "random"
    n = 64
    seed = 1
    ranges = { CL = [100.0, 300.0], V = [800.0, 2000.0] }
    log = true                       # log-uniform (all ranges)

    [population]                     # one more dim "subject": log-normal IIV
    subjects = 100
    seed = 2024                      # omitted: fresh entropy, recorded in the result
    iiv = { CL = 0.3, V = 0.2 }      # per parameter, read by iiv_scale
    iiv_scale = "cv"                 # "cv" (omega^2 = log(1 + CV^2)), "sd" (of eta), "variance"
    correlation = [[1.0, 0.5], [0.5, 1.0]]   # over the iiv parameters in the order written
    # or: parameters = ["CL", "V"] with covariance = [[0.09, 0.02], [0.02, 0.04]] (omega)
    [population.covariates.WT]       # optional; power model (WT / reference) ** exponent
    distribution = "lognormal"       # median, cv | "normal": mean, sd, lower, upper | "uniform"
    median = 70.0
    cv = 0.2
    unit = "kg"
    effects = { CL = 0.75, V = 1.0 }

    [metrics]
    names = ["nca"]                  # keys of ldnsim.metrics.METRICS
    [metrics.nca]                    # keyword options of one metric
    var = "C_plasma"

Every section is validated on load (pydantic, unknown keys rejected); every problem is one
:class:`~ldnsim.errors.ConfigError` naming the file, the key and what was expected. Names that
depend on the model (parameters, scenarios, variables, metric inputs) are checked against it when
the experiment is resolved, which :func:`load_experiment` does by default.

Results
-------
:func:`run_experiment` returns one ``xarray.Dataset``: the kept variables over
``(*sweep dims, "time")``, ``status``, and the **metrics merged in as variables prefixed**
``metric_`` (``metric_Cmax``, ``metric_in_window``...; a metric reduces ``time`` and sometimes
``subject``, so these variables have fewer dims). One file thus holds a run and its summary, and
model variables can never collide with metric names. :func:`metrics_of` gives the metrics back as
a Dataset with their own names and attributes, ready for ``ldnsim.plot.plot_window``.
Provenance (experiment text, normalised config, model hash, seeds, versions) is in ``attrs``.
"""
from __future__ import annotations

import difflib
import inspect
import json
import math
import os
import re
import tomllib
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import (BaseModel, BeforeValidator, ConfigDict, Field, ValidationError,
                      field_validator, model_validator)

from .errors import ConfigError, LdnsimError

__all__ = ["load_experiment", "run_experiment", "Experiment", "ExperimentConfig",
           "metrics_of", "list_experiments", "METRIC_PREFIX"]

#: Prefix of metric variables merged into a result.
METRIC_PREFIX = "metric_"
#: Experiment files are hand-written; anything bigger is a mistake.
MAX_FILE_BYTES = 1_000_000
_BARE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_\-]*\Z")
#: Model time units -> time units per day (for ``days =``).
_PER_DAY = {"h": 24.0, "hr": 24.0, "hour": 24.0, "min": 1440.0, "s": 86400.0, "d": 1.0,
            "day": 1.0}


# ---------------------------------------------------------------------------------- schema
class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, frozen=True)


Name = Annotated[str, Field(min_length=1)]
Positive = Annotated[float, Field(gt=0)]
NonNeg = Annotated[float, Field(ge=0)]


def _as_combo(value):
    return [value] if isinstance(value, str) else value


class ExperimentSection(_Section):
    name: Name | None = None
    description: str = ""


class ModelSection(_Section):
    name: Name
    scenarios: list[Name] = []
    params: dict[str, float] = {}


class RegimenSection(_Section):
    dose: NonNeg | None = None
    every: Positive | None = None
    count: Annotated[int, Field(ge=1, le=1_000_000)] | None = None
    days: Positive | None = None
    start: float = 0.0
    duration: NonNeg = 0.0
    target: Name | None = None
    lag: NonNeg = 0.0
    bioavailability: Annotated[float, Field(gt=0, le=1)] = 1.0

    @model_validator(mode="after")
    def _schedule(self):
        if self.count is not None and self.days is not None:
            raise ValueError("give count or days, not both")
        if self.every is None and (self.days is not None or (self.count or 1) > 1):
            raise ValueError("count > 1 or days needs every (the dosing interval)")
        return self


class OutputSection(_Section):
    t_start: float = 0.0
    t_end: Positive | None = None
    days: Positive | None = None
    step: Positive | None = None
    dense_from: float | None = None
    coarse_step: Positive | None = None
    times: Annotated[list[float], Field(min_length=1)] | None = None
    variables: Annotated[list[Name], Field(min_length=1)] | None = None

    @model_validator(mode="after")
    def _grid(self):
        if self.times is not None:
            if (self.t_end is not None or self.days is not None or self.step is not None
                    or self.dense_from is not None or self.coarse_step is not None):
                raise ValueError("give times, or t_end/days with step, not both")
            if any(b <= a for a, b in zip(self.times, self.times[1:])):
                raise ValueError("times must be strictly increasing")
            return self
        if (self.t_end is None) == (self.days is None):
            raise ValueError("give exactly one of t_end or days (or an explicit times list)")
        if self.t_end is not None and not self.t_end > self.t_start:
            raise ValueError(f"t_end ({self.t_end:g}) must be later than t_start "
                             f"({self.t_start:g})")
        if (self.dense_from is None) != (self.coarse_step is None):
            raise ValueError("dense_from and coarse_step go together: outputs every "
                             "coarse_step until dense_from, then every step")
        if self.dense_from is not None and not self.dense_from > self.t_start:
            raise ValueError(f"dense_from ({self.dense_from:g}) must be later than t_start "
                             f"({self.t_start:g})")
        return self


class SolverSection(_Section):
    method: Name = "rodas5p"
    rtol: Annotated[float, Field(gt=0, lt=1)] = 1e-6
    atol: Positive = 1e-9
    max_steps: Annotated[int, Field(ge=1)] = 100_000

    @field_validator("method")
    @classmethod
    def _method(cls, value):
        from .solver import METHODS
        if value not in METHODS:
            raise ValueError(f"unknown method {value!r}; choose one of "
                             f"{', '.join(sorted(METHODS))}")
        return value


class SweepSection(_Section):
    """``dose``, ``scenario``, ``mode``; every other key is a parameter axis."""

    model_config = ConfigDict(extra="allow", strict=True, allow_inf_nan=False, frozen=True)
    __pydantic_extra__: dict[str, Annotated[list[float], Field(min_length=1)]]

    mode: Literal["product", "zip"] = "product"
    dose: Annotated[list[NonNeg], Field(min_length=1)] | None = None
    scenario: Annotated[list[Annotated[list[Name], BeforeValidator(_as_combo)]],
                        Field(min_length=1)] | None = None


class SamplingSection(_Section):
    method: Literal["random", "lhs"] = "lhs"
    n: Annotated[int, Field(ge=1, le=10_000_000)]
    seed: Annotated[int, Field(ge=0)] | None = None
    ranges: Annotated[dict[str, Annotated[list[float], Field(min_length=2, max_length=2)]],
                      Field(min_length=1)]
    log: bool = False

    @model_validator(mode="after")
    def _bounds(self):
        for name, (lo, hi) in self.ranges.items():
            if not lo < hi:
                raise ValueError(f"ranges.{_key(name)}: lower ({lo:g}) must be < upper ({hi:g})")
            if self.log and lo <= 0:
                raise ValueError(f"ranges.{_key(name)}: log sampling needs a lower bound > 0, "
                                 f"got {lo:g}")
        return self


class CovariateSection(_Section):
    distribution: Literal["lognormal", "normal", "uniform"] = "lognormal"
    median: float | None = None
    cv: float | None = None
    mean: float | None = None
    sd: float | None = None
    lower: float | None = None
    upper: float | None = None
    reference: float | None = None
    unit: str = ""
    effects: dict[str, float] = {}

    def covariate(self, name):
        from .population import Covariate
        return Covariate(name=name, **self.model_dump())

    @model_validator(mode="after")
    def _check(self):
        try:
            self.covariate("covariate")
        except ConfigError as exc:
            raise ValueError(str(exc).replace("covariate 'covariate': ", "")) from None
        return self


class PopulationSection(_Section):
    subjects: Annotated[int, Field(ge=1, le=10_000_000)] = 100
    seed: Annotated[int, Field(ge=0)] | None = None
    iiv: dict[str, NonNeg] = {}
    iiv_scale: Literal["cv", "sd", "variance"] = "cv"
    correlation: list[list[float]] | None = None
    parameters: list[Name] | None = None
    covariance: list[list[float]] | None = None
    covariates: dict[str, CovariateSection] = {}

    @model_validator(mode="after")
    def _omega(self):
        if self.covariance is not None:
            if self.iiv or self.correlation is not None:
                raise ValueError("give iiv (with an optional correlation) or parameters with "
                                 "covariance, not both")
            if self.parameters is None:
                raise ValueError("covariance needs parameters = [...] naming its rows")
        elif self.parameters is not None:
            raise ValueError("parameters = [...] only goes with covariance; for per-parameter "
                             "variability use iiv = { name = value }")
        if self.correlation is not None and not self.iiv:
            raise ValueError("correlation needs iiv = { name = value, ... } (its rows follow "
                             "the order of iiv)")
        try:
            self.omega()
        except ConfigError as exc:
            key = ("covariance" if self.covariance is not None else
                   "correlation" if self.correlation is not None else "iiv")
            raise ValueError(f"{key}: {exc}") from None
        return self

    def iiv_names(self):
        return list(self.parameters) if self.covariance is not None else list(self.iiv)

    def omega(self):
        from .population import _factor, omega_from_iiv
        if self.covariance is not None:
            om = np.asarray(self.covariance, dtype=float)
            k = len(self.parameters)
            if om.shape != (k, k):
                raise ConfigError(f"covariance must be {k} x {k} (one row per name in "
                                  f"parameters), got shape {om.shape}")
            _factor(om)
            return om
        corr = None if self.correlation is None else np.asarray(self.correlation, dtype=float)
        if corr is not None and corr.ndim != 2:
            raise ConfigError("correlation must be a square matrix (a list of rows of equal "
                              "length)")
        om = omega_from_iiv(list(self.iiv.values()), self.iiv_scale, corr)
        _factor(om)
        return om


class MetricsSection(_Section):
    """``names``; every other key is a table of options for one metric."""

    model_config = ConfigDict(extra="allow", strict=True, allow_inf_nan=False, frozen=True)
    __pydantic_extra__: dict[str, dict[str, Any]]

    names: Annotated[list[Name], Field(min_length=1)]

    @model_validator(mode="after")
    def _known(self):
        from .metrics import METRICS
        options = self.options()
        for name in list(self.names) + list(options):
            if name not in METRICS:
                raise ValueError(f"unknown metric {name!r}{_suggest(name, METRICS)}; known "
                                 f"metrics: {', '.join(METRICS)}")
        for name, opts in options.items():
            if name not in self.names:
                raise ValueError(f"options are given for metric {name!r}, which is not in "
                                 f"names; add it to names or remove [metrics.{name}]")
            params = [p for p in inspect.signature(METRICS[name]).parameters if p != "ds"]
            for key in opts:
                if key not in params:
                    raise ValueError(f"unknown option {key!r} for metric {name!r}"
                                     f"{_suggest(key, params)}; accepted options: "
                                     f"{', '.join(params)}")
        return self

    def options(self) -> dict:
        return dict(self.__pydantic_extra__ or {})


class ExperimentConfig(_Section):
    """The whole experiment file (see the module docstring)."""

    experiment: ExperimentSection = ExperimentSection()
    model: ModelSection
    regimen: RegimenSection | None = None
    output: OutputSection
    solver: SolverSection = SolverSection()
    sweep: SweepSection | None = None
    sampling: SamplingSection | None = None
    population: PopulationSection | None = None
    metrics: MetricsSection | None = None

    @model_validator(mode="after")
    def _consistent(self):
        swept = self.sweep is not None and self.sweep.dose is not None
        if swept and self.regimen is None:
            raise ValueError("sweep.dose needs a [regimen] section (each dose replaces its "
                             "dose)")
        if self.regimen is not None and self.regimen.dose is None and not swept:
            raise ValueError("regimen.dose is missing (give it, or sweep over dose)")
        return self


_SECTIONS = {
    (): ExperimentConfig, ("experiment",): ExperimentSection, ("model",): ModelSection,
    ("regimen",): RegimenSection, ("output",): OutputSection, ("solver",): SolverSection,
    ("sweep",): SweepSection, ("sampling",): SamplingSection,
    ("population",): PopulationSection, ("population", "covariates", "*"): CovariateSection,
    ("metrics",): MetricsSection,
}


# ---------------------------------------------------------------------------- error messages
def _suggest(word, options):
    near = difflib.get_close_matches(str(word), [str(o) for o in options], n=1)
    return f" (did you mean {near[0]!r}?)" if near else ""


def _key_path(loc, raw, last_is_key):
    """The parts of a pydantic ``loc`` that are real keys or indexes of the input."""
    parts, cur = [], raw
    for i, p in enumerate(loc):
        if isinstance(cur, Mapping) and p in cur:
            parts.append(p)
            cur = cur[p]
        elif isinstance(cur, (list, tuple)) and isinstance(p, int) and 0 <= p < len(cur):
            parts.append(p)
            cur = cur[p]
        elif last_is_key and i == len(loc) - 1 and isinstance(p, str):
            parts.append(p)  # a missing key
        # else: a union/validator tag in the location, not part of the user's file
    return parts


_PLAIN_KEY = re.compile(r"[A-Za-z0-9_\-]+\Z")


def _key(part):
    """A key as TOML would write it: bare when it can be, quoted otherwise (one line always)."""
    text = str(part)
    return text if _PLAIN_KEY.match(text) else json.dumps(text)


def _key_text(parts):
    """``("sweep", "dose", 2)`` -> ``"[sweep] dose[2]"``; ``()`` -> ``"(top level)"``."""
    if not parts:
        return "(top level)"
    head, rest = f"[{_key(parts[0])}]", ""
    for p in parts[1:]:
        rest += f"[{p}]" if isinstance(p, int) else (f".{_key(p)}" if rest else _key(p))
    return f"{head} {rest}" if rest else head


def _one_line(text):
    return " ".join(str(text).splitlines())


_EXPECTED = {
    "float_type": "a number", "float_parsing": "a number", "int_type": "an integer",
    "int_from_float": "an integer", "int_parsing": "an integer", "string_type": "a string",
    "bool_type": "true or false", "list_type": "a list [...]",
    "dict_type": "a table { key = value, ... }", "model_type": "a table { key = value, ... }",
    "model_attributes_type": "a table { key = value, ... }",
    "finite_number": "a finite number", "string_too_short": "a non-empty string",
}


def _describe(err, parts):
    kind, ctx = err["type"], err.get("ctx") or {}
    got = repr(err.get("input"))
    got = got if len(got) <= 60 else got[:57] + "..."
    if kind == "missing":
        return f"missing required key {parts[-1]!r}" if parts else "missing required key"
    if kind == "extra_forbidden":
        parent = tuple("*" if (len(parts) == 4 and i == 2) else p
                       for i, p in enumerate(parts[:-1]))
        cls = _SECTIONS.get(parent)
        allowed = list(cls.model_fields) if cls is not None else []
        what = "section" if len(parts) == 1 else "key"
        return (f"unknown {what} {parts[-1]!r}{_suggest(parts[-1], allowed)}; allowed: "
                f"{', '.join(allowed)}") if allowed else f"unknown {what} {parts[-1]!r}"
    if kind in ("value_error", "assertion_error"):
        msg = err["msg"]
        for prefix in ("Value error, ", "Assertion failed, "):
            msg = msg[len(prefix):] if msg.startswith(prefix) else msg
        return msg
    if kind in _EXPECTED:
        return f"expected {_EXPECTED[kind]}, got {got}"
    if kind == "literal_error":
        return f"expected {ctx.get('expected', 'one of the allowed values')}, got {got}"
    bounds = {"greater_than": (">", "gt"), "greater_than_equal": (">=", "ge"),
              "less_than": ("<", "lt"), "less_than_equal": ("<=", "le")}
    if kind in bounds:
        sym, key = bounds[kind]
        return f"expected a number {sym} {ctx.get(key)}, got {got}"
    if kind in ("too_short", "too_long"):
        lo, hi = ctx.get("min_length"), ctx.get("max_length")
        n = ctx.get("actual_length")
        if kind == "too_short" and hi is None:
            return f"expected at least {lo} item(s), got {n}"
        return f"expected {lo if lo == hi else f'{lo}..{hi}'} item(s), got {n}" if lo \
            else f"expected at most {hi} item(s), got {n}"
    return f"{err['msg'][:1].lower()}{err['msg'][1:]}, got {got}"


def _config_error(where, exc, raw):
    errors = exc.errors(include_url=False)
    err = errors[0]
    parts = _key_path(err["loc"], raw, err["type"] == "missing")
    more = len({tuple(e["loc"]) for e in errors}) - 1
    tail = f" (and {more} more problem{'s' if more > 1 else ''})" if more > 0 else ""
    if err["type"] == "missing" and len(parts) == 1:
        return ConfigError(f"{where}: missing section [{_key(parts[0])}]{tail}")
    return ConfigError(_one_line(f"{where}: {_key_text(parts)}: {_describe(err, parts)}{tail}"))


# ------------------------------------------------------------------------------- loading
def _experiment_dirs():
    dirs = []
    try:
        from importlib.resources import files
        wheel = files("ldnsim").joinpath("_shipped", "experiments")
        if wheel.is_dir():
            dirs.append(Path(str(wheel)))
    except (ModuleNotFoundError, TypeError, NotADirectoryError):
        pass
    root = Path(__file__).resolve().parents[1]
    if (root / "pyproject.toml").is_file() and (root / "experiments").is_dir():
        dirs.append(root / "experiments")
    return dirs


def list_experiments():
    """Names of the shipped experiments (usable with :func:`load_experiment`)."""
    return sorted({p.stem for d in _experiment_dirs() for p in d.glob("*.toml")})


def _read_source(source):
    """``(raw dict, text or None, path or None, where)`` from a path, TOML text or dict."""
    if isinstance(source, Mapping):
        return dict(source), None, None, "<experiment dict>"
    if isinstance(source, bytes):
        source = source.decode("utf-8", errors="replace")
    if not isinstance(source, (str, os.PathLike)):
        raise ConfigError(f"an experiment is a path, TOML text or a dict, got "
                          f"{type(source).__name__}")
    if isinstance(source, str) and ("\n" in source or (
            ("=" in source or "[" in source) and not Path(source).is_file())):
        text, path, where = source, None, "<experiment text>"
    else:
        path = Path(source)
        if isinstance(source, str) and _BARE_NAME.match(source) and not path.exists():
            shipped = [d / f"{source}.toml" for d in _experiment_dirs()
                       if (d / f"{source}.toml").is_file()]
            if not shipped:
                raise ConfigError(f"{source}: no such experiment file, and no shipped "
                                  f"experiment of that name{_suggest(source, list_experiments())}"
                                  f"; shipped: {', '.join(list_experiments()) or 'none'}")
            path = shipped[0]
        where = str(path)
        try:
            if path.stat().st_size > MAX_FILE_BYTES:
                raise ConfigError(f"{where}: larger than {MAX_FILE_BYTES} bytes; is this an "
                                  "experiment file?")
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigError(f"{where}: no such experiment file") from None
        except IsADirectoryError:
            raise ConfigError(f"{where}: is a directory, not an experiment file") from None
        except UnicodeDecodeError:
            raise ConfigError(f"{where}: not a UTF-8 text file") from None
        except OSError as exc:
            raise ConfigError(f"{where}: cannot read ({exc.strerror or exc})") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{where}: TOML syntax error: {exc}") from None
    except (RecursionError, MemoryError):
        raise ConfigError(f"{where}: TOML could not be parsed: nested too deeply") from None
    return raw, text, path, where


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
    model: object = None
    plan: object = None
    metric_vars: tuple = ()
    seeds: dict = None

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
        if cfg.population is not None:
            names = ", ".join(cfg.population.iiv_names()) or "none"
            lines.append(f"population: {cfg.population.subjects} subjects, IIV on {names}, "
                         f"seed {self.seeds.get('population')}")
        if cfg.sampling is not None:
            lines.append(f"sampling:   {cfg.sampling.method}, n = {cfg.sampling.n}, seed "
                         f"{self.seeds.get('sampling')}")
        if cfg.metrics is not None:
            lines.append(f"metrics:    {', '.join(cfg.metrics.names)}")
        return "\n".join(lines)


def load_experiment(source, *, resolve=True) -> Experiment:
    """Read and validate an experiment.

    Parameters
    ----------
    source : str, os.PathLike, Mapping or Experiment
        A path to a ``.toml`` file, the name of a shipped experiment, TOML text (a string
        with a newline, or with ``=`` or ``[`` that is not an existing file), or the parsed
        dict.
    resolve : bool
        Also load the model, check every name against it and plan the sweep (rows, parameter
        matrix, population draws). False checks the file's own structure only.

    Returns
    -------
    Experiment

    Raises
    ------
    ConfigError
        One message naming the file, the key and what was expected.
    """
    if isinstance(source, Experiment):
        return _resolve(source) if resolve and source.plan is None else source
    raw, text, path, where = _read_source(source)
    try:
        config = ExperimentConfig.model_validate(raw)
    except ValidationError as exc:
        raise _config_error(where, exc, raw) from None
    except RecursionError:
        raise ConfigError(f"{where}: the configuration is nested too deeply") from None
    name = config.experiment.name or (path.stem if path is not None else "experiment")
    exp = Experiment(config=config, name=name, text=text, path=path, where=where, raw=raw)
    return _resolve(exp) if resolve else exp


# ------------------------------------------------------------------------------- resolving
def _fail(exp, parts, msg):
    return ConfigError(_one_line(f"{exp.where}: {_key_text(parts)}: {msg}"))


def _load_model(exp):
    from .model import load_model
    name = exp.config.model.name
    try:
        if name.endswith(".toml") or "/" in name or "\\" in name:
            base = exp.path.parent if exp.path is not None else Path.cwd()
            candidate = Path(name).expanduser()
            if not candidate.is_absolute():
                candidate = base / candidate
            if not candidate.is_file():
                raise ConfigError(f"no model file at {candidate} (paths are relative to the "
                                  "experiment file)")
            return load_model(candidate)
        return load_model(name)
    except LdnsimError as exc:
        raise _fail(exp, ("model", "name"), str(exc)) from None


def _check_names(exp, names, known, parts, what, model):
    for i, n in enumerate(names):
        if n not in known:
            raise _fail(exp, parts(n, i), f"{what} {n!r} is not in model {model.name!r}"
                        f"{_suggest(n, known)}; known: {', '.join(known) or 'none'}")


def _check_scenarios(exp, model, names, parts):
    """Scenarios applied together must not set the same parameter (a ModelError otherwise)."""
    from .errors import ModelError
    try:
        model.scenario_values(tuple(names))
    except ModelError as exc:
        raise _fail(exp, parts, str(exc)) from None


def _metric_vars(exp, model):
    """Model variables named by the metric options (``var``, ``*_var``), checked to exist."""
    from .metrics import METRICS
    cfg = exp.config.metrics
    if cfg is None:
        return ()
    known = list(model.state_names) + list(model.output_names)
    found = []
    for name in cfg.names:
        opts = cfg.options().get(name, {})
        bound = inspect.signature(METRICS[name]).bind_partial(**opts)
        bound.apply_defaults()
        for arg, value in bound.arguments.items():
            if arg == "ds" or not (arg == "var" or arg.endswith("_var")):
                continue
            values = [value] if isinstance(value, str) else (
                list(value) if isinstance(value, (list, tuple)) else [])
            for v in values:
                if not isinstance(v, str):
                    continue
                if v not in known:
                    given = "" if arg in opts else " (the default)"
                    raise _fail(exp, ("metrics", name, arg),
                                f"metric {name!r} reads {v!r}{given}, which is not a variable "
                                f"of model {model.name!r}{_suggest(v, known)}; set "
                                f"[metrics.{name}] {arg} = one of {', '.join(known)}")
                found.append(v)
    return tuple(dict.fromkeys(found))


def _regimen(exp, model):
    from .dosing import Dose, Regimen
    from .errors import RegimenError
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
        raise _fail(exp, ("regimen",), str(exc)) from None
    return regimen


def _day_length(exp, model, parts, days):
    if days is None:
        return 1.0
    per_day = _PER_DAY.get(model.time_unit)
    if per_day is None:
        raise _fail(exp, parts, f"days needs a model time unit in {', '.join(_PER_DAY)}; "
                    f"model {model.name!r} uses {model.time_unit!r}: give the time directly")
    return per_day


def _t_eval(exp, model):
    o = exp.config.output
    if o.times is not None:
        return np.asarray(o.times, dtype=float)
    t_end = o.t_end if o.t_end is not None else o.days * _day_length(
        exp, model, ("output", "days"), o.days)
    if not t_end > o.t_start:
        raise _fail(exp, ("output", "days"), f"the output must end after t_start ({o.t_start:g})")
    if o.dense_from is not None and not o.dense_from < t_end:
        raise _fail(exp, ("output", "dense_from"),
                    f"dense_from ({o.dense_from:g}) must be earlier than the end ({t_end:g})")
    step = o.step if o.step is not None else (t_end - o.t_start) / 500.0
    if o.dense_from is None:
        return _grid(exp, o.t_start, t_end, step)
    # Long runs whose metrics only read the last days: coarse samples, then dense ones.
    coarse = _grid(exp, o.t_start, o.dense_from, o.coarse_step)
    return np.concatenate([coarse[:-1], _grid(exp, o.dense_from, t_end, step)])


def _grid(exp, t0, t1, step):
    """Times t0, t0 + step, ... with t1 always the last one."""
    n = int(math.floor((t1 - t0) / step * (1 + 1e-12))) + 1
    if n > 50_000_000:
        raise _fail(exp, ("output", "step"), f"{n} output times is too many; use a larger step")
    t = t0 + step * np.arange(n)
    if t[-1] < t1 - 1e-9 * max(1.0, abs(t1)):
        t = np.append(t, t1)  # the end is always an output time
    else:
        t[-1] = min(t[-1], t1)
    return t


def sample_design(method, n, ranges, *, log=False, seed=None):
    """Points in a box of parameter space: ``{name: (n,) values}``.

    ``"lhs"`` is a Latin hypercube (each parameter's range cut into ``n`` equal strata, one point
    per stratum at a uniform position, strata paired by independent permutations); ``"random"``
    is independent uniform draws. ``log=True`` samples uniformly in ``log(value)``. One generator
    ``default_rng(seed)`` makes the design; it depends on ``n`` (a design is one object).
    """
    from .population import fresh_seed
    seed = fresh_seed() if seed is None else seed
    rng = np.random.default_rng(seed)
    names = list(ranges)
    d = len(names)
    if method == "lhs":
        u = np.empty((n, d))
        for j in range(d):
            u[:, j] = (rng.permutation(n) + rng.random(n)) / n
    elif method == "random":
        u = rng.random((n, d))
    else:
        raise ConfigError(f"sampling method must be 'lhs' or 'random', got {method!r}")
    out = {}
    for j, name in enumerate(names):
        lo, hi = (float(x) for x in ranges[name])
        if log:
            out[name] = np.exp(math.log(lo) + (math.log(hi) - math.log(lo)) * u[:, j])
        else:
            out[name] = lo + (hi - lo) * u[:, j]
    return out, seed


def _resolve(exp):
    from .population import Population, fresh_seed
    from .sweep import plan_sweep

    cfg = exp.config
    model = _load_model(exp)
    pnames = list(model.parameter_names)
    scen = list(model.scenarios)
    varnames = list(model.state_names) + list(model.output_names)
    _check_names(exp, cfg.model.scenarios, scen, lambda n, i: ("model", "scenarios", i),
                 "scenario", model)
    _check_names(exp, list(cfg.model.params), pnames, lambda n, i: ("model", "params", n),
                 "parameter", model)
    _check_scenarios(exp, model, cfg.model.scenarios, ("model", "scenarios"))
    axes = {}
    if cfg.sweep is not None:
        extra = cfg.sweep.__pydantic_extra__ or {}
        _check_names(exp, list(extra), pnames, lambda n, i: ("sweep", n),
                     "sweep axis (not 'dose' or 'scenario', so a parameter)", model)
        for i, combo in enumerate(cfg.sweep.scenario or []):
            _check_names(exp, combo, scen, lambda n, j: ("sweep", "scenario", i), "scenario",
                         model)
            _check_scenarios(exp, model, list(cfg.model.scenarios) + list(combo),
                             ("sweep", "scenario", i))
        order = [k for k in exp.raw.get("sweep", {}) if k != "mode"] \
            if isinstance(exp.raw.get("sweep"), Mapping) else []
        values = {"dose": cfg.sweep.dose, "scenario": cfg.sweep.scenario, **extra}
        for key in order + [k for k in values if k not in order]:
            if values.get(key) is not None:
                axes[key] = values[key]
    seeds = {}
    samples = None
    if cfg.sampling is not None:
        s = cfg.sampling
        _check_names(exp, list(s.ranges), pnames, lambda n, i: ("sampling", "ranges", n),
                     "parameter", model)
        for n in s.ranges:
            if n in axes:
                raise _fail(exp, ("sampling", "ranges", n), f"{n!r} is also a sweep axis; "
                            "a parameter is either swept or sampled")
        samples, seeds["sampling"] = sample_design(s.method, s.n, s.ranges, log=s.log,
                                                   seed=s.seed)
    population = None
    if cfg.population is not None:
        p = cfg.population
        key = "parameters" if p.covariance is not None else "iiv"
        _check_names(exp, p.iiv_names(), pnames,
                     (lambda n, i: ("population", key, i)) if key == "parameters"
                     else (lambda n, i: ("population", key, n)), "parameter", model)
        for cname, cov in p.covariates.items():
            _check_names(exp, list(cov.effects), pnames,
                         lambda n, i, c=cname: ("population", "covariates", c, "effects", n),
                         "parameter", model)
        seed = p.seed if p.seed is not None else fresh_seed()
        seeds["population"] = seed
        try:
            population = Population(p.subjects, p.iiv_names(), p.omega(), seed=seed,
                                    covariates=[c.covariate(n) for n, c in
                                                p.covariates.items()])
        except ConfigError as exc:
            raise _fail(exp, ("population",), str(exc)) from None
    if cfg.output.variables is not None:
        _check_names(exp, cfg.output.variables, varnames,
                     lambda n, i: ("output", "variables", i), "variable", model)
    metric_vars = _metric_vars(exp, model)
    keep = list(cfg.output.variables or (model.output_names or model.state_names))
    keep += [v for v in metric_vars if v not in keep]
    regimen = _regimen(exp, model)
    t_eval = _t_eval(exp, model)
    r = cfg.regimen
    if r is not None and r.start + r.lag < t_eval[0]:
        raise _fail(exp, ("regimen", "start"), f"the first dose (start + lag = "
                    f"{r.start + r.lag:g}) lies before the first output time ({t_eval[0]:g}); "
                    "start the output at or before the first dose")
    exp = Experiment(config=cfg, name=exp.name, text=exp.text, path=exp.path, where=exp.where,
                     raw=exp.raw, model=model, metric_vars=metric_vars, seeds=seeds)
    attrs = {
        "experiment_name": exp.name, "experiment_description": cfg.experiment.description,
        "experiment_path": str(exp.path or ""),
        "experiment": exp.text if exp.text is not None else json.dumps(
            exp.raw, sort_keys=False, default=str),
        "experiment_config": cfg.model_dump(mode="json"),
        "population_seed": seeds.get("population"), "sampling_seed": seeds.get("sampling"),
    }
    attrs = {k: v for k, v in attrs.items() if v is not None}
    s = cfg.solver
    try:
        plan = plan_sweep(model, t_eval, axes=axes, mode=cfg.sweep.mode if cfg.sweep else
                          "product", regimen=regimen, params=cfg.model.params,
                          scenarios=cfg.model.scenarios, samples=samples,
                          population=population, keep=keep, method=s.method, rtol=s.rtol,
                          atol=s.atol, max_steps=s.max_steps, attrs=attrs)
    except LdnsimError as exc:
        raise ConfigError(_one_line(f"{exp.where}: {exc}")) from None
    object.__setattr__(exp, "plan", plan)
    return exp


# ------------------------------------------------------------------------------------ running
def _compute_metrics(exp, ds):
    """Metric variables (prefixed) and their attrs, or a warning when a metric cannot run."""
    import xarray as xr
    from .metrics import METRICS

    cfg = exp.config.metrics
    parts, metric_attrs = [], {}
    for name in cfg.names:
        out = METRICS[name](ds, **cfg.options().get(name, {}))
        parts.append(out)
        metric_attrs[name] = dict(out.attrs)
    merged = xr.merge(parts, compat="no_conflicts", join="exact", combine_attrs="override")
    renamed = {v: f"{METRIC_PREFIX}{v}" for v in merged.data_vars}
    return merged.rename(renamed), metric_attrs


def run_experiment(source, *, threads=None, progress=None, chunk_size=None):
    """Run an experiment and return its result with the metrics merged in.

    Parameters
    ----------
    source : path, shipped experiment name, TOML text, dict or Experiment
    threads : int, optional
        numba threads (results do not depend on it).
    progress : bool or None
        Progress bar: True always, False never, None on a terminal for long runs.
    chunk_size : int, optional
        Rows per chunk (results do not depend on it).

    Returns
    -------
    xarray.Dataset
        Variables over ``(*sweep dims, "time")``, ``status``, metric variables prefixed
        ``metric_`` (see :func:`metrics_of`), provenance attributes (``experiment`` text,
        ``experiment_config``, ``model_hash``, seeds, versions, ``n_failed``, ``failures``).
        Failed rows are NaN and counted; a metric that cannot be computed on this result is
        left out with a warning (and ``metrics_error`` in attrs) instead of losing the run.

    Raises
    ------
    ConfigError
        The experiment is invalid (nothing has been run).
    """
    from .results import netcdf_safe_attrs
    from .sweep import run_plan

    exp = load_experiment(source, resolve=True)
    ds = run_plan(exp.plan, threads=threads, progress=progress, chunk_size=chunk_size)
    extra = {}
    if exp.config.metrics is not None:
        try:
            metrics, metric_attrs = _compute_metrics(exp, ds)
        except LdnsimError as exc:
            warnings.warn(f"metrics were not computed: {exc}", UserWarning, stacklevel=2)
            extra["metrics_error"] = str(exc)
        else:
            ds = ds.assign(dict(metrics.data_vars))
            extra.update(metrics=list(exp.config.metrics.names),
                         metric_options=exp.config.metrics.options(),
                         metric_attrs=metric_attrs)
    kept = set(exp.config.output.variables or exp.plan.model.output_names
               or exp.plan.model.state_names)
    drop = [v for v in exp.metric_vars if v not in kept]
    ds = ds.drop_vars(drop)
    ds.attrs = netcdf_safe_attrs({**ds.attrs, **extra})
    return ds


def metrics_of(ds):
    """The metrics of a result as their own Dataset: ``metric_`` prefixes removed, attrs of
    every metric (e.g. ``max_blockade_hours``, ``window_definition``) restored.

    Returns an empty Dataset when the result has no metrics.
    """
    from .results import provenance

    names = [v for v in ds.data_vars if str(v).startswith(METRIC_PREFIX)]
    out = ds[names].rename({v: str(v)[len(METRIC_PREFIX):] for v in names})
    attrs = {}
    for a in (provenance(ds).get("metric_attrs") or {}).values():
        attrs.update(a)
    out.attrs = attrs
    return out
