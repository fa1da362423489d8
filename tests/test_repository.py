"""Checks over the repository's own files: no merge debris, no citations pointing outside it."""
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[1]
TEXT = {".py", ".md", ".toml", ".csv", ".ipynb", ".cfg", ".txt", ".json", ".yml", ".yaml"}
SKIP = {".git", ".hypothesis", ".pytest_cache", "__pycache__", "results", "build", "dist"}


def _files():
    for path in ROOT.rglob("*"):
        if path.is_file() and path.suffix in TEXT and not SKIP & set(path.relative_to(ROOT).parts):
            yield path


def test_no_merge_conflict_markers():
    marker = re.compile(r"^(<{7} |>{7} |={7}$)", re.M)
    bad = [str(p.relative_to(ROOT)) for p in _files()
           if marker.search(p.read_text(encoding="utf-8", errors="replace"))]
    assert not bad, f"merge conflict markers in {bad}"


def test_no_citation_points_outside_the_repository():
    """Sources are cited from models/REFERENCES.md; the team's private notes are not part of
    the project (their names must not appear in it)."""
    pattern = re.compile(r"dossier|shared/reference", re.I)
    bad = [str(p.relative_to(ROOT)) for p in _files()
           if p.name != "test_repository.py"
           and pattern.search(p.read_text(encoding="utf-8", errors="replace"))]
    assert not bad, bad
