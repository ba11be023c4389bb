"""``dcsim dse``: run a design-space sweep (docs/dse.md).

Nothing is written until the run really starts: the sweep file is validated and expanded, the
executor is made (a Dask scheduler connected to), and only then is ``--out`` created and locked
(dcsim/dse/store.py, one ``dcsim dse`` per folder).
"""
from __future__ import annotations

from pathlib import Path

from dcsim.options import UserError, log, out_dir


def cmd_dse(args) -> int:
    """Run a sweep; exit 1 if any point failed (each is in the table with its error)."""
    import json

    from dcsim.dse import collect, load_sweep, run_sweep, write_tables
    from dcsim.dse.executors import make_executor
    from dcsim.dse.runner import pending_points
    from dcsim.dse.store import busy_error, lock_output, output_busy
    from reports.dse import write_dse_report

    if args.jobs is not None and args.jobs < 1:
        raise UserError(f"--jobs {args.jobs}: must be >= 1")
    max_points = getattr(args, "max_points", None)
    if max_points is not None and max_points < 1:
        raise UserError(f"--max-points {max_points}: must be >= 1")
    sched = args.scheduler
    if sched is not None and sched != "local" and not sched.startswith(("tcp://", "tls://", "inproc://")):
        raise UserError(f"--scheduler {sched}: use local (a LocalCluster here), or tcp://HOST:PORT or tls://HOST:PORT "
                        "of a running dask scheduler")
    sweep = load_sweep(args.sweep, max_points=max_points)
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
    if output_busy(out):  # refuse early, before starting workers or connecting (the lock below decides)
        raise busy_error(out)
    ex = None
    try:
        if pending_points(sweep, out, args.retry_failed):
            try:
                ex = make_executor(sched, args.jobs)  # connect first: a bad scheduler writes nothing
            except (RuntimeError, OSError) as e:
                raise UserError(f"dse: {e}") from None
        try:
            lock = lock_output(out, log)
            lock.__enter__()
        except OSError as e:
            raise UserError(f"--out {out}: cannot create or lock it ({e.strerror or e})") from None
        try:
            try:
                stats = run_sweep(sweep, out, scheduler=sched, jobs=args.jobs, retry_failed=args.retry_failed,
                                  progress=not args.quiet, log=log, executor=ex)
            except (RuntimeError, OSError) as e:
                raise UserError(f"dse: {e}") from None
            rows, layer_rows = collect(sweep, out)
            files = write_tables(out, rows, layer_rows)
            manifest = json.loads((out / "dse.json").read_text(encoding="utf-8"))
            files += write_dse_report(out, rows, layer_rows, manifest)
        finally:
            lock.__exit__(None, None, None)
    finally:
        if ex is not None:
            ex.close()
    ok = sum(r["status"] == "ok" for r in rows)
    print(f"{sweep.name}: {len(rows)} points, {ok} ok, {len(rows) - ok} failed; this run computed {stats.computed}, "
          f"reused {stats.reused}; {stats.compressions} compressions run, {stats.compressions_reused} reused; "
          f"{stats.wall_s:.1f} s")
    print(f"wrote {', '.join(str(f) for f in files)}")
    return 0 if ok == len(rows) else 1
