"""Benchmark problems, written once and handed to every solver in the form it wants.

Each problem gives

* ``rhs(t, y, p, dydt)`` and ``jac(t, y, p, J)``: plain ``@numba.njit`` functions (ldnsim's
  signature); scipy gets thin allocating wrappers of the same functions and numbalsoda a
  ``cfunc`` that calls the same ``rhs``, so every solver evaluates identical machine code;
* ``antimony()``: the same equations as an Antimony model for libroadrunner;
* nominal parameters, initial state, output times, doses, tolerances and, where one exists,
  a published reference value at the final time.

Problem definitions and reference numbers come from the Test Set for IVP Solvers
(Mazzia & Magherini, Univ. Bari; R package deTestSet), as transcribed in the project's shared
reference notes; the PK/PD model is the rxode2 speed-benchmark model.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

import numba
import numpy as np
from numba import cfunc, njit, types

# The Test Set problems and reference values live once, in the test suite's data module.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from ivp_problems import POLLU_P as POLLU_K
from ivp_problems import POLLU_REF, POLLU_Y0, rober_jac, rober_rhs
from ivp_problems import ROBER_REF_1E5 as ROBER_1E5


@dataclass
class Problem:
    name: str
    state_names: list
    param_names: list
    y0: np.ndarray
    p: np.ndarray
    t_eval: np.ndarray
    rtol: float
    atol: float
    rhs: object
    jac: object
    antimony: object                      # callable(p) -> Antimony source
    doses: tuple | None = None            # (times, state_index, amounts)
    ref_end: np.ndarray | None = None     # published value at t_eval[-1], nominal p
    ref_end_source: str = ""
    ref_rtol: float = 1e-12
    ref_atol: float = 1e-14
    autonomous: bool = True
    notes: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def n(self):
        return self.y0.size

    @property
    def k(self):
        return self.p.size


# ---------------------------------------------------------------------------- ROBER
def rober_antimony(p):
    return f"""
model rober
  y1 = 1; y2 = 0; y3 = 0
  k1 = {float(p[0])!r}; k2 = {float(p[1])!r}; k3 = {float(p[2])!r}
  y1' = -k1*y1 + k3*y2*y3
  y2' = k1*y1 - k2*y2*y2 - k3*y2*y3
  y3' = k2*y2*y2
