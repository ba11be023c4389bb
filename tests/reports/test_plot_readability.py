"""Every plot reads well, measured on the rendered figure (tests/reports/figure_checks.py): no text
outside the figure (titles whole), no legend larger than its axes, no overlapping annotations.

The figures are built from rows like the demo sweep's (examples/dse/demo.toml: long compression
settings, several models), from the fixtures of the other plot tests, and from harder cases
(many lines, long archive paths, long titles)."""
import numpy as np
import pytest

from reports.dse import (plot_accuracy_vs_rate, plot_dse_energy_breakdown, plot_dse_fifo, plot_dse_speedup,
                         plot_pareto, plot_resources, plot_waterfall)
from reports.plots import plot_fifo_sweep, plot_pe_scaling

from .figure_checks import clipped_texts, overlapping_annotations, oversized_legends, readability_problems
from .sweep_rows import (demo_manifest, demo_rows, grid_rows, layer_rows_of, model_row, result_row, sweep_manifest,
                         synth_row)

LONG_ARCHIVES = tuple(f"archive:/home/someone/experiments/2024/run-{k:02d}/lenet-300-100-pruned.dcz"
                      for k in range(20))
LONG_SETTINGS = {"compress.layer_density": '{"fc1": 0.065, "fc2": 0.08, "fc3": 0.25, "fc4": 0.3, "fc5": 0.5}',
                 "compress.prune_method": "magnitude-with-a-very-long-method-name"}


def _demo_layer_rows():
    return [lr for r in demo_rows() for lr in layer_rows_of(r, layers=("fc1", "fc2", "fc3"))]


def _long_groups():
    """20 groups (FIFO x PEs of 20 archives with long paths) and long constant settings."""
    rows = grid_rows(depths=(1, 2, 4, 8), pes=(16, 64), workloads=LONG_ARCHIVES[:10])
    for r in rows:
        r.update(LONG_SETTINGS)
    axes = ["accel.fifo_depth", "accel.n_pe", *LONG_SETTINGS]
    rows.append(result_row(len(rows), LONG_ARCHIVES[0], fifo=8, n_pe=16, **{**LONG_SETTINGS,
                                                                             "compress.prune_method": "other"}))
    return rows, sweep_manifest(axes=axes)


def _many_models():
    """12 distinct models (the waterfall shows 8), each with its own long per-layer densities."""
    return [model_row(k, fc_bits=2 + k % 4, kept=4.0 + k, rate_pq=30.0 + k, rate_pqh=40.0 + 2 * k,
                      **{"compress.layer_density": f'{{"fc1": 0.0{k + 1}, "fc2": 0.08, "fc3": 0.25}}',
                         "compress.retrain_epochs": k})
            for k in range(12)]


def _energy_several_workloads():
    rows = [result_row(k, w) for k, w in enumerate(LONG_ARCHIVES[:7])]
    return rows, [lr for r in rows for lr in layer_rows_of(r, layers=("fc1", "fc2", "fc3", "fc4"))]


DEPTHS = [1, 2, 4, 8, 16, 32, 64, 128, 256]
EIE_LAYERS = ["Alex-6", "Alex-7", "Alex-8", "VGG-6", "VGG-7", "VGG-8", "NT-We", "NT-Wd", "NT-LSTM"]

