"""The web layer of the dose explorer: a Bokeh server document over :mod:`ldnsim.app.logic`.

Only this module imports Bokeh. It builds one page per browser session from a shared
:class:`~ldnsim.app.logic.Explorer` (model compiled once, runs cached) and a shared
:class:`~ldnsim.app.window.WindowProvider` (the window table, computed once in a child
process). Every value drawn or printed comes from a :class:`~ldnsim.app.logic.View` or the
window table; the text panels are built by :mod:`ldnsim.app.panels`.

Bokeh models the browser test reads carry a ``name``: ``dose_slider``, ``dose_input``,
``scenario_<i>``, ``message``, ``numbers``, ``plasma_source``, ``brain_source``,
``peripheral_source``, ``immune_source``, ``signal_source``, ``window_immune_source``,
``window_blockade_source``, ``window_p_source``, ``window_spans``, ``window_status``,
``dose_marker_immune``, ``dose_marker_blockade``, ``dose_marker_p``, ``evidence``; the
numbers panel ends with the time the server took (``data-key="redraw_seconds"``).
"""
from __future__ import annotations

import gc
import html
import logging
import math
import signal
import sys
import time
import warnings
import webbrowser
from functools import partial

import numpy as np
from bokeh.layouts import column, row
from bokeh.models.annotations.geometry import Span
from bokeh.models.annotations.legends import Legend
from bokeh.models.css import InlineStyleSheet
from bokeh.models.formatters import CustomJSTickFormatter
from bokeh.models.ranges import DataRange1d, Range1d
from bokeh.models.sources import ColumnDataSource
from bokeh.models.widgets.inputs import Select, TextInput
from bokeh.models.widgets.markups import Div
from bokeh.models.widgets.sliders import Slider
from bokeh.plotting import figure

from ..errors import LdnsimError
from . import content as C
from .logic import (
    NO_SCENARIO,
    AppInputError,
    AppServeError,
    Explorer,
    format_number,
    parse_dose,
    slider_to_dose,
)
from .panels import PAGE_CSS, evidence_html, numbers_html, window_spans
from .window import WindowProvider

__all__ = ["make_document", "serve"]

log = logging.getLogger("ldnsim.app")

COLORS = {"C_ntx": "#1f77b4", "C_6bn": "#ff7f0e", "pet_inhibition": "#6a3d9a",
          "occupancy_mor_drug": "#6a3d9a", "occupancy_ogfr": "#1b9e77",
          "occupancy_mor_peripheral": "#d95f02", "occupancy_kor": "#7570b3",
          "immune_index": "#2ca02c", "signal_immune": "#e7298a", "p_open": "#1b7837",
          "p_immune": "#2ca02c", "window": "#c7e9c0", "marker": "#d62728"}
TOOLS = "pan,wheel_zoom,box_zoom,reset,save"


def _esc(text):
    return html.escape(str(text), quote=True)


def _color(name):
    return COLORS.get(name, "#333333")


def _legend_above(fig, items, rows=1):
    legend = Legend(items=items, orientation="horizontal", location="center",
                    label_text_font_size="11px", spacing=8, nrows=rows, padding=4)
    fig.add_layout(legend, "above")


def _day_figure(title, source, outputs, y_range, dash_rest=False):
    """A figure over the 24 h after the daily dose with a line per output (the first solid,
    the others dashed when ``dash_rest``); returns the figure and its legend items."""
    fig = figure(title=title, height=290, sizing_mode="stretch_width", tools=TOOLS,
                 x_axis_label="hours after the daily dose", y_axis_label="fraction",
                 x_range=Range1d(0, C.DOSE_EVERY), y_range=y_range)
    items = []
    for i, (name, label) in enumerate(outputs):
        r = fig.line("t", name, source=source, line_width=2, color=_color(name),
                     line_dash="dashed" if dash_rest and i > 0 else "solid")
        items.append((label, [r]))
    fig.xaxis.ticker = [0, 4, 8, 12, 16, 20, 24]
    return fig, items


