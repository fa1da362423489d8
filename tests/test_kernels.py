"""Tests for ldnsim._kernels: method coefficients (order conditions), the dense LU, the error
norm and step-size control, and the single Rosenbrock step (observed order with fixed steps).

The order-condition tests recompute everything from the stored tables, so a mistyped digit in a
coefficient shows up as a violated condition of size ~1e-3..1e-16 x the digit's weight; the
tolerance 1e-12 is far above rounding (~1e-14 for these tables) and far below any real error.
"""
from math import factorial

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sparse_lu_kernels import generic_factor, generic_solve

from ldnsim._kernels import control, linalg, steps
from ldnsim._kernels import tableaus as tb
from ldnsim._sparsity import empty_plan
from ldnsim.solver import as_kernel_function

import ivp_problems as P


def _dense(n):
    """Plan, work arrays and (unused) generated LU for rosenbrock_step: the dense LU."""
    from ldnsim.solver import _glu
    return empty_plan(), np.empty(0), np.empty(n), np.empty(n), _glu(None, empty_plan())


TOL = 1e-12


# ------------------------------------------------------------------------ Butcher trees (ERK)
def _trees(order):
    """Rooted trees with ``order`` vertices, each a sorted tuple of its subtrees."""
    if order == 1:
        return [()]

    def forests(n, largest):  # multisets of trees with n vertices in total
        if n == 0:
            yield ()
            return
        for k in range(min(n, largest), 0, -1):
            for t in _trees(k):
                for rest in forests(n - k, k):
                    yield (t,) + rest

    return sorted({tuple(sorted(f)) for f in forests(order - 1, order - 1)})


def _rho(t):
    return 1 + sum(_rho(c) for c in t)


def _gamma(t):
    g = _rho(t)
    for c in t:
        g *= _gamma(c)
    return g


def _phi(t, A):
    """Stage vector of elementary weights: Phi_i(t) = prod over subtrees (A Phi(child))_i."""
    v = np.ones(A.shape[0])
    for c in t:
        v = v * (A @ _phi(c, A))
    return v


def test_tree_enumeration():
    # 1, 1, 2, 4, 9 rooted trees of orders 1..5 (17 order conditions for order 5)
    assert [len(_trees(k)) for k in range(1, 6)] == [1, 1, 2, 4, 9]


def _dopri5_extended():
    """DOPRI5 with its FSAL stage appended (7 stages; row 7 of A is B), as the dense output and
    the error weights E use it."""
    s = tb.DOPRI5_B.size
    A = np.zeros((s + 1, s + 1))
    A[:s, :s - 1] = tb.DOPRI5_A
    A[s, :s] = tb.DOPRI5_B
    B = np.append(tb.DOPRI5_B, 0.0)
    return A, B


# ---------------------------------------------------------------------------------- DOPRI5
def test_dopri5_shapes_and_consistency():
    s = tb.DOPRI5_B.size
    assert tb.DOPRI5_A.shape == (s, s - 1)  # scipy layout: column s would be all zero
    assert tb.DOPRI5_C.shape == (s,) and tb.DOPRI5_E.shape == (s + 1,)
    assert tb.DOPRI5_P.shape == (s + 1, 4)
    assert abs(tb.DOPRI5_B.sum() - 1.0) < TOL
    # explicit: A strictly lower triangular; rows of A sum to C
    A, _ = _dopri5_extended()
    assert np.all(np.triu(A) == 0)
    np.testing.assert_allclose(tb.DOPRI5_A.sum(axis=1), tb.DOPRI5_C, rtol=0, atol=TOL)
    # FSAL: the extra stage is f(t + h, y1), so it needs c = 1 for the last stage row B
    assert tb.DOPRI5_C[-1] == 1.0 and tb.DOPRI5_C[0] == 0.0


def test_dopri5_order_conditions():
    """B satisfies all 17 conditions of order <= 5 and fails some of order 6 (so the test
    can see a violation); the embedded weights B + E all of order <= 4 and fail order 5."""
    A, B = _dopri5_extended()
    Bhat = B + tb.DOPRI5_E
    for order in range(1, 6):
        for t in _trees(order):
            assert abs(B @ _phi(t, A) - 1.0 / _gamma(t)) < TOL, (order, t)
    assert max(abs(B @ _phi(t, A) - 1.0 / _gamma(t)) for t in _trees(6)) > 1e-5
    for order in range(1, 5):
        for t in _trees(order):
            assert abs(Bhat @ _phi(t, A) - 1.0 / _gamma(t)) < TOL, (order, t)
    assert max(abs(Bhat @ _phi(t, A) - 1.0 / _gamma(t)) for t in _trees(5)) > 1e-5


def test_dopri5_error_weights_consistent():
    # E = Bhat - B: both weight vectors sum to 1, so E sums to 0, and E is not trivially zero
    assert abs(tb.DOPRI5_E.sum()) < TOL
    assert np.max(np.abs(tb.DOPRI5_E)) > 1e-3


def test_dopri5_dense_output_reproduces_b_at_theta_1():
    # y(theta) = y0 + h sum_j k_j (P[j] @ [theta, theta^2, theta^3, theta^4]); at theta = 1
    # each row of P must sum to B (including the zero weight of the FSAL stage).
    _, B = _dopri5_extended()
    np.testing.assert_allclose(tb.DOPRI5_P.sum(axis=1), B, rtol=0, atol=TOL)
    assert tb.DOPRI5_P[-1].sum() == pytest.approx(0.0, abs=TOL)


@pytest.mark.parametrize("theta", [0.1, 0.37, 0.5, 0.8, 0.99])
def test_dopri5_dense_output_order_4(theta):
    """The continuous weights b(theta) satisfy sum b_i(theta) Phi_i(t) = theta^rho / gamma(t)
    for every tree of order <= 4 (a 4th-order interpolant)."""
    A, _ = _dopri5_extended()
    bt = tb.DOPRI5_P @ np.array([theta, theta**2, theta**3, theta**4])
    for order in range(1, 5):
        for t in _trees(order):
            assert abs(bt @ _phi(t, A) - theta**_rho(t) / _gamma(t)) < TOL, (order, t)


