"""Designs in parameter space: Latin hypercube and random points in a box."""
from __future__ import annotations

import math

import numpy as np

from ldnsim.errors import ConfigError
from ldnsim.population import fresh_seed

__all__ = ["sample_design"]


def sample_design(method, n, ranges, *, log=False, seed=None):
    """Points in a box of parameter space: ``{name: (n,) values}``.

    ``"lhs"`` is a Latin hypercube (each parameter's range cut into ``n`` equal strata, one point
    per stratum at a uniform position, strata paired by independent permutations); ``"random"``
    is independent uniform draws. ``log=True`` samples uniformly in ``log(value)``. One generator
    ``default_rng(seed)`` makes the design; it depends on ``n`` (a design is one object).
    """
    seed = fresh_seed() if seed is None else seed
    rng = np.random.default_rng(seed)
    names = list(ranges)
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
