"""What one EIE PE and the whole chip are made of, their area, and their per-cycle clock, control
and leakage energy.

The per-access model (energy_model/eie.py) charges what the simulator counts: SRAM reads,
multiplies, broadcasts. This module adds what happens every cycle whatever the workload does:

- :func:`pe_inventory` / :func:`chip_inventory`: the parts of one PE and of the chip outside the
  PEs (the LNZD tree and the central control unit, CCU), each a :class:`Part` with its EIE
  module, its kind (``sram`` bits, ``flip_flops``, ``logic`` in NAND2 equivalents), its count
  derived from the :class:`~arch.config.AcceleratorConfig` and the formula with the numbers
  filled in. Gate-equivalent rules: :data:`GATE_EQUIVALENTS`.
- :func:`chip_area` -> :class:`Area`: SRAM macros from a published bit-cell area and a periphery
  model (:func:`sram_macro_area`), standard cells from NanGate's 45 nm Open Cell Library areas
  divided by a placement utilisation, all scaled by node (``data/area_45nm.toml``,
  :func:`load_area_table`, :func:`energy_model.scaling.area_scale_factor`).
- :func:`cycle_energies` / :func:`cycle_energies_by_module`: the energy of ONE cycle of the
  whole machine (all PEs plus the chip parts): ``clock`` (every flip-flop's clock pin and its
  share of the tree), ``control`` (control logic, LNZD and pipeline-register toggling that no
  per-access energy charges) and ``leakage`` (static power / clock).

Units: areas in um^2 (mm^2 for ``chip_mm2``), energies in pJ, static power in pJ per us (= uW),
so leakage per cycle = uW / MHz.

Calibration target (not fitted): EIE (Han et al., ISCA 2016) Table II, one PE at 45 nm and
800 MHz: 638,024 um^2 and 9.157 mW, of which the clock network is 1.874 mW (2.34 pJ per cycle).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from arch.config import PIPELINE_STAGES, AcceleratorConfig

from .eie import fifo_entry_bits, lnzd_levels
from .model import check_node
from .scaling import AREA_SCALE_KINDS, ScalingError, area_scale_factor
from .table import DATA_DIR, EnergyEntry, EnergyTable, EnergyTableError, apply_override, parse_node, read_entry_file

__all__ = ["MODULES", "KINDS", "GATE_EQUIVALENTS", "PLACEMENT_UTILISATION", "CONTROL_ACTIVITY", "PIPELINE_ACTIVITY",
           "Part", "Area", "AreaEntry", "AreaTable", "load_area_table", "pe_inventory", "chip_inventory",
           "flip_flops", "sram_macro_area", "chip_area", "cycle_energies", "cycle_energies_by_module"]

AREA_FILE = DATA_DIR / "area_45nm.toml"

#: EIE's modules (Table II), in its order, plus the control logic.
MODULES = ("spmat_read", "ptr_read", "arithmetic", "act_rw", "act_queue", "control")
#: What a part's ``count`` counts: SRAM bits, flip-flops, or NAND2-equivalent gates.
KINDS = ("sram", "flip_flops", "logic")

#: NAND2 equivalents of the building blocks, and where each rule comes from.
GATE_EQUIVALENTS: dict[str, tuple[float, str]] = {
    "FA": (9.0, "full adder = 9 NAND2 (the textbook NAND2-only full adder)"),
    "HA": (5.0, "half adder = 5 NAND2 (4-NAND2 XOR + the carry NAND2; textbook NAND2-only construction)"),
    "MUX2": (4.0, "2:1 mux = 4 NAND2 (3 NAND2 + an inverter counted as one NAND2; textbook)"),
    "AND2": (2.0, "AND2 = 2 NAND2 (NAND2 + inverter)"),
    "XOR2": (4.0, "XOR2 = 4 NAND2 (textbook NAND2-only XOR)"),
    "ICG": (5.0, "clock-gating cell (latch + AND) = 5 NAND2: dcsim assumption"),
}

#: Standard-cell placement utilisation: cell area / placed area. The rest is filler.
PLACEMENT_UTILISATION = (0.7, "placement utilisation 0.7: dcsim assumption (a typical target density of a "
                              "placed-and-routed standard-cell block; EIE Table II's filler cells are 3.76% of "
                              "the PE, i.e. of its SRAM plus logic)")
#: Switching activity (toggles per gate per cycle) of the control logic, LNZD and CCU.
CONTROL_ACTIVITY = (0.2, "activity 0.2 toggles per gate per cycle: dcsim assumption (typical control-logic "
                         "activity; cf. the 0.21 that reconciles H14's 32b add with nand2_toggle)")
#: Fraction of pipeline-register bits that toggle per cycle (data activity 0.5 x busy half the cycles).
PIPELINE_ACTIVITY = (0.25, "activity 0.25 toggles per pipeline-register bit per cycle: dcsim assumption "
                           "(random data toggles half the bits; the pipeline is busy about half the cycles)")


@dataclass(frozen=True)
class Part:
    """One item of the inventory."""

    module: str        # EIE module: one of MODULES
    kind: str          # "sram" | "flip_flops" | "logic"
    name: str          # e.g. "sparse-matrix SRAM", "pipeline registers", "16x16 multiplier"
    count: float       # bits of SRAM, flip-flops, or NAND2-equivalent gates
    source: str        # how the count is derived from the config (formula with the numbers filled in)
    width: int = 0     # SRAM macros: the word width in bits (0 otherwise)
    macros: int = 1    # SRAM: identical macros the bits are split over (the two pointer banks)
    activity: float = 0.0   # toggles per unit per cycle charged in cycle_energies' "control"
    #                         (0 where the per-access energies already charge the switching)


def _ge(block: str) -> float:
    return GATE_EQUIVALENTS[block][0]


def _log2c(n: int) -> int:
    return max(1, math.ceil(math.log2(n))) if n > 1 else 1


def _rules(*blocks: str) -> str:
    return "; ".join(GATE_EQUIVALENTS[b][1] for b in blocks)


# ---------------------------------------------------------------------------
# inventory
# ---------------------------------------------------------------------------

def pe_inventory(cfg: AcceleratorConfig) -> list[Part]:
    """Everything in ONE PE, derived from ``cfg``'s widths and depths (see the module docstring)."""
    A, W, ACC = cfg.act_bits, cfg.weight_bits, cfg.acc_bits
    R, D, K, E = cfg.act_regs_per_pe, cfg.fifo_depth, cfg.codebook_size, cfg.entries_per_word
    PB, WB, EB, SB = cfg.pointer_bits, cfg.sram_word_bits, cfg.entry_bits, cfg.slot_bits
    fb = fifo_entry_bits(cfg)
    cb = fb - A                                   # column-index bits of a FIFO entry
    P = PIPELINE_STAGES
    row = max(1, (R - 1).bit_length())            # destination-register address
    pos = max(1, (R + (1 << cfg.rel_index_bits) + 1).bit_length())   # relative-row accumulator (as hw/pe.py)
    dptr = max(1, (D - 1).bit_length())
    lvl = max(1, D.bit_length())
    fa, ha, mux, and2, xor, icg = (_ge(b) for b in ("FA", "HA", "MUX2", "AND2", "XOR2", "ICG"))
    pa = PIPELINE_ACTIVITY[0]
    ca = CONTROL_ACTIVITY[0]
    parts: list[Part] = []

    def add(module, kind, name, count, source, **kw):
        if count > 0:
            parts.append(Part(module, kind, name, float(count), source, **kw))

    # ---- SpmatRead: the sparse-matrix SRAM and the entry word it hands out ----
    add("spmat_read", "sram", "sparse-matrix SRAM", cfg.spmat_sram_bytes * 8,
        f"spmat_sram_bytes {cfg.spmat_sram_bytes} x 8 = {cfg.spmat_sram_bytes * 8} bits, {WB}-bit words",
        width=WB)
    add("spmat_read", "flip_flops", "entry-word register", WB,
        f"sram_word_bits = {WB} (the word is held while its {E} entries are used: one SRAM read per word)",
        activity=pa)
    add("spmat_read", "flip_flops", "slot-select register", SB,
        f"slot_bits = log2(entries_per_word {E}) = {SB}", activity=pa)
    add("spmat_read", "logic", "entry-word unpacking mux", EB * (E - 1) * mux,
        f"entry_bits {EB} x (entries_per_word {E} - 1) MUX2 x {mux:g} = {EB * (E - 1) * mux:g}; {_rules('MUX2')}")
    add("spmat_read", "logic", "fetch-address incrementer", PB * ha,
        f"pointer_bits {PB} half adders x {ha:g} = {PB * ha:g}; {_rules('HA')}")

    # ---- PtrRead: two pointer banks, the pointer pair, subtract/compare ----
    add("ptr_read", "sram", "pointer SRAM (two banks)", cfg.ptr_sram_bytes * 8,
        f"ptr_sram_bytes {cfg.ptr_sram_bytes} x 8 = {cfg.ptr_sram_bytes * 8} bits in 2 banks of "
        f"{cfg.ptr_sram_bytes // 2} bytes (even and odd columns), {PB}-bit words", width=PB, macros=2)
    add("ptr_read", "flip_flops", "pointer pair (current, end)", 2 * PB,
        f"2 x pointer_bits {PB} = {2 * PB}", activity=pa)
    add("ptr_read", "logic", "pointer subtract / compare (current < end)", PB * fa,
        f"pointer_bits {PB} full adders x {fa:g} = {PB * fa:g}; {_rules('FA')}")
    add("ptr_read", "logic", "even/odd bank swap muxes", 2 * PB * mux,
        f"2 x pointer_bits {PB} MUX2 x {mux:g} = {2 * PB * mux:g}; {_rules('MUX2')}")
    add("ptr_read", "logic", "bank-address incrementer (j + 1) / 2", cb * ha,
        f"column-index bits {cb} half adders x {ha:g} = {cb * ha:g}; {_rules('HA')}")

    # ---- ArithmUnit: codebook, multiplier, shifter, accumulator, address accumulator ----
    add("arithmetic", "flip_flops", "codebook registers", K * W,
        f"codebook_size {K} x weight_bits {W} = {K * W}")
    add("arithmetic", "logic", "codebook read mux", W * (K - 1) * mux,
        f"weight_bits {W} x (codebook_size {K} - 1) MUX2 x {mux:g} = {W * (K - 1) * mux:g}; {_rules('MUX2')}")
    mul = A * W * (fa + and2)
    add("arithmetic", "logic", f"{A}x{W} multiplier", mul,
        f"array multiplier: act_bits {A} x weight_bits {W} = {A * W} cells of (full adder {fa:g} + partial-product "
        f"AND2 {and2:g}) = {mul:g}; {_rules('FA', 'AND2')}")
    shw = A + W
    sh_levels = _log2c(shw)
    add("arithmetic", "logic", "product shifter", shw * sh_levels * mux,
        f"barrel shifter: (act_bits {A} + weight_bits {W}) = {shw} bits x {sh_levels} levels MUX2 x {mux:g} = "
        f"{shw * sh_levels * mux:g}; {_rules('MUX2')}")
    add("arithmetic", "logic", "accumulator adder", ACC * fa,
        f"acc_bits {ACC} full adders x {fa:g} = {ACC * fa:g}; {_rules('FA')}")
    add("arithmetic", "logic", "overflow (saturate) select", 2 * ACC * mux,
        f"2 x acc_bits {ACC} MUX2 x {mux:g} = {2 * ACC * mux:g} (clamp high, clamp low); {_rules('MUX2')}")
    byp = ACC * mux + row * xor + max(0, row - 1) * and2
    add("arithmetic", "logic", "accumulator bypass", byp,
        f"acc_bits {ACC} MUX2 x {mux:g} + row compare ({row} XOR2 x {xor:g} + {max(0, row - 1)} AND2 x {and2:g}) = "
        f"{byp:g}; {_rules('MUX2', 'XOR2', 'AND2')}")
    add("arithmetic", "logic", "address accumulator", pos * fa + pos * mux,
        f"relative-row accumulator: {pos} bits (ceil(log2(act_regs_per_pe {R} + 2^rel_index_bits "
        f"{1 << cfg.rel_index_bits} + 2))) x (full adder {fa:g} + first-entry MUX2 {mux:g}) = {pos * (fa + mux):g}; "
        f"{_rules('FA', 'MUX2')}")
    add("arithmetic", "flip_flops", "activation operand registers", 2 * A,
        f"2 stages x act_bits {A} = {2 * A}", activity=pa)
    add("arithmetic", "flip_flops", "decoded-weight register", W, f"weight_bits = {W}", activity=pa)
    add("arithmetic", "flip_flops", "product register", A + W, f"act_bits {A} + weight_bits {W} = {A + W}",
        activity=pa)
    add("arithmetic", "flip_flops", "accumulator result register", ACC, f"acc_bits = {ACC}", activity=pa)
    add("arithmetic", "flip_flops", "address registers", 3 * row + pos,
        f"3 stages x destination address {row} bits (log2 act_regs_per_pe {R}) + relative-row accumulator "
        f"{pos} bits = {3 * row + pos}", activity=pa)

    # ---- ActRW: the activation register file (flip-flops) and the activation SRAM ----
    add("act_rw", "flip_flops", "activation register file", R * ACC,
        f"act_regs_per_pe {R} x acc_bits {ACC} = {R * ACC} (EIE builds its register files from flip-flops; "
        f"EIE's two 64 x 16-bit files hold the same 2,048 bits)")
    add("act_rw", "logic", "register-file read mux", ACC * (R - 1) * mux,
        f"acc_bits {ACC} x (act_regs_per_pe {R} - 1) MUX2 x {mux:g} = {ACC * (R - 1) * mux:g}; {_rules('MUX2')}")
    dec_r = R * _log2c(R)
    add("act_rw", "logic", "register-file write decoder and clock gates", dec_r + R * icg,
        f"decoder act_regs_per_pe {R} x log2({R}) = {dec_r} NAND2 (dcsim assumption: one log2(n)-input AND per "
        f"output) + {R} row clock gates x {icg:g} = {dec_r + R * icg:g}; {_rules('ICG')}")
    add("act_rw", "sram", "activation SRAM", cfg.act_sram_bytes * 8,
        f"act_sram_bytes {cfg.act_sram_bytes} x 8 = {cfg.act_sram_bytes * 8} bits, {A}-bit words", width=A)

    # ---- Act_queue: the activation FIFO ----
    add("act_queue", "flip_flops", "activation FIFO", D * fb,
        f"fifo_depth {D} x fifo_entry_bits {fb} (act_bits {A} + column index {cb}) = {D * fb}")
    add("act_queue", "flip_flops", "FIFO pointers and level", 2 * dptr + lvl,
        f"read and write pointers 2 x {dptr} bits + level {lvl} bits = {2 * dptr + lvl}", activity=pa)
    add("act_queue", "flip_flops", "popped-activation register", A, f"act_bits = {A}", activity=pa)
    dec_d = D * _log2c(D)
    fifo_ctl = fb * (D - 1) * mux + dec_d + D * icg + 2 * dptr * ha + lvl * fa + 2 * lvl * xor
    add("act_queue", "logic", "FIFO read mux, write decoder and control", fifo_ctl,
        f"read mux {fb} x ({D} - 1) MUX2 x {mux:g} + write decoder {D} x log2({D}) = {dec_d} + {D} clock gates x "
        f"{icg:g} + pointer incrementers 2 x {dptr} HA x {ha:g} + level counter {lvl} FA x {fa:g} + full/empty "
        f"compare 2 x {lvl} XOR2 x {xor:g} = {fifo_ctl:g}; {_rules('MUX2', 'HA', 'FA', 'XOR2', 'ICG')}")

    # ---- control ----
    add("control", "flip_flops", "control state", P + 2,
        f"one valid bit per pipeline stage (PIPELINE_STAGES {P}) + first-entry flags 2 = {P + 2}", activity=pa)
    add("control", "logic", "control FSM", 100 + 10 * P,
        f"fetch / pop / stall decisions and the valid chain: 100 + 10 x {P} stages = {100 + 10 * P} NAND2: "
        f"dcsim assumption", activity=ca)
    return parts