def test_dopri5_dense_eval_kernel_endpoints():
    rng = np.random.default_rng(1)
    n = 3
    K = rng.standard_normal((tb.DOPRI5_B.size + 1, n))
    y0 = rng.standard_normal(n)
    h = 0.3
    out = np.empty(n)
    steps.erk_dense_eval(0.0, h, y0, K, tb.DOPRI5_P, out)
    assert np.array_equal(out, y0)
    steps.erk_dense_eval(1.0, h, y0, K, tb.DOPRI5_P, out)
    y1 = y0 + h * (tb.DOPRI5_B @ K[:-1])
    np.testing.assert_allclose(out, y1, rtol=1e-14, atol=1e-14)


# --------------------------------------------------------------------------------- Rodas5P
def _standard_form(g, A, C, M):
    """Transform Hairer's stored form back (tableaus.py docstring; Hairer-Wanner II, IV.7):
    Gamma^{-1} = diag(1/gamma) - C, alpha = A Gamma, b = M Gamma; the embedded method's
    weights are those of the last stage's input (M without k_s), bhat = (M - e_s) Gamma."""
    s = M.size
    Gamma = np.linalg.inv(np.diag(np.full(s, 1.0 / g)) - C)
    alpha = A @ Gamma
    b = M @ Gamma
    bhat = (M - np.eye(s)[s - 1]) @ Gamma
    return g, Gamma, alpha, b, bhat


def _rodas5p_standard_form():
    return _standard_form(tb.RODAS5P_GAMMA, tb.RODAS5P_A, tb.RODAS5P_C, tb.RODAS5P_M)


def test_rodas5p_published_constants():
    # Steinebach (2023): gamma and stage times as listed in the reference notes
    assert tb.RODAS5P_GAMMA == 0.21193756319429014
    np.testing.assert_array_equal(
        tb.RODAS5P_c, [0.0, 0.6358126895828704, 0.4095798393397535, 0.9769306725060716,
                       0.4288403609558664, 1.0, 1.0, 1.0])
    s = tb.RODAS5P_c.size
    assert tb.RODAS5P_A.shape == (s, s) and tb.RODAS5P_C.shape == (s, s)
    assert tb.RODAS5P_H.shape == (3, s) and tb.RODAS5P_M.shape == (s,)
    assert np.all(np.triu(tb.RODAS5P_A) == 0) and np.all(np.triu(tb.RODAS5P_C) == 0)


def test_rodas5p_gamma_matrix():
    g, Gamma, alpha, _, _ = _rodas5p_standard_form()
    np.testing.assert_allclose(np.diag(Gamma), g, rtol=0, atol=TOL)
    assert np.max(np.abs(np.triu(Gamma, 1))) < TOL  # lower triangular
    # the time-derivative coefficients d_i are the row sums gamma_i of Gamma
    np.testing.assert_allclose(Gamma.sum(axis=1), tb.RODAS5P_d, rtol=0, atol=1e-13)
    # alpha strictly lower triangular, row sums = stage times c
    assert np.max(np.abs(np.triu(alpha))) < TOL
    np.testing.assert_allclose(alpha.sum(axis=1), tb.RODAS5P_c, rtol=0, atol=1e-13)


def test_rodas5p_stiffly_accurate_structure():
    # y1 is the input of the last stage plus k8 (error estimate = k8): M = A[7] + e_8, and
    # stages 7, 8 continue from stage 6's input.
    s = tb.RODAS5P_c.size
    np.testing.assert_array_equal(tb.RODAS5P_M[:s - 1], tb.RODAS5P_A[s - 1, :s - 1])
    assert tb.RODAS5P_M[s - 1] == 1.0
    np.testing.assert_array_equal(tb.RODAS5P_A[6, :5], tb.RODAS5P_A[5, :5])
    assert tb.RODAS5P_A[6, 5] == 1.0


def _rosenbrock_conditions(w, g, alpha, Gamma):
    """Residuals of the Rosenbrock order conditions (Hairer-Wanner II, Table 7.1) for weights
    ``w``, with beta = alpha + Gamma, beta'_i = sum_{j<i} beta_ij, alpha_i = sum_j alpha_ij.
    Returns {order: [residuals]} for orders 1..4."""
    beta = alpha + Gamma
    Bo = beta - np.diag(np.diag(beta))  # off-diagonal part
    bp = Bo.sum(axis=1)
    a = alpha.sum(axis=1)
    return {
        1: [w.sum() - 1.0],
        2: [w @ bp - (0.5 - g)],
        3: [w @ a**2 - 1.0 / 3.0,
            w @ Bo @ bp - (1.0 / 6.0 - g + g * g)],
        4: [w @ a**3 - 0.25,
            w @ (a * (alpha @ bp)) - (1.0 / 8.0 - g / 3.0),
            w @ Bo @ a**2 - (1.0 / 12.0 - g / 3.0),
            w @ Bo @ Bo @ bp - (1.0 / 24.0 - g / 2.0 + 1.5 * g * g - g**3)],
    }


def test_rodas5p_order_conditions_up_to_4():
    g, Gamma, alpha, b, bhat = _rodas5p_standard_form()
    for w in (b, bhat):
        for order, res in _rosenbrock_conditions(w, g, alpha, Gamma).items():
            assert np.max(np.abs(res)) < 1e-13, (order, res)


