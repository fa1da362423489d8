"""Fitting: multi-start optimisation (scipy.optimize), Fisher-information standard errors,
Wald and profile confidence intervals, and the result as an ``xarray.Dataset``.

``fit(model, data, params=[...])`` is the one call; :func:`fit_problem` does the same for a
:class:`~ldnsim.estimation.problem.Problem` already laid out. The optimiser is
``scipy.optimize.least_squares`` (trust-region reflective, bounds) for weighted least squares
and ``scipy.optimize.minimize`` (L-BFGS-B, bounds) for maximum likelihood, both on the
log-scale parameter vector with exact chain-rule gradients from the batched sensitivities.
"""
from __future__ import annotations

import math
import time
import warnings

import numpy as np

from .._version import __version__
from .objective import PENALTY, Objective
from .optimise import FitWarning, _chi2, _optimise, _z
from .posterior import posterior_variables, sample_posterior
from .problem import EstimationError, build_problem
from .profile import profile_likelihood, profile_variables

__all__ = ["fit", "fit_problem", "FitWarning", "covariance_from_fisher"]

def _start_points(obj, n_starts, seed):
    """``x0`` first, then points drawn uniformly in the bounds of the fitted parameters
    (log-uniform on the log scale); error parameters keep their initial values."""
    rng = np.random.default_rng(seed)
    starts = [obj.x0.copy()]
    for _ in range(n_starts - 1):
        x = obj.x0.copy()
        k = obj.n_struct
        x[:k] = rng.uniform(obj.lower[:k], obj.upper[:k])
        starts.append(x)
    return starts


def covariance_from_fisher(info, rcond=1e-10):
    """Covariance = inverse Fisher information; directions with eigenvalues below
    ``rcond * largest`` are not identifiable and give infinite variance.

    Returns ``(cov, singular)`` where ``singular`` flags parameters in such directions."""
    info = 0.5 * (info + info.T)
    n = info.shape[0]
    if n == 0:
        return np.zeros((0, 0)), np.zeros(0, bool)
    vals, vecs = np.linalg.eigh(info)
    top = max(float(vals.max()), 0.0)
    keep = vals > rcond * top if top > 0 else np.zeros(n, bool)
    cov = (vecs[:, keep] / vals[keep]) @ vecs[:, keep].T
    singular = np.zeros(n, bool)
    if (~keep).any():
        # a parameter is named when it carries a real share (> 1 %) of an undetermined
        # direction, not every parameter with a rounding-level component
        singular = np.any(vecs[:, ~keep] ** 2 > 0.01, axis=1)
        d = np.diag(cov).copy()
        d[singular] = np.inf
        np.fill_diagonal(cov, d)
    return cov, singular


# ------------------------------------------------------------------------------- fit
def fit(model, data, params, *, method="ml", error=None, fixed=None, scenarios=(), starts=1,
        seed=None, gradient="fd", profile=(), posterior=None, level=0.95, rtol=1e-8,
        atol=1e-10, max_iter=500, progress=False, settings=None):
    """Fit model parameters to observed data.

    Parameters
    ----------
    model : Model, shipped model name or model file
    data : ObservedData, path or list of paths (see ``ldnsim.read_dataset``)
    params : list of str or dict
        Fitted parameters; a dict maps a name to ``{init, lower, upper, scale, prior}``.
    method : {"ml", "wls"}
        Maximum likelihood (residual-error parameters estimated) or weighted least squares.
    error : str or dict
        Residual error model: ``"additive"``, ``"proportional"`` (default) or ``"combined"``,
        a spec ``{model, additive, proportional, estimate}``, or ``{NAME: spec}``.
    fixed : dict
        Parameters set (not fitted) for every subject.
    scenarios : sequence of str
        Model scenarios applied to every subject (before its own SCENARIO column).
    starts : int
        Number of optimiser starts: the initial values, then seeded random points in the bounds.
    seed : int, optional
        Seed of the random starts (and the default seed of the posterior sampler).
    gradient : {"fd", "sensitivity"}
        Finite differences (one batch per gradient) or forward sensitivities.
    profile : sequence of str or True
        Parameters whose profile likelihood is computed (True: all fitted parameters).
    posterior : dict, optional
        Run an MCMC posterior after the fit: ``{walkers, steps, burn, thin, seed}`` (see
        :func:`ldnsim.estimation.posterior.sample_posterior`); priors come from ``params``.
    level : float
        Confidence level of the Wald and profile intervals.
    rtol, atol : float
        Solver tolerances while fitting.
    max_iter : int
        Iteration limit per start.
    progress : bool
        Show progress bars (tqdm) on stderr.
    settings : dict, optional
        Recorded in the result's ``settings`` attribute (``ldnsim fit`` stores its
        configuration text there).

    Returns
    -------
    xarray.Dataset
        See :func:`fit_problem`.
    """
    problem = build_problem(model, data, params, method=method, error=error, fixed=fixed,
                            scenarios=scenarios, rtol=rtol, atol=atol)
    return fit_problem(problem, starts=starts, seed=seed, gradient=gradient, profile=profile,
                       posterior=posterior, level=level, max_iter=max_iter, progress=progress,
                       settings=settings)


