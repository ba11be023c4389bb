"""Run a sweep's points, store each as it finishes, and build the table (``dcsim dse``, docs/dse.md).

1. :func:`dcsim.dse.sweep.load_sweep` validates the file and expands it into points; a bad
   value stops there with one line, before anything is written.
2. :func:`run_sweep` submits the tasks (dcsim/dse/tasks.py) to an executor
   (dcsim/dse/executors.py): one compression per distinct (model, CompressionConfig), cached in
   ``DIR/cache/compress/`` and shared; one synthesis per distinct machine when asked for
   (``DIR/cache/synth/``); one evaluation per point (dcsim/flow.py). Workers return results to
   this process, which alone writes files; no shared file system is needed.
3. A finished point is written at once to ``DIR/points/<point_id>.json`` (dcsim/dse/store.py),
   by every executor. The caller (dcsim/commands/sweeps.py) makes the executor first, then
   creates and locks ``DIR`` (:func:`dcsim.dse.store.lock_output`), so a bad scheduler writes
   nothing and two runs never share a folder.
4. :func:`collect` and :func:`write_tables`: ``results.csv`` (and ``results.parquet`` when
   pyarrow is installed), one row per point in sweep order with the full config, and
   ``layers.csv``; the plots and ``dse.md`` come from reports/dse.py.
"""
from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from arch.fileio import atomic_write_bytes, atomic_write_text, json_text, non_finite_to_null

from .executors import make_executor
from .store import Store, read_json
from .sweep import Point, Sweep
from .tasks import PointTask, error_record, task_compress, task_point, task_synth

__all__ = ["RunStats", "TIME_PREFIX", "collect", "config_columns", "pending_points", "run_sweep", "write_parquet",
           "write_tables"]

Log = Callable[[str], None]
TIME_PREFIX = "time."


def config_columns(pt: Point) -> dict[str, Any]:
    """The full config of a point as flat columns: ``accel.<field>`` and ``compress.<field>``."""
    import dataclasses

    from compress.config import CompressionConfig

    cols: dict[str, Any] = {}
    for cls, prefix, cfg in ((type(pt.accel), "accel", pt.accel), (CompressionConfig, "compress", pt.compress)):
        d = {} if cfg is None else cfg.to_dict()
        for f in dataclasses.fields(cls):
            v = d.get(f.name)
            if f.name == "ptr_bits" and cfg is not None and v is None:
                v = cfg.pointer_bits  # derived: record the width in use
            cols[f"{prefix}.{f.name}"] = json.dumps(v, sort_keys=True) if isinstance(v, (dict, list)) else v
    return cols


def point_task(pt: Point, settings: dict) -> PointTask:
    """What a worker needs to evaluate ``pt``."""
    return PointTask(kind=pt.workload.kind, target=pt.workload.target, accel=pt.accel, seed=settings["seed"],
                     verify=settings["verify"], leakage=settings["leakage"], energy_table=settings["energy_table"],
                     inputs=settings["inputs"], data_dir=settings["data_dir"],
                     input_vectors=settings.get("input_vectors"),
                     structure=settings.get("structure_profile") if pt.workload.kind == "eie" else None)


