"""Estimation: recovery of known parameters with nominal CI coverage (one- and two-compartment),
profile likelihoods (flat for a non-identifiable parameter, ~ Wald on a near-linear problem),
WLS/ML details, gradients, result files, draws, overlays and predictive checks."""
import warnings
from pathlib import Path

import numpy as np
import pytest

import ldnsim
from ldnsim.dataset import read_dataset
from ldnsim.estimation import (
    EstimationError,
    FitWarning,
    apply_overlay,
    draw_parameters,
    fit,
    open_fit,
    predictive_check,
    save_fit,
    synthetic_dataset,
    write_overlay,
)
from ldnsim.estimation.objective import Objective
from ldnsim.estimation.problem import build_problem
from ldnsim.model import loads_model

HERE = Path(__file__).resolve().parent
FIXTURE = HERE / "data" / "pk_oral_synthetic.csv"
ORAL = "one_compartment_oral"
ORAL_TRUE = {"ka": 0.7, "CL": 210.0, "V": 1350.0}
ORAL_DOSES = {i: [(0.0, float(d))] for i, d in enumerate([25, 50, 100, 200])}
ORAL_TIMES = [0.5, 1, 2, 4, 8, 12, 24]
TWO = "two_compartment_iv"
TWO_TRUE = {"CL": 10.0, "V1": 20.0, "Q": 5.0, "V2": 50.0}
TWO_DOSES = {i: [(0.0, float(d))] for i, d in enumerate([50, 100, 200, 400])}
TWO_TIMES = [0.25, 0.5, 1, 2, 4, 8, 12, 24, 48]


def oral_data(seed, sd=0.1, times=ORAL_TIMES, params=ORAL_TRUE):
    return read_dataset(synthetic_dataset(ORAL, ORAL_DOSES, times, ["C_plasma"],
                                          params=params, seed=seed, sd=sd), ORAL)


@pytest.fixture(scope="module")
def oral_fit():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitWarning)
        return fit(ORAL, FIXTURE, ["ka", "CL", "V"], method="ml", starts=2, seed=1,
                   profile=["CL"])


# ------------------------------------------------------------------ recovery, coverage
def _covered(ds, truth):
    return [bool(ds["ci_lower"].sel(parameter=k) <= v <= ds["ci_upper"].sel(parameter=k))
            for k, v in truth.items()]


@pytest.mark.slow
def test_wald_intervals_cover_the_truth_at_the_nominal_rate():
    """30 seeded data sets per model, 95% Wald intervals of 3 + 4 parameters: 210 intervals,
    of which ~199.5 should cover the truth (binomial sd 3.2). A two-sided exact binomial test
    at the 0.1% level detects e.g. a real coverage of 88% (about 185 covered) almost surely."""
    from scipy.stats import binomtest

    covered = []
    for model, truth, doses, times in ((ORAL, ORAL_TRUE, ORAL_DOSES, ORAL_TIMES),
                                       (TWO, TWO_TRUE, TWO_DOSES, TWO_TIMES)):
        for seed in range(30):
            data = read_dataset(synthetic_dataset(model, doses, times, ["C_plasma"],
                                                  params=truth, seed=1000 + seed, sd=0.1),
                                model)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FitWarning)
                ds = fit(model, data, list(truth), method="ml")
            covered += _covered(ds, truth)
    k, n = sum(covered), len(covered)
    print(f"Wald 95% CI coverage: {k}/{n} = {k / n:.3f}")
    assert n == 210
    assert binomtest(k, n, 0.95).pvalue > 1e-3, f"{k}/{n} intervals covered the truth"


@pytest.mark.parametrize("model, truth, doses, times", [
    (ORAL, ORAL_TRUE, ORAL_DOSES, ORAL_TIMES), (TWO, TWO_TRUE, TWO_DOSES, TWO_TIMES)])
