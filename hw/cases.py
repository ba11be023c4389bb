"""Small layers for the hw testbenches (tests/hw/): random ones (:func:`random_case`) and the two
hand-built edge-case layers (:func:`edge_case`: write-back ties and exact saturation bounds at
write-back shifts 8 and 0), as indices, codebook and inputs."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from arch.config import AcceleratorConfig
from arch.fixedpoint import LayerFormat, layer_format, quantize_acts, quantize_codebook

__all__ = ["LayerCase", "random_case", "edge_case"]


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


def edge_case(shift0: bool) -> tuple[LayerCase, list[int]]:
    """A hand-built layer whose rows hit write-back ties and the saturation bounds exactly, with the
    output each row must give (docs/microarchitecture.md's arithmetic: round half up, clamp).

    ``shift0 = False``: write-back shift 8, product shift 6 and a 24-bit accumulator (16 fraction
    bits, as the default machine's 32-bit one); column 0's activation is 64, so a term there equals
    its weight, and column 1's is 16384, a term 256 x its weight. Rows reach the
    accumulator's top exactly and one past it; the activation clamp hides the accumulator's
    saturation in the outputs (32767), so only the raw accumulators (8388607) show it; the rows at
    the bottom reach it exactly (-2**23) and saturate there.
    ``shift0 = True``: a 16-bit accumulator with the activation's fraction (write-back shift 0,
    product shift 14; the accumulator's own saturation shows in the output)."""
    if shift0:
        cfg = AcceleratorConfig(n_pe=2, acc_bits=16, acc_frac_bits=8, act_regs_per_pe=24, spmat_sram_bytes=1024)
        x = np.array([32767, 16384, 0], dtype=np.int64)
        cb = [0, 16384, 1, -32768, -1, 32767]
        # rows as (index in column 0, index in column 1) -> expected output
        rows = [((1, 0), 32767),             # 32767 x 16384 >> 14 = 32767: the accumulator's top, exactly
                ((1, 2), 32767),             # 32767 + 1: saturates at the top
                ((0, 3), -32768),            # 16384 x -32768 >> 14: the bottom, exactly
                ((4, 3), -32768),            # -2 - 32768: saturates at the bottom
                ((5, 0), 32767)]             # 32767 x 32767 >> 14 = 65532 in one term: saturates
    else:
        cfg = AcceleratorConfig(n_pe=2, acc_bits=24, act_regs_per_pe=24, spmat_sram_bytes=1024)
        x = np.array([64, 16384, 0], dtype=np.int64)
        cb = [0, 128, 384, 640, -128, -384, -640, 127, 129, 32767, 256, -32768, -384 - 256, 1, 255]
        rows = [((1, 0), 1), ((2, 0), 2), ((3, 0), 3),          # 0.5, 1.5, 2.5 round half up: 1, 2, 3
                ((4, 0), 0), ((5, 0), -1), ((6, 0), -2),        # -0.5, -1.5, -2.5: 0, -1, -2
                ((7, 0), 0), ((8, 0), 1),                       # just below and above a tie
                ((0, 9), 32767),                                # 256 x 32767: the activation's top, exactly
                ((10, 9), 32767),                               # 256 x 32768 = 2**23: the accumulator saturates,
                                                                #   the clamp hides it in the output
                ((0, 11), -32768),                              # 256 x -32768: the bottom, exactly
                ((12, 11), -32768),                             # below it: clamped (the accumulator saturates)
                ((14, 9), 32767)]                               # 255 + 256 x 32767 = 2**23 - 1: its top, exactly
    K = cfg.codebook_size
    cb_q = np.zeros(K, dtype=np.int64)
    cb_q[:len(cb)] = cb
    fmt = layer_format(np.array([0.0, 1.0] + [0.5] * (K - 2)), cfg)  # weight fraction 14 bits
    idx = np.zeros((len(rows), len(x)), dtype=np.int64)
    for i, ((a, b), _e) in enumerate(rows):
        idx[i, 0], idx[i, 1] = a, b
    return LayerCase(cfg, idx, cb_q, x, fmt, False), [e for _r, e in rows]
