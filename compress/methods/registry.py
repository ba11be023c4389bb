"""The registry of compression methods: quantizers and pruners, keyed by CompressionConfig fields.

``CompressionConfig.quantizer`` names a :class:`Quantizer` in :data:`QUANTIZERS` and
``CompressionConfig.prune_method`` a :class:`Pruner` in :data:`PRUNERS`. The built-in pipeline
(compress/pipeline.py), the PyTorch adapter (compress/torch_adapter/) and the EIE benchmark-layer
generator (sim/workloads.py) look methods up here, so a new method is one module that defines
the class and registers an instance (docs/design.md, "Adding a compression method")::

    from compress.methods import QUANTIZERS, Quantizer

    class SignQuantizer(Quantizer):
        def share(self, values, bits, cfg): ...

    QUANTIZERS.register("sign", SignQuantizer())

A module outside the repository is loaded as a plugin (``$DCSIM_PLUGINS``, arch/registry.py).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from arch.registry import Registry

if TYPE_CHECKING:
    from ..config import CompressionConfig

__all__ = ["Quantizer", "Pruner", "QUANTIZERS", "PRUNERS"]


class Quantizer:
    """Weight sharing of one layer: its nonzero values become codes into a small codebook.

    Index 0 of every codebook is the pruned value 0 and belongs to the pipeline; a quantizer
    shares only the nonzero values. The trainer's centroid fine-tuning (network/train.py) then
    moves each shared value by the sum of the gradients of the weights that use it (Deep
    Compression, Eq. 3) when :attr:`finetune` is true.
    """

    #: Whether centroid fine-tuning applies to this method's codebooks.
    finetune: bool = True

    def bits_for(self, cfg: "CompressionConfig", layer: str, kind) -> int:
        """Codebook index bits of a layer (entry 0 included); by default the recipe's bits."""
        return cfg.bits_for(layer, kind)

    def share(self, values: np.ndarray, bits: int, cfg: "CompressionConfig") -> tuple[np.ndarray, np.ndarray]:
        """Share ``values`` (1-D float64, all nonzero) in a ``2**bits``-entry codebook.

        Returns ``(codes, centroids)``: integer codes in ``1 .. 2**bits - 1``, one per value, and
        the float32 codebook of ``2**bits`` entries with ``centroids[0] == 0``.
        """
        raise NotImplementedError


class Pruner:
    """Which connections of a layer survive: a boolean mask over its weights."""

    def mask(self, w: np.ndarray, layer: str, cfg: "CompressionConfig", fraction: float = 1.0) -> np.ndarray:
        """The mask (True = kept) of weights ``w`` of ``layer`` at ``fraction`` (0..1] of the way
        through the pruning schedule (``prune_iterations`` steps)."""
        raise NotImplementedError


#: Quantizers by name (``CompressionConfig.quantizer``).
QUANTIZERS: Registry[Quantizer] = Registry("quantizer", builtins=("compress.methods",))
#: Pruners by name (``CompressionConfig.prune_method``).
PRUNERS: Registry[Pruner] = Registry("pruning method", builtins=("compress.methods",))
