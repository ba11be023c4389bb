"""Conv layers on the generated Verilog: one output position of a conv layer is one
matrix-vector product (docs/models.md), so the RTL runs it as it runs an fc layer.

LeNet-5's conv2 (50 x 20*5*5 + bias) and the grouped, dilated conv of an imported ONNX model
(block-diagonal over its groups), each on the receptive field with the most nonzero inputs of
one image: outputs equal to the whole-network reference bit for bit, and total and per-PE busy
cycles equal to the engine's.
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
from arch.fixedpoint import quantize_codebook  # noqa: E402
from compress.config import CompressionConfig  # noqa: E402
from compress.pipeline import compress_network  # noqa: E402
from hw.cases import LayerCase  # noqa: E402
from network.models import build  # noqa: E402
from sim.engine import prepare_layer, run_layer  # noqa: E402
from sim.reference import machine_indices, reference_layer, reference_network  # noqa: E402

from .test_hw_cocotb import run_cocotb  # noqa: E402


def _conv_on_verilog(net, layer_name, x_image, accel, tmp_path):
    cm, _ = compress_network(net, CompressionConfig(density=0.3, conv_bits=4), AcceleratorConfig(),
                             progress=False, log=lambda m: None)
    k = [l.name for l in cm.layers].index(layer_name)
    layer = cm.layers[k]
    cfg = accel.for_layer(layer.bits)
    ref_net = reference_network(cm, x_image[None], accel)
    vectors = ref_net.layer_input(k)
    pick = int(np.argmax(np.count_nonzero(vectors, axis=1)))
    x = vectors[pick]
    fmt = ref_net.formats[k]
    cb = quantize_codebook(layer.centroids, fmt)
    case = LayerCase(cfg, np.asarray(machine_indices(layer)), cb, x, fmt, layer.spec.relu)
    ref = reference_layer(case.indices, cb, x, fmt, case.relu)
    assert np.array_equal(ref, ref_net.outputs[k][pick])       # the position's outputs in the whole network
    res = run_layer(prepare_layer(case.indices, cfg), cb, x, fmt, case.relu)
    assert np.array_equal(res.outputs, ref)
    run_cocotb(case, ref, res, tmp_path, readmemh=True)


def test_lenet5_conv2_position_on_verilog(tmp_path):
    img = np.random.default_rng(0).random((1, 28, 28)) * (np.random.default_rng(1).random((1, 28, 28)) < 0.3)
    accel = AcceleratorConfig(n_pe=4, act_regs_per_pe=16, fifo_depth=2, spmat_sram_bytes=8192)
    _conv_on_verilog(build("lenet-5", seed=2), "conv2", img, accel, tmp_path)


def test_imported_grouped_conv_position_on_verilog(tmp_path):
    pytest.importorskip("torch")
    from network.onnx_import import network_from_torch
    from tests.network.onnx_models import zoo_cnn

    net = network_from_torch(zoo_cnn(seed=1), (1, 16, 16))
    assert net.spec("grouped").groups == 4
    img = np.random.default_rng(4).random((1, 16, 16))
    accel = AcceleratorConfig(n_pe=4, act_regs_per_pe=8, fifo_depth=2, spmat_sram_bytes=4096)
    _conv_on_verilog(net, "grouped", img, accel, tmp_path)
