"""Public low-level solver API over the numba kernels.

>>> res = integrate(rhs, y0, t_eval, p, jac=jac, method="rodas5p", rtol=1e-6, atol=1e-9)

``rhs(t, y, p, dydt)`` and ``jac(t, y, p, J)`` are ``@numba.njit`` functions (or numba
``cfunc`` objects of the same signature) that write ``dydt`` (n,) and ``J`` (n, n) in place.
The kernels are compiled once for all right-hand sides: each function is handed to them as a
first-class function of one fixed signature, so a new model costs only the compilation of its
own ``rhs``/``jac``, and a new ``p``, ``y0`` or dose table never recompiles anything.
"""
from __future__ import annotations

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
from .errors import SolverError

__all__ = ["integrate", "integrate_batch", "Status", "METHODS", "Solution", "BatchSolution",
           "as_kernel_function", "RHS_SIGNATURE", "JAC_SIGNATURE"]

METHODS = {
    "rodas5p": driver.METHOD_RODAS5P,
    "dopri5": driver.METHOD_DOPRI5,
}
"""Method names -> kernel ids. ``rodas5p`` is for stiff problems (Steinebach 2023);
``dopri5`` (Dormand-Prince 5(4)) for non-stiff ones."""

STIFF_METHODS = ("rodas5p",)

RHS_SIGNATURE = types.void(types.float64, types.float64[::1], types.float64[::1],
                           types.float64[::1])
JAC_SIGNATURE = types.void(types.float64, types.float64[::1], types.float64[::1],
                           types.float64[:, ::1])
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
                       "max_steps, or use a stiff method (rodas5p) if the problem is stiff."),
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
    """Result of :func:`integrate`: ``t`` (m,), ``y`` (m, n), ``status``, ``stats``."""

    t: np.ndarray
    y: np.ndarray
    status: Status
    stats: dict = field(default_factory=dict)

    @property
    def success(self) -> bool:
        return self.status == Status.SUCCESS

    @property
    def message(self) -> str:
        return self.status.message


@dataclass(frozen=True)
class BatchSolution:
    """Result of :func:`integrate_batch`: ``y`` (r, m, n), ``status`` (r,) int array,
    ``stats`` dict of (r,) int arrays."""

    t: np.ndarray
    y: np.ndarray
    status: np.ndarray
    stats: dict = field(default_factory=dict)

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


def _placeholder_jac_cfunc():
    return as_kernel_function(numba.njit(_placeholder_jac), JAC_SIGNATURE)


_PLACEHOLDER = {}


_NRT_FREE: dict = {}


