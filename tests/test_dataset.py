"""Observed-data files: parsing, model checks, one-line errors naming row and column, and
property tests (hypothesis): generated valid files round-trip, generated corruptions always
give one DataError line naming the right row and column, arbitrary text never a traceback."""
import csv
import io
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ldnsim.dataset import DataError, ObservedData, parse_name, read_dataset
from ldnsim.errors import LdnsimError

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
MODEL = "one_compartment_oral"

GOOD = """\
# Synthetic example: two subjects, one with a repeated dose.
# Values are made up.
ID,TIME,EVID,AMT,CMT,DV,MDV,NAME,TSTART,UNIT,SD,N,SCENARIO,STUDY,SOURCE,METHOD,II,ADDL,RATE,NOTE
1,0,1,50,,,1,,,mg,,,,doe2011,,,,,,
1,1,0,,,17.5,0,C_plasma,,ng/mL,1.5,12,,doe2011,Fig. 2,digitised,,,,
1,4,0,,,25.0,0,C_plasma,,ng/mL,,12,,doe2011,Fig. 2,digitised,,,,
1,24,0,,,26.0,0,Cmax(C_plasma),,ng/mL,,12,,doe2011,Table 1,reported,,,,peak over 24 h
1,24,0,,,2.0,0,Tmax(C_plasma),,h,,12,,doe2011,Table 1,reported,,,,
2,0,1,50,gut,,1,,,mg,,,slow_absorption,doe2011,,,24,2,,three doses
2,23.5,0,,,3.0,0,C_plasma,,ng/mL,,,slow_absorption,doe2011,Fig. 3,digitised,,,,
2,48,0,,,3.5,0,C_plasma,,ng/mL,,,slow_absorption,doe2011,Fig. 3,digitised,,,,trough
2,72,0,,,900,0,AUC(C_plasma),48,ng/mL*h,,,slow_absorption,doe2011,Table 2,derived,,,,
2,72,1,10,central,,1,,,mg,,,slow_absorption,doe2011,,,,,5,an infusion
"""


