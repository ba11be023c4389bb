"""reports/plots.py draws what it is given (lines, x data, labels with units, titles, a valid PNG),
and benchmarks/eie_sweeps.py --quick runs and writes its JSON and three PNGs."""
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from reports.plots import plot_fifo_sweep, plot_pe_scaling

ROOT = Path(__file__).resolve().parents[2]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
DEPTHS = [1, 2, 4, 8, 16, 32, 64, 128, 256]
PES = [1, 2, 4, 8, 16, 32, 64, 128, 256]
LAYERS = ["Alex-6", "Alex-7", "Alex-8", "VGG-6", "VGG-7", "VGG-8", "NT-We", "NT-Wd", "NT-LSTM"]


def _is_png(path: Path) -> bool:
    data = path.read_bytes()
    return data[:8] == PNG_MAGIC and b"IHDR" in data[8:16] and data.rstrip(b"\x00").endswith(b"IEND\xaeB`\x82")


def _fifo_series(n):
    rng = np.random.default_rng(0)
    return {LAYERS[k]: list(80 + 18 * (1 - np.exp(-np.arange(len(DEPTHS)))) + rng.random(len(DEPTHS)))
            for k in range(n)}


@pytest.mark.parametrize("n_layers", [1, 2, 9])
def test_fifo_sweep_content_and_png(tmp_path, n_layers):
    series = _fifo_series(n_layers)
    path = tmp_path / "sub" / "fifo.png"
    fig = plot_fifo_sweep(DEPTHS, series, ylabel="load-balance efficiency (%)", title="LB vs depth", path=path)
    ax = fig.axes[0]
    assert len(fig.axes) == 1
    assert len(ax.lines) == n_layers
    for line, (name, ys) in zip(ax.lines, series.items()):
        assert list(line.get_xdata()) == DEPTHS
        np.testing.assert_allclose(line.get_ydata(), ys)
        assert line.get_label() == name
    assert "(entries)" in ax.get_xlabel() and "FIFO depth" in ax.get_xlabel()
    assert "(%)" in ax.get_ylabel()
    assert ax.get_title() == "LB vs depth"
    assert ax.get_xscale() == "log"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == list(series)
    assert path.is_file() and _is_png(path)
    assert not list(path.parent.glob("*.tmp"))          # the temporary file was renamed


def test_fifo_sweep_other_ylabel_and_no_path(tmp_path):
    fig = plot_fifo_sweep([1, 8, 64], {"a": [1.3, 1.0, 0.97]}, ylabel="cycles relative to depth 8 (x)",
                          title="cycles")
    ax = fig.axes[0]
    assert ax.get_ylabel() == "cycles relative to depth 8 (x)"
    assert ax.get_title() == "cycles"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("n_layers", [1, 3, 9])
def test_pe_scaling_content_and_png(tmp_path, n_layers):
    series = {LAYERS[k]: [p * (0.9 + 0.01 * k) if p > 1 else 1.0 for p in PES] for k in range(n_layers)}
    path = tmp_path / "pe.png"
    fig = plot_pe_scaling(PES, series, path=path)
    ax = fig.axes[0]
    assert len(ax.lines) == n_layers + 1                  # one per layer + the ideal line
    for line, (name, ys) in zip(ax.lines, series.items()):
        assert list(line.get_xdata()) == PES
        np.testing.assert_allclose(line.get_ydata(), ys)
        assert line.get_label() == name
    ideal = ax.lines[-1]
    assert list(ideal.get_xdata()) == PES
    np.testing.assert_allclose(ideal.get_ydata(), PES)
    assert ideal.get_linestyle() == "--"
    assert "ideal" in ideal.get_label()
    assert "PEs" in ax.get_xlabel()
    assert "(x)" in ax.get_ylabel() and "speedup" in ax.get_ylabel()
    assert ax.get_title()
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert path.is_file() and _is_png(path)


def test_pe_scaling_title_and_overwrite(tmp_path):
    path = tmp_path / "pe.png"
    path.write_bytes(b"old")
    fig = plot_pe_scaling([1, 8, 64], {"x": [1.0, 7.9, 60.0]}, path=path, title="my title")
    assert fig.axes[0].get_title() == "my title"
    assert _is_png(path)


@pytest.mark.parametrize("fn,args", [
    (plot_fifo_sweep, ([1, 2, 4], {"a": [1.0, 2.0]})),          # wrong length
    (plot_fifo_sweep, ([1, 2, 4], {})),                         # no series
    (plot_pe_scaling, ([0, 1, 2], {"a": [1.0, 1.0, 2.0]})),     # non-positive x on a log axis
    (plot_pe_scaling, ([], {"a": []})),                         # no x
])
def test_bad_input_raises(fn, args):
    with pytest.raises(ValueError):
        fn(*args)


def test_eie_sweeps_quick_smoke(tmp_path):
    out = tmp_path / "x.json"
    t = time.perf_counter()
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "eie_sweeps.py"), "--quick", "--layers",
                        "nt-we,alex-8", "--no-progress", "--out", str(out)],
                       capture_output=True, text=True, cwd=tmp_path, timeout=120)
    elapsed = time.perf_counter() - t
    assert r.returncode == 0, r.stderr
    assert elapsed < 20, f"quick sweep took {elapsed:.1f} s"   # ~2 s warm, ~4 s with a cold Numba cache
    doc = json.loads(out.read_text())
    for k in ("benchmark", "command", "config", "layers", "plots", "ok", "machine", "wall_seconds"):
        assert k in doc, k
    assert doc["ok"] is True
    cfg = doc["config"]
    assert cfg["quick"] is True and cfg["layers"] == ["nt-we", "alex-8"] and cfg["seed"] == 0
    assert cfg["fifo_sweep"] == {"n_pe": 64, "fifo_depths": [1, 8, 64]}
    assert cfg["pe_sweep"] == {"fifo_depth": 8, "n_pes": [1, 8, 64]}
    assert set(doc["layers"]) == {"nt-we", "alex-8"}
    for name, L in doc["layers"].items():
        assert [p["fifo_depth"] for p in L["fifo_sweep"]] == [1, 8, 64]
        assert [p["n_pe"] for p in L["pe_sweep"]] == [1, 8, 64]
        for p in L["fifo_sweep"]:
            for k in ("cycles", "load_balance_efficiency", "useful_efficiency", "mean_pe_stalled_cycles",
                      "mean_pe_idle_cycles", "cycles_vs_depth_8"):
                assert k in p, k
            assert 0 < p["load_balance_efficiency"] <= 1 and 0 < p["useful_efficiency"] <= 1
            assert p["outputs_match_reference"]
        by = {p["fifo_depth"]: p for p in L["fifo_sweep"]}
        assert by[8]["cycles_vs_depth_8"] == 1.0
        assert by[1]["cycles"] >= by[8]["cycles"] >= by[64]["cycles"]
        sp = L["pe_sweep"]
        assert sp[0]["speedup"] == 1.0
        for p in sp:
            assert p["speedup"] == pytest.approx(sp[0]["cycles"] / p["cycles"])
            assert p["ideal_speedup"] == p["n_pe"]
        assert L["verification"]["all_outputs_match"] and L["verification"]["points_checked"] == 6
    for k, fname in (("fifo_efficiency", "eie_fifo_efficiency.png"), ("fifo_cycles", "eie_fifo_cycles.png"),
                     ("pe_speedup", "eie_pe_speedup.png")):
        p = tmp_path / fname
        assert p.is_file() and _is_png(p), fname
        assert Path(doc["plots"][k]).name == fname
    assert "(cycles)" in r.stdout and "(%)" in r.stdout and "(x" in r.stdout
