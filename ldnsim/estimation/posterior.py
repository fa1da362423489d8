"""Bayesian posterior by ensemble MCMC (emcee), with arviz convergence diagnostics.

The sampler works on the optimiser's vector ``x`` (log scale for log parameters), starting
from a small ball around the maximum-likelihood estimate. All walkers of one step are one
simulation batch (``vectorize=True``: ``walkers * subjects`` rows).

Priors (``prior = [dist, a, b]`` per parameter, on the natural scale):

- ``["lognormal", median, sd_log]``; ``["normal", mean, sd]``; ``["uniform", lower, upper]``;
- none: uniform on the fitting scale within the bounds (log-uniform for log parameters);
  residual-error parameters are log-uniform within their bounds.

Convergence: rank-normalised split R-hat and bulk/tail effective sample sizes (Vehtari et al.
2021, through arviz), each walker counted as a chain. A warning (``FitWarning``) says when
R-hat > :data:`RHAT_MAX` or the bulk ESS < :data:`ESS_MIN` for any parameter; walkers of an
ensemble are not independent chains, so these numbers are optimistic rather than strict.
"""
from __future__ import annotations

import math
import warnings

import numpy as np

from .optimise import FitWarning
from .problem import EstimationError

__all__ = ["sample_posterior", "log_prior", "posterior_variables", "RHAT_MAX", "ESS_MIN",
           "PRIORS"]

RHAT_MAX = 1.01
ESS_MIN = 400
PRIORS = ("lognormal", "normal", "uniform")


def _check_prior(name, prior):
    if prior is None:
        return None
    prior = list(prior)
    if len(prior) != 3 or prior[0] not in PRIORS:
        raise EstimationError(f"prior of {name}: expected [dist, a, b] with dist one of "
                              f"{', '.join(PRIORS)}, got {prior!r}")
    dist, a, b = prior[0], float(prior[1]), float(prior[2])
    if dist == "lognormal" and not (a > 0 and b > 0):
        raise EstimationError(f"prior of {name}: lognormal needs median > 0 and sd_log > 0")
    if dist == "normal" and not b > 0:
        raise EstimationError(f"prior of {name}: normal needs sd > 0")
    if dist == "uniform" and not a < b:
        raise EstimationError(f"prior of {name}: uniform needs lower < upper")
    return dist, a, b


def log_prior(obj, X):
    """Log prior density in ``x`` (Jacobian included) of candidate rows (R, n_x); -inf outside
    the bounds."""
    X = np.atleast_2d(X)
    out = np.zeros(X.shape[0])
    inside = np.all((X >= obj.lower) & (X <= obj.upper), axis=1)
    out[~inside] = -np.inf
    for k, spec in enumerate(obj.problem.params):
        prior = _check_prior(spec.name, spec.prior)
        if prior is None:
            continue
        dist, a, b = prior
        x = X[:, k]
        theta = spec.from_x(x)
        log_jac = x if spec.scale == "log" else 0.0
        if dist == "lognormal":
            lp = -0.5 * ((np.log(np.maximum(theta, 1e-300)) - math.log(a)) / b) ** 2 \
                - np.log(np.maximum(theta, 1e-300))
        elif dist == "normal":
            lp = -0.5 * ((theta - a) / b) ** 2
        else:
            lp = np.where((theta >= a) & (theta <= b), 0.0, -np.inf)
        out += lp + log_jac
    return out


