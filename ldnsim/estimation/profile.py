"""Profile likelihoods: fix one parameter on a path away from the estimate, re-fit the others.

For each direction the profiled value moves in adaptive steps (doubling while the statistic
barely moves, halving when it jumps) until the likelihood-ratio statistic exceeds the
chi-square threshold (plus a margin), the bound is reached, or ``max_steps`` steps are done.
The confidence interval is where the statistic crosses ``chi2(level, 1)`` (linear interpolation
between points). The verdict follows Raue et al. (2009, Bioinformatics 25:1923):

- **identifiable**: the profile crosses the threshold on both sides;
- **practically non-identifiable**: it rises, but stays below the threshold on one side (or
  both) up to the bound: the data bound the parameter on one side only;
- **structurally non-identifiable**: it is flat (the statistic stays below
  :data:`FLAT_TOLERANCE` everywhere): other parameters compensate exactly.
"""
from __future__ import annotations

import numpy as np

from .optimise import _chi2, _optimise

__all__ = ["profile_likelihood", "profile_variables", "FLAT_TOLERANCE", "verdict"]

#: A profile whose statistic never exceeds this is flat (only optimiser noise).
FLAT_TOLERANCE = 0.02
IDENTIFIABLE = "identifiable"
PRACTICAL = "practically non-identifiable"
STRUCTURAL = "structurally non-identifiable (flat profile)"


def profile_likelihood(obj, x_hat, obj_hat, k, *, cov=None, level=0.95, max_steps=30,
                       max_iter=500):
    """Profile of parameter ``k`` of ``obj``'s vector around the optimum ``x_hat``.

    Returns
    -------
    dict
        ``x`` (points on the fitting scale, increasing), ``stat`` (likelihood-ratio statistic
        at each), ``path`` (the whole re-fitted vector at each point, natural scale),
        ``ci`` (lower, upper) on the natural scale (NaN where not crossed), ``verdict``,
        ``better`` (True if a point with a lower objective was found: the fit was not at its
        optimum).
    """

    threshold = _chi2(level)
    se = float(np.sqrt(cov[k, k])) if cov is not None and np.isfinite(cov[k, k]) else np.nan
    step0 = 0.3 * se if np.isfinite(se) and se > 0 else 0.1
    step0 = float(np.clip(step0, 1e-3, 0.5))
    free = np.ones(obj.n_x, bool)
    free[k] = False
    sides = {}
    for d in (-1.0, 1.0):
        pts, stats, paths = [], [], []
        x_cur, x_prev = x_hat.copy(), None
        step, last = step0, 0.0
        bound = obj.lower[k] if d < 0 else obj.upper[k]
        for _ in range(max_steps):
            target = x_cur[k] + d * step
            hit = (target <= bound) if d < 0 else (target >= bound)
            if hit:
                target = bound
            x_try = x_cur.copy()
            if x_prev is not None and x_cur[k] != x_prev[k]:
                # predictor: continue the path's direction, so parameters that compensate
                # for the profiled one (a flat valley) start where they will end up
                slope = (x_cur - x_prev) / (x_cur[k] - x_prev[k])
                x_try = np.clip(x_cur + slope * (target - x_cur[k]), obj.lower, obj.upper)
            x_try[k] = target
            x_new, value, _, _ = _optimise(obj, x_try, free=free, max_iter=max_iter)
            stat = obj.profile_stat(value, obj_hat)
            pts.append(target)
            stats.append(stat)
            paths.append(obj.natural(x_new))
            if stat > threshold + 1.0 or hit:
                break
            rise = stat - last
            if rise < 0.05 * threshold:
                step = min(step * 2.0, 2.0)
            elif rise > 0.3 * threshold:
                step = max(step / 2.0, 1e-4)
            x_cur, x_prev, last = x_new, x_cur, stat
        sides[d] = (pts, stats, paths)
    lo_pts, lo_stats, lo_paths = sides[-1.0]
    hi_pts, hi_stats, hi_paths = sides[1.0]
    x = np.array(lo_pts[::-1] + [x_hat[k]] + hi_pts)
    stat = np.array(lo_stats[::-1] + [0.0] + hi_stats)
    path = np.array(lo_paths[::-1] + [obj.natural(x_hat)] + hi_paths)
    centre = len(lo_pts)
    lo = _crossing(x[:centre + 1][::-1], stat[:centre + 1][::-1], threshold)
    hi = _crossing(x[centre:], stat[centre:], threshold)
    spec_scale = "log" if k >= obj.n_struct else obj.problem.params[k].scale
    to_nat = np.exp if spec_scale == "log" else (lambda v: v)
    ci = (float(to_nat(lo)) if np.isfinite(lo) else np.nan,
          float(to_nat(hi)) if np.isfinite(hi) else np.nan)
    return {"x": x, "value": to_nat(x), "stat": stat, "path": path, "ci": ci,
            "verdict": verdict(stat, ci), "better": bool(np.min(stat) < -1e-3),
            "threshold": threshold}


