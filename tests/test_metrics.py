"""ldnsim.metrics against analytic values, on synthetic results (no solver involved)."""

import warnings

import numpy as np
import pytest
import xarray as xr
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from ldnsim.errors import ConfigError
from ldnsim.metrics import (
    METRICS,
    MetricError,
    blockade_hours,
    compute_metrics,
    end_value,
    nca,
    occupancy_summary,
    peak,
    rebound,
    window_summary,
)
from ldnsim.results import make_dataset

# One-compartment oral model (Bateman function): F, D, ka, CL, V; k = CL / V.
F, D, KA, CL, V = 0.6, 50.0, 1.2, 69.3, 400.0   # -, mg, 1/h, L/h, L
K = CL / V                                        # 0.173 1/h: half-life 4 h


def bateman(t):
    return F * D * KA / (V * (KA - K)) * (np.exp(-K * t) - np.exp(-KA * t)) * 1000  # ng/mL


def _single(var, t, values, units="1", **dims):
    """A result with one variable; ``values`` shaped (*dims, time)."""
    values = np.asarray(values, dtype=float)
    return make_dataset(t, values[..., None], [var], [units], [var], dims=tuple(dims),
                        coords=dict(dims))


def _rows(var, t, rows, units="1"):
    return _single(var, t, np.stack(rows), units, row=np.arange(len(rows)))


# --------------------------------------------------------------------------------------------
# NCA


def test_nca_bateman_matches_analytic_values():
    t = np.linspace(0.0, 96.0, 9601)  # dense: 0.01 h, 24 half-lives
    out = nca(_single("C_ntx", t, bateman(t), "ng/mL"), "C_ntx")
    tmax = np.log(KA / K) / (KA - K)
    assert float(out["Tmax"]) == pytest.approx(tmax, abs=0.01)
    assert float(out["Cmax"]) == pytest.approx(bateman(tmax), rel=1e-4)
    auc_exact = F * D / CL * 1000  # ng*h/mL
    assert float(out["AUC"]) == pytest.approx(auc_exact, rel=5e-3)
    assert float(out["AUCinf"]) == pytest.approx(auc_exact, rel=5e-3)
    assert float(out["half_life"]) == pytest.approx(np.log(2) / K, rel=1e-2)
    assert float(out["lambda_z"]) == pytest.approx(K, rel=1e-2)
    assert out["Cmax"].attrs["units"] == "ng/mL"
    assert out["Tmax"].attrs["units"] == "h"
    assert out["AUC"].attrs["units"] == "ng/mL*h"
    assert out["half_life"].attrs["units"] == "h"
    assert out["lambda_z"].attrs["units"] == "1/h"


def test_nca_bateman_coarse_hourly_sampling_still_close():
    t = np.arange(0.0, 73.0)  # what a sweep with hourly output gives
    out = nca(_single("C_ntx", t, bateman(t), "ng/mL"), "C_ntx")
    assert float(out["AUCinf"]) == pytest.approx(F * D / CL * 1000, rel=2e-2)
    assert float(out["half_life"]) == pytest.approx(np.log(2) / K, rel=1e-3)


def test_log_down_is_exact_on_exponential_decay_and_linear_overestimates():
    t = np.arange(0.0, 49.0, 4.0)  # coarse on purpose
    c = 100.0 * np.exp(-K * t)
    exact = 100.0 / K * (1.0 - np.exp(-K * t[-1]))
    ds = _single("C_ntx", t, c, "ng/mL")
    log_down = float(nca(ds, "C_ntx")["AUC"])
    linear = float(nca(ds, "C_ntx", auc_method="linear")["AUC"])
    assert log_down == pytest.approx(exact, rel=1e-12)
    assert linear > exact * 1.01
    # With a mono-exponential, lambda_z is exact too, and so is AUCinf.
    assert float(nca(ds, "C_ntx")["AUCinf"]) == pytest.approx(100.0 / K, rel=1e-12)


def test_nca_window_measures_tmax_from_start():
    t = np.arange(0.0, 49.0, 0.25)
    c = bateman(t) + np.where(t >= 24.0, bateman(np.clip(t - 24.0, 0, None)), 0.0)
    out = nca(_single("C_ntx", t, c, "ng/mL"), "C_ntx", start=24.0, end=48.0)
    assert 0.5 < float(out["Tmax"]) < 3.0
    assert "[24, 48]" in out["Cmax"].attrs["window"]


