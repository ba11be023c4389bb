"""The cycle loop of docs/microarchitecture.md in plain Python: the independent check of the
Numba engine (sim/engine.py) and its speed baseline.

It shares only :func:`sim.engine.prepare_layer` (the encoding; this module reads the per-pass
:class:`~arch.encoding.EIEStreams`, not the engine's flattened arrays) and the input checks.
Everything else is written again from the page, as literally as possible: one FIFO (a deque)
per PE, ``cur``/``end`` entry addresses per PE, every PE visited in every cycle, every access
counted at the event that causes it, and every cycle of every PE classified busy, stalled or
idle one by one. The arithmetic is arch/fixedpoint.py's on Python integers.
"""
from __future__ import annotations

import time
from collections import deque

import numpy as np

from arch.config import ACCESS_COMPONENTS, PIPELINE_STAGES, Overflow
from arch.fixedpoint import LayerFormat, signed_max, signed_min

from .engine import PreparedLayer, check_inputs, make_result

__all__ = ["run_layer_python", "TileError"]


class TileError(AssertionError):
    """A tile ended with work left: an activation queued, entries left, or a broadcast pending."""


def _add(acc: int, t: int, fmt: LayerFormat) -> int:
    """``acc + t`` under the overflow rule (arch.fixedpoint.accumulate on Python ints)."""
    s = acc + t
    lo, hi = signed_min(fmt.acc_bits), signed_max(fmt.acc_bits)
    if fmt.overflow is Overflow.SATURATE:
        return min(max(s, lo), hi)
    return (s - lo) % (1 << fmt.acc_bits) + lo


class _Tile:
    """One tile's state (docs/microarchitecture.md, "One tile, cycle by cycle")."""

    def __init__(self, n_pe: int):
        self.fifo = [deque() for _ in range(n_pe)]   # (a_j, j) per PE
        self.cur = [0] * n_pe                        # entry address of the next fetch
        self.end = [0] * n_pe                        # end of the current column
        self.pos = [0] * n_pe                        # relative-index decoding position
        self.act = [0] * n_pe                        # a_j of the current column
        self.last_word = [None] * n_pe               # word of the PE's previous fetch in the tile


