"""compress.methods: the compression methods and their registry.

- :mod:`.registry`: :class:`Quantizer`, :class:`Pruner` and the registries :data:`QUANTIZERS`
  and :data:`PRUNERS`, keyed by ``CompressionConfig.quantizer`` / ``prune_method``;
- :mod:`.kmeans`: exact 1-D k-means and the ``kmeans`` quantizer (Deep Compression, Sec. 3);
- :mod:`.magnitude`: magnitude pruning, the ``density`` and ``threshold`` pruners (Han et al.);
- :func:`share_values`, :func:`quantize_matrix`, :func:`prune_mask`: what the pipelines call.

May import arch, network and numpy.
"""
from __future__ import annotations

import numpy as np

from network.train import QuantState

from .registry import PRUNERS, QUANTIZERS, Pruner, Quantizer

__all__ = ["PRUNERS", "QUANTIZERS", "Pruner", "Quantizer", "index_dtype", "prune_mask", "quantize_matrix",
           "share_values"]


def index_dtype(bits: int):
    """The integer dtype of ``bits``-bit codebook indices."""
    return np.uint8 if bits <= 8 else np.uint16


def share_values(values: np.ndarray, bits: int, cfg) -> tuple[np.ndarray, np.ndarray]:
    """Share nonzero ``values`` with the recipe's quantizer (``cfg.quantizer``).

    Returns ``(codes, centroids)`` as :meth:`Quantizer.share`, checked: codes in
    ``1 .. 2**bits - 1`` and ``centroids[0] == 0``. A shared value that is exactly 0 would
    alias the pruned code, so it becomes the smallest normal float32.
    """
    if not 1 <= bits <= 8:
        raise ValueError(f"bits = {bits} is not allowed; use 1..8")
    q = QUANTIZERS.get(cfg.quantizer)
    vals = np.asarray(values, dtype=np.float64)
    if vals.size == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(1 << bits, dtype=np.float32)
    codes, centroids = q.share(vals, bits, cfg)
    codes = np.asarray(codes)
    centroids = np.array(centroids, dtype=np.float32)
    if codes.shape != vals.shape or centroids.shape != (1 << bits,) or centroids[0] != 0 \
            or int(codes.min()) < 1 or int(codes.max()) >= (1 << bits) or not np.all(np.isfinite(centroids)):
        raise ValueError(f"quantizer {cfg.quantizer!r} broke its contract: it must return one code in "
                         f"1..{(1 << bits) - 1} per value and {1 << bits} finite centroids with centroids[0] == 0")
    used = np.zeros(1 << bits, dtype=bool)
    used[codes] = True
    used[0] = False
    centroids[used & (centroids == 0)] = np.finfo(np.float32).tiny
    return codes, centroids


def quantize_matrix(aug: np.ndarray, bits: int, cfg) -> QuantState:
    """Weight-share one layer's augmented matrix ``[W | b]`` with the recipe's quantizer.

    Returns ``QuantState(idx, centroids)`` with ``centroids[0] == 0`` and ``idx == 0`` exactly
    where ``aug == 0``; ``centroids[idx]`` is the quantized matrix.
    """
    nz = aug != 0
    codes, centroids = share_values(aug[nz], bits, cfg)
    idx = np.zeros(aug.shape, dtype=index_dtype(bits))   # after the sharing: not alive during its peak
    idx[nz] = codes.astype(idx.dtype)
    return QuantState(idx=idx, centroids=centroids)


def prune_mask(w: np.ndarray, layer: str, cfg, fraction: float = 1.0) -> np.ndarray:
    """The mask of one layer with the recipe's pruner (``cfg.prune_method``); see :meth:`Pruner.mask`."""
    m = np.asarray(PRUNERS.get(cfg.prune_method).mask(w, layer, cfg, fraction), dtype=bool)
    if m.shape != w.shape:
        raise ValueError(f"pruner {cfg.prune_method!r} returned a mask of shape {m.shape} for weights {w.shape}")
    return m


# the built-in methods register themselves
from . import kmeans, magnitude  # noqa: E402,F401  (after the names they import)
