"""The EIE weight-stream format: interleaved CSC per PE, packed into SRAM words.

This module is the contract that the simulator (sim/), the RTL and its SRAM
images (hw/) and the storage accounting implement. ``encode_layer`` is a pure
function of a quantized layer and a :class:`StreamFormat` (which an
:class:`~arch.config.AcceleratorConfig` derives);
``decode_layer`` inverts it, reading the packed SRAM words.

Input
-----
``indices`` is a 2-D integer array, rows = outputs, columns = inputs (the bias
is already the last column; all columns are treated alike). Each element is a
codebook index in ``0 .. 2**index_bits - 1``; index 0 is a zero (pruned) weight.

Rows to PEs
-----------
Row ``i`` belongs to PE ``p = i % n_pe`` and is that PE's local row
``r = i // n_pe``. PE ``p`` therefore owns ``len(range(p, n_rows, n_pe))`` local
rows; PEs ``p >= n_rows`` own none and have empty streams.

Entries (per PE, CSC)
---------------------
For every column ``j = 0 .. n_cols-1`` in order, the PE stores its nonzeros of
that column in increasing local row order as entries ``(v, z)``:

* ``v`` (``index_bits`` bits) is the codebook index;
* ``z`` (``rel_index_bits`` bits) is the number of zero local rows skipped since
  the previous entry of the same column (for the first entry of a column: since
  local row 0). Decoding keeps a position ``pos`` (0 at each column start); an
  entry lands on local row ``pos + z`` and sets ``pos = pos + z + 1``.
* With ``M = max_rel = 2**rel_index_bits - 1``, a gap ``g > M`` is bridged by
  ``g // (M+1)`` filler entries ``(v=0, z=M)`` followed by the real entry with
  ``z = g % (M+1)``. Each filler advances ``pos`` by ``M+1`` (M zeros, then a zero
  "entry"). There are no fillers after the last nonzero of a column, so an
  entry with ``v == 0`` is always a filler, and an empty column has no entries.

Paper example (``rel_index_bits = 4``): the column ``[0,0,1,2,0 x18,3]`` is
``v = [1,2,0,3], z = [2,0,15,2]``.

Column pointers
---------------
Per PE, ``col_ptr`` (int64, length ``n_cols + 1``, ``col_ptr[0] = 0``): column
``j``'s entries are at entry addresses ``[col_ptr[j], col_ptr[j+1])``. In the
hardware each pointer is ``pointer_bits`` wide.

SRAM words
----------
A word of ``word_bits`` bits holds ``E = entries_per_word`` entries (a power of
two). Entry address ``a`` is in word ``a >> slot_bits`` at slot ``a & (E-1)``.
Slot ``k`` occupies word bits ``[k*entry_bits, (k+1)*entry_bits)`` with
``entry_bits = index_bits + rel_index_bits``; within the entry, ``v`` is the low
``index_bits`` bits and ``z`` the next ``rel_index_bits`` bits, i.e. the entry
value is ``v | (z << index_bits)``. Unused slots (after a PE's last entry) and
the unused high bits of each word are 0. A PE's words are a ``uint64`` array of
shape ``(n_words, n_limbs)``, ``n_words = ceil(n_entries / E)``,
``n_limbs = ceil(word_bits / 64)``, limb 0 holding word bits 0..63 (an entry may
straddle two limbs). An empty PE has ``n_words = 0``.
"""
from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np

from .errors import DcsimError

if TYPE_CHECKING:
    from .config import AcceleratorConfig

__all__ = [
    "EncodingError", "StreamFormat", "PEStream", "EIEStreams",
    "encode_layer", "decode_layer", "pack_words", "unpack_words", "check_capacity",
]


class EncodingError(DcsimError, ValueError):
    """A layer cannot be encoded/decoded, or a stream does not fit. The message is one line."""


