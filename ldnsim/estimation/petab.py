"""Export a fit problem as PEtab v1 (SBML model + condition, measurement, observable and
parameter tables + YAML), so pyPESTO, AMICI or Data2Dynamics users can reproduce a fit.

Mapping (https://petab.readthedocs.io, format version 1):

- **model**: ``ldnsim.model.sbml.to_sbml_string`` with the problem's fixed values and global
  scenarios; doses become SBML events. Each subject's doses (``Regimen.expand``) fill event
  slots ``j``; slot ``j`` has a time parameter ``ev{j}_t`` and one amount parameter per dosed
  target, ``ev{j}_<target>``, set per condition (unused slots: time 1e12, amount 0). A bolus
  adds its amount to the state; an infusion switches the input parameter (made non-constant).
- **conditions**: one per subject (``subject_<k>``): the event parameters and every model
  parameter whose value differs between subjects (their SCENARIO).
- **measurements**: times relative to the subject's first record; summary observations
  (``Cmax(...)`` etc.) have no PEtab v1 form and are left out (a warning says how many).
- **observables**: ``obs_<NAME>`` with the residual error model as noise formula
  (additive ``a``, proportional ``b*abs(f)``, combined ``sqrt(a^2 + (b*f)^2)``); rows with an
  SD use ``obs_<NAME>_sd`` with the SD as a numeric noise parameter.
- **parameters**: the fitted parameters (``log10`` scale for log-scale parameters) and the
  residual-error parameters, nominal values at the estimate when a fit is given.

PEtab's objective is ``0.5 * (-2 log L)`` of ldnsim's maximum-likelihood objective for the same
parameters (a WLS fit's weights differ: PEtab evaluates the noise model at the prediction).
"""
from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np

from ..dataset import parse_name
from .problem import EstimationError

__all__ = ["export_petab", "UNUSED_EVENT_TIME"]

UNUSED_EVENT_TIME = 1e12


def _sid(text):
    s = re.sub(r"[^A-Za-z0-9_]", "_", str(text))
    return s if s[:1].isalpha() else f"x_{s}"


def export_petab(problem, directory, *, fit=None, name=None):
    """Write ``problem`` (and the estimates of ``fit``) as a PEtab v1 problem.

    Parameters
    ----------
    problem : Problem
    directory : path
        Created if missing; files ``model.xml``, ``conditions.tsv``, ``measurements.tsv``,
        ``observables.tsv``, ``parameters.tsv`` and ``<name>.yaml``.
    fit : xarray.Dataset, optional
        Its estimates become the nominal values.
    name : str, optional
        YAML file stem (default: the model name).

    Returns
    -------
    pathlib.Path
        The YAML file.
    """
    import pandas as pd

    from ..model.sbml import _libsbml, to_sbml_string

    libsbml = _libsbml()
    model = problem.model
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    # --- SBML with events
    text = to_sbml_string(model, params=problem.fixed, scenarios=problem.scenarios)
    doc = libsbml.readSBMLFromString(text)
    events = _dose_events(problem)
    _add_dose_events(libsbml, doc.getModel(), events)
    cond_ids = [f"subject_{k}" for k in range(len(problem.data.subjects))]
    cond_cols = _condition_columns(problem, events, cond_ids)
    (directory / "model.xml").write_text(libsbml.writeSBMLToString(doc), encoding="utf-8")
    conditions = pd.DataFrame([{"conditionId": c, "conditionName": str(problem.data.subjects[s]),
                                **cond_cols[c]} for s, c in enumerate(cond_ids)])
    # --- observables and measurements
    estimates = {}
    if fit is not None:
        estimates = dict(zip([str(p) for p in fit["parameter"].values],
                             np.asarray(fit["estimate"].values, float)))
    obs_rows, meas, skipped, noise_names = _observations(problem, cond_ids)
    if skipped:
        warnings.warn(f"PEtab v1 has no summary observables: {skipped} observation(s) "
                      "METRIC(VAR) are not exported", UserWarning, stacklevel=2)
    if not meas:
        raise EstimationError("nothing to export: every observation is a summary METRIC(VAR)")
    observables = pd.DataFrame(list(obs_rows.values()))
    measurements = pd.DataFrame(meas)
    parameters = pd.DataFrame(_parameter_rows(problem, estimates, noise_names))
    for df, fname in ((conditions, "conditions.tsv"), (measurements, "measurements.tsv"),
                      (observables, "observables.tsv"), (parameters, "parameters.tsv")):
        df.to_csv(directory / fname, sep="\t", index=False)
    stem = name or model.name
    yaml = directory / f"{stem}.yaml"
    yaml.write_text(
        "format_version: 1\n"
        "parameter_file: parameters.tsv\n"
        "problems:\n"
        "- sbml_files:\n  - model.xml\n"
        "  condition_files:\n  - conditions.tsv\n"
        "  measurement_files:\n  - measurements.tsv\n"
        "  observable_files:\n  - observables.tsv\n", encoding="utf-8")
    return yaml


