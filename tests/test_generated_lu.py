"""The generated straight-line sparse LU (``ldnsim.model.lucode``) against the solver's generic
one (``ldnsim._kernels.linalg.sparse_factor``/``sparse_solve``): the same factors and solves
bit for bit, the same refusals (dense fallback), and the same steps and results in run_rows.
"""
import json
import os
import pathlib
import subprocess
import sys

import numba
import numpy as np
import pytest
from sparse_lu_kernels import generic_factor, generic_solve

from ldnsim import _sparsity, solver
from ldnsim._kernels.linalg import GROWTH
from ldnsim.dosing import Regimen
from ldnsim.events import pad_event_tables
from ldnsim.model import load_model, loads_model
from ldnsim.simulation import run_rows

REPO = pathlib.Path(__file__).resolve().parents[1]


@numba.njit
def _call_factor(factor, Jf, inv_hg, Wc, dinv):  # the cfunc as the kernels call it
    return factor(Jf, inv_hg, Wc, dinv)


@numba.njit
def _call_solve(solve, Wc, dinv, b):
    solve(Wc, dinv, b)


@pytest.fixture(scope="module")
def ldn():
    m = load_model("ldn")
    c = m.compile()
    return m, c, _sparsity.make_plan(c.jac_sparsity, exact=True)


def _both(c, plan, J, inv_hg):
    """(ok, Wc, dinv) of the generic and of the generated factorisation of inv_hg I - J."""
    n = c.n_states
    Jf = np.ascontiguousarray(J).reshape(-1)
    nf = plan[1].shape[1] + n
    g = (np.full(nf, np.nan), np.full(n, np.nan))
    s = (np.full(nf, np.nan), np.full(n, np.nan))
    ok_g = generic_factor(Jf, inv_hg, plan, *g)
    ok_s = _call_factor(c.sparse_lu[0], Jf, inv_hg, *s)
    return (ok_g, *g), (bool(ok_s), *s)


def _ldn_states(m, c):
    """LDN states along 4 days of 4.5 and of 300 mg a day (after doses, between them)."""
    t = np.arange(0.0, 97.0, 3.0)
    out = []
    for dose in (4.5, 300.0):
        ev = pad_event_tables([Regimen.repeat(dose, every=24.0, count=4).expand(m)])
        res = run_rows(c, t, m.parameter_vector()[None], m.initial_state(), ev)
        assert res.status[0] == 0
        out += list(res.states[0, [0, 1, 2, 9, 25, 32]])
    return out


def test_growth_constant_is_the_kernels():
    from ldnsim.model import lucode
    assert lucode.GROWTH == GROWTH


def test_ldn_module_carries_the_generated_lu(ldn):
    m, c, plan = ldn
    assert plan[0].size == c.n_states == 33
    factor, solve, digest = c.sparse_lu
    assert digest == _sparsity.plan_digest(plan) == c.module.SPARSE_LU_DIGEST
    assert (factor, solve) == (c.module.lu_factor_cfunc, c.module.lu_solve_cfunc)


@pytest.mark.parametrize("inv_hg", [1e6, 1e2, 1.0, 1e-2, 1e-5])
def test_factor_and_solve_bitwise_on_ldn_w(ldn, inv_hg):
    """At states along a dosed run and steps from tiny to huge: the same accept/refuse
    decision, and when accepted the same Wc, dinv and solutions, bit for bit."""
    m, c, plan = ldn
    rng = np.random.default_rng(7)
    J = np.empty((c.n_states, c.n_states))
    p = m.parameter_vector()
    n_ok = n_refused = 0
    for y in _ldn_states(m, c):
        c.jac(0.0, y, p, J)
        (ok_g, W_g, d_g), (ok_s, W_s, d_s) = _both(c, plan, J, inv_hg)
        assert ok_g == ok_s
        if not ok_g:
            n_refused += 1
            continue
        n_ok += 1
        assert np.array_equal(W_g, W_s) and np.array_equal(d_g, d_s)
        for _ in range(3):
            b = rng.standard_normal(c.n_states) * 10.0 ** rng.uniform(-6, 6, c.n_states)
            x_g, x_s = b.copy(), b.copy()
            generic_solve(plan, W_g, d_g, x_g)
            _call_solve(c.sparse_lu[1], W_s, d_s, x_s)
            assert np.array_equal(x_g, x_s)
    assert n_ok > 0
    if inv_hg >= 1.0:  # W is dominated by its diagonal: the static pivots are accepted
        assert n_refused == 0


