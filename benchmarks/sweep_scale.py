"""Sweeps at scale: rows per second and peak memory (driver and workers) of the LDN window
experiment with metrics only, in-process threads vs a dask LocalCluster(2), and what a
10^6-row run on this machine and a 10^7-row Sobol run on a cluster would take.

Every measurement runs in a fresh child process (``--child``), so each peak RSS (the kernel's
``ru_maxrss``/``VmHWM``) belongs to that case alone. The experiment is
``experiments/immunomodulatory_window.toml`` with ``[output] trajectories = false`` (metrics
computed per chunk, nothing else kept) and ``[sampling] n`` = ``[uncertainty] draws`` chosen for
the row count: 10 doses x 2 hypotheses x n draws (a virtual subject each) = 20 n rows.

    python benchmarks/sweep_scale.py                      # sizes 10^3, 10^4 both backends,
                                                          # the A/B comparison, the 10^6 probe
    python benchmarks/sweep_scale.py --sizes 1000 --compare-rows 1152 --repeats 1 \\
        --probe-seconds 60                                # quick
    python benchmarks/sweep_scale.py --full 1000000 --full-store /data/full.zarr
                                          # the whole 10^6-row run (hours; rerun = resume)

Results: ``results/sweep_scale.json``; the README's "Sweeps at scale" section reads them.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

from common import RESULTS, env_info, write_json

ROOT = Path(__file__).resolve().parents[1]
EXPERIMENT = ROOT / "experiments" / "immunomodulatory_window.toml"
_RAW = tomllib.loads(EXPERIMENT.read_text())
#: Rows per draw of the headline: doses x scenario combinations (one virtual subject per draw).
ROWS_PER_SAMPLE = len(_RAW["sweep"]["dose"]) * len(_RAW["sweep"]["scenario"])


def experiment(rows):
    """The window experiment's text, metrics only, with about ``rows`` rows: ``n`` draws of
    the fitted parameters paired with ``n`` samples of the hypothesis parameters (each with its
    own subject), n = rows / (doses x scenarios)."""
    n = max(1, round(rows / ROWS_PER_SAMPLE))
    lines = []
    for line in EXPERIMENT.read_text().splitlines():
        if line.startswith("variables = "):
            line = "trajectories = false  # metrics only"
        elif line.startswith(("n = ", "draws = ")):
            line = f"{line.split('=')[0].strip()} = {n}"
        elif line.startswith("from = "):   # the fits, wherever the text is loaded from
            line = line.replace('"../models/', f'"{ROOT / "models"}/')
        elif line.startswith('name = "immunomodulatory_window"'):
            line = f'name = "window_scale_{n * ROWS_PER_SAMPLE}"'
        lines.append(line)
    text = "\n".join(lines) + "\n"
    raw = tomllib.loads(text)
    assert raw["sampling"]["n"] == n == raw["uncertainty"]["draws"]
    assert raw["output"]["trajectories"] is False
    return text


def _cpu_s():
    """CPU seconds (user + system, all threads) this process has used."""
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def _peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _instrument(record):
    """Record every chunk outcome (index, task seconds, worker pid, driver time)."""
    from ldnsim.sweep import backends

    for cls in (backends.ThreadsBackend, backends.DaskBackend):
        original = cls.run

        def run(self, spec, jobs, _original=original):
            for out in _original(self, spec, jobs):
                record.append((int(out.index), float(out.seconds), int(out.pid),
                               time.perf_counter()))
                yield out

        cls.run = run


def _load_model(path, model_hash):
    """Seconds to load and compile (from the cache) a model in this process, as a task does."""
    from ldnsim.sweep.jobs import _compiled

    t = time.perf_counter()
    _compiled(path, model_hash)
    return time.perf_counter() - t


def child(args):
    """One case in this fresh process; prints a JSON line."""
    from ldnsim.experiment import load_experiment, run_experiment

    record = []
    _instrument(record)
    t0 = time.perf_counter()
    exp = load_experiment(experiment(args.rows))
    plan_s = time.perf_counter() - t0
    rss_plan = _peak_mb()
    out = {"backend": args.backend, "rows": exp.plan.n_rows, "plan_s": plan_s,
           "driver_peak_mb_after_plan": rss_plan, "load_before": os.getloadavg()}
    client = cluster = None
    if args.backend == "dask":
        from distributed import Client

        from ldnsim.cluster import local_cluster

        t = time.perf_counter()
        cluster = local_cluster(args.workers)
        client = Client(cluster)
        out["cluster_start_s"] = time.perf_counter() - t
    # The model is loaded (from the on-disk cache: compiled once, in the parent) before the
    # clock starts, in the driver or in every worker; how long that takes is reported.
    path, model_hash = str(exp.plan.model.path), exp.plan.model.hash
    if client is None:
        out["model_load_s"] = {str(os.getpid()): _load_model(path, model_hash)}
    else:
        out["model_load_s"] = {str(k): v for k, v in
                               client.run(_load_model, path, model_hash).items()}
    threads = args.threads if args.backend == "threads" else None
    cpu0 = _cpu_s()
    wcpu0 = client.run(_cpu_s) if client is not None else {}
    t = time.perf_counter()
    ds = run_experiment(exp, threads=threads, progress=False, chunk_size=args.chunk_size,
                        client=client, store=args.store)
    wall = time.perf_counter() - t
    # CPU time of the run in every process (driver and workers): what the work costs whatever
    # share of the shared machine it got; wall x cores / CPU is that share.
    cpu = _cpu_s() - cpu0
    if client is not None:
        cpu += sum(v - wcpu0.get(k, 0.0) for k, v in client.run(_cpu_s).items())
    out.update(cpu_s=cpu, cpu_ms_per_row=1000.0 * cpu / exp.plan.n_rows)
    out.update(wall_s=wall, rows_per_s=exp.plan.n_rows / wall, n_chunks=len(record),
               task_s=[r[1] for r in record], pids=sorted({r[2] for r in record}),
               first_task_s={}, driver_peak_mb=_peak_mb(), load_after=os.getloadavg(),
               n_failed=int(ds.attrs.get("n_failed", 0)))
    for _, sec, pid, _ in record:  # first task of each process (model already loaded)
        out["first_task_s"].setdefault(str(pid), sec)
    if client is not None:
        out["worker_peak_mb"] = list(client.run(_peak_mb).values())
        client.close()
        cluster.close()
    print("RESULT " + json.dumps(out))


def run_case(backend, rows, args, store=None, timeout=None):
    cmd = [sys.executable, __file__, "--child", "--backend", backend, "--rows", str(rows),
           "--threads", str(args.threads), "--workers", str(args.workers),
           "--chunk-size", str(args.chunk_size)]
    if store:
        cmd += ["--store", str(store)]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
    if line is None:
        raise RuntimeError(f"{backend} {rows}: {proc.stderr[-2000:]}")
    res = json.loads(line[7:])
    print(f"{backend:8s} rows {res['rows']:>8d}  {res['wall_s']:8.1f} s  "
          f"{res['rows_per_s']:7.1f} rows/s  {res['cpu_ms_per_row']:5.1f} CPU ms/row  "
          f"driver peak {res['driver_peak_mb']:6.0f} MB"
          + (f"  workers {', '.join(f'{m:.0f}' for m in res['worker_peak_mb'])} MB"
             if "worker_peak_mb" in res else "")
          + f"  load {res['load_before'][0]:.1f}", flush=True)
    return res


def _vmhwm_mb(pid):
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        return None
    return None


def probe_run(seconds, args, store, exp_path):
    """``ldnsim run`` of the big experiment into a store for ``seconds``, then SIGKILL
    (unless it finished): driver peak memory (VmHWM) while it ran."""
    cmd = [sys.executable, "-m", "ldnsim", "run", str(exp_path), "-o", str(store),
           "--threads", str(args.threads), "--no-progress", "--chunk-size", str(args.chunk_size)]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    peak, created = 0.0, None
    while proc.poll() is None and time.perf_counter() - t0 < seconds:
        peak = max(peak, _vmhwm_mb(proc.pid) or 0.0)
        if created is None and (store / ".zattrs").exists():
            created = time.perf_counter() - t0
        time.sleep(0.5)
    peak = max(peak, _vmhwm_mb(proc.pid) or 0.0)
    finished = proc.poll() is not None
    if not finished:
        proc.send_signal(signal.SIGKILL)
    proc.wait()
    return {"seconds": time.perf_counter() - t0, "driver_peak_mb": peak,
            "store_created_after_s": created, "finished": finished,
            "returncode": proc.returncode}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--backend", default="threads", choices=["threads", "dask"])
    p.add_argument("--rows", type=int, default=1000)
    p.add_argument("--store")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--chunk-size", type=int, default=256)
    p.add_argument("--sizes", default="1000,10000", help="row counts for both backends")
    p.add_argument("--compare-rows", type=int, default=4000,
                   help="rows of the interleaved threads/LocalCluster comparison")
    p.add_argument("--repeats", type=int, default=3, help="pairs in the comparison")
    p.add_argument("--probe-rows", type=int, default=1_000_000)
    p.add_argument("--probe-seconds", type=float, default=300.0)
    p.add_argument("--full", type=int, help="run this many rows to a store, to the end")
    p.add_argument("--full-store", help="the store of --full (default: a temporary directory); "
                                        "the same command on an existing store resumes it")
    p.add_argument("--out", default=str(RESULTS / "sweep_scale.json"))
    args = p.parse_args()
    if args.child:
        return child(args)

    import tempfile

    results = {"env": env_info(), "args": vars(args), "sizes": [], "compare": [],
               "probe": None}
    tmp = Path(tempfile.mkdtemp(prefix="ldnsim-scale-"))
    if args.full:
        store = Path(args.full_store) if args.full_store else tmp / "full.zarr"
        res = run_case("threads", args.full, args, store=store)
        results["full"] = res
        write_json(args.out.replace(".json", "_full.json"), results)
        return None
    # 1. sizes, both backends
    for rows in [int(s) for s in args.sizes.split(",") if s]:
        for backend in ("threads", "dask"):
            results["sizes"].append(run_case(backend, rows, args))
            write_json(args.out, results)
    # 2. interleaved A/B for the throughput ratio (the machine is shared: pairs, alternating)
    for i in range(args.repeats):
        order = ("threads", "dask") if i % 2 == 0 else ("dask", "threads")
        pair = {b: run_case(b, args.compare_rows, args) for b in order}
        pair["ratio_dask_over_threads"] = (pair["dask"]["rows_per_s"]
                                           / pair["threads"]["rows_per_s"])
        pair["cpu_ratio_threads_over_dask"] = (pair["threads"]["cpu_ms_per_row"]
                                               / pair["dask"]["cpu_ms_per_row"])
        results["compare"].append(pair)
        print(f"  LocalCluster({args.workers}) / threads: rows/s "
              f"{pair['ratio_dask_over_threads']:.3f}, per CPU second "
              f"{pair['cpu_ratio_threads_over_dask']:.3f}", flush=True)
        write_json(args.out, results)
    # 3. the 10^6-row plan into a store for a while, killed, resumed for a while
    if args.probe_seconds > 0:
        store = tmp / "probe.zarr"
        exp_path = tmp / "probe.toml"
        exp_path.write_text(experiment(args.probe_rows))
        first = probe_run(args.probe_seconds, args, store, exp_path)
        import numpy as np
        import zarr

        done1 = int(np.asarray(zarr.open_group(str(store), mode="r")["chunk_done"][:]).sum())
        second = probe_run(args.probe_seconds, args, store, exp_path)
        g = zarr.open_group(str(store), mode="r")
        done = np.asarray(g["chunk_done"][:])
        status = g["status"]
        chunk_rows = int(np.prod(status.chunks))
        results["probe"] = {
            "rows": args.probe_rows, "n_chunks": int(done.size), "chunk_rows": chunk_rows,
            "first": first, "second": second, "chunks_after_first": done1,
            "chunks_after_second": int(done.sum()),
            "store_bytes": sum(f.stat().st_size for f in store.rglob("*") if f.is_file()),
            "command": f"ldnsim run {exp_path} -o {store} --threads {args.threads}",
        }
        write_json(args.out, results)
        print(f"probe: {args.probe_rows} rows, {done.size} chunks; driver peak "
              f"{first['driver_peak_mb']:.0f} / {second['driver_peak_mb']:.0f} MB; chunks "
              f"done {done1} then {int(done.sum())}", flush=True)
    write_json(args.out, results)
    print(f"wrote {args.out}")
    return None


if __name__ == "__main__":
    sys.exit(main())
