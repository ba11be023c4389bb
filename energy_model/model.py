"""Energy of a simulated layer and of a simulated run, for any machine.

Stages are plain functions over explicit data:

- :func:`layer_energy`: a layer's access counts (``accesses[component] = {"reads": n,
  "writes": n}``) and cycles -> energy per component, total, latency and power, priced with the
  machine's per-action energies (``Machine.action_energies``, arch/machine.py), plus the
  per-cycle energies no access count carries (``Machine.cycle_energies``: the clock network,
  control, and leakage when enabled), and the same energy by module and by kind of circuit;
- :func:`rates`: power, frames per second and frames per joule of an energy and a latency
  (the one place these are computed);
- :func:`evaluate_energy`: a whole ``sim.results.SimRun`` -> :class:`EnergyResult`, per layer
  and in total, plus the machine's scenarios of where the weights live (EIE: DRAM versus
  on-chip SRAM, energy_model/eie.py).

Units: energies in pJ (1e-12 J), latency in us, power in W (pJ/us = 1e-6 W).
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Protocol

import numpy as np

from .table import EnergyEntry, EnergyTable, EnergyTableError

__all__ = ["CYCLE_ITEMS", "EnergyPricing", "EnergyResult", "LayerEnergy", "Rates", "check_node", "evaluate_energy", "layer_energy",
           "rates"]


class EnergyPricing(Protocol):
    """What the energy model needs of a machine (``arch.machine.Machine`` has all of it)."""

    components: tuple[str, ...]
    storage_components: tuple[str, ...]

    def action_energies(self, cfg, table: EnergyTable) -> dict[str, EnergyEntry]: ...

    def cycle_energies(self, cfg, table: EnergyTable) -> dict[str, EnergyEntry]: ...

    def cycle_energies_by_module(self, cfg, table: EnergyTable) -> dict[str, dict[str, float]]: ...

    modules: tuple[str, ...]
    component_modules: Mapping[str, str]
    component_kinds: Mapping[str, str]

#: The per-cycle energies, in report order: always charged (``clock``, ``control``) or on request
#: (``leakage``).
CYCLE_ITEMS = ("clock", "control", "leakage")


@dataclass(frozen=True)
class Rates:
    """Power and throughput of one inference: ``energy_pJ`` in ``latency_us``."""

    power_W: float
    frames_per_s: float
    frames_per_J: float
    frames_per_s_per_mm2: float | None = None   # None when the machine's area is not known


def rates(energy_pJ: float, latency_us: float, area_mm2: float | None = None) -> Rates:
    """Power (W), frames per second, frames per joule and, given the chip's area, frames per
    second per mm2; 0 where the latency or energy is 0."""
    fps = 1e6 / latency_us if latency_us > 0 else 0.0
    return Rates(power_W=energy_pJ * 1e-12 / (latency_us * 1e-6) if latency_us > 0 else 0.0,
                 frames_per_s=fps, frames_per_J=1e12 / energy_pJ if energy_pJ > 0 else 0.0,
                 frames_per_s_per_mm2=fps / area_mm2 if area_mm2 else None)


def check_node(cfg, table: EnergyTable) -> None:
    """The table must be for the machine's technology node."""
    if table.node != cfg.tech_node:
        raise EnergyTableError(f"the energy table is for {table.node} nm but the machine's tech_node is "
                               f"{cfg.tech_node} nm; load_energy_table({cfg.tech_node}) for this machine")


def _count(comp: str, kind: str, v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) \
            or not math.isfinite(float(v)) or v < 0:
        raise ValueError(f"accesses[{comp!r}][{kind!r}] = {v!r} is not allowed; use a non-negative count")
    return float(v)


