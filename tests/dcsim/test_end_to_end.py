"""End to end in seconds: `dcsim compress --model lenet-300-100` on a small IDX subset of MNIST.

The subset (3000 training and 1000 test images) is written as IDX files into a
temporary folder and passed with --data-dir, so this also covers the path for
IDX data sets other than the standard MNIST files.
"""
import gzip
import json
import struct
from pathlib import Path

import numpy as np
import pytest

from network.mnist import read_idx
from compress.model import load
from dcsim.cli import main

ROOT = Path(__file__).resolve().parents[2]

TINY = """
[compress]
prune_method = "density"
prune_iterations = 1
retrain_epochs = 1
finetune_epochs = 1
baseline_epochs = 2
fc_bits = 5
retrain_lr_scale = 1.0
[compress.layer_density]
fc1 = 0.1
fc2 = 0.1
fc3 = 0.3
[accel]
n_pe = 8
"""


def _write_idx(path: Path, arr: np.ndarray, gz: bool) -> None:
    head = struct.pack(">BBBB", 0, 0, 0x08, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape)
    data = head + np.ascontiguousarray(arr, dtype=np.uint8).tobytes()
    if gz:
        data = gzip.compress(data, compresslevel=1)
    path.write_bytes(data)


def _find(d: Path, stem: str) -> Path:
    for name in (stem, stem + ".gz"):
        if (d / name).exists():
            return d / name
    pytest.skip(f"{stem} not in {d}")


@pytest.fixture(scope="module")
def small_mnist(tmp_path_factory, mnist_path):
    d = tmp_path_factory.mktemp("mnist-small")
    for split, n in (("train", 3000), ("t10k", 1000)):
        imgs = read_idx(_find(mnist_path, f"{split}-images-idx3-ubyte"))[:n]
        labs = read_idx(_find(mnist_path, f"{split}-labels-idx1-ubyte"))[:n]
        _write_idx(d / f"{split}-images-idx3-ubyte", imgs, gz=False)
        _write_idx(d / f"{split}-labels-idx1-ubyte.gz", labs, gz=True)
    return d


def test_compress_lenet_300_100_small(tmp_path, small_mnist, capsys):
    cfg = tmp_path / "tiny.toml"
    cfg.write_text(TINY)
    out = tmp_path / "out"
    rc = main(["compress", "--model", "lenet-300-100", "--data-dir", str(small_mnist), "--config", str(cfg),
               "--out", str(out), "--quiet"])
    assert rc == 0
    doc = json.loads((out / "compression.json").read_text())
    tot = doc["total"]
    # a 2-epoch model on 3000 images is far from the paper's, but it must have learned
    assert tot["baseline_test_error_pct"] < 20.0
    assert tot["test_error_pct"] < 25.0
    assert tot["n_test_images"] == 1000
    # rates are ordered: pruning, then quantization, then Huffman each shrink the model
    assert 1.0 < tot["compression_rate_p"] < tot["compression_rate_pq"] < tot["compression_rate"]
    assert doc["accelerator_config"]["n_pe"] == 8 and doc["compression_config"]["fc_bits"] == 5
    # kept weights follow the per-layer densities (bias column included in the count)
    for row in doc["layers"]:
        want = {"fc1": 0.1, "fc2": 0.1, "fc3": 0.3}[row["layer"]]
        assert abs(row["weights_kept_pct"] / 100 - want) < 0.02, row
    cm = load(out / "model.dcz")
    assert [l.bits for l in cm.layers] == [5, 5, 5]
    assert cm.meta["standard_mnist"] is False
    for l in cm.layers:
        assert l.centroids[0] == 0.0
        assert np.count_nonzero(l.indices) == l.form.n_entries - int(np.sum(l.form.v == 0))
    text = capsys.readouterr().out
    assert "fc1" in text and "rate P+Q+H (x)" in text
