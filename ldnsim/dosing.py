"""Dosing regimens as value objects, expanded to the solver's sorted event arrays.

A :class:`Dose` is one line of a prescription ("50 mg every 24 h, 7 times"); a :class:`Regimen`
is any number of them.  Both are frozen and validated on construction, so a regimen that exists
makes sense.  :meth:`Regimen.expand` binds a regimen to a model by name and produces an
:class:`~ldnsim.events.EventTable`, the array form the solver consumes (the event rule is
described in :mod:`ldnsim.events`).

Times are in the model's time unit, amounts in the unit of the target state.  Prescriptions only:
the solver-facing array helpers live in :mod:`ldnsim.events`, below the solver.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np

from ldnsim.errors import RegimenError
from ldnsim.events import PARAMETER, EventTable

__all__ = ["Dose", "Regimen", "EventTable", "MAX_DOSES"]

#: Most administrations one Dose entry may expand to.  Ten years of hourly dosing is ~88,000;
#: the cap exists so that a typo (``every=1e-9``) fails at once instead of exhausting memory.
MAX_DOSES = 1_000_000


# ----------------------------------------------------------------------------- validation helpers
def _real(value, name, *, what="a real number"):
    """Return ``value`` as a float or raise RegimenError (never TypeError/ValueError)."""
    # bool is an int subclass; Dose(True) is a bug, not a dose of 1.
    if isinstance(value, (bool, np.bool_)):
        raise RegimenError(f"{name} must be {what}, got the boolean {value!r}")
    if isinstance(value, numbers.Real) or (isinstance(value, np.ndarray) and value.ndim == 0
                                           and value.dtype.kind in "iuf"):
        try:
            return float(value)
        except OverflowError:  # a Python int beyond float range
            return math.inf if value > 0 else -math.inf
    raise RegimenError(f"{name} must be {what}, got {type(value).__name__} {value!r}")


def _finite(value, name, hint=""):
    x = _real(value, name, what="a finite number")
    if not math.isfinite(x):
        raise RegimenError(f"{name} must be a finite number, got {x!r}{hint}")
    return x


def _fmt(x):
    """Short float text for messages and repr: 24.0 -> '24.0', 1/3 -> '0.3333333333333333'."""
    return repr(float(x))


# ---------------------------------------------------------------------------------------- Dose
@dataclass(frozen=True, repr=False)
class Dose:
    """One dosing instruction: a bolus or zero-order infusion, given once or repeatedly.

    Parameters
    ----------
    amount : float
        Amount per administration, finite and >= 0, in the unit of the target state.
    time : float, default 0.0
        Time of the first administration (model time unit).  May be negative.
    target : str or None, default None
        State that receives the drug; None means the model's ``dose_target``.  For an infusion
        the target may also name an input of the model directly (needed when several inputs
        feed the same state).
    every : float or None, default None
        Dosing interval, > 0.  Required when more than one administration is given.
    count : int, default 1
        Number of administrations, an int >= 1 (at most :data:`MAX_DOSES`).
    duration : float, default 0.0
        0 for a bolus; > 0 for a zero-order infusion of rate ``amount * bioavailability /
        duration``.  When the dose repeats, ``duration`` may not exceed ``every`` (successive
        infusions through the same input would overlap); ``duration == every`` is a continuous
        infusion.
    lag : float, default 0.0
        Absorption lag time >= 0; every administration is shifted by it.
    bioavailability : float, default 1.0
        Fraction of the amount that reaches the target, ``0 < F <= 1``.  Values above 1 are
        rejected on purpose: F is a fraction absorbed; a relative bioavailability above 1
        (one formulation against another) belongs in ``amount``.
    until : float or None, default None
        Alternative to ``count``: administrations at ``time, time + every, ...`` strictly
        before ``until``.  Needs ``every``; ``count`` must then keep its default.

    Raises
    ------
    RegimenError
        If any value is invalid; the message says what to change.

    Examples
    --------
    >>> Dose(50.0, every=24.0, count=7).n_doses
    7
    >>> Dose(4.5, every=24.0, until=168.0).n_doses
    7
    """

    amount: float
    time: float = 0.0
    target: str | None = None
    every: float | None = None
    count: int = 1
    duration: float = 0.0
    lag: float = 0.0
    bioavailability: float = 1.0
    until: float | None = None

    def __post_init__(self):
        amount = _finite(self.amount, "amount", " (give the amount per administration)")
        if amount < 0:
            raise RegimenError(f"amount must be >= 0, got {_fmt(amount)}; "
                               "a dose cannot remove drug (use amount=0 for a placebo)")
        time = _finite(self.time, "time")
        if self.target is not None and not (isinstance(self.target, str) and self.target):
            raise RegimenError(f"target must be a state name (str) or None for the model's "
                               f"default dose target, got {self.target!r}")
        count, every, until = self._schedule(time)
        duration, lag, f = self._delivery(count, every)
        _check_derived(amount, time, count, every, duration, lag, f)
        set_ = object.__setattr__  # frozen: normalise values to plain floats once, here
        for name, value in (("amount", amount), ("time", time), ("every", every),
                            ("duration", duration), ("lag", lag), ("bioavailability", f),
                            ("until", until)):
            set_(self, name, value)
        set_(self, "count", int(self.count))

    def _schedule(self, time):
        """``(number of administrations, every, until)``, checked together."""
        if isinstance(self.count, (bool, np.bool_)) or not isinstance(self.count,
                                                                      numbers.Integral):
            raise RegimenError(f"count must be a whole number (int) >= 1, got "
                               f"{type(self.count).__name__} {self.count!r}")
        count = int(self.count)
        if count < 1:
            raise RegimenError(f"count must be >= 1, got {count}; use count=1 for a single "
                               "dose, or leave the Dose out of the regimen")
        every = None
        if self.every is not None:
            every = _finite(self.every, "every", " (the dosing interval)")
            if every <= 0:
                raise RegimenError(f"every (the dosing interval) must be > 0, got "
                                   f"{_fmt(every)}; for doses given together use separate "
                                   "Dose entries with the same time")
        until = None
        if self.until is not None:
            until = _finite(self.until, "until")
            if count != 1:
                raise RegimenError(f"give either count= or until=, not both "
                                   f"(got count={count}, until={_fmt(until)})")
            if every is None:
                raise RegimenError(f"until={_fmt(until)} needs every= (the dosing interval)")
            if until <= time:
                raise RegimenError(f"until={_fmt(until)} must be later than time={_fmt(time)}; "
                                   "as given no dose would be administered")
            count = _count_until(time, every, until)
        if count > 1 and every is None:
            raise RegimenError(f"count={count} needs every= (the dosing interval in model "
                               "time units, e.g. every=24.0)")
        if count > MAX_DOSES:
            raise RegimenError(f"this Dose would give {count} administrations, more than "
                               f"MAX_DOSES={MAX_DOSES}; check every= and count=/until=")
        return count, every, until

    def _delivery(self, count, every):
        """``(duration, lag, bioavailability)``, checked."""
        duration = _finite(self.duration, "duration")
        if duration < 0:
            raise RegimenError(f"duration must be >= 0 (0 for a bolus, > 0 for an infusion), "
                               f"got {_fmt(duration)}")
        if count > 1 and duration > every:
            raise RegimenError(f"infusion duration={_fmt(duration)} is longer than its "
                               f"interval every={_fmt(every)}: successive infusions into the "
                               "same input would overlap; shorten duration or lengthen every")
        lag = _finite(self.lag, "lag")
        if lag < 0:
            raise RegimenError(f"lag must be >= 0, got {_fmt(lag)}; to dose earlier move time")
        f = _finite(self.bioavailability, "bioavailability")
        if not 0.0 < f <= 1.0:
            raise RegimenError(f"bioavailability is the fraction absorbed, 0 < F <= 1, got "
                               f"{_fmt(f)}" + ("; to model a relative bioavailability above 1 "
                                                "scale amount instead" if f > 1 else ""))
        return duration, lag, f

    @property
    def n_doses(self) -> int:
        """Number of administrations (``count``, or derived from ``until``)."""
        if self.until is None:
            return self.count
        return _count_until(self.time, self.every, self.until)

    @property
    def is_infusion(self) -> bool:
        """True for a zero-order infusion (``duration > 0``)."""
        return self.duration > 0

    def start_times(self) -> np.ndarray:
        """Start of every administration, ``time + k*every + lag``, shape ``(n_doses,)``."""
        k = np.arange(self.n_doses, dtype=np.float64)
        every = 0.0 if self.every is None else self.every
        return (self.time + k * every) + self.lag

    def __repr__(self):
        parts = [f"amount={_fmt(self.amount)}"]
        defaults = {"time": 0.0, "target": None, "every": None, "count": 1, "duration": 0.0,
                    "lag": 0.0, "bioavailability": 1.0, "until": None}
        for name, default in defaults.items():
            value = getattr(self, name)
            if value != default:
                parts.append(f"{name}={value!r}")
        return f"Dose({', '.join(parts)})"


def _check_derived(amount, time, count, every, duration, lag, f):
    """Derived quantities must stay finite and resolvable, else the solver meets them later."""
    last = time + lag + (count - 1) * (every or 0.0)
    if not math.isfinite(last + duration):
        raise RegimenError("the last administration (time + lag + (count-1)*every + "
                           "duration) is not finite; reduce time, every or count")
    # An infusion too short to be seen next to its start time (1e10 + 1e-10 == 1e10)
    # would silently deliver nothing; require the float interval to match duration.
    for start in {time + lag, last}:
        if duration > 0 and abs((start + duration) - start - duration) > 1e-6 * duration:
            raise RegimenError(f"infusion duration={_fmt(duration)} is too short to "
                               f"resolve at time {_fmt(start)} in double precision; "
                               "lengthen duration or give a bolus (duration=0)")
    if duration > 0 and not math.isfinite(amount * f / duration):
        raise RegimenError(f"infusion rate amount*F/duration overflows for amount="
                           f"{_fmt(amount)}, duration={_fmt(duration)}; lengthen duration")


def _count_until(time, every, until):
    """Number of k >= 0 with ``time + k*every < until``, in the same float arithmetic as
    :meth:`Dose.start_times`, so the last dose never lands on ``until`` by rounding."""
    guess = math.ceil((until - time) / every) if math.isfinite((until - time) / every) else None
    if guess is None or guess > MAX_DOSES:
        raise RegimenError(f"until={_fmt(until)} with every={_fmt(every)} gives more than "
                           f"MAX_DOSES={MAX_DOSES} administrations; check every= and until=")
    n = max(int(guess), 1)
    while n > 1 and time + (n - 1) * every >= until:
        n -= 1
    while time + n * every < until:
        n += 1
    return n


# --------------------------------------------------------------------------------------- Regimen
@dataclass(frozen=True, repr=False)
class Regimen:
    """Any number of :class:`Dose` entries; order is kept (it breaks ties between equal times).

    Parameters
    ----------
    doses : Dose or iterable of Dose, default ()
        The entries.  ``len(regimen)`` and iteration are over entries, not administrations
        (see :attr:`n_doses`).

    Examples
    --------
    >>> reg = Regimen.repeat(50.0, every=24.0, count=7) + Dose(10.0, time=3.0)
    >>> len(reg), reg.n_doses
    (2, 8)
    """

    doses: tuple = ()

    def __post_init__(self):
        doses = self.doses
        if isinstance(doses, Dose):
            doses = (doses,)
        try:
            doses = tuple(doses)
        except TypeError:
            raise RegimenError(f"Regimen takes Dose objects, got {type(doses).__name__}") from None
        bad = [d for d in doses if not isinstance(d, Dose)]
        if bad:
            raise RegimenError(f"Regimen takes Dose objects, got {bad[0]!r:.80}; wrap it as "
                               "Dose(amount, ...)")
        object.__setattr__(self, "doses", doses)

    @classmethod
    def from_doses(cls, *doses: Dose) -> Regimen:
        """``Regimen.from_doses(d1, d2, ...)``, the same as ``Regimen([d1, d2, ...])``."""
        return cls(doses)

    @classmethod
    def single(cls, amount, *, time=0.0, target=None, duration=0.0, lag=0.0,
               bioavailability=1.0) -> Regimen:
        """A regimen of one administration."""
        return cls((Dose(amount, time=time, target=target, duration=duration, lag=lag,
                         bioavailability=bioavailability),))

    @classmethod
    def repeat(cls, amount, every, count=None, *, until=None, time=0.0, target=None,
               duration=0.0, lag=0.0, bioavailability=1.0) -> Regimen:
        """``count`` administrations (or those before ``until``) every ``every`` time units."""
        if (count is None) == (until is None):
            raise RegimenError("Regimen.repeat needs exactly one of count= or until=")
        return cls((Dose(amount, time=time, target=target, every=every,
                         count=1 if count is None else count, duration=duration, lag=lag,
                         bioavailability=bioavailability, until=until),))

    @property
    def n_doses(self) -> int:
        """Total number of administrations over all entries."""
        return sum(d.n_doses for d in self.doses)

    def __len__(self):
        return len(self.doses)

    def __iter__(self):
        return iter(self.doses)

    def __add__(self, other):
        if isinstance(other, Regimen):
            return Regimen(self.doses + other.doses)
        if isinstance(other, Dose):
            return Regimen(self.doses + (other,))
        return NotImplemented

    def __radd__(self, other):
        if isinstance(other, Dose):
            return Regimen((other,) + self.doses)
        if isinstance(other, int) and other == 0:  # sum(regimens) starts from 0
            return self
        return NotImplemented

    def __repr__(self):
        if len(self.doses) <= 1:
            return f"Regimen([{', '.join(map(repr, self.doses))}])"
        return "Regimen([\n" + "".join(f"    {d!r},\n" for d in self.doses) + "])"

    def expand(self, model) -> EventTable:
        """Bind the regimen to ``model`` and return its sorted :class:`EventTable`.

        Parameters
        ----------
        model : Model
            Anything with ``name``, ``state_names``, ``parameter_names``, ``inputs`` (objects
            with ``name`` and ``target``) and ``dose_target``.

        Returns
        -------
        EventTable
            A bolus is one ``kind 0`` event per administration into the target state, amount
            ``amount * F``.  An infusion is ``+rate`` / ``-rate`` (``rate = amount * F /
            duration``) into the input slot ``len(parameter_names) + input position`` of the
            unique input whose ``target`` is the dosed state.

        Raises
        ------
        RegimenError
            Unknown target state, no (or several) inputs for an infusion, no default target.

        Notes
        -----
        Overlapping infusions add their rates.  Floating-point addition does not cancel
        exactly (``0.1 + 0.2 - 0.2 - 0.1 != 0``), so whenever no infusion is running any more
        the stop amount is set to minus the running sum, leaving the input slot exactly 0.0
        when the solver applies the events in order from the slot's initial 0.0.
        """
        info = _ModelInfo(model)
        chunks = []  # (time, kind, index, amount, delta) per Dose, in regimen order
        for i, dose in enumerate(self.doses):
            starts = dose.start_times()
            n = starts.shape[0]
            if not dose.is_infusion:
                state = info.bolus_state(dose, i)
                chunks.append((starts, np.zeros(n, np.int64), np.full(n, state, np.int64),
                               np.full(n, dose.amount * dose.bioavailability), np.zeros(n)))
                continue
            slot = info.infusion_slot(dose, i)
            rate = dose.amount * dose.bioavailability / dose.duration
            chunks.append((np.concatenate([starts, starts + dose.duration]),
                           np.ones(2 * n, np.int64), np.full(2 * n, slot, np.int64),
                           np.concatenate([np.full(n, rate), np.full(n, -rate)]),
                           np.concatenate([np.ones(n), -np.ones(n)])))
        if not chunks:
            return EventTable.empty()
        time, kind, index, amount, delta = (np.concatenate(c) for c in zip(*chunks))
        order = np.argsort(time, kind="stable")
        time, kind, index, amount, delta = (a[order] for a in (time, kind, index, amount, delta))
        _exact_infusion_stops(kind, index, amount, delta)
        return EventTable(time, kind, index, amount)


def _exact_infusion_stops(kind, index, amount, delta):
    """Make every input slot return to exactly 0.0 when its last running infusion stops."""
    running = {}  # slot -> (running sum as the solver will compute it, active infusions)
    for j in np.flatnonzero(kind == PARAMETER):
        slot = index[j]
        total, active = running.get(slot, (0.0, 0))
        active += int(delta[j])
        if active == 0:
            amount[j] = -total
            total = 0.0
        else:
            total = total + amount[j]
        running[slot] = (total, active)


class _ModelInfo:
    """The few model facts expansion needs, read once, with messages naming the model."""

    def __init__(self, model):
        try:
            self.name = str(getattr(model, "name", "?"))
            self.states = tuple(model.state_names)
            self.n_params = len(tuple(model.parameter_names))
            self.inputs = tuple(getattr(model, "inputs", ()) or ())
            self.default = getattr(model, "dose_target", None)
        except (AttributeError, TypeError) as exc:
            raise RegimenError(f"Regimen.expand needs a Model (with state_names, "
                               f"parameter_names, inputs, dose_target), got "
                               f"{type(model).__name__}") from exc
        self.input_names = tuple(inp.name for inp in self.inputs)

    def _target(self, dose, i):
        if dose.target is not None:
            return dose.target
        if self.default is None:
            raise RegimenError(f"dose {i} ({dose!r}) has no target and model {self.name!r} "
                               f"has no dose_target; set target= to one of "
                               f"{', '.join(map(repr, self.states))}")
        return self.default

    def _unknown(self, dose, i, target):
        lag = " (lag on an unknown state)" if dose.lag > 0 else ""
        names = ", ".join(map(repr, self.states))
        extra = ("; for an infusion, inputs " + ", ".join(map(repr, self.input_names))
                 if dose.is_infusion and self.input_names else "")
        return RegimenError(f"dose {i} ({dose!r}): target {target!r} is not a state of model "
                            f"{self.name!r}{lag}; valid states: {names}{extra}. "
                            "Set target= to one of these")

    def bolus_state(self, dose, i):
        target = self._target(dose, i)
        if target in self.states:
            return self.states.index(target)
        if target in self.input_names:
            raise RegimenError(f"dose {i} ({dose!r}): {target!r} is an input of model "
                               f"{self.name!r}, which only an infusion can feed; give "
                               "duration > 0 or target a state")
        raise self._unknown(dose, i, target)

    def infusion_slot(self, dose, i):
        target = self._target(dose, i)
        if target in self.states:
            feeding = [k for k, inp in enumerate(self.inputs) if inp.target == target]
            if not feeding:
                raise RegimenError(
                    f"dose {i} ({dose!r}) is an infusion into {target!r}, but model "
                    f"{self.name!r} has no input feeding it: the model needs an [inputs] entry "
                    f'with target = "{target}" (or give the dose duration=0 for a bolus)')
            if len(feeding) > 1:
                names = ", ".join(repr(self.inputs[k].name) for k in feeding)
                raise RegimenError(f"dose {i} ({dose!r}): several inputs of model "
                                   f"{self.name!r} feed {target!r} ({names}); set target= to "
                                   "the input name to choose one")
            return self.n_params + feeding[0]
        if target in self.input_names:
            return self.n_params + self.input_names.index(target)
        raise self._unknown(dose, i, target)
