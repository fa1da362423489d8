"""Tests for ldnsim.model.codegen: generated numba code, exact Jacobians, the code cache."""

import json
import math
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from ldnsim.errors import ModelError
from ldnsim.model import CompiledModel, list_models, load_model, loads_model
from ldnsim.model.codegen import generate_source
from ldnsim.model.compiled import cache_dir

REPO = pathlib.Path(__file__).resolve().parents[1]
requires_jit = pytest.mark.skipif(os.environ.get("NUMBA_DISABLE_JIT") == "1",
                                  reason="checks numba compilation or its disk cache")

KITCHEN_SINK = '''\
[model]
name = "kitchen_sink"
description = "every function and operator the parser knows"
time_unit = "h"
dose_target = "a"
check_units = false  # every function on every state: the units cannot all agree

[states]
a = { init = 1.0, unit = "mg" }
b = { init = 2.0, unit = "mg" }
c = { init = 0.5, unit = "1" }

[parameters]
k = { value = 0.3, unit = "1/h", source = "test" }
K = { value = 2.0, unit = "mg", source = "test" }
n = { value = 2.5, unit = "1", source = "test" }

[inputs]
u = { unit = "mg/h", target = "a" }

[definitions]
E = "hill(a, K, n)"
D = "where(a > b and not (c > 10), log(a) * sqrt(b), exp(-a) + log10(b))"
M = "max(a, b, c) - min(a, 2 * b)"

[odes]
a = "-k * a + u + abs(b - a) * 0.01"
b = "k * a - E * b + pow(c, 2) * sin(t) * 0.1 + 1 / 3"
c = "D * 0.01 + M * 0.001 - c * cos(2 * pi * t / 24) - c ** 3 / (1 + a ** -2)"

[outputs]
E_out = { expr = "E", unit = "1" }
D_out = { expr = "D", unit = "1" }
'''


def kitchen_rhs(t, y, p):
    """Hand-written reference for KITCHEN_SINK."""
    a, b, c = y
    k, K, n, u = p
    E = a**n / (K**n + a**n)
    D = math.log(a) * math.sqrt(b) if (a > b and not c > 10) else math.exp(-a) + math.log10(b)
    M = max(a, b, c) - min(a, 2 * b)
    return np.array([
        -k * a + u + abs(b - a) * 0.01,
        k * a - E * b + c**2 * math.sin(t) * 0.1 + 1 / 3,
        D * 0.01 + M * 0.001 - c * math.cos(2 * math.pi * t / 24) - c**3 / (1 + a**-2),
    ])


@pytest.fixture(scope="module")
def kitchen():
    return loads_model(KITCHEN_SINK, "kitchen_sink.toml").compile()


def all_models():
    return [load_model(name) for name in list_models()] + [
        loads_model(KITCHEN_SINK, "kitchen_sink.toml")]


@pytest.mark.parametrize("model", all_models(), ids=lambda m: m.name)
def test_every_model_compiles_and_runs(model):
    cm = model.compile()
    assert isinstance(cm, CompiledModel)
    assert (cm.n_states, cm.n_params, cm.n_outputs) == (
        len(model.states), len(model.parameter_vector()), len(model.outputs))
    y, p = model.initial_state() + 1.0, model.parameter_vector()
    dydt, out = np.full(cm.n_states, np.nan), np.full(cm.n_outputs, np.nan)
    J = np.full((cm.n_states, cm.n_states), np.nan)
    cm.rhs(0.5, y, p, dydt)
    cm.jac(0.5, y, p, J)
    cm.outputs(0.5, y, p, out)
    assert np.all(np.isfinite(dydt)) and np.all(np.isfinite(J)) and np.all(np.isfinite(out))
    assert cm.source_path.parent == cache_dir()
    assert cm.source_path.name.startswith(f"ldnsim_model_{model.name}_")


def _central_differences(cm, t, y, p):
    n = len(y)
    J = np.empty((n, n))
    f_plus, f_minus = np.empty(n), np.empty(n)
    for j in range(n):
        h = 1e-6 * max(1.0, abs(y[j]))
        yp, ym = y.copy(), y.copy()
        yp[j] += h
        ym[j] -= h
        cm.rhs(t, yp, p, f_plus)
        cm.rhs(t, ym, p, f_minus)
        J[:, j] = (f_plus - f_minus) / (2 * h)
    return J


