"""Semantic checks of a `Model`: names, units, values, expressions, definition order.

Called from `Model.__post_init__`. Each rule raises `ModelError` with
``"<file>: [<section>] <key>: <what is wrong>; <what to do>"``.
"""

from __future__ import annotations

import keyword
import math
import re
import warnings

from ldnsim.errors import ModelError
from ldnsim.model.entries import (
    Definition,
    Input,
    ModelWarning,
    Ode,
    Output,
    Parameter,
    Scenario,
    State,
)
from ldnsim.model.expr import FUNCTIONS, free_names, parse_expression
from ldnsim.model.units import TIME_UNITS, UnitError, parse_unit

__all__ = ["validate_model", "check_name"]

_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")
#: Names every simulation result uses for itself (``ldnsim.results``).
RESULT_NAMES = {"time": "time coordinate", "status": "solver status variable"}


def _err(model, section, key, msg):
    key_part = f" {key}" if key is not None else ""
    raise ModelError(f"{model.location}: [{section}]{key_part}: {msg}")


def check_name(name, what="name"):
    """Return None if ``name`` may name a model quantity, else the reason it may not."""
    if not isinstance(name, str):
        return f"{what} must be a string, got {type(name).__name__}"
    if not name.isascii():
        return (f"{what} {name!r} contains non-ASCII characters; use ASCII letters, digits "
                "and '_' (e.g. 'mu' instead of a Greek letter)")
    if keyword.iskeyword(name) or keyword.issoftkeyword(name):
        return f"{what} {name!r} is a Python keyword; choose another name"
    if not _NAME.match(name):
        return (f"{what} {name!r} is not a valid name; start with a letter and use only "
                "letters, digits and '_'")
    if name in FUNCTIONS:
        return f"{what} {name!r} is a built-in function name; choose another name"
    if name == "t":
        return f"{what} 't' is reserved for time; choose another name"
    if name == "pi":
        return f"{what} 'pi' is the constant 3.14159...; choose another name"
    if name in RESULT_NAMES:
        return (f"{what} {name!r} is the name of the result's {RESULT_NAMES[name]}; choose "
                "another name")
    return None


def _number(model, section, key, value, what):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        _err(model, section, key, f"{what} must be a number, got {value!r}")
    try:
        finite = math.isfinite(value)
    except OverflowError:  # an integer beyond the float range (a 400-digit TOML integer)
        _err(model, section, key, f"{what} is too large for a floating-point number "
             f"({len(str(abs(value)))} digits)")
    if not finite:
        _err(model, section, key, f"{what} must be finite, got {value!r}")


def _text(model, section, key, value, what):
    if not isinstance(value, str):
        _err(model, section, key, f"{what} must be a string, got {value!r}")


def _unit(model, section, key, unit, *, optional=False):
    if unit is None and optional:
        return
    try:
        parse_unit(unit)
    except UnitError as exc:
        _err(model, section, key, f"bad unit: {exc}")


def _check_header(model):
    if not isinstance(model.name, str) or not _NAME.match(model.name) or len(model.name) > 64:
        _err(model, "model", "name", f"model name {model.name!r} must start with a letter "
             "and use only ASCII letters, digits and '_' (at most 64 characters)")
    _text(model, "model", "description", model.description, "description")
    if model.time_unit not in TIME_UNITS:
        _err(model, "model", "time_unit", f"time unit {model.time_unit!r} is not one of "
             f"{', '.join(TIME_UNITS)}")
    if model.dose_target is not None and model.dose_target not in {s.name for s in
                                                                   model.states}:
        _err(model, "model", "dose_target", f"{model.dose_target!r} is not a state; use one "
             f"of: {', '.join(s.name for s in model.states)}")


def _check_entries(model):
    """Per-entry checks, and one namespace shared by all named quantities."""
    seen = {}
    groups = [("states", model.states, State), ("parameters", model.parameters,
                                                     Parameter),
              ("inputs", model.inputs, Input), ("definitions", model.definitions,
                                                     Definition),
              ("outputs", model.outputs, Output), ("odes", model.odes, Ode)]
    for section, entries, cls in groups:
        for e in entries:
            if not isinstance(e, cls):
                _err(model, section, None, f"expected {cls.__name__} objects, got {e!r}")
    for section, entries, _ in groups[:-1]:
        for e in entries:
            reason = check_name(e.name)
            if reason:
                _err(model, section, e.name, reason)
            if e.name in seen:
                _err(model, section, e.name, f"name is already used in [{seen[e.name]}]; "
                     "every state, parameter, input, definition and output needs its own name")
            seen[e.name] = section
            _text(model, section, e.name, e.description, "description")
    for s in model.states:
        _number(model, "states", s.name, s.init, "init")
        _unit(model, "states", s.name, s.unit)
    for p in model.parameters:
        _check_parameter(model, p)
    for i in model.inputs:
        _unit(model, "inputs", i.name, i.unit)
        if i.target is not None and i.target not in {s.name for s in model.states}:
            _err(model, "inputs", i.name, f"target {i.target!r} is not a state; use one of: "
                 f"{', '.join(s.name for s in model.states)}")
    for d in model.definitions:
        _unit(model, "definitions", d.name, d.unit, optional=True)
    for o in model.outputs:
        _unit(model, "outputs", o.name, o.unit)
    if not model.states:
        _err(model, "states", None, "a model needs at least one state")


