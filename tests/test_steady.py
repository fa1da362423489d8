"""Steady-state dosing (NONMEM SS=1) and the steady-state NCA metrics, against closed forms.

One-compartment oral model (models/one_compartment_oral.toml): a dose D into ``gut`` every tau.
By superposition the amounts just before a dose at steady state are
``gut = D e^{-ka tau} / (1 - e^{-ka tau})`` and
``central = D ka / (ka - k) (e^{-k tau} / (1 - e^{-k tau}) - e^{-ka tau} / (1 - e^{-ka tau}))``
with ``k = CL / V``; ``AUCtau = 1000 D / CL`` (C = 1000 central / V).
"""
import numpy as np
import pytest

from ldnsim import load_model, simulate
from ldnsim.dosing import Dose, Regimen
from ldnsim.errors import RegimenError
from ldnsim.metrics import METRICS
from ldnsim.steady import steady_state

KA, V = 0.7, 1350.0


def _closed_form(D, tau, CL):
    k = CL / V
    gut = D * np.exp(-KA * tau) / (1 - np.exp(-KA * tau))
    central = D * KA / (KA - k) * (np.exp(-k * tau) / (1 - np.exp(-k * tau))
                                   - np.exp(-KA * tau) / (1 - np.exp(-KA * tau)))
    return np.array([gut, central])


def _conc(t, D, tau, CL):
    """Concentration (ng/mL) at time t after a dose at steady state (0 <= t < tau)."""
    k = CL / V
    return 1000 / V * D * KA / (KA - k) * (np.exp(-k * t) / (1 - np.exp(-k * tau))
                                            - np.exp(-KA * t) / (1 - np.exp(-KA * tau)))


@pytest.fixture(scope="module")
def oral():
    model = load_model("one_compartment_oral")
    return model, model.compile()


@pytest.mark.parametrize("acceleration", ["anderson", "newton", "fixed"])
@pytest.mark.parametrize("CL", [20.0, 210.0])
def test_steady_state_matches_superposition(oral, acceleration, CL):
    model, compiled = oral
    reg = Regimen([Dose(50.0, every=24.0, ss=True)])
    P = model.parameter_vector({"CL": CL})[None]
    ss = steady_state(compiled, reg, P, model.initial_state(), acceleration=acceleration,
                      rtol=1e-10, atol=1e-12)
    exact = _closed_form(50.0, 24.0, CL)
    np.testing.assert_allclose(ss.states[0, 1], exact[1], rtol=1e-7)
    np.testing.assert_allclose(ss.states[0, 0], exact[0], rtol=1e-5, atol=1e-12)
    assert ss.residual[0] <= 1.0


def test_acceleration_needs_fewer_intervals_than_simulating(oral):
    model, compiled = oral
    reg = Regimen([Dose(50.0, every=24.0, ss=True)])
    P = model.parameter_vector({"CL": 20.0})[None]  # half-life 47 h: slow to accumulate
    counts = {a: steady_state(compiled, reg, P, model.initial_state(), acceleration=a).intervals
              for a in ("anderson", "newton", "fixed")}
    assert counts["anderson"] <= 6
    assert counts["newton"] <= 3 * 3
    assert counts["fixed"] > 40


def test_no_steady_state_without_elimination(oral):
    model, compiled = oral
    reg = Regimen([Dose(50.0, every=24.0, ss=True)])
    P = model.parameter_vector({"CL": 0.0})[None]
    with pytest.raises(RegimenError, match=r"no periodic steady state.*'central' still "
                                           r"changes by 50 mg per interval"):
        steady_state(compiled, reg, P, model.initial_state())


def test_simulate_starts_at_steady_state_and_stays_there():
    reg = Regimen([Dose(50.0, every=24.0, count=5, ss=True)])
    t = np.arange(0.0, 120.0 + 1e-9, 0.5)
    ds = simulate("one_compartment_oral", t, regimen=reg, params={"CL": 20.0}, rtol=1e-9,
                  atol=1e-12)
    c = ds["C_plasma"].values
    within = t < 24
    np.testing.assert_allclose(c[within], _conc(t[within], 50.0, 24.0, 20.0), rtol=1e-6)
    # every interval repeats the first one
    np.testing.assert_allclose(c[96:144], c[0:48], rtol=1e-6)


def test_steady_state_dose_after_the_start_and_with_lag():
    reg = Regimen([Dose(50.0, time=10.0, every=24.0, count=2, ss=True, lag=1.5)])
    t = np.arange(0.0, 58.0 + 1e-9, 0.5)
    ds = simulate("one_compartment_oral", t, regimen=reg, params={"CL": 20.0}, rtol=1e-9,
                  atol=1e-12)
    c = ds["C_plasma"].values
    assert np.all(c[t < 10] == 0.0)
    # from 10 h: the steady state of doses at 11.5, 35.5, ...: C(10 + s) = C_ss(s + 24 - 1.5)
    s = t[(t >= 10) & (t < 11.5)] - 10
    np.testing.assert_allclose(c[(t >= 10) & (t < 11.5)], _conc(s + 22.5, 50, 24, 20),
                               rtol=1e-6)


