"""Tests for ldnsim.solver (integrate, integrate_batch) and, through it, the driver kernels.

(a) Test Set battery (published reference solutions, mescd), (b) tolerance proportionality and
dense output, (c) the error estimate against the true local error, (d) doses against Bateman and
infusion closed forms, (e) batch = one-by-one bit for bit, thread-count independence, failing
rows, (f) agreement with scipy's Radau, (g) DOPRI5 on non-stiff problems, (h) API behaviour,
statuses, recompilation, statistics, ``specialize``, and a pure-Python (NUMBA_DISABLE_JIT) run.
"""
import json
import os
import pathlib
import subprocess
import sys
import textwrap
import warnings

import numba
import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from scipy.integrate import solve_ivp

import ldnsim
from ldnsim._kernels import driver, steps
from ldnsim._kernels import tableaus as tb
from ldnsim._sparsity import empty_plan
from ldnsim.errors import LdnsimError, RegimenError, SolverError
from ldnsim.solver import (
    JAC_SIGNATURE,
    METHODS,
    STIFF_METHODS,
    BatchSolution,
    Solution,
    Status,
    as_kernel_function,
    integrate,
    integrate_batch,
)

import ivp_problems as P


def _dense(n):
    """Plan, work arrays and (unused) generated LU for rosenbrock_step: the dense LU."""
    from ldnsim.solver import _glu
    return empty_plan(), np.empty(0), np.empty(n), np.empty(n), _glu(None, empty_plan())


REPO = pathlib.Path(__file__).resolve().parents[1]


# ============================================================ (a) Test Set battery (mescd)
# atol convention: the Test Set's own runs (release 2.4, each problem's "numerical solution"
# section) use atol = rtol for OREGO, VDPOL(M) and POLLU and atol = 1e-4 * rtol for ROBER,
# whose second component lives at 1e-13..4e-5; mescd is computed with the same atol/rtol ratio
# (ivp_problems.TESTSET holds the rule per problem). Required: mescd >= -log10(rtol) - 1.5.
# Measured (rodas5p, analytic J / finite-difference J), rtol 1e-6, 1e-8, 1e-10:
#   ROBER  8.9/9.4, 10.1/8.6, 11.1/10.0   OREGO  6.4/6.4, 9.1/9.1, 11.2/11.2
#   VDPOLM 6.6/6.6, 8.7/8.7, 11.2/11.2    VDPOL  6.6/6.7, 8.6/8.6, 10.7/10.7
#   POLLU  8.8/8.8, 9.7/9.6, 11.5/11.4
@pytest.mark.parametrize("method", STIFF_METHODS)
@pytest.mark.parametrize("jac_mode", ["analytic", "fd"])
@pytest.mark.parametrize("rtol", [1e-6, 1e-8, 1e-10])
@pytest.mark.parametrize("name", list(P.TESTSET))
def test_testset_mescd(name, rtol, jac_mode, method):
    rhs, jac, y0, p, t1, ref, atol_rule = P.TESTSET[name]
    atol = atol_rule(rtol)
    res = integrate(rhs, y0, [0.0, t1], p, jac=jac if jac_mode == "analytic" else None,
                    method=method, rtol=rtol, atol=atol, max_steps=1_000_000)
    assert res.status == Status.SUCCESS
    assert np.array_equal(res.y[0], y0)
    digits = P.mescd(res.y[-1], ref, rtol, atol)
    print(f"{name} {method} {jac_mode} rtol={rtol:g}: mescd={digits:.2f} "
          f"steps={res.stats['n_accepted']}+{res.stats['n_rejected']}")
    required = -np.log10(rtol) - 1.5
    if (name, method, jac_mode, rtol) == ("rober", "rodas3", "fd", 1e-10):
        # A known limit: with a finite-difference Jacobian Rodas3 leaves 7.6 digits on ROBER
        # at t = 1e11 at rtol 1e-10 (8.1 and 7.4 at 1e-6 and 1e-8; 7.7, 8.9, 8.9 under its
        # earlier PI control).
        # At the end the slow eigenvalue of J is -2.0e-11 beside -1.0e4; the difference
        # quotients (entries right to 1e-8) lose it (-3.6e-18), and steps of ~1e10 lean on it
        # (h lambda ~ -0.2). Rodas5P with the same Jacobian keeps 10.0 digits. Documented
        # with the method (solver.METHODS); with the analytic Jacobian Rodas3 reaches 12.0.
        assert 7.0 <= digits < required, digits
        return
    assert digits >= required, digits


@pytest.mark.parametrize("method", STIFF_METHODS)
def test_rober_1e5_with_many_outputs(method):
    """ROBER to t = 1e5 with 200 log-spaced outputs (dense output across 10 decades); the final
    value against the (unpublished, scipy Radau rtol 1e-13) reference, and the final value
    independent of the output grid, bit for bit (outputs never shorten steps)."""
    rtol, atol = 1e-8, 1e-14
    t_eval = np.concatenate([[0.0], np.logspace(-6, 5, 200)])
    res = integrate(P.rober_rhs, P.ROBER_Y0, t_eval, P.ROBER_P, jac=P.rober_jac, method=method,
                    rtol=rtol, atol=atol)
    two = integrate(P.rober_rhs, P.ROBER_Y0, [0.0, 1e5], P.ROBER_P, jac=P.rober_jac,
                    method=method, rtol=rtol, atol=atol)
    assert np.array_equal(res.y[-1], two.y[-1])
    assert res.stats == two.stats
    rel = np.abs(res.y[-1] - P.ROBER_REF_1E5) / P.ROBER_REF_1E5
    assert np.max(rel) < 100 * rtol, rel
    # mass conservation y1 + y2 + y3 = 1 along the dense output
    assert np.max(np.abs(res.y.sum(axis=1) - 1.0)) < 10 * rtol


# ========================================= (b) tolerance proportionality and dense output
LC_P = np.array([1.0, 2.0])
LC_Y0 = np.array([0.5, 0.1])


@pytest.mark.parametrize("method,use_jac", [("rodas5p", True), ("rodas5p", False),
                                            ("rodas3", True), ("dopri5", False)])
def test_tolerance_proportionality(method, use_jac):
    """Global error at t = 10 on the nonlinear limit-cycle problem, rtol = atol over
    1e-4..1e-10: log-log slope ~1 (tolerance proportionality) and error <= 10 * tol.
    Measured: slope 1.06 (rodas5p), 1.12 (dopri5); err/tol 0.8..3.5 (rodas5p), 1.5..7.2
    (dopri5)."""
    T = 10.0
    rtols = 10.0 ** -np.arange(4, 11)
    exact = P.limit_cycle_exact(T, LC_Y0, LC_P)
    errs = []
    for rtol in rtols:
        res = integrate(P.limit_cycle_rhs, LC_Y0, [0.0, T], LC_P,
                        jac=P.limit_cycle_jac if use_jac else None, method=method, rtol=rtol,
                        atol=rtol)
        errs.append(np.max(np.abs(res.y[-1] - exact)))
    errs = np.array(errs)
    slope = np.polyfit(np.log10(rtols), np.log10(errs), 1)[0]
    assert 0.7 < slope < 1.3, (slope, errs)
    assert np.all(errs <= 10 * rtols), errs / rtols


@pytest.mark.parametrize("method,rtol", [(m, r) for m in sorted(METHODS)
                                         for r in ((1e-4, 1e-5) if m == "rodas3"
                                                   else (1e-5, 1e-8))])
def test_dense_output_between_steps(method, rtol):
    """2001 outputs on [0, 10] (many per step) against the exact solution: interpolated values
    are as accurate as the step values (error <= 10 * tol; measured 1.0-1.6 x tol; Rodas3's
    cubic Hermite 1.01 / 1.44 x), and the output grid does not change the steps, the counts or
    the final value (bit for bit). Rodas3 (order 3) at rtol 1e-4 / 1e-5, where it takes 214 /
    470 steps (4,761 at 1e-8, too many for outputs to fall inside steps)."""
    T = 10.0
    t_eval = np.linspace(0.0, T, 2001)
    exact = P.limit_cycle_exact(t_eval, LC_Y0, LC_P)
    jac = P.limit_cycle_jac if method in STIFF_METHODS else None
    dense = integrate(P.limit_cycle_rhs, LC_Y0, t_eval, LC_P, jac=jac, method=method,
                      rtol=rtol, atol=rtol)
    coarse = integrate(P.limit_cycle_rhs, LC_Y0, [0.0, T], LC_P, jac=jac, method=method,
                       rtol=rtol, atol=rtol)
    n_steps = coarse.stats["n_accepted"]
    assert n_steps < 500  # so most of the 2001 outputs lie strictly inside steps
    assert dense.stats == coarse.stats
    assert np.array_equal(dense.y[-1], coarse.y[-1])
    err = np.max(np.abs(dense.y - exact))
    assert err <= 10 * rtol, err / rtol


def test_dense_output_stiff_nonautonomous():
    """Prothero-Robinson, lambda = 1e4 (stiff, df/dt != 0), exact y = sin(3t), 1001 outputs:
    at rtol 1e-8 the interpolant stays within 10 x tol (measured 3.1 x). (At looser tolerances
    the stiff interpolation error grows: 36 / 90 / 15 / 6.4 x tol at rtol 1e-4 / 1e-5 / 1e-6 /
    1e-7, order reduction of the dense output in the stiff regime; benchmarks/README.md,
    "Step-size controller tuning", measured with ``benchmarks/controller.py``. Step values
    stay at 0.1 x tol.)"""
    err = _prothero_robinson_output_error(1e4, 1e-8, "rodas5p")
    assert err <= 10 * 1e-8, err


