"""The part of a model a fit needs: the states the observed variables depend on.

An observation of ``C_ntx`` needs the states ``C_ntx`` reads, the states their ODEs read, and
so on (the closure); the dosed states are always kept. When that closure is smaller than the
model, the fit simulates a reduced model with only those states, their ODEs, the definitions
they use and the observed outputs. It is exact: the kept states' equations read only kept
states, so their trajectories are the same as in the full model. Parameters and inputs are all
kept, in the same order, so parameter vectors and scenarios carry over unchanged.

For the LDN model's plasma PK (C_ntx, C_6bn) this keeps 7 of 24 states and drops the stiff
receptor and NF-kB arms.
"""
from __future__ import annotations

import dataclasses
import warnings

__all__ = ["reduced_model"]


def _names(expr):
    from ..model.expr import free_names, parse_expression
    return free_names(parse_expression(expr))


def reduced_model(model, variables, dosed=()):
    """The smallest exact sub-model that simulates ``variables`` (outputs or states).

    Parameters
    ----------
    model : Model
    variables : iterable of str
        Observed outputs and states.
    dosed : iterable of str
        States (or inputs) that receive doses: always kept.

    Returns
    -------
    Model
        ``model`` itself when nothing can be dropped.
    """
    from ..model import Input

    states = set(model.state_names)
    defs = {d.name: _names(d.expr) for d in model.definitions}
    outputs = {o.name: o for o in model.outputs}
    odes = {o.state: _names(o.expr) for o in model.odes}
    inputs = {i.name: i for i in model.inputs}

    def expand(names, seen_defs):
        """States reached through definitions; records the definitions used."""
        out, stack = set(), list(names)
        while stack:
            n = stack.pop()
            if n in states:
                out.add(n)
            elif n in defs and n not in seen_defs:
                seen_defs.add(n)
                stack.extend(defs[n])
        return out

    used_defs = set()
    seeds = set()
    for v in variables:
        if v in outputs:
            seeds |= expand(_names(outputs[v].expr), used_defs)
        elif v in states:
            seeds.add(v)
    for d in dosed:
        if d in states:
            seeds.add(d)
        elif d in inputs and inputs[d].target:
            seeds.add(inputs[d].target)
    needed, stack = set(), list(seeds)
    while stack:
        s = stack.pop()
        if s in needed:
            continue
        needed.add(s)
        stack.extend(expand(odes[s], used_defs) - needed)
    if needed == states:
        return model
    kept_outputs = [outputs[v] for v in model.output_names if v in set(variables)]
    new_inputs = [i if (i.target is None or i.target in needed) else
                  Input(i.name, i.unit, i.description, None) for i in model.inputs]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the full model's warnings were shown already
        return dataclasses.replace(
            model, name=f"{model.name}_part"[:64],
            description=f"{model.name}: the {len(needed)} of {len(states)} states that "
                        f"{', '.join(sorted(set(variables)))} depend on",
            hash="", path=None,
            states=[s for s in model.states if s.name in needed],
            odes=[o for o in model.odes if o.state in needed],
            definitions=[d for d in model.definitions if d.name in used_defs],
            outputs=kept_outputs, inputs=new_inputs)
