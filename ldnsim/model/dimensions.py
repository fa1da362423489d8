"""Dimensional analysis of model expressions: ``mg/h + L`` is an error when a model is loaded.

Every unit symbol of the unit grammar (:mod:`ldnsim.model.units`) gets its physical dimension
from `pint <https://pint.readthedocs.io>`_ (``nM`` is amount / length**3, ``L/h`` is length**3 /
time, ``%`` is dimensionless ...). The expressions of a model are then walked once, carrying the
unit of every sub-expression (as symbols with exponents, e.g. ``mg * h**-1``):

- ``+``, ``-``, ``min``, ``max``, comparisons, both branches of ``where`` and ``hill(x, K, n)``'s
  ``x`` and ``K`` need operands of one dimension; ``*`` and ``/`` combine them;
- ``exp``, ``log``, ``log10``, ``sin``, ``cos`` and every exponent need dimensionless
  arguments; a dimensioned base needs a constant exponent (``C**2``, ``sqrt(A)``);
- a number is a dimensionless factor in products (1000 in ``1000 * central / V`` is a scale:
  only dimensions are checked, so unit conversions written as numbers are the model author's
  responsibility), and takes the unit of the other operand in sums and comparisons
  (``t < 24``, ``C + 1e-9``: the number is read in the unit of ``t`` or ``C``); so
  ``log(x + 1)`` still needs a dimensionless ``x``;
- the result must have the dimension declared: ``[odes] x`` the unit of state ``x`` per model
  time unit, a definition its ``unit`` (when given; else the unit found is used downstream), an
  output its ``unit``.

The symbol table is computed with pint the first time it is needed and cached as a small JSON
file beside the generated model code (``LDNSIM_CACHE_DIR``), keyed by pint's version and the
symbol list; later processes read the file and never import pint (importing pint and building
its registry takes about a second). ``import ldnsim`` never imports pint.
"""
from __future__ import annotations

import hashlib
import json
import threading
from fractions import Fraction

from ldnsim.errors import ModelError
from ldnsim.model.expr import Apply, Num, Sym
from ldnsim.model.units import UNIT_SYMBOLS, parse_unit

__all__ = ["dimension_table", "unit_dimension", "check_dimensions", "format_unit",
           "PINT_NAMES"]

#: Each symbol of the unit grammar as pint reads it (``ldnsim_*`` are defined here: counts of
#: cells and receptors and international units of biological activity have no SI dimension,
#: so each is a base dimension of its own).
PINT_NAMES = {
    "1": "dimensionless", "fraction": "dimensionless", "%": "percent",
    "a.u.": "dimensionless", "cells": "ldnsim_cell", "receptors": "ldnsim_receptor",
    "IU": "ldnsim_IU", "U": "ldnsim_IU", "mU": "milliIU_ldnsim",
    "s": "second", "min": "minute", "h": "hour", "d": "day", "wk": "week",
    "kg": "kilogram", "g": "gram", "mg": "milligram", "ug": "microgram", "ng": "nanogram",
    "pg": "picogram",
    "L": "liter", "dL": "deciliter", "mL": "milliliter", "uL": "microliter",
    "nL": "nanoliter", "m": "meter", "cm": "centimeter", "mm": "millimeter",
    "mol": "mole", "mmol": "millimole", "umol": "micromole", "nmol": "nanomole",
    "pmol": "picomole", "fmol": "femtomole", "M": "molar", "mM": "millimolar",
    "uM": "micromolar", "nM": "nanomolar", "pM": "picomolar", "fM": "femtomolar",
}
_DEFINITIONS = ("ldnsim_cell = [cells]", "ldnsim_receptor = [receptors]",
                "ldnsim_IU = [biological_activity]", "milliIU_ldnsim = 0.001 * ldnsim_IU")
_TABLE_FORMAT = 1
_lock = threading.Lock()
_table: dict | None = None


