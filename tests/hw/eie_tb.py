"""cocotb 2.x testbench for the generated EIE top (hw/export.py); run by tests/hw/test_hw_cocotb.py.

The expected values come from a JSON file named by $EIE_TB_EXPECT: the reference outputs
(sim.reference.reference_layer), and the simulator's cycles and per-PE busy cycles
(sim.engine.run_layer). The testbench counts the clock edges from the release of reset to
``done`` itself and also reads the RTL's own cycle counter; both must equal the simulator's.
"""
import json
import os

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge

from tests.hw.tb_common import read_back_and_check


@cocotb.test()
async def run_layer(dut):
    with open(os.environ["EIE_TB_EXPECT"]) as f:
        exp = json.load(f)
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    dut.rst.value = 1
    dut.busy_pe.value = 0
    dut.out_pe.value = 0
    dut.out_row.value = 0
    for _ in range(3):
        await RisingEdge(dut.clk)
    await FallingEdge(dut.clk)
    dut.rst.value = 0
    edges = 0
    limit = 10 * exp["cycles"] + 100
    while True:
        await RisingEdge(dut.clk)          # the end of cycle `edges`
        edges += 1
        await ReadOnly()
        if int(dut.done.value):
            break
        assert edges < limit, f"no done after {edges} cycles (expected {exp['cycles']})"
    await read_back_and_check(dut, exp, edges, "baked-in top")
