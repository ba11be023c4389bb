"""File plumbing shared by every package: atomic writes, the one TOML reader, the one
numeric-array loader and the one JSON fallback for numpy values.

- Writes are atomic (docs/design.md, Formats): the bytes go to a temporary file in the
  target folder, are flushed to disk, and the file is renamed over the target, so a reader
  sees the old file or the whole new one and a crash leaves nothing half-written.
- :func:`read_toml` reads a TOML file; every problem (missing, a folder, unreadable, not
  UTF-8, bad TOML) raises the caller's error class with one line naming the file.
- :func:`load_arrays` reads ``.npy`` / ``.npz`` files of numbers and never unpickles.
- :func:`json_text` is the one JSON writer's text: strict JSON (no ``NaN`` / ``Infinity``, which
  other readers refuse); :func:`find_non_finite` names the first value that would break it.
"""
from __future__ import annotations

import json
import math
import os
import tempfile
import tomllib
import zipfile
from pathlib import Path

import numpy as np

from .errors import DcsimError

__all__ = ["atomic_write_bytes", "atomic_write_text", "read_toml", "load_arrays", "json_default", "json_text",
           "non_finite_to_null",
           "find_non_finite"]


def _umask() -> int:
    m = os.umask(0)
    os.umask(m)
    return m


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the whole new one."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the usual permissions
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, p)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def read_toml(path: str | os.PathLike, what: str, error: type[Exception] = DcsimError) -> dict:
    """The TOML file ``path`` as a dict; any problem raises ``error`` with one line naming the file.

    ``what`` names the kind of file in the messages ("config file", "sweep file", ...).
    """
    p = Path(path)
    try:
        return tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise error(f"{p}: no such {what}") from None
    except IsADirectoryError:
        raise error(f"{p}: is a folder; give a {what} (.toml)") from None
    except OSError as e:
        raise error(f"{p}: cannot read {what} ({e.strerror or e})") from None
    except UnicodeDecodeError:
        raise error(f"{p}: not a UTF-8 text file, so not a {what} (.toml)") from None
    except tomllib.TOMLDecodeError as e:
        raise error(f"{p}: not valid TOML ({e})") from None


_READ_CHUNK = 1 << 24


def _read_npz_member(zf, member: str) -> np.ndarray | None:
    """A ``.npy`` member of an ``.npz`` read straight into its array, a block at a time (numpy's
    own reader holds the member's bytes and the array at once: two copies of a large layer).
    None for what it does not handle (other format versions, object arrays): the caller falls
    back to numpy, which refuses pickles. Reading to the end checks the zip CRC."""
    from numpy.lib import format as npf

    with zf.open(member) as f:
        version = npf.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = npf.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, fortran, dtype = npf.read_array_header_2_0(f)
        else:
            return None
        if dtype.hasobject:
            return None
        arr = np.empty(shape, dtype=dtype, order="F" if fortran else "C")
        if arr.nbytes:
            buf = memoryview(arr.T if fortran else arr).cast("B")
            pos = 0
            while pos < len(buf):
                chunk = f.read(min(_READ_CHUNK, len(buf) - pos))
                if not chunk:
                    raise EOFError(f"member {member} ends after {pos} of {len(buf)} data bytes")
                buf[pos:pos + len(chunk)] = chunk
                pos += len(chunk)
        if f.read(1):
            raise ValueError(f"member {member} holds more bytes than its shape {shape} needs")
    return arr


