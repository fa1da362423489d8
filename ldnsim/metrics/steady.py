"""Steady-state NCA: exposure over one dosing interval at steady state, and accumulation.

:func:`steady_state_nca` reads one concentration variable over the interval ``[start, start +
tau]`` (by default the last whole interval of the output) and returns the usual steady-state
metrics (e.g. Gabrielsson & Weiner, *Pharmacokinetic and Pharmacodynamic Data Analysis*, ch. 2;
the FDA/EMA bioequivalence guidances' definitions of %PTF):

- ``AUCtau``: area under the curve over the interval (linear trapezoids);
- ``Cavg = AUCtau / tau``; ``Cmax_ss``, ``Tmax_ss`` (time after ``start``); ``Cmin_ss`` (lowest
  value in the interval); ``Ctrough``: the value at the end of the interval, ``start + tau``, as
  stored (outputs are right-continuous: when a bolus enters the measured compartment at exactly
  that time the stored value is after it; read ``Cmin_ss`` then);
- ``fluctuation``: peak-trough fluctuation %PTF ``= 100 (Cmax_ss - Cmin_ss) / Cavg``;
- ``accumulation``: ``AUCtau`` over the AUC of the first interval ``[first_start, first_start +
  tau]`` (``Rac``; 1 when the output starts at steady state).
"""
from __future__ import annotations

import numpy as np
import xarray as xr

from ._core import (
    MetricError,
    bad_rows,
    check_positive,
    clip,
    like,
    long_name,
    product_unit,
    profile,
    trapezoid,
    units,
)

__all__ = ["steady_state_nca", "SS_OUTPUTS"]

SS_OUTPUTS = ("AUCtau", "Cavg", "Cmax_ss", "Tmax_ss", "Cmin_ss", "Ctrough", "fluctuation",
              "accumulation")


def _interval(t, lo, tau, what, option):
    hi = lo + tau
    slack = 1e-9 * max(1.0, abs(hi))
    if lo < t[0] - slack or hi > t[-1] + slack:
        raise MetricError(f"the {what} interval [{lo:g}, {hi:g}] is not inside the output "
                          f"times {t[0]:g}..{t[-1]:g}; set {option} or tau, or extend the "
                          "output")
    return max(lo, t[0]), min(hi, t[-1])


def steady_state_nca(ds: xr.Dataset, var: str, tau: float, *, start: float | None = None,
                     first_start: float | None = None) -> xr.Dataset:
    """Steady-state exposure of ``var`` over one dosing interval, and its accumulation.

    Parameters
    ----------
    ds : xarray.Dataset
        A result with ``var`` over ``(..., "time")``.
    var : str
        Concentration variable.
    tau : float
        Dosing interval (model time unit).
    start : float, optional
        Start of the steady-state interval (a dose time); default: ``t_end - tau``.
    first_start : float, optional
        Start of the first interval, for the accumulation ratio; default: the first output
        time.

    Returns
    -------
    xarray.Dataset
        :data:`SS_OUTPUTS` over the other dims of ``var``; NaN on rows that failed.
    """
    check_positive("tau", tau)
    t, values, template = profile(ds, var)
    bad, values = bad_rows(values)
    lo, hi = _interval(t, t[-1] - tau if start is None else float(start), tau, "steady-state",
                       "start")
    tw, vw = clip(t, values, lo, hi)
    f_lo, f_hi = _interval(t, t[0] if first_start is None else float(first_start), tau,
                           "first", "first_start")
    tf, vf = clip(t, values, f_lo, f_hi)
    auc = trapezoid(tw, vw)
    auc_first = trapezoid(tf, vf)
    cavg = auc / (hi - lo)
    cmax = np.max(vw, axis=-1)
    cmin = np.min(vw, axis=-1)
    tmax = tw[np.argmax(vw, axis=-1)] - lo
    with np.errstate(divide="ignore", invalid="ignore"):
        fluct = 100.0 * (cmax - cmin) / cavg
        acc = auc / auc_first

    def out(x):
        return np.where(bad, np.nan, x)

    u, tu = units(ds, var), str(ds["time"].attrs.get("units", ""))
    name = long_name(ds, var)
    res = {
        "AUCtau": like(template, out(auc), units=product_unit(u, tu),
                       long_name=f"AUC of {name} over one dosing interval at steady state"),
        "Cavg": like(template, out(cavg), units=u, long_name=f"average {name} at steady state"),
        "Cmax_ss": like(template, out(cmax), units=u, long_name=f"peak {name} at steady state"),
        "Tmax_ss": like(template, out(tmax), units=tu,
                        long_name="time of the peak after the interval's start"),
        "Cmin_ss": like(template, out(cmin), units=u,
                        long_name=f"lowest {name} in the interval at steady state"),
        "Ctrough": like(template, out(vw[..., -1]), units=u,
                        long_name=f"{name} at the end of the interval"),
        "fluctuation": like(template, out(fluct), units="%",
                            long_name="peak-trough fluctuation 100 (Cmax - Cmin) / Cavg"),
        "accumulation": like(template, out(acc), units="1",
                             long_name="accumulation ratio AUCtau / AUC of the first interval"),
    }
    return xr.Dataset(res, attrs={"metric": "steady_state_nca", "var": var, "tau": float(tau),
                                  "start": float(lo), "first_start": float(f_lo)})
