"""Print the headline tables of an immunomodulatory_window result.

    python experiments/window_report.py results/window.nc \
        [--trials models/data/consistency/clinical_trials.csv]

Per hypothesis and dose: P(open), the share of the draws in the window (brain definition: the
experiment's metric), with its Monte Carlo 90% interval (Jeffreys, for the number of draws);
the same share under two named alternative definitions whose blockade criterion reads the
peripheral receptors the benefit uses (peripheral MOR; OGFr); the immune index at the end and
the daily brain blockade as median [5%, 95%] over the draws; P(imm), the share of draws whose
immune index ends at least the margin below untreated, ignoring the blockade criterion.
Then: brain blockade hours at the thresholds 0.4, 0.5 and 0.6; how P(open) depends on the
declared range of theta50_tonic (the tonic drive's half-saturation); which parameters decide
the immune index and, at 3 and 4.5 mg/day, the brain blockade (virtual-subject random effects
included); P(open) with the blockade threshold at 0.4, 0.5 and 0.6; and with --trials, each
clinical trial against the window (a consistency check, not a fit).
"""
from __future__ import annotations

import argparse
import csv
import sys
import warnings
from pathlib import Path

import numpy as np

from ldnsim.experiment import metrics_of
from ldnsim.io import open_result
from ldnsim.metrics import blockade_hours, window_summary
from ldnsim.results import provenance

#: Named alternative window definitions: blockade read on the receptors the benefit uses.
VARIANTS = {"brain": "pet_inhibition", "periph. MOR": "occupancy_mor_peripheral",
            "OGFr": "occupancy_ogfr"}
#: Bands of theta50_tonic (its declared range is 0.05-10).
THETA_BANDS = ((0.05, 0.1), (0.1, 0.3), (0.3, 1.0), (1.0, 3.0), (3.0, 10.0))
UNCERTAIN = ("draw", "sample")


def jeffreys(k, n, level=0.90):
    """Monte Carlo interval of a share k/n (Jeffreys: Beta(k + 1/2, n - k + 1/2) quantiles)."""
    from scipy.stats import beta
    a = (1 - level) / 2
    lo = 0.0 if k == 0 else float(beta.ppf(a, k + 0.5, n - k + 0.5))
    hi = 1.0 if k == n else float(beta.ppf(1 - a, k + 0.5, n - k + 0.5))
    return lo, hi


def _dims(da):
    return [d for d in UNCERTAIN if d in da.dims]


def _q(da):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return da.quantile([0.5, 0.05, 0.95], dim=_dims(da)).values


def _share(flags):
    """``(share, k, n)`` of a 0/1 array over its uncertainty dims (NaN left out)."""
    v = flags.values
    v = v[np.isfinite(v)]
    return (float(v.mean()) if v.size else float("nan")), int(v.sum()), int(v.size)


def windows(ds, options):
    """``{definition: window_summary table}``: the experiment's metric and the variants."""
    out = {"brain": metrics_of(ds)}
    kept = dict(options)
    kept.update(signal_var=None, proliferation_var=None)
    for label, var in VARIANTS.items():
        if label == "brain" or var not in ds:
            continue
        out[label] = window_summary(ds, **{**kept, "occupancy_var": var})
    return out


def table(ds, tables, margin):
    rows = []
    m = tables["brain"]
    for sc in m["scenario"].values:
        for d in m["dose"].values:
            sub = {k: t.sel(scenario=sc, dose=d) for k, t in tables.items()}
            p, k, n = _share(sub["brain"]["in_window"])
            row = dict(scenario=str(sc), dose=float(d), p_open=p, ci=jeffreys(k, n), n=n,
                       variants={lab: _share(t["in_window"])[0] for lab, t in sub.items()},
                       p_immune=_share(sub["brain"]["immune_index_end"] <= 1.0 - margin)[0],
                       immune=_q(sub["brain"]["immune_index_end"]),
                       hours=_q(sub["brain"]["blockade_hours"]))
            rows.append(row)
    return rows


