"""Feasibility probe (issue 17): would a lower-order Rosenbrock method beat LSODA at loose
tolerances on ROBER?

ldnsim's Rodas5P (8 stages, order 5) is >= 2x numbalsoda (LSODA) from 5 to 8.5 digits on the
ROBER ensemble, but only 1.08x / 1.77x at 3.7 / 4.2 digits, where its time levels off at ~74
steps per member. This script is a *self-contained prototype*, not wired into ldnsim's
kernels: a generic numba Rosenbrock stepper driven by a tableau, run with

* ROS3P (Lang & Verwer 2001, BIT 41: 3 stages, order 3, embedded 2, L-stable);
* Rodas3 (Sandu et al. 1997, Atmos. Environ. 31: 4 stages, order 3, embedded 2, L-stable,
  stiffly accurate), and "Rodas3-itest": the same with the interpolant's own error test that
  ldnsim's ``method="rodas3"`` applies (the control for the package's Rodas3: same steps);
  both take the I step-size control of ldnsim's Rodas3, so the pair isolates the test;
* Rodas4 (Hairer & Wanner, Solving ODEs II, ``rodas.f``: 6 stages, order 4, embedded 3,
  stiffly accurate), for comparison,
* Rodas5P through the same prototype stepper (ldnsim's coefficients), as a control: its
  distance to ldnsim's Rodas5P is the implementation's (per-step cost, Hermite outputs
  against Rodas5P's own dense output), not the method's,

side by side, in the same run and on the same perturbed members, with ldnsim's Rodas5P and
Rodas3 (``ldnsim.solver.integrate_batch``, default kernels) and numbalsoda's LSODA (called as
``ensembles.py`` calls it).

Coefficients: OrdinaryDiffEq.jl, ``src/tableaus/rosenbrock_tableaus.jl`` (ROS3PTableau,
Rodas3Tableau, Rodas4Tableau; the latter are the values of Hairer's ``rodas.f``), in the
formulation ldnsim's tableaus also use (Hairer & Wanner IV.7, eq. 7.25): with
``W = I/(h gamma) - J``, ``W K_i = f(y + sum_j a_ij K_j) + sum_j (c_ij / h) K_j``,
``y1 = y + sum_i b_i K_i``, error estimate ``sum_i e_i K_i``.

The prototype follows ldnsim's step-size control (``ldnsim/_kernels/control.py``): RMS error
norm with ``atol + rtol max(|y|, |y_new|)``, PI control with SAFETY 0.9 and gains 0.7 / 0.4 of
1 / (q + 1) (q = order of the error estimate; both Rodas3 prototypes: I control with
ldnsim's RODAS3_* constants, as ldnsim's Rodas3), factor limits 0.2 .. 6, min(fac, 1) after a
rejection, Hairer's initial step. Dense 3x3 LU with partial pivoting in plain loops, the
analytic Jacobian once per step (as ldnsim), ROBER autonomous (no df/dt terms; the prototype
supports autonomous problems only). Outputs: a cubic Hermite interpolant between the two
ends of each accepted step (y and f at both ends; f at the new point is the next step's first
stage, so it costs no extra RHS evaluation); the integration does not stop at output times.
A stage whose ``a_ij`` row is zero (Rodas3's second stage) reuses f(y). With
``--stop-methods`` the named methods also run a second way, shortening steps to land on every
output time (no interpolation), to show what the Hermite interpolant costs in accuracy.

    python benchmarks/low_order_probe.py                  # 300 members, rtol 1e-2 ... 1e-7
    python benchmarks/low_order_probe.py --members 50 --repeats 3    # quicker

Writes a table to stdout and everything to ``benchmarks/results/low_order_probe.json``.
"""
from __future__ import annotations

import argparse
import math
import sys
import time

import numba
import numpy as np
from numba import njit

from ldnsim._kernels import control, linalg
from ldnsim.solver import integrate_batch

import common
import problems as P
from common import Case, accuracy, print_table, run_interleaved, timing_row, write_json
from ensembles import ldnsim_batch, ldnsim_stats, lsoda, numbalsoda_rhs_count, numbalsoda_run

