"""Simulated observed-data files with known parameters and noise (tests, benchmarks, demos).

The data are simulated with the same machinery a fit uses (:class:`Problem.predict`), so a
fit of a synthetic file recovers its parameters up to the noise only.
"""
from __future__ import annotations

import csv
import io

import numpy as np

from ..dataset import read_dataset
from ..observation import residual_sd
from .problem import build_problem

__all__ = ["synthetic_dataset"]


def synthetic_dataset(model, doses, times, names, *, params=None, scenarios=None,
                      error="proportional", sd=0.1, additive=None, seed=0, study="synthetic",
                      write_sd=False, notes=()):
    """CSV text of a simulated data set in the ldnsim data format.

    Parameters
    ----------
    model : Model or str
    doses : dict ID -> list of (time, amount) or (time, amount, target) or
        (time, amount, target, rate)
        Dose records per subject (bolus unless a rate > 0 is given).
    times : sequence of float
        Observation times (the same for every subject), after the subject's first dose.
    names : sequence of str
        Observed variables (model outputs or states), each observed at every time.
    params : dict, optional
        True parameter values (default: the model's values).
    scenarios : dict ID -> str, optional
        SCENARIO column per subject.
    error : {"additive", "proportional", "combined"}
        Noise model; ``sd`` is the proportional sd (a fraction) and ``additive`` the additive
        sd (in the variable's unit); for "additive" ``sd`` is the additive sd.
    seed : int
        Seed of the noise.
    write_sd : bool
        Write each row's true noise sd in the SD column.

    Returns
    -------
    str
        The CSV text (``read_dataset`` reads it back).
    """
    from ..model import load_model

    model = load_model(model)
    params = dict(params or {})
    rows = _template_rows(model, doses, times, names, scenarios, study)
    columns = ["ID", "TIME", "EVID", "AMT", "CMT", "RATE", "DV", "MDV", "NAME", "UNIT", "SD",
               "SCENARIO", "STUDY", "SOURCE", "METHOD"]
    template = _write(columns, rows, notes)
    data = read_dataset(template, model, references=False)
    f = _true_values(model, data, params, scenarios)
    rng = np.random.default_rng(seed)
    if error not in ("additive", "proportional", "combined"):
        raise ValueError(f"unknown error model {error!r}")
    # the fit's own definition of the sd (ldnsim.observation.residual_sd)
    s = (residual_sd("additive", f, sd) if error == "additive" else
         residual_sd(error, f, additive or 0.0, sd))
    y = f + s * rng.standard_normal(f.shape)
    k = 0
    for row in rows:
        if row["EVID"] == "0":
            row["DV"] = repr(float(y[k]))
            if write_sd:
                row["SD"] = repr(float(s[k]))
            k += 1
    return _write(columns, rows, notes)


def _template_rows(model, doses, times, names, scenarios, study):
    """The data set's rows (column -> text), every DV 1.0 until the simulation fills it."""
    units = {s.name: s.unit for s in model.states}
    units.update({o.name: o.unit for o in model.outputs})
    dose_unit = {s.name: s.unit for s in model.states}
    rows = []
    for sid, entries in doses.items():
        recs = []
        for entry in entries:
            t, amt = float(entry[0]), float(entry[1])
            target = entry[2] if len(entry) > 2 else None
            rate = float(entry[3]) if len(entry) > 3 else 0.0
            tgt = target or model.dose_target
            unit = dose_unit.get(tgt) or dose_unit[
                next(i.target for i in model.inputs if i.name == tgt)]
            recs.append((t, 1, {"AMT": repr(amt), "CMT": target or "", "MDV": "1",
                                "UNIT": unit, "RATE": repr(rate) if rate else ""}))
        for t in times:
            for name in names:
                recs.append((float(t), 0, {"NAME": name, "DV": "1.0", "MDV": "0",
                                           "UNIT": units[name], "SOURCE": "simulated",
                                           "METHOD": "derived"}))
        recs.sort(key=lambda r: (r[0], -r[1]))  # doses first at equal times
        for t, evid, cells in recs:
            row = {"ID": str(sid), "TIME": repr(t), "EVID": str(evid), "STUDY": study,
                   "SCENARIO": (scenarios or {}).get(sid, "")}
            row.update(cells)
            rows.append(row)
    return rows


def _true_values(model, data, params, scenarios):
    """The noise-free observations of ``data`` at ``params``, shape (n_obs,), simulated as a
    fit predicts them (one parameter "fitted" at its true value, the others fixed)."""
    used = {k for sc in (scenarios or {}).values() for name in sc.split("+") if name
            for k in model.scenarios[name].values}
    first = next(p for p in model.parameter_names if p not in used)
    fixed = {k: v for k, v in params.items() if k != first}
    value = params.get(first, model.parameters[model.parameter_names.index(first)].value)
    pb = build_problem(model, data, {first: {"init": value, "lower": -1e300, "upper": 1e300,
                                             "scale": "lin"}},
                       fixed=fixed, method="wls", error="additive")
    f, ok = pb.predict([value])
    if not ok[0]:
        raise RuntimeError("the model could not be solved at the true parameters")
    return f[0]


def _write(columns, rows, notes):
    buf = io.StringIO()
    for n in notes:
        buf.write(f"# {n}\n")
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    for row in rows:
        w.writerow([row.get(c, "") for c in columns])
    return buf.getvalue()