def test_recovers_known_parameters(model, truth, doses, times):
    data = read_dataset(synthetic_dataset(model, doses, times, ["C_plasma"], params=truth,
                                          seed=7, sd=0.1), model)
    start = {k: {"init": v * 1.6} for k, v in truth.items()}  # start away from the truth
    ds = fit(model, data, start, method="ml", starts=2, seed=3)
    est = ds["estimate"].sel(parameter=list(truth)).values
    se = ds["se"].sel(parameter=list(truth)).values
    assert np.all(np.abs(est - np.array(list(truth.values()))) < 3.5 * se)
    assert np.all(ds["rse"].sel(parameter=list(truth)).values < 15)
    sigma = float(ds["estimate"].sel(parameter="sigma_prop_C_plasma"))
    assert 0.07 < sigma < 0.13  # the noise was 10 %
    assert ds.attrs["converged"] == "true" and ds.attrs["n_obs"] == len(data)
    # the residuals are those of the estimate
    np.testing.assert_allclose(ds["RES"].values, ds["DV"].values - ds["PRED"].values)
    np.testing.assert_allclose(ds["WRES"].values, ds["RES"].values / ds["SIGMA"].values)
    assert abs(float(ds["WRES"].mean())) < 0.3 and 0.7 < float(ds["WRES"].std()) < 1.3


def test_wls_with_known_sd_matches_chi_square_theory():
    """WLS with every SD given: the covariance is (J'WJ)^-1 unscaled and SSR ~ chi2(n - p)."""
    data = read_dataset(synthetic_dataset(ORAL, ORAL_DOSES, ORAL_TIMES, ["C_plasma"],
                                          params=ORAL_TRUE, seed=5, sd=0.05, write_sd=True),
                        ORAL)
    assert np.isfinite(data.observations["SD"].values).all()
    ds = fit(ORAL, data, ["ka", "CL", "V"], method="wls")
    assert list(ds["parameter"].values) == ["ka", "CL", "V"]  # no error parameters
    assert ds.attrs["residual_scale"] == 1.0
    n, p = ds.attrs["n_obs"], 3
    assert 0.3 * (n - p) < ds.attrs["objective"] < 2.0 * (n - p)
    assert all(_covered(ds, ORAL_TRUE))
    ml = fit(ORAL, data, ["ka", "CL", "V"], method="ml")  # same likelihood: same estimates
    np.testing.assert_allclose(ml["estimate"].values, ds["estimate"].values, rtol=1e-4)
    np.testing.assert_allclose(ml["se"].values, ds["se"].values, rtol=1e-3)


@pytest.mark.parametrize("error", ["additive", "combined"])
def test_other_residual_error_models(error):
    data = read_dataset(synthetic_dataset(ORAL, ORAL_DOSES, ORAL_TIMES, ["C_plasma"],
                                          params=ORAL_TRUE, seed=2, error=error, sd=0.1 if
                                          error == "combined" else 2.0, additive=0.5), ORAL)
    ds = fit(ORAL, data, ["ka", "CL", "V"], error={"model": error}, method="ml")
    names = list(ds["parameter"].values)
    expect = {"additive": ["sigma_add_C_plasma"],
              "combined": ["sigma_add_C_plasma", "sigma_prop_C_plasma"]}[error]
    assert names[3:] == expect
    est = ds["estimate"].sel(parameter=list(ORAL_TRUE)).values
    np.testing.assert_allclose(est, list(ORAL_TRUE.values()), rtol=0.15)
    if error == "additive":
        assert 1.3 < float(ds["estimate"].sel(parameter="sigma_add_C_plasma")) < 2.8


def test_summary_observations_are_fitted():
    """Cmax, Tmax and AUC of one profile (NCA on the simulated curve) determine ka, CL, V."""
    m = ldnsim.load_model(ORAL)
    sim = ldnsim.simulate(m, np.linspace(0, 48, 4801), regimen=ldnsim.Regimen.single(50.0))
    from ldnsim.metrics import nca
    r = nca(sim, "C_plasma")
    text = ("ID,TIME,EVID,AMT,DV,MDV,NAME,UNIT,SD,STUDY,SOURCE,METHOD\n"
            "1,0,1,50,,1,,mg,,s1,,\n"
            f"1,48,0,,{float(r.AUC)},0,AUC(C_plasma),ng/mL*h,1,s1,Table 1,reported\n"
            f"1,48,0,,{float(r.Cmax)},0,Cmax(C_plasma),ng/mL,0.2,s1,Table 1,reported\n"
            f"1,48,0,,{float(r.Tmax)},0,Tmax(C_plasma),h,0.05,s1,Table 1,reported\n")
    ds = fit(ORAL, text, {"ka": {"init": 1.0}, "CL": {"init": 150.0}, "V": {"init": 1000.0}},
             method="wls")
    np.testing.assert_allclose(ds["estimate"].values, [0.7, 210.0, 1350.0], rtol=0.03)
    assert np.all(np.isfinite(ds["se"].values))


