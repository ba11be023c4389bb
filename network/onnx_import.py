"""The ONNX importer: a :class:`~network.graph.Network` with its graph from an ONNX model
(``dcsim compress --onnx``), read with the ``onnx`` package (``onnx.numpy_helper``).

Weight layers: ``Conv`` (stride, padding, dilation, groups), ``Gemm``, and ``MatMul`` by a
constant (applied over the last axis, so transformer FC layers run per token), each with its
bias; a following ``Add`` of a constant is folded into the bias, a following
``BatchNormalization`` into the weights and bias, and a following ``Relu`` into the layer's
write-back (EIE's ReLU) when the layer feeds nothing else. Host operations between layers
(network/graph.py, :data:`~network.graph.HOST_OPS`): Relu, Clip, Sigmoid, Tanh, Gelu, MaxPool,
AveragePool, GlobalAveragePool, Flatten, Reshape, Transpose, Add (residual), Mul/Div by a
constant, MatMul of two activations, Softmax, LogSoftmax. Identity and Dropout vanish.
Anything else raises :class:`~arch.errors.ModelError` in one line naming the node, its op type
and what is supported.

Layer names: a weight initializer ``features.0.weight`` gives ``features_0``; otherwise the
node's module path (``/blocks.0/fc1/MatMul`` -> ``blocks_0_fc1``).

:func:`network_from_torch` exports an ``nn.Module`` with ``torch.onnx.export`` and imports the
result, so PyTorch models take the same road.
"""
from __future__ import annotations

import io
import os
import re
from dataclasses import replace
from pathlib import Path

import numpy as np

from arch.errors import ModelError

from .graph import FLOAT, INPUT, LayerKind, LayerSpec, Network, Node

__all__ = ["SUPPORTED_OPS", "network_from_onnx", "network_from_onnx_model", "network_from_torch"]

SUPPORTED_OPS = ("Conv", "Gemm", "MatMul", "Add", "BatchNormalization", "Relu", "Clip", "Sigmoid", "Tanh", "Gelu",
                 "MaxPool", "AveragePool", "GlobalAveragePool", "Flatten", "Reshape", "Transpose", "Mul", "Div",
                 "Softmax", "LogSoftmax", "Identity", "Dropout", "Constant")

_ONNX_HINT = "pip install onnx==1.23.2 (a dependency of dcsim: reinstall with pip install -e .)"


def _onnx():
    try:
        import onnx
        from onnx import numpy_helper  # noqa: F401  (checked at import)
    except ImportError as e:
        raise ModelError(f"reading ONNX models needs the onnx package, which is not installed: {_ONNX_HINT}") from e
    return onnx


def network_from_onnx(path: str | os.PathLike, input_shape: tuple[int, ...] | None = None) -> Network:
    """The network of the ONNX file ``path``. ``input_shape`` (one sample, no batch axis) is needed
    only when the model does not fix it. Any problem raises ModelError naming the file."""
    onnx = _onnx()
    p = Path(path)
    if not p.is_file():
        raise ModelError(f"--onnx {p}: no such file")
    try:
        data = p.read_bytes()
        model = onnx.load_from_string(data)
    except Exception as e:  # protobuf raises DecodeError (and others) for what is not an ONNX model
        raise ModelError(f"--onnx {p}: not a readable ONNX model ({type(e).__name__}); "
                         "give a .onnx file as torch.onnx.export writes it") from None
    if not model.graph.node:
        raise ModelError(f"--onnx {p}: not an ONNX model, or its graph is empty")
    try:
        return network_from_onnx_model(model, input_shape, name=p.stem)
    except ModelError as e:
        raise ModelError(f"--onnx {p}: {e}") from None


def _sanitize(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]+", "_", s).strip("_")


