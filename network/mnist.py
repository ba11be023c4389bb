"""MNIST (and other IDX image data sets): find, download, verify and load.

Where the data comes from, first match wins:

1. the ``data_dir`` argument (``--data-dir``): the folder holding the four IDX
   files itself.  If it is given and unusable, that is an error (no fallback);
2. ``$DCSIM_DATA/mnist`` if ``DCSIM_DATA`` is set (again an error if unusable);
3. the user cache, ``$DCSIM_CACHE/mnist`` if ``DCSIM_CACHE`` is set, else
   ``~/.cache/dcsim/mnist``.  Files missing there are downloaded (when allowed)
   and kept only if the SHA-256 of their decompressed bytes is the canonical one.

A folder holds the four files ``train-images-idx3-ubyte``,
``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte`` and
``t10k-labels-idx1-ubyte``, each raw or gzipped (``.gz``); the dotted variant
``train-images.idx3-ubyte`` is accepted too.  Any well-formed IDX data with
3-D images and 1-D labels in 0..255 loads (Fashion-MNIST, say);
:attr:`Dataset.is_standard_mnist` tells whether the files are the standard MNIST.
"""
from __future__ import annotations

import gzip
import hashlib
import http.client
import math
import os
import tempfile
import urllib.request
import zlib
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from arch.errors import DcsimError

__all__ = ["DataError", "Dataset", "MIRRORS", "MNIST_FILES", "MNIST_SHA256", "cache_dir", "download_mnist",
           "find_data_dir", "load_folder", "load_mnist", "load_subset", "read_idx"]


class DataError(DcsimError):
    """Input data is missing or malformed.  The message is one line naming the file or folder."""


#: The four files, in the order train images, train labels, test images, test labels.
MNIST_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
               "t10k-labels-idx1-ubyte")

#: SHA-256 of the decompressed standard MNIST files (the canonical files of the data set).
MNIST_SHA256 = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}

#: Download mirrors, tried in order; each serves ``<name>.gz``.
MIRRORS = ("https://ossci-datasets.s3.amazonaws.com/mnist/", "https://storage.googleapis.com/cvdf-datasets/mnist/")

_GZIP_MAGIC = b"\x1f\x8b"
# IDX type code -> (big-endian dtype, name)
_IDX_TYPES = {0x08: (">u1", "unsigned byte"), 0x09: (">i1", "signed byte"), 0x0B: (">i2", "short"),
              0x0C: (">i4", "int"), 0x0D: (">f4", "float"), 0x0E: (">f8", "double")}
_ALLOWED_CODES = ", ".join(f"0x{c:02X} ({n})" for c, (_, n) in _IDX_TYPES.items())
_DOWNLOAD_TIMEOUT_S = 60.0


@dataclass(repr=False)
class Dataset:
    """A train/test image classification data set.

    Images are float32 in [0, 1] with shape (n, H, W) (28 x 28 for MNIST);
    labels are int64 with shape (n,).  ``source`` is the folder the files came
    from; ``is_standard_mnist`` is True only if all four files are byte for byte
    the standard MNIST files (checked by SHA-256 of the decompressed bytes).
    """

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    source: Path
    is_standard_mnist: bool

    def __repr__(self) -> str:
        return (f"Dataset(source={str(self.source)!r}, train={self.train_images.shape}, "
                f"test={self.test_images.shape}, is_standard_mnist={self.is_standard_mnist})")


# -- IDX files ---------------------------------------------------------------------------------------------


def _read_bytes(path: Path) -> bytes:
    """The file's content, decompressed if it starts with the gzip magic bytes."""
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror or e})") from None
    if raw[:2] != _GZIP_MAGIC:
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as e:  # BadGzipFile is an OSError
        raise DataError(f"{path}: corrupted gzip data ({e})") from None


