"""The EIE weight-stream encoding (arch/encoding.py): paper example, layout, round trips, errors."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

from arch.config import AcceleratorConfig
from arch.encoding import (EIEStreams, EncodingError, PEStream, check_capacity, decode_layer, encode_layer,
                           pack_words, unpack_words)

PAPER_COL = np.array([0, 0, 1, 2] + [0] * 18 + [3])[:, None]


# ---------------------------------------------------------------- slow pure-Python references

def ref_encode(W, n_pe, rel_bits):
    """Per PE: (v list, z list, col_ptr list), straight from the format description."""
    M = (1 << rel_bits) - 1
    out = []
    for p in range(n_pe):
        local = W[p::n_pe]
        v, z, ptr = [], [], [0]
        for j in range(W.shape[1]):
            pos = 0
            for r in range(local.shape[0]):
                x = int(local[r, j])
                if x:
                    gap = r - pos
                    while gap > M:
                        v.append(0)
                        z.append(M)
                        gap -= M + 1
                    v.append(x)
                    z.append(gap)
                    pos = r + 1
            ptr.append(len(v))
        out.append((v, z, ptr))
    return out


def ref_pack(v, z, cfg):
    """Words as Python ints, then split into 64-bit limbs (limb 0 least significant)."""
    eb, epw = cfg.entry_bits, cfg.entries_per_word
    n_limbs = -(-cfg.sram_word_bits // 64)
    n_words = -(-len(v) // epw)
    rows = []
    for w in range(n_words):
        word = 0
        for k in range(epw):
            a = w * epw + k
            if a < len(v):
                word |= (int(v[a]) | (int(z[a]) << cfg.index_bits)) << (k * eb)
        assert word < (1 << cfg.sram_word_bits)
        rows.append([(word >> (64 * L)) & ((1 << 64) - 1) for L in range(n_limbs)])
    return np.array(rows, dtype=np.uint64).reshape(n_words, n_limbs)


# ---------------------------------------------------------------- strategies

@st.composite
def configs(draw, max_pe=80):
    ib = draw(st.integers(1, 8))
    rb = draw(st.integers(1, 8))
    lo = max(3, (ib + rb - 1).bit_length())       # smallest power of two >= entry bits (and >= 8)
    wb = 1 << draw(st.integers(lo, 10))
    n_pe = draw(st.sampled_from([1, 2, 3, 4, 7, 8, 64]) | st.integers(1, max_pe))
    return AcceleratorConfig(n_pe=n_pe, index_bits=ib, rel_index_bits=rb, sram_word_bits=wb)


@st.composite
def layers(draw, cfg, max_rows=200, max_cols=24):
    """A random index matrix: sparse, dense, empty; some empty columns; long gaps."""
    n_rows = draw(st.integers(1, max_rows))
    n_cols = draw(st.integers(1, max_cols))
    density = draw(st.sampled_from([0.0, 0.005, 0.02, 0.1, 0.5, 1.0]) | st.floats(0, 1))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    W = (rng.random((n_rows, n_cols)) < density) * rng.integers(1, 1 << cfg.index_bits, (n_rows, n_cols))
    if draw(st.booleans()):
        W[:, rng.random(n_cols) < 0.3] = 0        # empty columns
    return W.astype(draw(st.sampled_from([np.int64, np.uint8, np.int32, np.uint16])))


def check_invariants(s: EIEStreams, cfg: AcceleratorConfig):
    epw = cfg.entries_per_word
    assert len(s.pes) == cfg.n_pe
    for pe in s.pes:
        assert pe.v.dtype == np.uint8 and pe.z.dtype == np.uint8 and pe.col_ptr.dtype == np.int64
        assert pe.words.dtype == np.uint64 and pe.words.shape == (-(-pe.n_entries // epw), s.n_limbs)
        assert pe.col_ptr.shape == (s.n_cols + 1,) and pe.col_ptr[0] == 0 and pe.col_ptr[-1] == pe.n_entries
        assert np.all(np.diff(pe.col_ptr) >= 0)
        assert np.all(pe.v < (1 << cfg.index_bits)) and np.all(pe.z <= cfg.max_rel)
        fill = pe.v == 0
        assert np.all(pe.z[fill] == cfg.max_rel) and pe.n_fillers == int(fill.sum())
        ends = pe.col_ptr[1:][np.diff(pe.col_ptr) > 0] - 1
        assert np.all(pe.v[ends] != 0)                # no trailing fillers
    fp = s.footprint()
    assert fp["spmat_bits"] == sum(pe.n_words for pe in s.pes) * cfg.sram_word_bits
    assert fp["ptr_bits"] == cfg.n_pe * (s.n_cols + 1) * cfg.pointer_bits
    assert fp["entry_bits_used"] == s.total_entries * cfg.entry_bits
    assert fp["padding_bits"] == fp["spmat_bits"] - fp["entry_bits_used"] >= 0
    assert fp["total_bits"] == fp["spmat_bits"] + fp["ptr_bits"]
    assert fp["max_pe_spmat_bits"] == max(pe.n_words for pe in s.pes) * cfg.sram_word_bits


# ---------------------------------------------------------------- paper example and layout

def test_paper_example():
    s = encode_layer(PAPER_COL, AcceleratorConfig(n_pe=1))
    pe = s.pes[0]
    assert pe.v.tolist() == [1, 2, 0, 3] and pe.z.tolist() == [2, 0, 15, 2]
    assert pe.col_ptr.tolist() == [0, 4] and pe.n_fillers == 1
    # one 64-bit word, slots 0..3 = 0x21, 0x02, 0xF0, 0x23, slots 4..7 empty
    assert pe.words.shape == (1, 1) and int(pe.words[0, 0]) == 0x23F00221
    assert np.array_equal(decode_layer(s), PAPER_COL)


@pytest.mark.parametrize("gap, v, z", [
    (0, [5], [0]), (15, [5], [15]), (16, [0, 5], [15, 0]), (17, [0, 5], [15, 1]),
    (31, [0, 5], [15, 15]), (32, [0, 0, 5], [15, 15, 0]), (100, [0] * 6 + [5], [15] * 6 + [4]),
])
def test_filler_boundaries(gap, v, z):
    col = np.zeros((gap + 1, 1), dtype=np.int64)
    col[gap] = 5
    pe = encode_layer(col, AcceleratorConfig(n_pe=1)).pes[0]
    assert pe.v.tolist() == v and pe.z.tolist() == z


def test_rel_bits_1_many_fillers():
    cfg = AcceleratorConfig(n_pe=1, index_bits=2, rel_index_bits=1, sram_word_bits=8)
    col = np.zeros((9, 1), dtype=np.int64)
    col[0], col[8] = 1, 3          # gap of 7 zeros with max_rel = 1: three fillers then z = 1
    pe = encode_layer(col, cfg).pes[0]
    assert pe.v.tolist() == [1, 0, 0, 0, 3] and pe.z.tolist() == [0, 1, 1, 1, 1]
    # 3-bit entries, 8-bit words -> 2 entries per word at bits [0,3) and [3,6)
    assert cfg.entries_per_word == 2
    assert pe.words[:, 0].tolist() == [1 | (0b100 << 3), 0b100 | (0b100 << 3), 0b111]
    assert np.array_equal(decode_layer(encode_layer(col, cfg)), col)


def test_word_layout_multi_limb_straddle():
    # 5-bit entries in a 128-bit word: 16 slots over 80 bits; slot 12 is bits 60..64 (straddles limbs)
    cfg = AcceleratorConfig(n_pe=1, index_bits=3, rel_index_bits=2, sram_word_bits=128)
    assert cfg.entries_per_word == 16 and cfg.slot_bits == 4
    v = np.array([(k % 7) + 1 for k in range(17)], dtype=np.uint8)
    z = np.array([k % 4 for k in range(17)], dtype=np.uint8)
    words = pack_words(v, z, cfg)
    word0 = sum((int(v[k]) | int(z[k]) << 3) << (5 * k) for k in range(16))
    assert words.shape == (2, 2)
    assert int(words[0, 0]) == word0 & (2**64 - 1) and int(words[0, 1]) == word0 >> 64
    assert int(words[1, 0]) == int(v[16]) | int(z[16]) << 3 and int(words[1, 1]) == 0
    assert int(words[0, 1]) >> 16 == 0                 # bits above 80 unused
    v2, z2 = unpack_words(words, 17, cfg)
    assert np.array_equal(v2, v) and np.array_equal(z2, z)


def test_entry_address_to_word_and_slot():
    cfg = AcceleratorConfig(n_pe=1)                    # 8 entries of 8 bits per 64-bit word
    n = 21
    v = (np.arange(n) % 15 + 1).astype(np.uint8)
    z = (np.arange(n) % 16).astype(np.uint8)
    w = pack_words(v, z, cfg)
    assert w.shape == (3, 1)
    for a in range(n):
        word, slot = a >> cfg.slot_bits, a & (cfg.entries_per_word - 1)
        assert (int(w[word, 0]) >> (8 * slot)) & 0xFF == int(v[a]) | int(z[a]) << 4
    assert int(w[2, 0]) >> 40 == 0                     # slots 5..7 of the last word are 0


# ---------------------------------------------------------------- properties

@given(data=st.data())
def test_roundtrip_property(data):
    cfg = data.draw(configs())
    W = data.draw(layers(cfg))
    s = encode_layer(W, cfg)
    check_invariants(s, cfg)
    assert s.total_entries - s.total_fillers == np.count_nonzero(W)
    D = decode_layer(s)
    assert D.shape == W.shape and np.array_equal(D, W)


@given(data=st.data())
def test_matches_reference_encoder(data):
    cfg = data.draw(configs(max_pe=12))
    W = data.draw(layers(cfg, max_rows=60, max_cols=8))
    s = encode_layer(W, cfg)
    ref = ref_encode(W, cfg.n_pe, cfg.rel_index_bits)
    for p, (pe, (v, z, ptr)) in enumerate(zip(s.pes, ref)):
        assert pe.v.tolist() == v, p
        assert pe.z.tolist() == z, p
        assert pe.col_ptr.tolist() == ptr, p
        assert np.array_equal(pe.words, ref_pack(v, z, cfg)), p
        assert pe.n_fillers == v.count(0)


@given(data=st.data())
def test_pack_unpack_property(data):
    cfg = data.draw(configs(max_pe=1))
    n = data.draw(st.integers(0, 3 * cfg.entries_per_word + 3))
    v = np.array(data.draw(st.lists(st.integers(0, (1 << cfg.index_bits) - 1), min_size=n, max_size=n)),
                 dtype=np.uint8).reshape(n)
    z = np.array(data.draw(st.lists(st.integers(0, cfg.max_rel), min_size=n, max_size=n)),
                 dtype=np.uint8).reshape(n)
    w = pack_words(v, z, cfg)
    assert np.array_equal(w, ref_pack(v, z, cfg))
    v2, z2 = unpack_words(w, n, cfg)
    assert np.array_equal(v2, v) and np.array_equal(z2, z)


# ---------------------------------------------------------------- edge cases

def test_more_pes_than_rows_gives_empty_pes():
    cfg = AcceleratorConfig(n_pe=8, sram_word_bits=256)
    W = np.array([[1, 0, 2], [0, 0, 3], [4, 0, 0]])
    s = encode_layer(W, cfg)
    for pe in s.pes[3:]:
        assert pe.n_entries == 0 and pe.col_ptr.tolist() == [0, 0, 0, 0]
        assert pe.words.shape == (0, 4) and pe.words.dtype == np.uint64
    assert s.pes[0].v.tolist() == [1, 2] and s.pes[0].col_ptr.tolist() == [0, 1, 1, 2]
    assert s.max_entries_per_pe == 2 and s.total_entries == 4
    assert np.array_equal(decode_layer(s), W)


def test_all_zero_matrix():
    cfg = AcceleratorConfig(n_pe=4)
    W = np.zeros((10, 5), dtype=np.int64)
    s = encode_layer(W, cfg)
    assert s.total_entries == 0 and s.footprint()["spmat_bits"] == 0
    assert s.footprint()["ptr_bits"] == 4 * 6 * cfg.pointer_bits
    assert all(pe.words.shape == (0, 1) for pe in s.pes)
    assert np.array_equal(decode_layer(s), W)


def test_interleaving_rows_to_pes():
    cfg = AcceleratorConfig(n_pe=3)
    W = np.zeros((7, 2), dtype=np.int64)
    W[:, 0] = np.arange(1, 8)                          # rows 0..6 -> PEs 0,1,2,0,1,2,0
    s = encode_layer(W, cfg)
    assert s.pes[0].v.tolist() == [1, 4, 7] and s.pes[1].v.tolist() == [2, 5] and s.pes[2].v.tolist() == [3, 6]
    assert [s.local_rows(p) for p in range(3)] == [3, 2, 2]
    assert all(pe.col_ptr[1] == pe.col_ptr[2] == pe.n_entries for pe in s.pes)


@pytest.mark.parametrize("shape", [(0, 5), (5, 0), (0, 0)])
def test_zero_rows_or_cols_work(shape):
    cfg = AcceleratorConfig(n_pe=4)
    s = encode_layer(np.zeros(shape, dtype=np.int64), cfg)
    assert s.total_entries == 0 and all(pe.col_ptr.tolist() == [0] * (shape[1] + 1) for pe in s.pes)
    D = decode_layer(s)
    assert D.shape == shape


def test_list_input_and_streams_read_only():
    s = encode_layer([[0, 1], [2, 0]], AcceleratorConfig(n_pe=2))
    assert isinstance(s.pes[0], PEStream)
    with pytest.raises(ValueError):
        s.pes[0].v[0] = 3
    assert decode_layer(s).tolist() == [[0, 1], [2, 0]]


def test_8bit_indices_dense_1024bit_words():
    cfg = AcceleratorConfig(n_pe=2, index_bits=8, rel_index_bits=8, sram_word_bits=1024)
    W = np.arange(1, 257).reshape(16, 16) % 256        # includes 255 and some zeros
    s = encode_layer(W, cfg)
    assert s.n_limbs == 16 and cfg.entries_per_word == 64
    assert np.array_equal(decode_layer(s), W)


# ---------------------------------------------------------------- errors

@pytest.mark.parametrize("W, frag", [
    (np.zeros(5, dtype=np.int64), "2-D"),
    (np.zeros((2, 2, 2), dtype=np.int64), "2-D"),
    (np.array([[0, -1]]), "negative value -1"),
    (np.array([[0, 16]]), r"contain 16.*allowed 0\.\.15"),
    (np.zeros((2, 2)), "integer"),
])
def test_bad_indices(W, frag):
    with pytest.raises(EncodingError, match=frag):
        encode_layer(W, AcceleratorConfig())


def test_index_bits_limit_respected():
    cfg = AcceleratorConfig(index_bits=2)
    encode_layer(np.array([[3]]), cfg)
    with pytest.raises(EncodingError, match=r"contain 4, above the 2-bit codebook; allowed 0\.\.3"):
        encode_layer(np.array([[4]]), cfg)


def test_pack_words_rejects_out_of_range():
    with pytest.raises(EncodingError, match="z values"):
        pack_words(np.array([1], np.uint8), np.array([16], np.uint8), AcceleratorConfig())
    with pytest.raises(EncodingError, match="equal length"):
        pack_words(np.array([1, 2], np.uint8), np.array([1], np.uint8), AcceleratorConfig())
    with pytest.raises(EncodingError, match="SRAM words"):
        unpack_words(np.zeros((1, 1), np.uint64), 9, AcceleratorConfig())


def test_decode_rejects_corrupt_pointers():
    s = encode_layer(PAPER_COL, AcceleratorConfig(n_pe=1))
    pe = s.pes[0]
    bad = EIEStreams(**{**s.__dict__, "pes": (PEStream(pe.v, pe.z, np.array([0, 9]), pe.words),)})
    with pytest.raises(EncodingError, match="PE 0: 9 entries need 2 SRAM words"):
        decode_layer(bad)
    bad = EIEStreams(**{**s.__dict__, "pes": (PEStream(pe.v, pe.z, np.array([1, 0]), pe.words),)})
    with pytest.raises(EncodingError, match="PE 0: col_ptr must be non-decreasing"):
        decode_layer(bad)
    z = pe.z.copy()
    z[-1] = 9                                                # last entry now lands on local row 29 of 23
    bad = EIEStreams(**{**s.__dict__, "pes": (PEStream(pe.v, z, pe.col_ptr, pack_words(pe.v, z, AcceleratorConfig())),)})
    with pytest.raises(EncodingError, match="PE 0: column 0 has an entry at local row 29, but the PE owns only 23"):
        decode_layer(bad)


# ---------------------------------------------------------------- capacity

def test_check_capacity_boundary():
    cfg = AcceleratorConfig(n_pe=2, spmat_sram_bytes=16)     # 2 words x 8 entries = 16 entries per PE
    assert cfg.spmat_capacity_entries == 16
    W = np.ones((2 * 16, 1), dtype=np.int64)                 # 16 entries on each PE: exactly fits
    s = encode_layer(W, cfg)
    assert s.max_entries_per_pe == 16
    check_capacity(s, cfg)
    W2 = np.ones((2 * 16 + 1, 1), dtype=np.int64)            # PE 0 gets 17: one over
    s2 = encode_layer(W2, cfg)                               # encoding itself never refuses
    assert s2.pes[0].n_entries == 17 and s2.footprint()["max_pe_spmat_bits"] == 3 * 64
    with pytest.raises(EncodingError, match=r"PE 0 needs 17 entries .* holds 16"):
        check_capacity(s2, cfg)
    with pytest.raises(EncodingError, match="re-encode"):
        check_capacity(s, cfg.replace(rel_index_bits=5, sram_word_bits=64))


def test_fillers_count_toward_capacity():
    cfg = AcceleratorConfig(n_pe=1, spmat_sram_bytes=8)      # one word: 8 entries
    col = np.zeros((16 * 8, 1), dtype=np.int64)
    col[-1] = 1                                              # gap 127 -> 7 fillers + 1 entry = 8
    s = encode_layer(col, cfg)
    assert s.total_entries == 8 and s.total_fillers == 7
    check_capacity(s, cfg)
    col2 = np.zeros((16 * 8 + 16, 1), dtype=np.int64)
    col2[-1] = 1                                             # 8 fillers + 1 entry = 9
    with pytest.raises(EncodingError, match="PE 0 needs 9 entries"):
        check_capacity(encode_layer(col2, cfg), cfg)


def test_blockwise_encoding_equals_one_block(monkeypatch):
    """The numpy encoder (_encode_layer_numpy, the fast encoder's reference) works a block of whole
    (PE, column) groups at a time; tiny blocks give the same streams as one block and as
    encode_layer, and they decode to the indices."""
    import arch.encoding as enc

    rng = np.random.default_rng(5)
    for trial in range(60):
        n_rows, n_cols = int(rng.integers(0, 70)), int(rng.integers(0, 50))
        bits, rb, npe = int(rng.integers(1, 9)), int(rng.integers(1, 5)), int(rng.choice([1, 3, 8, 64]))
        idx = (rng.integers(1, 1 << bits, size=(n_rows, n_cols))
               * (rng.random((n_rows, n_cols)) < rng.random())).astype(np.uint8)
        fmt = enc.StreamFormat.smallest_word(npe, bits, rb)
        one = enc.encode_layer(idx, fmt)
        for blk in (1, 5, 1 << 24):
            monkeypatch.setattr(enc, "_ENCODE_BLOCK", blk)
            many = enc._encode_layer_numpy(idx, fmt)
            for a, b in zip(one.pes, many.pes):
                for f in ("v", "z", "col_ptr", "words"):
                    assert np.array_equal(getattr(a, f), getattr(b, f)), (trial, blk, f)
            assert np.array_equal(enc.decode_layer(many), idx)