def layer_energy(accesses: Mapping[str, Mapping[str, float]], cycles: float, cfg, table: EnergyTable,
                 machine: EnergyPricing, leakage: bool = False, per_cycle: bool = True) -> dict:
    """Energy, latency and power of one layer from its access counts and cycles.

    ``accesses`` is the simulator's ``accesses[component] = {"reads": n, "writes": n}`` over the
    machine's components (components missing count 0; counts may be per-inference means).
    Components that are not storage count their operations under ``reads``. Returns:

    - ``energy_pJ``: component -> reads x read energy + writes x write energy, then the per-cycle
      items ``cycles x machine.cycle_energies(cfg, table)[item]``: ``clock`` and ``control``
      (unless ``per_cycle`` is False) and ``leakage`` (when ``leakage``); ``energy_read_pJ`` and
      ``energy_write_pJ`` of the components apart;
    - ``access_pJ``: the components' part (what the access counts price); ``leakage_pJ``;
    - ``energy_by_module_pJ``: the same energy by the machine's modules (``component_modules``),
      the per-cycle items as modules of their own; ``energy_by_kind_pJ``: by kind of circuit
      (``component_kinds``: memory, registers, combinational), plus clock, control and leakage;
      ``energy_by_module_shared_pJ``: by module with each module's share of the per-cycle items
      (``machine.cycle_energies_by_module``) included, as a per-PE power table splits them;
    - ``total_pJ``; ``cycles``; ``latency_us`` = cycles / clock_mhz; ``power_W`` (:func:`rates`);
    - ``per_access_pJ``: the action energies used; ``per_cycle_pJ``: the per-cycle energies used;
      ``sources``: component or item -> source strings;
    - ``node_nm``, ``leakage`` (bool).
    """
    check_node(cfg, table)
    ae = machine.action_energies(cfg, table)
    comps, storage = tuple(machine.components), set(machine.storage_components)
    if not isinstance(accesses, Mapping):
        raise ValueError(f"accesses must be a dict of component -> {{'reads': n, 'writes': n}}, "
                         f"not {type(accesses).__name__}")
    for comp, rw in accesses.items():
        if comp not in comps:
            raise ValueError(f"accesses has unknown component {comp!r}; allowed: {', '.join(comps)}")
        if not isinstance(rw, Mapping) or any(k not in ("reads", "writes") for k in rw):
            raise ValueError(f"accesses[{comp!r}] must be {{'reads': n, 'writes': n}}; got {rw!r}")
    cyc = _count("cycles", "cycles", cycles)
    reads, writes, sources = {}, {}, {}
    for comp in comps:
        rw = accesses.get(comp, {})
        r, w = _count(comp, "reads", rw.get("reads", 0)), _count(comp, "writes", rw.get("writes", 0))
        reads[comp] = r * ae[comp].pJ
        if comp in storage:
            writes[comp] = w * ae[f"{comp}_write"].pJ
            sources[comp] = [f"read {ae[comp].unit}: {ae[comp].source}",
                             f"write {ae[comp + '_write'].unit}: {ae[comp + '_write'].source}"]
        else:
            if w:
                raise ValueError(f"accesses[{comp!r}]['writes'] = {rw['writes']!r}: {comp} counts its operations "
                                 f"under 'reads'; writes must be 0")
            writes[comp] = 0.0
            sources[comp] = [f"{ae[comp].unit}: {ae[comp].source}"]
    energy = {c: reads[c] + writes[c] for c in comps}
    access = sum(energy.values())
    items = [k for k in CYCLE_ITEMS if (k == "leakage" and leakage) or (k != "leakage" and per_cycle)]
    ce = machine.cycle_energies(cfg, table) if items else {}
    for k in items:
        if k in ce:
            energy[k] = cyc * ce[k].pJ
            sources[k] = [f"{cyc:g} cycles x {ce[k].pJ:.4g} pJ {ce[k].unit}: {ce[k].source}"]
    by_module: dict[str, float] = {m: 0.0 for m in machine.modules}
    by_kind: dict[str, float] = {}
    for c in comps:
        module, kind = machine.component_modules.get(c, c), machine.component_kinds.get(c, "other")
        by_module[module] = by_module.get(module, 0.0) + energy[c]
        by_kind[kind] = by_kind.get(kind, 0.0) + energy[c]
    shared = dict(by_module)
    split = machine.cycle_energies_by_module(cfg, table) if any(k in energy for k in CYCLE_ITEMS) else {}
    for k in CYCLE_ITEMS:
        if k in energy:
            by_module[k] = by_kind[k] = energy[k]
            parts = split.get(k)
            whole = sum(parts.values()) if parts else 0.0
            if whole > 0:
                for m, v in parts.items():
                    shared[m] = shared.get(m, 0.0) + energy[k] * v / whole
            else:
                shared[k] = energy[k]
    total = sum(energy.values())
    latency_us = cyc / cfg.clock_mhz
    return {
        "node_nm": table.node,
        "energy_pJ": energy,
        "energy_read_pJ": reads,
        "energy_write_pJ": writes,
        "energy_by_module_pJ": by_module,
        "energy_by_kind_pJ": by_kind,
        "energy_by_module_shared_pJ": shared,
        "leakage": bool(leakage),
        "access_pJ": access,
        "leakage_pJ": energy.get("leakage", 0.0),
        "total_pJ": total,
        "cycles": cyc,
        "latency_us": latency_us,
        "power_W": rates(total, latency_us).power_W,
        "per_access_pJ": {k: e.pJ for k, e in ae.items()},
        "per_cycle_pJ": {k: e.pJ for k, e in ce.items()},
        "sources": sources,
    }


