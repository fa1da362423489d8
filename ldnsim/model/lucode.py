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
the value ``-Jf[...]`` has there: J is exactly zero outside its pattern (the promise of
``jac_sparsity_exact``: ``jac`` writes zeros there, ``jac_nonzeros`` never writes there and the
kernels zero J once per row), so these entries need not be read.
"""
from __future__ import annotations

import numpy as np

__all__ = ["lu_lines", "plan_operations", "MAX_OPERATIONS"]

#: ``linalg.GROWTH``, the growth bound of the sparse factorisation (kept equal by a test;
#: importing the kernels here would load numba before any code is generated).
GROWTH = 10.0

#: Largest plan written out as straight-line code, in operations (W's assembled entries,
#: elimination updates, forward and backward solve entries). The source grows with them
#: (about 4.5 lines each) and numba's compile time faster than the source: the LDN model's
#: 213 operations compile in about 2.6 s (CPU), a random 33-state pattern with 1,327 in
#: 10.6 s, a random 60-state one with 8,197 in 128 s. Above the budget the model gets no generated
#: LU and the kernels run the generic loops over the same plan (the same results, bit for bit).
MAX_OPERATIONS = 500


def plan_operations(plan) -> int:
    """Operations of a sparse-LU plan as :data:`MAX_OPERATIONS` counts them."""
    _, asm, _, _, ops, fwd, bwd, _ = plan
    return int(asm.shape[1] + ops.shape[1] + fwd.shape[1] + bwd.shape[1])


def lu_lines(pattern, jit: str):
    """``(lines, digest)``: source lines of the two functions for ``pattern`` (n, n) bool,
    each decorated with ``jit``, and ``_sparsity.plan_digest`` of their plan; ``([], None)`` when
    ``make_plan`` chooses the dense LU for this pattern, or when the plan has more than
    :data:`MAX_OPERATIONS` operations (its code would take too long to compile)."""
    from ldnsim._sparsity import make_plan, plan_digest

    pattern = np.asarray(pattern, bool)
    plan = make_plan(pattern, exact=True)
    if plan[0].size == 0 or plan_operations(plan) > MAX_OPERATIONS:
        return [], None
    return (_factor_lines(plan, pattern, jit) + [""] + _solve_lines(plan, jit),
            plan_digest(plan))


class _Versions:
    """Single-assignment names: ``new(v)`` names the next value of variable ``v``, ``cur(v)``
    its current one (numba compiles a long function much faster when no name is assigned
    twice: it need not rebuild single-assignment form)."""

    def __init__(self):
        self.count = {}

    def new(self, v):
        self.count[v] = self.count.get(v, -1) + 1
        return self.cur(v)

    def cur(self, v):
        k = self.count[v]
        return v if k == 0 else f"{v}_{k}"


def _factor_lines(plan, pattern, jit):
    q, asm, kptr, optr, ops, fwd, bwd, _ = (np.asarray(a, np.int64) for a in plan)
    n = q.size
    nl, nu = fwd.shape[1], bwd.shape[1]
    nd = nl + nu
    v = _Versions()
    # m<a>: the largest |W| entry of row a (growth check), then GROWTH times it
    body = [f"{v.new(f'm{a}')} = 0.0" for a in range(n)]
    for pos, src, a in asm.T:
        i, j = divmod(int(src), n)
        w = v.new(f"w{pos}")
        body.append(f"{w} = -Jf[{src}]" if pattern[i, j] else f"{w} = -0.0  # fill")
        m = v.cur(f"m{a}")
        body.append(f"{v.new(f'm{a}')} = max({m}, abs({w}))")
    for a in range(n):
        w = v.new(f"w{nd + a}")
        body.append(f"{w} = inv_hg - Jf[{q[a] * (n + 1)}]")
        m = v.cur(f"m{a}")
        body.append(f"{v.new(f'm{a}')} = {GROWTH!r} * max({m}, abs({w}))")
    # sparse_factor returns False at the first bad pivot, and after the elimination when an
    # L entry is not finite or an update too large ("big"); here every check is ANDed into
    # one flag tested once (the same answer; the factors are not used when it is False)
    body += [f"{v.new('ok')} = True", "inf = np.inf"]
    for k in range(n):
        piv = v.cur(f"w{nd + k}")
        a = v.new("a")
        ok = v.cur("ok")
        body += [f"{a} = abs({piv})",
                 f"{v.new('ok')} = {ok} & (({a} > 0.0) & ({a} < inf))",
                 f"i{k} = 1.0 / {piv}"]
        for r in range(kptr[k], kptr[k + 1]):
            old = v.cur(f"w{r}")
            w = v.new(f"w{r}")
            ok = v.cur("ok")
            body += [f"{w} = {old} * i{k}", f"{v.new('ok')} = {ok} & (abs({w}) < inf)"]
        for r in range(optr[k], optr[k + 1]):
            o0, o1, o2, row = ops[:, r]
            x = v.new("x")
            old = v.cur(f"w{o0}")
            body.append(f"{x} = {v.cur(f'w{o1}')} * {v.cur(f'w{o2}')}")
            body.append(f"{v.new(f'w{o0}')} = {old} - {x}")
            ok = v.cur("ok")
            body.append(f"{v.new('ok')} = {ok} & (abs({x}) <= {v.cur(f'm{row}')})")
    body += [f"if not {v.cur('ok')}:", "    return False"]
    for r in range(nu):
        old = v.cur(f"w{nl + r}")
        body.append(f"{v.new(f'w{nl + r}')} = {old} * i{bwd[0, r]}")
    body += [f"Wc[{pos}] = {v.cur(f'w{pos}')}" for pos in range(nd + n)]
    body += [f"dinv[{k}] = i{k}" for k in range(n)]
    body.append("return True")
    head = [jit, "def lu_factor_sparse(Jf, inv_hg, Wc, dinv):",
            f'    """W = inv_hg * I - J into Wc ({nd + n},), dinv ({n},); False: use the dense '
            'LU."""']
    return head + ["    " + line for line in body]


def _solve_lines(plan, jit):
    q, fwd, bwd = (np.asarray(plan[i], np.int64) for i in (0, 5, 6))
    n, nl = q.size, fwd.shape[1]
    v = _Versions()
    body = [f"{v.new(f'z{a}')} = b[{q[a]}]" for a in range(n)]

    def update(t, s, r):
        old, src = v.cur(f"z{t}"), v.cur(f"z{s}")
        return f"{v.new(f'z{t}')} = {old} - Wc[{r}] * {src}"

    body += [update(t, s, r) for r, (t, s) in enumerate(fwd.T)]
    for a in range(n):
        old = v.cur(f"z{a}")
        body.append(f"{v.new(f'z{a}')} = {old} * dinv[{a}]")
    body += [update(t, s, nl + r) for r, (t, s) in enumerate(bwd.T)]
    body += [f"b[{q[a]}] = {v.cur(f'z{a}')}" for a in range(n)]
    head = [jit, "def lu_solve_sparse(Wc, dinv, b):",
            '    """Solve W x = b in place in b from lu_factor_sparse\'s Wc and dinv."""']
    return head + ["    " + line for line in body]
