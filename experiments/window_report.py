"""Print the headline table of an immunomodulatory_window result.

    python experiments/window_report.py results/window.nc \
        [--trials models/data/consistency/clinical_trials.csv]

Per scenario and dose: P(window open) = share of parameter samples whose subjects are in the
window (>= half of them), the immune index at the end and the daily brain blockade as median
[5%, 95%] across samples (each sample's value is the median over its subjects), and P(imm), the
share of samples whose immune index ends at least the window margin below untreated, ignoring the
blockade criterion. With --trials, for each clinical trial and scenario, P(window open) at
the trial's daily dose (a consistency check, not a fit).
"""
from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

from ldnsim.experiment import metrics_of
from ldnsim.io import open_result


def quantiles(da, dim="sample"):
    q = da.quantile([0.5, 0.05, 0.95], dim=dim).values
    return q


def table(m):
    margin = float(m.attrs.get("immune_margin", 0.05))
    rows = []
    for sc in m["scenario"].values:
        for d in m["dose"].values:
            sub = m.sel(scenario=sc, dose=d)
            p_open = float(sub["in_window"].mean("sample"))
            p_immune = float((sub["immune_index_end"] <= 1.0 - margin).mean("sample"))
            imm = quantiles(sub["immune_index_end"])
            hrs = quantiles(sub["blockade_hours"])
            rows.append(dict(scenario=str(sc), dose=float(d), p_open=p_open, p_immune=p_immune,
                             immune=imm, hours=hrs))
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("result")
    ap.add_argument("--trials", default=None)
    args = ap.parse_args(argv)
    m = metrics_of(open_result(args.result))
    rows = table(m)
    print(f"{'scenario':36s} {'dose':>6s} {'P(open)':>8s} {'P(imm)':>7s}  immune index end [5-95%]"
          f"    blockade h/day [5-95%]")
    for r in rows:
        i, h = r["immune"], r["hours"]
        print(f"{r['scenario']:36s} {r['dose']:6g} {r['p_open']:8.2f} {r['p_immune']:7.2f}  "
              f"{i[0]:.3f} [{i[1]:.3f}, {i[2]:.3f}]   {h[0]:5.1f} [{h[1]:4.1f}, {h[2]:4.1f}]")
    print("P(open): share of samples in the window; P(imm): share of samples whose immune index "
          "ends at least the margin below untreated, ignoring the blockade criterion")
    print("\nwindow (doses with P(open) >= 0.5), per scenario:")
    for sc in m["scenario"].values:
        doses = [r["dose"] for r in rows if r["scenario"] == str(sc) and r["p_open"] >= 0.5]
        print(f"  {str(sc):36s} {', '.join(f'{d:g}' for d in doses) or 'none'} mg/day")
    if args.trials:
        text = [ln for ln in Path(args.trials).read_text().splitlines() if not ln.startswith("#")]
        print("\nclinical trials (consistency check): P(window open) at the trial dose")
        for t in csv.DictReader(text):
            dose = float(t["dose_mg_day"])
            cells = []
            for sc in m["scenario"].values:
                r = next(r for r in rows if r["scenario"] == str(sc) and r["dose"] == dose)
                cells.append(f"{r['p_open']:.2f} ({r['p_immune']:.2f})")
            print(f"  {t['key']:22s} {t['condition']:20s} {dose:4g} mg  "
                  f"{'significant' if t['significant'] == 'yes' else 'null':11s} "
                  + "  ".join(cells))
        print("  columns: P(open) (P(imm)) for", ", ".join(str(s) for s in m["scenario"].values))
    return 0


if __name__ == "__main__":
    sys.exit(main())