def _write(tmp_path, text, name="data.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# --------------------------------------------------------------------------- reading
def test_reads_doses_observations_and_notes(tmp_path):
    data = read_dataset(_write(tmp_path, GOOD), MODEL)
    assert isinstance(data, ObservedData)
    assert data.subjects == ("1", "2")
    assert data.notes == (" Synthetic example: two subjects, one with a repeated dose.",
                          " Values are made up.")
    assert data.studies == ("doe2011",)
    assert data.model == MODEL
    assert len(data) == 7
    reg1, reg2 = data.regimens["1"], data.regimens["2"]
    assert reg1.n_doses == 1 and reg1.doses[0].amount == 50.0 and reg1.doses[0].target is None
    assert reg2.n_doses == 4  # three oral doses (ADDL 2, II 24) and one infusion
    oral, infusion = reg2.doses
    assert (oral.amount, oral.every, oral.count, oral.target) == (50.0, 24.0, 3, "gut")
    assert infusion.is_infusion and infusion.duration == pytest.approx(2.0)  # 10 mg at 5 mg/h
    assert data.scenarios == {"1": (), "2": ("slow_absorption",)}
    assert data.start == {"1": 0.0, "2": 0.0}
    obs = data.observations
    np.testing.assert_array_equal(obs["DV"].values, [17.5, 25.0, 26.0, 2.0, 3.0, 3.5, 900])
    np.testing.assert_array_equal(obs["TIME"].values, [1, 4, 24, 24, 23.5, 48, 72])
    assert obs["TIME"].attrs["units"] == "h"
    assert obs["SD"].values[0] == 1.5 and np.isnan(obs["SD"].values[1])
    assert obs["N"].values.tolist() == [12, 12, 12, 12, 0, 0, 0]
    assert obs["TSTART"].values[-1] == 48 and np.isnan(obs["TSTART"].values[2])
    assert obs["ROW"].values.tolist() == [5, 6, 7, 8, 10, 11, 12]
    assert obs["METHOD"].values.tolist()[:3] == ["digitised", "digitised", "reported"]
    # the AUC at 72 h precedes the infusion record at 72 h in the file: read before it
    assert obs["PREDOSE"].values.tolist() == [False] * 6 + [True]
    da = data.observations_of("C_plasma")
    assert da.attrs["units"] == "ng/mL" and da.sizes["obs"] == 4
    assert "C_plasma [ng/mL]: 4 observations" in data.describe()


def test_observation_before_a_dose_at_the_same_time_is_predose(tmp_path):
    text = ("ID,TIME,EVID,AMT,DV,MDV,NAME,UNIT,STUDY,SOURCE,METHOD\n"
            "1,0,1,50,,1,,mg,s1,,\n"
            "1,24,0,,3.0,0,C_plasma,ng/mL,s1,Fig 1,digitised\n"
            "1,24,1,50,,1,,mg,s1,,\n"
            "1,25,0,,20.0,0,C_plasma,ng/mL,s1,Fig 1,digitised\n")
    data = read_dataset(_write(tmp_path, text), MODEL)
    assert data.observations["PREDOSE"].values.tolist() == [True, False]


def test_reads_text_and_several_files(tmp_path):
    a = _write(tmp_path, GOOD, "a.csv")
    b = _write(tmp_path, GOOD, "b.csv")
    both = read_dataset([a, b], MODEL)
    assert both.subjects == ("a/1", "a/2", "b/1", "b/2")
    assert len(both) == 14 and set(both.files) == {str(a), str(b)}
    assert read_dataset(GOOD).subjects == ("1", "2")  # CSV text, not checked against a model


def test_to_csv_round_trip(tmp_path):
    data = read_dataset(_write(tmp_path, GOOD), MODEL)
    again = read_dataset(data.to_csv(), MODEL)
    for var in ("DV", "TIME", "SD", "TSTART"):
        np.testing.assert_array_equal(again.observations[var].values,
                                      data.observations[var].values)
    assert again.regimens == data.regimens and again.notes == data.notes


def test_references_file_is_found_next_to_the_data(tmp_path):
    (tmp_path / "REFERENCES.md").write_text(
        "# References\n\n### doe2011\nDoe J (2011). A title. *J Test* 1:1. "
        "doi:10.0000/x.\n", encoding="utf-8")
    folder = tmp_path / "data"
    folder.mkdir()
    path = _write(folder, GOOD)
    assert read_dataset(path, MODEL).studies == ("doe2011",)
    bad = _write(folder, GOOD.replace("doe2011", "roe2012"), "bad.csv")
    with pytest.raises(DataError, match=r"row 4 \(ID 1\), column STUDY: citation key "
                                        r"'roe2012' is not a '### roe2012' heading"):
        read_dataset(bad, MODEL)
    assert read_dataset(bad, MODEL, references=False).studies == ("roe2012",)


def test_parse_name():
    assert parse_name("C_ntx") == (None, "C_ntx")
    assert parse_name("Cmax(C_ntx)") == ("Cmax", "C_ntx")
    assert parse_name("AUCinf( C_6bn )") == ("AUCinf", "C_6bn")
    for bad in ("Cmean(C)", "C ntx", "Cmax(C", "1abc"):
        with pytest.raises(ValueError, match="summary metric|neither a model variable"):
            parse_name(bad)


# ----------------------------------------------------------------------- bad files
def _replace(line_no, column, value, text=GOOD):
    """GOOD with one cell (by file line number and column name) replaced."""
    lines = text.splitlines()
    header = next(i for i, ln in enumerate(lines) if not ln.startswith("#"))
    cols = lines[header].split(",")
    cells = list(csv.reader([lines[line_no - 1]]))[0]
    cells[cols.index(column)] = value
    buf = io.StringIO()
    csv.writer(buf, lineterminator="").writerow(cells)
    lines[line_no - 1] = buf.getvalue()
    return "\n".join(lines) + "\n"


BAD = [
    # (line, column, new value, column named in the error, words in the message)
    (5, "NAME", "C_plasmaa", "NAME", "has no output or state 'C_plasmaa'"),
    (5, "UNIT", "mg/L", "UNIT", "does not match C_plasma, which is in 'ng/mL'"),
    (8, "UNIT", "ng/mL", "UNIT", "does not match Tmax(C_plasma), which is in 'h'"),
    (12, "UNIT", "ng/mL", "UNIT", "which is in 'ng/mL*h'"),
    (6, "TIME", "0.5", "TIME", "earlier than the previous record of this subject (1 at row 5)"),
    (6, "STUDY", "", "STUDY", "missing citation key"),
    (6, "STUDY", "Doe 2011", "STUDY", "lower-case letters"),
    (5, "EVID", "2", "EVID", "expected one of 0, 1, got 2"),
    (4, "MDV", "0", "MDV", "a dose record (EVID 1) must have MDV 1"),
    (5, "MDV", "1", "DV", "must be empty when MDV is 1"),
    (5, "DV", "abc", "DV", "expected the observed value (a number), got 'abc'"),
    (5, "DV", "", "DV", "missing value"),
    (5, "DV", "inf", "DV", "expected a finite number"),
    (4, "AMT", "-5", "AMT", "dose amount must be >= 0"),
    (4, "AMT", "", "AMT", "missing value"),
    (5, "METHOD", "estimated", "METHOD", "expected one of reported, digitised, derived"),
    (5, "SOURCE", "", "SOURCE", "missing"),
    (5, "NAME", "Cmean(C_plasma)", "NAME", "unknown summary metric 'Cmean'"),
    (5, "NAME", "", "NAME", "missing"),
    (4, "CMT", "stomach", "CMT", "has no state or input 'stomach'"),
    (4, "UNIT", "ug", "UNIT", "dose unit 'ug' does not match state 'gut'"),
    (10, "SCENARIO", "fast", "SCENARIO", "this row gives 'fast' and an earlier one "
                                         "'slow_absorption'"),
    (9, "II", "0", "II", "need an interval II > 0"),
    (5, "SD", "-1", "SD", "must be > 0"),
    (5, "N", "2.5", "N", "expected an integer"),
    (5, "TSTART", "0", "TSTART", "only applies to summary observations"),
    (5, "UNIT", "ngml", "UNIT", "unknown unit symbol"),
    (5, "AMT", "3", "AMT", "must be empty on an observation record"),
    (4, "RATE", "-2", "RATE", "negative RATE"),
    (10, "SCENARIO", "", "SCENARIO", None),  # an empty cell is fine: keeps the ID's scenario
]


@pytest.mark.parametrize("line, column, value, named, words", BAD)
def test_bad_cells_give_one_line_naming_row_and_column(tmp_path, line, column, value, named,
                                                       words):
    path = _write(tmp_path, _replace(line, column, value))
    if words is None:
        read_dataset(path, MODEL)
        return
    with pytest.raises(DataError) as info:
        read_dataset(path, MODEL)
    msg = str(info.value)
    assert "\n" not in msg
    assert msg.startswith(f"{path}: row {line} (ID ")
    assert f"column {named}:" in msg
    assert words in msg


@pytest.mark.parametrize("text, words", [
    ("ID,TIME,EVID,MDV,UNIT\n1,0,0,0,mg\n", "row 1, column STUDY: missing required column"),
    ("ID,TIME,TIME,EVID,MDV,UNIT,STUDY\n", "the header names TIME twice"),
    ("# only notes\n", "no header row"),
    ("ID,TIME,EVID,MDV,UNIT,STUDY\n", "no records after the header"),
    ("ID,TIME,EVID,MDV,UNIT,STUDY\n1,0,1,1,mg\n", "row 2: has 5 fields but the header has 6"),
    ("ID,TIME,EVID,MDV,UNIT,STUDY,AMT\n1,0,1,1,mg,s,5\n", "no observation records"),
    ("ID,TIME,EVID,MDV,UNIT,STUDY\n1,0,1,1,mg,s,\"x\n", "not valid CSV"),
])
def test_bad_structure(text, words):
    with pytest.raises(DataError, match=re.escape(words)):
        read_dataset(text)


def test_unknown_scenario(tmp_path):
    path = _write(tmp_path, GOOD.replace("slow_absorption", "fast"))
    with pytest.raises(DataError, match=r"data.csv: row 9 \(ID 2\), column SCENARIO: model "
                                        r"'one_compartment_oral' has no scenario 'fast'"):
        read_dataset(path, MODEL)


def test_steady_state_doses_are_refused():
    text = ("ID,TIME,EVID,AMT,SS,II,DV,MDV,NAME,UNIT,STUDY,SOURCE,METHOD\n"
            "1,0,1,50,1,24,,1,,mg,s1,,\n"
            "1,2,0,,,,3,0,C_plasma,ng/mL,s1,Fig 1,reported\n")
    with pytest.raises(DataError, match=r"row 2 \(ID 1\), column SS: steady-state doses"):
        read_dataset(text, MODEL)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(DataError, match="no such data file"):
        read_dataset(tmp_path / "nope.csv")
    with pytest.raises(DataError, match="is a directory"):
        read_dataset(tmp_path)
    (tmp_path / "latin1.csv").write_bytes("ID,TIME\n\xe9".encode("latin-1"))
    with pytest.raises(DataError, match="not UTF-8"):
        read_dataset(tmp_path / "latin1.csv")


def test_shipped_fixture_reads_against_its_model():
    data = read_dataset(DATA / "pk_oral_synthetic.csv", MODEL)
    assert len(data.subjects) == 4 and data.names == ("C_plasma",)


# ------------------------------------------------------------------ property tests
NAMES = {"C_plasma": "ng/mL", "central": "mg", "gut": "mg", "Cmax(C_plasma)": "ng/mL",
         "Tmax(C_plasma)": "h", "AUC(C_plasma)": "ng/mL*h", "half_life(C_plasma)": "h"}
COLUMNS = ["ID", "TIME", "EVID", "AMT", "CMT", "DV", "MDV", "NAME", "UNIT", "SD", "STUDY",
           "SOURCE", "METHOD", "II", "ADDL", "NOTE"]
finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)
positive = st.floats(min_value=1e-3, max_value=1e4, allow_nan=False, allow_infinity=False)


