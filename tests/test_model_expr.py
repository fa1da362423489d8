"""Tests for ldnsim.model.expr: the whitelist expression parser and its sympy conversion."""

import ast
import math
import pathlib
import time

import pytest
import sympy as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ldnsim.errors import ModelError
from ldnsim.model.expr import (
    FUNCTIONS,
    MAX_DEPTH,
    MAX_LENGTH,
    Apply,
    Num,
    Sym,
    free_names,
    parse_expression,
    to_sympy,
)

NAMES = {"x", "y", "z", "ka", "CL", "V", "central"}
SYMS = {n: sp.Symbol(n, real=True) for n in NAMES}
VALUES = {"x": 1.7, "y": 0.4, "z": 3.2, "ka": 0.7, "CL": 210.0, "V": 1350.0, "central": 12.5}


def value_of(text, **overrides):
    """Parse, convert to sympy and evaluate at VALUES: the round trip the compiler uses."""
    env = {**VALUES, **overrides}
    expr = to_sympy(parse_expression(text, names=NAMES), SYMS)
    return float(expr.subs({SYMS[k]: v for k, v in env.items()}).evalf(30))


# ---- what is accepted ------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("1 + 2 * 3", 7.0),
    ("2 ** 3 ** 2", 512.0),          # right associative, as in Python
    ("-2 ** 2", -4.0),
    ("(1 + 2) * 3", 9.0),
    ("+x", 1.7),
    ("x - -y", 1.7 + 0.4),
    ("1000 * central / V", 1000 * 12.5 / 1350),
    ("ka * x - CL / V * central", 0.7 * 1.7 - 210 / 1350 * 12.5),
    ("exp(x)", math.exp(1.7)),
    ("log(x)", math.log(1.7)),
    ("log10(z)", math.log10(3.2)),
    ("sqrt(z)", math.sqrt(3.2)),
    ("abs(y - x)", 1.3),
    ("sin(x) + cos(y)", math.sin(1.7) + math.cos(0.4)),
    ("min(x, y)", 0.4),
    ("max(x, y, z)", 3.2),
    ("min(z, x, y)", 0.4),
    ("pow(x, 2)", 1.7**2),
    ("x ** 0.5", math.sqrt(1.7)),
    ("x ** -2", 1.7**-2),
    ("hill(x, y, 2)", 1.7**2 / (0.4**2 + 1.7**2)),
    ("where(x > y, 1, 2)", 1.0),
    ("where(x < y, 1, 2)", 2.0),
    ("where(y < x < z, 10, 20)", 10.0),     # chained comparison = and
    ("where(y < z < x, 10, 20)", 20.0),
    ("where(x > 1 and not y > 1, 3, 4)", 3.0),
    ("where(x > 5 or y == 0.4, 3, 4)", 3.0),
    ("where(x != x, 3, 4)", 4.0),
    ("where(x >= 1.7, 1, 0) + where(x <= 1.6, 1, 0)", 1.0),
    ("2 * pi", 2 * math.pi),
    ("1e-3 * x", 1.7e-3),
    ("1_000 * x", 1700.0),
    ("  x  ", 1.7),
])
def test_accepted_expressions_evaluate_correctly(text, expected):
    assert value_of(text) == pytest.approx(expected, rel=1e-12)


def test_time_is_a_name():
    tree = parse_expression("sin(2 * pi * t / 24)", names=set())
    assert free_names(tree) == {"t", "pi"}


def test_tree_shape_and_free_names():
    tree = parse_expression("ka * gut - CL / V * central",
                            names={"ka", "gut", "CL", "V", "central"})
    assert isinstance(tree, Apply) and tree.op == "sub"
    assert free_names(tree) == {"ka", "gut", "CL", "V", "central"}
    assert parse_expression("3") == Num(3.0, True)
    assert parse_expression("x") == Sym("x")


def test_constants_are_folded_in_floats():
    tree = parse_expression("2 * 3 + 1 / 4")
    assert tree.value == 6.25
    assert to_sympy(tree, {}) == sp.Float(6.25)


