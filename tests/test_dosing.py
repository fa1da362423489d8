"""Tests for ldnsim.dosing: hand-computed event tables, every validation error, properties."""

import ast
import math
import pathlib

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from ldnsim.dosing import MAX_DOSES, Dose, Regimen
from ldnsim.errors import LdnsimError, RegimenError
from ldnsim.events import as_events

from event_tables import N_PARAMS, assert_table, fake_model


# ------------------------------------------------------------------- hand-computed expansions
def test_repeat_bolus_into_default_target():
    ev = Regimen.repeat(50.0, every=24.0, count=3).expand(fake_model())
    assert_table(ev, [(0, 0, 0, 50.0), (24, 0, 0, 50.0), (48, 0, 0, 50.0)])
    assert len(ev) == 3


def test_bolus_lag_shifts_every_administration():
    ev = Regimen([Dose(50.0, time=1.0, lag=0.5, every=12.0, count=2)]).expand(fake_model())
    assert_table(ev, [(1.5, 0, 0, 50.0), (13.5, 0, 0, 50.0)])


def test_bioavailability_scales_bolus_amount():
    ev = Regimen.single(100.0, bioavailability=0.4, target="central").expand(fake_model())
    assert_table(ev, [(0.0, 0, 1, 40.0)])


def test_infusion_into_input_slot():
    reg = Regimen([Dose(10.0, target="central", duration=2.0, every=6.0, count=2)])
    ev = reg.expand(fake_model())
    assert_table(ev, [(0, 1, 3, 5.0), (2, 1, 3, -5.0), (6, 1, 3, 5.0), (8, 1, 3, -5.0)])


def test_infusion_with_lag_and_bioavailability():
    reg = Regimen([Dose(10.0, time=3.0, target="central", duration=2.0, lag=1.0,
                        bioavailability=0.5)])
    assert_table(reg.expand(fake_model()), [(4.0, 1, 3, 2.5), (6.0, 1, 3, -2.5)])


def test_two_overlapping_infusions_add_rates():
    reg = Regimen([Dose(10.0, target="central", duration=4.0),
                   Dose(6.0, time=1.0, target="central", duration=2.0)])
    assert_table(reg.expand(fake_model()),
                 [(0, 1, 3, 2.5), (1, 1, 3, 3.0), (3, 1, 3, -3.0), (4, 1, 3, -2.5)])


def test_overlapping_infusions_return_input_to_exactly_zero():
    # 0.1 + 0.2 - 0.2 - 0.1 == 2.8e-17 in floating point; expand must cancel exactly.
    reg = Regimen([Dose(0.4, target="central", duration=4.0),
                   Dose(0.4, time=1.0, target="central", duration=2.0)])
    ev = reg.expand(fake_model())
    np.testing.assert_allclose(ev.amount, [0.1, 0.2, -0.2, -0.1], rtol=1e-15)
    p = 0.0
    for a in ev.amount:  # applied in order, as the solver does
        p += a
    assert p == 0.0


def test_continuous_infusion_duration_equals_interval():
    reg = Regimen([Dose(24.0, target="central", duration=12.0, every=12.0, count=2)])
    ev = reg.expand(fake_model())
    assert_table(ev, [(0, 1, 3, 2.0), (12, 1, 3, 2.0), (12, 1, 3, -2.0), (24, 1, 3, -2.0)])
    assert np.cumsum(ev.amount)[-1] == 0.0


def test_two_doses_at_one_time_keep_regimen_order():
    reg = Regimen([Dose(1.0, time=10.0), Dose(5.0, time=2.0, target="central"),
                   Dose(7.0, time=2.0), Dose(9.0, time=2.0, target="periph")])
    assert_table(reg.expand(fake_model()),
                 [(2, 0, 1, 5.0), (2, 0, 0, 7.0), (2, 0, 2, 9.0), (10, 0, 0, 1.0)])


