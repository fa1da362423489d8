"""Whole-result figures: every slice of a sweep drawn, one panel per slice of the other dims.

:func:`plot_result` is what ``ldnsim plot`` and ``ldnsim run --plot`` draw:

- a **time course** (``var``): time on x; doses as lines (a colour bar instead of a legend for
  more than :data:`MAX_LEGEND` doses); one panel per value (or combination of values) of every
  other dim (scenario, a swept parameter such as ``tlr4_potency_multiplier``); the subjects of a
  population as the median line and a 5-95% band, never one line per subject;
- a **metric** (``metric``): the metric against the numeric sweep dim with the most values
  (the dose, on ties), on a log axis with plain tick labels (0.5, 1, 4.5, 50); the dose as lines
  when it is not on x; one panel per value of every other dim; populations as median and band.

Nothing is dropped: every value of every dim is in some panel or line, and a result too large
to draw that way (more than :data:`MAX_PANELS` panels) is a one-line error naming the dims,
not a figure of the first slice. Legends sit outside the axes, on the right of the figure.
"""
from __future__ import annotations

import itertools
import math
import re
import warnings

import numpy as np

from ._base import PlotError, axis_label, pyplot

__all__ = ["plot_result", "plain_log_ticks", "MAX_PANELS", "MAX_LEGEND"]

#: The most panels a figure holds (more is an error asking to select).
MAX_PANELS = 36
#: The most lines with a legend entry each; more doses get a colour bar.
MAX_LEGEND = 8
#: Panels per row of the grid.
COLUMNS = 3
SUBJECT, SAMPLE = "subject", "sample"


def plain_log_ticks(axis, values=None):
    """Plain labels on a log axis (``0.5``, ``4.5``, ``50``; never ``2x10^0``).

    Parameters
    ----------
    axis : matplotlib.axis.Axis
        ``ax.xaxis`` or ``ax.yaxis`` of a log-scaled Axes.
    values : array_like, optional
        Tick at these values (the doses of a sweep) when there are at most 8 of them; else
        at most 7 decades, labelled plainly.
    """
    from matplotlib.ticker import FixedLocator, FuncFormatter, LogLocator, NullFormatter

    values = None if values is None else np.unique(np.asarray(values, dtype=float))
    if values is not None and values.size <= 8 and (values > 0).all():
        axis.set_major_locator(FixedLocator(values))
    else:
        axis.set_major_locator(LogLocator(base=10, numticks=7))
    axis.set_major_formatter(FuncFormatter(lambda v, _: _plain(v)))
    axis.set_minor_formatter(NullFormatter())


def _quantiles(da, dim):
    with warnings.catch_warnings():  # slices where every subject failed stay NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        return da.quantile([0.05, 0.5, 0.95], dim=dim)


def _plain(value):
    """``0.5``, ``4.5``, ``1e6`` (not ``1e+06``), a string as it is."""
    if isinstance(value, (float, np.floating, int, np.integer)):
        v = float(value)
        if v >= 1e4 and math.log10(v).is_integer():
            return f"1e{int(math.log10(v))}"  # decades of a wide sweep: 1e4, not 10000
        return re.sub(r"e\+?(-?)0*(\d)", r"e\1\2", f"{v:g}")
    return str(value)


def _label(da, fallback):
    """``long_name [units]``, without a unit of ``1`` (a fraction or a ratio)."""
    text = axis_label(da, fallback)
    return text[:-4] if text.endswith(" [1]") else text


def _value(coord, value):
    units = coord.attrs.get("units")
    return f"{_plain(value)} {units}" if units not in (None, "", "1") else _plain(value)


def _facet_title(da, key):
    return ", ".join(f"{d} = {_value(da[d], v)}" if d != "scenario" else str(v)
                     for d, v in key)


def _grid(n, width=4.2, height=3.2):
    plt = pyplot()
    ncols = min(COLUMNS, n)
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, sharex=True, sharey=True, squeeze=False,
                             figsize=(width * ncols + 1.6, height * nrows + 0.6),
                             layout="constrained")
    axes = axes.ravel()
    for ax in axes[n:]:
        ax.remove()
    return fig, list(axes[:n])


