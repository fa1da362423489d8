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
    import ldnsim.sweep.jobs as sweep_module  # where a chunk's job looks it up
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
    """Another chunk size and thread count than the fixture's (which used one thread), as
    many threads as numba allows here (NUMBA_NUM_THREADS may be 1)."""
    import numba

    _, out = pk_run
    threads = min(2, numba.config.NUMBA_NUM_THREADS)
    assert cli.main(["run", str(PK), "-o", str(tmp_path / "b.nc"), "--chunk-size", "5",
                     "--threads", str(threads), "--no-progress"]) == 0
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


# ------------------------------------------------------------ outputs, summaries, help text
@pytest.mark.parametrize("argv, expected", [
    (["run", str(PK), "-o", "r.csv"], "a result is NetCDF (.nc) or a Zarr store (.zarr)"),
    (["run", str(PK), "-o", "r"], "(got no extension)"),
    (["run", str(PK), "--plot", "f.nc"], "the figure format is told by its extension"),
    (["run", str(PK), "-o", "r.zarr", "--local-cluster", "1", "--plot", "f.csv"],
     "figure format"),
    (["summarize", "r.nc", "--csv", "t.txt"], "a table is written as CSV (.csv)"),
    (["plot", "r.nc", "-o", "f.csv"], "figure format"),
    (["export-sbml", "ldn", "-o", "m.txt"], "SBML is written as .xml"),
    (["fit", "cfg.toml", "-o", "fit.csv"], "it is written as NetCDF (.nc)"),
    (["sensitivity", "nope.toml", "-o", "i.csv"], "it is written as NetCDF (.nc)"),
])
def test_outputs_with_a_wrong_extension_fail_before_any_work(argv, expected, tmp_path, capsys,
                                                             monkeypatch):
    """Checked before the experiment (or result, config) is even read: none of them exists."""
    monkeypatch.chdir(tmp_path)
    import ldnsim.experiment as experiment
    monkeypatch.setattr(experiment, "load_experiment", lambda *a, **k: pytest.fail("loaded"))
    assert cli.main(argv) == 2
    line = _one_error_line(capsys)
    assert expected in line and "cannot write the" in line
    assert list(tmp_path.iterdir()) == []


def test_a_csv_result_points_to_summarize(capsys):
    assert cli.main(["run", str(PK), "-o", "result.csv"]) == 2
    assert "ldnsim summarize RESULT --csv" in _one_error_line(capsys)


def test_mistyped_commands_get_a_suggestion(capsys):
    assert cli.main(["rnu", str(PK)]) == 2
    line = _one_error_line(capsys)
    assert "invalid choice: 'rnu' (did you mean 'run'?)" in line
    assert cli.main(["sumarize", "x.nc"]) == 2
    assert "(did you mean 'summarize'?)" in _one_error_line(capsys)
    assert cli.main(["xyzzy"]) == 2
    assert "did you mean" not in _one_error_line(capsys)


def test_every_subcommand_help_has_examples_that_parse(capsys):
    parser = cli._parser()
    commands = parser._subparsers._group_actions[0].choices
    assert set(commands) == set(cli.EXAMPLES)
    for name in commands:
        assert cli.main([name, "--help"]) == 0
        out = capsys.readouterr().out
        assert "examples:" in out, name
        for example in cli.EXAMPLES[name]:
            assert f"  {example}" in out
            argv = example.split()[1:]
            assert argv[0] == name
            args = parser.parse_args(argv)  # the examples are valid command lines
            assert args.command == name


