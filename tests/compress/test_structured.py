"""Structured pruning (compress/methods/structured.py): neuron / filter surgery, L1 filter pruning,
data-free neuron merging and the group-lasso penalty."""
from __future__ import annotations

import numpy as np
import pytest

from arch.errors import ModelError
from compress.methods.structured import (consumers, group_lasso_penalty, l1_filter_prune, l1_norms, merge_plan,
                                         neuron_merge, prune_neurons)
from network import models
from network.graph import INPUT, LayerKind, LayerSpec, Network, Node, init_params

RTOL, ATOL = 1e-4, 1e-5


def _x(net, n=4, seed=1):
    return np.random.default_rng(seed).normal(size=(n,) + tuple(net.input_shape)).astype(np.float32)


def _randomize_biases(net, seed=3):
    rng = np.random.default_rng(seed)
    for s in net.specs:
        net.params[s.name + "_bias"] = rng.normal(scale=0.1, size=s.n_out).astype(np.float32)
    return net


def _zero_outgoing(net, layer, keep):
    """The original network with the removed neurons' outgoing weights zeroed (what the pruned one must equal)."""
    z = net.copy()
    removed = np.setdiff1d(np.arange(net.spec(layer).n_out), keep)
    for c in consumers(net, layer):
        W = z.params[c.name]
        if net.spec(c.name).kind is LayerKind.CONV:
            W[:, removed] = 0
        else:
            W[:, (removed[:, None] * c.block + np.arange(c.block)).ravel()] = 0
    return z


def _one_line_error(fn, *words):
    with pytest.raises(ModelError) as e:
        fn()
    msg = str(e.value)
    assert "\n" not in msg, msg
    for w in words:
        assert w in msg, msg
    return msg


# ---------------------------------------------------------------- prune_neurons
def test_prune_fc_chain_equals_zeroed_original_and_shrinks():
    net = _randomize_biases(models.build("lenet-300-100", seed=0))
    keep = np.sort(np.random.default_rng(0).choice(300, 120, replace=False))
    new = prune_neurons(net, "fc1", keep)
    assert new.spec("fc1").shape == (120, 784) and new.spec("fc2").shape == (100, 120)
    assert new.n_weights == net.n_weights - 180 * 784 - 180 * 100
    np.testing.assert_array_equal(new.params["fc1"], net.params["fc1"][keep])
    np.testing.assert_array_equal(new.params["fc1_bias"], net.params["fc1_bias"][keep])
    x = _x(net)
    ref = _zero_outgoing(net, "fc1", keep).forward(x)
    np.testing.assert_allclose(new.forward(x), ref, rtol=RTOL, atol=ATOL)
    assert not np.allclose(net.forward(x), ref, rtol=RTOL, atol=ATOL)   # the zeroing matters: a real check
    assert net.spec("fc1").shape == (300, 784) and net.params["fc1"].shape == (300, 784)   # input untouched


def test_prune_conv_to_conv_and_conv_flatten_fc_on_lenet5():
    net = _randomize_biases(models.build("lenet-5", seed=0))
    x = _x(net, 3)
    keep1 = np.array([0, 3, 4, 7, 11, 19])
    new = prune_neurons(net, "conv1", keep1)                        # conv -> pool -> conv
    assert new.spec("conv1").shape == (6, 1, 5, 5) and new.spec("conv2").shape == (50, 6, 5, 5)
    np.testing.assert_allclose(new.forward(x), _zero_outgoing(net, "conv1", keep1).forward(x), rtol=RTOL, atol=ATOL)
    keep2 = np.arange(1, 50, 3)
    new2 = prune_neurons(net, "conv2", keep2)                       # conv -> pool -> (flatten) fc, 4x4 per channel
    assert new2.spec("conv2").shape == (len(keep2), 20, 5, 5) and new2.spec("fc1").shape == (500, 16 * len(keep2))
    assert consumers(net, "conv2")[0].block == 16
    ref = _zero_outgoing(net, "conv2", keep2).forward(x)
    np.testing.assert_allclose(new2.forward(x), ref, rtol=RTOL, atol=ATOL)
    assert new2.n_weights == net.n_weights - (50 - len(keep2)) * (20 * 25 + 500 * 16)
    assert new2.is_chain