def test_mixed_regimen_with_two_inputs():
    model = fake_model(inputs=(("iv", "central"), ("depot", "periph")))
    reg = (Regimen.repeat(50.0, 24.0, 2)
           + Dose(8.0, time=6.0, target="periph", duration=4.0)
           + Dose(3.0, time=24.0, target="central", duration=1.0, bioavailability=1.0)
           + Dose(2.0, time=6.0, target="central"))
    assert_table(reg.expand(model), [
        (0, 0, 0, 50.0), (6, 1, 4, 2.0), (6, 0, 1, 2.0), (10, 1, 4, -2.0),
        (24, 0, 0, 50.0), (24, 1, 3, 3.0), (25, 1, 3, -3.0)])


def test_infusion_target_may_name_an_input():
    model = fake_model(inputs=(("iv", "central"), ("iv2", "central")))
    ev = Regimen([Dose(4.0, target="iv2", duration=2.0)]).expand(model)
    assert_table(ev, [(0, 1, 4, 2.0), (2, 1, 4, -2.0)])


def test_until_gives_doses_strictly_before_until():
    assert Dose(1.0, every=24.0, until=168.0).n_doses == 7
    assert Dose(1.0, every=24.0, until=168.5).n_doses == 8
    assert Dose(1.0, time=0.1, every=0.1, until=0.3).n_doses == 2
    ev = Regimen.repeat(2.0, 0.1, until=1.0).expand(fake_model())
    assert np.all(ev.time < 1.0) and len(ev) == 10
    assert Dose(1.0, every=5.0, until=1.0).n_doses == 1


def test_empty_regimen_and_zero_amounts():
    assert len(Regimen().expand(fake_model())) == 0
    ev = Regimen.single(0.0).expand(fake_model())
    assert_table(ev, [(0, 0, 0, 0.0)])


# ------------------------------------------------------------------------------ Regimen API
def test_regimen_api_len_iter_add_repr():
    a, b = Dose(50.0, every=24.0, count=7), Dose(10.0, time=3.0, target="central")
    reg = Regimen([a]) + Regimen([b])
    assert len(reg) == 2 and list(reg) == [a, b] and reg.n_doses == 8
    assert reg == Regimen.from_doses(a, b) == Regimen(a) + b == a + Regimen([b])
    assert sum([Regimen(a), Regimen(b)]) == reg
    assert Regimen(a).doses == (a,)
    assert repr(a) == "Dose(amount=50.0, every=24.0, count=7)"
    assert eval(repr(reg)) == reg
    assert "Dose(amount=10.0, time=3.0, target='central')" in repr(reg)
    assert repr(Regimen()) == "Regimen([])"
    assert hash(reg) == hash(Regimen([a, b]))
    with pytest.raises(AttributeError):
        reg.doses = ()
    with pytest.raises(AttributeError):
        a.amount = 1.0
    with pytest.raises(TypeError):
        reg + 1


def test_values_are_normalised_to_float():
    d = Dose(np.int64(5), time=np.float32(1.5), every=np.array(2.0), count=np.int64(3))
    assert type(d.amount) is float and type(d.every) is float and type(d.count) is int
    assert d == Dose(5.0, time=1.5, every=2.0, count=3)


