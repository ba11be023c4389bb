"""Energy reports: per-layer energy by component, module and kind of circuit, the area, the
scenarios of where the weights live, energy.png. They format ``energy.json`` (``EnergyResult.to_doc``, energy_model/); nothing here
computes an energy.

Everything is per inference (one input vector through the layer), in pJ, us, W.
"""
from __future__ import annotations

from pathlib import Path

from .plotting import component_color, finish_figure, fit_legend, new_figure, set_title
from .tables import format_table, write_csv, write_json


ENERGY_COLUMNS = [("layer", "layer"), ("cycles", "cycles"), ("latency_us", "latency (us)"),
                  ("total_pJ", "energy (pJ)"), ("power_W", "power (W)"), ("frames_per_s", "frames/s"),
                  ("frames_per_J", "frames/J"), ("frames_per_s_per_mm2", "frames/s/mm2")]


def _share_rows(doc: dict, key: str, names: list[str]) -> list[dict]:
    """One row per name: pJ per inference of the whole run and its share of the total."""
    tot = doc[key]["total"]
    whole = sum(tot.values()) or 1.0
    return [{"part": n, "pJ": tot.get(n, 0.0), "share_pct": 100.0 * tot.get(n, 0.0) / whole} for n in names]


def module_rows(doc: dict) -> list[dict]:
    """The whole run's energy by module (``part``, ``pJ``, ``share_pct``), the per-cycle items apart,
    beside each module's energy with its share of them (``shared_pJ``, ``shared_pct``)."""
    rows = _share_rows(doc, "by_module_pJ", doc["modules"])
    shared = doc.get("by_module_shared_pJ", {}).get("total", {})
    whole = sum(shared.values()) or 1.0
    for r in rows:
        if r["part"] in shared:
            r["shared_pJ"], r["shared_pct"] = shared[r["part"]], 100.0 * shared[r["part"]] / whole
    return rows + [{"part": m, "shared_pJ": v, "shared_pct": 100.0 * v / whole} for m, v in shared.items()
                   if m not in doc["modules"]]


def area_table(area: dict) -> str:
    """The machine's area: one PE by module and by kind, and the chip."""
    rows = [{"part": m, "um2": v, "share_pct": 100.0 * v / area["pe_total_um2"]} for m, v in area["pe_um2"].items()]
    rows.append({"part": "one PE", "um2": area["pe_total_um2"], "share_pct": 100.0})
    krows = [{"part": k, "um2": v, "share_pct": 100.0 * v / area["pe_total_um2"]}
             for k, v in area["pe_by_kind_um2"].items()]
    crows = [{"part": k, "mm2": v / 1e6} for k, v in area["chip_um2"].items()]
    cols = [("part", "part"), ("um2", "area (um2)"), ("share_pct", "share (%)")]
    return "\n".join([format_table(rows, cols, title=f"Area of one PE by module ({area['node_nm']} nm)"), "",
                      format_table(krows, cols, title="Area of one PE by kind"), "",
                      format_table(crows, [("part", "part"), ("mm2", "area (mm2)")],
                                   title=f"Area of the chip: {area['chip_mm2']:.3g} mm2")])


def energy_tables(doc: dict) -> str:
    """Printed summary: per-layer energy, the breakdowns by component, by module and by kind, the
    area, and the scenarios."""
    rows = doc["layers"] + [doc["total"]]
    leak = "leakage included" if doc.get("leakage") else "leakage left out (--no-leakage)"
    out = [format_table(rows, ENERGY_COLUMNS, title=f"Energy per inference ({doc['tech_node_nm']} nm; clock network "
                                                    f"and control included, {leak})")]
    comp = [("layer", "layer")] + [(f"{c}_pJ", f"{c} (pJ)") for c in doc["components"] if doc["total"].get(f"{c}_pJ")]
    out += ["", format_table(rows, comp, title="Energy by component (pJ per inference)")]
    share = [("part", "part"), ("pJ", "energy (pJ)"), ("share_pct", "share (%)")]
    if doc.get("modules"):
        out += ["", format_table(module_rows(doc), share + [("shared_pJ", "with its clock, control, leakage (pJ)"),
                                                 ("shared_pct", "share (%)")],
                                 title="Energy by module, all layers (EIE's per-PE power table's modules; the "
                                       "per-cycle items apart, then shared out to the modules)")]
        kinds = list(doc["by_kind_pJ"]["total"])
        out += ["", format_table(_share_rows(doc, "by_kind_pJ", kinds), share,
                                 title="Energy by kind of circuit, all layers")]
    if doc.get("area"):
        out += ["", area_table(doc["area"])]
    s = doc["scenarios"]
    if not s:
        return "\n".join(out)
    srows = [{"scenario": name, "energy_pJ": v["total_pJ"], "dram_bits": v.get("dram_bits", 0)}
             for name, v in s["scenarios"].items()]
    out += ["", format_table(srows, [("scenario", "scenario"), ("energy_pJ", "energy (pJ)"),
                                     ("dram_bits", "DRAM bits")],
                             title="Where the weights live (access energy per inference, no clock, control or "
                                   "leakage): (a) dense fp32 from DRAM, (b) compressed from DRAM, (c) compressed in "
                                   "on-chip SRAM (EIE)")]
    ratio = lambda v: "n/a" if v is None else f"{v:.1f}x"  # noqa: E731
    if doc.get("scenarios_per_layer"):
        prow = [{"layer": k, **v} for k, v in doc["scenarios_per_layer"].items()]
        out += ["", format_table(prow, [("layer", "layer"), ("a_pJ", "(a) pJ"), ("b_pJ", "(b) pJ"), ("c_pJ", "(c) pJ"),
                                        ("a_over_c", "(a)/(c)"), ("b_over_c", "(b)/(c)"),
                                        ("fits_on_chip", "fits on chip")],
                                 title="Scenarios per layer (each layer its own workload)")]
    out.append(f"on-chip gain: (a)/(c) = {ratio(s['a_over_c'])}, (b)/(c) = {ratio(s['b_over_c'])}; "
               f"fits on chip: {'yes' if s['fits_on_chip'] else 'no (the rest is charged as DRAM traffic)'}")
    return "\n".join(out)


def plot_energy_breakdown(doc: dict, path=None):
    """Stacked bars: energy per layer (pJ per inference), one segment per component (each in
    its fixed colour), the title wrapped to the axes."""
    layers = doc["layers"]
    comps = [c for c in doc["components"] if any(l.get(f"{c}_pJ", 0) for l in layers)]
    fig, ax = new_figure((7.0, 4.2))
    bottom = [0.0] * len(layers)
    x = list(range(len(layers)))
    for c in comps:
        vals = [l.get(f"{c}_pJ", 0.0) for l in layers]
        ax.bar(x, vals, bottom=bottom, label=c, color=component_color(c))
        bottom = [b + v for b, v in zip(bottom, vals)]
    ax.set_xticks(x, [l["layer"] for l in layers])
    ax.set_xlabel("layer")
    ax.set_ylabel("energy per inference (pJ)")
    set_title(ax, f"{doc['name']}: energy by layer and component ({doc['tech_node_nm']} nm)")
    fit_legend(ax)
    return finish_figure(fig, path)


def write_energy_report(out_dir, doc: dict) -> list[Path]:
    """energy.json, energy_layers.csv and energy.png into ``out_dir``."""
    d = Path(out_dir)
    write_json(d / "energy.json", doc)
    write_csv(d / "energy_layers.csv", doc["layers"])
    plot_energy_breakdown(doc, d / "energy.png")
    return [d / "energy.json", d / "energy_layers.csv", d / "energy.png"]
