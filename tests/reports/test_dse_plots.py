"""reports/dse.py (reports/dse_plots.py, reports/dse_report.py): the plots and dse.md of a
design-space sweep, from synthetic rows (tests/reports/sweep_rows.py).

Checks what is drawn (points per scatter, lines, their data and labels, units, log axes, bar
heights, annotations), the Pareto front, the grouping of the FIFO and PE sweeps, and which
files write_dse_report writes."""

import numpy as np
import pytest

from arch.config import ACCESS_COMPONENTS as COMPONENTS
from reports.dse import (MAX_BREAKDOWN_WORKLOADS, MAX_PARETO_LABELS, PLOT_FILES, applicable_plots, dse_markdown,
                         pareto_front, plot_accuracy_vs_rate, plot_dse_energy_breakdown, plot_dse_fifo,
                         plot_dse_speedup, plot_pareto, plot_resources, plot_waterfall, varying_axes,
                         write_dse_report)
from reports.dse_plots import plot_area_pareto
from reports.dse_rows import pareto_front_nd

from .sweep_rows import DENSE, grid_rows, layer_rows_of, model_row, result_row, sweep_manifest, synth_row

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _labels(ax):
    return ax.get_legend_handles_labels()[1]


# ----------------------------------------------------------------------------- Pareto

def test_pareto_front_dominated_ties_and_missing():
    xs = [1, 2, 3, 2, 4, 1, 5, 1, None, float("nan")]
    ys = [5, 3, 4, 3, 1, 5, 1, 6, 0, 0]
    # 5 duplicates 0 and 3 duplicates 1 (kept once, lowest index); 2, 6, 7 are dominated; 8, 9 have no x
    assert pareto_front(xs, ys) == [0, 1, 4]
    assert pareto_front([], []) == []
    assert pareto_front([3.0], [2.0]) == [0]
    assert pareto_front([1, 2, 3], [3, 2, 1]) == [0, 1, 2]          # all on the front, sorted by x
    assert pareto_front([3, 1, 2], [1, 3, 2]) == [1, 2, 0]
    with pytest.raises(ValueError):
        pareto_front([1, 2], [1])


def test_plot_pareto_one_front_per_workload_and_failed_rows_excluded(tmp_path):
    a = [result_row(0, fifo=1, n_pe=8, latency_us=4.0, energy_pJ=100.0),
         result_row(1, fifo=1, n_pe=8, latency_us=2.0, energy_pJ=300.0),
         result_row(2, fifo=1, n_pe=8, latency_us=3.0, energy_pJ=400.0),       # dominated by point 1
         result_row(3, fifo=1, n_pe=8, latency_us=1.0, energy_pJ=900.0),
         result_row(4, status="error")]
    b = [result_row(5, "model:lenet-300-100", latency_us=10.0, energy_pJ=50.0),
         result_row(6, "model:lenet-300-100", latency_us=20.0, energy_pJ=60.0)]  # dominated
    path = tmp_path / "p.png"
    fig = plot_pareto(a + b, path=path)
    ax = fig.axes[0]
    assert [len(c.get_offsets()) for c in ax.collections] == [4, 2]
    assert _labels(ax) == ["eie:alex-7", "model:lenet-300-100"]
    front_a, front_b = ax.lines
    assert list(front_a.get_xdata()) == [1.0, 2.0, 4.0] and list(front_a.get_ydata()) == [900.0, 300.0, 100.0]
    assert list(front_b.get_xdata()) == [10.0] and list(front_b.get_ydata()) == [50.0]
    assert sorted(t.get_text() for t in ax.texts) == ["0", "1", "3", "5"]   # front points annotated
    assert "(us)" in ax.get_xlabel() and "(pJ)" in ax.get_ylabel()
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert path.read_bytes()[:8] == PNG_MAGIC
    with pytest.raises(ValueError):
        plot_pareto([result_row(0, status="error")])


def _front(workload, first_point, n):
    """n rows of one workload, all on its Pareto front (latency up, energy down)."""
    return [result_row(first_point + k, workload, latency_us=1.0 + k, energy_pJ=100.0 - k) for k in range(n)]


