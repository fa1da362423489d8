"""Designs in parameter space: Latin hypercube and random points in a box."""
from __future__ import annotations

import math

import numpy as np

from ldnsim._limits import limit, raise_hint
from ldnsim.errors import ConfigError
from ldnsim.population import fresh_seed

__all__ = ["sample_design", "check_samples", "MAX_SAMPLES"]

#: Most points in one design (each a solved row; the design itself holds n x d floats twice).
#: Raise it with LDNSIM_MAX_SAMPLES.
MAX_SAMPLES = 10_000_000


def check_samples(n) -> int:
    """``n`` as an int in ``1..MAX_SAMPLES`` (a ConfigError otherwise)."""
    top = limit("MAX_SAMPLES", MAX_SAMPLES)
    if isinstance(n, (bool, np.bool_)) or not isinstance(n, (int, np.integer)) \
            or not 1 <= n <= top:
        raise ConfigError(f"the number of samples must be an integer in 1..{top:,}, got {n!r} "
                          f"({raise_hint('MAX_SAMPLES')})")
    return int(n)


def sample_design(method, n, ranges, *, log=False, seed=None):
    """Points in a box of parameter space: ``{name: (n,) values}``.

    ``"lhs"`` is a Latin hypercube (each parameter's range cut into ``n`` equal strata, one point
    per stratum at a uniform position, strata paired by independent permutations); ``"random"``
    is independent uniform draws. ``log=True`` samples uniformly in ``log(value)``. One generator
    ``default_rng(seed)`` makes the design; it depends on ``n`` (a design is one object).
    """
    n = check_samples(n)
    names = list(ranges)
    if not names:
        raise ConfigError("a design needs at least one parameter range")
    for name in names:
        try:
            lo, hi = (float(x) for x in ranges[name])
        except (TypeError, ValueError):
            raise ConfigError(f"the range of {name!r} must be [lower, upper], got "
                              f"{ranges[name]!r:.80}") from None
        if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
            raise ConfigError(f"the range of {name!r} must be finite with lower < upper, got "
                              f"[{lo:g}, {hi:g}]")
        if log and lo <= 0:
            raise ConfigError(f"log sampling of {name!r} needs a lower bound > 0, got {lo:g}")
    seed = fresh_seed() if seed is None else seed
    rng = np.random.default_rng(seed)
    d = len(names)
    if method == "lhs":
        u = np.empty((n, d))
        for j in range(d):
            u[:, j] = (rng.permutation(n) + rng.random(n)) / n
    elif method == "random":
        u = rng.random((n, d))
    else:
        raise ConfigError(f"sampling method must be 'lhs' or 'random', got {method!r}")
    out = {}
    for j, name in enumerate(names):
        lo, hi = (float(x) for x in ranges[name])
        if log:
            out[name] = np.exp(math.log(lo) + (math.log(hi) - math.log(lo)) * u[:, j])
        else:
            out[name] = lo + (hi - lo) * u[:, j]
    return out, seed
