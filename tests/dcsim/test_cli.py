import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from dcsim.cli import main

ROOT = Path(__file__).resolve().parents[2]


def _weights(tmp_path, seed=0):
    rng = np.random.default_rng(seed)
    p = tmp_path / "w.npz"
    np.savez(p, fc1=rng.normal(size=(40, 64)).astype(np.float32), fc1_bias=rng.normal(size=40).astype(np.float32),
             fc2=rng.normal(size=(10, 40)).astype(np.float32), **{"fc2.bias": np.zeros(10, np.float32)})
    return p


def test_compress_weights_and_inspect(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["compress", "--weights", str(_weights(tmp_path)), "--out", str(out), "--quiet"]) == 0
    for f in ("model.dcz", "compression.json", "compression_layers.csv"):
        assert (out / f).is_file()
    doc = json.loads((out / "compression.json").read_text())
    assert [l["layer"] for l in doc["layers"]] == ["fc1", "fc2"]
    for k in ("compression_rate", "compression_rate_p", "compression_rate_pq", "test_error_pct", "baseline_test_error_pct"):
        assert k in doc["total"]
    assert doc["compression_config"]["fc_bits"] == 5 and doc["accelerator_config"]["n_pe"] == 64
    assert "weight_rel_error" in doc["layers"][0]
    text = capsys.readouterr().out
    assert "rate P+Q+H (x)" in text and "RMS error" in text
    assert main(["inspect", str(out / "model.dcz")]) == 0
    assert "fc1" in capsys.readouterr().out


def _run(args):
    return subprocess.run([sys.executable, "-m", "dcsim", *args], capture_output=True, text=True, cwd=ROOT)


def test_help_lists_commands():
    r = _run(["--help"])
    assert r.returncode == 0 and "compress" in r.stdout and "inspect" in r.stdout