# ---------------------------------------------------------------------------
# a whole run
# ---------------------------------------------------------------------------

@dataclass
class LayerEnergy:
    """One layer's (or the total's) energy per inference, on chip."""

    layer: str
    rows: int | None
    cols: int | None
    cycles: float
    latency_us: float
    energy_pJ: dict[str, float]          # by component, then the per-cycle items (clock, control, leakage)
    total_pJ: float
    rates: Rates
    by_module_pJ: dict[str, float] = field(default_factory=dict)
    by_kind_pJ: dict[str, float] = field(default_factory=dict)
    by_module_shared_pJ: dict[str, float] = field(default_factory=dict)

    @property
    def access_pJ(self) -> float:
        """The part the access counts price (no clock, control or leakage)."""
        return sum(v for k, v in self.energy_pJ.items() if k not in CYCLE_ITEMS)

    def row(self) -> dict[str, Any]:
        """The flat row of energy_layers.csv (units in the keys)."""
        r = {"layer": self.layer}
        if self.rows is not None:
            r.update(rows=self.rows, cols=self.cols)
        r.update(cycles=self.cycles, latency_us=self.latency_us, total_pJ=self.total_pJ, access_pJ=self.access_pJ,
                 power_W=self.rates.power_W, frames_per_s=self.rates.frames_per_s,
                 frames_per_J=self.rates.frames_per_J)
        if self.rates.frames_per_s_per_mm2 is not None:
            r["frames_per_s_per_mm2"] = self.rates.frames_per_s_per_mm2
        for c, v in self.energy_pJ.items():
            if c not in CYCLE_ITEMS:
                r[f"{c}_pJ"] = v
        for k in CYCLE_ITEMS:
            r[f"{k}_pJ"] = self.energy_pJ.get(k, 0.0)
        return r


@dataclass
class EnergyResult:
    """The energy of a simulated run per inference: per layer, in total, by module and by kind of
    circuit, the machine's area, and the machine's scenarios of where the weights live (None when
    the machine has none)."""

    name: str
    node_nm: int
    override: str | None
    components: tuple[str, ...]
    layers: list[LayerEnergy]
    total: LayerEnergy
    scenarios: dict | None
    scenarios_per_layer: dict | None = None
    sources: dict[str, Any] = field(default_factory=dict)
    leakage: bool = False
    modules: tuple[str, ...] = ()
    area: dict | None = None             # the machine's area (energy_model.chip.Area as a dict), or None

    @property
    def energy_pJ(self) -> float:
        """Energy per inference, on chip (all layers)."""
        return self.total.total_pJ

    @property
    def latency_us(self) -> float:
        return self.total.latency_us

    @property
    def area_mm2(self) -> float | None:
        return None if self.area is None else float(self.area["chip_mm2"])

    def to_doc(self) -> dict[str, Any]:
        """energy.json (the caller adds the simulation summary and the config)."""
        doc = {"name": self.name, "tech_node_nm": self.node_nm, "energy_table_override": self.override,
               "leakage": self.leakage, "components": list(self.components), "layers": [l.row() for l in self.layers],
               "total": self.total.row(), "modules": list(self.modules),
               "by_module_pJ": {l.layer: l.by_module_pJ for l in self.layers + [self.total]},
               "by_kind_pJ": {l.layer: l.by_kind_pJ for l in self.layers + [self.total]},
               "by_module_shared_pJ": {l.layer: l.by_module_shared_pJ for l in self.layers + [self.total]},
               "area": self.area, "scenarios": self.scenarios, "sources": self.sources}
        if self.scenarios_per_layer is not None:
            doc["scenarios_per_layer"] = self.scenarios_per_layer
        return doc


