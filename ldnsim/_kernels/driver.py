"""Dose-segment driver and the parallel batch loop (numba kernels).

A trajectory is integrated segment by segment: a segment runs from one breakpoint (an event
time) to the next with an adaptive one-step method; at a breakpoint the events are applied
(bolus: add to a state; input switch: add to a parameter slot) and the stepper restarts. Outputs
are written at the requested times by dense output, never by shortening steps, and are
right-continuous: an output at an event time shows the state after the event.

Kernels never raise: they return a status code (see ``ldnsim.solver.Status``).

Stats layout, ``stats`` (6,) int64: accepted steps, rejected steps, RHS evaluations,
Jacobian evaluations, LU decompositions, and of those the dense ones taken although a sparse
plan was given (J left the plan's pattern, or a static pivot was too small).
"""
import numpy as np
from numba import njit, prange

from . import tableaus as tb
from .control import (
    BETA1,
    BETA2,
    ERR_FLOOR,
    RODAS3_BETA1,
    RODAS3_BETA2,
    RODAS3_SAFETY,
    SAFETY,
    error_norm,
    initial_step,
    log_err,
    log_prev,
    pi_factor_logs,
)
from .steps import (
    erk_dense_eval,
    erk_step,
    fd_jacobian,
    fd_time_derivative,
    hermite_eval,
    jacobian_pattern,
    rosenbrock_dense_coefficients,
    rosenbrock_dense_eval,
    rosenbrock_step,
)

SUCCESS = 0
MAX_STEPS = 1
STEP_UNDERFLOW = 2
NON_FINITE = 3
SINGULAR = 4

METHOD_RODAS5P = 0
METHOD_DOPRI5 = 1
METHOD_AUTO = 2  # DOPRI5 until it finds the problem stiff, then Rodas5P (``_segment_dopri5``)
METHOD_RODAS3 = 3
STIFF = -1  # internal: the DOPRI5 segment stopped because the problem is stiff

# Hairer's stiffness test for DOPRI5 (dopri5.f; Hairer & Wanner, Solving ODEs II, IV.2):
# after an accepted step, h |lambda| is estimated from the last two stages, which are evaluated
# at the same time t + h (``_h_lambda``). Near the boundary of DOPRI5's stability region
# (3.3066 on the negative real axis) the step size is limited by stability, not accuracy:
# STIFF_COUNT such steps (interrupted by fewer than NONSTIFF_RESET clear ones) declare the
# problem stiff. The threshold is 0.9 x the boundary (OrdinaryDiffEq's auto-switching uses
# the same fraction); with dopri5.f's 3.25, ROBER at rtol 1e-8 ran 2,700 explicit steps at
# h |lambda| = 3.1-3.2 (the controller sits just inside the boundary) before switching.
STIFF_H_LAMBDA = 0.9 * 3.3066
STIFF_COUNT = 15
NONSTIFF_RESET = 6

ST_ACCEPTED = 0
ST_REJECTED = 1
ST_RHS = 2
ST_JAC = 3
ST_LU = 4
ST_DENSE = 5
N_STATS = 6

EPS = 2.220446049250313e-16

# Changes whenever any kernel source changes (see cachekey.py), so numba never loads machine
# code built from older kernel sources.
KERNEL_SOURCES_SHA256 = "1a0ed38d76a76c4d724b7903a8e154613d501c4734e3f4fef9fa0a0baaa398a6"

RODAS5P_A = tb.RODAS5P_A
RODAS5P_C = tb.RODAS5P_C
RODAS5P_c = tb.RODAS5P_c
RODAS5P_d = tb.RODAS5P_d
RODAS5P_M = tb.RODAS5P_M
RODAS5P_H = tb.RODAS5P_H
RODAS5P_GAMMA = tb.RODAS5P_GAMMA
RODAS5P_STAGE_INPUTS = tb.RODAS5P_STAGE_INPUTS
RODAS3_A = tb.RODAS3_A
RODAS3_C = tb.RODAS3_C
RODAS3_c = tb.RODAS3_c
RODAS3_d = tb.RODAS3_d
RODAS3_M = tb.RODAS3_M
RODAS3_GAMMA = tb.RODAS3_GAMMA
RODAS3_STAGE_INPUTS = tb.RODAS3_STAGE_INPUTS
RODAS3_ERROR_ORDER = float(tb.RODAS3_ERROR_ORDER)
RODAS5P_ERROR_ORDER = float(tb.RODAS5P_ERROR_ORDER)
DOPRI5_A = tb.DOPRI5_A
DOPRI5_B = tb.DOPRI5_B
DOPRI5_C = tb.DOPRI5_C
DOPRI5_E = tb.DOPRI5_E
DOPRI5_P = tb.DOPRI5_P