def test_rodas5p_linear_and_quadrature_conditions():
    """Cheap order-5 checks: on y' = lambda y the method's stability function must match e^z
    to O(z^6), i.e. b^T beta^k 1 = 1/(k+1)! for k <= 4 (full beta incl. the diagonal); on
    y' = g(t) the quadrature conditions sum b_i alpha_i^q = 1/(q+1), q = 2..4. The embedded
    weights satisfy them to order 4 only. Both are L-stable: R(inf) = 1 - b^T beta^{-1} 1 = 0."""
    g, Gamma, alpha, b, bhat = _rodas5p_standard_form()
    beta = alpha + Gamma
    one = np.ones(beta.shape[0])
    a = alpha.sum(axis=1)
    for w, order in ((b, 5), (bhat, 4)):
        for k in range(order):
            assert abs(w @ np.linalg.matrix_power(beta, k) @ one - 1.0 / factorial(k + 1)) < TOL
        for q in range(2, order):
            assert abs(w @ a**q - 1.0 / (q + 1)) < TOL
        # and the next condition is violated (the check can fail)
        assert abs(w @ a**order - 1.0 / (order + 1)) > 1e-4
        assert abs(1.0 - w @ np.linalg.solve(beta, one)) < TOL


@pytest.mark.parametrize("theta", [0.1, 0.3, 0.5, 0.77, 0.95])
def test_rodas5p_dense_output_conditions(theta):
    """y(theta) = y0 + sum_j m_j(theta) u_j with m(theta) = theta M + theta (1 - theta)
    (H0 + theta H1 + theta^2 H2); in standard form b(theta) = m(theta) Gamma must satisfy the
    order-4 conditions b(theta)^T beta^k 1 = theta^{k+1}/(k+1)! (k <= 3) and
    sum b_i(theta) alpha_i^q = theta^{q+1}/(q+1) (q = 2, 3)."""
    g, Gamma, alpha, _, _ = _rodas5p_standard_form()
    H = tb.RODAS5P_H
    m = theta * tb.RODAS5P_M + theta * (1.0 - theta) * (H[0] + theta * H[1] + theta**2 * H[2])
    bt = m @ Gamma
    beta = alpha + Gamma
    one = np.ones(beta.shape[0])
    a = alpha.sum(axis=1)
    for k in range(4):
        lhs = bt @ np.linalg.matrix_power(beta, k) @ one
        assert abs(lhs - theta ** (k + 1) / factorial(k + 1)) < TOL, k
    for q in (2, 3):
        assert abs(bt @ a**q - theta ** (q + 1) / (q + 1)) < TOL, q


def test_rodas5p_dense_eval_endpoints_exact():
    rng = np.random.default_rng(2)
    n = 4
    K = rng.standard_normal((tb.RODAS5P_c.size, n))
    y0 = rng.standard_normal(n)
    y1 = rng.standard_normal(n)
    D = np.empty((3, n))
    steps.rosenbrock_dense_coefficients(K, tb.RODAS5P_H, D)
    np.testing.assert_allclose(D, tb.RODAS5P_H @ K, rtol=1e-14, atol=1e-13)
    out = np.empty(n)
    steps.rosenbrock_dense_eval(0.0, y0, y1, D, out)
    assert np.array_equal(out, y0)
    steps.rosenbrock_dense_eval(1.0, y0, y1, D, out)
    assert np.array_equal(out, y1)


# ---------------------------------------------------------------------------------- Rodas3
def _rodas3_standard_form():
    return _standard_form(tb.RODAS3_GAMMA, tb.RODAS3_A, tb.RODAS3_C, tb.RODAS3_M)


def test_rodas3_published_constants():
    # Sandu et al. (1997), as OrdinaryDiffEq.jl's Rodas3Tableau
    assert tb.RODAS3_GAMMA == 0.5
    A = np.zeros((4, 4))
    A[2, 0], A[3, 0], A[3, 2] = 2.0, 2.0, 1.0
    C = np.zeros((4, 4))
    C[1, 0], C[2, 0], C[2, 1] = 4.0, 1.0, -1.0
    C[3, 0], C[3, 1], C[3, 2] = 1.0, -1.0, -8.0 / 3.0
    np.testing.assert_array_equal(tb.RODAS3_A, A)
    np.testing.assert_array_equal(tb.RODAS3_C, C)
    np.testing.assert_array_equal(tb.RODAS3_M, [2.0, 0.0, 1.0, 1.0])
    np.testing.assert_array_equal(tb.RODAS3_c, [0.0, 0.0, 1.0, 1.0])
    np.testing.assert_array_equal(tb.RODAS3_d, [0.5, 1.5, 0.0, 0.0])


def test_rodas3_gamma_matrix_and_stage_times():
    g, Gamma, alpha, _, _ = _rodas3_standard_form()
    np.testing.assert_allclose(np.diag(Gamma), g, rtol=0, atol=TOL)
    assert np.max(np.abs(np.triu(Gamma, 1))) < TOL
    np.testing.assert_allclose(Gamma.sum(axis=1), tb.RODAS3_d, rtol=0, atol=TOL)
    assert np.max(np.abs(np.triu(alpha))) < TOL
    np.testing.assert_allclose(alpha.sum(axis=1), tb.RODAS3_c, rtol=0, atol=TOL)


def test_stage_input_codes():
    """How each stage's input is formed: Rodas5P chains stages 7, 8 and y_new; Rodas3's stage 2
    is f(t, y) itself (zero A row, c = 0: no right-hand side), stage 4 and y_new chain."""
    S, C_, F = tb.STAGE_SUM, tb.STAGE_CHAIN, tb.STAGE_F0
    np.testing.assert_array_equal(tb.RODAS5P_STAGE_INPUTS, [S, S, S, S, S, S, C_, C_, C_])
    np.testing.assert_array_equal(tb.RODAS3_STAGE_INPUTS, [S, F, S, C_, C_])
    # a stage after one that reuses f0 never chains (ytmp was not written for it)
    A = np.zeros((3, 3))
    A[2, 1] = 1.0
    M = np.array([0.0, 1.0, 1.0])
    np.testing.assert_array_equal(tb._stage_inputs(A, M, np.array([0.0, 0.0, 1.0])),
                                  [S, F, S, C_])


