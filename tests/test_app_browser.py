"""``ldnsim app`` in a real browser: headless Chromium (Debian's package) driven by Playwright.

The app runs as a user would start it (``python -m ldnsim app --port 0 --no-browser``) with a
small window experiment so the window plot is ready in seconds. Every number the page prints
is compared with ``ldnsim.simulate`` run here for the same inputs, and the plotted columns are
read back from the page and compared with the same runs.
"""
import time

import numpy as np
import pytest

from ldnsim.app import content as C
from ldnsim.app.logic import format_number, slider_to_dose
from ldnsim.app.window import cached_window

from app_driver import (
    DAY_OUTPUTS,
    choose_scenario,
    chromium,
    drag_slider,
    model_attr,
    number,
    page_text,
    reference_numbers,
    reference_run,
    running_app,
    set_dose_by_typing,
    source_data,
    wait_for_number,
)

pytestmark = pytest.mark.slow   # starts a server and a browser; the first start compiles

DEFAULT = ("pharmaceutical", "human_pet", "tonic", "trif_branch")
NUMBER_KEYS = tuple(f"{n}_{x}" for n in DAY_OUTPUTS + ("signal_immune",)
                    for x in ("peak", "trough")) + ("signal_immune_mean", "blockade_hours",
                                                    "immune_end")
WINDOW = """
[experiment]
name = "browser_test_window"
description = "five doses, two scenarios, two samples x two subjects"
[model]
name = "ldn"
[regimen]
every = 24.0
days = 56
[output]
days = 56
step = 1.0
dense_from = 1176.0
coarse_step = 24.0
variables = ["pet_inhibition", "immune_index"]
[sweep]
dose = [0.1, 1.0, 4.5, 50.0, 300.0]
scenario = [["pharmaceutical", "human_pet", "tonic"], ["racemic", "slow_biophase", "rebound"]]
[sampling]
method = "lhs"
n = 2
seed = 3
log = true
ranges = { theta50_tonic = [0.05, 0.5], ogfr_affinity_ratio = [1.0, 100.0] }
[population]
subjects = 2
seed = 11
iiv = { ka = 0.4, CL_ntx = 0.3, V_ntx = 0.3 }
[metrics]
names = ["window_summary"]
[metrics.window_summary]
occupancy_var = "pet_inhibition"
"""


@pytest.fixture(scope="module")
def window_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("app_browser") / "browser_test_window.toml"
    path.write_text(WINDOW)
    return path


@pytest.fixture(scope="module")
def app(window_file):
    with running_app("--window-experiment", str(window_file)) as (url, lines):
        yield url, lines
    # SIGTERM stops it cleanly, like Ctrl+C.
    assert lines[-2:] == ["ldnsim app: stopped", "<exit status 0>"], lines[-5:]


@pytest.fixture(scope="module")
def browser():
    with chromium() as b:
        yield b


@pytest.fixture
def page(app, browser):
    url, _ = app
    context = browser.new_context(viewport={"width": 1400, "height": 1700})
    pg = context.new_page()
    pg.requests = []
    pg.on("request", lambda r: pg.requests.append(r.url))
    pg.goto(url)
    pg.wait_for_selector("[data-key=C_ntx_peak]", timeout=60_000)
    yield pg
    context.close()


def assert_page_matches_simulate(page, dose, scenarios):
    """Numbers and plotted columns on the page equal ldnsim.simulate's for these inputs."""
    ref = reference_run(dose, scenarios)
    expected = reference_numbers(ref)
    assert number(page, "dose") == format_number(dose)
    for key in NUMBER_KEYS:
        assert number(page, key) == format_number(expected[key]), key
    t = ref.time.values
    week = t >= t[-1] - 7 * 24 - 1e-9
    last_day = t >= t[-1] - 24 - 1e-9
    plasma = source_data(page, "plasma_source")
    for name in ("C_ntx", "C_6bn"):
        np.testing.assert_allclose(plasma[name], ref[name].values[week], rtol=1e-12)
    for source, names in (("brain_source", ("pet_inhibition", "occupancy_mor_drug")),
                          ("peripheral_source", ("occupancy_ogfr", "occupancy_mor_peripheral",
                                                 "occupancy_kor"))):
        data = source_data(page, source)
        for name in names:
            np.testing.assert_allclose(data[name], ref[name].values[last_day], rtol=1e-12)
    np.testing.assert_allclose(source_data(page, "immune_source")["immune_index"],
                               ref["immune_index"].values, rtol=1e-12)
    signal = source_data(page, "signal_source")
    assert len(signal["mean"]) == 56
    assert signal["mean"][-1] == pytest.approx(expected["signal_immune_mean"], rel=1e-12)
    assert signal["max"][-1] == pytest.approx(expected["signal_immune_peak"], rel=1e-12)
    return plasma


def test_the_page_shows_the_model_at_the_default_dose(app, page, tmp_path):
    url, lines = app
    assert any(line.startswith("ldnsim app: serving at http://127.0.0.1:") for line in lines)
    assert page.title() == "ldnsim dose explorer"
    assert_page_matches_simulate(page, C.DOSE_DEFAULT, DEFAULT)
    text = page_text(page)
    for words in ("What is data, what is assumption, what is hypothesis", "Rabiner EA",
                  "hypothesis", "assumption", "bound by drug over all receptors",
                  "not on this page: mouse"):
        assert words in text
    page.screenshot(path=str(tmp_path / "app_default.png"), full_page=True)
    assert (tmp_path / "app_default.png").stat().st_size > 50_000


