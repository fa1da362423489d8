"""Small dense LU with partial pivoting, in place, for the Rosenbrock W matrix.

For the 3-30 state systems ldnsim integrates, a hand-written LU avoids LAPACK's call
overhead and any allocation in the step loop.
"""
import numpy as np
from numba import njit

# Changes whenever any kernel source changes (see cachekey.py), so numba never loads machine
# code built from older kernel sources.
KERNEL_SOURCES_SHA256 = "cca1497f46e61d7b902f53f445867cd9d1c1f5aac0c605f52904b501f41ab431"


@njit(cache=True, inline="always", error_model="numpy")
def lu_factor(A, perm):
    """Factor ``A`` (n, n) in place as P A = L U; ``perm`` (n,) int64 receives the pivots.

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
        for i in range(k + 1, n):
            A[i, k] *= inv
            lik = A[i, k]
            if lik != 0.0:
                for j in range(k + 1, n):
                    A[i, j] -= lik * A[k, j]
    return True


@njit(cache=True, inline="always", error_model="numpy")
def _permute(perm, b):
    """Apply the row interchanges of :func:`lu_factor` to ``b``, in place."""
    for k in range(b.size):
        piv = perm[k]
        if piv != k:
            tmp = b[k]
            b[k] = b[piv]
            b[piv] = tmp


@njit(cache=True, inline="always", error_model="numpy")
def lu_solve(LU, perm, b):
    """Solve ``A x = b`` in place in ``b`` (n,) from :func:`lu_factor`'s output."""
    n = LU.shape[0]
    _permute(perm, b)
    for i in range(n):
        s = b[i]
        for j in range(i):
            s -= LU[i, j] * b[j]
        b[i] = s
    for i in range(n - 1, -1, -1):
        s = b[i]
        for j in range(i + 1, n):
            s -= LU[i, j] * b[j]
        b[i] = s / LU[i, i]


# Sparse triangular solves. A Rosenbrock step solves with the same factors s times (8 for
# Rodas5P), and for ODE models W = I/(h gamma) - J is mostly zeros, as are its factors
# (POLLU: 20 x 20 with ~80 non-zeros). Above SPARSE_MIN_N states the factors are copied once
# per step into compressed rows and the s solves touch only the non-zeros; below it the dense
# loops are cheaper than the copy.
SPARSE_MIN_N = 8


@njit(cache=True, error_model="numpy")
def sparse_workspace(n):
    """Work arrays for :func:`lu_compress`, allocated once per trajectory:
    ``(lptr (n+1,), lidx (nn,), lval (nn,), uptr (n+1,), uidx (nn,), uval (nn,))`` with
    ``nn = n * n`` from ``SPARSE_MIN_N`` states on (1 below, where they are not used)."""
    nn = n * n if n >= SPARSE_MIN_N else 1
    return (np.zeros(n + 1, np.int64), np.zeros(nn, np.int64), np.zeros(nn),
            np.zeros(n + 1, np.int64), np.zeros(nn, np.int64), np.zeros(nn))


@njit(cache=True, error_model="numpy")
def lu_compress(LU, sp):
    """Copy the strictly lower (L) and strictly upper (U) non-zeros of ``LU`` into ``sp``."""
    lptr, lidx, lval, uptr, uidx, uval = sp
    n = LU.shape[0]
    nl = 0
    nu = 0
    for i in range(n):
        lptr[i] = nl
        uptr[i] = nu
        for j in range(i):
            v = LU[i, j]
            if v != 0.0:
                lidx[nl] = j
                lval[nl] = v
                nl += 1
        for j in range(i + 1, n):
            v = LU[i, j]
            if v != 0.0:
                uidx[nu] = j
                uval[nu] = v
                nu += 1
    lptr[n] = nl
    uptr[n] = nu


@njit(cache=True, error_model="numpy")
def lu_solve_sparse(LU, perm, sp, b):
    """As :func:`lu_solve`, from the compressed factors (the diagonal is read from ``LU``)."""
    lptr, lidx, lval, uptr, uidx, uval = sp
    n = LU.shape[0]
    _permute(perm, b)
    for i in range(n):
        s = b[i]
        for q in range(lptr[i], lptr[i + 1]):
            s -= lval[q] * b[lidx[q]]
        b[i] = s
    for i in range(n - 1, -1, -1):
        s = b[i]
        for q in range(uptr[i], uptr[i + 1]):
            s -= uval[q] * b[uidx[q]]
        b[i] = s / LU[i, i]
