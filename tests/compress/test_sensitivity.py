"""compress/sensitivity.py (the per-layer scan and the accuracy budget), reports/sensitivity.py
(its table and plot) and CompressionConfig.check_layer_names, on a toy network trained in a
fraction of a second on a synthetic, separable data set (and once on LeNet-300-100 + MNIST)."""
import json
import math

import numpy as np
import pytest

from arch.configio import ConfigError
from arch.errors import DcsimError
from compress.config import CompressionConfig
from compress.methods import QUANTIZERS, Quantizer, quantize_matrix
from compress.pipeline import step_prune, step_quantize
from compress.sensitivity import (DEFAULT_BITS, DEFAULT_DENSITIES, SensitivityError, SensitivityResult,
                                  budget_recipe, estimated_layer_bits, sensitivity_scan)
from compress.storage import encode_form
from network.graph import LayerKind, LayerSpec, Network, init_params
from network.train import train

CFG = CompressionConfig(kmeans_max_iter=100)
BUDGETS = (0.0, 0.3, 0.6, 1.0, 2.0, 4.0, 8.0, 100.0)


def _quiet(*_):
    pass


@pytest.fixture(scope="module")
def toy():
    """(net, evaluate, x, y): a 12-40-24-4 MLP trained on four Gaussian clusters."""
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(4, 12))

    def make(n):
        y = rng.integers(0, 4, n)
        return (centers[y] + 0.9 * rng.normal(size=(n, 12))).astype(np.float32), y.astype(np.int64)

    x_tr, y_tr = make(1200)
    x, y = make(800)
    specs = [LayerSpec("fc1", LayerKind.FC, (40, 12), relu=True), LayerSpec("fc2", LayerKind.FC, (24, 40), relu=True),
             LayerSpec("fc3", LayerKind.FC, (4, 24), relu=False)]
    net = init_params(Network("toy", (12,), specs), 0)
    train(net, x_tr, y_tr, epochs=15, lr=0.05, momentum=0.9, weight_decay=1e-4, batch_size=32, seed=0, progress=False)

    def evaluate(n):
        return 100.0 - n.error_pct(x, y)

    assert evaluate(net) > 90
    return net, evaluate, x, y


@pytest.fixture(scope="module")
def scan(toy):
    net, evaluate, _, _ = toy
    return sensitivity_scan(net, CFG, evaluate, progress=False)


def _names(net):
    return [s.name for s in net.specs]


def _pipeline_accuracy(net, cfg, evaluate):
    """The accuracy of ``net`` pruned and quantized by the pipeline's own stages with ``cfg``, no retraining."""
    work = net.copy()
    step_prune(work, cfg, None, progress=False, log=_quiet)
    step_quantize(work, cfg, None, progress=False, log=_quiet)
    return evaluate(work)


# ----------------------------------------------------------------------------------- the scan
def test_scan_has_one_row_per_layer_and_setting(toy, scan):
    net, evaluate, _, _ = toy
    assert len(scan.rows) == len(net.specs) * (len(DEFAULT_DENSITIES) + len(DEFAULT_BITS))
    assert scan.baseline_accuracy_pct == evaluate(net)
    assert [l["layer"] for l in scan.layers] == _names(net)
    for s in net.specs:
        prune = scan.rows_for(s.name, "prune")
        quant = scan.rows_for(s.name, "quantize")
        assert [r["density"] for r in prune] == sorted(DEFAULT_DENSITIES, reverse=True)
        assert [r["bits"] for r in quant] == sorted(DEFAULT_BITS, reverse=True)
        assert all(r["kind"] == "fc" and r["bits"] is None for r in prune)
        assert all(r["density"] is None for r in quant)
        for r in prune + quant:
            assert r["drop_pct"] == pytest.approx(scan.baseline_accuracy_pct - r["accuracy_pct"], abs=1e-12)
        for r in prune:   # the density pruner keeps round(density x n) weights
            assert r["kept_pct"] == pytest.approx(100 * round(r["density"] * np.prod(s.shape)) / np.prod(s.shape))


