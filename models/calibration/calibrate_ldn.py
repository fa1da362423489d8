"""Calibration of models/ldn.toml with ldnsim.fit, against the data files in models/data/.

Run from the repository root (one command; about 40-60 minutes on 2 shared cores)::

    python models/calibration/calibrate_ldn.py --write     # every fit, then ldn.toml updated
    python models/calibration/calibrate_ldn.py --fits pk_meyer,pet_meyer   # some fits only
    python models/calibration/calibrate_ldn.py --report    # print the card's tables

Every fit is ``ldnsim.fit`` (maximum likelihood; every data row carries its SD, so there is no
residual-error parameter) on a selection of rows of the data files, with profile likelihoods of
every fitted parameter; the PET fits also sample an emcee posterior. Each fit is written to
``models/calibration/<fit>.nc`` (``ldnsim.estimation.save_fit``: estimates, Fisher covariance,
profiles, posterior, residuals, provenance) and ``<fit>.toml`` (``write_overlay``), and the
summary of all of them (estimates, intervals, verdicts, every residual, derived checks) to
``ldn_calibration.json``. ``--write`` then writes the estimates into ``ldn.toml`` (the
parameter values, and the scenarios ``human_pet``, ``pk_label``, ``slow_biophase``,
``extended_release``, ``mouse``, ``mouse_sc_long``).

The fits (see the model card, "Calibration"):

``pk_meyer`` (the default PK, used by the headline)
    Meyer 1984 (half-lives, urinary 6BN and naltrexone, AUC from F and CL) and the label's Tmax.
``pk_label`` (the conflicting branch, kept visible)
    the labels' Cmax, Tmax and half-lives. The labels' Cmax and Meyer's exposure disagree about
    threefold; no one disposition model reproduces both, so each is fitted on its own.
``pet_meyer``, ``pet_label``
    ``Kd_ntx``, the retention pool (``k_ret_on``, ``k_ret_off``), the brain exposure of 6BN
    (``Kp_6bn_brain``, prior log-uniform over its declared range 0.005-0.1) and the share of
    brain receptor up-regulation ``up_brain`` (prior uniform 0-1 of the mouse-measured
    ``up_target``) to Rabiner 2011, Lee 1988 (with its 1 h reference scan as a row,
    ``lee1988_1h.csv``: Lee reports blockade relative to that scan) and Weerts 2008, the PK
    fixed at the branch's estimate. Up-regulation is on in the brain while fitting (the tonic
    drive; at the PET doses the rebound drive is saturated alike), so every posterior draw
    carries the ``Kd_ntx`` and retention that fit the data WITH its brain up-regulation: the
    headline draws them together.
``pet_meyer_no1h`` (sensitivity)
    the previous default: without Lee's 1 h scan and without brain up-regulation (the pool
    then runs to its bound).
``extended_release``
    the absorption rate of the Contrave tablet (its Cmax, Tmax and AUC) with the Meyer PK.
``pet_slow_biophase``
    the phenomenological alternative (slow brain equilibration instead of the pool).
``mouse``, ``mouse_sc_long``
    the mouse blockade durations (Zagon 1983/1984/1987) with a brain retention pool and rat IV
    PK, or with the long subcutaneous plasma phase of Misra 1976 and no pool.

Structure fixed for all human fits: one-compartment naltrexone and 6BN (the summary data give
one half-life per analyte after absorption; Wall 1981's route-dependent terminal half-lives
are kept as a documented conflict, not fitted), ``F_oral`` 0.05 (Meyer), ``f_6bn`` 0.7 in the
Meyer branch (the share of the dose passing through 6BN, 0.55-0.9 from the Swiss label's urine
composition; it barely changes concentrations because 6BN's AUC is urine / renal clearance).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import re
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
try:
    import ldnsim
except ModuleNotFoundError:  # run from a source checkout without installing
    sys.path.insert(0, str(HERE.parents[1]))
    import ldnsim
from ldnsim.dataset import read_dataset  # noqa: E402

ROOT = HERE.parents[1]
MODEL_PATH = ROOT / "models" / "ldn.toml"
DATA_DIR = ROOT / "models" / "data"
JSON_PATH = HERE / "ldn_calibration.json"

#: The one-compartment human PK and no deep phase (fixed in every human fit).
HUMAN_STRUCTURE = {"Q_ntx": 0.0, "Q_6bn": 0.0, "Q_deep": 0.0, "F_oral": 0.05}
#: Receptor up-regulation off (the sensitivity fit without it).
NO_UPREGULATION = {"w_tonic": 0.0, "w_rebound": 0.0}
#: Brain up-regulation on while fitting PET (human: its share ``up_brain`` fitted; mouse: the
#: mouse scenarios' up_brain = 1, measured in mouse brain), as the experiments run it. The PET
#: doses (50 mg for days) block the receptors fully, so the tonic and the rebound drive are
#: both saturated there and the fit does not depend on which hypothesis drives it (checked:
#: ``hypothesis_check``, "pet_objective_by_brain_drive" in the JSON).
BRAIN_UPREGULATION = {"w_tonic": 1.0, "w_rebound": 0.0}
#: The PET data of every human PET fit: Rabiner, Lee (with its 1 h reference scan), Weerts.
PET_FILES = ("rabiner2011", "lee1988", "weerts2008", "lee1988_1h")
#: The emcee run of the PET fits (the headline draws from pet_meyer's posterior).
PET_POSTERIOR = {"walkers": 24, "steps": 6000, "burn": 2000}
#: Human PK parameters the PET fits take from their branch.
PK_NAMES = ("ka", "V_ntx", "CL_ntx", "f_6bn", "V_6bn", "CLnr_6bn")


def _p(init, lower, upper, **kw):
    return {"init": float(init), "lower": float(lower), "upper": float(upper), **kw}


@dataclass(frozen=True)
class FitSpec:
    """One fit: data rows, fitted parameters (init and bounds), what is held fixed."""

    name: str
    files: tuple
    params: dict
    fixed: dict = field(default_factory=dict)
    scenarios: tuple = ("pharmaceutical",)
    exclude: tuple = ()            # regular expressions on NAME or ID: rows left out
    strip: tuple = ()              # data SCENARIOs removed from the subjects ...
    values_of: str | None = None   # ... and this scenario's values put in `fixed` instead
    pk_from: str | None = None     # take the PK parameters from this fit's estimate
    kd_from: str | None = None     # take Kd_ntx from this fit's estimate
    posterior: dict | None = None
    starts: int = 3
    description: str = ""
    sensitivity: bool = False      # a what-if fit: summarised, never written into ldn.toml


def _pet_fit(branch, pk_label, *, kd_init, seed):
    """The human PET fit of one PK branch (``pet_meyer``, ``pet_label``): the same data,
    parameters and brain up-regulation, the branch's PK, its own start and posterior seed."""
    return FitSpec(
        f"pet_{branch}", PET_FILES,
        {"Kd_ntx": _p(kd_init, 0.005, 10.0), "k_ret_on": _p(15.0, 1.0, 1000.0),
         "k_ret_off": _p(0.2, 0.01, 100.0), "Kp_6bn_brain": _p(0.02, 0.005, 0.1),
         "up_brain": _p(0.3, 0.0, 1.0, scale="lin")},
        fixed={**HUMAN_STRUCTURE, **BRAIN_UPREGULATION}, pk_from=f"pk_{branch}",
        posterior=PET_POSTERIOR | {"seed": seed},
        description=f"brain MOR PET (with Lee 1988's 1 h reference scan) with the "
                    f"{pk_label} PK")


