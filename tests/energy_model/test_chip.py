"""energy_model/chip.py: the inventory of a PE and the chip, their area, and the per-cycle clock,
control and leakage energy."""
import re

import pytest

from arch.config import AcceleratorConfig
from energy_model import (EnergyTableError, chip_area, chip_inventory, cycle_energies, cycle_energies_by_module,
                          flip_flops, load_area_table, load_energy_table, pe_inventory, sram_macro_area)
from energy_model.chip import MODULES, Part
from energy_model.eie import fifo_entry_bits, lnzd_levels
from energy_model.scaling import area_scale_factor

CFG = AcceleratorConfig()
T45 = load_energy_table(45)


def part(parts, name):
    (p,) = [p for p in parts if p.name == name]
    return p


def counts(cfg):
    return {p.name: p.count for p in pe_inventory(cfg)}


# ---------------------------------------------------------------------------
# inventory
# ---------------------------------------------------------------------------

def test_inventory_parts_are_well_formed():
    for p in pe_inventory(CFG) + chip_inventory(CFG):
        assert isinstance(p, Part)
        assert p.module in MODULES and p.kind in ("sram", "flip_flops", "logic"), p
        assert p.count > 0 and p.source.strip(), p
    names = counts(CFG)
    assert names["sparse-matrix SRAM"] == 128 * 1024 * 8
    assert names["pointer SRAM (two banks)"] == 32 * 1024 * 8
    assert part(pe_inventory(CFG), "pointer SRAM (two banks)").macros == 2
    assert names["activation register file"] == 64 * 32
    assert names["activation FIFO"] == 8 * fifo_entry_bits(CFG) == 8 * 28
    assert names["codebook registers"] == 16 * 16
    assert flip_flops(CFG) == sum(p.count for p in pe_inventory(CFG) if p.kind == "flip_flops")


def test_inventory_follows_the_config():
    base = counts(CFG)
    fifo2 = counts(CFG.replace(fifo_depth=16))
    assert fifo2["activation FIFO"] == 2 * base["activation FIFO"]
    regs = counts(CFG.replace(act_regs_per_pe=128))
    assert regs["activation register file"] == 2 * base["activation register file"]
    assert regs["register-file read mux"] > base["register-file read mux"]
    acc = counts(CFG.replace(acc_bits=40))
    assert acc["activation register file"] == 64 * 40
    assert acc["accumulator adder"] == 40 / 32 * base["accumulator adder"]
    assert acc["accumulator result register"] == 40
    w = counts(CFG.replace(weight_bits=8))
    assert w["codebook registers"] == 16 * 8
    assert w["16x8 multiplier"] == base["16x16 multiplier"] / 2
    assert w["decoded-weight register"] == 8
    assert w["activation register file"] == base["activation register file"]   # unaffected
    # the pointer SRAM bits follow ptr_sram_bytes; the pointer width follows the sparse-matrix SRAM
    assert counts(CFG.replace(ptr_sram_bytes=64 * 1024))["pointer SRAM (two banks)"] == 64 * 1024 * 8


def test_chip_parts_follow_n_pe_and_the_lnzd_levels():
    def lnzd(cfg):
        return part(chip_inventory(cfg), "LNZD node registers").count / (fifo_entry_bits(cfg) + 1)

    assert lnzd_levels(CFG) == 3 and lnzd(CFG) == 16 + 4 + 1
    c256 = CFG.replace(n_pe=256)
    assert lnzd_levels(c256) == 4 and lnzd(c256) == 64 + 16 + 4 + 1
    c4 = CFG.replace(n_pe=4)
    assert lnzd_levels(c4) == 1 and lnzd(c4) == 1
    assert {p.module for p in chip_inventory(CFG)} == {"act_queue", "control"}
    # the PE does not depend on n_pe except through the FIFO's column index
    assert counts(c256)["activation register file"] == counts(CFG)["activation register file"]


# ---------------------------------------------------------------------------
# area
# ---------------------------------------------------------------------------

