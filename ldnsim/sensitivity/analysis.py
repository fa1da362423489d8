"""Sensitivity indices from model outputs over a design, as an ``xarray.Dataset``.

:func:`sobol_indices` and :func:`morris_effects` analyse one output vector; :func:`analyse`
runs them for every output and every combination of the other dims of a result (dose,
scenario, ...) and labels the indices. SALib computes the indices and their bootstrap
confidence intervals (Saltelli 2002/2010 estimators for S1/ST/S2, Jansen for ST; Morris 1991
elementary effects with Campolongo's mu*).
"""
from __future__ import annotations

import itertools
import warnings

import numpy as np
import xarray as xr

from ldnsim.errors import ConfigError

from .design import Design, salib

__all__ = ["sobol_indices", "morris_effects", "analyse", "derived_output", "DERIVED_OUTPUTS"]

#: Outputs computed across the dose dim of the window metric (per sample and scenario).
DERIVED_OUTPUTS = ("lowest_dose_in_window", "highest_dose_in_window")


def sobol_indices(design: Design, Y, *, resamples=1000, confidence=0.95, seed=0) -> dict:
    """Sobol indices of one output.

    Parameters
    ----------
    design : Design
        A ``"sobol"`` design.
    Y : (rows,) the output at the design's rows.
    resamples : int
        Bootstrap resamples for the confidence intervals.
    confidence : float
        Confidence level of the intervals.
    seed : int

    Returns
    -------
    dict
        ``S1``, ``S1_conf``, ``ST``, ``ST_conf`` (D,), and ``S2``, ``S2_conf`` (D, D) with
        ``second_order`` (upper triangle; NaN elsewhere). ``*_conf`` is the half-width of the
        interval.
    """
    salib()
    from SALib.analyze import sobol

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # constant outputs: 0/0 -> NaN
        out = sobol.analyze(design.problem, np.asarray(Y, dtype=float),
                            calc_second_order=design.second_order, num_resamples=int(resamples),
                            conf_level=float(confidence), print_to_console=False, seed=int(seed))
    return {k: np.asarray(v, dtype=float) for k, v in out.items()}


def morris_effects(design: Design, Y, *, resamples=1000, confidence=0.95, seed=0) -> dict:
    """Morris elementary effects of one output: ``mu``, ``mu_star``, ``mu_star_conf``,
    ``sigma`` (D,), per unit of the analysis scale (log units for log-uniform parameters)."""
    salib()
    from SALib.analyze import morris

    out = morris.analyze(design.problem, design.X, np.asarray(Y, dtype=float),
                         num_resamples=int(resamples), conf_level=float(confidence),
                         num_levels=design.levels, seed=int(seed))
    return {k: np.asarray(out[k], dtype=float) for k in ("mu", "mu_star", "mu_star_conf",
                                                        "sigma")}


def derived_output(name, metrics: xr.Dataset) -> xr.DataArray:
    """``lowest_dose_in_window`` / ``highest_dose_in_window``: per sample (and scenario...),
    the lowest/highest dose of the sweep whose ``in_window`` is 1; 0 when none is.
    NaN when ``in_window`` is unknown (failed rows) at any dose."""
    if "in_window" not in metrics or "dose" not in metrics["in_window"].dims:
        raise ConfigError(f"output {name!r} needs the window metric (in_window) over a dose "
                          "axis")
    inw = metrics["in_window"]
    dose = inw["dose"]
    pick = dose.where(inw == 1)
    value = pick.min("dose") if name.startswith("lowest") else pick.max("dose")
    value = value.fillna(0.0).where(inw.notnull().all("dose"))
    value.attrs = {"long_name": name.replace("_", " "), "units": dose.attrs.get("units", "")}
    return value


def _indices(design, y, resamples, confidence, seed):
    if design.method == "sobol":
        return sobol_indices(design, y, resamples=resamples, confidence=confidence, seed=seed)
    return morris_effects(design, y, resamples=resamples, confidence=confidence, seed=seed)


_LONG = {
    "S1": "first-order Sobol index", "ST": "total-order Sobol index",
    "S2": "second-order Sobol index", "mu": "mean elementary effect",
    "mu_star": "mean absolute elementary effect (Morris mu*)",
    "sigma": "standard deviation of the elementary effects",
}


