"""The plots of a design-space sweep (``dcsim dse``), from plain rows.

Every ``plot_*`` function takes the sweep's rows (and the manifest or the layer rows where it
needs them; see :mod:`reports.dse_rows`), builds a Matplotlib
:class:`~matplotlib.figure.Figure` on the Agg canvas (never pyplot) with the helpers of
:mod:`reports.plotting`, labels both axes with their units, keeps its titles whole (wrapped to
the width) and its legends no larger than its axes, writes the PNG atomically when ``path`` is
given and returns the figure (not closed). Only rows with ``status == "ok"`` are plotted. A plot
function raises :class:`ValueError` when the rows hold nothing it can draw;
:func:`applicable_plots` says beforehand which plots have data.

Lines of the FIFO and PE plots are *groups*: the ok rows sharing workload, series and the
values of every other varying axis (a manifest axis with more than one distinct value among
the ok rows). An axis is named without its ``accel.``/``compress.`` prefix when the rest of
the name is unambiguous among the manifest's axes. In labels and titles a long workload is cut
by :func:`short_workload` and a setting is shown by :func:`setting_text` (one short line).
"""
from __future__ import annotations

import json
import math
import os
from typing import Any, Mapping, Sequence

from matplotlib.figure import Figure

from .dse_rows import (area_rows, finite_number, latency_energy_rows, pareto_front_nd, load_balance_pct, manifest_axes, ok_rows, pareto_rows,
                       positive_number, short_axis_names, value_key, varying_axes)
from .plots import plot_fifo_sweep, plot_pe_scaling
from .plotting import (LINESTYLES, MARKERS, blank_figure, component_color, energy_components, finish_figure,
                       fit_legend, log2_ticks, new_figure, plain_log_ticks, set_suptitle, set_title)
from .tables import format_value

__all__ = [
    "ENERGY_LABEL", "FIG6_SERIES", "LATENCY_LABEL", "MAX_BREAKDOWN_WORKLOADS", "MAX_LINES", "MAX_PARETO_LABELS",
    "MAX_WATERFALL_MODELS", "PLOT_FILES", "SETTING_TEXT_CHARS", "applicable_plots", "plot_accuracy_vs_rate", "plot_area_pareto",
    "plot_dse_energy_breakdown", "plot_dse_fifo", "plot_dse_speedup", "plot_pareto", "plot_resources",
    "plot_waterfall", "setting_text", "short_workload", "waterfall_models",
]

#: Plot name -> file name written by :func:`reports.dse_report.write_dse_report`, in the report's order.
PLOT_FILES = {
    "pareto": "pareto.png",
    "area_pareto": "area_pareto.png",
    "fifo": "fifo_efficiency.png",
    "speedup": "pe_speedup.png",
    "energy_breakdown": "energy_breakdown.png",
    "waterfall": "compression_waterfall.png",
    "accuracy": "accuracy_vs_rate.png",
    "resources": "resources.png",
}
#: The waterfall shows at most this many distinct compressed models (the first ones, in sweep order).
MAX_WATERFALL_MODELS = 8
#: The FIFO and PE plots draw at most this many groups (the first ones, in sweep order).
MAX_LINES = 16
#: The energy breakdown draws at most this many workloads (the first ones, in sweep order).
MAX_BREAKDOWN_WORKLOADS = 12
#: The Pareto plot labels its front points with their index only when it has at most this many.
MAX_PARETO_LABELS = 12
#: :func:`setting_text` cuts a value to at most this many characters.
SETTING_TEXT_CHARS = 40

LATENCY_LABEL = "latency per inference (us)"
ENERGY_LABEL = "energy per inference (pJ)"
_STAGES = (("dense", "dense_bits", None), ("P", "storage_bits_p", "compression_rate_p"),
           ("P+Q", "storage_bits_pq", "compression_rate_pq"), ("P+Q+H", "storage_bits_pqh", "compression_rate_pqh"))
