"""The cycle-level EIE engine (Numba): docs/microarchitecture.md, cycle for cycle.

Two steps, so one encoding serves many input vectors:

* :func:`prepare_layer` tiles the layer (:func:`arch.tiling.tile_layer`: output passes of
  ``cfg.rows_per_pass`` rows, each encoded as a layer of its own, input batches of
  ``cfg.cols_per_batch`` columns, the capacity checks) and flattens the streams into
  contiguous arrays (:class:`PreparedLayer`).
* :func:`run_layer` runs one input vector through every tile (passes outer, batches inner)
  in a jitted cycle loop and returns a :class:`~sim.results.LayerResult`;
  :func:`run_batch` runs K input vectors in one jitted call, in parallel over the vectors
  (``numba.prange``), and returns exactly what merging the K results of :func:`run_layer`
  would (:meth:`~sim.results.EIELayerResult.merge`).

Per tile the kernel (``_tile``, jitted) is event-driven over the pops, not cycle by cycle:
the page's cycle loop reduces to a recurrence over the broadcasts and the pops (every FIFO
receives the same broadcasts, so a FIFO is full iff its PE has not yet popped the activation
broadcast D before; a PE pops a column when its previous column is finished and the column
has arrived). Between two of its columns with entries a PE's timing is one number (its lag
behind the broadcasts), so the work per column is proportional to the PEs with entries in it
(``PreparedLayer.nz_*``), plus O(1) per PE per tile; idle stretches cost nothing. The
arithmetic of a PE's column is done when it is popped: its entries in address order (their
rows decoded once by :func:`prepare_layer`, ``PreparedLayer.ent``), with arch/fixedpoint.py's
arithmetic. A row's accumulator lives on one
PE, so it receives its terms in column order, exactly as the pipeline would add them. The
cycles, the busy/stalled/idle split and the access counts are those of visiting every PE
every cycle (the tests compare the two).

:mod:`sim.pyengine` is a plain-Python implementation of the literal loop (every PE every
cycle, FIFOs as queues; the independent check and the speed baseline). Both share
:func:`prepare_layer` and :func:`check_inputs`.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numba
import numpy as np
from llvmlite import binding as llvm_binding
from llvmlite import ir as llvm_ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from arch.config import ACCESS_COMPONENTS, PIPELINE_STAGES, AcceleratorConfig, Overflow
from arch.fixedpoint import LayerFormat, signed_max, signed_min, writeback
from arch.tiling import TiledLayer, tile_layer

from .results import EIELayerResult, empty_accesses

__all__ = ["PreparedLayer", "prepare_layer", "run_layer", "run_batch", "check_inputs", "check_batch_inputs",
           "accesses_from_counts"]

@dataclass(frozen=True, eq=False)
class PreparedLayer:
    """A layer tiled and encoded for one AcceleratorConfig (arch/tiling.py) and flattened for the engine.

    Attributes:
        tiled: the passes, batches and per-pass streams (:class:`~arch.tiling.TiledLayer`).
        n_entries: the entries stored over all passes and PEs, fillers included.
        max_index: the largest codebook index the layer uses (0 if none).
        max_column_entries: the most entries one PE has in one column (0 if none).
        nz_ptr: int64 ``(n_passes, n_cols + 1)``: per pass and column j, the (PE, column) pairs
            with entries are ``nz_ptr[k, j] .. nz_ptr[k, j+1]`` of ``nz_pe``, ``nz_c0``, ``nz_off``
            (the engine's per-column work is over these pairs only).
        nz_pe: int32, the PE of each pair, ascending within a column.
        nz_c0: int32, the address of the pair's first entry in the PE's sparse-matrix SRAM, which
            holds the PE's streams of all passes one after another (pass 0's, then pass 1's, ...,
            as hw/image.py lays them out): the entries of the PE's earlier passes plus its column
            pointer j. The word reads count on it.
        nz_off: int64, one more than the pairs: pair q's entries are ``nz_off[q] .. nz_off[q+1]`` (at
            least one) of ``ent``, in address order.
        ent: int32 (int64 if a pass has 2**23 rows or more), the entries of the streams, column-major
            (pass, column, PE, entry address), as ``row << 8 | v``: v the codebook index (0: a
            filler) and row the row of the pass the entry lands on (relative-index decoding done:
            ``local row * n_pe + p``). So the engine reads one column's entries of all PEs from one
            contiguous block, and its arithmetic has no chain from entry to entry.
        lag_bound: more than the broadcaster can fall behind one broadcast per cycle in any tile
            (the most stall cycles): 2 + the largest sum over a batch's columns of
            ``max(1, the most entries one PE has in the column)``; the size of the engine's
            per-tile table of stall cycles by lag.
    """

    tiled: TiledLayer
    n_entries: int
    max_index: int
    max_column_entries: int
    nz_ptr: np.ndarray | None = None
    nz_pe: np.ndarray | None = None
    nz_c0: np.ndarray | None = None
    nz_off: np.ndarray | None = None
    ent: np.ndarray | None = None
    lag_bound: int = 0

    # the tiling, for the engines and their callers
    cfg = property(lambda self: self.tiled.cfg)
    n_rows = property(lambda self: self.tiled.n_rows)
    n_cols = property(lambda self: self.tiled.n_cols)
    n_pe = property(lambda self: self.tiled.n_pe)
    pass_bounds = property(lambda self: self.tiled.pass_bounds)
    batch_bounds = property(lambda self: self.tiled.batch_bounds)
    streams = property(lambda self: self.tiled.streams)
    pe_entries = property(lambda self: self.tiled.pe_entries)
    n_passes = property(lambda self: self.tiled.n_passes)
    n_batches = property(lambda self: self.tiled.n_batches)
    n_tiles = property(lambda self: self.tiled.n_tiles)

    @property
    def total_entries(self) -> int:
        """Entries stored over all passes and PEs, fillers included."""
        return self.n_entries


@numba.njit(cache=True, nogil=True)
def _pairs_of_pass(cp, vz, ebase, sbase, n_pe, q, t, nz_ptr, nz_pe, nz_c0, nz_off, ent, colmax):
    """One pass of :func:`prepare_layer`'s pair arrays: for each column j, the PEs p with entries
    (``cp[p, j + 1] > cp[p, j]``, ascending) become pairs ``q, q + 1, ...`` and their entries
    ``ent[t], ...`` as ``row << 8 | v`` with the relative indices decoded (a column starts at local
    row 0; an entry lands on local row ``pos + z`` and sets ``pos`` to one past it; the row of the
    pass is ``local row * n_pe + p``; ``sbase[p]``: the pass's first address in PE p's SRAM).
    Fills ``nz_ptr`` (n_cols + 1, from the pairs so far),
    ``colmax`` (per column: max(the most entries one PE has, 1)); returns ``(q, t, most)``."""
    n_cols = cp.shape[1] - 1
    most = 0
    nz_ptr[0] = q
    for j in range(n_cols):
        m = 0
        for p in range(n_pe):
            c0 = cp[p, j]
            c1 = cp[p, j + 1]
            if c1 > c0:
                nz_pe[q] = p
                nz_c0[q] = sbase[p] + c0
                pos = 0
                base = ebase[p]
                for c in range(c0, c1):
                    w = np.int64(vz[base + c])
                    r = pos + (w >> 8)
                    ent[t] = ((r * n_pe + p) << 8) | (w & 255)
                    pos = r + 1
                    t += 1
                q += 1
                nz_off[q] = t
                if c1 - c0 > m:
                    m = c1 - c0
        colmax[j] = m if m > 1 else 1
        if m > most:
            most = m
        nz_ptr[j + 1] = q
    return q, t, most


def _pass_pointers(streams) -> np.ndarray:
    """The column pointers of a pass's PEs as one ``(n_pe, n_cols + 1)`` array: the encoder's own
    layer-wide array when every PE's pointers are its rows in order (no copy), else a stack."""
    pes = streams.pes
    whole = pes[0].col_ptr.base if pes else None
    if (isinstance(whole, np.ndarray) and whole.shape == (len(pes), streams.n_cols + 1)
            and all(pe.col_ptr.base is whole and pe.col_ptr.__array_interface__["data"][0]
                    == whole[p].__array_interface__["data"][0] for p, pe in enumerate(pes))):
        return whole
    return np.stack([pe.col_ptr for pe in pes]) if pes else np.zeros((0, streams.n_cols + 1), np.int64)


