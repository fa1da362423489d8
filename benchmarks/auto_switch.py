"""What ``method="auto"`` (the default since issue 14) buys on the shipped models.

Question answered: per ensemble member, on one thread, how long do the shipped PK models and
the LDN model take with ``rodas5p``, ``dopri5`` and ``auto``, how many steps and LU
factorisations does each take, and is ``auto`` within tolerance of a tight reference? The
setting is the experiments' default: rtol 1e-6 / atol 1e-9, one dose every 24 h for 8 weeks
(56 doses into the model's dose target), hourly outputs, ``run_rows`` (the sweep engine's code
path), 50 members with +-20 % log-normal variation of the PK parameters (``MODELS``; for the
LDN model the four of ``ldn_model.py``).

    python benchmarks/auto_switch.py                      # ~2 min; writes results/auto_switch.json
    python benchmarks/auto_switch.py --members 20 --repeats 3 --models ldn

Timing is interleaved (every method of a model once per repeat, the order rotated), and each
call records both wall time and the process's CPU time (one thread, so CPU time is the
solver's own time and does not grow when other processes share the cores); the tables give
medians per member. Accuracy: ``max |y - ref| / (atol + rtol |ref|)`` over all states, outputs
and members, against Rodas5P at rtol 1e-11 / atol 1e-14.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numba
import numpy as np

from ldnsim.dosing import Regimen
from ldnsim.events import pad_event_tables
from ldnsim.model import load_model
from ldnsim.simulation import run_rows

import common
from common import env_info, print_env, print_table, write_json

MODELS = {  # model -> daily dose (in the model's dose unit), parameters varied between members
    "one_compartment_oral": (100.0, ("ka", "CL", "V")),
    "two_compartment_iv": (100.0, ("CL", "V1", "Q", "V2")),
    "pkpd_indirect": (100.0, ("ka", "CL", "V2", "Q", "V3", "Kin", "Kout", "EC50")),
    "ldn": (4.5, ("ka", "CL_ntx", "V_ntx", "Kd_ntx")),  # as in ldn_model.py
}
METHODS = ("rodas5p", "dopri5", "auto")
RTOL, ATOL = 1e-6, 1e-9
REF_RTOL, REF_ATOL = 1e-11, 1e-14


def setup(name, members, seed):
    dose, varied = MODELS[name]
    model = load_model(name)
    compiled = model.compile()
    t_eval = np.arange(0.0, 24.0 * 56 + 1.0)
    events = pad_event_tables([Regimen.repeat(dose, every=24.0, count=56).expand(model)])
    p0 = model.parameter_vector()
    rng = np.random.default_rng(seed)
    P = np.tile(p0, (members, 1))
    idx = [compiled.parameter_index(v) for v in varied]
    P[:, idx] *= np.exp(0.2 * rng.standard_normal((members, len(idx))))
    return compiled, t_eval, P, model.initial_state(), events


def timed(fn):
    w0, c0 = time.perf_counter(), time.process_time()
    res = fn()
    return res, time.perf_counter() - w0, time.process_time() - c0


def run(args):
    numba.set_num_threads(1)
    env = env_info()
    print_env(env)
    rows, out = [], {"env": env, "rtol": RTOL, "atol": ATOL, "members": args.members,
                     "repeats": args.repeats, "models": {}}
    for name in args.models.split(","):
        job = setup(name, args.members, args.seed)

        def call(method, rtol=RTOL, atol=ATOL, job=job):
            return run_rows(*job, method=method, rtol=rtol, atol=atol, max_steps=10_000_000)

        ref = call("rodas5p", REF_RTOL, REF_ATOL)
        wall = {m: [] for m in METHODS}
        cpu = {m: [] for m in METHODS}
        res = {m: call(m) for m in METHODS}  # warm-up (compilation, cache loads)
        for r in range(args.repeats):
            order = METHODS[r % 3:] + METHODS[:r % 3]
            for m in order:
                res[m], w, c = timed(lambda m=m: call(m))
                wall[m].append(w)
                cpu[m].append(c)
        entry = {}
        for m in METHODS:
            st = {k: float(np.mean(v)) for k, v in res[m].stats.items()}
            err = max(
                float(np.nanmax(np.abs(a - b) / (ATOL + RTOL * np.abs(b))))
                for a, b in ((res[m].states, ref.states), (res[m].outputs, ref.outputs))
                if a.size)
            entry[m] = {"wall_s": wall[m], "cpu_s": cpu[m], "stats": st, "err_over_tol": err,
                        "status_ok": bool(np.all(res[m].status == 0))}
            rows.append({"model": name, "method": m,
                         "cpu_ms": 1e3 * np.median(cpu[m]) / args.members,
                         "wall_ms": 1e3 * np.median(wall[m]) / args.members,
                         "steps": st["n_accepted"] + st["n_rejected"], "lu": st["n_lu"],
                         "rhs": st["n_rhs"], "err": err,
                         "vs_rodas": np.median(cpu["rodas5p"]) / np.median(cpu[m])})
        out["models"][name] = entry
        print(f"  {name}: done", flush=True)
    print_table(rows, [("model", "model", None), ("method", "method", None),
                       ("cpu_ms", "CPU ms/member", ".4g"), ("wall_ms", "wall ms/member", ".4g"),
                       ("steps", "steps", ".0f"), ("lu", "LUs", ".0f"), ("rhs", "RHS", ".0f"),
                       ("err", "max err / tol", ".2f"),
                       ("vs_rodas", "rodas5p CPU / this CPU", ".2f")],
                title=f"\n### method auto vs rodas5p and dopri5 (1 thread, {args.members} "
                      f"members, median of {args.repeats}; rtol {RTOL:g} atol {ATOL:g})")
    out["rows"] = rows
    out["loadavg_end"] = os.getloadavg()
    print(f"# load at the end {out['loadavg_end']}")
    path = write_json(common.RESULTS / args.out, out)
    print(f"# wrote {path}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--members", type=int, default=50)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--seed", type=int, default=20240601)
    ap.add_argument("--out", default="auto_switch.json")
    run(ap.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
