"""The batched engine (sim.engine.run_batch, Machine.run_batch): K input vectors in one parallel
jitted call give exactly the merge of K calls of run_layer, in every field but the wall time,
whatever the number of threads, chunks and blocks."""
import numba
import numpy as np
import pytest
from hypothesis import given, strategies as st

import sim.engine as engine
from arch.config import AcceleratorConfig, Overflow
from arch.fixedpoint import LayerFormat
from arch.machine import MACHINES, Machine
from sim.engine import prepare_layer, run_batch, run_layer
from sim.reference import reference_layer
from sim.results import EIELayerResult, LayerResult

# Q8.8 activations, Q8.8 weights, Q16.16 accumulator (as tests/sim/test_sim_engine.py)
FMT = LayerFormat(act_bits=16, act_frac_bits=8, weight_bits=16, weight_frac_bits=8, acc_bits=32,
                  acc_frac_bits=16, overflow=Overflow.SATURATE, product_shift=0, writeback_shift=8)
CB = np.array([0, 256, -512, 384, 128] + [64] * 11, dtype=np.int64)

SCALARS = ("n_rows", "n_cols", "cycles", "accesses", "runs", "n_pe", "tile_cycles", "entries", "fillers",
           "broadcasts", "stored_entries", "max_pe_entries", "n_tiles")
ARRAYS = ("outputs", "busy", "idle", "stalled")


def merged_runs(prep, cb, X, fmt, relu):
    return EIELayerResult.merge([run_layer(prep, cb, X[k], fmt, relu) for k in range(len(X))])


def assert_same(b, m):
    """Every field of two results equal (types included), except engine_seconds."""
    assert type(b) is type(m)
    for f in SCALARS:
        assert getattr(b, f) == getattr(m, f), (f, getattr(b, f), getattr(m, f))
        assert type(getattr(b, f)) is type(getattr(m, f)), f
    assert all(type(c) is int for c in b.tile_cycles)
    for f in ARRAYS:
        a, c = getattr(b, f), getattr(m, f)
        assert a.dtype == c.dtype == np.int64 and a.shape == c.shape and np.array_equal(a, c), (f, a, c)
    assert b.engine_seconds > 0
    b.check_invariants()


def check_batch(prep, cb, X, fmt, relu):
    b = run_batch(prep, cb, X, fmt, relu)
    assert_same(b, merged_runs(prep, cb, X, fmt, relu))
    assert b.outputs.shape == (len(X), prep.n_rows) and b.runs == len(X)
    assert len(b.tile_cycles) == len(X) * prep.n_tiles
    return b


def random_layer(rng, n_rows, n_cols, w_density, index_bits=4):
    return np.where(rng.random((n_rows, n_cols)) < w_density,
                    rng.integers(1, 1 << index_bits, (n_rows, n_cols)), 0)


def random_acts(rng, K, n_cols, density, lo=-300, hi=300):
    return np.where(rng.random((K, n_cols)) < density, rng.integers(lo, hi, (K, n_cols)), 0).astype(np.int64)


@pytest.fixture
def threads():
    """Restore Numba's thread count after a test that changes it."""
    n = numba.get_num_threads()
    yield numba.config.NUMBA_NUM_THREADS
    numba.set_num_threads(n)


# --------------------------------------------------------------------------------------------
# random layers, machines and batches
# --------------------------------------------------------------------------------------------

