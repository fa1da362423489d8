"""LDN model benchmark: the full ``ldn`` model (24 states) on 8 weeks of daily dosing.

Question answered: how long does one member of a perturbed ensemble of the full LDN model
take with ldnsim (the code path the sweep engine runs: ``run_rows``, 1 and 2 numba
threads) and with scipy ``solve_ivp`` (LSODA, BDF; the model's own numba RHS/Jacobian) and
libroadrunner (CVODE, on the SBML written by ``ldnsim.model.sbml.export_sbml``), at the
experiment defaults rtol 1e-6 / atol 1e-9, and how accurate is each against a tight ldnsim
reference? The run also checks that the peers' trajectories agree with each other and with
the reference, which validates the SBML export on the full model.

    python benchmarks/ldn_model.py                  # 200 members, ~5 min on 2 cores
    python benchmarks/ldn_model.py --quick          # smoke test: 20 members, ~1 min
    python benchmarks/ldn_model.py --members 1000 --rr-members 100

Ensemble: default scenarios, ``ka``, ``CL_ntx``, ``V_ntx`` and ``Kd_ntx`` each multiplied by
``exp(0.2 z)``, z ~ N(0, 1) (log-normal, about +-20 %), fixed seed; 4.5 mg into ``gut`` once a
day for 8 weeks (56 doses at 0, 24, ..., 1320 h); outputs hourly, 0..1344 h, right-continuous
(an output at a dose time includes the dose). Writes a Markdown table to stdout and
everything to ``benchmarks/results/ldn_model.json``. See benchmarks/README.md.
"""
from __future__ import annotations

import hashlib
import sys
import tempfile
import time
from pathlib import Path

import numba
import numpy as np

from ldnsim.dosing import Regimen
from ldnsim.events import pad_event_tables
from ldnsim.model import load_model
from ldnsim.simulation import run_rows

import common
import problems as P
from common import Case, accuracy, mescd, print_env, print_table, run_interleaved, write_json
from ensembles import ldnsim_stats, scipy_run, set_threads

try:
    import libsbml  # noqa: F401  (export_sbml needs it)
    import roadrunner

    from ldnsim.model.sbml import export_sbml
except ImportError:  # optional peer
    roadrunner = None

OUTPUTS = ("C_ntx", "occupancy_mor_drug", "signal_opioid", "immune_index")
IIV = ("ka", "CL_ntx", "V_ntx", "Kd_ntx")
IIV_SIGMA = 0.2
DOSE_MG, EVERY_H, N_DOSES, T_END = 4.5, 24.0, 56, 1344.0
RTOL, ATOL = 1e-6, 1e-9            # the experiment defaults
REF_RTOL, REF_ATOL = 1e-10, 1e-12
CHECK_RTOL, CHECK_ATOL = 1e-12, 1e-15  # the tighter reference of the work-precision check
MAX_STEPS = 1_000_000


# ---------------------------------------------------------------------------- set-up
class LDN:
    """The model, its compiled functions, the ensemble and the dosing, built once."""

    def __init__(self, members, seed):
        self.model = load_model("ldn")
        self.compiled = self.model.compile()
        m = self.model
        self.t_eval = np.arange(0.0, T_END + 1.0)
        self.regimen = Regimen.repeat(DOSE_MG, every=EVERY_H, count=N_DOSES)
        table = self.regimen.expand(m)
        self.events = pad_event_tables([table])            # one row, shared by all members
        ev_t, ev_k, ev_i, ev_a = self.events
        assert np.all(ev_k == 0), "bolus doses only"
        self.p0 = m.parameter_vector()                     # default scenarios
        self.y0 = m.initial_state()
        self.iiv_idx = [self.compiled.parameter_index(n) for n in IIV]
        P_ = np.tile(self.p0, (members, 1))
        P_[:, self.iiv_idx] = P.perturbed(self.p0[self.iiv_idx], members, seed, IIV_SIGMA)
        self.P = P_
        self.out_idx = [m.output_names.index(n) for n in OUTPUTS]
        self.n = self.compiled.n_states
        # the benchmark Problem form, for the shared scipy driver in ensembles.py
        self.prob = P.Problem(
            name="ldn", state_names=list(m.state_names), param_names=list(m.parameter_names),
            y0=self.y0, p=self.p0, t_eval=self.t_eval, rtol=RTOL, atol=ATOL,
            rhs=self.compiled.rhs, jac=self.compiled.jac, antimony=None,
            doses=(ev_t[0], ev_i[0], ev_a[0]), ref_rtol=REF_RTOL, ref_atol=REF_ATOL)
        self.seg = P.dose_segments(self.t_eval, self.prob.doses)
        self.f, self.J = P.scipy_functions(self.prob)    # allocating njit wrappers

    def outputs(self, states, P_):
        """All model outputs from states (r, m, n), as run_rows computes them (bolus doses
        only, so the parameters are those of the row at every time)."""
        out = np.empty(states.shape[:2] + (self.compiled.n_outputs,))
        _outputs_batch(self.compiled.outputs, self.t_eval, np.ascontiguousarray(states),
                       np.ascontiguousarray(P_), out)
        return out


