"""The Numba encoder and decoder (arch/_encoding_kernels.py) against the numpy reference
(arch.encoding._encode_layer_numpy / _decode_pe_numpy): the same streams bit for bit, the same
dtypes, read-only views and errors; and the benchmark-layer generator's outputs pinned by digest."""
import hashlib

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import arch.encoding as enc
from arch.config import AcceleratorConfig
from arch.encoding import EIEStreams, EncodingError, PEStream, StreamFormat, decode_layer, encode_layer


def assert_same_streams(a: EIEStreams, b: EIEStreams):
    assert (a.n_rows, a.n_cols, a.format) == (b.n_rows, b.n_cols, b.format)
    assert len(a.pes) == len(b.pes)
    for p, (x, y) in enumerate(zip(a.pes, b.pes)):
        for f in ("v", "z", "col_ptr", "words"):
            u, w = getattr(x, f), getattr(y, f)
            assert u.dtype == w.dtype and u.shape == w.shape, (p, f, u.dtype, w.dtype, u.shape, w.shape)
            assert np.array_equal(u, w), (p, f)
            assert not u.flags.writeable, (p, f)


def numpy_encode(W, fmt):
    return enc._encode_layer_numpy(enc._validate_indices(W, fmt.index_bits), fmt)


def numpy_decode(s: EIEStreams) -> np.ndarray:
    out = np.zeros((s.n_rows, s.n_cols), dtype=np.uint8)
    for p, pe in enumerate(s.pes):
        cp = np.asarray(pe.col_ptr, dtype=np.int64)
        if int(cp[-1]):
            enc._decode_pe_numpy(s, p, pe, cp, int(cp[-1]), out)
    return out


@st.composite
def formats(draw):
    ib = draw(st.integers(1, 8))
    rb = draw(st.integers(1, 8))
    eb = ib + rb
    lo = max(eb, 1)
    wb = draw(st.sampled_from(sorted({1 << max(3, (eb - 1).bit_length()), 64, 128, 256, 1024} - {0}))
              | st.integers(lo, 300))
    wb = max(wb, eb)
    n_pe = draw(st.sampled_from([1, 2, 3, 4, 7, 8, 64]) | st.integers(1, 100))
    return StreamFormat(n_pe, ib, rb, wb)


@st.composite
def matrices(draw, fmt, max_rows=300, max_cols=40):
    n_rows = draw(st.integers(0, max_rows))
    n_cols = draw(st.integers(0, max_cols))
    density = draw(st.sampled_from([0.0, 0.002, 0.01, 0.05, 0.3, 1.0]) | st.floats(0, 1))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    W = (rng.random((n_rows, n_cols)) < density) * rng.integers(1, 1 << fmt.index_bits, (n_rows, n_cols))
    if n_cols and draw(st.booleans()):
        W[:, rng.random(n_cols) < 0.3] = 0                  # empty columns
    if n_rows and draw(st.booleans()):
        W[rng.random(n_rows) < 0.3, :] = 0                  # empty rows
    if n_rows and n_cols and draw(st.booleans()):
        W[:-1, int(rng.integers(n_cols))] = 0               # one long gap needing fillers
    W = W.astype(draw(st.sampled_from([np.uint8, np.int64, np.int32, np.uint16])))
    layout = draw(st.sampled_from(["C", "F", "slice"]))
    if layout == "F":
        W = np.asfortranarray(W)
    elif layout == "slice":
        big = np.zeros((n_rows, 2 * n_cols + 1), dtype=W.dtype)
        big[:, 1::2] = W
        W = big[:, 1::2]
    return W


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_fast_encoder_equals_numpy_encoder(data):
    fmt = data.draw(formats())
    W = data.draw(matrices(fmt))
    fast = encode_layer(W, fmt)
    assert_same_streams(fast, numpy_encode(W, fmt))
    D = decode_layer(fast)
    assert D.dtype == np.uint8 and np.array_equal(D, W) and np.array_equal(D, numpy_decode(fast))


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_fast_encoder_large_layers(data):
    """Wider rows (the 8-byte paths), many PEs, sparse and dense."""
    fmt = data.draw(formats())
    W = data.draw(matrices(fmt, max_rows=700, max_cols=300))
    assert_same_streams(encode_layer(W, fmt), numpy_encode(W, fmt))


