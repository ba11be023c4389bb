"""Speed of the EIE weight-stream encoding (arch/encoding.py) and of the benchmark-layer generator.

Times encode_layer and decode_layer (best of --repeat) on an Alex-7-like layer (4096 x 4096 at
9% weight density, 4-bit indices, default AcceleratorConfig: 64 PEs), an Alex-6-like layer
(4096 out x 9216 in) and a smaller one (1000 x 800), and checks the round trip. Rates are given
per stream entry (``*_entries_per_s``: the entries stored, fillers included) and per nonzero
weight (``*_nonzeros_per_s``). Then times sim/workloads.py's make_workload (the generator of
the EIE benchmark layers) and encode_layer on what it makes, for --gen-layers (default alex-7
and vgg-6). The process's peak RSS (getrusage, monotone) is recorded after each step. Writes a
JSON with the figures and the full config.

    python benchmarks/bench_encoding.py --out runs/bench/encoding.json
"""
from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from arch.config import AcceleratorConfig  # noqa: E402
from arch.encoding import decode_layer, encode_layer  # noqa: E402
from _common import machine_info, write_json  # noqa: E402

# (name, rows = out, cols = in, weight density)
LAYERS = [
    ("alex7-like", 4096, 4096, 0.09),
    ("alex6-like", 4096, 9216, 0.09),
    ("small", 1000, 800, 0.09),
]


def _random_layer(n_rows: int, n_cols: int, density: float, index_bits: int, seed: int) -> np.ndarray:
    """Uniformly random sparsity pattern; nonzero indices uniform in 1..2**index_bits-1."""
    rng = np.random.default_rng(seed)
    mask = rng.random((n_rows, n_cols)) < density
    vals = rng.integers(1, 1 << index_bits, size=(n_rows, n_cols), dtype=np.uint8)
    return np.where(mask, vals, 0).astype(np.uint8)


def _peak_rss_mb() -> float:
    """Peak resident set size of this process so far, MB (ru_maxrss is in KiB on Linux)."""
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r / (1 << 20) if sys.platform == "darwin" else r / 1024


def _best(fn, repeat: int):
    """(best wall s, all wall s, result); the CPU seconds of the runs go to _LAST_CPU."""
    times, cpu, out = [], [], None
    for _ in range(repeat):
        t, c = time.perf_counter(), time.process_time()
        out = fn()
        times.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    _LAST_CPU[:] = cpu
    return min(times), times, out


_LAST_CPU: list[float] = []


