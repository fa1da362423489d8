"""Straight-line sparse LU of W = I/(h gamma) - J for one Jacobian pattern (generated source).

The solver's generic sparse LU (``ldnsim._kernels.linalg.sparse_factor``/``sparse_solve``)
runs loops over the flat index lists of a plan (``ldnsim._sparsity.make_plan``): every
multiply-add loads its indices first (about 7.75 instructions per multiply-add in the solves).
A generated model's pattern is known when its code is generated, so :func:`lu_lines` writes
the same plan out as straight-line code, every index a constant and the factors held in local
variables until they are stored:

``lu_factor_sparse(Jf, inv_hg, Wc, dinv) -> bool``
    W = inv_hg * I - J (J as its flat view ``Jf`` (n * n,)) factored into ``Wc`` (nf,) and
    ``dinv`` (n,) exactly as ``sparse_factor`` does with the plan ``make_plan(pattern,
    exact=True)``: the same elimination order, fill, growth check (``linalg.GROWTH``),
    pivot and non-finite checks, and the same floating-point operations in the same order,
    so ``Wc`` and ``dinv`` are the same bit for bit. False: use the dense LU.
``lu_solve_sparse(Wc, dinv, b)``
    ``sparse_solve`` in place in ``b`` (n,): permutation, forward substitution, scaling,
    backward substitution, inverse permutation, through scalar locals (no work array).

Entries of W that the factors hold but J's pattern does not (fill) are written as ``-0.0``,
the value ``-Jf[...]`` has there: the generated ``jac`` writes exact zeros outside its pattern
(the promise of ``jac_sparsity_exact``), so these entries need not be read.
"""
from __future__ import annotations

import numpy as np

__all__ = ["lu_lines"]

#: ``linalg.GROWTH``, the growth bound of the sparse factorisation (kept equal by a test;
#: importing the kernels here would load numba before any code is generated).
GROWTH = 10.0


def lu_lines(pattern, jit: str):
    """``(lines, digest)``: source lines of the two functions for ``pattern`` (n, n) bool,
    each decorated with ``jit``, and ``_sparsity.plan_digest`` of their plan; ``([], None)`` when
    ``make_plan`` chooses the dense LU for this pattern."""
    from ldnsim._sparsity import make_plan, plan_digest

    pattern = np.asarray(pattern, bool)
    plan = make_plan(pattern, exact=True)
    if plan[0].size == 0:
        return [], None
    return (_factor_lines(plan, pattern, jit) + [""] + _solve_lines(plan, jit),
            plan_digest(plan))


def _factor_lines(plan, pattern, jit):
    q, asm, kptr, optr, ops, fwd, bwd, _ = (np.asarray(a, np.int64) for a in plan)
    n = q.size
    nl, nu = fwd.shape[1], bwd.shape[1]
    nd = nl + nu
    body = [f"m{a} = 0.0" for a in range(n)]  # largest |W| entry of row a (growth check)
    for pos, src, a in asm.T:
        i, j = divmod(int(src), n)
        body.append(f"w{pos} = -Jf[{src}]" if pattern[i, j] else f"w{pos} = -0.0  # fill")
        body.append(f"m{a} = max(m{a}, abs(w{pos}))")
    for a in range(n):
        body.append(f"w{nd + a} = inv_hg - Jf[{q[a] * (n + 1)}]")
        body.append(f"m{a} = {GROWTH!r} * max(m{a}, abs(w{nd + a}))")
    body.append("big = False")
    for k in range(n):
        body += [f"a = abs(w{nd + k})",
                 "if not (a > 0.0) or not (a < np.inf):",
                 "    return False",
                 f"i{k} = 1.0 / w{nd + k}"]
        for r in range(kptr[k], kptr[k + 1]):
            body += [f"w{r} = w{r} * i{k}", f"big |= not (abs(w{r}) < np.inf)"]
        for r in range(optr[k], optr[k + 1]):
            o0, o1, o2, row = ops[:, r]
            body += [f"x = w{o1} * w{o2}", f"w{o0} = w{o0} - x",
                     f"big |= not (abs(x) <= m{row})"]
    body.append("if big:")
    body.append("    return False")
    body += [f"w{nl + r} = w{nl + r} * i{bwd[0, r]}" for r in range(nu)]
    body += [f"Wc[{pos}] = w{pos}" for pos in range(nd + n)]
    body += [f"dinv[{k}] = i{k}" for k in range(n)]
    body.append("return True")
    head = [jit, "def lu_factor_sparse(Jf, inv_hg, Wc, dinv):",
            f'    """W = inv_hg * I - J into Wc ({nd + n},), dinv ({n},); False: use the dense '
            'LU."""']
    return head + ["    " + line for line in body]


def _solve_lines(plan, jit):
    q, fwd, bwd = (np.asarray(plan[i], np.int64) for i in (0, 5, 6))
    n, nl = q.size, fwd.shape[1]
    body = [f"z{a} = b[{q[a]}]" for a in range(n)]
    body += [f"z{t} = z{t} - Wc[{r}] * z{s}" for r, (t, s) in enumerate(fwd.T)]
    body += [f"z{a} = z{a} * dinv[{a}]" for a in range(n)]
    body += [f"z{t} = z{t} - Wc[{nl + r}] * z{s}" for r, (t, s) in enumerate(bwd.T)]
    body += [f"b[{q[a]}] = z{a}" for a in range(n)]
    head = [jit, "def lu_solve_sparse(Wc, dinv, b):",
            '    """Solve W x = b in place in b from lu_factor_sparse\'s Wc and dinv."""']
    return head + ["    " + line for line in body]
