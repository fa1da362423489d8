"""Saving and loading results as NetCDF, atomically, with units and provenance intact.

A result file is either complete or absent: :func:`save_result` writes to a hidden temporary
file in the target's directory and renames it over the target with ``os.replace`` (atomic on
POSIX and Windows within one file system). A run that is killed or fails mid-write leaves the
previous file, if any, untouched and removes its temporary file when Python still can; a
temporary file left by a killed process is removed by the next save to the same path
(:mod:`ldnsim._files`). A full disk is reported as such, whatever words the NetCDF library
used for it.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import numpy as np
import xarray as xr

from ._files import atomic_path, is_disk_full
from .errors import LdnsimError
from .results import JSON_ATTRS_KEY, netcdf_safe_attrs, provenance

__all__ = ["save_result", "open_result", "provenance", "ResultIOError"]

#: Engines tried in order; both write NETCDF4 (HDF5) files that either can read.
ENGINES = ("netcdf4", "h5netcdf")
#: Modules each engine needs at write time (h5netcdf is importable without h5py, but unusable).
_MODULES = {"netcdf4": ("netCDF4",), "h5netcdf": ("h5netcdf", "h5py")}


class ResultIOError(LdnsimError, OSError):
    """A result file cannot be written or read."""


def _engine(engine=None) -> str:
    """The requested engine if importable, else the first importable one."""
    candidates = ENGINES if engine is None else (engine,)
    for name in candidates:
        if name not in _MODULES:
            raise ResultIOError(f"unknown NetCDF engine {name!r}; use one of {', '.join(ENGINES)}")
        if all(importlib.util.find_spec(m) is not None for m in _MODULES[name]):
            return name
    wanted = " or ".join("+".join(_MODULES[n]) for n in candidates)
    raise ResultIOError(f"NetCDF support needs the {wanted} package; netCDF4 comes with "
                        "ldnsim (pip install netCDF4), h5netcdf with pip install 'ldnsim[io]'")


def _prepared(ds: xr.Dataset) -> tuple[xr.Dataset, dict]:
    """A shallow copy with NetCDF-safe attrs everywhere, and compression for numeric data."""
    # Encodings inherited from an opened file (chunk sizes, source path) may not suit the
    # engine or layout we write now; start clean.
    out = ds.copy(deep=False).drop_encoding()
    out.attrs = netcdf_safe_attrs(ds.attrs)
    encoding = {}
    for name, var in out.variables.items():
        var.attrs = netcdf_safe_attrs(var.attrs)
        if name in out.data_vars and var.ndim and np.issubdtype(var.dtype, np.number):
            encoding[name] = {"zlib": True, "complevel": 4}
    return out, encoding


def save_result(ds: xr.Dataset, path, *, engine=None, compress=True) -> Path:
    """Write a result to NetCDF so that the file is either complete or absent.

    Parameters
    ----------
    ds : xarray.Dataset
        A result; attrs that NetCDF cannot hold (dicts, booleans, None, lists) are stored as
        JSON strings (see :func:`ldnsim.results.netcdf_safe_attrs`).
    path : str or os.PathLike
        Target file; its directory must exist. An existing file is replaced.
    engine : {"netcdf4", "h5netcdf"}, optional
        Default: netCDF4 if importable, else h5netcdf.
    compress : bool
        Deflate numeric data variables (level 4).

    Returns
    -------
    pathlib.Path
        The written path.

    Raises
    ------
    ResultIOError
        No NetCDF engine is installed, the directory does not exist, or writing failed.
    """
    path = Path(path)
    engine = _engine(engine)
    if not path.parent.is_dir():
        raise ResultIOError(f"cannot write {path}: directory {path.parent} does not exist")
    ready, encoding = _prepared(ds)
    try:
        with atomic_path(path) as tmp:
            ready.to_netcdf(tmp, engine=engine, format="NETCDF4",
                            encoding=encoding if compress else None)
    except Exception as exc:
        if isinstance(exc, LdnsimError):
            raise
        if is_disk_full(exc, path.parent):
            raise ResultIOError(f"cannot write {path}: the disk is full ({_free(path.parent)} "
                                f"free on the file system of {path.parent}; the result needs "
                                f"about {ds.nbytes / 2**20:.3g} MiB before compression); "
                                "nothing was written (an existing file is unchanged)") from exc
        raise ResultIOError(f"cannot write {path}: {exc}") from exc
    return path


def _free(directory) -> str:
    try:
        free = shutil.disk_usage(directory).free
    except OSError:
        return "no space"
    return f"{free / 2**20:.3g} MiB"


def open_result(path, *, engine=None) -> xr.Dataset:
    """Load a result file fully into memory and close it.

    Parameters
    ----------
    path : str or os.PathLike
    engine : {"netcdf4", "h5netcdf"}, optional

    Returns
    -------
    xarray.Dataset
        Numbers stay numbers (no time or timedelta decoding: ``time`` is in the model's unit,
        given by ``time.attrs["units"]``); attributes come back as Python scalars and strings;
        JSON-encoded provenance stays a string -- use :func:`provenance` to decode it.

    Raises
    ------
    ResultIOError
        The file does not exist or is not a readable NetCDF file.
    """
    path = Path(path)
    engine = _engine(engine)
    if not path.is_file():
        raise ResultIOError(f"no result file at {path}")
    try:
        # Without these, xarray turns a variable with units "h" into timedelta64.
        with xr.open_dataset(path, engine=engine, decode_times=False,
                             decode_timedelta=False) as opened:
            ds = opened.load()
    except (OSError, ValueError) as exc:
        raise ResultIOError(f"cannot read {path} as a NetCDF result: {exc}") from exc
    ds.attrs = _plain(ds.attrs)
    for var in ds.variables.values():
        var.attrs = _plain(var.attrs)
    _check_json_attrs(ds, path)
    return ds


def _check_json_attrs(ds, path):
    """Every attribute listed as JSON must decode: a damaged file says which one is damaged."""
    for key in (k for k in str(ds.attrs.get(JSON_ATTRS_KEY, "")).split(",") if k):
        value = ds.attrs.get(key)
        if isinstance(value, str):
            try:
                json.loads(value)
            except ValueError as exc:
                raise ResultIOError(f"cannot read {path} as a result: its attribute {key!r} is "
                                    f"not valid JSON ({exc}); was the file edited?") from None


def _plain(attrs: dict) -> dict:
    """NetCDF readers return numpy scalars; give back the Python values that were written."""
    return {k: v.item() if isinstance(v, np.generic) else v for k, v in attrs.items()}
