"""Huffman coding (compress/huffman.py): bits per symbol against the entropy, and speed.

Streams coded:

- synthetic (--n symbols each): uniform 4-bit symbols; geometric (skewed)
  4-bit symbols; the codebook indices of a pruned layer (1-D k-means with
  linear init over magnitude-pruned N(0, 0.05) weights, 15 shared values,
  index 0 = filler, as compress.quantize does); and the 4-bit relative
  indices of a 10%-density layer with random sparsity (filler entries for
  gaps beyond 15);
- with --archive PATH (a dcsim ``model.dcz``): every layer's weight indices
  (v) and relative indices (z) of Deep Compression's storage form.

For each: entropy and Huffman bits per symbol, the code table's bits,
fixed-width bits, and encode / decode throughput (best of --repeat; the
Numba decoder is compiled before timing). Every stream must round-trip.

    python benchmarks/bench_huffman.py --out runs/bench/huffman.json [--archive runs/demo/model.dcz]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from _common import machine_info, write_json  # noqa: E402
from compress.huffman import build_code, decode, encode, entropy_bits  # noqa: E402
from compress.methods.kmeans import kmeans_1d  # noqa: E402


# |w| threshold that keeps 10% of N(0, 0.05) weights: 0.05 * Phi^-1(0.95)
PRUNE_T = 0.05 * 1.6448536269514722


def _best(fn, repeat: int):
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def synthetic_streams(n: int, seed: int) -> list[tuple[str, int, np.ndarray, str]]:
    """(name, width in bits, symbols, description) for the synthetic streams."""
    rng = np.random.default_rng(seed)
    uniform = rng.integers(0, 16, size=n)
    geometric = np.minimum(rng.geometric(0.3, size=n) - 1, 15)
    # codebook indices: 15 shared values over the survivors of pruning N(0, 0.05) to 10% density
    kept, got = [], 0
    while got < n:
        w = rng.normal(scale=0.05, size=1 << 22)
        kept.append(w[np.abs(w) > PRUNE_T])
        got += kept[-1].size
    vals = np.concatenate(kept)[:n]
    cb = (kmeans_1d(vals, 15, init="linear").labels + 1).astype(np.int64)
    # relative indices: gaps between nonzeros at density 0.1; a gap g takes g // 16 fillers (z = 15)
    gaps = rng.geometric(0.1, size=n) - 1
    fill = gaps // 16
    ends = np.cumsum(fill + 1)
    z = np.full(int(ends[-1]), 15, dtype=np.int64)
    z[ends - 1] = gaps - 16 * fill
    z = z[:n]
    return [
        ("uniform-4bit", 4, uniform.astype(np.int64), "uniform over 16 symbols"),
        ("geometric-4bit", 4, geometric.astype(np.int64), "geometric p = 0.3, capped at 15"),
        ("codebook-indices-4bit", 4, cb,
         "k-means (linear init, 15 clusters) labels + 1 of N(0, 0.05) weights pruned to 10% density"),
        ("relative-indices-4bit", 4, z, "relative indices (4-bit, with fillers) of a 10%-density random layer"),
    ]


def archive_streams(path: str) -> list[tuple[str, int, np.ndarray, str]]:
    """(name, width, symbols, description) for every layer's v and z streams of a dcsim archive."""
    from compress.model import load

    model = load(path)
    out = []
    for layer in model.layers:
        f = layer.form
        out.append((f"{layer.name}.v", f.bits, np.asarray(f.v, dtype=np.int64),
                    f"weight indices of layer {layer.name} ({f.bits}-bit codebook)"))
        out.append((f"{layer.name}.z", f.rel_bits, np.asarray(f.z, dtype=np.int64),
                    f"relative indices of layer {layer.name} ({f.rel_bits}-bit, with fillers)"))
    allv = np.concatenate([np.asarray(l.form.v, dtype=np.int64) for l in model.layers])
    allz = np.concatenate([np.asarray(l.form.z, dtype=np.int64) for l in model.layers])
    vb = max(l.form.bits for l in model.layers)
    zb = max(l.form.rel_bits for l in model.layers)
    out.append(("all.v", vb, allv, "weight indices of all layers (one code)"))
    out.append(("all.z", zb, allz, "relative indices of all layers (one code)"))
    return out


