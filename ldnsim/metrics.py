"""Summary metrics of simulated profiles: functions ``Dataset -> Dataset``.

Every metric reduces the ``time`` dim and keeps every other dim and coordinate (dose, scenario,
subject, swept parameters), so a whole sweep is summarised in one vectorised call.

Conventions shared by all metrics
---------------------------------
- **Failed rows.** A row (one trajectory) that contains any NaN -- the sweep masks failed solves
  as NaN -- gives NaN for every metric of that row. Metrics never raise on NaN and emit no
  warnings for it.
- **Profiles between samples** are taken as linear in time (the same rule as the linear
  trapezoid); window edges that fall between samples are interpolated, so results do not depend
  on whether a window boundary coincides with a sample.
- **Windows "over the last days"** end at the last output time. When the simulation is shorter
  than the requested window, the whole simulation is used and a ``UserWarning`` says so; the
  window actually used is in the result's attrs.
- **Units** come from the ``units`` attrs of the analysed variable and of ``time``.
"""

from __future__ import annotations

import inspect
import warnings

import numpy as np
import xarray as xr

from .errors import ConfigError, LdnsimError

__all__ = [
    "METRICS", "MetricError", "compute_metrics", "nca", "blockade_hours", "occupancy_summary",
    "rebound", "end_value", "peak", "window_summary",
]

LN2 = np.log(2.0)


class MetricError(LdnsimError, ValueError):
    """A metric was asked for a variable the result lacks, or given impossible options."""


# ---------------------------------------------------------------------------------------------
# Plumbing: one row per trajectory, time on the last axis, plain numpy inside.


def _profile(ds, var):
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


def _units(ds, name):
    return str(ds[name].attrs.get("units", "")) if name in ds.variables else ""


def _long_name(ds, name):
    return str(ds[name].attrs.get("long_name", name))


def _like(template, values, **attrs):
    """A DataArray with the dims and coords of ``template``, new values and attrs."""
    out = template.copy(data=np.asarray(values, dtype=float))
    out.attrs = {k: v for k, v in attrs.items() if v is not None}
    return out


def _bad_rows(values):
    """Boolean mask over rows with any NaN, and the values with those rows zeroed."""
    bad = np.isnan(values).any(axis=-1)
    return bad, np.where(bad[..., None], 0.0, values)


def _product_unit(u, tu):
    if u in ("", "1"):
        return tu
    return f"{u}*{tu}" if tu else u


def _check_positive(name, value):
    if not (np.isfinite(value) and value > 0):
        raise MetricError(f"{name} must be a positive number, got {value!r}")


def _window_bounds(t, start, end):
    lo = t[0] if start is None else max(float(start), t[0])
    hi = t[-1] if end is None else min(float(end), t[-1])
    if not hi > lo:
        raise MetricError(f"empty time window [{start}, {end}] for times {t[0]}..{t[-1]}")
    return lo, hi


def _last_days_window(t, day, last_days):
    _check_positive("day", day)
    _check_positive("last_days", last_days)
    hi = t[-1]
    lo = hi - day * last_days
    if lo < t[0] - 1e-9 * max(1.0, abs(hi)):
        warnings.warn(f"the simulation covers {hi - t[0]:g} time units, shorter than "
                      f"last_days={last_days:g} x day={day:g}; using all of it", UserWarning,
                      stacklevel=3)
        lo = t[0]
    return max(lo, t[0]), hi


def _interp_at(t, values, x):
    """Linear interpolation of every row of ``values`` at the scalar time ``x``."""
    i = int(np.clip(np.searchsorted(t, x, side="right") - 1, 0, t.size - 2))
    dt = t[i + 1] - t[i]
    w = (x - t[i]) / dt if dt > 0 else 0.0
    return values[..., i] * (1.0 - w) + values[..., i + 1] * w


