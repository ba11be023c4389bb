"""The PyTorch importer (network.torch_import): a Network from a torch module or a state_dict,
the structure traced under forward hooks, the forward check, the errors for modules dcsim
cannot run, and the lazy torch import. Also the torch helpers the adapter's tests share."""
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

from arch.errors import ModelError  # noqa: E402
from network.graph import LayerSpec  # noqa: E402
from network.torch_import import network_from_module  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


# ------------------------------------------------------------ shared helpers
def mlp(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))


def cnn(seed=0):
    torch.manual_seed(seed)
    # 1x16x16 -> conv k5 -> 4x12x12 -> pool 2 -> 4x6x6 = 144 -> 10
    return nn.Sequential(nn.Conv2d(1, 4, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(144, 10))


def tout(module, x):
    """The module's output on numpy ``x``, as numpy."""
    with torch.no_grad():
        return module(torch.from_numpy(x)).numpy()


def run_python(code: str) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter on this checkout (for tests of what gets imported)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


RNG = np.random.default_rng(0)
X_MLP = RNG.standard_normal((16, 64)).astype(np.float32)
X_CNN = RNG.random((8, 1, 16, 16)).astype(np.float32)
Y = RNG.integers(0, 10, 16)


# ------------------------------------------------------------------ conversion
def test_mlp_forward_matches_torch():
    m = mlp()
    net = network_from_module(m)
    assert [s.name for s in net.specs] == ["0", "2"]
    assert [(s.kind.value, s.shape, s.relu, s.pool) for s in net.specs] == [("fc", (32, 64), True, 0),
                                                                           ("fc", (10, 32), False, 0)]
    assert net.input_shape == (64,)
    np.testing.assert_allclose(net.forward(X_MLP), tout(m, X_MLP), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(net.predict(X_MLP), tout(m, X_MLP).argmax(1))
    traced = network_from_module(m, input_shape=(64,))
    assert traced.specs == net.specs
    # a state_dict gives the same network
    sd = network_from_module(m.state_dict())
    assert sd.specs == net.specs and all(np.array_equal(sd.params[k], net.params[k]) for k in net.params)


def test_cnn_forward_matches_torch():
    m = cnn()
    net = network_from_module(m, input_shape=(1, 16, 16))  # the graph through ONNX: pooling a node of its own
    assert [(s.name, s.kind.value, s.shape, s.relu, s.pool) for s in net.specs] == [
        ("0", "conv", (4, 1, 5, 5), True, 0), ("4", "fc", (10, 144), False, 0)]
    assert [n.op for n in net.graph] == ["conv", "maxpool", "flatten", "fc"]
    np.testing.assert_allclose(net.forward(X_CNN), tout(m, X_CNN), rtol=1e-5, atol=1e-6)
    # weights only (no input_shape): same weights, pool unknown -> 0; set it by hand and it matches too
    plain = network_from_module(m)
    assert plain.specs[0].pool == 0 and plain.input_shape == (1, 0, 0)
    plain.specs[0] = LayerSpec("0", plain.specs[0].kind, plain.specs[0].shape, relu=True, pool=2)
    plain.input_shape = (1, 16, 16)
    np.testing.assert_allclose(plain.forward(X_CNN), tout(m, X_CNN), rtol=1e-5, atol=1e-6)


def test_names_follow_module_paths():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU())
            self.head = nn.Linear(2 * 6 * 6, 3, bias=False)

        def forward(self, x):
            return self.head(self.features(x).flatten(1))

    net = network_from_module(Net(), input_shape=(1, 8, 8))
    assert [s.name for s in net.specs] == ["features_0", "head"]
    assert not np.any(net.params["head_bias"])


# ---------------------------------------------------------- unsupported modules
@pytest.mark.parametrize("module, shape, words", [
    (nn.Sequential(nn.Linear(8, 4), nn.BatchNorm1d(4), nn.Linear(4, 2)), None, ["'1'", "BatchNorm1d"]),
    (nn.Sequential(nn.Conv1d(1, 2, 3)), None, ["'0'", "Conv1d"]),
    (nn.Sequential(nn.Conv2d(1, 2, 3, padding=1, padding_mode="reflect")), None, ["'0'", "padding_mode"]),
    (nn.Sequential(nn.Linear(8, 4), nn.Softplus(), nn.Linear(4, 2)), (8,), ["Softplus", "supported op types"]),
    (nn.LSTM(4, 4), None, ["LSTM"]),
])
def test_unsupported_layers_are_named(module, shape, words):
    with pytest.raises(ModelError) as e:
        network_from_module(module, input_shape=shape)
    assert isinstance(e.value, ValueError)
    for w in words:
        assert w in str(e.value)


def test_colliding_names_are_refused():
    m = nn.Sequential()
    m.add_module("a_b", nn.Linear(4, 4))
    m.add_module("a", nn.Sequential())
    m.a.add_module("b", nn.Linear(4, 2))
    with pytest.raises(ModelError, match="both map to the dcsim name 'a_b'"):
        network_from_module(m)


def test_padded_strided_grouped_convs_are_taken():
    m = nn.Sequential(nn.Conv2d(2, 4, 3, stride=2, padding=1), nn.ReLU(), nn.Conv2d(4, 4, 3, padding="same", groups=2),
                      nn.Flatten(), nn.Linear(4 * 4 * 4, 3))
    x = np.random.default_rng(0).random((3, 2, 8, 8)).astype(np.float32)
    net = network_from_module(m, input_shape=(2, 8, 8))
    assert net.specs[0].stride == (2, 2) and net.specs[0].padding == (1, 1, 1, 1) and net.specs[1].groups == 2
    np.testing.assert_allclose(net.forward(x), tout(m, x), rtol=1e-5, atol=1e-6)
    plain = network_from_module(m)           # weights only: the geometry is kept too
    assert plain.specs[1].padding == (1, 1, 1, 1) and plain.specs[1].groups == 2


def test_functional_ops_are_seen_through_the_export():
    class Fn(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(8, 16), nn.Linear(16, 4)

        def forward(self, x):
            return self.b(torch.tanh(self.a(x)))

    f = Fn()
    network_from_module(f)  # weights only: fine
    net = network_from_module(f, input_shape=(8,))
    assert [n.op for n in net.graph] == ["fc", "tanh", "fc"]
    x = np.random.default_rng(0).random((2, 8)).astype(np.float32)
    np.testing.assert_allclose(net.forward(x), tout(f, x), rtol=1e-5, atol=1e-6)


def test_state_dict_errors():
    m = nn.Sequential(nn.Linear(8, 4), nn.BatchNorm1d(4))
    with pytest.raises(ModelError, match="'1'"):
        network_from_module(m.state_dict())


# ------------------------------------------------------------ lazy import
def test_missing_torch_is_a_one_line_user_error():
    r = run_python("""
        import sys
        sys.modules["torch"] = None  # makes `import torch` raise ImportError
        import numpy as np
        from arch.errors import DcsimError
        from network.torch_import import TorchMissingError, network_from_module
        net = network_from_module({"fc.weight": np.ones((2, 3), np.float32)})  # numpy state_dict: no torch needed
        assert [s.name for s in net.specs] == ["fc"] and net.input_shape == (3,)
        try:
            network_from_module(object())
        except TorchMissingError as e:
            assert isinstance(e, ImportError) and isinstance(e, DcsimError)
            print(e)
    """)
    assert r.returncode == 0, r.stderr
    assert "pip install 'dcsim[torch]'" in r.stdout and "torch==2.13.0" in r.stdout
