"""Run the teaching notebooks through a Jupyter kernel and store their outputs.

    python notebooks/execute.py                 # every notebook, in place
    python notebooks/execute.py 03_rebound_hypotheses.ipynb

The notebooks are committed with their outputs (they read on a code-hosting site without
running). Run this after changing a notebook or the model, then commit the notebooks:
``tests/test_notebooks.py`` re-executes each one and fails when a stored text output differs
from the new one. Execution times are printed, not stored.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def notebooks():
    """The teaching notebooks, in reading order (``NN_name.ipynb``)."""
    return sorted(HERE.glob("[0-9][0-9]_*.ipynb"))


def execute(path, timeout=600):
    """Execute the notebook at ``path`` in a fresh ``python3`` kernel; return (notebook, seconds).

    The kernel starts in the notebook's folder. Cell timings, widget views and widget state
    (what a live slider drew) are not stored, so the stored file changes only when an output
    does. Raises
    ``nbclient.exceptions.CellExecutionError`` naming the failing cell.
    """
    import nbclient
    import nbformat

    nb = nbformat.read(str(path), as_version=4)
    client = nbclient.NotebookClient(
        nb, timeout=timeout, kernel_name="python3", record_timing=False,
        store_widget_state=True, resources={"metadata": {"path": str(Path(path).parent)}})
    start = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - start
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = _tidy(cell.outputs)
    return nb, seconds


def _tidy(outputs):
    """Outputs that do not change from run to run: consecutive stream chunks joined (the
    kernel splits prints by timing), and no widget views (their ids are random and, without
    the widget state, nothing can show them; the ``text/plain`` line stays)."""
    tidy = []
    for out in outputs:
        if (out.output_type == "stream" and tidy and tidy[-1].output_type == "stream"
                and tidy[-1].name == out.name):
            tidy[-1].text += out.text
            continue
        out.get("data", {}).pop("application/vnd.jupyter.widget-view+json", None)
        tidy.append(out)
    return tidy


def main(argv=None):
    import nbformat

    names = sys.argv[1:] if argv is None else argv
    paths = [HERE / n for n in names] if names else notebooks()
    for path in paths:
        nb, seconds = execute(path)
        nbformat.write(nb, str(path))
        print(f"{path.name}: {seconds:.1f} s, {path.stat().st_size / 1024:.0f} KiB")


if __name__ == "__main__":
    main()
