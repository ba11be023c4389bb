"""Import and float evaluation of 1M-parameter ONNX models: seconds, not minutes.

Exports two models of about a million parameters from PyTorch (an MLP 784-1024-256-10 and a
CNN with padded convs, BatchNorm, pooling and two FC layers), then times
``network.onnx_import.network_from_onnx`` and the float forward pass of the imported network on
10,000 random samples (and checks it against PyTorch). Writes a JSON with the config.

    .venv/bin/python benchmarks/onnx_import.py --out runs/bench/onnx_import.json
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine_info, write_json  # noqa: E402


def _models():
    import torch.nn as nn

    mlp = nn.Sequential(nn.Flatten(), nn.Linear(784, 1024), nn.ReLU(), nn.Linear(1024, 256), nn.ReLU(),
                        nn.Linear(256, 10))
    cnn = nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Flatten(), nn.Linear(64 * 7 * 7, 256), nn.ReLU(), nn.Linear(256, 10))
    return {"mlp-784-1024-256-10": mlp, "cnn-32-64-256-10": cnn}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="runs/bench/onnx_import.json")
    ap.add_argument("--samples", type=int, default=10000)
    a = ap.parse_args(argv)
    import torch

    from network.onnx_import import network_from_onnx
    from tests.network.onnx_models import export

    torch.manual_seed(0)
    rows = []
    x = np.random.default_rng(0).random((a.samples, 1, 28, 28)).astype(np.float32)
    with tempfile.TemporaryDirectory() as d:
        for name, m in _models().items():
            m.eval()
            params = sum(p.numel() for p in m.parameters())
            path = Path(d) / f"{name}.onnx"
            path.write_bytes(export(m, (1, 28, 28)))
            t = time.perf_counter()
            net = network_from_onnx(path)
            t_import = time.perf_counter() - t
            t = time.perf_counter()
            logits = np.concatenate([net.forward(x[i:i + 1000]) for i in range(0, len(x), 1000)])
            t_fwd = time.perf_counter() - t
            with torch.no_grad():
                ref = m(torch.from_numpy(x[:1000])).numpy()
            rows.append({"model": name, "parameters": int(params), "onnx_bytes": path.stat().st_size,
                         "import_s": t_import, "forward_s": t_fwd, "samples": a.samples,
                         "max_abs_diff_vs_torch": float(np.abs(logits[:1000] - ref).max())})
            print(f"{name}: {params:,} parameters; import {t_import:.2f} s, float forward of {a.samples} "
                  f"samples {t_fwd:.2f} s")
    write_json(a.out, {"benchmark": "onnx_import", "config": {"samples": a.samples}, "machine": machine_info(),
                       "models": rows})
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    sys.exit(main())
