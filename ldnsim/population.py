"""Virtual populations: log-normal inter-individual variability (IIV) with one stream per subject.

Subject ``i`` of a population with seed ``s`` draws everything it needs -- its etas, then its
covariates, in that order -- from its own generator
``numpy.random.default_rng(numpy.random.SeedSequence(s).spawn(n)[i])``. Spawned children depend
only on ``(s, i)`` (their spawn key), never on ``n``, so

- subject ``i`` is the same in a population of 10 or of 20 subjects;
- nothing depends on how the sweep cuts rows into chunks, on thread counts or on which worker
  runs which chunk (a remote worker could even redraw subject ``i`` alone:
  :func:`subject_rng`).

Individual parameters are ``typical * exp(eta) * prod_c (cov_c / ref_c) ** theta_c``, with
``eta ~ N(0, Omega)``. Everything after the standard normals is element-wise numpy arithmetic in a
fixed order (no BLAS reductions, whose summation order may depend on array sizes), so values are
bitwise reproducible for any number of subjects.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ._limits import limit, raise_hint
from .errors import ConfigError

__all__ = ["Population", "Covariate", "draw_etas", "subject_rng", "subject_streams",
           "omega_from_iiv", "omega_factor", "fresh_seed"]

#: Largest population accepted in one sweep: drawing takes tens of microseconds per subject
#: (one random stream each), and each subject is at least one solved row. Raise it with
#: LDNSIM_MAX_SUBJECTS.
MAX_SUBJECTS = 1_000_000
#: Tries before a truncated normal covariate gives up (bounds excluding almost all the mass).
_MAX_REJECTIONS = 1000


def fresh_seed() -> int:
    """New OS entropy as an int, for a run that was given no seed (record it to reproduce)."""
    return int(np.random.SeedSequence().entropy)  # type: ignore[arg-type]  # an int here


def _check_seed(seed):
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"seed must be an integer >= 0, got {seed!r}")
    return int(seed)


def _check_n(n_subjects):
    top = limit("MAX_SUBJECTS", MAX_SUBJECTS)
    if (isinstance(n_subjects, (bool, np.bool_)) or not isinstance(n_subjects, (int, np.integer))
            or not 1 <= n_subjects <= top):
        raise ConfigError(f"the number of subjects must be an integer in 1..{top:,}, got "
                          f"{n_subjects!r} ({raise_hint('MAX_SUBJECTS')})")
    return int(n_subjects)


def subject_streams(seed, n_subjects):
    """The per-subject ``SeedSequence`` children ``SeedSequence(seed).spawn(n_subjects)``."""
    return np.random.SeedSequence(_check_seed(seed)).spawn(_check_n(n_subjects))


def _streams(seed, n_subjects):
    """:func:`subject_streams` one at a time (the same children; no list of n objects)."""
    seed, n = _check_seed(seed), _check_n(n_subjects)
    for i in range(n):
        yield np.random.SeedSequence(seed, spawn_key=(i,))


def subject_rng(seed, i) -> np.random.Generator:
    """Generator of subject ``i`` alone; identical to ``subject_streams(seed, n)[i]`` for n > i."""
    return np.random.default_rng(np.random.SeedSequence(_check_seed(seed), spawn_key=(int(i),)))


def omega_factor(omega):
    """A matrix ``L`` with ``L @ L.T == omega`` (Cholesky; eigen-factor if only semidefinite)."""
    omega = np.asarray(omega, dtype=float)
    if omega.ndim != 2 or omega.shape[0] != omega.shape[1]:
        raise ConfigError(f"omega must be a square matrix, got shape {omega.shape}")
    if not np.all(np.isfinite(omega)):
        raise ConfigError("omega must contain finite numbers only")
    if not np.allclose(omega, omega.T, rtol=1e-12, atol=1e-14):
        raise ConfigError("omega (the covariance of eta) must be symmetric")
    if omega.size == 0:
        return omega.copy()
    try:
        return np.linalg.cholesky(omega)
    except np.linalg.LinAlgError:
        w, v = np.linalg.eigh(omega)
        if w.min() < -1e-10 * max(1.0, abs(w).max()):
            raise ConfigError("omega (the covariance of eta) is not positive semidefinite; "
                              "check the correlations (|r| <= 1 and mutually consistent)") from None
        return v * np.sqrt(np.clip(w, 0.0, None))


def _etas_from_normals(z, L):
    """``eta = z @ L.T`` by element-wise accumulation, identical for any number of rows."""
    eta = np.zeros(z.shape)
    for j in range(L.shape[1]):
        eta += z[:, j:j + 1] * L[:, j]
    return eta


def draw_etas(n_subjects, omega, seed) -> np.ndarray:
    """Random effects ``eta ~ N(0, omega)``, one independent stream per subject.

    Parameters
    ----------
    n_subjects : int
    omega : (k, k) array_like
        Covariance of eta (variances on the diagonal; a CV of 30% is ``log(1 + 0.3**2)``).
    seed : int >= 0

    Returns
    -------
    ndarray, shape (n_subjects, k)
        Row ``i`` depends only on ``seed``, ``omega`` and ``i``.
    """
    L = omega_factor(omega)
    z = np.empty((_check_n(n_subjects), L.shape[0]))
    for i, ss in enumerate(_streams(seed, n_subjects)):
        z[i] = np.random.default_rng(ss).standard_normal(L.shape[0])
    return _etas_from_normals(z, L)


def omega_from_iiv(values, scale="cv", correlation=None):
    """Omega from per-parameter variabilities and an optional correlation matrix.

    Parameters
    ----------
    values : sequence of float >= 0
        One per parameter, read according to ``scale``.
    scale : {"cv", "sd", "variance"}
        ``"cv"``: the coefficient of variation of the log-normal parameter,
        ``omega_ii = log(1 + cv**2)`` (exact, not the small-CV approximation ``cv**2``);
        ``"sd"``: the standard deviation of eta; ``"variance"``: omega_ii itself.
    correlation : (k, k) array_like, optional
        Correlations between the etas (unit diagonal).

    Returns
    -------
    ndarray, shape (k, k)
    """
    v = np.asarray(values, dtype=float)
    if v.ndim != 1 or np.any(~np.isfinite(v)) or np.any(v < 0):
        raise ConfigError(f"IIV values must be finite numbers >= 0, got {list(values)!r}")
    with np.errstate(over="ignore"):  # a square beyond the float range is reported below
        if scale == "cv":
            var = np.log1p(v * v)
        elif scale == "sd":
            var = v * v
        elif scale == "variance":
            var = v
        else:
            raise ConfigError(f"IIV scale must be 'cv', 'sd' or 'variance', got {scale!r}")
    if not np.all(np.isfinite(var)):
        raise ConfigError(f"IIV values {list(values)!r} are too large: their squares overflow "
                          "the floating-point range (a CV or SD of eta is a number near 1)")
    sd = np.sqrt(var)
    if correlation is None:
        return np.diag(var)
    r = np.asarray(correlation, dtype=float)
    if r.shape != (v.size, v.size):
        raise ConfigError(f"the correlation matrix must be {v.size} x {v.size} (one row per "
                          f"IIV parameter), got shape {r.shape}")
    if not np.allclose(np.diag(r), 1.0):
        raise ConfigError("the correlation matrix must have 1 on its diagonal")
    if np.any(np.abs(r) > 1.0):
        raise ConfigError("correlations must lie between -1 and 1")
    return r * np.outer(sd, sd)


@dataclass(frozen=True)
class Covariate:
    """A covariate drawn per subject, acting on parameters through a power model.

    ``value_i`` is drawn from ``distribution`` (``"lognormal"``: ``median``, ``cv``;
    ``"normal"``: ``mean``, ``sd``, optionally truncated to ``[lower, upper]`` by redrawing;
    ``"uniform"``: ``lower``, ``upper``). Each parameter ``p`` in ``effects`` is multiplied by
    ``(value_i / reference) ** effects[p]`` (e.g. ``WT`` with ``{CL = 0.75, V = 1.0}`` is
    allometric scaling). ``reference`` defaults to the median, mean or midpoint.
    """

    name: str
    distribution: str = "lognormal"
    median: float | None = None
    cv: float | None = None
    mean: float | None = None
    sd: float | None = None
    lower: float | None = None
    upper: float | None = None
    reference: float | None = None
    unit: str = ""
    effects: dict = field(default_factory=dict)

    def __post_init__(self):
        d = self.distribution
        need = {"lognormal": ("median", "cv"), "normal": ("mean", "sd"),
                "uniform": ("lower", "upper")}
        if d not in need:
            raise ConfigError(f"covariate {self.name!r}: distribution must be one of "
                              f"{', '.join(need)}, got {d!r}")
        missing = [k for k in need[d] if getattr(self, k) is None]
        if missing:
            raise ConfigError(f"covariate {self.name!r}: a {d} distribution needs "
                              f"{' and '.join(need[d])} (missing {', '.join(missing)})")
        if d == "lognormal" and (self.median <= 0 or self.cv < 0):
            raise ConfigError(f"covariate {self.name!r}: lognormal needs median > 0, cv >= 0")
        if d == "normal" and self.sd < 0:
            raise ConfigError(f"covariate {self.name!r}: sd must be >= 0")
        if self.lower is not None and self.upper is not None and not self.lower < self.upper:
            raise ConfigError(f"covariate {self.name!r}: lower must be < upper")
        if self.effects:
            positive = (d == "lognormal" or (self.lower is not None and self.lower > 0))
            if not positive:
                raise ConfigError(f"covariate {self.name!r}: effects use (value / reference) "
                                  "** exponent, which needs positive values; give lower > 0")
            if not self.ref > 0:
                raise ConfigError(f"covariate {self.name!r}: reference must be > 0")

    @property
    def ref(self) -> float:
        if self.reference is not None:
            return float(self.reference)
        # __post_init__ guarantees the parameters each distribution needs
        if self.distribution == "lognormal":
            assert self.median is not None
            return float(self.median)
        if self.distribution == "normal":
            assert self.mean is not None
            return float(self.mean)
        assert self.lower is not None and self.upper is not None
        return 0.5 * (self.lower + self.upper)

    def draw(self, rng) -> float:
        """One value from ``rng`` (the subject's own generator)."""
        # __post_init__ guarantees the parameters each distribution needs
        if self.distribution == "lognormal":
            assert self.median is not None and self.cv is not None
            return float(self.median * math.exp(math.sqrt(math.log1p(self.cv ** 2))
                                                 * rng.standard_normal()))
        if self.distribution == "uniform":
            assert self.lower is not None and self.upper is not None
            return float(self.lower + (self.upper - self.lower) * rng.random())
        lo = -math.inf if self.lower is None else self.lower
        hi = math.inf if self.upper is None else self.upper
        for _ in range(_MAX_REJECTIONS):
            x = self.mean + self.sd * rng.standard_normal()
            if lo <= x <= hi:
                return float(x)
        raise ConfigError(f"covariate {self.name!r}: the bounds [{lo}, {hi}] exclude almost "
                          f"all of normal(mean={self.mean}, sd={self.sd})")


@dataclass(frozen=True, eq=False)
class Population:
    """A virtual population: ``n_subjects`` log-normal draws around the typical parameters.

    Parameters
    ----------
    n_subjects : int
    parameters : sequence of str
        Parameters with a random effect, in the order of ``omega``'s rows.
    omega : (k, k) array_like
        Covariance of eta (see :func:`omega_from_iiv`).
    seed : int >= 0 or None
        None draws fresh OS entropy now; it is kept in ``seed`` so the run can be repeated.
    covariates : sequence of Covariate

    Examples
    --------
    >>> pop = Population(100, ["CL", "V"], omega_from_iiv([0.3, 0.2]), seed=1)
    >>> pop.factors(["ka", "CL", "V"]).shape
    (100, 3)
    """

    n_subjects: int
    parameters: tuple = ()
    omega: np.ndarray | None = None
    seed: int | None = None
    covariates: tuple = ()

    def __post_init__(self):
        set_ = object.__setattr__
        set_(self, "n_subjects", _check_n(self.n_subjects))
        params = tuple(self.parameters)
        if len(set(params)) != len(params):
            raise ConfigError(f"IIV parameters must be unique, got {list(params)}")
        set_(self, "parameters", params)
        omega = np.zeros((0, 0)) if self.omega is None else np.asarray(self.omega, dtype=float)
        if omega.shape != (len(params), len(params)):
            raise ConfigError(f"omega must be {len(params)} x {len(params)} (one row per IIV "
                              f"parameter), got shape {omega.shape}")
        omega_factor(omega)  # validate now, not in the middle of a run
        set_(self, "omega", omega)
        set_(self, "seed", fresh_seed() if self.seed is None else _check_seed(self.seed))
        covs = tuple(self.covariates)
        if not all(isinstance(c, Covariate) for c in covs):
            raise ConfigError("covariates must be Covariate objects")
        set_(self, "covariates", covs)

    def draw(self):
        """``(etas (n, k), covariates {name: (n,)})``; subject ``i`` uses only its own stream."""
        L = omega_factor(self.omega)
        k = len(self.parameters)
        z = np.empty((self.n_subjects, k))
        cov = {c.name: np.empty(self.n_subjects) for c in self.covariates}
        for i, ss in enumerate(_streams(self.seed, self.n_subjects)):
            rng = np.random.default_rng(ss)
            z[i] = rng.standard_normal(k)  # etas first, then covariates: a fixed order
            for c in self.covariates:
                cov[c.name][i] = c.draw(rng)
        return _etas_from_normals(z, L), cov

    def factors(self, parameter_names, draws=None) -> np.ndarray:
        """Multipliers ``exp(eta) * prod (cov/ref)**theta`` aligned with ``parameter_names``.

        Parameters without variability get exactly 1.0, so ``typical * factor`` leaves them
        bitwise unchanged.
        """
        names = list(parameter_names)
        index = {n: j for j, n in enumerate(names)}
        unknown = [p for p in self.parameters if p not in index]
        unknown += [p for c in self.covariates for p in c.effects if p not in index]
        if unknown:
            raise ConfigError(f"population: unknown parameter {unknown[0]!r}; known: "
                              f"{', '.join(names)}")
        etas, cov = self.draw() if draws is None else draws
        out = np.ones((self.n_subjects, len(names)))
        for j, p in enumerate(self.parameters):
            out[:, index[p]] = np.exp(etas[:, j])
        for c in self.covariates:
            for p, theta in c.effects.items():
                out[:, index[p]] *= (cov[c.name] / c.ref) ** float(theta)
        return out
