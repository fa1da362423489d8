"""The sweep engine: grid -> rows -> chunks -> labelled Dataset."""

import importlib
import warnings

import numpy as np
import pytest

import ldnsim
from ldnsim.dosing import Regimen
from ldnsim.errors import ConfigError, ModelError
from ldnsim.model import load_model
from ldnsim.population import Population, omega_from_iiv
from ldnsim.simulation import simulate
from ldnsim.sweep import SweepWarning, plan_sweep, run_chunk, run_plan, sweep

sweep_module = importlib.import_module("ldnsim.sweep")

T = np.linspace(0.0, 48.0, 49)
REGIMEN = Regimen.repeat(1.0, every=24.0, count=2)


@pytest.fixture(scope="module")
def model():
    return load_model("one_compartment_oral")


@pytest.fixture(scope="module")
def plan(model):
    """dose x scenario x CL x subject: 3 x 2 x 2 x 5 = 60 rows."""
    pop = Population(5, ["CL", "V"], omega_from_iiv([0.3, 0.2]), seed=42)
    return plan_sweep(model, T, axes={"dose": [1.0, 50.0, 0.0],
                                      "scenario": [[], "slow_absorption"],
                                      "CL": [150.0, 250.0]},
                      regimen=REGIMEN, population=pop, keep=["C_plasma", "central"])


@pytest.fixture(scope="module")
def reference(plan):
    return run_plan(plan, chunk_size=plan.n_rows, progress=False)


def test_dims_coords_units(reference):
    ds = reference
    assert ds["C_plasma"].dims == ("dose", "scenario", "CL", "subject", "time")
    assert ds["status"].dims == ("dose", "scenario", "CL", "subject")
    assert list(ds["scenario"].values) == ["base", "slow_absorption"]
    assert ds["dose"].attrs["units"] == "mg"
    assert ds["CL"].attrs["units"] == "L/h"
    assert ds["time"].attrs["units"] == "h"
    assert ds["C_plasma"].attrs["units"] == "ng/mL"
    assert ds["eta_CL"].dims == ("subject",)
    assert int(ds["status"].max()) == 0
    prov = ldnsim.results.provenance(ds)
    assert prov["model_hash"] and prov["n_rows"] == 60 and prov["n_failed"] == 0
    assert prov["population"]["seed"] == 42


@pytest.mark.parametrize("chunk_size", [1, 7])
def test_chunk_size_does_not_change_a_bit(plan, reference, chunk_size):
    ds = run_plan(plan, chunk_size=chunk_size, progress=False)
    for name in ("C_plasma", "central", "status"):
        assert np.array_equal(ds[name].values, reference[name].values)


@pytest.mark.parametrize("threads", [1, 2])
def test_thread_count_does_not_change_a_bit(plan, reference, threads):
    import numba
    if threads > numba.config.NUMBA_NUM_THREADS:
        pytest.skip(f"only {numba.config.NUMBA_NUM_THREADS} numba threads on this machine")
    ds = run_plan(plan, threads=threads, chunk_size=16, progress=False)
    assert np.array_equal(ds["C_plasma"].values, reference["C_plasma"].values)
    assert numba.get_num_threads() == numba.config.NUMBA_NUM_THREADS  # restored


def test_every_row_is_the_single_run_it_stands_for(model, reference):
    """A row of the sweep equals ldnsim.simulate with the same inputs, bit for bit."""
    ds = reference
    for dose, scen, cl, subj in [(50.0, "slow_absorption", 250.0, 3), (1.0, "base", 150.0, 0)]:
        row = ds.sel(dose=dose, scenario=scen, CL=cl, subject=subj)
        params = {"CL": cl * np.exp(float(row["eta_CL"])),
                  "V": 1350.0 * np.exp(float(row["eta_V"]))}
        one = simulate(model, T, params=params,
                       scenarios=() if scen == "base" else (scen,),
                       regimen=Regimen.repeat(dose, every=24.0, count=2))
        assert np.array_equal(row["C_plasma"].values, one["C_plasma"].values)


def test_matches_the_analytic_one_compartment_solution(model):
    ka, V = 0.7, 1350.0
    ds = sweep(model, T, axes={"CL": [100.0, 300.0]}, regimen=Regimen.single(50.0),
               rtol=1e-10, atol=1e-12, keep=["C_plasma"])
    for cl in (100.0, 300.0):
        k = cl / V
        exact = 1000 * 50.0 / V * ka / (ka - k) * (np.exp(-k * T) - np.exp(-ka * T))
        assert np.allclose(ds["C_plasma"].sel(CL=cl).values, exact, rtol=1e-6, atol=1e-9)