def fit_problem(problem, *, starts=1, seed=None, gradient="fd", profile=(), posterior=None,
                level=0.95, max_iter=500, progress=False, settings=None):
    """Fit a laid-out :class:`~ldnsim.estimation.problem.Problem`.

    Returns
    -------
    xarray.Dataset
        Dims ``parameter`` (fitted and residual-error parameters), ``parameter2`` (its copy,
        for matrices), ``obs`` (observations), ``start`` (optimiser starts) and, when asked,
        ``profile_point``, ``chain``/``draw``. Variables: ``estimate``, ``se`` (delta method,
        natural scale), ``se_log`` (on the fitting scale), ``rse`` (%), ``ci_lower``/
        ``ci_upper`` (Wald, computed on the fitting scale), ``initial``, ``lower``, ``upper``,
        ``correlation``, ``covariance`` (fitting scale), ``profile_*``; per observation
        ``ID, TIME, NAME, DV, SD, PRED, SIGMA, RES, WRES``; per start ``start_objective``,
        ``start_converged``. Attributes: ``objective``, ``neg2ll``, ``aic``, ``bic``,
        ``n_obs``, ``n_parameters``, ``method``, ``converged``, model and data provenance,
        ``settings`` (JSON).
    """
    if not (isinstance(starts, int) and starts >= 1):
        raise EstimationError(f"starts must be an integer >= 1, got {starts!r}")
    if not 0 < level < 1:
        raise EstimationError(f"level must be between 0 and 1, got {level!r}")
    t_begin = time.perf_counter()
    obj = Objective(problem, gradient=gradient)
    runs = []
    for x0 in _bar(_start_points(obj, starts, seed), progress, "starts"):
        runs.append(_optimise(obj, x0, max_iter=max_iter))
    values = np.array([r[1] if np.isfinite(r[1]) else np.inf for r in runs])  # NaN never wins
    best = int(np.argmin(values))
    x_hat, obj_hat, converged, message = runs[best]
    if obj_hat >= PENALTY:
        raise EstimationError("every optimiser start failed: the model could not be solved at "
                              "any start point; check the bounds and initial values")
    if not converged:
        warnings.warn(f"the best optimiser start did not report convergence ({message}); "
                      "increase max_iter or check the problem", FitWarning, stacklevel=2)
    info = obj.fisher(x_hat)
    cov, singular = covariance_from_fisher(info)
    names = obj.problem.x_names
    if singular.any():
        bad = [names[i] for i in np.flatnonzero(singular)]
        warnings.warn(f"the Fisher information is singular: {', '.join(bad)} cannot be "
                      "determined from these data (see their profile likelihood)", FitWarning,
                      stacklevel=2)
    profiles = {}
    if profile:
        chosen = list(problem.param_names) if profile is True else list(profile)
        for name in chosen:
            if name not in obj.problem.x_names:
                raise EstimationError(f"cannot profile {name!r}: it is not fitted; fitted: "
                                      f"{', '.join(obj.problem.x_names)}")
        for name in _bar(chosen, progress, "profiles"):
            k = obj.problem.x_names.index(name)
            profiles[name] = profile_likelihood(obj, x_hat, obj_hat, k, cov=cov, level=level,
                                                max_iter=max_iter)
    samples = None
    if posterior is not None:
        opts = dict(posterior)
        opts.setdefault("seed", seed)
        samples = sample_posterior(obj, x_hat, cov, progress=progress, **opts)
    elapsed = time.perf_counter() - t_begin
    return _result(obj, x_hat, obj_hat, converged, message, cov, runs, profiles, samples,
                   level, elapsed, starts, seed, gradient, settings)


