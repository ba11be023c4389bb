"""The optional PyTorch adapter: Deep Compression of a user's ``torch.nn.Module``.

torch is imported lazily: importing :mod:`compress` or this module never
imports torch; the first function that needs it does, and a missing torch
raises :class:`TorchMissingError` (an ``ImportError``) that says how to install
it (``pip install 'dcsim[torch]'`` or ``pip install torch==2.13.0``).

The user keeps their own training loop. dcsim installs
``torch.nn.utils.parametrize`` parametrizations on every ``nn.Linear`` /
``nn.Conv2d`` so that an ordinary optimizer step *is* masked retraining or
centroid fine-tuning:

- :func:`prune_module` registers :class:`Masked` on ``weight``:
  ``weight = where(mask, original, 0)``. Pruned entries are exactly 0 in the
  forward pass, their gradient w.r.t. ``original`` is 0, and ``original`` is
  zeroed at registration, so SGD (with momentum or weight decay), Adam and
  AdamW all leave it at exactly 0.
- :func:`quantize_module` registers :class:`SharedWeights` on ``weight`` and
  ``bias``: ``[W | b] = table[idx]`` where ``table = cat([0], codebook.free)``
  and ``codebook.free`` (``2**bits - 1`` values) is the only trainable tensor
  of the layer. Index 0 is the pruned value and is a constant buffer, so it is
  exactly 0 forever. Autograd's backward of the gather ``table[idx]`` is a
  scatter-add, so the gradient of centroid k is the sum of the gradients of
  all entries of ``[W | b]`` whose index is k -- the same rule as
  :func:`compress.train.train` (Deep Compression, Eq. 3).

Layer names: the module path of each ``Linear`` / ``Conv2d`` (as in
``module.named_modules()``) with ``.`` replaced by ``_`` (``features.0`` ->
``features_0``; an ``nn.Sequential`` gives ``0``, ``2``, ...). For a
state_dict the name is the key prefix before ``.weight`` with the same
replacement. These names key ``CompressionConfig.layer_density`` /
``layer_bits`` and the returned dicts. Two paths that collide after the
replacement raise ``ValueError``.

Supported: ``nn.Linear`` and ``nn.Conv2d`` with stride 1, no padding, no
dilation, ``groups=1`` (what :class:`compress.nn.Network` runs), with or
without bias, in a feed-forward chain. Between weight layers the structure
inference (``input_shape`` given) understands ``nn.ReLU``,
``nn.MaxPool2d(k)`` (stride = kernel, no padding), ``nn.Flatten``,
``nn.Identity`` and dropout. Anything else with parameters (BatchNorm,
LayerNorm, Embedding, RNNs, grouped / strided / dilated / padded conv, ...)
raises ``ValueError`` naming the layer.
"""
from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from .config import CompressionConfig, LayerKind
from .nn import FLOAT, LayerSpec, Network
from .prune import layer_mask
from .quantize import index_dtype, quantize_matrix
from .train import QuantState

INSTALL_HINT = "pip install 'dcsim[torch]'  (or: pip install torch==2.13.0; never a bare `torch`, which pulls a CUDA build)"


class TorchMissingError(ImportError):
    """torch is needed for this function but is not installed."""


def _torch():
    try:
        import torch
        import torch.nn.utils.parametrize  # noqa: F401
    except ImportError as e:
        raise TorchMissingError(f"compress.torch_adapter needs PyTorch, which is not installed: {INSTALL_HINT}") from e
    return torch


