"""Designs for global sensitivity analysis: SALib's Sobol (Saltelli) and Morris samples.

Parameters vary over boxes, uniformly or log-uniformly (``log``: sampled uniformly in
``log(value)``, and analysed in that unit). The design is one array ``X`` (rows, D) in the
analysis unit; the sweep runs ``exp`` of the log-uniform columns.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ldnsim.errors import ConfigError

__all__ = ["Design", "sensitivity_design", "problem_of", "salib"]


def salib():
    """The SALib package, or a one-line error saying how to install it."""
    try:
        import SALib
    except ModuleNotFoundError:
        raise ConfigError("sensitivity analysis needs SALib: pip install 'ldnsim[sensitivity]'") \
            from None
    return SALib


@dataclass(frozen=True, eq=False)
class Design:
    """A sensitivity design.

    Attributes
    ----------
    method : {"sobol", "morris"}
    names : tuple of str
    bounds : (D, 2) in the analysis unit (log for log-uniform parameters)
    log : tuple of bool
    X : (rows, D) the design in the analysis unit (normal and lognormal columns: values)
    seed : int
    second_order : bool
    levels : int
    dists : tuple of str
        SALib's distribution per parameter: "unif", "norm" (bounds: mean, sd) or "lognorm"
        (bounds: mean and sd of the log).
    """

    method: str
    names: tuple
    bounds: np.ndarray
    log: tuple
    X: np.ndarray
    seed: int
    second_order: bool = False
    levels: int = 4
    dists: tuple = ()

    @property
    def samples(self) -> dict:
        """``{name: (rows,) values}`` in the parameters' own unit (for the sweep)."""
        return {n: (np.exp(self.X[:, j]) if self.log[j] else self.X[:, j].copy())
                for j, n in enumerate(self.names)}

    @property
    def problem(self) -> dict:
        return problem_of(self.names, self.bounds, self.dists)


def problem_of(names, bounds, dists=()) -> dict:
    """SALib's problem dict."""
    problem = {"num_vars": len(names), "names": list(names),
               "bounds": [list(map(float, b)) for b in bounds]}
    if any(d != "unif" for d in dists):
        problem["dists"] = list(dists)
    return problem


def sensitivity_design(method, n, ranges, *, log=(), seed=None, second_order=False,
                       levels=4, normal=None, lognormal=None) -> Design:
    """Sample a Sobol (Saltelli scheme on a scrambled Sobol sequence) or Morris design.

    Parameters
    ----------
    method : {"sobol", "morris"}
    n : int
        Sobol: base sample size (a power of 2), giving ``n (D + 2)`` rows, or
        ``n (2D + 2)`` with ``second_order``. Morris: trajectories, giving ``n (D + 1)`` rows.
    ranges : mapping name -> (lower, upper)
    log : sequence of str
        Parameters sampled log-uniformly.
    seed : int, optional
        Fresh entropy when None (recorded in the design).
    second_order : bool
    levels : int
        Morris grid levels.
    normal, lognormal : mapping name -> (mean, sd) / (median, sd of log), optional
        Parameters with these distributions instead of a range (Sobol only).

    Returns
    -------
    Design
    """
    salib()
    from SALib.sample import morris as morris_sample
    from SALib.sample import sobol as sobol_sample

    if seed is None:
        seed = int(np.random.default_rng().integers(2**32))
    normal, lognormal = dict(normal or {}), dict(lognormal or {})
    names = tuple(ranges) + tuple(normal) + tuple(lognormal)
    logged = tuple(name in set(log) for name in ranges) + (False,) * (len(normal)
                                                                      + len(lognormal))
    bounds = np.array([[math.log(lo), math.log(hi)] if lg else [float(lo), float(hi)]
                       for (lo, hi), lg in zip(ranges.values(), logged)]
                      + [[float(m), float(sd)] for m, sd in normal.values()]
                      + [[math.log(med), float(sd)] for med, sd in lognormal.values()],
                      dtype=float).reshape(len(names), 2)
    dists = ("unif",) * len(ranges) + ("norm",) * len(normal) + ("lognorm",) * len(lognormal)
    if method != "sobol" and (normal or lognormal):
        raise ConfigError("normal and lognormal distributions need method 'sobol'")
    problem = problem_of(names, bounds, dists)
    if method == "sobol":
        X = sobol_sample.sample(problem, int(n), calc_second_order=bool(second_order),
                                scramble=True, seed=int(seed))
    elif method == "morris":
        X = morris_sample.sample(problem, int(n), num_levels=int(levels), seed=int(seed))
    else:
        raise ConfigError(f"sensitivity method must be 'sobol' or 'morris', got {method!r}")
    return Design(method, names, bounds, logged, np.ascontiguousarray(X, dtype=float),
                  int(seed), bool(second_order), int(levels), dists)
