"""``dcsim verilog`` and ``dcsim synth``: the machine's RTL generator (EIE: hw/)."""
from __future__ import annotations

import numpy as np

from dcsim.options import UserError, load_configs, log, make_out, out_dir, workload_from_args


def _rtl(accel):
    from arch.machine import get_machine

    rtl = get_machine(accel).rtl
    if rtl is None:
        raise UserError(f"the {accel.kind} machine has no RTL generator")
    return rtl


def cmd_verilog(args) -> int:
    """Verilog + memory images of one layer (an archive's, or an EIE benchmark layer) for the machine."""
    from arch.fixedpoint import layer_format, one, quantize_acts, quantize_codebook
    from arch.machine import get_machine

    accel, _ = load_configs(args)
    rtl = _rtl(accel)
    out = out_dir(args.out)
    def check_layer(cm):
        names = [l.name for l in cm.layers]
        if args.archive_layer is not None and args.archive_layer not in names:
            raise UserError(f"--archive-layer {args.archive_layer}: {cm.name} has layers {', '.join(names)}")

    workload = workload_from_args(args, count_default=1, check_model=check_layer)
    if workload.layers:
        from sim.workloads import make_workload

        if len(workload.layers) != 1:
            raise UserError(f"--layer {args.layer}: give one benchmark layer")
        name = workload.layers[0]
        w = make_workload(name, accel, seed=workload.seed)
        cfg, fmt = accel, layer_format(w.centroids, accel)
        indices, cb, x, relu = w.indices, quantize_codebook(w.centroids, fmt), quantize_acts(w.x, accel), w.relu
    else:
        from sim.reference import reference_network

        cm = workload.model
        names = [l.name for l in cm.layers]
        name = args.archive_layer or names[-1]
        k = names.index(name)
        layer = cm.layers[k]
        machine = get_machine(accel)
        cfg = machine.layer_config(accel, layer.bits)
        x_in = workload.inputs.x
        ref = reference_network(cm, x_in[:1], accel)
        fmt = ref.formats[k]
        prev = quantize_acts(x_in[0], accel) if k == 0 else ref.outputs[k - 1][0]
        x = np.concatenate([prev, [one(fmt)]]).astype(np.int64)
        indices, cb, relu = layer.indices, quantize_codebook(layer.centroids, fmt), layer.spec.relu
        note = machine.retarget_note(accel, cfg)
        log(f"{name} of {cm.name}; input vector: {workload.inputs.description}" + (f"; {note}" if note else ""))
    make_out(out)
    vpath = rtl.export_layer(out, cfg, indices, cb, x, fmt, relu, host=args.host)
    print(f"wrote {vpath} and its memory images and manifest into {out} ({indices.shape[0]} x {indices.shape[1]} "
          f"layer {name}, {cfg.n_pe} PEs)")
    return 0


def cmd_synth(args) -> int:
    """FPGA resource estimate of the machine's array (Yosys via yowasp; nextpnr for Fmax where available)."""
    from hw.synth import format_resources

    accel, _ = load_configs(args)
    rtl = _rtl(accel)
    if args.target not in rtl.targets:
        raise UserError(f"--target {args.target}: choose one of {', '.join(rtl.targets)}")
    if args.seed is not None and args.seed < 0:
        raise UserError(f"--seed {args.seed}: must be >= 0")
    out = out_dir(args.out)
    make_out(out)
    log(f"synthesizing {accel.n_pe} PEs for {args.target} (the first run compiles the wasm tools, ~1 min)")
    try:
        res = rtl.synthesize(accel, args.target, out, pnr=not args.no_pnr, seed=args.seed or 0)
    except RuntimeError as e:
        raise UserError(f"synthesis failed: {e}") from None
    print(format_resources([res]))
    print(f"wrote {out / 'synth.json'}")
    return 0