def _clip(t, values, lo, hi):
    """Samples inside ``[lo, hi]`` with interpolated values added exactly at ``lo`` and ``hi``."""
    inner = (t > lo) & (t < hi)
    tw = np.concatenate([[lo], t[inner], [hi]])
    vw = np.concatenate([_interp_at(t, values, lo)[..., None], values[..., inner],
                         _interp_at(t, values, hi)[..., None]], axis=-1)
    return tw, vw


def _trapezoid(t, values):
    return np.sum(np.diff(t) * 0.5 * (values[..., 1:] + values[..., :-1]), axis=-1)


# ---------------------------------------------------------------------------------------------
# Non-compartmental analysis


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


def nca(ds, var="C_ntx", *, start=None, end=None, lambda_z_points=3,
        auc_method="linear-up/log-down"):
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
    t, c, template = _profile(ds, var)
    lo, hi = _window_bounds(t, start, end)
    t, c = _clip(t, c, lo, hi)
    if t.size < k:
        raise MetricError(f"the window [{lo:g}, {hi:g}] holds {t.size} samples, fewer than "
                          f"lambda_z_points={k}")
    bad, c = _bad_rows(c)

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

    cu, tu = _units(ds, var), _units(ds, "time")
    name = _long_name(ds, var)
    common = {"variable": var, "window": f"[{lo:g}, {hi:g}] {tu}".strip()}
    out = {
        "Cmax": _like(template, nan_bad(cmax), units=cu, long_name=f"peak {name}", **common),
        "Tmax": _like(template, nan_bad(tmax), units=tu, long_name=f"time of peak {name}",
                      **common),
        "AUC": _like(template, nan_bad(auc), units=_product_unit(cu, tu),
                     long_name=f"area under {name} over the window ({auc_method})",
                     **common),
        "AUCinf": _like(template, nan_bad(auc_inf), units=_product_unit(cu, tu),
                        long_name=f"area under {name} extrapolated to infinity", **common),
        "lambda_z": _like(template, nan_bad(lambda_z), units=f"1/{tu}" if tu else "",
                          long_name=f"terminal rate constant of {name}",
                          lambda_z_points=k, **common),
        "half_life": _like(template, nan_bad(half_life), units=tu,
                           long_name=f"terminal half-life of {name}", lambda_z_points=k,
                           **common),
    }
    return xr.Dataset(out)


# ---------------------------------------------------------------------------------------------
# Occupancy and pharmacodynamic readouts


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


def blockade_hours(ds, var="occupancy_mor_drug", threshold=0.5, *, day=24.0, last_days=7):
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
    t, v, template = _profile(ds, var)
    lo, hi = _last_days_window(t, day, last_days)
    tw, vw = _clip(t, v, lo, hi)
    bad, vw = _bad_rows(vw)
    per_day = _time_above(tw, vw, float(threshold)) / ((hi - lo) / day)
    tu = _units(ds, "time") or "h"
    out = _like(template, np.where(bad, np.nan, per_day), units=f"{tu}/day",
                long_name=f"daily blockade time ({var} > {threshold:g})",
                variable=var, threshold=float(threshold), day=float(day),
                window=f"[{lo:g}, {hi:g}] {tu}")
    return xr.Dataset({"blockade_hours": out})


def occupancy_summary(ds, var="occupancy_mor_drug", *, day=24.0):
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
    t, v, template = _profile(ds, var)
    lo, hi = _last_days_window(t, day, 1)
    tw, vw = _clip(t, v, lo, hi)
    bad, vw = _bad_rows(vw)
    u, name, tu = _units(ds, var), _long_name(ds, var), _units(ds, "time")
    common = {"units": u, "variable": var, "window": f"[{lo:g}, {hi:g}] {tu}".strip()}
    return xr.Dataset({
        "occupancy_peak": _like(template, np.where(bad, np.nan, vw.max(axis=-1)),
                                long_name=f"peak {name} over the last day", **common),
        "occupancy_trough": _like(template, np.where(bad, np.nan, vw.min(axis=-1)),
                                  long_name=f"trough {name} over the last day", **common),
    })