@st.composite
def subjects(draw):
    """A list of (id, [record dict]) with times sorted within each subject."""
    out = []
    for k in range(draw(st.integers(1, 3))):
        sid = draw(st.sampled_from(["1", "2", "A", "subj_3", "x-7"])) + f"{k}"
        n = draw(st.integers(1, 6))
        times = sorted(draw(st.lists(st.floats(0, 500, allow_nan=False), min_size=n,
                                     max_size=n)))
        recs = [{"EVID": "1", "AMT": repr(draw(positive)), "MDV": "1", "UNIT": "mg",
                 "CMT": draw(st.sampled_from(["", "gut", "central"])),
                 "TIME": repr(times[0] if times[0] == 0 else 0.0)}]
        if draw(st.booleans()):
            recs[0]["II"], recs[0]["ADDL"] = repr(draw(positive)), str(draw(st.integers(1, 4)))
        for t in times:
            name = draw(st.sampled_from(sorted(NAMES)))
            if "(" in name and t <= 0:
                t = 1.0 + t
            rec = {"EVID": "0", "TIME": repr(t), "DV": repr(draw(finite)), "MDV": "0",
                   "NAME": name, "UNIT": NAMES[name], "SOURCE": "Fig. 1",
                   "METHOD": draw(st.sampled_from(["reported", "digitised", "derived"])),
                   "NOTE": draw(st.sampled_from(["", "a note, with a comma", 'quote "q"']))}
            if draw(st.booleans()):
                rec["SD"] = repr(draw(positive))
            recs.append(rec)
        recs = [recs[0]] + sorted(recs[1:], key=lambda r: float(r["TIME"]))
        for r in recs:
            r.update({"ID": sid, "STUDY": "syn2020"})
        out.append((sid, recs))
    return out