def _conv_graph(seed=0):
    """input (2,8,8) -> conv c1 -> relu -> maxpool -> flatten -> fc1 -> relu -> fc2 (explicit host nodes)."""
    specs = [LayerSpec("c1", LayerKind.CONV, (4, 2, 3, 3), relu=False, padding=(1, 1, 1, 1)),
             LayerSpec("fc1", LayerKind.FC, (6, 4 * 4 * 4), relu=False),
             LayerSpec("fc2", LayerKind.FC, (3, 6), relu=False)]
    nodes = [Node("c1", "conv", (INPUT,)), Node("r1", "relu", ("c1",)),
             Node("p1", "maxpool", ("r1",), {"kernel": [2, 2], "stride": [2, 2], "pads": [0, 0, 0, 0]}),
             Node("f", "flatten", ("p1",)), Node("fc1", "fc", ("f",)), Node("r2", "relu", ("fc1",)),
             Node("fc2", "fc", ("r2",))]
    net = _randomize_biases(init_params(Network("g", (2, 8, 8), specs, nodes=nodes), seed))
    net.check()
    return net


def test_prune_in_a_graph_with_explicit_host_nodes():
    net = _conv_graph()
    x = _x(net)
    new = prune_neurons(net, "c1", np.array([1, 3]))
    new.check()
    assert new.spec("fc1").shape == (6, 32)
    np.testing.assert_allclose(new.forward(x), _zero_outgoing(net, "c1", [1, 3]).forward(x), rtol=RTOL, atol=ATOL)
    merged = neuron_merge(net, "fc1", 2)                        # relu as its own node
    assert merged.spec("fc1").n_out == 4 and merged.spec("fc2").shape == (3, 4)


def _residual_graph(seed=0):
    """fc1 -> relu -> fc2 -> add(fc2, input) -> fc3: fc2's output reaches a residual add."""
    specs = [LayerSpec("fc1", LayerKind.FC, (8, 6), relu=True), LayerSpec("fc2", LayerKind.FC, (6, 8), relu=False),
             LayerSpec("fc3", LayerKind.FC, (4, 6), relu=False)]
    nodes = [Node("fc1", "fc", (INPUT,)), Node("fc2", "fc", ("fc1",)), Node("res", "add", ("fc2", INPUT)),
             Node("fc3", "fc", ("res",))]
    net = init_params(Network("res", (6,), specs, nodes=nodes), seed)
    net.check()
    return net


def test_refusals_are_one_line_naming_the_layer():
    lenet = models.build("lenet-300-100", seed=0)
    _one_line_error(lambda: prune_neurons(lenet, "fc3", [0, 1]), "fc3", "output layer")
    _one_line_error(lambda: neuron_merge(lenet, "fc3", 1), "fc3", "output layer")
    res = _residual_graph()
    _one_line_error(lambda: prune_neurons(res, "fc2", [0, 1]), "fc2", "residual add", "not supported")
    new = prune_neurons(res, "fc1", [0, 2, 5])                  # fc1 -> fc2 directly: fine
    x = _x(res)
    np.testing.assert_allclose(new.forward(x), _zero_outgoing(res, "fc1", [0, 2, 5]).forward(x), rtol=RTOL, atol=ATOL)
    _one_line_error(lambda: prune_neurons(res, "nope", [0]), "nope")
    with pytest.raises(ValueError):
        prune_neurons(lenet, "fc1", [3, 1])                         # not sorted
    with pytest.raises(ValueError):
        prune_neurons(lenet, "fc1", [])


