"""Step-size controller tuning: work at matched accuracy for variants of the PI controller.

Question answered: would other constants of the step-size controller (PI gains, safety factor,
growth limit) or another first step after a dose make Rodas5P take fewer steps *at the same
accuracy* on the LDN model, the headline experiment's rows, the Test Set problems and the PK/PD
model, and how honest does the tolerance stay (error / tol, dense output on Prothero-Robinson)?

    python benchmarks/controller.py                      # all variants, ~6 min on 2 cores
    python benchmarks/controller.py --variants base,i    # a subset (base is always run)
    python benchmarks/controller.py --quick              # smoke test: 3 tolerances, 2 variants
    python benchmarks/controller.py --report benchmarks/results/controller.json  # tables again
    python benchmarks/controller.py --method rodas3      # Rodas3's own gains (RODAS3_*)

With ``--method rodas3`` every problem runs with Rodas3, the variants (``VARIANTS_RODAS3``)
rewrite Rodas3's own constants (``RODAS3_BETA1``, ``RODAS3_BETA2``, ``RODAS3_SAFETY``), the
tolerances run looser (1e-2 ... 1e-6), Prothero-Robinson also runs at lambda 1e8, and a variant
qualifies when it costs no more than 5 % at any level on any problem and keeps the
Prothero-Robinson outputs within 1 x tol (tests/test_solver.py asks that of Rodas3).

How: every variant is a temporary copy of this checkout (``ldnsim``, ``models``,
``experiments``, ``tests/ivp_problems.py``, ``benchmarks/problems.py``) with the constants of
``ldnsim/_kernels/control.py`` (or the restart after a dose in ``driver.py``) rewritten, its
kernel cache key (``KERNEL_SOURCES_SHA256``, ``cachekey.py``) brought up to date, and its own
numba and ``LDNSIM_CACHE_DIR`` caches; a child process per variant (1 numba thread) solves
every problem over the tolerance sweep and reports the solver's counters and its errors
against references computed once, by a child on the unchanged copy, at rtol 1e-12.

Work = accepted + rejected steps per member (one LU each; a Rodas5P step costs the same
whatever the constants). Accuracy = ``mescd all`` (Test Set mixed significant correct digits,
worst over outputs, scored columns and members, with each problem's atol/rtol ratio).
Matched accuracy: on each variant's curve, log(work) is interpolated linearly in digits, and
the variant's work is divided by the base's at common digit levels (every 0.25 digit in the
range both curves cover). ``err/tol`` = max ``|y - ref| / (atol + rtol |ref|)`` at the run's
own tolerance. Deterministic counts only (no timing). Writes
``benchmarks/results/controller.json``; see benchmarks/README.md.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from common import rewrite_exactly

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RESULTS = HERE / "results"

BASE = {"SAFETY": 0.9, "MIN_FACTOR": 0.2, "MAX_FACTOR": 6.0, "BETA1": 0.7, "BETA2": 0.4}
BASE_RODAS3 = ("RODAS3_BETA1", "RODAS3_BETA2", "RODAS3_SAFETY")  # read from control.py
# name -> (description, control.py constants changed, after-dose rule or None)
VARIANTS = {
    "base": ("PI 0.7/0.4 (PI.3.4), safety 0.9, max 6: the current kernels", {}, None),
    "pi42": ("PI 0.6/0.2 (PI.4.2)", {"BETA1": 0.6, "BETA2": 0.2}, None),
    "pi83": ("PI 0.8/0.3", {"BETA1": 0.8, "BETA2": 0.3}, None),
    "i": ("I control 1.0/0.0", {"BETA1": 1.0, "BETA2": 0.0}, None),
    "s080": ("safety 0.8", {"SAFETY": 0.8}, None),
    "s095": ("safety 0.95", {"SAFETY": 0.95}, None),
    "max5": ("max factor 5", {"MAX_FACTOR": 5.0}, None),
    "max10": ("max factor 10", {"MAX_FACTOR": 10.0}, None),
    "dose_min": ("after a dose: min(initial-step estimate, last proposal)", {}, "min"),
    "dose_geo": ("after a dose: geometric mean of the estimate and the last proposal, at most "
                 "the proposal", {}, "geo"),
}
# Rodas3's own constants (control.py: RODAS3_BETA1, RODAS3_BETA2, RODAS3_SAFETY), for
# --method rodas3; every variant sets all three, so the table holds whatever the base is.
def _rodas3_variant(description, beta1, beta2, safety):
    return (description, {"RODAS3_BETA1": beta1, "RODAS3_BETA2": beta2,
                          "RODAS3_SAFETY": safety}, None)


VARIANTS_RODAS3 = {
    "base": ("the current kernels (control.py's RODAS3_* constants)", {}, None),
    "pi34": _rodas3_variant("PI 0.7/0.4, safety 0.9 (Rodas5P's gains; Rodas3's until "
                            "2026-11-30)", 0.7, 0.4, 0.9),
    "pi83": _rodas3_variant("PI 0.8/0.3, safety 0.9", 0.8, 0.3, 0.9),
    "pi105": _rodas3_variant("PI 1.0/0.5, safety 0.9", 1.0, 0.5, 0.9),
    "i_s09": _rodas3_variant("I control, safety 0.9", 1.0, 0.0, 0.9),
    "i_s085": _rodas3_variant("I control, safety 0.85", 1.0, 0.0, 0.85),
    "i_s08": _rodas3_variant("I control, safety 0.8", 1.0, 0.0, 0.8),
    "i_s075": _rodas3_variant("I control, safety 0.75", 1.0, 0.0, 0.75),
    "i_s07": _rodas3_variant("I control, safety 0.7", 1.0, 0.0, 0.7),
    "i_s06": _rodas3_variant("I control, safety 0.6", 1.0, 0.0, 0.6),
}
RTOLS = [1e-4, 1e-5, 1e-6, 1e-7, 1e-8, 1e-9, 1e-10]
RTOLS_RODAS3 = [1e-2, 3e-3, 1e-3, 3e-4, 1e-4, 3e-5, 1e-5, 1e-6]
REF_RTOL = 1e-12
PROBLEMS = ("ldn", "headline", "rober", "pollu", "orego", "vdpol", "vdpolm", "pkpd",
            "pkpd_dopri5")
PROBLEMS_RODAS3 = ("ldn", "rober", "pollu", "orego", "vdpol", "vdpolm", "pkpd")


# ---------------------------------------------------------------------------- variant trees
def _constants(names):
    """The values of ``names`` in this checkout's ``ldnsim/_kernels/control.py``."""
    text = (REPO / "ldnsim" / "_kernels" / "control.py").read_text()
    return {k: float(re.search(rf"^{k} = (.+)$", text, re.M).group(1)) for k in names}


