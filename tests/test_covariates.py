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


# -------------------------------------------------------------------------- time-varying
def _one_compartment_bolus(population, t, keep=("central",)):
    from ldnsim.dosing import Dose
    from ldnsim.sweep import plan_sweep, run_plan
    plan = plan_sweep("one_compartment_oral", t, regimen=Dose(100.0, target="central"),
                      population=population, rtol=1e-10, atol=1e-12, keep=list(keep))
    return plan, run_plan(plan)


def test_clearance_doubling_at_T_matches_the_analytic_piecewise_solution():
    from ldnsim.population import TimeVaryingCovariate
    T = 10.0
    tv = TimeVaryingCovariate("CRCL", times=[0.0, T], values=[60.0, 120.0],
                              effects={"CL": 1.0}, reference=60.0, unit="mL/min")
    t = np.linspace(0.0, 30.0, 61)
    plan, ds = _one_compartment_bolus(Population(1, seed=1, time_varying=[tv]), t)
    k1 = 210.0 / 1350.0                      # CL / V of one_compartment_oral, 1/h
    k2 = 2.0 * k1
    exact = np.where(t < T, 100.0 * np.exp(-k1 * t),
                     100.0 * np.exp(-k1 * T) * np.exp(-k2 * (t - T)))
    np.testing.assert_allclose(ds["central"].values[0], exact, rtol=1e-8)
    # the parameter rows hold the start value, the change is one parameter event of +CL
    col = plan.model.parameter_names.index("CL")
    assert plan.P[0, col] == 210.0
    time, kind, index, amount = plan.events(0, 1)
    change = kind[0] == 1
    assert time[0][change].tolist() == [T] and amount[0][change].tolist() == [210.0]
    assert index[0][change].tolist() == [col]


def test_time_varying_factor_multiplies_each_subjects_own_parameter():
    from ldnsim.population import TimeVaryingCovariate
    tv = TimeVaryingCovariate("WT", times=[0.0, 5.0, 12.0], values=[70.0, 80.0, 60.0],
                              effects={"CL": 0.75}, reference=70.0)
    pop = Population(3, ["CL"], omega_from_iiv([0.3]), seed=4, time_varying=[tv])
    t = np.linspace(0.0, 24.0, 49)
    plan, ds = _one_compartment_bolus(pop, t)
    cl = plan.recipe.rows(0, 3, at_start=False)[:, 1]   # each subject's CL before WT
    time, kind, index, amount = plan.events(0, 3)
    for r in range(3):
        change = kind[r] == 1
        np.testing.assert_allclose(amount[r][change],
                                   cl[r] * np.diff([1.0, (80 / 70) ** 0.75, (60 / 70) ** 0.75]),
                                   rtol=1e-14)
    # each row solves its own piecewise problem: check subject 2 analytically
    k = cl[2] / 1350.0 * np.array([1.0, (80 / 70) ** 0.75, (60 / 70) ** 0.75])
    seg = np.searchsorted([5.0, 12.0], t, side="right")
    log_c = np.log(100.0) - np.concatenate([[0.0], np.cumsum(k[:2] * np.diff([0, 5, 12]))])[seg] \
        - k[seg] * (t - np.array([0.0, 5.0, 12.0])[seg])
    np.testing.assert_allclose(ds["central"].values[2], np.exp(log_c), rtol=1e-8)


def test_per_subject_schedules_and_set_a_parameter_directly():
    from ldnsim.population import TimeVaryingCovariate
    tv = TimeVaryingCovariate.from_rows("V", ids=[1, 1, 2, 2], times=[0, 6, 0, 3],
                                        values=[1000, 2000, 500, 500], sets="V")
    pop = Population(2, seed=1, time_varying=[tv])
    plan = _one_compartment_bolus(pop, np.linspace(0, 12, 25), keep=("C_plasma",))[0]
    vcol = plan.model.parameter_names.index("V")
    assert plan.P[:, vcol].tolist() == [1000.0, 500.0]
    time, kind, index, amount = plan.events(0, 2)
    assert amount[0][kind[0] == 1].tolist() == [1000.0]   # 1000 -> 2000 at t = 6
    assert not np.any((kind[1] == 1) & np.isfinite(time[1]))   # 500 -> 500: no event


@pytest.mark.parametrize("kw, words", [
    (dict(times=[0, 1], values=[1.0]), "equal length"),
    (dict(times=[1, 0], values=[1.0, 2.0]), "strictly increasing"),
    (dict(times=[0], values=[1.0]), "give effects"),
    (dict(times=[0], values=[1.0], effects={"CL": 1.0}), "give reference > 0"),
    (dict(times=[0], values=[0.0], effects={"CL": 1.0}, reference=1.0), "values > 0"),
])
def test_time_varying_errors(kw, words):
    from ldnsim.population import TimeVaryingCovariate
    with pytest.raises(ConfigError, match=words):
        TimeVaryingCovariate("X", **kw)


