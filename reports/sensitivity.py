"""The per-layer sensitivity scan and the accuracy-budget recipe (compress/sensitivity.py), formatted.

- :func:`sensitivity_table`: the scan as markdown, one table for pruning (accuracy against
  density) and one for quantization (accuracy against bits), each layer alone, no retraining;
- :func:`budget_table`: the per-layer choice of ``budget_recipe`` as markdown;
- :func:`plot_sensitivity`: two panels, accuracy against density and against bits, one line per
  layer, the baseline dashed; written atomically as a PNG.

Each takes the result object (anything with ``to_dict()``) or its plain dict, as written to JSON,
so this package needs nothing of compress/.
"""
from __future__ import annotations

import os
from typing import Any, Mapping

from matplotlib.figure import Figure

from .plotting import MARKERS, blank_figure, finish_figure, fit_legend, set_suptitle, set_title
from .tables import format_value, markdown_table

__all__ = ["PRUNE_COLUMNS", "QUANT_COLUMNS", "BUDGET_COLUMNS", "budget_table", "plot_sensitivity",
           "sensitivity_table"]

PRUNE_COLUMNS = [("layer", "layer"), ("kind", "kind"), ("density_pct", "density (%)"), ("kept_pct", "kept (%)"),
                 ("accuracy_pct", "accuracy (%)"), ("drop_pct", "drop (points)")]
QUANT_COLUMNS = [("layer", "layer"), ("kind", "kind"), ("bits", "bits"), ("accuracy_pct", "accuracy (%)"),
                 ("drop_pct", "drop (points)")]
BUDGET_COLUMNS = [("layer", "layer"), ("kind", "kind"), ("density_pct", "density (%)"), ("kept_pct", "kept (%)"),
                  ("bits", "bits"), ("prune_drop_pct", "drop pruned alone (points)"),
                  ("quantize_drop_pct", "drop quantized alone (points)"), ("estimated_bits", "estimated bits"),
                  ("estimated_rate", "estimated rate (x)")]

DENSITY_LABEL = "density: weights kept (%)"
BITS_LABEL = "codebook index bits"
ACCURACY_LABEL = "accuracy (%)"


def _doc(result: Any) -> Mapping:
    doc = result.to_dict() if hasattr(result, "to_dict") else result
    if not isinstance(doc, Mapping) or "rows" not in doc or "baseline_accuracy_pct" not in doc:
        raise ValueError("not a sensitivity scan: give a SensitivityResult or its to_dict()")
    return doc


def _layers(doc: Mapping) -> list[str]:
    names = [str(l["layer"]) for l in doc.get("layers") or []]
    return names or list(dict.fromkeys(str(r["layer"]) for r in doc["rows"]))


def sensitivity_table(result: Any) -> str:
    """The scan as markdown: the baseline, then a pruning table and a quantization table."""
    doc = _doc(result)
    rows = doc["rows"]
    prune = [{**r, "density_pct": 100.0 * r["density"]} for r in rows if r["method"] == "prune"]
    quant = [r for r in rows if r["method"] == "quantize"]
    out = [f"Baseline accuracy: {format_value(doc['baseline_accuracy_pct'])}% "
           f"(pruner {doc.get('prune_method', '?')}, quantizer {doc.get('quantizer', '?')}); each layer alone, "
           f"no retraining; drop = baseline - accuracy."]
    if prune:
        out += ["", "Pruning", "", markdown_table(prune, PRUNE_COLUMNS)]
    if quant:
        out += ["", "Quantization (unpruned)", "", markdown_table(quant, QUANT_COLUMNS)]
    return "\n".join(out) + "\n"


def budget_table(summary: Mapping) -> str:
    """The choice of ``budget_recipe`` as markdown: per layer, then the measured and estimated totals."""
    rows = [{**r, "density_pct": 100.0 * r["density"]} for r in summary["layers"]]
    t = summary
    met = "within" if t["budget_met"] else "NOT within (even the loosest recipe exceeds it)"
    return (markdown_table(rows, BUDGET_COLUMNS) + "\n\n"
            f"Measured with every layer pruned and quantized together (no retraining): accuracy "
            f"{format_value(t['accuracy_pct'])}% against {format_value(t['baseline_accuracy_pct'])}%, drop "
            f"{format_value(t['drop_pct'])} points, {met} the budget of {format_value(t['max_drop_pct'])} points. "
            f"Estimated compression rate {format_value(t['estimated_compression_rate'])}x "
            f"({format_value(t['estimated_storage_bits'])} of {format_value(t['dense_bits'])} dense bits; "
            f"{t.get('rate_note', 'estimated')}).\n")


def _panel(ax, doc: Mapping, method: str, key: str, scale: float) -> None:
    for k, name in enumerate(_layers(doc)):
        pts = sorted((scale * float(r[key]), float(r["accuracy_pct"])) for r in doc["rows"]
                     if r["layer"] == name and r["method"] == method)
        if pts:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker=MARKERS[k % len(MARKERS)], markersize=4,
                    linewidth=1.4, label=name)
    ax.axhline(float(doc["baseline_accuracy_pct"]), linestyle="--", color="black", linewidth=1.0,
               label="baseline (float)")
    ax.invert_xaxis()                          # more compression to the right
    ax.grid(True, which="major", alpha=0.3)


def plot_sensitivity(result: Any, path: str | os.PathLike | None = None) -> Figure:
    """Accuracy against density (left) and against bits (right), one line per layer, each layer
    pruned or quantized alone without retraining, the float baseline dashed; both x axes run
    towards more compression. With ``path`` the PNG is written there atomically. Returns the
    figure (not closed; see reports/plotting.py)."""
    doc = _doc(result)
    if not doc["rows"]:
        raise ValueError("plot_sensitivity: the scan has no rows")
    fig = blank_figure((11.0, 4.6))
    ax_p, ax_q = fig.subplots(1, 2)
    _panel(ax_p, doc, "prune", "density", 100.0)
    _panel(ax_q, doc, "quantize", "bits", 1.0)
    ax_q.xaxis.get_major_locator().set_params(integer=True)
    ax_p.set_xlabel(DENSITY_LABEL)
    ax_q.set_xlabel(BITS_LABEL)
    for ax in (ax_p, ax_q):
        ax.set_ylabel(ACCURACY_LABEL)
    set_title(ax_p, f"Pruning alone ({doc.get('prune_method', '?')}), no retraining", fontsize=10)
    set_title(ax_q, f"Quantization alone ({doc.get('quantizer', '?')}), no retraining", fontsize=10)
    set_suptitle(fig, f"Per-layer sensitivity (baseline {format_value(doc['baseline_accuracy_pct'])}%)", fontsize=11)
    fit_legend(ax_q, loc="lower left")
    return finish_figure(fig, path)