def measure(name: str, width: int, s: np.ndarray, desc: str, repeat: int) -> dict:
    """Code one stream; bits per symbol, table bits, throughput, round trip."""
    alphabet = 1 << width
    n = int(s.size)
    t_build, code = _best(lambda: build_code(s, alphabet), repeat)
    t_enc, (payload, nbits) = _best(lambda: encode(s, code), repeat)
    decode(payload, nbits, n, code)  # compile / warm up
    t_dec, back = _best(lambda: decode(payload, nbits, n, code), repeat)
    ok = bool(np.array_equal(back, s))
    h = entropy_bits(s, alphabet)
    mb = len(payload) / 1e6
    return {
        "stream": name, "description": desc, "symbols": n, "width_bits": width, "alphabet_size": alphabet,
        "distinct_symbols": int(np.count_nonzero(np.bincount(s, minlength=alphabet))),
        "entropy_bits_per_symbol": h / n if n else 0.0,
        "huffman_bits_per_symbol": nbits / n if n else 0.0,
        "overhead_vs_entropy_bits_per_symbol": (nbits - h) / n if n else 0.0,
        "table_bits": code.table_bits(),
        "huffman_with_table_bits_per_symbol": (nbits + code.table_bits()) / n if n else 0.0,
        "fixed_bits_per_symbol": float(width),
        "payload_bits": int(nbits), "payload_bytes": len(payload), "max_code_len": code.max_len,
        "code_lengths": code.lengths.tolist(),
        "build_s": t_build, "encode_s": t_enc, "decode_s": t_dec,
        "encode_msymbols_per_s": n / t_enc / 1e6 if t_enc else None,
        "decode_msymbols_per_s": n / t_dec / 1e6 if t_dec else None,
        "encode_payload_mb_per_s": mb / t_enc if t_enc else None,
        "decode_payload_mb_per_s": mb / t_dec if t_dec else None,
        "roundtrip_ok": ok,
    }


def main(argv=None) -> int:
    """Run the benchmark; returns 0, or 1 if a round trip fails."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="runs/bench/huffman.json", help="JSON file (default %(default)s)")
    ap.add_argument("--n", type=int, default=4_000_000, help="symbols per synthetic stream (default %(default)s)")
    ap.add_argument("--archive", metavar="PATH", help="a dcsim model.dcz whose v and z streams are coded too")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeat", type=int, default=3, help="timed runs per measurement; the best is kept")
    args = ap.parse_args(argv)

    results = [measure(*st, args.repeat) for st in synthetic_streams(args.n, args.seed)]
    if args.archive:
        results += [measure(*st, args.repeat) for st in archive_streams(args.archive)]
    ok = all(r["roundtrip_ok"] for r in results)

    res = {
        "benchmark": "bench_huffman",
        "command": "python benchmarks/bench_huffman.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "config": {"n": args.n, "seed": args.seed, "repeat": args.repeat, "archive": args.archive,
                   "max_len": 24},
        "streams": results,
        "machine": machine_info(),
    }
    out = write_json(args.out, res)

    print(f"{'stream':<24} {'symbols':>9} {'H bits/sym':>10} {'Huff b/sym':>10} {'+table':>7} {'fixed':>5} "
          f"{'enc Msym/s':>10} {'enc MB/s':>8} {'dec Msym/s':>10} {'dec MB/s':>8}  round trip")
    for r in results:
        print(f"{r['stream']:<24} {r['symbols']:>9} {r['entropy_bits_per_symbol']:>10.4f} "
              f"{r['huffman_bits_per_symbol']:>10.4f} {r['huffman_with_table_bits_per_symbol']:>7.4f} "
              f"{r['fixed_bits_per_symbol']:>5.0f} {r['encode_msymbols_per_s'] or 0:>10.1f} "
              f"{r['encode_payload_mb_per_s'] or 0:>8.1f} {r['decode_msymbols_per_s'] or 0:>10.1f} "
              f"{r['decode_payload_mb_per_s'] or 0:>8.1f}  {'ok' if r['roundtrip_ok'] else 'FAILED'}")
    print(f"(best of {args.repeat}; MB/s = megabytes of Huffman payload per second) -> {out}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
