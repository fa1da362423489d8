"""Zarr stores: chunk by chunk, opened by plain xarray, resumed (also after SIGKILL at random
moments), refused when they hold another run, started afresh with --overwrite."""

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
import zarr

from ldnsim import cli
from ldnsim.experiment import run_experiment
from ldnsim.results import provenance
from ldnsim.store import StoreError, done_chunks, is_store
from ldnsim.sweep import jobs

ROOT = Path(__file__).resolve().parents[1]

EXP = """
[experiment]
name = "store_test"
[model]
name = "one_compartment_oral"
[regimen]
every = 24.0
count = 3
[output]
t_end = 96.0
step = 1.0
variables = ["C_plasma"]
[sweep]
dose = [10.0, 25.0, 50.0]
CL = [150.0, 210.0]
[population]
subjects = 5
seed = 4
iiv = { CL = 0.3, V = 0.2 }
[metrics]
names = ["nca", "end_value"]
[metrics.nca]
var = "C_plasma"
[metrics.end_value]
var = "central"
"""


def _arrays(path):
    g = zarr.open_group(str(path), mode="r")
    return {name: np.asarray(arr[...]) for name, arr in g.arrays()}


def _attrs(path):
    attrs = dict(zarr.open_group(str(path), mode="r").attrs)
    attrs.pop("created")  # when the store was made: the one thing two runs may not share
    return attrs


def assert_same_store(a, b):
    xa, xb = _arrays(a), _arrays(b)
    assert sorted(xa) == sorted(xb)
    for name in xa:
        assert xa[name].dtype == xb[name].dtype, name
        assert np.array_equal(xa[name], xb[name], equal_nan=xa[name].dtype.kind == "f"), name
    assert _attrs(a) == _attrs(b)
    ga, gb = zarr.open_group(str(a), mode="r"), zarr.open_group(str(b), mode="r")
    for name in xa:
        assert dict(ga[name].attrs) == dict(gb[name].attrs), name


@pytest.fixture(scope="module")
def memory():
    return run_experiment(EXP, progress=False, chunk_size=7)


def test_a_store_holds_the_result_and_opens_with_plain_xarray(tmp_path, memory):
    ds = run_experiment(EXP, progress=False, chunk_size=7, store=tmp_path / "r.zarr")
    plain = xr.open_zarr(tmp_path / "r.zarr", decode_times=False)
    for name in memory.data_vars:
        assert np.array_equal(plain[name].values, memory[name].values, equal_nan=True), name
        assert plain[name].dims == memory[name].dims, name
    assert plain["C_plasma"].attrs["units"] == "ng/mL"
    assert plain["time"].attrs["units"] == "h" and plain["dose"].attrs["units"] == "mg"
    assert plain["metric_Cmax"].attrs["units"] == "ng/mL"
    assert "eta_CL" in plain.coords and plain["eta_CL"].dims == ("subject",)
    prov = provenance(plain)
    assert prov["model_hash"] == provenance(memory)["model_hash"]
    assert prov["experiment"] == EXP and prov["complete"] == 1 and prov["n_failed"] == 0
    assert prov["solver_stats"] == provenance(memory)["solver_stats"]
    assert done_chunks(tmp_path / "r.zarr").all()
    # chunks of the store = computed chunks: whole subjects, cut along the last other dim
    assert plain["C_plasma"].encoding["chunks"] == (1, 1, 5, 97)
    assert ds["status"].dtype == np.int32 and int(ds["status"].sum()) == 0


def test_metrics_only_store_keeps_kilobytes_per_row(tmp_path, memory):
    text = EXP.replace('variables = ["C_plasma"]', "trajectories = false")
    ds = run_experiment(text, progress=False, store=tmp_path / "m.zarr").load()
    assert "time" not in ds.dims and "C_plasma" not in ds
    for name in [v for v in memory.data_vars if str(v).startswith("metric_")]:
        assert np.array_equal(ds[name].values, memory[name].values, equal_nan=True), name
    rows = 3 * 2 * 5
    size = sum(f.stat().st_size for f in (tmp_path / "m.zarr").rglob("*") if f.is_file())
    assert size / rows < 2048, size / rows


