"""Sweeps: a grid of doses, scenarios, parameters, samples and subjects, run in chunks of rows.

``sweep(model, t_eval, axes={"dose": [...], "scenario": [...], "CL": [...]}, ...)`` returns an
``xarray.Dataset`` with one dim per axis (plus ``sample`` and ``subject`` when given) and
``time``. It is two steps, each usable alone: :func:`plan_sweep` (:mod:`ldnsim.sweep.plan`)
flattens the grid into rows of plain arrays, and :func:`run_plan` (:mod:`ldnsim.sweep.run`)
runs them chunk by chunk and labels the result.
"""
from __future__ import annotations

from .plan import (
    MAX_RESULT_BYTES,
    PLAN_PARAMETERS,
    RESERVED_DIMS,
    SweepPlan,
    plan_sweep,
    scenario_label,
)
from .run import (
    DEFAULT_CHUNK_SIZE,
    ChunkResult,
    MetricsSpec,
    SweepWarning,
    numba_threads,
    run_chunk,
    run_plan,
)

__all__ = ["sweep", "plan_sweep", "run_plan", "run_chunk", "SweepPlan", "ChunkResult",
           "SweepWarning", "DEFAULT_CHUNK_SIZE", "MAX_RESULT_BYTES", "RESERVED_DIMS",
           "scenario_label", "numba_threads", "MetricsSpec"]


def sweep(model, t_eval, *, axes=None, mode="product", regimen=None, params=None,
          scenarios=(), samples=None, population=None, y0=None, keep=None, method="auto",
          rtol=1e-6, atol=1e-9, max_steps=100_000, threads=None, progress=None,
          chunk_size=None, attrs=None, client=None, metrics=None, trajectories=None,
          store=None, overwrite=False, regimens=None, subject_regimens=None):
    """Simulate a grid of doses, scenarios, parameter values, samples and virtual subjects.

    Parameters
    ----------
{plan_parameters}    threads, progress, chunk_size : int, bool, int, optional
        See :func:`run_plan`; none of them changes the values.
    client : distributed.Client, optional
        Run the chunks on a dask cluster (same values bit for bit).
    metrics, trajectories : optional
        Metrics computed per chunk, and which time courses to keep (see :func:`run_plan`).
    store, overwrite : path, bool, optional
        Write to (or resume) a Zarr store (see :func:`run_plan`).

    Returns
    -------
    xarray.Dataset

    Examples
    --------
    >>> ds = sweep("one_compartment_oral", np.linspace(0, 48, 97),
    ...            axes={"dose": [10, 50], "CL": [100.0, 200.0]},
    ...            regimen=Regimen.repeat(1.0, every=24.0, count=2))  # doctest: +SKIP
    """
    plan = plan_sweep(model, t_eval, axes=axes, mode=mode, regimen=regimen, params=params,
                      scenarios=scenarios, samples=samples, population=population, y0=y0,
                      keep=keep, method=method, rtol=rtol, atol=atol, max_steps=max_steps,
                      attrs=attrs, regimens=regimens, subject_regimens=subject_regimens)
    return run_plan(plan, threads=threads, progress=progress, chunk_size=chunk_size,
                    client=client, metrics=metrics, trajectories=trajectories, store=store,
                    overwrite=overwrite)


if sweep.__doc__:  # None under python -OO
    sweep.__doc__ = sweep.__doc__.replace("{plan_parameters}", PLAN_PARAMETERS)
