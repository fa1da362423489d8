"""The ldnsim version, defined once (in ``pyproject.toml``) and read from the installed metadata."""
from __future__ import annotations

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _dist_version

__all__ = ["__version__", "dist_version"]


def dist_version(dist: str, missing: str = "not installed") -> str:
    """Installed version of the distribution ``dist``, or ``missing`` when it is absent.

    Reads package metadata only, so asking for ``numba``'s version does not import numba.
    """
    try:
        return _dist_version(dist)
    except PackageNotFoundError:
        return missing


#: ldnsim's version ("0+unknown" when run from a source tree that was never installed).
__version__ = dist_version("ldnsim", missing="0+unknown")
