"""Plots and the markdown report of a design-space sweep (``dcsim dse``), from plain rows.

The sweep runner (dcsim/dse.py) turns every finished point into one flat row (a dict:
``point``, ``workload``, ``status``, ``accel.<field>``, ``compress.<field>``, the simulation,
energy, compression and synthesis columns) and every layer of every ok point into one layer
row; :func:`write_dse_report` turns those into PNGs and ``dse.md``.

As in :mod:`reports.plots`, every ``plot_*`` function takes plain data, builds a Matplotlib
:class:`~matplotlib.figure.Figure` on the Agg canvas (never pyplot), labels both axes with
their units, writes the PNG atomically when ``path`` is given and returns the figure (not
closed). Only rows with ``status == "ok"`` are plotted. A plot function raises
:class:`ValueError` when the rows hold nothing it can draw; :func:`applicable_plots` says
beforehand which plots have data, and :func:`write_dse_report` draws only those.

Lines of the FIFO and PE plots are *groups*: the ok rows sharing workload, series and the
values of every other varying axis (a manifest axis with more than one distinct value among
the ok rows). An axis is named without its ``accel.``/``compress.`` prefix when the rest of
the name is unambiguous among the manifest's axes, everywhere (legends, titles, tables).
"""
from __future__ import annotations

import json
import math
import os
import warnings
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from arch.fileio import atomic_write_text
from energy_model import COMPONENTS

from .plots import _DPI, _MARKERS, _log2_ticks, _new_figure, plot_fifo_sweep, plot_pe_scaling, save_png

__all__ = [
    "FIG6_SERIES", "MAX_BREAKDOWN_WORKLOADS", "MAX_LINES", "MAX_PARETO_LABELS", "MAX_TABLE_ROWS",
    "MAX_WATERFALL_MODELS", "PLOT_FILES", "applicable_plots",
    "dse_markdown", "pareto_front", "plot_accuracy_vs_rate", "plot_dse_energy_breakdown", "plot_dse_fifo",
    "plot_dse_speedup", "plot_pareto", "plot_resources", "plot_waterfall", "varying_axes", "write_dse_report",
]

#: Plot name -> file name written by :func:`write_dse_report`, in the report's order.
PLOT_FILES = {
    "pareto": "pareto.png",
    "fifo": "fifo_efficiency.png",
    "speedup": "pe_speedup.png",
    "energy_breakdown": "energy_breakdown.png",
    "waterfall": "compression_waterfall.png",
    "accuracy": "accuracy_vs_rate.png",
    "resources": "resources.png",
}
#: At most this many rows in each table of dse.md (the full table is the runner's results.csv).
MAX_TABLE_ROWS = 200
#: The waterfall shows at most this many distinct compressed models (the first ones, in sweep order).
MAX_WATERFALL_MODELS = 8
#: The FIFO and PE plots draw at most this many groups (the first ones, in sweep order).
MAX_LINES = 16
#: The energy breakdown draws at most this many workloads (the first ones, in sweep order).
MAX_BREAKDOWN_WORKLOADS = 12
#: The Pareto plot labels its front points with their index only when it has at most this many.
MAX_PARETO_LABELS = 12

LATENCY_LABEL = "latency per inference (us)"
ENERGY_LABEL = "energy per inference (pJ)"
_STAGES = (("dense", "dense_bits", None), ("P", "storage_bits_p", "compression_rate_p"),
           ("P+Q", "storage_bits_pq", "compression_rate_pq"), ("P+Q+H", "storage_bits_pqh", "compression_rate_pqh"))
_RESOURCES = (("luts", "LUTs"), ("ffs", "FFs"), ("brams", "BRAMs"), ("dsps", "DSPs"))
#: A fixed colour per energy component (and leakage), the same in every subplot and figure.
_COMPONENT_COLORS = {c: f"C{k % 10}" for k, c in enumerate((*COMPONENTS, "leakage"))}
_LINESTYLES = ("-", "-.", ":", (0, (3, 1, 1, 1, 1, 1)))  # "--" is the 100% line


# ----------------------------------------------------------------------------- row helpers

def _ok(rows: Iterable[Mapping]) -> list[Mapping]:
    return [r for r in rows if r.get("status", "ok") == "ok"]


def _num(v: Any) -> float | None:
    """A finite float, or None (None, bools, empty or non-numeric strings, NaN, inf)."""
    if v is None or isinstance(v, bool):
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _pos(v: Any) -> float | None:
    f = _num(v)
    return f if f is not None and f > 0 else None


def _key(v: Any) -> Any:
    """A hashable stand-in for a cell value (lists and dicts as canonical JSON)."""
    if isinstance(v, (list, dict, tuple)):
        return json.dumps(v, sort_keys=True, default=str)
    return v


def _fmt_val(v: Any) -> str:
    """A config value in a legend, a title or a table cell."""
    if v is None:
        return "-"
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def _wl(workload: Any) -> str:
    """A workload as shown in a plot: an archive's long path cut to its last two parts
    (``archive:.../demo/model.dcz``); tables show the full text."""
    w = str(workload or "")
    kind, sep, target = w.partition(":")
    parts = target.replace("\\", "/").split("/")
    if sep and len(w) > 32 and len(parts) > 2:
        return f"{kind}:.../{'/'.join(parts[-2:])}"
    return w


def _manifest_axes(manifest: Mapping | None) -> list[str]:
    manifest = manifest or {}
    axes = list(manifest.get("axes") or [])
    for g in manifest.get("grids") or []:
        for a in (g.get("axes") or {}):
            if a not in axes:
                axes.append(a)
    return axes


def varying_axes(rows: Sequence[Mapping], manifest: Mapping | None) -> list[str]:
    """The manifest's axes (``axes``, then any grid axis not in it) with more than one distinct
    value among the ok rows (None counts as a value), in the manifest's order."""
    ok = _ok(rows)
    return [a for a in _manifest_axes(manifest) if len({_key(r.get(a)) for r in ok}) > 1]


