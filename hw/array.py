"""The EIE array top (Amaranth 0.5): broadcaster, N PEs, end-of-tile detection, cycle counter.

Only a single tile is implemented: ``n_rows <= n_pe * act_regs_per_pe`` and
``n_cols <= n_pe * act_regs_per_pe`` (one output pass, one input batch). The verified
configuration is ``n_pe = 1`` (tests/hw/); the code is written for any ``n_pe`` but N > 1 has
not been tested against the simulator.

Timing (docs/microarchitecture.md): the broadcaster scans the source activations for the next
nonzero at or after its column pointer (a priority encoder standing in for the LNZD tree: one
broadcast per cycle at most, zero activations cost nothing) and broadcasts it when no PE's FIFO
is full at the start of the cycle. A cycle in which something happens (a broadcast, or a PE is
busy) sets ``t_last``; the tile ends ``P = 4`` cycles after ``t_last`` (after cycle 0 when the
LNZD finds nothing). ``cycles`` then holds the tile's cycle count and ``done`` is 1.

For the testbench the source activations are baked in (the register file's reset values); the
outputs are read through ``out_pe`` / ``out_row`` -> ``out_data``, and each PE's busy count
through ``busy_pe`` -> ``busy``.
"""
from __future__ import annotations

import numpy as np
from amaranth.hdl import Module, Mux, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from arch.config import AcceleratorConfig
from arch.encoding import EIEStreams, encode_layer
from arch.fixedpoint import LayerFormat

from .pe import COUNTER_BITS, PE

__all__ = ["EIEArray", "PIPELINE_STAGES"]

#: Pipeline stages after the entry fetch (P in docs/microarchitecture.md): the drain length.
PIPELINE_STAGES = 4


class EIEArray(wiring.Component):
    """N PEs and the broadcaster, running one single-tile layer baked into the memories.

    Args:
        cfg: the machine.
        indices: (n_rows, n_cols) codebook indices of the layer (bias column included).
        codebook_q: integer codebook (entry 0 is 0).
        x: int activations, shape (n_cols,), activation format.
        fmt: the layer's formats; relu: ReLU at write-back.
    """

    def __init__(self, cfg: AcceleratorConfig, indices, codebook_q, x, fmt: LayerFormat, relu: bool):
        idx = np.asarray(indices)
        n_rows, n_cols = idx.shape
        if n_rows > cfg.rows_per_pass or n_cols > cfg.cols_per_batch:
            raise ValueError(f"a {n_rows} x {n_cols} layer needs several tiles (one tile is at most "
                             f"{cfg.rows_per_pass} rows x {cfg.cols_per_batch} columns); hw/ implements one tile")
        self.cfg, self.fmt, self.relu = cfg, fmt, bool(relu)
        self.n_rows, self.n_cols = int(n_rows), int(n_cols)
        self.streams: EIEStreams = encode_layer(idx, cfg)
        xv = [int(a) for a in np.asarray(x)]
        if len(xv) != n_cols:
            raise ValueError(f"x has {len(xv)} activations for {n_cols} input columns")
        self.x = xv
        self.codebook_q = [int(c) for c in np.asarray(codebook_q)]
        self.pes = [PE(cfg, self.streams.pes[p], self.streams.local_rows(p), self.codebook_q, fmt, relu)
                    for p in range(cfg.n_pe)]
        pe0 = self.pes[0]
        super().__init__({
            "done": Out(1),
            "cycles": Out(COUNTER_BITS),
            "busy_pe": In(range(max(2, cfg.n_pe))),
            "busy": Out(COUNTER_BITS),
            "out_pe": In(range(max(2, cfg.n_pe))),
            "out_row": In(unsigned(pe0.row_bits)),
            "out_data": Out(signed(cfg.act_bits)),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg
        N = cfg.n_pe
        for p, pe in enumerate(self.pes):
            m.submodules[f"pe{p}"] = pe
        col_bits = self.pes[0].col_bits

        # ---- source activations (reset values) and the LNZD: the lowest nonzero column >= jptr ----
        xs = [Signal(signed(cfg.act_bits), name=f"src{j}", init=a) for j, a in enumerate(self.x)]
        jptr = Signal(range(self.n_cols + 2))
        found = Signal()
        sel_col = Signal(unsigned(col_bits))
        sel_act = Signal(signed(cfg.act_bits))
        for j in reversed(range(self.n_cols)):          # the last If that matches wins: the lowest j
            with m.If((xs[j] != 0) & (jptr <= j)):
                m.d.comb += [found.eq(1), sel_col.eq(j), sel_act.eq(xs[j])]

        any_full = Signal()
        m.d.comb += any_full.eq(0)
        for pe in self.pes:
            with m.If(pe.full):
                m.d.comb += any_full.eq(1)
        bcast = Signal()
        m.d.comb += bcast.eq(found & ~any_full & ~self.done)
        with m.If(bcast):
            m.d.sync += jptr.eq(sel_col + 1)
        for pe in self.pes:
            m.d.comb += [pe.push.eq(bcast), pe.push_act.eq(sel_act), pe.push_col.eq(sel_col)]

        # ---- end of the tile: t_last + 1 + P cycles, or 1 if nothing ever happens ----
        happened = Signal()
        m.d.comb += happened.eq(bcast)
        for pe in self.pes:
            with m.If(pe.active):
                m.d.comb += happened.eq(1)
        seen = Signal()                                  # something happened in an earlier cycle
        quiet = Signal(range(PIPELINE_STAGES + 1))       # cycles since t_last
        last = Signal()
        m.d.comb += last.eq(~happened & (~seen | (quiet == PIPELINE_STAGES - 1)))
        with m.If(~self.done):
            m.d.sync += self.cycles.eq(self.cycles + 1)
            with m.If(happened):
                m.d.sync += [seen.eq(1), quiet.eq(0)]
            with m.Else():
                m.d.sync += quiet.eq(quiet + 1)
            with m.If(last):
                m.d.sync += self.done.eq(1)

        # ---- read-back muxes ----
        for p, pe in enumerate(self.pes):
            m.d.comb += pe.out_row.eq(self.out_row)
            with m.If(self.busy_pe == p):
                m.d.comb += self.busy.eq(pe.busy_count)
            with m.If(self.out_pe == p):
                m.d.comb += self.out_data.eq(pe.out_data)
        return m
