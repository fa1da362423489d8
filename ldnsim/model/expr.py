"""Whitelist parser for model expressions.

Model text is never evaluated as Python. ``parse_expression`` runs Python's own parser in
``mode="eval"`` (which only builds a syntax tree), then walks that tree accepting a small,
fixed vocabulary: numbers, names, ``+ - * / **``, unary ``+``/``-``, comparisons (chained
comparisons mean ``and``), ``and``/``or``/``not`` inside conditions, and the functions in
`FUNCTIONS`. Everything else is rejected with a message that says what to write instead.

The result is a small immutable tree of `Num`, `Sym` and `Apply` nodes. Constant subtrees are
checked while parsing (in floats, with ``math``): a huge exponent, an overflow, a division by
zero or a logarithm of a non-positive constant is an error in the model file, not a surprise at
run time. `to_sympy` turns a tree into sympy objects by hand (never through sympy's string
parser) for the code generator.
"""

from __future__ import annotations

import ast
import math
import warnings
from dataclasses import dataclass
from functools import partial

from ldnsim.errors import ModelError

__all__ = [
    "FUNCTIONS", "RESERVED_NAMES", "MAX_LENGTH", "MAX_DEPTH", "MAX_EXPONENT",
    "MAX_EXPANDED_NODES", "MAX_EXPANDED_DEPTH", "MAX_EXPANDED_EXPONENT", "MAX_COEFFICIENT_BITS",
    "Num", "Sym", "Apply", "parse_expression", "free_names", "to_sympy", "expanded_cost",
    "ExpandedCost",
]

MAX_LENGTH = 10_000
"""Longest expression text accepted (characters)."""
MAX_DEPTH = 100
"""Deepest syntax tree accepted; keeps every later recursive walk far from Python's limit."""
MAX_EXPONENT = 1000.0
"""Largest magnitude of a constant exponent: ``x**2000`` or ``9**9**9`` is rejected unseen."""

# Limits on a whole model once [definitions] are substituted into the equations (what sympy
# and numba will see; each expression alone is bounded by the three limits above, but a chain
# of definitions multiplies them). Checked by `expanded_cost` in linear time before sympy runs;
# each can be raised with the environment variable LDNSIM_<NAME> (ldnsim._limits).
MAX_EXPANDED_NODES = 200_000
"""Most nodes of all equations and outputs with definitions substituted (a definition used
twice counts twice; ``max``/``min`` of n arguments count n times their arguments)."""
MAX_EXPANDED_DEPTH = 60
"""Deepest nesting after substitution (the shipped ldn model reaches 21). sympy's work grows
faster than linearly with depth (a chain of 35 nested ``abs`` took a minute to differentiate)
and it recurses several frames per level."""
MAX_EXPANDED_EXPONENT = 1000
"""Largest power a variable can reach once powers of powers and products are combined
(70 squarings would give 2**70; numba cannot compile such an integer)."""
MAX_COEFFICIENT_BITS = 1000
"""Largest log2 magnitude of an exact coefficient sympy may build (40 multiplications by 2**31
give 2**1240, beyond any float); float64 stops at 2**1024."""

# name -> (min args, max args or None, argument kinds, doc); kind "n" number, "b" condition
FUNCTIONS = {
    "exp": (1, 1, "n", "exp(x)"),
    "log": (1, 1, "n", "log(x), natural logarithm"),
    "log10": (1, 1, "n", "log10(x)"),
    "sqrt": (1, 1, "n", "sqrt(x)"),
    "abs": (1, 1, "n", "abs(x)"),
    "sin": (1, 1, "n", "sin(x), x in radians (circadian forcing)"),
    "cos": (1, 1, "n", "cos(x), x in radians (circadian forcing)"),
    "min": (2, None, "n", "min(a, b, ...)"),
    "max": (2, None, "n", "max(a, b, ...)"),
    "pow": (2, 2, "n", "pow(x, y) = x**y"),
    "hill": (3, 3, "n", "hill(x, K, n) = x**n / (K**n + x**n)"),
    "where": (3, 3, "bnn", "where(condition, value_if_true, value_if_false)"),
}
RESERVED_NAMES = frozenset(FUNCTIONS) | {"t", "pi"}
"""Names a model may not define: the functions, ``t`` (time) and ``pi``."""

