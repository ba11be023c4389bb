"""``dcsim compress``, ``dcsim inspect`` and ``dcsim recipe``."""
from __future__ import annotations

import time

import numpy as np

from dcsim.options import UserError, check_strict, load_configs, log, out_dir, out_file, writing


def _with_seed(comp, seed):
    """The recipe with ``--seed`` applied (it overrides the config's)."""
    if seed is None:
        return comp
    if seed < 0:
        raise UserError(f"--seed {seed}: must be >= 0")
    return comp.replace(seed=seed)


def parse_input_shape(text: str | None) -> tuple[int, ...] | None:
    """``--input-shape 1,28,28`` -> (1, 28, 28)."""
    if text is None:
        return None
    try:
        shape = tuple(int(s) for s in text.replace("x", ",").split(","))
    except ValueError:
        shape = ()
    if not shape or any(s < 1 for s in shape):
        raise UserError(f"--input-shape {text}: give positive sizes of one sample without the batch axis, "
                        "e.g. 784 or 1,28,28")
    return shape


#: Relative weight error (||W_q - W|| / ||W||) above which a layer is flagged when accuracy is not measured.
WEIGHT_ERROR_WARNING = 0.3


def _imported_network(args):
    """The float network of ``--weights`` or ``--onnx`` (with ``--input-shape``), its parameters
    checked finite and its layers checked to fit together (docs/models.md)."""
    from network.npz import check_forward, check_params

    shape = parse_input_shape(args.input_shape)
    source = str(args.onnx or args.weights)
    if args.onnx:
        from network.onnx_import import network_from_onnx

        net = network_from_onnx(args.onnx, shape)
        check_params(net.params, source)
    else:
        net = _npz_network(args, shape)
    if all(int(s) > 0 for s in net.input_shape):
        check_forward(net, source)
    return net


def _npz_network(args, shape):
    from network.graph import LayerKind
    from network.npz import check_chain, network_from_npz

    net = network_from_npz(args.weights)
    first = net.specs[0]
    if shape is not None:
        want = first.fan_in if first.kind is LayerKind.FC else None
        if want is not None and int(np.prod(shape)) != want:
            raise UserError(f"--input-shape {args.input_shape}: {int(np.prod(shape))} values; the first layer "
                            f"{first.name} takes {want}")
        if first.kind is LayerKind.CONV and (len(shape) != 3 or shape[0] != first.shape[1]):
            raise UserError(f"--input-shape {args.input_shape}: the first layer {first.name} is a conv "
                            f"layer with {first.shape[1]} input channels; give C,H,W with C = "
                            f"{first.shape[1]}")
        net.input_shape = shape
    else:
        notes = check_chain(net.specs, str(args.weights))
        if notes:
            log(f"note: without --input-shape the sizes after the conv layers are not known, so only part of the "
                f"shapes is checked ({'; '.join(notes)}); give --input-shape C,H,W to check them all and to "
                "simulate the model")
    return net


def _eval_set(path, net):
    from compress.pipeline import EvalSet
    from network.data import load_eval_data

    x, y, desc = load_eval_data(path, tuple(net.input_shape))
    return EvalSet(x, y, desc)