def chip_inventory(cfg: AcceleratorConfig) -> list[Part]:
    """The parts outside the PEs: the LNZD tree (``act_queue``) and the central control unit (``control``)."""
    fb = fifo_entry_bits(cfg)
    lv = lnzd_levels(cfg)
    nodes = sum(math.ceil(cfg.n_pe / 4 ** k) for k in range(1, lv + 1))
    per_node_logic = fb * 3 * _ge("MUX2") + 12
    ca = CONTROL_ACTIVITY[0]
    node_terms = " + ".join(str(math.ceil(cfg.n_pe / 4 ** k)) for k in range(1, lv + 1))
    ccu_ff = 256
    ccu_gates = 2000
    return [
        Part("act_queue", "logic", "LNZD tree nodes", nodes * per_node_logic,
             f"{nodes} nodes ({lv} levels of one node per 4 inputs over n_pe {cfg.n_pe}: {node_terms}) x "
             f"(4:1 select of fifo_entry_bits {fb} = {fb} x 3 MUX2 x {_ge('MUX2'):g} + 12 NAND2 4-input priority "
             f"encoder, dcsim assumption) = {nodes * per_node_logic:g}; {_rules('MUX2')}", activity=ca),
        Part("act_queue", "flip_flops", "LNZD node registers", nodes * (fb + 1),
             f"{nodes} nodes x (fifo_entry_bits {fb} + valid 1) = {nodes * (fb + 1)}", activity=PIPELINE_ACTIVITY[0]),
        Part("control", "flip_flops", "CCU registers", ccu_ff,
             f"{ccu_ff} flip-flops (layer configuration, tile and pass counters, host interface): dcsim assumption",
             activity=PIPELINE_ACTIVITY[0]),
        Part("control", "logic", "CCU logic", ccu_gates,
             f"{ccu_gates} NAND2 (tile sequencer, end-of-tile detection, host interface): dcsim assumption",
             activity=ca),
    ]


