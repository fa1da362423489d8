"""The page's text panels as HTML: the table of numbers and the evidence panel.

Pure functions of a :class:`~ldnsim.app.logic.View`, the model and the window table; no web
framework. Every value printed comes from the view or the table (``<span data-key=...>``
elements carry the values the browser test reads); every text from :mod:`content` or the
model file; every reference from the model's references file. The HTML uses the classes of
:data:`PAGE_CSS`, which the page attaches once to each text panel as a style sheet (not a
``<style>`` element in the text, which restyled the page on every redraw).
"""
from __future__ import annotations

import html
import math
import re
from pathlib import Path

from . import content as C
from .logic import format_number

__all__ = ["PAGE_CSS", "KIND_COLORS", "references", "numbers_html", "evidence_html",
           "window_spans"]

KIND_COLORS = {"data": "#1b7837", "hypothesis": "#b35806", "assumption": "#5e3c99"}
PAGE_CSS = """
table.ldn { border-collapse: collapse; font-size: 14px; }
table.ldn td, table.ldn th { padding: 3px 10px; border-bottom: 1px solid #e5e5e5;
  text-align: left; vertical-align: top; }
table.ldn td.v { text-align: right; font-variant-numeric: tabular-nums; font-weight: 600; }
table.ldn tr.sec td { font-weight: 600; background: #f4f4f4; }
.muted { color: #666; font-size: 13px; }
.tag { display: inline-block; padding: 0 6px; border-radius: 3px; color: white;
  font-size: 12px; margin-right: 6px; }
"""
_KEY = re.compile(r"\[([a-z][a-z0-9_]*)\]")
_ITALIC = re.compile(r"\*([^*]+)\*")


def _esc(text):
    return html.escape(str(text), quote=True)


# --------------------------------------------------------------------------------- references
def references(model):
    """Key -> citation (HTML) from the references file beside the model file (``### key``
    headings, the entry below each; ``*italics*`` kept). Empty when there is no such file."""
    path = getattr(model, "path", None)
    if path is None:
        return {}
    try:
        text = (Path(path).with_name(C.REFERENCES_FILE)).read_text(encoding="utf-8")
    except OSError:
        return {}
    refs, key, body = {}, None, []
    for line in text.splitlines() + ["#"]:
        if line.startswith("#"):  # any heading ends an entry; "### key" starts one
            if key and body:
                refs[key] = _ITALIC.sub(r"<i>\1</i>", _esc(" ".join(body)))
            key = line[4:].strip() if line.startswith("### ") else None
            body = []
        elif key and line.strip():
            body.append(line.strip())
    return refs


class _Citations:
    """Numbered citations in order of first use, rendered as ``[n]``."""

    def __init__(self, refs):
        self.refs, self.used = refs, []

    def cite(self, keys):
        out = []
        for k in keys:
            if k not in self.used:
                self.used.append(k)
            out.append(f"[{self.used.index(k) + 1}]")
        return " ".join(out)

    def inline(self, text):
        """``text`` escaped, each ``[key]`` of the references file turned into ``[n]``."""
        parts, last = [], 0
        for m in _KEY.finditer(text):
            if m.group(1) in self.refs:
                parts += [_esc(text[last:m.start()]), self.cite((m.group(1),))]
                last = m.end()
        return "".join(parts) + _esc(text[last:])

    def html(self):
        missing = " (not in the model's references file)"
        items = "".join(f"<li>{self.refs.get(k, _esc(k) + missing)}</li>" for k in self.used)
        return f"<ol class='muted' style='margin-top:0'>{items}</ol>"


