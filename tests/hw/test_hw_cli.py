"""dcsim verilog: one archive layer to Verilog, and its errors."""
import pytest

from dcsim.cli import main
from tests.dcsim.test_energy_cli import _inputs
from tests.dcsim.test_sim_cli import _archive


def test_verilog_command(tmp_path, capsys):
    pytest.importorskip("amaranth")
    a = _archive(tmp_path)
    x = _inputs(tmp_path)
    out = tmp_path / "v"
    assert main(["verilog", str(a), "--inputs", str(x), "--pes", "2", "--archive-layer", "fc2", "--out", str(out),
                 "--quiet"]) == 0
    v = next(out.glob("*.v")).read_text()
    assert "module" in v
    assert main(["verilog", str(a), "--archive-layer", "fc9", "--out", str(tmp_path / "w"), "--quiet"]) == 2
    assert "fc1, fc2" in capsys.readouterr().err
    assert not (tmp_path / "w").exists()


def test_verilog_host_top(tmp_path):
    pytest.importorskip("amaranth")
    import json

    a = _archive(tmp_path)
    out = tmp_path / "h"
    assert main(["verilog", str(a), "--inputs", str(_inputs(tmp_path)), "--pes", "2", "--host", "--out", str(out),
                 "--quiet"]) == 0
    m = json.loads((out / "eie_top.json").read_text())
    assert m["host"] is True
    names = {p["name"] for p in m["ports"]}
    assert {"start", "ld_we", "ld_pe", "ld_mem", "ld_addr", "ld_data", "act_we"} <= names
