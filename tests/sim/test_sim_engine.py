"""The cycle-level engine (sim/engine.py) and its plain-Python twin (sim/pyengine.py).

Hand-computed examples of docs/microarchitecture.md, cycle by cycle, then random layers and
machines: both engines agree on every field, the outputs equal the fixed-point reference bit
for bit, and the cycle accounting holds.
"""
import numpy as np
import pytest
from hypothesis import given, strategies as st

from arch.config import AcceleratorConfig, Overflow
from arch.encoding import EncodingError
from arch.fixedpoint import LayerFormat, accumulate, term, writeback
from sim.engine import prepare_layer, run_layer
from sim.pyengine import run_layer_python
from arch.config import ACCESS_COMPONENTS

try:
    from sim.reference import reference_layer
except ImportError:  # pragma: no cover - the reference is another module's
    reference_layer = None

# Q8.8 activations, Q8.8 weights, Q16.16 accumulator: product_shift 0, writeback_shift 8.
FMT = LayerFormat(act_bits=16, act_frac_bits=8, weight_bits=16, weight_frac_bits=8, acc_bits=32,
                  acc_frac_bits=16, overflow=Overflow.SATURATE, product_shift=0, writeback_shift=8)
# codebook: index 1 = 1.0, 2 = -2.0, 3 = 1.5, 4 = 0.5 (Q8), the rest 0.25
CB = np.array([0, 256, -512, 384, 128] + [64] * 11, dtype=np.int64)


def loop_reference(indices, cb, x, fmt, relu):
    """arch.fixedpoint in column order, all rows at once: the contract, literally."""
    idx = np.asarray(indices, dtype=np.int64)
    acc = np.zeros(idx.shape[0], dtype=np.int64)
    for j in range(idx.shape[1]):
        acc = accumulate(acc, term(x[j], cb[idx[:, j]], fmt), fmt)
    return writeback(acc, fmt, relu)


def run_both(indices, cfg, x, cb=CB, fmt=FMT, relu=False, prep=None):
    """Run both engines; check they agree on every field, the reference and the invariants."""
    prep = prepare_layer(indices, cfg) if prep is None else prep
    x = np.asarray(x, dtype=np.int64)
    r = run_layer(prep, cb, x, fmt, relu)
    p = run_layer_python(prep, cb, x, fmt, relu)
    for f in ("n_pe", "n_rows", "n_cols", "cycles", "tile_cycles", "entries", "fillers", "broadcasts", "accesses"):
        assert getattr(r, f) == getattr(p, f), (f, getattr(r, f), getattr(p, f))
    for f in ("busy", "idle", "stalled", "outputs"):
        a, b = getattr(r, f), getattr(p, f)
        assert a.dtype == np.int64 and b.dtype == np.int64, f
        assert np.array_equal(a, b), (f, a, b)
    assert r.busy.shape == (cfg.n_pe,)
    assert r.outputs.shape == (prep.n_rows,)
    assert isinstance(r.tile_cycles, list) and len(r.tile_cycles) == prep.n_tiles
    assert set(r.accesses) == set(ACCESS_COMPONENTS)
    for res in (r, p):
        res.check_invariants()
        assert res.cycles >= res.max_pe_busy
        assert np.all(res.busy >= 0) and np.all(res.idle >= 0) and np.all(res.stalled >= 0)
    ref = loop_reference(indices, cb, x, fmt, relu)
    assert np.array_equal(r.outputs, ref), (r.outputs, ref)
    if reference_layer is not None:
        assert np.array_equal(r.outputs, reference_layer(np.asarray(indices), cb, x, fmt, relu))
    assert r.engine_seconds > 0
    return r


def acc_table(**kw):
    """Expected access counts: every component 0 except the ones given as (reads, writes)."""
    out = {c: {"reads": 0, "writes": 0} for c in ACCESS_COMPONENTS}
    for c, (rd, wr) in kw.items():
        out[c] = {"reads": rd, "writes": wr}
    return out


def cfg1(**kw):
    return AcceleratorConfig(n_pe=kw.pop("n_pe", 1), **kw)


# --------------------------------------------------------------------------------------------
# hand-computed examples
# --------------------------------------------------------------------------------------------