def test_plot_pareto_annotates_only_few_front_points():
    assert MAX_PARETO_LABELS == 12
    few = _front("eie:alex-7", 0, 7) + _front("eie:vgg-7", 7, 5)                    # 12 front points in all
    texts = sorted(int(t.get_text()) for t in plot_pareto(few).axes[0].texts)
    assert texts == list(range(12))
    many = _front("eie:alex-7", 0, 7) + _front("eie:vgg-7", 7, 6)                   # 13: none annotated
    ax = plot_pareto(many).axes[0]
    assert len(ax.texts) == 0 and [len(c.get_offsets()) for c in ax.collections] == [7, 6]
    assert [len(line.get_xdata()) for line in ax.lines] == [7, 6]                   # the fronts are still drawn
    dominated = _front("eie:alex-7", 0, 3) + [result_row(3 + k, latency_us=50.0, energy_pJ=500.0 + k)
                                              for k in range(20)]
    assert len(plot_pareto(dominated).axes[0].texts) == 3                           # counts front points only


def test_long_archive_paths_are_shortened_in_plots_not_in_tables():
    w = "archive:/home/someone/experiments/2024/run-17/model.dcz"
    rows = [result_row(0, w, latency_us=1.0, energy_pJ=2.0)]
    assert _labels(plot_pareto(rows).axes[0]) == ["archive:.../run-17/model.dcz"]
    assert f"| {w} |" in dse_markdown(rows, sweep_manifest(), {})


# ----------------------------------------------------------------------------- FIFO and PE sweeps

def test_fifo_plot_one_line_per_group():
    rows = grid_rows()
    rows.append(result_row(len(rows), fifo=64, n_pe=8, status="error"))       # failed: not plotted
    fig = plot_dse_fifo(rows, sweep_manifest())
    ax = fig.axes[0]
    assert _labels(ax) == ["eie:alex-7, n_pe=8", "eie:alex-7, n_pe=16", "eie:alex-7, n_pe=32"]
    for line in ax.lines:
        assert list(line.get_xdata()) == [1, 4, 16]
        np.testing.assert_allclose(line.get_ydata(), [100 * 1 / 2, 100 * 4 / 5, 100 * 16 / 17])
    assert "(%)" in ax.get_ylabel() and "(entries)" in ax.get_xlabel()
    assert ax.get_xscale() == "log"


def test_fifo_plot_groups_with_fewer_depths_and_two_workloads():
    rows = grid_rows(workloads=("eie:alex-7", "eie:vgg-7"))
    # point of (alex-7, fifo 4, n_pe 32) failed: that group is drawn through depths 1 and 16 only
    bad = next(r for r in rows if r["workload"] == "eie:alex-7" and r["accel.fifo_depth"] == 4
               and r["accel.n_pe"] == 32)
    bad.update(status="error", load_balance_efficiency=None)
    fig = plot_dse_fifo(rows, sweep_manifest())
    ax = fig.axes[0]
    labels = _labels(ax)
    assert len(labels) == 6 and labels[0] == "eie:alex-7, n_pe=8" and labels[3] == "eie:vgg-7, n_pe=8"
    by = dict(zip(labels, ax.lines))
    assert list(by["eie:alex-7, n_pe=32"].get_xdata()) == [1, 16]
    np.testing.assert_allclose(by["eie:alex-7, n_pe=32"].get_ydata(), [50.0, 100 * 16 / 17])
    assert list(by["eie:vgg-7, n_pe=32"].get_xdata()) == [1, 4, 16]


def test_fifo_and_pe_sweeps_from_two_grids():
    """Grid A sweeps the depth at 64 PEs, grid B the PEs at depth 8: each plot takes its own grid."""
    rows = [result_row(k, fifo=d, n_pe=64, series="fifo") for k, d in enumerate((1, 2, 8, 32))]
    rows += [result_row(4 + k, fifo=8, n_pe=p, series="pe") for k, p in enumerate((8, 16, 32, 64))]
    m = sweep_manifest(grids=[{"label": "fifo", "axes": {"accel.fifo_depth": [1, 2, 8, 32]}},
                         {"label": "pe", "axes": {"accel.n_pe": [8, 16, 32, 64]}}])
    assert varying_axes(rows, m) == ["accel.fifo_depth", "accel.n_pe"]
    ax = plot_dse_fifo(rows, m).axes[0]
    assert _labels(ax) == ["eie:alex-7"]
    assert list(ax.lines[0].get_xdata()) == [1, 2, 8, 32]
    assert "n_pe=64" in ax.get_title()
    ax = plot_dse_speedup(rows, m).axes[0]
    assert _labels(ax) == ["eie:alex-7", "ideal (linear)"]
    assert list(ax.lines[0].get_xdata()) == [8, 16, 32, 64]
    assert "fifo_depth=8" in ax.get_title()