def test_rodas3_order_conditions():
    """b satisfies the conditions of order <= 3 and violates one of order 4; the embedded
    weights those of order <= 2 and violate one of order 3 (so the checks can fail). Both are
    L-stable (stiffly accurate): R(inf) = 1 - b^T beta^{-1} 1 = 0."""
    g, Gamma, alpha, b, bhat = _rodas3_standard_form()
    beta = alpha + Gamma
    one = np.ones(beta.shape[0])
    for w, order in ((b, 3), (bhat, 2)):
        res = _rosenbrock_conditions(w, g, alpha, Gamma)
        for o in range(1, order + 1):
            assert np.max(np.abs(res[o])) < TOL, (order, o, res[o])
        assert np.max(np.abs(res[order + 1])) > 1e-3, (order, res[order + 1])
        assert abs(1.0 - w @ np.linalg.solve(beta, one)) < TOL


def test_hermite_eval_endpoints_and_cubics():
    """The cubic Hermite interpolant (Rodas3's outputs) returns y0 and y1 at the ends exactly
    and reproduces any cubic polynomial from its values and slopes."""
    rng = np.random.default_rng(5)
    n, h = 3, 0.7
    y0, y1, f0, f1 = (rng.standard_normal(n) for _ in range(4))
    out = np.empty(n)
    steps.hermite_eval(0.0, h, y0, f0, y1, f1, out)
    assert np.array_equal(out, y0)
    steps.hermite_eval(1.0, h, y0, f0, y1, f1, out)
    assert np.array_equal(out, y1)
    c = rng.standard_normal((4, n))  # y(t) = c0 + c1 t + c2 t^2 + c3 t^3 on [0.2, 0.2 + h]
    y = lambda t: c[0] + c[1] * t + c[2] * t**2 + c[3] * t**3  # noqa: E731
    dy = lambda t: c[1] + 2 * c[2] * t + 3 * c[3] * t**2  # noqa: E731
    t0 = 0.2
    for theta in (0.1, 0.37, 0.5, 0.9):
        steps.hermite_eval(theta, h, y(t0), dy(t0), y(t0 + h), dy(t0 + h), out)
        np.testing.assert_allclose(out, y(t0 + theta * h), rtol=1e-13, atol=1e-13)


# -------------------------------------------------------------- Rosenbrock step, fixed steps
RODAS5P_TABLE = (tb.RODAS5P_A, tb.RODAS5P_C, tb.RODAS5P_GAMMA, tb.RODAS5P_c, tb.RODAS5P_d,
                 tb.RODAS5P_M, tb.RODAS5P_STAGE_INPUTS)
RODAS3_TABLE = (tb.RODAS3_A, tb.RODAS3_C, tb.RODAS3_GAMMA, tb.RODAS3_c, tb.RODAS3_d,
                tb.RODAS3_M, tb.RODAS3_STAGE_INPUTS)


def _rodas_step(rhs_k, rhs_py, jac_py, t, y, h, p, ft, table=RODAS5P_TABLE):
    n = y.size
    s = table[3].size
    f0 = np.empty(n)
    rhs_py(t, y, p, f0)
    J = np.empty((n, n))
    jac_py(t, y, p, J)
    W = np.empty((n, n))
    perm = np.empty(n, np.int64)
    K = np.empty((s, n))
    ynew = np.empty(n)
    stats = np.zeros(6, np.int64)
    ft = np.asarray(ft, float)
    ok = steps.rosenbrock_step(rhs_k, t, y, h, p, f0, ft, bool(np.any(ft != 0)), J,
                               J.reshape(-1), W, perm, K, ynew, np.empty(n), *table, stats,
                               *_dense(n))
    assert ok
    # a right-hand side per stage but the first, and but those that reuse f(t, y)
    fresh = int(np.sum(table[6][1:s] != tb.STAGE_F0))
    assert stats[steps.ST_LU] == 1 and stats[steps.ST_RHS] == fresh
    return ynew, K


def _order_fit(hs, errs):
    return np.polyfit(np.log(hs), np.log(errs), 1)[0]


def _limit_cycle_fixed_steps(T, Ns, table):
    """Global errors (max over the state) at ``T`` of the kernel step with fixed steps T/N on
    the nonlinear limit-cycle problem (exact Jacobian); returns (hs, errors)."""
    p = np.array([1.0, 2.0])
    y0 = np.array([0.5, 0.1])
    rhs_k = as_kernel_function(P.limit_cycle_rhs)
    exact = P.limit_cycle_exact(T, y0, p)
    hs, errs = [], []
    for N in Ns:
        h = T / N
        y = y0.copy()
        for i in range(N):
            y, _ = _rodas_step(rhs_k, P.limit_cycle_rhs.py_func, P.limit_cycle_jac.py_func,
                               i * h, y, h, p, np.zeros(2), table)
        hs.append(h)
        errs.append(np.max(np.abs(y - exact)))
    return hs, errs


def test_rosenbrock_step_observed_order_fixed_steps():
    """Fixed-step Rodas5P (the kernel step, exact Jacobian) on the nonlinear limit-cycle problem
    over [0, 2]: the global error of y1 falls like h^5 and that of the embedded solution
    the embedded order-4 solution is covered by the local-order test below."""
    hs, e5 = _limit_cycle_fixed_steps(2.0, (10, 20, 40, 80), RODAS5P_TABLE)
    # measured: 1.3e-4, 3.3e-6, 9.7e-8, 3.0e-9 -> slope 5.1
    assert 4.6 < _order_fit(hs, e5) < 5.6, e5


