"""Predictive checks: the fitted model with its uncertainty at the data's design, and plots.

:func:`predictive_check` draws parameter sets (covariance or posterior, residual-error
parameters included), simulates every draw for every subject in one batch, adds residual error
and summarises: prediction intervals per observation (``pi_lower``/``pi_median``/
``pi_upper``), the fraction of observations inside them (``coverage``, expected about
``level``), and bands of dense profiles per subject for the visual predictive check.

Plots take the data first, accept ``ax``/``axes``, return the Axes, and import matplotlib
lazily: :func:`plot_vpc` (observations over prediction bands), :func:`plot_gof` (observed vs
predicted, weighted residuals vs time and vs prediction), :func:`plot_profiles`.
"""
from __future__ import annotations

import numpy as np

from ..dataset import parse_name
from .problem import EstimationError

__all__ = ["predictive_check", "plot_vpc", "plot_gof", "plot_profiles"]


def predictive_check(fit, problem=None, *, n=200, seed=0, source="auto", level=0.9,
                     curve_points=200):
    """Simulate the fitted model with parameter and residual uncertainty at the data design.

    Parameters
    ----------
    fit : xarray.Dataset or path
    problem : Problem, optional
        The fit's problem (rebuilt from the fit's files when not given).
    n : int
        Number of parameter draws.
    seed : int
        Seeds the draws and the residual noise.
    source : {"auto", "covariance", "posterior"}
    level : float
        Width of the prediction intervals.

    Returns
    -------
    xarray.Dataset
        ``pi_lower``, ``pi_median``, ``pi_upper`` (obs) with residual error,
        ``ci_pred_lower``/``ci_pred_upper`` (obs) without it, ``DV``, ``coverage`` (attr), and
        ``band_lower``/``band_median``/``band_upper`` over ``(name, subject, curve_time)`` for
        the directly observed variables.
    """
    import xarray as xr

    from .draws import _as_fit, draw_parameters, problem_from_fit
    from .objective import Objective

    fit = _as_fit(fit)
    if problem is None:
        problem, _ = problem_from_fit(fit)
    obj = Objective(problem)
    draws = draw_parameters(fit, n, seed=seed, source=source, include_error=True)
    names = [str(p) for p in draws["parameter"].values]
    if names != list(problem.x_names):
        raise EstimationError(f"the fit's parameters {names} do not match the problem's "
                              f"{list(problem.x_names)}")
    X = obj.to_x(draws.values)
    F, ok = obj.predict(X)
    if not ok.any():
        raise EstimationError("the model failed for every draw")
    F, X = F[ok], X[ok]
    rng = np.random.default_rng(None if seed is None else seed + 1)
    # WLS: weights are relative unless every SD is known; the fitted scale s^2 sizes them
    scale = float(np.sqrt(fit.attrs.get("residual_scale", 1.0))) \
        if problem.method == "wls" else 1.0
    Y = np.empty_like(F)
    for r in range(F.shape[0]):
        sd, _, _ = obj.sigma(F[r], np.exp(X[r, obj.n_struct:]))
        Y[r] = F[r] + scale * sd * rng.standard_normal(F.shape[1])
    q = [(1 - level) / 2, 0.5, (1 + level) / 2]
    lo, med, hi = np.quantile(Y, q, axis=0)
    flo, fhi = np.quantile(F, [q[0], q[2]], axis=0)
    inside = (problem.y >= lo) & (problem.y <= hi)
    # dense bands for the directly observed variables
    t, curves = problem.curves(obj.theta(X[:, :obj.n_struct]), curve_points)
    cnames = sorted(curves)
    S = problem.n_subjects
    band = np.full((3, len(cnames), S, t.size), np.nan)
    for i, name in enumerate(cnames):
        c = curves[name]                               # (R, S, m)
        spec = problem.errors.get(name)
        if spec is not None:
            sd = np.stack([_curve_sigma(obj, name, c[r], X[r]) for r in range(c.shape[0])])
            c = c + scale * sd * rng.standard_normal(c.shape)
        band[:, i] = np.nanquantile(c, q, axis=0)
    obs = problem.data.observations
    return xr.Dataset(
        {"pi_lower": ("obs", lo), "pi_median": ("obs", med), "pi_upper": ("obs", hi),
         "ci_pred_lower": ("obs", flo), "ci_pred_upper": ("obs", fhi),
         "DV": ("obs", problem.y), "SD": ("obs", problem.sd),
         "inside": ("obs", inside),
         "ID": ("obs", obs["ID"].values), "NAME": ("obs", obs["NAME"].values),
         "TIME": ("obs", obs["TIME"].values),
         "band_lower": (("name", "subject", "curve_time"), band[0]),
         "band_median": (("name", "subject", "curve_time"), band[1]),
         "band_upper": (("name", "subject", "curve_time"), band[2]),
         "subject_start": ("subject", np.array([problem.data.start[s]
                                                for s in problem.data.subjects]))},
        coords={"obs": np.arange(problem.n_obs), "name": cnames,
                "subject": list(problem.data.subjects), "curve_time": t},
        attrs={"coverage": float(np.mean(inside)), "level": float(level),
               "n_draws": int(F.shape[0]), "source": draws.attrs["source"],
               "seed": -1 if seed is None else int(seed)})


def _curve_sigma(obj, name, values, x):
    """Residual sd of NAME's error model at predicted ``values`` (any shape)."""
    from .problem import error_tag

    spec = obj.problem.errors[name]
    if obj.problem.method == "wls":
        a, b = spec.additive, spec.proportional
    else:
        e = dict(zip([p[0] for p in obj.err], np.exp(x[obj.n_struct:])))
        a = e.get(f"sigma_add_{error_tag(name)}", spec.additive)
        b = e.get(f"sigma_prop_{error_tag(name)}", spec.proportional)
    a = a if spec.model != "proportional" else 0.0
    b = b if spec.model != "additive" else 0.0
    return np.sqrt(a * a + (b * values) ** 2)


# --------------------------------------------------------------------------------- plots
def _plt():
    import matplotlib.pyplot as plt
    return plt


def _grid(n, axes=None, size=(4.2, 3.3)):
    plt = _plt()
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
    colors = _plt().rcParams["axes.prop_cycle"].by_key()["color"]
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
    plt = _plt()
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


def plot_profiles(fit, *, axes=None):
    """Profile likelihoods: statistic vs value, threshold, estimate, verdict. Returns Axes."""
    if "profile_stat" not in fit:
        raise EstimationError("this fit has no profiles; fit with profile=[...]")
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
