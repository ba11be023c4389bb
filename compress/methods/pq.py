"""Product quantization of fc / conv rows: the ``pq`` quantizer.

After Gong, Liu, Yang and Bourdev, "Compressing Deep Convolutional Networks using Vector
Quantization" (2014), and Wu, Leng, Wang, Hu and Cheng, "Quantized Convolutional Neural Networks
for Mobile Devices" (Q-CNN, CVPR 2016): each row of a layer's weight matrix W (an output neuron
or filter; ``in`` weights) is split into ``in / d`` sub-vectors of ``d = pq_subvector``
consecutive weights, and every sub-vector is replaced by the nearest of ``K`` codewords of length
``d``, learned by k-means over the layer's sub-vectors.

dcsim's stored form is unchanged (one codebook of ``2**bits`` float32 entries per layer, entry 0
the pruned zero, one code per kept weight), and PQ maps onto it exactly: the layer has ONE
codebook of ``K = (2**bits - 1) // d`` codewords, shared by all sub-vector positions of all rows
(Gong et al. and Q-CNN learn one codebook per sub-space; one shared codebook is what fits dcsim's
one scalar codebook per layer), and a kept weight at column ``c`` of a sub-vector
assigned codeword ``k`` gets the scalar code ``1 + k*d + (c % d)``: scalar entry ``1 + k*d + j``
is coordinate ``j`` of codeword ``k``. ``centroids[idx]`` is exactly the PQ reconstruction, EIE
runs it as any codebook layer (``index_bits = bits``), and the trainer's centroid fine-tuning
(the sum of the gradients of the weights sharing an entry) fine-tunes each codeword coordinate,
as Q-CNN fine-tunes its codebooks.

Pruned weights (the exact zeros of ``[W | b]``) stay code 0, so the k-means is *masked*
(:func:`masked_kmeans`): the distance from a sub-vector to a codeword runs over the sub-vector's
kept coordinates only, and a codeword coordinate moves to the mean of the kept values assigned to
it at that coordinate. The bias column gets, per value, the nearest scalar entry among
``1 .. K*d``. A layer PQ does not apply to (``d`` does not divide its row length, or
``K < 2``) is shared by scalar k-means (the ``kmeans`` quantizer) and named in one log line.

:func:`pq_native_bits` counts the PQ-native storage of a layer (what Gong et al. count: a
``ceil(log2 K)``-bit code per sub-vector and the ``K x d`` codebook), which dcsim reports beside,
not instead of, its own rate.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from network.train import QuantState

from .registry import QUANTIZERS, Quantizer

__all__ = ["PQResult", "masked_kmeans", "masked_objective", "pq_codebook_size", "pq_not_applicable",
           "pq_share_matrix", "pq_native_bits", "PQQuantizer"]

#: Bits of a native codebook entry (Gong et al. keep float codewords; EIE's weights are 16-bit).
NATIVE_ENTRY_BITS = 16


def pq_codebook_size(bits: int, d: int) -> int:
    """``K = (2**bits - 1) // d``: how many codewords of length ``d`` the ``2**bits - 1`` nonzero
    entries of a ``bits``-bit codebook hold."""
    return ((1 << bits) - 1) // d


def pq_not_applicable(cols: int, bits: int, d: int) -> str | None:
    """Why PQ with sub-vector length ``d`` cannot share a layer whose rows have ``cols`` weights
    (the bias excluded) in ``bits``-bit codes, or None when it can."""
    if cols % d:
        return f"sub-vector length {d} does not divide its row of {cols} weights"
    K = pq_codebook_size(bits, d)
    if K < 2:
        return (f"{bits} index bits give {(1 << bits) - 1} codebook entries, room for {K} codeword(s) "
                f"of length {d}; PQ needs at least 2")
    return None


# ----------------------------------------------------------------------------- masked k-means
@dataclass(frozen=True)
class PQResult:
    """The result of :func:`masked_kmeans`: ``codewords`` (K, d) float64, ``labels`` (n,) int64,
    ``objective`` (the masked sum of squares of the result), ``history`` (the objective after
    the seeding and after each iteration: non-increasing) and ``n_iter``."""

    codewords: np.ndarray
    labels: np.ndarray
    objective: float
    history: list
    n_iter: int


def _distances(MX, C):
    """Masked squared distances (n, K) up to the per-row constant ``sum_j M x_j^2``:
    ``sum_j M_ij (C_kj^2 - 2 x_ij C_kj)``, as one product; ``MX = [M | X]`` (X is 0 where M is)."""
    return MX @ np.concatenate([C * C, -2.0 * C], axis=1).T


def masked_objective(X, M, C, labels) -> float:
    """``sum_i sum_j M_ij (X_ij - C[labels_i, j])^2``: the masked sum of squares."""
    r = (X - C[labels]) * M
    return float(np.sum(r * r))


def _seed(X, M, K, rng):
    """Masked k-means++ seeding: the first codeword is a random sub-vector, each next one a
    sub-vector drawn with probability proportional to its masked squared distance to the nearest
    codeword so far (uniformly when all are 0). A drawn sub-vector's pruned coordinates are filled
    with a kept value of the same coordinate drawn at random (so a codeword never starts at the
    pruned 0, which no kept weight is near)."""
    n, d = X.shape
    pools = []
    for j in range(d):
        p = X[M[:, j] > 0, j]
        pools.append(p if p.size else np.zeros(1))
    C = np.empty((K, d))
    xsq = np.sum(X * X, axis=1)
    MX = np.concatenate([M, X], axis=1)

    def filled(i):
        v = X[i].copy()
        for j in np.flatnonzero(M[i] == 0):
            v[j] = pools[j][rng.integers(pools[j].size)]
        return v

    C[0] = filled(int(rng.integers(n)))
    best = np.maximum(xsq + _distances(MX, C[:1])[:, 0], 0.0)
    for k in range(1, K):
        tot = float(best.sum())
        i = int(rng.integers(n)) if not tot > 0 else int(rng.choice(n, p=best / tot))
        C[k] = filled(i)
        best = np.minimum(best, np.maximum(xsq + _distances(MX, C[k:k + 1])[:, 0], 0.0))
    return C


def masked_kmeans(X, M, K: int, seed: int = 0, max_iter: int = 300, tol: float = 1e-4) -> PQResult:
    """k-means of sub-vectors ``X`` (n, d) with a keep mask ``M`` (n, d; 1 = kept, 0 = pruned)
    into ``K`` codewords, deterministic for a ``seed``.

    The objective is :func:`masked_objective`: a sub-vector's distance to a codeword runs over its
    kept coordinates only, so pruned coordinates neither pull a codeword nor cost anything. Lloyd's
    algorithm: the assignment step takes each sub-vector's nearest codeword under that distance,
    the update step sets every codeword coordinate (k, j) to the mean of the kept values at
    coordinate j of the sub-vectors assigned to k (its old value when there are none). The
    objective is separable over the coordinates (k, j) once the labels are fixed, so neither step
    raises it. Seeding: masked k-means++ (:func:`_seed`). Stops when no label changes, when an
    iteration lowered the objective by at most ``tol`` times its value (Lloyd's slow tail on large
    dense layers), or after ``max_iter`` iterations. Every sub-vector should have a kept coordinate (the others carry no
    information; their label is arbitrary)."""
    X = np.asarray(X, dtype=np.float64)
    M = np.asarray(M, dtype=np.float64)
    if X.ndim != 2 or M.shape != X.shape:
        raise ValueError(f"X and M must be 2-D of one shape; got {X.shape} and {M.shape}")
    n, d = X.shape
    if K < 1 or n == 0:
        raise ValueError(f"masked_kmeans needs K >= 1 and at least one sub-vector; got K = {K}, n = {n}")
    X = X * M
    rng = np.random.default_rng(seed)
    C = _seed(X, M, K, rng)
    MX = np.concatenate([M, X], axis=1)
    flat = np.arange(d)
    xsq = float(np.sum(X * X))
    rows = np.arange(n)
    D = _distances(MX, C)
    labels = np.argmin(D, axis=1)
    history = [max(xsq + float(np.sum(D[rows, labels])), 0.0)]
    n_iter = 0
    for _ in range(max_iter):
        ids = (labels[:, None] * d + flat).ravel()
        S = np.bincount(ids, weights=X.ravel(), minlength=K * d).reshape(K, d)
        N = np.bincount(ids, weights=M.ravel(), minlength=K * d).reshape(K, d)
        C = np.where(N > 0, S / np.where(N > 0, N, 1.0), C)
        D = _distances(MX, C)
        new = np.argmin(D, axis=1)
        n_iter += 1
        # keep a label when its codeword ties with the argmin (no flip-flop between equals)
        keep = D[rows, labels] <= D[rows, new]
        new = np.where(keep, labels, new)
        history.append(max(xsq + float(np.sum(D[rows, new])), 0.0))
        same = np.array_equal(new, labels)
        labels = new
        if same or history[-2] - history[-1] <= tol * history[-2]:
            break
    return PQResult(C, labels.astype(np.int64), masked_objective(X, M, C, labels), history, n_iter)


# ----------------------------------------------------------------------------- the layer
def _scalar_kmeans(aug, bits, cfg) -> QuantState:
    from . import index_dtype

    nz = aug != 0
    idx = np.zeros(aug.shape, dtype=index_dtype(bits))
    if not nz.any():
        return QuantState(idx=idx, centroids=np.zeros(1 << bits, dtype=np.float32))
    codes, c = QUANTIZERS.get("kmeans").share(aug[nz].astype(np.float64), bits, cfg)
    idx[nz] = np.asarray(codes).astype(idx.dtype)
    return QuantState(idx=idx, centroids=np.asarray(c, dtype=np.float32))


def pq_share_matrix(aug: np.ndarray, bits: int, cfg, layer: str | None = None, log=None) -> QuantState:
    """PQ of one layer's ``[W | b]`` (see the module's docstring); ``cfg.pq_subvector`` is ``d``,
    ``cfg.seed`` seeds the k-means, ``cfg.kmeans_max_iter`` caps its iterations.

    When PQ does not apply (:func:`pq_not_applicable`) the layer is shared by the ``kmeans``
    quantizer and one line goes to ``log`` (``print`` when None), e.g. ``pq: layer conv1 uses
    scalar k-means: sub-vector length 4 does not divide its row of 25 weights``."""
    from . import index_dtype

    aug = np.asarray(aug)
    d = int(cfg.pq_subvector)
    rows, cols = aug.shape[0], aug.shape[1] - 1
    why = pq_not_applicable(cols, bits, d)
    if why is not None:
        (print if log is None else log)(f"pq: layer {layer if layer is not None else '?'} uses scalar k-means: {why}")
        return _scalar_kmeans(aug, bits, cfg)
    K = pq_codebook_size(bits, d)
    idx = np.zeros(aug.shape, dtype=index_dtype(bits))
    centroids = np.zeros(1 << bits, dtype=np.float32)
    W = np.asarray(aug[:, :cols], dtype=np.float64)
    X = W.reshape(rows * (cols // d), d)
    M = X != 0
    live = M.any(axis=1)
    if live.any():
        res = masked_kmeans(X[live], M[live], K, seed=cfg.seed, max_iter=cfg.kmeans_max_iter)
        centroids[1:1 + K * d] = res.codewords.astype(np.float32).ravel()
        sub = np.zeros(X.shape, dtype=np.int64)
        sub[live] = 1 + res.labels[:, None] * d + np.arange(d)
        sub[~M] = 0
        idx[:, :cols] = sub.reshape(rows, cols).astype(idx.dtype)
    b = np.asarray(aug[:, cols], dtype=np.float64)
    bnz = b != 0
    if bnz.any():
        entries = centroids[1:1 + K * d].astype(np.float64)
        near = np.argmin(np.abs(b[bnz, None] - entries[None, :]), axis=1)
        idx[bnz, cols] = (1 + near).astype(idx.dtype)
    return QuantState(idx=idx, centroids=centroids)


def pq_native_bits(idx: np.ndarray, bits: int, d: int, entry_bits: int = NATIVE_ENTRY_BITS) -> dict[str, int]:
    """The PQ-native storage of a layer shared by ``pq`` (what Gong et al. count), in bits.

    ``idx`` is the layer's index matrix over ``[W | b]`` (``CompressedLayer.indices`` or
    ``QuantState.idx``, shape ``(rows, in + 1)``), ``bits`` its codebook index bits, ``d`` the
    sub-vector length, ``entry_bits`` the width of a codeword coordinate and of a bias (16, EIE's
    ``weight_bits``). With ``K = (2**bits - 1) // d`` and ``n = rows x in / d`` sub-vectors:

    - ``codes``: ``n x ceil(log2 K)``: one code per sub-vector, pruned or not (PQ is dense);
    - ``codebook``: ``K x d x entry_bits``;
    - ``bias``: ``rows x entry_bits`` (the biases kept as numbers, not codes);
    - ``pattern``: ``rows x in`` (a 1-bit mask) when W has pruned zeros, else 0: a PQ code
      decodes to a whole codeword, so the zeros of a pruned layer need a mask of their own;
    - ``total``: their sum.

    Raises ValueError for a layer PQ does not apply to (:func:`pq_not_applicable`).
    """
    idx = np.asarray(idx)
    rows, cols = idx.shape[0], idx.shape[1] - 1
    why = pq_not_applicable(cols, bits, d)
    if why is not None:
        raise ValueError(f"no PQ-native form: {why}")
    K = pq_codebook_size(bits, d)
    out = {"codes": rows * (cols // d) * math.ceil(math.log2(K)),
           "codebook": K * d * int(entry_bits),
           "bias": rows * int(entry_bits),
           "pattern": rows * cols if np.any(idx[:, :cols] == 0) else 0}
    out["total"] = sum(out.values())
    return out


class PQQuantizer(Quantizer):
    """``pq``: product quantization of each row's sub-vectors of ``d = pq_subvector`` weights,
    one codebook of ``(2**bits - 1) // d`` codewords per layer, masked k-means over the kept
    weights, codeword coordinates fine-tuned as centroids (Gong et al. 2014; Wu et al., Q-CNN,
    CVPR 2016). See the module's docstring; :func:`pq_share_matrix` does the work.

    :meth:`share` alone (1-D values without their layout) cannot form sub-vectors: it is the
    scalar k-means of the fallback."""

    finetune = True

    def share(self, values, bits, cfg, importance=None):
        return QUANTIZERS.get("kmeans").share(values, bits, cfg)

    def share_matrix(self, aug, bits, cfg, layer=None, log=None):
        return pq_share_matrix(aug, bits, cfg, layer=layer, log=log)


QUANTIZERS.register("pq", PQQuantizer())
