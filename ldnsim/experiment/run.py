"""Running a resolved experiment: the sweep, then its metrics merged into the result."""
from __future__ import annotations

from ldnsim.errors import ConfigError
from ldnsim.results import provenance
from ldnsim.sweep import run_plan

from .finish import METRIC_PREFIX, finish, uncertainty_summaries
from .load import load_experiment

__all__ = ["run_experiment", "metrics_of", "uncertainty_summaries", "METRIC_PREFIX"]



def run_experiment(source, *, threads=None, progress=None, chunk_size=None, client=None,
                   store=None, overwrite=False):
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
    client : distributed.Client, optional
        Run the chunks on a dask cluster (results do not depend on it).
    store : str or os.PathLike, optional
        Write the result chunk by chunk into a Zarr store, or resume the store of the same
        run (see :func:`ldnsim.sweep.run_plan`).
    overwrite : bool
        Start the store afresh instead of resuming it.

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
    if not exp.config.output.trajectories or client is not None or store is not None:
        if exp.config.observation is not None:
            raise ConfigError(f"{exp.where}: [observation] adds noise to the assembled result "
                              "in memory; it cannot be combined with a store or a dask client "
                              "yet (run without them, or add the noise afterwards with "
                              "ldnsim.observation.add_observations)")
        return _run_chunked(exp, threads=threads, progress=progress, chunk_size=chunk_size,
                            client=client, store=store, overwrite=overwrite)
    ds = run_plan(exp.plan, threads=threads, progress=progress, chunk_size=chunk_size)
    return finish(exp, ds)


def _kept(exp) -> tuple:
    if not exp.config.output.trajectories:
        return ()
    return tuple(exp.config.output.variables or exp.plan.model.output_names
                 or exp.plan.model.state_names)


def _run_chunked(exp, **kw):
    """Metrics computed per chunk where its rows were solved (equal to the metrics of the
    whole result); on a dask client and/or into a Zarr store. Summaries over parameter draws
    (which need every draw) are added to the returned result afterwards."""
    cfg = exp.config.metrics
    metrics = (tuple(cfg.names), cfg.options()) if cfg is not None else None
    ds = run_plan(exp.plan, metrics=metrics, trajectories=_kept(exp), **kw)
    if "draw" in ds.dims or "sample" in ds.dims:
        names = [v for v in ds.data_vars if str(v).startswith(METRIC_PREFIX)]
        summaries = uncertainty_summaries(ds[names])
        ds = ds.assign({k: v for k, v in summaries.data_vars.items() if k not in names})
    return ds


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