# ------------------------------------------------------------------------ validation errors
@pytest.mark.parametrize("kwargs, words", [
    (dict(amount=-1.0), ["amount must be >= 0"]),
    (dict(amount=math.nan), ["amount must be a finite number"]),
    (dict(amount=math.inf), ["amount must be a finite number"]),
    (dict(amount="50"), ["amount must be", "str"]),
    (dict(amount=None), ["amount must be"]),
    (dict(amount=True), ["boolean"]),
    (dict(amount=10**400), ["amount must be a finite number"]),
    (dict(amount=1.0, time=math.inf), ["time must be a finite number"]),
    (dict(amount=1.0, count=0), ["count must be >= 1", "count=1"]),
    (dict(amount=1.0, count=2.0, every=1.0), ["count must be a whole number"]),
    (dict(amount=1.0, count=True), ["count must be a whole number"]),
    (dict(amount=1.0, count=3), ["count=3 needs every="]),
    (dict(amount=1.0, every=0.0), ["every", "must be > 0"]),
    (dict(amount=1.0, every=-24.0, count=2), ["every", "must be > 0"]),
    (dict(amount=1.0, every=math.nan, count=2), ["every must be a finite number"]),
    (dict(amount=1.0, duration=-1.0), ["duration must be >= 0"]),
    (dict(amount=1.0, duration=30.0, every=24.0, count=2),
     ["longer than its interval", "shorten duration or lengthen every"]),
    (dict(amount=1.0, duration=30.0, every=24.0, until=100.0), ["longer than its interval"]),
    (dict(amount=1.0, lag=-0.5), ["lag must be >= 0"]),
    (dict(amount=1.0, lag=math.inf), ["lag must be a finite number"]),
    (dict(amount=1.0, bioavailability=0.0), ["0 < F <= 1"]),
    (dict(amount=1.0, bioavailability=1.2), ["0 < F <= 1", "scale amount instead"]),
    (dict(amount=1.0, bioavailability=-0.1), ["0 < F <= 1"]),
    (dict(amount=1.0, target=3), ["target must be a state name"]),
    (dict(amount=1.0, target=""), ["target must be a state name"]),
    (dict(amount=1.0, every=24.0, count=3, until=100.0), ["either count= or until="]),
    (dict(amount=1.0, until=100.0), ["needs every="]),
    (dict(amount=1.0, time=5.0, every=1.0, until=5.0), ["must be later than time="]),
    (dict(amount=1.0, every=1e-9, until=1.0), ["MAX_DOSES"]),
    (dict(amount=1.0, every=1.0, count=MAX_DOSES + 1), ["MAX_DOSES"]),
    (dict(amount=1.0, time=1e308, every=1e308, count=3), ["not finite"]),
    (dict(amount=1e300, duration=1e-300), ["overflows"]),
    (dict(amount=1.0, time=1e10, duration=1e-10), ["too short to resolve"]),
])
def test_dose_validation_messages(kwargs, words):
    with pytest.raises(RegimenError) as info:
        Dose(**kwargs)
    for word in words:
        assert word in str(info.value)
    assert isinstance(info.value, LdnsimError)


def test_single_dose_with_interval_may_infuse_longer_than_interval():
    # Only repeated infusions can overlap; a single one with a stray every= is harmless.
    assert Dose(1.0, duration=30.0, every=24.0).n_doses == 1


def test_regimen_validation():
    with pytest.raises(RegimenError, match="Regimen takes Dose objects"):
        Regimen([Dose(1.0), 5.0])
    with pytest.raises(RegimenError, match="Regimen takes Dose objects"):
        Regimen(5.0)
    with pytest.raises(RegimenError, match="exactly one of count= or until="):
        Regimen.repeat(1.0, 24.0)
    with pytest.raises(RegimenError, match="exactly one of count= or until="):
        Regimen.repeat(1.0, 24.0, 3, until=50.0)


def test_unknown_target_names_target_and_valid_states():
    with pytest.raises(RegimenError) as info:
        Regimen.single(1.0, target="brain").expand(fake_model())
    msg = str(info.value)
    assert "'brain'" in msg and "'gut', 'central', 'periph'" in msg and "fake" in msg


def test_lag_on_unknown_state():
    with pytest.raises(RegimenError, match="lag on an unknown state") as info:
        Regimen.single(1.0, target="brain", lag=1.0).expand(fake_model())
    assert "'gut', 'central', 'periph'" in str(info.value)


