"""The public API's docstrings are numpydoc and document every parameter (numpydoc.validate)."""
import inspect

import pytest
from numpydoc.validate import validate

import ldnsim

#: Objects ldnsim constructs for the user (their fields are listed under Attributes), or enums.
BUILT_BY_LDNSIM = {"ldnsim.model.CompiledModel", "ldnsim.solver.Status"}
#: Public functions of the layers beyond the package root.
MORE = ["ldnsim.sweep.sweep", "ldnsim.sweep.plan_sweep", "ldnsim.sweep.run_plan",
        "ldnsim.simulation.run_rows", "ldnsim.metrics.compute_metrics", "ldnsim.metrics.nca",
        "ldnsim.metrics.blockade_hours", "ldnsim.metrics.occupancy_summary",
        "ldnsim.metrics.rebound", "ldnsim.metrics.end_value", "ldnsim.metrics.peak",
        "ldnsim.metrics.window_summary", "ldnsim.results.make_dataset",
        "ldnsim.plot.plot_profiles", "ldnsim.plot.plot_dose_response",
        "ldnsim.plot.plot_window", "ldnsim.plot.plot_population"]
PUBLIC = sorted({f"{module}.{name}" for name, module in ldnsim._LAZY.items()} | set(MORE))
CHECKS = {"GL08": "no docstring", "PR01": "parameters not documented",
          "PR02": "documented parameters that do not exist", "RT01": "no Returns section"}


@pytest.mark.parametrize("name", PUBLIC)
def test_public_docstrings(name):
    result = validate(name)
    module, _, attr = name.rpartition(".")
    obj = getattr(__import__(module, fromlist=[attr]), attr)
    wanted = set(CHECKS)
    if inspect.isclass(obj):
        wanted.discard("RT01")
        if name in BUILT_BY_LDNSIM:
            wanted.discard("PR01")
    if not callable(obj):
        wanted = {"GL08"} if obj.__doc__ is None else set()
    errors = [f"{code} ({CHECKS[code]}): {msg}" for code, msg in result["errors"]
              if code in wanted]
    assert not errors, errors
