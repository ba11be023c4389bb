"""FPGA resource table of the EIE array (hw/synth.py): 1, 4, 16 PEs on ice40, ecp5, xilinx.

Runs ``hw.synth.synthesize`` for each (target, n_pe) on the FPGA machine (``--config``,
default examples/fpga.toml, with ``n_pe`` overridden), each into ``<work>/<target>_<n>pe/``,
and writes all results to one JSON and the table (hw.synth.format_resources) to stdout.

    python benchmarks/hw_resources.py --out runs/bench/hw_resources.json
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.append(str(ROOT))          # after PYTHONPATH, so a checkout of hw/ may be put first

from arch.config import AcceleratorConfig  # noqa: E402
from arch.configio import load_toml_table  # noqa: E402
from arch.fileio import atomic_write_text  # noqa: E402
from hw.synth import format_resources, synthesize  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default=str(ROOT / "examples" / "fpga.toml"))
    ap.add_argument("--pes", default="1,4,16")
    ap.add_argument("--targets", default="ice40,ecp5,xilinx")
    ap.add_argument("--work", default="runs/bench/hw_synth")
    ap.add_argument("--out", default="runs/bench/hw_resources.json")
    ap.add_argument("--per-pe", default="synth", choices=["synth", "divide"])
    ap.add_argument("--no-pnr", action="store_true")
    ap.add_argument("--pnr-timeout", type=float, default=300.0)
    a = ap.parse_args(argv)
    base = load_toml_table(a.config, "accel", AcceleratorConfig)
    results = []
    for n in [int(x) for x in a.pes.split(",")]:
        for tgt in a.targets.split(","):
            t0 = time.monotonic()
            r = synthesize(base.replace(n_pe=n), tgt, Path(a.work) / f"{tgt}_{n}pe", per_pe=a.per_pe,
                           pnr=not a.no_pnr, pnr_timeout=a.pnr_timeout)
            results.append(r)
            print(f"# {tgt} {n} PE: {time.monotonic() - t0:.1f} s, {r['fits_reason']}, "
                  f"fmax {r['fmax_mhz']} ({r['fmax_reason']})", flush=True)
            doc = {"config": a.config, "argv": sys.argv[1:], "results": results}
            Path(a.out).parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(a.out, json.dumps(doc, indent=1))
    print(format_resources(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