def _baseline(values, baseline):
    if isinstance(baseline, str):
        if baseline != "initial":
            raise MetricError(f"baseline must be a number or 'initial', got {baseline!r}")
        return values[..., 0]
    return float(baseline)


def rebound(ds, var="signal_opioid", baseline=1.0, *, day=24.0, last_days=7):
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
    t, v, template = _profile(ds, var)
    base = np.asarray(_baseline(v, baseline), dtype=float)
    lo, hi = _last_days_window(t, day, last_days)
    tw, vw = _clip(t, v, lo, hi)
    bad, vw = _bad_rows(vw)
    bad = bad | np.isnan(base)
    excess = vw - np.nan_to_num(base)[..., None]
    u, name, tu = _units(ds, var), _long_name(ds, var), _units(ds, "time")
    common = {"units": u, "variable": var, "baseline": str(baseline),
              "window": f"[{lo:g}, {hi:g}] {tu}".strip()}
    return xr.Dataset({
        "rebound_max": _like(template, np.where(bad, np.nan, np.maximum(excess.max(axis=-1), 0)),
                             long_name=f"largest overshoot of {name} above baseline",
                             **common),
        "rebound_mean": _like(template, np.where(bad, np.nan, _trapezoid(tw, excess) / (hi - lo)),
                              long_name=f"time-averaged {name} minus baseline", **common),
    })


def end_value(ds, var=("proliferation", "immune_index")):
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
        t, v, template = _profile(ds, name)
        bad, v = _bad_rows(v)
        out[f"{name}_end"] = _like(template, np.where(bad, np.nan, v[..., -1]),
                                   units=_units(ds, name) or None, variable=name,
                                   long_name=f"{_long_name(ds, name)} at t = {t[-1]:g}")
    return xr.Dataset(out)


def peak(ds, var="tlr4_inhibition", *, start=None, end=None):
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
    t, v, template = _profile(ds, var)
    lo, hi = _window_bounds(t, start, end)
    tw, vw = _clip(t, v, lo, hi)
    bad, vw = _bad_rows(vw)
    i = np.argmax(vw, axis=-1)
    u, name, tu = _units(ds, var), _long_name(ds, var), _units(ds, "time")
    return xr.Dataset({
        f"{var}_peak": _like(template, np.where(bad, np.nan, vw.max(axis=-1)), units=u,
                             long_name=f"peak {name}", variable=var),
        f"{var}_peak_time": _like(template, np.where(bad, np.nan, tw[i]), units=tu,
                                  long_name=f"time of peak {name}", variable=var),
    })


# ---------------------------------------------------------------------------------------------
# The immunomodulatory window


