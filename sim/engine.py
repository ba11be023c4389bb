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

Per tile the kernel has two parts, both jitted:

* ``_tile_timing``, the cycle loop: cycle by cycle, on the state at the start of each cycle,
  (1) the broadcaster sends the next nonzero activation if every FIFO has room, else it
  stalls; (2) a PE with entries left fetches one; (3) a PE whose column is finished and whose
  FIFO was non-empty pops the head and reads the column's two pointers; (4) the broadcast
  enters every FIFO at the end of the cycle. The tile takes ``t_last + 1 + P`` cycles
  (``P = 4`` pipeline stages), 1 when the batch has no nonzero activation. For speed the loop
  visits a PE only in the cycles where it can pop (a PE fetching a column can do nothing
  else until its last fetch), which gives the same cycles, busy/stalled/idle split and
  access counts as visiting every PE every cycle (the tests compare the two).
* ``_tile_arith``, the datapath: every entry the PEs fetch in the tile, in each PE's fetch
  order (its columns in broadcast order, each column's entries in address order), with
  relative-index decoding and arch/fixedpoint.py's arithmetic. A row's accumulator lives on
  one PE, so it receives its terms in column order, exactly as the pipeline would add them.

:mod:`sim.pyengine` is a plain-Python implementation of the literal loop (every PE every
cycle, FIFOs as queues; the independent check and the speed baseline). Both share
:func:`prepare_layer` and :func:`check_inputs`.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numba
import numpy as np

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
        vz: uint16, every entry of every pass and PE as ``v | z << 8`` (pass-major, then PE, then
            entry address; ``index_bits`` and ``rel_index_bits`` are at most 8).
        entry_base: int64 ``(n_passes, n_pe)``: where PE ``p``'s stream of pass ``k`` starts in vz
            (its entry address 0).
        col_ptr: int64 ``(n_passes, n_cols + 1, n_pe)``: ``col_ptr[k, j, p]`` is PE ``p``'s pointer
            ``j`` in pass ``k`` (an entry address local to that PE's stream of that pass). Column-major
            in the PE so that one column's pointers of all PEs are adjacent in memory.
        max_index: the largest codebook index the layer uses (0 if none).
        max_column_entries: the most entries one PE has in one column (0 if none).
        pe_order: int64 ``(n_passes, n_pe + 1)``: per pass the PEs that hold entries, then those
            that hold none; the last column is how many hold entries. The PEs without entries
            all behave alike, so the timing loop runs one of them for all (docs/simulator.md).
    """

    tiled: TiledLayer
    vz: np.ndarray
    entry_base: np.ndarray
    col_ptr: np.ndarray
    max_index: int
    max_column_entries: int
    pe_order: np.ndarray | None = None

    @property
    def calendar_size(self) -> int:
        """The engine's event-calendar length: a power of two > the longest column + 1 cycles."""
        return 1 << (self.max_column_entries + 2).bit_length()

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
        return int(self.vz.shape[0])


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
    col_ptr = np.zeros((n_pass, n_cols + 1, n_pe), dtype=np.int64)
    base = 0
    max_index = 0
    for k, s in enumerate(tiled.streams):
        for p, pe in enumerate(s.pes):
            entry_base[k, p] = base
            base += pe.n_entries
            col_ptr[k, :, p] = pe.col_ptr
            vzs.append(pe.v.astype(np.uint16) | (pe.z.astype(np.uint16) << 8))
            if pe.n_entries:
                max_index = max(max_index, int(pe.v.max()))
    vz = np.concatenate(vzs) if vzs else np.zeros(0, np.uint16)
    max_col = int(np.diff(col_ptr, axis=1).max()) if col_ptr.size > n_pass * n_pe else 0
    pe_order = np.zeros((n_pass, n_pe + 1), dtype=np.int64)
    for k in range(n_pass):
        has = col_ptr[k, n_cols] != col_ptr[k, 0]
        pe_order[k, :n_pe] = np.concatenate([np.flatnonzero(has), np.flatnonzero(~has)])
        pe_order[k, n_pe] = int(has.sum())
    for arr in (vz, entry_base, col_ptr, pe_order):
        arr.flags.writeable = False
    return PreparedLayer(tiled=tiled, vz=vz, entry_base=entry_base, col_ptr=col_ptr, max_index=max_index,
                         max_column_entries=max_col, pe_order=pe_order)


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

@numba.njit(cache=True, nogil=True)
def _tile_timing(cp, order, J, nJ, n_pe, D, H, bucket, nxt, popped, lastfetch, s0, waiters, poppers, hist,
                 busy, stalled):
    """The timing of one tile, cycle by cycle (docs/microarchitecture.md). Returns its cycles.

    ``cp[j, p]``: PE p's column pointers in this pass; ``J[:nJ]``: the batch's nonzero columns,
    ascending. Adds each PE's busy and stalled cycles; idle cycles are the rest (the caller:
    tile cycles - busy - stalled). The other arrays are scratch, reset here.

    The loop runs cycle by cycle, in the page's order of reasoning on the state at the start of
    the cycle, but visits a PE only in the cycles where it can pop; nothing it skips can change
    a result:

    * Every FIFO receives the same broadcasts, so PE p's FIFO holds ``J[popped[p]:bi]``
      (``bi`` = activations broadcast before the cycle): ``occ_p = bi - popped[p]``, never above
      D, and the FIFO is full iff ``popped[p] == bi - D``. ``hist[k]`` counts the PEs with
      ``popped == k``, so "every FIFO has room" is ``hist[bi - D] == 0`` (step 1).
    * A PE that pops a column with n entries in cycle t fetches it in cycles t+1 .. t+n (step 2,
      one entry per cycle: busy) and its column is finished in cycle ``t + max(n, 1)``: after
      its last fetch, or after the pointer read alone for an empty column. In between it
      neither pops nor affects anyone, so it is filed in a calendar (``bucket``: a ring of H
      cycles, H > longest column + 1, linked through ``nxt``) under that cycle.
    * In cycle t, the PEs filed under t pop (step 3) if their FIFO is non-empty
      (``popped < bi``); if they fetched their last entry in the same cycle the pop hides under
      it (no extra busy cycle). Otherwise they wait; a waiter's FIFO gets an activation only
      from a broadcast, so waiters pop in the cycle after the next broadcast, busy that cycle
      with the pointer read alone.
    * A waiting PE is not busy: its cycles are stalled when the broadcaster stalls. They are
      counted as the difference of the running count of stall cycles between the first free
      cycle (``s0``) and the pop.
    * ``t_last`` is the last broadcast, pop or fetch; the tile takes ``t_last + 1 + P`` cycles.
    * ``order``: the pass's PEs with entries first, then the ``m`` without (the last element
      is how many have entries). Those ``m`` PEs start alike and see only empty columns, so they
      follow one trajectory: one of them is run with weight ``m`` in ``hist`` and the pop count,
      and its busy and stalled cycles are copied to the others at the end.
    """
    if nJ == 0:
        return 1                                   # the LNZD finds nothing
    Hm = H - 1
    for s in range(H):
        bucket[s] = -1
    for k in range(nJ + 1):
        hist[k] = 0
    hist[0] = n_pe
    n_act = order[n_pe]
    m = n_pe - n_act                               # PEs without entries, run as one: rep
    rep = order[n_act] if m > 0 else -1
    n_sim = n_act + (1 if m > 0 else 0)
    busy_rep = busy[rep] if m > 0 else 0
    stalled_rep = stalled[rep] if m > 0 else 0
    # cycle 0: cur_p = end_p = 0 and every FIFO is empty: every PE waits, free from cycle 0
    for i in range(n_sim):
        p = order[i]
        popped[p] = 0
        lastfetch[p] = False
        s0[p] = 0
        waiters[i] = p
    n_wait = n_sim
    bi = 0                                         # activations broadcast before cycle t
    n_stall = 0                                    # stall cycles before cycle t
    pops_left = nJ * n_pe
    bcast_prev = False                             # a broadcast entered the FIFOs at the end of t-1
    t_last = 0
    t = 0
    while pops_left > 0:
        # 1. broadcast or stall, on the occupancies at the start of the cycle
        do_b = False
        stall = False
        if bi < nJ:
            if bi < D or hist[bi - D] == 0:
                do_b = True
            else:
                stall = True
        # 3. column switches: the waiters if a broadcast entered their FIFO at the end of t-1, and
        #    the PEs whose column is finished in this cycle if their FIFO is non-empty
        n_pop = 0
        if bcast_prev:
            for w in range(n_wait):
                p = waiters[w]
                stalled[p] += n_stall - s0[p]
                busy[p] += 1                       # the pointer read alone
                poppers[n_pop] = p
                n_pop += 1
            n_wait = 0
        sl = t & Hm
        p = bucket[sl]
        bucket[sl] = -1
        while p >= 0:
            if popped[p] < bi:                     # FIFO non-empty at the start of the cycle
                busy[p] += 1 - lastfetch[p]        # the pop hides under a last fetch in this cycle
                poppers[n_pop] = p
                n_pop += 1
            elif popped[p] < nJ:                   # starved: wait for the next broadcast
                # free from this cycle, or from the next one if it fetches its last entry now
                s0[p] = n_stall + (1 if (stall and lastfetch[p]) else 0)
                waiters[n_wait] = p
                n_wait += 1
            p = nxt[p]
        for w in range(n_pop):
            p = poppers[w]
            k = popped[p]
            j = J[k]
            wt = m if p == rep else 1
            hist[k] -= wt
            hist[k + 1] += wt
            pops_left -= wt
            popped[p] = k + 1
            n = cp[j + 1, p] - cp[j, p]
            busy[p] += n                           # 2. its fetches, cycles t+1 .. t+n
            lastfetch[p] = n > 0
            ready = t + max(n, 1)                  # after the last fetch, or the pointer read alone
            t_last = max(t_last, t + n)            # the last fetch, or the pop
            sl = ready & Hm
            nxt[p] = bucket[sl]
            bucket[sl] = p
        # 4. the broadcast enters every FIFO at the end of the cycle
        if do_b:
            bi += 1
            if t > t_last:
                t_last = t
        bcast_prev = do_b
        if stall:
            n_stall += 1
        t += 1
    if m > 1:                                      # the other PEs without entries: rep's cycles
        db = busy[rep] - busy_rep
        ds = stalled[rep] - stalled_rep
        for i in range(n_act + 1, n_pe):
            busy[order[i]] += db
            stalled[order[i]] += ds
    return t_last + 1 + PIPELINE_STAGES            # P = 4 stages drain the last entry


@numba.njit(cache=True, nogil=True)
def _tile_arith(vz, ebase, cp, order, J, nJ, x, n_pe, slot_bits, cb, shift, wrap, acc_bits, acc, row0,
                last_word, cnt):
    """The datapath of one tile: every fetched entry's arithmetic, in each PE's fetch order.

    Each PE fetches the entries of the batch's nonzero columns ``J[:nJ]`` in this order (the
    FIFO order), and each accumulator belongs to one PE, so every accumulator gets its terms
    in column order (arch/fixedpoint.py), as in the cycle loop. ``vz[ebase[p] + a]`` is PE
    p's entry at address a, ``v | z << 8``. Relative-index decoding: ``pos`` restarts at 0 at
    each column; an entry lands on local row ``pos + z`` (row ``row0 + (pos + z) * n_pe + p``
    of the layer) and sets ``pos = pos + z + 1``. A filler (``v == 0``) adds
    ``(a * cb[0]) >> shift = 0``, which leaves an accumulator unchanged in both overflow modes,
    so it needs no branch (its row is one of the PE's: a real entry follows it). Adds entries,
    fillers and SRAM word reads (one per fetch whose word ``address >> slot_bits`` differs from
    the PE's previous fetch in the tile) to cnt[0], cnt[1], cnt[4].
    """
    hi = (np.int64(1) << (acc_bits - 1)) - 1
    lo = -hi - 1
    mask = (np.int64(1) << acc_bits) - 1
    for p in range(n_pe):
        last_word[p] = -1                          # the first fetch of a tile always reads
    n_ent = 0
    n_fill = 0
    n_words = 0
    n_act = order[n_pe]                            # the PEs without entries in the pass add nothing
    for k in range(nJ):
        j = J[k]
        a = x[j]
        for i_p in range(n_act):
            p = order[i_p]
            c0 = cp[j, p]
            c1 = cp[j + 1, p]
            if c1 == c0:
                continue
            base = ebase[p]
            i = row0 + p                           # pos = 0
            for ad in range(base + c0, base + c1):
                e = vz[ad]
                vv = e & 255
                i += np.int64(e >> 8) * n_pe        # lands on local row pos + z
                s = acc[i] + ((a * cb[vv]) >> shift)
                if wrap:
                    s = ((s - lo) & mask) + lo
                else:
                    s = min(max(s, lo), hi)
                acc[i] = s
                i += n_pe                          # pos = pos + z + 1
                n_fill += vv == 0
            n_ent += c1 - c0
            w0 = c0 >> slot_bits
            w1 = (c1 - 1) >> slot_bits
            n_words += w1 - w0 + 1
            if w0 == last_word[p]:
                n_words -= 1
            last_word[p] = w1
    cnt[0] += n_ent
    cnt[1] += n_fill
    cnt[4] += n_words


@numba.njit(cache=True, nogil=True)
def _vector_tiles(vz, entry_base, col_ptr, pe_order, pass_bounds, batch_bounds, x, n_pe, D, slot_bits, cb, shift,
                  wrap, acc_bits, H, acc, tile_cycles, busy, stalled, cnt, bucket, nxt, popped, lastfetch, s0,
                  waiters, poppers, last_word, J, hist):
    """One input vector ``x`` through every tile of the layer, passes outer, batches inner.

    Accumulates into ``acc`` (n_rows, zero on entry), writes ``tile_cycles`` (n_tiles) and adds
    to ``busy``, ``stalled`` (n_pe) and the counters ``cnt`` (entries, fillers, broadcasts,
    pops, spmat word reads). The other arrays are scratch (bucket: H; J: n_cols + 1;
    hist: n_cols + 2; the rest: n_pe).
    """
    n_pass = pass_bounds.shape[0] - 1
    n_batch = batch_bounds.shape[0] - 1
    for k in range(n_pass):
        cp = col_ptr[k]
        order = pe_order[k]
        for b in range(n_batch):
            nJ = 0
            for j in range(batch_bounds[b], batch_bounds[b + 1]):
                if x[j] != 0:
                    J[nJ] = j
                    nJ += 1
            tile_cycles[k * n_batch + b] = _tile_timing(cp, order, J, nJ, n_pe, D, H, bucket, nxt, popped,
                                                        lastfetch, s0, waiters, poppers, hist, busy, stalled)
            _tile_arith(vz, entry_base[k], cp, order, J, nJ, x, n_pe, slot_bits, cb, shift, wrap, acc_bits, acc,
                        pass_bounds[k], last_word, cnt)
            cnt[2] += nJ
            cnt[3] += nJ * n_pe


@numba.njit(cache=True, nogil=True)
def _layer_kernel(vz, entry_base, col_ptr, pe_order, pass_bounds, batch_bounds, x, n_pe, D, slot_bits, cb,
                  shift, wrap, acc_bits, H):
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
    _vector_tiles(vz, entry_base, col_ptr, pe_order, pass_bounds, batch_bounds, x, n_pe, D, slot_bits, cb, shift,
                  wrap, acc_bits, H, acc, tile_cycles, busy, stalled, cnt,
                  np.empty(H, dtype=np.int64), np.empty(n_pe, dtype=np.int64), np.empty(n_pe, dtype=np.int64),
                  np.empty(n_pe, dtype=np.bool_), np.empty(n_pe, dtype=np.int64), np.empty(n_pe, dtype=np.int64),
                  np.empty(n_pe, dtype=np.int64), np.empty(n_pe, dtype=np.int64),
                  np.empty(x.shape[0] + 1, dtype=np.int64), np.empty(x.shape[0] + 2, dtype=np.int64))
    return acc, tile_cycles, busy, stalled, cnt


@numba.njit(cache=True, nogil=True, parallel=True)
def _batch_kernel(vz, entry_base, col_ptr, pe_order, pass_bounds, batch_bounds, X, n_pe, D, slot_bits, cb, shift,
                  wrap,
                  acc_bits, H, chunk_bounds, acc, tile_cycles, busy, stalled, cnt, bucket, nxt, popped, lastfetch,
                  s0, waiters, poppers, last_word, J, hist):
    """The rows of ``X`` (K vectors) through the layer, chunk by chunk in parallel (``prange``).

    Chunk ``c`` is the vectors ``chunk_bounds[c] .. chunk_bounds[c+1]``, run one after another
    by one thread with row ``c`` of every scratch array and of the per-chunk sums ``busy``,
    ``stalled`` (n_chunks, n_pe) and ``cnt`` (n_chunks, 5), which it adds to. Vector ``k``
    accumulates into ``acc[k]`` (zero on entry) and writes ``tile_cycles[k]``. Any thread may
    run any chunk, but only one at a time; every figure is an integer sum, so the result does
    not depend on the chunks or the threads.
    """
    for c in numba.prange(chunk_bounds.shape[0] - 1):
        for k in range(chunk_bounds[c], chunk_bounds[c + 1]):
            _vector_tiles(vz, entry_base, col_ptr, pe_order, pass_bounds, batch_bounds, X[k], n_pe, D, slot_bits, cb,
                          shift, wrap, acc_bits, H, acc[k], tile_cycles[k], busy[c], stalled[c], cnt[c], bucket[c], nxt[c],
                          popped[c], lastfetch[c], s0[c], waiters[c], poppers[c], last_word[c], J[c], hist[c])


@numba.njit(cache=True, nogil=True)
def _batch_kernel_serial(vz, entry_base, col_ptr, pe_order, pass_bounds, batch_bounds, X, n_pe, D, slot_bits, cb,
                         shift, wrap,
                         acc_bits, H, acc, tile_cycles, busy, stalled, cnt, bucket, nxt, popped, lastfetch, s0,
                         waiters, poppers, last_word, J, hist):
    """:func:`_batch_kernel` with one chunk, in the calling thread: no parallel region to start
    (whose wake-up of the other threads costs more than a few vectors on a busy machine)."""
    for k in range(X.shape[0]):
        _vector_tiles(vz, entry_base, col_ptr, pe_order, pass_bounds, batch_bounds, X[k], n_pe, D, slot_bits, cb,
                      shift, wrap, acc_bits, H, acc[k], tile_cycles[k], busy, stalled, cnt, bucket, nxt, popped, lastfetch,
                      s0, waiters, poppers, last_word, J, hist)


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
    args = (prep.vz, prep.entry_base, prep.col_ptr, prep.pe_order, prep.pass_bounds, prep.batch_bounds, xv,
            cfg.n_pe, cfg.fifo_depth, cfg.slot_bits, cb, int(fmt.product_shift),
            fmt.overflow is Overflow.WRAP, int(fmt.acc_bits), prep.calendar_size)
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
    H = prep.calendar_size
    out = np.zeros((K, n_rows), dtype=np.int64)
    tile_cycles = np.empty((K, n_tiles), dtype=np.int64)
    busy = np.zeros((n_chunks, n_pe), dtype=np.int64)
    stalled = np.zeros((n_chunks, n_pe), dtype=np.int64)
    cnt = np.zeros((n_chunks, 5), dtype=np.int64)
    scratch = (np.empty((n_chunks, H), np.int64), *(np.empty((n_chunks, n_pe), np.int64) for _ in range(2)),
               np.empty((n_chunks, n_pe), np.bool_), *(np.empty((n_chunks, n_pe), np.int64) for _ in range(4)),
               np.empty((n_chunks, n_cols + 1), np.int64), np.empty((n_chunks, n_cols + 2), np.int64))
    wrap = fmt.overflow is Overflow.WRAP
    for s in range(0, K, block):
        e = min(K, s + block)
        xb = X[s:e]
        if xb.dtype != np.int64 or not xb.flags.c_contiguous or not xb.flags.writeable:
            xb = np.array(xb, dtype=np.int64, order="C")     # one jitted signature for every caller
        acc = out[s:e]
        args = (prep.vz, prep.entry_base, prep.col_ptr, prep.pe_order, prep.pass_bounds, prep.batch_bounds, xb,
                cfg.n_pe,
                cfg.fifo_depth, cfg.slot_bits, cb, int(fmt.product_shift), wrap, int(fmt.acc_bits), H)
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
