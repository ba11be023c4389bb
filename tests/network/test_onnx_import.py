"""The ONNX importer against onnxruntime (the golden reference), its errors, and archives that keep the graph."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("onnxruntime")

from arch.errors import ModelError  # noqa: E402
from network.onnx_import import network_from_onnx, network_from_onnx_model, network_from_torch  # noqa: E402

from .onnx_models import (export, mlp_block, onnxruntime_forward, small_cnn, transformer_block,  # noqa: E402
                          zoo_cnn)


def _load(data: bytes, shape=None):
    import onnx

    return network_from_onnx_model(onnx.load_from_string(data), shape)


@pytest.mark.parametrize("build, shape", [(small_cnn, (1, 28, 28)), (zoo_cnn, (1, 16, 16)),
                                          (mlp_block, (4, 16)), (transformer_block, (6, 16))],
                         ids=["small-cnn", "zoo-cnn", "mlp-block", "transformer-block"])
def test_float_forward_equals_onnxruntime(build, shape):
    data = export(build(), shape)
    net = _load(data)
    x = np.random.default_rng(1).normal(size=(5,) + shape).astype(np.float32)
    ref = onnxruntime_forward(data, x)
    got = net.forward(x)
    assert got.shape == ref.shape
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-5)


def test_structure_of_the_zoo_model():
    net = _load(export(zoo_cnn(), (1, 16, 16)))
    ops = [n.op for n in net.graph]
    # BatchNorm folded into stem and fc1; the stem's ReLU fused into its write-back
    assert [s.name for s in net.specs] == ["stem", "grouped", "down", "proj", "fc1", "fc2"]
    stem, grouped, down = net.specs[:3]
    assert stem.relu and stem.padding == (1, 1, 1, 1)
    assert grouped.groups == 4 and grouped.dilation == (2, 2) and grouped.padding == (2, 2, 2, 2)
    assert down.stride == (2, 2)
    for op in ("add", "sigmoid", "maxpool", "avgpool", "clip", "tanh", "globalavgpool", "gelu", "logsoftmax"):
        assert op in ops, op
    assert "relu" not in ops


def test_transformer_fc_layers_run_per_token():
    net = _load(export(transformer_block(), (6, 16)))
    assert [s.name for s in net.specs] == ["q", "k", "v", "o", "ff1", "ff2"]
    fc = {n.name: n for n in net.graph if n.op == "fc"}
    assert all(n.attrs.get("per_position") for n in fc.values())
    assert {"matmul", "transpose", "softmax", "mul", "gelu", "add"} <= {n.op for n in net.graph}


def test_torch_module_goes_the_same_way():
    import torch

    m = zoo_cnn(seed=3)
    net = network_from_torch(m, (1, 16, 16))
    x = np.random.default_rng(2).random((4, 1, 16, 16)).astype(np.float32)
    with torch.no_grad():
        ref = m(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(net.forward(x), ref, rtol=1e-4, atol=1e-5)


def test_unsupported_node_is_one_line_naming_it(tmp_path):
    import torch
    import torch.nn as nn

    class Norm(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(8, 8)
            self.ln = nn.LayerNorm(8)

        def forward(self, x):
            return self.ln(self.fc(x))

    p = tmp_path / "ln.onnx"
    p.write_bytes(export(Norm(), (8,)))
    with pytest.raises(ModelError) as e:
        network_from_onnx(p)
    msg = str(e.value)
    assert "\n" not in msg and str(p) in msg and "LayerNormalization" in msg and "supported op types: Conv" in msg
    del torch


def test_bad_files_are_one_line(tmp_path):
    data = export(small_cnn(), (1, 28, 28))
    trunc = tmp_path / "trunc.onnx"
    trunc.write_bytes(data[: len(data) // 3])
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"this is not a model" * 10)
    for p in (trunc, junk, tmp_path / "missing.onnx"):
        with pytest.raises(ModelError) as e:
            network_from_onnx(p)
        assert str(p) in str(e.value) and "\n" not in str(e.value)


def test_input_shape_is_asked_for_when_the_model_does_not_fix_it():
    import onnx

    m = onnx.load_from_string(export(small_cnn(), (1, 28, 28)))
    for d in m.graph.input[0].type.tensor_type.shape.dim[1:]:
        d.dim_param = "n"
    with pytest.raises(ModelError, match="give --input-shape"):
        network_from_onnx_model(m)
    net = network_from_onnx_model(m, (1, 28, 28))
    assert net.input_shape == (1, 28, 28)
    with pytest.raises(ModelError, match="does not match"):
        network_from_onnx_model(onnx.load_from_string(export(small_cnn(), (1, 28, 28))), (1, 20, 20))


def test_archive_keeps_the_graph(tmp_path):
    from arch.config import AcceleratorConfig
    from compress.config import CompressionConfig
    from compress.model import load, save
    from compress.pipeline import compress_network

    net = _load(export(zoo_cnn(), (1, 16, 16)))
    cm, _ = compress_network(net.copy(), CompressionConfig(density=0.5, conv_bits=6), AcceleratorConfig(),
                             progress=False, log=lambda m: None)
    save(cm, tmp_path / "m.dcz")
    back = load(tmp_path / "m.dcz")
    assert back == cm and back.nodes == net.graph
    x = np.random.default_rng(0).random((3, 1, 16, 16)).astype(np.float32)
    np.testing.assert_array_equal(back.to_network().forward(x), cm.to_network().forward(x))