_BINOPS = {ast.Add: "add", ast.Sub: "sub", ast.Mult: "mul", ast.Div: "div", ast.Pow: "pow"}
_CMPOPS = {ast.Lt: "lt", ast.LtE: "le", ast.Gt: "gt", ast.GtE: "ge", ast.Eq: "eq",
           ast.NotEq: "ne"}
_BOOL_OPS = frozenset({"lt", "le", "gt", "ge", "eq", "ne", "and", "or", "not"})
# Hints for Python operators people reach for by habit.
_OP_HINTS = {
    ast.BitXor: "'^' is not a power here; write x**y",
    ast.Mod: "'%' (remainder) is not supported",
    ast.FloorDiv: "'//' is not supported; write x / y",
    ast.MatMult: "'@' is not supported", ast.BitAnd: "'&' is not supported; use 'and'",
    ast.BitOr: "'|' is not supported; use 'or'", ast.LShift: "'<<' is not supported",
    ast.RShift: "'>>' is not supported", ast.Invert: "'~' is not supported; use 'not'",
}
_NODE_NAMES = {
    ast.Attribute: "attribute access (a.b)", ast.Subscript: "indexing (a[i])",
    ast.Lambda: "lambda", ast.ListComp: "a list comprehension", ast.SetComp: "a comprehension",
    ast.DictComp: "a comprehension", ast.GeneratorExp: "a generator expression",
    ast.List: "a list", ast.Tuple: "a tuple", ast.Set: "a set", ast.Dict: "a dict",
    ast.JoinedStr: "an f-string", ast.Starred: "'*' unpacking", ast.NamedExpr: "':=' assignment",
    ast.IfExp: "'a if c else b' (write where(c, a, b))", ast.Await: "await",
    ast.Yield: "yield", ast.YieldFrom: "yield", ast.Slice: "a slice",
}


@dataclass(frozen=True, slots=True)
class Num:
    """A numeric literal (or a folded constant); ``integer`` keeps ``x**2`` exact."""

    value: float
    integer: bool = False


@dataclass(frozen=True, slots=True)
class Sym:
    """A reference to a model name (state, parameter, input, definition), ``t`` or ``pi``."""

    name: str


@dataclass(frozen=True, slots=True)
class Apply:
    """An operator or function applied to arguments.

    ``op`` is one of add, sub, mul, div, pow, neg, lt, le, gt, ge, eq, ne, and, or, not, or a
    key of `FUNCTIONS`. ``value`` is the folded float (or bool for conditions) when every
    argument is constant, else None.
    """

    op: str
    args: tuple
    value: float | bool | None = None


def _fail(where, msg, node=None):
    col = getattr(node, "col_offset", None)
    pos = f" (column {col + 1})" if col is not None else ""
    raise ModelError(f"{where}: {msg}{pos}")


def _tree_depth_ok(tree, where):
    """Check depth iteratively: recursion is exactly what a hostile tree would exploit."""
    stack = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            _fail(where, f"expression is nested more than {MAX_DEPTH} levels deep; "
                  "split it into [definitions]")
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))


