"""Tiling: how a layer runs on EIE as output passes and input batches, and whether it fits.

A layer of ``n_rows`` outputs and ``n_cols`` inputs (bias column included) runs as tiles
(docs/microarchitecture.md, "Tiles"): output passes of ``cfg.rows_per_pass`` rows (every PE's
destination registers) times input batches of ``cfg.cols_per_batch`` columns (every PE's
source registers), passes outer, batches inner. Each pass is encoded as a layer of its own
(arch/encoding.py), so PE ``p`` keeps rows ``i mod n_pe`` of the pass; a batch is a column
range of the same streams.

:func:`tile_layer` is the one place that splits and encodes a layer for a machine; the
simulator (sim/engine.py) flattens its streams for the engine, the RTL export (hw/image.py)
lays them out in the memories, and both apply the same capacity checks.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .config import AcceleratorConfig
from .encoding import EIEStreams, EncodingError, check_capacity, encode_layer

__all__ = ["TiledLayer", "bounds", "check_pointer_capacity", "pointers_per_pe", "tile_layer"]


def bounds(n: int, step: int) -> np.ndarray:
    """``[0, step, 2 step, ..., n]`` (int64, read-only); at least one (possibly empty) range."""
    k = max(1, -(-n // step))
    b = np.minimum(np.arange(k + 1, dtype=np.int64) * step, n)
    b[-1] = n
    b.flags.writeable = False
    return b


@dataclass(frozen=True, eq=False)
class TiledLayer:
    """A layer split into output passes and input batches and encoded for one machine.

    Attributes:
        cfg: the machine (already re-targeted to the layer's index widths).
        n_rows, n_cols: the layer's shape (outputs x inputs, bias column included).
        pass_bounds: int64 ``(n_passes + 1,)``; pass ``k`` is rows ``[pass_bounds[k], pass_bounds[k+1])``.
        batch_bounds: int64 ``(n_batches + 1,)``; batch ``b`` is columns ``[batch_bounds[b], batch_bounds[b+1])``.
        streams: one :class:`~arch.encoding.EIEStreams` per pass.
        pe_entries: int64 ``(n_pe,)``: each PE's entries over all passes (what its sparse-matrix
            SRAM must hold; the SRAMs are loaded once before the layer).
    """

    cfg: AcceleratorConfig
    n_rows: int
    n_cols: int
    pass_bounds: np.ndarray
    batch_bounds: np.ndarray
    streams: tuple[EIEStreams, ...]
    pe_entries: np.ndarray

    @property
    def n_pe(self) -> int:
        return self.cfg.n_pe

    @property
    def n_passes(self) -> int:
        return int(self.pass_bounds.shape[0] - 1)

    @property
    def n_batches(self) -> int:
        return int(self.batch_bounds.shape[0] - 1)

    @property
    def n_tiles(self) -> int:
        return self.n_passes * self.n_batches

    @property
    def total_entries(self) -> int:
        """Entries stored over all passes and PEs, fillers included."""
        return int(self.pe_entries.sum())

    @property
    def max_pe_entries(self) -> int:
        """Entries of the fullest PE over all passes."""
        return int(self.pe_entries.max(initial=0))

    @property
    def fits(self) -> bool:
        """Every PE's entries of all passes fit its sparse-matrix SRAM."""
        return self.max_pe_entries <= self.cfg.spmat_capacity_entries


def pointers_per_pe(n_rows: int, n_cols: int, cfg: AcceleratorConfig) -> int:
    """Column pointers each PE stores for a layer: ``n_cols + 1`` per output pass (every PE holds
    every column's start and end, empty or not), all passes loaded before the layer."""
    return int(bounds(n_rows, cfg.rows_per_pass).shape[0] - 1) * (n_cols + 1)


def check_pointer_capacity(n_rows: int, n_cols: int, cfg: AcceleratorConfig) -> None:
    """Raise EncodingError if a layer's column pointers (:func:`pointers_per_pe`) do not fit one
    PE's pointer SRAM (``ptr_sram_bytes`` of ``pointer_bits``-bit pointers), naming both counts
    and the ``ptr_sram_bytes`` that would hold them."""
    need = pointers_per_pe(n_rows, n_cols, cfg)
    have = cfg.ptr_sram_bytes * 8 // cfg.pointer_bits
    if need > have:
        need_bytes = -(-need * cfg.pointer_bits // 8)
        raise EncodingError(
            f"each PE needs {need} column pointers ({n_cols} columns + 1"
            f"{'' if need == n_cols + 1 else f', x {need // (n_cols + 1)} output passes'}) but its pointer SRAM "
            f"holds {have} ({cfg.ptr_sram_bytes} bytes of {cfg.pointer_bits}-bit pointers); "
            f"ptr_sram_bytes >= {need_bytes} would hold them")


def tile_layer(indices: np.ndarray, cfg: AcceleratorConfig, enforce_capacity: bool = True) -> TiledLayer:
    """Split a layer into passes and batches and encode each pass for ``cfg``.

    Args:
        indices: 2-D integer codebook indices, rows = outputs, columns = inputs (the bias, if
            any, is already the last column; all columns are treated alike).
        cfg: the machine (its index widths must cover the layer: see ``AcceleratorConfig.for_layer``).
        enforce_capacity: refuse a layer that does not fit the sparse-matrix SRAM (the default).
            The energy model runs with False: the timing does not depend on the SRAM size, and it
            charges the part that does not fit as DRAM traffic instead.

    Raises:
        EncodingError: indices not 2-D / not integer / out of the ``index_bits`` range, or (with
            ``enforce_capacity``) a PE's streams do not fit its sparse-matrix SRAM, per pass and
            over all passes together, or its column pointers do not fit its pointer SRAM
            (:func:`check_pointer_capacity`).
    """
    a = np.asarray(indices)
    if a.ndim != 2:
        raise EncodingError(f"indices must be a 2-D (out x in) array; got {a.ndim}-D with shape {a.shape}")
    n_rows, n_cols = (int(s) for s in a.shape)
    pass_bounds = bounds(n_rows, cfg.rows_per_pass)
    batch_bounds = bounds(n_cols, cfg.cols_per_batch)
    n_pass = pass_bounds.shape[0] - 1
    streams = []
    pe_entries = np.zeros(cfg.n_pe, dtype=np.int64)
    for k in range(n_pass):
        s = encode_layer(a[pass_bounds[k]:pass_bounds[k + 1]], cfg)
        if enforce_capacity:
            check_capacity(s, cfg)
        streams.append(s)
        pe_entries += [pe.n_entries for pe in s.pes]
    if enforce_capacity:
        check_pointer_capacity(n_rows, n_cols, cfg)
    cap = cfg.spmat_capacity_entries
    if enforce_capacity and n_pass > 1 and int(pe_entries.max(initial=0)) > cap:
        p = int(np.argmax(pe_entries))
        raise EncodingError(
            f"PE {p} needs {int(pe_entries[p])} entries over the layer's {n_pass} output passes but its "
            f"sparse-matrix SRAM holds {cap} ({cfg.spmat_sram_bytes} bytes of {cfg.sram_word_bits}-bit words)")
    pe_entries.flags.writeable = False
    return TiledLayer(cfg=cfg, n_rows=n_rows, n_cols=n_cols, pass_bounds=pass_bounds, batch_bounds=batch_bounds,
                      streams=tuple(streams), pe_entries=pe_entries)
