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
           "format_number", "NO_SCENARIO", "ScenarioGroup", "scenario_groups",
           "content_problems", "pick_output", "steady_state_times", "daily_stats", "View",
           "Explorer"]


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
NO_SCENARIO = "(none)"   # the control's value for "no scenario of this group" (not a name)


@dataclass(frozen=True)
class ScenarioGroup:
    """Alternative scenarios, one of which is chosen (or none, when ``default`` is None).

    ``labels`` holds the text of each option for the page (the name when content has none).
    """

    label: str
    options: tuple
    default: str | None
    labels: tuple = ()

    @property
    def optional(self):
        """Whether "no scenario of this group" is a choice (then it is the default)."""
        return self.default is None


def scenario_groups(model):
    """The model's scenarios as groups of alternatives, for the page's controls.

    The groups named in :data:`content.SCENARIO_GROUPS` come first, with the names the model
    has (a missing name is left out; :func:`content_problems` reports it). Scenarios of the
    model that no content group places and :data:`content.SCENARIOS_LEFT_OUT` does not leave
    out are grouped automatically: two scenarios that set a common parameter cannot be
    combined (the model refuses it), so they are alternatives, and groups are the connected
    sets of that relation, labelled by their members.

    Returns
    -------
    tuple of ScenarioGroup
    """
    out, placed = [], set()
    for label, names in C.SCENARIO_GROUPS:
        placed.update(n for n in names if n is not None)
        options = tuple(n for n in names if n is not None and n in model.scenarios)
        if not options:
            continue
        default = None if None in names else options[0]
        out.append(ScenarioGroup(label=label, options=options, default=default,
                                 labels=tuple(C.SCENARIO_LABELS.get(n, n) for n in options)))
    rest = [n for n, sc in model.scenarios.items()
            if sc.values and n not in placed and n not in C.SCENARIOS_LEFT_OUT]
    for members in _alternatives(model, rest):
        out.append(ScenarioGroup(label=" / ".join(members), options=tuple(members),
                                 default=members[0], labels=tuple(members)))
    return tuple(out)


def _alternatives(model, names):
    """Connected sets of ``names`` under "sets a common parameter", in model order."""
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
    return list(groups.values())


def content_problems(model):
    """Where :mod:`content` and ``model`` disagree, one sentence each (empty: they agree).

    Checks that every scenario content names exists, that no scenario is both grouped and
    left out or in two groups, that scenarios of different groups can be combined (set
    different parameters), and that every scenario of the model is placed or left out.
    """
    problems = []
    seen = {}
    for label, names in C.SCENARIO_GROUPS:
        for n in names:
            if n is None:
                continue
            if n not in model.scenarios:
                problems.append(f"content group \u201c{label}\u201d names the scenario "
                                f"\u201c{n}\u201d, which the model does not have")
            if n in seen:
                problems.append(f"the scenario \u201c{n}\u201d is in two groups "
                                f"({seen[n]}, {label})")
            seen[n] = label
    for n in C.SCENARIOS_LEFT_OUT:
        if n not in model.scenarios:
            problems.append(f"content leaves out the scenario \u201c{n}\u201d, which the "
                            "model does not have")
        if n in seen:
            problems.append(f"the scenario \u201c{n}\u201d is both offered and left out")
    present = [n for n in seen if n in model.scenarios]
    for i, a in enumerate(present):
        for b in present[i + 1:]:
            common = set(model.scenarios[a].values) & set(model.scenarios[b].values)
            if seen[a] != seen[b] and common:
                problems.append(f"the scenarios \u201c{a}\u201d and \u201c{b}\u201d of "
                                f"different groups both set {', '.join(sorted(common))}")
    for n, sc in model.scenarios.items():
        if sc.values and n not in seen and n not in C.SCENARIOS_LEFT_OUT:
            problems.append(f"the model's scenario \u201c{n}\u201d is in no content group")
    return problems


def pick_output(model, candidates):
    """The first ``(name, label)`` of ``candidates`` whose name is a model output, or None."""
    for name, label in candidates:
        if name in model.output_names:
            return name, label
    return None


# -------------------------------------------------------------------------------- simulation
def steady_state_times(days, dense_days=C.DENSE_DAYS, step=C.DENSE_STEP,
                       coarse_step=C.COARSE_STEP, day=C.DOSE_EVERY):
    """Output times (h): every ``coarse_step`` up to the last ``dense_days``, then every
    ``step``.

    Returns
    -------
    numpy.ndarray, shape (m,), from 0 to ``days * day`` inclusive.
    """
    start = (days - dense_days) * day
    n_coarse = int(round(start / coarse_step))
    n_dense = int(round(dense_days * day / step))
    return np.concatenate([coarse_step * np.arange(n_coarse),
                           start + step * np.arange(n_dense + 1)])


