"""Training and test data as the trainers and the evaluation take it.

- :class:`TrainData` / :func:`data_from_dataset`: the arrays the trainer and the flow use;
- :func:`train_data_from`: training data for retraining an imported model (``--train-data``);
- :func:`load_eval_data`: an evaluation set (labelled inputs) from an IDX folder (its test split)
  or from a ``.npz`` holding ``x`` and ``y``, checked, for measuring a network's accuracy.
"""
from __future__ import annotations

import hashlib
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["TrainData", "data_from_dataset", "load_eval_data", "train_data_from"]


@dataclass
class TrainData:
    """Training and test arrays (images float32 in [0, 1]) and a fingerprint of them."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    fingerprint: str  # identifies the data (the baseline cache keys on it)


def data_from_dataset(ds) -> TrainData:
    """A :class:`TrainData` of a loaded data set (network.mnist.Dataset)."""
    fp = hashlib.sha256()
    for a in (ds.train_labels, ds.test_labels):
        fp.update(np.ascontiguousarray(a).tobytes())
    fp.update(np.ascontiguousarray(ds.train_images[:: max(1, len(ds.train_images) // 64)]).tobytes())
    fp.update(str(ds.train_images.shape).encode())
    return TrainData(ds.train_images, ds.train_labels, ds.test_images, ds.test_labels, fp.hexdigest()[:16])


_EVAL_ALLOWED = ("an IDX folder (MNIST or Fashion-MNIST: its test split is used) or an .npz file holding "
                 "x (N, ...) numbers and y (N,) integer labels")


def _shape_text(shape) -> str:
    return "(" + ", ".join(str(int(d)) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def _fit_shape(x: np.ndarray, input_shape: tuple[int, ...], where: str) -> np.ndarray:
    """``x`` as ``(N, *input_shape)``; a 0 in ``input_shape`` is a size not known (a network known
    only by its weights, network.graph.weights_only_input_shape) and matches any size."""
    from .mnist import DataError

    want = tuple(int(d) for d in input_shape)
    per = x.shape[1:]
    if all(want):
        if math.prod(per) == math.prod(want):
            return x.reshape((len(x),) + want)
    else:
        def matches(have):
            return len(have) == len(want) and all(w == 0 or w == h for w, h in zip(want, have))
        if matches(per):
            return x
        if want[0] == 1 and matches((1,) + per):       # (N, H, W) images for a one-channel conv net
            return x[:, None]
    wanted = "(" + ", ".join(str(d) if d else "any" for d in want) + ("," if len(want) == 1 else "") + ")"
    raise DataError(f"{where}: samples of shape {_shape_text(per)} do not fit the network's input shape {wanted} "
                    f"(the sizes must match)")


def load_eval_data(path: str | os.PathLike, input_shape: tuple[int, ...] | None = None, *, split: str = "test"
                   ) -> tuple[np.ndarray, np.ndarray, str]:
    """An evaluation set: ``(x float32, y int64, description)``.

    ``path`` is either an IDX folder (the four files of MNIST or Fashion-MNIST, network/mnist.py;
    the **test** split is returned (``split="train"``: the train split), images scaled to [0, 1] as the
    loader does) or an ``.npz``
    file holding ``x`` (N samples of any shape, floats or integers, taken as they are: not scaled)
    and ``y`` (N integer labels >= 0). The ``.npz`` is read without unpickling
    (arch.fileio.load_arrays); other arrays in it are ignored.

    With ``input_shape``, ``x`` is reshaped to ``(N, *input_shape)`` when the per-sample sizes
    match (a 0 in ``input_shape`` matches any size). Every problem (missing file or key, labels
    that are not 1-D non-negative integers, a length mismatch, non-finite or empty ``x``, ``x``
    neither floats nor integers, a shape that does not fit) raises network.mnist.DataError with
    one line naming the file and what is allowed.
    """
    from arch.fileio import load_arrays

    from .mnist import DataError, load_folder

    p = Path(path).expanduser()
    if p.is_dir():
        ds = load_folder(p)
        x, y = (ds.test_images, ds.test_labels) if split == "test" else (ds.train_images, ds.train_labels)
        if len(x) == 0:
            raise DataError(f"{p}: the {split} split holds no images (a data set needs at least one)")
        kind = "standard MNIST" if ds.is_standard_mnist else "IDX data"
        desc = f"{len(x):,} {split} images {x.shape[1]}x{x.shape[2]} of {kind} in {p}"
    elif not p.exists():
        raise DataError(f"{p}: no such file or folder; give {_EVAL_ALLOWED}")
    else:
        arrays = load_arrays(p, "evaluation data", DataError)
        if not isinstance(arrays, dict):
            raise DataError(f"{p}: a .npy holds one array; give {_EVAL_ALLOWED}")
        missing = [k for k in ("x", "y") if k not in arrays]
        if missing:
            have = ", ".join(sorted(arrays)) or "no arrays"
            raise DataError(f"{p}: no array {' or '.join(missing)} (it holds {have}); give {_EVAL_ALLOWED}")
        x, y = arrays["x"], arrays["y"]
        if x.dtype.kind not in "fiu":
            raise DataError(f"{p}: x holds {x.dtype} data; x must hold floats or integers")
        if x.ndim < 2:
            raise DataError(f"{p}: x has shape {_shape_text(x.shape)}; x must be (N, ...) with one row per sample")
        if len(x) == 0 or x.size == 0:
            raise DataError(f"{p}: x has shape {_shape_text(x.shape)}, no data; an evaluation set needs at "
                            f"least one sample")
        if y.ndim != 1 or y.dtype.kind not in "iu":
            raise DataError(f"{p}: y has shape {_shape_text(y.shape)} of {y.dtype}; y must be 1-D integer "
                            f"class labels (N,)")
        if len(x) != len(y):
            raise DataError(f"{p}: x has {len(x)} samples but y has {len(y)} labels (the counts must match)")
        if y.dtype.kind == "i" and int(y.min()) < 0:
            raise DataError(f"{p}: y holds negative labels (min {int(y.min())}); labels are class indices >= 0")
        if x.dtype.kind == "f" and not np.all(np.isfinite(x)):
            raise DataError(f"{p}: x holds NaN or infinite values; x must be finite")
        if x.dtype.kind == "f" and x.dtype.itemsize > 4 and float(np.max(np.abs(x))) > float(np.finfo(np.float32).max):
            raise DataError(f"{p}: x holds values beyond the float32 range; x must be finite float32 numbers")
        desc = f"{len(x):,} samples of shape {_shape_text(x.shape[1:])} from {p}"
    x = np.asarray(x, dtype=np.float32)
    y = np.asarray(y, dtype=np.int64)
    if input_shape is not None:
        x = _fit_shape(x, tuple(input_shape), str(p))
    return np.ascontiguousarray(x), y, desc


def train_data_from(path: str | os.PathLike, input_shape: tuple[int, ...], eval_set=None) -> TrainData:
    """Training data (``--train-data``): an IDX folder's **train** split or an ``.npz`` with ``x``
    and ``y`` (checked as :func:`load_eval_data` does), shaped to ``input_shape``; the test arrays
    are ``eval_set``'s (x, y) when given, else empty."""
    x, y, desc = load_eval_data(path, input_shape, split="train")
    fp = hashlib.sha256(np.ascontiguousarray(y).tobytes())
    fp.update(np.ascontiguousarray(x[:: max(1, len(x) // 64)]).tobytes())
    xt = np.zeros((0,) + x.shape[1:], np.float32) if eval_set is None else eval_set.x
    yt = np.zeros(0, np.int64) if eval_set is None else eval_set.y
    return TrainData(x, y, xt, yt, fp.hexdigest()[:16])
