"""Second-order importance of each weight, and the methods that use it.

- :func:`diag_importance`: per weight, the diagonal of the empirical Fisher (``"fisher"``: the
  mean over training samples of the squared per-sample gradient of the cross-entropy loss) or
  of the Gauss-Newton matrix (``"hessian"``, as in LeCun's OBD), computed with PyTorch;
- the ``hessian_kmeans`` quantizer (and ``fisher_kmeans``): Hessian-weighted k-means (Choi,
  El-Khamy and Lee, "Towards the Limit of Network Quantization", ICLR 2017): the centroids
  minimise ``sum_i h_i (w_i - c)^2``, so the weights the loss is most sensitive to are
  represented most precisely;
- the ``obd`` pruner: Optimal Brain Damage (LeCun, Denker and Solla, NIPS 1989): the saliency
  of weight i is ``h_ii w_i^2 / 2`` (the second-order estimate of the loss increase when it
  is set to 0); the weights with the highest saliency are kept.

torch is imported lazily (network.torch_import.import_torch), only by :func:`diag_importance`.
"""
from __future__ import annotations

import numpy as np

from .kmeans import kmeans_1d
from .registry import PRUNERS, QUANTIZERS, Pruner, Quantizer

__all__ = ["KINDS", "diag_importance", "HessianKMeansQuantizer", "OBDPruner", "mask_by_saliency"]

#: The importance kinds :func:`diag_importance` computes.
KINDS = ("fisher", "hessian")


def diag_importance(net, x: np.ndarray, y: np.ndarray, kind: str = "fisher", n_samples: int = 1000,
                    batch_size: int = 32, seed: int = 0, threads: int | None = 1) -> dict[str, np.ndarray]:
    """The diagonal importance of every weight and bias of ``net`` on the samples ``x`` / labels ``y``.

    Returns ``{layer name: float64 array (out, fan_in + 1)}`` in the augmented layout ``[W | b]``
    of :func:`network.graph.augmented` (rows = outputs, the bias last).

    - ``kind="fisher"``: the empirical Fisher, ``mean_n (d loss_n / d w)^2`` with ``loss_n`` the
      cross-entropy of sample n with its label (per-sample gradients with ``torch.func.vmap``).
    - ``kind="hessian"``: the exact diagonal of the Gauss-Newton matrix of the mean cross-entropy,
      ``mean_n J_n^T (diag(p_n) - p_n p_n^T) J_n`` (J_n: the Jacobian of the logits, p_n the
      softmax), as LeCun et al.'s OBD approximates the Hessian (they drop the term with the
      second derivative of the network, as Gauss-Newton does). It is computed without
      approximation as ``mean_n sum_c p_nc (d loss(x_n, c) / d w)^2`` (the Fisher with labels
      drawn from the model), so it is never negative and needs no labels. For ReLU / max-pool
      networks it equals the diagonal of the true Hessian (the network is piecewise linear).
      It costs one per-sample gradient per class.

    ``n_samples``: how many samples (a random subset drawn with ``seed`` when ``x`` has more; all
    of them otherwise); ``batch_size``: samples per vectorised step (memory: batch x parameters).
    ``threads``: torch's intra-op threads meanwhile (restored; None keeps the setting).
    """
    from network.torch_import import import_torch
    from network.torch_train import to_torch

    if kind not in KINDS:
        raise ValueError(f"importance kind {kind!r} is not allowed; use one of {', '.join(KINDS)}")
    x = np.asarray(x)
    y = np.asarray(y)
    if len(x) == 0 or len(x) != len(y):
        raise ValueError(f"diag_importance needs samples and as many labels; got {len(x)} and {len(y)}")
    if n_samples < len(x):
        pick = np.sort(np.random.default_rng(seed).choice(len(x), size=int(n_samples), replace=False))
        x, y = x[pick], y[pick]
    torch = import_torch()
    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(int(threads))
    try:
        acc = _accumulate(torch, net, to_torch(net), x, y, kind, max(1, int(batch_size)))
    finally:
        if threads is not None:
            torch.set_num_threads(before)
    out = {}
    for s in net.specs:
        W = acc[s.name].reshape(s.n_out, -1)
        out[s.name] = np.concatenate([W, acc[s.name + "_bias"][:, None]], axis=1) / len(x)
    return out