def _csv(subs, notes=("generated",)):
    buf = io.StringIO()
    for n in notes:
        buf.write(f"# {n}\n")
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(COLUMNS)
    for _, recs in subs:
        for r in recs:
            w.writerow([r.get(c, "") for c in COLUMNS])
    return buf.getvalue()


PROPS = settings(max_examples=60, deadline=None,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@PROPS
@given(subjects())
def test_generated_valid_files_round_trip(subs):
    text = _csv(subs)
    data = read_dataset(text, MODEL)
    obs_recs = [r for _, recs in subs for r in recs if r["EVID"] == "0"]
    np.testing.assert_array_equal(data.observations["DV"].values,
                                  [float(r["DV"]) for r in obs_recs])
    np.testing.assert_array_equal(data.observations["TIME"].values,
                                  [float(r["TIME"]) for r in obs_recs])
    assert data.observations["NAME"].values.tolist() == [r["NAME"] for r in obs_recs]
    assert data.observations["NOTE"].values.tolist() == [r["NOTE"] for r in obs_recs]
    for sid, recs in subs:
        dose = recs[0]
        assert data.regimens[sid].doses[0].amount == float(dose["AMT"])
        assert data.regimens[sid].n_doses == 1 + int(dose.get("ADDL") or 0)
    again = read_dataset(data.to_csv(), MODEL)
    np.testing.assert_array_equal(again.observations["DV"].values,
                                  data.observations["DV"].values)
    assert again.regimens == data.regimens


CORRUPTIONS = {
    # kind: (column, value or callable(record) -> value, applies to "dose"/"obs"/"any")
    "text_in_time": ("TIME", "twelve", "any"),
    "text_in_dv": ("DV", "n/a", "obs"),
    "nan_dv": ("DV", "nan", "obs"),
    "evid_3": ("EVID", "3", "any"),
    "mdv_2": ("MDV", "2", "any"),
    "dose_mdv_0": ("MDV", "0", "dose"),
    "dv_on_dose": ("DV", "1.5", "dose"),
    "negative_amt": ("AMT", "-1", "dose"),
    "no_study": ("STUDY", "", "any"),
    "bad_study": ("STUDY", "Smith-2020", "any"),
    "unknown_output": ("NAME", "C_brain", "obs"),
    "unknown_metric": ("NAME", "Cpeak(C_plasma)", "obs"),
    "unit_mismatch": ("UNIT", "nmol/L", "obs"),
    "bad_unit": ("UNIT", "furlongs", "any"),
    "bad_method": ("METHOD", "guessed", "obs"),
    "zero_sd": ("SD", "0", "obs"),
    "bad_cmt": ("CMT", "liver", "dose"),
}


@PROPS
@given(subjects(), st.sampled_from(sorted(CORRUPTIONS)), st.data())
def test_generated_corruptions_name_row_and_column(subs, kind, draw):
    column, value, applies = CORRUPTIONS[kind]
    rows = [(i, r) for i, r in enumerate(r for _, recs in subs for r in recs)
            if applies == "any" or (r["EVID"] == "1") == (applies == "dose")]
    index, rec = draw.draw(st.sampled_from(rows))
    rec[column] = value
    text = _csv(subs)
    line = 1 + 1 + 1 + index  # one note, the header, then records
    with pytest.raises(DataError) as info:
        read_dataset(text, MODEL)
    msg = str(info.value)
    assert "\n" not in msg
    assert f"row {line} (ID {rec['ID']}), column {column}:" in msg, msg


@PROPS
@given(subjects(), st.data())
def test_time_going_backwards_is_named(subs, draw):
    candidates = [(sid, recs) for sid, recs in subs if len(recs) >= 2
                  and float(recs[-1]["TIME"]) > 0]
    if not candidates:
        return
    sid, recs = draw.draw(st.sampled_from(candidates))
    recs[-1]["TIME"] = repr(-1.0)
    lines = {id(r): 3 + i for i, r in enumerate(r for _, rr in subs for r in rr)}
    with pytest.raises(DataError) as info:
        read_dataset(_csv(subs), MODEL)
    msg = str(info.value)
    assert f"row {lines[id(recs[-1])]} (ID {sid}), column TIME: time -1 is earlier" in msg


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=300))
def test_arbitrary_text_never_gives_a_traceback(text):
    for source in (text + "\n", "ID,TIME,EVID,MDV,UNIT,STUDY\n" + text + "\n", text):
        try:
            data = read_dataset(source)
        except LdnsimError as exc:
            assert isinstance(exc, DataError)
            assert "\n" not in str(exc)
        else:
            assert len(data) >= 1
