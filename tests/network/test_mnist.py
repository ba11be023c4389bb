"""MNIST / IDX loading: the real files, synthetic IDX data, every malformed input, and downloads (offline)."""
from __future__ import annotations

import gzip
import io
import struct
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from network import mnist
from network.mnist import (MIRRORS, MNIST_FILES, DataError, Dataset, download_mnist, find_data_dir, load_folder,
                            load_mnist, load_subset, read_idx)

TRI, TRL, TEI, TEL = MNIST_FILES
CODES = {np.dtype(np.uint8): 0x08, np.dtype(np.int8): 0x09, np.dtype(np.int16): 0x0B, np.dtype(np.int32): 0x0C,
         np.dtype(np.float32): 0x0D, np.dtype(np.float64): 0x0E}


@pytest.fixture(autouse=True)
def _no_network(monkeypatch):
    """Any attempt to reach the network fails the test."""
    def refuse(*a, **k):
        raise AssertionError("a test tried to use the network")
    monkeypatch.setattr(urllib.request, "urlopen", refuse)


def idx_bytes(a: np.ndarray) -> bytes:
    a = np.asarray(a)
    head = bytes([0, 0, CODES[a.dtype], a.ndim]) + struct.pack(f">{a.ndim}I", *a.shape)
    return head + a.astype(a.dtype.newbyteorder(">")).tobytes()


def write_idx(path: Path, a: np.ndarray, gz: bool = False) -> Path:
    data = idx_bytes(a)
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def small_set(rng=None, n_train=12, n_test=6, hw=(5, 4)):
    rng = rng or np.random.default_rng(0)
    return {TRI: rng.integers(0, 256, (n_train, *hw), dtype=np.uint8),
            TRL: rng.integers(0, 10, n_train, dtype=np.uint8),
            TEI: rng.integers(0, 256, (n_test, *hw), dtype=np.uint8),
            TEL: rng.integers(0, 10, n_test, dtype=np.uint8)}


def write_set(folder: Path, arrays: dict, gz: bool = False, dotted: bool = False) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, a in arrays.items():
        fname = name.replace("-idx", ".idx") if dotted else name
        write_idx(folder / (fname + (".gz" if gz else "")), a, gz)
    return folder


def expect_error(fn, path, *fragments) -> str:
    with pytest.raises(DataError) as ei:
        fn()
    msg = str(ei.value)
    assert "\n" not in msg
    assert str(path) in msg, msg
    for f in fragments:
        assert f in msg, msg
    return msg


# -- the real files ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def real(mnist_path) -> Dataset:
    return load_mnist(mnist_path, download=False, progress=False)


def test_real_mnist(real, mnist_path):
    assert real.source == mnist_path
    assert real.is_standard_mnist is True
    assert real.train_images.shape == (60000, 28, 28) and real.test_images.shape == (10000, 28, 28)
    assert real.train_labels.shape == (60000,) and real.test_labels.shape == (10000,)
    for x in (real.train_images, real.test_images):
        assert x.dtype == np.float32 and x.min() == 0.0 and x.max() == 1.0
    for y in (real.train_labels, real.test_labels):
        assert y.dtype == np.int64 and set(np.unique(y)) == set(range(10))
    assert real.train_labels[0] == 5 and real.test_labels[0] == 7  # the well-known first labels
    assert np.isclose(real.train_images.mean(), 0.1307, atol=1e-3)  # the usual normalisation constant
    assert "is_standard_mnist=True" in repr(real) and "(60000, 28, 28)" in repr(real)


def test_dcsim_data_lookup_and_argument_precedence(mnist_path, monkeypatch, tmp_path):
    monkeypatch.setenv("DCSIM_DATA", str(mnist_path.parent))
    assert find_data_dir() == mnist_path
    monkeypatch.setenv("DCSIM_DATA", str(tmp_path / "elsewhere"))
    assert find_data_dir(mnist_path) == mnist_path  # the argument wins, DCSIM_DATA is not consulted