def test_slider_typed_dose_and_scenario_redraw_the_page(page, tmp_path, capsys):
    before = source_data(page, "plasma_source")
    # Drag the slider as a person would.
    drag_slider(page, 0.8)
    page.wait_for_function("() => Bokeh.documents[0].get_model_by_name('dose_slider')"
                           ".value_throttled > 1.5", timeout=30_000)
    dose = slider_to_dose(model_attr(page, "dose_slider", "value_throttled"))
    assert 30 < dose < 150
    wait_for_number(page, "dose", format_number(dose))
    after = assert_page_matches_simulate(page, dose, DEFAULT)
    assert not np.allclose(after["C_ntx"], before["C_ntx"])
    assert page.locator("input[type=text]").first.input_value() == format_number(dose)

    # Type doses; time each redraw from Enter to the new numbers on screen.
    times = []
    for text, dose in (("0.3", 0.3), ("12", 12.0), ("2,5", 2.5), ("150", 150.0)):
        t0 = time.perf_counter()
        set_dose_by_typing(page, text)
        wait_for_number(page, "dose", format_number(dose))
        times.append(time.perf_counter() - t0)
    assert_page_matches_simulate(page, 150.0, DEFAULT)
    assert model_attr(page, "dose_slider", "value") == pytest.approx(np.log10(150.0))

    # Another formulation, retention mechanism, hypothesis and a sensitivity scenario.
    for group, scenario in ((0, "racemic"), (1, "slow_biophase"), (2, "rebound"),
                            (4, "immune_via_mor")):
        choose_scenario(page, group, scenario)
    chosen = ("racemic", "slow_biophase", "rebound", "trif_branch", "immune_via_mor")
    expected = reference_numbers(reference_run(150.0, chosen))
    wait_for_number(page, "immune_end", format_number(expected["immune_end"]))
    assert_page_matches_simulate(page, 150.0, chosen)
    assert "scenario immune_via_mor" in page_text(page)
    page.screenshot(path=str(tmp_path / "app_racemic_150mg.png"), full_page=True)
    with capsys.disabled():
        print(f"\n[ldnsim app] redraw after a typed dose, Enter to new numbers on screen: "
              f"{', '.join(f'{t:.3f}' for t in times)} s")


def test_bad_input_gets_a_message_not_a_traceback(page):
    shown = number(page, "C_ntx_peak")
    message = page.locator(".bk-Div").filter(has_text="outside the range")
    set_dose_by_typing(page, "1000")
    page.get_by_text("1000 mg is outside the range this page covers").wait_for(timeout=10_000)
    set_dose_by_typing(page, "lots")
    page.get_by_text("is not a dose").first.wait_for(timeout=10_000)
    assert message.count() == 0                         # replaced by the new message
    set_dose_by_typing(page, "")
    page.get_by_text("Type a daily dose in mg").first.wait_for(timeout=10_000)
    text = page_text(page)
    assert "Traceback" not in text and "Error" not in text
    assert number(page, "C_ntx_peak") == shown          # the page still shows the last dose
    set_dose_by_typing(page, "2")
    wait_for_number(page, "dose", "2")
    assert "Type a daily dose" not in page_text(page)


def test_window_plot_marks_the_dose_and_all_requests_stay_local(app, page, window_file,
                                                                 tmp_path):
    url, lines = app
    assert any("computing the window plot in the background" in line for line in lines)
    page.wait_for_function("() => Bokeh.documents[0].get_model_by_name("
                           "'window_immune_source').data.dose.length > 0", timeout=600_000)
    table = cached_window(window_file)
    assert table is not None and table.across == "sample" and table.n_units == 2
    data = source_data(page, "window_immune_source")
    assert data["dose"] == list(table.doses)
    assert data["mid"] == list(table.immune[0][1])
    assert source_data(page, "window_blockade_source")["hi"] == list(table.blockade[0][2])
    assert source_data(page, "window_p_source")["p_open"] == list(table.p_open[0])
    assert model_attr(page, "dose_marker_immune", "location") == C.DOSE_DEFAULT
    assert model_attr(page, "dose_marker_p", "location") == C.DOSE_DEFAULT
    wait_for_number(page, "window_p_open_0", f"{table.p_open[0][2]:.2f}")
    assert number(page, "window_dose_0") == "4.5"
    assert "2 samples of the hypothesis parameters" in page_text(page)
    set_dose_by_typing(page, "50")
    page.wait_for_function("() => Bokeh.documents[0].get_model_by_name("
                           "'dose_marker_blockade').location === 50", timeout=30_000)
    wait_for_number(page, "window_p_open_0", f"{table.p_open[0][3]:.2f}")
    # The other run of the experiment, chosen on the page.
    for group, scenario in ((0, "racemic"), (1, "slow_biophase"), (2, "rebound")):
        choose_scenario(page, group, scenario)
    page.wait_for_function("() => String(Bokeh.documents[0].get_model_by_name("
                           "'window_status').text).includes('The window across doses: "
                           "racemic + slow_biophase + rebound')", timeout=30_000)
    assert source_data(page, "window_immune_source")["mid"] == list(table.immune[1][1])
    # A scenario the window experiment did not run: a message instead of the plot.
    choose_scenario(page, 3, "nfkb_branch")
    page.get_by_text("has no run for").wait_for(timeout=30_000)
    page.screenshot(path=str(tmp_path / "app_window.png"), full_page=True)
    # Offline: the page asked nothing of any host but the app.
    hosts = {r.split("/")[2] for r in page.requests}
    assert hosts == {url.split("/")[2]}, hosts
