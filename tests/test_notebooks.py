"""Every notebook's code cells run top to bottom without error (no Jupyter needed)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # whole notebooks / experiments, end to end

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


def test_there_is_a_notebook():
    assert NOTEBOOKS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs(path, tmp_path):
    nb = json.loads(path.read_text())
    assert nb["nbformat"] == 4
    cells = ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]
    # IPython-only syntax would not run as a script; the notebooks use none.
    assert not any(line.lstrip().startswith(("%", "!")) for c in cells for line in c.splitlines())
    script = tmp_path / "nb.py"
    script.write_text("\n\n".join(cells) + "\nimport matplotlib.pyplot as plt\n"
                      "assert plt.get_fignums(), 'the notebook draws no figure'\n")
    env = dict(os.environ, MPLBACKEND="Agg")
    proc = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