def _forced_decay_one_steps(hs, table, ft=None):
    """One kernel step of y' = -y + sin t from t = 0.3, y = 1, for each h (df/dt = cos t
    unless ``ft`` is given): (|error estimate|, |error of y1|) arrays."""
    rhs_k = as_kernel_function(P.forced_decay_rhs)
    t, y0 = 0.3, np.array([1.0])
    est, err = [], []
    for h in hs:
        ynew, K = _rodas_step(rhs_k, P.forced_decay_rhs.py_func, P.forced_decay_jac.py_func,
                              t, y0, h, np.zeros(1), [np.cos(t)] if ft is None else ft, table)
        est.append(abs(K[table[3].size - 1, 0]))
        err.append(abs(ynew[0] - P.forced_decay_exact(t + h, t, y0[0])))
    return np.array(est), np.array(err)


def test_rosenbrock_step_local_orders_nonautonomous():
    """One step of y' = -y + sin t from t = 0.3 (df/dt = cos t enters through d_i): the local
    error of y1 is O(h^6), the error estimate k8 (= local error of the order-4 embedded
    solution) is O(h^5) and bounds the error of y1."""
    hs = np.array([0.4, 0.2, 0.1, 0.05])
    est, e5 = _forced_decay_one_steps(hs, RODAS5P_TABLE)
    assert 4.6 < _order_fit(hs, est) < 5.6, est
    assert np.all(e5 < est)
    # first three h: errors well above rounding, slope ~6 (the last is at ~1e-14, rounding)
    assert 5.5 < _order_fit(hs[:3], e5[:3]) < 8.0, e5


def test_rodas3_fixed_steps_observed_order_3():
    """Fixed-step Rodas3 on the nonlinear limit-cycle problem over [0, 1]: global error ~ h^3
    (the reuse of f(t, y) in stage 2 and the chained stages exercised). Measured: 2.3e-5,
    2.9e-6, 3.5e-7, 4.4e-8, successive slopes 3.03, 3.02, 3.01. (Over [0, 2] the first
    component's leading error term nearly cancels and its slopes wander from 4 to 6.)"""
    hs, e3 = _limit_cycle_fixed_steps(1.0, (20, 40, 80, 160), RODAS3_TABLE)
    assert 2.85 < _order_fit(hs, e3) < 3.15, e3


def test_rodas3_step_local_orders_nonautonomous():
    """One Rodas3 step of y' = -y + sin t from t = 0.3 (df/dt enters through d_i): the local
    error of y1 is O(h^4); the error estimate k4 (the local error of the order-2 embedded
    solution) is O(h^3) and bounds the error of y1."""
    hs = np.array([0.2, 0.1, 0.05, 0.025])
    est, e3 = _forced_decay_one_steps(hs, RODAS3_TABLE)
    assert 2.7 < _order_fit(hs, est) < 3.3, est
    assert 3.6 < _order_fit(hs, e3) < 4.4, e3
    assert np.all(e3 < est)
    # without the d_i terms (df/dt dropped) the method loses its order: the test can fail
    _, wrong = _forced_decay_one_steps(hs[-1:], RODAS3_TABLE, ft=[1e-300])
    assert wrong[0] > 10 * e3[-1]


def test_rosenbrock_step_singular_matrix_returns_false():
    rhs_k = as_kernel_function(P.forced_decay_rhs)
    n = 1
    s = tb.RODAS5P_c.size
    J = np.array([[np.nan]])
    stats = np.zeros(6, np.int64)
    ok = steps.rosenbrock_step(rhs_k, 0.0, np.ones(n), 0.1, np.zeros(1), np.zeros(n),
                               np.zeros(n), False, J, J.reshape(-1), np.empty((n, n)),
                               np.empty(n, np.int64), np.empty((s, n)), np.empty(n),
                               np.empty(n), tb.RODAS5P_A, tb.RODAS5P_C, tb.RODAS5P_GAMMA,
                               tb.RODAS5P_c, tb.RODAS5P_d, tb.RODAS5P_M, tb.RODAS5P_STAGE_INPUTS,
                               stats, *_dense(n))
    assert ok is False
    assert stats[steps.ST_LU] == 1


# ------------------------------------------------------------------------------------ LU
def _lu_solve(A, b):
    LU = np.ascontiguousarray(A, dtype=np.float64).copy()
    perm = np.empty(LU.shape[0], np.int64)
    dinv = np.empty(LU.shape[0])
    ok = linalg.lu_factor(LU, perm, dinv)
    x = np.ascontiguousarray(b, dtype=np.float64).copy()
    if ok:
        linalg.lu_solve(LU, perm, dinv, x)
    return ok, x, LU, perm


@pytest.mark.parametrize("n", [1, 2, 3, 5, 8, 20, 30])
def test_lu_matches_numpy_on_random_matrices(n):
    rng = np.random.default_rng(100 + n)
    for _ in range(5):
        A = rng.standard_normal((n, n)) + n * np.eye(n) * rng.choice([-1.0, 1.0])
        b = rng.standard_normal(n)
        ok, x, _, _ = _lu_solve(A, b)
        assert ok
        ref = np.linalg.solve(A, b)
        cond = np.linalg.cond(A)
        assert np.max(np.abs(x - ref)) <= 1e-14 * cond * max(1.0, np.max(np.abs(ref))) * n
        # residual check, independent of the reference
        assert np.max(np.abs(A @ x - b)) < 1e-12 * np.max(np.abs(A)) * np.max(np.abs(x)) * n


def test_lu_reconstructs_pa_equals_lu():
    rng = np.random.default_rng(7)
    n = 6
    A = rng.standard_normal((n, n))
    ok, _, LU, perm = _lu_solve(A, np.zeros(n))
    assert ok
    L = np.tril(LU, -1) + np.eye(n)
    U = np.triu(LU)
    PA = A.copy()
    for k in range(n):  # apply the recorded row swaps in order
        PA[[k, perm[k]]] = PA[[perm[k], k]]
    np.testing.assert_allclose(L @ U, PA, rtol=0, atol=1e-13)
    assert np.all(np.abs(np.tril(LU, -1)) <= 1.0 + 1e-15)  # partial pivoting: |l_ij| <= 1


