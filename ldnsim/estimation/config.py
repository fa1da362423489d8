"""The ``ldnsim fit CONFIG.toml`` file: schema, loading, and running it.

::

    [fit]
    name = "pk_oral"                     # default: the file's stem
    description = "..."
    model = "one_compartment_oral"       # a shipped model, or a path relative to this file
    data = ["data/study1.csv"]           # one path or a list, relative to this file
    references = "REFERENCES.md"         # optional; false: do not check STUDY keys
    scenarios = []                       # applied to every subject (before its SCENARIO)
    method = "ml"                        # or "wls"
    starts = 4                           # optimiser starts (initial values + seeded random)
    seed = 1
    gradient = "fd"                      # or "sensitivity"
    level = 0.95                         # confidence level of the intervals
    max_iter = 500

    [fit.solver]                         # solver settings while fitting
    rtol = 1e-8
    atol = 1e-10

    [parameters]                         # fitted parameters; {} takes the model's value
    ka = { init = 0.7, lower = 0.05, upper = 10.0 }
    CL = { scale = "log", prior = ["lognormal", 200.0, 0.5] }
    V = {}

    [fixed]                              # set for every subject, not fitted
    # F = 1.0

    [error]                              # residual error: one model for every NAME ...
    model = "proportional"               # additive | proportional | combined
    proportional = 0.1                   # initial values (ML) or fixed values (WLS)
    # [error.C_plasma]                   # ... or one table per observed NAME
    # model = "combined"
    # additive = 0.5
    # proportional = 0.1
    # estimate = true

    [profile]
    parameters = ["ka", "CL"]            # or true: every fitted parameter

    [posterior]                          # optional emcee run after the fit
    walkers = 32
    steps = 2000
    burn = 500
    thin = 1
    seed = 3

    [predictive]                         # the VPC
    draws = 200
    seed = 4
    level = 0.9
    source = "auto"                      # covariance | posterior | auto

Every section is validated (pydantic, unknown keys rejected); problems are one
:class:`~ldnsim.errors.ConfigError` line naming the file and the key.
"""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ..experiment.messages import config_error
from ..experiment.source import MAX_FILE_BYTES, read_source

__all__ = ["FitConfig", "load_fit_config", "run_fit_config", "MAX_FILE_BYTES"]

Name = Annotated[str, Field(min_length=1)]
Positive = Annotated[float, Field(gt=0)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, frozen=True)


class SolverSettings(_Section):
    rtol: Annotated[float, Field(gt=0, lt=1)] = 1e-8
    atol: Positive = 1e-10
    method: Name = "rodas5p"
    max_steps: Annotated[int, Field(ge=1)] = 100_000


class FitSection(_Section):
    name: Name | None = None
    description: str = ""
    model: Name
    data: Name | Annotated[list[Name], Field(min_length=1)]
    references: Name | Literal[False] | None = None
    scenarios: list[Name] = []
    method: Literal["ml", "wls"] = "ml"
    starts: Annotated[int, Field(ge=1, le=10_000)] = 1
    seed: Annotated[int, Field(ge=0)] | None = None
    gradient: Literal["fd", "sensitivity"] = "fd"
    level: Annotated[float, Field(gt=0, lt=1)] = 0.95
    max_iter: Annotated[int, Field(ge=1)] = 500
    solver: SolverSettings = SolverSettings()


class ParameterEntry(_Section):
    init: float | None = None
    lower: float | None = None
    upper: float | None = None
    scale: Literal["log", "lin"] = "log"
    prior: tuple[Literal["lognormal", "normal", "uniform"], float, float] | None = None


class ErrorEntry(_Section):
    model: Literal["additive", "proportional", "combined"] = "proportional"
    additive: Positive | None = None
    proportional: Positive | None = None
    estimate: bool = True


class ProfileSection(_Section):
    parameters: bool | Annotated[list[Name], Field(min_length=1)] = True


class PosteriorSection(_Section):
    walkers: Annotated[int, Field(ge=2)] | None = None
    steps: Annotated[int, Field(ge=10)] = 2000
    burn: Annotated[int, Field(ge=0)] | None = None
    thin: Annotated[int, Field(ge=1)] = 1
    seed: Annotated[int, Field(ge=0)] | None = None


class PredictiveSection(_Section):
    draws: Annotated[int, Field(ge=10, le=100_000)] = 200
    seed: Annotated[int, Field(ge=0)] = 0
    level: Annotated[float, Field(gt=0, lt=1)] = 0.9
    source: Literal["auto", "covariance", "posterior"] = "auto"