@pytest.mark.parametrize("profile", [
    lambda t: 1.0 + t,                                   # still rising
    lambda t: np.where(t < 10, bateman(t), 0.0),         # falls to zero: log undefined
    lambda t: np.where(t < 20, bateman(t), bateman(20.0)),  # flat tail: not decreasing
])
def test_half_life_is_nan_when_not_estimable(profile):
    t = np.linspace(0.0, 24.0, 97)
    out = nca(_single("C_ntx", t, profile(t), "ng/mL"), "C_ntx")
    assert np.isnan(float(out["half_life"]))
    assert np.isnan(float(out["AUCinf"]))
    assert np.isfinite(float(out["AUC"]))


def test_half_life_excludes_the_peak():
    # Peak at the third-to-last sample: only two points after it, so no estimate with k=3.
    t = np.arange(6.0)
    c = np.array([0.0, 1.0, 2.0, 3.0, 2.0, 1.0])
    assert np.isnan(float(nca(_single("C", t, c), var="C")["half_life"]))
    c = np.array([0.0, 1.0, 3.0, 2.0, 1.5, 1.0])
    assert np.isfinite(float(nca(_single("C", t, c), var="C")["half_life"]))


def test_placebo_row_has_no_tmax():
    t = np.arange(10.0)
    out = nca(_single("C_ntx", t, np.zeros_like(t)), "C_ntx")
    assert float(out["Cmax"]) == 0.0 and float(out["AUC"]) == 0.0
    assert np.isnan(float(out["Tmax"])) and np.isnan(float(out["half_life"]))


def test_nca_option_errors():
    ds = _single("C", np.arange(5.0), np.ones(5))
    with pytest.raises(MetricError, match="lambda_z_points"):
        nca(ds, var="C", lambda_z_points=2)
    with pytest.raises(MetricError, match="auc_method"):
        nca(ds, var="C", auc_method="log")
    with pytest.raises(MetricError, match="available: C"):
        nca(ds, "C_ntx")
    with pytest.raises(MetricError, match="empty time window"):
        nca(ds, var="C", start=10.0)


@settings(max_examples=40, deadline=None)
@given(scale=st.floats(1e-3, 1e3), ka=st.floats(0.3, 5.0), k=st.floats(0.02, 0.25))
def test_nca_scales_with_dose_and_log_down_never_exceeds_linear(scale, ka, k):
    assume(abs(ka - k) > 0.05)
    t = np.linspace(0.0, 72.0, 289)
    c = (np.exp(-k * t) - np.exp(-ka * t)) / (ka - k)
    base = nca(_single("C", t, c), var="C")
    scaled = nca(_single("C", t, scale * c), var="C")
    for name in ("Cmax", "AUC", "AUCinf"):
        assert float(scaled[name]) == pytest.approx(scale * float(base[name]), rel=1e-9)
    for name in ("Tmax", "half_life"):
        assert float(scaled[name]) == pytest.approx(float(base[name]), rel=1e-9)
    linear = nca(_single("C", t, c), var="C", auc_method="linear")
    assert float(base["AUC"]) <= float(linear["AUC"]) * (1 + 1e-12)


# --------------------------------------------------------------------------------------------
# Blockade hours and other readouts


def sawtooth_occupancy(t):
    """Daily dose: occupancy jumps to 0.9 over the hour before each dose, falls linearly to
    0.1 over 8 h, then stays at 0.1. Threshold 0.5 is crossed 4 h after each dose and 0.5 h
    before the next one: 4.5 h/day above, while counting hourly samples would give 4 h."""
    tau = np.mod(t, 24.0)
    falling = 0.9 - 0.1 * tau
    rising = 0.1 + 0.8 * (tau - 23.0)
    return np.where(tau <= 8.0, falling, np.where(tau >= 23.0, rising, 0.1))


def test_blockade_hours_uses_interpolated_crossings():
    t = np.arange(0.0, 24.0 * 14 + 1)
    ds = _single("occupancy_mor_drug", t, sawtooth_occupancy(t))
    out = blockade_hours(ds, "occupancy_mor_drug")
    assert float(out["blockade_hours"]) == pytest.approx(4.5, abs=1e-12)
    assert out["blockade_hours"].attrs["units"] == "h/day"
    # Counting samples would be wrong by half an hour:
    last = t >= t[-1] - 7 * 24
    assert (sawtooth_occupancy(t[last][:-1]) > 0.5).sum() / 7 == 4.0


