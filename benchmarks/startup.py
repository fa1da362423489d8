"""Start-up benchmark: how long until a fresh Python process has its first ROBER solution?

* cold start: empty numba cache (``NUMBA_CACHE_DIR`` and ``LDNSIM_CACHE_DIR`` point to a new
  empty temporary directory), so every ldnsim kernel is compiled;
* warm start: a new process with the same, now filled, cache directory (cache hit).

Each measurement is a fresh subprocess. The clock starts in the parent just before the
process is spawned, so interpreter start-up and all imports count. The child reports when it
finished importing numpy+numba, ``import ldnsim``, ``import ldnsim.solver`` and the first
``integrate`` call (ROBER, t in [0, 1e5], rtol 1e-8, atol 1e-10, analytic Jacobian,
``autonomous=True``). The user's ``rhs``/``jac`` are plain ``@numba.njit`` functions defined
in the child, as a user would write them; the default path compiles them (as ``cfunc``s) in
every process, cache or not.

    python benchmarks/startup.py                 # 3 cold + 3 warm, default kernels
    python benchmarks/startup.py --specialize    # also specialize=True (not cached: slow)

Writes ``benchmarks/results/startup.json``.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

import common
from common import print_env, print_table, write_json

CHILD = r"""
import time, json, sys
clk = lambda: time.clock_gettime(time.CLOCK_MONOTONIC)
T = {"script": clk()}
import numpy as np, numba
T["numpy_numba"] = clk()
import ldnsim
T["ldnsim"] = clk()
from ldnsim.solver import integrate
T["ldnsim_solver"] = clk()

@numba.njit
def rhs(t, y, p, dy):
    dy[0] = -p[0] * y[0] + p[2] * y[1] * y[2]
    dy[1] = p[0] * y[0] - p[1] * y[1] * y[1] - p[2] * y[1] * y[2]
    dy[2] = p[1] * y[1] * y[1]

@numba.njit
def jac(t, y, p, J):
    J[0, 0] = -p[0]; J[0, 1] = p[2] * y[2]; J[0, 2] = p[2] * y[1]
    J[1, 0] = p[0]; J[1, 1] = -2.0 * p[1] * y[1] - p[2] * y[2]; J[1, 2] = -p[2] * y[1]
    J[2, 0] = 0.0; J[2, 1] = 2.0 * p[1] * y[1]; J[2, 2] = 0.0

t_eval = np.concatenate([[0.0], np.logspace(-5, 5, 99)])
if CACHED_CFUNCS:  # the user hands ldnsim cfuncs that numba caches on disk
    from ldnsim.solver import RHS_SIGNATURE, JAC_SIGNATURE
    rhs = numba.cfunc(RHS_SIGNATURE, cache=True, error_model="numpy")(rhs.py_func)
    jac = numba.cfunc(JAC_SIGNATURE, cache=True, error_model="numpy")(jac.py_func)
elif not SPECIALIZE:  # split the first call: compiling the user's functions as cfuncs ...
    from ldnsim.solver import as_kernel_function, RHS_SIGNATURE, JAC_SIGNATURE
    as_kernel_function(rhs, RHS_SIGNATURE)
    as_kernel_function(jac, JAC_SIGNATURE)
T["user_cfuncs"] = clk()  # ... and the integrate call (kernel load from cache or compile)
res = integrate(rhs, np.array([1.0, 0.0, 0.0]), t_eval, np.array([0.04, 3e7, 1e4]), jac=jac,
                rtol=1e-8, atol=1e-10, autonomous=True, specialize=SPECIALIZE)
T["first_solve"] = clk()
res2 = integrate(rhs, np.array([1.0, 0.0, 0.0]), t_eval, np.array([0.041, 3e7, 1e4]), jac=jac,
                 rtol=1e-8, atol=1e-10, autonomous=True, specialize=SPECIALIZE)
