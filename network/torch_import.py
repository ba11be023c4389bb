"""The PyTorch importer: a :class:`~network.graph.Network` from a ``torch.nn.Module`` or a state_dict.

torch is imported lazily: importing this module never imports torch; the first function
that needs it does (:func:`import_torch`), and a missing torch raises
:class:`TorchMissingError` (an ``ImportError`` and a :class:`~arch.errors.DcsimError`) whose
message says how to install it. A state_dict of numpy arrays needs no torch at all.

What it holds:

- the lazy import: :data:`INSTALL_HINT`, :class:`TorchMissingError`, :func:`import_torch`;
- the module walk: :func:`weight_layers` lists a module's ``nn.Linear`` / ``nn.Conv2d`` layers
  as :class:`WeightLayer` records with their dcsim names (:func:`layer_name`) and refuses
  other parameter-holding modules; :func:`conv_geometry` reads a conv's stride, padding,
  dilation and groups;
- reading weights: :func:`tensor_to_numpy`, :func:`augmented_weights` (``[W | b]`` of a layer);
- the conversion :func:`network_from_module`: the weights alone, or the graph through ONNX,
  checked against the module's own forward pass; the state_dict path.

Layer names: the module path of each ``Linear`` / ``Conv2d`` (as in
``module.named_modules()``) with ``.`` replaced by ``_`` (``features.0`` -> ``features_0``; an
``nn.Sequential`` gives ``0``, ``2``, ...). For a state_dict the name is the key prefix before
``.weight`` with the same replacement. Two paths that collide after the replacement raise
:class:`~arch.errors.ModelError`.

Supported: ``nn.Linear`` and ``nn.Conv2d`` (any stride, zero padding, dilation, groups), with
or without bias. With ``input_shape`` the module's graph is taken through ``torch.onnx.export``
and the ONNX importer (network/onnx_import.py): pooling, activations, residual adds and the
rest of its operators, exactly as ``dcsim compress --onnx`` reads a file; the result is checked
against the module's own forward pass. Without it, the layers form a chain in registration
order (enough for compression and the storage report). A module that holds other parameters
(BatchNorm, LayerNorm, Embedding, RNNs, ...) raises :class:`~arch.errors.ModelError` naming the
layer. Weights are read as the module computes with them: a parametrized weight gives its
effective value.

Knows nothing about compression (it must not import :mod:`compress`).
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, NamedTuple

import numpy as np

from arch.errors import DcsimError, ModelError

from .graph import FLOAT, LayerKind, LayerSpec, Network, weights_only_input_shape

__all__ = ["INSTALL_HINT", "TorchMissingError", "WeightLayer", "augmented_weights", "import_torch", "layer_name",
           "network_from_module", "tensor_to_numpy", "weight_layers"]

INSTALL_HINT = "pip install 'dcsim[torch]'  (or: pip install torch==2.13.0; never a bare `torch`, which pulls a CUDA build)"


class TorchMissingError(DcsimError, ImportError):
    """torch is needed for this function but is not installed."""


def import_torch():
    """The ``torch`` module (with ``torch.nn.utils.parametrize`` loaded); :class:`TorchMissingError` without it."""
    try:
        import torch
        import torch.nn.utils.parametrize  # noqa: F401
    except ImportError as e:
        raise TorchMissingError(f"dcsim's PyTorch support needs PyTorch, which is not installed: {INSTALL_HINT}") from e
    return torch


# ------------------------------------------------------------ module walking
class WeightLayer(NamedTuple):
    """One ``nn.Linear`` / ``nn.Conv2d`` of a module: its dcsim name, module path, the layer itself and its kind."""
    name: str
    path: str
    module: Any
    kind: LayerKind


def layer_name(path: str) -> str:
    """The dcsim name of the layer at module path ``path`` (``features.0`` -> ``features_0``)."""
    return path.replace(".", "_")


def _walk(module) -> Iterator[tuple[str, Any]]:
    """Pre-order (path, module) like ``named_modules`` but skipping the internals of
    parametrized tensors (``layer.parametrizations``)."""
    P = import_torch().nn.utils.parametrize
    seen = set()

    def rec(m, path):
        if id(m) in seen:
            return
        seen.add(id(m))
        yield path, m
        for child_name, child in m._modules.items():
            if child is None:
                continue
            if child_name == "parametrizations" and P.is_parametrized(m):
                continue
            yield from rec(child, f"{path}.{child_name}" if path else child_name)

    yield from rec(module, "")


def _own_tensors(m) -> list[str]:
    """Names of the parameters / buffers a module holds itself (originals of parametrized tensors count)."""
    P = import_torch().nn.utils.parametrize
    names = [k for k, v in m._parameters.items() if v is not None]
    names += [k for k, v in m._buffers.items() if v is not None]
    if P.is_parametrized(m):
        names += list(m.parametrizations.keys())
    return names


def _layer_kind(m, path: str) -> LayerKind:
    """FC for an ``nn.Linear``, CONV for an ``nn.Conv2d`` that Network can run; else ModelError."""
    nn = import_torch().nn
    if isinstance(m, nn.Linear):
        if isinstance(m.weight, nn.parameter.UninitializedParameter):
            raise ModelError(f"layer {path!r}: LazyLinear is not initialised; run one forward pass first")
        return LayerKind.FC
    c = m
    if isinstance(c.weight, nn.parameter.UninitializedParameter):
        raise ModelError(f"layer {path!r}: LazyConv2d is not initialised; run one forward pass first")
    if c.padding_mode != "zeros":
        raise ModelError(f"layer {path!r} (Conv2d): padding_mode={c.padding_mode!r} is not supported; dcsim pads "
                         "with zeros")
    return LayerKind.CONV


def conv_geometry(m) -> dict:
    """The :class:`~network.graph.LayerSpec` geometry of an ``nn.Conv2d`` (stride, zero padding as
    (top, left, bottom, right), dilation, groups); ``padding='same'`` is resolved as PyTorch does
    (the extra pixel of an odd total goes to the bottom/right)."""
    kh, kw = m.kernel_size
    dh, dw = m.dilation
    if m.padding == "same":
        th, tw = dh * (kh - 1), dw * (kw - 1)
        pad = (th // 2, tw // 2, th - th // 2, tw - tw // 2)
    elif m.padding == "valid":
        pad = (0, 0, 0, 0)
    else:
        ph, pw = m.padding
        pad = (ph, pw, ph, pw)
    return dict(stride=tuple(int(s) for s in m.stride), padding=tuple(int(p) for p in pad),
                dilation=(int(dh), int(dw)), groups=int(m.groups))


def weight_layers(module) -> list[WeightLayer]:
    """Every ``nn.Linear`` / ``nn.Conv2d`` of ``module`` in registration order.
    Anything else that holds parameters or buffers, an unsupported conv or two layers
    with the same dcsim name raise :class:`~arch.errors.ModelError` naming the layer."""
    nn = import_torch().nn
    bad_types = (nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm, nn.LocalResponseNorm,
                 nn.Embedding, nn.EmbeddingBag, nn.RNNBase, nn.MultiheadAttention, nn.Bilinear,
                 nn.modules.conv._ConvNd)
    out, names = [], {}
    for path, m in _walk(module):
        label = path or "<root>"
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            if not path:
                label = type(m).__name__.lower()  # the module itself is one layer
            kind = _layer_kind(m, label)
            name = layer_name(label)
            if name in names:
                raise ModelError(f"layers {names[name]!r} and {label!r} both map to the dcsim name {name!r}; "
                                 "rename one")
            names[name] = label
            out.append(WeightLayer(name, label, m, kind))
            continue
        if isinstance(m, bad_types):
            raise ModelError(f"layer {label!r} ({type(m).__name__}) is not supported: dcsim compresses "
                             "nn.Linear and nn.Conv2d only; fold it into the layer before it (or import the model "
                             "through ONNX, which folds BatchNorm) or remove it first")
        own = _own_tensors(m)
        if own:
            raise ModelError(f"layer {label!r} ({type(m).__name__}) holds parameters/buffers {own}; dcsim "
                             "compresses nn.Linear and nn.Conv2d only")
    if not out:
        raise ModelError("the module has no nn.Linear or nn.Conv2d layer")
    return out


# ------------------------------------------------------------ reading weights
def tensor_to_numpy(t) -> np.ndarray:
    """A detached float32 numpy copy of tensor ``t`` (on the CPU)."""
    return t.detach().to("cpu").float().numpy().astype(FLOAT, copy=True)


def augmented_weights(layer) -> np.ndarray:
    """The layer's effective weights as one (out, fan_in + 1) float32 matrix ``[W | b]``
    (a missing bias is a zero column), as :func:`network.graph.augmented` of a Network."""
    W = tensor_to_numpy(layer.weight)
    b = tensor_to_numpy(layer.bias) if layer.bias is not None else np.zeros(W.shape[0], dtype=FLOAT)
    return np.concatenate([W.reshape(W.shape[0], -1), b[:, None]], axis=1)


# ------------------------------------------------------------ conversion
def network_from_module(module_or_state_dict, input_shape: tuple[int, ...] | None = None, *,
                        name: str | None = None) -> Network:
    """A :class:`network.graph.Network` (float32 numpy) from an ``nn.Module`` or a state_dict.

    - **nn.Module**: every ``nn.Linear`` / ``nn.Conv2d`` becomes a layer (name =
      module path with ``.`` -> ``_``); weights are the *effective* values, so a
      pruned / quantized module gives its masked / weight-shared weights; a
      missing bias becomes zeros.

      * Without ``input_shape``: layers in registration order, ``relu=True`` for
        all but the last, ``pool=0``. The storage report needs only the kinds and
        shapes of the weights, so this is enough for compression and storage
        accounting; the network's forward pass may differ from the module's.
      * With ``input_shape`` (one sample, no batch dimension, e.g. ``(1, 28, 28)``):
        a copy of the module with its parametrizations baked in goes through
        ``torch.onnx.export`` and the ONNX importer, so the network carries the
        module's graph (functional ops included). The result is then checked:
        ``Network.forward`` must reproduce the module's output on a random input,
        else :class:`~arch.errors.ModelError`.

    - **state_dict** (a mapping of ``X.weight`` / ``X.bias`` tensors or arrays, in
      layer order; torch not needed for numpy values): 2-D weights are fc, 4-D
      conv (stride 1, no padding assumed), ``relu`` on all but the last, no pool.
      Other entries (``running_mean``, 1-D weights, ...) raise
      :class:`~arch.errors.ModelError` naming the layer.

    ``input_shape`` defaults to ``(in_features,)`` for an fc first layer and
    ``(C, 0, 0)`` for a conv one (as :func:`network.npz.network_from_npz`).
    """
    if isinstance(module_or_state_dict, Mapping):
        return _network_from_state_dict(module_or_state_dict, input_shape, name or "state_dict")
    torch = import_torch()
    module = module_or_state_dict
    if not isinstance(module, torch.nn.Module):
        raise TypeError(f"expected a torch.nn.Module or a state_dict mapping, got {type(module).__name__}")
    layers = weight_layers(module)
    name = name or type(module).__name__
    if input_shape is not None:
        net = _network_via_onnx(module, layers, tuple(int(s) for s in input_shape), name)
        _check_forward(module, net)
        return net
    specs, params = [], {}
    for i, (n, _path, layer, kind) in enumerate(layers):
        aug = augmented_weights(layer)
        W = aug[:, :-1].reshape(tuple(layer.weight.shape))
        geometry = conv_geometry(layer) if kind is LayerKind.CONV else {}
        specs.append(LayerSpec(n, kind, tuple(int(s) for s in W.shape), relu=i < len(layers) - 1, **geometry))
        params[n] = np.ascontiguousarray(W)
        params[n + "_bias"] = np.ascontiguousarray(aug[:, -1])
    return Network(name, weights_only_input_shape(specs), specs, params)


def _network_via_onnx(module, layers: list[WeightLayer], input_shape, name: str) -> Network:
    """The module's graph through ``torch.onnx.export`` (network/onnx_import.py) with the
    effective weights: the export folds a parametrization's computation into a constant."""
    from .onnx_import import network_from_torch

    net = network_from_torch(module, input_shape, name)
    want = {l.name for l in layers}
    got = {s.name for s in net.specs}
    if got != want:
        raise ModelError(f"the exported graph's layers {sorted(got)} are not the module's nn.Linear / nn.Conv2d "
                         f"layers {sorted(want)} (a layer used twice, or one that never runs in forward?)")
    return net