def test_multistart_is_seeded_and_keeps_every_start():
    data = oral_data(3)
    a = fit(ORAL, data, ["ka", "CL", "V"], starts=3, seed=9)
    b = fit(ORAL, data, ["ka", "CL", "V"], starts=3, seed=9)
    assert a.sizes["start"] == 3
    np.testing.assert_array_equal(a["start_estimate"].values, b["start_estimate"].values)
    assert float(a.attrs["objective"]) == pytest.approx(float(a["start_objective"].min()))


# ---------------------------------------------------------------------------- profiles
PRODUCT_MODEL = """
[model]
name = "product_volume"
description = "concentration depends on Va * Vb only: Va and Vb are not identifiable"
time_unit = "h"
dose_target = "central"
[states]
central = { init = 0.0, unit = "mg" }
[parameters]
CL = { value = 10.0, unit = "L/h", source = "test", evidence = "assumed" }
Va = { value = 4.0, unit = "L", source = "test", evidence = "assumed" }
Vb = { value = 5.0, unit = "L", source = "test", evidence = "assumed" }
[odes]
central = "-CL / (Va * Vb) * central"
[outputs]
C = { expr = "1000 * central / (Va * Vb)", unit = "ng/mL" }
"""


def test_structurally_non_identifiable_parameter_has_a_flat_profile():
    model = loads_model(PRODUCT_MODEL)
    text = synthetic_dataset(model, {1: [(0.0, 100.0)]}, [0.5, 1, 2, 4, 8], ["C"], seed=1)
    with pytest.warns(FitWarning, match="Fisher information is singular: .*Va"):
        ds = fit(model, text, {"CL": {}, "Va": {}, "Vb": {"lower": 1e-4, "upper": 1e5}},
                 profile=["Va", "CL"])
    assert str(ds["identifiability"].sel(parameter="Va").values) == \
        "structurally non-identifiable (flat profile)"
    stat = ds["profile_stat"].sel(profiled="Va").values
    assert np.nanmax(stat) < 0.02
    values = ds["profile_value"].sel(profiled="Va").values
    assert np.nanmax(values) / np.nanmin(values) > 1000  # walked from bound to bound
    assert np.isnan(float(ds["profile_ci_lower"].sel(parameter="Va")))
    assert str(ds["identifiability"].sel(parameter="CL").values) == "identifiable"
    # along the flat profile Vb compensates: Va * Vb stays at its estimate
    path = ds["profile_path"].sel(profiled="Va")
    product = (path.sel(parameter="Va") * path.sel(parameter="Vb")).values
    ok = np.isfinite(product)
    np.testing.assert_allclose(product[ok], product[ok][0], rtol=1e-3)


def test_practically_non_identifiable_parameter_is_flat_on_one_side():
    """Only late samples of a fast absorption: a lower bound on ka, no upper one."""
    data = oral_data(4, times=[12, 16, 24, 36, 48], params={**ORAL_TRUE, "ka": 3.0})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitWarning)  # ka may sit in the flat region
        ds = fit(ORAL, data, {"ka": {"init": 3.0}, "CL": {}, "V": {}}, profile=["ka"])
    verdict = str(ds["identifiability"].sel(parameter="ka").values)
    assert verdict.startswith("practically non-identifiable (flat above the estimate")
    assert np.isfinite(float(ds["profile_ci_lower"].sel(parameter="ka")))
    assert np.isnan(float(ds["profile_ci_upper"].sel(parameter="ka")))


def test_profile_ci_agrees_with_wald_ci_on_a_near_linear_problem():
    """Small noise, many samples: the log-likelihood is nearly quadratic on the log scale,
    so the profile interval matches the Wald interval to a few percent of its width."""
    data = oral_data(6, sd=0.03, times=[0.25, 0.5, 1, 1.5, 2, 3, 4, 6, 8, 12, 16, 24])
    ds = fit(ORAL, data, ["ka", "CL", "V"], profile=True)
    for name in ("ka", "CL", "V"):
        p = ds.sel(parameter=name)
        width = np.log(float(p["ci_upper"])) - np.log(float(p["ci_lower"]))
        for a, b in (("profile_ci_lower", "ci_lower"), ("profile_ci_upper", "ci_upper")):
            gap = abs(np.log(float(p[a])) - np.log(float(p[b])))
            assert gap < 0.05 * width, (name, a, float(p[a]), float(p[b]))
        assert str(p["identifiability"].values) == "identifiable"


