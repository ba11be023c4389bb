"""Low-rank factorization of fc layers (compress/methods/lowrank.py)."""
from __future__ import annotations

import numpy as np
import pytest

from arch.errors import ModelError
from compress.methods.lowrank import factorize_fc, rank_for_energy, svd_factors
from network import models
from network.graph import INPUT, LayerKind, LayerSpec, Network, Node, init_params
from tests.compress.test_structured import ATOL, RTOL, _x
from tests.compress.test_structured import _randomize_biases as _with_biases


def test_full_rank_chain_reproduces_the_forward_pass():
    net = _with_biases(models.build("lenet-300-100", seed=0))
    new = factorize_fc(net, "fc2", 100)
    assert [s.name for s in new.specs] == ["fc1", "fc2_a", "fc2_b", "fc3"]
    a, b = new.spec("fc2_a"), new.spec("fc2_b")
    assert a.shape == (100, 300) and not a.relu and b.shape == (100, 100) and b.relu
    assert not new.params["fc2_a_bias"].any()
    np.testing.assert_array_equal(new.params["fc2_b_bias"], net.params["fc2_bias"])
    assert "fc2" not in new.params and new.is_chain
    x = _x(net, 8)
    np.testing.assert_allclose(new.forward(x), net.forward(x), rtol=RTOL, atol=ATOL)
    assert [s.name for s in net.specs] == ["fc1", "fc2", "fc3"] and "fc2" in net.params   # input untouched


def test_lower_rank_error_is_the_discarded_energy():
    net = models.build("lenet-5", seed=0)
    W = net.params["fc1"].astype(np.float64)
    s = np.linalg.svd(W, compute_uv=False)
    for r in (1, 20, 250):
        new = factorize_fc(net, "fc1", r)
        approx = new.params["fc1_b"].astype(np.float64) @ new.params["fc1_a"].astype(np.float64)
        err = np.sum((W - approx) ** 2)
        assert err == pytest.approx(np.sum(s[r:] ** 2), rel=1e-4)
        assert new.n_weights == net.n_weights - 500 * 800 + r * (800 + 500)
    # the network still runs, and differs from the original below full rank
    x = _x(net, 2)
    low = factorize_fc(net, "fc1", 5)
    assert low.forward(x).shape == (2, 10) and not np.allclose(low.forward(x), net.forward(x), rtol=RTOL, atol=ATOL)


def test_svd_factors_balance_the_singular_values():
    W = np.random.default_rng(0).normal(size=(7, 5))
    A, B = svd_factors(W, 5)
    np.testing.assert_allclose(B @ A, W, atol=1e-10)
    s = np.linalg.svd(W, compute_uv=False)
    np.testing.assert_allclose(np.linalg.norm(A, axis=1), np.sqrt(s), rtol=1e-10)   # rows of S^1/2 V^T
    np.testing.assert_allclose(np.linalg.norm(B, axis=0), np.sqrt(s), rtol=1e-10)   # columns of U S^1/2


def test_rank_for_energy():
    rng = np.random.default_rng(0)
    U, _ = np.linalg.qr(rng.normal(size=(6, 6)))
    V, _ = np.linalg.qr(rng.normal(size=(4, 4)))
    W = U[:, :4] @ np.diag([3.0, 2.0, 1.0, 0.0]) @ V.T           # squared singular values 9, 4, 1, 0 of 14
    assert rank_for_energy(W, 0.5) == 1
    assert rank_for_energy(W, 9 / 14) == 1
    assert rank_for_energy(W, 0.65) == 2
    assert rank_for_energy(W, 13 / 14) == 2
    assert rank_for_energy(W, 0.95) == 3
    assert rank_for_energy(W, 1.0) == 3
    assert rank_for_energy(np.zeros((3, 3)), 0.9) == 1
    with pytest.raises(ValueError):
        rank_for_energy(W, 0.0)


def _residual_graph(seed=0):
    specs = [LayerSpec("fc1", LayerKind.FC, (8, 6), relu=True), LayerSpec("fc2", LayerKind.FC, (6, 8), relu=False),
             LayerSpec("fc3", LayerKind.FC, (4, 6), relu=False)]
    nodes = [Node("fc1", "fc", (INPUT,)), Node("fc2", "fc", ("fc1",)), Node("res", "add", ("fc2", INPUT)),
             Node("fc3", "fc", ("res",))]
    net = _with_biases(init_params(Network("res", (6,), specs, nodes=nodes), seed))
    net.check()
    return net


def test_graph_network_keeps_a_valid_graph():
    net = _residual_graph()
    new = factorize_fc(net, "fc2", 6)
    new.check()
    assert [n.name for n in new.graph] == ["fc1", "fc2_a", "fc2_b", "res", "fc3"]
    assert new.graph[3].inputs == ("fc2_b", INPUT) and new.graph[2].inputs == ("fc2_a",)
    x = _x(net, 5)
    np.testing.assert_allclose(new.forward(x), net.forward(x), rtol=RTOL, atol=ATOL)
    last = factorize_fc(net, "fc3", 4)                       # the output layer too
    last.check()
    np.testing.assert_allclose(last.forward(x), net.forward(x), rtol=RTOL, atol=ATOL)
    assert [n.name for n in net.graph] == ["fc1", "fc2", "res", "fc3"]      # input untouched


def test_imported_per_position_graph():
    pytest.importorskip("torch")
    pytest.importorskip("onnx")
    import onnx

    from network.onnx_import import network_from_onnx_model
    from tests.network.onnx_models import export, mlp_block

    net = network_from_onnx_model(onnx.load_from_string(export(mlp_block(), (4, 16))))
    new = factorize_fc(net, "fc1", 16)
    new.check()
    fc = {n.name: n for n in new.graph if n.op == "fc"}
    assert fc["fc1_a"].attrs.get("per_position") and fc["fc1_b"].attrs.get("per_position")
    x = _x(net, 3)
    np.testing.assert_allclose(new.forward(x), net.forward(x), rtol=RTOL, atol=ATOL)


def test_refusals():
    lenet5 = models.build("lenet-5", seed=0)
    with pytest.raises(ModelError, match="conv1.*conv layer"):
        factorize_fc(lenet5, "conv1", 2)
    with pytest.raises(ValueError):
        factorize_fc(lenet5, "fc2", 11)
    with pytest.raises(ValueError):
        factorize_fc(lenet5, "fc2", 0)
    with pytest.raises(ModelError, match="nope"):
        factorize_fc(lenet5, "nope", 2)
    twice = factorize_fc(factorize_fc(lenet5, "fc1", 10), "fc1_b", 5)
    assert [s.name for s in twice.specs] == ["conv1", "conv2", "fc1_a", "fc1_b_a", "fc1_b_b", "fc2"]
    clash = lenet5.copy()
    clash.specs = [s if s.name != "fc2" else LayerSpec("fc1_a", LayerKind.FC, s.shape, relu=False)
                   for s in lenet5.specs]
    clash.params["fc1_a"] = clash.params.pop("fc2")
    clash.params["fc1_a_bias"] = clash.params.pop("fc2_bias")
    with pytest.raises(ModelError, match="fc1_a.*already used"):
        factorize_fc(clash, "fc1", 10)