def test_doc_example_one_pe_one_entry():
    # The page's example: 1 PE, one nonzero activation, one entry in its column.
    #   cycle 0: broadcast a_0 (the PE's FIFO is empty at the start: idle)
    #   cycle 1: pop a_0 and read ptr[0], ptr[1] (busy); cur = 0, end = 1
    #   cycle 2: fetch entry 0 (busy); cur == end, FIFO empty: no pop
    #   cycle 3: nothing happens -> t_last = 2; drain = cycles 3..6
    # total 2 + 1 + 4 = 7 cycles: 2 busy, 5 idle, 0 stalled.
    r = run_both(np.array([[1]]), cfg1(), [512])
    assert r.cycles == 7 and r.tile_cycles == [7]
    assert r.busy.tolist() == [2] and r.idle.tolist() == [5] and r.stalled.tolist() == [0]
    assert (r.entries, r.fillers, r.broadcasts) == (1, 0, 1)
    # 2.0 * 1.0 = 2.0: acc = 512 * 256 = 131072 (Q16) -> (131072 + 128) >> 8 = 512 (Q8)
    assert r.outputs.tolist() == [512]
    assert r.accesses == acc_table(spmat_sram=(1, 0), ptr_sram=(2, 0),
                                   act_regs=(1 + 1, 1 + 1),  # LNZD + accumulator; accumulator + write-back
                                   codebook=(1, 0), fifo=(1, 1), mul=(1, 0), add=(1, 0), broadcast=(1, 0))
    assert r.load_balance_efficiency == pytest.approx(2 / 7)
    assert r.useful_efficiency == pytest.approx(1 / 7)


def test_one_pe_columns_of_three_and_zero_entries():
    # 1 PE, 3 rows, 2 columns both with a nonzero activation; column 0 has 3 entries, column 1 none.
    #   cycle 0: broadcast a_0 (idle)
    #   cycle 1: broadcast a_1 (FIFO holds 1 < 8); pop a_0 (busy): cur = 0, end = 3
    #   cycle 2: fetch entry 0 (busy)
    #   cycle 3: fetch entry 1 (busy)
    #   cycle 4: fetch entry 2 -> cur == end, FIFO holds a_1: pop it in the same cycle (busy);
    #            column 1 is empty: cur = end = 3 (its pointer read hid under the fetch)
    #   cycle 5: nothing -> t_last = 4; total 4 + 1 + 4 = 9 cycles: 4 busy, 5 idle
    idx = np.array([[1, 0], [2, 0], [3, 0]])
    x = [256, 768]
    r = run_both(idx, cfg1(), x)
    assert r.cycles == 9 and r.busy.tolist() == [4] and r.idle.tolist() == [5] and r.stalled.tolist() == [0]
    assert (r.entries, r.fillers, r.broadcasts) == (3, 0, 2)
    assert r.outputs.tolist() == [256, -512, 384]
    assert r.accesses["ptr_sram"]["reads"] == 4 and r.accesses["fifo"] == {"reads": 2, "writes": 2}
    assert r.accesses["spmat_sram"]["reads"] == 1                # 3 entries in one 8-entry word

    # The other order: column 0 empty, column 1 with 3 entries.
    #   cycle 0: broadcast a_0 (idle)
    #   cycle 1: broadcast a_1; pop a_0: empty column, cur = end = 0 (busy: the pointer read)
    #   cycle 2: nothing fetched, FIFO holds a_1: pop it (busy: the pointer read alone)
    #   cycles 3, 4, 5: fetch entries 0, 1, 2 (busy)
    #   cycle 6: nothing -> t_last = 5; total 10 cycles: 5 busy, 5 idle
    # The empty column cost the PE one pointer-read cycle.
    r = run_both(idx[:, ::-1].copy(), cfg1(), x[::-1])
    assert r.cycles == 10 and r.busy.tolist() == [5] and r.idle.tolist() == [5] and r.stalled.tolist() == [0]


