"""dcsim verilog on a layer smaller than the machine: the machine is sized to the layer's rows
(unless --pes is given), and an export estimated above the limit is announced in one line
(hw.export.estimate_export, docs/hardware.md "Output size and time")."""
import contextlib
import dataclasses
import json

import pytest

pytest.importorskip("amaranth")

from arch.config import AcceleratorConfig  # noqa: E402
from arch.configio import ConfigError  # noqa: E402
from dcsim.cli import main  # noqa: E402
from dcsim.commands import hardware  # noqa: E402
from dcsim.commands.hardware import size_to_layer, size_warning  # noqa: E402
from hw.cases import random_case  # noqa: E402
from hw.export import estimate_export, export_layer  # noqa: E402
from tests.dcsim.test_energy_cli import _inputs  # noqa: E402
from tests.dcsim.test_sim_cli import _archive  # noqa: E402

#: 64 PEs (the default) with small SRAMs, so that the exports here take about a second.
SMALL_SRAMS = "[accel]\nspmat_sram_bytes = 2048\nptr_sram_bytes = 512\nact_regs_per_pe = 16\n"


def _verilog(tmp_path, capsys, *extra, name="v"):
    a = _archive(tmp_path)
    cfg = tmp_path / "small.toml"
    cfg.write_text(SMALL_SRAMS)
    out = tmp_path / name
    capsys.readouterr()                               # what compress printed
    assert main(["verilog", str(a), "--inputs", str(_inputs(tmp_path)), "--archive-layer", "fc2",
                 "--config", str(cfg), "--out", str(out), "--quiet", *extra]) == 0
    cap = capsys.readouterr()
    return out, json.loads((out / "eie_top.json").read_text()), cap


def test_a_small_layer_gets_a_machine_of_its_rows(tmp_path, capsys):
    out, man, cap = _verilog(tmp_path, capsys)
    assert "fc2 has 10 rows: sizing the machine to 10 PEs instead of 64 (give --pes to override)" in cap.err
    assert cap.err.count("sizing the machine") == 1
    assert man["parameters"]["n_pe"] == 10 and man["parameters"]["config"]["n_pe"] == 10
    assert "10 x 71 layer fc2, 10 PEs" in cap.out
    assert len(list(out.glob("pe*_spmat.hex"))) == 10
    # the rest of the machine is the config's
    assert man["parameters"]["config"]["spmat_sram_bytes"] == 2048
    assert man["parameters"]["config"]["act_regs_per_pe"] == 16
    assert "warning:" not in cap.err


def test_pes_overrides_the_sizing(tmp_path, capsys):
    out, man, cap = _verilog(tmp_path, capsys, "--pes", "12")
    assert "sizing the machine" not in cap.err
    assert man["parameters"]["n_pe"] == 12
    assert len(list(out.glob("pe*_spmat.hex"))) == 12


