"""Energy reports: per-layer energy by component, the SRAM-vs-DRAM scenarios, energy.png.

Everything is per inference (one input vector through the layer), in pJ, us, W.
"""
from __future__ import annotations

from pathlib import Path

from energy_model import COMPONENTS, layer_energy, scenario_energies

from .plots import save_png
from .tables import format_table, write_csv, write_json


def _per_inference(accesses: dict, runs: int) -> dict:
    return {c: {k: v / runs for k, v in rw.items()} for c, rw in accesses.items()}


def energy_doc(run, table, *, leakage: bool = False, dram_form_bits: dict[str, int] | None = None,
               independent_layers: bool = False) -> dict:
    """Per-layer energy (per inference) and the three scenarios for a ``sim.network.SimRun``.

    ``dram_form_bits`` (layer name -> bits) is the compressed form scenario (b) fetches from
    DRAM; for an archive, Deep Compression's storage form after P+Q. With
    ``independent_layers`` (the EIE benchmark layers), each layer is its own workload: the
    scenarios and the on-chip fit are computed per layer (``scenarios_per_layer``) and the
    model-level ``scenarios`` sum them.
    """
    layers, scen_in = [], []
    for sl in run.layers:
        r, cfg = sl.result, sl.config
        acc = _per_inference(r.accesses, r.runs)
        cyc = r.cycles / r.runs
        e = layer_energy(acc, cyc, cfg, table, leakage=leakage)
        row = {"layer": sl.name, "rows": r.n_rows, "cols": r.n_cols, "cycles": cyc, "latency_us": e["latency_us"],
               "total_pJ": e["total_pJ"], "power_W": e["power_W"],
               "frames_per_s": 1e6 / e["latency_us"] if e["latency_us"] else 0.0,
               "frames_per_J": 1e12 / e["total_pJ"] if e["total_pJ"] else 0.0}
        for c, v in e["energy_pJ"].items():
            row[f"{c}_pJ"] = v
        row["leakage_pJ"] = e["leakage_pJ"]
        layers.append(row)
        layers[-1]["_sources"] = e["sources"]
        scen_in.append({"name": sl.name, "n_rows": r.n_rows, "n_cols": r.n_cols, "dense_weights": r.n_rows * r.n_cols,
                        "nnz_weights": sl.nnz_weights, "entries": sl.stored_entries,
                        "max_pe_entries": sl.max_pe_entries,
                        "index_bits": cfg.index_bits, "rel_index_bits": cfg.rel_index_bits,
                        "pointer_bits": cfg.pointer_bits, "act_nnz": r.broadcasts / r.runs,
                        "macs_sparse": (r.entries - r.fillers) / r.runs, "sim_accesses": acc, "cycles": cyc,
                        "b_dram_bits": (dram_form_bits or {}).get(sl.name)})
    cfg0 = run.layers[0].config
    per_layer = None
    if independent_layers:
        per_layer = {d["name"]: scenario_energies([d], sl.config, table, leakage=leakage)
                     for d, sl in zip(scen_in, run.layers)}
        scen = _sum_scenarios(list(per_layer.values()))
    else:
        scen = scenario_energies(scen_in, cfg0, table, leakage=leakage)
    sources = {}
    for l in layers:
        for k, v in l.pop("_sources").items():
            sources.setdefault(k, v)
    tot_pJ = sum(l["total_pJ"] for l in layers)
    tot_us = sum(l["latency_us"] for l in layers)
    total = {"layer": "total", "cycles": sum(l["cycles"] for l in layers), "latency_us": tot_us, "total_pJ": tot_pJ,
             "power_W": tot_pJ * 1e-12 / (tot_us * 1e-6) if tot_us else 0.0,
             "frames_per_s": 1e6 / tot_us if tot_us else 0.0, "frames_per_J": 1e12 / tot_pJ if tot_pJ else 0.0}
    for c in COMPONENTS:
        total[f"{c}_pJ"] = sum(l.get(f"{c}_pJ", 0.0) for l in layers)
    total["leakage_pJ"] = sum(l["leakage_pJ"] for l in layers)
    doc = {"name": run.name, "tech_node_nm": table.node, "energy_table_override": table.override,
           "layers": layers, "total": total, "scenarios": scen, "sources": {**sources, **scen.get("sources", {})}}
    if per_layer is not None:
        doc["scenarios_per_layer"] = {k: {"a_pJ": v["scenarios"]["a"]["total_pJ"], "b_pJ": v["scenarios"]["b"]["total_pJ"],
                                          "c_pJ": v["scenarios"]["c"]["total_pJ"], "a_over_c": v["a_over_c"],
                                          "b_over_c": v["b_over_c"], "fits_on_chip": v["fits_on_chip"]}
                                      for k, v in per_layer.items()}
    return doc


