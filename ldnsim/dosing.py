"""Dosing regimens as value objects, expanded to the solver's sorted event arrays.

A :class:`Dose` is one line of a prescription ("50 mg every 24 h, 7 times"); a :class:`Regimen`
is any number of them.  Both are frozen and validated on construction, so a regimen that exists
makes sense.  :meth:`Regimen.expand` binds a regimen to a model by name and produces an
:class:`~ldnsim.events.EventTable`, the array form the solver consumes (the event rule is
described in :mod:`ldnsim.events`).

Times are in the model's time unit, amounts in the unit of the target state.  Prescriptions only:
the solver-facing array helpers live in :mod:`ldnsim.events`, below the solver.

Three things make a regimen's event table depend on more than the model's names, and
:meth:`Regimen.expand` asks for them explicitly:

- ``lag`` or ``bioavailability`` given as the *name* of a model parameter (``lag="tlag"``): the
  table is built from each row's parameter values (``expand(model, params=row)``), so
  inter-individual variability, covariates, sweeps and fits apply to them;
- ``ss=True`` (NONMEM ``SS=1``): the system is at the periodic steady state of that dose and
  interval just before the dose is given. Finding that state needs the model solved over one
  interval, which :mod:`ldnsim.steady` does; it passes the state change to ``expand`` as
  ``steady_state=``;
- ``missed``: administrations (numbered from 1) that are not given.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np

from ldnsim.errors import RegimenError
from ldnsim.events import PARAMETER, EventTable

__all__ = ["Dose", "Regimen", "EventTable", "MAX_DOSES", "parameter_value_map"]

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
    lag : float or str, default 0.0
        Absorption lag time >= 0; every administration is shifted by it.  A string names a
        model parameter whose value (per simulated row) is the lag.
    bioavailability : float or str, default 1.0
        Fraction of the amount that reaches the target, ``0 < F <= 1``.  Values above 1 are
        rejected on purpose: F is a fraction absorbed; a relative bioavailability above 1
        (one formulation against another) belongs in ``amount``.  A string names a model
        parameter (per-row values, checked when the regimen is expanded).
    until : float or None, default None
        Alternative to ``count``: administrations at ``time, time + every, ...`` strictly
        before ``until``.  Needs ``every``; ``count`` must then keep its default.
    ss : bool, default False
        Steady state (NONMEM ``SS=1``): just before the first administration (at ``time``)
        the whole system is at the periodic steady state of ``amount`` given every ``every``
        (what came before is replaced); then the administrations are given as usual.  Needs
        ``every``, and ``lag + duration <= every`` (so nothing of the previous interval's
        dose is still to come at ``time``).  At most one entry of a regimen, the earliest.
    missed : tuple of int or float, default ()
        Administrations that are not given, numbered from 1 (``missed=(3,)`` skips the
        third); or a fraction ``0 <= f < 1``: each administration is missed with probability
        ``f``, drawn per subject (:meth:`Regimen.draw_missed`).  A steady state (``ss``) is
        that of the full regimen.

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
    >>> Dose(4.5, every=24.0, count=7, missed=(2, 5)).n_doses
    5
    """

    amount: float
    time: float = 0.0
    target: str | None = None
    every: float | None = None
    count: int = 1
    duration: float = 0.0
    lag: float = 0.0
    bioavailability: float | str = 1.0
    until: float | None = None
    ss: bool = False
    missed: tuple = ()

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
        if not isinstance(self.ss, (bool, np.bool_)):
            raise RegimenError(f"ss must be True or False, got {self.ss!r}")
        if self.ss:
            if every is None:
                raise RegimenError("ss=True (steady state) needs every= (the dosing interval "
                                   "whose steady state the system is at)")
            numeric_lag = lag if isinstance(lag, float) else 0.0
            if numeric_lag + duration > every:
                raise RegimenError(f"ss=True needs lag + duration <= every (the previous "
                                   f"interval's dose must be in before time), got lag="
                                   f"{_fmt(numeric_lag)}, duration={_fmt(duration)}, every="
                                   f"{_fmt(every)}")
        missed = _missed(self.missed, count)
        _check_derived(amount, time, count, every, duration,
                       lag if isinstance(lag, float) else 0.0,
                       f if isinstance(f, float) else 1.0)
        set_ = object.__setattr__  # frozen: normalise values to plain floats once, here
        for name, value in (("amount", amount), ("time", time), ("every", every),
                            ("duration", duration), ("lag", lag), ("bioavailability", f),
                            ("until", until), ("ss", bool(self.ss)), ("missed", missed)):
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
        lag = _parameter_name(self.lag, "lag")
        if lag is None:
            lag = _check_lag(_finite(self.lag, "lag"))
        f = _parameter_name(self.bioavailability, "bioavailability")
        if f is None:
            f = _check_f(_finite(self.bioavailability, "bioavailability"))
        return duration, lag, f

    @property
    def parameters(self) -> tuple:
        """Model parameters named by ``lag`` and ``bioavailability`` (strings), in that order."""
        return tuple(v for v in (self.lag, self.bioavailability) if isinstance(v, str))

    def bind(self, values) -> Dose:
        """This dose with ``lag``/``bioavailability`` names replaced by their ``values``.

        Parameters
        ----------
        values : mapping of str to float
            Parameter values; must hold every name in :attr:`parameters`.

        Raises
        ------
        RegimenError
            A name without a value, or a value out of range (naming the parameter).
        """
        if not self.parameters:
            return self
        new = {}
        for field_name, check in (("lag", _check_lag), ("bioavailability", _check_f)):
            name = getattr(self, field_name)
            if not isinstance(name, str):
                continue
            if name not in values:
                raise RegimenError(f"{field_name} names parameter {name!r}, which the model "
                                   f"does not have; parameters: {', '.join(values)}")
            try:
                new[field_name] = check(_finite(values[name], field_name))
            except RegimenError as exc:
                raise RegimenError(f"parameter {name!r} (the {field_name}): {exc}") from None
        import dataclasses
        return dataclasses.replace(self, **new)

    @property
    def n_scheduled(self) -> int:
        """Number of administrations scheduled (``count``, or derived from ``until``),
        missed ones included."""
        if self.until is None:
            return self.count
        return _count_until(self.time, self.every, self.until)

    @property
    def n_doses(self) -> int:
        """Number of administrations given (scheduled minus ``missed``; all scheduled ones
        while ``missed`` is a fraction not drawn yet)."""
        if isinstance(self.missed, float):
            return self.n_scheduled
        return self.n_scheduled - len(self.missed)

    @property
    def is_infusion(self) -> bool:
        """True for a zero-order infusion (``duration > 0``)."""
        return self.duration > 0

    def start_times(self) -> np.ndarray:
        """Start of every administration given, ``time + k*every + lag``, shape
        ``(n_doses,)`` (missed ones left out)."""
        if isinstance(self.lag, str):
            raise RegimenError(f"lag names parameter {self.lag!r}: bind the dose to parameter "
                               "values first (Dose.bind, or Regimen.expand(model, params=...))")
        k = np.arange(self.n_scheduled, dtype=np.float64)
        if isinstance(self.missed, float):
            raise RegimenError(f"missed={self.missed!r} is a fraction: draw the missed "
                               "administrations first (Regimen.draw_missed(rng))")
        if self.missed:
            k = np.delete(k, np.asarray(self.missed, dtype=np.int64) - 1)
        every = 0.0 if self.every is None else self.every
        return (self.time + k * every) + self.lag

    def __repr__(self):
        parts = [f"amount={_fmt(self.amount)}"]
        defaults = {"time": 0.0, "target": None, "every": None, "count": 1, "duration": 0.0,
                    "lag": 0.0, "bioavailability": 1.0, "until": None, "ss": False,
                    "missed": ()}
        for name, default in defaults.items():
            value = getattr(self, name)
            if value != default:
                parts.append(f"{name}={value!r}")
        return f"Dose({', '.join(parts)})"


