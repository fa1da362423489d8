"""Atomic file writes: a file is either complete or absent, never half written."""
from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

__all__ = ["atomic_path", "atomic_write_text", "temp_name"]


def temp_name(path: Path) -> Path:
    """A hidden temporary name next to ``path`` (same directory, so the final rename stays on
    one file system; a leading dot so that globbing for ``*.nc`` never sees a partial file)."""
    return path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.tmp")


@contextlib.contextmanager
def atomic_path(path: os.PathLike | str, *, mode: int | None = None,
                fsync: bool = True) -> Iterator[Path]:
    """Yield a temporary path to write; on success it is renamed over ``path``.

    Parameters
    ----------
    path : path-like
        The target. Its directory must exist. An existing file is replaced atomically
        (``os.replace``), so a reader sees the old file or the complete new one.
    mode : int, optional
        Permission bits for the new file (e.g. ``0o644`` for a shared cache).
    fsync : bool
        Flush the bytes to disk before the rename.

    Notes
    -----
    Any exception, ``KeyboardInterrupt`` included, removes the temporary file and re-raises.
    """
    path = Path(path)
    tmp = temp_name(path)
    try:
        yield tmp
        if mode is not None:
            os.chmod(tmp, mode)
        if fsync:
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def atomic_write_text(path: os.PathLike | str, text: str, *, mode: int | None = None) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; see :func:`atomic_path`."""
    with atomic_path(path, mode=mode) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def shipped_dirs(kind: str) -> list[Path]:
    """Directories holding shipped ``kind`` files ("models", "experiments"): the wheel's copy
    (``ldnsim/_shipped/<kind>``), then a source checkout's (``<repo>/<kind>``)."""
    dirs = []
    wheel = Path(__file__).resolve().parent / "_shipped" / kind
    if wheel.is_dir():
        dirs.append(wheel)
    root = Path(__file__).resolve().parents[1]
    # only a real checkout: a bare "models" folder next to site-packages is not ours
    if (root / "pyproject.toml").is_file() and (root / kind).is_dir():
        dirs.append(root / kind)
    return dirs
