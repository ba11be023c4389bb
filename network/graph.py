"""The network description: weight layers, the graph around them, their float32 parameters, and
the float forward pass (plus the backward pass of the built-in chains).

A :class:`Network` is a list of weight layers (:class:`LayerSpec`, fc and conv) and a graph of
:class:`Node` records in topological order that wires them with the operations between them
(pooling, activations, reshapes, residual adds, softmax: :data:`HOST_OPS`). A network without
explicit nodes is a chain: each layer feeds the next, with its ReLU and max-pool fused (the
built-in LeNets and ``.npz`` weights). Imported ONNX models (network/onnx_import.py) carry
their graph.

Bias enters as one extra input column (docs/design.md, "Contracts"), so a layer's quantized
form is the augmented matrix ``[W | b]`` of shape (out, fan_in + 1) and the bias shares the
layer's codebook (:func:`augmented`). A conv layer runs as that matrix times one receptive
field per output position (:func:`receptive_fields`); a grouped conv's matrix is block
diagonal over the groups (:func:`expand_groups`).
"""
from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from arch.errors import ModelError

from .ops import FLOAT, avgpool, gelu, im2col, log_softmax, maxpool, sigmoid, softmax

__all__ = ["FLOAT", "HOST_OPS", "INPUT", "FloatArith", "LayerKind", "LayerSpec", "Network", "Node", "augmented",
           "expand_groups", "host_op", "init_params", "place_outputs", "receptive_fields", "set_augmented",
           "weights_only_input_shape"]

INPUT = "input"
"""The name of the network's input tensor in the graph."""

HOST_OPS = ("relu", "clip", "sigmoid", "tanh", "gelu", "maxpool", "avgpool", "globalavgpool", "flatten",
            "reshape", "transpose", "add", "mul", "matmul", "softmax", "logsoftmax")
"""The operations between weight layers. EIE performs none of them but the ReLU fused into a
layer's write-back; they run between layers and are reported as not mapped to the accelerator."""


class LayerKind(str, enum.Enum):
    """What a weight layer computes."""

    FC = "fc"
    CONV = "conv"


@dataclass(frozen=True)
class LayerSpec:
    """One weight layer of a network.

    ``shape`` is the weight shape: (out, in) for fc, (out, in / groups, kh, kw) for conv.
    Conv geometry: ``stride`` (sh, sw), ``padding`` (top, left, bottom, right; zeros),
    ``dilation`` (dh, dw) and ``groups``. ``pool`` is the max-pool window fused after the
    activation of a chain network (0 = none). ``relu`` is the ReLU-on-write-back flag.
    """

    name: str
    kind: LayerKind
    shape: tuple[int, ...]
    relu: bool
    pool: int = 0
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int, int, int] = (0, 0, 0, 0)
    dilation: tuple[int, int] = (1, 1)
    groups: int = 1

    @property
    def fan_in(self) -> int:
        """Inputs of one output (the matrix's columns without the bias)."""
        return int(np.prod(self.shape[1:]))

    @property
    def machine_fan_in(self) -> int:
        """Columns of the matrix the machine runs (a grouped conv's block-diagonal matrix spans every channel)."""
        return self.fan_in * self.groups

    @property
    def n_out(self) -> int:
        return int(self.shape[0])

    @property
    def plain(self) -> bool:
        """Stride 1, no padding, no dilation, one group (the built-in LeNets' layers)."""
        return self.stride == (1, 1) and not any(self.padding) and self.dilation == (1, 1) and self.groups == 1

    def to_dict(self) -> dict:
        d = {"name": self.name, "kind": self.kind.value, "shape": list(self.shape), "relu": self.relu,
             "pool": self.pool}
        if self.kind is LayerKind.CONV and not self.plain:
            d.update(stride=list(self.stride), padding=list(self.padding), dilation=list(self.dilation),
                     groups=self.groups)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "LayerSpec":
        spec = cls(name=str(d["name"]), kind=LayerKind(d["kind"]), shape=tuple(int(s) for s in d["shape"]),
                   relu=bool(d["relu"]), pool=int(d.get("pool", 0)),
                   stride=tuple(int(s) for s in d.get("stride", (1, 1))),
                   padding=tuple(int(s) for s in d.get("padding", (0, 0, 0, 0))),
                   dilation=tuple(int(s) for s in d.get("dilation", (1, 1))), groups=int(d.get("groups", 1)))
        spec.check()
        return spec

    def check(self) -> None:
        """Raise ValueError unless the description is consistent."""
        nd = 2 if self.kind is LayerKind.FC else 4
        if len(self.shape) != nd or min(self.shape) < 1:
            raise ValueError(f"layer {self.name}: weight shape {self.shape} is not a {nd}-D shape of positive sizes")
        if (len(self.stride) != 2 or len(self.padding) != 4 or len(self.dilation) != 2 or min(self.stride) < 1
                or min(self.dilation) < 1 or min(self.padding) < 0 or self.groups < 1 or self.pool < 0
                or self.shape[0] % self.groups):
            raise ValueError(f"layer {self.name}: bad geometry (stride {self.stride}, padding {self.padding}, "
                             f"dilation {self.dilation}, groups {self.groups}, pool {self.pool})")