@njit(cache=True, error_model="numpy", _nrt=False)
def _all_finite(y):
    for i in range(y.size):
        if not np.isfinite(y[i]):
            return False
    return True


@njit(cache=True, error_model="numpy", _nrt=False)
def _segment_rodas(rhs, jac, opts, t, tb_, y, p, t_eval, k, out, rtol, atol,
                   max_steps, h, stats, f0, ft, Jf, W, perm, K, ynew, ytmp, D, hbuf,
                   plan, Wc, dz, glu):
    """Integrate y from t to tb_ with Rodas5P or Rodas3; fill outputs t_eval[k:] that lie in
    (t, tb_).

    ``opts = (have_jac, autonomous, rodas3)``: use ``jac`` (else finite differences); df/dt
    = 0; Rodas3 (order 3, outputs from the cubic Hermite interpolant through y and f at both
    ends of a step) instead of Rodas5P (order 5, its own order-4 dense output).
    Returns (status, k). ``hbuf[0]`` carries the step-size proposal between segments. ``Jf``
    (n * n,) holds the Jacobian (the sparse LU reads it flat); ``dz`` (3, n) the sparse LU's
    work vectors and one more (``dinv``, ``z``, ``ftmp``); ``glu`` the generated LU, if any
    (``steps.rosenbrock_step``). No more than 30 arguments: above that CPython passes the
    call's arguments as one tuple, which numba types with a warning about first-class
    functions.
    """
    n = y.size
    m = t_eval.size
    J = Jf.reshape((n, n))
    dinv = dz[0]
    z = dz[1]
    ftmp = dz[2]
    have_jac, autonomous, rodas3 = opts
    # The method's coefficients, chosen once: one call site of the (inlined) step, so numba
    # compiles it once (two call sites cost 4.3 s more on a cold start: benchmarks/startup.py).
    if rodas3:
        A, C, gamma, c, d, M = RODAS3_A, RODAS3_C, RODAS3_GAMMA, RODAS3_c, RODAS3_d, RODAS3_M
        stage_inputs = RODAS3_STAGE_INPUTS
        q = RODAS3_ERROR_ORDER  # order of the error estimate
        # I control (control.py says why)
        beta1, beta2, safety = RODAS3_BETA1, RODAS3_BETA2, RODAS3_SAFETY
    else:
        A, C, gamma, c, d, M = (RODAS5P_A, RODAS5P_C, RODAS5P_GAMMA, RODAS5P_c, RODAS5P_d,
                                RODAS5P_M)
        stage_inputs = RODAS5P_STAGE_INPUTS
        q = RODAS5P_ERROR_ORDER
        beta1, beta2, safety = BETA1, BETA2, SAFETY
    s = c.size  # stages; the last one is the error estimate
    # Rodas3's f at the end of a step, and its interpolation-error vector, live in D's first
    # two rows (D holds Rodas5P's dense-output vectors, which Rodas3 does not use)
    f1 = D[0]
    rhs(t, y, p, f0)
    stats[ST_RHS] += 1
    if not (_all_finite(y) and _all_finite(f0)):
        return NON_FINITE, k
    span = tb_ - t
    if h <= 0.0:
        h = initial_step(rhs, t, y, f0, p, span, q, rtol, atol, ytmp, ftmp)
        stats[ST_RHS] += 1
    lprev = 0.0  # log_prev(err_prev) of the last accepted step (err_prev = 1 at first)
    rejected = False
    nonfinite = False  # was the last rejection caused by NaN/inf in the stages?
    need_jac = True
    while t < tb_:
        if stats[ST_ACCEPTED] + stats[ST_REJECTED] >= max_steps:
            return MAX_STEPS, k
        if not (h > 10.0 * EPS * abs(t)) or not (h >= 1e-300):
            return (NON_FINITE if nonfinite else STEP_UNDERFLOW), k
        last = False
        if t + h >= tb_:
            h = tb_ - t
            last = True
        if need_jac:
            if have_jac:
                jac(t, y, p, J)
            else:
                fd_jacobian(rhs, t, y, p, f0, J, ytmp, ftmp, atol)
                stats[ST_RHS] += n
            stats[ST_JAC] += 1
            if autonomous:
                for i in range(n):
                    ft[i] = 0.0
            else:
                fd_time_derivative(rhs, t, y, p, f0, ft, ftmp)
                stats[ST_RHS] += 1
            need_jac = False
        ok = rosenbrock_step(rhs, t, y, h, p, f0, ft, not autonomous, J, Jf, W, perm, K, ynew,
                             ytmp, A, C, gamma, c, d, M, stage_inputs, stats, plan, Wc, dinv, z,
                             glu)
        if ok:
            err = error_norm(K[s - 1], y, ynew, rtol, atol)
        else:
            err = np.inf
        t_new = tb_ if last else t + h
        if rodas3 and err <= 1.0:
            # f at the new point: the Hermite interpolant's slope there and, unless the segment
            # ends here, the next step's first stage (also on a segment's last step, so that
            # the counts do not depend on where the outputs fall). Then the interpolant's own
            # error test, since the step's estimate says nothing about it: the cubic Hermite
            # and the quadratic through y0, f0, y1 differ at the midpoint by
            # d = (y1 - y0 - h (f0 + f1) / 2) / 4, an O(h^3) estimate of the quadratic's error
            # there (h^3 y^(3) / 48; the cubic's is O(h^4)), where the cubic's error peaks;
            # ||d|| <= 1 too. On stiff components f1 carries y1's error times lambda, so d is
            # then O(h^2) and the steps shrink with the stiffness (benchmarks/README.md). Without
            # it, on y' = y^2 (where Rodas3's steps are exact and its estimate is 0) the steps
            # grew sixfold each and outputs between them erred by 139 % at rtol 1e-4.
            rhs(t_new, ynew, p, f1)
            stats[ST_RHS] += 1
            dvec = D[1]
            for i in range(n):
                dvec[i] = 0.25 * (ynew[i] - y[i] - 0.5 * h * (f0[i] + f1[i]))
            err = max(err, error_norm(dvec, y, ynew, rtol, atol))
        if err <= 1.0:
            have_dense = False
            while k < m and t_eval[k] < tb_ and t_eval[k] <= t_new:
                if rodas3:
                    hermite_eval((t_eval[k] - t) / h, h, y, f0, ynew, f1, out[k])
                else:
                    if not have_dense:
                        rosenbrock_dense_coefficients(K, RODAS5P_H, D)
                        have_dense = True
                    rosenbrock_dense_eval((t_eval[k] - t) / h, y, ynew, D, out[k])
                k += 1
            for i in range(n):
                y[i] = ynew[i]
            if not _all_finite(y):
                return NON_FINITE, k
            t = t_new
            stats[ST_ACCEPTED] += 1
            lerr = log_err(err)
            fac = pi_factor_logs(err, lerr, lprev, q, rejected, beta1, beta2, safety)
            lprev = lerr if err >= ERR_FLOOR else log_prev(err)
            rejected = False
            h_next = h * fac
            if not last:
                if rodas3:
                    for i in range(n):
                        f0[i] = f1[i]
                else:
                    rhs(t, y, p, f0)
                    stats[ST_RHS] += 1
                need_jac = True
            h = h_next
        else:
            stats[ST_REJECTED] += 1
            nonfinite = ok and not _all_finite(ynew)
            if ok:
                h = h * pi_factor_logs(err, log_err(err), lprev, q, True, beta1, beta2,
                                       safety)
            else:
                h = 0.25 * h
                if not (h > 10.0 * EPS * abs(t)) or not (h >= 1e-300):
                    return SINGULAR, k
            rejected = True
    hbuf[0] = h
    return SUCCESS, k


