"""Tests for model files: loading, validation messages, parameter vectors, hostile input."""

import pathlib
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ldnsim.errors import LdnsimError, ModelError
from ldnsim.model import (
    Definition,
    Input,
    Model,
    ModelWarning,
    Ode,
    Output,
    Parameter,
    Scenario,
    State,
    list_models,
    load_model,
    loads_model,
    parse_unit,
)
from ldnsim.model.parse import shipped_model_dirs
from ldnsim.model.units import UnitError

MODELS_DIR = pathlib.Path(__file__).resolve().parents[1] / "models"

# The example of issue 3, verbatim: it must always load.
ISSUE_EXAMPLE = '''\
[model]
name = "one_compartment_oral"
description = "First-order absorption, linear elimination"
time_unit = "h"
dose_target = "gut"

[states]
gut = { init = 0.0, unit = "mg", description = "drug in the gut" }
central = { init = 0.0, unit = "mg" }

[parameters]
ka = { value = 0.7, unit = "1/h", source = "Licko 1981", evidence = "measured" }
CL = { value = 210.0, unit = "L/h", source = "Licko 1981", evidence = "measured" }
V = { value = 1350.0, unit = "L", source = "label", evidence = "measured" }

[definitions]
C = "1000 * central / V"

[odes]
gut = "-ka * gut"
central = "ka * gut - CL / V * central"

[outputs]
C_plasma = { expr = "C", unit = "ng/mL", description = "plasma concentration" }

[scenarios.slow_absorption]
description = "absorption half as fast"
ka = 0.35
'''


