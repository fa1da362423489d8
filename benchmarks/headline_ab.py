"""The headline experiment with this checkout's solver kernels against an older commit's.

Question answered (issue 17, third target): how much CPU and wall time does
``ldnsim run experiments/immunomodulatory_window.toml --threads 2`` take with today's
solver kernels and with the kernels of an earlier commit (``--base``, default ``9502a41``:
the kernels of ``b682810``, whose benchmarks issue 17 quotes, plus output evaluation), on
the *same* model file and the *same* experiment file, and are the window conclusions the same?

The base commit's experiment runner cannot run today's headline (it has no ``[uncertainty]``
table), so the A tree is a *hybrid*: this checkout (``git archive HEAD``) with the solver core
of the base commit laid over it, namely

* ``ldnsim/_kernels/`` and ``ldnsim/_sparsity.py`` from the base commit (every kernel: steps,
  LU, control, driver; the sparse plan without the ``exact`` flag, so the base kernels check J
  outside the pattern each step as they did), and
* the model's generated ``cfunc``s with numba's reference counting, as the base compiled them
  (``_nrt=False`` removed from ``ldnsim/model/codegen.py`` and ``ldnsim/solver.py``),

plus adapter lines so today's ``solver.py`` can call the older kernels (no ``auto`` method
id, no ``exact`` argument to ``make_plan``, no ``n_threads`` or ``glu`` argument to the
kernels; the headline names ``rodas5p``), and so the model hands the older kernels what they
took: the Jacobian that zero-fills all n * n entries (``jac_cfunc``, not ``jac_nonzeros``)
and no generated straight-line LU. Everything above the solver (model file,
compiler, experiment runner, metrics) is today's in both trees. Each tree gets its own numba
and model cache; one untimed run per tree fills it, then ``--pairs`` A/B pairs run in
alternating order (A B, B A, ...), one process at a time, each timed for wall and CPU
(user + sys of the child). ``window_report.py`` is run on one output of each tree and the two
reports are compared line by line.

    python benchmarks/headline_ab.py                     # 3 pairs, ~8 min on a quiet machine
    python benchmarks/headline_ab.py --pairs 1 --base 9502a41 --out /tmp/ab.json
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import git_archive, rewrite_exactly

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
EXPERIMENT = "experiments/immunomodulatory_window.toml"

# (file, pattern, replacement, expected count): the adapters that let today's solver.py and
# codegen drive the base commit's kernels. Each must match exactly as often as stated, so a
# drift of either side stops the script instead of measuring something else.
_ADAPT = [
    ("ldnsim/solver.py", r'\n    "auto": driver\.METHOD_AUTO,', "", 1),
    # Rodas3 came after the base (issue 17): the base kernels have no such method
    ("ldnsim/solver.py", r'\n    "rodas3": driver\.METHOD_RODAS3,', "", 1),
    ("ldnsim/solver.py", r",\n\s*numba\.get_num_threads\(\)\)", ")", 1),
    ("ldnsim/solver.py", r", _nrt=False", "", 2),
    # the generated straight-line LU (glu) and jac_nonzeros came after the base: the base
    # kernels take no glu, and start J uninitialised, so they get the zero-filling jac
    ("ldnsim/solver.py", r"plan, _glu\(None, plan\), out, outs,", "plan, out, outs,", 1),
    ("ldnsim/solver.py", r"plan, glu, out, outs,", "plan, out, outs,", 1),
    ("ldnsim/model/compiled.py", r"return self\.module\.jac_nonzeros_cfunc",
     "return self.module.jac_cfunc", 1),
    ("ldnsim/model/compiled.py", r'digest = getattr\(self\.module, "SPARSE_LU_DIGEST", None\)',
     "digest = None", 1),
    ("ldnsim/model/codegen.py", r", _nrt=False\)", ")", 7),
    ("ldnsim/model/codegen.py", r"lines, digest = lu_lines\(pattern, _JIT_NO_NRT\) if n else",
     "lines, digest = ([], None) if True else", 1),
]
_SPARSITY_SHIM = '''

# headline_ab.py adapter: today's solver.py passes exact=; the base kernels have no such plan.
_make_plan_base = make_plan


def make_plan(pattern, exact=False):  # noqa: F811
    return _make_plan_base(pattern)
'''


def build_trees(work, base):
    """Tree B = HEAD; tree A = HEAD with ``base``'s solver core (see the module docstring)."""
    head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                          check=True, capture_output=True, text=True).stdout.strip()
    tree_a, tree_b = work / "A", work / "B"
    git_archive("HEAD", tree_b)
    git_archive("HEAD", tree_a)
    for f in (tree_a / "ldnsim/_kernels").glob("*.py"):
        f.unlink()  # the base's kernel files replace today's, none left over
    git_archive(base, tree_a, ["ldnsim/_kernels", "ldnsim/_sparsity.py"])
    sparsity = tree_a / "ldnsim/_sparsity.py"
    sparsity.write_text(sparsity.read_text() + _SPARSITY_SHIM)
    for rel, pat, rep, count in _ADAPT:  # stops the script when the trees have drifted
        rewrite_exactly(tree_a / rel, pat, rep, count)
    return head, tree_a, tree_b


