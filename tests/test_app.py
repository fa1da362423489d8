"""The dose explorer's logic, without a browser (ldnsim.app.logic, .window, .content and the
HTML the web layer builds from a View)."""
import json
import math
import subprocess
import sys

import numpy as np
import pytest

import ldnsim
from ldnsim.app import content as C
from ldnsim.app.logic import (
    AppInputError,
    Explorer,
    dose_to_slider,
    format_number,
    parse_dose,
    pick_output,
    scenario_groups,
    slider_to_dose,
    steady_state_times,
)
from ldnsim.app.window import (
    WindowProvider,
    WindowTable,
    cached_window,
    compute_window,
    ensure_window,
    window_cache_path,
)
from ldnsim.experiment import load_experiment
from ldnsim.metrics import blockade_hours

from app_driver import reference_numbers, reference_run


# ------------------------------------------------------------------------------- input
@pytest.mark.parametrize("text, dose", [
    ("4.5", 4.5), (" 4.5 ", 4.5), ("4,5", 4.5), ("3 mg", 3.0), ("50mg/day", 50.0),
    ("1e-1", 0.1), ("300", 300.0), (".5", 0.5), ("+2", 2.0),
])
def test_parse_dose_accepts_what_people_type(text, dose):
    assert parse_dose(text) == dose


@pytest.mark.parametrize("text, words", [
    ("1000", "outside the range"), ("0.05", "outside the range"), ("-1", "outside the range"),
    ("0", "outside the range"), ("abc", "is not a dose"), ("nan", "is not a dose"),
    ("inf", "is not a dose"), ("4.5.1", "is not a dose"), ("1,000.5", "is not a dose"),
    ("", "Type a daily dose"), ("   ", "Type a daily dose"), (None, "Type a daily dose"),
    ("1e999", "outside the range"), ("<script>", "is not a dose"),
])
def test_parse_dose_rejects_with_a_one_line_message(text, words):
    with pytest.raises(AppInputError, match=words) as info:
        parse_dose(text)
    msg = str(info.value)
    assert "\n" not in msg and "Traceback" not in msg
    assert "0.1" in msg and "300" in msg
    assert isinstance(info.value, ldnsim.LdnsimError)


def test_slider_is_logarithmic_and_stays_in_range():
    assert dose_to_slider(100.0) == pytest.approx(2.0)
    assert slider_to_dose(math.log10(4.5)) == 4.5
    assert slider_to_dose(0.65) == 4.47           # 10**0.65 = 4.4668..., 3 digits
    assert slider_to_dose(-5) == C.DOSE_MIN
    assert slider_to_dose(5) == C.DOSE_MAX
    assert slider_to_dose(math.log10(C.DOSE_MAX)) == C.DOSE_MAX


@pytest.mark.parametrize("x, text", [
    (1.2345, "1.23"), (0.036012, "0.036"), (24.0, "24"), (99.96, "100"), (0.0008, "0.0008"),
    (123456.0, "1.23e+05"), (0.0, "0"), (float("nan"), "\u2013"), (None, "\u2013"),
])
def test_format_number(x, text):
    assert format_number(x) == text


# ---------------------------------------------------------------------------- scenarios
def test_scenario_groups_of_the_ldn_model():
    model = ldnsim.load_model("ldn")
    groups = scenario_groups(model)
    got = {g.label: (set(g.options), g.default) for g in groups}
    assert got == {
        "Formulation": ({"pharmaceutical", "racemic"}, "pharmaceutical"),
        "Receptor kinetics": ({"human_pet", "rodent_transient"}, "human_pet"),
        "TLR4 arm": ({"nfkb_branch", "trif_branch"}, "trif_branch"),
    }
    # Every group is a set of alternatives: its members set a common parameter.
    for g in groups:
        sets = [set(model.scenarios[s].values) for s in g.options]
        assert set.intersection(*sets)


_TOY = """
[model]
name = "toy"
time_unit = "h"
dose_target = "gut"
[states]
gut = {{ init = 0.0, unit = "mg" }}
c = {{ init = 0.0, unit = "mg" }}
[parameters]
ka = {{ value = 1.0, unit = "1/h", source = "test" }}
ke = {{ value = 0.1, unit = "1/h", source = "test" }}
V = {{ value = 10.0, unit = "L", source = "test" }}
[odes]
gut = "-ka * gut"
c = "ka * gut - ke * c"
[outputs]
{outputs}
[scenarios.fast]
ka = 2.0
[scenarios.slow]
ka = 0.5
[scenarios.fast_and_small]
ka = 3.0
V = 5.0
[scenarios.big]
V = 20.0
[scenarios.quick_elim]
ke = 0.5
"""