# ----------------------------------------------------------- parametrizations
@functools.cache
def _classes() -> dict[str, type]:
    """The nn.Module classes, built on first use so that torch is imported lazily."""
    torch = _torch()
    nn = torch.nn

    class Masked(nn.Module):
        """Parametrization ``w -> where(mask, w, 0)``: pruned weights are exactly 0.

        ``right_inverse`` masks too, so assigning ``layer.weight = t`` (and the
        registration itself) stores zeros at pruned positions of ``original``.
        """

        def __init__(self, mask):
            super().__init__()
            self.register_buffer("mask", mask.to(torch.bool))

        def forward(self, w):
            return torch.where(self.mask, w, torch.zeros((), dtype=w.dtype, device=w.device))

        def right_inverse(self, w):
            return torch.where(self.mask, w, torch.zeros((), dtype=w.dtype, device=w.device))

    class Codebook(nn.Module):
        """One layer's shared values. Entry 0 (pruned) is a constant zero buffer;
        ``free`` holds entries 1 .. 2**bits - 1 and is the trainable parameter."""

        def __init__(self, centroids):
            super().__init__()
            self.register_buffer("zero", torch.zeros(1, dtype=centroids.dtype, device=centroids.device))
            self.free = nn.Parameter(centroids[1:].detach().clone())

        def table(self):
            """The full codebook (2**bits,), differentiable w.r.t. ``free``."""
            return torch.cat([self.zero, self.free])

        @property
        def centroids(self):
            """The current codebook as a detached tensor; ``centroids[0] == 0``."""
            return self.table().detach()

    class SharedWeights(nn.Module):
        """Parametrization that ignores the stored tensor and returns ``codebook.table()[idx]``.

        The weight and the bias of a layer use two SharedWeights that share one
        :class:`Codebook` (bias = the last column of ``[W | b]``)."""

        def __init__(self, idx, codebook):
            super().__init__()
            self.register_buffer("idx", idx.to(torch.long))
            self.codebook = codebook

        def forward(self, w):
            return self.codebook.table()[self.idx]

    for c in (Masked, Codebook, SharedWeights):
        c.__module__ = __name__
        c.__qualname__ = c.__name__
    return {"Masked": Masked, "Codebook": Codebook, "SharedWeights": SharedWeights}


def __getattr__(name: str):
    # `from compress.torch_adapter import Masked` works and imports torch only then
    if name in ("Masked", "Codebook", "SharedWeights"):
        return _classes()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _parametrizations(layer, tensor_name: str) -> list:
    P = _torch().nn.utils.parametrize
    if not P.is_parametrized(layer, tensor_name):
        return []
    return list(layer.parametrizations[tensor_name])


def _dcsim_param(layer, tensor_name: str, cls_name: str):
    cls = _classes()[cls_name]
    for p in _parametrizations(layer, tensor_name):
        if isinstance(p, cls):
            return p
    return None


def _check_no_foreign(layer, name: str) -> None:
    cls = tuple(_classes()[k] for k in ("Masked", "SharedWeights"))
    for t in ("weight", "bias"):
        for p in _parametrizations(layer, t):
            if not isinstance(p, cls):
                raise ValueError(f"layer {name!r}: its {t} carries a parametrization dcsim does not know "
                                 f"({type(p).__name__}); remove it first")


def strip_parametrizations(module) -> None:
    """Remove dcsim's parametrizations, keeping the current (masked / weight-shared)
    values as plain parameters. Use it to save an ordinary state_dict afterwards."""
    P = _torch().nn.utils.parametrize
    for _name, _path, layer, _kind in _weight_layers(module):
        for t in ("weight", "bias"):
            if P.is_parametrized(layer, t):
                P.remove_parametrizations(layer, t, leave_parametrized=True)
                getattr(layer, t).requires_grad_(True)


# ------------------------------------------------------------ module walking
def _layer_name(path: str) -> str:
    return path.replace(".", "_")


def _walk(module, prefix: str = ""):
    """Pre-order (path, module) like ``named_modules`` but skipping the internals of
    parametrized tensors (``layer.parametrizations``)."""
    P = _torch().nn.utils.parametrize
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

    yield from rec(module, prefix)


def _own_tensors(m) -> list[str]:
    """Names of the parameters / buffers a module holds itself (originals of parametrized tensors count)."""
    P = _torch().nn.utils.parametrize
    names = [k for k, v in m._parameters.items() if v is not None]
    names += [k for k, v in m._buffers.items() if v is not None]
    if P.is_parametrized(m):
        names += list(m.parametrizations.keys())
    return names