def test_area_table_loads_and_scales():
    a45, a7 = load_area_table(45), load_area_table("7nm")
    assert a45.um2("sram_bitcell") == 0.346 and a45.um2("nand2") == 0.798 and a45.um2("dff") == 4.522
    assert a7.um2("sram_bitcell") == pytest.approx(0.027)
    assert a7.um2("nand2") == pytest.approx(0.798 * (7 / 45) ** 2)
    for e in a45.entries.values():
        assert e.um2 > 0 and e.unit.startswith("per ") and e.source.strip()
        assert any(s in e.source for s in ("IEDM", "Open Cell Library", "dcsim assumption"))
    # 28 and 16 nm are interpolated and say so
    f28, why = area_scale_factor("sram_area", 28)
    assert area_scale_factor("sram_area", 22)[0] < f28 < area_scale_factor("sram_area", 32)[0]
    assert "interpolated" in why and "dcsim assumption" in why
    with pytest.raises(EnergyTableError):
        load_area_table(40)


def test_sram_area_grows_with_capacity_and_small_wide_macros_are_less_efficient():
    at = load_area_table(45)
    sizes = [1024 * 8 * k for k in (1, 2, 8, 32, 128, 512)]
    areas = [sram_macro_area(b, 64, at)[0] for b in sizes]
    assert areas == sorted(areas) and len(set(areas)) == len(areas)
    eff = [b * 0.346 / a for b, a in zip(sizes, areas)]
    assert eff[0] < eff[2] < eff[4] and all(0.3 < e < 0.95 for e in eff)
    small_wide = 8192 * 0.346 / sram_macro_area(8192, 256, at)[0]
    small_narrow = 8192 * 0.346 / sram_macro_area(8192, 16, at)[0]
    assert small_wide < small_narrow


def test_chip_area_adds_up_and_every_number_has_a_source():
    a = chip_area(CFG, T45)
    assert set(a.pe_um2) == set(MODULES) | {"filler"}
    assert set(a.pe_by_kind_um2) == {"memory", "registers", "combinational", "filler"}
    assert sum(a.pe_um2.values()) == pytest.approx(a.pe_total_um2)
    assert sum(a.pe_by_kind_um2.values()) == pytest.approx(a.pe_total_um2)
    assert a.chip_um2["pes"] == pytest.approx(CFG.n_pe * a.pe_total_um2)
    assert a.chip_um2["total"] == pytest.approx(a.chip_um2["pes"] + a.chip_um2["lnzd"] + a.chip_um2["ccu"])
    assert a.chip_mm2 == pytest.approx(a.chip_um2["total"] * 1e-6)
    assert a.pe_by_kind_um2["registers"] == pytest.approx(flip_flops(CFG) * 4.522)
    assert all(isinstance(s, str) and s.strip() for s in a.sources.values())
    for p in pe_inventory(CFG):
        assert f"pe.{p.module}.{p.name}" in a.sources
    for k in ("pe.filler", "chip.pes", "chip.lnzd", "chip.ccu", "table.sram_bitcell"):
        assert a.sources[k].strip()


def test_chip_area_pinned_at_the_defaults():
    """Known values at AcceleratorConfig() and 45 nm (catch accidental changes; EIE Table II: 638,024 um^2)."""
    a = chip_area(CFG, T45)
    assert a.pe_total_um2 == pytest.approx(584_675, rel=1e-4)
    assert a.pe_by_kind_um2["memory"] == pytest.approx(548_635, rel=1e-4)
    assert a.pe_um2["spmat_read"] == pytest.approx(422_705, rel=1e-4)
    assert a.pe_um2["ptr_read"] == pytest.approx(115_686, rel=1e-4)
    assert a.chip_mm2 == pytest.approx(37.435, rel=1e-4)
    assert 638_024 / 1.5 < a.pe_total_um2 < 638_024 * 1.5


def test_node_scaling_lowers_area_and_n_pe_scales_the_chip():
    a45 = chip_area(CFG, T45)
    prev = a45.pe_total_um2
    for n in (32, 28, 22, 16, 14, 10, 7):
        a = chip_area(CFG.replace(tech_node=n), load_energy_table(n))
        assert a.node_nm == n and a.pe_total_um2 < prev
        prev = a.pe_total_um2
    a2 = chip_area(CFG.replace(n_pe=128), T45)
    assert a2.chip_um2["lnzd"] > a45.chip_um2["lnzd"]
    assert a2.chip_um2["pes"] == pytest.approx(128 * a2.pe_total_um2)
    with pytest.raises(EnergyTableError):
        chip_area(CFG.replace(tech_node=7), T45)
    with pytest.raises(EnergyTableError):
        chip_area(CFG, load_area_table(7))
    # an AreaTable, an EnergyTable or a node give the same area
    assert chip_area(CFG, load_area_table(45)) == chip_area(CFG, 45) == a45


