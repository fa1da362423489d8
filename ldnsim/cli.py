"""The ``ldnsim`` command line (also ``python -m ldnsim``): thin over the library.

::

    ldnsim run EXPERIMENT [-o OUT.nc|OUT.zarr] [--plot OUT.png] [--threads N] [--no-progress]
               [--scheduler [ADDRESS] | --scheduler-file FILE | --local-cluster N] [--overwrite]
    ldnsim sensitivity EXPERIMENT [-o INDICES.nc] [--plot OUT.png] [--store RUN.zarr] ...
    ldnsim validate EXPERIMENT
    ldnsim models
    ldnsim summarize RESULT [--by DIM,DIM] [--metric NAME,NAME] [--csv TABLE.csv]
    ldnsim plot RESULT -o OUT.png [--var NAME | --metric NAME]
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

Output paths are checked before anything runs (``ldnsim._files.output_path``, shared with
``ldnsim fit`` and ``ldnsim sensitivity``): the extension of its kind (results ``.nc`` or
``.zarr``, tables ``.csv``, figures ``.png``/``.pdf``/``.svg``/..., SBML ``.xml``), checked
before the experiment is even read; not the experiment or model file, not the same file as the
figure, a regular file or a new one (never a device such as /dev/null), a name the file system
accepts. A mistyped command gets a suggestion; every command's ``--help`` ends with examples
(:data:`EXAMPLES`).
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

from ._files import atomic_path, check_extension, output_path
from ._limits import slow_notices
from ._text import one_line as _one_line
from ._text import suggest as _suggest
from ._version import __version__
from .cluster import add_scale_options, is_store_path, run_scaled, wants_scale
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
    """argparse that reports usage errors as one line (raised, so main() decides the exit),
    with a suggestion for a mistyped command or option."""

    def error(self, message):
        m = re.match(r"argument (\S+): invalid choice: '([^']*)' \(choose from (.*)\)\Z", message)
        if m:
            choices = re.findall(r"'([^']*)'", m[3])
            message = (f"argument {m[1]}: invalid choice: {m[2]!r}{_suggest(m[2], choices)}; "
                       f"choose from {', '.join(choices)}")
        raise _UsageError(f"{message} (see '{self.prog} --help')")


#: Examples shown at the end of each subcommand's --help (tested to parse).
EXAMPLES = {
    "run": ["ldnsim run pk_single_dose",
            "ldnsim run experiments/pk_single_dose.toml -o results/pk.nc --plot results/pk.png",
            "ldnsim run experiments/tlr4_potency.toml -o results/tlr4.zarr --local-cluster 2",
            "ldnsim run immunomodulatory_window --threads 2 --chunk-size 64 --no-progress"],
    "validate": ["ldnsim validate experiments/pk_single_dose.toml",
                 "ldnsim validate immunomodulatory_window"],
    "models": ["ldnsim models"],
    "summarize": ["ldnsim summarize results/pk.nc",
                  "ldnsim summarize results/pk.nc --by dose --metric Cmax,AUCinf",
                  "ldnsim summarize results/window.nc --by dose,scenario --csv results/window.csv",
                  "ldnsim summarize results/tlr4.zarr --by tlr4_potency_multiplier"],
    "plot": ["ldnsim plot results/pk.nc -o results/pk.png",
             "ldnsim plot results/pk.nc -o results/pk_cmax.pdf --metric Cmax",
             "ldnsim plot results/tlr4.nc -o results/tlr4.svg --var C_dextro"],
    "export-sbml": ["ldnsim export-sbml one_compartment_oral -o one_compartment_oral.xml",
                    "ldnsim export-sbml ldn --scenario racemic -o ldn_racemic.xml"],
    "fit": ["ldnsim fit tests/data/fit_oral.toml -o results/oral.nc",
            "ldnsim fit my_fit.toml --no-figures --threads 2"],
    "app": ["ldnsim app", "ldnsim app --port 0 --no-browser"],
    "sensitivity": ["ldnsim sensitivity experiments/window_sensitivity.toml "
                    "-o results/window_indices.nc --plot results/window_indices.png",
                    "ldnsim sensitivity experiments/window_sensitivity.toml --store run.zarr "
                    "--local-cluster 2"],
}


def _epilog(name):
    return "examples:\n" + "\n".join(f"  {line}" for line in EXAMPLES[name])


def _parser():
    p = _Parser(prog="ldnsim", description="Pharmacology of low-dose naltrexone as ODE models.",
                epilog="'ldnsim COMMAND --help' shows a command's options and examples.")
    p.add_argument("--version", action="version", version=f"ldnsim {__version__}")
    p.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)
    raw = argparse.RawDescriptionHelpFormatter
    parsers = _run_parsers(sub) + _result_parsers(sub)
    from .estimation.cli import add_arguments as _fit_arguments
    f = _command(sub, "fit", help="fit model parameters to observed data (a fit config)")
    _fit_arguments(f)
    f.set_defaults(func=_cmd_fit)
    from .app import add_parser as add_app_parser
    a = add_app_parser(sub)  # ldnsim app: its options and command live in ldnsim.app
    from .sensitivity.command import add_parser as add_sensitivity_parser
    sa = add_sensitivity_parser(sub)  # ldnsim sensitivity: lives in ldnsim.sensitivity.command
    for name, sp in (("app", a), ("sensitivity", sa)):
        sp.epilog, sp.formatter_class = _epilog(name), raw
    for sp in (*parsers, f, a, sa):
        sp.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show tracebacks on errors")
    return p


def _command(sub, name, **kwargs):
    """Subcommand ``name`` with its examples as epilog."""
    return sub.add_parser(name, epilog=_epilog(name),
                          formatter_class=argparse.RawDescriptionHelpFormatter, **kwargs)


def _run_parsers(sub):
    """Add ``run``, ``validate`` and ``models``; return their parsers."""
    r = _command(sub, "run", help="run an experiment, write the result (and a figure)")
    r.add_argument("experiment", help="experiment file (.toml) or shipped experiment name")
    r.add_argument("-o", "--output", help="result file (.nc, or a .zarr store; default: "
                                          "<experiment name>.nc)")
    r.add_argument("--plot", metavar="FIGURE", help="also write a figure (.png, .pdf, .svg)")
    r.add_argument("--threads", type=int, help="numba threads (default: all cores)")
    r.add_argument("--chunk-size", type=int, help="rows per chunk (does not change results)")
    r.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_scale_options(r)  # --scheduler, --scheduler-file, --local-cluster, --overwrite (.zarr)
    r.set_defaults(func=_cmd_run)

    v = _command(sub, "validate", help="check an experiment and summarise it (nothing is "
                                       "solved)")
    v.add_argument("experiment", help="experiment file (.toml) or shipped experiment name")
    v.set_defaults(func=_cmd_validate)

    m = _command(sub, "models", help="list shipped models and their scenarios")
    m.set_defaults(func=_cmd_models)
    return [r, v, m]


def _result_parsers(sub):
    """Add ``summarize``, ``plot`` and ``export-sbml``; return their parsers."""
    su = _command(sub, "summarize", help="percentiles of a result's metrics, by dose, "
                                         "scenario, ...")
    su.add_argument("result", help="result written by 'ldnsim run' (.nc file or .zarr store)")
    su.add_argument("--by", metavar="DIMS", help="comma-separated dims to group by (default: "
                    "every sweep dim; the subjects of a population are pooled)")
    su.add_argument("--metric", metavar="NAMES", help="comma-separated metrics (default: all)")
    su.add_argument("--csv", metavar="TABLE", help="also write the table as CSV (.csv)")
    su.set_defaults(func=_cmd_summarize)

    pl = _command(sub, "plot", help="draw a figure from a result file (every slice of a "
                                    "sweep)")
    pl.add_argument("result", help="result written by 'ldnsim run' (.nc file or .zarr store)")
    pl.add_argument("-o", "--output", required=True, help="figure file (.png, .pdf, .svg)")
    g = pl.add_mutually_exclusive_group()
    g.add_argument("--var", help="time course of this variable (default: the first one)")
    g.add_argument("--metric", help="this metric against dose, one panel per other sweep dim")
    pl.set_defaults(func=_cmd_plot)

    s = _command(sub, "export-sbml", help="write a model as SBML")
    s.add_argument("model", help="shipped model name or model file")
    s.add_argument("-o", "--output", required=True, help="SBML file to write (.xml)")
    s.add_argument("--scenario", action="append", default=[],
                   help="apply a scenario (repeatable, in order)")
    s.add_argument("--no-check", action="store_true",
                   help="skip libSBML's consistency check (large models skip it anyway)")
    s.set_defaults(func=_cmd_export_sbml)
    return [su, pl, s]


# ------------------------------------------------------------------------------- helpers
def _same_file(a, b) -> bool:
    a, b = Path(a), Path(b)
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:
        pass
    return a.resolve() == b.resolve()


def _writable(path, what, *, protect=(), kind=None):
    """Fail before a long run, not after it, when ``path`` cannot or must not be written
    (:func:`ldnsim._files.output_path`: extension of ``kind``, directories, devices, name
    length, ``protect``: ``(path, description)`` pairs the output must not be)."""
    return output_path(path, what, kind, protect=protect, error=CliError)


@contextlib.contextmanager
def _compile_notices():
    """Say on stderr when generating or compiling code takes more than a second (first runs)."""
    def notify(text):
        print(f"ldnsim: {text}", file=sys.stderr, flush=True)

    with slow_notices(notify):
        yield


def _figure_path(path, protect=()):
    return _writable(path, "figure", protect=protect, kind="figure")


def _check_extensions(*outputs):
    """Check only the extensions of ``(path or None, what, kind)`` outputs: before any work
    (loading an experiment compiles its model), so ``-o result.csv`` fails at once."""
    for path, what, kind in outputs:
        if path is not None:
            check_extension(path, what, kind, error=CliError)


def _figure(ds, var=None, metric=None):
    """The window figure for a dose sweep with window metrics; else every slice of the
    result (``ldnsim.plot.plot_result``): time courses of ``var`` (default: the first
    variable), or ``metric`` against the swept values (default when nothing is stored over
    time)."""
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
    if (var is None and metric is None and "dose" in ds.dims
            and all(k in metrics for k in window)):
        # Only the window columns: other metrics may keep a subject dim the window has not.
        dims = set(metrics["in_window"].dims)
        axes = lp.plot_window(metrics[[v for v in metrics.data_vars
                                       if set(metrics[v].dims) <= dims]], immune_var=immune)
        fig = axes[0].figure
        title = ds.attrs.get("experiment_description") or ds.attrs.get("experiment_name")
        if title:
            axes[0].set_title(str(title), fontsize="medium")
        return fig
    if (var is None and metric is None and metrics.data_vars
            and not any("time" in ds[v].dims for v in ds.data_vars)):
        metric = str(next(iter(metrics.data_vars)))  # a metrics-only run
    try:
        return lp.plot_result(ds, var=var, metric=metric)
    except lp.PlotError as exc:
        raise CliError(str(exc)) from None


def _save_figure(ds, path, var=None, metric=None):
    """Draw and write the figure atomically (temp file in the same directory, then rename)."""
    import matplotlib.pyplot as plt

    path = _figure_path(path)
    fig = _figure(ds, var, metric)
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

    _check_extensions((args.output, "result", "result"), (args.plot, "figure", "figure"))
    exp = load_experiment(args.experiment)
    default = re.sub(r"[^A-Za-z0-9_.\-]+", "_", exp.name).strip(".") or "result"
    inputs = [(exp.path, "experiment file"), (exp.model.path if exp.model else None,
                                              "model file")]
    if wants_scale(args):  # dask and/or a Zarr store: ldnsim.cluster
        out = _writable(args.output or f"{default}.nc", "result", protect=inputs, kind="result")
        if args.plot:
            _figure_path(args.plot, protect=[*inputs, (out, "result (-o)")])
        if is_store_path(out):
            _OUTPUTS.plan(out)  # an interruption then says how to resume
        run_scaled(args, exp, f"{default}.nc", save_result, _save_figure)
        return EXIT_OK
    out = _writable(args.output or f"{default}.nc", "result", protect=inputs, kind="result")
    figure = (_figure_path(args.plot, protect=[*inputs, (out, "result file (-o)")])
              if args.plot else None)
    _OUTPUTS.plan(out)
    if figure is not None:
        _OUTPUTS.plan(figure)
    ds = run_experiment(exp, threads=args.threads, progress=False if args.no_progress else None,
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
    figure = _OUTPUTS.plan(_figure_path(args.output, protect=[(args.result, "result file")]))
    ds = _open_any_result(args.result)
    _save_figure(ds, figure, var=args.var, metric=args.metric)
    _OUTPUTS.wrote(figure)
    return EXIT_OK


def _open_any_result(path):
    """A result from a NetCDF file (``ldnsim.io.open_result``) or a Zarr store (lazy)."""
    from .io import open_result

    path = Path(path)
    if path.suffix.lower() == ".zarr" or path.is_dir():
        from .store import done_chunks, is_store

        if not path.exists():
            raise CliError(f"no result store at {path}")
        if not is_store(path):
            raise CliError(f"{path} is not a result store written by ldnsim run -o RESULT.zarr")
        import warnings

        import xarray as xr

        ds = xr.open_zarr(path, decode_times=False, decode_timedelta=False)
        if not int(ds.attrs.get("complete", 1)):
            done = done_chunks(path)
            warnings.warn(f"{path} is incomplete ({int(done.sum())} of {done.size} chunks "
                          "done): rows of the chunks not done read as "
                          "NaN with status 0 (not a success); run the same 'ldnsim run' command "
                          "to finish it", UserWarning, stacklevel=2)
        return ds
    return open_result(path)


def _near(word, options):
    """:func:`ldnsim._text.suggest`, case-insensitive first (``cmax`` -> ``Cmax``)."""
    same = [o for o in options if str(o).lower() == str(word).lower()]
    return f" (did you mean {same[0]!r}?)" if same else _suggest(word, options)


_STATS = ("n", "n_failed", "mean", "p5", "p50", "p95")


def summarize(ds, by=None, metrics=None):
    """Percentiles of a result's metrics (``metric_*`` variables) per group of ``by`` dims.

    Parameters
    ----------
    ds : xarray.Dataset
        A result (``ldnsim run``) with metrics.
    by : sequence of str, optional
        Dims to group by (default: every dim of the metrics but ``subject``); the others are
        pooled, e.g. the subjects of a population.
    metrics : sequence of str, optional
        Metrics to summarise (without the ``metric_`` prefix); default: all.

    Returns
    -------
    list of dict
        One row per metric and group: the ``by`` coordinates, ``metric``, ``units``, ``n``
        (finite values), ``n_failed`` (rows whose solve failed), ``mean``, ``p5``, ``p50``,
        ``p95`` (NaN when no value is finite).
    """
    import itertools
    import warnings as _w

    import numpy as np

    from .experiment import metrics_of

    table = metrics_of(ds)
    if not table.data_vars:
        raise CliError("the result has no metrics (metric_ variables); add a [metrics] section "
                       "to the experiment")
    names = [str(v) for v in table.data_vars]
    if metrics:
        for name in metrics:
            if name not in names:
                raise CliError(f"no metric {name!r} in the result{_near(name, names)}; "
                               f"metrics: {', '.join(names)}")
        names = list(metrics)
    dims = list(dict.fromkeys(d for v in names for d in table[v].dims))
    if by is None:
        by = [d for d in dims if d != "subject"]
    groupable = [str(d) for d in ds.dims if d != "time"]
    for d in by:
        if d not in groupable:
            raise CliError(f"--by {d}: not a dim of the result's rows{_near(d, groupable)}; "
                           f"dims: {', '.join(groupable)}")
    status = ds["status"] if "status" in ds else None
    rows = []
    for name in names:
        da = table[name]
        if hasattr(da.data, "compute"):
            da = da.compute()
        groups = [ds[d].values for d in by]
        for key in itertools.product(*groups):
            sel = {d: k for d, k in zip(by, key) if d in da.dims}
            values = np.asarray(da.sel(sel).values, dtype=float).ravel()
            finite = values[np.isfinite(values)]
            failed = 0
            if status is not None:
                st = status.sel({d: k for d, k in zip(by, key) if d in status.dims})
                # the rows behind this metric: status over the metric's dims only
                extra = [d for d in st.dims if d not in da.dims]
                st = (st != 0).any(extra) if extra else (st != 0)
                failed = int(np.asarray(st.values).sum())
            row = {d: k.item() if hasattr(k, "item") else k for d, k in zip(by, key)}
            row.update(metric=name, units=str(da.attrs.get("units", "")), n=int(finite.size),
                       n_failed=failed)
            with _w.catch_warnings():
                _w.simplefilter("ignore", RuntimeWarning)
                if finite.size:
                    p5, p50, p95 = np.percentile(finite, [5, 50, 95])
                    row.update(mean=float(finite.mean()), p5=float(p5), p50=float(p50),
                               p95=float(p95))
                else:
                    row.update(mean=np.nan, p5=np.nan, p50=np.nan, p95=np.nan)
            rows.append(row)
    return rows


def _format_cell(value):
    if isinstance(value, float):
        return "nan" if value != value else f"{value:.4g}"
    return str(value)


def _aligned(rows, columns):
    """Rows as an aligned text table (numbers right-aligned, text left-aligned)."""
    cells = [[_format_cell(r[c]) for c in columns] for r in rows]
    numeric = [all(isinstance(r[c], (int, float)) and not isinstance(r[c], bool) for r in rows)
               for c in columns]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(columns)]

    def line(items):
        return "  ".join(t.rjust(w) if num else t.ljust(w)
                         for t, w, num in zip(items, widths, numeric)).rstrip()

    return "\n".join([line(columns), *(line(row) for row in cells)])


def _cmd_summarize(args):
    import csv
    import io

    _check_extensions((args.csv, "table", "table"))
    csv_path = (_OUTPUTS.plan(_writable(args.csv, "table", kind="table",
                                        protect=[(args.result, "result file")]))
                if args.csv else None)
    ds = _open_any_result(args.result)
    by = None
    if args.by is not None:
        by = [d.strip() for d in args.by.split(",") if d.strip()]
    metrics = [m.strip() for m in args.metric.split(",") if m.strip()] if args.metric else None
    rows = summarize(ds, by=by, metrics=metrics)
    group = [c for c in rows[0] if c not in ("metric", "units", *_STATS)] if rows else []
    columns = [*group, "metric", "units", *_STATS]
    print(_aligned(rows, columns))
    if csv_path is not None:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({c: (repr(v) if isinstance(v, float) else v) for c, v in row.items()})
        from ._files import atomic_write_text

        atomic_write_text(csv_path, buffer.getvalue())
        _OUTPUTS.wrote(csv_path)
    return EXIT_OK


def _cmd_export_sbml(args):
    from .model import load_model

    out = _OUTPUTS.plan(_writable(args.output, "SBML file", kind="sbml"))
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
    store = next((p for p in outputs.planned if str(p).lower().endswith(".zarr")), None)
    if store is not None:
        return (f"ldnsim: {what}; the chunks finished are kept in {store}: run the same "
                "command to resume"), code
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
            with _compile_notices():  # "loading or compiling model 'x' ..." on stderr
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
