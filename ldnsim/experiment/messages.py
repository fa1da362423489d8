"""pydantic validation errors -> one line naming the file, the key and what was expected.

Used by every TOML config ldnsim reads (experiments, fits): pass the config's own
``sections`` map (section path -> pydantic model) so unknown keys list the allowed ones.
"""
from __future__ import annotations

import json
import re
from collections.abc import Mapping

from ldnsim._text import one_line, suggest
from ldnsim.errors import ConfigError

__all__ = ["config_error", "key", "key_text", "fail", "KEY_ERROR"]

#: Error type of a validator that names a key below its own location: raise
#: ``PydanticCustomError(KEY_ERROR, "{message}", {"message": ..., "path": (key, ...)})``.
KEY_ERROR = "ldnsim_key_error"


def key_path(loc, raw, last_is_key):
    """The parts of a pydantic ``loc`` that are real keys or indexes of the input."""
    parts, cur = [], raw
    for i, p in enumerate(loc):
        if isinstance(cur, Mapping) and p in cur:
            parts.append(p)
            cur = cur[p]
        elif isinstance(cur, (list, tuple)) and isinstance(p, int) and 0 <= p < len(cur):
            parts.append(p)
            cur = cur[p]
        elif last_is_key and i == len(loc) - 1 and isinstance(p, str):
            parts.append(p)  # a missing key
        # else: a union/validator tag in the location, not part of the user's file
    return parts


_PLAIN_KEY = re.compile(r"[A-Za-z0-9_\-]+\Z")


def key(part):
    """A key as TOML would write it: bare when it can be, quoted otherwise (one line always)."""
    text = str(part)
    return text if _PLAIN_KEY.match(text) else json.dumps(text)


def key_text(parts):
    """``("sweep", "dose", 2)`` -> ``"[sweep] dose[2]"``; ``()`` -> ``"(top level)"``."""
    if not parts:
        return "(top level)"
    head, rest = f"[{key(parts[0])}]", ""
    for p in parts[1:]:
        rest += f"[{p}]" if isinstance(p, int) else (f".{key(p)}" if rest else key(p))
    return f"{head} {rest}" if rest else head


_EXPECTED = {
    "float_type": "a number", "float_parsing": "a number", "int_type": "an integer",
    "int_from_float": "an integer", "int_parsing": "an integer", "string_type": "a string",
    "bool_type": "true or false", "list_type": "a list [...]",
    "dict_type": "a table { key = value, ... }", "model_type": "a table { key = value, ... }",
    "model_attributes_type": "a table { key = value, ... }",
    "finite_number": "a finite number", "string_too_short": "a non-empty string",
}


def describe(err, parts, sections):
    kind, ctx = err["type"], err.get("ctx") or {}
    got = repr(err.get("input"))
    got = got if len(got) <= 60 else got[:57] + "..."
    if kind == "missing":
        return f"missing required key {parts[-1]!r}" if parts else "missing required key"
    if kind == "extra_forbidden":
        parent = tuple("*" if (len(parts) == 4 and i == 2) else p
                       for i, p in enumerate(parts[:-1]))
        cls = sections.get(parent)
        allowed = list(cls.model_fields) if cls is not None else []
        what = "section" if len(parts) == 1 else "key"
        return (f"unknown {what} {parts[-1]!r}{suggest(parts[-1], allowed)}; allowed: "
                f"{', '.join(allowed)}") if allowed else f"unknown {what} {parts[-1]!r}"
    if kind == KEY_ERROR:
        return ctx.get("message", err["msg"])
    if kind in ("value_error", "assertion_error"):
        msg = err["msg"]
        for prefix in ("Value error, ", "Assertion failed, "):
            msg = msg[len(prefix):] if msg.startswith(prefix) else msg
        return msg
    if kind in _EXPECTED:
        return f"expected {_EXPECTED[kind]}, got {got}"
    if kind == "literal_error":
        return f"expected {ctx.get('expected', 'one of the allowed values')}, got {got}"
    bounds = {"greater_than": (">", "gt"), "greater_than_equal": (">=", "ge"),
              "less_than": ("<", "lt"), "less_than_equal": ("<=", "le")}
    if kind in bounds:
        sym, key = bounds[kind]
        return f"expected a number {sym} {ctx.get(key)}, got {got}"
    if kind in ("too_short", "too_long"):
        lo, hi = ctx.get("min_length"), ctx.get("max_length")
        n = ctx.get("actual_length")
        if kind == "too_short" and hi is None:
            return f"expected at least {lo} item(s), got {n}"
        return f"expected {lo if lo == hi else f'{lo}..{hi}'} item(s), got {n}" if lo \
            else f"expected at most {hi} item(s), got {n}"
    return f"{err['msg'][:1].lower()}{err['msg'][1:]}, got {got}"


def config_error(where, exc, raw, sections=None):
    errors = exc.errors(include_url=False)
    err = errors[0]
    parts = key_path(err["loc"], raw, err["type"] == "missing")
    if err["type"] == KEY_ERROR:
        parts += list((err.get("ctx") or {}).get("path", ()))
    more = len({tuple(e["loc"]) for e in errors}) - 1
    tail = f" (and {more} more problem{'s' if more > 1 else ''})" if more > 0 else ""
    if err["type"] == "missing" and len(parts) == 1:
        return ConfigError(f"{where}: missing section [{key(parts[0])}]{tail}")
    what = describe(err, parts, sections or {})
    return ConfigError(one_line(f"{where}: {key_text(parts)}: {what}{tail}"))


def fail(where, parts, msg):
    """A ConfigError ``"<where>: [section] key: <msg>"`` on one line."""
    return ConfigError(one_line(f"{where}: {key_text(parts)}: {msg}"))
