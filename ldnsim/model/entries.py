"""The entries of a model file as frozen dataclasses (pure data, no validation here).

:class:`~ldnsim.model.spec.Model` holds tuples of these and validates them together
(:mod:`ldnsim.model.validate`), so a model built in Python gets the same checks as one read
from TOML.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["State", "Parameter", "Input", "Definition", "Ode", "Output", "Scenario",
           "ModelWarning"]


class ModelWarning(UserWarning):
    """A model is usable but incomplete, e.g. a parameter without a `source`."""


@dataclass(frozen=True)
class State:
    """A state variable: ``name``, initial value ``init``, ``unit``, ``description``."""

    name: str
    init: float = 0.0
    unit: str = "1"
    description: str = ""


@dataclass(frozen=True)
class Parameter:
    """A model parameter with its provenance.

    ``source`` is the citation, ``evidence`` how good it is (measured / second-hand / derived /
    assumed ...); ``lower``/``upper`` are optional plausible bounds for sweeps.
    """

    name: str
    value: float
    unit: str = "1"
    description: str = ""
    source: str = ""
    evidence: str = ""
    lower: float | None = None
    upper: float | None = None


@dataclass(frozen=True)
class Input:
    """A piecewise-constant input (e.g. an infusion rate), 0 until a regimen sets it.

    ``target`` is the state an infusion through this input feeds, or None.
    """

    name: str
    unit: str = "1"
    description: str = ""
    target: str | None = None


@dataclass(frozen=True)
class Definition:
    """A named algebraic expression, usable in later expressions."""

    name: str
    expr: str
    unit: str | None = None
    description: str = ""


@dataclass(frozen=True)
class Ode:
    """The right-hand side ``d(state)/dt = expr``."""

    state: str
    expr: str


@dataclass(frozen=True)
class Output:
    """A named expression with a unit: what users plot and analyse."""

    name: str
    expr: str
    unit: str = "1"
    description: str = ""


@dataclass(frozen=True)
class Scenario:
    """A named, documented overlay of parameter values."""

    name: str
    description: str = ""
    values: dict = field(default_factory=dict)
    source: str = ""
