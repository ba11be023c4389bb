"""dcsim simulate end to end: an archive on user inputs and a named EIE layer, both verified."""
import json

import numpy as np
import pytest

from dcsim.cli import main


def _archive(tmp_path, seed=0):
    rng = np.random.default_rng(seed)
    w = tmp_path / "w.npz"
    np.savez(w, fc1=rng.normal(0, 0.3, size=(70, 40)).astype(np.float32),
             fc1_bias=rng.normal(0, 0.1, size=70).astype(np.float32),
             fc2=rng.normal(0, 0.3, size=(10, 70)).astype(np.float32))
    cfg = tmp_path / "c.toml"
    cfg.write_text("[compress]\ndensity = 0.3\nfc_bits = 4\n")
    out = tmp_path / "c"
    assert main(["compress", "--weights", str(w), "--config", str(cfg), "--out", str(out), "--quiet"]) == 0
    return out / "model.dcz"


def test_simulate_archive_verified(tmp_path, capsys):
    a = _archive(tmp_path)
    x = np.random.default_rng(1).random((6, 40))
    x[x < 0.5] = 0
    xp = tmp_path / "x.npy"
    np.save(xp, x)
    out = tmp_path / "s"
    rc = main(["simulate", str(a), "--inputs", str(xp), "--pes", "8", "--fifo", "2", "--verify", "--out", str(out),
               "--quiet"])
    assert rc == 0
    doc = json.loads((out / "sim.json").read_text())
    assert doc["verified"] is True and [l["layer"] for l in doc["layers"]] == ["fc1", "fc2"]
    for l in doc["layers"]:
        assert l["inputs"] == 6 and l["n_pe"] == 8 and l["fifo_depth"] == 2
        assert l["cycles"] >= l["max_pe_busy_cycles"]
        assert set(l["accesses"]) >= {"spmat_sram", "ptr_sram", "act_regs", "act_sram", "codebook", "fifo", "mul",
                                      "add", "broadcast"}
        assert l["accesses"]["mul"]["reads"] == l["entries"] - l["fillers"]
        assert l["engine_seconds"] >= 0
        assert len(l["per_pe"]["busy_cycles"]) == 8
    assert doc["total"]["cycles"] == sum(l["cycles"] for l in doc["layers"])
    csv = (out / "sim_layers.csv").read_text().splitlines()
    assert len(csv) == 3 and "latency_us" in csv[0] and "spmat_sram_reads" in csv[0]
    text = capsys.readouterr().out
    assert "latency (us)" in text and "verified" in text


def test_simulate_named_layer(tmp_path):
    out = tmp_path / "s"
    assert main(["simulate", "--layer", "nt-we", "--pes", "16", "--verify", "--out", str(out), "--quiet"]) == 0
    doc = json.loads((out / "sim.json").read_text())
    (l,) = doc["layers"]
    assert (l["rows"], l["cols"]) == (600, 4096) and l["n_pe"] == 16 and doc["verified"]


@pytest.mark.parametrize("args,frag", [
    (["--layer", "alex-9"], "alex-9"),
    (["--layer", "nt-we", "--pes", "0"], "--pes"),
    (["--layer", "nt-we", "--fifo", "0"], "--fifo"),
    (["--layer", "nt-we", "--count", "3"], "--count"),
    ([], "ARCHIVE"),
])
def test_simulate_bad_input(tmp_path, capsys, args, frag):
    assert main(["simulate", *args, "--out", str(tmp_path / "o"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert frag in err[-1]
    assert not (tmp_path / "o").exists()


def test_simulate_bad_inputs_file(tmp_path, capsys):
    a = _archive(tmp_path)
    bad = tmp_path / "bad.npy"
    np.save(bad, np.zeros((3, 41)))
    assert main(["simulate", str(a), "--inputs", str(bad), "--quiet"]) == 2
    assert "(3, 41)" in capsys.readouterr().err
