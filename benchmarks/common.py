"""Shared helpers for the benchmark scripts: timing, accuracy, environment, JSON, tables.

Timing on a shared, noisy machine
---------------------------------
:func:`run_interleaved` times several *cases* (one callable each, e.g. "ldnsim on 1 thread",
"numbalsoda") round-robin: repeat 1 runs every case once, repeat 2 runs them all again in a
rotated order, and so on. Every case therefore sees the same background load on average, and
the ratio of two medians is much steadier than either absolute number. Each case is called
once before timing (compilation, caches) and that first-call time is kept separately.

Accuracy
--------
Errors are measured against a tight reference trajectory of the *same* ensemble member (see
``ensembles.py`` for how the reference is made and cross-checked). Three numbers:

* ``mescd_end``: the Test Set's mixed significant correct digits at the final time,
  ``min_i -log10(|y_i - ref_i| / (atol/rtol + |ref_i|))`` with the run's own rtol/atol,
  worst member (higher is better);
* ``mescd_all``: the same over all output times and states, worst member;
* ``max_rel``: the largest plain relative error ``|y - ref| / |ref|`` over all outputs,
  states and members whose reference is above ``1000 * atol`` (smaller entries are judged by
  ``mescd`` only; their relative error is meaningless).
"""
from __future__ import annotations

import argparse
import datetime as _dt
import json
import math
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results"

# Benchmark this checkout's ldnsim, whatever else is installed.
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


# ---------------------------------------------------------------------------- timing
@dataclass
class Case:
    """One timed configuration: ``fn()`` runs the whole job and returns its result."""

    name: str
    fn: Callable[[], object]
    repeats: int = 5
    members: int = 1           # ensemble members one call solves (for time per member)
    setup: Callable[[], None] | None = None   # run before each call, untimed (threads ...)
    meta: dict = field(default_factory=dict)
    # filled in by run_interleaved
    first: float = math.nan
    times: list = field(default_factory=list)
    result: object = None

    @property
    def median(self) -> float:
        return float(np.median(self.times)) if self.times else math.nan

    @property
    def per_member(self) -> float:
        """Median seconds per ensemble member."""
        return self.median / self.members


def _call(case: Case) -> float:
    if case.setup is not None:
        case.setup()
    t0 = time.perf_counter()
    case.result = case.fn()
    return time.perf_counter() - t0


def run_interleaved(cases: list[Case], *, verbose: bool = True) -> list[Case]:
    """Warm every case up once, then time them round-robin (rotated order each repeat)."""
    for c in cases:
        c.first = _call(c)
        if verbose:
            print(f"    first call {c.name:<34s} {c.first:9.3f} s", flush=True)
    n_rep = max(c.repeats for c in cases)
    for r in range(n_rep):
        order = cases[r % len(cases):] + cases[:r % len(cases)]
        for c in order:
            if r < c.repeats:
                c.times.append(_call(c))
        if verbose:
            print(f"    repeat {r + 1}/{n_rep} done", flush=True)
    return cases


def cpu_ceiling_cases(repeats, seconds=0.25):
    """Two calibration cases, the same pure-arithmetic prange loop on 1 and on 2 threads.

    Their time ratio, measured interleaved with the real cases, is the 2-thread speed-up the
    machine could give at that moment (2.0 on two idle cores; ~1.0 when another process
    holds one of them). Read the solvers' 2t/1t against it.
    """
    import numba

    n_iter = int(seconds * 4e8 / 200)

    def setter(k):
        return lambda: numba.set_num_threads(k)

    _burn(4, 10)
    return [Case(f"cpu ceiling {k}t", lambda: _burn(200, n_iter), repeats=repeats,
                 setup=setter(k), meta=dict(solver="calibration", threads=k))
            for k in (1, 2)]


