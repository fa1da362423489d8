"""Model -> sympy -> exact Jacobian -> numba source in a content-hashed cache file.

The generated module defines three ``@numba.njit(cache=True)`` functions with fixed
signatures::

    rhs(t, y, p, dydt)      # dydt[i] = d y[i] / dt
    jac(t, y, p, J)         # J[i, j] = d rhs[i] / d y[j], every entry written (dense)
    outputs(t, y, p, out)   # out[k] = output k

States are read from ``y[i]``, parameters from ``p[i]`` and inputs from ``p[n_parameters + j]``;
no value is ever baked into the code, so a new parameter value never recompiles.

The file is named ``ldnsim_model_<name>_<hash16>.py`` where the hash covers the model's
*structure* (names and expressions, not values), the ldnsim, sympy and numba versions, the code
of this generator and the solver text appended to the module. A second process finds the file,
imports it under the same module name (registered in ``sys.modules`` before it runs, as numba's
disk cache requires) and loads the machine code from numba's cache without running sympy.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import sys
import tempfile
import threading
from dataclasses import dataclass
from functools import cached_property
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np

from ldnsim.errors import ModelError
from ldnsim.model.spec import Model, ldnsim_version

__all__ = ["CompiledModel", "compile_model", "generate_source", "cache_dir", "cache_key",
           "CODEGEN_FORMAT"]

CODEGEN_FORMAT = 2
"""Bump when the layout of generated modules changes in a way old files cannot serve."""

# numba options for every generated function. error_model="numpy" makes x/0 give inf/nan
# instead of raising: kernels must never raise, the solver turns non-finite values into a
# status code.
_JIT = '@numba.njit(cache=True, fastmath=False, error_model="numpy")'
_KEY_LINE = "# ldnsim-codegen-key: "
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
    n_states: int
    n_params: int
    n_outputs: int
    source_path: Path

    @cached_property
    def autonomous(self):
        """True when no ODE or definition reads the time ``t``: between doses the right-hand
        side does not depend on time, and the solver can skip estimating df/dt."""
        from ldnsim.model.expr import free_names, parse_expression
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


def _solver_source():
    """Text the solver asks to append to every model module ("" until it exists)."""
    try:
        # import_module reads sys.modules, so tests can substitute a stand-in solver
        solver = importlib.import_module("ldnsim.solver")
    except ModuleNotFoundError as exc:
        if exc.name in ("ldnsim.solver", "ldnsim"):
            return ""
        raise
    make = getattr(solver, "specialised_solver_source", None)
    return make() if make is not None else ""


def _dist_version(name):
    try:
        return version(name)
    except PackageNotFoundError:
        return "unknown"


def cache_key(model, solver_source=""):
    """Hex sha256 of everything the generated module depends on (values excluded)."""
    here = Path(__file__).parent
    generator = hashlib.sha256()
    for part in ("codegen.py", "symbolic.py", "expr.py"):
        generator.update((here / part).read_bytes())
    content = {
        "format": CODEGEN_FORMAT, "ldnsim": ldnsim_version(),
        "sympy": _dist_version("sympy"), "numba": _dist_version("numba"),
        "generator": generator.hexdigest(),
        "solver": hashlib.sha256(solver_source.encode()).hexdigest(),
        "name": model.name,
        "states": model.state_names, "parameters": model.parameter_names,
        "inputs": model.input_names,
        "definitions": [[d.name, d.expr] for d in model.definitions],
        "odes": [o.expr for o in model.odes],
        "outputs": [[o.name, o.expr] for o in model.outputs],
    }
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


def compile_model(model):
    """Return the `CompiledModel` for ``model``, generating and caching code if needed.

    Within one process the module is reused; across processes the source file and numba's
    cache next to it are reused, so nothing recompiles unless the model's structure changed.
    """
    with _LOCK:
        solver_source = _solver_source()
        key = cache_key(model, solver_source)
        module_name = f"ldnsim_model_{model.name}_{key[:16]}"
        module = sys.modules.get(module_name)
        if module is None or getattr(module, "CACHE_KEY", None) != key:
            module = _load_or_generate(model, key, module_name, solver_source)
    return CompiledModel(
        model=model, module=module, rhs=module.rhs, jac=module.jac, outputs=module.outputs,
        n_states=len(model.states), n_params=len(model.parameters) + len(model.inputs),
        n_outputs=len(model.outputs), source_path=Path(module.__file__))


def _load_or_generate(model, key, module_name, solver_source):
    directory = cache_dir()
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ModelError(f"cannot create the code cache directory {directory} ({exc}); set "
                         "LDNSIM_CACHE_DIR to a writable directory") from None
    path = directory / f"{module_name}.py"
    if not _has_key(path, key):
        source = generate_source(model, key=key, solver_source=solver_source)
        _write_atomically(path, source)
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
    return f"{_KEY_LINE}{key}\n" in head


def _write_atomically(path, text):
    # A reader in another process sees the old file or the complete new one, never a part.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; a shared cache dir must stay readable
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def generate_source(model, *, key="", solver_source=""):
    """Return the Python source of the numba module for ``model``.

    Parameters
    ----------
    model : Model
    key : str
        Written in the header so a later process can trust the file.
    solver_source : str
        Appended verbatim (per-model solver entry points that call ``rhs``/``jac``).

    Returns
    -------
    str
    """
    from ldnsim.model.symbolic import model_equations, python_lines

    rhs, jac, outs = model_equations(model)
    n, m = len(model.states), len(model.outputs)
    parts = [
        f"# Generated by ldnsim {ldnsim_version()} for model {model.name!r}. Do not edit:",
        f"{_KEY_LINE}{key}",
        "# It is regenerated whenever the model's structure or the generator changes.",
        "import math",
        "",
        "import numba",
        "import numpy as np",
        "",
        f"CACHE_KEY = {key!r}",
        f"MODEL_NAME = {model.name!r}",
        f"STATE_NAMES = {model.state_names!r}",
        f"PARAMETER_NAMES = {model.parameter_names!r}",
        f"INPUT_NAMES = {model.input_names!r}",
        f"OUTPUT_NAMES = {model.output_names!r}",
        f"N_STATES = {n}",
        f"N_PARAMS = {len(model.parameters) + len(model.inputs)}",
        f"N_OUTPUTS = {m}",
        "# (i, j) where d rhs[i] / d y[j] is not identically zero (the sparse LU's pattern)",
        f"JAC_PATTERN = {[(i, j) for i in range(n) for j in range(n) if jac[i][j] != 0]!r}",
        "",
    ]
    mapping = _name_mapping(model)
    for name, args, exprs, targets in (
            ("rhs", "t, y, p, dydt", rhs, [f"dydt[{i}]" for i in range(n)]),
            ("jac", "t, y, p, J", [e for row in jac for e in row],
             [f"J[{i}, {j}]" for i in range(n) for j in range(n)]),
            ("outputs", "t, y, p, out", outs, [f"out[{k}]" for k in range(m)])):
        parts += ["", _JIT, f"def {name}({args}):"]
        body = python_lines(exprs, targets, mapping)
        parts += ["    " + line for line in body] or ["    pass"]
        parts.append("")
    if solver_source:
        parts += ["", "# ---- per-model solver entry points (ldnsim.solver) ----",
                  solver_source.rstrip("\n"), ""]
    return "\n".join(parts) + "\n"


def _name_mapping(model):
    """How each model name is spelled in generated code."""
    mapping = {s.name: f"y[{i}]" for i, s in enumerate(model.states)}
    mapping.update({p.name: f"p[{i}]" for i, p in enumerate(model.parameters)})
    offset = len(model.parameters)
    mapping.update({u.name: f"p[{offset + j}]" for j, u in enumerate(model.inputs)})
    mapping["t"] = "t"
    return mapping