@pytest.mark.parametrize("model", all_models(), ids=lambda m: m.name)
def test_jacobian_equals_finite_differences(model):
    cm = model.compile()
    rng = np.random.default_rng(20240611)
    n = cm.n_states
    checked = 0
    for _ in range(25):
        y = rng.uniform(0.1, 50.0, n)
        if model.name == "kitchen_sink":
            a, b, c = y
            # stay away from the kinks of where/min/max/abs, where differences are meaningless
            if min(abs(a - b), abs(a - c), abs(b - c), abs(a - 2 * b), abs(c - 10)) < 1e-2:
                continue
        p = model.parameter_vector() * rng.uniform(0.5, 2.0, cm.n_params)
        p[len(model.parameters):] = rng.uniform(0, 10, len(model.inputs))
        t = rng.uniform(0, 48)
        J = np.empty((n, n))
        cm.jac(t, y, p, J)
        np.testing.assert_allclose(J, _central_differences(cm, t, y, p), rtol=1e-5,
                                   atol=1e-7 * max(1.0, np.abs(J).max()))
        checked += 1
    assert checked >= 15


@pytest.mark.parametrize("model", all_models(), ids=lambda m: m.name)
def test_jacobian_pattern_covers_every_nonzero(model):
    """``CompiledModel.jac_sparsity`` (from the symbolic Jacobian) holds every entry that is
    non-zero anywhere, so the sparse LU never has to fall back on these models."""
    cm = model.compile()
    n = cm.n_states
    pattern = cm.jac_sparsity
    assert pattern.shape == (n, n) and pattern.dtype == bool
    rng = np.random.default_rng(5)
    seen = np.zeros((n, n), bool)
    for _ in range(10):
        y = rng.uniform(0.1, 50.0, n)
        p = model.parameter_vector() * rng.uniform(0.5, 2.0, cm.n_params)
        p[len(model.parameters):] = rng.uniform(0, 10, len(model.inputs))
        J = np.empty((n, n))
        cm.jac(rng.uniform(0, 48), y, p, J)
        seen |= J != 0
        # switches and fractions that are 0 by default (scenarios) zero whole terms; with
        # every parameter non-zero the structure shows in full
        p[p == 0] = rng.uniform(0.1, 0.9, np.count_nonzero(p == 0))
        cm.jac(rng.uniform(0, 48), y, p, J)
        full = J != 0
        assert not np.any(seen & ~pattern) and not np.any(full & ~pattern)
        seen |= full
    assert np.array_equal(seen, pattern)  # and nothing structurally zero is in it


def test_ldn_model_runs_on_the_sparse_lu_without_fallback():
    from ldnsim.dosing import Regimen
    from ldnsim.events import pad_event_tables
    from ldnsim.simulation import run_rows
    model = load_model("ldn")
    cm = model.compile()
    assert cm.n_states >= 20 and cm.jac_sparsity.sum() < 0.25 * cm.n_states ** 2
    events = pad_event_tables([Regimen.repeat(4.5, every=24.0, count=14).expand(model)])
    t_eval = np.arange(0.0, 14 * 24.0 + 1.0)
    rows = run_rows(cm, t_eval, model.parameter_vector()[None], model.initial_state(), events,
                    rtol=1e-6, atol=1e-9)
    assert rows.status[0] == 0
    assert rows.stats["n_lu"][0] > 100 and rows.stats["n_lu_dense"][0] == 0


def test_kitchen_sink_matches_hand_written_rhs(kitchen):
    rng = np.random.default_rng(7)
    dydt, out = np.empty(3), np.empty(2)
    for _ in range(50):
        y = rng.uniform(0.1, 20.0, 3)
        p = np.array([0.3, 2.0, 2.5, rng.uniform(0, 5)]) * rng.uniform(0.5, 2.0, 4)
        t = rng.uniform(0, 48)
        kitchen.rhs(t, y, p, dydt)
        np.testing.assert_allclose(dydt, kitchen_rhs(t, y, p), rtol=1e-12, atol=1e-14)
        kitchen.outputs(t, y, p, out)
        a, b, c = y
        assert out[0] == pytest.approx(a**p[2] / (p[1]**p[2] + a**p[2]), rel=1e-12)


