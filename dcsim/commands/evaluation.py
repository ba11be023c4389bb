"""``dcsim simulate``, ``dcsim energy`` and ``dcsim report``: one evaluation (dcsim/flow.py) each,
formatted by reports/. ``energy`` and ``report`` reuse the ``sim.json`` of an earlier
``simulate`` into the same ``--out`` when it ran the same workload on the same machine."""
from __future__ import annotations

import time
from pathlib import Path

from dcsim.options import UserError, check_strict, load_configs, log, out_dir, workload_from_args, writing


def _evaluate(args, accel, out: Path | None, **settings):
    from dcsim.flow import Settings, evaluate
    from dcsim.progress import Steps
    from reports.simulation import machine_text

    if getattr(args, "energy_table", None):                           # a bad file fails before simulating:
        from arch.machine import get_machine
        from energy_model import load_energy_table
        load_energy_table(accel.tech_node, override=args.energy_table)   # its energies
        get_machine(accel).area(accel, args.energy_table)                # and its areas
    settings = Settings(progress=not args.quiet, **settings)
    n_steps = (args.archive is not None) + 1 + settings.energy
    with Steps(args.command, n_steps, enabled=settings.progress) as steps:
        workload = workload_from_args(args, step=steps.step)
        if workload.model is not None:
            log(f"simulate {workload.name} on {workload.inputs.description}, {machine_text(accel.to_dict())}")
        reuse = out / "sim.json" if out is not None and (out / "sim.json").is_file() else None
        return evaluate(workload, accel, settings, log=log, reuse=reuse, step=steps.step)


def _benchmark_pointers(args, accel):
    """The machine for a ``--layer`` run: EIE's benchmark layers are the paper's, and VGG-6's 25,089
    column pointers per PE do not fit EIE's 32 KiB pointer SRAM (nor the paper's own, with 16-bit
    pointers). Such a run on the default pointer SRAM (ptr_sram_bytes not set) gets the smallest pointer SRAM (whole KiB) that holds them, with a note;
    the timing does not depend on its size, and sim.json records the machine used. An archive's
    layers are checked against the machine as given (docs/simulator.md, "Capacity")."""
    from arch.tiling import pointers_per_pe
    from sim.workloads import EIE_LAYERS, parse_layer_names

    import dataclasses

    if getattr(args, "layer", None) is None or not hasattr(accel, "ptr_sram_bytes"):
        return accel
    default = {f.name: f.default for f in dataclasses.fields(accel)}.get("ptr_sram_bytes")
    if accel.ptr_sram_bytes != default:
        return accel                     # a pointer SRAM the user chose is checked as it is
    try:
        names = parse_layer_names(args.layer)
    except ValueError:
        return accel                     # reported by workload_from_args
    need = {n: pointers_per_pe(EIE_LAYERS[n].n_out, EIE_LAYERS[n].n_in, accel) for n in names}
    have = accel.ptr_sram_bytes * 8 // accel.pointer_bits
    over = {n: k for n, k in need.items() if k > have}
    if not over:
        return accel
    kib = -(-max(over.values()) * accel.pointer_bits // (8 * 1024))
    log(f"note: {', '.join(f'{n} needs {k:,}' for n, k in over.items())} column pointers per PE; the "
        f"{accel.ptr_sram_bytes:,}-byte pointer SRAM holds {have:,}: the benchmark layers run with ptr_sram_bytes = "
        f"{kib} KiB (an archive's layers are refused instead)")
    return accel.replace(ptr_sram_bytes=kib * 1024)


def cmd_simulate(args) -> int:
    """Simulate an archive or benchmark layers; print the table, write sim.json and sim_layers.csv."""
    from reports.simulation import print_simulation, write_sim_report

    accel, _ = load_configs(args)
    out = out_dir(args.out) if args.out else None
    accel = _benchmark_pointers(args, accel)
    t0 = time.time()
    ev = _evaluate(args, accel, None, verify=args.verify, energy=False)
    doc = ev.sim_doc()
    doc["wall_seconds"] = time.time() - t0
    print_simulation(doc)
    if out is not None:
        check_strict(doc, "sim.json")
        with writing(out):
            files = write_sim_report(out, doc)
            run = ev.simulation
            if run.outputs is not None:
                import io

                import numpy as np

                from arch.fileio import atomic_write_bytes
                from arch.fixedpoint import dequantize_acts

                fmt = run.layers[-1].fmt
                buf = io.BytesIO()
                np.savez(buf, outputs=run.outputs, values=dequantize_acts(run.outputs, fmt),
                         predictions=run.predictions)
                atomic_write_bytes(out / "sim_outputs.npz", buf.getvalue())
                files.append(out / "sim_outputs.npz")
        print(f"wrote {', '.join(str(f) for f in files)}")
    return 0


def cmd_energy(args) -> int:
    """Energy per layer and component, and the scenarios; write energy.json, energy_layers.csv, energy.png."""
    from reports.energy import energy_tables, write_energy_report

    accel, _ = load_configs(args)
    out = out_dir(args.out) if args.out else None
    t0 = time.time()
    ev = _evaluate(args, accel, out, enforce_capacity=False, leakage=args.leakage, energy_table=args.energy_table)
    doc = ev.energy_doc()
    doc["wall_seconds"] = time.time() - t0
    print(energy_tables(doc))
    if out is not None:
        check_strict(doc, "energy.json")
        with writing(out):
            files = write_energy_report(out, doc)
        print(f"wrote {', '.join(str(f) for f in files)}")
    return 0


def cmd_report(args) -> int:
    """Compression, simulation and energy of an archive in one per-layer report."""
    from reports.report import write_report

    if args.archive is None:
        raise UserError("report needs an ARCHIVE (a model.dcz from dcsim compress)")
    accel, _ = load_configs(args)
    out = out_dir(args.out)
    args.layer = None
    t0 = time.time()
    ev = _evaluate(args, accel, out, enforce_capacity=False, leakage=args.leakage, energy_table=args.energy_table)
    sim_doc, energy_doc = ev.sim_doc(), ev.energy_doc()
    check_strict({"compression": ev.storage, "simulation": sim_doc, "energy": energy_doc}, "report.json")
    with writing(out):
        files = write_report(out, archive=str(args.archive), compression=ev.storage, simulation=sim_doc,
                             energy=energy_doc, accel=accel, wall_seconds=time.time() - t0)
    print((out / "report.md").read_text())
    print(f"wrote {', '.join(str(f) for f in files)}")
    return 0