def cmd_compress(args) -> int:
    """Compress a built-in model on MNIST (train or reuse the baseline), a user's ``.npz`` weights or an
    ONNX model (with optional evaluation and training data, a sensitivity scan and an accuracy budget)."""
    from compress.model import save
    from dcsim.progress import Steps
    from reports.compression import storage_tables, weight_error_table, write_compression_report

    sources = [a for a in (args.model, args.weights, args.onnx) if a is not None]
    if len(sources) != 1:
        raise UserError("give exactly one of --model {lenet-300-100,lenet-5}, --weights FILE.npz or --onnx FILE.onnx")
    if args.model and (args.input_shape or args.eval_data or args.train_data):
        raise UserError("--input-shape, --eval-data and --train-data apply to --weights and --onnx; a built-in "
                        "--model trains and evaluates on MNIST (--data-dir)")
    if args.max_accuracy_drop is not None and not (0.0 <= args.max_accuracy_drop <= 100.0):
        raise UserError(f"--max-accuracy-drop {args.max_accuracy_drop}: give percentage points in [0, 100]")
    progress = not args.quiet
    t0 = time.time()
    with Steps("compress", 1, enabled=progress) as steps:
        cm, ccfg, accel, out, report, original, extra, stages = _compress(args, progress, steps)
        stages["total_s"] = time.time() - t0
        doc = {"model": cm.name, **report, "stages_s": stages,
               "compression_config": ccfg.to_dict(), "accelerator_config": accel.to_dict(),
               **{k: v for k, v in extra.items() if not k.startswith("_")}}
        check_strict(doc, "compression.json")
        with steps.step("write the archive and the reports"), writing(out):
            save(cm, out / "model.dcz")
            write_compression_report(out, doc)
            if "_scan" in extra:
                from reports.sensitivity import plot_sensitivity

                plot_sensitivity(extra["_scan"], out / "sensitivity.png")
    if "_scan" in extra:
        from reports.sensitivity import sensitivity_table

        print(sensitivity_table(extra["_scan"]))
        print()
        if "budget" in extra:
            from reports.sensitivity import budget_table

            print(budget_table(extra["budget"]))
            print()
    print(storage_tables(doc))
    if original is not None:
        print()
        print(weight_error_table(report, retrained=bool(cm.meta.get("retrained"))))
        if report["total"].get("test_error_pct") is None:
            big = [r["layer"] for r in report["layers"] if r["weight_rel_error"] > WEIGHT_ERROR_WARNING]
            if big:
                log(f"warning: accuracy not measured, and the compressed weights of {', '.join(big)} differ from "
                    f"the originals by more than {100 * WEIGHT_ERROR_WARNING:.0f}% (relative error); the model may "
                    "be wrecked. Give --eval-data to measure it, --max-accuracy-drop to choose a safe recipe")
    print(f"\nwrote {out / 'model.dcz'}, {out / 'compression.json'}, {out / 'compression_layers.csv'}"
          f"{', ' + str(out / 'sensitivity.png') if '_scan' in extra else ''} in {stages['total_s']:.1f} s")
    return 0