def trough_pet(ds, day=24.0):
    """Median [5%, 95%] over draws of the lowest PET inhibition over the last day (negative:
    more receptors available than untreated, what tonic up-regulation predicts for PET)."""
    pet = ds["pet_inhibition"]
    last = pet.sel(time=slice(float(pet["time"][-1]) - day, None)).min("time")
    if "subject" in last.dims:
        last = last.isel(subject=0)
    return {(str(sc), float(d)): _q(last.sel(scenario=sc, dose=d))
            for sc in last["scenario"].values for d in last["dose"].values}


def thresholds(ds, options, levels=(0.4, 0.5, 0.6)):
    """Median daily brain blockade hours at several thresholds: {(scenario, dose): [...]}."""
    out = {}
    for thr in levels:
        h = blockade_hours(ds, "pet_inhibition", thr, last_days=options.get("last_days", 7))
        h = h["blockade_hours"]
        dims = _dims(h) + (["subject"] if "subject" in h.dims else [])
        med = h.median(dims)
        for sc in med["scenario"].values:
            for d in med["dose"].values:
                out.setdefault((str(sc), float(d)), []).append(float(med.sel(scenario=sc,
                                                                             dose=d)))
    return out


def open_by_threshold(ds, options, levels=(0.4, 0.5, 0.6)):
    """P(open) (brain definition) with the PET-inhibition threshold of the blockade criterion
    at each level: {(scenario, dose): [share per level]}."""
    out = {}
    for thr in levels:
        m = window_summary(ds, **{**options, "occupancy_var": "pet_inhibition",
                                  "signal_var": None, "proliferation_var": None,
                                  "threshold": thr})
        for sc in m["scenario"].values:
            for d in m["dose"].values:
                out.setdefault((str(sc), float(d)), []).append(
                    _share(m["in_window"].sel(scenario=sc, dose=d))[0])
    return out


def theta_dependence(ds, m):
    """P(open) at each dose by band of theta50_tonic, under the tonic hypothesis."""
    if "theta50_tonic" not in ds.coords or "tonic" not in list(m["scenario"].values):
        return None
    theta = ds["theta50_tonic"]
    flags = m["in_window"].sel(scenario="tonic")
    if "subject" in flags.dims:
        flags = flags.isel(subject=0)
    out = []
    for lo, hi in THETA_BANDS:
        mask = (theta >= lo) & (theta < hi) if hi < 10 else (theta >= lo) & (theta <= hi)
        sel = flags.where(mask)
        shares = {float(d): _share(sel.sel(dose=d))[0] for d in flags["dose"].values}
        any_dose = _share((sel.max("dose")).where(mask))[0]
        out.append(dict(band=(lo, hi), n=int(mask.sum()), shares=shares, any=any_dose))
    return out


def half_split(x, flags):
    """Mean of ``flags`` (P(open)) over the draws in the lower and the upper half of ``x``."""
    low = x <= np.median(x)
    return float(np.nanmean(flags[low])), float(np.nanmean(flags[~low]))


#: Doses at which the report ranks the parameters that decide the outcome.
DRIVER_DOSES = (0.5, 1.0, 4.5)
#: Doses where the window closes (the brain blockade criterion starts to bite).
EDGE_DOSES = (3.0, 4.5)


