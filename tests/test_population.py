"""Virtual populations: per-subject random streams, log-normal IIV, covariates."""

import numpy as np
import pytest

from ldnsim.errors import ConfigError
from ldnsim.population import (
    Covariate,
    Population,
    draw_etas,
    omega_from_iiv,
    subject_rng,
    subject_streams,
)

OMEGA = omega_from_iiv([0.3, 0.2, 0.5], "cv", [[1.0, 0.4, 0.0], [0.4, 1.0, 0.0],
                                                [0.0, 0.0, 1.0]])


def test_subject_i_is_the_same_whatever_the_population_size():
    small = draw_etas(10, OMEGA, seed=7)
    large = draw_etas(20, OMEGA, seed=7)
    assert np.array_equal(small, large[:10])  # bitwise: no BLAS reduction over subjects


def test_subject_stream_is_the_spawned_child():
    children = subject_streams(3, 5)
    for i in (0, 4):
        a = np.random.default_rng(children[i]).standard_normal(4)
        b = subject_rng(3, i).standard_normal(4)
        assert np.array_equal(a, b)


def test_seeds_reproduce_and_differ():
    assert np.array_equal(draw_etas(50, OMEGA, 1), draw_etas(50, OMEGA, 1))
    assert not np.allclose(draw_etas(50, OMEGA, 1), draw_etas(50, OMEGA, 2))


def test_population_with_covariates_is_prefix_stable():
    wt = Covariate("WT", "lognormal", median=70.0, cv=0.2, unit="kg", effects={"CL": 0.75})
    a = Population(8, ["CL", "V"], OMEGA[:2, :2], seed=11, covariates=[wt])
    b = Population(16, ["CL", "V"], OMEGA[:2, :2], seed=11, covariates=[wt])
    fa, fb = a.factors(["ka", "CL", "V"]), b.factors(["ka", "CL", "V"])
    assert np.array_equal(fa, fb[:8])
    assert np.all(fa[:, 0] == 1.0)  # no variability on ka: exactly 1, so P stays bitwise equal


def test_cv_scale_gives_the_lognormal_variance():
    omega = omega_from_iiv([0.3], "cv")
    assert omega[0, 0] == pytest.approx(np.log1p(0.09))
    assert omega_from_iiv([0.3], "sd")[0, 0] == pytest.approx(0.09)
    assert omega_from_iiv([0.09], "variance")[0, 0] == pytest.approx(0.09)


def test_draws_have_the_requested_covariance():
    eta = draw_etas(20_000, OMEGA, seed=5)
    cov = np.cov(eta, rowvar=False)
    assert np.allclose(cov, OMEGA, atol=0.01)
    assert abs(eta.mean(axis=0)).max() < 0.02


def test_factors_are_exp_eta_times_covariate_power():
    wt = Covariate("WT", "uniform", lower=50.0, upper=90.0, effects={"CL": 0.75})
    pop = Population(30, ["CL"], [[0.09]], seed=3, covariates=[wt])
    etas, cov = pop.draw()
    f = pop.factors(["CL", "V"])
    expected = np.exp(etas[:, 0]) * (cov["WT"] / 70.0) ** 0.75
    assert np.allclose(f[:, 0], expected, rtol=1e-14)
    assert np.all(f[:, 1] == 1.0)
    assert cov["WT"].min() >= 50.0 and cov["WT"].max() <= 90.0


def test_truncated_normal_covariate_stays_in_bounds():
    age = Covariate("AGE", "normal", mean=40.0, sd=30.0, lower=18.0, upper=80.0,
                    effects={"CL": -0.2})
    _, cov = Population(500, [], None, seed=1, covariates=[age]).draw()
    assert cov["AGE"].min() >= 18.0 and cov["AGE"].max() <= 80.0


def test_missing_seed_is_drawn_and_recorded():
    pop = Population(4, ["CL"], [[0.1]])
    assert isinstance(pop.seed, int)
    again = Population(4, ["CL"], [[0.1]], seed=pop.seed)
    assert np.array_equal(pop.draw()[0], again.draw()[0])


@pytest.mark.parametrize("omega, match", [
    ([[0.1, 0.2], [0.2, 0.1]], "positive semidefinite"),
    ([[0.1, 0.0], [0.05, 0.1]], "symmetric"),
    ([[0.1]], "2 x 2"),
])
def test_bad_omega_is_a_config_error(omega, match):
    with pytest.raises(ConfigError, match=match):
        Population(3, ["CL", "V"], omega, seed=1)


def test_perfect_correlation_is_accepted():
    eta = draw_etas(10, omega_from_iiv([0.3, 0.3], "cv", [[1, 1], [1, 1]]), seed=1)
    assert np.allclose(eta[:, 0], eta[:, 1])


@pytest.mark.parametrize("kwargs, match", [
    (dict(distribution="gamma"), "distribution"),
    (dict(distribution="lognormal", median=70.0), "cv"),
    (dict(distribution="normal", mean=1.0, sd=1.0, effects={"CL": 1.0}), "positive"),
])
def test_bad_covariates(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        Covariate("X", **kwargs)


def test_unknown_parameter_in_factors():
    pop = Population(2, ["CLX"], [[0.1]], seed=1)
    with pytest.raises(ConfigError, match="CLX"):
        pop.factors(["CL", "V"])


@pytest.mark.parametrize("bad", [-1, 1.5, True, "1"])
def test_bad_seed(bad):
    with pytest.raises(ConfigError, match="seed"):
        draw_etas(2, [[0.1]], bad)
