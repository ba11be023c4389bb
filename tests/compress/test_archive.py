"""The archive container: round trips, and a clear ArchiveError for every damaged file."""
from __future__ import annotations

import hashlib
import json
import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import arch.fileio
from compress.archive import FORMAT_VERSION, MAGIC, ArchiveError, read_container, write_container

FIXED = 28  # magic (8) + u32 version + u64 header length + u64 data length


def _mixed_arrays() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        "L0.centroids": rng.standard_normal(16).astype(np.float32),
        "f8": rng.standard_normal((3, 4)),
        "f2": np.arange(5, dtype=np.float16),
        "i1": np.array([-128, 0, 127], dtype=np.int8),
        "i2": np.arange(-3, 3, dtype=np.int16).reshape(2, 3),
        "i4_big_endian": np.arange(6, dtype=">i4"),
        "i8": np.array([np.iinfo(np.int64).min, np.iinfo(np.int64).max]),
        "u1": np.arange(7, dtype=np.uint8),
        "u2": np.array([65535], dtype=np.uint16),
        "u4": np.array([[1], [2]], dtype=np.uint32),
        "u8": np.array([2**64 - 1], dtype=np.uint64),
        "bool": np.array([True, False, True]),
        "c8": np.array([1 + 2j], dtype=np.complex64),
        "c16": np.array([[3 - 4j]], dtype=np.complex128),
        "empty": np.zeros(0, dtype=np.float32),
        "empty_3d": np.zeros((3, 0, 2), dtype=np.int64),
        "scalar": np.array(3.5, dtype=np.float64),
        "scalar_u1": np.array(7, dtype=np.uint8),
        "transposed": np.arange(12, dtype=np.int32).reshape(3, 4).T,  # not C-contiguous
        "strided": np.arange(20, dtype=np.float32)[::3],
    }


META = {"kind": "test", "layers": [{"name": "fc1", "relu": True}], "bits": 4, "x": 1.5, "none": None,
        "unicode": "Ωμέγα"}


def _write_small(path: Path) -> bytes:
    write_container(path, {"k": 1}, {"a": np.arange(3, dtype=np.float32), "b": np.array([1, 2], np.uint8)})
    return path.read_bytes()


def _reseal(body: bytes) -> bytes:
    """Append a fresh SHA-256 trailer to ``body`` (a file minus its trailer)."""
    return body + hashlib.sha256(body).digest()


def _craft(header: dict, data: bytes, version: int = FORMAT_VERSION) -> bytes:
    """Build a correctly checksummed file around an arbitrary header (for malformed-header tests)."""
    h = json.dumps(header).encode()
    start = (FIXED + len(h) + 7) // 8 * 8
    data = data + b"\0" * (-len(data) % 8)
    body = struct.pack("<8sIQQ", MAGIC, version, len(h), len(data)) + h + b"\0" * (start - FIXED - len(h)) + data
    return _reseal(body)


def _expect(path: Path, *fragments: str) -> ArchiveError:
    with pytest.raises(ArchiveError) as ei:
        read_container(path)
    msg = str(ei.value)
    assert msg.startswith(str(path)), msg
    assert "\n" not in msg
    for f in fragments:
        assert f in msg, msg
    return ei.value


# -- round trips -------------------------------------------------------------------------------------------


def test_round_trip_mixed_dtypes_and_shapes(tmp_path):
    arrays = _mixed_arrays()
    p = tmp_path / "m.dcz"
    write_container(p, META, arrays)
    meta, got = read_container(p)
    assert meta == META
    assert list(got) == list(arrays)
    for k, a in arrays.items():
        g = got[k]
        assert g.dtype == a.dtype, k
        assert g.shape == a.shape, k
        assert np.array_equal(g, a), k
        assert g.flags.writeable and g.flags.c_contiguous, k


def test_arrays_are_independent_copies(tmp_path):
    p = tmp_path / "m.dcz"
    write_container(p, {}, {"a": np.arange(4, dtype=np.int32)})
    _, g1 = read_container(p)
    g1["a"][:] = 99
    _, g2 = read_container(p)
    assert np.array_equal(g2["a"], np.arange(4))


