"""The body of ``ldnsim fit CONFIG.toml``: fit, then write the result, overlay and figures.

::

    ldnsim fit CONFIG.toml [-o FIT.nc] [--no-figures] [--no-progress] [--threads N]

writes ``FIT.nc`` (the result Dataset), ``FIT.toml`` (the overlay of fitted values) and the
figures ``FIT_gof.png``, ``FIT_vpc.png`` and, with profiles, ``FIT_profiles.png``. Everything
is computed first and written at the end, each file atomically (a temporary file renamed over
the target), so an interrupted or failed run leaves no partial file behind.

This module is imported when the command line builds its parser: keep it light (heavy imports
inside the functions).
"""
from __future__ import annotations

import contextlib
import os
import re
import sys
from pathlib import Path

from .._files import atomic_path
from ..errors import LdnsimError

__all__ = ["add_arguments", "cmd_fit"]


def add_arguments(parser):
    """Arguments of the ``fit`` subcommand."""
    parser.add_argument("config", help="fit configuration (.toml)")
    parser.add_argument("-o", "--output", help="result file (.nc; default: <fit name>.nc); the "
                        "overlay and figures are written next to it")
    parser.add_argument("--no-figures", action="store_true", help="write no figures")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument("--threads", type=int, help="numba threads (default: all cores)")


class _OutputError(LdnsimError):
    pass


def _writable(path, what):
    path = Path(path)
    if path.is_dir():
        raise _OutputError(f"cannot write the {what} {path}: it is a directory")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _OutputError(f"cannot write the {what} {path}: cannot create directory "
                           f"{path.parent} ({exc.strerror or exc})") from None
    if not os.access(path.parent, os.W_OK):
        raise _OutputError(f"cannot write the {what} {path}: directory {path.parent} is not "
                           "writable")
    return path


def cmd_fit(args):
    """Run ``ldnsim fit``; returns the exit status (0)."""
    from .config import load_fit_config

    def say(msg):
        print(f"ldnsim fit: {msg}", file=sys.stderr, flush=True)

    config, _, where, _ = load_fit_config(args.config)
    name = config.fit.name or Path(args.config).stem
    default = re.sub(r"[^A-Za-z0-9_.\-]+", "_", name).strip(".") or "fit"
    out = _writable(args.output or f"{default}.nc", "result")
    if args.threads is not None:
        if args.threads < 1:
            raise _OutputError(f"--threads must be >= 1, got {args.threads}")
        import numba
        numba.set_num_threads(min(args.threads, numba.config.NUMBA_NUM_THREADS))
    from .config import run_fit_config

    result = run_fit_config(args.config, progress=not args.no_progress, log=say)
    fit = result["fit"]
    stem = out.with_suffix("")
    targets = {out.with_suffix(".toml"): ("overlay", None)}
    if not args.no_figures:
        targets[Path(f"{stem}_gof.png")] = ("figure", "gof")
        targets[Path(f"{stem}_vpc.png")] = ("figure", "vpc")
        if "profile_stat" in fit:
            targets[Path(f"{stem}_profiles.png")] = ("figure", "profiles")
    from ..io import save_result
    from .overlay import overlay_text
    # Every file is written to a temporary name and renamed only when all are done; any
    # failure (Ctrl-C included) removes them all, so nothing half-written is left.
    with contextlib.ExitStack() as stack:
        for path, (kind, which) in targets.items():
            tmp = stack.enter_context(atomic_path(path))
            if kind == "overlay":
                tmp.write_text(overlay_text(fit, fit_path=out.name), encoding="utf-8")
            else:
                _figure(which, fit, result["check"], tmp)
        save_result(fit, out)
    _summary(fit, result["check"])
    print(f"wrote {out}")
    for path in targets:
        print(f"wrote {path}")
    return 0


def _figure(which, fit, check, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..plot import plot_gof, plot_profile_likelihoods, plot_vpc

    axes = {"gof": lambda: plot_gof(fit), "vpc": lambda: plot_vpc(check),
            "profiles": lambda: plot_profile_likelihoods(fit)}[which]()
    fig = axes[0].figure
    try:
        fig.savefig(path, format="png", dpi=120, bbox_inches="tight")
    finally:
        plt.close(fig)


def _summary(fit, check):
    """A small table of estimates on stdout."""
    names = [str(p) for p in fit["parameter"].values]
    print(f"{fit.attrs['title']}: {fit.attrs['objective_name']} = {fit.attrs['objective']:.6g}, "
          f"AIC {fit.attrs['aic']:.2f}, BIC {fit.attrs['bic']:.2f}, "
          f"{fit.attrs['n_obs']} observations")
    has_profile = "profile_ci_lower" in fit
    print(f"{'parameter':<24}{'estimate':>12}{'RSE %':>8}   {'Wald CI':<24}"
          + ("profile CI / identifiability" if has_profile else ""))
    for i, nm in enumerate(names):
        est = float(fit["estimate"].values[i])
        rse = float(fit["rse"].values[i])
        lo, hi = float(fit["ci_lower"].values[i]), float(fit["ci_upper"].values[i])
        line = f"{nm:<24}{est:>12.4g}{rse:>8.1f}   [{lo:.4g}, {hi:.4g}]".ljust(24 + 12 + 8 + 27)
        if has_profile and str(fit["identifiability"].values[i]) != "not profiled":
            plo, phi = (float(fit["profile_ci_lower"].values[i]),
                        float(fit["profile_ci_upper"].values[i]))
            line += f"[{plo:.4g}, {phi:.4g}] {fit['identifiability'].values[i]}"
        print(line)
    if check is not None:
        print(f"predictive check: {check.attrs['coverage']:.0%} of observations inside their "
              f"{check.attrs['level']:.0%} prediction intervals ({check.attrs['n_draws']} "
              f"draws from the {check.attrs['source']})")
