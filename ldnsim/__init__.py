"""ldnsim: the pharmacology of low-dose naltrexone as ODE models, with a numba stiff solver.

>>> import ldnsim
>>> model = ldnsim.load_model("one_compartment_oral")
>>> ds = ldnsim.simulate(model, t_eval, regimen=ldnsim.Regimen.repeat(50.0, every=24.0, count=7))

Heavy layers (xarray, the model compiler, the experiment runner) load on first use, so
``import ldnsim`` stays cheap.
"""
from importlib import import_module

from .errors import ConfigError, LdnsimError, ModelError, RegimenError, SolverError  # noqa: F401

__version__ = "0.1.0"

# simulate() lives in ldnsim.simulation: a submodule named like the function would shadow it
# (and `import ldnsim.simulate as m` would hand back the function).
from .simulation import simulate  # noqa: E402

_LAZY = {
    "load_model": "ldnsim.model", "list_models": "ldnsim.model", "Model": "ldnsim.model",
    "loads_model": "ldnsim.model", "CompiledModel": "ldnsim.model",
    "ModelWarning": "ldnsim.model",
    "Dose": "ldnsim.dosing", "Regimen": "ldnsim.dosing", "EventTable": "ldnsim.dosing",
    "integrate": "ldnsim.solver", "integrate_batch": "ldnsim.solver", "Status": "ldnsim.solver",
    "METHODS": "ldnsim.solver",
    "save_result": "ldnsim.io", "open_result": "ldnsim.io",
    "export_sbml": "ldnsim.model.sbml",
    "run_experiment": "ldnsim.experiment", "load_experiment": "ldnsim.experiment",
    "read_dataset": "ldnsim.dataset", "fit": "ldnsim.estimation",
}

__all__ = sorted(_LAZY) + ["simulate", "ConfigError", "LdnsimError", "ModelError", "RegimenError",
                           "SolverError", "__version__"]


def __getattr__(name):
    mod = _LAZY.get(name)
    if mod is None:
        raise AttributeError(f"module 'ldnsim' has no attribute {name!r}")
    value = getattr(import_module(mod), name)
    globals()[name] = value
    return value


def __dir__():
    return __all__
