"""network/torch_train.py: the torch module computes Network.forward for chains and imported
graphs, and train_torch trains graph networks with the numpy trainer's semantics (masked
retraining, centroid fine-tuning, determinism); train() dispatches chains to numpy, graphs to torch."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")
nn = torch.nn
F = torch.nn.functional

from network import models, torch_train  # noqa: E402
from network.graph import FLOAT, LayerKind, LayerSpec, Network, Node, augmented, init_params  # noqa: E402
from network.mnist import load_mnist  # noqa: E402
from network.onnx_import import network_from_torch  # noqa: E402
from network.torch_train import to_torch, train_torch  # noqa: E402
from network.train import QuantState, check_masks_hold, train  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
OPT = dict(lr=0.05, momentum=0.9, weight_decay=1e-4, batch_size=32, progress=False)


@pytest.fixture(autouse=True)
def _one_thread():
    """Single-threaded torch: fast and reproducible on a busy machine (see train_torch's ``threads``)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# ------------------------------------------------------------ networks
class GraphNet(nn.Module):
    """Padded / strided / grouped / dilated convs, sigmoid, gelu, a residual add, padded max and
    average pooling, flatten, fc and log-softmax: 1x16x16 -> 10."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 8, 3, padding=1)                          # 8x16x16
        self.c2 = nn.Conv2d(8, 8, 3, stride=2, padding=1, groups=2)     # 8x8x8
        self.c3 = nn.Conv2d(8, 8, 3, padding=2, dilation=2, groups=4)   # 8x8x8
        self.pool = nn.MaxPool2d(3, stride=2, padding=1)                # 8x4x4
        self.avg = nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
        self.fc = nn.Linear(128, 10)

    def forward(self, x):
        h = torch.relu(self.c1(x))
        h = torch.sigmoid(self.c2(h))
        h = h + F.gelu(self.c3(h))
        h = self.avg(self.pool(h))
        return F.log_softmax(self.fc(h.flatten(1)), -1)


class SmallCNN(nn.Module):
    """A small MNIST CNN that is no chain: strided padded conv, grouped conv, residual add."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 16, 5, stride=2, padding=2)            # 16x14x14
        self.c2 = nn.Conv2d(16, 16, 3, padding=1, groups=4)           # 16x14x14
        self.pool = nn.MaxPool2d(2)                                   # 16x7x7
        self.fc = nn.Linear(16 * 49, 10)

    def forward(self, x):
        h = torch.relu(self.c1(x))
        h = h + torch.relu(self.c2(h))
        return F.log_softmax(self.fc(self.pool(h).flatten(1)), -1)


def graph_net(seed=0):
    torch.manual_seed(seed)
    return network_from_torch(GraphNet(), (1, 16, 16))


def small_cnn(seed=0):
    torch.manual_seed(seed)
    return network_from_torch(SmallCNN(), (1, 28, 28))


def hand_graph():
    """Every host op the export above does not produce: asymmetric conv and pool pads,
    count_include_pad both ways, clip, tanh, tanh-gelu, mul, globalavgpool with a broadcast add,
    reshape, transpose, a per-position fc, matmul of two activations and a final softmax."""
    specs = [LayerSpec("conv", LayerKind.CONV, (6, 2, 3, 2), relu=True, stride=(2, 1), padding=(1, 0, 2, 1),
                       dilation=(1, 2)),
             LayerSpec("dw", LayerKind.CONV, (6, 1, 3, 3), relu=False, padding=(0, 1, 2, 1), groups=6),
             LayerSpec("tok", LayerKind.FC, (5, 6), relu=False),
             LayerSpec("head", LayerKind.FC, (4, 90), relu=False)]
    nodes = [Node("conv", "conv", ("input",)),                                         # 2x11x7 -> 6x6x6
             Node("clip", "clip", ("conv",), {"min": None, "max": 0.6}),
             Node("mp", "maxpool", ("clip",), {"kernel": [2, 3], "stride": [1, 2], "pads": [0, 1, 1, 0]}),  # 6x6x3
             Node("ap", "avgpool", ("mp",), {"kernel": [3, 2], "stride": [1, 1], "pads": [1, 0, 1, 1],
                                              "count_include_pad": False}),
             Node("ap2", "avgpool", ("ap",), {"kernel": [2, 2], "stride": [1, 1], "pads": [1, 1, 0, 0],
                                               "count_include_pad": True}),
             Node("dw", "conv", ("ap2",)),                                               # 6x6x3
             Node("t", "tanh", ("dw",)),
             Node("g", "gelu", ("t",), {"approximate": "tanh"}),
             Node("gap", "globalavgpool", ("g",)),                                       # 6x1x1
             Node("s", "mul", ("g",), {"scale": 0.5}),
             Node("sum", "add", ("s", "gap")),                                           # broadcast add
             Node("r", "reshape", ("sum",), {"shape": [6, -1]}),                        # 6x18
             Node("tr", "transpose", ("r",), {"perm": [2, 1]}),                         # 18x6
             Node("tok", "fc", ("tr",), {"per_position": True}),                        # 18x5
             Node("mm", "matmul", ("tr", "r")),                                          # 18x18
             Node("sig", "sigmoid", ("mm",)),
             Node("mix", "matmul", ("sig", "tok")),                                      # 18x5
             Node("fl", "flatten", ("mix",)),
             Node("head", "fc", ("fl",)),
             Node("sm", "softmax", ("head",), {"axis": -1})]
    net = init_params(Network("hand", (2, 11, 7), specs, nodes=nodes), seed=1)
    rng = np.random.default_rng(2)
    for s in specs:
        net.params[s.name + "_bias"] = rng.normal(size=s.n_out).astype(FLOAT)
    net.check()
    return net


# ------------------------------------------------------------ forward
def _check_forward(net, shape, seed=0, n=6, images=False):
    rng = np.random.default_rng(seed)
    x = (rng.random((n,) + shape) if images else rng.normal(size=(n,) + shape)).astype(np.float32)
    with torch.no_grad():
        got = to_torch(net)(torch.from_numpy(x)).numpy()
    ref = net.forward(x)
    assert got.shape == ref.shape and got.dtype == np.float32
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-5)


