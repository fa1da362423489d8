"""Arrays and names -> a labelled ``xarray.Dataset`` (units in attrs, netCDF-safe provenance).

Everything the solver and the sweep produce passes through :func:`make_dataset`, so the layout of
a result is defined once: one data variable per state or output over ``(*sweep_dims, "time")``,
a ``time`` coordinate carrying the model's time unit, an integer ``status`` per sweep row, and
provenance attributes that any NetCDF engine can write.

NetCDF attributes can only be strings, numbers and 1-D numeric arrays: no dicts, no booleans, no
None, and lists of length one come back as scalars. So every attribute value that is not a plain
string or a finite-width number is stored as a JSON string, and the names of those attributes
are listed in the ``ldnsim_json_attrs`` attribute. :func:`provenance` uses that list to turn
exactly those strings back into Python values; a string that merely looks like JSON (an
experiment file starting with ``[model]``, say) stays a string.
"""

from __future__ import annotations

import datetime as _dt
import json
import platform
from collections.abc import Mapping

import numpy as np
import xarray as xr

from ._version import __version__, dist_version

__all__ = ["make_dataset", "provenance_attrs", "provenance", "netcdf_safe_attrs", "mask_failed",
           "STATUS_FLAGS"]

#: Dataset attribute listing (comma-separated) which attributes hold JSON-encoded values.
JSON_ATTRS_KEY = "ldnsim_json_attrs"
#: Meanings of the solver's status codes 0, 1, ... (``ldnsim.solver.Status``; a test checks
#: that they agree), written as CF ``flag_values``/``flag_meanings`` on every ``status``.
STATUS_FLAGS = ("success", "max_steps", "step_underflow", "non_finite", "singular")

_INT64 = np.iinfo(np.int64)


def _needs_json(value) -> bool:
    """True when ``value`` cannot be stored as a NetCDF attribute unchanged."""
    if isinstance(value, (bool, np.bool_)):
        return True  # NetCDF has no boolean attribute type
    if isinstance(value, str):
        return False
    if isinstance(value, (int, np.integer)):
        # Seeds from SeedSequence have 128 bits; NetCDF integers stop at 64.
        return not (_INT64.min <= int(value) <= _INT64.max)
    if isinstance(value, (float, np.floating)):
        return False
    if isinstance(value, np.ndarray) and value.ndim == 1 and value.size >= 2 \
            and value.dtype.kind in "iuf":
        return False  # NetCDF stores 1-D numeric arrays (CF flag_values); longer than one
    # Dicts, None, and every sequence (a length-1 list would come back as a scalar).
    return True


