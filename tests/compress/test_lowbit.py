"""compress/methods/lowbit.py: uniform, fixed16, twn + ternary, ttq, binaryconnect, xnor, hashed."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from arch.config import AcceleratorConfig  # noqa: E402
from arch.configio import ConfigError  # noqa: E402
from compress.config import CompressionConfig  # noqa: E402
from compress.methods import PRUNERS, QUANTIZERS, quantize_matrix, share_values  # noqa: E402
from compress.methods import lowbit  # noqa: E402
from compress.pipeline import compress_network  # noqa: E402
from network.data import TrainData  # noqa: E402
from network.graph import LayerKind, LayerSpec, Network, augmented, init_params, set_augmented  # noqa: E402
from network.torch_train import to_torch  # noqa: E402
from network.train import train  # noqa: E402

METHODS = ("uniform", "fixed16", "ternary", "ttq", "binaryconnect", "xnor", "hashed")


def _net(seed=0):
    specs = [LayerSpec("fc1", LayerKind.FC, (16, 12), relu=True), LayerSpec("fc2", LayerKind.FC, (4, 16), relu=False)]
    return init_params(Network("mlp", (12,), specs), seed)


def _data():
    rng = np.random.default_rng(0)
    x = rng.random((256, 12)).astype(np.float32)
    y = (x[:, :4].argmax(1)).astype(np.int64)
    return TrainData(x_train=x, y_train=y, x_test=x[:64], y_test=y[:64], fingerprint="t")


def _used(c, codes):
    return np.unique(c[np.asarray(codes)[np.asarray(codes) > 0]])


# ---------------------------------------------------------------- the contract
@pytest.mark.parametrize("name", METHODS)
def test_contract_codes_in_range_and_zero_entry(name):
    v = np.random.default_rng(1).normal(size=500) * 0.1
    v[v == 0] = 0.01
    bits = 4
    codes, c = share_values(v, bits, CompressionConfig(quantizer=name))
    assert codes.min() >= 1 and codes.max() <= (1 << bits) - 1 and c[0] == 0 and c.shape == (16,)
    used = _used(c, codes)
    if name in ("ternary", "binaryconnect", "xnor"):      # xnor without rows: one scale
        assert len(used) == 2 and used[0] == -used[1]
    elif name == "ttq":
        assert len(used) == 2 and used[0] < 0 < used[1] and used[0] != -used[1]
    elif name == "uniform":
        scale = np.max(np.abs(v)) / 7
        assert np.allclose(used / scale, np.round(used / scale), atol=1e-4) and len(used) <= 14
    else:
        assert 2 < len(used) <= 15
    assert np.all(np.sign(c[codes]) == np.sign(v)) or name in ("hashed", "fixed16")


def test_registered():
    for q in METHODS:
        assert q in QUANTIZERS
    assert "twn" in PRUNERS


# ---------------------------------------------------------------- the papers' formulas
def test_uniform_scale_and_levels():
    v = np.array([0.4, -1.0, 0.01, 0.2, -0.7])
    codes, c = lowbit.uniform_share(v, 3)                    # M = 3, scale = 1/3
    assert lowbit.uniform_scale(v, 3) == pytest.approx(1 / 3)
    assert np.allclose(c[codes], [1 / 3, -1, 1 / 3, 1 / 3, -2 / 3], atol=1e-6)   # 0.01 -> +scale, not 0
    assert np.allclose(c[1:7], np.array([1, 2, 3, -1, -2, -3]) / 3, atol=1e-6) and c[7] == 0
    _, c8 = lowbit.uniform_share(np.linspace(-1, 1, 1001)[np.linspace(-1, 1, 1001) != 0], 8)
    assert len(np.unique(c8[1:])) == 254 + 1                   # 254 levels and the unused code 255 (0)


def test_twn_threshold_and_alpha():
    w = np.array([[1.0, -2.0, 0.1, 0.5]])                     # mean|w| = 0.9, Delta = 0.63
    assert lowbit.twn_threshold(w) == pytest.approx(0.63)
    m = PRUNERS.get("twn").mask(w, "fc1", CompressionConfig(density=0.01))
    assert m.tolist() == [[True, True, False, False]]
    codes, c = share_values(w[m], 2, CompressionConfig(quantizer="ternary"))
    assert np.allclose(c[codes], [1.5, -1.5])                 # alpha = mean |kept| = 1.5
    codes, c = share_values(w[m], 2, CompressionConfig(quantizer="ttq"))
    assert np.allclose(c[codes], [1.0, -2.0])                 # W_p, W_n start at the per-sign means


def test_ternary_bits():
    cfg = CompressionConfig(quantizer="ternary", fc_bits=6)
    assert QUANTIZERS.get("ternary").bits_for(cfg, "fc1", "fc") == 2
    with pytest.raises(ConfigError, match="at least 2 index bits"):
        share_values(np.array([1.0, -1.0]), 1, cfg)
    with pytest.raises(ConfigError, match="layer fc3"):
        QUANTIZERS.get("uniform").bits_for(CompressionConfig(quantizer="uniform", fc_bits=1), "fc3", "fc")


def test_xnor_per_row_alpha():
    aug = np.array([[1.0, -3.0, 2.0], [0.5, -0.5, 0.0]])
    q = lowbit.xnor_quantize_matrix(aug, 3)
    assert np.allclose(q.centroids[q.idx], [[2, -2, 2], [0.5, -0.5, 0]])   # alpha_i = mean |W_i| (nonzero)
    assert q.idx[1, 2] == 0


def test_xnor_clusters_the_scales_when_rows_do_not_fit():
    rng = np.random.default_rng(0)
    aug = rng.normal(size=(40, 9)) * rng.uniform(0.1, 2, size=(40, 1))
    q = lowbit.xnor_quantize_matrix(aug, 3)                     # 2 x 40 > 7: 3 shared scales
    vals = q.centroids[q.idx]
    assert len(np.unique(vals)) == 6
    assert all(len(np.unique(np.abs(r))) == 1 for r in vals)     # one magnitude per row
    q8 = lowbit.xnor_quantize_matrix(aug, 8)                    # 80 <= 255: exact alpha_i
    assert np.allclose(np.abs(q8.centroids[q8.idx])[:, 0], np.abs(aug).mean(1), rtol=1e-6)


def test_hashed_codes_are_the_hash_and_buckets_the_means():
    v = np.random.default_rng(0).normal(size=300)
    c1, cb = lowbit.hashed_share(v, 3, seed=0)
    h = lowbit._bucket(300, 3, 0)                       # 3 buckets per sign with 3 bits
    assert np.array_equal(c1, np.where(v > 0, h, h + 3)) and c1.min() >= 1 and c1.max() <= 6
    assert not np.array_equal(c1, lowbit.hashed_share(v, 3, seed=1)[0])
    assert len(np.unique(c1)) == 6
    for k in range(1, 7):
        assert cb[k] == pytest.approx(v[c1 == k].mean(), rel=1e-5)
        assert (cb[k] > 0) == (k <= 3)                  # the sign picks the half of the codebook
    # the bucket within the half depends only on the position, not on the magnitude
    assert np.array_equal(lowbit.hashed_share(v * 3, 3, 0)[0], c1)
    assert np.array_equal(lowbit.hash_codes(300, 3, 0), lowbit._bucket(300, 7, 0))


def test_fixed16_fraction_bits():
    assert lowbit.fixed16_frac_bits(0.9) == 15
    assert lowbit.fixed16_frac_bits(1.5) == 14
    assert lowbit.fixed16_frac_bits(0.3) == 16
    v = np.random.default_rng(0).normal(size=200) * 0.3
    codes, c = share_values(v, 4, CompressionConfig(quantizer="fixed16"))
    eps = 2.0 ** -lowbit.fixed16_frac_bits(np.abs(v).max())
    assert np.allclose(c / eps, np.round(c / eps), atol=1e-3)


# ---------------------------------------------------------------- quantization-aware training
def _quantized_net(net, name, cfg):
    out = net.copy()
    q = QUANTIZERS.get(name)
    for s in net.specs:
        aug = augmented(net, s.name)
        bits = q.bits_for(cfg, s.name, s.kind)
        st = lowbit.xnor_quantize_matrix(aug, bits) if name == "xnor" else quantize_matrix(aug, bits, cfg)
        set_augmented(out, s.name, st.centroids[st.idx])
    return out


@pytest.mark.parametrize("name", ["uniform", "ternary", "ttq", "binaryconnect", "xnor"])
def test_qat_forward_uses_the_quantized_weights(name):
    net = _net(0)
    net.params["fc1"][0, :3] = 0.0                              # pruned entries stay 0
    cfg = CompressionConfig(quantizer=name, fc_bits=6)
    x = torch.from_numpy(np.random.default_rng(0).random((8, 12)).astype(np.float32))
    m = to_torch(net)
    m.hooks = QUANTIZERS.get(name).train_hooks(net, cfg)
    got = m(x).detach().numpy()
    want = to_torch(_quantized_net(net, name, cfg))(x).detach().numpy()
    plain = to_torch(net)(x).detach().numpy()
    assert np.allclose(got, want, atol=1e-5) and not np.allclose(got, plain, atol=1e-3)


@pytest.mark.parametrize("name", ["uniform", "ternary", "ttq", "binaryconnect", "xnor", "fixed16"])
def test_qat_changes_training(name):
    d = _data()
    cfg = CompressionConfig(quantizer=name, fc_bits=4)
    opt = dict(epochs=1, lr=0.05, momentum=0.9, weight_decay=0.0, batch_size=32, seed=0, progress=False)
    a, b = _net(0), _net(0)
    train(a, d.x_train, d.y_train, **opt)
    train(b, d.x_train, d.y_train, hooks=QUANTIZERS.get(name).train_hooks(b, cfg), **opt)
    assert not np.allclose(a.params["fc1"], b.params["fc1"], atol=1e-6)
    assert not np.allclose(b.params["fc1"], _net(0).params["fc1"])          # the float weights did train


def test_binaryconnect_clips_and_fixed16_rounds_to_the_grid():
    d = _data()
    opt = dict(epochs=1, lr=0.05, momentum=0.9, weight_decay=0.0, batch_size=32, seed=0, progress=False)
    net = _net(0)
    net.params["fc1"][0, 0] = 5.0
    train(net, d.x_train, d.y_train, hooks=QUANTIZERS.get("binaryconnect").train_hooks(net, CompressionConfig()),
          **opt)
    assert np.abs(net.params["fc1"]).max() <= 1.0 and net.params["fc1"][0, 0] == pytest.approx(1.0, abs=0.2)
    net = _net(0)
    hooks = QUANTIZERS.get("fixed16").train_hooks(net, CompressionConfig())
    train(net, d.x_train, d.y_train, hooks=hooks, **opt)
    for s in net.specs:
        for k in (s.name, s.name + "_bias"):
            eps = hooks.fmt[k][0]
            assert 2 ** -18 < eps <= 2 ** -13
            r = net.params[k].astype(np.float64) / eps
            assert np.array_equal(r, np.round(r))


# ---------------------------------------------------------------- end to end
def _compress(**kw):
    base = dict(density=0.5, fc_bits=4, retrain_epochs=1, finetune_epochs=1, batch_size=32, qat_epochs=1)
    base.update(kw)
    cm, _ = compress_network(_net(0), CompressionConfig(**base), AcceleratorConfig(), train=_data(),
                             progress=False, log=lambda m: None)
    return cm


@pytest.mark.parametrize("name,prune,expect", [
    ("uniform", "density", None), ("fixed16", "density", None), ("ternary", "twn", 2), ("ttq", "twn", 2),
    ("binaryconnect", "density", 2), ("hashed", "density", None)])
def test_compress_network_codebooks(name, prune, expect):
    cm = _compress(quantizer=name, prune_method=prune, **({"density": 1.0} if name == "binaryconnect" else {}))
    for lay in cm.layers:
        used = _used(lay.centroids, lay.indices)
        assert lay.centroids[0] == 0
        if expect is not None:
            assert len(used) == expect and lay.bits == 2
            if name in ("ternary", "binaryconnect"):
                assert used[0] == -used[1]
            else:
                assert used[0] != -used[1]                        # TTQ: two trained scales
        else:
            assert lay.bits == 4 and 2 < len(used) <= 15
        if name == "uniform":
            scale = lay.centroids[1]
            assert np.allclose(used / scale, np.round(used / scale), atol=1e-4)
        if name == "binaryconnect":
            assert np.count_nonzero(lay.indices) == lay.indices.size   # not pruned: code 0 unused


def test_twn_pipeline_prunes_by_delta():
    cm = _compress(quantizer="ternary", prune_method="twn", density=0.01)
    dens = [np.count_nonzero(lay.indices[:, :-1]) / lay.indices[:, :-1].size for lay in cm.layers]
    assert all(0.3 < d < 0.8 for d in dens)                     # the density 0.01 is ignored


def test_compress_network_xnor():
    # quantize_matrix passes each value's row to a quantizer that wants rows: one +-alpha_i per row
    cm = _compress(quantizer="xnor", density=1.0, fc_bits=6)
    assert [len(_used(lay.centroids, lay.indices)) for lay in cm.layers] == [32, 8]