def test_the_size_warning_line_appears_over_the_limit(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(hardware, "SIZE_WARN_MB", 0.5)
    _, man, cap = _verilog(tmp_path, capsys)
    lines = [l for l in cap.err.splitlines() if l.startswith("warning:")]
    assert len(lines) == 1, cap.err
    assert "MB" in lines[0] and "--pes " in lines[0] and "examples/fpga.toml" in lines[0]
    assert man["parameters"]["n_pe"] == 10            # it warns and goes on


def test_default_machine_sized_to_a_10_row_layer_is_small():
    # the user's case (10 x 71 layer, default machine): 64 PEs would be ~86 MB; 10 PEs stay under the limit
    big = estimate_export(AcceleratorConfig(), 10, 71)
    assert 80e6 < big.total_bytes < 95e6 and 50e6 < big.verilog_bytes < 60e6
    cfg, n = size_to_layer(AcceleratorConfig(), 10, pes_given=False)
    assert n == 10 and cfg == AcceleratorConfig(n_pe=10)
    assert estimate_export(cfg, 10, 71).total_bytes < hardware.SIZE_WARN_MB * 1e6
    assert size_warning(cfg, 10, 71) is None


def test_size_warning_of_a_large_export():
    line = size_warning(AcceleratorConfig(), 10, 71)
    assert line is not None and "\n" not in line
    assert 80 <= int(line.split("write about ")[1].split(" MB")[0]) <= 95   # measured: 86.4 MB
    assert "64 PEs x 16384 sparse-matrix SRAM words" in line and " min;" in line
    # the largest --pes under the limit, and the FPGA machine
    n = int(line.split("--pes ")[1].split()[0])
    assert estimate_export(AcceleratorConfig(n_pe=n), 10, 71).total_bytes <= 20e6
    assert estimate_export(AcceleratorConfig(n_pe=n + 1), 10, 71).total_bytes > 20e6
    assert "--config examples/fpga.toml" in line
    # one PE over the limit already: only the smaller machine is suggested
    huge = size_warning(AcceleratorConfig(n_pe=4, spmat_sram_bytes=1 << 28), 10, 71)
    assert "--pes" not in huge and "examples/fpga.toml" in huge


def test_size_to_layer_rules():
    cfg = AcceleratorConfig()
    assert size_to_layer(cfg, 10, pes_given=True) == (cfg, None)
    assert size_to_layer(cfg, 64, pes_given=False) == (cfg, None)
    assert size_to_layer(cfg, 300, pes_given=False) == (cfg, None)
    assert size_to_layer(cfg, 1, pes_given=False)[1] == 1

    @dataclasses.dataclass(frozen=True)
    class Pow2:                                       # a machine whose n_pe must be a power of two
        n_pe: int = 64

        def replace(self, **kw):
            if kw["n_pe"] & (kw["n_pe"] - 1):
                raise ConfigError(f"n_pe = {kw['n_pe']}: not a power of two")
            return dataclasses.replace(self, **kw)

    assert size_to_layer(Pow2(), 10, pes_given=False) == (Pow2(16), 16)


@pytest.mark.parametrize("n_pe,regs,spmat,host", [(10, 16, 2048, False), (3, 4, 8192, True)])
def test_estimate_matches_the_export(tmp_path, n_pe, regs, spmat, host):
    cfg = AcceleratorConfig(n_pe=n_pe, act_regs_per_pe=regs, spmat_sram_bytes=spmat)
    case = random_case(0, cfg, 10, 71, 0.3, 0.5, True)
    steps = []

    @contextlib.contextmanager
    def step(name):
        steps.append(name)
        yield

    export_layer(tmp_path, cfg, case.indices, case.codebook_q, case.x, case.fmt, case.relu, host=host, step=step)
    from machines.eie import EIE_RTL
    assert len(steps) == EIE_RTL.export_steps and "write Verilog (Yosys)" in steps    # the progress bar's steps
    est = estimate_export(cfg, 10, 71, host=host)
    assert sum(f.stat().st_size for f in tmp_path.glob("*.hex")) == est.hex_bytes      # exact
    assert est.verilog_bytes == pytest.approx((tmp_path / "eie_top.v").stat().st_size, rel=0.15)
    assert est.total_bytes == pytest.approx(sum(f.stat().st_size for f in tmp_path.iterdir()), rel=0.15)


def test_rtl_of_a_sized_machine_matches_the_simulator():
    """The sizing makes PE counts that are not powers of two (10 for fc2): the RTL runs them as the engine."""
    from sim.engine import prepare_layer, run_layer
    from sim.reference import reference_layer
    from tests.hw.test_hw_amaranth_sim import _run_rtl

    cfg = AcceleratorConfig(n_pe=10, act_regs_per_pe=4, spmat_sram_bytes=1024, fifo_depth=2)
    case = random_case(7, cfg, 10, 71, 0.3, 0.6, True)
    got = _run_rtl(case)
    ref = reference_layer(case.indices, case.codebook_q, case.x, case.fmt, case.relu)
    res = run_layer(prepare_layer(case.indices, cfg), case.codebook_q, case.x, case.fmt, case.relu)
    assert got["outputs"] == [int(o) for o in ref]
    assert got["cycles"] == res.cycles and got["busy"] == [int(b) for b in res.busy]
