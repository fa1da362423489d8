"""Residual error on simulated observations (ldnsim.observation and [observation])."""
import numpy as np
import pytest
import xarray as xr

from ldnsim.errors import ConfigError
from ldnsim.experiment import load_experiment, run_experiment
from ldnsim.observation import ResidualError, add_observations, residual_sd

N = 40_000  # draws: the sd of a sample sd is sd / sqrt(2 N) = 0.35% of it


def _result():
    rng = np.random.default_rng(0)
    f = rng.uniform(0.5, 50.0, size=(N // 20, 20))
    return xr.Dataset({"C": (("subject", "time"), f, {"units": "ng/mL", "long_name": "conc"})},
                      coords={"time": np.arange(20.0)})


@pytest.mark.parametrize("spec, standardise, expected", [
    (dict(additive=0.5), lambda y, f: y - f, 0.5),
    (dict(proportional=0.2), lambda y, f: (y - f) / f, 0.2),
    (dict(additive=0.5, proportional=0.1),
     lambda y, f: (y - f) / np.sqrt(0.5 ** 2 + (0.1 * f) ** 2), 1.0),
    (dict(exponential=0.3), lambda y, f: np.log(y / f), 0.3),
    (dict(model="lognormal", exponential=0.3), lambda y, f: np.log(y / f), 0.3),
])
def test_empirical_sd_matches_the_declared_one(spec, standardise, expected):
    ds = add_observations(_result(), [ResidualError("C", **spec)], seed=11)
    r = standardise(ds["C_obs"].values, ds["C"].values)
    assert abs(np.std(r) / expected - 1) < 0.02   # 5.7 sd of the sample sd
    assert abs(np.mean(r)) < 0.02 * expected
    assert ds["C_obs"].attrs["units"] == "ng/mL"
    assert ds.attrs["observation_seed"] == 11


def test_model_is_read_from_the_values_given():
    assert ResidualError("C", additive=1.0).model == "additive"
    assert ResidualError("C", additive=1.0, proportional=0.1).model == "combined"
    assert ResidualError("C", exponential=0.1).model == "exponential"
    assert ResidualError("C", model="lognormal", exponential=0.1).model == "exponential"


@pytest.mark.parametrize("spec, words", [
    (dict(), "give additive, proportional"),
    (dict(model="combined", additive=1.0), "needs additive and proportional"),
    (dict(exponential=0.1, additive=1.0), "additive does not go with a exponential"),
    (dict(proportional=-0.1), "must be a number >= 0"),
    (dict(model="poisson", additive=1.0), "model must be one of"),
])
def test_bad_error_models(spec, words):
    with pytest.raises(ConfigError, match=words):
        ResidualError("C", **spec)


def test_the_fit_uses_the_same_sd():
    from ldnsim.estimation.problem import ERROR_MODELS
    f = np.array([0.0, 1.0, 10.0])
    assert ERROR_MODELS == ("additive", "proportional", "combined")
    np.testing.assert_allclose(residual_sd("combined", f, 0.5, 0.1),
                               np.sqrt(0.25 + 0.01 * f ** 2))
    np.testing.assert_allclose(ResidualError("C", additive=0.5, proportional=0.1).sd(f),
                               residual_sd("combined", f, 0.5, 0.1))


def test_nan_rows_stay_nan_and_seeds_reproduce():
    ds = _result()
    ds["C"][0] = np.nan
    a = add_observations(ds, [ResidualError("C", additive=1.0)], seed=3)
    b = add_observations(ds, [ResidualError("C", additive=1.0)], seed=3)
    c = add_observations(ds, [ResidualError("C", additive=1.0)], seed=4)
    assert np.all(np.isnan(a["C_obs"][0]))
    np.testing.assert_array_equal(a["C_obs"].values, b["C_obs"].values)
    assert not np.array_equal(a["C_obs"].values[1:], c["C_obs"].values[1:])


# ------------------------------------------------------------------------------- experiments
def _cfg(observation, **extra):
    return {"model": {"name": "one_compartment_oral"}, "regimen": {"dose": 10.0},
            "output": {"t_end": 24.0, "step": 2.0, "variables": ["C_plasma"]},
            "population": {"subjects": 50, "seed": 1, "iiv": {"CL": 0.3}},
            "observation": observation, **extra}


def test_observation_section_in_an_experiment():
    cfg = _cfg({"seed": 5, "C_plasma": {"proportional": 0.1, "additive": 0.05}})
    ds = run_experiment(cfg)
    again = run_experiment(cfg)
    np.testing.assert_array_equal(ds["C_plasma_obs"].values, again["C_plasma_obs"].values)
    f, y = ds["C_plasma"].values[:, 1:], ds["C_plasma_obs"].values[:, 1:]
    r = (y - f) / np.sqrt(0.05 ** 2 + (0.1 * f) ** 2)
    assert abs(np.std(r) - 1) < 0.1          # 600 draws: sd of the sd 2.9%
    assert ds["C_plasma_obs"].attrs["residual_error"] == \
        "combined (additive 0.05, proportional 0.1)"
    assert ds.attrs["observation_seed"] == 5


def test_a_missing_observation_seed_is_drawn_and_recorded():
    exp = load_experiment(_cfg({"C_plasma": {"exponential": 0.2}}))
    assert isinstance(exp.seeds["observation"], int)
    assert "observation: C_plasma_obs exponential (exponential 0.2)" in exp.summary()


@pytest.mark.parametrize("observation, words", [
    ({"C": {"additive": 1.0}}, "[observation] C: 'C' is not a stored variable"),
    ({"C_plasma": {}}, "give additive, proportional"),
    ({"seed": 1}, "name at least one variable"),
    ({"C_plasma": {"additive": 1.0, "sd": 2}}, "sd"),
])
def test_observation_errors_name_the_key(observation, words):
    with pytest.raises(ConfigError) as err:
        load_experiment(_cfg(observation))
    assert words in str(err.value) and "\n" not in str(err.value)


def test_observation_needs_trajectories():
    cfg = _cfg({"C_plasma": {"additive": 1.0}},
               metrics={"names": ["nca"], "nca": {"var": "C_plasma"}})
    cfg["output"] = {"t_end": 24.0, "step": 2.0, "trajectories": False}
    with pytest.raises(ConfigError, match="output.trajectories = false keeps none"):
        load_experiment(cfg)
