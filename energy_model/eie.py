"""EIE's energies: the energy of one access of each of its components, and where its weights live.

- :func:`action_energies`: the energy of ONE access or operation of each EIE component
  (``arch.config.ACCESS_COMPONENTS``) on a given machine (``AcceleratorConfig``), from the
  per-action table (:mod:`energy_model.table`) and the SRAM model (:mod:`energy_model.sram`).
  Every value carries its unit and source.
- :func:`scenario_energies`: one model per inference in three scenarios: (a) dense fp32
  weights from DRAM, (b) the pruned and quantized weights plus indices from DRAM, (c) EIE
  with the compressed model resident in on-chip SRAM, charged for the DRAM traffic of
  whatever does not fit; :func:`run_scenarios` feeds it a simulated run.

Units: energies in pJ (1e-12 J), latency in us, power in W (pJ/us = 1e-6 W).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from arch.config import ACCESS_COMPONENTS, STORAGE_COMPONENTS, AcceleratorConfig

from .model import check_node, layer_energy
from .sram import KIB, sram_access
from .table import EnergyEntry, EnergyTable

#: The activation SRAM of scenarios (a) and (b): a 32 KiB SRAM, the size of EIE's Table I anchor.
SCENARIO_ACT_SRAM_BYTES = 32 * KIB


# ---------------------------------------------------------------------------
# per-action energies
# ---------------------------------------------------------------------------

def _int_op(table: EnergyTable, op: str, bits: float, what: str) -> EnergyEntry:
    """An integer add (``op = "add"``) or multiply (``"mult"``) of effective width ``bits``.

    Piecewise log-log interpolation between the table's 8-, 16- and 32-bit entries
    (extrapolated with the nearest segment's slope outside 8..32 bits).
    """
    pts = [(8, table[f"int8_{op}"]), (16, table[f"int16_{op}"]), (32, table[f"int32_{op}"])]
    for w, e in pts:
        if abs(bits - w) < 1e-9:
            return EnergyEntry(e.pJ, f"per {what}", f"int{w}_{op}: {e.source}")
    (w0, e0), (w1, e1) = (pts[0], pts[1]) if bits < 16 else (pts[1], pts[2])
    slope = math.log(e1.pJ / e0.pJ) / math.log(w1 / w0)
    pj = e0.pJ * (bits / w0) ** slope
    src = (f"dcsim width rule: log-log interpolation between int{w0}_{op} ({e0.pJ:.4g} pJ) and int{w1}_{op} "
           f"({e1.pJ:.4g} pJ), exponent {slope:.3f}, at {bits:.3g} bits; int{w0}_{op}: {e0.source}; "
           f"int{w1}_{op}: {e1.source}")
    return EnergyEntry(pj, f"per {what}", src)


def fifo_entry_bits(cfg: AcceleratorConfig) -> int:
    """Bits of one FIFO entry / broadcast: the activation plus its column index within a batch.

    The column index is ``ceil(log2(n_pe * act_regs_per_pe))`` bits (a batch holds that many
    columns; the PE uses it to address its pointers). dcsim simplification.
    """
    return cfg.act_bits + max(1, math.ceil(math.log2(cfg.cols_per_batch)))


def lnzd_levels(cfg: AcceleratorConfig) -> int:
    """Levels of the leading-nonzero-detection tree: one node per 4 PEs, 4 inputs per node."""
    return max(1, math.ceil(math.log(cfg.n_pe, 4) - 1e-12))


def action_energies(cfg: AcceleratorConfig, table: EnergyTable) -> dict[str, EnergyEntry]:
    """The energy of one access or operation of every simulator component on machine ``cfg``.

    Keys: every component of ``arch.config.ACCESS_COMPONENTS`` (a read, or one operation), plus
    ``<component>_write`` for the storage components, plus ``dram`` (per bit).

    - ``spmat_sram``: one ``sram_word_bits`` word of the ``spmat_sram_bytes`` SRAM.
    - ``ptr_sram``: one ``pointer_bits`` pointer of one bank: the pointers sit in two
      single-ported banks (even and odd columns, docs/microarchitecture.md), each ``ptr_sram_bytes / 2``,
      and the simulator counts 2 reads per pop, one per bank.
    - ``act_regs``: one ``acc_bits`` access of a register file of ``act_regs_per_pe``
      ``acc_bits``-wide entries. Most of its accesses are the accumulator read and
      write of every non-filler entry, which are ``acc_bits`` wide; the LNZD's reads of
      source activations and the write-backs (``act_bits``) are charged at the same
      width, a slight overestimate.
    - ``act_sram``: one ``act_bits`` activation of the ``act_sram_bytes`` SRAM.
    - ``codebook``: one ``weight_bits`` entry of a ``2**index_bits``-entry table.
    - ``fifo``: one entry of a ``fifo_depth``-deep FIFO of :func:`fifo_entry_bits` bits
      (activation plus column index), modelled as a register file.
    - ``mul``: an ``act_bits x weight_bits`` integer multiply (effective width
      ``sqrt(act_bits * weight_bits)``, :func:`_int_op`); ``add``: an ``acc_bits`` add.
    - ``broadcast``: one activation broadcast: ``bits x n_pe x broadcast_wire_per_bit_pe``
      on the wires plus ``bits x levels x lnzd_per_bit_level`` in the LNZD tree.
    """
    check_node(cfg, table)
    out: dict[str, EnergyEntry] = {}

    def store(name: str, cap: float, width: int, what: str) -> None:
        out[name] = sram_access(cap, width, table, what=what)
        out[f"{name}_write"] = sram_access(cap, width, table, write=True, what=what)

    store("spmat_sram", cfg.spmat_sram_bytes, cfg.sram_word_bits, "sparse-matrix SRAM")
    store("ptr_sram", cfg.ptr_sram_bytes / 2, cfg.pointer_bits, "pointer SRAM bank (half of ptr_sram_bytes)")
    store("act_regs", cfg.act_regs_per_pe * cfg.acc_bits / 8, cfg.acc_bits,
          f"activation/accumulator register file ({cfg.act_regs_per_pe} x {cfg.acc_bits} bits)")
    if cfg.act_sram_bytes * 8 >= cfg.act_bits:
        store("act_sram", cfg.act_sram_bytes, cfg.act_bits, "activation SRAM")
    else:
        for k in ("act_sram", "act_sram_write"):
            out[k] = EnergyEntry(0.0, f"per {cfg.act_bits}-bit access",
                                 f"the machine has no activation SRAM (act_sram_bytes = {cfg.act_sram_bytes})")
    store("codebook", cfg.codebook_size * cfg.weight_bits / 8, cfg.weight_bits,
          f"codebook ({cfg.codebook_size} x {cfg.weight_bits} bits)")
    fb = fifo_entry_bits(cfg)
    store("fifo", cfg.fifo_depth * fb / 8, fb, f"activation FIFO ({cfg.fifo_depth} x {fb} bits)")
    out["mul"] = _int_op(table, "mult", math.sqrt(cfg.act_bits * cfg.weight_bits),
                         f"{cfg.act_bits} x {cfg.weight_bits}-bit integer multiply")
    out["add"] = _int_op(table, "add", cfg.acc_bits, f"{cfg.acc_bits}-bit integer add")
    wire, lnzd = table["broadcast_wire_per_bit_pe"], table["lnzd_per_bit_level"]
    lv = lnzd_levels(cfg)
    out["broadcast"] = EnergyEntry(
        fb * cfg.n_pe * wire.pJ + fb * lv * lnzd.pJ,
        f"per broadcast of one {fb}-bit (activation, column) pair to {cfg.n_pe} PEs",
        f"{fb} bits x {cfg.n_pe} PEs x broadcast_wire_per_bit_pe ({wire.pJ:.4g} pJ: {wire.source}) + "
        f"{fb} bits x {lv} LNZD levels x lnzd_per_bit_level ({lnzd.pJ:.4g} pJ: {lnzd.source})")
    d = table["dram_per_bit"]
    out["dram"] = EnergyEntry(d.pJ, d.unit, f"dram_per_bit: {d.source}")
    return out


# ---------------------------------------------------------------------------
# scenarios (a), (b), (c)
# ---------------------------------------------------------------------------

LAYER_KEYS = ("n_rows", "n_cols", "dense_weights", "nnz_weights", "entries", "index_bits", "rel_index_bits",
              "pointer_bits", "act_nnz", "macs_sparse", "sim_accesses", "cycles")

SCENARIOS = {
    "a": "dense fp32 weights fetched from DRAM every inference and computed densely "
         "(fp32 multiply + add per weight, 32 DRAM bits per weight, activations in a 32 KiB SRAM)",
    "b": "pruned and quantized weights plus indices and pointers fetched from DRAM every inference, "
         "computed sparsely for the nonzero activations on the accelerator's datapath "
         "(codebook lookup, multiply, accumulate), activations in a 32 KiB SRAM",
    "c": "EIE: the compressed model resident in on-chip SRAM; the simulator's access counts x the "
         "action energies, plus DRAM for whatever does not fit the per-PE SRAMs",
}

SPILL_RULE = (
    "Layers are placed in each PE's SRAMs in model order. A PE's sparse-matrix demand is, per layer, "
    "ceil(its entries / entries per word) words (each layer's stream starts on a word); its pointer demand "
    "is, per layer, passes x (n_cols + 1) pointers of pointer_bits. Whatever a PE's demand exceeds "
    "spmat_sram_bytes (resp. ptr_sram_bytes) by does not fit: those bits are read from DRAM every "
    "inference (dram_per_bit each; the SRAM accesses themselves are already in the simulator's counts). "
    "A layer's per-PE entries come from 'pe_entries' if given, else every PE is taken to be as full as "
    "'max_pe_entries' if given (an upper bound), else the entries are split evenly over the PEs.")


def _num(layer: Mapping, key: str, where: str, integer: bool = True) -> float:
    v = layer.get(key)
    ok = not isinstance(v, bool) and isinstance(v, (int, float, np.integer, np.floating)) \
        and math.isfinite(float(v)) and v >= 0
    if ok and integer:
        ok = float(v).is_integer()
    if not ok:
        kind = "a non-negative integer" if integer else "a non-negative number"
        raise ValueError(f"{where}: {key} = {v!r} is not allowed; use {kind}")
    return int(v) if integer else float(v)


def _pe_entries(layer: Mapping, entries: int, n_pe: int, where: str) -> np.ndarray:
    if "pe_entries" in layer:
        pe = np.asarray(layer["pe_entries"])
        if pe.shape != (n_pe,) or not np.issubdtype(pe.dtype, np.integer) or np.any(pe < 0):
            raise ValueError(f"{where}: pe_entries must be {n_pe} non-negative integers (one per PE)")
        return pe.astype(np.int64)
    if "max_pe_entries" in layer:
        return np.full(n_pe, _num(layer, "max_pe_entries", where), dtype=np.int64)
    return entries // n_pe + (np.arange(n_pe) < entries % n_pe).astype(np.int64)


def _ratio(x: float, y: float) -> float | None:
    return x / y if y > 0 else None


def scenario_energies(layers: list[Mapping[str, Any]], cfg: AcceleratorConfig, table: EnergyTable) -> dict:
    """Energy per inference of one model in scenarios (a), (b) and (c), and the ratios a/c, b/c.

    ``layers``: one plain dict per layer, in model order, with ``n_rows``, ``n_cols`` (bias
    column included), ``dense_weights`` (n_rows x n_cols), ``nnz_weights``, ``entries``
    (EIE entries, fillers included, all PEs and passes), ``index_bits``, ``rel_index_bits``,
    ``pointer_bits``, ``act_nnz`` (mean nonzero input activations per inference),
    ``macs_sparse`` (non-filler entries fetched per inference), ``sim_accesses`` (the
    simulator's per-inference access counts) and ``cycles`` (per inference); optionally
    ``name``, ``pe_entries`` (each PE's entries) or ``max_pe_entries`` (the fullest PE's), and
    ``b_dram_bits``: the bits scenario (b) fetches from DRAM when the model has a compressed form
    of its own (for an archive: Deep Compression's storage form after pruning and quantization,
    P+Q); without it, (b) fetches the EIE streams with their per-PE pointers and codebook.

    Scenario definitions: :data:`SCENARIOS`; what does not fit on chip: :data:`SPILL_RULE`.
    Returns ``scenarios`` (per scenario ``total_pJ``, ``energy_pJ`` by component,
    ``dram_bits``), ``layers`` (the same per layer, with ``fits_on_chip`` and the ratios),
    ``fits_on_chip``, ``spill``, ``a_over_c``, ``b_over_c`` (None if c is 0),
    ``latency_us`` and ``power_W`` of (c), and ``sources``.
    """
    check_node(cfg, table)
    if not isinstance(layers, (list, tuple)) or not layers:
        raise ValueError("layers must be a non-empty list of per-layer dicts")
    n_pe = cfg.n_pe
    dram = table["dram_per_bit"]
    fp_mul, fp_add = table["fp32_mult"], table["fp32_add"]
    sram32 = sram_access(SCENARIO_ACT_SRAM_BYTES, 32, table, what="activation SRAM")
    sram32w = sram_access(SCENARIO_ACT_SRAM_BYTES, 32, table, write=True, what="activation SRAM")
    spmat_cap_bits = cfg.spmat_sram_bytes * 8
    ptr_cap_bits = cfg.ptr_sram_bytes * 8
    used_spmat = np.zeros(n_pe, dtype=np.int64)
    used_ptr = np.zeros(n_pe, dtype=np.int64)
    out_layers = []
    sources: dict[str, str] = {
        "dram": f"{dram.pJ:.4g} pJ {dram.unit}: {dram.source}",
        "fp32_mult": fp_mul.source, "fp32_add": fp_add.source,
        "act_sram_32b_32KiB": sram32.source,
    }
    for i, layer in enumerate(layers):
        name = str(layer.get("name", f"layer{i}")) if isinstance(layer, Mapping) else f"layer{i}"
        where = f"layer {name}"
        if not isinstance(layer, Mapping):
            raise ValueError(f"{where}: must be a dict with keys {', '.join(LAYER_KEYS)}")
        missing = [k for k in LAYER_KEYS if k not in layer]
        if missing:
            raise ValueError(f"{where}: missing {', '.join(missing)}; a layer needs {', '.join(LAYER_KEYS)}")
        n_rows, n_cols = _num(layer, "n_rows", where), _num(layer, "n_cols", where)
        dense, entries = _num(layer, "dense_weights", where), _num(layer, "entries", where)
        ib, rb, pb = (_num(layer, k, where) for k in ("index_bits", "rel_index_bits", "pointer_bits"))
        act_nnz = _num(layer, "act_nnz", where, integer=False)
        macs = _num(layer, "macs_sparse", where, integer=False)
        cycles = _num(layer, "cycles", where, integer=False)
        lcfg = cfg.for_layer(ib, rb)
        ae = action_energies(lcfg, table)
        n_passes = max(1, math.ceil(n_rows / lcfg.rows_per_pass))
        pointers = n_passes * n_pe * (n_cols + 1)

        vec = float(layer.get("vectors", 1))   # matrix-vector products per inference (a conv layer's positions)
        # (a) dense fp32 from DRAM, fetched once per inference and used for every product
        a_bits = dense * 32
        a = {"dram": a_bits * dram.pJ, "mul": dense * vec * fp_mul.pJ, "add": dense * vec * fp_add.pJ,
             "act_sram": (n_cols * sram32.pJ + n_rows * sram32w.pJ) * vec}
        # (b) compressed from DRAM, sparse compute on the same datapath as (c)
        if layer.get("b_dram_bits") is not None:   # the model's own compressed form (e.g. Deep Compression's)
            b_bits = _num(layer, "b_dram_bits", where)
        else:
            b_bits = entries * (ib + rb) + pointers * pb + lcfg.codebook_size * lcfg.weight_bits
        act_b = sram_access(SCENARIO_ACT_SRAM_BYTES, lcfg.act_bits, table, what="activation SRAM")
        act_bw = sram_access(SCENARIO_ACT_SRAM_BYTES, lcfg.act_bits, table, write=True, what="activation SRAM")
        b = {"dram": b_bits * dram.pJ, "codebook": macs * ae["codebook"].pJ, "mul": macs * ae["mul"].pJ,
             "add": macs * ae["add"].pJ, "act_sram": act_nnz * act_b.pJ + n_rows * vec * act_bw.pJ}
        # (c) EIE from on-chip SRAM, plus DRAM for what does not fit
        le = layer_energy(layer["sim_accesses"], cycles, lcfg, table, EIE_PRICING, per_cycle=False)
        pe_e = _pe_entries(layer, entries, n_pe, where)
        need_spmat = -(-pe_e // lcfg.entries_per_word) * lcfg.sram_word_bits
        need_ptr = np.full(n_pe, n_passes * (n_cols + 1) * pb, dtype=np.int64)
        spill_spmat = np.clip(used_spmat + need_spmat - spmat_cap_bits, 0, need_spmat)
        spill_ptr = np.clip(used_ptr + need_ptr - ptr_cap_bits, 0, need_ptr)
        used_spmat += need_spmat
        used_ptr += need_ptr
        spill_bits = int(spill_spmat.sum() + spill_ptr.sum())
        c = dict(le["energy_pJ"])
        c["dram"] = spill_bits * dram.pJ
        ta, tb, tc = sum(a.values()), sum(b.values()), sum(c.values())
        out_layers.append({
            "layer": name, "n_rows": n_rows, "n_cols": n_cols, "passes": n_passes,
            "a_pJ": ta, "b_pJ": tb, "c_pJ": tc,
            "a_energy_pJ": a, "b_energy_pJ": b, "c_energy_pJ": c,
            "a_dram_bits": a_bits, "b_dram_bits": b_bits, "c_dram_bits": spill_bits,
            "c_spill_spmat_bits": int(spill_spmat.sum()), "c_spill_ptr_bits": int(spill_ptr.sum()),
            "fits_on_chip": spill_bits == 0,
            "latency_us": le["latency_us"], "c_power_W": le["power_W"],
            "a_over_c": _ratio(ta, tc), "b_over_c": _ratio(tb, tc),
        })
        for comp, s in le["sources"].items():
            sources.setdefault(f"c.{comp}", " | ".join(s))
        for comp in ("codebook", "mul", "add"):
            sources.setdefault(f"b.{comp}", ae[comp].source)

    def total(key: str) -> dict:
        comps: dict[str, float] = {}
        for l in out_layers:
            for k, v in l[f"{key}_energy_pJ"].items():
                comps[k] = comps.get(k, 0.0) + v
        return {"description": SCENARIOS[key], "total_pJ": sum(l[f"{key}_pJ"] for l in out_layers),
                "energy_pJ": comps, "dram_bits": sum(l[f"{key}_dram_bits"] for l in out_layers)}

    sc = {k: total(k) for k in ("a", "b", "c")}
    lat = sum(l["latency_us"] for l in out_layers)
    tc = sc["c"]["total_pJ"]
    spill_spmat = sum(l["c_spill_spmat_bits"] for l in out_layers)
    spill_ptr = sum(l["c_spill_ptr_bits"] for l in out_layers)
    return {
        "node_nm": table.node,
        "per": "inference",
        "scenarios": sc,
        "layers": out_layers,
        "fits_on_chip": spill_spmat + spill_ptr == 0,
        "spill": {"spmat_bits": spill_spmat, "ptr_bits": spill_ptr,
                  "dram_pJ": (spill_spmat + spill_ptr) * dram.pJ, "rule": SPILL_RULE},
        "a_over_c": _ratio(sc["a"]["total_pJ"], tc),
        "b_over_c": _ratio(sc["b"]["total_pJ"], tc),
        "latency_us": lat,
        "power_W": tc * 1e-12 / (lat * 1e-6) if lat > 0 else 0.0,
        "sources": sources,
    }


#: EIE's modules, as in its per-PE power table (ISCA 2016, Table II), in report order.
EIE_MODULES = ("spmat_read", "ptr_read", "arithmetic", "act_rw", "act_queue")
#: The module of every access component: the sparse-matrix read unit holds the sparse-matrix
#: SRAM; the pointer read unit the two pointer banks; the arithmetic unit the codebook (weight
#: decoder), the multiplier and the adder; the activation read/write unit the activation register
#: file and SRAM; the activation queue the FIFO, with the broadcast and the LNZD tree that feed it.
EIE_COMPONENT_MODULES = {"spmat_sram": "spmat_read", "ptr_sram": "ptr_read", "codebook": "arithmetic",
                         "mul": "arithmetic", "add": "arithmetic", "act_regs": "act_rw", "act_sram": "act_rw",
                         "fifo": "act_queue", "broadcast": "act_queue"}
#: The kind of circuit of every access component (the paper's split by type: memory, registers,
#: combinational logic; the clock network and leakage are items of their own).
EIE_COMPONENT_KINDS = {"spmat_sram": "memory", "ptr_sram": "memory", "act_sram": "memory",
                       "act_regs": "registers", "fifo": "registers", "codebook": "registers",
                       "mul": "combinational", "add": "combinational", "broadcast": "combinational"}


@dataclass(frozen=True)
class _EIEPricing:
    """EIE's pricing (energy_model.model.EnergyPricing): its components, action energies, per-cycle
    energies (energy_model/chip.py) and modules."""

    components: tuple[str, ...] = ACCESS_COMPONENTS
    storage_components: tuple[str, ...] = STORAGE_COMPONENTS
    modules: tuple[str, ...] = EIE_MODULES
    component_modules: Mapping[str, str] = field(default_factory=lambda: dict(EIE_COMPONENT_MODULES))
    component_kinds: Mapping[str, str] = field(default_factory=lambda: dict(EIE_COMPONENT_KINDS))

    def action_energies(self, cfg: AcceleratorConfig, table: EnergyTable) -> dict[str, EnergyEntry]:
        return action_energies(cfg, table)

    def cycle_energies(self, cfg: AcceleratorConfig, table: EnergyTable) -> dict[str, EnergyEntry]:
        from .chip import cycle_energies

        return cycle_energies(cfg, table)

    def cycle_energies_by_module(self, cfg: AcceleratorConfig, table: EnergyTable) -> dict[str, dict[str, float]]:
        from .chip import cycle_energies_by_module

        return cycle_energies_by_module(cfg, table)

    def area(self, cfg: AcceleratorConfig, override=None):
        from .chip import chip_area, load_area_table

        return chip_area(cfg, load_area_table(cfg.tech_node, override))


#: EIE's components priced with :func:`action_energies`, its per-cycle energies and its area.
EIE_PRICING = _EIEPricing()


def _sum_scenarios(results: list[dict]) -> dict:
    """Independent workloads side by side: totals add, the ratios are of the totals."""
    out = {"scenarios": {}, "fits_on_chip": all(r["fits_on_chip"] for r in results),
           "sources": results[0].get("sources", {})}
    for k in ("a", "b", "c"):
        out["scenarios"][k] = {"total_pJ": sum(r["scenarios"][k]["total_pJ"] for r in results),
                               "dram_bits": sum(r["scenarios"][k].get("dram_bits", 0) for r in results)}
    c = out["scenarios"]["c"]["total_pJ"]
    out["a_over_c"] = _ratio(out["scenarios"]["a"]["total_pJ"], c)
    out["b_over_c"] = _ratio(out["scenarios"]["b"]["total_pJ"], c)
    return out


def run_scenarios(run, cfg: AcceleratorConfig, table: EnergyTable, *,
                  dram_form_bits: Mapping[str, int] | None = None, independent_layers: bool = False) -> dict:
    """:func:`scenario_energies` of a simulated run (``sim.results.SimRun`` of EIE layers).

    Per layer it takes the run's per-inference access counts, cycles, nonzero activations
    (broadcasts) and non-filler entries, and where the layer sits (stored entries, the fullest
    PE's). ``dram_form_bits`` (layer name -> bits) is the compressed form scenario (b) fetches.
    With ``independent_layers`` (the EIE benchmark layers) each layer is its own workload: the
    scenarios and the on-chip fit are computed per layer (``per_layer``) and the totals summed.
    """
    layers = []
    for sl in run.layers:
        r, lcfg = sl.result, sl.config
        runs = max(1, sl.inferences)
        layers.append({"name": sl.name, "n_rows": r.n_rows, "n_cols": r.n_cols, "dense_weights": r.n_rows * r.n_cols,
                       "nnz_weights": sl.nnz_weights, "entries": r.stored_entries, "max_pe_entries": r.max_pe_entries,
                       "index_bits": lcfg.index_bits, "rel_index_bits": lcfg.rel_index_bits,
                       "pointer_bits": lcfg.pointer_bits, "act_nnz": r.broadcasts / runs,
                       "macs_sparse": (r.entries - r.fillers) / runs,
                       "sim_accesses": {c: {k: v / runs for k, v in rw.items()} for c, rw in r.accesses.items()},
                       "cycles": r.cycles / runs, "b_dram_bits": (dram_form_bits or {}).get(sl.name),
                       "vectors": sl.vectors})
    if not independent_layers:
        return scenario_energies(layers, cfg, table)
    per = {d["name"]: scenario_energies([d], sl.config, table) for d, sl in zip(layers, run.layers)}
    out = _sum_scenarios(list(per.values()))
    out["per_layer"] = {k: {"a_pJ": v["scenarios"]["a"]["total_pJ"], "b_pJ": v["scenarios"]["b"]["total_pJ"],
                            "c_pJ": v["scenarios"]["c"]["total_pJ"], "a_over_c": v["a_over_c"],
                            "b_over_c": v["b_over_c"], "fits_on_chip": v["fits_on_chip"]} for k, v in per.items()}
    return out
