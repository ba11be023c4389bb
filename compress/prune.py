"""Magnitude pruning (Han et al., NIPS 2015) and the iterative prune-retrain step."""
from __future__ import annotations

import numpy as np

from .config import CompressionConfig, PruneMethod
from .nn import Network


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


def layer_mask(w: np.ndarray, name: str, cfg: CompressionConfig, fraction: float = 1.0) -> np.ndarray:
    """The mask of one layer at ``fraction`` (0..1] of the way through the schedule.

    Density pruning interpolates the kept fraction geometrically (1 -> d);
    threshold pruning scales the quality parameter linearly (0 -> q).
    """
    if cfg.prune_method is PruneMethod.DENSITY:
        return mask_by_density(w, cfg.density_for(name) ** fraction)
    return mask_by_threshold(w, cfg.quality_for(name) * fraction)


def prune_masks(net: Network, cfg: CompressionConfig, fraction: float = 1.0,
                previous: dict[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """Masks for every weight layer (biases are never pruned). A connection pruned
    earlier stays pruned (``previous``)."""
    masks = {}
    for s in net.specs:
        w = net.params[s.name]
        if previous is not None and s.name in previous:
            w = w * previous[s.name]
        m = layer_mask(w, s.name, cfg, fraction)
        if previous is not None and s.name in previous:
            m &= previous[s.name]
        masks[s.name] = m
    return masks


def densities(masks: dict[str, np.ndarray]) -> dict[str, float]:
    return {k: float(m.mean()) for k, m in masks.items()}