@numba.njit(parallel=True)
def _outputs_batch(outputs, t, Y, P_, O):
    for r in numba.prange(Y.shape[0]):
        for i in range(t.size):
            outputs(t[i], Y[r, i], P_[r], O[r, i])


# ---------------------------------------------------------------------------- runners
def ldnsim_run(ldn, P_, *, rtol, atol, method="rodas5p"):
    # Rodas5P named: the default "auto" switches to it on this stiff model after ~10-30
    # explicit steps (benchmarks/auto_switch.py), so the rows stay comparable with earlier runs
    return run_rows(ldn.compiled, ldn.t_eval, P_, ldn.y0, ldn.events, rtol=rtol, atol=atol,
                    max_steps=MAX_STEPS, method=method)


def scipy_ldn(ldn, f, J, P_, method, *, rtol, atol):
    """scipy solve_ivp restarted at each dose (ensembles.scipy_run), then the outputs."""
    y, ok, counts = scipy_run(ldn.prob, f, J, P_, ldn.seg, method, rtol=rtol, atol=atol)
    return y, ldn.outputs(y, P_), ok, counts


def roadrunner_model(ldn, path, *, rtol, atol):
    r = roadrunner.RoadRunner(str(path))
    r.integrator.relative_tolerance = rtol
    r.integrator.absolute_tolerance = atol
    r.integrator.maximum_num_steps = MAX_STEPS
    r.timeCourseSelections = ["time"] + list(ldn.model.state_names) + list(OUTPUTS)
    return r


def roadrunner_run(ldn, r, P_):
    """Per member: reset, set the IIV parameters by id, then simulate dose to dose, adding
    each dose to ``gut`` between segments (outputs at a dose time include the dose)."""
    d_idx, d_state, d_amt = ldn.seg
    t_eval = ldn.t_eval
    m, n = t_eval.size, ldn.n
    names = list(IIV)
    states = list(ldn.model.state_names)
    R = P_.shape[0]
    y = np.empty((R, m, n))
    o = np.empty((R, m, len(OUTPUTS)))
    for row in range(R):
        r.resetAll()
        r.setValues(names, [float(v) for v in P_[row, ldn.iiv_idx]])
        j, i = 0, 0
        while True:
            while j < d_idx.size and d_idx[j] == i:
                s = states[d_state[j]]
                r[s] = r[s] + d_amt[j]
                j += 1
            if i == m - 1:          # a dose at the last output time: one more row
                y[row, i] = [r[s] for s in states]
                o[row, i] = [r[s] for s in OUTPUTS]
                break
            nxt = int(d_idx[j]) if j < d_idx.size else m - 1
            res = np.asarray(r.simulate(times=t_eval[i:nxt + 1]))
            # the segment's last row is the state before the next dose: overwritten then
            y[row, i:nxt + 1] = res[:, 1:n + 1]
            o[row, i:nxt + 1] = res[:, n + 1:]
            if nxt == m - 1 and not (j < d_idx.size and d_idx[j] == nxt):
                break
            i = nxt
    return y, o


def check_roadrunner_reset(ldn, r):
    """resetAll() must restore every state (a rate-rule parameter in the SBML) to its
    initial value; the IIV parameters are set explicitly for every member anyway."""
    roadrunner_run(ldn, r, ldn.P[:1])
    r.resetAll()
    got = np.array([r[s] for s in ldn.model.state_names])
    if not np.allclose(got, ldn.y0, rtol=0, atol=1e-14):
        raise AssertionError(f"roadrunner resetAll left states at {got} (expected {ldn.y0})")


