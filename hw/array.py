"""The EIE array top (Amaranth 0.5): tile sequencer, broadcaster, N PEs, end-of-tile detection,
cycle counter.

A layer runs as tiles (docs/microarchitecture.md, "Tiles"): output passes of
``cfg.rows_per_pass`` rows times input batches of ``cfg.cols_per_batch`` columns, passes outer,
batches inner, one after another. The memories hold the whole layer (hw/image.py): every PE's
streams of all passes with the pointers per pass, and the input activations one batch per word.

Timing: in a tile the source registers are the batch's activation word (read combinationally:
loading a batch takes no cycles). The broadcaster scans them for the next nonzero at or after
its column pointer (a priority encoder standing in for the LNZD tree: one broadcast per cycle at
most, zero activations cost nothing) and broadcasts it when no PE's FIFO is full at the start of
the cycle. A cycle in which something happens (a broadcast, or a PE is busy) sets ``t_last``;
the tile ends ``P = 4`` cycles after ``t_last`` (after cycle 0 when the LNZD finds nothing). In
the last cycle of a tile the sequencer moves to the next batch (or pass) and rewinds the column
pointer, so the next tile's cycle 0 is the next cycle; in the last cycle of a pass the PEs store
and clear their accumulators. After the last tile ``done`` is 1 and ``cycles`` holds the sum of
the tile cycles.

The outputs are read through ``out_pe`` / ``out_row`` -> ``out_data`` (row ``i`` of the layer is
``out_pe = i % n_pe``, ``out_row = i // n_pe``), and each PE's busy count through ``busy_pe`` ->
``busy``.
"""
from __future__ import annotations

from amaranth.hdl import Module, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from arch.config import AcceleratorConfig
from arch.fixedpoint import LayerFormat

from .image import LayerImage, layer_image
from .pe import COUNTER_BITS, PE

__all__ = ["EIEArray", "PIPELINE_STAGES"]

#: Pipeline stages after the entry fetch (P in docs/microarchitecture.md): the drain length.
PIPELINE_STAGES = 4


class EIEArray(wiring.Component):
    """N PEs, the broadcaster and the tile sequencer, running one layer baked into the memories.

    Args:
        cfg: the machine.
        indices: (n_rows, n_cols) codebook indices of the layer (bias column included).
        codebook_q: integer codebook (entry 0 is 0).
        x: int activations, shape (n_cols,), activation format.
        fmt: the layer's formats; relu: ReLU at write-back.
    """

    def __init__(self, cfg: AcceleratorConfig, indices, codebook_q, x, fmt: LayerFormat, relu: bool):
        self.cfg, self.fmt, self.relu = cfg, fmt, bool(relu)
        self.image: LayerImage = layer_image(cfg, indices, codebook_q, x)
        img = self.image
        self.n_rows, self.n_cols = img.n_rows, img.n_cols
        self.n_passes, self.n_batches = img.n_passes, img.n_batches
        self.streams = img.prep.streams[0]
        self.pes = [PE(cfg, img, p, fmt, relu) for p in range(cfg.n_pe)]
        pe0 = self.pes[0]
        super().__init__({
            "done": Out(1),
            "cycles": Out(COUNTER_BITS),
            "busy_pe": In(range(max(2, cfg.n_pe))),
            "busy": Out(COUNTER_BITS),
            "out_pe": In(range(max(2, cfg.n_pe))),
            "out_row": In(unsigned(pe0.out_bits)),
            "out_data": Out(signed(cfg.act_bits)),
        })

    def elaborate(self, platform):
        m = Module()
        cfg, img = self.cfg, self.image
        N, C, A = cfg.n_pe, cfg.cols_per_batch, cfg.act_bits
        for p, pe in enumerate(self.pes):
            m.submodules[f"pe{p}"] = pe
        col_bits = self.pes[0].col_bits

        # ---- tile sequencer ----
        pass_idx = Signal(range(max(2, self.n_passes)))
        batch_idx = Signal(range(max(2, self.n_batches)))
        batch_base = Signal(range(self.n_batches * C + 1))      # the batch's first column

        # ---- activation memory (one batch per word) = the source registers of the tile ----
        m.submodules.acts = acts = Memory(shape=unsigned(img.act_word_bits), depth=len(img.acts), init=img.acts)
        act_rd = acts.read_port(domain="comb")
        m.d.comb += act_rd.addr.eq(batch_idx)
        slots = [act_rd.data[s * A:(s + 1) * A].as_signed() for s in range(C)]

        # ---- the LNZD: the lowest nonzero slot >= jptr ----
        jptr = Signal(range(C + 2))
        found = Signal()
        sel_slot = Signal(range(max(2, C)))
        sel_act = Signal(signed(A))
        sel_col = Signal(unsigned(col_bits))
        for s in reversed(range(C)):                     # the last If that matches wins: the lowest s
            with m.If((slots[s] != 0) & (jptr <= s)):
                m.d.comb += [found.eq(1), sel_slot.eq(s), sel_act.eq(slots[s])]
        m.d.comb += sel_col.eq(batch_base + sel_slot)
        any_full = Signal()
        m.d.comb += any_full.eq(0)
        for pe in self.pes:
            with m.If(pe.full):
                m.d.comb += any_full.eq(1)
        bcast = Signal()
        m.d.comb += bcast.eq(found & ~any_full & ~self.done)
        with m.If(bcast):
            m.d.sync += jptr.eq(sel_slot + 1)
        for pe in self.pes:
            m.d.comb += [pe.push.eq(bcast), pe.push_act.eq(sel_act), pe.push_col.eq(sel_col)]

        # ---- end of the tile: t_last + 1 + P cycles, or 1 if nothing ever happens ----
        happened = Signal()
        m.d.comb += happened.eq(bcast)
        for pe in self.pes:
            with m.If(pe.active):
                m.d.comb += happened.eq(1)
        seen = Signal()                                  # something happened in an earlier cycle of the tile
        quiet = Signal(range(PIPELINE_STAGES + 1))       # cycles since t_last
        last = Signal()                                  # the last cycle of the tile
        last_batch = Signal()
        last_pass = Signal()
        m.d.comb += [last.eq(~self.done & ~happened & (~seen | (quiet == PIPELINE_STAGES - 1))),
                     last_batch.eq(batch_idx == self.n_batches - 1),
                     last_pass.eq(pass_idx == self.n_passes - 1)]
        with m.If(~self.done):
            m.d.sync += self.cycles.eq(self.cycles + 1)
            with m.If(happened):
                m.d.sync += [seen.eq(1), quiet.eq(0)]
            with m.Else():
                m.d.sync += quiet.eq(quiet + 1)
        with m.If(last):
            m.d.sync += [seen.eq(0), quiet.eq(0), jptr.eq(0)]
            with m.If(last_batch):
                m.d.sync += [batch_idx.eq(0), batch_base.eq(0)]
                with m.If(last_pass):
                    m.d.sync += self.done.eq(1)
                with m.Else():
                    m.d.sync += pass_idx.eq(pass_idx + 1)
            with m.Else():
                m.d.sync += [batch_idx.eq(batch_idx + 1), batch_base.eq(batch_base + C)]
        for pe in self.pes:
            m.d.comb += [pe.pass_idx.eq(pass_idx), pe.pass_end.eq(last & last_batch)]

        # ---- read-back muxes ----
        for p, pe in enumerate(self.pes):
            m.d.comb += pe.out_row.eq(self.out_row)
            with m.If(self.busy_pe == p):
                m.d.comb += self.busy.eq(pe.busy_count)
            with m.If(self.out_pe == p):
                m.d.comb += self.out_data.eq(pe.out_data)
        return m
