"""Dimensional analysis of model expressions (ldnsim.model.dimensions), with pint's dimensions."""
import pathlib
import subprocess
import sys
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ldnsim.errors import ModelError
from ldnsim.model import load_model, loads_model, parse_unit
from ldnsim.model.dimensions import PINT_NAMES, format_unit, unit_dimension
from ldnsim.model.units import UNIT_SYMBOLS

ROOT = pathlib.Path(__file__).resolve().parents[1]

PKPD = (ROOT / "models" / "pkpd_indirect.toml").read_text()


def _edit(old, new, text=PKPD):
    assert old in text
    return text.replace(old, new)


def test_the_issue_example_is_an_error_naming_expression_and_both_units():
    text = _edit('central = "ka * depot - CL', 'central = "-ka*depot + V2 - CL')
    with pytest.raises(ModelError) as err:
        loads_model(text, "pk.toml")
    msg = str(err.value)
    assert msg.startswith("pk.toml: [odes] central: '-ka*depot + V2 - CL * C2")
    assert "cannot add '-ka*depot' in mg/h and 'V2' in L" in msg
    assert "[mass] * [time]^-1 vs [length]^3" in msg
    assert "\n" not in msg


@pytest.mark.parametrize("old, new, words", [
    # the rate of a state must be its unit per model time unit
    ('depot = "-ka * depot"', 'depot = "-ka * depot * V2"', "the rate of state 'depot'"),
    ('depot = "-ka * depot"', 'depot = "-depot"', "is in mg ([mass])"),
    # a declared definition unit is checked
    ('C2 = { expr = "central / V2", unit = "mg/L"', 'C2 = { expr = "central / V2", unit = "mg"',
     "[definitions] C2"),
    # an output unit is checked
    ('effect = { expr = "eff", unit = "1"', 'effect = { expr = "eff", unit = "mg"',
     "[outputs] effect"),
    # transcendental functions need dimensionless arguments
    ('eff = "Kin - Kout', 'eff = "log(C2) * Kin - Kout', "argument of log(...)"),
    # a dimensioned base needs a constant exponent
    ('eff = "Kin - Kout', 'eff = "Kin * C2 ** eff / EC50 ** eff - Kout',
     "which is not a constant"),
    # comparisons need one dimension
    ('eff = "Kin - Kout', 'eff = "where(C2 > ka, Kin, 0) - Kout', "cannot compare"),
    # hill's x and K
    ('eff = "Kin - Kout', 'eff = "Kin * hill(C2, ka, 2) - Kout', "hill's x and K"),
    # a condition is not a value
    ('eff = "Kin - Kout * (1 - C2 / (EC50 + C2)) * eff"', 'eff = "C2 > EC50"',
     "is a condition"),
])
def test_dimension_errors(old, new, words):
    with pytest.raises(ModelError) as err:
        loads_model(_edit(old, new), "pk.toml")
    assert words in str(err.value)


@pytest.mark.parametrize("old, new", [
    # numbers: scale factors in products, the other operand's unit in sums and comparisons
    ('C2 = { expr = "central / V2"', 'C2 = { expr = "1000 * central / V2 / 1000"'),
    ('eff = "Kin - Kout', 'eff = "where(t < 24, Kin, Kin) - Kout'),
    ('C2 = { expr = "central / V2"', 'C2 = { expr = "(central + 1e-12) / V2"'),
    ('depot = "-ka * depot"', 'depot = "0"'),
    # sqrt and constant powers of dimensioned quantities
    ('C2 = { expr = "central / V2"', 'C2 = { expr = "sqrt(central ** 2) / V2"'),
    ('eff = "Kin - Kout', 'eff = "Kin * hill(C2, EC50, 2.5) - Kout'),
    # the same dimension in another unit (mL/min is a flow like L/h)
    ('Q = { value = 10.5, unit = "L/h"', 'Q = { value = 10.5, unit = "mL/min"'),
    ('eff = "Kin - Kout', 'eff = "exp(-ka * t) * Kin - Kout'),
])
def test_consistent_expressions_load(old, new):
    loads_model(_edit(old, new), "pk.toml")


def test_check_units_false_keeps_only_the_spelling_check():
    text = _edit('dose_target = "depot"', 'dose_target = "depot"\ncheck_units = false')
    loads_model(_edit('depot = "-ka * depot"', 'depot = "-depot"', text))
    with pytest.raises(ModelError, match="check_units: expected true or false"):
        loads_model(_edit('dose_target = "depot"', 'dose_target = "depot"\ncheck_units = 1'))
    with pytest.raises(ModelError, match="bad unit"):
        loads_model(_edit('unit = "L/h"', 'unit = "L/hh"', text))