def test_ss_rules():
    with pytest.raises(RegimenError, match="needs every"):
        Dose(1.0, ss=True)
    with pytest.raises(RegimenError, match="lag \\+ duration <= every"):
        Dose(1.0, every=24.0, ss=True, lag=20.0, duration=5.0)
    with pytest.raises(RegimenError, match="both have ss=True"):
        Regimen([Dose(1.0, every=24, ss=True), Dose(2.0, every=12, ss=True)])
    with pytest.raises(RegimenError, match="must be the earliest"):
        Regimen([Dose(1.0, time=5.0, every=24, ss=True), Dose(2.0, time=0.0)])
    with pytest.raises(RegimenError, match="needs the model solved"):
        Regimen([Dose(1.0, every=24, ss=True)]).expand(load_model("one_compartment_oral"))


def test_steady_state_metrics_against_closed_forms():
    D, tau, CL = 50.0, 24.0, 20.0
    t = np.arange(0.0, 24.0 * 30 + 1e-9, 0.05)
    ds = simulate("one_compartment_oral", t, regimen=Regimen.repeat(D, every=tau, count=30),
                  params={"CL": CL}, rtol=1e-10, atol=1e-12)
    m = METRICS["steady_state_nca"](ds, var="C_plasma", tau=tau)
    k = CL / V
    auc_ss = 1000 * D / CL
    np.testing.assert_allclose(float(m["AUCtau"]), auc_ss, rtol=2e-4)  # 30 doses: 1 - 4e-7
    np.testing.assert_allclose(float(m["Cavg"]), auc_ss / tau, rtol=2e-4)
    grid = np.linspace(0, tau, 200001)
    c_ss = _conc(grid, D, tau, CL)
    np.testing.assert_allclose(float(m["Cmax_ss"]), c_ss.max(), rtol=1e-4)
    np.testing.assert_allclose(float(m["Cmin_ss"]), c_ss.min(), rtol=1e-4)
    np.testing.assert_allclose(float(m["Ctrough"]), _conc(0.0, D, tau, CL), rtol=1e-4)
    np.testing.assert_allclose(float(m["Tmax_ss"]), grid[c_ss.argmax()], atol=0.05)
    np.testing.assert_allclose(float(m["fluctuation"]),
                               100 * (c_ss.max() - c_ss.min()) / (auc_ss / tau), rtol=1e-3)
    auc_first = 1000 * D / CL * (1 - (KA * np.exp(-k * tau) - k * np.exp(-KA * tau))
                                 / (KA - k))
    np.testing.assert_allclose(float(m["accumulation"]), auc_ss / auc_first, rtol=1e-3)
    assert m["AUCtau"].attrs["units"] == "ng/mL*h"


def test_steady_state_metrics_need_the_interval_inside_the_output():
    ds = simulate("one_compartment_oral", np.linspace(0, 10, 11),
                  regimen=Regimen.single(1.0))
    from ldnsim.metrics._core import MetricError
    with pytest.raises(MetricError, match="not inside the output"):
        METRICS["steady_state_nca"](ds, var="C_plasma", tau=24.0)


def test_steady_state_in_a_population_does_not_depend_on_chunks():
    from ldnsim.population import Population
    from ldnsim.sweep import sweep

    pop = Population(6, ("CL", "ka"), np.diag([0.09, 0.04]), seed=11)
    kw = dict(regimen=Regimen([Dose(50.0, every=24.0, count=2, ss=True, lag=0.5)]),
              population=pop, axes={"dose": [5.0, 50.0]}, params={"CL": 30.0})
    t = np.linspace(0, 48, 49)
    a = sweep("one_compartment_oral", t, **kw)
    b = sweep("one_compartment_oral", t, chunk_size=1, **kw)
    np.testing.assert_array_equal(a["C_plasma"].values, b["C_plasma"].values)
    c = a["C_plasma"].values
    np.testing.assert_allclose(c[..., 24], c[..., 0], rtol=1e-5)  # periodic from the start
    assert np.all(c[..., 0] > 0)


def test_named_parameters_need_values():
    model = load_model("one_compartment_oral")
    reg = Regimen([Dose(1.0, lag="tlag")])
    assert reg.parameters == ("tlag",) and reg.per_row
    with pytest.raises(RegimenError, match=r"names parameters \(tlag\): give their values"):
        reg.expand(model)
    with pytest.raises(RegimenError, match="lag names parameter 'tlag', which the model "
                                           "does not have"):
        reg.expand(model, params=model.parameter_vector())
    with pytest.raises(RegimenError, match="bind the dose to parameter values first"):
        reg.doses[0].start_times()
    table = Regimen([Dose(2.0, lag="tlag", bioavailability="F")]).expand(
        model, params={"tlag": 1.5, "F": 0.25})
    assert table.time.tolist() == [1.5] and table.amount.tolist() == [0.5]