def flip_flops(cfg: AcceleratorConfig) -> int:
    """Flip-flops in ONE PE (the sum of its ``flip_flops`` parts)."""
    return int(sum(p.count for p in pe_inventory(cfg) if p.kind == "flip_flops"))


# ---------------------------------------------------------------------------
# the area table
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class AreaEntry:
    """One area constant: ``um2`` square micrometres per ``unit``, and where it comes from."""

    um2: float
    unit: str
    source: str


@dataclass(frozen=True)
class AreaTable:
    """The area constants at one node (after scaling)."""

    node: int
    entries: dict[str, AreaEntry]

    def __getitem__(self, name: str) -> AreaEntry:
        try:
            return self.entries[name]
        except KeyError:
            raise EnergyTableError(f"no area entry {name!r}; known: {', '.join(self.entries)}") from None

    def um2(self, name: str) -> float:
        return self[name].um2


@lru_cache(maxsize=1)
def _area_base() -> dict[str, tuple[float, str, str, str]]:
    return read_entry_file(AREA_FILE, section="areas", key="um2", kinds=AREA_SCALE_KINDS,
                           what="square micrometres")


def load_area_table(tech_node: int | str = 45, override=None) -> AreaTable:
    """The area table (``data/area_45nm.toml``) scaled to ``tech_node`` by each entry's kind, then
    the ``[areas.NAME]`` entries (``um2``, ``source``, optional ``unit``) of the override file
    ``override`` (the energy table's override file, ``--energy-table``; an override is the value at
    ``tech_node``, not scaled)."""
    node = parse_node(tech_node)
    out = {}
    for name, (v, unit, kind, src) in _area_base().items():
        try:
            f, why = area_scale_factor(kind, node)
        except ScalingError as err:  # pragma: no cover - parse_node checked the node
            raise EnergyTableError(str(err)) from None
        out[name] = AreaEntry(v, unit, src) if node == 45 else AreaEntry(v * f, unit, f"{src}; {why}")
    if override is not None:
        apply_override(out, Path(override), node, section="areas", key="um2", make=AreaEntry, what="area entry")
    return AreaTable(node, out)