def test_dense_density_gives_drop_zero_and_the_network_is_left_alone(toy, scan):
    net, evaluate, _, _ = toy
    before = {k: v.copy() for k, v in net.params.items()}
    again = sensitivity_scan(net, CFG, evaluate, densities=(1.0, 0.3), bits=(4,), progress=False)
    assert all(np.array_equal(before[k], net.params[k]) for k in before)
    dense = [r for r in scan.rows if r["method"] == "prune" and r["density"] == 1.0]
    assert len(dense) == len(net.specs)
    assert all(r["drop_pct"] == 0.0 and r["accuracy_pct"] == scan.baseline_accuracy_pct for r in dense)
    # the same settings give the same numbers (nothing random)
    for r in again.rows:
        same = [q for q in scan.rows if (q["layer"], q["method"], q["density"], q["bits"])
                == (r["layer"], r["method"], r["density"], r["bits"])]
        assert len(same) == 1 and same[0]["accuracy_pct"] == r["accuracy_pct"]


def test_scan_measures_what_it_says(toy, scan):
    """A row's accuracy is the network with that layer alone pruned (quantized) by the recipe's methods."""
    net, evaluate, _, _ = toy
    from compress.methods import prune_mask
    from network.graph import augmented, set_augmented

    w = net.copy()
    w.params["fc2"] = w.params["fc2"] * prune_mask(w.params["fc2"], "fc2", CFG.replace(layer_density={"fc2": 0.2}))
    assert evaluate(w) == [r for r in scan.rows_for("fc2", "prune") if r["density"] == 0.2][0]["accuracy_pct"]
    w = net.copy()
    q = quantize_matrix(augmented(w, "fc1"), 3, CFG)
    set_augmented(w, "fc1", q.centroids[q.idx])
    assert evaluate(w) == [r for r in scan.rows_for("fc1", "quantize") if r["bits"] == 3][0]["accuracy_pct"]


def test_scan_to_dict_is_json_and_round_trips(scan):
    doc = json.loads(json.dumps(scan.to_dict()))
    back = SensitivityResult.from_dict(doc)
    assert back.to_dict() == scan.to_dict()
    with pytest.raises(SensitivityError, match="not a sensitivity scan"):
        SensitivityResult.from_dict({"rows": []})


@pytest.mark.parametrize("kwargs, fragment", [
    (dict(densities=(0.5, 0.0)), "density 0.0 is not allowed; use numbers in \\(0, 1\\]"),
    (dict(densities=(1.5,)), "density 1.5 is not allowed"),
    (dict(bits=(9,)), "bits 9 is not allowed; use integers in 1..8"),
    (dict(bits=(4.0,)), "bits 4.0 is not allowed"),
])
def test_scan_rejects_bad_settings(toy, kwargs, fragment):
    net, evaluate, _, _ = toy
    with pytest.raises(SensitivityError, match=fragment):
        sensitivity_scan(net, CFG, evaluate, progress=False, **kwargs)


@pytest.mark.parametrize("value", [None, float("nan"), "high"])
def test_an_evaluate_that_returns_no_number_is_an_error(toy, value):
    net, _, _, _ = toy
    with pytest.raises(SensitivityError, match="evaluate returned .* for the float network"):
        sensitivity_scan(net, CFG, lambda n: value, progress=False)


# --------------------------------------------------------------------------------- the budget
@pytest.mark.parametrize("budget", [0.5, 2.0])
def test_budget_recipe_respects_the_budget_and_the_pipeline_agrees(toy, scan, budget):
    net, evaluate, _, _ = toy
    cfg, summary = budget_recipe(net, CFG, evaluate, budget, scan)
    assert summary["budget_met"] and summary["drop_pct"] <= budget + 1e-9
    assert summary["baseline_accuracy_pct"] == scan.baseline_accuracy_pct
    # every layer has its own density and bits, from the scanned values
    assert set(cfg.layer_density) == set(cfg.layer_bits) == set(_names(net))
    assert all(d in DEFAULT_DENSITIES for d in cfg.layer_density.values())
    assert all(b in DEFAULT_BITS for b in cfg.layer_bits.values())
    cfg.check_layer_names(_names(net))
    # the pipeline's own stages with the returned config measure the same accuracy: within the budget
    acc = _pipeline_accuracy(net, cfg, evaluate)
    assert acc == summary["accuracy_pct"]
    assert scan.baseline_accuracy_pct - acc <= budget + 1e-9
    # the summary is plain data and its estimate adds up
    json.dumps(summary)
    assert summary["estimated_storage_bits"] == sum(l["estimated_bits"] for l in summary["layers"])
    assert summary["dense_bits"] == 32 * sum(np.prod(s.shape) + s.n_out for s in net.specs)
    assert summary["estimated_compression_rate"] == pytest.approx(summary["dense_bits"] / summary["estimated_storage_bits"])
    assert summary["estimated_compression_rate"] > 1
    for l in summary["layers"]:   # no layer gets a setting that alone costs more than the budget
        assert l["prune_drop_pct"] <= budget + 1e-9 and l["quantize_drop_pct"] <= budget + 1e-9


