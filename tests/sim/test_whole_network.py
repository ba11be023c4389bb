"""Whole networks on the accelerator: conv layers as one product per output position, the operations
between layers on the host, bit for bit against the fixed-point reference of the whole network."""
from __future__ import annotations

import numpy as np
import pytest

from arch.config import AcceleratorConfig
from compress.config import CompressionConfig
from compress.pipeline import compress_network
from network.models import build
from sim.network import simulate_model
from sim.reference import reference_network


def _compress(net, **kw):
    cfg = CompressionConfig(**{"density": 0.3, "conv_bits": 6, **kw})
    cm, _ = compress_network(net.copy(), cfg, AcceleratorConfig(), progress=False, log=lambda m: None)
    return cm


def _check(run, cm, x):
    n = len(x)
    assert run.verified and run.inputs == n
    for sl in run.layers:
        sl.result.check_invariants()
        assert sl.inferences == n and sl.result.runs == n * sl.vectors
    assert np.array_equal(run.predictions, reference_network(cm, x).predictions)


def test_lenet5_runs_with_its_conv_layers():
    cm = _compress(build("lenet-5", seed=1))
    x = np.random.default_rng(0).random((6, 1, 28, 28))
    run = simulate_model(cm, x, AcceleratorConfig(n_pe=16), verify=True, progress=False)
    _check(run, cm, x)
    assert [sl.vectors for sl in run.layers] == [24 * 24, 8 * 8, 1, 1]
    assert [h["op"] for h in run.meta["host_ops"]] == ["maxpool", "maxpool"]
    assert run.meta["host_ops"][0]["ops_per_input"] == 20 * 12 * 12 * 4
    conv_cycles = sum(sl.result.cycles for sl in run.layers[:2])
    assert conv_cycles > sum(sl.result.cycles for sl in run.layers[2:])   # the conv layers do most of the work


@pytest.mark.parametrize("n_pe, fifo", [(4, 1), (8, 2), (64, 8)])
def test_imported_graph_runs_bit_exact(n_pe, fifo):
    pytest.importorskip("torch")
    from network.onnx_import import network_from_torch
    from tests.network.onnx_models import zoo_cnn

    net = network_from_torch(zoo_cnn(seed=2), (1, 16, 16))
    cm = _compress(net, density=0.5)
    x = np.random.default_rng(n_pe).random((4, 1, 16, 16))
    run = simulate_model(cm, x, AcceleratorConfig(n_pe=n_pe, fifo_depth=fifo), verify=True, progress=False)
    _check(run, cm, x)
    vec = {sl.name: sl.vectors for sl in run.layers}
    assert vec == {"stem": 256, "grouped": 256, "down": 16, "proj": 16, "fc1": 1, "fc2": 1}
    ops = {h["op"] for h in run.meta["host_ops"]}
    assert {"add", "sigmoid", "maxpool", "avgpool", "clip", "tanh", "globalavgpool", "gelu", "logsoftmax"} <= ops


def test_transformer_fc_layers_run_per_token_with_signed_inputs():
    pytest.importorskip("torch")
    from network.onnx_import import network_from_torch
    from tests.network.onnx_models import transformer_block

    net = network_from_torch(transformer_block(d=16, tokens=6), (6, 16))
    cm = _compress(net, density=0.5)
    x = np.random.default_rng(0).normal(size=(3, 6, 16))        # signed, dense activations
    run = simulate_model(cm, x, AcceleratorConfig(n_pe=8), verify=True, progress=False)
    _check(run, cm, x)
    assert all(sl.vectors == 6 for sl in run.layers)             # one product per token
    assert {"matmul", "softmax", "transpose", "mul"} <= {h["op"] for h in run.meta["host_ops"]}


def test_a_mismatch_is_caught(monkeypatch):
    """--verify compares every layer: a one-LSB error in the engine's conv outputs is reported."""
    from arch.machine import get_machine

    cm = _compress(build("lenet-5", seed=1))
    eie = get_machine(AcceleratorConfig())
    real = type(eie).run_batch

    def off_by_one(self, prep, cb, X, fmt, relu):
        r = real(self, prep, cb, X, fmt, relu)
        if prep.n_rows == 20:
            r.outputs = r.outputs.copy()
            r.outputs[0, 0] += 1
        return r

    monkeypatch.setattr(type(eie), "run_batch", off_by_one)
    from sim.results import SimulationMismatch

    with pytest.raises(SimulationMismatch, match="layer conv1"):
        simulate_model(cm, np.random.default_rng(0).random((2, 1, 28, 28)), AcceleratorConfig(), verify=True,
                       progress=False)
