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

__all__ = ["Quantizer", "Pruner", "Transform", "QUANTIZERS", "PRUNERS", "TRANSFORMS"]


class Quantizer:
    """Weight sharing of one layer: its nonzero values become codes into a small codebook.

    Index 0 of every codebook is the pruned value 0 and belongs to the pipeline; a quantizer
    shares only the nonzero values. The trainer's centroid fine-tuning (network/train.py) then
    moves each shared value by the sum of the gradients of the weights that use it (Deep
    Compression, Eq. 3) when :attr:`finetune` is true.
    """

    #: Whether centroid fine-tuning applies to this method's codebooks.
    finetune: bool = True
    #: The per-weight importance the method needs (``"fisher"`` or ``"hessian"``, see
    #: :func:`compress.methods.hessian.diag_importance`), or None. The pipeline computes it from
    #: training data and passes it to :meth:`share` as ``importance``.
    importance: str | None = None
    #: Optional: ``share_matrix(aug, bits, cfg, layer=None, log=None) -> QuantState``, the sharing
    #: of a whole layer for a method that needs the matrix's layout (which weights form a row or a
    #: sub-vector) or its name. ``aug`` is the layer's ``[W | b]`` (rows = output neurons, the last
    #: column the bias), ``layer`` its name (None when unknown), ``log`` a callable taking one line
    #: (None: the method's choice, e.g. ``print``) for what the method has to say about the layer,
    #: such as why it does not apply to it. When defined,
    #: :func:`compress.methods.quantize_matrix` calls it instead of :meth:`share` and checks the
    #: result by the same contract: ``idx`` of ``aug``'s shape, 0 exactly where ``aug == 0``, codes
    #: in ``1 .. 2**bits - 1`` elsewhere, ``2**bits`` finite float32 centroids with
    #: ``centroids[0] == 0`` (a used centroid of exactly 0 is nudged as for :meth:`share`). A
    #: quantizer whose :attr:`importance` is set also gets ``importance=`` (shape of ``aug``).
    #: None (the default): :meth:`share` does the work.
    share_matrix = None

    def train_hooks(self, net, cfg: "CompressionConfig"):
        """The :class:`network.train.TrainHooks` of quantization-aware training, or None (the
        default). With hooks, the pipeline first trains the float weights for ``qat_epochs``
        through them (e.g. quantized forward weights with a straight-through estimator; pruned
        weights stay 0), then shares them with :meth:`share`, then fine-tunes the centroids
        (``finetune_epochs``) when :attr:`finetune` is true."""
        return None

    def bits_for(self, cfg: "CompressionConfig", layer: str, kind) -> int:
        """Codebook index bits of a layer (entry 0 included); by default the recipe's bits."""
        return cfg.bits_for(layer, kind)

    def share(self, values: np.ndarray, bits: int, cfg: "CompressionConfig",
              importance: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Share ``values`` (1-D float64, all nonzero) in a ``2**bits``-entry codebook.

        ``importance``: one value per entry of ``values`` (its diagonal Fisher or Hessian), given
        only to a quantizer whose :attr:`importance` is set; the others may leave the argument out
        of their signature. Returns ``(codes, centroids)``: integer codes in ``1 .. 2**bits - 1``, one per value, and
        the float32 codebook of ``2**bits`` entries with ``centroids[0] == 0``.
        """
        raise NotImplementedError


class Pruner:
    """Which connections of a layer survive: a boolean mask over its weights."""

    #: The per-weight importance the method needs (``"fisher"`` or ``"hessian"``), or None; the
    #: pipeline computes it once per pruning iteration and passes it to :meth:`mask`.
    importance: str | None = None
    #: Whether :meth:`mask` takes ``hooks=`` (the object of :meth:`train_hooks`).
    wants_hooks: bool = False

    def train_hooks(self, net, cfg: "CompressionConfig"):
        """The :class:`network.train.TrainHooks` of the method's training, or None (the default):
        with hooks, each pruning step first trains ``penalty_epochs`` through them (a sparsifying
        penalty: L1, group lasso, a prior) before the masks are taken; the masked retraining after
        it is plain. A pruner with ``wants_hooks = True`` gets the same object as ``mask(...,
        hooks=...)`` (to read what its training learned)."""
        return None

    def mask(self, w: np.ndarray, layer: str, cfg: "CompressionConfig", fraction: float = 1.0,
             importance: np.ndarray | None = None) -> np.ndarray:
        """The mask (True = kept) of weights ``w`` of ``layer`` at ``fraction`` (0..1] of the way
        through the pruning schedule (``prune_iterations`` steps). ``importance`` (shape of ``w``)
        is given only to a pruner whose :attr:`importance` is set."""
        raise NotImplementedError


class Transform:
    """A change of the network's structure before pruning: whole neurons or filters removed, or a
    layer split in two. Returns a new network (the input is not modified); the pipeline retrains
    it (``retrain_epochs``) when it has training data."""

    def apply(self, net, cfg: "CompressionConfig", log=print):
        """The transformed :class:`network.graph.Network` of ``net`` under the recipe ``cfg``;
        ``log`` gets one line for each layer the method leaves whole, and why."""
        raise NotImplementedError


class NoTransform(Transform):
    """``structure = "none"``: the network as it is."""

    def apply(self, net, cfg, log=print):
        return net


#: Quantizers by name (``CompressionConfig.quantizer``).
QUANTIZERS: Registry[Quantizer] = Registry("quantizer", builtins=("compress.methods",))
#: Pruners by name (``CompressionConfig.prune_method``).
PRUNERS: Registry[Pruner] = Registry("pruning method", builtins=("compress.methods",))
#: Structural transforms by name (``CompressionConfig.structure``).
TRANSFORMS: Registry[Transform] = Registry("structure transform", builtins=("compress.methods",))
TRANSFORMS.register("none", NoTransform())
