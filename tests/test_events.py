"""Tests for ldnsim.events: event tables, the solver's dose normalisation, properties."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ldnsim.dosing import Regimen
from ldnsim.errors import RegimenError
from ldnsim.events import EventTable, as_events, pad_event_tables

from event_tables import assert_table, fake_model, table


def test_event_table_sorts_stably_and_is_read_only():
    ev = EventTable([2.0, 1.0, 2.0, 1.0], [0, 0, 1, 0], [0, 1, 2, 2], [1.0, 2.0, 3.0, 4.0])
    np.testing.assert_array_equal(ev.time, [1, 1, 2, 2])
    np.testing.assert_array_equal(ev.index, [1, 2, 0, 2])
    assert not ev.time.flags.writeable
    assert len(EventTable.empty()) == 0 and "EventTable(4 events)" in repr(ev)


@pytest.mark.parametrize("args, words", [
    (([0.0], [0], [0], [1.0, 2.0]), "equal length"),
    (([[0.0]], [[0]], [[0]], [[1.0]]), "1-D"),
    (([math.nan], [0], [0], [1.0]), "times must be finite"),
    (([0.0], [0], [0], [math.inf]), "amounts must be finite"),
    (([0.0], [2], [0], [1.0]), "kind must be 0"),
    (([0.0], [0], [-1], [1.0]), "index must be >= 0"),
    (([0.0], [0], [0.5], [1.0]), "whole numbers"),
    ((["a"], [0], [0], [1.0]), "must be numbers"),
    (([0.0], ["x"], [0], [1.0]), "must be integers"),
])
def test_event_table_validation(args, words):
    with pytest.raises(RegimenError, match=words):
        EventTable(*args)


def test_event_table_concat_keeps_table_order_on_ties():
    a = table([(1, 0, 0, 1.0), (3, 0, 0, 2.0)])
    b = table([(1, 0, 1, 5.0), (2, 1, 3, 6.0)])
    assert_table(EventTable.concat([a, b]),
                 [(1, 0, 0, 1.0), (1, 0, 1, 5.0), (2, 1, 3, 6.0), (3, 0, 0, 2.0)])
    assert EventTable.concat([]) == EventTable.empty()
    with pytest.raises(RegimenError):
        EventTable.concat([a, "b"])


def test_as_events_forms():
    t, k, i, a = as_events(None, 2, 4)
    assert [x.dtype for x in (t, k, i, a)] == [np.float64, np.int64, np.int64, np.float64]
    assert t.shape == (0,)
    t, k, i, a = as_events(([24.0, 0.0, 24.0], [1, 0, 0], [3.0, 1.0, 2.0]), 2, 4)
    np.testing.assert_array_equal(t, [0, 24, 24])
    np.testing.assert_array_equal(i, [0, 1, 0])  # stable: file order survives the tie
    np.testing.assert_array_equal(a, [1, 3, 2])
    np.testing.assert_array_equal(k, [0, 0, 0])
    t, k, i, a = as_events(([0.0, 2.0], 3, [5.0, -5.0], 1), 2, 4)  # scalars broadcast
    np.testing.assert_array_equal(k, [1, 1])
    np.testing.assert_array_equal(i, [3, 3])
    ev = Regimen.repeat(1.0, 1.0, 3).expand(fake_model())
    out = as_events(ev, 3, 4)
    assert all(x.flags.writeable and x.flags.c_contiguous for x in out)
    np.testing.assert_array_equal(out[0], ev.time)


@pytest.mark.parametrize("doses, words", [
    (([0.0], [2], [1.0]), "state index 2 but the model has 2 states"),
    (([0.0], [4], [1.0], [1]), "parameter slot 4 but p has 4 entries"),
    (([0.0], [0], [1.0], [2]), "kind must be 0"),
    (([0.0], [-1], [1.0]), "index must be >= 0"),
    (([math.inf], [0], [1.0]), "times must be finite"),
    (([0.0], [0], [math.nan]), "amounts must be finite"),
    (([0.0, 1.0], [0, 0, 0], [1.0]), "same length"),
    (([0.0], [], []), "same length"),
    (([[0.0]], [0], [1.0]), "must be 1-D"),
    (([0.0], [0]), "doses must be None"),
    ({"t": 1}, "doses must be None"),
    (Regimen.single(1.0), "expand a Regimen first"),
])
def test_as_events_validation(doses, words):
    with pytest.raises(RegimenError, match=words):
        as_events(doses, 2, 4)


def test_as_events_checks_sizes():
    with pytest.raises(RegimenError, match="n_states"):
        as_events(None, -1, 4)


def test_pad_event_tables():
    a = table([(1, 0, 0, 1.0), (3, 1, 2, 2.0)])
    time, kind, index, amount = pad_event_tables([a, None, table([(5, 0, 1, 7.0)])])
    assert time.shape == kind.shape == index.shape == amount.shape == (3, 2)
    np.testing.assert_array_equal(time, [[1, 3], [np.inf, np.inf], [5, np.inf]])
    np.testing.assert_array_equal(kind, [[0, 1], [0, 0], [0, 0]])
    np.testing.assert_array_equal(index, [[0, 2], [0, 0], [1, 0]])
    np.testing.assert_array_equal(amount, [[1, 2], [0, 0], [7, 0]])
    assert kind.dtype == np.int64 and time.dtype == np.float64
    assert pad_event_tables([])[0].shape == (0, 0)
    with pytest.raises(RegimenError):
        pad_event_tables([a, "x"])


garbage = st.one_of(
    st.none(), st.integers(), st.text(max_size=3), st.floats(),
    st.lists(st.one_of(st.floats(), st.integers(-5, 10), st.text(max_size=2), st.none()),
             max_size=4),
    st.tuples(st.lists(st.floats(), max_size=3), st.lists(st.integers(-3, 8), max_size=3),
              st.lists(st.floats(), max_size=3)),
    st.tuples(st.lists(st.floats(), max_size=3), st.integers(-3, 8), st.floats(),
              st.integers(-1, 3)),
)


@settings(max_examples=300, deadline=None)
@given(garbage)
def test_property_as_events_raises_only_regimen_error(doses):
    try:
        t, k, i, a = as_events(doses, 2, 4)
    except RegimenError:
        return
    assert np.all(np.isfinite(t)) and np.all(np.diff(t) >= 0)
    assert np.all(((k == 0) & (i < 2)) | ((k == 1) & (i < 4))) and np.all(i >= 0)


def test_per_row_doses_normalised_once_per_distinct_row_give_the_same_arrays():
    """normalise_doses checks each distinct row once and spreads it back: the result equals
    normalising every row on its own (ragged rows, unsorted times, repeated rows)."""
    from ldnsim.events import normalise_doses
    inf = np.inf
    tt = np.array([[5.0, 1.0, inf], [0.0, 2.0, 3.0], [5.0, 1.0, inf], [0.0, 2.0, 3.0],
                   [7.0, inf, inf]])
    idx = np.array([[0, 1, 0], [1, 1, 0], [0, 1, 0], [1, 1, 0], [2, 0, 0]])
    amt = np.array([[1.0, 2.0, 0.0], [3.0, 4.0, 5.0], [1.0, 2.0, 0.0], [3.0, 4.0, 5.0],
                    [6.0, 0.0, 0.0]])
    kind = np.zeros_like(idx)
    got = normalise_doses((tt, idx, amt, kind), 3, 4, 0.0, rows=5)
    rows = [normalise_doses((tt[r:r + 1], idx[r:r + 1], amt[r:r + 1], kind[r:r + 1]), 3, 4,
                            0.0) for r in range(5)]
    width = got[0].shape[1]
    assert width == 3
    for r, one in enumerate(rows):
        for a, b in zip(got, one):
            row = np.full(width, np.inf if a.dtype.kind == "f" and a is got[0] else 0,
                          dtype=a.dtype)
            row[:b.shape[1]] = b[0]
            assert np.array_equal(a[r], row), (r, a[r], row)
    assert got[0][0].tolist() == [1.0, 5.0, inf]  # sorted within the row
    assert np.array_equal(got[0][2], got[0][0]) and np.array_equal(got[3][3], got[3][1])
    with pytest.raises(ValueError, match="before the start time"):
        normalise_doses((tt, idx, amt, kind), 3, 4, 0.5, rows=5)
