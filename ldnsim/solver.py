"""Public low-level solver API over the numba kernels.

>>> res = integrate(rhs, y0, t_eval, p, jac=jac, method="rodas5p", rtol=1e-6, atol=1e-9)

``rhs(t, y, p, dydt)`` and ``jac(t, y, p, J)`` are ``@numba.njit`` functions (or numba
``cfunc`` objects of the same signature) that write ``dydt`` (n,) and ``J`` (n, n) in place.
The kernels are compiled once for all right-hand sides: each function is handed to them as a
first-class function of one fixed signature, so a new model costs only the compilation of its
own ``rhs``/``jac``, and a new ``p``, ``y0`` or dose table never recompiles anything.

The contract, which the kernels do not check
--------------------------------------------
The functions run as machine code without bounds checks (numba's default), so they must index
only ``y[0:n]`` and ``dydt[0:n]`` (n = ``len(y0)``), ``J[0:n, 0:n]``, ``p[0:k]`` (k = the length
of ``p``, or of a row of ``ps``) and ``out[0:n_outputs]``. An index outside these reads or
writes memory that is not the array's (in a batch, possibly the next row's parameters), and no
error is raised. ``boundscheck=True`` checks it: each function is compiled once more with numba's
``boundscheck`` option and called at the start point of every row, into arrays of exactly these
sizes, before anything is integrated; an index outside them is a ``ValueError`` naming the
function. It checks the code path taken at the start point (branches taken only later are not
seen) and costs one extra compilation per function and process. Compiled models
(``ldnsim.model``) are generated to this contract, and ``ldnsim.simulation.run_rows`` checks
their ``p`` and ``y0`` lengths against the model instead.
"""
from __future__ import annotations

import contextlib
import enum
import threading
import warnings
from dataclasses import dataclass, field

import numba
import numba.core.ccallback
import numba.core.registry
import numpy as np
from numba import types

from . import _sparsity
from ._kernels import driver
from ._limits import noticed
from .errors import SolverError
from .events import normalise_doses

__all__ = ["integrate", "integrate_batch", "Status", "METHODS", "Solution", "BatchSolution",
           "as_kernel_function", "RHS_SIGNATURE", "JAC_SIGNATURE", "LU_FACTOR_SIGNATURE",
           "LU_SOLVE_SIGNATURE", "MAX_STEPS_LIMIT",
           "MIN_RTOL", "check_max_steps"]

METHODS = {
    "rodas5p": driver.METHOD_RODAS5P,
    "rodas3": driver.METHOD_RODAS3,
    "dopri5": driver.METHOD_DOPRI5,
    "auto": driver.METHOD_AUTO,
}
"""Method names -> kernel ids.

``rodas5p`` (Steinebach 2023; order 5, 8 stages) is for stiff problems. A known limit: far
into the stiff regime its dense output suffers order reduction, so outputs *between* steps can
be off while the step values are right (Prothero-Robinson with lambda = 1e8: 760 x tol at
rtol 1e-3, 2.6e4 x at 1e-6; 11-15 x at lambda = 1e4; the LDN model's outputs stay within 0.21 x
tol, benchmarks/README.md).

``rodas3`` (Sandu et al. 1997; order 3, 4 stages: 2 new right-hand sides and 4 linear solves
a step against Rodas5P's 7 and 8) is an option for ROBER-like kinetics at loose tolerances
(about 2 to 5 digits), where its cheaper steps win; on the other problems measured (POLLU, a
PK/PD model, the LDN model) Rodas5P is faster at every accuracy both reach. Its outputs come
from the cubic Hermite interpolant through y and f at both ends of a step, and a step is
accepted only if that interpolant passes an error test of its own (``driver._segment_rodas``),
so its outputs stay within tolerance also far into the stiff regime, but there its steps
shrink with the stiffness (Prothero-Robinson, lambda = 1e8, rtol 1e-6: 4,371 steps against
Rodas5P's 12), and after a bolus into a component relaxing at lambda = 1e12 (at t = 40, rtol
1e-6) it stops with ``STEP_UNDERFLOW``: the test asks for steps below the resolution of t. With a
finite-difference Jacobian it loses digits where the Jacobian's slow eigenvalues matter (ROBER
to t = 1e11 at rtol 1e-10: 7.6 digits, 12.0 with the analytic Jacobian). Its steps follow I
control (safety 0.7), not Rodas5P's PI gains: less work at the same accuracy (PI cost 1.04-1.29x
on seven problems), but errors further from the tolerance: on the LDN model's four benchmark
outputs 3.7-7.5 x tol at rtol 1e-6 ... 1e-2, over all its states up to 10.7 x at rtol 1e-2
(Rodas5P 0.21 x, and faster there at every accuracy both reach); ``control.py`` and
benchmarks/README.md say more.

``dopri5`` (Dormand-Prince 5(4)) is for non-stiff problems; ``auto`` starts with DOPRI5 and
runs Hairer's stiffness test after every accepted step (``h * |lambda|`` estimated from the
last two stages; 15 steps at the stability boundary declare the problem stiff, as
``dopri5.f`` does), then goes on with Rodas5P from that step for the rest of the trajectory.
Each trajectory decides for itself; the results are within tolerance of either method's."""