def prepare_layer(indices: np.ndarray, cfg: AcceleratorConfig, enforce_capacity: bool = True) -> PreparedLayer:
    """Tile and encode a layer for ``cfg`` once (:func:`arch.tiling.tile_layer`), into the arrays the
    engines run from.

    Args:
        indices: 2-D integer codebook indices, rows = outputs, columns = inputs (the bias, if
            any, is already the last column; all columns are treated alike).
        cfg: the machine (n_pe, fifo_depth, act_regs_per_pe, widths, SRAM size).
        enforce_capacity: refuse a layer that does not fit the sparse-matrix SRAM (the
            default); see :func:`arch.tiling.tile_layer`.

    Returns:
        A reusable :class:`PreparedLayer`.

    Raises:
        EncodingError: as :func:`arch.tiling.tile_layer`.
    """
    tiled = tile_layer(indices, cfg, enforce_capacity)
    n_pe, n_pass, n_cols = cfg.n_pe, tiled.n_passes, tiled.n_cols
    vzs = []
    entry_base = np.zeros((n_pass, n_pe), dtype=np.int64)
    sram_base = np.zeros((n_pass, n_pe), dtype=np.int64)     # a pass's first address in each PE's SRAM
    base = 0
    max_index = 0
    for k, s in enumerate(tiled.streams):
        for p, pe in enumerate(s.pes):
            entry_base[k, p] = base
            base += pe.n_entries
            if k + 1 < n_pass:
                sram_base[k + 1, p] = sram_base[k, p] + pe.n_entries
            vzs.append(pe.v.astype(np.uint16) | (pe.z.astype(np.uint16) << 8))
            if pe.n_entries:
                max_index = max(max_index, int(pe.v.max()))
    vz = np.concatenate(vzs) if vzs else np.zeros(0, np.uint16)       # a temporary: not kept
    del vzs
    if n_pass and int((sram_base[-1] + [pe.n_entries for pe in tiled.streams[-1].pes]).max(initial=0)) >= 1 << 31:
        raise ValueError("a PE holds 2**31 entries or more over its passes; the engine addresses them with int32")
    max_col = 0
    # the (PE, column) pairs with entries, column by column, and their entries column-major (ent)
    pointers = [_pass_pointers(st) for st in tiled.streams]          # (n_pe, n_cols + 1) each, no copy
    n_pairs = sum(int(np.count_nonzero(cp[:, 1:] > cp[:, :-1])) for cp in pointers)
    nz_ptr = np.zeros((n_pass, n_cols + 1), dtype=np.int64)
    nz_pe = np.empty(n_pairs, dtype=np.int32)
    nz_c0 = np.empty(n_pairs, dtype=np.int32)
    nz_off = np.zeros(n_pairs + 1, dtype=np.int64)
    ent = np.empty(int(base), dtype=np.int64)
    colmax = np.ones(n_cols, dtype=np.int64)               # per column: max(its most entries on one PE, 1)
    lag_bound = 2
    q = t = 0
    for k in range(n_pass):
        q, t, most = _pairs_of_pass(pointers[k], vz, entry_base[k], sram_base[k], n_pe, q, t, nz_ptr[k], nz_pe,
                                    nz_c0, nz_off,
                                    ent, colmax)
        max_col = max(max_col, int(most))
        for b0, b1 in zip(tiled.batch_bounds[:-1], tiled.batch_bounds[1:]):
            lag_bound = max(lag_bound, int(colmax[b0:b1].sum()) + 2)
    del vz, pointers
    if ent.size == 0 or int(ent.max()) < 1 << 31:
        ent = ent.astype(np.int32)                          # rows of a pass < 2**23 (always in practice)
    for arr in (nz_ptr, nz_pe, nz_c0, nz_off, ent):
        arr.flags.writeable = False
    return PreparedLayer(tiled=tiled, n_entries=int(base), max_index=max_index,
                         max_column_entries=max_col, nz_ptr=nz_ptr, nz_pe=nz_pe, nz_c0=nz_c0,
                         nz_off=nz_off, ent=ent, lag_bound=lag_bound)


