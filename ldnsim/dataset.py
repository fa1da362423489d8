"""Observed data sets: NONMEM-style CSV files -> regimens per subject + labelled observations.

The file format is described in ``docs/data-format.md``. In short: one header row of upper-case
column names (``ID, TIME, EVID, AMT, CMT, DV, MDV, NAME, TSTART, UNIT, SD, N, SCENARIO, STUDY,
SOURCE, METHOD, II, ADDL, RATE, SS, NOTE``), free-text ``#`` lines before it, one record per
line after it. Dose records (``EVID = 1``) become a :class:`~ldnsim.dosing.Regimen` per subject;
observation records (``EVID = 0, MDV = 0``) become an ``xarray.Dataset`` over the dim ``obs``.

:func:`read_dataset` checks everything it can without a model (numbers, EVID/MDV combinations,
time order within a subject, units that parse, citations); given a model it also checks the
names, units and dose targets against it. Every problem is one :class:`DataError` line that
names the file, the row (the line number in the file, as a spreadsheet shows it) and the
column, e.g. ``data.csv: row 7 (ID 2), column UNIT: unit 'mg/L' does not match ...``.

This module imports the model, dosing and results layers only (no solver).
"""
from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ._text import suggest
from .dosing import Dose, Regimen
from .errors import LdnsimError

__all__ = ["read_dataset", "read_dosing_table", "ObservedData", "DataError", "SUMMARY_METRICS",
           "COLUMNS", "parse_name", "read_references", "DOSING_COLUMNS"]

#: Summary observations ``METRIC(VAR)`` and the unit each has, given VAR's unit ``u`` and the
#: time unit ``t``.
SUMMARY_METRICS = {
    "Cmax": "u", "Cmin": "u", "Cavg": "u", "Tmax": "t", "half_life": "t",
    "AUC": "u*t", "AUCinf": "u*t",
}
#: Every column the reader knows, in the order it writes them.
COLUMNS = ("ID", "TIME", "EVID", "AMT", "CMT", "DV", "MDV", "NAME", "TSTART", "UNIT", "SD",
           "N", "SCENARIO", "STUDY", "SOURCE", "METHOD", "II", "ADDL", "RATE", "SS", "NOTE")
REQUIRED = ("ID", "TIME", "EVID", "MDV", "UNIT", "STUDY")
#: Columns of a dosing event table (:func:`read_dosing_table`); ID, TIME and AMT are required.
DOSING_COLUMNS = ("ID", "TIME", "AMT", "EVID", "CMT", "RATE", "II", "ADDL", "SS")
METHODS = ("reported", "digitised", "derived")
MAX_FILE_BYTES = 50_000_000
_MISSING = ("", ".")
_SUMMARY = re.compile(r"([A-Za-z_]+)\(\s*([A-Za-z][A-Za-z0-9_]*)\s*\)\Z")
_VAR = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")
_STUDY_KEY = re.compile(r"[a-z0-9_]+\Z")
_HEADING = re.compile(r"^###\s+([^\s]+)\s*$")


class DataError(LdnsimError, ValueError):
    """An observed-data file is invalid; the message names the file, row and column."""


# -------------------------------------------------------------------------------- helpers
def _short(text, n=40):
    text = repr(text)
    return text if len(text) <= n else text[:n - 4] + "...'"


def parse_name(name):
    """Split an observation NAME into ``(metric or None, variable)``.

    ``"C_ntx"`` -> ``(None, "C_ntx")``; ``"Cmax(C_ntx)"`` -> ``("Cmax", "C_ntx")``.

    Raises
    ------
    ValueError
        With the reason when ``name`` is neither a variable name nor ``METRIC(VAR)``.
    """
    name = name.strip()
    m = _SUMMARY.match(name)
    if m:
        metric, var = m.group(1), m.group(2)
        if metric not in SUMMARY_METRICS:
            raise ValueError(f"unknown summary metric {metric!r}{suggest(metric, SUMMARY_METRICS)}"
                             f" in {name!r}; use one of {', '.join(SUMMARY_METRICS)}")
        return metric, var
    if _VAR.match(name):
        return None, name
    raise ValueError(f"{_short(name)} is neither a model variable name nor METRIC(VAR) "
                     f"with METRIC one of {', '.join(SUMMARY_METRICS)}")