def test_refusals_match_growth_zero_pivot_and_non_finite(ldn):
    """Constructed W that the growth check, the pivot check or the non-finite checks refuse:
    the generated factorisation refuses exactly when the generic one does."""
    m, c, plan = ldn
    n = c.n_states
    J = np.empty((n, n))
    c.jac(0.0, _ldn_states(m, c)[9], m.parameter_vector(), J)  # 27 h into 300 mg a day
    inv_hg = 10.0
    assert _both(c, plan, J, inv_hg)[0][0]
    q = plan[0].astype(int)
    optr = plan[3]
    refusals = {"growth": 0, "zero pivot": 0}
    for a in range(n):  # a tiny pivot (growth, if it updates anything), then a zero one
        for value, what in ((inv_hg - 1e-9, "growth"), (inv_hg, "zero pivot")):
            J2 = J.copy()
            J2[q[a], q[a]] = value
            (ok_g, W_g, d_g), (ok_s, W_s, d_s) = _both(c, plan, J2, inv_hg)
            assert ok_g == ok_s
            refusals[what] += not ok_g
            if ok_g:
                assert np.array_equal(W_g, W_s) and np.array_equal(d_g, d_s)
    # a zero diagonal of W is not a zero pivot where earlier updates change it
    assert refusals["zero pivot"] >= n - sum(optr[1:] > optr[:-1]) > 0
    assert refusals["growth"] > 0
    # NaN and inf in J: an off-diagonal structural entry, a diagonal one; inf 1/(h gamma)
    i, j = next((i, j) for i, j in c.module.JAC_PATTERN if i != j and J[i, j] != 0)
    for bad in (np.nan, np.inf, -np.inf):
        for (r, s) in ((i, j), (q[-1], q[-1])):
            J3 = J.copy()
            J3[r, s] = bad
            (ok_g, *_), (ok_s, *_) = _both(c, plan, J3, inv_hg)
            assert ok_g is False and ok_s is False
    (ok_g, *_), (ok_s, *_) = _both(c, plan, J, np.inf)
    assert ok_g is False and ok_s is False


def _step(c, plan, glu, J, y, h):
    """One Rodas5P step of the LDN model from ``y`` with Jacobian ``J``: (ok, ynew, stats)."""
    from ldnsim._kernels import steps
    from ldnsim._kernels import tableaus as tb
    n = c.n_states
    rhs = c.kernel_functions[0]
    p = c.model.parameter_vector()
    f0 = np.empty(n)
    c.rhs(0.0, y, p, f0)
    J = J.copy()
    ynew = np.full(n, np.nan)
    stats = np.zeros(6, np.int64)
    ok = steps.rosenbrock_step(rhs, 0.0, y, h, p, f0, np.zeros(n), False, J, J.reshape(-1),
                               np.empty((n, n)), np.empty(n, np.int64),
                               np.empty((tb.RODAS5P_c.size, n)), ynew, np.empty(n),
                               tb.RODAS5P_A, tb.RODAS5P_C, tb.RODAS5P_GAMMA, tb.RODAS5P_c,
                               tb.RODAS5P_d, tb.RODAS5P_M, tb.RODAS5P_STAGE_INPUTS, stats, plan,
                               np.empty(plan[1].shape[1] + n), np.empty(n), np.empty(n), glu)
    return ok, ynew, stats