STIFF_METHODS = ("rodas5p", "rodas3")
"""Methods that never run an explicit step (``auto`` may run a few before it switches)."""

#: The method of the simulation and experiment layers when none is given.
DEFAULT_METHOD = "auto"

#: Smallest ``rtol`` accepted: below it double precision cannot deliver the accuracy asked for.
MIN_RTOL = 100 * float(np.finfo(float).eps)
#: Largest ``max_steps`` accepted (the kernels count steps in int64; a billion steps is hours
#: of computing for one trajectory, so more is a typo).
MAX_STEPS_LIMIT = 1_000_000_000

RHS_SIGNATURE = types.void(types.float64, types.float64[::1], types.float64[::1],
                           types.float64[::1])
JAC_SIGNATURE = types.void(types.float64, types.float64[::1], types.float64[::1],
                           types.float64[:, ::1])
LU_FACTOR_SIGNATURE = types.boolean(types.float64[::1], types.float64, types.float64[::1],
                                    types.float64[::1])
LU_SOLVE_SIGNATURE = types.void(types.float64[::1], types.float64[::1], types.float64[::1])
STAT_NAMES = ("n_accepted", "n_rejected", "n_rhs", "n_jac", "n_lu", "n_lu_dense")
"""Counters in ``res.stats``: accepted and rejected steps, RHS and Jacobian evaluations, LU
decompositions, and of those the dense ones taken although a sparse plan was in use (see
``jac_sparsity``)."""


class Status(enum.IntEnum):
    """Outcome of one trajectory; ``Status.X.message`` says what happened and what to try."""

    SUCCESS = driver.SUCCESS
    MAX_STEPS = driver.MAX_STEPS
    STEP_UNDERFLOW = driver.STEP_UNDERFLOW
    NON_FINITE = driver.NON_FINITE
    SINGULAR = driver.SINGULAR

    @property
    def message(self) -> str:
        return _MESSAGES[self]


_MESSAGES = {
    Status.SUCCESS: "The integration succeeded.",
    Status.MAX_STEPS: ("The maximum number of solver steps was reached. Try increasing "
                       "max_steps, or use a stiff method (rodas5p or auto) if the problem "
                       "is stiff."),
    Status.STEP_UNDERFLOW: ("The step size fell below the floating-point resolution of the "
                            "time. The solution may blow up or have a discontinuity the "
                            "solver was not told about; check the model and the doses."),
    Status.NON_FINITE: ("The state became NaN or infinite. Check the model for divisions "
                        "by zero, overflowing exponentials or parameters out of range."),
    Status.SINGULAR: ("The Rosenbrock matrix I/(h*gamma) - J was singular even for tiny "
                      "steps. Check the Jacobian (NaN or infinite entries?)."),
}


@dataclass(frozen=True)
class Solution:
    """Result of :func:`integrate`: ``t`` (m,), ``y`` (m, n), ``status``, ``stats``, and
    ``outputs`` (m, n_outputs) when an outputs function was given (else None)."""

    t: np.ndarray
    y: np.ndarray
    status: Status
    stats: dict = field(default_factory=dict)
    outputs: np.ndarray | None = None

    @property
    def success(self) -> bool:
        return self.status == Status.SUCCESS

    @property
    def message(self) -> str:
        return self.status.message