def split_ceiling(cases):
    """Separate the :func:`cpu_ceiling_cases` from the solver cases after a run.

    Returns ``(solver cases, ceiling)``: ``ceiling`` is None when none were run, else the
    2t/1t ratios ``{"median", "best", "per_repeat"}``, which are also printed.
    """
    calib = {c.name: c for c in cases if c.meta.get("solver") == "calibration"}
    cases = [c for c in cases if c.meta.get("solver") != "calibration"]
    if not calib:
        return cases, None
    c1, c2 = calib["cpu ceiling 1t"], calib["cpu ceiling 2t"]
    ceiling = {"median": c1.median / c2.median, "best": min(c1.times) / min(c2.times),
               "per_repeat": [a / b for a, b in zip(c1.times, c2.times)]}
    print(f"  cpu ceiling (pure-arithmetic prange loop) 2t/1t: median {ceiling['median']:.2f}x,"
          f" best-of {ceiling['best']:.2f}x; per repeat "
          + " ".join(f"{x:.2f}" for x in ceiling["per_repeat"]))
    return cases, ceiling


def run_with_ceiling(cases, repeats, threads):
    """:func:`run_interleaved` with the 1- and 2-thread calibration cases mixed in (when 2
    threads are available); returns (the timed cases, the ceiling summary or None)."""
    if threads >= 2:
        cases = cases + cpu_ceiling_cases(repeats)
    run_interleaved(cases)
    return split_ceiling(cases)


def timing_row(case):
    """The timing fields of one result row (times per member in ms, first call in s)."""
    return {"name": case.name, **case.meta, "members_timed": case.members,
            "ms_per_member": 1e3 * case.per_member,
            "ms_per_member_min": 1e3 * min(case.times) / case.members,
            "first_call_s": case.first, "times_s": case.times}


def _make_burn():
    from numba import njit, prange

    @njit(parallel=True)
    def burn(n, iters):
        out = np.empty(n)
        for i in prange(n):
            x = 1.0 + i * 1e-9
            for _ in range(iters):
                x = x * 1.0000001 + 1e-7
                x = x - 0.5 * x * 1e-7
            out[i] = x
        return out

    return burn


_burn = _make_burn()


# ---------------------------------------------------------------------------- accuracy
def accuracy(y, ref, rtol, atol, rel_floor=1e3):
    """Errors of ``y`` against ``ref``, both (r, m, n); see the module docstring."""
    y = np.asarray(y, float)
    ref = np.asarray(ref, float)
    if y.shape != ref.shape:
        raise ValueError(f"shape mismatch {y.shape} vs {ref.shape}")
    finite = bool(np.all(np.isfinite(y)))
    scale = atol / rtol + np.abs(ref)
    err = np.abs(y - ref)
    with np.errstate(divide="ignore", invalid="ignore"):
        mixed = err / scale
        d_end = -np.log10(np.max(mixed[:, -1, :], axis=-1))        # per member
        d_all = -np.log10(np.max(mixed.reshape(len(y), -1), axis=-1))
        big = np.abs(ref) > rel_floor * atol
        rel = np.where(big, err / np.where(big, np.abs(ref), 1.0), 0.0)
    d_end = np.where(np.isnan(d_end), -np.inf, d_end)
    d_all = np.where(np.isnan(d_all), -np.inf, d_all)
    return {
        "mescd_end": float(np.min(d_end)),
        "mescd_all": float(np.min(d_all)),
        "max_rel": float(np.nanmax(rel)) if finite else math.inf,
        "all_finite": finite,
    }


def matched_accuracy(ours, peers):
    """Our time at each peer point's accuracy: ``[(peer point, our ms per member, how)]``.

    Points are dicts with ``mescd_all`` and ``ms_per_member``. Inside our sweep our time is
    interpolated, log time linear in digits (``how = "interpolated"``; our digits must rise
    strictly once sorted, else nothing is matched). A peer point *below* our least accurate
    point gets, as a bound, the time of our fastest point that is at least as accurate (``how
    = "ours more accurate (D digits)"``): we did at least that well, in that time. Peer points
    above our sweep are not matched. Points without finite digits (a member failed, or erred
    by inf) take no part, ours or the peer's.
    """
    def finite(x):
        return isinstance(x, (int, float)) and math.isfinite(x)

    ours = [p for p in ours if finite(p["mescd_all"])]
    peers = [q for q in peers if finite(q["mescd_all"])]
    if not ours:
        return []
    L = sorted(ours, key=lambda p: p["mescd_all"])
    d = np.array([p["mescd_all"] for p in L])
    lt = np.log([p["ms_per_member"] for p in L])
    if not np.all(np.diff(d) > 0):
        return []
    out = []
    for q in peers:
        if d[0] <= q["mescd_all"] <= d[-1]:
            out.append((q, float(np.exp(np.interp(q["mescd_all"], d, lt))), "interpolated"))
        elif q["mescd_all"] < d[0]:
            best = min(L, key=lambda p: p["ms_per_member"])  # every point of ours is above q
            out.append((q, float(best["ms_per_member"]),
                        f"ours more accurate ({best['mescd_all']:.2f} digits)"))
    return out