def _inlinable(f, signature):
    """True if the njit function ``f`` compiles with numba's reference counting off.

    The kernels are compiled with it off (see docs/INTERFACES.md), and a function they call
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


def _functions(rhs, jac, specialize=False):
    if specialize and not numba.config.DISABLE_JIT:
        # The dispatchers themselves: numba compiles the kernels once more for this rhs/jac
        # and can inline them (sometimes ~1.1-1.2x faster on 3-4 state models, not reliably),
        # at the cost of seconds of compilation per new function in every process (not
        # cached across processes).
        for f in (rhs, jac):
            if f is not None and not isinstance(f, numba.core.registry.CPUDispatcher):
                raise TypeError("specialize=True needs @numba.njit functions for rhs and jac, "
                                f"got {getattr(f, '__name__', type(f).__name__)!r}")
        fallback = [f.__name__ for f, sig in ((rhs, RHS_SIGNATURE), (jac, JAC_SIGNATURE))
                    if f is not None and not _inlinable(f, sig)]
        if not fallback:
            if jac is None:
                return rhs, rhs, False
            return rhs, jac, True
    else:
        fallback = []
    # A function that does not compile at all raises as_kernel_function's one-line error here
    # (what the signature must be), before any fallback warning.
    rhs_k = as_kernel_function(rhs, RHS_SIGNATURE)
    if jac is None:
        if "jac" not in _PLACEHOLDER:
            _PLACEHOLDER["jac"] = (_placeholder_jac if numba.config.DISABLE_JIT
                                   else _placeholder_jac_cfunc())
        jac_k, have_jac = _PLACEHOLDER["jac"], False
    else:
        jac_k, have_jac = as_kernel_function(jac, JAC_SIGNATURE), True
    if fallback:  # they compile on their own, but not inside the kernels: they allocate
        warnings.warn(
            f"specialize=True: {' and '.join(fallback)} cannot be inlined into the solver "
            "kernels (it allocates arrays, or calls something that does, and the kernels run "
            "without numba's reference counting); using the default kernels instead, with "
            "the same results. Write into the output array and preallocated work arrays to "
            "use specialize=True.", RuntimeWarning, stacklevel=3)
    return rhs_k, jac_k, have_jac


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
    if rtol < 100 * np.finfo(float).eps:
        raise ValueError(f"rtol={rtol} is below what double precision can deliver; use >= 1e-14")
    atol_in = np.asarray(atol, dtype=np.float64)
    if atol_in.ndim > 1 or atol_in.size not in (1, n):
        raise ValueError(f"atol must be a scalar or one value per state ({n}); got shape "
                         f"{atol_in.shape}")
    atol_arr = _kernel_array(np.broadcast_to(atol_in.reshape(-1), (n,)))
    if not np.all(np.isfinite(atol_arr)) or np.any(atol_arr <= 0):
        raise ValueError("atol must be positive and finite (a scalar or one per state); pure "
                         "relative error control breaks down wherever a state is zero")
    if int(max_steps) < 1:
        raise ValueError("max_steps must be at least 1")
    fs = 0.0 if first_step is None else float(first_step)
    if first_step is not None and not (np.isfinite(fs) and fs > 0):
        raise ValueError("first_step must be a positive number or None")
    return t_eval, rtol, atol_arr, int(max_steps), fs


def _events(doses, n_states, n_params, t0, rows=None):
    """Normalise ``doses`` to four (R, d) arrays (R = 1 shared, or one per row)."""
    from .dosing import EventTable, as_events, pad_event_tables  # dosing must not import us

    if doses is not None and isinstance(doses, (tuple, list)) and len(doses) in (3, 4) \
            and np.ndim(doses[0]) == 2:
        arrs = [np.asarray(a) for a in doses]
        if len(arrs) == 3:
            arrs.append(np.zeros_like(arrs[0], dtype=np.int64))
        tt, idx, amt, kind = arrs
        if rows is not None and tt.shape[0] not in (1, rows):
            raise ValueError(f"per-row doses have {tt.shape[0]} rows, expected 1 or {rows}")
        keep = [tt[r] != np.inf for r in range(tt.shape[0])]  # +inf pads ragged rows
        per_row = [as_events((tt[r][keep[r]], idx[r][keep[r]], amt[r][keep[r]],
                              kind[r][keep[r]]), n_states, n_params)
                   for r in range(tt.shape[0])]
    else:
        per_row = [as_events(doses, n_states, n_params)]
    for times, *_ in per_row:
        if np.any(times < t0):
            raise ValueError(f"a dose at t={times[times < t0][0]:g} lies before the start time "
                             f"t_eval[0]={t0:g}; start the output grid at or before the first "
                             "dose")
    return pad_event_tables([EventTable(*row) for row in per_row])


_PLANS: dict = {}


def _plan(jac_sparsity, method_id, rhs_k, jac_k, have_jac, t0, y0, p):
    """The sparse-LU plan for this call (``_sparsity``); the empty plan means dense LU."""
    n = y0.size
    if jac_sparsity is not None and np.ndim(jac_sparsity) == 0:
        if jac_sparsity is True or jac_sparsity is np.True_:
            raise ValueError("jac_sparsity=True is ambiguous: pass None to probe the Jacobian's "
                             "structure, False for the dense LU, or an (n, n) boolean pattern")
        if not isinstance(jac_sparsity, (bool, np.bool_)):
            raise ValueError(f"jac_sparsity must be None, False or an (n, n) boolean pattern, "
                             f"got {jac_sparsity!r}")
        jac_sparsity = False
    if (jac_sparsity is False or method_id != driver.METHOD_RODAS5P
            or n < _sparsity.SPARSE_MIN_N):
        return _sparsity.empty_plan()
    if jac_sparsity is None:
        pattern = driver.probe_pattern(rhs_k, jac_k, have_jac, t0, y0, p)
    else:
        pattern = _sparsity.check_pattern(jac_sparsity, n)
    key = np.packbits(pattern).tobytes() + n.to_bytes(4, "little")
    plan = _PLANS.get(key)
    if plan is None:
        plan = _sparsity.make_plan(pattern)
        if len(_PLANS) > 64:
            _PLANS.clear()
        _PLANS[key] = plan
    return plan


_JAC_SPARSITY_DOC = """jac_sparsity : None, False or (n, n) booleans. Where J can be non-zero. With 8 or more
        states the Rosenbrock matrix is then factored by a sparse LU in a fill-reducing order
        (much less work on typical ODE models). None (default) probes J's structure at two
        points near ``y0`` (of the first row); False always uses the dense LU. The pattern is
        never trusted: a step whose J has a non-zero outside it, or whose static pivot is
        small, is factored densely with partial pivoting instead (counted in
        ``stats["n_lu_dense"]``), so a wrong pattern costs speed, not accuracy."""


# ---------------------------------------------------------------------------- API
def integrate(rhs, y0, t_eval, p, *, jac=None, method="rodas5p", rtol=1e-6, atol=1e-9,
              doses=None, max_steps=100_000, first_step=None, throw=True, autonomous=False,
              specialize=False, jac_sparsity=None):
    """Integrate one initial-value problem through its doses.

    Parameters
    ----------
    rhs : njit function ``rhs(t, y, p, dydt)``.
    y0 : (n,) initial state at ``t_eval[0]``.
    t_eval : (m,) non-decreasing output times; ``t_eval[0]`` is the start time.
    p : (k,) float64 parameters (inputs switched by events live here too).
    jac : njit function ``jac(t, y, p, J)``, optional; finite differences otherwise.
    method : one of :data:`METHODS`.
    rtol, atol : relative and absolute tolerance (atol scalar or (n,)).
    doses : None, ``(times, state_index, amounts)`` boluses, ``(times, index, amounts, kind)``
        with kind 0 = add to state, 1 = add to parameter slot, or a ``dosing.EventTable``.
        Outputs are right-continuous: an output at a dose time includes the dose.
    max_steps : int, accepted plus rejected steps over the whole run.
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

    Returns
    -------
    Solution with ``t`` (m,), ``y`` (m, n), ``status``, ``stats``.
    """
    y0 = _float_array(y0, "y0", 1)
    p = _float_array(p, "p", 1)
    if not np.all(np.isfinite(y0)):
        raise ValueError("y0 must be finite; it holds NaN or inf")
    n = y0.size
    t_eval, rtol, atol_arr, max_steps, fs = _check_common(t_eval, rtol, atol, n, max_steps,
                                                          first_step)
    mid = _method_id(method)
    ev = _events(doses, n, p.size, t_eval[0])
    rhs_k, jac_k, have_jac = _functions(rhs, jac, specialize)
    plan = _plan(jac_sparsity, mid, rhs_k, jac_k, have_jac, t_eval[0], y0, p)
    out = np.empty((t_eval.size, n))
    stats = np.zeros(driver.N_STATS, np.int64)
    code = driver.solve_one(rhs_k, jac_k, mid, have_jac, bool(autonomous), y0, t_eval, p,
                            ev[0][0], ev[1][0], ev[2][0], ev[3][0], rtol, atol_arr, max_steps,
                            fs, plan, out, stats)
    status = Status(int(code))
    if throw and status != Status.SUCCESS:
        raise SolverError(status.message, status)
    return Solution(t=t_eval, y=out, status=status, stats=dict(zip(STAT_NAMES, stats.tolist())))


def integrate_batch(rhs, y0s, t_eval, ps, *, jac=None, method="rodas5p", rtol=1e-6, atol=1e-9,
                    doses=None, max_steps=100_000, first_step=None, throw=False,
                    autonomous=False, specialize=False, jac_sparsity=None):
    """Integrate many rows (parameter sets) in parallel on numba threads.

    ``y0s`` is (r, n) or (n,) shared; ``ps`` is (r, k); ``doses`` is shared by all rows (as in
    :func:`integrate`) or given as 2-D arrays with a leading row axis, padded with
    ``time = inf``. One failing row never stops the others: its status says why and its
    outputs from the failure on are NaN. Results are bitwise identical whatever the number of
    threads (``numba.set_num_threads``). Other keywords as in :func:`integrate`; with
    ``jac_sparsity=None`` the Jacobian structure is probed at the first row, so pass the
    pattern when results must not depend on which row comes first.

    Returns
    -------
    BatchSolution with ``y`` (r, m, n), ``status`` (r,) int, ``stats`` dict of (r,) arrays.
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
    t_eval, rtol, atol_arr, max_steps, fs = _check_common(t_eval, rtol, atol, n, max_steps,
                                                          first_step)
    mid = _method_id(method)
    ev = _events(doses, n, ps.shape[1], t_eval[0], rows=r)
    rhs_k, jac_k, have_jac = _functions(rhs, jac, specialize)
    out = np.empty((r, t_eval.size, n))
    status = np.zeros(r, np.int64)
    stats = np.zeros((r, driver.N_STATS), np.int64)
    if r:
        plan = _plan(jac_sparsity, mid, rhs_k, jac_k, have_jac, t_eval[0], y0s[0], ps[0])
        driver.solve_batch(rhs_k, jac_k, mid, have_jac, bool(autonomous), y0s, t_eval, ps,
                           ev[0], ev[1], ev[2], ev[3], rtol, atol_arr, max_steps, fs, plan,
                           out, status, stats)
    res = BatchSolution(t=t_eval, y=out, status=status,
                        stats={k: stats[:, i] for i, k in enumerate(STAT_NAMES)})
    if throw and not np.all(res.success):
        raise SolverError("; ".join(res.messages()), None)
    return res


