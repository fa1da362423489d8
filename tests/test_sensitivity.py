"""Global sensitivity analysis: Sobol indices against analytic values, Morris screening, the
[sensitivity] section, run_sensitivity, the figure and the ``ldnsim sensitivity`` command."""

import math

import numpy as np
import pytest
import SALib  # noqa: F401  (in the test extra: a missing SALib fails here, never skipped)
import xarray as xr

from ldnsim import cli
from ldnsim.errors import ConfigError
from ldnsim.experiment import load_experiment
from ldnsim.io import open_result
from ldnsim.sensitivity import (
    analyse,
    plot_sensitivity,
    run_sensitivity,
    sensitivity_design,
)

A, B = 7.0, 0.1  # the Ishigami function's usual constants
PI = math.pi


def ishigami(x1, x2, x3):
    return np.sin(x1) + A * np.sin(x2) ** 2 + B * x3**4 * np.sin(x1)


def ishigami_indices():
    """Analytic variance decomposition (Ishigami & Homma 1990; Sobol' & Levitan 1999)."""
    v1 = 0.5 * (1 + B * PI**4 / 5) ** 2
    v2 = A**2 / 8
    v13 = B**2 * PI**8 * (1 / 18 - 1 / 50)
    v = v1 + v2 + v13
    return {"S1": [v1 / v, v2 / v, 0.0], "ST": [(v1 + v13) / v, v2 / v, v13 / v],
            "S13": v13 / v}


def _outputs(design, f):
    s = design.samples
    return xr.Dataset({"y": ("sample", f(*(s[n] for n in design.names)))})


def test_ishigami_sobol_indices_match_the_analytic_values_within_their_intervals():
    ranges = {n: [-PI, PI] for n in ("x1", "x2", "x3")}
    design = sensitivity_design("sobol", 1024, ranges, seed=7, second_order=True)
    assert design.X.shape == (1024 * (2 * 3 + 2), 3)
    ds = analyse(design, _outputs(design, ishigami), ["y"], resamples=500, seed=3)
    exact = ishigami_indices()
    for key in ("S1", "ST"):
        est = ds[key].sel(output="y").values
        half = ds[f"{key}_conf"].sel(output="y").values
        assert np.all(half > 0) and np.all(half < 0.15), (key, half)
        assert np.all(np.abs(est - exact[key]) <= half), (key, est, exact[key], half)
    s13 = float(ds["S2"].sel(output="y", parameter="x1", parameter_2="x3"))
    h13 = float(ds["S2_conf"].sel(output="y", parameter="x1", parameter_2="x3"))
    assert abs(s13 - exact["S13"]) <= h13, (s13, exact["S13"], h13)
    assert int(ds["n_failed"].sum()) == 0
    assert list(ds["parameter"].values) == ["x1", "x2", "x3"]


def test_morris_ranks_a_dummy_parameter_last():
    ranges = {n: [-PI, PI] for n in ("x1", "x2", "x3", "dummy")}
    design = sensitivity_design("morris", 40, ranges, seed=11, levels=4)
    assert design.X.shape == (40 * 5, 4)
    ds = analyse(design, _outputs(design, lambda x1, x2, x3, dummy: ishigami(x1, x2, x3)),
                 ["y"], resamples=200, seed=1)
    mu_star = ds["mu_star"].sel(output="y")
    assert str(mu_star.idxmin("parameter").values) == "dummy"
    assert float(mu_star.sel(parameter="dummy")) == 0.0
    assert float(mu_star.sel(parameter="x3")) > 0.5


def test_log_uniform_design_is_uniform_in_log():
    design = sensitivity_design("sobol", 256, {"a": [1.0, 100.0], "b": [0.0, 1.0]},
                                log=["a"], seed=1)
    a = design.samples["a"]
    assert a.min() >= 1.0 and a.max() <= 100.0
    assert abs(np.mean(np.log10(a)) - 1.0) < 0.05  # log-uniform: mean of log10 is 1
    assert abs(np.mean(design.samples["b"]) - 0.5) < 0.05


def test_normal_and_lognormal_parameters():
    design = sensitivity_design("sobol", 1024, {"a": [0.0, 1.0]}, normal={"b": [10.0, 2.0]},
                                lognormal={"c": [5.0, 0.3]}, seed=2)
    s = design.samples
    assert abs(np.mean(s["b"]) - 10.0) < 0.1 and abs(np.std(s["b"]) - 2.0) < 0.1
    assert abs(np.median(s["c"]) - 5.0) < 0.1 and abs(np.std(np.log(s["c"])) - 0.3) < 0.02
    assert 0.0 <= s["a"].min() and s["a"].max() <= 1.0
    # y = b + a: Var(b) = 4, Var(a) = 1/12, so ST(b) = 4 / (4 + 1/12)
    ds = analyse(design, xr.Dataset({"y": ("sample", s["a"] + s["b"])}), ["y"], resamples=200)
    st = ds["ST"].sel(output="y")
    assert abs(float(st.sel(parameter="b")) - 4 / (4 + 1 / 12)) <= float(
        ds["ST_conf"].sel(output="y", parameter="b")) + 1e-3
    assert float(st.sel(parameter="c")) < 0.01
    with pytest.raises(ConfigError, match="distribution already"):
        load_experiment(SENS.replace("outputs =", "normal = { CL = [210.0, 20.0] }\noutputs ="))


