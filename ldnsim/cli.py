"""The ``ldnsim`` command line (also ``python -m ldnsim``): thin over the library.

::

    ldnsim run EXPERIMENT [-o OUT.nc] [--plot OUT.png] [--threads N] [--no-progress]
    ldnsim validate EXPERIMENT
    ldnsim models
    ldnsim plot RESULT -o OUT.png [--var NAME]
    ldnsim export-sbml MODEL -o OUT.xml [--scenario S ...]
    ldnsim fit CONFIG.toml [-o FIT.nc] [--no-figures] [--no-progress] [--threads N]
    ldnsim app [--port N] [--no-browser] [--window-experiment EXPERIMENT]

Bad input (a missing file, an invalid experiment or model, an unknown option) prints one line,
``ldnsim: error: ...``, on stderr and exits with status 2; ``--debug`` shows the traceback
instead. An internal error exits with status 1, a run interrupted by SIGINT (Ctrl-C) with 130
and one stopped by SIGTERM with 143; either way the message says which files were written and
which were not. Result files are written atomically (``ldnsim.io.save_result``), so a failed or
interrupted run never leaves a half-written file, and a temporary file left by a killed run is
removed by the next run writing the same file.

Output paths are checked before anything runs: not the experiment or model file, not the same
file as the figure, a regular file or a new one (never a device such as /dev/null), a name the
file system accepts.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import re
import signal
import sys
import threading
import warnings
from pathlib import Path

from ._files import atomic_path, name_max, remove_stale_temp_files
from ._limits import slow_notices
from ._text import one_line as _one_line
from ._version import __version__
from .errors import LdnsimError

__all__ = ["main"]

EXIT_OK, EXIT_INTERNAL, EXIT_USAGE, EXIT_INTERRUPTED, EXIT_TERMINATED = 0, 1, 2, 130, 143


class CliError(LdnsimError):
    """Bad command-line input (a path that cannot be written, a missing optional package)."""


class _UsageError(Exception):
    pass


class _Terminated(KeyboardInterrupt):
    """SIGTERM, raised like SIGINT's KeyboardInterrupt so every cleanup path runs."""


def _on_sigterm(signum, frame):
    raise _Terminated


class _Outputs:
    """The files a command means to write and those it has written (for honest messages)."""

    def __init__(self):
        self.planned: list[Path] = []
        self.written: list[Path] = []

    def plan(self, path):
        self.planned.append(Path(path))
        return Path(path)

    def wrote(self, path):
        self.written.append(Path(path))
        print(f"wrote {path}")

    def summary(self) -> str:
        """``"wrote a.nc; b.png was not written"``; ``""`` when nothing was planned."""
        missing = [p for p in self.planned if p not in self.written]
        parts = []
        if self.written:
            parts.append("wrote " + ", ".join(map(str, self.written)))
        if missing:
            parts.append(", ".join(map(str, missing))
                         + (" was" if len(missing) == 1 else " were") + " not written")
        return "; ".join(parts)