def _parse_idx(data: bytes, path: Path) -> np.ndarray:
    """Parse an IDX file's (decompressed) bytes into a native-endian, writable array."""
    if len(data) < 4:
        raise DataError(f"{path}: not an IDX file (only {len(data)} bytes)")
    if data[0] != 0 or data[1] != 0:
        raise DataError(f"{path}: not an IDX file (magic {data[:4].hex()} does not start with 0000)")
    code, ndim = data[2], data[3]
    if code not in _IDX_TYPES:
        raise DataError(f"{path}: unsupported IDX data type 0x{code:02X} (allowed: {_ALLOWED_CODES})")
    if ndim == 0:
        raise DataError(f"{path}: IDX file declares 0 dimensions (at least 1 is needed)")
    head = 4 + 4 * ndim
    if len(data) < head:
        raise DataError(f"{path}: truncated IDX header: {ndim} dimensions need {head} bytes, found {len(data)}")
    dims = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    dt = np.dtype(_IDX_TYPES[code][0])
    want = math.prod(dims) * dt.itemsize
    have = len(data) - head
    if have != want:
        what = "truncated" if have < want else "has extra bytes"
        raise DataError(f"{path}: {what}: dimensions {dims} of {_IDX_TYPES[code][1]} need {want} data bytes, "
                        f"found {have}")
    return np.frombuffer(data, dtype=dt, count=math.prod(dims), offset=head).reshape(dims).astype(dt.newbyteorder("="))


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file, raw or gzipped (detected by the gzip magic bytes, not the suffix).

    Returns a native-endian, writable array of the file's dtype and dimensions.
    Raises DataError naming the file if it cannot be read, is not valid gzip,
    has a bad magic or an unsupported type code, or its payload length does not
    match its dimensions exactly.
    """
    p = Path(path)
    return _parse_idx(_read_bytes(p), p)


# -- finding a folder --------------------------------------------------------------------------------------


def _candidates(folder: Path, name: str) -> list[Path]:
    dotted = name.replace("-idx", ".idx")  # train-images.idx3-ubyte
    return [folder / n for n in (name, name + ".gz", dotted, dotted + ".gz")]


def _locate(folder: Path) -> tuple[dict[str, Path], list[str]]:
    """Map each of the four names to its file in ``folder``; also list the names with no file."""
    found, missing = {}, []
    for name in MNIST_FILES:
        hit = next((c for c in _candidates(folder, name) if c.is_file()), None)
        if hit is None:
            missing.append(name)
        else:
            found[name] = hit
    return found, missing


def _require_folder(folder: Path, what: str) -> Path:
    """Check that ``folder`` (named by the user through ``what``) exists and holds all four files."""
    if not folder.is_dir():
        raise DataError(f"{folder}: no such folder ({what} must name a folder holding the four MNIST IDX files)")
    _, missing = _locate(folder)
    if missing:
        raise DataError(f"{folder}: missing {', '.join(m + '[.gz]' for m in missing)} "
                        f"(the folder must hold {', '.join(MNIST_FILES)}, each optionally gzipped)")
    return folder


def cache_dir() -> Path:
    """The user cache folder for MNIST: ``$DCSIM_CACHE/mnist``, else ``~/.cache/dcsim/mnist``."""
    base = os.environ.get("DCSIM_CACHE")
    root = Path(base).expanduser() if base else Path.home() / ".cache" / "dcsim"
    return root / "mnist"


def find_data_dir(data_dir: str | os.PathLike | None = None) -> Path | None:
    """The folder to load from, following the lookup order in the module docstring.

    Returns None only if neither ``data_dir`` nor ``DCSIM_DATA`` is given and the
    cache does not hold all four files yet.  A ``data_dir`` or ``DCSIM_DATA`` that
    does not lead to the four files raises DataError (there is no fallback).
    Nothing is downloaded.
    """
    if data_dir is not None:
        return _require_folder(Path(data_dir).expanduser(), "--data-dir")
    env = os.environ.get("DCSIM_DATA")
    if env:
        return _require_folder(Path(env).expanduser() / "mnist", "$DCSIM_DATA/mnist (DCSIM_DATA is set)")
    cache = cache_dir()
    return cache if cache.is_dir() and not _locate(cache)[1] else None


# -- downloading -------------------------------------------------------------------------------------------


def _urlopen(url: str, timeout: float):
    """Open ``url`` (the one place that touches the network; tests replace it)."""
    return urllib.request.urlopen(url, timeout=timeout)  # noqa: S310 (fixed https mirrors)


def _fetch(url: str, dest, desc: str, progress: bool) -> None:
    """Stream ``url`` into the open binary file ``dest``, with a tqdm bar if ``progress``."""
    from tqdm import tqdm

    with _urlopen(url, _DOWNLOAD_TIMEOUT_S) as resp:
        length = resp.headers.get("Content-Length") if getattr(resp, "headers", None) is not None else None
        total = int(length) if length and str(length).isdigit() else None
        with tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=desc, disable=not progress,
                  leave=False) as bar:
            while chunk := resp.read(1 << 16):
                dest.write(chunk)
                bar.update(len(chunk))


def _download_one(name: str, folder: Path, progress: bool) -> Path:
    """Download ``name``.gz into ``folder`` from the first mirror that serves a verified copy."""
    target = folder / (name + ".gz")
    failures = []
    for mirror in MIRRORS:
        url = mirror + name + ".gz"
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=folder)
        try:
            with os.fdopen(fd, "wb") as f:
                _fetch(url, f, name + ".gz", progress)
            digest = hashlib.sha256(_read_bytes(Path(tmp))).hexdigest()
            if digest != MNIST_SHA256[name]:
                failures.append(f"{url}: SHA-256 of the decompressed file is {digest[:12]}..., "
                                f"expected {MNIST_SHA256[name][:12]}...")
                continue
            os.replace(tmp, target)
            return target
        except (OSError, http.client.HTTPException, DataError, ValueError) as e:
            # URLError, HTTPError and timeouts are OSErrors; HTTPException covers e.g. IncompleteRead;
            # DataError is a corrupted gzip; ValueError a malformed URL or response.
            failures.append(f"{url}: {getattr(e, 'reason', None) or e}")
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    raise DataError(f"{target}: download failed, nothing kept ({'; '.join(failures)}); "
                    f"download the files yourself and pass --data-dir or set DCSIM_DATA")


def download_mnist(folder: str | os.PathLike | None = None, progress: bool = True) -> Path:
    """Download the MNIST files missing from ``folder`` (default: the user cache) and return it.

    Each file is fetched as ``<name>.gz`` from :data:`MIRRORS` in order, into a
    temporary file that is renamed into place only after the SHA-256 of its
    decompressed bytes matches :data:`MNIST_SHA256`.  A file that fails on every
    mirror is deleted and raises DataError; files already present are kept as they are.
    """
    dest = Path(folder).expanduser() if folder is not None else cache_dir()
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DataError(f"{dest}: cannot create the MNIST folder ({e.strerror or e})") from None
    for name in _locate(dest)[1]:
        _download_one(name, dest, progress)
    return dest


# -- loading -----------------------------------------------------------------------------------------------


def _images(a: np.ndarray, path: Path) -> np.ndarray:
    if a.ndim != 3:
        raise DataError(f"{path}: images must be 3-D (n, height, width), found shape {a.shape}")
    if a.dtype == np.uint8:
        return (a.astype(np.float32) / np.float32(255.0))
    if a.dtype.kind == "f" and (a.size == 0 or (np.isfinite(a).all() and a.min() >= 0 and a.max() <= 1)):
        return a.astype(np.float32)
    raise DataError(f"{path}: images must be unsigned bytes, or floats in [0, 1]; found {a.dtype} data")


def _labels(a: np.ndarray, path: Path) -> np.ndarray:
    if a.ndim != 1:
        raise DataError(f"{path}: labels must be 1-D, found shape {a.shape}")
    if a.dtype.kind not in "iu":
        raise DataError(f"{path}: labels must be integers in 0..255, found {a.dtype} data")
    if a.size and (int(a.min()) < 0 or int(a.max()) > 255):
        raise DataError(f"{path}: labels must be in 0..255, found {int(a.min())}..{int(a.max())}")
    return a.astype(np.int64)


def load_folder(folder: str | os.PathLike) -> Dataset:
    """Load the four IDX files in ``folder`` (see the module docstring) as a :class:`Dataset`.

    Checks that images are 3-D and labels 1-D in 0..255, that each split has as
    many labels as images, and that train and test images have the same size.
    """
    folder = _require_folder(Path(folder).expanduser(), "the data folder")
    files, _ = _locate(folder)
    arrays, standard = {}, True
    for name in MNIST_FILES:
        raw = _read_bytes(files[name])
        standard &= hashlib.sha256(raw).hexdigest() == MNIST_SHA256[name]
        arrays[name] = _parse_idx(raw, files[name])
        del raw
    tri, trl, tei, tel = MNIST_FILES
    train_x, test_x = _images(arrays[tri], files[tri]), _images(arrays[tei], files[tei])
    train_y, test_y = _labels(arrays[trl], files[trl]), _labels(arrays[tel], files[tel])
    for x, y, xn, yn in ((train_x, train_y, tri, trl), (test_x, test_y, tei, tel)):
        if len(x) != len(y):
            raise DataError(f"{files[yn]}: {len(y)} labels for {len(x)} images in {files[xn].name} "
                            f"(the counts must match)")
    if train_x.shape[1:] != test_x.shape[1:]:
        raise DataError(f"{folder}: train images are {train_x.shape[1]}x{train_x.shape[2]} but test images are "
                        f"{test_x.shape[1]}x{test_x.shape[2]} (they must match)")
    return Dataset(train_x, train_y, test_x, test_y, source=folder, is_standard_mnist=bool(standard))


def load_mnist(data_dir: str | os.PathLike | None = None, download: bool = True, progress: bool = True) -> Dataset:
    """Find (see :func:`find_data_dir`), if need be download, and load MNIST.

    ``data_dir`` is the folder holding the four files (``--data-dir``).  Without
    it or ``DCSIM_DATA``, the user cache is used and missing files are
    downloaded if ``download`` is true (with a progress bar if ``progress``).
    Raises DataError naming the file or folder for anything missing or malformed.
    """
    folder = find_data_dir(data_dir)
    if folder is None:
        cache = cache_dir()
        if not download:
            raise DataError(f"{cache}: MNIST not found and downloading is off; pass --data-dir FOLDER "
                            f"(the folder holding the four IDX files) or set DCSIM_DATA to a folder containing mnist/")
        folder = download_mnist(cache, progress=progress)
    return load_folder(folder)


def load_subset(ds: Dataset, n_train: int, n_test: int, seed: int = 0) -> Dataset:
    """A smaller Dataset for fast tests: a seeded random subset of each split.

    ``n_train`` images are drawn without replacement from the training split and
    ``n_test`` from the test split, with ``np.random.default_rng(seed)``; they
    keep their original order.  The same ``(ds, n_train, n_test, seed)`` always
    gives the same subset.  The arrays are copies; ``source`` and
    ``is_standard_mnist`` describe the files the subset was drawn from.
    """
    for n, total, what in ((n_train, len(ds.train_images), "n_train"), (n_test, len(ds.test_images), "n_test")):
        if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or not 0 <= n <= total:
            raise ValueError(f"{what} = {n!r} is out of range (allowed: an integer in 0..{total})")
    rng = np.random.default_rng(seed)
    tr = np.sort(rng.choice(len(ds.train_images), size=int(n_train), replace=False))
    te = np.sort(rng.choice(len(ds.test_images), size=int(n_test), replace=False))
    return replace(ds, train_images=ds.train_images[tr], train_labels=ds.train_labels[tr],
                   test_images=ds.test_images[te], test_labels=ds.test_labels[te])
