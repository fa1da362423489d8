"""The experiment file's schema: one pydantic model per section, unknown keys rejected.

Validation here checks the file's own structure (types, ranges, combinations of keys); names
that depend on the model (parameters, scenarios, variables) are checked when the experiment is
resolved against its model (:mod:`ldnsim.experiment.resolve`).
"""
from __future__ import annotations

import re
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from ldnsim._limits import limit, raise_hint
from ldnsim._text import suggest
from ldnsim.errors import ConfigError
from ldnsim.metrics import METRICS, OptionError
from ldnsim.observation import ResidualError
from ldnsim.population import (
    MAX_SUBJECTS,
    Covariate,
    TimeVaryingCovariate,
    omega_factor,
    omega_from_iiv,
)
from ldnsim.sampling import MAX_SAMPLES
from ldnsim.solver import MAX_STEPS_LIMIT, METHODS, MIN_RTOL

from .messages import KEY_ERROR, key

__all__ = ["ExperimentConfig", "SECTIONS", "RESERVED_NAMES"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, frozen=True)


Name = Annotated[str, Field(min_length=1)]
Positive = Annotated[float, Field(gt=0)]
NonNeg = Annotated[float, Field(ge=0)]
#: Names of covariates become coordinates (and NetCDF variables) of the result.
_IDENTIFIER = r"^[A-Za-z][A-Za-z0-9_]*$"
#: Names every result uses itself; a covariate (or anything declared in a config) may not.
RESERVED_NAMES = ("time", "status", "subject", "sample", "case", "dose", "scenario", "regimen",
                  "dose_time", "id")
_IDENTIFIER_PATTERN = _IDENTIFIER


def _unique(values, what):
    seen = set()
    for i, v in enumerate(values):
        if v in seen:
            raise ValueError(f"{what} lists {v!r} twice (at {values.index(v)} and {i}); "
                             "each may appear once")
        seen.add(v)
    return values


def _as_combo(value):
    return [value] if isinstance(value, str) else value


class ExperimentSection(_Section):
    name: Name | None = None
    description: str = ""


class ModelSection(_Section):
    name: Name
    scenarios: list[Name] = []
    params: dict[str, float] = {}


#: A model parameter's name, where a number may be given instead (lag, bioavailability).
ParameterName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
_LM = Field(union_mode="left_to_right")


class RegimenSection(_Section):
    """One ``[regimen]`` table, or one entry of ``[[regimen]]``."""

    name: Annotated[str, Field(pattern=_IDENTIFIER_PATTERN)] | None = None
    table: Name | None = None
    dose: NonNeg | None = None
    every: Positive | None = None
    count: Annotated[int, Field(ge=1, le=1_000_000)] | None = None
    days: Positive | None = None
    start: float = 0.0
    duration: NonNeg = 0.0
    target: Name | None = None
    lag: Annotated[NonNeg | ParameterName, _LM] = 0.0
    bioavailability: Annotated[Annotated[float, Field(gt=0, le=1)] | ParameterName, _LM] = 1.0
    ss: bool = False
    missed: Annotated[list[Annotated[int, Field(ge=1)]] | Annotated[float, Field(ge=0, lt=1)],
                      _LM] = []

    @model_validator(mode="after")
    def _schedule(self):
        if self.table is not None:
            given = [k for k in self.model_fields_set if k not in ("table", "name")]
            if given:
                raise ValueError(f"an entry with table = (a dosing event table) takes its "
                                 f"doses from the file; remove {', '.join(sorted(given))}")
            return self
        if self.count is not None and self.days is not None:
            raise ValueError("give count or days, not both")
        if self.every is None and (self.days is not None or (self.count or 1) > 1):
            raise ValueError("count > 1 or days needs every (the dosing interval)")
        if self.ss and self.every is None:
            raise ValueError("ss = true (steady state) needs every (the dosing interval)")
        if isinstance(self.missed, list):
            _unique(self.missed, "missed")
            n = self.count or 1
            if self.days is None and any(k > n for k in self.missed):
                raise ValueError(f"missed lists administration {max(self.missed)}, but the "
                                 f"entry gives {n} (numbered from 1)")
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
    # Metrics only: no time courses are kept, every chunk's metrics are computed where its
    # rows were solved (large sweeps: a few numbers per row).
    trajectories: bool = True

    @field_validator("variables")
    @classmethod
    def _distinct(cls, value):
        return value if value is None else _unique(value, "variables")

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
    method: Name = "auto"  # DOPRI5, switching to Rodas5P when the problem is stiff
    # the solver's own bounds: below MIN_RTOL double precision cannot deliver the accuracy
    rtol: Annotated[float, Field(ge=MIN_RTOL, lt=1)] = 1e-6
    atol: Positive = 1e-9
    max_steps: Annotated[int, Field(ge=1, le=MAX_STEPS_LIMIT)] = 100_000

    @field_validator("method")
    @classmethod
    def _method(cls, value):
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
    regimen: Annotated[list[Name], Field(min_length=1)] | None = None
    dose_time: Annotated[list[float], Field(min_length=1)] | None = None
    scenario: Annotated[list[Annotated[list[Name], BeforeValidator(_as_combo)]],
                        Field(min_length=1)] | None = None


