"""compress/distill.py: knowledge distillation as a training option of every method."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from arch.config import AcceleratorConfig  # noqa: E402
from compress.config import CompressionConfig  # noqa: E402
from compress.distill import DistillHooks  # noqa: E402
from compress.pipeline import compress_network  # noqa: E402
from network.data import TrainData  # noqa: E402
from network.graph import LayerKind, LayerSpec, Network, init_params  # noqa: E402
from network.torch_train import to_torch  # noqa: E402


def _net(seed=0):
    specs = [LayerSpec("fc1", LayerKind.FC, (16, 12), relu=True), LayerSpec("fc2", LayerKind.FC, (4, 16), relu=False)]
    return init_params(Network("mlp", (12,), specs), seed)


def _xent(out, y):
    return torch.nn.functional.cross_entropy(out, y)


def test_the_loss_mixes_the_teacher_and_the_labels():
    teacher, student = _net(0), _net(1)
    x = torch.from_numpy(np.random.default_rng(0).random((8, 12)).astype(np.float32))
    y = torch.arange(8) % 4
    s = to_torch(student)(x)
    hard = _xent(s, y)
    assert DistillHooks(teacher, 4.0, 0.0).loss(s, y, x, _xent).item() == pytest.approx(hard.item(), rel=1e-6)
    same = DistillHooks(student, 4.0, 1.0).loss(s, y, x, _xent).item()
    assert same == pytest.approx(0.0, abs=1e-6)                  # a student equal to its teacher: no soft loss
    soft = DistillHooks(teacher, 2.0, 1.0).loss(s, y, x, _xent).item()
    t = to_torch(teacher)(x)
    p, q = torch.softmax(t / 2, 1), torch.log_softmax(s / 2, 1)
    expect = (p * (torch.log(p) - q)).sum(1).mean().item() * 4.0
    assert soft == pytest.approx(expect, rel=1e-5)


def test_compress_with_distillation_trains_and_changes_the_result():
    rng = np.random.default_rng(0)
    x = rng.random((256, 12)).astype(np.float32)
    y = (x[:, :4].argmax(1)).astype(np.int64)
    data = TrainData(x_train=x, y_train=y, x_test=x[:64], y_test=y[:64], fingerprint="t")
    base = dict(density=0.5, fc_bits=3, retrain_epochs=2, finetune_epochs=1, batch_size=32)
    out = {}
    for d in (False, True):
        cm, _ = compress_network(_net(0), CompressionConfig(distill=d, **base), AcceleratorConfig(), train=data,
                                 progress=False, log=lambda m: None)
        out[d] = cm.layers[0].centroids
    assert not np.array_equal(out[False], out[True])