# ----------------------------------------------------------------------------- document
class _Page:
    """One browser session's page. All Bokeh objects live here."""

    def __init__(self, doc, explorer, provider):
        self.doc, self.explorer, self.provider = doc, explorer, provider
        self._busy = False
        self._window_cb = None
        self._window_drawn = None
        self._evidence_for = None
        self._timing = ""
        self.view = None
        self.dose = C.DOSE_DEFAULT
        self.scenarios = explorer.default_scenarios()
        self.css = InlineStyleSheet(css=PAGE_CSS)     # once, not in every redrawn text
        self._controls()
        self.panel_msgs = {k: Div(text="", visible=False, styles={"color": "#b00020"})
                           for k in ("plasma", "brain", "peripheral", "immune")}
        self._plasma_figure()
        self._brain_figure()
        self._peripheral_figure()
        self._immune_figure()
        self._window_figures()
        self.evidence = Div(text="", name="evidence", sizing_mode="stretch_width",
                            stylesheets=[self.css])
        ex = explorer
        intro = Div(sizing_mode="stretch_width", stylesheets=[self.css], text=(
            f"<h2 style='margin:0'>{_esc(C.TITLE)}</h2>"
            f"<p class='muted' style='margin:4px 0'>What the <b>{_esc(ex.model.name)}</b> "
            f"model says for a daily dose taken for {ex.days} days (steady state): the time "
            f"courses for one reference subject at the model file's values, the window plot "
            f"for a population over the uncertain hypothesis parameters. A model, not medical "
            f"advice: the panel at the bottom says which parts rest on data, which on "
            f"assumptions and which on hypotheses.</p>"))

        def panel(key, fig):
            return column(fig, self.panel_msgs[key], sizing_mode="stretch_width")

        self.root = column(
            intro, row(self.slider, self.text, sizing_mode="stretch_width"),
            row(*self.selects, sizing_mode="stretch_width"), self.message, self.numbers,
            row(panel("plasma", self.plasma_fig), panel("brain", self.brain_fig),
                sizing_mode="stretch_width"),
            row(panel("peripheral", self.peripheral_fig), panel("immune", self.immune_fig),
                sizing_mode="stretch_width"),
            self.window_status, row(*self.window_figs, sizing_mode="stretch_width"),
            self.evidence, sizing_mode="stretch_width",
            styles={"padding": "8px 16px", "max-width": "1400px"})
        doc.add_root(self.root)
        doc.title = "ldnsim dose explorer"
        self.redraw()
        self._update_window()
        if self.provider.state == "computing":
            self._window_cb = doc.add_periodic_callback(self._update_window, 500)

    # ------------------------------------------------------------------------- widgets
    def _controls(self):
        lo, hi = math.log10(C.DOSE_MIN), math.log10(C.DOSE_MAX)
        self.slider = Slider(
            start=lo, end=hi, value=math.log10(self.dose), step=0.005, name="dose_slider",
            title="Daily dose (logarithmic)", sizing_mode="stretch_width",
            format=CustomJSTickFormatter(code="return Number((10 ** tick).toPrecision(3)) "
                                              "+ ' mg'"))
        self.slider.on_change("value_throttled", self._on_slider)
        self.text = TextInput(value=format_number(self.dose), title="or type a dose (mg/day)",
                              name="dose_input", width=160)
        self.text.on_change("value", self._on_text)
        self.selects = []
        for i, g in enumerate(self.explorer.groups):
            options = list(zip(g.options, g.labels))
            if g.optional:
                options.insert(0, (NO_SCENARIO, C.NO_SCENARIO_LABEL))
            sel = Select(title=g.label, value=g.default or NO_SCENARIO, options=options,
                         name=f"scenario_{i}", width=250)
            sel.on_change("value", self._on_select)
            self.selects.append(sel)
        self.message = Div(text="", name="message", sizing_mode="stretch_width",
                           styles={"color": "#b00020", "font-weight": "600"})
        self.numbers = Div(text="", name="numbers", sizing_mode="stretch_width",
                           stylesheets=[self.css])

    # ------------------------------------------------------------------------- figures
    def _plasma_figure(self):
        self.plasma = ColumnDataSource({"t": [], **{n: [] for n, _ in C.PLASMA_OUTPUTS}},
                                       name="plasma_source")
        fig = figure(title=f"Plasma over the last week of {self.explorer.days} days' daily "
                           "dosing", y_axis_type="log", height=290,
                     sizing_mode="stretch_width", tools=TOOLS,
                     x_axis_label="hours into the week", y_axis_label="ng/mL",
                     x_range=Range1d(0, 7 * C.DOSE_EVERY))
        items = [(label, [fig.line("t", name, source=self.plasma, line_width=2,
                                   color=_color(name))]) for name, label in C.PLASMA_OUTPUTS]
        _legend_above(fig, items)
        fig.xaxis.ticker = [24 * i for i in range(8)]
        self.plasma_fig = fig

    def _brain_figure(self):
        outputs = [(n, lab) for n, lab in C.BRAIN_OUTPUTS
                   if n in self.explorer.model.output_names] or list(C.BRAIN_OUTPUTS[:1])
        self.brain = ColumnDataSource({"t": [], "above": [], "thr": [],
                                       **{n: [] for n, _ in outputs}}, name="brain_source")
        fig, items = _day_figure("Brain MOR over the last day", self.brain, outputs,
                                 Range1d(-0.05, 1.02), dash_rest=True)
        band = fig.varea("t", "thr", "above", source=self.brain, color=_color(outputs[0][0]),
                         alpha=0.18)
        items.append((f"blockade (> {C.BLOCKADE_THRESHOLD:g})", [band]))
        fig.add_layout(Span(location=C.BLOCKADE_THRESHOLD, dimension="width",
                            line_dash="dotted", line_color="#555"))
        _legend_above(fig, items)
        self.brain_fig = fig

    def _peripheral_figure(self):
        outputs = [(n, lab) for n, lab in C.PERIPHERAL_OUTPUTS
                   if n in self.explorer.model.output_names] or list(C.PERIPHERAL_OUTPUTS[:1])
        self.peripheral = ColumnDataSource({"t": [], **{n: [] for n, _ in outputs}},
                                           name="peripheral_source")
        fig, items = _day_figure("Receptors on immune cells over the last day (unbound "
                                 "plasma drug)", self.peripheral, outputs, Range1d(0, 1.02))
        _legend_above(fig, items)
        self.peripheral_fig = fig

    def _immune_figure(self):
        iname, (sname, slabel) = C.IMMUNE_OUTPUT, C.IMMUNE_SIGNAL
        self.immune = ColumnDataSource({"t": [], iname: []}, name="immune_source")
        self.signal = ColumnDataSource({"day": [], "mean": [], "min": [], "max": []},
                                       name="signal_source")
        fig = figure(title=C.IMMUNE_TITLE.format(days=self.explorer.days), height=290,
                     sizing_mode="stretch_width", tools=TOOLS, x_axis_label="day",
                     y_axis_label="relative to untreated")
        items = []
        if sname in self.explorer.model.output_names:
            band = fig.varea("day", "min", "max", source=self.signal, color=_color(sname),
                             alpha=0.1)
            mean = fig.line("day", "mean", source=self.signal, line_width=1.5,
                            color=_color(sname), line_dash="dashed")
            items += [(f"{slabel}: daily mean", [mean]), ("its range within each day",
                                                          [band])]
        items.insert(0, (C.IMMUNE_LABEL, [fig.line("t", iname, source=self.immune,
                                                   line_width=2, color=_color(iname))]))
        fig.add_layout(Span(location=C.IMMUNE_BASELINE, dimension="width", line_dash="dotted",
                            line_color="#555"))
        _legend_above(fig, items, rows=2)
        self.immune_fig = fig

    def _window_figures(self):
        def band_source(name):
            return ColumnDataSource({"dose": [], "lo": [], "mid": [], "hi": []}, name=name)

        self.win_immune = band_source("window_immune_source")
        self.win_blockade = band_source("window_blockade_source")
        self.win_p = ColumnDataSource({"dose": [], "p_open": [], "p_immune": []},
                                      name="window_p_source")
        self.win_spans = ColumnDataSource({"left": [], "right": []}, name="window_spans")
        xr = Range1d(C.DOSE_MIN, C.DOSE_MAX)

        def win_figure(title, y_label, y_range):
            return figure(title=title, height=260, sizing_mode="stretch_width",
                          x_axis_type="log", x_range=xr, tools=TOOLS, y_range=y_range,
                          x_axis_label="daily dose (mg)", y_axis_label=y_label)

        w1 = win_figure("Immune readout at the end", "immune readout", DataRange1d())
        w2 = win_figure("Hours of blockade per day", "h/day", Range1d(-0.5, 24.5))
        w3 = win_figure("P(window open)", "share of samples", Range1d(-0.02, 1.02))
        for fig in (w1, w2, w3):
            fig.quad(left="left", right="right", bottom=-1e3, top=1e3, source=self.win_spans,
                     color=COLORS["window"], alpha=0.5,
                     legend_label=f"P(open) \u2265 {C.WINDOW_OPEN:g}")
        for fig, src, color in ((w1, self.win_immune, COLORS["immune_index"]),
                                (w2, self.win_blockade, COLORS["pet_inhibition"])):
            band = fig.varea("dose", "lo", "hi", source=src, color=color, alpha=0.2,
                             legend_label="5-95%")
            line = fig.line("dose", "mid", source=src, color=color, line_width=2,
                            legend_label="median")
            fig.scatter("dose", "mid", source=src, color=color, size=4)
            if fig is w1:  # range from the data, not from the window shading
                fig.y_range = DataRange1d(renderers=[band, line], range_padding=0.15)
        w3.line("dose", "p_open", source=self.win_p, color=COLORS["p_open"], line_width=2,
                legend_label="window open")
        w3.scatter("dose", "p_open", source=self.win_p, color=COLORS["p_open"], size=4)
        w3.line("dose", "p_immune", source=self.win_p, color=COLORS["p_immune"],
                line_dash="dashed", legend_label="immune readout dampened (any blockade)")
        self._window_guides(w1, w2, w3)
        self.window_figs = (w1, w2, w3)
        self.window_status = Div(text="", name="window_status", sizing_mode="stretch_width",
                                 stylesheets=[self.css])

    def _window_guides(self, w1, w2, w3):
        """Reference lines, the window's limits, the dose markers and the legends (above) of
        the three window figures (hidden until the window table is ready)."""
        w1.add_layout(Span(location=C.IMMUNE_BASELINE, dimension="width", line_dash="dotted",
                           line_color="#555"))
        self.margin_span = Span(location=C.IMMUNE_BASELINE, dimension="width",
                                line_dash="dashed", line_color="#1b7837")
        w1.add_layout(self.margin_span)
        self.limit_span = Span(location=10.0, dimension="width", line_dash="dashed",
                               line_color="#1b7837")
        w2.add_layout(self.limit_span)
        w3.add_layout(Span(location=C.WINDOW_OPEN, dimension="width", line_dash="dotted",
                           line_color="#555"))
        self.markers = []
        for fig, name in ((w1, "dose_marker_immune"), (w2, "dose_marker_blockade"),
                          (w3, "dose_marker_p")):
            marker = Span(location=self.dose, dimension="height", line_color=COLORS["marker"],
                          line_width=2, name=name)
            fig.add_layout(marker)
            self.markers.append(marker)
            legend = fig.legend[0]
            fig.center.remove(legend)
            legend.orientation, legend.location = "horizontal", "center"
            legend.label_text_font_size, legend.spacing = "11px", 6
            fig.add_layout(legend, "above")
            fig.visible = False

    # ------------------------------------------------------------------------- events
    def _on_slider(self, attr, old, new):
        if self._busy:
            return
        self.dose = slider_to_dose(new)
        self._busy = True
        try:
            self.text.value = format_number(self.dose)
        finally:
            self._busy = False
        self.redraw()

    def _on_text(self, attr, old, new):
        if self._busy:
            return
        try:
            dose = parse_dose(new)
        except AppInputError as exc:
            self.message.text = _esc(str(exc))
            return
        self.dose = dose
        self._busy = True
        try:
            self.slider.value = math.log10(dose)
        finally:
            self._busy = False
        self.redraw()

    def _on_select(self, attr, old, new):
        self.scenarios = tuple(s.value for s in self.selects if s.value != NO_SCENARIO)
        self.redraw()

    # ------------------------------------------------------------------------- drawing
    def redraw(self):
        t0 = time.perf_counter()
        try:
            view = self.explorer.view(self.dose, self.scenarios)
        except AppInputError as exc:
            self.message.text = _esc(str(exc))
            return
        except LdnsimError as exc:
            self.message.text = _esc(f"The model could not be run for this choice: "
                                     f"{' '.join(str(exc).split())}")
            return
        except Exception as exc:  # a bug: log it, say so in one line, never a traceback
            log.exception("redraw failed")
            self.message.text = _esc(f"Internal error ({type(exc).__name__}); the "
                                     "server log has the details.")
            return
        t_sim = time.perf_counter() - t0
        self.message.text = ""
        self.view = view
        self._draw_view(view)
        self._draw_window_marker()
        self._draw_evidence()
        numbers = numbers_html(view, *self._window_rows(view))
        t_all = time.perf_counter() - t0
        # The timing line goes into the numbers panel: one text change per redraw (each
        # changed text makes the browser lay the page out again).
        self._timing = (f"<p class='muted'>model {_esc(self.explorer.model.name)} "
                        f"({self.explorer.model.hash[:12]}); this view computed in "
                        f"<span data-key=\"redraw_seconds\">{t_all:.3f}</span> s "
                        f"(simulation {t_sim:.3f} s)</p>")
        self.numbers.text = numbers + self._timing
        log.info("redraw dose=%g scenarios=%s in %.3f s", view.dose, view.scenarios, t_all)

    def _panel(self, key, fig, message):
        ok = key in self.view.series
        fig.visible = ok
        self.panel_msgs[key].visible = bool(message)
        self.panel_msgs[key].text = _esc(message)

    def _draw_view(self, view):
        s = view.series

        def missing(panel):
            if panel == "brain" and panel not in s and "blockade" in view.missing:
                return view.missing["blockade"]   # one message for the whole panel
            return " ".join(m for k, m in view.missing.items()
                            if k == panel or k.startswith(f"{panel}:"))

        if "plasma" in s:
            self.plasma.data = {k: np.asarray(v) for k, v in s["plasma"].items()}
        if "brain" in s:
            b = dict(s["brain"])
            thr = np.full_like(b["t"], C.BLOCKADE_THRESHOLD)
            first = next(k for k in b if k != "t")
            b.update(thr=thr, above=np.maximum(b[first], thr))
            self.brain.data = b
            low = min(float(np.min(b[k])) for k in b if k not in ("t", "thr", "above"))
            # negative PET inhibition (up-regulated free receptors) stays in view; in steps
            # of 0.1, so the axis rarely changes
            self.brain_fig.y_range.start = min(-0.05, math.floor(10 * (low - 0.02)) / 10)
        if "peripheral" in s:
            self.peripheral.data = dict(s["peripheral"])
        if "immune" in s:
            self.immune.data = dict(s["immune"])
        if "signal" in s:
            self.signal.data = dict(s["signal"])
        for key, fig in (("plasma", self.plasma_fig), ("brain", self.brain_fig),
                         ("peripheral", self.peripheral_fig), ("immune", self.immune_fig)):
            self._panel(key, fig, missing(key))

    def _draw_evidence(self):
        table = self._drawn_table()
        key = (self.view.scenarios, table.key if table is not None else None)
        if key != self._evidence_for:
            self.evidence.text = evidence_html(self.explorer.model, self.view, table,
                                               self.explorer.problems)
            self._evidence_for = key

    # -------------------------------------------------------------------------- window
    def _drawn_table(self):
        """The window table when its plot is on the page for the current choice."""
        table = self.provider.table if self.provider.state == "ready" else None
        if table is None or table.model_hash != self.explorer.model.hash:
            return None
        return table if table.find(self.explorer.model, self.scenarios) is not None else None

    def _window_rows(self, view):
        table = self.provider.table if self.provider.state == "ready" else None
        if table is None or table.model_hash != self.explorer.model.hash:
            return (), None
        c = table.find(self.explorer.model, view.scenarios)
        if c is None:
            return (), None
        rows = table.at_dose(c, view.dose)
        return (rows, table) if rows else ((), None)

    def _update_window(self):
        state = self.provider.state
        if state == "computing":
            self.window_status.text = (
                "<b>Computing the window plot</b> (once: samples of the hypothesis parameters "
                "\u00d7 virtual subjects over the dose range, less than a minute of CPU; the "
                "rest of the page works meanwhile)\u2026")
            return
        if self._window_cb is not None:
            self.doc.remove_periodic_callback(self._window_cb)
            self._window_cb = None
        if state == "failed":
            self.window_status.text = _esc("The window plot is not available: "
                                           + self.provider.message)
            return
        self._draw_window()
        if self.view is not None:
            self.numbers.text = numbers_html(self.view, *self._window_rows(self.view)) + \
                self._timing
            self._draw_evidence()

    def _draw_window(self):
        table = self.provider.table
        ex = self.explorer
        c = table.find(ex.model, self.scenarios)
        self._window_drawn = c
        if table.model_hash != ex.model.hash:
            msg = "The window plot was computed for another version of the model."
            c = None
        else:
            covers = "; ".join(table.label(i) for i in range(len(table.combos)))
            msg = (f"The window experiment <b>{_esc(table.experiment)}</b> has no run for "
                   f"{_esc(' + '.join(self.scenarios))}; it covers {_esc(covers)} (a small "
                   f"run of the headline's definition, computed on first start; the panel "
                   f"below says what the other choices change).")
        if c is None:
            self.window_status.text = msg
            for f in self.window_figs:
                f.visible = False
            return
        d = list(table.doses)
        mid = len(table.quantiles) // 2
        for src, q in ((self.win_immune, table.immune[c]), (self.win_blockade,
                                                            table.blockade[c])):
            src.data = {"dose": d, "lo": list(q[0]), "mid": list(q[mid]), "hi": list(q[-1])}
        self.win_p.data = {"dose": d, "p_open": list(table.p_open[c]),
                           "p_immune": list(table.p_immune[c])}
        left, right = window_spans(d, table.p_open[c])
        self.win_spans.data = {"left": left, "right": right}
        w1, w2, w3 = self.window_figs
        w1.title.text = f"Immune readout after {table.days:g} days"
        self.margin_span.location = C.IMMUNE_BASELINE - table.immune_margin
        self.limit_span.location = table.max_blockade_hours
        unit = {"draw": "parameter draws", "sample": "samples",
                "subject": "virtual subjects"}.get(table.across, "runs")
        w3.yaxis.axis_label = f"share of {unit}"
        for f in self.window_figs:
            f.visible = True
        lo, hi = f"{100 * table.quantiles[0]:g}", f"{100 * table.quantiles[-1]:g}"
        per = (f"{table.n_samples} draws (fitted parameters from the fits' uncertainty, "
               f"hypothesis parameters from their declared ranges), each with "
               f"{table.n_subjects} virtual subject{'s' if table.n_subjects != 1 else ''}"
               if table.across == "draw" else
               f"{table.n_samples} samples of the hypothesis parameters \u00d7 "
               f"{table.n_subjects} virtual subjects" if table.across == "sample"
               else f"{table.n_subjects} virtual subjects")
        self.window_status.text = (
            f"<h3 style='margin:4px 0'>The window across doses: {_esc(table.label(c))}</h3>"
            f"<span class='muted' style='color:#666;font-size:13px'>From the experiment "
            f"<b>{_esc(table.experiment)}</b>, {per} per dose. Lines: median across {unit} "
            f"(a sample's value is the median of its subjects); band: {lo}-{hi}%; dashed "
            f"green: the window's limits (immune readout at least {table.immune_margin:g} "
            f"below untreated, at most {table.max_blockade_hours:g} h/day with "
            f"{_esc(table.occupancy_var)} &gt; {table.threshold:g}); green shading: doses "
            f"where P(window open) \u2265 {C.WINDOW_OPEN:g}; red line: the chosen dose."
            f"</span>")

    def _draw_window_marker(self):
        for marker in self.markers:
            marker.location = self.dose
        if self.provider.state == "ready":
            c = self.provider.table.find(self.explorer.model, self.scenarios)
            if c != self._window_drawn:
                self._draw_window()


