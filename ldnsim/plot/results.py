"""Plots of results: time courses, populations, metrics against dose."""
from __future__ import annotations

import warnings

import xarray as xr

from ldnsim import metrics as _metrics

from ._base import PlotError, axis_label, by_scenario, new_axes, require_only, value_label, variable

__all__ = ["plot_profiles", "plot_dose_response", "plot_population"]


def plot_profiles(ds, var, *, ax=None, hue=None, log=False):
    """Time course of ``var``, one line per value of ``hue``.

    Parameters
    ----------
    ds : xarray.Dataset or xarray.DataArray
        A result over ``(..., "time")``.
    var : str
        Variable to draw (ignored when ``ds`` is a DataArray).
    ax : matplotlib.axes.Axes, optional
    hue : str, optional
        Dim drawn as separate lines; defaults to the only non-time dim, if there is one.
    log : bool
        Logarithmic y axis (concentrations).

    Returns
    -------
    matplotlib.axes.Axes
    """
    da = variable(ds, var)
    if "time" not in da.dims:
        raise PlotError(f"{da.name!r} has no 'time' dim to plot against")
    others = [d for d in da.dims if d != "time"]
    if hue is None and len(others) == 1:
        hue = others[0]
    if hue is not None and hue not in others:
        raise PlotError(f"hue {hue!r} is not a dim of {da.name!r} (dims: {da.dims})")
    require_only(da, ("time",) + ((hue,) if hue else ()), "plot_profiles")
    ax = new_axes(ax)
    t = da["time"].values
    if hue is None:
        ax.plot(t, da.values)
    else:
        for value in da[hue].values:
            ax.plot(t, da.sel({hue: value}).transpose("time").values,
                    label=value_label(da[hue], value))
        ax.legend(title=axis_label(da[hue], hue), fontsize="small")
    if log:
        ax.set_yscale("log")
    ax.set_xlabel(axis_label(da["time"], "time"))
    ax.set_ylabel(axis_label(da, da.name))
    return ax


def _metric_array(data, metric):
    if isinstance(data, xr.DataArray):
        return data
    if metric in data and "time" not in data[metric].dims:
        return data[metric]
    if "time" in data.dims:
        try:
            return _metrics.metric_of_output(data, metric)
        except _metrics.MetricError as exc:
            raise PlotError(str(exc)) from None
    raise PlotError(f"{metric!r} is not in the metrics; available: "
                    f"{', '.join(sorted(str(v) for v in data.data_vars))}")


def plot_dose_response(ds_or_metrics, metric, *, ax=None, scenario_dim="scenario",
                       dose_dim="dose", subject_dim="subject"):
    """A metric against dose on a log axis, one line per scenario.

    Parameters
    ----------
    ds_or_metrics : xarray.Dataset or xarray.DataArray
        Metrics (no time dim), or a raw result from which ``metric`` is computed (see
        :func:`ldnsim.metrics.metric_of_output`).
    metric : str
        A metric variable (``"blockade_hours"``, ``"immune_index_end"``...), or on a raw
        result one that names its variable (``"Cmax(C_ntx)"``).
    ax : matplotlib.axes.Axes, optional
    scenario_dim, dose_dim, subject_dim : str
        With a subject dim, each line is the median and a band spans the 5-95% range.

    Returns
    -------
    matplotlib.axes.Axes
    """
    da = _metric_array(ds_or_metrics, metric)
    if dose_dim not in da.dims:
        raise PlotError(f"{metric!r} has no {dose_dim!r} dim (dims: {da.dims})")
    require_only(da, (dose_dim, scenario_dim, subject_dim), "plot_dose_response")
    da = da.sortby(dose_dim)
    ax = new_axes(ax)
    doses = da[dose_dim].values
    for name, line in by_scenario(da, scenario_dim):
        if subject_dim in line.dims:
            with warnings.catch_warnings():  # doses where every subject failed stay NaN
                warnings.simplefilter("ignore", RuntimeWarning)
                lo, hi = line.quantile([0.05, 0.95], dim=subject_dim).transpose("quantile",
                                                                                  dose_dim)
                mid = line.median(subject_dim)
            (handle,) = ax.plot(doses, mid.values, marker="o", ms=3, label=name)
            ax.fill_between(doses, lo.values, hi.values, color=handle.get_color(), alpha=0.2,
                            lw=0)
        else:
            ax.plot(doses, line.transpose(dose_dim).values, marker="o", ms=3, label=name)
    ax.set_xscale("log")
    ax.set_xlabel(axis_label(da[dose_dim], dose_dim))
    ax.set_ylabel(axis_label(da, metric))
    if scenario_dim in da.dims:
        ax.legend(title=scenario_dim, fontsize="small")
    return ax


def plot_population(ds, var, *, ax=None, subject_dim="subject"):
    """Median and 5-95% band of ``var`` across virtual subjects over time.

    Parameters
    ----------
    ds : xarray.Dataset or xarray.DataArray
        A result over ``(subject_dim, "time")`` (select one dose/scenario first).
    var : str
    ax : matplotlib.axes.Axes, optional
    subject_dim : str

    Returns
    -------
    matplotlib.axes.Axes
    """
    da = variable(ds, var)
    for dim in ("time", subject_dim):
        if dim not in da.dims:
            raise PlotError(f"{da.name!r} has no {dim!r} dim (dims: {da.dims})")
    require_only(da, ("time", subject_dim), "plot_population")
    with warnings.catch_warnings():  # times where every subject failed stay NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        q = da.quantile([0.05, 0.5, 0.95], dim=subject_dim).transpose("quantile", "time").values
    ax = new_axes(ax)
    t = da["time"].values
    (line,) = ax.plot(t, q[1], label=f"median (n = {da.sizes[subject_dim]})")
    ax.fill_between(t, q[0], q[2], color=line.get_color(), alpha=0.25, lw=0,
                    label="5-95% of subjects")
    ax.set_xlabel(axis_label(da["time"], "time"))
    ax.set_ylabel(axis_label(da, da.name))
    ax.legend(fontsize="small")
    return ax
