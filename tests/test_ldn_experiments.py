"""The LDN experiment files run end to end and say what their headers claim."""
from pathlib import Path

import numpy as np
import pytest

from ldnsim.experiment import metrics_of, run_experiment

pytestmark = pytest.mark.slow  # whole notebooks / experiments, end to end

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
    m = run("pet_validation")
    cmax = m["Cmax"].sel(scenario="human_pet")
    np.testing.assert_allclose(cmax / cmax["dose"], 13.3 / 50.0, rtol=0.02)  # linear PK, label
    occ = m["occupancy_mor_drug_peak"].sel(scenario="human_pet").values
    assert np.all(np.diff(occ) > 0)
    # Rabiner 2011 (within the 12 points tests/test_ldn_validation.py also allows)
    assert np.all(np.abs(occ - [0.27, 0.49, 0.61, 0.95]) <= 0.12)


def test_blockade_duration(run):
    m = run("blockade_duration")
    hours = m["blockade_hours"].transpose("scenario", "dose").values
    assert np.all(np.diff(hours, axis=1) >= 0)
    prolif = m["proliferation_end"].sel(scenario="rodent_transient")
    h = m["blockade_hours"].sel(scenario="rodent_transient")
    # Zagon's dichotomy in the model: growth slowed with a few hours of daily blockade,
    # sped up under round-the-clock blockade.
    assert float(prolif.sel(dose=3.0)) < 1 and 0 < float(h.sel(dose=3.0)) < 10
    assert float(prolif.sel(dose=100.0)) > 1 and float(h.sel(dose=100.0)) == 24.0


def test_tlr4_potency(run):
    peak = run("tlr4_potency")["tlr4_inhibition_peak"].transpose("dose",
                                                                  "tlr4_potency_multiplier")
    assert np.all(peak.sel(tlr4_potency_multiplier=1.0) < 1e-3)   # the negative control
    assert np.all(np.diff(peak.values, axis=1) > 0)
    half = peak.sel(dose=4.5)
    needed = float(half["tlr4_potency_multiplier"][half >= 0.5][0])
    assert 1e4 <= needed <= 1e6   # orders of magnitude beyond the published potency
