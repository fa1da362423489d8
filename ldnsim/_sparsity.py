"""Sparse-LU plans for the Rosenbrock matrix W = I/(h gamma) - J (pure numpy, run once per
solve call; the kernels that use a plan are in ``ldnsim._kernels.linalg``).

A plan fixes, from the structure of J alone, the elimination order and the non-zeros of the
factors, so that each step's factorisation and its eight solves touch only those non-zeros.
The order is a greedy minimum-degree order on the symmetrised graph (ties to the lowest
index, so the plan and therefore every result is a deterministic function of the pattern).
The ordering is symmetric: W's diagonal, which holds 1/(h gamma), stays the pivot; the
kernels check the growth every pivot causes and fall back to the dense, partially pivoted LU
when a pivot is too small for its row and column.
"""
from __future__ import annotations

import hashlib

import numpy as np

# Below this many states the dense LU is as fast (and the plan not worth building).
SPARSE_MIN_N = 8
# Use the plan only if it saves at least this share of the dense factorisation's work.
MAX_WORK_SHARE = 0.5


def empty_plan():
    """The plan that means "dense LU" (all arrays empty; same types as a real plan)."""
    u1, u2 = np.zeros(0, np.uint64), np.zeros((2, 0), np.uint64)
    return (u1, np.zeros((3, 0), np.uint64), np.zeros(1, np.int64), np.zeros(1, np.int64),
            np.zeros((4, 0), np.uint64), u2, u2, np.zeros(0, np.int64))


def minimum_degree_order(pattern):
    """Greedy minimum-degree elimination order of the graph of ``pattern | pattern.T``."""
    g = np.asarray(pattern, bool)
    g = g | g.T
    n = g.shape[0]
    np.fill_diagonal(g, False)
    alive = np.ones(n, bool)
    order = []
    for _ in range(n):
        deg = np.where(alive, (g & alive).sum(axis=1), n + 1)
        v = int(np.argmin(deg))  # first minimum: lowest index on ties
        nb = np.flatnonzero(g[v] & alive)
        g[np.ix_(nb, nb)] = True  # eliminating v joins its neighbours
        g[nb, nb] = False
        alive[v] = False
        order.append(v)
    return np.array(order, np.int64)


def symbolic_fill(pattern, order):
    """Filled pattern of ``pattern[order][:, order]`` (diagonal included) after LU without
    pivoting."""
    f = np.asarray(pattern, bool)[np.ix_(order, order)].copy()
    np.fill_diagonal(f, True)
    n = f.shape[0]
    for k in range(n):
        rows = k + 1 + np.flatnonzero(f[k + 1:, k])
        cols = k + 1 + np.flatnonzero(f[k, k + 1:])
        if rows.size and cols.size:
            f[np.ix_(rows, cols)] = True
    return f


def factor_work(filled):
    """Multiply-adds of one LU over ``filled`` (sum over pivots of |L col| * |U row|)."""
    n = filled.shape[0]
    return int(sum(np.count_nonzero(filled[k + 1:, k]) * np.count_nonzero(filled[k, k + 1:])
                   for k in range(n)))


def make_plan(pattern, exact=False):
    """Plan for a Jacobian with non-zeros where ``pattern`` (n, n) is True, or the empty
    (dense) plan when the factors would not be sparse enough to pay off.

    ``exact``: the caller guarantees that J is exactly zero outside ``pattern`` after every
    call of the Jacobian function (a generated model's ``jac`` zeroes every entry, then writes
    the structural non-zeros; its ``jac_nonzeros``, which ``run_rows`` passes, writes only the
    structural non-zeros into a J the kernels zeroed once). The plan then carries no ``outside``
    mask (size 0) and the kernels skip checking J against it, a pass over all n * n entries
    per step (5 % of an LDN step); the factors and results are the same bit for bit.
    """
    pattern = np.asarray(pattern, bool)
    n = pattern.shape[0]
    if n < SPARSE_MIN_N:
        return empty_plan()
    order = minimum_degree_order(pattern)
    filled = symbolic_fill(pattern, order)
    dense_work = sum((n - k - 1) ** 2 for k in range(n))
    if factor_work(filled) > MAX_WORK_SHARE * dense_work:
        return empty_plan()
    return _operation_lists(order, filled, exact)


def _operation_lists(order, filled, exact=False):
    """The flat operation lists of a plan (layout: ``ldnsim._kernels.linalg``)."""
    n = order.size
    # Compact storage of the factors: L's entries in forward-solve order (column by column,
    # rows increasing), then U's off-diagonal entries in backward-solve order (last column
    # first), then the n pivots. The solves then read the values in storage order.
    lcols = [k + 1 + np.flatnonzero(filled[k + 1:, k]) for k in range(n)]
    ucols = [np.flatnonzero(filled[:k, k]) for k in range(n)]
    pos = {}
    fwd, bwd = [], []
    kptr = np.zeros(n + 1, np.int64)
    for k in range(n):
        for i in lcols[k]:
            pos[i, k] = len(fwd)
            fwd.append((i, k))
        kptr[k + 1] = len(fwd)
    nl = len(fwd)
    for k in range(n - 1, -1, -1):
        for i in ucols[k]:
            pos[i, k] = nl + len(bwd)
            bwd.append((i, k))
    nd = nl + len(bwd)
    for a in range(n):
        pos[a, a] = nd + a
    off = filled & ~np.eye(n, dtype=bool)
    a_idx, b_idx = np.nonzero(off)                  # W's filled off-diagonal entries
    asm = np.array([[pos[a, b] for a, b in zip(a_idx, b_idx)],
                    order[a_idx] * n + order[b_idx], a_idx], np.int64).reshape(3, -1)
    optr = np.zeros(n + 1, np.int64)
    ops = []
    for k in range(n):
        cols = k + 1 + np.flatnonzero(filled[k, k + 1:])
        ops.extend((pos[i, j], pos[i, k], pos[k, j], i) for i in lcols[k] for j in cols)
        optr[k + 1] = len(ops)
    outside = np.ones((n, n), np.int64)
    outside[np.ix_(order, order)] = np.where(filled, 0, 1)  # filled[a, b] is J[q[a], q[b]]

    def table(rows, width):
        return np.array(rows, np.uint64).reshape(-1, width).T.copy()

    return (order.astype(np.uint64), asm.astype(np.uint64), kptr, optr, table(ops, 4),
            table(fwd, 2), table(bwd, 2), outside.reshape(-1)[:0 if exact else n * n].copy())


def plan_digest(plan) -> str:
    """Hex sha256 of a plan's arrays (dtype, shape and values of each): identifies the plan a
    generated straight-line LU was written for (``ldnsim.model.lucode``)."""
    h = hashlib.sha256()
    for a in plan:
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def check_pattern(jac_sparsity, n):
    """Validate a user's ``jac_sparsity`` (n, n) array-like of booleans/0-1 values."""
    a = np.asarray(jac_sparsity)
    if a.shape != (n, n):
        raise ValueError(f"jac_sparsity must have shape ({n}, {n}) (one entry per Jacobian "
                         f"element), got {a.shape}")
    if a.dtype != bool:
        if not np.issubdtype(a.dtype, np.number) or not np.all(np.isfinite(a)):
            raise ValueError("jac_sparsity must hold booleans or 0/1 numbers")
        a = a != 0
    return a
