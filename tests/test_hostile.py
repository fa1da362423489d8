"""Hostile input and faults: nothing accepted is lost later, nothing hostile costs too much.

The corpus in ``tests/hostile/`` holds model and experiment files that attack the parser, the
code generator, the limits and the paths; each file states its expected outcome in a header
(``# expect: ok`` or ``# expect: error: <regular expression>``; models also say at which
``# stage:`` -- load, cost or compile -- the error must come). Cases too large to keep as files
are generated below. Then:

- every config the suite knows is run through ``validate`` and, when accepted, through a run
  whose solver is replaced by a stand-in (so thousands of rows cost nothing): nothing accepted
  may fail later, in the metrics, the result, the file or the figure;
- the code cache, the solver API's bounds, the command line's output paths and messages;
- a fault test per signal (SIGINT, SIGTERM, SIGKILL) during the solve and during the save: the
  old result survives, and no temporary file remains after the next run.
"""
import dataclasses
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import numba
import numpy as np
import pytest

import ldnsim.model.compiled as compiled_module
from ldnsim import cli
from ldnsim._files import stale_temp_files, temp_name
from ldnsim.errors import ConfigError, LdnsimError, ModelError
from ldnsim.experiment import load_experiment, run_experiment
from ldnsim.io import open_result, save_result
from ldnsim.model import load_model, loads_model
from ldnsim.model.compiled import check_cost
from ldnsim.solver import integrate, integrate_batch

ROOT = Path(__file__).resolve().parents[1]
HOSTILE = Path(__file__).resolve().parent / "hostile"
MODELS = sorted((HOSTILE / "models").glob("*.toml"))
EXPERIMENTS = sorted((HOSTILE / "experiments").glob("*.toml"))
SHIPPED = sorted((ROOT / "experiments").glob("*.toml"))


def _header(path):
    """``(expected, stage)`` from a corpus file's ``# expect:`` and ``# stage:`` lines."""
    text = path.read_text(encoding="utf-8", errors="replace")
    expect = re.search(r"^# expect: (.*)$", text, re.M)[1]
    stage = re.search(r"^# stage: (\w+)$", text, re.M)
    return expect, stage[1] if stage else None


def _one_line(exc):
    msg = str(exc)
    assert "\n" not in msg and "Traceback" not in msg, msg
    return msg


# ----------------------------------------------------------------------------- generated
def _model(ode="-k * x", defs=(), states=("x",), params=("k",)):
    # these models test size limits, and their units cannot all agree (exp(-x) of mg, ...)
    lines = ["[model]", 'name = "hostile"', 'time_unit = "h"', "check_units = false",
             "[states]"]
    lines += [f'{s} = {{ init = 1.0, unit = "mg" }}' for s in states]
    lines += ["[parameters]"]
    lines += [f'{p} = {{ value = 0.5, unit = "1/h", source = "t" }}' for p in params]
    if defs:
        lines += ["[definitions]"] + [f'{n} = "{e}"' for n, e in defs]
    lines += ["[odes]", f'{states[0]} = "{ode}"'] + [f'{s} = "k * {p} - k * {s}"'
                                                    for p, s in zip(states, states[1:])]
    return "\n".join(lines) + "\n"


def _chain(n, step):
    return [("d1", step.format(prev="x"))] + [(f"d{i}", step.format(prev=f"d{i - 1}"))
                                              for i in range(2, n + 1)]


