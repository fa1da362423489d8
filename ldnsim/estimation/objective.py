"""Residual error models, the likelihood, its gradient and the Fisher information.

The optimiser works on a vector ``x``: the fitted parameters on their scale (log or linear),
then, for maximum likelihood, the logarithms of the estimated residual-error parameters.

Residual error of an observation with prediction ``f`` (per observed NAME):

- additive: ``sd = a``; proportional: ``sd = b |f|``; combined: ``sd = sqrt(a^2 + b^2 f^2)``;
- a row with an ``SD`` in the data uses that SD instead (e.g. a reported standard error).

Maximum likelihood (``method="ml"``) minimises ``-2 log L = sum(log(2 pi sd^2) + r^2)`` with
``r = (y - f) / sd`` and the error model at the prediction. Weighted least squares
(``method="wls"``) minimises ``sum(r^2)`` with fixed weights: the row's SD, or the error model at
the *observed* value with its fixed ``a``, ``b``; unless every row has an SD the residual
variance scale ``s^2 = SSR / (n - p)`` is estimated and multiplies the covariance.

Gradients come from the sensitivities ``df/dx`` (finite differences in one batch, or forward
sensitivities): for ML, ``d(-2 log L)/df = (2 sd_f / sd)(1 - r^2) - 2 r / sd``. The Fisher
information of the Gaussian model is ``sum((g g' + 2 h h') / sd^2)`` with ``g = df/dx`` and
``h = d sd/dx`` (Bates & Watts 1988; the usual expected information of a heteroscedastic
normal model).
"""
from __future__ import annotations

import numpy as np

from .problem import EstimationError

__all__ = ["Objective", "PENALTY"]

#: Value returned for a candidate whose simulation failed (the optimiser backs off).
PENALTY = 1e20
_TINY = 1e-300
LOG2PI = float(np.log(2 * np.pi))