@njit(cache=True, error_model="numpy", _nrt=False)
def _h_lambda(h, K, s, ynew, y6, rtol, atol):
    """Hairer's estimate of h |lambda| after a DOPRI5 step, ``h |K[s] - K[s-1]| / |ynew - y6|``
    (the last two stages, both at t + h; ``y6`` the argument of stage s-1), in two norms, the
    larger of the two: the Euclidean norm (as ``dopri5.f``) and the norm weighted by the error
    scale ``1 / (atol + rtol |ynew|)``, which sees a stiff component far smaller than the others
    (ROBER's y2, 1e-5 against 1: the plain norm found ROBER at rtol 1e-8 stiff 2x later).
    0 when the two arguments coincide.
    """
    num = 0.0
    den = 0.0
    wnum = 0.0
    wden = 0.0
    for i in range(ynew.size):
        a = K[s, i] - K[s - 1, i]
        b = ynew[i] - y6[i]
        num += a * a
        den += b * b
        w = 1.0 / (atol[i] + rtol * abs(ynew[i]))
        wnum += (a * w) * (a * w)
        wden += (b * w) * (b * w)
    est = 0.0
    if den > 0.0:
        est = np.sqrt(num / den)
    if wden > 0.0:
        est = max(est, np.sqrt(wnum / wden))
    return h * est