def test_step_falls_back_to_the_dense_lu_with_the_generated_lu(ldn):
    """A step whose W the static pivots cannot factor (a tiny pivot: growth) takes the dense
    LU with the generated LU as with the generic one (counted), with the same result; an
    ordinary step is the same bit for bit too."""
    from ldnsim._kernels import tableaus as tb
    m, c, plan = ldn
    n = c.n_states
    y = _ldn_states(m, c)[9]
    J = np.empty((n, n))
    c.jac(0.0, y, m.parameter_vector(), J)
    h = 0.05
    inv_hg = 1.0 / (h * tb.RODAS5P_GAMMA)
    q = plan[0].astype(int)
    J_bad = None
    for a in range(n):
        J2 = J.copy()
        J2[q[a], q[a]] = inv_hg - 1e-9
        if not _both(c, plan, J2, inv_hg)[0][0]:
            J_bad = J2
            break
    assert J_bad is not None
    generated = (True, c.sparse_lu[0], c.sparse_lu[1])
    generic = solver._glu(None, plan)
    for Jx, dense in ((J, 0), (J_bad, 1)):
        ok_g, y_g, st_g = _step(c, plan, generic, Jx, y, h)
        ok_s, y_s, st_s = _step(c, plan, generated, Jx, y, h)
        assert ok_g and ok_s and st_g[5] == st_s[5] == dense
        assert np.array_equal(y_g, y_s) and np.array_equal(st_g, st_s)


@pytest.mark.parametrize("dose", [4.5, 300.0])
def test_run_rows_same_steps_and_outputs_with_and_without_generated_lu(ldn, dose):
    """8 weeks of daily doses, three parameter rows: the generated LU gives the generic
    sparse LU's counters (steps, LUs, dense fallbacks) and outputs bit for bit."""
    m, c, _ = ldn
    rng = np.random.default_rng(11)
    P = np.tile(m.parameter_vector(), (3, 1))
    idx = [c.parameter_index(k) for k in ("ka", "CL_ntx", "V_ntx", "Kd_ntx")]
    P[:, idx] *= np.exp(0.2 * rng.standard_normal((3, 4)))
    ev = pad_event_tables([Regimen.repeat(dose, every=24.0, count=56).expand(m)])
    t = np.arange(0.0, 56 * 24 + 1.0, 6.0)
    rhs, jac, outputs = c.kernel_functions
    kw = dict(jac=jac, outputs=outputs, n_outputs=c.n_outputs, method="rodas5p", rtol=1e-6,
              atol=1e-9, doses=(ev[0], ev[2], ev[3], ev[1]), autonomous=c.autonomous,
              jac_sparsity=c.jac_sparsity, jac_sparsity_exact=True)
    y0 = m.initial_state()
    generic = solver.integrate_batch(rhs, y0, t, P, **kw)
    generated = solver.integrate_batch(rhs, y0, t, P, sparse_lu=c.sparse_lu, **kw)
    rows = run_rows(c, t, P, y0, ev, method="rodas5p")
    assert np.all(generic.status == 0)
    for res in (generated, rows):
        assert np.array_equal(res.y if hasattr(res, "y") else res.states, generic.y)
        assert np.array_equal(res.outputs, generic.outputs)
        for k in solver.STAT_NAMES:
            assert np.array_equal(res.stats[k], generic.stats[k]), k
    assert np.all(generic.stats["n_lu"] > 0)


def test_sparse_lu_for_another_plan_is_refused(ldn):
    m, c, _ = ldn
    rhs, jac, _ = c.kernel_functions
    t = np.array([0.0, 1.0])
    P = m.parameter_vector()[None]
    kw = dict(jac=jac, jac_sparsity=c.jac_sparsity, sparse_lu=c.sparse_lu)
    with pytest.raises(ValueError, match="another sparse-LU plan"):  # the checked plan
        solver.integrate_batch(rhs, m.initial_state(), t, P, **kw)
    with pytest.raises(ValueError, match="another sparse-LU plan"):
        solver.integrate_batch(rhs, m.initial_state(), t, P, jac_sparsity_exact=True,
                               **{**kw, "jac_sparsity": c.jac_sparsity
                                  | np.eye(c.n_states, k=1, dtype=bool)})
    with pytest.raises(ValueError, match="sparse_lu must be"):
        solver.integrate_batch(rhs, m.initial_state(), t, P, jac_sparsity_exact=True,
                               **{**kw, "sparse_lu": (c.sparse_lu[0],)})
    # dopri5 factors nothing: the generated LU is simply not used
    res = solver.integrate_batch(rhs, m.initial_state(), t, P, method="dopri5", **kw)
    assert res.status[0] == 0