# ---------------------------------------------------------------------------- accuracy
def out_accuracy(o, ref_o, rtol=RTOL, atol=ATOL):
    """common.accuracy on the four benchmark outputs, plus the max relative error of each."""
    ref_o = ref_o[: o.shape[0]]
    acc = accuracy(o, ref_o, rtol, atol)
    acc["max_rel_by_output"] = {name: accuracy(o[..., [k]], ref_o[..., [k]], rtol, atol)["max_rel"]
                                for k, name in enumerate(OUTPUTS)}
    return acc


def where_worst(a, b, ldn, floor=1e3 * ATOL):
    """Largest relative difference |a - b| / max(|b|, floor) over (r, m, k): value and where
    (member, time, column). ``floor`` is common.accuracy's threshold for relative errors."""
    d = np.abs(a - b) / np.maximum(np.abs(b), floor)
    r, i, k = np.unravel_index(int(np.argmax(d)), d.shape)
    return {"max_rel_diff": float(d[r, i, k]), "member": int(r), "time_h": float(ldn.t_eval[i]),
            "index": int(k), "a": float(a[r, i, k]), "b": float(b[r, i, k])}


def gut_vs_exact(ldn, y, P_):
    """``gut`` has a closed form (d gut/dt = -ka gut, bolus doses): sum over doses of
    ``amount * exp(-ka (t - t_dose))``. Over members and times: mixed digits at the tight
    tolerance (``common.mescd`` with REF_RTOL/REF_ATOL), the max relative error where
    ``exact > REF_ATOL / REF_RTOL`` (0.01 mg: where rtol, not atol, sets the local error
    allowed), and the max absolute error."""
    gi = ldn.model.state_names.index("gut")
    ka = P_[:, ldn.compiled.parameter_index("ka")][:, None]
    t = ldn.t_eval
    exact = np.zeros((P_.shape[0], t.size))
    d_idx, _, d_amt = ldn.seg
    for i, a in zip(d_idx, d_amt):
        dt = t - t[i]
        exact += np.where(dt >= 0, a * np.exp(-ka * np.maximum(dt, 0.0)), 0.0)
    err = np.abs(y[..., gi] - exact)
    big = exact > REF_ATOL / REF_RTOL
    with np.errstate(divide="ignore"):     # exact agreement (t = 0: gut = dose) -> log10(0)
        digits = mescd(y[..., gi], exact, REF_RTOL, REF_ATOL)
    return {"mescd": digits,
            "max_rel": float(np.max(err[big] / exact[big])), "max_abs": float(np.max(err))}


def tight_checks(ldn, ref_y, ref_o, n_check, sbml_path):
    """The reference and the SBML export at tight tolerance (rtol 1e-10, atol 1e-12):
    ldnsim vs scipy LSODA (same numba functions, another integrator) and vs libroadrunner
    (same equations through SBML, another integrator and code generator). Three-way agreement
    at this level says which side is wrong if the benchmark-tolerance runs disagree."""
    k = min(n_check, ldn.P.shape[0])
    out = {"members": k, "rtol": REF_RTOL, "atol": REF_ATOL,
           "reference_gut_vs_exact": gut_vs_exact(ldn, ref_y, ldn.P)}
    f, J = ldn.f, ldn.J
    t0 = time.perf_counter()
    sy, so, ok, _ = scipy_ldn(ldn, f, J, ldn.P[:k], "LSODA", rtol=REF_RTOL, atol=REF_ATOL)
    out["scipy_lsoda_s_per_member"] = (time.perf_counter() - t0) / k
    out["scipy_lsoda_ok"] = bool(np.all(ok))
    out["ref_vs_scipy_lsoda_outputs"] = out_accuracy(so[..., ldn.out_idx], ref_o)
    out["ref_vs_scipy_lsoda_states"] = accuracy(sy, ref_y[:k], RTOL, ATOL)
    if roadrunner is not None:
        r = roadrunner_model(ldn, sbml_path, rtol=REF_RTOL, atol=REF_ATOL)
        t0 = time.perf_counter()
        ry, ro = roadrunner_run(ldn, r, ldn.P[:k])
        out["roadrunner_s_per_member"] = (time.perf_counter() - t0) / k
        out["ref_vs_roadrunner_outputs"] = out_accuracy(ro, ref_o)
        out["ref_vs_roadrunner_states"] = accuracy(ry, ref_y[:k], RTOL, ATOL)
        out["roadrunner_gut_vs_exact"] = gut_vs_exact(ldn, ry, ldn.P[:k])
        out["scipy_vs_roadrunner_outputs"] = accuracy(ro, so[..., ldn.out_idx], RTOL, ATOL)
        out["roadrunner_vs_ref_worst_output"] = where_worst(ro, ref_o[:k], ldn)
        out["roadrunner_vs_ref_worst_state"] = where_worst(ry, ref_y[:k], ldn)
        out["roadrunner_vs_ref_worst_state"]["name"] = \
            ldn.model.state_names[out["roadrunner_vs_ref_worst_state"]["index"]]
    return out


