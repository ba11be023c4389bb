"""Speed of the EIE weight-stream encoding (arch/encoding.py): encode_layer and decode_layer.

Times both (best of --repeat) on an Alex-7-like layer (4096 x 4096 at 9% weight
density, 4-bit indices, default AcceleratorConfig: 64 PEs), an Alex-6-like layer
(4096 out x 9216 in) and a smaller one (1000 x 800),
checks the round trip, and writes a JSON with the figures and the full config.

    python benchmarks/bench_encoding.py --out runs/bench/encoding.json
"""
from __future__ import annotations

import argparse
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


def _best(fn, repeat: int):
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), times, out


def main(argv=None) -> int:
    """Run the benchmark; returns 0, or 1 if a round trip fails."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="runs/bench/encoding.json", help="JSON file (default %(default)s)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeat", type=int, default=3, help="timed runs per measurement; the best is kept")
    args = ap.parse_args(argv)

    cfg = AcceleratorConfig()
    results, ok = [], True
    for k, (name, n_rows, n_cols, density) in enumerate(LAYERS):
        W = _random_layer(n_rows, n_cols, density, cfg.index_bits, args.seed + k)
        t_enc, enc_all, s = _best(lambda: encode_layer(W, cfg), args.repeat)
        t_dec, dec_all, D = _best(lambda: decode_layer(s), args.repeat)
        good = bool(np.array_equal(D, W))
        ok &= good
        fp = s.footprint()
        results.append({
            "layer": name, "rows": n_rows, "cols": n_cols, "density": density, "seed": args.seed + k,
            "nonzeros": int(np.count_nonzero(W)), "entries": s.total_entries, "fillers": s.total_fillers,
            "max_entries_per_pe": s.max_entries_per_pe,
            "encode_s": t_enc, "decode_s": t_dec, "encode_runs_s": enc_all, "decode_runs_s": dec_all,
            "encode_entries_per_s": s.total_entries / t_enc, "decode_entries_per_s": s.total_entries / t_dec,
            "footprint_bits": fp, "roundtrip_ok": good,
        })

    res = {
        "benchmark": "bench_encoding",
        "command": "python benchmarks/bench_encoding.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "repeat": args.repeat,
        "layers": results,
        "accelerator_config": cfg.to_dict(),
        "accelerator_derived": {"entry_bits": cfg.entry_bits, "entries_per_word": cfg.entries_per_word,
                                "pointer_bits": cfg.pointer_bits,
                                "spmat_capacity_entries": cfg.spmat_capacity_entries},
        "machine": machine_info(),
    }
    out = write_json(args.out, res)

    print(f"{'layer':<12} {'rows x cols':>12} {'entries':>10} {'fillers':>9} "
          f"{'encode s':>9} {'Mentries/s':>10} {'decode s':>9} {'Mentries/s':>10}  round trip")
    for r in results:
        print(f"{r['layer']:<12} {r['rows']:>5} x {r['cols']:<5} {r['entries']:>10} {r['fillers']:>9} "
              f"{r['encode_s']:>9.3f} {r['encode_entries_per_s'] / 1e6:>10.1f} "
              f"{r['decode_s']:>9.3f} {r['decode_entries_per_s'] / 1e6:>10.1f}  {'ok' if r['roundtrip_ok'] else 'FAILED'}")
    print(f"(best of {args.repeat}; {cfg.n_pe} PEs, {cfg.index_bits}-bit v, {cfg.rel_index_bits}-bit z, "
          f"{cfg.sram_word_bits}-bit words) -> {out}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