def test_shipped_and_test_models_load():
    for path in sorted((ROOT / "models").glob("*.toml")) + sorted(
            (ROOT / "tests" / "hostile" / "models").glob("ok_*.toml")):
        load_model(path)


def test_time_unit_sets_the_rate_dimension():
    # the same equations in minutes: rate constants in 1/min match, 1/h is a time too
    text = _edit('time_unit = "h"', 'time_unit = "min"')
    loads_model(text)
    assert unit_dimension("1/min") == unit_dimension("1/h") == {"[time]": -1}


def test_dimensions_from_pint():
    assert unit_dimension("nM") == {"[substance]": 1, "[length]": -3}
    assert unit_dimension("nmol/L") == unit_dimension("nM")
    assert unit_dimension("ng/mL") == unit_dimension("mg/L") == {"[mass]": 1, "[length]": -3}
    assert unit_dimension("1/(uM*h)") == {"[substance]": -1, "[length]": 3, "[time]": -1}
    assert unit_dimension("%") == unit_dimension("a.u.") == unit_dimension("1") == {}
    assert unit_dimension("cells/uL") == {"[cells]": 1, "[length]": -3}
    assert unit_dimension("mU") == unit_dimension("IU")
    assert set(PINT_NAMES) == set(UNIT_SYMBOLS)


def test_import_ldnsim_does_not_import_pint():
    load_model("one_compartment_oral")  # the unit table is in the cache directory now
    code = ("import sys, ldnsim; assert 'pint' not in sys.modules; "
            "ldnsim.load_model('one_compartment_oral'); print('pint' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    # with a warm unit cache, loading a model does not import pint either
    assert out.stdout.strip() == "False"


# ---- property tests of the unit parser and the formatter -----------------------------------
SYMBOLS = sorted(UNIT_SYMBOLS - {"1"})
powers = st.dictionaries(st.sampled_from(SYMBOLS), st.integers(-3, 3).filter(bool),
                         min_size=1, max_size=4)


def _written(symbols, style):
    parts = []
    for s, e in symbols.items():
        parts.append(s if e == 1 else f"{s}{style}{e}")
    return "*".join(parts)


@settings(max_examples=200, deadline=None)
@given(powers, st.sampled_from(["^", "**"]))
def test_parse_unit_reads_products_of_powers(symbols, style):
    parsed = dict(parse_unit(_written(symbols, style)))
    assert parsed == symbols


@settings(max_examples=200, deadline=None)
@given(powers)
def test_format_unit_round_trips_through_the_parser(symbols):
    exact = {s: Fraction(e) for s, e in symbols.items()}
    text = format_unit(exact)
    assert {s: Fraction(e) for s, e in parse_unit(text)} == exact


@settings(max_examples=200, deadline=None)
@given(powers, powers)
def test_dimension_of_a_quotient_is_the_difference(a, b):
    text = f"({_written(a, '^')})/({_written(b, '^')})"
    da, db = unit_dimension(_written(a, "^")), unit_dimension(_written(b, "^"))
    expected = dict(da)
    for k, v in db.items():
        expected[k] = expected.get(k, 0) - v
    assert unit_dimension(text) == {k: v for k, v in expected.items() if v}


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet="mgLhnuM/*^()0123456789 -.%", max_size=30))
def test_parse_unit_never_fails_other_than_unit_error(text):
    from ldnsim.model.units import UnitError
    try:
        parse_unit(text)
    except UnitError:
        pass


@pytest.mark.parametrize("text", ["{not json", '{"h": 1}', "[]",
                                  '{"h": [1.0, {"[time]": "x"}]}'])
def test_a_damaged_unit_table_is_recomputed(tmp_path, monkeypatch, text):
    from ldnsim.model import dimensions
    monkeypatch.setenv("LDNSIM_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(dimensions, "_table", None)
    dimensions.dimension_table()
    (path,) = tmp_path.glob("units-*.json")
    path.write_text(text)
    monkeypatch.setattr(dimensions, "_table", None)
    assert dimensions.dimension_table()["nM"][1] == {"[substance]": 1, "[length]": -3}
    assert dimensions._decode(__import__("json").loads(path.read_text())) is not None