def window_summary(ds, *, immune_var="immune_index", occupancy_var="occupancy_mor_drug",
                   signal_var="signal_opioid", proliferation_var="proliferation",
                   immune_baseline="initial", immune_margin=0.05, immune_direction="decrease",
                   threshold=0.5,
                   max_blockade_hours=10.0, signal_baseline=1.0, day=24.0, last_days=7,
                   subject_dim="subject", min_fraction=0.5):
    """Per-dose table: immune index and proliferation at the end, blockade hours, rebound, window.

    Parameters
    ----------
    ds : xarray.Dataset
        A result over ``(..., "time")``, typically with dims dose, scenario and subject.
    immune_var, occupancy_var : str
        The immunomodulation index and the drug occupancy of the mu receptor.
    signal_var, proliferation_var : str or None
        Opioid signal (for rebound) and proliferation readout; None leaves them out.
    immune_baseline : float or "initial"
        The untreated immune index; ``"initial"`` uses each row's value at the first time,
        which is the untreated steady state when the model starts there.
    immune_margin : float
        How far the final immune index must move from baseline, in ``immune_direction``.
    immune_direction : "decrease" or "increase"
        Which way the immunomodulatory effect moves the index. The shipped ``ldn`` model's
        ``immune_index`` is immune-cell proliferative activity relative to untreated, which
        the OGF hypothesis says raised opioid signalling *dampens*: "decrease" (the default).
    threshold : float
        Occupancy counted as blockade (see :func:`blockade_hours`).
    max_blockade_hours : float
        Largest daily blockade compatible with the window, in time units per day.
    signal_baseline : float or "initial"
        Baseline for :func:`rebound`.
    day, last_days : float
        Day length and averaging window for blockade hours and rebound.
    subject_dim : str or None
        Dim of virtual subjects; when present it is summarised (see Notes). None keeps one
        row per subject.
    min_fraction : float
        With subjects: fraction of subjects in the window for the dose to count as in it.

    Returns
    -------
    xarray.Dataset
        ``<immune_var>_end``, ``blockade_hours``, ``rebound_max``, ``rebound_mean``,
        ``<proliferation_var>_end`` and ``in_window`` (1.0 in, 0.0 out, NaN when unknown);
        with subjects also ``in_window_fraction`` and ``n_subjects_ok``.

    Notes
    -----
    **Definition of the window.** A trajectory is in the immunomodulatory window when both

    1. ``immune_baseline - immune_index_end >= immune_margin`` (the immune readout ends
       measurably below untreated; with ``immune_direction="increase"`` the sign flips), and
    2. ``blockade_hours <= max_blockade_hours`` (the mu receptor is free of blockade for a
       good part of every day, so the rebound that drives the benefit can happen).

    The default ``max_blockade_hours = 10`` h/day is Zagon & McLaughlin 1984: once-daily
    naltrexone giving under 10 h/day of blockade inhibited tumours, round-the-clock blockade
    (24 h/day) accelerated them; 1983/1987 measured 4-8 h/day at the beneficial dose. The
    proliferation and rebound columns are reported but not part of the definition, so that
    the window is not defined by the very readouts it is meant to explain.

    **Populations.** With a ``subject_dim``, every other column is the median across
    subjects that solved (failed subjects are skipped and counted out in ``n_subjects_ok``);
    ``in_window_fraction`` is the fraction of those subjects in the window and ``in_window``
    is 1.0 when that fraction is at least ``min_fraction``.
    """
    parts = [end_value(ds, immune_var),
             blockade_hours(ds, occupancy_var, threshold, day=day, last_days=last_days)]
    if signal_var is not None:
        parts.append(rebound(ds, signal_var, signal_baseline, day=day, last_days=last_days))
    if proliferation_var is not None:
        parts.append(end_value(ds, proliferation_var))
    # Same source, same indexes: join="exact"; "override" keeps each variable's attrs.
    table = xr.merge(parts, compat="no_conflicts", join="exact", combine_attrs="override")

    immune_end = table[f"{immune_var}_end"]
    _, v, _ = _profile(ds, immune_var)
    base = _baseline(v, immune_baseline)
    base = immune_end.copy(data=np.broadcast_to(base, immune_end.shape).astype(float))
    hours = table["blockade_hours"]
    if immune_direction not in ("decrease", "increase"):
        raise MetricError(f"immune_direction must be 'decrease' or 'increase', "
                          f"got {immune_direction!r}")
    sign = -1.0 if immune_direction == "decrease" else 1.0
    inside = (sign * (immune_end - base) >= immune_margin) & (hours <= max_blockade_hours)
    known = immune_end.notnull() & hours.notnull() & base.notnull()
    tu = _units(ds, "time") or "h"
    change = (f"baseline({immune_baseline}) - {immune_var}_end" if sign < 0
              else f"{immune_var}_end - baseline({immune_baseline})")
    definition = (f"{change} >= {immune_margin:g} and "
                  f"blockade_hours (occupancy > {threshold:g}, last {last_days:g} days) <= "
                  f"{max_blockade_hours:g} {tu}/day")
    table["in_window"] = inside.astype(float).where(known)
    table["in_window"].attrs = {"long_name": "dose in the immunomodulatory window (1 = yes)",
                                "units": "1", "definition": definition}

    if subject_dim is not None and subject_dim in table.dims:
        with warnings.catch_warnings():  # all-NaN slices (every subject failed) give NaN
            warnings.simplefilter("ignore", RuntimeWarning)
            fraction = table["in_window"].mean(subject_dim, skipna=True)
            n_ok = table["in_window"].notnull().sum(subject_dim)
            columns = {name: da.median(subject_dim, skipna=True, keep_attrs=True)
                       for name, da in table.data_vars.items() if name != "in_window"}
        table = xr.Dataset(columns)
        table["in_window_fraction"] = fraction
        table["in_window_fraction"].attrs = {
            "long_name": "fraction of subjects in the immunomodulatory window", "units": "1",
            "definition": definition}
        table["n_subjects_ok"] = n_ok
        table["n_subjects_ok"].attrs = {"long_name": "subjects whose solve succeeded"}
        table["in_window"] = (fraction >= min_fraction).astype(float).where(n_ok > 0)
        table["in_window"].attrs = {
            "long_name": "dose in the immunomodulatory window (1 = yes)", "units": "1",
            "definition": f"fraction of subjects with [{definition}] >= {min_fraction:g}"}
    table.attrs = {"window_definition": definition, "max_blockade_hours": float(max_blockade_hours),
                   "immune_margin": float(immune_margin), "immune_direction": immune_direction,
                   "threshold": float(threshold)}
    return table