def entries_per_word(word_bits: int, entry_bits: int) -> int:
    """Entries a ``word_bits``-bit word holds: the largest power of two that fits."""
    return 1 << int(math.floor(math.log2(word_bits // entry_bits)))


@dataclass(frozen=True)
class StreamFormat:
    """What the encoding needs of a machine: the PE count and the widths of the stream.

    ``AcceleratorConfig.stream_format`` derives it from a machine; Deep Compression's storage
    form (compress/storage.py) is the same format on one PE, with no SRAM behind it.

    Attributes:
        n_pe: PEs; row i of W belongs to PE ``i mod n_pe``.
        index_bits: codebook index width v.
        rel_index_bits: relative row index width z.
        word_bits: SRAM word width; a word holds :attr:`entries_per_word` entries.
        pointer_bits: column-pointer width (0: not stored in hardware; only the footprint uses it).
    """

    n_pe: int
    index_bits: int
    rel_index_bits: int
    word_bits: int
    pointer_bits: int = 0

    def __post_init__(self) -> None:
        for name, lo, hi in (("n_pe", 1, 1 << 20), ("index_bits", 1, 8), ("rel_index_bits", 1, 16),
                             ("word_bits", 1, 1 << 16), ("pointer_bits", 0, 64)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
                raise EncodingError(f"stream format: {name} = {v!r} is not allowed; use an integer in {lo}..{hi}")
        if self.word_bits < self.entry_bits:
            raise EncodingError(f"stream format: a {self.word_bits}-bit word cannot hold one "
                                f"{self.entry_bits}-bit (v, z) entry")

    @classmethod
    def smallest_word(cls, n_pe: int, index_bits: int, rel_index_bits: int) -> "StreamFormat":
        """The format whose word is the smallest power of two (at least 8 bits) holding one entry."""
        word = 1 << max(3, math.ceil(math.log2(index_bits + rel_index_bits)))
        return cls(n_pe, index_bits, rel_index_bits, word)

    @property
    def stream_format(self) -> "StreamFormat":
        """Itself, so that the encoder takes a format or a machine config alike."""
        return self

    @property
    def entry_bits(self) -> int:
        """Bits of one (v, z) entry."""
        return self.index_bits + self.rel_index_bits

    @property
    def max_rel(self) -> int:
        """Largest relative index z; a filler entry is (v=0, z=max_rel)."""
        return (1 << self.rel_index_bits) - 1

    @property
    def entries_per_word(self) -> int:
        """Entries per SRAM word: the largest power of two that fits."""
        return entries_per_word(self.word_bits, self.entry_bits)

    @property
    def slot_bits(self) -> int:
        """Low entry-address bits that select the entry within a word."""
        return self.entries_per_word.bit_length() - 1


_FORMAT_ATTRIBUTES = frozenset({"n_pe", "index_bits", "rel_index_bits", "word_bits", "pointer_bits", "entry_bits",
                                "max_rel", "entries_per_word", "slot_bits"})


class HasStreamFormat(Protocol):
    """A :class:`StreamFormat`, or a machine config with a ``stream_format`` (AcceleratorConfig)."""

    @property
    def stream_format(self) -> StreamFormat: ...


def _readonly(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


@dataclass(frozen=True, eq=False)
class PEStream:
    """One PE's sparse matrix: entries ``(v, z)``, column pointers and packed SRAM words.

    Attributes:
        v: uint8 codebook indices, one per entry (0 = filler).
        z: uint8 relative row indices, one per entry.
        col_ptr: int64, length ``n_cols + 1``; column j is entries ``[col_ptr[j], col_ptr[j+1])``.
        words: uint64 of shape ``(n_words, n_limbs)``, the PE's sparse-matrix SRAM image.

    From :func:`encode_layer` the arrays are read-only views into layer-wide arrays.
    """

    v: np.ndarray
    z: np.ndarray
    col_ptr: np.ndarray
    words: np.ndarray

    @property
    def n_entries(self) -> int:
        """Entries stored, fillers included."""
        return int(self.v.shape[0])

    @property
    def n_words(self) -> int:
        """SRAM words used."""
        return int(self.words.shape[0])

    @property
    def n_fillers(self) -> int:
        """Filler entries (those with ``v == 0``)."""
        return int(np.count_nonzero(self.v == 0))


@dataclass(frozen=True, eq=False)
class EIEStreams:
    """A layer encoded in one :class:`StreamFormat`: the per-PE streams (the format's widths are
    readable here too: ``n_pe``, ``index_bits``, ``word_bits``, ``entries_per_word``, ...)."""

    n_rows: int
    n_cols: int
    format: StreamFormat
    pes: tuple[PEStream, ...]

    def __getattr__(self, name: str):
        # n_pe, index_bits, rel_index_bits, word_bits, pointer_bits, entry_bits, max_rel,
        # entries_per_word, slot_bits: the stream format's
        if name in _FORMAT_ATTRIBUTES:
            return getattr(self.format, name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    @property
    def n_limbs(self) -> int:
        """uint64 limbs per SRAM word."""
        return -(-self.word_bits // 64)

    def local_rows(self, p: int) -> int:
        """Number of rows of W owned by PE ``p``."""
        return len(range(p, self.n_rows, self.n_pe))

    @property
    def total_entries(self) -> int:
        """Entries over all PEs, fillers included."""
        return sum(pe.n_entries for pe in self.pes)

    @property
    def total_fillers(self) -> int:
        """Filler entries over all PEs."""
        return sum(pe.n_fillers for pe in self.pes)

    @property
    def max_entries_per_pe(self) -> int:
        """Entries of the fullest PE (0 if there are none)."""
        return max((pe.n_entries for pe in self.pes), default=0)

    def footprint(self) -> dict[str, int]:
        """On-chip footprint in bits.

        Keys: ``spmat_bits`` (sum over PEs of n_words * word_bits), ``ptr_bits``
        (n_pe * (n_cols + 1) * pointer_bits), ``entry_bits_used``
        (total_entries * entry_bits), ``padding_bits`` (spmat_bits - entry_bits_used:
        unused slots and unused word bits), ``total_bits`` (spmat_bits + ptr_bits)
        and ``max_pe_spmat_bits`` (the fullest PE's words * word_bits).
        """
        words = [pe.n_words for pe in self.pes]
        spmat = sum(words) * self.word_bits
        ptr = self.n_pe * (self.n_cols + 1) * self.pointer_bits
        used = self.total_entries * self.entry_bits
        return {
            "spmat_bits": spmat,
            "ptr_bits": ptr,
            "entry_bits_used": used,
            "padding_bits": spmat - used,
            "total_bits": spmat + ptr,
            "max_pe_spmat_bits": max(words, default=0) * self.word_bits,
        }


# ---------------------------------------------------------------------------
# word packing
# ---------------------------------------------------------------------------

def _slot_layout(index_bits: int, rel_index_bits: int, word_bits: int, epw: int):
    """Per slot k: limb, shift within the limb, and whether it straddles into the next limb."""
    eb = index_bits + rel_index_bits
    off = np.arange(epw, dtype=np.int64) * eb
    limb = off >> 6
    sh = off & 63
    straddle = sh + eb > 64
    return limb, sh.astype(np.uint64), straddle


def _pack(v: np.ndarray, z: np.ndarray, index_bits: int, rel_index_bits: int,
          word_bits: int, epw: int) -> np.ndarray:
    n = int(v.shape[0])
    n_limbs = -(-word_bits // 64)
    n_words = -(-n // epw)
    out = np.zeros((n_words, n_limbs), dtype=np.uint64)
    if n_words == 0:
        return out
    e = np.zeros(n_words * epw, dtype=np.uint64)
    e[:n] = v.astype(np.uint64) | (z.astype(np.uint64) << np.uint64(index_bits))
    e = e.reshape(n_words, epw)
    limb, sh, straddle = _slot_layout(index_bits, rel_index_bits, word_bits, epw)
    for L in range(n_limbs):
        m = limb == L
        if m.any():
            # disjoint bit fields: OR-reduce of the shifted entries (low parts)
            out[:, L] = np.bitwise_or.reduce(e[:, m] << sh[m], axis=1)
        ms = (limb == L - 1) & straddle
        if ms.any():
            out[:, L] |= np.bitwise_or.reduce(e[:, ms] >> (np.uint64(64) - sh[ms]), axis=1)
    return out


def _check_words(words, n_entries, word_bits: int, epw: int):
    """``(words as an array, n_entries, words needed)``; raises unless ``words`` holds ``n_entries``."""
    n_limbs = -(-word_bits // 64)
    words = np.asarray(words)
    if words.ndim != 2 or words.shape[1] != n_limbs:
        raise EncodingError(f"SRAM words have shape {words.shape}; expected (n_words, {n_limbs}) "
                            f"uint64 limbs for {word_bits}-bit words")
    n_entries = int(n_entries)
    n_words = -(-n_entries // epw)
    if n_entries < 0 or words.shape[0] < n_words:
        raise EncodingError(f"{n_entries} entries need {n_words} SRAM words of {epw} entries; "
                            f"only {words.shape[0]} given")
    return words, n_entries, n_words


def _unpack(words: np.ndarray, n_entries: int, index_bits: int, rel_index_bits: int,
            word_bits: int, epw: int) -> tuple[np.ndarray, np.ndarray]:
    words, n_entries, n_words = _check_words(words, n_entries, word_bits, epw)
    n_limbs = words.shape[1]
    w = words[:n_words].astype(np.uint64, copy=False)
    eb = index_bits + rel_index_bits
    mask = np.uint64((1 << eb) - 1)
    e = np.zeros((n_words, epw), dtype=np.uint64)
    limb, sh, straddle = _slot_layout(index_bits, rel_index_bits, word_bits, epw)
    for L in range(n_limbs):
        m = limb == L
        if not m.any():
            continue
        e[:, m] = w[:, L:L + 1] >> sh[m]
        ms = m & straddle
        if ms.any():
            e[:, ms] |= w[:, L + 1:L + 2] << (np.uint64(64) - sh[ms])
    e = (e & mask).reshape(-1)[:n_entries]
    v = (e & np.uint64((1 << index_bits) - 1)).astype(np.uint8)
    z = (e >> np.uint64(index_bits)).astype(np.uint8)
    return v, z


def pack_words(v: np.ndarray, z: np.ndarray, cfg: HasStreamFormat) -> np.ndarray:
    """Pack one PE's entries into SRAM words.

    Entry ``a`` goes to word ``a >> cfg.slot_bits``, slot ``a & (entries_per_word-1)``,
    bits ``[slot*entry_bits, (slot+1)*entry_bits)`` as ``v | (z << index_bits)``;
    unused slots and bits are 0.

    Returns:
        uint64 array of shape ``(ceil(len(v) / entries_per_word), ceil(sram_word_bits / 64))``,
        limb 0 = least significant 64 bits of the word.

    Raises:
        EncodingError: v and z differ in length, are not 1-D, or a value does not fit its width.
    """
    v = np.asarray(v)
    z = np.asarray(z)
    if v.ndim != 1 or z.shape != v.shape:
        raise EncodingError(f"v and z must be 1-D of equal length; got shapes {v.shape} and {z.shape}")
    fmt = cfg.stream_format
    for name, a, bits in (("v", v, fmt.index_bits), ("z", z, fmt.rel_index_bits)):
        if a.size and (int(a.min()) < 0 or int(a.max()) >= (1 << bits)):
            raise EncodingError(f"{name} values span {int(a.min())}..{int(a.max())}; "
                                f"allowed 0..{(1 << bits) - 1} for {bits} bits")
    return _pack(v, z, fmt.index_bits, fmt.rel_index_bits, fmt.word_bits, fmt.entries_per_word)


def unpack_words(words: np.ndarray, n_entries: int, cfg: HasStreamFormat) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of :func:`pack_words`: the first ``n_entries`` entries of ``words`` as uint8 ``(v, z)``.

    Raises:
        EncodingError: ``words`` has the wrong number of limbs or too few words.
    """
    fmt = cfg.stream_format
    return _unpack(words, n_entries, fmt.index_bits, fmt.rel_index_bits, fmt.word_bits, fmt.entries_per_word)


# ---------------------------------------------------------------------------
# encode / decode
# ---------------------------------------------------------------------------

def _validate_indices(indices, index_bits: int) -> np.ndarray:
    a = np.asarray(indices)
    if a.ndim != 2:
        raise EncodingError(f"indices must be a 2-D (out x in) array; got {a.ndim}-D with shape {a.shape}")
    if not np.issubdtype(a.dtype, np.integer):
        raise EncodingError(f"indices must be an integer array; got dtype {a.dtype}")
    if a.size:
        lo, hi = (0 if a.dtype.kind == "u" else int(a.min())), int(a.max())
        if lo < 0:
            raise EncodingError(f"indices contain negative value {lo}; codebook indices must be >= 0")
        if hi >= (1 << index_bits):
            raise EncodingError(f"indices contain {hi}, above the {index_bits}-bit codebook; "
                                f"allowed 0..{(1 << index_bits) - 1}")
    return a.astype(np.uint8, copy=False)


_ENCODE_BLOCK = 1 << 24
"""Index-matrix elements per block of whole (PE, column) groups that :func:`_encode_layer_numpy` encodes at once."""


def encode_layer(indices: np.ndarray, cfg: HasStreamFormat) -> EIEStreams:
    """Encode a quantized layer into EIE's per-PE interleaved-CSC streams (see the module docstring).

    Args:
        indices: 2-D integer codebook indices (rows = out, cols = in); 0 is a pruned weight.
            Zero rows or zero columns are allowed (all PEs are then empty).
        cfg: a :class:`StreamFormat`, or a machine config whose ``stream_format`` gives the PE
            count and the index, relative-index, word and pointer widths.

    Returns:
        EIEStreams with one PEStream per PE. A layer that overflows a PE's SRAM is
        still encoded; call :func:`check_capacity` to enforce the capacity.

    Raises:
        EncodingError: indices is not 2-D, not integer, negative, or >= 2**index_bits.
    """
    fmt = cfg.stream_format
    a = _validate_indices(indices, fmt.index_bits)
    if fmt.rel_index_bits > 8:
        return _encode_layer_numpy(a, fmt)
    from ._encoding_kernels import _encode, _pack_streams, _split

    n_rows, n_cols = a.shape
    n_pe, ib, rb, eb, epw = fmt.n_pe, fmt.index_bits, fmt.rel_index_bits, fmt.entry_bits, fmt.entries_per_word
    n_limbs = -(-fmt.word_bits // 64)
    a = np.ascontiguousarray(a)                  # a copy only for a non-C-ordered input
    col_ptr = np.empty((n_pe, n_cols + 1), dtype=np.int64)
    # the entries v | z << index_bits, in 8 or 16 bits, in a buffer of fillers sized for the
    # nonzeros and a quarter more (grown if the fillers need more)
    nnz = int(np.count_nonzero(a))
    e = np.full(nnz + nnz // 4 + 64, fmt.max_rel << ib, dtype=np.uint8 if eb <= 8 else np.uint16)
    e, pe_start = _encode(a, n_pe, ib, rb, col_ptr, e)
    e = e[:int(pe_start[-1])]
    v_all = np.empty(e.shape[0], dtype=np.uint8)
    z_all = np.empty(e.shape[0], dtype=np.uint8)
    _split(e, fmt.index_bits, v_all, z_all)
    whole = eb == 8 * e.itemsize and epw * eb == 64 * n_limbs and sys.byteorder == "little"
    words_all, w_start = _pack_streams(e, pe_start, eb, epw, n_limbs, whole)
    del e
    return _streams(n_rows, n_cols, fmt, v_all, z_all, col_ptr, pe_start, words_all, w_start)


def _streams(n_rows, n_cols, fmt, v_all, z_all, col_ptr, pe_start, words_all, w_start) -> EIEStreams:
    """The EIEStreams whose PEs are read-only views into the layer-wide arrays (no per-PE copies)."""
    for x in (v_all, z_all, col_ptr, words_all):
        _readonly(x)
    pes = []
    for p in range(fmt.n_pe):
        s, e = int(pe_start[p]), int(pe_start[p + 1])
        pes.append(PEStream(v=v_all[s:e], z=z_all[s:e], col_ptr=col_ptr[p],
                            words=words_all[w_start[p]:w_start[p + 1]]))
    return EIEStreams(n_rows=int(n_rows), n_cols=int(n_cols), format=fmt, pes=tuple(pes))


def _encode_layer_numpy(a: np.ndarray, fmt: StreamFormat) -> EIEStreams:
    """:func:`encode_layer` in vectorised numpy, on validated uint8 indices ``a``: the reference
    that the Numba kernels (arch/_encoding_kernels.py) equal bit for bit, and the encoder for
    ``rel_index_bits > 8`` (whose z values do not fit the uint8 stream arrays)."""
    n_rows, n_cols = a.shape
    n_pe = fmt.n_pe
    rb = fmt.rel_index_bits
    M = fmt.max_rel

    # (R, P, C) with row i = R-index r, P-index p (i = r*n_pe + p), then to (P, C, R) so that
    # C-order nonzeros come out sorted by (PE, column, local row). The groups g = p * n_cols + j
    # are independent (fillers depend on gaps within a group), so they are encoded a block of
    # whole groups at a time: the per-entry index arrays never span more than one block.
    ends = np.zeros(n_pe * n_cols, dtype=np.int64)
    v_parts: list[np.ndarray] = []
    z_parts: list[np.ndarray] = []
    total = 0
    if n_rows and n_cols:
        P = min(n_pe, n_rows)
        R = -(-n_rows // P)
        if R * P != n_rows:
            a = np.concatenate([a, np.zeros((R * P - n_rows, n_cols), dtype=np.uint8)], axis=0)
        t = np.ascontiguousarray(a.reshape(R, P, n_cols).transpose(1, 2, 0)).reshape(-1)
        n_groups = P * n_cols
        per_block = max(1, _ENCODE_BLOCK // R)
        for g0 in range(0, n_groups, per_block):
            g1 = min(n_groups, g0 + per_block)
            sub = t[g0 * R:g1 * R]
            flat = np.flatnonzero(sub)
            nnz = flat.shape[0]
            if nnz == 0:
                continue
            vals = sub[flat]
            g = flat // R                    # group within the block
            r = flat - g * R                 # local row
            del flat
            # gap since the previous entry of the same (PE, column), or since local row 0
            start = np.empty(nnz, dtype=np.int64)
            first = np.empty(nnz, dtype=bool)
            first[0] = True
            np.not_equal(g[1:], g[:-1], out=first[1:])
            start[0] = 0
            start[1:] = r[:-1] + 1
            start[first] = 0
            del first
            gap = r - start
            del start, r
            cnt = (gap >> rb) + 1            # fillers (gap // (M+1)) and the entry
            zreal = (gap & M).astype(np.uint8)   # gap %  (M+1)
            del gap
            pos = np.cumsum(cnt) - 1         # address of each real entry in the block's stream
            del cnt
            n_block = int(pos[-1]) + 1
            v_blk = np.zeros(n_block, dtype=np.uint8)
            z_blk = np.full(n_block, M, dtype=np.uint8)
            v_blk[pos] = vals
            z_blk[pos] = zreal
            v_parts.append(v_blk)
            z_parts.append(z_blk)
            # column ends as addresses in the concatenated stream, at each nonempty group's last entry
            last = np.empty(nnz, dtype=bool)
            last[-1] = True
            np.not_equal(g[1:], g[:-1], out=last[:-1])
            ends[g0 + g[last]] = pos[last] + 1 + total
            total += n_block
        del t
    v_all = np.concatenate(v_parts) if v_parts else np.zeros(0, dtype=np.uint8)
    z_all = np.concatenate(z_parts) if z_parts else np.zeros(0, dtype=np.uint8)
    del v_parts, z_parts
    # carried forward over empty columns, then made per-PE
    np.maximum.accumulate(ends, out=ends)
    ends = ends.reshape(n_pe, n_cols)
    pe_start = np.zeros(n_pe + 1, dtype=np.int64)
    if n_cols:
        pe_start[1:] = ends[:, -1]
    col_ptr = np.zeros((n_pe, n_cols + 1), dtype=np.int64)
    np.subtract(ends, pe_start[:-1, None], out=col_ptr[:, 1:])
    del ends

    # Pack every PE at once: each PE's stream starts on a fresh word, so lay the streams out
    # with each one padded to whole words (pad entries are 0 = unused slots), pack, then split.
    ib, wb, epw = fmt.index_bits, fmt.word_bits, fmt.entries_per_word
    pe_n = np.diff(pe_start)
    pe_words = -(-pe_n // epw)
    w_start = np.zeros(n_pe + 1, dtype=np.int64)
    np.cumsum(pe_words, out=w_start[1:])
    n_pad = int(w_start[-1]) * epw
    if n_pad == total:
        v_pad, z_pad = v_all, z_all
    else:
        addr = np.arange(total, dtype=np.int64) + np.repeat(w_start[:-1] * epw - pe_start[:-1], pe_n)
        v_pad = np.zeros(n_pad, dtype=np.uint8)
        z_pad = np.zeros(n_pad, dtype=np.uint8)
        v_pad[addr] = v_all
        z_pad[addr] = z_all
    words_all = _pack(v_pad, z_pad, ib, rb, wb, epw)
    del v_pad, z_pad

    return _streams(n_rows, n_cols, fmt, v_all, z_all, col_ptr, pe_start, words_all, w_start)


def decode_layer(streams: EIEStreams) -> np.ndarray:
    """Rebuild the codebook-index matrix from the packed SRAM words and column pointers.

    Reads each PE's ``words`` and ``col_ptr`` only (not its ``v``/``z`` arrays), so a
    round trip checks the SRAM image.

    Returns:
        uint8 array of shape ``(n_rows, n_cols)`` equal to the encoded ``indices``.

    Raises:
        EncodingError: the streams are inconsistent (pointer count or order, too few
            words, an entry beyond the PE's rows).
    """
    s = streams
    n_rows, n_cols, n_pe = s.n_rows, s.n_cols, s.n_pe
    if len(s.pes) != n_pe:
        raise EncodingError(f"streams have {len(s.pes)} PE streams for n_pe = {n_pe}")
    out = np.zeros((n_rows, n_cols), dtype=np.uint8)
    fast = s.rel_index_bits <= 8
    if fast:
        from ._encoding_kernels import _decode_pe
    for p, pe in enumerate(s.pes):
        cp = np.asarray(pe.col_ptr, dtype=np.int64)
        if cp.shape != (n_cols + 1,) or cp[0] != 0 or np.any(np.diff(cp) < 0):
            raise EncodingError(f"PE {p}: col_ptr must be non-decreasing from 0 with {n_cols + 1} values; "
                                f"got shape {cp.shape}")
        n = int(cp[-1])
        if n == 0:
            continue
        if fast:
            try:
                words, n, n_words = _check_words(pe.words, n, s.word_bits, s.entries_per_word)
            except EncodingError as e:
                raise EncodingError(f"PE {p}: {e}") from None
            words = np.ascontiguousarray(words[:n_words], dtype=np.uint64)
            if _decode_pe(words, np.ascontiguousarray(cp), p, n_pe, s.index_bits, s.entry_bits,
                          s.entries_per_word, s.local_rows(p), out) < 0:
                continue
            # an entry beyond the PE's rows: the numpy decoder below names it
        _decode_pe_numpy(s, p, pe, cp, n, out)
    return out


def _decode_pe_numpy(s: EIEStreams, p: int, pe: PEStream, cp: np.ndarray, n: int, out: np.ndarray) -> None:
    """PE p's part of :func:`decode_layer` in vectorised numpy (``cp``: its checked column
    pointers, ``n = cp[-1] > 0``); the decoder for ``rel_index_bits > 8`` and the one that
    reports an entry beyond the PE's rows."""
    n_cols, n_pe = s.n_cols, s.n_pe
    flat_out = out.reshape(-1)
    try:
        v, z = _unpack(pe.words, n, s.index_bits, s.rel_index_bits, s.word_bits, s.entries_per_word)
    except EncodingError as e:
        raise EncodingError(f"PE {p}: {e}") from None
    cs = np.cumsum(z.astype(np.int64) + 1)        # pos after each entry, counted from stream start
    base = np.concatenate([np.zeros(1, np.int64), cs])[cp[:-1]]   # pos at each column start
    col = np.repeat(np.arange(n_cols, dtype=np.int64), np.diff(cp))
    row = cs - base[col] - 1                        # local row of each entry
    keep = v != 0
    row, col, vk = row[keep], col[keep], v[keep]
    nloc = s.local_rows(p)
    if row.size and int(row.max()) >= nloc:
        k = int(np.argmax(row))
        raise EncodingError(f"PE {p}: column {int(col[k])} has an entry at local row {int(row[k])}, "
                            f"but the PE owns only {nloc} rows")
    flat_out[(row * n_pe + p) * n_cols + col] = vk


def check_capacity(streams: EIEStreams, cfg: "AcceleratorConfig") -> None:
    """Raise EncodingError if any PE holds more entries than ``cfg.spmat_capacity_entries``.

    The streams must have been encoded with cfg's index, relative-index and word widths.
    Names the fullest overflowing PE, its entry count and the capacity.
    """
    if (streams.index_bits, streams.rel_index_bits, streams.word_bits) != (
            cfg.index_bits, cfg.rel_index_bits, cfg.sram_word_bits):
        raise EncodingError(
            f"streams use index_bits/rel_index_bits/word_bits {streams.index_bits}/{streams.rel_index_bits}/"
            f"{streams.word_bits} but the config has {cfg.index_bits}/{cfg.rel_index_bits}/{cfg.sram_word_bits}; "
            f"re-encode the layer for this config")
    cap = cfg.spmat_capacity_entries
    counts = [pe.n_entries for pe in streams.pes]
    if counts and max(counts) > cap:
        p = int(np.argmax(counts))
        n_over = sum(c > cap for c in counts)
        raise EncodingError(
            f"PE {p} needs {counts[p]} entries but its sparse-matrix SRAM holds {cap} "
            f"({cfg.spmat_sram_bytes} bytes of {cfg.sram_word_bits}-bit words); {n_over} of {len(counts)} PEs overflow")
