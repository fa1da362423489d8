"""Estimation benchmark: fits per minute, and finite-difference vs forward-sensitivity gradients.

Problems (synthetic data, proportional noise, ``ldnsim.estimation.synthetic_dataset``):

* ``oral``: ``one_compartment_oral``, 4 subjects (25-200 mg), 7 samples each; fit ka, CL, V.
* ``two_cpt``: ``two_compartment_iv``, 4 subjects (50-400 mg IV), 9 samples; fit CL, V1, Q, V2.
* ``ldn_pk``: the PK part of ``models/ldn.toml`` (the full 24-state model is simulated), 5
  subjects with single oral doses of 2, 5, 15, 50 and 100 mg, plasma naltrexone (``C_ntx``) and
  6-beta-naltrexol (``C_6bn``) at 0.5, 1, 2, 4, 8, 12, 24 and 48 h, 15 % noise; fit ka, V_ntx,
  CL_ntx, V_6bn, CL_6bn (+ one proportional error per output). A stand-in for the LDN PK fit
  (the science engineer is rewriting that PK).

For each problem and gradient: the time of one "prediction + Jacobian" (one batch: 1 + 2p rows
per subject for central finite differences, 1 row of the augmented model for sensitivities;
median of repeats) and the wall time of whole ML fits (1 start, default tolerances, one per
seeded data set; fits per minute = 60 / median). The sensitivity model's one-off cost (sympy +
numba compile; a warm numba cache makes it small) is reported separately as ``setup s``.
Fits simulate the reduced model (``ldnsim.estimation.reduce``: for ldn_pk 7 of the 24 states);
``--full`` simulates the whole model instead (FD only: the sensitivity model of all 24 states,
144 states in all, did not finish compiling in 16 minutes here).

    python benchmarks/estimation.py                     # ~5-10 min on 2 shared cores
    python benchmarks/estimation.py --demo /tmp/ldn     # write the ldn_pk data + a fit config
    ldnsim fit /tmp/ldn/ldn_pk.toml -o /tmp/ldn/ldn_pk.nc   # ... and fit it, with profiles
    python benchmarks/estimation.py --fits 3 --problems oral,ldn_pk --threads 1

Writes ``benchmarks/results/estimation.json``.
"""
from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import common  # noqa: E402
from common import print_env, print_table, write_json  # noqa: E402

PROBLEMS = {
    "oral": dict(model="one_compartment_oral", params={"ka": 0.7, "CL": 210.0, "V": 1350.0},
                 doses=[25, 50, 100, 200], times=[0.5, 1, 2, 4, 8, 12, 24],
                 names=["C_plasma"], sd=0.1),
    "two_cpt": dict(model="two_compartment_iv", params={"CL": 10.0, "V1": 20.0, "Q": 5.0,
                                                        "V2": 50.0},
                    doses=[50, 100, 200, 400], times=[0.25, 0.5, 1, 2, 4, 8, 12, 24, 48],
                    names=["C_plasma"], sd=0.1),
    "ldn_pk": dict(model="ldn", params={"ka": 3.179, "V_ntx": 158.9, "CL_ntx": 26.62,
                                        "V_6bn": 239.1, "CL_6bn": 12.87},
                   doses=[2, 5, 15, 50, 100], times=[0.5, 1, 2, 4, 8, 12, 24, 48],
                   names=["C_ntx", "C_6bn"], sd=0.15),
}


def data_for(spec, seed):
    from ldnsim.dataset import read_dataset
    from ldnsim.estimation import synthetic_dataset
    text = synthetic_dataset(spec["model"], {i: [(0.0, float(d))] for i, d in
                                             enumerate(spec["doses"])},
                             spec["times"], spec["names"], params=spec["params"], seed=seed,
                             sd=spec["sd"])
    return read_dataset(text, spec["model"])


