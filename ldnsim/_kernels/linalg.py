"""LU factorisations of the Rosenbrock matrix W = I/(h gamma) - J, in place.

A small dense LU with partial pivoting (for the 3-30 state systems ldnsim integrates, a
hand-written LU avoids LAPACK's call overhead and any allocation in the step loop), and a
sparse LU over a precomputed plan (below) for larger systems whose Jacobian is mostly zeros.
"""
import numpy as np
from numba import njit

# Changes whenever any kernel source changes (see cachekey.py), so numba never loads machine
# code built from older kernel sources.
KERNEL_SOURCES_SHA256 = "1a0ed38d76a76c4d724b7903a8e154613d501c4734e3f4fef9fa0a0baaa398a6"


@njit(cache=True, inline="always", error_model="numpy", _nrt=False)
def lu_factor(A, perm, dinv):
    """Factor ``A`` (n, n) in place as P A = L U; ``perm`` (n,) int64 receives the pivots and
    ``dinv`` (n,) the reciprocals of U's diagonal (the solves multiply: a division on the
    solve's critical path costs several multiplications' latency).

    Returns False when a pivot is exactly zero or not finite (singular W).
    """
    n = A.shape[0]
    for k in range(n):
        piv = k
        amax = abs(A[k, k])
        for i in range(k + 1, n):
            v = abs(A[i, k])
            if v > amax:
                amax = v
                piv = i
        perm[k] = piv
        if not (amax > 0.0) or not np.isfinite(amax):
            return False
        if piv != k:
            for j in range(n):
                tmp = A[k, j]
                A[k, j] = A[piv, j]
                A[piv, j] = tmp
        inv = 1.0 / A[k, k]
        dinv[k] = inv
        for i in range(k + 1, n):
            A[i, k] *= inv
            lik = A[i, k]
            if lik != 0.0:
                for j in range(k + 1, n):
                    A[i, j] -= lik * A[k, j]
    return True


@njit(cache=True, inline="always", error_model="numpy", _nrt=False)
def _permute(perm, b):
    """Apply the row interchanges of :func:`lu_factor` to ``b``, in place."""
    for k in range(b.size):
        piv = perm[k]
        if piv != k:
            tmp = b[k]
            b[k] = b[piv]
            b[piv] = tmp


@njit(cache=True, inline="always", error_model="numpy", _nrt=False)
def lu_solve(LU, perm, dinv, b):
    """Solve ``A x = b`` in place in ``b`` (n,) from :func:`lu_factor`'s output."""
    n = LU.shape[0]
    _permute(perm, b)
    for i in range(n):
        s = b[i]
        for j in range(i):
            s -= LU[i, j] * b[j]
        b[i] = s
    un = np.uint64(n)  # unsigned indices: numba checks signed ones for wraparound, and
    for r in range(un):  # cannot prove a count-down index non-negative
        i = un - np.uint64(1) - r
        s = b[i]
        for j in range(i + np.uint64(1), un):
            s -= LU[i, j] * b[j]
        b[i] = s * dinv[i]


# Sparse LU with a static pattern. For ODE models W = I/(h gamma) - J is mostly zeros (POLLU:
# 20 x 20 with 86 non-zeros). Given the structure of J once per run, ``ldnsim._sparsity``
# chooses a fill-reducing elimination order (minimum degree, symmetric, so the diagonal stays
# the pivot) and computes the fill; the kernels below then factor and solve touching only the
# non-zeros of the factors (POLLU: 122 multiply-adds per factorisation instead of 2,470).
#
# Static pivots are checked, never trusted: a factorisation is refused (and the caller falls
# back to the dense, partially pivoted LU for that step) when J has a non-zero outside the
# declared pattern (unless the caller guarantees it has none: ``outside`` below), when a
# pivot is zero or anything is not finite, or when a pivot is too small for its row and
# column: an elimination product l_ik * u_kj larger than GROWTH times the largest entry of
# row i of W. That bounds the growth, |L||U| <= (1 + GROWTH m) |W| row by
# row (m = updates into one entry), which is what the backward error of the solves depends on
# (Higham, Accuracy and Stability of Numerical Algorithms, 9.3). A bound on |L| alone (the
# usual threshold test) refused pivots whose row holds only small entries: on the LDN model at
# 300 mg/day, a third of the steps (R_tot, turning over in days, as pivot above the fast
# drug-receptor binding).
# The factors live in a compact array Wc (nf,), nf = the filled entries of W: first L's nl
# entries in forward-solve order (column by column), then U's nu off-diagonal entries in
# backward-solve order (last column first), then the n pivots, so the solves read the values
# in storage order.
# plan = (q, asm, kptr, optr, ops, fwd, bwd, outside); index arrays are uint64 (numba then
# skips the negative-index wraparound on every access); J is read through a flat view Jf
# (n * n,) in the original numbering, Wc in the permuted one (position a holds state q[a]):
#   q (n,)                       elimination order;
#   asm (3, nf - n)              Wc[asm[0, r]] = -Jf[asm[1, r]]: the filled pattern off the
#                                diagonal, in row asm[2, r] of W (pivot a: Wc[nf - n + a] =
#                                inv_hg - J[q[a], q[a]]);
#   kptr (n+1,) int64            pivot k scales L entries Wc[kptr[k]:kptr[k+1]] (column k);
#   optr (n+1,) int64, ops (4, no)  then Wc[ops[0, r]] -= Wc[ops[1, r]] * Wc[ops[2, r]] for r
#                                in optr[k]:optr[k+1] (Schur-complement updates of row
#                                ops[3, r]);
#   fwd (2, nl), bwd (2, nu)     solves: z[t] -= Wc[r] * z[s] for (t, s) = fwd[:, r] in order,
#                                then z *= dinv, then z[t] -= Wc[nl + r] * z[s] for bwd[:, r];
#                                after factoring, U's entries are scaled to a unit diagonal
#                                (Wc[nl + r] *= dinv[bwd[0, r]]);
#   outside (n * n,) int64       1 where the plan holds no entry for J (original numbering);
#                                size 0 when the caller guarantees exact zeros there (a
#                                generated model's Jacobian: ``_sparsity.make_plan(exact=)``).
# The factor and solve loops run over flat operation lists, not nested per-column loops: with
# two or three entries per column, loop exits would mispredict more often than they compute.
# An empty plan (q.size == 0) means: dense LU.
# A generated model carries the exact plan of its pattern written out as straight-line code
# (``ldnsim.model.lucode``: every index a constant, the factors in locals; on the LDN model
# half the time of the factorisation below, two thirds of a solve's), which
# ``steps.rosenbrock_step`` calls instead when given
# (``glu``). It performs the same floating-point operations in the same order, so a change
# here must be made there too (``tests/test_generated_lu.py`` compares them bit for bit).
GROWTH = 10.0