@pytest.mark.parametrize("name", ["lenet-5", "lenet-300-100"])
def test_forward_matches_builtin_chain(name):
    net = models.build(name, seed=3)
    _check_forward(net, tuple(net.input_shape), images=True)    # pixel values in [0, 1)


def test_forward_matches_imported_graph():
    net = graph_net()
    ops = {n.op for n in net.graph}
    assert {"conv", "fc", "maxpool", "avgpool", "add", "sigmoid", "gelu", "flatten", "logsoftmax"} <= ops
    assert any(s.groups > 1 for s in net.specs) and any(s.stride != (1, 1) for s in net.specs)
    assert any(any(s.padding) for s in net.specs) and any(s.dilation != (1, 1) for s in net.specs)
    assert not net.is_chain
    _check_forward(net, (1, 16, 16))


def test_forward_matches_hand_built_graph_with_asymmetric_padding():
    net = hand_graph()
    _check_forward(net, (2, 11, 7))
    # the training logits skip the final softmax over the class axis
    x = torch.from_numpy(np.random.default_rng(5).normal(size=(3, 2, 11, 7)).astype(np.float32))
    m = to_torch(net)
    with torch.no_grad():
        np.testing.assert_allclose(torch.softmax(m(x, logits=True), -1).numpy(), m(x).numpy(), atol=1e-6)


def test_parameters_are_named_after_the_layers():
    net = graph_net()
    m = to_torch(net)
    assert set(m.params.keys()) == set(net.params)
    for k, v in net.params.items():
        assert tuple(m.param(k).shape) == v.shape and m.param(k).dtype == torch.float32
        assert np.array_equal(m.param(k).detach().numpy(), v)
    assert m.param(net.specs[0].name).requires_grad


# ------------------------------------------------------------ training
@pytest.fixture(scope="module")
def mnist(mnist_path):
    ds = load_mnist(mnist_path, download=False, progress=False)
    return ds.train_images[:2000], ds.train_labels[:2000], ds.test_images[:1000], ds.test_labels[:1000]


def test_train_torch_learns_mnist(mnist):
    x, y, xt, yt = mnist
    net = small_cnn()
    assert not net.is_chain
    before = net.error_pct(xt, yt)
    shapes = {k: (v.shape, v.dtype) for k, v in net.params.items()}
    hist = train_torch(net, x, y, epochs=1, seed=0, **{**OPT, "lr": 0.1, "batch_size": 16})
    after = net.error_pct(xt, yt)
    assert before > 70 and after < 30, (before, after)
    assert len(hist) == 1 and hist[0]["epoch"] == 1 and np.isfinite(hist[0]["loss"])
    assert {k: (v.shape, v.dtype) for k, v in net.params.items()} == shapes


def _magnitude_masks(net, keep=0.3):
    masks = {}
    for s in net.specs:
        W = np.abs(net.params[s.name])
        masks[s.name] = W >= np.quantile(W, 1 - keep)
    return masks


