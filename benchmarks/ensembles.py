"""Ensemble benchmark: ldnsim against scipy, numbalsoda and libroadrunner, in one run.

Question answered: how long does one member of a 1,000-member perturbed ensemble take with
ldnsim (1 and 2 threads; default and ``specialize=True`` kernels) and with the tools users
would otherwise reach for, at the same rtol/atol, and how accurate is each against a tight
reference?

    python benchmarks/ensembles.py                       # 1,000 members, all problems
    python benchmarks/ensembles.py --quick               # smoke test (CI): 40 members
    python benchmarks/ensembles.py --problems rober --members 200

Writes a Markdown table per problem to stdout and everything (times of every repeat,
accuracy, step counts, environment) to ``benchmarks/results/ensembles.json``.
See benchmarks/README.md for how to read it.
"""
from __future__ import annotations

import sys
import time
import warnings

import numba
import numpy as np
from numba import njit, prange

from ldnsim._sparsity import SPARSE_MIN_N
from ldnsim.solver import integrate, integrate_batch

import common
import problems as P
from common import Case, accuracy, mescd, print_env, print_table, run_interleaved, write_json

try:
    from numbalsoda import lsoda
except ImportError:  # optional peer
    lsoda = None

try:
    import antimony
    import roadrunner
except ImportError:  # optional peer
    roadrunner = None

MAX_STEPS = 1_000_000


# ---------------------------------------------------------------------------- ldnsim
def ldnsim_batch(prob, ps, *, rtol, atol, specialize=False, use_jac=True, method="rodas5p",
                 jac_sparsity=None):
    return integrate_batch(prob.rhs, prob.y0, prob.t_eval, ps,
                           jac=prob.jac if use_jac else None, method=method, rtol=rtol,
                           atol=atol, doses=prob.doses, max_steps=MAX_STEPS,
                           autonomous=prob.autonomous, specialize=specialize,
                           jac_sparsity=jac_sparsity)


def ldnsim_stats(res):
    st = res.stats
    return {"steps": float(np.mean(st["n_accepted"] + st["n_rejected"])),
            "rejected": float(np.mean(st["n_rejected"])),
            "rhs": float(np.mean(st["n_rhs"])), "jac": float(np.mean(st["n_jac"])),
            "lu": float(np.mean(st["n_lu"]))}


# ---------------------------------------------------------------------------- numbalsoda
if lsoda is not None:
    @njit
    def _nbl_one(addr, u0, p, t_eval, d_idx, d_state, d_amt, rtol, atol, out):
        """One member, restarted at each dose (doses at output indices ``d_idx``)."""
        m = t_eval.size
        nd = d_idx.size
        u = u0.copy()
        j = 0
        while j < nd and d_idx[j] == 0:
            u[d_state[j]] += d_amt[j]
            j += 1
        out[0, :] = u
        ok = True
        i = 0
        while i < m - 1:
            nxt = m - 1
            if j < nd:
                nxt = d_idx[j]
            seg = np.ascontiguousarray(t_eval[i:nxt + 1])
            usol, success = lsoda(addr, u, seg, data=p, rtol=rtol, atol=atol, mxstep=100000)
            ok = ok and success
            out[i + 1:nxt + 1, :] = usol[1:, :]
            u = usol[-1, :].copy()
            while j < nd and d_idx[j] == nxt:
                u[d_state[j]] += d_amt[j]
                j += 1
            out[nxt, :] = u
            i = nxt
        return ok

    @njit
    def nbl_serial(addr, y0, ps, t_eval, d_idx, d_state, d_amt, rtol, atol, out, ok):
        for r in range(ps.shape[0]):
            ok[r] = _nbl_one(addr, y0, np.ascontiguousarray(ps[r]), t_eval, d_idx, d_state,
                             d_amt, rtol, atol, out[r])

    @njit(parallel=True)
    def nbl_parallel(addr, y0, ps, t_eval, d_idx, d_state, d_amt, rtol, atol, out, ok):
        for r in prange(ps.shape[0]):
            ok[r] = _nbl_one(addr, y0, np.ascontiguousarray(ps[r]), t_eval, d_idx, d_state,
                             d_amt, rtol, atol, out[r])


