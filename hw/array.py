"""The EIE array top (Amaranth 0.5): tile sequencer, broadcaster, N PEs, end-of-tile detection,
cycle counter.

A layer runs as tiles (docs/microarchitecture.md, "Tiles"): output passes of
``cfg.rows_per_pass`` rows times input batches of ``cfg.cols_per_batch`` columns, passes outer,
batches inner, one after another. The memories hold the whole layer (hw/image.py): every PE's
streams of all passes with the pointers per pass, and the input activations one batch per word.

Timing: in a tile the source registers are the batch's activation word (read combinationally:
loading a batch takes no cycles). The broadcaster scans them for the next nonzero at or after
its column pointer (the LNZD tree of hw/lnzd.py: 4-input nodes over groups of 4 PEs'
registers, combinational, so one broadcast per cycle at most and zero activations cost nothing)
and broadcasts it when no PE's FIFO is full at the start of the cycle. A cycle in which something happens (a broadcast, or a PE is busy) sets ``t_last``;
the tile ends ``P = 4`` cycles after ``t_last`` (after cycle 0 when the LNZD finds nothing). In
the last cycle of a tile the sequencer moves to the next batch (or pass) and rewinds the column
pointer, so the next tile's cycle 0 is the next cycle; in the last cycle of a pass the PEs store
and clear their accumulators. After the last tile ``done`` is 1 and ``cycles`` holds the sum of
the tile cycles.

Host interface (``host=True``): the activation memory starts empty and has a write port
(``act_we``, ``act_addr``, ``act_wdata``: word ``b`` = input batch ``b``, the layout of
``LayerImage.acts``), and the layer runs only once ``start`` has been seen: ``start`` high at a
clock edge makes the next cycle the layer's cycle 0, so ``cycles`` counts from ``start``. The
layer runs once per reset. With ``host=False`` (the default, used by the Verilog export) the
activations are baked in and the layer starts right after reset. With ``host=True`` each PE's
sparse-matrix SRAM, pointer banks and codebook also start empty and are written through one load
port (``ld_we``, ``ld_pe``, ``ld_mem`` (the ``LOAD_*`` codes of hw/pe.py: 0 SRAM, 1 even pointer
bank, 2 odd pointer bank, 3 codebook), ``ld_addr``, ``ld_data``: the word layouts of hw/image.py;
:func:`host_load_writes` lists the writes); with ``host=False`` they are init values.

The outputs are read through ``out_pe`` / ``out_row`` -> ``out_data`` (row ``i`` of the layer is
``out_pe = i % n_pe``, ``out_row = i // n_pe``), and the same row's raw accumulator (as stored at
the end of its pass, before write-back: ``fmt.acc_bits`` bits, signed) through ``acc_data``. Each
PE's counters are read through ``busy_pe`` -> ``busy`` (busy cycles), ``spmat_reads``
(sparse-matrix SRAM word reads) and ``ptr_reads`` (pointer reads, both banks: 2 per pop); the
access counters change no cycle of behaviour.
"""
from __future__ import annotations

from amaranth.hdl import Cat, Module, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from arch.config import PIPELINE_STAGES, AcceleratorConfig
from arch.fixedpoint import LayerFormat

from .image import LayerImage, layer_image
from .lnzd import LNZD
from .pe import (COUNTER_BITS, LOAD_CODEBOOK, LOAD_PTR_EVEN, LOAD_PTR_ODD, LOAD_SPMAT, PE, load_addr_bits,
                 load_data_bits)

__all__ = ["EIEArray", "host_load_writes"]


def host_load_writes(image: LayerImage, skip_zeros: bool = False) -> list[tuple[int, int, int, int]]:
    """The load-port writes that fill every PE's memories with ``image`` (``host=True``):
    ``(ld_pe, ld_mem, ld_addr, ld_data)`` with ``ld_mem`` one of the LOAD_* codes of hw/pe.py,
    signed codebook entries in two's complement. ``skip_zeros`` leaves out zero words (the
    memories start at zero after configuration)."""
    W = image.cfg.weight_bits
    out = []
    for p, pe in enumerate(image.pes):
        for code, words in ((LOAD_SPMAT, pe.spmat), (LOAD_PTR_EVEN, pe.ptr_even), (LOAD_PTR_ODD, pe.ptr_odd),
                            (LOAD_CODEBOOK, [c & ((1 << W) - 1) for c in image.codebook])):
            out += [(p, code, a, int(w)) for a, w in enumerate(words) if w or not skip_zeros]
    return out


