"""Zagon's mouse dichotomy under the model's uncertainty: which share of the declared hypothesis
ranges reproduces the SIGN of each tumour outcome, per mouse PK alternative and hypothesis.

    python experiments/mouse_dichotomy.py [--samples 100] [--seed 20261129] [-o results/mouse.npz]
    python experiments/mouse_dichotomy.py --load results/mouse.npz     # print a saved run again

The regimens are the naltrexone rows of models/data/consistency/mouse_tumour_outcomes.csv
([zagon1983] [zagon1984] [zagon1987]): 0.1 mg/kg daily (slowed), 0.4 mg/kg daily (slowed),
10 mg/kg daily (faster), 0.1 mg/kg every 6 h (faster), for 4 weeks in a 25 g mouse. The
hypothesis parameters are drawn as in the headline (the [sampling] section of
experiments/immunomodulatory_window.toml: Latin hypercube, log-uniform over the declared ranges,
the same seed); the mouse PK and blockade parameters are the fitted values of the scenarios
``mouse`` and ``mouse_sc_long``. The readout is the proliferation index after 4 weeks (a
hypothesis module: its sign is the prediction, not its size). Printed: the share of samples
with the right sign per regimen, the share with all four right ("dichotomy reproduced"), with
Monte Carlo 90% intervals, the file-value result, and the sampled parameters that most separate
reproducing from non-reproducing samples (Spearman correlation with a score).
"""
from __future__ import annotations

import argparse
import sys
import tomllib
from pathlib import Path

import numpy as np

import ldnsim
from ldnsim.sampling import sample_design
from ldnsim.sweep import sweep

ROOT = Path(__file__).resolve().parents[1]
MOUSE_KG = 0.025
#: (label, mg/kg, dosing interval h, expected sign) from mouse_tumour_outcomes.csv.
REGIMENS = (("0.1 mg/kg q24h", 0.1, 24.0, "slowed"), ("0.4 mg/kg q24h", 0.4, 24.0, "slowed"),
            ("10 mg/kg q24h", 10.0, 24.0, "faster"), ("0.1 mg/kg q6h", 0.1, 6.0, "faster"))
SCENARIOS = [["mouse", "tonic"], ["mouse", "rebound"], ["mouse_sc_long", "tonic"],
             ["mouse_sc_long", "rebound"]]
DAYS = 28


def jeffreys(k, n, level=0.90):
    """Monte Carlo interval of a share k/n (Jeffreys)."""
    from scipy.stats import beta
    a = (1 - level) / 2
    lo = 0.0 if k == 0 else float(beta.ppf(a, k + 0.5, n - k + 0.5))
    hi = 1.0 if k == n else float(beta.ppf(1 - a, k + 0.5, n - k + 0.5))
    return lo, hi


def declared_ranges():
    """The headline's [sampling] section (ranges, seed, method, log)."""
    text = (ROOT / "experiments" / "immunomodulatory_window.toml").read_text()
    return tomllib.loads(text)["sampling"]


def proliferation(model, samples):
    """``{(scenario label, regimen label): (n,) proliferation after 4 weeks}``; ``samples``
    None = the file values."""
    out = {}
    t = np.array([0.0, DAYS * 24.0])
    for label, mg_kg, every, _ in REGIMENS:
        reg = ldnsim.Regimen.repeat(1.0, every=every, count=int(DAYS * 24 / every))
        ds = sweep(model, t, axes={"dose": [mg_kg * MOUSE_KG], "scenario": SCENARIOS},
                   regimen=reg, samples=samples, keep=["proliferation"], rtol=1e-6, atol=1e-9,
                   progress=False)
        p = ds["proliferation"].isel(time=-1, dose=0)
        for sc in p["scenario"].values:
            out[(str(sc), label)] = np.atleast_1d(p.sel(scenario=sc).values)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=100)
    ap.add_argument("--seed", type=int, default=None, help="default: the headline's seed")
    ap.add_argument("-o", "--output", default=None, help="save the values (.npz)")
    ap.add_argument("--load", default=None, help="print a saved run (.npz) instead of running")
    args = ap.parse_args(argv)
    cfg = declared_ranges()
    ranges = {k: v for k, v in cfg["ranges"].items() if k != "fu_6bn"}   # no 6BN in the mouse
    if args.load:
        z = np.load(args.load)
        seed = int(z["seed"])
        design = {k[7:]: z[k] for k in z.files if k.startswith("design:")}
        at_file = {tuple(k[5:].split("|")): z[k] for k in z.files if k.startswith("file:")}
        drawn = {tuple(k[6:].split("|")): z[k] for k in z.files if k.startswith("drawn:")}
    else:
        model = ldnsim.load_model("ldn")
        seed = cfg["seed"] if args.seed is None else args.seed
        design, _ = sample_design(cfg["method"], args.samples, ranges, log=cfg["log"],
                                  seed=seed)
        at_file = proliferation(model, None)
        drawn = proliferation(model, design)
        if args.output:
            np.savez(args.output, seed=seed, **{f"design:{k}": v for k, v in design.items()},
                     **{f"file:{a}|{b}": v for (a, b), v in at_file.items()},
                     **{f"drawn:{a}|{b}": v for (a, b), v in drawn.items()})
    n = len(next(iter(design.values())))
    print(f"Zagon's mouse dichotomy: proliferation index after {DAYS} days, sign per regimen "
          f"({n} samples of the declared hypothesis ranges, seed {seed})\n")
    print(f"{'scenario':24s} " + " ".join(f"{r[0]:>16s}" for r in REGIMENS)
          + "   all four [MC 90%]")
    print(f"{'expected':24s} " + " ".join(f"{r[3]:>16s}" for r in REGIMENS))
    scores = {}
    for sc in SCENARIOS:
        name = "+".join(sc)
        label = name
        right = []
        for lab, _, _, sign in REGIMENS:
            v = drawn[(label, lab)]
            right.append(v < 1.0 if sign == "slowed" else v > 1.0)
        right = np.array(right)
        allfour = right.all(axis=0)
        k = int(allfour.sum())
        lo, hi = jeffreys(k, n)
        file_row = " ".join(f"{at_file[(label, r[0])][0]:16.3f}" for r in REGIMENS)
        print(f"{name:24s} " + " ".join(f"{x:16.2f}" for x in right.mean(axis=1))
              + f"   {k / n:.2f} [{lo:.2f}, {hi:.2f}]")
        print(f"{'  at the file values':24s} " + file_row + "   "
              + ("yes" if all((at_file[(label, r[0])][0] < 1.0) == (r[3] == "slowed")
                              for r in REGIMENS) else "no"))
        scores[name] = allfour
    print("\nshares: samples with the reported sign (proliferation < 1 = slowed); file values: "
          "proliferation index itself")
    from scipy.stats import spearmanr
    print("\nwhat decides it: Spearman correlation of 'all four right' with each sampled "
          "parameter (|rho| >= 0.2 shown)")
    for name, ok in scores.items():
        if ok.all() or not ok.any():
            print(f"  {name:24s} (all or none reproduce)")
            continue
        rho = {p: spearmanr(design[p], ok.astype(float))[0] for p in design}
        top = sorted(((p, r) for p, r in rho.items() if abs(r) >= 0.2), key=lambda x: -abs(x[1]))
        print(f"  {name:24s} " + ", ".join(f"{p} {r:+.2f}" for p, r in top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