def toy(outputs='C_ntx = { expr = "1000 * c / V", unit = "ng/mL" }'):
    return ldnsim.loads_model(_TOY.format(outputs=outputs), path="toy.toml")


def test_scenario_groups_are_read_from_any_model():
    groups = scenario_groups(toy())
    # fast/slow/fast_and_small share ka, fast_and_small/big share V: one group; ke alone.
    assert [g.options for g in groups] == [("fast", "slow", "fast_and_small", "big"),
                                          ("quick_elim",)]
    assert groups[0].label == "fast / slow / fast_and_small / big"   # no label in content
    assert groups[0].default == "fast"


def test_pick_output_prefers_pet_inhibition_when_the_model_has_it():
    assert pick_output(ldnsim.load_model("ldn"), C.RECEPTOR_OUTPUTS)[0] == "occupancy_mor_drug"
    both = toy('pet_inhibition = { expr = "c / (1 + c)", unit = "1" }\n'
               'occupancy_mor_drug = { expr = "c / (2 + c)", unit = "1" }')
    assert pick_output(both, C.RECEPTOR_OUTPUTS)[0] == "pet_inhibition"
    assert pick_output(toy(), C.RECEPTOR_OUTPUTS) is None


def test_steady_state_times():
    t = steady_state_times(56)
    assert t[0] == 0 and t[-1] == 56 * 24
    assert np.all(np.diff(t) > 0)
    assert np.allclose(np.diff(t[t >= 49 * 24]), C.DENSE_STEP)
    assert np.allclose(np.diff(t[t <= 49 * 24]), 24.0)


# -------------------------------------------------------------------------- the explorer
@pytest.fixture(scope="module")
def explorer():
    return Explorer()


@pytest.mark.parametrize("dose, scenarios", [
    (4.5, ("pharmaceutical", "human_pet", "trif_branch")),
    (1.5, ("racemic", "rodent_transient", "trif_branch")),
])
def test_view_matches_ldnsim_simulate(explorer, dose, scenarios):
    v = explorer.view(dose, scenarios)
    ref = reference_run(dose, scenarios)
    t = ref.time.values
    last_day = t >= t[-1] - 24 - 1e-9
    week = t >= t[-1] - 7 * 24 - 1e-9
    assert v.scenarios == scenarios and v.dose == dose
    for name in ("C_ntx", "C_6bn"):
        np.testing.assert_allclose(v.series["plasma"][name], ref[name].values[week], rtol=1e-12)
        assert v.numbers[f"{name}_peak"] == pytest.approx(ref[name].values[last_day].max())
        assert v.numbers[f"{name}_trough"] == pytest.approx(ref[name].values[last_day].min())
    occ = ref["occupancy_mor_drug"].values
    np.testing.assert_allclose(v.series["receptor"]["occupancy_mor_drug"], occ[last_day],
                               rtol=1e-12)
    assert v.series["receptor"]["t"][0] == 0 and v.series["receptor"]["t"][-1] == 24
    assert v.numbers["receptor_peak"] == pytest.approx(occ[last_day].max())
    bh = float(blockade_hours(ref, "occupancy_mor_drug", 0.5, last_days=7)["blockade_hours"])
    assert v.numbers["blockade_hours"] == pytest.approx(bh)
    assert v.numbers["immune_end"] == pytest.approx(float(ref["immune_index"].values[-1]))
    assert v.numbers == pytest.approx(reference_numbers(ref), rel=1e-12)
    assert v.missing == {} and v.notes == []


def test_view_numbers_behave_as_the_model_says(explorer):
    # Linear PK: 10x the dose, 10x the concentrations. Round-the-clock blockade at 50 mg/day
    # under the PET kinetics, none at 0.1 mg/day; the hypothesis readout above untreated at
    # 50 mg/day (README: "the hypothesis readouts turn to harm").
    lo, hi = explorer.view(5.0), explorer.view(50.0)
    assert hi.numbers["C_ntx_peak"] == pytest.approx(10 * lo.numbers["C_ntx_peak"], rel=1e-4)
    assert hi.numbers["blockade_hours"] == pytest.approx(24.0)
    assert explorer.view(0.1).numbers["blockade_hours"] == 0.0
    assert hi.numbers["immune_end"] > 1.2


