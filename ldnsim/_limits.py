"""What input may cost: limits with a way to raise each, and notices when a step is slow.

Every limit is a module constant where it is checked (``ldnsim.model.expr.MAX_EXPANDED_NODES``,
``ldnsim.sweep.plan.MAX_RESULT_BYTES``, ...) and can be overridden, without editing code, by
the environment variable of the same name prefixed ``LDNSIM_`` (``LDNSIM_MAX_RESULT_BYTES=
32000000000``). :func:`limit` reads the variable at check time, so a test or a session can set it
at any moment; docs/architecture.md lists every limit with its default.

Steps that are bounded but can still take a while the first time (generating and compiling a
model, compiling the solver kernels) run inside :func:`noticed`; an interface that registered a
callback with :func:`slow_notices` hears about them once they last longer than
:data:`NOTICE_SECONDS`, so a silent minute is not taken for a hang.
"""
from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from .errors import LdnsimError

__all__ = ["limit", "raise_hint", "slow_notices", "noticed", "NOTICE_SECONDS"]

#: A step that lasts longer than this is announced (see :func:`slow_notices`).
NOTICE_SECONDS = 1.0
_LISTENERS: list = []


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


@contextmanager
def slow_notices(notify: Callable[[str], None]) -> Iterator[None]:
    """Call ``notify(text)`` (from a timer thread) for each :func:`noticed` step that lasts
    longer than :data:`NOTICE_SECONDS` while the block runs."""
    _LISTENERS.append(notify)
    try:
        yield
    finally:
        _LISTENERS.remove(notify)


@contextmanager
def noticed(text: str) -> Iterator[None]:
    """Announce ``text`` to the listener if the block runs longer than NOTICE_SECONDS."""
    if not _LISTENERS:
        yield
        return
    timer = threading.Timer(NOTICE_SECONDS, _LISTENERS[-1], (text,))
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
