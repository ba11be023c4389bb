"""Readability of a figure, measured on its rendered Agg canvas: what a reader would see clipped,
too large or overlapping. Each function draws the figure (``fig.canvas.draw()``) and returns a
list of problems, one line each (empty when the figure reads well)."""
from matplotlib.figure import Figure
from matplotlib.transforms import Bbox

#: Slack in pixels for text extents at the figure's edge (antialiasing, rounding).
TOLERANCE_PX = 1.0


def _area(box: Bbox) -> float:
    return max(box.width, 0.0) * max(box.height, 0.0)


def _texts(fig: Figure) -> list:
    """Every visible, non-empty text a reader sees but tick labels: figure texts (suptitle,
    supxlabel, supylabel), axes titles, axis labels, annotations, and legend texts and titles."""
    texts = list(fig.texts)
    legends = list(fig.legends)
    for ax in fig.axes:
        texts += [ax.title, ax.xaxis.label, ax.yaxis.label, *ax.texts]
        if ax.get_legend() is not None:
            legends.append(ax.get_legend())
    for legend in legends:
        texts += [*legend.get_texts(), legend.get_title()]
    return [t for t in texts if t.get_visible() and t.get_text().strip()]


def _render(fig: Figure):
    """Draw ``fig`` on its canvas; its renderer, to measure what was drawn."""
    fig.canvas.draw()
    return fig.canvas.get_renderer()


def _outside(box: Bbox, frame: Bbox) -> bool:
    return (box.x0 < frame.x0 - TOLERANCE_PX or box.y0 < frame.y0 - TOLERANCE_PX
            or box.x1 > frame.x1 + TOLERANCE_PX or box.y1 > frame.y1 + TOLERANCE_PX)


def _where(box: Bbox) -> tuple:
    return tuple(round(v) for v in box.extents)


def clipped_texts(fig: Figure) -> list[str]:
    """Texts whose window extent is not inside the figure's bbox (titles run off the edge, ...),
    and axes whose drawn tick labels are not (each axis's tight bbox, which holds only the ticks
    in view)."""
    renderer, frame = _render(fig), fig.bbox
    out = [f"text {t.get_text()!r} at {_where(t.get_window_extent(renderer))} is outside the figure {_where(frame)}"
           for t in _texts(fig) if _outside(t.get_window_extent(renderer), frame)]
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            box = axis.get_tightbbox(renderer)
            if box is not None and _outside(box, frame):
                out.append(f"tick labels of {ax.get_title()!r} at {_where(box)} are outside the figure {_where(frame)}")
    return out


def oversized_legends(fig: Figure) -> list[str]:
    """Legends larger (in area) than their axes; a figure legend is compared with all axes together."""
    renderer, out = _render(fig), []
    for ax in fig.axes:
        legend = ax.get_legend()
        if legend is not None:
            la, aa = _area(legend.get_window_extent(renderer)), _area(ax.get_window_extent(renderer))
            if la > aa:
                out.append(f"legend of {ax.get_title()!r}: {la:.0f} px^2 > its axes' {aa:.0f} px^2")
    total = sum(_area(ax.get_window_extent(renderer)) for ax in fig.axes)
    for legend in fig.legends:
        la = _area(legend.get_window_extent(renderer))
        if la > total:
            out.append(f"figure legend: {la:.0f} px^2 > all axes' {total:.0f} px^2")
    return out


def overlapping_annotations(fig: Figure) -> list[str]:
    """Pairs of texts inside one axes (``ax.texts``: annotations) whose extents overlap."""
    renderer, out = _render(fig), []
    for ax in fig.axes:
        boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in ax.texts if t.get_visible()]
        for i, (a, ba) in enumerate(boxes):
            for b, bb in boxes[i + 1:]:
                overlap = Bbox.intersection(ba, bb)
                if overlap is not None and overlap.width > TOLERANCE_PX and overlap.height > TOLERANCE_PX:
                    out.append(f"{a!r} overlaps {b!r}")
    return out


def readability_problems(fig: Figure) -> list[str]:
    """:func:`clipped_texts`, :func:`oversized_legends` and :func:`overlapping_annotations` together."""
    return clipped_texts(fig) + oversized_legends(fig) + overlapping_annotations(fig)