def test_per_subject_schedules_must_cover_the_population():
    from ldnsim.population import TimeVaryingCovariate
    tv = TimeVaryingCovariate.from_rows("V", ids=[1], times=[0], values=[1000], sets="V")
    with pytest.raises(ConfigError, match="schedules for 1 subjects, fewer than"):
        Population(2, seed=1, time_varying=[tv])


TV_EXPERIMENT = """
[model]
name = "one_compartment_oral"
[regimen]
dose = 100.0
target = "central"
[output]
t_end = 30.0
step = 0.5
variables = ["C_plasma"]
[solver]
rtol = 1e-10
atol = 1e-12
[population]
subjects = 2
seed = 1
[population.time_varying.CRCL]
{schedule}
effects = {{ CL = 1.0 }}
reference = 60.0
unit = "mL/min"
"""


def _exact_conc(t, T, ratio):
    k1 = 210.0 / 1350.0
    amount = np.where(t < T, 100.0 * np.exp(-k1 * t),
                      100.0 * np.exp(-k1 * T) * np.exp(-ratio * k1 * (t - T)))
    return 1000.0 * amount / 1350.0


def test_time_varying_covariate_in_an_experiment_shared_and_from_a_file(tmp_path):
    from ldnsim.experiment import run_experiment
    path = tmp_path / "exp.toml"
    path.write_text(TV_EXPERIMENT.format(schedule="times = [0.0, 10.0]\nvalues = [60.0, 120.0]"))
    ds = run_experiment(path)
    t = ds["time"].values
    for s in range(2):
        np.testing.assert_allclose(ds["C_plasma"].values[s], _exact_conc(t, 10.0, 2.0),
                                   rtol=1e-7)
    # per subject from a long-format table; rows out of order, "." is a missing value
    (tmp_path / "renal.csv").write_text("ID,TIME,CRCL\nA,0,60\nB,5,30\nB,0,60\nA,10,120\n"
                                        "B,20,.\n")
    path.write_text(TV_EXPERIMENT.format(schedule='file = "renal.csv"'))
    ds = run_experiment(path)
    np.testing.assert_allclose(ds["C_plasma"].values[0], _exact_conc(t, 10.0, 2.0), rtol=1e-7)
    np.testing.assert_allclose(ds["C_plasma"].values[1], _exact_conc(t, 5.0, 0.5), rtol=1e-7)
    from ldnsim.results import provenance
    tv = provenance(ds)["population"]["time_varying"]
    assert tv == [{"name": "CRCL", "effects": {"CL": 1.0}, "reference": 60.0, "sets": None,
                   "unit": "mL/min", "per_subject": True}]


@pytest.mark.parametrize("schedule, words", [
    ("times = [0.0, 10.0]", "give times and values"),
    ('file = "none.csv"', "[population] time_varying.CRCL: file: cannot read"),
    ('file = "renal.csv"\ncolumn = "GFR"', "no column 'GFR'; columns: ID, TIME, CRCL"),
    ("times = [0.0, 10.0]\nvalues = [60.0, 120.0]\nsets = \"Vx\"", "'Vx' is not in model"),
])
def test_time_varying_errors_in_experiments_name_file_and_key(tmp_path, schedule, words):
    from ldnsim.experiment import load_experiment
    (tmp_path / "renal.csv").write_text("ID,TIME,CRCL\nA,0,60\nB,0,60\n")
    path = tmp_path / "exp.toml"
    path.write_text(TV_EXPERIMENT.format(schedule=schedule))
    with pytest.raises(ConfigError) as err:
        load_experiment(path)
    msg = str(err.value)
    assert str(path) in msg and words in msg and "\n" not in msg


def test_a_time_varying_covariate_can_set_an_input():
    # an input set to 6 mg/h from t = 2 to t = 5 is a zero-order infusion of 18 mg
    from ldnsim.population import TimeVaryingCovariate
    from ldnsim.sweep import plan_sweep, run_plan
    tv = TimeVaryingCovariate("R", times=[0.0, 2.0, 5.0], values=[0.0, 6.0, 0.0],
                              sets="infusion")
    t = np.linspace(0.0, 8.0, 33)
    plan = plan_sweep("one_compartment_oral", t, population=Population(1, seed=1,
                                                                        time_varying=[tv]),
                      params={"CL": 1e-12}, rtol=1e-10, atol=1e-12, keep=["central"])
    central = run_plan(plan)["central"].values[0]
    expected = np.clip(6.0 * (np.minimum(t, 5.0) - 2.0), 0.0, None)
    np.testing.assert_allclose(central, expected, atol=1e-8)
