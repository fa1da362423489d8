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

__all__ = ["Population", "Covariate", "TimeVaryingCovariate", "Schedule", "draw_etas",
           "subject_rng", "subject_streams", "omega_from_iiv", "omega_factor", "fresh_seed"]

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
    """A covariate drawn per subject, acting on parameters through a power model or, when
    categorical, through one factor per level.

    ``value_i`` is drawn from ``distribution`` (``"lognormal"``: ``median``, ``cv``;
    ``"normal"``: ``mean``, ``sd``, optionally truncated to ``[lower, upper]`` by redrawing;
    ``"uniform"``: ``lower``, ``upper``). Each parameter ``p`` in ``effects`` is multiplied by
    ``(value_i / reference) ** effects[p]`` (e.g. ``WT`` with ``{CL = 0.75, V = 1.0}`` is
    allometric scaling). ``reference`` defaults to the median, mean or midpoint.

    ``"categorical"``: ``levels`` (names) drawn with ``probabilities`` (summing to 1; equal
    when omitted) from one uniform number of the subject's stream; ``effects`` maps each
    parameter to ``{level: factor}`` (levels not named get 1.0), e.g. ``SEX`` with levels
    ``["F", "M"]`` and ``{CL = {F = 0.8}}``. The value is the level's index (0, 1, ...);
    :meth:`labels` turns indices into level names.
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
    levels: tuple = ()
    probabilities: tuple = ()

    def __post_init__(self):
        d = self.distribution
        if d == "categorical":
            self._check_categorical()
            return
        need = {"lognormal": ("median", "cv"), "normal": ("mean", "sd"),
                "uniform": ("lower", "upper"), "categorical": ("levels",)}
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
        if self.levels or self.probabilities:
            raise ConfigError(f"covariate {self.name!r}: levels and probabilities go with "
                              "distribution = 'categorical'")
        for p, theta in self.effects.items():
            if isinstance(theta, bool) or not isinstance(theta, (int, float)) \
                    or not math.isfinite(theta):
                raise ConfigError(f"covariate {self.name!r}: effects.{p} must be a number "
                                  f"(the exponent of the power model), got {theta!r}")
        if self.effects:
            positive = (d == "lognormal" or (self.lower is not None and self.lower > 0))
            if not positive:
                raise ConfigError(f"covariate {self.name!r}: effects use (value / reference) "
                                  "** exponent, which needs positive values; give lower > 0")
            if not self.ref > 0:
                raise ConfigError(f"covariate {self.name!r}: reference must be > 0")

    def _check_categorical(self):
        name = self.name
        levels = tuple(self.levels)
        if not levels or not all(isinstance(v, str) and v for v in levels):
            raise ConfigError(f"covariate {name!r}: a categorical covariate needs levels = "
                              "[\"A\", \"B\", ...] (non-empty names)")
        if len(set(levels)) != len(levels):
            dup = next(v for v in levels if levels.count(v) > 1)
            raise ConfigError(f"covariate {name!r}: level {dup!r} is listed twice")
        for key in ("median", "cv", "mean", "sd", "lower", "upper", "reference"):
            if getattr(self, key) is not None:
                raise ConfigError(f"covariate {name!r}: {key} does not apply to a "
                                  "categorical covariate (give levels and probabilities)")
        probs = tuple(self.probabilities) or tuple([1.0 / len(levels)] * len(levels))
        if len(probs) != len(levels):
            raise ConfigError(f"covariate {name!r}: {len(probs)} probabilities for "
                              f"{len(levels)} levels; give one per level")
        if any(isinstance(q, bool) or not isinstance(q, (int, float)) or not math.isfinite(q)
               or q < 0 for q in probs):
            raise ConfigError(f"covariate {name!r}: probabilities must be numbers >= 0, got "
                              f"{list(probs)}")
        if abs(math.fsum(probs) - 1.0) > 1e-9:
            raise ConfigError(f"covariate {name!r}: probabilities must sum to 1, they sum "
                              f"to {math.fsum(probs):.12g}")
        for p, table in self.effects.items():
            if not isinstance(table, dict):
                raise ConfigError(f"covariate {name!r}: effects.{p} of a categorical "
                                  f"covariate is a table of factors per level, e.g. "
                                  f"{{ {levels[0]} = 0.8 }}, got {table!r}")
            for level, f in table.items():
                if level not in levels:
                    raise ConfigError(f"covariate {name!r}: effects.{p}.{level}: unknown "
                                      f"level {level!r}; levels: {', '.join(levels)}")
                if isinstance(f, bool) or not isinstance(f, (int, float)) \
                        or not math.isfinite(f) or f <= 0:
                    raise ConfigError(f"covariate {name!r}: effects.{p}.{level} must be a "
                                      f"factor > 0, got {f!r}")
        object.__setattr__(self, "levels", levels)
        object.__setattr__(self, "probabilities", tuple(float(q) for q in probs))

    @property
    def categorical(self) -> bool:
        return self.distribution == "categorical"

    def labels(self, values) -> np.ndarray:
        """Level names of drawn values (indices) of a categorical covariate."""
        return np.asarray(self.levels)[np.asarray(values, dtype=np.int64)]

    def factor(self, parameter, values) -> np.ndarray:
        """Multipliers of ``parameter`` for drawn ``values`` (n,): the power model, or the
        factor of each subject's level."""
        values = np.asarray(values, dtype=float)
        if self.categorical:
            per_level = np.array([float(self.effects[parameter].get(level, 1.0))
                                  for level in self.levels])
            return per_level[values.astype(np.int64)]
        return (values / self.ref) ** float(self.effects[parameter])

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
        """One value from ``rng`` (the subject's own generator); a level's index for a
        categorical covariate."""
        # __post_init__ guarantees the parameters each distribution needs
        if self.categorical:
            u = rng.random()
            cumulative = np.cumsum(self.probabilities)
            return float(min(int(np.searchsorted(cumulative, u, side="right")),
                             len(self.levels) - 1))
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
    time_varying : sequence of TimeVaryingCovariate
        Covariates that change during the run (see :meth:`schedule`).

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
    time_varying: tuple = ()

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
            raise ConfigError("covariates must be Covariate objects (time-varying ones go to "
                              "time_varying)")
        set_(self, "covariates", covs)
        tv = tuple(self.time_varying)
        if not all(isinstance(c, TimeVaryingCovariate) for c in tv):
            raise ConfigError("time_varying must be TimeVaryingCovariate objects")
        names = [c.name for c in covs + tv]
        if len(set(names)) != len(names):
            raise ConfigError(f"covariate names must be unique, got {names}")
        for c in tv:
            if c.per_subject and len(c.subjects) < self.n_subjects:
                raise ConfigError(f"time-varying covariate {c.name!r} has schedules for "
                                  f"{len(c.subjects)} subjects, fewer than the population's "
                                  f"{self.n_subjects}")
        set_(self, "time_varying", tv)

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
        unknown += [p for c in self.time_varying for p in c.effects if p not in index]
        if unknown:
            raise ConfigError(f"population: unknown parameter {unknown[0]!r}; known: "
                              f"{', '.join(names)}")
        etas, cov = self.draw() if draws is None else draws
        out = np.ones((self.n_subjects, len(names)))
        for j, p in enumerate(self.parameters):
            out[:, index[p]] = np.exp(etas[:, j])
        for c in self.covariates:
            for p in c.effects:
                out[:, index[p]] *= c.factor(p, cov[c.name])
        return out

    def schedule(self, parameter_names, t0=0.0, input_names=()):
        """The time-varying covariates as parameter changes, or None without any.

        Parameters
        ----------
        parameter_names : sequence of str
        t0 : float
            Start of the run: changes at or before it are folded into the start values.
        input_names : sequence of str
            The model's inputs (slots after the parameters): ``sets`` may name one (its value
            adds to what the regimen's infusions put there).

        Returns
        -------
        Schedule or None
        """
        if not self.time_varying:
            return None
        names = list(parameter_names)
        index = {n: j for j, n in enumerate(names + list(input_names))}
        for c in self.time_varying:
            for p in list(c.effects) + ([c.sets] if c.sets is not None else []):
                if p not in index or (p in c.effects and index[p] >= len(names)):
                    raise ConfigError(f"time-varying covariate {c.name!r}: unknown parameter "
                                      f"{p!r}; known: {', '.join(names)}")
        set_cols = {c.sets: c for c in self.time_varying if c.sets is not None}
        factor_cols = sorted({p for c in self.time_varying for p in c.effects}, key=index.get)
        for p in factor_cols:
            if p in set_cols:
                raise ConfigError(f"parameter {p!r} is set by time-varying covariate "
                                  f"{set_cols[p].name!r} and scaled by another; choose one")
        if len(set_cols) != sum(c.sets is not None for c in self.time_varying):
            raise ConfigError("two time-varying covariates set the same parameter")
        cols = sorted(set_cols, key=index.get) + factor_cols
        times = np.unique(np.concatenate([t for c in self.time_varying
                                          for t, _ in c.schedules()]))
        times = times[times > t0]
        grid = np.concatenate([[t0], times])
        values = np.ones((self.n_subjects, grid.size, len(cols)))
        for s in range(self.n_subjects):
            for c in self.time_varying:
                v = c.value_at(s, grid)
                for j, p in enumerate(cols):
                    if p == c.sets:
                        values[s, :, j] = v
                    elif p in c.effects:
                        values[s, :, j] *= (v / c.reference) ** float(c.effects[p])
        return Schedule(times, np.array([index[p] for p in cols], np.int64),
                        np.array([p in set_cols for p in cols]), values)