def _short_names(axes: Sequence[str]) -> dict[str, str]:
    """``accel.n_pe`` -> ``n_pe`` when no other axis ends in ``.n_pe`` (or is ``n_pe``)."""
    tails: dict[str, int] = {}
    for a in axes:
        t = a.split(".", 1)[-1]
        tails[t] = tails.get(t, 0) + 1
    return {a: (a.split(".", 1)[-1] if tails[a.split(".", 1)[-1]] == 1 else a) for a in axes}


def _short(axis: str, names: Mapping[str, str]) -> str:
    return names.get(axis, axis)


# ----------------------------------------------------------------------------- Pareto

def pareto_front(xs: Sequence[float], ys: Sequence[float]) -> list[int]:
    """Indices of the non-dominated points when minimising both x and y, sorted by x.

    A point is dominated when another is no worse in both and better in one. Points equal in
    both coordinates are kept once (the lowest index). Points with a None or non-finite
    coordinate are never on the front.
    """
    if len(xs) != len(ys):
        raise ValueError(f"pareto_front: {len(xs)} x values for {len(ys)} y values")
    pts = [(float(x), float(y), i) for i, (x, y) in enumerate(zip(xs, ys))
           if _num(x) is not None and _num(y) is not None]
    pts.sort()
    front, best_y = [], math.inf
    for x, y, i in pts:
        if y < best_y:                 # strictly better y than every point with x' <= x
            front.append(i)
            best_y = y
    return front


def _pareto_data(rows: Sequence[Mapping]) -> dict[str, list[Mapping]]:
    """workload -> its ok rows with a positive latency and energy (sweep order)."""
    out: dict[str, list[Mapping]] = {}
    for r in _ok(rows):
        if _pos(r.get("latency_us")) is not None and _pos(r.get("energy_pJ")) is not None:
            out.setdefault(str(r.get("workload", "")), []).append(r)
    return out


def _pareto_rows(wl_rows: Sequence[Mapping]) -> list[Mapping]:
    idx = pareto_front([float(r["latency_us"]) for r in wl_rows], [float(r["energy_pJ"]) for r in wl_rows])
    return [wl_rows[i] for i in idx]


def _plain_log_ticks(axis) -> None:
    """Label a log axis with plain numbers (0.2, 0.5, 1, 2, 5, 10), not powers of ten."""
    axis.set_major_formatter(lambda v, _pos: f"{v:g}")
    axis.set_minor_formatter(lambda v, _pos: f"{v:g}" if f"{v:.0e}"[0] in "25" else "")


def plot_pareto(rows: Sequence[Mapping], path: str | os.PathLike | None = None) -> Figure:
    """Energy against latency per inference (log-log), one scatter per workload, and each
    workload's Pareto front (minimum latency and energy) as a step line.

    Returns the figure: ``ax.collections[k]`` is the scatter of the k-th workload (first-seen
    order, legend label = workload), ``ax.lines[k]`` its front (label ``"_front <workload>"``,
    hidden from the legend; x data = the front's latencies in increasing order). The front's
    points are annotated with their point index (``ax.texts``) only when the plot has at most
    :data:`MAX_PARETO_LABELS` front points in all (more would overlap; dse.md lists them).
    """
    data = _pareto_data(rows)
    if not data:
        raise ValueError("plot_pareto: no ok rows with a positive latency_us and energy_pJ")
    fig, ax = _new_figure()
    fronts = {w: _pareto_rows(wr) for w, wr in data.items()}
    annotate = sum(len(f) for f in fronts.values()) <= MAX_PARETO_LABELS
    for k, (w, wr) in enumerate(data.items()):
        color = f"C{k % 10}"
        ax.scatter([float(r["latency_us"]) for r in wr], [float(r["energy_pJ"]) for r in wr], s=18, alpha=0.55,
                   marker=_MARKERS[k % len(_MARKERS)], color=color, label=_wl(w))
        fr = fronts[w]
        fx, fy = [float(r["latency_us"]) for r in fr], [float(r["energy_pJ"]) for r in fr]
        ax.step(fx, fy, where="post", color=color, linewidth=1.3, label=f"_front {w}")
        if annotate:
            for r, x, y in zip(fr, fx, fy):
                ax.annotate(str(r.get("point", "")), (x, y), textcoords="offset points", xytext=(3, 3),
                            fontsize=7, color=color)
    ax.set_xscale("log")
    _plain_log_ticks(ax.xaxis)
    ax.set_yscale("log")
    ax.set_xlabel(LATENCY_LABEL)
    ax.set_ylabel(ENERGY_LABEL)
    ax.set_title("Energy vs latency per inference (lines: Pareto front per workload)")
    ax.grid(True, which="major", alpha=0.3)
    _tidy_legend(ax)
    if path is not None:
        save_png(fig, path)
    return fig


# ----------------------------------------------------------------------------- groups (FIFO, PE)