def _parameter_name(value, name):
    """``value`` if it names a parameter (a non-empty identifier), None for a number."""
    if not isinstance(value, str):
        return None
    if not value.isidentifier():
        raise RegimenError(f"{name} must be a number or the name of a model parameter, got "
                           f"{value!r}")
    return value


def _check_lag(lag):
    if lag < 0:
        raise RegimenError(f"lag must be >= 0, got {_fmt(lag)}; to dose earlier move time")
    return lag


def _check_f(f):
    if not 0.0 < f <= 1.0:
        raise RegimenError(f"bioavailability is the fraction absorbed, 0 < F <= 1, got "
                           f"{_fmt(f)}" + ("; to model a relative bioavailability above 1 "
                                            "scale amount instead" if f > 1 else ""))
    return f


def _missed(missed, count):
    """``missed`` as a sorted tuple of distinct administration numbers in 1..count, or a
    fraction ``0 <= f < 1`` (each administration missed with probability f, drawn later)."""
    if isinstance(missed, (float, np.floating)):
        if not 0.0 <= missed < 1.0:
            raise RegimenError(f"missed as a fraction must be in [0, 1), got {missed!r}")
        return float(missed)
    if isinstance(missed, (str, bytes)) or not hasattr(missed, "__iter__"):
        raise RegimenError(f"missed must be a list of administration numbers (1 = the first), "
                           f"got {missed!r:.80}")
    out = []
    for k in missed:
        if isinstance(k, (bool, np.bool_)) or not isinstance(k, numbers.Integral):
            raise RegimenError(f"missed lists administration numbers (whole numbers, 1 = the "
                               f"first), got {k!r:.40}")
        if not 1 <= int(k) <= count:
            raise RegimenError(f"missed lists administration {int(k)}, but this dose has "
                               f"{count} (numbered 1 to {count})")
        out.append(int(k))
    if len(set(out)) != len(out):
        raise RegimenError(f"missed lists an administration twice: {sorted(out)}")
    return tuple(sorted(out))