_RESOURCES = (("luts", "LUTs"), ("ffs", "FFs"), ("brams", "BRAMs"), ("dsps", "DSPs"))


# ----------------------------------------------------------------------------- labels

def short_workload(workload: Any) -> str:
    """A workload as shown in a plot: an archive's long path cut to its last two parts
    (``archive:.../demo/model.dcz``); tables show the full text."""
    w = str(workload or "")
    kind, sep, target = w.partition(":")
    parts = target.replace("\\", "/").split("/")
    if sep and len(w) > 32 and len(parts) > 2:
        return f"{kind}:.../{'/'.join(parts[-2:])}"
    return w


def setting_text(value: Any) -> str:
    """A setting's value as shown in a plot label or title: one short line.

    Scalars as :func:`reports.tables.format_value` writes them (None as ``-``); a dict, or the
    JSON text of one as read back from results.csv, as ``{fc1:0.065 fc2:0.08}``, a list as
    ``[1 2 3]``. At most :data:`SETTING_TEXT_CHARS` characters: a longer dict or list keeps its
    first whole items and ends in ``…`` (``{fc1:0.065 fc2:0.08 …}``), a longer scalar is cut with
    ``…`` (dse.md has the full values).
    """
    if isinstance(value, str) and value.startswith(("{", "[")):
        try:
            value = json.loads(value)
        except ValueError:
            pass
    if isinstance(value, dict):
        items, ends = [f"{k}:{format_value(v, none='-', exact=True)}" for k, v in value.items()], "{}"
    elif isinstance(value, (list, tuple)):
        items, ends = [format_value(v, none="-", exact=True) for v in value], "[]"
    else:
        text = format_value(value, none="-", exact=True)
        return text if len(text) <= SETTING_TEXT_CHARS else text[:SETTING_TEXT_CHARS - 1] + "\u2026"
    for n in range(len(items), 0, -1):           # as many whole items as fit
        text = ends[0] + " ".join(items[:n] + ([] if n == len(items) else ["\u2026"])) + ends[1]
        if len(text) <= SETTING_TEXT_CHARS:
            return text
    return ends[0] + ("\u2026" if items else "") + ends[1]


def _unique_labels(items: list[dict]) -> None:
    """Append `` (point <n>)`` to every label that two or more items share (``item["point"]``)."""
    seen: dict[str, int] = {}
    for item in items:
        seen[item["label"]] = seen.get(item["label"], 0) + 1
    for item in items:
        if seen[item["label"]] > 1:
            item["label"] += f" (point {item['point']})"


# ----------------------------------------------------------------------------- Pareto

def plot_pareto(rows: Sequence[Mapping], path: str | os.PathLike | None = None) -> Figure:
    """Energy against latency per inference (log-log), one scatter per workload, and each
    workload's Pareto front (minimum latency and energy) as a step line.

    Returns the figure: ``ax.collections[k]`` is the scatter of the k-th workload (first-seen
    order, legend label = workload), ``ax.lines[k]`` its front (label ``"_front <workload>"``,
    hidden from the legend; x data = the front's latencies in increasing order). The front's
    points are annotated with their point index (``ax.texts``) only when the plot has at most
    :data:`MAX_PARETO_LABELS` front points in all (more would overlap; dse.md lists them).
    """
    data = latency_energy_rows(rows)
    if not data:
        raise ValueError("plot_pareto: no ok rows with a positive latency_us and energy_pJ")
    fig, ax = new_figure()
    fronts = {w: pareto_rows(wr) for w, wr in data.items()}
    annotate = sum(len(f) for f in fronts.values()) <= MAX_PARETO_LABELS
    for k, (w, wr) in enumerate(data.items()):
        color = f"C{k % 10}"
        ax.scatter([float(r["latency_us"]) for r in wr], [float(r["energy_pJ"]) for r in wr], s=18, alpha=0.55,
                   marker=MARKERS[k % len(MARKERS)], color=color, label=short_workload(w))
        fr = fronts[w]
        fx, fy = [float(r["latency_us"]) for r in fr], [float(r["energy_pJ"]) for r in fr]
        ax.step(fx, fy, where="post", color=color, linewidth=1.3, label=f"_front {w}")
        if annotate:
            for r, x, y in zip(fr, fx, fy):
                ax.annotate(str(r.get("point", "")), (x, y), textcoords="offset points", xytext=(3, 3),
                            fontsize=7, color=color)
    ax.set_xscale("log")
    plain_log_ticks(ax.xaxis)
    ax.set_yscale("log")
    ax.set_xlabel(LATENCY_LABEL)
    ax.set_ylabel(ENERGY_LABEL)
    set_title(ax, "Energy vs latency per inference (lines: Pareto front per workload)")
    ax.grid(True, which="major", alpha=0.3)
    fit_legend(ax)
    return finish_figure(fig, path)


