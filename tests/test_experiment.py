"""Experiment files: validation with clear messages, resolution against the model, runs."""

import copy
import re
import tomllib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ldnsim.errors import ConfigError
from ldnsim.experiment import load_experiment, metrics_of, run_experiment, sample_design
from ldnsim.metrics import MetricError
from ldnsim.results import provenance

ROOT = Path(__file__).resolve().parents[1]
ALL_EXPERIMENTS = sorted((ROOT / "experiments").glob("*.toml"))


def _model_exists(path):
    name = tomllib.loads(path.read_text())["model"]["name"]
    return (ROOT / "models" / f"{name}.toml").is_file() or "/" in name


# Experiments on the LDN model (models/ldn.toml) are checked against it only once that model
# exists: it is written in parallel with these drafts. Every other experiment is always checked
# in full, and every file, drafts included, always passes the schema check below.
RESOLVABLE = [p for p in ALL_EXPERIMENTS if _model_exists(p)]


def test_the_pk_experiment_is_shipped():
    assert ROOT / "experiments" / "pk_single_dose.toml" in RESOLVABLE


@pytest.mark.parametrize("path", ALL_EXPERIMENTS, ids=lambda p: p.name)
def test_every_experiment_file_has_a_valid_structure(path):
    load_experiment(path, resolve=False)


@pytest.mark.parametrize("path", RESOLVABLE, ids=lambda p: p.name)
def test_every_experiment_file_validates_against_its_model(path):
    exp = load_experiment(path)
    assert exp.plan.n_rows >= 1
    assert "rows:" in exp.summary()


def test_the_ldn_draft_fails_only_on_the_model_when_the_model_is_missing(tmp_path):
    text = (ROOT / "experiments" / "immunomodulatory_window.toml").read_text()
    text = text.replace('name = "ldn"', 'name = "ldn_not_written_yet"')
    path = tmp_path / "window.toml"
    path.write_text(text)
    load_experiment(path, resolve=False)
    with pytest.raises(ConfigError, match=r"\[model\] name: no shipped model"):
        load_experiment(path)


# ------------------------------------------------------------------------------ the pk run
@pytest.fixture(scope="module")
def pk():
    return run_experiment(ROOT / "experiments" / "pk_single_dose.toml", progress=False)


def test_pk_experiment_runs(pk):
    assert pk["C_plasma"].dims == ("dose", "scenario", "time")
    assert int(pk["status"].max()) == 0
    prov = provenance(pk)
    assert prov["experiment"].startswith("# Single oral doses")
    assert prov["experiment_config"]["model"]["name"] == "one_compartment_oral"
    assert len(prov["model_hash"]) == 64
    assert prov["metrics"] == ["nca"]
    # linear PK: AUC to infinity = 1000 * dose / CL (ng h/mL), whatever the absorption
    auc = pk["metric_AUCinf"]
    expected = 1000 * pk["dose"] / 210.0
    assert np.allclose(auc.values, expected.broadcast_like(auc).values, rtol=2e-3)
    assert pk["metric_Cmax"].attrs["units"] == "ng/mL"


def test_metrics_of_gives_plain_names(pk):
    m = metrics_of(pk)
    assert {"Cmax", "Tmax", "AUC", "half_life"} <= set(m.data_vars)
    assert "time" not in m.dims


def test_text_dict_and_path_load_the_same():
    path = ROOT / "experiments" / "pk_single_dose.toml"
    text = path.read_text()
    a = load_experiment(path)
    b = load_experiment(text)
    c = load_experiment(tomllib.loads(text))
    assert np.array_equal(a.plan.P, b.plan.P) and np.array_equal(a.plan.P, c.plan.P)
    assert load_experiment("pk_single_dose").path == path  # shipped name


