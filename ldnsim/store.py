"""Zarr stores for sweeps too large to hold: chunk by chunk, a completion mask, resumable.

A store is a Zarr (format 2) directory that ``xarray.open_zarr`` opens as a plain result:
the sweep's dims and coordinates with units, the kept trajectories over ``(*dims, "time")``,
``status``, the metric variables (``metric_*``) and the provenance attributes. Its Zarr chunks
are the sweep's computed chunks (:class:`ldnsim.sweep.chunks.ChunkGrid`), so each chunk is
written whole, by the task that computed it (a region write; no two tasks share a file), and
only then marked complete in ``chunk_done`` (one element, one file, per chunk; written after
the data). A chunk whose mark is missing is recomputed whole on resume, so a run killed at any
moment and resumed gives the same store as an uninterrupted run.

``ldnsim_store`` (an attribute) fingerprints what the store holds: the model hash, the ldnsim
version, a hash of every input of the rows (parameters, doses, times, solver settings, seeds)
and the layout. Resuming checks it and refuses, before writing anything, on any difference.
"""
from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import LdnsimError
from .results import netcdf_safe_attrs

__all__ = ["StoreLayout", "StoreError", "create_store", "check_store", "write_chunk",
           "done_chunks", "finalize_store", "is_store", "store_stats", "read_status",
           "FINGERPRINT_KEY"]

#: Attribute holding the fingerprint (JSON) that resume checks.
FINGERPRINT_KEY = "ldnsim_store"
#: Zarr format written (2: strings and consolidated metadata that every reader knows).
ZARR_FORMAT = 2


class StoreError(LdnsimError, OSError):
    """A store cannot be created, resumed (it holds another run) or written."""


@dataclass(frozen=True, eq=False)
class StoreLayout:
    """What a store holds, as plain data (built by the sweep runner).

    Attributes
    ----------
    dims : tuple of str ; shape : tuple of int ; chunk_shape : tuple of int
        The sweep's dims, sizes and the Zarr chunk over them (one computed chunk).
    n_chunks : int
    coords : dict
        ``{name: (dim, values, attrs)}``.
    t_eval : (m,) ; time_attrs : dict
    trajectories : dict
        ``{name: attrs}``: variables kept over ``(*dims, "time")``.
    metrics : dict
        ``{name: (dims, dtype, attrs)}``.
    stat_names : tuple of str
    attrs : dict
        Dataset attributes (provenance).
    fingerprint : dict
        Compared on resume (JSON-able).
    """

    dims: tuple
    shape: tuple
    chunk_shape: tuple
    n_chunks: int
    coords: dict
    t_eval: np.ndarray
    time_attrs: dict
    trajectories: dict
    metrics: dict
    stat_names: tuple
    attrs: dict
    fingerprint: dict


def _zarr():
    try:
        import zarr
    except ModuleNotFoundError:
        raise StoreError("Zarr stores need the zarr package: pip install 'ldnsim[dask]'") \
            from None
    return zarr


def _array(group, name, dims, shape, chunks, dtype, attrs, compress=True):
    # Floats not yet computed read as NaN; integers have no fill value (xarray would turn a
    # fill value into NaN and the integers into floats), so they read 0 until written:
    # chunk_done says which chunks hold results.
    dtype = np.dtype(dtype)
    fill_value = np.nan if dtype.kind == "f" else None
    all_attrs = {"_ARRAY_DIMENSIONS": list(dims), **netcdf_safe_attrs(attrs)}
    kw = {} if compress else {"compressors": None}
    arr = group.create_array(name, shape=tuple(shape), chunks=tuple(chunks) or None,
                             dtype=dtype, fill_value=fill_value, attributes=all_attrs, **kw)
    return arr


def is_store(path) -> bool:
    """True when ``path`` is a directory holding an ldnsim store."""
    path = Path(path)
    meta = path / ".zattrs"
    if not meta.is_file():
        return False
    try:
        return FINGERPRINT_KEY in json.loads(meta.read_text())
    except (OSError, ValueError):
        return False