def _check_integers(**arrays) -> None:
    for name, arr in arrays.items():
        if not np.issubdtype(np.asarray(arr).dtype, np.integer):
            raise ValueError(f"{name} must be integers (fixed point); got dtype {np.asarray(arr).dtype}")


def _check_codebook(prep: PreparedLayer, codebook_q) -> np.ndarray:
    cb = np.array(codebook_q, dtype=np.int64)        # fresh, writable, contiguous copy
    if cb.ndim != 1 or cb.shape[0] <= prep.max_index:
        raise ValueError(f"codebook_q must be 1-D with more than {prep.max_index} entries (the layer uses "
                         f"index {prep.max_index}); got shape {cb.shape}")
    if cb.shape[0] and cb[0] != 0:
        raise ValueError(f"codebook entry 0 is {int(cb[0])}; it must be 0 (the pruned weight)")
    return cb


def _check_act_range(xmin: int, xmax: int, fmt: LayerFormat, where: str = "") -> None:
    lo, hi = signed_min(fmt.act_bits), signed_max(fmt.act_bits)
    if xmin < lo or xmax > hi:
        raise ValueError(f"activations span {xmin}..{xmax}{where}; the {fmt.act_bits}-bit "
                         f"activation format allows {lo}..{hi}")


def _check_shift(fmt: LayerFormat) -> None:
    if fmt.product_shift < 0:
        raise ValueError(f"product_shift = {fmt.product_shift} < 0 is not allowed (arch/fixedpoint.py)")


def check_inputs(prep: PreparedLayer, codebook_q, x, fmt: LayerFormat) -> tuple[np.ndarray, np.ndarray]:
    """Validate and convert the run inputs; returns ``(codebook_q, x)`` as contiguous int64."""
    _check_integers(codebook_q=codebook_q, x=x)
    cb = _check_codebook(prep, codebook_q)
    xv = np.array(x, dtype=np.int64)                 # fresh, writable, contiguous copy
    if xv.shape != (prep.n_cols,):
        raise ValueError(f"x must have shape ({prep.n_cols},) (one activation per input column, bias "
                         f"included); got {xv.shape}")
    if xv.size:
        _check_act_range(int(xv.min()), int(xv.max()), fmt)
    _check_shift(fmt)
    return cb, xv


def check_batch_inputs(prep: PreparedLayer, codebook_q, X, fmt: LayerFormat) -> tuple[np.ndarray, np.ndarray]:
    """:func:`check_inputs` for K input vectors at once (the rows of ``X``), without copying ``X``.

    Returns ``(codebook_q, X)``: the codebook as a contiguous int64 copy and ``X`` as an array of
    shape ``(K, n_cols)`` with K >= 1, of any integer dtype and layout (the caller converts it
    block by block).
    """
    X = np.asarray(X)
    if X.ndim >= 1 and X.shape[0] == 0:
        raise ValueError(f"X holds no input vectors (K = 0, shape {X.shape}); a batch needs at least one "
                         f"row of {prep.n_cols} activations")
    _check_integers(codebook_q=codebook_q, X=X)
    cb = _check_codebook(prep, codebook_q)
    if X.ndim != 2 or X.shape[1] != prep.n_cols:
        raise ValueError(f"X must have shape (K, {prep.n_cols}) (one row of activations per input vector, "
                         f"bias column included); got {X.shape}")
    if X.size:
        xmin, xmax = int(X.min()), int(X.max())
        lo, hi = signed_min(fmt.act_bits), signed_max(fmt.act_bits)
        if xmin < lo or xmax > hi:
            k = int(np.argmax(((X < lo) | (X > hi)).any(axis=1)))
            _check_act_range(xmin, xmax, fmt, f" (the first out of range in input vector {k})")
    _check_shift(fmt)
    return cb, X


