"""Train a small CNN on MNIST in PyTorch and export it to ONNX: the "model of your own" of docs/models.md.

Two padded 3x3 convolutions with ReLU and 2x2 max-pooling, a flatten and two FC layers (the
model a new user brings). Deterministic for a seed on one machine.

    .venv/bin/python examples/models/mnist_cnn.py --out runs/models/cnn.onnx

writes the ONNX model and prints its test accuracy. ``--eval-npz`` also writes the first
``--eval-count`` test images and labels as an ``.npz`` (x, y) for ``--eval-data``/``--inputs``,
``--train-npz`` the training images used, for ``--train-data``.
"""
from __future__ import annotations

import argparse
import io
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def build(channels: tuple[int, int] = (8, 16), hidden: int = 64):
    import torch.nn as nn

    c1, c2 = channels
    return nn.Sequential(
        nn.Conv2d(1, c1, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(c1, c2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(c2 * 7 * 7, hidden), nn.ReLU(), nn.Linear(hidden, 10))


def train(model, x: np.ndarray, y: np.ndarray, *, epochs: int = 1, lr: float = 0.05, batch: int = 64,
          seed: int = 0, progress: bool = False):
    """Plain SGD with momentum on (x, y); x is (N, 1, 28, 28) float32 in [0, 1]."""
    import torch

    torch.manual_seed(seed)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y.astype(np.int64))
    g = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(epochs):
        perm = torch.randperm(len(xt), generator=g)
        for i in range(0, len(xt), batch):
            idx = perm[i:i + batch]
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(xt[idx]), yt[idx])
            loss.backward()
            opt.step()
    model.eval()
    return model


def accuracy(model, x: np.ndarray, y: np.ndarray) -> float:
    import torch

    with torch.no_grad():
        pred = model(torch.from_numpy(x)).argmax(1).numpy()
    return float(100.0 * np.mean(pred == y))


def export(model, path: Path | None = None) -> bytes:
    """The ONNX bytes of ``model`` (input 1x28x28, static shapes); written to ``path`` if given."""
    import torch

    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.zeros(1, 1, 28, 28),), buf, dynamo=False, input_names=["input"],
                          output_names=["logits"])
    data = buf.getvalue()
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return data


def main(argv=None) -> int:
    import torch

    from network.mnist import load_mnist

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, type=Path, help="the .onnx file to write")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--train-count", type=int, default=60000, help="training images used (the first N)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--eval-npz", type=Path, help="also write test images and labels here (x, y)")
    ap.add_argument("--eval-count", type=int, default=10000)
    ap.add_argument("--train-npz", type=Path, help="also write the training images used and labels here (x, y)")
    ap.add_argument("--data-dir", help="MNIST IDX folder (default: $DCSIM_DATA/mnist)")
    a = ap.parse_args(argv)
    torch.set_num_threads(1)     # deterministic, and not slowed by other work on the cores
    ds = load_mnist(a.data_dir, progress=False)
    x = ds.train_images[:a.train_count, None].astype(np.float32)
    y = ds.train_labels[:a.train_count]
    torch.manual_seed(a.seed)
    model = build()
    t = time.time()
    train(model, x, y, epochs=a.epochs, seed=a.seed)
    xt, yt = ds.test_images[:, None].astype(np.float32), ds.test_labels
    print(f"trained {a.epochs} epochs on {len(x)} images in {time.time() - t:.1f} s; "
          f"test accuracy {accuracy(model, xt, yt):.2f}% on {len(xt)} images")
    export(model, a.out)
    print(f"wrote {a.out}")
    if a.train_npz:
        a.train_npz.parent.mkdir(parents=True, exist_ok=True)
        np.savez(a.train_npz, x=x, y=y.astype(np.int64))
        print(f"wrote {a.train_npz}")
    if a.eval_npz:
        a.eval_npz.parent.mkdir(parents=True, exist_ok=True)
        np.savez(a.eval_npz, x=xt[:a.eval_count], y=yt[:a.eval_count].astype(np.int64))
        print(f"wrote {a.eval_npz}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