def test_imported_graphs_residual_grouped_and_pass_through():
    pytest.importorskip("torch")
    pytest.importorskip("onnx")
    import onnx

    from network.onnx_import import network_from_onnx_model
    from tests.network.onnx_models import export, zoo_cnn

    zoo = network_from_onnx_model(onnx.load_from_string(export(zoo_cnn(), (1, 16, 16))))
    _one_line_error(lambda: prune_neurons(zoo, "grouped", [0]), "grouped", "grouped convolution")
    _one_line_error(lambda: prune_neurons(zoo, "stem", [0, 1]), "stem", "not supported")
    _one_line_error(lambda: prune_neurons(zoo, "fc2", [0, 1]), "fc2", "output layer")
    # proj -> tanh -> global average pool -> flatten -> fc1: one column per channel
    keep = np.array([0, 2, 3, 7, 11])
    new = prune_neurons(zoo, "proj", keep)
    new.check()
    assert new.spec("fc1").shape == (24, 5)
    x = _x(zoo, 3)
    np.testing.assert_allclose(new.forward(x), _zero_outgoing(zoo, "proj", keep).forward(x), rtol=RTOL, atol=ATOL)


# -------------------------------------------------------------- l1_filter_prune
def test_l1_filter_prune_keeps_the_largest_l1_filters():
    net = models.build("lenet-5", seed=0)
    new = l1_filter_prune(net, {"conv1": 0.5, "conv2": 0.3, "fc1": 0.1})
    assert [s.n_out for s in new.specs] == [10, 15, 50, 10]
    assert new.spec("conv2").shape[1] == 10 and new.spec("fc1").shape[1] == 15 * 16
    top = np.sort(np.argsort(-l1_norms(net.params["conv1"]))[:10])
    np.testing.assert_array_equal(new.params["conv1"], net.params["conv1"][top])
    # greedy: conv2's norms are taken over the 10 channels still read
    w2 = net.params["conv2"][:, top]
    top2 = np.sort(np.argsort(-np.abs(w2).reshape(50, -1).sum(1))[:15])
    np.testing.assert_array_equal(new.params["conv2"], w2[top2])
    assert np.all(l1_norms(new.params["fc1"]).min() >= np.sort(
        l1_norms(net.params["fc1"][:, (top2[:, None] * 16 + np.arange(16)).ravel()]))[-50:].min() - 1e-9)
    tiny = l1_filter_prune(net, {"fc1": 0.0001})
    assert tiny.spec("fc1").n_out == 1                              # at least one
    with pytest.raises(ModelError):
        l1_filter_prune(net, {"fc9": 0.5})


def test_l1_filter_prune_on_a_planted_fc_layer():
    net = models.build("lenet-300-100", seed=0)
    big = np.array([5, 17, 42, 99])
    net.params["fc2"][big] *= 10.0
    new = l1_filter_prune(net, {"fc2": 0.04})
    np.testing.assert_array_equal(new.params["fc2"], net.params["fc2"][big])
    np.testing.assert_array_equal(new.params["fc3"], net.params["fc3"][:, big])


def test_greedy_and_independent_strategies_differ():
    net = models.build("lenet-300-100", seed=0)
    net.params["fc1"][:150] *= 10.0                 # fc1 keeps its first 150 neurons
    net.params["fc2"][7, :150] = 0.0                # fc2 row 7: all its weight on the removed inputs
    net.params["fc2"][7, 150:] *= 100.0
    cfg = {"fc1": 0.5, "fc2": 0.01}
    indep = l1_filter_prune(net, cfg, greedy=False)
    greedy = l1_filter_prune(net, cfg)
    assert indep.spec("fc2").shape == greedy.spec("fc2").shape == (1, 150)
    np.testing.assert_array_equal(indep.params["fc2"], net.params["fc2"][7:8, :150])   # original norms: row 7
    assert np.abs(greedy.params["fc2"]).sum() > 0                                       # greedy: not row 7