# --------------------------------------------------------------------------- gradients
@pytest.mark.parametrize("model, truth, doses, times", [
    (ORAL, ORAL_TRUE, ORAL_DOSES, ORAL_TIMES), (TWO, TWO_TRUE, TWO_DOSES, TWO_TIMES)])
def test_forward_sensitivities_match_finite_differences(model, truth, doses, times):
    text = synthetic_dataset(model, doses, times, ["C_plasma"], params=truth, seed=1)
    pb = build_problem(model, text, list(truth))
    fd, sens = Objective(pb), Objective(pb, gradient="sensitivity")
    x = fd.x0 + 0.1
    f1, J1 = fd.f_and_jac(x)
    f2, J2 = sens.f_and_jac(x)
    np.testing.assert_allclose(f2, f1, rtol=1e-6)
    np.testing.assert_allclose(J2, J1, rtol=1e-4, atol=1e-6 * np.abs(J1).max())
    a = fit(model, text, list(truth), gradient="sensitivity")
    b = fit(model, text, list(truth))
    np.testing.assert_allclose(a["estimate"].values, b["estimate"].values, rtol=1e-4)


def test_sensitivities_refuse_summary_observations():
    text = ("ID,TIME,EVID,AMT,DV,MDV,NAME,UNIT,STUDY,SOURCE,METHOD\n1,0,1,50,,1,,mg,s1,,\n"
            "1,24,0,,25,0,Cmax(C_plasma),ng/mL,s1,Table 1,reported\n")
    pb = build_problem(ORAL, text, ["CL"])
    with pytest.raises(EstimationError, match="gradient = 'fd'"):
        Objective(pb, gradient="sensitivity")


def test_fisher_information_matches_the_hessian():
    """At the optimum, 2 x the Fisher information ~ the finite-difference Hessian of -2 log L."""
    data = oral_data(8)
    pb = build_problem(ORAL, data, ["ka", "CL", "V"])
    ds = fit(ORAL, data, ["ka", "CL", "V"])
    obj = Objective(pb)
    from ldnsim.estimation.draws import estimate_x
    x = estimate_x(ds)
    h = 1e-3
    H = np.empty((4, 4))
    for k in range(4):
        e = np.zeros(4)
        e[k] = h
        H[:, k] = (obj.value_and_grad(x + e)[1] - obj.value_and_grad(x - e)[1]) / (2 * h)
    F = 2 * obj.fisher(x)
    np.testing.assert_allclose(np.diag(F), np.diag(H), rtol=0.25)
    cov = np.linalg.inv(0.5 * (H + H.T) / 2)
    np.testing.assert_allclose(np.sqrt(np.diag(cov)), ds["se_log"].values, rtol=0.2)


# -------------------------------------------------------------------- input errors
@pytest.mark.parametrize("kwargs, words", [
    ({"params": ["CLL"]}, "has no parameter of that name (did you mean 'CL'?)"),
    ({"params": []}, "no parameters to fit"),
    ({"params": ["CL"], "fixed": {"CL": 3.0}}, "both fitted and fixed"),
    ({"params": ["CL"], "method": "ols"}, "method must be 'ml'"),
    ({"params": {"CL": {"init": -1.0}}}, "must be > 0 on the log scale"),
    ({"params": {"CL": {"lower": 300.0, "upper": 100.0}}}, "lower (300) must be below"),
    ({"params": ["CL"], "error": {"C_brain": {"model": "additive"}}}, "do not observe"),
    ({"params": ["CL"], "error": "exponential"}, "expected one of additive"),
    ({"params": ["ka"], "scenarios": ["slow_absorption"]}, "is fitted, but a scenario"),
    ({"params": ["CL"], "starts": 0}, "starts must be an integer >= 1"),
])
def test_bad_fit_requests_are_one_line_errors(kwargs, words):
    with pytest.raises(EstimationError) as info:
        fit(ORAL, FIXTURE, **kwargs)
    assert words in str(info.value) and "\n" not in str(info.value)