def build_tree(dest: Path, consts: dict, dose_rule: str | None) -> Path:
    """Copy what the child needs into ``dest`` and rewrite the controller there."""
    for sub in ("ldnsim", "models", "experiments"):
        shutil.copytree(REPO / sub, dest / sub,
                        ignore=shutil.ignore_patterns("__pycache__", "*.nc", "*.png"))
    shutil.copy(REPO / "pyproject.toml", dest)  # marks a checkout: shipped models are found
    (dest / "tests").mkdir()
    shutil.copy(REPO / "tests" / "ivp_problems.py", dest / "tests")
    (dest / "benchmarks").mkdir()
    shutil.copy(REPO / "benchmarks" / "problems.py", dest / "benchmarks")
    kern = dest / "ldnsim" / "_kernels"
    for name, value in consts.items():
        rewrite_exactly(kern / "control.py", rf"^{name} = .*$", f"{name} = {value!r}", 1,
                        flags=re.M)
    if dose_rule is not None:
        _patch_dose_rule(kern / "driver.py", dose_rule)
    subprocess.run([sys.executable, "-m", "ldnsim._kernels.cachekey"], cwd=dest, check=True,
                   env=dict(os.environ, PYTHONPATH=str(dest)), capture_output=True)
    return dest


_RULES = {
    "min": "min(h, hc)",
    "geo": "min(hc, np.sqrt(h * hc))",
}


