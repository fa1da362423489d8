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
from collections.abc import Iterable, Iterator
from pathlib import Path

from .errors import LdnsimError

__all__ = ["atomic_path", "atomic_write_text", "temp_name", "stale_temp_files",
           "remove_stale_temp_files", "name_max", "is_disk_full", "output_path", "check_extension",
           "OutputPathError", "OUTPUT_KINDS"]

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


class OutputPathError(LdnsimError):
    """An output path that cannot or must not be written (checked before any work)."""


#: What each kind of output may be called: ``kind -> (suffixes, what they are)``. The first
#: suffix is the one a default name gets.
OUTPUT_KINDS = {
    "result": ((".nc", ".zarr"), "a result is NetCDF (.nc) or a Zarr store (.zarr)"),
    "netcdf": ((".nc",), "it is written as NetCDF (.nc)"),
    "table": ((".csv",), "a table is written as CSV (.csv)"),
    "figure": ((".png", ".pdf", ".svg", ".jpg", ".jpeg", ".eps", ".ps", ".tif", ".tiff",
                ".webp"), "the figure format is told by its extension"),
    "sbml": ((".xml", ".sbml"), "SBML is written as .xml (or .sbml)"),
}


def _same_file(a: Path, b: Path) -> bool:
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:
        pass
    return a.resolve() == b.resolve()


def check_extension(path: os.PathLike | str, what: str, kind: str, *,
                    error: type[LdnsimError] = OutputPathError) -> None:
    """Raise ``error`` unless ``path`` ends in one of :data:`OUTPUT_KINDS` ``[kind]``."""
    suffixes, rule = OUTPUT_KINDS[kind]
    suffix = Path(path).suffix
    if suffix.lower() not in suffixes:
        got = f"'{suffix}'" if suffix else "no extension"
        hint = ("; for a table of the metrics: ldnsim summarize RESULT --csv TABLE.csv"
                if kind == "result" and suffix.lower() == ".csv" else "")
        raise error(f"cannot write the {what} {path}: {rule}; use {', '.join(suffixes)} "
                    f"(got {got}){hint}")


def output_path(path: os.PathLike | str, what: str, kind: str | None = None, *,
                protect: Iterable = (),
                error: type[LdnsimError] = OutputPathError) -> Path:
    """Check, before a long run rather than after it, that ``path`` may be written.

    Parameters
    ----------
    path : str or os.PathLike
        The file (or, for a ``.zarr`` result, the store directory) to write.
    what : str
        What it is, for the message ("result", "figure", "SBML file").
    kind : {"result", "netcdf", "table", "figure", "sbml"}, optional
        Its extension must be one of :data:`OUTPUT_KINDS` ``[kind]`` (checked first, so that
        ``-o result.csv`` fails at once instead of writing NetCDF under that name).
    protect : iterable of (path or None, str)
        Paths the output must not be (the experiment file, the model file, another output of
        the same command), with their description.
    error : type
        The LdnsimError subclass raised.

    Returns
    -------
    pathlib.Path
        ``path``, its directory created (as ``mkdir -p``) and stale temporary files of a killed
        run removed.

    Raises
    ------
    OutputPathError (or ``error``)
        A wrong extension, a directory or device, a name too long for the file system, one of
        ``protect``, or a directory that cannot be created or written.
    """
    path = Path(path)
    if not path.name:
        raise error(f"cannot write the {what} {path}: it names a directory, not a file")
    store = kind == "result" and path.suffix.lower() == ".zarr"
    if kind is not None:
        check_extension(path, what, kind, error=error)
    limit = name_max(path.parent if path.parent.is_dir() else Path("."))
    if len(os.fsencode(path.name)) > limit:  # checked first: stat() itself fails on it
        raise error(f"cannot write the {what} {path}: its name is {len(os.fsencode(path.name))}"
                    f" bytes long, more than the {limit} the file system allows")
    if path.is_symlink():
        path = path.resolve()  # write through the link, as a plain open() would
    if store:
        if path.exists() and not path.is_dir():
            raise error(f"cannot write the {what} {path}: it exists and is not a directory "
                        "(a Zarr store is one)")
    elif path.is_dir():
        raise error(f"cannot write the {what} {path}: it is a directory")
    elif path.exists() and not path.is_file():
        raise error(f"cannot write the {what} {path}: it exists and is not a regular file "
                    "(a device, pipe or socket would be replaced by a file); choose a file")
    for other, description in protect:
        if other is not None and _same_file(path, Path(other)):
            raise error(f"cannot write the {what} to {path}: it is the {description}; writing "
                        "there would replace it")
    if not path.parent.is_dir():
        # A fresh checkout has no results/ folder yet: make it, as `mkdir -p` would.
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise error(f"cannot write the {what} {path}: cannot create directory "
                        f"{path.parent} ({exc.strerror or exc})") from None
    if not os.access(path.parent, os.W_OK):
        raise error(f"cannot write the {what} {path}: directory {path.parent} is not writable")
    if not store:
        remove_stale_temp_files(path)  # left by a run that was killed while writing it
    return path
