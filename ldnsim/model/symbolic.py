"""Sympy side of code generation: equations, exact Jacobian, numba-compatible printing.

Imported only when a model's code must be (re)generated, so a warm start never imports sympy.
"""

from __future__ import annotations

import sympy as sp
from sympy.printing.pycode import PythonCodePrinter

from ldnsim.errors import ModelError
from ldnsim.model.expr import to_sympy

__all__ = ["model_equations", "python_lines"]

_BAD = (sp.zoo, sp.oo, -sp.oo, sp.nan, sp.I)


def model_equations(model):
    """Return sympy ``(rhs, jacobian, outputs)`` with definitions substituted.

    Returns
    -------
    rhs : list of sympy.Expr, length n_states
    jacobian : list of lists, ``jacobian[i][j] = d rhs[i] / d y[j]``
    outputs : list of sympy.Expr, length n_outputs
    """
    trees = model._trees
    env = {name: sp.Symbol(name, real=True)
           for name in model.state_names + model.parameter_names + model.input_names}
    env["t"] = sp.Symbol("t", real=True)
    for d in model.definitions:  # already in dependency order
        env[d.name] = to_sympy(trees["definitions"][d.name], env)
    states = [env[name] for name in model.state_names]
    rhs = [to_sympy(trees["odes"][name], env) for name in model.state_names]
    # d f / d y is zero unless y occurs in f: most entries of a large model's Jacobian, and
    # asking sympy to differentiate them anyway costs n**2 calls
    jac = [[sp.diff(f, y) if y in f.free_symbols else sp.Integer(0) for y in states]
           for f in rhs]
    outs = [to_sympy(trees["outputs"][o.name], env) for o in model.outputs]
    for section, names, exprs in (("odes", model.state_names, rhs),
                                  ("outputs", model.output_names, outs)):
        for name, e in zip(names, exprs):
            _check_finite(model, section, name, e, "expression")
    for name, row in zip(model.state_names, jac):
        for state, e in zip(model.state_names, row):
            if e != 0:
                _check_finite(model, "odes", name, e, f"derivative with respect to {state!r}")
    return rhs, jac, outs


def _check_finite(model, section, key, expr, what):
    if expr.has(*_BAD):
        raise ModelError(f"{model.location}: [{section}] {key}: the {what} contains an "
                         f"infinite, undefined or complex constant ({expr}); rewrite it so it "
                         "is finite for all valid inputs")


class _NumbaPrinter(PythonCodePrinter):
    """Python code printer whose output numba compiles: ``math`` functions, plain floats."""

    def __init__(self, mapping):
        super().__init__({"fully_qualified_modules": True, "standard": "python3"})
        self._mapping = mapping

    def _print_Symbol(self, expr):
        return self._mapping.get(expr.name, expr.name)

    def _print_Float(self, expr):
        # repr of the float is exact; sympy's default prints only 15 significant digits
        return repr(float(expr))

    def _print_Rational(self, expr):
        return f"({float(expr.p)!r}/{float(expr.q)!r})"

    def _print_Integer(self, expr):
        value = int(expr)
        # numba types an integer literal as int64; a larger exact coefficient (bounded by
        # expr.MAX_COEFFICIENT_BITS) is written as the float it will be multiplied as anyway
        return str(value) if -2**63 <= value < 2**63 else repr(float(value))


def python_lines(exprs, targets, mapping):
    """Return assignment lines computing ``targets[i] = exprs[i]`` with shared subexpressions.

    Parameters
    ----------
    exprs : list of sympy.Expr
    targets : list of str
        Left-hand sides such as ``"dydt[0]"``.
    mapping : dict of str to str
        How model symbols are spelled (``"ka" -> "p[0]"``).

    Returns
    -------
    list of str
    """
    if not exprs:
        return []
    printer = _NumbaPrinter(mapping)
    temps = sp.numbered_symbols("_x")  # model names never start with "_": no clash
    replacements, reduced = sp.cse(list(exprs), symbols=temps, order="none")
    lines = [f"{sym} = {printer.doprint(value)}" for sym, value in replacements]
    for target, value in zip(targets, reduced):
        code = printer.doprint(value)
        if value.is_Number:
            code = repr(float(value))  # write 0.0, not the int 0, into float arrays
        lines.append(f"{target} = {code}")
    if printer._not_supported:  # sympy marks what it cannot print; never emit broken code
        raise ModelError("cannot generate code for: "
                         + ", ".join(sorted(map(str, printer._not_supported))))
    return lines
