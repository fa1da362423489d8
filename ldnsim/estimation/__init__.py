"""Parameter estimation: observed data + a model -> estimates with uncertainty.

- :func:`fit` (``ldnsim.fit``): weighted least squares or maximum likelihood with additive,
  proportional or combined residual error, log-scale parameters with bounds, multi-start,
  Fisher-information standard errors, Wald and profile-likelihood intervals, an optional
  emcee posterior; the result is an ``xarray.Dataset`` (save it with ``save_fit``).
- :func:`predictive_check`: simulate the fitted model with its uncertainty at the data's design
  (its figures: ``ldnsim.plot.plot_vpc``, ``plot_gof``, ``plot_profile_likelihoods``).
- :func:`draw_parameters`: N seeded parameter draws from a fit's covariance or posterior.
- :func:`write_overlay` / :func:`apply_overlay`: fitted values as a scenario-like TOML overlay.
- :func:`export_petab`: the fit problem as PEtab (SBML + tables + YAML).

The module layout: ``problem`` (data + model -> one simulation batch), ``objective`` (error
models, likelihood, Fisher information), ``optimise``, ``fitting``, ``profile``, ``posterior``,
``predictive``,
``draws``, ``overlay``, ``petab``, ``sensitivity`` (forward sensitivities), ``synthetic``
(simulated data sets for tests and benchmarks), ``config`` and ``cli`` (``ldnsim fit``).
"""
from importlib import import_module

_LAZY = {
    "fit": "ldnsim.estimation.fitting", "fit_problem": "ldnsim.estimation.fitting",
    "FitWarning": "ldnsim.estimation.optimise",
    "build_problem": "ldnsim.estimation.problem", "Problem": "ldnsim.estimation.problem",
    "EstimationError": "ldnsim.estimation.problem",
    "ParameterSpec": "ldnsim.estimation.problem", "ErrorSpec": "ldnsim.estimation.problem",
    "Objective": "ldnsim.estimation.objective",
    "profile_likelihood": "ldnsim.estimation.profile",
    "sample_posterior": "ldnsim.estimation.posterior",
    "predictive_check": "ldnsim.estimation.predictive",
    "draw_parameters": "ldnsim.estimation.draws",
    "save_fit": "ldnsim.estimation.draws", "open_fit": "ldnsim.estimation.draws",
    "problem_from_fit": "ldnsim.estimation.draws",
    "write_overlay": "ldnsim.estimation.overlay", "read_overlay": "ldnsim.estimation.overlay",
    "apply_overlay": "ldnsim.estimation.overlay",
    "export_petab": "ldnsim.estimation.petab",
    "synthetic_dataset": "ldnsim.estimation.synthetic",
    "load_fit_config": "ldnsim.estimation.config", "run_fit_config": "ldnsim.estimation.config",
}

__all__ = sorted(_LAZY)


def __getattr__(name):
    mod = _LAZY.get(name)
    if mod is None:
        raise AttributeError(f"module 'ldnsim.estimation' has no attribute {name!r}")
    value = getattr(import_module(mod), name)
    globals()[name] = value
    return value


def __dir__():
    return __all__
