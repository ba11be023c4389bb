"""Run whole models and named benchmark layers through a machine's simulator.

Stages are plain functions over explicit data; the machine is the config's ``kind``
(arch/machine.py), so any registered machine runs here:

- :func:`simulate_model`: a CompressedModel (fc layers) over a batch of input vectors, layer
  by layer, each input vector one matrix-vector product per layer; optionally checked bit for
  bit against the numpy reference;
- :func:`simulate_workload`: one EIE benchmark layer from the generator (sim/workloads.py).

A layer whose codebook is wider than the machine's is run on the machine re-targeted to it
(``Machine.layer_config``; EIE: ``AcceleratorConfig.for_layer``), and the result says so; the
archive's own machine never matters, since the streams are always derived from the indices for
the machine being simulated.
"""
from __future__ import annotations

import time
from typing import Callable

import numpy as np

from arch.errors import ModelError
from arch.fixedpoint import layer_format, one, quantize_acts, quantize_codebook
from arch.machine import get_machine

from .reference import check_runnable
from .results import SimLayer, SimRun, SimulationMismatch

__all__ = ["simulate_model", "simulate_workload"]

Log = Callable[[str], None]


def simulate_model(model, x_float: np.ndarray, cfg, *, verify: bool = False, progress: bool = True,
                   log: Log | None = None, enforce_capacity: bool = True) -> SimRun:
    """Run ``model`` (fc layers) on ``x_float`` (K, fan_in) through the simulator of machine ``cfg``.

    With ``verify``, every layer's outputs are compared with the numpy reference and a
    difference raises :class:`SimulationMismatch`.
    """
    from .reference import reference_network

    check_runnable(model)
    machine = get_machine(cfg)
    x_float = np.asarray(x_float, dtype=np.float64).reshape(len(x_float), -1)
    fan_in = model.layers[0].indices.shape[1] - 1
    if x_float.shape[1] != fan_in:
        raise ModelError(f"inputs have {x_float.shape[1]} values each; {model.name} takes {fan_in}")
    layers = []
    for l in model.layers:
        lcfg = machine.layer_config(cfg, l.bits)
        note = machine.retarget_note(cfg, lcfg)
        if note and log:
            log(f"{l.name}: {note}")
        fmt = layer_format(l.centroids, lcfg)
        layers.append((l, lcfg, note, fmt, quantize_codebook(l.centroids, fmt),
                       machine.prepare(l.indices, lcfg, enforce_capacity=enforce_capacity)))
    per_layer: list[list] = [[] for _ in model.layers]
    outs = []
    it = range(len(x_float))
    if progress:
        from tqdm import tqdm
        it = tqdm(it, desc="simulate", unit="input", leave=False)
    for k in it:
        x = quantize_acts(x_float[k], cfg)
        for li, (l, lcfg, note, fmt, cb, prep) in enumerate(layers):
            xa = np.concatenate([x, [one(fmt)]]).astype(np.int64)
            r = machine.run(prep, cb, xa, fmt, l.spec.relu)
            per_layer[li].append(r)
            x = r.outputs
        outs.append(x)
    sim_layers = [SimLayer(l.name, lcfg, fmt, type(rs[0]).merge(rs), note, int(np.count_nonzero(l.indices)))
                  for (l, lcfg, note, fmt, cb, prep), rs in zip(layers, per_layer)]
    run = SimRun(model.name, sim_layers, np.stack(outs))
    run.predictions = np.argmax(run.outputs, axis=1)
    if verify:
        t = time.time()
        ref = reference_network(model, x_float, cfg)
        for sl, ro in zip(sim_layers, ref.outputs):
            bad = np.argwhere(sl.result.outputs != ro)
            if len(bad):
                k, i = bad[0]
                raise SimulationMismatch(
                    f"layer {sl.name}: engine output differs from the reference at input {k}, row {i} "
                    f"({sl.result.outputs[k, i]} != {ro[k, i]}); {len(bad)} values differ")
        run.verified = True
        run.meta["verify_seconds"] = time.time() - t
    return run


def simulate_workload(name: str, cfg, seed: int = 0, *, verify: bool = False,
                      enforce_capacity: bool = True) -> SimRun:
    """One EIE benchmark layer (sim/workloads.py) on machine ``cfg``."""
    from .workloads import make_workload

    machine = get_machine(cfg)
    w = make_workload(name, cfg, seed=seed)
    fmt = layer_format(w.centroids, cfg)
    cb = quantize_codebook(w.centroids, fmt)
    x = quantize_acts(w.x, cfg)
    prep = machine.prepare(w.indices, cfg, enforce_capacity=enforce_capacity)
    r = machine.run(prep, cb, x, fmt, w.relu)
    layer = SimLayer(name, cfg, fmt, type(r).merge([r]), "", int(np.count_nonzero(w.indices)))
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