@dataclass(frozen=True)
class BatchSolution:
    """Result of :func:`integrate_batch`: ``y`` (r, m, n), ``status`` (r,) int array,
    ``stats`` dict of (r,) int arrays, ``outputs`` (r, m, n_outputs) or None."""

    t: np.ndarray
    y: np.ndarray
    status: np.ndarray
    stats: dict = field(default_factory=dict)
    outputs: np.ndarray | None = None

    @property
    def success(self) -> np.ndarray:
        return self.status == Status.SUCCESS

    def messages(self) -> list[str]:
        """One plain-language line for each distinct failure, with the rows it hit."""
        out = []
        for code in np.unique(self.status):
            if code == Status.SUCCESS:
                continue
            rows = np.flatnonzero(self.status == code)
            shown = ", ".join(str(r) for r in rows[:5]) + (", ..." if rows.size > 5 else "")
            out.append(f"{rows.size} row(s) [{shown}]: {Status(int(code)).message}")
        return out


# ---------------------------------------------------------------------------- functions
_converted: dict = {}
_convert_lock = threading.Lock()


def _placeholder_jac(t, y, p, J):  # never called: have_jac is False when it is passed
    pass


def as_kernel_function(f, signature=RHS_SIGNATURE):
    """Return ``f`` in the form the kernels call: a numba ``cfunc`` of ``signature``.

    Accepts a numba ``cfunc`` (returned as is), an ``@numba.njit`` dispatcher (its Python
    function is compiled once more as a ``cfunc`` and memoised) or, under
    ``NUMBA_DISABLE_JIT=1``, any Python callable.
    """
    if numba.config.DISABLE_JIT:
        return f
    if isinstance(f, numba.core.ccallback.CFunc):
        return f
    py_func = getattr(f, "py_func", None)
    if py_func is None:
        if callable(f):
            raise TypeError(
                f"{getattr(f, '__name__', f)!r} is a plain Python function; decorate it with "
                "@numba.njit so the solver can call it without the interpreter.")
        raise TypeError(f"expected an @numba.njit function, got {type(f).__name__}")

    def build():
        opts = {k: v for k, v in getattr(f, "targetoptions", {}).items() if k == "fastmath"}
        try:
            # Without numba's reference counting first (as the kernels run): a function that
            # passes its arrays on to other jitted functions would otherwise pay atomic
            # increments and decrements on every call. A function that allocates needs it.
            return numba.cfunc(signature, error_model="numpy", _nrt=False, **opts)(py_func)
        except numba.core.errors.NumbaError:
            pass
        try:
            return numba.cfunc(signature, error_model="numpy", **opts)(py_func)
        except numba.core.errors.TypingError as exc:
            raise TypeError(
                f"{py_func.__name__} does not compile with the signature "
                f"{signature}; it must be f(t, y, p, out) writing into out. numba said:\n{exc}"
            ) from None

    return _memoised(_converted, f, signature, build)


def _memoised(cache, f, signature, build):
    """``build()`` once per function and signature (thread-safe; a failure is not kept)."""
    key = (id(f), str(signature))
    with _convert_lock:
        hit = cache.get(key)
        if hit is not None and hit[0] is f:  # the entry holds f, so its id is not reused
            return hit[1]
        value = build()
        cache[key] = (f, value)
        return value


_PLACEHOLDER: dict = {}


_NRT_FREE: dict = {}


def _inlinable(f, signature):
    """True if the njit function ``f`` compiles with numba's reference counting off.

    The kernels are compiled with it off (see docs/architecture.md), and a function they call
    directly (``specialize=True``) is compiled in the same mode: it then cannot allocate
    arrays (``np.empty``, copies, array expressions). Costs one extra compilation of ``f``
    per process (memoised).
    """
    def build():
        try:
            numba.njit(signature, _nrt=False, error_model="numpy")(f.py_func)
            return True
        except numba.core.errors.NumbaError:
            return False

    return _memoised(_NRT_FREE, f, signature, build)


def _no_outputs(t, y, p, out):  # never called: the outputs array has no columns
    pass


def _placeholder(name, f, signature):
    """A do-nothing function in the form the kernels take (compiled once per process)."""
    if name not in _PLACEHOLDER:
        _PLACEHOLDER[name] = (f if numba.config.DISABLE_JIT
                              else as_kernel_function(numba.njit(f), signature))
    return _PLACEHOLDER[name]


