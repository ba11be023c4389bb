"""hypothesis-driven layers on the RTL, in Amaranth's simulator and on the generated Verilog (cocotb + Icarus):
PE counts 1/2/4/8, FIFO depths 1..4, densities, rel_index_bits 2..4, and several output passes /
input batches through small ``act_regs_per_pe``. Outputs equal sim.reference bit for bit; total
cycles and every PE's busy cycles equal sim.engine.run_layer exactly. 20 examples by default; the
``slow`` test runs 200 more (and the ``slow`` hypothesis profile does not lower either)."""
from __future__ import annotations

import pytest

pytest.importorskip("amaranth")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from arch.config import AcceleratorConfig  # noqa: E402
from hw.cases import random_case  # noqa: E402
from sim.engine import prepare_layer, run_layer  # noqa: E402
from sim.reference import reference_layer  # noqa: E402

from tests.hw.hw_expect import expectations  # noqa: E402

from .test_hw_amaranth_sim import _check as _check_rtl  # noqa: E402
from .test_hw_amaranth_sim import _run_rtl  # noqa: E402

_case = st.fixed_dictionaries({
    "seed": st.integers(0, 2**31 - 1),
    "n_pe": st.sampled_from([1, 2, 4, 8]),
    "fifo_depth": st.integers(1, 4),
    "rel_index_bits": st.integers(2, 4),
    "act_regs_per_pe": st.integers(1, 6),
    "rows": st.integers(1, 28),
    "cols": st.integers(1, 28),
    "density": st.floats(0.02, 0.9),
    "act_density": st.floats(0.0, 1.0),
    "relu": st.booleans(),
    "overflow": st.sampled_from(["saturate", "wrap"]),
    "acc_bits": st.sampled_from([20, 32]),
    "scale": st.sampled_from([1.0, 30.0]),
})


def _check(d):
    cfg = AcceleratorConfig(n_pe=d["n_pe"], fifo_depth=d["fifo_depth"], rel_index_bits=d["rel_index_bits"],
                            act_regs_per_pe=d["act_regs_per_pe"], spmat_sram_bytes=1024,
                            overflow=d["overflow"], acc_bits=d["acc_bits"])
    case = random_case(d["seed"], cfg, d["rows"], d["cols"], d["density"], d["act_density"], d["relu"],
                       scale=d["scale"])
    prep = prepare_layer(case.indices, cfg)
    got = _run_rtl(case)
    ref = reference_layer(case.indices, case.codebook_q, case.x, case.fmt, case.relu)
    res = run_layer(prep, case.codebook_q, case.x, case.fmt, case.relu)
    ctx = f"{d}: {prep.n_passes} passes x {prep.n_batches} batches, tiles {res.tile_cycles}"
    assert got["outputs"] == [int(o) for o in ref], ctx
    assert got["cycles"] == res.cycles, ctx
    assert got["busy"] == [int(b) for b in res.busy], ctx
    _check_rtl(got, expectations(case), ctx)        # raw accumulators and access counts too


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_case)
def test_rtl_random_layers(d):
    _check(d)


@pytest.mark.slow
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_case)
def test_rtl_random_layers_slow(d):
    _check(d)


def _check_verilog(d):
    """The same random layer, exported to Verilog and run under cocotb on Icarus."""
    import shutil as _sh
    import tempfile
    from pathlib import Path

    if _sh.which("iverilog") is None:
        pytest.skip("iverilog not installed (make test installs it)")
    pytest.importorskip("cocotb")
    from .test_hw_cocotb import run_cocotb

    cfg = AcceleratorConfig(n_pe=d["n_pe"], fifo_depth=d["fifo_depth"], rel_index_bits=d["rel_index_bits"],
                            act_regs_per_pe=d["act_regs_per_pe"], spmat_sram_bytes=1024,
                            overflow=d["overflow"], acc_bits=d["acc_bits"])
    case = random_case(d["seed"], cfg, d["rows"], d["cols"], d["density"], d["act_density"], d["relu"],
                       scale=d["scale"])
    prep = prepare_layer(case.indices, cfg)
    ref = reference_layer(case.indices, case.codebook_q, case.x, case.fmt, case.relu)
    res = run_layer(prep, case.codebook_q, case.x, case.fmt, case.relu)
    with tempfile.TemporaryDirectory() as t:
        run_cocotb(case, ref, res, Path(t), readmemh=prep.n_passes * prep.n_batches > 1)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_case)
def test_verilog_random_layers(d):
    """hypothesis on the generated Verilog (cocotb + Icarus): outputs, cycles and busy cycles."""
    _check_verilog(d)


@pytest.mark.slow
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_case)
def test_verilog_random_layers_slow(d):
    _check_verilog(d)