class _Crash(Exception):
    pass


def test_resume_skips_finished_chunks_and_completes_the_rest(tmp_path, monkeypatch):
    whole = tmp_path / "whole.zarr"
    run_experiment(EXP, progress=False, chunk_size=5, store=whole)
    real, calls = jobs.run_job, []

    def crashing(spec, job):
        if len(calls) == 3:
            raise _Crash("killed")
        calls.append(job.index)
        return real(spec, job)

    monkeypatch.setattr("ldnsim.sweep.backends.run_job", crashing)
    part = tmp_path / "part.zarr"
    with pytest.raises(_Crash):
        run_experiment(EXP, progress=False, chunk_size=5, store=part)
    assert done_chunks(part).sum() == 3 and not provenance(xr.open_zarr(part))["complete"]
    monkeypatch.setattr("ldnsim.sweep.backends.run_job", real)
    ran = []
    monkeypatch.setattr("ldnsim.sweep.backends.run_job",
                        lambda spec, job: ran.append(job.index) or real(spec, job))
    run_experiment(EXP, progress=False, chunk_size=5, store=part)
    assert sorted(set(ran) | set(calls)) == list(range(done_chunks(part).size))
    assert not set(ran) & set(calls)
    assert_same_store(part, whole)


def _snapshot(path):
    return {str(p): (p.stat().st_mtime_ns, p.read_bytes()) for p in Path(path).rglob("*")
            if p.is_file()}


