"""`dcsim report`: compression, simulation and energy of one archive in one document."""
from __future__ import annotations

from pathlib import Path


from .compression import accuracy_rows
from .energy import module_rows, plot_energy_breakdown
from .simulation import machine_text
from .tables import markdown_table, write_json


def report_layers(compression: dict, simulation: dict, energy: dict) -> list[dict]:
    """One row per layer (and the total): storage, cycles, latency, energy by component, rates."""
    comp = {l["layer"]: l for l in compression["layers"]}
    sim = {l["layer"]: l for l in simulation["layers"]}
    rows = []
    for e in energy["layers"] + [energy["total"]]:
        name = e["layer"]
        c = comp.get(name, compression["total"] if name == "total" else {})
        s = sim.get(name, {})
        row = {"layer": name,
               "vectors_per_input": s.get("vectors_per_input"),
               "weights_kept_pct": c.get("weights_kept_pct"),
               "compression_rate_pqh": c.get("compression_rate_pqh", c.get("compression_rate")),
               "cycles": e["cycles"], "latency_us": e["latency_us"],
               "load_balance_efficiency_pct": (100.0 * s["load_balance_efficiency"]) if s else None,
               "energy_pJ": e["total_pJ"]}
        for comp_name in energy["components"]:
            row[f"energy_{comp_name}_pJ"] = e.get(f"{comp_name}_pJ", 0.0)
        row.update(frames_per_s=e["frames_per_s"], frames_per_J=e["frames_per_J"], power_W=e["power_W"],
                   frames_per_s_per_mm2=e.get("frames_per_s_per_mm2"))
        rows.append(row)
    return rows


def _engine_accuracy(simulation: dict) -> str:
    a = simulation.get("accuracy")
    if a:
        return (f"Fixed-point engine on {a['n']:,} labelled inputs: {100 - a['engine_fixed_point_error_pct']:.2f}% "
                f"accuracy (float model {100 - a['float_model_error_pct']:.2f}%; same prediction on "
                f"{a['engine_vs_float_agreement_pct']:.2f}%).")
    return "Fixed-point engine accuracy not measured: the inputs have no labels."


def write_report(out_dir, *, archive: str, compression: dict, simulation: dict, energy: dict, accel,
                 wall_seconds: float) -> list[Path]:
    """report.md, report.json and report_energy.png into ``out_dir``."""
    d = Path(out_dir)
    rows = report_layers(compression, simulation, energy)
    png = d / "report_energy.png"
    plot_energy_breakdown(energy, png)
    doc = {"archive": archive, "layers": rows, "compression": compression, "simulation": simulation,
           "energy": energy, "accelerator_config": accel.to_dict(), "wall_seconds": wall_seconds,
           "plots": [png.name]}
    write_json(d / "report.json", doc)

    t = compression["total"]
    s = energy["scenarios"]
    ratio = lambda v: "n/a" if v is None else f"{v:.1f}x"  # noqa: E731
    comp_cols = [c for c in energy["components"] if any(r.get(f"energy_{c}_pJ") for r in rows)]
    lines = [
        f"# dcsim report: {archive}",
        "",
        f"Machine: {machine_text(accel.to_dict())}, {accel.tech_node} nm; "
        f"inputs: {simulation.get('inputs', '')}. All figures per inference.",
        "",
        "## Compression",
        "",
        f"{t['compression_rate_p']:.1f}x (P), {t['compression_rate_pq']:.1f}x (P+Q), {t['compression_rate']:.1f}x "
        f"(P+Q+H) against 32-bit dense; " + (f"test error {t['test_error_pct']:.2f}%" if t.get("test_error_pct")
                                             is not None else "accuracy not measured") + ".",
        "",
        markdown_table(accuracy_rows(compression), [("stage", "stage"), ("rate", "rate (x)"),
                                                    ("accuracy", "accuracy (%)")], none="not measured"),
        "",
        _engine_accuracy(simulation),
        "",
        "## Per layer",
        "",
        markdown_table(rows, [("layer", "layer"), ("vectors_per_input", "products/input"),
                             ("weights_kept_pct", "kept (%)"),
                             ("compression_rate_pqh", "rate P+Q+H (x)"), ("cycles", "cycles"),
                             ("latency_us", "latency_us"), ("load_balance_efficiency_pct", "load balance (%)"),
                             ("energy_pJ", "energy_pJ"), ("frames_per_s", "frames_per_s"),
                             ("frames_per_J", "frames_per_J"), ("power_W", "power_W")]
                       + ([("frames_per_s_per_mm2", "frames/s/mm2")] if energy.get("area") else [])),
        "",
        "Energy on chip: the accesses, plus the clock network, control" +
        (" and leakage" if energy.get("leakage") else " (leakage left out: --no-leakage)") +
        (f"; the chip is {energy['area']['chip_mm2']:.3g} mm2 ({energy['area']['pe_total_um2'] / 1e6:.3g} mm2 "
         f"per PE, {100 * energy['area']['pe_by_kind_um2'].get('memory', 0.0) / energy['area']['pe_total_um2']:.0f}% "
         f"of it SRAM)" if energy.get("area") else "") + ". docs/energy.md has the model.",
        "",
        "## Energy by component (pJ)",
        "",
        markdown_table(rows, [("layer", "layer")] + [(f"energy_{c}_pJ", c) for c in comp_cols]),
        "",
        f"![energy per layer and component]({png.name})",
        "",
    ]
    if energy.get("modules"):
        mrows = [r for r in module_rows(energy) if "pJ" in r]
        lines += ["## Energy by module (all layers)", "",
                  markdown_table(mrows, [("part", "module"), ("pJ", "energy (pJ)"), ("share_pct", "share (%)"),
                                         ("shared_pct", "with its clock, control, leakage (%)")], none=""),
                  "", "EIE's modules (its per-PE power table); the clock, control and leakage apart, then shared "
                  "out to the modules by their flip-flops, gates and SRAM bits.", ""]
    host = simulation.get("host_ops") or []
    if host:
        lines += [
            "## Not mapped to the accelerator",
            "",
            "These operations run on the host between layers; they are in neither the cycles nor the energy above.",
            "",
            markdown_table(host, [("node", "node"), ("op", "operation"), ("ops_per_input", "ops/input"),
                                  ("outputs_per_input", "outputs/input")]),
            "",
        ]
    if s:
        lines += [
            "## Where the weights live",
            "",
            markdown_table([{"scenario": k, "energy_pJ": v["total_pJ"], "dram_bits": v.get("dram_bits", 0)}
                            for k, v in s["scenarios"].items()],
                           [("scenario", "scenario"), ("energy_pJ", "energy_pJ"), ("dram_bits", "DRAM bits")]),
            "",
            f"Access energies only (no clock, control or leakage in any scenario): "
            f"(a) dense fp32 weights from DRAM, (b) compressed weights and indices from DRAM, (c) compressed and "
            f"resident in on-chip SRAM (EIE). On-chip gain: (a)/(c) = {ratio(s['a_over_c'])}, "
            f"(b)/(c) = {ratio(s['b_over_c'])}; the model "
            f"{'fits' if s['fits_on_chip'] else 'does not fit (the rest is charged as DRAM traffic)'} on chip. "
            "Definitions and sources: docs/energy.md.",
            "",
        ]
    from arch.fileio import atomic_write_text

    atomic_write_text(d / "report.md", "\n".join(lines))
    return [d / "report.md", d / "report.json", png]
