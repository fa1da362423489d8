"""Model data: frozen dataclasses, validated when a `Model` is constructed.

A `Model` is pure data (names, numbers, expression text, units, sources). Validation lives in
`Model.__post_init__` so a model built in Python gets the same checks as one read from TOML; the
per-rule checks are in `ldnsim.model.validate`. Every error names the file (or the model), the
section and the key, and says what to change.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

import numpy as np

from ldnsim._version import __version__
from ldnsim.errors import ModelError
from ldnsim.model.compiled import compile_model
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
from ldnsim.model.validate import validate_model

__all__ = ["State", "Parameter", "Input", "Definition", "Ode", "Output", "Scenario", "Model",
           "ModelWarning"]  # the entries are defined in ldnsim.model.entries


@dataclass(frozen=True, kw_only=True)
class Model:
    """A validated ODE model (usually read from a file by :func:`ldnsim.load_model`).

    Parameters
    ----------
    name : str
        ASCII letters, digits and ``_``; the file name of a model read from a file.
    description : str
    time_unit : str
        One of s, min, h, d, wk.
    dose_target : str or None
        The state a dose goes to when it names none.
    path : str or None
        The file it was read from.
    hash : str
        Hex sha256 of the file text plus the ldnsim version; computed from the content when
        empty (a model built in Python).
    states, parameters, inputs, definitions, odes, outputs : sequence
        Of :class:`State`, :class:`Parameter`, :class:`Input`, :class:`Definition`,
        :class:`Ode` and :class:`Output` (``ldnsim.model.entries``). After construction
        ``definitions`` are in dependency order and ``odes`` in state order.
    scenarios : dict of str to Scenario
        Named overlays of parameter values.

    Raises
    ------
    ModelError
        On any invalid content; the message names file, section and key.
    """

    name: str
    description: str = ""
    time_unit: str = "h"
    dose_target: str | None = None
    path: str | None = None
    hash: str = ""
    states: tuple = ()
    parameters: tuple = ()
    inputs: tuple = ()
    definitions: tuple = ()
    odes: tuple = ()
    outputs: tuple = ()
    scenarios: dict = field(default_factory=dict)
    _trees: dict | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self):
        for name in ("states", "parameters", "inputs", "definitions", "odes", "outputs"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        object.__setattr__(self, "scenarios", dict(self.scenarios))
        definitions, odes, trees = validate_model(self)
        object.__setattr__(self, "definitions", definitions)
        object.__setattr__(self, "odes", odes)
        object.__setattr__(self, "_trees", trees)
        if not self.hash:
            object.__setattr__(self, "hash", _content_hash(self))

    def __hash__(self):
        return hash(self.hash)

    @property
    def location(self):
        """Where this model came from, for error messages (its path, or its name)."""
        return str(self.path) if self.path else f"model {self.name!r}"

    @property
    def state_names(self):
        return tuple(s.name for s in self.states)

    @property
    def parameter_names(self):
        return tuple(p.name for p in self.parameters)

    @property
    def input_names(self):
        return tuple(i.name for i in self.inputs)

    @property
    def output_names(self):
        return tuple(o.name for o in self.outputs)

    def scenario_values(self, scenarios=()):
        """Merge the chosen scenarios into one ``{parameter: value}`` dict.

        A single string is one scenario name. Two scenarios setting the same parameter is an
        error: which one should win is a modelling decision the user must make explicitly.
        """
        if isinstance(scenarios, str):
            scenarios = (scenarios,)
        merged, setter = {}, {}
        for sc in scenarios:
            if sc not in self.scenarios:
                known = ", ".join(sorted(self.scenarios)) or "none"
                raise ModelError(f"{self.location}: unknown scenario {sc!r}; "
                                 f"this model defines: {known}")
            for key, value in self.scenarios[sc].values.items():
                if key in merged:
                    raise ModelError(
                        f"{self.location}: scenarios {setter[key]!r} and {sc!r} both set "
                        f"parameter {key!r}; choose one of them, or pass params={{{key!r}: "
                        "...}} explicitly")
                merged[key], setter[key] = value, sc
        return merged

    def parameter_vector(self, params=None, scenarios=()):
        """Return the ``p`` array: parameters in file order, then the inputs (all 0.0).

        Parameters
        ----------
        params : dict of str to float, optional
            Values applied last, after the scenarios.
        scenarios : str or sequence of str
            Scenario names, applied in order.

        Returns
        -------
        numpy.ndarray, shape (n_parameters + n_inputs,)
        """
        index = {p.name: i for i, p in enumerate(self.parameters)}
        p = np.zeros(len(self.parameters) + len(self.inputs))
        p[:len(self.parameters)] = [prm.value for prm in self.parameters]
        for key, value in self.scenario_values(scenarios).items():
            p[index[key]] = value
        for key, value in (params or {}).items():
            if key not in index:
                if key in self.input_names:
                    raise ModelError(f"{self.location}: {key!r} is an input (set by a "
                                     "regimen), not a parameter")
                raise ModelError(f"{self.location}: unknown parameter {key!r} in params; "
                                 f"known: {', '.join(self.parameter_names)}")
            value = _finite(value, f"{self.location}: params[{key!r}]")
            p[index[key]] = value
        return p

    def initial_state(self, y0=None):
        """Return the initial state vector.

        Parameters
        ----------
        y0 : dict of str to float or array_like, optional
            A dict overrides the file's ``init`` values by name; an array replaces them all.

        Returns
        -------
        numpy.ndarray, shape (n_states,)
        """
        y = np.array([s.init for s in self.states], dtype=float)
        if y0 is None:
            return y
        if isinstance(y0, dict):
            index = {name: i for i, name in enumerate(self.state_names)}
            for key, value in y0.items():
                if key not in index:
                    raise ModelError(f"{self.location}: unknown state {key!r} in y0; "
                                     f"known: {', '.join(self.state_names)}")
                y[index[key]] = _finite(value, f"{self.location}: y0[{key!r}]")
            return y
        arr = np.asarray(y0, dtype=float)
        if arr.shape != y.shape:
            raise ModelError(f"{self.location}: y0 has shape {arr.shape}, expected "
                             f"{y.shape} (one value per state: {', '.join(self.state_names)})")
        if not np.all(np.isfinite(arr)):
            raise ModelError(f"{self.location}: y0 contains non-finite values")
        return arr.copy()

    def compile(self):
        """Generate, cache and import numba code for this model; see `CompiledModel`."""
        return compile_model(self)


def _finite(value, where):
    if isinstance(value, bool):
        raise ModelError(f"{where}: expected a number, got a boolean")
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ModelError(f"{where}: expected a number, got {value!r}") from None
    if not np.isfinite(v):
        raise ModelError(f"{where}: value must be finite, got {v}")
    return v


def _content_hash(model):
    """Hash of a model built in Python (models from files hash their text instead)."""
    content = {
        "name": model.name, "time_unit": model.time_unit, "dose_target": model.dose_target,
        "states": [[s.name, s.init, s.unit] for s in model.states],
        "parameters": [[p.name, p.value, p.unit, p.lower, p.upper] for p in model.parameters],
        "inputs": [[i.name, i.unit, i.target] for i in model.inputs],
        "definitions": [[d.name, d.expr] for d in model.definitions],
        "odes": [[o.state, o.expr] for o in model.odes],
        "outputs": [[o.name, o.expr, o.unit] for o in model.outputs],
        "scenarios": {k: sorted(v.values.items()) for k, v in model.scenarios.items()},
        "version": __version__,
    }
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()