def test_a_mismatched_resume_is_refused_and_nothing_is_written(tmp_path, capsys):
    store = tmp_path / "s.zarr"
    exp = tmp_path / "e.toml"
    exp.write_text(EXP)
    assert cli.main(["run", str(exp), "-o", str(store), "--no-progress"]) == 0
    before = _snapshot(store)
    exp.write_text(EXP.replace("seed = 4", "seed = 5"))
    assert cli.main(["run", str(exp), "-o", str(store), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "cannot resume" in err and "inputs differ" in err and "nothing was written" in err
    assert _snapshot(store) == before
    # another experiment
    exp.write_text(EXP.replace('name = "store_test"', 'name = "other"'))
    assert cli.main(["run", str(exp), "-o", str(store), "--no-progress"]) == 2
    assert "holds experiment 'store_test'" in capsys.readouterr().err
    assert _snapshot(store) == before
    # --overwrite starts afresh
    exp.write_text(EXP.replace("seed = 4", "seed = 5"))
    assert cli.main(["run", str(exp), "-o", str(store), "--no-progress", "--overwrite"]) == 0
    assert provenance(xr.open_zarr(store))["population_seed"] == 5


def test_a_changed_model_or_version_is_refused(tmp_path, monkeypatch):
    model = tmp_path / "m.toml"
    model.write_text((ROOT / "models" / "one_compartment_oral.toml").read_text())
    text = EXP.replace('name = "one_compartment_oral"', f'name = "{model}"')
    store = tmp_path / "s.zarr"
    run_experiment(text, progress=False, store=store)
    model.write_text(model.read_text().replace("value = 0.7", "value = 0.8"))
    with pytest.raises(StoreError, match="the model differs"):
        run_experiment(text, progress=False, store=store)
    model.write_text(model.read_text().replace("value = 0.8", "value = 0.7"))
    monkeypatch.setattr("ldnsim.sweep.run.__version__", "99.0")
    with pytest.raises(StoreError, match="written by ldnsim 0.1.0, this is ldnsim 99.0"):
        run_experiment(text, progress=False, store=store)


def test_what_is_not_a_store_is_never_removed(tmp_path):
    other = tmp_path / "data.zarr"
    other.mkdir()
    (other / "keep.txt").write_text("mine")
    for overwrite in (False, True):
        with pytest.raises(StoreError, match="not an ldnsim store"):
            run_experiment(EXP, progress=False, store=other, overwrite=overwrite)
    assert (other / "keep.txt").read_text() == "mine" and not is_store(other)


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    return env


@pytest.mark.slow
def test_sigkill_at_random_moments_then_resume_gives_the_uninterrupted_store(tmp_path):
    # 150 chunks of 2 rows. Each run is killed at a random point of its progress (a random
    # number of chunks done, then a random fraction of a chunk's time), so that the kills land
    # while chunks are being computed and written whatever the machine's load; the first one
    # lands at a random moment before any chunk is done.
    text = EXP.replace("subjects = 5", "subjects = 50").replace("dose = [10.0, 25.0, 50.0]",
                                                                "dose = [10.0, 50.0, 80.0]")
    exp = tmp_path / "e.toml"
    exp.write_text(text)
    args = [sys.executable, "-m", "ldnsim", "run", str(exp), "--chunk-size", "2",
            "--threads", "1", "--no-progress"]

    def start(store):
        proc = subprocess.Popen(args + ["-o", str(store)], env=_env(),
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 300
        while not (store / ".zattrs").exists() and proc.poll() is None \
                and time.monotonic() < deadline:
            time.sleep(0.01)
        return proc

    whole = tmp_path / "whole.zarr"
    proc = start(whole)
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    n = done_chunks(whole).size
    store = tmp_path / "killed.zarr"
    rng = random.Random(20261129)
    targets = [0] + sorted(rng.sample(range(5, n - 5), 3))  # chunks done before each kill
    kills, partial = 0, 0
    for target in targets:
        proc = start(store)
        deadline = time.monotonic() + 300
        while proc.poll() is None and time.monotonic() < deadline \
                and done_chunks(store).sum() < target:
            time.sleep(0.005)
        time.sleep(rng.uniform(0.0, 0.05 if target else 1.0))
        if proc.poll() is not None:
            break
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        proc.stderr.close()
        kills += 1
        done = done_chunks(store)
        partial += bool(0 < done.sum() < done.size)
    proc = start(store)  # the same command, to the end
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    assert kills == 4 and partial >= 3, (kills, partial)
    assert json.loads(json.dumps(_attrs(store)))["complete"] == 1
    assert_same_store(store, whole)


def test_headline_metrics_only_with_drawn_subjects(tmp_path):
    """The headline's own design ([uncertainty] draws, a virtual subject per draw, so the
    subjects' random effects are coordinates over (draw, subject)) with trajectories = false:
    in memory and in a Zarr store the window metrics equal, bit for bit, those computed from
    the stored trajectories, and the eta coordinates keep their two dims. (Before this test
    a metrics-only run of the headline failed on those two-dim coordinates.)"""
    from ldnsim.experiment import load_experiment
    text = (ROOT / "experiments" / "immunomodulatory_window.toml").read_text()
    text = (text.replace("../models/", f"{ROOT / 'models'}/")
            .replace("draws = 200", "draws = 3").replace("n = 200", "n = 3")
            .replace("dose = [0.1, 0.25, 0.5, 1.0, 1.5, 3.0, 4.5, 6.0, 10.0, 50.0]",
                     "dose = [1.0, 4.5]"))
    metrics_only = "\n".join("trajectories = false" if ln.startswith("variables = ") else ln
                             for ln in text.splitlines())
    full = run_experiment(load_experiment(text), progress=False)
    # chunks of 2 rows cut the draws: the share of draws in the window is added afterwards
    mem = run_experiment(load_experiment(metrics_only), progress=False, chunk_size=2)
    store = tmp_path / "w.zarr"
    ds = run_experiment(load_experiment(metrics_only), progress=False, store=str(store),
                        chunk_size=2)
    z = xr.open_zarr(store)
    assert int(z["chunk_done"].size) == 2 * 2 * 2   # dose x hypothesis x 2 blocks of draws
    assert z["eta_CL_ntx"].dims == ("draw", "subject")
    np.testing.assert_array_equal(z["eta_CL_ntx"].values, full["eta_CL_ntx"].values)
    for name in ("metric_p_in_window", "metric_p_in_window_n", "metric_in_window_median"):
        np.testing.assert_array_equal(mem[name].values, full[name].values)
        np.testing.assert_array_equal(ds[name].values, full[name].values)
    for name in ("metric_immune_index_end", "metric_blockade_hours", "metric_in_window"):
        np.testing.assert_array_equal(mem[name].values, full[name].values)
        np.testing.assert_array_equal(z[name].values, full[name].values)