def _check_layer(m, path: str) -> LayerKind:
    nn = _torch().nn
    if isinstance(m, nn.Linear):
        if isinstance(m.weight, nn.parameter.UninitializedParameter):
            raise ValueError(f"layer {path!r}: LazyLinear is not initialised; run one forward pass first")
        return LayerKind.FC
    c = m
    if isinstance(c.weight, nn.parameter.UninitializedParameter):
        raise ValueError(f"layer {path!r}: LazyConv2d is not initialised; run one forward pass first")
    problems = []
    if tuple(c.stride) != (1, 1):
        problems.append(f"stride={tuple(c.stride)}")
    if c.padding == "same" and tuple(c.kernel_size) != (1, 1):
        problems.append("padding='same'")
    elif c.padding not in ("valid", "same") and tuple(c.padding) != (0, 0):
        problems.append(f"padding={tuple(c.padding)}")
    if tuple(c.dilation) != (1, 1):
        problems.append(f"dilation={tuple(c.dilation)}")
    if c.groups != 1:
        problems.append(f"groups={c.groups}")
    if problems:
        raise ValueError(f"layer {path!r} (Conv2d): {', '.join(problems)} is not supported; dcsim's Network runs "
                         "stride-1, unpadded, undilated, ungrouped convolutions only")
    return LayerKind.CONV


def _weight_layers(module) -> list[tuple[str, str, Any, LayerKind]]:
    """(name, path, layer, kind) of every Linear / Conv2d in registration order.
    Anything else that holds parameters or buffers raises ValueError naming it."""
    nn = _torch().nn
    bad_types = (nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm, nn.LocalResponseNorm,
                 nn.Embedding, nn.EmbeddingBag, nn.RNNBase, nn.MultiheadAttention, nn.Bilinear,
                 nn.modules.conv._ConvNd)
    out, names = [], {}
    for path, m in _walk(module):
        label = path or "<root>"
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            if not path:
                label = type(m).__name__.lower()  # the module itself is one layer
            kind = _check_layer(m, label)
            _check_no_foreign(m, label)
            name = _layer_name(label)
            if name in names:
                raise ValueError(f"layers {names[name]!r} and {label!r} both map to the dcsim name {name!r}; rename one")
            names[name] = label
            out.append((name, label, m, kind))
            continue
        if isinstance(m, bad_types):
            raise ValueError(f"layer {label!r} ({type(m).__name__}) is not supported: dcsim compresses "
                             "nn.Linear and nn.Conv2d (stride 1, no padding) only; fold or remove it first")
        own = _own_tensors(m)
        if own:
            raise ValueError(f"layer {label!r} ({type(m).__name__}) holds parameters/buffers {own}; dcsim "
                             "compresses nn.Linear and nn.Conv2d only")
    if not out:
        raise ValueError("the module has no nn.Linear or nn.Conv2d layer")
    return out


def _np32(t) -> np.ndarray:
    return t.detach().to("cpu").float().numpy().astype(FLOAT, copy=True)


def _augmented_np(layer) -> np.ndarray:
    W = _np32(layer.weight)
    b = _np32(layer.bias) if layer.bias is not None else np.zeros(W.shape[0], dtype=FLOAT)
    return np.concatenate([W.reshape(W.shape[0], -1), b[:, None]], axis=1)


