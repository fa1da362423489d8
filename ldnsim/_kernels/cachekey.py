"""Tie numba's on-disk cache of every kernel file to all the kernel sources.

numba keys a cached function on the content of the file that defines it, not on the files of
the functions it calls and inlines: after an edit to ``linalg.py`` alone, ``steps.py`` would
load machine code built with the old constants (and, with an array-size constant, write out of
bounds). So every kernel file with compiled functions carries ``KERNEL_SOURCES_SHA256``, one
hash over all kernel files (with that line itself left out): any change to any of them changes
every one of them, and no stale machine code is ever loaded (also after an upgrade, since pip
leaves numba's cache files behind). ``tests/test_kernels.py`` checks that the lines are
current; ``python -m ldnsim._kernels.cachekey`` rewrites them.
"""
import hashlib
import re
from pathlib import Path

HERE = Path(__file__).parent
SOURCES = ("tableaus.py", "linalg.py", "control.py", "steps.py", "driver.py")
KEYED = ("linalg.py", "control.py", "steps.py", "driver.py")  # files with compiled functions
_LINE = re.compile(r'^KERNEL_SOURCES_SHA256 = "[0-9a-f]*"\n', re.M)


def sources_sha256() -> str:
    """sha256 over all kernel files, each without its own key line."""
    h = hashlib.sha256()
    for name in SOURCES:
        text = _LINE.sub("", (HERE / name).read_text())
        h.update(name.encode() + b"\0" + text.encode())
    return h.hexdigest()


def current_keys() -> dict:
    """``{file: key}`` as written in the keyed files (None where the line is missing)."""
    out = {}
    for name in KEYED:
        m = re.search(r'^KERNEL_SOURCES_SHA256 = "([0-9a-f]*)"$', (HERE / name).read_text(), re.M)
        out[name] = m.group(1) if m else None
    return out


def update() -> list:
    """Rewrite the key line in every keyed file; returns the files that changed."""
    key = sources_sha256()
    changed = []
    for name in KEYED:
        path = HERE / name
        text = path.read_text()
        new = _LINE.sub(f'KERNEL_SOURCES_SHA256 = "{key}"\n', text)
        if new != text:
            path.write_text(new)
            changed.append(name)
    return changed


if __name__ == "__main__":
    changed = update()
    print("updated: " + ", ".join(changed) if changed else "all kernel keys current")
