"""The window plot's data: an experiment with parameter samples and a population, run once
and cached.

The experiment (by default ``experiments/app_window.toml``) sweeps daily doses and scenario
combinations over Latin-hypercube samples of the hypothesis parameters and virtual subjects,
and computes ``window_summary``, as the headline experiment does. This module reduces its
result to a small table, per scenario combination and dose: P(window open) (the share of
parameter samples whose subjects are in the window), the share of samples whose immune
readout is dampened by the window's margin (ignoring blockade), and quantiles across samples
of the immune readout and of the hours of blockade (each sample's value: the median over its
subjects). An experiment without samples is summarised across its subjects instead (the
table's ``across`` says which). The table is stored as JSON in the ldnsim cache directory,
keyed on the experiment text and the model hash, so a change to either recomputes it and
nothing else does.

The web layer runs the computation in a separate process (``python -m ldnsim.app.window
EXPERIMENT``), because the solver holds the interpreter lock and the page must stay served
while it runs; :class:`WindowProvider` does that and reports its state.

Pure logic: no web framework is imported here.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import subprocess
import sys
import threading
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .._files import atomic_write_text
from .._text import one_line
from ..errors import ConfigError, LdnsimError
from . import content as C

__all__ = ["WindowTable", "window_key", "window_cache_path", "compute_window",
           "summarise_window", "cached_window", "ensure_window", "WindowProvider"]

FORMAT_VERSION = 2


@dataclass(frozen=True)
class WindowTable:
    """Per scenario combination and dose, across parameter samples (or subjects).

    ``p_open[c][d]`` is P(window open) for combination ``combos[c]`` at dose ``doses[d]``:
    the share of the units counted (``across``: ``"sample"``, ``"subject"``, or ``""`` for a
    single run) that are in the window; ``p_immune[c][d]`` the share whose immune readout is
    dampened by ``immune_margin`` or more, ignoring the blockade criterion.
    ``immune[c][q][d]`` and ``blockade[c][q][d]`` are the quantiles ``quantiles[q]`` of the
    final immune readout and of the daily hours of blockade across the same units (a sample's
    value is the median over its subjects). ``combos`` are full scenario tuples (the
    experiment's base scenarios included) and ``params`` the experiment's parameter
    overrides, so a combination can be compared with the explorer's choice by its parameter
    values; ``sampled`` names the sampled parameters.
    """

    key: str
    experiment: str
    description: str
    model: str
    model_hash: str
    doses: tuple
    combos: tuple
    params: dict
    across: str
    n_samples: int
    n_subjects: int
    sampled: tuple
    quantiles: tuple
    p_open: tuple
    p_immune: tuple
    immune: tuple
    blockade: tuple
    immune_var: str
    occupancy_var: str
    definition: str
    max_blockade_hours: float
    immune_margin: float
    threshold: float
    days: float

    def to_json(self):
        return json.dumps({"format": FORMAT_VERSION, **asdict(self)})

    @classmethod
    def from_json(cls, text):
        data = json.loads(text)
        if data.pop("format", None) != FORMAT_VERSION:
            raise ValueError("window cache file of another format")
        data["combos"] = tuple(tuple(c) for c in data["combos"])
        for k in ("doses", "quantiles", "sampled"):
            data[k] = tuple(data[k])
        for k in ("p_open", "p_immune", "immune", "blockade"):
            data[k] = _tuples(data[k])
        return cls(**data)

    def label(self, c):
        return " + ".join(self.combos[c]) or "model defaults"

    @property
    def n_units(self):
        """Units P(window open) counts: samples, subjects, or 1."""
        return {"sample": self.n_samples, "subject": self.n_subjects}.get(self.across, 1)

    def find(self, model, scenarios):
        """Index of the combination whose parameters equal ``scenarios`` on ``model``, or None.

        Scenarios that change nothing (e.g. one restating a default) do not prevent a match.
        """
        try:
            want = model.parameter_vector(self.params, tuple(scenarios))
        except LdnsimError:
            return None
        for c, combo in enumerate(self.combos):
            try:
                have = model.parameter_vector(self.params, combo)
            except LdnsimError:
                continue
            if np.array_equal(want, have):
                return c
        return None

    def at_dose(self, c, dose):
        """The rows of combination ``c`` for ``dose``: the row of that dose when the experiment
        ran it, else the rows of the two doses it ran on either side (nothing is
        interpolated); an empty list outside the doses run.

        Returns
        -------
        list of dict, each with ``dose``, ``p_open``, ``p_immune``, ``immune`` and
        ``blockade`` (one value per quantile).
        """
        doses = np.asarray(self.doses, dtype=float)
        if not doses[0] <= dose <= doses[-1]:
            return []
        exact = np.flatnonzero(np.isclose(doses, dose, rtol=1e-12, atol=0.0))
        if exact.size:
            index = [int(exact[0])]
        else:
            hi = int(np.searchsorted(doses, dose))
            index = [hi - 1, hi]
        return [{"dose": float(doses[d]), "p_open": float(self.p_open[c][d]),
                 "p_immune": float(self.p_immune[c][d]),
                 "immune": tuple(float(r[d]) for r in self.immune[c]),
                 "blockade": tuple(float(r[d]) for r in self.blockade[c])} for d in index]


def _tuples(x):
    return tuple(_tuples(v) for v in x) if isinstance(x, (list, tuple)) else x


def _load(source):
    from ..experiment import load_experiment
    exp = load_experiment(source, resolve=True)
    if exp.text is None:
        raise ConfigError(f"{exp.where}: the window experiment must be a file or TOML text "
                          "(its text is the cache key)")
    return exp


def window_key(exp):
    """Hex key of an experiment's text and its model's hash."""
    h = hashlib.sha256()
    h.update(exp.text.encode("utf-8"))
    h.update(b"\0")
    h.update(exp.plan.model.hash.encode("ascii"))
    h.update(f"\0{FORMAT_VERSION}\0{C.WINDOW_QUANTILES}".encode("ascii"))
    return h.hexdigest()


def window_cache_path(exp, cache_dir=None):
    """``<ldnsim cache dir>/app/window-<name>-<key>.json`` for a loaded experiment."""
    from ..model.compiled import cache_dir as default_cache_dir
    base = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    return base / "app" / f"window-{exp.name}-{window_key(exp)[:24]}.json"


def compute_window(source, *, threads=None):
    """Run the window experiment and reduce it to a :class:`WindowTable`.

    Raises
    ------
    ConfigError
        The experiment cannot give a window table (no ``window_summary`` metric, no dose
        sweep, or a sweep over something else than dose and scenario).
    """
    from ..experiment import run_experiment

    exp = _load(source)
    cfg = exp.config
    if cfg.metrics is None or "window_summary" not in cfg.metrics.names:
        raise ConfigError(f"{exp.where}: the window experiment needs the window_summary metric")
    if cfg.sweep is None or cfg.sweep.dose is None:
        raise ConfigError(f"{exp.where}: the window experiment needs a dose sweep")
    ds = run_experiment(exp, threads=threads, progress=False)
    return summarise_window(ds, exp)


_DIMS = ("dose", "scenario", "sample", "subject", "time")


def summarise_window(ds, exp):
    """The :class:`WindowTable` of a result ``ds`` of the window experiment ``exp``.

    With a ``sample`` dim, the units counted are the samples, each summarised over its
    subjects by ``window_summary`` exactly as the experiment's own metric does (in the window
    when at least ``min_fraction`` of its subjects are); without one, the subjects.
    """
    from ..metrics import window_summary

    cfg = exp.config
    extra = [d for d in ds.dims if d not in _DIMS]
    if extra:
        raise ConfigError(f"{exp.where}: the window experiment may sweep dose and scenario "
                          f"only (with samples and subjects), not {', '.join(extra)}")
    opts = dict(cfg.metrics.options().get("window_summary") or {})
    across = "sample" if "sample" in ds.dims else ("subject" if "subject" in ds.dims else "")
    opts.update(signal_var=None, proliferation_var=None,
                subject_dim="subject" if across == "sample" else None)
    per = window_summary(ds, **opts)
    dampened = window_summary(ds, **{**opts, "max_blockade_hours": math.inf})["in_window"]
    immune_var = opts.get("immune_var", "immune_index")
    occupancy_var = opts.get("occupancy_var", "occupancy_mor_drug")
    base = tuple(cfg.model.scenarios)
    if "scenario" in ds.dims:
        labels = [str(s) for s in ds["scenario"].values]
        combos = tuple(base + tuple(s.split("+")) for s in labels)
    else:
        labels, combos = [None], (base,)
    n_dose = ds.sizes["dose"]
    q = np.asarray(C.WINDOW_QUANTILES)

    def units(da, lab):
        """(dose, unit) array of ``da`` for the scenario ``lab``."""
        x = da if lab is None else da.sel(scenario=lab)
        return x.transpose("dose", ...).values.reshape(n_dose, -1)

    def share(da):
        with np.errstate(all="ignore"):
            return [np.nanmean(units(da, lab), axis=1).tolist() for lab in labels]

    def quantiles(da):
        with np.errstate(all="ignore"):
            return [np.nanquantile(units(da, lab), q, axis=1).tolist() for lab in labels]

    attrs = per.attrs
    return WindowTable(
        key=window_key(exp), experiment=exp.name, description=cfg.experiment.description,
        model=exp.plan.model.name, model_hash=exp.plan.model.hash,
        doses=tuple(float(d) for d in ds["dose"].values), combos=combos,
        params=dict(cfg.model.params), across=across,
        n_samples=int(ds.sizes.get("sample", 0)), n_subjects=int(ds.sizes.get("subject", 1)),
        sampled=tuple(cfg.sampling.ranges) if cfg.sampling is not None else (),
        quantiles=tuple(float(v) for v in q),
        p_open=_tuples(share(per["in_window"])), p_immune=_tuples(share(dampened)),
        immune=_tuples(quantiles(per[f"{immune_var}_end"])),
        blockade=_tuples(quantiles(per["blockade_hours"])),
        immune_var=immune_var, occupancy_var=occupancy_var,
        definition=str(attrs.get("window_definition", "")),
        max_blockade_hours=float(attrs.get("max_blockade_hours", math.nan)),
        immune_margin=float(attrs.get("immune_margin", math.nan)),
        threshold=float(attrs.get("threshold", math.nan)),
        days=float(cfg.regimen.days or 0.0) if cfg.regimen is not None else 0.0)


def cached_window(source, cache_dir=None):
    """The cached table for ``source``, or None when there is none (or it is unreadable)."""
    exp = _load(source)
    path = window_cache_path(exp, cache_dir)
    try:
        return WindowTable.from_json(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, TypeError, KeyError):
        return None


def ensure_window(source, cache_dir=None, *, threads=None):
    """The cached table, computed and stored first if there is none.

    Returns
    -------
    (WindowTable, Path, bool) : the table, its cache file, and whether it was computed now.
    """
    exp = _load(source)
    path = window_cache_path(exp, cache_dir)
    table = cached_window(exp, cache_dir)
    if table is not None:
        return table, path, False
    table = compute_window(exp, threads=threads)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, table.to_json())
    return table, path, True


class WindowProvider:
    """Makes the window table available to the app without blocking it.

    ``state`` is ``"computing"``, ``"ready"`` (``table`` is set) or ``"failed"`` (``message``
    says why, in one line). A cached table is read at once; otherwise a child process
    computes it (at lower CPU priority, so the page stays responsive) and a thread waits for
    it.

    Parameters
    ----------
    source : str or Path
        The window experiment (shipped name or path).
    cache_dir : path, optional
        Defaults to the ldnsim cache directory.
    """

    def __init__(self, source=C.WINDOW_EXPERIMENT, cache_dir=None):
        self.source = str(source)
        self.cache_dir = cache_dir
        self.state = "computing"
        self.table = None
        self.message = ""
        self.path = None
        self._lock = threading.Lock()
        self._thread = None
        self._proc = None

    def start(self):
        """Read the cache, or start computing; returns self."""
        try:
            exp = _load(self.source)
            self.path = window_cache_path(exp, self.cache_dir)
            table = cached_window(self.source, self.cache_dir)
        except LdnsimError as exc:
            self._set("failed", message=one_line(exc))
            return self
        if table is not None:
            self._set("ready", table=table)
            return self
        self._thread = threading.Thread(target=self._compute, name="ldnsim-app-window",
                                        daemon=True)
        self._thread.start()
        return self

    def _set(self, state, table=None, message=""):
        with self._lock:  # state last: a reader that sees "ready" finds the table set
            self.table, self.message = table, message
            self.state = state

    def _compute(self):
        env = dict(os.environ)
        if self.cache_dir is not None:
            env["LDNSIM_CACHE_DIR"] = str(self.cache_dir)
        cmd = [sys.executable, "-m", "ldnsim.app.window", self.source]
        try:
            self._proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE,
                                          stderr=subprocess.PIPE, text=True,
                                          preexec_fn=_lower_priority if os.name == "posix"
                                          else None)
            out, err = self._proc.communicate()
        except OSError as exc:
            self._set("failed", message=f"could not start the computation: {exc}")
            return
        if self._proc.returncode != 0:
            lines = [ln for ln in (err or "").splitlines() if ln.strip()]
            self._set("failed", message=(lines[-1] if lines else
                                         f"exit status {self._proc.returncode}"))
            return
        table = cached_window(self.source, self.cache_dir)
        if table is None:
            self._set("failed", message="the computation finished but wrote no table")
        else:
            self._set("ready", table=table)

    def wait(self, timeout=None):
        """Wait for the computation (tests); returns the state."""
        if self._thread is not None:
            self._thread.join(timeout)
        return self.state

    def stop(self):
        """End the child process, if one is running."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


def _lower_priority():  # pragma: no cover - runs in the child
    try:
        os.nice(10)
    except OSError:
        pass


def main(argv=None):
    """``python -m ldnsim.app.window EXPERIMENT [--threads N]``: compute and cache the table."""
    import argparse

    p = argparse.ArgumentParser(prog="python -m ldnsim.app.window")
    p.add_argument("experiment")
    p.add_argument("--threads", type=int)
    args = p.parse_args(argv)
    try:
        table, path, computed = ensure_window(args.experiment, threads=args.threads)
    except LdnsimError as exc:
        print(f"window experiment: {one_line(exc)}", file=sys.stderr)
        return 2
    print(f"{'wrote' if computed else 'cached'} {path}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
