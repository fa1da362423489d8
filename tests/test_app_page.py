"""The app's page as Bokeh objects in Python (no server, no browser): widgets drive the view,
bad input gives a message, the window panel reports computing / failed / ready."""
import math

import numpy as np
import pytest
from bokeh.document import Document

from ldnsim.app import content as C
from ldnsim.app.logic import Explorer, format_number
from ldnsim.app.server import _Page
from ldnsim.app.window import WindowTable

from app_driver import reference_numbers, reference_run


class FakeProvider:
    def __init__(self, state="computing", table=None, message=""):
        self.state, self.table, self.message = state, table, message


@pytest.fixture(scope="module")
def explorer():
    return Explorer()


def table_for(explorer, combos=(("pharmaceutical", "human_pet"),), model_hash=None):
    doses = (0.1, 1.0, 10.0, 300.0)
    n = len(combos)
    return WindowTable(
        key="k", experiment="fake_window", description="", model="ldn",
        model_hash=model_hash or explorer.model.hash, doses=doses, combos=tuple(combos),
        params={}, quantiles=(0.1, 0.5, 0.9),
        immune=tuple(((0.9, 0.95, 1.2, 1.8), (0.92, 0.97, 1.25, 1.9), (0.94, 0.99, 1.3, 2.0))
                     for _ in range(n)),
        blockade=tuple(((0, 0, 20, 24), (0, 0, 24, 24), (0, 1, 24, 24)) for _ in range(n)),
        fraction=tuple((1.0, 0.8, 0.0, 0.0) for _ in range(n)), n_subjects=5,
        immune_var="immune_index", occupancy_var="occupancy_mor_drug", definition="def",
        max_blockade_hours=10.0, immune_margin=0.05, threshold=0.5, days=56.0)


def shown(page, key):
    text = page.numbers.text
    start = text.index(f'data-key="{key}">') + len(f'data-key="{key}">')
    return text[start:text.index("<", start)]


def test_widgets_drive_the_view(explorer):
    page = _Page(Document(), explorer, FakeProvider())
    assert page.doc.title == "ldnsim dose explorer"
    assert [s.value for s in page.selects] == ["pharmaceutical", "human_pet", "trif_branch"]
    assert page.slider.value == pytest.approx(math.log10(C.DOSE_DEFAULT))
    page.text.value = "50"                                     # typed
    assert page.view.dose == 50.0 and page.slider.value == pytest.approx(math.log10(50))
    ref = reference_numbers(reference_run(50.0, page.view.scenarios))
    for key, value in ref.items():
        assert shown(page, key) == format_number(value)
    np.testing.assert_allclose(page.plasma.data["C_ntx"][-1], page.view.series["plasma"]
                               ["C_ntx"][-1])
    page._on_slider("value_throttled", None, math.log10(0.5))  # slider released (the
    # browser sets value_throttled; it is read-only in Python)
    assert page.view.dose == 0.5 and page.text.value == "0.5"
    page.selects[0].value = "racemic"
    assert page.view.scenarios == ("racemic", "human_pet", "trif_branch")
    assert "scenario racemic" in page.evidence.text
    assert "redraw_seconds" in page.timing.text


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

    provider.state, provider.message = "failed", "window experiment: no such file"
    page._update_window()
    assert "not available: window experiment: no such file" in page.window_status.text
    assert page._window_cb is None

    page = _Page(Document(), explorer, FakeProvider("ready", table_for(explorer)))
    assert all(f.visible for f in page.window_figs)
    assert page.win_immune.data["mid"] == [0.92, 0.97, 1.25, 1.9]
    assert page.win_spans.data["left"] == [0.1]
    assert page.win_spans.data["right"] == [pytest.approx(math.sqrt(10.0))]
    assert page.marker_immune.location == C.DOSE_DEFAULT
    assert "window_fraction" in page.numbers.text
    page.text.value = "10"
    assert page.marker_blockade.location == 10.0
    assert shown(page, "dose") == "10"
    assert "precomputed at 10 mg" in page.numbers.text
    # A choice the experiment did not run: a message, no plot.
    page.selects[1].value = "rodent_transient"
    assert "has no run for" in page.window_status.text
    assert not any(f.visible for f in page.window_figs)
    assert "window_fraction" not in page.numbers.text
    page.selects[1].value = "human_pet"
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
    assert page.plasma_fig.visible and not page.receptor_fig.visible
    assert "no receptor output" in page.panel_msgs["receptor"].text
    assert "no output \u201cimmune_index\u201d" in page.panel_msgs["immune"].text
    assert "C_6bn" in page.panel_msgs["plasma"].text