FITS = {f.name: f for f in (
    FitSpec("pk_meyer", ("swisslabel", "meyer1984"),
            {"ka": _p(3.0, 0.2, 20.0), "V_ntx": _p(450.0, 20.0, 5000.0),
             "CL_ntx": _p(85.0, 10.0, 500.0), "V_6bn": _p(700.0, 20.0, 5000.0),
             "CLnr_6bn": _p(25.0, 0.1, 500.0)},
            fixed={**HUMAN_STRUCTURE, "f_6bn": 0.7}, exclude=(r"^Cmax\(",), starts=4,
            description="Meyer 1984 exposure (AUC from F and CL, urinary 6BN and naltrexone, "
                        "half-lives) and the label's Tmax"),
    FitSpec("pk_label", ("swisslabel", "fdalabel"),
            {"ka": _p(3.0, 0.2, 20.0), "V_ntx": _p(150.0, 20.0, 5000.0),
             "CL_ntx": _p(30.0, 5.0, 500.0), "f_6bn": _p(0.9, 0.3, 1.0),
             "V_6bn": _p(350.0, 20.0, 5000.0)},
            fixed={**HUMAN_STRUCTURE, "CLnr_6bn": 0.0}, starts=4,
            description="the labels' Cmax, Tmax and half-lives (6BN clearance at its renal "
                        "minimum: the labels' 6BN Cmax and half-life leave no room for more)"),
    _pet_fit("meyer", "Meyer-branch", kd_init=0.2, seed=11),
    _pet_fit("label", "label-branch", kd_init=0.4, seed=12),
    FitSpec("extended_release", ("contravelabel",), {"ka": _p(0.35, 0.02, 5.0)},
            fixed=dict(HUMAN_STRUCTURE), pk_from="pk_meyer", strip=("extended_release",),
            values_of="extended_release",
            starts=2, description="Contrave tablet absorption (Meyer-branch disposition)"),
    FitSpec("pet_slow_biophase", PET_FILES,
            {"Kd_ntx": _p(0.05, 0.005, 10.0), "k_eo": _p(0.02, 0.001, 10.0)},
            fixed={**HUMAN_STRUCTURE, **NO_UPREGULATION, "k_ret_on": 0.0, "k_ret_off": 0.0,
                   "Kp_6bn_brain": 0.02, "up_brain": 0.0},
            pk_from="pk_meyer",
            description="phenomenological alternative: slow brain equilibration, no pool "
                        "(6BN's brain share fixed at the same-laboratory ratio 0.02)"),
    FitSpec("pet_meyer_no1h", ("rabiner2011", "lee1988", "weerts2008"),
            {"Kd_ntx": _p(0.05, 0.005, 10.0), "k_ret_on": _p(150.0, 1.0, 1000.0),
             "k_ret_off": _p(0.9, 0.01, 100.0), "Kp_6bn_brain": _p(0.02, 0.005, 0.1)},
            fixed={**HUMAN_STRUCTURE, **NO_UPREGULATION, "up_brain": 0.0}, pk_from="pk_meyer",
            sensitivity=True,
            description="sensitivity: the previous default PET fit, without Lee 1988's 1 h "
                        "reference scan and without brain up-regulation; not written into "
                        "ldn.toml"),
    FitSpec("mouse", ("zagon1983", "zagon1984", "zagon1987"),
            {"Kd_ntx": _p(0.1, 0.005, 10.0), "k_ret_on": _p(60.0, 1.0, 1000.0),
             "k_ret_off": _p(0.006, 1e-4, 10.0)},
            fixed=dict(BRAIN_UPREGULATION), scenarios=(), strip=("mouse",), values_of="mouse",
            description="mouse blockade durations, rat IV PK, brain retention pool; Kd_ntx is "
                        "the mouse's functional (analgesia-blocking) constant"),
    FitSpec("mouse_sc_long", ("zagon1983", "zagon1984", "zagon1987", "misra1976"),
            {"Kd_ntx": _p(0.1, 0.005, 10.0), "Q_deep": _p(0.001, 1e-6, 1.0),
             "V_deep": _p(0.05, 0.001, 100.0)},
            fixed=dict(BRAIN_UPREGULATION), scenarios=(), strip=("mouse", "mouse_sc_long"),
            values_of="mouse_sc_long",
            description="mouse blockade durations with Misra's long SC plasma phase, no pool"),
)}

