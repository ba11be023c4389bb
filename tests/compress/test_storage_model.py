import numpy as np
import pytest
from hypothesis import given, strategies as st

from arch.config import AcceleratorConfig
from compress.archive import ArchiveError
from compress.config import CompressionConfig, LayerKind
from compress.model import load, save
from network.graph import LayerSpec, Network, init_params
from compress.pipeline import step_encode, step_prune, step_quantize, storage_report
from compress.storage import decode_form, encode_form, layer_storage


@st.composite
def index_matrices(draw):
    rows = draw(st.integers(1, 40))
    cols = draw(st.integers(1, 120))
    bits = draw(st.integers(1, 8))
    density = draw(st.sampled_from([0.0, 0.01, 0.1, 0.5, 1.0]))
    seed = draw(st.integers(0, 2**31))
    rng = np.random.default_rng(seed)
    idx = rng.integers(1, 1 << bits, size=(rows, cols)) * (rng.random((rows, cols)) < density)
    return idx.astype(np.int64), bits, draw(st.integers(1, 8))


@given(index_matrices())
def test_storage_form_roundtrip_through_huffman(case):
    idx, bits, rel = case
    f = encode_form(idx, bits, rel)
    assert np.array_equal(decode_form(f.v, f.z, f.row_ptr, *idx.shape, rel), idx)
    assert np.array_equal(f.decode_indices(), idx)
    nnz = int(np.count_nonzero(idx))
    assert f.n_entries - f.n_fillers == nnz
    s = layer_storage(f, n_weights=idx.size, n_bias=0, nnz_weights=nnz)
    assert s["storage_bits_pq"] == f.n_entries * (bits + rel) + f.pointer_bits + (1 << bits) * 32
    # quantization only: a dense index matrix plus the codebook, whatever the sparsity
    assert s["storage_bits_q"] == idx.size * bits + (1 << bits) * 32
    assert s["compression_rate_q"] == 32 * idx.size / s["storage_bits_q"]


def test_paper_example_in_storage_form():
    # one row, gaps along the row: [0,0,1,2,0 x18,3] with 4-bit relative indices
    row = np.array([[0, 0, 1, 2] + [0] * 18 + [3]])
    f = encode_form(row, 2, 4)
    assert list(f.v) == [1, 2, 0, 3] and list(f.z) == [2, 0, 15, 2]


def _small_model(seed=0):
    specs = [LayerSpec("fc1", LayerKind.FC, (30, 50), relu=True), LayerSpec("fc2", LayerKind.FC, (10, 30), relu=False)]
    net = init_params(Network("t", (50,), specs), seed)
    cfg = CompressionConfig(density=0.2, fc_bits=4, retrain_epochs=0, finetune_epochs=0)
    step_prune(net, cfg, None, progress=False, log=lambda m: None)
    quant = step_quantize(net, cfg, None, progress=False, log=lambda m: None)
    return step_encode(net, quant, cfg, AcceleratorConfig(n_pe=4), {"note": "test"}), net


def test_model_roundtrip_and_dequantized_weights(tmp_path):
    m, net = _small_model()
    p = tmp_path / "model.dcz"
    save(m, p)
    m2 = load(p)
    assert m2 == m
    for l in m2.layers:
        assert np.array_equal(l.weights, net.params[l.name])      # golden: dequantized == decoded archive
        assert np.array_equal(l.bias, net.params[l.name + "_bias"])
    rep = storage_report(m2)
    assert rep["total"]["compression_rate"] > 1
    assert rep["total"]["eie_n_pe"] if "eie_n_pe" in rep["total"] else True


def test_model_archive_corruption_errors(tmp_path):
    m, _ = _small_model(1)
    p = tmp_path / "model.dcz"
    save(m, p)
    data = p.read_bytes()
    bad = tmp_path / "trunc.dcz"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(ArchiveError, match="trunc.dcz"):
        load(bad)
    flip = bytearray(data)
    flip[len(data) // 3] ^= 0x10
    bad.write_bytes(bytes(flip))
    with pytest.raises(ArchiveError, match="trunc.dcz"):
        load(bad)


def test_storage_report_rates_consistent():
    m, _ = _small_model(2)
    rep = storage_report(m)
    t = rep["total"]
    assert t["dense_bits"] == 32 * (30 * 50 + 30 + 10 * 30 + 10)
    assert t["compression_rate"] == pytest.approx(t["dense_bits"] / t["storage_bits_pqh"])
    assert t["storage_bits_pqh"] == sum(r["storage_bits_pqh"] for r in rep["layers"])
    assert t["compression_rate_p"] < t["compression_rate_pq"]


def test_decode_form_in_blocks_and_in_the_index_dtype(monkeypatch):
    """decode_form works a block of rows at a time and can decode into uint8 (the loader's
    memory on large layers); the result is the indices whatever the block."""
    import compress.storage as st

    rng = np.random.default_rng(1)
    for _ in range(60):
        n, m = int(rng.integers(0, 40)), int(rng.integers(0, 40))
        bits, rel = int(rng.integers(1, 9)), int(rng.integers(1, 6))
        idx = (rng.integers(1, 1 << bits, size=(n, m)) * (rng.random((n, m)) < rng.random())).astype(np.uint8)
        f = st.encode_form(idx, bits, rel)
        for blk in (1, 3, 1 << 22):
            monkeypatch.setattr(st, "_DECODE_BLOCK", blk)
            out = st.decode_form(f.v, f.z, f.row_ptr, n, m, rel, dtype=np.uint8)
            assert out.dtype == np.uint8 and np.array_equal(out, idx)
