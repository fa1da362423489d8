"""Calibrate models/ldn.toml against the published targets of the pharmacology dossier.

Run from the repository root::

    python models/calibration/calibrate_ldn.py          # fit, print residuals, write the JSON
    python models/calibration/calibrate_ldn.py --write  # ... and the fitted values into ldn.toml

The model file is the single source of truth: every simulation here is ``ldnsim.simulate`` on
``models/ldn.toml`` with the fitted parameters passed as overrides; nothing about the model is
re-implemented. Stages 1-4 are weighted ``scipy.optimize.least_squares`` fits in log
parameter space (bounds from the file's ``lower``/``upper``); stage 5 is a grid choice:

1. PK (pharmaceutical, 50 mg single dose): ``ka, V_ntx, CL_ntx, V_6bn, CL_6bn`` with ``F_oral``,
   ``f_abs``, ``f_6bn``, ``fu_ntx`` fixed, to naltrexone Cmax 13.3 ng/mL, Tmax 1 h, t1/2 4 h and
   6-beta-naltrexol Cmax 108 ng/mL, t1/2 13 h (Swiss/FDA labels; dossier §1), 6BN Tmax ~1 h
   weakly weighted.
2. MOR occupancy (human_pet): ``Kd_ntx, k_ret_on, k_ret_off`` with ``k_eo``, ``koff_ntx`` and the
   endogenous ligand fixed, to the individual Rabiner 2011 peak occupancies (<8 h) and the Lee
   1988 time course relative to 1 h (weighted by its SEMs).
3. Receptor up-regulation: ``up_max`` so that 8 days of 50 mg/day raise receptor density by 80%
   (mouse mu +80%, dossier §4.1).
4. rodent_transient: ``Kp_brain`` so that 4.5 mg/day gives 5 h/day of occupancy > 0.5 at steady
   state (Zagon & McLaughlin: 4-6 h/day in mice).
5. Qualitative (hypothesis module): ``theta50_up`` is the largest value on a grid for which the
   rodent_transient benefit/harm crossover (week-4 mean signal = 1) lies at >= 8 h/day of
   blockade (Zagon 1987: 6-8 h/day beneficial; 1983/1984: 24 h/day harmful), ``up_max``
   refitted for each candidate.
Stages 2-5 interact weakly through the endogenous ligand and are run twice.

Then unfitted checks are reported: Weerts 2008 steady state, Contrave, urine and clearance
cross-checks, the dossier's derived LDN occupancy table, the TLR4 negative control and the
qualitative Zagon blockade-duration dichotomy.
"""
from __future__ import annotations

import argparse
import json
import math
import re
import sys
from pathlib import Path

import numpy as np
from scipy.optimize import brentq, least_squares

HERE = Path(__file__).resolve().parent
try:
    import ldnsim
except ModuleNotFoundError:  # run from a source checkout without installing
    sys.path.insert(0, str(HERE.parents[1]))
    import ldnsim
from ldnsim.metrics import blockade_hours, rebound  # noqa: E402

MODEL_PATH = HERE.parent / "ldn.toml"
JSON_PATH = HERE / "ldn_calibration.json"

BLOCKADE_THRESHOLD = 0.5
"""Drug occupancy above which a receptor population counts as 'blocked' (assumed: Zagon
measured blockade functionally, as loss of morphine analgesia)."""

ZAGON_MIN_BENEFIT_HOURS = 8.0
"""Longest daily blockade still beneficial in Zagon & McLaughlin 1987 (6-8 h/day, nude mice)."""
THETA50_GRID = (0.02, 0.05, 0.1, 0.2, 0.3, 0.5)

PK_PARAMS = ("ka", "V_ntx", "CL_ntx", "V_6bn", "CL_6bn")
OCC_PARAMS = ("Kd_ntx", "k_ret_on", "k_ret_off")
UP_PARAMS = ("up_max",)
RODENT_PARAMS = ("Kp_brain",)

