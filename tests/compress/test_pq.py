"""The ``pq`` quantizer: product quantization of rows mapped onto one scalar codebook per layer."""
import numpy as np
import pytest

from arch.config import AcceleratorConfig
from arch.configio import ConfigError
from compress.config import CompressionConfig
from compress.methods import QUANTIZERS, quantize_matrix
from compress.methods.pq import masked_kmeans, masked_objective, pq_codebook_size, pq_native_bits

PQ = CompressionConfig(quantizer="pq", pq_subvector=4)


def _aug(rows=12, cols=16, density=0.6, seed=0):
    rng = np.random.default_rng(seed)
    W = rng.normal(0, 0.2, size=(rows, cols))
    W[rng.random(W.shape) > density] = 0
    return np.concatenate([W, rng.normal(0, 0.1, size=(rows, 1))], axis=1)


def _codewords(q, d, K):
    return q.centroids[1:1 + K * d].astype(np.float64).reshape(K, d)


def test_registered_and_contract():
    assert "pq" in QUANTIZERS
    aug = _aug()
    q = quantize_matrix(aug, 6, PQ, layer="fc1", log=lambda m: None)
    assert q.idx.shape == aug.shape and q.centroids.shape == (64,) and q.centroids[0] == 0
    assert np.array_equal(q.idx != 0, aug != 0)            # pruned zeros stay code 0
    assert q.idx.max() <= pq_codebook_size(6, 4) * 4        # K = 15 codewords of 4: codes 1..60


def test_decode_is_the_pq_reconstruction():
    d, bits = 4, 6
    K = pq_codebook_size(bits, d)
    aug = _aug(density=0.7)
    q = quantize_matrix(aug, bits, PQ, layer="fc1", log=lambda m: None)
    C = _codewords(q, d, K)
    W_idx = q.idx[:, :-1].astype(np.int64)
    rows, cols = W_idx.shape
    for r in range(rows):
        for s in range(cols // d):
            blk = W_idx[r, s * d:(s + 1) * d]
            kept = blk > 0
            if not kept.any():
                continue
            k = (blk[kept] - 1) // d
            assert np.all(k == k[0])                         # one codeword per sub-vector
            assert np.array_equal((blk[kept] - 1) % d, np.flatnonzero(kept))
            recon = np.where(kept, C[k[0]], 0.0)
            np.testing.assert_array_equal(q.centroids[blk].astype(np.float64), recon)
    # the bias: the nearest of the entries 1..K*d
    b = aug[:, -1]
    ent = q.centroids[1:1 + K * d].astype(np.float64)
    assert np.array_equal(q.idx[:, -1], 1 + np.argmin(np.abs(b[:, None] - ent[None, :]), axis=1))


def test_pruned_zeros_never_influence_the_codewords():
    aug = _aug(density=0.5, seed=3)
    q1 = quantize_matrix(aug, 6, PQ, log=lambda m: None)
    # a codeword coordinate is the mean of kept values only: scaling the kept values scales them
    q2 = quantize_matrix(aug * 2.0, 6, PQ, log=lambda m: None)
    np.testing.assert_array_equal(q1.idx, q2.idx)
    np.testing.assert_allclose(q2.centroids, 2 * q1.centroids, rtol=1e-6)
    # masked k-means ignores the values under the mask
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 4))
    M = rng.random(X.shape) < 0.6
    M[~M.any(1), 0] = True
    Xg = np.where(M, X, 1e6)                                 # garbage where pruned
    r1, r2 = masked_kmeans(X, M, 8, seed=1), masked_kmeans(Xg, M, 8, seed=1)
    np.testing.assert_array_equal(r1.labels, r2.labels)
    np.testing.assert_allclose(r1.codewords, r2.codewords)


def test_masked_kmeans_objective_falls_and_beats_random():
    rng = np.random.default_rng(2)
    centres = rng.normal(size=(6, 4)) * 3
    X = centres[rng.integers(6, size=600)] + rng.normal(0, 0.3, size=(600, 4))
    M = rng.random(X.shape) < 0.7
    M[~M.any(1), 1] = True
    r = masked_kmeans(X, M, 6, seed=0)
    assert r.n_iter >= 1
    assert all(b <= a + 1e-9 for a, b in zip(r.history, r.history[1:]))
    assert r.objective == pytest.approx(masked_objective(X * M, M, r.codewords, r.labels))
    rand = rng.integers(6, size=len(X))
    assert r.objective < 0.5 * masked_objective(X * M, M, r.codewords, rand)