def _table_key(pint_version):
    text = json.dumps([_TABLE_FORMAT, pint_version, sorted(PINT_NAMES.items()),
                       list(_DEFINITIONS)])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _compute_table():
    """``{symbol: (scale to base units, {base dimension: exponent})}`` from pint."""
    import pint

    registry = pint.UnitRegistry()
    for line in _DEFINITIONS:
        registry.define(line)
    table = {}
    for symbol, name in PINT_NAMES.items():
        q = registry.Quantity(1.0, name).to_base_units()
        table[symbol] = (float(q.magnitude),
                         {str(k): str(Fraction(v).limit_denominator(1000))
                          for k, v in q.dimensionality.items()})
    missing = UNIT_SYMBOLS - table.keys()
    assert not missing, f"no pint name for unit symbols {sorted(missing)}"
    return table, pint.__version__


def _installed_pint_version():
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("pint")
    except PackageNotFoundError:
        return None


def dimension_table() -> dict:
    """The symbol table (see the module docstring), computed once per cache directory.

    Returns
    -------
    dict
        ``{symbol: (scale, {dimension: Fraction})}``.
    """
    global _table
    if _table is not None:
        return _table
    with _lock:
        if _table is not None:
            return _table
        from ldnsim._files import atomic_write_text
        from ldnsim.model.compiled import cache_dir

        pint_version = _installed_pint_version()
        raw = table = None
        if pint_version is not None:
            path = cache_dir() / f"units-{_table_key(pint_version)}.json"
            try:
                raw = json.loads(path.read_text())
                table = _decode(raw)
            except (OSError, ValueError):
                raw = table = None
            if table is None:
                raw = None  # a damaged or foreign file is recomputed (and rewritten)
        if raw is None:
            try:
                raw, pint_version = _compute_table()
            except ImportError:
                raise ModelError("checking the units of a model needs the package pint "
                                 "(pip install pint)") from None
            path = cache_dir() / f"units-{_table_key(pint_version)}.json"
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                atomic_write_text(path, json.dumps(raw, sort_keys=True))
            except OSError:
                pass  # an unwritable cache only costs the second next time
            table = _decode(raw)
            assert table is not None, "pint gave an unusable unit table"
        assert table is not None
        _table = table
        return table


def _decode(raw):
    """The table from its JSON form, or None when it is not exactly one entry per symbol of
    the form ``[scale, {dimension: "p/q"}]``."""
    try:
        if not isinstance(raw, dict) or set(raw) != set(PINT_NAMES):
            return None
        return {s: (float(scale), {str(d): Fraction(e) for d, e in dims.items()})
                for s, (scale, dims) in raw.items()}
    except (TypeError, ValueError, AttributeError, ZeroDivisionError):
        return None


# ------------------------------------------------------------------------------------ units
# A unit during the walk: {symbol: Fraction exponent}; None for a bare number (which is
# dimensionless in products, and fits any dimension when it is 0).
def _parsed(text):
    return {s: Fraction(e) for s, e in parse_unit(text)}


def unit_dimension(unit) -> dict:
    """The base dimensions of a unit string or symbol map: ``"L/h"`` -> ``{[length]: 3,
    [time]: -1}`` (exponents as Fractions; ``{}`` for dimensionless)."""
    symbols = _parsed(unit) if isinstance(unit, str) else unit
    table = dimension_table()
    out: dict = {}
    for sym, exp in symbols.items():
        for dim, e in table[sym][1].items():
            out[dim] = out.get(dim, 0) + e * exp
    return {d: e for d, e in out.items() if e != 0}


def _power_text(sym, e):
    e = abs(e)
    if e == 1:
        return sym
    return f"{sym}^{e}" if e.denominator == 1 else f"{sym}^({e})"


def format_unit(symbols) -> str:
    """``{mg: 1, h: -1}`` -> ``"mg/h"``; ``{}`` -> ``"1"``."""
    num = [_power_text(s, e) for s, e in symbols.items() if e > 0]
    den = [_power_text(s, e) for s, e in symbols.items() if e < 0]
    top = "*".join(num) or "1"
    if not den:
        return top
    bottom = den[0] if len(den) == 1 else "(" + "*".join(den) + ")"
    return f"{top}/{bottom}"