def load_arrays(path: str | os.PathLike, what: str, error: type[Exception] = DcsimError
                ) -> np.ndarray | dict[str, np.ndarray]:
    """A ``.npy`` file as one array, or a ``.npz`` file as ``{name: array}``; numbers only.

    Pickled objects are never loaded (``allow_pickle=False``). A missing, unreadable or
    non-numeric file raises ``error`` with one line naming the file (``what`` says what it is
    for, e.g. "--inputs").
    """
    p = Path(path)
    try:
        loaded = np.load(p, allow_pickle=False)
    except FileNotFoundError:
        raise error(f"{what} {p}: no such file") from None
    except IsADirectoryError:
        raise error(f"{what} {p}: is a folder; give a .npy or .npz file") from None
    except zipfile.BadZipFile as e:
        raise error(f"{what} {p}: a corrupted .npz (zip) file ({e})") from None
    except (OSError, ValueError, EOFError) as e:
        raise error(f"{what} {p}: not a readable .npy/.npz file of numbers ({e})") from None
    is_npz = isinstance(loaded, np.lib.npyio.NpzFile)
    if is_npz:
        with loaded:
            members = loaded.zip.namelist()
            odd = [m for m in members if not m.endswith(".npy")]
            if odd:
                raise error(f"{what} {p}: member {odd[0]!r} is not a .npy array; an .npz holds only .npy arrays")
            if not members:
                raise error(f"{what} {p}: an empty .npz (no arrays)")
            try:
                arrays = {}
                for k in loaded.files:
                    a = _read_npz_member(loaded.zip, k + ".npy")
                    arrays[k] = loaded[k] if a is None else a
            except zipfile.BadZipFile as e:
                raise error(f"{what} {p}: a corrupted .npz (zip) file ({e})") from None
            except (ValueError, OSError, EOFError) as e:
                raise error(f"{what} {p}: holds non-numeric, pickled or unreadable data, which dcsim never loads "
                            f"({e})") from None
    else:
        arrays = {"": loaded}
    for k, a in arrays.items():
        if not isinstance(a, np.ndarray) or not (np.issubdtype(a.dtype, np.number) or a.dtype == np.bool_):
            name = f"array {k!r}" if k else "it"
            raise error(f"{what} {p}: {name} holds {getattr(a, 'dtype', type(a).__name__)}; numbers are needed")
    return arrays if is_npz else arrays[""]


def json_default(o):
    """``json.dumps(..., default=json_default)``: numpy scalars and arrays as plain numbers and lists."""
    if isinstance(o, np.bool_):
        return bool(o)
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, os.PathLike):
        return os.fspath(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def find_non_finite(obj, where: str = "") -> str | None:
    """The key path (``layers[0].weight_rms_error``) of the first NaN or infinite number in
    ``obj`` (dicts, lists, tuples, floats, numpy values), or None when every number is finite."""
    if isinstance(obj, (float, np.floating)):
        return None if math.isfinite(float(obj)) else (where or "the value")
    if isinstance(obj, np.ndarray):
        if obj.dtype.kind in "fc" and not np.all(np.isfinite(obj)):
            return where or "the array"
        return None
    if isinstance(obj, dict):
        for k, v in obj.items():
            hit = find_non_finite(v, f"{where}.{k}" if where else str(k))
            if hit:
                return hit
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            hit = find_non_finite(v, f"{where}[{i}]")
            if hit:
                return hit
    return None


def non_finite_to_null(obj):
    """A copy of ``obj`` (dicts, lists, tuples, numbers) with every NaN or infinite float as None.

    For records where a number can be undefined by nature (a 0/0 ratio in a DSE point that did
    no work): JSON ``null`` is how strict JSON says "no value", and pandas reads it back as NaN.
    """
    if isinstance(obj, (float, np.floating)):
        return float(obj) if math.isfinite(float(obj)) else None
    if isinstance(obj, dict):
        return {k: non_finite_to_null(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [non_finite_to_null(v) for v in obj]
    if isinstance(obj, np.ndarray) and obj.dtype.kind in "fc":
        return non_finite_to_null(obj.tolist())
    return obj


def json_text(obj, indent: int | None = 2) -> str:
    """``obj`` as strict JSON text (numpy values as plain numbers, :func:`json_default`).

    NaN and infinities are refused (``allow_nan=False``): they are not JSON, and most readers
    reject them. A ValueError names the first such value's key path; inputs that would produce
    one are refused where they come in, so this is a bug when it happens. Records whose numbers
    may be undefined by nature go through :func:`non_finite_to_null` first.
    """
    try:
        return json.dumps(obj, indent=indent, allow_nan=False, default=json_default)
    except ValueError as e:
        hit = find_non_finite(obj)
        if hit is None:
            raise
        raise ValueError(f"not strict JSON: {hit} is not a finite number") from e