def test_two_pes_fifo_depth_one_broadcaster_stalls():
    # 2 PEs (rows 0,2,4,6 on PE 0; rows 1,3,5,7 on PE 1), FIFO depth 1, 3 nonzero activations.
    # Column 0: PE 0 has 4 entries, PE 1 has 1; columns 1 and 2: one entry on each PE.
    #  cyc | start occ | broadcaster     | PE 0                          | PE 1
    #   0  |  (0, 0)   | broadcast a_0   | idle                          | idle
    #   1  |  (1, 1)   | STALL (full)    | pop a_0 (busy), 4 entries     | pop a_0 (busy), 1 entry
    #   2  |  (0, 0)   | broadcast a_1   | fetch 1/4 (busy)              | fetch 1/1 (busy), FIFO empty
    #   3  |  (1, 1)   | STALL           | fetch 2/4 (busy)              | pop a_1 (busy)
    #   4  |  (1, 0)   | STALL (PE 0)    | fetch 3/4 (busy)              | fetch 1/1 (busy), FIFO empty
    #   5  |  (1, 0)   | STALL (PE 0)    | fetch 4/4 + pop a_1 (busy)    | nothing: STALLED
    #   6  |  (0, 0)   | broadcast a_2   | fetch 1/1 (busy), FIFO empty  | idle (FIFO empty, no stall)
    #   7  |  (1, 1)   | done            | pop a_2 (busy)                | pop a_2 (busy)
    #   8  |  (0, 0)   |                 | fetch (busy)                  | fetch (busy)
    #   9  |  nothing happens: t_last = 8 -> 8 + 1 + 4 = 13 cycles
    # PE 0: busy 1..8 = 8, idle 0, 9..12 = 5, stalled 0.
    # PE 1: busy 1,2,3,4,7,8 = 6, stalled 5 = 1, idle 0, 6, 9..12 = 6.
    idx = np.zeros((8, 3), dtype=np.int64)
    idx[[0, 2, 4, 6], 0] = 1
    idx[1, 0] = 2
    idx[0, 1], idx[1, 1] = 3, 1
    idx[0, 2], idx[1, 2] = 1, 4
    r = run_both(idx, cfg1(n_pe=2, fifo_depth=1), [256, 512, -256])
    assert r.cycles == 13
    assert r.busy.tolist() == [8, 6]
    assert r.stalled.tolist() == [0, 1]
    assert r.idle.tolist() == [5, 6]
    assert (r.entries, r.broadcasts) == (9, 3)
    assert r.accesses["fifo"] == {"reads": 6, "writes": 6}      # 2 per broadcast (N = 2)
    # a deeper FIFO removes the stall: PE 1 runs ahead
    r8 = run_both(idx, cfg1(n_pe=2, fifo_depth=8), [256, 512, -256])
    assert r8.stalled.tolist() == [0, 0] and r8.cycles < r.cycles


def test_filler_costs_a_cycle_and_adds_nothing():
    # 1 PE, rel_index_bits 2 (max_rel 3), a column whose only nonzero is on row 5:
    # gap 5 > 3 -> one filler (v=0, z=3: lands on row 3, pos -> 4) then (v, z=1): row 4 + 1 = 5.
    # 8-bit SRAM words hold one 6-bit entry each (E = 1), so each fetch reads a word.
    #   cycle 0: broadcast; 1: pop; 2: fetch the filler; 3: fetch the entry; 4: nothing
    #   -> 3 + 1 + 4 = 8 cycles: 3 busy, 5 idle.
    cfg = cfg1(rel_index_bits=2, sram_word_bits=8)
    assert cfg.entries_per_word == 1
    idx = np.zeros((6, 1), dtype=np.int64)
    idx[5, 0] = 3
    r = run_both(idx, cfg, [256])
    assert r.cycles == 8 and r.busy.tolist() == [3] and r.idle.tolist() == [5]
    assert (r.entries, r.fillers) == (2, 1)
    assert r.filler_overhead == pytest.approx(0.5)
    assert r.outputs.tolist() == [0, 0, 0, 0, 0, 384]
    assert r.accesses == acc_table(spmat_sram=(2, 0), ptr_sram=(2, 0), act_regs=(1 + 1, 1 + 6), codebook=(1, 0),
                                   fifo=(1, 1), mul=(1, 0), add=(1, 0), broadcast=(1, 0))