def work_precision(ldn, ref_o, sbml_path, args):
    """ldnsim (1 thread) and libroadrunner over a tolerance sweep (atol = 1e-3 rtol, the
    benchmark's ratio) on the first ``--wp-members`` members; then, for every libroadrunner
    point, ldnsim's time interpolated (log time, linear in digits) at the same accuracy
    (``mescd_all`` on the four outputs, always scored at rtol 1e-6 / atol 1e-9)."""
    k = min(args.wp_members, ldn.P.shape[0])
    Pk = ldn.P[:k]
    rtols = [float(x) for x in args.wp_rtols.split(",")]
    # other ldnsim methods (--wp-methods) run beside Rodas5P, labelled "ldnsim <method>"
    extra = [m.strip() for m in args.wp_methods.split(",") if m.strip() not in ("", "rodas5p")]
    print(f"\n  work-precision sweep on {k} members, rtol in {rtols}, atol = 1e-3 rtol",
          flush=True)
    cases = []
    for rt in rtols:
        kw = dict(rtol=rt, atol=1e-3 * rt)
        cases.append(Case(f"ldnsim 1t @{rt:g}", lambda kw=kw: ldnsim_run(ldn, Pk, **kw),
                          repeats=args.wp_repeats, members=k, setup=set_threads(1),
                          meta=dict(solver="ldnsim", rtol=rt)))
        for meth in extra:
            cases.append(Case(f"ldnsim {meth} 1t @{rt:g}",
                              lambda kw=kw, meth=meth: ldnsim_run(ldn, Pk, method=meth, **kw),
                              repeats=args.wp_repeats, members=k, setup=set_threads(1),
                              meta=dict(solver=f"ldnsim {meth}", rtol=rt)))
        if roadrunner is not None:
            r = roadrunner_model(ldn, sbml_path, **kw)
            cases.append(Case(f"libroadrunner @{rt:g}", lambda r=r: roadrunner_run(ldn, r, Pk),
                              repeats=args.wp_repeats, members=k, setup=set_threads(1),
                              meta=dict(solver="libroadrunner", rtol=rt)))
    run_interleaved(cases, verbose=False)
    points = []
    for c in cases:
        ours = c.meta["solver"].startswith("ldnsim")
        o = c.result.outputs[..., ldn.out_idx] if ours else c.result[1]
        acc = accuracy(o, ref_o[:k], RTOL, ATOL)
        points.append({**c.meta, "ms_per_member": 1e3 * c.per_member,
                       "mescd_all": acc["mescd_all"], "max_rel": acc["max_rel"]})
        if ours:
            points[-1]["steps"] = float(np.mean(c.result.stats["n_accepted"]
                                                + c.result.stats["n_rejected"]))
    matched = [{"method": meth, "roadrunner_rtol": q["rtol"], "digits": q["mescd_all"],
                "roadrunner_ms": q["ms_per_member"], "ldnsim_ms": t_l,
                "speedup": q["ms_per_member"] / t_l, "how": how}
               for meth, label in [("rodas5p", "ldnsim")] + [(m, f"ldnsim {m}") for m in extra]
               for q, t_l, how in common.matched_accuracy(
                   [p for p in points if p["solver"] == label],
                   [p for p in points if p["solver"] == "libroadrunner"])]
    rows = []
    for rt in rtols:
        row = {"rtol": rt}
        for p in points:
            if p["rtol"] == rt:
                key = {"ldnsim": "l", "libroadrunner": "r"}.get(p["solver"])
                key = key or p["solver"].split()[1]
                row[f"{key}_ms"], row[f"{key}_digits"] = p["ms_per_member"], p["mescd_all"]
        rows.append(row)
    cols = [("rtol", "rtol", ".0e"), ("l_ms", "ldnsim 1t ms", ".4g"),
            ("l_digits", "digits", ".2f")]
    for m in extra:
        cols += [(f"{m}_ms", f"ldnsim {m} ms", ".4g"), (f"{m}_digits", "digits", ".2f")]
    cols += [("r_ms", "libroadrunner ms", ".4g"), ("r_digits", "digits", ".2f")]
    print_table(rows, cols,
                title=f"\n### ldn work-precision ({k} members, per member; digits = mescd all "
                      "on the four outputs, worst member)")
    if matched:
        print_table(matched, [("method", "ldnsim method", None),
                              ("roadrunner_rtol", "libroadrunner rtol", ".0e"),
                              ("digits", "digits", ".2f"),
                              ("roadrunner_ms", "libroadrunner ms", ".4g"),
                              ("ldnsim_ms", "ldnsim 1t ms", ".4g"),
                              ("speedup", "ldnsim speedup", ".2f"),
                              ("how", "ldnsim time", None)],
                    title="\n### ldn: speed at matched accuracy (>1: ldnsim faster)")
    check = wp_check(ldn, Pk, rtols, {p["rtol"]: c.result for p, c in zip(points, cases)
                                      if p["solver"] == "ldnsim"},
                     {p["rtol"]: c.result[1] for p, c in zip(points, cases)
                      if p["solver"] == "libroadrunner"})
    return {"members": k, "atol_over_rtol": 1e-3, "points": points, "rows": rows,
            "matched": matched, "check": check}