# (dose mg, peak occupancy <8 h) per subject, Rabiner et al. 2011 Mol Psychiatry 16:826 (values as
# tabulated in Troestheim 2022 Table 1; dossier §2.2)
RABINER = [(2.0, 0.27), (5.0, 0.43), (5.0, 0.46), (5.0, 0.58), (15.0, 0.61), (50.0, 0.92),
           (50.0, 0.98)]
RABINER_SD = 0.08  # between-subject SD, from the three 5 mg subjects (sample SD 0.079)
# Lee et al. 1988 J Nucl Med 29:1207: occupancy relative to the 1 h scan, mean and SEM (§2.2)
LEE_T = np.array([48.0, 72.0, 120.0, 168.0])
LEE_REL = np.array([0.91, 0.80, 0.46, 0.30])
LEE_SEM = np.array([0.064, 0.063, 0.074, 0.138])


# --------------------------------------------------------------------------- simulation
class LDN:
    """The ldn model with a base set of parameter overrides (the current fit)."""

    def __init__(self, path=MODEL_PATH):
        self.model = ldnsim.load_model(str(path))
        self.fit = {}  # base parameter values found so far (defaults = human_pet)
        self.rodent = {}  # values found for the rodent_transient scenario

    def scenario_fit(self, scenario):
        """Fitted values of the parameters a scenario sets."""
        if scenario == "human_pet":  # it repeats the defaults, so it follows the base fit
            return {k: self.fit[k] for k in self.model.scenarios[scenario].values
                    if k in self.fit}
        if scenario == "rodent_transient":
            return dict(self.rodent)
        return {}

    def value(self, name):
        if name in self.fit:
            return self.fit[name]
        return next(p.value for p in self.model.parameters if p.name == name)

    def bounds(self, name):
        p = next(p for p in self.model.parameters if p.name == name)
        return (p.lower if p.lower is not None else 1e-9, p.upper if p.upper is not None
                else 1e9)

    def run(self, t, dose, *, count=1, every=24.0, scenarios=("pharmaceutical",),
            params=None, rtol=1e-7, atol=1e-10):
        """Simulate; the current fit overrides file values except where a chosen scenario
        sets the parameter (the default parameter values are the human_pet scenario)."""
        owned = {k for s in scenarios for k in self.model.scenarios[s].values}
        p = {k: v for k, v in self.fit.items() if k not in owned}
        for s in scenarios:
            p.update(self.scenario_fit(s))
        p.update(params or {})
        reg = ldnsim.Regimen.repeat(float(dose), every=every, count=count) if dose else None
        return ldnsim.simulate(self.model, np.asarray(t, float), params=p, scenarios=scenarios,
                               regimen=reg, rtol=rtol, atol=atol, max_steps=2_000_000)


def peak(t, c):
    """Maximum and its time, refined by a parabola through the three grid points around it."""
    t, c = np.asarray(t), np.asarray(c)
    i = int(np.argmax(c))
    if 0 < i < len(c) - 1:
        y0, y1, y2 = c[i - 1], c[i], c[i + 1]
        den = y0 - 2 * y1 + y2
        if den < 0:
            d = 0.5 * (y0 - y2) / den
            return y1 - 0.25 * (y0 - y2) * d, t[i] + d * (t[1] - t[0])
    return c[i], t[i]


def half_life(t, c, t1, t2):
    """Half-life from a log-linear regression of c over [t1, t2]."""
    t, c = np.asarray(t), np.asarray(c)
    m = (t >= t1) & (t <= t2)
    slope = np.polyfit(t[m], np.log(c[m]), 1)[0]
    return -math.log(2) / slope


# --------------------------------------------------------------------------- targets
def pk_metrics(ldn, params=None):
    t = np.arange(0.0, 48.0 + 1e-9, 0.01)
    ds = ldn.run(t, 50.0, params=params)
    c, c6 = ds.C_ntx.values, ds.C_6bn.values
    cmax, tmax = peak(t, c)
    c6max, t6max = peak(t, c6)
    return dict(cmax=cmax, tmax=tmax, t_half=half_life(t, c, 5.0, 12.0), c6max=c6max,
                t6max=t6max, t6_half=half_life(t, c6, 12.0, 48.0))


