"""WCSS of dcsim's k-means on real pruned weights: linear init, linear + relocation
(``kmeans_relocate``), the exact optimum (``kmeans_init = "optimal"``, dynamic programming) and
scikit-learn (k-means++, ``--n-init`` starts), with the seconds of each run.

The weights are LeNet-300-100's (``network.models.build("lenet-300-100", seed=0)``), the
trained baseline from ``~/.cache/dcsim/baselines/lenet-300-100-*.npz`` when one exists (else the
untrained initial weights, said so in the JSON), each layer pruned to ``--density`` by magnitude;
the nonzeros of each layer are clustered into ``2**bits - 1`` values for each ``--bits``.

    python benchmarks/kmeans_wcss.py --out runs/bench/kmeans_wcss.json
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from _common import machine_info, write_json  # noqa: E402
from compress.methods.kmeans import kmeans_1d  # noqa: E402
from compress.methods.magnitude import mask_by_density  # noqa: E402


def load_weights(model: str):
    from arch.fileio import load_arrays
    from network import models
    net = models.build(model, seed=0)
    found = sorted((Path.home() / ".cache" / "dcsim" / "baselines").glob(f"{model}-*.npz"))
    for p in found:
        params = load_arrays(p, "baseline cache")
        if set(params) == set(net.params):
            net.params = {k: np.asarray(v, dtype=np.float32) for k, v in params.items()}
            return net, {"trained": True, "baseline": str(p)}
    return net, {"trained": False, "baseline": None, "note": "no trained baseline found: untrained weights used"}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="runs/bench/kmeans_wcss.json")
    ap.add_argument("--model", default="lenet-300-100")
    ap.add_argument("--density", type=float, default=0.08)
    ap.add_argument("--bits", type=int, nargs="+", default=[2, 4, 5, 6])
    ap.add_argument("--max-iter", type=int, default=1000)
    ap.add_argument("--n-init", type=int, default=3, help="scikit-learn k-means++ starts (default %(default)s)")
    args = ap.parse_args(argv)

    import sklearn
    from sklearn.cluster import KMeans

    net, source = load_weights(args.model)
    results = []
    for s in net.specs:
        w = net.params[s.name]
        x = w[mask_by_density(w, args.density)].astype(np.float64)
        for bits in args.bits:
            k = (1 << bits) - 1
            row = {"layer": s.name, "n": int(x.size), "bits": bits, "k": k}
            for key, init, kw in (("linear", "linear", {}), ("linear_relocate", "linear", {"relocate_empty": True}),
                                  ("optimal", "optimal", {})):
                t = time.perf_counter()
                r = kmeans_1d(x, k, init=init, max_iter=args.max_iter, **kw)
                row[key] = {"wcss": r.wcss, "seconds": time.perf_counter() - t, "n_iter": r.n_iter,
                            "empty_clusters": int(np.count_nonzero(np.bincount(r.labels, minlength=k) == 0))}
            t = time.perf_counter()
            km = KMeans(n_clusters=k, n_init=args.n_init, random_state=0).fit(x.reshape(-1, 1))
            row["sklearn"] = {"wcss": float(km.inertia_), "seconds": time.perf_counter() - t}
            row["ratio_linear"] = row["linear"]["wcss"] / row["sklearn"]["wcss"]
            row["ratio_relocate"] = row["linear_relocate"]["wcss"] / row["sklearn"]["wcss"]
            row["ratio_optimal"] = row["optimal"]["wcss"] / row["sklearn"]["wcss"]
            results.append(row)
            sec = "/".join(f"{row[c]['seconds']:.3f}" for c in ("linear", "linear_relocate", "optimal", "sklearn"))
            print(f"{s.name:5s} n={x.size:6d} k={k:3d}  linear/sklearn {row['ratio_linear']:.4f}  "
                  f"relocate/sklearn {row['ratio_relocate']:.6f}  optimal/sklearn {row['ratio_optimal']:.6f}  "
                  f"s lin/reloc/opt/sk {sec}")
    doc = {"benchmark": "kmeans_wcss",
           "command": "python benchmarks/kmeans_wcss.py " + " ".join(argv if argv is not None else sys.argv[1:]),
           "config": {"model": args.model, "density": args.density, "bits": args.bits, "max_iter": args.max_iter,
                      "sklearn_init": "k-means++", "sklearn_n_init": args.n_init, "sklearn_random_state": 0,
                      "weights": source},
           "machine": {**machine_info(), "sklearn": sklearn.__version__},
           "results": results}
    print(f"-> {write_json(args.out, doc)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
