"""Functions fit on a screen: at most 60 lines of code (docstring excluded).

Only a kernel's inner loop (``ldnsim/_kernels``) may need more. Every other exception is listed
in ``ALLOWED`` with its reason; the list may only shrink (an entry that is back under the limit
fails too, so it gets removed).
"""
import ast
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "ldnsim"
LIMIT = 60
EXEMPT_DIRS = {"_kernels"}

# qualified name ("path/under/ldnsim.py:Outer.function") -> reason it needs more than LIMIT
# lines; empty since issue 10 decomposed the last ones
ALLOWED: dict[str, str] = {}


def code_lines(node):
    """Lines of ``node`` (a function definition) without its docstring, as issue 10 counts them."""
    total = node.end_lineno - node.lineno + 1
    first = node.body[0] if node.body else None
    if (isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
            and isinstance(first.value.value, str)):
        total -= first.end_lineno - first.lineno + 1
    return total


def _functions(tree, prefix=""):
    """Yield (qualified name, node) for every function and method, nested ones included."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            name = f"{prefix}{node.name}"
            if not isinstance(node, ast.ClassDef):
                yield name, node
            yield from _functions(node, f"{name}.")
        else:
            yield from _functions(node, prefix)


def _sizes():
    """Map qualified name -> code lines for every function of ldnsim outside the kernels."""
    sizes = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE)
        if EXEMPT_DIRS & set(rel.parts):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for name, node in _functions(tree):
            sizes[f"{rel.as_posix()}:{name}"] = code_lines(node)
    return sizes


def test_code_lines_counts_like_issue_10():
    tree = ast.parse('def f():\n    """Doc\n    more."""\n    a = 1\n    return a\n')
    assert code_lines(tree.body[0]) == 3
    tree = ast.parse("def g(x):\n    return x\n")
    assert code_lines(tree.body[0]) == 2


def test_functions_fit_on_a_screen():
    sizes = _sizes()
    too_long = {name: n for name, n in sizes.items() if n > LIMIT and name not in ALLOWED}
    assert not too_long, (
        f"functions over {LIMIT} lines of code (split them into named helpers): {too_long}")


def test_allowed_list_only_shrinks():
    sizes = _sizes()
    gone = sorted(name for name in ALLOWED if name not in sizes)
    assert not gone, f"ALLOWED names functions that no longer exist, remove them: {gone}"
    fits = sorted(name for name in ALLOWED if sizes[name] <= LIMIT)
    assert not fits, f"these now fit in {LIMIT} lines, remove them from ALLOWED: {fits}"
    assert all(ALLOWED.values()), "every ALLOWED entry needs a reason"
