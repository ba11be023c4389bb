"""Deep Compression's storage form and the storage accounting.

The storage form of a layer is the compressed-sparse-row form of its
augmented codebook-index matrix ``[W | b]`` (rows = outputs): per entry a
weight index v (``bits`` wide) and a relative column index z (``rel_bits``
wide) counting the zero columns skipped since the previous entry of the row;
gaps beyond ``2**rel_bits - 1`` take filler entries (v = 0, z = max). Each
row has a pointer of ``ceil(log2(entries + 1))`` bits. This is the same
interleaved-CSC format as the EIE streams (arch.encoding) for one PE and the
transposed matrix, so one encoder serves both.

Compression rates (docs/design.md, "Formats") are 32-bit dense bits over the bits of
this form:

- P     : 32-bit float values + relative indices (with fillers) + pointers;
- Q     : quantization only (Deep Compression Fig. 6): a dense matrix of ``bits``-wide
          indices, no relative indices or pointers, + codebook;
- P+Q   : ``bits``-wide indices + relative indices + pointers + codebook (32-bit entries);
- P+Q+H : Huffman payloads of v and z + their code tables + pointers + codebook.

Dense bits count the weights and the bias (32 bits each).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from arch.config import AcceleratorConfig
from arch.encoding import StreamFormat, encode_layer

from . import huffman

FLOAT_BITS = 32
CODEBOOK_ENTRY_BITS = 32  # Deep Compression stores float32 shared values


@dataclass(frozen=True)
class StorageForm:
    """One layer in Deep Compression's storage form, with its Huffman coding."""

    n_rows: int
    n_cols: int
    bits: int
    rel_bits: int
    v: np.ndarray        # weight indices per entry (fillers are 0)
    z: np.ndarray        # relative column indices per entry
    row_ptr: np.ndarray  # (n_rows + 1,) entry offsets
    v_code: huffman.HuffmanCode
    z_code: huffman.HuffmanCode
    v_payload: bytes
    v_nbits: int
    z_payload: bytes
    z_nbits: int

    @property
    def n_entries(self) -> int:
        return int(len(self.v))

    @property
    def n_fillers(self) -> int:
        """Entries that stand for a gap (v = 0); real entries always have v != 0."""
        return int(np.count_nonzero(self.v == 0))

    @property
    def pointer_width(self) -> int:
        return max(1, math.ceil(math.log2(self.n_entries + 1)))

    @property
    def pointer_bits(self) -> int:
        return (self.n_rows + 1) * self.pointer_width

    def decode_indices(self) -> np.ndarray:
        """The (n_rows, n_cols) index matrix, from the Huffman payloads (golden-vector check)."""
        v = huffman.decode(self.v_payload, self.v_nbits, self.n_entries, self.v_code)
        z = huffman.decode(self.z_payload, self.z_nbits, self.n_entries, self.z_code)
        return decode_form(v, z, self.row_ptr, self.n_rows, self.n_cols, self.rel_bits)


def encode_form(idx: np.ndarray, bits: int, rel_bits: int) -> StorageForm:
    """Build the storage form and its Huffman codes for an index matrix ``[W | b]``."""
    if idx.ndim != 2:
        raise ValueError(f"index matrix must be 2-D, got shape {idx.shape}")
    streams = encode_layer(np.ascontiguousarray(idx.T), StreamFormat.smallest_word(1, bits, rel_bits))
    pe = streams.pes[0]
    v = np.asarray(pe.v)
    z = np.asarray(pe.z)
    v_code = huffman.build_code(v, 1 << bits)
    z_code = huffman.build_code(z, 1 << rel_bits)
    v_payload, v_nbits = huffman.encode(v, v_code)
    z_payload, z_nbits = huffman.encode(z, z_code)
    return StorageForm(n_rows=idx.shape[0], n_cols=idx.shape[1], bits=bits, rel_bits=rel_bits, v=v, z=z,
                       row_ptr=np.asarray(pe.col_ptr, dtype=np.int64), v_code=v_code, z_code=z_code,
                       v_payload=v_payload, v_nbits=v_nbits, z_payload=z_payload, z_nbits=z_nbits)