# ---------------------------------------------------------------------------
# per-cycle energies
# ---------------------------------------------------------------------------

def test_cycle_energies_shape_and_sources():
    e = cycle_energies(CFG, T45)
    assert set(e) == {"clock", "control", "leakage"}
    for k, v in e.items():
        assert v.pJ > 0 and v.unit == "per cycle of the whole chip (N PEs)" and v.source.strip(), k
    assert "clock_per_ff_cycle" in e["clock"].source and "nand2_toggle" in e["control"].source
    assert "sram_leakage_per_bit" in e["leakage"].source and "uW / MHz" in e["leakage"].source


def test_clock_scales_with_flip_flops_and_n_pe():
    clk = T45.pJ("clock_per_ff_cycle")
    chip_ff = sum(p.count for p in chip_inventory(CFG) if p.kind == "flip_flops")
    assert cycle_energies(CFG, T45)["clock"].pJ == pytest.approx((CFG.n_pe * flip_flops(CFG) + chip_ff) * clk)
    e1 = cycle_energies(CFG.replace(n_pe=1), T45)["clock"].pJ
    e64 = cycle_energies(CFG, T45)["clock"].pJ
    assert 50 < e64 / e1 < 70
    deeper = cycle_energies(CFG.replace(fifo_depth=16), T45)["clock"].pJ
    assert deeper - e64 == pytest.approx(CFG.n_pe * 8 * fifo_entry_bits(CFG) * clk, rel=0.05)
    # comparable to EIE Table II's clock network: 1.874 mW / 800 MHz = 2.34 pJ per PE cycle
    assert 2.34 / 2 < e64 / CFG.n_pe < 2.34 * 2


def test_leakage_per_cycle_halves_when_the_clock_doubles():
    e1 = cycle_energies(CFG, T45)
    e2 = cycle_energies(CFG.replace(clock_mhz=1600.0), T45)
    assert e2["leakage"].pJ == pytest.approx(e1["leakage"].pJ / 2)
    assert e2["clock"].pJ == pytest.approx(e1["clock"].pJ)
    assert e2["control"].pJ == pytest.approx(e1["control"].pJ)


def test_per_module_split_sums_to_the_totals():
    e = cycle_energies(CFG, T45)
    split = cycle_energies_by_module(CFG, T45)
    assert set(split) == set(e)
    for k in e:
        assert set(split[k]) == set(MODULES)
        assert sum(split[k].values()) == pytest.approx(e[k].pJ)
    assert split["leakage"]["spmat_read"] == max(split["leakage"].values())
    assert split["clock"]["act_rw"] == max(split["clock"].values())


def test_cycle_energies_pinned_at_the_defaults():
    e = cycle_energies(CFG, T45)
    assert e["clock"].pJ == pytest.approx(218.779, rel=1e-4)
    assert e["control"].pJ == pytest.approx(24.1918, rel=1e-4)
    assert e["leakage"].pJ == pytest.approx(65.7434, rel=1e-4)


def test_new_table_entries_are_cited_and_leakage_is_not_scaled():
    t7 = load_energy_table(7)
    for k in ("sram_leakage_per_bit", "logic_leakage_per_gate", "ff_leakage"):
        assert t7.pJ(k) == T45.pJ(k)
    for k in ("clock_per_ff_cycle", "nand2_toggle", "ff_data_toggle"):
        assert t7.pJ(k) < T45.pJ(k)
        assert "dcsim assumption" in T45[k].source


# ---------------------------------------------------------------------------
# the RTL (hw/pe.py): its flip-flops against the inventory
# ---------------------------------------------------------------------------

#: RTL state that is not in the inventory: performance counters and the read-count bookkeeping
#: (busy_count, *_reads, sp_last_*), and the per-pass output registers (out<k>), which the RTL keeps
#: for the write-back and EIE does not (its destination file swaps roles with the source file).
_RTL_EXTRA = re.compile(r"^(busy_count|\w+_reads|sp_last_\w+|out\d+)$")