# ------------------------------------------------------------------------------------ numbers
def numbers_html(view, window_rows=(), table=None):
    """The table of numbers for ``view``; ``window_rows`` (from
    :meth:`~ldnsim.app.window.WindowTable.at_dose`) add the window run's values at the
    chosen dose."""
    n = view.numbers

    def cell(key):
        return (f'<td class="v"><span data-key="{key}">{format_number(n.get(key))}</span>'
                f'</td>')

    def row(label, keys, unit="", note=""):
        values = "".join(cell(k) for k in keys) + ("<td></td>" if len(keys) == 1 else "")
        return (f"<tr><td>{_esc(label)}</td>{values}<td>{_esc(unit)}</td>"
                f"<td class='muted'>{note}</td></tr>")

    def section(title):
        return f"<tr class='sec'><td colspan='5'>{_esc(title)}</td></tr>"

    def peak_trough(outputs, unit, prefix=""):
        return [row(prefix + label, (f"{name}_peak", f"{name}_trough"), unit)
                for name, label in outputs if f"{name}_peak" in n]

    rows = ["<tr><th></th><th>peak</th><th>trough</th><th></th><th></th></tr>",
            section("Plasma, over the last day")]
    rows += peak_trough(C.PLASMA_OUTPUTS, "ng/mL")
    rows.append(section("Brain \u03bc-opioid receptors"))
    rows += peak_trough(C.BRAIN_OUTPUTS, "fraction")
    if "blockade_hours" in n and view.blockade is not None:
        rows.append(row("hours of blockade per day", ("blockade_hours",), "h/day",
                        f"{_esc(view.blockade[0])} &gt; {C.BLOCKADE_THRESHOLD:g}, mean of the "
                        f"last {C.BLOCKADE_LAST_DAYS} days"))
    rows.append(section("Receptors on immune cells (periphery)"))
    rows += peak_trough(C.PERIPHERAL_OUTPUTS, "fraction")
    sname, slabel = C.IMMUNE_SIGNAL
    if f"{sname}_mean" in n:
        rows.append(row(f"{slabel} (untreated = 1)", (f"{sname}_peak", f"{sname}_trough"),
                        "relative",
                        f"mean over the last day <span data-key=\"{sname}_mean\">"
                        f"{format_number(n[f'{sname}_mean'])}</span>"))
    if "immune_end" in n:
        rows.append(section("Immune readout (hypothesis)"))
        change = n["immune_end"] / C.IMMUNE_BASELINE - 1.0
        sign = "+" if change >= 0 else "\u2212"
        rows.append(row(f"{C.IMMUNE_LABEL}, day {view.days}", ("immune_end",), "",
                        f"{sign}{abs(100 * change):.0f}% vs untreated"))
    if window_rows and table is not None:
        rows.append(section(f"Window run ({_esc(table.experiment)}), the population"))
        rows += [_window_row(i, r, table) for i, r in enumerate(window_rows)]
    notes = "".join(f"<p class='muted'>{_esc(x)}</p>" for x in view.notes)
    head = (f"<h3 style='margin:4px 0'>At <span data-key=\"dose\">{format_number(view.dose)}"
            f"</span> mg/day, steady state ({_esc(' + '.join(view.scenarios))})</h3>")
    return (f"{head}<table class='ldn'>{''.join(rows)}</table>"
            f"{notes}")


def _window_row(i, r, table):
    """One dose of the window run: P(window open) and the bands, as the headline reports."""
    unit = {"draw": "parameter draws", "sample": "samples",
            "subject": "virtual subjects"}.get(table.across, "runs")
    k = r["p_open"] * table.n_units
    count = (f"{round(k)} of {table.n_units} {unit}; " if math.isfinite(k)
             and abs(k - round(k)) < 1e-9 else "")
    lo, hi = f"{100 * table.quantiles[0]:g}", f"{100 * table.quantiles[-1]:g}"
    im, bl = r["immune"], r["blockade"]
    mid = len(im) // 2
    note = (f"{count}immune readout {format_number(im[mid])} [{lo}-{hi}%: "
            f"{format_number(im[0])}\u2013{format_number(im[-1])}], blockade "
            f"{format_number(bl[mid])} [{format_number(bl[0])}\u2013{format_number(bl[-1])}] "
            f"h/day; immune readout at least {table.immune_margin:g} below untreated in "
            f"{r['p_immune']:.2f} of the {unit}, ignoring blockade")
    return (f"<tr><td>P(window open) at <span data-key=\"window_dose_{i}\">"
            f"{format_number(r['dose'])}</span> mg/day</td><td class='v'><span "
            f"data-key=\"window_p_open_{i}\">{r['p_open']:.2f}</span></td><td></td><td></td>"
            f"<td class='muted'>{_esc(note)}</td></tr>")


# ----------------------------------------------------------------------------------- evidence
def _tag(kind):
    return (f'<span class="tag" style="background:{KIND_COLORS.get(kind, "#555")}">'
            f'{_esc(C.KIND_LABELS.get(kind, kind))}</span>')


