"""Design-space exploration: run a sweep's points, store each as it finishes, build the table.

``dcsim dse SWEEP.toml --out DIR`` (docs/dse.md). The flow:

1. :func:`dcsim.sweep.load_sweep` validates the file and expands it into points; a bad
   value stops here with one line, before anything is written.
2. Tasks run on an executor: the local process pool (default), this process
   (``--jobs 1``), or Dask (``--scheduler tcp://HOST:PORT`` or ``--scheduler local``):

   - one **compression** per distinct (model, CompressionConfig): its archive is kept in
     ``DIR/cache/compress/`` and shared by every point that uses it;
   - one **synthesis** per distinct machine when the sweep asks for it (``DIR/cache/synth/``);
   - one **point** per design point: simulation (bit-exact check against the reference
     when ``verify``) and energy.

   Tasks never raise: a failure comes back as its error, the point is recorded with
   ``status = "error"`` and the sweep goes on. Workers return results to this process,
   which alone writes files; no shared file system is needed.
3. A finished point is written at once to ``DIR/points/<point_id>.json`` (temporary file,
   fsync, rename). The id is a hash of everything that determines the result, so a sweep
   killed at any moment, even by SIGKILL, resumes by skipping the points on disk, and a
   point finished before the kill is never recomputed or lost.
4. The table: ``results.csv`` (and ``results.parquet`` when pyarrow is installed), one row
   per point in sweep order with the full config; ``layers.csv`` per layer; ``dse.json``; and
   the plots and ``dse.md`` from :mod:`reports.dse`.
"""
from __future__ import annotations

import json
import os
import socket
import sys
import tempfile
import time
import traceback
from concurrent.futures import FIRST_COMPLETED
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from arch.fileio import atomic_write_bytes, atomic_write_text

from .sweep import Point, Sweep

Log = Callable[[str], None]
TIME_PREFIX = "time."


# =========================================================================== tasks
# Module-level functions: the process pool and Dask pickle them by reference.

def _worker() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _error(e: BaseException) -> dict:
    tb = traceback.format_exception(type(e), e, e.__traceback__)
    return {"ok": False, "error": f"{type(e).__name__}: {e}".splitlines()[0][:500], "traceback": "".join(tb)[-4000:],
            "worker": _worker()}


_MNIST: dict[Any, Any] = {}


def _mnist(data_dir):
    """The MNIST data set, loaded once per worker process."""
    if data_dir not in _MNIST:
        from compress.mnist import load_mnist
        _MNIST[data_dir] = load_mnist(data_dir, progress=False)
    return _MNIST[data_dir]


def _archive_bytes(cm) -> bytes:
    from compress.model import save
    with tempfile.TemporaryDirectory(prefix="dcsim-dse-") as d:
        save(cm, Path(d) / "m.dcz")
        return (Path(d) / "m.dcz").read_bytes()


def _archive_from_bytes(data: bytes):
    from compress.model import load
    with tempfile.TemporaryDirectory(prefix="dcsim-dse-") as d:
        p = Path(d) / "m.dcz"
        p.write_bytes(data)
        return load(p)


def task_compress(model: str, compress: dict, data_dir: str | None) -> dict:
    """Compress built-in ``model`` with the recipe ``compress`` (a CompressionConfig dict) on MNIST."""
    t0 = time.time()
    try:
        from arch.config import AcceleratorConfig
        from compress.config import CompressionConfig
        from compress.pipeline import compress_builtin, data_from_dataset

        ds = _mnist(data_dir)
        cm, _, stages = compress_builtin(model, CompressionConfig.from_dict(compress), AcceleratorConfig(),
                                         data_from_dataset(ds), progress=False, log=lambda _m: None,
                                         meta={"data": str(ds.source), "standard_mnist": bool(ds.is_standard_mnist)})
        return {"ok": True, "archive": _archive_bytes(cm), "seconds": time.time() - t0, "stages_s": stages,
                "worker": _worker()}
    except Exception as e:  # noqa: BLE001 - recorded with the points that need it
        return _error(e)


def task_synth(accel: dict, synth: dict) -> dict:
    """FPGA resources of the machine ``accel`` (hw/synth.py), with a random layer in its memories."""
    t0 = time.time()
    try:
        from arch.config import AcceleratorConfig
        from hw.synth import synthesize

        with tempfile.TemporaryDirectory(prefix="dcsim-synth-") as d:
            r = synthesize(AcceleratorConfig.from_dict(accel), synth["target"], d, seed=synth["seed"],
                           per_pe="divide", pnr=synth["pnr"])
        t, cap = r["total"], r["capacity"]
        cols = {"synth_target": r["target"], "synth_device": r["device"]}
        for k in ("luts", "ffs", "brams", "dsps"):
            cols[f"synth_{k}"] = t[k]
            cols[f"synth_{k}_capacity"] = cap[k]
        cols.update(synth_lut_unit=r["units"]["luts"], synth_fits=bool(r["fits"]),
                    synth_fmax_MHz=r.get("fmax_mhz"))
        return {"ok": True, "columns": cols, "seconds": time.time() - t0, "worker": _worker()}
    except Exception as e:  # noqa: BLE001
        return _error(e)


