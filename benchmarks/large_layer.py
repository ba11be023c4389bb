"""Scale: compress, inspect and energy on one large fc layer, with time and peak memory.

Writes a ``.npz`` with one N x N fc layer (float32, normal; bias included), then runs, each in a
process of its own, ``dcsim compress --weights`` (the default recipe: 10% density, 5-bit
codebook, no retraining), ``dcsim inspect`` and ``dcsim energy`` on one input vector, and
records each command's wall time and peak resident memory (the child's ``ru_maxrss``) next to
the dense float32 size of the layer. Writes a JSON with the config.

    .venv/bin/python benchmarks/large_layer.py --n 20000 --out runs/bench/large_layer.json
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine_info, write_json  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def _run(argv: list[str]) -> dict:
    """Run ``python -m dcsim ARGV`` in a child; its wall time, peak RSS (MB) and exit code."""
    script = ("import resource, subprocess, sys, time, json\n"
              "t = time.time()\n"
              "r = subprocess.run([sys.executable, '-m', 'dcsim', *sys.argv[1:]], capture_output=True, text=True)\n"
              "dt = time.time() - t\n"
              "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024\n"
              "print(json.dumps({'rc': r.returncode, 'wall_s': dt, 'peak_rss_mb': peak, "
              "'stderr_tail': r.stderr[-400:]}))\n")
    out = subprocess.run([sys.executable, "-c", script, *argv], capture_output=True, text=True, cwd=ROOT,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    import json
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20000, help="the layer is N x N (default %(default)s)")
    ap.add_argument("--out", default="runs/bench/large_layer.json")
    ap.add_argument("--keep", metavar="DIR", help="work in DIR and keep the files (default: a temporary folder)")
    a = ap.parse_args(argv)
    tmp = None
    if a.keep:
        work = Path(a.keep)
        work.mkdir(parents=True, exist_ok=True)
    else:
        tmp = tempfile.TemporaryDirectory()
        work = Path(tmp.name)
    n = a.n
    rng = np.random.default_rng(0)
    t = time.time()
    w = np.empty((n, n), dtype=np.float32)
    for i in range(0, n, 1000):
        w[i:i + 1000] = rng.standard_normal((min(1000, n - i), n), dtype=np.float32) * (1.0 / np.sqrt(n))
    np.savez(work / "big.npz", fc=w, fc_bias=np.zeros(n, np.float32))
    x = rng.random((1, n)).astype(np.float32)
    np.save(work / "x.npy", x)
    del w
    make_s = time.time() - t
    steps = {}
    steps["compress"] = _run(["compress", "--weights", str(work / "big.npz"), "--out", str(work / "c"), "--quiet"])
    steps["inspect"] = _run(["inspect", str(work / "c" / "model.dcz")])
    steps["energy"] = _run(["energy", str(work / "c" / "model.dcz"), "--inputs", str(work / "x.npy"), "--quiet"])
    dense_mb = n * n * 4 / 2**20
    doc = {"benchmark": "large_layer", "config": {"n": n, "recipe": "default (density 0.1, fc_bits 5)"},
           "machine": machine_info(), "dense_float32_mb": dense_mb, "make_inputs_s": make_s, "steps": steps,
           "peak_over_dense": {k: v["peak_rss_mb"] / dense_mb for k, v in steps.items()}}
    write_json(a.out, doc)
    for k, v in steps.items():
        print(f"{k}: rc {v['rc']}, {v['wall_s']:.1f} s, peak {v['peak_rss_mb']:.0f} MB "
              f"({v['peak_rss_mb'] / dense_mb:.1f}x the dense {dense_mb:.0f} MB)")
    if tmp is not None:
        tmp.cleanup()
    return 0 if all(v["rc"] == 0 for v in steps.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