def test_masks_hold_after_torch_training(mnist):
    x, y, _, _ = mnist
    net = small_cnn(1)
    masks = _magnitude_masks(net)
    start = {k: v.copy() for k, v in net.params.items()}
    train(net, x[:512], y[:512], epochs=2, seed=4, masks=masks, **OPT)   # dispatched to train_torch
    assert check_masks_hold(net, masks)
    for k, m in masks.items():
        assert np.all(net.params[k][~m] == 0)
        assert not np.array_equal(net.params[k][m], start[k][m])     # the kept weights did train


def _quantize(net, name, bits=3):
    """A simple shared-weight state: linear centroids over the nonzero range, zeros -> index 0."""
    aug = augmented(net, name)
    nz = aug[aug != 0]
    cents = np.concatenate([[0.0], np.linspace(nz.min(), nz.max(), 2 ** bits - 1)]).astype(FLOAT)
    idx = 1 + np.abs(aug[..., None] - cents[None, None, 1:]).argmin(-1)
    idx[aug == 0] = 0
    return QuantState(idx=idx.astype(np.int64), centroids=cents)


def test_centroid_finetuning_keeps_shared_weights(mnist):
    x, y, _, _ = mnist
    net = small_cnn(2)
    masks = _magnitude_masks(net, 0.5)
    for k, m in masks.items():
        net.params[k] = net.params[k] * m
    quant = {s.name: _quantize(net, s.name) for s in net.specs[:-1]}      # the last layer stays float
    idx0 = {k: q.idx.copy() for k, q in quant.items()}
    c0 = {k: q.centroids.copy() for k, q in quant.items()}
    last = net.specs[-1].name
    w_last = net.params[last].copy()
    train(net, x[:512], y[:512], epochs=2, seed=5, quant=quant, masks={last: masks[last]}, **OPT)
    for k, q in quant.items():
        assert q.centroids[0] == 0.0 and q.centroids.dtype == FLOAT
        assert np.array_equal(q.idx, idx0[k])
        assert not np.array_equal(q.centroids, c0[k])
        aug = augmented(net, k)
        assert np.array_equal(aug, q.centroids[q.idx])
        assert np.all(net.params[k][~masks[k]] == 0)
    assert check_masks_hold(net, {last: masks[last]}) and not np.array_equal(net.params[last], w_last)


def test_centroid_gradient_is_sum_of_weight_gradients():
    net = graph_net(3)
    quant = {s.name: _quantize(net, s.name, 2) for s in net.specs}
    for name, q in quant.items():
        aug = q.centroids[q.idx]
        net.params[name] = aug[:, :-1].reshape(net.params[name].shape).copy()
        net.params[name + "_bias"] = aug[:, -1].copy()
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, 1, 16, 16)).astype(np.float32)
    y = np.arange(8) % 10
    m = to_torch(net)
    out = m(torch.from_numpy(x), logits=True)
    loss = F.cross_entropy(out, torch.from_numpy(y))
    loss.backward()
    before = {k: q.centroids.copy() for k, q in quant.items()}
    # one plain SGD step (no momentum, no decay); at step 0 the cosine schedule gives the full lr
    train_torch(net, x, y, epochs=1, lr=0.5, momentum=0.0, weight_decay=0.0, batch_size=8, seed=0, quant=quant,
                progress=False)
    for k, q in quant.items():
        gaug = np.concatenate([m.param(k).grad.numpy().reshape(q.idx.shape[0], -1),
                               m.param(k + "_bias").grad.numpy()[:, None]], axis=1)
        expect = np.bincount(q.idx.ravel(), weights=gaug.ravel().astype(np.float64), minlength=len(before[k]))
        expect[0] = 0
        np.testing.assert_allclose(before[k] - q.centroids, 0.5 * expect, rtol=1e-4, atol=1e-6)


def test_same_seed_same_parameters(mnist):
    x, y, _, _ = mnist
    runs = []
    for _ in range(2):
        net = small_cnn(4)
        h = train_torch(net, x[:256], y[:256], epochs=2, seed=7, augment_shift=2, **OPT)
        runs.append((h, net.params))
    assert runs[0][0] == runs[1][0]
    assert all(np.array_equal(runs[0][1][k], runs[1][1][k]) for k in runs[0][1])
    other = small_cnn(4)
    train_torch(other, x[:256], y[:256], epochs=2, seed=8, augment_shift=2, **OPT)
    assert not all(np.array_equal(runs[0][1][k], other.params[k]) for k in other.params)


