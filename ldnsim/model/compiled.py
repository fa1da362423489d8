"""Compiled models: generated numba modules in a content-hashed on-disk cache.

:func:`compile_model` generates a model's module once (:mod:`ldnsim.model.codegen`), writes it
as ``ldnsim_model_<name>_<hash16>.py`` in :func:`cache_dir`, imports it under that module name
(registered in ``sys.modules`` before it runs, as numba's disk cache requires) and wraps it in a
:class:`CompiledModel`. The hash (:func:`cache_key`) covers the model's *structure* (names and
expressions, not values), the ldnsim, sympy and numba versions and the generator's own code, so
a second process finds the file and loads the machine code from numba's cache without running
sympy.

The cache verifies itself. The first line of a generated module carries its key and the sha256
of everything after that line, checked before the module is imported: a truncated, damaged or
edited file is never run, it is regenerated (with a warning). When importing fails anyway (numba's
index or data files next to it are damaged), numba's files of that module are deleted, the module
is regenerated, and the import is tried once more; a second failure is a :class:`ModelError`.

Files are private: the directory is created with mode 0700 and modules are written 0600, so no
other user can plant code (or pickles, which numba's cache loads) in it. To share one cache
between users on purpose, set ``LDNSIM_CACHE_SHARED=1``: modules are then written 0644, new
directories get the umask's mode, and ownership is no longer required.
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import json
import os
import sys
import threading
import warnings
from contextlib import suppress
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ldnsim._files import atomic_write_text
from ldnsim._limits import limit, noticed, raise_hint
from ldnsim._version import __version__, dist_version
from ldnsim.errors import ModelError
from ldnsim.model.codegen import CODEGEN_FORMAT, KEY_LINE, generate_source
from ldnsim.model.expr import expanded_cost, free_names, parse_expression

if TYPE_CHECKING:
    from ldnsim.model.spec import Model

__all__ = ["CompiledModel", "compile_model", "prepare_source", "cache_dir", "cache_key",
           "check_cost", "shared_cache", "seal", "MAX_STATES"]

_LOCK = threading.RLock()

#: Most states a model may have. numba's compile time grows faster than n**2 with the size of
#: the generated functions (a chain of 200 states compiled in 18 s, of 1000 in 15 minutes),
#: and the solver holds two (n, n) matrices per trajectory and thread. Raise with
#: LDNSIM_MAX_STATES.
MAX_STATES = 300
#: First-line marker of the content hash of a generated module.
_SHA_MARK = " sha256: "


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

    @property
    def jac_nonzeros_kernel(self):
        """``jac_nonzeros_cfunc``: the C-callable Jacobian that writes only the entries of
        :attr:`jac_sparsity` (the solver kernels start J at zero; ``simulation.run_rows`` passes
        it with ``jac_sparsity_exact=True``). Half the cost of ``jac_cfunc`` on the LDN model,
        whose zeroing of all n * n entries it skips."""
        return self.module.jac_nonzeros_cfunc

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

    @cached_property
    def sparse_lu(self):
        """``(lu_factor_cfunc, lu_solve_cfunc, SPARSE_LU_DIGEST)``: the generated straight-line
        sparse LU for :attr:`jac_sparsity` (``ldnsim.model.lucode``), which the solver calls
        instead of its generic sparse LU (``solver.integrate_batch(sparse_lu=)``); None when
        the solver factors this model's W densely (fewer than 8 states, or too much fill), or
        when the plan is too large to write out (``lucode.MAX_OPERATIONS``)."""
        digest = getattr(self.module, "SPARSE_LU_DIGEST", None)
        if digest is None:
            return None
        return (self.module.lu_factor_cfunc, self.module.lu_solve_cfunc, digest)

    def solver_arguments(self) -> dict:
        """The keyword arguments of ``solver.integrate_batch`` that hand this model to the
        kernels (``run_rows`` and the periodic steady state use exactly these): ``jac``
        (:attr:`jac_nonzeros_kernel`), ``outputs``, ``n_outputs``, ``autonomous``,
        ``jac_sparsity`` with ``jac_sparsity_exact=True`` (J is exactly zero off the pattern:
        the kernels zero it, ``jac_nonzeros`` never writes there) and ``sparse_lu``."""
        return dict(jac=self.jac_nonzeros_kernel, outputs=self.kernel_functions[2],
                    n_outputs=self.n_outputs, autonomous=self.autonomous,
                    jac_sparsity=self.jac_sparsity, jac_sparsity_exact=True,
                    sparse_lu=self.sparse_lu)

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

    def check_arrays(self, P, Y0) -> None:
        """Check that parameter rows and initial states have this model's lengths.

        The generated functions index ``p`` and ``y`` without bounds checks, so a row shorter
        than the model would read memory that is not its own (see :mod:`ldnsim.solver`).

        Parameters
        ----------
        P : array_like, shape (r, n_params) or (n_params,)
        Y0 : array_like, shape (r, n_states) or (n_states,)

        Raises
        ------
        ModelError
            A length differs from the model's.
        """
        for what, arr, n, names in (
                ("parameter rows (parameters then inputs)", P, self.n_params,
                 self.model.parameter_names + self.model.input_names),
                ("initial states", Y0, self.n_states, self.model.state_names)):
            shape = np.shape(arr)
            if not shape or shape[-1] != n:
                raise ModelError(f"{self.model.location}: {what} must have {n} entries "
                                 f"({', '.join(names) or 'none'}), got shape {shape}")

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


def _structure(model: Model) -> dict:
    """The model's names and equations (no values): what both keys below hash."""
    return {
        "name": model.name,
        "states": model.state_names, "parameters": model.parameter_names,
        "inputs": model.input_names,
        "definitions": [[d.name, d.expr] for d in model.definitions],
        "odes": [o.expr for o in model.odes],
        "outputs": [[o.name, o.expr] for o in model.outputs],
    }


