"""``dcsim compress``, ``dcsim inspect`` and ``dcsim recipe``."""
from __future__ import annotations

import time

from dcsim.options import UserError, load_configs, log, make_out, out_dir


def _with_seed(comp, seed):
    """The recipe with ``--seed`` applied (it overrides the config's)."""
    if seed is None:
        return comp
    if seed < 0:
        raise UserError(f"--seed {seed}: must be >= 0")
    return comp.replace(seed=seed)


def cmd_compress(args) -> int:
    """Compress a built-in model on MNIST (train or reuse the baseline) or a user's ``.npz`` weights."""
    from compress.config import CompressionConfig
    from compress.model import save
    from compress.pipeline import compress_builtin, step_encode, step_prune, step_quantize, storage_report, weight_error
    from compress.recipes import default_recipe
    from network.data import data_from_dataset
    from reports.compression import storage_tables, weight_error_table, write_compression_report

    if (args.model is None) == (args.weights is None):
        raise UserError("give exactly one of --model {lenet-300-100,lenet-5} or --weights FILE.npz")
    progress = not args.quiet
    t0 = time.time()
    stages: dict[str, float] = {}
    if args.model:
        from network.mnist import load_mnist

        accel, ccfg = load_configs(args, default_recipe(args.model))
        ccfg = _with_seed(ccfg, args.seed)
        out = out_dir(args.out)
        t = time.time()
        ds = load_mnist(args.data_dir, progress=progress)
        data = data_from_dataset(ds)
        log(f"data: {ds.source} ({len(data.x_train)} train, {len(data.x_test)} test images"
            f"{'' if ds.is_standard_mnist else ', not the standard MNIST files'})")
        stages["load_s"] = time.time() - t
        cm, report, st = compress_builtin(
            args.model, ccfg, accel, data, use_cache=not args.no_cache, progress=progress, log=log,
            meta={"data": str(ds.source), "standard_mnist": bool(ds.is_standard_mnist)})
        stages.update(st)
    else:
        from network.npz import network_from_npz

        accel, ccfg = load_configs(args, CompressionConfig())
        ccfg = _with_seed(ccfg, args.seed)
        out = out_dir(args.out)
        t = time.time()
        net = network_from_npz(args.weights)
        original = net.copy()
        step_prune(net, ccfg, None, progress=progress, log=log)
        quant = step_quantize(net, ccfg, None, progress=progress, log=log)
        cm = step_encode(net, quant, ccfg, accel, {"weights": str(args.weights)})
        stages["compress_s"] = time.time() - t
        report = storage_report(cm)
        errs = {e["layer"]: e for e in weight_error(original, cm)}
        for row in report["layers"]:
            row.update({k: v for k, v in errs[row["layer"]].items() if k != "layer"})
    stages["total_s"] = time.time() - t0
    doc = {"model": cm.name, **report, "stages_s": stages,
           "compression_config": ccfg.to_dict(), "accelerator_config": accel.to_dict()}
    make_out(out)
    save(cm, out / "model.dcz")
    write_compression_report(out, doc)
    print(storage_tables(doc))
    if args.weights:
        print()
        print(weight_error_table(report))
    print(f"\nwrote {out / 'model.dcz'}, {out / 'compression.json'}, {out / 'compression_layers.csv'} "
          f"in {stages['total_s']:.1f} s")
    return 0


def cmd_inspect(args) -> int:
    """The storage table of an archive (its EIE footprint on the ``--config`` machine)."""
    from compress.model import load
    from compress.pipeline import storage_report
    from reports.compression import storage_tables

    cm = load(args.archive)
    if args.config:
        accel, _ = load_configs(args)
        cm.accel = accel
    print(f"{args.archive}: {cm.name}, {len(cm.layers)} layers, input {tuple(cm.input_shape)}")
    print(storage_tables(storage_report(cm)))
    return 0


def cmd_recipe(args) -> int:
    """A built-in model's default recipe as a complete config file."""
    from dcsim.configfile import recipe_toml

    text = recipe_toml(args.model)
    if args.out:
        from arch.fileio import atomic_write_text
        atomic_write_text(args.out, text)
        log(f"wrote {args.out}")
    else:
        print(text, end="")
    return 0
