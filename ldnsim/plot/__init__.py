"""Plots of results and metrics: data first, ``ax=None``, return the Axes.

matplotlib is imported inside the functions, never at module import, so ``import ldnsim``
stays free of a GUI stack; pick a backend (``matplotlib.use("Agg")``) before plotting headless.
Axis labels are ``long_name [units]`` from the attrs, as xarray does.

Layout: :mod:`~ldnsim.plot.results` (time courses, populations, dose response),
:mod:`~ldnsim.plot.window` (the LDN window figure), :mod:`~ldnsim.plot.fit` (visual predictive
checks, goodness of fit, profile likelihoods of a fit).
"""
from ._base import PlotError
from .fit import plot_gof, plot_profile_likelihoods, plot_vpc
from .results import plot_dose_response, plot_population, plot_profiles
from .window import plot_window

__all__ = ["plot_profiles", "plot_dose_response", "plot_window", "plot_population", "PlotError",
           "plot_vpc", "plot_gof", "plot_profile_likelihoods"]
