"""dcsim verilog: one archive layer to Verilog, and its errors."""
import pytest

from dcsim.cli import main
from tests.test_energy_cli import _inputs
from tests.test_sim_cli import _archive


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