PK_TARGETS = [  # key, observed, sigma, log-scale?, label, source
    ("cmax", 13.3, 0.10, True, "NTX Cmax 50 mg (ng/mL)", "Swiss label (dossier §1.1)"),
    ("tmax", 1.0, 0.25, False, "NTX Tmax (h)", "FDA label: within 1 h"),
    ("t_half", 4.0, 0.10, True, "NTX t1/2, 5-12 h (h)", "FDA label"),
    ("c6max", 108.0, 0.10, True, "6BN Cmax 50 mg (ng/mL)", "Swiss label"),
    ("t6max", 1.0, 1.0, False, "6BN Tmax (h), weak", "FDA label: within 1 h"),
    ("t6_half", 13.0, 0.10, True, "6BN t1/2, 12-48 h (h)", "FDA label; Meyer 1984 12 h"),
]


def pk_rows(m):
    rows = []
    for key, obs, sd, logscale, label, src in PK_TARGETS:
        r = (math.log(m[key] / obs) if logscale else m[key] - obs) / sd
        rows.append(dict(target=label, source=src, observed=obs, model=m[key], residual=r,
                         sigma=f"{sd:.0%} (log)" if logscale else f"{sd} h"))
    return rows


def occupancy_metrics(ldn, params=None):
    tr = np.arange(0.0, 8.0 + 1e-9, 0.05)
    peaks = {d: float(ldn.run(tr, d, params=params).occupancy_mor_drug.max())
             for d in sorted({d for d, _ in RABINER})}
    tl = np.concatenate([[0.0, 1.0], LEE_T])
    occ = ldn.run(tl, 50.0, params=params).occupancy_mor_drug.values
    return peaks, occ[2:] / occ[1], occ[1]


def occupancy_rows(peaks, rel):
    rows = [dict(target=f"Rabiner {d:g} mg peak occupancy <8 h", source="Rabiner 2011",
                 observed=o, model=peaks[d], residual=(peaks[d] - o) / RABINER_SD,
                 sigma=f"{RABINER_SD} (between-subject SD)") for d, o in RABINER]
    rows += [dict(target=f"Lee {tt:g} h occupancy / 1 h", source="Lee 1988", observed=o,
                  model=m, residual=(m - o) / s, sigma=f"{s} (SEM)")
             for tt, o, m, s in zip(LEE_T, LEE_REL, rel, LEE_SEM)]
    return rows


def upregulation(ldn, params=None):
    ds = ldn.run(np.array([0.0, 192.0]), 50.0, count=8, params=params)
    return float(ds.receptor_density[-1])


def rodent_hours(ldn, params=None, dose=4.5):
    t = np.arange(0.0, 14 * 24.0 + 1e-9, 0.05)
    ds = ldn.run(t, dose, count=14, scenarios=("pharmaceutical", "rodent_transient"),
                 params=params)
    return hours_per_day(ds, last_days=2)


def hours_per_day(ds, last_days):
    return float(blockade_hours(ds, "occupancy_mor_drug", threshold=BLOCKADE_THRESHOLD,
                                last_days=last_days).blockade_hours)


def mean_signal(ds, last_days=7):
    return 1.0 + float(rebound(ds, "signal_opioid", last_days=last_days).rebound_mean)


# --------------------------------------------------------------------------- fitting
def fit_stage(ldn, names, residual_fn, label, store=None):
    start = ldn.fit if store is None else store
    x0 = np.log([start.get(n, ldn.value(n)) for n in names])
    lo = np.log([max(ldn.bounds(n)[0], 1e-9) for n in names])
    hi = np.log([ldn.bounds(n)[1] for n in names])
    x0 = np.clip(x0, lo + 1e-9, hi - 1e-9)

    def f(x):
        return np.asarray(residual_fn(dict(zip(names, np.exp(x)))), float)

    res = least_squares(f, x0, bounds=(lo, hi), diff_step=1e-3, x_scale=1.0)
    values = dict(zip(names, np.exp(res.x)))
    (ldn.fit if store is None else store).update(values)
    print(f"[{label}] {res.message.strip()} nfev={res.nfev} cost={res.cost:.4g}")
    return values