def plot_area_pareto(rows: Sequence[Mapping], path: str | os.PathLike | None = None) -> Figure:
    """Chip area against energy and latency per inference: two panels sharing the x axis (area,
    mm2, log), energy per inference (left) and latency per inference (right), one marker per
    workload; the points no other point of the same workload beats in all three (area, energy,
    latency) are ringed.

    Returns the figure: ``fig.axes[0]`` / ``[1]`` hold, per workload in first-seen order, its
    scatter (``collections[2k]``, legend label = workload) and the ring of its three-way
    Pareto-optimal points (``collections[2k + 1]``, label ``"_front <workload>"``).
    """
    data = area_rows(rows)
    if not data:
        raise ValueError("plot_area_pareto: no ok rows with a positive area_mm2, latency_us and energy_pJ")
    fig = blank_figure((10.0, 4.4))
    axes = fig.subplots(1, 2)
    for k, (w, wr) in enumerate(data.items()):
        color = f"C{k % 10}"
        front = pareto_front_nd([(r["area_mm2"], r["energy_pJ"], r["latency_us"]) for r in wr])
        fr = [wr[i] for i in front]
        for ax, key in zip(axes, ("energy_pJ", "latency_us")):
            ax.scatter([float(r["area_mm2"]) for r in wr], [float(r[key]) for r in wr], s=18, alpha=0.55,
                       marker=MARKERS[k % len(MARKERS)], color=color, label=short_workload(w))
            ax.scatter([float(r["area_mm2"]) for r in fr], [float(r[key]) for r in fr], s=70, facecolors="none",
                       edgecolors=color, linewidths=1.2, label=f"_front {w}")
    for ax, label in zip(axes, (ENERGY_LABEL, LATENCY_LABEL)):
        ax.set_xscale("log")
        ax.set_yscale("log")
        plain_log_ticks(ax.xaxis)
        ax.set_xlabel("chip area (mm2)")
        ax.set_ylabel(label)
        ax.grid(True, which="major", alpha=0.3)
    set_suptitle(fig, "Area vs energy and latency per inference (ringed: Pareto-optimal in all three, per workload)")
    fit_legend(axes[1])
    return finish_figure(fig, path)


# ----------------------------------------------------------------------------- groups (FIFO, PE)

