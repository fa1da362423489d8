"""Run a compiled model: rows of parameters -> states and outputs; ``simulate`` for one row.

``run_rows`` is the one code path that ``simulate`` and the sweep engine share: it takes
arrays (parameter rows, initial states, event tables) and returns arrays, so chunks of a sweep
can run in-process on numba threads or be shipped to dask workers unchanged.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import solver
from .dosing import Regimen
from .errors import SolverError
from .events import pad_event_tables
from .model import load_model
from .results import make_dataset, provenance_attrs

__all__ = ["simulate", "run_rows", "RowResult"]


@dataclass(frozen=True)
class RowResult:
    """``states`` (r, m, n), ``outputs`` (r, m, n_out), ``status`` (r,), ``stats`` dict."""

    states: np.ndarray
    outputs: np.ndarray
    status: np.ndarray
    stats: dict


def run_rows(compiled, t_eval, P, Y0, events=None, *, method="auto", rtol=1e-6, atol=1e-9,
             max_steps=100_000):
    """Integrate rows of one compiled model in parallel and evaluate its outputs.

    Parameters
    ----------
    compiled : CompiledModel
    t_eval : (m,) output times.
    P : (r, k) parameter rows (parameters then inputs).
    Y0 : (r, n) or (n,) initial states.
    events : None or four arrays (1 or r, d) ``(time, kind, index, amount)`` as from
        ``events.pad_event_tables``.
    method, rtol, atol, max_steps : solver settings (see ``ldnsim.solver.integrate``).

    Returns
    -------
    RowResult; rows that failed are NaN from their failure on and carry their status.
    """
    P = np.ascontiguousarray(P, dtype=np.float64)
    compiled.check_arrays(P, Y0)  # the generated code does not check its indices
    if events is None:
        events = pad_event_tables([None])
    ev_t, ev_k, ev_i, ev_a = events
    res = solver.integrate_batch(compiled.kernel_functions[0], Y0, t_eval, P, method=method,
                                 rtol=rtol, atol=atol, doses=(ev_t, ev_i, ev_a, ev_k),
                                 max_steps=max_steps, throw=False,
                                 **compiled.solver_arguments())
    return RowResult(states=res.y, outputs=res.outputs, status=res.status, stats=res.stats)


def dataset_from_rows(model, t_eval, result, *, dims=(), coords=None, attrs=None):
    """Wrap ``RowResult`` arrays (already reshaped to ``(*dims, m, ...)``) in a Dataset."""
    names = list(model.state_names) + list(model.output_names)
    units = {s.name: s.unit for s in model.states}
    units.update({o.name: o.unit for o in model.outputs})
    long_names = {s.name: s.description or s.name for s in model.states}
    long_names.update({o.name: o.description or o.name for o in model.outputs})
    y = np.concatenate([result.states, result.outputs], axis=-1)
    return make_dataset(t_eval, y, names, units, long_names, dims=dims, coords=coords,
                        status=result.status if dims else None, attrs=attrs,
                        time_unit=model.time_unit)


def simulate(model, t_eval, *, params=None, scenarios=(), regimen=None, y0=None,
             method="auto", rtol=1e-6, atol=1e-9, max_steps=100_000, throw=True):
    """Simulate one model run and return a labelled ``xarray.Dataset``.

    Parameters
    ----------
    model : Model, or the name of a shipped model, or a path to a model file.
    t_eval : (m,) output times in the model's time unit; ``t_eval[0]`` is the start.
    params : dict name -> value overriding parameters (applied after scenarios).
    scenarios : names of ``[scenarios.NAME]`` overlays, applied in order.
    regimen : ``Regimen`` (or a single ``Dose``); doses go to the model's ``dose_target``
        unless they name a target.
    y0 : dict name -> value or an (n,) array of initial states.
    method, rtol, atol, max_steps : solver settings (see ``ldnsim.solver.integrate``).
    throw : raise ``SolverError`` when the solver fails (else the Dataset's ``status``
        attribute says why and values from the failure on are NaN).

    Returns
    -------
    xarray.Dataset with dim ``time``; every state and output is a variable with ``units`` and
    ``long_name``; attributes record the model, scenarios, parameters, solver and version.
    """
    model = load_model(model)
    if isinstance(scenarios, str):
        scenarios = (scenarios,)
    scenarios = tuple(scenarios)
    t_eval = np.asarray(t_eval, dtype=np.float64)
    p = model.parameter_vector(params, scenarios)
    y0v = model.initial_state(y0)
    if regimen is not None and not isinstance(regimen, Regimen):
        regimen = Regimen(regimen)
    compiled = model.compile()
    if regimen is not None and regimen.per_row:  # named F/lag, or a steady state to solve
        from .steady import row_tables
        table = row_tables(compiled, (regimen,), [0], p[None, :], y0v, float(t_eval[0]),
                           dict(method=method, rtol=rtol, atol=atol, max_steps=max_steps))[0]
    else:
        table = regimen.expand(model) if regimen is not None else None
    events = pad_event_tables([table])
    res = run_rows(compiled, t_eval, p[None, :], y0v, events, method=method, rtol=rtol,
                   atol=atol, max_steps=max_steps)
    status = solver.Status(int(res.status[0]))
    if throw and status != solver.Status.SUCCESS:
        raise SolverError(f"{model.name}: {status.message}", status)
    one = RowResult(res.states[0], res.outputs[0], res.status, res.stats)
    attrs = provenance_attrs(
        model=model.name, model_hash=model.hash, scenarios=list(scenarios),
        parameters=dict(zip(model.parameter_names, p[:len(model.parameter_names)].tolist())),
        regimen=repr(regimen), method=method, rtol=rtol, atol=atol,
        status=int(status), status_message=status.message,
        solver_stats={k: int(v[0]) for k, v in res.stats.items()})
    return dataset_from_rows(model, t_eval, one, attrs=attrs)
