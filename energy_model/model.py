"""Energy of the simulator's actions, of a simulated layer, and of the three storage scenarios.

Stages are plain functions over explicit data:

- :func:`action_energies`: the energy of ONE access or operation of each
  simulator component on a given machine (``AcceleratorConfig``), from the
  per-action table (:mod:`energy_model.table`) and the SRAM model
  (:mod:`energy_model.sram`). Every value carries its unit and source.
- :func:`layer_energy`: a layer's access counts (``accesses[component] =
  {"reads": n, "writes": n}``, DESIGN.md) and cycles -> energy per component,
  total, latency and power (SI units, the unit in every key).
- :func:`scenario_energies`: one model per inference in three scenarios: (a)
  dense fp32 weights from DRAM, (b) the pruned and quantized weights plus indices
  from DRAM, (c) EIE with the compressed model resident in on-chip SRAM, charged
  for the DRAM traffic of whatever does not fit.

Units: energies in pJ (1e-12 J), latency in us, power in W (pJ/us = 1e-6 W).
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np

from arch.config import AcceleratorConfig

from .sram import KIB, sram_access
from .table import EnergyEntry, EnergyTable, EnergyTableError

#: The simulator's components, in DESIGN.md's order (the same as ``sim.results.ACCESS_COMPONENTS``;
#: energy_model may not import sim, so a test checks that the two agree).
COMPONENTS = ("spmat_sram", "ptr_sram", "act_regs", "act_sram", "codebook", "fifo", "mul", "add", "broadcast")
#: Components that are storage: they have a separate write energy (key ``<component>_write``).
STORAGE = ("spmat_sram", "ptr_sram", "act_regs", "act_sram", "codebook", "fifo")
#: Components whose operations are all counted under ``reads`` (DESIGN.md).
OPS = ("mul", "add", "broadcast")

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


def _check_node(cfg: AcceleratorConfig, table: EnergyTable) -> None:
    if table.node != cfg.tech_node:
        raise EnergyTableError(f"the energy table is for {table.node} nm but the machine's tech_node is "
                               f"{cfg.tech_node} nm; load_energy_table({cfg.tech_node}) for this machine")


def action_energies(cfg: AcceleratorConfig, table: EnergyTable) -> dict[str, EnergyEntry]:
    """The energy of one access or operation of every simulator component on machine ``cfg``.

    Keys: every component of :data:`COMPONENTS` (a read, or one operation), plus
    ``<component>_write`` for the storage components, plus ``dram`` (per bit).

    - ``spmat_sram``: one ``sram_word_bits`` word of the ``spmat_sram_bytes`` SRAM.
    - ``ptr_sram``: one ``pointer_bits`` pointer of one bank: the pointers sit in two
      single-ported banks (even and odd columns, DESIGN.md), each ``ptr_sram_bytes / 2``,
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
    _check_node(cfg, table)
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
# per-layer energy
# ---------------------------------------------------------------------------

def _count(comp: str, kind: str, v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) \
            or not math.isfinite(float(v)) or v < 0:
        raise ValueError(f"accesses[{comp!r}][{kind!r}] = {v!r} is not allowed; use a non-negative count")
    return float(v)


