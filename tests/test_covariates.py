"""Categorical and time-varying covariates (ldnsim.population), in Python and experiment files."""
import numpy as np
import pytest

from ldnsim.errors import ConfigError
from ldnsim.experiment import load_experiment
from ldnsim.population import Covariate, Population, omega_from_iiv

SEX = dict(name="SEX", distribution="categorical", levels=["F", "M"],
           probabilities=[0.3, 0.7], effects={"CL": {"F": 0.8}, "V": {"M": 1.25}})


# ----------------------------------------------------------------------------- categorical
def test_categorical_levels_come_with_their_probabilities():
    pop = Population(20_000, seed=5, covariates=[Covariate(**SEX)])
    _, cov = pop.draw()
    frac_f = float(np.mean(cov["SEX"] == 0))
    # binomial sd of the fraction: sqrt(0.3 * 0.7 / 20000) = 0.0032; 4 sd
    assert abs(frac_f - 0.3) < 0.013
    assert set(np.unique(cov["SEX"])) == {0.0, 1.0}
    labels = pop.covariates[0].labels(cov["SEX"])
    assert labels.dtype.kind == "U" and set(labels) == {"F", "M"}


def test_categorical_factor_per_level_multiplies_the_parameter():
    pop = Population(500, ["CL"], omega_from_iiv([0.3]), seed=2, covariates=[Covariate(**SEX)])
    etas, cov = pop.draw()
    f = pop.factors(["ka", "CL", "V"], draws=(etas, cov))
    female = cov["SEX"] == 0
    # CL: exp(eta) times 0.8 for F and 1.0 for M, exactly; V: 1.25 for M only; ka untouched
    np.testing.assert_allclose(f[:, 1], np.exp(etas[:, 0]) * np.where(female, 0.8, 1.0),
                               rtol=1e-15)
    np.testing.assert_array_equal(f[:, 2], np.where(female, 1.0, 1.25))
    np.testing.assert_array_equal(f[:, 0], 1.0)


def test_categorical_draws_do_not_depend_on_the_population_size():
    a = Population(10, seed=9, covariates=[Covariate(**SEX)]).draw()[1]["SEX"]
    b = Population(25, seed=9, covariates=[Covariate(**SEX)]).draw()[1]["SEX"]
    np.testing.assert_array_equal(a, b[:10])


def test_equal_probabilities_by_default_and_a_zero_probability_level_never_drawn():
    c = Covariate("G", distribution="categorical", levels=["a", "b", "c", "d"])
    assert c.probabilities == (0.25, 0.25, 0.25, 0.25)
    z = Covariate("G", distribution="categorical", levels=["a", "b", "c"],
                  probabilities=[0.5, 0.0, 0.5])
    _, cov = Population(2000, seed=1, covariates=[z]).draw()
    assert not np.any(cov["G"] == 1)


@pytest.mark.parametrize("change, words", [
    (dict(probabilities=[0.3, 0.6]), "must sum to 1"),
    (dict(probabilities=[0.3]), "1 probabilities for 2 levels"),
    (dict(levels=["F", "F"], probabilities=[0.5, 0.5]), "listed twice"),
    (dict(levels=[]), "needs levels"),
    (dict(effects={"CL": 0.75}), "a table of factors per level"),
    (dict(effects={"CL": {"X": 0.8}}), "unknown level 'X'"),
    (dict(effects={"CL": {"F": 0.0}}), "must be a factor > 0"),
    (dict(median=70.0), "median does not apply"),
])
def test_categorical_errors(change, words):
    with pytest.raises(ConfigError, match=words):
        Covariate(**{**SEX, **change})


def test_levels_only_with_categorical():
    with pytest.raises(ConfigError, match="levels and probabilities go with"):
        Covariate("WT", median=70.0, cv=0.2, levels=("a",))


# ---------------------------------------------------------------------- experiment files
def _experiment(covariates, subjects=400):
    return {
        "experiment": {"name": "cov"},
        "model": {"name": "one_compartment_oral"},
        "regimen": {"dose": 10.0},
        "output": {"t_end": 24.0, "step": 1.0, "variables": ["C_plasma"]},
        "population": {"subjects": subjects, "seed": 3, "covariates": covariates},
    }


def test_categorical_covariate_in_an_experiment_labels_subjects_and_scales_parameters():
    exp = load_experiment(_experiment({"SEX": {
        "distribution": "categorical", "levels": ["F", "M"], "probabilities": [0.5, 0.5],
        "effects": {"CL": {"F": 0.5}}}}))
    plan = exp.plan
    dim, labels, attrs = plan.coords["SEX"]
    assert dim == "subject" and set(labels) == {"F", "M"} and attrs["levels"] == "F, M"
    cl = plan.P[:, exp.model.parameter_names.index("CL")]
    typical = exp.model.parameters[exp.model.parameter_names.index("CL")].value
    np.testing.assert_allclose(cl, np.where(labels == "F", 0.5, 1.0) * typical, rtol=1e-15)


FILE_EXPERIMENT = """
[model]
name = "one_compartment_oral"
[regimen]
dose = 10.0
[output]
t_end = 24.0
step = 1.0
[population]
subjects = {subjects}
seed = 3
[population.covariates.SEX]
distribution = "categorical"
file = "{file}"
column = "{column}"
effects = {{ CL = {{ F = 0.8 }} }}
"""


def test_categorical_covariate_from_a_data_file_column(tmp_path):
    rows = ["ID,SEX,WT"] + [f"{i},{'F' if i < 25 else 'M'},70" for i in range(100)]
    (tmp_path / "subjects.csv").write_text("\n".join(rows) + "\n")
    path = tmp_path / "exp.toml"
    path.write_text(FILE_EXPERIMENT.format(subjects=4000, column="SEX", file="subjects.csv"))
    exp = load_experiment(path)
    labels = exp.plan.coords["SEX"][1]
    # levels and probabilities from the file: 25% F; binomial sd 0.0068 at 4000 subjects
    assert abs(np.mean(labels == "F") - 0.25) < 0.03


def test_data_file_errors_name_the_key(tmp_path):
    (tmp_path / "s.csv").write_text("ID,SEX\n1,F\n")
    path = tmp_path / "exp.toml"
    path.write_text(FILE_EXPERIMENT.format(subjects=10, column="GENDER", file="s.csv"))
    with pytest.raises(ConfigError) as err:
        load_experiment(path)
    msg = str(err.value)
    assert "exp.toml" in msg and "[population] covariates.SEX" in msg
    assert "no column 'GENDER'; columns: ID, SEX" in msg
    path.write_text(FILE_EXPERIMENT.format(subjects=10, column="SEX", file="missing.csv"))
    with pytest.raises(ConfigError, match="cannot read"):
        load_experiment(path)
    with pytest.raises(ConfigError, match="file and column go together"):
        load_experiment(_experiment({"SEX": {"distribution": "categorical", "file": "s.csv"}}))