def run_layer_python(prep: PreparedLayer, codebook_q, x, fmt: LayerFormat, relu: bool):
    """Same contract and result as :func:`sim.engine.run_layer`, in plain Python (slow)."""
    t_start = time.perf_counter()
    cb, xv = check_inputs(prep, codebook_q, x, fmt)
    cb = [int(c) for c in cb]
    x = [int(a) for a in xv]
    cfg = prep.cfg
    N, D, P = cfg.n_pe, cfg.fifo_depth, PIPELINE_STAGES
    slot_bits = cfg.slot_bits
    shift = fmt.product_shift

    acc = [0] * prep.n_rows
    busy, idle, stalled = [0] * N, [0] * N, [0] * N
    tile_cycles: list[int] = []
    entries = fillers = broadcasts = 0
    A = {c: {"reads": 0, "writes": 0} for c in ACCESS_COMPONENTS}
    pass_bounds = [int(b) for b in prep.pass_bounds]
    batch_bounds = [int(b) for b in prep.batch_bounds]
    n_passes, n_batches = len(pass_bounds) - 1, len(batch_bounds) - 1
    several_tiles = n_passes * n_batches > 1

    for k in range(n_passes):
        streams = prep.streams[k]
        # the pass's first address in each PE's SRAM: a PE's passes are stored one after another
        sram_base = [sum(int(prep.streams[q].pes[p].n_entries) for q in range(k)) for p in range(N)]
        row0, row1 = pass_bounds[k], pass_bounds[k + 1]
        pes = streams.pes
        col_ptr = [[int(c) for c in pe.col_ptr] for pe in pes]
        v = [[int(e) for e in pe.v] for pe in pes]
        z = [[int(e) for e in pe.z] for pe in pes]
        local_rows = [streams.local_rows(p) for p in range(N)]

        for b in range(n_batches):
            col0, col1 = batch_bounds[b], batch_bounds[b + 1]
            # loading the batch into the source registers: no cycles, its accesses counted
            if several_tiles:
                A["act_sram"]["reads"] += col1 - col0
            # the LNZD reads each source activation once and finds the nonzero ones in order
            A["act_regs"]["reads"] += col1 - col0
            J = [j for j in range(col0, col1) if x[j] != 0]

            s = _Tile(N)
            next_b = 0                  # index in J of the next activation to broadcast
            t = 0
            t_last = None
            while True:
                occ = [len(f) for f in s.fifo]          # occupancies at the start of cycle t
                happened = False
                # 1. broadcast, or stall on back-pressure
                send = None
                stall = False
                if next_b < len(J):
                    if all(o < D for o in occ):
                        send = J[next_b]
                        next_b += 1
                        happened = True
                    else:
                        stall = True
                for p in range(N):
                    fetched = popped = False
                    # 2. entry fetch
                    if s.cur[p] < s.end[p]:
                        a = s.cur[p]
                        word = (sram_base[p] + a) >> slot_bits
                        if word != s.last_word[p]:
                            A["spmat_sram"]["reads"] += 1
                            s.last_word[p] = word
                        vv, zz = v[p][a], z[p][a]
                        r = s.pos[p] + zz
                        s.pos[p] = r + 1
                        if r >= local_rows[p]:
                            raise TileError(f"PE {p}: entry {a} lands on local row {r} of {local_rows[p]}")
                        entries += 1
                        if vv == 0:
                            fillers += 1                # a filler: the cycle, nothing else
                        else:
                            i = row0 + r * N + p
                            A["codebook"]["reads"] += 1
                            A["mul"]["reads"] += 1
                            A["add"]["reads"] += 1
                            A["act_regs"]["reads"] += 1     # the accumulator
                            A["act_regs"]["writes"] += 1
                            acc[i] = _add(acc[i], (s.act[p] * cb[vv]) >> shift, fmt)
                        s.cur[p] = a + 1
                        fetched = True
                    # 3. column switch: finished, and the FIFO was non-empty at the start of the cycle
                    if s.cur[p] == s.end[p] and occ[p] > 0:
                        a_j, j = s.fifo[p].popleft()
                        A["fifo"]["reads"] += 1
                        A["ptr_sram"]["reads"] += 2             # even and odd bank
                        s.cur[p], s.end[p] = col_ptr[p][j], col_ptr[p][j + 1]
                        s.pos[p] = 0
                        s.act[p] = a_j
                        popped = True
                    if fetched or popped:
                        busy[p] += 1
                        happened = True
                    elif stall:
                        stalled[p] += 1
                    else:
                        idle[p] += 1
                # 4. the broadcast enters every FIFO at the end of the cycle
                if send is not None:
                    for f in s.fifo:
                        f.append((x[send], send))
                    A["fifo"]["writes"] += N
                    A["broadcast"]["reads"] += 1
                    broadcasts += 1
                    for p in range(N):
                        if len(s.fifo[p]) > D:
                            raise TileError(f"PE {p}: FIFO holds {len(s.fifo[p])} > depth {D}")
                if not happened:
                    if stall:
                        raise TileError("the broadcaster stalled in a cycle in which nothing happened")
                    break
                t_last = t
                t += 1
            # t is the first cycle in which nothing happened; all PEs were idle in it
            if next_b != len(J) or any(s.fifo) or any(c != e for c, e in zip(s.cur, s.end)):
                raise TileError(f"pass {k} batch {b}: nothing happened in cycle {t} but work is left "
                                f"({len(J) - next_b} to broadcast, FIFOs {[len(f) for f in s.fifo]}, "
                                f"entries left {[e - c for c, e in zip(s.cur, s.end)]})")
            if t_last is None:
                cycles = 1                  # the LNZD found nothing
            else:
                cycles = t_last + 1 + P     # the entry fetched at t_last passes P stages
            for p in range(N):
                idle[p] += cycles - (t + 1)  # the drain: cycles after t
            tile_cycles.append(cycles)

        # end of the pass: write-back (arithmetic contract), no cycles
        A["act_regs"]["writes"] += row1 - row0
        if n_passes > 1:
            A["act_sram"]["writes"] += row1 - row0

    res = make_result(prep, np.array(acc, dtype=np.int64), fmt, relu, tile_cycles, busy, stalled, entries,
                      fillers, broadcasts, A, time.perf_counter() - t_start)
    assert np.array_equal(res.idle, idle), "idle cycles counted one by one differ from cycles - busy - stalled"
    return res
