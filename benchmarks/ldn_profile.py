"""Where the LDN model's solve spends its time: steps, and the cost of one step.

Question answered: for the full ``ldn`` model on 8 weeks of daily doses (the ``ldn_model.py``
setting: 4.5 mg a day, hourly outputs, rtol 1e-6 / atol 1e-9, default scenarios), how many
Rodas5P steps does a day take, and when after the dose; and what does one step cost, split
into right-hand sides, the Jacobian, the sparse LU, the eight triangular solves (the model's
generated straight-line LU, as ``run_rows`` uses it; the generic plan loops are timed too),
the stage arithmetic, the error norm and step-size control, dense output and the restart at
each dose?

    python benchmarks/ldn_profile.py                    # ~1 min; writes results/ldn_profile.json
    python benchmarks/ldn_profile.py --dose 50 --scenario racemic --scenario rodent_transient

Steps come from the solver's own counters (``stats``): a run from just after a dose to
``w`` hours later, for growing ``w``, counts the steps that window needs (averaged over several
doses in steady state). Costs are timed in compiled loops that call the same kernel functions
the solver inlines (``ldnsim._kernels``) on states taken from the solution, one component at
a time, each state repeated so its data stay in cache as in the solver (best of several
repeats, one thread); "stage arithmetic and the rest" is a whole
``rosenbrock_step`` minus its right-hand sides, factorisation and solves. The components'
sum is compared with the measured time per step of a full ``run_rows`` solve.
"""
from __future__ import annotations

import sys
import time

import numba
import numpy as np
from numba import njit

from ldnsim import _sparsity
from ldnsim._kernels import tableaus as tb
from ldnsim._kernels.control import error_norm, initial_step, pi_factor
from ldnsim._kernels.linalg import sparse_factor, sparse_solve
from ldnsim._kernels.steps import (
    rosenbrock_dense_coefficients,
    rosenbrock_dense_eval,
    rosenbrock_step,
)
from ldnsim.dosing import Regimen
from ldnsim.events import pad_event_tables
from ldnsim.model import load_model
from ldnsim.simulation import run_rows
from ldnsim.solver import _glu, integrate

import common
from common import print_env, print_table, write_json

EVERY_H, N_DOSES, T_END = 24.0, 56, 1344.0
RTOL, ATOL = 1e-6, 1e-9
WINDOWS_H = (0.125, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 12.0, 24.0)


def kernel_functions(compiled):
    """(rhs, jac, autonomous) of a CompiledModel in the form the solver kernels take."""
    rhs, jac, _ = compiled.kernel_functions
    jac = getattr(compiled, "jac_nonzeros_kernel", jac)  # as run_rows (the kernels zero J)
    return rhs, jac, compiled.autonomous


# ---------------------------------------------------------------------------- timing loops
@njit(error_model="numpy", _nrt=False)  # as the kernels are compiled
def _t_rhs(rhs, T, Y, p, f, reps):
    for i in range(Y.shape[0]):
        for _ in range(reps):
            rhs(T[i], Y[i], p, f)


@njit(error_model="numpy", _nrt=False)  # as the kernels are compiled
def _t_jac(jac, T, Y, p, J, reps):
    for i in range(Y.shape[0]):
        for _ in range(reps):
            jac(T[i], Y[i], p, J)


@njit(error_model="numpy", _nrt=False)  # as the kernels are compiled
def _t_factor(Jfs, inv_hg, plan, Wc, dinv, z, reps):
    ok = True
    for i in range(Jfs.shape[0]):
        for _ in range(reps):
            ok &= sparse_factor(Jfs[i], inv_hg, plan, Wc, dinv, z)
    return ok


@njit(error_model="numpy", _nrt=False)  # as the kernels are compiled
def _t_solve(plan, Wc, dinv, z, B, reps):
    for i in range(B.shape[0]):
        for _ in range(reps):
            sparse_solve(plan, Wc, dinv, z, B[i])


@njit(error_model="numpy", _nrt=False)  # as the kernels are compiled
def _t_factor_glu(factor, Jfs, inv_hg, Wc, dinv, reps):
    ok = True
    for i in range(Jfs.shape[0]):
        for _ in range(reps):
            ok &= factor(Jfs[i], inv_hg, Wc, dinv)
    return ok


@njit(error_model="numpy", _nrt=False)  # as the kernels are compiled
def _t_solve_glu(solve, Wc, dinv, B, reps):
    for i in range(B.shape[0]):
        for _ in range(reps):
            solve(Wc, dinv, B[i])