@dataclass(frozen=True)
class Node:
    """One step of the graph: a weight layer (``op`` ``fc`` / ``conv``; ``name`` is the layer's)
    or a host operation of :data:`HOST_OPS` with its ``attrs``. ``name`` is also the tensor it
    produces; ``inputs`` name :data:`INPUT` or earlier nodes."""

    name: str
    op: str
    inputs: tuple[str, ...]
    attrs: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"name": self.name, "op": self.op, "inputs": list(self.inputs), "attrs": dict(self.attrs)}

    @classmethod
    def from_dict(cls, d: dict) -> "Node":
        attrs = d.get("attrs", {})
        if not isinstance(attrs, dict):
            raise ValueError(f"node {d.get('name')!r}: attrs must be a table")
        return cls(name=str(d["name"]), op=str(d["op"]), inputs=tuple(str(i) for i in d["inputs"]), attrs=attrs)


def chain_nodes(specs: list[LayerSpec]) -> list[Node]:
    """The graph of a chain network: each layer feeds the next; a fused pool becomes a maxpool node."""
    nodes, prev = [], INPUT
    for s in specs:
        nodes.append(Node(s.name, s.kind.value, (prev,)))
        prev = s.name
        if s.pool:
            prev = f"{s.name}_pool"
            nodes.append(Node(prev, "maxpool", (s.name,), {"kernel": [s.pool, s.pool], "stride": [s.pool, s.pool],
                                                        "pads": [0, 0, 0, 0]}))
    return nodes


# ------------------------------------------------------- layers as matrices
def expand_groups(m: np.ndarray, spec: LayerSpec) -> np.ndarray:
    """A layer's (out, fan_in [+ 1]) matrix as the machine runs it: for a grouped conv, block
    diagonal over the groups, (out, in * kh * kw [+ 1]) with zeros (index 0) outside the blocks."""
    g = spec.groups
    if g == 1:
        return m
    o, k = spec.n_out // g, spec.fan_in
    extra = m.shape[1] - k
    out = np.zeros((m.shape[0], g * k + extra), dtype=m.dtype)
    for i in range(g):
        out[i * o:(i + 1) * o, i * k:(i + 1) * k] = m[i * o:(i + 1) * o, :k]
    if extra:
        out[:, g * k:] = m[:, k:]
    return out


def receptive_fields(spec: LayerSpec, node: Node, h: np.ndarray) -> tuple[np.ndarray, tuple[int, ...]]:
    """The input vectors of a layer for a batch ``h``: ``(X, lead)`` with X of shape
    (prod(lead), machine_fan_in), one row per matrix-vector product (an fc layer: one per
    sample, or one per position for ``per_position`` (MatMul over the last axis); a conv layer:
    one per output position), and ``lead`` the shape those products form."""
    if spec.kind is LayerKind.FC:
        if node.attrs.get("per_position"):
            lead, X = h.shape[:-1], h.reshape(-1, h.shape[-1])
        else:
            lead, X = h.shape[:1], h.reshape(h.shape[0], -1)
    else:
        if h.ndim != 4:
            raise ModelError(f"layer {spec.name}: a conv layer needs (batch, channels, height, width) inputs; "
                             f"got shape {h.shape}")
        cols = im2col(h, spec.shape[2], spec.shape[3], spec.stride, spec.padding, spec.dilation)
        lead, X = cols.shape[:3], cols.reshape(-1, cols.shape[3])
    if X.shape[1] != spec.machine_fan_in:
        raise ModelError(f"layer {spec.name} takes {spec.machine_fan_in} inputs per product; it is given "
                         f"{X.shape[1]} (input tensor {tuple(h.shape[1:])} per sample)")
    return X, tuple(lead)


def place_outputs(spec: LayerSpec, Y: np.ndarray, lead: tuple[int, ...]) -> np.ndarray:
    """Inverse of :func:`receptive_fields` for the outputs: (prod(lead), out) -> the layer's tensor."""
    out = Y.reshape(lead + (Y.shape[1],))
    return out.transpose(0, 3, 1, 2) if spec.kind is LayerKind.CONV else out


