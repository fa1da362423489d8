"""Plumbing shared by the metrics: one row per trajectory, time on the last axis, numpy inside."""

from __future__ import annotations

import warnings

import numpy as np

from ldnsim.errors import LdnsimError

LN2 = np.log(2.0)


class MetricError(LdnsimError, ValueError):
    """A metric was asked for a variable the result lacks, or given impossible options."""


def profile(ds, var):
    """``(t, values, template)``: times, values shaped (..., n_time), and a time-less template."""
    if var not in ds:
        available = ", ".join(sorted(str(v) for v in ds.data_vars)) or "none"
        raise MetricError(f"variable {var!r} is not in the result; available: {available}")
    da = ds[var]
    if "time" not in da.dims:
        raise MetricError(f"variable {var!r} has no 'time' dim (dims: {da.dims})")
    da = da.transpose(..., "time")
    t = np.asarray(da["time"].values, dtype=float)
    if t.size < 2:
        raise MetricError(f"variable {var!r} needs at least 2 time points, has {t.size}")
    values = np.asarray(da.values, dtype=float)
    # Drop every coordinate that depends on time; keep dose, scenario, subject, ...
    template = da.isel(time=0, drop=True)
    template = template.drop_vars([c for c in template.coords if "time" in da[c].dims],
                                  errors="ignore")
    return t, values, template


def units(ds, name):
    return str(ds[name].attrs.get("units", "")) if name in ds.variables else ""


def long_name(ds, name):
    return str(ds[name].attrs.get("long_name", name))


def like(template, values, **attrs):
    """A DataArray with the dims and coords of ``template``, new values and attrs."""
    out = template.copy(data=np.asarray(values, dtype=float))
    out.attrs = {k: v for k, v in attrs.items() if v is not None}
    return out


def bad_rows(values):
    """Boolean mask over rows with any NaN, and the values with those rows zeroed."""
    bad = np.isnan(values).any(axis=-1)
    return bad, np.where(bad[..., None], 0.0, values)


def product_unit(u, tu):
    if u in ("", "1"):
        return tu
    return f"{u}*{tu}" if tu else u


def check_positive(name, value):
    if not (np.isfinite(value) and value > 0):
        raise MetricError(f"{name} must be a positive number, got {value!r}")


def window_bounds(t, start, end):
    lo = t[0] if start is None else max(float(start), t[0])
    hi = t[-1] if end is None else min(float(end), t[-1])
    if not hi > lo:
        raise MetricError(f"empty time window [{start}, {end}] for times {t[0]}..{t[-1]}")
    return lo, hi


def last_days_window(t, day, last_days):
    check_positive("day", day)
    check_positive("last_days", last_days)
    hi = t[-1]
    lo = hi - day * last_days
    if lo < t[0] - 1e-9 * max(1.0, abs(hi)):
        warnings.warn(f"the simulation covers {hi - t[0]:g} time units, shorter than "
                      f"last_days={last_days:g} x day={day:g}; using all of it", UserWarning,
                      stacklevel=3)
        lo = t[0]
    return max(lo, t[0]), hi


def interp_at(t, values, x):
    """Linear interpolation of every row of ``values`` at the scalar time ``x``."""
    i = int(np.clip(np.searchsorted(t, x, side="right") - 1, 0, t.size - 2))
    dt = t[i + 1] - t[i]
    w = (x - t[i]) / dt if dt > 0 else 0.0
    return values[..., i] * (1.0 - w) + values[..., i + 1] * w


def clip(t, values, lo, hi):
    """Samples inside ``[lo, hi]`` with interpolated values added exactly at ``lo`` and ``hi``."""
    inner = (t > lo) & (t < hi)
    tw = np.concatenate([[lo], t[inner], [hi]])
    vw = np.concatenate([interp_at(t, values, lo)[..., None], values[..., inner],
                         interp_at(t, values, hi)[..., None]], axis=-1)
    return tw, vw


def trapezoid(t, values):
    return np.sum(np.diff(t) * 0.5 * (values[..., 1:] + values[..., :-1]), axis=-1)