def test_integer_exponents_stay_exact():
    # x**2 must stay an integer power: sympy differentiates it exactly, numba keeps it fast
    e = to_sympy(parse_expression("x ** 2", names=NAMES), SYMS)
    assert e == SYMS["x"] ** 2
    assert sp.diff(e, SYMS["x"]) == 2 * SYMS["x"]


def test_names_are_not_checked_without_a_name_set():
    assert free_names(parse_expression("anything + other")) == {"anything", "other"}


# ---- what is rejected, and what the message says ------------------------------------------

@pytest.mark.parametrize("text, fragment", [
    ("__import__('os').system('true')", "only the built-in functions can be called"),
    ("__import__('os')", "unknown function '__import__'"),
    ("().__class__", "attribute access"),
    ("x.real", "attribute access"),
    ("math.exp(x)", "without a module prefix"),
    ("x[0]", "indexing"),
    ("lambda: 1", "lambda"),
    ("[i for i in x]", "list comprehension"),
    ("{i for i in x}", "comprehension"),
    ("(i for i in x)", "generator expression"),
    ("{1: 2}", "dict"),
    ("(1, 2)", "tuple"),
    ("[1]", "list"),
    ("'text'", "text (quoted strings)"),
    ("b'bytes'", "text (quoted strings)"),
    ("f'{x}'", "f-string"),
    ("1j", "complex numbers"),
    ("True", "is not a number"),
    ("None", "is not a number"),
    ("*x", "syntax error"),
    ("exp(*x)", "'*' unpacking"),
    ("exp(x=1)", "no keyword arguments"),
    ("(y := 1)", "':=' assignment"),
    ("x if y else z", "where(c, a, b)"),
    ("x ^ 2", "write x**y"),
    ("x % 2", "remainder"),
    ("x // 2", "'//' is not supported"),
    ("x & y", "use 'and'"),
    ("~x", "use 'not'"),
    ("x is y", "comparisons are allowed"),
    ("x in y", "comparisons are allowed"),
    ("foo(x)", "unknown function 'foo'"),
    ("eval('1')", "unknown function 'eval'"),
    ("exp", "is a function"),
    ("exp(x, y)", "got 2 argument(s)"),
    ("min(x)", "got 1 argument(s)"),
    ("hill(x, y)", "usage: hill(x, K, n)"),
    ("where(x, 1, 2)", "needs a condition"),
    ("where(x > 1, x > 2, 2)", "needs a number"),
    ("(x > 1) + 1", "arithmetic needs a number"),
    ("x > 1", "not a number"),
    ("not x", "'not' needs a condition"),
    ("x and y", "needs a condition"),
    ("unknown_name * 2", "unknown name 'unknown_name'"),
    ("kaa * x", "did you mean 'ka'"),
    ("x = 1", "syntax error"),
    ("x +", "syntax error"),
    ("", "empty"),
    ("   ", "empty"),
    ("1e999", "too large"),
    ("1" * 400, "too large"),
    ("µ * x", "non-ASCII"),
    ("x\u00b2", "non-ASCII"),
    ("x\x00", "syntax error"),
])
def test_rejected_expressions(text, fragment):
    with pytest.raises(ModelError) as info:
        parse_expression(text, names=NAMES, where="m.toml: [odes] x")
    msg = str(info.value)
    assert msg.startswith("m.toml: [odes] x: ")
    assert fragment in msg


@pytest.mark.parametrize("text, fragment", [
    ("9**9**9", "constant exponent"),
    ("x ** 1001", "constant exponent"),
    ("x ** -2000", "constant exponent"),
    ("pow(x, 5000)", "constant exponent"),
    ("2 ** (10 * 200)", "constant exponent"),
    ("10.0 ** 400", "no finite number"),
    ("1e308 * 10", "overflows"),
    ("1 / 0", "no finite number"),
    ("x / (2 - 2)", "no finite number"),
    ("log(0)", "no finite number"),
    ("sqrt(-1)", "no finite number"),
    ("(-8) ** (1 / 3)", "no finite number"),
    ("exp(1000)", "no finite number"),
    ("0 ** -1", "no finite number"),
])
def test_constant_traps_are_rejected_without_computing_them(text, fragment):
    start = time.perf_counter()
    with pytest.raises(ModelError, match=fragment):
        parse_expression(text, names=NAMES)
    assert time.perf_counter() - start < 1.0