# ------------------------------------------------------------------ time-varying covariates
def _schedule_arrays(times, values, where):
    t = np.asarray(times, dtype=float)
    v = np.asarray(values, dtype=float)
    if t.ndim != 1 or t.size == 0 or t.shape != v.shape:
        raise ConfigError(f"{where}: times and values must be non-empty lists of equal length, "
                          f"got {t.size} times and {v.size} values")
    if not (np.all(np.isfinite(t)) and np.all(np.isfinite(v))):
        raise ConfigError(f"{where}: times and values must be finite numbers")
    if np.any(np.diff(t) <= 0):
        raise ConfigError(f"{where}: times must be strictly increasing")
    t.flags.writeable = False
    v.flags.writeable = False
    return t, v


@dataclass(frozen=True, eq=False)
class TimeVaryingCovariate:
    """A covariate that changes during the run, piecewise constant in time.

    The value is ``values[k]`` from ``times[k]`` until the next time (the first value also
    applies before ``times[0]``), shared by every subject or one schedule per subject. It acts
    on parameters like a static covariate: each parameter in ``effects`` is multiplied by
    ``(value(t) / reference) ** effects[p]`` on top of its IIV and static covariates, or the
    parameter ``sets`` takes the value itself (a model parameter such as a weight or a
    creatinine clearance used in the model's definitions). Each change is a discontinuity the
    solver restarts at (a parameter event of ``ldnsim.events``).

    Parameters
    ----------
    name : str
    times, values : (K,) array_like
        The shared schedule (ignored when ``subjects`` is given).
    subjects : sequence of ((K_i,) times, (K_i,) values), optional
        One schedule per subject: subject ``i`` of the population uses entry ``i``.
    effects : dict of str to float
        Exponents of the power model.
    reference : float
        Needed with ``effects``; > 0.
    sets : str, optional
        A parameter whose value is the covariate's value.
    unit : str
    """

    name: str
    times: tuple | np.ndarray = ()
    values: tuple | np.ndarray = ()
    subjects: tuple = ()
    effects: dict = field(default_factory=dict)
    reference: float | None = None
    sets: str | None = None
    unit: str = ""

    def __post_init__(self):
        where = f"time-varying covariate {self.name!r}"
        if self.subjects:
            scheds = tuple(_schedule_arrays(t, v, f"{where}, subject {i}")
                           for i, (t, v) in enumerate(self.subjects))
            object.__setattr__(self, "subjects", scheds)
        else:
            t, v = _schedule_arrays(self.times, self.values, where)
            object.__setattr__(self, "times", t)
            object.__setattr__(self, "values", v)
        if not self.effects and self.sets is None:
            raise ConfigError(f"{where}: give effects = {{ parameter = exponent }} or sets = "
                              "\"<parameter>\" (what the covariate changes)")
        if self.sets is not None and self.sets in self.effects:
            raise ConfigError(f"{where}: {self.sets!r} is both set by the covariate and "
                              "scaled by it; choose one")
        for p, theta in self.effects.items():
            if isinstance(theta, bool) or not isinstance(theta, (int, float)) \
                    or not math.isfinite(theta):
                raise ConfigError(f"{where}: effects.{p} must be a number (an exponent), got "
                                  f"{theta!r}")
        if self.effects:
            if self.reference is None or not self.reference > 0:
                raise ConfigError(f"{where}: effects use (value / reference) ** exponent: give "
                                  "reference > 0")
            if any(np.any(v <= 0) for _, v in self.schedules()):
                raise ConfigError(f"{where}: effects use (value / reference) ** exponent, "
                                  "which needs values > 0")

    def schedules(self):
        """``[(times, values), ...]``: one shared schedule, or one per subject."""
        return list(self.subjects) if self.subjects else [(self.times, self.values)]

    @property
    def per_subject(self) -> bool:
        return bool(self.subjects)

    @classmethod
    def from_rows(cls, name, ids, times, values, **kw):
        """Per-subject schedules from long-format rows ``(id, time, value)``: subjects in
        order of their first row, each one's rows sorted by time."""
        order, rows = [], {}
        for i, t, v in zip(ids, times, values):
            if i not in rows:
                order.append(i)
                rows[i] = []
            rows[i].append((float(t), float(v)))
        scheds = []
        for i in order:
            pairs = sorted(rows[i])
            scheds.append(([p[0] for p in pairs], [p[1] for p in pairs]))
        return cls(name, subjects=tuple(scheds), **kw)

    def value_at(self, subject, t) -> np.ndarray:
        """Values of ``subject`` at times ``t`` (array)."""
        times, values = self.schedules()[subject if self.subjects else 0]
        k = np.searchsorted(times, np.asarray(t, dtype=float), side="right") - 1
        return values[np.clip(k, 0, None)]