def _functions(rhs, jac, outputs=None, specialize=False):
    """``(rhs, jac, outputs, have_jac)`` in the form the kernels call."""
    if specialize and not numba.config.DISABLE_JIT:
        # The dispatchers themselves: numba compiles the kernels once more for these functions
        # and can inline them (sometimes ~1.1-1.2x faster on 3-4 state models, not reliably),
        # at the cost of seconds of compilation per new function in every process (not
        # cached across processes).
        given = [(f, sig) for f, sig in ((rhs, RHS_SIGNATURE), (jac, JAC_SIGNATURE),
                                          (outputs, RHS_SIGNATURE)) if f is not None]
        for f, _ in given:
            if not isinstance(f, numba.core.registry.CPUDispatcher):
                raise TypeError("specialize=True needs @numba.njit functions for rhs, jac and "
                                f"outputs, got {getattr(f, '__name__', type(f).__name__)!r}")
        fallback = [f.__name__ for f, sig in given if not _inlinable(f, sig)]
        if not fallback:
            if "njit_outputs" not in _PLACEHOLDER:
                _PLACEHOLDER["njit_outputs"] = numba.njit(_no_outputs)
            return (rhs, rhs if jac is None else jac,
                    _PLACEHOLDER["njit_outputs"] if outputs is None else outputs,
                    jac is not None)
    else:
        fallback = []
    # A function that does not compile at all raises as_kernel_function's one-line error here
    # (what the signature must be), before any fallback warning.
    rhs_k = as_kernel_function(rhs, RHS_SIGNATURE)
    jac_k = (_placeholder("jac", _placeholder_jac, JAC_SIGNATURE) if jac is None
             else as_kernel_function(jac, JAC_SIGNATURE))
    out_k = (_placeholder("outputs", _no_outputs, RHS_SIGNATURE) if outputs is None
             else as_kernel_function(outputs, RHS_SIGNATURE))
    if fallback:  # they compile on their own, but not inside the kernels: they allocate
        warnings.warn(
            f"specialize=True: {' and '.join(fallback)} cannot be inlined into the solver "
            "kernels (it allocates arrays, or calls something that does, and the kernels run "
            "without numba's reference counting); using the default kernels instead, with "
            "the same results. Write into the output array and preallocated work arrays to "
            "use specialize=True.", RuntimeWarning, stacklevel=3)
    return rhs_k, jac_k, out_k, jac is not None


def _n_outputs(outputs, n_outputs):
    if outputs is None:
        if n_outputs not in (None, 0):
            raise ValueError("n_outputs is given but outputs is not")
        return 0
    if isinstance(n_outputs, bool) or not isinstance(n_outputs, (int, np.integer)) \
            or n_outputs < 0:
        raise ValueError(f"outputs= needs n_outputs, the number of values it writes (an int "
                         f">= 0), got {n_outputs!r}")
    return int(n_outputs)


# ---------------------------------------------------------------------------- arguments
def _method_id(method):
    try:
        return METHODS[method]
    except KeyError:
        raise ValueError(f"unknown method {method!r}; choose one of {sorted(METHODS)}") from None


def _kernel_array(x):
    """float64, C order and writeable. numba types a read-only array as a type of its own, so
    a read-only argument (a broadcast view, a frozen array) would compile the kernels a second
    time, for seconds."""
    a = np.ascontiguousarray(x, dtype=np.float64)
    return a if a.flags.writeable else a.copy()


def _float_array(x, name, ndim):
    a = _kernel_array(x)
    if a.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-dimensional, got shape {a.shape}")
    return a


def _check_common(t_eval, rtol, atol, n, max_steps, first_step):
    t_eval = _float_array(t_eval, "t_eval", 1)
    if t_eval.size < 1:
        raise ValueError("t_eval must hold at least the start time")
    if not np.all(np.isfinite(t_eval)):
        raise ValueError("t_eval must be finite")
    if np.any(np.diff(t_eval) < 0):
        raise ValueError("t_eval must be increasing (non-decreasing); sort it first")
    rtol = float(rtol)
    if not (np.isfinite(rtol) and rtol > 0):
        raise ValueError(f"rtol must be a positive number, got {rtol}")
    if rtol < MIN_RTOL:
        raise ValueError(f"rtol={rtol} is below what double precision can deliver; use >= "
                         f"{MIN_RTOL:.3g}")
    atol_in = np.asarray(atol, dtype=np.float64)
    if atol_in.ndim > 1 or atol_in.size not in (1, n):
        raise ValueError(f"atol must be a scalar or one value per state ({n}); got shape "
                         f"{atol_in.shape}")
    atol_arr = _kernel_array(np.broadcast_to(atol_in.reshape(-1), (n,)))
    if not np.all(np.isfinite(atol_arr)) or np.any(atol_arr <= 0):
        raise ValueError("atol must be positive and finite (a scalar or one per state); pure "
                         "relative error control breaks down wherever a state is zero")
    max_steps = check_max_steps(max_steps)
    fs = 0.0 if first_step is None else float(first_step)
    if first_step is not None and not (np.isfinite(fs) and fs > 0):
        raise ValueError("first_step must be a positive number or None")
    return t_eval, rtol, atol_arr, max_steps, fs