# ------------------------------------------------------------------------- a base config
BASE = {
    "experiment": {"name": "t", "description": "test"},
    "model": {"name": "one_compartment_oral", "scenarios": ["slow_absorption"],
              "params": {"CL": 200.0}},
    "regimen": {"dose": 10.0, "every": 24.0, "count": 2, "start": 0.0, "duration": 0.0,
                "target": "gut", "lag": 0.0, "bioavailability": 1.0},
    "output": {"t_end": 48.0, "step": 2.0, "variables": ["C_plasma"]},
    "solver": {"method": "rodas5p", "rtol": 1e-6, "atol": 1e-9, "max_steps": 10000},
    "sweep": {"dose": [1.0, 10.0], "CL": [100.0, 200.0], "mode": "product"},
    "population": {"subjects": 3, "seed": 1, "iiv": {"CL": 0.3, "V": 0.2},
                   "correlation": [[1.0, 0.2], [0.2, 1.0]]},
    "metrics": {"names": ["nca"], "nca": {"var": "C_plasma"}},
}


def _with(path, value=None, delete=False):
    cfg = copy.deepcopy(BASE)
    node = cfg
    for key in path[:-1]:
        node = node[key]
    if delete:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return cfg


def test_base_config_is_valid():
    exp = load_experiment(BASE)
    assert exp.plan.dims == ("dose", "CL", "subject")
    assert exp.plan.n_rows == 12


@pytest.mark.parametrize("path, value, expected", [
    (("sweep", "dose", 1), "ten", "[sweep] dose[1]: expected a number, got 'ten'"),
    (("regimen", "count"), 0, "[regimen] count: expected a number >= 1, got 0"),
    (("regimen", "count"), True, "[regimen] count: expected an integer, got True"),
    (("regimen", "bioavailability"), 1.5, "[regimen] bioavailability: expected a number <= 1"),
    (("solver", "method"), "euler", "[solver] method: unknown method 'euler'"),
    (("sweep", "mode"), "grid", "[sweep] mode: expected 'product' or 'zip'"),
    (("output", "t_end"), float("nan"), "[output] t_end: expected a finite number"),
    (("population", "iiv", "CL"), -0.1, "[population] iiv.CL: expected a number >= 0"),
    (("regimen", "dosee"), 1.0, "[regimen] dosee: unknown key 'dosee' (did you mean 'dose'?)"),
    (("sweeps",), {}, "[sweeps]: unknown section 'sweeps' (did you mean 'sweep'?)"),
    (("model", "name"), "one_compartment_orall",
     "[model] name: no shipped model named 'one_compartment_orall'"),
    (("model", "scenarios"), ["fast"], "[model] scenarios[0]: scenario 'fast' is not in"),
    (("model", "params"), {"CLL": 1.0}, "[model] params.CLL: parameter 'CLL' is not in"),
    (("sweep", "Vd"), [1.0], "[sweep] Vd: sweep axis"),
    (("output", "variables"), ["C"], "[output] variables[0]: variable 'C' is not in"),
    (("metrics", "nca", "var"), "C_ntx", "[metrics] nca.var: metric 'nca' reads 'C_ntx'"),
    (("metrics", "nca", "bogus"), 1, "unknown option 'bogus' for metric 'nca'"),
    (("metrics", "names"), ["nca", "auc"], "unknown metric 'auc'"),
    (("population", "correlation"), [[1.0, 2.0], [2.0, 1.0]], "between -1 and 1"),
    (("regimen", "start"), -1.0, "[regimen] start: the first dose"),
    (("sweep", "scenario"), [["slow_absorption"]], "[sweep] scenario[0]: "),
    (("regimen", "target"), "liver", "[regimen]: dose 0"),
])
def test_errors_name_file_key_and_expected_value(path, value, expected):
    with pytest.raises(ConfigError) as info:
        load_experiment(_with(path, value))
    msg = str(info.value)
    assert msg.startswith("<experiment dict>: ")
    assert expected in msg
    assert "\n" not in msg and "pydantic" not in msg and "errors.pydantic.dev" not in msg


@pytest.mark.parametrize("path, expected", [
    (("model",), "<experiment dict>: missing section [model]"),
    (("model", "name"), "[model] name: missing required key 'name'"),
    (("output", "t_end"), "give exactly one of t_end or days"),
    (("regimen", "dose"), None),  # fine: the dose comes from the sweep
])
def test_missing_keys(path, expected):
    cfg = _with(path, delete=True)
    if expected is None:
        load_experiment(cfg)
        return
    with pytest.raises(ConfigError, match=re.escape(expected)):
        load_experiment(cfg)