def wp_check(ldn, Pk, rtols, results, rr_outputs=None):
    """Each sweep point of ldnsim against a tighter reference (rtol 1e-12, atol 1e-15) of the
    same members, on all four outputs, each scored at its *own* tolerance: the error in units
    of the tolerance, ``max |y - ref| / (atol + rtol |ref|)`` (the Test Set rule of the test
    suite asks for <= 10^1.5 at any tolerance; tolerance proportionality means it stays O(1)),
    and the digits (mescd all at the benchmark's rtol 1e-6 / atol 1e-9 scale). The benchmark
    reference (rtol 1e-10) is scored the same way, which says how far it can be trusted.

    ``rr_outputs`` ({rtol: (members, times, 4)}), libroadrunner's outputs at the same sweep
    points, are scored the same way (columns ``rr_*``): what each solver delivers when asked
    for the same tolerance, which is what a "same tolerance" speed ratio compares."""
    tight = ldnsim_run(ldn, Pk, rtol=CHECK_RTOL, atol=CHECK_ATOL)
    if not np.all(tight.status == 0):
        raise RuntimeError("the tight reference failed")
    ref = tight.outputs[..., ldn.out_idx]

    def score(o, rt, at):
        err = np.abs(o - ref) / (at + rt * np.abs(ref))
        return float(np.max(err)), accuracy(o, ref, RTOL, ATOL)["mescd_all"]

    rows = []
    for rt in rtols + [REF_RTOL]:
        at = 1e-3 * rt if rt != REF_RTOL else REF_ATOL
        res = results.get(rt)
        if res is None:
            res = ldnsim_run(ldn, Pk, rtol=rt, atol=at)
        e, d = score(res.outputs[..., ldn.out_idx], rt, at)
        row = {"rtol": rt, "atol": at, "err_over_tol": e, "digits": d,
               "steps": float(np.mean(res.stats["n_accepted"] + res.stats["n_rejected"])),
               "rejected": float(np.mean(res.stats["n_rejected"]))}
        if rr_outputs and rt in rr_outputs:
            row["rr_err_over_tol"], row["rr_digits"] = score(rr_outputs[rt], rt, at)
        rows.append(row)
    cols = [("rtol", "rtol", ".0e"), ("atol", "atol", ".0e"),
            ("err_over_tol", "max err / tol", ".2f"), ("digits", "digits", ".2f"),
            ("steps", "steps", ".0f"), ("rejected", "rejected", ".1f")]
    if rr_outputs:
        cols += [("rr_err_over_tol", "libroadrunner max err / tol", ".2f"),
                 ("rr_digits", "libroadrunner digits", ".2f")]
    print_table(rows, cols,
                title=f"\n### ldn work-precision check: ldnsim against rtol {CHECK_RTOL:g} / "
                      f"atol {CHECK_ATOL:g} ({Pk.shape[0]} members, four outputs; the last row "
                      "is the benchmark's reference)")
    worst = max(r["err_over_tol"] for r in rows)
    return {"reference_rtol": CHECK_RTOL, "reference_atol": CHECK_ATOL, "rows": rows,
            "max_err_over_tol": worst, "within_10x_tol": bool(worst <= 10.0)}