def test_runs_are_cached_and_scenarios_checked(explorer):
    sc = explorer.default_scenarios()
    assert sc == ("pharmaceutical", "human_pet", "trif_branch")
    assert explorer.simulate(4.5, sc) is explorer.simulate(4.5, sc)
    assert explorer.check_scenarios(("racemic",)) == ("racemic", "human_pet", "trif_branch")
    with pytest.raises(AppInputError, match="no scenario .nope."):
        explorer.view(4.5, ("nope",))
    with pytest.raises(AppInputError, match="Choose one formulation"):
        explorer.view(4.5, ("pharmaceutical", "racemic"))
    with pytest.raises(AppInputError, match="outside the range"):
        explorer.view(1000.0)
    with pytest.raises(AppInputError, match="is not a dose"):
        explorer.view(float("nan"))
    with pytest.raises(AppInputError, match="is not a dose"):
        explorer.view("lots")


def test_missing_outputs_give_messages_not_errors():
    ex = Explorer(toy(), days=7)
    v = ex.view(4.5)
    assert set(v.missing) == {"plasma:C_6bn", "receptor", "immune"}
    assert "C_6bn" in v.missing["plasma:C_6bn"]
    assert "occupancy_mor_drug" in v.missing["receptor"]
    assert "immune_index" in v.missing["immune"]
    assert set(v.series) == {"plasma"}
    assert v.numbers["C_ntx_peak"] > 0


def test_a_readout_not_at_steady_state_is_noted():
    # 7 days of dosing leave the immune readout (2-day turnover) and the receptor (retention,
    # 3-day receptor turnover) still moving at 50 mg/day.
    v = Explorer(days=7).view(50.0)
    assert any("not yet at steady state" in n for n in v.notes)


# ------------------------------------------------------------------------------ the window
TINY = """
[experiment]
name = "tiny_window"
[model]
name = "ldn"
[regimen]
every = 24.0
days = 14
[output]
days = 14
step = 1.0
dense_from = 168.0
coarse_step = 24.0
variables = ["occupancy_mor_drug", "immune_index"]
[sweep]
dose = [0.5, 4.5, 50.0]
scenario = [["pharmaceutical", "human_pet"], ["racemic", "rodent_transient"]]
[population]
subjects = 3
seed = 7
iiv = { ka = 0.4, Kd_ntx = 0.3 }
[metrics]
names = ["window_summary"]
[metrics.window_summary]
last_days = 7
"""


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    path = tmp_path_factory.mktemp("window") / "tiny_window.toml"
    path.write_text(TINY)
    return path


@pytest.fixture(scope="module")
def tiny_table(tiny, tmp_path_factory):
    cache = tmp_path_factory.mktemp("window_cache")
    table, path, computed = ensure_window(tiny, cache)
    assert computed and path.is_file()
    return table, cache


def test_window_table_summarises_the_experiment(tiny, tiny_table):
    table, _ = tiny_table
    assert table.doses == (0.5, 4.5, 50.0)
    assert table.combos == (("pharmaceutical", "human_pet"), ("racemic", "rodent_transient"))
    assert table.n_subjects == 3 and table.quantiles == C.WINDOW_QUANTILES
    # The median column equals the experiment's own window_summary median.
    ds = ldnsim.run_experiment(tiny, progress=False)
    from ldnsim.experiment import metrics_of
    m = metrics_of(ds)
    for c, lab in enumerate(m.scenario.values):
        np.testing.assert_allclose(table.immune[c][1], m["immune_index_end"].sel(scenario=lab))
        np.testing.assert_allclose(table.blockade[c][1], m["blockade_hours"].sel(scenario=lab))
        np.testing.assert_allclose(table.fraction[c], m["in_window_fraction"].sel(scenario=lab))
        for q in (table.immune[c], table.blockade[c]):
            assert np.all(np.asarray(q[0]) <= np.asarray(q[1]))
            assert np.all(np.asarray(q[1]) <= np.asarray(q[2]))
    # Blockade round the clock at 50 mg/day under the PET kinetics, for every subject.
    assert table.blockade[0][0][2] == pytest.approx(24.0)
    assert "blockade_hours" in table.definition