def test_lu_pivoting_cases():
    # zero leading pivot: impossible without a row swap
    ok, x, _, perm = _lu_solve(np.array([[0.0, 1.0], [1.0, 0.0]]), np.array([2.0, 3.0]))
    assert ok and np.array_equal(x, [3.0, 2.0]) and perm[0] == 1
    # tiny leading pivot: without pivoting x would be garbage (catastrophic growth 1e20)
    A = np.array([[1e-20, 1.0], [1.0, 1.0]])
    b = np.array([1.0, 2.0])
    ok, x, _, _ = _lu_solve(A, b)
    assert ok
    np.testing.assert_allclose(x, np.linalg.solve(A, b), rtol=1e-15)
    # a permutation matrix needing several swaps, and a graded matrix
    Pm = np.eye(5)[[3, 0, 4, 1, 2]]
    b = np.arange(1.0, 6.0)
    ok, x, _, _ = _lu_solve(Pm, b)
    assert ok and np.array_equal(x, Pm.T @ b)
    rng = np.random.default_rng(3)
    G = rng.standard_normal((6, 6)) * np.logspace(-8, 8, 6)[:, None]
    b = rng.standard_normal(6)
    ok, x, _, _ = _lu_solve(G, b)
    assert ok
    # backward stable: residual of the order of eps * ||G|| * ||x||
    assert np.max(np.abs(G @ x - b)) < 1e-14 * 6 * np.linalg.norm(G, np.inf) * np.max(np.abs(x))


def test_lu_singular_and_nonfinite_return_false():
    assert _lu_solve(np.zeros((3, 3)), np.ones(3))[0] is False
    assert _lu_solve(np.array([[1.0, 2.0], [2.0, 4.0]]), np.ones(2))[0] is False  # rank 1
    A = np.eye(3)
    A[:, 1] = 0.0  # a zero column
    assert _lu_solve(A, np.ones(3))[0] is False
    B = np.eye(3)
    B[2, 2] = np.nan
    assert _lu_solve(B, np.ones(3))[0] is False
    C = np.eye(2)
    C[0, 0] = np.inf
    assert _lu_solve(C, np.ones(2))[0] is False


# ---------------------------------------------------------------- error norm, step control
def test_error_norm_properties():
    n = 4
    y = np.array([1.0, -2.0, 0.0, 1e-3])
    ynew = np.array([1.5, -1.0, 0.0, 2e-3])
    rtol, atol = 1e-3, np.full(n, 1e-6)
    sc = atol + rtol * np.maximum(np.abs(y), np.abs(ynew))
    assert control.error_norm(np.zeros(n), y, ynew, rtol, atol) == 0.0
    # an error of exactly one scale unit in every component has RMS norm 1
    assert control.error_norm(sc.copy(), y, ynew, rtol, atol) == pytest.approx(1.0, rel=1e-15)
    rng = np.random.default_rng(0)
    e = rng.standard_normal(n)
    ref = np.sqrt(np.mean((e / sc) ** 2))
    assert control.error_norm(e, y, ynew, rtol, atol) == pytest.approx(ref, rel=1e-14)
    # homogeneous of degree 1, sign-blind, and scale uses max(|y|, |ynew|)
    assert control.error_norm(3 * e, y, ynew, rtol, atol) == pytest.approx(3 * ref, rel=1e-14)
    assert control.error_norm(-e, y, ynew, rtol, atol) == pytest.approx(ref, rel=1e-14)
    assert control.error_norm(e, ynew, y, rtol, atol) == pytest.approx(ref, rel=1e-14)
    # NaN or inf in the error: inf, so the step is rejected
    e[1] = np.nan
    assert control.error_norm(e, y, ynew, rtol, atol) == np.inf
    e[1] = np.inf
    assert control.error_norm(e, y, ynew, rtol, atol) == np.inf


def test_pi_factor_properties():
    q = 4.0
    f = control.pi_factor
    assert f(0.0, 1.0, q, False) == control.MAX_FACTOR
    assert f(1.0, 1.0, q, False) == pytest.approx(control.SAFETY)
    # bounded, and never growing right after a rejection
    for err in (1e-12, 1e-3, 0.5, 1.0, 2.0, 1e3, 1e12, np.inf):
        for prev in (1e-8, 1e-2, 1.0, 10.0):
            v = f(err, prev, q, False)
            assert control.MIN_FACTOR <= v <= control.MAX_FACTOR
            assert f(err, prev, q, True) <= 1.0
    # a larger error never gives a larger step
    errs = np.logspace(-6, 6, 50)
    vals = [f(e, 1.0, q, False) for e in errs]
    assert np.all(np.diff(vals) <= 0)
    assert f(10.0, 1.0, q, False) < 1.0 < f(0.01, 1.0, q, False)
    # PI memory: a previous error larger than the current one damps growth
    assert f(0.1, 1.0, q, False) > f(0.1, 1e-3, q, False)


def test_rodas3_takes_i_control():
    """Rodas3's gains (RODAS3_BETA1 = 1, RODAS3_BETA2 = 0): the factor is safety *
    err^(-1/(q+1)) whatever the previous error, within the same limits."""
    q = 2.0
    b1, b2, s = control.RODAS3_BETA1, control.RODAS3_BETA2, control.RODAS3_SAFETY
    assert (b1, b2) == (1.0, 0.0) and 0.0 < s < 1.0
    f = control.pi_factor
    for err in (1e-3, 0.05, 0.5, 1.0, 2.0):
        want = min(control.MAX_FACTOR, max(control.MIN_FACTOR, s * err ** (-1.0 / (q + 1.0))))
        for prev in (1e-8, 1e-2, 1.0, 10.0):
            assert f(err, prev, q, False, b1, b2, s) == pytest.approx(want, rel=1e-14)
            assert f(err, prev, q, True, b1, b2, s) == pytest.approx(min(want, 1.0), rel=1e-14)
    # the default gains are Rodas5P's PI gains, with memory
    assert f(0.1, 1.0, q, False) != f(0.1, 1e-3, q, False)