def test_unknown_default_target_and_missing_default():
    with pytest.raises(RegimenError, match="'stomach' is not a state"):
        Regimen.single(1.0).expand(fake_model(dose_target="stomach"))
    with pytest.raises(RegimenError, match="has no dose_target"):
        Regimen.single(1.0).expand(fake_model(dose_target=None))


def test_infusion_without_input_says_what_to_add():
    with pytest.raises(RegimenError) as info:
        Regimen.single(1.0, target="gut", duration=1.0).expand(fake_model())
    assert '[inputs] entry with target = "gut"' in str(info.value)


def test_infusion_with_several_inputs_asks_to_choose():
    model = fake_model(inputs=(("iv", "central"), ("iv2", "central")))
    with pytest.raises(RegimenError, match="several inputs.*'iv', 'iv2'"):
        Regimen.single(1.0, target="central", duration=1.0).expand(model)


def test_bolus_into_an_input_is_rejected():
    with pytest.raises(RegimenError, match="only an infusion can feed"):
        Regimen.single(1.0, target="iv").expand(fake_model())


def test_expand_needs_a_model():
    with pytest.raises(RegimenError, match="needs a Model"):
        Regimen.single(1.0).expand(object())


def test_dosing_does_not_import_the_solver():
    # Prescriptions stay independent of the solver, the kernels and the model layer: a
    # Regimen binds to a model by duck typing (docs/architecture.md).
    import ldnsim.dosing
    tree = ast.parse(pathlib.Path(ldnsim.dosing.__file__).read_text())
    names = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    names += [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    assert not [n for n in names if "solver" in n or "_kernels" in n or "model" in n]


# ------------------------------------------------------------------------- property tests
finite = dict(allow_nan=False, allow_infinity=False)


@st.composite
def valid_doses(draw, infusion=None):
    count = draw(st.integers(1, 40))
    every = draw(st.floats(0.1, 100.0, **finite)) if count > 1 else draw(
        st.none() | st.floats(0.1, 100.0, **finite))
    infuse = draw(st.booleans()) if infusion is None else infusion
    duration = 0.0
    if infuse:
        duration = draw(st.floats(0.01, every if count > 1 else 50.0, **finite))
    return Dose(
        amount=draw(st.floats(0.0, 1e6, **finite)),
        time=draw(st.floats(-1e3, 1e3, **finite)),
        target="central" if infuse else draw(st.sampled_from([None, "gut", "central",
                                                              "periph"])),
        every=every, count=count, duration=duration,
        lag=draw(st.floats(0.0, 100.0, **finite)),
        bioavailability=draw(st.floats(1e-3, 1.0, **finite)),
    )


def infused_amount(ev, slot):
    """Integral of the piecewise-constant rate in `slot` over the whole table."""
    mask = (ev.kind == 1) & (ev.index == slot)
    t, rate = ev.time[mask], np.cumsum(ev.amount[mask])
    return float(np.sum(rate[:-1] * np.diff(t))) if t.size else 0.0


@settings(max_examples=150, deadline=None)
@given(valid_doses())
def test_property_single_dose_expansion(dose):
    ev = Regimen([dose]).expand(fake_model())
    assert np.all(np.diff(ev.time) >= 0)
    expected = dose.amount * dose.bioavailability * dose.count
    if dose.is_infusion:
        assert len(ev) == 2 * dose.count and np.all(ev.kind == 1) and np.all(ev.index == 3)
        assert math.isclose(infused_amount(ev, 3), expected, rel_tol=1e-6, abs_tol=1e-9)
        assert np.cumsum(ev.amount)[-1] == 0.0  # input slot ends exactly at zero
    else:
        assert len(ev) == dose.count and np.all(ev.kind == 0)
        assert math.isclose(ev.amount.sum(), expected, rel_tol=1e-12, abs_tol=1e-12)
        np.testing.assert_array_equal(ev.time, dose.start_times())
    assert eval(repr(dose)) == dose


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(valid_doses(), max_size=5))
def test_property_regimen_is_sorted_stable_and_complete(doses):
    model = fake_model()
    ev = Regimen(doses).expand(model)
    assert len(ev) == sum(d.n_doses * (2 if d.is_infusion else 1) for d in doses)
    assert np.all(np.diff(ev.time) >= 0)
    boluses = [d for d in doses if not d.is_infusion]
    assert math.isclose(ev.amount[ev.kind == 0].sum(),
                        sum(d.amount * d.bioavailability * d.count for d in boluses),
                        rel_tol=1e-9, abs_tol=1e-9)
    infused = sum(d.amount * d.bioavailability * d.count for d in doses if d.is_infusion)
    assert math.isclose(infused_amount(ev, 3), infused, rel_tol=1e-6, abs_tol=1e-6)
    # Ties keep regimen order: bolus events at one time appear in Dose order.
    owner = np.concatenate([np.full(d.n_doses, j) for j, d in enumerate(boluses)] or [[]])
    times = np.concatenate([d.start_times() for d in boluses] or [[]])
    order = np.argsort(times, kind="stable")
    np.testing.assert_array_equal(ev.time[ev.kind == 0], times[order])
    np.testing.assert_array_equal(ev.amount[ev.kind == 0],
                                  np.array([boluses[int(j)].amount * boluses[int(j)]
                                            .bioavailability for j in owner[order]]))
    out = as_events(ev, 3, N_PARAMS + 1)
    np.testing.assert_array_equal(out[0], ev.time)


