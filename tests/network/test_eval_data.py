"""network/data.py load_eval_data: an evaluation set from an IDX folder (its test split) or an
.npz holding x and y, every malformed input refused with one line naming the file."""
from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from arch.errors import DcsimError
from network.data import load_eval_data
from network.mnist import MNIST_FILES, DataError

TRI, TRL, TEI, TEL = MNIST_FILES


def _write_idx(path: Path, a: np.ndarray) -> None:
    head = bytes([0, 0, 0x08, a.ndim]) + struct.pack(f">{a.ndim}I", *a.shape)
    path.write_bytes(head + a.astype(np.uint8).tobytes())


@pytest.fixture
def idx_folder(tmp_path) -> Path:
    rng = np.random.default_rng(0)
    folder = tmp_path / "idx"
    folder.mkdir()
    arrays = {TRI: rng.integers(0, 256, (8, 6, 5)), TRL: rng.integers(0, 10, 8),
              TEI: rng.integers(0, 256, (7, 6, 5)), TEL: rng.integers(0, 10, 7)}
    for name, a in arrays.items():
        _write_idx(folder / name, a)
    return folder


def _npz(tmp_path, name="eval.npz", **arrays) -> Path:
    p = tmp_path / name
    np.savez(p, **arrays)
    return p


def _error(path, *fragments, input_shape=None) -> str:
    with pytest.raises(DataError) as ei:
        load_eval_data(path, input_shape)
    msg = str(ei.value)
    assert "\n" not in msg and str(path) in msg, msg
    for f in fragments:
        assert f in msg, msg
    return msg


def test_an_idx_folder_gives_its_test_split(idx_folder):
    x, y, desc = load_eval_data(idx_folder)
    raw = np.frombuffer((idx_folder / TEI).read_bytes()[16:], dtype=np.uint8).reshape(7, 6, 5)
    labels = np.frombuffer((idx_folder / TEL).read_bytes()[8:], dtype=np.uint8)
    assert x.dtype == np.float32 and y.dtype == np.int64 and x.shape == (7, 6, 5)
    assert np.array_equal(x, raw.astype(np.float32) / np.float32(255)) and np.array_equal(y, labels)
    assert "7 test images 6x5" in desc and str(idx_folder) in desc


@pytest.mark.parametrize("shape, want", [((30,), (7, 30)), ((1, 6, 5), (7, 1, 6, 5)), ((6, 5), (7, 6, 5)),
                                         ((1, 0, 0), (7, 1, 6, 5)), ((0, 0), (7, 6, 5))])
def test_input_shape_reshapes_when_the_sizes_match(idx_folder, shape, want):
    x, _, _ = load_eval_data(idx_folder, shape)
    assert x.shape == want and x.flags.c_contiguous


@pytest.mark.parametrize("shape, text", [((784,), "(784,)"), ((1, 28, 28), "(1, 28, 28)"),
                                         ((3, 0, 0), "(3, any, any)"), ((10, 0), "(10, any)")])
def test_input_shape_that_does_not_fit_names_both_shapes(idx_folder, shape, text):
    _error(idx_folder, "samples of shape (6, 5)", f"input shape {text}", input_shape=shape)


def test_the_real_mnist_test_split(mnist_path):
    x, y, desc = load_eval_data(mnist_path, (784,))
    assert x.shape == (10000, 784) and y.shape == (10000,) and 0 <= x.min() and x.max() <= 1
    assert "10,000 test images 28x28 of standard MNIST" in desc