# ---------------------------------------------------------------------------------------------
# Registry used by experiment configs

METRICS = {
    "nca": nca,
    "blockade_hours": blockade_hours,
    "occupancy_summary": occupancy_summary,
    "rebound": rebound,
    "end_value": end_value,
    "peak": peak,
    "window_summary": window_summary,
}


def compute_metrics(ds, names, options=None):
    """Compute several metrics by name and merge them into one Dataset.

    Parameters
    ----------
    ds : xarray.Dataset
        A simulation result.
    names : sequence of str
        Keys of :data:`METRICS`.
    options : mapping, optional
        ``{name: {keyword: value}}`` passed to each metric (e.g. ``{"nca": {"var": "C_6bn"}}``).

    Returns
    -------
    xarray.Dataset
        The merged metrics, the result's ``status`` (when present) and its attributes.

    Raises
    ------
    ConfigError
        Unknown metric names or options, or two metrics producing conflicting variables.
    MetricError
        A metric cannot be computed on this result (missing variable, empty window).
    """
    if isinstance(names, str):
        names = [names]
    options = dict(options or {})
    unknown = [n for n in list(names) + list(options) if n not in METRICS]
    if unknown:
        raise ConfigError(f"unknown metric {unknown[0]!r}; known metrics: "
                          f"{', '.join(METRICS)}")
    parts = []
    for name in names:
        func, kwargs = METRICS[name], dict(options.get(name) or {})
        try:  # check the keywords before calling, so a TypeError inside is not mistaken
            inspect.signature(func).bind(ds, **kwargs)
        except TypeError as exc:
            params = [p for p in inspect.signature(func).parameters if p != "ds"]
            raise ConfigError(f"metric {name!r}: {exc}; accepted options: "
                              f"{', '.join(params)}") from None
        parts.append(func(ds, **kwargs))
    if "status" in ds:
        parts.append(ds[["status"]].reset_coords(drop=True))
    try:
        out = xr.merge(parts, compat="no_conflicts", join="exact", combine_attrs="override")
    except xr.MergeError as exc:
        raise ConfigError(f"metrics {list(names)} produce conflicting variables: {exc}") from None
    # The result's provenance, plus what each metric records about itself (its definition,
    # thresholds), which a plain merge would drop.
    out.attrs = dict(ds.attrs)
    for part in parts:
        out.attrs.update(part.attrs)
    return out
