"""network/train.py: masked retraining keeps pruned weights at 0 and centroid fine-tuning keeps the
shared weights (the centroid gradient rule is checked in test_torch_train.py)."""
import numpy as np
from hypothesis import given, strategies as st

from compress.config import CompressionConfig
from compress.methods import quantize_matrix
from compress.pipeline import prune_masks
from network.graph import LayerKind, LayerSpec, Network, augmented, init_params
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