# ------------------------------------------------------------ dispatch
@pytest.mark.parametrize("kind", ["chain", "graph"])
def test_train_runs_every_network_in_torch(monkeypatch, kind):
    """One trainer: the built-in chains and imported graphs both train in PyTorch."""
    calls = []
    real = torch_train.train_torch

    def spy(*a, **k):
        calls.append(k)
        return real(*a, **k)

    monkeypatch.setattr(torch_train, "train_torch", spy)
    rng = np.random.default_rng(0)
    if kind == "graph":
        net = graph_net()
        x = rng.random((64, 1, 16, 16)).astype(np.float32)
    else:
        net = models.build("lenet-300-100", seed=0)
        assert net.is_chain
        x = rng.random((64, 784)).astype(np.float32)
    before = {k: v.copy() for k, v in net.params.items()}
    hist = train(net, x, rng.integers(0, 10, 64), epochs=1, seed=0, desc="baseline", **OPT)
    assert len(calls) == 1 and calls[0]["desc"] == "baseline" and len(hist) == 1
    assert not np.array_equal(before[net.specs[0].name], net.params[net.specs[0].name])


def test_importing_the_trainer_never_imports_torch():
    code = ("import sys\n"
            "import network.train, compress.pipeline, dcsim.cli\n"
            "assert 'torch' not in sys.modules, 'torch was imported'\n")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr


# ------------------------------------------------------------ method hooks
def _mlp_data(n=128):
    rng = np.random.default_rng(0)
    return models.build("lenet-300-100", seed=0), rng.random((n, 784)).astype(np.float32), rng.integers(0, 10, n)


def test_a_penalty_hook_is_added_to_the_loss():
    from network.train import TrainHooks

    class L2(TrainHooks):
        def penalty(self, params):
            return 1.0 * sum((p ** 2).sum() for k, p in params.items() if not k.endswith("_bias"))

    a, x, y = _mlp_data()
    b = a.copy()
    ha = train(a, x, y, epochs=1, seed=0, **OPT)
    hb = train(b, x, y, epochs=1, seed=0, hooks=L2(), **OPT)
    assert hb[0]["loss"] > ha[0]["loss"] + 10.0           # the recorded loss holds the penalty
    assert np.linalg.norm(b.params["fc1"]) < 0.8 * np.linalg.norm(a.params["fc1"])


def test_weight_hook_sets_the_forward_weights_and_extra_params_train():
    import torch
    from network.train import TrainHooks

    seen = []

    class Scaled(TrainHooks):
        """A learned scale on fc3's sign (a straight-through estimator), clipped after each step."""

        def extra_params(self, torch):
            self.scale = torch.nn.Parameter(torch.tensor(0.05))
            return {"scale": self.scale}

        def weight(self, key, w):
            if key == "fc3":
                q = self.scale * torch.sign(w)
                seen.append(True)
                return w + (q - w).detach() + (q - q.detach())    # STE to w, gradient to the scale
            return w

        def after_step(self, params):
            params["fc1"].clamp_(-0.01, 0.01)

    net, x, y = _mlp_data()
    hooks = Scaled()
    train(net, x, y, epochs=1, seed=0, hooks=hooks, **OPT)
    assert seen and float(hooks.scale) != pytest.approx(0.05)
    assert np.abs(net.params["fc1"]).max() <= 0.01 + 1e-7
    # the forward pass of a module outside training uses the plain weights again
    m = to_torch(net)
    assert m.hooks is None


def test_a_loss_hook_replaces_the_loss_and_masks_hold_after_hooks():
    from network.train import TrainHooks

    calls = []

    class Half(TrainHooks):
        def loss(self, logits, y, x, default):
            calls.append(x.shape[0])
            return 0.5 * default(logits, y)

        def after_step(self, params):
            params["fc1"].add_(1.0)                         # tries to revive pruned weights

    net, x, y = _mlp_data()
    masks = {"fc1": np.random.default_rng(1).random(net.params["fc1"].shape) < 0.3}
    train(net, x, y, epochs=1, seed=0, masks=masks, hooks=Half(), **OPT)
    assert sum(calls) == len(x)
    assert check_masks_hold(net, masks)


def test_chained_hooks_forward_fc_output_after_the_other_hooks_weights():
    from network.train import ChainHooks, TrainHooks

    class Double(TrainHooks):
        def weight(self, key, w):
            return 2 * w

    class Out(TrainHooks):
        def fc_output(self, name, X, W, b):
            return (name, X, W, b)

    chain = ChainHooks([Double(), Out()])
    assert chain.fc_output("fc1", "x", 3, 5) == ("fc1", "x", 6, 10)
    assert getattr(ChainHooks([Double(), TrainHooks()]), "fc_output", None) is None
    with pytest.raises(ValueError, match="only one method"):
        ChainHooks([Out(), Out()])
