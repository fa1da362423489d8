"""The web layer of the dose explorer: a Bokeh server document over :mod:`ldnsim.app.logic`.

Only this module imports Bokeh. It builds one page per browser session from a shared
:class:`~ldnsim.app.logic.Explorer` (model compiled once, runs cached) and a shared
:class:`~ldnsim.app.window.WindowProvider` (the window table, computed once in a child
process). Every value drawn or printed comes from a :class:`~ldnsim.app.logic.View`.

Bokeh models the browser test reads carry a ``name``: ``dose_slider``, ``dose_input``,
``scenario_<i>``, ``message``, ``numbers``, ``plasma_source``, ``receptor_source``,
``immune_source``, ``window_immune_source``, ``window_blockade_source``, ``window_status``,
``dose_marker_immune``, ``dose_marker_blockade``, ``timing``.
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

from ..errors import LdnsimError
from . import content as C
from .logic import AppInputError, AppServeError, Explorer, format_number, parse_dose, slider_to_dose
from .window import WindowProvider

__all__ = ["make_document", "serve"]

log = logging.getLogger("ldnsim.app")

COLORS = {"C_ntx": "#1f77b4", "C_6bn": "#ff7f0e", "receptor": "#6a3d9a", "immune": "#2ca02c",
          "band": "#9ecae1", "window": "#c7e9c0", "marker": "#d62728"}
KIND_COLORS = {"data": "#1b7837", "hypothesis": "#b35806", "assumption": "#5e3c99"}
PAGE_CSS = """
table.ldn { border-collapse: collapse; font-size: 14px; }
table.ldn td, table.ldn th { padding: 3px 10px; border-bottom: 1px solid #e5e5e5;
  text-align: left; vertical-align: top; }
