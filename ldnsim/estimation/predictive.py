"""Predictive checks: the fitted model with its uncertainty at the data's design, and plots.

:func:`predictive_check` draws parameter sets (covariance or posterior, residual-error
parameters included), simulates every draw for every subject in one batch, adds residual error
and summarises: prediction intervals per observation (``pi_lower``/``pi_median``/
``pi_upper``), the fraction of observations inside them (``coverage``, expected about
``level``), and bands of dense profiles per subject for the visual predictive check.

The figures are in :mod:`ldnsim.plot.fit`: ``plot_vpc`` (observations over prediction bands),
``plot_gof`` (observed vs predicted, weighted residuals vs time and vs prediction) and
``plot_profile_likelihoods``.
"""
from __future__ import annotations

import numpy as np

from .problem import EstimationError

__all__ = ["predictive_check"]


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
    t, cnames, band = _bands(obj, X, curve_points, q, scale, rng)
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


def _bands(obj, X, curve_points, q, scale, rng):
    """Dense bands for the directly observed variables: curve times (shape (m,)), their names
    and the quantiles ``q`` with residual error, shape (3, n_names, n_subjects, m)."""
    problem = obj.problem
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
    return t, cnames, band


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