if integrate.__doc__:  # None under python -OO
    integrate.__doc__ = integrate.__doc__.replace("{jac_sparsity}", _JAC_SPARSITY_DOC)


# ---------------------------------------------------------------------------- model modules
_MODEL_MODULE_SOURCE = '''

# --- appended by ldnsim.solver.specialised_solver_source() -------------------------------
# C-callable twins of rhs/jac for the solver kernels, which are compiled once for all models
# and take these as first-class functions; cache=True keeps them on disk with this module.
# Under NUMBA_DISABLE_JIT the kernels are plain Python and call rhs/jac directly.
from ldnsim.solver import RHS_SIGNATURE as _RHS_SIGNATURE, JAC_SIGNATURE as _JAC_SIGNATURE

if numba.config.DISABLE_JIT:
    rhs_cfunc = rhs
    jac_cfunc = jac
else:
    # _nrt=False: no reference counting of the three arrays on every call (the generated
    # rhs/jac never allocate); with it on, each call paid six atomic operations.
    @numba.cfunc(_RHS_SIGNATURE, cache=True, error_model="numpy", _nrt=False)
    def rhs_cfunc(t, y, p, dydt):
        rhs(t, y, p, dydt)

    @numba.cfunc(_JAC_SIGNATURE, cache=True, error_model="numpy", _nrt=False)
    def jac_cfunc(t, y, p, J):
        jac(t, y, p, J)


@numba.njit(cache=True, parallel=True, error_model="numpy")
def outputs_batch(t, Y, P, O):
    """Outputs for every row and time: Y (r, m, n), P (r, k), O (r, m, n_outputs)."""
    for r in numba.prange(Y.shape[0]):
        for i in range(t.size):
            outputs(t[i], Y[r, i], P[r], O[r, i])
'''


def specialised_solver_source() -> str:
    """Source appended to every generated model module (see ``ldnsim.model.codegen``)."""
    return _MODEL_MODULE_SOURCE