def test_an_npz_of_x_and_y(tmp_path):
    rng = np.random.default_rng(1)
    x = rng.random((9, 4, 3)).astype(np.float64)
    p = _npz(tmp_path, x=x, y=np.arange(9, dtype=np.uint8), extra=np.zeros(2))
    gx, gy, desc = load_eval_data(p)
    assert gx.dtype == np.float32 and gy.dtype == np.int64 and gx.shape == (9, 4, 3)
    assert np.array_equal(gx, x.astype(np.float32)) and np.array_equal(gy, np.arange(9))
    assert desc == f"9 samples of shape (4, 3) from {p}"
    assert load_eval_data(p, (12,))[0].shape == (9, 12)
    # integer inputs are taken as they are (not scaled)
    p = _npz(tmp_path, "ints.npz", x=np.full((2, 3), 200, dtype=np.uint8), y=np.array([0, 1]))
    assert np.array_equal(load_eval_data(p)[0], np.full((2, 3), 200, dtype=np.float32))


def test_bad_npz_files(tmp_path):
    ok_x, ok_y = np.zeros((3, 2), dtype=np.float32), np.array([0, 1, 2])
    _error(tmp_path / "none.npz", "no such file or folder", "an IDX folder", ".npz file holding x")
    _error(_npz(tmp_path, "nox.npz", y=ok_y), "no array x (it holds y)")
    _error(_npz(tmp_path, "noxy.npz", a=ok_y), "no array x or y (it holds a)")
    _error(_npz(tmp_path, "noy.npz", x=ok_x), "no array y")
    _error(_npz(tmp_path, "y2d.npz", x=ok_x, y=ok_y[:, None]), "y has shape (3, 1)", "1-D integer class labels")
    _error(_npz(tmp_path, "yfloat.npz", x=ok_x, y=ok_y.astype(np.float64)), "of float64", "1-D integer")
    _error(_npz(tmp_path, "ybool.npz", x=ok_x, y=ok_y > 0), "of bool", "1-D integer")
    _error(_npz(tmp_path, "yneg.npz", x=ok_x, y=np.array([0, -1, 2])), "negative labels")
    _error(_npz(tmp_path, "len.npz", x=ok_x, y=ok_y[:2]), "x has 3 samples but y has 2 labels")
    _error(_npz(tmp_path, "empty.npz", x=np.zeros((0, 2)), y=np.zeros(0, dtype=np.int64)), "no data")
    _error(_npz(tmp_path, "empty2.npz", x=np.zeros((3, 0)), y=ok_y), "no data")
    _error(_npz(tmp_path, "x1d.npz", x=np.zeros(3), y=ok_y), "x has shape (3,)", "one row per sample")
    _error(_npz(tmp_path, "xbool.npz", x=ok_x > 0, y=ok_y), "x holds bool data", "floats or integers")
    _error(_npz(tmp_path, "xcomplex.npz", x=ok_x.astype(np.complex64), y=ok_y), "complex64", "floats or integers")
    _error(_npz(tmp_path, "nan.npz", x=np.array([[0.0, np.nan]] * 3), y=ok_y), "NaN or infinite")
    _error(_npz(tmp_path, "inf.npz", x=np.array([[0.0, np.inf]] * 3), y=ok_y), "NaN or infinite")
    _error(_npz(tmp_path, "big.npz", x=np.array([[0.0, 1e300]] * 3), y=ok_y), "beyond the float32 range")
    _error(_npz(tmp_path, "shape.npz", x=ok_x, y=ok_y), "samples of shape (2,)", "input shape (3,)", input_shape=(3,))
    # pickled objects are refused, never loaded
    p = tmp_path / "obj.npz"
    np.savez(p, x=np.array([object(), 1], dtype=object), y=ok_y[:2])
    _error(p, "pickled")
    # not an .npz at all; a .npy of one array
    (tmp_path / "junk.npz").write_bytes(b"not a zip file")
    _error(tmp_path / "junk.npz", "not a readable .npy/.npz")
    np.save(tmp_path / "one.npy", ok_x)
    _error(tmp_path / "one.npy", "a .npy holds one array", ".npz file holding x")


def test_a_bad_idx_folder_is_the_loaders_error(tmp_path, idx_folder):
    (idx_folder / TEL).unlink()
    _error(idx_folder, "missing t10k-labels-idx1-ubyte")
    assert issubclass(DataError, DcsimError)
