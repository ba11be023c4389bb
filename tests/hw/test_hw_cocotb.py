"""The cycle contract on the generated Verilog (cocotb 2.x + Icarus, from pytest).

For each small layer (single-tile and multi-tile: several output passes and input batches):
export the Verilog (hw/export.py), run tests/hw/eie_tb.py on it, and require the outputs to equal
sim.reference.reference_layer bit for bit and the total cycles and every PE's busy cycles to
equal sim.engine.run_layer exactly; every row's raw accumulator (``acc_data``, before write-back)
to equal the reference's and the engine's, and every PE's SRAM word reads and pointer reads
(``spmat_reads``, ``ptr_reads``) the access table's (tests/hw/hw_expect.py, checked against the
engine's counts). The hand-built edge-case layers of hw.cases.edge_case (write-back shifts 8
and 0) run here too. The multi-tile cases run the ``$readmemh`` variant of the
Verilog with the exported ``.hex`` files; another test checks that the hex files equal the
memories' init contents baked into the Verilog. tests/hw/test_hw_verilator.py runs the same
testbenches on Verilator (marked ``verilator`` and ``slow``).

Waveforms: set ``DCSIM_WAVES=1`` (``EIE_WAVES=1`` also works) to make every cocotb run in tests/hw
write ``eie_top.fst`` (FST) into its build directory (``<pytest tmp_path>/sim_build``; the path is
logged). The dump module is Verilog-2005 (the runner's own dumper needs -g2012, which these
builds cannot use: see the -g2005 note below).
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from arch.config import AcceleratorConfig, Overflow
from arch.fixedpoint import LayerFormat
from hw.cases import edge_case, random_case
from sim.engine import prepare_layer, run_layer
from sim.reference import reference_layer

pytest.importorskip("amaranth")
pytest.importorskip("cocotb")
# a mark, not a module-level skip: tests/hw/test_hw_verilator.py imports run_cocotb from here
pytestmark = pytest.mark.skipif(shutil.which("iverilog") is None, reason="iverilog not installed (make test installs it)")

from cocotb_tools.check_results import get_results  # noqa: E402
from cocotb_tools.runner import get_runner  # noqa: E402

from hw.array import host_load_writes  # noqa: E402
from hw.export import TOP_NAME, export_layer  # noqa: E402
from tests.hw.hw_expect import expectations  # noqa: E402

HERE = Path(__file__).parent

# (seed, n_rows, n_cols, weight density, activation density, fifo_depth, rel_index_bits, overflow,
#  acc_bits, relu, scale[, n_pe (default 1)])
CASES = [
    (1, 12, 9, 0.3, 0.6, 1, 4, "saturate", 32, True, 1.0),
    (2, 20, 20, 0.1, 0.5, 4, 2, "wrap", 32, False, 1.0),       # rel_index_bits 2: fillers
    (3, 5, 16, 0.8, 0.7, 1, 2, "wrap", 20, False, 30.0),       # small accumulator: wraps
    (4, 17, 11, 0.5, 0.4, 4, 2, "saturate", 20, False, 30.0),  # small accumulator: saturates
    (5, 9, 14, 0.2, 0.8, 2, 4, "saturate", 32, True, 1.0),
    (6, 7, 6, 0.4, 0.0, 4, 4, "saturate", 32, False, 1.0),     # all-zero activations: 1 cycle
    (7, 19, 5, 0.6, 0.9, 1, 3, "wrap", 24, True, 8.0),
    (8, 16, 18, 0.3, 0.7, 2, 2, "saturate", 32, False, 1.0, 2),   # 2 PEs
    (9, 20, 13, 0.4, 0.6, 1, 4, "wrap", 32, True, 1.0, 4),        # 4 PEs, depth 1: stalls
]


def _case(params):
    seed, rows, cols, dens, adens, depth, relb, ovf, accb, relu, scale, *rest = params
    n_pe = rest[0] if rest else 1
    cfg = AcceleratorConfig(n_pe=n_pe, fifo_depth=depth, rel_index_bits=relb, overflow=ovf, acc_bits=accb,
                            act_regs_per_pe=24, spmat_sram_bytes=512)
    return random_case(seed, cfg, rows, cols, dens, adens, relu, scale=scale)


def _tiled_case(params, **kw):
    """A case of :data:`MULTI` or :data:`HOST`: a 256-byte sparse-matrix SRAM, ReLU on odd seeds."""
    seed, n_pe, rows, cols, dens, adens, depth, relb, R = params
    cfg = AcceleratorConfig(n_pe=n_pe, fifo_depth=depth, rel_index_bits=relb, act_regs_per_pe=R,
                            spmat_sram_bytes=256)
    return random_case(seed, cfg, rows, cols, dens, adens, relu=bool(seed % 2), **kw)


@pytest.mark.parametrize("params", CASES, ids=[f"case{c[0]}" for c in CASES])
def test_rtl_matches_simulator(params, tmp_path):
    case = _case(params)
    cfg = case.cfg
    ref = reference_layer(case.indices, case.codebook_q, case.x, case.fmt, case.relu)
    res = run_layer(prepare_layer(case.indices, cfg), case.codebook_q, case.x, case.fmt, case.relu)
    assert np.array_equal(res.outputs, ref)
    if params[0] == 4:      # the saturating case must actually saturate (wrap would differ)
        fw = LayerFormat(**{**case.fmt.__dict__, "overflow": Overflow.WRAP})
        assert not np.array_equal(reference_layer(case.indices, case.codebook_q, case.x, fw, case.relu), ref)
    if params[0] == 3:
        fs = LayerFormat(**{**case.fmt.__dict__, "overflow": Overflow.SATURATE})
        assert not np.array_equal(reference_layer(case.indices, case.codebook_q, case.x, fs, case.relu), ref)
    if params[0] in (2, 4):   # rel_index_bits 2 with sparse columns: fillers are fetched
        assert prepare_layer(case.indices, cfg).streams[0].total_fillers > 0

    run_cocotb(case, ref, res, tmp_path)


@pytest.mark.parametrize("shift0", [False, True], ids=["shift8", "shift0"])
def test_rtl_edge_cases(shift0, tmp_path):
    """hw.cases.edge_case (write-back ties, exact saturation bounds of the activation and of the
    accumulator) on the generated Verilog: outputs against the hand-computed ones and the
    reference, raw accumulators, cycles, busy cycles and access counts."""
    case, expected = edge_case(shift0)
    ref = reference_layer(case.indices, case.codebook_q, case.x, case.fmt, case.relu)
    assert [int(o) for o in ref] == expected
    res = run_layer(prepare_layer(case.indices, case.cfg), case.codebook_q, case.x, case.fmt, case.relu)
    run_cocotb(case, ref, res, tmp_path)


def waves_requested() -> bool:
    return any(os.environ.get(v, "") not in ("", "0") for v in ("DCSIM_WAVES", "EIE_WAVES"))


def run_cocotb(case, ref, res, tmp_path, readmemh: bool = False, host: bool = False,
               simulator: str = "icarus") -> Path:
    """Export ``case``, run tests/hw/eie_tb.py (``host``: the host-interface top and
    tests/hw/eie_host_tb.py) on Icarus (or ``simulator="verilator"``: tests/hw/verilator.py), require
    a pass. ``ref`` and ``res`` (the reference's outputs, the engine's result) are checked against
    tests/hw/hw_expect.py's expectations, which the testbench checks the RTL against: outputs, raw
    accumulators, cycles, busy cycles and access counts. Returns the build directory."""
    cfg = case.cfg
    exp = expectations(case)
    assert exp["outputs"] == [int(o) for o in ref]
    assert exp["cycles"] == int(res.cycles) and exp["busy"] == [int(b) for b in res.busy]
    rtl = tmp_path / "rtl"
    src = export_layer(rtl, cfg, case.indices, case.codebook_q, case.x, case.fmt, case.relu, host=host)
    build = tmp_path / "sim_build"
    build.mkdir(parents=True, exist_ok=True)
    sources = [src]
    if readmemh:
        sources = [rtl / f"{TOP_NAME}_readmemh.v"]
        for h in rtl.glob("*.hex"):          # $readmemh names are relative to the simulator's directory
            shutil.copy(h, build / h.name)
    expect = tmp_path / "expect.json"
    extra = {}
    if host:
        from hw.image import layer_image
        img = layer_image(cfg, case.indices, case.codebook_q, case.x)
        extra = {"loads": [list(w) for w in host_load_writes(img)], "acts": img.acts}
    expect.write_text(json.dumps({**exp, **extra}))
    # -g2005 after the runner's -g2012: in SystemVerilog mode Icarus 11 runs a declaration's
    # initializer without an event, so Yosys's time-0 trigger of the `always @*` blocks in
    # Amaranth's Verilog never fires and the combinational logic starts (and stays) at x.
    if simulator == "verilator":
        from tests.hw.verilator import run_verilator
        test_module = "tests.hw.eie_host_tb" if host else "tests.hw.eie_tb"
        xml = run_verilator(sources, build, test_module, {"EIE_TB_EXPECT": str(expect)}, tmp_path / "results.xml")
        n_tests, n_failed = get_results(xml)
        assert n_tests == 1 and n_failed == 0, f"cocotb on Verilator: {n_failed} of {n_tests} failed ({tmp_path})"
        return build
    build_args = ["-g2005"]
    if waves_requested():
        dump = build / "eie_waves.v"
        wave_file = build / f"{TOP_NAME}.fst"      # vvp -fst (runner.test(waves=True))
        dump.write_text(f'module eie_waves;\ninitial begin\n  $dumpfile("{wave_file}");\n'
                        f'  $dumpvars(0, {TOP_NAME});\nend\nendmodule\n')
        sources.append(dump)
        build_args += ["-s", "eie_waves"]
        print(f"waveforms: {wave_file}")
    runner = get_runner("icarus")
    runner.build(sources=sources, hdl_toplevel=TOP_NAME, build_dir=build, timescale=("1ns", "1ps"),
                 build_args=build_args, always=True)
    xml = runner.test(hdl_toplevel=TOP_NAME, test_module="tests.hw.eie_host_tb" if host else "tests.hw.eie_tb", test_dir=build, build_dir=build,
                      extra_env={"EIE_TB_EXPECT": str(expect)}, results_xml=str(tmp_path / "results.xml"),
                      waves=waves_requested())
    n_tests, n_failed = get_results(xml)
    assert n_tests == 1 and n_failed == 0, f"cocotb: {n_failed} of {n_tests} failed (log above, {tmp_path})"
    return build


# (seed, n_pe, n_rows, n_cols, density, act density, fifo_depth, rel_index_bits, act_regs_per_pe)
MULTI = [
    (11, 1, 9, 13, 0.4, 0.7, 2, 3, 4),     # 3 passes x 4 batches
    (12, 2, 14, 11, 0.3, 0.6, 1, 2, 3),    # fillers, stalls
    (13, 4, 21, 30, 0.5, 0.5, 3, 4, 2),
    (14, 8, 20, 17, 0.6, 0.8, 1, 3, 1),
]


@pytest.mark.parametrize("params", MULTI, ids=[f"multi{c[0]}" for c in MULTI])
def test_rtl_multi_tile_readmemh(params, tmp_path):
    case = _tiled_case(params)
    cfg = case.cfg
    prep = prepare_layer(case.indices, cfg)
    assert prep.n_passes > 1 and prep.n_batches > 1
    ref = reference_layer(case.indices, case.codebook_q, case.x, case.fmt, case.relu)
    res = run_layer(prep, case.codebook_q, case.x, case.fmt, case.relu)
    run_cocotb(case, ref, res, tmp_path, readmemh=True)


# (seed, n_pe, n_rows, n_cols, density, act density, fifo_depth, rel_index_bits, act_regs_per_pe)
HOST = [
    (21, 1, 9, 13, 0.4, 0.7, 2, 3, 4),     # several passes and batches
    (22, 2, 14, 11, 0.3, 0.6, 1, 2, 3),    # fillers, stalls
    (23, 4, 21, 30, 0.5, 0.5, 3, 4, 2),
]


@pytest.mark.parametrize("params", HOST, ids=[f"host{c[0]}" for c in HOST])
def test_rtl_host_loads_through_ports(params, tmp_path):
    """The host-interface Verilog (memories empty): the testbench writes every SRAM word, pointer
    and codebook entry through the load port and the activations through the activation port,
    pulses start, and gets the simulator's outputs, cycles and busy cycles."""
    case = _tiled_case(params, scale=8.0)
    cfg = case.cfg
    prep = prepare_layer(case.indices, cfg)
    assert prep.n_tiles > 1
    ref = reference_layer(case.indices, case.codebook_q, case.x, case.fmt, case.relu)
    res = run_layer(prep, case.codebook_q, case.x, case.fmt, case.relu)
    run_cocotb(case, ref, res, tmp_path, host=True)
    man = json.loads((tmp_path / "rtl" / f"{TOP_NAME}.json").read_text())
    assert man["host"] and man["verilog_readmemh"] is None
    assert {p["name"] for p in man["ports"]} >= {"start", "act_we", "ld_we", "ld_pe", "ld_mem", "ld_addr", "ld_data"}
    assert "initial $readmemh" not in (tmp_path / "rtl" / f"{TOP_NAME}.v").read_text()