def _sha256_json(content: dict) -> str:
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


def structure_key(model: Model) -> str:
    """Hex sha256 of the model's equations and names (values excluded, and independent of the
    code generator): a fit made with one structure applies to any model with the same key."""
    return _sha256_json(_structure(model))


def cache_key(model: Model) -> str:
    """Hex sha256 of everything the generated module depends on (values excluded)."""
    here = Path(__file__).parent
    generator = hashlib.sha256()
    for part in ("codegen.py", "symbolic.py", "expr.py", "lucode.py", "../_sparsity.py"):
        generator.update((here / part).read_bytes())  # _sparsity: the generated LU's plan
    content = {
        "format": CODEGEN_FORMAT, "ldnsim": __version__,
        "sympy": dist_version("sympy", "unknown"), "numba": dist_version("numba", "unknown"),
        "generator": generator.hexdigest(), **_structure(model),
    }
    return _sha256_json(content)


def check_cost(model: Model) -> None:
    """Check, before sympy or numba run, that generating ``model``'s code has a bounded cost.

    Linear in the size of the model's files: the number of states (:data:`MAX_STATES`) and the
    equations with definitions substituted (:func:`ldnsim.model.expr.expanded_cost`).

    Raises
    ------
    ModelError
        Naming the limit and how to raise it.
    """
    n_max = limit("MAX_STATES", MAX_STATES)
    if len(model.states) > n_max:
        raise ModelError(f"{model.location}: [states]: {len(model.states)} states, more than "
                         f"{n_max:g} (the solver holds two n x n matrices per trajectory and "
                         f"thread; {raise_hint('MAX_STATES')})")
    trees = model._trees
    assert trees is not None  # set by validation when the Model is built
    expanded_cost([(d.name, trees["definitions"][d.name]) for d in model.definitions],
                  [(f"[odes] {n}", trees["odes"][n]) for n in model.state_names]
                  + [(f"[outputs] {o.name}", trees["outputs"][o.name]) for o in model.outputs],
                  where=model.location)


