"""Speed of the batched engine (sim.engine.run_batch) against one run_layer call per input vector.

A layer the size of LeNet-5's conv2 as an im2col matrix (50 output channels x 20 x 5 x 5 inputs
plus the bias column: 50 x 501; ``--density`` of the weights nonzero, 4-bit indices) on a
machine of ``--pes`` PEs with FIFO depth ``--fifo``, and ``--vectors`` input vectors with
``--act-density`` of the activations nonzero (the im2col positions of many images). Three ways,
all warm (the JIT or the Numba cache loaded first), best of ``--repeat``:

* ``loop``: ``run_layer`` once per vector, then ``EIELayerResult.merge`` (what a caller did
  before run_batch);
* ``batch_1_thread``: ``run_batch`` with one Numba thread;
* ``batch``: ``run_batch`` with every Numba thread (``NUMBA_NUM_THREADS``).

Every result is checked equal to the loop's in every field but the wall time. Reports the wall
and CPU (all threads) seconds, vectors per second and simulated PE-cycles per second
(cycles x n_pe / wall time) and writes a JSON with the config, the thread count and the machine.

    python benchmarks/sim_batch.py --out runs/bench/sim_batch.json
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numba  # noqa: E402
import numpy as np  # noqa: E402

from arch.config import AcceleratorConfig  # noqa: E402
from arch.fixedpoint import layer_format, one, quantize_acts, quantize_codebook  # noqa: E402
from _common import machine_info, write_json  # noqa: E402

FIELDS = ("n_rows", "n_cols", "cycles", "accesses", "runs", "n_pe", "tile_cycles", "entries", "fillers",
          "broadcasts", "stored_entries", "max_pe_entries", "n_tiles")


def _same(a, b) -> bool:
    """Every field equal but engine_seconds."""
    return (all(getattr(a, f) == getattr(b, f) for f in FIELDS)
            and all(np.array_equal(getattr(a, f), getattr(b, f)) for f in ("outputs", "busy", "idle", "stalled")))


def _layer(rows, cols, density, act_density, vectors, cfg, seed):
    """Random indices (bias column last), float codebook, and int64 activations (bias = one)."""
    rng = np.random.default_rng(seed)
    n_in = cols - 1
    idx = np.where(rng.random((rows, cols)) < density,
                   rng.integers(1, 1 << cfg.index_bits, (rows, cols)), 0).astype(np.uint8)
    cent = np.concatenate([[0.0], rng.normal(0.0, 0.05, (1 << cfg.index_bits) - 1)])
    fmt = layer_format(cent, cfg)
    scale = 1 << cfg.act_frac_bits
    xf = np.where(rng.random((vectors, n_in)) < act_density, rng.integers(1, 4 * scale + 1, (vectors, n_in)) / scale,
                  0.0)
    X = np.empty((vectors, cols), dtype=np.int64)
    X[:, :n_in] = quantize_acts(xf, cfg)
    X[:, n_in] = one(fmt)
    return idx, fmt, quantize_codebook(cent, fmt), X


def main(argv=None) -> int:
    """Run the benchmark; returns 0, or 1 if a result differs."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=50, help="output rows (default %(default)s: LeNet-5 conv2)")
    ap.add_argument("--cols", type=int, default=501, help="input columns, bias included (default %(default)s)")
    ap.add_argument("--density", type=float, default=0.1, help="weight density (default %(default)s)")
    ap.add_argument("--act-density", type=float, default=0.4, help="activation density (default %(default)s)")
    ap.add_argument("--vectors", type=int, default=20000, help="input vectors (default %(default)s)")
    ap.add_argument("--pes", type=int, default=64, help="n_pe (default %(default)s)")
    ap.add_argument("--fifo", type=int, default=8, help="fifo_depth (default %(default)s)")
    ap.add_argument("--repeat", type=int, default=3, help="timed runs of each way; the best is kept")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="runs/bench/sim_batch.json", help="JSON file (default %(default)s)")
    args = ap.parse_args(argv)

    from sim.engine import prepare_layer, run_batch, run_layer
    from sim.results import EIELayerResult

    cfg = AcceleratorConfig(n_pe=args.pes, fifo_depth=args.fifo)
    idx, fmt, cb, X = _layer(args.rows, args.cols, args.density, args.act_density, args.vectors, cfg, args.seed)
    prep = prepare_layer(idx, cfg)
    relu = True
    threads = numba.get_num_threads()

    def loop():
        return EIELayerResult.merge([run_layer(prep, cb, x, fmt, relu) for x in X])

    def batch():
        return run_batch(prep, cb, X, fmt, relu)

    def batch_1_thread():
        numba.set_num_threads(1)
        try:
            return run_batch(prep, cb, X, fmt, relu)
        finally:
            numba.set_num_threads(threads)

    load_before = os.getloadavg()
    run_layer(prep, cb, X[0], fmt, relu)                 # warm: JIT or cache load
    run_batch(prep, cb, X[:2], fmt, relu)
    ways, ok, ref = {}, True, None
    for name, fn in (("loop", loop), ("batch_1_thread", batch_1_thread), ("batch", batch)):
        times, cpu, res = [], [], None
        for _ in range(args.repeat):
            t, c = time.perf_counter(), time.process_time()
            res = fn()
            times.append(time.perf_counter() - t)
            cpu.append(time.process_time() - c)
        ref = res if ref is None else ref
        same = _same(res, ref)
        ok &= same
        best = min(times)
        ways[name] = {"seconds": best, "runs_s": times, "cpu_s": cpu[times.index(best)],
                      "vectors_per_s": args.vectors / best,
                      "pe_cycles_per_s": res.cycles * cfg.n_pe / best, "results_identical_to_loop": same}
    r = ref
    doc = {
        "benchmark": "sim_batch",
        "command": "python benchmarks/sim_batch.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "config": {"rows": args.rows, "cols": args.cols, "weight_density": float(np.count_nonzero(idx)) / idx.size,
                   "act_density": float(np.count_nonzero(X[:, :-1])) / X[:, :-1].size, "vectors": args.vectors,
                   "seed": args.seed, "relu": relu, "repeat": args.repeat, "passes": prep.n_passes,
                   "batches": prep.n_batches},
        "numba_num_threads": threads, "numba_threading_layer": numba.threading_layer(),
        "cycles": r.cycles, "cycles_per_vector": r.cycles / args.vectors, "pe_cycles": r.cycles * cfg.n_pe,
        "load_balance_efficiency": r.load_balance_efficiency,
        "ways": ways, "speedup_batch_vs_loop": ways["loop"]["seconds"] / ways["batch"]["seconds"],
        "speedup_batch_1_thread_vs_loop": ways["loop"]["seconds"] / ways["batch_1_thread"]["seconds"],
        "load_average_1min": {"before": load_before[0], "after": os.getloadavg()[0]},
        "accelerator_config": cfg.to_dict(), "machine": machine_info(), "ok": bool(ok),
    }
    out = write_json(args.out, doc)

    print(f"{args.rows} x {args.cols} layer, {args.vectors} vectors, {cfg.n_pe} PEs, FIFO {cfg.fifo_depth}: "
          f"{r.cycles / args.vectors:.1f} cycles per vector")
    print(f"{'way':<15} {'seconds':>8} {'CPU s':>7} {'vectors/s':>10} {'M PE-cycles/s':>13} {'identical':>9}")
    for name, w in ways.items():
        print(f"{name:<15} {w['seconds']:>8.3f} {w['cpu_s']:>7.3f} {w['vectors_per_s']:>10.0f} "
              f"{w['pe_cycles_per_s'] / 1e6:>13.1f} "
              f"{'yes' if w['results_identical_to_loop'] else 'NO':>9}")
    print(f"batch / loop: {doc['speedup_batch_vs_loop']:.1f}x ({threads} Numba threads, "
          f"{doc['numba_threading_layer']}); 1 thread: {doc['speedup_batch_1_thread_vs_loop']:.1f}x; load average "
          f"{load_before[0]:.2f} on {os.cpu_count()} CPUs -> {out}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