_DECODE_BLOCK = 1 << 22


def decode_form(v: np.ndarray, z: np.ndarray, row_ptr: np.ndarray, n_rows: int, n_cols: int,
                rel_bits: int, dtype=np.int64) -> np.ndarray:
    """Inverse of the entry layout: (v, z, row_ptr) -> dense (n_rows, n_cols) index matrix of
    ``dtype`` (the archive loader asks for its indices' own dtype).

    ValueError (before allocating the matrix) unless v and z are 1-D of one length with z >= 0
    and row_ptr is (n_rows + 1,) non-decreasing from 0 to that length. The entries are decoded
    a block of rows at a time, so the working memory does not grow with the layer.
    """
    v = np.asarray(v)
    z = np.asarray(z)
    row_ptr = np.asarray(row_ptr, dtype=np.int64)
    if v.ndim != 1 or z.shape != v.shape:
        raise ValueError(f"storage form is corrupt: v has shape {v.shape} and z {z.shape}")
    if row_ptr.shape != (n_rows + 1,) or row_ptr[0] != 0 or row_ptr[-1] != len(v) \
            or np.any(row_ptr[1:] < row_ptr[:-1]):
        raise ValueError(f"storage form is corrupt: row pointers do not run from 0 to {len(v)} over {n_rows} rows")
    if z.size and int(z.min()) < 0:
        raise ValueError("storage form is corrupt: a negative relative index")
    if v.size and (int(v.min()) < 0 or int(v.max()) > np.iinfo(dtype).max):
        raise ValueError(f"storage form is corrupt: a codebook index outside {np.dtype(dtype).name}")
    out = np.zeros((n_rows, n_cols), dtype=dtype)
    r0 = 0
    while r0 < n_rows:
        r1 = int(np.searchsorted(row_ptr, row_ptr[r0] + _DECODE_BLOCK, side="right")) - 1
        r1 = min(n_rows, max(r1, r0 + 1))
        e0, e1 = int(row_ptr[r0]), int(row_ptr[r1])
        if e1 > e0:
            counts = np.diff(row_ptr[r0:r1 + 1])
            rows = np.repeat(np.arange(r0, r1), counts)
            # position of each entry within its row: cumulative (z + 1) restarted at every row, minus 1
            csum = np.cumsum(z[e0:e1].astype(np.int64) + 1)
            csum0 = np.concatenate([[0], csum])
            col = csum - np.repeat(csum0[row_ptr[r0:r1] - e0], counts) - 1
            vv = v[e0:e1]
            real = vv != 0
            if np.any(col[real] >= n_cols):
                raise ValueError("storage form is corrupt: a column index runs past the row end")
            out[rows[real], col[real]] = vv[real]
        r0 = r1
    return out


def layer_storage(form: StorageForm, n_weights: int, n_bias: int, nnz_weights: int) -> dict:
    """Storage accounting of one layer (the paper's Table 2 columns, in bits)."""
    e = form.n_entries
    dense = FLOAT_BITS * (n_weights + n_bias)
    cb = (1 << form.bits) * CODEBOOK_ENTRY_BITS
    ptr = form.pointer_bits
    table = form.v_code.table_bits() + form.z_code.table_bits()
    p_bits = e * (FLOAT_BITS + form.rel_bits) + ptr
    pq_bits = e * (form.bits + form.rel_bits) + ptr + cb
    q_bits = (n_weights + n_bias) * form.bits + cb
    pqh_bits = form.v_nbits + form.z_nbits + table + ptr + cb
    return {
        "n_weights": n_weights,
        "n_bias": n_bias,
        "nnz_weights": nnz_weights,
        "weights_kept_pct": 100.0 * nnz_weights / n_weights if n_weights else 0.0,
        "entries": e,
        "fillers": form.n_fillers,
        "weight_bits": form.bits,
        "rel_index_bits": form.rel_bits,
        "avg_weight_bits_pq": float(form.bits),
        "avg_weight_bits_pqh": form.v_nbits / e if e else 0.0,
        "avg_index_bits_pq": float(form.rel_bits),
        "avg_index_bits_pqh": form.z_nbits / e if e else 0.0,
        "codebook_bits": cb,
        "pointer_bits": ptr,
        "huffman_table_bits": table,
        "dense_bits": dense,
        "storage_bits_p": p_bits,
        "storage_bits_q": q_bits,
        "storage_bits_pq": pq_bits,
        "storage_bits_pqh": pqh_bits,
        "compression_rate_p": dense / p_bits if p_bits else float("inf"),
        "compression_rate_q": dense / q_bits if q_bits else float("inf"),
        "compression_rate_pq": dense / pq_bits if pq_bits else float("inf"),
        "compression_rate_pqh": dense / pqh_bits if pqh_bits else float("inf"),
    }