#: Where --write puts each fit's estimates: None = the parameter values, else a scenario.
WRITE_TO = {"pk_meyer": [None], "pet_meyer": [None, "human_pet"], "pk_label": ["pk_label"],
            "pet_label": ["pk_label"], "extended_release": ["extended_release"],
            "pet_slow_biophase": ["slow_biophase"], "mouse": ["mouse"], "pet_meyer_no1h": [],
            "mouse_sc_long": ["mouse_sc_long"]}


# ------------------------------------------------------------------------------------ data
def subset(data, keep):
    """``data`` with only the observations where ``keep`` (a bool array over obs) is True,
    and only the subjects that still have observations."""
    obs = data.observations.isel(obs=np.flatnonzero(keep))
    ids = set(obs["ID"].values.tolist())
    subjects = tuple(s for s in data.subjects if s in ids)
    return dataclasses.replace(
        data, observations=obs, subjects=subjects,
        regimens={s: data.regimens[s] for s in subjects},
        scenarios={s: data.scenarios[s] for s in subjects if s in data.scenarios},
        start={s: data.start[s] for s in subjects})


def fit_data(spec, model):
    """The observed data of a fit: its files, rows selected, a stripped scenario removed."""
    data = read_dataset([DATA_DIR / f"{f}.csv" for f in spec.files], model)
    obs = data.observations
    keep = np.ones(obs.sizes["obs"], bool)
    for pattern in spec.exclude:
        rx = re.compile(pattern)
        keep &= ~np.array([bool(rx.search(n)) or bool(rx.search(i)) for n, i in
                           zip(obs["NAME"].values, obs["ID"].values)])
    data = subset(data, keep)
    if spec.strip:
        data = dataclasses.replace(data, scenarios={
            s: tuple(x for x in sc if x not in spec.strip) for s, sc in data.scenarios.items()})
    return data


