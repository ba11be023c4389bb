"""Real layers on the generated Verilog: fc2 (100 x 300 + bias) of compressed LeNet-300-100s.

``test_trained_lenet_fc2_on_verilog`` takes fc2 of a LeNet-300-100 trained, pruned and quantized
by ``dcsim compress --model lenet-300-100`` on 3000 MNIST images (the tiny recipe of the
end-to-end test). ``test_lenet_fc2_on_verilog`` below uses random weights of the same shapes:

The model is compressed by ``dcsim compress --weights`` from random weights shaped like
LeNet-300-100 (fc1 300x784, fc2 100x300, fc3 10x100, with biases; density 0.1, 4-bit codebooks),
fed one MNIST test image (the ``mnist_path`` fixture; a random image when MNIST is not
available), and fc2 with its bias column runs on 4 PEs with ``act_regs_per_pe = 8``: 4 output
passes x 10 input batches = 40 tiles. Outputs must equal sim.reference bit for bit, the total
cycles and every PE's busy cycles sim.engine.run_layer's exactly. ``DCSIM_WAVES=1`` writes an FST
(see tests/hw/test_hw_cocotb.py).
"""
from __future__ import annotations

import shutil

import numpy as np
import pytest

pytest.importorskip("amaranth")
pytest.importorskip("cocotb")
if shutil.which("iverilog") is None:
    pytest.skip("iverilog not installed (make test installs it)", allow_module_level=True)

from arch.config import AcceleratorConfig  # noqa: E402
from arch.fixedpoint import one, quantize_codebook  # noqa: E402
from dcsim.cli import main  # noqa: E402
from hw.cases import LayerCase  # noqa: E402
from sim.engine import prepare_layer, run_layer  # noqa: E402
from sim.reference import reference_layer, reference_network  # noqa: E402

from .test_hw_cocotb import run_cocotb  # noqa: E402


def _lenet_archive(tmp_path):
    rng = np.random.default_rng(7)
    w = tmp_path / "w.npz"
    shapes = {"fc1": (300, 784), "fc2": (100, 300), "fc3": (10, 100)}
    arrays = {}
    for name, (o, i) in shapes.items():
        arrays[name] = rng.normal(0, 1.0 / np.sqrt(i), size=(o, i)).astype(np.float32)
        arrays[f"{name}_bias"] = rng.normal(0, 0.05, size=o).astype(np.float32)
    np.savez(w, **arrays)
    cfg = tmp_path / "c.toml"
    cfg.write_text("[compress]\ndensity = 0.1\nfc_bits = 4\n")
    out = tmp_path / "c"
    assert main(["compress", "--weights", str(w), "--config", str(cfg), "--out", str(out), "--quiet"]) == 0
    return out / "model.dcz"


def _image(request):
    try:
        d = request.getfixturevalue("mnist_path")
    except pytest.skip.Exception:                # no MNIST: a random image
        d = None
    if d is not None:
        from network.mnist import load_folder
        return load_folder(d).test_images[0].reshape(-1).astype(np.float64), "MNIST test image 0"
    rng = np.random.default_rng(3)
    return rng.random(784) * (rng.random(784) < 0.2), "random image"


def _fc2_on_verilog(cm, img, accel, tmp_path, label: str):
    """fc2 of ``cm`` on input image ``img`` (its fc1 output from the reference) on machine ``accel``:
    several passes and batches; engine == reference, then the `$readmemh` Verilog == both."""
    names = [l.name for l in cm.layers]
    k = names.index("fc2")
    layer = cm.layers[k]
    cfg = accel.for_layer(layer.bits)
    ref_net = reference_network(cm, img[None, :], accel)
    fmt = ref_net.formats[k]
    x = np.concatenate([ref_net.outputs[k - 1][0], [one(fmt)]]).astype(np.int64)
    cb = quantize_codebook(layer.centroids, fmt)
    case = LayerCase(cfg, np.asarray(layer.indices), cb, x, fmt, layer.spec.relu)
    prep = prepare_layer(case.indices, cfg)
    assert case.indices.shape == (100, 301)
    assert prep.n_passes > 1 and prep.n_batches > 1
    ref = reference_layer(case.indices, cb, x, fmt, case.relu)
    assert np.array_equal(ref, ref_net.outputs[k][0])
    res = run_layer(prep, cb, x, fmt, case.relu)
    assert np.array_equal(res.outputs, ref)
    print(f"{label}: {layer.bits}-bit codebook, {prep.n_passes} passes x {prep.n_batches} batches, "
          f"{res.cycles} cycles, busy {res.busy.tolist()}, nonzero inputs {int(np.count_nonzero(x))}")
    run_cocotb(case, ref, res, tmp_path, readmemh=True)


def test_lenet_fc2_on_verilog(tmp_path, request):
    from compress.model import load

    cm = load(_lenet_archive(tmp_path))
    img, desc = _image(request)
    accel = AcceleratorConfig(n_pe=4, act_regs_per_pe=8, fifo_depth=4, spmat_sram_bytes=8192)
    _fc2_on_verilog(cm, img, accel, tmp_path, f"fc2 ({desc})")

def test_trained_lenet_fc2_on_verilog(tmp_path, mnist_path):
    """fc2 of a LeNet-300-100 trained by `dcsim compress --model lenet-300-100` (the tiny recipe of
    tests/test_end_to_end.py: 3000 MNIST images, 2 baseline epochs, pruned to 10%, 5-bit codebooks),
    on MNIST test image 0: the real pipeline's archive on the Verilog."""
    from network.mnist import read_idx
    from compress.model import load
    from tests.dcsim.test_end_to_end import TINY, _find, _write_idx

    d = tmp_path / "mnist-small"
    d.mkdir()
    for split, n in (("train", 3000), ("t10k", 200)):
        _write_idx(d / f"{split}-images-idx3-ubyte", read_idx(_find(mnist_path, f"{split}-images-idx3-ubyte"))[:n],
                   gz=False)
        _write_idx(d / f"{split}-labels-idx1-ubyte", read_idx(_find(mnist_path, f"{split}-labels-idx1-ubyte"))[:n],
                   gz=False)
    cfg_file = tmp_path / "tiny.toml"
    cfg_file.write_text(TINY)
    out = tmp_path / "trained"
    assert main(["compress", "--model", "lenet-300-100", "--data-dir", str(d), "--config", str(cfg_file),
                 "--out", str(out), "--quiet"]) == 0
    cm = load(out / "model.dcz")
    img = read_idx(_find(mnist_path, "t10k-images-idx3-ubyte"))[0].reshape(-1) / 255.0
    accel = AcceleratorConfig(n_pe=4, act_regs_per_pe=16, fifo_depth=2, spmat_sram_bytes=8192)
    _fc2_on_verilog(cm, img, accel, tmp_path, "trained fc2")