def total_storage(layers: list[dict], dense_bits: int | None = None) -> dict:
    """Network totals: sums of bits and counts, rates recomputed from the sums. ``dense_bits``:
    the float model's bits when a structural transform changed the layers (the rates are then
    against it, and ``layers_dense_bits`` keeps the sum over the layers)."""
    keys = ("n_weights", "n_bias", "nnz_weights", "entries", "fillers", "codebook_bits", "pointer_bits",
            "huffman_table_bits", "dense_bits", "storage_bits_p", "storage_bits_q", "storage_bits_pq",
            "storage_bits_pqh")
    t = {k: int(sum(l[k] for l in layers)) for k in keys}
    if dense_bits is not None:
        t["layers_dense_bits"], t["dense_bits"] = t["dense_bits"], int(dense_bits)
    e = t["entries"]
    t["weights_kept_pct"] = 100.0 * t["nnz_weights"] / t["n_weights"] if t["n_weights"] else 0.0
    t["avg_weight_bits_pq"] = sum(l["avg_weight_bits_pq"] * l["entries"] for l in layers) / e if e else 0.0
    t["avg_weight_bits_pqh"] = sum(l["avg_weight_bits_pqh"] * l["entries"] for l in layers) / e if e else 0.0
    t["avg_index_bits_pq"] = sum(l["avg_index_bits_pq"] * l["entries"] for l in layers) / e if e else 0.0
    t["avg_index_bits_pqh"] = sum(l["avg_index_bits_pqh"] * l["entries"] for l in layers) / e if e else 0.0
    for s in ("p", "q", "pq", "pqh"):
        b = t[f"storage_bits_{s}"]
        t[f"compression_rate_{s}"] = t["dense_bits"] / b if b else float("inf")
    t["compression_rate"] = t["compression_rate_pqh"]
    return t


def eie_footprint(idx: np.ndarray, bits: int, accel: AcceleratorConfig) -> dict:
    """EIE's on-chip footprint of one layer for ``accel`` (reported apart from the rate).

    The layer is encoded with ``accel`` but its own codebook width (``bits``):
    per-PE (v, z) entries packed into SRAM words, per-PE column pointers, and a
    16-bit fixed-point codebook.
    """
    cfg = accel.for_layer(bits)
    streams = encode_layer(idx, cfg)
    fp = streams.footprint()
    cb = (1 << bits) * 16
    return {
        "eie_n_pe": cfg.n_pe,
        "eie_index_bits": bits,
        "eie_rel_index_bits": cfg.rel_index_bits,
        "eie_entries": int(streams.total_entries),
        "eie_fillers": int(streams.total_fillers),
        "eie_max_entries_per_pe": int(streams.max_entries_per_pe),
        "eie_spmat_bits": int(fp["spmat_bits"]),
        "eie_ptr_bits": int(fp["ptr_bits"]),
        "eie_padding_bits": int(fp["padding_bits"]),
        "eie_codebook_bits": cb,
        "eie_total_bits": int(fp["spmat_bits"] + fp["ptr_bits"] + cb),
        "eie_fits": bool(streams.max_entries_per_pe <= cfg.spmat_capacity_entries),
    }