class SamplingSection(_Section):
    method: Literal["random", "lhs"] = "lhs"
    n: Annotated[int, Field(ge=1)]
    seed: Annotated[int, Field(ge=0)] | None = None
    ranges: Annotated[dict[str, Annotated[list[float], Field(min_length=2, max_length=2)]],
                      Field(min_length=1)]
    log: bool = False

    @field_validator("n")
    @classmethod
    def _n(cls, value):
        top = limit("MAX_SAMPLES", MAX_SAMPLES)
        if value > top:
            raise ValueError(f"expected at most {top:,} samples, got {value:,} "
                             f"({raise_hint('MAX_SAMPLES')})")
        return value

    @model_validator(mode="after")
    def _bounds(self):
        for name, (lo, hi) in self.ranges.items():
            if not lo < hi:
                raise ValueError(f"ranges.{key(name)}: lower ({lo:g}) must be < upper ({hi:g})")
            if self.log and lo <= 0:
                raise ValueError(f"ranges.{key(name)}: log sampling needs a lower bound > 0, "
                                 f"got {lo:g}")
        return self


class CovariateSection(_Section):
    distribution: Literal["lognormal", "normal", "uniform", "categorical"] = "lognormal"
    median: float | None = None
    cv: float | None = None
    mean: float | None = None
    sd: float | None = None
    lower: float | None = None
    upper: float | None = None
    reference: float | None = None
    unit: str = ""
    effects: dict[str, float | dict[str, float]] = {}
    # categorical: level names and their probabilities, or the empirical distribution of a
    # column of a CSV file (path relative to the experiment file)
    levels: list[Name] = []
    probabilities: list[float] = []
    file: Name | None = None
    column: Name | None = None

    def covariate(self, name, levels=None, probabilities=None):
        values = self.model_dump(exclude={"file", "column"})
        if levels is not None:
            values.update(levels=tuple(levels), probabilities=tuple(probabilities))
        values["levels"] = tuple(values["levels"])
        values["probabilities"] = tuple(values["probabilities"])
        return Covariate(name=name, **values)

    @model_validator(mode="after")
    def _check(self):
        if (self.file is None) != (self.column is None):
            raise ValueError("file and column go together: the covariate is drawn from the "
                             "empirical distribution of that column")
        if self.file is not None:
            if self.distribution != "categorical":
                raise ValueError("file and column give a categorical covariate: add "
                                 "distribution = \"categorical\"")
            if self.levels or self.probabilities:
                raise ValueError("give levels (and probabilities) or file and column, not "
                                 "both")
            return self
        try:
            self.covariate("covariate")
        except ConfigError as exc:
            raise ValueError(str(exc).replace("covariate 'covariate': ", "")) from None
        return self


class TimeVaryingSection(_Section):
    """A piecewise-constant covariate: a shared schedule, or one per subject from a CSV file
    (columns ``id``, ``time`` and ``column``; subject i of the population uses the i-th ID)."""

    times: Annotated[list[float], Field(min_length=1)] | None = None
    values: Annotated[list[float], Field(min_length=1)] | None = None
    file: Name | None = None
    id: Name = "ID"
    time: Name = "TIME"
    column: Name | None = None
    effects: dict[str, float] = {}
    reference: Positive | None = None
    sets: Name | None = None
    unit: str = ""

    @model_validator(mode="after")
    def _check(self):
        if self.file is None:
            if self.times is None or self.values is None:
                raise ValueError("give times and values (a shared schedule) or file (one "
                                 "schedule per subject)")
            try:
                self.covariate("covariate")
            except ConfigError as exc:
                raise ValueError(str(exc).replace(
                    "time-varying covariate 'covariate': ", "")) from None
        elif self.times is not None or self.values is not None:
            raise ValueError("give times and values or file, not both")
        if not self.effects and self.sets is None:
            raise ValueError("give effects = { parameter = exponent } or sets = "
                             "\"<parameter>\" (what the covariate changes)")
        return self

    def covariate(self, name, rows=None):
        kw = dict(effects=dict(self.effects), reference=self.reference, sets=self.sets,
                  unit=self.unit)
        if rows is not None:
            return TimeVaryingCovariate.from_rows(name, *rows, **kw)
        return TimeVaryingCovariate(name, times=self.times, values=self.values, **kw)