def _dose_events(problem):
    """Every subject's doses against the full model (the problem may simulate a reduced one).

    Returns
    -------
    dict
        ``ev_t``, ``ev_k``, ``ev_i``, ``ev_a`` : ndarray, shape (n_subjects, n_events), the
        padded event tables (times relative to each subject's first record); ``finite`` : bool
        ndarray, same shape, the real events; ``n_slots`` : int, the most events of a subject;
        ``tname`` : dict, (kind, index) of each dosed target -> its SBML id.
    """
    from ..events import EventTable, pad_event_tables

    model = problem.model
    slots = list(model.parameter_names) + list(model.input_names)
    tables = []
    for sid in problem.data.subjects:
        table = problem.data.regimens[sid].expand(model)
        tables.append(EventTable(table.time - problem.data.start[sid], table.kind,
                                 table.index, table.amount))
    ev_t, ev_k, ev_i, ev_a = pad_event_tables(tables)
    finite = np.isfinite(ev_t)
    n_slots = int(finite.sum(axis=1).max()) if finite.size else 0
    targets = sorted({(int(k), int(i)) for k, i, f in zip(ev_k.ravel(), ev_i.ravel(),
                                                         finite.ravel()) if f})
    tname = {ti: (model.state_names[ti[1]] if ti[0] == 0 else slots[ti[1]]) for ti in targets}
    return {"ev_t": ev_t, "ev_k": ev_k, "ev_i": ev_i, "ev_a": ev_a, "finite": finite,
            "n_slots": n_slots, "tname": tname}


def _add_dose_events(libsbml, sm, events):
    """Add the event slots of ``events`` (see ``_dose_events``) to the SBML model ``sm``."""
    tname = events["tname"]
    for (kind, _), tn in tname.items():
        if kind == 1:
            sm.getParameter(tn).setConstant(False)
    for j in range(events["n_slots"]):
        _param(sm, f"ev{j}_t", UNUSED_EVENT_TIME)
        for tn in tname.values():
            amount_id = f"ev{j}_{tn}"
            _param(sm, amount_id, 0.0)
            ev = sm.createEvent()
            ev.setId(f"dose{j}_{tn}")
            ev.setUseValuesFromTriggerTime(True)
            trig = ev.createTrigger()
            trig.setInitialValue(False)
            trig.setPersistent(True)
            trig.setMath(libsbml.parseL3Formula(f"time >= ev{j}_t"))
            asg = ev.createEventAssignment()
            asg.setVariable(tn)
            asg.setMath(libsbml.parseL3Formula(f"{tn} + {amount_id}"))