GENERATED = {  # name -> (text, expected error, stage)
    "nested_exp_1500": (_model(defs=_chain(1500, "exp(-{prev})"), ode="-k * d1500"),
                        r"nested \d+ levels deep, more than 60", "cost"),
    "chained_sums_3000": (_model(defs=_chain(3000, "{prev} + x"), ode="-k * d3000"),
                          r"nested \d+ levels deep", "cost"),
    "max_of_1300": (_model(params=[f"p{i}" for i in range(1300)] + ["k"],
                           ode="-k * x * max(" + ", ".join(f"p{i}" for i in range(1300)) + ")"),
                    "over 200,000 terms", "cost"),
    "states_10000": (_model(states=[f"x{i}" for i in range(10_000)], ode="-k * x0"),
                     "10000 states, more than 300", "cost"),
    "expression_20k_chars": (_model(ode="x" + " + x" * 5000), "characters long; the limit",
                             "load"),
    "toml_nested_tables": ("a = " + "{ b = " * 3000 + "1" + " }" * 3000 + "\n",
                           "(TOML could not be parsed|nested too deeply|unknown section)",
                           "load"),
    "file_over_1mb": (_model() + "# " + "x" * 1_100_000 + "\n", "larger than|bytes",
                      "load"),
}


# ----------------------------------------------------------------------------- models
@pytest.mark.parametrize("path", MODELS, ids=lambda p: p.stem)
def test_hostile_model_files(path, monkeypatch):
    expect, stage = _header(path)
    if expect == "ok":
        model = load_model(path)
        cm = model.compile()
        y, p = model.initial_state(), model.parameter_vector()
        dydt = np.empty(cm.n_states)
        cm.rhs(0.0, y, p, dydt)
        assert np.all(np.isfinite(dydt))
        if "source" in model.parameter_names:  # a scenario sets the parameter named source
            assert model.parameter_vector(scenarios=("twice",))[1] == 1.0
        return
    pattern = expect.removeprefix("error: ")
    _check_model_error(path.read_text(), path, pattern, stage, monkeypatch)


@pytest.mark.parametrize("name", list(GENERATED))
def test_generated_hostile_models(name, tmp_path, monkeypatch):
    text, pattern, stage = GENERATED[name]
    path = tmp_path / f"{name}.toml"
    path.write_text(text)
    _check_model_error(text, path, pattern, stage, monkeypatch)


def _check_model_error(text, path, pattern, stage, monkeypatch):
    if stage == "load":
        with pytest.raises(ModelError) as info:
            load_model(path)
    else:
        model = load_model(path)
        if stage == "cost":
            # refused by arithmetic on the parse trees: sympy never sees it
            def no_codegen(*args, **kwargs):
                raise AssertionError("code generation ran on a model over a cost limit")

            monkeypatch.setattr(compiled_module, "generate_source", no_codegen)
            with pytest.raises(ModelError) as first:
                check_cost(model)
            assert re.search(pattern, _one_line(first.value)), str(first.value)
            assert "LDNSIM_" in str(first.value)  # says how to raise the limit
        with pytest.raises(ModelError) as info:
            model.compile()
    msg = _one_line(info.value)
    assert re.search(pattern, msg), msg


def test_invalid_utf8_model_file(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_bytes(_model().encode() + b"# \xff\xfe\n")
    with pytest.raises(ModelError, match="not UTF-8"):
        load_model(path)


def test_a_limit_is_raised_by_its_environment_variable(monkeypatch):
    text = _model(defs=_chain(12, "{prev} * {prev}"), ode="-k * d12")
    model = loads_model(text, "squares.toml")
    with pytest.raises(ModelError, match="LDNSIM_MAX_EXPANDED_EXPONENT"):
        check_cost(model)
    monkeypatch.setenv("LDNSIM_MAX_EXPANDED_EXPONENT", "5000")
    check_cost(model)  # 2**12 = 4096 is allowed now
    monkeypatch.setenv("LDNSIM_MAX_EXPANDED_EXPONENT", "lots")
    with pytest.raises(LdnsimError, match="must be a positive number"):
        check_cost(model)


# ----------------------------------------------------------------------------- experiments
@pytest.mark.parametrize("path", EXPERIMENTS, ids=lambda p: p.stem)
def test_hostile_experiment_files(path):
    expect, _ = _header(path)
    if expect == "ok":
        load_experiment(path)
        return
    with pytest.raises(ConfigError) as info:
        load_experiment(path)
    msg = _one_line(info.value)
    assert msg.startswith(str(path)), msg  # names the file
    assert re.search(expect.removeprefix("error: "), msg), msg


def test_experiment_files_that_are_not_text(tmp_path):
    big = tmp_path / "big.toml"
    big.write_text("# " + "x" * 1_100_000 + "\n")
    with pytest.raises(ConfigError, match="larger than 1000000 bytes"):
        load_experiment(big)
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"[model]\nname = \"\xff\xfe\"\n")
    with pytest.raises(ConfigError, match="not a UTF-8 text file"):
        load_experiment(binary)