def _fingerprint(path) -> dict:
    return json.loads(json.loads((Path(path) / ".zattrs").read_text())[FINGERPRINT_KEY])


def create_store(path, layout: StoreLayout, *, overwrite=False) -> Path:
    """Create an empty store (every chunk missing).

    Parameters
    ----------
    path : str or os.PathLike
    layout : StoreLayout
    overwrite : bool
        Replace an existing ldnsim store at ``path``. Anything else at ``path`` is never
        removed.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    StoreError
        ``path`` exists (and ``overwrite`` is false, or it is not an ldnsim store).
    """
    zarr = _zarr()
    path = Path(path)
    if path.exists():
        if not (overwrite and (is_store(path) or (path.is_dir() and not any(path.iterdir())))):
            what = "an ldnsim store" if is_store(path) else "not an ldnsim store"
            hint = ("; resume it, or pass --overwrite (overwrite=True) to start afresh"
                    if is_store(path) else "; choose another path")
            raise StoreError(f"{path} exists ({what}){hint}")
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    if not path.parent.is_dir():
        raise StoreError(f"cannot create {path}: directory {path.parent} does not exist")
    # Made beside the target and renamed into place: a run killed while creating leaves no
    # half-made store (only a hidden directory, removed by the next creation).
    for stale in path.parent.glob(f".{path.name}.creating-*"):
        shutil.rmtree(stale, ignore_errors=True)
    tmp = path.parent / f".{path.name}.creating-{os.getpid()}"
    _create(zarr, tmp, layout)
    os.replace(tmp, path)
    return path


def _dims_of(dim):
    """A coordinate's dims as a tuple (one name or several)."""
    return tuple(dim) if isinstance(dim, tuple) else (dim,)


def _create(zarr, path, layout):
    group = zarr.open_group(str(path), mode="w", zarr_format=ZARR_FORMAT)
    dims, shape, chunks = layout.dims, layout.shape, layout.chunk_shape
    m = layout.t_eval.size
    if layout.trajectories:  # metrics only: no time dim at all
        _array(group, "time", ("time",), (m,), (m,), np.float64, layout.time_attrs)[:] = \
            layout.t_eval
    coord_names = [c for c in layout.coords if c not in dims]
    for name, (dim, values, attrs) in layout.coords.items():
        values = np.asarray(values)
        array = _array(group, name, _dims_of(dim), values.shape, values.shape, values.dtype,
                       attrs)
        array[:] = values
    coordinates = {"coordinates": " ".join(coord_names)} if coord_names else {}
    for name, attrs in layout.trajectories.items():
        _array(group, name, dims + ("time",), shape + (m,), chunks + (m,), np.float64,
               {**attrs, **coordinates})
    _array(group, "status", dims, shape, chunks, np.int32,
           {"long_name": "solver status code (0 = success)", **coordinates})
    for name, (vdims, dtype, attrs) in layout.metrics.items():
        vshape = tuple(shape[dims.index(d)] for d in vdims)
        vchunks = tuple(chunks[dims.index(d)] for d in vdims)
        local = [c for c in coord_names if set(_dims_of(layout.coords[c][0])) <= set(vdims)]
        extra = {"coordinates": " ".join(local)} if local else {}
        _array(group, name, vdims, vshape, vchunks, dtype, {**attrs, **extra})
    _array(group, "chunk_done", ("chunk",), (layout.n_chunks,), (1,), np.uint8,
           {"long_name": "chunk complete (1) or still to compute (0)"}, compress=False)
    _array(group, "chunk_stats", ("chunk", "stat"), (layout.n_chunks, len(layout.stat_names)),
           (1, len(layout.stat_names)), np.int64,
           {"long_name": "solver statistics per chunk (totals over its rows)",
            "stat_names": ",".join(layout.stat_names)})
    attrs = netcdf_safe_attrs({**layout.attrs, "complete": 0})
    attrs[FINGERPRINT_KEY] = json.dumps(layout.fingerprint, sort_keys=True)
    group.attrs.update(attrs)
    zarr.consolidate_metadata(str(path))


