"""SBML Level 3 Version 2 export of a model, through python-libsbml (the ``sbml`` extra).

Every state becomes a non-constant ``parameter`` with a ``rateRule`` (ldnsim states are
amounts or dimensionless quantities, not necessarily species in compartments), parameters and
inputs constant parameters with their values (scenarios and overrides applied), definitions
and outputs ``assignmentRule``s. Expressions are written from the parsed tree as libSBML
L3 infix formulas, so nothing is re-parsed from model text in another grammar.

Doses are not exported: simulate a dosed model in another tool with its own events, or set the
dose as an initial amount.
"""
from __future__ import annotations

from pathlib import Path

from ldnsim._files import atomic_write_text
from ldnsim.errors import ModelError
from ldnsim.model.expr import Num, Sym, parse_expression
from ldnsim.model.parse import load_model

__all__ = ["export_sbml", "to_sbml_string"]

_INFIX = {"add": "+", "sub": "-", "mul": "*", "div": "/", "pow": "^", "lt": "<", "le": "<=",
          "gt": ">", "ge": ">=", "eq": "==", "ne": "!=", "and": "&&", "or": "||"}
_FUNC = {"exp": "exp", "log": "ln", "log10": "log10", "sqrt": "sqrt", "abs": "abs",
         "sin": "sin", "cos": "cos", "pow": "pow"}


def _formula(node) -> str:
    """L3 infix text for a parsed expression tree (fully parenthesised)."""
    if isinstance(node, Num):
        return repr(float(node.value)) if not node.integer else str(int(node.value))
    if isinstance(node, Sym):
        return {"t": "time", "pi": "pi"}.get(node.name, node.name)
    a = [_formula(x) for x in node.args]
    op = node.op
    if op in _INFIX:
        return "(" + f" {_INFIX[op]} ".join(a) + ")"
    if op == "neg":
        return f"(-{a[0]})"
    if op == "not":
        return f"(!{a[0]})"
    if op in _FUNC:
        return f"{_FUNC[op]}({', '.join(a)})"
    if op in ("min", "max"):
        return f"{op}({', '.join(a)})"
    if op == "hill":
        x, k, n = a
        return f"(({x})^({n}) / (({k})^({n}) + ({x})^({n})))"
    if op == "where":
        return f"piecewise({a[1]}, {a[0]}, {a[2]})"
    raise ModelError(f"SBML export: no SBML form for operation {op!r}")


def _libsbml():
    try:
        import libsbml
    except ImportError:
        raise ModelError("SBML export needs python-libsbml: pip install 'ldnsim[sbml]'") from None
    return libsbml


def _check(code, what):
    libsbml = _libsbml()
    if code != libsbml.LIBSBML_OPERATION_SUCCESS:
        raise ModelError(f"SBML export failed while setting {what}: "
                         f"{libsbml.OperationReturnValue_toString(code)}")


def to_sbml_string(model, *, params=None, scenarios=()) -> str:
    """The SBML document text for ``model`` with ``scenarios`` and ``params`` applied."""
    libsbml = _libsbml()
    doc = libsbml.SBMLDocument(3, 2)
    sm = doc.createModel()
    _check(sm.setId(model.name if model.name.isidentifier() else "ldnsim_model"), "model id")
    sm.setName(model.description or model.name)
    p = model.parameter_vector(params, tuple(scenarios))
    names = list(model.parameter_names) + list(model.input_names)
    units = {q.name: q.unit for q in model.parameters}
    settings = libsbml.L3ParserSettings()
    settings.setParseLog(libsbml.L3P_PARSE_LOG_AS_LN)

    def math_of(expr, where):
        text = _formula(parse_expression(expr, where=where))
        ast_ = libsbml.parseL3FormulaWithSettings(text, settings)
        if ast_ is None:
            raise ModelError(f"SBML export: libSBML could not read {text!r} "
                             f"({libsbml.getLastParseL3Error()})")
        return ast_

    def add_param(pid, value, constant, note=""):
        q = sm.createParameter()
        _check(q.setId(pid), f"parameter {pid}")
        _check(q.setConstant(constant), f"parameter {pid}")
        if value is not None:
            _check(q.setValue(float(value)), f"value of {pid}")
        if note:
            q.setName(note)

    for name, value in zip(names, p):
        add_param(name, value, True, units.get(name, ""))
    for s, y0 in zip(model.states, model.initial_state()):
        add_param(s.name, y0, False, s.description or "")
    for d in model.definitions:
        add_param(d.name, None, False)
    for o in model.outputs:
        add_param(o.name, None, False, o.description or "")
    for d in model.definitions:
        r = sm.createAssignmentRule()
        r.setVariable(d.name)
        _check(r.setMath(math_of(d.expr, f"[definitions] {d.name}")), f"rule {d.name}")
    for o in model.outputs:
        r = sm.createAssignmentRule()
        r.setVariable(o.name)
        _check(r.setMath(math_of(o.expr, f"[outputs] {o.name}")), f"rule {o.name}")
    odes = {o.state: o for o in model.odes}
    for s in model.states:
        ode = odes[s.name]
        r = sm.createRateRule()
        r.setVariable(s.name)
        _check(r.setMath(math_of(ode.expr, f"[odes] {s.name}")), f"rate rule {s.name}")
    return libsbml.writeSBMLToString(doc)


def export_sbml(model, path, *, params=None, scenarios=()) -> Path:
    """Write ``model`` as SBML Level 3 Version 2, checked with libSBML's consistency check.

    Parameters
    ----------
    model : Model, shipped model name or path
    path : str or os.PathLike
        The SBML file to write (atomically).
    params : dict, optional
        Parameter values to write instead of the file's (after the scenarios).
    scenarios : sequence of str
        Scenarios applied to the parameter values, in order.

    Returns
    -------
    pathlib.Path
        The written path.

    Raises
    ------
    ModelError
        libSBML's consistency check reports errors.
    """
    libsbml = _libsbml()
    model = load_model(model)
    text = to_sbml_string(model, params=params, scenarios=scenarios)
    doc = libsbml.readSBMLFromString(text)
    doc.checkConsistency()
    errors = [doc.getError(i) for i in range(doc.getNumErrors())
              if doc.getError(i).getSeverity() >= libsbml.LIBSBML_SEV_ERROR]
    if errors:
        raise ModelError(f"{model.name}: exported SBML fails libSBML's consistency check: "
                         + "; ".join(e.getMessage().strip() for e in errors[:3]))
    return atomic_write_text(path, text)