# ------------------------------------------------------------ conversion
def network_from_module(module_or_state_dict, input_shape: tuple[int, ...] | None = None, *,
                        name: str | None = None) -> Network:
    """A :class:`compress.nn.Network` (float32 numpy) from an ``nn.Module`` or a state_dict.

    - **nn.Module**: every ``nn.Linear`` / ``nn.Conv2d`` becomes a layer (name =
      module path with ``.`` -> ``_``); weights are the *effective* values, so a
      pruned / quantized module gives its masked / weight-shared weights; a
      missing bias becomes zeros.

      * Without ``input_shape``: layers in registration order, ``relu=True`` for
        all but the last, ``pool=0``. The storage report needs only the kinds and
        shapes of the weights, so this is enough for compression and storage
        accounting; the network's forward pass may differ from the module's.
      * With ``input_shape`` (one sample, no batch dimension, e.g. ``(1, 28, 28)``):
        the module is run once in eval mode under forward hooks. The layer order
        is the execution order; ``relu`` / ``pool`` come from the ``nn.ReLU`` /
        ``nn.MaxPool2d`` modules run between weight layers. The result is then
        checked: ``Network.forward`` must reproduce the module's output on a
        random input, else ``ValueError`` (e.g. a functional ``F.relu`` the hooks
        cannot see).

    - **state_dict** (a mapping of ``X.weight`` / ``X.bias`` tensors or arrays, in
      layer order; torch not needed for numpy values): 2-D weights are fc, 4-D
      conv (stride 1, no padding assumed), ``relu`` on all but the last, no pool.
      Other entries (``running_mean``, 1-D weights, ...) raise ``ValueError``
      naming the layer.

    ``input_shape`` defaults to ``(in_features,)`` for an fc first layer and
    ``(C, 0, 0)`` for a conv one (as :func:`compress.pipeline.network_from_npz`).
    """
    if isinstance(module_or_state_dict, Mapping):
        return _network_from_state_dict(module_or_state_dict, input_shape, name or "state_dict")
    torch = _torch()
    module = module_or_state_dict
    if not isinstance(module, torch.nn.Module):
        raise TypeError(f"expected a torch.nn.Module or a state_dict mapping, got {type(module).__name__}")
    layers = _weight_layers(module)
    name = name or type(module).__name__
    relu = {n: i < len(layers) - 1 for i, (n, *_r) in enumerate(layers)}
    pool = {n: 0 for n, *_r in layers}
    if input_shape is not None:
        layers, relu, pool = _trace_structure(module, layers, tuple(int(s) for s in input_shape))
    specs, params = [], {}
    for n, _path, layer, kind in layers:
        aug = _augmented_np(layer)
        W = aug[:, :-1].reshape(tuple(layer.weight.shape))
        specs.append(LayerSpec(n, kind, tuple(int(s) for s in W.shape), relu=relu[n], pool=pool[n]))
        params[n] = np.ascontiguousarray(W)
        params[n + "_bias"] = np.ascontiguousarray(aug[:, -1])
    net = Network(name, _default_input_shape(specs) if input_shape is None else tuple(int(s) for s in input_shape),
                  specs, params)
    if input_shape is not None:
        _verify_forward(module, net)
    return net


def _default_input_shape(specs: list[LayerSpec]) -> tuple[int, ...]:
    first = specs[0]
    return (first.shape[1],) if first.kind is LayerKind.FC else (first.shape[1], 0, 0)


def _network_from_state_dict(sd: Mapping, input_shape, name: str) -> Network:
    weights: dict[str, np.ndarray] = {}
    biases: dict[str, np.ndarray] = {}
    for key, val in sd.items():
        key = str(key)
        prefix, _, leaf = key.rpartition(".")
        if ".parametrizations." in key or key.startswith("parametrizations."):
            raise ValueError(f"state_dict entry {key!r} belongs to a parametrized module; pass the module itself "
                             "or call strip_parametrizations(module) before module.state_dict()")
        arr = _np32(val) if hasattr(val, "detach") else np.asarray(val)
        if leaf == "weight":
            if arr.ndim not in (2, 4):
                raise ValueError(f"layer {prefix!r}: weight of shape {arr.shape} is not an fc (2-D) or conv (4-D) "
                                 "weight (BatchNorm/LayerNorm/Embedding... are not supported)")
            weights[prefix] = arr
        elif leaf == "bias":
            biases[prefix] = arr
        else:
            raise ValueError(f"layer {prefix!r}: state_dict entry {key!r} is not a weight or bias "
                             "(BatchNorm and other stateful layers are not supported)")
    if not weights:
        raise ValueError("the state_dict has no 2-D (fc) or 4-D (conv) weight")
    specs, params, names = [], {}, {}
    items = list(weights.items())
    for i, (prefix, W) in enumerate(items):
        n = _layer_name(prefix) or "weight"
        if n in names:
            raise ValueError(f"layers {names[n]!r} and {prefix!r} both map to the dcsim name {n!r}")
        names[n] = prefix
        if not np.issubdtype(W.dtype, np.floating) or not np.all(np.isfinite(W)):
            raise ValueError(f"layer {prefix!r}: weight must be finite floating point")
        b = biases.pop(prefix, None)
        b = np.zeros(W.shape[0], dtype=FLOAT) if b is None else np.asarray(b, dtype=FLOAT)
        if b.shape != (W.shape[0],):
            raise ValueError(f"layer {prefix!r}: bias of shape {b.shape}; expected ({W.shape[0]},)")
        kind = LayerKind.FC if W.ndim == 2 else LayerKind.CONV
        specs.append(LayerSpec(n, kind, tuple(int(s) for s in W.shape), relu=i < len(items) - 1))
        params[n] = np.ascontiguousarray(W, dtype=FLOAT)
        params[n + "_bias"] = b
    if biases:
        raise ValueError(f"layer {next(iter(biases))!r}: bias without a weight")
    shape = tuple(int(s) for s in input_shape) if input_shape is not None else _default_input_shape(specs)
    return Network(name, shape, specs, params)


