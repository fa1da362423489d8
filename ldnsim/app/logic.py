"""The dose explorer's logic, without a browser: input checks, scenario choices, steady state.

Everything here is plain Python on top of ``ldnsim.simulate``; the web layer
(``ldnsim.app.server``) only turns a :class:`View` into plots and text. Model-specific names
come from :mod:`ldnsim.app.content`.
"""
from __future__ import annotations

import math
import re
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np

from ..errors import LdnsimError
from . import content as C

__all__ = ["AppInputError", "AppServeError", "parse_dose", "dose_to_slider", "slider_to_dose",
           "format_number", "ScenarioGroup", "scenario_groups", "pick_output",
           "steady_state_times", "View", "Explorer"]


class AppInputError(LdnsimError, ValueError):
    """Input typed or chosen on the page that cannot be used (the message says why)."""


class AppServeError(LdnsimError):
    """The app cannot start (a taken port, a missing package)."""


# ------------------------------------------------------------------------------------- input
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


def parse_dose(text, lo=C.DOSE_MIN, hi=C.DOSE_MAX):
    """A daily dose in mg from what a person typed.

    Accepts ``"4.5"``, ``" 4.5 mg "``, ``"4,5"`` (decimal comma) and ``"1e-1"``.

    Raises
    ------
    AppInputError
        Not a number, not finite, or outside ``[lo, hi]``; the message is fit for the page.
    """
    raw = "" if text is None else str(text)
    s = raw.strip()
    s = re.sub(r"\s*(mg(/d(ay)?)?)\s*$", "", s, flags=re.IGNORECASE)
    if s.count(",") == 1 and "." not in s:
        s = s.replace(",", ".")
    if not s:
        raise AppInputError(f"Type a daily dose in mg, between {lo:g} and {hi:g}.")
    if not _NUMBER.match(s):
        shown = raw.strip()[:40]
        raise AppInputError(f"\u201c{shown}\u201d is not a dose: type a number of mg between "
                            f"{lo:g} and {hi:g}, e.g. 4.5.")
    value = float(s)
    if not math.isfinite(value) or not lo <= value <= hi:
        raise AppInputError(f"{s} mg is outside the range this page covers: {lo:g} to {hi:g} "
                            "mg per day.")
    return value


def dose_to_slider(dose):
    """Slider position (log10 of the dose)."""
    return math.log10(dose)


def slider_to_dose(x, digits=3):
    """Dose (mg) at slider position ``x``, rounded to ``digits`` significant digits and kept in
    range (so a dragged slider gives 4.47, not 4.4668359215)."""
    dose = float(f"{10.0 ** float(x):.{digits}g}")
    return min(max(dose, C.DOSE_MIN), C.DOSE_MAX)


def format_number(x, digits=3):
    """A number as the page prints it: ``digits`` significant digits (``"%.3g"``), an en dash
    for NaN or None."""
    if x is None or not math.isfinite(x):
        return "\u2013"
    return f"{x:.{digits}g}"


# --------------------------------------------------------------------------------- scenarios
@dataclass(frozen=True)
class ScenarioGroup:
    """Scenarios that set the same parameters: alternatives, one of which is chosen."""

    label: str
    options: tuple
    default: str


def scenario_groups(model):
    """The model's scenarios as groups of alternatives.

    Two scenarios that set a common parameter cannot be combined (the model refuses it), so
    they are alternatives; groups are the connected sets of that relation. Labels and
    defaults come from :mod:`content` where it names a member, else from the members.

    Returns
    -------
    tuple of ScenarioGroup, in the model's scenario order.
    """
    names = [n for n, sc in model.scenarios.items() if sc.values]
    keys = {n: set(model.scenarios[n].values) for n in names}
    parent = {n: n for n in names}

    def root(n):
        while parent[n] != n:
            n = parent[n]
        return n

    for i, a in enumerate(names):
        for b in names[i + 1:]:
            if keys[a] & keys[b]:
                parent[root(b)] = root(a)
    groups = OrderedDict()
    for n in names:
        groups.setdefault(root(n), []).append(n)
    out = []
    for members in groups.values():
        label = next((C.SCENARIO_GROUP_LABELS[m] for m in members
                      if m in C.SCENARIO_GROUP_LABELS), " / ".join(members))
        default = next((m for m in C.SCENARIO_DEFAULTS if m in members), members[0])
        out.append(ScenarioGroup(label=label, options=tuple(members), default=default))
    return tuple(out)