def check_max_steps(max_steps) -> int:
    """``max_steps`` as an int in ``1..MAX_STEPS_LIMIT``; integral floats (``1e5``) accepted.

    Raises
    ------
    ValueError
        Not a whole number (``2.9``, ``True``, text), or outside the range.
    """
    if isinstance(max_steps, (bool, np.bool_)):
        ok = False
    elif isinstance(max_steps, (int, np.integer)):
        ok = bool(1 <= max_steps <= MAX_STEPS_LIMIT)
    elif isinstance(max_steps, (float, np.floating)):
        ok = bool(float(max_steps).is_integer() and 1 <= max_steps <= MAX_STEPS_LIMIT)
    else:
        ok = False
    if not ok:
        raise ValueError(f"max_steps must be a whole number from 1 to {MAX_STEPS_LIMIT:,}, "
                         f"got {max_steps!r}")
    return int(max_steps)


def _check_states(n):
    if n == 0:
        raise ValueError("the system has no states (y0 is empty): there is nothing to "
                         "integrate")


_CHECKED: dict = {}


def _bounds_checked(f, name):
    """``f`` compiled with numba's ``boundscheck`` (memoised), or its Python function."""
    py = getattr(f, "py_func", None) or getattr(f, "_pyfunc", None)
    if py is None:
        if numba.config.DISABLE_JIT and callable(f):
            return f
        raise TypeError(f"boundscheck=True needs the Python source of {name}: pass an "
                        "@numba.njit function or a numba cfunc")
    if numba.config.DISABLE_JIT:
        return py
    return _memoised(_CHECKED, f, "boundscheck",
                     lambda: numba.njit(boundscheck=True, error_model="numpy")(py))


def _probe_bounds(rhs, jac, outputs, n_outputs, t0, y0s, ps):
    """Call each function at the start point of every row, bounds-checked (boundscheck=True).

    Raises
    ------
    ValueError
        A function indexes outside ``y``, ``p`` or its output array.
    """
    n, k = y0s.shape[1], ps.shape[1]
    calls = [("rhs(t, y, p, dydt)", rhs, lambda: np.zeros(n),
              f"y and dydt have {n} entries, p has {k}")]
    if jac is not None:
        calls.append(("jac(t, y, p, J)", jac, lambda: np.zeros((n, n)),
                      f"y has {n} entries, J is {n} x {n}, p has {k}"))
    if outputs is not None:
        calls.append(("outputs(t, y, p, out)", outputs, lambda: np.zeros(n_outputs),
                      f"y has {n} entries, p has {k}, out has n_outputs = {n_outputs}"))
    for label, f, make_out, sizes in calls:
        checked = _bounds_checked(f, label.partition("(")[0])
        for r in range(ps.shape[0]):
            try:
                with np.errstate(all="ignore"):
                    checked(float(t0), y0s[r].copy(), ps[r].copy(), make_out())
            except IndexError as exc:
                row = f" (row {r})" if ps.shape[0] > 1 else ""
                raise ValueError(f"{label} indexes outside its arrays at the start "
                                 f"point{row}: {exc}; {sizes}") from None


_PLANS: dict = {}


def _first_call(kernel):
    """A notice for a kernel's first call in this process (numba compiles or loads it)."""
    if getattr(kernel, "signatures", True):
        return contextlib.nullcontext()
    return noticed("loading or compiling the solver kernels (slow on a first run) ...")