# ---------------------------------------------------------------- host ops
class FloatArith:
    """How host operations compute in float32 (the float forward pass). The fixed-point
    counterpart is sim/reference.py's; both go through :func:`host_op`."""

    def fn(self, f: Callable, x: np.ndarray) -> np.ndarray:
        """An elementwise or row-wise nonlinear function."""
        return f(x.astype(FLOAT, copy=False)).astype(FLOAT, copy=False)

    def clip(self, x, lo, hi):
        return np.clip(x, -np.inf if lo is None else lo, np.inf if hi is None else hi).astype(FLOAT, copy=False)

    def add(self, a, b):
        return (a + b).astype(FLOAT, copy=False)

    def mul(self, a, scale: float):
        return (a * FLOAT(scale)).astype(FLOAT, copy=False)

    def matmul(self, a, b):
        return np.matmul(a, b).astype(FLOAT, copy=False)

    def divide(self, sums, counts):
        return (sums / counts).astype(FLOAT)


def _axis(node: Node, ndim: int) -> int:
    a = int(node.attrs.get("axis", -1))
    return a + ndim if a < 0 else a


def host_op(node: Node, args: list[np.ndarray], arith) -> np.ndarray:
    """One host operation on batched tensors (axis 0 is the batch) with ``arith``'s arithmetic."""
    op, a, x = node.op, node.attrs, args[0]
    if op == "relu":
        return np.maximum(x, 0)
    if op == "clip":
        return arith.clip(x, a.get("min"), a.get("max"))
    if op == "sigmoid":
        return arith.fn(sigmoid, x)
    if op == "tanh":
        return arith.fn(np.tanh, x)
    if op == "gelu":
        appr = a.get("approximate", "none")
        return arith.fn(lambda v: gelu(v, appr), x)
    if op == "softmax":
        return arith.fn(lambda v: softmax(v, _axis(node, x.ndim)), x)
    if op == "logsoftmax":
        return arith.fn(lambda v: log_softmax(v, _axis(node, x.ndim)), x)
    if op == "maxpool":
        return maxpool(x, tuple(a["kernel"]), stride=tuple(a["stride"]), pads=tuple(a["pads"]))
    if op == "avgpool":
        return avgpool(x, tuple(a["kernel"]), tuple(a["stride"]), tuple(a["pads"]),
                       bool(a.get("count_include_pad", False)), arith.divide)
    if op == "globalavgpool":
        return avgpool(x, x.shape[2:], (1, 1), (0, 0, 0, 0), True, arith.divide)
    if op == "flatten":
        return x.reshape(x.shape[0], -1)
    if op == "reshape":
        return x.reshape((x.shape[0],) + tuple(int(s) for s in a["shape"]))
    if op == "transpose":
        return np.ascontiguousarray(x.transpose([0] + [int(p) for p in a["perm"]]))
    if op == "add":
        return arith.add(x, args[1])
    if op == "mul":
        return arith.mul(x, float(a["scale"]))
    if op == "matmul":
        return arith.matmul(x, args[1])
    raise ModelError(f"node {node.name}: unknown operation {op!r}; the host operations are {', '.join(HOST_OPS)}")


def host_op_count(node: Node, args: list[np.ndarray], out: np.ndarray) -> int:
    """Arithmetic operations of one host op per sample (comparisons, adds, multiplies, function
    evaluations), for the report of work not mapped to the accelerator. Reshapes count 0."""
    per = int(np.prod(out.shape[1:]))
    op, a = node.op, node.attrs
    if op in ("flatten", "reshape", "transpose"):
        return 0
    if op in ("maxpool", "avgpool"):
        return per * int(np.prod(a["kernel"]))
    if op == "globalavgpool":
        return int(np.prod(args[0].shape[1:]))
    if op in ("softmax", "logsoftmax"):
        return 3 * per
    if op == "matmul":
        return 2 * per * int(args[0].shape[-1])
    return per


