"""Plots of results and metrics: data first, ``ax=None``, return the Axes.

matplotlib is imported inside the functions, never at module import, so ``import ldnsim``
stays free of a GUI stack; pick a backend (``matplotlib.use("Agg")``) before plotting headless.
Axis labels are ``long_name [units]`` from the attrs, as xarray does.
"""

from __future__ import annotations

import warnings

import numpy as np
import xarray as xr

from . import metrics as _metrics
from .errors import LdnsimError

__all__ = ["plot_profiles", "plot_dose_response", "plot_window", "plot_population", "PlotError"]


class PlotError(LdnsimError, ValueError):
    """The data cannot be drawn as asked (missing variable, too many dims left)."""


def _pyplot():
    import matplotlib.pyplot as plt  # lazy: see the module docstring

    return plt


def _new_axes(ax, nrows=1):
    if ax is not None:
        return ax
    fig, axes = _pyplot().subplots(nrows, 1, sharex=True, layout="constrained",
                                   figsize=(6.4, 3.6 * nrows if nrows > 1 else 4.2))
    return axes


def _label(obj, fallback):
    """``long_name [units]`` from a DataArray's (or attrs dict's) attributes."""
    attrs = getattr(obj, "attrs", obj) or {}
    text = str(attrs.get("long_name", fallback))
    units = attrs.get("units")
    return f"{text} [{units}]" if units not in (None, "") else text


def _variable(data, var):
    if isinstance(data, xr.DataArray):
        return data
    if var not in data:
        available = ", ".join(sorted(str(v) for v in data.data_vars))
        raise PlotError(f"variable {var!r} is not in the data; available: {available}")
    return data[var]


def _require_only(da, allowed, what):
    extra = [d for d in da.dims if d not in allowed]
    if extra:
        raise PlotError(f"{what} cannot show dims {extra}; select one value of each first, "
                        f"e.g. ds.isel({extra[0]}=0)")


def _value_label(coord, value):
    units = coord.attrs.get("units")
    text = f"{value:g}" if isinstance(value, (float, np.floating)) else str(value)
    return f"{text} {units}" if units not in (None, "", "1") else text


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
    da = _variable(ds, var)
    if "time" not in da.dims:
        raise PlotError(f"{da.name!r} has no 'time' dim to plot against")
    others = [d for d in da.dims if d != "time"]
    if hue is None and len(others) == 1:
        hue = others[0]
    if hue is not None and hue not in others:
        raise PlotError(f"hue {hue!r} is not a dim of {da.name!r} (dims: {da.dims})")
    _require_only(da, ("time",) + ((hue,) if hue else ()), "plot_profiles")
    ax = _new_axes(ax)
    t = da["time"].values
    if hue is None:
        ax.plot(t, da.values)
    else:
        for value in da[hue].values:
            ax.plot(t, da.sel({hue: value}).transpose("time").values,
                    label=_value_label(da[hue], value))
        ax.legend(title=_label(da[hue], hue), fontsize="small")
    if log:
        ax.set_yscale("log")
    ax.set_xlabel(_label(da["time"], "time"))
    ax.set_ylabel(_label(da, da.name))
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


def _by_scenario(da, scenario_dim):
    """``(label, data for one scenario)`` per line, in coordinate order."""
    if scenario_dim in da.dims:
        return [(_value_label(da[scenario_dim], v), da.sel({scenario_dim: v}))
                for v in da[scenario_dim].values]
    return [(None, da)]


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
    _require_only(da, (dose_dim, scenario_dim, subject_dim), "plot_dose_response")
    da = da.sortby(dose_dim)
    ax = _new_axes(ax)
    doses = da[dose_dim].values
    for label, line in _by_scenario(da, scenario_dim):
        if subject_dim in line.dims:
            with warnings.catch_warnings():  # doses where every subject failed stay NaN
                warnings.simplefilter("ignore", RuntimeWarning)
                lo, hi = line.quantile([0.05, 0.95], dim=subject_dim).transpose("quantile",
                                                                                  dose_dim)
                mid = line.median(subject_dim)
            (handle,) = ax.plot(doses, mid.values, marker="o", ms=3, label=label)
            ax.fill_between(doses, lo.values, hi.values, color=handle.get_color(), alpha=0.2,
                            lw=0)
        else:
            ax.plot(doses, line.transpose(dose_dim).values, marker="o", ms=3, label=label)
    ax.set_xscale("log")
    ax.set_xlabel(_label(da[dose_dim], dose_dim))
    ax.set_ylabel(_label(da, metric))
    if scenario_dim in da.dims:
        ax.legend(title=scenario_dim, fontsize="small")
    return ax