class _Importer:
    def __init__(self, model, input_shape, name):
        from onnx import numpy_helper

        self.nh = numpy_helper
        self.g = model.graph
        self.name = name
        self.opset = max([o.version for o in model.opset_import if o.domain in ("", "ai.onnx")] or [13])
        self.opset_imports = list(model.opset_import)
        self.consts: dict[str, np.ndarray] = {t.name: numpy_helper.to_array(t) for t in self.g.initializer}
        self.alias: dict[str, str] = {}
        self.nodes: list[Node] = []
        self.specs: dict[str, LayerSpec] = {}
        self.params: dict[str, np.ndarray] = {}
        self.names: set[str] = {INPUT}
        self.consumers: dict[str, int] = {}
        for n in self.g.node:
            for i in n.input:
                if i:
                    self.consumers[i] = self.consumers.get(i, 0) + 1
        for o in self.g.output:
            self.consumers[o.name] = self.consumers.get(o.name, 0) + 1
        self.input_shape = self._input(input_shape)

    # ------------------------------------------------------------ helpers
    def _input(self, given):
        inputs = [i for i in self.g.input if i.name not in self.consts]
        if len(inputs) != 1:
            raise ModelError(f"the model has {len(inputs)} inputs ({', '.join(i.name for i in inputs)}); "
                             "dcsim runs models with one input")
        inp = inputs[0]
        self.alias[inp.name] = INPUT
        dims = [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None
                for d in inp.type.tensor_type.shape.dim][1:]
        if given is not None:
            given = tuple(int(s) for s in given)
            if any(s < 1 for s in given) or (dims and (len(dims) != len(given)
                                                      or any(d is not None and d != s for d, s in zip(dims, given)))):
                raise ModelError(f"--input-shape {','.join(map(str, given))} does not match the model's input "
                                 f"{tuple('?' if d is None else d for d in dims)} (one sample, no batch axis)")
            return given
        if not dims or any(d is None for d in dims):
            raise ModelError(f"the input shape {tuple('?' if d is None else d for d in dims)} cannot be inferred "
                             "from the model; give --input-shape (one sample without the batch axis, e.g. 1,28,28)")
        return tuple(dims)

    def attrs(self, n) -> dict:
        from onnx import helper

        return {a.name: helper.get_attribute_value(a) for a in n.attribute}

    def const(self, tensor: str):
        return self.consts.get(tensor)

    def act(self, n, tensor: str) -> str:
        if tensor in self.alias:
            return self.alias[tensor]
        raise ModelError(f"node {n.name or n.op_type} ({n.op_type}): input {tensor!r} is not an activation "
                         "dcsim can compute (shape computations such as Shape/Gather are not supported; "
                         "export with static shapes)")

    def unique(self, base: str, fallback: str) -> str:
        base = _sanitize(base) or fallback
        name, k = base, 2
        while name in self.names:
            name, k = f"{base}_{k}", k + 1
        self.names.add(name)
        return name

    def path_name(self, n) -> str:
        parts = [p for p in (n.name or "").split("/") if p]
        return parts[-2] if len(parts) >= 2 else (parts[0] if parts else "")

    def producer(self, name: str) -> Node | None:
        for node in reversed(self.nodes):
            if node.name == name:
                return node
        return None

    def sole_layer(self, n, tensor: str) -> str | None:
        """The weight layer producing ``tensor`` when nothing else reads it (so it may absorb ``n``)."""
        src = self.alias.get(tensor)
        node = self.producer(src) if src else None
        if node is not None and node.op in ("fc", "conv") and self.consumers.get(tensor, 0) == 1 \
                and not self.specs[node.name].relu:
            return node.name
        return None

    def add_host(self, n, op: str, inputs: list[str], attrs: dict | None = None) -> None:
        name = self.unique(n.name, f"{op}{len(self.nodes)}")
        self.nodes.append(Node(name, op, tuple(inputs), attrs or {}))
        self.alias[n.output[0]] = name

    def add_layer(self, n, kind: LayerKind, W: np.ndarray, b: np.ndarray | None, geometry: dict,
                  node_attrs: dict) -> None:
        wname = n.input[1]
        base = wname[: -len(".weight")] if wname.endswith(".weight") else self.path_name(n)
        name = self.unique(base.replace(".", "_"), f"{kind.value}{len(self.specs) + 1}")
        W = np.asarray(W)
        if not np.issubdtype(W.dtype, np.floating) or W.size == 0 or not np.all(np.isfinite(W)):
            raise ModelError(f"node {n.name or n.op_type} ({n.op_type}): weights must be finite floating point; "
                             f"got dtype {W.dtype}, shape {W.shape}")
        b = np.zeros(W.shape[0], dtype=FLOAT) if b is None else np.asarray(b, dtype=np.float64).reshape(-1)
        if b.shape != (W.shape[0],) or not np.all(np.isfinite(b)):
            raise ModelError(f"node {n.name or n.op_type} ({n.op_type}): bias of shape {b.shape} does not match "
                             f"{W.shape[0]} outputs, or is not finite")
        spec = LayerSpec(name, kind, tuple(int(s) for s in W.shape), relu=False, **geometry)
        try:
            spec.check()
        except ValueError as e:
            raise ModelError(str(e)) from None
        self.specs[name] = spec
        self.params[name] = W.astype(FLOAT)
        self.params[name + "_bias"] = b.astype(FLOAT)
        self.nodes.append(Node(name, kind.value, (self.act(n, n.input[0]),), node_attrs))
        self.alias[n.output[0]] = name

    def unsupported(self, n, why: str = "") -> ModelError:
        return ModelError(f"node {n.name or '(unnamed)'} ({n.op_type}) is not supported{': ' + why if why else ''}; "
                          f"supported op types: {', '.join(SUPPORTED_OPS)}")

    # ------------------------------------------------------------ ops
    def run(self) -> Network:
        for n in self.g.node:
            if n.domain not in ("", "ai.onnx"):
                raise self.unsupported(n, f"domain {n.domain!r}")
            if n.op_type != "Constant" and n.input and all(i == "" or i in self.consts for i in n.input):
                self.fold(n)
                continue
            handler = getattr(self, "op_" + n.op_type, None)
            if handler is None:
                raise self.unsupported(n)
            handler(n, self.attrs(n))
        if len(self.g.output) != 1:
            raise ModelError(f"the model has {len(self.g.output)} outputs; dcsim runs models with one output")
        out = self.alias.get(self.g.output[0].name)
        if out is None or out == INPUT:
            raise ModelError("the model's output is not computed by any supported node")
        nodes = self._reachable(out)
        specs = [self.specs[nd.name] for nd in nodes if nd.op in ("fc", "conv")]
        if not specs:
            raise ModelError("the model has no weight layer (Conv, Gemm or MatMul by a constant)")
        net = Network(self.name, self.input_shape, specs,
                      {k: v for s in specs for k, v in ((s.name, self.params[s.name]),
                                                       (s.name + "_bias", self.params[s.name + "_bias"]))},
                      nodes)
        try:
            net.check()
        except ValueError as e:
            raise ModelError(str(e)) from None
        return net

    def fold(self, n) -> None:
        """Evaluate a node whose inputs are all constants (a weight computed from parameters, e.g.
        a parametrization's mask or codebook lookup) with onnx's reference evaluator."""
        from onnx import helper
        from onnx.reference import ReferenceEvaluator

        ins = [i for i in n.input if i]
        outs = [o for o in n.output if o]
        graph = helper.make_graph([n], "fold", [], [helper.make_empty_tensor_value_info(o) for o in outs],
                                  initializer=[self.nh.from_array(np.asarray(self.consts[i]), i) for i in ins])
        model = helper.make_model(graph, opset_imports=self.opset_imports)
        try:
            values = ReferenceEvaluator(model).run(None, {})
        except Exception as e:
            raise self.unsupported(n, f"evaluating it on constants failed ({type(e).__name__})") from None
        for o, v in zip(outs, values):
            self.consts[o] = np.asarray(v)

    def _reachable(self, out: str) -> list[Node]:
        need, keep = {out}, []
        for nd in reversed(self.nodes):
            if nd.name in need:
                keep.append(nd)
                need.update(nd.inputs)
        return keep[::-1]

    def op_Constant(self, n, a):
        if "value" not in a:
            raise self.unsupported(n, "only tensor constants")
        self.consts[n.output[0]] = self.nh.to_array(a["value"])

    def op_Identity(self, n, a):
        if n.input[0] in self.consts:
            self.consts[n.output[0]] = self.consts[n.input[0]]
        else:
            self.alias[n.output[0]] = self.act(n, n.input[0])

    op_Dropout = op_Identity

    def op_Conv(self, n, a):
        W = self.const(n.input[1])
        if W is None or W.ndim != 4:
            raise self.unsupported(n, "the weights must be a constant 4-D (2-D convolution) initializer")
        pads = self.pads(n, a, W.shape[2:], a.get("dilations", [1, 1]))
        geometry = dict(stride=tuple(a.get("strides", [1, 1])), padding=(pads[0], pads[1], pads[2], pads[3]),
                        dilation=tuple(a.get("dilations", [1, 1])), groups=int(a.get("group", 1)))
        b = self.const(n.input[2]) if len(n.input) > 2 and n.input[2] else None
        self.add_layer(n, LayerKind.CONV, W, b, geometry, {})

    def pads(self, n, a, kernel, dilation) -> list[int]:
        """Explicit (top, left, bottom, right) pads; ``auto_pad`` SAME_* is resolved for stride 1."""
        auto = a.get("auto_pad", b"NOTSET")
        auto = auto.decode() if isinstance(auto, bytes) else str(auto)
        if auto in ("NOTSET", "VALID"):
            p = [int(v) for v in a.get("pads", [0, 0, 0, 0])] if auto == "NOTSET" else [0, 0, 0, 0]
            return [p[0], p[1], p[2], p[3]]
        if auto in ("SAME_UPPER", "SAME_LOWER") and all(s == 1 for s in a.get("strides", [1, 1])):
            tot = [int(d) * (int(k) - 1) for k, d in zip(kernel, dilation)]
            small = [t // 2 for t in tot]
            big = [t - t // 2 for t in tot]
            begin, end = (small, big) if auto == "SAME_UPPER" else (big, small)
            return [begin[0], begin[1], end[0], end[1]]
        raise self.unsupported(n, f"auto_pad={auto} with strides {list(a.get('strides', []))}; export with "
                                  "explicit pads")

    def op_Gemm(self, n, a):
        B = self.const(n.input[1])
        if B is None or B.ndim != 2 or a.get("transA", 0):
            raise self.unsupported(n, "B must be a constant matrix and transA 0")
        W = (B if a.get("transB", 0) else B.T) * float(a.get("alpha", 1.0))
        C = self.const(n.input[2]) if len(n.input) > 2 and n.input[2] else None
        if len(n.input) > 2 and n.input[2] and C is None:
            raise self.unsupported(n, "C must be a constant bias")
        b = None if C is None else np.broadcast_to(np.asarray(C, np.float64).reshape(-1) * float(a.get("beta", 1.0)),
                                                    (W.shape[0],))
        self.add_layer(n, LayerKind.FC, W, b, {}, {})

    def op_MatMul(self, n, a):
        B = self.const(n.input[1])
        if self.const(n.input[0]) is not None:
            raise self.unsupported(n, "a constant left operand")
        if B is None:
            self.add_host(n, "matmul", [self.act(n, n.input[0]), self.act(n, n.input[1])])
            return
        if B.ndim != 2:
            raise self.unsupported(n, f"a constant right operand of shape {B.shape} (need a 2-D weight)")
        self.add_layer(n, LayerKind.FC, B.T, None, {}, {"per_position": True})

    def op_Add(self, n, a):
        c0, c1 = self.const(n.input[0]), self.const(n.input[1])
        if c0 is None and c1 is None:
            self.add_host(n, "add", [self.act(n, n.input[0]), self.act(n, n.input[1])])
            return
        c, x = (c1, n.input[0]) if c1 is not None else (c0, n.input[1])
        layer = self.sole_layer(n, x)
        if layer is None:
            raise self.unsupported(n, "adding a constant is supported only as the bias of the Conv/Gemm/MatMul "
                                      "before it")
        spec = self.specs[layer]
        c = np.asarray(c, np.float64)
        if c.size not in (1, spec.n_out) or (c.size == spec.n_out and spec.kind is LayerKind.CONV
                                             and c.shape not in ((spec.n_out,), (1, spec.n_out, 1, 1),
                                                                 (spec.n_out, 1, 1))):
            raise self.unsupported(n, f"a constant of shape {c.shape} is not a bias of layer {layer}")
        self.params[layer + "_bias"] = (self.params[layer + "_bias"] + c.reshape(-1)).astype(FLOAT)
        self.alias[n.output[0]] = layer

    def op_BatchNormalization(self, n, a):
        layer = self.sole_layer(n, n.input[0])
        vals = [self.const(t) for t in n.input[1:5]]
        if layer is None or any(v is None for v in vals) or a.get("training_mode", 0):
            raise self.unsupported(n, "BatchNormalization is folded into the Conv/Gemm/MatMul right before it, "
                                      "in inference mode with constant statistics")
        gamma, beta, mean, var = (np.asarray(v, np.float64).reshape(-1) for v in vals)
        s = gamma / np.sqrt(var + float(a.get("epsilon", 1e-5)))
        W = self.params[layer].astype(np.float64)
        if len(s) != W.shape[0]:
            raise self.unsupported(n, f"{len(s)} channels after layer {layer} with {W.shape[0]} outputs")
        self.params[layer] = (W * s.reshape((-1,) + (1,) * (W.ndim - 1))).astype(FLOAT)
        self.params[layer + "_bias"] = ((self.params[layer + "_bias"] - mean) * s + beta).astype(FLOAT)
        self.alias[n.output[0]] = layer

    def op_Relu(self, n, a):
        layer = self.sole_layer(n, n.input[0])
        if layer is not None:
            self.specs[layer] = replace(self.specs[layer], relu=True)
            self.alias[n.output[0]] = layer
        else:
            self.add_host(n, "relu", [self.act(n, n.input[0])])

    def op_Clip(self, n, a):
        lo, hi = a.get("min"), a.get("max")
        for i, key in ((1, "lo"), (2, "hi")):
            if len(n.input) > i and n.input[i]:
                v = self.const(n.input[i])
                if v is None:
                    raise self.unsupported(n, "min and max must be constants")
                if key == "lo":
                    lo = float(v)
                else:
                    hi = float(v)
        self.add_host(n, "clip", [self.act(n, n.input[0])],
                      {"min": None if lo is None else float(lo), "max": None if hi is None else float(hi)})

    def _simple(op):
        def handler(self, n, a):
            self.add_host(n, op, [self.act(n, n.input[0])])
        return handler

    op_Sigmoid = _simple("sigmoid")
    op_Tanh = _simple("tanh")
    op_GlobalAveragePool = _simple("globalavgpool")

    def op_Gelu(self, n, a):
        appr = a.get("approximate", "none")
        appr = appr.decode() if isinstance(appr, bytes) else str(appr)
        self.add_host(n, "gelu", [self.act(n, n.input[0])], {"approximate": appr})

    def _softmax(self, n, a, op):
        self.add_host(n, op, [self.act(n, n.input[0])], {"axis": int(a.get("axis", -1 if self.opset >= 13 else 1))})

    def op_Softmax(self, n, a):
        self._softmax(n, a, "softmax")

    def op_LogSoftmax(self, n, a):
        self._softmax(n, a, "logsoftmax")

    def _pool(self, n, a, op):
        if a.get("ceil_mode", 0) or any(d != 1 for d in a.get("dilations", [1, 1])) or len(n.output) > 1 \
                or len(a.get("kernel_shape", [])) != 2:
            raise self.unsupported(n, "2-D pooling without ceil_mode, dilation or an indices output")
        k = list(a["kernel_shape"])
        attrs = {"kernel": k, "stride": list(a.get("strides", [1, 1])), "pads": self.pads(n, a, k, [1, 1])}
        if op == "avgpool":
            attrs["count_include_pad"] = bool(a.get("count_include_pad", 0))
        self.add_host(n, op, [self.act(n, n.input[0])], attrs)

    def op_MaxPool(self, n, a):
        self._pool(n, a, "maxpool")

    def op_AveragePool(self, n, a):
        self._pool(n, a, "avgpool")

    def op_Flatten(self, n, a):
        if int(a.get("axis", 1)) != 1:
            raise self.unsupported(n, f"axis={a.get('axis')} (only axis 1, which keeps the batch axis)")
        self.add_host(n, "flatten", [self.act(n, n.input[0])])

    def op_Reshape(self, n, a):
        shape = self.const(n.input[1])
        if shape is None:
            raise self.unsupported(n, "the shape must be a constant (export with static shapes)")
        shape = [int(s) for s in np.asarray(shape).reshape(-1)]
        if not shape or shape[0] not in (-1, 0, 1) or 0 in shape[1:] or (shape[0] == -1 and -1 in shape[1:]):
            raise self.unsupported(n, f"shape {shape}: the first axis must stay the batch axis (0, 1 or -1) and "
                                      "the others must not copy (0)")
        self.add_host(n, "reshape", [self.act(n, n.input[0])], {"shape": shape[1:]})

    def op_Transpose(self, n, a):
        perm = [int(p) for p in a.get("perm", [])]
        if not perm or perm[0] != 0:
            raise self.unsupported(n, f"perm {perm}: the batch axis must stay first")
        self.add_host(n, "transpose", [self.act(n, n.input[0])], {"perm": perm[1:]})

    def _scale(self, n, inverse: bool):
        c = self.const(n.input[1])
        if c is None or np.asarray(c).size != 1:
            raise self.unsupported(n, "only scaling by a constant scalar")
        v = float(np.asarray(c).reshape(-1)[0])
        if inverse and v == 0:
            raise self.unsupported(n, "division by zero")
        self.add_host(n, "mul", [self.act(n, n.input[0])], {"scale": 1.0 / v if inverse else v})

    def op_Mul(self, n, a):
        self._scale(n, False)

    def op_Div(self, n, a):
        self._scale(n, True)


def network_from_onnx_model(model, input_shape: tuple[int, ...] | None = None, name: str = "onnx") -> Network:
    """The network of an in-memory ``onnx.ModelProto`` (see :func:`network_from_onnx`)."""
    _onnx()
    return _Importer(model, input_shape, name).run()


def network_from_torch(module, input_shape: tuple[int, ...], name: str | None = None) -> Network:
    """An ``nn.Module`` through ``torch.onnx.export`` (static shapes, constant folding, eval mode)
    and :func:`network_from_onnx_model`. ``input_shape`` is one sample without the batch axis."""
    import warnings

    from .torch_import import import_torch

    torch = import_torch()
    onnx = _onnx()
    buf = io.BytesIO()
    was = module.training
    module.eval()
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(module, (torch.zeros((1,) + tuple(int(s) for s in input_shape)),), buf, dynamo=False,
                              input_names=["input"], output_names=["output"], do_constant_folding=True)
    except Exception as e:
        raise ModelError(f"torch.onnx.export failed for {type(module).__name__}: {str(e).splitlines()[0]}") from None
    finally:
        module.train(was)
    return network_from_onnx_model(onnx.load_from_string(buf.getvalue()), tuple(input_shape),
                                   name or type(module).__name__)