def layer_energy(accesses: Mapping[str, Mapping[str, int]], cycles: float, cfg: AcceleratorConfig,
                 table: EnergyTable, leakage: bool = False) -> dict:
    """Energy, latency and power of one layer from its access counts and cycles.

    ``accesses`` is the simulator's ``accesses[component] = {"reads": n, "writes": n}``
    (components missing count 0; counts may be per-inference means). Returns:

    - ``energy_pJ``: component -> reads x read energy + writes x write energy (and
      ``leakage`` when enabled); ``energy_read_pJ`` and ``energy_write_pJ`` apart;
    - ``leakage_pJ``: ``n_pe x cycles x leakage_per_pe_cycle`` if ``leakage`` else 0;
    - ``total_pJ``; ``cycles``; ``latency_us`` = cycles / clock_mhz;
      ``power_W`` = total_pJ * 1e-12 / (latency_us * 1e-6) (0 for 0 cycles);
    - ``per_access_pJ``: the action energies used; ``sources``: component -> source strings;
    - ``node_nm``, ``leakage`` (bool).
    """
    ae = action_energies(cfg, table)
    if not isinstance(accesses, Mapping):
        raise ValueError(f"accesses must be a dict of component -> {{'reads': n, 'writes': n}}, "
                         f"not {type(accesses).__name__}")
    for comp, rw in accesses.items():
        if comp not in COMPONENTS:
            raise ValueError(f"accesses has unknown component {comp!r}; allowed: {', '.join(COMPONENTS)}")
        if not isinstance(rw, Mapping) or any(k not in ("reads", "writes") for k in rw):
            raise ValueError(f"accesses[{comp!r}] must be {{'reads': n, 'writes': n}}; got {rw!r}")
    cyc = _count("cycles", "cycles", cycles)
    reads, writes, sources = {}, {}, {}
    for comp in COMPONENTS:
        rw = accesses.get(comp, {})
        r, w = _count(comp, "reads", rw.get("reads", 0)), _count(comp, "writes", rw.get("writes", 0))
        if comp in OPS and w:
            raise ValueError(f"accesses[{comp!r}]['writes'] = {rw['writes']!r}: {comp} counts its operations "
                             f"under 'reads' (DESIGN.md); writes must be 0")
        reads[comp] = r * ae[comp].pJ
        if comp in STORAGE:
            writes[comp] = w * ae[f"{comp}_write"].pJ
            sources[comp] = [f"read {ae[comp].unit}: {ae[comp].source}",
                             f"write {ae[comp + '_write'].unit}: {ae[comp + '_write'].source}"]
        else:
            writes[comp] = 0.0
            sources[comp] = [f"{ae[comp].unit}: {ae[comp].source}"]
    energy = {c: reads[c] + writes[c] for c in COMPONENTS}
    leak = 0.0
    if leakage:
        le = table["leakage_per_pe_cycle"]
        leak = cfg.n_pe * cyc * le.pJ
        energy["leakage"] = leak
        sources["leakage"] = [f"{cfg.n_pe} PEs x {cyc:g} cycles x leakage_per_pe_cycle {le.pJ:.4g} pJ: {le.source}"]
    total = sum(energy.values())
    latency_us = cyc / cfg.clock_mhz
    power = total * 1e-12 / (latency_us * 1e-6) if latency_us > 0 else 0.0
    return {
        "node_nm": table.node,
        "energy_pJ": energy,
        "energy_read_pJ": reads,
        "energy_write_pJ": writes,
        "leakage": bool(leakage),
        "leakage_pJ": leak,
        "total_pJ": total,
        "cycles": cyc,
        "latency_us": latency_us,
        "power_W": power,
        "per_access_pJ": {k: e.pJ for k, e in ae.items()},
        "sources": sources,
    }


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


def _layer_cfg(cfg: AcceleratorConfig, ib: int, rb: int) -> AcceleratorConfig:
    """The machine re-targeted to a layer's index widths (as the simulator does)."""
    if (ib, rb) == (cfg.index_bits, cfg.rel_index_bits):
        return cfg
    word = max(cfg.sram_word_bits, 1 << math.ceil(math.log2(ib + rb)))
    return cfg.replace(index_bits=ib, rel_index_bits=rb, sram_word_bits=word, ptr_bits=None)


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


def scenario_energies(layers: list[Mapping[str, Any]], cfg: AcceleratorConfig, table: EnergyTable,
                      leakage: bool = False) -> dict:
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
    _check_node(cfg, table)
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
        lcfg = _layer_cfg(cfg, ib, rb)
        ae = action_energies(lcfg, table)
        n_passes = max(1, math.ceil(n_rows / lcfg.rows_per_pass))
        pointers = n_passes * n_pe * (n_cols + 1)

        # (a) dense fp32 from DRAM
        a_bits = dense * 32
        a = {"dram": a_bits * dram.pJ, "mul": dense * fp_mul.pJ, "add": dense * fp_add.pJ,
             "act_sram": n_cols * sram32.pJ + n_rows * sram32w.pJ}
        # (b) compressed from DRAM, sparse compute on the same datapath as (c)
        if layer.get("b_dram_bits") is not None:   # the model's own compressed form (e.g. Deep Compression's)
            b_bits = _num(layer, "b_dram_bits", where)
        else:
            b_bits = entries * (ib + rb) + pointers * pb + lcfg.codebook_size * lcfg.weight_bits
        act_b = sram_access(SCENARIO_ACT_SRAM_BYTES, lcfg.act_bits, table, what="activation SRAM")
        act_bw = sram_access(SCENARIO_ACT_SRAM_BYTES, lcfg.act_bits, table, write=True, what="activation SRAM")
        b = {"dram": b_bits * dram.pJ, "codebook": macs * ae["codebook"].pJ, "mul": macs * ae["mul"].pJ,
             "add": macs * ae["add"].pJ, "act_sram": act_nnz * act_b.pJ + n_rows * act_bw.pJ}
        # (c) EIE from on-chip SRAM, plus DRAM for what does not fit
        le = layer_energy(layer["sim_accesses"], cycles, lcfg, table, leakage=leakage)
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
