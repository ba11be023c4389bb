"""energy_model: access counts x per-access energy (SRAM versus DRAM), in SI units.

- :func:`load_energy_table` -> :class:`EnergyTable`: the per-action table (45 nm data from
  Horowitz / EIE, scaled to ``AcceleratorConfig.tech_node``, then the user's overrides);
  every :class:`EnergyEntry` has ``pJ``, ``unit`` and ``source``.
- :func:`sram_access` / :func:`sram_energy_pJ`: SRAM and register-file energy by capacity
  and word width (:data:`CAPACITY_FIT` is the fit to Horowitz's cache points).
- :func:`scale_factor`: technology scaling (Stillmaker & Baas 2017).
- :func:`action_energies`, :func:`layer_energy`, :func:`scenario_energies`: the energy of
  one access of each simulator component, of a simulated layer, and of the three storage
  scenarios of one model.

docs/energy.md is the reference. energy_model imports only arch (and numpy, tomllib).
"""
from .model import (COMPONENTS, SCENARIOS, SPILL_RULE, action_energies, fifo_entry_bits, layer_energy,
                    lnzd_levels, scenario_energies)
from .scaling import NODES, SCALE_KINDS, ScalingError, logic_factor, scale_factor, scaling_rows
from .sram import CAPACITY_EXPONENT, CAPACITY_FIT, CapacityFit, fit_capacity_exponent, sram_access, sram_energy_pJ
from .table import (EnergyEntry, EnergyTable, EnergyTableError, action_names, base_table, load_energy_table,
                    parse_node)

__all__ = [
    "CAPACITY_EXPONENT", "CAPACITY_FIT", "COMPONENTS", "CapacityFit", "EnergyEntry", "EnergyTable",
    "EnergyTableError", "NODES", "SCALE_KINDS", "SCENARIOS", "SPILL_RULE", "ScalingError", "action_energies",
    "action_names", "base_table", "fifo_entry_bits", "fit_capacity_exponent", "layer_energy",
    "lnzd_levels", "load_energy_table", "logic_factor", "parse_node", "scale_factor", "scaling_rows",
    "scenario_energies", "sram_access", "sram_energy_pJ",
]