def sample_posterior(obj, x_hat, cov=None, *, walkers=None, steps=2000, burn=None, thin=1,
                     seed=None, progress=False):
    """Sample the posterior of ``obj``'s parameters with emcee.

    Parameters
    ----------
    obj : Objective
    x_hat : ndarray, shape (n_x,)
        The maximum-likelihood point (start of the walkers).
    cov : ndarray, optional
        Covariance on the fitting scale, to size the initial ball.
    walkers : int, optional
        Number of walkers (default ``max(16, 4 * n_x)``, even).
    steps, burn, thin : int
        Steps per walker; discarded initial steps (default ``steps // 4``); thinning.
    seed : int, optional

    Returns
    -------
    dict
        ``x`` (walker, draw, n_x) on the fitting scale, ``log_prob`` (walker, draw),
        ``rhat``, ``ess_bulk``, ``ess_tail`` (n_x,), ``acceptance`` (mean fraction),
        ``converged`` (bool), settings.
    """
    try:
        import emcee
    except ImportError:
        raise EstimationError("the posterior needs emcee and arviz: pip install "
                              "'ldnsim[fit]'") from None
    pb = obj.problem
    if pb.method != "ml" and not obj.scale_known:
        raise EstimationError("a posterior needs a likelihood: use method = 'ml' (or WLS with "
                              "an SD on every row)")
    for spec in pb.params:
        _check_prior(spec.name, spec.prior)
    ndim = obj.n_x
    walkers = int(walkers or max(16, 4 * ndim))
    walkers += walkers % 2
    if walkers < 2 * ndim:
        raise EstimationError(f"walkers = {walkers} is too few for {ndim} parameters; emcee "
                              f"needs at least {2 * ndim}")
    steps = int(steps)
    burn = steps // 4 if burn is None else int(burn)
    if not 0 <= burn < steps:
        raise EstimationError(f"burn must be in [0, steps), got burn = {burn}, steps = {steps}")
    rng = np.random.default_rng(seed)
    scale = np.full(ndim, 1e-2)
    if cov is not None:
        d = np.sqrt(np.diag(cov))
        scale = np.where(np.isfinite(d) & (d > 0), 0.1 * d, 1e-2)
    p0 = x_hat + scale * rng.standard_normal((walkers, ndim))
    p0 = np.clip(p0, obj.lower + 1e-9, obj.upper - 1e-9)

    def log_prob(X):
        lp = log_prior(obj, X)
        ok = np.isfinite(lp)
        if ok.any():
            # ML: -2 log L; WLS with known SDs: the SSR, -2 log L up to a constant
            lp[ok] += -0.5 * obj.neg2ll_values(X[ok])
        return lp

    sampler = emcee.EnsembleSampler(walkers, ndim, log_prob, vectorize=True)
    sampler.random_state = np.random.RandomState(rng.integers(2**31)).get_state()
    sampler.run_mcmc(p0, steps, progress=bool(progress))
    chain = sampler.get_chain(discard=burn, thin=int(thin))          # (draws, walkers, n)
    logp = sampler.get_log_prob(discard=burn, thin=int(thin))
    x = np.transpose(chain, (1, 0, 2))
    rhat, ess_bulk, ess_tail = diagnostics(x)
    converged = bool(np.all(rhat <= RHAT_MAX) and np.all(ess_bulk >= ESS_MIN))
    if not converged:
        names = pb.x_names
        worst = int(np.argmax(rhat))
        low = int(np.argmin(ess_bulk))
        warnings.warn(f"the posterior has not converged: R-hat {rhat[worst]:.3f} for "
                      f"{names[worst]} (want <= {RHAT_MAX}), bulk ESS {ess_bulk[low]:.0f} for "
                      f"{names[low]} (want >= {ESS_MIN}); run more steps or more walkers",
                      _fit_warning(), stacklevel=3)
    return {"x": x, "log_prob": logp.T, "rhat": rhat, "ess_bulk": ess_bulk,
            "ess_tail": ess_tail, "acceptance": float(np.mean(sampler.acceptance_fraction)),
            "converged": converged, "walkers": walkers, "steps": steps, "burn": burn,
            "thin": int(thin)}


def _fit_warning():
    return FitWarning


def diagnostics(x):
    """R-hat, bulk and tail ESS per parameter of samples ``x`` (chain, draw, n) via arviz."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # arviz's refactoring notice
        import arviz as az
    n = x.shape[-1]
    rhat, bulk, tail = np.empty(n), np.empty(n), np.empty(n)
    for k in range(n):
        a = np.ascontiguousarray(x[:, :, k])
        rhat[k] = float(az.rhat(a))
        bulk[k] = float(az.ess(a, method="bulk"))
        tail[k] = float(az.ess(a, method="tail"))
    return rhat, bulk, tail


def posterior_variables(samples, obj, level):
    """Result-Dataset variables: the chain on the natural scale, summaries, diagnostics."""
    nat = obj.natural(samples["x"])
    q = [(1 - level) / 2, 0.5, (1 + level) / 2]
    flat = nat.reshape(-1, nat.shape[-1])
    lo, med, hi = np.quantile(flat, q, axis=0)
    attrs = {"walkers": samples["walkers"], "steps": samples["steps"],
             "burn": samples["burn"], "thin": samples["thin"],
             "acceptance": samples["acceptance"], "converged": int(samples["converged"])}
    return {
        "posterior": (("chain", "draw", "parameter"), nat,
                      {"long_name": "posterior samples (natural scale; chain = emcee walker)",
                       **attrs}),
        "posterior_log_prob": (("chain", "draw"), samples["log_prob"]),
        "posterior_median": ("parameter", med),
        "posterior_lower": ("parameter", lo, {"long_name": f"{level:.0%} credible interval"}),
        "posterior_upper": ("parameter", hi, {"long_name": f"{level:.0%} credible interval"}),
        "rhat": ("parameter", samples["rhat"], {"long_name": "rank-normalised split R-hat"}),
        "ess_bulk": ("parameter", samples["ess_bulk"]),
        "ess_tail": ("parameter", samples["ess_tail"]),
    }