class PopulationSection(_Section):
    subjects: Annotated[int, Field(ge=1)] = 100
    seed: Annotated[int, Field(ge=0)] | None = None
    iiv: dict[str, NonNeg] = {}
    iiv_scale: Literal["cv", "sd", "variance"] = "cv"
    correlation: list[list[float]] | None = None
    parameters: list[Name] | None = None
    covariance: list[list[float]] | None = None
    covariates: dict[str, CovariateSection] = {}
    time_varying: dict[str, TimeVaryingSection] = {}

    @field_validator("subjects")
    @classmethod
    def _subjects(cls, value):
        top = limit("MAX_SUBJECTS", MAX_SUBJECTS)
        if value > top:
            raise ValueError(f"expected at most {top:,} subjects, got {value:,} "
                             f"({raise_hint('MAX_SUBJECTS')})")
        return value

    @field_validator("parameters")
    @classmethod
    def _distinct(cls, value):
        return value if value is None else _unique(value, "parameters")

    @field_validator("covariates", "time_varying")
    @classmethod
    def _names(cls, value):
        for name in value:
            if not re.match(_IDENTIFIER, name):
                raise ValueError(f"covariate name {name!r} must start with a letter and use "
                                 "only ASCII letters, digits and '_' (it names a coordinate "
                                 "of the result)")
            if name in RESERVED_NAMES or name.startswith("eta_"):
                raise ValueError(f"covariate name {name!r} is taken by the result itself "
                                 f"({', '.join(RESERVED_NAMES)} and eta_<parameter> are); "
                                 "choose another")
        return value

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
        if self.covariance is not None:
            om = np.asarray(self.covariance, dtype=float)
            k = len(self.parameters)
            if om.shape != (k, k):
                raise ConfigError(f"covariance must be {k} x {k} (one row per name in "
                                  f"parameters), got shape {om.shape}")
            omega_factor(om)
            return om
        corr = None if self.correlation is None else np.asarray(self.correlation, dtype=float)
        if corr is not None and corr.ndim != 2:
            raise ConfigError("correlation must be a square matrix (a list of rows of equal "
                              "length)")
        om = omega_from_iiv(list(self.iiv.values()), self.iiv_scale, corr)
        omega_factor(om)
        return om


class MetricsSection(_Section):
    """``names``; every other key is a table of options for one metric."""

    model_config = ConfigDict(extra="allow", strict=True, allow_inf_nan=False, frozen=True)
    __pydantic_extra__: dict[str, dict[str, Any]]

    names: Annotated[list[Name], Field(min_length=1)]

    @field_validator("names")
    @classmethod
    def _distinct(cls, value):
        return _unique(value, "names")

    @model_validator(mode="after")
    def _known(self):
        options = self.options()
        for name in list(self.names) + list(options):
            if name not in METRICS:
                raise ValueError(f"unknown metric {name!r}{suggest(name, METRICS)}; known "
                                 f"metrics: {', '.join(METRICS)}")
        for name in options:
            if name not in self.names:
                raise ValueError(f"options are given for metric {name!r}, which is not in "
                                 f"names; add it to names or remove [metrics.{name}]")
        for name in self.names:
            try:
                METRICS[name].bind(options.get(name))
            except OptionError as exc:  # reported at [metrics] <name>.<option>
                raise PydanticCustomError(KEY_ERROR, "{message}", {
                    "message": f"expected {exc.expected}, got {exc.got}",
                    "path": (name, exc.option)}) from None
            except ConfigError as exc:
                raise ValueError(str(exc)) from None
        return self

    def options(self) -> dict:
        return dict(self.__pydantic_extra__ or {})


