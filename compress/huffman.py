"""Canonical, length-limited Huffman coding of small-alphabet symbol streams.

Deep Compression Huffman-codes the weight indices and the relative indices
of the storage form. A code here is just its per-symbol code lengths
(:class:`HuffmanCode`); the code words are the canonical ones (shorter codes
first, ties in symbol order, as in DEFLATE), so storing the lengths is
enough to decode. Bits are packed MSB first.

- :func:`build_code` finds optimal code lengths no longer than ``max_len``
  (package-merge, which gives a Huffman-optimal code whenever the limit is
  not binding);
- :func:`encode` / :func:`decode` convert between symbol arrays and bit
  payloads (vectorised numpy to encode, a Numba loop to decode);
- :func:`entropy_bits` is the Shannon bound the code is compared against.

Malformed payloads raise ValueError with a message saying what is wrong.
"""
from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

MAX_CODE_LEN = 32
_ENCODE_CHUNK = 1 << 20  # symbols per vectorised encode step (bounds temporary memory)


def _as_symbols(symbols, what: str = "symbols") -> np.ndarray:
    s = np.asarray(symbols)
    if s.size == 0:
        return np.zeros(0, dtype=np.int64)
    if s.dtype.kind not in "iub":
        raise ValueError(f"{what} must be integers, got dtype {s.dtype}")
    s = s.ravel()
    if s.dtype.kind == "i" and s.min() < 0:
        raise ValueError(f"{what} must be >= 0, found {int(s.min())}")
    return s.astype(np.int64, copy=False)


@dataclass(frozen=True, eq=False)
class HuffmanCode:
    """A canonical prefix code given by its code lengths.

    ``lengths[s]`` is the code length of symbol ``s`` (0 = the symbol has no
    code). Any 1-D integer array-like is accepted and stored as uint8; every
    length must be in 0..32 and the lengths must satisfy Kraft's inequality
    (sum of 2**-length <= 1), else ValueError.
    """

    lengths: np.ndarray

    def __post_init__(self):
        try:
            a = np.asarray(self.lengths)
        except (TypeError, ValueError, OverflowError) as e:
            raise ValueError(f"Huffman code lengths must be a 1-D integer array ({type(e).__name__}: {e})") from None
        if a.ndim != 1:
            raise ValueError(f"Huffman code lengths must be a 1-D array, got shape {a.shape}")
        if a.size and a.dtype.kind not in "iub":
            raise ValueError(f"Huffman code lengths must be integers, got dtype {a.dtype}")
        if a.size and (int(a.min()) < 0 or int(a.max()) > MAX_CODE_LEN):
            raise ValueError(f"Huffman code lengths must be in 0..{MAX_CODE_LEN}, "
                             f"got min {int(a.min())}, max {int(a.max())}")
        a = a.astype(np.uint8)
        a.setflags(write=False)
        used = a[a > 0].astype(np.int64)
        kraft = int(np.sum(np.left_shift(np.int64(1), MAX_CODE_LEN - used))) if used.size else 0
        if kraft > (1 << MAX_CODE_LEN):
            raise ValueError(f"Huffman code lengths violate Kraft's inequality: "
                             f"sum of 2**-length = {kraft / (1 << MAX_CODE_LEN):.6g} > 1 (not a prefix code)")
        object.__setattr__(self, "lengths", a)

    def __eq__(self, other):
        if not isinstance(other, HuffmanCode):
            return NotImplemented
        return np.array_equal(self.lengths, other.lengths)

    def __hash__(self):
        return hash(self.lengths.tobytes())

    def __repr__(self):
        return f"HuffmanCode(lengths={self.lengths.tolist()})"

    @property
    def alphabet_size(self) -> int:
        """Number of symbols the code is defined over (including unused ones)."""
        return int(self.lengths.size)

    @property
    def max_len(self) -> int:
        """Longest code length (0 for a code with no used symbol)."""
        return int(self.lengths.max()) if self.lengths.size else 0

    @property
    def n_used(self) -> int:
        """Number of symbols that have a code."""
        return int(np.count_nonzero(self.lengths))

    def kraft_sum(self) -> float:
        """Sum of 2**-length over the used symbols (1.0 for a complete code)."""
        used = self.lengths[self.lengths > 0].astype(np.float64)
        return float(np.sum(np.exp2(-used)))

    def codes(self) -> np.ndarray:
        """Canonical code words (uint64, one per symbol; 0 for unused symbols).

        Symbols are ordered by (length, symbol); the first gets the all-zero
        word and each next one the previous word plus one, shifted left when
        the length grows (DEFLATE's construction).
        """
        lens = self.lengths.astype(np.int64)
        out = np.zeros(lens.size, dtype=np.uint64)
        if self.max_len == 0:
            return out
        first, _, order = self._canonical_tables()
        sl = lens[order]
        # rank of each used symbol within its length group
        starts = np.searchsorted(sl, sl, side="left")
        rank = np.arange(sl.size, dtype=np.int64) - starts
        out[order] = (first[sl] + rank).astype(np.uint64)
        return out

    def _canonical_tables(self):
        """(first code per length, symbols per length, used symbols ordered by (length, symbol)).

        ``first`` and ``count`` are int64 arrays of size ``max_len + 1``.
        """
        lens = self.lengths.astype(np.int64)
        L = self.max_len
        count = np.bincount(lens, minlength=L + 1).astype(np.int64)
        count[0] = 0
        first = np.zeros(L + 1, dtype=np.int64)
        code = 0
        for l in range(1, L + 1):
            code = (code + int(count[l - 1])) << 1
            first[l] = code
        used = np.flatnonzero(lens)
        order = used[np.argsort(lens[used], kind="stable")]
        return first, count, order

    def code_bits(self, symbols) -> int:
        """Total bits :func:`encode` would produce for ``symbols``."""
        s = self._check_symbols(symbols)
        return int(np.sum(self.lengths[s], dtype=np.int64))

    def table_bits(self) -> int:
        """Bits to store the code table: one ``ceil(log2(max_len + 1))``-bit length per symbol."""
        return self.alphabet_size * self.max_len.bit_length()

    def _check_symbols(self, symbols) -> np.ndarray:
        s = _as_symbols(symbols)
        if s.size == 0:
            return s
        if int(s.max()) >= self.alphabet_size:
            raise ValueError(f"symbol {int(s.max())} is outside the code's alphabet of {self.alphabet_size}")
        uncoded = self.lengths[s] == 0
        if np.any(uncoded):
            raise ValueError(f"symbol {int(s[np.argmax(uncoded)])} has no code")
        return s


