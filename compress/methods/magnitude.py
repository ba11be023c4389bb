"""Magnitude pruning (Han et al., NIPS 2015): the ``density`` and ``threshold`` pruners.

- ``density``: keep the largest-magnitude fraction ``density`` of each layer's weights
  (``layer_density`` per layer); over the schedule the kept fraction falls geometrically,
  ``density ** fraction``.
- ``threshold``: keep ``|w| >= quality x std(w)`` (``layer_quality`` per layer); over the
  schedule the quality rises linearly, ``quality x fraction``.
"""
from __future__ import annotations

import numpy as np

from .registry import PRUNERS, Pruner

__all__ = ["mask_by_density", "mask_by_threshold", "DensityPruner", "ThresholdPruner"]


def mask_by_threshold(w: np.ndarray, quality: float) -> np.ndarray:
    """Keep |w| >= quality x std(w) (the NIPS 2015 rule). Returns a bool mask."""
    thr = quality * float(np.std(w))
    return np.abs(w) >= thr if thr > 0 else np.ones(w.shape, dtype=bool)


def mask_by_density(w: np.ndarray, density: float) -> np.ndarray:
    """Keep the ``round(density x size)`` largest magnitudes (ties broken by position)."""
    n = w.size
    k = int(round(density * n))
    k = min(max(k, 1 if n else 0), n)
    mask = np.zeros(n, dtype=bool)
    if k:
        order = np.argsort(-np.abs(w.ravel()), kind="stable")
        mask[order[:k]] = True
    return mask.reshape(w.shape)


class DensityPruner(Pruner):
    """Keep a fraction of each layer (``density`` / ``layer_density``)."""

    def mask(self, w, layer, cfg, fraction=1.0):
        return mask_by_density(w, cfg.density_for(layer) ** fraction)


class ThresholdPruner(Pruner):
    """Keep the weights above ``quality`` standard deviations (``quality`` / ``layer_quality``)."""

    def mask(self, w, layer, cfg, fraction=1.0):
        return mask_by_threshold(w, cfg.quality_for(layer) * fraction)


PRUNERS.register("density", DensityPruner())
PRUNERS.register("threshold", ThresholdPruner())