def _record(pt: Point, run_no: int, res: dict, synth: dict | None, extra_error: str = "") -> dict:
    """A finished point as stored in points/<id>.json: the table row and the per-layer rows."""
    row: dict[str, Any] = {"point": pt.index, "point_id": pt.point_id, "series": pt.series,
                           "workload": pt.workload.text, "workload_kind": pt.workload.kind}
    ok = res.get("ok", False) and (synth is None or synth.get("ok", False))
    err = extra_error or ("" if res.get("ok") else res.get("error", "unknown error"))
    if not err and synth is not None and not synth.get("ok"):
        err = f"synthesis: {synth.get('error', 'unknown error')}"
    row.update(status="ok" if ok else "error", error=err)
    row.update(config_columns(pt))
    row.update(res.get("columns", {}))
    if synth is not None and synth.get("ok"):
        row.update(synth["columns"])
    times = res.get("times", {})
    row[f"{TIME_PREFIX}point_s"] = res.get("seconds")
    row[f"{TIME_PREFIX}sim_s"] = times.get("sim_s")
    row[f"{TIME_PREFIX}energy_s"] = times.get("energy_s")
    row[f"{TIME_PREFIX}synth_s"] = None if synth is None else synth.get("seconds")
    row[f"{TIME_PREFIX}worker"] = res.get("worker")
    row[f"{TIME_PREFIX}finished_utc"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    row[f"{TIME_PREFIX}run"] = run_no
    return {"point_id": pt.point_id, "row": row, "layers": res.get("layers", []) if ok else [],
            "traceback": res.get("traceback", "")}


@dataclass
class RunStats:
    total: int = 0
    reused: int = 0
    computed: int = 0
    failed: int = 0
    compressions: int = 0
    compressions_reused: int = 0
    syntheses: int = 0
    syntheses_reused: int = 0
    wall_s: float = 0.0
    executor: str = ""


def pending_points(sweep: Sweep, out: Path, retry_failed: bool = False) -> list[Point]:
    """The points of ``sweep`` that ``out/points/`` does not hold yet (or that failed, with ``retry_failed``)."""
    store = Store(out)
    todo = []
    for pt in sweep.points:
        rec = store.read_point(pt.point_id)
        if rec is None or (retry_failed and rec["row"].get("status") != "ok"):
            todo.append(pt)
    return todo


def run_sweep(sweep: Sweep, out: Path, *, scheduler: str | None = None, jobs: int | None = None,
              retry_failed: bool = False, progress: bool = True, log: Log = print, executor=None) -> RunStats:
    """Run every point of ``sweep`` that ``out/points/`` does not hold yet; see the module docstring.

    ``executor`` is one made by :func:`dcsim.dse.executors.make_executor` (the caller closes it);
    without it, one is made from ``scheduler`` and ``jobs`` when there is something to run, and
    closed at the end. The caller holds ``out``'s lock (:func:`dcsim.dse.store.lock_output`).
    """
    t0 = time.time()
    store = Store(out)
    stats = RunStats(total=len(sweep.points))
    run_no = 1 + _previous_runs(out)
    todo = pending_points(sweep, out, retry_failed)
    stats.reused = stats.total - len(todo)
    if stats.reused:
        log(f"resuming: {stats.reused} of {stats.total} points already in {store.points}; {len(todo)} to run")
    _write_manifest(sweep, out, run_no, stats, done=False)
    if todo:
        ex = executor if executor is not None else make_executor(scheduler, jobs)
        stats.executor = ex.name
        log(f"running {len(todo)} points on {ex.name}")
        try:
            _drive(sweep, todo, store, ex, run_no, stats, progress, log)
        finally:
            if executor is None:
                ex.close()
    stats.wall_s = time.time() - t0
    _write_manifest(sweep, out, run_no, stats, done=True)
    return stats


def _previous_runs(out: Path) -> int:
    try:
        return int(json.loads((out / "dse.json").read_text(encoding="utf-8")).get("runs", 0))
    except (OSError, ValueError, AttributeError):
        return 0


def _write_manifest(sweep: Sweep, out: Path, run_no: int, stats: RunStats, done: bool) -> None:
    from reports.tables import write_json
    doc = {**sweep.manifest(), "command": " ".join(["dcsim", *sys.argv[1:]]) if sys.argv else "",
           "runs": run_no, "complete": done, "duplicate_points_dropped": sweep.duplicates,
           "warnings": sweep.warnings,
           "last_run": {"points_reused": stats.reused, "points_computed": stats.computed,
                        "points_failed": stats.failed, "compressions_run": stats.compressions,
                        "compressions_reused": stats.compressions_reused, "syntheses_run": stats.syntheses,
                        "syntheses_reused": stats.syntheses_reused, "executor": stats.executor,
                        "wall_s": round(stats.wall_s, 2)}}
    write_json(out / "dse.json", doc)


def _drive(sweep: Sweep, todo: list[Point], store: Store, ex, run_no: int, stats: RunStats, progress: bool,
           log: Log) -> None:
    """Submit compressions and syntheses, then each point once its inputs are ready; store results."""
    settings = sweep.settings
    compressions: dict[str, Point] = {}   # compress_key -> the first point that needs it
    syntheses: dict[str, Point] = {}      # synth_key -> the first point that needs it
    for pt in todo:
        if pt.compress_key and pt.compress_key not in compressions:
            compressions[pt.compress_key] = pt
        if pt.synth_key and pt.synth_key not in syntheses:
            syntheses[pt.synth_key] = pt
    comp: dict[str, dict] = {}     # key -> {"ok": True, "archive": bytes} | error
    synth: dict[str, dict] = {}
    futures: dict[Any, tuple[str, Any]] = {}
    for key, pt in compressions.items():
        p = store.compress_path(key)
        if p.is_file():
            comp[key] = {"ok": True, "archive": p.read_bytes()}
            stats.compressions_reused += 1
        else:
            futures[ex.submit(task_compress, pt.workload.target, pt.compress, settings["data_dir"])] = ("compress", key)
    for key, pt in syntheses.items():
        p = store.synth_path(key)
        rec = read_json(p)
        if rec is not None and rec.get("ok"):
            synth[key] = rec
            stats.syntheses_reused += 1
        else:
            futures[ex.submit(task_synth, pt.accel, settings["synth"])] = ("synth", key)
    waiting = list(todo)          # points whose compression is not done yet
    parked: dict[str, tuple[Point, dict]] = {}   # points done, waiting for their synthesis
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=len(todo), desc=f"dse {sweep.name}", unit="point", file=sys.stderr, dynamic_ncols=True)

    def finish(pt: Point, res: dict, extra_error: str = "") -> None:
        s = synth.get(pt.synth_key) if pt.synth_key else None
        rec = _record(pt, run_no, res, s, extra_error)
        store.write_point(rec)
        stats.computed += 1
        if rec["row"]["status"] != "ok":
            stats.failed += 1
            log(f"point {pt.index} ({pt.workload.text}"
                f"{', ' + _axes_text(pt.axes) if pt.axes else ''}) failed: {rec['row']['error']}")
        if bar is not None:
            bar.update(1)
            bar.set_postfix(failed=stats.failed, refresh=False)

    def release() -> None:
        nonlocal waiting
        still = []
        for pt in waiting:
            c = comp.get(pt.compress_key) if pt.compress_key else {"ok": True, "archive": None}
            if c is None:
                still.append(pt)
            elif not c["ok"]:
                finish(pt, {"ok": False, "error": f"compression failed: {c['error']}",
                            "traceback": c.get("traceback", "")})
            else:
                futures[ex.submit(task_point, point_task(pt, settings), c["archive"])] = ("point", pt)
        waiting = still

    def flush_parked() -> None:
        for pid in list(parked):
            pt, res = parked[pid]
            if pt.synth_key in synth:
                del parked[pid]
                finish(pt, res)

    release()
    try:
        while futures:
            for f in ex.wait(set(futures)):
                what, obj = futures.pop(f)
                try:
                    res = f.result()
                except BaseException as e:  # noqa: BLE001 - a worker died (killed, out of memory)
                    if isinstance(e, KeyboardInterrupt):
                        raise
                    res = error_record(e)
                    res["error"] = f"worker failed: {res['error']}"
                if what == "compress":
                    comp[obj] = res
                    if res["ok"]:
                        atomic_write_bytes(store.compress_path(obj), res["archive"])
                        stats.compressions += 1
                        log(f"compressed {compressions[obj].workload.text} ({_compress_text(compressions[obj])}) "
                            f"in {res['seconds']:.1f} s")
                    else:
                        log(f"compression of {compressions[obj].workload.text} failed: {res['error']}")
                    release()
                elif what == "synth":
                    synth[obj] = {k: v for k, v in res.items() if k != "traceback"}
                    if res["ok"]:
                        atomic_write_text(store.synth_path(obj), json_text(non_finite_to_null(synth[obj]), indent=None) + "\n")
                        stats.syntheses += 1
                    flush_parked()
                else:
                    if obj.synth_key and obj.synth_key not in synth:
                        parked[obj.point_id] = (obj, res)
                    else:
                        finish(obj, res)
    finally:
        if bar is not None:
            bar.close()


