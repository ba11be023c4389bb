import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

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


@pytest.mark.parametrize("case", ["bad_config_value", "missing_npz", "pickled_npz", "bad_shape", "truncated_archive",
                                  "no_source", "bad_model", "bad_data_dir", "bad_idx"])
def test_bad_input_exit_2_one_line(tmp_path, case):
    out = tmp_path / "o"
    w = _weights(tmp_path)
    if case == "bad_config_value":
        cfg = tmp_path / "bad.toml"
        cfg.write_text("[compress]\nfc_bits = 12\n")
        args, frag = ["compress", "--weights", str(w), "--out", str(out), "--config", str(cfg)], "fc_bits = 12"
    elif case == "missing_npz":
        args, frag = ["compress", "--weights", str(tmp_path / "nope.npz"), "--out", str(out)], "nope.npz"
    elif case == "pickled_npz":
        p = tmp_path / "obj.npz"
        np.savez(p, fc1=np.array([{"a": 1}], dtype=object))
        args, frag = ["compress", "--weights", str(p), "--out", str(out)], "obj.npz"
    elif case == "bad_shape":
        p = tmp_path / "shape.npz"
        np.savez(p, fc1=np.zeros((3, 4, 5), np.float32))
        args, frag = ["compress", "--weights", str(p), "--out", str(out)], "(3, 4, 5)"
    elif case == "truncated_archive":
        assert main(["compress", "--weights", str(w), "--out", str(out), "--quiet"]) == 0
        a = out / "model.dcz"
        a.write_bytes(a.read_bytes()[:100])
        args, frag = ["inspect", str(a)], "model.dcz"
    elif case == "bad_data_dir":
        args, frag = ["compress", "--model", "lenet-300-100", "--out", str(out), "--data-dir",
                      str(tmp_path / "nodata")], "nodata"
    elif case == "bad_idx":
        d = tmp_path / "idx"
        d.mkdir()
        for n in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                  "t10k-labels-idx1-ubyte"):
            (d / n).write_bytes(b"\x00\x00\x08\x03" + b"\x00" * 7)
        args, frag = ["compress", "--model", "lenet-300-100", "--out", str(out), "--data-dir", str(d)], "idx"
    elif case == "no_source":
        args, frag = ["compress", "--out", str(out)], "--model"
    else:
        args, frag = ["compress", "--model", "alexnet", "--out", str(out)], "alexnet"
    r = _run(args)
    assert r.returncode == 2, r.stderr
    lines = [l for l in r.stderr.strip().splitlines() if l.strip()]
    assert frag in lines[-1]
    if case not in ("truncated_archive",):
        assert not out.exists()  # nothing half-written, not even the folder


def test_help_lists_commands():
    r = _run(["--help"])
    assert r.returncode == 0 and "compress" in r.stdout and "inspect" in r.stdout
