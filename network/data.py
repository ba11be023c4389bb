"""Training and test data as the trainers and the evaluation take it."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

__all__ = ["TrainData", "data_from_dataset"]


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
