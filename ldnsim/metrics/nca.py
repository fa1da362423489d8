"""Non-compartmental analysis of simulated profiles."""

from __future__ import annotations

from typing import Literal

import numpy as np
import xarray as xr

from ._core import (
    LN2,
    MetricError,
    bad_rows,
    clip,
    like,
    long_name,
    product_unit,
    profile,
    units,
    window_bounds,
)

__all__ = ["nca", "NCA_OUTPUTS"]

#: What :func:`nca` returns.
NCA_OUTPUTS = ("Cmax", "Tmax", "AUC", "AUCinf", "lambda_z", "half_life")


def _auc_intervals(t, c, method):
    """Per-interval AUC, shape (..., n_time - 1), linear or linear-up/log-down."""
    dt = np.diff(t)
    a, b = c[..., :-1], c[..., 1:]
    linear = dt * 0.5 * (a + b)
    if method == "linear":
        return linear
    # Log trapezoid where the profile falls and stays positive: exact for exponential decay,
    # where the linear rule overestimates. log1p keeps (a-b)/ln(a/b) accurate when a ~ b.
    down = (b < a) & (b > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_down = dt * (a - b) / np.log1p((a - b) / np.where(down, b, 1.0))
    return np.where(down, log_down, linear)


def _lambda_z(t, c, imax, k):
    """Terminal slope by log-linear least squares on the last ``k`` samples (NaN if invalid)."""
    n = t.size
    tail_t, tail_c = t[-k:], c[..., -k:]
    ok = ((tail_c > 0).all(axis=-1) & (np.diff(tail_c, axis=-1) < 0).all(axis=-1)
          & (imax < n - k))  # the peak itself is never part of the terminal phase
    logc = np.log(np.where(ok[..., None], tail_c, 1.0))
    tc = tail_t - tail_t.mean()
    slope = np.sum(tc * (logc - logc.mean(axis=-1, keepdims=True)), axis=-1) / np.sum(tc * tc)
    return np.where(ok & (slope < 0), -slope, np.nan)


def nca(ds: xr.Dataset, var: str, *, start: float | None = None, end: float | None = None,
        lambda_z_points: int = 3,
        auc_method: Literal["linear-up/log-down", "linear"] = "linear-up/log-down"
        ) -> xr.Dataset:
    """Non-compartmental analysis: Cmax, Tmax, AUC, AUCinf, lambda_z and terminal half-life.

    Parameters
    ----------
    ds : xarray.Dataset
        A result with ``var`` over ``(..., "time")``.
    var : str
        Concentration variable.
    start, end : float, optional
        Analyse only ``start <= time <= end`` (e.g. the last dosing interval at steady state);
        values at the window edges are interpolated when they fall between samples.
    lambda_z_points : int
        k, the number of final samples used for the terminal slope (at least 3).
    auc_method : {"linear-up/log-down", "linear"}
        Trapezoid rule. The log-down rule is exact for mono-exponential decline.

    Returns
    -------
    xarray.Dataset
        ``Cmax``; ``Tmax`` (time of the first maximum, measured from ``start`` when given,
        otherwise the absolute time; NaN when the profile never rises above zero); ``AUC``
        (from the window start to its last sample); ``lambda_z`` and ``half_life``
        (``ln 2 / lambda_z``); ``AUCinf`` (``AUC + C_last / lambda_z``).

    Notes
    -----
    Terminal-phase rule: ``lambda_z`` is minus the slope of an ordinary least-squares fit of
    ``ln C`` against time over the last ``k = lambda_z_points`` samples of the window. It is
    estimated only when those k samples are all positive, strictly decreasing, and all come
    after Tmax; otherwise ``lambda_z``, ``half_life`` and ``AUCinf`` are NaN. Choose ``end``
    and the output grid so that the last k samples lie in the terminal phase (for model output
    they are noise-free, so a short fit is accurate).
    """
    if auc_method not in ("linear-up/log-down", "linear"):
        raise MetricError(f"auc_method must be 'linear-up/log-down' or 'linear', "
                          f"got {auc_method!r}")
    k = int(lambda_z_points)
    if k < 3 or k != lambda_z_points:
        raise MetricError(f"lambda_z_points must be an integer >= 3, got {lambda_z_points!r}")
    t, c, template = profile(ds, var)
    lo, hi = window_bounds(t, start, end)
    t, c = clip(t, c, lo, hi)
    if t.size < k:
        raise MetricError(f"the window [{lo:g}, {hi:g}] holds {t.size} samples, fewer than "
                          f"lambda_z_points={k}")
    bad, c = bad_rows(c)

    imax = np.argmax(c, axis=-1)
    cmax = np.take_along_axis(c, imax[..., None], axis=-1)[..., 0]
    tmax = t[imax] - (lo if start is not None else 0.0)
    tmax = np.where(cmax > 0, tmax, np.nan)
    auc = np.sum(_auc_intervals(t, c, auc_method), axis=-1)
    lambda_z = _lambda_z(t, c, imax, k)
    with np.errstate(divide="ignore", invalid="ignore"):
        half_life = LN2 / lambda_z
        auc_inf = auc + c[..., -1] / lambda_z

    def nan_bad(x):
        return np.where(bad, np.nan, x)

    cu, tu = units(ds, var), units(ds, "time")
    name = long_name(ds, var)
    common = {"variable": var, "window": f"[{lo:g}, {hi:g}] {tu}".strip()}
    out = {
        "Cmax": like(template, nan_bad(cmax), units=cu, long_name=f"peak {name}", **common),
        "Tmax": like(template, nan_bad(tmax), units=tu, long_name=f"time of peak {name}",
                      **common),
        "AUC": like(template, nan_bad(auc), units=product_unit(cu, tu),
                     long_name=f"area under {name} over the window ({auc_method})",
                     **common),
        "AUCinf": like(template, nan_bad(auc_inf), units=product_unit(cu, tu),
                        long_name=f"area under {name} extrapolated to infinity", **common),
        "lambda_z": like(template, nan_bad(lambda_z), units=f"1/{tu}" if tu else "",
                          long_name=f"terminal rate constant of {name}",
                          lambda_z_points=k, **common),
        "half_life": like(template, nan_bad(half_life), units=tu,
                           long_name=f"terminal half-life of {name}", lambda_z_points=k,
                           **common),
    }
    return xr.Dataset(out)
