"""compress.huffman under hostile inputs, and the decoder with and without the JIT.

Random code lengths, payloads, bit and symbol counts go into :class:`HuffmanCode` and
:func:`decode`: the only allowed exception is ValueError (the documented one), and nothing may
allocate by a declared count before checking it against the payload. The decoding kernel's
pure-Python twin (``_decode_kernel.py_func``, what ``NUMBA_DISABLE_JIT=1`` runs) must agree with
the compiled kernel on every input, valid or not, for code words of up to 32 bits.
"""
from __future__ import annotations

import os
import tracemalloc
from datetime import timedelta

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compress import huffman
from compress.huffman import MAX_CODE_LEN, HuffmanCode, build_code, decode, encode

SLOW = os.environ.get("HYPOTHESIS_PROFILE", "default") == "slow"
FUZZ = dict(deadline=timedelta(seconds=10), suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _n(default: int, slow: int) -> int:
    return slow if SLOW else default


@st.composite
def valid_codes(draw, max_len=MAX_CODE_LEN) -> HuffmanCode:
    """A (complete or not) canonical code whose longest word is up to ``max_len`` bits."""
    n = draw(st.integers(1, 40))
    lengths = draw(st.lists(st.integers(0, max_len), min_size=n, max_size=n))
    # drop the longest-first until Kraft holds
    lengths = sorted(lengths)
    while lengths and sum(2.0 ** -l for l in lengths if l) > 1:
        lengths.pop(0)
    perm = draw(st.permutations(range(len(lengths)))) if lengths else []
    return HuffmanCode([lengths[i] for i in perm] if lengths else [])


@st.composite
def long_codes(draw) -> HuffmanCode:
    """Complete codes with words up to 16..32 bits (a chain 1, 2, ..., L, L plus a random alphabet shuffle)."""
    L = draw(st.integers(9, MAX_CODE_LEN))
    lengths = list(range(1, L + 1)) + [L]
    perm = draw(st.permutations(range(len(lengths))))
    return HuffmanCode([lengths[i] for i in perm])


def _kernel_args(payload: bytes, code: HuffmanCode, n_symbols: int):
    first, count, order = code._canonical_tables()
    offset = np.zeros_like(count)
    offset[1:] = np.cumsum(count)[:-1]
    return (np.frombuffer(payload, dtype=np.uint8), 8 * len(payload), n_symbols, first, count, offset,
            order.astype(np.int64))


def _both_kernels(payload: bytes, code: HuffmanCode, n_symbols: int):
    args = _kernel_args(payload, code, n_symbols)
    out_jit = np.full(n_symbols, -1, dtype=np.int64)
    out_py = np.full(n_symbols, -1, dtype=np.int64)
    r_jit = huffman._decode_kernel(*args, out_jit)
    r_py = huffman._decode_kernel.py_func(*args, out_py)
    return tuple(int(x) for x in r_jit), out_jit, tuple(int(x) for x in r_py), out_py


@settings(max_examples=_n(300, 20_000), **FUZZ)
@given(code=st.one_of(long_codes(), valid_codes()), seed=st.integers(0, 2**32 - 1), n=st.integers(1, 60))
def test_python_and_compiled_kernels_agree_on_valid_streams(code, seed, n):
    if code.max_len == 0:
        return
    rng = np.random.default_rng(seed)
    used = np.flatnonzero(code.lengths)
    s = used[rng.integers(0, used.size, size=n)]
    payload, nbits = encode(s, code)
    r_jit, out_jit, r_py, out_py = _both_kernels(payload, code, n)
    assert r_jit == r_py and np.array_equal(out_jit, out_py)
    # the whole-payload decode gives the symbols back (nbits may be < 8 * len(payload))
    np.testing.assert_array_equal(decode(payload, nbits, n, code), s)


@settings(max_examples=_n(300, 20_000), **FUZZ)
@given(code=st.one_of(long_codes(), valid_codes()), payload=st.binary(min_size=1, max_size=64),
       n=st.integers(1, 200))
def test_python_and_compiled_kernels_agree_on_random_bits(code, payload, n):
    if code.max_len == 0:
        return
    r_jit, out_jit, r_py, out_py = _both_kernels(payload, code, n)
    assert r_jit == r_py and np.array_equal(out_jit, out_py)


def test_long_codes_decode_in_pure_python():
    """The regression: words longer than 8 bits wrapped in a uint8 under the pure-Python kernel."""
    code = HuffmanCode(list(range(1, 17)) + [16])
    s = np.array([16, 15, 0, 9, 12, 3, 16, 1] * 5)
    payload, nbits = encode(s, code)
    r_jit, out_jit, r_py, out_py = _both_kernels(payload, code, s.size)
    assert r_py[0] == 0 and r_jit == r_py
    np.testing.assert_array_equal(out_py, s)


# -- hostile inputs ----------------------------------------------------------------------------------------

HUGE = st.sampled_from([0, 1, 7, 8, 9, 63, 64, 10**6, 2**31, 2**33, 10**12, 10**18, 2**63 - 1, 2**64, 10**30])
JUNK_LENGTHS = st.one_of(
    st.lists(st.integers(-5, 40), max_size=40),
    st.lists(st.integers(-(2**70), 2**70), max_size=5),
    st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=5),
    st.lists(st.booleans(), max_size=5),
    st.sampled_from([None, "abc", 5, 1.5, {}, {"a": 1}, [[1], [2, 3]], [[1, 1]], [None], ["1"], b"\x01\x01",
                     np.ones((2, 2), np.uint8), np.array([1, 1], dtype=np.uint64), np.array([1, 1], dtype=">i8"),
                     np.array([2**40], dtype=np.int64), np.array([], dtype=np.float64), np.array([1 + 1j])]),
)


