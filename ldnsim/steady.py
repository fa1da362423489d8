"""Per-row dosing: event tables that depend on a row's parameters, and periodic steady states.

A :class:`~ldnsim.dosing.Regimen` whose lag or bioavailability names a model parameter, or that
starts at steady state (``Dose(..., ss=True)``, NONMEM ``SS=1``), has one event table per
simulated row. :func:`row_tables` builds them for a block of rows; the sweep engine and
:func:`ldnsim.simulate` call it where the rows are solved.

The steady state
----------------
For an ``ss`` entry of amount ``D`` given every ``tau`` from time ``t0``, the *dosing-period map*
``Phi`` takes the state just before a dose at ``t0`` to the state just before the next one: the
dose (with its lag, bioavailability and infusion duration) is given and the model is solved over
``[t0, t0 + tau]`` by the package's solver, with the run's method and tolerances. The steady
state is the fixed point ``y* = Phi(y*)``. Simulating dose after dose is the plain fixed-point
iteration ``y <- Phi(y)``, which needs about ``log(tol) / log(rho)`` intervals (``rho`` the
fraction of drug left after one interval in the slowest compartment: many intervals for a drug
whose half-life is long against the interval). :func:`steady_state` instead uses

- ``"anderson"`` (default): Anderson acceleration (type II, the last ``history`` differences,
  least squares weighted by the tolerances) of that iteration. On a linear model it is
  equivalent to GMRES on ``(I - A) y = b`` and needs about one interval per slow mode of the
  model; nonlinear models converge locally, with a restart to the plain step if a step makes
  the residual grow;
- ``"newton"``: Newton's method with the Jacobian of ``Phi`` by forward differences (``n + 1``
  intervals per iteration, solved together in one batch); exact in one step on a linear model;
- ``"fixed"``: the plain iteration (simulating to steady state; the reference).

All rows of a block advance together (one batched solve per iteration). A row has converged
when ``|Phi(y) - y| <= target * (atol + rtol * |y|)`` for every state. A row whose residual
stops falling without reaching ``atol + rtol * |y|`` has no periodic steady state (a
compartment that is not eliminated gains the same amount every interval): a
:class:`~ldnsim.errors.RegimenError` names the state.

States that no equation reads (the structural Jacobian's column is empty: accumulators such as
the amount eliminated, the amount in urine, a cumulative AUC) have no periodic steady state and
do not affect the others; like NONMEM's output compartments they keep their value ``y(t0-)``
and take no part in the iteration (:func:`held_states`).

Events at ``t0`` (NONMEM ``SS=1``): the change ``y* - y(t0-)`` is added to every state at ``t0``,
before the doses at ``t0`` (``Regimen.expand(..., steady_state=...)``); ``y(t0-)`` is the
initial state, solved forward from the first output time when ``t0`` lies after it.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from . import solver
from .dosing import Dose, Regimen
from .errors import RegimenError
from .events import EventTable, pad_event_tables

__all__ = ["steady_state", "row_tables", "periodic_dose", "held_states", "SteadyState",
           "ACCELERATIONS"]

ACCELERATIONS = ("anderson", "newton", "fixed")
#: Residual (in units of atol + rtol*|y|) a row is iterated down to.
TARGET = 0.01
#: Intervals of no progress (residual not halved) after which a row stops iterating.
PATIENCE = 6


@dataclass(frozen=True)
class SteadyState:
    """The periodic steady state of rows of one regimen.

    Attributes
    ----------
    states : (r, n) state just before the ``ss`` dose, at steady state
    before : (r, n) state just before that time without the steady state (``y(t0-)``)
    iterations : (r,) int, iterations each row took
    intervals : int, dosing intervals solved in total (over all rows; the cost)
    residual : (r,) ``max |Phi(y) - y| / (atol + rtol |y|)`` at the returned states
    """

    states: np.ndarray
    before: np.ndarray
    iterations: np.ndarray
    intervals: int
    residual: np.ndarray


class _PeriodMap:
    """``Phi`` for rows: the state one interval after a dose given at ``t0``."""

    def __init__(self, compiled, regimen, P, *, method, rtol, atol, max_steps):
        model = compiled.model
        self.compiled, self.P = compiled, np.ascontiguousarray(P, dtype=np.float64)
        self.opts = dict(method=method, rtol=rtol, atol=atol, max_steps=max_steps)
        if regimen.parameters:  # one interval's events per row
            tables = [Regimen((periodic_dose(regimen.bind(_values(model, row)).steady_dose),))
                      .expand(model) for row in self.P]
            self.events = pad_event_tables(tables)
        else:  # shared by every row: the solver checks them once
            table = Regimen((periodic_dose(regimen.steady_dose),)).expand(model)
            self.events = None
            self.shared = (table.time, table.index, table.amount, table.kind)
        self.dose = regimen.steady_dose
        self.t0, self.tau = self.dose.time, self.dose.every
        self.held = held_states(compiled)
        self.solves = 0

    def __call__(self, Y, rows=None):
        """``Phi(Y)`` for ``Y`` (q, n) of the given rows (indices into the block)."""
        rows = np.arange(self.P.shape[0]) if rows is None else np.asarray(rows)
        if self.events is None:
            ev = self.shared
        else:  # (time, kind, index, amount) padded -> (time, index, amount, kind)
            t, k, i, a = (x[rows] for x in self.events)
            ev = (t, i, a, k)
        out = _solve(self.compiled, np.array([self.t0, self.t0 + self.tau]), self.P[rows], Y,
                     ev, self.opts, "one dosing interval of the steady state")
        self.solves += len(rows)
        out = out[:, -1, :]
        out[:, self.held] = np.asarray(Y)[:, self.held]  # accumulators keep their value
        return out


def held_states(compiled) -> np.ndarray:
    """``(n,)`` bool: states no equation reads (an empty column of the structural Jacobian
    pattern), which keep their value at a steady state."""
    n = len(compiled.model.state_names)
    pattern = getattr(compiled, "jac_sparsity", None)
    if not isinstance(pattern, np.ndarray) or pattern.shape != (n, n):
        return np.zeros(n, bool)
    return np.asarray(~np.asarray(pattern, bool).any(axis=0))


def _values(model, row):
    return dict(zip(model.parameter_names, row[:len(model.parameter_names)].tolist()))


def _solve(compiled, t_eval, P, Y0, doses, opts, what):
    """States (r, m, n); ``doses`` as ``solver.integrate_batch`` takes them."""
    res = solver.integrate_batch(compiled.kernel_functions[0],
                                 np.ascontiguousarray(Y0, dtype=np.float64), t_eval, P,
                                 doses=doses, throw=False, **compiled.solver_arguments(),
                                 **opts)  # as run_rows
    bad = np.flatnonzero(res.status != int(solver.Status.SUCCESS))
    if bad.size:
        status = solver.Status(int(res.status[bad[0]]))
        raise RegimenError(f"the solver failed over {what} ({status.message}); the steady "
                           "state cannot be computed for these parameters")
    return res.y


def _scale(x, g, rtol, atol):
    return atol + rtol * np.maximum(np.abs(x), np.abs(g))


def steady_state(compiled, regimen, P, y0, t_start=None, *, method="rodas5p", rtol=1e-6,
                 atol=1e-9, max_steps=100_000, acceleration="anderson", history=8,
                 max_iter=200) -> SteadyState:
    """The periodic steady state of ``regimen``'s ``ss`` entry for rows of parameters.

    Parameters
    ----------
    compiled : CompiledModel
    regimen : Regimen
        With one ``ss=True`` entry (the others do not take part: NONMEM ``SS=1``).
    P : (r, k) parameter rows (parameters then inputs).
    y0 : (n,) or (r, n) initial state at ``t_start``.
    t_start : float, optional
        Time of ``y0`` (default: the ``ss`` entry's time). When earlier, the state just before
        the entry is solved forward from it (without events).
    method, rtol, atol, max_steps : solver settings, also the convergence tolerances.
    acceleration : {"anderson", "newton", "fixed"}
        See the module docstring; ``"fixed"`` simulates interval after interval.
    history : int
        Differences kept by Anderson acceleration.
    max_iter : int
        Most iterations per row.

    Returns
    -------
    SteadyState

    Raises
    ------
    RegimenError
        No ``ss`` entry; no periodic steady state (naming the state that keeps changing); the
        solver failed over an interval.
    """
    if acceleration not in ACCELERATIONS:
        raise RegimenError(f"acceleration must be one of {', '.join(ACCELERATIONS)}, got "
                           f"{acceleration!r}")
    dose = regimen.steady_dose
    if dose is None:
        raise RegimenError("the regimen has no steady-state entry (Dose(..., ss=True))")
    model = compiled.model
    P = np.atleast_2d(np.asarray(P, dtype=np.float64))
    r, n = P.shape[0], len(model.state_names)
    y0 = np.broadcast_to(np.asarray(y0, dtype=np.float64), (r, n)).copy()
    t_start = dose.time if t_start is None else float(t_start)
    if dose.time < t_start:
        raise RegimenError(f"the steady-state dose at time {dose.time:g} lies before the start "
                           f"{t_start:g}")
    opts = dict(method=method, rtol=rtol, atol=atol, max_steps=max_steps)
    before = y0
    if dose.time > t_start:
        before = _solve(compiled, np.array([t_start, dose.time]), P, y0, None, opts,
                        "the time before the steady state")[:, -1]
    phi = _PeriodMap(compiled, regimen, P, **opts)
    iterate = {"anderson": _anderson, "newton": _newton, "fixed": _fixed}[acceleration]
    x, iters, res = iterate(phi, before.copy(), rtol, atol, max_iter=max_iter, history=history)
    failed = np.flatnonzero(~(res <= 1.0))
    if failed.size:
        k = int(failed[0])
        g = phi(x[k:k + 1], [k])[0]
        j = int(np.argmax(np.abs(g - x[k]) / _scale(x[k], g, rtol, atol)))
        unit = model.states[j].unit if hasattr(model, "states") else ""
        where = f" (row {k})" if r > 1 else ""
        raise RegimenError(
            f"no periodic steady state for {dose!r}{where}: state "
            f"{model.state_names[j]!r} still changes by {g[j] - x[k, j]:.4g} {unit} per "
            f"interval after {int(iters[k])} iterations (a compartment without elimination "
            "accumulates for ever); remove ss=True or give the state an elimination")
    return SteadyState(x, before, iters, phi.solves, res)


def _fixed(phi, x, rtol, atol, *, max_iter, history):
    r = x.shape[0]
    iters, res = np.zeros(r, np.int64), np.full(r, np.inf)
    best, stall = np.full(r, np.inf), np.zeros(r, np.int64)
    active = np.arange(r)
    for _ in range(max_iter):
        if not active.size:
            break
        g = phi(x[active], active)
        res[active] = np.max(np.abs(g - x[active]) / _scale(x[active], g, rtol, atol), axis=1)
        x[active] = g
        iters[active] += 1
        _progress(res, best, stall, active)
        active = active[(res[active] > TARGET) & (stall[active] < PATIENCE)]
    return x, iters, res


def _progress(res, best, stall, active):
    improved = res[active] < 0.5 * best[active]
    best[active] = np.where(improved, res[active], best[active])
    stall[active] = np.where(improved, 0, stall[active] + 1)


def _anderson(phi, x, rtol, atol, *, max_iter, history):
    """Anderson acceleration, type II, on ``f(x) = Phi(x) - x``; rows advance together."""
    r, n = x.shape
    iters, res = np.zeros(r, np.int64), np.full(r, np.inf)
    best, stall = np.full(r, np.inf), np.zeros(r, np.int64)
    g = phi(x)
    f = g - x
    res[:] = np.max(np.abs(f) / _scale(x, g, rtol, atol), axis=1)
    dG = [[] for _ in range(r)]
    dF = [[] for _ in range(r)]
    active = np.flatnonzero(res > TARGET)
    for _ in range(max_iter):
        if not active.size:
            break
        new = np.empty((active.size, n))
        for q, k in enumerate(active):
            if not dF[k]:
                new[q] = g[k]
                continue
            w = 1.0 / _scale(x[k], g[k], rtol, atol)
            F = np.stack(dF[k], axis=1) * w[:, None]
            gamma, *_ = np.linalg.lstsq(F, f[k] * w, rcond=1e-12)
            new[q] = g[k] - np.stack(dG[k], axis=1) @ gamma
        g_new = phi(new, active)
        f_new = g_new - new
        res_new = np.max(np.abs(f_new) / _scale(new, g_new, rtol, atol), axis=1)
        for q, k in enumerate(active):
            if not np.isfinite(res_new[q]) or res_new[q] > 10 * res[k] and dF[k]:
                dG[k], dF[k] = [], []  # the step made things worse: restart from a plain step
                stall[k] += 1
                iters[k] += 1
                continue
            dG[k].append(g_new[q] - g[k])
            dF[k].append(f_new[q] - f[k])
            del dG[k][:-history], dF[k][:-history]
            x[k], g[k], f[k], res[k] = new[q], g_new[q], f_new[q], res_new[q]
            iters[k] += 1
        _progress(res, best, stall, active)
        active = active[(res[active] > TARGET) & (stall[active] < PATIENCE)]
    return x, iters, res


def _newton(phi, x, rtol, atol, *, max_iter, history):
    """Newton on ``Phi(x) - x`` with a forward-difference Jacobian (n + 1 intervals a step)."""
    r, n = x.shape
    iters, res = np.zeros(r, np.int64), np.full(r, np.inf)
    best, stall = np.full(r, np.inf), np.zeros(r, np.int64)
    active = np.arange(r)
    eps = max(rtol, 1e-12) ** 0.5
    for _ in range(max_iter):
        if not active.size:
            break
        q = active.size
        g = phi(x[active], active)
        f = g - x[active]
        res[active] = np.max(np.abs(f) / _scale(x[active], g, rtol, atol), axis=1)
        _progress(res, best, stall, active)
        keep = (res[active] > TARGET) & (stall[active] < PATIENCE)
        active, x_a, g, f = active[keep], x[active][keep], g[keep], f[keep]
        if not active.size:
            break
        q = active.size
        h = eps * np.maximum(np.maximum(np.abs(x_a), np.abs(g)), atol / max(rtol, 1e-12))
        Xp = np.repeat(x_a, n, axis=0) + (np.eye(n)[None] * h[:, None, :]).reshape(q * n, n)
        Gp = phi(Xp, np.repeat(active, n)).reshape(q, n, n)  # [row, perturbed j, state i]
        for a, k in enumerate(active):
            J = ((Gp[a] - g[a]) / h[a][:, None]).T  # dPhi_i / dy_j
            step, *_ = np.linalg.lstsq(J - np.eye(n), -f[a], rcond=1e-12)
            x[k] = x_a[a] + step
            iters[k] += 1
    return x, iters, res


def row_tables(compiled, tables, table_index, P, y0, t_start, solver_options) -> list:
    """One :class:`EventTable` (or None) per row of a block.

    Parameters
    ----------
    compiled : CompiledModel
    tables : sequence of EventTable, Regimen or None
        Distinct dosing of the run; a Regimen is expanded per row (its named parameters read
        from the row, its steady state solved for the row).
    table_index : (r,) int, the entry of ``tables`` each row uses
    P : (r, k) parameter rows
    y0 : (n,) initial state; t_start : float, time of ``y0`` (the first output time)
    solver_options : dict with method, rtol, atol, max_steps

    Returns
    -------
    list of EventTable or None, one per row
    """
    P = np.atleast_2d(np.asarray(P, dtype=np.float64))
    table_index = np.asarray(table_index, dtype=np.int64)
    out: list[EventTable | None] = [None] * P.shape[0]
    for ti in np.unique(table_index):
        rows = np.flatnonzero(table_index == ti)
        entry = tables[int(ti)]
        if entry is None or isinstance(entry, EventTable):
            for k in rows:
                out[k] = entry
            continue
        delta = None
        if entry.steady_dose is not None:
            ss = steady_state(compiled, entry, P[rows], y0, t_start, **solver_options)
            delta = ss.states - ss.before
        for q, k in enumerate(rows):
            out[k] = entry.expand(compiled.model, params=P[k],
                                  steady_state=None if delta is None else delta[q])
    return out


def periodic_dose(dose: Dose) -> Dose:
    """The one administration whose interval defines ``dose``'s steady state."""
    return dataclasses.replace(dose, count=1, every=None, until=None, ss=False, missed=())
