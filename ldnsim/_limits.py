"""Limits on what input may cost, each with a default and an environment variable to raise it.

Every limit is a module constant where it is checked (``ldnsim.model.expr.MAX_EXPANDED_NODES``,
``ldnsim.sweep.plan.MAX_RESULT_BYTES``, ...) and can be overridden, without editing code, by
the environment variable of the same name prefixed ``LDNSIM_`` (``LDNSIM_MAX_RESULT_BYTES=
32000000000``). :func:`limit` reads the variable at check time, so a test or a session can set it
at any moment; docs/architecture.md lists every limit with its default.
"""
from __future__ import annotations

import os

from .errors import LdnsimError

__all__ = ["limit", "raise_hint"]


def limit(name: str, default: float) -> float:
    """The limit ``name`` (``"MAX_RESULT_BYTES"``): ``$LDNSIM_<name>`` if set, else ``default``.

    Raises
    ------
    LdnsimError
        The environment variable is set but is not a positive number.
    """
    text = os.environ.get(f"LDNSIM_{name}", "").strip()
    if not text:
        return default
    try:
        value = float(text.replace("_", ""))
    except ValueError:
        value = float("nan")
    if not value > 0 or value == float("inf"):
        raise LdnsimError(f"the environment variable LDNSIM_{name}={text!r} must be a positive "
                          "number")
    return int(value) if isinstance(default, int) and value.is_integer() else value


def raise_hint(name: str) -> str:
    """``"set LDNSIM_<name> to raise this limit"``: the tail of every limit message."""
    return f"set LDNSIM_{name} to raise this limit"