# ---------------------------------------------------------------------------
# area
# ---------------------------------------------------------------------------

#: Largest sub-array (rows, columns): dcsim assumption (bit-line and word-line length limits).
SUBARRAY_MAX = (512, 512)
SRAM_RULE = ("SRAM macro = control + sub-arrays of at most 512 x 512 cells (dcsim assumption); each sub-array: "
             "rows x cols cells x bit-cell area + rows x row periphery + cols x column periphery + word width x "
             "I/O periphery; the column mux (1..16, a power of two) makes the sub-array as square as it can "
             "(dcsim assumption); the array efficiency (cells / macro) follows: small and wide macros are less "
             "efficient")


def sram_macro_area(bits: float, width: int, at: AreaTable) -> tuple[float, str]:
    """(um^2, how) of one SRAM macro of ``bits`` bits and ``width``-bit words (:data:`SRAM_RULE`)."""
    if bits <= 0 or width <= 0:
        return 0.0, "no SRAM"
    max_rows, max_cols = SUBARRAY_MAX
    width = min(width, int(bits))
    cap = max_rows * max_cols
    n_sub = max(1, math.ceil(bits / cap))
    sub_bits = bits / n_sub
    best = None
    for mux in (1, 2, 4, 8, 16):
        cols = width * mux
        rows = math.ceil(sub_bits / cols)
        if mux > 1 and (cols > max_cols or rows < 16):
            continue
        score = abs(math.log(rows / cols))
        if best is None or score < best[0]:
            best = (score, mux, rows, cols)
    _, mux, rows, cols = best
    cell, rp, cp, io, ctl = (at.um2(k) for k in ("sram_bitcell", "sram_row_periphery", "sram_column_periphery",
                                                 "sram_io_periphery", "sram_control"))
    sub = rows * cols * cell + rows * rp + cols * cp + width * io
    total = n_sub * sub + ctl
    eff = bits * cell / total
    how = (f"{bits:g} bits, {width}-bit words: {n_sub} sub-array(s) of {rows} rows x {cols} columns (column mux "
           f"{mux}) x ({rows * cols} x {cell:.4g} um^2 + {rows} x {rp:.4g} + {cols} x {cp:.4g} + {width} x {io:.4g}) "
           f"+ control {ctl:.4g} = {total:.0f} um^2, array efficiency {100 * eff:.1f}%")
    return total, how