def _package_merge(w: np.ndarray, limit: int) -> np.ndarray:
    """Optimal code lengths (each <= ``limit``) for the positive weights ``w`` (>= 2 of them).

    Larmore and Hirschberg's package-merge: level 1 is the leaves sorted by
    weight; each next level merges the leaves with the pairs ("packages") of
    the level before. The first 2n - 2 items of the last level are chosen,
    and a leaf's code length is the number of chosen items it occurs in
    (directly, or inside a chosen package, recursively).
    """
    n = w.size
    order = np.argsort(w, kind="stable")
    ws = w[order].astype(np.int64)
    leaf_ref = np.arange(n, dtype=np.int64)
    levels = []  # per level: (is_leaf, ref) of the merged, weight-sorted item list
    cur_w, cur_leaf, cur_ref = ws, np.ones(n, dtype=bool), leaf_ref
    levels.append((cur_leaf, cur_ref))
    for _ in range(limit - 1):
        m = cur_w.size // 2
        pkg_w = cur_w[0:2 * m:2] + cur_w[1:2 * m:2]
        all_w = np.concatenate([ws, pkg_w])
        srt = np.argsort(all_w, kind="stable")  # leaves before packages on ties
        cur_w = all_w[srt]
        cur_leaf = np.concatenate([np.ones(n, dtype=bool), np.zeros(m, dtype=bool)])[srt]
        cur_ref = np.concatenate([leaf_ref, np.arange(m, dtype=np.int64)])[srt]
        levels.append((cur_leaf, cur_ref))
    lengths = np.zeros(n, dtype=np.int64)
    sel = np.zeros(levels[-1][0].size, dtype=bool)
    sel[:2 * n - 2] = True
    for lv in range(len(levels) - 1, -1, -1):
        is_leaf, ref = levels[lv]
        lengths[ref[sel & is_leaf]] += 1
        pk = ref[sel & ~is_leaf]
        if pk.size == 0:
            break
        sel = np.zeros(levels[lv - 1][0].size, dtype=bool)  # packages only exist above level 1
        sel[2 * pk] = True
        sel[2 * pk + 1] = True
    out = np.empty(n, dtype=np.int64)
    out[order] = lengths
    return out


