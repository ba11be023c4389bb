"""The compression steps on a torch module, one call each: prune, quantize, read back, undo.

- :func:`prune_module` registers :class:`Masked` on every weight (the recipe's pruner,
  :func:`compress.methods.prune_mask`); :func:`module_masks` reads the masks back;
- :func:`quantize_module` registers :class:`SharedWeights` on every weight and bias (the
  recipe's quantizer, :func:`compress.methods.quantize_matrix`, at the quantizer's
  ``bits_for``); :func:`module_codebook` gives a layer's :class:`Codebook`;
- :func:`export_quant` reads the (fine-tuned) codebooks back as numpy ``QuantState`` objects;
- :func:`strip_parametrizations` turns the weights back into plain parameters.

Every step works on the layers :func:`network.torch_import.weight_layers` finds and refuses
a weight that carries a parametrization dcsim does not know.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from arch.errors import ModelError
from network.torch_import import WeightLayer, augmented_weights, import_torch, tensor_to_numpy, weight_layers
from network.train import QuantState

from ..config import CompressionConfig
from ..methods import QUANTIZERS, index_dtype, prune_mask, quantize_matrix
from .parametrizations import check_only_dcsim_parametrizations, find_parametrization, parametrization_classes

__all__ = ["export_quant", "module_codebook", "module_masks", "prune_module", "quantize_module",
           "strip_parametrizations"]


def _compressible_layers(module) -> list[WeightLayer]:
    """:func:`weight_layers`, checked to carry no parametrization but dcsim's own."""
    layers = weight_layers(module)
    for layer in layers:
        check_only_dcsim_parametrizations(layer.module, layer.path)
    return layers


def strip_parametrizations(module) -> None:
    """Remove dcsim's parametrizations, keeping the current (masked / weight-shared)
    values as plain parameters. Use it to save an ordinary state_dict afterwards."""
    P = import_torch().nn.utils.parametrize
    for _name, _path, layer, _kind in _compressible_layers(module):
        for t in ("weight", "bias"):
            if P.is_parametrized(layer, t):
                P.remove_parametrizations(layer, t, leave_parametrized=True)
                getattr(layer, t).requires_grad_(True)