def test_hex_files_equal_memory_inits(tmp_path):
    """Every .hex file parses back to the init contents Amaranth baked into the Verilog; the manifest
    lists every memory with its width, depth and file."""
    from hw.export import read_hex, verilog_inits

    cfg = AcceleratorConfig(n_pe=4, act_regs_per_pe=2, spmat_sram_bytes=256, rel_index_bits=3)
    case = random_case(5, cfg, 19, 23, 0.4, 0.6, relu=True, scale=10.0)
    src = export_layer(tmp_path, cfg, case.indices, case.codebook_q, case.x, case.fmt, case.relu)
    inits = verilog_inits(src.read_text())
    man = json.loads((tmp_path / f"{TOP_NAME}.json").read_text())
    assert {(m["module"], m["memory"]) for m in man["memories"]} == set(inits)
    assert len(man["memories"]) == 1 + 4 * cfg.n_pe
    for m in man["memories"]:
        words = read_hex(tmp_path / m["file"])
        assert len(words) == m["depth"], m["name"]
        assert all(0 <= w < (1 << m["width"]) for w in words), m["name"]
        assert words == inits[(m["module"], m["memory"])], m["name"]
    assert {p["name"] for p in man["ports"]} >= {"clk", "rst", "done", "cycles", "busy_pe", "busy", "out_pe",
                                                 "out_row", "out_data", "acc_data", "spmat_reads", "ptr_reads"}
    assert man["parameters"]["n_passes"] > 1 and man["parameters"]["n_batches"] > 1
    rm = (tmp_path / f"{TOP_NAME}_readmemh.v").read_text()
    assert rm.count("$readmemh") == len(man["memories"]) and "initial begin" not in rm