def build_code(symbols, alphabet_size: int, max_len: int = 24) -> HuffmanCode:
    """An optimal canonical prefix code for ``symbols`` with no code longer than ``max_len``.

    Frequencies are counted over ``range(alphabet_size)``; unused symbols get
    length 0. A stream with a single distinct symbol gives it length 1; an
    empty stream gives all-zero lengths. ValueError if a symbol is outside the
    alphabet, or ``max_len`` is outside 1..32 or too small for the number of
    distinct symbols.
    """
    if isinstance(alphabet_size, bool) or not isinstance(alphabet_size, (int, np.integer)) or alphabet_size < 0:
        raise ValueError(f"alphabet_size = {alphabet_size!r} is not allowed; use an integer >= 0")
    if isinstance(max_len, bool) or not isinstance(max_len, (int, np.integer)) or not 1 <= max_len <= MAX_CODE_LEN:
        raise ValueError(f"max_len = {max_len!r} is not allowed; use an integer in 1..{MAX_CODE_LEN}")
    s = _as_symbols(symbols)
    if s.size and int(s.max()) >= alphabet_size:
        raise ValueError(f"symbol {int(s.max())} is outside the alphabet of {alphabet_size} symbols")
    freq = np.bincount(s, minlength=alphabet_size)
    used = np.flatnonzero(freq)
    lengths = np.zeros(alphabet_size, dtype=np.uint8)
    if used.size == 1:
        lengths[used] = 1
    elif used.size >= 2:
        if used.size > (1 << max_len):
            raise ValueError(f"max_len = {max_len} is too small for {used.size} distinct symbols "
                             f"(needs >= {int(used.size - 1).bit_length()})")
        # an optimal code never needs more than n - 1 bits, so a larger limit changes nothing
        lengths[used] = _package_merge(freq[used], min(int(max_len), int(used.size) - 1))
    return HuffmanCode(lengths=lengths)


def encode(symbols, code: HuffmanCode) -> tuple[bytes, int]:
    """Encode ``symbols`` with ``code``; returns (payload bytes, number of valid bits).

    Code words are written MSB first, one after another; the last byte is
    zero-padded. ValueError if a symbol is outside the alphabet or has no code.
    """
    s = code._check_symbols(symbols)
    if s.size == 0:
        return b"", 0
    words = code.codes()
    lens_all = code.lengths.astype(np.int64)
    total = int(np.sum(lens_all[s]))
    nbytes = (total + 7) // 8
    out = np.zeros(nbytes + 8, dtype=np.uint8)
    base = 0  # bit offset of the chunk
    for start in range(0, s.size, _ENCODE_CHUNK):
        cs = s[start:start + _ENCODE_CHUNK]
        ln = lens_all[cs]
        ends = np.cumsum(ln) + base
        offs = ends - ln                      # bit offset of each code word
        base = int(ends[-1])
        sh = offs & 7                         # its offset inside its first byte
        n_bytes_span = int(((sh + ln + 7) >> 3).max())  # <= 5, as code words are <= 32 bits
        window = 8 * n_bytes_span
        # each word aligned inside a window of whole bytes starting at its first byte
        v = words[cs] << (window - ln - sh).astype(np.uint64)
        first_byte = offs >> 3
        # words starting in the same byte occupy disjoint bits: their sum is their OR
        grp = np.flatnonzero(np.diff(first_byte, prepend=-1))
        g = np.add.reduceat(v, grp)
        gb = first_byte[grp]                  # distinct, so the |= below has no repeated index
        for k in range(n_bytes_span):
            out[gb + k] |= ((g >> np.uint64(window - 8 - 8 * k)) & np.uint64(0xFF)).astype(np.uint8)
    return out[:nbytes].tobytes(), total


@numba.njit(cache=True, nogil=True)
def _decode_kernel(buf, nbits, n_symbols, first, count, offset, sorted_syms, out):
    """Canonical bit-by-bit decoding. Returns (status, bit position, symbols decoded).

    status: 0 ok, 1 ran out of bits, 2 invalid code word.
    """
    max_len = first.size - 1
    pos = 0
    for i in range(n_symbols):
        code = 0
        length = 0
        while True:
            if pos >= nbits:
                return 1, pos, i
            # int(): under NumPy 2 (NEP 50) a uint8 operand keeps the result uint8 in pure Python
            # (NUMBA_DISABLE_JIT=1, or the .py_func), which would wrap code words longer than
            # 8 bits; compiled, Numba computes in int64. Plain ints give both the same semantics.
            bit = int((buf[pos >> 3] >> (7 - (pos & 7))) & 1)
            pos += 1
            code = (code << 1) | bit
            length += 1
            d = code - first[length]
            if d >= 0 and d < count[length]:
                out[i] = sorted_syms[offset[length] + d]
                break
            if length == max_len:
                return 2, pos, i
    return 0, pos, n_symbols


