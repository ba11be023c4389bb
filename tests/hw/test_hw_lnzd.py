"""The LNZD tree (hw/lnzd.py) alone in Amaranth's simulator: random bit vectors and start
positions; the found index is the lowest set bit at or after the start, and "none" when there is
none."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("amaranth")

from amaranth.sim import Simulator  # noqa: E402

from hw.lnzd import LNZD, lnzd_levels  # noqa: E402


def test_lnzd_levels():
    assert [lnzd_levels(w) for w in (1, 3, 4, 5, 16, 17, 64, 65)] == [1, 1, 1, 2, 2, 3, 3, 4]


@pytest.mark.parametrize("width", [1, 2, 3, 4, 5, 7, 8, 13, 16, 17, 32, 64, 70])
def test_lnzd_lowest_set_bit_at_or_after_start(width):
    rng = np.random.default_rng(width)
    dut = LNZD(width)
    sim = Simulator(dut)
    checked = []

    async def tb(ctx):
        for _ in range(150):
            density = float(rng.choice([0.0, 0.05, 0.3, 0.9]))
            bits = [int(b) for b in rng.random(width) < density]
            start = int(rng.integers(0, width + 1))
            ctx.set(dut.nz, sum(b << i for i, b in enumerate(bits)))
            ctx.set(dut.start, start)
            want = next((i for i in range(start, width) if bits[i]), None)
            found, index = ctx.get(dut.found), ctx.get(dut.index)
            assert found == (want is not None), (bits, start)
            if want is not None:
                assert index == want, (bits, start, index)
            checked.append(want is None)

    sim.add_testbench(tb)
    sim.run()
    assert any(checked) and not all(checked)      # both "found" and "none" cases were seen
