"""The plotting helpers every figure in reports/ shares (Matplotlib's Figure and Agg canvas only).

- Figures: :func:`new_figure` (one axes) and :func:`blank_figure` (no axes yet), on the Agg
  canvas at :data:`DPI` with constrained layout; :func:`save_png` writes a PNG atomically and
  :func:`finish_figure` does so when a path is given.
- Axes: :func:`log2_ticks` (ticks exactly at given powers of two, labelled as integers) and
  :func:`plain_log_ticks` (a log axis labelled with plain numbers, 0.2, 0.5, 1, 2, 5, 10, rather than powers of ten).
- Text that fits: :func:`set_title` and :func:`set_suptitle` wrap a title to the width of its
  axes or figure, so that no title is clipped; :func:`fit_legend` draws a legend inside the axes
  when it is small, else beside them (labels wrapped by :func:`wrap_label`, as many columns as
  its height needs) on a figure widened by the legend's width, so that the axes keep their size
  and no legend is larger than its axes.
- Styles: :data:`MARKERS`, :data:`LINESTYLES` and :data:`COMPONENT_COLORS` (one fixed colour per
  energy component, the same in every figure).

Closing: the figures are created with :class:`matplotlib.figure.Figure` directly, not with
``pyplot``, so they are not registered with pyplot's figure manager and the global backend is
never touched; a figure is freed when the caller drops its last reference. Nothing here closes
a figure: closing is the caller's business (``matplotlib.pyplot.close(fig)`` is harmless but not
needed).
"""
from __future__ import annotations

import io
import math
import os
import textwrap
from typing import Sequence

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.legend import Legend
from matplotlib.text import Text
from matplotlib.ticker import FixedLocator, NullLocator

from arch.config import ACCESS_COMPONENTS
from arch.fileio import atomic_write_bytes

__all__ = [
    "COMPONENT_COLORS", "DPI", "FIGSIZE", "LEGEND_LABEL_CHARS", "LINESTYLES", "MARKERS", "blank_figure",
    "component_color", "energy_components", "finish_figure", "fit_legend", "log2_ticks", "new_figure", "plain_log_ticks", "save_png", "set_suptitle",
    "set_title", "wrap_label",
]

#: Resolution of every PNG (dots per inch).
DPI = 120
#: Size of a one-axes figure (inches).
FIGSIZE = (7.0, 4.6)
#: Line markers, in the order the lines of a plot take them.
MARKERS = ("o", "s", "^", "v", "D", "P", "X", "<", ">", "*", "h")
#: Line styles for a second grouping of lines (e.g. one per synthesis target); "--" is kept for
#: reference lines (ideal speedup, 100%).
LINESTYLES = ("-", "-.", ":", (0, (3, 1, 1, 1, 1, 1)))
#: A fixed colour per energy component of EIE (and leakage), the same in every subplot and figure.
COMPONENT_COLORS = {**{c: f"C{k % 10}" for k, c in enumerate(ACCESS_COMPONENTS)},
                    "clock": "#393b79", "control": "#8c6d31", "leakage": "0.35"}


def component_color(name: str) -> str:
    """The colour of an energy component: EIE's fixed ones, else one picked from its name
    (the same name always gets the same colour)."""
    if name in COMPONENT_COLORS:
        return COMPONENT_COLORS[name]
    return f"C{sum(name.encode()) % 10}"


def _nonzero(v) -> bool:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return False
    return math.isfinite(f) and f != 0


def energy_components(rows, prefix: str = "energy_", suffix: str = "_pJ") -> list[str]:
    """The components of rows with ``<prefix><component><suffix>`` columns holding a nonzero
    value, in first-seen order (EIE's in its own order, then clock and control), leakage last; the
    total, the access subtotal and the per-module columns (``energy_module_*``) are not ones."""
    seen: list[str] = []
    for r in rows:
        for k, v in r.items():
            if k.startswith(prefix) and k.endswith(suffix) and len(k) > len(prefix) + len(suffix):
                c = k[len(prefix):-len(suffix)]
                if c not in seen and c not in ("total", "a", "b", "c", "access") and not c.startswith("module_") \
                        and _nonzero(v):
                    seen.append(c)
    order = {c: k for k, c in enumerate(COMPONENT_COLORS)}
    return sorted(seen, key=lambda c: (c == "leakage", order.get(c, len(order)), seen.index(c)))
#: A legend label beside the axes is wrapped to lines of at most this many characters.
LEGEND_LABEL_CHARS = 38
#: A legend goes inside the axes when it takes at most this fraction of their width and height.
_INSIDE_FRACTION = 0.55


# ----------------------------------------------------------------------------- figures