def test_all_zero_activations_take_one_cycle():
    # The LNZD finds nothing: 1 cycle, every PE idle, no broadcast, no fetch; the source
    # activations are still read once by the LNZD and the outputs written back.
    idx = np.array([[1, 2, 0, 3], [0, 4, 1, 0], [2, 2, 2, 2]])
    r = run_both(idx, cfg1(n_pe=2), [0, 0, 0, 0], relu=True)
    assert r.cycles == 1 and r.tile_cycles == [1]
    assert r.busy.tolist() == [0, 0] and r.idle.tolist() == [1, 1] and r.stalled.tolist() == [0, 0]
    assert (r.entries, r.broadcasts) == (0, 0)
    assert r.outputs.tolist() == [0, 0, 0]
    assert r.accesses == acc_table(act_regs=(4, 3))


def test_two_output_passes_and_two_input_batches():
    # 1 PE with 2 activation registers: passes of 2 rows, batches of 2 columns.
    # 4 rows x 3 columns -> passes {0,1}, {2,3}; batches {0,1}, {2}: 4 tiles, passes outer.
    #   row 0: [1, 0, 2]   row 1: [0, 3, 0]   row 2: [0, 0, 0]   row 3: [4, 0, 0];  x = [a0, 0, a2]
    # pass 0, batch 0: J = [0] (a_1 = 0); column 0 has 1 entry -> broadcast, pop, fetch, drain = 7
    # pass 0, batch 1: J = [2]; column 2 has 1 entry (row 0)                                 = 7
    # pass 1, batch 0: J = [0]; column 0 has 1 entry (row 3 = local row 1, z = 1)              = 7
    # pass 1, batch 1: J = [2]; column 2 is empty on this pass: broadcast (0), pop (1), nothing
    #                  happens in cycle 2 -> t_last = 1 -> 1 + 1 + 4                           = 6
    # total 27 cycles; busy 2 + 2 + 2 + 1 = 7.
    cfg = cfg1(act_regs_per_pe=2)
    idx = np.array([[1, 0, 2], [0, 3, 0], [0, 0, 0], [4, 0, 0]])
    prep = prepare_layer(idx, cfg)
    assert (prep.n_passes, prep.n_batches, prep.n_tiles) == (2, 2, 4)
    r = run_both(idx, cfg, [512, 0, 256], prep=prep)
    assert r.tile_cycles == [7, 7, 7, 6] and r.cycles == 27
    assert r.busy.tolist() == [7] and r.idle.tolist() == [20] and r.stalled.tolist() == [0]
    assert (r.entries, r.broadcasts) == (3, 4)
    # row 0: 2.0 * 1.0 + 1.0 * -2.0 = 0; row 1: a_1 = 0; row 2: none; row 3: 2.0 * 0.5 = 1.0
    assert r.outputs.tolist() == [0, 0, 0, 256]
    assert r.accesses == acc_table(
        spmat_sram=(3, 0), ptr_sram=(8, 0),
        act_regs=(2 + 1 + 2 + 1 + 3, 3 + 4),        # LNZD per tile + accumulators; accumulators + write-backs
        act_sram=(2 + 1 + 2 + 1, 2 + 2),            # batches loaded per tile; each pass's rows stored
        codebook=(3, 0), fifo=(4, 4), mul=(3, 0), add=(3, 0), broadcast=(4, 0))


def test_one_pass_two_batches_reads_act_sram_but_writes_none():
    # act_sram writes only with more than one pass; reads with more than one tile.
    cfg = cfg1(act_regs_per_pe=2)
    r = run_both(np.array([[1, 1, 1]]), cfg, [256, 256, 256])
    assert r.tile_cycles == [8, 7]       # batch 0: 2 columns of 1 entry, the 2nd pop hides under a fetch
    assert r.accesses["act_sram"] == {"reads": 3, "writes": 0}


def test_spmat_word_reads_and_more_pes_than_rows():
    # 1 PE, 16-bit words of two 6-bit entries (E = 2):
    # column 0 = entries 0..2 (words 0, 0, 1), column 1 = entries 3, 4 (words 1, 2).
    # Fetch words: 0 (read), 0, 1 (read), 1 (same as previous fetch: no read), 2 (read) -> 3 reads.
    cfg = cfg1(rel_index_bits=2, sram_word_bits=16)
    assert cfg.entries_per_word == 2
    idx = np.array([[1, 1], [1, 0], [1, 1]])
    r = run_both(idx, cfg, [256, 256])
    assert r.accesses["spmat_sram"]["reads"] == 3
    # 4 PEs, 2 rows: PEs 2 and 3 own no rows but still pop every activation
    r = run_both(np.array([[1, 2, 0], [0, 3, 4]]), cfg1(n_pe=4), [256, 0, 512])
    assert r.accesses["ptr_sram"]["reads"] == 2 * 4 * 2
    assert r.busy.tolist()[2:] == [2, 2]


