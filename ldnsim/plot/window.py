"""The LDN window figure: immune readout, daily blockade and the window itself against dose."""
from __future__ import annotations

import warnings

import numpy as np
import xarray as xr

from ldnsim import metrics as _metrics

from ._base import PlotError, axis_label, by_scenario, pyplot, require_only

__all__ = ["plot_window"]


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
        require_only(metrics[name], (dose_dim, scenario_dim), "plot_window")
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
        plt = pyplot()
        fig, axes = plt.subplots(3, 1, sharex=True, figsize=(7.0, 7.5),
                                 gridspec_kw={"height_ratios": [3, 3, 1.4]},
                                 layout="constrained")
    axes = np.asarray(axes).ravel()
    if axes.size != 3:
        raise PlotError(f"plot_window draws three panels, got {axes.size} axes")
    doses = metrics[dose_dim].values
    groups = list(by_scenario(metrics, scenario_dim))
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
    axes[2].set_xlabel(axis_label(metrics[dose_dim], dose_dim))
    axes[0].set_title("Immunomodulatory window")
    if groups and groups[0][0]:
        axes[0].legend(title=scenario_dim, fontsize="small")
    return axes
