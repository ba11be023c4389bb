"""Small random single-tile layers for the hw testbenches (tests/hw/): indices, codebook, inputs."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from arch.config import AcceleratorConfig
from arch.fixedpoint import LayerFormat, layer_format, quantize_acts, quantize_codebook

__all__ = ["LayerCase", "random_case"]


@dataclass(frozen=True, eq=False)
class LayerCase:
    """One layer on one machine: everything the RTL, the simulator and the reference need."""

    cfg: AcceleratorConfig
    indices: np.ndarray
    codebook_q: np.ndarray
    x: np.ndarray
    fmt: LayerFormat
    relu: bool


def random_case(seed: int, cfg: AcceleratorConfig, n_rows: int, n_cols: int, density: float,
                act_density: float, relu: bool, scale: float = 1.0) -> LayerCase:
    """A random layer: ``density`` nonzero weights, ``act_density`` nonzero activations.

    ``scale`` multiplies the centroids and activations (large values exercise the overflow rule).
    """
    rng = np.random.default_rng(seed)
    K = cfg.codebook_size
    cent = np.concatenate([[0.0], rng.normal(0.0, 1.0, K - 1) * scale])
    fmt = layer_format(cent, cfg)
    cb = quantize_codebook(cent, fmt)
    nz = rng.random((n_rows, n_cols)) < density
    idx = np.where(nz, rng.integers(1, K, (n_rows, n_cols)), 0).astype(np.int64)
    xf = rng.normal(0.0, 2.0, n_cols) * scale * (rng.random(n_cols) < act_density)
    x = quantize_acts(xf, cfg)
    return LayerCase(cfg, idx, cb, x, fmt, relu)