_OUTPUTS = _Outputs()


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as one line (raised, so main() decides the exit)."""

    def error(self, message):
        raise _UsageError(f"{message} (see '{self.prog} --help')")


def _parser():
    p = _Parser(prog="ldnsim", description="Pharmacology of low-dose naltrexone as ODE models.")
    p.add_argument("--version", action="version", version=f"ldnsim {__version__}")
    p.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)

    r = sub.add_parser("run", help="run an experiment, write the result (and a figure)")
    r.add_argument("experiment", help="experiment file (.toml) or shipped experiment name")
    r.add_argument("-o", "--output", help="result file (.nc; default: <experiment name>.nc)")
    r.add_argument("--plot", metavar="FIGURE", help="also write a figure (.png, .pdf, .svg)")
    r.add_argument("--threads", type=int, help="numba threads (default: all cores)")
    r.add_argument("--chunk-size", type=int, help="rows per chunk (does not change results)")
    r.add_argument("--no-progress", action="store_true", help="no progress bar")
    r.set_defaults(func=_cmd_run)

    v = sub.add_parser("validate", help="check an experiment and summarise it")
    v.add_argument("experiment")
    v.set_defaults(func=_cmd_validate)

    m = sub.add_parser("models", help="list shipped models and their scenarios")
    m.set_defaults(func=_cmd_models)

    pl = sub.add_parser("plot", help="draw a figure from a result file")
    pl.add_argument("result", help="result file (.nc) written by 'ldnsim run'")
    pl.add_argument("-o", "--output", required=True, help="figure file (.png, .pdf, .svg)")
    pl.add_argument("--var", help="variable for a profile plot (default: the first one)")
    pl.set_defaults(func=_cmd_plot)

    s = sub.add_parser("export-sbml", help="write a model as SBML")
    s.add_argument("model", help="shipped model name or model file")
    s.add_argument("-o", "--output", required=True, help="SBML file to write (.xml)")
    s.add_argument("--scenario", action="append", default=[],
                   help="apply a scenario (repeatable, in order)")
    s.add_argument("--no-check", action="store_true",
                   help="skip libSBML's consistency check (large models skip it anyway)")
    s.set_defaults(func=_cmd_export_sbml)
    from .estimation.cli import add_arguments as _fit_arguments
    f = sub.add_parser("fit", help="fit model parameters to observed data (a fit config)")
    _fit_arguments(f)
    f.set_defaults(func=_cmd_fit)
    from .app import add_parser as add_app_parser
    a = add_app_parser(sub)  # ldnsim app: its options and command live in ldnsim.app
    for sp in (r, v, m, pl, s, f, a):
        sp.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show tracebacks on errors")
    return p


# ------------------------------------------------------------------------------- helpers
def _same_file(a, b) -> bool:
    a, b = Path(a), Path(b)
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:
        pass
    return a.resolve() == b.resolve()


def _writable(path, what, *, protect=()):
    """Fail before a long run, not after it, when ``path`` cannot or must not be written.

    ``protect`` holds ``(path, description)`` pairs the output must not be: the experiment
    file, the model file, the other outputs of the same command.
    """
    path = Path(path)
    if not path.name:
        raise CliError(f"cannot write the {what} {path}: it names a directory, not a file")
    limit = name_max(path.parent if path.parent.is_dir() else Path("."))
    if len(os.fsencode(path.name)) > limit:  # checked first: stat() itself fails on it
        raise CliError(f"cannot write the {what} {path}: its name is "
                       f"{len(os.fsencode(path.name))} bytes long, more than the {limit} the "
                       "file system allows")
    if path.is_symlink():
        path = path.resolve()  # write through the link, as a plain open() would
    if path.is_dir():
        raise CliError(f"cannot write the {what} {path}: it is a directory")
    if path.exists() and not path.is_file():
        raise CliError(f"cannot write the {what} {path}: it exists and is not a regular file "
                       "(a device, pipe or socket would be replaced by a file); choose a file")
    for other, description in protect:
        if other is not None and _same_file(path, other):
            raise CliError(f"cannot write the {what} to {path}: it is the {description}; "
                           "writing there would replace it")
    if not path.parent.is_dir():
        # A fresh checkout has no results/ folder yet: make it, as `mkdir -p` would.
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CliError(f"cannot write the {what} {path}: cannot create directory "
                           f"{path.parent} ({exc.strerror or exc})") from None
    if not os.access(path.parent, os.W_OK):
        raise CliError(f"cannot write the {what} {path}: directory {path.parent} is not writable")
    remove_stale_temp_files(path)  # left by a run that was killed while writing it
    return path


@contextlib.contextmanager
def _compile_notices():
    """Say on stderr when generating or compiling code takes more than a second (first runs)."""
    def notify(text):
        print(f"ldnsim: {text}", file=sys.stderr, flush=True)

    with slow_notices(notify):
        yield


_FIGURE_FORMATS = ("png", "pdf", "svg", "jpg", "jpeg", "eps", "ps", "tif", "tiff", "webp")


def _figure_path(path, protect=()):
    path = _writable(path, "figure", protect=protect)
    fmt = path.suffix.lstrip(".").lower()
    if fmt not in _FIGURE_FORMATS:
        raise CliError(f"cannot tell the figure format of {path}; use one of "
                       f"{', '.join('.' + f for f in _FIGURE_FORMATS)}")
    return path


def _figure(ds, var=None):
    """The window figure for a dose sweep with window metrics, else concentration profiles."""
    import matplotlib
    matplotlib.use("Agg")
    from . import plot as lp
    from .experiment import metrics_of
    from .metrics import METRICS
    from .results import provenance

    metrics = metrics_of(ds)
    summary = METRICS["window_summary"]
    options = (provenance(ds).get("metric_options") or {}).get("window_summary", {})
    immune = summary.outputs(summary.bind(options))[0]  # <immune_var>_end
    window = (immune, "blockade_hours", "in_window")
    if var is None and "dose" in ds.dims and all(k in metrics for k in window):
        # Only the window columns: other metrics may keep a subject dim the window has not.
        dims = set(metrics["in_window"].dims)
        axes = lp.plot_window(metrics[[v for v in metrics.data_vars
                                       if set(metrics[v].dims) <= dims]], immune_var=immune)
        fig = axes[0].figure
        title = ds.attrs.get("experiment_description") or ds.attrs.get("experiment_name")
        if title:
            axes[0].set_title(str(title), fontsize="medium")
        return fig
    names = [v for v in ds.data_vars if "time" in ds[v].dims]
    if var is None:
        if not names:
            raise CliError("the result has no time-dependent variable to plot")
        var = names[0]
    elif var not in names:
        raise CliError(f"no time-dependent variable {var!r} in the result; choose from "
                       f"{', '.join(map(str, names))}")
    da = ds[var]
    note = []
    if "subject" in da.dims:
        da = da.median("subject", keep_attrs=True)
        note.append("median of subjects")
    others = [d for d in da.dims if d != "time"]
    hue = "dose" if "dose" in others else (others[0] if others else None)
    fixed = {d: 0 for d in others if d != hue}
    for d in fixed:
        note.append(f"{d}={da[d].values[0]}")
    da = da.isel(fixed)
    ax = lp.plot_profiles(da, var, hue=hue)
    title = str(ds.attrs.get("experiment_name", ""))
    ax.set_title(title + (f" ({', '.join(note)})" if note else ""), fontsize="medium")
    return ax.figure


def _save_figure(ds, path, var=None):
    """Draw and write the figure atomically (temp file in the same directory, then rename)."""
    import matplotlib.pyplot as plt

    path = _figure_path(path)
    fig = _figure(ds, var)
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=path.suffix.lstrip(".").lower(), dpi=150,
                        bbox_inches="tight")
    finally:
        plt.close(fig)
    return path


# ------------------------------------------------------------------------------ commands
def _cmd_run(args):
    from .experiment import load_experiment, run_experiment
    from .io import save_result

    with _compile_notices():
        exp = load_experiment(args.experiment)
    default = re.sub(r"[^A-Za-z0-9_.\-]+", "_", exp.name).strip(".") or "result"
    inputs = [(exp.path, "experiment file"), (exp.model.path if exp.model else None,
                                              "model file")]
    out = _writable(args.output or f"{default}.nc", "result", protect=inputs)
    figure = (_figure_path(args.plot, protect=[*inputs, (out, "result file (-o)")])
              if args.plot else None)
    _OUTPUTS.plan(out)
    if figure is not None:
        _OUTPUTS.plan(figure)
    with _compile_notices():
        ds = run_experiment(exp, threads=args.threads,
                            progress=False if args.no_progress else None,
                            chunk_size=args.chunk_size)
    save_result(ds, out)
    n_failed = int(ds.attrs.get("n_failed", 0))
    rows = int(ds.attrs.get("n_rows", 0))
    _OUTPUTS.written.append(out)
    print(f"wrote {out} ({rows} rows" + (f", {n_failed} failed" if n_failed else "") + ")")
    if figure is not None:
        _save_figure(ds, figure)
        _OUTPUTS.wrote(figure)
    return EXIT_OK


def _cmd_validate(args):
    from .experiment import load_experiment

    with _compile_notices():
        exp = load_experiment(args.experiment)
    print(exp.summary())
    print("ok")
    return EXIT_OK


def _cmd_models(args):
    from .model import list_models, load_model

    for name in list_models():
        try:
            model = load_model(name)
        except LdnsimError as exc:
            print(f"{name}\n    (cannot be loaded: {_one_line(exc)})")
            continue
        print(f"{name}: {model.description}" if model.description else name)
        for sc in model.scenarios.values():
            print(f"    {sc.name}: {_one_line(sc.description)}" if sc.description
                  else f"    {sc.name}")
    return EXIT_OK


def _cmd_plot(args):
    from .io import open_result

    figure = _OUTPUTS.plan(_figure_path(args.output, protect=[(args.result, "result file")]))
    ds = open_result(args.result)
    _save_figure(ds, figure, var=args.var)
    _OUTPUTS.wrote(figure)
    return EXIT_OK


def _cmd_export_sbml(args):
    from .model import load_model

    out = _OUTPUTS.plan(_writable(args.output, "SBML file"))
    try:
        from .model.sbml import export_sbml
    except ModuleNotFoundError as exc:
        if exc.name == "libsbml":
            raise CliError("export-sbml needs python-libsbml: pip install 'ldnsim[sbml]'") from None
        if exc.name and exc.name.startswith("ldnsim"):
            raise CliError("SBML export is not available in this version of ldnsim") from None
        raise
    model = load_model(args.model)
    if model.path is not None and _same_file(out, model.path):
        raise CliError(f"cannot write the SBML file to {out}: it is the model file; writing "
                       "there would replace it")
    try:
        export_sbml(model, out, params=None, scenarios=tuple(args.scenario),
                    check=False if args.no_check else None)
    except ModuleNotFoundError as exc:
        if exc.name == "libsbml":
            raise CliError("export-sbml needs python-libsbml: pip install 'ldnsim[sbml]'") from None
        raise
    _OUTPUTS.wrote(out)
    return EXIT_OK


def _cmd_fit(args):
    from .estimation.cli import cmd_fit
    return cmd_fit(args)


# ---------------------------------------------------------------------------------- main
@contextlib.contextmanager
def _warnings_as_lines():
    def show(message, category, filename, lineno, file=None, line=None):
        print(f"ldnsim: warning: {_one_line(message)}", file=sys.stderr)

    with warnings.catch_warnings():
        warnings.simplefilter("default")
        warnings.showwarning = show
        yield


@contextlib.contextmanager
def _sigterm_as_interrupt():
    """SIGTERM raises like SIGINT does, so temporary files are removed and a message is given
    (only in the main thread, where Python runs signal handlers)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def _interrupted(exc, outputs) -> tuple[str, int]:
    what, code = (("terminated (SIGTERM)", EXIT_TERMINATED) if isinstance(exc, _Terminated)
                  else ("interrupted", EXIT_INTERRUPTED))
    if outputs.written:
        return f"ldnsim: {what}; {outputs.summary()}", code
    if outputs.planned:
        return f"ldnsim: {what}; no result was written (existing files are unchanged)", code
    return f"ldnsim: {what}", code


