"""The functional reference: numpy, dense fixed point, exactly arch/fixedpoint.py.

This is the golden model the cycle-level engine (sim/engine.py) and the RTL
(hw/) are compared with, bit for bit (docs/design.md, "Contracts"). It knows
nothing about PEs, FIFOs or streams: a layer is the matrix of codebook indices
and a batch of integer input vectors.

For every output row ``i`` and input vector ``x`` the accumulator starts at 0
and, for the columns ``j = 0, 1, ...`` in ascending order (the broadcast order),

    acc = accumulate(acc, term(x[j], codebook_q[indices[i, j]]))

(``term`` = ``(a * w) >> product_shift``, floor; ``accumulate`` = add, then
saturate or wrap to ``acc_bits``); the output is ``writeback(acc, fmt, relu)``.

Exact shortcuts (none changes a single bit):

- a column whose activation is 0 for every vector of the batch, and a row whose
  weight in a column is 0, add a zero term, which changes nothing in either
  overflow mode; they are skipped;
- ``wrap``: two's-complement wrap-around is reduction modulo ``2**acc_bits``,
  which commutes with addition, so the terms are summed in int64 (whose own
  wrap-around is modulo ``2**64``, a multiple of ``2**acc_bits``) and wrapped
  once at the end;
- ``saturate``: when a bound on ``sum_j |term|`` shows that no partial sum of
  any row can leave the accumulator range, the per-column clamp is a no-op and
  is left out. Otherwise every column clamps, in column order.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from arch.config import AcceleratorConfig, Overflow
from arch.errors import ModelError
from arch.fixedpoint import (LayerFormat, accumulate, dequantize_acts, layer_format, one, quantize_acts,
                             quantize_codebook, signed_max, signed_min, writeback)

__all__ = ["check_runnable", "reference_layer", "layer_input", "ModelFormats", "model_formats", "NetworkReference",
           "reference_network"]

ModelFormats = list[LayerFormat]
"""One :class:`~arch.fixedpoint.LayerFormat` per layer of a model, in layer order."""

_CHUNK_COLS = 256  # columns gathered (indices -> integer weights) at a time; bounds memory for huge layers


def _check_ints(name: str, a: np.ndarray, bits: int) -> None:
    if a.size and (int(a.min()) < signed_min(bits) or int(a.max()) > signed_max(bits)):
        raise ValueError(f"{name} hold values outside the signed {bits}-bit range "
                         f"[{signed_min(bits)}, {signed_max(bits)}]: min {int(a.min())}, max {int(a.max())}")


def reference_layer(indices: np.ndarray, codebook_q: np.ndarray, x: np.ndarray, fmt: LayerFormat,
                    relu: bool) -> np.ndarray:
    """One layer in fixed point: ``writeback(sum_j term(x_j, w_ij))`` per row, column order.

    ``indices``: (n_rows, n_cols) codebook indices (0 = zero weight); every
    column is an input column, the bias column included if the layer has one.
    ``codebook_q``: the integer codebook (:func:`arch.fixedpoint.quantize_codebook`).
    ``x``: int64 activations, shape (n_cols,) or (B, n_cols) (the caller appends
    :func:`arch.fixedpoint.one` for a bias column). Returns int64 outputs in the
    activation format, shape (n_rows,) or (B, n_rows).
    """
    idx = np.asarray(indices)
    if idx.ndim != 2:
        raise ValueError(f"indices must be a 2-D (rows, columns) array; got shape {idx.shape}")
    if idx.dtype.kind not in "iu":
        raise ValueError(f"indices must be integers; got dtype {idx.dtype}")
    n_rows, n_cols = idx.shape
    cb = np.asarray(codebook_q)
    if cb.ndim != 1 or cb.dtype.kind not in "iu":
        raise ValueError(f"codebook_q must be a 1-D integer array; got shape {cb.shape}, dtype {cb.dtype}")
    cb = cb.astype(np.int64, copy=False)
    if idx.size and (int(idx.min()) < 0 or int(idx.max()) >= len(cb)):
        raise ValueError(f"indices reach {int(idx.max())} (min {int(idx.min())}); the codebook has {len(cb)} entries")
    _check_ints("codebook_q", cb, fmt.weight_bits)

    xa = np.asarray(x)
    single = xa.ndim == 1
    if single:
        xa = xa[None, :]
    if xa.ndim != 2 or xa.shape[1] != n_cols:
        raise ValueError(f"activations must have shape ({n_cols},) or (B, {n_cols}) for a layer with {n_cols} "
                         f"input columns; got {np.asarray(x).shape}")
    if xa.dtype.kind not in "iu":
        raise ValueError(f"activations must be integers in the activation format; got dtype {xa.dtype} "
                         "(use arch.fixedpoint.quantize_acts)")
    xa = xa.astype(np.int64, copy=False)
    _check_ints("activations", xa, fmt.act_bits)
    B = xa.shape[0]

    s = fmt.product_shift
    lo, hi = signed_min(fmt.acc_bits), signed_max(fmt.acc_bits)
    cols = np.flatnonzero(np.any(xa != 0, axis=0)) if B else np.zeros(0, dtype=np.int64)
    wrap = fmt.overflow is Overflow.WRAP

    clamp = False
    if not wrap and len(cols):
        # |term| = |floor(a w / 2**s)| <= |a| |w| / 2**s + 1, so every partial sum of row i lies within
        # sum_j max_b |a_bj| |w_ij| / 2**s + (number of columns): if that fits, no clamp ever acts.
        amax = np.abs(xa[:, cols]).max(axis=0).astype(np.float64)
        absw = np.abs(cb).astype(np.float64)
        bound = np.zeros(n_rows, dtype=np.float64)
        for c0 in range(0, len(cols), _CHUNK_COLS):
            cc = cols[c0:c0 + _CHUNK_COLS]
            bound += absw[idx[:, cc]] @ amax[c0:c0 + _CHUNK_COLS]
        worst = float(bound.max(initial=0.0)) / 2.0 ** s * (1.0 + 1e-9) + len(cols) + 1
        clamp = worst > hi

    acc = np.zeros((n_rows, B), dtype=np.int64)   # rows x batch: a row's accumulators are contiguous
    buf = np.empty((n_rows, B), dtype=np.int64)
    dense_min = max(1, n_rows // 2)
    for c0 in range(0, len(cols), _CHUNK_COLS):
        cc = cols[c0:c0 + _CHUNK_COLS]
        wt = cb[np.ascontiguousarray(idx[:, cc].T)]      # (chunk, n_rows) integer weights
        xt = np.ascontiguousarray(xa[:, cc].T)           # (chunk, B) activations
        for k in range(len(cc)):
            w = wt[k]
            r = np.flatnonzero(w)
            if len(r) == 0:
                continue
            a = xt[k]
            if len(r) >= dense_min:                      # most rows: whole-array, in place
                np.multiply(w[:, None], a[None, :], out=buf)
                np.right_shift(buf, s, out=buf)          # term: arithmetic shift = floor
                acc += buf
                if clamp:
                    np.clip(acc, lo, hi, out=acc)
            else:                                        # few rows: gather, add, scatter
                t = np.multiply.outer(w[r], a)
                t >>= s
                part = acc[r]
                part += t
                if clamp:
                    np.clip(part, lo, hi, out=part)
                acc[r] = part
    if wrap:
        acc = accumulate(np.zeros_like(acc), acc, fmt)   # the one wrap, exact (see the module docstring)
    out = writeback(acc, fmt, relu)
    return np.ascontiguousarray(out[:, 0]) if single else np.ascontiguousarray(out.T)


def layer_input(x_float: np.ndarray, cfg_or_fmt: AcceleratorConfig | LayerFormat, bias: bool) -> np.ndarray:
    """Float activations -> int64 activation format (round half up, clamp), plus the bias column if ``bias``.

    Works on one vector (n,) or a batch (B, n); the bias column, the constant
    :func:`arch.fixedpoint.one`, is appended last.
    """
    xf = np.asarray(x_float, dtype=np.float64)
    if not np.all(np.isfinite(xf)):
        raise ValueError("activations hold NaN or infinite values")
    q = quantize_acts(xf, cfg_or_fmt)
    if not bias:
        return q
    return np.concatenate([q, np.full(q.shape[:-1] + (1,), one(cfg_or_fmt), dtype=np.int64)], axis=-1)


def _append_one(q: np.ndarray, fmt: LayerFormat) -> np.ndarray:
    out = np.empty((q.shape[0], q.shape[1] + 1), dtype=np.int64)
    out[:, :-1] = q
    out[:, -1] = one(fmt)
    return out


def model_formats(model, cfg: AcceleratorConfig) -> ModelFormats:
    """The fixed-point formats of every layer of ``model`` (a CompressedModel) on machine ``cfg``."""
    return [layer_format(l.centroids, cfg) for l in model.layers]


@dataclass
class NetworkReference:
    """The fixed-point reference run of a model on a batch.

    ``outputs[k]``: layer k's int64 outputs in the activation format, (B, n_out);
    ``formats[k]``: its :class:`~arch.fixedpoint.LayerFormat`; ``logits``: the
    last layer's outputs dequantized (float64); ``predictions``: argmax of the
    last layer's integer outputs (ties -> lowest index); ``input_q``: the
    quantized network input (B, fan_in), without the bias column.
    """

    outputs: list[np.ndarray]
    formats: ModelFormats
    logits: np.ndarray
    predictions: np.ndarray
    input_q: np.ndarray
    layer_names: list[str] = field(default_factory=list)

    def layer_input(self, k: int) -> np.ndarray:
        """The int64 input of layer k as the machine sees it: the previous output plus the bias column."""
        prev = self.input_q if k == 0 else self.outputs[k - 1]
        return _append_one(prev, self.formats[k])


def check_runnable(model) -> None:
    """Raise :class:`~arch.errors.ModelError` unless every layer of ``model`` is fc (what the
    simulator runs today: one matrix-vector product per layer and input vector)."""
    if not model.layers:
        raise ModelError(f"model {model.name} has no layers")
    conv = [l.name for l in model.layers if l.spec.kind.value != "fc"]
    if conv:
        raise ModelError(f"{model.name}: layer {conv[0]} is a conv layer; the simulator runs fc layers only "
                         f"(layers {', '.join(l.name for l in model.layers)}; conv layers are {', '.join(conv)})")


def reference_network(model, x_float: np.ndarray, cfg: AcceleratorConfig | None = None) -> NetworkReference:
    """Run a CompressedModel (fc layers only) on ``x_float`` (B, fan_in) in fixed point.

    ``x_float`` may also be (B, *input_shape) (flattened) or one vector (fan_in,)
    (a batch of one). Each layer's input is the previous layer's int64 output
    (the first layer's: the quantized ``x_float``) plus the bias column
    (constant one). ``cfg`` defaults to the model's own AcceleratorConfig; only
    its fixed-point fields matter here.
    """
    cfg = model.accel if cfg is None else cfg
    check_runnable(model)
    x = np.asarray(x_float, dtype=np.float64)
    x = x[None, :] if x.ndim == 1 else x.reshape(x.shape[0], -1)
    fan_in = model.layers[0].indices.shape[1] - 1
    if x.shape[1] != fan_in:
        raise ModelError(f"inputs have {x.shape[1]} values each; {model.name} takes {fan_in}")
    if not np.all(np.isfinite(x)):
        raise ModelError("inputs hold NaN or infinite values")
    fmts = model_formats(model, cfg)
    h = quantize_acts(x, cfg)
    input_q = h
    outputs = []
    for l, fmt in zip(model.layers, fmts):
        if l.indices.shape[1] != h.shape[1] + 1:
            raise ValueError(f"layer {l.name} takes {l.indices.shape[1] - 1} inputs; the previous layer gives "
                             f"{h.shape[1]}")
        h = reference_layer(l.indices, quantize_codebook(l.centroids, fmt), _append_one(h, fmt), fmt,
                            l.spec.relu)
        outputs.append(h)
    return NetworkReference(outputs=outputs, formats=fmts, logits=dequantize_acts(h, fmts[-1]),
                            predictions=np.argmax(h, axis=1), input_q=input_q,
                            layer_names=[l.name for l in model.layers])
