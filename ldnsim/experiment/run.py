"""Running a resolved experiment: the sweep, then its metrics merged into the result."""
from __future__ import annotations

from ldnsim.results import provenance
from ldnsim.sweep import run_plan

from .finish import METRIC_PREFIX, finish
from .load import load_experiment

__all__ = ["run_experiment", "metrics_of", "METRIC_PREFIX"]

def run_experiment(source, *, threads=None, progress=None, chunk_size=None):
    """Run an experiment and return its result with the metrics merged in.

    Parameters
    ----------
    source : path, shipped experiment name, TOML text, dict or Experiment
    threads : int, optional
        numba threads (results do not depend on it).
    progress : bool or None
        Progress bar: True always, False never, None on a terminal for long runs.
    chunk_size : int, optional
        Rows per chunk (results do not depend on it).

    Returns
    -------
    xarray.Dataset
        Variables over ``(*sweep dims, "time")``, ``status``, metric variables prefixed
        ``metric_`` (see :func:`metrics_of`), provenance attributes (``experiment`` text,
        ``experiment_config``, ``model_hash``, seeds, versions, ``n_failed``, ``failures``).
        Failed rows are NaN and counted. Metric options are checked before anything is solved
        (:func:`ldnsim.experiment.finish.rehearse`); should a metric still fail on the result,
        it is left out with a warning (and ``metrics_error`` in attrs) instead of losing the
        run.

    Raises
    ------
    ConfigError
        The experiment is invalid (nothing has been run).
    """
    exp = load_experiment(source, resolve=True)
    ds = run_plan(exp.plan, threads=threads, progress=progress, chunk_size=chunk_size)
    return finish(exp, ds)


def metrics_of(ds):
    """The metrics of a result as their own Dataset: ``metric_`` prefixes removed, attrs of
    every metric (e.g. ``max_blockade_hours``, ``window_definition``) restored.

    Returns an empty Dataset when the result has no metrics.
    """
    names = [v for v in ds.data_vars if str(v).startswith(METRIC_PREFIX)]
    out = ds[names].rename({v: str(v)[len(METRIC_PREFIX):] for v in names})
    attrs = {}
    for a in (provenance(ds).get("metric_attrs") or {}).values():
        attrs.update(a)
    out.attrs = attrs
    return out