def test_speedup_against_smallest_pe_count():
    rows = grid_rows(depths=(2, 8), pes=(8, 16, 64))
    # make the scaling imperfect: 64 PEs only 5x faster than 8
    for r in rows:
        if r["accel.n_pe"] == 64:
            r["cycles_per_input"] = 1000.0 * 8 / 5 * (1 + 1 / r["accel.fifo_depth"])
    fig = plot_dse_speedup(rows, sweep_manifest())
    ax = fig.axes[0]
    assert _labels(ax) == ["eie:alex-7, fifo_depth=2", "eie:alex-7, fifo_depth=8", "ideal (linear)"]
    for line in ax.lines[:2]:
        assert list(line.get_xdata()) == [8, 16, 64]
        np.testing.assert_allclose(line.get_ydata(), [1.0, 2.0, 5.0])
    ideal = ax.lines[-1]
    np.testing.assert_allclose(ideal.get_ydata(), [1.0, 2.0, 8.0])
    assert ideal.get_linestyle() == "--"
    assert ax.get_ylabel() == "speedup over 8 PEs (x)"
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    one = plot_dse_speedup(grid_rows(depths=(8,), pes=(1, 2)), sweep_manifest(axes=["accel.n_pe"])).axes[0]
    assert one.get_ylabel() == "speedup over 1 PE (x)"


def test_sweep_plots_cap_lines_and_mixed_baselines():
    rows = grid_rows(depths=(1, 4), pes=(8,), workloads=tuple(f"eie:l{k}" for k in range(20)))
    ax = plot_dse_fifo(rows, sweep_manifest()).axes[0]
    assert len(ax.lines) == 16 and "first 16 of 20" in ax.get_title()
    rows = [result_row(0, n_pe=1), result_row(1, n_pe=4), result_row(2, "eie:vgg-7", n_pe=4),
            result_row(3, "eie:vgg-7", n_pe=16)]
    ax = plot_dse_speedup(rows, sweep_manifest(axes=["accel.n_pe"])).axes[0]
    assert ax.get_ylabel() == "speedup over each line's smallest PE count (x)"
    np.testing.assert_allclose(ax.lines[0].get_ydata(), [1.0, 4.0])
    np.testing.assert_allclose(ax.lines[1].get_ydata(), [1.0, 4.0])
    assert list(ax.lines[1].get_xdata()) == [4, 16]


def test_sweep_plots_not_applicable_when_axis_constant():
    rows = grid_rows(depths=(8,), pes=(8, 16))
    m = sweep_manifest()
    with pytest.raises(ValueError, match="fifo_depth"):
        plot_dse_fifo(rows, m)
    assert plot_dse_speedup(rows, m).axes[0].lines
    with pytest.raises(ValueError, match="n_pe"):
        plot_dse_speedup(grid_rows(depths=(1, 8), pes=(8,)), m)
    # the axis varies in the rows but is not a manifest axis: not a sweep
    with pytest.raises(ValueError):
        plot_dse_fifo(grid_rows(), sweep_manifest(axes=["accel.n_pe"]))


# ----------------------------------------------------------------------------- energy breakdown

def test_energy_breakdown_lowest_energy_point_one_workload():
    rows = [result_row(0, energy_pJ=500.0), result_row(1, energy_pJ=200.0),
            result_row(2, energy_pJ=100.0, status="error")]
    layer_rows = [lr for r in rows[:2] for lr in layer_rows_of(r)]
    fig = plot_dse_energy_breakdown(rows, layer_rows)
    assert len(fig.axes) == 1
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["fc1", "fc2"]
    assert "point 1" in ax.get_title()
    assert _labels(ax) == list(COMPONENTS)                      # leakage is all zero: left out
    tops = [sum(c[i].get_height() for c in ax.containers) for i in range(2)]
    np.testing.assert_allclose(tops, [sum(range(1, 10)), 2 * sum(range(1, 10))])
    assert "(pJ)" in ax.get_ylabel()
    with pytest.raises(ValueError):
        plot_dse_energy_breakdown(rows, [])
    with pytest.raises(ValueError):
        plot_dse_energy_breakdown([rows[2]], layer_rows)       # layer rows of no ok point