class FitConfig(_Section):
    fit: FitSection
    parameters: Annotated[dict[Name, ParameterEntry], Field(min_length=1)]
    fixed: dict[Name, float] = {}
    error: dict[Name, Any] = {}
    profile: ProfileSection | None = None
    posterior: PosteriorSection | None = None
    predictive: PredictiveSection = PredictiveSection()

    @field_validator("error")
    @classmethod
    def _error(cls, err):
        def check(spec, prefix):
            try:
                ErrorEntry.model_validate(spec)
            except ValidationError as exc:
                e = exc.errors(include_url=False)[0]
                key = ".".join([prefix] * bool(prefix) + [str(p) for p in e["loc"]])
                raise ValueError(f"{key}: {e['msg']}") from None

        if "model" in err and not isinstance(err["model"], dict):
            check(err, "")  # one spec for every NAME
        else:
            for name, spec in err.items():
                if not isinstance(spec, dict):
                    raise ValueError(f"{name}: expected a table {{ model = ..., ... }} (or "
                                     "give model = ... directly under [error])")
                check(spec, name)
        return err


FIT_SECTIONS = {
    (): FitConfig, ("fit",): FitSection, ("fit", "solver"): SolverSettings,
    ("profile",): ProfileSection,
    ("posterior",): PosteriorSection, ("predictive",): PredictiveSection,
}
"""Section path -> its schema (for messages about unknown keys)."""


def load_fit_config(source):
    """Read and validate a fit configuration (a path, TOML text or a dict).

    Returns ``(config, base_dir, where, text)``."""
    raw, text, path, where = read_source(source, what="fit configuration", shipped=False)
    base = path.resolve().parent if path is not None else Path.cwd()
    try:
        config = FitConfig.model_validate(raw)
    except ValidationError as exc:
        raise config_error(where, exc, raw, FIT_SECTIONS) from None
    return config, base, where, text


def _resolve_path(base, name):
    p = Path(name).expanduser()
    return p if p.is_absolute() else base / p


def _model_ref(base, name):
    if name.endswith(".toml") or "/" in name or "\\" in name:
        return _resolve_path(base, name)
    return name


def run_fit_config(source, *, progress=False, log=None):
    """Run a fit configuration: read the data, fit, profile, sample, check.

    Parameters
    ----------
    source : path, TOML text or dict
    progress : bool
        Progress bars on stderr.
    log : callable(str), optional
        Called with one line per stage (the CLI prints them).

    Returns
    -------
    dict
        ``fit`` (the result Dataset), ``problem``, ``check`` (the predictive check Dataset),
        ``config``, ``name``.
    """
    from ..dataset import read_dataset
    from ..model import load_model
    from .fitting import fit_problem
    from .predictive import predictive_check
    from .problem import build_problem

    say = log or (lambda _msg: None)
    config, base, where, text = load_fit_config(source)
    fc = config.fit
    model = load_model(_model_ref(base, fc.model))
    data_paths = [fc.data] if isinstance(fc.data, str) else list(fc.data)
    data_paths = [_resolve_path(base, d) for d in data_paths]
    refs = fc.references
    refs = _resolve_path(base, refs) if isinstance(refs, str) else refs
    data = read_dataset(data_paths if len(data_paths) > 1 else data_paths[0], model,
                        references=refs)
    params = {}
    for name, entry in config.parameters.items():
        spec = {k: v for k, v in entry.model_dump().items() if v is not None}
        params[name] = spec
    error = config.error or None
    problem = build_problem(model, data, params, method=fc.method, error=error,
                            fixed=config.fixed, scenarios=tuple(fc.scenarios),
                            rtol=fc.solver.rtol, atol=fc.solver.atol,
                            solver_method=fc.solver.method, max_steps=fc.solver.max_steps)
    say(f"fitting {len(problem.params)} parameters of {model.name} to {problem.n_obs} "
        f"observations of {problem.n_subjects} subjects ({fc.method}, {fc.starts} start"
        f"{'s' if fc.starts > 1 else ''})")
    profile = ()
    if config.profile is not None:
        profile = config.profile.parameters
        profile = True if profile is True else (() if profile is False else tuple(profile))
    posterior = None
    if config.posterior is not None:
        posterior = {k: v for k, v in config.posterior.model_dump().items() if v is not None}
    name = fc.name or (Path(where).stem if not where.startswith("<") else "fit")
    settings = {"config": text if text is not None else repr(source), "config_file": where,
                "name": name, "description": fc.description}
    ds = fit_problem(problem, starts=fc.starts, seed=fc.seed, gradient=fc.gradient,
                     profile=profile, posterior=posterior, level=fc.level,
                     max_iter=fc.max_iter, progress=progress, settings=settings)
    say(f"objective {ds.attrs['objective']:.6g} ({ds.attrs['objective_name']}), "
        f"{ds.attrs['n_simulations']} candidate simulations in {ds.attrs['fit_seconds']:.1f} s")
    pc = config.predictive
    say(f"predictive check: {pc.draws} draws")
    check = predictive_check(ds, problem, n=pc.draws, seed=pc.seed, source=pc.source,
                             level=pc.level)
    ds.attrs["vpc_coverage"] = check.attrs["coverage"]
    ds.attrs["vpc_level"] = check.attrs["level"]
    return {"fit": ds, "problem": problem, "check": check, "config": config, "name": name}
