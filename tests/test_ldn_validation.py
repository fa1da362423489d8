"""Validation of models/ldn.toml (second version) against the data in models/data/.

One test per data target: every observation of every data file is simulated as the calibration
(models/calibration/calibrate_ldn.py) simulates it - the subject's own doses and scenario - and
must lie within 2 SD of the observed value, the SD being the uncertainty written in the data file
(reported SE/SD, or a stated assumption, see each file's header and NOTE column). The source key
of each target is in the test id (``study/ID/NAME@TIME``) and in models/REFERENCES.md.

Further tests check facts that are not observations of one variable (renal <= total clearance,
linearity, mass balance), the meaning of the outputs (PET inhibition vs bound/total), the
mechanisms (switching them off), the mouse dichotomy (Zagon 1983/1984/1985), the TLR4 negative
control (Wang 2016) and the NF-kB module (Krishna 2006, Covert 2005).
"""
from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy.signal import find_peaks

import ldnsim
from ldnsim.metrics import blockade_hours

ROOT = Path(__file__).resolve().parents[1]
LDN = ROOT / "models" / "ldn.toml"
KRISHNA = ROOT / "models" / "nfkb_krishna.toml"
CALIBRATION = ROOT / "models" / "calibration" / "ldn_calibration.json"
DRUG_STATES = ("gut", "ntx_levo", "per_levo", "deep_levo", "ntx_dextro", "per_dextro",
               "deep_dextro", "bn_levo", "bnp_levo", "bn_dextro", "bnp_dextro", "urine_ntx",
               "urine_6bn", "eliminated")
HUMAN = ("pharmaceutical", "human_pet", "tonic")
MOUSE_KG = 0.025  # the mouse scenario's body weight (kg)