def make_result(prep: PreparedLayer, acc: np.ndarray, fmt: LayerFormat, relu: bool, tile_cycles,
                busy, stalled, entries: int, fillers: int, broadcasts: int, accesses: dict,
                seconds: float) -> EIELayerResult:
    """Write-back (arithmetic contract) and the result; idle = cycles - busy - stalled per PE."""
    tc = [int(c) for c in tile_cycles]
    cycles = sum(tc)
    busy = np.asarray(busy, dtype=np.int64).copy()
    stalled = np.asarray(stalled, dtype=np.int64).copy()
    idle = cycles - busy - stalled
    return EIELayerResult(n_rows=prep.n_rows, n_cols=prep.n_cols,
                          outputs=writeback(np.asarray(acc, dtype=np.int64), fmt, relu).astype(np.int64),
                          cycles=cycles, accesses=accesses, engine_seconds=float(seconds), n_pe=prep.n_pe,
                          tile_cycles=tc, busy=busy, idle=idle, stalled=stalled, entries=int(entries),
                          fillers=int(fillers), broadcasts=int(broadcasts), stored_entries=prep.total_entries,
                          max_pe_entries=prep.tiled.max_pe_entries, n_tiles=prep.n_tiles)


# ---------------------------------------------------------------------------
# the jitted kernels
# ---------------------------------------------------------------------------

# LLVM's prefetch intrinsic is overloaded on the pointer type since LLVM 15 (opaque pointers)
_PREFETCH = "llvm.prefetch.p0" if llvm_binding.llvm_version_info >= (15,) else "llvm.prefetch"


@intrinsic
def _prefetch(typingctx, arr, idx):
    """Hint the CPU to fetch ``arr[idx]`` into the caches (LLVM's prefetch: read, keep, data); no effect
    on any result."""
    sig = types.void(arr, idx)

    def codegen(context, builder, signature, args):
        aryty = signature.args[0]
        ary = context.make_array(aryty)(context, builder, args[0])
        ptr = cgutils.get_item_pointer(context, builder, aryty, ary, [args[1]], wraparound=False)
        i32 = llvm_ir.IntType(32)
        i8p = llvm_ir.IntType(8).as_pointer()
        fnty = llvm_ir.FunctionType(llvm_ir.VoidType(), [i8p, i32, i32, i32])
        fn = cgutils.get_or_insert_function(builder.module, fnty, _PREFETCH)
        builder.call(fn, [builder.bitcast(ptr, i8p), llvm_ir.Constant(i32, 0), llvm_ir.Constant(i32, 3),
                          llvm_ir.Constant(i32, 1)])
        return context.get_dummy_value()
    return sig, codegen