FIGURES = {
    # the demo sweep's plots
    "demo pareto": lambda: plot_pareto(demo_rows()),
    "demo fifo": lambda: plot_dse_fifo(demo_rows(), demo_manifest()),
    "demo speedup": lambda: plot_dse_speedup(demo_rows(), demo_manifest()),
    "demo energy breakdown": lambda: plot_dse_energy_breakdown(demo_rows(), _demo_layer_rows()),
    "demo waterfall": lambda: plot_waterfall(demo_rows()),
    "demo accuracy": lambda: plot_accuracy_vs_rate(demo_rows()),
    # the other tests' fixtures
    "fifo groups": lambda: plot_dse_fifo(grid_rows(workloads=("eie:alex-7", "eie:vgg-7")), sweep_manifest()),
    "fifo 20 lines capped": lambda: plot_dse_fifo(
        grid_rows(depths=(1, 4), pes=(8,), workloads=tuple(f"eie:l{k}" for k in range(20))), sweep_manifest()),
    "speedup": lambda: plot_dse_speedup(grid_rows(depths=(2, 8), pes=(8, 16, 64)), sweep_manifest()),
    "energy breakdown 14 workloads": lambda: plot_dse_energy_breakdown(
        [result_row(k, f"eie:w{k}") for k in range(14)],
        [lr for k in range(14) for lr in layer_rows_of(result_row(k, f"eie:w{k}"), layers=("l",))]),
    "waterfall two models": lambda: plot_waterfall([model_row(0, fc_bits=4), model_row(1, fc_bits=2, rate_pq=60.0,
                                                                                        rate_pqh=75.0)]),
    "resources": lambda: plot_resources([synth_row(0, 1, 528, 264, 3, 1), synth_row(1, 2, 1056, 528, 6, 2),
                                         synth_row(2, 4, 2112, 1056, 12, 4)]),
    "resources two targets": lambda: plot_resources(
        [synth_row(0, 1, 528, 264, 3, 1), synth_row(1, 2, 1056, 528, 6, 2), synth_row(3, 2, 900, 500, 5, 2),
         synth_row(2, 4, 2112, 1056, 12, 4), synth_row(5, 1, 1000, 100, 1, 0, target="ecp5", device="LFE5U-25F"),
         synth_row(6, 4, 3000, 400, 4, 0, target="ecp5", device="LFE5U-25F")]),
    # harder: long paths, long settings, many lines and models
    "fifo long labels and title": lambda: plot_dse_fifo(*_long_groups()),
    "speedup long labels and title": lambda: plot_dse_speedup(*_long_groups()),
    "pareto 12 archives": lambda: plot_pareto([result_row(k, LONG_ARCHIVES[k % 12], latency_us=1.0 + k,
                                                          energy_pJ=100.0 - k) for k in range(24)]),
    "waterfall 8 of 12 models": lambda: plot_waterfall(_many_models()),
    "waterfall two workloads": lambda: plot_waterfall(
        [model_row(0), model_row(1, fc_bits=2, workload=LONG_ARCHIVES[0], workload_kind="archive")]),
    "accuracy two workloads": lambda: plot_accuracy_vs_rate(
        demo_rows() + [model_row(20, workload="model:lenet-5", kept=8.0), model_row(21, workload="model:lenet-5",
                                                                                     kept=100.0)]),
    "energy breakdown long paths": lambda: plot_dse_energy_breakdown(*_energy_several_workloads()),
    # reports.plots (benchmarks/eie_sweeps.py)
    "eie fifo sweep": lambda: plot_fifo_sweep(DEPTHS, {n: list(80 + np.arange(9.0)) for n in EIE_LAYERS}),
    "eie fifo sweep long title": lambda: plot_fifo_sweep(
        DEPTHS, {n: list(80 + np.arange(9.0)) for n in EIE_LAYERS[:3]},
        title="Load-balance efficiency vs FIFO depth (" + ", ".join(f"setting_{k}=value {k}" for k in range(12)) + ")"),
    "eie pe scaling": lambda: plot_pe_scaling(DEPTHS, {n: [float(p) for p in DEPTHS] for n in EIE_LAYERS}),
    "eie pe scaling long names": lambda: plot_pe_scaling(
        DEPTHS, {f"{n} ({LONG_ARCHIVES[k]})": [float(p) for p in DEPTHS] for k, n in enumerate(EIE_LAYERS)}),
}


@pytest.mark.parametrize("name", list(FIGURES))
def test_plot_reads_well(name):
    fig = FIGURES[name]()
    assert readability_problems(fig) == []


def test_demo_fifo_title_is_whole():
    """The FIFO plot's title carries the constant settings (with a per-layer dict): wrapped, not clipped."""
    fig = plot_dse_fifo(demo_rows(), demo_manifest())
    title = fig.axes[0].get_title()
    assert "layer_density={fc1:0.065 fc2:0.08 fc3:0.25}" in title and "retrain_epochs=5" in title
    assert "\n" in title
    assert clipped_texts(fig) == []


def test_demo_waterfall_legend_is_short_and_smaller_than_the_axes():
    """The waterfall's labels name only the settings that tell the models apart; the legend stays
    inside the figure, smaller than the axes, and the axes keep most of the figure."""
    fig = plot_waterfall(demo_rows())
    ax = fig.axes[0]
    labels = ax.get_legend_handles_labels()[1]
    assert labels == ["fc_bits=6, density=0.08", "fc_bits=3, density=0.08", "fc_bits=4, density=0.08",
                      "fc_bits=5, density=0.08", "fc_bits=4, density=1"]
    assert oversized_legends(fig) == [] and clipped_texts(fig) == []
    renderer = fig.canvas.get_renderer()
    axes_box, legend_box = ax.get_window_extent(renderer), ax.get_legend().get_window_extent(renderer)
    assert axes_box.width * axes_box.height > 0.6 * fig.bbox.width * fig.bbox.height
    assert legend_box.width * legend_box.height < 0.25 * axes_box.width * axes_box.height


def test_waterfall_rate_labels_do_not_overlap():
    for rows in (demo_rows(), _many_models()):
        assert overlapping_annotations(plot_waterfall(rows)) == []
