"""The LDN immunomodulatory window: a per-dose table built from the generic readouts.

Specific to the LDN hypothesis; its defaults are the output names of the shipped ``ldn`` model.
"""

from __future__ import annotations

import warnings

import numpy as np
import xarray as xr

from ._core import MetricError, profile, units
from .readouts import baseline_of, blockade_hours, end_value, rebound

__all__ = ["window_summary"]


def window_probability(table, uncertainty_dims):
    """Add ``p_in_window`` (share of draws/samples in the window, unknown ones left out) and
    ``p_in_window_n`` to ``table`` when it has uncertainty dims."""
    dims = [d for d in ((uncertainty_dims,) if isinstance(uncertainty_dims, str)
                        else tuple(uncertainty_dims or ())) if d in table["in_window"].dims]
    if not dims:
        return
    flags = table["in_window"]
    n = flags.notnull().sum(dims)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        share = flags.mean(dims, skipna=True)
    table["p_in_window"] = share.where(n > 0)
    table["p_in_window"].attrs = {
        "long_name": f"probability that the window is open: share of {' x '.join(dims)} in "
                     "the window", "units": "1", "definition": flags.attrs.get("definition", "")}
    table["p_in_window_n"] = n
    table["p_in_window_n"].attrs = {"long_name": f"{' x '.join(dims)} counted in p_in_window"}


def window_summary(ds, *, immune_var="immune_index", occupancy_var="occupancy_mor_drug",
                   signal_var="signal_opioid", proliferation_var="proliferation",
                   immune_baseline="initial", immune_margin=0.05, immune_direction="decrease",
                   threshold=0.5,
                   max_blockade_hours=10.0, signal_baseline=1.0, day=24.0, last_days=7,
                   subject_dim="subject", min_fraction=0.5, uncertainty_dims=("draw", "sample")):
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
    uncertainty_dims : sequence of str
        Dims of parameter uncertainty (``draw`` from ``[uncertainty]``, ``sample`` from
        ``[sampling]``). When the result has any, ``p_in_window`` is the share of them (all
        together) in which the window is open.

    Returns
    -------
    xarray.Dataset
        ``<immune_var>_end``, ``blockade_hours``, ``rebound_max``, ``rebound_mean``,
        ``<proliferation_var>_end`` and ``in_window`` (1.0 in, 0.0 out, NaN when unknown);
        with subjects also ``in_window_fraction`` and ``n_subjects_ok``; with uncertainty
        dims also ``p_in_window`` (and ``p_in_window_n``, the draws it counts).

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
    _, v, _ = profile(ds, immune_var)
    base = baseline_of(v, immune_baseline)
    base = immune_end.copy(data=np.broadcast_to(base, immune_end.shape).astype(float))
    hours = table["blockade_hours"]
    if immune_direction not in ("decrease", "increase"):
        raise MetricError(f"immune_direction must be 'decrease' or 'increase', "
                          f"got {immune_direction!r}")
    sign = -1.0 if immune_direction == "decrease" else 1.0
    inside = (sign * (immune_end - base) >= immune_margin) & (hours <= max_blockade_hours)
    known = immune_end.notnull() & hours.notnull() & base.notnull()
    tu = units(ds, "time") or "h"
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
    window_probability(table, uncertainty_dims)
    table.attrs = {"window_definition": definition, "max_blockade_hours": float(max_blockade_hours),
                   "immune_margin": float(immune_margin), "immune_direction": immune_direction,
                   "threshold": float(threshold)}
    return table