def run_energy_doc(run, table, model=None, *, leakage: bool = False) -> dict:
    """:func:`energy_doc` of a simulated archive (``model``, a CompressedModel) or benchmark layers (None).

    For an archive, scenario (b) fetches Deep Compression's P+Q storage form of each layer;
    benchmark layers are independent workloads that fetch their EIE streams.
    ``dcsim energy`` / ``dcsim report`` and the design-space sweeps share this.
    """
    form = None
    if model is not None:
        from compress.pipeline import storage_report
        form = {l["layer"]: int(l["storage_bits_pq"]) for l in storage_report(model, eie=False)["layers"]}
    return energy_doc(run, table, leakage=leakage, dram_form_bits=form, independent_layers=model is None)


def _sum_scenarios(results: list[dict]) -> dict:
    """Independent workloads side by side: totals add, the ratios are of the totals."""
    out = {"scenarios": {}, "fits_on_chip": all(r["fits_on_chip"] for r in results),
           "sources": results[0].get("sources", {})}
    for k in ("a", "b", "c"):
        out["scenarios"][k] = {"total_pJ": sum(r["scenarios"][k]["total_pJ"] for r in results),
                               "dram_bits": sum(r["scenarios"][k].get("dram_bits", 0) for r in results)}
    c = out["scenarios"]["c"]["total_pJ"]
    out["a_over_c"] = out["scenarios"]["a"]["total_pJ"] / c if c else None
    out["b_over_c"] = out["scenarios"]["b"]["total_pJ"] / c if c else None
    return out


ENERGY_COLUMNS = [("layer", "layer"), ("cycles", "cycles"), ("latency_us", "latency (us)"),
                  ("total_pJ", "energy (pJ)"), ("power_W", "power (W)"), ("frames_per_s", "frames/s"),
                  ("frames_per_J", "frames/J")]


def energy_tables(doc: dict) -> str:
    """Printed summary: per-layer energy, the component breakdown and the scenarios."""
    rows = doc["layers"] + [doc["total"]]
    out = [format_table(rows, ENERGY_COLUMNS, title=f"Energy per inference ({doc['tech_node_nm']} nm)")]
    comp = [("layer", "layer")] + [(f"{c}_pJ", f"{c} (pJ)") for c in COMPONENTS if doc["total"].get(f"{c}_pJ")]
    out += ["", format_table(rows, comp, title="Energy by component (pJ per inference)")]
    s = doc["scenarios"]
    srows = [{"scenario": name, "energy_pJ": v["total_pJ"], "dram_bits": v.get("dram_bits", 0)}
             for name, v in s["scenarios"].items()]
    out += ["", format_table(srows, [("scenario", "scenario"), ("energy_pJ", "energy (pJ)"),
                                     ("dram_bits", "DRAM bits")],
                             title="Where the weights live (per inference): (a) dense fp32 from DRAM, "
                                   "(b) compressed from DRAM, (c) compressed in on-chip SRAM (EIE)")]
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
    """Stacked bars: energy per layer (pJ per inference), one segment per component."""
    from matplotlib.figure import Figure

    layers = doc["layers"]
    comps = [c for c in COMPONENTS if any(l.get(f"{c}_pJ", 0) for l in layers)]
    fig = Figure(figsize=(7, 4.2))
    ax = fig.add_subplot(1, 1, 1)
    bottom = [0.0] * len(layers)
    x = list(range(len(layers)))
    for c in comps:
        vals = [l.get(f"{c}_pJ", 0.0) for l in layers]
        ax.bar(x, vals, bottom=bottom, label=c)
        bottom = [b + v for b, v in zip(bottom, vals)]
    ax.set_xticks(x, [l["layer"] for l in layers])
    ax.set_xlabel("layer")
    ax.set_ylabel("energy per inference (pJ)")
    ax.set_title(f"{doc['name']}: energy by layer and component ({doc['tech_node_nm']} nm)")
    ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    if path is not None:
        save_png(fig, path)
    return fig


def write_energy_report(out_dir, doc: dict) -> list[Path]:
    """energy.json, energy_layers.csv and energy.png into ``out_dir``."""
    d = Path(out_dir)
    write_json(d / "energy.json", doc)
    write_csv(d / "energy_layers.csv", doc["layers"])
    plot_energy_breakdown(doc, d / "energy.png")
    return [d / "energy.json", d / "energy_layers.csv", d / "energy.png"]