# ---------------------------------------------------------------------------- tableaus
SQ3 = math.sqrt(3.0)


def ros3p():
    """ROS3P (Lang & Verwer 2001), as OrdinaryDiffEq.jl's ROS3PTableau."""
    g = 0.5 + SQ3 / 6.0
    ig = 1.0 / g
    A = np.zeros((3, 3))
    C = np.zeros((3, 3))
    A[1, 0] = ig
    A[2, 0] = ig
    C[1, 0] = -ig * ig
    tmp = -ig * (2.0 - 0.5 * ig)
    C[2, 0] = -ig * (1.0 - tmp)
    C[2, 1] = tmp
    tmp = ig * (2.0 / 3.0 - ig / 6.0)
    b = np.array([ig * (1.0 + tmp), tmp, ig / 3.0])
    bhat = np.array([2.113248654051871, 1.0, 0.4226497308103742])
    return dict(name="ROS3P", stages=3, order=3, q=2.0, gamma=g, A=A, C=C, b=b, e=b - bhat)


def rodas3():
    """Rodas3 (Sandu et al. 1997), as OrdinaryDiffEq.jl's Rodas3Tableau."""
    A = np.zeros((4, 4))
    C = np.zeros((4, 4))
    A[2, 0] = 2.0
    A[3, 0] = 2.0
    A[3, 2] = 1.0
    C[1, 0] = 4.0
    C[2, 0], C[2, 1] = 1.0, -1.0
    C[3, 0], C[3, 1], C[3, 2] = 1.0, -1.0, -8.0 / 3.0
    b = np.array([2.0, 0.0, 1.0, 1.0])
    e = np.array([0.0, 0.0, 0.0, 1.0])
    return dict(name="Rodas3", stages=4, order=3, q=2.0, gamma=0.5, A=A, C=C, b=b, e=e,
                rodas3_gains=True)


def rodas4():
    """Rodas4 (Hairer & Wanner, rodas.f), as OrdinaryDiffEq.jl's Rodas4Tableau: stage 6
    takes stage 5's argument plus K5, y1 = stage 6's argument plus K6, error = K6."""
    A = np.zeros((6, 6))
    C = np.zeros((6, 6))
    A[1, 0] = 1.544
    A[2, :2] = [0.9466785280815826, 0.2557011698983284]
    A[3, :3] = [3.314825187068521, 2.896124015972201, 0.9986419139977817]
    A[4, :4] = [1.221224509226641, 6.019134481288629, 12.53708332932087, -0.6878860361058950]
    A[5, :5] = [*A[4, :4], 1.0]
    C[1, 0] = -5.6688
    C[2, :2] = [-2.430093356833875, -0.2063599157091915]
    C[3, :3] = [-0.1073529058151375, -9.594562251023355, -20.47028614809616]
    C[4, :4] = [7.496443313967647, -10.24680431464352, -33.99990352819905, 11.70890893206160]
    C[5, :5] = [8.083246795921522, -7.981132988064893, -31.52159432874371, 16.31930543123136,
                -6.058818238834054]
    b = np.append(A[5, :5], 1.0)
    e = np.zeros(6)
    e[5] = 1.0
    return dict(name="Rodas4", stages=6, order=4, q=3.0, gamma=0.25, A=A, C=C, b=b, e=e)


def rodas5p():
    """Rodas5P run by the *prototype* stepper (ldnsim's own coefficients, error = last
    stage): a control that separates the method from the implementation (ldnsim's kernel,
    its dense output) in the comparison."""
    from ldnsim._kernels import tableaus as T

    e = np.zeros(8)
    e[7] = 1.0
    return dict(name="proto-Rodas5P", stages=8, order=5, q=float(T.RODAS5P_ERROR_ORDER),
                gamma=T.RODAS5P_GAMMA, A=T.RODAS5P_A.copy(), C=T.RODAS5P_C.copy(),
                b=T.RODAS5P_M.copy(), e=e)