def test_energy_breakdown_one_subplot_per_workload(tmp_path):
    rows = [result_row(0, energy_pJ=500.0), result_row(1, energy_pJ=200.0),
            result_row(2, energy_pJ=100.0, status="error"),
            result_row(3, "model:lenet-300-100", energy_pJ=70.0), result_row(4, "eie:nt-we", energy_pJ=9.0)]
    layer_rows = layer_rows_of(rows[0]) + layer_rows_of(rows[1])
    big = layer_rows_of(rows[3], layers=("ip1", "ip2", "ip3"))
    for lr in big:                                              # a thousand times larger, with leakage
        for c in COMPONENTS:
            lr[f"energy_{c}_pJ"] *= 1000.0
        lr["energy_leakage_pJ"] = 5.0
    layer_rows += big + layer_rows_of(rows[4], layers=("nt-we",))
    path = tmp_path / "b.png"
    fig = plot_dse_energy_breakdown(rows, layer_rows, path=path)
    assert path.read_bytes()[:8] == PNG_MAGIC
    comps = [*COMPONENTS, "leakage"]
    assert len(fig.axes) == 3                                   # no empty panels left in the 1 x 3 grid
    layers = [["fc1", "fc2"], ["ip1", "ip2", "ip3"], ["nt-we"]]
    for ax, names, title in zip(fig.axes, layers, ["eie:alex-7 (point 1)", "model:lenet-300-100 (point 3)",
                                                   "eie:nt-we (point 4)"]):
        assert ax.get_title() == title
        assert [t.get_text() for t in ax.get_xticklabels()] == names
        assert len(ax.containers) == len(comps)                 # every component in every panel
        assert len(ax.patches) == len(names) * len(comps)
        assert ax.get_yscale() == "linear"
        assert ax.get_legend() is None
    # each panel has its own y scale: the stacked tops, and the y limits follow the data
    alex, lenet, _ = fig.axes
    np.testing.assert_allclose([sum(c[i].get_height() for c in alex.containers) for i in range(2)],
                               [sum(range(1, 10)), 2 * sum(range(1, 10))])
    np.testing.assert_allclose([sum(c[i].get_height() for c in lenet.containers) for i in range(3)],
                               [1000 * (i + 1) * sum(range(1, 10)) + 5.0 for i in range(3)])
    assert alex.get_ylim()[1] < 100 < 100_000 < lenet.get_ylim()[1]
    # the same colour per component in every panel
    for k in range(len(comps)):
        colours = {tuple(ax.containers[k].patches[0].get_facecolor()) for ax in fig.axes}
        assert len(colours) == 1
    assert len({tuple(c.patches[0].get_facecolor()) for c in alex.containers}) == len(comps)
    # one legend for the figure, with the component names
    assert len(fig.legends) == 1
    assert [t.get_text() for t in fig.legends[0].get_texts()] == comps
    assert "(pJ)" in fig.get_supylabel()
    assert "left out" not in fig.get_suptitle()


def test_energy_breakdown_caps_workloads_and_grid():
    assert MAX_BREAKDOWN_WORKLOADS == 12
    rows = [result_row(k, f"eie:w{k}") for k in range(14)]
    layer_rows = [lr for r in rows for lr in layer_rows_of(r, layers=("l",))]
    fig = plot_dse_energy_breakdown(rows, layer_rows)
    assert len(fig.axes) == 12
    assert [ax.get_title() for ax in fig.axes] == [f"eie:w{k} (point {k})" for k in range(12)]
    assert "first 12 of 14 workloads" in fig.get_suptitle() and "2 left out" in fig.get_suptitle()
    assert {ax.get_subplotspec().get_gridspec().get_geometry() for ax in fig.axes} == {(4, 3)}
    fig = plot_dse_energy_breakdown(rows[:4], layer_rows)
    assert len(fig.axes) == 4 and fig.axes[0].get_subplotspec().get_gridspec().get_geometry() == (2, 3)
    assert len(fig.legends) == 1 and [t.get_text() for t in fig.legends[0].get_texts()] == list(COMPONENTS)


# ----------------------------------------------------------------------------- compression

