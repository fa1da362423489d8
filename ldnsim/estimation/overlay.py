"""Fitted values as a TOML overlay: a ``[scenarios.NAME]`` table a model can take on.

The file is a model-file fragment, so it can be pasted into the model file as it is; or applied
at run time::

    model = ldnsim.estimation.apply_overlay("one_compartment_oral", "fit.toml")
    ldnsim.simulate(model, t, scenarios=["fit"], regimen=...)

Its comment header records the model, its hash, the fit file, the objective and the data
files' hashes.
"""
from __future__ import annotations

import dataclasses
import json
import tomllib
from pathlib import Path

import numpy as np

from .._files import atomic_write_text
from .problem import EstimationError

__all__ = ["write_overlay", "read_overlay", "apply_overlay", "overlay_text"]


def _q(text):
    return json.dumps(str(text), ensure_ascii=False)  # a valid TOML basic string


def overlay_text(fit, name="fit", *, fit_path=None):
    """The overlay's TOML text for a fit result (model parameters only)."""
    from ..results import provenance
    from .draws import _as_fit

    fit = _as_fit(fit)
    attrs = provenance(fit)
    kinds = np.asarray(fit["kind"].values).astype(str)
    names = [str(p) for p in fit["parameter"].values]
    est = np.asarray(fit["estimate"].values, dtype=float)
    lo = np.asarray(fit["ci_lower"].values, dtype=float)
    hi = np.asarray(fit["ci_upper"].values, dtype=float)
    data = ", ".join(f"{Path(p).name} (sha256 {h[:12]})" for p, h in
                     (attrs.get("data_files") or {}).items())
    lines = [
        f"# Fitted parameter values for model {attrs.get('model')!r} (model hash "
        f"{str(attrs.get('model_hash'))[:16]}).",
        f"# Written by ldnsim {attrs.get('ldnsim_version')} from "
        f"{fit_path or 'a fit result'}; {attrs.get('objective_name')} = "
        f"{float(attrs.get('objective', np.nan)):.6g} ({attrs.get('method')}, "
        f"{attrs.get('n_obs')} observations).",
        f"# Data: {data or 'n/a'}",
        "# Apply: ldnsim.estimation.apply_overlay(model, this_file), then scenarios = "
        f"[{_q(name)}]; or paste the table into the model file.",
        f"[scenarios.{name}]",
        f"description = {_q('parameters fitted by ldnsim fit (Wald CIs in the comments)')}",
        f"source = {_q('ldnsim fit of ' + str(attrs.get('model')) + ' to ' + (data or 'data'))}",
    ]
    for k, nm in enumerate(names):
        if kinds[k] != "model":
            continue
        lines.append(f"{nm} = {float(est[k])!r}  # Wald CI [{lo[k]:.4g}, {hi[k]:.4g}]")
    return "\n".join(lines) + "\n"


def write_overlay(fit, path, name="fit", *, fit_path=None):
    """Write the overlay to ``path`` atomically; returns the path."""
    if not name.isidentifier():
        raise EstimationError(f"overlay name {name!r} must be a plain identifier")
    text = overlay_text(fit, name, fit_path=fit_path)
    return atomic_write_text(path, text)


def read_overlay(path):
    """``(name, values, description, source)`` of an overlay file."""
    try:
        doc = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise EstimationError(f"{path}: cannot read the overlay ({exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise EstimationError(f"{path}: TOML syntax error: {exc}") from None
    scen = doc.get("scenarios")
    if set(doc) != {"scenarios"} or not isinstance(scen, dict) or len(scen) != 1:
        raise EstimationError(f"{path}: an overlay holds exactly one [scenarios.NAME] table")
    (name, table), = scen.items()
    if not isinstance(table, dict):
        raise EstimationError(f"{path}: [scenarios.{name}] must be a table")
    values = {k: v for k, v in table.items() if k not in ("description", "source")}
    for k, v in values.items():
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise EstimationError(f"{path}: [scenarios.{name}] {k}: expected a number, got "
                                  f"{v!r}")
    return name, values, str(table.get("description", "")), str(table.get("source", ""))


def apply_overlay(model, overlay):
    """A copy of ``model`` with the overlay added as a scenario (select it by its name).

    Parameters
    ----------
    model : Model or str
    overlay : path of an overlay file

    Returns
    -------
    Model
        With ``scenarios[name]`` added; its hash is recomputed from the content.
    """
    from ..model import Scenario, load_model

    model = load_model(model)
    name, values, description, source = read_overlay(overlay)
    if name in model.scenarios:
        raise EstimationError(f"model {model.name!r} already has a scenario {name!r}; write "
                              "the overlay under another name")
    unknown = [k for k in values if k not in model.parameter_names]
    if unknown:
        raise EstimationError(f"{overlay}: {unknown[0]!r} is not a parameter of model "
                              f"{model.name!r}")
    scenarios = dict(model.scenarios)
    scenarios[name] = Scenario(name, description, values, source)
    return dataclasses.replace(model, scenarios=scenarios, hash="")
