"""A model of the user's own, end to end through the CLI: a small CNN trained here in PyTorch,
exported to ONNX, then compress (measured, retrained) -> simulate --verify (conv layers included)
-> energy -> report -> verilog of one conv and one FC layer."""
from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("torch")

from dcsim.cli import main  # noqa: E402
from tests.network.onnx_models import export, small_cnn, train_quickly  # noqa: E402


@pytest.fixture(scope="module")
def cnn_files(tmp_path_factory):
    from network.mnist import load_mnist

    d = tmp_path_factory.mktemp("cnn")
    ds = load_mnist(None, progress=False)
    x, y = ds.train_images[:3000, None], ds.train_labels[:3000]
    model = train_quickly(small_cnn(seed=0), x, y, epochs=2)
    (d / "cnn.onnx").write_bytes(export(model, (1, 28, 28)))
    np.savez(d / "eval.npz", x=ds.test_images[:400, None], y=ds.test_labels[:400].astype(np.int64))
    np.savez(d / "train.npz", x=x, y=y.astype(np.int64))
    (d / "recipe.toml").write_text("[compress]\ndensity = 0.3\nretrain_epochs = 1\nfinetune_epochs = 1\n"
                                   "[compress.layer_density]\n\"0\" = 0.8\n")
    return d


def test_cnn_from_onnx_end_to_end(cnn_files, capsys):
    d = cnn_files
    out = d / "run"
    assert main(["compress", "--onnx", str(d / "cnn.onnx"), "--eval-data", str(d / "eval.npz"), "--train-data",
                 str(d / "train.npz"), "--config", str(d / "recipe.toml"), "--out", str(out), "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "Accuracy at each stage on 400 labelled samples" in text and "not measured" not in text
    comp = json.loads((out / "compression.json").read_text())
    t = comp["total"]
    assert t["baseline_test_error_pct"] < 25 and t["test_error_pct"] < 30      # measured, and not wrecked
    assert [l["layer"] for l in comp["layers"]] == ["0", "3", "7", "9"]

    assert main(["simulate", str(out / "model.dcz"), "--inputs", str(d / "eval.npz"), "--count", "40", "--verify",
                 "--pes", "8", "--out", str(out), "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "verified" in text and "Not mapped to the accelerator" in text and "accuracy on 40 inputs" in text
    sim = json.loads((out / "sim.json").read_text())
    assert sim["verified"] and sim["accuracy"]["n"] == 40
    assert [l["vectors_per_input"] for l in sim["layers"]] == [28 * 28, 14 * 14, 1, 1]
    assert all(l["inputs"] == 40 for l in sim["layers"])
    assert {h["op"] for h in sim["host_ops"]} == {"maxpool", "flatten"}
    outs = np.load(out / "sim_outputs.npz")
    assert outs["outputs"].shape == (40, 10) and outs["predictions"].shape == (40,)
    labels = np.load(d / "eval.npz")["y"][:40]
    assert abs(100 * np.mean(outs["predictions"] != labels) - sim["accuracy"]["engine_fixed_point_error_pct"]) < 1e-9

    assert main(["energy", str(out / "model.dcz"), "--inputs", str(d / "eval.npz"), "--count", "40", "--pes", "8",
                 "--out", str(out), "--quiet"]) == 0
    energy = json.loads((out / "energy.json").read_text())
    assert [l["layer"] for l in energy["layers"]] == ["0", "3", "7", "9"]
    assert energy["layers"][0]["total_pJ"] > 0 and energy["layers"][1]["cycles"] > energy["layers"][3]["cycles"]
    capsys.readouterr()

    assert main(["report", str(out / "model.dcz"), "--inputs", str(d / "eval.npz"), "--count", "40", "--pes", "8",
                 "--out", str(out), "--quiet"]) == 0
    md = (out / "report.md").read_text()
    assert "## Not mapped to the accelerator" in md and "| P+Q+H |" in md and "Fixed-point engine on 40" in md


def test_without_eval_data_accuracy_is_not_measured_and_large_errors_warn(cnn_files, capsys):
    d = cnn_files
    out = d / "blind"
    assert main(["compress", "--onnx", str(d / "cnn.onnx"), "--out", str(out), "--quiet"]) == 0
    cap = capsys.readouterr()
    assert "NOT MEASURED" in cap.out and "accuracy not measured" in cap.out
    assert "warning: accuracy not measured" in cap.err and "--max-accuracy-drop" in cap.err


def test_accuracy_budget_and_sensitivity(cnn_files, capsys):
    d = cnn_files
    out = d / "budget"
    assert main(["compress", "--onnx", str(d / "cnn.onnx"), "--eval-data", str(d / "eval.npz"),
                 "--max-accuracy-drop", "1.0", "--out", str(out), "--quiet"]) == 0
    comp = json.loads((out / "compression.json").read_text())
    t = comp["total"]
    assert (100 - t["test_error_pct"]) >= (100 - t["baseline_test_error_pct"]) - 1.0 - 1e-9
    assert comp["budget"]["budget_met"] and comp["sensitivity"]["rows"]
    assert (out / "sensitivity.png").is_file()
    assert t["compression_rate_pqh"] > 4


@pytest.mark.parametrize("layer", ["3", "9"], ids=["conv", "fc"])
def test_verilog_of_an_imported_conv_and_fc_layer(cnn_files, capsys, layer):
    """The RTL of one layer of the imported CNN, on a small FPGA machine, equals the engine on the
    layer's product with the most nonzero inputs (for the conv layer: one output position)."""
    import json as js

    d = cnn_files
    arch = d / "fpga-arch"
    if not (arch / "model.dcz").is_file():
        assert main(["compress", "--onnx", str(d / "cnn.onnx"), "--config", str(d / "recipe.toml"), "--out",
                     str(arch), "--quiet"]) == 0
    out = d / f"verilog-{layer}"
    assert main(["verilog", str(arch / "model.dcz"), "--archive-layer", layer, "--inputs", str(d / "eval.npz"),
                 "--config", "examples/fpga.toml", "--pes", "4", "--out", str(out), "--quiet"]) == 0
    cap = capsys.readouterr()
    assert "eie_top.v" in cap.out and (out / "eie_top.v").is_file()
    if layer == "3":
        assert "product" in cap.err and "of 196" in cap.err          # one of the 14x14 output positions
    manifest = js.loads((out / "eie_top.json").read_text())
    assert manifest["verilog"] == "eie_top.v" and manifest["memories"]
