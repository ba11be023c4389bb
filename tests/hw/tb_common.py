"""Shared by the cocotb testbenches: read the results back after ``done`` and check them."""
from cocotb.triggers import FallingEdge


async def read_back_and_check(dut, exp: dict, edges: int, tag: str) -> None:
    """Read the RTL cycle counter, every PE's busy counter and every output row (one per falling
    edge), then require them and the testbench's own edge count to equal the expected values."""
    n_pe = exp["n_pe"]
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
    dut._log.info("%s: cycles tb %d, rtl counter %d, sim %d; busy rtl %s sim %s", tag, edges, cycles_rtl,
                  exp["cycles"], busy, exp["busy"])
    assert edges == exp["cycles"], f"testbench counted {edges} cycles, the simulator {exp['cycles']}"
    assert cycles_rtl == exp["cycles"], f"RTL cycle counter {cycles_rtl}, the simulator {exp['cycles']}"
    assert busy == exp["busy"], f"busy cycles per PE: RTL {busy}, simulator {exp['busy']}"
    assert outs == exp["outputs"], f"outputs differ: RTL {outs}, reference {exp['outputs']}"
