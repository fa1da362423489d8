"""Validation of models/ldn.toml (second version) against the data in models/data/.

One test per data target: every observation a calibration fit uses
(models/calibration/calibrate_ldn.py, ``FITS``) is predicted from the values ``ldn.toml`` holds,
under the fit's own conditions (its rows, fixed values and scenarios), with the estimation layer's
machinery (``ldnsim.estimation.build_problem``), and must lie within 2 SD of the observed value,
the SD being the uncertainty written in the data file (reported SE/SD, or a stated assumption, see
each file's header and NOTE column). The source key of each target is the data file named in the
test id (``fit/file/ID/NAME@TIME``) and in models/REFERENCES.md.

Further tests check what the data say beyond single rows: the conflict between the labels' Cmax
and Meyer 1984's exposure (two PK branches), Wall 1981's route-dependent half-lives, linearity,
renal clearance, PET as PET measures it (Lee 1988 relative to its 1 h scan), the mechanisms
(switched off one at a time), the up-regulation cap, every row of Zagon's mouse tumour outcomes
(as signs, with honest expected failures), the TLR4 negative control, NF-kB and invariants.
"""
from __future__ import annotations

import csv
import importlib.util
import math
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.signal import find_peaks

import ldnsim
from ldnsim.metrics import blockade_hours, nca

ROOT = Path(__file__).resolve().parents[1]
LDN = ROOT / "models" / "ldn.toml"
KRISHNA = ROOT / "models" / "nfkb_krishna.toml"
DATA = ROOT / "models" / "data"
DRUG_STATES = ("gut", "ntx_levo", "per_levo", "deep_levo", "ntx_dextro", "per_dextro",
               "deep_dextro", "bn_levo", "bnp_levo", "bn_dextro", "bnp_dextro", "urine_ntx",
               "urine_6bn", "eliminated")
HUMAN = ("pharmaceutical", "human_pet", "tonic")
LABEL = ("pharmaceutical", "pk_label", "tonic")
NO_UP = {"w_tonic": 0.0, "w_rebound": 0.0}
MOUSE_KG = 0.025  # the mouse scenarios' body weight (kg)