def _spans(doses, flags):
    """Dose intervals to shade: each run of in-window doses, widened half a step each way."""
    def mid(a, b):
        return np.sqrt(a * b) if a > 0 and b > 0 else 0.5 * (a + b)

    spans, n, i = [], len(doses), 0
    while i < n:
        if flags[i] != 1.0:
            i += 1
            continue
        j = i
        while j + 1 < n and flags[j + 1] == 1.0:
            j += 1
        left = mid(doses[i - 1], doses[i]) if i > 0 else (
            doses[0] ** 2 / mid(doses[0], doses[1]) if n > 1 and doses[0] > 0 else doses[0])
        right = mid(doses[j], doses[j + 1]) if j + 1 < n else (
            doses[-1] ** 2 / mid(doses[-2], doses[-1]) if n > 1 and doses[-1] > 0
            else doses[-1])
        spans.append((left, right))
        i = j + 1
    return spans


def _window_columns(metrics, immune_var, scenario_dim, dose_dim, subject_dim, sample_dim):
    """``(columns, bands)``: the three columns plot_window draws, over (dose, scenario) only,
    sorted by dose, and with a sample dim the 5-95% bands of the first two (else None)."""
    if "time" in metrics.dims:
        metrics = _metrics.window_summary(metrics)
    columns = (immune_var, "blockade_hours", "in_window")
    for name in columns:
        if name not in metrics:
            raise PlotError(f"plot_window needs {name!r}; compute metrics with window_summary")
    # Only the three columns drawn here: other metrics may still carry a subject dim.
    metrics = metrics[list(columns)]
    if subject_dim in metrics.dims:  # not yet summarised over subjects: use medians
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            summary = {}
            for name, da in metrics.data_vars.items():
                if subject_dim not in da.dims:
                    summary[name] = da
                elif name == "in_window":
                    summary[name] = (da.mean(subject_dim) >= 0.5).astype(float)
                else:
                    summary[name] = da.median(subject_dim, keep_attrs=True)
            metrics = xr.Dataset(summary, attrs=metrics.attrs)
    bands = None
    if sample_dim in metrics.dims:  # parameter uncertainty: medians, 5-95% bands, P(open)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            bands = {name: metrics[name].quantile([0.05, 0.95], dim=sample_dim).sortby(dose_dim)
                     for name in columns[:2]}
            summary = {name: metrics[name].median(sample_dim, keep_attrs=True)
                       for name in columns[:2]}
            summary["in_window"] = (metrics["in_window"].mean(sample_dim) >= 0.5).astype(float)
        metrics = xr.Dataset(summary, attrs=metrics.attrs)
    for name in columns:
        _require_only(metrics[name], (dose_dim, scenario_dim), "plot_window")
    return metrics.sortby(dose_dim), bands