def _crossing(x, stat, threshold):
    """First point, walking outwards, where ``stat`` crosses ``threshold`` (interpolated)."""
    for i in range(1, len(x)):
        if stat[i] >= threshold > stat[i - 1]:
            w = (threshold - stat[i - 1]) / (stat[i] - stat[i - 1])
            return x[i - 1] + w * (x[i] - x[i - 1])
    return np.nan


def verdict(stat, ci):
    """The plain-language identifiability verdict of a profile (see the module docstring)."""
    lo, hi = ci
    if np.isfinite(lo) and np.isfinite(hi):
        return IDENTIFIABLE
    if np.nanmax(stat) < FLAT_TOLERANCE:
        return STRUCTURAL
    if np.isfinite(lo):
        return f"{PRACTICAL} (flat above the estimate: no upper confidence limit)"
    if np.isfinite(hi):
        return f"{PRACTICAL} (flat below the estimate: no lower confidence limit)"
    return f"{PRACTICAL} (below the threshold on both sides)"


def profile_variables(profiles, names, chi2):
    """Result-Dataset variables for a dict name -> profile (padded to equal length)."""
    profiled = list(profiles)
    width = max(len(p["x"]) for p in profiles.values())
    n = len(names)
    value = np.full((len(profiled), width), np.nan)
    stat = np.full((len(profiled), width), np.nan)
    path = np.full((len(profiled), width, n), np.nan)
    for i, name in enumerate(profiled):
        p = profiles[name]
        m = len(p["x"])
        value[i, :m], stat[i, :m], path[i, :m] = p["value"], p["stat"], p["path"]
    ci_lo = np.full(n, np.nan)
    ci_hi = np.full(n, np.nan)
    verdicts = np.array(["not profiled"] * n, dtype=object)
    for name, p in profiles.items():
        j = names.index(name)
        ci_lo[j], ci_hi[j] = p["ci"]
        verdicts[j] = p["verdict"]
    return {
        "profile_value": (("profiled", "profile_point"), value,
                          {"long_name": "profiled parameter value (natural scale)"}),
        "profile_stat": (("profiled", "profile_point"), stat,
                         {"long_name": "likelihood-ratio statistic (objective minus optimum)",
                          "threshold": chi2}),
        "profile_path": (("profiled", "profile_point", "parameter"), path,
                         {"long_name": "all parameters re-fitted along the profile"}),
        "profile_ci_lower": ("parameter", ci_lo, {"long_name": "profile-likelihood CI lower"}),
        "profile_ci_upper": ("parameter", ci_hi, {"long_name": "profile-likelihood CI upper"}),
        "identifiability": ("parameter", verdicts.astype(str)),
        "profiled": ("profiled", np.array(profiled, dtype=str)),
    }