def zagon_crossover(ldn, params=None):
    """Daily blockade (h/day, rodent_transient) at which the week-4 mean signal crosses 1.

    Below it the mean opioid signal is raised (proliferation slowed: benefit), above it
    lowered (harm). Found by root-finding on the daily dose."""
    t = np.arange(0.0, 28 * 24.0 + 1e-9, 0.25)

    def run(dose):
        ds = ldn.run(t, dose, count=28, scenarios=("pharmaceutical", "rodent_transient"),
                     params=params)
        return mean_signal(ds) - 1.0, hours_per_day(ds, last_days=7)

    try:
        dose = brentq(lambda d: run(d)[0], 0.5, 100.0, xtol=1e-3)
    except ValueError:  # no sign change: no benefit/harm boundary in 0.5-100 mg/day
        return float("nan")
    return run(dose)[1]


def fit_up_max(ldn, params=None):
    fit_stage(ldn, UP_PARAMS, lambda p: [(upregulation(ldn, {**(params or {}), **p}) - 1.8)
                                         / 0.05], "up-regulation")


def choose_theta50(ldn):
    """Qualitative Zagon calibration of the hypothesis parameter ``theta50_up``: the largest
    grid value whose benefit/harm crossover lies at >= ZAGON_MIN_BENEFIT_HOURS of daily
    blockade (Zagon & McLaughlin 1987: 6-8 h/day still beneficial; 1983/1984: 24 h/day
    harmful). ``up_max`` is refitted for every candidate."""
    scan = []
    for th in THETA50_GRID:
        fit_up_max(ldn, {"theta50_up": th})
        cross = zagon_crossover(ldn, {"theta50_up": th})
        scan.append(dict(theta50_up=th, up_max=ldn.fit["up_max"], crossover_h_per_day=cross))
        print(f"  theta50_up = {th:g}: up_max = {ldn.fit['up_max']:.4g}, benefit/harm "
              f"crossover at {cross:.2f} h/day of blockade")
    ok = [r["theta50_up"] for r in scan if r["crossover_h_per_day"] >= ZAGON_MIN_BENEFIT_HOURS]
    if not ok:
        raise SystemExit("no theta50_up on the grid reproduces Zagon's dichotomy")
    ldn.fit["theta50_up"] = max(ok)
    fit_up_max(ldn)
    return scan


def calibrate(ldn):
    fit_stage(ldn, PK_PARAMS, lambda p: [r["residual"] for r in pk_rows(pk_metrics(ldn, p))],
              "PK")
    ldn.rodent = {k: v for k, v in ldn.model.scenarios["rodent_transient"].values.items()
                  if k in RODENT_PARAMS}
    scan = None
    for _ in range(2):  # the stages below interact weakly (through the endogenous ligand)
        fit_stage(ldn, OCC_PARAMS,
                  lambda p: [r["residual"] for r in occupancy_rows(*occupancy_metrics(ldn, p)[:2])],
                  "occupancy")
        fit_up_max(ldn)
        fit_stage(ldn, RODENT_PARAMS, lambda p: [(rodent_hours(ldn, p) - 5.0) / 0.5],
                  "rodent_transient", store=ldn.rodent)
        scan = choose_theta50(ldn)
    return scan