@settings(max_examples=_n(1000, 20_000), **FUZZ)
@given(lengths=JUNK_LENGTHS)
def test_code_construction_raises_value_error_only(lengths):
    try:
        code = HuffmanCode(lengths)
    except ValueError:
        return
    assert code.lengths.dtype == np.uint8 and code.lengths.ndim == 1
    assert code.max_len <= MAX_CODE_LEN and code.kraft_sum() <= 1.0


@settings(max_examples=_n(1500, 40_000), **FUZZ)
@given(code=st.one_of(valid_codes(), long_codes()), payload=st.binary(max_size=40),
       nbits=st.one_of(st.integers(0, 400), HUGE, st.sampled_from([-1, -(10**30), True, 1.5, "8", None])),
       n=st.one_of(st.integers(0, 400), HUGE, st.sampled_from([-1, -(10**30), True, 2.0, "3", None])))
def test_decode_raises_value_error_only(code, payload, nbits, n):
    tracemalloc.start()
    try:
        try:
            out = decode(payload, nbits, n, code)
        except ValueError:
            out = None
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < (1 << 20), f"{peak} bytes allocated for a {len(payload)}-byte payload"
    if out is not None:
        assert out.dtype == np.int64 and out.shape == (n,)
        assert np.all(code.lengths[out] > 0)
        assert int(code.lengths[out].astype(np.int64).sum()) == nbits


@pytest.mark.parametrize("payload", [None, 12, 10**12, "abc", [1, 2], np.zeros(3, np.float64)])
def test_decode_rejects_non_bytes_payloads(payload):
    with pytest.raises(ValueError, match="payload"):
        decode(payload, 8, 1, HuffmanCode([1, 1]))


def test_declared_count_is_checked_before_allocating():
    code = build_code([0, 1, 1, 2], 3)
    tracemalloc.start()
    try:
        for n in (10**12, 10**18, 2**63 - 1):
            with pytest.raises(ValueError, match="ran out of bits"):
                decode(b"\x00" * 8, 64, n, code)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < (1 << 20)