def _prothero_robinson_output_error(lam, rtol, method):
    """Largest error of the outputs (1001 on [0, 5]) on Prothero-Robinson with stiffness
    ``lam`` (exact y = sin 3t), rtol = atol."""
    t_eval = np.linspace(0.0, 5.0, 1001)
    res = integrate(P.prothero_robinson_rhs, np.zeros(3), t_eval, np.array([lam, 3.0]),
                    jac=P.prothero_robinson_jac, rtol=rtol, atol=rtol, method=method)
    return np.max(np.abs(res.y - np.sin(3 * t_eval)[:, None]))


@pytest.mark.parametrize("lam,rtol", [(1e4, 1e-3), (1e4, 1e-6), (1e8, 1e-3), (1e8, 1e-6)])
def test_rodas3_dense_output_stiff_nonautonomous(lam, rtol):
    """Prothero-Robinson (exact y = sin 3t), 1001 outputs: Rodas3's Hermite outputs pass their
    own error test, so they stay within tolerance however stiff (measured 0.90 / 0.40 x tol
    at lambda 1e4, 0.89 / 0.41 x at 1e8), at a cost in steps that grows with the stiffness
    and the accuracy (132 / 3,648 at 1e4; 136 / 4,371 at 1e8; Rodas5P: 15 / 46 and 8 / 12).
    This bound took part in choosing Rodas3's controller: I control at safety 0.9 reached
    1.2 x tol here (benchmarks/controller.py --method rodas3); PI control (before) 0.48 /
    0.46, 0.70 / 0.41."""
    err = _prothero_robinson_output_error(lam, rtol, "rodas3")
    assert err <= rtol, err / rtol


def test_rodas3_rober_loose_tolerance_i_control():
    """ROBER at rtol 1e-3, atol 1e-5 (the benchmarks' ratio), outputs at 0 and 99 log-spaced
    times to 1e5, nominal parameters: Rodas3's I step-size control takes 64 + 1 steps for
    3.71 digits (mescd over all outputs against a reference at rtol 1e-12). With Rodas5P's PI
    gains, which Rodas3 had before, it took 84 + 1 steps for 3.37 digits: at a steady error the
    PI gains grow h by 0.9 err^-0.1, so to grow it by 15 % a step, as ROBER's steps must,
    they hold err near 0.09 (benchmarks/README.md, "Rodas3's step-size controller"). The
    bounds leave room for other platforms' rounding and still fail under PI."""
    rhs, jac, y0, p, _, _, _ = P.TESTSET["rober"]
    t = np.concatenate([[0.0], np.logspace(-5, 5, 99)])
    y0, p = np.asarray(y0, float), np.asarray(p, float)
    ref = integrate(rhs, y0, t, p, jac=jac, rtol=1e-12, atol=1e-16, autonomous=True).y
    res = integrate(rhs, y0, t, p, jac=jac, rtol=1e-3, atol=1e-5, autonomous=True,
                    method="rodas3")
    digits = -np.log10(np.max(np.abs(res.y - ref) / (1e-2 + np.abs(ref))))
    steps = res.stats["n_accepted"] + res.stats["n_rejected"]
    assert digits > 3.45, digits
    assert steps <= 72, steps


def _very_stiff_relaxation(method, dose_at):
    """y0 relaxing at lambda = 1e12 onto y1 (y ~ exp(-0.1 t) from y = (1, 1)), a bolus of 1
    into y0 at ``dose_at``, 81 outputs on [0, 40] and the end; rtol 1e-6, atol 1e-9. Returns
    the solution and the error in units of the tolerance before the dose."""
    t = np.append(np.linspace(0.0, 40.0, 81), 41.0)
    res = integrate(P.relax_rhs, [1.0, 1.0], t, [1e12], jac=P.relax_jac, method=method,
                    rtol=1e-6, atol=1e-9, doses=([dose_at], [0], [1.0]), throw=False)
    before = t < dose_at
    exact = np.exp(-0.1 * t[before])[:, None]
    return res, np.max(np.abs(res.y[before] - exact) / (1e-9 + 1e-6 * exact))


def test_very_stiff_relaxation_rodas5p():
    """Rodas5P on the lambda = 1e12 relaxation with a bolus into the fast component at t = 40:
    success in 78 + 3 steps (measured), within tolerance (0.06 x)."""
    res, err = _very_stiff_relaxation("rodas5p", 40.0)
    assert res.status == Status.SUCCESS and res.stats["n_accepted"] < 400, res.stats
    assert err < 1.0, err
    # Rodas3 gets through the same problem without the dose (562 + 79 steps, 2.0 x tol;
    # 630 + 44 steps, 2.7 x tol with its earlier PI control)
    res3, err3 = _very_stiff_relaxation("rodas3", 1e9)
    assert res3.status == Status.SUCCESS and err3 < 10.0, (res3.status, err3)


@pytest.mark.xfail(strict=True, reason="known limit: Rodas3 after a bolus into a very stiff "
                                       "component at t > 0 (METHODS docstring)")
def test_very_stiff_relaxation_rodas3():
    """The same with Rodas3: right after the bolus f0 ~ lambda * dose = 1e12, and its
    interpolation test then asks for h ~ tol / |f0|, below the resolution of t = 40 (10 eps
    t = 9e-14): STEP_UNDERFLOW after 548 + 81 steps. Kept as a strict xfail so that a fix (a
    stiff-aware interpolant, e.g. Rodas3P's) shows up."""
    res, _ = _very_stiff_relaxation("rodas3", 40.0)
    assert res.status == Status.SUCCESS, res.status


@pytest.mark.xfail(strict=True, reason="known limit: Rodas5P's dense output between steps on "
                                       "very stiff forced problems (METHODS docstring)")
def test_rodas5p_dense_output_very_stiff_nonautonomous():
    """Prothero-Robinson with lambda = 1e8 at rtol 1e-6: Rodas5P's step values are right but
    its outputs between steps err by 2.6e4 x tol (760 x at rtol 1e-3, 4.2e5 x at 1e-8) under
    a status of success: order reduction of its dense output far into the stiff regime. Kept
    as a strict xfail so that a fix shows up."""
    err = _prothero_robinson_output_error(1e8, 1e-6, "rodas5p")
    assert err <= 10 * 1e-6, err / 1e-6


# ===================================== (c) error estimate against the true local error
def _one_rodas_step(rhs, jac, t, y, h, p, ft):
    """One Rodas5P step through the kernel (numpy work arrays); returns y1 and k8 (the error
    estimate = y1 minus the embedded order-4 solution)."""
    n = y.size
    s = tb.RODAS5P_c.size
    f0 = np.empty(n)
    rhs.py_func(t, y, p, f0)
    J = np.empty((n, n))
    jac.py_func(t, y, p, J)
    K = np.empty((s, n))
    ynew = np.empty(n)
    ft = np.asarray(ft, float)
    ok = steps.rosenbrock_step(as_kernel_function(rhs), t, y, h, p, f0, ft, bool(np.any(ft != 0)),
                               J, J.reshape(-1), np.empty((n, n)), np.empty(n, np.int64), K, ynew,
                               np.empty(n), tb.RODAS5P_A, tb.RODAS5P_C, tb.RODAS5P_GAMMA,
                               tb.RODAS5P_c, tb.RODAS5P_d, tb.RODAS5P_M, tb.RODAS5P_STAGE_INPUTS,
                               np.zeros(6, np.int64), *_dense(n))
    assert ok
    return ynew, K[-1].copy()


@pytest.mark.parametrize("case", ["nonstiff", "stiff"])
def test_rodas_error_estimate_tracks_true_error(case):
    """For a few h: |k8| within [0.1, 10] of the true local error of the embedded solution, and
    the propagated (order-5) solution's true error below |k8| (the estimate is safe).
    nonstiff: y' = -y + sin t; stiff: Prothero-Robinson lambda = 1e4 (lambda h = 500..4000).
    Measured ratio 0.99-1.0 (nonstiff), ~1.27 (stiff)."""
    t = 0.3
    for h in (0.4, 0.2, 0.1, 0.05):
        if case == "nonstiff":
            y0 = np.array([1.0])
            y1, est = _one_rodas_step(P.forced_decay_rhs, P.forced_decay_jac, t, y0, h,
                                      np.zeros(1), [np.cos(t)])
            exact = P.forced_decay_exact(t + h, t, y0[0])
        else:
            lam, w = 1e4, 1.0
            y0 = np.array([np.sin(w * t)])
            y1, est = _one_rodas_step(P.prothero_robinson_rhs, P.prothero_robinson_jac, t, y0,
                                      h, np.array([lam, w]),
                                      [lam * w * np.cos(w * t) - w * w * np.sin(w * t)])
            exact = np.sin(w * (t + h))
        true_emb = abs((y1[0] - est[0]) - exact)
        true_y1 = abs(y1[0] - exact)
        assert 0.1 <= abs(est[0]) / true_emb <= 10.0, (h, est, true_emb)
        assert true_y1 <= abs(est[0]), (h, true_y1, est)


