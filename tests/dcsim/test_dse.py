"""dcsim dse: sweep files, the runner, resume after SIGKILL, Dask, failures, caches and the table."""
from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from dcsim.cli import main
from dcsim.dse import TIME_PREFIX
from arch.configio import ConfigError
from dcsim.dse.sweep import load_sweep
from tests.dcsim.test_sim_cli import _archive

ROOT = Path(__file__).resolve().parents[2]


def _sweep(tmp_path: Path, text: str, name: str = "s.toml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def _archive_sweep(tmp_path: Path, axes: str, extra: str = "") -> Path:
    a = _archive(tmp_path)
    x = np.random.default_rng(1).random((5, 40))
    x[x < 0.5] = 0
    np.save(tmp_path / "x.npy", x)
    return _sweep(tmp_path, f"""
[sweep]
name = "arch"
workloads = ["archive:{a}", "eie:nt-we"]
input_file = "x.npy"
{extra}
[axes]
{axes}
""")


def _csv(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _strip(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if not k.startswith(TIME_PREFIX)} for r in rows]


# ----------------------------------------------------------------------------- parsing
def test_points_are_the_product_of_the_axes_per_workload(tmp_path):
    p = _sweep(tmp_path, """
[sweep]
workloads = ["eie:alex-7", "eie:nt-we"]
[base]
accel = { clock_mhz = 500 }
[axes]
accel.n_pe = [8, 16, 32]
accel.fifo_depth = [1, 8]
[[grid]]
label = "deep"
accel.fifo_depth = [64]
""")
    s = load_sweep(p)
    assert s.name == "s"
    assert len(s.points) == (3 * 2 + 1) * 2
    assert [pt.index for pt in s.points] == list(range(len(s.points)))
    assert {pt.accel.clock_mhz for pt in s.points} == {500.0}
    assert {(pt.accel.n_pe, pt.accel.fifo_depth) for pt in s.points if pt.series == ""} == \
        {(n, d) for n in (8, 16, 32) for d in (1, 8)}
    assert [pt.accel.fifo_depth for pt in s.points if pt.series == "deep"] == [64, 64]
    assert len({pt.point_id for pt in s.points}) == len(s.points)
    # the ids are content hashes: the same file gives the same ids
    assert [pt.point_id for pt in load_sweep(p).points] == [pt.point_id for pt in s.points]


def test_compress_axes_per_layer_tables_and_duplicates(tmp_path):
    p = _sweep(tmp_path, """
[sweep]
workloads = ["model:lenet-300-100"]
[axes]
compress.layer_density.fc1 = [0.05, 0.1]
compress.fc_bits = [4, 4]
""")
    s = load_sweep(p)
    assert len(s.points) == 2 and s.duplicates == 2
    assert [pt.compress.layer_density["fc1"] for pt in s.points] == [0.05, 0.1]
    # the recipe's other per-layer densities stay
    assert all(pt.compress.layer_density["fc2"] == 0.08 for pt in s.points)
    assert len({pt.compress_key for pt in s.points}) == 2
    assert s.warnings == []


def test_density_axis_hidden_by_the_recipe_warns(tmp_path):
    s = load_sweep(_sweep(tmp_path, """
[sweep]
workloads = ["model:lenet-300-100"]
[axes]
compress.density = [0.05, 0.1]
"""))
    assert len(s.warnings) == 1 and "layer_density" in s.warnings[0]


@pytest.mark.parametrize("body, needle", [
    ('[sweep]\nworkloads = ["eie:alex-7"]\n[axes]\naccel.n_pes = [1]\n', "has no field 'n_pes'"),
    ('[sweep]\nworkloads = ["eie:alex-7"]\n[axes]\naccel.n_pe = [0]\n', "n_pe = 0 is not allowed"),
    ('[sweep]\nworkloads = ["eie:alex-7"]\n[axes]\naccel.fifo_depth = 4\n', "non-empty list"),
    ('[sweep]\nworkloads = ["eie:alex-7"]\n[axes]\ncompress.density = [0.1]\n', "needs model: workloads"),
    ('[sweep]\nworkloads = ["eie:alex-77"]\n', "alex-77"),
    ('[sweep]\nworkloads = ["archive:nope.dcz"]\n', "no such archive"),
    ('[sweep]\nworkloads = ["model:vgg"]\n', "unknown model"),
    ('[sweep]\nworkloads = []\n', "non-empty list"),
    ('[sweep]\nworkloads = ["eie:alex-7"]\nfoo = 1\n', "unknown key 'foo'"),
    ('[sweep]\nworkloads = ["eie:alex-7"]\nsynth = { target = "asic" }\n', "synth.target"),
    ('[sweep]\nworkloads = ["eie:alex-7"]\n[base]\naccel = { tech_node = 3 }\n', "tech_node = 3"),
    ('[sweep]\nworkloads = ["eie:alex-7"]\n[axes]\naccel.overflow = ["clip"]\n', "overflow"),
    ('[sweep]\nworkloads = ["eie:alex-7"]\n[axis]\n', "unknown table [axis]"),
    ('[sweep\n', "not valid TOML"),
    ('[axes]\naccel.n_pe = [1]\n', "missing [sweep]"),
])
def test_bad_sweep_files_exit_2_with_one_line_and_write_nothing(tmp_path, capsys, body, needle):
    p = _sweep(tmp_path, body)
    out = tmp_path / "out"
    with pytest.raises(ConfigError):
        load_sweep(p)
    assert main(["dse", str(p), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("dcsim: error: ") and needle in err and "\n" not in err
    assert str(p) in err
    assert not out.exists()


def test_bad_options_exit_2(tmp_path, capsys):
    p = _sweep(tmp_path, '[sweep]\nworkloads = ["eie:nt-we"]\n')
    assert main(["dse", str(p), "--jobs", "0", "--out", str(tmp_path / "o")]) == 2
    assert main(["dse", str(p), "--scheduler", "http://x", "--out", str(tmp_path / "o")]) == 2
    assert main(["dse", str(tmp_path / "missing.toml"), "--out", str(tmp_path / "o")]) == 2
    assert "no such sweep file" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_dry_run_lists_points(tmp_path, capsys):
    p = _sweep(tmp_path, '[sweep]\nworkloads = ["eie:nt-we"]\n[axes]\naccel.n_pe = [4, 8]\n')
    assert main(["dse", str(p), "--dry-run", "--out", str(tmp_path / "o")]) == 0
    out = capsys.readouterr().out
    assert "accel.n_pe=4" in out and "accel.n_pe=8" in out
    assert not (tmp_path / "o").exists()


# ----------------------------------------------------------------------------- running
def test_run_table_full_config_failures_and_retry(tmp_path, capsys):
    # weight_bits 4 cannot hold the codebook with 8 fractional bits (arch/fixedpoint.py): those points fail
    p = _archive_sweep(tmp_path, "accel.n_pe = [4, 8]\naccel.weight_bits = [4, 16]\n")
    out = tmp_path / "o"
    assert main(["dse", str(p), "--out", str(out), "--jobs", "1", "--quiet"]) == 1
    rows = _csv(out / "results.csv")
    assert len(rows) == 8
    assert [int(r["point"]) for r in rows] == list(range(8))
    bad = [r for r in rows if r["status"] == "error"]
    assert len(bad) == 4 and all(r["accel.weight_bits"] == "4" for r in bad)
    assert all("FixedPointError" in r["error"] and "weight_bits" in r["error"] for r in bad)
    good = [r for r in rows if r["status"] == "ok"]
    assert len(good) == 4 and all(r["error"] == "" for r in good)
    assert all(r["verified"] == "True" for r in good)
    # the full config on every row
    from arch.config import AcceleratorConfig
    from compress.config import CompressionConfig
    import dataclasses
    for r in rows:
        for f in dataclasses.fields(AcceleratorConfig):
            assert f"accel.{f.name}" in r
        for f in dataclasses.fields(CompressionConfig):
            assert f"compress.{f.name}" in r
    arch_rows = [r for r in good if r["workload_kind"] == "archive"]
    assert all(r["compress.density"] == "0.3" and r["compress.fc_bits"] == "4" for r in arch_rows)
    for r in good:
        assert float(r["energy_pJ"]) > 0 and float(r["latency_us"]) > 0 and float(r["cycles_per_input"]) > 0
        comp = sum(float(r[k]) for k in r if k.startswith("energy_") and k.endswith("_pJ")
                   and k not in ("energy_pJ", "energy_a_pJ", "energy_b_pJ", "energy_c_pJ", "energy_access_pJ")
                   and not k.startswith("energy_module_"))
        modules = sum(float(r[k]) for k in r if k.startswith("energy_module_"))
        if r["fits_on_chip"] == "True":
            assert comp == pytest.approx(float(r["energy_pJ"]), rel=1e-9)
            assert modules == pytest.approx(float(r["energy_pJ"]), rel=1e-9)
        assert float(r["energy_access_pJ"]) + sum(float(r[f"energy_{k}_pJ"]) for k in ("clock", "control", "leakage")) \
            == pytest.approx(float(r["energy_pJ"]), rel=1e-9)
        assert float(r["area_mm2"]) > 0 and float(r["energy_leakage_pJ"]) > 0          # leakage on by default
        assert float(r["frames_per_s_per_mm2"]) == pytest.approx(float(r["frames_per_s"]) / float(r["area_mm2"]))
    layers = _csv(out / "layers.csv")
    assert len(layers) == sum(2 if r["workload_kind"] == "archive" else 1 for r in good)
    # per-layer energies add up to the point's on-chip total
    for r in good:
        mine = [l for l in layers if l["point"] == r["point"]]
        assert sum(float(l["energy_pJ"]) for l in mine) == pytest.approx(float(r["energy_pJ"]), rel=1e-9) \
            or r["fits_on_chip"] != "True"
    man = json.loads((out / "dse.json").read_text())
    assert man["n_points"] == 8 and man["complete"] is True and man["axes"] == ["accel.n_pe", "accel.weight_bits"]
    assert (out / "dse.md").is_file() and (out / "pareto.png").is_file()
    # parquet holds the same table
    pq = pytest.importorskip("pyarrow.parquet")
    t = pq.read_table(out / "results.parquet").to_pylist()
    assert [r["point_id"] for r in t] == [r["point_id"] for r in rows]
    assert [r["status"] for r in t] == [r["status"] for r in rows]
    # a second run reuses everything; --retry-failed reruns only the failed points (they fail again)
    capsys.readouterr()
    assert main(["dse", str(p), "--out", str(out), "--jobs", "1", "--quiet"]) == 1
    assert "reused 8" in capsys.readouterr().out
    assert main(["dse", str(p), "--out", str(out), "--jobs", "1", "--quiet", "--retry-failed"]) == 1
    assert "computed 4, reused 4" in capsys.readouterr().out


def test_local_cluster_gives_the_same_table_as_the_local_run(tmp_path):
    pytest.importorskip("distributed")
    p = _archive_sweep(tmp_path, "accel.n_pe = [2, 8]\naccel.fifo_depth = [1, 4]\n")
    a, b = tmp_path / "pool", tmp_path / "dask"
    assert main(["dse", str(p), "--out", str(a), "--jobs", "2", "--quiet"]) == 0
    assert main(["dse", str(p), "--out", str(b), "--scheduler", "local", "--jobs", "2", "--quiet"]) == 0
    ra, rb = _csv(a / "results.csv"), _csv(b / "results.csv")
    assert len(ra) == 8 and all(r["status"] == "ok" for r in ra)
    assert _strip(ra) == _strip(rb)
    assert _csv(a / "layers.csv") == _csv(b / "layers.csv")
    assert "LocalCluster" in json.loads((b / "dse.json").read_text())["last_run"]["executor"]
    assert {r["time.worker"] for r in ra} != {""}


def test_sigkill_midway_resumes_with_every_point_exactly_once(tmp_path):
    p = _sweep(tmp_path, """
[sweep]
name = "kill"
workloads = ["eie:alex-7", "eie:alex-8", "eie:nt-we"]
[axes]
accel.n_pe = [1, 2, 4, 8, 16, 32]
""")
    out = tmp_path / "o"
    cmd = [sys.executable, "-m", "dcsim", "dse", str(p), "--out", str(out), "--jobs", "2", "--quiet"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    pts = out / "points"
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None and len(list(pts.glob("*.json"))) < 3:
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGKILL)  # the driver and its pool workers
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the sweep ended before it could be killed"
    before = {f.name: f.read_bytes() for f in pts.glob("*.json")}
    n = len(load_sweep(p).points)
    assert 3 <= len(before) < n
    assert not list(pts.glob(".*.tmp")) or True  # a temporary file may be left; it is never read
    r = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert f"resuming: {len(before)} of {n} points" in r.stderr
    # finished points were neither recomputed nor rewritten
    for name, data in before.items():
        assert (pts / name).read_bytes() == data
    rows = _csv(out / "results.csv")
    ids = [x.point_id for x in load_sweep(p).points]
    assert [r["point_id"] for r in rows] == ids  # every point, once, in order
    assert len(set(ids)) == n
    assert sum(r["time.run"] == "1" for r in rows) == len(before)
    assert sum(r["time.run"] == "2" for r in rows) == n - len(before)
    assert all(r["status"] == "ok" for r in rows)
    assert len(list(pts.glob("*.json"))) == n


def test_model_points_share_one_compression_and_reuse_it(tmp_path, mnist_path, capsys):
    p = _sweep(tmp_path, f"""
[sweep]
workloads = ["model:lenet-300-100"]
inputs = 200
data_dir = "{mnist_path}"
[base]
compress = {{ baseline_epochs = 1, retrain_epochs = 0, finetune_epochs = 0, prune_iterations = 1 }}
[axes]
accel.n_pe = [16, 64]
""")
    out = tmp_path / "o"
    assert main(["dse", str(p), "--out", str(out), "--jobs", "1", "--quiet"]) == 0
    assert "1 compressions run, 0 reused" in capsys.readouterr().out
    rows = _csv(out / "results.csv")
    assert len(rows) == 2 and len({r["compression_rate_pqh"] for r in rows}) == 1
    r = rows[0]
    for k in ("baseline_error_pct", "pruned_error_pct", "test_error_pct", "engine_error_pct", "compression_rate_p",
              "compression_rate_q", "compression_rate_pq", "compression_rate_pqh", "storage_bits_q"):
        assert r[k] not in ("", "None"), k
    assert float(r["compression_rate_p"]) < float(r["compression_rate_pq"]) < float(r["compression_rate_pqh"])
    assert r["inputs"] == "200" and r["compress.fc_bits"] == "6"
    assert len(list((out / "cache" / "compress").glob("*.dcz"))) == 1
    # a new machine value: one new point, the compression comes from the cache
    p.write_text(p.read_text().replace("[16, 64]", "[16, 32, 64]"))
    assert main(["dse", str(p), "--out", str(out), "--jobs", "1", "--quiet"]) == 0
    o = capsys.readouterr().out
    assert "computed 1, reused 2" in o and "0 compressions run, 1 reused" in o


@pytest.mark.parametrize("path", sorted((ROOT / "examples" / "dse").glob("*.toml")), ids=lambda p: p.name)
def test_example_sweeps_are_valid(path):
    import re

    text = "\n".join(l for l in path.read_text().splitlines() if not l.lstrip().startswith("#"))
    needs = re.findall(r'(?:"archive:|structure\s*=\s*")([^":]+\.dcz)', text)
    missing = [n for n in needs if not (path.parent / n).is_file()]
    if missing:
        pytest.skip(f"needs {missing[0]} (make demo)")
    s = load_sweep(path)
    assert s.points and s.warnings == []


def test_synthesis_columns_and_resources_plot(tmp_path):
    pytest.importorskip("amaranth")
    p = _sweep(tmp_path, f"""
[sweep]
workloads = ["eie:nt-we"]
synth = {{ target = "ice40", pnr = false }}
[base]
config = "{ROOT / 'examples' / 'fpga.toml'}"
[axes]
accel.n_pe = [1]
""")
    out = tmp_path / "o"
    assert main(["dse", str(p), "--out", str(out), "--jobs", "1", "--quiet"]) == 0
    (r,) = _csv(out / "results.csv")
    assert r["synth_target"] == "ice40" and r["synth_device"] and r["synth_lut_unit"] == "LUT4"
    assert 0 < int(r["synth_luts"]) <= int(r["synth_luts_capacity"]) and r["synth_fits"] == "True"
    assert r["accel.spmat_sram_bytes"] == "2048" and r["accel.n_pe"] == "1"
    assert (out / "resources.png").read_bytes()[:4] == b"\x89PNG"
    assert len(list((out / "cache" / "synth").glob("*.json"))) == 1


# ----------------------------------------------------------------------------- structured EIE layers
def test_structure_key_runs_is_recorded_and_changes_the_point_ids(tmp_path, capsys):
    """[sweep] structure = "ARCHIVE:LAYER" (relative to the sweep file) applies to the eie: workloads,
    goes to the workers, is a column of the results and part of the point ids."""
    from tests.dcsim.test_sim_cli import _archive

    _archive(tmp_path)                                  # tmp_path/c/model.dcz, layers fc1, fc2
    body = '[sweep]\nname = "st"\nworkloads = ["eie:nt-we"]\nverify = true\n{}\n[axes]\naccel.fifo_depth = [1, 8]\n'
    p = _sweep(tmp_path, body.format('structure = "c/model.dcz:fc1"'))
    s = load_sweep(p)
    assert s.settings["structure"] == "c/model.dcz:fc1" and s.manifest()["settings"]["structure"] == "c/model.dcz:fc1"
    u = load_sweep(_sweep(tmp_path, body.format(""), "u.toml"))
    assert {pt.point_id for pt in s.points}.isdisjoint(pt.point_id for pt in u.points)
    out = tmp_path / "o"
    assert main(["dse", str(p), "--out", str(out), "--jobs", "1", "--quiet"]) == 0
    rows = _csv(out / "results.csv")
    assert [r["status"] for r in rows] == ["ok", "ok"], rows
    assert {r["structure"] for r in rows} == {"c/model.dcz:fc1"} and {r["verified"] for r in rows} == {"True"}
    eff = [float(r["load_balance_efficiency"]) for r in rows]
    assert eff[0] < eff[1]
    capsys.readouterr()


@pytest.mark.parametrize("value, needle", [
    ("3", "use \"ARCHIVE:LAYER\""),
    ('"c/model.dcz"', "use \"ARCHIVE:LAYER\""),
    ('"nope.dcz:fc1"', "no such archive"),
    ('"c/model.dcz:fc9"', "its layers are fc1, fc2"),
    ('"x.npy:fc1"', "not a dcsim archive"),
])
def test_bad_structure_keys_exit_2(tmp_path, capsys, value, needle):
    from tests.dcsim.test_sim_cli import _archive

    _archive(tmp_path)
    np.save(tmp_path / "x.npy", np.zeros(3))
    p = _sweep(tmp_path, f'[sweep]\nworkloads = ["eie:nt-we"]\nstructure = {value}\n')
    capsys.readouterr()
    with pytest.raises(ConfigError):
        load_sweep(p)
    out = tmp_path / "out"
    assert main(["dse", str(p), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("dcsim: error: ") and needle in err and "\n" not in err and str(p) in err
    assert not out.exists()


def test_structure_needs_an_eie_workload_and_room_for_its_nonzeros(tmp_path, capsys):
    from tests.dcsim.test_sim_cli import _archive

    a = _archive(tmp_path)
    p = _sweep(tmp_path, f'[sweep]\nworkloads = ["archive:{a}"]\nstructure = "c/model.dcz:fc1"\n')
    with pytest.raises(ConfigError, match="applies to eie: workloads"):
        load_sweep(p)
    # fc2 (10 x 70 at 30%) resampled to alex-8 cannot hold its 25% of nonzeros only if sparse enough:
    # a profile with a single nonzero can hold none of them
    w = tmp_path / "one.npz"
    one = np.zeros((10, 10), dtype=np.float32)
    one[0, 0] = 1.0
    np.savez(w, fc1=one)
    assert main(["compress", "--weights", str(w), "--out", str(tmp_path / "one"), "--quiet"]) == 0
    p = _sweep(tmp_path, '[sweep]\nworkloads = ["eie:alex-8"]\nstructure = "one/model.dcz:fc1"\n', "t.toml")
    with pytest.raises(ConfigError, match="fewer than the layer's"):
        load_sweep(p)
    capsys.readouterr()


def test_a_conv_archive_runs_on_whole_images(tmp_path, capsys):
    """A point of a model whose first layer is a conv takes whole images (the input shape), not the
    conv's im2col rows: the fan-in checks and the worker's inputs use the model's input shape."""
    rng = np.random.default_rng(0)
    w = tmp_path / "conv.npz"
    np.savez(w, conv1=rng.normal(size=(4, 1, 3, 3)).astype(np.float32),
             fc1=rng.normal(size=(10, 64)).astype(np.float32))
    assert main(["compress", "--weights", str(w), "--input-shape", "1,6,6", "--out", str(tmp_path / "c"),
                 "--quiet"]) == 0
    np.save(tmp_path / "x.npy", rng.random((3, 36)))
    p = _sweep(tmp_path, '[sweep]\nworkloads = ["archive:c/model.dcz"]\ninput_file = "x.npy"\n'
                         '[axes]\naccel.fifo_depth = [1]\n')
    assert len(load_sweep(p).points) == 1
    out = tmp_path / "o"
    assert main(["dse", str(p), "--out", str(out), "--jobs", "1", "--quiet"]) == 0
    rows = _csv(out / "results.csv")
    assert rows[0]["status"] == "ok", rows[0]["error"]
    assert int(rows[0]["inputs"]) == 3 and rows[0]["verified"] == "True"
    capsys.readouterr()
