"""Start ``ldnsim app`` in a child process and drive it with headless Chromium (Playwright).

Shared by tests/test_app_browser.py and benchmarks/app_redraw.py. The browser is Debian's
Chromium (``apt-get install chromium``, as .ci/run does); Playwright is pointed at it and
never downloads a browser of its own.
"""
from __future__ import annotations

import contextlib
import os
import queue
import re
import shutil
import subprocess
import sys
import threading
import time

CHROMIUM = os.environ.get("LDNSIM_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
_SERVING = re.compile(r"serving at (http://127\.0\.0\.1:\d+/)")


def chromium_path():
    """The Chromium executable, or an AssertionError saying how to install it."""
    path = CHROMIUM if os.path.isfile(CHROMIUM) else shutil.which("chromium")
    assert path, ("headless Chromium is needed for the browser tests: "
                  "apt-get install -y chromium (.ci/run does this)")
    return path


@contextlib.contextmanager
def running_app(*args, timeout=600.0, env=None):
    """Run ``python -m ldnsim app --port 0 --no-browser *args``; yield ``(url, lines)``.

    ``lines`` is a list that keeps collecting the app's output. The app is stopped (SIGTERM to
    its process id) on exit, and ``"<exit status N>"`` is appended to ``lines``.
    """
    cmd = [sys.executable, "-m", "ldnsim", "app", "--port", "0", "--no-browser", *args]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, **(env or {})})
    lines, q = [], queue.Queue()

    def pump():
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))
            q.put(line)
        q.put(None)

    pumper = threading.Thread(target=pump, daemon=True)
    pumper.start()
    url = None
    deadline = time.monotonic() + timeout
    try:
        while url is None:
            try:
                line = q.get(timeout=max(deadline - time.monotonic(), 0.01))
            except queue.Empty:
                raise AssertionError(f"ldnsim app did not start in {timeout:g} s: "
                                     f"{lines[-5:]}") from None
            if line is None:
                raise AssertionError(f"ldnsim app exited ({proc.wait()}): {lines[-10:]}")
            m = _SERVING.search(line)
            if m:
                url = m.group(1)
        yield url, lines
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        pumper.join(10)
        proc.stdout.close()
        lines.append(f"<exit status {proc.returncode}>")


@contextlib.contextmanager
def chromium():
    """A headless Chromium browser (Playwright ``Browser``)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


# JavaScript that reads Bokeh models by name from the page.
_JS_SOURCE = """name => {
  const m = Bokeh.documents[0].get_model_by_name(name);
  const data = m.data instanceof Map ? Object.fromEntries(m.data) : m.data;
  const out = {};
  for (const k of Object.keys(data)) out[k] = Array.from(data[k]);
  return out;
}"""
_JS_ATTR = """([name, attr]) => {
  const m = Bokeh.documents[0].get_model_by_name(name);
  return m[attr];
}"""


def source_data(page, name):
    """Columns of the ColumnDataSource ``name`` as the browser has them (dict of lists)."""
    return page.evaluate(_JS_SOURCE, name)


def model_attr(page, name, attr):
    """Attribute ``attr`` of the Bokeh model ``name`` in the browser."""
    return page.evaluate(_JS_ATTR, [name, attr])


def number(page, key):
    """Text of the number shown with ``data-key=key``."""
    return page.locator(f"[data-key={key}]").first.inner_text().strip()


def wait_for_number(page, key, text, timeout=30_000):
    """Wait until the number ``key`` reads ``text``."""
    page.wait_for_function(
        """([key, text]) => {
             const find = (root) => {
               const el = root.querySelector(`[data-key="${key}"]`);
               if (el) return el;
               for (const host of root.querySelectorAll('*')) {
                 if (host.shadowRoot) { const f = find(host.shadowRoot); if (f) return f; }
               }
               return null;
             };
             const el = find(document);
             return el !== null && el.textContent.trim() === text;
           }""", arg=[key, text], timeout=timeout, polling=20)


def set_dose_by_typing(page, text):
    """Type ``text`` into the dose box and press Enter."""
    box = page.locator("input[type=text]").first
    box.fill(text)
    box.press("Enter")


def drag_slider(page, fraction):
    """Drag the dose slider's handle to ``fraction`` (0-1) of its track, as a person would."""
    handle = page.locator(".noUi-handle").first
    track = page.locator(".noUi-base").first
    hb, tb = handle.bounding_box(), track.bounding_box()
    page.mouse.move(hb["x"] + hb["width"] / 2, hb["y"] + hb["height"] / 2)
    page.mouse.down()
    page.mouse.move(tb["x"] + fraction * tb["width"], hb["y"] + hb["height"] / 2, steps=8)
    page.mouse.up()


# ---------------------------------------------------------------- the numbers, independently
#: Outputs whose peak and trough over the last day the page prints (ldn model, second version).
DAY_OUTPUTS = ("C_ntx", "C_6bn", "pet_inhibition", "occupancy_mor_drug", "occupancy_ogfr",
               "occupancy_mor_peripheral", "occupancy_kor")


def reference_run(dose, scenarios, days=56):
    """``ldnsim.simulate`` for ``dose`` mg once a day for ``days`` days, output every hour and
    every 15 min over the last week (built here, not by the app)."""
    import numpy as np

    import ldnsim

    t = np.concatenate([np.arange(0, (days - 7) * 24.0, 1.0),
                        np.arange((days - 7) * 24.0, days * 24.0 + 1e-9, 0.25)])
    return ldnsim.simulate("ldn", t, scenarios=tuple(scenarios),
                           regimen=ldnsim.Regimen.repeat(dose, every=24.0, count=days))


def reference_numbers(ds):
    """The numbers the page shows, computed from a run with ldnsim's own functions."""
    import numpy as np

    from ldnsim.metrics import blockade_hours

    t = ds.time.values
    last_day = t >= t[-1] - 24 - 1e-9
    out = {}
    for name in DAY_OUTPUTS + ("signal_immune",):
        out[f"{name}_peak"] = float(ds[name].values[last_day].max())
        out[f"{name}_trough"] = float(ds[name].values[last_day].min())
    out["signal_immune_mean"] = float(np.trapezoid(ds["signal_immune"].values[last_day],
                                                   t[last_day]) / 24.0)
    out["blockade_hours"] = float(blockade_hours(ds, "pet_inhibition", 0.5,
                                                 last_days=7)["blockade_hours"])
    out["immune_end"] = float(ds["immune_index"].values[-1])
    return out


def choose_scenario(page, group, scenario):
    """Choose ``scenario`` (None: none of the group) in the control of scenario group
    ``group`` (its index); the control shows labels, :data:`ldnsim.app.content.SCENARIO_LABELS`."""
    from ldnsim.app import content

    label = (content.NO_SCENARIO_LABEL if scenario is None
             else content.SCENARIO_LABELS.get(scenario, scenario))
    page.locator(f"select[name=scenario_{group}]").select_option(label=label)


_JS_TEXT = """() => {
  const parts = [document.body.innerText];
  const walk = (root) => {
    for (const el of root.querySelectorAll('*')) {
      if (el.shadowRoot) {
        for (const c of el.shadowRoot.children) if (c.innerText) parts.push(c.innerText);
        walk(el.shadowRoot);
      }
    }
  };
  walk(document);
  return parts.join('\\n');
}"""


def page_text(page):
    """All text on the page, including what Bokeh renders inside shadow roots."""
    return page.evaluate(_JS_TEXT)
