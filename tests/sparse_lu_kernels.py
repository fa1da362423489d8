"""The solver's generic sparse LU (``ldnsim._kernels.linalg``) callable from tests: the kernels
are inlined into the step, so tests reach them through these njit wrappers (work arrays
allocated here)."""
import numba
import numpy as np

from ldnsim._kernels.linalg import sparse_factor, sparse_solve


@numba.njit
def generic_factor(Jf, inv_hg, plan, Wc, dinv):
    """``sparse_factor`` of W = I inv_hg - J (J flat, (n * n,)) into ``Wc``, ``dinv``."""
    return sparse_factor(Jf, inv_hg, plan, Wc, dinv, np.empty(dinv.size))


@numba.njit
def generic_solve(plan, Wc, dinv, b):
    """``sparse_solve`` in place in ``b``."""
    sparse_solve(plan, Wc, dinv, np.empty(b.size), b)
