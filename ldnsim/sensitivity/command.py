"""``ldnsim sensitivity EXPERIMENT``: run a sensitivity experiment, print and write its indices.

::

    ldnsim sensitivity experiments/window_sensitivity.toml -o results/window_sensitivity.nc \\
        --plot results/window_sensitivity.png [--store run.zarr [--overwrite]] \\
        [--local-cluster 2 | --scheduler ADDRESS | --scheduler-file FILE] [--threads N]

The indices are written as NetCDF (``ldnsim.io.save_result``); ``--store`` keeps the run's
metrics (and any trajectories) in a resumable Zarr store.
"""
from __future__ import annotations

import numpy as np

from ldnsim.cluster import add_scale_options, client_from, is_store_path
from ldnsim.errors import ConfigError

__all__ = ["add_parser", "main", "summary"]


def add_parser(sub):
    """Register the ``sensitivity`` subcommand on an argparse subparsers object."""
    p = sub.add_parser("sensitivity", help="global sensitivity analysis of an experiment "
                                           "(Sobol indices or Morris screening)")
    p.add_argument("experiment", help="experiment file with a [sensitivity] section")
    p.add_argument("-o", "--output", help="indices file (.nc; default: <experiment name>"
                                          "_indices.nc)")
    p.add_argument("--plot", metavar="FIGURE", help="also draw the indices (.png, .pdf, .svg)")
    p.add_argument("--store", metavar="RUN.zarr", help="keep the run in a (resumable) Zarr store")
    p.add_argument("--threads", type=int, help="numba threads (default: all cores)")
    p.add_argument("--chunk-size", type=int, help="rows per chunk (does not change results)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_scale_options(p)
    p.set_defaults(func=main)
    return p


def summary(indices, top=5) -> str:
    """Lines ranking the parameters per output by their largest index over doses/scenarios."""
    method = indices.attrs.get("method", "sobol")
    key = "ST" if method == "sobol" else "mu_star"
    lines = [f"{method}: {indices.attrs.get('design_rows')} design rows x "
             f"{indices.attrs.get('n_rows', 0) // max(1, indices.attrs.get('design_rows', 1))}"
             f" per row of the design; run {indices.attrs.get('run_seconds')} s"]
    for out in indices["output"].values:
        da = indices[key].sel(output=out)
        others = [d for d in da.dims if d != "parameter"]
        worst = da.max(others) if others else da
        order = np.argsort(-np.nan_to_num(worst.values, nan=-1.0), kind="stable")[:top]
        ranked = ", ".join(f"{indices['parameter'].values[i]} {worst.values[i]:.2f}"
                           for i in order)
        lines.append(f"  {out}: largest {key}: {ranked}")
    return "\n".join(lines)


def _target(path, what, kind):
    """A path to write, checked before the long run (``ldnsim._files.output_path``: the
    extension of ``kind``, directories, devices; its directory made, as ``mkdir -p``)."""
    from ldnsim._files import output_path

    return output_path(path, what, kind, error=ConfigError)


def main(args):
    """Run the subcommand (called by ``ldnsim.cli``); returns the exit status."""
    from pathlib import Path

    from ldnsim._files import check_extension
    from ldnsim.experiment import load_experiment
    from ldnsim.io import save_result

    from .run import run_sensitivity

    for path, what, kind in ((args.output, "indices file", "netcdf"),
                             (args.plot, "figure", "figure"), (args.store, "store", "result")):
        if path is not None:  # before any work (loading compiles the model)
            check_extension(path, what, kind, error=ConfigError)
    exp = load_experiment(args.experiment)
    if exp.config.sensitivity is None:
        raise ConfigError(f"{exp.where}: no [sensitivity] section; see 'ldnsim sensitivity "
                          "--help' and ldnsim.sensitivity")
    out = _target(args.output or f"{exp.name}_indices.nc", "indices file", "netcdf")
    figure = _target(args.plot, "figure", "figure") if args.plot else None
    if args.store is not None and not is_store_path(args.store):
        raise ConfigError(f"--store {args.store}: a Zarr store's name ends in .zarr")
    with client_from(args) as client:
        result = run_sensitivity(exp, threads=args.threads, chunk_size=args.chunk_size,
                                 progress=False if args.no_progress else None, client=client,
                                 store=Path(args.store) if args.store else None,
                                 overwrite=args.overwrite)
    save_result(result.indices, out)
    print(summary(result.indices))
    print(f"wrote {out}")
    if figure is not None:
        from .figure import save_sensitivity_figure

        print(f"wrote {save_sensitivity_figure(result.indices, figure)}")
    return 0