def _sweep_groups(rows: Sequence[Mapping], manifest: Mapping | None, axis: str, value_fn) -> tuple[list[dict], str]:
    """Lines along ``axis``: ``[{"label", "x", "y", "rows", "point"}]`` and a title suffix.

    A group is the ok rows sharing workload, series and the values of every other varying
    axis; ``value_fn(row)`` is the y value (None skips the row). Only groups with at least
    two distinct positive x values are returned. The first row of a group at a given x wins
    (sweep order). Other axes whose value is the same in every returned group go in the
    title suffix rather than in each label; the series is in the label only when the
    returned groups come from more than one series. None values (not applicable, e.g. the
    compression settings of an eie: workload) are left out of labels and titles. Labels that
    two groups share get their first point's index; ``point`` is that index.
    """
    vary = varying_axes(rows, manifest)
    if axis not in vary:
        return [], ""
    others = [a for a in vary if a != axis]
    names = short_axis_names(manifest_axes(manifest))
    groups: dict[tuple, dict] = {}
    for r in ok_rows(rows):
        x = positive_number(r.get(axis))
        y = value_fn(r)
        if x is None or y is None:
            continue
        key = (str(r.get("workload", "")), str(r.get("series") or ""), tuple(value_key(r.get(a)) for a in others))
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
        parts = [short_workload(w) + (f" [{s}]" if with_series and s else "")]
        parts += [f"{names[a]}={setting_text(g['other'][a])}" for a in differing if g["other"][a] is not None]
        xs = sorted(g["points"])
        out.append({"label": ", ".join(parts), "x": xs, "y": [g["points"][x] for x in xs], "rows": g["rows"],
                    "point": g["rows"][0].get("point", "?")})
    _unique_labels(out)
    suffix = ", ".join(f"{names[a]}={setting_text(kept[0]['other'][a])}" for a in constant
                       if kept[0]["other"][a] is not None)
    return out, suffix


def _on_union(groups: list[dict]) -> tuple[list[float], dict[str, list[float]]]:
    """The union of the groups' x values and each group's y on it (NaN where it has none)."""
    xs = sorted({x for g in groups for x in g["x"]})
    series = {}
    for g in groups:
        m = dict(zip(g["x"], g["y"]))
        series[g["label"]] = [m.get(x, math.nan) for x in xs]
    return xs, series


def _lines_to_draw(plot: str, axis: str, y_column: str, groups: list[dict], suffix: str,
                   title: str) -> tuple[list[dict], str, list[float], dict[str, list[float]]]:
    """The groups to draw (the first :data:`MAX_LINES`), the title (with the constant settings'
    ``suffix`` and how many lines were left out), and :func:`_on_union` of the groups. Raises
    ValueError naming ``plot`` when there is no group."""
    if not groups:
        raise ValueError(f"{plot}: {axis} does not vary within any group of ok rows with a {y_column}")
    title += f" ({suffix})" if suffix else ""
    if len(groups) > MAX_LINES:
        groups, title = groups[:MAX_LINES], f"{title}\n(the first {MAX_LINES} of {len(groups)} lines)"
    return (groups, title, *_on_union(groups))


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
    return _sweep_groups(rows, manifest, "accel.fifo_depth", load_balance_pct)


def plot_dse_fifo(rows: Sequence[Mapping], manifest: Mapping | None,
                  path: str | os.PathLike | None = None) -> Figure:
    """Load-balance efficiency (%) against the FIFO depth, one line per group (see the module
    docstring), via :func:`reports.plots.plot_fifo_sweep` on the union of the depths; a group
    swept over fewer depths is drawn through its own points. Applicable when
    ``accel.fifo_depth`` varies within at least one group."""
    groups, title, xs, series = _lines_to_draw("plot_dse_fifo", "accel.fifo_depth", "load_balance_efficiency",
                                               *_fifo_groups(rows, manifest), "Load-balance efficiency vs FIFO depth")
    fig = plot_fifo_sweep(xs, series, ylabel="load-balance efficiency (%)", title=title)
    _own_data(fig.axes[0], groups, xs)
    return finish_figure(fig, path)


def _speedup_groups(rows, manifest):
    groups, suffix = _sweep_groups(rows, manifest, "accel.n_pe", lambda r: positive_number(r.get("cycles_per_input")))
    for g in groups:
        base = g["y"][0]                       # cycles at the group's smallest PE count
        g["base_pe"] = g["x"][0]
        g["y"] = [base / c for c in g["y"]]
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
    groups, title, xs, series = _lines_to_draw("plot_dse_speedup", "accel.n_pe", "cycles_per_input",
                                               *_speedup_groups(rows, manifest), "Speedup vs number of PEs")
    fig = plot_pe_scaling(xs, series, title=title)
    ax = fig.axes[0]
    bases = {g["base_pe"] for g in groups}
    ax.set_ylabel(f"speedup over {_pe_text(bases.pop())} (x)" if len(bases) == 1
                  else "speedup over each line's smallest PE count (x)")
    _own_data(ax, groups, xs)
    return finish_figure(fig, path)