def _patch_dose_rule(path: Path, rule: str):
    """After a breakpoint, hand the segment ``-(last proposal)`` instead of 0; the segment
    then combines its initial-step estimate ``h`` with that proposal ``hc`` by ``rule``."""
    text = path.read_text()
    old = "        h = 0.0\n    return SUCCESS"
    assert text.count(old) == 1, "driver.py: the restart after a breakpoint moved"
    text = text.replace(old, "        h = -hbuf[0]\n    return SUCCESS")
    # the proposal handed on is the last step's before it was cut to end on the breakpoint
    for a, b, n in (
            ("        if t + h >= tb_:\n            h = tb_ - t\n",
             "        if t + h >= tb_:\n            hunclip = h\n            h = tb_ - t\n", 2),
            ("    hbuf[0] = h\n    return SUCCESS",
             "    hbuf[0] = max(h, hunclip)\n    return SUCCESS", 2),
            ("    lprev = 0.0  # log_prev", "    hunclip = 0.0\n    lprev = 0.0  # log_prev", 2)):
        assert text.count(a) == n, f"driver.py: {a!r} moved"
        text = text.replace(a, b)
    for first_arg in ("f0", "K[0]"):
        pat = re.compile(r"(    if h <= 0\.0:\n        h = initial_step\(rhs, t, y, "
                         + re.escape(first_arg) + r", [^\n]*\n        stats\[ST_RHS\] \+= 1\n)")
        m = pat.search(text)
        assert m, f"driver.py: initial_step call with {first_arg} not found"
        block = m.group(1).replace("    if h <= 0.0:\n", "    if h <= 0.0:\n        hc = -h\n")
        block += f"        if hc > 0.0:\n            h = {_RULES[rule]}\n"
        text = text[:m.start()] + block + text[m.end():]
    path.write_text(text)


