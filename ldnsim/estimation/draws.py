"""Fit results on disk, and parameter draws from a fit's covariance or posterior.

:func:`draw_parameters` is the layer-independent half of "uncertainty in any sweep": it turns a
fit (a Dataset from :func:`~ldnsim.estimation.fit` or a file written by :func:`save_fit`) into
N seeded, reproducible parameter sets, which an experiment can run as a ``draw`` dimension
(see ``docs/estimation.md``, "Uncertainty in experiments").
"""
from __future__ import annotations

import os
import warnings

import numpy as np

from .problem import EstimationError

__all__ = ["draw_parameters", "save_fit", "open_fit", "problem_from_fit", "estimate_x"]


def save_fit(ds, path):
    """Write a fit result to NetCDF atomically (complete or absent); returns the path."""
    from ..io import save_result
    return save_result(ds, path)


def open_fit(path):
    """Read a fit result written by :func:`save_fit` (or ``ldnsim fit -o``)."""
    from ..io import open_result
    ds = open_result(path)
    if "estimate" not in ds or "covariance" not in ds:
        raise EstimationError(f"{path}: not an ldnsim fit result (no estimate/covariance "
                              "variables)")
    return ds


def _as_fit(fit):
    if isinstance(fit, (str, os.PathLike)):
        return open_fit(fit)
    if not hasattr(fit, "data_vars") or "estimate" not in fit:
        raise EstimationError(f"expected a fit result (Dataset or file), got "
                              f"{type(fit).__name__}")
    return fit


def estimate_x(fit):
    """The estimate on the fitting scale (log for log-scale parameters), shape (n,)."""
    est = np.asarray(fit["estimate"].values, dtype=float)
    log = np.asarray(fit["scale"].values).astype(str) == "log"
    return np.where(log, np.log(np.where(log, est, 1.0)), est)


def draw_parameters(fit, n, *, seed=None, source="auto", include_error=False):
    """N parameter sets drawn from a fit's uncertainty, seeded and reproducible.

    Parameters
    ----------
    fit : xarray.Dataset or path
        A fit result.
    n : int
        Number of draws.
    seed : int, optional
        The same seed gives the same draws (numpy's default generator).
    source : {"auto", "covariance", "posterior"}
        "covariance": a multivariate normal on the fitting scale (log-normal for log
        parameters) with the inverse Fisher information, truncated to the bounds by
        resampling; "posterior": a random subset of the posterior samples (with replacement
        only when n exceeds them); "auto": the posterior when the fit has one.
    include_error : bool
        Also return the residual-error parameters.

    Returns
    -------
    xarray.DataArray
        Dims ``(draw, parameter)``, natural scale, attrs ``source`` and ``seed``.

    Raises
    ------
    EstimationError
        Unknown source, no posterior, or a covariance with an undetermined (infinite)
        variance.
    """
    import xarray as xr

    fit = _as_fit(fit)
    if not (isinstance(n, (int, np.integer)) and n >= 1):
        raise EstimationError(f"n must be an integer >= 1, got {n!r}")
    if source == "auto":
        source = "posterior" if "posterior" in fit else "covariance"
    names = [str(p) for p in fit["parameter"].values]
    keep = np.ones(len(names), bool) if include_error else (
        np.asarray(fit["kind"].values).astype(str) == "model")
    rng = np.random.default_rng(seed)
    if source == "posterior":
        if "posterior" not in fit:
            raise EstimationError("this fit has no posterior; fit with posterior = {...} or "
                                  "draw from the covariance")
        flat = np.asarray(fit["posterior"].values).reshape(-1, len(names))
        idx = rng.choice(flat.shape[0], size=int(n), replace=int(n) > flat.shape[0])
        values = flat[idx]
    elif source == "covariance":
        cov = np.asarray(fit["covariance"].values, dtype=float)
        if not np.all(np.isfinite(cov[np.ix_(keep, keep)])):
            bad = [names[i] for i in np.flatnonzero(keep & ~np.isfinite(np.diag(cov)))]
            raise EstimationError(f"cannot draw from the covariance: {', '.join(bad) or 'some'}"
                                  " have undetermined variance (singular Fisher information);"
                                  " fix them, or use a posterior")
        cov = np.where(np.isfinite(cov), cov, 0.0)
        x_hat = estimate_x(fit)
        log = np.asarray(fit["scale"].values).astype(str) == "log"
        lo = np.where(log, np.log(np.maximum(fit["lower"].values, 1e-300)), fit["lower"].values)
        hi = np.where(log, np.log(fit["upper"].values), fit["upper"].values)
        L = _factor(cov)
        x = x_hat + rng.standard_normal((int(n), len(names))) @ L.T
        for _ in range(100):  # truncation to the bounds by resampling the rows outside
            out = np.any((x < lo) | (x > hi), axis=1)
            if not out.any():
                break
            x[out] = x_hat + rng.standard_normal((int(out.sum()), len(names))) @ L.T
        else:
            warnings.warn("some draws stayed outside the bounds after 100 resamplings; "
                          "clipped to the bounds", UserWarning, stacklevel=2)
            x = np.clip(x, lo, hi)
        values = np.where(log, np.exp(x), x)
    else:
        raise EstimationError(f"source must be 'auto', 'covariance' or 'posterior', got "
                              f"{source!r}")
    values = values[:, keep]
    return xr.DataArray(values, dims=("draw", "parameter"),
                        coords={"draw": np.arange(int(n)),
                                "parameter": [nm for nm, k in zip(names, keep) if k]},
                        attrs={"source": source, "seed": -1 if seed is None else int(seed),
                               "long_name": "parameter draws (natural scale)"})


