"""The tasks of a sweep, run on the executor's workers: one compression, one synthesis or one point.

They are module-level functions taking typed values (configs, :class:`PointTask`), so the
process pool and Dask pickle them by reference. They never raise: a failure comes back as a
record with ``ok = False``, its one-line error and the traceback, and the sweep goes on. Every
task first loads the plugins of ``$DCSIM_PLUGINS`` (arch/registry.py), so methods and machines
registered by a plugin exist on the workers too.
"""
from __future__ import annotations

import os
import socket
import tempfile
import time
import traceback
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["PointTask", "error_record", "task_compress", "task_point", "task_synth", "worker_id"]


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def error_record(e: BaseException) -> dict:
    """A failed task: the first line of the error, the end of the traceback, the worker."""
    tb = traceback.format_exception(type(e), e, e.__traceback__)
    return {"ok": False, "error": f"{type(e).__name__}: {e}".splitlines()[0][:500], "traceback": "".join(tb)[-4000:],
            "worker": worker_id()}


_MNIST: dict[Any, Any] = {}


def _mnist(data_dir):
    """The MNIST data set, loaded once per worker process."""
    if data_dir not in _MNIST:
        from network.mnist import load_mnist
        _MNIST[data_dir] = load_mnist(data_dir, progress=False)
    return _MNIST[data_dir]


def _start() -> None:
    from arch.registry import load_plugins
    load_plugins()


def task_compress(model: str, compress, data_dir: str | None) -> dict:
    """Compress built-in ``model`` with the recipe ``compress`` (a CompressionConfig) on MNIST."""
    t0 = time.time()
    try:
        _start()
        from arch.config import AcceleratorConfig
        from compress.model import to_bytes
        from compress.pipeline import compress_builtin
        from network.data import data_from_dataset

        ds = _mnist(data_dir)
        cm, _, stages = compress_builtin(model, compress, AcceleratorConfig(), data_from_dataset(ds), progress=False,
                                         log=lambda _m: None,
                                         meta={"data": str(ds.source), "standard_mnist": bool(ds.is_standard_mnist)})
        return {"ok": True, "archive": to_bytes(cm), "seconds": time.time() - t0, "stages_s": stages,
                "worker": worker_id()}
    except Exception as e:  # noqa: BLE001 - recorded with the points that need it
        return error_record(e)


def task_synth(accel, synth: dict) -> dict:
    """FPGA resources of the machine ``accel`` (its RTL generator), with a random layer in its memories."""
    t0 = time.time()
    try:
        _start()
        from arch.machine import get_machine

        rtl = get_machine(accel).rtl
        if rtl is None:
            raise ValueError(f"the {accel.kind} machine has no RTL generator to synthesize")
        with tempfile.TemporaryDirectory(prefix="dcsim-synth-") as d:
            r = rtl.synthesize(accel, synth["target"], d, seed=synth["seed"], per_pe="divide", pnr=synth["pnr"])
        t, cap = r["total"], r["capacity"]
        cols = {"synth_target": r["target"], "synth_device": r["device"]}
        for k in ("luts", "ffs", "brams", "dsps"):
            cols[f"synth_{k}"] = t[k]
            cols[f"synth_{k}_capacity"] = cap[k]
        cols.update(synth_lut_unit=r["units"]["luts"], synth_fits=bool(r["fits"]),
                    synth_fmax_MHz=r.get("fmax_mhz"))
        return {"ok": True, "columns": cols, "seconds": time.time() - t0, "worker": worker_id()}
    except Exception as e:  # noqa: BLE001
        return error_record(e)


@dataclass(frozen=True, eq=False)
class PointTask:
    """One design point as a worker needs it: the workload, the machine and the run settings.

    ``kind`` is ``eie`` (``target`` = a benchmark layer), ``model`` or ``archive`` (``target`` =
    the archive's path; a model's archive comes with the task as bytes). ``input_vectors``
    replace the MNIST test images (``inputs`` of them; 0 = all) when given. ``structure``: an
    ``eie`` layer's weight positions follow this sim.workloads.StructureProfile (None: uniform);
    the results get a ``structure`` column (the profile's source as the sweep file gives it).
    """

    kind: str
    target: str
    accel: Any
    seed: int = 0
    verify: bool = True
    leakage: bool = True
    energy_table: str | None = None
    inputs: int = 0
    data_dir: str | None = None
    input_vectors: np.ndarray | None = None
    structure: Any = None


def task_point(point: PointTask, archive: bytes | None) -> dict:
    """Evaluate one design point (dcsim/flow.py) and return its table columns and layer rows."""
    t0 = time.time()
    try:
        _start()
        from dcsim.flow import Settings, Workload, evaluate, inputs_from_array, mnist_test_inputs

        if point.kind == "eie":
            workload = Workload(f"eie:{point.target}", layers=(point.target,), seed=point.seed,
                                structure=point.structure)
        else:
            from compress.model import from_bytes, load

            cm = from_bytes(archive, point.target) if archive is not None else load(point.target)
            fan_in = int(np.prod(cm.input_shape))     # the image, not a first conv layer's im2col width
            if point.input_vectors is not None:
                inputs = inputs_from_array(point.input_vectors, fan_in, "input_file")
            else:
                inputs = mnist_test_inputs(fan_in, point.inputs or None, dataset=_mnist(point.data_dir))
            workload = Workload(cm.name, model=cm, inputs=inputs)
        ev = evaluate(workload, point.accel, Settings(verify=point.verify, enforce_capacity=False,
                                                      leakage=point.leakage, energy_table=point.energy_table))
        columns = ev.point_columns()
        if point.structure is not None:
            columns["structure"] = point.structure.source
        return {"ok": True, "columns": columns, "layers": ev.layer_rows(),
                "times": {"sim_s": ev.seconds["simulation_s"], "energy_s": ev.seconds.get("energy_s")},
                "seconds": time.time() - t0, "worker": worker_id()}
    except Exception as e:  # noqa: BLE001 - a failed point is recorded, the sweep goes on
        return error_record(e)
