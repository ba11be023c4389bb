"""One EIE processing element (Amaranth 0.5): docs/microarchitecture.md, cycle for cycle.

The PE holds its streams of every output pass of the layer (hw/image.py): the sparse-matrix
SRAM (``sram_word_bits`` words of ``entries_per_word`` (v, z) entries), the column pointers in
an even and an odd bank (one slot of pointers per pass, selected by ``pass_idx``), the
codebook, the activation FIFO and the accumulators (the destination registers). Memory contents are the init values of the memories (the layer is
baked in, as for an FPGA bitstream with preloaded BRAMs), or with ``host=True`` start at zero and
are written through the load port (``ld_we``, ``ld_mem`` = a ``LOAD_*`` code, ``ld_addr``,
``ld_data``): a write port on each memory.

Per cycle, on the state at the start of the cycle (the timing page, "One tile, cycle by cycle"):

* **fetch**: ``cur < end``: the SRAM word ``cur >> slot_bits`` is read (synchronous read port)
  and ``cur`` advances;
* **pop**: the column is finished after the fetch (``cur + 1 == end`` or nothing fetched) and the
  FIFO was non-empty at the start of the cycle: the head ``(a_j, j)`` is popped and both
  pointers are read combinationally from the two banks (``ptr[j]`` is in bank ``j & 1`` at
  ``j >> 1``, ``ptr[j+1]`` in the other bank), giving ``cur``/``end`` of the next cycle;
* the fetched entry then passes four stages: (1) slot select, (v, z) decode, relative-row
  accumulation and codebook lookup; (2) multiply ``a * w``; (3) shift (``>> product_shift``,
  floor) and add to the accumulator read with a bypass from stage 4 (saturate or wrap,
  arch/fixedpoint.py); (4) accumulator write. A filler (``v == 0``) flows through and writes
  nothing.

``active`` (fetch or pop: a busy cycle) feeds the top's end-of-tile detection and the PE's busy
counter.

The SRAM read port is enabled only by a fetch whose word (``cur >> slot_bits``) differs from the
word of the PE's previous fetch in the tile (the first fetch of a tile always reads; ``tile_end``
forgets the word): the read register keeps the word for the fetches that reuse it, as
docs/microarchitecture.md's access table counts (:func:`spmat_read_enable`). Two access counters,
which change no cycle of behaviour, count the SRAM word reads (``spmat_reads``: the cycles the
read port is enabled) and the pointer reads (``ptr_reads``: 2 per pop, one per bank).

Accumulators keep their values across the input batches of a pass; in the last cycle of
a pass (``pass_end``) they are stored to the pass's output registers (with the bypass of the
entry written in that cycle) and cleared. The write-back (round half up, ReLU, clamp) is
combinational on the output read port (``out_row`` -> ``out_data``); it takes no cycles, as the
timing page says.
"""
from __future__ import annotations

from amaranth.hdl import Array, Module, Mux, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from arch.config import AcceleratorConfig, Overflow
from arch.fixedpoint import LayerFormat, signed_max, signed_min

__all__ = ["PE", "COUNTER_BITS", "writeback_value", "accumulate_value", "spmat_read_enable", "LOAD_SPMAT",
           "LOAD_PTR_EVEN", "LOAD_PTR_ODD", "LOAD_CODEBOOK", "load_addr_bits", "load_data_bits"]

#: Width of the cycle and busy counters.
COUNTER_BITS = 32

#: Pointer reads a pop makes: ``ptr[j]`` and ``ptr[j+1]``, one from each bank (the ``ptr_reads`` counter).
POINTER_READS_PER_POP = 2

#: ``ld_mem`` codes of the host load port (``host=True``).
LOAD_SPMAT, LOAD_PTR_EVEN, LOAD_PTR_ODD, LOAD_CODEBOOK = 0, 1, 2, 3


def load_data_bits(cfg: AcceleratorConfig) -> int:
    """Width of ``ld_data``: the widest memory word (SRAM word, pointer, codebook weight)."""
    return max(cfg.sram_word_bits, cfg.pointer_bits, cfg.weight_bits)


def load_addr_bits(cfg: AcceleratorConfig, image) -> int:
    """Width of ``ld_addr``: enough for the deepest memory (SRAM, pointer bank, codebook)."""
    depth = max(cfg.spmat_words, image.ptr_depth, cfg.codebook_size, 2)
    return (depth - 1).bit_length()


def accumulate_value(m: Module, acc, t, fmt: LayerFormat):
    """``acc + t`` under the overflow rule, as an Amaranth value of shape ``signed(acc_bits)``."""
    s = Signal(signed(max(len(acc), len(t)) + 1))
    m.d.comb += s.eq(acc + t)
    if fmt.overflow is Overflow.SATURATE:
        lo, hi = signed_min(fmt.acc_bits), signed_max(fmt.acc_bits)
        return Mux(s > hi, hi, Mux(s < lo, lo, s))   # in range: the assignment's truncation is exact
    return s[:fmt.acc_bits].as_signed()


