"""``dcsim simulate``, ``dcsim energy`` and ``dcsim report``: one evaluation (dcsim/flow.py) each,
formatted by reports/. ``energy`` and ``report`` reuse the ``sim.json`` of an earlier
``simulate`` into the same ``--out`` when it ran the same workload on the same machine."""
from __future__ import annotations

import time
from pathlib import Path

from dcsim.options import UserError, load_configs, log, make_out, out_dir, workload_from_args


def _evaluate(args, accel, out: Path | None, **settings):
    from dcsim.flow import Settings, evaluate
    from reports.simulation import machine_text

    if getattr(args, "energy_table", None):
        from energy_model import load_energy_table
        load_energy_table(accel.tech_node, override=args.energy_table)   # a bad file fails before simulating
    workload = workload_from_args(args)
    if workload.model is not None:
        log(f"simulate {workload.name} on {workload.inputs.description}, {machine_text(accel.to_dict())}")
    reuse = out / "sim.json" if out is not None and (out / "sim.json").is_file() else None
    return evaluate(workload, accel, Settings(progress=not args.quiet, **settings), log=log, reuse=reuse)


def cmd_simulate(args) -> int:
    """Simulate an archive or benchmark layers; print the table, write sim.json and sim_layers.csv."""
    from reports.simulation import print_simulation, write_sim_report

    accel, _ = load_configs(args)
    out = out_dir(args.out) if args.out else None
    t0 = time.time()
    ev = _evaluate(args, accel, None, verify=args.verify, energy=False)
    doc = ev.sim_doc()
    doc["wall_seconds"] = time.time() - t0
    print_simulation(doc)
    if out is not None:
        make_out(out)
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
        make_out(out)
        print(f"wrote {', '.join(str(f) for f in write_energy_report(out, doc))}")
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
    make_out(out)
    files = write_report(out, archive=str(args.archive), compression=ev.storage, simulation=ev.sim_doc(),
                         energy=ev.energy_doc(), accel=accel, wall_seconds=time.time() - t0)
    print((out / "report.md").read_text())
    print(f"wrote {', '.join(str(f) for f in files)}")
    return 0