def test_blockade_window_edges_between_samples():
    # 2-hourly samples; the 7-day window starts at t = 7 h (mid-interval), half an hour into
    # a blocked stretch, so 0.5 h of that stretch falls outside the window.
    t = np.arange(0.0, 7 * 24 + 7.1, 0.5)
    occ = sawtooth_occupancy(t - 6.5)  # doses at 6.5 h + 24 h * n; blocked 6.0 .. 10.5 h
    ds = _single("occupancy_mor_drug", t, occ)
    out = float(blockade_hours(ds, "occupancy_mor_drug")["blockade_hours"])
    # Window [7, 175]: day 0 contributes 3.5 h (7 .. 10.5), days 1-6 contribute 4.5 h each
    # (30 .. 34.5, ..., 150 .. 154.5), and the window ends 1 h into the stretch starting at
    # 174 h -> (3.5 + 6 * 4.5 + 1.0) / 7.
    assert out == pytest.approx((3.5 + 6 * 4.5 + 1.0) / 7, abs=1e-9)


def test_blockade_constant_profiles_and_short_runs():
    t = np.arange(0.0, 24.0 * 8 + 1)
    ds = _rows("occupancy_mor_drug", t, [np.full_like(t, 0.95), np.full_like(t, 0.2)])
    np.testing.assert_allclose(blockade_hours(ds, "occupancy_mor_drug")["blockade_hours"].values,
                               [24.0, 0.0])
    short = _single("occupancy_mor_drug", np.arange(0.0, 49.0), np.full(49, 0.9))
    with pytest.warns(UserWarning, match="shorter than"):
        out = blockade_hours(short, "occupancy_mor_drug")
    assert float(out["blockade_hours"]) == pytest.approx(24.0)


@st.composite
def _piecewise_linear(draw):
    n = draw(st.integers(3, 30))
    # Knots within [0, 48] h built from a start, a span and positive gaps (every gap >=
    # 1 h * 0.05 / 29 > 1e-3 h), so no draw is thrown away: filtering sorted unique floats for
    # gaps > 1e-3 rejected so many draws that hypothesis's filter_too_much health check failed
    # about one run in four.
    start = draw(st.floats(0.0, 24.0))
    span = draw(st.floats(1.0, 48.0 - start))
    gaps = np.array(draw(st.lists(st.floats(0.05, 1.0), min_size=n - 1, max_size=n - 1)))
    knots = start + span * np.concatenate([[0.0], np.cumsum(gaps)]) / gaps.sum()
    assert np.all(np.diff(knots) > 1e-3)
    values = np.array(draw(st.lists(st.floats(0.0, 1.0), min_size=n, max_size=n)))
    return knots, values


@settings(max_examples=60, deadline=None)
@given(profile=_piecewise_linear(), threshold=st.floats(0.05, 0.95), refine=st.integers(1, 4))
def test_blockade_hours_invariant_under_refined_sampling(profile, threshold, refine):
    """The profile is linear between samples, so adding samples on those lines changes
    nothing; the result is a valid fraction of the day and falls as the threshold rises."""
    t, v = profile
    # Crossing times are ill-conditioned where a segment is nearly flat at the threshold: the
    # refined samples' rounding (1e-16) can then move a crossing by a large part of the
    # segment. The property is about the method, so such profiles are left out.
    lo, hi = np.minimum(v[:-1], v[1:]), np.maximum(v[:-1], v[1:])
    straddles = (lo <= threshold + 1e-9) & (hi >= threshold - 1e-9)
    assume(not np.any(straddles & (hi - lo < 1e-6)))
    fine_t = np.unique(np.concatenate([np.linspace(a, b, refine + 2)
                                       for a, b in zip(t[:-1], t[1:])]))
    fine_v = np.interp(fine_t, t, v)
    span_days = (t[-1] - t[0]) / 24.0
    kw = dict(threshold=threshold, last_days=span_days)
    coarse = float(blockade_hours(_single("occ", t, v), "occ", **kw)["blockade_hours"])
    fine = float(blockade_hours(_single("occ", fine_t, fine_v), "occ", **kw)["blockade_hours"])
    assert fine == pytest.approx(coarse, abs=1e-9)
    assert -1e-12 <= coarse <= 24.0 + 1e-9
    higher = float(blockade_hours(_single("occ", t, v), "occ", threshold=min(threshold + 0.04, 1),
                                  last_days=span_days)["blockade_hours"])
    assert higher <= coarse + 1e-12