def compile_model(model: Model) -> CompiledModel:
    """Return the `CompiledModel` for ``model``, generating and caching code if needed.

    Within one process the module is reused; across processes the source file and numba's
    cache next to it are reused, so nothing recompiles unless the model's structure changed.

    Raises
    ------
    ModelError
        The model is too costly to generate code for (:func:`check_cost`), the cache directory
        cannot be used, or the module fails to import even after being rebuilt.
    """
    with _LOCK:
        key = cache_key(model)
        module_name = f"ldnsim_model_{model.name}_{key[:16]}"
        module = sys.modules.get(module_name)
        if module is None or getattr(module, "CACHE_KEY", None) != key:
            check_cost(model)
            with noticed(f"loading or compiling model {model.name!r} (slow on a first run) ..."):
                module = _load_or_generate(model, key, module_name)
    return CompiledModel(
        model=model, module=module, rhs=module.rhs, jac=module.jac, outputs=module.outputs,
        kernel_functions=(module.rhs_cfunc, module.jac_cfunc, module.outputs_cfunc),
        n_states=len(model.states), n_params=len(model.parameters) + len(model.inputs),
        n_outputs=len(model.outputs), source_path=Path(str(module.__file__)))


def prepare_source(model: Model) -> Path:
    """Check the cost and make sure the verified generated source of ``model`` is in the cache,
    without importing it (no numba compilation): the sympy half of :func:`compile_model`.

    ``ldnsim validate`` runs it, so an equation that cannot be turned into code is reported
    before a run, and the run that follows only compiles.

    Raises
    ------
    ModelError
        As :func:`compile_model`.
    """
    with _LOCK:
        key = cache_key(model)
        module_name = f"ldnsim_model_{model.name}_{key[:16]}"
        check_cost(model)
        module = sys.modules.get(module_name)
        if module is not None and getattr(module, "CACHE_KEY", None) == key:
            return Path(str(module.__file__))
        directory = cache_dir()
        _prepare_dir(directory)
        path = directory / f"{module_name}.py"
        problem, _ = _verify(path, key)
        if problem is not None:
            if problem != "missing":
                warnings.warn(f"{path}: {problem}; the cache entry is discarded and rebuilt",
                              UserWarning, stacklevel=2)
            with noticed(f"generating code for model {model.name!r} (slow on a first run) ..."):
                _write(model, key, path)
        return path


def shared_cache() -> bool:
    """True when ``LDNSIM_CACHE_SHARED`` is set (to anything but ``""`` or ``"0"``)."""
    return os.environ.get("LDNSIM_CACHE_SHARED", "").strip() not in ("", "0")


_WARNED_DIRS: set = set()


def _prepare_dir(directory):
    try:
        directory.mkdir(parents=True, exist_ok=True,
                        mode=0o777 if shared_cache() else 0o700)
    except OSError as exc:
        raise ModelError(f"cannot create the code cache directory {directory} ({exc}); set "
                         "LDNSIM_CACHE_DIR to a writable directory") from None
    if shared_cache() or str(directory) in _WARNED_DIRS:
        return
    for d in (directory, directory / "__pycache__"):  # numba's pickles live in the second
        with suppress(OSError):
            st = d.stat()
            mine = not hasattr(os, "geteuid") or st.st_uid == os.geteuid()
            if st.st_mode & 0o022 or not mine:
                _WARNED_DIRS.add(str(directory))
                warnings.warn(f"the code cache directory {d} is not private: another user "
                              "owns it or can write to it, and could place code there that "
                              "ldnsim would run; use a private directory (LDNSIM_CACHE_DIR), "
                              "or set LDNSIM_CACHE_SHARED=1 if the sharing is intended",
                              UserWarning, stacklevel=4)
                return


