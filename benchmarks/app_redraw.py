"""How long does ``ldnsim app`` take to redraw after a dose change, as a person sees it?

Starts the app (``python -m ldnsim app --port 0 --no-browser``), opens it in headless
Chromium (Debian's package, driven by Playwright), waits for the window plot, then changes the
dose and times each change from the action (Enter in the dose box, or releasing the slider)
to the new numbers on screen:

* ``typed, new dose``: a dose not simulated before (the steady-state run is computed);
* ``typed, cached``: the same doses again (the run comes from the cache);
* ``slider drag``: dragging the slider handle to a new position (new doses).

It also records the server's own share (the simulation and building the view, as the page's
footer reports it), and first the cost of the window plot's experiment: the wall and CPU time
(all threads of this process) of computing its table once, the model already compiled.
Writes ``benchmarks/results/app_redraw.json``; ``--screenshot PATH`` saves the page at the
default dose once the window plot is drawn (the README's screenshot is
``--screenshot docs/app.png``).

    python benchmarks/app_redraw.py [--doses 12] [--screenshot docs/app.png] [--no-window-cost]
"""
from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[0] / "tests"))
sys.path.insert(0, str(HERE))
from ldnsim.app.logic import format_number, slider_to_dose  # noqa: E402

from app_driver import (  # noqa: E402
    chromium,
    drag_slider,
    model_attr,
    number,
    running_app,
    set_dose_by_typing,
    wait_for_number,
)
from common import env_info, write_json  # noqa: E402

# The slider's value on release; unset (an error in BokehJS) until it was first dragged.
_THROTTLED = """() => { try { return Bokeh.documents[0].get_model_by_name('dose_slider')
                             .value_throttled; } catch (e) { return null; } }"""


def server_seconds(page):
    return float(number(page, "redraw_seconds"))


def typed(page, doses):
    out = []
    for dose in doses:
        t0 = time.perf_counter()
        set_dose_by_typing(page, format_number(dose))
        wait_for_number(page, "dose", format_number(dose))
        out.append((time.perf_counter() - t0, server_seconds(page)))
    return out


def dragged(page, fractions):
    out = []
    for f in fractions:
        before = page.evaluate(_THROTTLED)
        t0 = time.perf_counter()
        drag_slider(page, f)
        page.wait_for_function(f"v => ({_THROTTLED})() !== v", arg=before, timeout=30_000,
                               polling=10)
        dose = slider_to_dose(model_attr(page, "dose_slider", "value_throttled"))
        wait_for_number(page, "dose", format_number(dose))
        out.append((time.perf_counter() - t0, server_seconds(page)))
    return out


def window_cost(source):
    """Wall and CPU seconds of computing the window table of ``source`` once (not stored)."""
    from ldnsim.app.window import compute_window
    from ldnsim.experiment import load_experiment

    exp = load_experiment(source)
    exp.plan.model.compile()          # compiled (or loaded) before the clock starts
    before = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    table = compute_window(source)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    runs = len(table.doses) * len(table.combos) * max(table.n_samples, 1) * table.n_subjects
    return {"experiment": exp.name, "runs": runs, "wall_s": wall, "cpu_s": cpu,
            "cpu_ms_per_run": 1000 * cpu / runs}


def summary(rows):
    e2e = [r[0] for r in rows]
    srv = [r[1] for r in rows]
    return {"n": len(rows), "median_s": statistics.median(e2e), "max_s": max(e2e),
            "server_median_s": statistics.median(srv), "server_max_s": max(srv),
            "all_s": [round(x, 4) for x in e2e]}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--doses", type=int, default=12, help="new doses typed (default 12)")
    p.add_argument("--window-experiment", help="window experiment (default: the app's)")
    p.add_argument("--screenshot", help="save the page at the default dose here")
    p.add_argument("--out", default=str(HERE / "results" / "app_redraw.json"))
    p.add_argument("--no-window-cost", action="store_true",
                   help="skip timing the window experiment")
    args = p.parse_args(argv)

    cost = None
    if not args.no_window_cost:
        from ldnsim.app import content

        cost = window_cost(args.window_experiment or content.WINDOW_EXPERIMENT)
        print(f"window experiment {cost['experiment']}: {cost['runs']} runs, "
              f"{cost['cpu_s']:.1f} s of CPU ({cost['cpu_ms_per_run']:.1f} ms a run), "
              f"{cost['wall_s']:.1f} s wall")

    extra = ["--window-experiment", args.window_experiment] if args.window_experiment else []
    t_start = time.perf_counter()
    with running_app(*extra) as (url, lines), chromium() as browser:
        t_serving = time.perf_counter() - t_start
        page = browser.new_page(viewport={"width": 1400, "height": 1650})
        requests = []
        page.on("request", lambda r: requests.append(r.url))
        t0 = time.perf_counter()
        page.goto(url)
        page.wait_for_selector("[data-key=C_ntx_peak]", timeout=60_000)
        t_first_page = time.perf_counter() - t0
        t0 = time.perf_counter()
        page.wait_for_function("() => Bokeh.documents[0].get_model_by_name("
                               "'window_immune_source').data.dose.length > 0",
                               timeout=900_000, polling=200)
        t_window = time.perf_counter() - t0
        if args.screenshot:
            page.wait_for_timeout(500)
            page.screenshot(path=args.screenshot, full_page=True)
        # New doses between 0.1 and 300 mg that the app has not run (off the 3-digit grid of
        # the slider's defaults and of the README's doses).
        rng = np.random.default_rng(1)
        doses = sorted({float(format_number(d)) for d in
                        10 ** rng.uniform(-1, np.log10(300), args.doses)})
        new = typed(page, doses)
        cached = typed(page, doses)
        drags = dragged(page, [0.15, 0.35, 0.55, 0.75, 0.95, 0.25])
        hosts = sorted({r.split("/")[2] for r in requests})
    result = {
        "what": "ldnsim app: time from a dose change to the new numbers on screen (headless "
                "Chromium, Playwright), and the server's share",
        "env": env_info(),
        "window_experiment_cost": cost,
        "seconds_to_serving": t_serving, "seconds_first_page": t_first_page,
        "seconds_window_ready_after_first_page": t_window,
        "typed_new_dose": summary(new), "typed_cached_dose": summary(cached),
        "slider_drag_new_dose": summary(drags), "doses": doses, "request_hosts": hosts,
    }
    path = write_json(args.out, result)
    print(f"app serving after {t_serving:.1f} s; first page {t_first_page:.2f} s; window plot "
          f"ready {t_window:.1f} s later; requests went to {', '.join(hosts)}")
    print("| change | n | median (s) | max (s) | server median (s) | server max (s) |")
    print("|---|---|---|---|---|---|")
    for name, key in (("typed, new dose", "typed_new_dose"),
                      ("typed, cached dose", "typed_cached_dose"),
                      ("slider drag, new dose", "slider_drag_new_dose")):
        s = result[key]
        print(f"| {name} | {s['n']} | {s['median_s']:.3f} | {s['max_s']:.3f} | "
              f"{s['server_median_s']:.3f} | {s['server_max_s']:.3f} |")
    print(f"wrote {path}")
    if args.screenshot:
        print(f"wrote {args.screenshot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