def _network_from_state_dict(sd: Mapping, input_shape, name: str) -> Network:
    weights: dict[str, np.ndarray] = {}
    biases: dict[str, np.ndarray] = {}
    for key, val in sd.items():
        key = str(key)
        prefix, _, leaf = key.rpartition(".")
        if ".parametrizations." in key or key.startswith("parametrizations."):
            raise ModelError(f"state_dict entry {key!r} belongs to a parametrized module; pass the module itself, "
                             "or remove its parametrizations (torch.nn.utils.parametrize.remove_parametrizations) "
                             "before module.state_dict()")
        arr = tensor_to_numpy(val) if hasattr(val, "detach") else np.asarray(val)
        if leaf == "weight":
            if arr.ndim not in (2, 4):
                raise ModelError(f"layer {prefix!r}: weight of shape {arr.shape} is not an fc (2-D) or conv (4-D) "
                                 "weight (BatchNorm/LayerNorm/Embedding... are not supported)")
            weights[prefix] = arr
        elif leaf == "bias":
            biases[prefix] = arr
        else:
            raise ModelError(f"layer {prefix!r}: state_dict entry {key!r} is not a weight or bias "
                             "(BatchNorm and other stateful layers are not supported)")
    if not weights:
        raise ModelError("the state_dict has no 2-D (fc) or 4-D (conv) weight")
    specs, params, names = [], {}, {}
    items = list(weights.items())
    for i, (prefix, W) in enumerate(items):
        n = layer_name(prefix) or "weight"
        if n in names:
            raise ModelError(f"layers {names[n]!r} and {prefix!r} both map to the dcsim name {n!r}")
        names[n] = prefix
        if not np.issubdtype(W.dtype, np.floating) or not np.all(np.isfinite(W)):
            raise ModelError(f"layer {prefix!r}: weight must be finite floating point")
        b = biases.pop(prefix, None)
        b = np.zeros(W.shape[0], dtype=FLOAT) if b is None else np.asarray(b, dtype=FLOAT)
        if b.shape != (W.shape[0],):
            raise ModelError(f"layer {prefix!r}: bias of shape {b.shape}; expected ({W.shape[0]},)")
        kind = LayerKind.FC if W.ndim == 2 else LayerKind.CONV
        specs.append(LayerSpec(n, kind, tuple(int(s) for s in W.shape), relu=i < len(items) - 1))
        params[n] = np.ascontiguousarray(W, dtype=FLOAT)
        params[n + "_bias"] = b
    if biases:
        raise ModelError(f"layer {next(iter(biases))!r}: bias without a weight")
    shape = tuple(int(s) for s in input_shape) if input_shape is not None else weights_only_input_shape(specs)
    return Network(name, shape, specs, params)


