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
    lag = 0.0                        # or the name of a model parameter: lag = "tlag"
    bioavailability = 1.0            # or a parameter's name: bioavailability = "F_oral"
    ss = false                       # true: at steady state before the first dose (NONMEM SS=1)
    missed = []                      # administrations not given, from 1: [3, 7]; or a fraction
                                     #   missed at random per subject: missed = 0.1

    # Several lines: [[regimen]] tables instead of [regimen], all with the keys above:
    # [[regimen]]                    # a loading dose ...
    # dose = 100.0
    # [[regimen]]                    # ... then maintenance from 24 h
    # dose = 50.0
    # start = 24.0
    # every = 24.0
    # days = 13
    # Named regimens (name = "morning"): entries with the same name form one regimen, entries
    # without a name belong to every named regimen; [sweep] regimen = [...] runs them.
    # A dosing event table, per subject (see below): [[regimen]] table = "doses.csv"

    [output]
    t_end = 48.0                     # or days = 2, or times = [0, 0.5, 1, ...]
    step = 0.25                      # output spacing (default: 500 intervals)
    # dense_from = 1176.0            # optional: outputs every coarse_step before this time,
    # coarse_step = 24.0             #   every step after it (long runs, metrics on the end)
    variables = ["C_plasma"]         # stored variables (default: every model output)
    # trajectories = false           # keep only the metrics (computed chunk by chunk)

    [solver]
    method = "auto"                  # or "rodas5p" (stiff), "dopri5" (non-stiff), "rodas3"
    rtol = 1e-6
    atol = 1e-9
    max_steps = 100000

    [sweep]                          # one dim per axis, in file order
    dose = [0.5, 4.5, 50]            # replaces the regimen's dose
    regimen = ["morning", "evening"] # named [[regimen]] entries, one run each
    dose_time = [8.0, 20.0]          # moves the regimen: its first dose at each time
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
    [population.covariates.SEX]      # categorical: a factor per level (levels not named: 1.0)
    distribution = "categorical"
    levels = ["F", "M"]
    probabilities = [0.5, 0.5]       # default: equal; or file = "subjects.csv" with
    effects = { CL = { F = 0.8 } }   #   column = "SEX" (levels and their frequencies)
    [population.time_varying.CRCL]   # piecewise constant during the run (model time unit)
    times = [0.0, 336.0]             # the value from each time on (the first also before it)
    values = [90.0, 45.0]            # or file = "renal.csv": one schedule per subject, columns
    effects = { CL = 0.7 }           #   id = "ID", time = "TIME", column = (the name); subject
    reference = 90.0                 #   i uses the i-th ID; or sets = "<parameter or input>"
    unit = "mL/min"                  #   (the value itself becomes that parameter or input)

    [observation]                    # residual error: <var>_obs beside each variable named
    seed = 7                         # omitted: fresh entropy, recorded in the result
    C_plasma = { proportional = 0.1, additive = 0.05 }   # combined; or additive, proportional,
                                                          # or exponential = 0.2 (log-normal)

    [uncertainty]                    # one more dim "draw": parameter sets from fits
    from = ["fit.nc"]                # fit results (ldnsim fit -o, save_fit); relative to this file
    draws = 200
    seed = 7                         # omitted: fresh entropy, recorded in the result
    source = "auto"                  # "covariance" | "posterior" | "auto" (posterior if there)
    parameters = ["CL", "V"]         # optional subset of the fits' parameters (default: all)
    with_sampling = "product"        # or "zip": draw i paired with sample i ([sampling] n = draws)
    subjects = "shared"              # or "per_draw": new [population] subjects for every draw

    [metrics]
    names = ["nca"]                  # keys of ldnsim.metrics.METRICS
    [metrics.nca]                    # keyword options of one metric
    var = "C_plasma"

    [sensitivity]                    # instead of [sampling]: a Sobol or Morris design and the
    method = "sobol"                 # metric outputs to analyse (see ldnsim.sensitivity)
    n = 128
    ranges = { CL = [100.0, 300.0], V = [800.0, 2000.0] }
    outputs = ["AUC"]

Covariates: a static covariate is drawn per subject from its own random stream (after the
etas) and becomes a coordinate over ``subject`` (level names for a categorical one). A
time-varying covariate multiplies the parameters in ``effects`` by ``(value(t) / reference) **
exponent`` on top of IIV and static covariates (or ``sets`` a parameter to its value); each
change is a parameter event at which the solver restarts, like a dose. Residual error
(``[observation]``, :mod:`ldnsim.observation`) is drawn on the assembled result after solving;
its sd definitions are those the fitting layer uses (``ldnsim.estimation``).