def test_a_tighter_budget_never_gives_a_higher_rate(toy, scan):
    net, evaluate, _, _ = toy
    results = [budget_recipe(net, CFG, evaluate, b, scan)[1] for b in BUDGETS]
    rates = [s["estimated_compression_rate"] for s in results]
    assert rates == sorted(rates), list(zip(BUDGETS, rates))
    assert all(s["budget_met"] and s["drop_pct"] <= b + 1e-9 for b, s in zip(BUDGETS, results))
    assert rates[-1] > rates[0]
    # a budget of 100 points takes the whole path: every layer at its tightest scanned setting
    loosest = results[-1]
    assert loosest["moves_undone"] == 0 and len(loosest["moves"]) == loosest["moves_on_path"]


def test_budget_recipe_is_deterministic(toy, scan):
    net, evaluate, _, _ = toy
    a = budget_recipe(net, CFG, evaluate, 1.0, scan)
    b = budget_recipe(net, CFG, evaluate, 1.0, scan)
    assert a[0] == b[0] and a[1] == b[1]


def _doctored(scan, layer, method, drop):
    """The scan with every non-dense setting of ``layer``/``method`` made to cost ``drop`` points alone."""
    doc = scan.to_dict()
    for r in doc["rows"]:
        if r["layer"] == layer and r["method"] == method and r["density"] != 1.0 and r["bits"] != max(scan.bits):
            r["drop_pct"] = drop
            r["accuracy_pct"] = doc["baseline_accuracy_pct"] - drop
    return SensitivityResult.from_dict(doc)


def test_a_layer_whose_every_density_exceeds_the_budget_stays_dense(toy, scan):
    net, evaluate, _, _ = toy
    doctored = _doctored(_doctored(scan, "fc1", "prune", 3.0), "fc2", "quantize", 3.0)
    cfg, summary = budget_recipe(net, CFG, evaluate, 2.0, doctored)
    assert cfg.layer_density["fc1"] == 1.0
    assert cfg.layer_bits["fc2"] == max(scan.bits)
    fc1 = summary["layers"][0]
    assert fc1["density"] == 1.0 and fc1["kept_pct"] == 100.0
    # with a budget above that cost the layer may be pruned again
    cfg, _ = budget_recipe(net, CFG, evaluate, 100.0, doctored)
    assert cfg.layer_density["fc1"] < 1.0


def test_the_threshold_pruner_gets_the_quality_of_each_density(toy):
    net, evaluate, _, _ = toy
    cfg = CFG.replace(prune_method="threshold")
    scan = sensitivity_scan(net, cfg, evaluate, densities=(1.0, 0.5, 0.2), bits=(6, 4), progress=False)
    for r in scan.rows_for(method="prune"):
        assert r["kept_pct"] == pytest.approx(100 * r["density"], abs=1.0)
    out, summary = budget_recipe(net, cfg, evaluate, 1.0, scan)
    assert set(out.layer_quality) == set(_names(net)) and not out.layer_density
    masks = step_prune(net.copy(), out, None, progress=False, log=_quiet)
    for l in summary["layers"]:
        assert 100 * masks[l["layer"]].mean() == pytest.approx(l["kept_pct"])
        assert l["kept_pct"] == pytest.approx(100 * l["density"], abs=1.0)
    assert _pipeline_accuracy(net, out, evaluate) == summary["accuracy_pct"]


class _FixedTwoBits(Quantizer):
    """A quantizer that ignores layer_bits: 2 bits, sign and one scale."""
    finetune = False

    def bits_for(self, cfg, layer, kind):
        return 2

    def share(self, values, bits, cfg):
        c = np.zeros(1 << bits, dtype=np.float32)
        c[1], c[2] = np.mean(np.abs(values)), -np.mean(np.abs(values))
        return np.where(values > 0, 1, 2), c