def _to_jsonable(value):
    """Plain Python for ``json.dumps`` (numpy scalars and arrays included)."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Mapping):
        return {str(k): _to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_to_jsonable(v) for v in value]
    return value


def netcdf_safe_attrs(attrs: Mapping | None) -> dict:
    """Return a copy of ``attrs`` that every NetCDF engine can write.

    Strings and finite-width numbers pass through; everything else (dicts, lists, booleans,
    None, integers beyond int64) becomes a JSON string whose key is recorded in
    ``attrs["ldnsim_json_attrs"]`` so that :func:`provenance` can decode it.

    Parameters
    ----------
    attrs : mapping or None
        Attribute names to values. An existing ``ldnsim_json_attrs`` entry is kept and extended.

    Returns
    -------
    dict
    """
    attrs = dict(attrs or {})
    json_keys = [k for k in str(attrs.pop(JSON_ATTRS_KEY, "")).split(",") if k]
    out = {}
    for key, value in attrs.items():
        key = str(key)
        if _needs_json(value):
            out[key] = json.dumps(_to_jsonable(value), sort_keys=True, default=str)
            json_keys.append(key)
        else:
            out[key] = value.item() if isinstance(value, np.generic) else value
    # Keep the list honest: only keys that are present, each once, in a stable order.
    json_keys = [k for k in dict.fromkeys(json_keys) if k in out]
    if json_keys:
        out[JSON_ATTRS_KEY] = ",".join(json_keys)
    return out


def provenance_attrs(**kw) -> dict:
    """Provenance attributes for a result: versions, a UTC timestamp and the given items.

    Parameters
    ----------
    **kw
        Anything worth recording (``model_hash=...``, ``experiment=<TOML text>``, ``seed=...``,
        ``solver={"method": ..., "rtol": ...}``). Values that NetCDF cannot store directly
        (dicts, lists, booleans, None, huge integers) are JSON-encoded; see
        :func:`netcdf_safe_attrs`. Keyword items override the automatic ones.

    Returns
    -------
    dict
        NetCDF-safe attributes: ``ldnsim_version``, ``python_version``, ``numpy_version``,
        ``scipy_version``, ``numba_version``, ``xarray_version``, ``created`` (ISO 8601, UTC)
        and the keyword items.
    """
    attrs = {
        "ldnsim_version": __version__,
        "python_version": platform.python_version(),
        "numpy_version": np.__version__,
        "scipy_version": dist_version("scipy"),
        # importlib.metadata, not ``import numba``: recording a version must not cost a JIT import.
        "numba_version": dist_version("numba"),
        "xarray_version": xr.__version__,
        "created": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    attrs.update(kw)
    return netcdf_safe_attrs(attrs)


def provenance(ds: xr.Dataset | Mapping) -> dict:
    """Dataset attributes as Python values, JSON-encoded ones decoded back to dicts and lists.

    Parameters
    ----------
    ds : xarray.Dataset or mapping
        A result (or its ``attrs``).

    Returns
    -------
    dict
        Every attribute except ``ldnsim_json_attrs``; numpy scalars become Python scalars.
    """
    attrs = dict(ds.attrs if isinstance(ds, (xr.Dataset, xr.DataArray)) else ds)
    json_keys = {k for k in str(attrs.pop(JSON_ATTRS_KEY, "")).split(",") if k}
    out = {}
    for key, value in attrs.items():
        if key in json_keys and isinstance(value, str):
            out[key] = json.loads(value)
        elif isinstance(value, np.generic):
            out[key] = value.item()
        else:
            out[key] = value
    return out


def _per_name(values, names, what) -> list:
    """A mapping or a sequence aligned with ``names`` -> a list of strings aligned with names."""
    if values is None:
        return [None] * len(names)
    if isinstance(values, Mapping):
        return [values.get(n) for n in names]
    if isinstance(values, str) or len(values) != len(names):
        raise ValueError(f"{what} must be a mapping or a sequence of {len(names)} strings "
                         f"(one per name), got {values!r}")
    return list(values)


def make_dataset(t, y, names, units, long_names, *, dims=(), coords=None, status=None,
                 attrs=None, time_unit="h"):
    """Build a result Dataset from solver output.

    Parameters
    ----------
    t : array_like, shape (n_time,)
        Output times, shared by every sweep row.
    y : array_like, shape (*sweep_shape, n_time, n_vars)
        Values; ``y[..., j]`` becomes the data variable ``names[j]``.
    names : sequence of str, length n_vars
        Variable names (states and outputs).
    units, long_names : sequence of str or mapping name -> str or None
        Per-variable ``units`` and ``long_name`` attributes. A missing long name defaults to the
        variable name; a missing unit is left out rather than guessed.
    dims : sequence of str
        Names of the sweep dimensions, one per leading axis of ``y`` (``"dose"``,
        ``"scenario"``, ``"subject"``, parameter names).
    coords : mapping, optional
        Coordinates in any form xarray accepts. Give units with the tuple form
        ``{"dose": ("dose", doses, {"units": "mg"})}``.
    status : array_like of int, shape sweep_shape, optional
        Per-row solver status (0 = success); stored as the ``status`` variable.
    attrs : mapping, optional
        Dataset attributes, typically :func:`provenance_attrs`; made NetCDF-safe.
    time_unit : str
        The model's time unit, stored as ``time.attrs["units"]``.

    Returns
    -------
    xarray.Dataset
        Data variables over ``(*dims, "time")``.

    Raises
    ------
    ValueError
        When the shapes of ``t``, ``y``, ``names``, ``dims`` or ``status`` disagree.
    """
    t = np.asarray(t, dtype=float)
    y = np.asarray(y)
    names = [str(n) for n in names]
    dims = tuple(str(d) for d in dims)
    if t.ndim != 1:
        raise ValueError(f"t must be 1-D, got shape {t.shape}")
    if y.ndim != len(dims) + 2:
        raise ValueError(f"y has shape {y.shape}, expected {len(dims)} sweep axes {dims} "
                         "followed by (time, variable)")
    if y.shape[-2] != t.size:
        raise ValueError(f"y has {y.shape[-2]} time points but t has {t.size}")
    if y.shape[-1] != len(names):
        raise ValueError(f"y has {y.shape[-1]} variables but {len(names)} names were given")
    if len(set(names)) != len(names):
        raise ValueError(f"variable names must be unique, got {names}")
    if "time" in dims or "status" in names:
        raise ValueError("'time' is reserved for the time dim and 'status' for the status "
                         "variable")
    units = _per_name(units, names, "units")
    long_names = _per_name(long_names, names, "long_names")

    var_dims = dims + ("time",)
    data_vars = {}
    for j, name in enumerate(names):
        var_attrs = {"long_name": str(long_names[j] or name)}
        if units[j] is not None:
            var_attrs["units"] = str(units[j])
        data_vars[name] = xr.Variable(var_dims, y[..., j], var_attrs)
    if status is not None:
        status = np.asarray(status)
        if status.shape != y.shape[:-2]:
            raise ValueError(f"status has shape {status.shape}, expected the sweep shape "
                             f"{y.shape[:-2]}")
        data_vars["status"] = xr.Variable(
            dims, status.astype(np.int32),
            {"long_name": "solver status code (0 = success)",
             "flag_values": np.arange(len(STATUS_FLAGS), dtype=np.int32),
             "flag_meanings": " ".join(STATUS_FLAGS)})

    all_coords = {"time": xr.Variable("time", t, {"units": str(time_unit),
                                                  "long_name": "time", "axis": "T"})}
    all_coords.update(coords or {})
    try:
        return xr.Dataset(data_vars, coords=all_coords, attrs=netcdf_safe_attrs(attrs))
    except ValueError as exc:  # e.g. a coordinate whose length does not match its dim
        raise ValueError(f"cannot build the result dataset: {exc}") from exc


def mask_failed(ds: xr.Dataset, *, status_var: str = "status") -> xr.Dataset:
    """Set every time-dependent variable to NaN in rows whose ``status`` is non-zero.

    Parameters
    ----------
    ds : xarray.Dataset
        A result with an integer ``status`` variable over the sweep dims.
    status_var : str
        Name of the status variable.

    Returns
    -------
    xarray.Dataset
        A copy (or ``ds`` itself when it has no status variable).
    """
    if status_var not in ds:
        return ds
    ok = ds[status_var] == 0
    out = ds.copy()
    for name, da in ds.data_vars.items():
        if name != status_var and "time" in da.dims and np.issubdtype(da.dtype, np.floating):
            out[name] = da.where(ok)
            out[name].attrs = da.attrs
    return out
