"""Plots of the EIE sweeps (benchmarks/eie_sweeps.py), from plain data.

Every function takes plain Python data (lists and a ``{name: values}`` dict, one
line per entry, in the dict's order), builds a Matplotlib figure on the Agg
canvas, sets the title (wrapped to the axes' width) and both axis labels (with
units), and returns the :class:`~matplotlib.figure.Figure`, not closed. With
``path`` the figure is first written as a PNG atomically. The shared helpers
(figure creation, :func:`save_png`, ticks, legends, titles; closing) are in
:mod:`reports.plotting`; :func:`save_png` is also importable from here.
"""
from __future__ import annotations

import os
from typing import Mapping, Sequence

from matplotlib.axes import Axes
from matplotlib.figure import Figure

from .plotting import MARKERS, finish_figure, fit_legend, log2_ticks, new_figure, save_png, set_title

__all__ = ["FIFO_XLABEL", "PE_XLABEL", "SPEEDUP_YLABEL", "plot_fifo_sweep", "plot_pe_scaling", "save_png"]

FIFO_XLABEL = "FIFO depth (entries)"
PE_XLABEL = "PEs"
SPEEDUP_YLABEL = "speedup over 1 PE (x)"


def _check(xs: Sequence[float], series: Mapping[str, Sequence[float]], what: str) -> list[float]:
    x = [float(v) for v in xs]
    if not x:
        raise ValueError(f"no {what} given")
    if any(v <= 0 for v in x):
        raise ValueError(f"{what} must be positive for a log axis; got {list(xs)}")
    if not series:
        raise ValueError("no series given: pass at least one {name: values}")
    for name, ys in series.items():
        if len(ys) != len(x):
            raise ValueError(f"series {name!r} has {len(ys)} values for {len(x)} {what}")
    return x


def _draw_series(ax: Axes, x: list[float], series: Mapping[str, Sequence[float]]) -> None:
    """One line with markers per series, in the dict's order, labelled with its name."""
    for k, (name, ys) in enumerate(series.items()):
        ax.plot(x, [float(v) for v in ys], marker=MARKERS[k % len(MARKERS)], markersize=4, linewidth=1.4,
                label=str(name))


def plot_fifo_sweep(depths: Sequence[int], series: Mapping[str, Sequence[float]],
                    ylabel: str = "load-balance efficiency (%)",
                    title: str = "Load-balance efficiency vs FIFO depth",
                    path: str | os.PathLike | None = None) -> Figure:
    """One line per series (e.g. per layer) of a figure against the FIFO depth.

    Args:
        depths: FIFO depths in entries (x, log2 axis), e.g. 1, 2, 4, ..., 256.
        series: ``{name: values}``, one value per depth; the names go in the legend.
        ylabel: the y axis label, with its unit, e.g. ``"load-balance efficiency (%)"``.
        title: the axes title (wrapped to the axes' width when longer).
        path: if given, the PNG is written there (atomically) before returning.

    Returns:
        The figure (one axes; ``fig.axes[0].lines`` holds one line per series, x data = depths).
        Not closed: see :mod:`reports.plotting`.
    """
    x = _check(depths, series, "depths")
    fig, ax = new_figure()
    _draw_series(ax, x, series)
    ax.set_xscale("log", base=2)
    log2_ticks(ax.xaxis, x)
    ax.set_xlabel(FIFO_XLABEL)
    ax.set_ylabel(ylabel)
    set_title(ax, title)
    ax.grid(True, which="major", alpha=0.3)
    fit_legend(ax, loc="best")
    return finish_figure(fig, path)


def plot_pe_scaling(pes: Sequence[int], series: Mapping[str, Sequence[float]],
                    path: str | os.PathLike | None = None,
                    title: str = "Speedup vs number of PEs") -> Figure:
    """Speedup over 1 PE against the PE count, log-log, with the ideal linear speedup dashed.

    Args:
        pes: PE counts (x), e.g. 1, 2, 4, ..., 256; the ideal line is ``speedup = pes / pes[0]``
            (``= pes`` when the sweep starts at 1 PE).
        series: ``{name: speedups}`` (cycles at 1 PE / cycles at N PEs, in x), one per PE count.
        path: if given, the PNG is written there (atomically) before returning.
        title: the axes title (wrapped to the axes' width when longer).

    Returns:
        The figure: ``fig.axes[0].lines`` holds one line per series, then the ideal line (label
        ``"ideal (linear)"``, dashed). Not closed: see :mod:`reports.plotting`.
    """
    x = _check(pes, series, "PE counts")
    fig, ax = new_figure()
    _draw_series(ax, x, series)
    ax.plot(x, [v / x[0] for v in x], linestyle="--", color="black", linewidth=1.2, label="ideal (linear)")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log", base=2)
    log2_ticks(ax.xaxis, x)
    ax.yaxis.set_major_formatter(lambda v, _pos: f"{v:g}")
    ax.set_xlabel(PE_XLABEL)
    ax.set_ylabel(SPEEDUP_YLABEL)
    set_title(ax, title)
    ax.grid(True, which="major", alpha=0.3)
    fit_legend(ax, loc="upper left")
    return finish_figure(fig, path)