def test_dopri5_error_estimate_tracks_true_error():
    """DOPRI5 kernel step on y' = -y + sin t: err = h sum E_j k_j is the difference of the
    embedded (order-4) and propagated solutions; it tracks the embedded solution's true error
    (ratio in [0.1, 10]) and bounds the propagated one's."""
    rhs_k = as_kernel_function(P.forced_decay_rhs)
    s = tb.DOPRI5_B.size
    t = 0.3
    y0 = np.array([1.0])
    for h in (0.4, 0.2, 0.1):
        K = np.empty((s + 1, 1))
        P.forced_decay_rhs.py_func(t, y0, np.zeros(1), K[0])
        ynew = np.empty(1)
        err = np.empty(1)
        steps.erk_step(rhs_k, t, y0, h, np.zeros(1), K, ynew, np.empty(1), tb.DOPRI5_A,
                       tb.DOPRI5_B, tb.DOPRI5_C, tb.DOPRI5_E, err, np.zeros(5, np.int64))
        exact = P.forced_decay_exact(t + h, t, y0[0])
        true_emb = abs(ynew[0] + err[0] - exact)
        assert 0.1 <= abs(err[0]) / true_emb <= 10.0, (h, err, true_emb)
        assert abs(ynew[0] - exact) <= abs(err[0])


# ============================================================== (d) doses: closed forms
KA, KE = 1.2, 0.15
PK_P = np.array([KA, KE, 0.0])


def _mixed_err(y, ref, rtol, atol):
    """Test Set style mixed error |y - ref| / (|ref| + atol/rtol): relative where the solution
    is above atol/rtol, absolute (scaled) below, where atol governs the solver."""
    return np.abs(y - ref) / (np.abs(ref) + atol / rtol)


@pytest.mark.parametrize("method,use_jac", [("rodas5p", True), ("rodas5p", False),
                                            ("rodas3", True)])
def test_multiple_oral_doses_against_bateman(method, use_jac):
    """Six oral doses into the gut of a one-compartment model, including a dose at t_eval[0],
    doses exactly at output times (right-continuous outputs include them), two doses at one
    time (both apply), a dose off the output grid and a dose at the last output time. Against
    Bateman superposition at rtol 1e-10, atol 1e-14: relative error of the central amount
    < 1e-7 at every output (measured ~1e-11), mixed error of both compartments < 1e-7."""
    rtol, atol = 1e-10, 1e-14
    times = np.array([0.0, 12.0, 24.0, 24.0, 30.3, 36.5, 48.0])
    amounts = np.array([100.0, 50.0, 30.0, 70.0, 20.0, 100.0, 25.0])
    t_eval = np.linspace(0.0, 48.0, 97)  # step 0.5: 0, 12, 24, 36.5, 48 on the grid; 30.3 not
    res = integrate(P.onecpt_rhs, [0.0, 0.0], t_eval, PK_P,
                    jac=P.onecpt_jac if use_jac else None, rtol=rtol, atol=atol,
                    doses=(times, np.zeros(times.size, np.int64), amounts), method=method)
    ref = P.bateman(t_eval, times, amounts, KA, KE)
    central, ref_c = res.y[:, 1], ref[:, 1]
    assert central[0] == 0.0 and res.y[0, 0] == 100.0  # the dose at the start is in out[0]
    rel = np.abs(central[1:] - ref_c[1:]) / ref_c[1:]
    assert np.max(rel) < 1e-7, np.max(rel)
    assert np.max(_mixed_err(res.y, ref, rtol, atol)) < 1e-7
    # right-continuity at the double dose: the jump in the gut at t = 24 is 30 + 70 = 100
    i24 = np.flatnonzero(t_eval == 24.0)[0]
    before = P.bateman([24.0], times[:2], amounts[:2], KA, KE)[0, 0]
    assert res.y[i24, 0] - before == pytest.approx(100.0, rel=1e-9)
    # and the dose at the final output time is included in the final output
    assert res.y[-1, 0] == pytest.approx(ref[-1, 0], rel=1e-8)
    assert ref[-1, 0] > 25.0


def test_two_doses_at_one_time_equal_their_sum():
    t_eval = np.linspace(0.0, 24.0, 49)
    kw = dict(jac=P.onecpt_jac, rtol=1e-10, atol=1e-14)
    split = integrate(P.onecpt_rhs, [0.0, 0.0], t_eval, PK_P,
                      doses=([6.0, 6.0, 6.0], [0, 0, 0], [10.0, 20.0, 70.0]), **kw)
    whole = integrate(P.onecpt_rhs, [0.0, 0.0], t_eval, PK_P, doses=([6.0], [0], [100.0]),
                      **kw)
    np.testing.assert_allclose(split.y, whole.y, rtol=1e-13, atol=1e-13)
    assert split.y[12, 0] == pytest.approx(100.0)  # t = 6: all three applied at the output


def test_dose_into_second_state_and_between_outputs():
    """A bolus straight into central (IV) between two outputs: central = D e^{-ke (t - td)}."""
    t_eval = np.linspace(0.0, 10.0, 11)
    res = integrate(P.onecpt_rhs, [0.0, 0.0], t_eval, PK_P, jac=P.onecpt_jac, rtol=1e-10,
                    atol=1e-14, doses=([2.5], [1], [40.0]))
    ref = np.where(t_eval >= 2.5, 40.0 * np.exp(-KE * np.maximum(t_eval - 2.5, 0.0)), 0.0)
    np.testing.assert_allclose(res.y[:, 1], ref, rtol=1e-9, atol=0.0)
    assert np.all(res.y[:, 0] == 0.0)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ka=st.floats(0.05, 5.0), ke=st.floats(0.01, 2.0),
       doses=st.lists(st.tuples(st.integers(0, 96), st.floats(0.1, 1000.0)), min_size=1,
                      max_size=8))
def test_bateman_property(ka, ke, doses):
    """Random schedules (half-hour dose times on the output grid, repeats allowed) and rate
    constants (|ka - ke| not tiny, where the Bateman formula itself loses digits)."""
    assume(abs(ka - ke) > 0.05 * max(ka, ke))
    times = np.array([d[0] * 0.5 for d in doses])
    amounts = np.array([d[1] for d in doses])
    t_eval = np.linspace(0.0, 60.0, 121)
    rtol, atol = 1e-10, 1e-14
    res = integrate(P.onecpt_rhs, [0.0, 0.0], t_eval, np.array([ka, ke, 0.0]),
                    jac=P.onecpt_jac, rtol=rtol, atol=atol,
                    doses=(times, np.zeros(times.size, np.int64), amounts))
    ref = P.bateman(t_eval, times, amounts, ka, ke)
    assert np.max(_mixed_err(res.y, ref, rtol, atol)) < 1e-7


@pytest.mark.parametrize("method", ["rodas5p", "rodas3"])
def test_infusion_via_parameter_events(method):
    """Zero-order infusion R over [2, 7.5) into central as kind-1 events (+R, -R into p[2]),
    start on the output grid, stop between outputs; against the closed form. Then two
    overlapping infusions add."""
    rtol, atol = 1e-10, 1e-14
    R, start, stop = 10.0, 2.0, 7.3
    t_eval = np.linspace(0.0, 30.0, 61)
    y0 = np.zeros(2)
    res = integrate(P.onecpt_rhs, y0, t_eval, PK_P, jac=P.onecpt_jac, rtol=rtol,
                    atol=atol, doses=([start, stop], [2, 2], [R, -R], [1, 1]), method=method)
    ref = P.infusion_central(t_eval, start, stop, R, KE)
    assert np.all(res.y[t_eval <= start, 1] == 0.0)
    on = ref > 0
    assert np.max(np.abs(res.y[on, 1] - ref[on]) / ref[on]) < 1e-7
    assert np.all(res.y[:, 0] == 0.0)
    # the caller's p and y0 are not modified by the events
    assert np.array_equal(PK_P, [KA, KE, 0.0]) and np.array_equal(y0, [0.0, 0.0])
    # two overlapping infusions (rates add in the same slot) plus an oral dose: superposition
    res2 = integrate(P.onecpt_rhs, [0.0, 0.0], t_eval, PK_P, jac=P.onecpt_jac, rtol=rtol,
                     atol=atol, doses=([1.0, 4.0, 5.0, 9.0, 3.0], [2, 2, 2, 2, 0],
                                       [3.0, 5.0, -3.0, -5.0, 50.0], [1, 1, 1, 1, 0]),
                     method=method)
    ref2 = (P.infusion_central(t_eval, 1.0, 5.0, 3.0, KE)
            + P.infusion_central(t_eval, 4.0, 9.0, 5.0, KE)
            + P.bateman(t_eval, [3.0], [50.0], KA, KE)[:, 1])
    on = ref2 > 0
    assert np.max(np.abs(res2.y[on, 1] - ref2[on]) / ref2[on]) < 1e-7


# ====================================================== (e) batch = one by one, threads
def _pk_batch_inputs(r=6, seed=0):
    rng = np.random.default_rng(seed)
    ps = np.column_stack([rng.uniform(0.5, 2.0, r), rng.uniform(0.05, 0.3, r), np.zeros(r)])
    y0s = np.column_stack([rng.uniform(0, 10, r), np.zeros(r)])
    return y0s, ps


