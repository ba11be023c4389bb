"""network/train.py: masked retraining keeps pruned weights at 0, centroid fine-tuning moves each
shared value by the sum of its weights' gradients, and the backward pass is the gradient."""
import numpy as np
from hypothesis import given, strategies as st

from compress.config import CompressionConfig
from compress.methods import quantize_matrix
from compress.pipeline import prune_masks
from network import graph, models, ops
from network.graph import LayerKind, LayerSpec, Network, augmented, init_params
from network.ops import softmax_xent
from network.train import check_masks_hold, train

KMEANS = CompressionConfig(kmeans_max_iter=100)


def _tiny_net(seed, n_in, h, n_out):
    specs = [LayerSpec("fc1", LayerKind.FC, (h, n_in), relu=True), LayerSpec("fc2", LayerKind.FC, (n_out, h), relu=False)]
    return init_params(Network("tiny", (n_in,), specs), seed)


@given(seed=st.integers(0, 1000), density=st.floats(0.05, 0.9), method=st.sampled_from(["density", "threshold"]),
       iters=st.integers(1, 3))
def test_pruned_weights_stay_zero_through_retraining_and_finetuning(seed, density, method, iters):
    rng = np.random.default_rng(seed)
    net = _tiny_net(seed, 12, 9, 3)
    x = rng.normal(size=(64, 12)).astype(np.float32)
    y = rng.integers(0, 3, size=64)
    cfg = CompressionConfig(prune_method=method, density=density, quality=0.7)
    masks = None
    for it in range(1, iters + 1):
        masks = prune_masks(net, cfg, it / iters, masks)
        train(net, x, y, epochs=2, lr=0.1, momentum=0.9, weight_decay=1e-3, batch_size=16, seed=it,
              masks=masks, progress=False)
        assert check_masks_hold(net, masks)
    # trained quantization + centroid fine-tuning keeps the zeros and index 0 == 0
    quant = {s.name: quantize_matrix(augmented(net, s.name), 3, KMEANS.replace(seed=seed)) for s in net.specs}
    zero_before = {k: augmented(net, k) == 0 for k in quant}
    train(net, x, y, epochs=2, lr=0.1, momentum=0.9, weight_decay=0.0, batch_size=16, seed=9, quant=quant,
          progress=False)
    for k, q in quant.items():
        assert q.centroids[0] == 0.0
        aug = augmented(net, k)
        assert np.array_equal(aug, q.centroids[q.idx])
        assert np.all(aug[zero_before[k]] == 0)
        assert np.all(net.params[k][~masks[k]] == 0)


def test_centroid_gradient_is_sum_of_weight_gradients():
    net = _tiny_net(1, 5, 4, 2)
    q = {s.name: quantize_matrix(augmented(net, s.name), 2, KMEANS) for s in net.specs}
    for k, s in q.items():
        net.params[k] = s.centroids[s.idx][:, :-1].copy()
        net.params[k + "_bias"] = s.centroids[s.idx][:, -1].copy()
    x = np.random.default_rng(0).normal(size=(8, 5)).astype(np.float32)
    y = np.arange(8) % 2
    logits, caches = net.forward(x, keep=True)
    _, d = softmax_xent(logits, y)
    g = net.backward(caches, d)
    before = {k: s.centroids.copy() for k, s in q.items()}
    # one plain SGD step (no momentum) on centroids: delta = -lr * sum of grads per index
    train(net, x, y, epochs=1, lr=0.5, momentum=0.0, weight_decay=0.0, batch_size=8, seed=0, quant=q, progress=False)
    for k, s in q.items():
        gaug = np.concatenate([g[k], g[k + "_bias"][:, None]], axis=1)
        expect = np.bincount(s.idx.ravel(), weights=gaug.ravel(), minlength=len(before[k]))
        expect[0] = 0
        # cosine schedule at step 0 gives the full lr
        np.testing.assert_allclose(before[k] - s.centroids, 0.5 * expect, rtol=1e-4, atol=1e-6)


def test_numeric_gradients_conv_and_fc():
    net = models.build("lenet-5", 3)
    net.params = {k: v.astype(np.float64) for k, v in net.params.items()}
    rng = np.random.default_rng(1)
    x = rng.random((2, 1, 28, 28))
    y = np.array([3, 7])
    old = graph.FLOAT
    graph.FLOAT = ops.FLOAT = np.float64
    try:
        logits, caches = net.forward(x, keep=True)
        _, d = softmax_xent(logits, y)
        g = net.backward(caches, d)
        for k in ("conv1", "conv2", "fc1", "fc2", "conv2_bias"):
            p = net.params[k]
            for _ in range(3):
                i = tuple(int(rng.integers(0, s)) for s in p.shape)
                e = 1e-6
                p[i] += e
                a = softmax_xent(net.forward(x), y)[0]
                p[i] -= 2 * e
                b = softmax_xent(net.forward(x), y)[0]
                p[i] += e
                assert abs((a - b) / (2 * e) - g[k][i]) < 1e-6 + 1e-4 * abs(g[k][i])
    finally:
        graph.FLOAT = ops.FLOAT = old
