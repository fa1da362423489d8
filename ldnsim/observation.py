"""Residual error: simulated observations ``<var>_obs`` from predictions, and the error models
the fitting layer uses for the same variables (``ldnsim.estimation``).

With the prediction ``f`` and a standard normal ``eps`` (one per subject, time and variable):

- additive:      ``y = f + a * eps``                       (sd ``a``)
- proportional:  ``y = f + b * |f| * eps``                 (sd ``b |f|``)
- combined:      ``y = f + sqrt(a**2 + b**2 f**2) * eps``  (sd ``sqrt(a^2 + b^2 f^2)``)
- exponential:   ``y = f * exp(s * eps)``                  (log-normal: sd ``s`` of ``log y``;
  also called ``lognormal``; positive ``f`` stays positive)

The sd of the first three is :func:`residual_sd`, which the estimation layer's objective uses
too, so a fit of simulated observations assumes the error model that made them. Draws come from
one ``numpy.random.Generator`` seeded with ``SeedSequence(seed)`` over the whole result in C
order of its dims, so the same experiment with the same seed gives the same observations
(independently of chunks and threads: the noise is drawn after the solve, on the assembled
result). Failed rows (NaN) stay NaN.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ldnsim.errors import ConfigError

__all__ = ["ERROR_MODELS", "ResidualError", "residual_sd", "add_observations", "OBS_SUFFIX"]

#: Residual error models; the first three are also the fitting layer's.
ERROR_MODELS = ("additive", "proportional", "combined", "exponential")
#: Suffix of simulated observation variables: ``C_plasma`` -> ``C_plasma_obs``.
OBS_SUFFIX = "_obs"


def residual_sd(model, f, additive=0.0, proportional=0.0):
    """Standard deviation of an observation with prediction ``f``.

    Parameters
    ----------
    model : {"additive", "proportional", "combined"}
    f : array_like
        Predictions (any shape).
    additive, proportional : float
        ``a`` (in the variable's unit) and ``b`` (a fraction).

    Returns
    -------
    ndarray
        The shape of ``f``: ``a``, ``b |f|`` or ``sqrt(a^2 + b^2 f^2)``.
    """
    f = np.asarray(f, dtype=float)
    if model == "additive":
        return np.full(f.shape, float(additive))
    if model == "proportional":
        return float(proportional) * np.abs(f)
    if model == "combined":
        a, b = float(additive), float(proportional)
        return np.sqrt(a * a + (b * f) ** 2)
    raise ConfigError(f"residual_sd: error model must be additive, proportional or combined, "
                      f"got {model!r}")


@dataclass(frozen=True)
class ResidualError:
    """The residual error of one variable (see the module docstring).

    Parameters
    ----------
    variable : str
    model : {"additive", "proportional", "combined", "exponential"}
        None: read from the values given (``additive`` and ``proportional`` -> combined).
    additive, proportional : float or None
        ``a`` in the variable's unit, ``b`` a fraction (0.1 is 10%).
    exponential : float or None
        sd of ``log y`` (log-normal error).
    """

    variable: str
    model: str | None = None
    additive: float | None = None
    proportional: float | None = None
    exponential: float | None = None

    def __post_init__(self):
        where = f"[observation] {self.variable}"
        for key in ("additive", "proportional", "exponential"):
            v = getattr(self, key)
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))
                                  or not math.isfinite(v) or v < 0):
                raise ConfigError(f"{where}: {key} must be a number >= 0, got {v!r}")
        given = [k for k in ("additive", "proportional", "exponential")
                 if getattr(self, k) is not None]
        model = self.model
        if model == "lognormal":
            model = "exponential"
        if model is None:
            if not given:
                raise ConfigError(f"{where}: give additive, proportional (or both: combined) "
                                  "or exponential, e.g. { proportional = 0.1 }")
            model = ("exponential" if "exponential" in given else "combined"
                     if len(given) == 2 else given[0])
        if model not in ERROR_MODELS:
            raise ConfigError(f"{where}: model must be one of {', '.join(ERROR_MODELS)} (or "
                              f"lognormal), got {model!r}")
        need = {"additive": ("additive",), "proportional": ("proportional",),
                "combined": ("additive", "proportional"), "exponential": ("exponential",)}
        missing = [k for k in need[model] if getattr(self, k) is None]
        extra = [k for k in given if k not in need[model]]
        if missing:
            raise ConfigError(f"{where}: a {model} error needs {' and '.join(need[model])}")
        if extra:
            raise ConfigError(f"{where}: {', '.join(extra)} does not go with a {model} error")
        object.__setattr__(self, "model", model)

    def sd(self, f):
        """sd of the observation at prediction ``f`` (of ``log y`` for exponential)."""
        if self.model == "exponential":
            return np.full(np.shape(f), float(self.exponential))
        return residual_sd(self.model, f, self.additive or 0.0, self.proportional or 0.0)

    def observe(self, f, eps):
        """Observations from predictions ``f`` and standard normals ``eps`` (same shape)."""
        f = np.asarray(f, dtype=float)
        if self.model == "exponential":
            return f * np.exp(float(self.exponential) * eps)
        return f + self.sd(f) * eps

    def describe(self) -> str:
        parts = {"additive": self.additive, "proportional": self.proportional,
                 "exponential": self.exponential}
        return f"{self.model} (" + ", ".join(f"{k} {v:g}" for k, v in parts.items()
                                            if v is not None) + ")"


def add_observations(ds, errors, seed):
    """``ds`` with a variable ``<var>_obs`` for each residual error.

    Parameters
    ----------
    ds : xarray.Dataset
        A result (variables over ``(*dims, "time")``).
    errors : sequence of ResidualError
    seed : int >= 0

    Returns
    -------
    xarray.Dataset
        A copy with ``<var>_obs`` (same dims, units and a ``residual_error`` attribute) and
        ``observation_seed`` in attrs.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"the observation seed must be an integer >= 0, got {seed!r}")
    rng = np.random.default_rng(np.random.SeedSequence(int(seed)))
    new = {}
    for err in errors:
        if err.variable not in ds.data_vars:
            raise ConfigError(f"[observation] {err.variable}: not a variable of the result; "
                              f"variables: {', '.join(map(str, ds.data_vars))}")
        name = err.variable + OBS_SUFFIX
        if name in ds.variables:
            raise ConfigError(f"[observation] {err.variable}: the result has a variable "
                              f"{name!r} already")
        da = ds[err.variable]
        eps = rng.standard_normal(da.shape)
        with np.errstate(invalid="ignore", over="ignore"):
            values = err.observe(da.values, eps)
        attrs = {k: v for k, v in da.attrs.items() if k in ("units",)}
        attrs.update(long_name=f"simulated observation of {da.attrs.get('long_name', da.name)}",
                     residual_error=err.describe())
        new[name] = da.copy(data=values).assign_attrs(attrs)
    out = ds.assign(new)
    out.attrs = {**ds.attrs, "observation_seed": int(seed)}
    return out