def test_errors_from_files_name_the_file(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('[model]\nname = "one_compartment_oral"\n[output]\nt_end = "soon"\n')
    with pytest.raises(ConfigError, match=r"bad\.toml: \[output\] t_end: expected a number"):
        load_experiment(path)
    path.write_text("[model\nname = 1\n")
    with pytest.raises(ConfigError, match=r"bad\.toml: TOML syntax error"):
        load_experiment(path)
    with pytest.raises(ConfigError, match="no such experiment file"):
        load_experiment(tmp_path / "missing.toml")


def test_model_path_relative_to_the_experiment(tmp_path):
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "pk.toml").write_text(
        (ROOT / "models" / "one_compartment_oral.toml").read_text())
    cfg = _with(("model", "name"), "m/pk.toml")
    path = tmp_path / "e.toml"
    path.write_text("\n".join(_toml_lines(cfg)))
    exp = load_experiment(path)
    assert Path(exp.model.path) == tmp_path / "m" / "pk.toml"


def _toml_lines(cfg):
    """A tiny TOML writer for the test configs (tables of scalars, lists and inline tables)."""
    import json

    def val(v):
        if isinstance(v, dict):
            return "{ " + ", ".join(f"{k} = {val(x)}" for k, x in v.items()) + " }"
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, list):
            return "[" + ", ".join(val(x) for x in v) + "]"
        return json.dumps(v)

    for section, table in cfg.items():
        yield f"[{section}]"
        for k, v in table.items():
            yield f"{k} = {val(v)}"


def test_days_are_converted_with_the_model_time_unit():
    cfg = _with(("regimen", "count"), delete=True)
    cfg["regimen"]["days"] = 7
    cfg["output"] = {"days": 7.0, "step": 12.0}
    exp = load_experiment(cfg)
    assert exp.plan.t_eval[-1] == 168.0
    assert len(exp.plan.tables[0]) == 7  # doses at 0, 24, ..., 144 h


def test_explicit_output_times():
    cfg = copy.deepcopy(BASE)
    cfg["output"] = {"times": [0.0, 1.0, 4.0, 24.0]}
    assert list(load_experiment(cfg).plan.t_eval) == [0.0, 1.0, 4.0, 24.0]
    cfg["output"]["times"] = [0.0, 2.0, 1.0]
    with pytest.raises(ConfigError, match="strictly increasing"):
        load_experiment(cfg)


# ----------------------------------------------------------------------- seeds and sampling
def test_population_seeds_reproduce_and_differ():
    a = load_experiment(BASE).plan.P
    b = load_experiment(BASE).plan.P
    c = load_experiment(_with(("population", "seed"), 2)).plan.P
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_a_missing_seed_is_recorded_and_replays():
    exp = load_experiment(_with(("population", "seed"), delete=True))
    seed = exp.seeds["population"]
    assert provenance(exp.plan.attrs)["population_seed"] == seed
    again = load_experiment(_with(("population", "seed"), seed))
    assert np.array_equal(exp.plan.P, again.plan.P)


def test_sampling_adds_a_sample_dim():
    cfg = copy.deepcopy(BASE)
    del cfg["sweep"]["CL"]
    cfg["sampling"] = {"method": "lhs", "n": 8, "seed": 3, "log": True,
                       "ranges": {"CL": [100.0, 400.0], "ka": [0.2, 2.0]}}
    exp = load_experiment(cfg)
    assert exp.plan.dims == ("dose", "sample", "subject")
    cfg["sweep"]["CL"] = [1.0]
    with pytest.raises(ConfigError, match=r"\[sampling\] ranges.CL: 'CL' is also a sweep axis"):
        load_experiment(cfg)


