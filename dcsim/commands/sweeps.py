"""``dcsim dse``: run a design-space sweep (docs/dse.md)."""
from __future__ import annotations

from pathlib import Path

from dcsim.options import UserError, log, make_out, out_dir


def cmd_dse(args) -> int:
    """Run a sweep; exit 1 if any point failed (each is in the table with its error)."""
    import json

    from dcsim.dse import collect, load_sweep, run_sweep, write_tables
    from reports.dse import write_dse_report

    if args.jobs is not None and args.jobs < 1:
        raise UserError(f"--jobs {args.jobs}: must be >= 1")
    sched = args.scheduler
    if sched is not None and sched != "local" and not sched.startswith(("tcp://", "tls://", "inproc://")):
        raise UserError(f"--scheduler {sched}: use local (a LocalCluster here) or tcp://HOST:PORT of a running "
                        "dask scheduler")
    sweep = load_sweep(args.sweep)
    for w in sweep.warnings:
        log(f"warning: {w}")
    out = out_dir(args.out or str(Path("runs") / "dse" / sweep.name))
    n_comp = len({p.compress_key for p in sweep.points if p.compress_key})
    log(f"sweep {sweep.name}: {len(sweep.points)} points ({len(sweep.workloads)} workloads"
        f"{', %d compressions' % n_comp if n_comp else ''}"
        f"{', %d duplicates dropped' % sweep.duplicates if sweep.duplicates else ''})")
    if args.dry_run:
        from reports.tables import format_table
        rows = [{"point": p.index, "id": p.point_id, "series": p.series, "workload": p.workload.text,
                 "axes": ", ".join(f"{k}={v}" for k, v in p.axes.items())} for p in sweep.points]
        print(format_table(rows, [("point", "point"), ("id", "id"), ("series", "series"), ("workload", "workload"),
                                  ("axes", "axes")]))
        return 0
    make_out(out)
    try:
        stats = run_sweep(sweep, out, scheduler=sched, jobs=args.jobs, retry_failed=args.retry_failed,
                          progress=not args.quiet, log=log)
    except (RuntimeError, OSError) as e:
        raise UserError(f"dse: {e}") from None
    rows, layer_rows = collect(sweep, out)
    files = write_tables(out, rows, layer_rows)
    manifest = json.loads((out / "dse.json").read_text(encoding="utf-8"))
    files += write_dse_report(out, rows, layer_rows, manifest)
    ok = sum(r["status"] == "ok" for r in rows)
    print(f"{sweep.name}: {len(rows)} points, {ok} ok, {len(rows) - ok} failed; this run computed {stats.computed}, "
          f"reused {stats.reused}; {stats.compressions} compressions run, {stats.compressions_reused} reused; "
          f"{stats.wall_s:.1f} s")
    print(f"wrote {', '.join(str(f) for f in files)}")
    return 0 if ok == len(rows) else 1