@dataclass(frozen=True)
class Area:
    """Area of one PE (by EIE module and by kind) and of the chip."""

    pe_um2: dict[str, float]           # by module for ONE PE, plus "filler" (placement overhead)
    pe_by_kind_um2: dict[str, float]   # "memory", "registers", "combinational", "filler"
    pe_total_um2: float
    chip_um2: dict[str, float]         # "pes" (n_pe x PE), "lnzd", "ccu", "total"
    chip_mm2: float
    node_nm: int
    sources: dict[str, str]            # every number's source

    def to_dict(self) -> dict:
        return {"pe_um2": dict(self.pe_um2), "pe_by_kind_um2": dict(self.pe_by_kind_um2),
                "pe_total_um2": self.pe_total_um2, "chip_um2": dict(self.chip_um2), "chip_mm2": self.chip_mm2,
                "node_nm": self.node_nm, "sources": dict(self.sources)}


def _area_table_for(table) -> AreaTable:
    if isinstance(table, AreaTable):
        return table
    node = table.node if isinstance(table, EnergyTable) else table
    return load_area_table(node)


def _parts_area(parts: list[Part], at: AreaTable, sources: dict[str, str], prefix: str):
    """(by module cell area, by kind, cell area before filler) of ``parts``."""
    nand2, dff = at["nand2"], at["dff"]
    by_mod: dict[str, float] = {}
    by_kind = {"memory": 0.0, "registers": 0.0, "combinational": 0.0}
    for p in parts:
        if p.kind == "sram":
            one, how = sram_macro_area(p.count / p.macros, p.width, at)
            a = p.macros * one
            by_kind["memory"] += a
            src = (f"{p.macros} x " if p.macros > 1 else "") + how + f"; bit cell: {at['sram_bitcell'].source}"
        elif p.kind == "flip_flops":
            a = p.count * dff.um2
            by_kind["registers"] += a
            src = f"{p.count:g} flip-flops x {dff.um2:.4g} um^2 ({dff.source})"
        else:
            a = p.count * nand2.um2
            by_kind["combinational"] += a
            src = f"{p.count:g} NAND2 equivalents x {nand2.um2:.4g} um^2 ({nand2.source})"
        by_mod[p.module] = by_mod.get(p.module, 0.0) + a
        sources[f"{prefix}{p.module}.{p.name}"] = f"{a:.0f} um^2 = {src}; count: {p.source}"
    return by_mod, by_kind