def test_depth_limit():
    ok = "exp(" * (MAX_DEPTH // 2 - 2) + "x" + ")" * (MAX_DEPTH // 2 - 2)
    parse_expression(ok.replace("exp(", "abs("), names=NAMES)
    deep = "abs(" * MAX_DEPTH + "x" + ")" * MAX_DEPTH
    with pytest.raises(ModelError, match="nested more than"):
        parse_expression(deep, names=NAMES)


@pytest.mark.parametrize("text", [
    "(" * 10_000 + "1" + ")" * 10_000,     # over the length limit
    "(" * 4_000 + "1" + ")" * 4_000,       # under it: Python's parser gives up
    "1+" * 50_000 + "1",
    "1+" * 4_999 + "1",                    # a legal but 5000-deep tree
    "-" * 9_000 + "x",
    "not " * 2_000 + "x",
    "x" + "**x" * 3_000,
    "[" * 3_000 + "]" * 3_000,
])
def test_hostile_nesting_is_a_clean_error(text):
    start = time.perf_counter()
    with pytest.raises(ModelError):
        parse_expression(text, names=NAMES, where="f.toml: [odes] x")
    assert time.perf_counter() - start < 2.0


def test_length_limit():
    text = "x + " * (MAX_LENGTH // 4) + "x"
    with pytest.raises(ModelError, match="characters long"):
        parse_expression(text, names=NAMES)


def test_non_string_input():
    with pytest.raises(ModelError, match="expected an expression as a string"):
        parse_expression(3.0)


# ---- properties --------------------------------------------------------------------------

@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=200))
def test_random_text_parses_or_fails_cleanly(text):
    try:
        tree = parse_expression(text, names=NAMES, where="here")
    except ModelError as exc:
        assert str(exc).startswith("here: ")
    else:
        assert isinstance(tree, (Num, Sym, Apply))
        assert free_names(tree) <= NAMES | {"t", "pi"}


_TOKENS = ["x", "y", "1", "2.5", "1e3", "+", "-", "*", "/", "**", "(", ")", ",", "<", ">=",
           "==", " and ", " or ", "not ", *FUNCTIONS, "__import__", "'os'", ".", "__class__",
           "[", "]", "lambda", ":", "for", " in ", "9**9**9", "if", "else", "=", ";", "\n",
           "open", "exec", "eval", "{", "}", "@", "%", "^", "~", "!", "#", "\\"]


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(_TOKENS), max_size=40))
def test_token_soup_parses_or_fails_cleanly(tokens):
    text = "".join(tokens)
    try:
        tree = parse_expression(text, names=NAMES, where="here")
    except ModelError as exc:
        assert str(exc).startswith("here: ")
        return
    to_sympy(tree, SYMS)  # anything accepted must also convert


def _expressions():
    leaf = st.one_of(st.sampled_from(sorted(NAMES)),
                     st.floats(0.1, 10.0).map(lambda v: repr(round(v, 3))))

    def extend(inner):
        binary = st.tuples(inner, st.sampled_from(["+", "-", "*", "/"]), inner).map(
            lambda t: f"({t[0]} {t[1]} {t[2]})")
        funcs = st.tuples(st.sampled_from(["exp", "sqrt", "log", "abs"]), inner).map(
            lambda t: f"{t[0]}(abs({t[1]}) + 1)" if t[0] in ("sqrt", "log")
            else f"{t[0]}(min({t[1]}, 5))" if t[0] == "exp" else f"{t[0]}({t[1]})")
        two = st.tuples(st.sampled_from(["min", "max"]), inner, inner).map(
            lambda t: f"{t[0]}({t[1]}, {t[2]})")
        return st.one_of(binary, funcs, two)

    return st.recursive(leaf, extend, max_leaves=12)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_expressions())