@pytest.mark.parametrize("rb", [1, 2, 4, 8])
def test_long_gaps_all_formats(rb):
    rng = np.random.default_rng(rb)
    for n_pe in (1, 3, 64):
        W = np.zeros((n_pe * 700, 5), dtype=np.uint8)
        W[rng.integers(0, W.shape[0], 12), rng.integers(0, 5, 12)] = rng.integers(1, 16, 12)
        W[-1, 4] = 9                                       # the longest gap possible
        for wb in (8 * ((4 + rb + 7) // 8), 64, 96, 128):
            fmt = StreamFormat(n_pe, 4, rb, max(wb, 4 + rb))
            assert_same_streams(encode_layer(W, fmt), numpy_encode(W, fmt))


def test_config_and_format_give_the_same_streams():
    cfg = AcceleratorConfig(n_pe=8)
    W = (np.random.default_rng(0).random((90, 33)) < 0.2) * 3
    assert_same_streams(encode_layer(W, cfg), encode_layer(W, cfg.stream_format))


def test_wide_rel_index_uses_numpy_path():
    """rel_index_bits > 8 does not fit the uint8 z arrays: the numpy encoder's behaviour is kept."""
    fmt = StreamFormat(2, 4, 9, 64)
    W = np.zeros((600, 3), dtype=np.uint8)
    W[590, 1] = 3
    try:
        ref = numpy_encode(W, fmt)
    except Exception as e:                                  # noqa: BLE001
        with pytest.raises(type(e)):
            encode_layer(W, fmt)
    else:
        assert_same_streams(encode_layer(W, fmt), ref)


@pytest.mark.parametrize("W, frag", [
    (np.zeros(5, dtype=np.int64), "2-D"),
    (np.array([[0, -1]]), "negative value -1"),
    (np.array([[0, 16]]), r"contain 16.*allowed 0\.\.15"),
    (np.zeros((2, 2)), "integer"),
])
def test_same_errors(W, frag):
    with pytest.raises(EncodingError, match=frag):
        encode_layer(W, AcceleratorConfig())


def test_decode_errors_match_numpy_decoder():
    """A corrupt z (an entry beyond the PE's rows) is reported as the numpy decoder reports it."""
    rng = np.random.default_rng(3)
    cfg = AcceleratorConfig(n_pe=4)
    W = ((rng.random((40, 6)) < 0.3) * rng.integers(1, 16, (40, 6))).astype(np.uint8)
    s = encode_layer(W, cfg)
    for p, pe in enumerate(s.pes):
        if pe.n_entries == 0:
            continue
        z = pe.z.copy()
        z[-1] = cfg.max_rel
        pes = list(s.pes)
        pes[p] = PEStream(pe.v, z, pe.col_ptr, enc.pack_words(pe.v, z, cfg))
        bad = EIEStreams(**{**s.__dict__, "pes": tuple(pes)})
        with pytest.raises(EncodingError) as fast:
            decode_layer(bad)
        with pytest.raises(EncodingError) as ref:
            numpy_decode(bad)
        assert str(fast.value) == str(ref.value)


def test_decode_accepts_other_word_dtypes():
    s = encode_layer([[0, 3], [5, 0], [0, 0]], AcceleratorConfig(n_pe=2))
    pes = tuple(PEStream(pe.v, pe.z, pe.col_ptr.tolist(), pe.words.astype(np.int64)) for pe in s.pes)
    assert decode_layer(EIEStreams(**{**s.__dict__, "pes": pes})).tolist() == [[0, 3], [5, 0], [0, 0]]


# ---------------------------------------------------------------- the benchmark-layer generator

def _digest(w) -> str:
    h = hashlib.sha256()
    for a in (w.indices, w.centroids, w.x):
        h.update(str(a.dtype).encode())
        h.update(str(a.shape).encode())
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


# computed with sim/workloads.py before it was sped up (default AcceleratorConfig)
WORKLOAD_DIGESTS = {
    ("alex-7", 0): "d2163b8ad3ad5989eea078489cff4b2a6c07adc949ac1c6fab70a5e93cb4a13e",
    ("alex-7", 1): "045fad583db63bc91e14b2a06868097098241b3e5b65ff2de67fa3832380729f",
    ("nt-we", 0): "f30639fd94b1c5f1aa93e2596826d6fed4dfbdd72c472f3b408d020f68be7072",
    ("nt-we", 1): "8316b635c5a928bbf35f3da2bd66cac17055a887a99e9b0793847ffbdba98481",
    ("nt-lstm", 0): "009f6f2c123e9a4ec06e307a8af40f395dd533824bf830390705b94a2b380fa6",
    ("alex-8", 1): "6999e4355c680a0fc7f3e298ab5c2e08792e52e314119a3af811ed5357d5abb3",
}


@pytest.mark.parametrize("name, seed", sorted(WORKLOAD_DIGESTS))
def test_workloads_unchanged(name, seed):
    from sim.workloads import make_workload

    assert _digest(make_workload(name, AcceleratorConfig(), seed)) == WORKLOAD_DIGESTS[name, seed]


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_kmeans_labels_equal_searchsorted(data):
    """compress.methods.kmeans._labels (counting, used by the generator's weight sharing) equals
    the binary search it replaces, ties and signed zeros included."""
    from compress.methods.kmeans import _labels

    n_m = data.draw(st.integers(0, 40))
    pool = st.sampled_from([0.0, -0.0, 1.0, -1.0, 0.5, 1e-300, -1e-300, 2.5]) | st.floats(-3, 3)
    m = np.sort(np.array(data.draw(st.lists(pool, min_size=n_m, max_size=n_m)), dtype=np.float64))
    a = np.array(data.draw(st.lists(pool | st.sampled_from(list(m) or [0.0]), min_size=1, max_size=200)),
                 dtype=np.float64)
    got = _labels(m, a)
    assert got.dtype == np.int32
    assert np.array_equal(got, np.searchsorted(m, a, side="right").astype(np.int32))