def _sweep_groups(rows: Sequence[Mapping], manifest: Mapping | None, axis: str, value_fn) -> tuple[list[dict], str]:
    """Lines along ``axis``: ``[{"label", "x", "y", "rows"}]`` and a title suffix.

    A group is the ok rows sharing workload, series and the values of every other varying
    axis; ``value_fn(row)`` is the y value (None skips the row). Only groups with at least
    two distinct positive x values are returned. The first row of a group at a given x wins
    (sweep order). Other axes whose value is the same in every returned group go in the
    title suffix rather than in each label; the series is in the label only when the
    returned groups come from more than one series. None values (not applicable, e.g. the
    compression settings of an eie: workload) are left out of labels and titles.
    """
    vary = varying_axes(rows, manifest)
    if axis not in vary:
        return [], ""
    others = [a for a in vary if a != axis]
    names = _short_names(_manifest_axes(manifest))
    groups: dict[tuple, dict] = {}
    for r in _ok(rows):
        x = _pos(r.get(axis))
        y = value_fn(r)
        if x is None or y is None:
            continue
        key = (str(r.get("workload", "")), str(r.get("series") or ""), tuple(_key(r.get(a)) for a in others))
        g = groups.setdefault(key, {"key": key, "points": {}, "rows": [], "other": {a: r.get(a) for a in others}})
        if x not in g["points"]:
            g["points"][x] = y
            g["rows"].append(r)
    kept = [g for g in groups.values() if len(g["points"]) >= 2]
    if not kept:
        return [], ""
    differing = [a for i, a in enumerate(others) if len({g["key"][2][i] for g in kept}) > 1]
    constant = [a for a in others if a not in differing]
    with_series = len({g["key"][1] for g in kept}) > 1
    out = []
    for g in kept:
        w, s, _ = g["key"]
        parts = [_wl(w) + (f" [{s}]" if with_series and s else "")]
        parts += [f"{_short(a, names)}={_fmt_val(g['other'][a])}" for a in differing if g["other"][a] is not None]
        xs = sorted(g["points"])
        out.append({"label": ", ".join(parts), "x": xs, "y": [g["points"][x] for x in xs], "rows": g["rows"]})
    suffix = ", ".join(f"{_short(a, names)}={_fmt_val(kept[0]['other'][a])}" for a in constant
                       if kept[0]["other"][a] is not None)
    return out, suffix


def _unique_labels(groups: list[dict]) -> None:
    seen: dict[str, int] = {}
    for g in groups:
        seen[g["label"]] = seen.get(g["label"], 0) + 1
    for g in groups:
        if seen[g["label"]] > 1:
            g["label"] += f" (point {g['rows'][0].get('point', '?')})"


def _on_union(groups: list[dict]) -> tuple[list[float], dict[str, list[float]]]:
    """The union of the groups' x values and each group's y on it (NaN where it has none)."""
    xs = sorted({x for g in groups for x in g["x"]})
    series = {}
    for g in groups:
        m = dict(zip(g["x"], g["y"]))
        series[g["label"]] = [m.get(x, math.nan) for x in xs]
    return xs, series


def _cap_groups(groups: list[dict], title: str) -> tuple[list[dict], str]:
    if len(groups) <= MAX_LINES:
        return groups, title
    return groups[:MAX_LINES], f"{title}\n(the first {MAX_LINES} of {len(groups)} lines)"


def _tidy_legend(ax, loc: str = "best") -> None:
    """A legend that fits: inside the axes when short, else outside on the right, smaller."""
    handles, labels = ax.get_legend_handles_labels()
    if not handles:
        return
    if len(labels) <= 6 and max(len(t) for t in labels) <= 40:
        ax.legend(handles, labels, fontsize=8, loc=loc)
    else:
        w, h = ax.figure.get_size_inches()
        ax.figure.set_size_inches(max(w, 10.0), h)      # room for the legend on the right
        ax.legend(handles, labels, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0,
                  ncol=2 if len(labels) > 18 else 1)


def _own_data(ax, groups: list[dict], union: list[float]) -> None:
    """Lines of groups that lack some of the union's x values: draw them through their own
    points only, so that the line is not broken by the NaN placeholders."""
    changed = False
    for line, g in zip(ax.lines, groups):
        if len(g["x"]) != len(union):
            line.set_data(g["x"], g["y"])
            changed = True
    if changed:
        ax.relim()
        ax.autoscale_view()


def _fifo_groups(rows, manifest):
    def lbe(r):
        v = _num(r.get("load_balance_efficiency"))
        return None if v is None else 100.0 * v
    groups, suffix = _sweep_groups(rows, manifest, "accel.fifo_depth", lbe)
    _unique_labels(groups)
    return groups, suffix


def plot_dse_fifo(rows: Sequence[Mapping], manifest: Mapping | None,
                  path: str | os.PathLike | None = None) -> Figure:
    """Load-balance efficiency (%) against the FIFO depth, one line per group (see the module
    docstring), via :func:`reports.plots.plot_fifo_sweep` on the union of the depths; a group
    swept over fewer depths is drawn through its own points. Applicable when
    ``accel.fifo_depth`` varies within at least one group."""
    groups, suffix = _fifo_groups(rows, manifest)
    if not groups:
        raise ValueError("plot_dse_fifo: accel.fifo_depth does not vary within any group of ok rows "
                         "with a load_balance_efficiency")
    groups, title = _cap_groups(groups, "Load-balance efficiency vs FIFO depth" + (f" ({suffix})" if suffix else ""))
    xs, series = _on_union(groups)
    fig = plot_fifo_sweep(xs, series, ylabel="load-balance efficiency (%)", title=title)
    _own_data(fig.axes[0], groups, xs)
    _tidy_legend(fig.axes[0])
    if path is not None:
        save_png(fig, path)
    return fig


def _speedup_groups(rows, manifest):
    groups, suffix = _sweep_groups(rows, manifest, "accel.n_pe", lambda r: _pos(r.get("cycles_per_input")))
    for g in groups:
        base = g["y"][0]                       # cycles at the group's smallest PE count
        g["base_pe"] = g["x"][0]
        g["y"] = [base / c for c in g["y"]]
    _unique_labels(groups)
    return groups, suffix


def _pe_text(n: float) -> str:
    return f"{n:g} PE" + ("" if n == 1 else "s")