# --------------------------------------------------------------------------- checks
def checks(ldn):
    out = []

    def add(name, model, expected, source):
        out.append(dict(check=name, model=model, expected=expected, source=source))

    # Weerts 2008: 50 mg/day steady state
    t = np.arange(0.0, 14 * 24.0 + 1e-9, 0.25)
    ds = ldn.run(t, 50.0, count=14)
    last = t >= 13 * 24.0
    occ = ds.occupancy_mor_drug.values
    add("50 mg/day steady state occupancy, trough / peak", [occ[last].min(), occ[last].max()],
        "94.9 +- 4.9% (Weerts 2008); dossier §2.3 derived 94-96%", "Weerts 2008")
    # LDN occupancy vs the dossier's derived hyperbolic/38-h model
    for dose, derived in ((1.5, "peak 21%, SS 43/33%"), (4.5, "peak 44.6%, SS 70/60%")):
        ds = ldn.run(t, dose, count=14)
        o = ds.occupancy_mor_drug.values
        add(f"{dose} mg: single-dose peak <8 h; SS peak / trough",
            [o[t <= 8].max(), o[last].max(), o[last].min()], derived, "dossier §2.3 [D]")
    # PK cross-checks
    F = ldn.value("F_oral")
    add("CL/F naltrexone (L/h)", ldn.value("CL_ntx") / F,
        "1900 (Contrave 16 mg ER, AUC 8.4); 94/0.05 (Meyer 1984)", "Contrave label; dossier §1.1")
    add("V/F naltrexone (L)", ldn.value("V_ntx") / F, "1350 L is the IV Vd (label)", "label")
    add("CL_6bn (L/h)", ldn.value("CL_6bn"), "65.1 (Dunbar 2007 IM popPK); renal 17 (Meyer 1984)",
        "dossier §1.2")
    tt = np.arange(0.0, 24 * 21 + 1e-9, 0.05)
    ds = ldn.run(tt, 16.0)
    auc16 = float(np.trapezoid(ds.C_ntx.values, tt))
    add("16 mg immediate release: NTX Cmax (ng/mL), AUC (ng h/mL)",
        [float(ds.C_ntx.max()), auc16], "Contrave 16 mg ER: 1.4 and 8.4 (ER, lower Cmax expected)",
        "Contrave label")
    add("fraction of dose passing through 6BN (f_6bn * f_abs; all absorbed parent is metabolised)",
        ldn.value("f_6bn") * ldn.value("f_abs"), "~0.55 (76% + 16% of the 60% in urine)",
        "Swiss label")
    ds = ldn.run(tt, 4.5)
    add("4.5 mg single dose NTX / 6BN Cmax (ng/mL)", [float(ds.C_ntx.max()),
                                                       float(ds.C_6bn.max())],
        "1.2 / 9.7 (linear extrapolation)", "dossier §1.1 [D]")
    # TLR4 negative control: worst case over 0.5-300 mg racemic, and with 6BN counted
    tw = np.arange(0.0, 14 * 24.0 + 1e-9, 0.25)
    for inc in (0.0, 1.0):
        worst = max(float(ldn.run(tw, 300.0, count=14, scenarios=(sc,),
                                  params={"tlr4_include_6bn": inc}).tlr4_inhibition.max())
                    for sc in ("pharmaceutical", "racemic"))
        add(f"max tlr4_inhibition, 300 mg/day x 14 d, tlr4_include_6bn={inc:g}", worst,
            "< 0.001 (dossier §7 E15)", "Wang 2016 IC50 105.5 uM")
    ds = ldn.run(tw, 4.5, count=14, scenarios=("racemic",))
    add("racemic 4.5 mg/day: tlr4_potency_multiplier for 50% inhibition at peak",
        1.0 / float(ds.tlr4_inhibition.max()), "~30,000-60,000 (dossier §3.2)", "dossier §3.2")
    # Zagon dichotomy (qualitative; hypothesis modules)
    t8 = np.arange(0.0, 28 * 24.0 + 1e-9, 0.25)
    for sc in ("rodent_transient", "human_pet"):
        rows = []
        for dose in (0.5, 1.5, 4.5, 10.0, 20.0, 50.0):
            ds = ldn.run(t8, dose, count=28, scenarios=("pharmaceutical", sc))
            rows.append(dict(dose=dose, blockade_h_per_day=hours_per_day(ds, last_days=7),
                             mean_signal=mean_signal(ds),
                             proliferation_4wk=float(ds.proliferation[-1])))
        add(f"{sc}: blockade h/day, mean signal (week 4), proliferation (day 28)", rows,
            "benefit (signal > 1, proliferation < 1) for <= 10 h/day blockade; harm at 24 h/day",
            "Zagon & McLaughlin 1983, 1984 (dossier §7 target 7)")
    return out


