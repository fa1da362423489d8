"""One step of each method and its dense output (numba kernels, no allocation).

Array shapes: ``y, ynew, ytmp, ftmp, f0, ft`` (n,); ``J, W`` (n, n); ``perm`` (n,) int64;
``K`` (s, n) stage vectors; ``stats`` (6,) int64 counters, see ``ldnsim._kernels.driver``.
"""
import numpy as np
from numba import njit

from .linalg import lu_factor, lu_solve, sparse_factor, sparse_solve
from .tableaus import STAGE_CHAIN, STAGE_F0

# Changes whenever any kernel source changes (see cachekey.py), so numba never loads machine
# code built from older kernel sources.
KERNEL_SOURCES_SHA256 = "1a0ed38d76a76c4d724b7903a8e154613d501c4734e3f4fef9fa0a0baaa398a6"

ST_RHS = 2
ST_JAC = 3
ST_LU = 4
ST_DENSE = 5
# Below this many states the stage sums run element by element (the vector loops would not fill
# one vector register and cost their set-up); from it on, row by row.
SMALL_N = 8


@njit(cache=True, error_model="numpy", _nrt=False)
def fd_jacobian(rhs, t, y, p, f0, J, ytmp, ftmp, atol):
    """Forward-difference Jacobian, column by column.

    The increment is ``sqrt(eps) * max(|y_j|, atol_j)``: relative to the state where it is
    resolved, and never far below the size the tolerances care about (Hairer's fixed floor of
    1e-5 swamps small species such as ROBER's y2 ~ 1e-13).
    """
    n = y.size
    for l in range(n):
        ytmp[l] = y[l]
    for j in range(n):
        yj = y[j]
        delta = 1.4901161193847656e-08 * max(abs(yj), atol[j])
        if delta == 0.0:
            delta = 1.4901161193847656e-08
        ytmp[j] = yj + delta
        delta = ytmp[j] - yj  # the increment actually represented in floating point
        rhs(t, ytmp, p, ftmp)
        for i in range(n):
            J[i, j] = (ftmp[i] - f0[i]) / delta
        ytmp[j] = yj


@njit(cache=True, error_model="numpy", _nrt=False)
def fd_time_derivative(rhs, t, y, p, f0, ft, ftmp):
    """Forward-difference df/dt for non-autonomous right-hand sides."""
    delta = np.sqrt(2.220446049250313e-16 * max(1e-5, abs(t)))
    tt = t + delta
    delta = tt - t
    rhs(tt, y, p, ftmp)
    for i in range(y.size):
        ft[i] = (ftmp[i] - f0[i]) / delta


@njit(cache=True, error_model="numpy", _nrt=False)
def jacobian_pattern(rhs, jac, have_jac, t, y0, p, pattern, J, y, f0, ytmp, ftmp):
    """OR into ``pattern`` (n, n) bool where J can be non-zero, judged at two points near
    ``y0``.

    The points add to every state a different positive amount (``0.37``/``0.71`` times
    ``max(|y0_i|, 1)``, scaled per state), so entries that vanish only at ``y0`` (a species at
    zero) show up. With an analytic Jacobian its non-zeros are taken; without one, column j
    is marked where f changes when y_j moves by half its size or more (a difference quotient
    with the solver's small increment can round a real dependence to zero). Used to plan the
    sparse LU; a wrong guess costs speed, never accuracy (see ``linalg.sparse_factor``).
    """
    n = y0.size
    for trial in range(2):
        base = 0.37 if trial == 0 else 0.71
        for i in range(n):
            y[i] = y0[i] + base * (1.0 + 0.113 * i) * max(abs(y0[i]), 1.0)
        if have_jac:
            jac(t, y, p, J)
            for i in range(n):
                for j in range(n):
                    if J[i, j] != 0.0:  # NaN counts as a non-zero
                        pattern[i, j] = True
        else:
            rhs(t, y, p, f0)
            for j in range(n):
                for l in range(n):
                    ytmp[l] = y[l]
                ytmp[j] = y[j] + 0.5 * max(abs(y[j]), 1.0)
                rhs(t, ytmp, p, ftmp)
                for i in range(n):
                    if ftmp[i] != f0[i]:  # NaN counts as a change
                        pattern[i, j] = True