def plot_dse_speedup(rows: Sequence[Mapping], manifest: Mapping | None,
                     path: str | os.PathLike | None = None) -> Figure:
    """Speedup against the PE count, one line per group, via :func:`reports.plots.plot_pe_scaling`.

    speedup = cycles_per_input at the group's smallest PE count / cycles_per_input. The y label
    names the baseline ("speedup over 8 PEs (x)"), or says "each line's smallest PE count" when
    the groups start at different counts. The ideal line is ``pes / min(pes)`` over the union.
    """
    groups, suffix = _speedup_groups(rows, manifest)
    if not groups:
        raise ValueError("plot_dse_speedup: accel.n_pe does not vary within any group of ok rows "
                         "with a cycles_per_input")
    groups, title = _cap_groups(groups, "Speedup vs number of PEs" + (f" ({suffix})" if suffix else ""))
    xs, series = _on_union(groups)
    fig = plot_pe_scaling(xs, series, title=title)
    ax = fig.axes[0]
    bases = {g["base_pe"] for g in groups}
    ax.set_ylabel(f"speedup over {_pe_text(bases.pop())} (x)" if len(bases) == 1
                  else "speedup over each line's smallest PE count (x)")
    _own_data(ax, groups, xs)
    _tidy_legend(ax, loc="upper left")
    if path is not None:
        save_png(fig, path)
    return fig


# ----------------------------------------------------------------------------- energy breakdown

def _breakdown_data(rows: Sequence[Mapping], layer_rows: Sequence[Mapping]) -> list[tuple[Mapping, list[Mapping]]]:
    """(row, its layer rows) of the lowest-energy ok point of each workload that has layer rows."""
    by_point: dict[Any, list[Mapping]] = {}
    for lr in layer_rows or []:
        by_point.setdefault(lr.get("point"), []).append(lr)
    best: dict[str, tuple[float, Mapping]] = {}
    for r in _ok(rows):
        lrs = by_point.get(r.get("point"))
        if not lrs:
            continue
        e = _num(r.get("energy_pJ"))
        if e is None:
            e = sum(_num(l.get("energy_pJ")) or 0.0 for l in lrs)
        w = str(r.get("workload", ""))
        if w not in best or e < best[w][0]:
            best[w] = (e, r)
    return [(r, by_point[r.get("point")]) for _, r in best.values()]


def _stack_bars(ax, bars: Sequence[Mapping], comps: Sequence[str]) -> None:
    """Bars of ``bars`` (layer rows) stacked by ``comps``, each component in its own colour."""
    x = list(range(len(bars)))
    bottom = [0.0] * len(bars)
    for c in comps:
        vals = [_num(b.get(f"energy_{c}_pJ")) or 0.0 for b in bars]
        ax.bar(x, vals, bottom=bottom, label=c, color=_COMPONENT_COLORS[c], width=0.7)
        bottom = [b + v for b, v in zip(bottom, vals)]


def _layer_ticks(ax, ticks: Sequence[str], fontsize: float = 8) -> None:
    long = len(ticks) > 6 or max((len(t) for t in ticks), default=0) > 12
    ax.set_xticks(range(len(ticks)), ticks, rotation=35 if long else 0, ha="right" if long else "center",
                  fontsize=fontsize)


def plot_dse_energy_breakdown(rows: Sequence[Mapping], layer_rows: Sequence[Mapping],
                              path: str | os.PathLike | None = None) -> Figure:
    """Energy per layer (pJ per inference, on chip) stacked by component, for the lowest-energy
    ok point of each workload. Components are those with a non-zero value in some drawn bar
    (the :data:`energy_model.COMPONENTS` order, then leakage), each in the same colour
    everywhere.

    One workload: a single axes; its ``containers`` are the components, the tick labels the
    layers, the title names the chosen point. Several workloads: small multiples, one subplot
    per workload (up to 3 columns; the first :data:`MAX_BREAKDOWN_WORKLOADS` in sweep order, the
    suptitle says how many were left out), each with its own linear y scale, its layers as
    ticks, one container per component (zeros included, so every subplot has layers x
    components bars) and the title ``"<workload> (point <n>)"``; the figure has one shared
    legend (``fig.legends[0]``), a supylabel with the unit and a supxlabel.
    """
    chosen = _breakdown_data(rows, layer_rows)
    if not chosen:
        raise ValueError("plot_dse_energy_breakdown: no layer rows for any ok point")
    if len(chosen) == 1:
        return _breakdown_single(chosen[0], path)
    n_all = len(chosen)
    chosen = chosen[:MAX_BREAKDOWN_WORKLOADS]
    comps = [c for c in _COMPONENT_COLORS
             if any(_num(lr.get(f"energy_{c}_pJ")) for _, lrs in chosen for lr in lrs)]
    n = len(chosen)
    ncols = min(3, n)
    nrows = math.ceil(n / ncols)
    fig = Figure(figsize=(3.6 * ncols + 1.6, 2.7 * nrows + 0.8), dpi=_DPI, layout="constrained")
    FigureCanvasAgg(fig)
    grid = fig.subplots(nrows, ncols, squeeze=False)
    axes = [a for row in grid for a in row]
    for ax in axes[n:]:
        fig.delaxes(ax)
    for ax, (r, lrs) in zip(axes, chosen):
        _stack_bars(ax, lrs, comps)
        _layer_ticks(ax, [str(lr.get("layer", "")) for lr in lrs], fontsize=7)
        ax.set_xlim(-0.75, len(lrs) - 0.25)
        ax.set_title(f"{_wl(r.get('workload'))} (point {r.get('point', '?')})", fontsize=9)
        ax.tick_params(axis="y", labelsize=7)
        ax.yaxis.get_offset_text().set_fontsize(7)
        ax.grid(True, axis="y", alpha=0.3)
    fig.supylabel(ENERGY_LABEL, fontsize=10)
    fig.supxlabel("layer", fontsize=10)
    left_out = f" (the first {n} of {n_all} workloads; {n_all - n} left out)" if n < n_all else ""
    fig.suptitle("Energy by layer and component: lowest-energy point of each workload" + left_out, fontsize=11)
    if comps:
        fig.legend(axes[0].containers, comps, loc="outside right upper", fontsize=8, title="component",
                   title_fontsize=8)
    if path is not None:
        save_png(fig, path)
    return fig