def _trace_structure(module, layers, input_shape):
    """Execution order and relu/pool flags from one hooked forward pass."""
    torch = _torch()
    nn = torch.nn
    weight_ids = {id(l[2]): l for l in layers}
    events: list[tuple[str, Any]] = []
    handles = []
    for path, m in _walk(module):
        if id(m) in weight_ids or not any(True for _ in m.children()):
            handles.append(m.register_forward_hook(
                lambda mod, inp, out, _p=path or type(module).__name__: events.append((_p, mod))))
    x = _probe_input(module, input_shape, seed=0)
    modes = {m: m.training for m in module.modules()}
    try:
        module.eval()
        with torch.no_grad():
            module(x)
    finally:
        for h in handles:
            h.remove()
        for m, t in modes.items():
            m.training = t
    order, relu, pool = [], {}, {}
    cur = None
    seen = set()
    for path, m in events:
        if id(m) in weight_ids:
            n = weight_ids[id(m)][0]
            if n in seen:
                raise ValueError(f"layer {path!r} runs more than once in forward; dcsim needs a feed-forward chain")
            seen.add(n)
            order.append(weight_ids[id(m)])
            relu[n], pool[n] = False, 0
            cur = weight_ids[id(m)]
            continue
        if isinstance(m, (nn.Flatten, nn.Identity, nn.modules.dropout._DropoutNd)):
            if isinstance(m, nn.Flatten) and (m.start_dim, m.end_dim) != (1, -1):
                raise ValueError(f"layer {path!r}: Flatten({m.start_dim}, {m.end_dim}) is not supported; use Flatten()")
            continue
        if cur is None:
            raise ValueError(f"layer {path!r} ({type(m).__name__}) runs before the first weight layer; "
                             "dcsim's Network starts with an fc or conv layer")
        n = cur[0]
        if isinstance(m, nn.ReLU):
            relu[n] = True
        elif isinstance(m, nn.MaxPool2d) and _square_pool(m) and cur[3] is LayerKind.CONV and pool[n] == 0:
            pool[n] = _square_pool(m)
        else:
            raise ValueError(f"layer {path!r} ({type(m).__name__}) after {cur[1]!r} is not supported between weight "
                             "layers (supported: ReLU, one MaxPool2d(k) with stride k after a conv, Flatten, "
                             "Identity, Dropout); pass no input_shape for a weights-only network")
    missing = [l[1] for l in layers if l[0] not in seen]
    if missing:
        raise ValueError(f"layers {missing} do not run in forward; remove them or pass no input_shape")
    return order, relu, pool


def _square_pool(m) -> int:
    def pair(v):
        return tuple(v) if isinstance(v, (tuple, list)) else (v, v)

    k = pair(m.kernel_size)
    s = pair(m.stride if m.stride is not None else m.kernel_size)
    if (k[0] != k[1] or s != k or pair(m.padding) != (0, 0) or pair(m.dilation) != (1, 1)
            or m.ceil_mode or m.return_indices):
        return 0
    return int(k[0])


