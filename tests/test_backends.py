"""Backends: a real dask LocalCluster (worker processes, loopback only) gives the in-process
result bit for bit, in memory and in a store, also when a worker is killed mid-task; the
command line's --local-cluster and --scheduler; metrics per chunk equal metrics of the whole."""

import os
import signal
import threading
import time

import numpy as np
import pytest
import xarray as xr
from distributed import Client

from ldnsim import cli
from ldnsim.cluster import local_cluster
from ldnsim.experiment import load_experiment, run_experiment
from ldnsim.results import provenance
from ldnsim.sweep import run_plan
from ldnsim.sweep.backends import DaskBackend, ThreadsBackend, backend_for

from test_store import EXP, assert_same_store

HEAVY = """
[experiment]
name = "heavy"
[model]
name = "one_compartment_oral"
[regimen]
every = 24.0
count = 28
[output]
t_end = 672.0
step = 1.0
trajectories = false
[sweep]
dose = [10.0, 50.0]
CL = [150.0, 210.0, 270.0]
[population]
subjects = 500
seed = 9
iiv = { CL = 0.3, V = 0.2, ka = 0.4 }
[metrics]
names = ["nca"]
[metrics.nca]
var = "C_plasma"
"""


def assert_same_result(a, b):
    assert sorted(a.variables) == sorted(b.variables)
    for name in a.variables:
        x, y = np.asarray(a[name].values), np.asarray(b[name].values)
        assert x.dtype == y.dtype, name
        assert np.array_equal(x, y, equal_nan=x.dtype.kind == "f"), name
        assert _same_attrs(a[name].attrs, b[name].attrs), name
    pa, pb = provenance(a), provenance(b)  # decoded: the order of JSON keys does not matter
    pa.pop("created"), pb.pop("created")
    assert pa == pb


def _same_attrs(a, b):
    """Attribute dicts equal key by key (values may be arrays, e.g. CF ``flag_values``)."""
    return a.keys() == b.keys() and all(np.array_equal(np.asarray(a[k]), np.asarray(b[k]))
                                        for k in a)


@pytest.fixture(scope="module")
def client():
    with local_cluster(2) as cluster, Client(cluster) as c:  # loopback only
        yield c


def test_backend_choice():
    assert isinstance(backend_for(None, 2), ThreadsBackend)
    with pytest.raises(Exception, match="distributed.Client"):
        backend_for(object())


def test_metrics_per_chunk_equal_the_metrics_of_the_stored_trajectories():
    whole = run_experiment(EXP, progress=False)  # trajectories, then metrics on all of them
    metrics_only = EXP.replace('variables = ["C_plasma"]', "trajectories = false")
    for chunk in (1, 5, 13, 1000):
        part = run_experiment(metrics_only, progress=False, chunk_size=chunk)
        names = [v for v in whole.data_vars if str(v).startswith("metric_")] + ["status"]
        assert sorted(names) == sorted(part.data_vars)
        for name in names:
            assert part[name].dims == whole[name].dims, name
            assert np.array_equal(part[name].values, whole[name].values, equal_nan=True), name
            assert _same_attrs(part[name].attrs, whole[name].attrs), name


@pytest.mark.slow
def test_local_cluster_matches_in_process_bit_for_bit(client, tmp_path):
    reference = run_experiment(EXP, progress=False)  # the classic in-process path
    on_dask = run_experiment(EXP, progress=False, chunk_size=7, client=client)
    assert_same_result(on_dask.drop_vars([]), reference)
    run_experiment(EXP, progress=False, chunk_size=7, store=tmp_path / "threads.zarr")
    run_experiment(EXP, progress=False, chunk_size=7, client=client,
                   store=tmp_path / "dask.zarr")
    assert_same_store(tmp_path / "dask.zarr", tmp_path / "threads.zarr")
    # workers compiled the model once each (per-process cache), not once per task
    counts = client.run(lambda: len(__import__("ldnsim.sweep.jobs").sweep.jobs._COMPILED))
    assert set(counts.values()) == {1}


@pytest.mark.slow
def test_a_worker_killed_mid_task_still_gives_the_right_result(client):
    plan = load_experiment(HEAVY).plan
    metrics = (("nca",), {"nca": {"var": "C_plasma"}})
    reference = run_plan(plan, metrics=metrics, trajectories=(), chunk_size=500, threads=1)
    killed = {}

    def kill_one_busy_worker():
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            busy = {w: ks for w, ks in client.processing().items() if ks}
            if busy:
                time.sleep(0.3)  # well inside a task of about a second
                worker, keys = next(iter(client.processing().items()))
                if keys:
                    pid = client.run(os.getpid, workers=[worker])[worker]
                    os.kill(pid, signal.SIGKILL)
                    killed.update(worker=worker, keys=list(keys), pid=pid)
                    return
            time.sleep(0.02)

    killer = threading.Thread(target=kill_one_busy_worker)
    killer.start()
    result = run_plan(plan, metrics=metrics, trajectories=(), chunk_size=500, client=client)
    killer.join()
    assert killed and killed["keys"], "no worker was killed while running a chunk"
    assert_same_result(result, reference)
    client.wait_for_workers(2, timeout=120)  # the nanny restarts the killed worker


@pytest.mark.slow
def test_command_line_local_cluster_and_scheduler(client, tmp_path, capsys):
    exp = tmp_path / "e.toml"
    exp.write_text(EXP)
    assert cli.main(["run", str(exp), "-o", str(tmp_path / "t.zarr"), "--no-progress",
                     "--chunk-size", "7"]) == 0
    address = client.scheduler.address
    assert cli.main(["run", str(exp), "-o", str(tmp_path / "s.zarr"), "--no-progress",
                     "--chunk-size", "7", "--scheduler", address]) == 0
    assert_same_store(tmp_path / "s.zarr", tmp_path / "t.zarr")
    assert cli.main(["run", str(exp), "-o", str(tmp_path / "l.nc"), "--no-progress",
                     "--local-cluster", "2", "--chunk-size", "7"]) == 0
    out = capsys.readouterr().out
    assert f"wrote {tmp_path / 'l.nc'} (30 rows)" in out
    from ldnsim.io import open_result

    nc = open_result(tmp_path / "l.nc")
    zs = xr.open_zarr(tmp_path / "t.zarr", decode_times=False).load()
    for name in nc.data_vars:
        assert np.array_equal(nc[name].values, zs[name].values, equal_nan=True), name


def test_command_line_cluster_errors_are_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("DASK_SCHEDULER_ADDRESS", raising=False)
    assert cli.main(["run", "pk_single_dose", "--scheduler-file", str(tmp_path / "no.json"),
                     "-o", str(tmp_path / "x.nc")]) == 2
    assert "no scheduler file" in capsys.readouterr().err
    assert cli.main(["run", "pk_single_dose", "--local-cluster", "0",
                     "-o", str(tmp_path / "x.nc")]) == 2
    assert "at least 1 worker" in capsys.readouterr().err
    assert cli.main(["run", "pk_single_dose", "--local-cluster", "2", "--scheduler", "x"]) == 2
    assert "not allowed with" in capsys.readouterr().err


def test_dask_backend_keeps_a_bounded_window_of_chunks():
    class FakeClient:
        def nthreads(self):
            return {"a": 1, "b": 1, "c": 2}

    assert DaskBackend(FakeClient())._window() == 8
    assert DaskBackend(FakeClient(), in_flight=3)._window() == 3