def make_document(doc, explorer, provider):
    """Build one session's page (the Bokeh application function)."""
    _Page(doc, explorer, provider)


# -------------------------------------------------------------------------------- serve
def serve(port=5006, *, address="127.0.0.1", open_browser=True, window_experiment=None,
          out=None):
    """Start the dose explorer and serve it until interrupted.

    Parameters
    ----------
    port : int
        TCP port (0: any free port; the address printed says which).
    address : str
        Interface to listen on; the default serves this machine only.
    open_browser : bool
        Open the page in the default browser once the server runs.
    window_experiment : str or Path, optional
        Experiment for the window plot (default :data:`content.WINDOW_EXPERIMENT`).
    out : callable, optional
        Where the status lines go (default: print to stdout, flushed).
    """
    from bokeh.settings import settings

    def say(line):
        (out or partial(print, flush=True))(line)

    # BokehJS from this server, never from a CDN: the page must work offline.
    settings.resources.set_value("server")
    sockets, port = _bind(address, port)
    say(f"ldnsim app: loading the {C.MODEL} model (compiled once; the first start compiles "
        "it)")
    try:
        explorer = Explorer()
        explorer.view(C.DOSE_DEFAULT)  # warm: the first page appears at once
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    provider = WindowProvider(window_experiment or C.WINDOW_EXPERIMENT).start()
    if provider.state == "computing":
        say("ldnsim app: computing the window plot in the background (once)")
    elif provider.state == "failed":
        say(f"ldnsim app: no window plot: {provider.message}")
    server, url = _start_server(address, port, sockets, explorer, provider)
    say(f"ldnsim app: serving at {url} (Ctrl+C to stop)")
    if open_browser:
        server.io_loop.add_callback(webbrowser.open, url)
    previous = _stop_on_sigterm()
    try:
        server.io_loop.start()
    except KeyboardInterrupt:
        say("ldnsim app: stopped")
    finally:
        provider.stop()   # a window computation still running is ended, not orphaned
        server.stop()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        sys.stdout.flush()


