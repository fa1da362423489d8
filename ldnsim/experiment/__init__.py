"""Experiment files: a TOML description of a sweep, validated on load, run to a Dataset.

An experiment names a model, a dosing regimen, output times, solver settings and what to vary::

    [experiment]
    name = "pk_single_dose"
    description = "Single oral doses of naltrexone"

    [model]
    name = "one_compartment_oral"    # a shipped model, or a path relative to this file
    scenarios = []                   # applied to every row, in order
    params = { CL = 210.0 }          # applied after the scenarios

    [regimen]                        # one line of a prescription (see ldnsim.dosing.Dose)
    dose = 50.0                      # amount per administration (unit of the dosed state)
    every = 24.0                     # interval, model time unit (h for every shipped model)
    count = 1                        # or days = 56 (administrations strictly before start+days)
    start = 0.0
    duration = 0.0                   # > 0: zero-order infusion over this time
    target = "gut"                   # default: the model's dose_target
    lag = 0.0
    bioavailability = 1.0

    [output]
    t_end = 48.0                     # or days = 2, or times = [0, 0.5, 1, ...]
    step = 0.25                      # output spacing (default: 500 intervals)
    # dense_from = 1176.0            # optional: outputs every coarse_step before this time,
    # coarse_step = 24.0             #   every step after it (long runs, metrics on the end)
    variables = ["C_plasma"]         # stored variables (default: every model output)

    [solver]
    method = "auto"                  # or "rodas5p" (stiff), "dopri5" (non-stiff)
    rtol = 1e-6
    atol = 1e-9
    max_steps = 100000

    [sweep]                          # one dim per axis, in file order
    dose = [0.5, 4.5, 50]            # replaces the regimen's dose
    scenario = [["pharmaceutical", "human_pet"], ["racemic", "human_pet"]]  # label: joined by '+'
    CL = [150.0, 210.0]              # any model parameter
    mode = "product"                 # or "zip": the axes zipped into one dim "case"

    [sampling]                       # one more dim "sample": points in parameter space
    method = "lhs"                   # or "random"
    n = 64
    seed = 1
    ranges = { CL = [100.0, 300.0], V = [800.0, 2000.0] }
    log = true                       # log-uniform (all ranges)

    [population]                     # one more dim "subject": log-normal IIV
    subjects = 100
    seed = 2024                      # omitted: fresh entropy, recorded in the result
    iiv = { CL = 0.3, V = 0.2 }      # per parameter, read by iiv_scale
    iiv_scale = "cv"                 # "cv" (omega^2 = log(1 + CV^2)), "sd" (of eta), "variance"
    correlation = [[1.0, 0.5], [0.5, 1.0]]   # over the iiv parameters in the order written
    # or: parameters = ["CL", "V"] with covariance = [[0.09, 0.02], [0.02, 0.04]] (omega)
    [population.covariates.WT]       # optional; power model (WT / reference) ** exponent
    distribution = "lognormal"       # median, cv | "normal": mean, sd, lower, upper | "uniform"
    median = 70.0
    cv = 0.2
    unit = "kg"
    effects = { CL = 0.75, V = 1.0 }

    [metrics]
    names = ["nca"]                  # keys of ldnsim.metrics.METRICS
    [metrics.nca]                    # keyword options of one metric
    var = "C_plasma"

Every section is validated on load (pydantic, unknown keys rejected); every problem is one
:class:`~ldnsim.errors.ConfigError` naming the file, the key and what was expected. Names that
depend on the model (parameters, scenarios, variables, metric inputs) are checked against it when
the experiment is resolved, which :func:`load_experiment` does by default.

Resolving checks everything a run would check before solving (``ldnsim validate`` is a run
without the solving): metric options have the types of the metric functions' annotations
(``[metrics.nca] lambda_z_points = "eight"`` is an error at that key) and are tried on a one-row
stand-in of the result with the real output times (an empty window is an error now, not after
the sweep); a variable or metric listed twice, and covariates named ``time``, ``status``,
``subject``, ``sample``, ``case``, ``dose``, ``scenario`` or ``eta_<parameter>`` are refused; the
memory the run will hold is estimated before anything is drawn (``LDNSIM_MAX_RESULT_BYTES``);
the model's code is generated (and cached). See docs/architecture.md, "Limits".

Results
-------
:func:`run_experiment` returns one ``xarray.Dataset``: the kept variables over
``(*sweep dims, "time")``, ``status``, and the **metrics merged in as variables prefixed**
``metric_`` (``metric_Cmax``, ``metric_in_window``...; a metric reduces ``time`` and sometimes
``subject``, so these variables have fewer dims). One file thus holds a run and its summary, and
model variables can never collide with metric names. :func:`metrics_of` gives the metrics back as
a Dataset with their own names and attributes, ready for ``ldnsim.plot.plot_window``.
Provenance (experiment text, normalised config, model hash, seeds, versions) is in ``attrs``.

Layout: :mod:`~ldnsim.experiment.schema` (the pydantic sections),
:mod:`~ldnsim.experiment.messages` (validation errors as one line),
:mod:`~ldnsim.experiment.source` (finding and reading files),
:mod:`~ldnsim.experiment.resolve` (checking names against the model, planning the sweep),
:mod:`~ldnsim.experiment.finish` (metrics merged into a result, and the rehearsal of that
before solving), :mod:`~ldnsim.experiment.load` and :mod:`~ldnsim.experiment.run`.
"""
from ldnsim.sampling import sample_design

from .load import load_experiment
from .resolve import Experiment
from .run import METRIC_PREFIX, metrics_of, run_experiment
from .schema import ExperimentConfig
from .source import list_experiments

__all__ = ["load_experiment", "run_experiment", "Experiment", "ExperimentConfig",
           "metrics_of", "list_experiments", "METRIC_PREFIX", "sample_design"]