T["second_solve"] = clk()
print("RESULT " + json.dumps({"t": T, "y_end": res.y[-1].tolist(), "status": int(res.status)}))
"""

ROBER_1E5 = np.array([0.017865921142100154, 7.274751468436565e-08, 0.9821340061103905])
STAGES = ["script", "numpy_numba", "ldnsim", "ldnsim_solver", "user_cfuncs", "first_solve",
          "second_solve"]


def run_child(cache_dir, mode, tree=common.REPO):
    specialize = mode == "specialize"
    env = dict(os.environ)
    env["NUMBA_CACHE_DIR"] = os.path.join(cache_dir, "numba")
    env["LDNSIM_CACHE_DIR"] = os.path.join(cache_dir, "ldnsim")
    env["PYTHONPATH"] = str(tree) + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("NUMBA_DISABLE_JIT", None)
    code = (CHILD.replace("SPECIALIZE", repr(specialize))
            .replace("CACHED_CFUNCS", repr(mode == "cached-cfunc")))
    # The child is a file (numba can cache only functions defined in files).
    script = os.path.join(cache_dir, "first_solve.py")
    with open(script, "w") as fh:
        fh.write(code)
    t0 = time.clock_gettime(time.CLOCK_MONOTONIC)
    proc = subprocess.run([sys.executable, script], env=env, capture_output=True,
                          text=True, cwd=cache_dir)
    t_exit = time.clock_gettime(time.CLOCK_MONOTONIC) - t0
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode != 0 or not line:
        raise RuntimeError(f"child failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    out = json.loads(line[0][7:])
    rel = {k: out["t"][k] - t0 for k in STAGES}
    rel["process_exit"] = t_exit
    err = float(np.max(np.abs(np.array(out["y_end"]) - ROBER_1E5) / ROBER_1E5))
    return rel, err


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=3, help="cold and warm runs each")
    ap.add_argument("--specialize", action="store_true",
                    help="also measure specialize=True (compiles per process; ~10 s a run)")
    ap.add_argument("--quick", action="store_true", help="one cold and one warm run")
    ap.add_argument("--out", default=str(common.RESULTS / "startup.json"))
    ap.add_argument("--tree", default=str(common.REPO),
                    help="the checkout whose ldnsim the children import (default: this one), "
                         "e.g. a `git archive` of another commit")
    args = ap.parse_args(argv)
    if args.quick:
        args.repeats = 1
    env = common.env_info()
    print_env(env)
    modes = ["default", "cached-cfunc"] + (["specialize"] if args.specialize else [])
    runs = []
    for name in modes:
        for r in range(args.repeats if name != "specialize" else min(args.repeats, 2)):
            d = tempfile.mkdtemp(prefix="ldnsim-startup-")
            try:
                # cold: empty cache dir; then warm: a new process, same (filled) cache dir.
                # Cold and warm alternate so both see the same background load.
                for kind in ("cold", "warm"):
                    rel, err = run_child(d, name, args.tree)
                    runs.append({"kernels": name, "kind": kind, "repeat": r, "rel_err": err,
                                 **rel})
                    print(f"  {name:10s} {kind} #{r + 1}: first solve at "
                          f"{rel['first_solve']:.3f} s (import ldnsim "
                          f"{rel['ldnsim'] - rel['numpy_numba']:.3f} s)", flush=True)
            finally:
                shutil.rmtree(d, ignore_errors=True)

    rows = []
    for name in modes:
        for kind in ("cold", "warm"):
            sel = [x for x in runs if x["kernels"] == name and x["kind"] == kind]
            med = lambda key, sel=sel: float(np.median([x[key] for x in sel]))  # noqa: E731
            med_d = lambda a, b, sel=sel: float(np.median([x[b] - x[a] for x in sel]))  # noqa: E731
            rows.append({
                "kernels": name, "kind": kind, "runs": len(sel),
                "python_start": med("script"),
                "import_numpy_numba": med_d("script", "numpy_numba"),
                "import_ldnsim": med_d("numpy_numba", "ldnsim"),
                "import_solver": med_d("ldnsim", "ldnsim_solver"),
                "user_cfuncs": med_d("ldnsim_solver", "user_cfuncs"),
                "first_call": med_d("user_cfuncs", "first_solve"),
                "to_first_solve": med("first_solve"),
                "second_call_ms": 1e3 * med_d("first_solve", "second_solve"),
                "process_exit": med("process_exit"),
                "max_rel_err_vs_ref": max(x["rel_err"] for x in sel),
            })
    cols = [("kernels", "kernels", None), ("kind", "start", None), ("runs", "runs", "d"),
            ("python_start", "interp. start s", ".3f"),
            ("import_numpy_numba", "import numpy+numba s", ".3f"),
            ("import_ldnsim", "import ldnsim s", ".3f"),
            ("import_solver", "import ldnsim.solver s", ".3f"),
            ("user_cfuncs", "rhs+jac -> cfunc s", ".3f"),
            ("first_call", "1st integrate() s", ".3f"),
            ("to_first_solve", "start->1st solve s", ".3f"),
            ("second_call_ms", "2nd solve ms", ".2f"), ("process_exit", "process exit s", ".3f"),
            ("max_rel_err_vs_ref", "rel err vs ref", ".1e")]
    table = print_table(rows, cols, title="\n### start-up to the first ROBER solve "
                                          "(medians; seconds from spawning the process)")
    warm = next(r for r in rows if r["kernels"] == "default" and r["kind"] == "warm")
    verdict = ("MET" if warm["to_first_solve"] < 1.0 else "MISSED")
    print(f"\n  target warm start < 1 s (default kernels): {warm['to_first_solve']:.3f} s "
          f"-> {verdict}")
    path = write_json(args.out, {"benchmark": "startup", "args": vars(args), "env": env,
                                 "runs": runs, "rows": rows, "table_markdown": table,
                                 "target_warm_lt_1s": {"value_s": warm["to_first_solve"],
                                                       "met": warm["to_first_solve"] < 1.0}})
    print(f"# wrote {path}")


if __name__ == "__main__":
    main()