def _breakdown_single(chosen: tuple[Mapping, list[Mapping]], path: str | os.PathLike | None) -> Figure:
    r, bars = chosen
    ticks = [str(lr.get("layer", "")) for lr in bars]
    comps = [c for c in _COMPONENT_COLORS if any(_num(b.get(f"energy_{c}_pJ")) for b in bars)]
    fig, ax = _new_figure()
    _stack_bars(ax, bars, comps)
    _layer_ticks(ax, ticks)
    ax.set_xlabel("layer")
    ax.set_ylabel(ENERGY_LABEL)
    ax.set_title(f"Energy by layer and component: point {r.get('point', '?')} ({_wl(r.get('workload'))}, "
                 "lowest energy)", fontsize=10)
    ax.grid(True, axis="y", alpha=0.3)
    if comps:
        _tidy_legend(ax)
    if path is not None:
        save_png(fig, path)
    return fig


# ----------------------------------------------------------------------------- compression waterfall

def _waterfall_models(rows: Sequence[Mapping]) -> list[dict]:
    """The first :data:`MAX_WATERFALL_MODELS` distinct compressed models among the ok model and
    archive rows: ``[{"label", "row", "kib": [4 values or None], "rates": [None, p, pq, pqh]}]``."""
    seen, models = set(), []
    for r in _ok(rows):
        if r.get("workload_kind") not in ("model", "archive") or _pos(r.get("storage_bits_pqh")) is None:
            continue
        comp = tuple(sorted((k, _key(v)) for k, v in r.items() if k.startswith("compress.")))
        key = (r.get("workload"), _num(r.get("storage_bits_pqh")), comp)
        if key in seen:
            continue
        seen.add(key)
        models.append({"row": r, "comp": dict(comp)})
        if len(models) == MAX_WATERFALL_MODELS:
            break
    if not models:
        return []
    keys = sorted({k for m in models for k in m["comp"]})
    differing = [k for k in keys if len({m["comp"].get(k) for m in models}) > 1]
    names = _short_names(keys)
    for m in models:
        r = m["row"]
        parts = [_wl(r.get("workload"))] + [f"{_short(k, names)}={_fmt_val(m['comp'].get(k))}" for k in differing]
        m["label"] = ", ".join(parts)
        dense = _pos(r.get("dense_bits"))
        m["kib"], m["rates"] = [], []
        for _, bits_col, rate_col in _STAGES:
            bits = _pos(r.get(bits_col))
            m["kib"].append(None if bits is None else bits / 8 / 1024)
            rate = _pos(r.get(rate_col)) if rate_col else None
            if rate_col and rate is None and dense is not None and bits is not None:
                rate = dense / bits
            m["rates"].append(rate)
    labels: dict[str, int] = {}
    for m in models:
        labels[m["label"]] = labels.get(m["label"], 0) + 1
    for m in models:
        if labels[m["label"]] > 1:
            m["label"] += f" (point {m['row'].get('point', '?')})"
    return models


def plot_waterfall(rows: Sequence[Mapping], path: str | os.PathLike | None = None) -> Figure:
    """Storage (KiB, log y) of each distinct compressed model at the four stages dense, P, P+Q,
    P+Q+H (Deep Compression's waterfall), each non-dense bar annotated with its compression rate
    ("10.2x"). Grouped bars with a legend by model when there is more than one; ``ax.containers[k]``
    holds the k-th model's four bars (a missing stage has height NaN)."""
    models = _waterfall_models(rows)
    if not models:
        raise ValueError("plot_waterfall: no ok model or archive rows with storage_bits_pqh")
    fig, ax = _new_figure()
    n = len(models)
    width = 0.8 / n
    small = n > 3
    for k, m in enumerate(models):
        xs = [i - 0.4 + width * (k + 0.5) for i in range(len(_STAGES))]
        hs = [math.nan if v is None else v for v in m["kib"]]
        ax.bar(xs, hs, width=width * 0.95, label=m["label"], color=f"C{k % 10}")
        for x, h, rate in zip(xs[1:], hs[1:], m["rates"][1:]):
            if rate is not None and not math.isnan(h):
                ax.annotate(f"{rate:.1f}x", (x, h), textcoords="offset points", xytext=(0, 2), ha="center",
                            va="bottom", fontsize=6 if small else 8, rotation=90 if small else 0)
    ax.set_yscale("log")
    ax.set_xticks(range(len(_STAGES)), [s[0] for s in _STAGES])
    ax.margins(y=0.15)
    ax.set_xlabel("stage (P: pruning, Q: quantization, H: Huffman coding)")
    ax.set_ylabel("storage (KiB)")
    ax.set_title("Compression waterfall (rates against dense fp32)")
    ax.grid(True, axis="y", which="major", alpha=0.3)
    if n > 1:
        _tidy_legend(ax, loc="upper right")
    if path is not None:
        save_png(fig, path)
    return fig


# ----------------------------------------------------------------------------- accuracy vs rate

FIG6_SERIES = ("pruning only", "quantization only", "pruning + quantization")


def _fig6_series(rows: Sequence[Mapping]) -> dict[str, list[tuple[float, float]]]:
    """label -> sorted, deduplicated (size % of dense, accuracy loss in points) of the ok model rows."""
    model_rows = [r for r in _ok(rows) if r.get("workload_kind") == "model"]
    workloads = list(dict.fromkeys(str(r.get("workload", "")) for r in model_rows))
    out: dict[str, list[tuple[float, float]]] = {}
    for w in workloads:
        pts: dict[str, set] = {s: set() for s in FIG6_SERIES}
        for r in model_rows:
            if str(r.get("workload", "")) != w:
                continue
            kept, base = _num(r.get("weights_kept_pct")), _num(r.get("baseline_error_pct"))
            if kept is None or base is None:
                continue
            cands = []
            if kept < 100:
                cands.append(("pruning only", r.get("compression_rate_p"), r.get("pruned_error_pct")))
                cands.append(("pruning + quantization", r.get("compression_rate_pq"), r.get("test_error_pct")))
            else:
                cands.append(("quantization only", r.get("compression_rate_q"), r.get("test_error_pct")))
            for s, rate, err in cands:
                rate, err = _pos(rate), _num(err)
                if rate is not None and err is not None:
                    pts[s].add((100.0 / rate, err - base))
        for s in FIG6_SERIES:
            if pts[s]:
                out[s if len(workloads) == 1 else f"{_wl(w)}: {s}"] = sorted(pts[s])
    return out


