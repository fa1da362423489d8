"""``ldnsim app``: a dose explorer for low-dose naltrexone in the browser.

Move a daily-dose slider (0.1-300 mg, logarithmic, or type a dose), choose the formulation, the
PET-retention mechanism, the benefit hypothesis, the TLR4 arm and a sensitivity scenario, and
see what the model says at steady state: plasma naltrexone and 6-beta-naltrexol over a week,
brain MOR blockade as PET measures it over a day and hours of blockade per day, the receptors
on immune cells, the immune readout with the signal it reads, and the window plot (P(window
open) with bands across samples of the hypothesis parameters) with the chosen dose marked,
next to a panel saying which parts rest on data, which on assumptions and which on
hypotheses, with references.

Layout
------
- :mod:`ldnsim.app.content`: every model-specific name and text (outputs, scenario groups and
  labels, the scenarios left out, blockade threshold, the window experiment, evidence texts).
  Edit this when the model changes; ``logic.content_problems`` and the tests say where it no
  longer matches the model.
- :mod:`ldnsim.app.logic`: pure logic (input checks, scenario groups, steady-state runs
  through ``ldnsim.simulate``, cached); no web framework.
- :mod:`ldnsim.app.window`: the window table, from an experiment run once in a child process
  and cached in the ldnsim cache directory, keyed on the experiment text and the model hash.
- :mod:`ldnsim.app.panels`: the text panels as HTML (numbers, evidence, references).
- :mod:`ldnsim.app.server`: the web layer (the only module that imports Bokeh).

Decisions
---------
**Framework: a Bokeh server.** Bokeh serves BokehJS from the Python package itself (resources
mode ``server``, set explicitly, so no page asset ever comes from a CDN and the app works
offline; the browser test checks that every request goes to 127.0.0.1). Plots are drawn in
the browser from data columns, so a dose change ships a few kB of numbers over the open
websocket instead of re-rendering images on the server: the redraw is the simulation
(~0.1 s, then cached) plus milliseconds. Its Python callbacks make the app a plain class
over the pure logic, and the browser test can read the plotted columns back from the page
(``Bokeh.documents[0].get_model_by_name(...)``) and compare them with ``ldnsim.simulate``
exactly. Panel would add a layer (templates, param) over the same Bokeh models that this page
does not need, and a slower start; Shiny for Python draws matplotlib figures as server-side
images (several per dose change) and has no log slider.

**Browser driver (tests): Playwright for Python** driving Debian's Chromium
(``executable_path="/usr/bin/chromium"``; Playwright never downloads a browser here). It
records every request the page makes, which is how the offline check is done, and its
selectors reach into the shadow DOM that Bokeh renders widgets in.

**Uncertainty.** The time courses are the model's reference subject at the model file's
parameter values. The window plot carries the uncertainty as the headline experiment does:
``experiments/app_window.toml`` is the headline made smaller (10 Latin-hypercube samples of
the hypothesis parameters x the headline's 6 virtual subjects x 11 doses x the two benefit
hypotheses, 1,320 runs, about 25 s of CPU), computed once per model and experiment text in a
child process at lower priority; the page says so while it runs. Choices the window
experiment did not run (racemic, slow_biophase, nfkb_branch, the sensitivity scenarios) get a
message instead of a window plot.

**The mouse scenario is not offered**: it simulates Zagon's experiments in a 25 g mouse
(subcutaneous doses in mg per mouse), which a human mg/day slider cannot express; the page
says so and where it is run instead.
"""
from __future__ import annotations

__all__ = ["serve", "add_parser", "main"]

DEFAULT_PORT = 5006


def serve(*args, **kwargs):
    """Start the app (see :func:`ldnsim.app.server.serve`); imports Bokeh on first use."""
    from .server import serve as _serve
    return _serve(*args, **kwargs)


def add_parser(subparsers):
    """Add the ``app`` subcommand to the ``ldnsim`` command line; returns its parser."""
    a = subparsers.add_parser("app", help="start the dose explorer in the browser (127.0.0.1)")
    a.add_argument("--port", type=int, default=DEFAULT_PORT,
                   help=f"port (default {DEFAULT_PORT}; 0: any free port)")
    a.add_argument("--no-browser", action="store_true", help="do not open a browser")
    a.add_argument("--window-experiment", metavar="EXPERIMENT",
                   help="experiment for the window plot (default: app_window)")
    a.set_defaults(func=main)
    return a


def main(args):
    """``ldnsim app``: serve until interrupted; returns the exit status (0)."""
    import importlib.util

    from .logic import AppServeError

    if importlib.util.find_spec("bokeh") is None:
        raise AppServeError("the app needs Bokeh: pip install 'ldnsim[app]'")
    serve(args.port, open_browser=not args.no_browser,
          window_experiment=args.window_experiment)
    return 0
