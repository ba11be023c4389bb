"""compress.methods: the compression methods and their registry.

- :mod:`.registry`: :class:`Quantizer`, :class:`Pruner` and the registries :data:`QUANTIZERS`
  and :data:`PRUNERS`, keyed by ``CompressionConfig.quantizer`` / ``prune_method``;
- :mod:`.kmeans`: exact 1-D k-means and the ``kmeans`` quantizer (Deep Compression, Sec. 3);
- :mod:`.magnitude`: magnitude pruning, the ``density`` and ``threshold`` pruners (Han et al.);
- :mod:`.hessian`: the diagonal Fisher / Hessian of the training loss (:func:`.hessian.diag_importance`),
  the ``hessian_kmeans`` quantizer (Choi et al., ICLR 2017) and the ``obd`` pruner (LeCun et al.);
- :mod:`.structured`, :mod:`.lowrank`: the structural transforms of :data:`TRANSFORMS`
  (``CompressionConfig.structure``): L1-norm filter pruning, neuron merging, SVD factorization;
- :func:`share_values`, :func:`quantize_matrix`, :func:`prune_mask`: what the pipelines call.

May import arch, network and numpy.
"""
from __future__ import annotations

import numpy as np

from network.train import QuantState

from .registry import PRUNERS, QUANTIZERS, TRANSFORMS, Pruner, Quantizer, Transform

__all__ = ["PRUNERS", "QUANTIZERS", "TRANSFORMS", "Pruner", "Quantizer", "Transform", "index_dtype", "prune_mask",
           "quantize_matrix",
           "share_values"]


def index_dtype(bits: int):
    """The integer dtype of ``bits``-bit codebook indices."""
    return np.uint8 if bits <= 8 else np.uint16


def _needs(kind: str, name: str, what: str):
    from arch.configio import ConfigError
    return ConfigError(f"{kind} {name!r} needs the {what} of the training loss, computed from training data; "
                       f"give training data (or choose another {kind})")


