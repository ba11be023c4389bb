"""energy_model: access counts x per-access energy (SRAM versus DRAM), in SI units.

- :func:`load_energy_table` -> :class:`EnergyTable`: the per-action table (45 nm data from
  Horowitz / EIE, scaled to the machine's ``tech_node``, then the user's overrides); every
  :class:`EnergyEntry` has ``pJ``, ``unit`` and ``source``.
- :func:`sram_access` / :func:`sram_energy_pJ`: SRAM and register-file energy by capacity
  and word width (:data:`CAPACITY_FIT` is the fit to Horowitz's cache points).
- :func:`scale_factor`: technology scaling (Stillmaker & Baas 2017).
- :func:`layer_energy`, :func:`evaluate_energy`, :func:`rates` (energy_model/model.py): the energy
  of a simulated layer and run on any machine, priced with the machine's action energies, and
  the power and throughput that follow.
- energy_model/eie.py: EIE's action energies and its scenarios of where the weights live
  (dense fp32 in DRAM, compressed in DRAM, compressed in on-chip SRAM).

docs/energy.md is the reference. May import arch, numpy and tomllib.
"""
from .chip import (Area, AreaEntry, AreaTable, Part, chip_area, chip_inventory, cycle_energies,
                   cycle_energies_by_module, flip_flops, load_area_table, pe_inventory, sram_macro_area)
from .eie import EIE_PRICING, SCENARIOS, SPILL_RULE, action_energies, fifo_entry_bits, lnzd_levels, scenario_energies
from .model import EnergyResult, LayerEnergy, Rates, evaluate_energy, layer_energy, rates
from .scaling import NODES, SCALE_KINDS, ScalingError, logic_factor, scale_factor, scaling_rows
from .sram import CAPACITY_EXPONENT, CAPACITY_FIT, CapacityFit, fit_capacity_exponent, sram_access, sram_energy_pJ
from .table import (EnergyEntry, EnergyTable, EnergyTableError, action_names, base_table, load_energy_table,
                    parse_node)

__all__ = [
    "Area", "AreaEntry", "AreaTable", "Part", "chip_area", "chip_inventory", "cycle_energies",
    "cycle_energies_by_module", "flip_flops", "load_area_table", "pe_inventory", "sram_macro_area",
    "CAPACITY_EXPONENT", "CAPACITY_FIT", "CapacityFit", "EIE_PRICING", "EnergyEntry", "EnergyResult",
    "EnergyTable", "EnergyTableError", "LayerEnergy", "NODES", "Rates", "SCALE_KINDS", "SCENARIOS", "SPILL_RULE",
    "ScalingError", "action_energies", "action_names", "base_table", "evaluate_energy", "fifo_entry_bits",
    "fit_capacity_exponent", "layer_energy", "lnzd_levels", "load_energy_table", "logic_factor", "parse_node",
    "rates", "scale_factor", "scaling_rows", "scenario_energies", "sram_access", "sram_energy_pJ",
]
