"""compress.methods.hessian: diagonal Fisher / Gauss-Newton, Hessian-weighted k-means, OBD pruning."""
import numpy as np
import pytest

pytest.importorskip("torch")

from arch.config import AcceleratorConfig  # noqa: E402
from arch.configio import ConfigError  # noqa: E402
from compress.config import CompressionConfig  # noqa: E402
from compress.methods import prune_mask, quantize_matrix  # noqa: E402
from compress.methods.hessian import diag_importance, mask_by_saliency  # noqa: E402
from compress.methods.kmeans import kmeans_1d  # noqa: E402
from compress.pipeline import compress_network, step_quantize  # noqa: E402
from network.data import TrainData  # noqa: E402
from network.graph import LayerKind, LayerSpec, Network, augmented, init_params  # noqa: E402


def _mlp(seed=0) -> Network:
    net = Network(name="mlp", input_shape=(12,),
                  specs=[LayerSpec("fc1", LayerKind.FC, (16, 12), relu=True),
                         LayerSpec("fc2", LayerKind.FC, (4, 16), relu=False)])
    return init_params(net, seed)


def _data(n=200, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 12)).astype(np.float32)
    y = rng.integers(0, 4, size=n)
    return x, y


def _brute(net, x, y, kind):
    import torch

    from network.torch_train import to_torch
    m = to_torch(net)
    keys = [k for s in net.specs for k in (s.name, s.name + "_bias")]
    acc = {k: np.zeros(net.params[k].shape) for k in keys}
    for xi, yi in zip(x, y):
        z = m(torch.from_numpy(xi[None]), logits=True)
        if kind == "fisher":
            labels, weights = [int(yi)], [1.0]
        else:
            p = torch.softmax(z, 1)[0].detach()
            labels, weights = range(4), p.tolist()
        for c, wc in zip(labels, weights):
            loss = torch.nn.functional.cross_entropy(z, torch.tensor([c]))
            gs = torch.autograd.grad(loss, [m.param(k) for k in keys], retain_graph=True)
            for k, g in zip(keys, gs):
                acc[k] += wc * g.double().numpy() ** 2
    return {s.name: np.concatenate([acc[s.name], acc[s.name + "_bias"][:, None]], 1) / len(x) for s in net.specs}


@pytest.mark.parametrize("kind", ["fisher", "hessian"])
def test_diag_importance_matches_brute_force(kind):
    net = _mlp()
    x, y = _data(40)
    got = diag_importance(net, x, y, kind=kind, batch_size=7)
    ref = _brute(net, x, y, kind)
    for s in net.specs:
        assert got[s.name].shape == (s.n_out, s.fan_in + 1)
        np.testing.assert_allclose(got[s.name], ref[s.name], rtol=1e-4, atol=1e-9)
    assert not np.allclose(got["fc1"], diag_importance(net, x, (y + 1) % 4, kind="fisher")["fc1"]) or kind == "hessian"


def test_gauss_newton_is_the_true_hessian_diagonal_for_relu():
    import torch

    from network.torch_train import to_torch
    net = _mlp(1)
    x, y = _data(30, 1)
    h = diag_importance(net, x, y, kind="hessian")
    m = to_torch(net)
    W = m.param("fc2")

    def loss(w):
        z = torch.func.functional_call(m, {"params." + m.keys["fc2"]: w}, (torch.from_numpy(x),), {"logits": True})
        return torch.nn.functional.cross_entropy(z, torch.from_numpy(y))
    H = torch.autograd.functional.hessian(loss, W.detach().clone()).reshape(W.numel(), W.numel())
    np.testing.assert_allclose(h["fc2"][:, :-1].ravel(), torch.diagonal(H).numpy(), rtol=1e-3, atol=1e-7)


def _weighted_lloyd(x, h, c, iters=500):
    for _ in range(iters):
        lab = np.argmin(np.abs(x[:, None] - c[None, :]) + 1e-15 * np.arange(len(c)), axis=1)
        new = c.copy()
        for j in range(len(c)):
            sel = lab == j
            if h[sel].sum() > 0:
                new[j] = np.sum(h[sel] * x[sel]) / h[sel].sum()
        if np.array_equal(new, c):
            break
        c = new
    return c