def _sum_dicts(ds: list[dict[str, float]]) -> dict[str, float]:
    out: dict[str, float] = {}
    for d in ds:
        for k, v in d.items():
            out[k] = out.get(k, 0.0) + v
    return out


def evaluate_energy(run, table: EnergyTable, machine, *, leakage: bool = False,
                    dram_form_bits: dict[str, int] | None = None, independent_layers: bool = False,
                    chip_cfg=None) -> EnergyResult:
    """The energy per inference of a simulated run (``sim.results.SimRun``) on its machine.

    Each layer's access counts and cycles are averaged over the inputs and priced with
    :func:`layer_energy` at the layer's machine config (the clock network and control always, the
    leakage when ``leakage``). ``chip_cfg`` is the machine config whose area (``machine.area``)
    gives frames/s/mm2 (default: the first layer's). ``dram_form_bits`` (layer name -> bits)
    is the compressed form a model keeps in DRAM (for an archive: Deep Compression's storage form
    after P+Q); with ``independent_layers`` (the EIE benchmark layers) each layer is a workload of
    its own. Both only matter to the machine's scenarios (``machine.scenarios``), which compare
    the access energies alone (no clock, control or leakage in any scenario).
    """
    cfg0 = run.layers[0].config
    area = machine.area(chip_cfg if chip_cfg is not None else cfg0, table.override)
    area_doc = None if area is None else dataclasses.asdict(area)
    mm2 = None if area is None else area.chip_mm2
    layers, sources = [], {}
    for sl in run.layers:
        r, cfg = sl.result, sl.config
        runs = max(1, sl.inferences)
        acc = {c: {k: v / runs for k, v in rw.items()} for c, rw in r.accesses.items()}
        e = layer_energy(acc, r.cycles / runs, cfg, table, machine, leakage=leakage)
        layers.append(LayerEnergy(sl.name, r.n_rows, r.n_cols, e["cycles"], e["latency_us"], dict(e["energy_pJ"]),
                                  e["total_pJ"], rates(e["total_pJ"], e["latency_us"], mm2),
                                  e["energy_by_module_pJ"], e["energy_by_kind_pJ"], e["energy_by_module_shared_pJ"]))
        for k, v in e["sources"].items():
            sources.setdefault(k, v)
    comps = list(machine.components) + [k for k in CYCLE_ITEMS if any(k in l.energy_pJ for l in layers)]
    tot_pJ = sum(l.total_pJ for l in layers)
    tot_us = sum(l.latency_us for l in layers)
    total = LayerEnergy("total", None, None, sum(l.cycles for l in layers), tot_us,
                        {c: sum(l.energy_pJ.get(c, 0.0) for l in layers) for c in comps}, tot_pJ,
                        rates(tot_pJ, tot_us, mm2), _sum_dicts([l.by_module_pJ for l in layers]),
                        _sum_dicts([l.by_kind_pJ for l in layers]), _sum_dicts([l.by_module_shared_pJ for l in layers]))
    scen = machine.scenarios(run, cfg0, table, dram_form_bits=dram_form_bits, independent_layers=independent_layers)
    per_layer = None
    if scen is not None:
        per_layer = scen.pop("per_layer", None)
        sources.update(scen.get("sources", {}))
    modules = tuple(dict.fromkeys(list(machine.modules) + [k for k in CYCLE_ITEMS if k in total.by_module_pJ]))
    return EnergyResult(name=run.name, node_nm=table.node, override=table.override, components=tuple(comps),
                        layers=layers, total=total, scenarios=scen, scenarios_per_layer=per_layer, sources=sources,
                        leakage=bool(leakage), modules=modules, area=area_doc)