def mescd(y, ref, rtol, atol):
    """Test Set mixed significant correct digits of one state vector."""
    y, ref = np.asarray(y, float), np.asarray(ref, float)
    return float(np.min(-np.log10(np.abs(y - ref) / (atol / rtol + np.abs(ref)))))


# ---------------------------------------------------------------------------- environment
def _version(dist):
    try:
        from importlib.metadata import version
        return version(dist)
    except Exception:
        return None


def _cpu_model():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _git(*args):
    try:
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True,
                              timeout=10).stdout.strip()
    except Exception:
        return None


def git_archive(commit, dest, paths=()) -> Path:
    """Extract ``commit`` of this repository (or only ``paths`` of it) into ``dest``, over
    whatever is there (``git archive | tar -x``): the trees that A/B scripts compare."""
    dest = Path(dest)
    data = subprocess.run(["git", "-C", str(REPO), "archive", commit, *paths],
                          check=True, capture_output=True).stdout
    dest.mkdir(parents=True, exist_ok=True)
    subprocess.run(["tar", "-x", "-C", str(dest)], input=data, check=True)
    return dest


def rewrite_exactly(path, pattern, replacement, count, flags=0):
    """``re.subn`` in the file ``path``, which must match exactly ``count`` times: a tree
    patched for a comparison stops the script when the code it patches has moved, instead of
    silently measuring something else."""
    import re
    path = Path(path)
    text, n = re.subn(pattern, replacement, path.read_text(), flags=flags)
    if n != count:
        raise SystemExit(f"{path}: {pattern!r} matched {n} times, expected {count} (the code "
                         "it patches has moved)")
    path.write_text(text)


def env_info() -> dict:
    """Machine, thread and version facts to store next to every result."""
    import numba

    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:
        affinity = os.cpu_count()
    try:
        layer = numba.threading_layer()
    except ValueError:  # no parallel region has run yet
        layer = None
    try:
        load = os.getloadavg()
    except OSError:
        load = None
    status = _git("status", "--porcelain", "--", "ldnsim")
    return {
        "date": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "host": platform.node(),
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": affinity,
        "loadavg_1_5_15": load,
        "numba_num_threads": numba.config.NUMBA_NUM_THREADS,
        "numba_threading_layer": layer,
        "python": sys.version.split()[0],
        "versions": {d: _version(d) for d in ("numpy", "scipy", "numba", "llvmlite",
                                               "numbalsoda", "libroadrunner", "antimony",
                                               "jax", "diffrax")},
        "ldnsim_commit": _git("rev-parse", "--short", "HEAD"),
        "ldnsim_dirty": bool(status) if status is not None else None,
    }


def print_env(env: dict) -> None:
    v = {k: x for k, x in env["versions"].items() if x}
    print(f"# {env['date']}  {env['cpu']}  {env['cpus_usable']} usable CPUs  "
          f"numba threads {env['numba_num_threads']} ({env['numba_threading_layer']})  "
          f"load {env['loadavg_1_5_15']}")
    print(f"# python {env['python']}  " + "  ".join(f"{k} {x}" for k, x in v.items())
          + f"  ldnsim {env['ldnsim_commit']}{' (dirty)' if env['ldnsim_dirty'] else ''}")


