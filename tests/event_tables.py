"""Helpers for tests that build or compare event tables."""

from types import SimpleNamespace

import numpy as np

from ldnsim.events import EventTable

N_PARAMS = 3  # ka, CL, V: input slots start at 3


def fake_model(inputs=(("iv", "central"),), dose_target="gut", name="fake"):
    """Just the attributes Regimen.expand may rely on (no dependency on ldnsim.model)."""
    return SimpleNamespace(
        name=name,
        state_names=("gut", "central", "periph"),
        parameter_names=("ka", "CL", "V"),
        inputs=tuple(SimpleNamespace(name=n, target=t) for n, t in inputs),
        dose_target=dose_target,
    )


def table(events):
    """EventTable from rows (time, kind, index, amount)."""
    t, k, i, a = zip(*events) if events else ((), (), (), ())
    return EventTable(np.array(t, float), np.array(k, np.int64), np.array(i, np.int64),
                      np.array(a, float))


def assert_table(actual, expected_rows):
    expected = table(expected_rows)
    assert actual.time.dtype == np.float64 and actual.amount.dtype == np.float64
    assert actual.kind.dtype == np.int64 and actual.index.dtype == np.int64
    np.testing.assert_array_equal(actual.time, expected.time)
    np.testing.assert_array_equal(actual.kind, expected.kind)
    np.testing.assert_array_equal(actual.index, expected.index)
    np.testing.assert_allclose(actual.amount, expected.amount, rtol=1e-15, atol=0)