def spmat_read_enable(m: Module, fetch, word, tile_end):
    """The SRAM read enable: a fetch whose word differs from the PE's previous fetch in the tile
    (docs/microarchitecture.md, "Access counts"). When it is low the read register keeps its word,
    which is the one the fetch needs. ``tile_end`` (the tile's last cycle, in which nothing is
    fetched) forgets the word, so the first fetch of a tile always reads."""
    last_word = Signal.like(word, name="sp_last_word")
    last_valid = Signal(name="sp_last_valid")
    en = Signal(name="sp_read_en")
    m.d.comb += en.eq(fetch & ~(last_valid & (last_word == word)))
    with m.If(fetch):
        m.d.sync += [last_word.eq(word), last_valid.eq(1)]
    with m.If(tile_end):
        m.d.sync += last_valid.eq(0)
    return en


def writeback_value(m: Module, acc, fmt: LayerFormat, relu: bool):
    """arch.fixedpoint.writeback as an Amaranth value of shape ``signed(act_bits)``."""
    r = fmt.writeback_shift
    y = Signal(signed(fmt.acc_bits + 1))
    if r > 0:
        m.d.comb += y.eq((acc + (1 << (r - 1))) >> r)
    else:
        m.d.comb += y.eq(acc)
    lo, hi = signed_min(fmt.act_bits), signed_max(fmt.act_bits)
    if relu:
        lo = 0
    out = Signal(signed(fmt.act_bits))
    # ReLU then clamp: max(y, 0) clamped to [smin, smax] equals y clamped to [0, smax].
    m.d.comb += out.eq(Mux(y > hi, hi, Mux(y < lo, lo, y)))
    return out