def _plan(jac_sparsity, method_id, rhs_k, jac_k, have_jac, t0, y0, p, exact=False):
    """The sparse-LU plan for this call (``_sparsity``); the empty plan means dense LU.
    ``exact`` (honoured with an analytic ``jac`` and a given pattern): see ``make_plan``."""
    n = y0.size
    if jac_sparsity is not None and np.ndim(jac_sparsity) == 0:
        if jac_sparsity is True or jac_sparsity is np.True_:
            raise ValueError("jac_sparsity=True is ambiguous: pass None to probe the Jacobian's "
                             "structure, False for the dense LU, or an (n, n) boolean pattern")
        if not isinstance(jac_sparsity, (bool, np.bool_)):
            raise ValueError(f"jac_sparsity must be None, False or an (n, n) boolean pattern, "
                             f"got {jac_sparsity!r}")
        jac_sparsity = False
    if (jac_sparsity is False or method_id == driver.METHOD_DOPRI5
            or n < _sparsity.SPARSE_MIN_N):
        return _sparsity.empty_plan()
    if jac_sparsity is None:
        pattern = driver.probe_pattern(rhs_k, jac_k, have_jac, t0, y0, p)
    else:
        pattern = _sparsity.check_pattern(jac_sparsity, n)
    exact = bool(exact and have_jac and jac_sparsity is not None)
    key = np.packbits(pattern).tobytes() + n.to_bytes(4, "little") + bytes([exact])
    plan = _PLANS.get(key)
    if plan is None:
        plan = _sparsity.make_plan(pattern, exact=exact)
        if len(_PLANS) > 64:
            _PLANS.clear()
        _PLANS[key] = plan
    return plan


def _no_lu_factor(Jf, inv_hg, Wc, dinv):  # never called: glu's use flag is False
    return False


def _no_lu_solve(Wc, dinv, b):  # never called
    pass


def _glu(sparse_lu, plan):
    """The kernels' ``glu`` argument: ``(use, factor, solve)`` (``steps.rosenbrock_step``).

    Raises
    ------
    ValueError
        ``sparse_lu`` was generated for another plan than the one this call factors with.
    """
    if sparse_lu is None or plan[0].size == 0:
        return (False, _placeholder("lu_factor", _no_lu_factor, LU_FACTOR_SIGNATURE),
                _placeholder("lu_solve", _no_lu_solve, LU_SOLVE_SIGNATURE))
    try:
        factor, solve, digest = sparse_lu
    except (TypeError, ValueError):
        raise ValueError("sparse_lu must be (factor, solve, plan digest), as "
                         "CompiledModel.sparse_lu gives it") from None
    if digest != _sparsity.plan_digest(plan):
        raise ValueError("sparse_lu was generated for another sparse-LU plan than this call's: "
                         "pass the jac and jac_sparsity it was generated with, and "
                         "jac_sparsity_exact=True")
    return (True, factor, solve)


_JAC_SPARSITY_DOC = """jac_sparsity : None, False or (n, n) booleans. Where J can be non-zero.
        With 8 or more states the Rosenbrock matrix is then factored by a sparse LU in a
        fill-reducing order (much less work on typical ODE models). None (default) probes J's
        structure at two points near ``y0`` (of the first row); False always uses the dense
        LU. The pattern is not trusted unless ``jac_sparsity_exact=True`` promises it: a step
        whose J has a non-zero outside it, or whose static pivot is small, is factored densely
        with partial pivoting instead (counted in ``stats["n_lu_dense"]``), so a wrong pattern
        costs speed, not accuracy. (With the promise, J is not checked outside the pattern;
        small pivots still are.)"""