# ----------------------------------------------------------- results, draws, overlay
def test_result_round_trips_through_netcdf(oral_fit, tmp_path):
    path = save_fit(oral_fit, tmp_path / "fit.nc")
    back = open_fit(path)
    for var in ("estimate", "se", "ci_lower", "correlation", "covariance", "PRED", "WRES",
                "profile_stat", "profile_ci_lower"):
        np.testing.assert_allclose(back[var].values, oral_fit[var].values)
    assert list(back["NAME"].values) == list(oral_fit["NAME"].values)
    assert back["identifiability"].sel(parameter="CL").values == "identifiable"
    from ldnsim.results import provenance
    attrs = provenance(back)
    assert attrs["data_files"] == {str(FIXTURE): read_dataset(FIXTURE).files[str(FIXTURE)]}
    assert attrs["method"] == "ml" and attrs["aic"] == pytest.approx(attrs["neg2ll"] + 2 * 4)
    corr = back["correlation"].values
    np.testing.assert_allclose(np.diag(corr), 1.0)
    assert np.all(np.abs(corr) <= 1 + 1e-9)


def test_draws_are_seeded_and_follow_the_covariance(oral_fit):
    a = draw_parameters(oral_fit, 4000, seed=1)
    b = draw_parameters(oral_fit, 4000, seed=1)
    c = draw_parameters(oral_fit, 4000, seed=2)
    assert a.dims == ("draw", "parameter") and list(a["parameter"].values) == ["ka", "CL", "V"]
    np.testing.assert_array_equal(a.values, b.values)
    assert not np.array_equal(a.values, c.values)
    logs = np.log(a.values)
    est = np.log(oral_fit["estimate"].sel(parameter=["ka", "CL", "V"]).values)
    se = oral_fit["se_log"].sel(parameter=["ka", "CL", "V"]).values
    assert np.all(np.abs(logs.mean(axis=0) - est) < 4 * se / np.sqrt(4000))
    np.testing.assert_allclose(logs.std(axis=0), se, rtol=0.06)
    corr = np.corrcoef(logs.T)
    np.testing.assert_allclose(corr, oral_fit["correlation"].values[:3, :3], atol=0.06)
    assert draw_parameters(oral_fit, 3, seed=1, include_error=True).sizes["parameter"] == 4
    with pytest.raises(EstimationError, match="no posterior"):
        draw_parameters(oral_fit, 3, source="posterior")


def test_overlay_applies_the_fitted_values(oral_fit, tmp_path):
    path = write_overlay(oral_fit, tmp_path / "fit.toml", fit_path="fit.nc")
    text = path.read_text()
    assert text.startswith("# Fitted parameter values for model 'one_compartment_oral'")
    model = apply_overlay(ORAL, path)
    assert set(model.scenarios["fit"].values) == {"ka", "CL", "V"}
    t = np.linspace(0, 24, 25)
    reg = ldnsim.Regimen.single(50.0)
    est = {k: float(oral_fit["estimate"].sel(parameter=k)) for k in ("ka", "CL", "V")}
    a = ldnsim.simulate(model, t, scenarios=["fit"], regimen=reg)
    b = ldnsim.simulate(ORAL, t, params=est, regimen=reg)
    np.testing.assert_allclose(a["C_plasma"].values, b["C_plasma"].values, rtol=1e-12)
    with pytest.raises(EstimationError, match="already has a scenario 'fit'"):
        apply_overlay(model, path)


def test_predictive_check_covers_about_the_nominal_fraction(oral_fit):
    check = predictive_check(oral_fit, n=300, seed=4, level=0.9)
    assert 0.75 <= check.attrs["coverage"] <= 1.0
    lo, med, hi = (check[v].values for v in ("pi_lower", "pi_median", "pi_upper"))
    assert np.all(lo <= med) and np.all(med <= hi)
    assert np.all(check["ci_pred_upper"].values <= hi + 1e-9)  # residual error widens
    assert check.sizes["subject"] == 4 and check["band_median"].sizes["name"] == 1
    again = predictive_check(oral_fit, n=300, seed=4, level=0.9)
    np.testing.assert_array_equal(again["pi_upper"].values, hi)


def test_plots_draw(oral_fit, tmp_path):
    import matplotlib.pyplot as plt

    from ldnsim.plot import plot_gof, plot_vpc
    from ldnsim.plot import plot_profile_likelihoods as plot_profiles
    check = predictive_check(oral_fit, n=50, seed=1)
    for axes in (plot_vpc(check), plot_gof(oral_fit), plot_profiles(oral_fit)):
        fig = axes[0].figure
        fig.savefig(tmp_path / "x.png")
        assert (tmp_path / "x.png").stat().st_size > 5000
        plt.close(fig)