def plot_accuracy_vs_rate(rows: Sequence[Mapping], path: str | os.PathLike | None = None) -> Figure:
    """Accuracy loss against model size after compression (Deep Compression, Fig. 6).

    Series (lines with markers, sorted by x, identical points once; an empty series is left
    out): "pruning only" (rows with weights_kept_pct < 100: x = 100 / compression_rate_p, y =
    pruned_error_pct - baseline_error_pct), "quantization only" (weights_kept_pct == 100: x = 100
    / compression_rate_q, y = test_error_pct - baseline_error_pct), "pruning + quantization"
    (weights_kept_pct < 100: x = 100 / compression_rate_pq, y = test_error_pct -
    baseline_error_pct). Only ok rows of workload_kind "model"; with several model workloads the
    labels are "<workload>: <series>". ``ax.lines`` holds the series, then a dotted zero line
    (label ``"_zero"``).
    """
    series = _fig6_series(rows)
    if not series:
        raise ValueError("plot_accuracy_vs_rate: no ok model rows with compression rates and error rates")
    fig, ax = _new_figure()
    for k, (label, pts) in enumerate(series.items()):
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker=_MARKERS[k % len(_MARKERS)], markersize=5,
                linewidth=1.4, label=label)
    ax.axhline(0.0, color="gray", linestyle=":", linewidth=1.0, label="_zero")
    ax.set_xscale("log")
    _plain_log_ticks(ax.xaxis)
    ax.set_xlabel("model size (% of dense fp32)")
    ax.set_ylabel("accuracy loss (% points)")
    ax.set_title("Accuracy loss vs model size (Deep Compression Fig. 6)")
    ax.grid(True, which="major", alpha=0.3)
    _tidy_legend(ax)
    if path is not None:
        save_png(fig, path)
    return fig


# ----------------------------------------------------------------------------- FPGA resources

def _resource_series(rows: Sequence[Mapping]) -> dict:
    """``{"pct": bool, "devices": [...], "max_over_others": bool, "lines": [{"label", "target",
    "resource", "x", "y"}]}`` from the ok rows with synth_luts, or ``{}``."""
    syn = [r for r in _ok(rows) if _num(r.get("synth_luts")) is not None and _pos(r.get("accel.n_pe")) is not None]
    if not syn:
        return {}
    targets: dict[tuple, list[Mapping]] = {}
    for r in syn:
        targets.setdefault((str(r.get("synth_target") or ""), str(r.get("synth_device") or "")), []).append(r)
    have_cap = any(_pos(r.get(f"synth_{res}_capacity")) is not None for r in syn for res, _ in _RESOURCES)
    multi = len(targets) > 1
    lines, max_over = [], False
    for (target, device), trs in targets.items():
        unit = next((str(r["synth_lut_unit"]) for r in trs if r.get("synth_lut_unit")), "")
        for res, name in _RESOURCES:
            pts: dict[float, set] = {}
            for r in trs:
                v = _num(r.get(f"synth_{res}"))
                if v is None:
                    continue
                if have_cap:
                    cap = _pos(r.get(f"synth_{res}_capacity"))
                    if cap is None:
                        continue
                    v = 100.0 * v / cap
                pts.setdefault(float(r["accel.n_pe"]), set()).add(v)
            if not pts:
                continue
            max_over |= any(len(v) > 1 for v in pts.values())
            xs = sorted(pts)
            label = name + (f" ({unit})" if res == "luts" and unit else "")
            lines.append({"label": (f"{target}: " if multi else "") + label, "target": (target, device),
                          "resource": res, "x": xs, "y": [max(pts[x]) for x in xs]})
    if not lines:
        return {}
    return {"pct": have_cap, "devices": list(targets), "max_over_others": max_over, "lines": lines}


def plot_resources(rows: Sequence[Mapping], path: str | os.PathLike | None = None) -> Figure:
    """FPGA resources of the synthesised array against the PE count (log2 x).

    One line per resource (LUTs, FFs, BRAMs, DSPs) and synthesis target, as % of the device's
    capacity (a resource whose capacity is unknown is left out), with a dashed line at 100%
    (label ``"device capacity"``, last in ``ax.lines``). When no row gives any capacity the
    lines are absolute counts instead ("resources (count)", no 100% line). When several points
    share a PE count (other settings swept too), the maximum is drawn and the title says so.
    """
    data = _resource_series(rows)
    if not data:
        raise ValueError("plot_resources: no ok rows with synth_luts and accel.n_pe")
    fig, ax = _new_figure()
    res_idx = {res: k for k, (res, _) in enumerate(_RESOURCES)}
    tgt_idx = {t: k for k, t in enumerate(data["devices"])}
    for line in data["lines"]:
        k, t = res_idx[line["resource"]], tgt_idx[line["target"]]
        ax.plot(line["x"], line["y"], color=f"C{k}", marker=_MARKERS[k], markersize=4, linewidth=1.4,
                linestyle=_LINESTYLES[t % len(_LINESTYLES)], label=line["label"])
    xs = sorted({x for line in data["lines"] for x in line["x"]})
    if data["pct"]:
        ax.axhline(100.0, color="black", linestyle="--", linewidth=1.0, label="device capacity")
        ax.set_ylabel("device utilisation (%)")
    else:
        ax.set_ylabel("resources (count)")
    ax.set_xscale("log", base=2)
    _log2_ticks(ax.xaxis, xs)
    ax.set_xlabel("PEs")
    devs = ", ".join(" ".join(p for p in t if p) or "unknown device" for t in data["devices"])
    ax.set_title(f"FPGA resources vs PEs: {devs}" + ("\n(max over the other swept settings at each PE count)"
                                                      if data["max_over_others"] else ""), fontsize=10)
    ax.grid(True, which="major", alpha=0.3)
    _tidy_legend(ax)
    if path is not None:
        save_png(fig, path)
    return fig


