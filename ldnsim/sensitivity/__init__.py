"""Global sensitivity analysis: which uncertain parameters decide a metric.

An experiment with a ``[sensitivity]`` section declares the parameters' ranges (uniform or
log-uniform), the method and the metric outputs to analyse::

    [sensitivity]
    method = "sobol"          # Saltelli scheme on a scrambled Sobol sequence; or "morris"
    n = 256                   # Sobol: base size (power of 2), n (D + 2) rows; Morris: paths
    seed = 1
    log = true                # log-uniform (or a list of names)
    ranges = { kdeg_R = [0.00413, 0.0289], g_lig = [0.05, 1.0] }
    normal = { CL_ntx = [82.7, 7.0] }          # or distributions (Sobol): mean, sd
    lognormal = { Kd_ntx = [0.087, 0.17] }     #   median, sd of the log
    outputs = ["immune_index_end", "blockade_hours", "highest_dose_in_window"]
    second_order = false      # S2 (Sobol): n (2D + 2) rows
    resamples = 1000          # bootstrap resamples for the confidence intervals
    confidence = 0.95
    levels = 4                # Morris grid levels

The design becomes the sweep's ``sample`` dim; every other axis (dose, scenario, subjects)
stays, so indices come per dose and scenario. ``[output] trajectories = false`` keeps only
the metrics (computed per chunk), which is what makes 10^5-10^6 rows affordable.

- :func:`run_sensitivity` (:mod:`~ldnsim.sensitivity.run`): run and analyse an experiment;
- :func:`analyse` (:mod:`~ldnsim.sensitivity.analysis`): indices of metric outputs over a design;
- :func:`sensitivity_design` (:mod:`~ldnsim.sensitivity.design`): the SALib designs;
- :func:`plot_sensitivity` (:mod:`~ldnsim.sensitivity.figure`): the figure.

SALib (``pip install 'ldnsim[sensitivity]'``) samples and computes the indices.
"""
from __future__ import annotations

from importlib import import_module

__all__ = ["run_sensitivity", "SensitivityResult", "analyse", "sobol_indices", "morris_effects",
           "sensitivity_design", "Design", "plot_sensitivity", "DERIVED_OUTPUTS"]

# name -> defining module; loaded on first use, so that the experiment layer can import the
# design module without this package importing the experiment layer back.
_LAZY = {
    "run_sensitivity": ".run", "SensitivityResult": ".run",
    "analyse": ".analysis", "sobol_indices": ".analysis", "morris_effects": ".analysis",
    "DERIVED_OUTPUTS": ".analysis",
    "sensitivity_design": ".design", "Design": ".design",
    "plot_sensitivity": ".figure",
}


def __getattr__(name: str):
    mod = _LAZY.get(name)
    if mod is None:
        raise AttributeError(f"module 'ldnsim.sensitivity' has no attribute {name!r}")
    value = getattr(import_module(mod, __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return __all__