# ---------------------------------------------------------------------------- output
def _jsonable(o):
    if isinstance(o, dict):
        return {str(k): _jsonable(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_jsonable(v) for v in o]
    if isinstance(o, np.ndarray):
        return _jsonable(o.tolist())
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating, float)):
        f = float(o)
        return f if math.isfinite(f) else str(f)   # JSON has no inf/nan
    if isinstance(o, (np.bool_,)):
        return bool(o)
    return o


def write_json(path, obj) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(_jsonable(obj), indent=1) + "\n")
    return path


def fmt(x, spec=".3g"):
    if x is None:
        return "-"
    if isinstance(x, str):
        return x
    if isinstance(x, float) and not math.isfinite(x):
        return str(x)
    return format(x, spec)


RESULT_COLUMNS = [
    ("name", "solver", None), ("threads", "thr", "d"), ("members_timed", "N", "d"),
    ("ms_per_member", "ms/member", ".4g"), ("first_call_s", "1st call s", ".3g"),
    ("mescd_end", "mescd end", ".2f"), ("mescd_all", "mescd all", ".2f"),
    ("max_rel", "max rel err", ".1e"), ("steps", "steps", ".0f"),
    ("rhs", "rhs", ".0f"), ("jac", "jac", ".0f")]
"""The columns of a solver-results table (a row from :func:`timing_row` plus accuracy and
counts); each script appends its ratio columns."""


def print_table(rows: list[dict], columns: list[tuple[str, str, str]], title: str = "") -> str:
    """Print ``rows`` as a Markdown table; ``columns`` = [(key, header, format spec)]."""
    cells = [[h for _, h, _ in columns]]
    for r in rows:
        cells.append([fmt(r.get(k), spec) if spec else str(r.get(k, "-"))
                      for k, _, spec in columns])
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    lines = []
    if title:
        lines.append(title)
    lines.append("| " + " | ".join(c.ljust(w) for c, w in zip(cells[0], widths)) + " |")
    lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in cells[1:]:
        lines.append("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths)) + " |")
    text = "\n".join(lines)
    print(text, flush=True)
    return text


# ---------------------------------------------------------------------------- command line
def ensemble_parser(description, *, members, repeats, scipy_members, rr_members, ref_check,
                    wp_members, wp_rtols, out_name, helps=None):
    """The options every ensemble benchmark takes (``--members``, ``--quick``, ``--repeats``,
    peer member counts, the reference check, the work-precision sweep, ``--seed``, ``--out``),
    with the script's own defaults; ``helps`` overrides help texts by option name."""
    h = {"quick": "smoke test (fewer members and repeats)",
         "repeats": "timed repeats per fast case (scipy and libroadrunner get 2 fewer)",
         "scipy_members": "members solved with scipy (time is reported per member)",
         "rr_members": "members solved with libroadrunner (0 skips)",
         "ref_check": "members on which the reference is cross-checked with the peers",
         "wp_members": "members for the work-precision sweep (0 skips)"}
    h.update(helps or {})
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--members", type=int, default=members)
    ap.add_argument("--quick", action="store_true", help=h["quick"])
    ap.add_argument("--repeats", type=int, default=repeats, help=h["repeats"])
    ap.add_argument("--scipy-members", type=int, default=scipy_members, help=h["scipy_members"])
    ap.add_argument("--rr-members", type=int, default=rr_members, help=h["rr_members"])
    ap.add_argument("--ref-check", type=int, default=ref_check, help=h["ref_check"])
    ap.add_argument("--wp-members", type=int, default=wp_members, help=h["wp_members"])
    ap.add_argument("--wp-rtols", default=wp_rtols)
    ap.add_argument("--wp-repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=20240601)
    ap.add_argument("--out", default=str(RESULTS / out_name))
    return ap


def apply_quick(args, **caps):
    """With ``--quick``: cap each numeric option at its value in ``caps``; string options
    (tolerance lists) are replaced."""
    if args.quick:
        for name, cap in caps.items():
            setattr(args, name, cap if isinstance(cap, str) else min(getattr(args, name), cap))
    return args