def analyse(design: Design, metrics: xr.Dataset, outputs, *, sample_dim="sample",
            resamples=1000, confidence=0.95, seed=0) -> xr.Dataset:
    """Indices of every output, per combination of the result's other dims.

    Parameters
    ----------
    design : Design
    metrics : xarray.Dataset
        Metric outputs (names without the ``metric_`` prefix) over ``sample_dim`` and any
        other dims (dose, scenario, ...); the sample coordinate follows the design's rows.
    outputs : sequence of str
        Variables of ``metrics``, or :data:`DERIVED_OUTPUTS`.
    sample_dim : str
    resamples, confidence, seed
        Bootstrap settings.

    Returns
    -------
    xarray.Dataset
        Over ``(output, *other dims, parameter)``: ``S1``, ``S1_conf``, ``ST``, ``ST_conf``
        (and ``S2``, ``S2_conf`` over ``parameter``, ``parameter_2``) for Sobol; ``mu``,
        ``mu_star``, ``mu_star_conf``, ``sigma`` for Morris. ``*_conf`` are half-widths of
        the ``confidence`` intervals. ``n_failed`` counts design rows with NaN output (their
        combination's indices are NaN); ``output_std`` is the output's spread over the design
        (a constant output, 0, has undefined indices: NaN). An output without one of the
        other dims (the derived ``highest_dose_in_window`` has no dose) is repeated along it;
        attribute ``output_dims`` lists each output's own dims. Attrs also: method, design
        size, seed, ranges.
    """
    arrays = _output_arrays(outputs, metrics)
    stacked = xr.concat([da.reset_coords(drop=True).astype(float) for da in arrays.values()],
                        dim=xr.Variable("output", list(arrays)), join="outer", coords="minimal",
                        compat="override")
    stacked = stacked.transpose("output", ..., sample_dim)
    if stacked.sizes[sample_dim] != design.X.shape[0]:
        raise ConfigError(f"the outputs have {stacked.sizes[sample_dim]} samples, the design "
                          f"{design.X.shape[0]} rows")
    others = [str(d) for d in stacked.dims if d != sample_dim]
    keys = (["S1", "S1_conf", "ST", "ST_conf"] + (["S2", "S2_conf"] if design.second_order
                                                  else [])
            if design.method == "sobol" else ["mu", "mu_star", "mu_star_conf", "sigma"])
    own = {name: set(da.dims) for name, da in arrays.items()}
    out, failed, spread = _all_indices(design, stacked, others, own, keys,
                                       (resamples, confidence, seed))
    coords: dict = {d: stacked[d] for d in others if d in stacked.coords}
    coords["parameter"] = ("parameter", list(design.names))
    data = _index_variables(design, keys, others, out, confidence)
    if design.second_order and design.method == "sobol":
        coords["parameter_2"] = ("parameter_2", list(design.names))
    data["n_failed"] = (others, failed, {"long_name": "design rows whose output is NaN"})
    data["output_std"] = (others, spread, {
        "long_name": "standard deviation of the output over the design (0: constant, so its "
                     "indices are NaN)"})
    ds = xr.Dataset(data, coords=coords)
    ds["output"].attrs = {"long_name": "analysed output"}
    ds.attrs = {"method": design.method, "design_rows": int(design.X.shape[0]),
                "design_seed": int(design.seed), "resamples": int(resamples),
                "confidence": float(confidence), "parameters": ",".join(design.names),
                "log_uniform": ",".join(n for n, lg in zip(design.names, design.log) if lg),
                "bounds": str(design.bounds.tolist()),
                "output_dims": "; ".join(f"{n}: {','.join(d for d in others if d in own[n])}"
                                         for n in arrays)}
    if np.any(failed):
        warnings.warn(f"{int((failed > 0).sum())} output/dose/scenario combinations have "
                      "failed design rows; their indices are NaN", UserWarning, stacklevel=2)
    return ds


def _output_arrays(outputs, metrics):
    """Output name -> its DataArray (a metric of ``metrics`` or a derived output)."""
    arrays = {}
    for name in outputs:
        if name in DERIVED_OUTPUTS:
            arrays[name] = derived_output(name, metrics)
        elif name in metrics:
            arrays[name] = metrics[name]
        else:
            raise ConfigError(f"sensitivity output {name!r} is not a metric output of this "
                              f"run; available: {', '.join(map(str, metrics.data_vars))}, "
                              f"{', '.join(DERIVED_OUTPUTS)}")
    return arrays


def _all_indices(design, stacked, others, own, keys, bootstrap):
    """The indices ``keys`` of every combination of ``others`` (the sample dim last in
    ``stacked``), the number of failed design rows and the output's spread of each.

    Returns
    -------
    out : dict key -> ndarray, shape (*others sizes, D) (``S2*``: (*others sizes, D, D))
    failed : ndarray of int, shape (*others sizes)
    spread : ndarray, shape (*others sizes)
    """
    resamples, confidence, seed = bootstrap
    D = len(design.names)
    shape = tuple(stacked.sizes[d] for d in others)
    out = {k: np.full(shape + ((D, D) if k.startswith("S2") else (D,)), np.nan) for k in keys}
    failed = np.zeros(shape, np.int64)
    spread = np.full(shape, np.nan)
    values = stacked.values
    done = {}
    for idx in itertools.product(*(range(n) for n in shape)):
        # An output without one of the other dims is analysed once and repeated along it.
        name = str(stacked["output"].values[idx[0]])
        key = tuple(i if d == "output" or d in own[name] else 0 for d, i in zip(others, idx))
        if key not in done:
            y = values[idx]
            bad = ~np.isfinite(y)
            std = float(np.std(y)) if not bad.any() else np.nan
            # A constant output has no variance to apportion: its indices are undefined (NaN),
            # not zero (the window closed for every parameter set, say).
            done[key] = (int(bad.sum()), std, None if bad.any() or std == 0.0 else
                         _indices(design, y, resamples, confidence, seed))
        failed[idx], spread[idx], res = done[key]
        if res is not None:
            for k in keys:
                out[k][idx] = res[k]
    return out, failed, spread


def _index_variables(design, keys, others, out, confidence):
    """The result's index variables: key -> (dims, values, attrs)."""
    data = {}
    for k in keys:
        dims = others + (["parameter", "parameter_2"] if k.startswith("S2") else ["parameter"])
        base = k.removesuffix("_conf")
        attrs = {"long_name": _LONG[base] + (f" ({confidence:.0%} interval half-width)"
                                             if k.endswith("_conf") else ""), "units": "1"}
        if design.method == "morris" and not k.startswith("S"):
            attrs["units"] = "output unit per analysis unit of the parameter"
        data[k] = (dims, out[k], attrs)
    return data
