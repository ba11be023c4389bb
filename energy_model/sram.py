"""SRAM (and register-file) access energy as a function of capacity and word width.

Model (KiB = 1024 bytes)::

    E(C, w) = E_anchor * (w / 32) * (C / 32 KiB) ** b          [pJ per access]
    E_rf(C, w) = max(E(C, w), floor_per_bit * w)

- **Anchor**: ``E_anchor`` is the table's ``sram_read_32b_32KiB`` (5 pJ at 45 nm,
  EIE Table I after Horowitz) for reads and ``sram_write_32b_32KiB`` for writes
  (= read: dcsim assumption, no published write figure in either source).
- **Width**: linear in the word width ``w`` (bits). Assumption: bit-line and
  sense-amplifier energy, which grow with the bits read, dominate; the decoder
  and word-line part that does not grow with width is neglected, so wide words
  are slightly pessimistic and narrow ones slightly optimistic.
- **Capacity**: ``C ** b``, with ``b`` the least-squares slope in log space of
  Horowitz's (ISSCC 2014, 45 nm) 64-bit cache accesses: 8 KB 10 pJ, 32 KB 20 pJ,
  1 MB 100 pJ. Only the slope is taken from these points: they are whole
  caches (tags, 64-bit words), and at 32 KB they give 20 pJ per 64 bits, i.e.
  10 pJ per 32 bits, twice EIE's 5 pJ anchor, which dcsim keeps as the level.
  The fitted ``b`` (about 0.47, close to the square root of a wire-dominated
  array) is computed below, with its residuals; docs/energy.md prints them.
- **Register files and other tiny arrays** (activation registers, codebook,
  FIFO) use the same model at their small capacity, bounded below by
  ``regfile_floor_per_bit`` x width (dcsim assumption: about a flip-flop read
  and its output mux per bit), because the power law fitted from 8 KB to 1 MB
  would go to zero as the array shrinks to a few bytes.
- Reads and writes of one array differ only through their anchors.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .table import EnergyEntry, EnergyTable

KIB = 1024
MIB = 1024 * KIB

ANCHOR_BYTES = 32 * KIB
ANCHOR_BITS = 32

HOROWITZ = "Horowitz, ISSCC 2014 (45 nm)"
#: Horowitz's 64-bit cache accesses at 45 nm: (capacity in bytes, pJ per 64-bit access).
HOROWITZ_CACHE_64B: tuple[tuple[int, float], ...] = ((8 * KIB, 10.0), (32 * KIB, 20.0), (1 * MIB, 100.0))


@dataclass(frozen=True)
class CapacityFit:
    """Least-squares fit of log2(E) = a + b log2(C) to published (capacity, energy) points."""

    exponent: float               # b
    log2_intercept: float         # a (pJ at 1 byte, in log2)
    points: tuple[tuple[int, float], ...]
    predicted_pJ: tuple[float, ...]
    residuals_pct: tuple[float, ...]   # 100 * (predicted / published - 1)


def fit_capacity_exponent(points: tuple[tuple[int, float], ...] = HOROWITZ_CACHE_64B) -> CapacityFit:
    """Fit ``E = A C^b`` by least squares on log2(C), log2(E); return b and the residuals."""
    if len(points) < 2:
        raise ValueError("need at least two (capacity, energy) points to fit a capacity exponent")
    c = np.log2([float(p[0]) for p in points])
    e = np.log2([float(p[1]) for p in points])
    b, a = np.polyfit(c, e, 1)
    pred = 2.0 ** (a + b * c)
    res = 100.0 * (pred / 2.0 ** e - 1.0)
    return CapacityFit(float(b), float(a), tuple(points), tuple(float(x) for x in pred),
                       tuple(float(x) for x in res))


CAPACITY_FIT = fit_capacity_exponent(HOROWITZ_CACHE_64B)
#: The fitted capacity exponent b (about 0.473).
CAPACITY_EXPONENT = CAPACITY_FIT.exponent


def _check(capacity_bytes: float, width_bits: float) -> None:
    if not (capacity_bytes > 0):
        raise ValueError(f"SRAM capacity = {capacity_bytes!r} bytes is not allowed; use a positive size")
    if not (width_bits > 0):
        raise ValueError(f"SRAM word width = {width_bits!r} bits is not allowed; use a positive width")
    if width_bits > capacity_bytes * 8:
        raise ValueError(f"a {width_bits}-bit word does not fit a {capacity_bytes}-byte SRAM")


def sram_energy_pJ(capacity_bytes: float, width_bits: float, anchor_pJ: float = 5.0,
                   exponent: float = CAPACITY_EXPONENT) -> float:
    """The power-law model alone: ``anchor * (w/32) * (C / 32 KiB) ** exponent`` pJ per access."""
    _check(capacity_bytes, width_bits)
    return anchor_pJ * (width_bits / ANCHOR_BITS) * (capacity_bytes / ANCHOR_BYTES) ** exponent


def _size(nbytes: float) -> str:
    if nbytes >= KIB and nbytes % KIB == 0:
        return f"{int(nbytes) // KIB} KiB"
    return f"{nbytes:g} B"


def sram_access(capacity_bytes: float, width_bits: int, table: EnergyTable, *, write: bool = False,
                what: str = "SRAM") -> EnergyEntry:
    """Energy of one ``width_bits`` read (or write) of a ``capacity_bytes`` array, with its source.

    Uses the table's anchor (``sram_read_32b_32KiB`` / ``sram_write_32b_32KiB``,
    already scaled to the table's node) and floor (``regfile_floor_per_bit``).
    """
    anchor_name = "sram_write_32b_32KiB" if write else "sram_read_32b_32KiB"
    anchor = table[anchor_name]
    floor = table["regfile_floor_per_bit"]
    model = sram_energy_pJ(capacity_bytes, width_bits, anchor.pJ)
    lo = floor.pJ * width_bits
    op = "write" if write else "read"
    unit = f"per {width_bits:g}-bit {op} of a {_size(capacity_bytes)} {what}"
    if model >= lo:
        src = (f"SRAM model {anchor.pJ:.4g} pJ x ({width_bits:g}/32) x ({capacity_bytes:g} B / 32 KiB)^"
               f"{CAPACITY_EXPONENT:.3f} (exponent fitted to {HOROWITZ} 64-bit caches 8 KB/32 KB/1 MB); "
               f"anchor {anchor_name}: {anchor.source}")
        return EnergyEntry(model, unit, src)
    src = (f"register-file floor {floor.pJ:.4g} pJ/bit x {width_bits:g} bits (the SRAM model gives "
           f"{model:.3g} pJ at this size); floor: {floor.source}")
    return EnergyEntry(lo, unit, src)
