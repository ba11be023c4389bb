"""The network description: layers, their float32 parameters, and the forward and backward pass.

A :class:`Network` is a feed-forward stack of fc and conv layers (:class:`LayerSpec`) run in
numpy (the operations are in network/ops.py). It is just enough to train LeNet-300-100 and
LeNet-5 (Caffe variant) on MNIST (network/train.py) and to evaluate any compressed model.

Bias enters as one extra input column (docs/design.md, "Contracts"), so a layer's quantized
form is the augmented matrix ``[W | b]`` of shape (out, fan_in + 1) and the bias shares the
layer's codebook (:func:`augmented`).
"""
from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field

import numpy as np

from .ops import FLOAT, col2im, im2col, maxpool, maxpool_backward

__all__ = ["FLOAT", "LayerKind", "LayerSpec", "Network", "augmented", "init_params", "set_augmented",
           "weights_only_input_shape"]


class LayerKind(str, enum.Enum):
    """What a weight layer computes."""

    FC = "fc"
    CONV = "conv"


@dataclass(frozen=True)
class LayerSpec:
    """One weight layer of a network.

    ``shape`` is the weight shape: (out, in) for fc, (out, in, kh, kw) for conv
    (stride 1, no padding). ``pool`` is the max-pool window applied after the
    activation (0 = none). ``relu`` is the ReLU-on-write-back flag.
    """

    name: str
    kind: LayerKind
    shape: tuple[int, ...]
    relu: bool
    pool: int = 0

    @property
    def fan_in(self) -> int:
        return int(np.prod(self.shape[1:]))

    @property
    def n_out(self) -> int:
        return int(self.shape[0])

    def to_dict(self) -> dict:
        return {"name": self.name, "kind": self.kind.value, "shape": list(self.shape),
                "relu": self.relu, "pool": self.pool}

    @classmethod
    def from_dict(cls, d: dict) -> "LayerSpec":
        return cls(name=str(d["name"]), kind=LayerKind(d["kind"]), shape=tuple(int(s) for s in d["shape"]),
                   relu=bool(d["relu"]), pool=int(d.get("pool", 0)))


