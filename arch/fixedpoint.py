"""The fixed-point arithmetic contract (docs/design.md, "Contracts").

The numpy reference (sim/reference.py), the Numba engine (sim/engine.py) and
the RTL (hw/) implement exactly this; floats are for training and reports only.
All formats come from :class:`~arch.config.AcceleratorConfig` and, for the
codebook, from the layer itself. Integers are Python/numpy int64 throughout
(``acc_bits <= 48`` keeps every intermediate far from int64 overflow).

Formats
-------
* **Activation**: signed ``A = act_bits`` bits, ``fa = act_frac_bits`` fractional
  bits; value = integer / 2**fa. Range ``[-2**(A-1), 2**(A-1) - 1]``.
  A float ``x`` becomes ``clamp(floor(x * 2**fa + 0.5))`` (round half up).
  The bias input (the constant-1 column) is ``2**fa``.
* **Weight (codebook entry)**: signed ``W = weight_bits`` bits with ``fw``
  fractional bits chosen per layer by :func:`weight_frac_bits`: the largest
  ``fw`` such that every centroid, rounded, fits in W bits, capped at
  ``acc_frac_bits - act_frac_bits + W + 8``. Codebook entry 0 is 0. A centroid
  becomes ``clamp(floor(c * 2**fw + 0.5))``.
* **Product**: ``p = a * w`` exactly (``A + W`` bits).
* **Term**: ``t = p >> s`` with ``s = fa + fw - acc_frac_bits`` (an arithmetic
  shift: floor). ``s >= 0`` is required; a codebook too large for that raises
  :class:`FixedPointError`.
* **Accumulator**: signed ``acc_bits`` bits, ``acc_frac_bits`` fractional bits,
  starting at 0. Each term is added in column order (the order the activations
  are broadcast: ascending input index); the sum is then clamped to the range
  (``overflow = saturate``) or wrapped two's-complement (``wrap``). With
  saturation the order matters, so every implementation adds in column order.
* **Write-back** (requantization to the activation format): with
  ``r = acc_frac_bits - act_frac_bits``, ``y = (acc + 2**(r-1)) >> r`` for
  ``r > 0`` (round half up), ``y = acc`` for ``r = 0``; then ReLU if the layer
  has it (``y = max(y, 0)``); then ``y`` is clamped to the activation range.

A zero activation or a zero weight adds a zero term, which changes nothing in
either overflow mode, so skipping them (as EIE does) is exact.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .config import AcceleratorConfig, Overflow
from .errors import DcsimError

__all__ = ["FixedPointError", "LayerFormat", "weight_frac_bits", "layer_format", "quantize_acts",
           "dequantize_acts", "quantize_codebook", "term", "accumulate", "writeback", "one", "signed_min",
           "signed_max"]


class FixedPointError(DcsimError, ValueError):
    """A value cannot be represented in the configured fixed-point formats."""


@dataclass(frozen=True)
class LayerFormat:
    """The fixed-point formats of one layer (recorded in every result)."""

    act_bits: int
    act_frac_bits: int
    weight_bits: int
    weight_frac_bits: int
    acc_bits: int
    acc_frac_bits: int
    overflow: Overflow
    product_shift: int      # s = act_frac + weight_frac - acc_frac
    writeback_shift: int    # r = acc_frac - act_frac

    def to_dict(self) -> dict:
        return {"act_bits": self.act_bits, "act_frac_bits": self.act_frac_bits, "weight_bits": self.weight_bits,
                "weight_frac_bits": self.weight_frac_bits, "acc_bits": self.acc_bits,
                "acc_frac_bits": self.acc_frac_bits, "overflow": self.overflow.value,
                "product_shift": self.product_shift, "writeback_shift": self.writeback_shift}

    @classmethod
    def from_dict(cls, d: dict) -> "LayerFormat":
        """Inverse of :meth:`to_dict`."""
        return cls(**{**d, "overflow": Overflow(d["overflow"])})


def signed_min(bits: int) -> int:
    """The smallest ``bits``-bit two's-complement integer."""
    return -(1 << (bits - 1))


def signed_max(bits: int) -> int:
    """The largest ``bits``-bit two's-complement integer."""
    return (1 << (bits - 1)) - 1


def _round_half_up(x: np.ndarray) -> np.ndarray:
    return np.floor(np.asarray(x, dtype=np.float64) + 0.5)


