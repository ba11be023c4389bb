"""Run whole models and named benchmark layers through a machine's simulator.

Stages are plain functions over explicit data; the machine is the config's ``kind``
(arch/machine.py), so any registered machine runs here:

- :func:`simulate_model`: a CompressedModel over a batch of samples, its whole graph: each
  weight layer on the machine (one matrix-vector product per sample, or per output position of
  a conv layer), the operations between layers on the host; optionally checked bit for bit
  against the numpy reference;
- :func:`simulate_workload`: one EIE benchmark layer from the generator (sim/workloads.py).

A layer whose codebook is wider than the machine's is run on the machine re-targeted to it
(``Machine.layer_config``; EIE: ``AcceleratorConfig.for_layer``), and the result says so; the
archive's own machine never matters, since the streams are always derived from the indices for
the machine being simulated.
"""
from __future__ import annotations

import time
from collections import OrderedDict
from typing import Callable

import numpy as np

from arch.fixedpoint import layer_format, quantize_acts, quantize_codebook
from arch.machine import get_machine

from .reference import check_runnable
from .results import SimLayer, SimRun, SimulationMismatch

__all__ = ["clear_workload_cache", "simulate_model", "simulate_workload"]

Log = Callable[[str], None]


def _chunk_size(vectors_per_sample: int) -> int:
    """Samples per chunk: about 65,536 matrix-vector products of the busiest layer at a time."""
    return max(1, min(4096, 65536 // max(1, vectors_per_sample)))


def simulate_model(model, x_float: np.ndarray, cfg, *, verify: bool = False, progress: bool = True,
                   log: Log | None = None, enforce_capacity: bool = True) -> SimRun:
    """Run ``model`` on ``x_float`` (K samples, flat or shaped) through the simulator of machine ``cfg``.

    Every weight layer runs on the machine, one matrix-vector product per sample (fc) or per
    output position (conv, :func:`network.graph.receptive_fields`), batched per layer
    (``Machine.run_batch``); the operations between layers run on the host in fixed point
    (:class:`sim.reference.FixedArith`) and are counted in ``run.meta["host_ops"]``. Samples go
    through in chunks, so memory stays bounded. With ``verify``, every layer's outputs are
    compared with the numpy reference, chunk by chunk, and a difference raises
    :class:`SimulationMismatch`.
    """
    from .reference import machine_indices, network_inputs, reference_network, run_fixed

    check_runnable(model)
    machine = get_machine(cfg)
    x_all = network_inputs(model, x_float)
    layers = []
    for l in model.layers:
        lcfg = machine.layer_config(cfg, l.bits)
        note = machine.retarget_note(cfg, lcfg)
        if note and log:
            log(f"{l.name}: {note}")
        fmt = layer_format(l.centroids, lcfg)
        layers.append((l, lcfg, note, fmt, quantize_codebook(l.centroids, fmt),
                       machine.prepare(machine_indices(l), lcfg, enforce_capacity=enforce_capacity)))
    per_layer: list[list] = [[] for _ in model.layers]
    vectors = [0] * len(model.layers)
    host_ops: dict[str, dict] = {}
    outs = []
    t_verify = 0.0

    def on_node(node, args, out):
        if node.name not in host_ops:
            from network.graph import host_op_count
            host_ops[node.name] = {"node": node.name, "op": node.op, "ops_per_input": host_op_count(node, args, out),
                                   "outputs_per_input": int(np.prod(out.shape[1:]))}

    # one sample first: the products per sample of every layer set the chunk size
    probe = []
    run_fixed(model, x_all[:1], cfg, lambda k, X: (probe.append((k, len(X))),
                                                   np.zeros((len(X), model.layers[k].spec.n_out), np.int64))[1])
    for k, n in probe:
        vectors[k] = n
    chunk = _chunk_size(max(vectors))
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=len(x_all), desc="simulate", unit="input", leave=False)
    for c0 in range(0, len(x_all), chunk):
        xc = x_all[c0:c0 + chunk]
        got: list = [None] * len(model.layers)

        def layer_fn(k, X):
            l, lcfg, note, fmt, cb, prep = layers[k]
            r = machine.run_batch(prep, cb, X, fmt, l.spec.relu)
            got[k] = r.outputs
            r.outputs = None
            tiles = getattr(r, "tile_cycles", None)
            if tiles is not None and len(X) > 1 and len(tiles) % len(X) == 0:
                # per tile, summed over the chunk's products (millions of products x tiles otherwise)
                r.tile_cycles = np.asarray(tiles, dtype=np.int64).reshape(len(X), -1).sum(axis=0).tolist()
            per_layer[k].append(r)
            return got[k]

        out = run_fixed(model, xc, cfg, layer_fn, on_node)
        outs.append(out.reshape(len(out), -1))
        if verify:
            t = time.time()
            ref = reference_network(model, xc, cfg, keep_inputs=False)
            for l, mine, theirs in zip(model.layers, got, ref.outputs):
                bad = np.argwhere(mine != theirs)
                if len(bad):
                    k, i = bad[0]
                    raise SimulationMismatch(
                        f"layer {l.name}: engine output differs from the reference at product {k} of samples "
                        f"{c0}..{c0 + len(xc) - 1}, row {i} ({mine[k, i]} != {theirs[k, i]}); {len(bad)} values differ")
            t_verify += time.time() - t
        if bar is not None:
            bar.update(len(xc))
    if bar is not None:
        bar.close()
    sim_layers = [SimLayer(l.name, lcfg, fmt, type(rs[0]).merge(rs), note, int(np.count_nonzero(l.indices)),
                           vectors=vectors[k])
                  for k, ((l, lcfg, note, fmt, cb, prep), rs) in enumerate(zip(layers, per_layer))]
    run = SimRun(model.name, sim_layers, np.concatenate(outs))
    run.predictions = np.argmax(run.outputs, axis=1)
    run.meta["host_ops"] = list(host_ops.values())
    if verify:
        run.verified = True
        run.meta["verify_seconds"] = t_verify
    return run


#: Bytes of generated layers and prepared (encoded) layers :func:`simulate_workload` keeps per
#: process, least recently used first out: the points of a sweep that share a layer and its
#: stream format reuse one generation and one encoding.
WORKLOAD_CACHE_BYTES = 1 << 30
_cache: "OrderedDict[tuple, tuple[object, int]]" = OrderedDict()


def _nbytes(obj) -> int:
    """The array bytes an object holds: its numpy arrays in its attributes, lists, tuples and
    dicts, however deep (a prepared layer's per-pass streams included), each array once."""
    seen: set[int] = set()
    total, todo = 0, [obj]
    while todo:
        v = todo.pop()
        if id(v) in seen:
            continue
        seen.add(id(v))
        if isinstance(v, np.ndarray):
            total += v.nbytes
        elif isinstance(v, (list, tuple)):
            todo.extend(v)
        elif isinstance(v, dict):
            todo.extend(v.values())
        elif hasattr(v, "__dict__") and not isinstance(v, type):
            todo.extend(vars(v).values())
    return total


def _cached(key: tuple, make):
    """``make()`` once per ``key`` while it stays in the cache (:data:`WORKLOAD_CACHE_BYTES`); a key
    that cannot be hashed (a machine config holding a list, say) is not cached."""
    try:
        hash(key)
    except TypeError:
        return make()
    if key in _cache:
        _cache.move_to_end(key)
        return _cache[key][0]
    value = make()
    size = _nbytes(value)
    _cache[key] = (value, size)
    while len(_cache) > 1 and sum(n for _v, n in _cache.values()) > WORKLOAD_CACHE_BYTES:
        _cache.popitem(last=False)
    return value


def clear_workload_cache() -> None:
    """Forget the generated and prepared layers of :func:`simulate_workload`."""
    _cache.clear()


def simulate_workload(name: str, cfg, seed: int = 0, *, verify: bool = False,
                      enforce_capacity: bool = True, structure=None) -> SimRun:
    """One EIE benchmark layer (sim/workloads.py) on machine ``cfg``.

    ``structure``: a :class:`sim.workloads.StructureProfile` the weights' positions follow (None:
    uniform); it is part of every cache key (its digest).

    The generated layer is kept per (name, seed, the machine's widths), the prepared layer per
    (name, seed, the machine but its ``Machine.timing_only_fields``) and, with ``verify``, the
    reference outputs per (name, seed, fixed-point formats), so a sweep over PE counts, FIFO
    depths or clocks generates, encodes and checks against a reference computed once per process.
    """
    from .workloads import make_workload

    machine = get_machine(cfg)
    gen_key = ("workload", str(name).strip().lower(), seed, cfg.index_bits, cfg.act_bits, cfg.act_frac_bits)
    if structure is not None:
        gen_key += ("structure", structure.digest)
    w = _cached(gen_key, lambda: make_workload(name, cfg, seed=seed, structure=structure))
    fmt = layer_format(w.centroids, cfg)
    cb = quantize_codebook(w.centroids, fmt)
    x = quantize_acts(w.x, cfg)
    base = cfg.replace(**{f: getattr(type(cfg)(), f) for f in machine.timing_only_fields})
    prep_key = ("prepared", gen_key, base, enforce_capacity)
    prep = machine.reuse_prepared(
        _cached(prep_key, lambda: machine.prepare(w.indices, base, enforce_capacity=enforce_capacity)), cfg)
    r = machine.run(prep, cb, x, fmt, w.relu)
    layer = SimLayer(name, cfg, fmt, type(r).merge([r]), "", int(np.count_nonzero(w.indices)))
    run = SimRun(name, [layer], r.outputs[None, :],
                 meta={"seed": seed, "weight_density": w.weight_density, "act_density": w.act_density,
                       **({"structure": w.structure} if w.structure else {})})
    if verify:
        from .reference import reference_layer

        # the reference depends on the layer, its inputs and the fixed-point formats, not on the
        # PE count or the FIFO depth: one per sweep, not one per point
        ref = _cached(("reference", gen_key, fmt, w.relu), lambda: reference_layer(w.indices, cb, x, fmt, w.relu))
        if not np.array_equal(ref, r.outputs):
            i = int(np.argmax(ref != r.outputs))
            raise SimulationMismatch(f"layer {name}: engine output differs from the reference at row {i} "
                                     f"({r.outputs[i]} != {ref[i]})")
        run.verified = True
    return run
