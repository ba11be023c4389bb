"""Speed of the cycle-level engine (sim/engine.py): simulated PE-cycles per second.

For each benchmark layer (default Alex-7, Alex-6, VGG-6 of EIE Table III, from
sim/workloads.py's generator; ``--layers all`` for the nine) on a machine of
``--pes`` PEs with FIFO depth ``--fifo``: the cycles, the engine's wall time cold
(the first call in a fresh process: with an empty Numba cache, i.e. JIT compile
included, and with the cache the first process wrote) and warm (best of
``--repeat``), and the simulated PE-cycles per second (cycles x n_pe / warm
time). Then the speed ratio against the plain-Python engine (sim/pyengine.py)
on a small layer, with every result field checked equal. Writes a JSON with the
config and the machine.

    python benchmarks/sim_speed.py --out runs/bench/sim_speed.json
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from arch.config import AcceleratorConfig  # noqa: E402
from arch.fixedpoint import layer_format, quantize_acts, quantize_codebook  # noqa: E402
from _common import machine_info, write_json  # noqa: E402

DEFAULT_LAYERS = "alex-7,alex-6,vgg-6"
# Fallback shapes (out, in, weight density, activation density) if sim/workloads.py is missing.
SYNTHETIC = {"alex-7": (4096, 4096, 0.09, 0.353), "alex-6": (4096, 9216, 0.09, 0.351),
             "vgg-6": (4096, 25088, 0.04, 0.183)}
SMALL_DENSITIES = (0.09, 0.353)   # the small layer on which the Python engine is timed (Alex-7's densities)


def _random_layer(n_out, n_in, wd, ad, cfg, seed):
    """Uniformly random layer: indices, float codebook (entry 0 = 0), float activations on the grid."""
    rng = np.random.default_rng(seed)
    idx = np.where(rng.random((n_out, n_in)) < wd,
                   rng.integers(1, 1 << cfg.index_bits, (n_out, n_in), dtype=np.uint8), 0).astype(np.uint8)
    cent = np.concatenate([[0.0], rng.normal(0.0, 0.05, (1 << cfg.index_bits) - 1)])
    scale = 1 << cfg.act_frac_bits
    x = np.where(rng.random(n_in) < ad, rng.integers(1, 4 * scale + 1, n_in) / scale, 0.0)
    return idx, cent, x, False


def _layer(name, cfg, seed):
    """(indices, centroids, float x, relu, source) of a benchmark layer."""
    try:
        from sim.workloads import make_workload
    except ImportError:
        make_workload = None
    if make_workload is not None:
        w = make_workload(name, cfg, seed=seed)
        return w.indices, w.centroids, w.x, w.relu, "sim.workloads.make_workload"
    if name not in SYNTHETIC:
        raise SystemExit(f"sim/workloads.py is missing: only {', '.join(SYNTHETIC)} are available")
    return (*_random_layer(*SYNTHETIC[name], cfg, seed), "random (numpy default_rng)")


def _layer_names(text):
    try:
        from sim.workloads import parse_layer_names
    except ImportError:
        return [p.strip().lower() for p in text.split(",") if p.strip()]
    return parse_layer_names(text)


def _cold_child(path: str) -> None:
    """In a fresh process: prepare the saved layer and time the first run_layer call."""
    from arch.fixedpoint import LayerFormat
    from arch.config import Overflow
    from sim.engine import prepare_layer, run_layer

    d = np.load(path, allow_pickle=False)
    meta = json.loads(str(d["meta"]))
    cfg = AcceleratorConfig.from_dict(meta["cfg"])
    f = dict(meta["fmt"])
    f["overflow"] = Overflow(f["overflow"])
    fmt = LayerFormat(**f)
    prep = prepare_layer(d["indices"], cfg, enforce_capacity=False)   # timing only (VGG-6 needs more pointers than 32 KiB)
    t = time.perf_counter()
    r = run_layer(prep, d["cb"], d["x"], fmt, bool(meta["relu"]))
    wall = time.perf_counter() - t
    print(json.dumps({"seconds": wall, "cycles": r.cycles}))


def _run_cold(path: str, cache_dir: str) -> dict:
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
    p = subprocess.run([sys.executable, __file__, "--_cold-child", path], capture_output=True, text=True, env=env)
    if p.returncode != 0:
        raise RuntimeError(f"cold-run subprocess failed:\n{p.stderr}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def _fields_equal(a, b) -> bool:
    return (a.cycles == b.cycles and a.tile_cycles == b.tile_cycles and a.entries == b.entries
            and a.fillers == b.fillers and a.broadcasts == b.broadcasts and a.accesses == b.accesses
            and all(np.array_equal(getattr(a, f), getattr(b, f)) for f in ("busy", "idle", "stalled", "outputs")))


def main(argv=None) -> int:
    """Run the benchmark; returns 0, or 1 if a check fails."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--layers", default=DEFAULT_LAYERS, help="comma-separated layer names or 'all' (default %(default)s)")
    ap.add_argument("--pes", type=int, default=64, help="n_pe (default %(default)s)")
    ap.add_argument("--fifo", type=int, default=8, help="fifo_depth (default %(default)s)")
    ap.add_argument("--repeat", type=int, default=5, help="warm runs per layer; the best is kept")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--small", default="512x512", help="rows x cols of the layer the Python engine runs "
                    "(default %(default)s)")
    ap.add_argument("--no-cold", action="store_true", help="skip the cold (fresh-process) measurements")
    ap.add_argument("--out", default="runs/bench/sim_speed.json", help="JSON file (default %(default)s)")
    ap.add_argument("--_cold-child", dest="cold_child", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.cold_child:
        _cold_child(args.cold_child)
        return 0

    from sim.engine import prepare_layer, run_layer
    from sim.pyengine import run_layer_python

    cfg = AcceleratorConfig(n_pe=args.pes, fifo_depth=args.fifo)
    rows, ok = [], True
    with tempfile.TemporaryDirectory(prefix="dcsim-simspeed-") as tmp:
        cache_dir = os.path.join(tmp, "numba-cache")
        for k, name in enumerate(_layer_names(args.layers)):
            t = time.perf_counter()
            idx, cent, xf, relu, source = _layer(name, cfg, args.seed)
            t_gen = time.perf_counter() - t
            fmt = layer_format(cent, cfg)
            cb = quantize_codebook(cent, fmt)
            x = quantize_acts(xf, cfg)
            t = time.perf_counter()
            prep = prepare_layer(idx, cfg, enforce_capacity=False)    # timing only: VGG-6 needs more pointers than 32 KiB hold
            t_prep = time.perf_counter() - t
            first = run_layer(prep, cb, x, fmt, relu)          # JIT (or cache load) in this process
            warm = [run_layer(prep, cb, x, fmt, relu) for _ in range(args.repeat)]
            best = min(r.engine_seconds for r in warm)
            same = all(_fields_equal(first, r) for r in warm)
            ok &= same
            row = {
                "layer": name, "source": source, "seed": args.seed, "rows": prep.n_rows, "cols": prep.n_cols,
                "weight_density": float(np.count_nonzero(idx)) / idx.size,
                "act_density": float(np.count_nonzero(x)) / x.size,
                "passes": prep.n_passes, "batches": prep.n_batches,
                "cycles": first.cycles, "pe_cycles": first.cycles * cfg.n_pe,
                "entries": first.entries, "fillers": first.fillers, "broadcasts": first.broadcasts,
                "load_balance_efficiency": first.load_balance_efficiency,
                "max_pe_busy": first.max_pe_busy,
                "generate_s": t_gen, "prepare_s": t_prep,
                "first_call_in_process_s": first.engine_seconds,
                "warm_s": best, "warm_runs_s": [r.engine_seconds for r in warm],
                "pe_cycles_per_s": first.cycles * cfg.n_pe / best,
                "repeat_results_identical": same,
            }
            if not args.no_cold:
                path = os.path.join(tmp, f"{name}.npz")
                meta = {"cfg": cfg.to_dict(), "fmt": fmt.to_dict(), "relu": bool(relu)}
                np.savez(path, indices=idx, cb=cb, x=x, meta=np.array(json.dumps(meta)))
                if k == 0:
                    c = _run_cold(path, cache_dir)             # empty cache: compiles, writes the cache
                    row["cold_compile_s"] = c["seconds"]
                    ok &= c["cycles"] == first.cycles
                c = _run_cold(path, cache_dir)                 # fresh process, cache filled
                row["cold_cached_s"] = c["seconds"]
                ok &= c["cycles"] == first.cycles
                os.unlink(path)
            rows.append(row)
            del idx, prep, warm

    # the plain-Python engine on a small layer: same results, speed ratio
    n_out, n_in = (int(v) for v in args.small.lower().split("x"))
    wd, ad = SMALL_DENSITIES
    idx, cent, xf, relu = _random_layer(n_out, n_in, wd, ad, cfg, args.seed)
    fmt = layer_format(cent, cfg)
    cb, x = quantize_codebook(cent, fmt), quantize_acts(xf, cfg)
    prep = prepare_layer(idx, cfg)
    rn = min((run_layer(prep, cb, x, fmt, relu) for _ in range(args.repeat)), key=lambda r: r.engine_seconds)
    rp = run_layer_python(prep, cb, x, fmt, relu)
    same = _fields_equal(rn, rp)
    ok &= same
    small = {"rows": n_out, "cols": n_in, "weight_density": wd, "act_density": ad, "seed": args.seed,
             "cycles": rn.cycles, "pe_cycles": rn.cycles * cfg.n_pe,
             "numba_s": rn.engine_seconds, "python_s": rp.engine_seconds,
             "numba_pe_cycles_per_s": rn.cycles * cfg.n_pe / rn.engine_seconds,
             "python_pe_cycles_per_s": rp.cycles * cfg.n_pe / rp.engine_seconds,
             "speedup": rp.engine_seconds / rn.engine_seconds, "results_identical": same}
    if rows:
        # the Numba engine on the big layers against the Python engine's rate on the small one
        small["throughput_ratio_vs_first_layer"] = rows[0]["pe_cycles_per_s"] / small["python_pe_cycles_per_s"]

    doc = {
        "benchmark": "sim_speed",
        "command": "python benchmarks/sim_speed.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "repeat": args.repeat, "layers": rows, "python_engine": small,
        "accelerator_config": cfg.to_dict(), "machine": machine_info(), "ok": bool(ok),
    }
    out = write_json(args.out, doc)

    print(f"{'layer':<8} {'rows x cols':>13} {'tiles':>5} {'cycles':>9} {'PE-cycles':>11} {'LB eff':>6} "
          f"{'cold+JIT s':>10} {'cold s':>8} {'warm ms':>8} {'M PE-cycles/s':>13}")
    for r in rows:
        cj = f"{r['cold_compile_s']:.2f}" if "cold_compile_s" in r else "-"
        cc = f"{r['cold_cached_s']:.3f}" if "cold_cached_s" in r else "-"
        print(f"{r['layer']:<8} {r['rows']:>6} x {r['cols']:<6} {r['passes'] * r['batches']:>5} {r['cycles']:>9} "
              f"{r['pe_cycles']:>11} {r['load_balance_efficiency']:>6.3f} {cj:>10} {cc:>8} "
              f"{r['warm_s'] * 1e3:>8.2f} {r['pe_cycles_per_s'] / 1e6:>13.1f}")
    s = small
    print(f"python engine, {s['rows']} x {s['cols']}: {s['cycles']} cycles, numba {s['numba_s'] * 1e3:.2f} ms, "
          f"python {s['python_s']:.2f} s ({s['python_pe_cycles_per_s'] / 1e6:.2f} M PE-cycles/s): "
          f"{s['speedup']:.0f}x on this layer, results {'identical' if s['results_identical'] else 'DIFFER'}"
          + (f"; {rows[0]['layer']} warm rate / python rate = {s['throughput_ratio_vs_first_layer']:.0f}x"
             if rows else ""))
    print(f"({cfg.n_pe} PEs, FIFO depth {cfg.fifo_depth}; warm = best of {args.repeat}; cold = first call in a fresh "
          f"process, '+JIT' with an empty Numba cache) -> {out}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