end
"""


def rober(n_out=100):
    # t = 0, then n_out - 1 outputs log-spaced over 1e-5 .. 1e5 (the transient and the tail)
    t_eval = np.concatenate([[0.0], np.logspace(-5, 5, n_out - 1)])
    return Problem(
        name="rober", state_names=["y1", "y2", "y3"], param_names=["k1", "k2", "k3"],
        y0=np.array([1.0, 0.0, 0.0]), p=np.array([0.04, 3.0e7, 1.0e4]), t_eval=t_eval,
        rtol=1e-8, atol=1e-10, rhs=rober_rhs, jac=rober_jac, antimony=rober_antimony,
        ref_end=ROBER_1E5, ref_end_source="scipy Radau rtol 1e-13 (shared reference notes)",
        ref_rtol=1e-12, ref_atol=1e-16,
        notes="t in [0, 1e5], 100 outputs: t=0 and 99 log-spaced in [1e-5, 1e5]",
    )


# ---------------------------------------------------------------------------- POLLU
# reaction j has rate k_j * y[A1[j]] * y[A2[j]] (A2 = -1: first order)
POLLU_A1 = np.array([0, 1, 4, 6, 6, 6, 8, 8, 10, 10, 12, 9, 13, 0, 2, 3, 3, 15, 15, 16, 18, 18,
                     0, 18, 19])
POLLU_A2 = np.array([-1, 3, 1, -1, -1, 5, -1, 5, 1, 0, -1, 1, -1, 5, -1, -1, -1, -1, -1, 5, -1,
                     -1, 3, 0, -1])


@njit
def pollu_rhs(t, y, k, f):
    r0 = k[0] * y[0]
    r1 = k[1] * y[1] * y[3]
    r2 = k[2] * y[4] * y[1]
    r3 = k[3] * y[6]
    r4 = k[4] * y[6]
    r5 = k[5] * y[6] * y[5]
    r6 = k[6] * y[8]
    r7 = k[7] * y[8] * y[5]
    r8 = k[8] * y[10] * y[1]
    r9 = k[9] * y[10] * y[0]
    r10 = k[10] * y[12]
    r11 = k[11] * y[9] * y[1]
    r12 = k[12] * y[13]
    r13 = k[13] * y[0] * y[5]
    r14 = k[14] * y[2]
    r15 = k[15] * y[3]
    r16 = k[16] * y[3]
    r17 = k[17] * y[15]
    r18 = k[18] * y[15]
    r19 = k[19] * y[16] * y[5]
    r20 = k[20] * y[18]
    r21 = k[21] * y[18]
    r22 = k[22] * y[0] * y[3]
    r23 = k[23] * y[18] * y[0]
    r24 = k[24] * y[19]
    f[0] = -r0 - r9 - r13 - r22 - r23 + r1 + r2 + r8 + r10 + r11 + r21 + r24
    f[1] = -r1 - r2 - r8 - r11 + r0 + r20
    f[2] = -r14 + r0 + r16 + r18 + r21
    f[3] = -r1 - r15 - r16 - r22 + r14
    f[4] = -r2 + 2.0 * r3 + r5 + r6 + r12 + r19
    f[5] = -r5 - r7 - r13 - r19 + r2 + 2.0 * r17
    f[6] = -r3 - r4 - r5 + r12
    f[7] = r3 + r4 + r5 + r6
    f[8] = -r6 - r7
    f[9] = -r11 + r6 + r8
    f[10] = -r8 - r9 + r7 + r10
    f[11] = r8
    f[12] = -r10 + r9
    f[13] = -r12 + r11
    f[14] = r13
    f[15] = -r17 - r18 + r15
    f[16] = -r19
    f[17] = r19
    f[18] = -r20 - r21 - r23 + r22 + r24
    f[19] = -r24 + r23


def _pollu_stoichiometry():
    """S (20, 25) with f = S @ r: column j is f at y = 1, k = e_j (then r = e_j)."""
    S = np.zeros((20, 25))
    ones = np.ones(20)
    for j in range(25):
        e = np.zeros(25)
        e[j] = 1.0
        pollu_rhs.py_func(0.0, ones, e, S[:, j])
    return S


POLLU_S = _pollu_stoichiometry()


@njit
def pollu_jac(t, y, k, J):
    n = 20
    for i in range(n):
        for j in range(n):
            J[i, j] = 0.0
    for r in range(25):
        a = POLLU_A1[r]
        b = POLLU_A2[r]
        if b < 0:
            da = k[r]                     # d r / d y_a
            for i in range(n):
                s = POLLU_S[i, r]
                if s != 0.0:
                    J[i, a] += s * da
        else:
            da = k[r] * y[b]
            db = k[r] * y[a]
            for i in range(n):
                s = POLLU_S[i, r]
                if s != 0.0:
                    J[i, a] += s * da
                    J[i, b] += s * db


def pollu_antimony(p):
    lines = ["model pollu"]
    lines += [f"  y{i} = {float(POLLU_Y0[i])!r}" for i in range(20)]
    lines += [f"  k{j} = {float(p[j])!r}" for j in range(25)]
    for j in range(25):
        b = POLLU_A2[j]
        lines.append(f"  r{j} := k{j}*y{POLLU_A1[j]}" + (f"*y{b}" if b >= 0 else ""))
    for i in range(20):
        terms = []
        for j in range(25):
            s = POLLU_S[i, j]
            if s != 0.0:
                c = "" if abs(s) == 1 else f"{abs(s):g}*"
                terms.append(("+ " if s > 0 else "- ") + c + f"r{j}")
        lines.append(f"  y{i}' = " + " ".join(terms).lstrip("+ "))
    lines.append("end")
    return "\n".join(lines) + "\n"


def pollu(n_out=61):
    return Problem(
        name="pollu", state_names=[f"y{i}" for i in range(20)],
        param_names=[f"k{j}" for j in range(25)], y0=POLLU_Y0.copy(), p=POLLU_K.copy(),
        t_eval=np.linspace(0.0, 60.0, n_out), rtol=1e-8, atol=1e-10, rhs=pollu_rhs,
        jac=pollu_jac, antimony=pollu_antimony, ref_end=POLLU_REF,
        ref_end_source="Test Set (RADAU5 in extended precision)", ref_rtol=1e-12,
        ref_atol=1e-16, notes="t in [0, 60], 61 outputs, linearly spaced",
    )


# ---------------------------------------------------------------------------- PK/PD
# rxode2 speed-benchmark model: depot, central, peripheral, indirect-response effect.
PKPD_NAMES = ["ka", "CL", "V2", "Q", "V3", "Kin", "Kout", "EC50"]
PKPD_P = np.array([0.294, 18.6, 40.2, 10.5, 297.0, 1.0, 1.0, 200.0])


@njit
def pkpd_rhs(t, y, p, dy):
    ka, CL, V2, Q, V3, Kin, Kout, EC50 = p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7]
    C2 = y[1] / V2
    C3 = y[2] / V3
    dy[0] = -ka * y[0]
    dy[1] = ka * y[0] - CL * C2 - Q * C2 + Q * C3
    dy[2] = Q * C2 - Q * C3
    dy[3] = Kin - Kout * (1.0 - C2 / (EC50 + C2)) * y[3]


@njit
def pkpd_jac(t, y, p, J):
    ka, CL, V2, Q, V3, Kout, EC50 = p[0], p[1], p[2], p[3], p[4], p[6], p[7]  # Kin: not in J
    for i in range(4):
        for j in range(4):
            J[i, j] = 0.0
    C2 = y[1] / V2
    J[0, 0] = -ka
    J[1, 0] = ka
    J[1, 1] = -(CL + Q) / V2
    J[1, 2] = Q / V3
    J[2, 1] = Q / V2
    J[2, 2] = -Q / V3
    s = EC50 + C2
    J[3, 1] = Kout * y[3] * EC50 / (s * s * V2)
    J[3, 3] = -Kout * EC50 / s


def pkpd_antimony(p):
    vals = "; ".join(f"{n} = {float(v)!r}" for n, v in zip(PKPD_NAMES, p))
    return f"""