def _facets(da, dims):
    """``[(key, slice)]`` for every combination of ``dims``' values, in coordinate order."""
    if not dims:
        return [((), da)]
    n = math.prod(da.sizes[d] for d in dims)
    if n > MAX_PANELS:
        raise PlotError(f"{da.name!r} would need {n} panels (one per value of "
                        f"{' x '.join(f'{d} ({da.sizes[d]})' for d in dims)}), more than "
                        f"{MAX_PANELS}; plot a selection (ds.sel(...)) from Python")
    out = []
    for values in itertools.product(*(da[d].values for d in dims)):
        key = tuple(zip(dims, values))
        out.append((key, da.sel(dict(key))))
    return out


def _colours(n, values):
    """Colours for ``n`` lines and, for many, a (cmap, norm) for a colour bar."""
    import matplotlib as mpl

    if n <= 10:
        cycle = mpl.rcParams["axes.prop_cycle"].by_key().get("color", ["C0"])
        return [cycle[i % len(cycle)] for i in range(n)], None
    cmap = mpl.colormaps["viridis"]
    v = np.asarray(values, dtype=float)
    log = (v > 0).all() and v.max() / v.min() > 10
    norm = (mpl.colors.LogNorm(v.min(), v.max()) if log
            else mpl.colors.Normalize(v.min(), v.max()))
    return [cmap(norm(x)) for x in v], (cmap, norm)


def _draw_lines(ax, x, line, colour, label, bands, xdim):
    """One line (or median + 5-95% band over the ``bands`` dims); returns the line."""
    if bands:
        q = _quantiles(line, list(bands)).transpose("quantile", xdim).values
        (handle,) = ax.plot(x, q[1], color=colour, label=label, lw=1.4)
        ax.fill_between(x, q[0], q[2], color=colour, alpha=0.2, lw=0)
        return handle
    (handle,) = ax.plot(x, line.transpose(xdim).values, color=colour, label=label, lw=1.4,
                        marker="o" if xdim != "time" else None, ms=3)
    return handle


def _finish(fig, axes, da, hue, hue_values, colours, scale, xdim, title, band_label):
    """Labels on the outer panels, one legend (or colour bar) outside the axes."""
    ncols = axes[0].get_subplotspec().get_gridspec().ncols
    for i, ax in enumerate(axes):
        ax.grid(True, alpha=0.3)
        if i + ncols >= len(axes):  # nothing below it: its own x tick labels and label
            ax.xaxis.set_tick_params(labelbottom=True)
            ax.set_xlabel(_label(da[xdim], xdim))
        if i % ncols == 0:
            ax.set_ylabel(_label(da, da.name))
    if xdim != "time" and scale.get("x") == "log":
        for ax in axes:
            ax.set_xscale("log")
            plain_log_ticks(ax.xaxis, da[xdim].values)
    if title:
        fig.suptitle(title, fontsize="medium")
    handles, labels = axes[0].get_legend_handles_labels()
    if hue is not None and scale.get("colorbar") is not None:  # many doses: a colour bar
        import matplotlib as mpl

        cmap, norm = scale["colorbar"]
        bar = fig.colorbar(mpl.cm.ScalarMappable(norm=norm, cmap=cmap), ax=axes,
                           location="right", shrink=0.9)
        bar.set_label(_label(da[hue], hue))
        if isinstance(norm, mpl.colors.LogNorm):
            plain_log_ticks(bar.ax.yaxis, hue_values)
        handles, labels = [], []
    if band_label is not None:
        from matplotlib.patches import Patch

        handles.append(Patch(color="0.6", alpha=0.4))
        labels.append(band_label)
    if handles:
        fig.legend(handles, labels, loc="outside right center", fontsize="small",
                   title=_label(da[hue], hue) if hue is not None and len(handles) > 1
                   and scale.get("colorbar") is None else None)
    return fig


def _time_course(ds, var, bands):
    names = [v for v in ds.data_vars if "time" in ds[v].dims]
    if var is None:
        if not names:
            raise PlotError("the result has no time-dependent variable to plot")
        var = names[0]
    elif var not in names:
        if not names:
            raise PlotError(f"the result keeps no time courses (a metrics-only run: "
                            f"[output] trajectories = false), so {var!r} cannot be drawn; "
                            "plot a metric with --metric NAME")
        raise PlotError(f"no time-dependent variable {var!r} in the result; choose from "
                        f"{', '.join(map(str, names))}")
    da = ds[var]
    hue = "dose" if "dose" in da.dims else None
    facets = [d for d in da.dims if d not in ("time", hue, *bands)]
    return da, "time", hue, facets


