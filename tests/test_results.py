"""ldnsim.results: layout of result Datasets and netCDF-safe provenance."""

import json

import numpy as np
import pytest
import xarray as xr

from ldnsim.results import (
    JSON_ATTRS_KEY,
    make_dataset,
    mask_failed,
    netcdf_safe_attrs,
    provenance,
    provenance_attrs,
)


def _sweep(status=None, attrs=None):
    t = np.linspace(0.0, 48.0, 49)
    doses = np.array([0.5, 4.5, 50.0])
    scenarios = np.array(["pharmaceutical", "racemic"])
    y = np.random.default_rng(0).random((3, 2, t.size, 2))
    return make_dataset(
        t, y, ["C_ntx", "occupancy_mor_drug"], ["ng/mL", "1"],
        {"C_ntx": "total plasma naltrexone"},
        dims=("dose", "scenario"),
        coords={"dose": ("dose", doses, {"units": "mg"}), "scenario": scenarios},
        status=status, attrs=attrs)


def test_layout_units_and_coords():
    ds = _sweep(status=np.zeros((3, 2), int))
    assert set(ds.data_vars) == {"C_ntx", "occupancy_mor_drug", "status"}
    assert ds["C_ntx"].dims == ("dose", "scenario", "time")
    assert ds["C_ntx"].attrs == {"units": "ng/mL", "long_name": "total plasma naltrexone"}
    # A missing long name falls back to the variable name; units are never guessed.
    assert ds["occupancy_mor_drug"].attrs["long_name"] == "occupancy_mor_drug"
    assert ds["occupancy_mor_drug"].attrs["units"] == "1"
    assert ds["time"].attrs["units"] == "h"
    assert ds["dose"].attrs["units"] == "mg"
    assert list(ds["scenario"].values) == ["pharmaceutical", "racemic"]
    assert ds["status"].dims == ("dose", "scenario")
    assert np.issubdtype(ds["status"].dtype, np.integer)


def test_values_land_in_the_right_variable():
    t = np.arange(4.0)
    y = np.arange(2 * 4 * 3, dtype=float).reshape(2, 4, 3)
    ds = make_dataset(t, y, ["a", "b", "c"], None, None, dims=("subject",))
    np.testing.assert_array_equal(ds["b"].values, y[..., 1])
    assert "units" not in ds["a"].attrs


def test_time_unit_from_model():
    ds = make_dataset([0, 1], np.zeros((2, 1)), ["x"], ["1"], ["x"], time_unit="min")
    assert ds["time"].attrs["units"] == "min"
    assert ds["x"].dims == ("time",)


@pytest.mark.parametrize("kwargs, message", [
    (dict(t=np.arange(5.0)), "time points"),
    (dict(names=["a"]), "variables"),
    (dict(dims=()), "sweep axes"),
    (dict(status=np.zeros(4, int)), "status"),
    (dict(units=["h"]), "units"),
    (dict(coords={"dose": [1.0, 2.0]}), "cannot build"),
])
def test_shape_errors_are_clear(kwargs, message):
    args = dict(t=np.arange(4.0), y=np.zeros((3, 4, 2)), names=["a", "b"], units=None,
                long_names=None, dims=("dose",))
    args.update(kwargs)
    t, y, names, units, long_names = (args.pop(k) for k in
                                      ("t", "y", "names", "units", "long_names"))
    with pytest.raises(ValueError, match=message):
        make_dataset(t, y, names, units, long_names, **args)


def test_provenance_attrs_are_netcdf_safe_and_decode_back():
    solver = {"method": "rodas5p", "rtol": 1e-6, "jac": True}
    attrs = provenance_attrs(model_hash="abc", seed=2**100 + 7, solver=solver,
                             scenarios=["racemic"], debug=False, note=None,
                             experiment="[model]\nname = 'ldn'\n", n_rows=np.int64(12))
    for key in ("ldnsim_version", "numpy_version", "numba_version", "scipy_version",
                "created"):
        assert isinstance(attrs[key], str) and attrs[key]
    assert attrs["created"].endswith("Z")
    for value in attrs.values():  # only what every NetCDF engine can store
        assert type(value) in (str, int, float)
    assert json.loads(attrs["solver"]) == solver
    back = provenance(attrs)
    assert back["solver"] == solver
    assert back["seed"] == 2**100 + 7
    assert back["scenarios"] == ["racemic"]
    assert back["debug"] is False and back["note"] is None
    # TOML text that happens to start like JSON is not decoded.
    assert back["experiment"] == "[model]\nname = 'ldn'\n"
    assert back["n_rows"] == 12 and back["model_hash"] == "abc"
    assert JSON_ATTRS_KEY not in back


def test_make_dataset_sanitises_attrs_and_merges_json_keys():
    attrs = provenance_attrs(solver={"rtol": 1e-6})
    attrs["grid"] = {"dose": [1, 2]}
    ds = _sweep(attrs=attrs)
    assert set(ds.attrs[JSON_ATTRS_KEY].split(",")) == {"solver", "grid"}
    assert provenance(ds)["grid"] == {"dose": [1, 2]}
    assert netcdf_safe_attrs(ds.attrs) == ds.attrs  # idempotent


def test_mask_failed_sets_failed_rows_to_nan():
    ds = _sweep(status=np.array([[0, 0], [3, 0], [0, 0]]))
    masked = mask_failed(ds)
    assert masked["C_ntx"].sel(dose=4.5, scenario="pharmaceutical").isnull().all()
    assert masked["C_ntx"].sel(dose=4.5, scenario="racemic").notnull().all()
    assert masked["C_ntx"].attrs["units"] == "ng/mL"
    assert ds["C_ntx"].notnull().all()  # the input is untouched
    xr.testing.assert_identical(mask_failed(ds.drop_vars("status")), ds.drop_vars("status"))