def fit_conditions(spec, model, estimates):
    """``fixed`` of a fit: the spec's, the stripped scenario's values, the PK of a branch."""
    fixed = {}
    if spec.values_of:
        fixed.update(model.scenarios[spec.values_of].values)
    if spec.pk_from:
        fixed.update({k: v for k, v in estimates[spec.pk_from].items() if k in PK_NAMES})
        fixed.update(FITS[spec.pk_from].fixed)
    if spec.kd_from:
        fixed["Kd_ntx"] = estimates[spec.kd_from]["Kd_ntx"]
    fixed.update(spec.fixed)
    return {k: float(v) for k, v in fixed.items() if k not in spec.params}


def build(spec, model, estimates, values=None, *, reduce=True):
    """The :class:`ldnsim.estimation.Problem` of a fit (``values``: the fitted parameters'
    values to start from, default the spec's initial values)."""
    from ldnsim.estimation import build_problem
    params = {k: dict(v, init=float(np.clip(values[k], v["lower"], v["upper"])))
              if values else dict(v) for k, v in spec.params.items()}
    return build_problem(model, fit_data(spec, model), params, method="ml",
                         fixed=fit_conditions(spec, model, estimates),
                         scenarios=spec.scenarios, rtol=1e-8, atol=1e-11,
                         max_steps=1_000_000, reduce=reduce)


def file_estimates(model):
    """``{fit: {parameter: value}}`` as ``ldn.toml`` holds them (where --write put them)."""
    values = dict(zip(model.parameter_names, model.parameter_vector()[:len(
        model.parameter_names)].tolist()))
    out = {}
    for name, spec in FITS.items():
        if spec.sensitivity:
            continue
        where = WRITE_TO[name][-1]
        src = values if where is None else {**values, **model.scenarios[where].values}
        out[name] = {k: float(src[k]) for k in spec.params}
        if name.startswith("pk_"):
            out[name].update({k: float(src[k]) for k in PK_NAMES})
    return out


# ------------------------------------------------------------------------------------ fits
def run_fit(spec, model, estimates, *, profile=True):
    """Fit, profile and (when asked) sample one spec; returns the fit Dataset."""
    from ldnsim.estimation import fit_problem
    from ldnsim.model.compiled import structure_key

    problem = build(spec, model, estimates)
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = fit_problem(problem, starts=spec.starts, seed=7, profile=profile,
                         posterior=spec.posterior, level=0.95, max_iter=500)
    messages = sorted({str(w.message) for w in caught})
    ds.attrs["calibration_fit"] = spec.name
    ds.attrs["calibration_description"] = spec.description
    ds.attrs["calibration_warnings"] = json.dumps(messages)
    ds.attrs["model_structure"] = structure_key(model)
    print(f"[{spec.name}] -2 log L = {ds.attrs['objective']:.4g}, {ds.attrs['n_obs']} "
          f"observations, {len(spec.params)} parameters, {time.perf_counter() - t0:.0f} s")
    for m in messages:
        print(f"  warning: {m}")
    return ds