# ---------------------------------------------------------------------------- the child
_CHILD = r'''
import json, sys
from pathlib import Path
import numpy as np
tree, mode, refs_path, rtols = Path(sys.argv[1]), sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
problems_wanted = sys.argv[5].split(",")
METHOD = sys.argv[6]
sys.path.insert(0, str(tree / "tests")); sys.path.insert(1, str(tree / "benchmarks"))
from ldnsim.dosing import Regimen
from ldnsim.events import pad_event_tables
from ldnsim.model import load_model
from ldnsim.simulation import run_rows
from ldnsim.solver import integrate, integrate_batch
import ivp_problems as IP
import problems as BP

SEED = 20240601
WORK_KEYS = ("n_accepted", "n_rejected", "n_rhs", "n_jac", "n_lu")


def ldn_setup(kind):
    m = load_model("ldn"); c = m.compile()
    y0 = m.initial_state()
    if kind == "ldn":   # benchmarks/ldn_model.py: 4.5 mg a day, hourly outputs, IIV 20 %
        t_eval = np.arange(0.0, 1345.0)
        p0 = m.parameter_vector()
        idx = [c.parameter_index(k) for k in ("ka", "CL_ntx", "V_ntx", "Kd_ntx")]
        P = np.tile(p0, (4, 1))
        P[1:, idx] = BP.perturbed(p0[idx], 3, SEED, 0.2)   # member 0 nominal
        ev = pad_event_tables([Regimen.repeat(4.5, every=24.0, count=56).expand(m)])
        cols = ["C_ntx", "occupancy_mor_drug", "signal_opioid", "immune_index"]
    else:               # the headline's rows (benchmarks/instructions.py 'headline')
        t_eval = np.concatenate([np.arange(0, 1176, 24.0), np.arange(1176, 1345, 1.0)])
        scen = [("pharmaceutical", "tonic"), ("pharmaceutical", "rebound")]
        doses = [0.1, 0.25, 0.5, 1.0, 1.5, 3.0, 4.5, 6.0, 10.0, 50.0]
        cells = [(d, sc) for d in doses for sc in scen]
        P = np.array([m.parameter_vector(scenarios=sc) for _, sc in cells])
        ev = pad_event_tables([Regimen.repeat(d, every=24.0, count=56).expand(m)
                               for d, _ in cells])
        cols = ["pet_inhibition", "occupancy_mor_peripheral", "occupancy_ogfr", "signal_ogfr",
                "immune_index", "C_ntx"]
    names = list(m.state_names) + list(m.output_names)
    sel = [names.index(k) for k in cols]

    def run(rtol, atol_ratio=1e-3):
        r = run_rows(c, t_eval, P, y0, ev, method=METHOD, rtol=rtol, atol=rtol * atol_ratio,
                     max_steps=10**7)
        assert np.all(r.status == 0), r.status
        y = np.concatenate([r.states, r.outputs], axis=-1)[..., sel]
        return y, r.stats
    return run, 1e-3


def testset_setup(name):
    rhs, jac, y0, p, t1, ref, rule = IP.TESTSET[name]
    p = np.asarray(p, float)
    P = np.vstack([p, BP.perturbed(p, 4, SEED, 0.1)])         # member 0 nominal
    t_eval = (np.concatenate([[0.0], np.logspace(-5, 5, 99)]) if name == "rober"
              else np.linspace(0.0, t1, 61))

    def run(rtol):
        r = integrate_batch(rhs, np.asarray(y0, float), t_eval, P, jac=jac, method=METHOD,
                            rtol=rtol, atol=rule(rtol), max_steps=10**7, autonomous=True)
        assert np.all(r.status == 0), r.status
        return r.y, r.stats
    return run, rule(1.0)


def pkpd_setup(method):
    pr = BP.pkpd()
    P = np.vstack([pr.p, BP.perturbed(pr.p, 4, SEED, 0.1)])

    def run(rtol):
        r = integrate_batch(pr.rhs, pr.y0, pr.t_eval, P, jac=pr.jac, method=method, rtol=rtol,
                            atol=rtol, doses=pr.doses, max_steps=10**7, autonomous=True)
        assert np.all(r.status == 0), r.status
        return r.y, r.stats
    return run, 1.0


def setup(name):
    if name in ("ldn", "headline"):
        return ldn_setup(name)
    if name == "pkpd":
        return pkpd_setup(METHOD)
    if name == "pkpd_dopri5":
        return pkpd_setup("dopri5")
    return testset_setup(name)


def prothero_robinson():
    """tests/test_solver.py's setting: lambda 1e4 (Rodas3: and 1e8), 3 components, 1001
    outputs on [0, 5], rtol = atol."""
    t_eval = np.linspace(0.0, 5.0, 1001)
    if METHOD == "rodas3":
        cases = [(lam, r) for lam in (1e4, 1e8) for r in (1e-3, 1e-4, 1e-5, 1e-6)]
    else:
        cases = [(1e4, r) for r in (1e-4, 1e-5, 1e-6, 1e-7, 1e-8)]
    out = []
    for lam, rtol in cases:
        res = integrate(IP.prothero_robinson_rhs, np.zeros(3), t_eval, np.array([lam, 3.0]),
                        jac=IP.prothero_robinson_jac, rtol=rtol, atol=rtol, method=METHOD)
        err = float(np.max(np.abs(res.y - np.sin(3 * t_eval)[:, None])))
        out.append({"lam": lam, "rtol": rtol, "err_over_tol": err / rtol,
                    "steps": res.stats["n_accepted"] + res.stats["n_rejected"],
                    "rejected": res.stats["n_rejected"]})
    return out


def digits(y, ref, ratio):
    """mescd over all outputs and columns, worst member."""
    err = np.abs(y - ref) / (ratio + np.abs(ref))
    err = np.maximum(err, 1e-17)
    return float(np.min(-np.log10(err.reshape(err.shape[0], -1).max(axis=1))))


if mode == "ref":
    refs = {}
    for name in problems_wanted:
        run, ratio = setup(name)
        y, st = run(1e-12)
        refs[name] = y
        print(f"ref {name}: {int(np.mean(st['n_accepted']))} steps/member", file=sys.stderr,
              flush=True)
    np.savez(refs_path, **refs)
    # the references against the published Test Set values (nominal member 0, final time)
    check = {}
    for name in problems_wanted:
        if name in IP.TESTSET and name != "rober":
            _, _, _, _, _, pub, rule = IP.TESTSET[name]
            check[name] = IP.mescd(refs[name][0, -1], pub, 1.0, rule(1.0))
        if name == "rober":
            check[name] = IP.mescd(refs[name][0, -1], IP.ROBER_REF_1E5, 1.0, 1e-4)
    print("RESULT " + json.dumps({"published_digits_of_reference": check}))
else:
    refs = np.load(refs_path)
    res = {}
    for name in problems_wanted:
        run, ratio = setup(name)
        ref = refs[name]
        rows = []
        for rtol in rtols:
            y, st = run(rtol)
            atol = ratio * rtol
            eot = float(np.max(np.abs(y - ref) / (atol + rtol * np.abs(ref))))
            row = {"rtol": rtol, "digits": digits(y, ref, ratio), "err_over_tol": eot}
            row.update({k: float(np.mean(st[k])) for k in WORK_KEYS})
            row["steps"] = row["n_accepted"] + row["n_rejected"]
            rows.append(row)
            print(f"  {name} rtol {rtol:g}: {row['steps']:.1f} steps, {row['digits']:.2f} "
                  f"digits, err/tol {eot:.3f}", file=sys.stderr, flush=True)
        res[name] = rows
    res["prothero_robinson"] = prothero_robinson()
    print("RESULT " + json.dumps(res))
'''