def test_deterministic_for_a_seed():
    aug = _aug(rows=20, cols=32, density=0.5, seed=5)
    a = quantize_matrix(aug, 6, PQ, log=lambda m: None)
    b = quantize_matrix(aug, 6, PQ, log=lambda m: None)
    np.testing.assert_array_equal(a.idx, b.idx)
    np.testing.assert_array_equal(a.centroids, b.centroids)
    c = quantize_matrix(aug, 6, PQ.replace(seed=7), log=lambda m: None)
    assert not np.array_equal(a.centroids, c.centroids)


@pytest.mark.parametrize("cols,bits,d,why", [
    (25, 6, 4, "sub-vector length 4 does not divide its row of 25 weights"),
    (16, 2, 4, "room for 0 codeword(s) of length 4"),
])
def test_fallback_is_scalar_kmeans_with_one_line(cols, bits, d, why):
    aug = _aug(rows=6, cols=cols, density=0.8, seed=1)
    lines = []
    q = quantize_matrix(aug, bits, PQ.replace(pq_subvector=d), layer="conv1", log=lines.append)
    assert len(lines) == 1
    assert lines[0].startswith("pq: layer conv1 uses scalar k-means: ") and why in lines[0]
    k = quantize_matrix(aug, bits, PQ.replace(quantizer="kmeans"))
    np.testing.assert_array_equal(q.idx, k.idx)
    np.testing.assert_array_equal(q.centroids, k.centroids)


def test_share_without_the_matrix_is_scalar_kmeans():
    v = np.random.default_rng(0).normal(size=100)
    a = QUANTIZERS.get("pq").share(v, 4, PQ)
    b = QUANTIZERS.get("kmeans").share(v, 4, PQ)
    np.testing.assert_array_equal(a[0], b[0])


@pytest.mark.parametrize("v", [0, -1, 2.0, True, "4"])
def test_config_rejects_bad_subvector(v):
    with pytest.raises(ConfigError, match="pq_subvector = .* is not allowed; use an integer >= 1"):
        CompressionConfig(pq_subvector=v)


def test_native_bits_hand_computed():
    # 3 rows x 8 weights (+ bias), d = 4, bits = 5: K = 31 // 4 = 7 codewords, 3-bit codes
    idx = np.ones((3, 9), dtype=np.uint8)
    n = pq_native_bits(idx, 5, 4)
    assert n == {"codes": 6 * 3, "codebook": 7 * 4 * 16, "bias": 3 * 16, "pattern": 0,
                 "total": 18 + 448 + 48}
    idx[0, 2] = 0                                            # pruned: a 1-bit pattern per weight
    assert pq_native_bits(idx, 5, 4, entry_bits=8) == {"codes": 18, "codebook": 224, "bias": 24, "pattern": 24,
                                                       "total": 18 + 224 + 24 + 24}
    with pytest.raises(ValueError, match="does not divide"):
        pq_native_bits(np.ones((3, 10)), 5, 4)


# ---------------------------------------------------------------- end to end
def test_pipeline_run_simulates_verified():
    torch = pytest.importorskip("torch")  # noqa: F841
    from compress.pipeline import compress_network
    from network.data import TrainData
    from network.graph import LayerKind, LayerSpec, Network, init_params
    from sim.network import simulate_model

    specs = [LayerSpec("fc1", LayerKind.FC, (16, 16), relu=True), LayerSpec("fc2", LayerKind.FC, (4, 16), relu=True),
             LayerSpec("fc3", LayerKind.FC, (3, 4), relu=False)]
    net = init_params(Network("mlp", (16,), specs), 0)
    rng = np.random.default_rng(0)
    x = rng.random((256, 16)).astype(np.float32)
    y = (x[:, :3].argmax(1)).astype(np.int64)
    data = TrainData(x_train=x, y_train=y, x_test=x[:64], y_test=y[:64], fingerprint="t")
    cfg = CompressionConfig(quantizer="pq", pq_subvector=8, density=0.6, fc_bits=5, retrain_epochs=1,
                            finetune_epochs=1, batch_size=32)
    lines = []
    cm, _ = compress_network(net, cfg, AcceleratorConfig(), train=data, progress=False, log=lines.append)
    falls = [m for m in lines if m.startswith("pq:")]
    assert falls == ["pq: layer fc3 uses scalar k-means: sub-vector length 8 does not divide its row of 4 weights"]
    fc1 = cm.layers[0]
    assert fc1.indices[:, :-1].max() <= pq_codebook_size(5, 8) * 8    # K = 3 codewords of 8: codes 1..24
    run = simulate_model(cm, x[:4], AcceleratorConfig(n_pe=4), verify=True, progress=False)
    assert run.verified is True
