"""One registry of metrics: what each computes, which variables it reads, what it returns.

Experiment configs name metrics by their registry key (``[metrics] names = ["nca"]``) and give
options as keywords (``[metrics.nca] var = "C_ntx"``); the experiment layer, the plots and the
command line all read :data:`METRICS` instead of keeping their own lists of metric outputs.

Options are typed: :attr:`Metric.option_types` comes from the metric function's annotations
(``start: float | None``, ``auc_method: Literal[...]``), and :meth:`Metric.bind` checks every
given option against it (strictly: ``"day 49"`` is not a number, ``2.0`` is not an integer, a
list is not a variable name), so ``ldnsim validate`` rejects what the metric would fail on after
the whole sweep has run.
"""

from __future__ import annotations

import inspect
import re
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal

import xarray as xr

from ldnsim._text import suggest
from ldnsim.errors import ConfigError

from ._core import MetricError
from .nca import NCA_OUTPUTS, nca
from .readouts import blockade_hours, end_value, occupancy_summary, peak, rebound
from .steady import SS_OUTPUTS, steady_state_nca
from .window import window_summary

__all__ = ["Metric", "METRICS", "OptionError", "compute_metrics", "metric_parts",
           "merge_metrics", "metric_of_output"]


class OptionError(ConfigError):
    """A metric option of the wrong type; ``option`` names it and ``expected`` says what fits."""

    def __init__(self, message: str, *, metric: str, option: str, expected: str, got: str):
        super().__init__(message)
        self.metric, self.option, self.expected, self.got = metric, option, expected, got


def _names(value) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value or ())


