"""Model -> numba source text: the generated-module contract, written once.

:func:`generate_source` turns a validated :class:`~ldnsim.model.Model` into the text of a Python
module (compiled and cached by :mod:`ldnsim.model.compiled`). Every generated module defines,
and the rest of ldnsim relies on exactly this:

=========================  =================================================================
name                       what
=========================  =================================================================
``rhs(t, y, p, dydt)``     ``@numba.njit(cache=True)``; ``dydt[i] = d y[i] / dt``
``jac(t, y, p, J)``        ``J[i, j] = d rhs[i] / d y[j]``, every entry written (zeros by a loop)
``jac_nonzeros(t, y, p,    the entries of ``JAC_PATTERN`` only, every call; the others are left
J)``                       untouched (the solver kernels start J at zero and call this one)
``outputs(t, y, p, out)``  ``out[k]`` = output k
``rhs_cfunc``,             C-callable twins of the four (``numba.cfunc(..., cache=True)`` with
``jac_cfunc``,             ``ldnsim.solver.RHS_SIGNATURE`` / ``JAC_SIGNATURE``): what the solver
``jac_nonzeros_cfunc``,    kernels call. Under ``NUMBA_DISABLE_JIT`` they are the plain functions.
``outputs_cfunc``
``CACHE_KEY``              the key the file was generated for (see ``compiled.cache_key``)
``MODEL_NAME``,            names and sizes, for checks and messages
``STATE_NAMES``, ...,
``N_STATES``, ``N_PARAMS``,
``N_OUTPUTS``
``JAC_PATTERN``            list of (i, j) where ``d rhs[i] / d y[j]`` is not identically zero
``SPARSE_LU_DIGEST``       ``_sparsity.plan_digest`` of ``make_plan(pattern, exact=True)``, or
                           None when that plan is the dense LU (fewer than 8 states, or too
                           much fill): then the four LU names below are None
``lu_factor_sparse``,      the straight-line sparse LU of W = I/(h gamma) - J for that plan
``lu_solve_sparse``        (``ldnsim.model.lucode``), njit; bit for bit the solver's generic
                           ``sparse_factor``/``sparse_solve`` over the plan
``lu_factor_cfunc``,       their C-callable twins (``ldnsim.solver.LU_FACTOR_SIGNATURE`` /
``lu_solve_cfunc``         ``LU_SOLVE_SIGNATURE``), which the kernels call instead of the
                           generic LU when the solver is given them (``sparse_lu=``)
=========================  =================================================================

States are read from ``y[i]``, parameters from ``p[i]`` and inputs from ``p[n_parameters + j]``;
no value is ever baked into the code, so a new parameter value never recompiles.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ldnsim._version import __version__

if TYPE_CHECKING:
    from ldnsim.model.spec import Model

__all__ = ["generate_source", "KEY_LINE", "CODEGEN_FORMAT"]

CODEGEN_FORMAT = 6
"""Bump when the layout of generated modules changes in a way old files cannot serve."""

#: The first line of a cached module starts with this, the cache key and the sha256 of the rest
#: (written by ``ldnsim.model.compiled``, which checks it before every import).
KEY_LINE = "# ldnsim-codegen-key: "

# numba options for every generated function. error_model="numpy" makes x/0 give inf/nan
# instead of raising: kernels must never raise, the solver turns non-finite values into a
# status code.
_JIT = '@numba.njit(cache=True, fastmath=False, error_model="numpy")'
# The generated LU allocates nothing: compiled, like the kernels, without reference counting.
_JIT_NO_NRT = '@numba.njit(cache=True, fastmath=False, error_model="numpy", _nrt=False)'

# C-callable twins for the solver kernels, which are compiled once for all models and take
# these as first-class functions; cache=True keeps them on disk with the module.
_KERNEL_ENTRY_POINTS = '''
# ---- C-callable twins for the solver kernels (the generated-module contract) ----
from ldnsim.solver import RHS_SIGNATURE as _RHS_SIGNATURE, JAC_SIGNATURE as _JAC_SIGNATURE

if numba.config.DISABLE_JIT:
    rhs_cfunc, jac_cfunc, outputs_cfunc = rhs, jac, outputs
    jac_nonzeros_cfunc = jac_nonzeros
else:
    # _nrt=False: no reference counting of the arrays on every call (the generated functions
    # never allocate); with it on, each call paid six atomic operations.
    @numba.cfunc(_RHS_SIGNATURE, cache=True, error_model="numpy", _nrt=False)
    def rhs_cfunc(t, y, p, dydt):
        rhs(t, y, p, dydt)

    @numba.cfunc(_JAC_SIGNATURE, cache=True, error_model="numpy", _nrt=False)
    def jac_cfunc(t, y, p, J):
        jac(t, y, p, J)

    @numba.cfunc(_JAC_SIGNATURE, cache=True, error_model="numpy", _nrt=False)
    def jac_nonzeros_cfunc(t, y, p, J):
        jac_nonzeros(t, y, p, J)

    @numba.cfunc(_RHS_SIGNATURE, cache=True, error_model="numpy", _nrt=False)
    def outputs_cfunc(t, y, p, out):
        outputs(t, y, p, out)
'''

_LU_ENTRY_POINTS = '''
from ldnsim.solver import LU_FACTOR_SIGNATURE as _LU_FACTOR_SIGNATURE
from ldnsim.solver import LU_SOLVE_SIGNATURE as _LU_SOLVE_SIGNATURE

if numba.config.DISABLE_JIT:
    lu_factor_cfunc, lu_solve_cfunc = lu_factor_sparse, lu_solve_sparse
else:
    @numba.cfunc(_LU_FACTOR_SIGNATURE, cache=True, error_model="numpy", _nrt=False)
    def lu_factor_cfunc(Jf, inv_hg, Wc, dinv):
        return lu_factor_sparse(Jf, inv_hg, Wc, dinv)

    @numba.cfunc(_LU_SOLVE_SIGNATURE, cache=True, error_model="numpy", _nrt=False)
    def lu_solve_cfunc(Wc, dinv, b):
        lu_solve_sparse(Wc, dinv, b)
'''


def generate_source(model: Model, *, key: str = "") -> str:
    """Return the Python source of the numba module for ``model``.

    Parameters
    ----------
    model : Model
    key : str
        The cache key, also stored as ``CACHE_KEY`` (``ldnsim.model.compiled`` prepends the
        line that lets a later process verify the file).

    Returns
    -------
    str
    """
    from ldnsim.model.symbolic import model_equations, python_lines

    rhs, jac, outs = model_equations(model)
    n, m = len(model.states), len(model.outputs)
    parts = [
        f"# Generated by ldnsim {__version__} for model {model.name!r}. Do not edit: it is",
        "# regenerated whenever the model's structure or the generator changes, and whenever its",
        "# content no longer matches the sha256 in the first line.",
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
    nonzero = [(i, j) for i in range(n) for j in range(n) if jac[i][j] != 0]
    # jac_nonzeros writes the structural non-zeros only; jac zeroes the Jacobian by a loop and
    # calls it: the same values as writing all n*n entries, in source that grows with the
    # non-zeros, not n**2. The solver's kernels start J at zero and call jac_nonzeros (the
    # zeroing was half of the Jacobian's cost per step).
    zero_fill = [f"for _i in range({n}):", f"    for _j in range({n}):",
                 "        J[_i, _j] = 0.0"]
    for name, args, exprs, targets in (
            ("rhs", "t, y, p, dydt", rhs, [f"dydt[{i}]" for i in range(n)]),
            ("jac_nonzeros", "t, y, p, J", [jac[i][j] for i, j in nonzero],
             [f"J[{i}, {j}]" for i, j in nonzero]),
            ("outputs", "t, y, p, out", outs, [f"out[{k}]" for k in range(m)])):
        parts += ["", _JIT, f"def {name}({args}):"]
        body = python_lines(exprs, targets, mapping)
        parts += ["    " + line for line in body] or ["    pass"]
        parts.append("")
    parts += ["", _JIT, "def jac(t, y, p, J):"]
    parts += ["    " + line for line in zero_fill + ["jac_nonzeros(t, y, p, J)"]]
    parts.append("")
    parts += [_KERNEL_ENTRY_POINTS.rstrip("\n"), ""]
    parts += _lu_part(n, nonzero)
    return "\n".join(parts) + "\n"


def _lu_part(n, nonzero):
    """The generated straight-line sparse LU and its twins (``lucode``), or None names."""
    from ldnsim.model.lucode import lu_lines

    pattern = [[False] * n for _ in range(n)]
    for i, j in nonzero:
        pattern[i][j] = True
    lines, digest = lu_lines(pattern, _JIT_NO_NRT) if n else ([], None)
    head = ["", "# ---- straight-line sparse LU of W = I/(h gamma) - J (ldnsim.model.lucode) ----",
            f"SPARSE_LU_DIGEST = {digest!r}"]
    if not lines:
        return head + ["lu_factor_sparse = lu_solve_sparse = None",
                       "lu_factor_cfunc = lu_solve_cfunc = None", ""]
    return head + ["", ""] + lines + ["", _LU_ENTRY_POINTS.rstrip("\n"), ""]


def _name_mapping(model):
    """How each model name is spelled in generated code."""
    mapping = {s.name: f"y[{i}]" for i, s in enumerate(model.states)}
    mapping.update({p.name: f"p[{i}]" for i, p in enumerate(model.parameters)})
    offset = len(model.parameters)
    mapping.update({u.name: f"p[{offset + j}]" for j, u in enumerate(model.inputs)})
    mapping["t"] = "t"
    return mapping