def test_occupancy_summary_peak_and_trough_over_last_day():
    t = np.arange(0.0, 24.0 * 3 + 1)
    out = occupancy_summary(_single("occupancy_mor_drug", t, sawtooth_occupancy(t)),
                            "occupancy_mor_drug")
    assert float(out["occupancy_peak"]) == pytest.approx(0.9)
    assert float(out["occupancy_trough"]) == pytest.approx(0.1)
    assert out["occupancy_peak"].attrs["units"] == "1"


def test_rebound_max_and_time_average():
    t = np.arange(0.0, 24.0 * 10 + 1, 0.5)
    signal = 1.0 + 0.3 * np.sin(2 * np.pi * t / 24.0)  # zero mean excess over whole days
    out = rebound(_single("signal_opioid", t, signal), "signal_opioid")
    assert float(out["rebound_max"]) == pytest.approx(0.3, rel=1e-3)
    assert float(out["rebound_mean"]) == pytest.approx(0.0, abs=1e-3)
    suppressed = rebound(_single("signal_opioid", t, np.full_like(t, 0.6)), "signal_opioid")
    assert float(suppressed["rebound_max"]) == 0.0
    assert float(suppressed["rebound_mean"]) == pytest.approx(-0.4)
    initial = rebound(_single("signal_opioid", t, signal + 1.0), "signal_opioid",
                      baseline="initial")
    assert float(initial["rebound_max"]) == pytest.approx(0.3, rel=1e-3)


def test_end_value_and_peak():
    t = np.arange(0.0, 11.0)
    ds = xr.merge([_single("proliferation", t, 1.0 - 0.01 * t),
                   _single("immune_index", t, 1.0 + 0.02 * t),
                   _single("tlr4_inhibition", t, np.sin(t / 3.0) * 1e-4)])
    out = end_value(ds, ["proliferation", "immune_index"])
    assert float(out["proliferation_end"]) == pytest.approx(0.9)
    assert float(out["immune_index_end"]) == pytest.approx(1.2)
    p = peak(ds, "tlr4_inhibition")
    assert float(p["tlr4_inhibition_peak"]) == pytest.approx(np.sin(5 / 3.0) * 1e-4)
    assert float(p["tlr4_inhibition_peak_time"]) == 5.0
    assert p["tlr4_inhibition_peak_time"].attrs["units"] == "h"


# --------------------------------------------------------------------------------------------
# Failed rows, the window, the registry


def _ldn_like(doses=(0.5, 4.5, 50.0), subjects=1, nan_rows=()):
    """A small fake LDN sweep: blockade grows with dose; as in the ldn model, the immune index
    (immune-cell proliferative activity) is dampened under partial blockade and raised under
    round-the-clock blockade."""
    t = np.arange(0.0, 24.0 * 8 + 1)
    rows = []
    for dose in doses:
        width = min(24.0, 1.5 * dose)   # occupancy 0.8 for 0.75, 6.75 or 24 h a day
        tau = np.mod(t, 24.0)
        occ = np.where(tau < width, 0.8, 0.2) if width < 24 else np.full_like(t, 0.95)
        gain = 0.3 if 2.0 <= width <= 10.0 else (-0.2 if width >= 24 else 0.02)
        immune = 1.0 - gain * (1 - np.exp(-t / 48.0))
        signal = 1.0 + (0.2 if width < 24 else -0.5) * np.exp(-tau / 6.0)
        prolif = 1.0 - 0.5 * gain * t / t[-1]
        tlr4 = 1e-6 * dose * np.exp(-tau / 4.0)
        rows.append(np.stack([np.full_like(t, dose), occ, signal, immune, prolif, tlr4],
                             axis=-1))
    y = np.stack(rows)                                     # (dose, time, var)
    y = np.broadcast_to(y[:, None], (len(doses), subjects) + y.shape[1:]).copy()
    y *= 1.0 + 0.01 * np.arange(subjects)[None, :, None, None]   # small IIV
    for d, s in nan_rows:
        y[d, s] = np.nan
    names = ["C_ntx", "occupancy_mor_drug", "signal_opioid", "immune_index", "proliferation",
             "tlr4_inhibition"]
    return make_dataset(t, y, names, ["ng/mL", "1", "1", "1", "1", "1"], None,
                        dims=("dose", "subject"),
                        coords={"dose": ("dose", np.array(doses), {"units": "mg"}),
                                "subject": np.arange(subjects)},
                        status=np.zeros((len(doses), subjects), int))