# ---------------------------------------------------------------------------- main
def ldnsim_tree():
    """Which ldnsim code ran: commit, changed files under ldnsim/ and a hash of their diff
    (the package may be edited between runs; equal hashes at start and end = same code)."""
    status = common._git("status", "--porcelain", "--", "ldnsim") or ""
    diff = (common._git("diff", "HEAD", "--", "ldnsim") or "") + status
    return {"commit": common._git("rev-parse", "--short", "HEAD"),
            "changed_files": [line.split(maxsplit=1)[1] for line in status.splitlines()],
            "diff_sha1": hashlib.sha1(diff.encode()).hexdigest()[:12] if status else None}


def run(args):
    R = args.members
    n_sci = min(args.scipy_members, R)
    n_bdf = min(args.bdf_members, R)
    n_rr = min(args.rr_members, R) if roadrunner is not None else 0
    nthr = numba.config.NUMBA_NUM_THREADS
    ldn = LDN(R, args.seed)
    print(f"\n## ldn: {R} members, n = {ldn.n} states, {ldn.t_eval.size} hourly outputs, "
          f"{N_DOSES} doses of {DOSE_MG} mg every {EVERY_H:g} h, rtol {RTOL:g} atol {ATOL:g}",
          flush=True)

    sbml_dir = tempfile.TemporaryDirectory(prefix="ldn_sbml_")
    sbml_path = Path(sbml_dir.name) / "ldn.xml"
    if roadrunner is not None:
        t0 = time.perf_counter()
        export_sbml(ldn.model, sbml_path)
        t_export = time.perf_counter() - t0
        t0 = time.perf_counter()
        rr = roadrunner_model(ldn, sbml_path, rtol=RTOL, atol=ATOL)
        t_load = time.perf_counter() - t0
        check_roadrunner_reset(ldn, rr)
        print(f"  SBML export {t_export:.2f} s, libroadrunner load (JIT) {t_load:.2f} s",
              flush=True)

    print(f"  reference (ldnsim rtol {REF_RTOL:g}, atol {REF_ATOL:g}, {min(2, nthr)} threads) ...",
          flush=True)
    numba.set_num_threads(min(2, nthr))
    t0 = time.perf_counter()
    ref = ldnsim_run(ldn, ldn.P, rtol=REF_RTOL, atol=REF_ATOL)
    t_ref = time.perf_counter() - t0
    if not np.all(ref.status == 0):
        raise RuntimeError(f"reference failed for {int(np.sum(ref.status != 0))} members")
    ref_y, ref_o = ref.states, ref.outputs[..., ldn.out_idx]
    print(f"    {t_ref:.1f} s; {ldnsim_stats(ref)['steps']:.0f} steps per member", flush=True)
    print(f"  tight cross-check of the reference on {min(args.ref_check, R)} members ...",
          flush=True)
    tight = tight_checks(ldn, ref_y, ref_o, args.ref_check, sbml_path)
    for key in ("ref_vs_scipy_lsoda_outputs", "ref_vs_roadrunner_outputs",
                "scipy_vs_roadrunner_outputs"):
        if key in tight:
            a = tight[key]
            print(f"    {key}: mescd all {a['mescd_all']:.2f}, max rel {a['max_rel']:.1e}")
    for key in ("reference_gut_vs_exact", "roadrunner_gut_vs_exact"):
        if key in tight:
            a = tight[key]
            print(f"    {key}: mescd {a['mescd']:.2f} (at rtol {REF_RTOL:g}), max rel "
                  f"{a['max_rel']:.1e}, max abs {a['max_abs']:.1e} mg")

    kw = dict(rtol=RTOL, atol=ATOL)
    cases = []
    for th in sorted({1, min(2, nthr)}):
        cases.append(Case(f"ldnsim run_rows {th}t", lambda: ldnsim_run(ldn, ldn.P, **kw),
                          repeats=args.repeats, members=R, setup=set_threads(th),
                          meta=dict(solver="ldnsim run_rows", method="rodas5p", threads=th,
                                    jacobian="analytic (generated)")))
    f, J = ldn.f, ldn.J
    for meth, k in (("LSODA", n_sci), ("BDF", n_bdf)):
        if k > 0:
            cases.append(Case(f"scipy {meth}",
                              lambda m_=meth, k_=k: scipy_ldn(ldn, f, J, ldn.P[:k_], m_, **kw),
                              repeats=max(2, args.repeats - 2), members=k, setup=set_threads(1),
                              meta=dict(solver=f"scipy solve_ivp {meth}", threads=1,
                                        jacobian="analytic (generated, numba)")))
    if n_rr > 0:
        cases.append(Case("libroadrunner CVODE", lambda: roadrunner_run(ldn, rr, ldn.P[:n_rr]),
                          repeats=max(2, args.repeats - 2), members=n_rr, setup=set_threads(1),
                          meta=dict(solver="libroadrunner cvode (exported SBML)", threads=1,
                                    jacobian="CVODE internal (difference quotients)")))
    cases, ceiling = common.run_with_ceiling(cases, args.repeats, nthr)

    rows, traj = [], {}
    for c in cases:
        row = common.timing_row(c)
        res = c.result
        if c.name.startswith("ldnsim"):
            y, o, ok = res.states, res.outputs[..., ldn.out_idx], res.status == 0
            row.update(ldnsim_stats(res))
        elif c.name.startswith("scipy"):
            y, o_all, ok, cnt = res
            o = o_all[..., ldn.out_idx]
            row.update(rhs=cnt[0], jac=cnt[1], lu=cnt[2])
        else:
            y, o = res
            ok = np.all(np.isfinite(o), axis=(1, 2))
        traj[c.name] = (y, o)
        row["failed_members"] = int(np.sum(~np.asarray(ok)))
        row.update(out_accuracy(o, ref_o))
        row["states_vs_ref"] = accuracy(y, ref_y[: y.shape[0]], RTOL, ATOL)
        rows.append(row)

    by = {r["name"]: r for r in rows}
    one = by.get("ldnsim run_rows 1t")
    two = by.get("ldnsim run_rows 2t")
    for r in rows:
        r["time_over_ldnsim_1t"] = r["ms_per_member"] / one["ms_per_member"]
        if two:
            r["time_over_ldnsim_2t"] = r["ms_per_member"] / two["ms_per_member"]
    cols = common.RESULT_COLUMNS + [("time_over_ldnsim_1t", "time/ldnsim-1t", ".2f"),
                                    ("time_over_ldnsim_2t", "time/ldnsim-2t", ".2f")]
    table = print_table(rows, cols, title=f"\n### ldn, {R} members (per member; medians of "
                                          "repeats; accuracy on C_ntx, occupancy_mor_drug, "
                                          "signal_opioid, immune_index)")
    print_table([{"name": r["name"], **r["max_rel_by_output"]} for r in rows],
                [("name", "solver", None)] + [(k, f"max rel {k}", ".1e") for k in OUTPUTS],
                title="\nmax relative error against the reference, per output")

    # peers against each other on the members they share (benchmark tolerance)
    agree = {}
    names = [c.name for c in cases if c.name != "ldnsim run_rows 2t"]
    if two:   # same kernels and step sequence on 1 or 2 threads: expect bitwise equality
        agree["ldnsim run_rows 1t vs 2t: bitwise equal"] = bool(
            np.array_equal(traj["ldnsim run_rows 1t"][1], traj["ldnsim run_rows 2t"][1]))
    for a_i, a in enumerate(names):
        for b in names[a_i + 1:]:
            k = min(traj[a][1].shape[0], traj[b][1].shape[0])
            agree[f"{a} vs {b}"] = {
                "members": k, **accuracy(traj[a][1][:k], traj[b][1][:k], RTOL, ATOL),
                "worst_output": where_worst(traj[a][1][:k], traj[b][1][:k], ldn)}
    print_table([{"pair": p, **v} for p, v in agree.items() if isinstance(v, dict)],
                [("pair", "pair (outputs, benchmark tolerance)", None),
                 ("members", "N", "d"), ("mescd_all", "mescd all", ".2f"),
                 ("max_rel", "max rel diff", ".1e")],
                title="\nagreement between solvers (same members)")

    lines = []
    fx = lambda x: "n/a" if x is None else f"{x:.2f}x"  # noqa: E731
    vs = "; ".join(f"vs {r['name']} {fx(r['time_over_ldnsim_1t'])}" for r in rows
                   if not r["name"].startswith("ldnsim"))
    lines.append(f"[ldn] ldnsim 1t: {vs}")
    thr = None
    if one and two:
        thr = {"median": one["ms_per_member"] / two["ms_per_member"],
               "best": one["ms_per_member_min"] / two["ms_per_member_min"]}
        lines.append(f"[ldn] ldnsim 2t/1t {fx(thr['median'])} (best-of {fx(thr['best'])})"
                     + (f"; machine ceiling 2t/1t {fx(ceiling['median'])} "
                        f"(best-of {fx(ceiling['best'])})" if ceiling else ""))
    wp = None
    if args.wp_members > 0:
        wp = work_precision(ldn, ref_o, sbml_path, args)
        ours = [m_ for m_ in wp["matched"] if m_["method"] == "rodas5p"]
        for kind, pick in (("interpolated", lambda h: h == "interpolated"),
                           ("bounds by a more accurate ldnsim run", lambda h: h != "interpolated")):
            sp = [m_["speedup"] for m_ in ours if pick(m_["how"])]
            if sp:
                lines.append(f"[ldn] ldnsim 1t vs libroadrunner at matched accuracy ({kind}): "
                             f"{min(sp):.2f}-{max(sp):.2f}x at {len(sp)} libroadrunner "
                             f"tolerance(s)")
        ch = wp["check"]
        lines.append(f"[ldn] work-precision check against rtol {CHECK_RTOL:g}: largest error "
                     f"{ch['max_err_over_tol']:.2f} x tol over rtol {args.wp_rtols} "
                     f"({'within' if ch['within_10x_tol'] else 'NOT within'} 10 x tol)")
    print()
    for line in lines:
        print("  " + line)
    sbml_dir.cleanup()
    return {"problem": "ldn", "members": R, "rtol": RTOL, "atol": ATOL, "seed": args.seed,
            "model_hash": ldn.model.hash, "n_states": ldn.n, "n_outputs_timed": ldn.t_eval.size,
            "dosing": f"{DOSE_MG} mg into gut every {EVERY_H:g} h x {N_DOSES} (0..1320 h)",
            "iiv": {"parameters": list(IIV), "form": f"p * exp({IIV_SIGMA} z), z ~ N(0,1)"},
            "accuracy_outputs": list(OUTPUTS), "scipy_members": n_sci, "bdf_members": n_bdf,
            "roadrunner_members": n_rr,
            "reference": {"solver": "ldnsim run_rows rodas5p", "rtol": REF_RTOL,
                          "atol": REF_ATOL, "seconds": t_ref, **ldnsim_stats(ref)},
            "tight_checks": tight, "rows": rows, "agreement": agree, "work_precision": wp,
            "cpu_ceiling_2t_over_1t": ceiling, "ldnsim_2t_over_1t": thr, "lines": lines,
            "table_markdown": table}