class Objective:
    """The objective of a :class:`~ldnsim.estimation.problem.Problem` as functions of ``x``.

    Parameters
    ----------
    problem : Problem
    gradient : {"fd", "sensitivity"}
        How ``df/dx`` is computed: central finite differences (all perturbations as rows of one
        batch) or forward sensitivities (``ldnsim.estimation.sensitivity``).
    fd_step : float
        Step in ``x`` (a relative step of ``fd_step`` for log-scale parameters).
    """

    def __init__(self, problem, *, gradient="fd", fd_step=1e-3):
        if gradient not in ("fd", "sensitivity"):
            raise EstimationError(f"gradient must be 'fd' or 'sensitivity', got {gradient!r}")
        self.problem = problem
        self.fd_step = float(fd_step)
        self.gradient = gradient
        self._sens = None
        if gradient == "sensitivity":
            from .sensitivity import SensitivityProblem
            self._sens = SensitivityProblem(problem)
        self.n_struct = len(problem.params)
        self.err = problem.error_params
        self.n_x = self.n_struct + len(self.err)
        lo = [p.to_x(p.lower) for p in problem.params] + [np.log(e[3]) - np.log(1e4)
                                                          for e in self.err]
        hi = [p.to_x(p.upper) for p in problem.params] + [np.log(e[3]) + np.log(1e4)
                                                          for e in self.err]
        self.lower, self.upper = np.array(lo, float), np.array(hi, float)
        self.x0 = np.array([p.to_x(p.init) for p in problem.params]
                           + [np.log(e[3]) for e in self.err], float)
        self._cache = {}
        self.n_sim = 0       # simulated candidate rows (each times n_subjects solves)
        self._fixed_sd = self._wls_weights() if problem.method == "wls" else None

    # ----------------------------------------------------------------- conversions
    def theta(self, x):
        """Fitted parameters on their natural scale, shape (..., n_params)."""
        x = np.asarray(x, dtype=float)
        return np.stack([p.from_x(x[..., k]) for k, p in enumerate(self.problem.params)],
                        axis=-1)

    def natural(self, x):
        """All of ``x`` on the natural scale (error parameters exponentiated)."""
        x = np.asarray(x, dtype=float)
        return np.concatenate([self.theta(x), np.exp(x[..., self.n_struct:])], axis=-1)

    def to_x(self, values):
        values = np.asarray(values, dtype=float)
        return np.concatenate([
            np.stack([p.to_x(values[..., k]) for k, p in enumerate(self.problem.params)],
                     axis=-1), np.log(values[..., self.n_struct:])], axis=-1)

    # ----------------------------------------------------------------- simulation
    def predict(self, X):
        """Predictions for candidate rows ``X`` (R, n_x) -> (f (R, n_obs), ok (R,))."""
        X = np.atleast_2d(X)
        self.n_sim += X.shape[0]
        return self.problem.predict(self.theta(X[:, :self.n_struct]))

    def f_and_jac(self, x):
        """Prediction (n_obs,) and ``df/dx`` (n_obs, n_struct) at ``x``; None if the solve
        at ``x`` failed."""
        key = np.asarray(x, float).tobytes()
        if key in self._cache:
            return self._cache[key]
        x = np.asarray(x, dtype=float)
        if self._sens is not None:
            self.n_sim += 1
            f, J, ok = self._sens.predict(self.theta(x[:self.n_struct]),
                                          [p.scale for p in self.problem.params])
            out = (f, J) if ok else None
        else:
            out = self._fd(x)
        if len(self._cache) > 8:
            self._cache.clear()
        self._cache[key] = out
        return out

    def _fd(self, x):
        p, h = self.n_struct, self.fd_step
        X = np.repeat(x[None, :], 1 + 2 * p, axis=0)
        for k in range(p):
            X[1 + 2 * k, k] += h
            X[2 + 2 * k, k] -= h
        F, ok = self.predict(X)
        if not ok[0]:
            return None
        f = F[0]
        J = np.empty((f.shape[0], p))
        for k in range(p):
            up, down = ok[1 + 2 * k], ok[2 + 2 * k]
            if up and down:
                J[:, k] = (F[1 + 2 * k] - F[2 + 2 * k]) / (2 * h)
            elif up:
                J[:, k] = (F[1 + 2 * k] - f) / h
            elif down:
                J[:, k] = (f - F[2 + 2 * k]) / h
            else:
                J[:, k] = 0.0
        return f, J

    # ----------------------------------------------------------------- error model
    def _wls_weights(self):
        pb = self.problem
        w = pb.sd.copy()
        for name, spec in pb.errors.items():
            idx = pb._error_obs[name]
            y = np.abs(pb.y[idx])
            a, b = spec.additive, spec.proportional
            w[idx] = {"additive": np.full(idx.shape, a), "proportional": b * y,
                      "combined": np.sqrt(a * a + (b * y) ** 2)}[spec.model]
        bad = ~(w > 0)
        if np.any(bad):
            o = int(np.flatnonzero(bad)[0])
            raise EstimationError(
                f"weighted least squares: observation {o} "
                f"(row {int(pb.data.observations['ROW'][o])}, DV {pb.y[o]:g}) gets weight sd 0 "
                "from a proportional error model; use 'combined' or give SD")
        return w

    def sigma(self, f, e):
        """sd (n_obs,), d sd/df (n_obs,), d sd/d log(error parameter) (n_obs, n_err)."""
        pb = self.problem
        sd = pb.sd.copy()
        dsd_df = np.zeros_like(sd)
        dsd_de = np.zeros((sd.shape[0], len(self.err)))
        if self._fixed_sd is not None:
            return self._fixed_sd, dsd_df, dsd_de
        values = {name: e[j] for j, (name, *_rest) in enumerate(self.err)}
        col = {name: j for j, (name, *_rest) in enumerate(self.err)}
        for name, spec in pb.errors.items():
            idx = pb._error_obs[name]
            fi = f[idx]
            pa, pp = (spec.parameters + (None,))[:2] if spec.model != "proportional" else (
                None, spec.parameters[0])
            a = values.get(pa, spec.additive) if pa else 0.0
            b = values.get(pp, spec.proportional) if pp else 0.0
            s = np.sqrt(a * a + (b * fi) ** 2)
            s = np.maximum(s, _TINY)
            sd[idx] = s
            dsd_df[idx] = b * b * fi / s
            if pa in col:
                dsd_de[idx, col[pa]] = a * a / s
            if pp in col:
                dsd_de[idx, col[pp]] = (b * fi) ** 2 / s
        return sd, dsd_df, dsd_de

    # ----------------------------------------------------------------- objectives
    def neg2ll_values(self, X):
        """``-2 log L`` (ML) or the weighted SSR (WLS) of candidate rows, without gradient
        (one batch); PENALTY where a solve failed. Shape (R,)."""
        X = np.atleast_2d(X)
        F, ok = self.predict(X)
        out = np.full(X.shape[0], PENALTY)
        for r in np.flatnonzero(ok):
            out[r] = self._value(F[r], np.exp(X[r, self.n_struct:]))
        return out

    def _value(self, f, e):
        sd, _, _ = self.sigma(f, e)
        r = (self.problem.y - f) / sd
        if self.problem.method == "wls":
            return float(np.sum(r * r))
        return float(np.sum(LOG2PI + 2 * np.log(sd) + r * r))

    def value(self, x):
        """The objective at ``x``: ``-2 log L`` (ML) or the weighted SSR (WLS)."""
        fj = self.f_and_jac(x)
        if fj is None:
            return PENALTY
        return self._value(fj[0], np.exp(np.asarray(x)[self.n_struct:]))

    def residuals(self, x):
        """WLS residuals ``(y - f)/w`` (n_obs,); large where the solve failed."""
        fj = self.f_and_jac(x)
        if fj is None:
            return np.full(self.problem.n_obs, 1e10)
        return (self.problem.y - fj[0]) / self._fixed_sd

    def residual_jac(self, x):
        fj = self.f_and_jac(x)
        if fj is None:
            return np.zeros((self.problem.n_obs, self.n_x))
        return -fj[1] / self._fixed_sd[:, None]

    def value_and_grad(self, x):
        """ML ``-2 log L`` and its gradient in ``x``."""
        x = np.asarray(x, dtype=float)
        fj = self.f_and_jac(x)
        if fj is None:
            return PENALTY, np.zeros(self.n_x)
        f, J = fj
        e = np.exp(x[self.n_struct:])
        sd, dsd_df, dsd_de = self.sigma(f, e)
        r = (self.problem.y - f) / sd
        d_df = (2 * dsd_df / sd) * (1 - r * r) - 2 * r / sd
        grad = np.concatenate([d_df @ J, ((2 / sd) * (1 - r * r)) @ dsd_de])
        return float(np.sum(LOG2PI + 2 * np.log(sd) + r * r)), grad

    def neg2ll(self, x):
        """``-2 log L`` for any method (WLS: with the residual scale at its ML value when it
        is estimated), and the number of variance parameters that adds."""
        fj = self.f_and_jac(x)
        if fj is None:
            return np.inf, 0
        if self.problem.method == "ml":
            return self.value(x), 0
        w = self._fixed_sd
        ssr = float(np.sum(((self.problem.y - fj[0]) / w) ** 2))
        n = self.problem.n_obs
        if self.scale_known:
            return float(np.sum(LOG2PI + 2 * np.log(w)) + ssr), 0
        return float(np.sum(LOG2PI + 2 * np.log(w)) + n * np.log(ssr / n) + n), 1

    @property
    def scale_known(self):
        """True when every residual sd is known (WLS with an SD on every row)."""
        return not self.problem.errors

    def residual_scale(self, x):
        """WLS: ``s^2`` multiplying the covariance (1 when every SD is known)."""
        if self.problem.method != "wls" or self.scale_known:
            return 1.0
        r = self.residuals(x)
        dof = max(self.problem.n_obs - self.n_x, 1)
        return float(np.sum(r * r) / dof)

    def fisher(self, x):
        """Fisher information in ``x`` (n_x, n_x) at ``x`` (for the log-likelihood; for WLS
        divided by the residual scale)."""
        x = np.asarray(x, dtype=float)
        fj = self.f_and_jac(x)
        if fj is None:
            raise EstimationError("the model cannot be solved at the estimate; cannot compute "
                                  "the Fisher information")
        f, J = fj
        if self.problem.method == "wls":
            Jr = J / self._fixed_sd[:, None]
            return (Jr.T @ Jr) / self.residual_scale(x)
        sd, dsd_df, dsd_de = self.sigma(f, np.exp(x[self.n_struct:]))
        G = np.concatenate([J, np.zeros((J.shape[0], len(self.err)))], axis=1)
        H = np.concatenate([dsd_df[:, None] * J, dsd_de], axis=1)
        w = 1.0 / (sd * sd)
        return (G * w[:, None]).T @ G + 2 * (H * w[:, None]).T @ H

    def weighted_residuals(self, x):
        """(prediction, sd, (y - f)/sd) at ``x``."""
        fj = self.f_and_jac(x)
        if fj is None:
            n = self.problem.n_obs
            return np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan)
        f = fj[0]
        sd, _, _ = self.sigma(f, np.exp(np.asarray(x)[self.n_struct:]))
        return f, sd, (self.problem.y - f) / sd

    def profile_stat(self, value, best):
        """Likelihood-ratio statistic of an objective ``value`` against the optimum ``best``
        (chi-square with 1 dof under the usual conditions)."""
        if self.problem.method == "ml" or self.scale_known:
            return value - best
        n = self.problem.n_obs
        return n * np.log(max(value, _TINY) / max(best, _TINY))
