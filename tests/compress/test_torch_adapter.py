"""The optional PyTorch adapter (compress.torch_adapter): masked retraining and centroid
fine-tuning through parametrizations, the archive round trip, and the lazy torch import.
The conversion of a module into a Network is tested in tests/network/test_torch_import.py."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
nn = torch.nn
F = torch.nn.functional
parametrize = torch.nn.utils.parametrize

from arch.config import AcceleratorConfig  # noqa: E402
from arch.errors import ModelError  # noqa: E402
from compress import model as cmodel  # noqa: E402
from compress import torch_adapter as ta  # noqa: E402
from compress.config import CompressionConfig  # noqa: E402
from compress.pipeline import prune_masks  # noqa: E402
from network.graph import augmented  # noqa: E402
from tests.network.test_torch_import import X_CNN, X_MLP, Y, cnn, mlp, run_python, tout  # noqa: E402


def sgd_steps(module, x, y, steps=5, opt=None, lr=0.05):
    opt = opt or torch.optim.SGD(module.parameters(), lr=lr, momentum=0.9, weight_decay=1e-3)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    for _ in range(steps):
        opt.zero_grad()
        F.cross_entropy(module(xt), yt).backward()
        opt.step()
    return opt


# ----------------------------------------------------------------- (a) pruning
def test_prune_masks_hold_through_sgd():
    m = mlp(1)
    cfg = CompressionConfig(density=0.2, layer_density={"2": 0.5})
    ref = prune_masks(ta.network_from_module(m), cfg)  # the numpy flow's masks
    masks = ta.prune_module(m, cfg)
    assert set(masks) == {"0", "2"}
    for k, mk in masks.items():
        assert mk.dtype == torch.bool
        np.testing.assert_array_equal(mk.numpy(), ref[k])
        assert mk.sum().item() == round(cfg.density_for(k) * mk.numel())
    for opt_cls in (lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, weight_decay=1e-3),
                    lambda p: torch.optim.AdamW(p, lr=0.01)):
        sgd_steps(m, X_MLP, Y, steps=4, opt=opt_cls(m.parameters()))
        for k, layer in (("0", m[0]), ("2", m[2])):
            mk = masks[k]
            assert torch.all(layer.weight[~mk] == 0)
            assert torch.all(layer.parametrizations.weight.original[~mk] == 0)  # stored value too
            assert torch.all(layer.weight[mk] != 0)
    # the trained kept weights moved
    assert not np.array_equal(ta.network_from_module(m).params["0"][masks["0"].numpy()],
                              ref["0"][ref["0"]])


def test_reprune_replaces_the_mask():
    m = mlp(2)
    cfg = CompressionConfig(density=0.1)
    half = ta.prune_module(m, cfg, fraction=0.5)
    sgd_steps(m, X_MLP, Y, steps=2)
    full = ta.prune_module(m, cfg, fraction=1.0)  # previous = the registered masks
    for k in half:
        assert torch.all(full[k] <= half[k])
        assert full[k].sum().item() == round(0.1 * full[k].numel())
    assert len(m[0].parametrizations.weight) == 1
    assert torch.equal(ta.module_masks(m)["0"], full["0"])


def test_foreign_parametrizations_are_refused():
    class Double(nn.Module):
        def forward(self, w):
            return 2 * w

    m = mlp(5)
    parametrize.register_parametrization(m[2], "weight", Double())
    ta.network_from_module(m)  # the importer reads the effective weights
    with pytest.raises(ModelError, match="'2'.*Double"):
        ta.prune_module(m, CompressionConfig(density=0.5))


# ------------------------------------------------------------ (b) quantization
def test_quantized_training_shares_weights_and_sums_gradients():
    m = mlp(3)
    cfg = CompressionConfig(density=0.3, fc_bits=4, layer_bits={"2": 3})
    masks = ta.prune_module(m, cfg)
    quant = ta.quantize_module(m, cfg)
    assert {k: len(q.centroids) for k, q in quant.items()} == {"0": 16, "2": 8}
    net0 = ta.network_from_module(m)
    for k, q in quant.items():
        np.testing.assert_array_equal(augmented(net0, k), q.centroids[q.idx])
        assert np.all(q.idx[:, :-1][~masks[k].numpy()] == 0)

    # centroid gradient == per-index sum of the weight gradients (network.train's rule)
    xt, yt = torch.from_numpy(X_MLP), torch.from_numpy(Y)
    with parametrize.cached():
        eff = {k: (layer.weight, layer.bias) for k, layer in (("0", m[0]), ("2", m[2]))}
        for w, b in eff.values():
            w.retain_grad()
            b.retain_grad()
        F.cross_entropy(m(xt), yt).backward()
    for k, q in quant.items():
        w, b = eff[k]
        gaug = torch.cat([w.grad.reshape(w.shape[0], -1), b.grad[:, None]], 1).numpy()
        manual = np.bincount(q.idx.ravel(), weights=gaug.ravel().astype(np.float64), minlength=len(q.centroids))
        got = ta.module_codebook(m, k).free.grad.numpy()
        np.testing.assert_allclose(got, manual[1:], rtol=1e-5, atol=1e-7)

    m.zero_grad()
    sgd_steps(m, X_MLP, Y, steps=5)
    for k, layer in (("0", m[0]), ("2", m[2])):
        cents = ta.module_codebook(m, k).centroids
        assert cents[0].item() == 0.0
        assert not np.allclose(cents.numpy(), quant[k].centroids)  # fine-tuning moved them
        assert torch.all(torch.isin(layer.weight, cents)) and torch.all(torch.isin(layer.bias, cents))
        idx = torch.from_numpy(quant[k].idx.astype(np.int64))
        assert torch.all(layer.weight[idx[:, :-1].reshape(layer.weight.shape) == 0] == 0)
        assert torch.equal(layer.weight, cents[idx[:, :-1]].reshape(layer.weight.shape))
    out = ta.export_quant(m, quant)
    for k, q in out.items():
        assert q.centroids.dtype == np.float32 and q.centroids[0] == 0
        np.testing.assert_array_equal(q.idx, quant[k].idx)
        np.testing.assert_array_equal(q.centroids, ta.module_codebook(m, k).centroids.numpy())
    with pytest.raises(ModelError, match="prune before quantizing"):
        ta.prune_module(m, cfg)


def test_quantize_layer_without_bias_and_requantize():
    m = nn.Sequential(nn.Linear(64, 32, bias=False), nn.ReLU(), nn.Linear(32, 10))
    cfg = CompressionConfig(density=0.5, fc_bits=3)
    ta.prune_module(m, cfg)
    q1 = ta.quantize_module(m, cfg)
    assert not np.any(q1["0"].idx[:, -1])  # no bias -> bias column is the pruned code
    sgd_steps(m, X_MLP, Y, steps=2)
    q2 = ta.quantize_module(m, CompressionConfig(density=0.5, fc_bits=2))  # replaces the codebooks
    assert len(q2["0"].centroids) == 4 and len(m[0].parametrizations.weight) == 1
    np.testing.assert_array_equal(q2["0"].idx == 0, q1["0"].idx == 0)  # pruned stays pruned
    assert torch.all(torch.isin(m[0].weight, ta.module_codebook(m, "0").centroids))


# ------------------------------------------------------- (c) full round trip
def test_compress_module_archive_round_trip(tmp_path):
    m = cnn(4)
    cfg = CompressionConfig(density=0.4, layer_density={"0": 0.7}, prune_iterations=2, conv_bits=4, fc_bits=3)
    phases = []
    xt = torch.from_numpy(X_CNN)
    yt = torch.from_numpy(Y[:8])

    def train_fn(module, phase):
        phases.append(phase)
        opt = torch.optim.SGD(module.parameters(), lr=0.05, momentum=0.9)
        for _ in range(3):
            opt.zero_grad()
            F.cross_entropy(module(xt), yt).backward()
            opt.step()

    cm = ta.compress_module(m, cfg, AcceleratorConfig(n_pe=4), train_fn, input_shape=(1, 16, 16), name="tiny-cnn")
    assert phases == ["prune 1/2", "prune 2/2", "finetune"]
    assert cm.meta["source"] == "torch" and cm.name == "tiny-cnn"
    assert [(l.name, l.bits, l.spec.relu) for l in cm.layers] == [("0", 4, True), ("4", 3, False)]
    assert [n.op for n in cm.nodes] == ["conv", "maxpool", "flatten", "fc"]   # the module's graph
    path = tmp_path / "model.dcz"
    cmodel.save(cm, path)
    back = cmodel.load(path)
    assert back == cm
    np.testing.assert_allclose(back.to_network().forward(X_CNN), tout(m, X_CNN), rtol=1e-5, atol=1e-6)
    for l in back.layers:  # densities of the weights as the recipe says
        W = l.indices[:, :-1]
        assert np.count_nonzero(W) == round(cfg.density_for(l.name) * W.size)
    # stripping leaves plain, identical weights
    before = tout(m, X_CNN)
    ta.strip_parametrizations(m)
    assert not parametrize.is_parametrized(m[0]) and set(m.state_dict()) == {"0.weight", "0.bias", "4.weight", "4.bias"}
    np.testing.assert_array_equal(tout(m, X_CNN), before)


# ------------------------------------------------------------ (d) lazy import
def test_torch_is_imported_lazily():
    r = run_python("""
        import sys
        import compress, compress.pipeline, compress.model, compress.torch_adapter as ta
        assert "torch" not in sys.modules, "importing compress imported torch"
        import numpy as np
        ta.network_from_module({"fc.weight": np.ones((2, 3), np.float32)})  # numpy state_dict: no torch needed
        assert "torch" not in sys.modules
        from compress.torch_adapter import Masked
        assert "torch" in sys.modules and ta.Masked is Masked
        print("ok")
    """)
    assert r.returncode == 0 and "ok" in r.stdout, r.stderr


def test_missing_torch_gives_install_hint():
    r = run_python("""
        import sys
        sys.modules["torch"] = None  # makes `import torch` raise ImportError
        from arch.errors import DcsimError
        from compress import torch_adapter as ta
        from compress.config import CompressionConfig
        try:
            ta.prune_module(object(), CompressionConfig())
        except ImportError as e:
            assert isinstance(e, ta.TorchMissingError) and isinstance(e, DcsimError)
            print(e)
    """)
    assert r.returncode == 0, r.stderr
    assert "pip install 'dcsim[torch]'" in r.stdout and "torch==2.13.0" in r.stdout
