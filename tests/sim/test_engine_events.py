"""The event-driven kernel of sim/engine.py against the plain-Python twin (sim/pyengine.py), field by
field, on the cases its shortcuts are about: columns with no entries on any PE, one PE holding
everything, PEs that lag behind the broadcasts over long runs of empty columns, FIFO depth 1 and
large depths, many tiles and passes, and 1024 PEs with few rows (most PEs empty)."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from arch.config import AcceleratorConfig, Overflow
from arch.fixedpoint import LayerFormat
from sim.engine import prepare_layer, run_batch, run_layer
from sim.pyengine import run_layer_python
from sim.results import EIELayerResult

FMT = LayerFormat(act_bits=16, act_frac_bits=8, weight_bits=16, weight_frac_bits=8, acc_bits=32,
                  acc_frac_bits=16, overflow=Overflow.SATURATE, product_shift=0, writeback_shift=8)
CB = np.array([0, 256, -512, 384, 128] + [64] * 11, dtype=np.int64)
SCALARS = ("n_pe", "n_rows", "n_cols", "cycles", "tile_cycles", "entries", "fillers", "broadcasts", "accesses",
           "stored_entries", "max_pe_entries", "n_tiles")


def assert_twins(idx, cfg, x, cb=CB, fmt=FMT, relu=False, prep=None):
    """run_layer and run_layer_python agree on every field; returns the engine's result."""
    prep = prepare_layer(np.asarray(idx), cfg) if prep is None else prep
    x = np.asarray(x, dtype=np.int64)
    r = run_layer(prep, cb, x, fmt, relu)
    p = run_layer_python(prep, cb, x, fmt, relu)
    for f in SCALARS:
        assert getattr(r, f) == getattr(p, f), (f, getattr(r, f), getattr(p, f))
    for f in ("busy", "idle", "stalled", "outputs"):
        assert np.array_equal(getattr(r, f), getattr(p, f)), (f, getattr(r, f), getattr(p, f))
    r.check_invariants()
    return r


def dense(rng, n_rows, n_cols, density, index_bits=4):
    return np.where(rng.random((n_rows, n_cols)) < density, rng.integers(1, 1 << index_bits, (n_rows, n_cols)), 0)


def test_pairs_match_the_column_pointers():
    # nz_*: exactly the (PE, column) pairs with entries, by column then PE, with their entries and rows
    rng = np.random.default_rng(0)
    cfg = AcceleratorConfig(n_pe=4, act_regs_per_pe=3)
    idx = dense(rng, 30, 20, 0.3)
    idx[:, 5] = 0
    prep = prepare_layer(idx, cfg)
    assert prep.n_passes > 1
    for k in range(prep.n_passes):
        pes_k = prep.streams[k].pes
        cp = np.stack([pe.col_ptr for pe in pes_k], axis=1)          # (n_cols + 1, n_pe)
        # the PE's SRAM holds its passes one after another: nz_c0 is the address in it
        sbase = [sum(int(prep.streams[q].pes[p].n_entries) for q in range(k)) for p in range(cfg.n_pe)]
        for j in range(prep.n_cols):
            q0, q1 = prep.nz_ptr[k, j], prep.nz_ptr[k, j + 1]
            pes = prep.nz_pe[q0:q1].tolist()
            assert pes == [p for p in range(cfg.n_pe) if cp[j + 1, p] > cp[j, p]]
            for q, p in zip(range(q0, q1), pes):
                c0, c1 = cp[j, p], cp[j + 1, p]
                assert prep.nz_c0[q] == sbase[p] + c0 and prep.nz_off[q + 1] - prep.nz_off[q] == c1 - c0
                e = (pes_k[p].v.astype(np.int64) | (pes_k[p].z.astype(np.int64) << 8))[c0:c1]
                ent = prep.ent[prep.nz_off[q]:prep.nz_off[q + 1]].astype(np.int64)
                assert np.array_equal(ent & 255, e & 255)
                local = np.cumsum((e >> 8).astype(np.int64) + 1) - 1
                assert np.array_equal(ent >> 8, local * cfg.n_pe + p)
        assert prep.nz_ptr[k, 0] == (prep.nz_ptr[k - 1, -1] if k else 0)
    assert prep.nz_off[-1] == prep.total_entries == prep.ent.shape[0]


def test_columns_without_entries_on_any_pe():
    rng = np.random.default_rng(1)
    for n_pe, D in [(1, 1), (4, 1), (4, 2), (16, 8)]:
        idx = dense(rng, 40, 24, 0.4)
        idx[:, ::3] = 0                                    # a third of the columns: nothing anywhere
        x = rng.integers(1, 300, 24)
        r = assert_twins(idx, AcceleratorConfig(n_pe=n_pe, fifo_depth=D), x)
        assert r.broadcasts == 24
    # every column empty: every PE only reads pointers, one per column
    r = assert_twins(np.zeros((10, 12), np.int64), AcceleratorConfig(n_pe=4, fifo_depth=1), np.ones(12) * 7)
    assert r.entries == 0 and r.busy.tolist() == [12] * 4


def test_one_pe_holds_everything():
    # rows 0, N, 2N, ... only: PE 0 works, the others only pop; with small FIFOs the broadcaster
    # waits for PE 0 (the others stall), with large ones the others run ahead and idle
    rng = np.random.default_rng(2)
    for n_pe in (2, 8, 64):
        idx = np.zeros((n_pe * 4, 30), np.int64)
        idx[::n_pe] = dense(rng, 4, 30, 0.8)
        x = np.where(rng.random(30) < 0.7, rng.integers(1, 300, 30), 0)
        for D in (1, 2, 8, 4096):
            r = assert_twins(idx, AcceleratorConfig(n_pe=n_pe, fifo_depth=D), x)
            if D == 1 and np.count_nonzero(idx[:, x != 0]) > 2:
                assert r.stalled[1:].sum() > 0