def main(argv=None):
    ap = common.ensemble_parser(
        __doc__.split("\n\n")[0], members=200, repeats=7, scipy_members=5, rr_members=200,
        ref_check=3, wp_members=50, wp_rtols="1e-3,1e-4,1e-5,1e-6,1e-7,1e-8,1e-9",
        out_name="ldn_model.json",
        helps={"quick": "smoke test: 20 members, 2 for scipy, 3 repeats",
               "repeats": "timed repeats of ldnsim (scipy and libroadrunner get 2 fewer)",
               "scipy_members": "members solved with LSODA",
               "ref_check": "members for the tight scipy/libroadrunner check of the reference",
               "wp_members": "members for the ldnsim/libroadrunner tolerance sweep (0 skips)"})
    ap.add_argument("--bdf-members", type=int, default=5, help="members solved with BDF (0 skips)")
    ap.add_argument("--wp-methods", default="rodas5p",
                    help="ldnsim methods in the tolerance sweep, comma-separated (Rodas5P always)")
    args = common.apply_quick(ap.parse_args(argv), members=20, scipy_members=2, bdf_members=1,
                              rr_members=20, ref_check=1, repeats=3, wp_members=10,
                              wp_repeats=1, wp_rtols="1e-4,1e-6,1e-8")

    env = common.env_info()
    tree = ldnsim_tree()
    print_env(env)
    print(f"# ldnsim/ changes: {tree['changed_files'] or 'none'} (diff {tree['diff_sha1']})")
    if roadrunner is None:
        print("# libroadrunner/python-libsbml not installed: libroadrunner skipped")
    t0 = time.perf_counter()
    result = run(args)
    env_end = common.env_info()
    tree_end = ldnsim_tree()
    out = {"benchmark": "ldn_model", "args": vars(args), "env": env, "env_end": env_end,
           "ldnsim_tree": tree, "ldnsim_tree_end": tree_end,
           "wall_s": time.perf_counter() - t0, **result}
    path = write_json(args.out, out)
    same = "unchanged" if tree_end == tree else f"CHANGED to {tree_end}"
    print(f"\n# ldnsim at the end: {same}; wrote {path} ({out['wall_s']:.0f} s)")
    return out


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