def parameter_value_map(model, params):
    """``{parameter name: value}`` from a mapping or a parameter row aligned with
    ``model.parameter_names`` (inputs after them are ignored)."""
    names = tuple(model.parameter_names)
    if params is None:
        return {}
    if isinstance(params, dict):
        return dict(params)
    row = np.asarray(params, dtype=np.float64).ravel()
    if row.size < len(names):
        raise RegimenError(f"a parameter row has {row.size} values, the model "
                           f"{len(names)} parameters")
    return dict(zip(names, row[:len(names)].tolist()))


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
        steady = [i for i, d in enumerate(doses) if d.ss]
        if len(steady) > 1:
            raise RegimenError(f"doses {steady[0]} and {steady[1]} both have ss=True; a regimen "
                               "starts from one steady state (NONMEM SS=1 replaces what came "
                               "before): give one ss entry")
        if steady:
            ss = doses[steady[0]]
            early = [i for i, d in enumerate(doses) if d.time < ss.time]
            if early:
                raise RegimenError(f"dose {steady[0]} has ss=True at time {_fmt(ss.time)}, but "
                                   f"dose {early[0]} starts earlier ({_fmt(doses[early[0]].time)}"
                                   "); the steady-state entry must be the earliest (it replaces "
                                   "what came before)")

    @property
    def steady_dose(self):
        """The entry with ``ss=True``, or None."""
        return next((d for d in self.doses if d.ss), None)

    @property
    def parameters(self) -> tuple:
        """Model parameters the regimen's lags and bioavailabilities name, in order."""
        return tuple(dict.fromkeys(n for d in self.doses for n in d.parameters))

    @property
    def per_row(self) -> bool:
        """True when the event table depends on each row (named parameters or steady state)."""
        return bool(self.parameters) or self.steady_dose is not None

    @property
    def missed_fraction(self) -> bool:
        """True when an entry misses a fraction of its administrations (not drawn yet)."""
        return any(isinstance(d.missed, float) for d in self.doses)

    def draw_missed(self, rng) -> Regimen:
        """The regimen with each fraction of missed administrations drawn: every scheduled
        administration of such an entry is missed with that probability, independently.

        Parameters
        ----------
        rng : numpy.random.Generator
            One subject's generator (``ldnsim.sweep.plan.missed_rng``).
        """
        import dataclasses
        out = []
        for d in self.doses:
            if isinstance(d.missed, float):
                u = rng.random(d.n_scheduled)
                d = dataclasses.replace(d, missed=tuple(int(k) + 1 for k in
                                                        np.flatnonzero(u < d.missed)))
            out.append(d)
        return Regimen(tuple(out))

    def bind(self, values) -> Regimen:
        """The regimen with parameter names replaced by ``values`` (see :meth:`Dose.bind`)."""
        if not self.parameters:
            return self
        return Regimen(tuple(d.bind(values) for d in self.doses))

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

    def expand(self, model, params=None, *, steady_state=None) -> EventTable:
        """Bind the regimen to ``model`` and return its sorted :class:`EventTable`.

        Parameters
        ----------
        model : Model
            Anything with ``name``, ``state_names``, ``parameter_names``, ``inputs`` (objects
            with ``name`` and ``target``) and ``dose_target``.
        params : mapping or (k,) array, optional
            Parameter values (a row aligned with ``model.parameter_names``) for lags and
            bioavailabilities given as parameter names; required when there are any.
        steady_state : (n,) array, optional
            For a regimen with an ``ss=True`` entry (required then): the change of every state
            at that entry's time that puts the system at its steady state (steady state minus
            the state just before), from :mod:`ldnsim.steady`. Applied before the doses at
            that time.

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
        regimen = self
        if self.parameters:
            if params is None:
                raise RegimenError(f"the regimen's lag or bioavailability names parameters "
                                   f"({', '.join(self.parameters)}): give their values, "
                                   "expand(model, params=row)")
            regimen = self.bind(parameter_value_map(model, params))
        chunks = []  # (time, kind, index, amount, delta) per Dose, in regimen order
        ss = regimen.steady_dose
        if ss is not None:
            if steady_state is None:
                raise RegimenError(f"{ss!r} starts at steady state (ss=True), which needs the "
                                   "model solved over one interval: run it through "
                                   "ldnsim.simulate or a sweep (ldnsim.steady computes it)")
            delta = np.asarray(steady_state, dtype=np.float64).ravel()
            if delta.shape != (len(info.states),) or not np.all(np.isfinite(delta)):
                raise RegimenError(f"steady_state must be {len(info.states)} finite numbers "
                                   "(one per state)")
            nz = np.flatnonzero(delta != 0.0)
            chunks.append((np.full(nz.size, ss.time), np.zeros(nz.size, np.int64),
                           nz.astype(np.int64), delta[nz], np.zeros(nz.size)))
        for i, dose in enumerate(regimen.doses):
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
        lag = " (lag on an unknown state)" if isinstance(dose.lag, str) or dose.lag > 0 else ""
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