def drivers(ds, m, top=4, var="immune_index_end", doses=DRIVER_DOSES):
    """Per scenario and dose in DRIVER_DOSES: the uncertain parameters (drawn from the fits or
    sampled from declared ranges) ranked by |Spearman correlation| with the immune index at the
    end, and the P(open) in the lower and upper half of the top one."""
    from scipy.stats import spearmanr
    cols = {}
    for c in ds.coords:
        v = ds[c]
        if c == "draw" or not np.issubdtype(v.dtype, np.floating):
            continue
        if v.dims == ("draw", "subject") and v.sizes["subject"] == 1:
            v = v.isel(subject=0)            # a virtual subject's random effect (eta_...)
        if v.dims == ("draw",) and float(v.std()) > 0:
            cols[str(c)] = v
    names = list(cols)
    if not names:
        return []
    out = []
    for sc in m["scenario"].values:
        for d in doses:
            if d not in m["dose"].values:
                continue
            imm = m[var].sel(scenario=sc, dose=d)
            flag = m["in_window"].sel(scenario=sc, dose=d)
            if "subject" in imm.dims:
                imm, flag = imm.isel(subject=0), flag.isel(subject=0)
            rho = {}
            unused = {"tonic": "theta50_reb", "rebound": "theta50_tonic"}.get(str(sc))
            for n in names:
                if n == unused:      # sampled for every draw, but not read by this hypothesis
                    continue
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    r = spearmanr(cols[n].values, imm.values, nan_policy="omit")[0]
                if np.isfinite(r):
                    rho[n] = float(r)
            ranked = sorted(rho.items(), key=lambda kv: -abs(kv[1]))[:top]
            split = None
            if ranked:
                split = half_split(cols[ranked[0][0]].values, flag.values)
            out.append(dict(scenario=str(sc), dose=float(d), ranked=ranked, split=split))
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("result")
    ap.add_argument("--trials", default=None)
    args = ap.parse_args(argv)
    ds = open_result(args.result)
    attrs = provenance(ds)
    options = (attrs.get("metric_options") or {}).get("window_summary", {})
    margin = float(options.get("immune_margin", 0.05))
    tables = windows(ds, options)
    rows = table(ds, tables, margin)
    labels = list(tables)
    print(f"{'scenario':8s} {'dose':>5s} {'P(open) [MC 90%]':>18s} "
          + " ".join(f"{lab:>11s}" for lab in labels[1:])
          + f" {'P(imm)':>6s}  immune index end [5-95%]   brain blockade h/day [5-95%]")
    for r in rows:
        i, h = r["immune"], r["hours"]
        var = " ".join(f"{r['variants'][lab]:11.2f}" for lab in labels[1:])
        print(f"{r['scenario']:8s} {r['dose']:5g} {r['p_open']:6.2f} [{r['ci'][0]:.2f}, "
              f"{r['ci'][1]:.2f}] {var} {r['p_immune']:6.2f}  {i[0]:.3f} [{i[1]:.3f}, "
              f"{i[2]:.3f}]      {h[0]:5.1f} [{h[1]:4.1f}, {h[2]:4.1f}]")
    n = rows[0]["n"] if rows else 0
    print(f"P(open): share of the {n} draws in the window (brain blockade criterion); "
          f"{', '.join(labels[1:])}: the same with the blockade read on that receptor; "
          "P(imm): immune index at least the margin below untreated, blockade ignored")
    print("\nwindow (doses with P(open) >= 0.5), per scenario and definition:")
    for sc in tables["brain"]["scenario"].values:
        for lab in labels:
            doses = [r["dose"] for r in rows if r["scenario"] == str(sc)
                     and (r["p_open"] if lab == "brain" else r["variants"][lab]) >= 0.5]
            print(f"  {str(sc):8s} {lab:11s} {', '.join(f'{d:g}' for d in doses) or 'none'}"
                  " mg/day")
    print("\nbrain blockade h/day (median over draws) at PET-inhibition thresholds 0.4 / 0.5 / "
          "0.6, and the PET inhibition at trough (last day), median [5-95%]:")
    troughs = trough_pet(ds)
    for (sc, d), hs in thresholds(ds, options).items():
        q = troughs[(sc, d)]
        print(f"  {sc:8s} {d:5g} mg  " + " / ".join(f"{x:4.1f}" for x in hs)
              + f"    trough {q[0]:+.2f} [{q[1]:+.2f}, {q[2]:+.2f}]")
    dep = theta_dependence(ds, tables["brain"])
    if dep:
        doses = list(dep[0]["shares"])
        print("\ntonic: P(open) by band of theta50_tonic (declared range 0.05-10, log-uniform);"
              " 'any' = open at one dose at least")
        print(f"  {'band':12s} {'n':>4s} " + " ".join(f"{d:>6g}" for d in doses) + "    any")
        for b in dep:
            print(f"  {b['band'][0]:g}-{b['band'][1]:<8g} {b['n']:4d} "
                  + " ".join(f"{b['shares'][d]:6.2f}" for d in doses) + f" {b['any']:6.2f}")
    drv = drivers(ds, tables["brain"])
    if drv:
        print("\nwhat decides it: Spearman correlation of the immune index at the end with each "
              "uncertain parameter (top 4; negative = more of it, more benefit), and P(open) in "
              "the lower / upper half of the first one's draws")
        for r in drv:
            first = r["ranked"][0][0] if r["ranked"] else ""
            print(f"  {r['scenario']:8s} {r['dose']:4g} mg  "
                  + ", ".join(f"{n} {v:+.2f}" for n, v in r["ranked"])
                  + (f"   P(open) {first} low/high half: {r['split'][0]:.2f} / "
                     f"{r['split'][1]:.2f}" if r["split"] else ""))
    drv = drivers(ds, tables["brain"], var="blockade_hours", doses=EDGE_DOSES)
    if drv:
        print("\nwhat decides the brain blockade where the window closes: Spearman correlation "
              "of the blockade hours with each uncertain parameter (top 4; eta_*: the virtual "
              "subject's assumed random effects), and P(open) in the lower / upper half of "
              "up_brain's draws")
        split = {}
        if "up_brain" in ds.coords and float(ds["up_brain"].std()) > 0:
            for sc in tables["brain"]["scenario"].values:
                for d in EDGE_DOSES:
                    if d in tables["brain"]["dose"].values:
                        f = tables["brain"]["in_window"].sel(scenario=sc, dose=d)
                        f = f.isel(subject=0) if "subject" in f.dims else f
                        split[(str(sc), d)] = half_split(ds["up_brain"].values, f.values)
        for r in drv:
            sp = split.get((r["scenario"], r["dose"]))
            print(f"  {r['scenario']:8s} {r['dose']:4g} mg  "
                  + ", ".join(f"{n} {v:+.2f}" for n, v in r["ranked"])
                  + (f"   P(open) up_brain low/high half: {sp[0]:.2f} / {sp[1]:.2f}"
                     if sp else ""))
    print("\nP(open) (brain definition) with the blockade criterion's PET threshold at "
          "0.4 / 0.5 / 0.6:")
    for (sc, d), ps in open_by_threshold(ds, options).items():
        print(f"  {sc:8s} {d:5g} mg  " + " / ".join(f"{x:4.2f}" for x in ps))
    if args.trials:
        text = [ln for ln in Path(args.trials).read_text().splitlines() if not ln.startswith("#")]
        print("\nclinical trials (consistency check): P(open) [MC 90%] at the trial dose, per "
              "hypothesis; brain / periph. MOR / OGFr definitions")
        for t in csv.DictReader(text):
            dose = float(t["dose_mg_day"])
            cells = []
            for sc in tables["brain"]["scenario"].values:
                r = next((r for r in rows if r["scenario"] == str(sc) and r["dose"] == dose),
                         None)
                if r is None:
                    cells.append(f"{sc}: dose not in the run")
                    continue
                cells.append(f"{sc}: {r['p_open']:.2f} [{r['ci'][0]:.2f}, {r['ci'][1]:.2f}] / "
                             + " / ".join(f"{r['variants'][lab]:.2f}" for lab in labels[1:]))
            print(f"  {t['key']:22s} {t['condition']:20s} {dose:4g} mg  "
                  f"{'significant' if t['significant'] == 'yes' else 'null':11s} "
                  + "   ".join(cells))
    return 0


if __name__ == "__main__":
    sys.exit(main())
