"""Plots of the EIE sweeps (benchmarks/eie_sweeps.py), from plain data.

Every function takes plain Python data (lists and a ``{name: values}`` dict, one
line per entry, in the dict's order), builds a Matplotlib figure on the Agg
canvas, sets the title and both axis labels (with units), and returns the
:class:`~matplotlib.figure.Figure`. With ``path`` the figure is first written as
a PNG atomically: rendered to memory, then written to a temporary file in the
target folder and renamed over ``path`` (``os.replace`` via
:func:`arch.fileio.atomic_write_bytes`), so a reader never sees a half-written
image.

Closing: the figures are created with :class:`matplotlib.figure.Figure` directly,
not with ``pyplot``, so they are not registered with pyplot's figure manager and
the global backend is never touched; a figure is freed when the caller drops its
last reference. The functions never close the figure they return: closing is the
caller's business (``matplotlib.pyplot.close(fig)`` is harmless but not needed).
"""
from __future__ import annotations

import io
import os
from typing import Mapping, Sequence

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, NullLocator

from arch.fileio import atomic_write_bytes

__all__ = ["FIFO_XLABEL", "PE_XLABEL", "SPEEDUP_YLABEL", "plot_fifo_sweep", "plot_pe_scaling", "save_png"]

FIFO_XLABEL = "FIFO depth (entries)"
PE_XLABEL = "PEs"
SPEEDUP_YLABEL = "speedup over 1 PE (x)"
_MARKERS = ("o", "s", "^", "v", "D", "P", "X", "<", ">", "*", "h")
_DPI = 120


def save_png(fig: Figure, path: str | os.PathLike) -> None:
    """Write ``fig`` as a PNG to ``path`` atomically (temporary file + ``os.replace``)."""
    buf = io.BytesIO()
    FigureCanvasAgg(fig).print_png(buf)
    atomic_write_bytes(path, buf.getvalue())


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


def _new_figure() -> tuple[Figure, object]:
    fig = Figure(figsize=(7.0, 4.6), dpi=_DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot(1, 1, 1)


def _log2_ticks(axis, values: Sequence[float]) -> None:
    """Ticks exactly at the given x values (powers of two), labelled as integers."""
    axis.set_major_locator(FixedLocator(list(values)))
    axis.set_minor_locator(NullLocator())
    axis.set_major_formatter(lambda v, _pos: f"{v:g}")


def plot_fifo_sweep(depths: Sequence[int], series: Mapping[str, Sequence[float]],
                    ylabel: str = "load-balance efficiency (%)",
                    title: str = "Load-balance efficiency vs FIFO depth",
                    path: str | os.PathLike | None = None) -> Figure:
    """One line per series (e.g. per layer) of a figure against the FIFO depth.

    Args:
        depths: FIFO depths in entries (x, log2 axis), e.g. 1, 2, 4, ..., 256.
        series: ``{name: values}``, one value per depth; the names go in the legend.
        ylabel: the y axis label, with its unit, e.g. ``"load-balance efficiency (%)"``.
        title: the axes title.
        path: if given, the PNG is written there (atomically) before returning.

    Returns:
        The figure (one axes; ``fig.axes[0].lines`` holds one line per series, x data = depths).
        Not closed: see the module docstring.
    """
    x = _check(depths, series, "depths")
    fig, ax = _new_figure()
    for k, (name, ys) in enumerate(series.items()):
        ax.plot(x, [float(v) for v in ys], marker=_MARKERS[k % len(_MARKERS)], markersize=4,
                linewidth=1.4, label=str(name))
    ax.set_xscale("log", base=2)
    _log2_ticks(ax.xaxis, x)
    ax.set_xlabel(FIFO_XLABEL)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=8, ncol=2 if len(series) > 5 else 1, loc="best")
    if path is not None:
        save_png(fig, path)
    return fig


def plot_pe_scaling(pes: Sequence[int], series: Mapping[str, Sequence[float]],
                    path: str | os.PathLike | None = None,
                    title: str = "Speedup vs number of PEs") -> Figure:
    """Speedup over 1 PE against the PE count, log-log, with the ideal linear speedup dashed.

    Args:
        pes: PE counts (x), e.g. 1, 2, 4, ..., 256; the ideal line is ``speedup = pes / pes[0]``
            (``= pes`` when the sweep starts at 1 PE).
        series: ``{name: speedups}`` (cycles at 1 PE / cycles at N PEs, in x), one per PE count.
        path: if given, the PNG is written there (atomically) before returning.
        title: the axes title.

    Returns:
        The figure: ``fig.axes[0].lines`` holds one line per series, then the ideal line (label
        ``"ideal (linear)"``, dashed). Not closed: see the module docstring.
    """
    x = _check(pes, series, "PE counts")
    fig, ax = _new_figure()
    for k, (name, ys) in enumerate(series.items()):
        ax.plot(x, [float(v) for v in ys], marker=_MARKERS[k % len(_MARKERS)], markersize=4,
                linewidth=1.4, label=str(name))
    ax.plot(x, [v / x[0] for v in x], linestyle="--", color="black", linewidth=1.2, label="ideal (linear)")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log", base=2)
    _log2_ticks(ax.xaxis, x)
    ax.yaxis.set_major_formatter(lambda v, _pos: f"{v:g}")
    ax.set_xlabel(PE_XLABEL)
    ax.set_ylabel(SPEEDUP_YLABEL)
    ax.set_title(title)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=8, ncol=2 if len(series) > 5 else 1, loc="upper left")
    if path is not None:
        save_png(fig, path)
    return fig