def _rtl_sync_bits(cfg):
    amaranth = pytest.importorskip("amaranth")
    from amaranth.hdl import Fragment

    from hw.image import layer_image
    from hw.pe import PE
    from hw.synth import random_layer

    case = random_layer(cfg, 0)
    img = layer_image(cfg, case.indices, case.codebook_q, case.x)
    pe = PE(cfg, img, 0, case.fmt, case.relu)
    bits: dict[str, int] = {}

    def walk(f):
        for dom, stmts in f.statements.items():
            if dom != "comb":
                for s in stmts:
                    for sig in s._lhs_signals():
                        bits[sig.name] = len(sig)
        for sub, *_ in f.subfragments:
            walk(sub)

    walk(Fragment.get(pe, None))
    assert amaranth
    return bits, pe


def test_inventory_flip_flops_match_the_rtl_pe():
    """The flip-flops of hw/pe.py (every signal assigned in a clocked domain; memories are not
    signals) equal the inventory's, part by part, except what the RTL keeps in memories: the
    codebook (a Memory) and the entry-word register (the SRAM read port's register)."""
    cfg = AcceleratorConfig(n_pe=4, act_regs_per_pe=8, spmat_sram_bytes=256, ptr_sram_bytes=256, fifo_depth=4)
    bits, pe = _rtl_sync_bits(cfg)
    inv = {p.name: p.count for p in pe_inventory(cfg) if p.kind == "flip_flops"}

    def take(pattern):
        names = [n for n in bits if re.fullmatch(pattern, n)]
        return sum(bits.pop(n) for n in names)

    for n in [n for n in bits if _RTL_EXTRA.match(n)]:
        bits.pop(n)
    assert take(r"acc\d+") == inv["activation register file"]
    assert take(r"fifo_act\d+") == cfg.fifo_depth * cfg.act_bits
    # the RTL's FIFO column is the layer's column (0..n_cols, pe.col_bits); the inventory's is the
    # column within a batch (fifo_entry_bits - act_bits): the same 4 entries, different widths
    assert take(r"fifo_col\d+") == cfg.fifo_depth * pe.col_bits
    rest = sum(bits.values())
    pipeline = sum(v for k, v in inv.items() if k not in ("activation register file", "activation FIFO",
                                                          "codebook registers", "entry-word register"))
    assert rest == pipeline, f"RTL state not in the inventory: {sorted(bits.items())}"


def test_area_overrides_come_from_the_energy_tables_override_file(tmp_path):
    from energy_model import load_energy_table

    cfg = AcceleratorConfig()
    ov = tmp_path / "ov.toml"
    ov.write_text('[actions.dram_per_bit]\npJ = 10.0\nsource = "lpddr"\n\n'
                  '[areas.sram_bitcell]\num2 = 0.173\nsource = "a denser cell"\nunit = "per bit"\n')
    base, over = load_area_table(45), load_area_table(45, ov)
    assert over["sram_bitcell"].um2 == 0.173 and "override from" in over["sram_bitcell"].source
    assert over["nand2"] == base["nand2"]
    assert chip_area(cfg, over).pe_by_kind_um2["memory"] < 0.7 * chip_area(cfg, base).pe_by_kind_um2["memory"]
    assert load_energy_table(45, ov)["dram_per_bit"].pJ == 10.0          # one file, both sections
    assert load_area_table(7, ov)["sram_bitcell"].um2 == 0.173            # the value at the node: not scaled
    for body, match in (('[areas.sram_bitcell]\num2 = -1.0\nsource = "x"\n', "um2 = -1.0 is not allowed"),
                        ('[areas.bitcell]\num2 = 1.0\nsource = "x"\n', "is not an area entry"),
                        ('[areas.nand2]\num2 = 1.0\n', "needs source"),
                        ('[areas.nand2]\num2 = 1.0\nsource = "x"\nunit = "per gate"\n', "unit = 'per gate'"),
                        ('[areas.nand2]\npJ = 1.0\nsource = "x"\n', "key 'pJ' is not allowed"),
                        ('[area.nand2]\num2 = 1.0\nsource = "x"\n', "unknown key 'area'")):
        ov.write_text(body)
        with pytest.raises(EnergyTableError, match=match):
            load_area_table(45, ov)
