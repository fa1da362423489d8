"""Small dense LU with partial pivoting, in place, for the Rosenbrock W matrix.

For the 3-30 state systems ldnsim integrates, a hand-written LU avoids LAPACK's call
overhead and any allocation in the step loop.
"""
import numpy as np
from numba import njit


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
def lu_solve(LU, perm, b):
    """Solve ``A x = b`` in place in ``b`` (n,) from :func:`lu_factor`'s output."""
    n = LU.shape[0]
    for k in range(n):
        piv = perm[k]
        if piv != k:
            tmp = b[k]
            b[k] = b[piv]
            b[piv] = tmp
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
