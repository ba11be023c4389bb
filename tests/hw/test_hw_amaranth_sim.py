"""Quick check of the RTL in Amaranth's own simulator (async add_testbench): random small
layers, single-tile and multi-tile (several output passes and input batches), outputs against
sim.reference bit for bit, cycles and every PE's busy cycles against sim.engine.run_layer exactly;
every row's raw accumulator (read back after ``done``) against the reference's and the engine's,
and every PE's SRAM word reads and pointer reads against the access table's rule and the engine's
counts (tests/hw/hw_expect.py). The same contract is checked on the generated Verilog in
test_hw_cocotb / test_hw_lenet."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("amaranth")

from amaranth.sim import Simulator  # noqa: E402

from arch.config import AcceleratorConfig  # noqa: E402
from arch.fixedpoint import signed_max  # noqa: E402
from hw.array import EIEArray, host_load_writes  # noqa: E402
from hw.cases import edge_case, random_case  # noqa: E402
from sim.engine import prepare_layer  # noqa: E402
from sim.reference import reference_layer  # noqa: E402
from tests.hw.hw_expect import expectations  # noqa: E402


def _read_back(ctx, top, n_pe: int, n_rows: int, res: dict) -> None:
    """After ``done``: the cycle counter, every PE's busy and access counters, every output row
    and every row's raw accumulator into ``res``."""
    res["cycles"] = ctx.get(top.cycles)
    res["busy"], res["spmat_reads"], res["ptr_reads"] = [], [], []
    for p in range(n_pe):
        ctx.set(top.busy_pe, p)
        res["busy"].append(ctx.get(top.busy))
        res["spmat_reads"].append(ctx.get(top.spmat_reads))
        res["ptr_reads"].append(ctx.get(top.ptr_reads))
    res["outputs"], res["accs"] = [], []
    for i in range(n_rows):
        ctx.set(top.out_pe, i % n_pe)
        ctx.set(top.out_row, i // n_pe)
        res["outputs"].append(ctx.get(top.out_data))
        res["accs"].append(ctx.get(top.acc_data))


def _check(got: dict, exp: dict, ctx: str = "") -> None:
    """The RTL's read-back against :func:`tests.hw.hw_expect.expectations`: outputs and raw
    accumulators bit for bit, cycles and busy cycles exactly, access counts per PE."""
    assert got["outputs"] == exp["outputs"], ctx
    assert got["accs"] == exp["accs"], f"raw accumulators: {ctx}"
    assert got["cycles"] == exp["cycles"], ctx
    assert got["busy"] == exp["busy"], ctx
    assert got["spmat_reads"] == exp["spmat_reads"], f"SRAM word reads: {ctx}"
    assert got["ptr_reads"] == exp["ptr_reads"], f"pointer reads: {ctx}"

def _run_rtl(case):
    top = EIEArray(case.cfg, case.indices, case.codebook_q, case.x, case.fmt, case.relu)
    sim = Simulator(top)
    sim.add_clock(1e-8)
    res = {}
    N = case.cfg.n_pe

    async def tb(ctx):
        for _ in range(100000):
            if ctx.get(top.done):
                break
            await ctx.tick()
        _read_back(ctx, top, N, case.indices.shape[0], res)

    sim.add_testbench(tb)
    sim.run()
    return res


@pytest.mark.parametrize("n_pe", [1, 2, 4])
def test_amaranth_sim_matches_simulator(n_pe):
    rng = np.random.default_rng(100 + n_pe)
    for seed in range(25):
        cfg = AcceleratorConfig(n_pe=n_pe, fifo_depth=int(rng.choice([1, 2, 4])),
                                rel_index_bits=int(rng.choice([2, 4])), act_regs_per_pe=24,
                                spmat_sram_bytes=1024, overflow=str(rng.choice(["saturate", "wrap"])),
                                acc_bits=int(rng.choice([20, 32])))
        case = random_case(seed, cfg, int(rng.integers(1, 21)), int(rng.integers(1, 21)),
                           float(rng.uniform(0.05, 0.8)), float(rng.uniform(0.0, 0.9)), bool(rng.integers(2)),
                           scale=float(rng.choice([1.0, 30.0])))
        got = _run_rtl(case)
        ctx = f"seed {seed}, cfg fifo {cfg.fifo_depth} rel {cfg.rel_index_bits} {cfg.overflow.value}, {case.indices.shape}"
        exp = expectations(case)
        assert sum(exp["spmat_reads"]) == exp["engine_spmat_reads"], ctx    # one pass: the engine's count
        _check(got, exp, ctx)


@pytest.mark.parametrize("n_pe", [1, 2, 4])
def test_amaranth_sim_multi_tile(n_pe):
    """Several output passes and input batches (small act_regs_per_pe): cycles, busy and outputs."""
    rng = np.random.default_rng(200 + n_pe)
    n_multi = n_differ = 0
    for seed in range(12):
        cfg = AcceleratorConfig(n_pe=n_pe, fifo_depth=int(rng.choice([1, 2, 3, 4])),
                                rel_index_bits=int(rng.choice([2, 3, 4])), act_regs_per_pe=int(rng.integers(1, 5)),
                                spmat_sram_bytes=1024, overflow=str(rng.choice(["saturate", "wrap"])),
                                acc_bits=int(rng.choice([20, 32])))
        case = random_case(1000 + seed, cfg, int(rng.integers(1, 25)), int(rng.integers(1, 25)),
                           float(rng.uniform(0.05, 0.8)), float(rng.uniform(0.0, 0.9)), bool(rng.integers(2)),
                           scale=float(rng.choice([1.0, 30.0])))
        prep = prepare_layer(case.indices, cfg)
        n_multi += prep.n_tiles > 1
        got = _run_rtl(case)
        exp = expectations(case)
        ctx = (f"seed {seed}, R {cfg.act_regs_per_pe} fifo {cfg.fifo_depth} rel {cfg.rel_index_bits}, "
               f"{case.indices.shape}, {prep.n_passes} passes x {prep.n_batches} batches")
        _check(got, exp, ctx)
        n_differ += sum(exp["spmat_reads"]) != exp["engine_spmat_reads"]
    assert n_multi >= 6
    # several passes: a pass's stream can start inside an SRAM word (hw/image.py packs the passes
    # one after another), where the engine's pass-local word count differs (docs/hardware.md)
    assert n_differ <= n_multi


def _run_rtl_host(case, idle_before=3, load_memories=True):
    """The host-interface top: load the memories through the load port (every word of every PE's
    SRAM, pointer banks and codebook) and the input batches through the activation port, then start."""
    top = EIEArray(case.cfg, case.indices, case.codebook_q, case.x, case.fmt, case.relu, host=True)
    words = top.image.acts
    loads = host_load_writes(top.image) if load_memories else []
    sim = Simulator(top)
    sim.add_clock(1e-8)
    res = {}
    N = case.cfg.n_pe

    async def tb(ctx):
        for _ in range(idle_before):                     # nothing runs before start
            await ctx.tick()
        assert ctx.get(top.cycles) == 0 and not ctx.get(top.done)
        for pe, mem, addr, data in loads:
            ctx.set(top.ld_we, 1)
            ctx.set(top.ld_pe, pe)
            ctx.set(top.ld_mem, mem)
            ctx.set(top.ld_addr, addr)
            ctx.set(top.ld_data, data)
            await ctx.tick()
        ctx.set(top.ld_we, 0)
        for b, w in enumerate(words):
            ctx.set(top.act_we, 1)
            ctx.set(top.act_addr, b)
            ctx.set(top.act_wdata, w)
            await ctx.tick()
        ctx.set(top.act_we, 0)
        assert ctx.get(top.cycles) == 0 and not ctx.get(top.done)
        ctx.set(top.start, 1)
        await ctx.tick()
        ctx.set(top.start, 0)
        edges = 0                                         # clock edges from start to done
        for _ in range(100000):
            if ctx.get(top.done):
                break
            await ctx.tick()
            edges += 1
        res["edges"] = edges
        _read_back(ctx, top, N, case.indices.shape[0], res)

    sim.add_testbench(tb)
    sim.run()
    return res


@pytest.mark.parametrize("n_pe", [1, 2, 4])
def test_amaranth_sim_host_loads_everything(n_pe):
    """SRAM words, pointer banks and codebook written through the load port (the memories start
    empty), activations through the activation port, then `start`: the same outputs, cycles
    (counted from start) and busy cycles as the baked-in top, and as the simulator; multi-tile
    layers included."""
    rng = np.random.default_rng(300 + n_pe)
    n_multi = 0
    for seed in range(6):
        cfg = AcceleratorConfig(n_pe=n_pe, fifo_depth=int(rng.choice([1, 2, 4])),
                                rel_index_bits=int(rng.choice([2, 4])), act_regs_per_pe=int(rng.integers(1, 5)),
                                spmat_sram_bytes=1024, overflow=str(rng.choice(["saturate", "wrap"])),
                                acc_bits=int(rng.choice([20, 32])))
        case = random_case(2000 + seed, cfg, int(rng.integers(1, 21)), int(rng.integers(1, 21)),
                           float(rng.uniform(0.05, 0.8)), float(rng.uniform(0.0, 0.9)), bool(rng.integers(2)),
                           scale=float(rng.choice([1.0, 30.0])))
        host = _run_rtl_host(case)
        baked = _run_rtl(case)
        prep = prepare_layer(case.indices, cfg)
        n_multi += prep.n_tiles > 1
        exp = expectations(case)
        ctx = f"seed {seed}, {case.indices.shape}"
        assert host.pop("edges") == exp["cycles"], ctx
        assert host == baked, ctx
        _check(host, exp, ctx)
    assert n_multi >= 2


def test_amaranth_sim_host_memories_start_empty():
    """Without the load, the host top's memories are zero: a layer with nonzero weights and
    activations gives all-zero outputs (every pointer 0: no entries fetched)."""
    cfg = AcceleratorConfig(n_pe=2, act_regs_per_pe=4, spmat_sram_bytes=256)
    case = random_case(7, cfg, 8, 9, 0.6, 0.8, False, scale=30.0)
    assert np.any(reference_layer(case.indices, case.codebook_q, case.x, case.fmt, case.relu) != 0)
    got = _run_rtl_host(case, load_memories=False)
    assert got["outputs"] == [0] * 8


# ---------------------------------------------------------------- rounding ties and exact bounds
@pytest.mark.parametrize("shift0", [False, True])
def test_amaranth_sim_rounding_ties_and_exact_bounds(shift0):
    """hw.cases.edge_case: outputs, raw accumulators (the accumulator's saturation at its exact
    bounds, hidden by the write-back clamp at shift 8), cycles, busy and access counts."""
    case, expected = edge_case(shift0)
    assert case.fmt.writeback_shift == (0 if shift0 else 8)
    exp = expectations(case)
    assert exp["outputs"] == expected                       # the hand-computed contract
    top = signed_max(case.fmt.acc_bits)
    assert top in exp["accs"] and -top - 1 in exp["accs"]   # both accumulator bounds reached
    _check(_run_rtl(case), exp, f"shift {case.fmt.writeback_shift}")


def _faulty_writeback(kind):
    """hw.pe.writeback_value with one injected fault: ties to even, or a clamp bound one LSB in."""
    from amaranth.hdl import Mux, Signal, signed

    from arch.fixedpoint import signed_max, signed_min

    def writeback_value(m, acc, fmt, relu):
        r = fmt.writeback_shift
        y = Signal(signed(fmt.acc_bits + 1))
        if r > 0 and kind == "ties to even":
            q, rem = acc >> r, acc & ((1 << r) - 1)
            half = 1 << (r - 1)
            m.d.comb += y.eq(Mux((rem > half) | ((rem == half) & q[0]), q + 1, q))
        elif r > 0:
            m.d.comb += y.eq((acc + (1 << (r - 1))) >> r)
        else:
            m.d.comb += y.eq(acc)
        lo, hi = signed_min(fmt.act_bits), signed_max(fmt.act_bits)
        if kind == "clamp bound":
            hi -= 1
        lo = 0 if relu else lo
        out = Signal(signed(fmt.act_bits))
        m.d.comb += out.eq(Mux(y > hi, hi, Mux(y < lo, lo, y)))
        return out
    return writeback_value


def _faulty_accumulate():
    """hw.pe.accumulate_value with its saturation's top one LSB low."""
    from amaranth.hdl import Mux, Signal, signed

    from arch.fixedpoint import signed_max, signed_min

    def accumulate_value(m, acc, t, fmt):
        s = Signal(signed(max(len(acc), len(t)) + 1))
        m.d.comb += s.eq(acc + t)
        lo, hi = signed_min(fmt.acc_bits), signed_max(fmt.acc_bits) - 1
        return Mux(s > hi, hi, Mux(s < lo, lo, s))
    return accumulate_value


def _unshared_spmat_reads(keep_across_tiles: bool):
    """hw.pe.spmat_read_enable with a fault: the SRAM read on every fetch (the RTL before the
    access counters), or the word kept across tiles (``tile_end`` ignored)."""
    from amaranth.hdl import Signal

    def spmat_read_enable(m, fetch, word, tile_end):
        if not keep_across_tiles:
            return fetch
        last_word, last_valid, en = Signal.like(word), Signal(), Signal()
        m.d.comb += en.eq(fetch & ~(last_valid & (last_word == word)))
        with m.If(fetch):
            m.d.sync += [last_word.eq(word), last_valid.eq(1)]
        return en
    return spmat_read_enable


def _multi_tile_case():
    """A multi-tile layer (5 passes x 7 batches on 2 PEs) whose PEs' fetches reuse an SRAM word
    across a tile boundary."""
    cfg = AcceleratorConfig(n_pe=2, act_regs_per_pe=2, spmat_sram_bytes=256, rel_index_bits=3)
    return random_case(31, cfg, 17, 25, 0.5, 0.8, False)


FAULTS = ["ties to even", "clamp bound", "accumulator bound", "spmat read every fetch",
          "spmat word kept across tiles", "pointer reads once per pop"]


@pytest.mark.parametrize("fault", FAULTS)
def test_the_edge_cases_catch_injected_rtl_faults(fault, monkeypatch):
    """Each injected fault makes the RTL differ from the contract, and the read-back catches it:
    the write-back faults in the outputs; the accumulator bound one LSB in (at write-back shift 8
    the outputs hide it: only the raw accumulators show it); the SRAM read and pointer-read faults
    (outputs, cycles and busy cycles unchanged) in the access counts."""
    import hw.pe

    if fault == "accumulator bound":
        monkeypatch.setattr(hw.pe, "accumulate_value", _faulty_accumulate())
    elif fault.startswith("spmat"):
        monkeypatch.setattr(hw.pe, "spmat_read_enable", _unshared_spmat_reads("tiles" in fault))
    elif fault.startswith("pointer"):
        monkeypatch.setattr(hw.pe, "POINTER_READS_PER_POP", 1)
    else:
        monkeypatch.setattr(hw.pe, "writeback_value", _faulty_writeback(fault))
    cases = [edge_case(False)[0], edge_case(True)[0]]
    if fault == "spmat word kept across tiles":
        cases = [_multi_tile_case()]
    caught = set()
    for case in cases:
        got, exp = _run_rtl(case), expectations(case)
        shift = case.fmt.writeback_shift
        caught |= {(key, shift) for key in ("outputs", "accs", "cycles", "busy", "spmat_reads", "ptr_reads")
                   if got[key] != exp[key]}
    assert caught, f"the injected fault ({fault}) went unnoticed"
    keys = {key for key, _shift in caught}
    if fault in ("ties to even", "clamp bound"):
        assert "outputs" in keys
    elif fault == "accumulator bound":
        # shift 8: the outputs equal the contract's, the raw accumulators do not
        assert ("accs", 8) in caught and ("outputs", 8) not in caught
    else:
        assert keys == {"spmat_reads"} if fault.startswith("spmat") else keys == {"ptr_reads"}, caught