@njit(cache=True, inline="always", error_model="numpy", _nrt=False)
def rosenbrock_step(rhs, t, y, h, p, f0, ft, use_ft, J, Jf, W, perm, K, ynew, ytmp,
                    A, C, gamma, c, d, M, stage_inputs, stats, plan, Wc, dinv, z, glu):
    """One Rosenbrock step in transformed form (see ``tableaus``); False if W is singular.

    ``ft`` (n,) is df/dt at (t, y), used only if ``use_ft``; ``Jf`` is the flat (n * n,)
    view of ``J``; ``stage_inputs`` (s+1,) int64 says how each stage's input (and y_new) is
    formed: a sum, the previous stage's input plus its k, or (y, c_i = 0) reusing ``f0``
    (``tableaus.STAGE_*``). ``plan`` is a sparse-LU plan (``linalg``; empty: dense LU into
    ``W``) with ``Wc`` (nf,), ``dinv``, ``z`` (n,) its work arrays. A step whose W the
    plan cannot factor safely falls back to the dense, partially pivoted LU (counted in
    ``stats[ST_DENSE]``). ``glu = (use, factor, solve)``: with ``use``, a non-empty plan is
    factored and solved by the first-class functions ``factor(Jf, inv_hg, Wc, dinv) -> bool``
    and ``solve(Wc, dinv, b)`` instead of ``sparse_factor``/``sparse_solve`` (a generated
    model's straight-line LU for exactly this plan, ``ldnsim.model.lucode``: the same results
    bit for bit). The stage sums run over contiguous rows of ``K`` (vectorisable).
    Reference: Hairer & Wanner, Solving ODEs II, IV.7 (eq. 7.25) and ``rodas.f``.
    """
    n = y.size
    s = c.size
    inv_hg = 1.0 / (h * gamma)
    stats[ST_LU] += 1
    have_plan = plan[0].size == n
    use_glu, glu_factor, glu_solve = glu
    if use_glu:
        sparse = have_plan and glu_factor(Jf, inv_hg, Wc, dinv)
    else:
        sparse = have_plan and sparse_factor(Jf, inv_hg, plan, Wc, dinv, z)
    if not sparse:
        if have_plan:
            stats[ST_DENSE] += 1
        for i in range(n):
            for j in range(n):
                W[i, j] = -J[i, j]
            W[i, i] += inv_hg
        if not lu_factor(W, perm, dinv):
            return False
    inv_h = 1.0 / h
    for i in range(s):
        Ki = K[i]
        if i == 0 or stage_inputs[i] == STAGE_F0:  # f(t, y), given
            for l in range(n):
                Ki[l] = f0[l]
        else:
            if stage_inputs[i] == STAGE_CHAIN:  # ytmp still holds stage i-1's input
                Kp = K[i - 1]
                for l in range(n):
                    ytmp[l] += Kp[l]
            elif n < SMALL_N:  # a few states: sums in registers, one element at a time
                for l in range(n):
                    acc = y[l]
                    for j in range(i):
                        acc += A[i, j] * K[j, l]
                    ytmp[l] = acc
            else:  # row by row over contiguous K rows: vectorised (the same sums, in order)
                for l in range(n):
                    ytmp[l] = y[l]
                for j in range(i):
                    a = A[i, j]
                    Kj = K[j]
                    for l in range(n):
                        ytmp[l] += a * Kj[l]
            rhs(t + c[i] * h, ytmp, p, Ki)
            stats[ST_RHS] += 1
        hd = h * d[i]
        if use_ft and hd != 0.0:
            for l in range(n):
                Ki[l] += hd * ft[l]
        if n < SMALL_N:
            for l in range(n):
                acc = Ki[l]
                for j in range(i):
                    acc += C[i, j] * inv_h * K[j, l]
                Ki[l] = acc
        else:
            for j in range(i):
                cij = C[i, j] * inv_h
                Kj = K[j]
                for l in range(n):
                    Ki[l] += cij * Kj[l]
        if sparse:
            if use_glu:
                glu_solve(Wc, dinv, Ki)
            else:
                sparse_solve(plan, Wc, dinv, z, Ki)
        else:
            lu_solve(W, perm, dinv, Ki)
    if stage_inputs[s] == STAGE_CHAIN:
        Kp = K[s - 1]
        for l in range(n):
            ynew[l] = ytmp[l] + Kp[l]
    else:
        for l in range(n):
            ynew[l] = y[l]
        for j in range(s):
            m = M[j]
            Kj = K[j]
            for l in range(n):
                ynew[l] += m * Kj[l]
    return True