def summary_of(spec, ds):
    """What the JSON and the model card keep of a fit."""
    from ldnsim.results import provenance

    names = [str(p) for p in ds["parameter"].values]
    params = []
    for i, name in enumerate(names):
        row = {"name": name, "estimate": float(ds["estimate"][i]),
               "se_log": float(ds["se_log"][i]),
               "wald95": [float(ds["ci_lower"][i]), float(ds["ci_upper"][i])],
               "lower": float(ds["lower"][i]), "upper": float(ds["upper"][i])}
        if "identifiability" in ds:
            row["profile95"] = [float(ds["profile_ci_lower"][i]),
                                float(ds["profile_ci_upper"][i])]
            row["verdict"] = str(ds["identifiability"].values[i])
        if "posterior_median" in ds:
            import emcee  # integrated autocorrelation time, in steps, over the kept chains
            chain = np.transpose(ds["posterior"].values[..., i])[..., None]  # (draw, walker, 1)
            row["autocorr_steps"] = float(emcee.autocorr.integrated_time(chain, quiet=True)[0])
            row["posterior"] = {"median": float(ds["posterior_median"][i]),
                                "q05": float(np.quantile(ds["posterior"].values[..., i], 0.05)),
                                "q95": float(np.quantile(ds["posterior"].values[..., i], 0.95)),
                                "rhat": float(ds["rhat"][i]),
                                "ess_bulk": float(ds["ess_bulk"][i])}
        params.append(row)
    corr = np.asarray(ds["correlation"].values, dtype=float)
    for i, row in enumerate(params):
        others = [(names[j], corr[i, j]) for j in range(len(names)) if j != i
                  and np.isfinite(corr[i, j])]
        if others:
            j_name, c = max(others, key=lambda kv: abs(kv[1]))
            row["max_corr"] = [j_name, float(c)]
    residuals = [{"id": str(ds["ID"].values[k]), "name": str(ds["NAME"].values[k]),
                  "time": float(ds["TIME"].values[k]), "observed": float(ds["DV"].values[k]),
                  "sd": float(ds["SD"].values[k]), "model": float(ds["PRED"].values[k]),
                  "wres": float(-ds["WRES"].values[k])}   # (model - observed) / SD
                 for k in range(ds.sizes["obs"])]
    return {"fit": spec.name, "description": spec.description, "files": list(spec.files),
            "excluded_rows": list(spec.exclude), "fixed": provenance(ds).get("fixed", {}),
            "scenarios": list(spec.scenarios), "objective": float(ds.attrs["objective"]),
            "n_obs": int(ds.attrs["n_obs"]), "seconds": float(ds.attrs["fit_seconds"]),
            "warnings": json.loads(ds.attrs["calibration_warnings"]),
            "parameters": params, "residuals": residuals}


# ---------------------------------------------------------------------------------- checks
def checks(model):
    """Derived quantities a reader asks for (not fitted), at the values in ``ldn.toml``."""
    from ldnsim.metrics import nca

    t = np.concatenate([np.arange(0.0, 48.0, 0.02), np.arange(48.0, 240.0 + 1e-9, 0.25)])
    reg = ldnsim.Regimen.repeat(50.0, every=24.0, count=1)
    out = {}
    for branch, scen in (("meyer", ("pharmaceutical", "human_pet")),
                         ("label", ("pharmaceutical", "pk_label"))):
        ds = ldnsim.simulate(model, t, scenarios=scen, regimen=reg, rtol=1e-9, atol=1e-12)
        c = {}
        for var in ("C_ntx", "C_6bn"):
            r = nca(ds, var, start=0.0, end=240.0)
            c[var] = {"Cmax_50mg": float(r["Cmax"]), "Tmax_50mg": float(r["Tmax"]),
                      "AUCinf_50mg": float(r["AUCinf"]), "half_life": float(r["half_life"])}
        c["urine_6bn_fraction_48h"] = float(ds.urine_6bn.sel(time=48.0)) / 50.0
        c["urine_ntx_fraction_48h"] = float(ds.urine_ntx.sel(time=48.0)) / 50.0
        ka_er = float(model.scenarios["extended_release"].values["ka"])
        er = ldnsim.simulate(model, t, scenarios=scen, params={"ka": ka_er},
                             regimen=ldnsim.Regimen.repeat(16.0, every=24.0, count=1),
                             rtol=1e-9, atol=1e-12)
        r = nca(er, "C_ntx", start=0.0, end=240.0)
        c["contrave_16mg"] = {"Cmax": float(r["Cmax"]), "Tmax": float(r["Tmax"]),
                              "AUCinf": float(r["AUCinf"])}
        p = model.parameter_vector(None, scen)
        names = model.parameter_names
        get = dict(zip(names, p[:len(names)].tolist()))
        c["CL_6bn_total"] = get["CLr_6bn"] + get["CLnr_6bn"]
        c["Kd_ntx"] = get["Kd_ntx"]
        out[branch] = c
    return out