@dataclass
class Network:
    """A feed-forward stack of fc/conv layers with float32 parameters.

    ``params[name]`` is the weight array and ``params[name + "_bias"]`` the bias.
    """

    name: str
    input_shape: tuple[int, ...]
    specs: list[LayerSpec]
    params: dict[str, np.ndarray] = field(default_factory=dict)

    def copy(self) -> "Network":
        return Network(self.name, self.input_shape, list(self.specs), {k: v.copy() for k, v in self.params.items()})

    def weight(self, name: str) -> np.ndarray:
        return self.params[name]

    def bias(self, name: str) -> np.ndarray:
        return self.params[name + "_bias"]

    @property
    def n_weights(self) -> int:
        return sum(int(np.prod(s.shape)) for s in self.specs)

    # ---------------------------------------------------------------- forward
    def forward(self, x: np.ndarray, keep: bool = False):
        """Logits for a batch ``x`` of shape (B, *input_shape). With ``keep`` the
        per-layer caches needed by :meth:`backward` are returned too."""
        h = np.ascontiguousarray(x, dtype=FLOAT).reshape((x.shape[0],) + tuple(self.input_shape))
        caches = []
        for spec in self.specs:
            W, b = self.params[spec.name], self.params[spec.name + "_bias"]
            if spec.kind is LayerKind.FC:
                inp = h.reshape(h.shape[0], -1)
                out = inp @ W.T + b
                cache = [inp.shape, inp, h.shape]
            else:
                cols = im2col(h, W.shape[2], W.shape[3])          # (B, Ho, Wo, C*kh*kw)
                out = cols @ W.reshape(W.shape[0], -1).T + b        # (B, Ho, Wo, O)
                out = out.transpose(0, 3, 1, 2)                     # NCHW
                cache = [h.shape, cols, None]
            if spec.relu:
                relu_mask = out > 0
                out = out * relu_mask
            else:
                relu_mask = None
            pool_idx = None
            if spec.pool:
                out, pool_idx = maxpool(out, spec.pool, keep)
            h = out
            if keep:
                caches.append((spec, cache, relu_mask, pool_idx, out.shape))
        return (h, caches) if keep else h

    def predict(self, x: np.ndarray, batch: int = 1000) -> np.ndarray:
        return np.concatenate([self.forward(x[i:i + batch]).argmax(1) for i in range(0, len(x), batch)]) \
            if len(x) else np.zeros(0, dtype=np.int64)

    def error_pct(self, x: np.ndarray, y: np.ndarray) -> float:
        """Classification error in percent on (x, y)."""
        return float(100.0 * np.mean(self.predict(x) != y))

    # --------------------------------------------------------------- backward
    def backward(self, caches, dout: np.ndarray) -> dict[str, np.ndarray]:
        """Gradients of every parameter given d(loss)/d(logits)."""
        grads: dict[str, np.ndarray] = {}
        d = dout
        for i in range(len(caches) - 1, -1, -1):
            spec, cache, relu_mask, pool_idx, out_shape = caches[i]
            W = self.params[spec.name]
            if spec.pool:
                d = maxpool_backward(d, pool_idx, spec.pool)
            if relu_mask is not None:
                d = d * relu_mask
            need_dx = i > 0
            if spec.kind is LayerKind.FC:
                in_shape, inp, h_shape = cache
                d2 = d.reshape(d.shape[0], -1)
                grads[spec.name] = (d2.T @ inp).astype(FLOAT, copy=False)
                grads[spec.name + "_bias"] = d2.sum(0)
                if need_dx:
                    d = (d2 @ W).reshape(h_shape)
            else:
                h_shape, cols, _ = cache
                O, C, kh, kw = W.shape
                dn = d.transpose(0, 2, 3, 1)                       # (B, Ho, Wo, O)
                d2 = dn.reshape(-1, O)
                grads[spec.name] = (d2.T @ cols.reshape(-1, cols.shape[-1])).reshape(W.shape)
                grads[spec.name + "_bias"] = d2.sum(0)
                if need_dx:
                    dcols = (d2 @ W.reshape(O, -1)).reshape(dn.shape[:3] + (C, kh, kw))
                    d = col2im(dcols, h_shape)
        return grads


def weights_only_input_shape(specs: list[LayerSpec]) -> tuple[int, ...]:
    """The input shape of a network known only by its weights: ``(in,)`` when the first layer is fc,
    ``(C, 0, 0)`` (channels, size unknown) when it is a conv layer."""
    first = specs[0]
    return (first.shape[1],) if first.kind is LayerKind.FC else (first.shape[1], 0, 0)


def init_params(net: Network, seed: int) -> Network:
    """He-uniform weights and zero biases, deterministic for ``seed``."""
    rng = np.random.default_rng(seed)
    for s in net.specs:
        bound = math.sqrt(6.0 / s.fan_in)
        net.params[s.name] = rng.uniform(-bound, bound, size=s.shape).astype(FLOAT)
        net.params[s.name + "_bias"] = np.zeros(s.n_out, dtype=FLOAT)
    return net


def augmented(net: Network, name: str) -> np.ndarray:
    """The layer as one (out, fan_in + 1) matrix ``[W | b]`` (bias = extra input column)."""
    W = net.params[name]
    return np.concatenate([W.reshape(W.shape[0], -1), net.params[name + "_bias"][:, None]], axis=1)


def set_augmented(net: Network, name: str, aug: np.ndarray) -> None:
    """Inverse of :func:`augmented`."""
    W = net.params[name]
    net.params[name] = np.ascontiguousarray(aug[:, :-1]).reshape(W.shape).astype(FLOAT)
    net.params[name + "_bias"] = np.ascontiguousarray(aug[:, -1]).astype(FLOAT)
