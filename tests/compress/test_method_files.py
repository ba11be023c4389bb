"""Every method of examples/methods/ compresses a small network and runs on the EIE engine with
every output equal to the fixed-point reference (``simulate --verify``), and its storage is counted.

The method files are laid over the LeNet-300-100 recipe, as ``dcsim compress --config`` does; the
network here is a small three-layer MLP with LeNet-300-100's layer names, trained for at most one
epoch per stage on synthetic data, so the run is quick and every method's code path is taken.
"""
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from arch.config import AcceleratorConfig  # noqa: E402
from compress.pipeline import compress_network, storage_report  # noqa: E402
from compress.recipes import default_recipe  # noqa: E402
from dcsim.configfile import read_config_file  # noqa: E402
from network.data import TrainData  # noqa: E402
from network.graph import LayerKind, LayerSpec, Network, init_params  # noqa: E402
from sim.network import simulate_model  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
FILES = sorted((ROOT / "examples" / "methods").glob("*.toml"))
EPOCH_KEYS = ("retrain_epochs", "finetune_epochs", "qat_epochs", "penalty_epochs")


def _net():
    specs = [LayerSpec("fc1", LayerKind.FC, (24, 16), relu=True), LayerSpec("fc2", LayerKind.FC, (16, 24), relu=True),
             LayerSpec("fc3", LayerKind.FC, (4, 16), relu=False)]
    return init_params(Network("mlp", (16,), specs), 0)


def _data():
    rng = np.random.default_rng(0)
    x = rng.random((512, 16)).astype(np.float32)
    y = (x[:, :4].argmax(1)).astype(np.int64)
    return TrainData(x_train=x, y_train=y, x_test=x[:128], y_test=y[:128], fingerprint="method-files")


def test_every_method_file_is_tested():
    assert len(FILES) >= 19


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_method_file_compresses_and_verifies_on_the_engine(path):
    _accel, cfg = read_config_file(path, compress_base=default_recipe("lenet-300-100"))
    short = {k: min(getattr(cfg, k), 1) for k in EPOCH_KEYS}
    cfg = cfg.replace(batch_size=64, augment_shift=0, **short)   # the shift is for images
    accel = AcceleratorConfig()
    data = _data()
    cm, _stages = compress_network(_net(), cfg, accel, train=data, progress=False, log=lambda _m: None)
    report = storage_report(cm)
    total = report["total"]
    assert total["storage_bits_pqh"] > 0 and total["compression_rate_pqh"] > 0   # 8-bit codebooks outweigh a tiny layer
    for lay in cm.layers:
        assert lay.centroids[0] == 0 and np.all(np.isfinite(lay.centroids))
    run = simulate_model(cm, data.x_test[:32], accel, verify=True, progress=False)   # raises on any difference
    assert run.verified and run.outputs.shape[0] == 32