def _compress(args, progress: bool, steps):
    """The compression of :func:`cmd_compress`, each long part a step of ``steps``. Returns
    ``(model, recipe, machine, out, storage report, imported network or None, extra, stage seconds)``."""
    from compress.config import CompressionConfig
    from compress.pipeline import compress_builtin, compress_steps, compress_network, storage_report, weight_error
    from compress.recipes import default_recipe
    from network.data import data_from_dataset

    stages: dict[str, float] = {}
    extra: dict = {}
    if args.model:
        from network.mnist import load_mnist

        accel, ccfg = load_configs(args, default_recipe(args.model))
        ccfg = _with_seed(ccfg, args.seed)
        out = out_dir(args.out)
        t = time.time()
        with steps.step("read MNIST"):
            ds = load_mnist(args.data_dir, progress=progress)
            data = data_from_dataset(ds)
        from network import models
        steps.set_total(2 + compress_steps(ccfg) + len(models.build(args.model, seed=0).specs) + 1)
        log(f"data: {ds.source} ({len(data.x_train)} train, {len(data.x_test)} test images"
            f"{'' if ds.is_standard_mnist else ', not the standard MNIST files'})")
        stages["load_s"] = time.time() - t
        cm, report, st = compress_builtin(
            args.model, ccfg, accel, data, use_cache=not args.no_cache, progress=progress, log=log,
            meta={"data": str(ds.source), "standard_mnist": bool(ds.is_standard_mnist)}, step=steps.step)
        stages.update(st)
        original = None
    else:
        accel, ccfg = load_configs(args, CompressionConfig())
        ccfg = _with_seed(ccfg, args.seed)
        out = out_dir(args.out)
        t = time.time()
        with steps.step("import the ONNX model" if args.onnx else "read the weights"):
            net = _imported_network(args)
        stages["import_s"] = time.time() - t
        scan_steps = (args.sensitivity or args.max_accuracy_drop is not None) + (args.max_accuracy_drop is not None)
        steps.set_total(1 + scan_steps + compress_steps(ccfg) + len(net.specs) + 2)
        log(f"{'--onnx ' + str(args.onnx) if args.onnx else '--weights ' + str(args.weights)}: {len(net.specs)} "
            f"weight layers, {net.n_weights:,} weights, input {tuple(net.input_shape)}, "
            f"{sum(1 for n in net.graph if n.op not in ('fc', 'conv'))} operations between layers "
            f"({stages['import_s']:.2f} s)")
        ccfg.check_layer_names([s.name for s in net.specs])
        eval_set = _eval_set(args.eval_data, net) if args.eval_data else None
        train = None
        if args.train_data:
            from network.data import train_data_from

            train = train_data_from(args.train_data, net.input_shape, eval_set)
        if (args.max_accuracy_drop is not None or args.sensitivity) and eval_set is None:
            raise UserError("--max-accuracy-drop and --sensitivity measure accuracy: give --eval-data too")
        if eval_set is not None and (args.sensitivity or args.max_accuracy_drop is not None):
            from compress.sensitivity import budget_recipe, sensitivity_scan

            t = time.time()

            def evaluate(n):
                return 100.0 - eval_set.error_pct(n)

            with steps.step("sensitivity scan"):
                scan = sensitivity_scan(net, ccfg, evaluate, progress=progress)
            stages["sensitivity_s"] = time.time() - t
            extra["sensitivity"] = scan.to_dict()
            extra["_scan"] = scan
            if args.max_accuracy_drop is not None:
                t = time.time()
                with steps.step("choose the recipe within the accuracy budget"):
                    ccfg, summary = budget_recipe(net, ccfg, evaluate, args.max_accuracy_drop, scan=scan)
                stages["budget_s"] = time.time() - t
                extra["budget"] = summary
                log(f"accuracy budget {args.max_accuracy_drop} points: "
                    + ", ".join(f"{r['layer']} {r['kept_pct']:.1f}% kept, {r['bits']} bits" for r in summary["layers"])
                    + f"; {summary['accuracy_pct']:.2f}% accuracy before retraining "
                      f"(drop {summary['drop_pct']:.2f} points)")
        cm, st = compress_network(net, ccfg, accel, train=train, eval_set=eval_set, progress=progress, log=log,
                                  meta={"onnx" if args.onnx else "weights": str(args.onnx or args.weights),
                                        "retrained": train is not None}, step=steps.step)
        stages.update(st)
        del net                                       # the imported weights are read again for the weight
        report = storage_report(cm, step=steps.step)  # errors, rather than kept in a second copy all along
        with steps.step("weight errors against the imported weights"):
            original = _imported_network(args)
            errs = {e["layer"]: e for e in weight_error(original, cm)}
        for row in report["layers"]:
            row.update({k: v for k, v in errs[row["layer"]].items() if k != "layer"})
    return cm, ccfg, accel, out, report, original, extra, stages


def cmd_inspect(args) -> int:
    """The storage table of an archive (its EIE footprint on the ``--config`` machine)."""
    from compress.model import load
    from compress.pipeline import storage_report
    from dcsim.progress import Steps
    from reports.compression import storage_tables

    accel = load_configs(args)[0] if args.config else None
    with Steps("inspect", 1, enabled=not args.quiet) as steps:
        with steps.step("read and check the archive"):
            cm = load(args.archive)
        _check_layers(args.archive, cm)
        if accel is not None:
            cm.accel = accel
        steps.set_total(1 + len(cm.layers))
        report = storage_report(cm, step=steps.step)
    print(f"{args.archive}: {cm.name}, {len(cm.layers)} layers, input {tuple(cm.input_shape)}")
    print(storage_tables(report))
    return 0


def _check_layers(archive, cm) -> None:
    """Refuse an archive without layers, or with a layer without weights, in one line."""
    if not cm.layers:
        raise UserError(f"{archive}: the archive holds no layers")
    empty = [l.name for l in cm.layers if l.indices.shape[0] == 0 or int(np.prod(l.spec.shape)) == 0]
    if empty:
        raise UserError(f"{archive}: layer {empty[0]} has no weights (shape {cm.layer(empty[0]).spec.shape})")


def cmd_recipe(args) -> int:
    """A built-in model's default recipe as a complete config file."""
    from dcsim.configfile import recipe_toml

    out = out_file(args.out) if args.out else None
    text = recipe_toml(args.model)
    if out is not None:
        from arch.fileio import atomic_write_text

        try:
            atomic_write_text(out, text)
        except OSError as e:
            raise UserError(f"--out {out}: cannot write in the folder {out.parent} ({e.strerror or e})") from None
        log(f"wrote {out}")
    else:
        print(text, end="")
    return 0