@njit(error_model="numpy", _nrt=False)  # as the kernels are compiled
def _t_step(rhs, T, Y, h, p, F0, ft, Js, Jfs, W, perm, K, ynew, ytmp, stats, plan, Wc, dinv,
            z, glu, reps):
    ok = True
    for i in range(Y.shape[0]):
        for _ in range(reps):
            ok &= rosenbrock_step(rhs, T[i], Y[i], h, p, F0[i], ft, False, Js[i], Jfs[i],
                                  W, perm, K, ynew, ytmp, tb.RODAS5P_A, tb.RODAS5P_C,
                                  tb.RODAS5P_GAMMA, tb.RODAS5P_c, tb.RODAS5P_d, tb.RODAS5P_M,
                                  tb.RODAS5P_STAGE_INPUTS, stats, plan, Wc, dinv, z, glu)
    return ok


@njit(error_model="numpy", _nrt=False)  # as the kernels are compiled
def _t_control(E, Y, Ynew, atol, reps):
    s = 0.0
    for i in range(E.shape[0]):
        for _ in range(reps):
            err = error_norm(E[i], Y[i], Ynew[i], RTOL, atol)
            s += pi_factor(err, 0.5, 4.0, False)
    return s


@njit(error_model="numpy", _nrt=False)  # as the kernels are compiled
def _t_dense(Ks, H, D, Y, Ynew, out, reps):
    for i in range(Ks.shape[0]):
        for _ in range(reps):
            rosenbrock_dense_coefficients(Ks[i], H, D)
            rosenbrock_dense_eval(0.5, Y[i], Ynew[i], D, out)


@njit(error_model="numpy", _nrt=False)  # as the kernels are compiled
def _t_restart(rhs, T, Y, p, f0, atol, ytmp, ftmp, reps):
    s = 0.0
    for i in range(Y.shape[0]):
        for _ in range(reps):
            rhs(T[i], Y[i], p, f0)
            s += initial_step(rhs, T[i], Y[i], f0, p, 24.0, 4.0, RTOL, atol, ytmp, ftmp)
    return s


def best_ns(fn, args, reps, calls, repeats):
    """Best time of ``fn(*args, reps)`` over ``repeats`` tries, in ns per call."""
    fn(*args, 1)  # compile
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn(*args, reps)
        best = min(best, time.perf_counter() - t0)
    return 1e9 * best / (reps * calls)


# ---------------------------------------------------------------------------- steps
def window_steps(model, compiled, p, dose, days):
    """Steps from just after a dose to w hours later, for each w in WINDOWS_H (averaged over
    the doses at the start of ``days``), and for a day without a dose."""
    rhs, jac, aut = kernel_functions(compiled)
    t_eval = np.arange(0.0, T_END + 1.0)
    ev = pad_event_tables([Regimen.repeat(dose, every=EVERY_H, count=N_DOSES).expand(model)])
    full = run_rows(compiled, t_eval, p[None, :], model.initial_state(), ev, rtol=RTOL,
                    atol=ATOL, method="rodas5p")
    Y = full.states[0]
    gut = model.state_names.index(model.dose_target)
    kw = dict(jac=jac, rtol=RTOL, atol=ATOL, autonomous=aut,
              jac_sparsity=compiled.jac_sparsity)
    cum = np.zeros(len(WINDOWS_H))
    for d in days:
        t0 = d * EVERY_H
        y = Y[int(t0)].copy()  # right-continuous outputs: this includes the dose
        for k, w in enumerate(WINDOWS_H):
            cum[k] += integrate(rhs, y, [t0, t0 + w], p, **kw).stats["n_accepted"]
    cum /= len(days)
    # a day without a dose: the same state, the dose taken out again (steady state trough)
    y = Y[int(days[0] * EVERY_H)].copy()
    y[gut] -= dose
    no_dose = integrate(rhs, y, [days[0] * EVERY_H, days[0] * EVERY_H + 24.0], p,
                        **kw).stats["n_accepted"]
    return full, cum, no_dose


