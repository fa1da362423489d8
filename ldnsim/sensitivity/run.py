"""Running a sensitivity experiment: its design as the sweep's samples, metrics per chunk, the
indices per output, dose and scenario."""
from __future__ import annotations

import time
from dataclasses import dataclass

import xarray as xr

from ldnsim.errors import ConfigError
from ldnsim.experiment import load_experiment, metrics_of, run_experiment
from ldnsim.results import provenance

from .analysis import analyse
from .design import Design, sensitivity_design

__all__ = ["run_sensitivity", "SensitivityResult", "design_of"]


@dataclass(frozen=True, eq=False)
class SensitivityResult:
    """``indices`` (see :func:`ldnsim.sensitivity.analyse`), the run's ``metrics`` (over the
    sweep dims, ``sample`` following the design's rows) and the ``design``."""

    indices: xr.Dataset
    metrics: xr.Dataset
    design: Design


def design_of(exp) -> Design:
    """The design of a resolved experiment's ``[sensitivity]`` section (its seed as used)."""
    s = exp.config.sensitivity
    if s is None:
        raise ConfigError(f"{exp.where}: no [sensitivity] section (ranges, n, outputs)")
    return sensitivity_design(s.method, s.n, s.ranges, log=s.log_names(),
                              seed=(exp.seeds or {}).get("sampling"),
                              second_order=s.second_order, levels=s.levels, normal=s.normal,
                              lognormal=s.lognormal)


def run_sensitivity(source, *, threads=None, progress=None, chunk_size=None, client=None,
                    store=None, overwrite=False) -> SensitivityResult:
    """Run a sensitivity experiment and analyse it.

    Parameters
    ----------
    source : path, shipped experiment name, TOML text, dict or Experiment
        An experiment with ``[sensitivity]`` and ``[metrics]``.
    threads, progress, chunk_size, client, store, overwrite
        As for :func:`ldnsim.experiment.run_experiment` (the run keeps only metrics when the
        experiment says ``[output] trajectories = false``).

    Returns
    -------
    SensitivityResult

    Raises
    ------
    ConfigError
        The experiment has no ``[sensitivity]`` section or is invalid.
    """
    exp = load_experiment(source, resolve=True)
    design = design_of(exp)
    s = exp.config.sensitivity
    assert s is not None and exp.plan is not None  # design_of checked the section
    t0 = time.perf_counter()
    ds = run_experiment(exp, threads=threads, progress=progress, chunk_size=chunk_size,
                        client=client, store=store, overwrite=overwrite)
    run_seconds = time.perf_counter() - t0
    metrics = metrics_of(ds).load()
    t1 = time.perf_counter()
    indices = analyse(design, metrics, s.outputs, resamples=s.resamples,
                      confidence=s.confidence, seed=design.seed)
    info = provenance(ds)
    indices.attrs.update({
        "experiment_name": exp.name, "model": str(info.get("model", "")),
        "model_hash": str(info.get("model_hash", "")), "n_rows": int(exp.plan.n_rows),
        "n_failed_rows": int(info.get("n_failed", 0)),
        "run_seconds": round(run_seconds, 3),
        "analysis_seconds": round(time.perf_counter() - t1, 3),
        "ldnsim_version": str(info.get("ldnsim_version", "")),
    })
    return SensitivityResult(indices, metrics, design)
