"""A model of your own, end to end: the figures of docs/models.md.

Trains the small CNN of examples/models/mnist_cnn.py in PyTorch on MNIST, exports it to ONNX,
and runs the user's commands on it, timing each:

1. ``dcsim compress --onnx`` with the automatic recipe (``--max-accuracy-drop``), without retraining;
2. the same with retraining (``--train-data``: the MNIST training images, through PyTorch);
3. ``dcsim simulate --verify`` of the retrained model on the MNIST test images (conv layers included);
4. ``dcsim energy`` (reusing that simulation).

Writes a JSON with the config, each step's wall time, the compression rates with the accuracy
at every stage, and the engine's fixed-point accuracy.

    .venv/bin/python benchmarks/own_model.py --out runs/bench/own_model.json
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine_info, write_json  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="runs/bench/own_model.json")
    ap.add_argument("--epochs", type=int, default=2, help="float training epochs of the CNN")
    ap.add_argument("--budget", type=float, default=0.5, help="--max-accuracy-drop (points)")
    ap.add_argument("--count", type=int, default=10000, help="test images simulated")
    a = ap.parse_args(argv)
    import os

    from dcsim.cli import main as dcsim

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples" / "models"))
    import mnist_cnn

    data = Path(os.environ.get("DCSIM_DATA", Path.home() / ".cache" / "dcsim")) / "mnist"
    work = Path(a.out).with_suffix("")
    work.mkdir(parents=True, exist_ok=True)
    steps: dict[str, float] = {}
    t = time.time()
    rc = mnist_cnn.main(["--out", str(work / "cnn.onnx"), "--epochs", str(a.epochs),
                         "--eval-npz", str(work / "test.npz")])
    steps["train_and_export_s"] = time.time() - t
    if rc:
        return rc
    runs = {}
    for label, extra in (("no_retraining", []), ("retrained", ["--train-data", str(data)])):
        t = time.time()
        rc = dcsim(["compress", "--onnx", str(work / "cnn.onnx"), "--eval-data", str(work / "test.npz"),
                    "--max-accuracy-drop", str(a.budget), "--out", str(work / label), "--quiet", *extra])
        steps[f"compress_{label}_s"] = time.time() - t
        if rc:
            return rc
        c = json.loads((work / label / "compression.json").read_text())
        runs[label] = {"total": {k: c["total"].get(k) for k in (
            "compression_rate_p", "compression_rate_pq", "compression_rate_pqh", "weights_kept_pct",
            "baseline_test_error_pct", "pruned_test_error_pct", "test_error_pct", "n_test_images")},
            "layers": [{k: l[k] for k in ("layer", "kind", "n_weights", "weights_kept_pct", "compression_rate_pqh")}
                       for l in c["layers"]],
            "budget": {k: c["budget"][k] for k in ("max_drop_pct", "accuracy_pct", "drop_pct", "budget_met")},
            "stages_s": c["stages_s"]}
    arch = work / "retrained" / "model.dcz"
    t = time.time()
    rc = dcsim(["simulate", str(arch), "--inputs", str(work / "test.npz"), "--count", str(a.count), "--verify",
                "--out", str(work / "retrained"), "--quiet"])
    steps["simulate_verify_s"] = time.time() - t
    if rc:
        return rc
    t = time.time()
    rc = dcsim(["energy", str(arch), "--inputs", str(work / "test.npz"), "--count", str(a.count),
                "--out", str(work / "retrained"), "--quiet"])
    steps["energy_s"] = time.time() - t
    if rc:
        return rc
    sim = json.loads((work / "retrained" / "sim.json").read_text())
    energy = json.loads((work / "retrained" / "energy.json").read_text())
    doc = {"benchmark": "own_model",
           "config": {"epochs": a.epochs, "max_accuracy_drop": a.budget, "count": a.count,
                      "model": "examples/models/mnist_cnn.py"},
           "machine": machine_info(), "steps_s": steps, "compress": runs,
           "simulation": {"verified": sim["verified"], "accuracy": sim.get("accuracy"),
                          "layers": [{k: l[k] for k in ("layer", "rows", "cols", "vectors_per_input",
                                                        "cycles_per_input", "latency_us_per_input")}
                                     for l in sim["layers"]],
                          "host_ops": sim.get("host_ops")},
           "energy_pJ_per_inference": {l["layer"]: l["total_pJ"] for l in energy["layers"]},
           "energy_total_pJ": energy["total"]["total_pJ"]}
    write_json(a.out, doc)
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
