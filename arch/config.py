"""AcceleratorConfig: the EIE machine (``kind = "eie"``) that the encoding, sim/, hw/ and
energy_model/ are built from, and the contract constants every part of EIE shares.

The defaults are EIE's (ISCA 2016): 64 PEs, 4-bit codebook indices, 4-bit
relative indices, 64-bit sparse-matrix SRAM words and 128 KiB of sparse-matrix
SRAM per PE. It is EIE's config; another machine brings a config class of its own
(arch/machine.py), selected by ``[accel] kind``.

The constants here are the single home of facts the simulator, the RTL and the energy
model share: the pipeline depth, the access-count components and the technology nodes.
"""
from __future__ import annotations

import enum
import math
from dataclasses import dataclass

from .configio import ConfigMixin, check
from .encoding import StreamFormat, entries_per_word

KIB = 1024
#: Technology nodes (nm) the energy model has scaling for; ``tech_node`` must be one of them.
TECH_NODES = (45, 32, 28, 22, 16, 14, 10, 7)
#: Pipeline stages after the entry fetch (P in docs/microarchitecture.md): the drain length of
#: every tile, in the simulator (sim/engine.py) and in the RTL (hw/array.py).
PIPELINE_STAGES = 4
#: EIE's access-count components, the keys of ``accesses[component] = {"reads": n, "writes": n}``
#: (docs/microarchitecture.md, "Access counts"); the energy model consumes exactly these.
ACCESS_COMPONENTS = ("spmat_sram", "ptr_sram", "act_regs", "act_sram", "codebook", "fifo", "mul", "add",
                     "broadcast")
#: The components that store data: each has a read and a write energy.
STORAGE_COMPONENTS = ("spmat_sram", "ptr_sram", "act_regs", "act_sram", "codebook", "fifo")
#: The components that count operations under ``reads`` (their ``writes`` are always 0).
OP_COMPONENTS = ("mul", "add", "broadcast")


class Overflow(str, enum.Enum):
    """What the accumulator does when a sum leaves its range (arch/fixedpoint.py)."""

    SATURATE = "saturate"  # clamp to the largest / smallest value
    WRAP = "wrap"          # two's-complement wrap-around


def _is_pow2(x: int) -> bool:
    return x > 0 and (x & (x - 1)) == 0