@settings(max_examples=60, deadline=None)
@given(st.floats(-1e3, 1e3, **finite), st.floats(0.05, 50.0, **finite),
       st.floats(0.0, 500.0, **finite))
def test_property_until(time, every, span):
    assume(time + span > time)
    dose = Dose(1.0, time=time, every=every, until=time + span)
    starts = dose.start_times()
    assert starts[-1] < time + span and time + dose.n_doses * every >= time + span
    assert len(Regimen(dose).expand(fake_model())) == dose.n_doses


weird = st.sampled_from([None, "1", b"1", [], [1.0], {}, object(), 1j, True, False,
                         np.array([1.0, 2.0]), math.nan, math.inf, -math.inf, 10**400])
bad_values = st.one_of(
    st.tuples(st.just("amount"), weird | st.floats(max_value=-1e-300) | st.just(-1)),
    st.tuples(st.just("time"), weird.filter(lambda v: v is not None)),
    st.tuples(st.just("count"), weird | st.integers(max_value=0) | st.floats()
              | st.integers(MAX_DOSES + 1, 10**30)),
    st.tuples(st.just("every"), weird.filter(lambda v: v is not None)
              | st.floats(max_value=0.0)),
    st.tuples(st.just("duration"), weird | st.floats(max_value=-1e-300)),
    st.tuples(st.just("lag"), weird | st.floats(max_value=-1e-300)),
    st.tuples(st.just("bioavailability"), weird | st.floats(max_value=0.0)
              | st.floats(min_value=1.0, exclude_min=True)),
    # any non-empty str is a valid target until expand() meets the model
    st.tuples(st.just("target"), weird.filter(lambda v: v is not None and not isinstance(v, str))
              | st.just("")),
    st.tuples(st.just("until"), weird.filter(lambda v: v is not None)
              | st.floats(max_value=0.0)),
)


@settings(max_examples=300, deadline=None)
@given(valid_doses(), bad_values)
def test_property_invalid_values_always_raise_regimen_error(dose, bad):
    name, value = bad
    kwargs = dict(amount=dose.amount, time=dose.time, target=dose.target, every=dose.every,
                  count=dose.count, duration=dose.duration, lag=dose.lag,
                  bioavailability=dose.bioavailability)
    if name == "until":  # until must replace count, so give every and drop count
        kwargs.update(time=abs(dose.time), count=1, every=1.0, duration=0.0)
    kwargs[name] = value
    with pytest.raises(RegimenError):
        Dose(**kwargs)
