"""Whole-process time and peak memory of one-layer simulations, the way a user runs them.

Runs each command line in a fresh process (``python -m dcsim simulate --layer alex-7 --quiet``,
``--layer vgg-6``, and VGG-6 at 1024 PEs): once to warm Numba's on-disk cache, then ``--repeat``
times, and writes the wall seconds (best and median), the CPU seconds and the peak resident
memory (``ru_maxrss`` of the child) of each to JSON with the config and the machine:

    python benchmarks/startup.py --out runs/bench/startup.json
    python benchmarks/startup.py --repo /path/to/an/older/checkout --out runs/bench/startup_before.json

The issue's targets: ``--layer alex-7`` at most 1.0 s and ``--layer vgg-6`` at most 1.5 s of
wall time at 64 PEs (the C++ simulator's command lines take 0.16 s and about 0.5 s).
"""
from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

from _common import machine_info, write_json  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = {
    "alex-7": ["simulate", "--layer", "alex-7", "--quiet"],
    "vgg-6": ["simulate", "--layer", "vgg-6", "--quiet"],
    "vgg-6 at 1024 PEs": ["simulate", "--layer", "vgg-6", "--pes", "1024", "--quiet"],
}


def run_once(args: list[str], repo: Path) -> dict:
    """Wall and CPU seconds and peak RSS of one fresh ``python -m dcsim`` process."""
    env = dict(os.environ, PYTHONPATH=str(repo))
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "dcsim", *args], cwd=repo, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    _pid, status, ru = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    err = proc.stderr.read()
    proc.stderr.close()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(args)} failed: {err[-1000:]}")
    return {"wall_s": wall, "cpu_s": ru.ru_utime + ru.ru_stime, "peak_rss_mb": ru.ru_maxrss / 1024}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repo", default=str(ROOT), help="the checkout whose dcsim runs (default: this one)")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--out", default="runs/bench/startup.json")
    a = ap.parse_args(argv)
    repo = Path(a.repo).resolve()
    results = {}
    for name, args in COMMANDS.items():
        run_once(args, repo)                                    # warms Numba's cache
        runs = [run_once(args, repo) for _ in range(a.repeat)]
        walls = [r["wall_s"] for r in runs]
        results[name] = {"command": "dcsim " + " ".join(args), "wall_s_best": min(walls),
                         "wall_s_median": statistics.median(walls), "cpu_s_best": min(r["cpu_s"] for r in runs),
                         "peak_rss_mb": max(r["peak_rss_mb"] for r in runs), "runs": runs}
        print(f"{name}: best {min(walls):.2f} s, median {statistics.median(walls):.2f} s wall, "
              f"peak RSS {results[name]['peak_rss_mb']:.0f} MB", file=sys.stderr)
    write_json(a.out, {"benchmark": "startup", "config": {"repo": str(repo), "repeat": a.repeat,
                                                          "load_average": os.getloadavg()},
                       "machine": machine_info(), "results": results})
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