def run_child(tree: Path, work: Path, mode: str, refs: Path, rtols, problems,
              method="rodas5p") -> dict:
    env = dict(os.environ, PYTHONPATH=str(tree), NUMBA_NUM_THREADS="1",
               OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MPLBACKEND="Agg",
               LDNSIM_CACHE_DIR=str(work / f"ldncache-{tree.name}"),
               NUMBA_CACHE_DIR=str(work / f"numbacache-{tree.name}"))
    script = work / "child.py"
    script.write_text(_CHILD)
    proc = subprocess.run([sys.executable, str(script), str(tree), mode, str(refs),
                           json.dumps(rtols), ",".join(problems), method], env=env,
                          cwd=str(tree),
                          capture_output=True, text=True)
    sys.stderr.write(proc.stderr[-4000:] if proc.returncode else "")
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode != 0 or not line:
        raise RuntimeError(f"child {tree.name} ({mode}) failed:\n{proc.stderr[-3000:]}")
    return json.loads(line[0][7:])


# ---------------------------------------------------------------------------- analysis
def curve(rows, key="steps"):
    """(digits, log work) sorted by digits, from the sweep rows."""
    d = np.array([r["digits"] for r in rows])
    w = np.log(np.array([r[key] for r in rows]))
    o = np.argsort(d)
    return d[o], w[o]


def matched(base_rows, rows, key="steps", step=0.25):
    """Work ratio variant / base at common digit levels (log work linear in digits)."""
    d0, w0 = curve(base_rows, key)
    d1, w1 = curve(rows, key)
    lo, hi = max(d0[0], d1[0]), min(d0[-1], d1[-1])
    if not hi > lo:
        return {"levels": [], "ratios": []}
    levels = np.arange(np.ceil(lo / step) * step, hi + 1e-9, step)
    ratios = np.exp(np.interp(levels, d1, w1) - np.interp(levels, d0, w0))
    return {"levels": levels.round(2).tolist(), "ratios": ratios.round(4).tolist(),
            "min": float(ratios.min()), "max": float(ratios.max()),
            "geomean": float(np.exp(np.mean(np.log(ratios))))}


def summarise(results, names, problems):
    base = results["base"]
    table = {}
    for v in names:
        table[v] = {}
        for p in problems:
            m = matched(base[p], results[v][p]) if v != "base" else None
            same_tol = [r["steps"] / b["steps"] for r, b in zip(results[v][p], base[p])]
            table[v][p] = {
                "matched": m,
                "same_tol_step_ratio": [round(x, 4) for x in same_tol],
                "err_over_tol_max": max(r["err_over_tol"] for r in results[v][p]),
                "rejected_share": float(np.mean([r["n_rejected"] / r["steps"]
                                                 for r in results[v][p]])),
            }
    return table