# ------------------------------------------------------ validate, then run: nothing lost
def _known_configs():
    """Every experiment config the suite knows: shipped, hostile corpus, test_experiment's."""
    configs = [(p.stem, p) for p in SHIPPED + EXPERIMENTS]
    import importlib.util
    module = importlib.util.spec_from_file_location("_t_exp", Path(__file__).parent /
                                                    "test_experiment.py")
    mod = importlib.util.module_from_spec(module)
    module.loader.exec_module(mod)
    configs.append(("test_experiment.BASE", mod.BASE))
    return configs


def _stand_in_solver(monkeypatch):
    """Replace the solve by arrays of the right shape: values 1.0, the first row failed."""
    import ldnsim.sweep.jobs as sweep_jobs  # where a chunk's job looks the solve up

    def run_chunk(model, t_eval, P, y0, events, *, keep_index=None, **kwargs):
        r, m = P.shape[0], len(t_eval)
        values = np.ones((r, m, len(keep_index)))
        status = np.zeros(r, np.int64)
        status[0] = 3
        values[0] = np.nan
        stats = np.zeros((r, 6), np.int64)
        return sweep_jobs.ChunkResult(values=values, status=status, stats=stats)

    monkeypatch.setattr(sweep_jobs, "run_chunk", run_chunk)


@pytest.mark.parametrize("name, source", _known_configs(), ids=lambda x: x if
                         isinstance(x, str) else "")
def test_validate_accepts_only_what_runs(name, source, tmp_path, monkeypatch):
    """No accepted config fails after solving (metrics, result, file, figure), and what is
    refused is refused with one line before anything runs."""
    try:
        exp = load_experiment(source)
    except ConfigError as exc:
        _one_line(exc)
        return
    _stand_in_solver(monkeypatch)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # failed rows, windows longer than the run
        ds = run_experiment(exp, progress=False)
    assert "metrics_error" not in ds.attrs, ds.attrs["metrics_error"]
    if exp.config.metrics is not None:
        assert any(str(v).startswith("metric_") for v in ds.data_vars)
    path = save_result(ds, tmp_path / "result.nc")
    back = open_result(path)
    assert int(back["status"].values.ravel()[0]) == 3
    cli._save_figure(back, tmp_path / "figure.png")
    assert (tmp_path / "figure.png").stat().st_size > 1000


# ----------------------------------------------------------------------------- the code cache
def _fresh_model(tag):
    """A model of its own structure (so of its own cache entry) for each test."""
    text = (ROOT / "models" / "one_compartment_oral.toml").read_text()
    return loads_model(text.replace('gut = "-ka * gut"', f'gut = "-ka * gut * 1.00000{tag}"'),
                       "cache_test.toml")


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LDNSIM_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("LDNSIM_CACHE_SHARED", raising=False)
    return tmp_path / "cache"


def _forget(cm):
    sys.modules.pop(cm.module.__name__, None)


def _rhs_value(cm):
    dydt = np.empty(2)
    cm.rhs(0.0, np.array([1.0, 1.0]), cm.model.parameter_vector(), dydt)
    return dydt