def pick_output(model, candidates):
    """The first ``(name, label)`` of ``candidates`` whose name is a model output, or None."""
    for name, label in candidates:
        if name in model.output_names:
            return name, label
    return None


# -------------------------------------------------------------------------------- simulation
def steady_state_times(days, dense_days=C.DENSE_DAYS, step=C.DENSE_STEP, day=C.DOSE_EVERY):
    """Output times (h): once a day up to the last ``dense_days``, then every ``step``.

    Returns
    -------
    numpy.ndarray, shape (m,), from 0 to ``days * day`` inclusive.
    """
    start = (days - dense_days) * day
    n_dense = int(round(dense_days * day / step))
    return np.concatenate([np.arange(0.0, start, day),
                           start + step * np.arange(n_dense + 1)])


@dataclass
class View:
    """What the page shows for one dose and scenario choice.

    ``series`` holds the curves (each a dict of 1-D arrays with a ``t`` key: hours since the
    start of the shown window), ``numbers`` the values printed (floats; key -> value),
    ``missing`` the panels that cannot be drawn with a message each, ``notes`` remarks
    (e.g. steady state not reached).
    """

    dose: float
    scenarios: tuple
    series: dict = field(default_factory=dict)
    numbers: dict = field(default_factory=dict)
    missing: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)
    receptor: tuple | None = None
    days: int = C.STEADY_STATE_DAYS