def test_window_is_cached_on_experiment_text_and_model(tiny, tiny_table, tmp_path):
    table, cache = tiny_table
    again, path, computed = ensure_window(tiny, cache)
    assert not computed and again == table
    assert cached_window(tiny, cache) == table
    assert WindowTable.from_json(path.read_text()) == table
    assert json.loads(path.read_text())["model_hash"] == ldnsim.load_model("ldn").hash
    # Another text, another key; another cache dir, nothing cached yet.
    other = tmp_path / "tiny_window.toml"
    other.write_text(TINY.replace("seed = 7", "seed = 8"))
    assert window_cache_path(load_experiment(other), cache) != path
    assert cached_window(other, cache) is None
    assert cached_window(tiny, tmp_path) is None
    # A damaged cache file is ignored, not an error.
    path.write_text("{not json")
    assert cached_window(tiny, cache) is None
    path.write_text(table.to_json())


def test_window_rows_match_scenarios_by_parameters(tiny_table):
    table, _ = tiny_table
    model = ldnsim.load_model("ldn")
    # trif_branch restates a default: the combination still matches.
    assert table.find(model, ("pharmaceutical", "human_pet", "trif_branch")) == 0
    assert table.find(model, ("racemic", "rodent_transient", "trif_branch")) == 1
    assert table.find(model, ("racemic", "human_pet", "trif_branch")) is None
    assert table.find(model, ("pharmaceutical", "human_pet", "nfkb_branch")) is None
    assert table.find(model, ("no_such_scenario",)) is None


def test_window_interpolates_in_log_dose(tiny_table):
    table, _ = tiny_table
    at = table.at_dose(0, 4.5)
    assert at["between"] == (4.5, 4.5)
    assert at["immune"] == tuple(r[1] for r in table.immune[0])
    mid = table.at_dose(0, math.sqrt(4.5 * 50.0))      # halfway in log dose
    assert mid["between"] == (4.5, 50.0)
    assert mid["fraction"] == pytest.approx(0.5 * (table.fraction[0][1] + table.fraction[0][2]))
    assert mid["blockade"][1] == pytest.approx(0.5 * (table.blockade[0][1][1]
                                                      + table.blockade[0][1][2]))
    assert table.at_dose(0, 0.1) is None and table.at_dose(0, 300.0) is None


def test_window_experiment_errors(tmp_path):
    no_metric = tmp_path / "no_metric.toml"
    no_metric.write_text(TINY.split("[metrics]")[0])
    with pytest.raises(ldnsim.ConfigError, match="needs the window_summary metric"):
        compute_window(no_metric)
    p = WindowProvider(tmp_path / "missing.toml", cache_dir=tmp_path).start()
    assert p.state == "failed" and "no such experiment file" in p.message


def test_window_provider_reads_the_cache_at_once(tiny, tiny_table):
    table, cache = tiny_table
    p = WindowProvider(tiny, cache_dir=cache).start()
    assert p.state == "ready" and p.table == table


def test_window_provider_computes_in_a_child_process(tiny, tiny_table, tmp_path):
    table, _ = tiny_table
    p = WindowProvider(tiny, cache_dir=tmp_path).start()
    assert p.state == "computing"
    assert p.wait(600) == "ready", p.message
    assert p.table == table                       # same experiment, same numbers
    assert (tmp_path / "app").is_dir()


def test_the_shipped_window_experiment_fits_the_app():
    exp = load_experiment(C.WINDOW_EXPERIMENT)
    model = ldnsim.load_model(C.MODEL)
    assert exp.plan.model.hash == model.hash
    doses = exp.config.sweep.dose
    assert min(doses) == C.DOSE_MIN and max(doses) == C.DOSE_MAX
    assert "window_summary" in exp.config.metrics.names
    ex_groups = scenario_groups(model)
    defaults = tuple(g.default for g in ex_groups)
    combos = [tuple(c) for c in exp.config.sweep.scenario]
    # The app's default choice has a row in the window experiment.
    table = WindowTable(key="", experiment="", description="", model="", model_hash="",
                        doses=(), combos=tuple(combos), params={}, quantiles=(), immune=(),
                        blockade=(), fraction=(), n_subjects=0, immune_var="",
                        occupancy_var="", definition="", max_blockade_hours=10.0,
                        immune_margin=0.05, threshold=0.5, days=56.0)
    assert table.find(model, defaults) is not None