# ----------------------------------------------------------------------------- applicability

def applicable_plots(rows: Sequence[Mapping], layer_rows: Sequence[Mapping], manifest: Mapping | None) -> list[str]:
    """The names (keys of :data:`PLOT_FILES`, in its order) of the plots the rows have data for."""
    have = {
        "pareto": bool(_pareto_data(rows)),
        "fifo": bool(_fifo_groups(rows, manifest)[0]),
        "speedup": bool(_speedup_groups(rows, manifest)[0]),
        "energy_breakdown": bool(_breakdown_data(rows, layer_rows)),
        "waterfall": bool(_waterfall_models(rows)),
        "accuracy": bool(_fig6_series(rows)),
        "resources": bool(_resource_series(rows)),
    }
    return [k for k in PLOT_FILES if have[k]]


_CAPTIONS = {
    "pareto": ("Energy-latency Pareto front",
               "Energy against latency per inference for every ok point; the step line joins each workload's "
               "Pareto-optimal points (numbers = point index, when there are at most "
               f"{MAX_PARETO_LABELS} of them)."),
    "fifo": ("Load-balance efficiency vs FIFO depth",
             "Load-balance efficiency (cycle-weighted over layers) against the activation FIFO depth, one line "
             "per group of points that differ only in the depth."),
    "speedup": ("Speedup vs PEs",
                "Speedup (cycles per input at the group's smallest PE count / cycles per input) against the "
                "number of PEs; dashed: linear speedup."),
    "energy_breakdown": ("Energy by layer and component",
                         "Energy per inference by layer and component, for the lowest-energy point of each "
                         "workload (weights in on-chip SRAM); with several workloads, one panel each, each with "
                         "its own y scale."),
    "waterfall": ("Compression waterfall",
                  "Weight storage after pruning (P), quantization (Q) and Huffman coding (H), with the "
                  "compression rate against dense fp32."),
    "accuracy": ("Accuracy loss vs model size",
                 "Accuracy loss against model size as % of dense fp32, for pruning only, quantization only and "
                 "both (Deep Compression, Fig. 6)."),
    "resources": ("FPGA resources vs PEs",
                  "Synthesised array resources as % of the device's capacity against the number of PEs."),
}


# ----------------------------------------------------------------------------- markdown