def _check_parameter(model, p):
    _number(model, "parameters", p.name, p.value, "value")
    _unit(model, "parameters", p.name, p.unit)
    for what in ("source", "evidence"):
        _text(model, "parameters", p.name, getattr(p, what), what)
    for what in ("lower", "upper"):
        bound = getattr(p, what)
        if bound is not None:
            _number(model, "parameters", p.name, bound, what)
    if p.lower is not None and p.upper is not None and not p.lower < p.upper:
        _err(model, "parameters", p.name, f"lower ({p.lower}) must be below upper ({p.upper})")
    if (p.lower is not None and p.value < p.lower) or (p.upper is not None and
                                                       p.value > p.upper):
        _err(model, "parameters", p.name, f"value {p.value} lies outside its bounds "
             f"[{p.lower}, {p.upper}]")
    if not p.source.strip():
        warnings.warn(f"{model.location}: [parameters] {p.name}: no source given; add "
                      "source = \"<citation>\" (and evidence = \"measured\"/\"assumed\"/...)",
                      ModelWarning, stacklevel=5)




def _parse_all(model):
    """Parse every expression against the names it may use."""
    known = {e.name for group in (model.states, model.parameters, model.inputs,
                                  model.definitions) for e in group}
    outputs = {o.name for o in model.outputs}

    def parse(section, key, text):
        try:
            return parse_expression(text, names=known, where=f"{model.location}: [{section}] "
                                    f"{key}")
        except ModelError as exc:
            for name in outputs:  # a common slip: outputs are results, not inputs
                if f"unknown name {name!r}" in str(exc):
                    raise ModelError(f"{exc}; {name!r} is an output, and outputs cannot be "
                                     "used in expressions: move it to [definitions]") from None
            raise

    trees = {"definitions": {}, "odes": {}, "outputs": {}}
    for d in model.definitions:
        trees["definitions"][d.name] = parse("definitions", d.name, d.expr)
    state_names = [s.name for s in model.states]
    known_states = set(state_names)  # membership in a list is quadratic for large models
    odes = {}
    for ode in model.odes:
        if ode.state not in known_states:
            _err(model, "odes", ode.state, f"there is no state named {ode.state!r}; add it to "
                 "[states] or remove this equation")
        if ode.state in odes:
            _err(model, "odes", ode.state, "state has two equations; keep one")
        odes[ode.state] = ode
        trees["odes"][ode.state] = parse("odes", ode.state, ode.expr)
    for name in state_names:
        if name not in odes:
            _err(model, "odes", name, f"state {name!r} has no equation; add "
                 f"{name} = \"<rate of change>\" to [odes] (write \"0\" for a constant state)")
    for o in model.outputs:
        trees["outputs"][o.name] = parse("outputs", o.name, o.expr)
    return tuple(odes[n] for n in state_names), trees


def _order_definitions(model, trees):
    """Topological order (file order among independent ones); a cycle is reported in full."""
    defs = {d.name: d for d in model.definitions}
    deps = {n: sorted(free_names(trees["definitions"][n]) & defs.keys()) for n in defs}
    order, state = [], {}  # state: 1 = on the current path, 2 = done
    for root in defs:
        if state.get(root):
            continue
        stack, path = [(root, iter(deps[root]))], [root]
        state[root] = 1
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                stack.pop()
                path.pop()
                state[node] = 2
                order.append(node)
            elif state.get(child) == 1:
                cycle = path[path.index(child):] + [child]
                _err(model, "definitions", child, "definitions depend on each other in a "
                     f"cycle: {' -> '.join(cycle)}; break the cycle (one of them must be a "
                     "state or a parameter)")
            elif not state.get(child):
                state[child] = 1
                stack.append((child, iter(deps[child])))
                path.append(child)
    return tuple(defs[n] for n in order)


def _check_inputs_used(model, trees, definitions):
    """An input must reach the state it targets, else an infusion would silently do nothing."""
    reach = {}
    for d in definitions:
        names = free_names(trees["definitions"][d.name])
        reach[d.name] = set().union(names, *(reach[n] for n in names if n in reach))
    for inp in model.inputs:
        if inp.target is None:
            continue
        names = free_names(trees["odes"][inp.target])
        used = set().union(names, *(reach[n] for n in names if n in reach))
        if inp.name not in used:
            _err(model, "inputs", inp.name, f"targets state {inp.target!r}, but [odes] "
                 f"{inp.target} does not use {inp.name!r}; add '+ {inp.name}' to that equation")


def _check_scenarios(model):
    params = {p.name: p for p in model.parameters}
    for name, sc in model.scenarios.items():
        section = f"scenarios.{name}"
        if not isinstance(sc, Scenario) or not isinstance(sc.values, dict):
            _err(model, section, None, "expected a Scenario whose values are a dict")
        if not isinstance(name, str) or not _NAME.match(name):
            _err(model, section, None, "scenario names start with a letter and use only "
                 "ASCII letters, digits and '_'")
        _text(model, section, "description", sc.description, "description")
        _text(model, section, "source", sc.source, "source")
        for key, value in sc.values.items():
            if key not in params:
                hint = " (inputs are set by a regimen)" if key in {i.name for i in
                                                                   model.inputs} else ""
                _err(model, section, key, f"{key!r} is not a parameter{hint}; scenarios may "
                     f"only set parameters: {', '.join(params)}")
            _number(model, section, key, value, "value")
            p = params[key]
            if (p.lower is not None and value < p.lower) or (p.upper is not None and
                                                             value > p.upper):
                _err(model, section, key, f"value {value} lies outside the bounds "
                     f"[{p.lower}, {p.upper}] of parameter {key!r}")


def validate_model(model):
    """Validate ``model``; return (ordered definitions, odes in state order, parse trees)."""
    _check_header(model)
    _check_entries(model)
    odes, trees = _parse_all(model)
    definitions = _order_definitions(model, trees)
    _check_inputs_used(model, trees, definitions)
    _check_scenarios(model)
    return definitions, odes, trees