def _probe_input(module, input_shape, seed: int):
    torch = _torch()
    p = next(iter(module.parameters()), None)
    g = torch.Generator().manual_seed(seed)
    x = torch.rand((2,) + tuple(input_shape), generator=g)
    if p is not None:
        x = x.to(device=p.device, dtype=p.dtype if p.dtype.is_floating_point else torch.float32)
    return x


def _verify_forward(module, net: Network) -> None:
    torch = _torch()
    x = _probe_input(module, net.input_shape, seed=1)
    modes = {m: m.training for m in module.modules()}
    try:
        module.eval()
        with torch.no_grad():
            ref = module(x)
    finally:
        for m, t in modes.items():
            m.training = t
    ref = _np32(ref)
    got = net.forward(_np32(x))
    scale = float(np.max(np.abs(ref))) if ref.size else 0.0
    if got.shape != ref.shape or not np.allclose(got, ref, rtol=1e-3, atol=1e-4 * max(scale, 1.0)):
        diff = float(np.max(np.abs(got - ref))) if got.shape == ref.shape else float("nan")
        raise ValueError(
            f"the converted network does not reproduce the module's output (shapes {got.shape} vs {ref.shape}, "
            f"max abs diff {diff:.3g}): the forward pass does something dcsim's Network cannot see or run "
            "(functional F.relu / F.max_pool2d, residual connections, other ops). Use nn.ReLU / nn.MaxPool2d "
            "modules, or pass no input_shape for a weights-only network (enough for the storage report)")


