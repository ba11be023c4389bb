"""Quick check of the RTL in Amaranth's own simulator (async add_testbench): random small
layers, single-tile and multi-tile (several output passes and input batches), outputs against
sim.reference bit for bit, cycles and every PE's busy cycles against sim.engine.run_layer exactly.
The same contract is checked on the generated Verilog in test_hw_cocotb / test_hw_lenet."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("amaranth")

from amaranth.sim import Simulator  # noqa: E402

from arch.config import AcceleratorConfig  # noqa: E402
from hw.array import EIEArray, host_load_writes  # noqa: E402
from hw.cases import random_case  # noqa: E402
from sim.engine import prepare_layer, run_layer  # noqa: E402
from sim.reference import reference_layer  # noqa: E402



def _read_back(ctx, top, n_pe: int, n_rows: int, res: dict) -> None:
    """After ``done``: the cycle counter, every PE's busy counter and every output row into ``res``."""
    res["cycles"] = ctx.get(top.cycles)
    res["busy"] = []
    for p in range(n_pe):
        ctx.set(top.busy_pe, p)
        res["busy"].append(ctx.get(top.busy))
    res["outputs"] = []
    for i in range(n_rows):
        ctx.set(top.out_pe, i % n_pe)
        ctx.set(top.out_row, i // n_pe)
        res["outputs"].append(ctx.get(top.out_data))

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
        ref = reference_layer(case.indices, case.codebook_q, case.x, case.fmt, case.relu)
        res = run_layer(prepare_layer(case.indices, cfg), case.codebook_q, case.x, case.fmt, case.relu)
        ctx = f"seed {seed}, cfg fifo {cfg.fifo_depth} rel {cfg.rel_index_bits} {cfg.overflow.value}, {case.indices.shape}"
        assert got["outputs"] == [int(o) for o in ref], ctx
        assert got["cycles"] == res.cycles, ctx
        assert got["busy"] == [int(b) for b in res.busy], ctx


@pytest.mark.parametrize("n_pe", [1, 2, 4])
def test_amaranth_sim_multi_tile(n_pe):
    """Several output passes and input batches (small act_regs_per_pe): cycles, busy and outputs."""
    rng = np.random.default_rng(200 + n_pe)
    n_multi = 0
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
        ref = reference_layer(case.indices, case.codebook_q, case.x, case.fmt, case.relu)
        res = run_layer(prep, case.codebook_q, case.x, case.fmt, case.relu)
        ctx = (f"seed {seed}, R {cfg.act_regs_per_pe} fifo {cfg.fifo_depth} rel {cfg.rel_index_bits}, "
               f"{case.indices.shape}, {prep.n_passes} passes x {prep.n_batches} batches, tiles {res.tile_cycles}")
        assert got["outputs"] == [int(o) for o in ref], ctx
        assert got["cycles"] == res.cycles, ctx
        assert got["busy"] == [int(b) for b in res.busy], ctx
    assert n_multi >= 6


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
        res = run_layer(prep, case.codebook_q, case.x, case.fmt, case.relu)
        ctx = f"seed {seed}, {case.indices.shape}"
        assert host["outputs"] == baked["outputs"], ctx
        assert host["cycles"] == baked["cycles"] == host["edges"] == res.cycles, ctx
        assert host["busy"] == baked["busy"] == [int(b) for b in res.busy], ctx
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
def _edge_case(shift0: bool):
    """A hand-built layer whose rows hit write-back ties and the saturation bounds exactly, with the
    output each row must give (docs/microarchitecture.md's arithmetic: round half up, clamp).

    Default widths (``shift0 = False``: product shift 6, write-back shift 8; column 0's activation
    is 64, so a term there equals its weight, and column 1's is 16384, a term 256 x its weight),
    or a 16-bit accumulator with the activation's fraction (``shift0``: write-back shift 0, product
    shift 14; the accumulator's own saturation shows in the output)."""
    from hw.cases import LayerCase
    from arch.fixedpoint import layer_format

    if shift0:
        cfg = AcceleratorConfig(n_pe=2, acc_bits=16, acc_frac_bits=8, act_regs_per_pe=24, spmat_sram_bytes=1024)
        x = np.array([32767, 16384, 0], dtype=np.int64)
        cb = [0, 16384, 1, -32768, -1, 32767]
        # rows as (index in column 0, index in column 1) -> expected output
        rows = [((1, 0), 32767),             # 32767 x 16384 >> 14 = 32767: the accumulator's top, exactly
                ((1, 2), 32767),             # 32767 + 1: saturates at the top
                ((0, 3), -32768),            # 16384 x -32768 >> 14: the bottom, exactly
                ((4, 3), -32768),            # -2 - 32768: saturates at the bottom
                ((5, 0), 32767)]             # 32767 x 32767 >> 14 = 65532 in one term: saturates
    else:
        cfg = AcceleratorConfig(n_pe=2, act_regs_per_pe=24, spmat_sram_bytes=1024)
        x = np.array([64, 16384, 0], dtype=np.int64)
        cb = [0, 128, 384, 640, -128, -384, -640, 127, 129, 32767, 256, -32768, -384 - 256, 1]
        rows = [((1, 0), 1), ((2, 0), 2), ((3, 0), 3),          # 0.5, 1.5, 2.5 round half up: 1, 2, 3
                ((4, 0), 0), ((5, 0), -1), ((6, 0), -2),        # -0.5, -1.5, -2.5: 0, -1, -2
                ((7, 0), 0), ((8, 0), 1),                       # just below and above a tie
                ((0, 9), 32767),                                # 256 x 32767: the activation's top, exactly
                ((10, 9), 32767),                               # 256 x 32768: clamped to the top
                ((0, 11), -32768),                              # 256 x -32768: the bottom, exactly
                ((12, 11), -32768)]                             # below it: clamped to the bottom
    K = cfg.codebook_size
    cb_q = np.zeros(K, dtype=np.int64)
    cb_q[:len(cb)] = cb
    fmt = layer_format(np.array([0.0, 1.0] + [0.5] * (K - 2)), cfg)  # weight fraction 14 bits
    idx = np.zeros((len(rows), len(x)), dtype=np.int64)
    for i, ((a, b), _e) in enumerate(rows):
        idx[i, 0], idx[i, 1] = a, b
    return LayerCase(cfg, idx, cb_q, x, fmt, False), [e for _r, e in rows]


@pytest.mark.parametrize("shift0", [False, True])
def test_amaranth_sim_rounding_ties_and_exact_bounds(shift0):
    case, expected = _edge_case(shift0)
    assert case.fmt.writeback_shift == (0 if shift0 else 8)
    ref = [int(o) for o in reference_layer(case.indices, case.codebook_q, case.x, case.fmt, case.relu)]
    assert ref == expected                                  # the hand-computed contract
    got = _run_rtl(case)
    res = run_layer(prepare_layer(case.indices, case.cfg), case.codebook_q, case.x, case.fmt, case.relu)
    assert got["outputs"] == expected and [int(o) for o in res.outputs] == expected
    assert got["cycles"] == res.cycles and got["busy"] == [int(b) for b in res.busy]


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


@pytest.mark.parametrize("fault", ["ties to even", "clamp bound", "accumulator bound"])
def test_the_edge_cases_catch_injected_rtl_faults(fault, monkeypatch):
    # the faults that once survived the whole suite: each makes the RTL differ from the contract
    import hw.pe

    if fault == "accumulator bound":
        monkeypatch.setattr(hw.pe, "accumulate_value", _faulty_accumulate())
    else:
        monkeypatch.setattr(hw.pe, "writeback_value", _faulty_writeback(fault))
    caught = []
    for shift0 in (False, True):
        case, expected = _edge_case(shift0)
        caught.append(_run_rtl(case)["outputs"] != expected)
    assert any(caught), f"the injected fault ({fault}) went unnoticed"
