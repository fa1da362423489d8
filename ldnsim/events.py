"""Discrete events in the array form the solver consumes: :class:`EventTable` and helpers.

This module sits below :mod:`ldnsim.solver` (which normalises its ``doses=`` argument here) and
below :mod:`ldnsim.dosing` (whose :meth:`~ldnsim.dosing.Regimen.expand` produces an
:class:`EventTable`). The event rule, implemented once in the solver kernels:

- ``kind == 0`` (:data:`BOLUS`): add ``amount`` to state ``y[index]``;
- ``kind == 1`` (:data:`PARAMETER`): add ``amount`` to parameter slot ``p[index]``. Inputs live
  after the parameters, so a zero-order infusion of rate ``r`` over ``[t0, t0 + d)`` is ``+r``
  at ``t0`` and ``-r`` at ``t0 + d`` into its input slot.

Events at one time apply in table order, before the output at that time (outputs are
right-continuous). Imports numpy only.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from ldnsim.errors import RegimenError

__all__ = ["EventTable", "as_events", "pad_event_tables", "normalise_doses", "BOLUS",
           "PARAMETER"]

BOLUS = 0
PARAMETER = 1


def _float_array(x, name):
    try:
        a = np.array(x, dtype=np.float64)  # copy: tables own their data
    except (TypeError, ValueError) as exc:
        raise RegimenError(f"{name} must be numbers, got {x!r:.80}") from exc
    return a


def _int_array(x, name):
    try:
        a = np.asarray(x)
    except (TypeError, ValueError) as exc:
        raise RegimenError(f"{name} must be integers, got {x!r:.80}") from exc
    if a.dtype.kind in "iu":
        return a.astype(np.int64)
    if a.dtype.kind == "f":
        # Accept 1.0 (arrays round-tripped through float) but never 1.5 or nan.
        if not (np.all(np.isfinite(a)) and np.all(a == np.round(a)) and np.all(np.abs(a) < 2**62)):
            raise RegimenError(f"{name} must be whole numbers, got {a!r:.80}")
        return a.astype(np.int64)
    raise RegimenError(f"{name} must be integers, got dtype {a.dtype} ({x!r:.80})")


@dataclass(frozen=True, eq=False, repr=False)
class EventTable:
    """Discrete events for the solver: four 1-D arrays of equal length, sorted by time.

    Parameters
    ----------
    time : array_like of float, shape (n,)
        Event times, finite.  Sorted stably on construction, so ties keep their given order.
    kind : array_like of int, shape (n,)
        0: add ``amount`` to state ``y[index]``; 1: add ``amount`` to parameter slot
        ``p[index]``.
    index : array_like of int, shape (n,)
        State or parameter-slot index, >= 0 (upper bounds need the model: see
        :func:`as_events`).
    amount : array_like of float, shape (n,)
        Amount added, finite; may be negative (infusion stops).

    Notes
    -----
    The arrays are copies made read-only, so a table can be shared between runs safely.
    """

    time: np.ndarray
    kind: np.ndarray
    index: np.ndarray
    amount: np.ndarray

    def __post_init__(self):
        time = _float_array(self.time, "event time")
        amount = _float_array(self.amount, "event amount")
        kind = _int_array(self.kind, "event kind")
        index = _int_array(self.index, "event index")
        arrays = (time, kind, index, amount)
        if any(a.ndim != 1 for a in arrays) or len({a.shape for a in arrays}) != 1:
            raise RegimenError("EventTable needs four 1-D arrays of equal length, got shapes "
                               + ", ".join(str(a.shape) for a in arrays))
        if not np.all(np.isfinite(time)):
            raise RegimenError("event times must be finite")
        if not np.all(np.isfinite(amount)):
            raise RegimenError("event amounts must be finite")
        if not np.all((kind == BOLUS) | (kind == PARAMETER)):
            raise RegimenError(f"event kind must be 0 (state) or 1 (parameter slot), got "
                               f"{sorted(set(kind.tolist()) - {0, 1})}")
        if np.any(index < 0):
            raise RegimenError("event index must be >= 0")
        if time.size > 1 and np.any(np.diff(time) < 0):
            order = np.argsort(time, kind="stable")
            arrays = tuple(a[order] for a in arrays)
        for name, a in zip(("time", "kind", "index", "amount"), arrays):
            a = np.ascontiguousarray(a)
            a.flags.writeable = False
            object.__setattr__(self, name, a)

    def __len__(self):
        return int(self.time.shape[0])

    def __eq__(self, other):
        if not isinstance(other, EventTable):
            return NotImplemented
        return all(np.array_equal(getattr(self, n), getattr(other, n))
                   for n in ("time", "kind", "index", "amount"))

    __hash__ = None  # type: ignore[assignment]  # arrays: equal-by-value, not hashable

    def __repr__(self):
        rows = [f"  {t:g}: {'y' if k == BOLUS else 'p'}[{i}] += {a:g}"
                for t, k, i, a in zip(self.time[:20], self.kind[:20], self.index[:20],
                                      self.amount[:20])]
        more = [f"  ... ({len(self) - 20} more)"] if len(self) > 20 else []
        return "\n".join([f"EventTable({len(self)} events)"] + rows + more)

    def arrays(self):
        """Return ``(time, kind, index, amount)``."""
        return self.time, self.kind, self.index, self.amount

    @classmethod
    def empty(cls) -> EventTable:
        """A table with no events."""
        return cls(np.empty(0), np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0))

    @classmethod
    def concat(cls, tables: Iterable[EventTable]) -> EventTable:
        """Merge tables into one sorted table; ties keep table order, then row order."""
        tables = list(tables)
        if not tables:
            return cls.empty()
        if not all(isinstance(t, EventTable) for t in tables):
            raise RegimenError("EventTable.concat takes EventTables only")
        return cls(*(np.concatenate([getattr(t, n) for t in tables])
                     for n in ("time", "kind", "index", "amount")))


def as_events(doses, n_states, n_params):
    """Normalise the ``doses=`` argument of ``ldnsim.solver.integrate`` into arrays.

    Parameters
    ----------
    doses : None, EventTable, (times, state_index, amounts) or (times, index, amounts, kind)
        A 3-tuple is a list of boluses (kind 0).  Scalars broadcast against ``times``.
    n_states, n_params : int
        Length of the state vector and of the parameter vector (parameters + inputs); indices
        are checked against them.

    Returns
    -------
    time : ndarray of float64, shape (n,)
    kind : ndarray of int64, shape (n,)
    index : ndarray of int64, shape (n,)
    amount : ndarray of float64, shape (n,)
        Fresh, writable, C-contiguous arrays sorted stably by time.

    Raises
    ------
    RegimenError
        On a malformed argument, non-finite times or amounts, a kind other than 0 or 1, or an
        index out of range for its kind.
    """
    if doses is None:
        table = EventTable.empty()
    elif isinstance(doses, EventTable):
        table = doses
    elif hasattr(doses, "expand") and hasattr(doses, "doses"):  # a dosing.Regimen
        raise RegimenError("integrate(doses=...) takes arrays or an EventTable; expand a "
                           "Regimen first: regimen.expand(model)")
    elif isinstance(doses, (tuple, list)) and len(doses) in (3, 4):
        times = _float_array(doses[0], "dose times")
        if times.ndim > 1:
            raise RegimenError(f"dose times must be 1-D, got shape {times.shape}")
        times = np.atleast_1d(times)
        kind = doses[3] if len(doses) == 4 else 0
        parts = [times, _int_array(doses[1], "dose index"),
                 _float_array(doses[2], "dose amounts"), _int_array(kind, "dose kind")]
        # Only true scalars broadcast: numpy would also stretch a length-1 array, or shrink
        # everything to a length-0 one, silently dropping doses.
        if any(p.shape not in ((), times.shape) for p in parts[1:]):
            raise RegimenError("dose arrays must have the same length as times (or be "
                               "scalars), got shapes " + ", ".join(str(p.shape) for p in parts))
        times, index, amounts, kind = (np.broadcast_to(p, times.shape) for p in parts)
        table = EventTable(times, kind, index, amounts)
    else:
        raise RegimenError(f"doses must be None, an EventTable, (times, state_index, amounts) "
                           f"or (times, index, amounts, kind); got {type(doses).__name__}")
    for name, n in (("n_states", n_states), ("n_params", n_params)):
        if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 0:
            raise RegimenError(f"{name} must be an int >= 0, got {n!r}")
    bolus = table.kind == BOLUS
    bad = (bolus & (table.index >= n_states)) | (~bolus & (table.index >= n_params))
    if np.any(bad):
        j = int(np.flatnonzero(bad)[0])
        what = (f"state index {table.index[j]} but the model has {n_states} states"
                if bolus[j] else
                f"parameter slot {table.index[j]} but p has {n_params} entries")
        raise RegimenError(f"event {j} at time {table.time[j]:g} targets {what}")
    return tuple(np.array(a) for a in table.arrays())


def pad_event_tables(tables):
    """Stack per-row event tables for a batch, padding short rows with inert events.

    Parameters
    ----------
    tables : sequence of EventTable or None
        One table per batch row; None means no events.

    Returns
    -------
    time : ndarray of float64, shape (n_rows, width)
    kind, index : ndarray of int64, shape (n_rows, width)
    amount : ndarray of float64, shape (n_rows, width)
        ``width`` is the longest table's length (0 if all are empty).  Padding is
        ``time = +inf``, ``kind = 0``, ``index = 0``, ``amount = 0.0``: never reached, and
        harmless if applied.
    """
    tables = [EventTable.empty() if t is None else t for t in tables]
    if not all(isinstance(t, EventTable) for t in tables):
        raise RegimenError("pad_event_tables takes EventTables (or None) only")
    width = max((len(t) for t in tables), default=0)
    n = len(tables)
    time = np.full((n, width), np.inf)
    kind = np.zeros((n, width), np.int64)
    index = np.zeros((n, width), np.int64)
    amount = np.zeros((n, width))
    for r, t in enumerate(tables):
        m = len(t)
        time[r, :m], kind[r, :m], index[r, :m], amount[r, :m] = t.arrays()
    return time, kind, index, amount


def normalise_doses(doses, n_states, n_params, t0, rows=None):
    """The ``doses=`` argument of ``solver.integrate``/``integrate_batch`` as padded arrays.

    Parameters
    ----------
    doses : None, EventTable, (times, index, amounts[, kind]) 1-D arrays shared by all rows,
        or the same tuple of 2-D arrays (R, d) with one row of events per batch row, padded
        with ``time = +inf``.
    n_states, n_params : int
        Sizes the indices are checked against.
    t0 : float
        Start time; an event before it is an error.
    rows : int, optional
        Batch size the per-row form must match (1 or ``rows`` rows of events).

    Returns
    -------
    tuple of four arrays (R, d)
        ``(time, kind, index, amount)`` as from :func:`pad_event_tables` (R = 1 when shared).
    """
    if doses is not None and isinstance(doses, (tuple, list)) and len(doses) in (3, 4) \
            and np.ndim(doses[0]) == 2:
        arrs = [np.asarray(a) for a in doses]
        if len(arrs) == 3:
            arrs.append(np.zeros_like(arrs[0], dtype=np.int64))
        tt, idx, amt, kind = arrs
        if rows is not None and tt.shape[0] not in (1, rows):
            raise ValueError(f"per-row doses have {tt.shape[0]} rows, expected 1 or {rows}")
        # Rows are checked and normalised once per distinct row (a sweep chunk usually repeats
        # one regimen over all its rows), then spread back: the same arrays as row by row.
        first, where = {}, []
        for r in range(tt.shape[0]):
            key = tuple(np.ascontiguousarray(a[r]).tobytes() for a in (tt, idx, amt, kind))
            where.append(first.setdefault(key, r))
        distinct = sorted(set(where))
        slot = {r: i for i, r in enumerate(distinct)}
        keep = {r: tt[r] != np.inf for r in distinct}  # +inf pads ragged rows
        per_row = [as_events((tt[r][keep[r]], idx[r][keep[r]], amt[r][keep[r]],
                              kind[r][keep[r]]), n_states, n_params)
                   for r in distinct]
        spread = np.array([slot[r] for r in where], dtype=np.int64)
    else:
        per_row = [as_events(doses, n_states, n_params)]
        spread = None
    for times, *_ in per_row:
        if np.any(times < t0):
            raise ValueError(f"a dose at t={times[times < t0][0]:g} lies before the start time "
                             f"t_eval[0]={t0:g}; start the output grid at or before the first "
                             "dose")
    padded = pad_event_tables([EventTable(*row) for row in per_row])
    if spread is None or spread.size == len(per_row):
        return padded
    return tuple(np.ascontiguousarray(a[spread]) for a in padded)