def _calibration_module():
    spec = importlib.util.spec_from_file_location(
        "calibrate_ldn", ROOT / "models" / "calibration" / "calibrate_ldn.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod    # dataclasses look their module up while the class is built
    spec.loader.exec_module(mod)
    return mod


CAL = _calibration_module()


def _targets():
    model = ldnsim.load_model(str(LDN))
    out = []
    for name, spec in CAL.FITS.items():
        if spec.sensitivity:       # what-if fits are not held by ldn.toml
            continue
        obs = CAL.fit_data(spec, model).observations
        ids = [f"{name}/{obs['ID'].values[k]}/{obs['NAME'].values[k]}"
               f"@{float(obs['TIME'].values[k]):g}" for k in range(obs.sizes["obs"])]
        for k, i in enumerate(ids):   # rows sharing an id (one subject, several values): #n
            out.append((name, k, i if ids.count(i) == 1 else f"{i}#{ids[:k].count(i)}"))
    return out


TARGETS = _targets()


@pytest.fixture(scope="module")
def model():
    return ldnsim.load_model(str(LDN))


@pytest.fixture(scope="module")
def predictions(model):
    """Per fit: (observed, SD, predicted) at the values in ldn.toml, computed once."""
    estimates = CAL.file_estimates(model)
    cache = {}

    def get(name):
        if name not in cache:
            spec = CAL.FITS[name]
            pb = CAL.build(spec, model, estimates, estimates[name], reduce=False)
            theta = np.array([estimates[name][p.name] for p in pb.params])
            f, ok = pb.predict(theta)
            assert ok.all()
            cache[name] = (pb.y, pb.sd, f[0])
        return cache[name]
    return get


def run(model, t, dose, *, count=1, scenarios=HUMAN, params=None, every=24.0, **kw):
    # The method the model is meant for and the shipped experiments name (models/README.md):
    # "auto" would reach it within the first hour, but its explicit start moves the untreated
    # steady state by ~3x the tolerance scale (seen in the NF-kB test below).
    kw.setdefault("method", "rodas5p")
    reg = ldnsim.Regimen.repeat(dose, every=every, count=count) if dose else None
    return ldnsim.simulate(model, np.asarray(t, float), params=params, scenarios=scenarios,
                           regimen=reg, **kw)


def daily(days, step=0.25):
    return np.arange(0.0, days * 24.0 + 1e-9, step)


def _nca(ds, var, end=240.0):
    return nca(ds, var, start=0.0, end=end)


# ----------------------------------------------------------------------- one test per target
#: Targets the calibration does not reach within 2 SD (model card, "Calibration"), recorded as
#: strict expected failures rather than hidden.
_SLOW_BIOPHASE_MISS = ("slow brain equilibration cannot reach [lee1988]'s 1 h reference scan "
                       "(coded 0.95 +- 0.05) and overshoots 15 mg: the slow_biophase "
                       "alternative fits the PET data worse than the pool (-2 log L -6.1 vs "
                       "-36.4, model card)")
KNOWN_MISSES = {
    **{f"pet_slow_biophase/{i}": _SLOW_BIOPHASE_MISS for i in (
        "rabiner2011/rabiner15mg/Cmax(pet_inhibition)@8",       # +2.5 SD
        "lee1988_1h/lee50_1h/pet_inhibition@1")},                # -4.7 SD
    "mouse/zagon1984/z84_04/pet_inhibition@10":
        "[zagon1984] 0.4 mg/kg blocks about 10 h: with brain up-regulation on (up_brain = 1, "
        "as the mouse scenarios run) the fit trades it (+2.2 SD) against the 24 h blockade "
        "every 6 h (-1.9 SD); the pool rates are not identified",
    "mouse_sc_long/zagon1983/z83_low/pet_inhibition@5":
        "[zagon1983] 0.1 mg/kg blocks 4-6 h: with Misra's long SC plasma phase and no brain "
        "pool the 0.5 crossing comes later (+2.5 SD); the fit trades it against the 24 h "
        "blockade at 10 mg/kg and every 6 h",
}


def _target_params():
    out = []
    for f, k, i in TARGETS:
        marks = [pytest.mark.xfail(strict=True, reason=KNOWN_MISSES[i])] if i in KNOWN_MISSES \
            else []
        out.append(pytest.param(f, k, marks=marks, id=i))
    return out


@pytest.mark.parametrize("fit, index", _target_params())
def test_data_target(predictions, fit, index):
    """Each observation a fit uses (source key = the data file in the test id) is reproduced
    within 2 SD of the data file's stated uncertainty by the values in ldn.toml."""
    y, sd, f = predictions(fit)
    assert abs(f[index] - y[index]) <= 2.0 * sd[index], (f[index], y[index], sd[index])


def test_model_file_holds_the_calibration(model):
    """ldn.toml holds the estimates of the fit files in models/calibration/ (6 digits), and the
    default parameter values are the Meyer branch with its PET fit (= scenario human_pet)."""
    from ldnsim.estimation import open_fit
    estimates = CAL.file_estimates(model)
    for name in (n for n, spec in CAL.FITS.items() if not spec.sensitivity):
        ds = open_fit(ROOT / "models" / "calibration" / f"{name}.nc")
        for p, v in zip(ds["parameter"].values, ds["estimate"].values):
            assert estimates[name][str(p)] == pytest.approx(float(v), rel=1e-5), (name, p)
    values = dict(zip(model.parameter_names, model.parameter_vector()))
    for k, v in model.scenarios["human_pet"].values.items():
        assert values[k] == pytest.approx(v, rel=1e-9), k


def test_file_values_reproduce_each_fit(model, predictions):
    """Third review: ldn.toml must hold each fit's whole state, not only its estimates: -2 log L
    of every fit's data at the values in ldn.toml (fixed parameters included) equals the
    objective stored in models/calibration/<fit>.nc (a scenario missing one fixed value, as
    slow_biophase's Kp_6bn_brain once did, changes it)."""
    from ldnsim.estimation import open_fit
    for name in (n for n, spec in CAL.FITS.items() if not spec.sensitivity):
        y, sd, f = predictions(name)
        neg2ll = float(np.sum(np.log(2 * np.pi) + 2 * np.log(sd) + ((f - y) / sd) ** 2))
        stored = float(open_fit(ROOT / "models" / "calibration" / f"{name}.nc")
                       .attrs["objective"])
        assert neg2ll == pytest.approx(stored, abs=1e-3), (name, neg2ll, stored)


# ------------------------------------------------------------------- PK: the two branches
def test_pk_branches_keep_the_data_conflict_visible(model):
    """[swisslabel] Cmax 13.3 ng/mL (naltrexone) and 108 (6BN) after 50 mg and [meyer1984]'s
    exposure (AUC 26.6 ng h/mL from F 5% and CL 94 L/h; 25% of the dose as urinary 6BN with renal
    clearance 283 mL/min) cannot hold together: the Meyer branch (the default) gives a Cmax far
    below the label's, the label branch (pk_label) an exposure about 3x Meyer's and urinary 6BN
    far above 25% of the dose."""
    t = np.concatenate([np.arange(0.0, 48.0, 0.02), np.arange(48.0, 240.0 + 1e-9, 0.5)])
    meyer = run(model, t, 50.0, rtol=1e-9, atol=1e-12)
    label = run(model, t, 50.0, scenarios=LABEL, rtol=1e-9, atol=1e-12)
    cm, cl = (float(_nca(d, "C_ntx")["Cmax"]) for d in (meyer, label))
    am, al = (float(_nca(d, "C_ntx")["AUCinf"]) for d in (meyer, label))
    assert cm < 13.3 - 3 * 1.33 and abs(cl - 13.3) <= 2 * 1.33
    assert abs(am - 26.6) <= 2 * 5.32 and 2.5 < al / am < 4.5
    bm, bl = (float(_nca(d, "C_6bn")["Cmax"]) for d in (meyer, label))
    assert bm < 108 - 3 * 10.8 and abs(bl - 108) <= 2 * 10.8
    um, ul = (float(d.urine_6bn.sel(time=48.0)) for d in (meyer, label))
    assert abs(um - 12.5) <= 2 * 2.5 and ul > 12.5 + 3 * 2.5


def test_contrave_exposure_sides_with_meyer(model):
    """[contravelabel] AUCinf 8.4 ng h/mL after 16 mg extended release, an independent label:
    within 2 SD under the Meyer branch (the extended_release fit sets only the absorption rate),
    about 3x too high under the label branch."""
    t = np.concatenate([np.arange(0.0, 48.0, 0.02), np.arange(48.0, 240.0 + 1e-9, 0.5)])
    ka_er = model.scenarios["extended_release"].values["ka"]
    meyer = run(model, t, 16.0, scenarios=("pharmaceutical", "extended_release"),
                rtol=1e-9, atol=1e-12)
    label = run(model, t, 16.0, scenarios=("pharmaceutical", "pk_label"), params={"ka": ka_er},
                rtol=1e-9, atol=1e-12)
    assert abs(float(_nca(meyer, "C_ntx")["AUCinf"]) - 8.4) <= 2 * 1.26
    assert float(_nca(label, "C_ntx")["AUCinf"]) > 8.4 + 3 * 1.26


def test_wall_half_lives_depend_on_the_route(model):
    """[wall1981]: terminal half-life 8.9 h after oral and 2.7 h after IV dosing. A linear
    disposition gives one terminal half-life for both routes (here one-compartment: the
    4 h of [meyer1984]); the route dependence (absorption tail or enterohepatic recycling) is
    not modelled, and neither Wall value is reproduced (a recorded conflict, see the card)."""
    t = np.arange(0.0, 48.0 + 1e-9, 0.05)
    oral = run(model, t, 50.0, rtol=1e-10, atol=1e-14)
    iv = ldnsim.simulate(model, t, scenarios=HUMAN, rtol=1e-10, atol=1e-14,
                         regimen=ldnsim.Regimen((ldnsim.Dose(1.0, target="ntx_levo"),)))
    h_oral = float(nca(oral, "C_ntx", start=12.0, end=48.0)["half_life"])
    h_iv = float(nca(iv, "C_ntx", start=2.0, end=24.0)["half_life"])
    assert h_oral == pytest.approx(h_iv, rel=0.02)
    assert abs(h_oral - 8.9) > 2 * 1.34 and abs(h_iv - 2.7) > 2 * 0.405


def test_clearances_respect_renal_clearance(model):
    """[meyer1984]: renal clearances 127 and 283 mL/min. Total 6BN clearance (renal + non-renal)
    is at least renal in both branches; naltrexone's total clearance exceeds its renal one."""
    for scen in (HUMAN, LABEL):
        p = dict(zip(model.parameter_names, model.parameter_vector(None, scen)))
        assert p["CLr_6bn"] == pytest.approx(283 * 60 / 1000, rel=1e-3)
        assert p["CLr_ntx"] == pytest.approx(127 * 60 / 1000, rel=1e-3)
        assert p["CLnr_6bn"] >= 0.0
        assert p["CL_ntx"] > p["CLr_ntx"]


def test_dose_linearity_and_isomers(model):
    """[meyer1984]: AUC and urinary recovery linear over 50-200 mg (a test, not data rows).
    Racemic scenario: the (+) isomer has the same PK as (-) (hypothesis, [lewis2012])."""
    t = np.arange(0.0, 48.0 + 1e-9, 0.25)
    d50 = run(model, t, 50.0)
    for dose in (100.0, 200.0):
        d = run(model, t, dose)
        np.testing.assert_allclose(d.C_ntx, dose / 50 * d50.C_ntx, rtol=1e-5, atol=1e-9)
        np.testing.assert_allclose(d.urine_6bn, dose / 50 * d50.urine_6bn, rtol=1e-5,
                                   atol=1e-9)
    rac = run(model, t, 50.0, scenarios=("racemic", "human_pet", "tonic"))
    np.testing.assert_allclose(rac.C_levo, rac.C_dextro, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(rac.C_ntx, d50.C_ntx, rtol=1e-6, atol=1e-9)
    assert float(np.abs(d50.C_dextro).max()) == 0.0


# ----------------------------------------------------------------------------- receptors
def test_pet_inhibition_is_not_bound_over_total(model):
    """Review finding 2: PET reports 1 - available/baseline available. With up-regulated brain
    receptors (up_brain = 1, as in the mouse; 4.5 mg/day, 8 weeks, tonic) bound/total exceeds
    the PET inhibition; untreated both are 0."""
    ds = run(model, daily(56, 1.0), 4.5, count=56, params={"up_brain": 1.0})
    last = ds.sel(time=slice(55 * 24.0, None))
    assert float(last.receptor_density.min()) > 1.0
    assert float((last.occupancy_mor_drug - last.pet_inhibition).min()) > 0.0
    base = run(model, daily(2, 6.0), 0.0)
    np.testing.assert_allclose(base.pet_inhibition, 0.0, atol=1e-9)


@pytest.mark.parametrize("scen", [("pharmaceutical", "human_pet"),
                                  ("pharmaceutical", "pk_label")])
def test_lee_relative_to_the_1h_scan(model, scen):
    """[lee1988] reports blockade relative to the 1 h scan: 0.91, 0.80, 0.46, 0.30 at 48, 72,
    120, 168 h (SEM 0.064, 0.063, 0.074, 0.138). The PET fits take the 1 h scan as a row
    (lee1988_1h.csv; review B10: without it the pool ran to its bound and PET rose over hours
    after a dose, so this ratio was missed, fit pet_meyer_no1h); read as the ratio to the
    model's own 1 h value Lee is within 2 SEM in both PK branches, under both hypotheses
    (human brain receptors do not up-regulate: up_brain = 0)."""
    t = np.arange(0.0, 168.0 + 1e-9, 0.5)
    obs, sem = np.array([0.91, 0.80, 0.46, 0.30]), np.array([0.064, 0.063, 0.074, 0.138])
    for mech in ("tonic", "rebound"):
        p = run(model, t, 50.0, scenarios=scen + (mech,)).pet_inhibition
        rel = np.array([float(p.sel(time=x) / p.sel(time=1.0)) for x in (48.0, 72.0, 120.0,
                                                                         168.0)])
        assert np.all(np.abs(rel - obs) <= 2 * sem), (mech, rel)


def test_pet_posterior_carries_brain_upregulation(model):
    """Third review: the PET fits ran with brain up-regulation off while the headline ran it on.
    Now up-regulation is on while fitting PET and its share up_brain is fitted (pet_meyer): the
    data leave it open (posterior 5-95% covers 0.1-0.9), so the headline draws it with the
    Kd_ntx and retention it needs. The best posterior draw with up_brain > 0.85 still puts Lee
    1988 relative to the 1 h scan within 2 SEM under both hypotheses, while the brain receptor
    density rises by more than 50% after 8 weeks of 3 mg/day (1.00 at the file values,
    up_brain = 0 being the maximum-likelihood estimate)."""
    from ldnsim.estimation import open_fit
    fit = open_fit(ROOT / "models" / "calibration" / "pet_meyer.nc")
    names = [str(p) for p in fit["parameter"].values]
    post = np.asarray(fit["posterior"].values).reshape(-1, len(names))
    up = post[:, names.index("up_brain")]
    assert np.quantile(up, 0.05) < 0.1 and np.quantile(up, 0.95) > 0.9
    logp = np.asarray(fit["posterior_log_prob"].values).reshape(-1)
    best = np.flatnonzero(up > 0.85)[np.argmax(logp[up > 0.85])]
    draw = dict(zip(names, post[best].tolist()))
    t = np.array([0.0, 1.0, 48.0, 72.0, 120.0, 168.0])
    obs, sem = np.array([0.91, 0.80, 0.46, 0.30]), np.array([0.064, 0.063, 0.074, 0.138])
    for mech in ("tonic", "rebound"):
        p = run(model, t, 50.0, params=draw,
                scenarios=("pharmaceutical", "human_pet", mech)).pet_inhibition.values
        assert np.all(np.abs(p[2:] / p[1] - obs) <= 2 * sem), (mech, p[2:] / p[1])
        dense = run(model, daily(56, 6.0), 3.0, count=56, params=draw,
                    scenarios=("pharmaceutical", "human_pet", mech))
        assert float(dense.receptor_density[-1]) > 1.5, mech
        flat = run(model, daily(56, 6.0), 3.0, count=56,
                   scenarios=("pharmaceutical", "human_pet", mech))
        np.testing.assert_allclose(flat.receptor_density, 1.0, rtol=0, atol=1e-9)


def test_pet_targets_under_the_benefit_hypotheses(model, predictions):
    """The PET fits have receptor up-regulation off; with the hypotheses on, Rabiner's peaks
    (< 8 h) stay within 2 SD under both (human brain receptors do not up-regulate, and the
    brain ligand feedback barely moves PET)."""
    t = np.arange(0.0, 8.0 + 1e-9, 0.05)
    obs = {2.0: [0.27], 5.0: [0.43, 0.46, 0.58], 15.0: [0.61], 50.0: [0.92, 0.98]}
    for mech in ("tonic", "rebound"):
        for dose, values in obs.items():
            peak = float(run(model, t, dose, scenarios=("pharmaceutical", "human_pet", mech))
                         .pet_inhibition.max())
            assert abs(peak - np.mean(values)) <= 2 * 0.08, (mech, dose, peak)


def test_peripheral_receptors_and_kor(model):
    """Review finding 6: immune cells see unbound plasma drug. Naltrexone binds KOR with about
    MOR affinity ([wentland2009] Ki 0.19 vs 0.11-1.1 nM): KOR and peripheral MOR are occupied
    after 50 mg; OGFr less, by the assumed affinity ratio."""
    ds = run(model, np.arange(0.0, 24.0, 0.1), 50.0)
    kor, mor, ogfr = (float(ds[v].max()) for v in ("occupancy_kor",
                                                    "occupancy_mor_peripheral",
                                                    "occupancy_ogfr"))
    assert kor > 0.5 and mor > 0.5
    assert ogfr < mor


# ------------------------------------------------------------------------------- mechanisms
def _immune_end(model, dose, scenarios, params=None, days=28):
    ds = run(model, daily(days, 2.0), dose, count=days, scenarios=scenarios, params=params)
    return float(ds.immune_index[-1]), ds


def test_tonic_benefit_comes_from_the_tonic_drive(model):
    """Switch-off checks, one switch at a time (review B15): under 'tonic', 1 mg/day dampens the
    immune index with no brain blockade and peripheral OGFr occupancy below 0.5; switching the
    tonic drive off removes the benefit; switching the ligand feedback off does not (it
    enlarges it): the benefit is up-regulation by occupancy, not a rebound."""
    scen = ("pharmaceutical", "human_pet", "tonic")
    imm, ds = _immune_end(model, 1.0, scen)
    assert imm < 0.95
    assert float(blockade_hours(ds, "pet_inhibition", 0.5, last_days=3).blockade_hours) == 0.0
    assert float(ds.occupancy_ogfr.max()) < 0.5
    no_drive, _ = _immune_end(model, 1.0, scen, params={"w_tonic": 0.0})
    no_ligand, _ = _immune_end(model, 1.0, scen, params={"g_lig": 0.0})
    assert no_drive >= 1.0
    assert no_ligand <= imm


def test_a_proportional_tonic_drive_gives_no_benefit(model):
    """Review B1: with a drive in proportion to occupancy (theta50_tonic = 10, the upper end of
    its declared range) no daily dose 0.1-10 mg dampens the immune index by the window's margin:
    the tonic window needs a saturable drive, half-maximal at low occupancy."""
    scen = ("pharmaceutical", "human_pet", "tonic")
    for dose in (0.1, 0.5, 1.0, 3.0, 10.0):
        assert _immune_end(model, dose, scen, params={"theta50_tonic": 10.0})[0] > 0.95, dose


def test_rebound_with_receptor_number_limited_gain(model):
    """Under 'rebound' with a signal in proportion to receptor number (sens_gain = 1) no daily
    dose 0.25-10 mg lowers the immune index: the signal lost during peripheral blockade is not
    made up afterwards (6BN, half-life 12 h, keeps partial occupancy between doses). This is a
    statement about this formalisation; the headline samples sens_gain up to 2.7."""
    scen = ("pharmaceutical", "human_pet", "rebound")
    for dose in (0.25, 1.0, 3.0, 10.0):
        assert _immune_end(model, dose, scen, params={"sens_gain": 1.0})[0] > 0.99, dose


def test_continuous_blockade_harms_under_both_hypotheses(model):
    """Zagon & McLaughlin ([zagon1983] [zagon1984]): round-the-clock blockade speeds growth. At
    150 mg/day the OGFr signal is suppressed and the immune index rises above 1 under both."""
    for mech in ("tonic", "rebound"):
        imm, ds = _immune_end(model, 150.0, ("pharmaceutical", "human_pet", mech))
        assert imm > 1.0, mech
        assert float(ds.signal_ogfr[-1]) < 1.0, mech


@pytest.mark.parametrize("kdeg", [0.00963, 0.0289])
def test_upregulation_is_capped_at_the_measured_value(model, kdeg):
    """Review B8: under continuous blockade receptor density never exceeds 1 + up_target (+80%,
    [lesscher2003] [mskcc1988], mouse brain: checked on the brain receptors with up_brain = 1,
    as in the mouse scenarios) whatever the turnover, and after 8 days it reaches the
    measured +67-81% within 2 SD (0.1) across the sampled turnover range (half-life 1-3 days)."""
    t = daily(56, 6.0)
    ds = run(model, t, 300.0, count=56, params={"kdeg_R": kdeg, "up_brain": 1.0})
    up = model.parameter_vector()[model.parameter_names.index("up_target")]
    assert float(ds.receptor_density.max()) <= 1 + up + 1e-6
    day8 = float(ds.receptor_density.sel(time=192.0))
    assert abs(day8 - 1.8) <= 2 * 0.1 or day8 >= 1.67, day8


# ------------------------------------------------------------------------------------ mouse
def _mouse(model, mg_kg, every=24.0, days=28, scen=("mouse", "rebound"), params=None,
           step=0.25):
    t = np.arange(0.0, days * 24.0 + 1e-9, step)
    return run(model, t, mg_kg * MOUSE_KG, count=int(days * 24 / every), every=every,
               scenarios=scen, params=params)


@pytest.mark.parametrize("pk", ["mouse", "mouse_sc_long"])
def test_mouse_single_dose_blockade(model, pk):
    """[zagon1983] [zagon1987]: 0.1 mg/kg blocks 4-8 h; [zagon1983] 10 mg/kg blocks 24 h
    (brain PET-style inhibition > 0.5, first day), under both mouse PK alternatives."""
    low = blockade_hours(_mouse(model, 0.1, days=1, scen=(pk, "rebound")), "pet_inhibition",
                         0.5, last_days=1)
    high = blockade_hours(_mouse(model, 10.0, days=1, scen=(pk, "rebound")), "pet_inhibition",
                          0.5, last_days=1)
    assert 3.0 <= float(low.blockade_hours) <= 9.0
    assert float(high.blockade_hours) >= 22.0


def _tumour_rows():
    text = [ln for ln in (DATA / "consistency" / "mouse_tumour_outcomes.csv").read_text()
            .splitlines() if not ln.startswith("#")]
    return [r for r in csv.DictReader(text) if r["drug"] == "naltrexone"]


#: Rows of mouse_tumour_outcomes.csv the model does NOT reproduce in sign at the file values (see
#: the card, "The mouse"): under 'rebound' the low daily doses that slowed growth speed it up, in
#: both mouse PK alternatives (experiments/mouse_dichotomy.py shows which parts of the declared
#: ranges reproduce them).
NOT_REPRODUCED = {(key, mg_kg, 24.0, pk, "rebound")
                  for key, mg_kg in (("zagon1983", 0.1), ("zagon1984", 0.1), ("zagon1984", 0.4),
                                     ("zagon1987", 0.1))
                  for pk in ("mouse", "mouse_sc_long")}


def _sign_cases():
    cases = []
    for r in _tumour_rows():
        for pk in ("mouse", "mouse_sc_long"):
            for mech in ("tonic", "rebound"):
                case = (r["key"], float(r["dose_mg_kg"]), float(r["interval_h"]), r["direction"],
                        pk, mech)
                marks = [pytest.mark.xfail(strict=True, reason="not reproduced (model card, "
                                                                "'The mouse')")] \
                    if case[:3] + (pk, mech) in NOT_REPRODUCED else []
                cases.append(pytest.param(*case, marks=marks,
                                          id=f"{r['key']}-{r['dose_mg_kg']}mgkg-q"
                                             f"{r['interval_h']}h-{pk}-{mech}"))
    return cases


@pytest.mark.parametrize("key, mg_kg, every, direction, pk, mech", _sign_cases())
def test_mouse_tumour_outcome_signs(model, key, mg_kg, every, direction, pk, mech):
    """Each naltrexone row of consistency/mouse_tumour_outcomes.csv ([zagon1983] [zagon1984]
    [zagon1987]) as a sign: tumour growth slowed (proliferation readout < 1 after 4 weeks) or
    faster (> 1). Rows the model does not reproduce are strict expected failures."""
    prolif = float(_mouse(model, mg_kg, every=every, scen=(pk, mech), step=1.0)
                   .proliferation[-1])
    assert (prolif < 1.0) if direction == "slowed" else (prolif > 1.0)


def test_mouse_stereospecificity(model):
    """[zagon1985]: the (+) isomer (no opioid receptor binding) has no effect on the tumour."""
    plus = _mouse(model, 0.1, params={"frac_dextro": 1.0}, step=1.0)
    np.testing.assert_allclose(plus.proliferation, 1.0, atol=1e-12)


def test_mouse_to_human_dose():
    """[reaganshaw2008] body-surface translation: Km 3 (mouse) and 37 (adult), so 0.1 mg/kg in
    a mouse is 0.1 x 3/37 mg/kg, 0.57 mg for 70 kg; 10 mg/kg is 57 mg."""
    assert 0.1 * 3 / 37 * 70 == pytest.approx(0.57, abs=0.01)
    assert 10 * 3 / 37 * 70 == pytest.approx(56.8, abs=0.1)


# ------------------------------------------------------------------------------------ NF-kB
def _period(t, x, after):
    peaks, _ = find_peaks(x, prominence=0.05 * (x.max() - x.min()))
    peaks = peaks[t[peaks] > after]
    return np.diff(t[peaks]), x[t > after]


def test_krishna_nfkb_period():
    """[krishna2006] dimensional set: [IKK] = 0.2 uM oscillates with a period of about 114 min;
    within 5%, measured after the approach to the limit cycle."""
    m = ldnsim.load_model(str(KRISHNA))
    t = np.arange(0.0, 9000.0, 0.2)
    ds = ldnsim.simulate(m, t)
    periods, late = _period(t, ds.nfkb_nuclear.values, after=6000.0)
    assert len(periods) >= 20
    assert float(periods.mean()) == pytest.approx(114.0, rel=0.05)
    assert float(periods.std()) < 1.0
    assert late.max() - late.min() > 0.2


def test_nfkb_module_does_not_oscillate_in_ldn(model):
    """[covert2005]: LPS/TLR4 gives sustained non-oscillatory NF-kB; the module stays damped even
    with TLR4 fully blocked (NF-kB branch, hypothesis knob at 1e9)."""
    t = daily(3, 0.05)
    base = run(model, t, 0.0)
    np.testing.assert_allclose(base.nfkb_nuclear, base.nfkb_nuclear[0], rtol=1e-6)
    strong = run(model, t, 4.5, count=3, scenarios=("racemic", "nfkb_branch"),
                 params={"tlr4_potency_multiplier": 1e9})
    late = strong.sel(time=slice(30.0, None))
    assert float(late.tlr4_inhibition.min()) > 0.9
    nn = late.nfkb_nuclear.values
    assert nn.max() - nn.min() < 0.01
    assert float(late.cytokine.max()) < 1.0


def test_tlr4_negative_control(model):
    """[wang2016] (+)-naltrexone IC50 105.5 uM, Hill 1: TLR4 inhibition stays below 0.1% for
    daily doses 0.5-300 mg, pharmaceutical and racemic, in both PK branches (14 days)."""
    t = daily(14, 0.5)
    for scenario in ("pharmaceutical", "racemic"):
        for branch in ("human_pet", "pk_label"):
            for dose in (0.5, 4.5, 50.0, 300.0):
                ds = run(model, t, dose, count=14, scenarios=(scenario, branch))
                assert float(ds.tlr4_inhibition.max()) < 1e-3, (scenario, branch, dose)


def test_tlr4_potency_knob_and_branches(model):
    """The hypothesis knob is user-visible: racemic 4.5 mg needs a potency x partition of
    10^4-10^7 before TLR4 inhibition reaches 50%; the TRIF branch ([wang2016], default) leaves
    nuclear NF-kB untouched."""
    t = daily(3, 0.25)
    rac = run(model, t, 4.5, count=3, scenarios=("racemic", "human_pet"))
    needed = 1.0 / float(rac.tlr4_inhibition.max())
    assert 1e4 < needed < 1e7
    hyp = run(model, t, 4.5, count=3, scenarios=("racemic", "trif_branch"),
              params={"tlr4_tissue_partition": 10 * needed})
    assert float(hyp.tlr4_inhibition.max()) > 0.9
    np.testing.assert_allclose(hyp.nfkb_nuclear, hyp.nfkb_nuclear[0], rtol=1e-6)
    assert float(hyp.cytokine.min()) < 0.7


# ------------------------------------------------------------------------------ invariants
def test_untreated_is_a_steady_state(model):
    """No drug: every state stays at its initial value (baseline outputs 1), in every
    hypothesis scenario, both PK branches and both mice."""
    for scen in (HUMAN, ("pharmaceutical", "slow_biophase", "rebound"), LABEL,
                 ("mouse", "tonic"), ("mouse_sc_long", "rebound")):
        ds = run(model, daily(14, 6.0), 0.0, scenarios=scen)
        for name in model.state_names:
            np.testing.assert_allclose(ds[name], ds[name][0], rtol=1e-6, atol=1e-9,
                                       err_msg=f"{scen} {name}")
        for name in ("signal_opioid", "signal_ogfr", "cytokine", "immune_index",
                     "proliferation", "receptor_density"):
            np.testing.assert_allclose(ds[name], 1.0, rtol=1e-6, err_msg=name)


@pytest.mark.parametrize("scenarios", [HUMAN, ("racemic", "slow_biophase", "rebound"), LABEL,
                                       ("mouse", "tonic"), ("mouse_sc_long", "rebound")])
def test_invariants(model, scenarios):
    """Mass balance: drug amounts (incl. urine and eliminated pools) add up to the doses given;
    occupancies in [0, 1]; free brain receptors and all amounts non-negative."""
    amount = 0.0025 if "mouse" in scenarios[0] else 4.5
    t = daily(10, 0.5)
    ds = run(model, t, amount, count=7, every=36.0, scenarios=scenarios)
    given = amount * np.minimum(np.floor(t / 36.0) + 1, 7)
    np.testing.assert_allclose(ds.drug_amount_total, given, rtol=1e-6)
    np.testing.assert_allclose(sum(ds[s] for s in DRUG_STATES), given, rtol=1e-6)
    eps = 1e-9 * max(1.0, amount)
    for name in (*DRUG_STATES, "ce_ntx", "ret_ntx", "ce_6bn", "ret_6bn", "C_ntx", "C_6bn",
                 "R_ntx", "R_6bn", "R_endo", "ligand", "ogf"):
        assert float(ds[name].min()) >= -eps, name
    for name in ("occupancy_mor_drug", "occupancy_mor_peripheral", "occupancy_ogfr",
                 "occupancy_kor", "tlr4_inhibition"):
        assert -eps <= float(ds[name].min()) and float(ds[name].max()) <= 1 + eps, name
    assert float((ds.occupancy_mor_drug + ds.occupancy_mor_endogenous).max()) <= 1 + 1e-9
    assert math.isfinite(float(ds.immune_index[-1]))
