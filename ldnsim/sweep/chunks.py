"""Chunks of a sweep: blocks of rows that are also blocks of the result's dims.

A sweep's rows are C-ordered over its dims (``dose, scenario, sample, subject``). A
:class:`ChunkGrid` cuts them along one *split* dim: every chunk holds one index of each dim
before it, ``step`` consecutive indices of the split dim, and all of every dim after it. So
each chunk is a contiguous range of rows *and* a hyper-rectangle of the result, which gives:

- a Zarr store whose chunks are exactly the computed chunks (each written whole by the task
  that computed it, no two tasks touching one file);
- metrics that reduce a trailing dim (``window_summary`` summarises ``subject``) computed per
  chunk, because that dim is never cut (``whole`` trailing dims).

The grid depends only on the dims and the requested rows per chunk, never on a backend.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from ldnsim.errors import ConfigError

__all__ = ["ChunkGrid", "chunk_grid"]


@dataclass(frozen=True)
class ChunkGrid:
    """Chunks of a sweep of shape ``shape`` cut along dim ``split`` in steps of ``step``.

    Attributes
    ----------
    shape : tuple of int
        The sweep's shape (``()`` for a single row).
    split : int
        The dim that is cut (0 when there are no dims).
    step : int
        Indices of the split dim per chunk (the last chunk along it may hold fewer).
    """

    shape: tuple
    split: int
    step: int

    @property
    def n_rows(self) -> int:
        return math.prod(self.shape)

    @property
    def inner(self) -> int:
        """Rows per index of the split dim (the product of the dims after it)."""
        return math.prod(self.shape[self.split + 1:])

    @property
    def per_split(self) -> int:
        """Chunks along the split dim."""
        return math.ceil(self.shape[self.split] / self.step) if self.shape else 1

    @property
    def n_chunks(self) -> int:
        return math.prod(self.shape[:self.split]) * self.per_split

    @property
    def chunk_shape(self) -> tuple:
        """Shape of a full chunk over the dims (Zarr's chunks)."""
        if not self.shape:
            return ()
        return ((1,) * self.split + (min(self.step, self.shape[self.split]),)
                + tuple(self.shape[self.split + 1:]))

    def _place(self, i):
        if not 0 <= i < self.n_chunks:
            raise IndexError(f"chunk {i} out of range (0..{self.n_chunks - 1})")
        lead, j = divmod(int(i), self.per_split)
        lo = j * self.step
        hi = min(lo + self.step, self.shape[self.split]) if self.shape else 1
        return lead, lo, hi

    def rows(self, i) -> tuple[int, int]:
        """``(start, stop)``: the rows of chunk ``i``."""
        if not self.shape:
            self._place(i)
            return 0, 1
        lead, lo, hi = self._place(i)
        base = lead * self.shape[self.split] * self.inner
        return base + lo * self.inner, base + hi * self.inner

    def region(self, i) -> tuple:
        """``(slice, ...)`` over the dims: where chunk ``i`` sits in the result."""
        if not self.shape:
            self._place(i)
            return ()
        lead, lo, hi = self._place(i)
        index = []
        for size in reversed(self.shape[:self.split]):
            lead, k = divmod(lead, size)
            index.append(k)
        index.reverse()
        return (tuple(slice(k, k + 1) for k in index) + (slice(lo, hi),)
                + tuple(slice(0, n) for n in self.shape[self.split + 1:]))


def chunk_grid(shape, chunk_size, *, whole=0) -> ChunkGrid:
    """The grid with chunks of at most about ``chunk_size`` rows.

    Parameters
    ----------
    shape : tuple of int
        The sweep's shape.
    chunk_size : int
        Rows wanted per chunk; a chunk holds more when the ``whole`` dims alone are larger.
    whole : int
        How many trailing dims no chunk may cut (dims that a metric reduces).

    Returns
    -------
    ChunkGrid
    """
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise ConfigError(f"chunk_size must be an integer >= 1, got {chunk_size!r}")
    shape = tuple(int(n) for n in shape)
    if not shape:
        return ChunkGrid((), 0, 1)
    n = len(shape)
    whole = max(0, min(int(whole), n))
    split, inner = n - 1, 1
    while split > 0 and (split >= n - whole or inner * shape[split] <= chunk_size):
        inner *= shape[split]
        split -= 1
    if split >= n - whole:
        step = shape[split]
    else:
        step = max(1, min(shape[split], chunk_size // inner))
        # as many chunks, of sizes as equal as can be (4 cut by 3 -> 2 + 2, not 3 + 1): the
        # last chunks of a run do not leave workers idle behind one big chunk
        step = math.ceil(shape[split] / math.ceil(shape[split] / step))
    return ChunkGrid(shape, split, step)