def decode(payload: bytes, nbits: int, n_symbols: int, code: HuffmanCode) -> np.ndarray:
    """Decode ``n_symbols`` symbols from the first ``nbits`` bits of ``payload`` (int64 array).

    ValueError if the payload is malformed: ``nbits`` does not fit the payload
    (or the payload has extra bytes), the bits run out before ``n_symbols``
    symbols, a bit string is not a code word, or bits are left over.
    """
    if isinstance(nbits, bool) or not isinstance(nbits, (int, np.integer)) or nbits < 0:
        raise ValueError(f"nbits = {nbits!r} is not allowed; use an integer >= 0")
    if isinstance(n_symbols, bool) or not isinstance(n_symbols, (int, np.integer)) or n_symbols < 0:
        raise ValueError(f"n_symbols = {n_symbols!r} is not allowed; use an integer >= 0")
    if not isinstance(code, HuffmanCode):
        raise ValueError(f"code must be a HuffmanCode, got {type(code).__name__}")
    if not (isinstance(payload, (bytes, bytearray, memoryview))
            or isinstance(payload, np.ndarray) and payload.dtype == np.uint8 and payload.ndim == 1):
        raise ValueError(f"Huffman payload must be bytes, got {type(payload).__name__}")
    nbits, n_symbols = int(nbits), int(n_symbols)
    buf = np.frombuffer(bytes(payload), dtype=np.uint8)
    if nbits > 8 * buf.size:
        raise ValueError(f"Huffman payload too short: {nbits} bits declared but only {buf.size} bytes "
                         f"({8 * buf.size} bits) present")
    if buf.size != (nbits + 7) // 8:
        raise ValueError(f"Huffman payload has {buf.size} bytes but {nbits} bits need {(nbits + 7) // 8}")
    if n_symbols == 0:
        if nbits:
            raise ValueError(f"Huffman payload has {nbits} bits left over after 0 symbols")
        return np.zeros(0, dtype=np.int64)
    if code.max_len == 0:
        raise ValueError(f"cannot decode {n_symbols} symbols: the Huffman code has no code words")
    # every symbol takes at least the shortest code length: check before allocating the output
    min_len = int(code.lengths[code.lengths > 0].min())
    if n_symbols * min_len > nbits:
        raise ValueError(f"Huffman payload ran out of bits: {nbits} bits cannot hold {n_symbols} symbols "
                         f"of at least {min_len} bits each")
    out = np.zeros(n_symbols, dtype=np.int64)
    first, count, order = code._canonical_tables()
    offset = np.zeros_like(count)
    offset[1:] = np.cumsum(count)[:-1]
    status, pos, done = _decode_kernel(buf, nbits, n_symbols, first, count, offset,
                                       order.astype(np.int64), out)
    if status == 1:
        raise ValueError(f"Huffman payload ran out of bits: {nbits} bits held only {done} of "
                         f"{n_symbols} symbols")
    if status == 2:
        raise ValueError(f"invalid Huffman code word ending at bit {pos} (symbol {done} of {n_symbols})")
    if pos != nbits:
        raise ValueError(f"Huffman payload has {nbits - pos} bits left over after {n_symbols} symbols")
    return out


def entropy_bits(symbols, alphabet_size: int | None = None) -> float:
    """Shannon entropy of the empirical symbol distribution times the symbol count, in bits.

    ``entropy_bits(s) / len(s)`` is the lower bound on the average code length
    of any prefix code for ``s`` (0.0 for an empty or single-valued stream).
    """
    s = _as_symbols(symbols)
    if s.size == 0:
        return 0.0
    if alphabet_size is not None and int(s.max()) >= alphabet_size:
        raise ValueError(f"symbol {int(s.max())} is outside the alphabet of {alphabet_size} symbols")
    c = np.bincount(s).astype(np.float64)
    c = c[c > 0]
    n = float(s.size)
    return float(np.sum(c * (np.log2(n) - np.log2(c))))