def task_point(spec: dict, archive: bytes | None) -> dict:
    """Simulate and cost one design point. ``spec``: workload, accel, settings (see :func:`_point_spec`)."""
    t0 = time.time()
    try:
        return {"ok": True, **_evaluate(spec, archive), "seconds": time.time() - t0, "worker": _worker()}
    except Exception as e:  # noqa: BLE001 - a failed point is recorded, the sweep goes on
        return _error(e)


def _evaluate(spec: dict, archive: bytes | None) -> dict:
    import numpy as np

    from arch.config import AcceleratorConfig
    from energy_model import COMPONENTS, load_energy_table
    from reports.energy import run_energy_doc
    from sim.network import simulate_model, simulate_workload

    accel = AcceleratorConfig.from_dict(spec["accel"])
    st = spec["settings"]
    times: dict[str, float] = {}
    t = time.time()
    cm, cols = None, {}
    if spec["kind"] == "eie":
        run = simulate_workload(spec["target"], accel, seed=st["seed"], verify=st["verify"], enforce_capacity=False)
        cols["inputs"] = 1
    else:
        if archive is not None:
            cm = _archive_from_bytes(archive)
        else:
            from compress.model import load
            cm = load(spec["target"])
        if st.get("input_vectors") is not None:
            x, labels = st["input_vectors"], None
        else:
            ds = _mnist(st["data_dir"])
            n = len(ds.test_images) if not st["inputs"] else min(st["inputs"], len(ds.test_images))
            x = ds.test_images[:n].reshape(n, -1).astype(np.float64)
            labels = ds.test_labels[:n]
        n = len(x)
        run = simulate_model(cm, x, accel, verify=st["verify"], progress=False, enforce_capacity=False)
        cols["inputs"] = int(n)
    times["sim_s"] = time.time() - t
    doc = run.to_doc()
    lay = doc["layers"]
    tot = doc["total"]
    cyc = [l["cycles"] for l in lay]
    wavg = (lambda k: sum(l[k] * c for l, c in zip(lay, cyc)) / sum(cyc)) if sum(cyc) else (lambda k: 0.0)
    cols.update(layers=len(lay), cycles_per_input=float(tot["cycles_per_input"]),
                latency_us=float(tot["latency_us_per_input"]),
                load_balance_efficiency=float(wavg("load_balance_efficiency")),
                useful_efficiency=float(wavg("useful_efficiency")), filler_pct=float(tot["filler_pct"]),
                fits_spmat_sram=all(l["fits_spmat_sram"] for l in lay), verified=bool(run.verified))
    t = time.time()
    table = load_energy_table(accel.tech_node, override=st.get("energy_table"))
    edoc = run_energy_doc(run, table, cm, leakage=st["leakage"])
    times["energy_s"] = time.time() - t
    sc = edoc["scenarios"]
    e_c = float(sc["scenarios"]["c"]["total_pJ"])
    lat = cols["latency_us"]
    cols.update(energy_pJ=e_c, energy_a_pJ=float(sc["scenarios"]["a"]["total_pJ"]),
                energy_b_pJ=float(sc["scenarios"]["b"]["total_pJ"]), a_over_c=sc["a_over_c"], b_over_c=sc["b_over_c"],
                fits_on_chip=bool(sc["fits_on_chip"]), power_W=e_c / lat * 1e-6 if lat else 0.0,
                frames_per_s=1e6 / lat if lat else 0.0, frames_per_J=1e12 / e_c if e_c else 0.0,
                edp_pJ_us=e_c * lat)
    for c in COMPONENTS:
        cols[f"energy_{c}_pJ"] = float(edoc["total"].get(f"{c}_pJ", 0.0))
    cols["energy_leakage_pJ"] = float(edoc["total"].get("leakage_pJ", 0.0))
    if cm is not None:
        from compress.pipeline import storage_report
        s = storage_report(cm, eie=False)["total"]
        for k in ("dense_bits", "storage_bits_p", "storage_bits_q", "storage_bits_pq", "storage_bits_pqh"):
            cols[k] = int(s[k])
        for k in ("compression_rate_p", "compression_rate_q", "compression_rate_pq", "compression_rate_pqh",
                  "weights_kept_pct"):
            cols[k] = float(s[k])
        cols["baseline_error_pct"] = cm.meta.get("baseline_test_error_pct")
        cols["pruned_error_pct"] = cm.meta.get("pruned_test_error_pct")
        cols["test_error_pct"] = cm.meta.get("test_error_pct")
        cols["engine_error_pct"] = None if labels is None else float(100.0 * np.mean(run.predictions != labels))
    layers = []
    for sl, el in zip(lay, edoc["layers"]):
        row = {"layer": sl["layer"], "rows": sl["rows"], "cols": sl["cols"], "cycles": float(el["cycles"]),
               "latency_us": float(el["latency_us"]), "load_balance_efficiency": float(sl["load_balance_efficiency"]),
               "fits_spmat_sram": bool(sl["fits_spmat_sram"]), "energy_pJ": float(el["total_pJ"])}
        for c in COMPONENTS:
            row[f"energy_{c}_pJ"] = float(el.get(f"{c}_pJ", 0.0))
        row["energy_leakage_pJ"] = float(el.get("leakage_pJ", 0.0))
        layers.append(row)
    return {"columns": cols, "layers": layers, "times": times}


