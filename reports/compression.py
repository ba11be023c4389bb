"""The storage report of a compression run: table, compression.json, compression_layers.csv."""
from __future__ import annotations

from pathlib import Path

from .tables import format_table, write_csv, write_json

STORAGE_COLUMNS = [
    ("layer", "layer"),
    ("n_weights", "#weights"),
    ("weights_kept_pct", "kept %"),
    ("avg_weight_bits_pq", "w bits P+Q"),
    ("avg_weight_bits_pqh", "w bits P+Q+H"),
    ("avg_index_bits_pq", "idx bits P+Q"),
    ("avg_index_bits_pqh", "idx bits P+Q+H"),
    ("codebook_bits", "codebook bits"),
    ("compression_rate_p", "rate P (x)"),
    ("compression_rate_pq", "rate P+Q (x)"),
    ("compression_rate_pqh", "rate P+Q+H (x)"),
]

EIE_COLUMNS = [
    ("layer", "layer"),
    ("eie_n_pe", "PEs"),
    ("eie_index_bits", "v bits"),
    ("eie_entries", "entries"),
    ("eie_fillers", "fillers"),
    ("eie_max_entries_per_pe", "max entries/PE"),
    ("eie_spmat_bits", "spmat bits"),
    ("eie_ptr_bits", "pointer bits"),
    ("eie_total_bits", "total bits"),
    ("eie_fits", "fits SRAM"),
]


def storage_tables(report: dict) -> str:
    rows = list(report["layers"]) + [{**report["total"], "layer": "total"}]
    out = [format_table(rows, STORAGE_COLUMNS, title="Storage (Deep Compression form; rates = 32-bit dense bits / compressed bits)")]
    if "eie_total_bits" in report["total"]:
        out.append("")
        out.append(format_table(rows, EIE_COLUMNS, title="EIE on-chip footprint (per-PE CSC, pointers and word padding; reported apart)"))
    t = report["total"]
    out.append("")
    out.append(accuracy_table(report))
    summary = (f"compression: {t['compression_rate_p']:.1f}x (P), {t['compression_rate_pq']:.1f}x (P+Q), "
               f"{t['compression_rate']:.1f}x (P+Q+H); {t['dense_bits'] / 8 / 1024:.1f} KiB -> "
               f"{t['storage_bits_pqh'] / 8 / 1024:.2f} KiB")
    if t.get("test_error_pct") is not None:
        summary += f"; test error {t['test_error_pct']:.2f}%"
        if t.get("baseline_test_error_pct") is not None:
            summary += f" (baseline {t['baseline_test_error_pct']:.2f}%)"
    else:
        summary += "; accuracy not measured"
    out.append("")
    out.append(summary)
    return "\n".join(out)


def accuracy_rows(report: dict) -> list[dict]:
    """Accuracy next to the compression rate at every stage: the float model, after pruning (P),
    after quantization (P+Q) and after Huffman coding (P+Q+H, lossless: the accuracy of P+Q)."""
    t = report["total"]

    def acc(key):
        v = t.get(key)
        return None if v is None else 100.0 - float(v)

    return [{"stage": "float model", "rate": 1.0, "accuracy": acc("baseline_test_error_pct")},
            {"stage": "pruned (P)", "rate": t["compression_rate_p"], "accuracy": acc("pruned_test_error_pct")},
            {"stage": "P+Q", "rate": t["compression_rate_pq"], "accuracy": acc("test_error_pct")},
            {"stage": "P+Q+H", "rate": t["compression_rate_pqh"], "accuracy": acc("test_error_pct")}]


def accuracy_table(report: dict) -> str:
    """:func:`accuracy_rows` as a table; says so when the accuracy was not measured."""
    t = report["total"]
    n = t.get("n_test_images")
    where = f" on {n:,} labelled samples" if n else ""
    title = f"Accuracy at each stage{where}" if n else \
        "Accuracy at each stage: NOT MEASURED (no evaluation data; give --eval-data)"
    return format_table(accuracy_rows(report), [("stage", "stage"), ("rate", "rate (x)"), ("accuracy", "accuracy (%)")],
                        title=title, none="not measured")


def weight_error_table(report: dict, retrained: bool = False) -> str:
    """The per-layer error of the dequantized weights against the imported ones (``dcsim compress
    --weights`` / ``--onnx``); after retraining it also holds what the training moved."""
    return format_table(report["layers"], [("layer", "layer"), ("weight_rms_error", "RMS error"),
                                           ("weight_rel_error", "rel. error"), ("weight_max_abs_error", "max |error|")],
                        title="Weight error of the dequantized weights against the imported ones"
                              + (" (after retraining)" if retrained else " (no retraining)"))


def write_compression_report(out_dir: str | Path, report: dict) -> list[Path]:
    """Write compression.json and compression_layers.csv into ``out_dir``."""
    d = Path(out_dir)
    write_json(d / "compression.json", report)
    write_csv(d / "compression_layers.csv", report["layers"])
    return [d / "compression.json", d / "compression_layers.csv"]