def write(tmp_path, text, name="m.toml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def load_text(tmp_path, text):
    return load_model(write(tmp_path, text))


# ---- loading ---------------------------------------------------------------------------

def test_issue_example_loads_verbatim(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = load_text(tmp_path, ISSUE_EXAMPLE)
    assert m.name == "one_compartment_oral" and m.time_unit == "h" and m.dose_target == "gut"
    assert m.state_names == ("gut", "central")
    assert m.parameter_names == ("ka", "CL", "V")
    assert m.input_names == () and m.output_names == ("C_plasma",)
    assert m.states[0] == State("gut", 0.0, "mg", "drug in the gut")
    assert m.parameters[0] == Parameter("ka", 0.7, "1/h", "", "Licko 1981", "measured")
    assert m.definitions == (Definition("C", "1000 * central / V"),)
    assert m.odes == (Ode("gut", "-ka * gut"), Ode("central", "ka * gut - CL / V * central"))
    assert m.outputs == (Output("C_plasma", "C", "ng/mL", "plasma concentration"),)
    assert m.scenarios["slow_absorption"] == Scenario("slow_absorption",
                                                      "absorption half as fast", {"ka": 0.35})
    assert m.path.endswith("m.toml") and len(m.hash) == 64
    np.testing.assert_array_equal(m.parameter_vector(), [0.7, 210.0, 1350.0])
    np.testing.assert_array_equal(m.parameter_vector(scenarios=["slow_absorption"]),
                                  [0.35, 210.0, 1350.0])
    np.testing.assert_array_equal(m.initial_state(), [0.0, 0.0])


def test_shipped_models():
    names = list_models()
    assert {"one_compartment_oral", "pkpd_indirect", "two_compartment_iv"} <= set(names)
    assert names == sorted(p.stem for p in MODELS_DIR.glob("*.toml"))
    for name in names:
        with warnings.catch_warnings():
            warnings.simplefilter("error", ModelWarning)  # shipped models cite every value
            m = load_model(name)
        assert m.name == name  # file name and [model] name agree
        assert all(p.source and p.evidence for p in m.parameters)
        assert m.dose_target in m.state_names
    assert MODELS_DIR in shipped_model_dirs()


def test_pkpd_indirect_matches_the_rxode2_benchmark():
    m = load_model("pkpd_indirect")
    values = dict(zip(m.parameter_names, m.parameter_vector()))
    assert values == {"ka": 0.294, "CL": 18.6, "V2": 40.2, "Q": 10.5, "V3": 297.0,
                      "Kin": 1.0, "Kout": 1.0, "EC50": 200.0}
    assert dict(zip(m.state_names, m.initial_state())) == {
        "depot": 0.0, "central": 0.0, "peripheral": 0.0, "eff": 1.0}


def test_load_by_path_str_path_and_model(tmp_path):
    path = write(tmp_path, ISSUE_EXAMPLE)
    a, b = load_model(path), load_model(str(path))
    assert a == b and a.hash == b.hash
    assert load_model(a) is a
    other = load_model(MODELS_DIR / "one_compartment_oral.toml")
    assert other.hash != a.hash  # different file text


def test_hash_covers_text_and_model_is_hashable(tmp_path):
    a = load_text(tmp_path, ISSUE_EXAMPLE)
    b = load_model(write(tmp_path, ISSUE_EXAMPLE.replace("0.7", "0.8"), "n.toml"))
    assert a.hash != b.hash
    assert len({a, b, a}) == 2


def test_unknown_shipped_name_suggests():
    with pytest.raises(ModelError, match="did you mean 'one_compartment_oral'"):
        load_model("one_compartment_orl")


@pytest.mark.parametrize("bad", [3, None, ["x"]])
def test_load_model_argument_type(bad):
    with pytest.raises(ModelError, match="expects a model name or a path"):
        load_model(bad)


def test_missing_file_directory_and_encoding(tmp_path):
    with pytest.raises(ModelError, match="no such model file"):
        load_model(tmp_path / "nope.toml")
    with pytest.raises(ModelError, match="cannot read"):
        load_model(tmp_path)
    bad = tmp_path / "latin1.toml"
    bad.write_bytes("[model]\nname = \"caf\xe9\"\n".encode("latin-1"))
    with pytest.raises(ModelError, match="not UTF-8"):
        load_model(bad)


def test_definitions_are_ordered_topologically(tmp_path):
    text = ISSUE_EXAMPLE.replace('C = "1000 * central / V"',
                                 'C = "1000 * A"\nA = "B / V"\nB = "central"')
    m = load_text(tmp_path, text)
    assert [d.name for d in m.definitions] == ["B", "A", "C"]


def test_definition_long_form_and_parameter_bounds(tmp_path):
    text = ISSUE_EXAMPLE.replace(
        'C = "1000 * central / V"',
        'C = { expr = "1000 * central / V", unit = "ng/mL", description = "conc" }').replace(
        'source = "label", evidence = "measured" }',
        'source = "label", evidence = "measured", lower = 100.0, upper = 5000 }')
    m = load_text(tmp_path, text)
    assert m.definitions[0] == Definition("C", "1000 * central / V", "ng/mL", "conc")
    assert (m.parameters[2].lower, m.parameters[2].upper) == (100.0, 5000)


def test_standard_table_form_is_the_same_model(tmp_path):
    text = ISSUE_EXAMPLE.replace(
        'gut = { init = 0.0, unit = "mg", description = "drug in the gut" }\n', "").replace(
        "[parameters]", '[states.gut]\ninit = 0.0\nunit = "mg"\n'
        'description = "drug in the gut"\n\n[parameters]')
    m = load_text(tmp_path, text)
    assert set(m.state_names) == {"gut", "central"}


def test_inputs_section(tmp_path):
    text = ISSUE_EXAMPLE.replace(
        "[definitions]",
        '[inputs]\ninfusion = { unit = "mg/h", target = "central", description = "IV" }\n\n'
        "[definitions]").replace('"ka * gut - CL / V * central"',
                                 '"ka * gut - CL / V * central + infusion"')
    m = load_text(tmp_path, text)
    assert m.inputs == (Input("infusion", "mg/h", "IV", "central"),)
    p = m.parameter_vector()
    assert p.shape == (4,) and p[3] == 0.0


# ---- parameter_vector and initial_state ---------------------------------------------------

@pytest.fixture
def scen_model(tmp_path):
    text = ISSUE_EXAMPLE + ('\n[scenarios.big]\ndescription = "big"\nsource = "x"\nV = 2000.0\n'
                            '\n[scenarios.fast]\ndescription = "fast"\nka = 1.4\n')
    return load_text(tmp_path, text)


def test_parameter_vector_scenarios_and_params(scen_model):
    m = scen_model
    np.testing.assert_array_equal(m.parameter_vector(scenarios="big"), [0.7, 210, 2000])
    np.testing.assert_array_equal(m.parameter_vector(scenarios=("slow_absorption", "big")),
                                  [0.35, 210, 2000])
    np.testing.assert_array_equal(
        m.parameter_vector({"ka": 2.0}, scenarios=["slow_absorption"]), [2.0, 210, 1350])
    assert m.scenarios["big"].source == "x"


@pytest.mark.parametrize("kwargs, fragment", [
    ({"scenarios": ["slow_absorption", "fast"]},
     "scenarios 'slow_absorption' and 'fast' both set parameter 'ka'"),
    ({"scenarios": ["nope"]}, "unknown scenario 'nope'; this model defines: big, fast, slow"),
    ({"params": {"kaa": 1.0}}, "unknown parameter 'kaa' in params"),
    ({"params": {"ka": float("nan")}}, "must be finite"),
    ({"params": {"ka": "fast"}}, "expected a number"),
    ({"params": {"ka": True}}, "expected a number, got a boolean"),
])
def test_parameter_vector_errors(scen_model, kwargs, fragment):
    with pytest.raises(ModelError, match=fragment):
        scen_model.parameter_vector(**kwargs)


def test_inputs_are_not_params():
    m = load_model("one_compartment_oral")
    with pytest.raises(ModelError, match="is an input"):
        m.parameter_vector({"infusion": 1.0})


def test_initial_state():
    m = load_model("pkpd_indirect")
    np.testing.assert_array_equal(m.initial_state({"depot": 5.0}), [5, 0, 0, 1])
    np.testing.assert_array_equal(m.initial_state([1, 2, 3, 4]), [1, 2, 3, 4])
    for bad, fragment in [({"dep": 1.0}, "unknown state 'dep'"), ([1, 2], "shape"),
                          ([1, 2, 3, np.inf], "non-finite"), ({"depot": np.nan}, "finite")]:
        with pytest.raises(ModelError, match=fragment):
            m.initial_state(bad)


def test_programmatic_model_is_validated_too():
    m = Model(name="decay", states=[State("x", 1.0, "mg")],
              parameters=[Parameter("k", 0.1, "1/h", source="test")], odes=[Ode("x", "-k*x")])
    assert len(m.hash) == 64 and m.location == "model 'decay'"
    with pytest.raises(ModelError, match=r"model 'decay': \[odes\] x: unknown name 'kk'"):
        Model(name="decay", states=[State("x", 1.0, "mg")],
              parameters=[Parameter("k", 0.1, "1/h", source="t")], odes=[Ode("x", "-kk*x")])
    with pytest.raises(ModelError, match="expected State objects"):
        Model(name="decay", states=[("x", 1.0)], odes=[Ode("x", "0")])


# ---- validation: one case per rule, each message checked for location and advice ----------

def sub(old, new):
    assert old in ISSUE_EXAMPLE, old
    return ISSUE_EXAMPLE.replace(old, new, 1)


BAD_FILES = [
    # (id, file text, fragments that must appear in the message)
    ("toml syntax", sub('time_unit = "h"', "time_unit = h"), ["TOML syntax error", "line 4"]),
    ("unknown section", ISSUE_EXAMPLE + "\n[output]\n", ["unknown section [output]",
                                                          "did you mean 'outputs'"]),
    ("missing section", sub("[odes]", "[odez]"), ["unknown section [odez]"]),
    ("no odes", ISSUE_EXAMPLE.split("[odes]")[0], ["missing section [odes]"]),
    ("missing key", sub('name = "one_compartment_oral"\n', ""),
     ["[model]", "missing required key 'name'"]),
    ("unknown key", sub('value = 0.7', 'vaule = 0.7'),
     ["[parameters] ka", "unknown key 'vaule'", "did you mean 'value'"]),
    ("missing unit", sub(', unit = "L/h"', ""), ["[parameters] CL", "missing required key 'unit'"]),
    ("entry not table", sub('V = { value = 1350.0, unit = "L", source = "label", '
                            'evidence = "measured" }', "V = 1350.0"),
     ["[parameters] V", "expected a table"]),
    ("ode not string", sub('gut = "-ka * gut"', "gut = 3"), ["[odes] gut", "as a string"]),
    ("unknown name", sub('"-ka * gut"', '"-kaa * gut"'),
     ["[odes] gut", "unknown name 'kaa'", "did you mean 'ka'"]),
    ("output used", sub('"-ka * gut"', '"-ka * C_plasma"'),
     ["[odes] gut", "'C_plasma' is an output", "move it to [definitions]"]),
    ("unknown function", sub('"1000 * central / V"', '"1000 * foo(central) / V"'),
     ["[definitions] C", "unknown function 'foo'"]),
    ("duplicate", sub('[definitions]\nC =', '[definitions]\nka ='),
     ["[definitions] ka", "already used in [parameters]"]),
    ("state twice as output", sub("C_plasma = {", "gut = {"),
     ["[outputs] gut", "already used in [states]"]),
    ("function name", sub("ka = {", "exp = {").replace("-ka *", "-exp *"),
     ["[parameters] exp", "built-in function name"]),
    ("time name", sub("ka = {", "t = {"), ["[parameters] t", "reserved for time"]),
    ("keyword", sub("ka = {", '"lambda" = {'), ["[parameters] lambda", "Python keyword"]),
    ("leading digit", sub("ka = {", '"2ka" = {'), ["[parameters] 2ka", "start with a letter"]),
    ("underscore", sub("ka = {", '"_ka" = {'), ["[parameters] _ka", "start with a letter"]),
    ("unicode name", sub("ka = {", '"\u03bcka" = {'), ["[parameters] \u03bcka", "non-ASCII"]),
    ("cycle", sub('C = "1000 * central / V"', 'C = "A"\nA = "B + 1"\nB = "C * 2"'),
     ["[definitions]", "cycle", "C -> A -> B -> C"]),
    ("self cycle", sub('"1000 * central / V"', '"C + 1"'), ["cycle: C -> C"]),
    ("state without ode", sub('gut = "-ka * gut"\n', ""),
     ["[odes] gut", "state 'gut' has no equation", 'gut = "<rate of change>"']),
    ("ode without state", sub('[outputs]', 'periph = "0"\n\n[outputs]'),
     ["[odes] periph", "no state named 'periph'", "add it to [states]"]),
    ("bad unit", sub('unit = "L/h"', 'unit = "L/hr"'), ["[parameters] CL", "bad unit", "'L/hr'"]),
    ("garbage unit", sub('unit = "ng/mL"', 'unit = "ng//mL"'), ["[outputs] C_plasma",
                                                                 "bad unit"]),
    ("empty unit", sub('unit = "mg" }', 'unit = "" }'), ["[states] central", "unit is empty"]),
    ("unit not string", sub('unit = "mg" }', 'unit = 1 }'), ["[states] central",
                                                              "must be a string"]),
    ("time unit", sub('time_unit = "h"', 'time_unit = "hours"'),
     ["[model] time_unit", "'hours' is not one of"]),
    ("dose target", sub('dose_target = "gut"', 'dose_target = "stomach"'),
     ["[model] dose_target", "'stomach' is not a state"]),
    ("model name", sub('name = "one_compartment_oral"', 'name = "one compartment"'),
     ["[model] name", "must start with a letter"]),
    ("scenario key", sub("ka = 0.35", "kaa = 0.35"),
     ["[scenarios.slow_absorption] kaa", "'kaa' is not a parameter"]),
    ("scenario value", sub("ka = 0.35", 'ka = "fast"'),
     ["[scenarios.slow_absorption] ka", "must be a number"]),
    ("scenario nan", sub("ka = 0.35", "ka = nan"), ["[scenarios.slow_absorption] ka",
                                                     "must be finite"]),
    ("scenario bool", sub("ka = 0.35", "ka = true"), ["[scenarios.slow_absorption] ka",
                                                       "must be a number"]),
    ("value inf", sub("value = 210.0", "value = inf"), ["[parameters] CL", "must be finite"]),
    ("init string", sub("init = 0.0, unit = \"mg\" }", 'init = "0", unit = "mg" }'),
     ["[states] central", "init must be a number"]),
    ("bounds order", sub('evidence = "measured" }\nCL', 'evidence = "measured", lower = 2, '
                         'upper = 1 }\nCL'), ["[parameters] ka", "must be below upper"]),
    ("outside bounds", sub('evidence = "measured" }\nCL', 'evidence = "measured", '
                           'upper = 0.5 }\nCL'), ["[parameters] ka", "outside its bounds"]),
    ("scenario outside bounds", sub('evidence = "measured" }\nCL', 'evidence = "measured", '
                                    'lower = 0.5 }\nCL'),
     ["[scenarios.slow_absorption] ka", "outside the bounds"]),
    ("input target", sub("[definitions]", '[inputs]\nrate = { unit = "mg/h", target = "blood" }'
                         "\n\n[definitions]"), ["[inputs] rate", "'blood' is not a state"]),
    ("input unused", sub("[definitions]", '[inputs]\nrate = { unit = "mg/h", target = '
                         '"central" }\n\n[definitions]'),
     ["[inputs] rate", "does not use 'rate'", "add '+ rate'"]),
    ("no states", sub('gut = { init = 0.0, unit = "mg", description = "drug in the gut" }\n'
                      'central = { init = 0.0, unit = "mg" }\n', "").replace(
        'gut = "-ka * gut"\ncentral = "ka * gut - CL / V * central"\n', "").replace(
        'dose_target = "gut"\n', "").replace('expr = "C"', 'expr = "1"').replace(
        'C = "1000 * central / V"', 'C = "1"'), ["[states]", "at least one state"]),
    ("scenario not table", "scenarios = 3\n" + ISSUE_EXAMPLE.split("[scenarios.")[0],
     ["[scenarios]", "expected a table"]),
    ("model not table", 'model = "x"\n\n[states]' + ISSUE_EXAMPLE.split("[states]")[1],
     ["[model]", "expected a table"]),
    ("condition as value", sub('"-ka * gut"', '"gut > 1"'), ["[odes] gut", "condition"]),
    ("huge exponent", sub('"-ka * gut"', '"-ka * gut ** 9999"'), ["[odes] gut",
                                                                   "constant exponent"]),
    ("expr not string", sub('expr = "C"', "expr = 5"), ["[outputs] C_plasma",
                                                        "expected an expression as a string"]),
    ("description type", sub('description = "drug in the gut"', "description = 3"),
     ["[states] gut", "description must be a string"]),
]


@pytest.mark.parametrize("text, fragments", [c[1:] for c in BAD_FILES],
                         ids=[c[0] for c in BAD_FILES])
def test_validation_messages(tmp_path, text, fragments):
    path = write(tmp_path, text, "bad_model.toml")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ModelWarning)
        with pytest.raises(ModelError) as info:
            load_model(path)
    msg = str(info.value)
    assert msg.startswith(str(path) + ": "), msg
    for fragment in fragments:
        assert fragment in msg, f"{fragment!r} not in {msg!r}"


def test_missing_source_is_a_warning(tmp_path):
    text = sub(', source = "label", evidence = "measured"', "")
    with pytest.warns(ModelWarning, match=r"\[parameters\] V: no source given"):
        m = load_text(tmp_path, text)
    assert m.parameters[2].source == ""


def test_model_error_is_an_ldnsim_error():
    assert issubclass(ModelError, LdnsimError)


# ---- units --------------------------------------------------------------------------------

@pytest.mark.parametrize("unit, parsed", [
    ("1", ()), ("1/h", (("h", -1),)), ("L/h", (("L", 1), ("h", -1))),
    ("ng/mL", (("ng", 1), ("mL", -1))), ("1/(nM*h)", (("nM", -1), ("h", -1))),
    ("mg/kg/h", (("mg", 1), ("kg", -1), ("h", -1))), ("m^2", (("m", 2),)),
    ("h**-1", (("h", -1),)), ("mg h", (("mg", 1), ("h", 1))), ("%", (("%", 1),)),
    ("a.u.", (("a.u.", 1),)), ("fraction", (("fraction", 1),)),
    ("cells/uL", (("cells", 1), ("uL", -1))), ("mmol/L", (("mmol", 1), ("L", -1))),
    ("L/L", ()), ("umol", (("umol", 1),)), ("pM", (("pM", 1),)), ("min", (("min", 1),)),
])
def test_units_accepted(unit, parsed):
    assert parse_unit(unit) == parsed


@pytest.mark.parametrize("unit", ["", "mg/Lh", "ngml", "L h-1", "(mg", "mg)", "L/h^", "h^x",
                                  "kilogram", "µg", "mg**", "mg//L", "*mg", "mgx", "x" * 300])
def test_units_rejected(unit):
    with pytest.raises(UnitError):
        parse_unit(unit)


# ---- hostile and malformed files ----------------------------------------------------------

def toml_str(s):
    """A TOML basic string for any text (every non-printable or non-ASCII char escaped)."""
    out = []
    for ch in s:
        if ch in '"\\':
            out.append("\\" + ch)
        elif 32 <= ord(ch) < 127:
            out.append(ch)
        else:
            out.append(f"\\U{ord(ch):08x}")
    return '"' + "".join(out) + '"'


HOSTILE = [
    "__import__('os').system('touch {s}')", "open('{s}', 'w')", "().__class__.__base__",
    "(lambda: open('{s}', 'w'))()", "[open('{s}', 'w') for _ in (1,)]",
    "exec(\"open('{s}', 'w')\")", "eval('1')", "9**9**9", "10.0**10**10", "(" * 10_000 + "1"
    + ")" * 10_000, "(" * 1_000 + "1" + ")" * 1_000, "1+" * 50_000, "abs(" * 150 + "1"
    + ")" * 150, "globals()", "x.__dict__", "ka[0]", "'text'", "f'{{ka}}'", "1j", "True",
    "\u00b5 * ka", "ka\u2029", "gut if ka else 0", "(y := 1)", "*ka", "ka; import os",
    "import os", "ka\nimport os", "\x00", "", "1e999", "__builtins__", "getattr(ka, 'x')",
    "breakpoint()", "exit()", "vars()", "ka = 1", "ka @ ka", "sys.exit(1)",
]
PLACES = [("definitions", "C", 'C = "1000 * central / V"', "C = {e}"),
          ("odes", "gut", 'gut = "-ka * gut"', "gut = {e}"),
          ("outputs", "C_plasma", 'expr = "C"', "expr = {e}")]


@pytest.mark.parametrize("place", PLACES, ids=[p[0] for p in PLACES])
def test_hostile_expressions_in_files(tmp_path, place):
    section, key, old, new = place
    sentinel = tmp_path / "SENTINEL"
    for template in HOSTILE:
        expr = template.replace("{s}", str(sentinel))
        path = write(tmp_path, sub(old, new.format(e=toml_str(expr))), "hostile.toml")
        with pytest.raises(ModelError) as info:
            load_model(path)
        msg = str(info.value)
        assert msg.startswith(f"{path}: [{section}] {key}: "), (expr[:40], msg)
    assert not sentinel.exists()


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(expr=st.text(st.characters(blacklist_categories=("Cs",)), max_size=80),
       place=st.sampled_from(PLACES))
def test_random_expressions_in_files(tmp_path, expr, place):
    section, key, old, new = place
    path = write(tmp_path, sub(old, new.format(e=toml_str(expr))), "random.toml")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ModelWarning)
            load_model(path)
    except ModelError as exc:
        assert str(exc).startswith(f"{path}: [{section}] {key}: "), str(exc)


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(st.one_of(st.text(max_size=400), st.binary(max_size=400).map(
    lambda b: b.decode("latin-1"))))
