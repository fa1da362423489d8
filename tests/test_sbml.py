"""SBML export: libSBML's consistency check, and libroadrunner reproduces ldnsim's trajectory."""
# Both come with the test extra (pip install -e ".[test]"): a missing one is an error, not a skip.
import libsbml
import numpy as np
import pytest
import roadrunner

import ldnsim
from ldnsim.model import list_models
from ldnsim.model.sbml import export_sbml, to_sbml_string

SMALL_MODELS = ["one_compartment_oral", "pkpd_indirect", "two_compartment_iv"]


@pytest.mark.parametrize("name", sorted(list_models()))
def test_every_shipped_model_exports_consistent_sbml(name, tmp_path):
    path = export_sbml(ldnsim.load_model(name), tmp_path / f"{name}.xml")
    doc = libsbml.readSBMLFromFile(str(path))
    assert doc.checkConsistency() == 0 or all(
        doc.getError(i).getSeverity() < libsbml.LIBSBML_SEV_ERROR
        for i in range(doc.getNumErrors()))
    model = ldnsim.load_model(name)
    assert doc.getModel().getNumRules() == (len(model.states) + len(model.definitions)
                                            + len(model.outputs))


@pytest.mark.parametrize("name", SMALL_MODELS)
def test_roadrunner_matches_ldnsim(name, tmp_path):
    model = ldnsim.load_model(name)
    path = export_sbml(model, tmp_path / f"{name}.xml")
    rr = roadrunner.RoadRunner(str(path))
    rr.integrator.relative_tolerance = 1e-10
    rr.integrator.absolute_tolerance = 1e-12
    y0 = {s: (50.0 if i == 0 else 0.0) for i, s in enumerate(model.state_names)}
    for k, v in y0.items():
        rr[k] = v
    names = list(model.state_names) + list(model.output_names)
    t = np.linspace(0.0, 48.0, 97)
    res = rr.simulate(0.0, 48.0, 97, selections=["time"] + names)
    ds = ldnsim.simulate(model, t, y0=y0, rtol=1e-10, atol=1e-12)
    for v in names:
        scale = np.max(np.abs(ds[v].values))
        np.testing.assert_allclose(res[v], ds[v].values, rtol=1e-5, atol=1e-7 * scale, err_msg=v)


def test_scenarios_and_params_reach_the_export():
    model = ldnsim.load_model("one_compartment_oral")
    text = to_sbml_string(model, params={"CL": 123.0}, scenarios=("slow_absorption",))
    m = libsbml.readSBMLFromString(text).getModel()
    assert m.getParameter("CL").getValue() == 123.0
    assert m.getParameter("ka").getValue() == pytest.approx(0.35)


def test_where_and_log_survive_the_round_trip(tmp_path):
    model = ldnsim.model.loads_model("""
[model]
name = "funcs"
description = "functions"
time_unit = "h"
dose_target = "x"
check_units = false  # 0.1 * hill(...) is a rate written as a bare number
[states]
x = { init = 2.0, unit = "1" }
[parameters]
k = { value = 0.5, unit = "1/h", source = "test", evidence = "assumed" }
[odes]
x = "where(t < 1, -k * x, -k * log(x + 1) / 2) + 0.1 * hill(x, 1, 2)"
""")
    path = export_sbml(model, tmp_path / "f.xml")
    rr = roadrunner.RoadRunner(str(path))
    rr.integrator.relative_tolerance = 1e-10
    rr.integrator.absolute_tolerance = 1e-12
    res = rr.simulate(0.0, 3.0, 31, selections=["time", "x"])
    ds = ldnsim.simulate(model, np.linspace(0, 3, 31), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(res["x"], ds["x"].values, rtol=1e-5)


RESERVED_NAMES_MODEL = """
[model]
name = "reserved_names"
description = "names SBML's infix grammar or MathML reserve"
time_unit = "h"
dose_target = "Time"
[states]
Time = { init = 10.0, unit = "mg" }  # "time" itself is the result's coordinate
true = { init = 0.0, unit = "mg" }
[inputs]
inf = { unit = "mg/h", target = "Time", description = "infusion named inf" }
[parameters]
e = { value = 0.3, unit = "1/h", source = "test", evidence = "assumed" }
avogadro = { value = 0.1, unit = "1/h", source = "test", evidence = "assumed" }
INF = { value = 2.0, unit = "L", source = "test", evidence = "assumed" }
ceil = { value = 0.05, unit = "1/h", source = "test", evidence = "assumed" }
e_ = { value = 1.0, unit = "1", source = "test", evidence = "assumed" }
[definitions]
false = "Time / INF"
[odes]
Time = "inf - e * Time"
true = "e_ * avogadro * Time - ceil * true"
[outputs]
NaN = { expr = "false * 1000", unit = "ng/mL", description = "concentration" }
"""


def test_names_that_sbml_reserves_are_escaped_and_simulate_alike(tmp_path):
    from ldnsim.model.sbml import sbml_ids

    model = ldnsim.model.loads_model(RESERVED_NAMES_MODEL)
    path = export_sbml(model, tmp_path / "reserved.xml", params={"INF": 2.5})
    m = libsbml.readSBMLFromFile(str(path)).getModel()
    ids = sbml_ids([*model.parameter_names, *model.input_names, *model.state_names, "false",
                    "NaN"])
    assert ids["inf"] == "inf_" and ids["INF"] == "INF_" and ids["Time"] == "Time_"
    assert ids["e"] == "e__" and ids["e_"] == "e_"  # e_ is the model's own name: not taken
    assert m.getParameter("inf_").getValue() == 0.0 and m.getParameter("INF_").getValue() == 2.5
    assert m.getParameter("inf_").getName().startswith("inf")
    assert "<infinity/>" not in path.read_text() and "exponentiale" not in path.read_text()
    rr = roadrunner.RoadRunner(str(path))
    rr.integrator.relative_tolerance = 1e-10
    rr.integrator.absolute_tolerance = 1e-12
    t = np.linspace(0.0, 24.0, 49)
    res = rr.simulate(0.0, 24.0, 49, selections=["time", "Time_", "true_", "NaN_"])
    ds = ldnsim.simulate(model, t, params={"INF": 2.5}, rtol=1e-10, atol=1e-12)
    for name in ("Time", "true", "NaN"):
        assert np.max(ds[name].values) > 0.1  # something happens
        np.testing.assert_allclose(res[ids[name]], ds[name].values, rtol=1e-6,
                                   atol=1e-9 * np.max(np.abs(ds[name].values)), err_msg=name)
