"""``dcsim verilog`` and ``dcsim synth``: the machine's RTL generator (EIE: hw/).

``dcsim verilog`` sizes the machine to a small layer (:func:`size_to_layer`: no more PEs than the
layer has rows, unless ``--pes`` is given) and warns in one line before an export larger than
:data:`SIZE_WARN_MB` (:func:`size_warning`, from the machine's RTL ``estimate_export``; EIE: ``hw.export.estimate_export``); docs/hardware.md,
"Output size and time".
"""
from __future__ import annotations

import gc
import time

import numpy as np

from arch.configio import ConfigError
from dcsim.options import UserError, load_configs, log, out_dir, workload_from_args, writing

#: ``dcsim verilog`` warns before an export whose files would take more than this many MB.
SIZE_WARN_MB = 20.0
#: The FPGA machine the warning and the help point to.
FPGA_CONFIG = "examples/fpga.toml"
#: Python's garbage-collector thresholds during the export (the defaults are (700, 10, 10)).
GC_THRESHOLDS = (100_000, 50, 100)


def _rtl(accel):
    from arch.machine import get_machine

    rtl = get_machine(accel).rtl
    if rtl is None:
        raise UserError(f"the {accel.kind} machine has no RTL generator")
    return rtl


def size_to_layer(cfg, n_rows: int, pes_given: bool):
    """``(cfg, n)``: the machine with ``n_pe`` cut to the smallest value >= ``n_rows`` that the config
    allows, when the layer leaves PEs empty (``n_rows < n_pe``) and ``--pes`` was not given;
    ``(cfg, None)`` when it stays as it is. Row ``i`` is on PE ``i mod n_pe``, so the extra PEs
    would hold nothing but their (empty) memories."""
    n_pe = getattr(cfg, "n_pe", None)
    if pes_given or not isinstance(n_pe, int) or n_rows >= n_pe:
        return cfg, None
    for n in range(max(1, n_rows), n_pe):
        try:
            return cfg.replace(n_pe=n), n
        except ConfigError:
            continue
    return cfg, None


def _estimator(cfg):
    """``estimate(cfg, n_rows, n_cols, host)`` of the machine's Verilog export, or None."""
    from arch.machine import get_machine

    rtl = get_machine(cfg).rtl
    return getattr(rtl, "estimate_export", None) if rtl is not None else None


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 90 * 60 else f"{seconds / 3600:.0f} h"


def size_warning(cfg, n_rows: int, n_cols: int, host: bool = False, limit_mb: float = SIZE_WARN_MB) -> str | None:
    """One line when the export of an ``n_rows x n_cols`` layer (bias column included) on ``cfg``
    would write more than ``limit_mb`` MB: its size and rough time, the largest ``--pes`` that
    stays under the limit, and the FPGA machine. None when it stays under (or nothing is known)."""
    est = _estimator(cfg)
    if est is None:
        return None
    e = est(cfg, n_rows, n_cols, host=host)
    if e.total_bytes <= limit_mb * 1e6:
        return None
    mb = lambda b: f"{b / 1e6:.0f} MB" if b >= 10e6 else f"{b / 1e6:.1f} MB"  # noqa: E731
    msg = (f"warning: this export will write about {mb(e.total_bytes)} (eie_top.v {mb(e.verilog_bytes)}: "
           f"{cfg.n_pe} PEs x {cfg.spmat_words} sparse-matrix SRAM words baked in) and take about "
           f"{_duration(e.seconds)}; ")
    lo, hi = 0, cfg.n_pe - 1                   # the largest --pes under the limit (the size grows with n_pe)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if est(cfg.replace(n_pe=mid), n_rows, n_cols, host=host).total_bytes <= limit_mb * 1e6:
            lo = mid
        else:
            hi = mid - 1
    if lo >= 1:
        small = est(cfg.replace(n_pe=lo), n_rows, n_cols, host=host)
        msg += f"--pes {lo} would write about {mb(small.total_bytes)}, or use "
    else:
        msg += "use "
    return msg + f"a machine with smaller SRAMs such as --config {FPGA_CONFIG} (for an FPGA)"


def cmd_verilog(args) -> int:
    """Verilog + memory images of one layer (an archive's, or an EIE benchmark layer) for the machine."""
    from arch.fixedpoint import layer_format, quantize_acts, quantize_codebook
    from arch.machine import get_machine
    from dcsim.progress import Steps

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
        from sim.reference import machine_indices, reference_network

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
        vectors = ref.layer_input(k)         # the layer's products for the first input (a conv layer: its positions)
        pick = int(np.argmax(np.count_nonzero(vectors, axis=1)))
        x = vectors[pick]
        indices, cb, relu = machine_indices(layer), quantize_codebook(layer.centroids, fmt), layer.spec.relu
        note = machine.retarget_note(accel, cfg)
        where = f", product {pick} of {len(vectors)} (the one with the most nonzero inputs)" if len(vectors) > 1 else ""
        log(f"{name} of {cm.name}; input vector: {workload.inputs.description}{where}" + (f"; {note}" if note else ""))
    n_rows, n_cols = indices.shape
    machine_pes = getattr(cfg, "n_pe", None)
    cfg, n = size_to_layer(cfg, n_rows, pes_given=args.pes is not None)
    if n is not None:
        log(f"{name} has {n_rows} rows: sizing the machine to {n} PEs instead of {machine_pes} "
            "(give --pes to override)")
    warning = size_warning(cfg, n_rows, n_cols, host=args.host, limit_mb=SIZE_WARN_MB)
    if warning:
        log(warning)
    est = _estimator(cfg)
    if est is not None:
        e = est(cfg, n_rows, n_cols, host=args.host)
        log(f"exporting {name} ({n_rows} x {n_cols}) on {cfg.n_pe} PEs: about {e.total_bytes / 1e6:.1f} MB, "
            f"{_duration(e.seconds)}")
    t0, started = time.perf_counter(), time.time() - 1.0
    # Amaranth's Verilog backend makes millions of small objects for the memory images (one per
    # init bit): with the cyclic collector's default thresholds its passes over them took a third
    # to a half of the time; run it 100x less often (the peak memory stays about the same).
    thresholds = gc.get_threshold()
    gc.set_threshold(*GC_THRESHOLDS)
    try:
        with writing(out), Steps("verilog", getattr(rtl, "export_steps", 1), enabled=not args.quiet) as steps:
            # the folder is made here, and removed again if the export fails
            vpath = rtl.export_layer(out, cfg, indices, cb, x, fmt, relu, host=args.host, step=steps.step)
    finally:
        gc.set_threshold(*thresholds)
    seconds = time.perf_counter() - t0
    written = [f.stat() for f in out.iterdir() if f.is_file()]
    size = sum(st.st_size for st in written if st.st_mtime >= started)
    print(f"wrote {vpath} and its memory images and manifest into {out} ({n_rows} x {n_cols} "
          f"layer {name}, {cfg.n_pe} PEs; {size / 1e6:.1f} MB in {seconds:.0f} s)")
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
    log(f"synthesizing {accel.n_pe} PEs for {args.target} (the first run compiles the wasm tools, ~1 min)")
    try:
        with writing(out):
            res = rtl.synthesize(accel, args.target, out, pnr=not args.no_pnr, seed=args.seed or 0)
    except RuntimeError as e:
        raise UserError(f"synthesis failed: {e}") from None
    print(format_resources([res]))
    print(f"wrote {out / 'synth.json'}")
    return 0
