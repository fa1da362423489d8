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
from ldnsim.population import MAX_SUBJECTS, Covariate, omega_factor, omega_from_iiv
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
RESERVED_NAMES = ("time", "status", "subject", "sample", "case", "dose", "scenario")


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
        return Covariate(name=name, **self.model_dump())

    @model_validator(mode="after")
    def _check(self):
        try:
            self.covariate("covariate")
        except ConfigError as exc:
            raise ValueError(str(exc).replace("covariate 'covariate': ", "")) from None
        return self


class PopulationSection(_Section):
    subjects: Annotated[int, Field(ge=1)] = 100
    seed: Annotated[int, Field(ge=0)] | None = None
    iiv: dict[str, NonNeg] = {}
    iiv_scale: Literal["cv", "sd", "variance"] = "cv"
    correlation: list[list[float]] | None = None
    parameters: list[Name] | None = None
    covariance: list[list[float]] | None = None
    covariates: dict[str, CovariateSection] = {}

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

    @field_validator("covariates")
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


SECTIONS = {
    (): ExperimentConfig, ("experiment",): ExperimentSection, ("model",): ModelSection,
    ("regimen",): RegimenSection, ("output",): OutputSection, ("solver",): SolverSection,
    ("sweep",): SweepSection, ("sampling",): SamplingSection,
    ("population",): PopulationSection, ("population", "covariates", "*"): CovariateSection,
    ("metrics",): MetricsSection,
}
"""Section path -> its schema (for messages about unknown keys)."""