def test_where_takes_both_branches(kitchen):
    p = np.array([0.3, 2.0, 2.5, 0.0])
    out = np.empty(2)
    kitchen.outputs(0.0, np.array([4.0, 1.0, 0.5]), p, out)       # a > b
    assert out[1] == pytest.approx(math.log(4.0) * math.sqrt(1.0))
    kitchen.outputs(0.0, np.array([1.0, 4.0, 0.5]), p, out)       # a < b
    assert out[1] == pytest.approx(math.exp(-1.0) + math.log10(4.0))


def test_one_compartment_rhs_by_hand():
    model = load_model("one_compartment_oral")
    cm = model.compile()
    ka, CL, V, rate = 0.7, 210.0, 1350.0, 5.0
    p = model.parameter_vector()
    p[cm.parameter_index("infusion")] = rate
    y = np.array([10.0, 3.0])
    dydt = np.empty(2)
    cm.rhs(0.0, y, p, dydt)
    np.testing.assert_allclose(dydt, [-ka * 10, ka * 10 - CL / V * 3 + rate], rtol=1e-14)
    out = np.empty(1)
    cm.outputs(0.0, y, p, out)
    assert out[0] == pytest.approx(1000 * 3 / V, rel=1e-14)
    assert cm.state_index("central") == 1 and cm.output_index("C_plasma") == 0
    assert cm.parameter_index("V") == 2 and cm.parameter_index("infusion") == 3
    with pytest.raises(ModelError, match="no state named 'blood'"):
        cm.state_index("blood")


@requires_jit
def test_parameter_values_are_never_baked_in(tmp_path):
    """A new value (in p, or even edited in the file) reuses the same module and machine code."""
    base = load_model("one_compartment_oral")
    cm = base.compile()
    cm.warmup()
    p = base.parameter_vector({"ka": 123.0, "V": 7.0})
    dydt = np.empty(2)
    cm.rhs(0.0, np.array([1.0, 1.0]), p, dydt)
    assert dydt[0] == -123.0
    assert len(cm.rhs.signatures) == 1
    text = (REPO / "models" / "one_compartment_oral.toml").read_text()
    edited = loads_model(text.replace("value = 0.7", "value = 0.9"), tmp_path / "x.toml")
    assert edited.hash != base.hash
    cm2 = edited.compile()
    assert cm2.module is cm.module and cm2.model is edited
    code = [line for line in cm.source_path.read_text().splitlines()
            if "CACHE_KEY" not in line and "codegen-key" not in line]
    for value in ("0.7", "210", "1350"):
        assert not any(value in line for line in code)


def test_structure_change_gives_a_new_module():
    text = (REPO / "models" / "one_compartment_oral.toml").read_text()
    changed = loads_model(text.replace('gut = "-ka * gut"', 'gut = "-ka * gut * 1.0001"'))
    a, b = load_model("one_compartment_oral").compile(), changed.compile()
    assert a.module is not b.module and a.source_path != b.source_path


def test_generated_source_contains_no_model_text():
    text = (REPO / "models" / "one_compartment_oral.toml").read_text()
    marked = loads_model(text.replace("drug in the gut", "EVIL_MARKER\\nimport os"))
    source = generate_source(marked)
    assert "EVIL_MARKER" not in source and "import os" not in source
    assert "eval(" not in source and "exec(" not in source


@requires_jit
def test_division_by_zero_does_not_raise_in_kernels(kitchen):
    """error_model='numpy': a zero volume gives inf/nan (a solver status), not an exception."""
    model = load_model("one_compartment_oral")
    cm = model.compile()
    p = model.parameter_vector({"V": 0.0})
    dydt = np.empty(2)
    cm.rhs(0.0, np.array([1.0, 1.0]), p, dydt)
    assert not np.all(np.isfinite(dydt))


def test_infinite_derivative_is_a_model_error():
    text = KITCHEN_SINK.replace('E = "hill(a, K, n)"', 'E = "1 / (a - a)"').replace(
        'name = "kitchen_sink"', 'name = "kitchen_bad"')
    with pytest.raises(ModelError, match=r"\[odes\] b: .*infinite, undefined or complex"):
        loads_model(text, "bad.toml").compile()


