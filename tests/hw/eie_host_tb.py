"""cocotb 2.x testbench for the host-interface top (``export_layer(..., host=True)``); run by
tests/hw/test_hw_cocotb.py.

$EIE_TB_EXPECT names a JSON file with the load-port writes (``loads``: ``[pe, mem, addr, data]``,
hw.array.host_load_writes), the activation words (``acts``) and the expected outputs, cycles and
busy cycles. The testbench checks that nothing runs before ``start``, loads every memory through
the ports, pulses ``start`` and counts the clock edges from ``start`` to ``done``.
"""
import json
import os

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge

from tests.hw.tb_common import read_back_and_check


@cocotb.test()
async def run_layer_host(dut):
    with open(os.environ["EIE_TB_EXPECT"]) as f:
        exp = json.load(f)
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    dut.rst.value = 1
    for sig in (dut.busy_pe, dut.out_pe, dut.out_row, dut.start, dut.act_we, dut.act_addr, dut.act_wdata,
                dut.ld_we, dut.ld_pe, dut.ld_mem, dut.ld_addr, dut.ld_data):
        sig.value = 0
    for _ in range(3):
        await RisingEdge(dut.clk)
    await FallingEdge(dut.clk)
    dut.rst.value = 0
    for pe, mem, addr, data in exp["loads"]:        # inputs change on the falling edge
        dut.ld_we.value = 1
        dut.ld_pe.value = pe
        dut.ld_mem.value = mem
        dut.ld_addr.value = addr
        dut.ld_data.value = data
        await FallingEdge(dut.clk)
    dut.ld_we.value = 0
    for b, w in enumerate(exp["acts"]):
        dut.act_we.value = 1
        dut.act_addr.value = b
        dut.act_wdata.value = w
        await FallingEdge(dut.clk)
    dut.act_we.value = 0
    assert dut.cycles.value.to_unsigned() == 0 and not int(dut.done.value), "the layer ran before start"
    dut.start.value = 1
    await FallingEdge(dut.clk)
    dut.start.value = 0
    edges = 0                                        # edges after the one that saw start
    limit = 10 * exp["cycles"] + 100
    while True:
        await ReadOnly()
        if int(dut.done.value):
            break
        await RisingEdge(dut.clk)
        edges += 1
        assert edges < limit, f"no done after {edges} cycles (expected {exp['cycles']})"
    await read_back_and_check(dut, exp, edges, "host top")