def test_lagging_pes_over_long_empty_runs():
    # a few heavy columns, each followed by a long run of columns empty on every PE but one: the
    # PEs behind the broadcasts pop back to back until they catch up, then wait out the gaps
    rng = np.random.default_rng(3)
    n_pe = 8
    for D in (1, 2, 3, 5, 16):
        idx = np.zeros((n_pe * 6, 60), np.int64)
        for j in range(0, 60, 12):
            idx[rng.integers(0, n_pe), j] = 0                # nothing
            idx[rng.integers(0, 6) * n_pe + rng.integers(0, n_pe), j] = 1
            idx[: n_pe * 6: 1, j] = np.where(rng.random(n_pe * 6) < 0.7, 3, 0)      # a heavy column
            idx[rng.integers(0, n_pe * 6), j + 1: j + 12] = 2                       # one PE busy after it
        x = rng.integers(1, 200, 60)
        assert_twins(idx, AcceleratorConfig(n_pe=n_pe, fifo_depth=D), x)


def test_fifo_depth_one_and_large():
    rng = np.random.default_rng(4)
    idx = dense(rng, 48, 40, 0.25)
    x = np.where(rng.random(40) < 0.6, rng.integers(-300, 300, 40), 0)
    cyc = {}
    for D in (1, 2, 7, 64, 4096):
        cyc[D] = assert_twins(idx, AcceleratorConfig(n_pe=8, fifo_depth=D), x).cycles
    assert cyc[1] >= cyc[2] >= cyc[7] >= cyc[64] == cyc[4096]


def test_many_tiles_and_passes():
    rng = np.random.default_rng(5)
    cfg = AcceleratorConfig(n_pe=3, act_regs_per_pe=2, fifo_depth=2)     # tiles of 6 rows x 6 columns
    idx = dense(rng, 40, 35, 0.3)
    x = np.where(rng.random(35) < 0.5, rng.integers(-300, 300, 35), 0)
    x[6:12] = 0                                                          # a batch with no activation
    r = assert_twins(idx, cfg, x, relu=True)
    assert r.n_tiles == 7 * 6 and 1 in r.tile_cycles


def test_1024_pes_few_rows():
    # 1024 PEs, 5 rows: 1019 PEs hold nothing; and 3000 rows (about 3 per PE)
    rng = np.random.default_rng(6)
    for n_rows, D in [(5, 8), (5, 1), (3000, 2)]:
        idx = dense(rng, n_rows, 30, 0.3)
        x = np.where(rng.random(30) < 0.5, rng.integers(1, 300, 30), 0)
        assert_twins(idx, AcceleratorConfig(n_pe=1024, fifo_depth=D), x)


def test_batch_of_edge_cases_equals_merged_runs():
    rng = np.random.default_rng(7)
    cfg = AcceleratorConfig(n_pe=16, act_regs_per_pe=2, fifo_depth=1)
    idx = dense(rng, 70, 50, 0.2)
    idx[:, 10:20] = 0
    prep = prepare_layer(idx, cfg)
    X = np.where(rng.random((9, 50)) < 0.5, rng.integers(-300, 300, (9, 50)), 0)
    X[3] = 0
    b = run_batch(prep, CB, X, FMT, False)
    m = EIELayerResult.merge([run_layer(prep, CB, X[k], FMT, False) for k in range(9)])
    for f in SCALARS:
        assert getattr(b, f) == getattr(m, f), f
    for f in ("busy", "idle", "stalled", "outputs"):
        assert np.array_equal(getattr(b, f), getattr(m, f)), f


@st.composite
def skewed_cases(draw):
    n_pe = draw(st.sampled_from([1, 2, 3, 5, 8, 32, 64]))
    D = draw(st.sampled_from([1, 2, 3, 4, 8, 64]))
    cfg = AcceleratorConfig(n_pe=n_pe, fifo_depth=D, act_regs_per_pe=draw(st.integers(1, 6)),
                            rel_index_bits=draw(st.integers(2, 4)), sram_word_bits=draw(st.sampled_from([8, 16, 64])))
    n_rows, n_cols = draw(st.integers(1, 80)), draw(st.integers(1, 40))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    idx = dense(rng, n_rows, n_cols, draw(st.sampled_from([0.0, 0.05, 0.2, 0.6, 1.0])))
    shape = draw(st.sampled_from(["plain", "one_pe", "heavy_cols", "empty_cols"]))
    if shape == "one_pe":
        keep = np.arange(n_rows) % n_pe == rng.integers(0, n_pe)
        idx[~keep] = 0
    elif shape == "heavy_cols":
        for j in rng.integers(0, n_cols, 3):
            idx[:, j] = rng.integers(1, 16, n_rows)
    elif shape == "empty_cols":
        idx[:, rng.random(n_cols) < 0.5] = 0
    x = np.where(rng.random(n_cols) < draw(st.sampled_from([0.3, 0.7, 1.0])), rng.integers(-300, 300, n_cols), 0)
    return idx, cfg, x


@settings(max_examples=150, deadline=None)
@given(skewed_cases())
def test_random_skewed_layers_engine_equals_twin(case):
    idx, cfg, x = case
    assert_twins(idx, cfg, x)