def test_load_subset(real):
    s = load_subset(real, 500, 200, seed=3)
    assert s.train_images.shape == (500, 28, 28) and s.test_labels.shape == (200,)
    assert s.source == real.source and s.is_standard_mnist == real.is_standard_mnist
    again = load_subset(real, 500, 200, seed=3)
    assert np.array_equal(s.train_images, again.train_images) and np.array_equal(s.test_labels, again.test_labels)
    other = load_subset(real, 500, 200, seed=4)
    assert not np.array_equal(s.train_labels, other.train_labels)
    # rows come from the original, in their original order
    sums = real.train_images.reshape(60000, -1).sum(1)
    pos = [next(int(i) for i in np.flatnonzero(np.isclose(sums, row.sum()))
                if np.array_equal(real.train_images[i], row)) for row in s.train_images[:20]]
    assert pos == sorted(pos)
    assert len(np.unique(s.train_labels)) == 10
    assert load_subset(real, 0, 0).train_images.shape == (0, 28, 28)
    for bad in ((60001, 10), (-1, 10), (10, 10001), (1.5, 10)):
        with pytest.raises(ValueError, match="out of range"):
            load_subset(real, *bad)


# -- synthetic IDX data ------------------------------------------------------------------------------------


@pytest.mark.parametrize("gz, dotted", [(False, False), (True, False), (False, True), (True, True)])
def test_synthetic_folder_loads(tmp_path, gz, dotted):
    arrays = small_set()
    folder = write_set(tmp_path / "fashion", arrays, gz=gz, dotted=dotted)
    ds = load_mnist(folder, download=False, progress=False)
    assert ds.source == folder and ds.is_standard_mnist is False
    assert ds.train_images.dtype == np.float32 and ds.train_images.shape == (12, 5, 4)
    assert np.array_equal(ds.train_images, arrays[TRI] / np.float32(255))
    assert np.array_equal(ds.test_labels, arrays[TEL]) and ds.test_labels.dtype == np.int64
    assert ds.train_images.flags.writeable


def test_gzip_detected_by_content_not_suffix(tmp_path):
    a = np.arange(24, dtype=np.int16).reshape(2, 3, 4)
    assert np.array_equal(read_idx(write_idx(tmp_path / "plain.gz", a, gz=False)), a)
    assert np.array_equal(read_idx(write_idx(tmp_path / "packed", a, gz=True)), a)


@pytest.mark.parametrize("dtype", list(CODES))
@pytest.mark.parametrize("shape", [(7,), (2, 3, 4), (1, 2, 1, 3), (0, 5)])
def test_read_idx_all_types(tmp_path, dtype, shape):
    rng = np.random.default_rng(1)
    a = (rng.standard_normal(shape) * 50).astype(dtype)
    got = read_idx(write_idx(tmp_path / "a.idx", a))
    assert got.dtype == dtype and got.dtype.isnative and got.shape == shape and np.array_equal(got, a)
    assert got.flags.writeable


def _good() -> bytes:
    return idx_bytes(np.arange(6, dtype=np.uint8).reshape(2, 3))


@pytest.mark.parametrize("content, fragment", [
    (b"", "not an IDX file"),
    (b"\x00\x00", "not an IDX file"),
    (b"\x01\x02\x08\x01" + struct.pack(">I", 1) + b"\0", "not an IDX file"),
    (b"\x00\x00\x0a\x01" + struct.pack(">I", 1) + b"\0", "unsupported IDX data type 0x0A"),
    (b"\x00\x00\x08\x00", "0 dimensions"),
    (b"\x00\x00\x08\x03" + struct.pack(">I", 2), "truncated IDX header"),
    (_good()[:-1], "truncated"),
    (_good() + b"\0", "extra bytes"),
    (b"\x00\x00\x0b\x01" + struct.pack(">I", 3) + b"\0" * 5, "need 6 data bytes, found 5"),
    (b"\x1f\x8b" + b"garbage that is not deflate", "corrupted gzip"),
    (gzip.compress(_good())[:-6], "corrupted gzip"),
    (gzip.compress(_good()[:-2]), "truncated"),
])
def test_read_idx_rejects_malformed(tmp_path, content, fragment):
    p = tmp_path / "bad-idx3-ubyte"
    p.write_bytes(content)
    msg = expect_error(lambda: read_idx(p), p, fragment)
    assert msg.startswith(str(p))