# ------------------------------------------------------------------ pruning
def prune_module(module, cfg: CompressionConfig, fraction: float = 1.0,
                 previous: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Prune every Linear/Conv2d weight with the recipe's pruner
    (:func:`compress.methods.prune_mask`; biases are never pruned) and register
    :class:`Masked` on it, so the mask holds through any optimizer step.

    The mask is computed on the layer's current effective weight (float32).
    A connection pruned earlier stays pruned: ``previous`` gives earlier masks
    by layer name; when it is None, the masks already registered on the module
    are used. Re-pruning replaces a layer's mask (no stacking). The stored
    ``original`` is zeroed at pruned positions. Create or keep your optimizer
    as you like: the weight's Parameter object is unchanged.

    Returns ``{name: torch.BoolTensor}`` (True = kept).
    """
    torch = import_torch()
    P = torch.nn.utils.parametrize
    Masked = parametrization_classes()["Masked"]
    masks = {}
    for name, path, layer, _kind in _compressible_layers(module):
        if find_parametrization(layer, "weight", "SharedWeights") is not None:
            raise ModelError(f"layer {path!r} is already weight-shared (quantize_module); prune before quantizing")
        existing = find_parametrization(layer, "weight", "Masked")
        if previous is not None:
            prev = previous.get(name)
        else:
            prev = existing.mask if existing is not None else None
        if prev is not None:
            prev = (prev.detach().to("cpu").numpy() if hasattr(prev, "detach") else np.asarray(prev)).astype(bool)
            if prev.shape != tuple(layer.weight.shape):
                raise ModelError(f"layer {path!r}: previous mask has shape {prev.shape}, "
                                 f"weight {tuple(layer.weight.shape)}")
        w = tensor_to_numpy(layer.weight)
        if prev is not None:
            w = w * prev
        m = prune_mask(w, name, cfg, fraction)
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
    for name, _path, layer, _kind in _compressible_layers(module):
        p = find_parametrization(layer, "weight", "Masked")
        if p is not None:
            out[name] = p.mask
    return out


# ------------------------------------------------------------- quantization
def quantize_module(module, cfg: CompressionConfig) -> dict[str, QuantState]:
    """Weight-share every Linear/Conv2d: the recipe's quantizer over the augmented matrix
    ``[W.reshape(out, -1) | b]`` (:func:`compress.methods.quantize_matrix`, at
    ``bits = QUANTIZERS.get(cfg.quantizer).bits_for(cfg, name, kind)``), then register
    :class:`SharedWeights` on ``weight`` and ``bias`` (one :class:`Codebook` per layer).

    A :class:`Masked` parametrization is replaced (pruned entries are 0, hence
    index 0, hence 0 forever). The layer's trainable tensor is then
    ``layer.parametrizations.weight[0].codebook.free``; the old weight Parameter
    stops requiring grad. **Create the optimizer after this call**
    (``module.parameters()`` now yields the codebooks).

    Returns ``{name: QuantState}`` as the quantizer left it (numpy); read fine-tuned
    centroids back with :func:`export_quant`.
    """
    torch = import_torch()
    P = torch.nn.utils.parametrize
    classes = parametrization_classes()
    layers = _compressible_layers(module)
    quantizer = QUANTIZERS.get(cfg.quantizer)
    quant = {}
    for name, _path, layer, kind in layers:
        q = quantize_matrix(augmented_weights(layer), quantizer.bits_for(cfg, name, kind), cfg, layer=name)
        for t in ("weight", "bias"):
            if P.is_parametrized(layer, t):
                P.remove_parametrizations(layer, t, leave_parametrized=True)
        w = layer.weight
        codebook = classes["Codebook"](torch.from_numpy(q.centroids).to(device=w.device, dtype=w.dtype))
        idx = torch.from_numpy(q.idx.astype(np.int64)).to(w.device)
        P.register_parametrization(layer, "weight",
                                   classes["SharedWeights"](idx[:, :-1].reshape(tuple(w.shape)).contiguous(), codebook))
        if layer.bias is not None:
            P.register_parametrization(layer, "bias", classes["SharedWeights"](idx[:, -1].contiguous(), codebook))
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
    for n, path, layer, _kind in _compressible_layers(module):
        if n == name:
            p = find_parametrization(layer, "weight", "SharedWeights")
            if p is None:
                raise ModelError(f"layer {path!r} is not quantized; call quantize_module first")
            return p.codebook
    raise KeyError(f"no layer {name!r}")


def export_quant(module, quant: Mapping[str, QuantState] | None = None) -> dict[str, QuantState]:
    """The module's (fine-tuned) codebooks and indices as numpy
    :class:`network.train.QuantState` objects (float32 centroids, index dtype
    of the bit width). With ``quant`` (from :func:`quantize_module`) the layers
    and their indices are checked against it.

    A fine-tuned centroid k > 0 that became exactly 0.0 would alias the pruned
    code; like :func:`compress.methods.quantize_matrix` it is set to the smallest
    normal float32, in the module too, so module and export stay identical.
    """
    torch = import_torch()
    out = {}
    for name, path, layer, _kind in _compressible_layers(module):
        pw = find_parametrization(layer, "weight", "SharedWeights")
        if pw is None:
            if quant is not None and name in quant:
                raise ModelError(f"layer {path!r} is no longer quantized")
            continue
        if quant is not None and name not in quant:
            continue
        cb = pw.codebook
        with torch.no_grad():
            zero = cb.free == 0
            if bool(zero.any()):
                cb.free[zero] = float(np.finfo(np.float32).tiny)
        cent = tensor_to_numpy(cb.table())
        cent[0] = 0.0
        bits = int(round(np.log2(len(cent))))
        idx_w = pw.idx.detach().to("cpu").numpy().reshape(pw.idx.shape[0], -1)
        pb = find_parametrization(layer, "bias", "SharedWeights") if layer.bias is not None else None
        if pb is not None and pb.codebook is not cb:
            raise ModelError(f"layer {path!r}: weight and bias use different codebooks")
        idx_b = pb.idx.detach().to("cpu").numpy() if pb is not None else np.zeros(idx_w.shape[0], dtype=np.int64)
        idx = np.concatenate([idx_w, idx_b[:, None]], axis=1).astype(index_dtype(bits))
        if quant is not None and not np.array_equal(idx, quant[name].idx):
            raise ModelError(f"layer {path!r}: indices differ from the given quant (re-quantized since?)")
        out[name] = QuantState(idx=idx, centroids=cent)
    if quant is not None and set(quant) - set(out):
        raise ModelError(f"layers {sorted(set(quant) - set(out))} of quant are not in the module")
    return out
