"""The sensitivity figure: heat maps of an index, parameters by dose, one panel per output
(rows) and scenario (columns).

matplotlib is imported when a figure is drawn, never at import.
"""
from __future__ import annotations

import numpy as np

from ldnsim.errors import ConfigError

__all__ = ["plot_sensitivity", "save_sensitivity_figure"]


def _short_labels(values):
    """Scenario labels without the parts every label shares (``a+b+tonic`` -> ``tonic``)."""
    parts = [str(v).split("+") for v in values]
    common = set.intersection(*(set(p) for p in parts)) if parts else set()
    return ["+".join(x for x in p if x not in common) or "+".join(p) for p in parts]


def _panels(indices, column_dim):
    """``[(label, selection dict)]`` over every dim but output, parameter and the column."""
    dims = [d for d in indices["ST" if "ST" in indices else "mu_star"].dims
            if d not in ("output", "parameter", column_dim)]
    sizes = [indices.sizes[d] for d in dims]
    labels = {d: (_short_labels(indices[d].values) if d in indices.coords
                  else [str(i) for i in range(indices.sizes[d])]) for d in dims}
    out = []
    for idx in np.ndindex(*sizes):
        label = ", ".join(labels[d][i] for d, i in zip(dims, idx))
        out.append((label, dict(zip(dims, idx))))
    return out or [("", {})]


def plot_sensitivity(indices, output=None, *, index=None, column_dim="dose", axes=None):
    """Heat maps of a sensitivity index with interval half-widths ("const": the output does
    not vary over the design, so no parameter decides it; "n/a": failed rows).

    Parameters
    ----------
    indices : xarray.Dataset
        From :func:`ldnsim.sensitivity.analyse` (or ``run_sensitivity(...).indices``).
    output : str or sequence of str, optional
        Outputs to draw, one row of panels each (default: all).
    index : str, optional
        ``"ST"`` (default for Sobol), ``"S1"``, or ``"mu_star"`` (default for Morris).
    column_dim : str
        Dim along the columns of each heat map (when an output has it).
    axes : 2-D array of matplotlib Axes, optional
        ``(n outputs, n panels)``; default: a new figure.

    Returns
    -------
    numpy.ndarray of matplotlib.axes.Axes
        Shape ``(n outputs, n panels)``; panels are the combinations of the other dims
        (scenarios).
    """
    import matplotlib.pyplot as plt

    method = indices.attrs.get("method", "sobol")
    index = index or ("ST" if method == "sobol" else "mu_star")
    if index not in indices:
        known = [str(v) for v in indices.data_vars if v not in ("n_failed", "output_std")]
        raise ConfigError(f"index {index!r} is not in these results; choose from "
                          f"{', '.join(known)}")
    outputs = ([output] if isinstance(output, str) else list(output) if output is not None
               else [str(o) for o in indices["output"].values])
    panels = _panels(indices, column_dim)
    n_par = indices.sizes["parameter"]
    if axes is None:
        ncol = indices.sizes.get(column_dim, 1)
        _, axes = plt.subplots(len(outputs), len(panels), squeeze=False, layout="constrained",
                               figsize=(len(panels) * (1.2 + 0.75 * ncol) + 1.5,
                                        len(outputs) * (0.33 * n_par + 1.0) + 0.5))
    axes = np.asarray(axes, dtype=object).reshape(len(outputs), len(panels))
    conf = f"{index}_conf" if f"{index}_conf" in indices else None
    vmax = 1.0 if method == "sobol" else float(np.nanmax(indices[index].values))
    own = dict(part.split(": ") for part in str(indices.attrs.get("output_dims", "")).split("; ")
               if ": " in part)
    image = None
    for r, out in enumerate(outputs):
        da = indices[index].sel(output=out)
        # one parameter order per output: most influential anywhere first
        worst = da.max([d for d in da.dims if d != "parameter"]) if da.ndim > 1 else da
        order = np.argsort(-np.nan_to_num(worst.values, nan=-1.0), kind="stable")
        for c, (label, where) in enumerate(panels):
            panel = _panel_values(indices, index, conf, out, order, where, column_dim, own)
            image = _draw_panel(axes[r, c], panel, column_dim, vmax,
                                f"{index} of {out}" + (f"\n{label}" if label else ""))
    if image is not None:
        plt.colorbar(image, ax=axes.ravel().tolist(), shrink=0.6, label=index)
    return axes


def _panel_values(indices, index, conf, out, order, where, column_dim, own):
    """One panel's data: ``sel`` (DataArray over parameter [, column_dim]), ``values`` and
    ``half`` (ndarray, shape (n_parameters, n_columns); ``half`` None without intervals),
    ``std`` (output spread per column, or None) and ``has_col``."""
    n_par = indices.sizes["parameter"]
    sel = indices[index].sel(output=out).isel(where).isel(parameter=order)
    half = indices[conf].sel(output=out).isel(where).isel(parameter=order) if conf else None
    if out in own and column_dim in sel.dims and column_dim not in own[out].split(","):
        sel = sel.isel({column_dim: 0}, drop=True)  # repeated along it: show once
        half = half.isel({column_dim: 0}, drop=True) if half is not None else None
    has_col = column_dim in sel.dims
    std = (indices["output_std"].sel(output=out).isel(where) if "output_std" in indices
           else None)
    if std is not None and not has_col and column_dim in std.dims:
        std = std.isel({column_dim: 0})
    std = np.ravel(std.values) if std is not None else None
    values = np.asarray(sel.transpose("parameter", ...).values, float).reshape(n_par, -1)
    halfv = (np.asarray(half.transpose("parameter", ...).values, float)
             .reshape(n_par, -1) if half is not None else None)
    return {"sel": sel, "values": values, "half": halfv, "std": std, "has_col": has_col}


def _draw_panel(a, panel, column_dim, vmax, title):
    """Draw one heat map with its cell labels on the Axes ``a``; returns the image."""
    sel, values, halfv, std = panel["sel"], panel["values"], panel["half"], panel["std"]
    image = a.imshow(values, aspect="auto", cmap="viridis", vmin=0.0, vmax=vmax)
    for (i, j), v in np.ndenumerate(values):
        if np.isfinite(v):
            text = f"{v:.2f}" + (f"\n±{halfv[i, j]:.2f}" if halfv is not None else "")
        else:
            text = "const" if std is not None and std[j] == 0 else "n/a"
        a.text(j, i, text, ha="center", va="center", fontsize=6,
               color="white" if np.isfinite(v) and v < 0.6 * vmax else "black")
    a.set_yticks(range(values.shape[0]), [str(p) for p in sel["parameter"].values], fontsize=7)
    if panel["has_col"]:
        unit = sel[column_dim].attrs.get("units", "")
        a.set_xticks(range(values.shape[1]), [f"{x:g}" for x in sel[column_dim].values],
                     fontsize=7)
        a.set_xlabel(f"{column_dim} ({unit})" if unit else column_dim, fontsize=7)
    else:
        a.set_xticks([])
    a.set_title(title, fontsize=8)
    return image


def save_sensitivity_figure(indices, path, **kw):
    """Draw :func:`plot_sensitivity` and write it atomically to ``path`` (format from the
    suffix); returns the path."""
    from pathlib import Path

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ldnsim._files import atomic_path

    path = Path(path)
    fig = plot_sensitivity(indices, **kw).flat[0].figure
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=path.suffix.lstrip(".").lower(), dpi=150,
                        bbox_inches="tight")
    finally:
        plt.close(fig)
    return path
