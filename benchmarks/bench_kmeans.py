"""Speed and quality of dcsim's 1-D k-means (compress/kmeans.py) against scikit-learn.

The data are the surviving weights of a magnitude-pruned layer: --n nonzeros
of N(0, 0.05) (or Laplace, --dist) weights pruned to --density (the weights
with |w| above the (1 - density) quantile of |w|). Both implementations
start from the same linear initial centroids (Deep Compression's choice) and
run Lloyd's algorithm to convergence or --max-iter; scikit-learn with its
default k-means++ init is timed too, for reference. Writes a JSON with the
figures and the full config.

    python benchmarks/bench_kmeans.py --n 10000000 --k 32 --out runs/bench/kmeans.json
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from _common import machine_info, write_json  # noqa: E402
from compress.methods.kmeans import init_centroids, kmeans_1d  # noqa: E402

SCALE = 0.05  # standard deviation (normal) or scale (Laplace) of the dense weights


def pruned_weights(n: int, density: float, dist: str, seed: int) -> np.ndarray:
    """``n`` nonzero weights left after magnitude pruning of N(0, SCALE) / Laplace(0, SCALE) weights.

    Dense weights are drawn in chunks and those with |w| above the pruning
    threshold (the (1 - density) quantile of |w|, exact for the distribution)
    are kept, so the result is exactly the pruned layer's nonzero distribution.
    """
    rng = np.random.default_rng(seed)
    if dist == "laplace":
        # |w| ~ Exp(SCALE): P(|w| > t) = exp(-t / SCALE); the tail beyond t is t + Exp(SCALE)
        t = -SCALE * np.log(density)
        mag = t + rng.exponential(SCALE, size=n)
        return np.where(rng.random(n) < 0.5, -mag, mag)
    # normal: the exact threshold, P(|w| > t) = density
    t = SCALE * _norm_isf(density / 2)
    out = np.empty(n, dtype=np.float64)
    got = 0
    chunk = max(1 << 16, min(1 << 24, int(n / density * 1.1)))
    while got < n:
        w = rng.normal(scale=SCALE, size=chunk)
        keep = w[np.abs(w) > t]
        m = min(keep.size, n - got)
        out[got:got + m] = keep[:m]
        got += m
    return out


def _norm_isf(q: float) -> float:
    """z with P(Z > z) = q for a standard normal (bisection on math.erfc; exact to ~1e-15)."""
    lo, hi = -40.0, 40.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if 0.5 * math.erfc(mid / math.sqrt(2.0)) > q:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def _timed(fn):
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def main(argv=None) -> int:
    """Run the benchmark; returns 0, or 1 if dcsim's WCSS exceeds its initial WCSS."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="runs/bench/kmeans.json", help="JSON file (default %(default)s)")
    ap.add_argument("--n", type=int, default=10_000_000, help="number of (nonzero) weights (default %(default)s)")
    ap.add_argument("--k", type=int, default=32, help="clusters (default %(default)s)")
    ap.add_argument("--density", type=float, default=0.1, help="pruned density of the layer (default %(default)s)")
    ap.add_argument("--dist", choices=["normal", "laplace"], default="normal", help="dense weight distribution")
    ap.add_argument("--max-iter", type=int, default=100,
                    help="Lloyd iterations for both (default %(default)s, CompressionConfig.kmeans_max_iter)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeat", type=int, default=3, help="timed dcsim runs; the best is kept (sklearn runs once)")
    ap.add_argument("--no-sklearn", action="store_true", help="time dcsim only")
    args = ap.parse_args(argv)

    t_gen, x = _timed(lambda: pruned_weights(args.n, args.density, args.dist, args.seed))
    c0 = init_centroids(x, args.k, "linear")

    runs = []
    res = None
    for _ in range(max(1, args.repeat)):
        t, res = _timed(lambda: kmeans_1d(x, args.k, init="linear", max_iter=args.max_iter))
        runs.append(t)
    counts = np.bincount(res.labels, minlength=args.k)
    dcsim = {"seconds": min(runs), "runs_s": runs, "wcss": res.wcss, "init_wcss": res.init_wcss,
             "n_iter": res.n_iter, "converged": res.n_iter < args.max_iter,
             "empty_clusters": int(np.count_nonzero(counts == 0))}

    out = {
        "benchmark": "bench_kmeans",
        "command": "python benchmarks/bench_kmeans.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "config": {"n": args.n, "k": args.k, "density": args.density, "dist": args.dist, "weight_scale": SCALE,
                   "max_iter": args.max_iter, "seed": args.seed, "repeat": args.repeat, "init": "linear",
                   "sklearn_tol": 0.0, "sklearn_algorithm": "lloyd", "sklearn_n_init": 1},
        "data": {"generate_s": t_gen, "min": float(x.min()), "max": float(x.max()), "std": float(x.std())},
        "dcsim": dcsim,
        "machine": machine_info(),
    }

    if not args.no_sklearn:
        import sklearn
        from sklearn.cluster import KMeans

        X = x.reshape(-1, 1)
        out["machine"]["sklearn"] = sklearn.__version__

        def sk(init):
            km = KMeans(n_clusters=args.k, init=init, n_init=1, max_iter=args.max_iter, tol=0.0,
                        algorithm="lloyd", random_state=args.seed)
            t, km = _timed(lambda: km.fit(X))
            cnt = np.bincount(km.labels_, minlength=args.k)
            return {"seconds": t, "wcss": float(km.inertia_), "n_iter": int(km.n_iter_),
                    "empty_clusters": int(np.count_nonzero(cnt == 0))}

        out["sklearn_same_init"] = sk(c0.reshape(-1, 1))
        out["sklearn_kmeanspp"] = sk("k-means++")
        same = out["sklearn_same_init"]
        out["wcss_ratio"] = dcsim["wcss"] / same["wcss"]
        out["speedup"] = same["seconds"] / dcsim["seconds"]
        out["wcss_ratio_vs_kmeanspp"] = dcsim["wcss"] / out["sklearn_kmeanspp"]["wcss"]
        out["speedup_vs_kmeanspp"] = out["sklearn_kmeanspp"]["seconds"] / dcsim["seconds"]

    path = Path(args.out)
    write_json(path, out)

    what = f"pruned-{args.dist} weights (density {args.density})" if args.density < 1 else f"{args.dist} weights"
    print(f"{args.n} {what}, k = {args.k}, "
          f"max_iter = {args.max_iter}, linear init")
    print(f"  dcsim kmeans_1d        {dcsim['seconds']:8.2f} s  WCSS {dcsim['wcss']:.6g}  "
          f"({dcsim['n_iter']} iterations, {dcsim['empty_clusters']} empty clusters; best of {len(runs)})")
    if not args.no_sklearn:
        for name, key in (("sklearn, same init", "sklearn_same_init"), ("sklearn, k-means++", "sklearn_kmeanspp")):
            r = out[key]
            print(f"  {name:<22} {r['seconds']:8.2f} s  WCSS {r['wcss']:.6g}  "
                  f"({r['n_iter']} iterations, {r['empty_clusters']} empty clusters)")
        print(f"  WCSS ratio dcsim / sklearn (same init) = {out['wcss_ratio']:.6f}; "
              f"speed-up = {out['speedup']:.1f}x")
    print(f"-> {path}")
    return 0 if dcsim["wcss"] <= dcsim["init_wcss"] * (1 + 1e-12) else 1


if __name__ == "__main__":
    sys.exit(main())
