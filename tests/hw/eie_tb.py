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


@cocotb.test()
async def run_layer(dut):
    with open(os.environ["EIE_TB_EXPECT"]) as f:
        exp = json.load(f)
    n_pe = exp["n_pe"]
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
    await FallingEdge(dut.clk)
    cycles_rtl = dut.cycles.value.to_unsigned()
    busy = []
    for p in range(n_pe):
        dut.busy_pe.value = p
        await FallingEdge(dut.clk)
        busy.append(dut.busy.value.to_unsigned())
    outs = []
    for i in range(exp["n_rows"]):
        dut.out_pe.value = i % n_pe
        dut.out_row.value = i // n_pe
        await FallingEdge(dut.clk)
        outs.append(dut.out_data.value.to_signed())
    dut._log.info("cycles: tb %d, rtl counter %d, sim %d; busy rtl %s sim %s", edges, cycles_rtl,
                  exp["cycles"], busy, exp["busy"])
    assert edges == exp["cycles"], f"testbench counted {edges} cycles, the simulator {exp['cycles']}"
    assert cycles_rtl == exp["cycles"], f"RTL cycle counter {cycles_rtl}, the simulator {exp['cycles']}"
    assert busy == exp["busy"], f"busy cycles per PE: RTL {busy}, simulator {exp['busy']}"
    assert outs == exp["outputs"], f"outputs differ: RTL {outs}, reference {exp['outputs']}"
