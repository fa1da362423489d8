"""Compiled models: generated numba modules in a content-hashed on-disk cache.

:func:`compile_model` generates a model's module once (:mod:`ldnsim.model.codegen`), writes it
as ``ldnsim_model_<name>_<hash16>.py`` in :func:`cache_dir`, imports it under that module name
(registered in ``sys.modules`` before it runs, as numba's disk cache requires) and wraps it in a
:class:`CompiledModel`. The hash (:func:`cache_key`) covers the model's *structure* (names and
expressions, not values), the ldnsim, sympy and numba versions and the generator's own code, so
a second process finds the file and loads the machine code from numba's cache without running
sympy.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import sys
import threading
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ldnsim._files import atomic_write_text
from ldnsim._version import __version__, dist_version
from ldnsim.errors import ModelError
from ldnsim.model.codegen import CODEGEN_FORMAT, KEY_LINE, generate_source
from ldnsim.model.expr import free_names, parse_expression

if TYPE_CHECKING:
    from ldnsim.model.spec import Model

__all__ = ["CompiledModel", "compile_model", "cache_dir", "cache_key"]

_LOCK = threading.RLock()


@dataclass(frozen=True)
class CompiledModel:
    """A model with its numba-compiled functions.

    Attributes
    ----------
    model : Model
    module : module
        The generated module (also in ``sys.modules``).
    rhs, jac, outputs : numba dispatchers
        ``rhs(t, y, p, dydt)``, ``jac(t, y, p, J)``, ``outputs(t, y, p, out)``.
    kernel_functions : tuple
        ``(rhs_cfunc, jac_cfunc, outputs_cfunc)``: the C-callable twins the solver kernels
        call (see :mod:`ldnsim.model.codegen` for the generated-module contract).
    n_states : int
    n_params : int
        Length of ``p``: parameters plus inputs (``len(model.parameter_vector())``).
    n_outputs : int
    source_path : pathlib.Path
    """

    model: Model
    module: object
    rhs: object
    jac: object
    outputs: object
    kernel_functions: tuple
    n_states: int
    n_params: int
    n_outputs: int
    source_path: Path

    @cached_property
    def autonomous(self):
        """True when no ODE or definition reads the time ``t``: between doses the right-hand
        side does not depend on time, and the solver can skip estimating df/dt."""
        exprs = [d.expr for d in self.model.definitions] + [o.expr for o in self.model.odes]
        return not any("t" in free_names(parse_expression(e)) for e in exprs)

    @cached_property
    def jac_sparsity(self):
        """(n, n) bool: where the symbolic Jacobian is not identically zero. The solver
        factors the Rosenbrock matrix over this pattern (``solver.integrate(jac_sparsity=)``),
        the same for every parameter row."""
        pattern = np.zeros((self.n_states, self.n_states), dtype=bool)
        for i, j in self.module.JAC_PATTERN:
            pattern[i, j] = True
        return pattern

    @property
    def n_inputs(self):
        return len(self.model.inputs)

    def state_index(self, name):
        """Index of state ``name`` in ``y``."""
        return _index(self.model.state_names, name, "state", self.model)

    def parameter_index(self, name):
        """Index of parameter or input ``name`` in ``p`` (inputs follow the parameters)."""
        names = self.model.parameter_names + self.model.input_names
        return _index(names, name, "parameter or input", self.model)

    def output_index(self, name):
        """Index of output ``name`` in ``out``."""
        return _index(self.model.output_names, name, "output", self.model)

    def warmup(self):
        """Compile (or load from numba's cache) all three functions for float64 arrays."""
        y = self.model.initial_state()
        p = self.model.parameter_vector()
        self.rhs(0.0, y, p, np.empty(self.n_states))
        self.jac(0.0, y, p, np.empty((self.n_states, self.n_states)))
        self.outputs(0.0, y, p, np.empty(self.n_outputs))
        return self


def _index(names, name, what, model):
    try:
        return names.index(name)
    except ValueError:
        raise ModelError(f"{model.location}: no {what} named {name!r}; known: "
                         f"{', '.join(names)}") from None


def cache_dir():
    """Directory for generated modules: ``$LDNSIM_CACHE_DIR`` or the per-user cache dir."""
    env = os.environ.get("LDNSIM_CACHE_DIR")
    if env:
        return Path(env)
    try:
        import platformdirs
        return Path(platformdirs.user_cache_dir("ldnsim"))
    except ImportError:  # platformdirs is a dependency; this keeps a broken env usable
        base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
        return Path(base) / "ldnsim"


def cache_key(model: Model) -> str:
    """Hex sha256 of everything the generated module depends on (values excluded)."""
    here = Path(__file__).parent
    generator = hashlib.sha256()
    for part in ("codegen.py", "symbolic.py", "expr.py"):
        generator.update((here / part).read_bytes())
    content = {
        "format": CODEGEN_FORMAT, "ldnsim": __version__,
        "sympy": dist_version("sympy", "unknown"), "numba": dist_version("numba", "unknown"),
        "generator": generator.hexdigest(),
        "name": model.name,
        "states": model.state_names, "parameters": model.parameter_names,
        "inputs": model.input_names,
        "definitions": [[d.name, d.expr] for d in model.definitions],
        "odes": [o.expr for o in model.odes],
        "outputs": [[o.name, o.expr] for o in model.outputs],
    }
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


def compile_model(model: Model) -> CompiledModel:
    """Return the `CompiledModel` for ``model``, generating and caching code if needed.

    Within one process the module is reused; across processes the source file and numba's
    cache next to it are reused, so nothing recompiles unless the model's structure changed.
    """
    with _LOCK:
        key = cache_key(model)
        module_name = f"ldnsim_model_{model.name}_{key[:16]}"
        module = sys.modules.get(module_name)
        if module is None or getattr(module, "CACHE_KEY", None) != key:
            module = _load_or_generate(model, key, module_name)
    return CompiledModel(
        model=model, module=module, rhs=module.rhs, jac=module.jac, outputs=module.outputs,
        kernel_functions=(module.rhs_cfunc, module.jac_cfunc, module.outputs_cfunc),
        n_states=len(model.states), n_params=len(model.parameters) + len(model.inputs),
        n_outputs=len(model.outputs), source_path=Path(str(module.__file__)))


def _load_or_generate(model, key, module_name):
    directory = cache_dir()
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ModelError(f"cannot create the code cache directory {directory} ({exc}); set "
                         "LDNSIM_CACHE_DIR to a writable directory") from None
    path = directory / f"{module_name}.py"
    if not _has_key(path, key):
        # mode 0644: a shared cache directory must stay readable for other users
        atomic_write_text(path, generate_source(model, key=key), mode=0o644)
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # before exec: numba's cache pickles by module name
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[module_name]
        raise
    return module


def _has_key(path, key):
    """True if ``path`` exists and was generated for ``key`` (so it is not rewritten)."""
    try:
        with open(path, encoding="utf-8") as f:
            head = [f.readline() for _ in range(3)]
    except (OSError, UnicodeDecodeError):
        return False
    return f"{KEY_LINE}{key}\n" in head