def read_references(path):
    """The citation keys (``### key`` headings) of a references file such as
    ``models/REFERENCES.md``, as a frozenset."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read the references file ({exc})") from None
    keys = set()
    for line in text.splitlines():
        m = _HEADING.match(line)
        if m:
            keys.add(m.group(1))
    return frozenset(keys)


def _find_references(path):
    """``REFERENCES.md`` next to the data file or one folder up (``models/data/x.csv`` ->
    ``models/REFERENCES.md``), or None."""
    if path is None:
        return None
    for folder in (path.parent, path.parent.parent):
        candidate = folder / "REFERENCES.md"
        if candidate.is_file():
            return candidate
    return None


def _units_equal(a, b):
    """Unit strings equal as products of symbols ("ng*h/mL" == "ng/mL*h")."""
    from .model.units import parse_unit

    def norm(u):
        return sorted(parse_unit(u))
    return norm(a) == norm(b)


# --------------------------------------------------------------------------- one record
class _Row:
    """One CSV record with the helpers that turn its cells into values or one-line errors."""

    __slots__ = ("cells", "line", "where")

    def __init__(self, cells, line, where):
        self.cells, self.line, self.where = cells, line, where

    def fail(self, column, msg):
        ident = self.cells.get("ID", "").strip()
        who = f" (ID {ident})" if ident else ""
        col = f", column {column}" if column else ""
        text = " ".join(f"{self.where}: row {self.line}{who}{col}: {msg}".split())
        return DataError(text)

    def text(self, column):
        return self.cells.get(column, "").strip()

    def missing(self, column):
        return self.text(column) in _MISSING

    def number(self, column, *, required=False, what="a number"):
        cell = self.text(column)
        if cell in _MISSING:
            if required:
                raise self.fail(column, f"missing value; expected {what}")
            return None
        try:
            value = float(cell)
        except ValueError:
            raise self.fail(column, f"expected {what}, got {_short(cell)}") from None
        if not math.isfinite(value):
            raise self.fail(column, f"expected a finite number, got {_short(cell)}")
        return value

    def integer(self, column, allowed=None, *, required=False):
        value = self.number(column, required=required, what="an integer")
        if value is None:
            return None
        if value != int(value):
            raise self.fail(column, f"expected an integer, got {_short(self.text(column))}")
        value = int(value)
        if allowed is not None and value not in allowed:
            raise self.fail(column, f"expected one of {', '.join(map(str, allowed))}, "
                                    f"got {value}")
        return value

    def empty(self, column, why):
        if not self.missing(column):
            raise self.fail(column, f"must be empty {why}, got {_short(self.text(column))}")


# ------------------------------------------------------------------------- the data object
@dataclass(frozen=True, eq=False, repr=False)
class ObservedData:
    """An observed-data set: per-subject dosing and labelled observations.

    Attributes
    ----------
    subjects : tuple of str
        IDs in order of first appearance.
    regimens : dict of str to Regimen
        Dosing of each subject (an empty Regimen when it has no dose records).
    scenarios : dict of str to tuple of str
        Model scenarios each subject is simulated under (``SCENARIO`` column).
    start : dict of str to float
        Time of each subject's first record (its simulation starts there).
    observations : xarray.Dataset
        Dim ``obs`` (one entry per observation record, file order). Variables: ``ID``,
        ``TIME`` (model time unit), ``DV``, ``NAME``, ``UNIT``, ``SD`` (NaN when not given),
        ``N`` (0 when not given), ``TSTART`` (NaN = the subject's first record), ``STUDY``,
        ``SOURCE``, ``METHOD``, ``NOTE``, ``ROW`` (line in the file), ``PREDOSE`` (True when a
        dose of the same subject at the same time follows the observation in file order: the
        value is taken just before that dose, as NONMEM does).
    studies : tuple of str
        Citation keys used, sorted.
    notes : tuple of str
        The ``#`` lines before the header, without the ``#``.
    columns : tuple of str
        Header of the (first) file.
    records : tuple of dict
        Every record as ``{column: text}`` (for writing the file back, :meth:`to_csv`).
    files : dict of str to str
        Path (or ``<text>``) -> sha256 of its bytes.
    model : str or None
        Name of the model the data were checked against.
    """

    subjects: tuple
    regimens: dict
    scenarios: dict
    start: dict
    observations: object
    studies: tuple
    notes: tuple = ()
    columns: tuple = ()
    records: tuple = ()
    files: dict = field(default_factory=dict)
    model: str | None = None
    _rows: dict = field(default_factory=dict, repr=False)

    def __len__(self):
        return int(self.observations.sizes["obs"])

    def __repr__(self):
        names = sorted(set(self.observations["NAME"].values.tolist()))
        return (f"ObservedData({len(self.subjects)} subjects, {len(self)} observations of "
                f"{', '.join(names) or 'nothing'}; studies {', '.join(self.studies)})")

    @property
    def names(self):
        """Observed quantities (NAME values), sorted."""
        return tuple(sorted(set(self.observations["NAME"].values.tolist())))

    def observations_of(self, name):
        """The observations of one NAME as a DataArray of DV over ``obs`` with ``units``."""
        obs = self.observations
        sel = obs.isel(obs=np.flatnonzero(obs["NAME"].values == name))
        if sel.sizes["obs"] == 0:
            raise DataError(f"no observations of {name!r}; observed: {', '.join(self.names)}")
        da = sel["DV"].copy()
        da.attrs = {"units": str(sel["UNIT"].values[0]), "long_name": name}
        return da

    def describe(self):
        """A few lines: subjects, doses, observations per NAME, studies and notes."""
        obs = self.observations
        lines = [repr(self)]
        for name in self.names:
            sel = obs["NAME"].values == name
            unit = obs["UNIT"].values[sel][0]
            lines.append(f"  {name} [{unit}]: {int(sel.sum())} observations")
        n_doses = sum(r.n_doses for r in self.regimens.values())
        lines.append(f"  {n_doses} administrations in {len(self.subjects)} subjects")
        lines += [f"  # {n}" for n in self.notes]
        return "\n".join(lines)

    def to_csv(self, path=None):
        """Write the records back as CSV text (notes, header, rows); returns the text and, if
        ``path`` is given, writes it there too."""
        buf = io.StringIO()
        for note in self.notes:
            buf.write(f"#{note}\n")
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(self.columns)
        for rec in self.records:
            writer.writerow([rec.get(c, "") for c in self.columns])
        text = buf.getvalue()
        if path is not None:
            Path(path).write_text(text, encoding="utf-8")
        return text

    def check(self, model):
        """Check names, units, dose targets and scenarios against ``model``; return a copy
        with ``model`` set. See :func:`read_dataset`."""
        from .model import load_model
        return _check_model(self, load_model(model))


# ----------------------------------------------------------------------------- reading
def _read_text(source):
    """``(text, path or None, where)`` from a path or CSV text."""
    if isinstance(source, bytes):
        return source.decode("utf-8-sig", errors="replace"), None, "<data text>"
    if not isinstance(source, (str, os.PathLike)):
        raise DataError(f"a data set is a path or CSV text, got {type(source).__name__}")
    if isinstance(source, str) and ("\n" in source or "\r" in source):
        return source, None, "<data text>"  # a path never holds a line break
    path = Path(source)
    where = str(path)
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise DataError(f"{where}: larger than {MAX_FILE_BYTES} bytes; is this a data file?")
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{where}: no such data file") from None
    except IsADirectoryError:
        raise DataError(f"{where}: is a directory, not a data file") from None
    except OSError as exc:
        raise DataError(f"{where}: cannot read ({exc.strerror or exc})") from None
    except ValueError as exc:  # e.g. a NUL byte in the path
        raise DataError(f"{where!r}: not a usable path ({exc})") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(f"{where}: not UTF-8 text (byte {exc.start}); save it as UTF-8") \
            from None
    return text, path, where


def _split(text, where, required=REQUIRED):
    """Notes, header and records (with their line numbers) of one CSV text."""
    lines = text.splitlines(keepends=True)
    notes, i = [], 0
    while i < len(lines) and (lines[i].lstrip().startswith("#") or not lines[i].strip()):
        if lines[i].lstrip().startswith("#"):
            notes.append(lines[i].strip()[1:].rstrip())
        i += 1
    if i == len(lines):
        raise DataError(f"{where}: no header row; the first line that is not a '#' note must "
                        f"name the columns ({', '.join(REQUIRED)}, ...)")
    if "\0" in text:
        raise DataError(f"{where}: contains NUL bytes; is this a text (CSV) file?")
    reader = csv.reader(io.StringIO("".join(lines[i:]), newline=""), strict=True)
    offset = i  # physical lines before the header
    try:
        header = next(reader)
        header_line = offset + reader.line_num
        records = []
        for cells in reader:
            line = offset + reader.line_num
            if not any(c.strip() for c in cells):
                continue
            records.append((cells, line))
    except csv.Error as exc:
        raise DataError(f"{where}: row {offset + reader.line_num}: not valid CSV ({exc})") \
            from None
    columns = [h.strip().upper() for h in header]
    for j, name in enumerate(columns):
        if not name:
            raise DataError(f"{where}: row {header_line}, column {j + 1}: empty column name "
                            "in the header")
        if name in columns[:j]:
            raise DataError(f"{where}: row {header_line}, column {name}: the header names "
                            f"{name} twice")
    for name in required:
        if name not in columns:
            near = suggest(name, [c for c in columns if c not in COLUMNS])
            raise DataError(f"{where}: row {header_line}, column {name}: missing required "
                            f"column {name}{near}; the header must name "
                            f"{', '.join(required)}")
    rows = []
    for cells, line in records:
        if len(cells) != len(columns):
            raise DataError(f"{where}: row {line}: has {len(cells)} fields but the header "
                            f"has {len(columns)} columns; check commas and quotes")
        rows.append(_Row(dict(zip(columns, cells)), line, where))
    if not rows:
        raise DataError(f"{where}: no records after the header row")
    return notes, tuple(columns), rows


def _parse(rows, where, references, ref_where, id_prefix=""):
    """Check every record on its own and in its subject; build regimens and observations."""
    subjects, doses, scen, start, last = [], {}, {}, {}, {}
    obs = {k: [] for k in _OBS_KEYS}
    obs_rows, first_rows = [], {}
    for k, row in enumerate(rows):
        ident = row.text("ID")
        if not ident:
            raise row.fail("ID", "missing subject ID")
        sid = id_prefix + ident
        time = row.number("TIME", required=True, what="a time (a number)")
        evid = row.integer("EVID", (0, 1), required=True)
        mdv = row.integer("MDV", (0, 1), required=True)
        study = _check_study(row, references, ref_where)
        unit = _check_unit(row)
        if sid not in start:
            subjects.append(sid)
            start[sid], doses[sid], first_rows[sid] = time, [], row
        elif time < last[sid][0]:
            raise row.fail("TIME", f"time {time:g} is earlier than the previous record of this "
                                   f"subject ({last[sid][0]:g} at row {last[sid][1]}); sort "
                                   "each subject's records by TIME")
        last[sid] = (time, row.line)
        _check_scenario(row, sid, ident, scen)
        ss = row.integer("SS", (0, 1))
        if ss == 1:
            raise row.fail("SS", "steady-state doses (SS = 1) are not implemented; give the "
                                 "doses that lead to steady state (ADDL, II)")
        if evid == 1:
            if mdv != 1:
                raise row.fail("MDV", "a dose record (EVID 1) must have MDV 1")
            row.empty("DV", "on a dose record (EVID 1)")
            row.empty("NAME", "on a dose record (EVID 1)")
            row.empty("TSTART", "on a dose record (EVID 1)")
            dose = _dose_record(row, time)
            doses[sid].append((dose, row, unit))
            continue
        values = _observation(row, mdv, time, start[sid])
        if values is None:
            continue  # a record without a value: kept in the file, not used
        values.update(ID=sid, TIME=time, UNIT=unit, STUDY=study, ROW=row.line, PREDOSE=k)
        for key in _OBS_KEYS:
            obs[key].append(values[key])
        obs_rows.append(row)
    if not obs["ID"]:
        raise DataError(f"{where}: no observation records (EVID 0, MDV 0); nothing to fit "
                        "or compare")
    obs["PREDOSE"] = _predose(rows, subjects, doses, obs)
    rows_info = {"doses": {s: [(row, unit) for _, row, unit in doses[s]] for s in subjects},
                 "obs": obs_rows, "first": first_rows}
    return subjects, doses, scen, start, obs, rows_info


_OBS_KEYS = ("ID", "TIME", "DV", "NAME", "UNIT", "SD", "N", "TSTART", "STUDY", "SOURCE", "METHOD",
             "NOTE", "ROW", "PREDOSE")


def _check_study(row, references, ref_where):
    """The record's STUDY: a citation key, a heading of the references when they are given."""
    study = row.text("STUDY")
    if not study:
        raise row.fail("STUDY", "missing citation key: every record names its source (a "
                                "'### key' heading of models/REFERENCES.md)")
    if not _STUDY_KEY.match(study):
        raise row.fail("STUDY", f"citation key {_short(study)} must be lower-case letters,"
                                " digits and '_' (author + year, e.g. meyer1984)")
    if references is not None and study not in references:
        raise row.fail("STUDY", f"citation key {study!r} is not a '### {study}' heading "
                                f"of {ref_where}{suggest(study, references)}")
    return study


def _check_unit(row):
    """The record's UNIT, which must parse."""
    unit = row.text("UNIT")
    if not unit:
        raise row.fail("UNIT", "missing unit (of DV on observation rows, of AMT on dose "
                               "rows)")
    from .model.units import UnitError, parse_unit
    try:
        parse_unit(unit)
    except UnitError as exc:
        raise row.fail("UNIT", str(exc)) from None
    return unit


def _check_scenario(row, sid, ident, scen):
    """Check the record's SCENARIO and record it in ``scen`` (one set per subject)."""
    scenario = row.text("SCENARIO")
    names = tuple(s.strip() for s in scenario.split("+")) if scenario else ()
    if any(not _VAR.match(s) for s in names):
        raise row.fail("SCENARIO", f"{_short(scenario)} is not a list of scenario names "
                                   "joined with '+'")
    if scenario:
        if scen.get(sid, names) != names:
            raise row.fail("SCENARIO", f"subject {ident} is simulated under one scenario "
                                       f"set, but this row gives {scenario!r} and an "
                                       f"earlier one {'+'.join(scen[sid])!r}")
        scen[sid] = names


def _observation(row, mdv, time, first):
    """The checked fields of an observation record (EVID 0) whose subject starts at ``first``:
    a dict DV, NAME, SD, N, TSTART, SOURCE, METHOD, NOTE; None when MDV is 1 (no value)."""
    row.empty("AMT", "on an observation record (EVID 0)")
    row.empty("RATE", "on an observation record (EVID 0)")
    row.empty("II", "on an observation record (EVID 0)")
    row.empty("ADDL", "on an observation record (EVID 0)")
    row.empty("CMT", "on an observation record (EVID 0); NAME says what is observed")
    if mdv == 1:
        row.empty("DV", "when MDV is 1 (no observed value)")
        return None
    dv = row.number("DV", required=True, what="the observed value (a number)")
    name = row.text("NAME")
    if not name:
        raise row.fail("NAME", "missing: an observation names what it observes (a model "
                               "output or state, or METRIC(VAR))")
    try:
        metric, _ = parse_name(name)
    except ValueError as exc:
        raise row.fail("NAME", str(exc)) from None
    tstart = _window_start(row, metric, name, time, first)
    sd = row.number("SD")
    if sd is not None and sd <= 0:
        raise row.fail("SD", f"standard deviation must be > 0, got {sd:g} (leave it empty "
                             "when unknown)")
    n = row.integer("N")
    if n is not None and n < 1:
        raise row.fail("N", f"number of subjects must be >= 1, got {n}")
    source = row.text("SOURCE")
    if not source:
        raise row.fail("SOURCE", "missing: say where in the study the value was read "
                                 "(\"Table 1\", \"Fig. 3B\", \"abstract\")")
    method = row.text("METHOD")
    if method not in METHODS:
        raise row.fail("METHOD", f"expected one of {', '.join(METHODS)}, got "
                                 f"{_short(method)}{suggest(method, METHODS)}")
    return {"DV": dv, "NAME": name, "SD": math.nan if sd is None else sd,
            "N": 0 if n is None else n, "TSTART": math.nan if tstart is None else tstart,
            "SOURCE": source, "METHOD": method, "NOTE": row.text("NOTE")}


def _window_start(row, metric, name, time, first):
    """The record's TSTART (None if empty), checked against its window ending at ``time``."""
    tstart = row.number("TSTART")
    if tstart is not None:
        if metric is None:
            raise row.fail("TSTART", f"a window start only applies to summary observations "
                                     f"METRIC(VAR), not to {name!r}")
        if not first <= tstart < time:
            raise row.fail("TSTART", f"window [{tstart:g}, {time:g}] must start at or after "
                                     f"the subject's first record ({first:g}) and "
                                     "before TIME")
    elif metric is not None and not time > first:
        raise row.fail("TIME", f"the window of {name} ends at TIME {time:g}, which is not "
                               f"after its start (the subject's first record, "
                               f"{first:g}); give TSTART or a later TIME")
    return tstart


def _predose(rows, subjects, doses, obs):
    """PREDOSE of each observation: a dose of the same subject at the same time later in the
    file (``obs["PREDOSE"]`` holds each observation's record index on entry)."""
    index = {id(r): k for k, r in enumerate(rows)}
    dose_rows = {s: [(d.time, index[id(r)]) for d, r, _ in doses[s]] for s in subjects}
    return [any(t == time and j > k for t, j in dose_rows.get(sid, ()))
            for sid, time, k in zip(obs["ID"], obs["TIME"], obs["PREDOSE"])]


def _dose_record(row, time, cmt=None, ss=False):
    """The :class:`Dose` of a dose record (AMT, II, ADDL, RATE, CMT; SS given by the caller)."""
    amt = row.number("AMT", required=True, what="a dose amount (a number >= 0)")
    if amt < 0:
        raise row.fail("AMT", f"dose amount must be >= 0, got {amt:g}")
    ii = row.number("II") or 0.0
    addl = row.integer("ADDL") or 0
    if ii < 0:
        raise row.fail("II", f"dosing interval must be >= 0, got {ii:g}")
    if addl < 0:
        raise row.fail("ADDL", f"additional doses must be >= 0, got {addl}")
    if addl > 0 and ii <= 0:
        raise row.fail("II", f"ADDL = {addl} additional doses need an interval II > 0")
    if ss and ii <= 0:
        raise row.fail("II", "a steady-state dose (SS = 1) needs its interval II > 0")
    rate = row.number("RATE") or 0.0
    if rate < 0:
        raise row.fail("RATE", f"negative RATE ({rate:g}) is not supported (NONMEM's "
                               "modelled rates -1/-2); give the infusion rate AMT/"
                               "duration")
    if cmt is None:
        cmt = row.text("CMT") or None
        if cmt is not None and not _VAR.match(cmt):
            raise row.fail("CMT", f"{_short(cmt)} is not a state or input name")
    duration = amt / rate if rate > 0 else 0.0
    try:
        return Dose(amt, time=time, target=cmt, every=ii if (addl > 0 or ss) else None,
                    count=addl + 1, duration=duration, ss=ss)
    except LdnsimError as exc:
        raise row.fail("SS" if ss and "ss=" in str(exc) else "AMT", str(exc)) from None


def read_dosing_table(source, model=None) -> dict:
    """Read a NONMEM-style dosing event table: a :class:`Regimen` per subject.

    Columns ``ID, TIME, AMT`` are required; ``EVID`` (1 dose, the default; 0 rows are
    skipped), ``CMT`` (a state or input name, or a state's number counted from 1 in the
    model's order), ``RATE`` (an infusion's rate, 0 a bolus), ``II`` and ``ADDL`` (repeats),
    ``SS`` (1: the subject is at the steady state of this dose and interval II before it,
    NONMEM ``SS=1``; at most one per subject, its earliest record) are optional. Other
    columns are ignored; ``#`` lines before the header are notes.

    Parameters
    ----------
    source : path or CSV text
    model : Model, optional
        Checks CMT against the model's states and inputs (and maps numbers to names; without
        a model a numeric CMT is an error).

    Returns
    -------
    dict of str to Regimen
        Subject ID -> its dosing, in order of first appearance.

    Raises
    ------
    DataError
        One line naming the file, the row (line in the file) and the column.
    """
    text, path, where = _read_text(source)
    _, columns, rows = _split(text, where, required=("ID", "TIME", "AMT"))
    doses: dict = {}
    last: dict = {}
    first_row: dict = {}
    states = tuple(model.state_names) if model is not None else None
    for row in rows:
        ident = row.text("ID")
        if not ident:
            raise row.fail("ID", "missing subject ID")
        time = row.number("TIME", required=True, what="a time (a number)")
        if ident in last and time < last[ident][0]:
            raise row.fail("TIME", f"time {time:g} is earlier than the previous record of this "
                                   f"subject ({last[ident][0]:g} at row {last[ident][1]}); sort "
                                   "each subject's records by TIME")
        last[ident] = (time, row.line)
        doses.setdefault(ident, [])
        first_row.setdefault(ident, row)
        evid = row.integer("EVID", (0, 1))
        if evid == 0:
            continue
        cmt = row.text("CMT") or None
        if cmt is not None and re.fullmatch(r"\d+", cmt):
            if states is None:
                raise row.fail("CMT", f"a compartment number ({cmt}) needs the model to name "
                                      "it; give the state's name")
            if not 1 <= int(cmt) <= len(states):
                raise row.fail("CMT", f"compartment {cmt} does not exist: model "
                                      f"{model.name!r} has {len(states)} states "
                                      f"({', '.join(states)}), numbered from 1")
            cmt = states[int(cmt) - 1]
        elif cmt is not None and not _VAR.match(cmt):
            raise row.fail("CMT", f"{_short(cmt)} is not a state or input name")
        ss = bool(row.integer("SS", (0, 1)) or 0)
        doses[ident].append((_dose_record(row, time, cmt, ss), row))
    out = {}
    for ident, entries in doses.items():
        try:
            regimen = Regimen(tuple(d for d, _ in entries))
        except LdnsimError as exc:
            raise first_row[ident].fail("SS", str(exc)) from None
        if model is not None:
            for dose, row in entries:
                try:
                    Regimen((dataclasses.replace(dose, ss=False),)).expand(model)
                except LdnsimError as exc:
                    raise row.fail("CMT", str(exc)) from None
        out[ident] = regimen
    return out


def _observations_dataset(obs, time_unit):
    import xarray as xr

    def arr(key, dtype):
        return np.asarray(obs[key], dtype=dtype)

    units = arr("UNIT", object)
    data = {
        "DV": ("obs", arr("DV", float), {"long_name": "observed value",
                                          "units": _common_unit(units)}),
        "SD": ("obs", arr("SD", float), {"long_name": "standard deviation of DV (NaN: unknown)"}),
        "N": ("obs", arr("N", np.int64), {"long_name": "subjects behind a mean (0: not given)"}),
        "TSTART": ("obs", arr("TSTART", float), {"long_name": "window start of a summary "
                                                 "observation (NaN: the subject's first record)",
                                                 "units": time_unit}),
        "ROW": ("obs", arr("ROW", np.int64), {"long_name": "line in the data file"}),
        "PREDOSE": ("obs", arr("PREDOSE", bool), {"long_name": "taken just before a dose at "
                                                  "the same time"}),
    }
    for key in ("ID", "NAME", "UNIT", "STUDY", "SOURCE", "METHOD", "NOTE"):
        data[key] = ("obs", np.asarray([str(v) for v in obs[key]], dtype=str))
    coords = {"obs": np.arange(len(obs["ID"])),
              "TIME": ("obs", arr("TIME", float), {"units": time_unit, "long_name": "time"})}
    return xr.Dataset(data, coords=coords)


def _common_unit(units):
    distinct = set(units.tolist())
    return distinct.pop() if len(distinct) == 1 else "see UNIT"


def _regimens(doses, subjects):
    return {sid: Regimen(tuple(d for d, _, _ in doses.get(sid, []))) for sid in subjects}


def read_dataset(source, model=None, *, references=None):
    """Read an observed-data CSV file (or several) into an :class:`ObservedData`.

    Parameters
    ----------
    source : str, os.PathLike, or a list of them
        A path, CSV text, or several paths (their subjects are kept apart: with more than one
        file every ID becomes ``"<file stem>/<ID>"``).
    model : Model or str, optional
        Check observed names, units, dose targets (CMT) and scenarios against this model (a
        Model, a shipped model's name or a model file).
    references : path, False or None
        The references file whose ``### key`` headings the STUDY column must name. None:
        ``REFERENCES.md`` next to the data file or one folder up (``models/REFERENCES.md`` for
        ``models/data/*.csv``), if there is one; False: do not check keys against a file.

    Returns
    -------
    ObservedData

    Raises
    ------
    DataError
        One line naming the file, the row (line number in the file) and the column: unknown
        output, state or metric, unit mismatch, time going backwards within a subject,
        missing or unknown citation key, bad EVID/MDV combinations, non-numeric values, ...
    """
    if isinstance(source, (list, tuple)):
        if not source:
            raise DataError("read_dataset got an empty list of files")
        parts = [_read_one(s, references, prefix=len(source) > 1) for s in source]
        data = _combine(parts)
    else:
        data = _read_one(source, references, prefix=False)
    if model is not None:
        from .model import load_model
        data = _check_model(data, load_model(model))
    return data


def _read_one(source, references, prefix):
    text, path, where = _read_text(source)
    notes, columns, rows = _split(text, where)
    refs, ref_where = None, None
    if references is not False:
        ref_path = Path(references) if references is not None else _find_references(path)
        if ref_path is not None:
            refs, ref_where = read_references(ref_path), str(ref_path)
    id_prefix = f"{path.stem}/" if (prefix and path is not None) else ""
    subjects, doses, scen, start, obs, rows_info = _parse(rows, where, refs, ref_where,
                                                          id_prefix)
    time_unit = "model time unit"
    ds = _observations_dataset(obs, time_unit)
    data = ObservedData(
        subjects=tuple(subjects), regimens=_regimens(doses, subjects),
        scenarios={s: scen.get(s, ()) for s in subjects}, start=start, observations=ds,
        studies=tuple(sorted({r.text("STUDY") for r in rows})), notes=tuple(notes),
        columns=columns, records=tuple(r.cells for r in rows),
        files={where: hashlib.sha256(text.encode("utf-8")).hexdigest()}, _rows=rows_info)
    return data


def _combine(parts):
    import xarray as xr

    subjects = [s for p in parts for s in p.subjects]
    dup = [s for i, s in enumerate(subjects) if s in subjects[:i]]
    if dup:
        raise DataError(f"subject {dup[0]!r} appears in two files with the same name; rename "
                        "one of the files")
    obs = xr.concat([p.observations for p in parts], dim="obs")
    obs = obs.assign_coords(obs=np.arange(obs.sizes["obs"]))
    merged = ObservedData(
        subjects=tuple(subjects),
        regimens={k: v for p in parts for k, v in p.regimens.items()},
        scenarios={k: v for p in parts for k, v in p.scenarios.items()},
        start={k: v for p in parts for k, v in p.start.items()}, observations=obs,
        studies=tuple(sorted({s for p in parts for s in p.studies})),
        notes=tuple(n for p in parts for n in p.notes), columns=parts[0].columns,
        records=tuple(r for p in parts for r in p.records),
        files={k: v for p in parts for k, v in p.files.items()},
        _rows={"doses": {k: v for p in parts for k, v in p._rows["doses"].items()},
               "obs": [r for p in parts for r in p._rows["obs"]],
               "first": {k: v for p in parts for k, v in p._rows["first"].items()}})
    return merged


def _check_model(data, model):
    """Check ``data`` against ``model``; errors name the row and column."""
    inputs = {i.name: i for i in model.inputs}
    state_units = {s.name: s.unit for s in model.states}
    targets = set(model.state_names) | set(inputs)
    for sid in data.subjects:
        for dose, (row, unit) in zip(data.regimens[sid], data._rows["doses"].get(sid, ())):
            target = dose.target or model.dose_target
            if target is None:
                raise row.fail("CMT", f"model {model.name!r} has no dose_target; name the "
                                      "dosed state in CMT")
            if target not in targets:
                raise row.fail("CMT", f"model {model.name!r} has no state or input {target!r}"
                                      f"{suggest(target, targets)}; states: "
                                      f"{', '.join(model.state_names)}")
            if dose.is_infusion and target in state_units and not any(
                    i.target == target for i in model.inputs):
                raise row.fail("RATE", f"an infusion into {target!r} needs an input of model "
                                       f"{model.name!r} that feeds it; give RATE 0 (a bolus)")
            if not dose.is_infusion and target in inputs:
                raise row.fail("CMT", f"{target!r} is an input of model {model.name!r}, which "
                                      "only an infusion (RATE > 0) can feed")
            state = inputs[target].target if target in inputs else target
            if state in state_units and not _units_equal(unit, state_units[state]):
                raise row.fail("UNIT", f"dose unit {unit!r} does not match state {state!r}, "
                                       f"which is in {state_units[state]!r} in model "
                                       f"{model.name!r}; convert AMT to {state_units[state]}")
    units = dict(state_units)
    units.update({o.name: o.unit for o in model.outputs})
    known = ", ".join(list(model.output_names) + list(model.state_names))
    tu = model.time_unit
    obs = data.observations
    for i in range(obs.sizes["obs"]):
        name = str(obs["NAME"].values[i])
        unit = str(obs["UNIT"].values[i])
        row = data._rows["obs"][i]
        metric, var = parse_name(name)
        if var not in units:
            what = "output or state" if metric is None else f"output or state (in {name})"
            raise row.fail("NAME", f"model {model.name!r} has no {what} {var!r}"
                                   f"{suggest(var, units)}; known: {known}")
        vu = units[var]
        kind = SUMMARY_METRICS[metric] if metric else "u"
        expected = {"u": vu, "t": tu, "u*t": tu if vu == "1" else f"{vu}*{tu}"}[kind]
        if not _units_equal(unit, expected):
            raise row.fail("UNIT", f"unit {unit!r} does not match {name}, which is in "
                                   f"{expected!r} in model {model.name!r}; convert DV to "
                                   f"{expected}")
    for sid, names in data.scenarios.items():
        for sc in names:
            if sc not in model.scenarios:
                row = data._rows["first"][sid]
                raise row.fail("SCENARIO", f"model {model.name!r} has no scenario {sc!r}"
                                           f"{suggest(sc, model.scenarios)}; it defines: "
                                           f"{', '.join(model.scenarios) or 'none'}")
    obs = obs.copy()
    obs["TIME"].attrs["units"] = tu
    obs["TSTART"].attrs["units"] = tu
    return dataclasses.replace(data, observations=obs, model=model.name)
