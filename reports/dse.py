"""Plots and the markdown report of a design-space sweep (``dcsim dse``), from plain rows: the
public names of the three modules that hold them, in one place (``from reports.dse import
write_dse_report``).

- :mod:`reports.dse_rows`: reading the rows (ok rows, numbers out of cells, the manifest's axes
  and which of them vary, Pareto fronts);
- :mod:`reports.dse_plots`: one ``plot_*`` function per plot, :data:`PLOT_FILES` and
  :func:`applicable_plots`;
- :mod:`reports.dse_report`: ``dse.md`` (:func:`dse_markdown`) and :func:`write_dse_report`,
  which writes the applicable plots and ``dse.md``.
"""
from __future__ import annotations

from .dse_plots import (ENERGY_LABEL, FIG6_SERIES, LATENCY_LABEL, MAX_BREAKDOWN_WORKLOADS, MAX_LINES,
                        MAX_PARETO_LABELS, MAX_WATERFALL_MODELS, PLOT_FILES, applicable_plots, plot_accuracy_vs_rate, plot_area_pareto,
                        plot_dse_energy_breakdown, plot_dse_fifo, plot_dse_speedup, plot_pareto, plot_resources,
                        plot_waterfall, setting_text, short_workload, waterfall_models)
from .dse_report import MAX_TABLE_ROWS, dse_markdown, write_dse_report
from .dse_rows import pareto_front, varying_axes

__all__ = [
    "ENERGY_LABEL", "FIG6_SERIES", "LATENCY_LABEL", "MAX_BREAKDOWN_WORKLOADS", "MAX_LINES", "MAX_PARETO_LABELS",
    "MAX_TABLE_ROWS", "MAX_WATERFALL_MODELS", "PLOT_FILES", "applicable_plots", "dse_markdown", "pareto_front",
    "plot_accuracy_vs_rate", "plot_area_pareto", "plot_dse_energy_breakdown", "plot_dse_fifo", "plot_dse_speedup", "plot_pareto",
    "plot_resources", "plot_waterfall", "setting_text", "short_workload", "varying_axes", "waterfall_models",
    "write_dse_report",
]