def _window_text(item, table):
    names = ", ".join(table.sampled) or "none"
    template = item["text"] if table.across == "draw" else item["text_samples"]
    text = template.format(days=table.days, margin=table.immune_margin,
                               hours=table.max_blockade_hours, threshold=table.threshold,
                               n_samples=table.n_samples, n_subjects=table.n_subjects,
                               sampled=names)
    return text


def _trials_text(item, table):
    text = item["text"]
    if table is None or C.TRIAL_DOSE not in table.doses:
        return text
    d = table.doses.index(C.TRIAL_DOSE)
    parts = [f"{table.p_open[c][d]:.2f} ({table.label(c)})" for c in range(len(table.combos))]
    return f"{text} {item['run_text'].format(dose=C.TRIAL_DOSE, values='; '.join(parts))}"


def evidence_html(model, view, table=None, problems=()):
    """The data / assumption / hypothesis panel for what is on screen, with references.

    Parameters
    ----------
    model : Model
    view : View
        What is on screen (its panels and scenarios).
    table : WindowTable, optional
        The window run drawn on the page (its row is left out without one).
    problems : sequence of str
        Where the page's content and the model disagree (listed first).
    """
    cites = _Citations(references(model))
    shown = set(view.series) | ({"blockade"} if "blockade_hours" in view.numbers else set())
    shown |= {"trials"} | ({"window"} if table is not None else set())
    rows = []
    for item in C.EVIDENCE:
        if item["panel"] not in shown:
            continue
        if item["panel"] == "window":
            text = _window_text(item, table)
        elif item["panel"] == "trials":
            text = _trials_text(item, table)
        else:
            text = item["text"]
        rows.append(f"<tr><td>{_tag(item['kind'])}</td><td><b>{_esc(item['part'])}</b></td>"
                    f"<td>{_esc(text)} {cites.cite(item['refs'])}</td></tr>")
    for name in view.scenarios:
        sc = model.scenarios.get(name)
        if sc is None:
            continue
        kind, note, keys = C.SCENARIO_NOTES.get(name, (None, "", ()))
        desc = cites.inline(sc.description + (f" (source: {sc.source})" if sc.source else ""))
        extra = f" {_esc(note)} {cites.cite(keys)}" if note else ""
        rows.append(f"<tr><td>{_tag(kind) if kind else ''}</td><td><b>scenario "
                    f"{_esc(name)}</b></td><td>{desc}.{extra}</td></tr>")
    for name, (note, keys) in C.SCENARIOS_LEFT_OUT.items():
        if name in model.scenarios:
            rows.append(f"<tr><td></td><td><b>not on this page: {_esc(name)}</b></td>"
                        f"<td>{_esc(note)} {cites.cite(keys)}</td></tr>")
    issues = "".join(f"<p style='color:#b00020'>{_esc(p)}.</p>" for p in problems)
    return (f"<h3 style='margin:4px 0'>What is data, what is "
            f"assumption, what is hypothesis</h3>{issues}<table class='ldn'>{''.join(rows)}"
            f"</table><p class='muted' style='margin:6px 0 2px'>References "
            f"(models/{C.REFERENCES_FILE})</p>{cites.html()}"
            f"<p class='muted'>Time courses are the model's reference subject at the model "
            f"file's parameter values; the window plot adds the uncertainty: samples of the "
            f"hypothesis parameters and virtual subjects. Every parameter, its source and its "
            f"evidence grade: the model card (models/README.md). Not medical advice.</p>")


# ------------------------------------------------------------------------------------- window
def window_spans(doses, p_open, at_least=C.WINDOW_OPEN):
    """Dose intervals (geometric midpoints between grid doses) where ``p_open >= at_least``.

    Returns
    -------
    (list of float, list of float) : left and right ends of the intervals.
    """
    doses = [float(d) for d in doses]
    inside = [p >= at_least for p in p_open]
    edges = [math.sqrt(a * b) for a, b in zip(doses[:-1], doses[1:])]
    lo_edges, hi_edges = [doses[0]] + edges, edges + [doses[-1]]
    left, right = [], []
    for i, flag in enumerate(inside):
        if not flag:
            continue
        if left and math.isclose(right[-1], lo_edges[i]):
            right[-1] = hi_edges[i]
        else:
            left.append(lo_edges[i])
            right.append(hi_edges[i])
    return left, right