@njit(cache=True, error_model="numpy", _nrt=False)
def _segment_dopri5(rhs, t, tb_, y, p, t_eval, k, out, rtol, atol, max_steps, h, stats,
                    K, ynew, ytmp, err_vec, hbuf, detect_stiff):
    """Integrate y from t to tb_ with Dormand-Prince 5(4); same contract as the Rodas segment,
    but returns (status, k, t).

    With ``detect_stiff``, Hairer's stiffness test runs after every accepted step; when it
    declares the problem stiff the segment stops at the last accepted step and returns
    ``STIFF`` with that ``t`` (``y`` holds the state there; outputs up to ``t`` are written).
    """
    n = y.size
    m = t_eval.size
    q = 4.0
    rhs(t, y, p, K[0])
    stats[ST_RHS] += 1
    if not (_all_finite(y) and _all_finite(K[0])):
        return NON_FINITE, k, t
    span = tb_ - t
    if h <= 0.0:
        h = initial_step(rhs, t, y, K[0], p, span, q, rtol, atol, ytmp, ynew)
        stats[ST_RHS] += 1
    lprev = 0.0  # log_prev(err_prev) of the last accepted step (err_prev = 1 at first)
    rejected = False
    nonfinite = False
    s = DOPRI5_B.size
    n_stiff = 0
    n_clear = 0
    while t < tb_:
        if stats[ST_ACCEPTED] + stats[ST_REJECTED] >= max_steps:
            return MAX_STEPS, k, t
        if not (h > 10.0 * EPS * abs(t)) or not (h >= 1e-300):
            return (NON_FINITE if nonfinite else STEP_UNDERFLOW), k, t
        last = False
        if t + h >= tb_:
            h = tb_ - t
            last = True
        erk_step(rhs, t, y, h, p, K, ynew, ytmp, DOPRI5_A, DOPRI5_B, DOPRI5_C, DOPRI5_E,
                 err_vec, stats)
        err = error_norm(err_vec, y, ynew, rtol, atol)
        if err <= 1.0:
            t_new = tb_ if last else t + h
            stiff = False
            if detect_stiff:
                # ytmp still holds the input of stage s-1
                if _h_lambda(h, K, s, ynew, ytmp, rtol, atol) > STIFF_H_LAMBDA:
                    n_clear = 0
                    n_stiff += 1
                    stiff = n_stiff >= STIFF_COUNT
                else:
                    n_clear += 1
                    if n_clear >= NONSTIFF_RESET:
                        n_stiff = 0
            while k < m and t_eval[k] < tb_ and t_eval[k] <= t_new:
                erk_dense_eval((t_eval[k] - t) / h, h, y, K, DOPRI5_P, out[k])
                k += 1
            for i in range(n):
                y[i] = ynew[i]
                K[0, i] = K[s, i]
            if not _all_finite(y):
                return NON_FINITE, k, t_new
            t = t_new
            stats[ST_ACCEPTED] += 1
            lerr = log_err(err)
            fac = pi_factor_logs(err, lerr, lprev, q, rejected, BETA1, BETA2, SAFETY)
            lprev = lerr if err >= ERR_FLOOR else log_prev(err)
            rejected = False
            h = h * fac
            if stiff and t < tb_:
                hbuf[0] = h
                return STIFF, k, t
        else:
            stats[ST_REJECTED] += 1
            nonfinite = not _all_finite(ynew)
            h = h * pi_factor_logs(err, log_err(err), lprev, q, True, BETA1, BETA2, SAFETY)
            rejected = True
    hbuf[0] = h
    return SUCCESS, k, t