# --- [sensitivity]: a global sensitivity analysis (ldnsim.sensitivity) -------------------
class SensitivitySection(_Section):
    """Sobol indices (Saltelli/Sobol sequence) or Morris screening over parameter ranges."""

    method: Literal["sobol", "morris"] = "sobol"
    n: Annotated[int, Field(ge=2, le=10_000_000)]
    seed: Annotated[int, Field(ge=0)] | None = None
    ranges: dict[str, Annotated[list[float], Field(min_length=2, max_length=2)]] = {}
    log: bool | list[Name] = False
    # distributions instead of ranges (Sobol only): normal = [mean, sd], lognormal =
    # [median, sd of log]
    normal: dict[str, Annotated[list[float], Field(min_length=2, max_length=2)]] = {}
    lognormal: dict[str, Annotated[list[float], Field(min_length=2, max_length=2)]] = {}
    outputs: Annotated[list[Name], Field(min_length=1)]
    second_order: bool = False
    resamples: Annotated[int, Field(ge=10, le=100_000)] = 1000
    confidence: Annotated[float, Field(gt=0, lt=1)] = 0.95
    levels: Annotated[int, Field(ge=2, le=100)] = 4

    @model_validator(mode="after")
    def _bounds(self):
        logged = self.log_names()
        for name in logged:
            if name not in self.ranges:
                raise ValueError(f"log: {name!r} has no entry in ranges")
        for name, (lo, hi) in self.ranges.items():
            if not lo < hi:
                raise ValueError(f"ranges.{key(name)}: lower ({lo:g}) must be < upper ({hi:g})")
            if name in logged and lo <= 0:
                raise ValueError(f"ranges.{key(name)}: log-uniform needs a lower bound > 0, "
                                 f"got {lo:g}")
        for kind, table in (("normal", self.normal), ("lognormal", self.lognormal)):
            for name, (centre, sd) in table.items():
                if name in self.ranges or (kind == "lognormal" and name in self.normal):
                    raise ValueError(f"{kind}.{key(name)}: the parameter has another "
                                     "distribution already; give one")
                if not sd > 0:
                    raise ValueError(f"{kind}.{key(name)}: the standard deviation must be > 0")
                if kind == "lognormal" and not centre > 0:
                    raise ValueError(f"lognormal.{key(name)}: the median must be > 0")
        if (self.normal or self.lognormal) and self.method != "sobol":
            raise ValueError("normal and lognormal distributions go with method = 'sobol'; "
                             "Morris screens ranges")
        n_params = len(self.ranges) + len(self.normal) + len(self.lognormal)
        if n_params == 0:
            raise ValueError("give the parameters: ranges (or normal/lognormal)")
        if self.method == "sobol" and n_params < 2:
            raise ValueError("Sobol indices need at least 2 parameters")
        if self.method == "sobol" and self.n & (self.n - 1):
            raise ValueError(f"n = {self.n}: Sobol sequences need a power of 2 (e.g. "
                             f"{1 << (self.n.bit_length() - 1)} or {1 << self.n.bit_length()})")
        return self

    def log_names(self) -> list:
        if isinstance(self.log, bool):
            return list(self.ranges) if self.log else []
        return list(self.log)


# --- [observation]: residual error on simulated observations (ldnsim.observation) ----------
class ObservationEntry(_Section):
    model: Literal["additive", "proportional", "combined", "exponential", "lognormal"] | None \
        = None
    additive: NonNeg | None = None
    proportional: NonNeg | None = None
    exponential: NonNeg | None = None

    def residual_error(self, variable):
        return ResidualError(variable, **self.model_dump())

    @model_validator(mode="after")
    def _check(self):
        try:
            self.residual_error("variable")
        except ConfigError as exc:
            raise ValueError(str(exc).replace("[observation] variable: ", "")) from None
        return self


class ObservationSection(_Section):
    """``seed``; every other key is a variable with its residual error."""

    model_config = ConfigDict(extra="allow", strict=True, allow_inf_nan=False, frozen=True)
    __pydantic_extra__: dict[str, ObservationEntry]

    seed: Annotated[int, Field(ge=0)] | None = None

    @model_validator(mode="after")
    def _some(self):
        if not self.__pydantic_extra__:
            raise ValueError("name at least one variable, e.g. C_plasma = { proportional = "
                             "0.1 }")
        return self

    def errors(self) -> list:
        return [entry.residual_error(name) for name, entry in
                (self.__pydantic_extra__ or {}).items()]


class UncertaintySection(_Section):
    """``[uncertainty]``: parameter sets drawn from fits, one more dim ``draw``."""

    fits: Annotated[list[Name], BeforeValidator(_as_combo), Field(min_length=1)] = Field(
        alias="from")
    draws: Annotated[int, Field(ge=1, le=1_000_000)]
    seed: Annotated[int, Field(ge=0)] | None = None
    source: Literal["auto", "covariance", "posterior"] = "auto"
    parameters: Annotated[list[Name], Field(min_length=1)] | None = None
    with_sampling: Literal["product", "zip"] = "product"
    subjects: Literal["shared", "per_draw"] = "shared"