def _format_dimension(dims) -> str:
    if not dims:
        return "dimensionless"
    return " * ".join(d if e == 1 else f"{d}^{e}" for d, e in sorted(dims.items()))


def _combine(a, b, sign):
    out = dict(a)
    for s, e in b.items():
        out[s] = out.get(s, 0) + sign * e
    return {s: e for s, e in out.items() if e != 0}


def _scaled(a, k):
    return {s: e * k for s, e in a.items() if e * k != 0}


# ------------------------------------------------------------------------------ expressions
_PREC = {"add": 1, "sub": 1, "mul": 2, "div": 2, "neg": 3, "pow": 4}
_INFIX = {"add": "+", "sub": "-", "mul": "*", "div": "/", "pow": "**", "lt": "<", "le": "<=",
          "gt": ">", "ge": ">=", "eq": "==", "ne": "!=", "and": "and", "or": "or"}


def _text(node, parent=0) -> str:
    """A tree back as (compact) text, for messages."""
    if isinstance(node, Num):
        return f"{node.value:g}"
    if isinstance(node, Sym):
        return node.name
    op = node.op
    if op == "neg":
        inner = f"-{_text(node.args[0], 3)}"
        return f"({inner})" if parent > 3 else inner
    if op == "not":
        return f"not {_text(node.args[0], 5)}"
    if op in _INFIX and len(node.args) == 2:
        prec = _PREC.get(op, 0)
        left = _text(node.args[0], prec)
        right = _text(node.args[1], prec + (op in ("sub", "div", "pow")))
        inner = f"{left} {_INFIX[op]} {right}" if prec < 2 else f"{left}{_INFIX[op]}{right}"
        return f"({inner})" if parent > prec else inner
    return f"{op}({', '.join(_text(a) for a in node.args)})"


class _Mismatch(Exception):
    """Raised inside the walk; turned into one ModelError line naming the equation."""


class _Walker:
    def __init__(self, units, time_unit):
        self.units = units          # name -> symbol map (None: no unit known)
        self.time = _parsed(time_unit)
        self.dims: dict = {}        # memo: frozenset(symbol map) -> dimension

    def dim(self, unit):
        key = frozenset(unit.items())
        d = self.dims.get(key)
        if d is None:
            d = self.dims[key] = unit_dimension(unit)
        return d

    def same(self, a, b):
        return self.dim(a) == self.dim(b)

    def need_dimensionless(self, node, unit, what):
        if unit is not None and self.dim(unit):
            raise _Mismatch(f"{what} {_text(node)!r} must be dimensionless, but it is in "
                            f"{format_unit(unit)} ({_format_dimension(self.dim(unit))})")

    def agree(self, nodes, units, what):
        """Operands that must share a dimension; a bare number fits anything."""
        known = [(n, u) for n, u in zip(nodes, units) if u is not None]
        for n, u in known[1:]:
            n0, u0 = known[0]
            if not self.same(u0, u):
                raise _Mismatch(f"cannot {what} {_text(n0)!r} in {format_unit(u0)} and "
                                f"{_text(n)!r} in {format_unit(u)} "
                                f"({_format_dimension(self.dim(u0))} vs "
                                f"{_format_dimension(self.dim(u))})")
        return known[0][1] if known else None

    def walk(self, node):
        """The unit of ``node`` (symbol map), ``None`` for a number, ``"bool"`` for a
        condition."""
        if isinstance(node, Num):
            return None
        if isinstance(node, Sym):
            if node.name == "t":
                return dict(self.time)
            if node.name == "pi":
                return None
            return self.units.get(node.name)
        if node.value is not None and not isinstance(node.value, bool):
            return None  # a constant folded at parse time
        op, args = node.op, node.args
        if op in ("and", "or", "not"):
            for a in args:
                self.walk(a)
            return "bool"
        units = [self.walk(a) for a in args]
        if op in ("lt", "le", "gt", "ge", "eq", "ne"):
            self.agree(args, units, "compare")
            return "bool"
        if op in ("add", "sub"):
            return self.agree(args, units, "add" if op == "add" else "subtract")
        if op in ("min", "max"):
            return self.agree(args, units, f"take the {op} of")
        if op == "where":
            return self.agree(args[1:], units[1:], "choose between")
        if op in ("neg", "abs"):
            return units[0]
        if op in ("mul", "div"):
            a, b = (u or {} for u in units)
            if units[0] is None and units[1] is None:
                return None
            return _combine(a, b, 1 if op == "mul" else -1)
        if op in ("exp", "log", "log10", "sin", "cos"):
            self.need_dimensionless(args[0], units[0], f"the argument of {op}(...),")
            return {}
        if op == "sqrt":
            return None if units[0] is None else _scaled(units[0], Fraction(1, 2))
        if op == "pow":
            return self.power(args, units)
        if op == "hill":
            self.agree(args[:2], units[:2], "compare (hill's x and K)")
            self.need_dimensionless(args[2], units[2], "hill's exponent")
            return {}
        raise _Mismatch(f"no unit rule for {op!r}")  # pragma: no cover - FUNCTIONS is fixed

    def power(self, args, units):
        base, exponent = units
        self.need_dimensionless(args[1], exponent, "the exponent")
        if base is None:
            return None
        if not self.dim(base):
            return {}
        value = _number(args[1])
        if value is None:
            raise _Mismatch(f"{_text(args[0])!r} in {format_unit(base)} is raised to "
                            f"{_text(args[1])!r}, which is not a constant; only a "
                            "dimensionless base may have a variable exponent")
        return _scaled(base, Fraction(value).limit_denominator(1000))