# ---------------------------------------------------------------------------- API
def integrate(rhs, y0, t_eval, p, *, jac=None, method="rodas5p", rtol=1e-6, atol=1e-9,
              doses=None, outputs=None, n_outputs=None, max_steps=100_000, first_step=None,
              throw=True, autonomous=False, specialize=False, jac_sparsity=None,
              boundscheck=False):
    """Integrate one initial-value problem through its doses.

    Parameters
    ----------
    rhs : njit function ``rhs(t, y, p, dydt)``.
    y0 : (n,) initial state at ``t_eval[0]``.
    t_eval : (m,) non-decreasing output times; ``t_eval[0]`` is the start time.
    p : (k,) float64 parameters (inputs switched by events live here too).
    jac : njit function ``jac(t, y, p, J)``, optional; finite differences otherwise.
    method : one of :data:`METHODS` (``"auto"``: DOPRI5, switching to Rodas5P when the
        problem turns out stiff; ``"rodas3"``: ROBER-like kinetics at loose tolerances, with
        errors of several times tol on a dosed model such as the LDN model; see
        :data:`METHODS` for each method's limits).
    rtol, atol : relative and absolute tolerance (atol scalar or (n,)).
    doses : None, ``(times, state_index, amounts)`` boluses, ``(times, index, amounts, kind)``
        with kind 0 = add to state, 1 = add to parameter slot, or a ``dosing.EventTable``.
        Outputs are right-continuous: an output at a dose time includes the dose.
    outputs, n_outputs : njit function ``outputs(t, y, p, out)`` and the length of ``out``,
        optional: evaluated at every output time with the parameters in force then (after the
        events at that time), into ``Solution.outputs`` (m, n_outputs).
    max_steps : int, accepted plus rejected steps over the whole run (1 to
        ``MAX_STEPS_LIMIT`` = 10**9).
    first_step : initial step size, or None to choose one.
    throw : raise :class:`ldnsim.SolverError` on failure (else return the status).
    autonomous : declare that ``rhs`` does not depend on ``t`` between doses, which saves one
        RHS evaluation per Rosenbrock step (the time derivative is not estimated).
    specialize : compile the kernels for these very functions (inlined; faster per step, but
        seconds of compilation per new function and process). The default hands the functions
        to kernels compiled once for all models and cached on disk. Functions that allocate
        arrays cannot be inlined (the kernels run without numba's reference counting): they
        get the default kernels and a RuntimeWarning.
    {jac_sparsity}
    boundscheck : check, before integrating, that ``rhs``, ``jac`` and ``outputs`` index only
        inside their arrays (see the module docstring: the functions are called once,
        compiled with numba's bounds checks, at the start point).

    Returns
    -------
    Solution with ``t`` (m,), ``y`` (m, n), ``status``, ``stats``, ``outputs``.

    Raises
    ------
    ValueError
        Bad arguments: shapes, tolerances, ``max_steps``, an empty system, an index outside
        the arrays found by ``boundscheck=True``.
    SolverError
        The integration failed and ``throw`` is true.
    """
    y0 = _float_array(y0, "y0", 1)
    p = _float_array(p, "p", 1)
    if not np.all(np.isfinite(y0)):
        raise ValueError("y0 must be finite; it holds NaN or inf")
    n = y0.size
    _check_states(n)
    t_eval, rtol, atol_arr, max_steps, fs = _check_common(t_eval, rtol, atol, n, max_steps,
                                                          first_step)
    mid = _method_id(method)
    n_out = _n_outputs(outputs, n_outputs)
    ev = normalise_doses(doses, n, p.size, t_eval[0])
    if boundscheck:
        _probe_bounds(rhs, jac, outputs, n_out, t_eval[0], y0[None], p[None])
    rhs_k, jac_k, out_k, have_jac = _functions(rhs, jac, outputs, specialize)
    plan = _plan(jac_sparsity, mid, rhs_k, jac_k, have_jac, t_eval[0], y0, p)
    out = np.empty((t_eval.size, n))
    outs = np.empty((t_eval.size, n_out))
    stats = np.zeros(driver.N_STATS, np.int64)
    with _first_call(driver.solve_one):
        code = driver.solve_one(rhs_k, jac_k, out_k, mid, have_jac, bool(autonomous), y0,
                                t_eval, p, ev[0][0], ev[1][0], ev[2][0], ev[3][0], rtol,
                                atol_arr, max_steps, fs, plan, _glu(None, plan), out, outs,
                                stats)
    status = Status(int(code))
    if throw and status != Status.SUCCESS:
        raise SolverError(status.message, status)
    return Solution(t=t_eval, y=out, status=status, stats=dict(zip(STAT_NAMES, stats.tolist())),
                    outputs=outs if outputs is not None else None)


