"""LeNet-5 on the accelerator with its conv layers: all 10,000 MNIST test images, verified.

Compresses LeNet-5 with its default recipe (``dcsim compress --model lenet-5``; the float
baseline is trained once and cached, several minutes the first time) unless ``--archive`` is
given, then times ``dcsim simulate ARCHIVE --verify`` in this process: every conv layer as one
matrix-vector product per output position, the pooling on the host, every output checked
against the fixed-point reference. Writes a JSON with the config, wall time, threads and the
per-layer cycles and products.

    .venv/bin/python benchmarks/lenet5_conv.py --out runs/bench/lenet5_conv.json
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine_info, write_json  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="runs/bench/lenet5_conv.json")
    ap.add_argument("--archive", help="a compressed LeNet-5 (default: compress one into runs/bench/lenet-5-model)")
    ap.add_argument("--count", type=int, default=10000, help="MNIST test images")
    ap.add_argument("--pes", type=int, default=64)
    ap.add_argument("--no-verify", action="store_true")
    a = ap.parse_args(argv)
    import numba

    from dcsim.cli import main as dcsim

    archive = Path(a.archive) if a.archive else Path("runs/bench/lenet-5-model/model.dcz")
    t = time.time()
    if not archive.is_file():
        rc = dcsim(["compress", "--model", "lenet-5", "--out", str(archive.parent), "--quiet"])
        if rc:
            return rc
    compress_s = time.time() - t
    out = Path(a.out)
    sim_dir = out.with_suffix("")
    argv_sim = ["simulate", str(archive), "--count", str(a.count), "--pes", str(a.pes), "--out", str(sim_dir),
                "--quiet"] + ([] if a.no_verify else ["--verify"])
    t = time.time()
    rc = dcsim(argv_sim)
    wall = time.time() - t
    if rc:
        return rc
    sim = json.loads((sim_dir / "sim.json").read_text())
    doc = {
        "benchmark": "lenet5_conv",
        "config": {"archive": str(archive), "count": a.count, "pes": a.pes, "verify": not a.no_verify,
                   "command": "dcsim " + " ".join(argv_sim), "numba_threads": numba.get_num_threads()},
        "machine": machine_info(),
        "compress_seconds": compress_s,
        "simulate_wall_seconds": wall,
        "verified": sim.get("verified"),
        "verify_seconds": sim.get("verify_seconds"),
        "accuracy": sim.get("accuracy"),
        "layers": [{k: l[k] for k in ("layer", "rows", "cols", "vectors_per_input", "cycles_per_input",
                                      "latency_us_per_input", "engine_seconds")} for l in sim["layers"]],
        "total_cycles_per_input": sim["total"]["cycles_per_input"],
    }
    write_json(out, doc)
    print(f"LeNet-5, {a.count} images, {a.pes} PEs{', verified' if doc['verified'] else ''}: "
          f"{wall:.1f} s wall ({numba.get_num_threads()} threads); wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
