"""The leading-nonzero-detection (LNZD) tree of the broadcaster (EIE, Han et al. 2016, Fig. 4).

The source activations of the current input batch are ``cols_per_batch = n_pe * act_regs_per_pe``
slots in column order, slot ``s`` on PE ``s mod n_pe``. A leaf of the tree is a group of 4
consecutive slots: 4 neighbouring PEs' registers (for ``n_pe`` a multiple of 4 the group never
straddles two register rows). Each node is a 4-input LNZD: it passes on whether any of its 4
inputs is nonzero and, for the first one that is, that input's number concatenated with the index
it reports. ``ceil(log4(width))`` levels of nodes find the lowest nonzero slot of the batch.

The broadcaster looks for the next nonzero at or after its column pointer, so the leaves see the
nonzero flags masked with ``slot >= start``. The tree is combinational: the next nonzero is found
(and broadcast) in the same cycle, as docs/microarchitecture.md specifies.
"""
from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Signal, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["LNZD", "lnzd_levels"]


def lnzd_levels(width: int) -> int:
    """Levels of 4-input nodes for ``width`` inputs (at least 1)."""
    levels, span = 1, 4
    while span < width:
        levels, span = levels + 1, span * 4
    return levels


class LNZD(wiring.Component):
    """Lowest set bit of ``nz`` at or after ``start``, by a tree of 4-input LNZD nodes.

    Ports: ``nz`` (``width`` bits, bit ``s`` = slot ``s`` is nonzero), ``start`` (the first slot
    to consider, ``0..width``), ``found`` (some slot ``>= start`` is nonzero) and ``index`` (the
    lowest such slot; 0 when none is found).
    """

    def __init__(self, width: int):
        assert width >= 1
        self.width = int(width)
        self.levels = lnzd_levels(self.width)
        super().__init__({
            "nz": In(self.width),
            "start": In(unsigned((self.width + 1).bit_length())),
            "found": Out(1),
            "index": Out(unsigned(2 * self.levels)),
        })

    def elaborate(self, platform):
        m = Module()
        W, L = self.width, self.levels
        # leaves: the masked nonzero flags, padded with zeros to 4**L
        level = []
        for s in range(4 ** L):
            v = Signal(name=f"leaf{s}")
            if s < W:
                m.d.comb += v.eq(self.nz[s] & (self.start <= s))
            level.append((v, None))
        # nodes: 4 children (valid, index of `bits` bits) -> (valid, index of bits + 2 bits)
        bits = 0
        for lv in range(L):
            nxt = []
            for g in range(len(level) // 4):
                kids = level[4 * g:4 * g + 4]
                valid = Signal(name=f"n{lv}_{g}_valid")
                idx = Signal(bits + 2, name=f"n{lv}_{g}_idx")
                m.d.comb += valid.eq(Cat(*(k[0] for k in kids)).any())
                for k in reversed(range(4)):            # the last If that matches wins: the lowest k
                    kv, ki = kids[k]
                    with m.If(kv):
                        low = ki if ki is not None else Const(0, 0)
                        m.d.comb += idx.eq(Cat(low, Const(k, 2)) if bits else Const(k, 2))
                nxt.append((valid, idx))
            level, bits = nxt, bits + 2
        (valid, idx), = level
        m.d.comb += [self.found.eq(valid), self.index.eq(idx)]
        return m