def test_a_quantizer_that_fixes_its_bits_is_not_given_other_widths(toy):
    net, evaluate, _, _ = toy
    QUANTIZERS.register("fixed-two-test", _FixedTwoBits())
    try:
        cfg = CFG.replace(quantizer="fixed-two-test")
        scan = sensitivity_scan(net, cfg, evaluate, densities=(1.0, 0.5), bits=(4, 2), progress=False)
        out, summary = budget_recipe(net, cfg, evaluate, 100.0, scan)
        assert set(out.layer_bits.values()) == {2} and {l["bits"] for l in summary["layers"]} == {2}
        assert not any(m["method"] == "quantize" for m in summary["moves"])
    finally:
        QUANTIZERS.unregister("fixed-two-test")


def test_budget_recipe_rejects_what_does_not_fit(toy, scan):
    net, evaluate, x, y = toy
    for bad in (-1, float("nan"), 101, True, "1"):
        with pytest.raises(SensitivityError, match="max accuracy drop .* is not allowed"):
            budget_recipe(net, CFG, evaluate, bad, scan)
    with pytest.raises(SensitivityError, match="the scan was made on another network or evaluation set"):
        budget_recipe(net, CFG, lambda n: 100.0 - n.error_pct(x[:100], y[:100]), 1.0, scan)
    with pytest.raises(SensitivityError, match="the recipe uses 'threshold'"):
        budget_recipe(net, CFG.replace(prune_method="threshold"), evaluate, 1.0, scan)
    other = Network("other", (12,), [net.specs[0], LayerSpec("out", LayerKind.FC, (4, 40), relu=False)])
    init_params(other, 1)
    with pytest.raises(SensitivityError, match="the scan covers the layers fc1, fc2, fc3 but the network has fc1, out"):
        budget_recipe(other, CFG, evaluate, 1.0, scan)
    assert issubclass(SensitivityError, DcsimError)


def test_budget_recipe_scans_when_no_scan_is_given(toy, scan):
    net, evaluate, _, _ = toy
    assert budget_recipe(net, CFG, evaluate, 1.0, progress=False) == budget_recipe(net, CFG, evaluate, 1.0, scan)


@pytest.mark.parametrize("rel_bits", [1, 2, 3, 5])
def test_the_storage_estimate_counts_the_entries_of_the_storage_form(rel_bits):
    rng = np.random.default_rng(rel_bits)
    a = rng.normal(size=(17, 41)) * (rng.random((17, 41)) < 0.15)
    a[3] = 0                                           # an empty row
    q = quantize_matrix(a, 3, CFG)
    form = encode_form(q.idx, 3, rel_bits)
    est = estimated_layer_bits(a != 0, 3, rel_bits)
    assert est["entries"] == form.n_entries
    assert est["estimated_bits"] == form.n_entries * (3 + rel_bits) + 8 * 32
    assert est["dense_bits"] == 32 * a.size


def test_lenet_300_100_on_mnist(mnist_path):
    """The real thing, small: LeNet-300-100 trained one epoch on 2,000 MNIST images."""
    from compress.recipes import default_recipe
    from network import mnist, models

    ds = mnist.load_subset(mnist.load_folder(mnist_path), 2000, 500, seed=0)
    net = models.build("lenet-300-100", seed=0)
    train(net, ds.train_images, ds.train_labels, epochs=1, lr=0.05, momentum=0.9, weight_decay=1e-4,
          batch_size=64, seed=0, progress=False)

    def evaluate(n):
        return 100.0 - n.error_pct(ds.test_images, ds.test_labels)

    cfg = default_recipe("lenet-300-100").replace(kmeans_max_iter=100)
    scan = sensitivity_scan(net, cfg, evaluate, densities=(1.0, 0.5, 0.2, 0.1, 0.05), bits=(8, 6, 4, 2),
                            progress=False)
    fc1 = {r["density"]: r["drop_pct"] for r in scan.rows_for("fc1", "prune")}
    assert fc1[1.0] == 0 and fc1[0.05] > fc1[0.5]      # pruning 95% of fc1 hurts more than 50%
    rates = []
    for budget in (0.5, 2.0):
        out, summary = budget_recipe(net, cfg, evaluate, budget, scan)
        assert summary["budget_met"] and _pipeline_accuracy(net, out, evaluate) == summary["accuracy_pct"]
        assert summary["drop_pct"] <= budget + 1e-9
        rates.append(summary["estimated_compression_rate"])
    assert 1 < rates[0] <= rates[1]


