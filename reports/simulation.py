"""The simulator's per-layer table, sim.json and sim_layers.csv (formatting only)."""
from __future__ import annotations

from pathlib import Path

from .tables import format_table, write_csv, write_json

SIM_COLUMNS = [
    ("layer", "layer"), ("rows", "out"), ("cols", "in"), ("n_pe", "PEs"), ("fifo_depth", "FIFO"),
    ("inputs", "inputs"), ("vectors_per_input", "products/input"), ("cycles_per_input", "cycles/input"), ("latency_us_per_input", "latency (us)"),
    ("load_balance_efficiency_pct", "load balance (%)"), ("useful_efficiency_pct", "useful eff. (%)"),
    ("filler_pct", "fillers (%)"), ("max_pe_busy_per_input", "slowest PE busy (cycles)"),
    ("engine_seconds", "engine, warm (s)"), ("first_call_seconds", "engine load, first call (s)"),
]


def machine_text(cfg: dict) -> str:
    """The machine in a few words: ``64 PEs, FIFO 8, 800 MHz`` (EIE), else its kind and clock."""
    parts = []
    if "n_pe" in cfg:
        parts.append(f"{cfg['n_pe']} PEs")
    if "fifo_depth" in cfg:
        parts.append(f"FIFO depth {cfg['fifo_depth']}")
    if not parts:
        parts.append(f"the {cfg.get('kind', '?')} machine")
    return ", ".join(parts + [f"{cfg['clock_mhz']:g} MHz"])


def _display(row: dict) -> dict:
    r = dict(row)
    for k in ("load_balance_efficiency", "useful_efficiency"):
        if k in row:
            r[f"{k}_pct"] = 100.0 * row[k]
    return r


def sim_table(doc: dict) -> str:
    """The printed table: per layer and the total, per input vector, with units (columns the
    machine does not report are left out)."""
    rows = [_display(r) for r in doc["layers"]]
    t = doc["total"]
    rows.append({"layer": "total", **{k: t[k] for k in ("inputs", "cycles_per_input", "latency_us_per_input",
                                                        "filler_pct", "engine_seconds",
                                                        "first_call_seconds") if k in t}})
    cols = [(k, h) for k, h in SIM_COLUMNS if any(k in r for r in rows)]
    title = f"Cycle-level simulation ({machine_text(doc['accelerator_config'])}; figures per input)"
    out = format_table(rows, cols, title=title)
    host = doc.get("host_ops") or []
    if host:
        out += "\n\n" + format_table(host, [("node", "node"), ("op", "operation"), ("ops_per_input", "ops/input"),
                                              ("outputs_per_input", "outputs/input")],
                                     title="Not mapped to the accelerator: run on the host between layers "
                                           "(not in the cycles or the energy)")
    return out


def print_simulation(doc: dict) -> None:
    """The table, the accuracy next to the float model's, and whether the run was verified."""
    print(sim_table(doc))
    if "accuracy" in doc:
        a = doc["accuracy"]
        print(f"\naccuracy on {a['n']} inputs: engine (fixed point) {a['engine_fixed_point_error_pct']:.2f}% error, "
              f"float model {a['float_model_error_pct']:.2f}% error; same prediction on "
              f"{a['engine_vs_float_agreement_pct']:.2f}%")
    elif doc.get("inputs_labelled") is False:
        print("\naccuracy not measured: the inputs have no labels (give --inputs FILE.npz with x and y)")
    if doc.get("verified"):
        print("verified: the engine's outputs equal the fixed-point reference bit for bit")


def write_sim_report(out_dir: str | Path, doc: dict) -> list[Path]:
    """Write sim.json and sim_layers.csv (the flat per-layer figures) into ``out_dir``."""
    d = Path(out_dir)
    write_json(d / "sim.json", doc)
    write_csv(d / "sim_layers.csv", [{k: v for k, v in r.items() if not isinstance(v, (dict, list))}
                                     for r in doc["layers"]])
    return [d / "sim.json", d / "sim_layers.csv"]