def _factor(cov):
    """A square root of a covariance that may be only positive semi-definite."""
    vals, vecs = np.linalg.eigh(0.5 * (cov + cov.T))
    return vecs * np.sqrt(np.maximum(vals, 0.0))


def problem_from_fit(fit, *, model=None, data=None):
    """Rebuild the :class:`Problem` of a fit (model and data files re-read; a changed file is
    a warning). Returns ``(problem, x_hat)``."""
    from ..model import load_model
    from ..results import provenance
    from .problem import build_problem

    fit = _as_fit(fit)
    attrs = provenance(fit)
    if model is None:
        model = attrs.get("model_path") or attrs["model"]
    model = load_model(model)
    if model.hash != attrs.get("model_hash"):
        warnings.warn(f"model {model.name!r} differs from the one fitted (hash changed)",
                      UserWarning, stacklevel=2)
    files = attrs.get("data_files") or {}
    if data is None:
        paths = [p for p in files if not p.startswith("<")]
        if not paths:
            raise EstimationError("the fit's data were given as text; pass data= to rebuild it")
        data = paths if len(paths) > 1 else paths[0]
    specs = attrs["parameters"]  # JSON keeps no order: take it from the parameter coordinate
    order = [str(p) for p, kind in zip(fit["parameter"].values, fit["kind"].values)
             if str(kind) == "model"]
    problem = build_problem(
        model, data, {k: {"init": specs[k]["init"], "lower": specs[k]["lower"],
                          "upper": specs[k]["upper"], "scale": specs[k]["scale"],
                          "prior": specs[k].get("prior")} for k in order},
        method=attrs["method"], error=attrs.get("error_models") or None,
        fixed=attrs.get("fixed") or {}, scenarios=tuple(attrs.get("scenarios") or ()),
        rtol=attrs["solver"]["rtol"], atol=attrs["solver"]["atol"])
    if files and problem.data.files != files:
        changed = [p for p, h in problem.data.files.items() if files.get(p) != h]
        if changed:
            warnings.warn(f"data file(s) changed since the fit: {', '.join(changed)}",
                          UserWarning, stacklevel=2)
    return problem, estimate_x(fit)
