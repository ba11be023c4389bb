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
    from compress.pipeline import (data_from_dataset, network_from_npz, step_baseline, step_encode, step_prune,
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
        t = time.time()
        net = step_baseline(args.model, ccfg, data, use_cache=not args.no_cache, progress=progress, log=_log)
        base_err = net.error_pct(data.x_test, data.y_test)
        stages["baseline_s"] = time.time() - t
        _log(f"baseline test error: {base_err:.2f}%")
        t = time.time()
        masks = step_prune(net, ccfg, data, progress=progress, log=_log)
        pruned_err = net.error_pct(data.x_test, data.y_test)
        stages["prune_s"] = time.time() - t
        _log(f"pruned test error: {pruned_err:.2f}%")
        t = time.time()
        quant = step_quantize(net, ccfg, data, progress=progress, log=_log)
        stages["quantize_s"] = time.time() - t
        t = time.time()
        meta = {"model": args.model, "data": str(ds.source), "standard_mnist": bool(ds.is_standard_mnist),
                "baseline_test_error_pct": base_err, "pruned_test_error_pct": pruned_err}
        cm = step_encode(net, quant, ccfg, accel, meta)
        err = cm.to_network().error_pct(data.x_test, data.y_test)
        cm.meta["test_error_pct"] = err
        stages["encode_s"] = time.time() - t
        report = storage_report(cm)
        report["total"].update(test_error_pct=err, baseline_test_error_pct=base_err, pruned_test_error_pct=pruned_err,
                               n_test_images=int(len(data.x_test)))
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

    try:
        return int(args.func(args) or 0)
    except (UserError, ConfigError, ArchiveError, DataError) as e:
        print(f"dcsim: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("dcsim: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