model pkpd
  depot = 0; central = 0; peripheral = 0; eff = 1
  {vals}
  C2 := central/V2
  C3 := peripheral/V3
  depot' = -ka*depot
  central' = ka*depot - CL*C2 - Q*C2 + Q*C3
  peripheral' = Q*C2 - Q*C3
  eff' = Kin - Kout*(1 - C2/(EC50 + C2))*eff
end
"""


def pkpd_doses():
    t1 = np.arange(10) * 12.0                 # 10000 every 12 h x 10: 0, 12, ..., 108
    t2 = 120.0 + np.arange(5) * 24.0          # 20000 every 24 h x 5: 120, ..., 216
    times = np.concatenate([t1, t2])
    amounts = np.concatenate([np.full(10, 10000.0), np.full(5, 20000.0)])
    return times, np.zeros(times.size, np.int64), amounts


def pkpd():
    return Problem(
        name="pkpd", state_names=["depot", "central", "peripheral", "eff"],
        param_names=list(PKPD_NAMES), y0=np.array([0.0, 0.0, 0.0, 1.0]), p=PKPD_P.copy(),
        t_eval=np.arange(0.0, 241.0), rtol=1e-8, atol=1e-8, rhs=pkpd_rhs, jac=pkpd_jac,
        antimony=pkpd_antimony, doses=pkpd_doses(), ref_rtol=1e-12, ref_atol=1e-12,
        extra={"nonstiff": True},
        notes=("rxode2 benchmark PK/PD; doses 10000 into depot at 0, 12, ..., 108 h and 20000 "
               "at 120, 144, ..., 216 h; 241 hourly outputs 0..240 h, right-continuous "
               "(an output at a dose time includes the dose)"),
    )


PROBLEMS = {"rober": rober, "pollu": pollu, "pkpd": pkpd}


# ---------------------------------------------------------------------------- adapters
def perturbed(p, members, seed, sigma=0.1):
    """Log-normal perturbation: ``p * exp(sigma * z)``, z ~ N(0, 1), fixed seed."""
    rng = np.random.default_rng(seed)
    return p[None, :] * np.exp(sigma * rng.standard_normal((members, p.size)))


def scipy_functions(prob):
    """Allocating ``f(t, y, p)`` and ``jac(t, y, p)`` wrappers (njit) for solve_ivp."""
    rhs, jac, n = prob.rhs, prob.jac, prob.n

    @njit
    def f(t, y, p):
        dy = np.empty(n)
        rhs(t, np.ascontiguousarray(y), p, dy)
        return dy

    @njit
    def J(t, y, p):
        out = np.empty((n, n))
        jac(t, np.ascontiguousarray(y), p, out)
        return out

    return f, J


LSODA_SIG = types.void(types.double, types.CPointer(types.double),
                       types.CPointer(types.double), types.CPointer(types.double))


def lsoda_rhs(prob, count=False):
    """numbalsoda's ``cfunc``: ``f(t, u*, du*, data*)`` calling the problem's own ``rhs``.

    With ``count=True`` the data vector has one extra slot after the parameters that the
    function increments on every call (to count RHS evaluations; not for timing).
    """
    rhs, n, k = prob.rhs, prob.n, prob.k

    if count:
        @cfunc(LSODA_SIG)
        def f(t, u, du, data):
            pp = numba.carray(data, (k + 1,))
            pp[k] += 1.0
            rhs(t, numba.carray(u, (n,)), pp[:k], numba.carray(du, (n,)))
    else:
        @cfunc(LSODA_SIG)
        def f(t, u, du, data):
            rhs(t, numba.carray(u, (n,)), numba.carray(data, (k,)), numba.carray(du, (n,)))
    return f


def dose_segments(t_eval, doses):
    """Split the output grid at the dose times for solvers that restart at each dose.

    Returns ``(dose_out_idx, dose_state, dose_amt)``: for each dose, the index of its time in
    ``t_eval`` (every dose time must be an output time here, which holds for the PK/PD
    problem), sorted by time.
    """
    if doses is None:
        return (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0))
    times, idx, amt = (np.asarray(a) for a in doses)
    order = np.argsort(times, kind="stable")
    times, idx, amt = times[order], idx[order], amt[order]
    pos = np.searchsorted(t_eval, times)
    if np.any(pos >= t_eval.size) or np.any(t_eval[np.minimum(pos, t_eval.size - 1)] != times):
        raise ValueError("every dose time must be one of the output times")
    return pos.astype(np.int64), idx.astype(np.int64), amt.astype(float)