# ------------------------------------------------------------------ pruning
def prune_module(module, cfg: CompressionConfig, fraction: float = 1.0,
                 previous: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Magnitude-prune every Linear/Conv2d weight with the rule of
    :func:`compress.prune.layer_mask` (biases are never pruned) and register
    :class:`Masked` on it, so the mask holds through any optimizer step.

    The mask is computed on the layer's current effective weight (float32).
    A connection pruned earlier stays pruned: ``previous`` gives earlier masks
    by layer name; when it is None, the masks already registered on the module
    are used. Re-pruning replaces a layer's mask (no stacking). The stored
    ``original`` is zeroed at pruned positions. Create or keep your optimizer
    as you like: the weight's Parameter object is unchanged.

    Returns ``{name: torch.BoolTensor}`` (True = kept).
    """
    torch = _torch()
    P = torch.nn.utils.parametrize
    Masked = _classes()["Masked"]
    masks = {}
    for name, path, layer, _kind in _weight_layers(module):
        if _dcsim_param(layer, "weight", "SharedWeights") is not None:
            raise ValueError(f"layer {path!r} is already weight-shared (quantize_module); prune before quantizing")
        existing = _dcsim_param(layer, "weight", "Masked")
        if previous is not None:
            prev = previous.get(name)
        else:
            prev = existing.mask if existing is not None else None
        if prev is not None:
            prev = (prev.detach().to("cpu").numpy() if hasattr(prev, "detach") else np.asarray(prev)).astype(bool)
            if prev.shape != tuple(layer.weight.shape):
                raise ValueError(f"layer {path!r}: previous mask has shape {prev.shape}, weight {tuple(layer.weight.shape)}")
        w = _np32(layer.weight)
        if prev is not None:
            w = w * prev
        m = layer_mask(w, name, cfg, fraction)
        if prev is not None:
            m &= prev
        mask = torch.from_numpy(np.ascontiguousarray(m)).to(layer.weight.device)
        if existing is not None:
            existing.mask = mask
        else:
            P.register_parametrization(layer, "weight", Masked(mask))
        with torch.no_grad():
            layer.parametrizations.weight.original.masked_fill_(~mask, 0)
        masks[name] = mask
    return masks


def module_masks(module) -> dict[str, Any]:
    """The masks currently registered by :func:`prune_module` (``{name: BoolTensor}``)."""
    out = {}
    for name, _path, layer, _kind in _weight_layers(module):
        p = _dcsim_param(layer, "weight", "Masked")
        if p is not None:
            out[name] = p.mask
    return out


# ------------------------------------------------------------- quantization
def quantize_module(module, cfg: CompressionConfig) -> dict[str, QuantState]:
    """Weight-share every Linear/Conv2d: k-means over the augmented matrix
    ``[W.reshape(out, -1) | b]`` with :func:`compress.quantize.quantize_matrix`
    (``bits = cfg.bits_for(name, kind)``), then register :class:`SharedWeights`
    on ``weight`` and ``bias`` (one :class:`Codebook` per layer).

    A :class:`Masked` parametrization is replaced (pruned entries are 0, hence
    index 0, hence 0 forever). The layer's trainable tensor is then
    ``layer.parametrizations.weight[0].codebook.free``; the old weight Parameter
    stops requiring grad. **Create the optimizer after this call**
    (``module.parameters()`` now yields the codebooks).

    Returns ``{name: QuantState}`` as k-means left it (numpy); read fine-tuned
    centroids back with :func:`export_quant`.
    """
    torch = _torch()
    P = torch.nn.utils.parametrize
    cls = _classes()
    quant = {}
    for name, path, layer, kind in _weight_layers(module):
        aug = _augmented_np(layer)
        bits = cfg.bits_for(name, kind)
        q = quantize_matrix(aug, bits, cfg.kmeans_init, cfg.kmeans_max_iter, cfg.seed)
        for t in ("weight", "bias"):
            if P.is_parametrized(layer, t):
                P.remove_parametrizations(layer, t, leave_parametrized=True)
        w = layer.weight
        codebook = cls["Codebook"](torch.from_numpy(q.centroids).to(device=w.device, dtype=w.dtype))
        idx = torch.from_numpy(q.idx.astype(np.int64)).to(w.device)
        P.register_parametrization(layer, "weight",
                                   cls["SharedWeights"](idx[:, :-1].reshape(tuple(w.shape)).contiguous(), codebook))
        if layer.bias is not None:
            P.register_parametrization(layer, "bias", cls["SharedWeights"](idx[:, -1].contiguous(), codebook))
        with torch.no_grad():
            for t in ("weight", "bias"):
                if P.is_parametrized(layer, t):
                    orig = layer.parametrizations[t].original
                    orig.copy_(getattr(layer, t))  # keep the stored tensor meaningful (= quantized value)
                    orig.requires_grad_(False)
        quant[name] = q
    return quant


def module_codebook(module, name: str):
    """The :class:`Codebook` module of quantized layer ``name``."""
    for n, path, layer, _kind in _weight_layers(module):
        if n == name:
            p = _dcsim_param(layer, "weight", "SharedWeights")
            if p is None:
                raise ValueError(f"layer {path!r} is not quantized; call quantize_module first")
            return p.codebook
    raise KeyError(f"no layer {name!r}")


def export_quant(module, quant: Mapping[str, QuantState] | None = None) -> dict[str, QuantState]:
    """The module's (fine-tuned) codebooks and indices as numpy
    :class:`compress.train.QuantState` objects (float32 centroids, index dtype
    of the bit width). With ``quant`` (from :func:`quantize_module`) the layers
    and their indices are checked against it.

    A fine-tuned centroid k > 0 that became exactly 0.0 would alias the pruned
    code; like :func:`quantize_matrix` it is set to the smallest normal float32,
    in the module too, so module and export stay identical.
    """
    torch = _torch()
    out = {}
    for name, path, layer, _kind in _weight_layers(module):
        pw = _dcsim_param(layer, "weight", "SharedWeights")
        if pw is None:
            if quant is not None and name in quant:
                raise ValueError(f"layer {path!r} is no longer quantized")
            continue
        if quant is not None and name not in quant:
            continue
        cb = pw.codebook
        with torch.no_grad():
            zero = cb.free == 0
            if bool(zero.any()):
                cb.free[zero] = float(np.finfo(np.float32).tiny)
        cent = _np32(cb.table())
        cent[0] = 0.0
        bits = int(round(np.log2(len(cent))))
        idx_w = pw.idx.detach().to("cpu").numpy().reshape(pw.idx.shape[0], -1)
        pb = _dcsim_param(layer, "bias", "SharedWeights") if layer.bias is not None else None
        if pb is not None and pb.codebook is not cb:
            raise ValueError(f"layer {path!r}: weight and bias use different codebooks")
        idx_b = pb.idx.detach().to("cpu").numpy() if pb is not None else np.zeros(idx_w.shape[0], dtype=np.int64)
        idx = np.concatenate([idx_w, idx_b[:, None]], axis=1).astype(index_dtype(bits))
        if quant is not None and not np.array_equal(idx, quant[name].idx):
            raise ValueError(f"layer {path!r}: indices differ from the given quant (re-quantized since?)")
        out[name] = QuantState(idx=idx, centroids=cent)
    if quant is not None and set(quant) - set(out):
        raise ValueError(f"layers {sorted(set(quant) - set(out))} of quant are not in the module")
    return out


# ----------------------------------------------------------------- pipeline
TrainFn = Callable[[Any, str], Any]


def compress_module(module, cfg: CompressionConfig, accel, train_fn: TrainFn | None = None, *,
                    input_shape: tuple[int, ...] | None = None, name: str | None = None,
                    meta: dict | None = None, log: Callable[[str], None] | None = None):
    """Deep Compression of a torch module with the user's own training loop.

    1. prune in ``cfg.prune_iterations`` steps (:func:`prune_module` at fraction
       ``it / T``), calling ``train_fn(module, f"prune {it}/{T}")`` after each;
    2. :func:`quantize_module`, then ``train_fn(module, "finetune")``;
    3. :func:`export_quant`, ``net = network_from_module(module, input_shape)``
       and :func:`compress.pipeline.step_encode`.

    ``train_fn`` trains ``module`` in place however the user likes; dcsim's
    parametrizations make that masked retraining / centroid fine-tuning. It
    should build its optimizer from ``module.parameters()`` on every call
    (quantization replaces the trainable tensors). The module is left
    pruned and weight-shared (see :func:`strip_parametrizations`).

    Returns the :class:`compress.model.CompressedModel`; ``model.meta``
    records the source and torch version besides ``meta``.
    """
    torch = _torch()
    from .pipeline import step_encode
    from .prune import densities

    say = log or (lambda s: None)
    T = cfg.prune_iterations
    masks = None
    for it in range(1, T + 1):
        masks = prune_module(module, cfg, fraction=it / T, previous=masks)
        if train_fn is not None:
            train_fn(module, f"prune {it}/{T}")
        say(f"prune {it}/{T}: density " + ", ".join(
            f"{k} {100 * d:.1f}%" for k, d in densities({k: v.cpu().numpy() for k, v in masks.items()}).items()))
    q0 = quantize_module(module, cfg)
    if train_fn is not None:
        train_fn(module, "finetune")
    quant = export_quant(module, q0)
    net = network_from_module(module, input_shape, name=name)
    for s in net.specs:
        q = quant[s.name]
        aug = np.concatenate([net.params[s.name].reshape(s.n_out, -1), net.params[s.name + "_bias"][:, None]], axis=1)
        if not np.array_equal(aug, q.centroids[q.idx]):
            raise AssertionError(f"layer {s.name}: module weights differ from centroids[idx]")
    say("quantize: " + ", ".join(f"{s.name} {cfg.bits_for(s.name, s.kind)} bits" for s in net.specs))
    m = {"source": "torch", "torch_version": str(torch.__version__), **(meta or {})}
    return step_encode(net, quant, cfg, accel, m)


__all__ = ["TorchMissingError", "network_from_module", "prune_module", "module_masks", "quantize_module",
           "module_codebook", "export_quant", "compress_module", "strip_parametrizations"]
# Masked, Codebook and SharedWeights are importable by name too (module __getattr__);
# they are left out of __all__ so that `import *` does not import torch.
