"""How much faster is solving for the periodic steady state than simulating to it, and do they
agree?

For each case (model, parameters, dose every tau) the steady state just before a dose
(NONMEM SS=1) is found three ways with the same solver settings:

- brute force: one simulation of N intervals from zero (outputs at the dose times); N is the
  first interval after which the pre-dose state changes by less than atol + rtol*|y| in every
  state, the time is that of simulating N intervals (a run of 1.2 N, timed, scaled to N);
- ``ldnsim.steady.steady_state`` with Anderson acceleration and with Newton (finite-difference
  Jacobian), timed after a warm-up call (numba compiled).

Times are the fastest of ``--repeats`` runs (the machine is shared; others only add time).

States that no equation reads (accumulators: amount eliminated, in urine, ...) have no steady
state; both ways leave them out (``ldnsim.steady.held_states``).

Agreement: the largest relative difference (over states above 1e-6 of the largest) against a
brute-force reference run to 3 N intervals at rtol 1e-10, and, for the one-compartment model,
against the superposition closed form.

    python benchmarks/steady_state.py                # writes benchmarks/results/steady_state.json
    python benchmarks/steady_state.py --rows 64      # 64 rows solved together
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ldnsim import load_model
from ldnsim.dosing import Dose, Regimen
from ldnsim.events import pad_event_tables
from ldnsim.simulation import run_rows
from ldnsim.steady import held_states, steady_state

CASES = [
    # name, model, params, dose, tau
    ("1-cpt oral, t1/2 4.5 h, q24h", "one_compartment_oral", {"CL": 210.0}, 50.0, 24.0),
    ("1-cpt oral, t1/2 47 h, q24h", "one_compartment_oral", {"CL": 20.0}, 50.0, 24.0),
    ("1-cpt oral, t1/2 187 h, q12h", "one_compartment_oral", {"CL": 5.0}, 50.0, 12.0),
    ("2-cpt IV bolus, q24h", "two_compartment_iv", {}, 100.0, 24.0),
    ("LDN model (33 states), 4.5 mg q24h", "ldn", {}, 4.5, 24.0),
]


def _median_time(fn, repeats):
    """The fastest of ``repeats`` runs (CPU-bound work on a shared machine: other processes
    only ever add time), and the last result."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return float(np.min(times)), out


def _simulate(compiled, model, P, dose, tau, n, opts):
    """(rows, n + 1, n_states): the state just before dose k at k*tau (k = 0..n)."""
    reg = Regimen([Dose(dose, every=tau, count=n)])
    t = np.arange(n + 1) * tau
    table = reg.expand(model)
    res = run_rows(compiled, t, P, model.initial_state(), pad_event_tables([table]), **opts)
    y = res.states.copy()
    # outputs are right-continuous: at a dose time they include the bolus; take it back out
    first = table.time == 0.0
    for idx, amount in zip(table.index[first & (table.kind == 0)],
                           table.amount[first & (table.kind == 0)]):
        y[:, :n, idx] -= amount
    return y


def _periods_to_converge(y, rtol, atol, held):
    y = y[..., ~held]  # accumulators (amount eliminated, ...) have no steady state
    d = np.abs(np.diff(y, axis=1))
    tol = atol + rtol * np.abs(y[:, 1:])
    ok = np.all(d <= tol, axis=(0, 2))
    idx = np.flatnonzero(ok)
    return int(idx[0]) + 1 if idx.size else None


def _rel(a, b, held):
    a, b = a[~held], b[~held]
    big = np.abs(b) > 1e-6 * np.max(np.abs(b))
    return float(np.max(np.abs(a[big] - b[big]) / np.abs(b[big])))