@njit(cache=True, inline="always", error_model="numpy", _nrt=False)
def rosenbrock_dense_coefficients(K, H, D):
    """``D`` (3, n) = ``H`` (3, s) @ ``K`` (s, n): the dense-output vectors of one step."""
    n = K.shape[1]
    for r in range(H.shape[0]):
        Dr = D[r]
        for l in range(n):
            Dr[l] = 0.0
        for j in range(K.shape[0]):
            hrj = H[r, j]
            Kj = K[j]
            for l in range(n):
                Dr[l] += hrj * Kj[l]


@njit(cache=True, inline="always", error_model="numpy", _nrt=False)
def rosenbrock_dense_eval(theta, y0, y1, D, out):
    """Order-4 interpolant ``(1-θ) y0 + θ (y1 + (1-θ)(D0 + θ (D1 + θ D2)))``."""
    t1 = 1.0 - theta
    for l in range(y0.size):
        out[l] = t1 * y0[l] + theta * (y1[l] + t1 * (D[0, l] + theta * (D[1, l] + theta * D[2, l])))


@njit(cache=True, inline="always", error_model="numpy", _nrt=False)
def hermite_eval(theta, h, y0, f0, y1, f1, out):
    """Cubic Hermite interpolant through ``y0, f0`` (θ = 0) and ``y1, f1`` (θ = 1), step ``h``
    (order 3; the dense output of methods without one of their own, e.g. Rodas3)."""
    t1 = 1.0 - theta
    a = t1 * t1 * (1.0 + 2.0 * theta)  # h00
    b = theta * theta * (3.0 - 2.0 * theta)  # h01
    c0 = h * theta * t1 * t1  # h * h10
    c1 = -h * theta * theta * t1  # h * h11
    for l in range(y0.size):
        out[l] = a * y0[l] + b * y1[l] + c0 * f0[l] + c1 * f1[l]


@njit(cache=True, error_model="numpy", _nrt=False)
def erk_step(rhs, t, y, h, p, K, ynew, ytmp, A, B, C, E, err, stats):
    """One explicit RK step with FSAL (``K[0]`` holds f(t, y) on entry; ``K[s]`` is filled
    with f(t+h, ynew)); writes the error estimate into ``err``. scipy ``_ivp/rk.py:rk_step``.
    """
    n = y.size
    s = B.size
    for i in range(1, s):
        for l in range(n):
            acc = 0.0
            for j in range(i):
                acc += A[i, j] * K[j, l]
            ytmp[l] = y[l] + h * acc
        rhs(t + C[i] * h, ytmp, p, K[i])
        stats[ST_RHS] += 1
    for l in range(n):
        acc = 0.0
        for j in range(s):
            acc += B[j] * K[j, l]
        ynew[l] = y[l] + h * acc
    rhs(t + h, ynew, p, K[s])
    stats[ST_RHS] += 1
    for l in range(n):
        acc = 0.0
        for j in range(s + 1):
            acc += E[j] * K[j, l]
        err[l] = h * acc


@njit(cache=True, error_model="numpy", _nrt=False)
def erk_dense_eval(theta, h, y0, K, P, out):
    """scipy RkDenseOutput: ``y0 + h * K.T @ (P @ [θ, θ², θ³, θ⁴])``."""
    n = y0.size
    t2 = theta * theta
    t3 = t2 * theta
    t4 = t3 * theta
    for l in range(n):
        acc = 0.0
        for j in range(P.shape[0]):
            acc += K[j, l] * (P[j, 0] * theta + P[j, 1] * t2 + P[j, 2] * t3 + P[j, 3] * t4)
        out[l] = y0[l] + h * acc