def _model_text(name, n, coupled):
    """n states; each decays and is fed by its predecessor (a chain: sparse), or by every
    other state (``coupled``: a dense Jacobian)."""
    states = "\n".join(f'x{i} = {{ init = {1.0 if i == 0 else 0.0}, unit = "mg" }}'
                       for i in range(n))
    odes = []
    for i in range(n):
        feed = (" + ".join(f"0.01 * k * x{j}" for j in range(n) if j != i) if coupled
                else (f"k * x{i - 1}" if i else "0"))
        odes.append(f'x{i} = "{feed} - k * x{i}"')
    return f'''\
[model]
name = "{name}"
description = "test model"
time_unit = "h"
dose_target = "x0"

[states]
{states}

[parameters]
k = {{ value = 0.5, unit = "1/h", source = "test" }}

[odes]
{chr(10).join(odes)}
'''


@pytest.mark.parametrize("name,n,coupled,sparse", [
    ("lu_small", 4, False, False),   # below SPARSE_MIN_N: the dense LU
    ("lu_dense", 9, True, False),    # a dense Jacobian: make_plan chooses the dense LU
    ("lu_chain", 12, False, True),   # a chain: a generated sparse LU
])
def test_models_with_and_without_a_generated_lu(name, n, coupled, sparse):
    m = loads_model(_model_text(name, n, coupled))
    c = m.compile()
    assert (c.sparse_lu is not None) == sparse
    assert (c.module.SPARSE_LU_DIGEST is not None) == sparse
    if not sparse:
        assert c.module.lu_factor_cfunc is None and c.module.lu_solve_cfunc is None
    t = np.linspace(0.0, 24.0, 25)
    ev = pad_event_tables([Regimen.repeat(1.0, every=6.0, count=4).expand(m)])
    res = run_rows(c, t, m.parameter_vector()[None], m.initial_state(), ev, method="rodas5p")
    assert res.status[0] == 0
    rhs, jac, _ = c.kernel_functions
    ref = solver.integrate_batch(rhs, m.initial_state(), t, m.parameter_vector()[None],
                                 jac=jac, method="rodas5p", doses=(ev[0], ev[2], ev[3], ev[1]),
                                 autonomous=c.autonomous, jac_sparsity=False)
    np.testing.assert_allclose(res.states, ref.y, rtol=1e-9, atol=1e-12)
    assert res.stats["n_lu_dense"][0] == 0


_NOJIT_SCRIPT = r'''
import json
import numpy as np
from ldnsim import solver
from ldnsim.dosing import Regimen
from ldnsim.events import pad_event_tables
from ldnsim.model import load_model
from ldnsim.simulation import run_rows
m = load_model("ldn")
c = m.compile()
assert c.sparse_lu is not None and c.sparse_lu[0] is c.module.lu_factor_sparse
ev = pad_event_tables([Regimen.repeat(300.0, every=24.0, count=1).expand(m)])
t = np.linspace(0.0, 6.0, 4)
P = m.parameter_vector()[None]
rows = run_rows(c, t, P, m.initial_state(), ev, method="rodas5p")
rhs, jac, outputs = c.kernel_functions
ref = solver.integrate_batch(rhs, m.initial_state(), t, P, jac=jac, method="rodas5p",
                             doses=(ev[0], ev[2], ev[3], ev[1]), autonomous=c.autonomous,
                             jac_sparsity=c.jac_sparsity)
print(json.dumps({"same": bool(np.array_equal(rows.states, ref.y)),
                  "stats": {k: int(v[0]) for k, v in rows.stats.items()},
                  "ref_stats": {k: int(v[0]) for k, v in ref.stats.items()},
                  "y": rows.states[0].tolist()}))
'''


