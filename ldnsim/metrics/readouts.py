"""Readouts of simulated profiles: time above a threshold, extremes, rebound, end and peak
values. Generic: every function takes the variable it reads (no model's names as defaults)."""

from __future__ import annotations

from typing import Literal

import numpy as np
import xarray as xr

from ._core import (
    MetricError,
    bad_rows,
    clip,
    last_days_window,
    like,
    long_name,
    profile,
    trapezoid,
    units,
    window_bounds,
)

__all__ = ["blockade_hours", "occupancy_summary", "rebound", "end_value", "peak"]


def _time_above(t, v, threshold):
    """Total time each row spends above ``threshold``, the profile linear between samples."""
    dt = np.diff(t)
    da, db = v[..., :-1] - threshold, v[..., 1:] - threshold
    above_a, above_b = da > 0, db > 0
    # On an interval that crosses the threshold, the linear profile is above it for the
    # fraction (positive excess) / (|excess at a| + |excess at b|) of the interval.
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = (np.maximum(da, 0) + np.maximum(db, 0)) / (np.abs(da) + np.abs(db))
    part = np.where(above_a & above_b, 1.0, np.where(above_a != above_b, frac, 0.0))
    return np.sum(dt * part, axis=-1)


def blockade_hours(ds: xr.Dataset, var: str, threshold: float = 0.5, *, day: float = 24.0,
                   last_days: float = 7) -> xr.Dataset:
    """Mean time per day that ``var`` stays above ``threshold``, over the last days.

    Parameters
    ----------
    ds : xarray.Dataset
        A result with ``var`` (receptor occupancy by drug, 0-1) over ``(..., "time")``.
    var : str
        Occupancy variable.
    threshold : float
        Occupancy above which the receptor counts as blocked.
    day : float
        Length of a day in the model's time unit (24 for hours).
    last_days : float
        Average over the window ``[t_end - last_days * day, t_end]``.

    Returns
    -------
    xarray.Dataset
        ``blockade_hours``: time above threshold per day, in ``<time unit>/day``.

    Notes
    -----
    Threshold crossings are located by linear interpolation between samples, not by counting
    samples, so hourly output resolves crossings to well under an hour.
    """
    t, v, template = profile(ds, var)
    lo, hi = last_days_window(t, day, last_days)
    tw, vw = clip(t, v, lo, hi)
    bad, vw = bad_rows(vw)
    per_day = _time_above(tw, vw, float(threshold)) / ((hi - lo) / day)
    tu = units(ds, "time") or "h"
    out = like(template, np.where(bad, np.nan, per_day), units=f"{tu}/day",
                long_name=f"daily blockade time ({var} > {threshold:g})",
                variable=var, threshold=float(threshold), day=float(day),
                window=f"[{lo:g}, {hi:g}] {tu}")
    return xr.Dataset({"blockade_hours": out})


def occupancy_summary(ds: xr.Dataset, var: str, *, day: float = 24.0) -> xr.Dataset:
    """Steady-state peak and trough of ``var`` over the last day.

    Parameters
    ----------
    ds : xarray.Dataset
    var : str
        Occupancy (or any) variable.
    day : float
        Length of the final window (one dosing interval for daily dosing).

    Returns
    -------
    xarray.Dataset
        ``occupancy_peak`` and ``occupancy_trough`` (max and min over the last day).
    """
    t, v, template = profile(ds, var)
    lo, hi = last_days_window(t, day, 1)
    tw, vw = clip(t, v, lo, hi)
    bad, vw = bad_rows(vw)
    u, name, tu = units(ds, var), long_name(ds, var), units(ds, "time")
    common = {"units": u, "variable": var, "window": f"[{lo:g}, {hi:g}] {tu}".strip()}
    return xr.Dataset({
        "occupancy_peak": like(template, np.where(bad, np.nan, vw.max(axis=-1)),
                                long_name=f"peak {name} over the last day", **common),
        "occupancy_trough": like(template, np.where(bad, np.nan, vw.min(axis=-1)),
                                  long_name=f"trough {name} over the last day", **common),
    })


