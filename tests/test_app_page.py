"""The app's page as Bokeh objects in Python (no server, no browser): widgets drive the view,
bad input gives a message, the window panel reports computing / failed / ready."""
import math

import numpy as np
import pytest
from bokeh.document import Document

from ldnsim.app import content as C
from ldnsim.app.logic import NO_SCENARIO, Explorer, format_number
from ldnsim.app.server import _Page
from ldnsim.app.window import WindowTable

from app_driver import reference_numbers, reference_run

DEFAULT = ("pharmaceutical", "human_pet", "tonic", "trif_branch")


class FakeProvider:
    def __init__(self, state="computing", table=None, message=""):
        self.state, self.table, self.message = state, table, message


@pytest.fixture(scope="module")
def explorer():
    return Explorer()


def table_for(explorer, combos=(("pharmaceutical", "human_pet", "tonic"),), model_hash=None):
    doses = (0.1, 1.0, 10.0, 300.0)
    n = len(combos)
    return WindowTable(
        key="k", experiment="fake_window", description="", model="ldn",
        model_hash=model_hash or explorer.model.hash, doses=doses, combos=tuple(combos),
        params={}, across="sample", n_samples=10, n_subjects=6,
        sampled=("theta50_tonic", "kdeg_R"), quantiles=(0.05, 0.5, 0.95),
        p_open=tuple((1.0, 0.6, 0.0, 0.0) for _ in range(n)),
        p_immune=tuple((1.0, 0.8, 0.3, 0.0) for _ in range(n)),
        immune=tuple(((0.9, 0.95, 1.2, 1.8), (0.92, 0.97, 1.25, 1.9), (0.94, 0.99, 1.3, 2.0))
                     for _ in range(n)),
        blockade=tuple(((0, 0, 20, 24), (0, 0, 24, 24), (0, 1, 24, 24)) for _ in range(n)),
        immune_var="immune_index", occupancy_var="pet_inhibition", definition="def",
        max_blockade_hours=10.0, immune_margin=0.05, threshold=0.5, days=56.0)


def shown(page, key):
    text = page.numbers.text
    start = text.index(f'data-key="{key}">') + len(f'data-key="{key}">')
    return text[start:text.index("<", start)]


def select(page, group, scenario):
    """Choose ``scenario`` in the control of group ``group`` (its value is the name)."""
    sel = page.selects[group]
    assert (scenario or NO_SCENARIO) in [v for v, _ in sel.options]
    sel.value = scenario or NO_SCENARIO


def test_widgets_drive_the_view(explorer):
    page = _Page(Document(), explorer, FakeProvider())
    assert page.doc.title == "ldnsim dose explorer"
    assert [s.value for s in page.selects] == list(DEFAULT) + [NO_SCENARIO]
    assert [s.title for s in page.selects] == [label for label, _ in C.SCENARIO_GROUPS]
    assert page.selects[4].options[0] == (NO_SCENARIO, C.NO_SCENARIO_LABEL)
    assert page.slider.value == pytest.approx(math.log10(C.DOSE_DEFAULT))
    page.text.value = "50"                                     # typed
    assert page.view.dose == 50.0 and page.slider.value == pytest.approx(math.log10(50))
    ref = reference_run(50.0, page.view.scenarios)
    for key, value in reference_numbers(ref).items():
        assert shown(page, key) == format_number(value), key
    np.testing.assert_allclose(page.plasma.data["C_ntx"][-1], page.view.series["plasma"]
                               ["C_ntx"][-1])
    np.testing.assert_allclose(page.brain.data["pet_inhibition"],
                               page.view.series["brain"]["pet_inhibition"])
    np.testing.assert_allclose(page.brain.data["above"],
                               np.maximum(page.brain.data["pet_inhibition"], 0.5))
    np.testing.assert_allclose(page.peripheral.data["occupancy_ogfr"],
                               page.view.series["peripheral"]["occupancy_ogfr"])
    np.testing.assert_allclose(page.signal.data["mean"], page.view.series["signal"]["mean"])
    page._on_slider("value_throttled", None, math.log10(0.5))  # slider released (the
    # browser sets value_throttled; it is read-only in Python)
    assert page.view.dose == 0.5 and page.text.value == "0.5"
    # PET inhibition is negative at low doses under tonic (up-regulated free receptors):
    # the brain panel's axis follows it.
    assert page.brain_fig.y_range.start < min(page.brain.data["pet_inhibition"])
    select(page, 0, "racemic")
    assert page.view.scenarios == ("racemic", "human_pet", "tonic", "trif_branch")
    assert "scenario racemic" in page.evidence.text
    select(page, 4, "extended_release")
    assert page.view.scenarios[-1] == "extended_release"
    assert "scenario extended_release" in page.evidence.text
    select(page, 4, None)
    assert page.view.scenarios == ("racemic", "human_pet", "tonic", "trif_branch")
    assert 'data-key="redraw_seconds"' in page.numbers.text
    assert "not on this page: mouse" in page.evidence.text