def test_zip_mode_and_samples(model):
    ds = sweep(model, T, axes={"dose": [1.0, 2.0, 3.0], "CL": [100.0, 200.0, 300.0]},
               mode="zip", regimen=Regimen.single(1.0),
               samples={"ka": [0.5, 0.7], "V": [1000.0, 1500.0]})
    assert ds["C_plasma"].dims == ("case", "sample", "time")
    assert list(ds["CL"].values) == [100.0, 200.0, 300.0] and ds["CL"].dims == ("case",)
    assert ds["ka"].dims == ("sample",) and ds["ka"].attrs["units"] == "1/h"
    # linear PK: concentration per mg is the same for (dose 1, CL 100) scaled
    c = ds["C_plasma"].isel(case=2, sample=0).values
    ref = sweep(model, T, axes={"CL": [300.0]}, params={"ka": 0.5, "V": 1000.0},
                regimen=Regimen.single(3.0))["C_plasma"].values[0]
    assert np.array_equal(c, ref)


def test_no_axes_is_one_row_with_a_status(model):
    ds = sweep(model, T, regimen=Regimen.single(5.0))
    assert ds["C_plasma"].dims == ("time",)
    assert ds["status"].dims == () and int(ds["status"]) == 0


def test_failed_rows_are_nan_reported_and_do_not_stop_the_sweep(model):
    with pytest.warns(SweepWarning, match="1 of 3 rows failed") as record:
        ds = sweep(model, T, axes={"CL": [210.0, -1e5, 100.0]}, regimen=Regimen.single(50.0))
    messages = [str(w.message) for w in record if w.category is SweepWarning]
    assert "CL=-100000 L/h" in messages[0]
    status = ds["status"].values
    assert status[1] != 0 and status[0] == 0 and status[2] == 0
    assert np.all(np.isnan(ds["C_plasma"].values[1]))
    assert np.all(np.isfinite(ds["C_plasma"].values[[0, 2]]))
    prov = ldnsim.results.provenance(ds)
    assert prov["n_failed"] == 1 and "CL=-100000" in prov["failures"][0]


def test_run_chunk_resolves_a_model_reference(model, plan):
    events = plan.events(0, 4)
    by_object = run_chunk(model, plan.t_eval, plan.P[:4], plan.y0, events,
                          keep_index=plan.keep_index)
    by_name = run_chunk("one_compartment_oral", plan.t_eval, plan.P[:4], plan.y0, events,
                        keep_index=plan.keep_index, model_hash=model.hash)
    assert np.array_equal(by_object.values, by_name.values)
    with pytest.raises(ModelError, match="changed"):
        run_chunk(model.path, plan.t_eval, plan.P[:1], plan.y0, plan.events(0, 1),
                  model_hash="0" * 64)


@pytest.mark.parametrize("kwargs, match", [
    (dict(axes={"CLX": [1.0]}), "CLX"),
    (dict(axes={"dose": [1.0]}), "needs a regimen"),
    (dict(axes={"dose": [1.0, 2.0], "CL": [1.0]}, mode="zip", regimen=REGIMEN), "equal"),
    (dict(axes={"dose": [-1.0]}, regimen=REGIMEN), ">= 0"),
    (dict(axes={"scenario": ["nope"]}), "nope"),
    (dict(axes={"CL": [1.0]}, samples={"CL": [1.0]}), "both"),
    (dict(keep=["nope"]), "nope"),
    (dict(mode="grid"), "mode"),
    (dict(method="euler"), "euler"),
    (dict(regimen=Regimen.single(1.0, time=-1.0)), "before the first output"),
])
def test_bad_sweeps(model, kwargs, match):
    with pytest.raises((ConfigError, ModelError), match=match):
        plan_sweep(model, T, **kwargs)


def test_too_large_a_result_is_refused(model, monkeypatch):
    monkeypatch.setattr(importlib.import_module("ldnsim.sweep.plan"), "MAX_RESULT_BYTES", 1000)
    with pytest.raises(ConfigError, match="GiB"):
        plan_sweep(model, T, axes={"CL": [1.0, 2.0, 3.0]})


def test_progress_bar_only_when_asked_or_on_a_terminal(plan, capsys):
    run_plan(plan, progress=True, chunk_size=20)
    assert "/60 [" in capsys.readouterr().err
    run_plan(plan, progress=None, chunk_size=20)  # not a terminal here
    run_plan(plan, progress=False, chunk_size=20)
    assert capsys.readouterr().err == ""


def test_bad_threads_and_chunk_size(plan):
    with pytest.raises(ConfigError, match="threads"):
        run_plan(plan, threads=0)
    with pytest.raises(ConfigError, match="chunk_size"):
        run_plan(plan, chunk_size=0)


def test_module_and_function_names_do_not_shadow_each_other(model):
    """ldnsim.sweep is the module (its function is ldnsim.sweep.sweep); ldnsim.simulate is the
    function (its module is ldnsim.simulation), whatever was imported first."""
    import ldnsim.simulation
    import ldnsim.sweep as module
    assert module is sweep_module and callable(ldnsim.simulate)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ds = ldnsim.sweep.sweep(model, T[:5], axes={"CL": [100.0]},
                                regimen=Regimen.single(1.0))
    assert ds["C_plasma"].shape == (1, 5)