# ----------------------------------------------------------------------------- energy breakdown

def _breakdown_data(rows: Sequence[Mapping], layer_rows: Sequence[Mapping]) -> list[tuple[Mapping, list[Mapping]]]:
    """(row, its layer rows) of the lowest-energy ok point of each workload that has layer rows."""
    by_point: dict[Any, list[Mapping]] = {}
    for lr in layer_rows or []:
        by_point.setdefault(lr.get("point"), []).append(lr)
    best: dict[str, tuple[float, Mapping]] = {}
    for r in ok_rows(rows):
        lrs = by_point.get(r.get("point"))
        if not lrs:
            continue
        e = finite_number(r.get("energy_pJ"))
        if e is None:
            e = sum(finite_number(l.get("energy_pJ")) or 0.0 for l in lrs)
        w = str(r.get("workload", ""))
        if w not in best or e < best[w][0]:
            best[w] = (e, r)
    return [(r, by_point[r.get("point")]) for _, r in best.values()]


def _stack_bars(ax, bars: Sequence[Mapping], comps: Sequence[str]) -> None:
    """Bars of ``bars`` (layer rows) stacked by ``comps``, each component in its own colour."""
    x = list(range(len(bars)))
    bottom = [0.0] * len(bars)
    for c in comps:
        vals = [finite_number(b.get(f"energy_{c}_pJ")) or 0.0 for b in bars]
        ax.bar(x, vals, bottom=bottom, label=c, color=component_color(c), width=0.7)
        bottom = [b + v for b, v in zip(bottom, vals)]


def _layer_ticks(ax, ticks: Sequence[str], fontsize: float = 8) -> None:
    long = len(ticks) > 6 or max((len(t) for t in ticks), default=0) > 12
    ax.set_xticks(range(len(ticks)), ticks, rotation=35 if long else 0, ha="right" if long else "center",
                  fontsize=fontsize)


