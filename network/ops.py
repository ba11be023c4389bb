"""The numpy operations of the network's float forward pass (network/graph.py).

Convolutions are computed as a matrix product over patches (:func:`im2col`), which is also how
a conv layer maps onto a sparse matrix-vector machine: one output position is one product of
the (out x in*kh*kw) matrix with the receptive field. The pooling and activation functions
here serve both the float forward pass and, on dequantized values, the fixed-point one
(sim/reference.py), so the two cannot drift apart.
"""
from __future__ import annotations

import math

import numpy as np

__all__ = ["FLOAT", "avgpool", "conv_out_size", "gelu", "im2col", "log_softmax", "maxpool", "pool_windows",
           "sigmoid", "softmax"]

FLOAT = np.float32


def conv_out_size(n: int, k: int, stride: int, pad: int, dilation: int) -> int:
    """Output length of a convolution or pooling along one axis (``pad`` = both sides summed)."""
    return (n + pad - dilation * (k - 1) - 1) // stride + 1


def _windows(x: np.ndarray, kh: int, kw: int, stride=(1, 1), pads=(0, 0, 0, 0), dilation=(1, 1), value=0):
    """(B, C, H, W) -> (B, C, Ho, Wo, kh, kw) windows (a view where possible); ``pads`` is
    (top, left, bottom, right), filled with ``value``."""
    pt, pl, pb, pr = pads
    if pt or pl or pb or pr:
        x = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)), constant_values=value)
    dh, dw = dilation
    eh, ew = (kh - 1) * dh + 1, (kw - 1) * dw + 1
    win = np.lib.stride_tricks.sliding_window_view(x, (eh, ew), axis=(2, 3))
    return win[:, :, ::stride[0], ::stride[1], ::dh, ::dw]


def im2col(x: np.ndarray, kh: int, kw: int, stride=(1, 1), pads=(0, 0, 0, 0), dilation=(1, 1)) -> np.ndarray:
    """(B, C, H, W) -> (B, Ho, Wo, C*kh*kw) receptive fields, in the weight's (C, kh, kw) order;
    padding is zeros (any dtype: float activations or fixed-point integers)."""
    win = _windows(x, kh, kw, stride, pads, dilation, 0)
    return np.ascontiguousarray(win.transpose(0, 2, 3, 1, 4, 5)).reshape(x.shape[0], win.shape[2], win.shape[3], -1)


def pool_windows(x: np.ndarray, kernel, stride, pads, value):
    """The pooling windows of (B, C, H, W) as (B, C, Ho, Wo, kh*kw)."""
    win = _windows(x, kernel[0], kernel[1], stride, pads, (1, 1), value)
    return win.reshape(win.shape[:4] + (-1,))


def maxpool(x: np.ndarray, k, stride, pads=(0, 0, 0, 0)):
    """Max pooling over (kh, kw) windows ``k`` with ``stride`` and ``pads`` (``-inf``, or the
    integer minimum, in the padding)."""
    kh, kw = k
    if tuple(stride) == (kh, kw) and not any(pads):         # tiling windows: a reshape, no copies
        B, C, H, W = x.shape
        Ho, Wo = H // kh, W // kw
        return x[:, :, :Ho * kh, :Wo * kw].reshape(B, C, Ho, kh, Wo, kw).max(axis=(3, 5))
    low = np.iinfo(x.dtype).min if x.dtype.kind in "iu" else -np.inf
    return pool_windows(x, k, stride, pads, low).max(-1)


def avgpool(x: np.ndarray, k, stride, pads, count_include_pad: bool, divide):
    """Average pooling: the window sums and counts are passed to ``divide(sums, counts)``
    (float division, or the fixed-point rounding division)."""
    sums = pool_windows(x, k, stride, pads, 0).sum(-1, dtype=np.float64 if x.dtype.kind == "f" else np.int64)
    if count_include_pad or not any(pads):
        counts = np.full(sums.shape[2:], k[0] * k[1], dtype=np.int64)
    else:
        ones = np.ones((1, 1) + x.shape[2:], dtype=np.int64)
        counts = pool_windows(ones, k, stride, pads, 0).sum(-1)[0, 0]
    return divide(sums, counts)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def gelu(x: np.ndarray, approximate: str = "none") -> np.ndarray:
    """GELU, exact (erf) or with the tanh approximation (ONNX Gelu's ``approximate``)."""
    if approximate == "tanh":
        return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))
    from scipy.special import erf

    return (0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))).astype(x.dtype, copy=False)


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    e = np.exp(x - x.max(axis, keepdims=True))
    return e / e.sum(axis, keepdims=True)


def log_softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    z = x - x.max(axis, keepdims=True)
    return z - np.log(np.exp(z).sum(axis, keepdims=True))