def numbalsoda_run(prob, addr, ps, seg, parallel, *, rtol, atol):
    R, m, n = ps.shape[0], prob.t_eval.size, prob.n
    out = np.empty((R, m, n))
    ok = np.zeros(R, np.bool_)
    fn = nbl_parallel if parallel else nbl_serial
    fn(addr, prob.y0, ps, prob.t_eval, seg[0], seg[1], seg[2], rtol, atol, out, ok)
    return out, ok


def numbalsoda_rhs_count(prob, ps, seg, *, rtol, atol):
    """RHS evaluations per member, from a counting copy of the cfunc (untimed)."""
    f = P.lsoda_rhs(prob, count=True)
    ext = np.concatenate([ps, np.zeros((ps.shape[0], 1))], axis=1)
    R, m, n = ps.shape[0], prob.t_eval.size, prob.n
    out = np.empty((R, m, n))
    ok = np.zeros(R, np.bool_)
    nbl_serial(f.address, prob.y0, ext, prob.t_eval, seg[0], seg[1], seg[2], rtol, atol,
               out, ok)
    return float(np.mean(ext[:, -1]))


# ---------------------------------------------------------------------------- scipy
def scipy_one(prob, f, J, p, seg, method, *, rtol, atol):
    from scipy.integrate import solve_ivp

    t_eval = prob.t_eval
    m = t_eval.size
    d_idx, d_state, d_amt = seg
    out = np.empty((m, prob.n))
    u = prob.y0.copy()
    j = 0
    while j < d_idx.size and d_idx[j] == 0:
        u[d_state[j]] += d_amt[j]
        j += 1
    out[0] = u
    fun = lambda t, y: f(t, y, p)          # noqa: E731
    jac = lambda t, y: J(t, y, p)          # noqa: E731
    counts = np.zeros(3)
    ok = True
    i = 0
    while i < m - 1:
        nxt = int(d_idx[j]) if j < d_idx.size else m - 1
        seg_t = t_eval[i:nxt + 1]
        sol = solve_ivp(fun, (seg_t[0], seg_t[-1]), u, method=method, t_eval=seg_t,
                        rtol=rtol, atol=atol, jac=jac)
        ok = ok and sol.success
        counts += (sol.nfev, sol.njev, sol.nlu)
        out[i + 1:nxt + 1] = sol.y[:, 1:].T
        u = sol.y[:, -1].copy()
        while j < d_idx.size and d_idx[j] == nxt:
            u[d_state[j]] += d_amt[j]
            j += 1
        out[nxt] = u
        i = nxt
    return out, ok, counts