def test_cache_files_are_private(cache):
    cm = _fresh_model(1).compile()
    assert cache.stat().st_mode & 0o777 == 0o700
    assert cm.source_path.stat().st_mode & 0o777 == 0o600


def test_a_shared_cache_is_chosen_on_purpose(cache, monkeypatch):
    monkeypatch.setenv("LDNSIM_CACHE_SHARED", "1")
    cm = _fresh_model(2).compile()
    assert cm.source_path.stat().st_mode & 0o777 == 0o644


@pytest.mark.parametrize("damage", ["truncate", "half", "edit_rhs", "insert_code", "empty"])
def test_a_damaged_module_is_never_run_and_rebuilt(cache, tmp_path, damage):
    tag = 3 + ["truncate", "half", "edit_rhs", "insert_code", "empty"].index(damage)
    cm = _fresh_model(tag).compile()
    good = _rhs_value(cm)
    _forget(cm)
    path = cm.source_path
    text = path.read_text()
    marker = tmp_path / "pwned"
    damaged = {
        "truncate": text[:200],
        "half": text[:len(text) // 2],
        "edit_rhs": text.replace("dydt[0] = ", "dydt[0] = 2 * "),
        "insert_code": text.replace("import math\n",
                                    f"import math\nopen({str(marker)!r}, 'w').close()\n"),
        "empty": "",
    }[damage]
    assert damaged != text
    path.write_text(damaged)
    with pytest.warns(UserWarning, match="is truncated or was edited|header mismatch"):
        again = _fresh_model(tag).compile()
    assert not marker.exists()  # the inserted code never ran
    assert np.array_equal(_rhs_value(again), good)
    assert again.source_path.read_text() == text  # rebuilt, identical


@pytest.mark.skipif(numba.config.DISABLE_JIT, reason="numba writes no cache files")
@pytest.mark.parametrize("which", ["nbi", "nbc"])
def test_damaged_numba_cache_files_are_rebuilt_once(cache, which):
    code = ("import numpy as np, ldnsim\n"
            f"text = open({str(ROOT / 'models' / 'one_compartment_oral.toml')!r}).read()\n"
            "m = ldnsim.loads_model(text.replace('gut = \"-ka * gut\"', "
            "'gut = \"-ka * gut * 1.000009\"'), 'cache_test.toml')\n"
            "dydt = np.empty(2)\n"
            "m.compile().rhs(0.0, np.ones(2), m.parameter_vector(), dydt)\n"
            "print(dydt.tolist())\n")
    env = {**os.environ, "LDNSIM_CACHE_DIR": str(cache),
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}

    def child():
        return subprocess.run([sys.executable, "-W", "always", "-c", code], env=env,
                              capture_output=True, text=True, timeout=300)

    first = child()
    assert first.returncode == 0, first.stderr
    files = sorted((cache / "__pycache__").glob(f"*.{which}"))
    assert files
    for f in files:
        f.write_bytes(f.read_bytes()[:40])  # cut short: numba's pickles cannot load
    second = child()
    assert second.returncode == 0, second.stderr
    assert second.stdout == first.stdout
    assert "rebuilt" in second.stderr and second.stderr.count("UserWarning") == 1
    third = child()  # and the rebuilt entry is trusted again, silently
    assert third.returncode == 0 and third.stdout == first.stdout
    assert "UserWarning" not in third.stderr, third.stderr


def test_a_module_owned_by_someone_else_is_not_trusted(cache, monkeypatch):
    cm = _fresh_model(8).compile()
    _forget(cm)
    uid = os.geteuid()
    monkeypatch.setattr(os, "geteuid", lambda: uid + 1)
    with pytest.warns(UserWarning, match="owned by another user|is not private") as record:
        _fresh_model(8).compile()
    messages = " | ".join(str(w.message) for w in record)
    assert "is owned by another user" in messages and "is not private" in messages


def test_validate_generates_the_code_and_refuses_what_cannot_compile(cache, tmp_path):
    model = tmp_path / "m.toml"
    model.write_text(_model(defs=[("z", "1 / (x - x)")], ode="-k * z").replace(
        '[model]\n', '[model]\ndose_target = "x"\n'))
    exp = tmp_path / "e.toml"
    exp.write_text('[model]\nname = "m.toml"\n[regimen]\ndose = 1.0\n[output]\nt_end = 2.0\n')
    with pytest.raises(ConfigError, match=r"\[model\] name: .*infinite, undefined"):
        load_experiment(exp)


# ----------------------------------------------------------------------------- solver API
@numba.njit
def _reads_p0(t, y, p, dydt):
    dydt[0] = -p[0] * y[0]


@numba.njit
def _writes_dydt1(t, y, p, dydt):
    dydt[0] = -y[0]
    dydt[1] = 1.0


@numba.njit
def _reads_p2(t, y, p, dydt):
    dydt[0] = -p[2] * y[0]


T = np.linspace(0.0, 1.0, 5)


@pytest.mark.parametrize("call, match", [
    (lambda: integrate(_reads_p0, [1.0], T, [], boundscheck=True), "p has 0"),
    (lambda: integrate(_writes_dydt1, [1.0], T, [1.0], boundscheck=True), "dydt have 1"),
    # p[2] of a row of two parameters would be the next row's first one
    (lambda: integrate_batch(_reads_p2, [1.0], T, np.ones((3, 2)), boundscheck=True),
     r"start point \(row 0\)"),
])
def test_boundscheck_finds_indices_outside_the_arrays(call, match):
    with pytest.raises(ValueError, match=f"indexes outside its arrays.*{match}|{match}"):
        call()


def test_boundscheck_passes_correct_functions():
    res = integrate(_reads_p0, [1.0], T, [2.0], boundscheck=True)
    np.testing.assert_allclose(res.y[-1, 0], np.exp(-2.0), rtol=1e-5)


@pytest.mark.parametrize("max_steps", [2.9, 10**30, True, 0, -1, "100", float("inf")])
def test_max_steps_must_be_a_whole_number_in_range(max_steps):
    with pytest.raises(ValueError, match="max_steps must be a whole number from 1 to"):
        integrate(_reads_p0, [1.0], T, [1.0], max_steps=max_steps)


def test_max_steps_accepts_integral_floats():
    assert integrate(_reads_p0, [1.0], T, [1.0], max_steps=1e5).success


def test_an_empty_system_is_refused():
    with pytest.raises(ValueError, match="no states"):
        integrate(_reads_p0, [], T, [1.0])
    with pytest.raises(ValueError, match="no states"):
        integrate_batch(_reads_p0, np.zeros((2, 0)), T, np.ones((2, 1)))


def test_compiled_models_check_p_and_y0_lengths():
    from ldnsim.simulation import run_rows
    model = load_model("one_compartment_oral")
    cm = model.compile()
    p, y0 = model.parameter_vector(), model.initial_state()
    with pytest.raises(ModelError, match=r"parameter rows .* must have 4 entries"):
        run_rows(cm, T, p[None, :2], y0)
    with pytest.raises(ModelError, match=r"initial states must have 2 entries"):
        run_rows(cm, T, p[None], y0[:1])
    assert run_rows(cm, T, p[None], y0).status[0] == 0


# ----------------------------------------------------------------------------- files
PK = ROOT / "experiments" / "pk_single_dose.toml"


def _error(capsys):
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("ldnsim: error: "), err
    return err[0]


def test_output_paths_are_checked_before_the_run(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    exp = tmp_path / "e.toml"
    exp.write_text(PK.read_text())
    model = ROOT / "models" / "one_compartment_oral.toml"
    calls = []
    import ldnsim.experiment as experiment_package
    monkeypatch.setattr(experiment_package, "run_experiment",
                        lambda *a, **k: calls.append(1))
    # A result must end in .nc or .zarr and a figure in a figure format (checked first), so
    # the inputs and devices are reached through links with such names.
    links = {"fig.png": "x.nc", "exp.nc": exp, "model.nc": model, "exp.png": exp,
             "null.nc": "/dev/null"}
    for name, target in links.items():
        (tmp_path / name).symlink_to(target)
    (tmp_path / "folder.nc").mkdir()
    cases = [
        (["-o", "x.nc", "--plot", "fig.png"], "it is the result file (-o)"),
        (["-o", "exp.nc"], "it is the experiment file"),
        (["-o", "model.nc"], "it is the model file"),
        (["--plot", "exp.png"], "it is the experiment file"),
        (["-o", "null.nc"], "is not a regular file"),
        (["-o", "folder.nc"], "it is a directory"),
        (["-o", "r" * 300 + ".nc"], "more than the 255"),
        (["-o", str(exp)], "a result is NetCDF (.nc) or a Zarr store (.zarr)"),
        (["-o", "/dev/null"], "(got no extension)"),
        (["--plot", str(exp)], "the figure format is told by its extension"),
    ]
    before = exp.read_bytes()
    for extra, expected in cases:
        assert cli.main(["run", str(exp), "--no-progress", *extra]) == 2, extra
        assert expected in _error(capsys), extra
    assert calls == [] and exp.read_bytes() == before  # nothing ran, nothing was replaced
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["e.toml", "folder.nc",
                                                                 *links])


def test_a_long_name_that_fits_is_written(tmp_path, capsys):
    """245 characters are valid; the temporary name is shortened to fit the limit."""
    out = tmp_path / ("r" * 242 + ".nc")
    assert len(temp_name(out).name) <= 255
    assert cli.main(["run", str(PK), "-o", str(out), "--no-progress"]) == 0, \
        capsys.readouterr().err
    assert out.is_file() and sorted(p.name for p in tmp_path.iterdir()) == [out.name]


def test_plot_refuses_to_overwrite_its_input(tmp_path, capsys):
    result = tmp_path / "r.png"
    result.write_bytes(b"not really a result")
    assert cli.main(["plot", str(result), "-o", str(result)]) == 2
    assert "it is the result file" in _error(capsys)
    assert result.read_bytes() == b"not really a result"


def test_a_full_disk_is_named(tmp_path, monkeypatch):
    import xarray as xr

    from ldnsim.io import ResultIOError
    ds = xr.Dataset({"a": ("x", np.arange(3.0))})
    out = tmp_path / "r.nc"
    out.write_bytes(b"old")

    def no_space(self, path, *args, **kwargs):
        Path(path).write_bytes(b"partial")
        raise RuntimeError("NetCDF: HDF error")  # what netCDF4 says on ENOSPC

    # a file system with 1000 blocks of 4 KiB, none of them free
    full = os.statvfs_result((4096, 4096, 1000, 0, 0, 1000, 0, 0, 0, 255))
    monkeypatch.setattr(xr.Dataset, "to_netcdf", no_space)
    monkeypatch.setattr(os, "statvfs", lambda path: full)
    with pytest.raises(ResultIOError, match="the disk is full") as info:
        save_result(ds, out)
    assert "nothing was written" in str(info.value)
    assert out.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["r.nc"]


def test_damaged_provenance_is_a_clear_error(tmp_path, capsys):
    import netCDF4
    path = tmp_path / "r.nc"
    cli.main(["run", str(PK), "-o", str(path), "--no-progress"])
    capsys.readouterr()
    with netCDF4.Dataset(path, "a") as nc:
        nc.setncattr("metric_attrs", "{not json")
    assert cli.main(["plot", str(path), "-o", str(tmp_path / "f.png")]) == 2
    assert "attribute 'metric_attrs' is not valid JSON" in _error(capsys)


def test_status_carries_cf_flags(tmp_path):
    from ldnsim.results import STATUS_FLAGS
    from ldnsim.solver import Status
    assert STATUS_FLAGS == tuple(s.name.lower() for s in sorted(Status))
    path = tmp_path / "r.nc"
    cli.main(["run", str(PK), "-o", str(path), "--no-progress"])
    status = open_result(path)["status"]
    assert list(status.attrs["flag_values"]) == [int(s) for s in sorted(Status)]
    assert status.attrs["flag_meanings"].split() == list(STATUS_FLAGS)


def test_interrupted_figure_says_the_result_was_written(tmp_path, monkeypatch, capsys):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "_save_figure", interrupted)
    out, fig = tmp_path / "r.nc", tmp_path / "r.png"
    assert cli.main(["run", str(PK), "-o", str(out), "--plot", str(fig),
                     "--no-progress"]) == 130
    err = capsys.readouterr().err
    assert f"interrupted; wrote {out}; {fig} was not written" in err
    assert out.is_file() and not fig.exists()