class Explorer:
    """One model, compiled once, with a cache of steady-state runs.

    Parameters
    ----------
    model : Model or str
        The model (default :data:`content.MODEL`).
    days : int
        Days of daily dosing before the end of the shown week (default
        :data:`content.STEADY_STATE_DAYS`).
    cache_size : int
        Number of (dose, scenarios) runs kept.
    """

    def __init__(self, model=C.MODEL, *, days=None, cache_size=256):
        from ..model import load_model

        self.model = model if not isinstance(model, str) else load_model(model)
        self.compiled = self.model.compile()      # compiled (or loaded from cache) once
        self.groups = scenario_groups(self.model)
        self.receptor = pick_output(self.model, C.RECEPTOR_OUTPUTS)
        self.days = int(days if days is not None else C.STEADY_STATE_DAYS)
        if self.days < C.DENSE_DAYS:
            raise AppInputError(f"days must be at least {C.DENSE_DAYS}")
        self.t_eval = steady_state_times(self.days)
        self._cache = OrderedDict()
        self._cache_size = int(cache_size)

    # ---------------------------------------------------------------------------- inputs
    def default_scenarios(self):
        return tuple(g.default for g in self.groups)

    def check_scenarios(self, scenarios):
        """The scenario tuple in group order; AppInputError for an unknown or clashing set."""
        scenarios = tuple(scenarios)
        unknown = [s for s in scenarios if s not in self.model.scenarios]
        if unknown:
            raise AppInputError(f"The model has no scenario \u201c{unknown[0]}\u201d; it has "
                                f"{', '.join(self.model.scenarios)}.")
        chosen = []
        for g in self.groups:
            picked = [s for s in scenarios if s in g.options]
            if len(picked) > 1:
                raise AppInputError(f"Choose one {g.label.lower()}: {' or '.join(picked)}.")
            chosen.append(picked[0] if picked else g.default)
        return tuple(chosen)

    def regimen(self, dose):
        from ..dosing import Regimen
        return Regimen.repeat(float(dose), every=C.DOSE_EVERY, count=self.days)

    # ------------------------------------------------------------------------------ runs
    def simulate(self, dose, scenarios):
        """The steady-state run (an ``xarray.Dataset`` from ``ldnsim.simulate``), cached."""
        from ..simulation import simulate

        key = (float(dose), tuple(scenarios))
        ds = self._cache.get(key)
        if ds is not None:
            self._cache.move_to_end(key)
            return ds
        ds = simulate(self.model, self.t_eval, scenarios=key[1],
                             regimen=self.regimen(key[0]))
        self._cache[key] = ds
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return ds

    def view(self, dose, scenarios=None):
        """Everything the page shows for ``dose`` (mg/day) and ``scenarios``.

        Raises
        ------
        AppInputError
            The dose or the scenarios cannot be used.
        """
        from ..metrics import blockade_hours

        dose = parse_dose(dose) if isinstance(dose, str) else float(dose)
        if not (math.isfinite(dose) and C.DOSE_MIN <= dose <= C.DOSE_MAX):
            parse_dose(repr(dose))  # raises with the page's message
        scenarios = self.check_scenarios(scenarios if scenarios is not None
                                         else self.default_scenarios())
        ds = self.simulate(dose, scenarios)
        t = ds["time"].values
        day = C.DOSE_EVERY
        t_end = t[-1]
        week = t >= t_end - C.DENSE_DAYS * day - 1e-9
        last_day = t >= t_end - day - 1e-9
        v = View(dose=dose, scenarios=scenarios, receptor=self.receptor, days=self.days)
        names = self.model.output_names

        # Plasma over the last week.
        plasma = {"t": t[week] - t[week][0]}
        for name, label in C.PLASMA_OUTPUTS:
            if name in names:
                values = ds[name].values
                plasma[name] = values[week]
                v.numbers[f"{name}_peak"] = float(values[last_day].max())
                v.numbers[f"{name}_trough"] = float(values[last_day].min())
            else:
                v.missing[f"plasma:{name}"] = (f"This model has no output \u201c{name}\u201d "
                                               f"({label}).")
        if len(plasma) > 1:
            v.series["plasma"] = plasma

        # Receptor readout over the last day, and hours of blockade over the last week.
        if self.receptor is None:
            wanted = " or ".join(n for n, _ in C.RECEPTOR_OUTPUTS)
            v.missing["receptor"] = f"This model has no receptor output ({wanted})."
        else:
            rname = self.receptor[0]
            values = ds[rname].values
            v.series["receptor"] = {"t": t[last_day] - t[last_day][0],
                                    rname: values[last_day]}
            v.numbers["receptor_peak"] = float(values[last_day].max())
            v.numbers["receptor_trough"] = float(values[last_day].min())
            bh = blockade_hours(ds, rname, C.BLOCKADE_THRESHOLD, day=day,
                                last_days=C.BLOCKADE_LAST_DAYS)
            v.numbers["blockade_hours"] = float(bh["blockade_hours"].values)
            self._steady_note(v, t, values, rname, day, self.days)

        # The immune readout over the whole run, its final value.
        iname = C.IMMUNE_OUTPUT
        if iname in names:
            values = ds[iname].values
            v.series["immune"] = {"t": t / day, iname: values}
            v.numbers["immune_end"] = float(values[-1])
            self._steady_note(v, t, values, iname, day, self.days)
        else:
            v.missing["immune"] = (f"This model has no output \u201c{iname}\u201d "
                                   "(the immune readout).")
        return v

    @staticmethod
    def _steady_note(v, t, values, name, day, days):
        """Note when the last two days differ by more than STEADY_STATE_RTOL (not yet at
        steady state after ``days`` days)."""
        i_end = len(t) - 1
        i_prev = int(np.argmin(np.abs(t - (t[-1] - day))))
        a, b = float(values[i_prev]), float(values[i_end])
        scale = max(abs(a), abs(b), 1e-12)
        if abs(b - a) / scale > C.STEADY_STATE_RTOL:
            v.notes.append(f"{name} still changes by {100 * abs(b - a) / scale:.1f}% a day after "
                           f"{days} days: not yet at steady state.")
