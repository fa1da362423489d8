"""ldnsim.io: NetCDF round trips and atomic writes."""

import numpy as np
import pytest
import xarray as xr

from ldnsim import io as ldnio
from ldnsim.errors import LdnsimError
from ldnsim.io import ResultIOError, open_result, provenance, save_result
from ldnsim.metrics import window_summary
from ldnsim.results import make_dataset, provenance_attrs

# netCDF4 is a dependency of ldnsim and h5netcdf/h5py are in the test extra: both engines run.
ENGINES = list(ldnio._MODULES)


def _result():
    t = np.arange(0.0, 24.0 * 8 + 1)
    doses = np.array([0.5, 4.5, 50.0])
    scenarios = np.array(["pharmaceutical+human_pet", "racemic+rodent_transient"])
    rng = np.random.default_rng(1)
    y = rng.random((3, 2, 4, t.size, 3))
    y[1, 0, 2] = np.nan  # a failed row
    status = np.zeros((3, 2, 4), int)
    status[1, 0, 2] = 2
    attrs = provenance_attrs(model_hash="f" * 64, seed=2**90 + 1,
                             solver={"method": "rodas5p", "rtol": 1e-6, "atol": 1e-9},
                             experiment="[model]\nname = \"ldn\"\n", scenarios=["racemic"],
                             threads=None, progress=True)
    return make_dataset(
        t, y, ["C_ntx", "occupancy_mor_drug", "immune_index"], ["ng/mL", "1", "1"],
        ["total plasma naltrexone", "mu receptor occupancy by drug", "immunomodulation index"],
        dims=("dose", "scenario", "subject"),
        coords={"dose": ("dose", doses, {"units": "mg", "long_name": "daily dose"}),
                "scenario": scenarios, "subject": np.arange(4)},
        status=status, attrs=attrs)


@pytest.mark.parametrize("engine", ENGINES)
def test_round_trip(tmp_path, engine):
    ds = _result()
    path = save_result(ds, tmp_path / "run.nc", engine=engine)
    back = open_result(path, engine=engine)
    xr.testing.assert_identical(back, ds)  # values, dims, coords and every attr
    assert back["C_ntx"].attrs == {"units": "ng/mL", "long_name": "total plasma naltrexone"}
    assert back["time"].attrs["units"] == "h"
    assert back["time"].dtype == np.float64  # "h" must not turn into timedelta64
    assert back["dose"].attrs["units"] == "mg"
    assert list(back["scenario"].values) == list(ds["scenario"].values)
    assert back["status"].sel(dose=4.5, subject=2).values.tolist() == [2, 0]
    assert isinstance(back.attrs["solver"], str)  # JSON strings stay strings...
    prov = provenance(back)                       # ...and decode on request
    assert prov["solver"] == {"method": "rodas5p", "rtol": 1e-6, "atol": 1e-9}
    assert prov["seed"] == 2**90 + 1
    assert prov["threads"] is None and prov["progress"] is True
    assert prov["experiment"].startswith("[model]")
    assert prov["model_hash"] == "f" * 64


def test_file_is_closed_after_open(tmp_path):
    path = save_result(_result(), tmp_path / "run.nc")
    ds = open_result(path)
    path.unlink()  # would fail on some platforms, and lose data elsewhere, if still open
    assert float(ds["C_ntx"].sum()) > 0


def test_dicts_and_bools_in_attrs_are_made_safe(tmp_path):
    ds = _result()
    ds.attrs["extra"] = {"a": 1}
    ds["C_ntx"].attrs["flags"] = True
    back = open_result(save_result(ds, tmp_path / "run.nc"))
    assert provenance(back)["extra"] == {"a": 1}
    assert back["C_ntx"].attrs["flags"] == "true"
    assert ds.attrs["extra"] == {"a": 1}  # the caller's dataset is untouched


def test_metrics_round_trip(tmp_path):
    table = window_summary(make_dataset(
        np.arange(0.0, 24.0 * 8 + 1), np.random.default_rng(2).random((2, 193, 2)),
        ["occupancy_mor_drug", "immune_index"], ["1", "1"], None, dims=("dose",),
        coords={"dose": ("dose", [1.0, 2.0], {"units": "mg"})}),
        signal_var=None, proliferation_var=None)
    back = open_result(save_result(table, tmp_path / "window.nc"))
    xr.testing.assert_identical(back, table)


class _Boom(RuntimeError):
    pass


def _half_then_fail(exc):
    def writer(self, path, *args, **kwargs):
        with open(path, "wb") as fh:
            fh.write(b"\x89HDF\r\n" + b"\0" * 1000)  # a partial file, then the crash
        raise exc
    return writer


@pytest.mark.parametrize("exc, expected", [(_Boom("disk full"), ResultIOError),
                                           (KeyboardInterrupt(), KeyboardInterrupt)])
def test_interrupted_write_leaves_no_file(tmp_path, monkeypatch, exc, expected):
    monkeypatch.setattr(xr.Dataset, "to_netcdf", _half_then_fail(exc))
    with pytest.raises(expected):
        save_result(_result(), tmp_path / "run.nc")
    assert list(tmp_path.iterdir()) == []


def test_interrupted_overwrite_keeps_the_previous_result(tmp_path, monkeypatch):
    ds = _result()
    path = save_result(ds, tmp_path / "run.nc")
    before = path.read_bytes()
    monkeypatch.setattr(xr.Dataset, "to_netcdf", _half_then_fail(_Boom("killed")))
    with pytest.raises(ResultIOError, match="killed"):
        save_result(ds.isel(dose=[0]), path)
    assert [p.name for p in tmp_path.iterdir()] == ["run.nc"]
    assert path.read_bytes() == before


def test_no_engine_gives_a_clear_ldnsim_error(tmp_path, monkeypatch):
    monkeypatch.setattr(ldnio.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ResultIOError, match=r"netCDF4 or h5netcdf\+h5py.*ldnsim\[io\]"):
        save_result(_result(), tmp_path / "run.nc")
    assert issubclass(ResultIOError, LdnsimError)


def test_missing_and_bad_files(tmp_path):
    with pytest.raises(ResultIOError, match="no result file"):
        open_result(tmp_path / "nope.nc")
    bad = tmp_path / "bad.nc"
    bad.write_text("not netcdf")
    with pytest.raises(ResultIOError, match="cannot read"):
        open_result(bad)
    with pytest.raises(ResultIOError, match="does not exist"):
        save_result(_result(), tmp_path / "missing_dir" / "run.nc")
