"""Summary metrics of simulated profiles: functions ``Dataset -> Dataset``.

Every metric reduces the ``time`` dim and keeps every other dim and coordinate (dose, scenario,
subject, swept parameters), so a whole sweep is summarised in one vectorised call.

Conventions shared by all metrics
---------------------------------
- **Failed rows.** A row (one trajectory) that contains any NaN -- the sweep masks failed solves
  as NaN -- gives NaN for every metric of that row. Metrics never raise on NaN and emit no
  warnings for it.
- **Profiles between samples** are taken as linear in time (the same rule as the linear
  trapezoid); window edges that fall between samples are interpolated, so results do not depend
  on whether a window boundary coincides with a sample.
- **Windows "over the last days"** end at the last output time. When the simulation is shorter
  than the requested window, the whole simulation is used and a ``UserWarning`` says so; the
  window actually used is in the result's attrs.
- **Units** come from the ``units`` attrs of the analysed variable and of ``time``.

Layout: :mod:`~ldnsim.metrics.nca` (non-compartmental analysis), :mod:`~ldnsim.metrics.readouts`
(generic readouts: every function takes the variable it reads), :mod:`~ldnsim.metrics.window`
(the LDN window), :mod:`~ldnsim.metrics.registry` (:data:`METRICS`: each metric with its
options, the variables it reads and the ones it returns).
"""
from ._core import MetricError
from .nca import nca
from .readouts import blockade_hours, end_value, occupancy_summary, peak, rebound
from .registry import (
                       METRICS,
                       Metric,
                       OptionError,
                       compute_metrics,
                       merge_metrics,
                       metric_of_output,
                       metric_parts,
)
from .window import window_summary

__all__ = [
    "METRICS", "Metric", "MetricError", "OptionError", "compute_metrics", "metric_parts",
    "merge_metrics", "metric_of_output", "nca",
    "blockade_hours", "occupancy_summary", "rebound", "end_value", "peak", "window_summary",
]
