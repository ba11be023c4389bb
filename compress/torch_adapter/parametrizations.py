"""The parametrizations dcsim registers on a torch layer, and how to find them again.

- :class:`Masked` (pruning): ``weight = where(mask, original, 0)``;
- :class:`Codebook` (one layer's shared values; entry 0, the pruned value, is a constant zero)
  and :class:`SharedWeights` (weight sharing): ``[W | b] = codebook.table()[idx]``.

The classes subclass ``torch.nn.Module``, so they are built on first use
(:func:`parametrization_classes`) and importing this module never imports torch. Their
public home is :mod:`compress.torch_adapter` (``from compress.torch_adapter import Masked``).
:func:`find_parametrization` and :func:`check_only_dcsim_parametrizations` look them up on a layer.
"""
from __future__ import annotations

import functools

from arch.errors import ModelError
from network.torch_import import import_torch

__all__ = ["PARAMETRIZATION_NAMES", "check_only_dcsim_parametrizations", "find_parametrization",
           "parametrization_classes"]

PARAMETRIZATION_NAMES = ("Masked", "Codebook", "SharedWeights")


@functools.cache
def parametrization_classes() -> dict[str, type]:
    """``{"Masked": ..., "Codebook": ..., "SharedWeights": ...}``, built on the first call (imports torch)."""
    torch = import_torch()
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

    classes = {"Masked": Masked, "Codebook": Codebook, "SharedWeights": SharedWeights}
    for c in classes.values():
        c.__module__ = __package__  # found (and pickled) as compress.torch_adapter.<name>
        c.__qualname__ = c.__name__
    return classes


def _parametrizations(layer, tensor_name: str) -> list:
    """The parametrizations registered on ``layer.<tensor_name>``, outermost last; [] when none."""
    P = import_torch().nn.utils.parametrize
    if not P.is_parametrized(layer, tensor_name):
        return []
    return list(layer.parametrizations[tensor_name])


def find_parametrization(layer, tensor_name: str, class_name: str):
    """The dcsim parametrization ``class_name`` registered on ``layer.<tensor_name>``, or None."""
    cls = parametrization_classes()[class_name]
    for p in _parametrizations(layer, tensor_name):
        if isinstance(p, cls):
            return p
    return None


def check_only_dcsim_parametrizations(layer, path: str) -> None:
    """ModelError when ``layer``'s weight or bias carries a parametrization other than Masked / SharedWeights."""
    classes = parametrization_classes()
    ours = (classes["Masked"], classes["SharedWeights"])
    for t in ("weight", "bias"):
        for p in _parametrizations(layer, t):
            if not isinstance(p, ours):
                raise ModelError(f"layer {path!r}: its {t} carries a parametrization dcsim does not know "
                                 f"({type(p).__name__}); remove it first")