def test_layout_documented(tmp_path):
    """Fixed prefix, 8-byte aligned data section and arrays, exact size, SHA-256 trailer."""
    p = tmp_path / "m.dcz"
    write_container(p, META, _mixed_arrays())
    data = p.read_bytes()
    magic, version, hlen, dlen = struct.unpack_from("<8sIQQ", data)
    assert magic == MAGIC == b"DCZARCH\0" and version == FORMAT_VERSION == 1
    header = json.loads(data[FIXED:FIXED + hlen])
    assert header["meta"] == META
    start = (FIXED + hlen + 7) // 8 * 8
    assert len(data) == start + dlen + 32
    assert data[-32:] == hashlib.sha256(data[:-32]).digest()
    for e in header["arrays"]:
        assert e["offset"] % 8 == 0 and e["offset"] + e["nbytes"] <= dlen
        assert set(e) == {"name", "dtype", "shape", "offset", "nbytes"}
    dt = {e["name"]: e["dtype"] for e in header["arrays"]}
    assert dt["L0.centroids"] == "<f4" and dt["u1"] == "|u1" and dt["i4_big_endian"] == ">i4"


def test_empty_archive(tmp_path):
    p = tmp_path / "e.dcz"
    write_container(p, {}, {})
    assert read_container(p) == ({}, {})


# -- damaged files -----------------------------------------------------------------------------------------


