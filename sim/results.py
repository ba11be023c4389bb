"""Result types of the simulator: one layer's run, a simulated layer, a simulated model.

- :class:`LayerResult`: what every machine's ``run`` returns for one layer on one or more input
  vectors: the outputs, the cycles and the access counts;
- :class:`EIELayerResult`: EIE's, with the per-PE busy / idle / stalled cycles, entries,
  fillers and broadcasts of docs/microarchitecture.md;
- :class:`SimLayer`: a layer of a model as simulated (name, machine, formats, result);
- :class:`SimRun`: a simulated model or set of benchmark layers; ``to_doc`` / ``from_doc`` are
  ``sim.json``, so a later command can reuse a run without simulating again.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from arch.config import AcceleratorConfig
from arch.fixedpoint import LayerFormat
from arch.machine import machine_config_from_dict

__all__ = ["SimulationMismatch", "LayerResult", "EIELayerResult", "SimLayer", "SimRun", "empty_accesses",
           "add_accesses", "result_from_doc"]


class SimulationMismatch(AssertionError):
    """The engine's outputs differ from the numpy reference (a fidelity bug, never a user error)."""


def empty_accesses(components) -> dict[str, dict[str, int]]:
    """``accesses[component] = {"reads": 0, "writes": 0}`` for every component."""
    return {c: {"reads": 0, "writes": 0} for c in components}


