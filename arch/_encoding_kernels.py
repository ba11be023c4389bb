"""Numba kernels of arch/encoding.py: the weight-stream encoder, word packer and decoder.

Kept apart from arch/encoding.py so that importing ``arch`` does not import Numba: the kernels
are loaded on the first encode/decode. Like sim/engine.py's, they are compiled with
``cache=True`` (the on-disk cache serves a fresh process from its first call) and ``nogil``.

The format is arch/encoding.py's module docstring; the numpy encoder there
(``_encode_layer_numpy``) is the reference these kernels equal bit for bit
(tests/arch/test_encoding_fast.py). The kernels take ``rel_index_bits <= 8`` (v and z are uint8).
"""
from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def _count_pe(a, p, n_pe, rb, cnt, pos, cp):
    """Pass 1 for PE p: its column pointers into ``cp`` (n_cols + 1); returns its entry count.

    ``a``: the C-ordered uint8 index matrix (rows = outputs); ``cnt`` and ``pos`` (n_cols,)
    int32: scratch. The PE's rows ``p, p + n_pe, ...`` (local rows 0, 1, ...) are read in order,
    and each of its (PE, column) groups keeps its state across them: ``pos``, the local row
    after its last entry, and ``cnt``, its entry count, fillers included. The loop has no
    branch per element (it vectorises).
    """
    n_rows, n_cols = a.shape
    cnt[:] = 0
    pos[:] = 0
    r = 0
    for i in range(p, n_rows, n_pe):
        row = a[i]
        for j in range(n_cols):
            nz = row[j] != 0
            cnt[j] += (((r - pos[j]) >> rb) + 1) if nz else 0
            pos[j] = (r + 1) if nz else pos[j]
        r += 1
    acc = 0
    cp[0] = 0
    for j in range(n_cols):
        acc += cnt[j]
        cp[j + 1] = acc
    return acc


@numba.njit(cache=True, nogil=True)
def _fill_pe(a, p, n_pe, ib, rb, cp, start, pos, cur, buf, e):
    """Pass 2 for PE p: store each of its entries ``v | z << ib`` in ``e`` (the layer-wide
    stream, filled with fillers ``M << ib`` beforehand) at its (PE, column) group's address
    (``start + cp[j]`` + entries so far) after the fillers its gap needs. ``pos``, ``cur`` and
    ``buf`` (n_cols): scratch. A row's nonzeros are listed first, without a branch per element."""
    n_rows, n_cols = a.shape
    M = (1 << rb) - 1
    pos[:] = 0
    for j in range(n_cols):
        cur[j] = start + cp[j]
    r = 0
    for i in range(p, n_rows, n_pe):
        row = a[i]
        k = 0
        for j in range(n_cols):
            buf[k] = j
            k += row[j] != 0
        for t in range(k):
            j = buf[t]
            g = r - pos[j]
            c = cur[j] + (g >> rb)
            e[c] = row[j] | ((g & M) << ib)
            cur[j] = c + 1
            pos[j] = r + 1
        r += 1


@numba.njit(cache=True, nogil=True)
def _encode(a, n_pe, ib, rb, col_ptr, e):
    """Encode the C-ordered uint8 index matrix ``a``: PE by PE, pass 1 (:func:`_count_pe`) and
    pass 2 (:func:`_fill_pe`) over its rows, which the second pass finds in cache.

    ``col_ptr`` (n_pe, n_cols + 1) int64: filled with each PE's column pointers. ``e``: a
    first buffer for the stream (uint8 or uint16, all fillers ``M << ib``, any length), grown
    as needed. Returns ``(e, pe_start)``: the stream ``e[:pe_start[n_pe]]`` of entries
    ``v | z << ib``, PE p's at ``pe_start[p]:pe_start[p+1]``.
    """
    n_rows, n_cols = a.shape
    filler = ((1 << rb) - 1) << ib
    cnt = np.empty(n_cols, dtype=np.int32)
    pos = np.empty(n_cols, dtype=np.int32)
    cur = np.empty(n_cols, dtype=np.int64)
    buf = np.empty(n_cols, dtype=np.int32)
    pe_start = np.zeros(n_pe + 1, dtype=np.int64)
    for p in range(n_pe):
        n = _count_pe(a, p, n_pe, rb, cnt, pos, col_ptr[p])
        s = pe_start[p]
        if s + n > e.shape[0]:
            grown = np.empty(max(s + n, 2 * e.shape[0]), dtype=e.dtype)
            grown[:s] = e[:s]
            grown[s:] = filler
            e = grown
        _fill_pe(a, p, n_pe, ib, rb, col_ptr[p], s, pos, cur, buf, e)
        pe_start[p + 1] = s + n
    return e, pe_start