# ------------------------------------------------------ structure tracing
def _run_eval(module, x):
    """``module(x)`` in eval mode without gradients; every submodule's training flag is restored after."""
    torch = import_torch()
    modes = {m: m.training for m in module.modules()}
    try:
        module.eval()
        with torch.no_grad():
            return module(x)
    finally:
        for m, t in modes.items():
            m.training = t


def _probe_input(module, input_shape, seed: int):
    """A batch of two random samples of ``input_shape`` on the module's device and float dtype."""
    torch = import_torch()
    p = next(iter(module.parameters()), None)
    g = torch.Generator().manual_seed(seed)
    x = torch.rand((2,) + tuple(input_shape), generator=g)
    if p is not None:
        x = x.to(device=p.device, dtype=p.dtype if p.dtype.is_floating_point else torch.float32)
    return x


def _check_forward(module, net: Network) -> None:
    """ModelError unless ``net.forward`` reproduces ``module``'s output on a random input."""
    x = _probe_input(module, net.input_shape, seed=1)
    ref = tensor_to_numpy(_run_eval(module, x))
    got = net.forward(tensor_to_numpy(x))
    scale = float(np.max(np.abs(ref))) if ref.size else 0.0
    if got.shape != ref.shape or not np.allclose(got, ref, rtol=1e-3, atol=1e-4 * max(scale, 1.0)):
        diff = float(np.max(np.abs(got - ref))) if got.shape == ref.shape else float("nan")
        raise ModelError(
            f"the converted network does not reproduce the module's output (shapes {got.shape} vs {ref.shape}, "
            f"max abs diff {diff:.3g}); pass no input_shape for a weights-only network (enough for the storage "
            "report)")
