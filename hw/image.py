"""The memory image of one layer on one machine: what the RTL's memories hold (hw/pe.py, hw/array.py).

Made from the same streams as the simulator (:func:`sim.engine.prepare_layer`): the layer is
split into output passes of ``cfg.rows_per_pass`` rows (each pass encoded as a layer of its
own) and input batches of ``cfg.cols_per_batch`` columns.

Per PE ``p``:

* ``spmat``: the sparse-matrix SRAM, ``cfg.spmat_words`` words of ``cfg.sram_word_bits`` bits.
  The PE's entries of all passes are stored one after another (pass 0's stream, then pass 1's,
  ...) and packed ``entries_per_word`` to a word (arch.encoding.pack_words), so a pass's stream
  need not start on a word boundary.
* ``ptr_even`` / ``ptr_odd``: the pointer banks. Pass ``k``'s pointers (``n_cols + 1`` of them,
  absolute entry addresses: the pass's base in the PE's SRAM plus the encoder's pointer) occupy
  a slot of ``ptr_stride`` (``n_cols + 1`` rounded up to even) addresses; pointer ``j`` of pass
  ``k`` is in bank ``j & 1`` at address ``k * ptr_stride / 2 + (j >> 1)``. Unused slots repeat
  the pass's last pointer.

Shared: ``codebook`` (``cfg.codebook_size`` entries, padded with 0) and ``acts``: the input
activations with one batch per word (``cols_per_batch`` activations of ``act_bits`` bits, column
``b * cols_per_batch + s`` in bits ``[s * act_bits, (s + 1) * act_bits)`` of word ``b``; the last
batch padded with zeros). One word is what the broadcaster's source registers hold in a tile.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from arch.config import AcceleratorConfig
from arch.encoding import EncodingError, pack_words
from arch.tiling import TiledLayer, tile_layer

__all__ = ["PEImage", "LayerImage", "layer_image", "words_to_ints"]


def words_to_ints(words: np.ndarray) -> list[int]:
    """Packed SRAM words (uint64 limbs, limb 0 least significant) -> one Python int per word."""
    out = []
    for row in np.asarray(words, dtype=np.uint64):
        v = 0
        for k, limb in enumerate(row):
            v |= int(limb) << (64 * k)
        out.append(v)
    return out


@dataclass(frozen=True)
class PEImage:
    """One PE's memories (full depth, ints)."""

    spmat: list[int]
    ptr_even: list[int]
    ptr_odd: list[int]
    n_entries: int                 # entries over all passes
    local_rows: list[int]          # rows the PE owns in each pass


@dataclass(frozen=True, eq=False)
class LayerImage:
    """Every memory of the layer for one machine (see the module docstring for the layouts)."""

    cfg: AcceleratorConfig
    tiled: TiledLayer
    n_rows: int
    n_cols: int
    n_passes: int
    n_batches: int
    ptr_stride: int
    pes: tuple[PEImage, ...]
    codebook: list[int]            # signed ints, cfg.codebook_size entries
    acts: list[int]                # one word per batch (unsigned int of cols_per_batch * act_bits bits)
    x: list[int]                   # the activations (signed), n_cols

    @property
    def ptr_depth(self) -> int:
        return self.n_passes * self.ptr_stride // 2

    @property
    def act_word_bits(self) -> int:
        return self.cfg.cols_per_batch * self.cfg.act_bits


def layer_image(cfg: AcceleratorConfig, indices, codebook_q, x) -> LayerImage:
    """Tile and encode the layer (:func:`arch.tiling.tile_layer`: passes, capacity checks) and lay
    out the memories."""
    idx = np.asarray(indices)
    prep = tile_layer(idx, cfg)
    n_rows, n_cols = prep.n_rows, prep.n_cols
    xv = [int(a) for a in np.asarray(x)]
    if len(xv) != n_cols:
        raise EncodingError(f"x has {len(xv)} activations for {n_cols} input columns")
    cb = [int(c) for c in np.asarray(codebook_q)]
    if len(cb) > cfg.codebook_size:
        raise EncodingError(f"the codebook has {len(cb)} entries; index_bits = {cfg.index_bits} allows "
                         f"{cfg.codebook_size}")
    cb = cb + [0] * (cfg.codebook_size - len(cb))
    n_passes, n_batches = prep.n_passes, prep.n_batches
    stride = (n_cols + 1) + ((n_cols + 1) & 1)
    pes = []
    for p in range(cfg.n_pe):
        vs, zs, ptrs, rows = [], [], [], []
        base = 0
        for k in range(n_passes):
            s = prep.streams[k].pes[p]
            cp = [base + int(c) for c in s.col_ptr]
            ptrs.extend(cp + [cp[-1]] * (stride - len(cp)))
            vs.append(np.asarray(s.v))
            zs.append(np.asarray(s.z))
            rows.append(prep.streams[k].local_rows(p))
            base += s.n_entries
        v = np.concatenate(vs) if vs else np.zeros(0, np.int64)
        z = np.concatenate(zs) if zs else np.zeros(0, np.int64)
        words = words_to_ints(pack_words(v, z, cfg)) if base else []
        if len(words) > cfg.spmat_words:
            raise EncodingError(f"PE {p} needs {len(words)} SRAM words; the config has spmat_words = {cfg.spmat_words}")
        if ptrs and max(ptrs) >= (1 << cfg.pointer_bits):
            raise EncodingError(f"PE {p}: pointer {max(ptrs)} does not fit pointer_bits = {cfg.pointer_bits}")
        words = words + [0] * (cfg.spmat_words - len(words))
        pes.append(PEImage(spmat=words, ptr_even=ptrs[0::2], ptr_odd=ptrs[1::2], n_entries=base, local_rows=rows))
    C, A = cfg.cols_per_batch, cfg.act_bits
    mask = (1 << A) - 1
    acts = []
    for b in range(n_batches):
        w = 0
        for s in range(C):
            j = b * C + s
            if j < n_cols:
                w |= (xv[j] & mask) << (s * A)
        acts.append(w)
    return LayerImage(cfg=cfg, tiled=prep, n_rows=n_rows, n_cols=n_cols, n_passes=n_passes, n_batches=n_batches,
                      ptr_stride=stride, pes=tuple(pes), codebook=cb, acts=acts, x=xv)