@numba.njit(cache=True, nogil=True)
def _split(e, ib, v, z):
    """``v = e & (2**ib - 1)``, ``z = e >> ib`` as uint8."""
    vm = (1 << ib) - 1
    for k in range(e.shape[0]):
        x = np.int64(e[k])
        v[k] = x & vm
        z[k] = x >> ib


@numba.njit(cache=True, nogil=True)
def _pack_streams(e, pe_start, eb, epw, n_limbs, whole):
    """Pack every PE's entries ``e = v | z << index_bits`` into SRAM words, each PE starting on a
    fresh word (slot k of a word at bits ``[k*eb, (k+1)*eb)``, the rest 0).

    ``whole``: the entries are ``e``'s own width (8 or 16 bits), fill the word exactly
    (``epw * eb == 64 * n_limbs``) and the machine is little-endian.

    Returns ``(words, w_start)``: uint64 (n_words, n_limbs), PE p's words at
    ``w_start[p]:w_start[p+1]``.
    """
    n_pe = pe_start.shape[0] - 1
    w_start = np.zeros(n_pe + 1, dtype=np.int64)
    for p in range(n_pe):
        n = pe_start[p + 1] - pe_start[p]
        w_start[p + 1] = w_start[p] + (n + epw - 1) // epw
    words = np.zeros((w_start[n_pe], n_limbs), dtype=np.uint64)
    if whole:
        # entries of exactly 8 or 16 bits filling the word: on a little-endian machine the words
        # are the entries themselves, in order, each PE's starting on its first word
        flat = words.reshape(-1).view(e.dtype)
        for p in range(n_pe):
            s = pe_start[p]
            d = w_start[p] * epw
            for k in range(pe_start[p + 1] - s):
                flat[d + k] = e[s + k]
        return words, w_start
    for p in range(n_pe):
        s = pe_start[p]
        n = pe_start[p + 1] - s
        for w in range(w_start[p + 1] - w_start[p]):
            k0 = w * epw
            k1 = min(n, k0 + epw)
            row = words[w_start[p] + w]
            lc = 0                       # the limb being filled, in acc; nxt: bits straddling into the next
            acc = np.uint64(0)
            nxt = np.uint64(0)
            for k in range(k0, k1):
                off = (k - k0) * eb
                limb = off >> 6
                sh = off & 63
                if limb != lc:
                    row[lc] = acc
                    acc = nxt
                    nxt = np.uint64(0)
                    lc = limb
                x = np.uint64(e[s + k])
                acc |= x << np.uint64(sh)
                if sh + eb > 64:
                    nxt = x >> np.uint64(64 - sh)
            row[lc] = acc
            if nxt != 0:
                row[lc + 1] = nxt
    return words, w_start


@numba.njit(cache=True, nogil=True)
def _decode_pe(words, cp, p, n_pe, ib, eb, epw, nloc, out):
    """Write PE p's entries (packed ``words``, column pointers ``cp``) into ``out`` (n_rows, n_cols).

    Returns -1, or the first entry whose local row is not below ``nloc`` (nothing is written
    from then on; the caller reports the error).
    """
    n_cols = cp.shape[0] - 1
    slot_bits = 0
    while (1 << slot_bits) < epw:
        slot_bits += 1
    emask = np.uint64((1 << eb) - 1)
    vmask = np.uint64((1 << ib) - 1)
    ibu = np.uint64(ib)
    for j in range(n_cols):
        pos = 0
        for k in range(cp[j], cp[j + 1]):
            off = (k & (epw - 1)) * eb
            w = k >> slot_bits
            limb = off >> 6
            sh = off & 63
            e = words[w, limb] >> np.uint64(sh)
            if sh + eb > 64:
                e |= words[w, limb + 1] << np.uint64(64 - sh)
            e &= emask
            vv = e & vmask
            pos += np.int64(e >> ibu)
            if vv != 0:
                if pos >= nloc:
                    return k
                out[pos * n_pe + p, j] = np.uint8(vv)
            pos += 1
    return -1
