"""The simulator's per-layer table, sim.json and sim_layers.csv."""
from __future__ import annotations

from pathlib import Path

from .tables import format_table, write_csv, write_json

SIM_COLUMNS = [
    ("layer", "layer"), ("rows", "out"), ("cols", "in"), ("n_pe", "PEs"), ("fifo_depth", "FIFO"),
    ("inputs", "inputs"), ("cycles_per_input", "cycles/input"), ("latency_us_per_input", "latency (us)"),
    ("load_balance_efficiency_pct", "load balance (%)"), ("useful_efficiency_pct", "useful eff. (%)"),
    ("filler_pct", "fillers (%)"), ("max_pe_busy_per_input", "slowest PE busy (cycles)"),
    ("engine_seconds", "engine (s)"),
]


def _display(row: dict) -> dict:
    r = dict(row)
    r["load_balance_efficiency_pct"] = 100.0 * row.get("load_balance_efficiency", 0.0)
    r["useful_efficiency_pct"] = 100.0 * row.get("useful_efficiency", 0.0)
    runs = max(1, row.get("inputs", 1))
    if "max_pe_busy_cycles" in row:
        r["max_pe_busy_per_input"] = row["max_pe_busy_cycles"] / runs
    return r


def sim_table(doc: dict) -> str:
    """The printed table: per layer and the total, per input vector, with units."""
    rows = [_display(r) for r in doc["layers"]]
    t = doc["total"]
    rows.append({"layer": "total", "inputs": t["inputs"], "cycles_per_input": t["cycles_per_input"],
                 "latency_us_per_input": t["latency_us_per_input"], "filler_pct": t["filler_pct"],
                 "engine_seconds": t["engine_seconds"]})
    cfg = doc["accelerator_config"]
    title = (f"Cycle-level simulation ({cfg['n_pe']} PEs, FIFO depth {cfg['fifo_depth']}, "
             f"{cfg['clock_mhz']:g} MHz; figures per input vector)")
    return format_table(rows, SIM_COLUMNS, title=title)


def write_sim_report(out_dir: str | Path, doc: dict) -> list[Path]:
    """Write sim.json and sim_layers.csv into ``out_dir``."""
    d = Path(out_dir)
    write_json(d / "sim.json", doc)
    write_csv(d / "sim_layers.csv", doc["layers"])
    return [d / "sim.json", d / "sim_layers.csv"]