def _bar(items, progress, desc):
    if not progress:
        return items
    from tqdm.auto import tqdm
    return tqdm(items, desc=desc, leave=False)


# ---------------------------------------------------------------------------- result
def _result(obj, x_hat, obj_hat, converged, message, cov, runs, profiles, samples, level,
            elapsed, starts, seed, gradient, settings):
    import xarray as xr

    pb = obj.problem
    names = list(pb.x_names)
    stats = _parameter_stats(obj, x_hat, cov, level)
    at_bound, est = stats["at_bound"], stats["estimate"]
    if at_bound.any():
        warnings.warn("estimate at its bound: " + ", ".join(
            f"{names[i]} = {est[i]:.4g}" for i in np.flatnonzero(at_bound))
            + "; widen the bounds or fix the parameter", FitWarning, stacklevel=3)
    pred, sigma, wres = obj.weighted_residuals(x_hat)
    neg2ll, extra = obj.neg2ll(x_hat)
    n_obs = pb.n_obs
    data_vars = {**_parameter_vars(obj, stats, cov, level), **_obs_vars(pb, pred, sigma, wres),
                 "start_objective": ("start", np.array([r[1] for r in runs])),
                 "start_converged": ("start", np.array([r[2] for r in runs])),
                 "start_estimate": (("start", "parameter"),
                                    np.array([obj.natural(r[0]) for r in runs]))}
    chi2 = _chi2(level)
    if profiles:
        data_vars.update(profile_variables(profiles, names, chi2))
    if samples is not None:
        data_vars.update(posterior_variables(samples, obj, level))
    fit_info = {"objective": obj_hat, "neg2ll": neg2ll, "k": len(names) + extra,
                "converged": converged, "message": message, "level": level, "chi2": chi2,
                "starts": starts, "seed": seed, "gradient": gradient, "settings": settings,
                "elapsed": elapsed}
    ds = xr.Dataset(data_vars, coords={"parameter": names, "parameter2": names,
                                       "obs": np.arange(n_obs),
                                       "start": np.arange(len(runs))},
                    attrs=_fit_attrs(obj, x_hat, fit_info))
    return ds


def _parameter_stats(obj, x_hat, cov, level):
    """Estimates and their uncertainty on the natural scale: a dict of arrays of shape
    (n_parameters,) (``correlation``: (n_parameters, n_parameters)) plus ``scales``."""
    n = len(obj.problem.x_names)
    scales = [p.scale for p in obj.problem.params] + ["log"] * len(obj.err)
    est = obj.natural(x_hat)
    se_x = np.sqrt(np.maximum(np.diag(cov), 0.0)) if n else np.zeros(0)
    z = _z(level)
    lo_x, hi_x = x_hat - z * se_x, x_hat + z * se_x
    is_log = np.array([s == "log" for s in scales])
    ci_lo = np.where(is_log, np.exp(lo_x), lo_x)
    ci_hi = np.where(is_log, np.exp(hi_x), hi_x)
    se = np.where(is_log, est * se_x, se_x)
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = cov / np.outer(se_x, se_x)
        rse = 100.0 * se / np.abs(est)
    corr[~np.isfinite(corr)] = np.nan
    np.fill_diagonal(corr, 1.0)
    init = obj.natural(obj.x0)
    lower = obj.natural(obj.lower)
    upper = obj.natural(obj.upper)
    at_bound = (np.abs(x_hat - obj.lower) < 1e-6) | (np.abs(x_hat - obj.upper) < 1e-6)
    return {"scales": scales, "estimate": est, "se": se, "se_log": se_x, "rse": rse,
            "ci_lower": ci_lo, "ci_upper": ci_hi, "correlation": corr, "initial": init,
            "lower": lower, "upper": upper, "at_bound": at_bound}