Dosing in detail
----------------
- ``ss = true`` (NONMEM ``SS=1``): just before the entry's first administration the whole
  system is at the periodic steady state of that dose and interval (``every``), whatever came
  before; then the administrations follow as written. One ``ss`` entry per regimen, the
  earliest; it needs ``every`` and ``lag + duration <= every``. The steady state is solved with
  the run's solver and tolerances (:mod:`ldnsim.steady`: Anderson-accelerated iteration of the
  dosing-interval map), per row, so it follows sweeps and variability. States no equation reads
  (amount eliminated, in urine) keep their value, as NONMEM's output compartments do. A model
  without a periodic steady state (a compartment that is not eliminated) is an error naming
  the state.
- ``lag`` and ``bioavailability`` may name model parameters: each row's event table is built
  from its parameter values, so ``[population] iiv``, covariates, ``[sweep]``, ``[sampling]`` and
  fits apply to them; values out of range (a lag < 0, F outside (0, 1]) are reported before
  solving, naming the parameter and the row.
- ``missed``: a list of administrations (numbered from 1) not given, or a fraction: each
  administration is missed with that probability, drawn per subject from the population's
  seed (a stream of its own: the subjects' parameters do not change), so it needs
  ``[population]``.
- ``table = "doses.csv"`` (an entry with no other keys but ``name``): a NONMEM-style dosing
  event table, path relative to the experiment file, columns ``ID, TIME, AMT`` (required),
  ``EVID`` (1 dose, 0 rows skipped), ``CMT`` (state or input name, or state number from 1),
  ``RATE`` (> 0: infusion), ``II``, ``ADDL``, ``SS`` (see
  :func:`ldnsim.dataset.read_dosing_table`). Each ID is one subject: the result gets a
  ``subject`` dim with an ``id`` coordinate (with ``[population]``, the number of subjects must
  equal the number of IDs: subject i is the i-th ID). Other ``[[regimen]]`` entries are given
  to every subject too. Errors name the file, the line and the column.
- Steady-state metrics: ``[metrics] names = ["steady_state_nca"]`` with ``var`` and ``tau``
  (AUCtau, Cavg, Cmax_ss, Cmin_ss, Ctrough, %PTF fluctuation, accumulation ratio; see
  :mod:`ldnsim.metrics.steady`).

Every section is validated on load (pydantic, unknown keys rejected); every problem is one
:class:`~ldnsim.errors.ConfigError` naming the file, the key and what was expected. Names that
depend on the model (parameters, scenarios, variables, metric inputs) are checked against it when
the experiment is resolved, which :func:`load_experiment` does by default.

Resolving checks everything a run would check before solving (``ldnsim validate`` is a run
without the solving): metric options have the types of the metric functions' annotations
(``[metrics.nca] lambda_z_points = "eight"`` is an error at that key) and are tried on a one-row
stand-in of the result with the real output times (an empty window is an error now, not after
the sweep); a variable or metric listed twice, and covariates named ``time``, ``status``,
``subject``, ``sample``, ``case``, ``dose``, ``scenario``, ``regimen``, ``dose_time``, ``id`` or
``eta_<parameter>`` are refused; the
memory the run will hold is estimated before anything is drawn (``LDNSIM_MAX_RESULT_BYTES``);
the model's code is generated (and cached). See docs/architecture.md, "Limits".

Results
-------
:func:`run_experiment` returns one ``xarray.Dataset``: the kept variables over
``(*sweep dims, "time")``, ``status``, and the **metrics merged in as variables prefixed**
``metric_`` (``metric_Cmax``, ``metric_in_window``...; a metric reduces ``time`` and sometimes
``subject``, so these variables have fewer dims). One file thus holds a run and its summary, and
model variables can never collide with metric names. With ``[uncertainty]`` every metric over the
``draw`` dim also gets ``<name>_median``, ``_lower`` and ``_upper`` (5 % and 95 % quantiles over
draws and samples together) and ``window_summary`` reports ``p_in_window``, the share of draws in
the window. A drawn parameter is set after scenarios, ``[model] params``, sweep axes and samples
and may not be set by any of them; IIV multiplies around each draw. :func:`metrics_of` gives
the metrics back as a Dataset with their own names and attributes, ready for
``ldnsim.plot.plot_window``.
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