@njit(cache=True, error_model="numpy", _nrt=False)
def _eval_outputs(outf, t_eval, out, p, outs, k0, k1):
    """Outputs at output times ``k0 .. k1-1`` from the states written there, with ``p``."""
    if outs.shape[1] == 0:
        return
    for k in range(k0, k1):
        outf(t_eval[k], out[k], p, outs[k])


@njit(cache=True, error_model="numpy")
def solve_one(rhs, jac, outf, method, have_jac, autonomous, y0, t_eval, p0, ev_t, ev_kind,
              ev_idx, ev_amt, rtol, atol, max_steps, first_step, plan, glu, out, outs,
              stats):
    """Integrate one trajectory through its events.

    Parameters
    ----------
    rhs, jac : first-class functions ``rhs(t, y, p, dydt)``, ``jac(t, y, p, J)``.
    outf : first-class function ``outf(t, y, p, o)`` writing the outputs at one time; called
        once per output time with the parameters in force then (events applied), so outputs
        follow the same event rule as the states. Not called when ``outs`` has no columns.
    method : int, METHOD_RODAS5P, METHOD_RODAS3, METHOD_DOPRI5 or METHOD_AUTO (DOPRI5 with
        Hairer's stiffness test; once it finds the problem stiff, Rodas5P from that step on,
        for the rest of the trajectory).
    have_jac, autonomous : bool; use ``jac`` (else finite differences); assume df/dt = 0.
    y0 : (n,) initial state at ``t_eval[0]``.
    t_eval : (m,) increasing output times.
    p0 : (k,) parameters; copied, since input events change it.
    ev_t, ev_kind, ev_idx, ev_amt : (d,) events sorted by time; ``time = inf`` pads.
    rtol : float; atol : (n,).
    max_steps : int, accepted plus rejected steps over the whole trajectory.
    first_step : float, initial step (<= 0: automatic).
    plan : sparse-LU plan for W (``linalg``; arrays of size 0: dense LU).
    glu : ``(use, factor, solve)``: with ``use``, the first-class functions
        ``factor(Jf, inv_hg, Wc, dinv) -> bool`` and ``solve(Wc, dinv, b)`` factor and solve
        over ``plan`` instead of the generic sparse LU (a generated model's straight-line LU
        for exactly this plan; see ``steps.rosenbrock_step``). Not called when ``use`` is
        False or the plan is empty.
    out : (m, n) output, filled with NaN where not reached.
    outs : (m, n_out) outputs of ``outf`` at ``t_eval`` (n_out may be 0), NaN where not reached.
    stats : (6,) int64 counters (accepted, rejected, rhs, jac, lu, dense lu), added to.

    Returns
    -------
    int status code.
    """
    n = y0.size
    m = t_eval.size
    ne = ev_t.size
    for i in range(m):
        for j in range(n):
            out[i, j] = np.nan
        for j in range(outs.shape[1]):
            outs[i, j] = np.nan
    y = y0.copy()
    p = p0.copy()
    f0 = np.empty(n)
    ft = np.empty(n)
    ynew = np.empty(n)
    ytmp = np.empty(n)
    # The Jacobian, flat (the sparse LU reads it so), zero at the start: a generated model's
    # jac_nonzeros writes only its pattern's entries, so the others stay exactly zero.
    Jf = np.zeros(n * n)
    W = np.empty((n, n))
    Wc = np.empty(plan[1].shape[1] + plan[0].size)  # the factors: off-diagonal, then pivots
    perm = np.empty(n, dtype=np.int64)
    K = np.empty((RODAS5P_c.size, n))  # Rodas5P's stages (its last row is the error)
    Kd = np.empty((DOPRI5_B.size + 1, n))  # DOPRI5's stages and f(ynew)
    D = np.empty((3, n))
    hbuf = np.zeros(1)
    dz = np.empty((3, n))  # the sparse LU's dinv and z, and a work vector
    ftmp = dz[2]
    t = t_eval[0]
    tend = t_eval[m - 1]
    e = 0
    while e < ne and ev_t[e] < t:  # events before the start are not part of this run
        e += 1
    k = 0
    h = first_step
    stiff = method == METHOD_RODAS5P or method == METHOD_RODAS3
    opts = (have_jac, autonomous, method == METHOD_RODAS3)
    while True:
        while e < ne and ev_t[e] <= t:
            if ev_kind[e] == 0:
                y[ev_idx[e]] += ev_amt[e]
            else:
                p[ev_idx[e]] += ev_amt[e]
            e += 1
        k0 = k
        while k < m and t_eval[k] <= t:
            for j in range(n):
                out[k, j] = y[j]
            k += 1
        if k >= m:
            _eval_outputs(outf, t_eval, out, p, outs, k0, k)
            break
        tseg = tend
        if e < ne and ev_t[e] < tend:
            tseg = ev_t[e]
        ts = t
        if not stiff:
            status, k, ts = _segment_dopri5(rhs, t, tseg, y, p, t_eval, k, out, rtol, atol,
                                            max_steps, h, stats, Kd, ynew, ytmp, ftmp, hbuf,
                                            method == METHOD_AUTO)
            if status == STIFF:  # go on from the last accepted step with Rodas5P
                stiff = True
                h = 0.0
        if stiff:
            status, k = _segment_rodas(rhs, jac, opts, ts, tseg, y, p, t_eval, k, out, rtol,
                                       atol, max_steps, h, stats, f0, ft, Jf, W, perm, K, ynew,
                                       ytmp, D, hbuf, plan, Wc, dz, glu)
        _eval_outputs(outf, t_eval, out, p, outs, k0, k)  # p is constant over the segment
        if status != SUCCESS:
            return status
        t = tseg
        # A dose changes the dynamics abruptly: re-estimate the step after each breakpoint.
        h = 0.0
    return SUCCESS


