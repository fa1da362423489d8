"""Tie numba's on-disk cache of the driver to every kernel source it compiles in.

numba keys a cached function on the content of the file that defines it, not on the files of
the functions it calls and inlines. ``driver.py`` therefore carries ``KERNEL_SOURCES_SHA256``,
the hash of the other kernel files: a change to a step, a tableau or a controller constant
changes ``driver.py`` too, and the stale machine code is never loaded (also after an upgrade,
since pip leaves numba's cache files behind). ``tests/test_kernels.py`` checks that the line is
current; ``python -m ldnsim._kernels.cachekey`` rewrites it.
"""
import hashlib
import re
from pathlib import Path

HERE = Path(__file__).parent
SOURCES = ("tableaus.py", "linalg.py", "control.py", "steps.py")
_LINE = re.compile(r'^KERNEL_SOURCES_SHA256 = "[0-9a-f]*"$', re.M)


def sources_sha256() -> str:
    """sha256 over the kernel files the driver compiles in."""
    h = hashlib.sha256()
    for name in SOURCES:
        h.update(name.encode() + b"\0" + (HERE / name).read_bytes())
    return h.hexdigest()


def update_driver() -> bool:
    """Rewrite the key in driver.py; True if it changed."""
    path = HERE / "driver.py"
    text = path.read_text()
    new = _LINE.sub(f'KERNEL_SOURCES_SHA256 = "{sources_sha256()}"', text)
    if new != text:
        path.write_text(new)
    return new != text


if __name__ == "__main__":
    print("driver.py updated" if update_driver() else "driver.py already current")