def test_weighted_kmeans_matches_brute_force():
    rng = np.random.default_rng(3)
    for trial in range(5):
        x = rng.normal(size=60)
        h = rng.exponential(size=60)
        k = 4
        r = kmeans_1d(x, k, sample_weight=h, max_iter=500)
        ref = _weighted_lloyd(x, h, np.linspace(x.min(), x.max(), k))
        np.testing.assert_allclose(r.centroids, np.sort(ref), rtol=1e-9, atol=1e-12)
        c = r.centroids
        assert r.wcss == pytest.approx(float(np.sum(h * (x - c[r.labels]) ** 2)), rel=1e-12)
        assert r.wcss <= r.init_wcss
    # the weights matter: an unweighted run differs
    assert not np.allclose(kmeans_1d(x, 4, sample_weight=h).centroids, kmeans_1d(x, 4).centroids)
    with pytest.raises(ValueError, match="sample_weight"):
        kmeans_1d(x, 3, sample_weight=-h)


def test_obd_keeps_the_fraction_with_highest_saliency():
    rng = np.random.default_rng(0)
    w = rng.normal(size=(20, 30))
    h = rng.exponential(size=(20, 30))
    cfg = CompressionConfig(prune_method="obd", density=0.25)
    m = prune_mask(w, "fc1", cfg, importance=h)
    assert m.sum() == round(0.25 * w.size)
    sal = h * w * w / 2
    assert sal[m].min() >= sal[~m].max()
    # differs from magnitude pruning when h varies
    assert not np.array_equal(m, prune_mask(w, "fc1", cfg.replace(prune_method="density")))
    # the schedule: density ** fraction
    assert prune_mask(w, "fc1", cfg, fraction=0.5, importance=h).sum() == round(0.5 * w.size)
    # ties at equal saliency keep the larger |w|
    mm = mask_by_saliency(np.zeros(4), np.array([0.1, -3.0, 2.0, 0.5]), 0.5)
    np.testing.assert_array_equal(mm, [False, True, True, False])
    with pytest.raises(ConfigError, match="obd"):
        prune_mask(w, "fc1", cfg)


def test_hessian_kmeans_uses_importance_and_needs_data():
    net = _mlp()
    cfg = CompressionConfig(quantizer="hessian_kmeans", fc_bits=2, finetune_epochs=0)
    aug = augmented(net, "fc1")
    h = np.ones_like(aug)
    h[:, :3] = 1e6                          # the first columns dominate the weighted mean
    q = quantize_matrix(aug, 2, cfg, importance=h)
    q0 = quantize_matrix(aug, 2, cfg.replace(quantizer="kmeans"))
    assert not np.allclose(q.centroids, q0.centroids)
    np.testing.assert_allclose(quantize_matrix(aug, 2, cfg, importance=np.ones_like(aug)).centroids, q0.centroids)
    with pytest.raises(ConfigError, match="hessian_kmeans.*training data"):
        step_quantize(_mlp(), cfg, None, progress=False, log=lambda s: None)
    with pytest.raises(ConfigError, match="importance_samples"):
        CompressionConfig(importance_samples=0)


def test_end_to_end_obd_and_hessian_kmeans():
    net = _mlp()
    x, y = _data(200)
    data = TrainData(x[:160], y[:160], x[160:], y[160:], "toy")
    cfg = CompressionConfig(prune_method="obd", quantizer="hessian_kmeans", density=0.3, prune_iterations=2,
                            retrain_epochs=1, finetune_epochs=1, fc_bits=3, importance_samples=100, batch_size=32)
    cm, _ = compress_network(net, cfg, AcceleratorConfig(), train=data, progress=False, log=lambda s: None)
    for l in cm.layers:
        W = l.indices[:, :-1]
        assert np.count_nonzero(W) <= round(0.3 * W.size)
        assert len(np.unique(l.indices)) <= 8