# =========================================================================== executors
class _Done:
    """A finished future for the in-process executor."""

    def __init__(self, value):
        self._v = value

    def result(self):
        return self._v


class SerialExecutor:
    """Runs each task in this process when it is submitted (``--jobs 1``)."""

    name = "this process"

    def submit(self, fn, *args):
        return _Done(fn(*args))

    def wait(self, pending):
        return set(pending)

    def close(self):
        pass


class PoolExecutor:
    """A local process pool (spawned workers, one BLAS thread each)."""

    def __init__(self, jobs: int):
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        self.name = f"{jobs} local worker processes"
        for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ.setdefault(v, "1")  # the workers inherit it: `jobs` processes, not jobs x cores threads
        self._new = lambda: ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn"))
        self._pool = self._new()

    def submit(self, fn, *args):
        from concurrent.futures.process import BrokenProcessPool
        try:
            return self._pool.submit(fn, *args)
        except BrokenProcessPool:  # a worker died (its tasks come back as errors): start a new pool
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = self._new()
            return self._pool.submit(fn, *args)

    def wait(self, pending):
        from concurrent.futures import wait
        return wait(pending, return_when=FIRST_COMPLETED).done

    def close(self):
        self._pool.shutdown(wait=False, cancel_futures=True)


class DaskExecutor:
    """A dask.distributed cluster: ``tcp://HOST:PORT`` of a running scheduler, or ``local``."""

    def __init__(self, address: str, jobs: int | None):
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise RuntimeError("--scheduler needs dask.distributed: pip install 'dcsim[dse]'") from None
        self._cluster = None
        if address == "local":
            n = jobs or os.cpu_count() or 1
            self._cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                         dashboard_address=None)
            self._client = Client(self._cluster)
            self.name = f"a Dask LocalCluster of {n} workers"
        else:
            self._client = Client(address, timeout="10s")
            self.name = f"the Dask scheduler at {address}"
        self._check_workers()

    def _check_workers(self) -> None:
        from dcsim import __version__
        versions = self._client.run(_dcsim_version)
        bad = {w: v for w, v in versions.items() if v != __version__}
        if bad:
            w, v = next(iter(bad.items()))
            raise RuntimeError(f"worker {w} runs dcsim {v}; this is dcsim {__version__} (install the same on every "
                               "worker)")

    def submit(self, fn, *args):
        return self._client.submit(fn, *args, pure=False)

    def wait(self, pending):
        from distributed import wait
        return wait(list(pending), return_when="FIRST_COMPLETED").done

    def close(self):
        self._client.close()
        if self._cluster is not None:
            self._cluster.close()


def _dcsim_version() -> str:
    try:
        from dcsim import __version__
        return __version__
    except Exception as e:  # noqa: BLE001
        return f"not importable ({e})"


def make_executor(scheduler: str | None, jobs: int | None):
    """The executor for ``--scheduler`` / ``--jobs`` (see the module docstring)."""
    if scheduler:
        return DaskExecutor(scheduler, jobs)
    jobs = jobs or os.cpu_count() or 1
    return SerialExecutor() if jobs == 1 else PoolExecutor(jobs)


# =========================================================================== store
@dataclass
class Store:
    """The output folder: finished points, the caches and the tables."""

    root: Path

    @property
    def points(self) -> Path:
        return self.root / "points"

    def point_path(self, pid: str) -> Path:
        return self.points / f"{pid}.json"

    def read_point(self, pid: str) -> dict | None:
        p = self.point_path(pid)
        try:
            rec = json.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return None  # unreadable: computed again and replaced
        return rec if isinstance(rec, dict) and rec.get("point_id") == pid and "row" in rec else None

    def write_point(self, rec: dict) -> None:
        atomic_write_text(self.point_path(rec["point_id"]), json.dumps(rec, default=_json_default) + "\n")

    def compress_path(self, key: str) -> Path:
        return self.root / "cache" / "compress" / f"{key}.dcz"

    def synth_path(self, key: str) -> Path:
        return self.root / "cache" / "synth" / f"{key}.json"