def test_read_idx_missing_file(tmp_path):
    expect_error(lambda: read_idx(tmp_path / "nope"), tmp_path / "nope", "cannot read")


@pytest.mark.parametrize("name, value, fragment", [
    (TRL, np.zeros((12, 1), np.uint8), "labels must be 1-D"),
    (TEI, np.zeros((6, 20), np.uint8), "images must be 3-D"),
    (TEL, np.zeros(5, np.uint8), "5 labels for 6 images"),
    (TRL, np.full(12, 300, np.int16), "0..255"),
    (TRL, np.full(12, -1, np.int8), "0..255"),
    (TEL, np.zeros(6, np.float32), "labels must be integers"),
    (TRI, np.full((12, 5, 4), 2.0, np.float32), "floats in [0, 1]"),
    (TRI, np.zeros((12, 5, 4), np.int32), "unsigned bytes"),
    (TEI, np.zeros((6, 4, 4), np.uint8), "5x4 but test images are 4x4"),
])
def test_inconsistent_data(tmp_path, name, value, fragment):
    arrays = small_set()
    arrays[name] = value
    folder = write_set(tmp_path / "d", arrays)
    msg = expect_error(lambda: load_folder(folder), folder, fragment)
    if "x4 but" not in fragment:
        assert name in msg


def test_float_images_in_unit_range_are_accepted(tmp_path):
    arrays = small_set()
    arrays[TRI] = np.linspace(0, 1, 12 * 5 * 4, dtype=np.float32).reshape(12, 5, 4)
    arrays[TEI] = np.zeros((6, 5, 4), np.float64)
    ds = load_folder(write_set(tmp_path / "d", arrays))
    assert ds.train_images.dtype == ds.test_images.dtype == np.float32
    assert np.array_equal(ds.train_images, arrays[TRI])


def test_corrupted_file_in_folder_names_it(tmp_path):
    folder = write_set(tmp_path / "d", small_set(), gz=True)
    bad = folder / (TEI + ".gz")
    bad.write_bytes(bad.read_bytes()[:20])
    expect_error(lambda: load_mnist(folder, download=False), bad, "corrupted gzip")


def test_missing_files(tmp_path):
    arrays = small_set()
    folder = write_set(tmp_path / "d", {TRI: arrays[TRI], TEL: arrays[TEL]})
    msg = expect_error(lambda: load_mnist(folder, download=False), folder, "missing", TRL, TEI)
    assert TRI + "[.gz]" not in msg.split("(")[0]
    expect_error(lambda: load_mnist(tmp_path / "nowhere"), tmp_path / "nowhere", "no such folder", "--data-dir")
    (tmp_path / "file").write_text("x")
    expect_error(lambda: find_data_dir(tmp_path / "file"), tmp_path / "file", "no such folder")


def test_dcsim_data_errors(tmp_path, monkeypatch):
    monkeypatch.setenv("DCSIM_DATA", str(tmp_path / "absent"))
    expect_error(lambda: load_mnist(), tmp_path / "absent" / "mnist", "no such folder", "DCSIM_DATA")
    (tmp_path / "present" / "mnist").mkdir(parents=True)
    monkeypatch.setenv("DCSIM_DATA", str(tmp_path / "present"))
    expect_error(lambda: load_mnist(), tmp_path / "present" / "mnist", "missing", TRI)
    write_set(tmp_path / "present" / "mnist", small_set(), gz=True)
    ds = load_mnist(progress=False)
    assert ds.source == tmp_path / "present" / "mnist" and not ds.is_standard_mnist


