"""Shared helpers of the plots: lazy matplotlib, axes, labels from attrs, checks."""
from __future__ import annotations

import numpy as np
import xarray as xr

from ldnsim.errors import LdnsimError

__all__ = ["PlotError"]


class PlotError(LdnsimError, ValueError):
    """The data cannot be drawn as asked (missing variable, too many dims left)."""


def pyplot():
    import matplotlib.pyplot as plt  # lazy: see the module docstring

    return plt


def new_axes(ax, nrows=1):
    if ax is not None:
        return ax
    fig, axes = pyplot().subplots(nrows, 1, sharex=True, layout="constrained",
                                   figsize=(6.4, 3.6 * nrows if nrows > 1 else 4.2))
    return axes


def axis_label(obj, fallback):
    """``long_name [units]`` from a DataArray's (or attrs dict's) attributes."""
    attrs = getattr(obj, "attrs", obj) or {}
    text = str(attrs.get("long_name", fallback))
    units = attrs.get("units")
    return f"{text} [{units}]" if units not in (None, "") else text


def variable(data, var):
    if isinstance(data, xr.DataArray):
        return data
    if var not in data:
        available = ", ".join(sorted(str(v) for v in data.data_vars))
        raise PlotError(f"variable {var!r} is not in the data; available: {available}")
    return data[var]


def require_only(da, allowed, what):
    extra = [d for d in da.dims if d not in allowed]
    if extra:
        raise PlotError(f"{what} cannot show dims {extra}; select one value of each first, "
                        f"e.g. ds.isel({extra[0]}=0)")


def value_label(coord, value):
    units = coord.attrs.get("units")
    text = f"{value:g}" if isinstance(value, (float, np.floating)) else str(value)
    return f"{text} {units}" if units not in (None, "", "1") else text


def by_scenario(da, scenario_dim):
    """``(label, data for one scenario)`` per line, in coordinate order."""
    if scenario_dim in da.dims:
        return [(value_label(da[scenario_dim], v), da.sel({scenario_dim: v}))
                for v in da[scenario_dim].values]
    return [(None, da)]
