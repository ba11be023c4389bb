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

__all__ = ["FixedArith", "ModelFormats", "NetworkReference", "check_runnable", "layer_input", "machine_indices",
           "model_formats", "network_inputs", "reference_layer", "reference_network", "run_fixed"]

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


class FixedArith:
    """The host operations between layers in the activation format (network/graph.py's
    :func:`~network.graph.host_op` with integer arithmetic): max-pooling, ReLU and reshapes are
    exact; a residual add and a clip saturate; an average divides with round half up; every
    other function (sigmoid, tanh, GELU, softmax, scaling, activation products) is computed in
    float64 on the dequantized values and quantized back (round half up, clamp). The reference
    and the simulation both run this one code, so only the weight layers can differ."""

    def __init__(self, cfg):
        self.cfg = cfg
        self.lo, self.hi = signed_min(cfg.act_bits), signed_max(cfg.act_bits)

    def _q(self, v):
        return quantize_acts(v, self.cfg)

    def fn(self, f, x):
        return self._q(f(dequantize_acts(x, self.cfg)))

    def clip(self, x, lo, hi):
        return np.clip(x, self.lo if lo is None else int(self._q(lo)), self.hi if hi is None else int(self._q(hi)))

    def add(self, a, b):
        return np.clip(a + b, self.lo, self.hi)

    def mul(self, a, scale):
        return self._q(dequantize_acts(a, self.cfg) * scale)

    def matmul(self, a, b):
        return self._q(np.matmul(dequantize_acts(a, self.cfg), dequantize_acts(b, self.cfg)))

    def divide(self, sums, counts):
        return np.clip((2 * sums + counts) // (2 * counts), self.lo, self.hi)


@dataclass
class NetworkReference:
    """The fixed-point reference run of a model on a batch.

    Per weight layer k: ``inputs[k]``, its int64 input vectors without the bias column
    (P*B, machine fan-in; one per matrix-vector product: a sample for an fc layer, an output
    position for a conv layer), and ``outputs[k]`` (P*B, n_out) in the activation format;
    ``formats[k]``: its :class:`~arch.fixedpoint.LayerFormat`. ``logits``: the network's output
    dequantized (float64, (B, n_out)); ``predictions``: argmax of the integer output (ties ->
    lowest index); ``input_q``: the quantized network input (B, *input_shape).
    """

    outputs: list[np.ndarray]
    formats: ModelFormats
    logits: np.ndarray
    predictions: np.ndarray
    input_q: np.ndarray
    layer_names: list[str] = field(default_factory=list)
    inputs: list[np.ndarray] = field(default_factory=list)

    def layer_input(self, k: int) -> np.ndarray:
        """The int64 input vectors of layer k as the machine sees them (plus the bias column)."""
        return _append_one(self.inputs[k], self.formats[k])


def check_runnable(model) -> None:
    """Raise :class:`~arch.errors.ModelError` unless ``model`` can run: it has layers, a known
    input shape and a well-formed graph."""
    if not model.layers:
        raise ModelError(f"model {model.name} has no layers")
    if any(int(s) <= 0 for s in model.input_shape):
        raise ModelError(f"{model.name}: the input shape {tuple(model.input_shape)} is not known (a conv layer "
                         "first, from weights alone); compress it again with --input-shape C,H,W")
    try:
        model.structure().check()
    except ValueError as e:
        raise ModelError(f"{model.name}: {e}") from None


def network_inputs(model, x_float: np.ndarray) -> np.ndarray:
    """``x_float`` as a float64 batch (B, *input_shape): a batch of flat or shaped samples, or one sample."""
    x = np.asarray(x_float, dtype=np.float64)
    shape = tuple(int(s) for s in model.input_shape)
    size = int(np.prod(shape))
    if x.ndim == 1 or x.shape == shape:
        x = x.reshape((1,) + x.shape)
    if x.size != len(x) * size or (x.ndim > 1 and int(np.prod(x.shape[1:])) != size):
        raise ModelError(f"inputs have {int(np.prod(x.shape[1:]))} values each; {model.name} takes {size} "
                         f"(shape {shape})")
    if not np.all(np.isfinite(x)):
        raise ModelError("inputs hold NaN or infinite values")
    return x.reshape((len(x),) + shape)


def run_fixed(model, x_float: np.ndarray, cfg: AcceleratorConfig, layer_fn, on_node=None) -> np.ndarray:
    """Run the model's graph in fixed point on ``x_float`` (B, ...): the weight layers through
    ``layer_fn(k, X) -> Y`` (X: int64 input vectors with the bias column, (P*B, cols); Y: int64
    outputs (P*B, n_out), ReLU applied), the host operations with :class:`FixedArith`
    (``on_node`` sees each). Returns the integer output tensor (B, ...)."""
    from network.graph import place_outputs, receptive_fields

    net = model.structure()
    index = {l.name: k for k, l in enumerate(model.layers)}
    fmts = model_formats(model, cfg)

    def layer(spec, node, h):
        k = index[spec.name]
        X, lead = receptive_fields(spec, node, h)
        return place_outputs(spec, layer_fn(k, _append_one(X, fmts[k])), lead)

    return net.run_graph(quantize_acts(network_inputs(model, x_float), cfg), layer, FixedArith(cfg), on_node)


def machine_indices(layer) -> np.ndarray:
    """The index matrix the machine runs for a CompressedLayer (a grouped conv's is block diagonal)."""
    from network.graph import expand_groups

    return expand_groups(layer.indices, layer.spec)


def reference_network(model, x_float: np.ndarray, cfg: AcceleratorConfig | None = None, *,
                      keep_inputs: bool = True) -> NetworkReference:
    """Run a CompressedModel on ``x_float`` (B, *input_shape) or flat (B, size), or one sample,
    in fixed point: every weight layer with :func:`reference_layer` (a conv layer once per output
    position), the operations between layers with :class:`FixedArith`. ``cfg`` defaults to the
    model's own AcceleratorConfig; only its fixed-point fields matter here."""
    cfg = model.accel if cfg is None else cfg
    check_runnable(model)
    fmts = model_formats(model, cfg)
    cbs = [quantize_codebook(l.centroids, f) for l, f in zip(model.layers, fmts)]
    mats = [machine_indices(l) for l in model.layers]
    outputs: list = [None] * len(model.layers)
    inputs: list = [None] * len(model.layers)

    def layer_fn(k, X):
        l = model.layers[k]
        if X.shape[1] != mats[k].shape[1]:
            raise ValueError(f"layer {l.name} takes {mats[k].shape[1] - 1} inputs; it is given {X.shape[1] - 1}")
        y = reference_layer(mats[k], cbs[k], X, fmts[k], l.spec.relu)
        outputs[k] = y
        if keep_inputs:
            inputs[k] = X[:, :-1]
        return y

    x = network_inputs(model, x_float)
    out = run_fixed(model, x, cfg, layer_fn)
    flat = out.reshape(len(out), -1)
    return NetworkReference(outputs=outputs, formats=fmts, logits=dequantize_acts(flat, fmts[-1]),
                            predictions=np.argmax(flat, axis=1), input_q=quantize_acts(x, cfg),
                            layer_names=[l.name for l in model.layers], inputs=inputs if keep_inputs else [])