def add_accesses(a: dict[str, dict[str, int]], b: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
    """Sum of two access-count dicts (new dict; the components of both, in first-seen order)."""
    comps = list(dict.fromkeys([*a, *b]))
    return {c: {k: int(a.get(c, {}).get(k, 0)) + int(b.get(c, {}).get(k, 0)) for k in ("reads", "writes")}
            for c in comps}


@dataclass
class LayerResult:
    """One layer run on one input vector (or the sum over several, see :meth:`merge`), on any machine.

    ``outputs`` are the layer's outputs in the activation format (int64; shape ``(n_rows,)``, or
    ``(K, n_rows)`` after merging K runs; None when read back from ``sim.json``). ``cycles`` and
    the access counts are totals over the runs.
    """

    #: The ``result_type`` in sim.json.
    result_type: ClassVar[str] = "layer"

    n_rows: int
    n_cols: int
    outputs: np.ndarray | None
    cycles: int
    accesses: dict[str, dict[str, int]]
    runs: int = 1
    engine_seconds: float = 0.0
    #: Seconds spent loading the jitted engine (from Numba's cache, or compiling it) on its first
    #: call in the process, apart from ``engine_seconds`` (the warm run); 0 once it is loaded.
    first_call_seconds: float = 0.0

    def stats(self, cfg) -> dict[str, Any]:
        """The machine's own per-layer figures (units in the keys), for tables and sim.json."""
        return {}

    def check_invariants(self) -> None:
        """Raise AssertionError if the cycle accounting is inconsistent."""
        assert self.cycles >= 0, "negative cycles"

    @classmethod
    def _merged_fields(cls, results: list["LayerResult"]) -> dict[str, Any]:
        acc: dict[str, dict[str, int]] = {}
        for r in results:
            acc = add_accesses(acc, r.accesses)
        r0 = results[0]
        outs = None if any(r.outputs is None for r in results) else np.stack([r.outputs for r in results])
        return dict(n_rows=r0.n_rows, n_cols=r0.n_cols, outputs=outs, cycles=sum(r.cycles for r in results),
                    accesses=acc, runs=sum(r.runs for r in results),
                    engine_seconds=sum(r.engine_seconds for r in results),
                    first_call_seconds=sum(r.first_call_seconds for r in results))

    @classmethod
    def merge(cls, results: list["LayerResult"]) -> "LayerResult":
        """Several runs of one layer (one per input vector) as one result: sums, outputs stacked."""
        if not results:
            raise ValueError("nothing to merge")
        return cls(**cls._merged_fields(results))

    def to_doc(self) -> dict[str, Any]:
        """The result's entry in sim.json (everything but the outputs)."""
        return {"result_type": self.result_type, "rows": self.n_rows, "cols": self.n_cols, "runs": self.runs,
                "cycles": int(self.cycles), "engine_seconds": self.engine_seconds,
                "first_call_seconds": self.first_call_seconds, "accesses": self.accesses}

    @classmethod
    def from_doc(cls, d: dict) -> "LayerResult":
        return cls(n_rows=int(d["rows"]), n_cols=int(d["cols"]), outputs=None, cycles=int(d["cycles"]),
                   accesses={c: {k: int(v) for k, v in rw.items()} for c, rw in d["accesses"].items()},
                   runs=int(d["runs"] if "runs" in d else d["inputs"]), engine_seconds=float(d.get("engine_seconds", 0.0)),
                   first_call_seconds=float(d.get("first_call_seconds", 0.0)))


@dataclass
class EIELayerResult(LayerResult):
    """EIE's result (docs/microarchitecture.md defines every field).

    Cycle figures are totals over the tiles (and over merged runs); ``busy``/``idle``/``stalled``
    are per PE and add up to ``cycles`` for every PE. ``stored_entries`` and ``max_pe_entries``
    are where the layer sits: entries over all PEs and passes, and the fullest PE's (fillers
    included).
    """

    result_type: ClassVar[str] = "eie"

    n_pe: int = 1
    tile_cycles: list[int] = field(default_factory=list)
    busy: np.ndarray = field(default_factory=lambda: np.zeros(1, np.int64))
    idle: np.ndarray = field(default_factory=lambda: np.zeros(1, np.int64))
    stalled: np.ndarray = field(default_factory=lambda: np.zeros(1, np.int64))
    entries: int = 0          # entries fetched, fillers included
    fillers: int = 0          # filler entries fetched
    broadcasts: int = 0       # nonzero activations broadcast
    stored_entries: int = 0   # entries stored over all PEs and passes
    max_pe_entries: int = 0   # entries of the fullest PE's sparse-matrix SRAM (all passes)
    n_tiles: int = 1          # tiles of one run (passes x batches)

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
        total = self.busy + self.idle + self.stalled
        assert np.all(total == self.cycles), "busy + idle + stalled != cycles for some PE"
        assert self.cycles >= self.max_pe_busy, "a layer ended before its slowest PE's work"
        assert self.cycles == sum(self.tile_cycles), "tile cycles do not add up"

    def stats(self, cfg: AcceleratorConfig) -> dict[str, Any]:
        runs = max(1, self.runs)
        return {
            "n_pe": cfg.n_pe, "fifo_depth": cfg.fifo_depth, "index_bits": cfg.index_bits,
            "rel_index_bits": cfg.rel_index_bits, "pointer_bits": int(cfg.pointer_bits), "tiles": self.n_tiles,
            "load_balance_efficiency": self.load_balance_efficiency, "useful_efficiency": self.useful_efficiency,
            "filler_pct": 100.0 * self.filler_overhead, "entries": int(self.entries), "fillers": int(self.fillers),
            "broadcasts": int(self.broadcasts), "max_pe_busy_cycles": self.max_pe_busy,
            "max_pe_busy_per_input": self.max_pe_busy / runs,
            "mean_pe_busy_cycles": float(np.mean(self.busy)), "mean_pe_stalled_cycles": float(np.mean(self.stalled)),
            "mean_pe_idle_cycles": float(np.mean(self.idle)), "max_pe_entries": int(self.max_pe_entries),
            "stored_entries": int(self.stored_entries), "spmat_capacity_entries": int(cfg.spmat_capacity_entries),
            "fits_spmat_sram": bool(self.max_pe_entries <= cfg.spmat_capacity_entries),
        }

    @classmethod
    def merge(cls, results: list["EIELayerResult"]) -> "EIELayerResult":
        if not results:
            raise ValueError("nothing to merge")
        r0 = results[0]
        return cls(**cls._merged_fields(results), n_pe=r0.n_pe,
                   tile_cycles=[c for r in results for c in r.tile_cycles],
                   busy=np.sum([r.busy for r in results], axis=0), idle=np.sum([r.idle for r in results], axis=0),
                   stalled=np.sum([r.stalled for r in results], axis=0),
                   entries=sum(r.entries for r in results), fillers=sum(r.fillers for r in results),
                   broadcasts=sum(r.broadcasts for r in results), stored_entries=r0.stored_entries,
                   max_pe_entries=r0.max_pe_entries, n_tiles=r0.n_tiles)

    def to_doc(self) -> dict[str, Any]:
        return {**super().to_doc(), "entries": int(self.entries), "fillers": int(self.fillers),
                "broadcasts": int(self.broadcasts), "stored_entries": int(self.stored_entries),
                "max_pe_entries": int(self.max_pe_entries), "tiles": self.n_tiles,
                "per_pe": {"busy_cycles": self.busy.tolist(), "idle_cycles": self.idle.tolist(),
                           "stalled_cycles": self.stalled.tolist()}}

    @classmethod
    def from_doc(cls, d: dict) -> "EIELayerResult":
        base = LayerResult.from_doc(d)
        pe = d["per_pe"]
        busy = np.asarray(pe["busy_cycles"], dtype=np.int64)
        return cls(**{k: getattr(base, k) for k in ("n_rows", "n_cols", "outputs", "cycles", "accesses", "runs",
                                                    "engine_seconds", "first_call_seconds")},
                   n_pe=len(busy), busy=busy, idle=np.asarray(pe["idle_cycles"], dtype=np.int64),
                   stalled=np.asarray(pe["stalled_cycles"], dtype=np.int64), entries=int(d["entries"]),
                   fillers=int(d["fillers"]), broadcasts=int(d["broadcasts"]),
                   stored_entries=int(d["stored_entries"]), max_pe_entries=int(d["max_pe_entries"]),
                   n_tiles=int(d["tiles"]))


_RESULT_TYPES = {c.result_type: c for c in (LayerResult, EIELayerResult)}


def result_from_doc(d: dict) -> LayerResult:
    """A layer result read back from its sim.json entry (by its ``result_type``)."""
    return _RESULT_TYPES.get(d.get("result_type"), LayerResult).from_doc(d)


@dataclass
class SimLayer:
    """One simulated layer: its name, the machine it ran on (re-targeted to the layer), its formats
    and result."""

    name: str
    config: Any               # the machine config of this layer
    fmt: LayerFormat
    result: LayerResult
    reencoded: str = ""       # why the layer ran on a re-targeted machine, if it did
    nnz_weights: int = 0      # nonzero weights (bias column included)
    vectors: int = 1          # matrix-vector products per input (a conv layer: its output positions)

    @property
    def inferences(self) -> int:
        """Inputs (samples) run through the layer: the result's runs over the products per input."""
        return self.result.runs // max(1, self.vectors)

    @property
    def latency_us(self) -> float:
        """Latency of all runs (cycles at the machine's clock)."""
        return self.result.cycles / self.config.clock_mhz

    def summary(self) -> dict[str, Any]:
        """The per-layer row of sim.json / sim_layers.csv (units in the keys)."""
        r = self.result
        runs = max(1, self.inferences)
        row = {"layer": self.name, "rows": r.n_rows, "cols": r.n_cols, "inputs": self.inferences,
               "vectors_per_input": self.vectors, "cycles": int(r.cycles),
               "cycles_per_input": r.cycles / runs, "latency_us": self.latency_us,
               "latency_us_per_input": self.latency_us / runs, **r.stats(self.config),
               "engine_seconds": r.engine_seconds, "first_call_seconds": r.first_call_seconds,
               "weight_frac_bits": self.fmt.weight_frac_bits,
               "nnz_weights": int(self.nnz_weights), "reencoded": self.reencoded}
        if "max_pe_busy_cycles" in row:     # the machine's per-run figure, per input
            row["max_pe_busy_per_input"] = row["max_pe_busy_cycles"] / runs
        for comp, rw in r.accesses.items():
            row[f"{comp}_reads"] = int(rw["reads"])
            row[f"{comp}_writes"] = int(rw["writes"])
        return row

    def to_doc(self) -> dict[str, Any]:
        """The layer's entry in sim.json: its row, the result's own entry (``accesses``, EIE's
        ``per_pe`` cycles), the formats and the layer's machine."""
        return {**self.summary(), **self.result.to_doc(), "format": self.fmt.to_dict(),
                "config": self.config.to_dict()}

    @classmethod
    def from_doc(cls, d: dict) -> "SimLayer":
        return cls(name=str(d["layer"]), config=machine_config_from_dict(d["config"]),
                   fmt=LayerFormat.from_dict(d["format"]), result=result_from_doc(d),
                   reencoded=str(d.get("reencoded", "")), nnz_weights=int(d.get("nnz_weights", 0)),
                   vectors=int(d.get("vectors_per_input", 1)))


@dataclass
class SimRun:
    """A simulated model or set of benchmark layers: its layers and, for a model, its predictions."""

    name: str
    layers: list[SimLayer]
    outputs: np.ndarray | None = None   # int64 outputs of the last layer, (K, n_out)
    predictions: np.ndarray | None = None
    verified: bool = False
    meta: dict = field(default_factory=dict)

    @property
    def inputs(self) -> int:
        """Input vectors run (through every layer)."""
        return self.layers[0].inferences if self.layers else 0

    @property
    def latency_us_per_input(self) -> float:
        return sum(l.latency_us for l in self.layers) / max(1, self.inputs)

    def total(self) -> dict[str, Any]:
        """The totals row: cycles, latency, access counts (and EIE's entries, fillers, broadcasts)."""
        rows = [l.summary() for l in self.layers]
        t: dict[str, Any] = {"layer": "total"}
        for k in ("cycles", "latency_us", "entries", "fillers", "broadcasts", "engine_seconds", "first_call_seconds"):
            if all(k in r for r in rows):
                t[k] = sum(r[k] for r in rows)
        for k in rows[0]:
            if k.endswith("_reads") or k.endswith("_writes"):
                t[k] = sum(r.get(k, 0) for r in rows)
        runs = max(1, self.inputs)
        t["inputs"] = self.inputs
        t["cycles_per_input"] = t["cycles"] / runs
        t["latency_us_per_input"] = t["latency_us"] / runs
        if "entries" in t:
            t["filler_pct"] = 100.0 * t["fillers"] / t["entries"] if t["entries"] else 0.0
        acc: dict[str, dict[str, int]] = {}
        for l in self.layers:
            acc = add_accesses(acc, l.result.accesses)
        t["accesses"] = acc
        return t

    def to_doc(self) -> dict[str, Any]:
        """sim.json: per layer the flat row plus the result, the formats and the machine."""
        return {"name": self.name, "layers": [l.to_doc() for l in self.layers], "total": self.total(),
                "verified": self.verified, **self.meta}

    @classmethod
    def from_doc(cls, doc: dict) -> "SimRun":
        """A run read back from sim.json (no outputs or predictions)."""
        meta = {k: v for k, v in doc.items() if k not in ("name", "layers", "total", "verified")}
        return cls(name=str(doc["name"]), layers=[SimLayer.from_doc(d) for d in doc["layers"]],
                   verified=bool(doc.get("verified", False)), meta=meta)