def _parameter_vars(obj, stats, cov, level):
    """The result's variables along ``parameter`` (and ``parameter2``)."""
    pb = obj.problem
    names = list(pb.x_names)
    kinds = ["model"] * obj.n_struct + ["residual error"] * len(obj.err)
    units = {p.name: p.unit for p in pb.model.parameters}
    return {
        "estimate": ("parameter", stats["estimate"], {"long_name": "estimate"}),
        "se": ("parameter", stats["se"], {"long_name": "standard error (delta method from "
                                                       "the fitting scale)"}),
        "se_log": ("parameter", stats["se_log"], {"long_name": "standard error on the fitting "
                                                               "scale (log for log-scale "
                                                               "parameters)"}),
        "rse": ("parameter", stats["rse"], {"long_name": "relative standard error",
                                            "units": "%"}),
        "ci_lower": ("parameter", stats["ci_lower"], {"long_name": f"Wald {level:.0%} CI lower "
                                                                   "bound (on the fitting "
                                                                   "scale)"}),
        "ci_upper": ("parameter", stats["ci_upper"], {"long_name": f"Wald {level:.0%} CI upper "
                                                                   "bound"}),
        "initial": ("parameter", stats["initial"]), "lower": ("parameter", stats["lower"]),
        "upper": ("parameter", stats["upper"]),
        "scale": ("parameter", np.array(stats["scales"], dtype=str)),
        "kind": ("parameter", np.array(kinds, dtype=str)),
        "units": ("parameter", np.array([units.get(nm, "1") if i < obj.n_struct else
                                         _err_unit(pb, i - obj.n_struct, obj)
                                         for i, nm in enumerate(names)], dtype=str)),
        "at_bound": ("parameter", stats["at_bound"]),
        "correlation": (("parameter", "parameter2"), stats["correlation"]),
        "covariance": (("parameter", "parameter2"), cov,
                       {"long_name": "covariance on the fitting scale (inverse Fisher "
                                     "information)"}),
    }


def _obs_vars(pb, pred, sigma, wres):
    """The result's variables along ``obs``: the data and the residuals at the estimate."""
    obs = pb.data.observations
    return {
        "ID": ("obs", obs["ID"].values), "TIME": ("obs", obs["TIME"].values,
                                                   {"units": pb.model.time_unit}),
        "NAME": ("obs", obs["NAME"].values), "UNIT": ("obs", obs["UNIT"].values),
        "DV": ("obs", pb.y), "SD": ("obs", pb.sd),
        "PRED": ("obs", pred, {"long_name": "prediction at the estimate"}),
        "SIGMA": ("obs", sigma, {"long_name": "residual sd at the estimate"}),
        "RES": ("obs", pb.y - pred, {"long_name": "DV - PRED"}),
        "WRES": ("obs", wres, {"long_name": "weighted residual (DV - PRED) / SIGMA"}),
    }


def _fit_attrs(obj, x_hat, info):
    """The result's attributes: provenance, the fit statistics of ``info`` and the settings."""
    from ..results import provenance_attrs

    pb = obj.problem
    neg2ll, k, n_obs = info["neg2ll"], info["k"], pb.n_obs
    return provenance_attrs(
        title=f"ldnsim fit of {pb.model.name}", model=pb.model.name, model_hash=pb.model.hash,
        model_path=str(pb.model.path or ""), data_files=pb.data.files,
        method=pb.method, objective=float(info["objective"]),
        objective_name="-2 log likelihood" if pb.method == "ml" else "weighted SSR",
        neg2ll=float(neg2ll), aic=float(neg2ll + 2 * k),
        bic=float(neg2ll + k * math.log(max(n_obs, 1))), n_obs=n_obs, n_parameters=k,
        n_subjects=pb.n_subjects, converged=bool(info["converged"]),
        optimizer_message=info["message"],
        residual_scale=float(obj.residual_scale(x_hat)), level=float(info["level"]),
        chi2_threshold=info["chi2"], starts=int(info["starts"]), seed=info["seed"],
        gradient=info["gradient"],
        fixed=dict(pb.fixed), scenarios=list(pb.scenarios), solver=dict(pb.solver),
        error_models={k_: {"model": v.model, "additive": v.additive,
                           "proportional": v.proportional, "estimate": v.estimate}
                      for k_, v in pb.errors.items()},
        parameters={p.name: {"init": p.init, "lower": p.lower, "upper": p.upper,
                             "scale": p.scale, "prior": list(p.prior) if p.prior else None}
                    for p in pb.params},
        n_simulations=int(obj.n_sim), fit_seconds=round(info["elapsed"], 3),
        settings=info["settings"] or {}, ldnsim_fit_version=__version__)


def _err_unit(pb, j, obj):
    pname, name, kind, _ = obj.err[j]
    if kind == "proportional":
        return "1"
    return str(pb.data.observations["UNIT"].values[pb.data.observations["NAME"].values
                                                    == name][0])