def test_prepared_layer_is_reusable_and_deterministic():
    rng = np.random.default_rng(5)
    cfg = cfg1(n_pe=4, fifo_depth=2, act_regs_per_pe=3)
    idx = np.where(rng.random((30, 25)) < 0.3, rng.integers(1, 16, (30, 25)), 0)
    prep = prepare_layer(idx, cfg)
    for _ in range(3):
        x = np.where(rng.random(25) < 0.5, rng.integers(-300, 300, 25), 0)
        a = run_both(idx, cfg, x, prep=prep)
        b = run_layer(prepare_layer(idx, cfg), CB, x, FMT, False)
        assert a.cycles == b.cycles and np.array_equal(a.outputs, b.outputs) and a.accesses == b.accesses


def test_bad_inputs_give_clear_errors():
    cfg = cfg1(n_pe=2, index_bits=2)
    with pytest.raises(EncodingError, match="above the 2-bit codebook"):
        prepare_layer(np.array([[4]]), cfg)
    with pytest.raises(EncodingError, match="2-D"):
        prepare_layer(np.array([1, 2]), cfg)
    # one 64-bit word of 8 entries per PE: 9 entries on PE 0 do not fit
    small = cfg1(spmat_sram_bytes=8)
    with pytest.raises(EncodingError, match="needs 9 entries"):
        prepare_layer(np.ones((9, 1), dtype=np.int64), small)
    # 2 passes of 8 rows each fit alone but not together
    with pytest.raises(EncodingError, match="2 output passes"):
        prepare_layer(np.ones((16, 1), dtype=np.int64), cfg1(spmat_sram_bytes=8, act_regs_per_pe=8))
    prep = prepare_layer(np.array([[1, 3]]), cfg1())
    with pytest.raises(ValueError, match="shape"):
        run_layer(prep, CB, np.array([1, 2, 3]), FMT, False)
    with pytest.raises(ValueError, match="activation format"):
        run_layer(prep, CB, np.array([1, 1 << 20]), FMT, False)
    with pytest.raises(ValueError, match="more than 3 entries"):
        run_layer(prep, CB[:3], np.array([1, 1]), FMT, False)
    with pytest.raises(ValueError, match="entry 0"):
        run_layer(prep, np.array([1, 2, 3, 4]), np.array([1, 1]), FMT, False)
    with pytest.raises(ValueError, match="integers"):
        run_layer(prep, CB, np.array([1.5, 1.0]), FMT, False)


def test_overflow_rules_in_the_engine():
    # 12-bit accumulator (Q9.3), product_shift 2: terms that overflow it, added in column order.
    for ov in (Overflow.SATURATE, Overflow.WRAP):
        fmt = LayerFormat(8, 2, 8, 3, 12, 3, ov, 2, 1)
        cb = np.array([0, 127, -128, 100], dtype=np.int64)
        idx = np.array([[1, 1, 2, 1, 3], [2, 2, 2, 1, 1]])
        x = np.array([127, 127, 50, -128, 127])
        r = run_both(idx, cfg1(n_pe=2, fifo_depth=1), x, cb=cb, fmt=fmt, relu=False)
        assert np.array_equal(r.outputs, loop_reference(idx, cb, x, fmt, False))


def test_medium_layer_64_pes():
    rng = np.random.default_rng(11)
    cfg = AcceleratorConfig(fifo_depth=2)
    idx = np.where(rng.random((300, 200)) < 0.1, rng.integers(1, 16, (300, 200)), 0)
    x = np.where(rng.random(200) < 0.35, rng.integers(1, 1000, 200), 0)
    r = run_both(idx, cfg, x, relu=True)
    assert r.stalled.sum() > 0 and r.broadcasts == int(np.count_nonzero(x))


# --------------------------------------------------------------------------------------------
# random layers and machines
# --------------------------------------------------------------------------------------------