class PE(wiring.Component):
    """One processing element with its share of the layer image baked into its memories.

    Args:
        cfg: the machine (widths, FIFO depth, SRAM and register-file sizes).
        image: the layer image (hw/image.py: all passes' streams, pointers per pass).
        p: this PE's index in the array.
        fmt: the layer's formats (product and write-back shifts, overflow rule).
        relu: ReLU at write-back.

    Ports:
        push, push_act, push_col: the broadcast (enters the FIFO at the end of the cycle);
            ``push_col`` is the layer's column ``j``.
        pass_idx: the current output pass (selects the pass's pointers).
        pass_end: this is the last cycle of the pass: at the end of the cycle the accumulators
            (with the bypass of the entry written in this cycle) are stored to the output
            registers of the pass and cleared.
        tile_end: this is the last cycle of a tile (the next fetch is a tile's first: it reads
            the SRAM whatever its word).
        full: the FIFO is full (at the start of the cycle).
        active: this cycle is busy (an entry fetch or a pop).
        busy_count: busy cycles so far.
        spmat_reads: sparse-matrix SRAM word reads so far (cycles with the read port enabled).
        ptr_reads: pointer reads so far, both banks (2 per pop).
        acc_data: the raw accumulator of row ``out_row`` as stored at the end of its pass
            (before write-back; ``fmt.acc_bits`` bits, signed), combinational.
        out_row, out_data: write-back of the PE's row ``out_row`` of the layer (pass ``k``'s local
            row ``r`` is ``k * act_regs_per_pe + r``; layer row ``i`` is ``i // n_pe``), combinational.
    """

    def __init__(self, cfg: AcceleratorConfig, image, p: int, fmt: LayerFormat, relu: bool,
                 host: bool = False):
        self.cfg, self.fmt, self.relu, self.host = cfg, fmt, bool(relu), bool(host)
        R = cfg.act_regs_per_pe
        self.image, self.p = image, p
        self.pe_image = image.pes[p]
        if max(self.pe_image.local_rows, default=0) > R:
            raise ValueError(f"the PE owns {max(self.pe_image.local_rows)} rows in a pass; its destination "
                             f"registers hold act_regs_per_pe = {R}")
        self.n_cols, self.n_passes = image.n_cols, image.n_passes
        self.col_bits = max(1, self.n_cols.bit_length())          # j in 0 .. n_cols (pointer j+1)
        self.row_bits = max(1, (R - 1).bit_length())
        self.out_bits = max(1, (self.n_passes * R - 1).bit_length())
        host_ports = {}
        if self.host:
            host_ports = {
                "ld_we": In(1),
                "ld_mem": In(2),
                "ld_addr": In(unsigned(load_addr_bits(cfg, image))),
                "ld_data": In(unsigned(load_data_bits(cfg))),
            }
        super().__init__({
            **host_ports,
            "push": In(1),
            "push_act": In(signed(cfg.act_bits)),
            "push_col": In(unsigned(self.col_bits)),
            "pass_idx": In(range(max(2, self.n_passes))),
            "pass_end": In(1),
            "tile_end": In(1),
            "full": Out(1),
            "active": Out(1),
            "busy_count": Out(COUNTER_BITS),
            "spmat_reads": Out(COUNTER_BITS),
            "ptr_reads": Out(COUNTER_BITS),
            "out_row": In(unsigned(self.out_bits)),
            "out_data": Out(signed(cfg.act_bits)),
            "acc_data": Out(signed(fmt.acc_bits)),
        })

    def elaborate(self, platform):
        m = Module()
        cfg, fmt = self.cfg, self.fmt
        A, W, PB = cfg.act_bits, cfg.weight_bits, cfg.pointer_bits
        D, R = cfg.fifo_depth, cfg.act_regs_per_pe
        ib, rb, eb = cfg.index_bits, cfg.rel_index_bits, cfg.entry_bits

        # ---- activation FIFO (registers; occupancy at the start of the cycle decides) ----
        fifo_act = Array(Signal(signed(A), name=f"fifo_act{k}") for k in range(D))
        fifo_col = Array(Signal(unsigned(self.col_bits), name=f"fifo_col{k}") for k in range(D))
        ptr_bits = max(1, (D - 1).bit_length())
        rd = Signal(ptr_bits)
        wr = Signal(ptr_bits)
        level = Signal(range(D + 1))
        nonempty = Signal()
        m.d.comb += [nonempty.eq(level != 0), self.full.eq(level == D)]

        # ---- pointer banks (hw/image.py): pass k's pointer j in bank j & 1 at k * stride / 2 + (j >> 1) ----
        img = self.pe_image
        half = self.image.ptr_stride // 2
        host = self.host
        m.submodules.ptr_even = ptr_even = Memory(shape=unsigned(PB), depth=len(img.ptr_even),
                                                  init=[] if host else img.ptr_even)
        m.submodules.ptr_odd = ptr_odd = Memory(shape=unsigned(PB), depth=len(img.ptr_odd),
                                                init=[] if host else img.ptr_odd)
        pe_rd = ptr_even.read_port(domain="comb")
        po_rd = ptr_odd.read_port(domain="comb")
        head_col = fifo_col[rd]
        head_act = fifo_act[rd]
        pbase = Signal(range(self.image.ptr_depth + 1))
        m.d.comb += pbase.eq(self.pass_idx * half)
        m.d.comb += [pe_rd.addr.eq(pbase + ((head_col + 1) >> 1)), po_rd.addr.eq(pbase + (head_col >> 1))]
        ptr_lo = Mux(head_col[0], po_rd.data, pe_rd.data)
        ptr_hi = Mux(head_col[0], pe_rd.data, po_rd.data)

        # ---- sparse-matrix SRAM (synchronous read) ----
        m.submodules.spmat = spmat = Memory(shape=unsigned(cfg.sram_word_bits), depth=cfg.spmat_words,
                                            init=[] if host else img.spmat)
        sp_rd = spmat.read_port()

        # ---- codebook (combinational read, stage 1) ----
        m.submodules.codebook = codebook = Memory(shape=signed(W), depth=cfg.codebook_size, init=[] if host else self.image.codebook)
        cb_rd = codebook.read_port(domain="comb")

        # ---- host load port: one write port per memory, selected by ld_mem (LOAD_* codes) ----
        if host:
            for code, mem in ((LOAD_SPMAT, spmat), (LOAD_PTR_EVEN, ptr_even), (LOAD_PTR_ODD, ptr_odd),
                              (LOAD_CODEBOOK, codebook)):
                wp = mem.write_port()
                m.d.comb += [wp.en.eq(self.ld_we & (self.ld_mem == code) & (self.ld_addr < mem.depth)),
                             wp.addr.eq(self.ld_addr), wp.data.eq(self.ld_data[:len(wp.data)])]

        # ---- fetch and column switch ----
        cur = Signal(unsigned(PB))
        end = Signal(unsigned(PB), name="col_end")   # not "end": a Verilog keyword (Icarus 11 mis-reads the escaped name)
        act_cur = Signal(signed(A))
        first = Signal()               # the next fetch is the first of its column
        fetch = Signal()
        pop = Signal()
        m.d.comb += [
            fetch.eq(cur < end),
            pop.eq(Mux(fetch, (cur + 1) == end, 1) & nonempty),
            self.active.eq(fetch | pop),
            sp_rd.addr.eq(cur >> cfg.slot_bits),
        ]
        sp_word = Signal(unsigned(PB))
        m.d.comb += sp_word.eq(cur >> cfg.slot_bits)
        sp_en = spmat_read_enable(m, fetch, sp_word, self.tile_end)
        m.d.comb += sp_rd.en.eq(sp_en)
        with m.If(fetch):
            m.d.sync += [cur.eq(cur + 1), first.eq(0)]
        with m.If(pop):
            m.d.sync += [cur.eq(ptr_lo), end.eq(ptr_hi), act_cur.eq(head_act), first.eq(1),
                         rd.eq(Mux(rd == D - 1, 0, rd + 1))]
        with m.If(self.push):
            m.d.sync += [fifo_act[wr].eq(self.push_act), fifo_col[wr].eq(self.push_col),
                         wr.eq(Mux(wr == D - 1, 0, wr + 1))]
        m.d.sync += level.eq(level + self.push - pop)
        with m.If(self.active):
            m.d.sync += self.busy_count.eq(self.busy_count + 1)
        # access counters (observation only)
        with m.If(sp_en):
            m.d.sync += self.spmat_reads.eq(self.spmat_reads + 1)
        with m.If(pop):
            m.d.sync += self.ptr_reads.eq(self.ptr_reads + POINTER_READS_PER_POP)

        # ---- stage registers ----
        s1_valid = Signal()
        s1_first = Signal()
        s1_slot = Signal(max(1, cfg.slot_bits))
        s1_act = Signal(signed(A))
        m.d.sync += [s1_valid.eq(fetch), s1_first.eq(first), s1_act.eq(act_cur)]
        if cfg.slot_bits:
            m.d.sync += s1_slot.eq(cur[:cfg.slot_bits])

        # stage 1: slot select, (v, z) decode, relative-row accumulation, codebook lookup
        entry = Signal(eb)
        v = Signal(ib)
        z = Signal(rb)
        pos = Signal(range(R + (1 << rb) + 2))
        row = Signal.like(pos)
        if cfg.slot_bits:
            m.d.comb += entry.eq(sp_rd.data.word_select(s1_slot, eb))
        else:
            m.d.comb += entry.eq(sp_rd.data[:eb])
        m.d.comb += [v.eq(entry[:ib]), z.eq(entry[ib:]), row.eq(Mux(s1_first, 0, pos) + z), cb_rd.addr.eq(v)]
        with m.If(s1_valid):
            m.d.sync += pos.eq(row + 1)
        s2_valid = Signal()
        s2_row = Signal(self.row_bits)
        s2_w = Signal(signed(W))
        s2_act = Signal(signed(A))
        m.d.sync += [s2_valid.eq(s1_valid & (v != 0)), s2_row.eq(row), s2_w.eq(cb_rd.data), s2_act.eq(s1_act)]

        # stage 2: multiply
        s3_valid = Signal()
        s3_row = Signal(self.row_bits)
        s3_prod = Signal(signed(A + W))
        m.d.sync += [s3_valid.eq(s2_valid), s3_row.eq(s2_row), s3_prod.eq(s2_act * s2_w)]

        # stage 3: shift, accumulator read with bypass from stage 4, add with the overflow rule
        accs = Array(Signal(signed(fmt.acc_bits), name=f"acc{k}") for k in range(R))
        s4_valid = Signal()
        s4_row = Signal(self.row_bits)
        s4_val = Signal(signed(fmt.acc_bits))
        t = Signal(signed(A + W))
        m.d.comb += t.eq(s3_prod >> fmt.product_shift)
        acc_in = Mux(s4_valid & (s4_row == s3_row), s4_val, accs[s3_row])
        summed = accumulate_value(m, acc_in, t, fmt)
        m.d.sync += [s4_valid.eq(s3_valid), s4_row.eq(s3_row), s4_val.eq(summed)]

        # stage 4: write
        with m.If(s4_valid):
            m.d.sync += accs[s4_row].eq(s4_val)

        # ---- end of the pass: store the accumulators (bypassing this cycle's stage-4 write), clear them ----
        outs = Array(Signal(signed(fmt.acc_bits), name=f"out{k}") for k in range(self.n_passes * R))
        with m.If(self.pass_end):
            for r in range(R):
                final = Mux(s4_valid & (s4_row == r), s4_val, accs[r])
                for k in range(self.n_passes):
                    with m.If(self.pass_idx == k):
                        m.d.sync += outs[k * R + r].eq(final)
                m.d.sync += accs[r].eq(0)

        # ---- write-back read port (round, ReLU, clamp: combinational) ----
        raw = Signal(signed(fmt.acc_bits))
        m.d.comb += [raw.eq(outs[self.out_row]), self.acc_data.eq(raw)]
        m.d.comb += self.out_data.eq(writeback_value(m, raw, fmt, self.relu))
        return m
