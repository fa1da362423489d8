"""PEtab export: the petab package's linter accepts it, and the PEtab problem simulated by
libroadrunner from the exported SBML gives ldnsim's objective at the fitted values."""
import warnings

import numpy as np
import petab.v1 as petab
import pytest
import roadrunner

from ldnsim.dataset import read_dataset
from ldnsim.estimation import export_petab, fit, synthetic_dataset
from ldnsim.estimation.draws import estimate_x
from ldnsim.estimation.objective import Objective
from ldnsim.estimation.problem import build_problem

MODEL = "one_compartment_oral"
# petab 0.x reads its tables with pandas options pandas 3 deprecates: not ours to fix
pytestmark = pytest.mark.filterwarnings("ignore:The 'float_precision' argument",
                                        "ignore:The inplace keyword")


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """Oral doses, a repeated dose, an infusion (input events) and a subject under a scenario
    (a condition-specific parameter); one observation with an SD, the rest with the model's
    proportional error."""
    doses = {"a": [(0.0, 50.0)], "b": [(0.0, 100.0), (12.0, 100.0)],
             "c": [(0.0, 40.0, "central", 20.0)], "d": [(0.0, 80.0)]}
    text = synthetic_dataset(MODEL, doses, [0.5, 1, 2, 3, 6, 12.5, 16, 24], ["C_plasma"],
                             scenarios={"d": "slow_absorption"}, seed=3, sd=0.1)
    lines = text.splitlines()
    header = lines[0].split(",")
    cells = lines[3].split(",")
    cells[header.index("SD")] = "2.5"
    lines[3] = ",".join(cells)
    data = read_dataset("\n".join(lines) + "\n", MODEL)
    pb = build_problem(MODEL, data, ["CL", "V"], rtol=1e-10, atol=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = fit(MODEL, data, ["CL", "V"], rtol=1e-10, atol=1e-12)
    out = tmp_path_factory.mktemp("petab")
    return export_petab(pb, out, fit=ds), pb, ds


def test_petab_lint_passes(exported):
    yaml, _, _ = exported
    problem = petab.Problem.from_yaml(yaml)
    assert petab.lint_problem(problem) is False  # lint_problem returns True on errors
    assert set(problem.condition_df.index) == {f"subject_{k}" for k in range(4)}
    assert set(problem.observable_df.index) == {"obs_C_plasma", "obs_C_plasma_sd"}
    assert list(problem.parameter_df.index) == ["CL", "V", "sigma_prop_C_plasma"]
    assert problem.parameter_df.loc["CL", "parameterScale"] == "log10"
    # subject d's scenario sets ka: a condition-specific value
    assert problem.condition_df.loc["subject_3", "ka"] == 0.35
    assert problem.condition_df.loc["subject_0", "ka"] == 0.7


def test_petab_objective_matches_ldnsim(exported):
    yaml, pb, ds = exported
    problem = petab.Problem.from_yaml(yaml)
    rr = roadrunner.RoadRunner(str(yaml.parent / "model.xml"))
    rr.integrator.relative_tolerance = 1e-10
    rr.integrator.absolute_tolerance = 1e-12
    est = dict(zip(ds["parameter"].values.tolist(), ds["estimate"].values))
    obs = problem.observable_df
    neg2ll = 0.0
    for cid, meas in problem.measurement_df.groupby("simulationConditionId"):
        rr.resetAll()
        for key, value in problem.condition_df.loc[cid].items():
            if key != "conditionName":
                rr[key] = float(value)
        for name in ("CL", "V"):
            rr[name] = est[name]
        # libroadrunner does not fire an event whose trigger is already true at the start
        # time (SBML: initialValue = false means it should); start just before t = 0.
        times = np.unique(np.concatenate([[-1e-6], meas["time"].values]))
        res = rr.simulate(times=times, selections=["time", "C_plasma"])
        f = np.interp(meas["time"].values, res[:, 0], res[:, 1])
        for (_, row), fi in zip(meas.iterrows(), f):
            formula = obs.loc[row["observableId"], "noiseFormula"]
            noise = row["noiseParameters"]
            if formula.startswith("noiseParameter1_") and "*" not in formula:
                sd = float(noise)
            else:
                assert noise == "sigma_prop_C_plasma"
                sd = est["sigma_prop_C_plasma"] * abs(fi)
            neg2ll += np.log(2 * np.pi * sd * sd) + ((row["measurement"] - fi) / sd) ** 2
    assert neg2ll == pytest.approx(Objective(pb).value(estimate_x(ds)), rel=1e-6)
    assert neg2ll == pytest.approx(ds.attrs["objective"], rel=1e-6)


def test_summary_observations_are_left_out_with_a_warning(tmp_path):
    text = ("ID,TIME,EVID,AMT,DV,MDV,NAME,UNIT,STUDY,SOURCE,METHOD\n1,0,1,50,,1,,mg,s1,,\n"
            "1,2,0,,20,0,C_plasma,ng/mL,s1,Fig 1,digitised\n"
            "1,24,0,,25,0,Cmax(C_plasma),ng/mL,s1,Table 1,reported\n")
    pb = build_problem(MODEL, text, ["CL"])
    with pytest.warns(UserWarning, match="1 observation"):
        yaml = export_petab(pb, tmp_path)
    problem = petab.Problem.from_yaml(yaml)
    assert len(problem.measurement_df) == 1
    assert petab.lint_problem(problem) is False


def test_yaml_file_is_named_by_the_name_argument_or_the_model(exported, tmp_path):
    yaml, pb, _ = exported
    assert yaml.name == f"{pb.model.name}.yaml"
    assert export_petab(pb, tmp_path, name="trial") == tmp_path / "trial.yaml"