def test_waterfall_bars_in_kib_and_rates():
    rows = [model_row(0, fc_bits=4, rate_pqh=50.0), model_row(1, fc_bits=4, rate_pqh=50.0, n_pe=8),  # same model
            model_row(2, fc_bits=2, rate_pq=60.0, rate_pqh=75.0),
            model_row(3, fc_bits=3, status="error"), result_row(4)]                                  # failed; eie
    ax = plot_waterfall(rows).axes[0]
    assert len(ax.containers) == 2
    assert _labels(ax) == ["fc_bits=4", "fc_bits=2"]                  # one workload: in the title, not the labels
    assert "model:lenet-300-100" in ax.get_title()
    kib = DENSE / 8 / 1024
    np.testing.assert_allclose([b.get_height() for b in ax.containers[0]], [kib, kib / 12, kib / 40, kib / 50])
    np.testing.assert_allclose([b.get_height() for b in ax.containers[1]], [kib, kib / 12, kib / 60, kib / 75])
    assert sorted(t.get_text() for t in ax.texts) == sorted(["12.0x", "40.0x", "50.0x", "12.0x", "60.0x", "75.0x"])
    assert ax.get_yscale() == "log" and ax.get_ylabel() == "storage (KiB)"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["dense", "P", "P+Q", "P+Q+H"]

    one = plot_waterfall([model_row(0, rate_pqh=10.2)]).axes[0]
    assert len(one.containers) == 1 and one.get_legend() is None
    assert "10.2x" in [t.get_text() for t in one.texts]
    with pytest.raises(ValueError):
        plot_waterfall(grid_rows())


def test_waterfall_caps_models():
    rows = [model_row(k, fc_bits=k + 1) for k in range(12)]
    assert len(plot_waterfall(rows).axes[0].containers) == 8


def test_accuracy_vs_rate_three_series():
    rows = [model_row(0, kept=8.0, rate_p=12.0, rate_pq=40.0, pruned=1.7, test=1.8),
            model_row(1, kept=8.0, rate_p=12.0, rate_pq=40.0, pruned=1.7, test=1.8, n_pe=8),   # duplicate
            model_row(2, kept=4.0, rate_p=20.0, rate_pq=80.0, pruned=2.1, test=2.6),
            model_row(3, kept=100.0, rate_q=8.0, test=1.65, fc_bits=4),
            model_row(4, kept=100.0, rate_q=16.0, test=2.0, fc_bits=2),
            model_row(5, kept=4.0, status="error"),
            model_row(6, kept=2.0, workload="archive:x.dcz", rate_p=50.0)]                      # not a model row
    ax = plot_accuracy_vs_rate(rows).axes[0]
    assert _labels(ax) == ["pruning only", "quantization only", "pruning + quantization"]
    lines = [l for l in ax.lines if not l.get_label().startswith("_")]
    expect = [([100 / 20, 100 / 12], [2.1 - 1.6, 1.7 - 1.6]),
              ([100 / 16, 100 / 8], [2.0 - 1.6, 1.65 - 1.6]),
              ([100 / 80, 100 / 40], [2.6 - 1.6, 1.8 - 1.6])]
    for line, (x, y) in zip(lines, expect):
        np.testing.assert_allclose(line.get_xdata(), x)
        np.testing.assert_allclose(line.get_ydata(), y)
        assert line.get_marker() not in (None, "None", "")
    assert ax.get_xlabel() == "model size (% of dense fp32)" and "(% points)" in ax.get_ylabel()
    assert ax.get_xscale() == "log"
    ax = plot_accuracy_vs_rate(rows[3:5]).axes[0]                   # no pruning: one series
    assert _labels(ax) == ["quantization only"]
    with pytest.raises(ValueError):
        plot_accuracy_vs_rate(grid_rows())


# ----------------------------------------------------------------------------- resources