# --------------------------------------------------------------------------- output
def fmt(v):
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(fmt(x) for x in v) + "]"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def write_toml(values, scenario_values, path=MODEL_PATH):
    """Replace ``value = ...`` of fitted parameters and the fitted scenario entries."""
    text = path.read_text()
    for name, v in values.items():
        pat = re.compile(rf"^({re.escape(name)} = \{{ value = )[^,]+", re.M)
        text, n = pat.subn(rf"\g<1>{v:.4g}", text, count=1)
        if n != 1:
            raise SystemExit(f"could not find parameter {name} in {path}")
    for scen, vals in scenario_values.items():
        head = f"[scenarios.{scen}]"
        start = text.index(head)
        end = text.find("\n[", start + 1)
        end = len(text) if end < 0 else end
        block = text[start:end]
        for name, v in vals.items():
            block, n = re.subn(rf"^({re.escape(name)} = ).*$", rf"\g<1>{v:.4g}", block,
                               count=1, flags=re.M)
            if n != 1:
                raise SystemExit(f"could not find {name} in {head}")
        text = text[:start] + block + text[end:]
    path.write_text(text)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write", action="store_true",
                    help="write the fitted values into models/ldn.toml")
    args = ap.parse_args(argv)
    ldn = LDN()
    scan = calibrate(ldn)
    fitted = {k: float(v) for k, v in ldn.fit.items()}
    rodent = {k: float(v) for k, v in ldn.rodent.items()}

    m = pk_metrics(ldn)
    peaks, rel, occ1 = occupancy_metrics(ldn)
    rows = pk_rows(m) + occupancy_rows(peaks, rel)
    rows.append(dict(target="receptor density after 8 d of 50 mg/day", source="mouse mu +80%",
                     observed=1.8, model=upregulation(ldn), residual=(upregulation(ldn) - 1.8) /
                     0.05, sigma="0.05"))
    hrs = rodent_hours(ldn)
    rows.append(dict(target="rodent_transient 4.5 mg/day blockade h/day", source="Zagon 1983",
                     observed=5.0, model=hrs, residual=(hrs - 5.0) / 0.5, sigma="0.5 h"))
    print(f"\n{'target':46s} {'observed':>9s} {'model':>9s} {'resid/sd':>8s}  source")
    for r in rows:
        print(f"{r['target']:46s} {r['observed']:9.4g} {r['model']:9.4g} {r['residual']:8.2f}  "
              f"{r['source']}")
    print(f"(Lee: model occupancy at 1 h = {occ1:.3f})")
    print("\nfitted:", ", ".join(f"{k} = {v:.4g}" for k, v in {**fitted, **rodent}.items()))
    chk = checks(ldn)
    print("\nchecks (not fitted):")
    for c in chk:
        if isinstance(c["model"], list) and c["model"] and isinstance(c["model"][0], dict):
            print(f"  {c['check']}  [expected: {c['expected']}]")
            for r in c["model"]:
                print("     " + ", ".join(f"{k}={fmt(v)}" for k, v in r.items()))
        else:
            print(f"  {c['check']}: {fmt(c['model'])}  [expected: {c['expected']}]")
    result = dict(
        model=str(MODEL_PATH.relative_to(HERE.parents[1])), model_hash=ldn.model.hash,
        ldnsim_version=ldnsim.__version__, method="scipy.optimize.least_squares (TRF, log "
        "parameters, bounds from ldn.toml), stages PK -> occupancy <-> up-regulation -> rodent",
        blockade_threshold=BLOCKADE_THRESHOLD, fitted=fitted, theta50_scan=scan,
        scenario_fitted={"rodent_transient": rodent,
                         "human_pet": {k: fitted[k] for k in ("k_ret_on", "k_ret_off")}},
        residuals=rows, checks=chk)
    if args.write:
        write_toml(fitted, result["scenario_fitted"])
        result["model_hash"] = ldnsim.load_model(str(MODEL_PATH)).hash
        print(f"wrote fitted values into {MODEL_PATH}")
    JSON_PATH.write_text(json.dumps(result, indent=1, default=float) + "\n")
    print(f"\nwrote {JSON_PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