def test_a_failed_design_row_leaves_nan_indices_and_says_so():
    design = sensitivity_design("sobol", 64, {"a": [0, 1], "b": [0, 1]}, seed=1)
    y = design.samples["a"] + design.samples["b"]
    y[3] = np.nan
    with pytest.warns(UserWarning, match="failed design rows"):
        ds = analyse(design, xr.Dataset({"y": ("sample", y)}), ["y"], resamples=50)
    assert int(ds["n_failed"].sel(output="y")) == 1
    assert np.isnan(ds["ST"].sel(output="y").values).all()


def test_a_constant_output_has_undefined_indices():
    design = sensitivity_design("sobol", 64, {"a": [0, 1], "b": [0, 1]}, seed=1)
    y = np.zeros(design.X.shape[0])
    ds = analyse(design, xr.Dataset({"y": ("sample", y)}), ["y"], resamples=50)
    assert float(ds["output_std"].sel(output="y")) == 0.0
    assert np.isnan(ds["ST"].values).all() and np.isnan(ds["S1_conf"].values).all()


SENS = """
[model]
name = "one_compartment_oral"
[regimen]
dose = 50.0
[output]
t_end = 48.0
step = 0.5
trajectories = false
[sweep]
dose = [10.0, 50.0]
[sensitivity]
method = "sobol"
n = 16
seed = 3
log = true
ranges = { ka = [0.35, 1.4], CL = [105.0, 420.0], V = [675.0, 2700.0] }
outputs = ["Cmax", "AUC"]
resamples = 100
[metrics]
names = ["nca"]
[metrics.nca]
var = "C_plasma"
"""


def test_run_sensitivity_of_a_pk_model():
    res = run_sensitivity(SENS, progress=False)
    ds = res.indices
    assert ds.sizes == {"output": 2, "dose": 2, "parameter": 3}
    assert int(ds["n_failed"].sum()) == 0
    # AUC = F * dose / CL: only CL matters, at every dose
    st_auc = ds["ST"].sel(output="AUC")
    assert np.all(st_auc.sel(parameter="CL") > 0.95)
    assert np.all(st_auc.sel(parameter=["ka", "V"]) < 0.05)
    # a linear model: the indices do not depend on the dose (same design, scaled outputs)
    np.testing.assert_allclose(ds["ST"].isel(dose=0), ds["ST"].isel(dose=1), atol=1e-9)
    assert res.metrics["Cmax"].dims == ("dose", "sample")
    assert res.metrics.sizes["sample"] == 16 * 5
    assert "time" not in res.metrics.dims  # metrics only
    assert ds.attrs["design_rows"] == 80 and ds.attrs["n_rows"] == 160


def test_sensitivity_section_is_checked():
    bad = SENS.replace('outputs = ["Cmax", "AUC"]', 'outputs = ["Cmaks"]')
    with pytest.raises(ConfigError, match=r"sensitivity.*Cmaks.*did you mean 'Cmax'"):
        load_experiment(bad)
    with pytest.raises(ConfigError, match="power of 2"):
        load_experiment(SENS.replace("n = 16", "n = 20"))
    with pytest.raises(ConfigError, match="remove \\[sampling\\]"):
        load_experiment(SENS + "\n[sampling]\nn = 4\nranges = { ka = [0.5, 1.0] }\n")
    with pytest.raises(ConfigError, match="'Vd' is not in model"):
        load_experiment(SENS.replace("V = [", "Vd = ["))
    with pytest.raises(ConfigError, match="log-uniform needs a lower bound > 0"):
        load_experiment(SENS.replace("ka = [0.35", "ka = [0.0"))
    no_metrics = SENS.split("[metrics]")[0].replace("trajectories = false\n", "")
    with pytest.raises(ConfigError, match="add a \\[metrics\\] section"):
        load_experiment(no_metrics)


def test_figure_has_a_panel_per_output(tmp_path):
    import matplotlib.pyplot as plt

    res = run_sensitivity(SENS, progress=False)
    axes = plot_sensitivity(res.indices)
    assert axes.shape == (2, 1)
    assert axes[0, 0].get_title().startswith("ST of Cmax")
    assert [t.get_text() for t in axes[0, 0].get_xticklabels()] == ["10", "50"]
    plt.close("all")


def test_the_sensitivity_command(tmp_path, capsys):
    exp = tmp_path / "sens.toml"
    exp.write_text(SENS)
    code = cli.main(["sensitivity", str(exp), "-o", str(tmp_path / "idx.nc"), "--plot",
                     str(tmp_path / "idx.png"), "--no-progress", "--threads", "1"])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert "AUC: largest ST: CL" in out.out
    ds = open_result(tmp_path / "idx.nc")
    assert set(ds.data_vars) >= {"S1", "S1_conf", "ST", "ST_conf", "n_failed"}
    assert (tmp_path / "idx.png").stat().st_size > 5000
    assert cli.main(["sensitivity", "pk_single_dose"]) == 2
    assert "no [sensitivity] section" in capsys.readouterr().err


def test_a_derived_window_output_needs_the_window_metric_before_anything_runs():
    """lowest/highest_dose_in_window are refused at validation, not after the whole design
    has been solved (found by a review: the run solved every row, then failed)."""
    bad = SENS.replace('outputs = ["Cmax", "AUC"]', 'outputs = ["Cmax", "highest_dose_in_window"]')
    with pytest.raises(ConfigError, match=r"sensitivity.*highest_dose_in_window.*needs the "
                                          r"window metric"):
        load_experiment(bad)
    with pytest.raises(ConfigError) as err:
        load_experiment(SENS.replace('outputs = ["Cmax", "AUC"]', 'outputs = ["Cmaks"]'))
    assert "dose_in_window" not in str(err.value)  # not offered where it cannot work