def test_cache_folder_used_and_no_download_when_off(tmp_path, monkeypatch):
    monkeypatch.delenv("DCSIM_DATA", raising=False)
    monkeypatch.setenv("DCSIM_CACHE", str(tmp_path / "cache"))
    assert mnist.cache_dir() == tmp_path / "cache" / "mnist"
    assert find_data_dir() is None
    expect_error(lambda: load_mnist(download=False), tmp_path / "cache" / "mnist", "--data-dir", "DCSIM_DATA")
    assert not (tmp_path / "cache").exists()
    write_set(tmp_path / "cache" / "mnist", small_set())
    assert find_data_dir() == tmp_path / "cache" / "mnist"
    assert load_mnist(download=False).train_images.shape == (12, 5, 4)
    monkeypatch.delenv("DCSIM_CACHE")
    assert mnist.cache_dir() == Path.home() / ".cache" / "dcsim" / "mnist"


# -- downloading, without the network ----------------------------------------------------------------------


class _Response(io.BytesIO):
    def __init__(self, data: bytes, length: bool = True):
        super().__init__(data)
        self.headers = {"Content-Length": str(len(data))} if length else {}


def serve(monkeypatch, content):
    """Replace the URL opener: ``content(url)`` returns bytes or raises.  Returns the list of URLs asked for."""
    asked = []

    def opener(url, timeout):
        asked.append(url)
        assert timeout > 0
        return _Response(content(url), length=len(asked) % 2 == 1)
    monkeypatch.setattr(mnist, "_urlopen", opener)
    return asked


@pytest.fixture
def empty_cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.delenv("DCSIM_DATA", raising=False)
    monkeypatch.setenv("DCSIM_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "mnist"


def test_download_verifies_and_loads(mnist_path, empty_cache, monkeypatch):
    asked = serve(monkeypatch, lambda url: (mnist_path / url.rsplit("/", 1)[1]).read_bytes())
    ds = load_mnist(progress=False)
    assert asked == [MIRRORS[0] + n + ".gz" for n in MNIST_FILES]
    assert ds.source == empty_cache and ds.is_standard_mnist
    assert ds.train_images.shape == (60000, 28, 28)
    assert sorted(p.name for p in empty_cache.iterdir()) == sorted(n + ".gz" for n in MNIST_FILES)
    asked.clear()
    assert find_data_dir() == empty_cache and asked == []  # the cache is complete now


def test_download_falls_back_to_next_mirror_and_fetches_only_missing(mnist_path, empty_cache, monkeypatch, capsys):
    empty_cache.mkdir(parents=True)
    for n in (TRI, TRL):  # already cached
        (empty_cache / (n + ".gz")).write_bytes((mnist_path / (n + ".gz")).read_bytes())

    def content(url):
        if url.startswith(MIRRORS[0]):
            raise urllib.error.URLError("connection refused")
        return (mnist_path / url.rsplit("/", 1)[1]).read_bytes()
    asked = serve(monkeypatch, content)
    assert download_mnist(progress=True) == empty_cache
    assert asked == [m + n + ".gz" for n in (TEI, TEL) for m in MIRRORS]
    assert sorted(p.name for p in empty_cache.iterdir()) == sorted(n + ".gz" for n in MNIST_FILES)
    assert "t10k-labels-idx1-ubyte.gz" in capsys.readouterr().err  # the tqdm bar


@pytest.mark.parametrize("tamper", ["one_byte", "not_gzip", "network_down"])
def test_download_tampered_or_failed_leaves_nothing(mnist_path, empty_cache, monkeypatch, tamper):
    tampered = bytearray(gzip.decompress((mnist_path / (TRL + ".gz")).read_bytes()))
    tampered[100] ^= 1

    def content(url):
        if tamper == "one_byte":
            return gzip.compress(bytes(tampered))
        if tamper == "not_gzip":
            return b"\x1f\x8b<html>Access denied</html>"
        raise TimeoutError("timed out")
    asked = serve(monkeypatch, content)
    target = empty_cache / (TRI + ".gz")
    frag = {"one_byte": "SHA-256", "not_gzip": "corrupted gzip", "network_down": "timed out"}[tamper]
    msg = expect_error(lambda: load_mnist(progress=False), target, "download failed", frag, *MIRRORS)
    assert msg.startswith(str(target))
    assert asked == [m + TRI + ".gz" for m in MIRRORS]  # stops at the first file that cannot be had
    assert list(empty_cache.iterdir()) == []  # no partial or unverified file is kept
