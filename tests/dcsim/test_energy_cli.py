"""dcsim energy and dcsim report end to end, on a small archive and a named EIE layer."""
import json

import numpy as np
import pytest

from dcsim.cli import main
from tests.dcsim.test_sim_cli import _archive


def _inputs(tmp_path):
    x = np.random.default_rng(3).random((4, 40))
    x[x < 0.5] = 0
    p = tmp_path / "x.npy"
    np.save(p, x)
    return p


def test_energy_archive_files_and_units(tmp_path, capsys):
    a = _archive(tmp_path)
    out = tmp_path / "e"
    assert main(["energy", str(a), "--inputs", str(_inputs(tmp_path)), "--pes", "8", "--out", str(out),
                 "--quiet"]) == 0
    doc = json.loads((out / "energy.json").read_text())
    assert [l["layer"] for l in doc["layers"]] == ["fc1", "fc2"]
    assert doc["leakage"] is True                       # on by default
    for l in doc["layers"]:
        comps = sum(l[f"{c}_pJ"] for c in doc["components"])
        assert set(doc["components"]) >= {"clock", "control", "leakage"}
        assert l["total_pJ"] == pytest.approx(comps)
        assert l["access_pJ"] == pytest.approx(comps - l["clock_pJ"] - l["control_pJ"] - l["leakage_pJ"])
        assert min(l["clock_pJ"], l["control_pJ"], l["leakage_pJ"]) > 0
        assert sum(doc["by_module_pJ"][l["layer"]].values()) == pytest.approx(l["total_pJ"])
        assert l["frames_per_s_per_mm2"] == pytest.approx(l["frames_per_s"] / doc["area"]["chip_mm2"])
        # power = energy / latency, in W from pJ and us
        assert l["power_W"] == pytest.approx(l["total_pJ"] * 1e-12 / (l["latency_us"] * 1e-6))
        assert l["latency_us"] == pytest.approx(l["cycles"] / 800.0)
    s = doc["scenarios"]
    assert s["scenarios"]["a"]["total_pJ"] > s["scenarios"]["b"]["total_pJ"] > s["scenarios"]["c"]["total_pJ"]
    assert s["fits_on_chip"] and s["a_over_c"] > s["b_over_c"] > 1
    assert (out / "energy_layers.csv").read_text().splitlines()[0].count("_pJ") >= 5
    assert (out / "energy.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    printed = capsys.readouterr().out
    assert "on-chip gain" in printed and "Energy by module" in printed and "Area of one PE by module" in printed
    # --no-leakage leaves the static energy out and nothing else
    out2 = tmp_path / "e2"
    assert main(["energy", str(a), "--inputs", str(_inputs(tmp_path)), "--pes", "8", "--out", str(out2),
                 "--quiet", "--no-leakage"]) == 0
    doc2 = json.loads((out2 / "energy.json").read_text())
    assert doc2["leakage"] is False and "leakage" not in doc2["components"]
    for l, l2 in zip(doc["layers"], doc2["layers"]):
        assert l2["leakage_pJ"] == 0.0
        assert l2["total_pJ"] == pytest.approx(l["total_pJ"] - l["leakage_pJ"])
        assert l2["clock_pJ"] == pytest.approx(l["clock_pJ"])


def test_energy_tech_node_and_override(tmp_path):
    a = _archive(tmp_path)
    x = _inputs(tmp_path)
    tot = {}
    for tag, extra in (("45", []), ("7", ["--tech", "7nm"])):
        out = tmp_path / tag
        assert main(["energy", str(a), "--inputs", str(x), "--out", str(out), "--quiet", *extra]) == 0
        tot[tag] = json.loads((out / "energy.json").read_text())
    assert tot["7"]["tech_node_nm"] == 7
    assert tot["7"]["total"]["total_pJ"] < 0.2 * tot["45"]["total"]["total_pJ"]
    ov = tmp_path / "ov.toml"
    ov.write_text('[actions.int16_mult]\npJ = 100.0\nsource = "test override"\n')
    out = tmp_path / "ov"
    assert main(["energy", str(a), "--inputs", str(x), "--out", str(out), "--quiet", "--energy-table", str(ov)]) == 0
    d = json.loads((out / "energy.json").read_text())
    assert d["total"]["mul_pJ"] > 50 * tot["45"]["total"]["mul_pJ"]
    # the same file overrides areas ([areas.NAME], um2): a denser bit cell, a smaller chip
    ov.write_text('[areas.sram_bitcell]\num2 = 0.173\nsource = "test override"\n')
    assert main(["energy", str(a), "--inputs", str(x), "--out", str(out), "--quiet", "--energy-table", str(ov)]) == 0
    d = json.loads((out / "energy.json").read_text())
    assert d["area"]["chip_mm2"] < 0.7 * tot["45"]["area"]["chip_mm2"]
    assert d["total"]["frames_per_s_per_mm2"] > tot["45"]["total"]["frames_per_s_per_mm2"]


def test_energy_plot_content(tmp_path):
    from reports.energy import plot_energy_breakdown

    doc = {"name": "m", "tech_node_nm": 45, "components": ["spmat_sram", "mul"],
           "layers": [{"layer": "fc1", "mul_pJ": 1.0, "spmat_sram_pJ": 2.0}, {"layer": "fc2", "mul_pJ": 3.0}]}
    fig = plot_energy_breakdown(doc, tmp_path / "p.png")
    ax = fig.axes[0]
    assert len(ax.containers) == 2                      # one stacked series per component present
    assert [t.get_text() for t in ax.get_xticklabels()] == ["fc1", "fc2"]
    assert "(pJ)" in ax.get_ylabel() and "45 nm" in ax.get_title()
    assert sorted(t.get_text() for t in ax.get_legend().get_texts()) == ["mul", "spmat_sram"]


def test_report(tmp_path):
    a = _archive(tmp_path)
    out = tmp_path / "r"
    assert main(["report", str(a), "--inputs", str(_inputs(tmp_path)), "--out", str(out), "--quiet"]) == 0
    md = (out / "report.md").read_text()
    for frag in ("energy_pJ", "latency_us", "frames_per_s", "frames_per_J", "power_W", "(a)/(c)", "frames/s/mm2",
                 "## Energy by module", "| spmat_read |", "clock network, control and leakage; the chip is"):
        assert frag in md
    doc = json.loads((out / "report.json").read_text())
    assert [r["layer"] for r in doc["layers"]] == ["fc1", "fc2", "total"]
    assert all(r["energy_pJ"] > 0 for r in doc["layers"])
    assert (out / "report_energy.png").is_file()


def test_energy_named_layer(tmp_path):
    out = tmp_path / "e"
    assert main(["energy", "--layer", "nt-we", "--pes", "16", "--out", str(out), "--quiet"]) == 0
    doc = json.loads((out / "energy.json").read_text())
    assert set(doc["scenarios_per_layer"]) == {"nt-we"}


@pytest.mark.parametrize("args,frag", [
    (["--layer", "nt-we", "--tech", "40nm"], "tech_node = 40"),
    (["--layer", "nt-we", "--tech", "fast"], "--tech fast"),
    (["--layer", "nt-we", "--energy-table", "nope.toml"], "nope.toml"),
])
def test_energy_bad_input(tmp_path, capsys, args, frag):
    assert main(["energy", *args, "--out", str(tmp_path / "o"), "--quiet"]) == 2
    assert frag in capsys.readouterr().err.strip().splitlines()[-1]
    assert not (tmp_path / "o").exists()


def test_report_needs_archive(tmp_path, capsys):
    assert main(["report", "--out", str(tmp_path / "o")]) == 2
    assert "ARCHIVE" in capsys.readouterr().err



def test_energy_and_report_reuse_the_simulation_of_the_same_run(tmp_path, capsys):
    a, x = _archive(tmp_path), _inputs(tmp_path)
    fresh, shared = tmp_path / "fresh", tmp_path / "shared"
    assert main(["energy", str(a), "--inputs", str(x), "--pes", "8", "--out", str(fresh), "--quiet"]) == 0
    assert main(["simulate", str(a), "--inputs", str(x), "--pes", "8", "--verify", "--out", str(shared),
                 "--quiet"]) == 0
    capsys.readouterr()
    assert main(["energy", str(a), "--inputs", str(x), "--pes", "8", "--out", str(shared), "--quiet"]) == 0
    assert "reusing the simulation in" in capsys.readouterr().err
    drop = ("wall_seconds", "simulation")
    e1, e2 = (json.loads((d / "energy.json").read_text()) for d in (fresh, shared))
    assert {k: v for k, v in e1.items() if k not in drop} == {k: v for k, v in e2.items() if k not in drop}
    assert main(["report", str(a), "--inputs", str(x), "--pes", "8", "--out", str(shared), "--quiet"]) == 0
    assert "reusing the simulation in" in capsys.readouterr().err
    # another machine is another run: simulated again
    assert main(["energy", str(a), "--inputs", str(x), "--pes", "4", "--out", str(shared), "--quiet"]) == 0
    assert "reusing" not in capsys.readouterr().err
    # a run made without the capacity check is not reused where the check is asked for
    from arch.config import AcceleratorConfig
    from dcsim.flow import Settings, reusable_run
    from dcsim.options import workload_from_args
    from dcsim.cli import build_parser

    args = build_parser().parse_args(["simulate", str(a), "--inputs", str(x), "--quiet"])
    w, m, sim = workload_from_args(args), AcceleratorConfig(n_pe=8), shared / "sim.json"
    assert reusable_run(sim, w, m, Settings()) is not None
    doc = json.loads(sim.read_text())
    sim.write_text(json.dumps({**doc, "enforced_capacity": False}))
    assert reusable_run(sim, w, m, Settings(enforce_capacity=False)) is not None
    assert reusable_run(sim, w, m, Settings()) is None