@njit(cache=True, parallel=True, error_model="numpy")
def solve_batch(rhs, jac, outf, method, have_jac, autonomous, y0s, t_eval, ps, ev_t, ev_kind,
                ev_idx, ev_amt, rtol, atol, max_steps, first_step, plan, glu, out, outs,
                status, stats, n_threads):
    """Rows in parallel on numba threads; row r uses ``y0s[r]``, ``ps[r]`` and event row
    ``min(r, ev_t.shape[0] - 1)`` (one shared event row, or one per row).

    Shapes: y0s (r, n), ps (r, k), ev_* (1 or r, d), out (r, m, n), outs (r, m, n_out),
    status (r,), stats (r, 6); ``plan`` and ``glu`` are shared. Each row is computed exactly as
    ``solve_one`` would, so results do not depend on the thread count.

    ``n_threads`` is ``numba.get_num_threads()`` of the caller (read there: a kernel that calls
    it cannot be cached). Rows are dealt to the threads in turn (thread t of T gets rows t,
    t + T, ...): numba hands each thread one contiguous block of the loop, and neighbouring
    rows cost alike (a sweep orders rows by dose and scenario), so contiguous blocks of rows
    left one thread idle while the other finished the costlier half (7 % of the headline
    experiment's wall time on 2 threads).
    """
    nrow = y0s.shape[0]
    ev_last = ev_t.shape[0] - 1
    nthr = max(1, min(n_threads, nrow))
    block = (nrow + nthr - 1) // nthr
    for i in prange(nthr * block):
        r = (i % block) * nthr + i // block  # block t of the loop -> rows t, t + nthr, ...
        if r < nrow:
            er = min(np.int64(r), ev_last)  # one shared event row, or one per row
            status[r] = solve_one(rhs, jac, outf, method, have_jac, autonomous, y0s[r], t_eval,
                                  ps[r], ev_t[er], ev_kind[er], ev_idx[er], ev_amt[er], rtol,
                                  atol, max_steps, first_step, plan, glu, out[r], outs[r],
                                  stats[r])


@njit(cache=True, error_model="numpy")
def probe_pattern(rhs, jac, have_jac, t, y0, p):
    """(n, n) bool: where J is non-zero near ``y0`` (``steps.jacobian_pattern``)."""
    n = y0.size
    pattern = np.zeros((n, n), dtype=np.bool_)
    jacobian_pattern(rhs, jac, have_jac, t, y0, p, pattern, np.zeros((n, n)),
                     np.empty(n), np.empty(n), np.empty(n), np.empty(n))
    return pattern