def _needs_two_threads(request):
    """numba fixes its thread pool size at import (NUMBA_NUM_THREADS, default: the CPU count).
    On a one-core machine, rerun this very test in a child process with a pool of two; returns
    True when it did (the caller then returns)."""
    if numba.config.NUMBA_NUM_THREADS >= 2:
        return False
    env = dict(os.environ, NUMBA_NUM_THREADS="2")
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           f"{__file__}::{request.node.name}"], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    return True


def _with_threads(n, fn):
    old = numba.get_num_threads()
    numba.set_num_threads(n)
    try:
        return fn()
    finally:
        numba.set_num_threads(old)


@pytest.mark.parametrize("method", sorted(METHODS))
def test_batch_equals_one_by_one_bitwise_any_thread_count(method, request):
    if _needs_two_threads(request):
        return
    y0s, ps = _pk_batch_inputs()
    t_eval = np.linspace(0.0, 48.0, 49)
    doses = ([0.0, 12.0, 24.0, 24.0], [0, 0, 0, 0], [100.0, 50.0, 30.0, 70.0])
    jac = P.onecpt_jac if method in STIFF_METHODS else None
    kw = dict(jac=jac, method=method, rtol=1e-8, atol=1e-10, doses=doses)
    one = np.stack([integrate(P.onecpt_rhs, y0s[i], t_eval, ps[i], **kw).y
                    for i in range(len(ps))])
    b1 = _with_threads(1, lambda: integrate_batch(P.onecpt_rhs, y0s, t_eval, ps, **kw))
    b2 = _with_threads(2, lambda: integrate_batch(P.onecpt_rhs, y0s, t_eval, ps, **kw))
    assert isinstance(b1, BatchSolution)
    assert b1.y.shape == (len(ps), t_eval.size, 2)
    assert np.all(b1.status == Status.SUCCESS) and np.all(b2.status == Status.SUCCESS)
    assert np.array_equal(b1.y, one)
    assert np.array_equal(b2.y, one)
    for k in b1.stats:
        assert np.array_equal(b1.stats[k], b2.stats[k])
    # a shared y0 (n,) broadcasts to every row
    b3 = integrate_batch(P.onecpt_rhs, y0s[0], t_eval, ps, **kw)
    assert np.array_equal(b3.y[0], one[0])


def _pollu_structure():
    """Structural pattern of POLLU's Jacobian from its reaction list: d f_i / d y_j != 0 iff a
    reaction consuming or producing i has j among its reactants (every such pair occurs)."""
    n = 20
    r = np.empty(25)
    pattern = np.zeros((n, n), bool)
    for j in range(25):
        reactants = [P.POLLU_R1[j]] + ([P.POLLU_R2[j]] if P.POLLU_R2[j] >= 0 else [])
        r[:] = 0.0
        r[j] = 1.0
        f = np.empty(n)
        P._pollu_f(r, f)
        for i in np.flatnonzero(f):
            pattern[i, reactants] = True
    return pattern


def test_sparse_plan_probe_finds_pollu_structure_from_zero_state():
    """Most POLLU species start at zero, where many Jacobian entries vanish; the probe must
    still see the structure (it evaluates J at two points with every state perturbed)."""
    from ldnsim._kernels import driver
    rhs_k = as_kernel_function(P.pollu_rhs)
    jac_k = as_kernel_function(P.pollu_jac, JAC_SIGNATURE)
    J0 = np.empty((20, 20))
    P.pollu_jac(0.0, P.POLLU_Y0, P.POLLU_P, J0)
    structure = _pollu_structure()
    assert np.count_nonzero(J0) < structure.sum()  # at y0 the values hide part of it
    for have_jac in (True, False):  # analytic and finite-difference Jacobian
        probed = driver.probe_pattern(rhs_k, jac_k, have_jac, 0.0, P.POLLU_Y0, P.POLLU_P)
        assert np.array_equal(probed, structure)


@pytest.mark.parametrize("fd", [False, True])
def test_sparse_lu_matches_dense_lu_on_pollu(fd):
    """POLLU (20 states) runs on the sparse plan by default; it agrees with the dense LU to
    far below the tolerance, never falls back, and still meets the Test Set digits."""
    from ldnsim.solver import _functions, _plan
    jac = None if fd else P.pollu_jac
    t_eval = np.array([0.0, P.POLLU_T1])
    kw = dict(jac=jac, rtol=1e-10, atol=1e-10, autonomous=True)
    sp = integrate(P.pollu_rhs, P.POLLU_Y0, t_eval, P.POLLU_P, **kw)
    de = integrate(P.pollu_rhs, P.POLLU_Y0, t_eval, P.POLLU_P, jac_sparsity=False, **kw)
    given = integrate(P.pollu_rhs, P.POLLU_Y0, t_eval, P.POLLU_P,
                      jac_sparsity=_pollu_structure(), **kw)
    assert sp.stats["n_lu_dense"] == 0 and de.stats["n_lu_dense"] == 0
    assert np.array_equal(sp.y, given.y)  # the probe found exactly the declared structure
    rel = np.abs(sp.y[-1] - de.y[-1]) / np.abs(de.y[-1])
    assert np.max(rel) < 1e-7, rel
    assert P.mescd(sp.y[-1], P.POLLU_REF, 1e-10, 1e-10) >= 10 - 1.5
    rhs_k, jac_k, _, have_jac = _functions(P.pollu_rhs, jac)
    plan = _plan(None, METHODS["rodas5p"], rhs_k, jac_k, have_jac, 0.0, P.POLLU_Y0, P.POLLU_P)
    assert plan[0].size == 20  # the sparse path really ran
    assert plan[1].shape[1] + 20 < 0.3 * 20 * 20  # and the factors are sparse (109 of 400)


def test_wrong_jac_sparsity_costs_speed_not_accuracy():
    """A declared pattern that misses entries of J: every step notices and factors densely,
    so the result is bit for bit the dense-LU result."""
    t_eval = np.linspace(0.0, P.POLLU_T1, 7)
    kw = dict(jac=P.pollu_jac, rtol=1e-8, atol=1e-10, autonomous=True)
    wrong = _pollu_structure()
    wrong[0, :] = False  # species 0's row left out
    wrong[0, 0] = True
    bad = integrate(P.pollu_rhs, P.POLLU_Y0, t_eval, P.POLLU_P, jac_sparsity=wrong, **kw)
    de = integrate(P.pollu_rhs, P.POLLU_Y0, t_eval, P.POLLU_P, jac_sparsity=False, **kw)
    assert bad.stats["n_lu_dense"] == bad.stats["n_lu"] > 0
    assert np.array_equal(bad.y, de.y)


def test_jac_sparsity_bad_input_messages():
    kw = dict(jac=P.pollu_jac)
    with pytest.raises(ValueError, match=r"jac_sparsity must have shape \(20, 20\)"):
        integrate(P.pollu_rhs, P.POLLU_Y0, [0.0, 1.0], P.POLLU_P, jac_sparsity=np.ones(20), **kw)
    with pytest.raises(ValueError, match="booleans or 0/1"):
        integrate(P.pollu_rhs, P.POLLU_Y0, [0.0, 1.0], P.POLLU_P,
                  jac_sparsity=np.full((20, 20), "x"), **kw)
    with pytest.raises(ValueError, match="booleans or 0/1"):
        integrate_batch(P.pollu_rhs, P.POLLU_Y0, [0.0, 1.0], P.POLLU_P[None],
                        jac_sparsity=np.full((20, 20), np.nan), **kw)
    with pytest.raises(ValueError, match="ambiguous"):
        integrate(P.pollu_rhs, P.POLLU_Y0, [0.0, 1.0], P.POLLU_P, jac_sparsity=True, **kw)
    with pytest.raises(ValueError, match="None, False or an"):
        integrate(P.pollu_rhs, P.POLLU_Y0, [0.0, 1.0], P.POLLU_P, jac_sparsity=0.5, **kw)
    # numpy's False means the dense LU, as False does
    res = integrate(P.pollu_rhs, P.POLLU_Y0, [0.0, 1.0], P.POLLU_P, jac_sparsity=np.False_,
                    **kw)
    ref = integrate(P.pollu_rhs, P.POLLU_Y0, [0.0, 1.0], P.POLLU_P, jac_sparsity=False, **kw)
    assert np.array_equal(res.y, ref.y)


def test_sparse_batch_equals_one_by_one_bitwise(request):
    """With the sparse LU too, a batch row is computed exactly as a single run, on 1 and 2
    threads (the pattern, and so the plan, is the same for every row)."""
    if _needs_two_threads(request):
        return
    rng = np.random.default_rng(7)
    ps = P.POLLU_P * np.exp(0.1 * rng.standard_normal((5, P.POLLU_P.size)))
    t_eval = np.linspace(0.0, P.POLLU_T1, 13)
    kw = dict(jac=P.pollu_jac, rtol=1e-8, atol=1e-10, autonomous=True)
    one = np.stack([integrate(P.pollu_rhs, P.POLLU_Y0, t_eval, p, **kw).y for p in ps])
    b1 = _with_threads(1, lambda: integrate_batch(P.pollu_rhs, P.POLLU_Y0, t_eval, ps, **kw))
    b2 = _with_threads(2, lambda: integrate_batch(P.pollu_rhs, P.POLLU_Y0, t_eval, ps, **kw))
    assert np.all(b1.stats["n_lu_dense"] == 0)
    assert np.array_equal(b1.y, one) and np.array_equal(b2.y, one)


