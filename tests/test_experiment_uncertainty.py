"""``[uncertainty]``: experiments that draw parameters from a fit's covariance or posterior."""
from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

import ldnsim
from ldnsim.errors import ConfigError
from ldnsim.estimation import FitWarning, draw_parameters, fit, open_fit, save_fit
from ldnsim.experiment import load_experiment, metrics_of, run_experiment
from ldnsim.experiment.run import uncertainty_summaries
from ldnsim.metrics import window_summary
from ldnsim.model.compiled import structure_key

HERE = Path(__file__).resolve().parent
FIXTURE = HERE / "data" / "pk_oral_synthetic.csv"
ORAL = "one_compartment_oral"


@pytest.fixture(scope="module")
def fit_file(tmp_path_factory):
    """A fit of ka, CL and V to the synthetic oral data, saved as NetCDF."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitWarning)
        ds = fit(ORAL, FIXTURE, ["ka", "CL", "V"], method="ml", starts=1, seed=1)
    ds.attrs["model_structure"] = structure_key(ldnsim.load_model(ORAL))
    path = tmp_path_factory.mktemp("fits") / "oral_fit.nc"
    save_fit(ds, path)
    return path


def experiment(tmp_path, fit_path, uncertainty="", extra="", name="exp.toml", model=ORAL):
    """Write an experiment beside a copy of the fit and return its path."""
    local = tmp_path / "oral_fit.nc"
    if not local.exists():
        shutil.copy(fit_path, local)
    text = f"""
