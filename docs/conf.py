"""Sphinx configuration of the ldnsim documentation site.

Build (warnings are errors; about a minute):

    python -m sphinx -W -b html docs docs/_build/html

Sphinx with MyST-NB, because (docs/index.md says it to the reader too):

- the API reference is generated from the numpydoc docstrings the code already has
  (autodoc + autosummary + numpydoc: the same parser ``tests/test_docstrings.py`` validates);
- the notebooks are rendered from their stored outputs and never executed at build time
  (``nb_execution_mode = "off"``), so the site builds in a minute without compiling a model;
- the existing Markdown (README, model card, docs/*.md) is read as it is (MyST), and files
  outside ``docs/`` are included, not copied, so there is one source of each text;
- ``-W`` turns every broken cross-reference, missing page or docstring error into a failure.
"""
from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path

from docutils import nodes
from docutils.parsers.rst import Directive, directives

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))   # document this checkout's ldnsim, not an installed copy

import ldnsim  # noqa: E402

project = "ldnsim"
author = "the ldnsim developers"
copyright = "the ldnsim developers, MIT licence"
version = release = ldnsim.__version__

extensions = [
    "myst_nb",                    # Markdown pages and the notebooks (MyST-Parser included)
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "numpydoc",
    "sphinx.ext.mathjax",
]

# -- sources -------------------------------------------------------------------------------
# .rst first: autosummary writes its generated API pages (reStructuredText) with this suffix
source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}
root_doc = "index"
exclude_patterns = ["_build", "**/.ipynb_checkpoints"]
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3          # [text](#a-heading) links within and across pages
suppress_warnings: list[str] = []  # nothing: every warning fails the build

# -- notebooks: rendered from their stored outputs, never executed here --------------------
# Sphinx reads only files under docs/: the notebooks and their README are copied to
# docs/notebooks/ (not committed) at every build, so a renamed or deleted one never lingers.
_NB_COPY = DOCS / "notebooks"
shutil.rmtree(_NB_COPY, ignore_errors=True)
shutil.copytree(ROOT / "notebooks", _NB_COPY, ignore=shutil.ignore_patterns(
    "*.py", "__pycache__", ".ipynb_checkpoints"))
nb_execution_mode = "off"
nb_output_stderr = "show"
nb_merge_streams = True

# -- API reference -------------------------------------------------------------------------
autosummary_generate = True
autosummary_ignore_module_all = False      # document what each module exports in __all__
autodoc_default_options = {"members": True, "show-inheritance": False}
autodoc_typehints = "none"                 # the numpydoc sections carry the types
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
numpydoc_validation_checks: set[str] = set()   # tests/test_docstrings.py validates them

# -- equations, also offline ---------------------------------------------------------------
# MathJax is served from the built site itself when the docs extra's jupyter-server-mathjax
# (MathJax 2.7, MIT licence) is installed, so a page opened without network still renders its
# equations; without it, Sphinx's default (MathJax 3 from a CDN) is used.
try:
    import jupyter_server_mathjax
except ImportError:
    MATHJAX_DIR = None
else:
    MATHJAX_DIR = Path(jupyter_server_mathjax.__file__).parent / "static"
    mathjax_path = "mathjax/MathJax.js?config=TeX-AMS-MML_HTMLorMML-full"
    # Sphinx marks the page body "ignore" and each formula "math": process only those
    mathjax2_config = {"tex2jax": {
        "inlineMath": [["\\(", "\\)"]], "displayMath": [["\\[", "\\]"]],
        "processEscapes": True, "ignoreClass": "tex2jax_ignore|mathjax_ignore|document",
        "processClass": "tex2jax_process|mathjax_process|math|output_area"}}


def _copy_mathjax(app, exception):
    if exception is None and MATHJAX_DIR is not None and app.builder.format == "html":
        shutil.copytree(MATHJAX_DIR, Path(app.outdir) / "_static" / "mathjax",
                        dirs_exist_ok=True)


# -- HTML ----------------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"ldnsim {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
html_static_path: list[str] = []
html_show_sourcelink = False


# -- included files: links that point into the repository ----------------------------------
# Pages include README files from outside docs/ (the model card, the benchmarks). Their links
# are relative to where they live in the repository; a link to another included file becomes a
# link to its page, a link to a folder or data file becomes its path in code font.
INCLUDED_LINKS = {
    "models/README.md": {"REFERENCES.md": "references.md"},   # relative to the including page
}
_LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+)\)")


def _rewrite_links(app, relative_path, parent_docname, content):
    rel = Path(relative_path).as_posix()
    mapping = next((m for suffix, m in INCLUDED_LINKS.items() if rel.endswith(suffix)), {})

    def fix(match):
        text, target = match.groups()
        if re.match(r"^[a-z]+:", target) or target.startswith("#"):
            return match.group(0)
        if target in mapping:
            return f"[{text}]({mapping[target]})"
        return text   # a repository path: keep the words, drop the link
    content[0] = _LINK.sub(fix, content[0])


# -- the command line, from the parser itself ----------------------------------------------
class CliHelp(Directive):
    """``ldnsim --help`` and every subcommand's help, as literal blocks."""

    has_content = False
    option_spec = {"command": directives.unchanged}

    def run(self):
        from ldnsim.cli import _parser

        parser = _parser()
        sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
        out = []
        columns = os.environ.get("COLUMNS")
        os.environ["COLUMNS"] = "96"   # argparse wraps to the terminal: the same on every build
        try:
            commands = [("ldnsim", parser), *((f"ldnsim {k}", v) for k, v in sub.choices.items())]
            for name, p in commands:
                section = nodes.section(ids=[nodes.make_id(f"cli-{name}")])
                section += nodes.title(text=name)
                p.prog = name
                block = nodes.literal_block(text=p.format_help().rstrip())
                block["language"] = "text"
                section += block
                out.append(section)
        finally:
            if columns is None:
                os.environ.pop("COLUMNS", None)
            else:
                os.environ["COLUMNS"] = columns
        return out


class MetricsTable(Directive):
    """The metric registry: name, what it computes, and the function that does it."""

    has_content = False

    def run(self):
        from ldnsim.metrics import METRICS

        table = nodes.bullet_list()
        for name, metric in METRICS.items():
            item = nodes.list_item()
            para = nodes.paragraph()
            para += nodes.literal(text=name)
            para += nodes.Text(f": {metric.description} (function ")
            para += nodes.literal(text=f"ldnsim.metrics.{metric.func.__name__}")
            para += nodes.Text(")")
            item += para
            table += item
        return [table]


def setup(app):
    app.connect("include-read", _rewrite_links)
    app.connect("build-finished", _copy_mathjax)
    app.add_directive("ldnsim-cli-help", CliHelp)
    app.add_directive("ldnsim-metrics", MetricsTable)
    os.environ.setdefault("MPLBACKEND", "Agg")
    return {"parallel_read_safe": True}