# ---------------------------------------------------------------------------- main
def run(args):
    model = load_model("ldn")
    compiled = model.compile()
    p = model.parameter_vector(scenarios=tuple(args.scenario))
    n = compiled.n_states
    rhs, jac, aut = kernel_functions(compiled)
    plan = _sparsity.make_plan(compiled.jac_sparsity, exact=True)  # as run_rows factors
    glu = _glu(compiled.sparse_lu, plan)  # the generated straight-line LU, as run_rows uses it
    print(f"\n## ldn profile: {n} states, {args.dose:g} mg every {EVERY_H:g} h x {N_DOSES}, "
          f"rtol {RTOL:g} atol {ATOL:g}, scenarios {args.scenario or 'default'}", flush=True)

    days = list(range(7, 50, 7))
    full, cum, no_dose = window_steps(model, compiled, p, args.dose, days)
    st = {k: int(v[0]) for k, v in full.stats.items()}
    steps_total = st["n_accepted"] + st["n_rejected"]
    per_window = np.diff(np.concatenate([[0.0], cum]))
    rows = [{"window": f"{a:g}-{b:g} h", "steps": s, "h_mean_min": 60 * (b - a) / max(s, 1e-9)}
            for a, b, s in zip((0.0,) + WINDOWS_H[:-1], WINDOWS_H, per_window)]
    print_table(rows, [("window", "after the dose", None), ("steps", "steps", ".1f"),
                       ("h_mean_min", "mean step (min)", ".2f")],
                title=f"\n### steps after a dose (mean over the doses of days {days})")
    print(f"  whole run: {steps_total} steps ({st['n_rejected']} rejected), "
          f"{steps_total / N_DOSES:.1f} per dosing day; a day without a dose from the same "
          f"state: {no_dose} steps; LUs {st['n_lu']} (dense fallbacks {st['n_lu_dense']}), "
          f"RHS {st['n_rhs']}, Jacobians {st['n_jac']}")

    # states along the solution (the first two days after a steady-state dose, hourly)
    t_eval = np.arange(0.0, T_END + 1.0)
    i0 = int(days[2] * EVERY_H)
    T = np.ascontiguousarray(t_eval[i0:i0 + 48])
    Y = np.ascontiguousarray(full.states[0, i0:i0 + 48])
    m = Y.shape[0]
    F0 = np.empty_like(Y)
    Jfs = np.empty((m, n * n))
    Js = Jfs.reshape(m, n, n)  # the same memory: the step reads J both ways, as in the solver
    for i in range(m):
        compiled.rhs(T[i], Y[i], p, F0[i])
        compiled.jac(T[i], Y[i], p, Js[i])
    h = args.h
    inv_hg = 1.0 / (h * tb.RODAS5P_GAMMA)
    nf = plan[1].shape[1] + plan[0].size
    Wc, dinv, z = np.empty(nf), np.empty(n), np.empty(n)
    assert _t_factor(Jfs[:1], inv_hg, plan, Wc, dinv, z, 1), "sparse LU refused these states"
    rng = np.random.default_rng(0)
    B = rng.standard_normal((m, n))
    atol = np.full(n, ATOL)
    s = tb.RODAS5P_c.size
    K = np.empty((s, n))
    Ks = np.empty((m, s, n))
    Ynew = np.empty_like(Y)
    stats = np.zeros(6, np.int64)
    W = np.empty((n, n))
    perm = np.empty(n, np.int64)
    ynew, ytmp, ftmp, f = (np.empty(n) for _ in range(4))
    for i in range(m):  # one real step from each state: stage vectors for the dense output
        _t_step(rhs, T[i:i + 1], Y[i:i + 1], h, p, F0[i:i + 1], np.zeros(n), Js[i:i + 1],
                Jfs[i:i + 1], W, perm, Ks[i], Ynew[i], ytmp, stats, plan, Wc, dinv, z, glu, 1)
    E = np.ascontiguousarray(Ks[:, -1, :])
    D = np.empty((3, n))
    R = args.repeats
    ns = {
        "rhs": best_ns(_t_rhs, (rhs, T, Y, p, f), 2000, m, R),
        "jac": best_ns(_t_jac, (jac, T, Y, p, np.empty((n, n))), 2000, m, R),
        "lu_generic": best_ns(_t_factor, (Jfs, inv_hg, plan, Wc, dinv, z), 2000, m, R),
        "solve_generic": best_ns(_t_solve, (plan, Wc, dinv, z, B), 4000, m, R),
        "step": best_ns(_t_step, (rhs, T, Y, h, p, F0, np.zeros(n), Js, Jfs, W, perm, K,
                                  ynew, ytmp, stats, plan, Wc, dinv, z, glu), 300, m, R),
        "control": best_ns(_t_control, (E, Y, Ynew, atol), 4000, m, R),
        "dense": best_ns(_t_dense, (Ks, tb.RODAS5P_H, D, Y, Ynew, np.empty(n)), 2000, m, R),
        "restart": best_ns(_t_restart, (rhs, T, Y, p, np.empty(n), atol, ytmp, ftmp), 300, m,
                           R),
    }
    if glu[0]:
        ns["lu"] = best_ns(_t_factor_glu, (glu[1], Jfs, inv_hg, Wc, dinv), 2000, m, R)
        ns["solve"] = best_ns(_t_solve_glu, (glu[2], Wc, dinv, B), 4000, m, R)
    else:
        ns["lu"], ns["solve"] = ns["lu_generic"], ns["solve_generic"]
    lu_kind = "generated straight-line" if glu[0] else "generic"
    n_stage_rhs = s - 1
    arith = ns["step"] - n_stage_rhs * ns["rhs"] - ns["lu"] - s * ns["solve"]
    outputs_per_step = (t_eval.size - N_DOSES) / steps_total  # dose-time outputs: no step
    parts = [
        ("right-hand sides (7 stages + f at the new point)", s * ns["rhs"]),
        ("Jacobian (analytic, generated)", ns["jac"]),
        (f"sparse LU of W ({lu_kind})", ns["lu"]),
        (f"8 triangular solves ({lu_kind})", s * ns["solve"]),
        ("stage arithmetic and the rest of the step", arith),
        ("error norm and step-size control", ns["control"]),
        (f"dense output ({outputs_per_step:.2f} outputs per step)",
         outputs_per_step * ns["dense"]),
        (f"restart at each dose (1 per {steps_total / N_DOSES:.0f} steps)",
         ns["restart"] * N_DOSES / steps_total),
    ]
    total = sum(v for _, v in parts)
    numba.set_num_threads(1)
    ev = pad_event_tables([Regimen.repeat(args.dose, every=EVERY_H, count=N_DOSES)
                           .expand(model)])
    members = args.members
    Pm = np.tile(p, (members, 1))
    run_rows(compiled, t_eval, Pm[:1], model.initial_state(), ev, rtol=RTOL, atol=ATOL,
             method="rodas5p")
    best = np.inf
    for _ in range(R):
        t0 = time.perf_counter()
        res = run_rows(compiled, t_eval, Pm, model.initial_state(), ev, rtol=RTOL, atol=ATOL,
                       method="rodas5p")
        best = min(best, time.perf_counter() - t0)
    measured = 1e9 * best / float(np.sum(res.stats["n_accepted"] + res.stats["n_rejected"]))
    cost_rows = [{"part": k, "ns": v, "share": 100 * v / total} for k, v in parts]
    cost_rows.append({"part": "sum of the parts", "ns": total, "share": 100.0})
    cost_rows.append({"part": f"measured: run_rows, 1 thread, {members} members, per step",
                      "ns": measured, "share": 100 * measured / total})
    print_table(cost_rows, [("part", "per step", None), ("ns", "ns", ".0f"),
                            ("share", "% of sum", ".1f")],
                title=f"\n### cost of one step (h = {h:g} h; best of {R}; one RHS "
                      f"{ns['rhs']:.0f} ns, one solve {ns['solve']:.0f} ns)")
    print(f"  generic sparse LU over the plan's index lists: factor {ns['lu_generic']:.0f} ns, "
          f"one solve {ns['solve_generic']:.0f} ns")
    return {"dose_mg": args.dose, "scenarios": args.scenario, "rtol": RTOL, "atol": ATOL,
            "run_stats": st, "steps_per_dosing_day": steps_total / N_DOSES,
            "windows_h": list(WINDOWS_H), "cumulative_steps_after_dose": cum.tolist(),
            "steps_day_without_dose": int(no_dose), "component_ns": ns,
            "per_step_ns": dict(parts), "sum_ns": total, "measured_ns_per_step": measured,
            "h_for_costs": h, "outputs_per_step": outputs_per_step}


def main(argv=None):
    import argparse
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dose", type=float, default=4.5, help="mg per daily dose (default 4.5)")
    ap.add_argument("--scenario", action="append", default=[],
                    help="model scenario to apply (repeatable; default: the model's defaults)")
    ap.add_argument("--h", type=float, default=0.05,
                    help="step size (h) for the LU and step timings (default 0.05)")
    ap.add_argument("--members", type=int, default=20, help="members for the measured run")
    ap.add_argument("--repeats", type=int, default=7, help="timing repeats (best of)")
    ap.add_argument("--out", default="ldn_profile.json")
    args = ap.parse_args(argv)
    env = common.env_info()
    print_env(env)
    numba.set_num_threads(1)
    t0 = time.perf_counter()
    result = run(args)
    out = {"benchmark": "ldn_profile", "args": vars(args), "env": env,
           "env_end": common.env_info(), "wall_s": time.perf_counter() - t0, **result}
    path = write_json(args.out, out)
    print(f"\n# wrote {path} ({out['wall_s']:.0f} s)")
    return out


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