# The child: today's CLI, with the wall time spent inside solver.integrate_batch (the solver
# kernels, all threads) summed and printed on stderr; the rest of the wall time is Python on
# one core (imports, reading fits, drawing, dose tables, metrics, writing the NetCDF).
_CHILD = """
import sys, time
import ldnsim
assert ldnsim.__file__.startswith(sys.argv[1]), ldnsim.__file__
from ldnsim import solver
_spent = [0.0]
_orig = solver.integrate_batch
def _timed(*a, **k):
    t0 = time.perf_counter()
    try:
        return _orig(*a, **k)
    finally:
        _spent[0] += time.perf_counter() - t0
solver.integrate_batch = _timed
from ldnsim.cli import main
rc = main(sys.argv[2:])
print(f"SOLVER_S {_spent[0]:.3f}", file=sys.stderr)
sys.exit(rc)
"""


def run_once(tree, out, threads, cache):
    """One headline run in a child process; wall and child CPU seconds."""
    env = dict(os.environ, PYTHONPATH=str(tree), LDNSIM_CACHE_DIR=str(cache),
               MPLBACKEND="Agg")
    cmd = [sys.executable, "-c", _CHILD, str(tree), "run", EXPERIMENT, "-o", str(out),
           "--threads", str(threads), "--no-progress"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    load = os.getloadavg()
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=tree, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"headline run in {tree} failed:\n{proc.stderr[-3000:]}")
    solver_s = float(next(ln for ln in proc.stderr.splitlines()
                          if ln.startswith("SOLVER_S ")).split()[1])
    return {"wall_s": round(wall, 2), "solver_wall_s": round(solver_s, 2),
            "user_s": round(after.ru_utime - before.ru_utime, 2),
            "sys_s": round(after.ru_stime - before.ru_stime, 2),
            "load_start": [round(x, 2) for x in load]}


def report(tree, nc):
    proc = subprocess.run([sys.executable, "experiments/window_report.py", str(nc)], cwd=tree,
                          env=dict(os.environ, PYTHONPATH=str(tree), MPLBACKEND="Agg"),
                          capture_output=True, text=True, check=True)
    return proc.stdout