def _fmt_cell(v: Any) -> str:
    """A table cell: 4 significant digits, thousands separators for large numbers, yes/no."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return f"{v:,}" if abs(v) >= 10_000 else str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            return str(v)
        if v == 0:
            return "0"
        if 1e4 <= abs(v) < 1e15:          # 4 significant digits, grouped: 123,500 rather than 1.235e+05
            return f"{round(v, 3 - int(math.floor(math.log10(abs(v))))):,.0f}"
        return f"{v:.4g}"
    return str(v).replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def _md_table(rows: Sequence[Mapping], cols: Sequence[tuple[str, str]]) -> list[str]:
    out = ["| " + " | ".join(h for _, h in cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        out.append("| " + " | ".join(_fmt_cell(r.get(k)) for k, _ in cols) + " |")
    return out


def _point_columns(ok: Sequence[Mapping], vary: Sequence[str], names: Mapping[str, str]) -> list[tuple[str, str]]:
    has = lambda k: any(r.get(k) is not None and r.get(k) != "" for r in ok)  # noqa: E731
    cols = [("point", "point"), ("workload", "workload")]
    if any(r.get("series") for r in ok):
        cols.append(("series", "series"))
    cols += [(a, _short(a, names)) for a in vary]
    cols += [("cycles_per_input", "cycles/input"), ("latency_us", "latency (us)"), ("energy_pJ", "energy (pJ)"),
             ("_lbe_pct", "load-balance eff. (%)")]
    if any(r.get("fits_spmat_sram") is False for r in ok):
        cols.append(("fits_spmat_sram", "fits SRAM"))
    if has("compression_rate_pqh"):
        cols.append(("compression_rate_pqh", "rate P+Q+H (x)"))
    if has("test_error_pct"):
        cols.append(("test_error_pct", "test error (%)"))
    if has("synth_luts"):
        cols += [("synth_luts", "LUTs"), ("synth_fits", "fits device")]
        if has("synth_fmax_MHz"):
            cols.append(("synth_fmax_MHz", "fmax (MHz)"))
    return cols


def _display_row(r: Mapping) -> dict:
    d = dict(r)
    lbe = _num(r.get("load_balance_efficiency"))
    d["_lbe_pct"] = None if lbe is None else 100.0 * lbe
    return d


def _axes_lines(rows: Sequence[Mapping], manifest: Mapping, vary: Sequence[str]) -> list[str]:
    out = []
    grids = [g for g in manifest.get("grids") or [] if g.get("axes")]
    for g in grids:
        desc = "; ".join(f"`{a}` = {', '.join(_fmt_val(v) for v in vals)}" for a, vals in g["axes"].items())
        out.append(f"- grid `{g['label']}`: {desc}" if g.get("label") else f"- {desc}")
    if not grids:
        ok = _ok(rows)
        for a in _manifest_axes(manifest):
            vals = list(dict.fromkeys(_key(r.get(a)) for r in ok))
            out.append(f"- `{a}` = {', '.join(_fmt_val(v) for v in vals)}")
    if not out:
        out.append("- (none)")
    out.append("")
    out.append("Varying among the ok points: " + (", ".join(f"`{a}`" for a in vary) if vary else "none") + ".")
    return out


def dse_markdown(rows: Sequence[Mapping], manifest: Mapping | None, plots: Mapping[str, str],
                 plot_errors: Mapping[str, str] | None = None) -> str:
    """The text of dse.md; ``plots`` maps plot names (keys of :data:`PLOT_FILES`) to the file
    names written, ``plot_errors`` plot names to the error that stopped them."""
    manifest = manifest or {}
    ok, failed = _ok(rows), [r for r in rows if r.get("status", "ok") != "ok"]
    vary = varying_axes(rows, manifest)
    names = _short_names(_manifest_axes(manifest))
    name = manifest.get("name") or "design-space sweep"
    lines = [f"# Design-space sweep: {name}", ""]
    if manifest.get("command"):
        lines += ["Command:", "", "```", str(manifest["command"]), "```", ""]
    counts = f"{len(rows)} points: {len(ok)} ok, {len(failed)} failed"
    n_planned = manifest.get("n_points")
    if isinstance(n_planned, int) and n_planned > len(rows):
        counts += f" (the sweep has {n_planned} points; {n_planned - len(rows)} did not run)"
    lines += [counts + ".", ""]
    wls = manifest.get("workloads") or list(dict.fromkeys(str(r.get("workload", "")) for r in rows))
    if wls:
        lines += ["Workloads: " + ", ".join(f"`{w}`" for w in wls) + ".", ""]
    lines += ["## Swept axes", ""] + _axes_lines(rows, manifest, vary) + [""]
    lines += ["All figures are per inference (one input vector); energy with the weights in on-chip SRAM "
              "(EIE). Load-balance efficiency is cycle-weighted over the layers.", ""]

    lines += ["## Points", ""]
    if ok:
        shown = ok[:MAX_TABLE_ROWS]
        if len(ok) > len(shown):
            lines += [f"The first {len(shown)} of {len(ok)} ok points; the full table is in results.csv.", ""]
        lines += _md_table([_display_row(r) for r in shown], _point_columns(ok, vary, names)) + [""]
    else:
        lines += ["No point finished.", ""]

    pdata = _pareto_data(rows)
    if pdata:
        lines += ["## Pareto-optimal points (energy and latency per inference, per workload)", ""]
        front = [_display_row(r) for wr in pdata.values() for r in _pareto_rows(wr)]
        cols = [("workload", "workload"), ("point", "point")]
        if any(r.get("series") for r in front):
            cols.append(("series", "series"))
        cols += [(a, _short(a, names)) for a in vary]
        cols += [("latency_us", "latency (us)"), ("energy_pJ", "energy (pJ)"), ("cycles_per_input", "cycles/input"),
                 ("_lbe_pct", "load-balance eff. (%)")]
        if any(r.get("compression_rate_pqh") is not None for r in front):
            cols.append(("compression_rate_pqh", "rate P+Q+H (x)"))
        if any(r.get("test_error_pct") is not None for r in front):
            cols.append(("test_error_pct", "test error (%)"))
        if len(front) > MAX_TABLE_ROWS:
            lines += [f"The first {MAX_TABLE_ROWS} of {len(front)} Pareto-optimal points.", ""]
        lines += _md_table(front[:MAX_TABLE_ROWS], cols) + [""]

    if failed:
        lines += ["## Failed points", ""]
        lines += _md_table(failed[:MAX_TABLE_ROWS], [("point", "point"), ("workload", "workload"), ("error", "error")])
        if len(failed) > MAX_TABLE_ROWS:
            lines += ["", f"The first {MAX_TABLE_ROWS} of {len(failed)} failed points; all are in results.csv."]
        lines += [""]

    if plots or plot_errors:
        lines += ["## Plots", ""]
        for key, fname in plots.items():
            alt, caption = _CAPTIONS[key]
            lines += [f"![{alt}]({fname})", "", caption, ""]
        for key, err in (plot_errors or {}).items():
            lines += [f"{_CAPTIONS[key][0]}: not drawn ({err}).", ""]
    return "\n".join(lines).rstrip("\n") + "\n"


def write_dse_report(out_dir: str | os.PathLike, rows: Sequence[Mapping], layer_rows: Sequence[Mapping],
                     manifest: Mapping | None) -> list[Path]:
    """Each applicable plot as a PNG (names in :data:`PLOT_FILES`) and ``dse.md`` into ``out_dir``.

    A plot that fails is not fatal (the sweep's results are worth more than one figure): the
    error goes into dse.md and a :class:`RuntimeWarning`. Returns the paths written, the PNGs in
    :data:`PLOT_FILES` order, then dse.md.
    """
    d = Path(out_dir)
    draw = {
        "pareto": lambda p: plot_pareto(rows, path=p),
        "fifo": lambda p: plot_dse_fifo(rows, manifest, path=p),
        "speedup": lambda p: plot_dse_speedup(rows, manifest, path=p),
        "energy_breakdown": lambda p: plot_dse_energy_breakdown(rows, layer_rows, path=p),
        "waterfall": lambda p: plot_waterfall(rows, path=p),
        "accuracy": lambda p: plot_accuracy_vs_rate(rows, path=p),
        "resources": lambda p: plot_resources(rows, path=p),
    }
    written: list[Path] = []
    plots: dict[str, str] = {}
    errors: dict[str, str] = {}
    for key in applicable_plots(rows, layer_rows, manifest):
        p = d / PLOT_FILES[key]
        try:
            draw[key](p)
        except Exception as e:  # noqa: BLE001 - reported in dse.md and as a warning
            errors[key] = f"{type(e).__name__}: {e}"
            warnings.warn(f"dse report: {PLOT_FILES[key]} not drawn: {errors[key]}", RuntimeWarning, stacklevel=2)
            continue
        written.append(p)
        plots[key] = p.name
    md = d / "dse.md"
    atomic_write_text(md, dse_markdown(rows, manifest, plots, errors))
    written.append(md)
    return written
