"""Dosing records in experiment files: [[regimen]] entries, named regimens and dose times as
sweep axes, missed doses, NONMEM-style dosing event tables, and lag/bioavailability as model
parameters."""
import textwrap
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ldnsim import simulate
from ldnsim.dataset import DataError, read_dosing_table
from ldnsim.dosing import Dose, Regimen
from ldnsim.errors import ConfigError
from ldnsim.experiment import load_experiment, run_experiment
from ldnsim.model import load_model

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = '[output]\nt_end = 96.0\nstep = 4.0\n'


def _exp(tmp_path, text, name="exp.toml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_loading_then_maintenance_equals_the_python_regimen(tmp_path):
    path = _exp(tmp_path, """
        [model]
        name = "one_compartment_oral"
        [[regimen]]
        dose = 100.0
        [[regimen]]
        dose = 50.0
        start = 24.0
        every = 24.0
        count = 3
        missed = [2]
        """ + OUTPUT)
    ds = run_experiment(path)
    ref = simulate("one_compartment_oral", np.arange(0, 96.1, 4.0), regimen=Regimen(
        [Dose(100.0), Dose(50.0, time=24.0, every=24.0, count=3, missed=(2,))]))
    np.testing.assert_array_equal(ds["C_plasma"].values, ref["C_plasma"].values)


def test_named_regimens_and_dose_time_are_sweep_axes(tmp_path):
    path = _exp(tmp_path, """
        [model]
        name = "one_compartment_oral"
        [[regimen]]
        name = "morning"
        dose = 4.5
        start = 8.0
        every = 24.0
        count = 3
        [[regimen]]
        name = "evening"
        dose = 4.5
        start = 20.0
        every = 24.0
        count = 3
        [sweep]
        regimen = ["morning", "evening"]
        dose_time = [8.0, 20.0]
        """ + OUTPUT)
    ds = run_experiment(path)
    assert ds["C_plasma"].dims == ("regimen", "dose_time", "time")
    assert list(ds["regimen"].values) == ["morning", "evening"]
    c = ds["C_plasma"].values
    # the dose_time axis moves each regimen's first dose: both regimens at 20 h are the same
    np.testing.assert_array_equal(c[0, 1], c[1, 1])
    np.testing.assert_array_equal(c[0, 0], c[1, 0])
    assert c[0, 0, 3] > 0 and c[0, 1, 3] == 0.0  # 12 h: after a dose at 8 h, before one at 20
    ref = simulate("one_compartment_oral", np.arange(0, 96.1, 4.0),
                   regimen=Dose(4.5, time=20.0, every=24.0, count=3))
    np.testing.assert_array_equal(c[1, 1], ref["C_plasma"].values)


def test_named_regimens_need_the_axis(tmp_path):
    path = _exp(tmp_path, """
        [model]
        name = "one_compartment_oral"
        [[regimen]]
        name = "a"
        dose = 1.0
        """ + OUTPUT)
    with pytest.raises(ConfigError, match=r"entries are named \(a\): list the ones to run"):
        load_experiment(path)


def test_random_missed_doses_follow_the_subjects_seed(tmp_path):
    text = """
        [model]
        name = "one_compartment_oral"
        [[regimen]]
        dose = 10.0
        every = 24.0
        count = 40
        missed = 0.25
        [output]
        t_end = 960.0
        step = 24.0
        [population]
        subjects = 20
        seed = 7
        """
    a = load_experiment(_exp(tmp_path, text))
    b = load_experiment(_exp(tmp_path, text, "b.toml"))
    tables_a = [a.plan.tables[i] for i in a.plan.table_index]
    tables_b = [b.plan.tables[i] for i in b.plan.table_index]
    assert all(x == y for x, y in zip(tables_a, tables_b))
    given_doses = np.array([len(t) for t in tables_a])
    assert len(set(given_doses.tolist())) > 1  # subjects differ
    assert 0.6 < given_doses.mean() / 40 < 0.9  # about 75 % taken


def test_missed_fraction_needs_a_population(tmp_path):
    path = _exp(tmp_path, """
        [model]
        name = "one_compartment_oral"
        [regimen]
        dose = 10.0
        every = 24.0
        count = 4
        missed = 0.5
        """ + OUTPUT)
    with pytest.raises(ConfigError, match="drawn per subject: add a \\[population\\]"):
        load_experiment(path)


# ------------------------------------------------------------------ dosing event tables
TABLE = """\
# loading dose then steady state for ID 1; ID 2: 8 doses every 12 h into state 1
ID,TIME,AMT,EVID,CMT,RATE,II,ADDL,SS
1,0,50,1,gut,0,24,3,1
2,0,25,1,1,0,12,7,0
2,96,0,0,,,,,
3,0,100,1,central,50,,,
"""


def test_event_table_gives_each_subject_its_dosing(tmp_path):
    (tmp_path / "doses.csv").write_text(TABLE)
    path = _exp(tmp_path, """
        [model]
        name = "one_compartment_oral"
        [[regimen]]
        table = "doses.csv"
        """ + OUTPUT)
    ds = run_experiment(path)
    assert list(ds["id"].values) == ["1", "2", "3"]
    t = np.arange(0, 96.1, 4.0)
    refs = [simulate("one_compartment_oral", t, regimen=r) for r in (
        Regimen([Dose(25.0, every=12.0, count=8)]),
        Regimen([Dose(100.0, target="central", duration=2.0)]))]
    np.testing.assert_array_equal(ds["C_plasma"].values[1], refs[0]["C_plasma"].values)
    np.testing.assert_array_equal(ds["C_plasma"].values[2], refs[1]["C_plasma"].values)
    c1 = ds["C_plasma"].values[0]
    np.testing.assert_allclose(c1[6:12], c1[0:6], rtol=1e-5)  # at steady state from t = 0
    assert c1[0] > 1.0


@pytest.mark.parametrize("line, message", [
    ("1,0,-5,1,gut,0,,,", "row 3 (ID 1), column AMT: dose amount must be >= 0"),
    ("1,0,5,1,7,0,,,", "row 3 (ID 1), column CMT: compartment 7 does not exist"),
    ("1,0,5,1,liver,0,,,", "row 3 (ID 1), column CMT: dose 0"),
    ("1,0,5,1,gut,0,0,,1", "row 3 (ID 1), column II: a steady-state dose (SS = 1) needs"),
    ("1,0,5,2,gut,0,,,", "row 3 (ID 1), column EVID: expected one of 0, 1, got 2"),
])
def test_event_table_errors_name_file_row_and_column(tmp_path, line, message):
    path = tmp_path / "bad.csv"
    path.write_text("# note\nID,TIME,AMT,EVID,CMT,RATE,II,ADDL,SS\n" + line + "\n")
    with pytest.raises(DataError) as err:
        read_dosing_table(path, load_model("one_compartment_oral"))
    assert str(err.value).startswith(f"{path}: ")
    assert message in str(err.value)


def test_event_table_error_is_a_config_error_at_its_key(tmp_path):
    (tmp_path / "doses.csv").write_text("ID,TIME\n1,0\n")
    path = _exp(tmp_path, """
        [model]
        name = "one_compartment_oral"
        [[regimen]]
        table = "doses.csv"
        """ + OUTPUT)
    with pytest.raises(ConfigError, match=r"\[regimen\] \[0\]\.table: .*doses.csv: row 1, "
                                          r"column AMT: missing required column AMT"):
        load_experiment(path)


# -------------------------------------------- lag and bioavailability as model parameters
MODEL = (ROOT / "models" / "one_compartment_oral.toml").read_text().replace(
    'V = { value = 1350.0, unit = "L", source = "label", evidence = "measured" }',
    'V = { value = 1350.0, unit = "L", source = "label", evidence = "measured" }\n'
    'F_oral = { value = 0.5, unit = "1", source = "test", evidence = "assumed" }\n'
    'tlag = { value = 1.0, unit = "h", source = "test", evidence = "assumed" }')


@pytest.fixture
def fmodel(tmp_path):
    (tmp_path / "one_compartment_oral.toml").write_text(MODEL)
    return tmp_path


def test_bioavailability_and_lag_from_parameters_follow_sweeps(fmodel):
    path = _exp(fmodel, """
        [model]
        name = "one_compartment_oral.toml"
        [regimen]
        dose = 10.0
        bioavailability = "F_oral"
        lag = "tlag"
        [sweep]
        F_oral = [0.25, 1.0]
        tlag = [0.0, 2.0]
        """ + OUTPUT)
    ds = run_experiment(path)
    t = np.arange(0, 96.1, 4.0)
    for i, f in enumerate((0.25, 1.0)):
        for j, lag in enumerate((0.0, 2.0)):
            ref = simulate(load_model(fmodel / "one_compartment_oral.toml"), t,
                           params={"F_oral": f, "tlag": lag},
                           regimen=Dose(10.0, bioavailability=f, lag=lag))
            np.testing.assert_array_equal(ds["C_plasma"].values[i, j], ref["C_plasma"].values)


def test_bioavailability_parameter_takes_population_variability(fmodel):
    path = _exp(fmodel, """
        [model]
        name = "one_compartment_oral.toml"
        params = { F_oral = 0.3 }
        [regimen]
        dose = 10.0
        bioavailability = "F_oral"
        [population]
        subjects = 5
        seed = 3
        iiv = { F_oral = 0.2 }
        """ + OUTPUT)
    ds = run_experiment(path)
    auc = np.trapezoid(ds["C_plasma"].values, ds["time"].values, axis=-1)
    f = 0.3 * np.exp(ds["eta_F_oral"].values)
    np.testing.assert_allclose(auc / f, (auc / f)[0], rtol=1e-3)  # exposure follows F


def test_parameter_bioavailability_out_of_range_is_a_config_error(fmodel):
    path = _exp(fmodel, """
        [model]
        name = "one_compartment_oral.toml"
        [regimen]
        dose = 10.0
        bioavailability = "F_oral"
        [sweep]
        F_oral = [0.5, 1.5]
        """ + OUTPUT)
    with pytest.raises(ConfigError, match=r"parameter 'F_oral' is the bioavailability of a "
                                          r"dose and must be in \(0, 1\], but it is 1.5"):
        load_experiment(path)


def test_unknown_parameter_name_for_lag(fmodel):
    path = _exp(fmodel, """
        [model]
        name = "one_compartment_oral.toml"
        [regimen]
        dose = 10.0
        lag = "t_lag"
        """ + OUTPUT)
    with pytest.raises(ConfigError, match=r"\[regimen\]: .*lag names parameter 't_lag', which "
                                          "the model does not have"):
        load_experiment(path)


def test_ss_in_an_experiment(tmp_path):
    path = _exp(tmp_path, """
        [model]
        name = "one_compartment_oral"
        params = { CL = 20.0 }
        [regimen]
        dose = 50.0
        every = 24.0
        count = 4
        ss = true
        [sweep]
        dose = [10.0, 50.0]
        [metrics]
        names = ["steady_state_nca"]
        [metrics.steady_state_nca]
        var = "C_plasma"
        tau = 24.0
        [output]
        t_end = 96.0
        step = 0.25
        """)
    ds = run_experiment(path)
    acc = ds["metric_accumulation"].values
    np.testing.assert_allclose(acc, 1.0, rtol=1e-3)  # already at steady state
    auc = ds["metric_AUCtau"].values
    np.testing.assert_allclose(auc, 1000 * np.array([10.0, 50.0]) / 20.0, rtol=2e-3)


# --------------------------------------------------------------- property-based parsing
_entry = st.fixed_dictionaries({
    "dose": st.floats(0, 1e3, allow_nan=False),
    "start": st.floats(0, 100, allow_nan=False),
}, optional={
    "every": st.floats(1, 48, allow_nan=False),
    "count": st.integers(1, 5),
    "missed": st.lists(st.integers(1, 5), max_size=3, unique=True),
    "lag": st.floats(0, 0.5, allow_nan=False),
    "bioavailability": st.floats(0.01, 1.0),
    "ss": st.booleans(),
})


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_entry, min_size=1, max_size=4))
def test_regimen_entries_parse_to_the_python_regimen_or_a_config_error(entries):
    raw = {"model": {"name": "one_compartment_oral"}, "regimen": entries,
           "output": {"t_end": 200.0}}
    try:
        expected = Regimen(tuple(Dose(
            e["dose"], time=e["start"], every=e.get("every"), count=e.get("count", 1),
            missed=tuple(e.get("missed", ())), lag=e.get("lag", 0.0),
            bioavailability=e.get("bioavailability", 1.0), ss=e.get("ss", False))
            for e in entries))
    except Exception as exc:  # the Python API refuses it: the file must be refused too
        with pytest.raises(ConfigError) as err:
            load_experiment(raw)
        assert "[regimen]" in str(err.value), (exc, err.value)
        return
    if any(e.get("ss") for e in entries):
        return  # valid, but resolving solves nothing here; the steady state is tested above
    exp = load_experiment(raw)
    (table,) = exp.plan.tables
    assert table == expected.expand(exp.model)


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.sampled_from(["dose", "every", "count", "missed", "ss", "lag",
                                        "bioavailability", "name", "table", "start"]),
                       st.one_of(st.integers(-3, 3), st.floats(-2, 2), st.text(max_size=4),
                                 st.booleans(), st.lists(st.integers(-1, 4), max_size=3)),
                       max_size=5))
def test_bad_regimen_entries_are_one_line_config_errors(entry):
    raw = {"model": {"name": "one_compartment_oral"}, "regimen": [entry],
           "output": {"t_end": 200.0}}
    try:
        load_experiment(raw)
    except ConfigError as exc:
        assert "\n" not in str(exc)
