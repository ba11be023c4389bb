"""EIE, the machine of Han et al. (ISCA 2016): the first implementation of ``arch.machine.Machine``.

- config: ``arch.config.AcceleratorConfig`` (its defaults are EIE's);
- encoding: interleaved CSC per PE, tiled into output passes and input batches
  (arch/encoding.py, arch/tiling.py; ``sim.engine.prepare_layer`` flattens it);
- simulation: the cycle-level Numba engine (sim/engine.py, docs/microarchitecture.md), one input
  vector (``run``) or many in one parallel call (``run_batch``);
- energies: energy_model/eie.py (per-action energies; scenarios of where the weights live) and
  energy_model/chip.py (area; clock, control and leakage per cycle);
- RTL: the Amaranth PE array (hw/), exported as Verilog and synthesized for FPGAs.
"""
from __future__ import annotations

from arch.config import ACCESS_COMPONENTS, STORAGE_COMPONENTS, AcceleratorConfig
from arch.machine import MACHINES, Machine
from energy_model import eie as eie_energy

__all__ = ["EIE", "EIE_RTL"]


class _EIERTL:
    """EIE's RTL generator (hw/): Verilog of one layer, and FPGA synthesis of the PE array."""

    #: The number of ``step``s :meth:`export_layer` takes (for a progress bar).
    export_steps = 4

    def export_layer(self, out_dir, cfg, indices, codebook_q, x, fmt, relu, host=False, step=None):
        from hw.export import export_layer

        return export_layer(out_dir, cfg, indices, codebook_q, x, fmt, relu, host=host, step=step)

    def estimate_export(self, cfg, n_rows, n_cols, host=False):
        """The size and time of :meth:`export_layer`'s output, from the shapes alone."""
        from hw.export import estimate_export

        return estimate_export(cfg, n_rows, n_cols, host=host)

    @property
    def targets(self) -> tuple[str, ...]:
        from hw.synth import TARGETS

        return tuple(TARGETS)

    def synthesize(self, cfg, target, out_dir, **kwargs):
        from hw.synth import synthesize

        return synthesize(cfg, target, out_dir, **kwargs)


EIE_RTL = _EIERTL()


class EIE(Machine):
    """EIE: N PEs with interleaved CSC weights, an activation broadcast with FIFOs, 4-stage pipelines."""

    kind = "eie"
    config_class = AcceleratorConfig
    components = ACCESS_COMPONENTS
    storage_components = STORAGE_COMPONENTS
    description = "EIE (Han et al., ISCA 2016): sparse, weight-shared fc layers from on-chip SRAM"
    rtl = EIE_RTL

    def layer_config(self, cfg: AcceleratorConfig, index_bits: int) -> AcceleratorConfig:
        return cfg.for_layer(index_bits)

    def retarget_note(self, cfg: AcceleratorConfig, layer_cfg: AcceleratorConfig) -> str:
        return cfg.retarget_note(layer_cfg)

    #: The encoding and the tiling depend on neither (docs/microarchitecture.md).
    timing_only_fields = ("fifo_depth", "clock_mhz", "tech_node")

    def prepare(self, indices, cfg: AcceleratorConfig, *, enforce_capacity: bool = True):
        from sim.engine import prepare_layer

        return prepare_layer(indices, cfg, enforce_capacity=enforce_capacity)

    def reuse_prepared(self, prepared, cfg: AcceleratorConfig):
        """The same streams, run on ``cfg``'s FIFO depth, clock and node (the layer's own index
        widths kept)."""
        import dataclasses

        tcfg = prepared.tiled.cfg.replace(**{f: getattr(cfg, f) for f in self.timing_only_fields})
        return dataclasses.replace(prepared, tiled=dataclasses.replace(prepared.tiled, cfg=tcfg))

    def run(self, prepared, codebook_q, x, fmt, relu):
        from sim.engine import run_layer

        return run_layer(prepared, codebook_q, x, fmt, relu)

    def run_batch(self, prepared, codebook_q, X, fmt, relu):
        """All rows of ``X`` in one jitted, parallel call (``sim.engine.run_batch``); the same result
        as the default's loop over :meth:`run`."""
        from sim.engine import run_batch

        return run_batch(prepared, codebook_q, X, fmt, relu)

    def action_energies(self, cfg: AcceleratorConfig, table):
        return eie_energy.action_energies(cfg, table)

    modules = eie_energy.EIE_MODULES
    component_modules = eie_energy.EIE_COMPONENT_MODULES
    component_kinds = eie_energy.EIE_COMPONENT_KINDS

    def cycle_energies(self, cfg: AcceleratorConfig, table):
        return eie_energy.EIE_PRICING.cycle_energies(cfg, table)

    def cycle_energies_by_module(self, cfg: AcceleratorConfig, table):
        return eie_energy.EIE_PRICING.cycle_energies_by_module(cfg, table)

    def area(self, cfg: AcceleratorConfig, override=None):
        return eie_energy.EIE_PRICING.area(cfg, override)

    def scenarios(self, run, cfg, table, *, dram_form_bits, independent_layers):
        return eie_energy.run_scenarios(run, cfg, table, dram_form_bits=dram_form_bits,
                                        independent_layers=independent_layers)

    def point_columns(self, run) -> dict:
        """Load-balance and useful efficiency (cycle-weighted over the layers), fillers, SRAM fit."""
        layers = [l.result for l in run.layers]
        cycles = sum(r.cycles for r in layers)
        weighted = (lambda f: sum(f(r) * r.cycles for r in layers) / cycles) if cycles else (lambda f: 0.0)
        entries = sum(r.entries for r in layers)
        return {"load_balance_efficiency": float(weighted(lambda r: r.load_balance_efficiency)),
                "useful_efficiency": float(weighted(lambda r: r.useful_efficiency)),
                "filler_pct": 100.0 * sum(r.fillers for r in layers) / entries if entries else 0.0,
                "fits_spmat_sram": all(r.max_pe_entries <= l.config.spmat_capacity_entries
                                       for r, l in zip(layers, run.layers))}


MACHINES.register("eie", EIE())
