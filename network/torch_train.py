"""The trainer: any :class:`~network.graph.Network` (the built-in LeNets, ``.npz`` weights and
graph networks imported from ONNX) as a ``torch.nn.Module``, and the training loop of
:func:`network.train.train` on it, with the gradients from autograd:

- :func:`to_torch`: a module that computes exactly :meth:`Network.forward` (float32) with
  torch operations: ``F.conv2d`` (asymmetric padding through ``F.pad``, stride, dilation,
  groups), ``F.linear`` (over the flattened sample, or over the last axis for ``per_position``
  fc nodes), the fused ReLU, and every host operation of :data:`~network.graph.HOST_OPS`
  (pooling with asymmetric pads through ``F.pad``, ``-inf`` for max pooling; a chain's fused
  max-pool is a ``maxpool`` node of :attr:`Network.graph`). Its parameters are named after
  the network's (:meth:`TorchNetwork.param`).
- :func:`train_torch`: the loop behind :func:`network.train.train` (SGD with momentum
  ``v = m v - lr g; p += v``, cosine learning-rate decay, weight decay on weights only, masked
  retraining, centroid fine-tuning, ``augment_shift``, a numpy random stream for the batch
  order and the shifts), with the gradients from autograd. The
  loss is the cross-entropy of the logits; a graph that ends in ``softmax`` or ``logsoftmax``
  over its last axis is trained on the tensor before that node (cross-entropy of those logits
  is the NLL of the log-softmax output), since the cross-entropy of probabilities would be wrong.

torch is imported lazily (:func:`network.torch_import.import_torch`): importing this module,
or :mod:`network.train`, never imports it.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from arch.errors import ModelError

from .graph import FLOAT, INPUT, LayerKind, LayerSpec, Network, Node, set_augmented
from .torch_import import import_torch
from .train import QuantState, Schedule, start_state

__all__ = ["to_torch", "train_torch"]

_CLASS: Any = None


def _module_class():
    """The ``TorchNetwork`` class, defined on first use (it subclasses ``torch.nn.Module``)."""
    global _CLASS
    if _CLASS is not None:
        return _CLASS
    torch = import_torch()
    nn, F = torch.nn, torch.nn.functional

    class TorchNetwork(nn.Module):
        """A :class:`~network.graph.Network` as a module: ``forward(x)`` is ``Network.forward(x)``.

        ``params`` is a ParameterDict holding ``net.params`` of every weight layer (``name`` and
        ``name + "_bias"``); :meth:`param` looks one up by its ``net.params`` key (a key that
        ParameterDict cannot hold, such as ``keys`` or one with a dot, is stored escaped).
        """

        def __init__(self, net: Network):
            super().__init__()
            self.net_name = net.name
            self.input_shape = tuple(int(s) for s in net.input_shape)
            self.specs = {s.name: s for s in net.specs}
            self.nodes = list(net.graph)
            self.params = nn.ParameterDict()
            self.keys: dict[str, str] = {}
            taken = set()
            for s in net.specs:
                for k in (s.name, s.name + "_bias"):
                    arr = np.ascontiguousarray(net.params[k], dtype=FLOAT)
                    key = _param_key(k, taken)
                    taken.add(key)
                    self.keys[k] = key
                    self.params[key] = nn.Parameter(torch.from_numpy(arr.copy()))
            consumers: dict[str, int] = {}
            for n in self.nodes:
                for i in n.inputs:
                    consumers[i] = consumers.get(i, 0) + 1
            self._consumers = consumers

        def param(self, key: str):
            """The parameter of ``net.params[key]``."""
            return self.params[self.keys[key]]

        def named_net_params(self):
            """(``net.params`` key, parameter) of every weight and bias."""
            return [(k, self.params[v]) for k, v in self.keys.items()]

        def forward(self, x, logits: bool = False):
            """The network's output for a batch ``x`` (B, *input_shape). With ``logits``, a final
            ``softmax`` / ``logsoftmax`` node over the last axis is skipped (the training logits)."""
            h = x.to(torch.float32).reshape((x.shape[0],) + self.input_shape)
            nodes = self.nodes
            final = None
            if logits and nodes and nodes[-1].op in ("softmax", "logsoftmax"):
                nodes, final = nodes[:-1], nodes[-1]
            env = {INPUT: h}
            last = h
            left = dict(self._consumers)
            for n in nodes:
                args = [env[i] for i in n.inputs]
                if n.op in ("fc", "conv"):
                    out = self._layer(self.specs[n.name], n, args[0])
                else:
                    out = _host_op(torch, F, n, args)
                env[n.name] = last = out
                for i in n.inputs:              # free what no later node reads
                    left[i] -= 1
                    if left[i] == 0 and i != INPUT:
                        env.pop(i, None)
            if final is not None:
                pre = env[final.inputs[0]]
                axis = int(final.attrs.get("axis", -1))
                if (axis + pre.ndim if axis < 0 else axis) == pre.ndim - 1:   # over the class axis
                    return pre
                return _host_op(torch, F, final, [pre])
            return last

        #: The trainer's :class:`network.train.TrainHooks` while it trains, else None.
        hooks = None

        def _layer(self, spec: LayerSpec, node: Node, h):
            W, b = self.param(spec.name), self.param(spec.name + "_bias")
            # hooks with an ``fc_output(name, X, W, b)`` method compute fc layers' outputs themselves
            # (sparse variational dropout's local reparameterisation); weight() is then not called
            fc_output = getattr(self.hooks, "fc_output", None) if spec.kind is LayerKind.FC else None
            if self.hooks is not None and fc_output is None:
                W, b = self.hooks.weight(spec.name, W), self.hooks.weight(spec.name + "_bias", b)
            if spec.kind is LayerKind.FC:
                X = h if node.attrs.get("per_position") else h.reshape(h.shape[0], -1)
                if X.shape[-1] != spec.fan_in:
                    raise ModelError(f"layer {spec.name} takes {spec.fan_in} inputs per product; it is given "
                                     f"{X.shape[-1]} (input tensor {tuple(h.shape[1:])} per sample)")
                out = F.linear(X, W, b) if fc_output is None else fc_output(spec.name, X, W, b)
            else:
                if h.ndim != 4:
                    raise ModelError(f"layer {spec.name}: a conv layer needs (batch, channels, height, width) "
                                     f"inputs; got shape {tuple(h.shape)}")
                pt, pl, pb, pr = spec.padding
                if pt or pl or pb or pr:
                    h = F.pad(h, (pl, pr, pt, pb))
                out = F.conv2d(h, W, b, stride=tuple(spec.stride), dilation=tuple(spec.dilation),
                               groups=spec.groups)
            return torch.relu(out) if spec.relu else out

    _CLASS = TorchNetwork
    return _CLASS


_RESERVED: set[str] | None = None


def _reserved_keys() -> set[str]:
    """Names a ParameterDict cannot hold as keys (its own attributes)."""
    global _RESERVED
    if _RESERVED is None:
        _RESERVED = set(dir(import_torch().nn.ParameterDict()))
    return _RESERVED


def _param_key(k: str, taken: set[str]) -> str:
    """``k`` if a ParameterDict can hold it, else an escaped unique key."""
    reserved = _reserved_keys()
    key = k if k and "." not in k and k not in reserved else "p_" + k.replace(".", "_")
    while key in taken or key in reserved:
        key += "_"
    return key


def _host_op(torch, F, node: Node, args: list):
    """One host operation (network/graph.py's :func:`~network.graph.host_op`) with torch."""
    op, a, x = node.op, node.attrs, args[0]
    if op == "relu":
        return torch.relu(x)
    if op == "clip":
        return torch.clamp(x, a.get("min"), a.get("max"))
    if op == "sigmoid":
        return torch.sigmoid(x)
    if op == "tanh":
        return torch.tanh(x)
    if op == "gelu":
        return F.gelu(x, approximate="tanh" if a.get("approximate", "none") == "tanh" else "none")
    if op in ("softmax", "logsoftmax"):
        axis = int(a.get("axis", -1))
        return torch.softmax(x, axis) if op == "softmax" else torch.log_softmax(x, axis)
    if op in ("maxpool", "avgpool"):
        k, s = tuple(int(v) for v in a["kernel"]), tuple(int(v) for v in a["stride"])
        pt, pl, pb, pr = (int(v) for v in a["pads"])
        padded = bool(pt or pl or pb or pr)
        if op == "maxpool":
            if padded:
                x = F.pad(x, (pl, pr, pt, pb), value=float("-inf"))
            return F.max_pool2d(x, k, s)
        if padded:
            x = F.pad(x, (pl, pr, pt, pb))
        out = F.avg_pool2d(x, k, s)
        if padded and not a.get("count_include_pad", False):
            # divide the window sums by the count of real (unpadded) inputs, as network/ops.py's avgpool
            ones = F.pad(torch.ones((1, 1) + tuple(args[0].shape[2:]), dtype=x.dtype), (pl, pr, pt, pb))
            counts = F.avg_pool2d(ones, k, s)        # real inputs / window size
            out = out / counts
        return out
    if op == "globalavgpool":
        return x.mean(dim=(2, 3), keepdim=True)
    if op == "flatten":
        return x.reshape(x.shape[0], -1)
    if op == "reshape":
        return x.reshape((x.shape[0],) + tuple(int(v) for v in a["shape"]))
    if op == "transpose":
        return x.permute([0] + [int(p) for p in a["perm"]])
    if op == "add":
        return x + args[1]
    if op == "mul":
        return x * float(a["scale"])
    if op == "matmul":
        return torch.matmul(x, args[1])
    raise ModelError(f"node {node.name}: unknown operation {op!r}")


def to_torch(net: Network):
    """A ``torch.nn.Module`` computing ``net.forward`` (float32), its parameters initialised from
    (copies of) ``net.params``; ``module.param(key)`` is the parameter of ``net.params[key]``."""
    return _module_class()(net)


def train_torch(net: Network, x: np.ndarray, y: np.ndarray, *, epochs: int, lr: float, momentum: float,
                weight_decay: float, batch_size: int, seed: int,
                masks: dict[str, np.ndarray] | None = None,
                quant: dict[str, QuantState] | None = None,
                augment_shift: int = 0, progress: bool = True, desc: str = "train",
                threads: int | None = 1, hooks=None) -> list[dict]:
    """:func:`network.train.train` through PyTorch, for any network (chain or graph).

    Same arguments, semantics and return value (one ``{"epoch", "loss"}`` dict per epoch with
    the mean training loss): SGD with momentum (``v = momentum * v - lr_t * g; p += v``) and the
    cosine decay ``lr_t = lr / 2 * (1 + cos(pi * step / total))``; ``weight_decay`` on weights,
    not biases; ``masks``: pruned connections get zero gradient and stay exactly 0;
    ``quant``: those layers train only their centroids, the gradient of centroid k being the sum
    of the gradients of the ``[W | b]`` entries with index k, centroid 0 fixed at 0 (the
    QuantStates' centroids are updated in place, the indices never change); ``augment_shift``
    as in :func:`network.train.random_shift`. The loss is the cross-entropy of the logits (a
    final softmax / logsoftmax over the last axis is skipped: see the module docstring).

    The trained parameters are written back into ``net.params`` (float32, same shapes; quantized
    layers as ``centroids[idx]``). Deterministic for ``seed``: the batch order and shifts come
    from ``np.random.default_rng(seed)`` (:class:`network.train.Schedule`), and ``torch.manual_seed(seed)``.

    ``threads``: torch's intra-op threads while training (restored afterwards; None keeps the
    current setting). One thread by default: the networks are small, a single thread makes the
    result independent of the machine's thread count, and torch's spinning worker threads slow
    down by orders of magnitude on a busy machine (measured: 0.2 s vs 15 s for one epoch of a
    small CNN on 2,000 MNIST images with 2 threads on 2 loaded cores).
    """
    torch = import_torch()
    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(int(threads))
    try:
        return _train(torch, net, x, y, epochs=epochs, lr=lr, momentum=momentum, weight_decay=weight_decay,
                      batch_size=batch_size, seed=seed, masks=masks, quant=quant, augment_shift=augment_shift,
                      progress=progress, desc=desc, hooks=hooks)
    finally:
        if threads is not None:
            torch.set_num_threads(before)


def _train(torch, net: Network, x, y, *, epochs, lr, momentum, weight_decay, batch_size, seed, masks, quant,
           augment_shift, progress, desc, hooks) -> list[dict]:
    F = torch.nn.functional

    def xent(out, yt):
        return F.cross_entropy(out.reshape(out.shape[0], -1), yt)

    masks, quant = start_state(net, masks, quant)
    torch.manual_seed(seed)
    module = to_torch(net)
    module.train()
    module.hooks = hooks
    params = dict(module.named_net_params())
    extra = dict(hooks.extra_params(torch)) if hooks is not None else {}
    extra_vel = {k: torch.zeros_like(p) for k, p in extra.items()}
    bias_keys = {s.name + "_bias" for s in net.specs}
    quant_keys = {k for name in quant for k in (name, name + "_bias")}
    unknown = [k for k in list(masks) + list(quant_keys) if k not in params]
    if unknown:
        raise ModelError(f"{net.name}: masks / quant name {unknown[0]!r}, which is no weight layer's parameter")
    plain = {k: p for k, p in params.items() if k not in quant_keys}
    mask_t = {k: torch.from_numpy(np.broadcast_to(np.asarray(m, dtype=bool), tuple(params[k].shape)).copy())
              for k, m in masks.items() if k in plain}
    vel = {k: torch.zeros_like(p) for k, p in plain.items()}
    qstate = {}
    for name, q in quant.items():
        W = params[name]
        idx = torch.from_numpy(np.asarray(q.idx, dtype=np.int64).reshape(W.shape[0], -1).copy())
        if idx.shape[1] != W[0].numel() + 1:
            raise ModelError(f"layer {name}: quantization indices of shape {tuple(q.idx.shape)} do not match "
                             f"[W | b] ({W.shape[0]}, {W[0].numel() + 1})")
        c = torch.from_numpy(np.asarray(q.centroids, dtype=FLOAT).copy())
        qstate[name] = (idx, c, torch.zeros_like(c))
    order = list(params)
    mom = float(FLOAT(momentum))
    wd = float(FLOAT(weight_decay))
    sched = Schedule(x, y, epochs=epochs, batch_size=batch_size, lr=lr, rng=np.random.default_rng(seed),
                     augment_shift=augment_shift, progress=progress, desc=desc)
    for xb, yb, lr_t in sched:
        cur_lr = float(lr_t)
        xt = torch.from_numpy(np.ascontiguousarray(xb, dtype=FLOAT))
        yt = torch.from_numpy(np.asarray(yb, dtype=np.int64))
        out = module(xt, logits=True)
        if hooks is None:
            loss = xent(out, yt)
        else:
            loss = hooks.loss(out, yt, xt, xent)
            pen = hooks.penalty(params)
            if pen is not None:
                loss = loss + pen
        wrt = [params[k] for k in order] + list(extra.values())
        g_all = torch.autograd.grad(loss, wrt, allow_unused=True)
        grads = dict(zip(order, g_all[:len(order)]))
        sched.record(float(loss.item()))
        with torch.no_grad():
            for k, p in plain.items():
                g = grads[k]
                if g is None:
                    g = torch.zeros_like(p)
                if wd and k not in bias_keys:
                    g = g + wd * p
                if k in mask_t:
                    g = g * mask_t[k]
                v = vel[k]
                v.mul_(mom).sub_(cur_lr * g)
                p.add_(v)
                if k in mask_t:
                    p.masked_fill_(~mask_t[k], 0.0)
            for name, (idx, c, cv) in qstate.items():
                W, b = params[name], params[name + "_bias"]
                gw, gb = grads[name], grads[name + "_bias"]
                gw = torch.zeros_like(W) if gw is None else gw
                gb = torch.zeros_like(b) if gb is None else gb
                gaug = torch.cat([gw.reshape(W.shape[0], -1), gb[:, None]], dim=1)
                gc = torch.zeros(len(c), dtype=torch.float64).index_add_(
                    0, idx.reshape(-1), gaug.reshape(-1).to(torch.float64)).to(torch.float32)
                gc[0] = 0.0
                cv.mul_(mom).sub_(cur_lr * gc)
                c.add_(cv)
                c[0] = 0.0
                aug = c[idx]
                W.copy_(aug[:, :-1].reshape(W.shape))
                b.copy_(aug[:, -1])
            for (k, p), g in zip(extra.items(), g_all[len(order):]):
                if g is not None:
                    extra_vel[k].mul_(mom).sub_(cur_lr * g)
                    p.add_(extra_vel[k])
            if hooks is not None:
                hooks.after_step(params)
                for k, m in mask_t.items():      # masks hold whatever the hook did
                    params[k].masked_fill_(~m, 0.0)
    module.hooks = None
    # write back: plain parameters as float32 copies, quantized layers as centroids[idx] (apply_quant)
    for k, p in plain.items():
        new = p.detach().numpy().astype(FLOAT, copy=True).reshape(np.shape(net.params[k]))
        old = net.params[k]
        if isinstance(old, np.ndarray) and old.dtype == FLOAT and old.flags.writeable:
            np.copyto(old, new)          # in place: callers may hold the arrays
        else:
            net.params[k] = new
    for name, q in quant.items():
        q.centroids[...] = qstate[name][1].numpy()
        set_augmented(net, name, q.centroids[q.idx])
    return sched.history
