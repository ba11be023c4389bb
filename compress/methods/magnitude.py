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


_CHUNK = 1 << 20


def mask_by_density(w: np.ndarray, density: float) -> np.ndarray:
    """Keep the ``round(density x size)`` largest magnitudes (ties broken by position: of the
    weights equal to the smallest kept magnitude, the first ones in memory order are kept).

    The k-th largest magnitude comes from a partial sort in place (``ndarray.partition``, linear
    time) of one copy of the magnitudes; the mask is then built in chunks, so the memory beyond
    the layer is one float copy and the mask, whatever the layer's size."""
    n = w.size
    k = int(round(density * n))
    k = min(max(k, 1 if n else 0), n)
    if k == 0:
        return np.zeros(w.shape, dtype=bool)
    a = np.abs(w).ravel()
    a.partition(n - k)
    thr = a[n - k]                                  # the k-th largest magnitude
    del a
    flat = np.ravel(w)
    mask = np.empty(n, dtype=bool)
    for c0 in range(0, n, _CHUNK):
        np.greater(np.abs(flat[c0:c0 + _CHUNK]), thr, out=mask[c0:c0 + _CHUNK])
    need = k - int(np.count_nonzero(mask))          # how many of the weights equal to thr to keep
    for c0 in range(0, n, _CHUNK):
        if need <= 0:
            break
        eq = np.flatnonzero(np.abs(flat[c0:c0 + _CHUNK]) == thr)[:need]
        mask[c0 + eq] = True
        need -= len(eq)
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