@njit(cache=True, inline="always", error_model="numpy", _nrt=False)
def sparse_factor(Jf, inv_hg, plan, Wc, dinv, rowmax):
    """Factor W = I * inv_hg - J (J as its flat view ``Jf``) in the plan's order into ``Wc``
    and ``dinv`` (reciprocal pivots); ``rowmax`` (n,) is work. False: use the dense LU."""
    q, asm, kptr, optr, ops, fwd, bwd, outside = plan
    n = q.size
    nl = fwd.shape[1]
    Wu = Wc[nl:]  # views: a constant offset would cost a negative-index check per access
    Wd = Wc[nl + bwd.shape[1]:]
    bad = 0
    for r in range(outside.size):  # n * n, or 0 for an exact pattern
        bad |= np.int64(Jf[r] != 0.0) & outside[r]
    if bad != 0:  # J left the declared pattern (NaN counts as a non-zero)
        return False
    for a in range(n):
        rowmax[a] = 0.0
    for r in range(asm.shape[1]):
        v = -Jf[asm[1, r]]
        Wc[asm[0, r]] = v
        a = asm[2, r]
        rowmax[a] = max(rowmax[a], abs(v))
    stride = np.uint64(n + 1)
    for a in range(n):
        d = inv_hg - Jf[q[a] * stride]
        Wd[a] = d
        rowmax[a] = GROWTH * max(rowmax[a], abs(d))
    big = False
    for k in range(n):
        piv = Wd[k]
        apiv = abs(piv)
        if not (apiv > 0.0) or not (apiv < np.inf):
            return False
        inv = 1.0 / piv
        dinv[k] = inv
        for r in range(np.uint64(kptr[k]), np.uint64(kptr[k + 1])):  # unsigned: no wraparound
            v = Wc[r] * inv
            Wc[r] = v
            big |= not (abs(v) < np.inf)
        for r in range(np.uint64(optr[k]), np.uint64(optr[k + 1])):  # checks on Wc[r], ops[:, r]
            prod = Wc[ops[1, r]] * Wc[ops[2, r]]
            Wc[ops[0, r]] -= prod
            big |= not (abs(prod) <= rowmax[ops[3, r]])  # a pivot too small here (or NaN)
    if big:
        return False
    for r in range(bwd.shape[1]):
        Wu[r] *= dinv[bwd[0, r]]
    return True


@njit(cache=True, inline="always", error_model="numpy", _nrt=False)
def sparse_solve(plan, Wc, dinv, z, b):
    """Solve W x = b in place in ``b`` from :func:`sparse_factor`'s output (``z`` (n,) work)."""
    q, fwd, bwd = plan[0], plan[5], plan[6]
    n = q.size
    nl = fwd.shape[1]
    for a in range(n):
        z[a] = b[q[a]]
    for r in range(nl):
        z[fwd[0, r]] -= Wc[r] * z[fwd[1, r]]
    for a in range(n):
        z[a] *= dinv[a]
    Wu = Wc[nl:]
    for r in range(bwd.shape[1]):
        z[bwd[0, r]] -= Wu[r] * z[bwd[1, r]]
    for a in range(n):
        b[q[a]] = z[a]