def chip_area(cfg: AcceleratorConfig, table) -> Area:
    """Area of one PE and of the chip: ``table`` is an :class:`AreaTable` (:func:`load_area_table`), an
    :class:`EnergyTable` (its node's area table is loaded) or a node in nm. Its node must be ``cfg.tech_node``.

    SRAM macros: :func:`sram_macro_area`; flip-flops x DFF area and NAND2 equivalents x NAND2
    area, divided by :data:`PLACEMENT_UTILISATION` (the difference is ``filler``).
    """
    at = _area_table_for(table)
    if at.node != cfg.tech_node:
        raise EnergyTableError(f"the area table is for {at.node} nm but the machine's tech_node is "
                               f"{cfg.tech_node} nm; load_area_table({cfg.tech_node}) for this machine")
    u, usrc = PLACEMENT_UTILISATION
    sources: dict[str, str] = {}
    pe_mod, pe_kind = _parts_area(pe_inventory(cfg), at, sources, "pe.")
    cells = pe_kind["registers"] + pe_kind["combinational"]
    filler = cells * (1 / u - 1)
    pe_mod = {m: pe_mod.get(m, 0.0) for m in MODULES}
    pe_mod["filler"] = filler
    pe_kind["filler"] = filler
    sources["pe.filler"] = (f"{filler:.0f} um^2 = standard cells {cells:.0f} um^2 x (1/{u:g} - 1): {usrc}")
    pe_total = sum(pe_kind.values())
    sources["pe.total"] = f"{pe_total:.0f} um^2 = memory + registers + combinational + filler"

    chip_parts = chip_inventory(cfg)
    lnzd_mod, _ = _parts_area([p for p in chip_parts if p.module == "act_queue"], at, sources, "chip.lnzd.")
    ccu_mod, _ = _parts_area([p for p in chip_parts if p.module == "control"], at, sources, "chip.ccu.")
    lnzd = sum(lnzd_mod.values()) / u
    ccu = sum(ccu_mod.values()) / u
    pes = cfg.n_pe * pe_total
    chip = {"pes": pes, "lnzd": lnzd, "ccu": ccu, "total": pes + lnzd + ccu}
    sources["chip.pes"] = f"n_pe {cfg.n_pe} x PE {pe_total:.0f} um^2"
    sources["chip.lnzd"] = f"LNZD tree cells / utilisation {u:g} = {lnzd:.0f} um^2 ({usrc})"
    sources["chip.ccu"] = f"CCU cells / utilisation {u:g} = {ccu:.0f} um^2 ({usrc})"
    sources["chip.total"] = ("PEs + LNZD + CCU; wires over the PEs, I/O pads and the chip's own periphery are "
                             "not modelled")
    for k, e in at.entries.items():
        sources[f"table.{k}"] = f"{e.um2:.4g} um^2 {e.unit}: {e.source}"
    return Area(pe_um2=pe_mod, pe_by_kind_um2=pe_kind, pe_total_um2=pe_total, chip_um2=chip,
                chip_mm2=chip["total"] * 1e-6, node_nm=at.node, sources=sources)


