"""Small text helpers shared by every layer's error messages."""
from __future__ import annotations

import difflib
import re
from collections.abc import Iterable

__all__ = ["suggest", "one_line", "SHIPPED_NAME"]

#: A bare name (``ldn``, ``pk-single_dose``) rather than a path: looked up among the shipped
#: models or experiments.
SHIPPED_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_\-]*\Z")


def suggest(word: object, options: Iterable[object]) -> str:
    """`` (did you mean 'x'?)`` for the closest option, or ``""`` when none is close."""
    near = difflib.get_close_matches(str(word), [str(o) for o in options], n=1)
    return f" (did you mean {near[0]!r}?)" if near else ""


def one_line(text: object) -> str:
    """``text`` (or an exception) on one line: line breaks become spaces, nothing else changes
    (a quoted key of two spaces stays two spaces); an exception without a message gives its
    type's name."""
    line = " ".join(str(text).splitlines()).strip()
    return line or (type(text).__name__ if isinstance(text, BaseException) else "")