@dataclass
class Network:
    """Weight layers with float32 parameters and the graph that wires them.

    ``params[name]`` is the weight array and ``params[name + "_bias"]`` the bias. ``nodes``
    (topological order) is the graph; None means the chain of ``specs`` (:meth:`graph`).
    """

    name: str
    input_shape: tuple[int, ...]
    specs: list[LayerSpec]
    params: dict[str, np.ndarray] = field(default_factory=dict)
    nodes: list[Node] | None = None

    def copy(self) -> "Network":
        return Network(self.name, self.input_shape, list(self.specs), {k: v.copy() for k, v in self.params.items()},
                       None if self.nodes is None else list(self.nodes))

    def weight(self, name: str) -> np.ndarray:
        return self.params[name]

    def bias(self, name: str) -> np.ndarray:
        return self.params[name + "_bias"]

    @property
    def n_weights(self) -> int:
        return sum(int(np.prod(s.shape)) for s in self.specs)

    @property
    def graph(self) -> list[Node]:
        """The nodes in topological order (a chain's are derived from its specs)."""
        return chain_nodes(self.specs) if self.nodes is None else self.nodes

    @property
    def is_chain(self) -> bool:
        """A plain chain of stride-1 unpadded layers with fused ReLU and pooling (the built-in LeNets' form)."""
        return self.nodes is None and all(s.plain for s in self.specs)

    def spec(self, name: str) -> LayerSpec:
        for s in self.specs:
            if s.name == name:
                return s
        raise KeyError(name)

    def check(self) -> None:
        """Raise ValueError unless the graph is well formed: unique names, inputs defined earlier,
        each weight layer exactly once, known operations."""
        seen, layers = {INPUT}, set()
        names = {s.name for s in self.specs}
        if len(names) != len(self.specs):
            raise ValueError("two weight layers share a name")
        for n in self.graph:
            if n.name in seen:
                raise ValueError(f"node name {n.name!r} is used twice")
            missing = [i for i in n.inputs if i not in seen]
            if missing or not n.inputs:
                raise ValueError(f"node {n.name}: input {missing[0] if missing else '(none)'!r} is not defined before it")
            if n.op in ("fc", "conv"):
                if n.name not in names or self.spec(n.name).kind.value != n.op or n.name in layers:
                    raise ValueError(f"node {n.name}: no {n.op} layer of that name, or used twice")
                layers.add(n.name)
            elif n.op not in HOST_OPS:
                raise ValueError(f"node {n.name}: unknown operation {n.op!r}")
            seen.add(n.name)
        if layers != names:
            raise ValueError(f"layers {', '.join(sorted(names - layers))} are not in the graph")

    # ---------------------------------------------------------------- forward
    def run_graph(self, x: np.ndarray, layer: Callable, arith, on_node: Callable | None = None) -> np.ndarray:
        """Run the graph on a batch: ``layer(spec, node, h) -> tensor`` computes each weight layer,
        ``arith`` the host operations' arithmetic (:class:`FloatArith` or the fixed-point one);
        ``on_node(node, args, out)`` sees every host operation."""
        specs = {s.name: s for s in self.specs}
        env = {INPUT: x}
        last = x
        consumers: dict[str, int] = {}
        for n in self.graph:
            for i in n.inputs:
                consumers[i] = consumers.get(i, 0) + 1
        for n in self.graph:
            args = [env[i] for i in n.inputs]
            if n.op in ("fc", "conv"):
                out = layer(specs[n.name], n, args[0])
            else:
                out = host_op(n, args, arith)
                if on_node is not None:
                    on_node(n, args, out)
            env[n.name] = last = out
            for i in n.inputs:                      # free what no later node reads
                consumers[i] -= 1
                if consumers[i] == 0 and i != INPUT:
                    env.pop(i, None)
        return last

    def forward(self, x: np.ndarray):
        """Logits for a batch ``x`` of shape (B, *input_shape) (float32, numpy: the float
        reference every other path is checked against; training runs in PyTorch,
        network/torch_train.py)."""
        h = np.ascontiguousarray(x, dtype=FLOAT).reshape((x.shape[0],) + tuple(self.input_shape))

        def layer(spec, node, h):
            W = expand_groups(self.params[spec.name].reshape(spec.n_out, -1), spec)
            X, lead = receptive_fields(spec, node, h)
            out = place_outputs(spec, X @ W.T + self.params[spec.name + "_bias"], lead)
            return np.maximum(out, 0) if spec.relu else out

        return self.run_graph(h, layer, FloatArith())

    def predict(self, x: np.ndarray, batch: int = 1000) -> np.ndarray:
        return np.concatenate([self.forward(x[i:i + batch]).reshape(len(x[i:i + batch]), -1).argmax(1)
                               for i in range(0, len(x), batch)]) if len(x) else np.zeros(0, dtype=np.int64)

    def error_pct(self, x: np.ndarray, y: np.ndarray) -> float:
        """Classification error in percent on (x, y)."""
        return float(100.0 * np.mean(self.predict(x) != y))


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
    new = np.empty(W.shape, dtype=FLOAT)           # one copy, whatever the layer's size
    new.reshape(W.shape[0], -1)[...] = aug[:, :-1]
    net.params[name] = new
    net.params[name + "_bias"] = np.ascontiguousarray(aug[:, -1], dtype=FLOAT)