def daily_stats(t, y, day=C.DOSE_EVERY):
    """Mean (trapezoidal), minimum and maximum of ``y`` over each whole day of ``t``.

    Parameters
    ----------
    t : numpy.ndarray, shape (m,)
        Increasing times starting at 0 (h).
    y : numpy.ndarray, shape (m,)
    day : float

    Returns
    -------
    dict of numpy.ndarray, shape (k,), one entry per whole day: ``day`` (its midpoint, in
    days), ``mean``, ``min``, ``max``.
    """
    k = int(np.floor(t[-1] / day + 1e-9))
    out = {"day": np.arange(k) + 0.5, "mean": np.empty(k), "min": np.empty(k),
           "max": np.empty(k)}
    for i in range(k):
        inside = (t >= i * day - 1e-9) & (t <= (i + 1) * day + 1e-9)
        ti, yi = t[inside], y[inside]
        out["mean"][i] = np.sum(np.diff(ti) * (yi[1:] + yi[:-1]) / 2) / (ti[-1] - ti[0])
        out["min"][i], out["max"][i] = yi.min(), yi.max()
    return out


@dataclass
class View:
    """What the page shows for one dose and scenario choice.

    ``series`` holds the curves by panel (``"plasma"`` over the last week, ``"brain"`` and
    ``"peripheral"`` over the last day, ``"immune"`` over the whole run), each a dict of 1-D
    arrays with a ``t`` key (hours since the start of the shown window; days for
    ``"immune"``), and ``"signal"``, the daily statistics (:func:`daily_stats`) of the signal
    the immune readout reads; ``numbers`` the values printed (floats; key -> value:
    ``<output>_peak`` and ``<output>_trough`` over the last day, the signal's ``_mean`` too,
    ``blockade_hours``, ``immune_end``); ``missing``
    the panels or curves that cannot be drawn, with a message each; ``notes`` remarks (e.g.
    steady state not reached).
    """

    dose: float
    scenarios: tuple
    series: dict = field(default_factory=dict)
    numbers: dict = field(default_factory=dict)
    missing: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)
    blockade: tuple | None = None
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

    Attributes
    ----------
    groups : tuple of ScenarioGroup
        The scenario controls.
    blockade : (str, str) or None
        The output (name, label) that defines hours of blockade.
    problems : list of str
        Where :mod:`content` and the model disagree (shown on the page).
    """

    def __init__(self, model=C.MODEL, *, days=None, cache_size=256):
        from ..model import load_model

        self.model = model if not isinstance(model, str) else load_model(model)
        self.compiled = self.model.compile()      # compiled (or loaded from cache) once
        self.groups = scenario_groups(self.model)
        self.problems = content_problems(self.model)
        self.blockade = pick_output(self.model, C.BRAIN_OUTPUTS)
        self.days = int(days if days is not None else C.STEADY_STATE_DAYS)
        if self.days < C.DENSE_DAYS:
            raise AppInputError(f"days must be at least {C.DENSE_DAYS}")
        self.t_eval = steady_state_times(self.days)
        self._cache = OrderedDict()
        self._cache_size = int(cache_size)

    # ---------------------------------------------------------------------------- inputs
    def default_scenarios(self):
        return tuple(g.default for g in self.groups if g.default is not None)

    def check_scenarios(self, scenarios):
        """The scenario tuple in group order (defaults filled in, :data:`NO_SCENARIO`
        dropped); AppInputError for an unknown, left-out or clashing set."""
        scenarios = tuple(s for s in scenarios if s != NO_SCENARIO)
        offered = {s for g in self.groups for s in g.options}
        for s in scenarios:
            if s not in self.model.scenarios:
                raise AppInputError(f"The model has no scenario \u201c{s}\u201d; it has "
                                    f"{', '.join(self.model.scenarios)}.")
            if s not in offered:
                why = C.SCENARIOS_LEFT_OUT.get(s, ("",))[0]
                raise AppInputError(f"This page does not offer the scenario \u201c{s}\u201d."
                                    + (f" {why}" if why else ""))
        chosen = []
        for g in self.groups:
            picked = [s for s in scenarios if s in g.options]
            if len(picked) > 1:
                raise AppInputError(f"Choose one {g.label.lower()}: {' or '.join(picked)}.")
            pick = picked[0] if picked else g.default
            if pick is not None:
                chosen.append(pick)
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
        ds = simulate(self.model, self.t_eval, scenarios=key[1], regimen=self.regimen(key[0]))
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
        dose = parse_dose(dose) if isinstance(dose, str) else float(dose)
        if not (math.isfinite(dose) and C.DOSE_MIN <= dose <= C.DOSE_MAX):
            parse_dose(repr(dose))  # raises with the page's message
        scenarios = self.check_scenarios(scenarios if scenarios is not None
                                         else self.default_scenarios())
        ds = self.simulate(dose, scenarios)
        v = View(dose=dose, scenarios=scenarios, blockade=self.blockade, days=self.days)
        t = ds["time"].values
        week = t >= t[-1] - C.DENSE_DAYS * C.DOSE_EVERY - 1e-9
        last_day = t >= t[-1] - C.DOSE_EVERY - 1e-9
        self._curves(v, ds, "plasma", C.PLASMA_OUTPUTS, week, last_day)
        self._curves(v, ds, "brain", C.BRAIN_OUTPUTS, last_day, last_day)
        self._curves(v, ds, "peripheral", C.PERIPHERAL_OUTPUTS, last_day, last_day)
        self._blockade(v, ds)
        self._immune(v, ds)
        for name in C.STEADY_STATE_OUTPUTS:
            if name in self.model.output_names:
                self._steady_note(v, ds, name)
        return v

    def _curves(self, v, ds, panel, outputs, shown, last_day):
        """Curves of ``outputs`` over the times ``shown`` (mask), with their peak and trough
        over the last day; a message for each output the model lacks."""
        t = ds["time"].values
        curves = {"t": t[shown] - t[shown][0]}
        for name, label in outputs:
            if name not in self.model.output_names:
                v.missing[f"{panel}:{name}"] = (f"This model has no output \u201c{name}\u201d "
                                                f"({label}).")
                continue
            values = ds[name].values
            curves[name] = values[shown]
            v.numbers[f"{name}_peak"] = float(values[last_day].max())
            v.numbers[f"{name}_trough"] = float(values[last_day].min())
        if len(curves) > 1:
            v.series[panel] = curves

    def _blockade(self, v, ds):
        """Hours of blockade per day (mean of the last week) from the blockade output."""
        from ..metrics import blockade_hours

        if self.blockade is None:
            wanted = " or ".join(n for n, _ in C.BRAIN_OUTPUTS)
            v.missing["blockade"] = f"This model has no brain receptor output ({wanted})."
            return
        name = self.blockade[0]
        bh = blockade_hours(ds, name, C.BLOCKADE_THRESHOLD, day=C.DOSE_EVERY,
                            last_days=C.BLOCKADE_LAST_DAYS)
        v.numbers["blockade_hours"] = float(bh["blockade_hours"].values)

    def _immune(self, v, ds):
        """The immune readout and the signal it reads over the whole run (days)."""
        iname, (sname, slabel) = C.IMMUNE_OUTPUT, C.IMMUNE_SIGNAL
        if iname not in self.model.output_names:
            v.missing["immune"] = (f"This model has no output \u201c{iname}\u201d "
                                   "(the immune readout).")
            return
        t = ds["time"].values
        v.series["immune"] = {"t": t / C.DOSE_EVERY, iname: ds[iname].values}
        v.numbers["immune_end"] = float(ds[iname].values[-1])
        if sname in self.model.output_names:
            daily = daily_stats(t, ds[sname].values)
            v.series["signal"] = daily
            v.numbers[f"{sname}_peak"] = float(daily["max"][-1])
            v.numbers[f"{sname}_trough"] = float(daily["min"][-1])
            v.numbers[f"{sname}_mean"] = float(daily["mean"][-1])
        else:
            v.missing[f"immune:{sname}"] = (f"This model has no output \u201c{sname}\u201d "
                                            f"({slabel}).")

    def _steady_note(self, v, ds, name):
        """Note when ``name`` at the end differs from a day earlier by more than
        STEADY_STATE_RTOL of its size, at least 1 (not yet at steady state after ``days``
        days; the outputs checked are fractions or relative to untreated)."""
        t, values = ds["time"].values, ds[name].values
        i_prev = int(np.argmin(np.abs(t - (t[-1] - C.DOSE_EVERY))))
        a, b = float(values[i_prev]), float(values[-1])
        scale = max(abs(a), abs(b), 1.0)
        if abs(b - a) / scale > C.STEADY_STATE_RTOL:
            v.notes.append(f"{name} still changes by {100 * abs(b - a) / scale:.1f}% a day after "
                           f"{self.days} days: not yet at steady state.")