def blank_figure(figsize: tuple[float, float] = FIGSIZE) -> Figure:
    """A figure without axes on the Agg canvas, at :data:`DPI`, with constrained layout."""
    fig = Figure(figsize=figsize, dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def new_figure(figsize: tuple[float, float] = FIGSIZE) -> tuple[Figure, Axes]:
    """A figure with one axes (see :func:`blank_figure`): ``(fig, ax)``."""
    fig = blank_figure(figsize)
    return fig, fig.add_subplot(1, 1, 1)


def save_png(fig: Figure, path: str | os.PathLike) -> None:
    """Write ``fig`` as a PNG to ``path`` atomically: rendered to memory, written to a temporary
    file in the target folder and renamed over ``path``, so a reader never sees half an image."""
    buf = io.BytesIO()
    FigureCanvasAgg(fig).print_png(buf)
    atomic_write_bytes(path, buf.getvalue())


def finish_figure(fig: Figure, path: str | os.PathLike | None = None) -> Figure:
    """Write ``fig`` to ``path`` (:func:`save_png`) when a path is given; return ``fig``."""
    if path is not None:
        save_png(fig, path)
    return fig


# ----------------------------------------------------------------------------- axes

def log2_ticks(axis, values: Sequence[float]) -> None:
    """Ticks exactly at the given values (powers of two) of a log axis, labelled as plain numbers."""
    axis.set_major_locator(FixedLocator(list(values)))
    axis.set_minor_locator(NullLocator())
    axis.set_major_formatter(lambda v, _pos: f"{v:g}")


def plain_log_ticks(axis) -> None:
    """Label a log axis with plain numbers (0.2, 0.5, 1, 2, 5, 10), not powers of ten.

    Minor ticks are labelled at 2 and 5 times a power of ten; at 2, 3, 4 and 5 when the axis
    spans less than 1.5 decades, and at every one when it spans less than 0.8 of a decade (so
    that a short axis still has a few labels, and a long one is not crowded).
    """
    def minor_label(v: float, _pos) -> str:
        lo, hi = sorted(axis.get_view_interval())
        decades = math.log10(hi / lo) if lo > 0 else math.inf
        digits = "23456789" if decades < 0.8 else "2345" if decades < 1.5 else "25"
        return f"{v:g}" if f"{v:.0e}"[0] in digits else ""

    axis.set_major_formatter(lambda v, _pos: f"{v:g}")
    axis.set_minor_formatter(minor_label)


# ----------------------------------------------------------------------------- text that fits

def _fit_text(text: Text, width_px: float, renderer) -> None:
    """Rewrap ``text`` (keeping its own line breaks) so that no line is wider than ``width_px``
    pixels when drawn; a single word longer than that stays whole."""
    prop = text.get_fontproperties()

    def width(line: str) -> float:
        return renderer.get_text_width_height_descent(line, prop, ismath=False)[0]

    lines: list[str] = []
    for line in text.get_text().split("\n"):
        wrapped, chars = [line], len(line)
        while chars > 8 and max(width(part) for part in wrapped) > width_px:
            widest = max(wrapped, key=width)
            chars = min(chars - 1, int(len(widest) * width_px / width(widest)))
            wrapped = textwrap.wrap(line, max(chars, 8), break_long_words=False, break_on_hyphens=False) or [line]
        lines += wrapped
    text.set_text("\n".join(lines))


def _axes_size_px(ax: Axes) -> tuple[float, float]:
    """The axes' width and height in pixels, laid out as the figure stands now (the figure's
    layout engine, constrained layout, is run first)."""
    fig = ax.figure
    engine = fig.get_layout_engine()
    if engine is not None:
        engine.execute(fig)
    pos = ax.get_position()
    w, h = fig.get_size_inches()
    return pos.width * w * fig.dpi, pos.height * h * fig.dpi


def set_title(ax: Axes, title: str, **kwargs) -> Text:
    """``ax.set_title(title, **kwargs)``, the title wrapped to the axes' width (never clipped).
    Set it after the axis labels and tick labels, which take their share of the width."""
    text = ax.set_title("", **kwargs)          # laid out without it: a long title would squeeze the axes
    width = _axes_size_px(ax)[0]
    text.set_text(title)
    _fit_text(text, width, ax.figure.canvas.get_renderer())
    return text


def set_suptitle(fig: Figure, title: str, **kwargs) -> Text:
    """``fig.suptitle(title, **kwargs)``, wrapped to 95% of the figure's width (never clipped)."""
    text = fig.suptitle(title, **kwargs)
    _fit_text(text, 0.95 * fig.get_figwidth() * fig.dpi, fig.canvas.get_renderer())
    return text


def wrap_label(label: str, chars: int = LEGEND_LABEL_CHARS) -> str:
    """A legend label broken into lines of at most ``chars`` characters, at spaces only."""
    return "\n".join(textwrap.wrap(label, chars, break_long_words=False, break_on_hyphens=False)) or label


def fit_legend(ax: Axes, loc: str = "best", *, fontsize: float = 8) -> Legend | None:
    """A legend of ``ax``'s labelled artists that fits; None when there are none.

    Inside the axes at ``loc`` (one column up to five entries, else two) when it takes at most
    55% of the axes' width and of their height. Otherwise beside the axes on the right, one
    point smaller, each label wrapped by :func:`wrap_label`, with as many columns (up to four)
    as it takes to be no taller than the axes; the figure is widened by the legend's width, so
    that the axes keep the size they had.
    """
    handles, labels = ax.get_legend_handles_labels()
    if not handles:
        return None
    fig = ax.figure
    renderer = fig.canvas.get_renderer()
    ax_w, ax_h = _axes_size_px(ax)
    legend = ax.legend(handles, labels, fontsize=fontsize, loc=loc, ncol=1 if len(labels) <= 5 else 2)
    box = legend.get_window_extent(renderer)
    if box.width <= _INSIDE_FRACTION * ax_w and box.height <= _INSIDE_FRACTION * ax_h:
        return legend
    wrapped = [wrap_label(label) for label in labels]
    for ncol in range(1, 5):
        legend = ax.legend(handles, wrapped, fontsize=fontsize - 1, loc="upper left", bbox_to_anchor=(1.02, 1.0),
                           borderaxespad=0.0, ncol=ncol)
        box = legend.get_window_extent(renderer)
        if box.height <= ax_h:
            break
    w, h = fig.get_size_inches()
    fig.set_size_inches(w + (box.width + 0.02 * ax_w) / fig.dpi + 0.1, h)
    return legend