def _number(node):
    if isinstance(node, Num):
        return node.value
    if isinstance(node, Apply) and node.value is not None and not isinstance(node.value, bool):
        return float(node.value)
    return None


def check_dimensions(model, trees, definitions):
    """Check every equation of ``model`` for dimensional consistency.

    Parameters
    ----------
    model : Model
    trees : dict
        ``{"definitions": {name: tree}, "odes": {state: tree}, "outputs": {name: tree}}``.
    definitions : sequence of Definition
        In dependency order.

    Raises
    ------
    ModelError
        ``"<file>: [odes] central: '-ka*depot + V1': cannot add 'ka*depot' in mg/h and 'V1'
        in L (...)"`` for the first inconsistent expression.
    """
    units = {}
    for group in (model.states, model.parameters, model.inputs):
        for e in group:
            units[e.name] = _parsed(e.unit)
    walker = _Walker(units, model.time_unit)

    def check(section, key, text, tree, declared, expect=None):
        try:
            found = walker.walk(tree)
            if found == "bool":
                raise _Mismatch("the expression is a condition (true/false); wrap it in "
                                "where(condition, value_if_true, value_if_false)")
            target = expect if expect is not None else declared
            if target is not None and found is not None and not walker.same(found, target):
                raise _Mismatch(f"the expression is in {format_unit(found)} "
                                f"({_format_dimension(walker.dim(found))}), but "
                                f"{_expected(section, key, model)} is "
                                f"{format_unit(target)} ({_format_dimension(walker.dim(target))})")
            return found
        except _Mismatch as exc:
            raise ModelError(f"{model.location}: [{section}] {key}: {text!r}: {exc}") from None

    for d in definitions:
        declared = _parsed(d.unit) if d.unit else None
        found = check("definitions", d.name, d.expr, trees["definitions"][d.name], declared)
        units[d.name] = declared if declared is not None else found
    time = walker.time
    for ode in model.odes:
        expect = _combine(units[ode.state], time, -1)
        check("odes", ode.state, ode.expr, trees["odes"][ode.state], None, expect)
    for o in model.outputs:
        check("outputs", o.name, o.expr, trees["outputs"][o.name], _parsed(o.unit))


def _expected(section, key, model):
    if section == "odes":
        return f"the rate of state {key!r} (its unit per {model.time_unit})"
    return "its declared unit"
