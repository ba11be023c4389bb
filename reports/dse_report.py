"""The markdown report of a design-space sweep (``dcsim dse``): ``dse.md`` and the plots beside it.

The sweep runner (``dcsim dse``, dcsim/dse/) turns every finished point into one flat row and
every layer of every ok point into one layer row (see :mod:`reports.dse_rows`);
:func:`write_dse_report` turns those into the applicable PNGs of :mod:`reports.dse_plots` and ``dse.md``
(:func:`dse_markdown`): the command, the swept axes, a table of the points, the Pareto-optimal
points, the failed points, and the plots with their captions. Tables are written by
:func:`reports.tables.markdown_table`, so every number looks as in the other reports.
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Mapping, Sequence

from arch.fileio import atomic_write_text

from . import dse_plots
from .dse_plots import MAX_PARETO_LABELS, PLOT_FILES, applicable_plots, waterfall_models
from .dse_rows import (latency_energy_rows, load_balance_pct, manifest_axes, ok_rows, pareto_rows, short_axis_names,
                       value_key, varying_axes)
from .tables import format_value, markdown_table

__all__ = ["MAX_TABLE_ROWS", "dse_markdown", "write_dse_report"]

#: At most this many rows in each table of dse.md (the full table is the runner's results.csv).
MAX_TABLE_ROWS = 200

_CAPTIONS = {
    "pareto": ("Energy-latency Pareto front",
               "Energy against latency per inference for every ok point; the step line joins each workload's "
               "Pareto-optimal points (numbers = point index, when there are at most "
               f"{MAX_PARETO_LABELS} of them)."),
    "area_pareto": ("Area, energy and latency",
                    "Chip area against energy (left) and latency (right) per inference for every ok point; "
                    "ringed: the points of each workload that no other point of it beats in area, energy and "
                    "latency at once."),
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
                  "compression rate against dense fp32. The legend names each model by the fewest settings "
                  "that tell the models apart; the table lists every setting that differs between them."),
    "accuracy": ("Accuracy loss vs model size",
                 "Accuracy loss against model size as % of dense fp32, for pruning only, quantization only and "
                 "both (Deep Compression, Fig. 6)."),
    "resources": ("FPGA resources vs PEs",
                  "Synthesised array resources as % of the device's capacity against the number of PEs."),
}


# ----------------------------------------------------------------------------- markdown

#: The first columns of the points table and of the Pareto-optimal points table.
_POINTS_FIRST = (("point", "point"), ("workload", "workload"))
_PARETO_FIRST = (("workload", "workload"), ("point", "point"))


def _point_columns(ok: Sequence[Mapping], vary: Sequence[str], names: Mapping[str, str],
                   first: Sequence[tuple[str, str]] = _POINTS_FIRST) -> list[tuple[str, str]]:
    """The columns of a table of ok points: ``first``, the series (when a row has one), the varying
    axes, the figures of merit, and the compression and synthesis columns some row fills."""
    has = lambda k: any(r.get(k) is not None and r.get(k) != "" for r in ok)  # noqa: E731
    cols = list(first)
    if any(r.get("series") for r in ok):
        cols.append(("series", "series"))
    cols += [(a, names[a]) for a in vary]
    cols += [("cycles_per_input", "cycles/input"), ("latency_us", "latency (us)"), ("energy_pJ", "energy (pJ)"),
             ("_lbe_pct", "load-balance eff. (%)")]
    if has("area_mm2"):
        cols += [("area_mm2", "area (mm2)"), ("frames_per_s_per_mm2", "frames/s/mm2"), ("frames_per_J", "frames/J")]
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
    return {**r, "_lbe_pct": load_balance_pct(r)}


def _value_list(values) -> str:
    """Values of an axis, comma-separated; a value whose text has a comma or a space (``131,072``,
    a dict) in backticks, so that the list reads unambiguously."""
    texts = (format_value(v, none="-", exact=True) for v in values)
    return ", ".join(f"`{t}`" if ("," in t or " " in t) else t for t in texts)


def _axes_lines(rows: Sequence[Mapping], manifest: Mapping, vary: Sequence[str]) -> list[str]:
    out = []
    grids = [g for g in manifest.get("grids") or [] if g.get("axes")]
    for g in grids:
        desc = "; ".join(f"`{a}` = {_value_list(vals)}" for a, vals in g["axes"].items())
        out.append(f"- grid `{g['label']}`: {desc}" if g.get("label") else f"- {desc}")
    if not grids:
        ok = ok_rows(rows)
        for a in manifest_axes(manifest):
            vals = list(dict.fromkeys(value_key(r.get(a)) for r in ok))
            out.append(f"- `{a}` = {_value_list(vals)}")
    if not out:
        out.append("- (none)")
    out.append("")
    out.append("Varying among the ok points: " + (", ".join(f"`{a}`" for a in vary) if vary else "none") + ".")
    return out


def _waterfall_table(rows: Sequence[Mapping]) -> list[str]:
    """The waterfall's models as a table (the legend's label, point, workload, every setting that
    differs between them, the rates and the final size), then a blank line."""
    models = waterfall_models(rows)
    settings = list(dict.fromkeys(k for m in models for k in m["settings"]))
    table = [{"label": m["label"], "point": m["point"], "workload": m["workload"], **m["settings"],
              "rate_p": m["rates"][1], "rate_pq": m["rates"][2], "rate_pqh": m["rates"][3], "kib_pqh": m["kib"][3]}
             for m in models]
    cols = [("label", "model (legend)"), ("point", "point"), ("workload", "workload")]
    cols += [(k, k) for k in settings]
    cols += [("rate_p", "P (x)"), ("rate_pq", "P+Q (x)"), ("rate_pqh", "P+Q+H (x)"), ("kib_pqh", "P+Q+H (KiB)")]
    return [markdown_table(table, cols), ""]


def dse_markdown(rows: Sequence[Mapping], manifest: Mapping | None, plots: Mapping[str, str],
                 plot_errors: Mapping[str, str] | None = None) -> str:
    """The text of dse.md; ``plots`` maps plot names (keys of :data:`PLOT_FILES`) to the file
    names written, ``plot_errors`` plot names to the error that stopped them."""
    manifest = manifest or {}
    ok, failed = ok_rows(rows), [r for r in rows if r.get("status", "ok") != "ok"]
    vary = varying_axes(rows, manifest)
    names = short_axis_names(manifest_axes(manifest))
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
        lines += [markdown_table([_display_row(r) for r in shown], _point_columns(ok, vary, names)), ""]
    else:
        lines += ["No point finished.", ""]

    pdata = latency_energy_rows(rows)
    if pdata:
        lines += ["## Pareto-optimal points (energy and latency per inference, per workload)", ""]
        front = [_display_row(r) for wr in pdata.values() for r in pareto_rows(wr)]
        cols = _point_columns(front, vary, names, _PARETO_FIRST)
        if len(front) > MAX_TABLE_ROWS:
            lines += [f"The first {MAX_TABLE_ROWS} of {len(front)} Pareto-optimal points.", ""]
        lines += [markdown_table(front[:MAX_TABLE_ROWS], cols), ""]

    if failed:
        lines += ["## Failed points", ""]
        lines += [markdown_table(failed[:MAX_TABLE_ROWS], [("point", "point"), ("workload", "workload"),
                                                            ("error", "error")])]
        if len(failed) > MAX_TABLE_ROWS:
            lines += ["", f"The first {MAX_TABLE_ROWS} of {len(failed)} failed points; all are in results.csv."]
        lines += [""]

    if plots or plot_errors:
        lines += ["## Plots", ""]
        for key, fname in plots.items():
            alt, caption = _CAPTIONS[key]
            lines += [f"![{alt}]({fname})", "", caption, ""]
            if key == "waterfall":
                lines += _waterfall_table(rows)
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
    draw = {                                   # looked up in dse_plots at call time (tests replace them)
        "pareto": lambda p: dse_plots.plot_pareto(rows, path=p),
        "area_pareto": lambda p: dse_plots.plot_area_pareto(rows, path=p),
        "fifo": lambda p: dse_plots.plot_dse_fifo(rows, manifest, path=p),
        "speedup": lambda p: dse_plots.plot_dse_speedup(rows, manifest, path=p),
        "energy_breakdown": lambda p: dse_plots.plot_dse_energy_breakdown(rows, layer_rows, path=p),
        "waterfall": lambda p: dse_plots.plot_waterfall(rows, path=p),
        "accuracy": lambda p: dse_plots.plot_accuracy_vs_rate(rows, path=p),
        "resources": lambda p: dse_plots.plot_resources(rows, path=p),
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