@pytest.mark.parametrize("log", [False, True])
def test_latin_hypercube_hits_every_stratum_once(log):
    n = 16
    values, seed = sample_design("lhs", n, {"a": [1.0, 100.0], "b": [0.5, 2.0]}, log=log,
                                 seed=9)
    assert seed == 9
    for name, (lo, hi) in {"a": (1.0, 100.0), "b": (0.5, 2.0)}.items():
        v = values[name]
        u = (np.log(v / lo) / np.log(hi / lo)) if log else (v - lo) / (hi - lo)
        assert sorted(np.floor(u * n).astype(int)) == list(range(n))
    again, _ = sample_design("lhs", n, {"a": [1.0, 100.0], "b": [0.5, 2.0]}, log=log, seed=9)
    assert np.array_equal(again["a"], values["a"])


def test_a_metric_that_cannot_run_is_refused_before_solving():
    """What a metric cannot do with this output grid is known before any row is solved."""
    cfg = copy.deepcopy(BASE)
    del cfg["population"]
    cfg["metrics"]["nca"]["start"] = 1000.0  # after the end: an empty window
    with pytest.raises(ConfigError, match=r"\[metrics\] nca: empty time window"):
        load_experiment(cfg)
    with pytest.raises(ConfigError, match="empty time window"):
        run_experiment(cfg, progress=False)


@pytest.mark.parametrize("error", [MetricError("empty time window, on the real data"),
                                   TypeError("a bug in a metric")])
def test_a_metric_that_fails_after_solving_keeps_the_simulation(monkeypatch, error):
    import dataclasses
    import functools

    from ldnsim.metrics import METRICS
    cfg = copy.deepcopy(BASE)
    del cfg["population"]
    exp = load_experiment(cfg)  # valid: the metric works on the stand-in result

    @functools.wraps(METRICS["nca"].func)  # same options, but fails on the solved result
    def failing(ds, **options):
        raise error

    monkeypatch.setitem(METRICS, "nca", dataclasses.replace(METRICS["nca"], func=failing))
    with pytest.warns(UserWarning, match="metrics were not computed"):
        ds = run_experiment(exp, progress=False)
    assert "C_plasma" in ds and not any(v.startswith("metric_") for v in ds.data_vars)
    assert str(error) in ds.attrs["metrics_error"]


def test_every_solver_method_runs_from_a_config():
    """``[solver] method`` takes each name of ``ldnsim.METHODS`` (``rodas3`` included): the
    same concentrations within 10 x the tolerance of a tight Rodas5P run, and the method is
    recorded in the result's provenance."""
    from ldnsim import METHODS
    from ldnsim.results import provenance
    cfg = copy.deepcopy(BASE)
    del cfg["population"]
    ref_cfg = copy.deepcopy(cfg)
    ref_cfg["solver"].update(rtol=1e-11, atol=1e-14)
    ref = run_experiment(ref_cfg, progress=False)["C_plasma"].values
    for method in sorted(METHODS):
        cfg["solver"]["method"] = method
        ds = run_experiment(cfg, progress=False)
        assert provenance(ds)["solver"]["method"] == method
        err = np.abs(ds["C_plasma"].values - ref) / (1e-9 + 1e-6 * np.abs(ref))
        assert np.max(err) < 10.0, (method, np.max(err))


# ------------------------------------------------------------------ property-based checks
def _leaves(node, prefix=()):
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _leaves(v, prefix + (k,))
    elif isinstance(node, list):
        yield prefix
        for i, v in enumerate(node):
            yield from _leaves(v, prefix + (i,))
    else:
        yield prefix


LEAVES = list(_leaves(BASE))


def _get(cfg, path):
    for key in path:
        cfg = cfg[key]
    return cfg


def _tables(node, prefix=()):
    if isinstance(node, dict):
        yield prefix
        for k, v in node.items():
            yield from _tables(v, prefix + (k,))


TABLES = list(_tables(BASE))
#: Tables whose keys are free names (parameters, axes, metrics): a new key may be legal there.
OPEN_TABLES = {("sweep",), ("metrics",), ("metrics", "nca"), ("model", "params"),
               ("population", "iiv")}