def main(argv=None):
    """Run the command line; returns the exit status (0 ok, 2 bad input, 1 internal error,
    130 interrupted, 143 terminated)."""
    global _OUTPUTS
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    try:
        args = _parser().parse_args(argv)
    except _UsageError as exc:
        print(f"ldnsim: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except SystemExit as exc:  # --help, --version
        return exc.code if isinstance(exc.code, int) else EXIT_OK
    _OUTPUTS = outputs = _Outputs()
    with _warnings_as_lines(), _sigterm_as_interrupt():
        try:
            return args.func(args)
        except KeyboardInterrupt as exc:
            if debug:
                raise
            message, code = _interrupted(exc, outputs)
            print(message, file=sys.stderr)
            return code
        except BrokenPipeError:
            # `ldnsim models | head`: the reader left; not an error. Point stdout at devnull
            # so the interpreter's final flush does not complain either.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return EXIT_OK
        except (LdnsimError, OSError) as exc:
            if debug:
                raise
            tail = f" ({outputs.summary()})" if outputs.written else ""
            print(f"ldnsim: error: {_one_line(exc)}{tail}", file=sys.stderr)
            return EXIT_USAGE
        except Exception as exc:  # a bug: say so in one line, the traceback is one flag away
            if debug:
                raise
            tail = f"; {outputs.summary()}" if outputs.written else ""
            print(f"ldnsim: internal error: {type(exc).__name__}: {_one_line(exc)} (run again "
                  f"with --debug for the traceback){tail}", file=sys.stderr)
            return EXIT_INTERNAL


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