def scipy_run(prob, f, J, ps, seg, method, *, rtol, atol):
    outs, oks, counts = [], [], np.zeros(3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for p in ps:
            o, ok, c = scipy_one(prob, f, J, p, seg, method, rtol=rtol, atol=atol)
            outs.append(o)
            oks.append(ok)
            counts += c
    return np.array(outs), np.array(oks), counts / len(ps)


# ---------------------------------------------------------------------------- roadrunner
def roadrunner_model(prob, *, rtol, atol):
    antimony.clearPreviousLoads()
    if antimony.loadAntimonyString(prob.antimony(prob.p)) < 0:
        raise RuntimeError(antimony.getLastError())
    sbml = antimony.getSBMLString(antimony.getMainModuleName())
    r = roadrunner.RoadRunner(sbml)
    r.integrator.relative_tolerance = rtol
    r.integrator.absolute_tolerance = atol
    r.integrator.maximum_num_steps = MAX_STEPS
    r.timeCourseSelections = ["time"] + list(prob.state_names)
    return r


def roadrunner_run(prob, r, ps, seg):
    d_idx, d_state, d_amt = seg
    t_eval = prob.t_eval
    m = t_eval.size
    names = list(prob.param_names)
    states = list(prob.state_names)
    R = ps.shape[0]
    out = np.empty((R, m, prob.n))
    for row in range(R):
        r.resetAll()
        r.setValues(names, list(ps[row]))
        j = 0
        while j < d_idx.size and d_idx[j] == 0:
            s = states[d_state[j]]
            r.setValue(s, r.getValue(s) + d_amt[j])
            j += 1
        i = 0
        while i < m - 1:
            nxt = int(d_idx[j]) if j < d_idx.size else m - 1
            res = r.simulate(times=t_eval[i:nxt + 1])
            out[row, i:nxt + 1] = np.asarray(res)[:, 1:]
            while j < d_idx.size and d_idx[j] == nxt:
                s = states[d_state[j]]
                r.setValue(s, r.getValue(s) + d_amt[j])
                j += 1
            if j and d_idx[j - 1] == nxt:
                out[row, nxt] = [r.getValue(s) for s in states]
            i = nxt
    return out


# ---------------------------------------------------------------------------- reference
def reference(prob, ps, n_check):
    """Tight reference: ldnsim Rodas5P at rtol ``prob.ref_rtol`` for every member, checked
    against scipy Radau (same tolerance, analytic Jacobian) on ``n_check`` members and, for
    the nominal parameters, against the published value where one exists."""
    t0 = time.perf_counter()
    ref = ldnsim_batch(prob, ps, rtol=prob.ref_rtol, atol=prob.ref_atol)
    assert np.all(ref.status == 0), ref.messages()
    t_ref = time.perf_counter() - t0
    f, J = P.scipy_functions(prob)
    seg = P.dose_segments(prob.t_eval, prob.doses)
    k = min(n_check, ps.shape[0])
    rad, ok, _ = scipy_run(prob, f, J, ps[:k], seg, "Radau", rtol=prob.ref_rtol,
                           atol=prob.ref_atol)
    check = {"solver": "ldnsim rodas5p (default kernels)", "rtol": prob.ref_rtol,
             "atol": prob.ref_atol, "seconds": t_ref,
             "vs_scipy_radau": {"members": k, "scipy_ok": bool(np.all(ok)),
                                **accuracy(rad, ref.y[:k], prob.rtol, prob.atol)}}
    nominal = ldnsim_batch(prob, prob.p[None, :], rtol=prob.ref_rtol, atol=prob.ref_atol)
    if prob.ref_end is not None:
        check["nominal_vs_published"] = {
            "source": prob.ref_end_source,
            "mescd_at_run_tol": mescd(nominal.y[0, -1], prob.ref_end, prob.rtol, prob.atol),
            "max_rel": float(np.max(np.abs(nominal.y[0, -1] - prob.ref_end)
                                    / np.abs(prob.ref_end)))}
    return ref.y, check


def check_jacobian(prob):
    """Analytic Jacobian against central differences at a point along the nominal path."""
    y = integrate(prob.rhs, prob.y0, prob.t_eval[: max(2, prob.t_eval.size // 3)], prob.p,
                  jac=prob.jac, rtol=1e-10, atol=prob.atol, doses=prob.doses,
                  autonomous=True).y[-1]
    n = prob.n
    J = np.empty((n, n))
    prob.jac(0.0, y, prob.p, J)
    Jfd = np.empty((n, n))
    f1, f2 = np.empty(n), np.empty(n)
    for j in range(n):
        h = 1e-6 * max(abs(y[j]), 1e-8)
        yp, ym = y.copy(), y.copy()
        yp[j] += h
        ym[j] -= h
        prob.rhs(0.0, yp, prob.p, f1)
        prob.rhs(0.0, ym, prob.p, f2)
        Jfd[:, j] = (f1 - f2) / (2 * h)
    scale = np.maximum(np.abs(J), np.abs(J).max(axis=1, keepdims=True) * 1e-8)
    scale[scale == 0] = 1.0
    err = float(np.max(np.abs(J - Jfd) / scale))
    if err > 1e-4:
        raise AssertionError(f"{prob.name}: analytic Jacobian disagrees with FD ({err:.2e})")
    return err


# ---------------------------------------------------------------------------- one problem
def set_threads(k):
    return lambda: numba.set_num_threads(k)


def bench_problem(prob, args):
    R = args.members
    rtol, atol = prob.rtol, prob.atol
    ps = P.perturbed(prob.p, R, args.seed)
    seg = P.dose_segments(prob.t_eval, prob.doses)
    n_sci = min(args.scipy_members, R)
    n_rr = min(args.rr_members, R)
    print(f"\n## {prob.name}: {R} members, n = {prob.n}, rtol = {rtol:g}, atol = {atol:g}; "
          f"{prob.notes}", flush=True)

    jac_err = check_jacobian(prob)
    print(f"  reference (ldnsim rtol {prob.ref_rtol:g}) ...", flush=True)
    ref, ref_check = reference(prob, ps, args.ref_check)
    print(f"    {ref_check}", flush=True)

    kw = dict(rtol=rtol, atol=atol)
    nthr = numba.config.NUMBA_NUM_THREADS
    cases = []
    for spec in (False, True):
        for th in sorted({1, min(2, nthr)}):
            label = f"ldnsim {'specialize' if spec else 'default'}"
            cases.append(Case(f"{label} {th}t", lambda s=spec: ldnsim_batch(prob, ps, specialize=s,
                                                                            **kw),
                              repeats=args.repeats, members=R, setup=set_threads(th),
                              meta=dict(solver="ldnsim", kernels="specialize" if spec
                                        else "default", threads=th, jacobian="analytic",
                                        method="rodas5p", autonomous=prob.autonomous)))
    cases.append(Case("ldnsim default FD-jac 1t",
                      lambda: ldnsim_batch(prob, ps, use_jac=False, **kw),
                      repeats=args.repeats, members=R, setup=set_threads(1),
                      meta=dict(solver="ldnsim", kernels="default", threads=1,
                                jacobian="finite differences", method="rodas5p",
                                autonomous=prob.autonomous)))
    if prob.n >= SPARSE_MIN_N:  # the default rows use the sparse LU here; show the dense one
        cases.append(Case("ldnsim default dense-LU 1t",
                          lambda: ldnsim_batch(prob, ps, jac_sparsity=False, **kw),
                          repeats=args.repeats, members=R, setup=set_threads(1),
                          meta=dict(solver="ldnsim", kernels="default", threads=1,
                                    jacobian="analytic", method="rodas5p", lu="dense",
                                    autonomous=prob.autonomous)))
    if prob.extra.get("nonstiff"):
        cases.append(Case("ldnsim dopri5 default 1t",
                          lambda: ldnsim_batch(prob, ps, method="dopri5", **kw),
                          repeats=args.repeats, members=R, setup=set_threads(1),
                          meta=dict(solver="ldnsim", kernels="default", threads=1,
                                    jacobian="none (explicit)", method="dopri5")))
    if lsoda is not None:
        f_nbl = P.lsoda_rhs(prob)
        addr = f_nbl.address
        cases.append(Case("numbalsoda 1t", lambda: numbalsoda_run(prob, addr, ps, seg, False,
                                                                   **kw),
                          repeats=args.repeats, members=R, setup=set_threads(1),
                          meta=dict(solver="numbalsoda lsoda", threads=1,
                                    jacobian="finite differences (internal)")))
        if nthr >= 2:
            cases.append(Case("numbalsoda prange 2t",
                              lambda: numbalsoda_run(prob, addr, ps, seg, True, **kw),
                              repeats=args.repeats, members=R, setup=set_threads(2),
                              meta=dict(solver="numbalsoda lsoda", threads=2,
                                        jacobian="finite differences (internal)")))
    if roadrunner is not None and n_rr > 0:
        rr = roadrunner_model(prob, rtol=rtol, atol=atol)
        cases.append(Case("libroadrunner CVODE", lambda: roadrunner_run(prob, rr, ps[:n_rr], seg),
                          repeats=max(2, args.repeats - 2), members=n_rr,
                          meta=dict(solver="libroadrunner cvode", threads=1,
                                    jacobian="CVODE internal (difference quotients)")))
    if n_sci > 0:
        f, J = P.scipy_functions(prob)
        for meth in ("LSODA", "Radau"):
            cases.append(Case(f"scipy {meth}",
                              lambda m_=meth: scipy_run(prob, f, J, ps[:n_sci], seg, m_, **kw),
                              repeats=max(2, args.repeats - 2), members=n_sci,
                              meta=dict(solver=f"scipy solve_ivp {meth}", threads=1,
                                        jacobian="analytic (numba)")))

    cases, ceiling = common.run_with_ceiling(cases, args.repeats, nthr)

    rows = []
    for c in cases:
        row = common.timing_row(c)
        res = c.result
        if c.name.startswith("ldnsim"):
            y, ok = res.y, res.status == 0
            row.update(ldnsim_stats(res))
        elif c.name.startswith("numbalsoda"):
            y, ok = res
        elif c.name.startswith("scipy"):
            y, ok, cnt = res
            row.update(rhs=cnt[0], jac=cnt[1], lu=cnt[2])
        else:
            y, ok = res, np.all(np.isfinite(res), axis=(1, 2))
        row["failed_members"] = int(np.sum(~np.asarray(ok)))
        row.update(accuracy(y, ref[: y.shape[0]], rtol, atol))
        rows.append(row)
    if lsoda is not None:
        row = next(r for r in rows if r["name"] == "numbalsoda 1t")
        row["rhs"] = numbalsoda_rhs_count(prob, ps[: min(R, 100)], seg, **kw)

    by = {r["name"]: r for r in rows}
    for r in rows:
        th = r.get("threads", 1)
        for kern in ("default", "specialize"):
            base = by.get(f"ldnsim {kern} {th}t") or by.get(f"ldnsim {kern} 1t")
            r[f"x_vs_ldnsim_{kern}"] = r["ms_per_member"] / base["ms_per_member"]
    cols = common.RESULT_COLUMNS + [("x_vs_ldnsim_default", "time/ldnsim-default", ".2f"),
                                    ("x_vs_ldnsim_specialize", "time/ldnsim-spec", ".2f")]
    table = print_table(rows, cols, title=f"\n### {prob.name} (per member; medians of repeats)")

    summary = targets(prob.name, by, ceiling)
    for line in summary["lines"]:
        print("  " + line)
    wp = None
    if args.wp_members > 0 and lsoda is not None:
        k = min(args.wp_members, R)
        wp = work_precision(prob, ps[:k], ref[:k], seg, addr, args)
    return {"problem": prob.name, "members": R, "rtol": rtol, "atol": atol,
            "notes": prob.notes, "autonomous": prob.autonomous, "seed": args.seed,
            "perturbation": "p * exp(0.1 z), z ~ N(0,1) per parameter and member",
            "scipy_members": n_sci, "roadrunner_members": n_rr,
            "jacobian_check_max_rel": jac_err, "reference": ref_check, "rows": rows,
            "targets": summary, "table_markdown": table, "work_precision": wp}


def _wp_label(method, kern):
    """Solver label of an ldnsim work-precision point (Rodas5P keeps its historical one)."""
    return f"ldnsim {kern}" if method == "rodas5p" else f"ldnsim {method} {kern}"


def work_precision(prob, ps, ref, seg, addr, args):
    """Time against accuracy over a tolerance sweep (atol/rtol fixed at the problem's ratio),
    for ldnsim (1 thread, both kernel kinds, each method of ``--wp-methods``) and numbalsoda
    (1 thread); then the speed ratio at matched accuracy: for each numbalsoda point, ldnsim's
    time interpolated (log time, linear in digits) at the same ``mescd_all``."""
    R = ps.shape[0]
    ratio = prob.atol / prob.rtol
    rtols = [float(x) for x in args.wp_rtols.split(",")]
    methods = [m.strip() for m in args.wp_methods.split(",") if m.strip()]
    print(f"\n  work-precision sweep on {R} members, rtol in {rtols}, atol = {ratio:g} * rtol, "
          f"ldnsim methods {methods}", flush=True)
    cases = []
    for rt in rtols:
        kw = dict(rtol=rt, atol=ratio * rt)
        for meth in methods:
            for spec in (False, True):
                kern = "specialize" if spec else "default"
                cases.append(Case(f"{_wp_label(meth, kern)} 1t @{rt:g}",
                                  lambda s=spec, kw=kw, meth=meth: ldnsim_batch(
                                      prob, ps, specialize=s, method=meth, **kw),
                                  repeats=args.wp_repeats, members=R, setup=set_threads(1),
                                  meta=dict(solver=_wp_label(meth, kern), method=meth,
                                            kernels=kern, rtol=rt)))
        cases.append(Case(f"numbalsoda 1t @{rt:g}",
                          lambda kw=kw: numbalsoda_run(prob, addr, ps, seg, False, **kw),
                          repeats=args.wp_repeats, members=R, setup=set_threads(1),
                          meta=dict(solver="numbalsoda", rtol=rt)))
    run_interleaved(cases, verbose=False)
    points = []
    for c in cases:
        ours = c.meta["solver"].startswith("ldnsim")
        y = c.result.y if ours else c.result[0]
        acc = accuracy(y, ref, prob.rtol, prob.atol)   # fixed scale: comparable digits
        extra = ldnsim_stats(c.result) if ours else {}
        ok = bool(np.all(c.result.status == 0)) if ours else bool(np.all(c.result[1]))
        points.append({**c.meta, "ms_per_member": 1e3 * c.per_member,
                       "ms_per_member_min": 1e3 * min(c.times) / c.members,
                       "mescd_all": acc["mescd_all"], "mescd_end": acc["mescd_end"],
                       "max_rel": acc["max_rel"], "all_succeeded": ok, **extra})
    matched = []
    nbl = [p for p in points if p["solver"] == "numbalsoda"]
    for meth in methods:
        for kern in ("default", "specialize"):
            for q, t_l, how in common.matched_accuracy(
                    [p for p in points if p["solver"] == _wp_label(meth, kern)], nbl):
                matched.append({"method": meth, "kernels": kern,
                                "numbalsoda_rtol": q["rtol"],
                                "digits": q["mescd_all"], "numbalsoda_ms": q["ms_per_member"],
                                "ldnsim_ms": t_l, "speedup": q["ms_per_member"] / t_l,
                                "how": how})
    sweep_rows = []
    cols = [("rtol", "rtol", ".0e")]
    for meth in methods:
        for short in ("def", "spec"):
            key = f"{meth}_{short}"
            cols += [(f"{key}_ms", f"{meth} {short} ms", ".4g"),
                     (f"{key}_digits", "digits", ".2f")]
    cols += [("nbl_ms", "numbalsoda ms", ".4g"), ("nbl_digits", "digits", ".2f")]
    for rt in rtols:
        row = {"rtol": rt}
        for p in points:
            if p["rtol"] == rt:
                if p["solver"] == "numbalsoda":
                    key = "nbl"
                else:
                    key = f"{p['method']}_{'def' if p['kernels'] == 'default' else 'spec'}"
                row[f"{key}_ms"] = p["ms_per_member"]
                row[f"{key}_digits"] = p["mescd_all"]
        sweep_rows.append(row)
    print_table(sweep_rows, cols,
                title=f"\n### {prob.name} work-precision (1 thread, per member; digits = mescd "
                      f"over all outputs, worst member)")
    if matched:
        print_table(matched, [("method", "ldnsim method", None),
                              ("kernels", "ldnsim kernels", None),
                              ("numbalsoda_rtol", "numbalsoda rtol", ".0e"),
                              ("digits", "digits", ".2f"),
                              ("numbalsoda_ms", "numbalsoda ms", ".4g"),
                              ("ldnsim_ms", "ldnsim ms", ".4g"),
                              ("speedup", "ldnsim speedup", ".2f"),
                              ("how", "ldnsim time", None)],
                    title=f"\n### {prob.name}: speed at matched accuracy (>1: ldnsim faster)")
    return {"members": R, "atol_over_rtol": ratio, "methods": methods, "points": points,
            "matched": matched, "rows": sweep_rows}


def targets(name, by, ceiling=None):
    """Issue-2 targets as ratios (> 1 means ldnsim is faster); medians of repeats, and for
    the thread speed-up also best-of-repeats (least disturbed by other processes)."""
    out, lines = {"cpu_ceiling_2t_over_1t": ceiling}, []

    def ratio(a, b, key="ms_per_member"):
        if a in by and b in by:
            return by[b][key] / by[a][key]
        return None

    for kern in ("default", "specialize"):
        one, two = f"ldnsim {kern} 1t", f"ldnsim {kern} 2t"
        r_nbl = ratio(one, "numbalsoda 1t")
        r_lsoda = ratio(one, "scipy LSODA")
        r_thr = ratio(two, one)
        r_thr_best = ratio(two, one, "ms_per_member_min")
        r_nbl2 = ratio(two, "numbalsoda prange 2t")
        out[kern] = {"vs_numbalsoda_1t": r_nbl, "vs_numbalsoda_2t": r_nbl2,
                     "vs_scipy_lsoda": r_lsoda, "vs_scipy_radau": ratio(one, "scipy Radau"),
                     "vs_roadrunner": ratio(one, "libroadrunner CVODE"),
                     "speedup_2t_over_1t": r_thr, "speedup_2t_over_1t_best": r_thr_best}
        acc = ""
        if one in by and "numbalsoda 1t" in by:
            a, b = by[one], by["numbalsoda 1t"]
            better = a["mescd_all"] >= b["mescd_all"] - 0.05
            acc = (f" (mescd all {a['mescd_all']:.2f} vs {b['mescd_all']:.2f}; "
                   f"accuracy {'equal or better' if better else 'WORSE'})")
            out[kern]["accuracy_equal_or_better_than_numbalsoda"] = bool(
                a["mescd_all"] >= b["mescd_all"] - 0.05)
        f = lambda x: "n/a" if x is None else f"{x:.2f}x"  # noqa: E731
        lines.append(f"[{name}] ldnsim {kern}: vs numbalsoda 1t {f(r_nbl)}{acc}; "
                     f"vs numbalsoda 2t {f(r_nbl2)}; vs scipy LSODA {f(r_lsoda)}; "
                     f"2t/1t {f(r_thr)} (best-of {f(r_thr_best)})")
    if "numbalsoda 1t" in by and "numbalsoda prange 2t" in by:
        out["numbalsoda_2t_over_1t"] = ratio("numbalsoda prange 2t", "numbalsoda 1t")
        out["numbalsoda_2t_over_1t_best"] = ratio("numbalsoda prange 2t", "numbalsoda 1t",
                                                  "ms_per_member_min")
        lines.append(f"[{name}] numbalsoda prange 2t/1t {out['numbalsoda_2t_over_1t']:.2f}x "
                     f"(best-of {out['numbalsoda_2t_over_1t_best']:.2f}x)")
    if ceiling:
        lines.append(f"[{name}] machine ceiling 2t/1t {ceiling['median']:.2f}x "
                     f"(best-of {ceiling['best']:.2f}x)")
    out["lines"] = lines
    return out


# ---------------------------------------------------------------------------- main
def main(argv=None):
    ap = common.ensemble_parser(
        __doc__.split("\n\n")[0], members=1000, repeats=9, scipy_members=20, rr_members=1000,
        ref_check=5, wp_members=500, wp_rtols="1e-5,1e-6,1e-7,1e-8,1e-9,1e-10",
        out_name="ensembles.json",
        helps={"quick": "smoke test: 40 members, 4 for scipy/roadrunner checks, 3 repeats",
               "ref_check": "members on which the reference is cross-checked with scipy Radau"})
    ap.add_argument("--problems", default="rober,pollu,pkpd")
    ap.add_argument("--wp-methods", default="rodas5p",
                    help="ldnsim methods in the work-precision sweep, comma-separated")
    args = common.apply_quick(ap.parse_args(argv), members=40, scipy_members=4, rr_members=40,
                              ref_check=2, repeats=3, wp_members=40, wp_repeats=1,
                              wp_rtols="1e-6,1e-8,1e-10")
    names = [s.strip() for s in args.problems.split(",") if s.strip()]
    unknown = set(names) - set(P.PROBLEMS)
    if unknown:
        ap.error(f"unknown problem(s) {sorted(unknown)}; choose from {sorted(P.PROBLEMS)}")

    env = common.env_info()
    print_env(env)
    if lsoda is None:
        print("# numbalsoda not installed: skipped")
    if roadrunner is None:
        print("# libroadrunner/antimony not installed: skipped")
    print("# diffrax/jax: not run (not installed on this machine)")
    t0 = time.perf_counter()
    results = [bench_problem(P.PROBLEMS[n](), args) for n in names]
    env_end = common.env_info()
    out = {"benchmark": "ensembles", "args": vars(args), "env": env,
           "loadavg_end": env_end["loadavg_1_5_15"],
           "numba_threading_layer": env_end["numba_threading_layer"],
           "wall_s": time.perf_counter() - t0, "problems": results}
    path = write_json(args.out, out)
    print(f"\n# wrote {path} ({out['wall_s']:.0f} s)")
    return out


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
