"""``ldnsim fit CONFIG.toml``: end to end, one-line config errors, nothing half-written."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ldnsim import cli
from ldnsim.errors import ConfigError
from ldnsim.estimation import apply_overlay, open_fit
from ldnsim.estimation.config import load_fit_config

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "data" / "pk_oral_synthetic.csv"

CONFIG = f"""
[fit]
name = "oral pk"
description = "synthetic test data"
model = "one_compartment_oral"
data = "{FIXTURE}"
method = "ml"
starts = 2
seed = 1

[parameters]
ka = {{ init = 1.0, lower = 0.3, upper = 10.0 }}  # above CL/V: no flip-flop twin
CL = {{ lower = 10.0, upper = 2000.0 }}
V = {{}}

[error]
model = "proportional"
proportional = 0.2

[profile]
parameters = ["CL"]

[predictive]
draws = 50
seed = 2
"""


def _run(*args, cwd=None):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    return subprocess.run([sys.executable, "-m", "ldnsim", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


def test_fit_command_writes_result_overlay_and_figures(tmp_path):
    cfg = tmp_path / "oral.toml"
    cfg.write_text(CONFIG)
    proc = _run("fit", cfg, "-o", tmp_path / "out" / "oral.nc", "--no-progress", "--threads",
                "1")
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "out"
    for name in ("oral.nc", "oral.toml", "oral_gof.png", "oral_vpc.png", "oral_profiles.png"):
        assert (out / name).is_file(), name
        assert f"wrote {out / name}" in proc.stdout
    assert "ldnsim fit: fitting 3 parameters of one_compartment_oral to 28 observations" \
        in proc.stderr
    assert "identifiable" in proc.stdout and "predictive check:" in proc.stdout
    ds = open_fit(out / "oral.nc")
    np.testing.assert_allclose(ds["estimate"].sel(parameter=["ka", "CL", "V"]).values,
                               [0.7, 210.0, 1350.0], rtol=0.15)
    assert 0 < ds.attrs["vpc_coverage"] <= 1
    model = apply_overlay("one_compartment_oral", out / "oral.toml")
    assert model.scenarios["fit"].values["CL"] == pytest.approx(
        float(ds["estimate"].sel(parameter="CL")))
    assert not [p for p in out.iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize("edit, words", [
    (("starts = 2", "startz = 2"), "[fit] startz: unknown key 'startz'"),
    (("method = \"ml\"", "method = \"ols\""), "[fit] method: expected 'ml' or 'wls'"),
    (("V = {}", "V = { scale = \"ln\" }"), "[parameters] V.scale"),
    (("[profile]", "[profiles]"), "unknown section 'profiles'"),
    (("model = \"proportional\"", "model = \"exponential\""),
     "[error]: model: Input should be 'additive'"),
])
def test_bad_config_is_one_line(tmp_path, edit, words):
    cfg = tmp_path / "bad.toml"
    cfg.write_text(CONFIG.replace(*edit))
    with pytest.raises(ConfigError) as info:
        load_fit_config(cfg)
    assert words in str(info.value) and "\n" not in str(info.value)
    proc = _run("fit", cfg)
    assert proc.returncode == 2
    assert proc.stderr.startswith("ldnsim: error: ") and proc.stderr.count("\n") == 1


def test_bad_data_is_one_line(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text(FIXTURE.read_text().replace("C_plasma", "C_plasmo", 1))
    cfg = tmp_path / "c.toml"
    cfg.write_text(CONFIG.replace(str(FIXTURE), "bad.csv"))
    proc = _run("fit", cfg, "-o", tmp_path / "x.nc")
    assert proc.returncode == 2
    assert "column NAME: model 'one_compartment_oral' has no output or state 'C_plasmo'" \
        in proc.stderr
    assert not (tmp_path / "x.nc").exists()


def test_interrupted_fit_writes_nothing(tmp_path, monkeypatch, capsys):
    """Ctrl-C while the figures are drawn: exit 130, no result, no overlay, no temp files."""
    from ldnsim.estimation import cli as fit_cli

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(fit_cli, "_figure", interrupt)
    cfg = tmp_path / "oral.toml"
    cfg.write_text(CONFIG.replace("[profile]\nparameters = [\"CL\"]\n", "")
                   .replace("starts = 2", "starts = 1"))
    out = tmp_path / "out"
    code = cli.main(["fit", str(cfg), "-o", str(out / "oral.nc"), "--no-progress"])
    assert code == 130
    assert "interrupted" in capsys.readouterr().err
    assert list(out.iterdir()) == []


def test_example_config_is_valid():
    config, base, _, _ = load_fit_config(ROOT / "tests" / "data" / "fit_oral.toml")
    assert config.fit.model == "one_compartment_oral" and config.profile.parameters is True
    assert (base / config.fit.data).is_file()