junk = st.one_of(st.text(max_size=6), st.booleans(), st.integers(-5, 5),
                 st.floats(allow_nan=True, allow_infinity=True), st.none(),
                 st.lists(st.one_of(st.integers(-3, 3), st.text(max_size=3)), max_size=3),
                 st.dictionaries(st.text(max_size=4), st.integers(-3, 3), max_size=2))
FAST = settings(max_examples=120, deadline=None,
                suppress_health_check=[HealthCheck.too_slow])


def _check_one_line(exc):
    msg = str(exc)
    assert msg.startswith("<experiment dict>: ") and "\n" not in msg
    assert "pydantic" not in msg and "Traceback" not in msg
    return msg


@FAST
@given(path=st.sampled_from(LEAVES), value=junk)
def test_any_bad_value_gives_a_config_error(path, value):
    try:
        load_experiment(_with(path, value))
    except ConfigError as exc:
        msg = _check_one_line(exc)
        assert f"[{path[0]}]" in msg


@FAST
@given(path=st.sampled_from([p for p in LEAVES if not isinstance(_get(BASE, p), dict)]))
def test_a_wrong_type_names_the_exact_key(path):
    """A table where a number, string or list belongs is rejected at that very key."""
    try:
        load_experiment(_with(path, {"x": 1}))
    except ConfigError as exc:
        msg = _check_one_line(exc)
        from ldnsim.experiment.messages import key_text as _key_text
        assert _key_text(path) in msg, msg
    else:  # only metric options take any value
        assert path[0] == "metrics" and len(path) == 3


@FAST
@given(table=st.sampled_from(TABLES), key=st.text(min_size=1, max_size=8), value=junk)
def test_unknown_keys_are_named(table, key, value):
    cfg = copy.deepcopy(BASE)
    node = _get(cfg, table)
    if key in node:
        return
    node[key] = value
    try:
        load_experiment(cfg)
    except ConfigError as exc:
        msg = _check_one_line(exc)
        if table not in OPEN_TABLES:
            assert repr(key) in msg or key in msg, msg
    else:
        assert table in OPEN_TABLES


@FAST
@given(path=st.sampled_from(LEAVES))
def test_a_deleted_key_is_an_error_or_has_a_default(path):
    if isinstance(path[-1], int):
        return
    try:
        load_experiment(_with(path, delete=True))
    except ConfigError as exc:
        _check_one_line(exc)


toml_values = st.recursive(
    st.one_of(st.integers(-10, 10), st.floats(allow_nan=False), st.text(max_size=5),
              st.booleans()),
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.text(max_size=5), inner, max_size=3)),
    max_leaves=10)


@FAST
@given(st.dictionaries(st.text(max_size=8), toml_values, max_size=5))
def test_random_tables_give_a_config_error(cfg):
    with pytest.raises(ConfigError):
        load_experiment(cfg)


@FAST
@given(st.text(max_size=80))
def test_random_text_gives_a_config_error(text):
    with pytest.raises(ConfigError):
        load_experiment(text + "\n")


def test_coarse_then_dense_output_grid():
    """dense_from/coarse_step: daily samples, then the fine step over the end of the run."""
    from ldnsim.experiment.resolve import output_times as _t_eval
    cfg = {"experiment": {"name": "grid"}, "model": {"name": "one_compartment_oral"},
           "regimen": {"dose": 1.0, "every": 24.0, "days": 10},
           "output": {"days": 10, "step": 0.5, "dense_from": 192.0, "coarse_step": 24.0}}
    exp = load_experiment(cfg)
    t = _t_eval(exp, exp.model)
    expected = np.concatenate([np.arange(0.0, 192.0, 24.0), np.arange(192.0, 240.25, 0.5)])
    np.testing.assert_array_equal(t, expected)
    for bad in ({"dense_from": 192.0}, {"coarse_step": 24.0}, {"dense_from": 300.0,
                                                               "coarse_step": 24.0}):
        cfg["output"] = {"days": 10, "step": 0.5, **bad}
        with pytest.raises(ConfigError, match="dense_from|coarse_step"):
            load_experiment(cfg)