class EIEArray(wiring.Component):
    """N PEs, the broadcaster and the tile sequencer, running one layer baked into the memories.

    Args:
        cfg: the machine.
        indices: (n_rows, n_cols) codebook indices of the layer (bias column included).
        codebook_q: integer codebook (entry 0 is 0).
        x: int activations, shape (n_cols,), activation format.
        fmt: the layer's formats; relu: ReLU at write-back.
        host: add the host ports (``start``, the activation write port, the memory load port)
            and leave every memory empty; ``indices``/``x`` then only size the memories.
    """

    def __init__(self, cfg: AcceleratorConfig, indices, codebook_q, x, fmt: LayerFormat, relu: bool,
                 host: bool = False):
        self.cfg, self.fmt, self.relu, self.host = cfg, fmt, bool(relu), bool(host)
        self.image: LayerImage = layer_image(cfg, indices, codebook_q, x)
        img = self.image
        self.n_rows, self.n_cols = img.n_rows, img.n_cols
        self.n_passes, self.n_batches = img.n_passes, img.n_batches
        self.streams = img.tiled.streams[0]
        self.pes = [PE(cfg, img, p, fmt, relu, host=self.host) for p in range(cfg.n_pe)]
        pe0 = self.pes[0]
        host_ports = {}
        if self.host:
            host_ports = {
                "start": In(1),
                "act_we": In(1),
                "act_addr": In(range(max(2, len(img.acts)))),
                "act_wdata": In(unsigned(img.act_word_bits)),
                "ld_we": In(1),
                "ld_pe": In(range(max(2, cfg.n_pe))),
                "ld_mem": In(2),
                "ld_addr": In(unsigned(load_addr_bits(cfg, img))),
                "ld_data": In(unsigned(load_data_bits(cfg))),
            }
        super().__init__({
            **host_ports,
            "done": Out(1),
            "cycles": Out(COUNTER_BITS),
            "busy_pe": In(range(max(2, cfg.n_pe))),
            "busy": Out(COUNTER_BITS),
            "spmat_reads": Out(COUNTER_BITS),
            "ptr_reads": Out(COUNTER_BITS),
            "out_pe": In(range(max(2, cfg.n_pe))),
            "out_row": In(unsigned(pe0.out_bits)),
            "out_data": Out(signed(cfg.act_bits)),
            "acc_data": Out(signed(fmt.acc_bits)),
        })

    def elaborate(self, platform):
        m = Module()
        cfg, img = self.cfg, self.image
        C, A = cfg.cols_per_batch, cfg.act_bits
        for p, pe in enumerate(self.pes):
            m.submodules[f"pe{p}"] = pe
        col_bits = self.pes[0].col_bits

        if self.host:                                    # the load port, decoded by ld_pe
            for p, pe in enumerate(self.pes):
                m.d.comb += [pe.ld_we.eq(self.ld_we & (self.ld_pe == p)), pe.ld_mem.eq(self.ld_mem),
                             pe.ld_addr.eq(self.ld_addr), pe.ld_data.eq(self.ld_data)]

        # ---- tile sequencer ----
        pass_idx = Signal(range(max(2, self.n_passes)))
        batch_idx = Signal(range(max(2, self.n_batches)))
        batch_base = Signal(range(self.n_batches * C + 1))      # the batch's first column

        # ---- activation memory (one batch per word) = the source registers of the tile ----
        act_init = [0] * len(img.acts) if self.host else img.acts
        m.submodules.acts = acts = Memory(shape=unsigned(img.act_word_bits), depth=len(img.acts), init=act_init)
        act_rd = acts.read_port(domain="comb")
        if self.host:                                    # the host loads the input batches
            act_wr = acts.write_port()
            m.d.comb += [act_wr.en.eq(self.act_we), act_wr.addr.eq(self.act_addr), act_wr.data.eq(self.act_wdata)]
        m.d.comb += act_rd.addr.eq(batch_idx)
        slots = [act_rd.data[s * A:(s + 1) * A].as_signed() for s in range(C)]

        # ---- start: at once after reset, or (host) in the cycle after `start` is seen ----
        run = Signal()                                   # the layer is running: started and not done
        if self.host:
            started = Signal()
            with m.If(self.start):
                m.d.sync += started.eq(1)
            m.d.comb += run.eq(started & ~self.done)
        else:
            m.d.comb += run.eq(~self.done)

        # ---- the LNZD tree (hw/lnzd.py): the lowest nonzero slot >= jptr ----
        jptr = Signal(range(C + 2))
        found = Signal()
        sel_slot = Signal(range(max(2, C)))
        sel_act = Signal(signed(A))
        sel_col = Signal(unsigned(col_bits))
        m.submodules.lnzd = lnzd = LNZD(C)
        m.d.comb += [lnzd.nz.eq(Cat(*(slot != 0 for slot in slots))), lnzd.start.eq(jptr),
                     found.eq(lnzd.found), sel_slot.eq(lnzd.index)]
        with m.Switch(sel_slot):
            for s in range(C):
                with m.Case(s):
                    m.d.comb += sel_act.eq(slots[s])
        m.d.comb += sel_col.eq(batch_base + sel_slot)
        any_full = Signal()
        m.d.comb += any_full.eq(0)
        for pe in self.pes:
            with m.If(pe.full):
                m.d.comb += any_full.eq(1)
        bcast = Signal()
        m.d.comb += bcast.eq(found & ~any_full & run)
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
        m.d.comb += [last.eq(run & ~happened & (~seen | (quiet == PIPELINE_STAGES - 1))),
                     last_batch.eq(batch_idx == self.n_batches - 1),
                     last_pass.eq(pass_idx == self.n_passes - 1)]
        with m.If(run):
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
            m.d.comb += [pe.pass_idx.eq(pass_idx), pe.pass_end.eq(last & last_batch), pe.tile_end.eq(last)]

        # ---- read-back muxes ----
        for p, pe in enumerate(self.pes):
            m.d.comb += pe.out_row.eq(self.out_row)
            with m.If(self.busy_pe == p):
                m.d.comb += [self.busy.eq(pe.busy_count), self.spmat_reads.eq(pe.spmat_reads),
                             self.ptr_reads.eq(pe.ptr_reads)]
            with m.If(self.out_pe == p):
                m.d.comb += [self.out_data.eq(pe.out_data), self.acc_data.eq(pe.acc_data)]
        return m