def test_batch_per_row_doses():
    y0s, ps = _pk_batch_inputs(r=3, seed=1)
    t_eval = np.linspace(0.0, 36.0, 73)
    inf = np.inf
    times = np.array([[0.0, 12.0, 24.0], [6.0, inf, inf], [0.0, 0.0, inf]])
    idx = np.zeros((3, 3), np.int64)
    amt = np.array([[100.0, 100.0, 100.0], [50.0, 0.0, 0.0], [10.0, 20.0, 0.0]])
    kw = dict(jac=P.onecpt_jac, rtol=1e-10, atol=1e-14)
    b = integrate_batch(P.onecpt_rhs, y0s, t_eval, ps, doses=(times, idx, amt), **kw)
    assert np.all(b.status == Status.SUCCESS)
    for i in range(3):
        keep = np.isfinite(times[i])
        one = integrate(P.onecpt_rhs, y0s[i], t_eval, ps[i],
                        doses=(times[i][keep], idx[i][keep], amt[i][keep]), **kw)
        assert np.array_equal(b.y[i], one.y)
        # and the physics: Bateman of the row's doses plus the decaying initial gut amount
        ref = P.bateman(t_eval, np.append(times[i][keep], 0.0), np.append(amt[i][keep],
                        y0s[i, 0]), ps[i, 0], ps[i, 1])
        assert np.max(_mixed_err(b.y[i], ref, 1e-10, 1e-14)) < 1e-7
    # kind-1 per-row events as a 4-tuple
    kinds = np.ones((3, 1), np.int64)
    b4 = integrate_batch(P.onecpt_rhs, np.zeros(2), t_eval, ps,
                         doses=(np.array([[1.0], [2.0], [inf]]), np.full((3, 1), 2),
                                np.array([[5.0], [7.0], [0.0]]), kinds), **kw)
    assert np.all(b4.status == Status.SUCCESS)
    assert np.all(b4.y[2] == 0.0)  # the padded row never doses
    ref = P.infusion_central(t_eval, 2.0, np.inf, 7.0, ps[1, 1])
    on = ref > 0
    assert np.max(np.abs(b4.y[1, on, 1] - ref[on]) / ref[on]) < 1e-7


def test_batch_failing_row_does_not_disturb_others(request):
    """y' = p y^2 from y = 1 blows up at t = 1/p: the row with p = 50 fails (inside [0, 2]),
    the others (blow-up after t = 2) succeed with results identical to a batch without the
    failing row, and the failing row's outputs from the failure on are NaN."""
    if _needs_two_threads(request):
        return
    t_eval = np.linspace(0.0, 2.0, 9)
    good = np.array([[0.1], [0.2], [0.3]])
    bad = np.array([[0.1], [0.2], [50.0], [0.3]])
    kw = dict(jac=P.blowup_jac, rtol=1e-8, atol=1e-10)
    ref = integrate_batch(P.blowup_rhs, [1.0], t_eval, good, **kw)
    out = _with_threads(2, lambda: integrate_batch(P.blowup_rhs, [1.0], t_eval, bad, **kw))
    assert list(out.status) == [0, 0, out.status[2], 0]
    assert out.status[2] in (Status.NON_FINITE, Status.STEP_UNDERFLOW)
    assert np.array_equal(out.y[[0, 1, 3]], ref.y)
    assert out.y[2, 0, 0] == 1.0
    assert np.all(np.isnan(out.y[2, 1:]))  # 1/p = 0.02 < t_eval[1] = 0.25
    exact = 1.0 / (1.0 - good[:, :1] * t_eval[None, :])
    np.testing.assert_allclose(ref.y[:, :, 0], exact, rtol=1e-6)
    msgs = out.messages()
    assert len(msgs) == 1 and "[2]" in msgs[0] and Status(out.status[2]).message in msgs[0]
    assert list(out.success) == [True, True, False, True]
    with pytest.raises(SolverError):
        integrate_batch(P.blowup_rhs, [1.0], t_eval, bad, throw=True, **kw)


def test_batch_row_with_infinite_parameter_gets_a_status():
    """A parameter row that makes the RHS infinite (a bad draw, p = inf) must fail with a
    status like any other failing row, never take the whole batch down with an exception."""
    t_eval = np.linspace(0.0, 2.0, 5)
    ps = np.array([[0.1], [np.inf], [0.3]])
    out = integrate_batch(P.blowup_rhs, [1.0], t_eval, ps, jac=P.blowup_jac)
    assert out.status[1] != Status.SUCCESS
    assert out.status[0] == Status.SUCCESS and out.status[2] == Status.SUCCESS


@pytest.mark.parametrize("method", sorted(METHODS))
def test_nan_parameter_fails_fast_with_non_finite(method):
    """A NaN parameter makes f(t0, y0) NaN: the row must fail at once as NON_FINITE (or at
    worst STEP_UNDERFLOW), not burn max_steps rejected steps and report MAX_STEPS, whose
    message advises raising max_steps."""
    t_eval = np.linspace(0.0, 2.0, 5)
    ps = np.array([[0.1], [np.nan], [0.3]])
    out = integrate_batch(P.blowup_rhs, [1.0], t_eval, ps, method=method, max_steps=100_000)
    assert out.status[0] == Status.SUCCESS and out.status[2] == Status.SUCCESS
    assert out.status[1] in (Status.NON_FINITE, Status.STEP_UNDERFLOW), Status(out.status[1])
    assert out.stats["n_rejected"][1] < 10_000


# ========================================================== (f) agreement with scipy Radau
@pytest.mark.parametrize("seed,n", [(0, 3), (1, 5), (2, 8), (3, 6)])
def test_random_smooth_systems_match_scipy_radau(seed, n):
    """Random stable linear part (symmetric eigenvalues in [-50, -0.2] plus a skew part), a
    sin(y) nonlinearity and cos(t) forcing, all in p (one compiled rhs for every system).
    ldnsim at rtol 1e-8 against Radau at rtol 1e-10, atol 1e-12: ~1e-6 relative."""
    y0, p = P.random_system(seed, n)
    f, jac_np = P.random_system_numpy(n, p)
    t_eval = np.linspace(0.0, 5.0, 26)
    ref = solve_ivp(f, (0.0, 5.0), y0, method="Radau", t_eval=t_eval, rtol=1e-10, atol=1e-12,
                    jac=jac_np)
    assert ref.success
    scale = np.max(np.abs(ref.y))
    for jac in (P.random_system_jac, None):
        res = integrate(P.random_system_rhs, y0, t_eval, p, jac=jac, rtol=1e-8, atol=1e-10)
        err = np.abs(res.y - ref.y.T) / (np.abs(ref.y.T) + 1e-3 * scale)
        assert np.max(err) < 1e-6, np.max(err)


# ============================================================== (g) DOPRI5, non-stiff
def test_dopri5_harmonic_oscillator_exact():
    w = 2.0
    t_eval = np.linspace(0.0, 20.0, 401)
    for rtol in (1e-6, 1e-10):
        res = integrate(P.oscillator_rhs, [1.0, 0.0], t_eval, [w], method="dopri5", rtol=rtol,
                        atol=rtol * 1e-2)
        exact = np.column_stack([np.cos(w * t_eval), -w * np.sin(w * t_eval)])
        # 6.4 periods: the global error grows linearly, allow 100 x tol
        assert np.max(np.abs(res.y - exact)) < 100 * rtol
        assert res.stats["n_lu"] == 0 and res.stats["n_jac"] == 0
    # the stiff method agrees too
    res = integrate(P.oscillator_rhs, [1.0, 0.0], t_eval, [w], rtol=1e-10, atol=1e-12)
    assert np.max(np.abs(res.y - exact)) < 1e-8


def test_dopri5_lotka_volterra_against_radau_and_invariant():
    a, b, c, d = 1.5, 1.0, 3.0, 1.0
    p = np.array([a, b, c, d])
    y0 = np.array([10.0, 5.0])
    t_eval = np.linspace(0.0, 15.0, 301)

    def f(t, y):
        return [a * y[0] - b * y[0] * y[1], -c * y[1] + d * y[0] * y[1]]

    ref = solve_ivp(f, (0.0, 15.0), y0, method="Radau", t_eval=t_eval, rtol=1e-12,
                    atol=1e-12)
    assert ref.success
    res = integrate(P.lotka_volterra_rhs, y0, t_eval, p, method="dopri5", rtol=1e-9,
                    atol=1e-12)
    rel = np.abs(res.y - ref.y.T) / np.abs(ref.y.T)
    assert np.max(rel) < 1e-6, np.max(rel)

    def invariant(y):
        return d * y[:, 0] - c * np.log(y[:, 0]) + b * y[:, 1] - a * np.log(y[:, 1])

    inv = invariant(res.y)
    assert np.max(np.abs(inv - inv[0])) < 1e-7 * abs(inv[0])


# ================================================= (g2) method="auto": DOPRI5 until stiff
_PK_DOSES = ([0.0, 12.0, 24.0, 36.0], [0, 0, 0, 0], [100.0, 50.0, 30.0, 70.0])


