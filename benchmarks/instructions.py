"""Instructions per solver step, counted with valgrind (repeatable on a shared, noisy machine).

Question answered: how many machine instructions does one Rodas5P step of a given problem
cost with this checkout's kernels, and with another commit's (``--base``)? Wall-clock A/B
tests on a shared machine move by 10-30 %; instruction counts do not move at all between runs
of the same code, so they are what kernel changes were judged by during development (the
final speed-ups are still measured in time, by the other scripts).

    python benchmarks/instructions.py ldn --members 1
    python benchmarks/instructions.py headline --members 20 --base b682810
    python benchmarks/instructions.py rober --members 20 --base b682810

Problems: ``ldn`` (the ``ldn_model.py`` setting: 4.5 mg a day for 8 weeks, hourly outputs),
``headline`` (one row per dose and scenario of experiments/immunomodulatory_window.toml, at the
nominal parameters, its output grid), and the Test Set problems of ``tests/ivp_problems.py``
(``rober``, ``pollu``, ``orego``, ``vdpol``, ``vdpolm``; rtol 1e-8, 100 or 61 outputs).

How: the problem is solved once natively (numba compiles or loads the kernels, for a fixed CPU
model, haswell, so that valgrind can run the same cached machine code), then once more under
``valgrind --tool=callgrind`` with collection switched on (through a tiny C helper built here
with the valgrind headers) only around the kernel calls (``driver.solve_one``, one member at a
time). Needs ``valgrind`` and ``gcc``; about 2 min per problem and tree.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from common import git_archive

HERE = Path(__file__).resolve().parent
REPO = HERE.parent

_HELPER_C = r"""
#include <valgrind/callgrind.h>
void cg_start(void) { CALLGRIND_ZERO_STATS; CALLGRIND_TOGGLE_COLLECT; }
void cg_stop(void) { CALLGRIND_TOGGLE_COLLECT; CALLGRIND_DUMP_STATS_AT("measured"); }
"""

# The child: builds the problem with the ldnsim on sys.path, solves it once, then again
# between the two client requests. argv: problem members helper.so method-id rtol (the last
# two only for the Test Set problems; 0 = Rodas5P, rtol 1e-8 as before)
_CHILD = r'''
import ctypes, json, os, sys
import numpy as np
prob, members, helper = sys.argv[1], int(sys.argv[2]), sys.argv[3]
method_id, tol = int(sys.argv[4]), float(sys.argv[5])
from ldnsim import _sparsity
from ldnsim._kernels import driver
from ldnsim.solver import STAT_NAMES
rng = np.random.default_rng(20240601)
if prob in ("ldn", "headline"):
    from ldnsim.dosing import Regimen
    from ldnsim.model import load_model
    try:  # the layout since issue 10 (events below the solver, CompiledModel.kernel_functions)
        from ldnsim.events import pad_event_tables
    except ImportError:
        from ldnsim.dosing import pad_event_tables
    m = load_model("ldn"); c = m.compile()
    if hasattr(c, "kernel_functions"):
        rhs, jac, _ = c.kernel_functions; aut = c.autonomous
        jac = getattr(c, "jac_nonzeros_kernel", jac)  # what run_rows passes (since issue 17)
    else:
        from ldnsim.simulation import kernel_functions
        rhs, jac, aut = kernel_functions(c)
    # as run_rows builds it: the generated Jacobian is exactly zero outside its pattern
    # (make_plan's exact= since issue 17; older trees check J against the pattern each step)
    import inspect
    exact = "exact" in inspect.signature(_sparsity.make_plan).parameters
    plan = _sparsity.make_plan(c.jac_sparsity, **({"exact": True} if exact else {}))
    y0 = m.initial_state(); rtol = 1e-6; atol = np.full(y0.size, 1e-9)
    if prob == "ldn":
        t_eval = np.arange(0.0, 1345.0)
        p0 = m.parameter_vector()
        idx = [c.parameter_index(k) for k in ("ka", "CL_ntx", "V_ntx", "Kd_ntx")]
        P = np.tile(p0, (members, 1))
        P[:, idx] *= np.exp(0.2 * rng.standard_normal((members, 4)))
        ev = pad_event_tables([Regimen.repeat(4.5, every=24.0, count=56).expand(m)])
        E = [tuple(a[0] for a in ev)] * members
    else:
        t_eval = np.concatenate([np.arange(0, 1176, 24.0), np.arange(1176, 1345, 1.0)])
        # experiments/immunomodulatory_window.toml: [model] scenarios and [sweep]
        scen = [("pharmaceutical", "tonic"), ("pharmaceutical", "rebound")]
        doses = [0.1, 0.25, 0.5, 1.0, 1.5, 3.0, 4.5, 6.0, 10.0, 50.0]
        cells = [(d, sc) for d in doses for sc in scen][:members]
        P = np.array([m.parameter_vector(scenarios=sc) for _, sc in cells])
        E = []
        for d, _ in cells:
            ev = pad_event_tables([Regimen.repeat(d, every=24.0, count=56).expand(m)])
            E.append(tuple(a[0] for a in ev))
else:
    sys.path.insert(0, os.path.join(os.environ["LDNSIM_BENCH_REPO"], "tests"))
    import ivp_problems as IP
    from ldnsim.solver import JAC_SIGNATURE, as_kernel_function
    r_, j_, y0, p, t1, ref, rule = IP.TESTSET[prob]
    rhs = as_kernel_function(r_); jac = as_kernel_function(j_, JAC_SIGNATURE); aut = True
    y0 = np.asarray(y0, float); n = y0.size
    P = np.asarray(p) * np.exp(0.1 * rng.standard_normal((members, len(p))))
    t_eval = (np.concatenate([[0.0], np.logspace(-5, 5, 99)]) if prob == "rober"
              else np.linspace(0.0, t1, 61))
    rtol = tol; atol = np.full(n, rule(rtol))
    pat = np.zeros((n, n), bool)
    J = np.empty((n, n))
    for s in (0.37, 0.71):
        j_(0.0, y0 + s * np.maximum(np.abs(y0), 1.0), np.asarray(p, float), J)
        pat |= J != 0
    plan = _sparsity.make_plan(pat)
    none = (np.full(1, np.inf), np.zeros(1, np.int64), np.zeros(1, np.int64), np.zeros(1))
    E = [none] * members
out = np.empty((t_eval.size, y0.size)); st = np.zeros(6, np.int64)
# kernels since issue 10 take an outputs function and array: none here (0 columns), so both
# kinds of tree count the solver alone
outputs_api = "outf" in driver.solve_one.py_func.__code__.co_varnames
outs = np.empty((t_eval.size, 0))
# kernels since issue 17 take the generated straight-line LU (glu); a generated model hands it
# to them as run_rows does (CompiledModel.sparse_lu), other problems pass the unused default
glu_api = "glu" in driver.solve_one.py_func.__code__.co_varnames
if glu_api:
    from ldnsim.solver import _glu
    glu = _glu(getattr(c, "sparse_lu", None) if prob in ("ldn", "headline") else None, plan)
def solve():
    for r in range(P.shape[0]):
        p_r = np.ascontiguousarray(P[r])
        if glu_api:
            driver.solve_one(rhs, jac, rhs, method_id, True, aut, y0, t_eval, p_r, *E[r], rtol,
                             atol, 10**7, 0.0, plan, glu, out, outs, st)
        elif outputs_api:
            driver.solve_one(rhs, jac, rhs, method_id, True, aut, y0, t_eval, p_r, *E[r], rtol,
                             atol, 10**7, 0.0, plan, out, outs, st)
        else:
            driver.solve_one(rhs, jac, method_id, True, aut, y0, t_eval, p_r, *E[r], rtol, atol,
                             10**7, 0.0, plan, out, st)
solve()
st[:] = 0
lib = ctypes.CDLL(helper)
lib.cg_start(); solve(); lib.cg_stop()
print("STATS " + json.dumps(dict(zip(STAT_NAMES, st.tolist()))))
'''


def count(tree, problem, members, helper, work, method_id=0, rtol=1e-8):
    """Instructions and solver counters for ``problem`` with the ldnsim of ``tree``."""
    env = dict(os.environ, PYTHONPATH=str(tree), NUMBA_CPU_NAME="haswell", NUMBA_CPU_FEATURES="",
               OMP_WAIT_POLICY="passive", NUMBA_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
               LDNSIM_BENCH_REPO=str(tree),
               LDNSIM_CACHE_DIR=str(Path(work) / ("cache-" + Path(tree).name)))
    script = Path(work) / "child.py"
    script.write_text(_CHILD)
    cmd = [sys.executable, str(script), problem, str(members), str(helper), str(method_id),
           repr(rtol)]
    subprocess.run(cmd, env=env, check=True, capture_output=True)  # compile/load natively
    out = Path(work) / f"cg-{Path(tree).name}"
    out.mkdir(exist_ok=True)
    proc = subprocess.run(["valgrind", "--tool=callgrind", "--collect-atstart=no",
                           f"--callgrind-out-file={out}/cg.%p"] + cmd,
                          env=env, capture_output=True, text=True)
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("STATS ")]
    if proc.returncode != 0 or not line:
        raise RuntimeError(f"valgrind run failed:\n{proc.stderr[-2000:]}")
    stats = json.loads(line[0][6:])
    ir = None
    for f in out.iterdir():
        text = f.read_text(errors="replace")
        if "measured" in text:
            ir = int(next(ln for ln in text.splitlines() if ln.startswith("summary:")).split()[1])
    steps = stats["n_accepted"] + stats["n_rejected"]
    return {"instructions": ir, "stats": stats, "per_member": ir / members,
            "per_step": ir / steps, "steps_per_member": steps / members}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("problem", help="ldn, headline, rober, pollu, orego, vdpol, vdpolm")
    ap.add_argument("--members", type=int, default=1)
    ap.add_argument("--base", help="also count this commit (git archive into a temporary tree)")
    ap.add_argument("--method", default="rodas5p",
                    help="Test Set problems only: rodas5p or rodas3 (the base must have it)")
    ap.add_argument("--rtol", type=float, default=1e-8,
                    help="Test Set problems only (atol by the problem's rule)")
    args = ap.parse_args(argv)
    from ldnsim.solver import METHODS
    if args.method not in ("rodas5p", "rodas3"):
        ap.error(f"--method: rodas5p or rodas3, got {args.method!r}")
    if args.problem in ("ldn", "headline") and (args.method != "rodas5p" or args.rtol != 1e-8):
        ap.error("--method and --rtol apply to the Test Set problems only")
    with tempfile.TemporaryDirectory(prefix="ldnsim_instr_") as work:
        src = Path(work) / "cg.c"
        src.write_text(_HELPER_C)
        helper = Path(work) / "libcg.so"
        subprocess.run(["gcc", "-O2", "-shared", "-fPIC", "-o", str(helper), str(src)],
                       check=True)
        trees = [("this checkout", REPO)]
        if args.base:
            base = git_archive(args.base, Path(work) / "base")
            trees.append((f"commit {args.base}", base))
        results = {}
        for name, tree in trees:
            r = count(tree, args.problem, args.members, helper, work, METHODS[args.method],
                      args.rtol)
            results[name] = r
            print(f"{args.problem} ({name}): {r['per_step']:.0f} instructions per step, "
                  f"{r['steps_per_member']:.1f} steps per member, "
                  f"{r['per_member'] / 1e6:.1f} M per member; stats {r['stats']}", flush=True)
        if args.base:
            a, b = results["this checkout"], results[f"commit {args.base}"]
            print(f"{args.problem}: {b['per_member'] / a['per_member']:.2f}x fewer instructions "
                  f"per member than {args.base} ({b['per_step'] / a['per_step']:.2f}x per step)")
    return results


if __name__ == "__main__":
    main()
