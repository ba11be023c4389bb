"""Many input vectors over the machine's cores: a compressed model on every MNIST test image,
with one Numba thread and with all of them.

Simulates ``--archive`` (default: the demo's LeNet-300-100, ``runs/demo/model.dcz``; ``make
demo`` writes it) on the default EIE machine over the first ``--count`` MNIST test images
(default all 10,000), warm, best of ``--repeat``, with 1, 2, ... up to ``os.cpu_count()`` Numba
threads (``numba.set_num_threads``; the vectors of each layer run in parallel chunks, see
sim.engine.run_batch). Checks that every thread count gives the same outputs and cycles, and
writes the engine's warm seconds (the sum over the layers), the wall seconds of the whole
simulation and the speed-up over one thread to JSON with the config and the machine:

    python benchmarks/sim_cores.py --out runs/bench/sim_cores.json
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from _common import machine_info, write_json  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--archive", default=str(ROOT / "runs" / "demo" / "model.dcz"))
    ap.add_argument("--count", type=int, default=None, help="MNIST test images (default all)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", default="runs/bench/sim_cores.json")
    a = ap.parse_args(argv)
    if not Path(a.archive).is_file():
        print(f"--archive: {a.archive} is not a file; run `make demo` first or give an archive", file=sys.stderr)
        return 2
    sys.path.insert(0, str(ROOT))
    import numba
    import numpy as np

    from arch.config import AcceleratorConfig
    from compress.model import load
    from dcsim.flow import mnist_test_inputs
    from sim.network import simulate_model

    cm = load(a.archive)
    inputs = mnist_test_inputs(int(np.prod(cm.input_shape)), a.count)
    cfg = AcceleratorConfig()
    simulate_model(cm, inputs.x[:64], cfg, progress=False)            # loads the kernels
    results, ref = {}, None
    for threads in range(1, (os.cpu_count() or 1) + 1):
        numba.set_num_threads(threads)
        best = None
        for _ in range(a.repeat):
            t0 = time.perf_counter()
            run = simulate_model(cm, inputs.x, cfg, progress=False)
            wall = time.perf_counter() - t0
            engine = sum(l.result.engine_seconds for l in run.layers)
            if best is None or engine < best[0]:
                best = (engine, wall)
            key = (run.outputs.tobytes(), [l.result.cycles for l in run.layers])
            if ref is None:
                ref = key
            elif key != ref:
                print(f"{threads} threads: results differ from 1 thread", file=sys.stderr)
                return 1
        results[threads] = {"engine_s": best[0], "wall_s": best[1]}
        print(f"{threads} thread(s): engine {best[0]:.3f} s, whole simulation {best[1]:.3f} s", file=sys.stderr)
    one = results[1]["engine_s"]
    for r in results.values():
        r["engine_speedup"] = one / r["engine_s"]
    write_json(a.out, {"benchmark": "sim_cores",
                       "config": {"archive": a.archive, "images": len(inputs.x), "repeat": a.repeat,
                                  "machine": "default AcceleratorConfig", "load_average": os.getloadavg()},
                       "machine": machine_info(), "identical_results": True, "threads": results})
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
