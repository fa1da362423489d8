"""SBML Level 3 Version 2 export of a model, through python-libsbml (the ``sbml`` extra).

Every state becomes a non-constant ``parameter`` with a ``rateRule`` (ldnsim states are
amounts or dimensionless quantities, not necessarily species in compartments), parameters and
inputs constant parameters with their values (scenarios and overrides applied), definitions
and outputs ``assignmentRule``s. Expressions are written from the parsed tree as libSBML
L3 infix formulas, so nothing is re-parsed from model text in another grammar.

Doses are not exported: simulate a dosed model in another tool with its own events, or set the
dose as an initial amount.

libSBML's consistency check holds the interpreter lock for its whole run and its cost grows
about as the cube of the number of rules in a chain (16 s for 300 chained definitions), so it
runs in a child process that an interrupt (SIGINT, SIGTERM) stops at once, and by default only
for models of at most :data:`MAX_CHECKED_RULES` rules (raise with LDNSIM_MAX_CHECKED_RULES, or
pass ``check=True``).
"""
from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path

from ldnsim._files import atomic_write_text
from ldnsim._limits import limit, raise_hint
from ldnsim.errors import ModelError
from ldnsim.model.expr import Num, Sym, parse_expression
from ldnsim.model.parse import load_model

__all__ = ["export_sbml", "to_sbml_string", "check_sbml", "MAX_CHECKED_RULES"]

#: Most rules (definitions + outputs + states) for which :func:`export_sbml` runs libSBML's
#: consistency check by default (the shipped ldn model has 99: 0.1 s; 200 take 2.5 s).
MAX_CHECKED_RULES = 150

# The check, run in a child process: SBML text on stdin, the errors as JSON on stdout.
_CHECKER = """
import json, sys
import libsbml
doc = libsbml.readSBMLFromString(sys.stdin.read())
doc.checkConsistency()
print(json.dumps([doc.getError(i).getMessage().strip() for i in range(doc.getNumErrors())
                  if doc.getError(i).getSeverity() >= libsbml.LIBSBML_SEV_ERROR]))
"""

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


def check_sbml(text: str) -> list[str]:
    """libSBML's consistency errors of an SBML document, checked in a child process.

    The child is killed when the caller is interrupted (``KeyboardInterrupt``), so a long check
    never holds up Ctrl-C.

    Returns
    -------
    list of str
        Error messages (severity error or fatal); empty when the document is consistent.
    """
    proc = subprocess.Popen([sys.executable, "-c", _CHECKER], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(text)
    finally:
        if proc.poll() is None:  # interrupted: stop the check now
            proc.kill()
            proc.wait()
    if proc.returncode != 0:
        lines = (err or "").strip().splitlines()
        raise ModelError("SBML export: libSBML's consistency check failed to run: "
                         + (lines[-1] if lines else f"exit status {proc.returncode}"))
    return json.loads(out)


def export_sbml(model, path, *, params=None, scenarios=(), check=None) -> Path:
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
    check : bool or None
        Run libSBML's consistency check (in a child process, see :func:`check_sbml`). None
        (default): only for models of at most :data:`MAX_CHECKED_RULES` rules, with a warning
        when it is skipped.

    Returns
    -------
    pathlib.Path
        The written path.

    Raises
    ------
    ModelError
        libSBML's consistency check reports errors.
    """
    _libsbml()
    model = load_model(model)
    text = to_sbml_string(model, params=params, scenarios=scenarios)
    rules = len(model.definitions) + len(model.outputs) + len(model.states)
    if check is None:
        top = limit("MAX_CHECKED_RULES", MAX_CHECKED_RULES)
        check = rules <= top
        if not check:
            warnings.warn(f"{model.name}: libSBML's consistency check was skipped: the model "
                          f"has {rules} rules, more than {top:g}, and the check's time grows "
                          f"about as their cube ({raise_hint('MAX_CHECKED_RULES')}, or pass "
                          "check=True)", UserWarning, stacklevel=2)
    if check:
        errors = check_sbml(text)
        if errors:
            raise ModelError(f"{model.name}: exported SBML fails libSBML's consistency check: "
                             + "; ".join(errors[:3]))
    return atomic_write_text(path, text)