def plot_window(metrics, *, axes=None, immune_var="immune_index_end", scenario_dim="scenario",
                dose_dim="dose", subject_dim="subject", sample_dim="sample"):
    """The window figure: immune index, daily blockade and the window itself against dose.

    Parameters
    ----------
    metrics : xarray.Dataset
        Output of :func:`ldnsim.metrics.window_summary` (or a raw result, summarised here with
        its defaults).
    axes : sequence of three matplotlib Axes, optional
        Top: ``immune_var``; middle: ``blockade_hours``; bottom: one bar per scenario over
        the doses in the window.
    immune_var, scenario_dim, dose_dim, subject_dim : str
    sample_dim : str
        Dim of parameter-uncertainty samples. When present, the top and middle panels show the
        median across samples with a 5-95% band, and the bottom panel marks the doses where the
        window is open in at least half of the samples.

    Returns
    -------
    numpy.ndarray of matplotlib.axes.Axes, shape (3,)

    Notes
    -----
    A bar spans each run of doses with ``in_window == 1``, from half a log-step below its
    first dose to half a log-step above its last. The middle panel marks
    ``max_blockade_hours`` when the metrics record it; the top panel marks the untreated
    value 1.
    """
    metrics, bands = _window_columns(metrics, immune_var, scenario_dim, dose_dim, subject_dim,
                                     sample_dim)
    if axes is None:
        plt = _pyplot()
        fig, axes = plt.subplots(3, 1, sharex=True, figsize=(7.0, 7.5),
                                 gridspec_kw={"height_ratios": [3, 3, 1.4]},
                                 layout="constrained")
    axes = np.asarray(axes).ravel()
    if axes.size != 3:
        raise PlotError(f"plot_window draws three panels, got {axes.size} axes")
    doses = metrics[dose_dim].values
    groups = list(_by_scenario(metrics, scenario_dim))
    for row, (label, sub) in enumerate(groups):
        (line,) = axes[0].plot(doses, sub[immune_var].transpose(dose_dim).values, marker="o",
                               ms=3, label=label)
        axes[1].plot(doses, sub["blockade_hours"].transpose(dose_dim).values, marker="o",
                     ms=3, color=line.get_color())
        if bands is not None:
            for ax, name in ((axes[0], immune_var), (axes[1], "blockade_hours")):
                band = bands[name]
                if scenario_dim in band.dims:
                    band = band.isel({scenario_dim: row})
                q = band.transpose("quantile", dose_dim).values
                ax.fill_between(doses, q[0], q[1], color=line.get_color(), alpha=0.18, lw=0)
        flags = sub["in_window"].transpose(dose_dim).values
        for left, right in _spans(doses, flags):
            axes[2].barh(row, right - left, left=left, height=0.6, color=line.get_color())
    axes[0].axhline(1.0, color="0.4", ls=":", lw=1, label="untreated")
    limit = metrics.attrs.get("max_blockade_hours")
    if limit is not None:
        axes[1].axhline(limit, color="0.4", ls="--", lw=1,
                        label=f"window limit ({limit:g} h/day)")
        axes[1].legend(fontsize="small")
    for ax in axes:
        ax.set_xscale("log")
        ax.grid(True, which="major", alpha=0.3)
    axes[0].set_ylabel("immune index at end\n(1 = untreated)")
    blockade = metrics["blockade_hours"]
    axes[1].set_ylabel(f"daily blockade [{blockade.attrs.get('units', 'h/day')}]")
    axes[2].set_yticks(range(len(groups)), [label for label, _ in groups], fontsize="small")
    axes[2].set_ylim(-0.7, len(groups) - 0.3)
    axes[2].invert_yaxis()
    axes[2].set_ylabel("in window")
    axes[2].set_xlabel(_label(metrics[dose_dim], dose_dim))
    axes[0].set_title("Immunomodulatory window")
    if groups and groups[0][0]:
        axes[0].legend(title=scenario_dim, fontsize="small")
    return axes


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
    da = _variable(ds, var)
    for dim in ("time", subject_dim):
        if dim not in da.dims:
            raise PlotError(f"{da.name!r} has no {dim!r} dim (dims: {da.dims})")
    _require_only(da, ("time", subject_dim), "plot_population")
    with warnings.catch_warnings():  # times where every subject failed stay NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        q = da.quantile([0.05, 0.5, 0.95], dim=subject_dim).transpose("quantile", "time").values
    ax = _new_axes(ax)
    t = da["time"].values
    (line,) = ax.plot(t, q[1], label=f"median (n = {da.sizes[subject_dim]})")
    ax.fill_between(t, q[0], q[2], color=line.get_color(), alpha=0.25, lw=0,
                    label="5-95% of subjects")
    ax.set_xlabel(_label(da["time"], "time"))
    ax.set_ylabel(_label(da, da.name))
    ax.legend(fontsize="small")
    return ax