def weight_frac_bits(centroids: np.ndarray, cfg: AcceleratorConfig) -> int:
    """Fractional bits of a layer's codebook: the most that keep every rounded centroid in range."""
    c = np.asarray(centroids, dtype=np.float64)
    if not np.all(np.isfinite(c)):
        raise FixedPointError("codebook holds NaN or inf")
    cap = cfg.acc_frac_bits - cfg.act_frac_bits + cfg.weight_bits + 8
    m = float(np.max(np.abs(c))) if c.size else 0.0
    if m == 0.0:
        return cap
    lo, hi = signed_min(cfg.weight_bits), signed_max(cfg.weight_bits)
    f = min(cap, cfg.weight_bits - 1 - math.ceil(math.log2(m)) + 1)
    while f > -64:
        q = _round_half_up(c * 2.0 ** f)
        if q.min() >= lo and q.max() <= hi:
            return f
        f -= 1
    raise FixedPointError(f"codebook value {m:g} does not fit {cfg.weight_bits}-bit fixed point")


def layer_format(centroids: np.ndarray, cfg: AcceleratorConfig) -> LayerFormat:
    """The formats of a layer with this codebook on this machine."""
    fw = weight_frac_bits(centroids, cfg)
    s = cfg.act_frac_bits + fw - cfg.acc_frac_bits
    if s < 0:
        m = float(np.max(np.abs(centroids)))
        raise FixedPointError(
            f"codebook value {m:g} needs {fw} fractional bits, fewer than acc_frac_bits - act_frac_bits = "
            f"{cfg.acc_frac_bits - cfg.act_frac_bits}; widen weight_bits ({cfg.weight_bits}) or lower acc_frac_bits")
    return LayerFormat(cfg.act_bits, cfg.act_frac_bits, cfg.weight_bits, fw, cfg.acc_bits, cfg.acc_frac_bits,
                       cfg.overflow, s, cfg.acc_frac_bits - cfg.act_frac_bits)


def quantize_codebook(centroids: np.ndarray, fmt: LayerFormat) -> np.ndarray:
    """Integer codebook (int64); entry 0 must be the value 0."""
    c = np.asarray(centroids, dtype=np.float64)
    if c.size and c[0] != 0.0:
        raise FixedPointError(f"codebook entry 0 is {c[0]!r}; it must be 0 (the pruned weight)")
    if not np.all(np.isfinite(c)):
        raise FixedPointError("codebook holds NaN or inf")
    q = np.clip(_round_half_up(c * 2.0 ** fmt.weight_frac_bits), signed_min(fmt.weight_bits), signed_max(fmt.weight_bits))
    return q.astype(np.int64)


def quantize_acts(x: np.ndarray, cfg: AcceleratorConfig | LayerFormat) -> np.ndarray:
    """Float activations -> integers (int64) in the activation format (round half up, clamp)."""
    x = np.asarray(x, dtype=np.float64)
    if not np.all(np.isfinite(x)):
        raise FixedPointError("activations hold NaN or inf")
    q = _round_half_up(x * 2.0 ** cfg.act_frac_bits)
    return np.clip(q, signed_min(cfg.act_bits), signed_max(cfg.act_bits)).astype(np.int64)


def dequantize_acts(q: np.ndarray, cfg: AcceleratorConfig | LayerFormat) -> np.ndarray:
    return np.asarray(q, dtype=np.float64) / 2.0 ** cfg.act_frac_bits


def one(cfg: AcceleratorConfig | LayerFormat) -> int:
    """The constant-1 activation of the bias column."""
    return 1 << cfg.act_frac_bits


def term(a: np.ndarray | int, w: np.ndarray | int, fmt: LayerFormat):
    """``(a * w) >> product_shift`` (floor), elementwise."""
    return (np.asarray(a, dtype=np.int64) * np.asarray(w, dtype=np.int64)) >> fmt.product_shift


def accumulate(acc: np.ndarray, t: np.ndarray, fmt: LayerFormat) -> np.ndarray:
    """``acc + t`` under the overflow rule (elementwise; returns a new array)."""
    s = np.asarray(acc, dtype=np.int64) + np.asarray(t, dtype=np.int64)
    if fmt.overflow is Overflow.SATURATE:
        return np.clip(s, signed_min(fmt.acc_bits), signed_max(fmt.acc_bits))
    m = np.int64(1) << fmt.acc_bits
    s = s & (m - 1)
    return np.where(s > signed_max(fmt.acc_bits), s - m, s)


def writeback(acc: np.ndarray, fmt: LayerFormat, relu: bool) -> np.ndarray:
    """Accumulator -> activation format: round half up, ReLU if set, clamp."""
    y = np.asarray(acc, dtype=np.int64)
    r = fmt.writeback_shift
    if r > 0:
        y = (y + (np.int64(1) << (r - 1))) >> r
    if relu:
        y = np.maximum(y, 0)
    return np.clip(y, signed_min(fmt.act_bits), signed_max(fmt.act_bits))