def test_nan_rows_give_nan_without_warnings():
    ds = _ldn_like(subjects=3, nan_rows=[(1, 2)])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = compute_metrics(ds, list(METRICS), {
            "end_value": {"var": "immune_index"}, "window_summary": {"subject_dim": None},
            "nca": {"var": "C_ntx"}, "blockade_hours": {"var": "occupancy_mor_drug"},
            "occupancy_summary": {"var": "occupancy_mor_drug"},
            "rebound": {"var": "signal_opioid"}, "peak": {"var": "tlr4_inhibition"},
            "steady_state_nca": {"var": "C_ntx", "tau": 24.0}})
    for name, da in out.data_vars.items():
        if "subject" in da.dims and name != "status":
            assert np.isnan(da.sel(dose=4.5, subject=2)), name
            assert np.isfinite(da.sel(dose=4.5, subject=1)) or name in (
                "lambda_z", "half_life", "AUCinf", "Tmax"), name


def test_window_summary_per_row():
    ds = _ldn_like(subjects=1).isel(subject=0)
    out = window_summary(ds)
    # Hourly samples of a step: each edge sits half-way between samples, +0.5 h per day.
    np.testing.assert_allclose(out["blockade_hours"].values, [1.0, 7.0, 24.0])
    np.testing.assert_array_equal(out["in_window"].values, [0.0, 1.0, 0.0])
    assert "blockade_hours" in out["in_window"].attrs["definition"]
    assert out.attrs["max_blockade_hours"] == 10.0
    assert out["immune_index_end"].attrs["long_name"].startswith("immune_index")
    assert float(out["rebound_max"].sel(dose=50.0)) == 0.0
    assert float(out["proliferation_end"].sel(dose=4.5)) < 1.0 < float(
        out["proliferation_end"].sel(dose=50.0))
    looser = window_summary(ds, max_blockade_hours=24.0, immune_margin=0.01)
    np.testing.assert_array_equal(looser["in_window"].values, [1.0, 1.0, 0.0])


def test_window_direction_follows_the_readout():
    ds = _ldn_like(subjects=1).isel(subject=0)
    mirrored = ds.assign(immune_index=2.0 - ds["immune_index"])
    np.testing.assert_array_equal(
        window_summary(mirrored, immune_direction="increase")["in_window"].values, [0, 1, 0])
    np.testing.assert_array_equal(window_summary(mirrored)["in_window"].values, [0, 0, 0])
    assert "baseline(initial) - immune_index_end" in window_summary(ds).attrs[
        "window_definition"]
    with pytest.raises(MetricError, match="immune_direction"):
        window_summary(ds, immune_direction="up")


def test_window_summary_over_a_population():
    ds = _ldn_like(subjects=4, nan_rows=[(1, 0), (2, 0), (2, 1), (2, 2), (2, 3)])
    out = window_summary(ds)
    assert "subject" not in out.dims
    np.testing.assert_array_equal(out["n_subjects_ok"].values, [4, 3, 0])
    np.testing.assert_array_equal(out["in_window_fraction"].values[:2], [0.0, 1.0])
    assert np.isnan(out["in_window_fraction"].values[2])
    np.testing.assert_array_equal(out["in_window"].values[:2], [0.0, 1.0])
    assert np.isnan(out["in_window"].values[2])
    assert out["blockade_hours"].attrs["units"] == "h/day"


def test_compute_metrics_registry_and_errors():
    ds = _ldn_like(subjects=2)
    out = compute_metrics(ds, ["nca", "blockade_hours", "end_value"],
                          {"nca": {"var": "C_ntx"},
                           "blockade_hours": {"var": "occupancy_mor_drug", "threshold": 0.5},
                           "end_value": {"var": "C_ntx"}})
    assert {"Cmax", "blockade_hours", "C_ntx_end", "status"} <= set(out.data_vars)
    assert out["Cmax"].dims == ("dose", "subject")
    assert float(out["dose"][0]) == 0.5 and out["dose"].attrs["units"] == "mg"
    with pytest.raises(ConfigError, match="unknown metric 'auc'"):
        compute_metrics(ds, ["auc"])
    with pytest.raises(ConfigError, match="accepted options"):
        compute_metrics(ds, ["nca"], {"nca": {"variable": "C_ntx"}})
    with pytest.raises(ConfigError, match="conflicting"):
        compute_metrics(ds, ["blockade_hours", "window_summary"],
                        {"blockade_hours": {"var": "occupancy_mor_drug"},
                         "window_summary": {"threshold": 0.3, "subject_dim": None}})
