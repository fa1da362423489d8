"""Provisional calibration of models/ldn.toml against the data files in models/data/.

Run from the repository root::

    python models/calibration/calibrate_ldn.py          # fit, print residuals, write the JSON
    python models/calibration/calibrate_ldn.py --write  # ... and the fitted values into ldn.toml

The objective is the one ``ldnsim.fit`` will use: every subject (ID) of every data file is
simulated with its own dosing records and scenario, each of its observations (a model variable at
TIME, or a summary ``METRIC(VAR)`` over [TSTART, TIME]) is computed from the simulation, and the
residual is ``(model - DV) / SD``. Nothing in this script holds a target value: all targets are
read from models/data/*.csv. The fit is ``scipy.optimize.least_squares`` in log parameter space
(bounds from the model file), in stages that use disjoint data:

1. ``pk``: naltrexone and 6-beta-naltrexol disposition, to the labels, Meyer 1984, Wall 1981 and
   Contrave (extended_release scenario: its own ``ka``).
2. ``pet_human_pet``: ``Kd_ntx, k_ret_on, k_ret_off`` (brain retention pool) to Rabiner 2011,
   Lee 1988 and Weerts 2008 (PK fixed).
3. ``pet_slow_biophase``: the alternative, ``Kd_ntx, k_eo, Q_deep, V_deep`` (a slow plasma phase and
   slow brain equilibration instead of brain retention), to the same PET data AND the PK data
   (the deep phase changes plasma too).
4. ``mouse``: the mouse brain retention (``k_ret_on, k_ret_off`` in the mouse scenario) to the
   Zagon blockade durations.

For each stage the Gauss-Newton covariance ``inv(J'J)`` of the weighted residuals (J in log
parameters, at the optimum) gives standard errors, 95% intervals (exp(+-1.96 SE)) and
correlations; a parameter is reported as not identified when its log-SE exceeds 1 (interval wider
than about 7-fold either way) or it correlates above 0.95 with another one. This is what the
estimation layer (``ldnsim.fit``: profile likelihoods, Fisher information) will replace.
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import math
import re
import sys
from pathlib import Path

import numpy as np
from scipy.optimize import least_squares

HERE = Path(__file__).resolve().parent
try:
    import ldnsim
except ModuleNotFoundError:  # run from a source checkout without installing
    sys.path.insert(0, str(HERE.parents[1]))
    import ldnsim
from ldnsim.dosing import Dose, Regimen  # noqa: E402

ROOT = HERE.parents[1]
MODEL_PATH = ROOT / "models" / "ldn.toml"
DATA_DIR = ROOT / "models" / "data"
JSON_PATH = HERE / "ldn_calibration.json"
BASE = ("pharmaceutical", "tonic", "trif_branch")
SUMMARY = re.compile(r"^(Cmax|Tmax|AUC|AUCinf|half_life|Cmin|Cavg)\((\w+)\)$")

STAGES = {
    "pk": dict(files=("swisslabel", "fdalabel", "meyer1984", "wall1981", "contravelabel"),
               retention="human_pet",
               params=("ka", "V_ntx", "Q_ntx", "V2_ntx", "CL_ntx", "f_6bn", "V_6bn", "Q_6bn",
                       "V2_6bn", "CLnr_6bn", "extended_release.ka")),
    "pet_human_pet": dict(files=("rabiner2011", "lee1988", "weerts2008"), retention="human_pet",
                          params=("human_pet.Kd_ntx", "human_pet.k_ret_on",
                                  "human_pet.k_ret_off")),
    "pet_slow_biophase": dict(files=("rabiner2011", "lee1988", "weerts2008", "swisslabel",
                                   "fdalabel", "meyer1984", "wall1981"),
                            retention="slow_biophase",
                            params=("slow_biophase.Kd_ntx", "slow_biophase.k_eo",
                                    "slow_biophase.Q_deep", "slow_biophase.V_deep")),
    "mouse": dict(files=("zagon1983", "zagon1984", "zagon1987"), retention=None,
                  params=("mouse.k_ret_on", "mouse.k_ret_off")),
}


# ------------------------------------------------------------------------------- data
def read_data(name):
    """Subjects of one data file: ``[{id, doses, scenario, obs}]`` in file order."""
    path = DATA_DIR / f"{name}.csv"
    text = "\n".join(ln for ln in path.read_text().splitlines() if not ln.startswith("#"))
    subjects = {}
    for row in csv.DictReader(io.StringIO(text)):
        s = subjects.setdefault(row["ID"], dict(id=row["ID"], study=name, doses=[], obs=[],
                                                scenario=()))
        if row["SCENARIO"]:
            s["scenario"] = tuple(row["SCENARIO"].split("+"))
        if row["EVID"] == "1":
            ii = float(row["II"]) if row.get("II") else None
            addl = int(row["ADDL"]) if row.get("ADDL") else 0
            s["doses"].append(Dose(float(row["AMT"]), time=float(row["TIME"]), every=ii,
                                   count=addl + 1))
        else:
            s["obs"].append(dict(time=float(row["TIME"]), name=row["NAME"],
                                 tstart=float(row["TSTART"]) if row["TSTART"] else 0.0,
                                 dv=float(row["DV"]), sd=float(row["SD"]), unit=row["UNIT"],
                                 study=row["STUDY"], source=row["SOURCE"],
                                 method=row["METHOD"]))
    return list(subjects.values())


def summary(name, t, y, t0, t1):
    """A summary observation of one simulated profile over [t0, t1] (NCA-style)."""
    m = (t >= t0 - 1e-9) & (t <= t1 + 1e-9)
    tt, yy = t[m], y[m]
    if name in ("Cmax", "Tmax"):
        i = int(np.argmax(yy))
        if 0 < i < len(yy) - 1:  # parabola through the three samples around the maximum
            y0, y1, y2 = yy[i - 1:i + 2]
            den = y0 - 2 * y1 + y2
            if den < 0:
                d = 0.5 * (y0 - y2) / den
                h = tt[i + 1] - tt[i]
                return (y1 - 0.25 * (y0 - y2) * d) if name == "Cmax" else tt[i] + d * h
        return yy[i] if name == "Cmax" else tt[i]
    if name == "Cmin":
        return float(yy.min())
    if name == "Cavg":
        return float(np.trapezoid(yy, tt) / (tt[-1] - tt[0]))
    if name == "AUC":
        return float(np.trapezoid(yy, tt))
    if name == "AUCinf":
        k = -np.polyfit(tt[-20:], np.log(yy[-20:]), 1)[0]
        return float(np.trapezoid(yy, tt) + yy[-1] / k)
    if name == "half_life":
        return float(-math.log(2) / np.polyfit(tt, np.log(yy), 1)[0])
    raise ValueError(name)


# ------------------------------------------------------------------------------- model
class Calibration:
    """The model, the current parameter values (base and per scenario) and the data."""

    def __init__(self):
        self.model = ldnsim.load_model(str(MODEL_PATH))
        self.base = {p.name: p.value for p in self.model.parameters}
        self.scen = {k: dict(v.values) for k, v in self.model.scenarios.items()}
        self.bounds = {p.name: (p.lower, p.upper) for p in self.model.parameters}

    def get(self, key):
        if "." in key:
            sc, name = key.split(".")
            return self.scen[sc][name]
        return self.base[key]

    def set(self, key, value):
        if "." in key:
            sc, name = key.split(".")
            self.scen[sc][name] = value
        else:
            self.base[key] = value

    def bound(self, key):
        lo, hi = self.bounds[key.split(".")[-1]]
        return (max(lo if lo is not None else 1e-9, 1e-9), hi if hi is not None else 1e9)

    def params_for(self, scenarios):
        """Parameter values for a scenario combination: base, then each scenario's (fitted)
        values. Passed as explicit params so the fitted scenario values are used."""
        p = dict(self.base)
        for sc in scenarios:
            p.update(self.scen[sc])
        return p

    def simulate(self, subject, retention):
        scen = list(BASE) + ([retention] if retention else []) + list(subject["scenario"])
        if "mouse" in scen and retention:
            scen.remove(retention)
        tmax = max(o["time"] for o in subject["obs"])
        t = np.unique(np.concatenate([np.arange(0.0, min(tmax, 48.0), 0.02),
                                      np.arange(48.0, tmax, 0.25) if tmax > 48 else [],
                                      [o["time"] for o in subject["obs"]],
                                      [o["tstart"] for o in subject["obs"]], [tmax]]))
        reg = Regimen(tuple(subject["doses"]))
        ds = ldnsim.simulate(self.model, t, params=self.params_for(scen), regimen=reg,
                             rtol=1e-8, atol=1e-11, max_steps=2_000_000)
        return t, ds

    def predictions(self, subjects, retention):
        out = []
        for s in subjects:
            t, ds = self.simulate(s, retention)
            for o in s["obs"]:
                m = SUMMARY.match(o["name"])
                if m:
                    pred = summary(m.group(1), t, ds[m.group(2)].values, o["tstart"], o["time"])
                else:
                    pred = float(np.interp(o["time"], t, ds[o["name"]].values))
                out.append(dict(id=s["id"], study=o["study"], name=o["name"], time=o["time"],
                                tstart=o["tstart"], observed=o["dv"], sd=o["sd"], model=pred,
                                residual=(pred - o["dv"]) / o["sd"], unit=o["unit"],
                                source=o["source"], method=o["method"]))
        return out


def fit_stage(cal, name):
    spec = STAGES[name]
    subjects = [s for f in spec["files"] for s in read_data(f)]
    keys = spec["params"]
    lo = np.log([cal.bound(k)[0] for k in keys])
    hi = np.log([cal.bound(k)[1] for k in keys])
    x0 = np.clip(np.log([max(cal.get(k), 1e-9) for k in keys]), lo + 1e-6, hi - 1e-6)

    def f(x):
        for k, v in zip(keys, np.exp(x)):
            cal.set(k, float(v))
        return np.array([r["residual"] for r in cal.predictions(subjects, spec["retention"])])

    res = least_squares(f, x0, bounds=(lo, hi), diff_step=1e-3, x_scale=1.0)
    for k, v in zip(keys, np.exp(res.x)):
        cal.set(k, float(v))
    rows = cal.predictions(subjects, spec["retention"])
    ident = identifiability(keys, res.x, res.jac)
    print(f"[{name}] {res.message.strip()} nfev={res.nfev} sum of squares={2 * res.cost:.4g} "
          f"({len(rows)} observations, {len(keys)} parameters)")
    return dict(stage=name, files=list(spec["files"]), retention=spec["retention"],
                n_obs=len(rows), n_par=len(keys), sum_squares=2 * float(res.cost),
                parameters=ident, residuals=rows)


def identifiability(keys, x, jac):
    """Gauss-Newton SE, 95% interval and correlations in log parameters."""
    jtj = jac.T @ jac
    cov = np.linalg.pinv(jtj)
    se = np.sqrt(np.clip(np.diag(cov), 0, None))
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = cov / np.outer(se, se)
    sv = np.linalg.svd(jac, compute_uv=False)
    out = []
    for i, k in enumerate(keys):
        others = [(keys[j], float(corr[i, j])) for j in range(len(keys)) if j != i]
        worst = max(others, key=lambda kv: abs(kv[1])) if others else (None, 0.0)
        ok = se[i] <= 1.0 and abs(worst[1]) <= 0.95
        out.append(dict(name=k, value=float(np.exp(x[i])), se_log=float(se[i]),
                        ci95=[float(np.exp(x[i] - 1.96 * se[i])),
                              float(np.exp(x[i] + 1.96 * se[i]))],
                        max_corr_with=worst[0], max_corr=float(worst[1]), identified=bool(ok)))
    out.append(dict(singular_values=[float(s) for s in sv]))
    return out


# ------------------------------------------------------------------------------- checks
def checks(cal):
    """Derived quantities a reader asks for (not fitted)."""
    m = cal.model
    t = np.arange(0.0, 240.0, 0.05)
    out = {}
    p = cal.params_for(BASE + ("human_pet",))
    ds = ldnsim.simulate(m, t, params=p, regimen=Regimen.repeat(50.0, every=24.0, count=1),
                         rtol=1e-8, atol=1e-11, max_steps=2_000_000)
    out["auc_ntx_50mg"] = summary("AUCinf", t, ds.C_ntx.values, 0, 239)
    out["auc_6bn_50mg"] = summary("AUCinf", t, ds.C_6bn.values, 0, 239)
    out["cmax_ntx_4.5mg"] = float(ds.C_ntx.max()) * 4.5 / 50
    out["cmax_6bn_4.5mg"] = float(ds.C_6bn.max()) * 4.5 / 50
    out["CL_6bn_total"] = cal.base["CLr_6bn"] + cal.base["CLnr_6bn"]
    out["urine_ntx_48h_fraction"] = float(np.interp(48.0, t, ds.urine_ntx.values)) / 50
    out["urine_6bn_240h_fraction"] = float(np.interp(239.0, t, ds.urine_6bn.values)) / 50
    return out


# ------------------------------------------------------------------------------- output
def write_toml(cal, keys, path=MODEL_PATH):
    """Replace the ``value`` of fitted base parameters and the fitted scenario entries."""
    text = path.read_text()
    for key in keys:
        v = cal.get(key)
        if "." not in key:
            pat = re.compile(rf"^({re.escape(key)} = \{{ value = )[^,]+", re.M)
            text, n = pat.subn(rf"\g<1>{v:.6g}", text, count=1)
        else:
            sc, name = key.split(".")
            start = text.index(f"[scenarios.{sc}]")
            end = text.find("\n[", start + 1)
            end = len(text) if end < 0 else end
            block, n = re.subn(rf"^({re.escape(name)} = ).*$", rf"\g<1>{v:.6g}",
                               text[start:end], count=1, flags=re.M)
            text = text[:start] + block + text[end:]
        if n != 1:
            raise SystemExit(f"could not write {key} into {path}")
    path.write_text(text)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write", action="store_true", help="write fitted values into ldn.toml")
    ap.add_argument("--stages", default=",".join(STAGES), help="comma-separated stages")
    args = ap.parse_args(argv)
    cal = Calibration()
    results = [fit_stage(cal, s) for s in args.stages.split(",")]
    # the base Kd_ntx and retention follow the default human_pet scenario
    for k in ("Kd_ntx", "k_ret_on", "k_ret_off"):
        cal.base[k] = cal.scen["human_pet"][k]
    for r in results:
        print(f"\n== {r['stage']}: residuals (model - observed) / SD")
        for row in r["residuals"]:
            print(f"  {row['study']:14s} {row['id']:12s} {row['name']:24s} t={row['time']:6g} "
                  f"obs={row['observed']:9.4g} model={row['model']:9.4g} "
                  f"res={row['residual']:+6.2f}")
        print("  parameters (95% Gauss-Newton interval; * = not identified by these data):")
        for q in r["parameters"][:-1]:
            print(f"  {'' if q['identified'] else '*'}{q['name']:24s} {q['value']:10.4g}  "
                  f"[{q['ci95'][0]:.3g}, {q['ci95'][1]:.3g}]  max |corr| {abs(q['max_corr']):.2f}"
                  f" with {q['max_corr_with']}")
    chk = checks(cal)
    print("\nchecks:", ", ".join(f"{k} = {v:.4g}" for k, v in chk.items()))
    keys = [k for s in args.stages.split(",") for k in STAGES[s]["params"]]
    fitted = {k: cal.get(k) for k in keys}
    fitted.update({k: cal.base[k] for k in ("Kd_ntx", "k_ret_on", "k_ret_off")})
    if args.write:
        write_toml(cal, list(fitted))
        print(f"wrote fitted values into {MODEL_PATH}")
    if set(args.stages.split(",")) != set(STAGES) and JSON_PATH.exists():
        # a partial run keeps the other stages of the previous run
        old = json.loads(JSON_PATH.read_text())
        done = {r["stage"] for r in results}
        results = [r for r in old["stages"] if r["stage"] not in done] + results
        fitted = {**old["fitted"], **fitted}
    order = list(STAGES)
    results.sort(key=lambda r: order.index(r["stage"]))
    JSON_PATH.write_text(json.dumps(dict(
        model="models/ldn.toml", model_hash=ldnsim.load_model(str(MODEL_PATH)).hash,
        method="scipy.optimize.least_squares (TRF, log parameters, bounds from ldn.toml); "
               "Gauss-Newton SE from the Jacobian at the optimum",
        fitted=fitted, stages=results, checks=chk), indent=1) + "\n")
    print(f"wrote {JSON_PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