def rodas3_itest():
    """Rodas3 with the interpolant's own error test, as ldnsim's ``method="rodas3"``."""
    return dict(rodas3(), name="Rodas3-itest", itest=True)


METHODS = {"ros3p": ros3p, "rodas3": rodas3, "rodas3i": rodas3_itest, "rodas4": rodas4,
           "rodas5p": rodas5p}

# ---------------------------------------------------------------------------- control
# ldnsim's own control and dense-LU kernels (ldnsim/_kernels/control.py, linalg.py), so the
# prototype's steps are controlled and factored exactly as the package's are.
ERR_FLOOR = control.ERR_FLOOR


@njit(cache=False, error_model="numpy")
def _initial_step(rhs, y, f0, p, span, q, rtol, atol, ytmp, ftmp):
    """Hairer's initial step: ldnsim's ``control.initial_step`` at t = 0 (autonomous)."""
    return control.initial_step(rhs, 0.0, y, f0, p, span, q, rtol, atol, ytmp, ftmp)


@njit(cache=False, error_model="numpy")
def _pi(err, lprev, q, rejected, rodas3_gains):
    """ldnsim's step-size factor (``control.pi_factor_logs``): PI gains, or with
    ``rodas3_gains`` the I control of ldnsim's Rodas3."""
    if rodas3_gains:
        b1, b2, safety = control.RODAS3_BETA1, control.RODAS3_BETA2, control.RODAS3_SAFETY
    else:
        b1, b2, safety = control.BETA1, control.BETA2, control.SAFETY
    return control.pi_factor_logs(err, control.log_err(err), lprev, q, rejected, b1, b2, safety)


@njit(cache=False, error_model="numpy")
def _lu(W, perm, dinv):
    """ldnsim's dense LU with partial pivoting (``linalg.lu_factor``); False if singular."""
    return linalg.lu_factor(W, perm, dinv)


@njit(cache=False, error_model="numpy")
def _lu_solve(W, perm, dinv, x):
    """``linalg.lu_solve`` in place in ``x``."""
    linalg.lu_solve(W, perm, dinv, x)