def test_initial_step_is_positive_and_capped():
    rhs_k = as_kernel_function(P.limit_cycle_rhs)
    p = np.array([1.0, 2.0])
    y = np.array([0.5, 0.1])
    f0 = np.empty(2)
    P.limit_cycle_rhs.py_func(0.0, y, p, f0)
    atol = np.full(2, 1e-9)
    for span in (1e-3, 1.0, 100.0):
        h = control.initial_step(rhs_k, 0.0, y, f0, p, span, 4.0, 1e-6, atol, np.empty(2),
                                 np.empty(2))
        assert 0.0 < h <= span
    # tighter tolerance -> smaller first step
    h6 = control.initial_step(rhs_k, 0.0, y, f0, p, 10.0, 4.0, 1e-6, atol, np.empty(2),
                              np.empty(2))
    h10 = control.initial_step(rhs_k, 0.0, y, f0, p, 10.0, 4.0, 1e-10, atol * 1e-4,
                               np.empty(2), np.empty(2))
    assert h10 < h6


def test_kernel_cache_keys_track_all_kernel_sources():
    """numba invalidates a cached function only when its own file changes: every kernel file
    with compiled functions must carry the hash of all kernel sources (run
    `python -m ldnsim._kernels.cachekey` after editing any of them)."""
    from ldnsim._kernels import cachekey, control, driver, linalg, steps
    key = cachekey.sources_sha256()
    assert cachekey.current_keys() == dict.fromkeys(cachekey.KEYED, key)
    for module in (linalg, control, steps, driver):
        assert module.KERNEL_SOURCES_SHA256 == key


def _sparse_w(J, inv_hg, plan):
    """(ok, Wc, dinv): the compact factors of W = I inv_hg - J (``linalg``)."""
    n = J.shape[0]
    Wc = np.zeros(plan[1].shape[1] + n)
    dinv = np.empty(n)
    ok = generic_factor(np.ascontiguousarray(J).reshape(-1), inv_hg, plan, Wc, dinv)
    return ok, Wc, dinv


def _random_jacobian(rng, n, density):
    J = rng.standard_normal((n, n)) * (rng.random((n, n)) < density)
    J -= np.diag(rng.random(n))  # a decaying diagonal, as in kinetics
    return J


@pytest.mark.parametrize("n,density", [(8, 0.2), (20, 0.12), (24, 0.1), (40, 0.06)])
@pytest.mark.parametrize("inv_hg", [1e4, 1.0, 1e-3])
def test_sparse_lu_solves_w(n, density, inv_hg):
    """The plan's factor and solve give W^-1 b (W = I inv_hg - J) to rounding, for large and
    small steps, or refuse (then the dense LU is used): never a wrong answer."""
    from ldnsim._sparsity import make_plan
    rng = np.random.default_rng(n)
    J = _random_jacobian(rng, n, density)
    plan = make_plan(J != 0)
    assert plan[0].size == n, "expected a sparse plan for this pattern"
    ok, W, dinv = _sparse_w(J, inv_hg, plan)
    Wd = np.eye(n) * inv_hg - J
    if inv_hg >= 1e4:  # W is diagonally dominant: the static pivots must be accepted
        assert ok
    if not ok:  # allowed when the static pivots are poor for this W: the dense LU takes over
        return
    for _ in range(3):
        b = rng.standard_normal(n)
        x = b.copy()
        generic_solve(plan, W, dinv, x)
        ref = np.linalg.solve(Wd, b)
        assert np.linalg.norm(x - ref) <= 1e-12 * np.linalg.cond(Wd) * np.linalg.norm(ref)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(8, 30),
       density=st.floats(0.02, 0.5), log_inv_hg=st.floats(-3, 6))
def test_sparse_lu_property(seed, n, density, log_inv_hg):
    """Random patterns and steps: either a correct solve or a refusal (dense fallback)."""
    from ldnsim._sparsity import make_plan
    rng = np.random.default_rng(seed)
    J = _random_jacobian(rng, n, density)
    inv_hg = 10.0 ** log_inv_hg
    plan = make_plan(J != 0)
    if plan[0].size == 0:  # too dense to pay off: the dense LU is used
        return
    ok, W, dinv = _sparse_w(J, inv_hg, plan)
    if ok:
        Wd = np.eye(n) * inv_hg - J
        b = rng.standard_normal(n)
        x = b.copy()
        generic_solve(plan, W, dinv, x)
        resid = np.linalg.norm(Wd @ x - b) / (np.linalg.norm(Wd, 1) * np.linalg.norm(x) + 1e-300)
        assert resid < 1e-13