@pytest.mark.slow
def test_generated_lu_under_numba_disable_jit(tmp_path, ldn):
    """Under NUMBA_DISABLE_JIT the generated LU runs as plain Python, bit for bit the generic
    plan path there, and agrees with the compiled run."""
    m, c, _ = ldn
    env = dict(os.environ, NUMBA_DISABLE_JIT="1", LDNSIM_CACHE_DIR=str(tmp_path),
               PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-c", _NOJIT_SCRIPT], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(proc.stdout)
    assert got["same"] and got["stats"] == got["ref_stats"]
    assert got["stats"]["n_lu"] > 0
    ev = pad_event_tables([Regimen.repeat(300.0, every=24.0, count=1).expand(m)])
    t = np.linspace(0.0, 6.0, 4)
    jit = run_rows(c, t, m.parameter_vector()[None], m.initial_state(), ev, method="rodas5p")
    np.testing.assert_allclose(np.array(got["y"]), jit.states[0], rtol=1e-12, atol=1e-300)


def test_plans_above_the_operation_budget_get_no_generated_lu(ldn):
    """Straight-line code is written only for plans within lucode.MAX_OPERATIONS (numba's
    compile time grows faster than the source); larger sparse plans keep the generic loops."""
    from ldnsim.model import lucode
    from ldnsim.model.codegen import _lu_part
    _, c, plan = ldn
    assert lucode.plan_operations(plan) <= lucode.MAX_OPERATIONS  # the LDN model: 213
    assert lucode.lu_lines(c.jac_sparsity, "@x")[1] is not None
    rng = np.random.default_rng(0)
    pat = rng.random((60, 60)) < 4 / 60
    np.fill_diagonal(pat, True)
    big = _sparsity.make_plan(pat, exact=True)
    assert big[0].size == 60  # sparse: the generic sparse LU runs it
    assert lucode.plan_operations(big) > lucode.MAX_OPERATIONS
    assert lucode.lu_lines(pat, "@x") == ([], None)
    nonzero = [(int(i), int(j)) for i, j in zip(*np.nonzero(pat))]
    text = "\n".join(_lu_part(60, nonzero))
    assert "SPARSE_LU_DIGEST = None" in text and "lu_factor_sparse = lu_solve_sparse = None" in text


def test_probed_pattern_is_the_same_with_jac_nonzeros(ldn):
    """probe_pattern hands the Jacobian a zeroed J, so jac_nonzeros (which writes only its
    pattern) gives the same probed pattern as the zero-filling jac."""
    from ldnsim._kernels import driver
    m, c, _ = ldn
    rhs, jac, _ = c.kernel_functions
    y0, p = m.initial_state(), m.parameter_vector()
    a = driver.probe_pattern(rhs, jac, True, 0.0, y0, p)
    b = driver.probe_pattern(rhs, c.jac_nonzeros_kernel, True, 0.0, y0, p)
    assert np.array_equal(a, b) and a.sum() > 0
    assert not np.any(a & ~c.jac_sparsity)


def test_steady_state_same_with_and_without_generated_lu(ldn, monkeypatch):
    """steady_state (jac_nonzeros + the generated LU) equals the generic path (zero-filling jac,
    generic sparse LU over the checked plan) bit for bit."""
    from ldnsim.dosing import Dose
    from ldnsim.model.compiled import CompiledModel
    from ldnsim.steady import steady_state
    m, c, _ = ldn
    reg = Regimen([Dose(4.5, every=24.0, ss=True)])
    P = m.parameter_vector()[None]
    fast = steady_state(c, reg, P, m.initial_state())
    monkeypatch.setattr(CompiledModel, "sparse_lu", property(lambda self: None))
    monkeypatch.setattr(CompiledModel, "jac_nonzeros_kernel",
                        property(lambda self: self.kernel_functions[1]))
    slow = steady_state(c, reg, P, m.initial_state())
    assert np.array_equal(fast.states, slow.states)
    assert fast.intervals == slow.intervals
