"""The cycle contract on the generated Verilog (cocotb 2.x + Icarus, from pytest).

For each small single-tile layer: export the Verilog (hw/export.py), run tests/hw/eie_tb.py on
it, and require the outputs to equal sim.reference.reference_layer bit for bit and the total
cycles and the PE's busy cycles to equal sim.engine.run_layer exactly.
Set EIE_WAVES=1 to dump waveforms (Icarus: FST/VCD in the build directory).
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
from hw.cases import random_case
from sim.engine import prepare_layer, run_layer
from sim.reference import reference_layer

pytest.importorskip("amaranth")
pytest.importorskip("cocotb")
if shutil.which("iverilog") is None:
    pytest.skip("iverilog not installed (make test installs it)", allow_module_level=True)

from cocotb_tools.check_results import get_results  # noqa: E402
from cocotb_tools.runner import get_runner  # noqa: E402

from hw.export import TOP_NAME, export_layer  # noqa: E402

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

    src = export_layer(tmp_path / "rtl", cfg, case.indices, case.codebook_q, case.x, case.fmt, case.relu)
    expect = tmp_path / "expect.json"
    expect.write_text(json.dumps({"n_pe": cfg.n_pe, "n_rows": int(case.indices.shape[0]),
                                  "cycles": int(res.cycles), "busy": [int(b) for b in res.busy],
                                  "outputs": [int(o) for o in ref]}))
    waves = os.environ.get("EIE_WAVES", "") not in ("", "0")
    runner = get_runner("icarus")
    build = tmp_path / "sim_build"
    # -g2005 after the runner's -g2012: in SystemVerilog mode Icarus 11 runs a declaration's
    # initializer without an event, so Yosys's time-0 trigger of the `always @*` blocks in
    # Amaranth's Verilog never fires and the combinational logic starts (and stays) at x.
    runner.build(sources=[src], hdl_toplevel=TOP_NAME, build_dir=build, timescale=("1ns", "1ps"),
                 build_args=["-g2005"], always=True, waves=waves)
    xml = runner.test(hdl_toplevel=TOP_NAME, test_module="eie_tb", test_dir=HERE, build_dir=build,
                      extra_env={"EIE_TB_EXPECT": str(expect)}, results_xml=str(tmp_path / "results.xml"),
                      waves=waves)
    n_tests, n_failed = get_results(xml)
    assert n_tests == 1 and n_failed == 0, f"cocotb: {n_failed} of {n_tests} failed (log above, {tmp_path})"