@njit(cache=False, error_model="numpy")
def solve_one(rhs, jac, y0, p, t_eval, rtol, atol, A, C, b, e, gamma, q, zero_row,
              max_steps, out, stats, h0=0.0, stop=False, itest=False, rodas3_gains=False):
    """One trajectory; ``out`` (m, n) at ``t_eval`` (m,), ``t_eval[0]`` the start; first
    step ``h0`` if > 0, else Hairer's initial step. ``stop``: shorten steps to land on every
    output time (no interpolation) instead of the cubic Hermite interpolant.

    ``stats`` (4,): accepted steps, rejected steps, RHS evaluations, LU factorisations.
    Returns True on success.
    """
    n = y0.size
    m = t_eval.size
    s = b.size
    y = y0.copy()
    ynew = np.empty(n)
    ytmp = np.empty(n)
    f0 = np.empty(n)
    f1 = np.empty(n)
    K = np.empty((s, n))
    J = np.empty((n, n))
    W = np.empty((n, n))
    perm = np.empty(n, np.int64)
    dinv = np.empty(n)
    t = t_eval[0]
    tb = t_eval[m - 1]
    for i in range(n):
        out[0, i] = y[i]
    k = 1
    rhs(t, y, p, f0)
    stats[2] += 1
    h = h0
    if h <= 0.0:
        h = _initial_step(rhs, y, f0, p, tb - t, q, rtol, atol, ytmp, f1)
        stats[2] += 1
    lprev = 0.0
    rejected = False
    need_jac = True
    while t < tb:
        if stats[0] + stats[1] >= max_steps or not (h > 1e-15 * abs(t)):
            return False
        t_end = t_eval[k] if stop else tb  # k < m while t < tb
        last = False
        if t + h >= t_end:
            h = t_end - t
            last = True
        if need_jac:
            jac(t, y, p, J)
            need_jac = False
        ihg = 1.0 / (h * gamma)
        for i in range(n):
            for j in range(n):
                W[i, j] = -J[i, j]
            W[i, i] += ihg
        stats[3] += 1
        if not _lu(W, perm, dinv):
            h *= 0.25
            rejected = True
            continue
        ih = 1.0 / h
        for st in range(s):
            if zero_row[st]:
                for i in range(n):
                    K[st, i] = f0[i]
            else:
                for i in range(n):
                    acc = y[i]
                    for j in range(st):
                        acc += A[st, j] * K[j, i]
                    ytmp[i] = acc
                rhs(t, ytmp, p, K[st])
                stats[2] += 1
            for i in range(n):
                acc = K[st, i]
                for j in range(st):
                    acc += C[st, j] * ih * K[j, i]
                K[st, i] = acc
            _lu_solve(W, perm, dinv, K[st])
        sq = 0.0
        for i in range(n):
            yn = y[i]
            ev = 0.0
            for j in range(s):
                yn += b[j] * K[j, i]
                ev += e[j] * K[j, i]
            ynew[i] = yn
            sc = atol[i] + rtol * max(abs(y[i]), abs(yn))
            sq += (ev / sc) ** 2
        err = math.sqrt(sq / n)
        if not np.isfinite(err):
            err = np.inf
        have_f1 = False
        if itest and err <= 1.0:
            # the interpolant's own error test, as ldnsim's Rodas3 (driver._segment_rodas):
            # || (y1 - y0 - h (f0 + f1) / 2) / 4 || <= 1 as well
            rhs(t_end if last else t + h, ynew, p, f1)
            stats[2] += 1
            have_f1 = True
            sq = 0.0
            for i in range(n):
                sc = atol[i] + rtol * max(abs(y[i]), abs(ynew[i]))
                dv = 0.25 * (ynew[i] - y[i] - 0.5 * h * (f0[i] + f1[i]))
                sq += (dv / sc) * (dv / sc)
            ei = math.sqrt(sq / n)
            if not np.isfinite(ei):
                ei = np.inf
            err = max(err, ei)
        if err <= 1.0:
            t_new = t_end if last else t + h
            if not have_f1:
                rhs(t_new, ynew, p, f1)
                stats[2] += 1
            while k < m and t_eval[k] <= t_new:
                th = (t_eval[k] - t) / h
                # cubic Hermite from (y, f0) at t and (ynew, f1) at t + h
                h00 = (1.0 + 2.0 * th) * (1.0 - th) ** 2
                h10 = th * (1.0 - th) ** 2
                h01 = th * th * (3.0 - 2.0 * th)
                h11 = th * th * (th - 1.0)
                for i in range(n):
                    out[k, i] = (h00 * y[i] + h01 * ynew[i]
                                 + h * (h10 * f0[i] + h11 * f1[i]))
                k += 1
            for i in range(n):
                y[i] = ynew[i]
                f0[i] = f1[i]
            t = t_new
            stats[0] += 1
            fac = _pi(err, lprev, q, rejected, rodas3_gains)
            lprev = math.log(max(err, ERR_FLOOR))
            rejected = False
            need_jac = True
            h *= fac
        else:
            stats[1] += 1
            h *= _pi(err, lprev, q, True, rodas3_gains)
            rejected = True
    return True


@njit(cache=False, error_model="numpy")
def solve_batch(rhs, jac, y0, ps, t_eval, rtol, atol, A, C, b, e, gamma, q, zero_row,
                max_steps, out, stats, ok, stop, itest, rodas3_gains):
    """Every member of ``ps`` (R, k) in turn, on one thread: ``out`` (R, m, n),
    ``stats`` (R, 4), ``ok`` (R,)."""
    for r in range(ps.shape[0]):
        ok[r] = solve_one(rhs, jac, y0, ps[r], t_eval, rtol, atol, A, C, b, e, gamma, q,
                          zero_row, max_steps, out[r], stats[r], 0.0, stop, itest,
                          rodas3_gains)


