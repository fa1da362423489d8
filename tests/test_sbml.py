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