# ---------------------------------------------------------------------------
# per-cycle energies
# ---------------------------------------------------------------------------

UNIT = "per cycle of the whole chip (N PEs)"


def _all_parts(cfg: AcceleratorConfig) -> list[tuple[Part, int]]:
    """Every part with its multiplicity on the chip (n_pe for PE parts, 1 for chip parts)."""
    return [(p, cfg.n_pe) for p in pe_inventory(cfg)] + [(p, 1) for p in chip_inventory(cfg)]


def _split(cfg: AcceleratorConfig, table: EnergyTable) -> dict[str, dict[str, float]]:
    clk = table.pJ("clock_per_ff_cycle")
    tog, fft = table.pJ("nand2_toggle"), table.pJ("ff_data_toggle")
    l_bit, l_gate, l_ff = (table.pJ(k) for k in ("sram_leakage_per_bit", "logic_leakage_per_gate", "ff_leakage"))
    out = {k: {m: 0.0 for m in MODULES} for k in ("clock", "control", "leakage")}
    for p, n in _all_parts(cfg):
        c = n * p.count
        if p.kind == "flip_flops":
            out["clock"][p.module] += c * clk
            out["control"][p.module] += c * p.activity * fft
            out["leakage"][p.module] += c * l_ff / cfg.clock_mhz
        elif p.kind == "logic":
            out["control"][p.module] += c * p.activity * tog
            out["leakage"][p.module] += c * l_gate / cfg.clock_mhz
        else:
            out["leakage"][p.module] += c * l_bit / cfg.clock_mhz
    return out


