"""The dcsim archive container: versioned, self-describing, checksummed, never a pickle.

A container holds a JSON-serialisable ``meta`` dict and named numeric numpy
arrays.  ``compress/model.py`` builds the ``.dcz`` model archive on top of it
(docs/design.md, "Formats").

File layout (all integers little-endian)::

    offset  size  field
    0       8     MAGIC = b"DCZARCH\\0"
    8       4     u32 format version (FORMAT_VERSION)
    12      8     u64 H: length of the JSON header in bytes
    20      8     u64 D: length of the data section in bytes
    28      H     JSON header, UTF-8:
                    {"meta": {...},
                     "arrays": [{"name": str, "dtype": np.dtype.str ("<f4", "|u1", ...),
                                 "shape": [int, ...], "offset": int, "nbytes": int}, ...]}
    S       D     data section; S = 28 + H rounded up to a multiple of 8.  Each array's
                  raw C-order bytes start at S + offset; offsets are relative to the
                  start of the data section and multiples of 8, and the gaps are zero
    S + D   32    SHA-256 of every byte before it

The file is exactly ``S + D + 32`` bytes long.  Because the data-section length
sits in the fixed-size prefix, a truncated file is recognised as truncated
before the checksum is computed.  The checksum covers everything else, so any
change to the file, including a single flipped bit, is an :class:`ArchiveError`.

Arrays keep their dtype exactly, byte order included; only boolean, integer,
floating and complex dtypes are stored.  ``meta`` goes through JSON, so tuples
come back as lists and dict keys as strings.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import re
import struct
from pathlib import Path

import numpy as np

from arch.errors import DcsimError
from arch.fileio import atomic_write_bytes

__all__ = ["ArchiveError", "FORMAT_VERSION", "MAGIC", "decode_container", "encode_container", "read_container",
           "write_container"]

FORMAT_VERSION = 1
MAGIC = b"DCZARCH\0"

_PREFIX = struct.Struct("<8sIQQ")  # magic, version, header length, data length
_FIXED = _PREFIX.size  # 28 bytes
_DIGEST = 32  # SHA-256
_ALIGN = 8
_KINDS = "biufc"  # bool, signed int, unsigned int, float, complex
MAX_DEPTH = 100  # deepest nesting of JSON arrays/objects in the header (the parser recurses per level)
MAX_NDIM = 32  # most dimensions of a stored array (numpy 1 allows 32, numpy 2 64)
_MAX_EXTENT = 1 << 48  # bound on the product of the nonzero dimensions times the item size
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)


class ArchiveError(DcsimError):
    """A dcsim archive is missing, truncated, corrupted or malformed.

    The message is one line and starts with the file path.
    """


def _one_line(msg: str, limit: int = 2000) -> str:
    """``msg`` with control and other non-printable characters escaped, at most ``limit`` characters."""
    if not msg.isprintable():
        msg = "".join(c if c.isprintable() else repr(c)[1:-1] for c in msg)
    return msg if len(msg) <= limit else msg[:limit - 3] + "..."


def json_depth(text: bytes) -> int:
    """Deepest nesting of arrays and objects in the JSON ``text`` (strings skipped), without parsing it.

    Linear time and no recursion, so it bounds the depth before :func:`json.loads` (which recurses
    once per level) sees the text. For malformed text the count is an upper bound up to the point
    where a parser would stop.
    """
    a = np.frombuffer(_JSON_STRING.sub(b'""', bytes(text)), dtype=np.uint8)
    if a.size == 0:
        return 0
    step = ((a == ord("[")) | (a == ord("{"))).astype(np.int64) - ((a == ord("]")) | (a == ord("}")))
    return int(max(0, np.cumsum(step).max()))


def _align(n: int) -> int:
    return (n + _ALIGN - 1) // _ALIGN * _ALIGN


def _check_dtype(dt: np.dtype) -> bool:
    """True if ``dt`` is a plain numeric or boolean dtype (no objects, strings, records)."""
    return dt.kind in _KINDS and dt.fields is None and dt.subdtype is None


def write_container(path: str | os.PathLike, meta: dict, arrays: dict[str, np.ndarray]) -> None:
    """Write ``meta`` and ``arrays`` to ``path`` as a dcsim archive, atomically.

    ``meta`` must be JSON-serialisable; ``arrays`` maps names (str) to arrays of a
    boolean, integer, floating or complex dtype.  Anything else raises
    ValueError before the file is touched, so a failed write leaves no file
    behind (and an existing file unchanged).
    """
    atomic_write_bytes(path, encode_container(meta, arrays, path))


def encode_container(meta: dict, arrays: dict[str, np.ndarray], path: str | os.PathLike = "<bytes>") -> bytes:
    """The bytes of a dcsim archive holding ``meta`` and ``arrays`` (``path`` names it in errors)."""
    if not isinstance(meta, dict):
        raise ValueError(f"{path}: archive meta must be a dict, got {type(meta).__name__}")
    entries = []
    blobs: list[tuple[int, bytes]] = []
    pos = 0
    for name, value in arrays.items():
        if not isinstance(name, str):
            raise ValueError(f"{path}: array names must be str, got {name!r}")
        a = np.asarray(value)
        if not _check_dtype(a.dtype):
            raise ValueError(f"{path}: array {name!r} has dtype {a.dtype} "
                             f"(allowed: bool, integer, floating and complex dtypes)")
        raw = np.ascontiguousarray(a).tobytes(order="C")
        pos = _align(pos)
        entries.append({"name": name, "dtype": a.dtype.str, "shape": [int(s) for s in a.shape],
                        "offset": pos, "nbytes": len(raw)})
        blobs.append((pos, raw))
        pos += len(raw)
    data_len = _align(pos)
    try:
        header = json.dumps({"meta": meta, "arrays": entries}, ensure_ascii=False).encode("utf-8")
    except (TypeError, ValueError, RecursionError) as e:
        raise ValueError(f"{path}: archive meta is not JSON-serialisable ({e})") from None
    if json_depth(header) > MAX_DEPTH:
        raise ValueError(f"{path}: archive meta is nested more than {MAX_DEPTH} levels deep")

    start = _align(_FIXED + len(header))
    buf = bytearray(start + data_len + _DIGEST)
    _PREFIX.pack_into(buf, 0, MAGIC, FORMAT_VERSION, len(header), data_len)
    buf[_FIXED:_FIXED + len(header)] = header
    for off, raw in blobs:
        buf[start + off:start + off + len(raw)] = raw
    end = start + data_len
    buf[end:] = hashlib.sha256(memoryview(buf)[:end]).digest()
    return bytes(buf)


def read_container(path: str | os.PathLike) -> tuple[dict, dict[str, np.ndarray]]:
    """Read a dcsim archive written by :func:`write_container`.

    Returns ``(meta, arrays)``; every array is an independent, writable copy.
    Any problem raises :class:`ArchiveError` with a one-line message that starts
    with the path and says what is wrong.  The checks run in this order: the file
    can be read; it starts with the magic; the version is supported; the file is
    as long as its prefix says (else "truncated"); the SHA-256 trailer matches
    (else "corrupted"); the JSON header and the array entries are well formed.
    """
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as e:
        raise ArchiveError(f"{p}: cannot read ({e.strerror or e})") from None
    return decode_container(data, p)


def decode_container(data: bytes, path: str | os.PathLike = "<bytes>") -> tuple[dict, dict[str, np.ndarray]]:
    """Parse the bytes of a dcsim archive (:func:`read_container`); ``path`` names it in errors."""
    p = path

    def err(msg: str) -> ArchiveError:
        return ArchiveError(f"{p}: {_one_line(msg)}")

    size = len(data)

    # A prefix of a valid archive is "truncated"; anything else not starting with MAGIC is foreign.
    if data[:len(MAGIC)] != MAGIC[:min(size, len(MAGIC))]:
        raise err("not a dcsim archive (wrong magic bytes)")
    if size < _FIXED:
        raise err(f"truncated: expected at least {_FIXED} bytes for the fixed header, found {size}")
    _magic, version, header_len, data_len = _PREFIX.unpack_from(data, 0)
    if version != FORMAT_VERSION:
        raise err(f"unsupported archive format version {version} (this dcsim reads version {FORMAT_VERSION})")
    start = _align(_FIXED + header_len)
    expected = start + data_len + _DIGEST
    if size < expected:
        raise err(f"truncated: expected {expected} bytes, found {size}")
    if size > expected:
        raise err(f"corrupted: expected {expected} bytes, found {size} ({size - expected} unexpected trailing bytes)")
    end = start + data_len
    view = memoryview(data)
    if hashlib.sha256(view[:end]).digest() != data[end:]:
        raise err("corrupted: SHA-256 mismatch")

    raw_header = bytes(view[_FIXED:_FIXED + header_len])
    if json_depth(raw_header) > MAX_DEPTH:
        raise err(f"bad JSON header (nested more than {MAX_DEPTH} levels deep)")
    try:
        header = json.loads(raw_header.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise err(f"bad JSON header ({type(e).__name__}: {e})") from None
    if not isinstance(header, dict) or not isinstance(header.get("meta"), dict) \
            or not isinstance(header.get("arrays"), list):
        raise err("bad JSON header (expected an object with a 'meta' object and an 'arrays' list)")

    arrays: dict[str, np.ndarray] = {}
    for i, ent in enumerate(header["arrays"]):
        name, arr = _read_entry(ent, i, view[start:end], err)
        if name in arrays:
            raise err(f"bad array entry {_short(name)}: the name appears twice")
        arrays[name] = arr
    return header["meta"], arrays


def _read_entry(ent, i: int, section: memoryview, err) -> tuple[str, np.ndarray]:
    """Validate one header entry and copy its array out of the data section."""
    if not isinstance(ent, dict) or not isinstance(ent.get("name"), str):
        raise err(f"bad array entry #{i}: expected an object with a string 'name'")
    name = ent["name"]
    label = f"bad array entry {_short(name)}"
    dstr, shape, off, nbytes = ent.get("dtype"), ent.get("shape"), ent.get("offset"), ent.get("nbytes")
    if not isinstance(dstr, str):
        raise err(f"{label}: dtype must be a string, got {_short(dstr)}")
    try:
        dt = np.dtype(dstr)
    except Exception:  # numpy raises TypeError, ValueError or SyntaxError for junk
        raise err(f"{label}: unknown dtype {_short(dstr)}") from None
    if not _check_dtype(dt):
        raise err(f"{label}: dtype {_short(dstr)} not allowed (bool, integer, floating or complex only)")
    if not isinstance(shape, list) or len(shape) > MAX_NDIM or not all(type(s) is int and s >= 0 for s in shape):
        raise err(f"{label}: shape must be a list of at most {MAX_NDIM} non-negative integers, "
                  f"got {_short(shape)}")
    if math.prod(max(s, 1) for s in shape) * dt.itemsize > _MAX_EXTENT:
        raise err(f"{label}: shape {_short(shape)} is too large")
    for v, what in ((off, "offset"), (nbytes, "nbytes")):
        if type(v) is not int or v < 0:
            raise err(f"{label}: {what} must be a non-negative integer, got {_short(v)}")
    if nbytes != math.prod(shape) * dt.itemsize:
        raise err(f"{label}: nbytes {nbytes} does not match shape {tuple(shape)} of dtype {dt.str}")
    if off + nbytes > len(section):
        raise err(f"{label}: bytes {off}..{off + nbytes} lie outside the {len(section)}-byte data section")
    if nbytes == 0:
        return name, np.zeros(shape, dtype=dt)
    arr = np.frombuffer(section, dtype=dt, count=nbytes // dt.itemsize, offset=off).reshape(shape).copy()
    return name, arr


def _short(v, limit: int = 80) -> str:
    """``repr(v)``, cut to ``limit`` characters (hostile headers hold huge values)."""
    r = repr(v)
    return r if len(r) <= limit else r[:limit - 3] + "..."