def test_window_module_command_line(tiny, tmp_path):
    import os

    env = {**os.environ, "LDNSIM_CACHE_DIR": str(tmp_path)}
    bad = subprocess.run([sys.executable, "-m", "ldnsim.app.window", str(tmp_path / "x.toml")],
                         capture_output=True, text=True, env=env)
    assert bad.returncode == 2
    assert bad.stderr.strip().count("\n") == 0 and "no such experiment file" in bad.stderr


# ------------------------------------------------------------------------ page content
def test_content_names_are_consistent():
    kinds = set(C.KIND_LABELS)
    for item in C.EVIDENCE:
        assert item["kind"] in kinds and item["refs"]
        assert all(k in C.REFERENCES for k in item["refs"])
    for kind, _text, refs in C.SCENARIO_NOTES.values():
        assert kind in kinds and all(k in C.REFERENCES for k in refs)
    assert C.DOSE_MIN < C.DOSE_DEFAULT < C.DOSE_MAX
    model = ldnsim.load_model(C.MODEL)
    assert C.IMMUNE_OUTPUT in model.output_names
    assert all(n in model.output_names for n, _ in C.PLASMA_OUTPUTS)


def test_numbers_and_evidence_html(explorer, tiny_table):
    from ldnsim.app.server import evidence_html, numbers_html

    table, _ = tiny_table
    v = explorer.view(4.5)
    page = numbers_html(v, table.at_dose(0, 4.5), table)
    for key, value in v.numbers.items():
        assert f'data-key="{key}">{format_number(value)}<' in page
    assert 'data-key="window_fraction"' in page and "precomputed at 4.5 mg" in page
    ev = evidence_html(explorer.model, v.scenarios, explorer.receptor)
    for word in ("data", "hypothesis", "assumption", "Rabiner", "Zagon", "scenario human_pet"):
        assert word in ev
    assert "bound / total" in ev
    racemic = evidence_html(explorer.model, ("racemic", "rodent_transient", "trif_branch"),
                            explorer.receptor)
    assert "counterfactual" in racemic and "Wang X" in racemic


def test_references_come_from_the_model_references_file(tmp_path):
    from pathlib import Path

    from ldnsim.app.server import _references, evidence_html

    model_file = tmp_path / "ldn.toml"
    model_file.write_text(Path(ldnsim.load_model("ldn").path).read_text())
    (tmp_path / "REFERENCES.md").write_text(
        "# References\n\n### rabiner2011\nRabiner EA, Beaver J, et al. (2011). Title. "
        "*Mol Psychiatry* 16:826-835. PMID: 0.\n\n### other2000\nSomeone (2000).\n")
    model = ldnsim.load_model(model_file)
    refs = _references(model)
    assert refs["rabiner2011"].startswith("Rabiner EA, Beaver J, et al. (2011)")
    assert refs["other2000"] == "Someone (2000)."
    assert refs["zagon1984"] == C.REFERENCES["zagon1984"]          # fallback
    assert "Beaver J" in evidence_html(model, ("pharmaceutical",), None)


def test_window_spans():
    from ldnsim.app.server import _window_spans

    left, right = _window_spans([0.5, 1.0, 2.0, 4.0, 8.0], [1.0, 1.0, 0.0, 0.6, 0.2])
    assert left == [0.5, pytest.approx(math.sqrt(8.0))]
    assert right == [pytest.approx(math.sqrt(2.0)), pytest.approx(math.sqrt(32.0))]
    assert _window_spans([1.0, 2.0], [0.0, 0.0]) == ([], [])


def test_cli_app_help_and_bad_port(capsys):
    from ldnsim.cli import main

    assert main(["app", "--help"]) == 0
    out = capsys.readouterr().out
    assert "--port" in out and "--no-browser" in out and "--window-experiment" in out
    assert main(["app", "--port", "70000", "--no-browser"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ldnsim: error: cannot listen on 127.0.0.1:70000")
    assert err.count("\n") == 1
    import socket
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["app", "--port", str(port), "--no-browser"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"ldnsim: error: cannot listen on 127.0.0.1:{port}: ")
    assert err.count("\n") == 1


def test_cli_app_without_bokeh_says_how_to_install_it(monkeypatch, capsys):
    import importlib.util

    from ldnsim.cli import main

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a, **k: None if name == "bokeh" else real(name, *a, **k))
    assert main(["app", "--no-browser"]) == 2
    err = capsys.readouterr().err
    assert err == "ldnsim: error: the app needs Bokeh: pip install 'ldnsim[app]'\n"
