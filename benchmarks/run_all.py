"""Run every benchmark in this folder; each writes its JSON into --out."""
from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

QUICK = ["bench_encoding", "bench_huffman", "bench_kmeans", "sim_speed", "sim_batch"]
FULL = QUICK + ["bench_lenet"]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default="runs/bench")
    ap.add_argument("--full", action="store_true", help="also the full-quality LeNet runs (minutes)")
    args = ap.parse_args(argv)
    rc = 0
    for name in FULL if args.full else QUICK:
        spec = importlib.util.spec_from_file_location(name, HERE / f"{name}.py")
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        if name == "bench_lenet":
            for m in ("lenet-300-100", "lenet-5"):
                rc |= mod.main(["--model", m, "--out", f"{args.out}/{m}.json"])
        else:
            rc |= mod.main(["--out", f"{args.out}/{name.removeprefix('bench_')}.json"]) or 0
    return rc


if __name__ == "__main__":
    sys.exit(main())