def _metric(ds, metric, bands):
    from ldnsim.experiment import metrics_of

    table = metrics_of(ds)
    names = [str(v) for v in table.data_vars]
    if metric not in names:
        from ldnsim._text import suggest

        near = [n for n in names if n.lower() == str(metric).lower()]
        hint = f" (did you mean {near[0]!r}?)" if near else suggest(metric, names)
        raise PlotError(f"no metric {metric!r} in the result{hint}; metrics: "
                        f"{', '.join(names) or 'none'}")
    da = table[metric]
    da.name = metric
    numeric = [d for d in da.dims if d not in bands and np.issubdtype(da[d].dtype, np.number)
               and da.sizes[d] > 1]
    if not numeric:
        raise PlotError(f"metric {metric!r} has no numeric sweep dim to plot against (dims: "
                        f"{', '.join(map(str, da.dims)) or 'none'}); see 'ldnsim summarize'")
    xdim = max(numeric, key=lambda d: (da.sizes[d], d == "dose"))
    hue = "dose" if "dose" in da.dims and xdim != "dose" else None
    facets = [d for d in da.dims if d not in (xdim, hue, *bands)]
    return da.sortby(xdim), xdim, hue, facets


def plot_result(ds, *, var=None, metric=None, title=None, subject_dim=SUBJECT,
                sample_dim=SAMPLE, log=None):
    """Draw every slice of a result: panels for the other dims, lines for doses, bands for
    subjects.

    Parameters
    ----------
    ds : xarray.Dataset
        A result of ``ldnsim run`` (trajectories over ``(*dims, "time")`` and/or ``metric_*``
        variables over ``dims``).
    var : str, optional
        Time course of this variable (default: the first time-dependent one).
    metric : str, optional
        This metric (name without ``metric_``) against the swept values instead.
    title : str, optional
        Figure title (default: the experiment's description or name).
    subject_dim, sample_dim : str
        Dims of virtual subjects and of parameter-uncertainty samples, drawn as the median and
        the 5-95% band over them (pooled when both are there).
    log : bool, optional
        Logarithmic x axis for a metric (default: when the x values are positive and span more
        than a factor of 10).

    Returns
    -------
    matplotlib.figure.Figure
        Its axes are the panels, in row order (``fig.axes``; a colour bar adds one more).

    Raises
    ------
    PlotError
        Unknown variable or metric, or more than :data:`MAX_PANELS` panels.
    """
    if var is not None and metric is not None:
        raise PlotError("plot a variable (var) or a metric, not both")
    bands = tuple(d for d in (subject_dim, sample_dim) if d in ds.dims)
    if metric is None:
        da, xdim, hue, facet_dims = _time_course(ds, var, bands)
    else:
        da, xdim, hue, facet_dims = _metric(ds, metric, bands)
    bands = tuple(d for d in bands if d in da.dims)
    panels = _facets(da, facet_dims)
    hue_values = da[hue].values if hue is not None else [None]
    colours, colorbar = _colours(len(hue_values), hue_values)
    fig, axes = _grid(len(panels))
    x = da[xdim].values
    for ax, (key, sub) in zip(axes, panels):
        for colour, value in zip(colours, hue_values):
            line = sub if value is None else sub.sel({hue: value})
            label = None if value is None else _value(da[hue], value)
            _draw_lines(ax, x, line, colour, label, bands, xdim)
        if key:
            ax.set_title(_facet_title(da, key), fontsize="small")
    xv = np.asarray(x, dtype=float) if xdim != "time" else None
    if log is None:
        log = xv is not None and (xv > 0).all() and xv.max() / xv.min() > 10
    scale = {"x": "log" if log else "linear", "colorbar": colorbar}
    if title is None:
        title = ds.attrs.get("experiment_description") or ds.attrs.get("experiment_name")
    band_label = None
    if bands:
        what = " x ".join(f"{da.sizes[d]} {d}s" for d in bands)
        band_label = f"5-95% of {what} (line: median)"
    return _finish(fig, axes, da, hue, hue_values, colours, scale, xdim,
                   str(title) if title else None, band_label)
