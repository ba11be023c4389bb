"""The seams hold: a new compression method and a new machine, each defined in test code alone
(tests/compress/toy_sign.py, tests/machines/toy_dense.py) and loaded as plugins, run through
``dcsim dse`` on the default process pool, with no library file edited for them."""
import csv
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dcsim.cli import main

ROOT = Path(__file__).resolve().parents[2]
PLUGINS = "tests.compress.toy_sign,tests.machines.toy_dense"


def _sweep(tmp_path, mnist_path) -> Path:
    p = tmp_path / "seams.toml"
    p.write_text(f"""
[sweep]
workloads = ["model:lenet-300-100"]
inputs = 100
data_dir = "{mnist_path}"
[base]
accel = {{ kind = "dense" }}
compress = {{ baseline_epochs = 1, retrain_epochs = 0, finetune_epochs = 0, prune_iterations = 1 }}
[axes]
compress.quantizer = ["kmeans", "sign"]
accel.macs_per_cycle = [1, 8]
""")
    return p


def _dcsim(*args, env_plugins: str | None):
    env = {k: v for k, v in os.environ.items() if k != "DCSIM_PLUGINS"}
    env["PYTHONPATH"] = str(ROOT)
    if env_plugins:
        env["DCSIM_PLUGINS"] = env_plugins
    return subprocess.run([sys.executable, "-m", "dcsim", *args], capture_output=True, text=True, cwd=ROOT, env=env)


def test_without_the_plugins_the_names_are_unknown_with_one_line(tmp_path, mnist_path):
    r = _dcsim("dse", str(_sweep(tmp_path, mnist_path)), "--dry-run", env_plugins=None)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    assert "kind = 'dense' is not allowed; choose one of 'eie'" in r.stderr
    r = _dcsim("dse", str(_sweep(tmp_path, mnist_path)), "--dry-run", env_plugins=PLUGINS)
    assert r.returncode == 0, r.stderr
    assert "4 points" in r.stderr


def test_toy_method_and_toy_machine_run_through_dse_on_the_process_pool(tmp_path, mnist_path, monkeypatch, capsys):
    monkeypatch.setenv("DCSIM_PLUGINS", PLUGINS)
    out = tmp_path / "o"
    assert main(["dse", str(_sweep(tmp_path, mnist_path)), "--out", str(out), "--jobs", "2", "--quiet"]) == 0
    assert "2 compressions run" in capsys.readouterr().out
    with open(out / "results.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 4 and all(r["status"] == "ok" for r in rows)
    macs = 785 * 300 + 301 * 100 + 101 * 10          # LeNet-300-100 with its bias columns
    for r in rows:
        assert r["accel.kind"] == "dense" and r["verified"] == "True"
        n = int(r["accel.macs_per_cycle"])
        assert float(r["cycles_per_input"]) == sum(math.ceil(m / n) for m in (785 * 300, 301 * 100, 101 * 10))
        assert float(r["latency_us"]) == pytest.approx(float(r["cycles_per_input"]) / 500.0)
        assert float(r["energy_weight_sram_pJ"]) > 0 and float(r["energy_mac_pJ"]) > 0
        assert float(r["energy_pJ"]) == pytest.approx(float(r["energy_weight_sram_pJ"]) + float(r["energy_mac_pJ"]))
        assert r["test_error_pct"] not in ("", "None") and r["engine_error_pct"] not in ("", "None")
    sign = [r for r in rows if r["compress.quantizer"] == "sign"]
    kmeans = [r for r in rows if r["compress.quantizer"] == "kmeans"]
    # 2-bit codes (zero, +s, -s) against the recipe's 6 bits: a smaller P+Q form
    assert float(sign[0]["storage_bits_pq"]) < float(kmeans[0]["storage_bits_pq"])
    assert macs == 785 * 300 + 301 * 100 + 101 * 10
    from compress.model import load
    for a in (out / "cache" / "compress").glob("*.dcz"):
        cm = load(a)
        if cm.compression.quantizer == "sign":
            for layer in cm.layers:
                c = layer.centroids
                assert layer.bits == 2 and c[0] == 0 and c[1] == -c[2] > 0