@st.composite
def cases(draw):
    n_pe = draw(st.sampled_from([1, 2, 3, 4, 8]))
    index_bits = draw(st.integers(2, 4))
    rel_bits = draw(st.integers(2, 4))
    overflow = draw(st.sampled_from([Overflow.SATURATE, Overflow.WRAP]))
    cfg = AcceleratorConfig(n_pe=n_pe, fifo_depth=draw(st.integers(1, 4)), act_regs_per_pe=draw(st.integers(1, 4)),
                            index_bits=index_bits, rel_index_bits=rel_bits,
                            sram_word_bits=draw(st.sampled_from([8, 16, 64])),
                            act_bits=8, act_frac_bits=2, weight_bits=8, acc_bits=draw(st.integers(8, 14)),
                            acc_frac_bits=3, overflow=overflow)
    fw = draw(st.integers(1, 4))                       # product_shift = 2 + fw - 3 >= 0
    fmt = LayerFormat(8, 2, 8, fw, cfg.acc_bits, 3, overflow, 2 + fw - 3, 1)
    n_rows = draw(st.integers(1, 24))                  # with n_pe = 8: often more PEs than rows
    n_cols = draw(st.integers(1, 14))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    w_density = draw(st.sampled_from([0.0, 0.1, 0.3, 0.7, 1.0]))
    a_density = draw(st.sampled_from([0.0, 0.3, 0.7, 1.0]))
    idx = np.where(rng.random((n_rows, n_cols)) < w_density,
                   rng.integers(1, 1 << index_bits, (n_rows, n_cols)), 0)
    if draw(st.booleans()) and n_cols > 1:
        idx[:, rng.integers(0, n_cols)] = 0            # an empty column
    cb = rng.integers(-128, 128, 1 << index_bits)
    cb[0] = 0
    x = np.where(rng.random(n_cols) < a_density, rng.integers(-128, 128, n_cols), 0)
    return idx, cfg, fmt, cb, x, draw(st.booleans())


@given(cases())
def test_random_layers_engines_agree_with_reference(case):
    idx, cfg, fmt, cb, x, relu = case
    prep = prepare_layer(idx, cfg)
    r = run_both(idx, cfg, x, cb=cb, fmt=fmt, relu=relu, prep=prep)
    assert prep.n_passes == max(1, -(-idx.shape[0] // cfg.rows_per_pass))
    assert prep.n_batches == max(1, -(-idx.shape[1] // cfg.cols_per_batch))
    assert r.broadcasts == prep.n_passes * int(np.count_nonzero(x))
    assert r.entries - r.fillers == int(np.count_nonzero(idx[:, x != 0]))
    assert r.accesses["ptr_sram"]["reads"] == 2 * cfg.n_pe * r.broadcasts
    for c in r.tile_cycles:
        assert c == 1 or c >= 6                         # broadcast, pop and the drain at least


def test_first_call_cost_is_reported_apart_from_the_warm_engine_time():
    # a fresh process: the first call loads the kernel (first_call_seconds > 0), the second does not
    import subprocess
    import sys
    code = ("import numpy as np\n"
            "from arch.config import AcceleratorConfig\n"
            "from arch.fixedpoint import layer_format, one, quantize_codebook\n"
            "from sim.engine import prepare_layer, run_layer\n"
            "cfg = AcceleratorConfig(n_pe=4)\n"
            "idx = (np.arange(8 * 6).reshape(8, 6) % 3).astype(np.uint8)\n"
            "prep = prepare_layer(idx, cfg)\n"
            "cents = np.linspace(0, 0.5, 16).astype(np.float32)\n"
            "fmt = layer_format(cents, cfg)\n"
            "cb = quantize_codebook(cents, fmt)\n"
            "x = np.ones(6, dtype=np.int64) * int(one(fmt))\n"
            "a = run_layer(prep, cb, x, fmt, False)\n"
            "b = run_layer(prep, cb, x, fmt, False)\n"
            "print(a.first_call_seconds, b.first_call_seconds, a.engine_seconds, a.cycles == b.cycles)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    first, second, warm, same = float(out[0]), float(out[1]), float(out[2]), out[3]
    assert first > 0 and second == 0 and warm >= 0 and same == "True"