def test_auto_is_dopri5_on_a_nonstiff_pk_model():
    # a one-compartment oral model never trips the stiffness test: auto takes DOPRI5's steps
    t_eval = np.linspace(0.0, 48.0, 97)
    kw = dict(rtol=1e-7, atol=1e-9, doses=_PK_DOSES)
    auto = integrate(P.onecpt_rhs, [0.0, 0.0], t_eval, [1.2, 0.15, 0.0], method="auto", **kw)
    dop = integrate(P.onecpt_rhs, [0.0, 0.0], t_eval, [1.2, 0.15, 0.0], method="dopri5", **kw)
    assert np.array_equal(auto.y, dop.y)
    assert auto.stats == dop.stats
    assert auto.stats["n_jac"] == 0 and auto.stats["n_lu"] == 0


@pytest.mark.parametrize("rtol", [1e-6, 1e-8])
@pytest.mark.parametrize("name", ["rober", "pollu", "vdpol", "orego"])
def test_auto_switches_to_rodas5p_on_stiff_test_set_problems(name, rtol):
    rhs, jac, y0, p, t1, ref, atol_rule = P.TESTSET[name]
    atol = atol_rule(rtol)
    kw = dict(jac=jac, rtol=rtol, atol=atol, max_steps=1_000_000)
    auto = integrate(rhs, y0, [0.0, t1], p, method="auto", **kw)
    rodas = integrate(rhs, y0, [0.0, t1], p, method="rodas5p", **kw)
    assert auto.status == Status.SUCCESS
    assert auto.stats["n_jac"] > 0  # it switched
    # explicit steps (7 RHS calls, no Jacobian, no LU) until the switch, then Rodas5P: about
    # as many Rodas5P steps as Rodas5P alone (POLLU: 41 / 72 against 36 / 66, the Rodas5P
    # part starting with a fresh step-size estimate), explicit steps fewer than half of those
    # (measured: ROBER 38 / 74 explicit at rtol 1e-6 / 1e-8, OREGO 45 / 1,166, POLLU 29 / 29)
    rodas_steps = rodas.stats["n_accepted"] + rodas.stats["n_rejected"]
    explicit = auto.stats["n_accepted"] + auto.stats["n_rejected"] - auto.stats["n_lu"]
    assert auto.stats["n_lu"] <= 1.2 * rodas.stats["n_lu"] + 10
    assert explicit <= 0.5 * rodas_steps + 100, (explicit, rodas_steps)
    # the Test Set requirement of the Rodas5P battery above, on the switched solution
    digits = P.mescd(auto.y[-1], ref, rtol, atol)
    assert digits >= -np.log10(rtol) - 1.5, digits


def test_auto_switches_when_the_problem_turns_stiff():
    # ke jumps from 0.15 to 2e4 per hour at t = 24 (a parameter event): non-stiff, then stiff
    t_eval = np.linspace(0.0, 48.0, 97)
    doses = ([0.0, 24.0], [0, 1], [100.0, 2e4], [0, 1])
    p = [1.2, 0.15, 0.0]
    kw = dict(rtol=1e-7, atol=1e-9, doses=doses, max_steps=10_000_000)
    auto = integrate(P.onecpt_rhs, [0.0, 0.0], t_eval, p, method="auto", **kw)
    dop = integrate(P.onecpt_rhs, [0.0, 0.0], t_eval, p, method="dopri5", **kw)
    ref = integrate(P.onecpt_rhs, [0.0, 0.0], t_eval, p, jac=P.onecpt_jac, method="rodas5p",
                    rtol=1e-12, atol=1e-15, doses=doses)
    assert auto.status == dop.status == ref.status == Status.SUCCESS
    before = t_eval < 24.0
    assert np.array_equal(auto.y[before], dop.y[before])  # DOPRI5 while it is not stiff
    assert auto.stats["n_jac"] > 0
    # DOPRI5 crawls at its stability limit (h < 3.3 / 2e4); auto does not
    assert auto.stats["n_accepted"] < dop.stats["n_accepted"] / 20
    for res in (auto, dop):
        err = np.abs(res.y - ref.y) / (1e-9 + 1e-7 * np.abs(ref.y))
        assert np.max(err) < 10.0, np.max(err)


# ================================================================= (h) API behaviour
def test_solution_fields_and_stats_consistency():
    t_eval = np.linspace(0.0, 24.0, 25)
    res = integrate(P.onecpt_rhs, [0.0, 0.0], t_eval, PK_P, jac=P.onecpt_jac,
                    doses=([0.0, 12.0], [0, 0], [100.0, 100.0]))
    assert isinstance(res, Solution) and res.success and res.message == Status.SUCCESS.message
    assert np.array_equal(res.t, t_eval) and res.y.shape == (25, 2) and res.y.dtype == np.float64
    st_ = res.stats
    assert set(st_) == {"n_accepted", "n_rejected", "n_rhs", "n_jac", "n_lu", "n_lu_dense"}
    assert st_["n_lu_dense"] == 0  # 2 states: no sparse plan, so never a fallback
    attempts = st_["n_accepted"] + st_["n_rejected"]
    assert st_["n_lu"] >= st_["n_accepted"] > 0
    assert st_["n_lu"] == attempts  # one LU per attempted step
    assert 1 <= st_["n_jac"] <= st_["n_accepted"] + 2  # one per step (+ segment starts)
    assert st_["n_rhs"] >= 7 * attempts  # 8 stages, the first reuses f(t, y)
    # autonomous=True skips the df/dt estimate: one RHS fewer per Jacobian, same steps
    aut = integrate(P.onecpt_rhs, [0.0, 0.0], t_eval, PK_P, jac=P.onecpt_jac, autonomous=True,
                    doses=([0.0, 12.0], [0, 0], [100.0, 100.0]))
    assert aut.stats["n_accepted"] == st_["n_accepted"]
    assert st_["n_rhs"] - aut.stats["n_rhs"] == st_["n_jac"]
    np.testing.assert_allclose(aut.y, res.y, rtol=1e-12, atol=1e-12)
    # finite differences cost n RHS per Jacobian
    fd = integrate(P.onecpt_rhs, [0.0, 0.0], t_eval, PK_P,
                   doses=([0.0, 12.0], [0, 0], [100.0, 100.0]))
    assert fd.stats["n_rhs"] >= 9 * (fd.stats["n_accepted"] + fd.stats["n_rejected"])
    # DOPRI5: no Jacobians, no LUs, 6 RHS per attempted step (FSAL)
    dp = integrate(P.onecpt_rhs, [0.0, 0.0], t_eval, PK_P, method="dopri5",
                   doses=([0.0, 12.0], [0, 0], [100.0, 100.0]))
    assert dp.stats["n_jac"] == 0 and dp.stats["n_lu"] == 0
    assert dp.stats["n_rhs"] >= 6 * (dp.stats["n_accepted"] + dp.stats["n_rejected"])


def test_t_eval_edge_cases():
    # only the start time: y0 back, no steps
    res = integrate(P.onecpt_rhs, [1.0, 0.0], [0.0], PK_P)
    assert np.array_equal(res.y, [[1.0, 0.0]]) and res.stats["n_accepted"] == 0
    # repeated output times get the same value; a non-zero start time works
    res = integrate(P.onecpt_rhs, [1.0, 0.0], [5.0, 6.0, 6.0, 7.0], PK_P, jac=P.onecpt_jac,
                    rtol=1e-10, atol=1e-14)
    assert np.array_equal(res.y[1], res.y[2])
    ref = P.bateman([5.0, 6.0, 7.0], [5.0], [1.0], KA, KE)
    np.testing.assert_allclose(res.y[[0, 1, 3]], ref, rtol=1e-8)
    # first_step is honoured without changing the answer beyond the tolerance
    fs = integrate(P.onecpt_rhs, [1.0, 0.0], [5.0, 6.0, 6.0, 7.0], PK_P, jac=P.onecpt_jac,
                   rtol=1e-10, atol=1e-14, first_step=1e-6)
    np.testing.assert_allclose(fs.y, res.y, rtol=1e-8)


def test_max_steps_status_and_throw():
    args = (P.rober_rhs, P.ROBER_Y0, [0.0, 1e5, 1e11], P.ROBER_P)
    res = integrate(*args, jac=P.rober_jac, max_steps=20, throw=False)
    assert res.status == Status.MAX_STEPS and not res.success
    assert "max_steps" in res.message
    assert res.stats["n_accepted"] + res.stats["n_rejected"] == 20
    assert np.array_equal(res.y[0], P.ROBER_Y0) and np.all(np.isnan(res.y[1:]))
    with pytest.raises(SolverError) as info:
        integrate(*args, jac=P.rober_jac, max_steps=20)
    assert info.value.status == Status.MAX_STEPS
    assert str(info.value) == Status.MAX_STEPS.message
    assert isinstance(info.value, LdnsimError) and ldnsim.SolverError is SolverError


def test_status_step_underflow_and_singular():
    with pytest.raises(SolverError) as info:
        integrate(P.blowup_rhs, [1.0], [0.0, 2.0], [1.0], jac=P.blowup_jac)
    assert info.value.status in (Status.STEP_UNDERFLOW, Status.NON_FINITE)

    @numba.njit
    def nan_jac(t, y, p, J):
        J[0, 0] = np.nan

    res = integrate(P.forced_decay_rhs, [1.0], [0.0, 1.0], [0.0], jac=nan_jac, throw=False)
    assert res.status == Status.SINGULAR
    assert "singular" in res.message
    for s in Status:
        assert isinstance(s.message, str) and len(s.message) > 20