def integrate_batch(rhs, y0s, t_eval, ps, *, jac=None, method="rodas5p", rtol=1e-6, atol=1e-9,
                    doses=None, outputs=None, n_outputs=None, max_steps=100_000,
                    first_step=None, throw=False, autonomous=False, specialize=False,
                    jac_sparsity=None, boundscheck=False, jac_sparsity_exact=False,
                    sparse_lu=None):
    """Integrate many rows (parameter sets) in parallel on numba threads.

    One failing row never stops the others: its status says why and its values from the
    failure on are NaN. Results are bitwise identical whatever the number of threads
    (``numba.set_num_threads``).

    Parameters
    ----------
    rhs, jac, outputs, n_outputs : as in :func:`integrate`, shared by every row.
    y0s : (r, n) initial states, or (n,) shared by all rows.
    t_eval : (m,) non-decreasing output times, shared.
    ps : (r, k) parameters, one row per trajectory.
    doses : as in :func:`integrate` (shared by all rows), or
        ``(times, index, amounts[, kind])`` as 2-D arrays (r or 1, d) with one row of events
        per trajectory, padded with ``time = inf``.
    method, rtol, atol, max_steps, first_step, autonomous, specialize : as in
        :func:`integrate`.
    throw : raise :class:`ldnsim.SolverError` when any row fails (default: report it in
        ``status``).
    jac_sparsity : as in :func:`integrate`; with None the Jacobian's structure is probed at
        the first row, so pass the pattern when results must not depend on which row comes
        first.
    boundscheck : as in :func:`integrate`, at the start point of every row.
    jac_sparsity_exact : promise that J is exactly zero outside ``jac_sparsity`` after every
        call of ``jac``: ``jac`` writes zeros there, or never writes there at all (the kernels
        start J at zero; a generated model's ``jac_nonzeros``, which ``simulation.run_rows``
        passes with True, writes only the pattern's entries). The sparse LU then skips
        checking J outside the pattern each step; a broken promise is not detected (without
        it, such a J makes the step fall back to the dense LU).
    sparse_lu : None, or ``(factor, solve, digest)``: a straight-line sparse LU generated for
        the plan of ``jac_sparsity`` (``CompiledModel.sparse_lu``; ``ldnsim.model.lucode``),
        called instead of the generic sparse LU, with the same results bit for bit. Needs
        ``jac``, ``jac_sparsity`` and ``jac_sparsity_exact=True`` (``digest`` must match
        that plan); ignored where the solver uses no sparse plan (``dopri5``).

    Returns
    -------
    BatchSolution with ``y`` (r, m, n), ``status`` (r,) int, ``stats`` dict of (r,) arrays,
    ``outputs`` (r, m, n_outputs) when ``outputs`` is given.

    Raises
    ------
    ValueError
        Bad arguments (as in :func:`integrate`); ``sparse_lu`` not generated for this plan.
    SolverError
        Some row failed and ``throw`` is true.
    """
    ps = _float_array(ps, "ps", 2)
    r = ps.shape[0]
    y0s = np.asarray(y0s, dtype=np.float64)
    if y0s.ndim == 1:
        y0s = np.broadcast_to(y0s, (r, y0s.size))
    y0s = _kernel_array(y0s)
    if y0s.ndim != 2 or y0s.shape[0] != r:
        raise ValueError(f"y0s must have shape (r, n) or (n,), with r = ps.shape[0] = {r}; "
                         f"got {np.shape(y0s)}")
    n = y0s.shape[1]
    _check_states(n)
    t_eval, rtol, atol_arr, max_steps, fs = _check_common(t_eval, rtol, atol, n, max_steps,
                                                          first_step)
    mid = _method_id(method)
    n_out = _n_outputs(outputs, n_outputs)
    ev = normalise_doses(doses, n, ps.shape[1], t_eval[0], rows=r)
    if boundscheck:
        _probe_bounds(rhs, jac, outputs, n_out, t_eval[0], y0s, ps)
    rhs_k, jac_k, out_k, have_jac = _functions(rhs, jac, outputs, specialize)
    out = np.empty((r, t_eval.size, n))
    outs = np.empty((r, t_eval.size, n_out))
    status = np.zeros(r, np.int64)
    stats = np.zeros((r, driver.N_STATS), np.int64)
    if r:
        plan = _plan(jac_sparsity, mid, rhs_k, jac_k, have_jac, t_eval[0], y0s[0], ps[0],
                     exact=jac_sparsity_exact)
        glu = _glu(sparse_lu, plan)
        with _first_call(driver.solve_batch):
            driver.solve_batch(rhs_k, jac_k, out_k, mid, have_jac, bool(autonomous), y0s,
                               t_eval, ps, ev[0], ev[1], ev[2], ev[3], rtol, atol_arr,
                               max_steps, fs, plan, glu, out, outs, status, stats,
                               numba.get_num_threads())
    res = BatchSolution(t=t_eval, y=out, status=status,
                        stats={k: stats[:, i] for i, k in enumerate(STAT_NAMES)},
                        outputs=outs if outputs is not None else None)
    if throw and not np.all(res.success):
        raise SolverError("; ".join(res.messages()), None)
    return res


if integrate.__doc__:  # None under python -OO
    integrate.__doc__ = integrate.__doc__.replace("{jac_sparsity}", _JAC_SPARSITY_DOC)