# ----------------------------------------------------------------- neuron_merge
def test_identical_neurons_merge_exactly():
    net = _randomize_biases(models.build("lenet-300-100", seed=0))
    net.params["fc2"][37] = net.params["fc2"][12]
    net.params["fc2_bias"][37] = net.params["fc2_bias"][12]
    new = neuron_merge(net, "fc2", 1)
    assert new.spec("fc2").shape == (99, 300) and new.spec("fc3").shape == (10, 99)
    np.testing.assert_allclose(new.params["fc3"][:, 12], net.params["fc3"][:, 12] + net.params["fc3"][:, 37],
                               rtol=1e-6)
    x = _x(net, 8)
    np.testing.assert_allclose(new.forward(x), net.forward(x), rtol=RTOL, atol=ATOL)


def test_different_biases_are_not_identical():
    net = _randomize_biases(models.build("lenet-300-100", seed=0))
    net.params["fc2"][37] = net.params["fc2"][12]                  # same weights, other biases
    x = _x(net, 8)
    assert not np.allclose(neuron_merge(net, "fc2", 1).forward(x), net.forward(x), rtol=RTOL, atol=ATOL)


def test_merge_plan_saliency_and_update():
    w = np.array([[0.0, 0.0], [1.0, 0.0], [1.1, 0.0], [5.0, 5.0]])
    a = np.array([[1.0, 2.0, 3.0, 1.0]])
    plan = merge_plan(w, a, 2)
    # s_{i,j} = <a_j^2> ||W_j - W_i||^2: removing 1 into 2 costs 4 x 0.01, removing 2 into 1 costs 9 x 0.01
    i, j, s = plan[0]
    assert (i, j) == (2, 1) and s == pytest.approx(0.04)
    # then a_2 = 5: removing 2 into 0 costs 25 x 1.21, removing 0 into 2 costs 1 x 1.21 (the smallest)
    i, j, s = plan[1]
    assert (i, j) == (2, 0) and s == pytest.approx(1.21)


def test_random_merge_reduces_the_count():
    net = models.build("lenet-300-100", seed=0)
    new = neuron_merge(net, "fc1", 0.25)
    assert new.spec("fc1").n_out == 225 and new.spec("fc2").shape == (100, 225)
    assert new.n_weights == net.n_weights - 75 * (784 + 100)
    assert net.spec("fc1").n_out == 300
    conv = models.build("lenet-5", seed=0)
    _one_line_error(lambda: neuron_merge(conv, "conv1", 1), "conv1", "fc layers")


# ------------------------------------------------------------------ group lasso
def test_group_lasso_penalty_by_hand():
    torch = pytest.importorskip("torch")
    w = torch.tensor([[3.0, 4.0], [0.0, 0.0], [0.0, 12.0]], requires_grad=True)   # (out 3, in 2)
    # filters: 5 + 0 + 12; channels: ||(3, 0, 0)|| + ||(4, 0, 12)|| = 3 + sqrt(160)
    c = torch.arange(2 * 3 * 2 * 2, dtype=torch.float32).reshape(2, 3, 2, 2)
    filt = float(torch.sqrt((c[0] ** 2).sum()) + torch.sqrt((c[1] ** 2).sum()))
    chan = sum(float(torch.sqrt((c[:, k] ** 2).sum())) for k in range(3))
    p = group_lasso_penalty({"fc": w, "conv": c})
    assert p.item() == pytest.approx(17.0 + 3.0 + np.sqrt(160.0) + filt + chan, rel=1e-6)
    p2 = group_lasso_penalty([w], filters=2.0, channels=0.0)
    assert p2.item() == pytest.approx(34.0)
    p2.backward()
    assert torch.isfinite(w.grad).all() and float(w.grad[1].abs().sum()) == 0.0   # zero group: zero gradient
    np.testing.assert_allclose(w.grad[0].numpy(), [2 * 0.6, 2 * 0.8], rtol=1e-6)
