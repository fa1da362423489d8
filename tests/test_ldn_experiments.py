"""The LDN experiment files run end to end and say what their headers claim."""
from pathlib import Path

import numpy as np
import pytest

from ldnsim.experiment import metrics_of, run_experiment

EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"


@pytest.fixture(scope="module")
def run():
    cache = {}

    def _run(name):
        if name not in cache:
            ds = run_experiment(EXPERIMENTS / f"{name}.toml", progress=False)
            assert int(ds.attrs["n_failed"]) == 0
            assert (ds["status"] == 0).all()
            cache[name] = metrics_of(ds)
        return cache[name]
    return _run


def test_pet_validation(run):
    """[swisslabel] Cmax 13.3 ng/mL per 50 mg, linear; [rabiner2011] peak PET inhibition within
    8 h: 27, 43-58, 61, 92-98% at 2, 5, 15, 50 mg (each within 2 x 0.08, the data file's SD),
    under both retention mechanisms."""
    m = run("pet_validation")
    for sc in ("human_pet", "slow_biophase"):
        cmax = m["Cmax"].sel(scenario=sc)
        np.testing.assert_allclose(cmax / cmax["dose"], 13.3 / 50.0, rtol=0.1)
        occ = m["pet_inhibition_peak"].sel(scenario=sc).values
        assert np.all(np.diff(occ) > 0)
        assert np.all(np.abs(occ - [0.27, 0.49, 0.61, 0.95]) <= 0.16)


def test_blockade_duration_mouse(run):
    """[zagon1983] [zagon1984] in the mouse scenario: blockade hours rise with the dose and
    10 mg/kg (0.25 mg) blocks round the clock and speeds the proliferation readout under both
    hypotheses. Known discrepancy (model card): the brain retention fitted to single-dose
    blockade durations accumulates under daily dosing, so by week 4 even 0.1 mg/kg blocks
    nearly all day, and the low-dose tumour slowing is not reproduced."""
    m = run("blockade_duration")
    hours = m["blockade_hours"].transpose("scenario", "dose").values
    assert np.all(np.diff(hours, axis=1) >= -1e-9)
    for sc in ("mouse+tonic", "mouse+rebound"):
        assert float(m["blockade_hours"].sel(scenario=sc, dose=0.25)) == 24.0
        assert float(m["proliferation_end"].sel(scenario=sc, dose=0.25)) > 1.0


def test_tlr4_potency(run):
    """[wang2016]: at the published potency TLR4 inhibition stays < 0.1%; 50% at racemic
    4.5 mg/day needs a multiplier of 10^4-10^6."""
    peak = run("tlr4_potency")["tlr4_inhibition_peak"].transpose("dose",
                                                                  "tlr4_potency_multiplier")
    assert np.all(peak.sel(tlr4_potency_multiplier=1.0) < 1e-3)
    assert np.all(np.diff(peak.values, axis=1) > 0)
    half = peak.sel(dose=4.5)
    needed = float(half["tlr4_potency_multiplier"][half >= 0.5][0])
    assert 1e4 <= needed <= 1e7