@dataclass(frozen=True, eq=False)
class Schedule:
    """Piecewise-constant parameter columns of a population (from its time-varying covariates).

    Attributes
    ----------
    times : (K,) change times after the start of the run
    columns : (J,) int
        Parameter indices that change.
    sets : (J,) bool
        True: ``values`` are the parameter's values; False: factors on the row's parameter.
    values : (n_subjects, K + 1, J)
        At the start of the run (``[:, 0]``) and from each change time on.
    """

    times: np.ndarray
    columns: np.ndarray
    sets: np.ndarray
    values: np.ndarray

    def start(self, P, subjects):
        """Rows ``P`` (r, k) with the values at the start applied (a copy)."""
        P = np.array(P, dtype=float)
        v0 = self.values[subjects, 0]
        for j, col in enumerate(self.columns):
            P[:, col] = v0[:, j] if self.sets[j] else P[:, col] * v0[:, j]
        return P

    def events(self, P, subjects):
        """Per row: ``(times, columns, amounts)`` of the parameter changes, from rows ``P``
        before the schedule is applied (r, k); amounts are differences of successive values
        (the solver adds them: ``ldnsim.events.PARAMETER``)."""
        out = []
        for r, s in enumerate(subjects):
            v = self.values[s]
            level = np.where(self.sets, v, P[r, self.columns] * v)      # (K + 1, J)
            delta = np.diff(level, axis=0)                              # (K, J)
            kk, jj = np.nonzero(delta)
            out.append((self.times[kk], self.columns[jj], delta[kk, jj]))
        return out
