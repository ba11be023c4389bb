"""Result types of the simulator (docs/microarchitecture.md defines every field)."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

ACCESS_COMPONENTS = ("spmat_sram", "ptr_sram", "act_regs", "act_sram", "codebook", "fifo", "mul", "add",
                     "broadcast")


class SimulationMismatch(AssertionError):
    """The engine's outputs differ from the numpy reference (a fidelity bug, never a user error)."""


def empty_accesses() -> dict[str, dict[str, int]]:
    """``accesses[component] = {"reads": 0, "writes": 0}`` for every component of DESIGN.md."""
    return {c: {"reads": 0, "writes": 0} for c in ACCESS_COMPONENTS}


def add_accesses(a: dict[str, dict[str, int]], b: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
    """Sum of two access-count dicts (new dict)."""
    return {c: {k: int(a.get(c, {}).get(k, 0)) + int(b.get(c, {}).get(k, 0)) for k in ("reads", "writes")}
            for c in ACCESS_COMPONENTS}


@dataclass
class LayerResult:
    """One layer run on one input vector (or the sum over several, see :func:`merge`).

    ``outputs`` are the layer's outputs in the activation format (int64; shape
    ``(n_rows,)``, or ``(K, n_rows)`` after merging K runs). Cycle figures are
    totals over the tiles (and over merged runs); ``busy``/``idle``/``stalled``
    are per PE and add up to ``cycles`` for every PE.
    """

    n_pe: int
    n_rows: int
    n_cols: int
    outputs: np.ndarray
    cycles: int
    tile_cycles: list[int]
    busy: np.ndarray
    idle: np.ndarray
    stalled: np.ndarray
    entries: int          # entries fetched, fillers included
    fillers: int          # filler entries fetched
    broadcasts: int       # nonzero activations broadcast
    accesses: dict[str, dict[str, int]] = field(default_factory=empty_accesses)
    engine_seconds: float = 0.0
    runs: int = 1

    @property
    def load_balance_efficiency(self) -> float:
        """Mean over PEs of busy / total cycles."""
        return float(np.mean(self.busy) / self.cycles) if self.cycles else 0.0

    @property
    def useful_efficiency(self) -> float:
        """Non-filler entries / (n_pe x cycles)."""
        return (self.entries - self.fillers) / (self.n_pe * self.cycles) if self.cycles else 0.0

    @property
    def filler_overhead(self) -> float:
        """Filler entries / entries fetched."""
        return self.fillers / self.entries if self.entries else 0.0

    @property
    def max_pe_busy(self) -> int:
        """The slowest PE's own work (busy cycles)."""
        return int(np.max(self.busy)) if len(self.busy) else 0

    def check_invariants(self) -> None:
        """Raise AssertionError if the cycle accounting is inconsistent."""
        total = self.busy + self.idle + self.stalled
        assert np.all(total == self.cycles), "busy + idle + stalled != cycles for some PE"
        assert self.cycles >= self.max_pe_busy, "a layer ended before its slowest PE's work"
        assert self.cycles == sum(self.tile_cycles), "tile cycles do not add up"


def merge(results: list[LayerResult]) -> LayerResult:
    """Several runs of one layer (one per input vector) as one result: sums, outputs stacked."""
    if not results:
        raise ValueError("nothing to merge")
    r0 = results[0]
    acc = empty_accesses()
    for r in results:
        acc = add_accesses(acc, r.accesses)
    return LayerResult(
        n_pe=r0.n_pe, n_rows=r0.n_rows, n_cols=r0.n_cols,
        outputs=np.stack([r.outputs for r in results]),
        cycles=sum(r.cycles for r in results),
        tile_cycles=[c for r in results for c in r.tile_cycles],
        busy=np.sum([r.busy for r in results], axis=0), idle=np.sum([r.idle for r in results], axis=0),
        stalled=np.sum([r.stalled for r in results], axis=0),
        entries=sum(r.entries for r in results), fillers=sum(r.fillers for r in results),
        broadcasts=sum(r.broadcasts for r in results), accesses=acc,
        engine_seconds=sum(r.engine_seconds for r in results), runs=sum(r.runs for r in results))
