"""Model files -> validated `Model` data -> numba code with an exact Jacobian.

`load_model` reads a TOML model (a shipped one by name, or a path); `Model.compile` returns a
`CompiledModel` whose ``rhs``/``jac``/``outputs`` have fixed signatures. Expressions in model
files go through a whitelist parser (`parse_expression`); no model text is ever run as Python.
"""

from ldnsim.model.compiled import CompiledModel
from ldnsim.model.expr import parse_expression
from ldnsim.model.parse import list_models, load_model, loads_model
from ldnsim.model.spec import (
                               Definition,
                               Input,
                               Model,
                               ModelWarning,
                               Ode,
                               Output,
                               Parameter,
                               Scenario,
                               State,
)
from ldnsim.model.units import parse_unit

__all__ = [
    "Model", "State", "Parameter", "Input", "Definition", "Ode", "Output", "Scenario",
    "CompiledModel", "ModelWarning", "load_model", "loads_model", "list_models",
    "parse_expression", "parse_unit",
]