table.ldn td.v { text-align: right; font-variant-numeric: tabular-nums; font-weight: 600; }
.muted { color: #666; font-size: 13px; }
.tag { display: inline-block; padding: 0 6px; border-radius: 3px; color: white;
  font-size: 12px; margin-right: 6px; }
"""


def _esc(text):
    return html.escape(str(text), quote=True)


# --------------------------------------------------------------------------- references
def _references(model):
    """Key -> citation text: the model's references file where it has the key, else
    :data:`content.REFERENCES`."""
    refs = dict(C.REFERENCES)
    path = getattr(model, "path", None)
    if path is None:
        return refs
    from pathlib import Path
    file = Path(path).with_name(C.REFERENCES_FILE)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError:
        return refs
    key, body = None, []
    for line in text.splitlines() + ["### "]:
        if line.startswith("### "):
            if key and body:
                refs[key] = " ".join(body)
            key, body = line[4:].strip(), []
        elif key and line.strip():
            body.append(line.strip())
    return refs


def evidence_html(model, scenarios, receptor):
    """The data-or-hypothesis panel for what is on screen, with its references."""
    refs = _references(model)
    used = []

    def cite(keys):
        out = []
        for k in keys:
            if k not in used:
                used.append(k)
            out.append(f"[{used.index(k) + 1}]")
        return " ".join(out)

    def tag(kind):
        return (f'<span class="tag" style="background:{KIND_COLORS.get(kind, "#555")}">'
                f'{_esc(C.KIND_LABELS.get(kind, kind))}</span>')

    rows = []
    for item in C.EVIDENCE:
        text = item["text"]
        if item["part"].startswith("Receptor") and receptor is not None:
            text = f"Shown: {receptor[1]}. " + text
        rows.append(f"<tr><td>{tag(item['kind'])}</td><td><b>{_esc(item['part'])}</b></td>"
                    f"<td>{_esc(text)} {cite(item['refs'])}</td></tr>")
    for name in scenarios:
        sc = model.scenarios.get(name)
        if sc is None:
            continue
        kind, note, keys = C.SCENARIO_NOTES.get(name, (None, "", ()))
        desc = sc.description + (f" (source: {sc.source})" if sc.source else "")
        extra = f" {_esc(note)} {cite(keys)}" if note else ""
        rows.append(f"<tr><td>{tag(kind) if kind else ''}</td><td><b>scenario "
                    f"{_esc(name)}</b></td><td>{_esc(desc)}.{extra}</td></tr>")
    refs_html = "".join(f"<li>{_esc(refs.get(k, k))}</li>" for k in used)
    return (f"<style>{PAGE_CSS}</style><h3 style='margin:4px 0'>What is data and what is "
            f"hypothesis</h3><table class='ldn'>{''.join(rows)}</table>"
            f"<p class='muted' style='margin:6px 0 2px'>References</p>"
            f"<ol class='muted' style='margin-top:0'>{refs_html}</ol>"
            f"<p class='muted'>Time courses are the model's reference subject; the spread "
            f"between virtual subjects is shown in the window plot. Every parameter, its "
            f"source and its evidence grade: the model card (models/README.md). Not medical "
            f"advice.</p>")


# ------------------------------------------------------------------------------- numbers
def numbers_html(view, window_row=None, table=None):
    """The table of numbers; each value is a ``<span data-key=...>`` (read by the tests)."""
    n = view.numbers

    def cell(key):
        return (f'<td class="v"><span data-key="{key}">{format_number(n.get(key))}</span>'
                f'</td>')

    def row(label, keys, unit="", note=""):
        values = "".join(cell(k) for k in keys)
        if len(keys) == 1:
            values += "<td></td>"
        return (f"<tr><td>{_esc(label)}</td>{values}<td>{_esc(unit)}</td>"
                f"<td class='muted'>{note}</td></tr>")

    rows = ["<tr><th></th><th>peak</th><th>trough</th><th></th><th></th></tr>"]
    for name, label in C.PLASMA_OUTPUTS:
        if f"{name}_peak" in n:
            rows.append(row(f"plasma {label}", (f"{name}_peak", f"{name}_trough"), "ng/mL"))
    if view.receptor is not None:
        rows.append(row(view.receptor[1], ("receptor_peak", "receptor_trough"),
                        "fraction"))
        rows.append(row("hours of blockade per day", ("blockade_hours",), "h/day",
                        f"readout &gt; {C.BLOCKADE_THRESHOLD:g}, mean of the last "
                        f"{C.BLOCKADE_LAST_DAYS} days"))
    if "immune_end" in n:
        change = n["immune_end"] / C.IMMUNE_BASELINE - 1.0
        sign = "+" if change >= 0 else "\u2212"
        rows.append(row(f"{C.IMMUNE_LABEL}, day {view.days}", ("immune_end",), "",
                        f"{sign}{abs(100 * change):.0f}% vs untreated"))
    if window_row is not None and table is not None:
        a, b = window_row["between"]
        where = (f"precomputed at {a:g} mg" if a == b
                 else f"interpolated between {a:g} and {b:g} mg")
        pct = f"{100 * table.quantiles[0]:.0f}-{100 * table.quantiles[-1]:.0f}%"
        im, bl = window_row["immune"], window_row["blockade"]
        rows.append(
            f"<tr><td>virtual subjects in the window</td><td class='v'><span "
            f"data-key=\"window_fraction\">{100 * window_row['fraction']:.0f}</span></td>"
            f"<td></td><td>%</td><td class='muted'>{_esc(where)}; {pct} of subjects: immune "
            f"readout {format_number(im[0])}\u2013{format_number(im[-1])}, blockade "
            f"{format_number(bl[0])}\u2013{format_number(bl[-1])} h/day</td></tr>")
    notes = "".join(f"<p class='muted'>{_esc(x)}</p>" for x in view.notes)
    head = (f"<h3 style='margin:4px 0'>At <span data-key=\"dose\">{format_number(view.dose)}"
            f"</span> mg/day, steady state ({_esc(' + '.join(view.scenarios))})</h3>")
    return (f"<style>{PAGE_CSS}</style>{head}<table class='ldn'>{''.join(rows)}</table>"
            f"{notes}")


# ----------------------------------------------------------------------------- document
class _Page:
    """One browser session's page. All Bokeh objects live here."""

    def __init__(self, doc, explorer, provider):
        from bokeh.layouts import column, row
        from bokeh.models import (
            ColumnDataSource,
            CustomJSTickFormatter,
            DataRange1d,
            Div,
            Legend,
            Range1d,
            Select,
            Slider,
            Span,
            TextInput,
        )
        from bokeh.plotting import figure

        self.doc, self.explorer, self.provider = doc, explorer, provider
        self._busy = False
        self._window_cb = None
        self._window_drawn = None
        self._evidence_for = None
        self.view = None
        ex = explorer
        self.dose = C.DOSE_DEFAULT
        self.scenarios = ex.default_scenarios()

        lo, hi = math.log10(C.DOSE_MIN), math.log10(C.DOSE_MAX)
        self.slider = Slider(
            start=lo, end=hi, value=math.log10(self.dose), step=0.005, name="dose_slider",
            title="Daily dose (logarithmic)", sizing_mode="stretch_width",
            format=CustomJSTickFormatter(code="return Number((10 ** tick).toPrecision(3)) "
                                              "+ ' mg'"))
        self.slider.on_change("value_throttled", self._on_slider)
        self.text = TextInput(value=format_number(self.dose), title="or type a dose (mg/day)",
                              name="dose_input", width=170)
        self.text.on_change("value", self._on_text)
        self.selects = []
        for i, g in enumerate(ex.groups):
            sel = Select(title=g.label, value=g.default, options=list(g.options),
                         name=f"scenario_{i}", width=190)
            sel.on_change("value", self._on_select)
            self.selects.append(sel)
        self.message = Div(text="", name="message", sizing_mode="stretch_width",
                           styles={"color": "#b00020", "font-weight": "600"})
        self.numbers = Div(text="", name="numbers", sizing_mode="stretch_width")
        self.timing = Div(text="", name="timing", styles={"color": "#888", "font-size": "12px"})

        tools = "pan,wheel_zoom,box_zoom,reset,save"
        # Plasma over a week.
        self.plasma = ColumnDataSource({"t": [], **{n: [] for n, _ in C.PLASMA_OUTPUTS}},
                                       name="plasma_source")
        p1 = figure(title=f"Plasma levels over the last week of {ex.days} days' daily dosing",
                    y_axis_type="log", height=290, sizing_mode="stretch_width", tools=tools,
                    x_axis_label="hours into the week", y_axis_label="ng/mL",
                    x_range=Range1d(0, 7 * C.DOSE_EVERY))
        items = []
        for name, label in C.PLASMA_OUTPUTS:
            r = p1.line("t", name, source=self.plasma, line_width=2,
                        color=COLORS.get(name, "#333"))
            items.append((label, [r]))
        p1.add_layout(Legend(items=items, orientation="horizontal", location="center"), "above")
        p1.xaxis.ticker = [24 * i for i in range(8)]
        self.plasma_fig = p1

        # Receptor readout over a day.
        rname = ex.receptor[0] if ex.receptor else "receptor"
        self.receptor_source = ColumnDataSource({"t": [], rname: [], "above": [], "thr": []},
                                                name="receptor_source")
        p2 = figure(title=("Receptors over the last day: " + ex.receptor[1]) if ex.receptor
                    else "Receptors", height=290, sizing_mode="stretch_width", tools=tools,
                    x_axis_label="hours after the daily dose", y_axis_label="fraction",
                    x_range=Range1d(0, C.DOSE_EVERY), y_range=Range1d(0, 1.02))
        p2.varea("t", "thr", "above", source=self.receptor_source, color=COLORS["receptor"],
                 alpha=0.18, legend_label=f"blockade (> {C.BLOCKADE_THRESHOLD:g})")
        p2.line("t", rname, source=self.receptor_source, line_width=2,
                color=COLORS["receptor"])
        p2.add_layout(Span(location=C.BLOCKADE_THRESHOLD, dimension="width",
                           line_dash="dashed", line_color="#555"))
        p2.legend.location = "bottom_right"
        p2.xaxis.ticker = [0, 4, 8, 12, 16, 20, 24]
        self.receptor_fig = p2

        # The immune readout over the whole run.
        iname = C.IMMUNE_OUTPUT
        self.immune_source = ColumnDataSource({"t": [], iname: []}, name="immune_source")
        p3 = figure(title=C.IMMUNE_TITLE.format(days=ex.days),
                    height=290, sizing_mode="stretch_width", tools=tools,
                    x_axis_label="day", y_axis_label="relative to untreated")
        p3.line("t", iname, source=self.immune_source, line_width=2, color=COLORS["immune"])
        p3.add_layout(Span(location=C.IMMUNE_BASELINE, dimension="width", line_dash="dashed",
                           line_color="#555"))
        self.immune_fig = p3

        # The window plot (from the precomputed experiment).
        self.win_immune = ColumnDataSource({"dose": [], "lo": [], "mid": [], "hi": []},
                                           name="window_immune_source")
        self.win_blockade = ColumnDataSource({"dose": [], "lo": [], "mid": [], "hi": []},
                                             name="window_blockade_source")
        self.win_spans = ColumnDataSource({"left": [], "right": []}, name="window_spans")
        xr = Range1d(C.DOSE_MIN, C.DOSE_MAX)
        w1 = figure(title="Window across doses: immune readout at the end", height=200,
                    sizing_mode="stretch_width", x_axis_type="log", x_range=xr, tools=tools,
                    y_axis_label="immune readout")
        w2 = figure(title="Hours of blockade per day", height=200, sizing_mode="stretch_width",
                    x_axis_type="log", x_range=xr, tools=tools,
                    x_axis_label="daily dose (mg)", y_axis_label="h/day",
                    y_range=Range1d(-0.5, 24.5))
        for fig, src, color in ((w1, self.win_immune, COLORS["immune"]),
                                (w2, self.win_blockade, COLORS["receptor"])):
            fig.quad(left="left", right="right", bottom=-1e3, top=1e3, source=self.win_spans,
                     color=COLORS["window"], alpha=0.5, legend_label="in the window")
            band = fig.varea("dose", "lo", "hi", source=src, color=color, alpha=0.2,
                             legend_label="10-90% of subjects")
            line = fig.line("dose", "mid", source=src, color=color, line_width=2,
                            legend_label="median")
            if fig is w1:  # range from the data, not from the window shading
                fig.y_range = DataRange1d(renderers=[band, line], range_padding=0.15)
            fig.legend.location = "top_left"
            fig.legend.label_text_font_size = "11px"
        w1.add_layout(Span(location=C.IMMUNE_BASELINE, dimension="width", line_dash="dashed",
                           line_color="#555"))
        self.margin_span = Span(location=C.IMMUNE_BASELINE, dimension="width",
                                line_dash="dotted", line_color="#1b7837")
        w1.add_layout(self.margin_span)
        self.limit_span = Span(location=10.0, dimension="width", line_dash="dotted",
                               line_color="#1b7837")
        w2.add_layout(self.limit_span)
        self.marker_immune = Span(location=self.dose, dimension="height",
                                  line_color=COLORS["marker"], line_width=2,
                                  name="dose_marker_immune")
        self.marker_blockade = Span(location=self.dose, dimension="height",
                                    line_color=COLORS["marker"], line_width=2,
                                    name="dose_marker_blockade")
        w1.add_layout(self.marker_immune)
        w2.add_layout(self.marker_blockade)
        self.window_figs = (w1, w2)
        for f in self.window_figs:
            f.visible = False
        self.window_status = Div(text="", name="window_status", sizing_mode="stretch_width")

        self.panel_msgs = {k: Div(text="", visible=False, styles={"color": "#b00020"})
                           for k in ("plasma", "receptor", "immune")}
        self.evidence = Div(text="", name="evidence", sizing_mode="stretch_width")
        intro = Div(sizing_mode="stretch_width", text=(
            f"<style>{PAGE_CSS}</style><h2 style='margin:0'>{_esc(C.TITLE)}</h2>"
            f"<p class='muted' style='margin:4px 0'>What the "
            f"<b>{_esc(ex.model.name)}</b> model says for a daily dose taken for "
            f"{ex.days} days (steady state). A model, not medical advice: see "
            f"below which parts rest on data and which on hypotheses.</p>"))
        controls = row(self.slider, self.text, *self.selects, sizing_mode="stretch_width")
        panels = row(column(p1, self.panel_msgs["plasma"], sizing_mode="stretch_width"),
                     column(p2, self.panel_msgs["receptor"], sizing_mode="stretch_width"),
                     sizing_mode="stretch_width")
        panels2 = row(column(p3, self.panel_msgs["immune"], sizing_mode="stretch_width"),
                      column(self.window_status, w1, w2, sizing_mode="stretch_width"),
                      sizing_mode="stretch_width")
        self.root = column(intro, controls, self.message, self.numbers, panels, panels2,
                           self.evidence, self.timing, sizing_mode="stretch_width",
                           styles={"padding": "8px 16px", "max-width": "1400px"})
        doc.add_root(self.root)
        doc.title = "ldnsim dose explorer"
        self.redraw()
        self._update_window()
        if self.provider.state == "computing":
            self._window_cb = doc.add_periodic_callback(self._update_window, 500)

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
        self.scenarios = tuple(s.value for s in self.selects)
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
        if view.scenarios != self._evidence_for:
            self.evidence.text = evidence_html(self.explorer.model, view.scenarios,
                                               self.explorer.receptor)
            self._evidence_for = view.scenarios
        t_all = time.perf_counter() - t0
        self.timing.text = (f"model {_esc(self.explorer.model.name)} "
                            f"({self.explorer.model.hash[:12]}); this view computed in "
                            f"<span data-key=\"redraw_seconds\">{t_all:.3f}</span> s "
                            f"(simulation {t_sim:.3f} s)")
        log.info("redraw dose=%g scenarios=%s in %.3f s", view.dose, view.scenarios, t_all)

    def _panel(self, key, fig, ok, message):
        fig.visible = ok
        self.panel_msgs[key].visible = not ok
        self.panel_msgs[key].text = _esc(message)

    def _draw_view(self, view):
        s = view.series
        missing = [m for k, m in view.missing.items() if k.startswith("plasma:")]
        if "plasma" in s:
            self.plasma.data = {k: np.asarray(v) for k, v in s["plasma"].items()}
        self._panel("plasma", self.plasma_fig, "plasma" in s, " ".join(missing))
        if "receptor" in s:
            rname = view.receptor[0]
            r = s["receptor"]
            thr = np.full_like(r[rname], C.BLOCKADE_THRESHOLD)
            self.receptor_source.data = {"t": r["t"], rname: r[rname], "thr": thr,
                                         "above": np.maximum(r[rname], thr)}
        self._panel("receptor", self.receptor_fig, "receptor" in s,
                    view.missing.get("receptor", ""))
        if "immune" in s:
            self.immune_source.data = dict(s["immune"])
        self._panel("immune", self.immune_fig, "immune" in s, view.missing.get("immune", ""))
        self.numbers.text = numbers_html(view, *self._window_row(view))

    # -------------------------------------------------------------------------- window
    def _window_row(self, view):
        table = self.provider.table if self.provider.state == "ready" else None
        if table is None:
            return None, None
        c = table.find(self.explorer.model, view.scenarios)
        if c is None or table.model_hash != self.explorer.model.hash:
            return None, None
        row = table.at_dose(c, view.dose)
        return (row, table) if row is not None else (None, None)

    def _update_window(self):
        state = self.provider.state
        if state == "computing":
            self.window_status.text = (
                "<b>Computing the window plot</b> (once: a population of virtual subjects "
                "over the dose range, about a minute; the rest of the page works meanwhile)"
                "\u2026")
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
            self.numbers.text = numbers_html(self.view, *self._window_row(self.view))

    def _draw_window(self):
        table = self.provider.table
        ex = self.explorer
        c = table.find(ex.model, self.scenarios)
        self._window_drawn = c
        if table.model_hash != ex.model.hash:
            msg = "The window plot was computed for another version of the model."
            c = None
        else:
            msg = (f"The window experiment <b>{_esc(table.experiment)}</b> has no run for "
                   f"{_esc(' + '.join(self.scenarios))}; it covers "
                   f"{_esc('; '.join(table.label(i) for i in range(len(table.combos))))}.")
        if c is None:
            self.window_status.text = msg
            for f in self.window_figs:
                f.visible = False
            return
        d = list(table.doses)
        q = table.quantiles
        self.win_immune.data = {"dose": d, "lo": list(table.immune[c][0]),
                                "mid": list(table.immune[c][len(q) // 2]),
                                "hi": list(table.immune[c][-1])}
        self.win_blockade.data = {"dose": d, "lo": list(table.blockade[c][0]),
                                  "mid": list(table.blockade[c][len(q) // 2]),
                                  "hi": list(table.blockade[c][-1])}
        left, right = _window_spans(d, table.fraction[c])
        self.win_spans.data = {"left": left, "right": right}
        self.window_figs[0].title.text = (f"Window across doses: immune readout after "
                                          f"{table.days:g} days")
        self.margin_span.location = C.IMMUNE_BASELINE - table.immune_margin
        self.limit_span.location = table.max_blockade_hours
        for f in self.window_figs:
            f.visible = True
        self.window_status.text = (
            f"<span class='muted' style='color:#666;font-size:13px'>From the experiment "
            f"<b>{_esc(table.experiment)}</b> ({table.n_subjects} virtual subjects per dose, "
            f"{_esc(table.label(c))}); green: doses where at least half the subjects are in "
            f"the window ({_esc(table.definition)}); red line: the chosen dose.</span>")

    def _draw_window_marker(self):
        self.marker_immune.location = self.dose
        self.marker_blockade.location = self.dose
        if self.provider.state == "ready":
            c = self.provider.table.find(self.explorer.model, self.scenarios)
            if c != self._window_drawn:
                self._draw_window()


def _window_spans(doses, fraction, min_fraction=0.5):
    """Dose intervals (geometric midpoints between grid doses) where ``fraction`` >= 0.5."""
    doses = np.asarray(doses, dtype=float)
    inside = np.asarray(fraction, dtype=float) >= min_fraction
    edges = np.sqrt(doses[:-1] * doses[1:])
    lo_edges = np.concatenate([[doses[0]], edges])
    hi_edges = np.concatenate([edges, [doses[-1]]])
    left, right = [], []
    for i, flag in enumerate(inside):
        if not flag:
            continue
        if left and math.isclose(right[-1], lo_edges[i]):
            right[-1] = float(hi_edges[i])
        else:
            left.append(float(lo_edges[i]))
            right.append(float(hi_edges[i]))
    return left, right


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
    from bokeh.application import Application
    from bokeh.application.handlers.function import FunctionHandler
    from bokeh.server.server import BaseServer
    from bokeh.server.tornado import BokehTornado
    from bokeh.server.util import bind_sockets
    from bokeh.settings import settings
    from tornado.httpserver import HTTPServer
    from tornado.ioloop import IOLoop

    def say(line):
        (out or partial(print, flush=True))(line)

    # BokehJS from this server, never from a CDN: the page must work offline.
    settings.resources.set_value("server")
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


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def _stop_on_sigterm():
    """SIGTERM stops the app as Ctrl+C does (so its clean-up runs); returns the old handler,
    or None where handlers cannot be set (not the main thread)."""
    try:
        return signal.signal(signal.SIGTERM, _interrupt)
    except ValueError:
        return None
