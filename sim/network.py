"""Run whole models and named benchmark layers through the cycle-level engine.

Stages are plain functions over explicit data:

- :func:`simulate_model`: a CompressedModel (fc layers) over a batch of input
  vectors, layer by layer, each input vector one matrix-vector product per
  layer as on EIE; optionally checked bit for bit against the numpy reference.
- :func:`simulate_workload`: one EIE benchmark layer from the generator.

A layer whose codebook is wider than ``cfg.index_bits`` is re-encoded for a
machine with its own width (``AcceleratorConfig.with_index_bits``), and the
result says so; the archive's own PE count never matters, since the streams are
always derived from the indices for the machine being simulated.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from arch.config import AcceleratorConfig
from arch.fixedpoint import LayerFormat, layer_format, one, quantize_acts, quantize_codebook

from .engine import prepare_layer, run_layer
from .results import LayerResult, SimulationMismatch, merge

Log = Callable[[str], None]


@dataclass
class SimLayer:
    """One simulated layer: its name, the machine it ran on, its formats and result."""

    name: str
    config: AcceleratorConfig
    fmt: LayerFormat
    result: LayerResult
    reencoded: str = ""   # why the layer was re-encoded for another width, if it was
    nnz_weights: int = 0  # nonzero weights (bias column included)
    max_pe_entries: int = 0  # entries of the fullest PE's sparse-matrix SRAM (all passes)
    stored_entries: int = 0  # entries stored over all PEs and passes, fillers included

    def summary(self) -> dict:
        """The per-layer row of sim.json / sim_layers.csv (units in the keys)."""
        r, cfg = self.result, self.config
        latency_us = r.cycles * cfg.cycle_ns / 1000.0
        row = {
            "layer": self.name,
            "rows": r.n_rows,
            "cols": r.n_cols,
            "inputs": r.runs,
            "n_pe": cfg.n_pe,
            "fifo_depth": cfg.fifo_depth,
            "index_bits": cfg.index_bits,
            "rel_index_bits": cfg.rel_index_bits,
            "tiles": len(r.tile_cycles) // max(1, r.runs),
            "cycles": int(r.cycles),
            "cycles_per_input": r.cycles / r.runs,
            "latency_us": latency_us,
            "latency_us_per_input": latency_us / r.runs,
            "load_balance_efficiency": r.load_balance_efficiency,
            "useful_efficiency": r.useful_efficiency,
            "filler_pct": 100.0 * r.filler_overhead,
            "entries": int(r.entries),
            "fillers": int(r.fillers),
            "broadcasts": int(r.broadcasts),
            "max_pe_busy_cycles": r.max_pe_busy,
            "mean_pe_busy_cycles": float(np.mean(r.busy)),
            "mean_pe_stalled_cycles": float(np.mean(r.stalled)),
            "mean_pe_idle_cycles": float(np.mean(r.idle)),
            "engine_seconds": r.engine_seconds,
            "weight_frac_bits": self.fmt.weight_frac_bits,
            "nnz_weights": int(self.nnz_weights),
            "max_pe_entries": int(self.max_pe_entries),
            "stored_entries": int(self.stored_entries),
            "spmat_capacity_entries": int(cfg.spmat_capacity_entries),
            "fits_spmat_sram": bool(self.max_pe_entries <= cfg.spmat_capacity_entries),
            "pointer_bits": int(cfg.pointer_bits),
            "reencoded": self.reencoded,
        }
        for comp, rw in r.accesses.items():
            row[f"{comp}_reads"] = int(rw["reads"])
            row[f"{comp}_writes"] = int(rw["writes"])
        return row


@dataclass
class SimRun:
    """A simulated model or workload: its layers and, for a model, its predictions."""

    name: str
    layers: list[SimLayer]
    outputs: np.ndarray                 # int64 outputs of the last layer, (K, n_out)
    predictions: np.ndarray | None = None
    verified: bool = False
    meta: dict = field(default_factory=dict)

    def to_doc(self) -> dict:
        """sim.json: per layer the flat row plus nested ``accesses``, ``format`` and per-PE cycles."""
        layers = []
        for l in self.layers:
            r = l.result
            layers.append({**l.summary(), "accesses": r.accesses, "format": l.fmt.to_dict(),
                           "per_pe": {"busy_cycles": r.busy.tolist(), "idle_cycles": r.idle.tolist(),
                                      "stalled_cycles": r.stalled.tolist()}})
        total = self.total()
        total["accesses"] = {}
        for l in self.layers:
            for c, rw in l.result.accesses.items():
                t = total["accesses"].setdefault(c, {"reads": 0, "writes": 0})
                t["reads"] += int(rw["reads"])
                t["writes"] += int(rw["writes"])
        return {"name": self.name, "layers": layers, "total": total, "verified": self.verified, **self.meta}

    def total(self) -> dict:
        rows = [l.summary() for l in self.layers]
        t = {k: sum(r[k] for r in rows) for k in ("cycles", "latency_us", "entries", "fillers", "broadcasts",
                                                  "engine_seconds")}
        for k in rows[0]:
            if k.endswith("_reads") or k.endswith("_writes"):
                t[k] = sum(r[k] for r in rows)
        runs = self.layers[0].result.runs
        t["inputs"] = runs
        t["cycles_per_input"] = t["cycles"] / runs
        t["latency_us_per_input"] = t["latency_us"] / runs
        t["filler_pct"] = 100.0 * t["fillers"] / t["entries"] if t["entries"] else 0.0
        return t


def _layer_machine(bits: int, cfg: AcceleratorConfig) -> tuple[AcceleratorConfig, str]:
    lcfg = cfg.with_index_bits(bits)
    note = "" if lcfg is cfg else (f"re-encoded for {bits}-bit codebook indices"
                                   f"{'' if lcfg.sram_word_bits == cfg.sram_word_bits else f', {lcfg.sram_word_bits}-bit SRAM words'}")
    return lcfg, note


def simulate_model(model, x_float: np.ndarray, cfg: AcceleratorConfig, *, verify: bool = False,
                   progress: bool = True, log: Log | None = None, enforce_capacity: bool = True) -> SimRun:
    """Run ``model`` (fc layers) on ``x_float`` (K, fan_in) through the engine on machine ``cfg``.

    With ``verify``, every layer's outputs are compared with the numpy
    reference and a difference raises :class:`SimulationMismatch`.
    """
    from .reference import reference_network

    for l in model.layers:
        if l.spec.kind.value != "fc":
            raise ValueError(f"layer {l.name} is a conv layer; the simulator runs fc layers only "
                             "(LeNet-300-100, the EIE benchmark layers)")
    x_float = np.asarray(x_float, dtype=np.float64).reshape(len(x_float), -1)
    fan_in = model.layers[0].indices.shape[1] - 1
    if x_float.shape[1] != fan_in:
        raise ValueError(f"inputs have {x_float.shape[1]} values each; {model.name} takes {fan_in}")
    preps = []
    for l in model.layers:
        lcfg, note = _layer_machine(l.bits, cfg)
        if note and log:
            log(f"{l.name}: {note}")
        fmt = layer_format(l.centroids, lcfg)
        preps.append((l, lcfg, note, fmt, quantize_codebook(l.centroids, fmt),
                      prepare_layer(l.indices, lcfg, enforce_capacity=enforce_capacity)))
    per_layer: list[list[LayerResult]] = [[] for _ in model.layers]
    outs = []
    it = range(len(x_float))
    if progress:
        from tqdm import tqdm
        it = tqdm(it, desc="simulate", unit="input", leave=False)
    for k in it:
        x = quantize_acts(x_float[k], cfg)
        for li, (l, lcfg, note, fmt, cb, prep) in enumerate(preps):
            xa = np.concatenate([x, [one(fmt)]]).astype(np.int64)
            r = run_layer(prep, cb, xa, fmt, l.spec.relu)
            per_layer[li].append(r)
            x = r.outputs
        outs.append(x)
    layers = [SimLayer(l.name, lcfg, fmt, merge(rs), note, int(np.count_nonzero(l.indices)),
                       int(prep.pe_entries.max(initial=0)), int(prep.pe_entries.sum()))
              for (l, lcfg, note, fmt, cb, prep), rs in zip(preps, per_layer)]
    run = SimRun(model.name, layers, np.stack(outs))
    run.predictions = np.argmax(run.outputs, axis=1)
    if verify:
        t = time.time()
        ref = reference_network(model, x_float, cfg)
        for sl, ro in zip(layers, ref.outputs):
            bad = np.argwhere(sl.result.outputs != ro)
            if len(bad):
                k, i = bad[0]
                raise SimulationMismatch(
                    f"layer {sl.name}: engine output differs from the reference at input {k}, row {i} "
                    f"({sl.result.outputs[k, i]} != {ro[k, i]}); {len(bad)} values differ")
        run.verified = True
        run.meta["verify_seconds"] = time.time() - t
    return run


def simulate_workload(name: str, cfg: AcceleratorConfig, seed: int = 0, *, verify: bool = False,
                      enforce_capacity: bool = True) -> SimRun:
    """One EIE benchmark layer (sim/workloads.py) on machine ``cfg``."""
    from .workloads import make_workload

    w = make_workload(name, cfg, seed=seed)
    fmt = layer_format(w.centroids, cfg)
    cb = quantize_codebook(w.centroids, fmt)
    x = quantize_acts(w.x, cfg)
    prep = prepare_layer(w.indices, cfg, enforce_capacity=enforce_capacity)
    r = run_layer(prep, cb, x, fmt, w.relu)
    layer = SimLayer(name, cfg, fmt, merge([r]), "", int(np.count_nonzero(w.indices)),
                     int(prep.pe_entries.max(initial=0)), int(prep.pe_entries.sum()))
    run = SimRun(name, [layer], r.outputs[None, :],
                 meta={"seed": seed, "weight_density": w.weight_density, "act_density": w.act_density})
    if verify:
        from .reference import reference_layer

        ref = reference_layer(w.indices, cb, x, fmt, w.relu)
        if not np.array_equal(ref, r.outputs):
            i = int(np.argmax(ref != r.outputs))
            raise SimulationMismatch(f"layer {name}: engine output differs from the reference at row {i} "
                                     f"({r.outputs[i]} != {ref[i]})")
        run.verified = True
    return run
