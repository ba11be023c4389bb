"""The issue's acceptance figures on the full MNIST test set (marked slow: `make test-slow`).

LeNet-300-100 takes about a minute, LeNet-5 about 15-20 minutes on 2 cores (the
baselines are trained from scratch: the test cache is private).
"""
import json

import pytest

from dcsim.cli import main

TARGETS = {"lenet-300-100": (40.0, 1.70), "lenet-5": (39.0, 0.90)}


@pytest.mark.slow
@pytest.mark.parametrize("model", sorted(TARGETS))
def test_default_recipe_meets_acceptance(model, tmp_path, mnist_path):
    rate_min, err_max = TARGETS[model]
    out = tmp_path / model
    assert main(["compress", "--model", model, "--data-dir", str(mnist_path), "--out", str(out), "--quiet"]) == 0
    tot = json.loads((out / "compression.json").read_text())["total"]
    assert tot["n_test_images"] == 10000
    assert tot["compression_rate"] >= rate_min, tot
    assert tot["test_error_pct"] <= err_max, tot