def hypothesis_check(model, estimates, n=20):
    """-2 log L of each human PET fit with the brain up-regulation driven by the tonic drive
    (as fitted) and by the rebound drive, at the estimate and at the ``n`` posterior draws with
    the most brain up-regulation (``up_brain``): the fit should not depend on the drive."""
    from ldnsim.estimation import open_fit
    from ldnsim.estimation.objective import Objective

    out = {}
    for name in ("pet_meyer", "pet_label"):
        path = HERE / f"{name}.nc"
        if name not in estimates or not path.exists():
            continue
        spec = FITS[name]
        fit = open_fit(path)
        names = [str(x) for x in fit["parameter"].values]
        post = np.asarray(fit["posterior"].values).reshape(-1, len(names))
        top = post[np.argsort(post[:, names.index("up_brain")])[-n:]]
        points = [estimates[name]] + [dict(zip(names, row)) for row in top]
        values = {}
        for hyp, drive in (("tonic", BRAIN_UPREGULATION),
                           ("rebound", {"w_tonic": 0.0, "w_rebound": 1.0})):
            alt = dataclasses.replace(spec, fixed={**spec.fixed, **drive})
            obj = Objective(build(alt, model, estimates, estimates[name]))
            X = np.array([obj.to_x(np.array([pt[q.name] for q in obj.problem.params]))
                          for pt in points])
            values[hyp] = obj.neg2ll_values(X)
        diff = values["rebound"] - values["tonic"]
        out[name] = {"estimate": {"tonic": float(values["tonic"][0]),
                                  "rebound": float(values["rebound"][0])},
                     f"top_{n}_up_brain_draws": {
                         "up_brain_min": float(top[:, names.index("up_brain")].min()),
                         "tonic_median": float(np.median(values["tonic"][1:])),
                         "rebound_median": float(np.median(values["rebound"][1:])),
                         "max_abs_difference": float(np.max(np.abs(diff[1:])))}}
    return out


# ----------------------------------------------------------------------------------- write
def write_toml(updates, path=MODEL_PATH):
    """Replace parameter values (``updates[None]``) and scenario entries (``updates[name]``)."""
    text = path.read_text()
    for where, values in updates.items():
        for key, v in values.items():
            if where is None:
                pat = re.compile(rf"^({re.escape(key)} = \{{ value = )[^,]+", re.M)
                text, n = pat.subn(rf"\g<1>{v:.6g}", text, count=1)
            else:
                start = text.index(f"[scenarios.{where}]")
                end = text.find("\n[", start + 1)
                end = len(text) if end < 0 else end
                block, n = re.subn(rf"^({re.escape(key)} = ).*$", rf"\g<1>{v:.6g}",
                                   text[start:end], count=1, flags=re.M)
                if n == 0:  # a parameter the scenario did not set yet
                    block, n = block.rstrip("\n") + f"\n{key} = {v:.6g}\n", 1
                text = text[:start] + block + text[end:]
            if n != 1:
                raise SystemExit(f"could not write {key} into {path} ({where or 'parameters'})")
    path.write_text(text)


#: Fixed values a fit's estimates need beside them in the model file (the PK structure).
WRITE_FIXED = {"pk_meyer": ("Q_ntx", "Q_6bn", "Q_deep", "F_oral", "f_6bn"),
               "pk_label": ("CLnr_6bn",),
               "pet_slow_biophase": ("Kp_6bn_brain", "up_brain", "k_ret_on", "k_ret_off")}


def updates_from(estimates):
    """``{None or scenario: {parameter: value}}`` for :func:`write_toml`."""
    out = {}
    for name, values in estimates.items():
        extra = {k: FITS[name].fixed[k] for k in WRITE_FIXED.get(name, ())}
        for where in WRITE_TO.get(name, []):
            out.setdefault(where, {}).update({**values, **extra})
    return out


# ---------------------------------------------------------------------------------- report
def _fmt(x):
    return "unbounded" if not np.isfinite(x) else f"{x:.4g}"