def verdict(table, names, results=None, method="rodas5p", same_as_base=()):
    """A variant qualifies with >= 10 % less work at every common level on ldn and headline
    and no level > 5 % worse on any other problem. Rodas3: no level > 5 % worse on any
    problem, and the Prothero-Robinson outputs within 1 x tol. A variant whose constants are
    the base's (``same_as_base``) gets None: it is the base measured again."""
    out = {}
    for v in names:
        if v == "base":
            continue
        if v in same_as_base:
            out[v] = None
            continue
        t = table[v]
        if method == "rodas3":
            out[v] = bool(all(not t[p]["matched"]["levels"] or t[p]["matched"]["max"] <= 1.05
                              for p in t)
                          and all(r["err_over_tol"] <= 1.0
                                  for r in results[v]["prothero_robinson"]))
            continue
        ldn_ok = all(t[p]["matched"]["levels"] and t[p]["matched"]["max"] <= 0.90
                     for p in ("ldn", "headline") if p in t)
        others_ok = all(not t[p]["matched"]["levels"] or t[p]["matched"]["max"] <= 1.05
                        for p in t if p not in ("ldn", "headline"))
        out[v] = bool(ldn_ok and others_ok)
    return out


def print_tables(results, table, names, problems):
    """The README's tables (Markdown) from the results and their summary."""
    print("\nwork (accepted + rejected steps) at matched accuracy, variant / base: "
          "geometric mean [min - max] over common digit levels")
    print("| variant | " + " | ".join(problems) + " |")
    print("|---|" + "---|" * len(problems))
    for v in names:
        if v == "base":
            continue
        cells = []
        for p in problems:
            m = table[v][p]["matched"]
            cells.append(f"{m['geomean']:.3f} [{m['min']:.2f}-{m['max']:.2f}]"
                         if m["levels"] else "-")
        print(f"| {v} | " + " | ".join(cells) + " |")
    for p in ("ldn", "headline"):
        if p not in problems:
            continue
        levels = [6.0, 7.0, 8.0, 9.0, 10.0]
        print(f"\n{p}: work / base at matched digits, and steps / base at the same rtol")
        print("| variant | " + " | ".join(f"{lv:g} digits" for lv in levels)
              + " | same rtol 1e-4 ... 1e-10 |")
        print("|---|" + "---|" * (len(levels) + 1))
        for v in names:
            if v == "base":
                continue
            m = table[v][p]["matched"]
            at = dict(zip(m["levels"], m["ratios"]))
            cells = [f"{at[lv]:.3f}" if lv in at else "-" for lv in levels]
            st = table[v][p]["same_tol_step_ratio"]
            print(f"| {v} | " + " | ".join(cells) + f" | {min(st):.2f}-{max(st):.2f} |")
    print("\nlargest err/tol over the sweep (share of rejected steps)")
    print("| variant | " + " | ".join(problems) + " |")
    print("|---|" + "---|" * len(problems))
    for v in names:
        cells = [f"{table[v][p]['err_over_tol_max']:.2f} ({table[v][p]['rejected_share']:.1%})"
                 for p in problems]
        print(f"| {v} | " + " | ".join(cells) + " |")
    pr0 = results["base"]["prothero_robinson"]
    print("\nProthero-Robinson (1001 outputs on [0, 5]): dense-output error / tol (steps)")
    print("| variant | " + " | ".join(f"lambda {r.get('lam', 1e4):g}, rtol {r['rtol']:g}"
                                       for r in pr0) + " |")
    print("|---|" + "---|" * len(pr0))
    for v in names:
        cells = [f"{r['err_over_tol']:.1f} ({r['steps']})"
                 for r in results[v]["prothero_robinson"]]
        print(f"| {v} | " + " | ".join(cells) + " |")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--method", choices=("rodas5p", "rodas3"), default="rodas5p",
                    help="the method every problem runs with (default rodas5p)")
    ap.add_argument("--variants", help="comma-separated (default: all of the method's)")
    ap.add_argument("--problems", help="comma-separated (default: all of the method's)")
    ap.add_argument("--rtols", help="comma-separated (default: the method's sweep)")
    ap.add_argument("--quick", action="store_true", help="3 tolerances, base and i, 3 problems")
    ap.add_argument("--out", help="JSON to write (default benchmarks/results/controller.json, "
                    "controller_rodas3.json with --method rodas3)")
    ap.add_argument("--report", metavar="JSON", help="print the tables of an earlier run")
    args = ap.parse_args(argv)
    if args.report:
        old = json.loads(Path(args.report).read_text())
        names = list(old["variants"])
        problems = [p for p in old["results"]["base"] if p != "prothero_robinson"]
        print_tables(old["results"], old["summary"], names, problems)
        print("\nqualifies:", old["qualifies"])
        return old
    rodas3 = args.method == "rodas3"
    variants = VARIANTS_RODAS3 if rodas3 else VARIANTS
    base_consts = {**BASE, **_constants(BASE_RODAS3)}
    names = ["base"] + [v for v in (args.variants or ",".join(variants)).split(",")
                        if v and v != "base"]
    problems = (args.problems or ",".join(PROBLEMS_RODAS3 if rodas3 else PROBLEMS)).split(",")
    rtols = ([float(r) for r in args.rtols.split(",")] if args.rtols
             else (RTOLS_RODAS3 if rodas3 else RTOLS))
    if args.quick:
        names = ["base", "pi34" if rodas3 else "i"]
        problems, rtols = ["ldn", "rober", "pkpd"], ([1e-3, 1e-4, 1e-5] if rodas3
                                                     else [1e-5, 1e-7, 1e-9])
    out_path = Path(args.out or RESULTS / ("controller_rodas3.json" if rodas3
                                           else "controller.json"))
    for v in names:
        if v not in variants:
            raise SystemExit(f"unknown variant {v!r}; known: {', '.join(variants)}")
    results = {}
    with tempfile.TemporaryDirectory(prefix="ldnsim_ctrl_") as tmp:
        work = Path(tmp)
        refs = work / "refs.npz"
        base_tree = build_tree(work / "base", {}, None)
        print("references (rtol 1e-12, unchanged kernels) ...", flush=True)
        ref_info = run_child(base_tree, work, "ref", refs, rtols, problems)  # Rodas5P
        print(f"  reference vs published values (digits): "
              f"{ref_info['published_digits_of_reference']}", flush=True)
        for v in names:
            desc, consts, rule = variants[v]
            tree = base_tree if v == "base" else build_tree(work / v, consts, rule)
            print(f"variant {v}: {desc} ...", flush=True)
            results[v] = run_child(tree, work, "run", refs, rtols, problems, args.method)
    table = summarise(results, names, problems)
    same = {v for v in names if v != "base" and variants[v][2] is None
            and {**base_consts, **variants[v][1]} == base_consts}
    ok = verdict(table, names, results, args.method, same)
    print_tables(results, table, names, problems)
    print("\nqualifies " + ("(<= 5 % more work at every level on every problem, "
                            "Prothero-Robinson within 1 x tol):" if rodas3 else
                            "(>= 10 % less work at every level on ldn and headline, <= 5 % "
                            "more anywhere else):"), ok)
    out = {"method": args.method,
           "variants": {v: {"description": variants[v][0],
                            "constants": {**base_consts, **variants[v][1]},
                            "after_dose": variants[v][2]} for v in names},
           "ldnsim_commit": subprocess.run(["git", "-C", str(REPO), "describe", "--always",
                                            "--dirty"], capture_output=True,
                                           text=True).stdout.strip(),
           "rtols": rtols, "ref_rtol": REF_RTOL, "reference_check": ref_info,
           "results": results, "summary": table, "qualifies": ok}
    sys.path.insert(0, str(HERE))
    import common  # the JSON writer (numpy-safe)

    common.write_json(out_path, out)
    print(f"wrote {out_path}")
    return out


if __name__ == "__main__":
    main()