def share_values(values: np.ndarray, bits: int, cfg, importance: np.ndarray | None = None,
                 rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Share nonzero ``values`` with the recipe's quantizer (``cfg.quantizer``).

    ``importance`` (one per value) is passed on to a quantizer that asks for it
    (:attr:`Quantizer.importance`); such a quantizer without it raises ConfigError. ``rows``
    (each value's output row) goes to a quantizer whose ``wants_rows`` is true (per-row scales).

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
    extra = {"rows": rows} if getattr(q, "wants_rows", False) and rows is not None else {}
    if q.importance is None:
        codes, centroids = q.share(vals, bits, cfg, **extra)
    else:
        if importance is None:
            raise _needs("quantizer", cfg.quantizer, f"diagonal {q.importance}")
        imp = np.asarray(importance, dtype=np.float64).ravel()
        if imp.shape != vals.shape:
            raise ValueError(f"importance has {imp.size} values for {vals.size} weights")
        codes, centroids = q.share(vals, bits, cfg, importance=imp, **extra)
    return _checked(codes, centroids, vals.shape, bits, cfg.quantizer)


def _checked(codes, centroids, shape, bits: int, name: str) -> tuple[np.ndarray, np.ndarray]:
    """The quantizer contract on ``codes`` (one per value, ``shape``) and ``centroids``: codes in
    ``1 .. 2**bits - 1``, ``2**bits`` finite centroids with ``centroids[0] == 0`` (ValueError
    otherwise); a used centroid that is exactly 0 becomes the smallest normal float32."""
    codes = np.asarray(codes)
    centroids = np.array(centroids, dtype=np.float32)
    if codes.shape != shape or centroids.shape != (1 << bits,) or centroids[0] != 0 \
            or (codes.size and (int(codes.min()) < 1 or int(codes.max()) >= (1 << bits))) \
            or not np.all(np.isfinite(centroids)):
        raise ValueError(f"quantizer {name!r} broke its contract: it must return one code in "
                         f"1..{(1 << bits) - 1} per value and {1 << bits} finite centroids with centroids[0] == 0")
    used = np.zeros(1 << bits, dtype=bool)
    used[codes] = True
    used[0] = False
    centroids[used & (centroids == 0)] = np.finfo(np.float32).tiny
    return codes, centroids


def quantize_matrix(aug: np.ndarray, bits: int, cfg, importance: np.ndarray | None = None,
                    layer: str | None = None, log=None) -> QuantState:
    """Weight-share one layer's augmented matrix ``[W | b]`` with the recipe's quantizer.

    ``importance``: the per-entry importance (same shape as ``aug``; only its entries where
    ``aug != 0`` are used) for a quantizer that asks for it (:attr:`Quantizer.importance`).
    A quantizer that defines :meth:`Quantizer.share_matrix` gets the whole matrix, the layer's
    name ``layer`` and ``log`` (a callable taking one line, or None) through it instead of
    :meth:`Quantizer.share`; its result is checked by the same contract.

    Returns ``QuantState(idx, centroids)`` with ``centroids[0] == 0`` and ``idx == 0`` exactly
    where ``aug == 0``; ``centroids[idx]`` is the quantized matrix.
    """
    nz = aug != 0
    if importance is not None and np.shape(importance) != aug.shape:
        raise ValueError(f"importance of shape {np.shape(importance)} for [W | b] of shape {aug.shape}")
    q = QUANTIZERS.get(cfg.quantizer)
    if getattr(q, "share_matrix", None) is not None:
        if not 1 <= bits <= 8:
            raise ValueError(f"bits = {bits} is not allowed; use 1..8")
        extra = {}
        if q.importance is not None:
            if importance is None:
                raise _needs("quantizer", cfg.quantizer, f"diagonal {q.importance}")
            extra["importance"] = np.asarray(importance, dtype=np.float64)
        st = q.share_matrix(aug, bits, cfg, layer=layer, log=log, **extra)
        got = np.asarray(st.idx)
        if got.shape != aug.shape or not np.array_equal(got != 0, nz):
            raise ValueError(f"quantizer {cfg.quantizer!r} broke its contract: its indices must have the shape "
                             f"{aug.shape} of [W | b] and be 0 exactly where [W | b] is 0")
        codes, centroids = _checked(got[nz], st.centroids, (int(np.count_nonzero(nz)),), bits, cfg.quantizer)
    else:
        rows = np.nonzero(nz)[0] if getattr(q, "wants_rows", False) else None
        codes, centroids = share_values(aug[nz], bits, cfg,
                                        None if importance is None else np.asarray(importance)[nz], rows=rows)
    idx = np.zeros(aug.shape, dtype=index_dtype(bits))   # after the sharing: not alive during its peak
    idx[nz] = codes.astype(idx.dtype)
    return QuantState(idx=idx, centroids=centroids)


def prune_mask(w: np.ndarray, layer: str, cfg, fraction: float = 1.0,
               importance: np.ndarray | None = None, **extra) -> np.ndarray:
    """The mask of one layer with the recipe's pruner (``cfg.prune_method``); see :meth:`Pruner.mask`.
    ``importance`` (shape of ``w``) is passed on to a pruner that asks for it; such a pruner
    without it raises ConfigError. ``extra`` (``hooks=``) goes to a pruner whose ``wants_hooks``
    is true."""
    p = PRUNERS.get(cfg.prune_method)
    if p.importance is None:
        m = p.mask(w, layer, cfg, fraction, **extra)
    else:
        if importance is None:
            raise _needs("prune_method", cfg.prune_method, f"diagonal {p.importance}")
        imp = np.asarray(importance)
        if imp.size != w.size:
            raise ValueError(f"importance of shape {imp.shape} for weights {w.shape} of layer {layer}")
        m = p.mask(w, layer, cfg, fraction, importance=imp.reshape(w.shape), **extra)
    m = np.asarray(m, dtype=bool)
    if m.shape != w.shape:
        raise ValueError(f"pruner {cfg.prune_method!r} returned a mask of shape {m.shape} for weights {w.shape}")
    return m


# the built-in methods register themselves
from . import hessian, kmeans, lowbit, lowrank, magnitude, pq, regularized, structured  # noqa: E402,F401  (after the names they import)