def _accumulate(torch, net, module, x, y, kind, batch_size) -> dict[str, np.ndarray]:
    from torch.func import functional_call, grad, vmap

    F = torch.nn.functional
    module.eval()
    names = {f"params.{v}": k for k, v in module.keys.items()}          # parameter name -> net.params key
    params = {n: p.detach() for n, p in module.named_parameters() if n in names}
    acc = {n: torch.zeros(p.shape, dtype=torch.float64) for n, p in params.items()}

    def logits(pr, xi):
        return functional_call(module, pr, (xi[None],), {"logits": True}).reshape(-1)

    def ce(pr, xi, yi):
        return F.cross_entropy(logits(pr, xi)[None], yi[None])

    def gn(pr, xi, pi, c):        # z_c - p . z with p held fixed: its gradient is J^T (e_c - p)
        z = logits(pr, xi)
        return z[c] - torch.dot(pi, z)

    g_ce = vmap(grad(ce), in_dims=(None, 0, 0))
    g_gn = vmap(grad(gn), in_dims=(None, 0, 0, None))
    for b0 in range(0, len(x), batch_size):
        xb = torch.from_numpy(np.ascontiguousarray(x[b0:b0 + batch_size], dtype=np.float32))
        if kind == "fisher":
            yb = torch.from_numpy(np.asarray(y[b0:b0 + batch_size], dtype=np.int64))
            for n, g in g_ce(params, xb, yb).items():
                acc[n] += (g.to(torch.float64) ** 2).sum(0)
        else:
            with torch.no_grad():
                z = module(xb, logits=True)
                p = torch.softmax(z.reshape(z.shape[0], -1), dim=1)
            for c in range(p.shape[1]):
                w = p[:, c].to(torch.float64)
                for n, g in g_gn(params, xb, p, c).items():
                    g2 = g.to(torch.float64) ** 2
                    acc[n] += torch.tensordot(w, g2, dims=1)
    return {names[n]: a.numpy() for n, a in acc.items()}


# ----------------------------------------------------------------------------- the methods
class HessianKMeansQuantizer(Quantizer):
    """Hessian-weighted k-means (Choi et al., ICLR 2017): 1-D k-means of the nonzero values into
    ``2**bits - 1`` shared values, value i weighted by its importance ``h_i`` (negative ones
    count as 0; all 0: plain k-means), with ``kmeans_init``, ``kmeans_max_iter``,
    ``kmeans_relocate`` and ``seed`` of the recipe. Each centroid is the h-weighted mean of its
    cluster."""

    def __init__(self, importance: str = "hessian"):
        self.importance = importance

    def share(self, values, bits, cfg, importance=None):
        h = None
        if importance is not None:
            h = np.maximum(np.asarray(importance, dtype=np.float64), 0.0)
            if not np.any(h > 0) or not np.all(np.isfinite(h)):
                h = None
        res = kmeans_1d(values, (1 << bits) - 1, init=cfg.kmeans_init, max_iter=cfg.kmeans_max_iter, seed=cfg.seed,
                        relocate_empty=cfg.kmeans_relocate, sample_weight=h)
        centroids = np.zeros(1 << bits, dtype=np.float32)
        centroids[1:1 + len(res.centroids)] = res.centroids.astype(np.float32)
        return res.labels.astype(np.int64) + 1, centroids


def mask_by_saliency(saliency: np.ndarray, w: np.ndarray, density: float) -> np.ndarray:
    """Keep the ``round(density x size)`` entries of highest ``saliency`` (at least one); among
    equal saliencies the larger ``|w|`` is kept (then the first in memory order)."""
    s = np.asarray(saliency, dtype=np.float64).ravel()
    a = np.abs(np.asarray(w, dtype=np.float64)).ravel()
    n = s.size
    k = min(max(int(round(density * n)), 1 if n else 0), n)
    if k == 0:
        return np.zeros(np.shape(w), dtype=bool)
    thr = np.partition(s, n - k)[n - k]               # the k-th largest saliency
    mask = s > thr
    need = k - int(np.count_nonzero(mask))
    if need > 0:
        tie = np.flatnonzero(s == thr)
        order = np.argsort(-a[tie], kind="stable")[:need]
        mask[tie[order]] = True
    return mask.reshape(np.shape(w))


class OBDPruner(Pruner):
    """Optimal Brain Damage (LeCun, Denker and Solla, 1989): keep the fraction
    ``density_for(layer) ** fraction`` of each layer's weights with the highest saliency
    ``h_ii w_i^2 / 2``, ``h_ii`` the diagonal Gauss-Newton Hessian (:func:`diag_importance`,
    kind ``"hessian"``) at the current weights."""

    importance = "hessian"

    def mask(self, w, layer, cfg, fraction=1.0, importance=None):
        if importance is None:
            raise ValueError("the obd pruner needs the diagonal Hessian (importance)")
        w64 = np.asarray(w, dtype=np.float64)
        sal = 0.5 * np.maximum(np.asarray(importance, dtype=np.float64), 0.0) * w64 * w64
        return mask_by_saliency(sal, w64, cfg.density_for(layer) ** fraction)


QUANTIZERS.register("hessian_kmeans", HessianKMeansQuantizer("hessian"))
QUANTIZERS.register("fisher_kmeans", HessianKMeansQuantizer("fisher"))
PRUNERS.register("obd", OBDPruner())
