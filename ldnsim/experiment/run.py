"""Running a resolved experiment: the sweep, then its metrics merged into the result."""
from __future__ import annotations

import warnings

import xarray as xr

from ldnsim.errors import LdnsimError
from ldnsim.metrics import merge_metrics, metric_parts
from ldnsim.results import netcdf_safe_attrs, provenance
from ldnsim.sweep import run_plan

from .load import load_experiment

__all__ = ["run_experiment", "metrics_of", "uncertainty_summaries", "METRIC_PREFIX"]

#: Prefix of metric variables merged into a result.
METRIC_PREFIX = "metric_"
#: Dims of parameter uncertainty that the summaries reduce (together, when both are present).
UNCERTAINTY_DIMS = ("draw", "sample")
#: The interval the summaries report: 5 % and 95 % quantiles (a 90 % interval).
INTERVAL = (0.05, 0.95)


def uncertainty_summaries(metrics: xr.Dataset) -> xr.Dataset:
    """Medians and 90 % intervals over the parameter draws of every metric that has them.

    When a result has a ``draw`` dim (``[uncertainty]``), every metric variable over it gets
    ``<name>_median``, ``<name>_lower`` and ``<name>_upper`` (5 % and 95 % quantiles over
    ``draw`` and, when present, ``sample`` together; NaN values, e.g. failed rows, are left
    out and counted in the attribute ``n_missing``). The per-draw values stay as they are.
    Without a ``draw`` dim nothing is added.
    """
    if "draw" not in metrics.dims:
        return metrics
    out = {}
    for name, da in metrics.data_vars.items():
        dims = [d for d in UNCERTAINTY_DIMS if d in da.dims]
        if "draw" not in dims or da.dtype.kind not in "fiu":
            continue
        with warnings.catch_warnings():  # all-NaN slices give NaN, counted below
            warnings.simplefilter("ignore", RuntimeWarning)
            q = da.astype(float).quantile([0.5, *INTERVAL], dim=dims, skipna=True)
        n_missing = int(da.isnull().sum())
        for label, level in (("median", 0.5), ("lower", INTERVAL[0]), ("upper", INTERVAL[1])):
            v = q.sel(quantile=level, drop=True)
            v.attrs = {**da.attrs, "long_name": f"{da.attrs.get('long_name', name)}: "
                       f"{label} over {' and '.join(dims)}" + ("" if label == "median" else
                                                              f" ({level:.0%} quantile)"),
                       "n_missing": n_missing}
            out[f"{name}_{label}"] = v
    return metrics.assign(out)


def _metrics(exp, ds: xr.Dataset) -> tuple[xr.Dataset, dict]:
    """The metrics (variables prefixed ``metric_``) and each metric's own attrs."""
    cfg = exp.config.metrics
    parts = metric_parts(ds, cfg.names, cfg.options())
    merged = uncertainty_summaries(merge_metrics(list(parts.values()), cfg.names))
    renamed = merged.rename({v: f"{METRIC_PREFIX}{v}" for v in merged.data_vars})
    return renamed, {name: dict(part.attrs) for name, part in parts.items()}


def run_experiment(source, *, threads=None, progress=None, chunk_size=None):
    """Run an experiment and return its result with the metrics merged in.

    Parameters
    ----------
    source : path, shipped experiment name, TOML text, dict or Experiment
    threads : int, optional
        numba threads (results do not depend on it).
    progress : bool or None
        Progress bar: True always, False never, None on a terminal for long runs.
    chunk_size : int, optional
        Rows per chunk (results do not depend on it).

    Returns
    -------
    xarray.Dataset
        Variables over ``(*sweep dims, "time")``, ``status``, metric variables prefixed
        ``metric_`` (see :func:`metrics_of`), provenance attributes (``experiment`` text,
        ``experiment_config``, ``model_hash``, seeds, versions, ``n_failed``, ``failures``).
        Failed rows are NaN and counted; a metric that cannot be computed on this result is
        left out with a warning (and ``metrics_error`` in attrs) instead of losing the run.

    Raises
    ------
    ConfigError
        The experiment is invalid (nothing has been run).
    """
    exp = load_experiment(source, resolve=True)
    ds = run_plan(exp.plan, threads=threads, progress=progress, chunk_size=chunk_size)
    extra = {}
    if exp.config.metrics is not None:
        try:
            metrics, metric_attrs = _metrics(exp, ds)
        except LdnsimError as exc:
            warnings.warn(f"metrics were not computed: {exc}", UserWarning, stacklevel=2)
            extra["metrics_error"] = str(exc)
        else:
            ds = ds.assign(dict(metrics.data_vars))
            extra.update(metrics=list(exp.config.metrics.names),
                         metric_options=exp.config.metrics.options(),
                         metric_attrs=metric_attrs)
    kept = set(exp.config.output.variables or exp.plan.model.output_names
               or exp.plan.model.state_names)
    drop = [v for v in exp.metric_vars if v not in kept]
    ds = ds.drop_vars(drop)
    ds.attrs = netcdf_safe_attrs({**ds.attrs, **extra})
    return ds


def metrics_of(ds):
    """The metrics of a result as their own Dataset: ``metric_`` prefixes removed, attrs of
    every metric (e.g. ``max_blockade_hours``, ``window_definition``) restored.

    Returns an empty Dataset when the result has no metrics.
    """
    names = [v for v in ds.data_vars if str(v).startswith(METRIC_PREFIX)]
    out = ds[names].rename({v: str(v)[len(METRIC_PREFIX):] for v in names})
    attrs = {}
    for a in (provenance(ds).get("metric_attrs") or {}).values():
        attrs.update(a)
    out.attrs = attrs
    return out