[model]
name = "{model}"
[regimen]
dose = 50.0
[output]
times = [0.0, 1.0, 2.0, 4.0, 8.0, 24.0]
[uncertainty]
from = "oral_fit.nc"
{uncertainty}
{extra}
"""
    path = tmp_path / name
    path.write_text(text)
    return path


# ------------------------------------------------------------------------------ the draws
def test_draws_are_a_dim_and_reproducible_with_a_seed(tmp_path, fit_file):
    path = experiment(tmp_path, fit_file, "draws = 6\nseed = 3")
    a = run_experiment(path, progress=False)
    b = run_experiment(path, progress=False)
    assert a["C_plasma"].dims == ("draw", "time")
    for p in ("ka", "CL", "V"):
        assert a[p].dims == ("draw",)
        np.testing.assert_array_equal(a[p].values, b[p].values)
    np.testing.assert_array_equal(a["C_plasma"].values, b["C_plasma"].values)
    # the draws are the fit's (one SeedSequence child per fit file)
    child = int(np.random.SeedSequence(3).spawn(1)[0].generate_state(1)[0])
    want = draw_parameters(open_fit(fit_file), 6, seed=child)
    np.testing.assert_allclose(a["CL"].values, want.sel(parameter="CL").values)
    # each row simulates its draw: the parameters in the row are the drawn ones
    p = dict(zip(("ka", "CL", "V"), (float(a[k][2]) for k in ("ka", "CL", "V"))))
    one = ldnsim.simulate(ORAL, a["time"].values, params=p,
                          regimen=ldnsim.Regimen.repeat(50.0, every=24.0, count=1))
    np.testing.assert_allclose(a["C_plasma"].isel(draw=2), one["C_plasma"], rtol=1e-9)
    other = run_experiment(experiment(tmp_path, fit_file, "draws = 6\nseed = 4", name="o.toml"),
                           progress=False)
    assert not np.allclose(other["CL"].values, a["CL"].values)
    info = ldnsim.results.provenance(a)["uncertainty"]
    assert info["seed"] == 3 and info["draws"] == 6 and info["fits"][0]["source"] == "covariance"
    assert len(info["fits"][0]["sha256"]) == 64


def test_a_subset_of_the_fitted_parameters(tmp_path, fit_file):
    ds = run_experiment(experiment(tmp_path, fit_file, 'draws = 4\nseed = 1\n'
                                                        'parameters = ["CL"]'), progress=False)
    assert "CL" in ds.coords and "ka" not in ds.coords
    assert ds["C_plasma"].dims == ("draw", "time")


def test_with_sampling_product_and_zip(tmp_path, fit_file):
    sampling = '[sampling]\nmethod = "lhs"\nn = 3\nseed = 2\nranges = { ka = [0.5, 1.0] }'
    prod = run_experiment(experiment(tmp_path, fit_file, "draws = 4\nseed = 1\n"
                                     'parameters = ["CL", "V"]', sampling), progress=False)
    assert prod["C_plasma"].dims == ("sample", "draw", "time")
    zipped = run_experiment(experiment(tmp_path, fit_file, "draws = 3\nseed = 1\n"
                                       'parameters = ["CL", "V"]\nwith_sampling = "zip"',
                                       sampling, name="zip.toml"), progress=False)
    assert zipped["C_plasma"].dims == ("draw", "time")
    assert zipped["ka"].dims == ("draw",) and zipped["CL"].dims == ("draw",)
    # the zipped pairs are (sample i, draw i) of the product
    np.testing.assert_allclose(zipped["ka"].values, prod["ka"].values)
    np.testing.assert_allclose(zipped["CL"].values, prod["CL"].values[:3])
    for i in range(3):
        np.testing.assert_allclose(zipped["C_plasma"].isel(draw=i),
                                   prod["C_plasma"].isel(sample=i, draw=i), rtol=1e-12)


def test_with_population_shared_and_per_draw_subjects(tmp_path, fit_file):
    pop = "[population]\nsubjects = 3\nseed = 5\niiv = { V = 0.3 }"
    shared = run_experiment(experiment(tmp_path, fit_file, "draws = 4\nseed = 1", pop),
                            progress=False)
    assert shared["C_plasma"].dims == ("draw", "subject", "time")
    assert shared["eta_V"].dims == ("subject",)
    per = run_experiment(experiment(tmp_path, fit_file, 'draws = 4\nseed = 1\n'
                                    'subjects = "per_draw"', pop, name="per.toml"),
                         progress=False)
    assert per["eta_V"].dims == ("draw", "subject")
    etas = per["eta_V"].values
    assert len(np.unique(np.round(etas, 12))) == etas.size      # new subjects every draw
    # subject s of draw d is subject d * 3 + s of one population of 12 (seeded)
    big = ldnsim.population.Population(12, ["V"], np.array([[np.log1p(0.09)]]), seed=5)
    np.testing.assert_allclose(etas.ravel(), big.draw()[0][:, 0])
    np.testing.assert_allclose(etas[0], shared["eta_V"].values)  # draw 0 = the shared ones
    # IIV multiplies around each draw: the row's V is the draw's V times exp(eta)
    d, s = 2, 1
    V = float(per["V"][d]) * np.exp(etas[d, s])
    p = {"ka": float(per["ka"][d]), "CL": float(per["CL"][d]), "V": V}
    one = ldnsim.simulate(ORAL, per["time"].values, params=p,
                          regimen=ldnsim.Regimen.repeat(50.0, every=24.0, count=1))
    np.testing.assert_allclose(per["C_plasma"].isel(draw=d, subject=s), one["C_plasma"],
                               rtol=1e-9)


# ------------------------------------------------------------------------------- metrics
def test_metrics_report_medians_and_90_percent_intervals(tmp_path, fit_file):
    ds = run_experiment(experiment(tmp_path, fit_file, "draws = 40\nseed = 1",
                                   '[metrics]\nnames = ["nca"]\n[metrics.nca]\n'
                                   'var = "C_plasma"'), progress=False)
    m = metrics_of(ds)
    assert m["Cmax"].dims == ("draw",)
    np.testing.assert_allclose(float(m["Cmax_median"]), float(m["Cmax"].median("draw")))
    np.testing.assert_allclose(float(m["Cmax_lower"]), float(m["Cmax"].quantile(0.05, "draw")))
    np.testing.assert_allclose(float(m["Cmax_upper"]), float(m["Cmax"].quantile(0.95, "draw")))
    assert m["Cmax_lower"] < m["Cmax_median"] < m["Cmax_upper"]
    assert m["Cmax_median"].attrs["n_missing"] == 0


def test_summaries_leave_nan_draws_out_and_count_them():
    values = np.array([[1.0, 2.0, 3.0, np.nan], [4.0, 5.0, 6.0, 7.0]])
    m = xr.Dataset({"x": (("dose", "draw"), values), "y": (("dose",), [1.0, 2.0])})
    out = uncertainty_summaries(m)
    np.testing.assert_allclose(out["x_median"], [2.0, 5.5])
    assert out["x_median"].attrs["n_missing"] == 1
    assert "y_median" not in out
    # over draw and sample together when both are there
    m2 = xr.Dataset({"x": (("sample", "draw"), np.arange(12.0).reshape(3, 4))})
    np.testing.assert_allclose(float(uncertainty_summaries(m2)["x_median"]), 5.5)
    assert uncertainty_summaries(m) is not m and "x_median" not in uncertainty_summaries(
        m.rename(draw="sample"))


def test_window_summary_reports_the_probability_of_an_open_window():
    """p_in_window = the share of draws (and samples) whose window is open, per dose."""
    t = np.arange(0.0, 24.0 * 8 + 1e-9, 1.0)
    rng = np.random.default_rng(0)
    n_draw = 10
    immune_end = np.where(np.arange(n_draw) < 7, 0.9, 1.0)      # 7 of 10 dampened ...
    occ = np.zeros((2, n_draw, t.size))
    occ[1] = 0.9                                                # ... dose 2 blocks all day
    immune = np.ones((2, n_draw, t.size))
    immune[:, :, -1] = immune_end
    ds = xr.Dataset({"immune_index": (("dose", "draw", "time"), immune),
                     "pet_inhibition": (("dose", "draw", "time"), occ),
                     "signal_ogfr": (("dose", "draw", "time"), 1 + 0.0 * occ),
                     "proliferation": (("dose", "draw", "time"), 1 + rng.normal(0, 1e-3,
                                                                               occ.shape))},
                    coords={"dose": [1.0, 2.0], "draw": np.arange(n_draw),
                            "time": ("time", t, {"units": "h"})})
    table = window_summary(ds, occupancy_var="pet_inhibition", signal_var="signal_ogfr")
    np.testing.assert_allclose(table["p_in_window"].values, [0.7, 0.0])
    np.testing.assert_array_equal(table["p_in_window_n"].values, [10, 10])
    flags = table["in_window"].values.copy()
    flags[0, 0] = np.nan                                        # an unknown draw is left out
    table2 = window_summary(ds.assign(immune_index=ds.immune_index.where(
        ~((ds.dose == 1.0) & (ds.draw == 0)))), occupancy_var="pet_inhibition",
        signal_var="signal_ogfr")
    np.testing.assert_allclose(float(table2["p_in_window"][0]), 6 / 9)
    assert "p_in_window" not in window_summary(ds.isel(draw=0), occupancy_var="pet_inhibition",
                                               signal_var="signal_ogfr")


# -------------------------------------------------------------------------------- errors
def test_a_missing_or_invalid_fit_file_is_one_line(tmp_path, fit_file):
    path = experiment(tmp_path, fit_file, "draws = 3\nseed = 1")
    (tmp_path / "oral_fit.nc").unlink()
    with pytest.raises(ConfigError, match=r"\[uncertainty\] from\[0\]: no fit file at"):
        load_experiment(path)
    (tmp_path / "oral_fit.nc").write_text("not a netcdf file")
    with pytest.raises(ConfigError, match=r"from\[0\]: cannot read .* as a NetCDF result"):
        load_experiment(path)
    ldnsim.io.save_result(xr.Dataset({"x": ("t", [1.0])}), tmp_path / "oral_fit.nc")
    with pytest.raises(ConfigError, match="not an ldnsim fit result"):
        load_experiment(path)


def test_parameters_the_model_lacks_or_conflicts(tmp_path, fit_file):
    ds = open_fit(fit_file).load()
    names = [str(p) for p in ds["parameter"].values]
    bad = ds.assign_coords(parameter=["kaa" if n == "ka" else n for n in names],
                           parameter2=["kaa" if n == "ka" else n for n in names])
    save_fit(bad, tmp_path / "oral_fit.nc")
    path = experiment(tmp_path, fit_file, "draws = 3\nseed = 1")
    with pytest.raises(ConfigError, match=r"fitted 'kaa', which model 'one_compartment_oral' "
                                          "does not have"):
        load_experiment(path)
    shutil.copy(fit_file, tmp_path / "oral_fit.nc")
    with pytest.raises(ConfigError, match=r"\[uncertainty\] parameters: 'Vc' is not fitted"):
        load_experiment(experiment(tmp_path, fit_file, 'draws = 3\nparameters = ["V", "Vc"]',
                                   name="b.toml"))
    experiment(tmp_path, fit_file, "draws = 3", name="c.toml")
    text = (tmp_path / "c.toml").read_text().replace("[model]\nname", "[model]\n"
                                                     "params = { CL = 100.0 }\nname")
    (tmp_path / "c.toml").write_text(text)
    with pytest.raises(ConfigError, match="'CL' is drawn from a fit and also set by "
                                          r"\[model\] params"):
        load_experiment(tmp_path / "c.toml")
    with pytest.raises(ConfigError, match="'ka' is drawn from a fit and also set by "
                                          r"\[sampling\] ranges"):
        load_experiment(experiment(tmp_path, fit_file, "draws = 3",
                                   '[sampling]\nn = 3\nranges = { ka = [0.5, 1.0] }',
                                   name="d.toml"))
    with pytest.raises(ConfigError, match="needs as many draws as samples: draws = 4"):
        load_experiment(experiment(tmp_path, fit_file, 'draws = 4\nwith_sampling = "zip"\n'
                                   'parameters = ["CL"]',
                                   '[sampling]\nn = 3\nranges = { ka = [0.5, 1.0] }',
                                   name="e.toml"))
    with pytest.raises(ConfigError, match="needs a \\[population\\] section|it needs a "
                                          r"\[population\] section"):
        load_experiment(experiment(tmp_path, fit_file, 'draws = 4\nsubjects = "per_draw"',
                                   name="f.toml"))
    with pytest.raises(ConfigError, match=r"\[uncertainty\] draws: expected a number >= 1"):
        load_experiment(experiment(tmp_path, fit_file, "draws = 0", name="g.toml"))
    with pytest.raises(ConfigError, match=r"unknown key 'draw'.*allowed: from, draws"):
        load_experiment(experiment(tmp_path, fit_file, "draws = 3\ndraw = 3", name="h.toml"))


def test_a_fit_of_another_model_or_version(tmp_path, fit_file):
    path = experiment(tmp_path, fit_file, "draws = 3\nseed = 1", model="two_compartment_iv")
    with pytest.raises(ConfigError, match="is a fit of model 'one_compartment_oral', not of "
                                          "this experiment's model 'two_compartment_iv'"):
        load_experiment(path)
    ds = open_fit(fit_file).load()
    ds.attrs["model_structure"] = "0" * 64          # fitted with other equations
    save_fit(ds, tmp_path / "oral_fit.nc")
    with pytest.warns(UserWarning, match="fitted with a different version of model"):
        load_experiment(experiment(tmp_path, fit_file, "draws = 3", name="v.toml"))


def test_a_scenario_that_sets_a_drawn_parameter_is_an_error(tmp_path, fit_file):
    model = ldnsim.load_model(ORAL)
    text = Path(model.path).read_text() + '\n[scenarios.fast]\nka = 2.0\n'
    (tmp_path / "one_compartment_oral.toml").write_text(text)
    path = experiment(tmp_path, fit_file, "draws = 3", '[sweep]\nscenario = [[], ["fast"]]',
                      model="one_compartment_oral.toml")
    with pytest.raises(ConfigError, match="'ka' is drawn from a fit and also set by scenario "
                                          "'fast'"):
        load_experiment(path)
    exp = load_experiment(experiment(tmp_path, fit_file, 'draws = 3\nparameters = ["CL", "V"]',
                                     '[sweep]\nscenario = [[], ["fast"]]', name="ok.toml",
                                     model="one_compartment_oral.toml"))
    assert exp.plan.dims == ("scenario", "draw")
    assert "uncertainty: 3 draws from oral_fit.nc" in exp.summary()