def _axes_text(axes: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in axes.items())


def _compress_text(pt: Point) -> str:
    vals = {k: v for k, v in pt.axes.items() if k.startswith("compress.")}
    return _axes_text(vals) if vals else "the recipe"


# =========================================================================== the table
def collect(sweep: Sweep, out: Path) -> tuple[list[dict], list[dict]]:
    """The results rows (sweep order, one per point) and the per-layer rows, from ``out/points/``."""
    store = Store(out)
    rows, layer_rows = [], []
    for pt in sweep.points:
        rec = store.read_point(pt.point_id)
        if rec is None:
            continue
        row = dict(rec["row"])
        row["point"] = pt.index
        row["series"] = pt.series
        rows.append(row)
        for l in rec.get("layers", []):
            layer_rows.append({"point": pt.index, "point_id": pt.point_id, "workload": pt.workload.text, **l})
    return rows, layer_rows


def write_tables(out: Path, rows: list[dict], layer_rows: list[dict]) -> list[Path]:
    """results.csv, layers.csv and, when pyarrow is installed, results.parquet."""
    from reports.tables import write_csv

    files = [out / "results.csv"]
    write_csv(out / "results.csv", rows)
    if layer_rows:
        write_csv(out / "layers.csv", layer_rows)
        files.append(out / "layers.csv")
    pq = write_parquet(out / "results.parquet", rows)
    if pq:
        files.append(pq)
    return files


def write_parquet(path: Path, rows: list[dict]) -> Path | None:
    """The table as Parquet (atomic), or None when pyarrow is not installed."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as papq
    except ImportError:
        return None
    import io

    cols: list[str] = []
    for r in rows:
        cols += [k for k in r if k not in cols]
    data = {}
    for c in cols:
        vals = [r.get(c) for r in rows]
        kinds = {type(v) for v in vals if v is not None}
        if kinds == {int, float}:
            vals = [None if v is None else float(v) for v in vals]
        elif len(kinds) > 1:
            vals = [None if v is None else str(v) for v in vals]
        data[c] = vals
    buf = io.BytesIO()
    papq.write_table(pa.table(data), buf)
    atomic_write_bytes(path, buf.getvalue())
    return path
