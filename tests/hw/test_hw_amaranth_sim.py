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