def report(summary):
    """Markdown tables of every fit (for the model card)."""
    lines = []
    for s in summary["fits"]:
        lines.append(f"**Fit `{s['fit']}`**: {s['description']} ({s['n_obs']} observations, "
                     f"{len(s['parameters'])} parameters, -2 log L = {s['objective']:.4g}; data: "
                     + ", ".join(f"`{f}.csv`" for f in s["files"]) + ")\n")
        post = any("posterior" in p for p in s["parameters"])
        head = "| parameter | estimate | 95% Wald | 95% profile | verdict |" + (
            " posterior median [5-95%] | R-hat / ESS |" if post else "")
        lines += [head, "|" + "|".join(["---"] * (head.count("|") - 1)) + "|"]
        for p in s["parameters"]:
            w = p["wald95"]
            pr = p.get("profile95", [np.nan, np.nan])
            row = (f"| `{p['name']}` | {p['estimate']:.4g} | {_fmt(w[0])} - {_fmt(w[1])} | "
                   f"{_fmt(pr[0])} - {_fmt(pr[1])} | {p.get('verdict', '')} |")
            if post:
                q = p["posterior"]
                row += (f" {q['median']:.4g} [{q['q05']:.4g} - {q['q95']:.4g}] | "
                        f"{q['rhat']:.3f} / {q['ess_bulk']:.0f} |")
            lines.append(row)
        lines += ["", "| ID | observation | time (h) | observed | SD | model | (model - obs)/SD |",
                  "|---|---|---|---|---|---|---|"]
        for r in s["residuals"]:
            lines.append(f"| {r['id']} | `{r['name']}` | {r['time']:g} | {r['observed']:.4g} | "
                         f"{r['sd']:.3g} | {r['model']:.4g} | {r['wres']:+.2f} |")
        lines.append("")
    if summary.get("checks"):
        lines += ["**Derived checks** (not fitted; at the values in `ldn.toml`): 50 mg single dose "
                  "and Contrave 16 mg, per PK branch", "",
                  "| quantity | Meyer branch (default) | label branch (`pk_label`) | data |",
                  "|---|---|---|---|"]
        c = summary["checks"]
        rows = [("naltrexone Cmax (ng/mL)", ("C_ntx", "Cmax_50mg"), "13.3 [swisslabel]"),
                ("naltrexone Tmax (h)", ("C_ntx", "Tmax_50mg"), "about 1 [swisslabel]"),
                ("naltrexone AUCinf (ng h/mL)", ("C_ntx", "AUCinf_50mg"),
                 "26.6 (F x dose / CL) [meyer1984]"),
                ("naltrexone terminal half-life (h)", ("C_ntx", "half_life"),
                 "4 [meyer1984] [fdalabel]; 8.9 oral, 2.7 IV [wall1981]"),
                ("6BN Cmax (ng/mL)", ("C_6bn", "Cmax_50mg"), "108 [swisslabel]"),
                ("6BN AUCinf (ng h/mL)", ("C_6bn", "AUCinf_50mg"),
                 "about 670 (urine / renal clearance) [meyer1984]"),
                ("6BN terminal half-life (h)", ("C_6bn", "half_life"),
                 "12-13 [meyer1984] [fdalabel]"),
                ("urinary 6BN, 0-48 h (fraction of dose)", ("urine_6bn_fraction_48h",),
                 "0.25 [meyer1984]"),
                ("urinary naltrexone, 0-48 h (fraction of dose)", ("urine_ntx_fraction_48h",),
                 "< 0.01 [meyer1984]"),
                ("Contrave 16 mg naltrexone AUCinf (ng h/mL)", ("contrave_16mg", "AUCinf"),
                 "8.4 [contravelabel]"),
                ("Contrave 16 mg naltrexone Cmax (ng/mL)", ("contrave_16mg", "Cmax"),
                 "1.4 [contravelabel]"),
                ("total 6BN clearance (L/h)", ("CL_6bn_total",), ">= renal 16.98 [meyer1984]"),
                ("`Kd_ntx` (nM)", ("Kd_ntx",), "in vitro Ki 0.11-1.1 [wentland2009] [cassel2005]")]
        for label, path, data in rows:
            vals = []
            for branch in ("meyer", "label"):
                v = c[branch]
                for k in path:
                    v = v[k]
                vals.append(f"{v:.3g}")
            lines.append(f"| {label} | {vals[0]} | {vals[1]} | {data} |")
        lines.append("")
    return "\n".join(lines)