def _load_or_generate(model, key, module_name):
    directory = cache_dir()
    _prepare_dir(directory)
    path = directory / f"{module_name}.py"
    problem, data = _verify(path, key)
    if problem is not None:
        if problem != "missing":
            warnings.warn(f"{path}: {problem}; the cache entry is discarded and rebuilt",
                          UserWarning, stacklevel=3)
        data = _write(model, key, path)
    try:
        return _import(path, module_name, data)
    except Exception as exc:  # damaged numba cache files next to the module
        warnings.warn(f"{path}: importing the cached model code failed ({type(exc).__name__}: "
                      f"{' '.join(str(exc).split())[:200]}); numba's cache files of this module "
                      "are deleted and the code is rebuilt", UserWarning, stacklevel=3)
    _purge_numba_cache(path)
    data = _write(model, key, path)
    try:
        return _import(path, module_name, data)
    except Exception as exc:
        raise ModelError(f"{model.location}: the generated code in {path} cannot be imported "
                         f"even after a rebuild ({type(exc).__name__}: "
                         f"{' '.join(str(exc).split())[:300]})") from exc


def _write(model, key, path) -> bytes:
    """Generate, seal and write the module; returns the bytes written."""
    try:
        source = generate_source(model, key=key)
    except RecursionError:  # a safety net: expanded_cost bounds the depth well below this
        raise ModelError(f"{model.location}: the equations are nested too deeply for code "
                         "generation (Python's recursion limit); shorten chains of "
                         "[definitions]") from None
    text = seal(source, key)
    atomic_write_text(path, text, mode=0o644 if shared_cache() else 0o600)
    return text.encode("utf-8")


def seal(text: str, key: str) -> str:
    """``text`` with the first line ``<KEY_LINE><key> sha256: <sha256 of text>`` prepended."""
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return f"{KEY_LINE}{key}{_SHA_MARK}{digest}\n{text}"


def _verify(path, key):
    """``(None, bytes)`` if ``path`` holds the complete, unedited module generated for ``key``,
    else ``(why not, None)`` (``"missing"`` when there is no file)."""
    try:
        st = path.stat()
        data = path.read_bytes()
    except FileNotFoundError:
        return "missing", None
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})", None
    if not shared_cache() and hasattr(os, "geteuid") and st.st_uid != os.geteuid():
        return "is owned by another user (set LDNSIM_CACHE_SHARED=1 to share a cache)", None
    head, sep, rest = data.partition(b"\n")
    expected = f"{KEY_LINE}{key}{_SHA_MARK}".encode("ascii")
    if not sep or not head.startswith(expected):
        return "was not generated for this model and ldnsim version (header mismatch)", None
    if hashlib.sha256(rest).hexdigest().encode("ascii") != head[len(expected):]:
        return "is truncated or was edited (its content does not match its sha256)", None
    return None, data


class _VerifiedLoader(importlib.machinery.SourceFileLoader):
    """Imports exactly the bytes that were verified: no second read of the file (which could
    have changed since), no bytecode read from or written to ``__pycache__``."""

    def __init__(self, fullname, path, source: bytes):
        super().__init__(fullname, path)
        self._source = source

    def get_data(self, path):
        if os.fspath(path) == os.fspath(self.path):
            return self._source
        raise OSError("bytecode of generated modules is not used")

    def set_data(self, path, data, *, _mode=0o666):
        pass


def _import(path, module_name, data):
    loader = _VerifiedLoader(module_name, str(path), data)
    spec = importlib.util.spec_from_file_location(module_name, path, loader=loader)
    if spec is None:
        raise ImportError(f"no import spec for {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # before exec: numba's cache pickles by module name
    try:
        loader.exec_module(module)
    except BaseException:
        sys.modules.pop(module_name, None)
        raise
    return module


def _purge_numba_cache(path):
    """Delete numba's index and data files (and any bytecode) of the module at ``path``."""
    for f in (path.parent / "__pycache__").glob(f"{path.stem}.*"):
        with suppress(OSError):
            f.unlink()