def _bind(address, port):
    """Listening sockets on ``address:port`` and the port bound (``port`` 0: a free one)."""
    from bokeh.server.util import bind_sockets

    if not isinstance(port, int) or not 0 <= port <= 65535:
        raise AppServeError(f"cannot listen on {address}:{port}: a port is 0-65535 "
                            "(0: any free port)")
    error = None
    # tornado leaves a socket that failed to bind to the garbage collector: let it go here,
    # quietly, so the one-line error is all the user sees.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        try:  # first, so a taken port is reported at once
            sockets, port = bind_sockets(address, port)
        except (OSError, OverflowError) as exc:
            error = f"{getattr(exc, 'strerror', None) or exc}"
        gc.collect()
    if error is not None:
        raise AppServeError(f"cannot listen on {address}:{port}: {error}")
    return sockets, port


def _start_server(address, port, sockets, explorer, provider):
    """The started Bokeh server of the page on ``sockets``, and its URL."""
    from bokeh.application import Application
    from bokeh.application.handlers.function import FunctionHandler
    from bokeh.server.server import BaseServer
    from bokeh.server.tornado import BokehTornado
    from tornado.httpserver import HTTPServer
    from tornado.ioloop import IOLoop

    app = Application(FunctionHandler(partial(make_document, explorer=explorer,
                                              provider=provider)))
    url = f"http://{address}:{port}/"
    origins = [f"{address}:{port}"] + ([f"localhost:{port}"] if address == "127.0.0.1" else [])
    tornado_app = BokehTornado({"/": app}, extra_websocket_origins=origins, absolute_url=url)
    http = HTTPServer(tornado_app)
    http.start(1)
    http.add_sockets(sockets)
    server = BaseServer(IOLoop.current(), tornado_app, http)
    server.start()
    return server, url


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def _stop_on_sigterm():
    """SIGTERM stops the app as Ctrl+C does (so its clean-up runs); returns the old handler,
    or None where handlers cannot be set (not the main thread)."""
    try:
        return signal.signal(signal.SIGTERM, _interrupt)
    except ValueError:
        return None