@numba.njit(cache=True, nogil=True)
def _tile(ent, nzp, nz_pe, nz_c0, nz_off, J, nJ, x, n_pe, D, slot_bits, cb, shift, wrap, acc_bits, acc, row0,
          busy, stalled, cnt, pes, cols, sk, prod):
    """One tile (docs/microarchitecture.md): its timing and its arithmetic, event by event. Returns its cycles.

    ``J[:nJ]``: the batch's nonzero columns, ascending; ``nzp[j] .. nzp[j+1]`` index the
    (PE, column) pairs of column j in this pass (:class:`PreparedLayer`: ``nz_pe``, ``nz_c0``,
    ``nz_off``; the entries ``ent``). Adds each PE's busy and stalled cycles (idle:
    the rest, by the caller) and the counters entries, fillers and spmat word reads to
    ``cnt[0]``, ``cnt[1]``, ``cnt[4]``. ``pes`` (n_pe, 8), ``cols`` (2+, n_cols + 1) and ``sk``
    (``lag_bound``) and ``prod`` (len(cb)) are scratch, reset here.

    The page's cycle loop reduces to a max-plus recurrence over the pops; the work per column is
    proportional to the PEs with entries in it (plus O(1) per PE per tile), and no cycle is
    ticked:

    * ``b(k)``, the broadcast cycle of ``J[k]``; ``pop_p(k)``, the cycle PE p pops it. Every FIFO
      receives the same broadcasts, so p's FIFO is full at the start of t iff it has not popped
      ``k - D`` before t: ``b(k) = max(b(k-1) + 1, 1 + max_p pop_p(k - D))`` (``b(k) = k`` for
      k < D), and every cycle before the last broadcast that is not a broadcast is a stall.
      A PE pops k once its column is finished and k has arrived:
      ``pop_p(k) = max(pop_p(k-1) + max(n, 1), b(k) + 1)``, n = its entries in column k-1
      (``pop_p(-1) + max(n, 1) = 0``); the pop hides under the last fetch when the first term
      wins with n > 0.
    * In offsets from the column index, ``c(k) = b(k) - k`` (``cc``, non-decreasing) and
      ``d_p(k) = pop_p(k) - k``: an empty column gives ``d_p(k) = max(d_p(k-1), c(k) + 1)``, a
      column of n entries adds ``n - 1`` first. So a PE carries one lag ``L`` (``pes[p, 0]``),
      changed only at its columns with entries: ``d_p(k) = max(L, c(k) + 1)``, and
      ``L = d_p(k) + n - 1`` after column k. Each PE's L never decreases, so
      ``max_p d_p(k) = max(c(k) + 1, the largest L set before k)`` (``mm``).
    * busy: ``nJ`` pops + entries - hidden pops (``L > c(k)`` at the pop after a column with
      entries). Stalled: before the pop of k a PE that has finished waits from its last busy
      cycle + 1 to ``b(k)``; those are stall cycles but ``b(k)``. Over the pops of ``k1 .. k2``
      (columns ``k1 .. k2 - 1`` empty on the PE, ``k1 - 1`` not, lag L) that is
      ``max(c(k1) - L - 1, 0)`` for the first, then, for the empty columns, the values in
      ``max(L, c(k1) + 1) .. c(k2)`` that ``c`` skips (a PE behind the broadcasts pops back to back
      until it catches up, then waits out every gap but one cycle): ``sk[v]`` counts the skipped
      values up to v. Added at each column with entries and at the end of the tile.
    * ``t_last``: the last pop or fetch (all after the last broadcast); the tile takes
      ``t_last + 1 + P`` cycles, 1 when nJ = 0.

    The arithmetic is done column by column, after the column's timing: the column's entries of
    every PE are one contiguous block of ``ent`` (their rows decoded by :func:`prepare_layer`),
    no two on the same row, so one flat loop applies arch/fixedpoint.py's arithmetic to them. A
    row's accumulator lives on one PE, so it receives its terms in column order. A filler (``v == 0``)
    adds ``(a * cb[0]) >> shift = 0`` (``prod[0]``), which leaves an accumulator unchanged in both overflow
    modes, so it needs no branch. An SRAM word is read per fetch whose word
    ``address >> slot_bits`` differs from the PE's previous fetch in the tile.
    """
    if nJ == 0:
        return 1                                   # the LNZD finds nothing
    # per PE, one row (one cache line): 0: L, the lag after its last column with entries; 1: that
    # column + 1 (0: none yet); 2: the SRAM word of its last fetch; 3, 4: busy and stalled cycles
    for p in range(n_pe):
        pes[p, 0] = -1                             # pop_p(0) = b(0) + 1 = 1, free from cycle 0
        pes[p, 1] = 0
        pes[p, 2] = -1                             # the first fetch of a tile always reads
        pes[p, 3] = 0
        pes[p, 4] = 0
    cc = cols[0]
    mm = cols[1]
    ncb = cb.shape[0]
    hi_acc = (np.int64(1) << (acc_bits - 1)) - 1
    lo_acc = -hi_acc - 1
    mask = (np.int64(1) << acc_bits) - 1
    n_ent = 0
    n_fill = 0
    n_words = 0
    lmax = -1                                      # the largest L set so far
    c = 0                                          # c(k)
    sk[0] = 0
    for k in range(nJ):
        if k >= D:                                 # 1. broadcast: after every PE popped k - D
            v = mm[k - D] + 1 - D
            if v > c:                              # values c+1 .. v-1 skipped, v taken
                if v >= sk.shape[0]:
                    raise AssertionError("the broadcast lag exceeds PreparedLayer.lag_bound")
                s0 = sk[c] - c
                for u in range(c + 1, v):
                    sk[u] = s0 + u
                sk[v] = s0 + v - 1
                c = v
        cc[k] = c
        sc = sk[c]
        mm[k] = max(c + 1, lmax)
        j = J[k]
        a = x[j]
        for u in range(ncb):                       # the column's term per codebook index
            prod[u] = (a * cb[u]) >> shift
        if k + 2 < nJ:                             # prefetch: the pairs two columns ahead,
            q = nzp[J[k + 2]]
            qe = min(nzp[J[k + 2] + 1], q + 128)
            for u in range(q, qe, 8):
                _prefetch(nz_off, u)
            for u in range(q, qe, 16):
                _prefetch(nz_pe, u)
                _prefetch(nz_c0, u)
        if k + 1 < nJ:                             # the entries one column ahead
            q = nzp[J[k + 1]]
            u0 = nz_off[q]
            ue = min(nz_off[nzp[J[k + 1] + 1]], u0 + 512)
            for u in range(u0, ue, 16):
                _prefetch(ent, u)
        for q in range(nzp[j], nzp[j + 1]):        # the PEs with entries in column j
            p = nz_pe[q]
            e0 = nz_off[q]
            e1 = nz_off[q + 1]
            n = e1 - e0
            Lp = pes[p, 0]
            k1 = pes[p, 1]                         # the pops of k1 .. k: their waits
            ck1 = cc[k1]
            pes[p, 4] += max(ck1 - Lp - 1, 0) + sc - sk[min(max(Lp - 1, ck1), c)]
            pes[p, 3] += n - np.int64(Lp > ck1)    # 2. its fetches after the pop; a hidden pop
            Lp = max(Lp, c + 1) + n - 1
            pes[p, 0] = Lp
            pes[p, 1] = k + 1
            if Lp > lmax:
                lmax = Lp
            c0 = np.int64(nz_c0[q])
            w0 = c0 >> slot_bits
            w1 = (c0 + n - 1) >> slot_bits
            n_words += w1 - w0 + 1 - (w0 == pes[p, 2])
            pes[p, 2] = w1
        # the column's entries of every PE are one contiguous block of ent, and no two of them
        # share a row (a row lives on one PE, with one entry per column): one flat loop
        a0 = nz_off[nzp[j]]
        a1 = nz_off[nzp[j + 1]]
        n_ent += a1 - a0
        if wrap:
            for ad in range(a0, a1):
                e = ent[ad]
                vv = e & 255
                i = row0 + (e >> 8)
                acc[i] = ((acc[i] + prod[vv] - lo_acc) & mask) + lo_acc
                n_fill += vv == 0
        else:
            for ad in range(a0, a1):
                e = ent[ad]
                vv = e & 255
                i = row0 + (e >> 8)
                acc[i] = min(max(acc[i] + prod[vv], lo_acc), hi_acc)
                n_fill += vv == 0
    cnt[0] += n_ent
    cnt[1] += n_fill
    cnt[4] += n_words
    cl = cc[nJ - 1]
    t_last = 0
    for p in range(n_pe):                          # the columns since each PE's last with entries
        Lp = pes[p, 0]
        k1 = pes[p, 1]
        st = pes[p, 4]
        bz = pes[p, 3] + nJ
        if k1 < nJ:                                # the pops of k1 .. nJ - 1: their waits
            ck1 = cc[k1]
            st += max(ck1 - Lp - 1, 0) + sc - sk[min(max(Lp - 1, ck1), cl)]
            bz -= np.int64(Lp > ck1)
            e = max(Lp, cl + 1) + nJ - 1           # the pop of the last column
        else:
            e = Lp + nJ                            # the last fetch of the last column
        busy[p] += bz
        stalled[p] += st
        if e > t_last:
            t_last = e
    return t_last + 1 + PIPELINE_STAGES            # P = 4 stages drain the last entry