def test_generated_modules_keep_the_contract():
    """The names ldnsim.model.codegen documents, and that CompiledModel hands to the solver."""
    cm = load_model("two_compartment_iv").compile()
    mod = cm.module
    for name in ("rhs", "jac", "jac_nonzeros", "outputs", "rhs_cfunc", "jac_cfunc",
                 "jac_nonzeros_cfunc", "outputs_cfunc", "CACHE_KEY", "MODEL_NAME",
                 "STATE_NAMES", "PARAMETER_NAMES", "INPUT_NAMES",
                 "OUTPUT_NAMES", "N_STATES", "N_PARAMS", "N_OUTPUTS", "JAC_PATTERN"):
        assert hasattr(mod, name), name
    assert cm.kernel_functions == (mod.rhs_cfunc, mod.jac_cfunc, mod.outputs_cfunc)
    assert cm.jac_nonzeros_kernel is mod.jac_nonzeros_cfunc
    assert (mod.N_STATES, mod.N_PARAMS, mod.N_OUTPUTS) == (cm.n_states, cm.n_params,
                                                           cm.n_outputs)
    assert mod.STATE_NAMES == cm.model.state_names


@pytest.mark.parametrize("name", ["ldn", "pkpd_indirect"])
def test_jac_nonzeros_writes_exactly_the_pattern(name):
    """jac_nonzeros (what the solver kernels call, on a J they zeroed) writes every entry of
    JAC_PATTERN with jac's value and leaves every other entry untouched."""
    m = load_model(name)
    cm = m.compile()
    n = cm.n_states
    rng = np.random.default_rng(3)
    y = m.initial_state() + rng.uniform(0.1, 2.0, n)
    p = m.parameter_vector()
    full = np.empty((n, n))
    cm.jac(0.5, y, p, full)
    pattern = np.zeros((n, n), bool)
    for i, j in cm.module.JAC_PATTERN:
        pattern[i, j] = True
    for f in (cm.module.jac_nonzeros, cm.jac_nonzeros_kernel):
        J = np.full((n, n), np.nan)
        f(0.5, y, p, J)
        assert np.array_equal(J[pattern], full[pattern])
        assert np.all(np.isnan(J[~pattern]))
    assert np.all(full[~pattern] == 0.0)


def test_modules_are_registered_before_they_run():
    cm = load_model("pkpd_indirect").compile()
    assert sys.modules[cm.module.__name__] is cm.module
    assert cm.module.__name__ == cm.source_path.stem
    assert load_model("pkpd_indirect").compile().module is cm.module


_CHILD = """
import json, os, sys
import ldnsim.model as lm
cm = lm.load_model(sys.argv[1]).compile().warmup()
stats = [f.stats for f in (cm.rhs, cm.jac, cm.outputs)]
print(json.dumps({
    "hits": [sum(s.cache_hits.values()) for s in stats],
    "misses": [sum(s.cache_misses.values()) for s in stats],
    "path": str(cm.source_path), "mtime": os.stat(cm.source_path).st_mtime_ns,
    "sympy": "sympy" in sys.modules,
}))
"""


@requires_jit
@pytest.mark.slow
def test_cache_is_reused_across_processes(tmp_path):
    env = {**os.environ, "LDNSIM_CACHE_DIR": str(tmp_path / "cache"),
           "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    runs = []
    for _ in range(2):
        proc = subprocess.run([sys.executable, "-c", _CHILD, "pkpd_indirect"], env=env,
                              cwd=tmp_path, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr
        runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    first, second = runs
    assert min(first["misses"]) >= 1 and first["sympy"]
    assert min(second["hits"]) >= 1 and second["misses"] == [0, 0, 0]
    assert second["path"] == first["path"] and second["mtime"] == first["mtime"]
    assert not second["sympy"]  # a warm start does not even import sympy
    assert pathlib.Path(first["path"]).parent == tmp_path / "cache"
    assert not list((tmp_path / "cache").glob(".*.tmp"))  # no temp files left behind


def test_cache_dir_default(monkeypatch):
    monkeypatch.delenv("LDNSIM_CACHE_DIR", raising=False)
    assert "ldnsim" in str(cache_dir())
    monkeypatch.setenv("LDNSIM_CACHE_DIR", "/some/where")
    assert cache_dir() == pathlib.Path("/some/where")


def test_unwritable_cache_dir_is_a_clear_error(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("LDNSIM_CACHE_DIR", str(blocker / "sub"))
    text = (REPO / "models" / "two_compartment_iv.toml").read_text()
    model = loads_model(text.replace("Q * (C1 - C2)", "Q * (C1 - C2) * 1", 1))
    with pytest.raises(ModelError, match="LDNSIM_CACHE_DIR"):
        model.compile()