def test_resources_percent_of_device():
    rows = [synth_row(0, 1, 528, 264, 3, 1), synth_row(1, 2, 1056, 528, 6, 2), synth_row(2, 4, 2112, 1056, 12, 4),
            synth_row(3, 8, 6000, 2112, 24, 8, status="error"), result_row(4, n_pe=16)]
    ax = plot_resources(rows).axes[0]
    assert _labels(ax) == ["LUTs (LUT4)", "FFs", "BRAMs", "DSPs", "device capacity"]
    luts, ffs, brams, dsps, cap = ax.lines
    for line in (luts, ffs, brams, dsps):
        assert list(line.get_xdata()) == [1, 2, 4]
    np.testing.assert_allclose(luts.get_ydata(), [10.0, 20.0, 40.0])
    np.testing.assert_allclose(ffs.get_ydata(), [5.0, 10.0, 20.0])
    np.testing.assert_allclose(brams.get_ydata(), [10.0, 20.0, 40.0])
    np.testing.assert_allclose(dsps.get_ydata(), [12.5, 25.0, 50.0])
    assert list(cap.get_ydata()) == [100.0, 100.0] and cap.get_linestyle() == "--"
    assert ax.get_ylabel() == "device utilisation (%)" and ax.get_xscale() == "log"
    assert "up5k" in ax.get_title() and "ice40" in ax.get_title()

    two = rows[:3] + [synth_row(5, 1, 1000, 100, 1, 0, target="ecp5", device="LFE5U-25F")]
    ax = plot_resources(two).axes[0]
    assert "ice40: LUTs (LUT4)" in _labels(ax) and "ecp5: LUTs (LUT4)" in _labels(ax)
    with pytest.raises(ValueError):
        plot_resources(grid_rows())


# ----------------------------------------------------------------------------- the report

def test_applicable_plots():
    eie = grid_rows()
    layer_rows = [lr for r in eie for lr in layer_rows_of(r)]
    assert applicable_plots(eie, layer_rows, sweep_manifest()) == ["pareto", "fifo", "speedup", "energy_breakdown"]
    assert applicable_plots(eie, [], sweep_manifest(axes=["accel.n_pe"])) == ["pareto", "speedup"]
    models = [model_row(0), model_row(1, kept=100.0), synth_row(2, 4, 100, 100, 1, 1)]
    assert applicable_plots(models, [], sweep_manifest()) == ["pareto", "waterfall", "accuracy", "resources"]
    assert applicable_plots([result_row(0, status="error")], [], sweep_manifest()) == []
    assert set(PLOT_FILES.values()) == {"pareto.png", "area_pareto.png", "fifo_efficiency.png", "pe_speedup.png",
                                        "energy_breakdown.png", "compression_waterfall.png",
                                        "accuracy_vs_rate.png", "resources.png"}


def test_write_dse_report_files_and_markdown(tmp_path):
    rows = grid_rows(depths=(8,), pes=(8, 16))                         # n_pe varies, the FIFO depth does not
    rows += [model_row(len(rows) + k, n_pe=p, fc_bits=b) for k, (p, b) in enumerate([(8, 4), (16, 4), (8, 2)])]
    rows.append(result_row(len(rows), "eie:vgg-7", n_pe=16, status="error", error="RuntimeError: out of SRAM | bad"))
    layer_rows = [lr for r in rows if r["status"] == "ok" for lr in layer_rows_of(r)]
    m = sweep_manifest(axes=["accel.fifo_depth", "accel.n_pe", "compress.fc_bits"], n_points=len(rows),
                  grids=[{"label": "g", "axes": {"accel.n_pe": [8, 16], "compress.fc_bits": [4, 2]}}])
    out = tmp_path / "dse"
    files = write_dse_report(out, rows, layer_rows, m)
    names = sorted(p.name for p in files)
    assert names == sorted(["pareto.png", "pe_speedup.png", "energy_breakdown.png", "compression_waterfall.png",
                            "accuracy_vs_rate.png", "dse.md"])
    assert sorted(p.name for p in out.iterdir()) == names            # nothing else (no temporary files)
    for p in files:
        if p.suffix == ".png":
            assert p.read_bytes()[:8] == PNG_MAGIC
    md = (out / "dse.md").read_text()
    assert md.startswith("# Design-space sweep: test-sweep")
    assert "dcsim dse sweep.toml --out out" in md
    assert f"{len(rows)} points: {len(rows) - 1} ok, 1 failed" in md
    assert "## Failed points" in md and "RuntimeError: out of SRAM \\| bad" in md
    for p in files:
        if p.suffix == ".png":
            assert f"]({p.name})" in md
    assert "fifo_efficiency.png" not in md and "resources.png" not in md
    assert "rate P+Q+H (x)" in md and "test error (%)" in md and "LUTs" not in md
    assert "| n_pe | fc_bits |" in md                                # the varying axes, short names
    assert "## Pareto-optimal points" in md
    assert "- grid `g`: `accel.n_pe` = 8, 16; `compress.fc_bits` = 4, 2" in md
    # the failed point is in no table but the failed one
    points_table = md.split("## Points")[1].split("## Pareto")[0]
    assert "eie:vgg-7" not in points_table


