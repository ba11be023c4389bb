"""The numpy operations of the network's forward and backward pass (network/graph.py).

Convolutions are valid, stride 1, computed as a matrix product over patches (im2col), which is
also how a conv layer maps onto a sparse matrix-vector machine.
"""
from __future__ import annotations

import numpy as np

__all__ = ["FLOAT", "col2im", "im2col", "maxpool", "maxpool_backward", "softmax_xent"]

FLOAT = np.float32


def im2col(x: np.ndarray, kh: int, kw: int) -> np.ndarray:
    """(B, C, H, W) -> (B, Ho, Wo, C*kh*kw) patches, valid convolution, stride 1."""
    win = np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(2, 3))  # (B, C, Ho, Wo, kh, kw)
    return np.ascontiguousarray(win.transpose(0, 2, 3, 1, 4, 5)).reshape(
        x.shape[0], win.shape[2], win.shape[3], -1)


def col2im(dcols: np.ndarray, x_shape) -> np.ndarray:
    """Adjoint of :func:`im2col`; dcols is (B, Ho, Wo, C, kh, kw)."""
    B, C, H, Wd = x_shape
    _, Ho, Wo, _, kh, kw = dcols.shape
    dx = np.zeros((B, C, H, Wd), dtype=FLOAT)
    dct = dcols.transpose(0, 3, 4, 5, 1, 2)  # (B, C, kh, kw, Ho, Wo)
    for i in range(kh):
        for j in range(kw):
            dx[:, :, i:i + Ho, j:j + Wo] += dct[:, :, i, j]
    return dx


def maxpool(x: np.ndarray, k: int, keep: bool):
    B, C, H, W = x.shape
    Ho, Wo = H // k, W // k
    xr = x[:, :, :Ho * k, :Wo * k].reshape(B, C, Ho, k, Wo, k).transpose(0, 1, 2, 4, 3, 5).reshape(B, C, Ho, Wo, k * k)
    idx = xr.argmax(-1) if keep else None
    return xr.max(-1), (idx, x.shape)


def maxpool_backward(d: np.ndarray, pool_idx, k: int) -> np.ndarray:
    idx, x_shape = pool_idx
    B, C, Ho, Wo = d.shape
    g = np.zeros((B, C, Ho, Wo, k * k), dtype=FLOAT)
    np.put_along_axis(g, idx[..., None], d[..., None], axis=-1)
    g = g.reshape(B, C, Ho, Wo, k, k).transpose(0, 1, 2, 4, 3, 5).reshape(B, C, Ho * k, Wo * k)
    if g.shape[2:] != tuple(x_shape[2:]):
        full = np.zeros(x_shape, dtype=FLOAT)
        full[:, :, :Ho * k, :Wo * k] = g
        g = full
    return g


def softmax_xent(logits: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean cross-entropy loss and its gradient w.r.t. the logits."""
    z = logits - logits.max(1, keepdims=True)
    e = np.exp(z)
    p = e / e.sum(1, keepdims=True)
    n = len(y)
    loss = float(-np.log(p[np.arange(n), y] + 1e-12).mean())
    p[np.arange(n), y] -= 1.0
    return loss, (p / n).astype(FLOAT, copy=False)
