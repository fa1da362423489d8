"""Chunks of a sweep: contiguous rows that are blocks of the dims, cut as evenly as their count
allows, whole where a metric reduces."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ldnsim.errors import ConfigError
from ldnsim.sweep.chunks import chunk_grid


@settings(max_examples=200, deadline=None)
@given(shape=st.lists(st.integers(1, 7), min_size=0, max_size=4).map(tuple),
       size=st.integers(1, 300), whole=st.integers(0, 4))
def test_chunks_are_contiguous_rows_and_blocks_of_the_dims(shape, size, whole):
    grid = chunk_grid(shape, size, whole=whole)
    rows = np.arange(math.prod(shape)).reshape(shape)
    stop = 0
    sizes = []
    for i in range(grid.n_chunks):
        a, b = grid.rows(i)
        assert a == stop and b > a
        assert np.array_equal(rows[grid.region(i)].ravel(), np.arange(a, b))
        stop = b
        sizes.append(b - a)
    assert stop == math.prod(shape)
    kept = min(whole, len(shape))
    for i in range(grid.n_chunks):  # the last `whole` dims are never cut
        region = grid.region(i)
        for d in range(len(shape) - kept, len(shape)):
            assert region[d] == slice(0, shape[d])
    if shape and len(shape) - kept > grid.split:  # a cut dim: as few chunks, evenly cut
        n = shape[grid.split]
        assert grid.step == math.ceil(n / grid.per_split)
        assert max(sizes) == grid.step * grid.inner <= max(size, grid.inner)


def test_a_chunk_holds_whole_subjects_even_when_asked_for_fewer_rows():
    grid = chunk_grid((12, 4, 20, 6), 5, whole=1)
    assert grid.chunk_shape == (1, 1, 1, 6) and grid.n_chunks == 960
    assert chunk_grid((12, 4, 14, 6), 256, whole=1).chunk_shape == (1, 2, 14, 6)  # 2 + 2


def test_bad_chunk_size():
    with pytest.raises(ConfigError, match="chunk_size"):
        chunk_grid((3,), 0)
    with pytest.raises(IndexError):
        chunk_grid((3,), 2).rows(2)