def _describe(tp) -> str:
    """``float | None`` -> ``"a number"`` (None cannot be written in TOML, so it is left out)."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        parts = [_describe(a) for a in typing.get_args(tp) if a is not type(None)]
        return " or ".join(dict.fromkeys(parts))
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if origin is list:
        (item,) = typing.get_args(tp) or (Any,)
        return f"a list of {_describe(item).removeprefix('a ').removeprefix('an ')}s"
    return {float: "a number", int: "an integer", str: "a string", bool: "true or false"}.get(
        tp, getattr(tp, "__name__", str(tp)))


@dataclass(frozen=True)
class Metric:
    """A registered metric.

    Attributes
    ----------
    name : str
        Registry key.
    func : callable
        ``func(ds, **options) -> xarray.Dataset``; reduces ``time`` and keeps other dims.
    outputs : callable
        ``outputs(options) -> tuple of str``: the variables ``func`` returns for these (bound)
        options; window_summary's per-population columns included.
    reads : callable
        ``reads(options) -> tuple of str``: the result variables ``func`` reads.
    description : str
        One line for listings.
    types : dict, optional
        Types of options ``func`` does not annotate (annotations win where present).
    """

    name: str
    func: Callable[..., xr.Dataset]
    outputs: Callable[[Mapping], tuple]
    reads: Callable[[Mapping], tuple]
    description: str
    types: Mapping[str, Any] = field(default_factory=dict)

    @property
    def options(self) -> tuple[str, ...]:
        """Keyword options ``func`` accepts (everything after the dataset)."""
        return tuple(p for p in inspect.signature(self.func).parameters if p != "ds")

    @cached_property
    def option_types(self) -> dict[str, Any]:
        """Option -> type: the function's annotation, else :attr:`types`, else the type of
        the default value (``Any`` when there is none)."""
        hints = typing.get_type_hints(self.func)
        out = {}
        for name, prm in inspect.signature(self.func).parameters.items():
            if name == "ds":
                continue
            default = prm.default
            out[name] = hints.get(name, self.types.get(name, (
                Any if default is inspect.Parameter.empty or default is None
                else float if isinstance(default, (int, float)) and not isinstance(default, bool)
                else type(default))))
        return out

    @cached_property
    def _validators(self) -> dict:
        from pydantic import ConfigDict, TypeAdapter

        config = ConfigDict(strict=True, allow_inf_nan=False)
        return {name: TypeAdapter(tp, config=config) for name, tp in self.option_types.items()
                if tp is not Any}

    def check_option(self, key: str, value) -> None:
        """Raise an :class:`OptionError` when ``value`` is not of the type of option ``key``."""
        from pydantic import ValidationError

        adapter = self._validators.get(key)
        if adapter is None:
            return
        if hasattr(value, "item") and getattr(value, "ndim", None) == 0:
            value = value.item()  # a numpy scalar from Python code
        try:
            adapter.validate_python(value)
        except ValidationError:
            shown = repr(value)
            shown = shown if len(shown) <= 60 else shown[:57] + "..."
            expected = _describe(self.option_types[key])
            raise OptionError(f"option {key!r} of metric {self.name!r} must be {expected}, "
                              f"got {shown}", metric=self.name, option=key, expected=expected,
                              got=shown) from None

    def bind(self, options: Mapping | None = None) -> dict:
        """``options`` completed with the defaults; unknown, missing or mistyped ones are an
        error.

        Raises
        ------
        ConfigError
            Naming the option and listing the accepted ones, or saying what type it needs.
        """
        options = dict(options or {})
        for key in options:
            if key not in self.options:
                raise ConfigError(f"unknown option {key!r} for metric {self.name!r}"
                                  f"{suggest(key, self.options)}; accepted options: "
                                  f"{', '.join(self.options)}")
        try:
            bound = inspect.signature(self.func).bind(None, **options)
        except TypeError as exc:
            raise ConfigError(f"metric {self.name!r}: {exc}; accepted options: "
                              f"{', '.join(self.options)}") from None
        for key, value in options.items():
            self.check_option(key, value)
        bound.apply_defaults()
        return {k: v for k, v in bound.arguments.items() if k != "ds"}

    def __call__(self, ds: xr.Dataset, **options) -> xr.Dataset:
        return self.func(ds, **options)


#: window_summary is not annotated; its option types, as its docstring gives them.
_WINDOW_TYPES = {
    "immune_var": str, "occupancy_var": str, "signal_var": str | None,
    "proliferation_var": str | None, "immune_baseline": float | Literal["initial"],
    "immune_margin": float, "immune_direction": Literal["decrease", "increase"],
    "threshold": float, "max_blockade_hours": float,
    "signal_baseline": float | Literal["initial"], "day": float, "last_days": float,
    "subject_dim": str | None, "min_fraction": float,
}


def _window_outputs(o):
    cols = [f"{o['immune_var']}_end", "blockade_hours"]
    if o["signal_var"] is not None:
        cols += ["rebound_max", "rebound_mean"]
    if o["proliferation_var"] is not None:
        cols.append(f"{o['proliferation_var']}_end")
    return (*cols, "in_window", "in_window_fraction", "n_subjects_ok")


def _window_per_draw(ds, **options):
    """``window_summary`` as experiments run it: one value per draw and sample, no share over
    them. A chunk of a sweep may hold only some of the draws, so ``p_in_window`` (the share of
    draws in the window) is added once all chunks are in
    (:func:`ldnsim.experiment.finish.uncertainty_summaries`)."""
    return window_summary(ds, **options, uncertainty_dims=())


_WINDOW_SIGNATURE = inspect.signature(window_summary)
_window_per_draw.__signature__ = _WINDOW_SIGNATURE.replace(  # type: ignore[attr-defined]
    parameters=[p for p in _WINDOW_SIGNATURE.parameters.values()
                if p.name != "uncertainty_dims"])


def _window_reads(o):
    return tuple(v for v in (o["immune_var"], o["occupancy_var"], o["signal_var"],
                             o["proliferation_var"]) if v is not None)


METRICS: dict[str, Metric] = {m.name: m for m in (
    Metric("nca", nca, lambda o: NCA_OUTPUTS, lambda o: (o["var"],),
           "non-compartmental analysis: Cmax, Tmax, AUC, AUCinf, lambda_z, half-life"),
    Metric("blockade_hours", blockade_hours, lambda o: ("blockade_hours",),
           lambda o: (o["var"],), "time per day above a threshold, over the last days"),
    Metric("occupancy_summary", occupancy_summary,
           lambda o: ("occupancy_peak", "occupancy_trough"), lambda o: (o["var"],),
           "peak and trough over the last day"),
    Metric("rebound", rebound, lambda o: ("rebound_max", "rebound_mean"),
           lambda o: (o["var"],), "overshoot above a baseline over the last days"),
    Metric("end_value", end_value, lambda o: tuple(f"{v}_end" for v in _names(o["var"])),
           lambda o: _names(o["var"]), "value at the last output time"),
    Metric("peak", peak, lambda o: (f"{o['var']}_peak", f"{o['var']}_peak_time"),
           lambda o: (o["var"],), "maximum and the time it is first reached"),
    Metric("steady_state_nca", steady_state_nca, lambda o: SS_OUTPUTS, lambda o: (o["var"],),
           "steady state over one dosing interval: AUCtau, Cavg, Cmax/Cmin/Ctrough, %PTF, "
           "accumulation ratio"),
    Metric("window_summary", _window_per_draw, _window_outputs, _window_reads,
           "the LDN immunomodulatory window per dose (see ldnsim.metrics.window)",
           types=_WINDOW_TYPES),
)}
"""Metrics by name."""


def compute_metrics(ds: xr.Dataset, names: str | Sequence[str],
                    options: Mapping | None = None) -> xr.Dataset:
    """Compute several metrics by name and merge them into one Dataset.

    Parameters
    ----------
    ds : xarray.Dataset
        A simulation result.
    names : str or sequence of str
        Keys of :data:`METRICS`.
    options : mapping, optional
        ``{name: {keyword: value}}`` passed to each metric (e.g. ``{"nca": {"var": "C_6bn"}}``).

    Returns
    -------
    xarray.Dataset
        The merged metrics, the result's ``status`` (when present) and its attributes, plus
        what each metric records about itself (its definition, thresholds).

    Raises
    ------
    ConfigError
        Unknown metric names or options, or two metrics producing conflicting variables.
    MetricError
        A metric cannot be computed on this result (missing variable, empty window).
    """
    parts = metric_parts(ds, names, options)
    merged = merge_metrics(list(parts.values()) + (
        [ds[["status"]].reset_coords(drop=True)] if "status" in ds else []), names)
    merged.attrs = dict(ds.attrs)
    for part in parts.values():
        merged.attrs.update(part.attrs)
    return merged


def metric_parts(ds: xr.Dataset, names: str | Sequence[str],
                 options: Mapping | None = None) -> dict[str, xr.Dataset]:
    """Each named metric computed on ``ds``: ``{name: Dataset}`` (options checked first)."""
    names = _names(names)
    options = dict(options or {})
    unknown = [n for n in list(names) + list(options) if n not in METRICS]
    if unknown:
        raise ConfigError(f"unknown metric {unknown[0]!r}{suggest(unknown[0], METRICS)}; "
                          f"known metrics: {', '.join(METRICS)}")
    bound = {name: METRICS[name].bind(options.get(name)) for name in names}
    return {name: METRICS[name](ds, **bound[name]) for name in names}


def merge_metrics(parts: Sequence[xr.Dataset], names=()) -> xr.Dataset:
    """Merge metric Datasets of one result (same dims and coordinates)."""
    try:
        return xr.merge(parts, compat="no_conflicts", join="exact", combine_attrs="override")
    except xr.MergeError as exc:
        raise ConfigError(f"metrics {list(names)} produce conflicting variables: {exc}") from None


_CALL = re.compile(r"(?P<metric>\w+)\((?P<var>\w+)\)\Z")


def metric_of_output(ds: xr.Dataset, output: str) -> xr.DataArray:
    """Compute one metric variable from a raw result (one with a ``time`` dim).

    ``output`` names the variable to read in it: ``"Cmax(C_ntx)"`` (an output of a metric
    whose ``var`` option is ``C_ntx``), ``"C_ntx_peak"``/``"immune_index_end"`` (the metric
    output names that carry their variable), or an output of a metric that needs no variable
    (``"in_window"`` with window_summary's defaults).

    Raises
    ------
    MetricError
        The name matches no metric output, or needs a variable (``"Cmax"``: write
        ``"Cmax(C_ntx)"``).
    """
    match = _CALL.match(output)
    candidates = []
    for metric in METRICS.values():
        required = [p for p in inspect.signature(metric.func).parameters.values()
                    if p.name != "ds" and p.default is inspect.Parameter.empty]
        if match:
            if [p.name for p in required] != ["var"]:
                continue
            options = metric.bind({"var": match["var"]})
            if match["metric"] in metric.outputs(options):
                candidates.append((metric, options, match["metric"]))
            continue
        for var in (str(v) for v in ds.data_vars):
            if [p.name for p in required] == ["var"] and output in metric.outputs(
                    metric.bind({"var": var})) and output.startswith(var):
                candidates.append((metric, metric.bind({"var": var}), output))
        if not required and output in metric.outputs(metric.bind()):
            candidates.append((metric, metric.bind(), output))
    if not candidates:
        needs_var = [m.name for m in METRICS.values()  # computable from a variable alone
                     if [p.name for p in inspect.signature(m.func).parameters.values()
                         if p.name != "ds" and p.default is inspect.Parameter.empty] == ["var"]
                     and output in m.outputs(m.bind({"var": "X"}))]
        hint = (f"; name the variable it is computed from, e.g. '{output}(C_plasma)' "
                f"(metric {needs_var[0]!r})" if needs_var else "")
        raise MetricError(f"{output!r} is neither a variable of the data nor a known metric "
                          f"output{hint}")
    metric, options, name = candidates[0]
    return metric(ds, **options)[name]