def test_bad_input_shows_a_message_and_keeps_the_last_view(explorer):
    page = _Page(Document(), explorer, FakeProvider())
    before = page.numbers.text
    for text, words in (("1000", "outside the range"), ("4.5 pills", "is not a dose"),
                        ("", "Type a daily dose")):
        page.text.value = text
        assert words in page.message.text
        assert page.numbers.text == before and page.view.dose == C.DOSE_DEFAULT
    page.text.value = "3"
    assert page.message.text == "" and page.view.dose == 3.0


def test_window_panel_states(explorer):
    provider = FakeProvider("computing")
    page = _Page(Document(), explorer, provider)
    assert "Computing the window plot" in page.window_status.text
    assert page._window_cb is not None
    assert not any(f.visible for f in page.window_figs)
    assert "Window plot" not in page.evidence.text

    provider.state, provider.message = "failed", "window experiment: no such file"
    page._update_window()
    assert "not available: window experiment: no such file" in page.window_status.text
    assert page._window_cb is None

    page = _Page(Document(), explorer, FakeProvider("ready", table_for(explorer)))
    assert all(f.visible for f in page.window_figs)
    assert page.win_immune.data["mid"] == [0.92, 0.97, 1.25, 1.9]
    assert page.win_blockade.data["hi"] == [0, 1, 24, 24]
    assert page.win_p.data["p_open"] == [1.0, 0.6, 0.0, 0.0]
    assert page.win_p.data["p_immune"] == [1.0, 0.8, 0.3, 0.0]
    assert page.win_spans.data["left"] == [0.1]
    assert page.win_spans.data["right"] == [pytest.approx(math.sqrt(10.0))]
    assert [m.location for m in page.markers] == [C.DOSE_DEFAULT] * 3
    assert page.margin_span.location == pytest.approx(0.95)
    assert "10 samples of the hypothesis parameters \u00d7 6 virtual subjects" in \
        page.window_status.text
    assert "Window plot" in page.evidence.text and "10 Latin-hypercube samples" in \
        page.evidence.text
    # 4.5 mg was not run: the rows of the doses on either side, nothing interpolated.
    assert shown(page, "window_dose_0") == "1" and shown(page, "window_dose_1") == "10"
    assert shown(page, "window_p_open_0") == "0.60" and shown(page, "window_p_open_1") == "0.00"
    page.text.value = "10"
    assert page.markers[1].location == 10.0
    assert shown(page, "dose") == "10"
    assert shown(page, "window_dose_0") == "10" and "window_dose_1" not in page.numbers.text
    # A choice the experiment did not run: a message, no plot, no window numbers.
    select(page, 1, "slow_biophase")
    assert "has no run for" in page.window_status.text
    assert not any(f.visible for f in page.window_figs)
    assert "window_p_open" not in page.numbers.text
    assert "Window plot" not in page.evidence.text
    select(page, 1, "human_pet")
    assert all(f.visible for f in page.window_figs)
    # A sensitivity scenario changes the parameters: no run for it either.
    select(page, 4, "immune_via_mor")
    assert "has no run for" in page.window_status.text
    select(page, 4, None)
    assert all(f.visible for f in page.window_figs)

    other = _Page(Document(), explorer,
                  FakeProvider("ready", table_for(explorer, model_hash="0" * 64)))
    assert "another version of the model" in other.window_status.text


def test_a_model_without_the_named_outputs_degrades_to_messages():
    import ldnsim

    toy = ldnsim.loads_model("""
[model]
name = "toy"
time_unit = "h"
dose_target = "gut"
[states]
gut = { init = 0.0, unit = "mg" }
c = { init = 0.0, unit = "mg" }
[parameters]
ka = { value = 1.0, unit = "1/h", source = "test" }
ke = { value = 0.1, unit = "1/h", source = "test" }
[odes]
gut = "-ka * gut"
c = "ka * gut - ke * c"
[outputs]
C_ntx = { expr = "c", unit = "ng/mL" }
""", path="toy.toml")
    page = _Page(Document(), Explorer(toy, days=7), FakeProvider("failed", message="none"))
    assert page.message.text == ""
    assert page.plasma_fig.visible and not page.brain_fig.visible
    assert not page.peripheral_fig.visible and not page.immune_fig.visible
    assert "no brain receptor output" in page.panel_msgs["brain"].text
    assert "no output \u201cimmune_index\u201d" in page.panel_msgs["immune"].text
    assert "no output \u201coccupancy_ogfr\u201d" in page.panel_msgs["peripheral"].text
    assert "C_6bn" in page.panel_msgs["plasma"].text
    # The content names scenarios this model lacks: said on the page, not an error.
    assert "which the model does not have" in page.evidence.text