def test_stale_temp_files_of_dead_processes_are_removed(tmp_path):
    out = tmp_path / "r.nc"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    from ldnsim._files import _host
    mine = temp_name(out)
    theirs = mine.with_name(re.sub(r"-\d+-", f"-{dead}-", mine.name))
    other = "ffff" if _host() != "ffff" else "eeee"
    other_host = mine.with_name(theirs.name.replace(f".{_host()}-", f".{other}-"))
    for p in (mine, theirs, other_host):
        p.write_bytes(b"partial")
    assert stale_temp_files(out) == [theirs]  # alive (this process) and other hosts stay
    save_result(__import__("xarray").Dataset({"a": ("x", [1.0])}), out)
    assert not theirs.exists() and mine.exists() and other_host.exists()


def test_export_sbml_skips_the_check_for_large_models_and_can_skip_it(tmp_path, capsys):
    from ldnsim.model.sbml import export_sbml  # python-libsbml is in the test extra
    text = _model(defs=_chain(200, "{prev} * k + x"), ode="-k * d200")
    model = loads_model(text.replace('[model]\n', '[model]\ndose_target = "x"\n'),
                        "chain.toml")
    with pytest.warns(UserWarning, match="consistency check was skipped: the model has 201 "
                      "rules"):
        export_sbml(model, tmp_path / "chain.xml")
    assert "<sbml" in (tmp_path / "chain.xml").read_text()
    assert cli.main(["export-sbml", "one_compartment_oral", "-o", str(tmp_path / "m.xml"),
                     "--no-check"]) == 0
    assert cli.main(["export-sbml", str(ROOT / "models" / "one_compartment_oral.toml"),
                     "-o", str(ROOT / "models" / "one_compartment_oral.toml")]) == 2
    assert "SBML is written as .xml" in capsys.readouterr().err  # the extension, checked first
    model_file = tmp_path / "model.toml"
    model_file.write_text((ROOT / "models" / "one_compartment_oral.toml").read_text())
    (tmp_path / "model.xml").symlink_to(model_file)  # an SBML name that is the model file
    assert cli.main(["export-sbml", str(model_file), "-o", str(tmp_path / "model.xml")]) == 2
    assert "it is the model file" in capsys.readouterr().err
    assert model_file.read_text() == (ROOT / "models" / "one_compartment_oral.toml").read_text()


