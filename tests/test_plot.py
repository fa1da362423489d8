"""ldnsim.plot: every function returns labelled Axes and draws a real figure (Agg backend)."""

import subprocess
import sys

import matplotlib as mpl
import numpy as np
import pytest

mpl.use("Agg")
import matplotlib.pyplot as plt

from ldnsim.metrics import window_summary
from ldnsim.plot import PlotError, plot_dose_response, plot_population, plot_profiles, plot_window
from ldnsim.results import make_dataset

DOSES = np.array([0.5, 1.0, 1.5, 3.0, 4.5, 6.0, 10.0, 25.0, 50.0, 100.0, 150.0, 300.0])
SCENARIOS = np.array(["pharmaceutical+human_pet", "racemic+rodent_transient"])


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _sweep(subjects=5):
    """dose x scenario x subject x time: occupancy saturating in dose, an immune index with
    a dip at intermediate blockade."""
    t = np.arange(0.0, 24.0 * 8 + 1)
    tau = np.mod(t, 24.0)
    rng = np.random.default_rng(3)
    shape = (DOSES.size, SCENARIOS.size, subjects, t.size)
    ed50 = np.array([5.6, 2.0])[None, :, None, None] * rng.lognormal(0, 0.3, shape[:3] + (1,))
    conc = DOSES[:, None, None, None] * np.exp(-0.17 * tau)
    occ = conc / (conc + ed50)
    hours = (occ > 0.5).mean(axis=-1, keepdims=True) * 24
    gain = np.where(hours <= 10, 0.25 * hours / 10, -0.1)
    immune = 1.0 - gain * (1 - np.exp(-t / 48.0))  # dampened = immunomodulated, as in ldn
    y = np.stack([np.broadcast_to(v, shape) for v in (conc / 10, occ, immune)], axis=-1)
    return make_dataset(
        t, y, ["C_ntx", "occupancy_mor_drug", "immune_index"], ["ng/mL", "1", "1"],
        ["total plasma naltrexone", "mu receptor occupancy by drug", "immunomodulation index"],
        dims=("dose", "scenario", "subject"),
        coords={"dose": ("dose", DOSES, {"units": "mg", "long_name": "daily dose"}),
                "scenario": SCENARIOS, "subject": np.arange(subjects)})


def _saved(ax, tmp_path, name):
    fig = np.ravel(ax)[0].figure
    path = tmp_path / f"{name}.png"
    fig.savefig(path, dpi=60)
    assert path.stat().st_size > 5_000  # a drawn figure, not an empty canvas
    return path


def test_plot_profiles(tmp_path):
    ds = _sweep().isel(scenario=0, subject=0)
    ax = plot_profiles(ds, "C_ntx", log=True)
    assert isinstance(ax, plt.Axes)
    assert ax.get_xlabel() == "time [h]"
    assert ax.get_ylabel() == "total plasma naltrexone [ng/mL]"
    assert ax.get_yscale() == "log"
    assert len(ax.get_lines()) == DOSES.size  # hue defaults to the one remaining dim
    assert ax.get_legend().get_texts()[0].get_text() == "0.5 mg"
    _saved(ax, tmp_path, "profiles")


def test_plot_profiles_on_given_axes_and_errors():
    fig, axes = plt.subplots(1, 2)
    ds = _sweep().isel(subject=0, dose=4)
    assert plot_profiles(ds, "occupancy_mor_drug", ax=axes[1], hue="scenario") is axes[1]
    with pytest.raises(PlotError, match="select one value"):
        plot_profiles(_sweep(), "C_ntx", hue="dose")
    with pytest.raises(PlotError, match="not in the data"):
        plot_profiles(ds, "nope")


def test_plot_dose_response_from_metrics_and_from_result(tmp_path):
    ds = _sweep()
    table = window_summary(ds, signal_var=None, proliferation_var=None)
    ax = plot_dose_response(table, "blockade_hours")
    assert ax.get_xscale() == "log"
    assert ax.get_xlabel() == "daily dose [mg]"
    assert "[h/day]" in ax.get_ylabel()
    assert len(ax.get_lines()) == SCENARIOS.size
    _saved(ax, tmp_path, "dose_response")
    # From a raw result with subjects: computed on the fly, median line and a 5-95% band.
    ax2 = plot_dose_response(ds, "Cmax(C_ntx)")
    assert ax2.get_xscale() == "log" and "[ng/mL]" in ax2.get_ylabel()
    assert len(ax2.collections) == SCENARIOS.size
    with pytest.raises(PlotError, match="neither"):
        plot_dose_response(ds, "bogus")


def test_plot_window(tmp_path):
    table = window_summary(_sweep(), signal_var=None, proliferation_var=None)
    assert (table["in_window"] == 1).any() and (table["in_window"] == 0).any()
    axes = plot_window(table)
    assert axes.shape == (3,)
    for ax in axes:
        assert ax.get_xscale() == "log"
    assert axes[0].get_ylabel() == "immune index at end\n(1 = untreated)"
    assert axes[1].get_ylabel() == "daily blockade [h/day]"
    assert axes[2].get_xlabel() == "daily dose [mg]"
    assert [t.get_text() for t in axes[2].get_yticklabels()] == list(SCENARIOS)
    # One bar per run of in-window doses, per scenario, spanning exactly those doses.
    runs = 0
    for row, scenario in enumerate(SCENARIOS):
        flags = table["in_window"].sel(scenario=scenario).values
        inside = DOSES[flags == 1]
        starts = np.flatnonzero(np.diff(np.concatenate([[0], flags == 1]).astype(int)) == 1)
        runs += starts.size
        bars = [p for p in axes[2].patches if abs(p.get_y() + p.get_height() / 2 - row) < 1e-9]
        assert len(bars) == starts.size
        if inside.size:
            assert min(b.get_x() for b in bars) < inside.min()
            assert max(b.get_x() + b.get_width() for b in bars) > inside.max()
    assert runs >= 1 and len(axes[2].patches) == runs
    _saved(axes, tmp_path, "window")
    # Unsummarised population metrics and raw results also work.
    assert plot_window(window_summary(_sweep(), subject_dim=None, signal_var=None,
                                      proliferation_var=None)).shape == (3,)


def test_plot_population(tmp_path):
    ds = _sweep(subjects=40).sel(dose=4.5, scenario=SCENARIOS[0])
    ax = plot_population(ds, "occupancy_mor_drug")
    assert ax.get_xlabel() == "time [h]"
    assert ax.get_ylabel() == "mu receptor occupancy by drug [1]"
    assert len(ax.collections) == 1  # the 5-95% band
    _saved(ax, tmp_path, "population")
    with pytest.raises(PlotError, match="select one value"):
        plot_population(_sweep(), "C_ntx")


def test_importing_ldnsim_modules_does_not_import_matplotlib():
    code = ("import sys, ldnsim.plot, ldnsim.metrics, ldnsim.io, ldnsim.results; "
            "sys.exit('matplotlib' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