# ------------------------------------------------------------------------------------ reports
def test_sensitivity_table_is_markdown_with_units(scan):
    from reports.sensitivity import sensitivity_table

    text = sensitivity_table(scan)
    assert text == sensitivity_table(scan.to_dict())
    lines = text.splitlines()
    assert "| layer | kind | density (%) | kept (%) | accuracy (%) | drop (points) |" in lines
    assert "| layer | kind | bits | accuracy (%) | drop (points) |" in lines
    assert sum(1 for ln in lines if ln.startswith("| fc")) == len(scan.rows)
    assert "| fc1 | fc | 100.00 | 100.00 |" in text and "| fc3 | fc | 2 |" in text


def test_budget_table(toy, scan):
    from reports.sensitivity import budget_table

    net, evaluate, _, _ = toy
    _, summary = budget_recipe(net, CFG, evaluate, 1.0, scan)
    text = budget_table(summary)
    assert "| layer | kind | density (%) | kept (%) | bits |" in text
    assert "within the budget of 1.00 points" in text and "Estimated compression rate" in text


def test_plot_sensitivity(tmp_path, scan):
    from reports.sensitivity import plot_sensitivity
    from tests.reports.figure_checks import readability_problems

    path = tmp_path / "sensitivity.png"
    fig = plot_sensitivity(scan, path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not [p for p in tmp_path.iterdir() if p.name != "sensitivity.png"]     # no temporary left
    ax_p, ax_q = fig.axes[:2]
    assert ax_p.get_xlabel() == "density: weights kept (%)" and ax_q.get_xlabel() == "codebook index bits"
    assert ax_p.get_ylabel() == ax_q.get_ylabel() == "accuracy (%)"
    for ax, n in ((ax_p, len(scan.densities)), (ax_q, len(scan.bits))):
        layer_lines = [ln for ln in ax.lines if ln.get_label() in ("fc1", "fc2", "fc3")]
        assert len(layer_lines) == 3 and all(len(ln.get_xdata()) == n for ln in layer_lines)
        assert ax.xaxis_inverted()
    assert readability_problems(fig) == []
    plot_sensitivity(scan.to_dict(), tmp_path / "again.png")
    with pytest.raises(ValueError, match="not a sensitivity scan"):
        plot_sensitivity({"rows": []}, None)


# ------------------------------------------------------------------- CompressionConfig.check_layer_names
LAYERS = ["fc1", "fc2", "fc3"]


@pytest.mark.parametrize("table, value", [("layer_density", 0.5), ("layer_quality", 1.0), ("layer_bits", 4)])
def test_check_layer_names_names_the_table_the_key_and_the_layers(table, value):
    cfg = CompressionConfig(**{table: {"fc1": value, "fc_1": value}})
    with pytest.raises(ConfigError) as ei:
        cfg.check_layer_names(LAYERS)
    msg = str(ei.value)
    assert msg == f"[compress.{table}] fc_1: no such layer; the layers are fc1, fc2, fc3"
    assert "\n" not in msg


def test_check_layer_names_passes_valid_names_and_checks_tables_in_order():
    CompressionConfig().check_layer_names(LAYERS)
    CompressionConfig(layer_density={"fc1": 0.1}, layer_quality={"fc2": 1.0}, layer_bits={"fc3": 4}
                      ).check_layer_names(LAYERS)
    CompressionConfig().check_layer_names([])
    bad = CompressionConfig(layer_bits={"conv9": 4}, layer_density={"fc4": 0.5})
    with pytest.raises(ConfigError, match=r"^\[compress.layer_density\] fc4: no such layer"):
        bad.check_layer_names(LAYERS)
    with pytest.raises(ConfigError, match="the network has no weight layers"):
        bad.check_layer_names([])
    assert math.isclose(bad.density_for("fc4"), 0.5)    # the check does not change the config