def baseline_of(values, baseline):
    if isinstance(baseline, str):
        if baseline != "initial":
            raise MetricError(f"baseline must be a number or 'initial', got {baseline!r}")
        return values[..., 0]
    return float(baseline)


def rebound(ds: xr.Dataset, var: str, baseline: float | Literal["initial"] = 1.0, *,
            day: float = 24.0, last_days: float = 7) -> xr.Dataset:
    """Overshoot of ``var`` above its baseline over the last days.

    Parameters
    ----------
    ds : xarray.Dataset
    var : str
        Signal relative to the untreated baseline.
    baseline : float or "initial"
        The untreated level; ``"initial"`` takes each row's value at the first time.
    day, last_days : float
        The window is ``[t_end - last_days * day, t_end]``.

    Returns
    -------
    xarray.Dataset
        ``rebound_max``: the largest excess over baseline in the window, 0 when the signal
        never exceeds it; ``rebound_mean``: time-average of ``var - baseline`` over the window
        (signed: positive means net enhancement, negative net suppression).
    """
    t, v, template = profile(ds, var)
    base = np.asarray(baseline_of(v, baseline), dtype=float)
    lo, hi = last_days_window(t, day, last_days)
    tw, vw = clip(t, v, lo, hi)
    bad, vw = bad_rows(vw)
    bad = bad | np.isnan(base)
    excess = vw - np.nan_to_num(base)[..., None]
    u, name, tu = units(ds, var), long_name(ds, var), units(ds, "time")
    common = {"units": u, "variable": var, "baseline": str(baseline),
              "window": f"[{lo:g}, {hi:g}] {tu}".strip()}
    return xr.Dataset({
        "rebound_max": like(template, np.where(bad, np.nan, np.maximum(excess.max(axis=-1), 0)),
                             long_name=f"largest overshoot of {name} above baseline",
                             **common),
        "rebound_mean": like(template, np.where(bad, np.nan, trapezoid(tw, excess) / (hi - lo)),
                              long_name=f"time-averaged {name} minus baseline", **common),
    })


def end_value(ds: xr.Dataset, var: str | list[str]) -> xr.Dataset:
    """Value of each variable at the last output time, as ``<var>_end``.

    Parameters
    ----------
    ds : xarray.Dataset
    var : str or sequence of str

    Returns
    -------
    xarray.Dataset
    """
    names = [var] if isinstance(var, str) else list(var)
    out = {}
    for name in names:
        t, v, template = profile(ds, name)
        bad, v = bad_rows(v)
        out[f"{name}_end"] = like(template, np.where(bad, np.nan, v[..., -1]),
                                   units=units(ds, name) or None, variable=name,
                                   long_name=f"{long_name(ds, name)} at t = {t[-1]:g}")
    return xr.Dataset(out)


def peak(ds: xr.Dataset, var: str, *, start: float | None = None,
         end: float | None = None) -> xr.Dataset:
    """Maximum of ``var`` and the time it is first reached, as ``<var>_peak``/``<var>_peak_time``.

    Parameters
    ----------
    ds : xarray.Dataset
    var : str
    start, end : float, optional
        Restrict to ``start <= time <= end``.

    Returns
    -------
    xarray.Dataset
    """
    t, v, template = profile(ds, var)
    lo, hi = window_bounds(t, start, end)
    tw, vw = clip(t, v, lo, hi)
    bad, vw = bad_rows(vw)
    i = np.argmax(vw, axis=-1)
    u, name, tu = units(ds, var), long_name(ds, var), units(ds, "time")
    return xr.Dataset({
        f"{var}_peak": like(template, np.where(bad, np.nan, vw.max(axis=-1)), units=u,
                             long_name=f"peak {name}", variable=var),
        f"{var}_peak_time": like(template, np.where(bad, np.nan, tw[i]), units=tu,
                                  long_name=f"time of peak {name}", variable=var),
    })