@dataclass(frozen=True)
class AcceleratorConfig(ConfigMixin):
    """One design point of the accelerator (per-PE sizes; KiB = 1024 bytes).

    Machine:
        kind: always ``"eie"`` for this class (``[accel] kind`` selects the machine).

    Encoding (arch/encoding.py):
        n_pe: number of processing elements; row i of W belongs to PE ``i mod n_pe``.
        index_bits: codebook index width v (the codebook has ``2**index_bits`` entries).
        rel_index_bits: relative row index width z; gaps beyond ``2**z - 1`` need fillers.
        sram_word_bits: sparse-matrix SRAM word width; a word holds
            ``entries_per_word`` (v, z) entries (a power of two, so the low pointer
            bits select the entry).
        spmat_sram_bytes: sparse-matrix SRAM per PE, in bytes.
        ptr_bits: column-pointer width. ``None`` derives it from the sparse-matrix
            capacity; a given value must address that whole capacity.

    Datapath and timing (docs/microarchitecture.md, arch/fixedpoint.py):
        fifo_depth: entries of each PE's activation FIFO.
        act_bits, act_frac_bits: activations are signed ``act_bits``-bit fixed point
            with ``act_frac_bits`` fractional bits (Q(act_bits-act_frac_bits).act_frac_bits).
        weight_bits: width of a signed fixed-point codebook entry; its fractional
            bits are derived per layer from the codebook (arch/fixedpoint.py).
        acc_bits, acc_frac_bits: the signed accumulator and its fractional bits.
        overflow: accumulator overflow rule, ``saturate`` or ``wrap``.
        act_regs_per_pe: activations each PE's source and destination register
            files hold; longer vectors run in passes of ``n_pe * act_regs_per_pe``.
        ptr_sram_bytes, act_sram_bytes: pointer and activation SRAM per PE.
        clock_mhz: clock frequency in MHz.
        tech_node: process node in nm (the energy model scales by it).
    """

    kind: str = "eie"
    n_pe: int = 64
    index_bits: int = 4
    rel_index_bits: int = 4
    sram_word_bits: int = 64
    spmat_sram_bytes: int = 128 * KIB
    ptr_bits: int | None = None
    fifo_depth: int = 8
    act_bits: int = 16
    act_frac_bits: int = 8
    weight_bits: int = 16
    acc_bits: int = 32
    acc_frac_bits: int = 16
    overflow: Overflow = Overflow.SATURATE
    act_regs_per_pe: int = 64
    ptr_sram_bytes: int = 32 * KIB
    act_sram_bytes: int = 2 * KIB
    clock_mhz: float = 800.0
    tech_node: int = 45

    def __post_init__(self) -> None:
        check(self.kind == "eie", f"kind = {self.kind!r}: AcceleratorConfig is the EIE machine's config "
                                  "(kind = \"eie\")")
        if not isinstance(self.overflow, Overflow):
            try:
                object.__setattr__(self, "overflow", Overflow(self.overflow))
            except ValueError:
                check(False, f"overflow = {self.overflow!r} is not allowed; choose one of 'saturate', 'wrap'")
        check(isinstance(self.n_pe, int) and 1 <= self.n_pe <= 4096,
              f"n_pe = {self.n_pe!r} is not allowed; use an integer in 1..4096")
        check(isinstance(self.index_bits, int) and 1 <= self.index_bits <= 8,
              f"index_bits = {self.index_bits!r} is not allowed; use an integer in 1..8")
        check(isinstance(self.rel_index_bits, int) and 1 <= self.rel_index_bits <= 8,
              f"rel_index_bits = {self.rel_index_bits!r} is not allowed; use an integer in 1..8")
        check(isinstance(self.sram_word_bits, int) and _is_pow2(self.sram_word_bits)
              and 8 <= self.sram_word_bits <= 1024,
              f"sram_word_bits = {self.sram_word_bits!r} is not allowed; use a power of two in 8..1024")
        check(self.sram_word_bits >= self.entry_bits,
              f"sram_word_bits = {self.sram_word_bits} cannot hold one {self.entry_bits}-bit (v, z) entry "
              f"(index_bits {self.index_bits} + rel_index_bits {self.rel_index_bits}); use at least {self.entry_bits}")
        check(isinstance(self.spmat_sram_bytes, int) and self.spmat_sram_bytes * 8 >= self.sram_word_bits
              and self.spmat_sram_bytes <= 1 << 30,
              f"spmat_sram_bytes = {self.spmat_sram_bytes!r} is not allowed; use at least one "
              f"{self.sram_word_bits}-bit word and at most 1 GiB")
        need = self.required_ptr_bits
        if self.ptr_bits is not None:
            check(isinstance(self.ptr_bits, int) and need <= self.ptr_bits <= 32,
                  f"ptr_bits = {self.ptr_bits!r} does not address the {self.spmat_capacity_entries} entries of "
                  f"the {self.spmat_sram_bytes}-byte sparse-matrix SRAM; use {need}..32 or leave it unset")

        self._check_datapath()

    def _check_datapath(self) -> None:
        def rng(name: str, lo: int, hi: int) -> None:
            v = getattr(self, name)
            check(isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi,
                  f"{name} = {v!r} is not allowed; use an integer in {lo}..{hi}")

        rng("fifo_depth", 1, 4096)
        rng("act_bits", 4, 32)
        rng("act_frac_bits", 0, self.act_bits - 2)  # the constant 1 (bias input) must be representable
        rng("weight_bits", 2, 32)
        rng("acc_bits", self.act_bits, 48)
        rng("acc_frac_bits", self.act_frac_bits, self.acc_bits - 2)
        rng("act_regs_per_pe", 1, 1 << 20)
        check(isinstance(self.ptr_sram_bytes, int) and 1 <= self.ptr_sram_bytes <= 1 << 30,
              f"ptr_sram_bytes = {self.ptr_sram_bytes!r} is not allowed; use 1 byte .. 1 GiB")
        check(self.ptr_sram_bytes * 8 >= 2 * self.pointer_bits,
              f"ptr_sram_bytes = {self.ptr_sram_bytes} cannot hold one column's two {self.pointer_bits}-bit pointers")
        check(isinstance(self.act_sram_bytes, int) and 0 <= self.act_sram_bytes <= 1 << 30,
              f"act_sram_bytes = {self.act_sram_bytes!r} is not allowed; use 0 .. 1 GiB")
        check(isinstance(self.clock_mhz, float) and 1.0 <= self.clock_mhz <= 100000.0,
              f"clock_mhz = {self.clock_mhz!r} is not allowed; use a number in [1, 100000] (MHz)")
        check(isinstance(self.tech_node, int) and self.tech_node in TECH_NODES,
              f"tech_node = {self.tech_node!r} is not allowed; choose one of {', '.join(map(str, TECH_NODES))} (nm)")

    # ---- derived quantities (the RTL parameters and sim constants come from these) ----
    @property
    def entry_bits(self) -> int:
        """Bits of one (v, z) entry."""
        return self.index_bits + self.rel_index_bits

    @property
    def codebook_size(self) -> int:
        return 1 << self.index_bits

    @property
    def max_rel(self) -> int:
        """Largest relative index z; a filler entry is (v=0, z=max_rel)."""
        return (1 << self.rel_index_bits) - 1

    @property
    def entries_per_word(self) -> int:
        """Entries per SRAM word: the largest power of two that fits."""
        return entries_per_word(self.sram_word_bits, self.entry_bits)

    @property
    def stream_format(self) -> StreamFormat:
        """What the encoder needs of this machine (arch/encoding.py)."""
        return StreamFormat(self.n_pe, self.index_bits, self.rel_index_bits, self.sram_word_bits, self.pointer_bits)

    @property
    def slot_bits(self) -> int:
        """Low pointer bits that select the entry within a word."""
        return self.entries_per_word.bit_length() - 1

    @property
    def spmat_words(self) -> int:
        """Sparse-matrix SRAM depth per PE, in words."""
        return self.spmat_sram_bytes * 8 // self.sram_word_bits

    @property
    def spmat_capacity_entries(self) -> int:
        """(v, z) entries one PE's sparse-matrix SRAM holds."""
        return self.spmat_words * self.entries_per_word

    @property
    def required_ptr_bits(self) -> int:
        """Pointer width needed to address 0..capacity (a column end may equal the capacity)."""
        return max(1, math.ceil(math.log2(self.spmat_capacity_entries + 1)))

    @property
    def pointer_bits(self) -> int:
        """The pointer width in use: ``ptr_bits`` if set, else derived from the capacity."""
        return self.ptr_bits if self.ptr_bits is not None else self.required_ptr_bits

    @property
    def ptr_capacity_columns(self) -> int:
        """Columns whose pointers fit one PE's pointer SRAM (n_cols + 1 pointers per layer)."""
        return self.ptr_sram_bytes * 8 // self.pointer_bits - 1

    @property
    def rows_per_pass(self) -> int:
        """Output rows one pass produces: every PE's destination registers."""
        return self.n_pe * self.act_regs_per_pe

    @property
    def cols_per_batch(self) -> int:
        """Input columns one batch holds: every PE's source registers (a_j on PE j mod n_pe)."""
        return self.n_pe * self.act_regs_per_pe

    def for_layer(self, index_bits: int, rel_index_bits: int | None = None) -> "AcceleratorConfig":
        """This machine re-targeted to a layer's index widths (the one rule the simulator, the
        RTL export and the energy model use).

        ``index_bits`` is the layer's codebook index width; ``rel_index_bits`` its relative
        index width (None keeps the machine's). The SRAM word is widened to the next power of
        two if one (v, z) entry no longer fits, and the pointer width is derived again.
        Returns ``self`` when nothing changes.
        """
        rel = self.rel_index_bits if rel_index_bits is None else rel_index_bits
        if (index_bits, rel) == (self.index_bits, self.rel_index_bits):
            return self
        word = max(self.sram_word_bits, StreamFormat.smallest_word(1, index_bits, rel).word_bits)
        return self.replace(index_bits=index_bits, rel_index_bits=rel, sram_word_bits=word, ptr_bits=None)

    def retarget_note(self, layer_cfg: "AcceleratorConfig") -> str:
        """Why ``layer_cfg`` (from :meth:`for_layer`) differs from this machine, or ``""``."""
        if layer_cfg is self or layer_cfg == self:
            return ""
        note = f"re-encoded for {layer_cfg.index_bits}-bit codebook indices"
        if layer_cfg.rel_index_bits != self.rel_index_bits:
            note += f", {layer_cfg.rel_index_bits}-bit relative indices"
        if layer_cfg.sram_word_bits != self.sram_word_bits:
            note += f", {layer_cfg.sram_word_bits}-bit SRAM words"
        return note

    @property
    def cycle_ns(self) -> float:
        """Clock period in ns."""
        return 1000.0 / self.clock_mhz
