"""Plots of a fit (``ldnsim.fit`` results): visual predictive check, goodness of fit, profile
likelihoods. Data first, ``axes=None``, the Axes returned."""
from __future__ import annotations

import numpy as np

from ldnsim.dataset import parse_name

from ._base import PlotError, pyplot

__all__ = ["plot_vpc", "plot_gof", "plot_profile_likelihoods"]


def _grid(n, axes=None, size=(4.2, 3.3)):
    plt = pyplot()
    if axes is not None:
        return np.atleast_1d(axes).ravel()
    cols = min(n, 3)
    rows = int(np.ceil(n / cols))
    fig, ax = plt.subplots(rows, cols, figsize=(size[0] * cols, size[1] * rows),
                           squeeze=False, constrained_layout=True)
    for a in ax.ravel()[n:]:
        a.set_visible(False)
    return ax.ravel()[:n]


def plot_vpc(check, *, axes=None, log=False):
    """Visual predictive check: observations over prediction bands, one panel per NAME.

    Directly observed variables get a band per subject (lines of the subject's colour);
    summary observations (``Cmax(...)`` etc.) a prediction interval per observation.
    Returns the Axes.
    """
    names = sorted(set(check["NAME"].values.tolist()))
    axes = _grid(len(names), axes)
    colors = pyplot().rcParams["axes.prop_cycle"].by_key()["color"]
    subjects = [str(s) for s in check["subject"].values]
    for ax, name in zip(axes, names):
        sel = check["NAME"].values == name
        metric, _ = parse_name(name)
        if metric is None and name in check["name"].values:
            for j, sid in enumerate(subjects):
                m = sel & (check["ID"].values == sid)
                if not m.any():
                    continue
                col = colors[j % len(colors)]
                t = check["curve_time"].values + check["subject_start"].values[j]
                b = check.sel(name=name).isel(subject=j)
                tmax = check["TIME"].values[m].max()
                keep = t <= tmax * 1.05 + 1e-9
                ax.fill_between(t[keep], b["band_lower"].values[keep],
                                b["band_upper"].values[keep], color=col, alpha=0.18, lw=0)
                ax.plot(t[keep], b["band_median"].values[keep], color=col, lw=1)
                _points(ax, check, m, col, label=sid if len(subjects) <= 8 else None)
            ax.set_xlabel("time")
        else:
            idx = np.flatnonzero(sel)
            xs = np.arange(idx.size)
            ax.errorbar(xs, check["pi_median"].values[idx],
                        yerr=[check["pi_median"].values[idx] - check["pi_lower"].values[idx],
                              check["pi_upper"].values[idx] - check["pi_median"].values[idx]],
                        fmt="s", color="0.5", ms=4, capsize=3, label="prediction interval")
            ax.errorbar(xs + 0.1, check["DV"].values[idx],
                        yerr=np.nan_to_num(check["SD"].values[idx]), fmt="o", color="k",
                        ms=4, capsize=2, label="observed")
            ax.set_xticks(xs)
            ax.set_xticklabels([str(i) for i in check["ID"].values[idx]], rotation=45,
                               fontsize="small")
            ax.set_xlabel("ID")
        if log:
            ax.set_yscale("log")
        ax.set_title(f"{name}: {check.attrs['level']:.0%} PI, coverage "
                     f"{np.mean(check['inside'].values[sel]):.0%}", fontsize="medium")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize="x-small")
    return axes


def _points(ax, check, m, col, label=None):
    sd = check["SD"].values[m]
    ax.errorbar(check["TIME"].values[m], check["DV"].values[m],
                yerr=np.where(np.isfinite(sd), sd, 0.0) if np.isfinite(sd).any() else None,
                fmt="o", color=col, ms=3.5, mec="k", mew=0.4, capsize=2, lw=0.8, label=label)


def plot_gof(fit, *, axes=None):
    """Goodness of fit: observed vs predicted, weighted residuals vs time and vs prediction.
    Returns the three Axes."""
    plt = pyplot()
    if axes is None:
        _, axes = plt.subplots(1, 3, figsize=(13, 3.8), constrained_layout=True)
    names = sorted(set(fit["NAME"].values.tolist()))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    dv, pred, wres = (fit[v].values for v in ("DV", "PRED", "WRES"))
    for i, name in enumerate(names):
        m = fit["NAME"].values == name
        c = colors[i % len(colors)]
        axes[0].plot(pred[m], dv[m], "o", color=c, ms=4, label=name)
        axes[1].plot(fit["TIME"].values[m], wres[m], "o", color=c, ms=4)
        axes[2].plot(pred[m], wres[m], "o", color=c, ms=4)
    lim = [np.nanmin([dv.min(), pred.min()]), np.nanmax([dv.max(), pred.max()])]
    axes[0].plot(lim, lim, "k-", lw=0.8)
    if lim[0] > 0 and lim[1] / lim[0] > 50:
        axes[0].set_xscale("log")
        axes[0].set_yscale("log")
    axes[0].set_xlabel("predicted")
    axes[0].set_ylabel("observed")
    axes[0].legend(fontsize="x-small")
    for ax, xl in ((axes[1], "time"), (axes[2], "predicted")):
        ax.axhline(0, color="k", lw=0.8)
        for y in (-2, 2):
            ax.axhline(y, color="k", lw=0.6, ls=":")
        ax.set_xlabel(xl)
        ax.set_ylabel("weighted residual")
    axes[0].set_title(f"{fit.attrs.get('model', '')}: {fit.attrs.get('method', '')} fit",
                      fontsize="medium")
    return axes


def plot_profile_likelihoods(fit, *, axes=None):
    """Profile likelihoods: statistic vs value, threshold, estimate, verdict. Returns Axes."""
    if "profile_stat" not in fit:
        raise PlotError("this fit has no profiles; fit with profile=[...]")
    profiled = [str(p) for p in fit["profiled"].values]
    axes = _grid(len(profiled), axes, size=(3.8, 3.0))
    thr = float(fit["profile_stat"].attrs.get("threshold", 3.84))
    for ax, name in zip(axes, profiled):
        v = fit["profile_value"].sel(profiled=name).values
        s = fit["profile_stat"].sel(profiled=name).values
        ok = np.isfinite(v) & np.isfinite(s)
        ax.plot(v[ok], s[ok], "o-", ms=3)
        ax.axhline(thr, color="r", lw=0.8, ls="--")
        est = float(fit["estimate"].sel(parameter=name))
        ax.axvline(est, color="k", lw=0.8)
        lo = float(fit["ci_lower"].sel(parameter=name))
        hi = float(fit["ci_upper"].sel(parameter=name))
        if np.isfinite(lo) and np.isfinite(hi):
            ax.axvspan(lo, hi, color="0.85", zorder=0, label="Wald CI")
        if str(fit["scale"].sel(parameter=name).values) == "log" and ok.any() and \
                np.nanmax(v[ok]) / np.nanmin(v[ok]) > 20:
            ax.set_xscale("log")
        ax.set_ylim(-0.2, max(thr * 1.6, np.nanmax(s[ok]) * 1.05 if ok.any() else 1))
        ax.set_xlabel(name)
        ax.set_ylabel("likelihood-ratio statistic")
        ax.set_title(str(fit["identifiability"].sel(parameter=name).values), fontsize="small")
    return axes