@numba.njit(cache=True, nogil=True)
def _vector_tiles(ent, nz_ptr, nz_pe, nz_c0, nz_off, pass_bounds, batch_bounds, x, n_pe, D, slot_bits, cb,
                  shift, wrap, acc_bits, acc, tile_cycles, busy, stalled, cnt, pes, cols, sk):
    """One input vector ``x`` through every tile of the layer, passes outer, batches inner (:func:`_tile`).

    Accumulates into ``acc`` (n_rows, zero on entry), writes ``tile_cycles`` (n_tiles) and adds
    to ``busy``, ``stalled`` (n_pe) and the counters ``cnt`` (entries, fillers, broadcasts,
    pops, spmat word reads). ``pes`` (n_pe, 8), ``cols`` (3, n_cols + 1) and ``sk`` (lag_bound) are scratch.
    """
    n_pass = pass_bounds.shape[0] - 1
    n_batch = batch_bounds.shape[0] - 1
    J = cols[2]
    prod = np.empty(cb.shape[0], dtype=np.int64)   # a column's terms (a * cb[v]) >> shift
    for k in range(n_pass):
        for b in range(n_batch):
            nJ = 0
            for j in range(batch_bounds[b], batch_bounds[b + 1]):
                if x[j] != 0:
                    J[nJ] = j
                    nJ += 1
            tile_cycles[k * n_batch + b] = _tile(ent, nz_ptr[k], nz_pe, nz_c0, nz_off, J, nJ, x, n_pe,
                                                 D, slot_bits, cb, shift, wrap, acc_bits, acc, pass_bounds[k], busy,
                                                 stalled, cnt, pes, cols, sk, prod)
            cnt[2] += nJ
            cnt[3] += nJ * n_pe


@numba.njit(cache=True, nogil=True)
def _layer_kernel(ent, nz_ptr, nz_pe, nz_c0, nz_off, pass_bounds, batch_bounds, x, n_pe, D, slot_bits, cb,
                  shift, wrap, acc_bits, lag_bound):
    """Every tile of the layer for one input vector (:func:`_vector_tiles`).

    Returns (acc, tile_cycles, busy, stalled, counters: entries, fillers, broadcasts, pops,
    spmat word reads).
    """
    n_pass = pass_bounds.shape[0] - 1
    n_batch = batch_bounds.shape[0] - 1
    acc = np.zeros(pass_bounds[n_pass], dtype=np.int64)
    tile_cycles = np.zeros(n_pass * n_batch, dtype=np.int64)
    busy = np.zeros(n_pe, dtype=np.int64)
    stalled = np.zeros(n_pe, dtype=np.int64)
    cnt = np.zeros(5, dtype=np.int64)
    _vector_tiles(ent, nz_ptr, nz_pe, nz_c0, nz_off, pass_bounds, batch_bounds, x, n_pe, D, slot_bits, cb,
                  shift, wrap, acc_bits, acc, tile_cycles, busy, stalled, cnt, np.empty((n_pe, 8), dtype=np.int64),
                  np.empty((3, x.shape[0] + 1), dtype=np.int64), np.empty(lag_bound, dtype=np.int64))
    return acc, tile_cycles, busy, stalled, cnt


@numba.njit(cache=True, nogil=True, parallel=True)
def _batch_kernel(ent, nz_ptr, nz_pe, nz_c0, nz_off, pass_bounds, batch_bounds, X, n_pe, D, slot_bits, cb,
                  shift, wrap, acc_bits, chunk_bounds, acc, tile_cycles, busy, stalled, cnt, pes, cols, sk):
    """The rows of ``X`` (K vectors) through the layer, chunk by chunk in parallel (``prange``).

    Chunk ``c`` is the vectors ``chunk_bounds[c] .. chunk_bounds[c+1]``, run one after another
    by one thread with row ``c`` of the scratch arrays ``pes`` (n_chunks, n_pe, 8), ``cols``
    (n_chunks, 3, n_cols + 1), ``sk`` (n_chunks, lag_bound) and of the per-chunk sums ``busy``, ``stalled`` (n_chunks, n_pe)
    and ``cnt`` (n_chunks, 5), which it adds to. Vector ``k`` accumulates into ``acc[k]`` (zero
    on entry) and writes ``tile_cycles[k]``. Any thread may run any chunk, but only one at a
    time; every figure is an integer sum, so the result does not depend on the chunks or the
    threads.
    """
    for c in numba.prange(chunk_bounds.shape[0] - 1):
        for k in range(chunk_bounds[c], chunk_bounds[c + 1]):
            _vector_tiles(ent, nz_ptr, nz_pe, nz_c0, nz_off, pass_bounds, batch_bounds, X[k], n_pe, D,
                          slot_bits, cb, shift, wrap, acc_bits, acc[k], tile_cycles[k], busy[c], stalled[c], cnt[c],
                          pes[c], cols[c], sk[c])


