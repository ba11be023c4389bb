"""Trained quantization: per-layer k-means weight sharing over ``[W | b]``.

Index 0 is reserved for the pruned value 0; the nonzero entries of the
augmented matrix are clustered into ``2**bits - 1`` shared values.
"""
from __future__ import annotations

import numpy as np

from .config import KMeansInit
from .kmeans import kmeans_1d
from .train import QuantState


def index_dtype(bits: int):
    return np.uint8 if bits <= 8 else np.uint16


def quantize_matrix(aug: np.ndarray, bits: int, init: KMeansInit | str = KMeansInit.LINEAR,
                    max_iter: int = 100, seed: int = 0) -> QuantState:
    """Weight-share one layer's augmented matrix.

    Returns ``QuantState(idx, centroids)`` with ``centroids[0] == 0`` and
    ``idx == 0`` exactly where ``aug == 0``; ``centroids[idx]`` is the
    quantized matrix.
    """
    if not 1 <= bits <= 8:
        raise ValueError(f"bits = {bits} is not allowed; use 1..8")
    k = (1 << bits) - 1
    idx = np.zeros(aug.shape, dtype=index_dtype(bits))
    centroids = np.zeros(1 << bits, dtype=np.float32)
    nz = aug != 0
    vals = aug[nz].astype(np.float64)
    if vals.size:
        res = kmeans_1d(vals, k, init=init, max_iter=max_iter, seed=seed)
        c = res.centroids.astype(np.float32)
        # a shared value that rounds to exactly 0 would alias the pruned code
        c[c == 0] = np.float32(np.finfo(np.float32).tiny)
        centroids[1:1 + len(c)] = c
        idx[nz] = (res.labels + 1).astype(idx.dtype)
    return QuantState(idx=idx, centroids=centroids)