class ExperimentConfig(_Section):
    """The whole experiment file (see the module docstring)."""

    experiment: ExperimentSection = ExperimentSection()
    model: ModelSection
    regimen: Annotated[RegimenSection | list[RegimenSection], _LM] | None = None
    output: OutputSection
    solver: SolverSection = SolverSection()
    sweep: SweepSection | None = None
    sampling: SamplingSection | None = None
    population: PopulationSection | None = None
    uncertainty: UncertaintySection | None = None
    metrics: MetricsSection | None = None
    sensitivity: SensitivitySection | None = None
    observation: ObservationSection | None = None

    @model_validator(mode="after")
    def _metrics_only_and_sensitivity(self):
        if not self.output.trajectories and self.observation is not None:
            raise ValueError("[observation] adds noisy copies of time courses, but "
                             "output.trajectories = false keeps none; remove one of them")
        if not self.output.trajectories and self.metrics is None:
            raise ValueError("output.trajectories = false keeps only metrics: add a [metrics] "
                             "section")
        if not self.output.trajectories and self.output.variables is not None:
            raise ValueError("output.variables names time courses to keep, but "
                             "output.trajectories = false keeps none; remove one of them")
        if self.sensitivity is not None:
            if self.sampling is not None:
                raise ValueError("[sensitivity] makes its own design of parameter samples; "
                                 "remove [sampling]")
            if self.metrics is None:
                raise ValueError("[sensitivity] analyses metric outputs: add a [metrics] "
                                 "section")
        return self

    def regimen_entries(self) -> list:
        """The ``[regimen]`` table or the ``[[regimen]]`` entries, as a list."""
        if self.regimen is None:
            return []
        return list(self.regimen) if isinstance(self.regimen, list) else [self.regimen]

    @model_validator(mode="after")
    def _consistent(self):
        _check_uncertainty(self)
        swept = self.sweep is not None and self.sweep.dose is not None
        entries = self.regimen_entries()
        if isinstance(self.regimen, list) and not entries:
            raise ValueError("[[regimen]] has no entries")
        for what in ("dose", "regimen", "dose_time"):
            if self.sweep is not None and getattr(self.sweep, what) is not None and not entries:
                raise ValueError(f"sweep.{what} needs a [regimen] section (or [[regimen]] "
                                 "entries)")
        for i, entry in enumerate(entries):
            if entry.table is None and entry.dose is None and not swept:
                at = f"regimen[{i}]" if isinstance(self.regimen, list) else "regimen"
                raise ValueError(f"{at}.dose is missing (give it, or sweep over dose)")
        if sum(e.table is not None for e in entries) > 1:
            raise ValueError("give one dosing event table (one [[regimen]] entry with table)")
        names = list(dict.fromkeys(e.name for e in entries if e.name is not None))
        wanted = self.sweep.regimen if self.sweep is not None else None
        if names and wanted is None:
            raise ValueError(f"[[regimen]] entries are named ({', '.join(names)}): list the "
                             "ones to run in [sweep] regimen = [...]")
        if wanted is not None:
            _unique(wanted, "sweep.regimen")
            unknown = [w for w in wanted if w not in names]
            if unknown:
                raise ValueError(f"sweep.regimen names {unknown[0]!r}, which no [[regimen]] "
                                 f"entry has as name; named: {', '.join(names) or 'none'}")
        return self


def _check_uncertainty(cfg):
    """``[uncertainty]`` options that need another section."""
    u = cfg.uncertainty
    if u is None:
        return
    if u.with_sampling == "zip":
        if cfg.sampling is None:
            raise ValueError("uncertainty.with_sampling = 'zip' pairs draw i with sample i of "
                             "[sampling]; add a [sampling] section or use 'product'")
        if cfg.sampling.n != u.draws:
            raise ValueError(f"uncertainty.with_sampling = 'zip' needs as many draws as "
                             f"samples: draws = {u.draws}, sampling.n = {cfg.sampling.n}")
    if u.subjects == "per_draw" and cfg.population is None:
        raise ValueError("uncertainty.subjects = 'per_draw' draws new virtual subjects for "
                         "every draw; it needs a [population] section")


SECTIONS = {
    (): ExperimentConfig, ("experiment",): ExperimentSection, ("model",): ModelSection,
    ("regimen",): RegimenSection, ("output",): OutputSection, ("solver",): SolverSection,
    ("sweep",): SweepSection, ("sampling",): SamplingSection,
    ("population",): PopulationSection, ("population", "covariates", "*"): CovariateSection,
    ("population", "time_varying", "*"): TimeVaryingSection,
    ("metrics",): MetricsSection, ("sensitivity",): SensitivitySection,
    ("observation",): ObservationSection, ("observation", "*"): ObservationEntry,
    ("uncertainty",): UncertaintySection,
}
"""Section path -> its schema (for messages about unknown keys)."""