def parse_expression(text, *, names=None, where="expression"):
    """Parse model expression text into a checked `Num`/`Sym`/`Apply` tree.

    Parameters
    ----------
    text : str
        The expression, e.g. ``"ka * gut - CL / V * central"``.
    names : collection of str, optional
        Names the expression may use besides ``t`` and ``pi``; None skips the check.
    where : str
        Location prefix for error messages, e.g. ``"m.toml: [odes] gut"``.

    Returns
    -------
    Num, Sym or Apply
        The root node; it always has a numeric (not a true/false) value.

    Raises
    ------
    ModelError
        For anything outside the whitelist, with ``where`` and the column in the message.
    """
    if not isinstance(text, str):
        _fail(where, f"expected an expression as a string, got {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        _fail(where, f"expression is {len(text)} characters long; the limit is {MAX_LENGTH}")
    if not text.isascii():
        i, ch = next((i, ch) for i, ch in enumerate(text) if ord(ch) > 127)
        _fail(where, f"non-ASCII character {ch!r} at column {i + 1}; model names and "
              "expressions use ASCII only (write 'u' for micro)")
    if not text.strip():
        _fail(where, "expression is empty")
    try:
        with warnings.catch_warnings():
            # Python warns about oddities like "1if" or "2(x)"; in a model they are mistakes
            warnings.simplefilter("error", SyntaxWarning)
            tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        col = f" at column {exc.offset}" if exc.offset else ""
        _fail(where, f"syntax error{col}: {exc.msg}")
    except (RecursionError, MemoryError, ValueError, OverflowError) as exc:
        _fail(where, f"expression could not be parsed ({type(exc).__name__}); "
              "it is too deeply nested or malformed")
    _tree_depth_ok(tree, where)
    node, kind = _Converter(where, names).convert(tree.body)
    if kind != "n":
        _fail(where, "expression is a condition (true/false), not a number; "
              "use it inside where(condition, a, b)")
    return node


class _Converter:
    """Turn a depth-checked Python AST into nodes; each method returns (node, kind)."""

    def __init__(self, where, names):
        self.where = where
        # a set is used as given: copying it for every expression of a model is quadratic
        self.names = (None if names is None else names if isinstance(names, (set, frozenset))
                      else frozenset(names))

    def convert(self, node):
        method = getattr(self, "_" + type(node).__name__, None)
        if method is None:
            what = _NODE_NAMES.get(type(node), type(node).__name__)
            _fail(self.where, f"{what} is not allowed in model expressions", node)
        return method(node)

    def _Constant(self, node):
        v = node.value
        if isinstance(v, bool) or v is None:
            _fail(self.where, f"{v!r} is not a number; write 1 or 0 inside where(...)", node)
        if isinstance(v, (str, bytes)):
            _fail(self.where, "text (quoted strings) is not allowed in expressions", node)
        if isinstance(v, complex):
            _fail(self.where, "complex numbers are not allowed", node)
        if not isinstance(v, (int, float)):
            _fail(self.where, f"{type(v).__name__} constants are not allowed", node)
        try:
            f = float(v)
        except OverflowError:
            _fail(self.where, "number is too large for a float", node)
        if not math.isfinite(f):
            _fail(self.where, "number is too large for a float (it would be infinite)", node)
        return Num(f, isinstance(v, int) and abs(v) <= 2**31), "n"

    def _Name(self, node):
        name = node.id
        if name in FUNCTIONS:
            _fail(self.where, f"{name!r} is a function; call it as {FUNCTIONS[name][3]}", node)
        if self.names is not None and name not in self.names and name not in ("t", "pi"):
            from difflib import get_close_matches
            near = get_close_matches(name, sorted(self.names | {"t", "pi"}), n=1)
            hint = f"; did you mean {near[0]!r}?" if near else (
                "; define it in [parameters], [states], [inputs] or [definitions]")
            _fail(self.where, f"unknown name {name!r}{hint}", node)
        return Sym(name), "n"

    def _need(self, child, kind, what):
        sub, k = self.convert(child)
        if k != kind:
            expected = "a number" if kind == "n" else "a condition such as x > 1"
            _fail(self.where, f"{what} needs {expected}", child)
        return sub

    def _BinOp(self, node):
        op = _BINOPS.get(type(node.op))
        if op is None:
            _fail(self.where, _OP_HINTS.get(type(node.op), "operator not supported"), node)
        left = self._need(node.left, "n", "arithmetic")
        right = self._need(node.right, "n", "arithmetic")
        return self._fold(op, (left, right), node), "n"

    def _UnaryOp(self, node):
        if isinstance(node.op, ast.Not):
            return self._fold("not", (self._need(node.operand, "b", "'not'"),), node), "b"
        if isinstance(node.op, ast.UAdd):
            return self._need(node.operand, "n", "unary '+'"), "n"
        if isinstance(node.op, ast.USub):
            arg = self._need(node.operand, "n", "unary '-'")
            if isinstance(arg, Num):  # keep -2 a literal so x**-2 stays exact
                return Num(-arg.value, arg.integer), "n"
            return self._fold("neg", (arg,), node), "n"
        _fail(self.where, _OP_HINTS.get(type(node.op), "operator not supported"), node)

    def _Compare(self, node):
        operands = [self._need(c, "n", "a comparison") for c in [node.left, *node.comparators]]
        parts = []
        for op, a, b in zip(node.ops, operands, operands[1:]):
            name = _CMPOPS.get(type(op))
            if name is None:
                _fail(self.where, "only < <= > >= == != comparisons are allowed", node)
            parts.append(self._fold(name, (a, b), node))
        # a < b < c means (a < b) and (b < c), as in Python and mathematics
        return (parts[0] if len(parts) == 1 else self._fold("and", tuple(parts), node)), "b"

    def _BoolOp(self, node):
        op = "and" if isinstance(node.op, ast.And) else "or"
        args = tuple(self._need(v, "b", f"'{op}'") for v in node.values)
        return self._fold(op, args, node), "b"

    def _Call(self, node):
        if not isinstance(node.func, ast.Name):
            _fail(self.where, "only the built-in functions can be called "
                  f"({', '.join(sorted(FUNCTIONS))}), written without a module prefix", node)
        name = node.func.id
        if name not in FUNCTIONS:
            _fail(self.where, f"unknown function {name!r}; allowed: "
                  f"{', '.join(sorted(FUNCTIONS))}", node)
        if node.keywords:
            _fail(self.where, f"{name}() takes no keyword arguments", node)
        lo, hi, kinds, usage = FUNCTIONS[name]
        n = len(node.args)
        if n < lo or (hi is not None and n > hi):
            _fail(self.where, f"{name}() got {n} argument(s); usage: {usage}", node)
        args = []
        for i, a in enumerate(node.args):
            kind = kinds[i] if i < len(kinds) else kinds[-1]
            what = f"argument {i + 1} of {name}()"
            args.append(self._need(a, kind, what))
        return self._fold(name, tuple(args), node), "n"

    def _fold(self, op, args, node):
        """Build an Apply node, evaluating it in floats when all arguments are constant."""
        if op == "pow":
            exponent = _const(args[1])
            if exponent is not None and abs(exponent) > MAX_EXPONENT:
                _fail(self.where, f"constant exponent {exponent:g} is larger than "
                      f"{MAX_EXPONENT:g} in magnitude", node)
        values = [_const(a) for a in args]
        if op == "div" and values[1] == 0:
            _fail(self.where, "division by a constant zero gives no finite number", node)
        if any(v is None for v in values):
            return Apply(op, args)
        try:
            value = _EVAL[op](*values)
        except (OverflowError, ValueError, ZeroDivisionError) as exc:
            _fail(self.where, f"constant part evaluates to no finite number ({exc}); "
                  "check for division by zero, log/sqrt of a non-positive or a huge power",
                  node)
        if not isinstance(value, bool) and not math.isfinite(value):
            _fail(self.where, "constant part overflows to infinity", node)
        return Apply(op, args, value)


def _const(node):
    if isinstance(node, Num):
        return node.value
    if isinstance(node, Apply):
        return node.value
    return math.pi if isinstance(node, Sym) and node.name == "pi" else None


def _hill(x, k, n):
    xn = math.pow(x, n)
    return xn / (math.pow(k, n) + xn)


_EVAL = {
    "add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b, "pow": math.pow, "neg": lambda a: -a,
    "lt": lambda a, b: a < b, "le": lambda a, b: a <= b, "gt": lambda a, b: a > b,
    "ge": lambda a, b: a >= b, "eq": lambda a, b: a == b, "ne": lambda a, b: a != b,
    "and": lambda *a: all(a), "or": lambda *a: any(a), "not": lambda a: not a,
    "exp": math.exp, "log": math.log, "log10": math.log10, "sqrt": math.sqrt, "abs": abs,
    "sin": math.sin, "cos": math.cos, "min": min, "max": max,
    "hill": _hill, "where": lambda c, a, b: a if c else b,
}


def free_names(node):
    """Return the set of names a tree refers to (``t`` and ``pi`` included), iteratively."""
    out, stack = set(), [node]
    while stack:
        n = stack.pop()
        if isinstance(n, Sym):
            out.add(n.name)
        elif isinstance(n, Apply):
            stack.extend(n.args)
    return out


def to_sympy(node, symbols):
    """Convert a parsed tree into a sympy expression.

    Parameters
    ----------
    node : Num, Sym or Apply
        Output of `parse_expression`.
    symbols : dict of str to sympy.Expr
        What each name stands for: a Symbol, or an already converted definition (so
        definitions are substituted as the tree is built). ``t`` and ``pi`` default to
        ``Symbol("t", real=True)`` and ``sympy.pi``.

    Returns
    -------
    sympy.Expr or sympy boolean
    """
    import sympy as sp

    ops = _sympy_operators(sp)

    def convert(n):
        if isinstance(n, Num):
            return sp.Integer(int(n.value)) if n.integer else _sympy_number(sp, n.value)
        if isinstance(n, Sym):
            if n.name in symbols:
                return symbols[n.name]
            if n.name == "pi":
                return sp.pi
            if n.name == "t":
                return sp.Symbol("t", real=True)
            raise ModelError(f"no symbol for name {n.name!r}")
        if n.value is not None:
            return _sympy_number(sp, n.value)
        return ops[n.op](*(convert(x) for x in n.args))

    return convert(node)


def _sympy_number(sp, v):
    if isinstance(v, bool):
        return sp.true if v else sp.false
    if float(v).is_integer() and abs(v) <= 2**31:
        return sp.Integer(int(v))
    return sp.Float(v)


def _sympy_operators(sp):
    """Operator name -> function of the converted arguments (one entry per operator)."""

    def extreme(pick):
        # max(a, b) = a if a >= b else b; written out so the Jacobian needs no Heaviside. With
        # more arguments one flat Piecewise picks the first argument that beats every later
        # one (the first maximum, as the nested form a >= b ? a : b would). Nesting the
        # two-argument form instead repeats each partial result inside the next condition,
        # and sympy's cost then grows about 4x per argument.
        def f(*args):
            branches = [(a, sp.And(*(pick(a, b) for b in args[i + 1:])))
                        for i, a in enumerate(args[:-1])]
            # evaluate=False: sympy's canonicalisation of nested Piecewise conditions can
            # recurse without end (min(sqrt(abs(min(V, V)) + 1), min(V, V) - 9.8 * CL))
            return sp.Piecewise(*branches, (args[-1], True), evaluate=False)
        return f

    return {
        "add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
        "div": lambda a, b: a / b, "pow": lambda a, b: a ** b, "neg": lambda a: -a,
        "lt": sp.StrictLessThan, "le": sp.LessThan, "gt": sp.StrictGreaterThan,
        "ge": sp.GreaterThan, "eq": sp.Eq, "ne": sp.Ne,
        "and": sp.And, "or": sp.Or, "not": sp.Not,
        "where": lambda c, a, b: sp.Piecewise((a, c), (b, True)),
        "min": extreme(lambda x, y: x <= y), "max": extreme(lambda x, y: x >= y),
        "hill": lambda x, k, h: x**h / (k**h + x**h),
        "log10": lambda a: sp.log(a) / sp.log(10),
        "exp": sp.exp, "log": sp.log, "sqrt": sp.sqrt, "abs": sp.Abs, "sin": sp.sin,
        "cos": sp.cos,
    }


@dataclass(frozen=True, slots=True)
class ExpandedCost:
    """Bounds on one expression with definitions substituted (see `expanded_cost`).

    ``nodes``: size of the expanded tree; ``depth``: its nesting; ``exponent``: the largest
    power of a variable it can produce; ``low``, ``high``: bounds on log2 of the magnitude of
    the exact numeric coefficient sympy will build (``bits`` is the larger of ``high`` and
    ``-low``); ``is_sum``: the expression is a sum (sympy does not expand powers of sums).
    Bounds, not exact values: sympy may simplify to less, never to more.
    """

    nodes: float
    depth: int
    exponent: float
    low: float
    high: float
    is_sum: bool = False

    @property
    def bits(self) -> float:
        return max(self.high, -self.low)


_ONE = ExpandedCost(1, 1, 1.0, 0.0, 0.0)
_KEEP = frozenset({"neg", "min", "max", "where", "lt", "le", "gt", "ge", "eq", "ne", "and",
                   "or", "not"})


def _constant(value):
    v = abs(float(value))
    b = math.log2(v) if v > 0 and math.isfinite(v) else 0.0
    return ExpandedCost(1, 1, 1.0, b, b)


def _powered(base, power):
    """Exponent and coefficient bounds of ``base ** power``: sympy combines powers of powers
    and distributes an integer power over a product (``(2*x)**2 -> 4*x**2``), not over a sum."""
    scale = max(1.0, abs(power)) if power is not None else 1.0
    if base.is_sum or power is None:
        return base.exponent * scale, base.low, base.high
    lo, hi = base.low * power, base.high * power
    return base.exponent * scale, min(lo, hi, 0.0), max(lo, hi, 0.0)


def _combine(node, args):
    """The `ExpandedCost` of ``node`` from those of its arguments."""
    op, n = node.op, len(args)
    nodes = 1 + sum(a.nodes for a in args)
    if op in ("min", "max"):
        # written as one Piecewise whose i-th branch compares argument i with the later ones
        nodes = 1 + n * sum(a.nodes for a in args)
    depth = 1 + max(a.depth for a in args)
    if op == "mul":
        a, b = args
        return ExpandedCost(nodes, depth, a.exponent + b.exponent, a.low + b.low,
                            a.high + b.high)
    if op == "div":
        a, b = args
        return ExpandedCost(nodes, depth, a.exponent + b.exponent, a.low - b.high,
                            a.high - b.low)
    if op in ("add", "sub"):
        # a number times a sum is distributed over it, and like terms add up: one more bit
        return ExpandedCost(nodes, depth, max(a.exponent for a in args),
                            min(a.low for a in args), max(a.high for a in args) + 1.0, True)
    if op == "pow":
        expo, lo, hi = _powered(args[0], _const(node.args[1]))
        return ExpandedCost(nodes, depth, expo, lo, hi)
    if op == "hill":  # hill(x, K, n) = x**n / (K**n + x**n)
        power = _const(node.args[2])
        (ex, lx, hx), (ek, lk, hk) = _powered(args[0], power), _powered(args[1], power)
        return ExpandedCost(nodes, depth, 2 * ex + ek, lx - max(hx, hk) - 1.0,
                            hx - min(lx, lk))
    if op in _KEEP:
        return ExpandedCost(nodes, depth, max(a.exponent for a in args),
                            min(a.low for a in args), max(a.high for a in args),
                            any(a.is_sum for a in args))
    # exp(...), log(...), sqrt(...): a new atom whose argument is checked on its own
    return ExpandedCost(nodes, depth, 1.0, 0.0, 0.0)


def expanded_cost(definitions, roots, *, where="model"):
    """Check the cost of a model's equations with definitions substituted, before sympy.

    Parameters
    ----------
    definitions : sequence of (name, tree)
        The parsed [definitions] in dependency order (each uses only earlier ones).
    roots : sequence of (label, tree)
        The expressions code is generated for, e.g. ``("[odes] gut", tree)``.
    where : str
        Prefix of error messages (the model's location).

    Returns
    -------
    ExpandedCost
        Total nodes of the roots, and the largest depth, exponent and coefficient of any node.

    Raises
    ------
    ModelError
        A limit (`MAX_EXPANDED_NODES`, `MAX_EXPANDED_DEPTH`, `MAX_EXPANDED_EXPONENT`,
        `MAX_COEFFICIENT_BITS`) is exceeded; the message names the first expression that
        exceeds it and the environment variable that raises it.
    """
    from ldnsim._limits import limit, raise_hint

    max_depth = limit("MAX_EXPANDED_DEPTH", MAX_EXPANDED_DEPTH)
    max_expo = limit("MAX_EXPANDED_EXPONENT", MAX_EXPANDED_EXPONENT)
    max_bits = limit("MAX_COEFFICIENT_BITS", MAX_COEFFICIENT_BITS)
    max_nodes = limit("MAX_EXPANDED_NODES", MAX_EXPANDED_NODES)
    known: dict = {}
    worst = [0, 0.0, 0.0]
    check = partial(_check_cost, where, (max_depth, max_expo, max_bits), worst)
    for name, tree in definitions:
        known[name] = _tree_cost(tree, f"[definitions] {name}", known, check)
    total = 0.0
    for label, tree in roots:
        total += _tree_cost(tree, label, known, check).nodes
        if total > max_nodes:
            raise ModelError(f"{where}: {label}: with [definitions] substituted the model's "
                             f"equations hold over {max_nodes:,g} terms (a definition counts "
                             "once for every use); code generation would take too long "
                             f"({raise_hint('MAX_EXPANDED_NODES')})")
    return ExpandedCost(total, worst[0], worst[1], -worst[2], worst[2])


def _check_cost(where, limits, worst, label, c):
    """Raise when the cost ``c`` of a node of ``label`` exceeds ``limits`` (depth, exponent,
    coefficient bits); else update ``worst`` ([depth, exponent, bits]) to include it."""
    max_depth, max_expo, max_bits = limits
    if c.depth <= max_depth and c.exponent <= max_expo and c.bits <= max_bits:
        worst[0], worst[1], worst[2] = (max(worst[0], c.depth), max(worst[1], c.exponent),
                                        max(worst[2], c.bits))
        return
    from ldnsim._limits import raise_hint

    if c.depth > max_depth:
        raise ModelError(f"{where}: {label}: with [definitions] substituted the expression "
                         f"is nested {c.depth} levels deep, more than {max_depth:g}; "
                         "shorten the chain of definitions "
                         f"({raise_hint('MAX_EXPANDED_DEPTH')})")
    if c.exponent > max_expo:
        raise ModelError(f"{where}: {label}: with [definitions] substituted a variable is "
                         f"raised to a power up to {c.exponent:.3g}, more than {max_expo:g}; "
                         f"check the chain of powers and products "
                         f"({raise_hint('MAX_EXPANDED_EXPONENT')})")
    if c.bits > max_bits:
        raise ModelError(f"{where}: {label}: with [definitions] substituted a constant "
                         f"factor reaches about 2**{c.high if c.high >= -c.low else c.low:.0f}"
                         f", beyond 2**+-{max_bits:g} "
                         "(floating point ends at 2**1024); check the chain of "
                         "multiplications and divisions "
                         f"({raise_hint('MAX_COEFFICIENT_BITS')})")


def _tree_cost(tree, label, known, check):
    """The :class:`ExpandedCost` of ``tree`` with the costs ``known`` of definitions; each
    node's cost goes through ``check(label, cost)``."""
    # post-order without recursion; a tree is at most MAX_DEPTH deep, but be uniform
    done: dict = {}
    stack = [(tree, False)]
    while stack:
        node, ready = stack.pop()
        if isinstance(node, Num):
            done[id(node)] = _constant(node.value)
        elif isinstance(node, Sym):
            done[id(node)] = known.get(node.name, _constant(math.pi) if node.name == "pi"
                                       else _ONE)
        elif node.value is not None and not isinstance(node.value, bool):
            done[id(node)] = _constant(node.value)
        elif not ready:
            stack.append((node, True))
            stack.extend((a, False) for a in node.args)
            continue
        else:
            done[id(node)] = _combine(node, [done[id(a)] for a in node.args])
        check(label, done[id(node)])
    return done[id(tree)]
