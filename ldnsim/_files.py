"""Atomic file writes: a file is either complete or absent, never half written.

A file is written to a hidden temporary name in its own directory and renamed over the target
(``os.replace``). The temporary name ``.<name>.<host>-<pid>-<random>.tmp`` records which
process wrote it: any exception (``KeyboardInterrupt`` and the command line's SIGTERM included)
removes it, and a temporary file left by a process that was killed outright (SIGKILL, a power
cut) is removed by the next atomic write of the same target on the same host, once its process
is gone. The name is shortened when needed so that it always fits the file system's limit on a
name, whatever the target's name.
"""
from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

__all__ = ["atomic_path", "atomic_write_text", "temp_name", "stale_temp_files",
           "remove_stale_temp_files", "name_max", "is_disk_full"]

_RANDOM = 8  # hex digits
_TEMP = re.compile(r"\A\.(?P<prefix>.*)\.(?P<host>[0-9a-f]{4})-(?P<pid>\d+)-[0-9a-f]{8}\.tmp\Z")


def _host() -> str:
    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:4]


def name_max(directory: os.PathLike | str) -> int:
    """The longest file name the file system of ``directory`` accepts (255 if unknown)."""
    try:
        return int(os.pathconf(directory, "PC_NAME_MAX"))
    except (OSError, ValueError, AttributeError):
        return 255


def _prefix(path: Path) -> str:
    """The part of the target's name kept in its temporary names (shortened to fit)."""
    # "." + prefix + "." + host (4) + "-" + pid (up to 10 digits) + "-" + random + ".tmp"
    room = name_max(path.parent) - (1 + 1 + 4 + 1 + 10 + 1 + _RANDOM + 4)
    return path.name if len(path.name) <= room else path.name[:max(room, 1)]


def temp_name(path: Path) -> Path:
    """A hidden temporary name next to ``path`` (same directory, so the final rename stays on
    one file system; a leading dot so that globbing for ``*.nc`` never sees a partial file)."""
    path = Path(path)
    return path.with_name(f".{_prefix(path)}.{_host()}-{os.getpid()}-"
                          f"{uuid.uuid4().hex[:_RANDOM]}.tmp")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: it exists, owned by someone else
        return True
    return True


def stale_temp_files(path: os.PathLike | str) -> list[Path]:
    """Temporary files of ``path`` left by processes of this host that no longer run."""
    path = Path(path)
    prefix, host = _prefix(path), _host()
    found = []
    try:
        candidates = list(path.parent.glob(f".{glob_escape(prefix)}.*.tmp"))
    except OSError:
        return []
    for p in candidates:
        m = _TEMP.match(p.name)
        if m and m["prefix"] == prefix and m["host"] == host and not _alive(int(m["pid"])):
            found.append(p)
    return found


def glob_escape(text: str) -> str:
    """``text`` with glob's special characters made literal."""
    return re.sub(r"([*?\[])", r"[\1]", text)


def remove_stale_temp_files(path: os.PathLike | str) -> list[Path]:
    """Remove :func:`stale_temp_files` of ``path``; returns the ones removed."""
    removed = []
    for p in stale_temp_files(path):
        with contextlib.suppress(OSError):
            p.unlink()
            removed.append(p)
    return removed


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
        Permission bits for the new file (e.g. ``0o600`` for a private cache).
    fsync : bool
        Flush the bytes to disk before the rename.

    Notes
    -----
    Any exception, ``KeyboardInterrupt`` included, removes the temporary file and re-raises.
    Temporary files of ``path`` left by killed processes are removed first.
    """
    path = Path(path)
    remove_stale_temp_files(path)
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
        if mode is not None:  # never readable by others, not even for a moment
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
        else:
            tmp.write_text(text, encoding="utf-8")
    return Path(path)


def is_disk_full(exc: BaseException | None, directory: os.PathLike | str) -> bool:
    """True when ``exc`` (or its causes) is ENOSPC/EDQUOT, or ``directory``'s file system has
    (almost) no space left: libraries such as HDF5 report a full disk in their own words."""
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        exc = exc.__cause__ or exc.__context__
        seen += 1
    try:
        st = os.statvfs(directory)
    except (OSError, AttributeError):
        return False
    return st.f_bavail * st.f_frsize < 1 << 20


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
