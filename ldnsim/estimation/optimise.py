"""One optimisation: scipy.optimize on the log-scale parameter vector (used by fits and by
profile likelihoods), the confidence-level quantiles, and the warning a fit raises."""
from __future__ import annotations

import numpy as np

from .problem import EstimationError

__all__ = ["FitWarning", "GRADIENT_TOLERANCE"]


#: ML: a stop with a projected gradient of -2 log L below this (per unit of the log-scale
#: parameter) counts as converged.
GRADIENT_TOLERANCE = 1e-2


class FitWarning(UserWarning):
    """A fit finished but something about it needs attention (no convergence, singular
    Fisher information, a parameter at its bound, an unconverged posterior)."""


def _z(level):
    from scipy.stats import norm
    return float(norm.ppf(0.5 + level / 2))


def _chi2(level):
    from scipy.stats import chi2
    return float(chi2.ppf(level, 1))


def _optimise(obj, x0, *, free=None, max_iter=500):
    """Optimise from ``x0``; ``free`` (bool mask) keeps the other entries fixed (profiles).

    Returns ``(x, value, converged, message)``."""
    from scipy.optimize import least_squares, minimize

    free = np.ones(obj.n_x, bool) if free is None else np.asarray(free, bool)
    x_full = np.asarray(x0, dtype=float).copy()

    def full(z):
        x = x_full.copy()
        x[free] = z
        return x

    lb, ub = obj.lower[free], obj.upper[free]
    z0 = np.clip(x_full[free], lb, ub)
    if not free.any():
        return x_full, obj.value(x_full), True, "nothing to optimise"
    if obj.problem.method == "wls":
        res = least_squares(lambda z: obj.residuals(full(z)),
                            z0, jac=lambda z: obj.residual_jac(full(z))[:, free],
                            bounds=(lb, ub), method="trf", x_scale=1.0, ftol=1e-10,
                            xtol=1e-10, gtol=1e-10, max_nfev=max_iter)
        x = full(res.x)
        return x, obj.value(x), bool(res.success), str(res.message)

    # L-BFGS-B starts with a unit Hessian: scale each variable by the square root of its
    # Fisher information at the start, so the first step is about a Newton step instead of
    # a jump across the bounds (the gradient of -2 log L is often in the hundreds).
    try:
        d = np.sqrt(np.maximum(np.diag(2.0 * obj.fisher(full(z0)))[free], 0.0))
    except EstimationError:
        d = np.ones(int(free.sum()))
    d = np.where(np.isfinite(d), d, 1.0)
    d = np.maximum(d, 1e-4 * max(float(d.max(initial=0.0)), 1.0))

    def fun(zs):
        v, g = obj.value_and_grad(full(zs / d))
        return v, g[free] / d

    res = minimize(fun, z0 * d, jac=True, method="L-BFGS-B", bounds=list(zip(lb * d, ub * d)),
                   options={"maxiter": max_iter, "ftol": 1e-12, "gtol": 1e-6, "maxcor": 20})
    z = res.x / d
    x = full(z)
    converged = bool(res.success)
    if not converged and res.nit > 0:
        # L-BFGS-B stops "ABNORMAL" when its line search cannot improve on a point whose
        # gradient (finite differences, solver tolerance) is already at its noise level:
        # accept when the projected gradient is small.
        g = np.asarray(res.jac, dtype=float) * d
        at_lo, at_hi = z <= lb + 1e-10, z >= ub - 1e-10
        g = np.where((at_lo & (g > 0)) | (at_hi & (g < 0)), 0.0, g)
        converged = bool(np.max(np.abs(g)) < GRADIENT_TOLERANCE)
    return x, obj.value(x), converged, str(res.message)