def test_non_finite_initial_state_is_reported():
    """A NaN in y0 is a bad input: a ValueError up front, or status NON_FINITE -- not
    100,000 rejected steps ending in MAX_STEPS."""
    try:
        res = integrate(P.onecpt_rhs, [np.nan, 0.0], [0.0, 1.0], PK_P, throw=False)
    except ValueError:
        return
    assert res.status == Status.NON_FINITE, res.status


@pytest.mark.parametrize("method", ["rodas5p", "rodas3"])
def test_outputs_between_exact_steps_are_controlled(method):
    """y' = y^2, y(0) = 1 (y = 1 / (1 - t)): Rodas3's steps are exact on this Riccati equation
    and its error estimate is 0, so only the interpolant's own error test keeps the steps
    short enough for the outputs between them (without it: 4 steps, outputs 139 % off at
    rtol 1e-4). Outputs within 10 x tol (measured 1.5e-6 relative at rtol 1e-4, 2.5e-9 at
    1e-6 for Rodas3; 3.6e-6 and 3.0e-9 with its earlier PI control); then the pole at t = 1
    is reported, not stepped over."""
    t = np.linspace(0.0, 0.9, 10)
    exact = 1.0 / (1.0 - t)
    for rtol in (1e-4, 1e-6):
        res = integrate(P.blowup_rhs, [1.0], t, [1.0], method=method, rtol=rtol,
                        atol=1e-3 * rtol, autonomous=True)
        err = np.abs(res.y[:, 0] - exact) / (1e-3 * rtol + rtol * exact)
        assert np.max(err) < 10.0, (rtol, np.max(err))
        st = res.stats
        if method == "rodas3":
            # 2 per segment (f0, the initial step), 1 per finite-difference Jacobian (n = 1),
            # 2 per step (stages 3 and 4), 1 more (f at the end) per step that passed the
            # step's own test: every accepted one, some rejected ones
            lo = 2 + st["n_jac"] + 3 * st["n_accepted"] + 2 * st["n_rejected"]
            assert lo <= st["n_rhs"] <= lo + st["n_rejected"], st
    past = integrate(P.blowup_rhs, [1.0], [0.0, 2.0], [1.0], method=method, rtol=1e-4,
                     atol=1e-7, throw=False)
    assert past.status != Status.SUCCESS


@pytest.mark.parametrize("method", sorted(METHODS))
def test_huge_rhs_gets_a_status_not_an_exception(method):
    """y' = 1e300 y^2 from y = 1: f is finite (1e300) but |f| / scale overflows the squared
    norms of the initial-step heuristic. The kernels must return a status (they "never
    raise"), not a ZeroDivisionError."""
    res = integrate(P.blowup_rhs, [1.0], [0.0, 1.0], [1e300], method=method, throw=False)
    assert res.status != Status.SUCCESS


def test_zero_atol_with_zero_state_does_not_raise():
    """atol = 0 passes the validation ("non-negative"); with a component that is exactly 0
    the error scale is 0. Either reject atol = 0 up front (a ValueError naming atol) or solve
    (pure relative control) -- never a ZeroDivisionError from inside the kernels."""
    try:
        res = integrate(P.onecpt_rhs, [1.0, 0.0], [0.0, 1.0], PK_P, atol=0.0, throw=False)
    except ValueError as exc:
        assert "atol" in str(exc)
        return
    except ZeroDivisionError as exc:
        pytest.fail(f"kernel raised {exc!r}")
    assert isinstance(res.status, Status)


@pytest.mark.parametrize("kwargs,match", [
    (dict(t_eval=[0.0, 2.0, 1.0]), "increasing"),
    (dict(t_eval=[0.0, np.nan]), "finite"),
    (dict(t_eval=[]), "start time"),
    (dict(t_eval=[[0.0, 1.0]]), "t_eval"),
    (dict(rtol=-1e-6), "rtol"),
    (dict(rtol=0.0), "rtol"),
    (dict(rtol=1e-20), "rtol"),
    (dict(atol=-1.0), "atol"),
    (dict(method="rk45"), "rodas5p"),
    (dict(doses=([-1.0], [0], [1.0])), "before the start"),
    (dict(y0=[[0.0, 0.0]]), "y0"),
    (dict(p=[[1.2, 0.15, 0.0]]), "p must be"),
    (dict(max_steps=0), "max_steps"),
    (dict(first_step=-1.0), "first_step"),
])
def test_bad_inputs_raise_value_error(kwargs, match):
    args = dict(y0=[0.0, 0.0], t_eval=[0.0, 1.0], p=PK_P)
    args.update(kwargs)
    y0, t_eval, p = args.pop("y0"), args.pop("t_eval"), args.pop("p")
    with pytest.raises(ValueError, match=match):
        integrate(P.onecpt_rhs, y0, t_eval, p, **args)


def test_atol_of_wrong_length_names_atol():
    with pytest.raises(ValueError, match="atol"):
        integrate(P.onecpt_rhs, [0.0, 0.0], [0.0, 1.0], PK_P, atol=[1e-9, 1e-9, 1e-9])


def test_bad_doses_raise_regimen_error():
    for doses in (([0.5], [2], [1.0]),  # state index out of range
                  ([0.5], [3], [1.0], [1]),  # parameter slot out of range
                  ([0.5, 0.6], [0], [1.0, 2.0, 3.0]),  # lengths differ
                  ([np.nan], [0], [1.0])):
        with pytest.raises(RegimenError):
            integrate(P.onecpt_rhs, [0.0, 0.0], [0.0, 1.0], PK_P, doses=doses)


def test_bad_batch_shapes():
    ps = np.tile(PK_P, (2, 1))
    with pytest.raises(ValueError, match="ps"):
        integrate_batch(P.onecpt_rhs, [0.0, 0.0], [0.0, 1.0], PK_P)
    with pytest.raises(ValueError, match="y0s"):
        integrate_batch(P.onecpt_rhs, np.zeros((3, 2)), [0.0, 1.0], ps)
    with pytest.raises(ValueError, match="rows"):
        integrate_batch(P.onecpt_rhs, [0.0, 0.0], [0.0, 1.0], ps,
                        doses=(np.zeros((3, 1)), np.zeros((3, 1), int), np.ones((3, 1))))
    empty = integrate_batch(P.onecpt_rhs, [0.0, 0.0], [0.0, 1.0], np.zeros((0, 3)))
    assert empty.y.shape == (0, 2, 2) and empty.status.shape == (0,)


def test_plain_python_functions_rejected_clearly():
    def rhs(t, y, p, dydt):
        dydt[:] = -y

    with pytest.raises(TypeError, match="njit"):
        integrate(rhs, [1.0], [0.0, 1.0], [0.0])
    with pytest.raises(TypeError, match="njit"):
        integrate(P.forced_decay_rhs, [1.0], [0.0, 1.0], [0.0], jac=lambda t, y, p, J: None)
    with pytest.raises(TypeError):
        integrate(3, [1.0], [0.0, 1.0], [0.0])

    @numba.njit
    def returns_value(t, y, p, dydt):
        return y

    with pytest.raises(TypeError, match="returns_value"):
        integrate(returns_value, [1.0], [0.0, 1.0], [0.0])


def test_specialize_rejects_plain_python_jac_clearly():
    with pytest.raises(TypeError, match="njit"):
        integrate(P.onecpt_rhs, [0.0, 0.0], [0.0, 1.0], PK_P, jac=lambda t, y, p, J: None,
                  specialize=True)


def test_no_recompilation_for_new_inputs_or_new_models():
    t_eval = np.linspace(0.0, 24.0, 25)
    doses = ([0.0, 12.0], [0, 0], [100.0, 100.0])
    integrate(P.onecpt_rhs, [0.0, 0.0], t_eval, PK_P, jac=P.onecpt_jac, doses=doses)
    integrate_batch(P.onecpt_rhs, [0.0, 0.0], t_eval, np.tile(PK_P, (2, 1)), jac=P.onecpt_jac)
    n_one = len(driver.solve_one.signatures)
    n_batch = len(driver.solve_batch.signatures)
    # new p, y0 (ints, lists), doses (more of them, kind 1), tolerances, method, FD Jacobian
    integrate(P.onecpt_rhs, [1, 0], t_eval[:7], [2, 0.1, 0], jac=P.onecpt_jac,
              doses=([1.0, 2.0, 3.0, 3.0, 4.0], [0, 0, 2, 0, 2], [5.0, 6.0, 1.0, 7.0, -1.0],
                     [0, 0, 1, 0, 1]), rtol=1e-9, atol=[1e-12, 1e-11])
    integrate(P.onecpt_rhs, [0.0, 3.0], t_eval, PK_P, method="dopri5")
    integrate(P.onecpt_rhs, [0.0, 3.0], t_eval, PK_P, doses=None, autonomous=True)
    # another model altogether (different n, its own rhs/jac): only its own cfuncs compile
    integrate(P.limit_cycle_rhs, LC_Y0, [0.0, 1.0], LC_P, jac=P.limit_cycle_jac)
    integrate_batch(P.onecpt_rhs, np.ones((5, 2)), t_eval, np.tile(PK_P, (5, 1)),
                    jac=P.onecpt_jac, doses=(np.array([[1.0], [np.inf], [2.0], [3.0], [4.0]]),
                                             np.zeros((5, 1), int), np.ones((5, 1))))
    integrate_batch(P.limit_cycle_rhs, LC_Y0, [0.0, 1.0], np.tile(LC_P, (3, 1)),
                    method="dopri5")
    assert len(driver.solve_one.signatures) == n_one
    assert len(driver.solve_batch.signatures) == n_batch