def max_scaled_diff(a_nc, b_nc):
    """Largest ``|a - b| / (1e-9 + 1e-6 |b|)`` over the float variables both files hold."""
    import numpy as np
    import xarray as xr
    a, b = xr.open_dataset(a_nc), xr.open_dataset(b_nc)
    worst, where = 0.0, ""
    for name in b.data_vars:
        if name not in a or b[name].dtype.kind != "f":
            continue
        x, y = a[name].values, b[name].values
        if x.shape != y.shape:
            return float("inf"), f"{name}: shapes {x.shape} vs {y.shape}"
        ok = np.isfinite(x) & np.isfinite(y)
        if not np.array_equal(np.isfinite(x), np.isfinite(y)):
            return float("inf"), f"{name}: non-finite entries differ"
        if ok.any():
            d = float(np.max(np.abs(x[ok] - y[ok]) / (1e-9 + 1e-6 * np.abs(y[ok]))))
            if d > worst:
                worst, where = d, name
    return worst, where


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--base", default="9502a41", help="commit whose solver kernels are A")
    ap.add_argument("--pairs", type=int, default=3, help="timed A/B pairs (default 3)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=str(HERE / "results" / "headline_ab.json"))
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="ldnsim_ab_") as tmp:
        work = Path(tmp)
        head, tree_a, tree_b = build_trees(work, args.base)
        trees = {"A": tree_a, "B": tree_b}
        runs = []
        for side in ("A", "B"):  # untimed: fills each tree's numba and model caches
            r = run_once(trees[side], work / f"warm-{side}.nc", args.threads,
                         work / f"cache-{side}")
            runs.append(dict(r, side=side, rep=0, note="first run (compiles; not compared)"))
            print(f"warm-up {side}: wall {r['wall_s']} s, CPU {r['user_s'] + r['sys_s']:.1f} s",
                  flush=True)
        for rep in range(1, args.pairs + 1):
            order = ("A", "B") if rep % 2 else ("B", "A")
            for side in order:
                r = run_once(trees[side], work / f"{side}-{rep}.nc", args.threads,
                             work / f"cache-{side}")
                runs.append(dict(r, side=side, rep=rep))
                print(f"pair {rep} {side}: wall {r['wall_s']} s (solver {r['solver_wall_s']} s),"
                      f" CPU {r['user_s'] + r['sys_s']:.1f} s, load {r['load_start'][0]}",
                      flush=True)
        rep_a = report(tree_a, work / "A-1.nc")
        rep_b = report(tree_b, work / "B-1.nc")
        diff, where = max_scaled_diff(work / "A-1.nc", work / "B-1.nc")

    def med(side, key):
        xs = sorted(r[key] + (r["sys_s"] if key == "user_s" else 0.0)
                    for r in runs if r["side"] == side and r["rep"] > 0)
        return xs[len(xs) // 2]

    summary = {
        "cpu_s_median": {s: med(s, "user_s") for s in "AB"},
        "wall_s_median": {s: med(s, "wall_s") for s in "AB"},
        "solver_wall_s_median": {s: med(s, "solver_wall_s") for s in "AB"},
    }
    summary["cpu_ratio_A_over_B"] = round(summary["cpu_s_median"]["A"]
                                          / summary["cpu_s_median"]["B"], 3)
    summary["wall_ratio_A_over_B"] = round(summary["wall_s_median"]["A"]
                                           / summary["wall_s_median"]["B"], 3)
    pair_ratios = []
    for rep in range(1, args.pairs + 1):
        a = next(r for r in runs if r["side"] == "A" and r["rep"] == rep)
        b = next(r for r in runs if r["side"] == "B" and r["rep"] == rep)
        pair_ratios.append({"rep": rep, "wall": round(a["wall_s"] / b["wall_s"], 3),
                            "cpu": round((a["user_s"] + a["sys_s"])
                                         / (b["user_s"] + b["sys_s"]), 3)})
    same_report = rep_a == rep_b
    result = {
        "what": ("headline experiment A/B: ldnsim run " + EXPERIMENT + f" --threads "
                 f"{args.threads} --no-progress; A = HEAD {head} with the solver kernels of "
                 f"{args.base} (ldnsim/_kernels, _sparsity, model cfuncs with reference "
                 f"counting, the zero-filling jac, no generated LU), B = HEAD {head}; same "
                 f"model and experiment files"),
        "command": "python benchmarks/headline_ab.py " + " ".join(argv or sys.argv[1:]),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "cpus": os.cpu_count(),
        "runs": runs, "pair_ratios": pair_ratios, "summary": summary,
        "window_report_identical": same_report,
        "max_scaled_difference": {"value": diff, "variable": where,
                                  "scale": "1e-9 + 1e-6 |B|"},
        "window_report_A": rep_a.splitlines(), "window_report_B": rep_b.splitlines(),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(f"A/B CPU {summary['cpu_s_median']['A']:.1f} / {summary['cpu_s_median']['B']:.1f} s "
          f"= {summary['cpu_ratio_A_over_B']}x; wall {summary['wall_s_median']['A']:.1f} / "
          f"{summary['wall_s_median']['B']:.1f} s = {summary['wall_ratio_A_over_B']}x "
          f"(in the solver {summary['solver_wall_s_median']['A']:.1f} / "
          f"{summary['solver_wall_s_median']['B']:.1f} s); "
          f"pairs {pair_ratios}")
    print(f"window_report identical: {same_report}; largest difference {diff:.3g} x "
          f"(1e-9 + 1e-6 |x|) in {where}; written {args.out}")
    return result


if __name__ == "__main__":
    main()