def time_jacobian(obj, x, repeats):
    times = []
    for k in range(repeats):
        obj._cache.clear()
        t = time.perf_counter()
        obj.f_and_jac(x + 1e-7 * k)
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def run(name, spec, gradient, n_fits, repeats, reduce):
    from ldnsim.estimation import fit_problem
    from ldnsim.estimation.objective import Objective
    from ldnsim.estimation.problem import build_problem

    data = data_for(spec, 0)
    pb = build_problem(spec["model"], data, list(spec["params"]), reduce=reduce)
    t = time.perf_counter()
    obj = Objective(pb, gradient=gradient)
    setup = time.perf_counter() - t
    x = obj.x0 + 0.05
    obj.f_and_jac(x)  # warm-up (numba dispatch)
    jac = time_jacobian(obj, x, repeats)
    fits, sims, truth_in_ci = [], [], []
    for seed in range(n_fits):
        d = data_for(spec, 100 + seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t = time.perf_counter()
            pb_fit = build_problem(spec["model"], d, {k: {"init": v * 1.3} for k, v in
                                                      spec["params"].items()}, reduce=reduce)
            ds = fit_problem(pb_fit, gradient=gradient)
            fits.append(time.perf_counter() - t)
        sims.append(int(ds.attrs["n_simulations"]))
        truth_in_ci.append(sum(bool(ds["ci_lower"].sel(parameter=k) <= v <=
                                    ds["ci_upper"].sel(parameter=k))
                               for k, v in spec["params"].items()))
    return {"problem": name, "model": spec["model"], "gradient": gradient,
            "states": len(pb.sim_model.states),
            "subjects": len(spec["doses"]), "observations": pb.n_obs,
            "parameters": len(spec["params"]), "setup_s": setup, "jacobian_ms": jac * 1e3,
            "fit_s_median": float(np.median(fits)), "fits": fits,
            "fits_per_minute": 60.0 / float(np.median(fits)),
            "candidate_rows_median": float(np.median(sims)),
            "truth_in_95ci": f"{sum(truth_in_ci)}/{len(truth_in_ci) * len(spec['params'])}"}


DEMO_CONFIG = """\
# Stand-in for the LDN PK fit: synthetic data from models/ldn.toml (benchmarks/estimation.py).
[fit]
name = "ldn_pk"
model = "ldn"
data = "ldn_pk_synthetic.csv"
method = "ml"
starts = 2
seed = 1

[parameters]
{params}

[error]
model = "proportional"

[profile]
parameters = true

[predictive]
draws = 200
seed = 2
"""


def write_demo(folder):
    """The ldn_pk synthetic data (seed 0) and a fit configuration with profiles."""
    from ldnsim.estimation import synthetic_dataset
    spec = PROBLEMS["ldn_pk"]
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    text = synthetic_dataset(spec["model"], {i: [(0.0, float(d))] for i, d in
                                             enumerate(spec["doses"])},
                             spec["times"], spec["names"], params=spec["params"], seed=0,
                             sd=spec["sd"], notes=["synthetic: models/ldn.toml at its values, "
                                                   "15 % proportional noise, seed 0"])
    (folder / "ldn_pk_synthetic.csv").write_text(text)
    params = "\n".join(f"{k} = {{ init = {v * 1.3!r} }}" for k, v in spec["params"].items())
    (folder / "ldn_pk.toml").write_text(DEMO_CONFIG.format(params=params))
    print(f"wrote {folder / 'ldn_pk_synthetic.csv'} and {folder / 'ldn_pk.toml'}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--problems", default="oral,two_cpt,ldn_pk")
    ap.add_argument("--fits", type=int, default=5, help="seeded data sets fitted per case")
    ap.add_argument("--repeats", type=int, default=15, help="timed Jacobian evaluations")
    ap.add_argument("--full", action="store_true",
                    help="simulate the full models (no reduction to the observed part)")
    ap.add_argument("--threads", type=int, help="numba threads (default: all)")
    ap.add_argument("--out", default=str(HERE / "results" / "estimation.json"))
    ap.add_argument("--demo", metavar="DIR", help="only write the ldn_pk data and fit config")
    args = ap.parse_args()
    if args.demo:
        write_demo(args.demo)
        return
    if args.threads:
        import numba
        numba.set_num_threads(args.threads)
    env = common.env_info()
    print_env(env)
    rows = []
    for name in args.problems.split(","):
        spec = PROBLEMS[name]
        for gradient in ("fd",) if args.full else ("fd", "sensitivity"):
            print(f"# {name} / {gradient} ...", flush=True)
            rows.append(run(name, spec, gradient, args.fits, args.repeats, not args.full))
    table = print_table(rows, [("problem", "problem", "s"), ("gradient", "gradient", "s"),
                               ("states", "states", "d"),
                               ("parameters", "p", "d"), ("observations", "n obs", "d"),
                               ("setup_s", "setup s", ".3g"),
                               ("jacobian_ms", "f+J ms", ".3g"),
                               ("fit_s_median", "fit s", ".3g"),
                               ("fits_per_minute", "fits/min", ".3g"),
                               ("candidate_rows_median", "rows/fit", ".0f"),
                               ("truth_in_95ci", "truth in CI", "s")],
                        title="Estimation: ML fits, 1 start")
    path = write_json(args.out, {"env": env, "threads": args.threads, "rows": rows,
                                 "table": table})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