def plot_dse_energy_breakdown(rows: Sequence[Mapping], layer_rows: Sequence[Mapping],
                              path: str | os.PathLike | None = None) -> Figure:
    """Energy per layer (pJ per inference, on chip) stacked by component, for the lowest-energy
    ok point of each workload. Components are those with a non-zero value in some drawn bar
    (EIE's in its order, a machine's own in first-seen order, then leakage), each in the same
    colour everywhere.

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
    comps = energy_components([lr for _, lrs in chosen for lr in lrs])
    n = len(chosen)
    ncols = min(3, n)
    nrows = math.ceil(n / ncols)
    fig = blank_figure((3.6 * ncols + 1.6, 2.7 * nrows + 0.8))
    grid = fig.subplots(nrows, ncols, squeeze=False)
    axes = [a for row in grid for a in row]
    for ax in axes[n:]:
        fig.delaxes(ax)
    for ax, (r, lrs) in zip(axes, chosen):
        _stack_bars(ax, lrs, comps)
        _layer_ticks(ax, [str(lr.get("layer", "")) for lr in lrs], fontsize=7)
        ax.set_xlim(-0.75, len(lrs) - 0.25)
        set_title(ax, f"{short_workload(r.get('workload'))} (point {r.get('point', '?')})", fontsize=9)
        ax.tick_params(axis="y", labelsize=7)
        ax.yaxis.get_offset_text().set_fontsize(7)
        ax.grid(True, axis="y", alpha=0.3)
    fig.supylabel(ENERGY_LABEL, fontsize=10)
    fig.supxlabel("layer", fontsize=10)
    left_out = f" (the first {n} of {n_all} workloads; {n_all - n} left out)" if n < n_all else ""
    set_suptitle(fig, "Energy by layer and component: lowest-energy point of each workload" + left_out, fontsize=11)
    if comps:
        fig.legend(axes[0].containers, comps, loc="outside right upper", fontsize=8, title="component",
                   title_fontsize=8)
    return finish_figure(fig, path)


def _breakdown_single(chosen: tuple[Mapping, list[Mapping]], path: str | os.PathLike | None) -> Figure:
    r, bars = chosen
    ticks = [str(lr.get("layer", "")) for lr in bars]
    comps = energy_components(bars)
    fig, ax = new_figure()
    _stack_bars(ax, bars, comps)
    _layer_ticks(ax, ticks)
    ax.set_xlabel("layer")
    ax.set_ylabel(ENERGY_LABEL)
    set_title(ax, f"Energy by layer and component: point {r.get('point', '?')} ({short_workload(r.get('workload'))}, "
              "lowest energy)", fontsize=10)
    ax.grid(True, axis="y", alpha=0.3)
    if comps:
        fit_legend(ax)
    return finish_figure(fig, path)


# ----------------------------------------------------------------------------- compression waterfall

def _telling_settings(models: Sequence[dict], keys: Sequence[str]) -> list[str]:
    """The fewest of ``keys`` whose values (with the workload) tell the models apart as well as
    all of them do, picked greedily: each next key is the one that splits the models most (the
    first such in ``keys`` on a tie)."""
    def n_kinds(ks: Sequence[str]) -> int:
        return len({(m["workload"], *(m["comp"].get(k) for k in ks)) for m in models})

    target, chosen = n_kinds(keys), []
    while n_kinds(chosen) < target:
        chosen.append(max((k for k in keys if k not in chosen), key=lambda k: n_kinds([*chosen, k])))
    return chosen


def waterfall_models(rows: Sequence[Mapping]) -> list[dict]:
    """The first :data:`MAX_WATERFALL_MODELS` distinct compressed models among the ok model and
    archive rows, in sweep order.

    Each is ``{"label", "point", "workload", "row", "settings", "kib", "rates"}``: ``settings``
    maps the short name of every ``compress.*`` setting whose value differs between the models
    to this model's value; ``kib`` is the storage at the four stages (dense, P, P+Q, P+Q+H; None
    when unknown), ``rates`` the compression rates against dense (None for dense). The label
    is short: the workload only when the models come from several, then the fewest differing
    settings that tell the models apart (:func:`setting_text` values), e.g. ``"fc_bits=4,
    density=0.08"``; a label two models share gets `` (point <n>)``.
    """
    seen, models = set(), []
    for r in ok_rows(rows):
        if r.get("workload_kind") not in ("model", "archive") or positive_number(r.get("storage_bits_pqh")) is None:
            continue
        comp = tuple(sorted((k, value_key(v)) for k, v in r.items() if k.startswith("compress.")))
        key = (r.get("workload"), finite_number(r.get("storage_bits_pqh")), comp)
        if key in seen:
            continue
        seen.add(key)
        models.append({"row": r, "point": r.get("point", "?"), "workload": str(r.get("workload", "")),
                       "comp": dict(comp)})
        if len(models) == MAX_WATERFALL_MODELS:
            break
    if not models:
        return []
    keys = sorted({k for m in models for k in m["comp"]})
    differing = [k for k in keys if len({m["comp"].get(k) for m in models}) > 1]
    telling = _telling_settings(models, differing)
    names = short_axis_names(keys)
    several_workloads = len({m["workload"] for m in models}) > 1
    for m in models:
        r = m["row"]
        parts = [short_workload(m["workload"])] if several_workloads else []
        parts += [f"{names[k]}={setting_text(m['comp'].get(k))}" for k in telling]
        m["label"] = ", ".join(parts) or short_workload(m["workload"])
        m["settings"] = {names[k]: r.get(k) for k in differing}
        dense = positive_number(r.get("dense_bits"))
        m["kib"], m["rates"] = [], []
        for _, bits_col, rate_col in _STAGES:
            bits = positive_number(r.get(bits_col))
            m["kib"].append(None if bits is None else bits / 8 / 1024)
            rate = positive_number(r.get(rate_col)) if rate_col else None
            if rate_col and rate is None and dense is not None and bits is not None:
                rate = dense / bits
            m["rates"].append(rate)
        del m["comp"]
    _unique_labels(models)
    return models


def plot_waterfall(rows: Sequence[Mapping], path: str | os.PathLike | None = None) -> Figure:
    """Storage (KiB, log y) of each distinct compressed model (:func:`waterfall_models`) at the
    four stages dense, P, P+Q, P+Q+H (Deep Compression's waterfall), each non-dense bar annotated
    with its compression rate ("10.2x"; upright for up to three models, else turned on its side
    in a smaller font, so that neighbours do not overlap). Grouped bars with a legend by model
    (short labels; dse.md lists every differing setting) when there is more than one;
    ``ax.containers[k]`` holds the k-th model's four bars (a missing stage has height NaN). The
    title names the workload when all models share it."""
    models = waterfall_models(rows)
    if not models:
        raise ValueError("plot_waterfall: no ok model or archive rows with storage_bits_pqh")
    fig, ax = new_figure()
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
                            va="bottom", fontsize=6.5 if small else 8, rotation=90 if small else 0)
    ax.set_yscale("log")
    ax.set_xticks(range(len(_STAGES)), [s[0] for s in _STAGES])
    ax.margins(y=0.15)
    ax.set_xlabel("stage (P: pruning, Q: quantization, H: Huffman coding)")
    ax.set_ylabel("storage (KiB)")
    workloads = {m["workload"] for m in models}
    of = f" of {short_workload(workloads.pop())}" if len(workloads) == 1 else ""
    set_title(ax, f"Compression waterfall{of} (rates against dense fp32)")
    ax.grid(True, axis="y", which="major", alpha=0.3)
    if n > 1:
        fit_legend(ax, loc="upper right")
    return finish_figure(fig, path)


# ----------------------------------------------------------------------------- accuracy vs rate

FIG6_SERIES = ("pruning only", "quantization only", "pruning + quantization")


def _fig6_series(rows: Sequence[Mapping]) -> dict[str, list[tuple[float, float]]]:
    """label -> sorted, deduplicated (size % of dense, accuracy loss in points) of the ok model rows."""
    model_rows = [r for r in ok_rows(rows) if r.get("workload_kind") == "model"]
    workloads = list(dict.fromkeys(str(r.get("workload", "")) for r in model_rows))
    out: dict[str, list[tuple[float, float]]] = {}
    for w in workloads:
        pts: dict[str, set] = {s: set() for s in FIG6_SERIES}
        for r in model_rows:
            if str(r.get("workload", "")) != w:
                continue
            kept, base = finite_number(r.get("weights_kept_pct")), finite_number(r.get("baseline_error_pct"))
            if kept is None or base is None:
                continue
            cands = []
            if kept < 100:
                cands.append(("pruning only", r.get("compression_rate_p"), r.get("pruned_error_pct")))
                cands.append(("pruning + quantization", r.get("compression_rate_pq"), r.get("test_error_pct")))
            else:
                cands.append(("quantization only", r.get("compression_rate_q"), r.get("test_error_pct")))
            for s, rate, err in cands:
                rate, err = positive_number(rate), finite_number(err)
                if rate is not None and err is not None:
                    pts[s].add((100.0 / rate, err - base))
        for s in FIG6_SERIES:
            if pts[s]:
                out[s if len(workloads) == 1 else f"{short_workload(w)}: {s}"] = sorted(pts[s])
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
    fig, ax = new_figure()
    for k, (label, pts) in enumerate(series.items()):
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker=MARKERS[k % len(MARKERS)], markersize=5,
                linewidth=1.4, label=label)
    ax.axhline(0.0, color="gray", linestyle=":", linewidth=1.0, label="_zero")
    ax.set_xscale("log")
    plain_log_ticks(ax.xaxis)
    ax.set_xlabel("model size (% of dense fp32)")
    ax.set_ylabel("accuracy loss (% points)")
    set_title(ax, "Accuracy loss vs model size (Deep Compression Fig. 6)")
    ax.grid(True, which="major", alpha=0.3)
    fit_legend(ax)
    return finish_figure(fig, path)


# ----------------------------------------------------------------------------- FPGA resources

def _resource_series(rows: Sequence[Mapping]) -> dict:
    """``{"pct": bool, "devices": [...], "max_over_others": bool, "lines": [{"label", "target",
    "resource", "x", "y"}]}`` from the ok rows with synth_luts, or ``{}``."""
    syn = [r for r in ok_rows(rows)
           if finite_number(r.get("synth_luts")) is not None and positive_number(r.get("accel.n_pe")) is not None]
    if not syn:
        return {}
    targets: dict[tuple, list[Mapping]] = {}
    for r in syn:
        targets.setdefault((str(r.get("synth_target") or ""), str(r.get("synth_device") or "")), []).append(r)
    have_cap = any(positive_number(r.get(f"synth_{res}_capacity")) is not None for r in syn for res, _ in _RESOURCES)
    multi = len(targets) > 1
    lines, max_over = [], False
    for (target, device), trs in targets.items():
        unit = next((str(r["synth_lut_unit"]) for r in trs if r.get("synth_lut_unit")), "")
        for res, name in _RESOURCES:
            pts: dict[float, set] = {}
            for r in trs:
                v = finite_number(r.get(f"synth_{res}"))
                if v is None:
                    continue
                if have_cap:
                    cap = positive_number(r.get(f"synth_{res}_capacity"))
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
    fig, ax = new_figure()
    res_idx = {res: k for k, (res, _) in enumerate(_RESOURCES)}
    tgt_idx = {t: k for k, t in enumerate(data["devices"])}
    for line in data["lines"]:
        k, t = res_idx[line["resource"]], tgt_idx[line["target"]]
        ax.plot(line["x"], line["y"], color=f"C{k}", marker=MARKERS[k], markersize=4, linewidth=1.4,
                linestyle=LINESTYLES[t % len(LINESTYLES)], label=line["label"])
    xs = sorted({x for line in data["lines"] for x in line["x"]})
    if data["pct"]:
        ax.axhline(100.0, color="black", linestyle="--", linewidth=1.0, label="device capacity")
        ax.set_ylabel("device utilisation (%)")
    else:
        ax.set_ylabel("resources (count)")
    ax.set_xscale("log", base=2)
    log2_ticks(ax.xaxis, xs)
    ax.set_xlabel("PEs")
    devs = ", ".join(" ".join(p for p in t if p) or "unknown device" for t in data["devices"])
    set_title(ax, f"FPGA resources vs PEs: {devs}" + ("\n(max over the other swept settings at each PE count)"
                                                     if data["max_over_others"] else ""), fontsize=10)
    ax.grid(True, which="major", alpha=0.3)
    fit_legend(ax)
    return finish_figure(fig, path)


# ----------------------------------------------------------------------------- applicability

def applicable_plots(rows: Sequence[Mapping], layer_rows: Sequence[Mapping], manifest: Mapping | None) -> list[str]:
    """The names (keys of :data:`PLOT_FILES`, in its order) of the plots the rows have data for."""
    have = {
        "pareto": bool(latency_energy_rows(rows)),
        "area_pareto": len({r.get("area_mm2") for wr in area_rows(rows).values() for r in wr}) > 1,
        "fifo": bool(_fifo_groups(rows, manifest)[0]),
        "speedup": bool(_speedup_groups(rows, manifest)[0]),
        "energy_breakdown": bool(_breakdown_data(rows, layer_rows)),
        "waterfall": bool(waterfall_models(rows)),
        "accuracy": bool(_fig6_series(rows)),
        "resources": bool(_resource_series(rows)),
    }
    return [k for k in PLOT_FILES if have[k]]