def test_every_single_bit_flip_of_a_small_archive_is_detected(tmp_path):
    p = tmp_path / "small.dcz"
    data = _write_small(p)
    for bit in range(len(data) * 8):
        flipped = bytearray(data)
        flipped[bit // 8] ^= 1 << (bit % 8)
        p.write_bytes(bytes(flipped))
        _expect(p)


@pytest.fixture(scope="module")
def big_archive(tmp_path_factory) -> tuple[Path, bytes]:
    p = tmp_path_factory.mktemp("archive") / "big.dcz"
    write_container(p, META, _mixed_arrays())
    return p, p.read_bytes()


@given(data=st.data())
def test_any_single_bit_flip_raises_archive_error(big_archive, data):
    path, raw = big_archive
    bit = data.draw(st.integers(0, len(raw) * 8 - 1), label="bit")
    target = path.with_name("flipped.dcz")
    flipped = bytearray(raw)
    flipped[bit // 8] ^= 1 << (bit % 8)
    target.write_bytes(bytes(flipped))
    _expect(target)


def test_huge_header_length_is_truncated(tmp_path):
    p = tmp_path / "h.dcz"
    data = bytearray(_write_small(p))
    struct.pack_into("<Q", data, 12, 2**63)
    p.write_bytes(bytes(data))
    _expect(p, "truncated")
    struct.pack_into("<Q", data, 12, 8)
    struct.pack_into("<Q", data, 20, 2**64 - 1)
    p.write_bytes(bytes(data))
    _expect(p, "truncated")


def test_truncation_at_every_length(tmp_path):
    src = tmp_path / "src.dcz"
    data = _write_small(src)
    hlen = struct.unpack_from("<Q", data, 12)[0]
    p = tmp_path / "cut.dcz"
    named = {0: "empty", 5: "inside magic", 20: "inside prefix", FIXED + hlen // 2: "inside header",
             len(data) - 40: "inside data", len(data) - 32: "missing trailer", len(data) - 1: "last byte"}
    for n in sorted(set(range(len(data))) | set(named)):
        p.write_bytes(data[:n])
        e = _expect(p, "truncated")
        if n >= FIXED:
            assert f"expected {len(data)} bytes, found {n}" in str(e)


def test_trailing_bytes_are_corruption(tmp_path):
    p = tmp_path / "t.dcz"
    p.write_bytes(_write_small(p) + b"\0")
    _expect(p, "corrupted", "trailing")


def test_checksum_mismatch(tmp_path):
    p = tmp_path / "c.dcz"
    data = bytearray(_write_small(p))
    data[-33] ^= 0xFF  # last data byte
    p.write_bytes(bytes(data))
    _expect(p, "corrupted: SHA-256 mismatch")


def test_wrong_magic(tmp_path):
    p = tmp_path / "w.dcz"
    data = _write_small(p)
    p.write_bytes(b"PK\x03\x04" + data[4:])
    _expect(p, "not a dcsim archive")
    p.write_bytes(b"abc")  # shorter than the magic, and not a prefix of it
    _expect(p, "not a dcsim archive")
    np.savez(tmp_path / "x.npz", a=np.zeros(3))
    _expect(tmp_path / "x.npz", "not a dcsim archive")


def test_wrong_version_with_valid_checksum(tmp_path):
    p = tmp_path / "v.dcz"
    data = bytearray(_write_small(p))
    struct.pack_into("<I", data, 8, 2)
    p.write_bytes(_reseal(bytes(data[:-32])))
    _expect(p, "version 2", f"reads version {FORMAT_VERSION}")


def test_missing_and_unreadable(tmp_path):
    _expect(tmp_path / "nope.dcz", "cannot read")
    _expect(tmp_path, "cannot read")  # a directory


@pytest.mark.parametrize("header, fragment", [
    (None, "bad JSON header"),
    ({"meta": [], "arrays": []}, "bad JSON header"),
    ({"meta": {}}, "bad JSON header"),
    ({"meta": {}, "arrays": [7]}, "bad array entry #0"),
    ({"meta": {}, "arrays": [{"name": "a", "dtype": "|O", "shape": [1], "offset": 0, "nbytes": 8}]}, "not allowed"),
    ({"meta": {}, "arrays": [{"name": "a", "dtype": "<U2", "shape": [1], "offset": 0, "nbytes": 8}]}, "not allowed"),
    ({"meta": {}, "arrays": [{"name": "a", "dtype": "nonsense", "shape": [1], "offset": 0, "nbytes": 8}]},
     "unknown dtype"),
    ({"meta": {}, "arrays": [{"name": "a", "dtype": "<f4", "shape": [-1], "offset": 0, "nbytes": 8}]}, "shape"),
    ({"meta": {}, "arrays": [{"name": "a", "dtype": "<f4", "shape": [2], "offset": -8, "nbytes": 8}]}, "offset"),
    ({"meta": {}, "arrays": [{"name": "a", "dtype": "<f4", "shape": [3], "offset": 0, "nbytes": 8}]}, "nbytes"),
    ({"meta": {}, "arrays": [{"name": "a", "dtype": "<f4", "shape": [2], "offset": 8, "nbytes": 8}]}, "outside"),
    ({"meta": {}, "arrays": [{"name": "a", "dtype": "<f4", "shape": [2], "offset": 0, "nbytes": 8}] * 2}, "twice"),
])
def test_malformed_header_with_valid_checksum(tmp_path, header, fragment):
    p = tmp_path / "bad.dcz"
    if header is None:
        body = _craft({}, b"\0" * 8)
        hlen = struct.unpack_from("<Q", body, 12)[0]
        body = bytearray(body[:-32])
        body[FIXED:FIXED + hlen] = b"{" + b" " * (hlen - 1)
        p.write_bytes(_reseal(bytes(body)))
    else:
        p.write_bytes(_craft(header, b"\0" * 8))
    _expect(p, fragment)


# -- writing -----------------------------------------------------------------------------------------------


def _leftovers(d: Path) -> list[str]:
    return sorted(x.name for x in d.iterdir())


@pytest.mark.parametrize("bad", [np.array([{"a": 1}], dtype=object), np.array(["ab"]),
                                 np.zeros(2, dtype=[("x", "<f4"), ("y", "<i4")]),
                                 np.array(["2020-01-01"], dtype="datetime64[D]")])
def test_rejects_non_numeric_dtypes_and_writes_nothing(tmp_path, bad):
    p = tmp_path / "o.dcz"
    with pytest.raises(ValueError, match="dtype"):
        write_container(p, {}, {"good": np.zeros(3), "bad": bad})
    assert _leftovers(tmp_path) == []


def test_rejects_non_json_meta(tmp_path):
    with pytest.raises(ValueError, match="JSON"):
        write_container(tmp_path / "o.dcz", {"x": object()}, {})
    assert _leftovers(tmp_path) == []


def test_failed_write_leaves_no_partial_file(tmp_path, monkeypatch):
    p = tmp_path / "model.dcz"
    write_container(p, {"v": 1}, {"a": np.arange(3)})
    before = p.read_bytes()

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(arch.fileio.os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        write_container(p, {"v": 2}, {"a": np.arange(1000)})
    assert _leftovers(tmp_path) == ["model.dcz"]  # no temp files
    assert p.read_bytes() == before  # the old archive is intact
    monkeypatch.undo()
    with pytest.raises(OSError):
        monkeypatch.setattr(arch.fileio.os, "replace", boom)
        write_container(tmp_path / "new.dcz", {}, {"a": np.arange(3)})
    assert _leftovers(tmp_path) == ["model.dcz"]