def test_random_files_fail_with_the_file_name(tmp_path, text):
    path = tmp_path / "random.toml"
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    with pytest.raises(ModelError) as info:
        load_model(path)
    assert str(info.value).startswith(f"{path}: ")


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(name=st.text(min_size=1, max_size=20), section=st.sampled_from(
    ["states", "parameters", "outputs"]))
def test_random_names_are_valid_or_rejected(tmp_path, name, section):
    entry = {"states": '{ init = 0.0, unit = "mg" }',
             "parameters": '{ value = 1.0, unit = "1", source = "t" }',
             "outputs": '{ expr = "gut", unit = "mg" }'}[section]
    text = ISSUE_EXAMPLE.replace(f"[{section}]\n", f"[{section}]\n{toml_str(name)} = {entry}\n")
    if section == "states":  # a new state needs an equation too
        text = text.replace("[odes]\n", f"[odes]\n{toml_str(name)} = \"0\"\n")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ModelWarning)
            m = loads_model(text, "r.toml")
    except ModelError as exc:
        assert str(exc).startswith("r.toml: "), str(exc)
    else:
        assert name.isascii() and name.isidentifier() and not name.startswith("_")
        assert name in m.state_names + m.parameter_names + m.output_names


def test_oversized_file(tmp_path):
    path = tmp_path / "big.toml"
    path.write_text("# " + "x" * 1_000_100)
    with pytest.raises(ModelError, match="larger than"):
        load_model(path)


def test_deeply_nested_toml(tmp_path):
    path = write(tmp_path, "x = " + "[" * 5000 + "]" * 5000)
    with pytest.raises(ModelError, match=str(path)):
        load_model(path)


def test_error_messages_are_one_line(tmp_path):
    """The CLI prints an error as one line; expression text never leaks raw into it."""
    path = write(tmp_path, sub('"-ka * gut"', toml_str("ka\nimport os")))
    with pytest.raises(ModelError) as info:
        load_model(path)
    assert "\n" not in str(info.value)


def test_readme_format_example_loads():
    readme = (MODELS_DIR / "README.md").read_text()
    block = readme.split("## Format reference", 1)[1].split("```toml\n", 1)[1].split("```")[0]
    m = loads_model(block, "README.md")
    assert m.input_names == ("infusion",) and m.parameters[2].upper == 3000.0