def main(argv=None) -> int:
    """Run the benchmark; returns 0, or 1 if a round trip fails."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="runs/bench/encoding.json", help="JSON file (default %(default)s)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeat", type=int, default=3, help="timed runs per measurement; the best is kept")
    ap.add_argument("--gen-layers", default="alex-7,vgg-6",
                    help="EIE benchmark layers whose generation (make_workload) is timed; '' for none")
    args = ap.parse_args(argv)
    from sim.workloads import make_workload, parse_layer_names

    # compile or load the Numba kernels before timing (a fresh process loads them from the cache)
    t0 = time.perf_counter()
    decode_layer(encode_layer(np.eye(8, dtype=np.uint8), AcceleratorConfig()))
    first_call_s = time.perf_counter() - t0

    cfg = AcceleratorConfig()
    results, ok = [], True
    for k, (name, n_rows, n_cols, density) in enumerate(LAYERS):
        W = _random_layer(n_rows, n_cols, density, cfg.index_bits, args.seed + k)
        t_enc, enc_all, s = _best(lambda: encode_layer(W, cfg), args.repeat)
        c_enc = min(_LAST_CPU)
        t_dec, dec_all, D = _best(lambda: decode_layer(s), args.repeat)
        c_dec = min(_LAST_CPU)
        good = bool(np.array_equal(D, W))
        ok &= good
        fp = s.footprint()
        nnz = int(np.count_nonzero(W))
        results.append({
            "layer": name, "rows": n_rows, "cols": n_cols, "density": density, "seed": args.seed + k,
            "nonzeros": nnz, "entries": s.total_entries, "fillers": s.total_fillers,
            "max_entries_per_pe": s.max_entries_per_pe,
            "encode_s": t_enc, "decode_s": t_dec, "encode_runs_s": enc_all, "decode_runs_s": dec_all,
            "encode_entries_per_s": s.total_entries / t_enc, "decode_entries_per_s": s.total_entries / t_dec,
            "encode_nonzeros_per_s": nnz / t_enc, "decode_nonzeros_per_s": nnz / t_dec,
            "encode_cpu_s": c_enc, "decode_cpu_s": c_dec,
            "encode_entries_per_cpu_s": s.total_entries / c_enc, "decode_entries_per_cpu_s": s.total_entries / c_dec,
            "footprint_bits": fp, "roundtrip_ok": good, "peak_rss_mb_after": _peak_rss_mb(),
        })
        W = s = D = None                     # free the layer before the next one

    generator = []
    for gname in (parse_layer_names(args.gen_layers) if args.gen_layers.strip() else []):
        t_gen, gen_all, wl = _best(lambda: make_workload(gname, cfg, args.seed), args.repeat)
        c_gen = min(_LAST_CPU)
        t_enc, enc_all, s = _best(lambda: encode_layer(wl.indices, cfg), args.repeat)
        c_enc = min(_LAST_CPU)
        generator.append({
            "layer": gname, "seed": args.seed, "rows": wl.n_out, "cols": wl.n_in,
            "nonzeros": int(np.count_nonzero(wl.indices)), "entries": s.total_entries,
            "make_workload_s": t_gen, "make_workload_runs_s": gen_all,
            "encode_s": t_enc, "encode_runs_s": enc_all, "encode_entries_per_s": s.total_entries / t_enc,
            "make_workload_cpu_s": c_gen, "encode_cpu_s": c_enc,
            "peak_rss_mb_after": _peak_rss_mb(),
        })
        wl = s = None

    res = {
        "benchmark": "bench_encoding",
        "command": "python benchmarks/bench_encoding.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "repeat": args.repeat,
        "rates": ("entries_per_s: stream entries (fillers included) per wall second (best run); nonzeros_per_s: "
                  "nonzero weights per wall second; *_cpu_s: the best run's process CPU seconds (the machine may be shared)"),
        "first_call_s": first_call_s,
        "layers": results,
        "generator": generator,
        "accelerator_config": cfg.to_dict(),
        "accelerator_derived": {"entry_bits": cfg.entry_bits, "entries_per_word": cfg.entries_per_word,
                                "pointer_bits": cfg.pointer_bits,
                                "spmat_capacity_entries": cfg.spmat_capacity_entries},
        "machine": machine_info(),
    }
    out = write_json(args.out, res)

    print(f"{'layer':<12} {'rows x cols':>12} {'entries':>10} {'fillers':>9} "
          f"{'encode s':>9} {'Mentries/s':>10} {'(CPU)':>7} {'decode s':>9} {'Mentries/s':>10} {'(CPU)':>7}  round trip")
    for r in results:
        print(f"{r['layer']:<12} {r['rows']:>5} x {r['cols']:<5} {r['entries']:>10} {r['fillers']:>9} "
              f"{r['encode_s']:>9.3f} {r['encode_entries_per_s'] / 1e6:>10.1f} {r['encode_entries_per_cpu_s'] / 1e6:>7.1f} "
              f"{r['decode_s']:>9.3f} {r['decode_entries_per_s'] / 1e6:>10.1f} {r['decode_entries_per_cpu_s'] / 1e6:>7.1f}"
              f"  {'ok' if r['roundtrip_ok'] else 'FAILED'}")
    for g in generator:
        print(f"{g['layer']:<12} make_workload {g['make_workload_s']:.3f} s, encode {g['encode_s']:.3f} s "
              f"({g['encode_entries_per_s'] / 1e6:.1f} Mentries/s), peak RSS {g['peak_rss_mb_after']:.0f} MB")
    print(f"(best of {args.repeat}; {cfg.n_pe} PEs, {cfg.index_bits}-bit v, {cfg.rel_index_bits}-bit z, "
          f"{cfg.sram_word_bits}-bit words) -> {out}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
