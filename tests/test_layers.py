"""The package's layering, enforced: imports go one way, no cycles, a cheap ``import ldnsim``.

LAYERS below is the one place the allowed order is written (docs/architecture.md explains
it). A module may import modules of its own layer or of lower ones, never of a higher one;
imports inside functions count too (only ``if TYPE_CHECKING:`` blocks are exempt, as they never
run). Every module of the package must belong to a layer, so a new module is placed on purpose.
"""
import ast
import json
import pathlib
import subprocess
import sys

import pytest

import ldnsim

ROOT = pathlib.Path(ldnsim.__file__).resolve().parent

LAYERS = (
    # base: errors and small helpers every layer may use
    ("ldnsim.errors", "ldnsim._version", "ldnsim._text", "ldnsim._files", "ldnsim._limits"),
    # numerical kernels: numba only, no objects
    ("ldnsim._kernels",),
    # solver input: events and the sparse-LU plan
    ("ldnsim.events", "ldnsim._sparsity"),
    # the public solver API
    ("ldnsim.solver",),
    # what to run: models (and their compiler), prescriptions, populations, designs
    ("ldnsim.model", "ldnsim.dosing", "ldnsim.population", "ldnsim.sampling"),
    # labelled data: result Datasets, metrics on them, result files and observed data
    # (pure xarray and files, no solving)
    ("ldnsim.results", "ldnsim.metrics", "ldnsim.io", "ldnsim.dataset"),
    # the run layer: rows of arrays through the solver, labelled with results
    ("ldnsim.simulation", "ldnsim.sweep"),
    # configs and analyses built on runs
    ("ldnsim.experiment", "ldnsim.estimation"),
    # figures
    ("ldnsim.plot",),
    # user interfaces
    # (the fit command's glue lives beside the estimation package but is interface code)
    ("ldnsim.cli", "ldnsim.__main__", "ldnsim.app", "ldnsim.estimation.cli"),
)

#: Third-party packages a component may import (others: any; the standard library is always
#: allowed). The kernels stay numba-only; matplotlib is for figures only.
ONLY = {"ldnsim._kernels": {"numpy", "numba"}}
MATPLOTLIB_ALLOWED = {"ldnsim.plot", "ldnsim.cli", "ldnsim.estimation.cli"}


def _module_name(path):
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node):
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(path):
    """(imported module names, resolved) of one file, TYPE_CHECKING blocks excluded."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = []

    def visit(node):
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            out.extend(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            if node.module is None or mod == "ldnsim":  # from . import x / from ldnsim import x
                for a in node.names:
                    sub = f"{mod}.{a.name}"
                    exists = (ROOT.parent / (sub.replace(".", "/") + ".py")).exists() or (
                        ROOT.parent / sub.replace(".", "/")).is_dir()
                    out.append(sub if exists else mod)
            else:
                out.append(mod)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text()))
    return out


MODULES = {_module_name(p): p for p in sorted(ROOT.rglob("*.py"))
           if "_shipped" not in p.parts}
GRAPH = {m: _imports(p) for m, p in MODULES.items()}


def _component(module):
    """The LAYERS entry owning ``module`` (longest prefix), and its layer index."""
    best = None
    for i, layer in enumerate(LAYERS):
        for comp in layer:
            if module == comp or module.startswith(comp + "."):
                if best is None or len(comp) > len(best[0]):
                    best = (comp, i)
    return best


def test_every_module_has_a_layer():
    missing = [m for m in MODULES if m != "ldnsim" and _component(m) is None]
    assert not missing, f"place these modules in LAYERS: {missing}"


def test_imports_go_one_way():
    bad = []
    for module, imported in GRAPH.items():
        if module == "ldnsim":
            continue  # the package root re-exports lazily (checked below)
        comp, layer = _component(module)
        for target in imported:
            if not target.startswith("ldnsim"):
                continue
            if target == "ldnsim":
                bad.append(f"{module} imports the package root; import the defining module")
                continue
            tcomp, tlayer = _component(target)
            if tlayer > layer:
                bad.append(f"{module} (layer {layer}, {comp}) imports {target} "
                           f"(layer {tlayer}, {tcomp})")
    assert not bad, "\n".join(bad)


def test_no_import_cycles():
    graph = {m: [t for t in targets if t in GRAPH and t != m] for m, targets in GRAPH.items()}
    index, low, stack, on, cycles, counter = {}, {}, [], set(), [], [0]

    def strong(v):  # Tarjan's strongly connected components
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in graph:
        if v not in index:
            strong(v)
    assert not cycles, f"import cycles: {cycles}"


def test_kernels_use_only_numba_and_numpy_and_matplotlib_stays_with_figures():
    bad = []
    for module, imported in GRAPH.items():
        comp = (_component(module) or ("ldnsim", 0))[0]
        third = {t.split(".")[0] for t in imported if not t.startswith("ldnsim")}
        third -= set(sys.stdlib_module_names) | {"__future__"}
        if comp in ONLY and third - ONLY[comp]:
            bad.append(f"{module} imports {sorted(third - ONLY[comp])}")
        if "matplotlib" in third and comp not in MATPLOTLIB_ALLOWED:
            bad.append(f"{module} imports matplotlib")
    assert not bad, bad


def test_the_root_exports_what_it_lists_lazily():
    eager = {"ConfigError", "LdnsimError", "ModelError", "RegimenError", "SolverError",
             "__version__"}
    assert sorted(ldnsim.__all__) == sorted(set(ldnsim._LAZY) | eager)
    for module in ldnsim._LAZY.values():
        comp = _component(module)
        assert comp is not None, module
    code = ("import ldnsim\n"
            "for n in ldnsim.__all__: getattr(ldnsim, n)\n")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


@pytest.mark.parametrize("module", ["ldnsim"])
def test_import_ldnsim_is_cheap(module):
    """``import ldnsim`` loads no heavy dependency and none of the package's layers (the
    time it takes is measured in benchmarks/startup.py, not asserted here)."""
    code = (f"import sys, json; import {module}; "
            "print(json.dumps(sorted(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    loaded = set(json.loads(out.stdout))
    heavy = {"numba", "sympy", "xarray", "scipy", "matplotlib", "pydantic", "pandas",
             "netCDF4", "numpy"}
    assert not heavy & loaded, sorted(heavy & loaded)
    assert {m for m in loaded if m.startswith("ldnsim")} == {"ldnsim", "ldnsim._version",
                                                             "ldnsim.errors"}