def _calibration_module():
    spec = importlib.util.spec_from_file_location(
        "calibrate_ldn", ROOT / "models" / "calibration" / "calibrate_ldn.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


CAL = _calibration_module()
TARGETS = [(stage, f, s["id"], i, o) for stage, spec in CAL.STAGES.items()
           if stage != "pet_slow_biophase" for f in spec["files"]
           for s in CAL.read_data(f) for i, o in enumerate(s["obs"])]
TARGETS += [("check", "lesscher2003", s["id"], i, o) for s in CAL.read_data("lesscher2003")
            for i, o in enumerate(s["obs"])]


@pytest.fixture(scope="module")
def model():
    return ldnsim.load_model(str(LDN))


@pytest.fixture(scope="module")
def predictions():
    """Model predictions of every data subject, computed once (as the calibration does)."""
    cal = CAL.Calibration()
    cache = {}

    def get(stage, f, retention=None):
        key = (f, retention)
        if key not in cache:
            ret = retention or (CAL.STAGES[stage]["retention"] if stage in CAL.STAGES
                                else None)
            cache[key] = cal.predictions(CAL.read_data(f), ret)
        return cache[key]
    return get


def run(model, t, dose, *, count=1, scenarios=HUMAN, params=None, every=24.0, **kw):
    reg = ldnsim.Regimen.repeat(dose, every=every, count=count) if dose else None
    return ldnsim.simulate(model, np.asarray(t, float), params=params, scenarios=scenarios,
                           regimen=reg, **kw)


def daily(days, step=0.25):
    return np.arange(0.0, days * 24.0 + 1e-9, step)


# ----------------------------------------------------------------------- one test per target
@pytest.mark.parametrize("stage, study, sid, index, obs", TARGETS,
                         ids=[f"{f}/{sid}/{o['name']}@{o['time']:g}"
                              for _, f, sid, _, o in TARGETS])
def test_data_target(predictions, stage, study, sid, index, obs):
    """Each observation in models/data (source key = the file name, see the test id) is
    reproduced within 2 SD of the data file's stated uncertainty."""
    rows = [r for r in predictions(stage, study) if r["id"] == sid]
    row = rows[index]
    assert row["name"] == obs["name"]
    assert abs(row["model"] - obs["dv"]) <= 2.0 * obs["sd"], (row["model"], obs["dv"], obs["sd"])


def test_slow_biophase_alternative_fits_pet(predictions):
    """The alternative retention mechanism (slow brain equilibration; a deep plasma phase was
    allowed) fits the same PET data ([rabiner2011] [lee1988] [weerts2008]) within 2 SD, and the
    oral terminal half-life ([wall1981] 8.9 h) within 1 SD."""
    for f in ("rabiner2011", "lee1988", "weerts2008"):
        for r in predictions("pet_slow_biophase", f, retention="slow_biophase"):
            assert abs(r["residual"]) <= 2.0, (f, r["id"], r["model"], r["observed"])
    wall = predictions("pet_slow_biophase", "wall1981", retention="slow_biophase")[0]
    assert abs(wall["residual"]) <= 1.0


def test_slow_biophase_leaves_no_room_for_a_deep_plasma_phase(model):
    """[lee1988] attributes the long blockade to a 96 h terminal plasma phase. Fitted together
    with the oral PK ([wall1981] terminal 8.9 h, [meyer1984]), the deep phase holds under 2% of
    the naltrexone in the body at any time after 50 mg, and the days-long blockade comes from
    slow brain equilibration (half-time > 24 h)."""
    t = np.arange(0.0, 168.0, 1.0)
    ds = run(model, t, 50.0, scenarios=("pharmaceutical", "slow_biophase", "tonic"))
    body = ds.ntx_levo + ds.per_levo + ds.deep_levo
    assert float((ds.deep_levo / body.where(body > 0)).max()) < 0.02
    k_eo = model.scenarios["slow_biophase"].values["k_eo"]
    assert math.log(2) / k_eo > 24.0


# ------------------------------------------------------------------ PK facts (not observations)
def test_clearances_respect_renal_clearance(model):
    """[meyer1984]: renal clearances 127 and 283 mL/min. Total 6BN clearance (CLr + CLnr) is at
    least renal by construction; the fitted naltrexone clearance exceeds its renal clearance."""
    p = {q.name: q.value for q in model.parameters}
    assert p["CLr_6bn"] == pytest.approx(283 * 60 / 1000, rel=1e-3)
    assert p["CLr_ntx"] == pytest.approx(127 * 60 / 1000, rel=1e-3)
    assert p["CLnr_6bn"] >= 0.0
    assert p["CL_ntx"] > p["CLr_ntx"]


def test_exposure_after_50mg(model):
    """Review finding 1: naltrexone AUCinf after 50 mg in 25-35 ng h/mL ([meyer1984] F 5%, CL
    94 L/h; [contravelabel] 8.4 ng h/mL per 16 mg); 6BN AUCinf 500-900 ng h/mL ([meyer1984] 25%
    of the dose as urinary 6BN / 283 mL/min)."""
    t = np.arange(0.0, 240.0, 0.05)
    ds = run(model, t, 50.0, rtol=1e-8, atol=1e-11)
    assert 25.0 <= CAL.summary("AUCinf", t, ds.C_ntx.values, 0.0, 239.0) <= 35.0
    assert 500.0 <= CAL.summary("AUCinf", t, ds.C_6bn.values, 0.0, 239.0) <= 900.0


def test_dose_linearity_and_isomers(model):
    """[meyer1984]: AUC and urinary recovery linear over 50-200 mg. Racemic scenario: the (+)
    isomer has the same PK as (-) (hypothesis, [lewis2012]); no (+) in pharmaceutical."""
    t = np.arange(0.0, 48.0 + 1e-9, 0.25)
    d50 = run(model, t, 50.0)
    d200 = run(model, t, 200.0)
    np.testing.assert_allclose(d200.C_ntx, 4 * d50.C_ntx, rtol=1e-5, atol=1e-9)
    np.testing.assert_allclose(d200.urine_6bn, 4 * d50.urine_6bn, rtol=1e-5, atol=1e-9)
    rac = run(model, t, 50.0, scenarios=("racemic", "human_pet", "tonic"))
    np.testing.assert_allclose(rac.C_levo, rac.C_dextro, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(rac.C_ntx, d50.C_ntx, rtol=1e-6, atol=1e-9)
    assert float(np.abs(d50.C_dextro).max()) == 0.0


# ----------------------------------------------------------------------------- receptors
def test_pet_inhibition_is_not_bound_over_total(model):
    """Review finding 2: PET reports 1 - available/baseline available. With up-regulated receptors
    (4.5 mg/day, 8 weeks) bound/total exceeds the PET inhibition; untreated both are 0."""
    ds = run(model, daily(56, 1.0), 4.5, count=56, scenarios=("pharmaceutical", "human_pet",
                                                              "rebound"))
    last = ds.sel(time=slice(55 * 24.0, None))
    assert float(last.receptor_density.min()) > 1.0
    assert float((last.occupancy_mor_drug - last.pet_inhibition).min()) > 0.0
    base = run(model, daily(2, 6.0), 0.0)
    np.testing.assert_allclose(base.pet_inhibition, 0.0, atol=1e-9)


def test_peripheral_receptors_and_kor(model):
    """Review finding 6: immune cells see unbound plasma drug. Naltrexone binds KOR with about
    MOR affinity ([wentland2009] Ki 0.19 vs 0.11-1.1 nM): KOR occupancy is an output, comparable
    to peripheral MOR occupancy; OGFr occupancy is lower by the assumed affinity ratio."""
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


def test_tonic_benefit_is_not_a_rebound(model):
    """Switch-off check (review finding 5): under 'tonic', 1 mg/day dampens the immune index
    with no brain blockade at all and peripheral OGFr occupancy below 0.5, so the benefit is not
    a rebound after blockade; switching the tonic drive and the ligand feedback off removes it."""
    scen = ("pharmaceutical", "human_pet", "tonic")
    imm, ds = _immune_end(model, 1.0, scen)
    assert imm < 0.95
    assert float(blockade_hours(ds, "pet_inhibition", 0.5, last_days=3).blockade_hours) == 0.0
    assert float(ds.occupancy_ogfr.max()) < 0.5
    off, _ = _immune_end(model, 1.0, scen, params={"w_tonic": 0.0, "g_lig": 0.0})
    assert off >= 1.0


def test_rebound_gives_no_human_benefit_at_the_file_values(model):
    """A finding, kept as a regression: under 'rebound' (only blockade drives up-regulation,
    bounded by the +80% of [lesscher2003]) the signal lost during peripheral blockade is not
    made up afterwards with human PK (naltrexone 4 h, 6BN 12 h): no daily dose 0.25-10 mg
    lowers the immune index at the file's parameter values (the headline samples the ranges)."""
    scen = ("pharmaceutical", "human_pet", "rebound")
    for dose in (0.25, 1.0, 3.0, 10.0):
        assert _immune_end(model, dose, scen)[0] > 0.99, dose


def test_continuous_blockade_harms_under_both_hypotheses(model):
    """Zagon & McLaughlin ([zagon1983] [zagon1984]): round-the-clock blockade speeds growth. At
    150 mg/day the OGFr signal is suppressed and the immune index rises above 1 under both."""
    for mech in ("tonic", "rebound"):
        imm, ds = _immune_end(model, 150.0, ("pharmaceutical", "human_pet", mech))
        assert imm > 1.0, mech
        assert float(ds.signal_ogfr[-1]) < 1.0, mech


# ------------------------------------------------------------------------------------ mouse
def _mouse(model, mg_kg, every=24.0, days=28, scen=("mouse", "rebound"), params=None,
           step=0.25):
    t = np.arange(0.0, days * 24.0 + 1e-9, step)
    return run(model, t, mg_kg * MOUSE_KG, count=int(days * 24 / every), every=every,
               scenarios=scen, params=params)


def test_mouse_blockade_durations(model):
    """[zagon1983] [zagon1987]: 0.1 mg/kg blocks 4-8 h; [zagon1983] 10 mg/kg and [zagon1984]
    0.1 mg/kg every 6 h block 24 h/day (brain PET-style inhibition > 0.5, first day)."""
    low = blockade_hours(_mouse(model, 0.1, days=1), "pet_inhibition", 0.5, last_days=1)
    high = blockade_hours(_mouse(model, 10.0, days=1), "pet_inhibition", 0.5, last_days=1)
    q6h = blockade_hours(_mouse(model, 0.1, every=6.0, days=2), "pet_inhibition", 0.5,
                         last_days=1)
    assert 3.0 <= float(low.blockade_hours) <= 9.0
    assert float(high.blockade_hours) >= 23.0
    assert float(q6h.blockade_hours) >= 23.5


def test_mouse_harm_and_stereospecificity(model):
    """[zagon1983] [zagon1984]: 10 mg/kg daily and 0.1 mg/kg every 6 h speed tumour growth (the
    proliferation readout above 1 after 4 weeks, both hypotheses); [zagon1985]: the (+) isomer
    (no opioid receptor binding) has no effect."""
    for mech in ("tonic", "rebound"):
        scen = ("mouse", mech)
        assert float(_mouse(model, 10.0, scen=scen, step=1.0).proliferation[-1]) > 1.0
        assert float(_mouse(model, 0.1, every=6.0, scen=scen, step=1.0)
                     .proliferation[-1]) > 1.0
    plus = _mouse(model, 0.1, params={"frac_dextro": 1.0}, step=1.0)
    np.testing.assert_allclose(plus.proliferation, 1.0, atol=1e-12)


@pytest.mark.xfail(strict=True, reason="known discrepancy (model card): with the bounded "
                   "up-regulation the rebound hypothesis does not reproduce the tumour slowing "
                   "of 0.1 mg/kg daily in the mouse")
def test_mouse_low_dose_slows_growth_under_rebound(model):
    """[zagon1983] [zagon1984] [zagon1987]: 0.1 mg/kg daily slowed tumour growth. Under
    'rebound' the model gives 1.04 after 4 weeks (not reproduced; 'tonic' gives 0.995)."""
    assert float(_mouse(model, 0.1, step=1.0).proliferation[-1]) < 1.0


def test_mouse_to_human_dose():
    """[reaganshaw2008] body-surface translation: 0.1 mg/kg mouse x 3/37 x 70 kg = 0.57 mg."""
    assert 0.1 * 3 / 37 * 70 == pytest.approx(0.57, abs=0.01)


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
    daily doses 0.5-300 mg, pharmaceutical and racemic (14 days)."""
    t = daily(14, 0.5)
    for scenario in ("pharmaceutical", "racemic"):
        for dose in (0.5, 4.5, 50.0, 300.0):
            ds = run(model, t, dose, count=14, scenarios=(scenario, "human_pet"))
            assert float(ds.tlr4_inhibition.max()) < 1e-3, (scenario, dose)


def test_tlr4_potency_knob_and_branches(model):
    """The hypothesis knob is user-visible: racemic 4.5 mg needs a potency x partition of
    10^4-10^6 before TLR4 inhibition reaches 50%; the TRIF branch ([wang2016], default) leaves
    nuclear NF-kB untouched."""
    t = daily(3, 0.25)
    rac = run(model, t, 4.5, count=3, scenarios=("racemic", "human_pet"))
    needed = 1.0 / float(rac.tlr4_inhibition.max())
    assert 1e4 < needed < 1e6
    hyp = run(model, t, 4.5, count=3, scenarios=("racemic", "trif_branch"),
              params={"tlr4_tissue_partition": 10 * needed})
    assert float(hyp.tlr4_inhibition.max()) > 0.9
    np.testing.assert_allclose(hyp.nfkb_nuclear, hyp.nfkb_nuclear[0], rtol=1e-6)
    assert float(hyp.cytokine.min()) < 0.7


# ------------------------------------------------------------------------------ invariants
def test_untreated_is_a_steady_state(model):
    """No drug: every state stays at its initial value (baseline outputs 1), in every
    hypothesis scenario and in the mouse."""
    for scen in (HUMAN, ("pharmaceutical", "slow_biophase", "rebound"), ("mouse", "tonic")):
        ds = run(model, daily(14, 6.0), 0.0, scenarios=scen)
        for name in model.state_names:
            np.testing.assert_allclose(ds[name], ds[name][0], rtol=1e-6, atol=1e-9,
                                       err_msg=f"{scen} {name}")
        for name in ("signal_opioid", "signal_ogfr", "cytokine", "immune_index",
                     "proliferation", "receptor_density"):
            np.testing.assert_allclose(ds[name], 1.0, rtol=1e-6, err_msg=name)


@pytest.mark.parametrize("scenarios", [HUMAN, ("racemic", "slow_biophase", "rebound"),
                                       ("mouse", "tonic")])
def test_invariants(model, scenarios):
    """Mass balance: drug amounts (incl. urine and eliminated pools) add up to the doses given;
    occupancies in [0, 1]; free brain receptors and all amounts non-negative."""
    amount = 0.0025 if "mouse" in scenarios else 4.5
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


def test_model_file_holds_the_calibration(model):
    """The fitted values in ldn.toml are those of the calibration run
    (models/calibration/ldn_calibration.json, 6 significant digits)."""
    cal = json.loads(CALIBRATION.read_text())
    values = {p.name: p.value for p in model.parameters}
    for key, v in cal["fitted"].items():
        if "." in key:
            sc, name = key.split(".")
            assert model.scenarios[sc].values[name] == pytest.approx(v, rel=1e-5), key
        else:
            assert values[key] == pytest.approx(v, rel=1e-5), key
    assert math.isclose(values["Kd_ntx"], model.scenarios["human_pet"].values["Kd_ntx"])