def test_sparse_factor_refuses_entries_outside_the_plan_nan_and_small_pivots():
    from ldnsim._kernels.linalg import GROWTH
    from ldnsim._sparsity import make_plan
    rng = np.random.default_rng(3)
    n = 12
    J = _random_jacobian(rng, n, 0.1)
    plan = make_plan(J != 0)
    assert plan[0].size == n
    assert _sparse_w(J, 10.0, plan)[0]
    outside = np.argwhere(plan[-1].reshape(n, n) == 1)[0]
    J2 = J.copy()
    J2[tuple(outside)] = 1e-300  # any non-zero outside the pattern, however small
    assert not _sparse_w(J2, 10.0, plan)[0]
    J3 = J.copy()
    J3[0, 0] = np.nan
    assert not _sparse_w(J3, 10.0, plan)[0]
    # a zero pivot: W[k, k] = 0 for the first pivot of the order
    q = plan[0].astype(int)
    k = q[0]
    J4 = J.copy()
    J4[k, k] = 10.0
    assert not _sparse_w(J4, 10.0, plan)[0]
    # a tiny pivot whose elimination multiplies into another row (an update l_ik * u_kj):
    # the growth would exceed GROWTH x that row's largest entry, so the dense LU takes over
    J = _random_jacobian(np.random.default_rng(5), n, 0.25)  # with fill: updates to check
    plan = make_plan(J != 0)
    assert plan[0].size == n and _sparse_w(J, 10.0, plan)[0]
    q = plan[0].astype(int)
    optr = plan[3]
    pivots = [a for a in range(n) if optr[a + 1] > optr[a]]
    assert pivots, "the test needs a pivot with Schur-complement updates"
    a = pivots[0]
    k = q[a]
    J5 = J.copy()
    J5[k, k] = 10.0 - 1e-6
    assert not _sparse_w(J5, 10.0, plan)[0]
    # a tiny pivot that updates nothing (its row has no entries right of it in the order) is
    # exact, however large its multipliers: accepted, and the solve is accurate. State 0 feeds
    # state 1 and depends on nothing: eliminated first, with one multiplier, -5 / 1e-6.
    n = 8
    J7 = -np.diag(np.arange(1.0, n + 1))
    J7[1, 0] = 5.0
    J7[3, 2] = J7[2, 3] = J7[5, 4] = J7[6, 7] = 1.0
    plan = make_plan(J7 != 0)
    assert plan[0].size == n and plan[0][0] == 0 and plan[3][1] == 0 and plan[2][1] == 1
    J7[0, 0] = 10.0 - 1e-6
    ok, Wc, dinv = _sparse_w(J7, 10.0, plan)
    assert ok
    b = rng.standard_normal(n)
    x = b.copy()
    generic_solve(plan, Wc, dinv, x)
    np.testing.assert_allclose(x, np.linalg.solve(np.eye(n) * 10.0 - J7, b), rtol=1e-12)
    assert GROWTH >= 1.0


def test_minimum_degree_plan_structure():
    from ldnsim._sparsity import (
        empty_plan,
        factor_work,
        make_plan,
        minimum_degree_order,
        symbolic_fill,
    )
    # an arrow matrix: dense last row/column; natural order fills nothing, but eliminating
    # the hub first would fill everything: minimum degree must put the hub last.
    n = 10
    P = np.eye(n, dtype=bool)
    P[0, :] = P[:, 0] = True
    order = minimum_degree_order(P)
    assert sorted(order) == list(range(n)) and 0 in order[-2:]  # the hub goes (next to) last
    F = symbolic_fill(P, order)
    assert F.sum() == P.sum()  # no fill
    assert factor_work(F) == n - 1
    # hub first: everything fills in, the work of a dense LU
    assert factor_work(symbolic_fill(P, np.arange(n))) == sum((n - k - 1) ** 2 for k in range(n))
    plan = make_plan(P)
    assert plan[0].tolist() == order.tolist()
    # filled pattern always contains the original one
    rng = np.random.default_rng(0)
    P2 = rng.random((20, 20)) < 0.1
    order2 = minimum_degree_order(P2)
    F2 = symbolic_fill(P2, order2)
    assert np.all(F2[P2[np.ix_(order2, order2)]])
    # small or dense systems: the dense LU
    assert make_plan(np.ones((5, 5), bool))[0].size == 0
    assert make_plan(np.ones((20, 20), bool))[0].size == 0
    assert all(a.dtype == b.dtype and a.ndim == b.ndim for a, b in zip(plan, empty_plan()))


def test_exact_plan_skips_the_outside_check_and_factors_the_same():
    """make_plan(exact=True) (a Jacobian known to be zero outside its pattern) drops the
    outside mask; the factors are bit for bit those of the checked plan."""
    from ldnsim._sparsity import make_plan
    rng = np.random.default_rng(3)
    n = 12
    J = _random_jacobian(rng, n, 0.1)
    checked, exact = make_plan(J != 0), make_plan(J != 0, exact=True)
    assert checked[-1].size == n * n and exact[-1].size == 0
    for a, b in zip(checked[:-1], exact[:-1]):
        assert np.array_equal(a, b)
    ok_c, W_c, d_c = _sparse_w(J, 10.0, checked)
    ok_e, W_e, d_e = _sparse_w(J, 10.0, exact)
    assert ok_c and ok_e
    assert np.array_equal(W_c, W_e) and np.array_equal(d_c, d_e)


def test_run_rows_exact_pattern_takes_the_same_steps():
    """run_rows promises the generated Jacobian's pattern is exact (no check per step): the
    LDN model's steps and results are bitwise those of the checked plan."""
    from ldnsim import solver
    from ldnsim.dosing import Regimen
    from ldnsim.events import pad_event_tables
    from ldnsim.model import load_model
    from ldnsim.simulation import run_rows
    m = load_model("ldn")
    c = m.compile()
    P = np.tile(m.parameter_vector(), (2, 1))
    P[1, c.parameter_index("ka")] *= 1.3
    ev = pad_event_tables([Regimen.repeat(300.0, every=24.0, count=7).expand(m)])
    t = np.arange(0.0, 7 * 24 + 1.0)
    fast = run_rows(c, t, P, m.initial_state(), ev, method="rodas5p")
    rhs, jac, outputs = c.kernel_functions
    ref = solver.integrate_batch(rhs, m.initial_state(), t, P, jac=jac, outputs=outputs,
                                 n_outputs=c.n_outputs, doses=(ev[0], ev[2], ev[3], ev[1]),
                                 autonomous=c.autonomous, jac_sparsity=c.jac_sparsity)
    assert np.all(fast.status == 0)
    assert np.array_equal(fast.states, ref.y) and np.array_equal(fast.outputs, ref.outputs)
    for k in solver.STAT_NAMES:
        assert np.array_equal(fast.stats[k], ref.stats[k])