@numba.njit(cache=True, nogil=True)
def _batch_kernel_serial(ent, nz_ptr, nz_pe, nz_c0, nz_off, pass_bounds, batch_bounds, X, n_pe, D,
                         slot_bits, cb, shift, wrap, acc_bits, acc, tile_cycles, busy, stalled, cnt, pes, cols, sk):
    """:func:`_batch_kernel` with one chunk, in the calling thread: no parallel region to start
    (whose wake-up of the other threads costs more than a few vectors on a busy machine)."""
    for k in range(X.shape[0]):
        _vector_tiles(ent, nz_ptr, nz_pe, nz_c0, nz_off, pass_bounds, batch_bounds, X[k], n_pe, D,
                      slot_bits, cb, shift, wrap, acc_bits, acc[k], tile_cycles[k], busy, stalled, cnt, pes, cols, sk)


def _load_kernel(kernel, args) -> float:
    """Load ``kernel`` for the types of ``args`` (from Numba's cache, or compile it) before the timed
    call, so that the engine time is the warm run alone. Returns the seconds the load took: 0 when
    this process already has it (the first-call cost, reported apart as ``first_call_seconds``)."""
    sig = tuple(numba.typeof(a) for a in args)
    if sig in kernel.overloads:
        return 0.0
    t0 = time.perf_counter()
    kernel.compile(sig)
    return time.perf_counter() - t0


def accesses_from_counts(prep: PreparedLayer, entries: int, fillers: int, broadcasts: int, pops: int,
                         spmat_reads: int) -> dict[str, dict[str, int]]:
    """The access table of docs/microarchitecture.md from the run's event counts."""
    n_pe = prep.n_pe
    useful = entries - fillers
    n_passes = prep.n_passes
    batch_cols = prep.n_cols          # the batches' columns, summed over the batches of one pass
    acc = empty_accesses(ACCESS_COMPONENTS)
    acc["spmat_sram"]["reads"] = spmat_reads
    acc["ptr_sram"]["reads"] = 2 * pops
    acc["act_regs"]["reads"] = n_passes * batch_cols + useful
    acc["act_regs"]["writes"] = useful + prep.n_rows
    if prep.n_tiles > 1:
        acc["act_sram"]["reads"] = n_passes * batch_cols
    if n_passes > 1:
        acc["act_sram"]["writes"] = prep.n_rows
    acc["codebook"]["reads"] = useful
    acc["fifo"]["reads"] = pops
    acc["fifo"]["writes"] = n_pe * broadcasts
    acc["mul"]["reads"] = useful
    acc["add"]["reads"] = useful
    acc["broadcast"]["reads"] = broadcasts
    return acc


def run_layer(prep: PreparedLayer, codebook_q: np.ndarray, x: np.ndarray, fmt: LayerFormat,
              relu: bool) -> EIELayerResult:
    """Run one input vector through the layer, cycle by cycle (Numba).

    Args:
        prep: from :func:`prepare_layer`.
        codebook_q: int64 quantized codebook (entry 0 is 0), ``fmt.weight_*`` format.
        x: int64 activations, shape ``(n_cols,)``, in the activation format (the bias column's
            activation is ``arch.fixedpoint.one``).
        fmt: the layer's formats (arch.fixedpoint.layer_format).
        relu: apply ReLU at write-back.

    Returns:
        EIELayerResult with the outputs (int64, activation format), cycles per tile, per-PE
        busy/idle/stalled cycles, entry/filler/broadcast counts and the access counts.
    """
    cb, xv = check_inputs(prep, codebook_q, x, fmt)
    cfg = prep.cfg
    args = (prep.ent, prep.nz_ptr, prep.nz_pe, prep.nz_c0, prep.nz_off, prep.pass_bounds,
            prep.batch_bounds, xv, cfg.n_pe, cfg.fifo_depth, cfg.slot_bits, cb, int(fmt.product_shift),
            fmt.overflow is Overflow.WRAP, int(fmt.acc_bits), prep.lag_bound)
    first = _load_kernel(_layer_kernel, args)
    t0 = time.perf_counter()
    acc, tile_cycles, busy, stalled, cnt = _layer_kernel(*args)
    entries, fillers, bcast, pops, spmat = (int(c) for c in cnt)
    accesses = accesses_from_counts(prep, entries, fillers, bcast, pops, spmat)
    res = make_result(prep, acc, fmt, relu, tile_cycles, busy, stalled, entries, fillers, bcast, accesses,
                      time.perf_counter() - t0)
    res.first_call_seconds = first
    return res


#: run_batch works through the vectors in blocks of at most this many output (or input) values,
#: so that the write-back's temporaries and an int64 copy of a block of X stay small for any K.
BATCH_BLOCK_VALUES = 1 << 22
#: Chunks of vectors per Numba thread within a block (each chunk has its own scratch).
CHUNKS_PER_THREAD = 4