def test_conversion_agrees_with_an_independent_reading(text):
    """Differential test: our hand-built sympy tree vs. sympy reading the same (trusted,
    generated) text with its own parser. The library never does the latter."""
    local = {**SYMS, "min": sp.Min, "max": sp.Max, "abs": sp.Abs}
    theirs = sp.parse_expr(text, local_dict=local)
    at = {SYMS[k]: v for k, v in VALUES.items()}
    try:
        ours = to_sympy(parse_expression(text, names=NAMES), SYMS)
    except ModelError:
        # Constant folding may only reject a constant part with no finite real value
        # (x / (1.0 - 1.0), log of a non-positive constant, overflow): then sympy's reading
        # has no finite real value either.
        v = theirs.subs(at).evalf(30)
        assert (v.has(sp.zoo, sp.nan, sp.oo, -sp.oo) or not v.is_real
                or abs(complex(v)) > 1e300), (text, v)
        return
    a, b = complex(ours.subs(at).evalf(30)), complex(theirs.subs(at).evalf(30))
    if math.isfinite(abs(b)):
        assert a == pytest.approx(b, rel=1e-9, abs=1e-12)


# ---- nothing is ever executed ----------------------------------------------------------

def test_the_model_package_never_evaluates_text():
    """No call to eval/exec/compile/sympify/parse_expr anywhere in ldnsim.model."""
    bare = {"eval", "exec", "compile", "__import__", "sympify", "parse_expr"}
    attributes = {"eval", "exec", "sympify", "parse_expr"}  # re.compile is fine
    pkg = pathlib.Path(__file__).resolve().parents[1] / "ldnsim" / "model"
    for path in pkg.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Call):
                f = node.func
                if isinstance(f, ast.Name):
                    assert f.id not in bare, f"{path.name}:{node.lineno} calls {f.id}"
                elif isinstance(f, ast.Attribute):
                    assert f.attr not in attributes, f"{path.name}:{node.lineno} {f.attr}"


def test_hostile_expressions_have_no_side_effect(tmp_path):
    sentinel = tmp_path / "SENTINEL"
    s = str(sentinel)
    for text in [f"open({s!r}, 'w')", f"__import__('os').system('touch {s}')",
                 f"__import__('pathlib').Path({s!r}).touch()",
                 f"(lambda: open({s!r}, 'w'))()", f"exec(\"open({s!r}, 'w')\")",
                 f"[open({s!r}, 'w') for _ in (1,)]", "breakpoint()",
                 "().__class__.__base__.__subclasses__()"]:
        with pytest.raises(ModelError):
            parse_expression(text, names=NAMES)
    assert not sentinel.exists()


def test_every_operator_has_a_sympy_translation():
    import sympy

    from ldnsim.model import expr
    ops = set(expr.FUNCTIONS) | set(expr._BINOPS.values()) | set(expr._CMPOPS.values()) | {
        "and", "or", "not", "neg"}
    assert ops <= set(expr._sympy_operators(sympy))


def test_nested_min_does_not_send_sympy_into_endless_recursion():
    """Found by the differential test above: sympy's canonicalisation of the flat Piecewise of
    min/max recursed without end on this expression (RecursionError)."""
    text = "min(sqrt(abs(min(V, V)) + 1), (min(V, V) - (9.798 * CL)))"
    local = {**SYMS, "min": sp.Min, "max": sp.Max, "abs": sp.Abs}
    at = {SYMS[k]: v for k, v in VALUES.items()}
    ours = to_sympy(parse_expression(text, names=NAMES), SYMS)
    theirs = sp.parse_expr(text, local_dict=local)
    assert complex(ours.subs(at).evalf(30)) == pytest.approx(complex(theirs.subs(at).evalf(30)),
                                                             rel=1e-12)
