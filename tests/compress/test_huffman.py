"""compress.huffman: canonical, length-limited Huffman coding."""
import heapq
import itertools
import math

import numpy as np
import pytest
from hypothesis import given, strategies as st

from compress import huffman
from compress.huffman import HuffmanCode, build_code, decode, encode, entropy_bits


@st.composite
def streams(draw, max_alphabet=64, max_size=400):
    """(symbols, alphabet_size): uniform, skewed (geometric-like) or single-symbol streams."""
    alphabet = draw(st.integers(1, max_alphabet))
    n = draw(st.integers(0, max_size))
    kind = draw(st.sampled_from(["uniform", "skewed", "single", "sparse"]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if kind == "uniform":
        s = rng.integers(0, alphabet, size=n)
    elif kind == "skewed":
        p = rng.uniform(0.05, 0.9)
        s = np.minimum(rng.geometric(p, size=n) - 1, alphabet - 1)
    elif kind == "single":
        s = np.full(n, rng.integers(0, alphabet))
    else:  # a few symbols used out of a large alphabet, with very unequal counts
        used = rng.choice(alphabet, size=min(alphabet, 4), replace=False)
        s = used[np.minimum(rng.geometric(0.5, size=n) - 1, used.size - 1)]
    return s.astype(np.int64), alphabet


def _kraft_num(lengths) -> int:
    """Kraft sum times 2**32, exactly."""
    return sum(1 << (32 - int(l)) for l in lengths if l)


def _huffman_cost(freqs) -> int:
    """Total bits of an (unlimited) optimal prefix code: sum of the internal node weights."""
    h = [int(f) for f in freqs if f]
    if len(h) <= 1:
        return sum(h)
    heapq.heapify(h)
    cost = 0
    while len(h) > 1:
        a, b = heapq.heappop(h), heapq.heappop(h)
        cost += a + b
        heapq.heappush(h, a + b)
    return cost


@given(streams())
def test_round_trip(stream):
    s, alphabet = stream
    code = build_code(s, alphabet)
    assert code.alphabet_size == alphabet and code.lengths.dtype == np.uint8
    payload, nbits = encode(s, code)
    assert isinstance(payload, bytes) and len(payload) == (nbits + 7) // 8
    assert nbits == code.code_bits(s)
    out = decode(payload, nbits, s.size, code)
    np.testing.assert_array_equal(np.asarray(out), s)
    # only the symbols that occur get a code
    np.testing.assert_array_equal(code.lengths > 0, np.bincount(s, minlength=alphabet) > 0)


@given(streams())
def test_optimal_complete_and_within_one_bit_of_entropy(stream):
    s, alphabet = stream
    code = build_code(s, alphabet)
    freq = np.bincount(s, minlength=alphabet)
    n_used = int(np.count_nonzero(freq))
    bits = code.code_bits(s)
    if n_used >= 2:
        assert _kraft_num(code.lengths) == 1 << 32, "an optimal code with >= 2 symbols is complete"
        assert bits == _huffman_cost(freq), "same total as Huffman's algorithm"
        h = entropy_bits(s, alphabet)
        assert h - 1e-9 * s.size <= bits < h + s.size
    elif n_used == 1:
        assert code.lengths.max() == 1 and bits == s.size
    else:
        assert code.max_len == 0 and bits == 0 and encode(s, code) == (b"", 0)


@given(streams())
def test_canonical_codes(stream):
    s, alphabet = stream
    code = build_code(s, alphabet)
    lens = code.lengths.astype(int)
    words = code.codes().astype(np.uint64)
    used = [i for i in range(alphabet) if lens[i]]
    order = sorted(used, key=lambda i: (lens[i], i))
    if order:
        assert int(words[order[0]]) == 0
    for a, b in zip(order, order[1:]):
        # the next code word is the previous one plus one, shifted to the new length
        assert int(words[b]) == (int(words[a]) + 1) << (lens[b] - lens[a])
    as_str = [format(int(words[i]), f"0{lens[i]}b") for i in used]
    assert all(len(w) == lens[i] for w, i in zip(as_str, used))
    for x, y in itertools.permutations(as_str, 2):
        assert not y.startswith(x), "prefix-free"


def _fib_stream(n_symbols: int) -> np.ndarray:
    fib = [1, 1]
    while len(fib) < n_symbols:
        fib.append(fib[-1] + fib[-2])
    return np.repeat(np.arange(n_symbols), fib)


@pytest.mark.parametrize("max_len", [5, 6, 8, 12])
def test_length_limit(max_len):
    s = _fib_stream(20)  # Fibonacci counts: the unlimited Huffman code is 19 bits deep
    free = build_code(s, 20, max_len=32)
    assert free.max_len == 19
    code = build_code(s, 20, max_len=max_len)
    assert code.max_len <= max_len
    assert _kraft_num(code.lengths) == 1 << 32
    assert code.code_bits(s) >= free.code_bits(s)
    payload, nbits = encode(s, code)
    np.testing.assert_array_equal(decode(payload, nbits, s.size, code), s)


def _brute_force_cost(freqs, limit) -> int:
    best = None
    for ls in itertools.product(range(1, limit + 1), repeat=len(freqs)):
        if _kraft_num(ls) <= 1 << 32:
            c = sum(f * l for f, l in zip(freqs, ls))
            best = c if best is None else min(best, c)
    return best


@given(freqs=st.lists(st.integers(1, 1000), min_size=2, max_size=6), limit=st.integers(1, 5))
def test_length_limited_code_is_optimal(freqs, limit):
    n = len(freqs)
    s = np.repeat(np.arange(n), freqs)
    if n > 1 << limit:
        with pytest.raises(ValueError, match="too small"):
            build_code(s, n, max_len=limit)
        return
    code = build_code(s, n, max_len=limit)
    assert code.max_len <= limit
    assert code.code_bits(s) == _brute_force_cost(freqs, limit)


def test_simple_codes():
    s = np.array([0, 0, 0, 0, 1, 1, 2, 3])
    code = build_code(s, 5)
    np.testing.assert_array_equal(code.lengths, [1, 2, 3, 3, 0])
    np.testing.assert_array_equal(code.codes(), [0b0, 0b10, 0b110, 0b111, 0])
    payload, nbits = encode(s, code)
    assert nbits == 14
    assert payload == bytes([0b00001010, 0b11011100])
    assert build_code([2, 2], 4) == HuffmanCode([0, 0, 1, 0])
    assert build_code([], 3) == HuffmanCode(np.zeros(3, dtype=np.uint8))


def test_encode_chunks_agree(monkeypatch):
    rng = np.random.default_rng(7)
    s = np.minimum(rng.geometric(0.2, size=5000) - 1, 31)
    code = build_code(s, 32)
    whole = encode(s, code)
    monkeypatch.setattr(huffman, "_ENCODE_CHUNK", 7)
    assert encode(s, code) == whole
    np.testing.assert_array_equal(decode(*whole, s.size, code), s)


def test_large_round_trip():
    rng = np.random.default_rng(8)
    s = np.minimum(rng.geometric(0.3, size=1_500_000) - 1, 15).astype(np.uint8)
    code = build_code(s, 16)
    payload, nbits = encode(s, code)
    np.testing.assert_array_equal(decode(payload, nbits, s.size, code), s)


def test_corrupted_payloads():
    rng = np.random.default_rng(9)
    s = rng.integers(0, 6, size=300)
    code = build_code(s, 8)
    payload, nbits = encode(s, code)
    with pytest.raises(ValueError, match="too short"):
        decode(payload, 8 * len(payload) + 1, s.size, code)
    with pytest.raises(ValueError, match="bytes"):
        decode(payload[:-1], nbits, s.size, code)
    with pytest.raises(ValueError, match="bytes"):
        decode(payload + b"\0", nbits, s.size, code)
    with pytest.raises(ValueError, match="ran out of bits"):
        decode(payload, nbits, s.size + 1, code)
    with pytest.raises(ValueError, match="left over"):
        decode(payload, nbits, s.size - 1, code)
    with pytest.raises(ValueError, match="nbits"):
        decode(payload, -1, s.size, code)
    # a single-symbol code has the word '0' only: a 1 bit is not a code word
    one = HuffmanCode([0, 1])
    with pytest.raises(ValueError, match="invalid Huffman code word"):
        decode(b"\x40", 3, 3, one)
    # an incomplete code (Kraft sum 3/4): '11' is no code word
    inc = HuffmanCode([1, 2, 0])
    np.testing.assert_array_equal(decode(b"\x40", 3, 2, inc), [0, 1])
    with pytest.raises(ValueError, match="invalid Huffman code word"):
        decode(b"\xc0", 2, 1, inc)
    with pytest.raises(ValueError, match="no code words"):
        decode(b"\x00", 1, 1, HuffmanCode([0, 0]))
    # random bit flips: decoding either fails cleanly or yields some valid symbols
    for i in range(50):
        bad = bytearray(payload)
        bad[i % len(bad)] ^= 1 << (i % 8)
        try:
            out = decode(bytes(bad), nbits, s.size, code)
        except ValueError:
            continue
        assert out.shape == s.shape and np.all(code.lengths[out] > 0)


def test_bad_symbols_and_arguments():
    code = build_code([0, 1, 1], 4)
    with pytest.raises(ValueError, match="symbol 2 has no code"):
        encode([0, 2], code)
    with pytest.raises(ValueError, match="outside"):
        encode([5], code)
    with pytest.raises(ValueError, match="outside the alphabet"):
        build_code([0, 4], 4)
    with pytest.raises(ValueError, match=">= 0"):
        build_code([-1, 0], 4)
    with pytest.raises(ValueError, match="integers"):
        build_code([0.5], 4)
    with pytest.raises(ValueError, match="max_len"):
        build_code([0, 1], 4, max_len=0)
    with pytest.raises(ValueError, match="max_len"):
        build_code([0, 1], 4, max_len=33)
    with pytest.raises(ValueError, match="too small for 5 distinct"):
        build_code(np.arange(5), 5, max_len=2)


def test_code_validation_and_equality():
    with pytest.raises(ValueError, match="Kraft"):
        HuffmanCode([1, 1, 1])
    with pytest.raises(ValueError, match="1-D"):
        HuffmanCode(np.ones((2, 2), dtype=np.uint8))
    with pytest.raises(ValueError, match="0..32"):
        HuffmanCode([33, 1])
    with pytest.raises(ValueError, match="0..32"):
        HuffmanCode([-1, 1])
    with pytest.raises(ValueError, match="integers"):
        HuffmanCode([1.0, 1.0])
    a = HuffmanCode([1, 2, 2])
    b = HuffmanCode(np.array([1, 2, 2], dtype=np.int64))
    assert a == b and hash(a) == hash(b) and a != HuffmanCode([2, 2, 1])
    assert a.lengths.dtype == np.uint8 and a.alphabet_size == 3 and a.max_len == 2 and a.n_used == 3
    assert a.kraft_sum() == 1.0
    assert HuffmanCode([]).alphabet_size == 0


@pytest.mark.parametrize("lengths,expected", [
    ([0, 0, 0, 0], 0),
    ([1, 1, 0, 0], 4 * 1),
    ([1, 2, 3, 3], 4 * 2),
    ([1] + [0] * 15, 16 * 1),
    ([1, 2, 3, 4, 5, 6, 7, 7] + [0] * 8, 16 * 3),
    ([1] + list(range(2, 16)) + [15], 16 * 4),
    ([1] + list(range(2, 17)) + [16], 17 * 5),
])
def test_table_bits(lengths, expected):
    code = HuffmanCode(lengths)
    assert code.table_bits() == expected
    assert code.table_bits() == code.alphabet_size * math.ceil(math.log2(code.max_len + 1))


def test_entropy_bits():
    assert entropy_bits([]) == 0.0
    assert entropy_bits([3, 3, 3]) == 0.0
    assert entropy_bits([0, 1, 2, 3] * 5) == pytest.approx(2.0 * 20)
    s = [0, 0, 0, 1]
    assert entropy_bits(s) == pytest.approx(-(3 * math.log2(0.75) + math.log2(0.25)))
    with pytest.raises(ValueError, match="outside"):
        entropy_bits([0, 4], alphabet_size=4)


def test_32_bit_code_words():
    """The longest allowed words (32 bits) at every bit offset encode and decode."""
    code = HuffmanCode(list(range(1, 33)) + [32])  # complete: 2**-1 + ... + 2**-32 + 2**-32 = 1
    assert code.kraft_sum() == 1.0 and code.max_len == 32
    words = code.codes()
    assert int(words[31]) == 2**32 - 2 and int(words[32]) == 2**32 - 1
    s = np.array([32, 0, 31, 5, 32, 32, 1, 0, 0, 31, 2, 32] * 3)
    payload, nbits = encode(s, code)
    assert nbits == int(code.lengths[s].astype(int).sum())
    np.testing.assert_array_equal(decode(payload, nbits, s.size, code), s)
    # the all-ones 32-bit word followed by a truncated one
    with pytest.raises(ValueError, match="ran out of bits"):
        decode(b"\xff" * 5, 40, 2, code)