def parameter_table(model):
    """The card's parameter table, generated from the model file."""
    lines = ["| parameter | value | unit | range (lower-upper) | evidence | meaning. *source* |",
             "|---|---|---|---|---|---|"]
    for p in model.parameters:
        rng = "" if p.lower is None and p.upper is None else (
            f"{'' if p.lower is None else f'{p.lower:g}'}-"
            f"{'' if p.upper is None else f'{p.upper:g}'}")
        lines.append(f"| `{p.name}` | {p.value:.4g} | {p.unit} | {rng} | {p.evidence} | "
                     f"{p.description}. *{p.source}* |")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------ main
def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fits", default=",".join(FITS), help="comma-separated fits (in order)")
    ap.add_argument("--write", action="store_true",
                    help="write the estimates into models/ldn.toml")
    ap.add_argument("--report", action="store_true", help="print the card's tables and exit")
    ap.add_argument("--parameters", action="store_true",
                    help="print the card's parameter table (from ldn.toml) and exit")
    ap.add_argument("--fits-none", dest="fits", action="store_const", const="",
                    help="fit nothing (with --write: write the last run's estimates)")
    ap.add_argument("--no-profile", action="store_true", help="skip profile likelihoods")
    ap.add_argument("--from-files", action="store_true",
                    help="fit nothing: rebuild the summary of every fit from its saved "
                         "models/calibration/<fit>.nc (e.g. after fits run in parallel)")
    args = ap.parse_args(argv)
    old = json.loads(JSON_PATH.read_text()) if JSON_PATH.exists() else {}
    old.setdefault("fits", [])
    if args.report:
        print(report(old))
        return 0
    if args.parameters:
        print(parameter_table(ldnsim.load_model(str(MODEL_PATH))))
        return 0
    from ldnsim.estimation import save_fit, write_overlay
    model = ldnsim.load_model(str(MODEL_PATH))
    chosen = [f for f in args.fits.split(",") if f]
    unknown = [f for f in chosen if f not in FITS]
    if unknown:
        raise SystemExit(f"unknown fit {unknown[0]!r}; fits: {', '.join(FITS)}")
    # estimates of fits not rerun come from the previous run (a later fit needs its PK branch)
    estimates = {s["fit"]: {p["name"]: p["estimate"] for p in s["parameters"]}
                 for s in old["fits"]}
    done = {}
    if args.from_files:
        from ldnsim.estimation import open_fit
        chosen = []
        for name, spec in FITS.items():
            ds = open_fit(HERE / f"{name}.nc")
            estimates[name] = {str(p): float(v) for p, v in zip(ds["parameter"].values,
                                                                 ds["estimate"].values)}
            done[name] = summary_of(spec, ds)
    for name in chosen:
        spec = FITS[name]
        ds = run_fit(spec, model, estimates, profile=not args.no_profile)
        estimates[name] = {str(p): float(v) for p, v in zip(ds["parameter"].values,
                                                             ds["estimate"].values)}
        save_fit(ds, HERE / f"{name}.nc")
        write_overlay(ds, HERE / f"{name}.toml", name=name)
        done[name] = summary_of(spec, ds)
    fits = [done.get(n) or next(s for s in old["fits"] if s["fit"] == n)
            for n in FITS if n in done or any(s["fit"] == n for s in old["fits"])]
    if args.write:
        write_toml(updates_from({n: estimates[n] for n in estimates if n in FITS}))
        print(f"wrote the estimates into {MODEL_PATH}")
        model = ldnsim.load_model(str(MODEL_PATH))
    summary = {"model": "models/ldn.toml", "model_hash": model.hash,
               "method": "ldnsim.fit: maximum likelihood (every row has its SD), Fisher "
                         "covariance, profile likelihoods; emcee posteriors for the PET fits",
               "fits": fits, "checks": checks(model),
               "pet_objective_by_brain_drive": hypothesis_check(model, estimates)}
    JSON_PATH.write_text(json.dumps(summary, indent=1) + "\n")
    print(f"wrote {JSON_PATH}")
    print(json.dumps(summary["checks"], indent=1))
    print(json.dumps(summary["pet_objective_by_brain_drive"], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
