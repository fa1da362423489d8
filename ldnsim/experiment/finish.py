"""What happens to a sweep's result after solving, and a rehearsal of it before solving.

:func:`finish` merges the metrics into a result, drops the variables only the metrics needed
and makes the attributes NetCDF-safe. :func:`rehearse` runs exactly these steps on a stand-in
result -- every sweep dim of length 1, the real output times, the real variables, coordinates
and attributes, values 1.0 -- when the experiment is resolved, so a metric option that cannot
work with this output grid (an empty window, too few samples for ``lambda_z_points``, outputs
that clash) is a :class:`~ldnsim.errors.ConfigError` from ``ldnsim validate``, not an error after
the whole sweep has run.
"""
from __future__ import annotations

import warnings

import numpy as np
import xarray as xr

from ldnsim.errors import ConfigError, LdnsimError
from ldnsim.metrics import merge_metrics, metric_parts
from ldnsim.metrics.window import window_probability
from ldnsim.observation import add_observations
from ldnsim.results import make_dataset, netcdf_safe_attrs

__all__ = ["finish", "rehearse", "uncertainty_summaries", "METRIC_PREFIX"]

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
    ``window_summary``'s flag ``in_window`` over ``draw`` and/or ``sample`` also gives
    ``p_in_window``, the share of them in the window, and ``p_in_window_n``. Without either
    dim nothing is added.
    """
    out = {}
    for name, da in (metrics.data_vars.items() if "draw" in metrics.dims else ()):
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
    for name in ("in_window", f"{METRIC_PREFIX}in_window"):   # window_summary's flag per draw
        if name in metrics:
            table = xr.Dataset({"in_window": metrics[name]})
            window_probability(table, UNCERTAINTY_DIMS)
            prefix = name[:-len("in_window")]
            out.update({f"{prefix}{k}": table[k] for k in ("p_in_window", "p_in_window_n")
                        if k in table})
    return metrics.assign(out)


def _metrics(exp, ds: xr.Dataset) -> tuple[xr.Dataset, dict]:
    """The metrics (variables prefixed ``metric_``) and each metric's own attrs."""
    cfg = exp.config.metrics
    parts = metric_parts(ds, cfg.names, cfg.options())
    merged = uncertainty_summaries(merge_metrics(list(parts.values()), cfg.names))
    renamed = merged.rename({v: f"{METRIC_PREFIX}{v}" for v in merged.data_vars})
    return renamed, {name: dict(part.attrs) for name, part in parts.items()}


def finish(exp, ds: xr.Dataset, *, strict: bool = False) -> xr.Dataset:
    """Merge the metrics into ``ds``, drop metric-only variables, make attrs NetCDF-safe.

    Parameters
    ----------
    exp : Experiment
        Resolved.
    ds : xarray.Dataset
        The sweep's result.
    strict : bool
        Raise when the metrics fail. Otherwise (a real run) the metrics are left out with a
        warning and ``metrics_error`` in attrs, so the solved rows are never lost.

    Returns
    -------
    xarray.Dataset
    """
    extra: dict = {}
    if exp.config.metrics is not None:
        try:
            metrics, metric_attrs = _metrics(exp, ds)
        except Exception as exc:  # a run is never lost to a metric
            if strict:
                raise
            what = str(exc) if isinstance(exc, LdnsimError) else f"{type(exc).__name__}: {exc}"
            warnings.warn(f"metrics were not computed: {what}", UserWarning, stacklevel=3)
            extra["metrics_error"] = what
        else:
            ds = ds.assign(dict(metrics.data_vars))
            extra.update(metrics=list(exp.config.metrics.names),
                         metric_options=exp.config.metrics.options(),
                         metric_attrs=metric_attrs)
    kept = set(exp.config.output.variables or exp.plan.model.output_names
               or exp.plan.model.state_names)
    drop = [v for v in exp.metric_vars if v not in kept]
    ds = ds.drop_vars(drop)
    if exp.config.observation is not None:  # residual error: <var>_obs beside <var>
        ds = add_observations(ds, exp.config.observation.errors(),
                              (exp.seeds or {})["observation"])
    ds.attrs = netcdf_safe_attrs({**ds.attrs, **extra})
    return ds


def stand_in(plan) -> xr.Dataset:
    """A result shaped like ``plan``'s with every sweep dim of length 1 and values 1.0."""
    model = plan.model
    coords = {}
    for name, (dim, values, attrs) in plan.coords.items():
        values = np.asarray(values)  # every axis to length 1 (a coord may span two dims)
        coords[name] = (dim, values[(slice(0, 1),) * values.ndim], attrs)
    shape = (1,) * len(plan.dims)
    y = np.ones(shape + (plan.t_eval.size, len(plan.keep)))
    units = {s.name: s.unit for s in model.states}
    units.update({o.name: o.unit for o in model.outputs})
    return make_dataset(plan.t_eval, y, list(plan.keep), units, None, dims=plan.dims,
                        coords=coords, status=np.zeros(shape, np.int64),
                        attrs={**plan.attrs, "n_failed": 0, "failures": []},
                        time_unit=model.time_unit)


def rehearse(exp) -> None:
    """Run :func:`finish` on a stand-in of ``exp``'s result (see the module docstring).

    Raises
    ------
    ConfigError
        Naming the file and ``[metrics]`` (or what else fails), before anything is solved.
    """
    cfg = exp.config.metrics
    where = "the result"
    try:
        with warnings.catch_warnings():
            # a window longer than the run warns here and again, for real, after the run
            warnings.simplefilter("ignore")
            ds = stand_in(exp.plan)
            for name in cfg.names if cfg is not None else ():
                where = f"[metrics] {name}"  # each metric alone first, to name the one failing
                metric_parts(ds, [name], {name: cfg.options().get(name, {})})
            where = "[metrics]" if cfg is not None else "the result"
            finish(exp, ds, strict=True)
    except LdnsimError as exc:
        # what a metric can do depends on the output grid alone (before solving): show it
        t = exp.plan.t_eval
        grid = (f"[output] gives {t.size} time{'s' if t.size != 1 else ''} from {t[0]:g} to "
                f"{t[-1]:g} {exp.plan.model.time_unit}")
        raise ConfigError(" ".join(f"{exp.where}: {where}: {exc} ({grid})".split())) from None
    except (ValueError, TypeError, KeyError) as exc:
        raise ConfigError(" ".join(f"{exp.where}: the result cannot be assembled "
                                   f"({type(exc).__name__}: {exc})".split())) from None