def cycle_energies_by_module(cfg: AcceleratorConfig, table: EnergyTable) -> dict[str, dict[str, float]]:
    """``{"clock" | "control" | "leakage": {module: pJ}}`` for one cycle of the whole chip.

    The modules are :data:`MODULES`; the chip's LNZD tree counts under ``act_queue`` and the CCU
    under ``control``. Each inner dict sums to the matching :func:`cycle_energies` entry.
    """
    check_node(cfg, table)
    return _split(cfg, table)


def cycle_energies(cfg: AcceleratorConfig, table: EnergyTable) -> dict[str, EnergyEntry]:
    """Energy of ONE cycle of the WHOLE machine (all ``n_pe`` PEs plus the chip parts).

    - ``clock``: every flip-flop (PEs and chip) x ``clock_per_ff_cycle``.
    - ``control``: the parts with a per-cycle activity (control FSMs, LNZD, CCU: gates x
      :data:`CONTROL_ACTIVITY` x ``nand2_toggle``; pipeline registers: bits x
      :data:`PIPELINE_ACTIVITY` x ``ff_data_toggle``). The datapath gates (multiplier, adders,
      muxes of the register files) are not here: the per-access energies charge them.
    - ``leakage``: SRAM bits x ``sram_leakage_per_bit`` + gates x ``logic_leakage_per_gate`` +
      flip-flops x ``ff_leakage``, in uW, / ``clock_mhz`` -> pJ per cycle.
    """
    check_node(cfg, table)
    split = _split(cfg, table)
    parts = _all_parts(cfg)
    ff = sum(n * p.count for p, n in parts if p.kind == "flip_flops")
    pe_ff = flip_flops(cfg)
    gates = sum(n * p.count for p, n in parts if p.kind == "logic")
    bits = sum(n * p.count for p, n in parts if p.kind == "sram")
    act_gates = sum(n * p.count * p.activity for p, n in parts if p.kind == "logic")
    act_ffs = sum(n * p.count * p.activity for p, n in parts if p.kind == "flip_flops")
    e = {k: table[k] for k in ("clock_per_ff_cycle", "nand2_toggle", "ff_data_toggle", "sram_leakage_per_bit",
                               "logic_leakage_per_gate", "ff_leakage")}

    def cite(k: str) -> str:
        return f"{k} {e[k].pJ:.4g} pJ {e[k].unit} ({e[k].source})"

    clock = sum(split["clock"].values())
    control = sum(split["control"].values())
    leak = sum(split["leakage"].values())
    leak_uW = leak * cfg.clock_mhz
    return {
        "clock": EnergyEntry(clock, UNIT,
                             f"{ff:g} flip-flops ({cfg.n_pe} PEs x {pe_ff} + {ff - cfg.n_pe * pe_ff:g} in the LNZD "
                             f"tree and CCU) x {cite('clock_per_ff_cycle')}"),
        "control": EnergyEntry(control, UNIT,
                               f"{act_gates:g} gate toggles (control FSMs, LNZD, CCU: gates x {CONTROL_ACTIVITY[1]}) "
                               f"x {cite('nand2_toggle')} + {act_ffs:g} pipeline-register toggles (bits x "
                               f"{PIPELINE_ACTIVITY[1]}) x {cite('ff_data_toggle')}"),
        "leakage": EnergyEntry(leak, UNIT,
                               f"({bits:g} SRAM bits x {cite('sram_leakage_per_bit')} + {gates:g} NAND2 equivalents "
                               f"x {cite('logic_leakage_per_gate')} + {ff:g} flip-flops x {cite('ff_leakage')}) = "
                               f"{leak_uW:.4g} uW / clock_mhz {cfg.clock_mhz:g} MHz (pJ per cycle = uW / MHz)"),
    }
