"""The documentation site builds with warnings as errors, and every internal link resolves.

The build is the README's command (Sphinx, ``-W``) into a temporary folder. The link check is
offline: every ``href`` and ``src`` of every built page that points inside the site must name
a file that exists, and a ``#fragment`` must name an ``id`` on that page. Links to other sites
are not followed.
"""
from __future__ import annotations

import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

pytestmark = pytest.mark.slow  # a whole Sphinx build (about half a minute)

ROOT = Path(__file__).resolve().parents[1]
BUILD_COMMAND = "python -m sphinx -W -b html docs docs/_build/html"


class _Page(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.ids, self.links = set(), []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name in ("id", "name") and value:
                self.ids.add(value)
            elif name in ("href", "src") and value is not None:
                self.links.append((tag, value))


def _parse(path):
    page = _Page()
    page.feed(path.read_text(encoding="utf-8", errors="replace"))
    return page


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    html, doctrees = out / "html", out / "doctrees"
    proc = subprocess.run([sys.executable, "-m", "sphinx", "-W", "-b", "html", "-q", "docs",
                           str(html), "-d", str(doctrees)],
                          cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, (proc.stderr or proc.stdout)[-4000:]
    return html


def test_the_readme_builds_the_site_with_one_command():
    readme = (ROOT / "README.md").read_text()
    assert BUILD_COMMAND in readme


def test_every_internal_link_and_anchor_resolves(site):
    # the theme's own templates under _static are not pages
    pages = {p: _parse(p) for p in site.rglob("*.html")
             if "_static" not in p.relative_to(site).parts}
    assert len(pages) > 30
    broken = []
    for path, page in pages.items():
        for tag, link in page.links:
            parts = urlsplit(link)
            if parts.scheme or parts.netloc or link.startswith(("mailto:", "javascript:")):
                continue  # another site: not checked offline
            target = path if not parts.path else (path.parent / unquote(parts.path)).resolve()
            if parts.path.endswith("/") or target.is_dir():
                target = target / "index.html"
            if not target.is_file():
                broken.append(f"{path.relative_to(site)}: <{tag}> {link} (no such file)")
                continue
            fragment = unquote(parts.fragment)
            if fragment and target.suffix == ".html":
                ids = pages[target].ids if target in pages else _parse(target).ids
                if fragment not in ids:
                    broken.append(f"{path.relative_to(site)}: {link} (no anchor #{fragment})")
    assert not broken, f"{len(broken)} broken links:\n" + "\n".join(broken[:40])


def test_the_site_has_its_sections(site):
    for page in ["getting-started", "user-guide", "model-files", "experiment-files",
                 "data-format", "command-line", "results-and-metrics", "scale-out",
                 "estimation", "model-card", "references", "benchmarks", "api"]:
        assert (site / f"{page}.html").is_file(), page
    # the notebooks are rendered from their stored outputs, figures included
    for nb in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        html = (site / "notebooks" / f"{nb.stem}.html").read_text()
        assert "<img" in html, nb.stem
        # equations render offline: MathJax comes with the site, not from a CDN
        assert '_static/mathjax/MathJax.js' in html, nb.stem
    assert (site / "_static" / "mathjax" / "MathJax.js").is_file()
    # the API reference is generated from the docstrings
    api = _parse(site / "api" / "ldnsim.simulation.html")
    assert "ldnsim.simulation.simulate" in api.ids
    experiment = re.sub(r"<[^>]+>", "", (site / "experiment-files.html").read_text())
    assert "[population.covariates.WT]" in experiment   # the docstring's reference
    cli = (site / "command-line.html").read_text()
    assert "usage: ldnsim run" in cli


def test_the_scale_out_example_runs_and_matches_run_plan():
    proc = subprocess.run([sys.executable, str(ROOT / "docs" / "examples" / "scale_out.py")],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "same as run_plan: True" in proc.stdout
