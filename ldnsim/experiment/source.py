"""Finding and reading experiment files: a path, a shipped name, TOML text or a dict."""
from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path

from ldnsim._files import shipped_dirs
from ldnsim._text import SHIPPED_NAME, suggest
from ldnsim.errors import ConfigError

__all__ = ["list_experiments", "read_source", "MAX_FILE_BYTES"]

#: Experiment files are hand-written; anything bigger is a mistake.
MAX_FILE_BYTES = 1_000_000


def list_experiments():
    """Names of the shipped experiments (usable with :func:`load_experiment`)."""
    return sorted({p.stem for d in shipped_dirs("experiments") for p in d.glob("*.toml")})


def read_source(source, *, what="experiment", shipped=True):
    """``(raw dict, text or None, path or None, where)`` from a path, TOML text or dict.

    Parameters
    ----------
    source : str, os.PathLike, bytes or Mapping
        A file, TOML text (a string with a newline, or with ``=`` or ``[`` that is not an
        existing file), a shipped name (when ``shipped``), or the parsed dict.
    what : str
        What the file is, for messages ("experiment", "fit configuration").
    shipped : bool
        Look a bare name up among the shipped experiments.

    Raises
    ------
    ConfigError
        The file cannot be found or read, or is not TOML.
    """
    if isinstance(source, Mapping):
        return dict(source), None, None, f"<{what} dict>"
    if isinstance(source, bytes):
        source = source.decode("utf-8", errors="replace")
    if not isinstance(source, (str, os.PathLike)):
        raise ConfigError(f"an {what} is a path, TOML text or a dict, got "
                          f"{type(source).__name__}")
    if isinstance(source, str) and ("\n" in source or (
            ("=" in source or "[" in source) and not Path(source).is_file())):
        text, path, where = source, None, f"<{what} text>"
    else:
        path = Path(source)
        if (shipped and isinstance(source, str) and SHIPPED_NAME.match(source)
                and not path.exists()):
            path = _shipped(source)
        where = str(path)
        text = _read_text(path, where, what)
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{where}: TOML syntax error: {exc}") from None
    except (RecursionError, MemoryError):
        raise ConfigError(f"{where}: TOML could not be parsed: nested too deeply") from None
    return raw, text, path, where


def _shipped(name):
    found = [d / f"{name}.toml" for d in shipped_dirs("experiments")
             if (d / f"{name}.toml").is_file()]
    if not found:
        raise ConfigError(f"{name}: no such experiment file, and no shipped experiment of "
                          f"that name{suggest(name, list_experiments())}; shipped: "
                          f"{', '.join(list_experiments()) or 'none'}")
    return found[0]


def _read_text(path, where, what):
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise ConfigError(f"{where}: larger than {MAX_FILE_BYTES} bytes; is this an "
                              f"{what} file?")
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{where}: no such {what} file") from None
    except IsADirectoryError:
        raise ConfigError(f"{where}: is a directory, not an {what} file") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{where}: not a UTF-8 text file") from None
    except OSError as exc:
        raise ConfigError(f"{where}: cannot read ({exc.strerror or exc})") from None