def run_case(name, model_name, params, dose, tau, rows, repeats, rtol, atol, max_periods):
    model = load_model(model_name)
    compiled = model.compile()
    P = np.repeat(model.parameter_vector(params)[None], rows, axis=0)
    opts = dict(method="rodas5p", rtol=rtol, atol=atol, max_steps=1_000_000)
    y = _simulate(compiled, model, P, dose, tau, max_periods, opts)
    held = held_states(compiled)
    n_bf = _periods_to_converge(y, rtol, atol, held)
    if n_bf is None:
        return {"case": name, "error": f"not converged in {max_periods} intervals"}
    n_run = int(np.ceil(1.2 * n_bf))
    t_run, _ = _median_time(lambda: _simulate(compiled, model, P, dose, tau, n_run, opts),
                            repeats)
    t_bf = t_run * n_bf / n_run
    reg = Regimen([Dose(dose, every=tau, ss=True)])
    out = {"case": name, "model": model_name,
           "held_states": [model.state_names[j] for j in np.flatnonzero(held)],
           "params": params, "dose": dose, "tau": tau,
           "rows": rows, "rtol": rtol, "atol": atol, "brute_force_intervals": n_bf,
           "brute_force_seconds": t_bf}
    ref = _simulate(compiled, model, P[:1], dose, tau, 3 * n_bf,
                    dict(opts, rtol=1e-10, atol=atol * 1e-3))[0, -1]
    for acc in ("anderson", "newton"):
        steady_state(compiled, reg, P, model.initial_state(), acceleration=acc, **opts)
        t_acc, ss = _median_time(lambda acc=acc: steady_state(
            compiled, reg, P, model.initial_state(), acceleration=acc, **opts), repeats)
        out[acc] = {"seconds": t_acc, "intervals_per_row": ss.intervals / rows,
                    "iterations": int(ss.iterations.max()), "speedup": t_bf / t_acc,
                    "max_rel_diff_vs_reference": _rel(ss.states[0], ref, held)}
    out["brute_force_max_rel_diff_vs_reference"] = _rel(y[0, n_bf], ref, held)
    if model_name == "one_compartment_oral":
        ka, V, CL = 0.7, 1350.0, params["CL"]
        k = CL / V
        central = dose * ka / (ka - k) * (np.exp(-k * tau) / (1 - np.exp(-k * tau))
                                          - np.exp(-ka * tau) / (1 - np.exp(-ka * tau)))
        out["closed_form_central"] = central
        for acc in ("anderson", "newton"):
            ss = steady_state(compiled, reg, P[:1], model.initial_state(), acceleration=acc,
                              **opts)
            out[acc]["rel_diff_vs_closed_form"] = abs(ss.states[0, 1] - central) / central
        out["brute_force_rel_diff_vs_closed_form"] = abs(y[0, n_bf, 1] - central) / central
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=9)
    ap.add_argument("--rtol", type=float, default=1e-6)
    ap.add_argument("--atol", type=float, default=1e-9)
    ap.add_argument("--max-periods", type=int, default=2000)
    ap.add_argument("--only", nargs="*", help="model names")
    ap.add_argument("--threads", type=int, default=1,
                    help="numba threads (default 1: with one row, a second thread only waits; "
                         "on a loaded machine a parallel region costs tens of ms per solve)")
    ap.add_argument("--out", type=Path,
                    default=Path(__file__).parent / "results" / "steady_state.json")
    args = ap.parse_args(argv)
    import numba
    numba.set_num_threads(args.threads)
    results = []
    for case in CASES:
        if args.only and case[1] not in args.only:
            continue
        r = run_case(*case, rows=args.rows, repeats=args.repeats, rtol=args.rtol,
                     atol=args.atol, max_periods=args.max_periods)
        results.append(r)
        if "error" in r:
            print(f"{r['case']}: {r['error']}", flush=True)
            continue
        a, nw = r["anderson"], r["newton"]
        print(f"{r['case']}: brute force {r['brute_force_intervals']} intervals "
              f"{r['brute_force_seconds'] * 1e3:.1f} ms | Anderson {a['intervals_per_row']:.0f} "
              f"intervals {a['seconds'] * 1e3:.1f} ms (x{a['speedup']:.1f}, rel diff "
              f"{a['max_rel_diff_vs_reference']:.1e}) | Newton {nw['intervals_per_row']:.0f} "
              f"intervals {nw['seconds'] * 1e3:.1f} ms (x{nw['speedup']:.1f}, rel diff "
              f"{nw['max_rel_diff_vs_reference']:.1e}) | brute force rel diff "
              f"{r['brute_force_max_rel_diff_vs_reference']:.1e}", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"rows": args.rows, "threads": args.threads,
                                    "results": results}, indent=1,
                                   default=float))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
