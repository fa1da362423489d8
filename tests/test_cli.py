"""The command line: an end-to-end run, clean one-line errors, no half-written results."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ldnsim import cli
from ldnsim.errors import ConfigError
from ldnsim.io import open_result
from ldnsim.results import provenance

ROOT = Path(__file__).resolve().parents[1]
PK = ROOT / "experiments" / "pk_single_dose.toml"


def _run(*args, cwd=None):
    """``python -m ldnsim ARGS`` in a fresh process (env, and so the model cache, inherited)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    return subprocess.run([sys.executable, "-m", "ldnsim", *map(str, args)], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def pk_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli")
    proc = _run("run", PK, "-o", out / "pk.nc", "--plot", out / "pk.png", "--no-progress",
                "--threads", "1")
    return proc, out


@pytest.mark.slow
def test_run_end_to_end(pk_run):
    proc, out = pk_run
    assert proc.returncode == 0, proc.stderr
    assert f"wrote {out / 'pk.nc'}" in proc.stdout
    assert (out / "pk.png").stat().st_size > 1000
    ds = open_result(out / "pk.nc")
    assert ds["C_plasma"].attrs["units"] == "ng/mL"
    assert ds["dose"].attrs["units"] == "mg"
    assert ds["time"].attrs["units"] == "h"
    assert "metric_Cmax" in ds and ds["metric_Cmax"].attrs["units"] == "ng/mL"
    prov = provenance(ds)
    assert prov["experiment"] == PK.read_text()
    assert len(prov["model_hash"]) == 64 and prov["ldnsim_version"]
    assert prov["experiment_config"]["sweep"]["dose"][0] == 0.5
    assert sorted(p.name for p in out.iterdir()) == ["pk.nc", "pk.png"]  # no temp files


def test_plot_command_on_a_saved_result(pk_run, tmp_path, capsys):
    _, out = pk_run
    assert cli.main(["plot", str(out / "pk.nc"), "-o", str(tmp_path / "fig.svg")]) == 0
    assert (tmp_path / "fig.svg").read_text().lstrip().startswith("<?xml")
    assert cli.main(["plot", str(out / "pk.nc"), "-o", str(tmp_path / "f.png"),
                     "--var", "nope"]) == 2
    assert "nope" in capsys.readouterr().err


@pytest.mark.slow
def test_bad_input_in_a_fresh_process_is_one_line_and_status_2(tmp_path):
    proc = _run("run", tmp_path / "missing.toml", "-o", tmp_path / "x.nc")
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ldnsim: error: ")
    assert "missing.toml" in lines[0] and "Traceback" not in proc.stderr
    assert not list(tmp_path.iterdir())


def _one_error_line(capsys):
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("ldnsim: error: ") and "Traceback" not in err[0]
    return err[0]


@pytest.mark.parametrize("argv, expected", [
    (["run", "nonexistent_experiment"], "no such experiment file"),
    (["validate", "BAD_TOML"], "TOML syntax error"),
    (["validate", "UNKNOWN_KEY"], "[regimen] dosee: unknown key 'dosee'"),
    (["validate", "UNKNOWN_MODEL"], "[model] name: no shipped model named 'nomodel'"),
    (["run", str(PK), "--threads", "0"], "threads must be an integer"),
    (["run", str(PK), "--threads", "two"], "invalid int value"),
    (["run", str(PK), "-o", "/proc/no/such/dir/x.nc"], "cannot create directory"),
    (["run", str(PK), "--plot", "fig.xyz"], "figure format"),
    (["plot", "missing.nc", "-o", "x.png"], "no result file"),
    (["frobnicate"], "invalid choice"),
    ([], "required"),
    (["export-sbml", "nomodel", "-o", "m.xml"], "nomodel"),
])
def test_bad_input_gives_one_line_and_status_2(argv, expected, tmp_path, capsys,
                                               monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "BAD_TOML").write_text("[model\n")
    (tmp_path / "UNKNOWN_KEY").write_text(PK.read_text().replace("count = 1", "dosee = 1"))
    (tmp_path / "UNKNOWN_MODEL").write_text(
        PK.read_text().replace('name = "one_compartment_oral"', 'name = "nomodel"'))
    assert cli.main(argv) == 2
    assert expected in _one_error_line(capsys)
    assert not [p for p in tmp_path.iterdir() if p.suffix in (".nc", ".png", ".tmp")]


def test_run_writes_next_to_the_caller_by_default(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["run", "pk_single_dose", "--no-progress"]) == 0  # a shipped name
    assert (tmp_path / "pk_single_dose.nc").is_file()
    assert "wrote pk_single_dose.nc (12 rows)" in capsys.readouterr().out


def test_debug_shows_the_exception(tmp_path):
    with pytest.raises(ConfigError):
        cli.main(["--debug", "validate", str(tmp_path / "missing.toml")])
    with pytest.raises(ConfigError):
        cli.main(["validate", str(tmp_path / "missing.toml"), "--debug"])


def test_validate_and_models(capsys):
    assert cli.main(["validate", str(PK)]) == 0
    out = capsys.readouterr().out
    assert "rows:       12" in out and "dose (6) x scenario (2)" in out and "ok" in out
    assert cli.main(["models"]) == 0
    out = capsys.readouterr().out
    assert "one_compartment_oral: First-order absorption" in out
    assert "    slow_absorption: absorption half as fast" in out


def test_help_and_version(capsys):
    assert cli.main(["--help"]) == 0
    assert "run" in capsys.readouterr().out
    assert cli.main(["--version"]) == 0


def test_export_sbml(tmp_path, capsys):
    import importlib.util
    code = cli.main(["export-sbml", "one_compartment_oral", "-o", str(tmp_path / "m.xml")])
    if importlib.util.find_spec("ldnsim.model.sbml") is None:
        assert code == 2 and "SBML export is not available" in _one_error_line(capsys)
    elif importlib.util.find_spec("libsbml") is None:
        assert code == 2 and "python-libsbml" in _one_error_line(capsys)
    else:
        assert code == 0, capsys.readouterr().err
        assert "<sbml" in (tmp_path / "m.xml").read_text()


# ----------------------------------------------------------------------- interrupted runs
def test_an_interrupted_run_leaves_no_file(tmp_path, monkeypatch, capsys):
    import ldnsim.sweep.run as sweep_module  # where run_plan looks it up
    real = sweep_module.run_chunk
    calls = []

    def flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(sweep_module, "run_chunk", flaky)
    out = tmp_path / "pk.nc"
    code = cli.main(["run", str(PK), "-o", str(out), "--plot", str(tmp_path / "pk.png"),
                     "--chunk-size", "3", "--no-progress"])
    assert code == 130 and len(calls) == 2
    assert "interrupted" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_a_failure_while_writing_leaves_no_file_and_keeps_the_old_one(tmp_path, monkeypatch,
                                                                      capsys):
    import xarray as xr
    out = tmp_path / "pk.nc"
    out.write_bytes(b"previous result")
    real = xr.Dataset.to_netcdf

    def half_write(self, path, *args, **kwargs):
        Path(path).write_bytes(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(xr.Dataset, "to_netcdf", half_write)
    assert cli.main(["run", str(PK), "-o", str(out), "--no-progress"]) == 2
    assert "disk full" in _one_error_line(capsys)
    assert [p.name for p in tmp_path.iterdir()] == ["pk.nc"]
    assert out.read_bytes() == b"previous result"
    monkeypatch.setattr(xr.Dataset, "to_netcdf", real)


def test_results_do_not_depend_on_chunks_through_the_cli(pk_run, tmp_path):
    _, out = pk_run
    assert cli.main(["run", str(PK), "-o", str(tmp_path / "b.nc"), "--chunk-size", "5",
                     "--threads", "2" if os.cpu_count() > 1 else "1", "--no-progress"]) == 0
    a, b = open_result(out / "pk.nc"), open_result(tmp_path / "b.nc")
    assert np.array_equal(a["C_plasma"].values, b["C_plasma"].values)


def test_run_creates_missing_output_folders(tmp_path, capsys):
    """The Quick start writes to results/, which a fresh checkout does not have."""
    out = tmp_path / "results" / "nested"
    assert cli.main(["run", str(PK), "-o", str(out / "pk.nc"), "--plot", str(out / "pk.png"),
                     "--no-progress"]) == 0
    assert (out / "pk.nc").is_file() and (out / "pk.png").stat().st_size > 1000


def test_a_closed_pipe_is_not_an_error():
    """`ldnsim models | head -1` must not print an error when head stops reading."""
    proc = subprocess.Popen([sys.executable, "-m", "ldnsim", "models"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    proc.stdout.close()  # the reader is gone before ldnsim writes a byte
    err = proc.stderr.read()
    proc.stderr.close()
    assert proc.wait(timeout=120) == 0, err
    assert "error" not in err and "Traceback" not in err and "Exception" not in err