def run_batch(prep: PreparedLayer, codebook_q: np.ndarray, X: np.ndarray, fmt: LayerFormat,
              relu: bool) -> EIELayerResult:
    """Run K input vectors (the rows of ``X``) through the layer in one jitted call per block.

    The vectors run in parallel (``numba.prange`` over chunks of vectors, each chunk with its
    own scratch and per-PE sums; ``NUMBA_NUM_THREADS`` threads). The result equals
    ``EIELayerResult.merge([run_layer(prep, codebook_q, X[k], fmt, relu) for k in range(K)])``
    in every field but ``engine_seconds`` and ``first_call_seconds``, whatever the number of threads: outputs ``(K, n_rows)``,
    cycles, ``tile_cycles`` (K x n_tiles, vector-major), per-PE busy/idle/stalled, entries,
    fillers, broadcasts and accesses summed, ``runs = K``.

    Memory: besides the result (outputs K x n_rows int64; ``tile_cycles`` K x n_tiles ints), only
    per block of ``BATCH_BLOCK_VALUES // max(n_rows, n_cols)`` vectors: the write-back's
    temporaries and, unless ``X`` is C-contiguous writable int64, an int64 copy of the block's
    rows. With one vector or one Numba thread the vectors run in the calling thread, without a
    parallel region.

    Args:
        prep: from :func:`prepare_layer`.
        codebook_q: as :func:`run_layer`.
        X: integer activations, shape ``(K, n_cols)`` with K >= 1 (any integer dtype and layout;
            it is never copied as a whole).
        fmt, relu: as :func:`run_layer`.

    Raises:
        ValueError: as :func:`run_layer`'s checks (any row), or K = 0.
    """
    cb, X = check_batch_inputs(prep, codebook_q, X, fmt)
    first = 0.0
    t0 = time.perf_counter()
    cfg = prep.cfg
    K, n_cols = X.shape
    n_rows, n_pe, n_tiles = prep.n_rows, prep.n_pe, prep.n_tiles
    threads = numba.get_num_threads()
    n_chunks = 1 if threads == 1 else max(1, min(K, CHUNKS_PER_THREAD * threads))
    block = max(1, BATCH_BLOCK_VALUES // max(1, n_rows, n_cols))
    out = np.zeros((K, n_rows), dtype=np.int64)
    tile_cycles = np.empty((K, n_tiles), dtype=np.int64)
    busy = np.zeros((n_chunks, n_pe), dtype=np.int64)
    stalled = np.zeros((n_chunks, n_pe), dtype=np.int64)
    cnt = np.zeros((n_chunks, 5), dtype=np.int64)
    scratch = (np.empty((n_chunks, n_pe, 8), np.int64), np.empty((n_chunks, 3, n_cols + 1), np.int64),
               np.empty((n_chunks, prep.lag_bound), np.int64))
    wrap = fmt.overflow is Overflow.WRAP
    for s in range(0, K, block):
        e = min(K, s + block)
        xb = X[s:e]
        if xb.dtype != np.int64 or not xb.flags.c_contiguous or not xb.flags.writeable:
            xb = np.array(xb, dtype=np.int64, order="C")     # one jitted signature for every caller
        acc = out[s:e]
        args = (prep.ent, prep.nz_ptr, prep.nz_pe, prep.nz_c0, prep.nz_off, prep.pass_bounds,
                prep.batch_bounds, xb, cfg.n_pe, cfg.fifo_depth, cfg.slot_bits, cb, int(fmt.product_shift), wrap,
                int(fmt.acc_bits))
        m = min(e - s, n_chunks)
        if m == 1:
            kargs = (*args, acc, tile_cycles[s:e], busy[0], stalled[0], cnt[0], *(a[0] for a in scratch))
            kernel = _batch_kernel_serial
        else:
            chunk_bounds = (np.arange(m + 1, dtype=np.int64) * (e - s)) // m
            kargs = (*args, chunk_bounds, acc, tile_cycles[s:e], busy, stalled, cnt, *scratch)
            kernel = _batch_kernel
        load = _load_kernel(kernel, kargs)          # the first-call cost, apart from the warm time
        first += load
        t0 += load
        if m == 1:
            kernel(*kargs)
        else:
            with numba.parallel_chunksize(1):       # chunks go to whichever thread is free
                kernel(*kargs)
        acc[...] = writeback(acc, fmt, relu)
    entries, fillers, bcast, pops, spmat = (int(c) for c in cnt.sum(axis=0))
    accesses = accesses_from_counts(prep, entries, fillers, bcast, pops, spmat)
    per_run = accesses_from_counts(prep, 0, 0, 0, 0, 0)       # the table's constant part, once per vector
    for comp, rw in accesses.items():
        for key in rw:
            rw[key] += (K - 1) * per_run[comp][key]
    busy_pe = busy.sum(axis=0)
    stalled_pe = stalled.sum(axis=0)
    cycles = int(tile_cycles.sum())
    return EIELayerResult(n_rows=n_rows, n_cols=prep.n_cols, outputs=out, cycles=cycles, accesses=accesses,
                          runs=K, engine_seconds=time.perf_counter() - t0, first_call_seconds=first, n_pe=n_pe,
                          tile_cycles=tile_cycles.ravel().tolist(), busy=busy_pe, idle=cycles - busy_pe - stalled_pe,
                          stalled=stalled_pe, entries=entries, fillers=fillers, broadcasts=bcast,
                          stored_entries=prep.total_entries, max_pe_entries=prep.tiled.max_pe_entries,
                          n_tiles=n_tiles)