def _condition_columns(problem, events, cond_ids):
    """Condition id -> {column: value}: each subject's event slots and the parameters that
    differ between subjects (their scenarios)."""
    subjects = problem.data.subjects
    n_slots, tname, finite = events["n_slots"], events["tname"], events["finite"]
    cond_cols = {}
    for s in range(len(subjects)):
        row = {}
        used = np.flatnonzero(finite[s])
        for j in range(n_slots):
            row[f"ev{j}_t"] = UNUSED_EVENT_TIME
            for tn in tname.values():
                row[f"ev{j}_{tn}"] = 0.0
        for j, e in enumerate(used):
            tn = tname[(int(events["ev_k"][s, e]), int(events["ev_i"][s, e]))]
            row[f"ev{j}_t"] = float(events["ev_t"][s, e])
            row[f"ev{j}_{tn}"] = float(events["ev_a"][s, e])
        cond_cols[cond_ids[s]] = row
    model = problem.model
    base = problem.base[:, :len(model.parameter_names)]
    fitted = set(problem.param_names)
    for k, pname in enumerate(model.parameter_names):
        if pname not in fitted and np.ptp(base[:, k]) > 0:
            for s in range(len(subjects)):
                cond_cols[cond_ids[s]][pname] = float(base[s, k])
    return cond_cols


def _observations(problem, cond_ids):
    """Observable rows, measurement rows, the number of summary observations left out and the
    names whose noise is the error model's parameters (not a given SD)."""
    obs = problem.data.observations
    subjects = problem.data.subjects
    obs_rows, meas, skipped, noise_names = {}, [], 0, set()
    for o in range(problem.n_obs):
        oname = str(obs["NAME"].values[o])
        metric, var = parse_name(oname)
        if metric is not None:
            skipped += 1
            continue
        has_sd = np.isfinite(problem.sd[o])
        oid = f"obs_{_sid(oname)}" + ("_sd" if has_sd else "")
        if oid not in obs_rows:
            obs_rows[oid] = _observable(oid, var, problem.errors.get(oname), has_sd)
        if has_sd:
            noise = repr(float(problem.sd[o]))
        else:
            noise = ";".join(problem.errors[oname].parameters)
            noise_names.add(oname)
        s = int(problem.obs_subject[o])
        meas.append({"observableId": oid, "simulationConditionId": cond_ids[s],
                     "measurement": float(problem.y[o]),
                     "time": float(obs["TIME"].values[o] - problem.data.start[subjects[s]]),
                     "noiseParameters": noise})
    return obs_rows, meas, skipped, noise_names


def _parameter_rows(problem, estimates, noise_names):
    """Rows of the parameter table: the fitted parameters, then the residual-error ones."""
    prows = []
    for p in problem.params:
        prows.append({"parameterId": p.name, "parameterName": p.name,
                      "parameterScale": "log10" if p.scale == "log" else "lin",
                      "lowerBound": p.lower, "upperBound": p.upper,
                      "nominalValue": estimates.get(p.name, p.init), "estimate": 1})
    for oname, spec in problem.errors.items():
        if oname not in noise_names:
            continue  # only summary observations use it: not exported
        for pname, value in zip(spec.parameters, spec.values):
            est = 1 if (spec.estimate and problem.method == "ml") else 0
            prows.append({"parameterId": pname, "parameterName": pname,
                          "parameterScale": "log10", "lowerBound": value / 1e4,
                          "upperBound": value * 1e4,
                          "nominalValue": estimates.get(pname, value), "estimate": est})
    return prows


def _param(sm, pid, value):
    q = sm.createParameter()
    q.setId(pid)
    q.setConstant(True)
    q.setValue(float(value))


def _observable(oid, var, spec, has_sd):
    row = {"observableId": oid, "observableName": var, "observableFormula": var,
           "observableTransformation": "lin", "noiseDistribution": "normal"}
    n1, n2 = f"noiseParameter1_{oid}", f"noiseParameter2_{oid}"
    if has_sd or spec.model == "additive":
        row["noiseFormula"] = n1
    elif spec.model == "proportional":
        row["noiseFormula"] = f"{n1} * abs({var})"
    else:
        row["noiseFormula"] = f"sqrt({n1}^2 + ({n2} * {var})^2)"
    return row


