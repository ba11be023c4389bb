"""Shared by the cocotb testbenches: read the results back after ``done`` and check them."""
from cocotb.triggers import FallingEdge


async def read_back_and_check(dut, exp: dict, edges: int, tag: str) -> None:
    """Read the RTL cycle counter, every PE's busy and access counters (``spmat_reads``,
    ``ptr_reads``) and every output row and its raw accumulator (``acc_data``), one read per
    falling edge, then require them and the testbench's own edge count to equal the expected
    values (tests/hw/hw_expect.py: the reference's outputs and accumulators, the engine's cycles
    and busy cycles, the access counts checked against the engine's)."""
    n_pe = exp["n_pe"]
    await FallingEdge(dut.clk)
    cycles_rtl = dut.cycles.value.to_unsigned()
    busy, spmat, ptr = [], [], []
    for p in range(n_pe):
        dut.busy_pe.value = p
        await FallingEdge(dut.clk)
        busy.append(dut.busy.value.to_unsigned())
        spmat.append(dut.spmat_reads.value.to_unsigned())
        ptr.append(dut.ptr_reads.value.to_unsigned())
    outs, accs = [], []
    for i in range(exp["n_rows"]):
        dut.out_pe.value = i % n_pe
        dut.out_row.value = i // n_pe
        await FallingEdge(dut.clk)
        outs.append(dut.out_data.value.to_signed())
        accs.append(dut.acc_data.value.to_signed())
    dut._log.info("%s: cycles tb %d, rtl counter %d, sim %d; busy rtl %s sim %s; SRAM word reads rtl %s "
                  "(engine total %d); pointer reads rtl %s (engine total %d)", tag, edges, cycles_rtl,
                  exp["cycles"], busy, exp["busy"], spmat, exp["engine_spmat_reads"], ptr, exp["engine_ptr_reads"])
    assert edges == exp["cycles"], f"testbench counted {edges} cycles, the simulator {exp['cycles']}"
    assert cycles_rtl == exp["cycles"], f"RTL cycle counter {cycles_rtl}, the simulator {exp['cycles']}"
    assert busy == exp["busy"], f"busy cycles per PE: RTL {busy}, simulator {exp['busy']}"
    assert outs == exp["outputs"], f"outputs differ: RTL {outs}, reference {exp['outputs']}"
    assert accs == exp["accs"], f"raw accumulators differ: RTL {accs}, reference {exp['accs']}"
    assert spmat == exp["spmat_reads"], f"SRAM word reads per PE: RTL {spmat}, expected {exp['spmat_reads']}"
    assert ptr == exp["ptr_reads"], f"pointer reads per PE: RTL {ptr}, expected {exp['ptr_reads']}"