# ----------------------------------------------------------------------------- signals
def _driver(phase, out, *extra):
    env = {**os.environ,
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen(
        [sys.executable, str(Path(__file__).parent / "fault_driver.py"), phase, "run",
         str(PK), "-o", str(out), "--no-progress", "--chunk-size", "2", *extra],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _temps(directory):
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


@pytest.mark.slow
@pytest.mark.parametrize("phase", ["solve", "save"])
@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM", "SIGKILL"])
def test_a_signal_keeps_the_old_result_and_the_next_run_leaves_no_temp_file(phase, sig,
                                                                           tmp_path):
    out = tmp_path / "pk.nc"
    assert cli.main(["run", str(PK), "-o", str(out), "--no-progress"]) == 0
    old = out.read_bytes()
    proc = _driver(phase, out)
    line = proc.stdout.readline()
    assert line.strip() == f"PAUSED {phase}", (line, proc.stderr.read() if proc.poll() else "")
    if phase == "save":
        assert _temps(tmp_path)  # the new result sits complete in its temporary file
    proc.send_signal(getattr(signal, sig))
    code = proc.wait(timeout=120)
    err = proc.stderr.read()
    proc.stdout.close()
    proc.stderr.close()
    assert out.read_bytes() == old  # the old result survives
    if sig == "SIGKILL":
        assert code == -signal.SIGKILL
    else:
        assert code == {"SIGINT": 130, "SIGTERM": 143}[sig], err
        what = "interrupted" if sig == "SIGINT" else "terminated (SIGTERM)"
        assert f"ldnsim: {what}; no result was written (existing files are unchanged)" in err
        assert "Traceback" not in err
        assert _temps(tmp_path) == []  # removed on the way out
    assert cli.main(["run", str(PK), "-o", str(out), "--no-progress"]) == 0
    assert _temps(tmp_path) == [] and sorted(p.name for p in tmp_path.iterdir()) == ["pk.nc"]
    assert open_result(out)["C_plasma"].shape == (6, 2, 193)


def test_sigterm_is_handled_like_sigint_in_process(tmp_path, monkeypatch, capsys):
    import ldnsim.sweep.jobs as sweep_run  # where a chunk's job looks the solve up
    real = sweep_run.run_chunk

    def terminated(*args, **kwargs):
        out = real(*args, **kwargs)
        os.kill(os.getpid(), signal.SIGTERM)
        return out

    monkeypatch.setattr(sweep_run, "run_chunk", terminated)
    before = signal.getsignal(signal.SIGTERM)
    assert cli.main(["run", str(PK), "-o", str(tmp_path / "r.nc"), "--no-progress"]) == 143
    assert "terminated (SIGTERM); no result was written" in capsys.readouterr().err
    assert signal.getsignal(signal.SIGTERM) is before  # restored for the caller
    assert list(tmp_path.iterdir()) == []


def test_dataclass_of_chunk_result_matches_the_stand_in():
    import ldnsim.sweep.jobs as sweep_run  # where a chunk's job looks the solve up
    assert [f.name for f in dataclasses.fields(sweep_run.ChunkResult)] == [
        "values", "status", "stats"]


def test_slow_first_steps_are_announced(cache, tmp_path, monkeypatch, capsys):
    """A first run says it is compiling (after a second; here at once) instead of going
    silent."""
    import ldnsim._limits as limits
    monkeypatch.setattr(limits, "NOTICE_SECONDS", 0.0)
    model = tmp_path / "m.toml"
    model.write_text(_model(ode="-k * x * 1.0000042").replace("[model]\n",
                                                              '[model]\ndose_target = "x"\n'))
    exp = tmp_path / "e.toml"
    exp.write_text('[model]\nname = "m.toml"\n[regimen]\ndose = 1.0\n[output]\nt_end = 2.0\n')
    assert cli.main(["run", str(exp), "-o", str(tmp_path / "r.nc"), "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert "ldnsim: generating code for model 'hostile' (slow on a first run) ..." in err
    assert "ldnsim: loading or compiling model 'hostile' (slow on a first run) ..." in err


def test_a_cache_others_can_write_is_warned_about(tmp_path, monkeypatch):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    monkeypatch.setenv("LDNSIM_CACHE_DIR", str(shared))
    monkeypatch.delenv("LDNSIM_CACHE_SHARED", raising=False)
    with pytest.warns(UserWarning, match="is not private"):
        _fresh_model(9).compile()