def _json_default(o):
    import numpy as np
    if isinstance(o, np.generic):
        return o.item()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


# =========================================================================== the run
def config_columns(pt: Point) -> dict[str, Any]:
    """The full config of a point as flat columns: ``accel.<field>`` and ``compress.<field>``."""
    import dataclasses

    from arch.config import AcceleratorConfig
    from compress.config import CompressionConfig

    cols: dict[str, Any] = {}
    for cls, prefix, cfg in ((AcceleratorConfig, "accel", pt.accel), (CompressionConfig, "compress", pt.compress)):
        d = {} if cfg is None else cfg.to_dict()
        for f in dataclasses.fields(cls):
            v = d.get(f.name)
            if f.name == "ptr_bits" and cfg is not None and v is None:
                v = cfg.pointer_bits  # derived: record the width in use
            cols[f"{prefix}.{f.name}"] = json.dumps(v, sort_keys=True) if isinstance(v, (dict, list)) else v
    return cols


def _point_spec(pt: Point, settings: dict) -> dict:
    return {"kind": pt.workload.kind, "target": pt.workload.target, "accel": pt.accel.to_dict(),
            "settings": {k: settings.get(k) for k in ("inputs", "seed", "verify", "leakage", "energy_table",
                                                      "data_dir", "input_vectors")}}


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


def run_sweep(sweep: Sweep, out: Path, *, scheduler: str | None = None, jobs: int | None = None,
              retry_failed: bool = False, progress: bool = True, log: Log = print) -> RunStats:
    """Run every point of ``sweep`` that ``out/points/`` does not hold yet; see the module docstring."""
    t0 = time.time()
    store = Store(out)
    stats = RunStats(total=len(sweep.points))
    run_no = 1 + _previous_runs(out)
    todo: list[Point] = []
    for pt in sweep.points:
        rec = store.read_point(pt.point_id)
        if rec is not None and (rec["row"].get("status") == "ok" or not retry_failed):
            stats.reused += 1
        else:
            todo.append(pt)
    if stats.reused:
        log(f"resuming: {stats.reused} of {stats.total} points already in {store.points}; {len(todo)} to run")
    _write_manifest(sweep, out, run_no, stats, done=False)
    if todo:
        ex = make_executor(scheduler, jobs)
        stats.executor = ex.name
        log(f"running {len(todo)} points on {ex.name}")
        try:
            _drive(sweep, todo, store, ex, run_no, stats, progress, log)
        finally:
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
    need_c: dict[str, Point] = {}
    need_s: dict[str, Point] = {}
    for pt in todo:
        if pt.compress_key and pt.compress_key not in need_c:
            need_c[pt.compress_key] = pt
        if pt.synth_key and pt.synth_key not in need_s:
            need_s[pt.synth_key] = pt
    comp: dict[str, dict] = {}     # key -> {"ok": True, "archive": bytes} | error
    synth: dict[str, dict] = {}
    futures: dict[Any, tuple[str, Any]] = {}
    for key, pt in need_c.items():
        p = store.compress_path(key)
        if p.is_file():
            comp[key] = {"ok": True, "archive": p.read_bytes()}
            stats.compressions_reused += 1
        else:
            futures[ex.submit(task_compress, pt.workload.target, pt.compress.to_dict(), settings["data_dir"])] = \
                ("compress", key)
    for key, pt in need_s.items():
        p = store.synth_path(key)
        rec = _read_json(p)
        if rec is not None and rec.get("ok"):
            synth[key] = rec
            stats.syntheses_reused += 1
        else:
            futures[ex.submit(task_synth, pt.accel.to_dict(), settings["synth"])] = ("synth", key)
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
                futures[ex.submit(task_point, _point_spec(pt, settings), c["archive"])] = ("point", pt)
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
                    res = _error(e)
                    res["error"] = f"worker failed: {res['error']}"
                if what == "compress":
                    comp[obj] = res
                    if res["ok"]:
                        atomic_write_bytes(store.compress_path(obj), res["archive"])
                        stats.compressions += 1
                        log(f"compressed {need_c[obj].workload.text} ({_compress_text(need_c[obj])}) "
                            f"in {res['seconds']:.1f} s")
                    else:
                        log(f"compression of {need_c[obj].workload.text} failed: {res['error']}")
                    release()
                elif what == "synth":
                    synth[obj] = {k: v for k, v in res.items() if k != "traceback"}
                    if res["ok"]:
                        atomic_write_text(store.synth_path(obj), json.dumps(synth[obj]) + "\n")
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


def _read_json(p: Path) -> dict | None:
    try:
        d = json.loads(p.read_text(encoding="utf-8"))
        return d if isinstance(d, dict) else None
    except (OSError, ValueError):
        return None


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
