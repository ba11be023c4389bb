"""Sweep throughput: design points per second of an EIE-layer sweep, end to end.

Runs ``dcsim dse SWEEP --out FRESH_DIR --quiet`` (default examples/dse/eie-throughput.toml: the
nine EIE benchmark layers x six FIFO depths x four PE counts, 216 points, every one simulated,
verified against the fixed-point reference and costed) in a fresh process and folder, and
writes the wall time, the points per second and where the points spent their time (the mean
simulation and energy seconds the point records hold) to JSON with the config and the machine:

    python benchmarks/dse_throughput.py --out runs/bench/dse_throughput.json
    python benchmarks/dse_throughput.py --repo /path/to/an/older/checkout --out runs/bench/dse_throughput_before.json

``--repo`` runs another checkout's dcsim (with this virtualenv) on the same sweep file, for a
before/after comparison.
"""
from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import machine_info, write_json  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sweep", default=str(ROOT / "examples" / "dse" / "eie-throughput.toml"))
    ap.add_argument("--repo", default=str(ROOT), help="the checkout whose dcsim runs (default: this one)")
    ap.add_argument("--jobs", type=int, default=None, help="worker processes (default: dcsim's, one per core)")
    ap.add_argument("--out", default="runs/bench/dse_throughput.json")
    a = ap.parse_args(argv)
    sweep = Path(a.sweep).resolve()
    if not sweep.is_file():
        print(f"--sweep: {sweep} is not a file", file=sys.stderr)
        return 2
    repo = Path(a.repo).resolve()
    with tempfile.TemporaryDirectory(prefix="dse_throughput_") as tmp:
        out = Path(tmp) / "sweep"
        cmd = [sys.executable, "-m", "dcsim", "dse", str(sweep), "--out", str(out), "--quiet"]
        if a.jobs:
            cmd += ["--jobs", str(a.jobs)]
        env = dict(os.environ, PYTHONPATH=str(repo))
        t0 = time.perf_counter()
        cpu0 = os.times()
        proc = subprocess.run(cmd, cwd=repo, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        cpu1 = os.times()
        if proc.returncode != 0:
            print(proc.stderr[-2000:], file=sys.stderr)
            return 1
        with open(out / "results.csv", newline="") as f:
            rows = list(csv.DictReader(f))
    n = len(rows)
    doc = {"benchmark": "dse_throughput",
           "config": {"sweep": str(sweep.relative_to(ROOT)) if sweep.is_relative_to(ROOT) else str(sweep),
                      "repo": str(repo), "jobs": a.jobs or os.cpu_count(), "command": " ".join(cmd[1:])},
           "machine": machine_info(),
           "points": n, "wall_s": wall, "points_per_s": n / wall,
           "cpu_s_children": (cpu1.children_user + cpu1.children_system) - (cpu0.children_user + cpu0.children_system)}
    write_json(a.out, doc)
    print(f"{n} points in {wall:.1f} s: {n / wall:.2f} points/s (wrote {a.out})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