@st.composite
def batch_cases(draw):
    n_pe = draw(st.sampled_from([1, 2, 3, 4, 8, 16]))
    index_bits = draw(st.integers(2, 4))
    overflow = draw(st.sampled_from([Overflow.SATURATE, Overflow.WRAP]))
    cfg = AcceleratorConfig(n_pe=n_pe, fifo_depth=draw(st.integers(1, 4)), act_regs_per_pe=draw(st.integers(1, 4)),
                            index_bits=index_bits, rel_index_bits=draw(st.integers(2, 4)),
                            sram_word_bits=draw(st.sampled_from([8, 16, 64])),
                            act_bits=8, act_frac_bits=2, weight_bits=8, acc_bits=draw(st.integers(8, 14)),
                            acc_frac_bits=3, overflow=overflow)
    fw = draw(st.integers(1, 4))                       # product_shift = 2 + fw - 3 >= 0
    fmt = LayerFormat(8, 2, 8, fw, cfg.acc_bits, 3, overflow, 2 + fw - 3, 1)
    n_rows, n_cols = draw(st.integers(1, 30)), draw(st.integers(1, 16))
    K = draw(st.sampled_from([1, 2, 3, 7, 20]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    idx = random_layer(rng, n_rows, n_cols, draw(st.sampled_from([0.0, 0.1, 0.3, 0.7, 1.0])), index_bits)
    cb = rng.integers(-128, 128, 1 << index_bits)
    cb[0] = 0
    X = random_acts(rng, K, n_cols, draw(st.sampled_from([0.0, 0.3, 0.7, 1.0])), -128, 128)
    if draw(st.booleans()):
        X[rng.integers(0, K)] = 0                       # an all-zero vector in the batch
    return idx, cfg, fmt, cb, X, draw(st.booleans())


@given(batch_cases())
def test_random_batches_equal_merged_runs(case):
    idx, cfg, fmt, cb, X, relu = case
    prep = prepare_layer(idx, cfg)
    b = check_batch(prep, cb, X, fmt, relu)
    for k in range(len(X)):
        assert np.array_equal(b.outputs[k], reference_layer(idx, cb, X[k], fmt, relu))


def test_passes_batches_64_pes_stalls_and_both_overflow_rules():
    # 2 passes x 3 batches on 8 PEs with 2 registers; then 64 PEs with FIFO depth 2 (the broadcaster
    # stalls); then an accumulator narrow enough to saturate and wrap.
    rng = np.random.default_rng(1)
    prep = prepare_layer(random_layer(rng, 30, 40, 0.3), AcceleratorConfig(n_pe=8, fifo_depth=1, act_regs_per_pe=2))
    assert (prep.n_passes, prep.n_batches) == (2, 3)
    for relu in (False, True):
        check_batch(prep, CB, random_acts(rng, 25, 40, 0.4), FMT, relu)
    prep = prepare_layer(random_layer(rng, 300, 200, 0.1), AcceleratorConfig(fifo_depth=2))
    b = check_batch(prep, CB, random_acts(rng, 12, 200, 0.35, 1, 1000), FMT, True)
    assert b.stalled.sum() > 0
    for ov in (Overflow.SATURATE, Overflow.WRAP):
        fmt = LayerFormat(8, 2, 8, 3, 12, 3, ov, 2, 1)
        cb = np.array([0, 127, -128, 100], dtype=np.int64)
        idx = rng.integers(0, 4, (9, 14))
        prep = prepare_layer(idx, AcceleratorConfig(n_pe=2, fifo_depth=1, index_bits=2, act_bits=8, act_frac_bits=2,
                                                    weight_bits=8, acc_bits=12, acc_frac_bits=3, overflow=ov))
        X = rng.integers(-128, 128, (15, 14))
        b = check_batch(prep, cb, X, fmt, False)
        for k in range(len(X)):
            assert np.array_equal(b.outputs[k], reference_layer(idx, cb, X[k], fmt, False))


def test_k1_and_all_zero_vectors():
    rng = np.random.default_rng(2)
    cfg = AcceleratorConfig(n_pe=4, fifo_depth=2, act_regs_per_pe=3)
    idx = random_layer(rng, 30, 25, 0.3)
    prep = prepare_layer(idx, cfg)
    x = random_acts(rng, 1, 25, 0.5)
    b = check_batch(prep, CB, x, FMT, False)
    r = run_layer(prep, CB, x[0], FMT, False)
    assert b.cycles == r.cycles and np.array_equal(b.outputs[0], r.outputs) and b.accesses == r.accesses
    # all-zero vectors: 1 cycle per tile, nothing broadcast or fetched, constant accesses per vector
    z = check_batch(prep, CB, np.zeros((5, 25), dtype=np.int64), FMT, True)
    assert z.cycles == 5 * prep.n_tiles and z.tile_cycles == [1] * (5 * prep.n_tiles)
    assert (z.entries, z.broadcasts) == (0, 0) and not z.outputs.any()
    assert z.accesses["act_regs"] == {"reads": 5 * prep.n_passes * 25, "writes": 5 * 30}


def test_threads_chunks_and_blocks_do_not_change_the_result(monkeypatch, threads):
    rng = np.random.default_rng(3)
    prep = prepare_layer(random_layer(rng, 40, 33, 0.2), AcceleratorConfig(n_pe=4, fifo_depth=2, act_regs_per_pe=4))
    X = random_acts(rng, 37, 33, 0.4)
    ref = merged_runs(prep, CB, X, FMT, True)
    for n in sorted({1, threads}):
        numba.set_num_threads(n)
        for chunks in (1, 3, 100):
            monkeypatch.setattr(engine, "CHUNKS_PER_THREAD", chunks)
            for block_values in (1, 5 * 40, engine.BATCH_BLOCK_VALUES):   # 1 vector, 5 vectors, all per block
                monkeypatch.setattr(engine, "BATCH_BLOCK_VALUES", block_values)
                assert_same(run_batch(prep, CB, X, FMT, True), ref)


def test_any_integer_dtype_and_layout():
    rng = np.random.default_rng(4)
    prep = prepare_layer(random_layer(rng, 20, 12, 0.4), AcceleratorConfig(n_pe=3, fifo_depth=1))
    X = random_acts(rng, 9, 12, 0.5)
    ref = merged_runs(prep, CB, X, FMT, False)
    ro = X.copy()
    ro.flags.writeable = False
    wide = np.zeros((9, 24), dtype=np.int64)
    wide[:, ::2] = X
    for Xv in (X.astype(np.int16), np.asfortranarray(X), ro, wide[:, ::2], X.tolist()):
        assert_same(run_batch(prep, CB, Xv, FMT, False), ref)
    assert_same(run_batch(prep, CB.astype(np.int32).tolist(), X, FMT, False), ref)


def test_bad_inputs_give_clear_errors():
    prep = prepare_layer(np.array([[1, 3]]), AcceleratorConfig(n_pe=1))
    ok = np.array([[1, 1], [2, 2]])
    with pytest.raises(ValueError, match=r"no input vectors \(K = 0"):
        run_batch(prep, CB, np.zeros((0, 2), dtype=np.int64), FMT, False)
    with pytest.raises(ValueError, match="K = 0"):
        run_batch(prep, CB, [], FMT, False)
    with pytest.raises(ValueError, match=r"shape \(K, 2\)"):
        run_batch(prep, CB, np.array([1, 2]), FMT, False)
    with pytest.raises(ValueError, match=r"shape \(K, 2\)"):
        run_batch(prep, CB, np.ones((2, 3), dtype=np.int64), FMT, False)
    with pytest.raises(ValueError, match=r"input vector 1\); the 16-bit activation format"):
        run_batch(prep, CB, np.array([[1, 1], [1, 1 << 20]]), FMT, False)
    with pytest.raises(ValueError, match="integers"):
        run_batch(prep, CB, ok.astype(float), FMT, False)
    with pytest.raises(ValueError, match="more than 3 entries"):
        run_batch(prep, CB[:3], ok, FMT, False)
    with pytest.raises(ValueError, match="entry 0"):
        run_batch(prep, np.array([1, 2, 3, 4]), ok, FMT, False)
    with pytest.raises(ValueError, match="product_shift"):
        run_batch(prep, CB, ok, LayerFormat(16, 8, 16, 8, 32, 20, Overflow.SATURATE, -4, 12), False)
    with pytest.raises(ValueError, match="K = 0"):
        Machine.run_batch(MACHINES.get("eie"), prep, CB, np.zeros((0, 2), dtype=np.int64), FMT, False)


# --------------------------------------------------------------------------------------------
# the machine interface
# --------------------------------------------------------------------------------------------

class _PlainEIE(Machine):
    """A machine with only ``run`` (EIE's engine, as a plain LayerResult): the default run_batch."""

    def run(self, prepared, codebook_q, x, fmt, relu):
        r = run_layer(prepared, codebook_q, x, fmt, relu)
        return LayerResult(n_rows=r.n_rows, n_cols=r.n_cols, outputs=r.outputs, cycles=r.cycles, accesses=r.accesses)


def test_machine_run_batch_default_equals_eie():
    rng = np.random.default_rng(5)
    eie = MACHINES.get("eie")
    cfg = AcceleratorConfig(n_pe=8, fifo_depth=2, act_regs_per_pe=2)
    idx = random_layer(rng, 30, 20, 0.3)
    prep = eie.prepare(idx, cfg)
    X = random_acts(rng, 11, 20, 0.4)
    fast = eie.run_batch(prep, CB, X, FMT, True)
    assert type(eie).run_batch is not Machine.run_batch
    assert_same(fast, Machine.run_batch(eie, prep, CB, X, FMT, True))      # the default: a loop over run
    plain = _PlainEIE().run_batch(prep, CB, X, FMT, True)
    assert type(plain) is LayerResult and plain.runs == 11
    assert (plain.cycles, plain.accesses) == (fast.cycles, fast.accesses)
    assert np.array_equal(plain.outputs, fast.outputs)
