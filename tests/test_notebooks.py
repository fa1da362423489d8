"""The teaching notebooks: run through a real Jupyter kernel, stored outputs current.

Each notebook is executed with nbclient in a fresh ``python3`` kernel (exactly as
``python notebooks/execute.py`` does before a commit) and its text outputs are compared with the
ones stored in the file: a notebook whose model, code or text changed without re-executing it
fails here. Figure bytes, widget ids and memory addresses are not compared; that a cell draws a
figure (and how many, of which size) is.
"""
from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NB_DIR = ROOT / "notebooks"

_spec = importlib.util.spec_from_file_location("nb_execute", NB_DIR / "execute.py")
nb_execute = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(nb_execute)

NOTEBOOKS = nb_execute.notebooks()
EXPECTED = ["01_pharmacokinetics", "02_receptor_occupancy", "03_rebound_hypotheses",
            "04_isomers_and_tlr4", "05_the_dose_window", "06_your_own_study"]
#: Stored with outputs, but small enough to read on a code-hosting site.
MAX_BYTES = 1_000_000
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{6,}")


def _read(path):
    import nbformat

    return nbformat.read(str(path), as_version=4)


def text_outputs(nb):
    """Per code cell, the comparable outputs: (kind, normalised text) pairs.

    Streams and the ``text/plain`` of results and displays are compared (a figure's text is
    ``<Figure size WxH with N Axes>``); image bytes, HTML and widget-view ids are not. Errors
    compare by name and message.
    """
    cells = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        outs = []
        for out in cell.get("outputs", []):
            kind = out["output_type"]
            if kind == "stream":
                text = out["text"]
                kind = f"stream:{out['name']}"
            elif kind == "error":
                text = f"{out['ename']}: {out['evalue']}"
            else:
                text = out.get("data", {}).get("text/plain", "")
                if isinstance(text, list):
                    text = "".join(text)
            text = _ADDRESS.sub("0x...", "\n".join(ln.rstrip() for ln in text.splitlines()))
            outs.append((kind, text))
        # Consecutive stream chunks are one print as far as the reader can tell.
        merged = []
        for kind, text in outs:
            if merged and kind.startswith("stream") and merged[-1][0] == kind:
                merged[-1] = (kind, merged[-1][1] + "\n" + text)
            else:
                merged.append((kind, text))
        cells.append(merged)
    return cells


def test_the_six_notebooks_are_there():
    assert [p.stem for p in NOTEBOOKS] == EXPECTED


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_stored_with_outputs_and_reads_as_a_lesson(path):
    nb = _read(path)
    assert path.stat().st_size < MAX_BYTES
    code = [c for c in nb.cells if c.cell_type == "code"]
    markdown = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    # executed top to bottom in one session, with outputs kept
    assert [c.execution_count for c in code] == list(range(1, len(code) + 1))
    assert sum(bool(c.outputs) for c in code) >= len(code) - 1
    assert not any(o.output_type == "error" for c in code for o in c.outputs)
    assert not any(o.output_type == "stream" and o.name == "stderr" for c in code
                   for o in c.outputs), "a warning was printed"
    # the parts of a lesson: a question, rendered equations, figures, exercises with hints
    assert nb.cells[0].source.startswith(f"# {int(path.stem[:2])}. ")
    assert "**The question" in nb.cells[0].source
    assert "$$" in markdown
    assert "## Exercises" in markdown
    exercises = markdown.split("## Exercises", 1)[1]
    assert 2 <= len(re.findall(r"^\d\. \*\*", exercises, re.M)) <= 4
    assert exercises.count("*Hint:*") >= 2
    figures = [c for c in code if any("image/png" in o.get("data", {}) for o in c.outputs)]
    assert figures
    for c in figures:  # every figure names its axes (plot_window labels its own)
        assert ("set_ylabel" in c.source and "set_xlabel" in c.source) or "plot_window" in c.source
    # sliders where they help (not in 06, which is about writing files), behind a fallback
    # that runs without ipywidgets
    sources = "\n".join(c.source for c in code)
    if path.stem != "06_your_own_study":
        assert "widgets.interact(" in sources and "except ImportError" in sources


@pytest.fixture(scope="session")
def warm_models():
    """Compile the models the notebooks use once, into the session's cache directory (the
    kernels inherit ``LDNSIM_CACHE_DIR``), so each notebook runs warm."""
    import numpy as np

    import ldnsim

    for name in ("ldn", "nfkb_krishna"):
        ldnsim.simulate(ldnsim.load_model(name), np.array([0.0, 1.0]))
    ldnsim.run_experiment({  # the sweep's batch kernel
        "experiment": {"name": "warm"}, "model": {"name": "ldn"},
        "regimen": {"dose": 1.0, "every": 24.0, "count": 1}, "output": {"t_end": 2.0},
        "sweep": {"dose": [1.0, 2.0]}}, progress=False)


@pytest.mark.slow  # a kernel start and a whole notebook each
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_in_a_kernel_and_its_stored_outputs_are_current(path, warm_models):
    stored = text_outputs(_read(path))
    # a cell timeout of 120 s: a lost kernel message fails in 2 min, not 10
    fresh_nb, _seconds = nb_execute.execute(path, timeout=120)
    fresh = text_outputs(fresh_nb)
    assert len(fresh) == len(stored)
    for i, (old, new) in enumerate(zip(stored, fresh)):
        assert new == old, (f"{path.name}, code cell {i + 1}: the stored output is not what "
                            "the notebook prints now; rerun python notebooks/execute.py "
                            f"{path.name} and commit it")