_DIFFERENCES = (
    ("model_hash", "the model differs (hash {old:.12} in the store, {new:.12} now)"),
    ("ldnsim_version", "it was written by ldnsim {old}, this is ldnsim {new}"),
    ("experiment", "it holds experiment {old!r}, not {new!r}"),
    ("inputs", "its rows' inputs differ (parameters, doses, output times, solver settings "
               "or seeds; an unset seed draws fresh entropy: set one to resume)"),
    ("layout", "its layout differs (dims, variables, metrics or chunks)"),
)


def check_store(path, layout: StoreLayout) -> None:
    """Refuse to resume ``path`` unless it holds this very run (nothing is written).

    Raises
    ------
    StoreError
        Naming the first difference: model hash, ldnsim version, experiment, inputs, layout.
    """
    if not is_store(path):
        raise StoreError(f"{path} exists and is not an ldnsim store; choose another path")
    try:
        old = _fingerprint(path)
    except (OSError, ValueError, KeyError) as exc:
        raise StoreError(f"cannot read the store {path}: {exc}") from None
    new = layout.fingerprint
    for key, text in _DIFFERENCES:
        if old.get(key) != new.get(key):
            raise StoreError(f"cannot resume {path}: " + text.format(old=old.get(key),
                                                                     new=new.get(key))
                             + "; nothing was written (use --overwrite to start afresh)")


def _group(path, mode="r+"):
    return _zarr().open_group(str(path), mode=mode, zarr_format=ZARR_FORMAT,
                              use_consolidated=False)


def write_chunk(path, index, region, dims, trajectories, metrics, status, stats) -> None:
    """Write one chunk's block, then mark it complete.

    Parameters
    ----------
    path : str
    index : int
        The chunk.
    region : tuple of slice
        Its block over ``dims``.
    dims : tuple of str
    trajectories : dict
        ``{name: (*block, m)}``.
    metrics : dict
        ``{name: values}`` over the metric's own dims (a subset of ``dims``, in order).
    status : (*block) int ; stats : (n_stats,) int
    """
    group = _group(path)
    where = dict(zip(dims, region))
    for name, values in trajectories.items():
        group[name][tuple(region) + (slice(None),)] = values
    for name, values in metrics.items():
        vdims = group[name].attrs["_ARRAY_DIMENSIONS"]
        group[name][tuple(where[d] for d in vdims)] = values
    group["status"][tuple(region)] = np.asarray(status, dtype=np.int32)
    group["chunk_stats"][index] = np.asarray(stats, dtype=np.int64)
    group["chunk_done"][index] = 1  # last: the chunk counts only once all of it is written


def done_chunks(path) -> np.ndarray:
    """``(n_chunks,)`` bool: which chunks are complete."""
    return np.asarray(_group(path, "r")["chunk_done"][:]) == 1


def read_status(path) -> np.ndarray:
    """The ``status`` array (0 where not yet computed: see :func:`done_chunks`)."""
    return np.asarray(_group(path, "r")["status"][:])


def store_stats(path) -> np.ndarray:
    """``(n_chunks, n_stats)`` solver statistics per chunk."""
    return np.asarray(_group(path, "r")["chunk_stats"][:])


def finalize_store(path, attrs) -> None:
    """Record the run's summary attributes (``complete``, failures, stats) and consolidate."""
    zarr = _zarr()
    group = _group(path)
    current = dict(group.attrs)
    fingerprint = current.pop(FINGERPRINT_KEY)
    merged = netcdf_safe_attrs({**current, **attrs, "complete": 1})
    merged[FINGERPRINT_KEY] = fingerprint
    group.attrs.put(merged)
    zarr.consolidate_metadata(str(path))