# --------------------------------------------------------------------------- posterior
def test_short_posterior_warns_that_it_has_not_converged():
    with pytest.warns(FitWarning, match="posterior has not converged: R-hat"):
        ds = fit(ORAL, FIXTURE, {"ka": {"prior": ["lognormal", 0.7, 1.0]}, "CL": {}, "V": {}},
                 posterior={"walkers": 8, "steps": 40, "seed": 1})
    assert ds["posterior"].dims == ("chain", "draw", "parameter")
    assert ds["posterior"].shape == (8, 30, 4)
    assert ds["rhat"].shape == (4,) and np.all(ds["ess_bulk"].values < 400)
    draws = draw_parameters(ds, 5, seed=1)
    assert draws.attrs["source"] == "posterior"
    flat = ds["posterior"].values.reshape(-1, 4)[:, :3]
    assert all(any(np.allclose(d, row) for row in flat) for d in draws.values)


@pytest.mark.slow
def test_posterior_agrees_with_the_likelihood_fit():
    """Flat priors, plenty of data: the posterior median is near the MLE and its 95% interval
    about as wide as the Wald interval."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitWarning)  # R-hat is checked below, less strictly
        ds = fit(ORAL, FIXTURE, ["ka", "CL", "V"],
                 posterior={"walkers": 16, "steps": 1500, "burn": 500, "seed": 2})
    p = ds.sel(parameter=["ka", "CL", "V"])
    assert np.all(np.abs(np.log(p["posterior_median"] / p["estimate"])) < p["se_log"])
    ratio = np.log(p["posterior_upper"] / p["posterior_lower"]) / np.log(
        p["ci_upper"] / p["ci_lower"])
    assert np.all((ratio > 0.75) & (ratio < 1.35)), ratio.values
    assert np.all(ds["rhat"].values < 1.1)


def test_lower_layers_do_not_import_estimation():
    """Layer rule: nothing below the experiment level imports estimation or the data reader;
    ``import ldnsim`` and building the command-line parser stay free of them too."""
    import subprocess
    import sys
    code = ("import sys, ldnsim, ldnsim.model, ldnsim.dosing, ldnsim.simulation, "
            "ldnsim.results, ldnsim.metrics, ldnsim.population, ldnsim.sweep\n"
            "from ldnsim import cli; cli._parser()\n"
            "bad = [m for m in sys.modules if m.startswith('ldnsim.estimation.') and "
            "m != 'ldnsim.estimation.cli' or m == 'ldnsim.dataset']\n"
            "print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]"


def test_fit_simulates_only_the_states_the_observations_need():
    from ldnsim.estimation.reduce import reduced_model
    ldn = ldnsim.load_model("ldn")
    part = reduced_model(ldn, {"C_ntx", "C_6bn"}, {"gut"})
    # plasma naltrexone and 6BN depend on the gut and the central, peripheral and deep drug
    # compartments only (ldn.toml, second version): no urine, brain, receptor or immune state
    assert part.state_names == ("gut", "ntx_levo", "per_levo", "deep_levo", "ntx_dextro",
                                "per_dextro", "deep_dextro", "bn_levo", "bnp_levo", "bn_dextro",
                                "bnp_dextro")
    assert part.parameter_names == ldn.parameter_names  # same parameter vector layout
    assert reduced_model(ldn, {"occupancy_mor_drug"}, {"gut"}).states != ldn.states
    # exact: the reduced pkpd_indirect model (effect dropped) predicts what the full one does
    text = synthetic_dataset("pkpd_indirect", {1: [(0.0, 1000.0)], 2: [(0.0, 10000.0)]},
                             [1, 4, 12, 48], ["C_central"], seed=2)
    full = build_problem("pkpd_indirect", text, ["CL", "V2"], reduce=False)
    red = build_problem("pkpd_indirect", text, ["CL", "V2"])
    assert red.sim_model.state_names == ("depot", "central", "peripheral")
    assert full.sim_model is full.model
    theta = [[18.6, 40.2], [25.0, 30.0]]
    np.testing.assert_allclose(red.predict(theta)[0], full.predict(theta)[0], rtol=1e-6)