def test_summarize_a_sweep(pk_run, tmp_path, capsys):
    _, out = pk_run
    table = tmp_path / "t.csv"
    assert cli.main(["summarize", str(out / "pk.nc"), "--by", "dose", "--metric", "Cmax",
                     "--csv", str(table)]) == 0
    text = capsys.readouterr().out.splitlines()
    assert text[0].split() == ["dose", "metric", "units", "n", "n_failed", "mean", "p5", "p50",
                               "p95"]
    assert len(text) == 1 + 6 + 1 and text[-1] == f"wrote {table}"
    ds = open_result(out / "pk.nc")
    import csv
    with table.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [float(r["dose"]) for r in rows] == [0.5, 1.5, 4.5, 10.0, 50.0, 100.0]
    for r in rows:  # two scenarios pooled per dose
        values = ds["metric_Cmax"].sel(dose=float(r["dose"])).values
        assert r["metric"] == "Cmax" and r["units"] == "ng/mL"
        assert int(r["n"]) == 2 and int(r["n_failed"]) == 0
        assert float(r["mean"]) == pytest.approx(values.mean(), rel=1e-12)
        assert float(r["p50"]) == pytest.approx(np.median(values), rel=1e-12)
        assert float(r["p5"]) == pytest.approx(np.percentile(values, 5), rel=1e-12)
        assert float(r["p95"]) == pytest.approx(np.percentile(values, 95), rel=1e-12)
    # columns line up: every line of the table is as wide as the header's columns
    assert cli.main(["summarize", str(out / "pk.nc")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1 + 6 * 2 * 6  # default: by dose and scenario, every metric
    assert lines[0].index("metric") == lines[1].index("Cmax")


def test_summarize_errors_are_one_line(pk_run, capsys):
    _, out = pk_run
    assert cli.main(["summarize", str(out / "pk.nc"), "--by", "dos"]) == 2
    assert "(did you mean 'dose'?)" in _one_error_line(capsys)
    assert cli.main(["summarize", str(out / "pk.nc"), "--metric", "cmax"]) == 2
    assert "(did you mean 'Cmax'?)" in _one_error_line(capsys)
    assert cli.main(["summarize", str(out / "missing.zarr")]) == 2
    assert "no result store" in _one_error_line(capsys)


def test_summarize_pools_the_subjects_and_counts_failures():
    import xarray as xr

    rng = np.random.default_rng(0)
    ds = xr.Dataset(
        {"metric_Cmax": (("dose", "subject"), rng.lognormal(size=(2, 40)), {"units": "ng/mL"}),
         "status": (("dose", "subject"), np.zeros((2, 40), np.int32))},
        coords={"dose": [1.0, 4.5], "subject": np.arange(40)})
    ds["status"][1, :3] = 2
    ds["metric_Cmax"][1, :3] = np.nan
    rows = cli.summarize(ds)
    assert [r["dose"] for r in rows] == [1.0, 4.5]
    assert rows[0]["n"] == 40 and rows[0]["n_failed"] == 0
    assert rows[1]["n"] == 37 and rows[1]["n_failed"] == 3
    good = ds["metric_Cmax"].values[1, 3:]
    assert rows[1]["p95"] == pytest.approx(np.percentile(good, 95))
    assert rows[1]["mean"] == pytest.approx(good.mean())


def test_summarize_reads_a_zarr_store(pk_run, tmp_path, capsys):
    _, out = pk_run
    store = tmp_path / "pk.zarr"
    assert cli.main(["run", str(PK), "-o", str(store), "--no-progress"]) == 0
    capsys.readouterr()
    assert cli.main(["summarize", str(store), "--metric", "AUC"]) == 0
    from_store = capsys.readouterr().out
    assert cli.main(["summarize", str(out / "pk.nc"), "--metric", "AUC"]) == 0
    assert capsys.readouterr().out == from_store
    assert len(from_store.splitlines()) == 1 + 12


def test_plot_draws_every_slice_and_a_metric(pk_run, tmp_path, capsys, monkeypatch):
    import matplotlib.pyplot as plt

    _, out = pk_run
    figures = []
    real = cli._figure
    monkeypatch.setattr(cli, "_figure", lambda *a: figures.append(real(*a)) or figures[-1])
    assert cli.main(["plot", str(out / "pk.nc"), "-o", str(tmp_path / "f.png")]) == 0
    assert [ax.get_title() for ax in figures[-1].axes] == ["base", "slow_absorption"]
    assert cli.main(["plot", str(out / "pk.nc"), "-o", str(tmp_path / "m.png"),
                     "--metric", "AUCinf"]) == 0
    ax = figures[-1].axes[0]
    assert ax.get_xlabel() == "dose per administration [mg]"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0.5", "1.5", "4.5", "10", "50",
                                                            "100"]
    assert (tmp_path / "m.png").stat().st_size > 1000
    plt.close("all")
    assert cli.main(["plot", str(out / "pk.nc"), "-o", str(tmp_path / "x.png"),
                     "--metric", "auc"]) == 2
    assert "did you mean 'AUC'" in _one_error_line(capsys)
    assert not (tmp_path / "x.png").exists()


def test_a_shipped_model_must_be_named_after_its_file(tmp_path, monkeypatch, capsys):
    """Shipped models are looked up by file name: a file whose [model] name differs is an
    error naming both (a file loaded by its path may be named freely)."""
    import ldnsim.model.parse as parse

    source = (ROOT / "models" / "one_compartment_oral.toml").read_text()
    (tmp_path / "one_compartment_oral.toml").write_text(source)
    (tmp_path / "renamed.toml").write_text(source)  # declares one_compartment_oral
    monkeypatch.setattr(parse, "shipped_model_dirs", lambda: [tmp_path])
    assert parse.load_model("one_compartment_oral").name == "one_compartment_oral"
    assert parse.load_model(str(tmp_path / "renamed.toml")).name == "one_compartment_oral"
    assert cli.main(["models"]) == 0
    out = capsys.readouterr().out
    assert ("renamed\n    (cannot be loaded: " in out and "[model] name is "
            "'one_compartment_oral', but a shipped model is looked up by its file name: name it "
            "'renamed' or rename the file to one_compartment_oral.toml)" in out)
    assert cli.main(["export-sbml", "renamed", "-o", str(tmp_path / "r.xml")]) == 2
    assert "looked up by its file name" in _one_error_line(capsys)


def test_validate_lists_the_variables_the_result_stores(tmp_path, capsys):
    exp = tmp_path / "pk_central.toml"
    exp.write_text(PK.read_text().replace('var = "C_plasma"', 'var = "central"')
                   .replace("dose = [0.5, 1.5, 4.5, 10.0, 50.0, 100.0]", "dose = [1.0, 10.0]"))
    assert cli.main(["validate", str(exp)]) == 0
    out = capsys.readouterr().out
    assert ("variables:  C_plasma; solved for the metrics only, not stored: central\n" in out)
    assert cli.main(["run", str(exp), "-o", str(tmp_path / "r.nc"), "--no-progress"]) == 0
    ds = open_result(tmp_path / "r.nc")
    assert [v for v in ds.data_vars if "time" in ds[v].dims] == ["C_plasma"]
    assert "metric_Cmax" in ds  # of central
    metrics_only = tmp_path / "metrics_only.toml"
    metrics_only.write_text(PK.read_text().replace('variables = ["C_plasma"]',
                                                   "trajectories = false"))
    assert cli.main(["validate", str(metrics_only)]) == 0
    out = capsys.readouterr().out
    assert ("variables:  none (metrics only); solved for the metrics only, not stored: "
            "C_plasma\n" in out)


def test_the_readme_command_list_matches_the_parser():
    """Every command of the README's "Command line" block parses, and every command is there."""
    import re

    text = (ROOT / "README.md").read_text()
    block = text.split("## Command line", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    parser = cli._parser()
    seen = set()
    for line in block.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line.startswith("ldnsim "):
            continue
        while re.search(r"\[[^\[\]]*\]", line):  # optional parts, innermost first
            line = re.sub(r"\s*\[[^\[\]]*\]", "", line)
        args = parser.parse_args(line.split()[1:])
        seen.add(args.command)
    commands = parser._subparsers._group_actions[0].choices
    assert seen == set(commands)


def test_a_partial_store_is_reported_as_incomplete(tmp_path, capsys):
    """A store whose run was stopped is not read silently as a finished result: rows of the
    chunks not done read as status 0, so summarize/plot warn and say how to finish it."""
    import zarr

    store = tmp_path / "r.zarr"
    assert cli.main(["run", str(PK), "-o", str(store), "--no-progress",
                     "--chunk-size", "4"]) == 0
    group = zarr.open_group(str(store), mode="r+")
    group.attrs["complete"] = 0
    done = group["chunk_done"]
    done[0] = 0
    capsys.readouterr()
    assert cli.main(["summarize", str(store), "--metric", "AUC"]) == 0
    err = capsys.readouterr().err
    assert "is incomplete" in err and f"of {done.shape[0]} chunks done" in err
    assert "run the same 'ldnsim run' command" in err
