"""A small grammar for unit strings in model files.

A unit is a product or quotient of known symbols with optional integer powers::

    unit   := term (("*" | "/" | "." | " ") term)*
    term   := factor (("^" | "**") int)?
    factor := SYMBOL | "1" | "(" unit ")"

e.g. ``"1/h"``, ``"L/h"``, ``"ng/mL"``, ``"nmol/L"``, ``"1/(nM*h)"``, ``"mg/kg"``, ``"m^2"``,
``"%"``, ``"a.u."``. The grammar does not check dimensions; it exists so a typo such as
``"mg/Lh"`` or ``"ngml"`` fails when the file is loaded, and so exporters (SBML) get a parsed
form to work with.
"""

from __future__ import annotations

import re

__all__ = ["UNIT_SYMBOLS", "TIME_UNITS", "parse_unit", "UnitError"]

TIME_UNITS = ("s", "min", "h", "d", "wk")
UNIT_SYMBOLS = frozenset({
    "1", "fraction", "%", "a.u.", "cells", "receptors", "IU", "U", "mU",
    # time
    *TIME_UNITS,
    # mass
    "kg", "g", "mg", "ug", "ng", "pg",
    # volume and length
    "L", "dL", "mL", "uL", "nL", "m", "cm", "mm",
    # amount and concentration
    "mol", "mmol", "umol", "nmol", "pmol", "fmol", "M", "mM", "uM", "nM", "pM", "fM",
})
# Longest first, so "mmol" is not read as "m" followed by "mol".
_SYMBOLS_BY_LENGTH = sorted(UNIT_SYMBOLS - {"1"}, key=len, reverse=True)
_INT = re.compile(r"[+-]?\d+")


class UnitError(ValueError):
    """A unit string does not follow the grammar; the message says where."""


def parse_unit(text):
    """Parse a unit string into ``((symbol, exponent), ...)`` with like symbols merged.

    Parameters
    ----------
    text : str
        Unit text such as ``"L/h"``.

    Returns
    -------
    tuple of (str, int)
        Symbols in order of first appearance; ``()`` for a dimensionless ``"1"``.

    Raises
    ------
    UnitError
        With the position and a list of known symbols when the text is not a unit.
    """
    if not isinstance(text, str):
        raise UnitError(f"a unit must be a string, got {type(text).__name__}")
    if not text.strip():
        raise UnitError("unit is empty; use \"1\" for dimensionless quantities")
    if len(text) > 200:
        raise UnitError("unit text is longer than 200 characters")
    parser = _Parser(text)
    factors = parser.unit()
    parser.skip_space()
    if parser.pos != len(text):
        parser.fail("unexpected text")
    merged = {}
    for sym, exp in factors:
        if sym != "1":
            merged[sym] = merged.get(sym, 0) + exp
    return tuple((s, e) for s, e in merged.items() if e != 0)


class _Parser:
    """Recursive descent; nesting is bounded by the 200-character limit."""

    def __init__(self, text):
        self.text, self.pos = text, 0

    def fail(self, msg):
        known = ", ".join(sorted(UNIT_SYMBOLS, key=str.lower))
        raise UnitError(f"{msg} at position {self.pos + 1} of unit {self.text!r}; "
                        f"write products and quotients of known symbols ({known}), "
                        "e.g. \"L/h\" or \"1/(nM*h)\"")

    def skip_space(self):
        while self.pos < len(self.text) and self.text[self.pos] == " ":
            self.pos += 1

    def peek(self):
        self.skip_space()
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def unit(self):
        factors = self.term()
        while True:
            start = self.pos
            ch = self.peek()
            if ch == "/":
                self.pos += 1
                factors += [(s, -e) for s, e in self.term()]
            elif ch == "*" and not self.text.startswith("**", self.pos):
                self.pos += 1
                factors += self.term()
            elif ch == ".":
                self.pos += 1
                factors += self.term()
            elif ch and ch not in ")" and start != self.pos:
                factors += self.term()  # "mg h" (a space) is a product too
            else:
                self.pos = start
                return factors

    def term(self):
        factors = self.factor()
        after_factor = self.pos
        self.skip_space()
        for op in ("**", "^"):
            if self.text.startswith(op, self.pos):
                self.pos += len(op)
                self.skip_space()
                m = _INT.match(self.text, self.pos)
                if not m:
                    self.fail("expected an integer power")
                self.pos = m.end()
                power = int(m.group())
                return [(s, e * power) for s, e in factors]
        self.pos = after_factor  # leave a trailing space for unit() to read as a product
        return factors

    def factor(self):
        ch = self.peek()
        if ch == "(":
            self.pos += 1
            inner = self.unit()
            if self.peek() != ")":
                self.fail("missing ')'")
            self.pos += 1
            return inner
        for sym in _SYMBOLS_BY_LENGTH:
            if self.text.startswith(sym, self.pos):
                end = self.pos + len(sym)
                # a symbol must end at a boundary: "mgx" is not "mg" then "x"
                if end < len(self.text) and (self.text[end].isalnum() or
                                             self.text[end] == "_"):
                    continue
                self.pos = end
                return [(sym, 1)]
        if self.text.startswith("1", self.pos) and not self.text[self.pos + 1:self.pos + 2] \
                .isdigit():
            self.pos += 1
            return [("1", 1)]
        self.fail("unknown unit symbol")
