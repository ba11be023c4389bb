"""compress.torch_adapter: Deep Compression of a user's ``torch.nn.Module`` in their own training loop.

- :mod:`.parametrizations`: :class:`Masked`, :class:`Codebook`, :class:`SharedWeights`, the
  ``torch.nn.utils.parametrize`` parametrizations that enforce pruning and weight sharing;
- :mod:`.steps`: :func:`prune_module`, :func:`module_masks`, :func:`quantize_module`,
  :func:`module_codebook`, :func:`export_quant`, :func:`strip_parametrizations`;
- :mod:`.flow`: :func:`compress_module`, all the steps and the encoding in one call.

The conversion of a module into a Network, :func:`network_from_module`, and
:class:`TorchMissingError` come from the importer, :mod:`network.torch_import`, and are
re-exported here.

torch is imported lazily: importing :mod:`compress` or this package never imports torch; the
first function that needs it does, and a missing torch raises :class:`TorchMissingError` (an
``ImportError`` and a :class:`~arch.errors.DcsimError`) that says how to install it
(``pip install 'dcsim[torch]'`` or ``pip install torch==2.13.0``).

dcsim installs ``torch.nn.utils.parametrize`` parametrizations on every ``nn.Linear`` /
``nn.Conv2d`` so that an ordinary optimizer step *is* masked retraining or centroid fine-tuning:

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
  :func:`network.train.train` (Deep Compression, Eq. 3).

Layer names (the keys of ``CompressionConfig.layer_density`` / ``layer_bits`` and of the
returned dicts) and the supported layers are the importer's: see :mod:`network.torch_import`.
A module dcsim cannot take raises :class:`~arch.errors.ModelError` naming the layer.
"""
from __future__ import annotations

from network.torch_import import TorchMissingError, network_from_module

from .flow import compress_module
from .parametrizations import PARAMETRIZATION_NAMES, parametrization_classes
from .steps import export_quant, module_codebook, module_masks, prune_module, quantize_module, strip_parametrizations

__all__ = ["TorchMissingError", "network_from_module", "prune_module", "module_masks", "quantize_module",
           "module_codebook", "export_quant", "compress_module", "strip_parametrizations"]
# Masked, Codebook and SharedWeights are importable by name too (module __getattr__);
# they are left out of __all__ so that `import *` does not import torch.


def __getattr__(name: str):
    # `from compress.torch_adapter import Masked` works and imports torch only then
    if name in PARAMETRIZATION_NAMES:
        return parametrization_classes()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