def proto_run(prob, tab, ps, *, rtol, atol, stop=False):
    R, m, n = ps.shape[0], prob.t_eval.size, prob.n
    out = np.empty((R, m, n))
    stats = np.zeros((R, 4), np.int64)
    ok = np.zeros(R, np.bool_)
    zero_row = np.array([i == 0 or not np.any(tab["A"][i, :i]) for i in range(tab["stages"])])
    zero_row[0] = True
    solve_batch(prob.rhs, prob.jac, prob.y0, ps, prob.t_eval, rtol, np.full(n, atol),
                tab["A"], tab["C"], tab["b"], tab["e"], tab["gamma"], tab["q"], zero_row,
                1_000_000, out, stats, ok, stop, tab.get("itest", False),
                tab.get("rodas3_gains", False))
    return out, ok, stats


def check_order(tab):
    """Observed convergence order on a smooth nonlinear 2-state test (fixed steps)."""
    @njit
    def f(t, y, p, dy):
        dy[0] = -2.0 * y[0] + y[1] * y[1]
        dy[1] = y[0] - y[1] - 0.5 * y[1] * y[1]

    @njit
    def jf(t, y, p, J):
        J[0, 0] = -2.0
        J[0, 1] = 2.0 * y[1]
        J[1, 0] = 1.0
        J[1, 1] = -1.0 - y[1]

    zero_row = np.array([i == 0 or not np.any(tab["A"][i, :i]) for i in range(tab["stages"])])

    def run(nsteps):
        # one step per call (h0 = the segment; tolerances so loose that it is accepted)
        y = np.array([1.0, 0.5])
        te = np.linspace(0.0, 1.0, nsteps + 1)
        for i in range(nsteps):
            out = np.empty((2, 2))
            st = np.zeros(4, np.int64)
            solve_one(f, jf, y, np.zeros(1), te[i:i + 2], 1e10, np.full(2, 1e10),
                      tab["A"], tab["C"], tab["b"], tab["e"], tab["gamma"], tab["q"],
                      zero_row, 10, out, st, te[i + 1] - te[i])
            y = out[1].copy()
        return y

    ref = run(4096)
    e1 = np.max(np.abs(run(20) - ref))
    e2 = np.max(np.abs(run(40) - ref))
    return math.log2(e1 / e2)


# ---------------------------------------------------------------------------- matching
def curve(points):
    """(digits, log ms) of a sweep, loosest first, keeping only points that gain digits."""
    pts = sorted(points, key=lambda p: -p["rtol"])
    d, lt, best = [], [], -np.inf
    for p in pts:
        if p["mescd_all"] > best:
            d.append(p["mescd_all"])
            lt.append(math.log(p["ms_per_member_min"]))
            best = p["mescd_all"]
    return np.array(d), np.array(lt)


def time_at(points, digits):
    d, lt = curve(points)
    if d.size == 0 or not (d[0] <= digits <= d[-1]):
        return None
    return float(np.exp(np.interp(digits, d, lt)))


def output_cost(prob, ps, tab, repeats, rtol=1e-3):
    """Cost of the outputs: ldnsim's Rodas3 and the prototype's on the same members with the
    problem's outputs and with only the two ends (same steps either way, since outputs never
    shorten a step); the difference per output time is what writing one output costs."""
    class Ends:  # the problem with only t0 and t_end as output times
        rhs, jac, y0, n = prob.rhs, prob.jac, prob.y0, prob.n
        t_eval = np.array([prob.t_eval[0], prob.t_eval[-1]])

    kw = dict(rtol=rtol, atol=prob.atol / prob.rtol * rtol)
    cases = []
    for label, pr in (("all", prob), ("ends", Ends)):
        cases.append(Case(f"ldnsim Rodas3 {label}", lambda pr=pr: integrate_batch(
            pr.rhs, pr.y0, pr.t_eval, ps, jac=pr.jac, method="rodas3", max_steps=1_000_000,
            autonomous=True, **kw), repeats=repeats, members=ps.shape[0]))
        cases.append(Case(f"prototype Rodas3 {label}", lambda pr=pr: proto_run(pr, tab, ps, **kw),
                          repeats=repeats, members=ps.shape[0]))
    run_interleaved(cases, verbose=False)
    best = {c.name: 1e6 * min(c.times) / c.members for c in cases}  # us per member
    extra = prob.t_eval.size - 2
    out = {"rtol": rtol, "outputs": prob.t_eval.size, "us_per_member": best,
           "ns_per_output": {who: 1e3 * (best[f"{who} Rodas3 all"] - best[f"{who} Rodas3 ends"])
                             / extra for who in ("ldnsim", "prototype")}}
    print(f"\n# cost of an output (Rodas3, rtol {rtol:g}, {prob.t_eval.size} against 2 output "
          f"times): ldnsim {out['ns_per_output']['ldnsim']:.1f} ns, prototype "
          f"{out['ns_per_output']['prototype']:.1f} ns per output", flush=True)
    return out


