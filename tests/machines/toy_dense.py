"""A toy machine, written only to show that the machine seam holds: a dense array of
``macs_per_cycle`` multiply-accumulate units that takes one cycle per multiply-add each, zeros
included, and reads every weight from one SRAM. Loaded as a plugin (``DCSIM_PLUGINS``); no
library file knows about it."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from arch.config import Overflow
from arch.configio import ConfigMixin, check
from arch.machine import MACHINES, Machine
from energy_model import EnergyEntry, sram_access
from sim.reference import reference_layer
from sim.results import LayerResult

WEIGHT_SRAM_BYTES = 64 * 1024


@dataclass(frozen=True)
class DenseConfig(ConfigMixin):
    kind: str = "dense"
    macs_per_cycle: int = 1
    act_bits: int = 16
    act_frac_bits: int = 8
    weight_bits: int = 16
    acc_bits: int = 32
    acc_frac_bits: int = 16
    overflow: Overflow = Overflow.SATURATE
    index_bits: int = 4
    clock_mhz: float = 500.0
    tech_node: int = 45

    def __post_init__(self) -> None:
        check(self.kind == "dense", f"kind = {self.kind!r}: DenseConfig is the dense machine's config")
        check(isinstance(self.macs_per_cycle, int) and self.macs_per_cycle >= 1,
              f"macs_per_cycle = {self.macs_per_cycle!r} is not allowed; use an integer >= 1")
        if not isinstance(self.overflow, Overflow):
            object.__setattr__(self, "overflow", Overflow(self.overflow))


@dataclass(frozen=True, eq=False)
class _Prepared:
    indices: np.ndarray
    cfg: DenseConfig


class DenseArray(Machine):
    kind = "dense"
    config_class = DenseConfig
    components = ("weight_sram", "mac")
    storage_components = ("weight_sram",)
    description = "toy: one cycle per multiply-add on each of macs_per_cycle units"

    def prepare(self, indices, cfg, *, enforce_capacity=True):
        return _Prepared(np.asarray(indices), cfg)

    def run(self, prepared, codebook_q, x, fmt, relu):
        idx = prepared.indices
        macs = int(idx.size)
        out = reference_layer(idx, codebook_q, np.asarray(x, dtype=np.int64), fmt, relu)
        return LayerResult(n_rows=idx.shape[0], n_cols=idx.shape[1], outputs=out,
                           cycles=math.ceil(macs / prepared.cfg.macs_per_cycle),
                           accesses={"weight_sram": {"reads": macs, "writes": 0}, "mac": {"reads": macs, "writes": 0}})

    def action_energies(self, cfg, table):
        mult, add = table["int16_mult"], table["int32_add"]
        return {"weight_sram": sram_access(WEIGHT_SRAM_BYTES, cfg.weight_bits, table, what="weight SRAM"),
                "weight_sram_write": sram_access(WEIGHT_SRAM_BYTES, cfg.weight_bits, table, write=True,
                                                 what="weight SRAM"),
                "mac": EnergyEntry(mult.pJ + add.pJ, "per multiply-add", "int16_mult + int32_add of the table")}


MACHINES.register("dense", DenseArray(), replace=True)
