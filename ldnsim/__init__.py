"""ldnsim: the pharmacology of low-dose naltrexone as ODE models, with a numba stiff solver.

>>> import ldnsim
>>> model = ldnsim.load_model("one_compartment_oral")
>>> ds = ldnsim.simulate(model, t_eval, regimen=ldnsim.Regimen.repeat(50.0, every=24.0, count=7))

Every public name below loads its layer on first use (numba, sympy and xarray included), so
``import ldnsim`` imports none of them (``tests/test_layers.py`` holds it to that).
"""
from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

from ._version import __version__
from .errors import ConfigError, LdnsimError, ModelError, RegimenError, SolverError

# name -> module that defines it. simulate() lives in ldnsim.simulation: a submodule named
# like the function would shadow it (``import ldnsim.simulate as m`` would hand back the
# function).
_LAZY = {
    "simulate": "ldnsim.simulation",
    "load_model": "ldnsim.model", "list_models": "ldnsim.model", "Model": "ldnsim.model",
    "loads_model": "ldnsim.model", "CompiledModel": "ldnsim.model",
    "ModelWarning": "ldnsim.model",
    "Dose": "ldnsim.dosing", "Regimen": "ldnsim.dosing", "EventTable": "ldnsim.events",
    "integrate": "ldnsim.solver", "integrate_batch": "ldnsim.solver", "Status": "ldnsim.solver",
    "METHODS": "ldnsim.solver",
    "save_result": "ldnsim.io", "open_result": "ldnsim.io",
    "export_sbml": "ldnsim.model.sbml",
    "run_experiment": "ldnsim.experiment", "load_experiment": "ldnsim.experiment",
    "read_dataset": "ldnsim.dataset", "fit": "ldnsim.estimation",
}

__all__ = [  # the lazy names above and the eager ones here (tests/test_layers.py checks)
    "CompiledModel", "ConfigError", "Dose", "EventTable", "LdnsimError", "METHODS", "Model",
    "ModelError", "ModelWarning", "RegimenError", "Regimen", "SolverError", "Status",
    "__version__", "export_sbml", "fit", "integrate", "integrate_batch", "list_models",
    "load_experiment", "load_model", "loads_model", "open_result", "read_dataset",
    "run_experiment", "save_result", "simulate",
]

if TYPE_CHECKING:  # what type checkers and IDEs see; at run time __getattr__ loads lazily
    from .dataset import read_dataset
    from .dosing import Dose, Regimen
    from .estimation import fit
    from .events import EventTable
    from .experiment import load_experiment, run_experiment
    from .io import open_result, save_result
    from .model import CompiledModel, Model, ModelWarning, list_models, load_model, loads_model
    from .model.sbml import export_sbml
    from .simulation import simulate
    from .solver import METHODS, Status, integrate, integrate_batch


def __getattr__(name: str):
    mod = _LAZY.get(name)
    if mod is None:
        raise AttributeError(f"module 'ldnsim' has no attribute {name!r}")
    value = getattr(import_module(mod), name)
    globals()[name] = value
    return value


def __dir__():
    return __all__