# ---------------------------------------------------------------------------- main
def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--members", type=int, default=300)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--rtols", default="1e-2,3e-3,1e-3,3e-4,1e-4,3e-5,1e-5,1e-6,1e-7")
    ap.add_argument("--methods", default="ros3p,rodas3,rodas3i,rodas4,rodas5p")
    ap.add_argument("--stop-methods", default="rodas3",
                    help="methods also run stopping at every output time (no interpolation)")
    ap.add_argument("--digits", default="3.5,3.75,4.0,4.25,4.5,5.0",
                    help="accuracies (mescd over all outputs) at which to compare times")
    ap.add_argument("--seed", type=int, default=20240601)
    ap.add_argument("--output-cost-only", action="store_true",
                    help="only time the outputs (ldnsim against the prototype, Rodas3); "
                         "prints, writes nothing")
    ap.add_argument("--out", default=str(common.RESULTS / "low_order_probe.json"))
    args = ap.parse_args(argv)
    if lsoda is None:
        ap.error("numbalsoda is not installed")
    numba.set_num_threads(1)
    env = common.env_info()
    common.print_env(env)
    t_start = time.perf_counter()

    prob = P.rober()
    ratio = prob.atol / prob.rtol
    ps = P.perturbed(prob.p, args.members, args.seed)
    seg = P.dose_segments(prob.t_eval, prob.doses)
    if args.output_cost_only:
        return output_cost(prob, ps, METHODS["rodas3i"](), args.repeats)
    tabs = [METHODS[s.strip()]() for s in args.methods.split(",") if s.strip()]
    rtols = [float(x) for x in args.rtols.split(",")]
    stop_tabs = [METHODS[s.strip()]() for s in args.stop_methods.split(",") if s.strip()]
    orders = {t["name"]: check_order(t) for t in tabs}
    print("# observed orders (fixed steps, nonstiff test): "
          + ", ".join(f"{k} {v:.2f}" for k, v in orders.items()), flush=True)

    print(f"# reference: ldnsim Rodas5P rtol {prob.ref_rtol:g}, atol {prob.ref_atol:g}",
          flush=True)
    ref = ldnsim_batch(prob, ps, rtol=prob.ref_rtol, atol=prob.ref_atol)
    assert np.all(ref.status == 0)
    ref = ref.y
    f_nbl = P.lsoda_rhs(prob)
    addr = f_nbl.address

    cases = []
    for rt in rtols:
        kw = dict(rtol=rt, atol=ratio * rt)
        cases.append(Case(f"ldnsim Rodas5P @{rt:g}", lambda kw=kw: ldnsim_batch(prob, ps, **kw),
                          repeats=args.repeats, members=args.members,
                          meta=dict(solver="ldnsim Rodas5P", rtol=rt)))
        cases.append(Case(f"ldnsim Rodas3 @{rt:g}",
                          lambda kw=kw: ldnsim_batch(prob, ps, method="rodas3", **kw),
                          repeats=args.repeats, members=args.members,
                          meta=dict(solver="ldnsim-Rodas3", rtol=rt)))
        cases.append(Case(f"numbalsoda @{rt:g}",
                          lambda kw=kw: numbalsoda_run(prob, addr, ps, seg, False, **kw),
                          repeats=args.repeats, members=args.members,
                          meta=dict(solver="numbalsoda LSODA", rtol=rt)))
        for tab in tabs:
            cases.append(Case(f"{tab['name']} @{rt:g}",
                              lambda tab=tab, kw=kw: proto_run(prob, tab, ps, **kw),
                              repeats=args.repeats, members=args.members,
                              meta=dict(solver=f"prototype {tab['name']}", rtol=rt)))
        for tab in stop_tabs:
            cases.append(Case(f"{tab['name']} stop @{rt:g}",
                              lambda tab=tab, kw=kw: proto_run(prob, tab, ps, stop=True, **kw),
                              repeats=args.repeats, members=args.members,
                              meta=dict(solver=f"prototype {tab['name']}-stop", rtol=rt)))
    run_interleaved(cases, verbose=False)

    points = []
    for c in cases:
        row = {**c.meta, **{k: v for k, v in timing_row(c).items() if k != "meta"}}
        res = c.result
        if c.meta["solver"].startswith("ldnsim"):
            y, ok = res.y, res.status == 0
            row.update(ldnsim_stats(res))
        elif c.meta["solver"].startswith("numbalsoda"):
            y, ok = res
            row["rhs"] = numbalsoda_rhs_count(prob, ps[: min(100, len(ps))], seg,
                                              rtol=c.meta["rtol"], atol=ratio * c.meta["rtol"])
        else:
            y, ok, st = res
            row.update(steps=float(np.mean(st[:, 0] + st[:, 1])),
                       rejected=float(np.mean(st[:, 1])), rhs=float(np.mean(st[:, 2])),
                       lu=float(np.mean(st[:, 3])))
        row["failed_members"] = int(np.sum(~np.asarray(ok)))
        row.update(accuracy(y, ref, prob.rtol, prob.atol))
        if "steps" in row:
            row["us_per_step"] = 1e3 * row["ms_per_member_min"] / row["steps"]
        points.append(row)

    solvers = (["numbalsoda LSODA", "ldnsim Rodas5P", "ldnsim-Rodas3"]
               + [f"prototype {t['name']}" for t in tabs]
               + [f"prototype {t['name']}-stop" for t in stop_tabs])
    print_table(points, [("solver", "solver", None), ("rtol", "rtol", ".0e"),
                         ("mescd_all", "digits", ".2f"), ("ms_per_member_min", "ms (best)",
                                                          ".4f"),
                         ("ms_per_member", "ms (median)", ".4f"), ("steps", "steps", ".1f"),
                         ("rejected", "rejected", ".1f"), ("rhs", "rhs", ".1f"),
                         ("us_per_step", "us/step", ".3f"), ("failed_members", "failed", "d")],
                title=f"\n### ROBER, {args.members} members, 1 thread, per member "
                      f"(digits = mescd over all outputs, worst member; atol = {ratio:g} rtol)")

    by = {s: [p for p in points if p["solver"] == s] for s in solvers}
    digits = [float(x) for x in args.digits.split(",")]
    matched = []
    for dg in digits:
        t_nbl = time_at(by["numbalsoda LSODA"], dg)
        row = {"digits": dg, "numbalsoda_ms": t_nbl}
        for s in solvers[1:]:
            t_s = time_at(by[s], dg)
            key = s.split()[-1]
            row[f"{key}_ms"] = t_s
            row[f"{key}_x"] = (t_nbl / t_s) if (t_nbl and t_s) else None
        matched.append(row)
    cols = [("digits", "digits", ".2f"), ("numbalsoda_ms", "LSODA ms", ".4f")]
    for s in solvers[1:]:
        key = s.split()[-1]
        cols += [(f"{key}_ms", f"{key} ms", ".4f"), (f"{key}_x", f"{key} vs LSODA", ".2f")]
    table = print_table(matched, cols,
                        title="\n### Speed at matched accuracy (best-of-repeats times "
                              "interpolated in log time, linear in digits; >1: faster than "
                              "LSODA)")
    # the issue-17 criterion: at every LSODA point of the sweep, the others' time at its digits
    at_lsoda = []
    for q_ in sorted(by["numbalsoda LSODA"], key=lambda x: -x["rtol"]):
        if not np.isfinite(q_["mescd_all"]):
            continue
        row = {"lsoda_rtol": q_["rtol"], "digits": q_["mescd_all"],
               "numbalsoda_ms": q_["ms_per_member_min"]}
        for s in solvers[1:]:
            t_s = time_at(by[s], q_["mescd_all"])
            row[f"{s.split()[-1]}_x"] = q_["ms_per_member_min"] / t_s if t_s else None
        at_lsoda.append(row)
    print_table(at_lsoda, [("lsoda_rtol", "LSODA rtol", ".0e"), ("digits", "digits", ".2f"),
                           ("numbalsoda_ms", "LSODA ms", ".4f")]
                + [(f"{s.split()[-1]}_x", f"{s.split()[-1]} vs LSODA", ".2f")
                   for s in solvers[1:]],
                title="\n### At each LSODA point (issue 17's criterion; >1: faster)")
    outputs = output_cost(prob, ps, METHODS["rodas3i"](), args.repeats)
    controls = {}  # the same method, the same steps: ldnsim's kernel against the prototype
    for name, ours, proto, dense in (
            ("rodas5p", "ldnsim Rodas5P", "prototype proto-Rodas5P", "its dense output"),
            ("rodas3", "ldnsim-Rodas3", "prototype Rodas3-itest", "Hermite")):
        if proto not in by:
            continue
        impl = []
        for a in by[ours]:
            b_ = next(x for x in by[proto] if x["rtol"] == a["rtol"])
            impl.append({"rtol": a["rtol"], "steps_ldnsim": a["steps"],
                         "steps_proto": b_["steps"],
                         "time_ldnsim_over_proto": a["ms_per_member_min"]
                         / b_["ms_per_member_min"],
                         "digits_ldnsim": a["mescd_all"], "digits_proto": b_["mescd_all"]})
        print_table(impl, [("rtol", "rtol", ".0e"), ("steps_ldnsim", "steps ldnsim", ".1f"),
                           ("steps_proto", "steps proto", ".1f"),
                           ("time_ldnsim_over_proto", "time ldnsim / proto", ".2f"),
                           ("digits_ldnsim", f"digits ldnsim ({dense})", ".2f"),
                           ("digits_proto", "digits proto (Hermite)", ".2f")],
                    title=f"\n### Control: {name} in ldnsim's kernel against the prototype "
                          "stepper (same method, same controller)")
        controls[name] = impl
    out = {"benchmark": "low_order_probe", "args": vars(args), "env": env,
           "problem": "rober", "members": args.members, "atol_over_rtol": ratio,
           "perturbation": "p * exp(0.1 z), z ~ N(0,1) per parameter and member",
           "reference": f"ldnsim rodas5p rtol {prob.ref_rtol:g} atol {prob.ref_atol:g}",
           "observed_orders": orders,
           "methods": {t["name"]: {"stages": t["stages"], "order": t["order"],
                                   "error_order": t["q"], "gamma": t["gamma"]} for t in tabs},
           "outputs": "cubic Hermite between step ends (prototype, ldnsim Rodas3); Rodas5P "
                      "dense output (ldnsim Rodas5P); LSODA's own interpolation (numbalsoda)",
           "points": points, "matched": matched, "matched_markdown": table,
           "rodas5p_kernel_vs_prototype": controls.get("rodas5p", []),
           "rodas3_kernel_vs_prototype": controls.get("rodas3", []), "at_lsoda_points": at_lsoda,
           "output_cost": outputs,
           "loadavg_end": common.env_info()["loadavg_1_5_15"],
           "wall_s": time.perf_counter() - t_start}
    path = write_json(args.out, out)
    print(f"\n# wrote {path} ({out['wall_s']:.0f} s)")
    return out


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