def test_markdown_caps_the_points_table_and_no_failed_section():
    rows = [result_row(k, n_pe=8 * (1 + k % 4), fifo=1 + k // 4) for k in range(300)]
    md = dse_markdown(rows, sweep_manifest(), {})
    assert "The first 200 of 300 ok points; the full table is in results.csv." in md
    table = md.split("## Points")[1].split("## Pareto")[0]
    assert sum(1 for line in table.splitlines() if line.startswith("| ") and line[2].isdigit()) == 200
    assert "Failed points" not in md and "## Plots" not in md
    assert "0 failed" in md


def test_markdown_number_formatting():
    rows = [result_row(0, n_pe=8, cycles_per_input=123456.789, latency_us=0.0123456, energy_pJ=1234.5678,
                 load_balance_efficiency=0.876543)]
    md = dse_markdown(rows, sweep_manifest(), {})
    line = next(l for l in md.split("## Points")[1].splitlines() if l.startswith("| 0 "))
    assert "123456.79" in line and "0.0123" in line and "1234.57" in line and "87.65" in line


def test_a_failing_plot_is_reported_not_fatal(tmp_path, monkeypatch):
    import reports.dse_plots as dse

    def broken(rows, path=None):
        raise RuntimeError("no luck")
    monkeypatch.setattr(dse, "plot_pareto", broken)
    with pytest.warns(RuntimeWarning, match="pareto.png"):
        files = write_dse_report(tmp_path, grid_rows(), [], sweep_manifest())
    assert [p.name for p in files] == ["fifo_efficiency.png", "pe_speedup.png", "dse.md"]
    md = (tmp_path / "dse.md").read_text()
    assert "not drawn (RuntimeError: no luck)" in md and "](pareto.png)" not in md


# ----------------------------------------------------------------------------- area

def test_pareto_front_in_three_objectives():
    pts = [(1, 5, 5), (2, 2, 2), (2, 2, 2), (3, 3, 3), (1, 6, 1), (None, 0, 0), (5, 1, 9)]
    # 2 duplicates 1 (kept once); 3 is dominated by 1; 5 has no area; the rest trade off
    assert pareto_front_nd(pts) == [0, 1, 4, 6]
    assert pareto_front_nd([]) == []
    assert pareto_front_nd([(1.0, 2.0)]) == [0]


def test_area_pareto_plot_and_its_table_columns(tmp_path):
    rows = [result_row(k, n_pe=p, area_mm2=0.64 * p, frames_per_s_per_mm2=1e5 / (0.64 * p),
                       latency_us=64.0 / p, energy_pJ=1e5 + 100.0 * p) for k, p in enumerate((8, 16, 32, 64))]
    rows.append(result_row(4, n_pe=64, area_mm2=0.64 * 64, latency_us=2.0, energy_pJ=1e6))   # dominated by point 3
    rows.append(result_row(5, n_pe=64, status="error"))
    assert "area_pareto" in applicable_plots(rows, [], sweep_manifest(axes=["accel.n_pe"]))
    fig = plot_area_pareto(rows, tmp_path / "a.png")
    left, right = fig.axes[:2]
    assert left.get_xlabel() == "chip area (mm2)" and "energy" in left.get_ylabel() and "latency" in right.get_ylabel()
    assert left.get_xscale() == "log" and right.get_yscale() == "log"
    assert len(left.collections[0].get_offsets()) == 5                  # the failed point is not drawn
    ringed = sorted(x for x, _ in left.collections[1].get_offsets())
    assert ringed == pytest.approx([0.64 * p for p in (8, 16, 32, 64)])  # point 4 is not ringed
    assert (tmp_path / "a.png").read_bytes()[:8] == PNG_MAGIC
    md = dse_markdown(rows, sweep_manifest(axes=["accel.n_pe"]), {"area_pareto": "area_pareto.png"})
    assert "area (mm2)" in md and "frames/s/mm2" in md and "](area_pareto.png)" in md
    # no area: neither the plot nor the columns
    plain = grid_rows()
    assert "area_pareto" not in applicable_plots(plain, [], sweep_manifest())
    assert "area (mm2)" not in dse_markdown(plain, sweep_manifest(), {})