def test_read_only_inputs_do_not_recompile():
    """numba types read-only arrays apart: a per-state atol (a broadcast view), a frozen p
    or y0, or one row of a 1-D y0 in a batch must reach the kernels writeable, else each new
    case would compile the kernels again (seconds)."""
    t_eval = np.linspace(0.0, 4.0, 5)
    integrate(P.onecpt_rhs, [1.0, 0.0], t_eval, PK_P, jac=P.onecpt_jac)
    integrate_batch(P.onecpt_rhs, [1.0, 0.0], t_eval, np.tile(PK_P, (2, 1)), jac=P.onecpt_jac)
    n_one = len(driver.solve_one.signatures)
    n_batch = len(driver.solve_batch.signatures)
    frozen_p, frozen_y0 = PK_P.copy(), np.array([1.0, 0.0])
    frozen_p.flags.writeable = frozen_y0.flags.writeable = False
    a = integrate(P.onecpt_rhs, frozen_y0, t_eval, frozen_p, jac=P.onecpt_jac,
                  atol=[1e-9, 1e-10])
    b = integrate_batch(P.onecpt_rhs, frozen_y0, t_eval, frozen_p[None, :], jac=P.onecpt_jac,
                        atol=[1e-9, 1e-10])
    assert len(driver.solve_one.signatures) == n_one
    assert len(driver.solve_batch.signatures) == n_batch
    np.testing.assert_array_equal(a.y, b.y[0])
    assert not frozen_p.flags.writeable and not frozen_y0.flags.writeable  # inputs untouched


@pytest.mark.slow
def test_specialize_matches_default_path():
    """specialize=True compiles the kernels for these functions (seconds); same results as
    the shared first-class-function kernels to 1e-12 (measured: bit for bit)."""
    t_eval = np.linspace(0.0, 48.0, 97)
    doses = ([0.0, 12.0, 24.0, 24.0], [0, 0, 0, 0], [100.0, 50.0, 30.0, 70.0])
    kw = dict(jac=P.onecpt_jac, doses=doses, rtol=1e-8, atol=1e-10)
    a = integrate(P.onecpt_rhs, [0.0, 0.0], t_eval, PK_P, **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # inlinable: no fallback warning
        b = integrate(P.onecpt_rhs, [0.0, 0.0], t_eval, PK_P, specialize=True, **kw)
    np.testing.assert_allclose(b.y, a.y, rtol=1e-12, atol=1e-12)
    assert a.stats == b.stats


@numba.njit
def _onecpt_rhs_allocating(t, y, p, dydt):
    flux = np.empty(2)  # a temporary array: needs numba's reference counting
    flux[0] = p[0] * y[0]
    flux[1] = p[1] * y[1]
    dydt[0] = -flux[0]
    dydt[1] = flux[0] - flux[1]


def test_specialize_falls_back_with_a_warning_for_allocating_functions():
    """The kernels run without numba's reference counting, so a function that allocates
    cannot be inlined into them: specialize=True then warns once, names the function and runs
    the default kernels, with their results (bit for bit)."""
    t_eval = np.linspace(0.0, 24.0, 25)
    ps = np.tile(PK_P, (3, 1)) * np.array([[1.0], [1.1], [0.9]])
    kw = dict(jac=P.onecpt_jac, doses=([0.0, 12.0], [0, 0], [100.0, 50.0]), rtol=1e-8,
              atol=1e-10)
    with pytest.warns(RuntimeWarning, match="_onecpt_rhs_allocating cannot be inlined"):
        b = integrate_batch(_onecpt_rhs_allocating, [0.0, 0.0], t_eval, ps, specialize=True,
                            **kw)
    a = integrate_batch(_onecpt_rhs_allocating, [0.0, 0.0], t_eval, ps, **kw)
    assert np.all(b.success)
    np.testing.assert_array_equal(b.y, a.y)
    ref = integrate_batch(P.onecpt_rhs, [0.0, 0.0], t_eval, ps, **kw)
    np.testing.assert_allclose(b.y, ref.y, rtol=1e-12, atol=1e-12)


@numba.njit
def _rhs_with_a_typo(t, y, p, dydt):
    dydt[0] = -p[0] * y[0] + undefined_name  # noqa: F821


def test_specialize_with_a_broken_function_raises_the_signature_error_not_a_warning():
    """A function that compiles in neither mode is not called 'allocating': no fallback
    warning, but the default path's one-line error on what rhs must look like."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        with pytest.raises(TypeError, match="does not compile with the signature"):
            integrate(_rhs_with_a_typo, [1.0], [0.0, 1.0], [1.0], specialize=True)


# ============================================================ NUMBA_DISABLE_JIT=1 run
_NOJIT_SCRIPT = textwrap.dedent("""
    import json, sys
    import numba, numpy as np
    assert numba.config.DISABLE_JIT
    from ldnsim.solver import integrate, integrate_batch

    @numba.njit
    def rhs(t, y, p, dydt):
        dydt[0] = -p[0] * y[0]
        dydt[1] = p[0] * y[0] - p[1] * y[1] + p[2]

    @numba.njit
    def jac(t, y, p, J):
        J[0, 0] = -p[0]; J[0, 1] = 0.0
        J[1, 0] = p[0]; J[1, 1] = -p[1]

    p = np.array([1.2, 0.15, 0.0])
    t = np.linspace(0.0, 12.0, 13)
    doses = ([0.0, 6.0, 6.0, 2.0, 4.0], [0, 0, 0, 2, 2], [10.0, 5.0, 5.0, 1.0, -1.0],
             [0, 0, 0, 1, 1])
    out = {}
    out["rodas"] = integrate(rhs, [0.0, 0.0], t, p, jac=jac, doses=doses, rtol=1e-8,
                             atol=1e-10).y.tolist()
    out["rodas_fd"] = integrate(rhs, [0.0, 0.0], t, p, doses=doses, rtol=1e-8,
                                atol=1e-10).y.tolist()
    out["rodas3"] = integrate(rhs, [0.0, 0.0], t, p, jac=jac, doses=doses, rtol=1e-8,
                              atol=1e-10, method="rodas3").y.tolist()
    out["dopri5"] = integrate(rhs, [0.0, 0.0], t, p, doses=doses, rtol=1e-8, atol=1e-10,
                              method="dopri5").y.tolist()
    b = integrate_batch(rhs, [0.0, 0.0], t, np.array([p, p * 2]), jac=jac, doses=doses,
                        rtol=1e-8, atol=1e-10)
    out["batch"] = b.y.tolist()
    out["status"] = b.status.tolist()

    sys.path.insert(0, "tests")  # the run's cwd is the repository
    from ivp_problems import chain_jac, chain_rhs  # 10 states: the sparse LU

    y0 = np.zeros(10)
    y0[0] = 1.0
    c = integrate(chain_rhs, y0, t, np.array([1.0, 0.5]), jac=chain_jac, rtol=1e-8,
                  atol=1e-10)
    out["chain"] = c.y.tolist()
    out["chain_dense_lu"] = c.stats["n_lu_dense"]
    json.dump(out, sys.stdout)
""")


@pytest.mark.slow
def test_runs_under_numba_disable_jit():
    """The pure-Python path (NUMBA_DISABLE_JIT=1, for coverage) runs a small dosed problem
    with each method and the batch loop, and a 10-state chain on the sparse LU, and agrees
    with the compiled path."""
    env = dict(os.environ, NUMBA_DISABLE_JIT="1",
               PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-c", _NOJIT_SCRIPT], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(proc.stdout)
    assert got["status"] == [0, 0]
    p = np.array([1.2, 0.15, 0.0])
    t = np.linspace(0.0, 12.0, 13)
    doses = ([0.0, 6.0, 6.0, 2.0, 4.0], [0, 0, 0, 2, 2], [10.0, 5.0, 5.0, 1.0, -1.0],
             [0, 0, 0, 1, 1])
    kw = dict(doses=doses, rtol=1e-8, atol=1e-10)
    jit = {
        "rodas": integrate(P.onecpt_rhs, [0.0, 0.0], t, p, jac=P.onecpt_jac, **kw).y,
        "rodas_fd": integrate(P.onecpt_rhs, [0.0, 0.0], t, p, **kw).y,
        "rodas3": integrate(P.onecpt_rhs, [0.0, 0.0], t, p, jac=P.onecpt_jac, method="rodas3",
                            **kw).y,
        "dopri5": integrate(P.onecpt_rhs, [0.0, 0.0], t, p, method="dopri5", **kw).y,
        "batch": integrate_batch(P.onecpt_rhs, [0.0, 0.0], t, np.array([p, p * 2]),
                                 jac=P.onecpt_jac, **kw).y,
        "chain": integrate(P.chain_rhs, np.eye(10)[0], t, np.array([1.0, 0.5]),
                           jac=P.chain_jac,
                           rtol=1e-8, atol=1e-10).y,
    }
    assert got["chain_dense_lu"] == 0  # the sparse LU ran in pure Python too
    for key, val in jit.items():
        np.testing.assert_allclose(np.array(got[key]), val, rtol=1e-12, atol=1e-14,
                                   err_msg=key)
