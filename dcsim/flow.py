"""The one flow: evaluate one workload on one machine with one set of settings.

:func:`evaluate` simulates a :class:`Workload` (a compressed model on input vectors, or EIE
benchmark layers) on a machine config of any registered kind (arch/machine.py), measures the
engine's accuracy where there are labels, accounts the model's storage, prices the run with the
energy model and returns one typed :class:`Evaluation`. ``dcsim simulate``, ``dcsim energy``,
``dcsim report`` and every ``dcsim dse`` point call it; the reports only format what it returns.

A run can be reused: :meth:`Evaluation.sim_doc` (``sim.json``) records a key of the workload and
machine (:func:`run_key`), and :func:`reusable_run` reads such a file back when the key matches,
so ``make demo`` simulates its 10,000 images once for ``simulate``, ``energy`` and ``report``.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from arch.errors import DcsimError, ModelError
from arch.fileio import json_default, load_arrays
from arch.machine import get_machine

__all__ = ["Accuracy", "Evaluation", "Inputs", "Settings", "Workload", "evaluate", "inputs_from_array",
           "load_input_file", "mnist_test_inputs", "reusable_run", "run_key"]

Log = Callable[[str], None]


# ----------------------------------------------------------------------------- what to run
@dataclass(frozen=True, eq=False)
class Inputs:
    """Input vectors of a model run: ``x`` (K, fan_in) float64, optional labels, a description."""

    x: np.ndarray
    labels: np.ndarray | None
    description: str

    @property
    def digest(self) -> str:
        """SHA-256 of the vectors and labels (part of the reuse key)."""
        h = hashlib.sha256(np.ascontiguousarray(self.x, dtype=np.float64).tobytes())
        h.update(str(self.x.shape).encode())
        if self.labels is not None:
            h.update(np.ascontiguousarray(self.labels, dtype=np.int64).tobytes())
        return h.hexdigest()


@dataclass(frozen=True, eq=False)
class Workload:
    """What one evaluation runs: a compressed model on input vectors, or named EIE benchmark layers.

    ``source`` identifies the model for the reuse key (an archive's SHA-256, say).
    """

    name: str
    model: Any = None                 # a compress.model.CompressedModel
    inputs: Inputs | None = None
    layers: tuple[str, ...] = ()      # EIE benchmark layers (sim/workloads.py), each its own workload
    seed: int = 0                     # of the benchmark-layer generator
    source: str = ""
    structure: Any = None             # benchmark layers: a sim.workloads.StructureProfile (None: uniform positions)

    def __post_init__(self) -> None:
        if (self.model is None) == (not self.layers):
            raise ValueError("a workload is a model with inputs or benchmark layers, not both or neither")
        if self.model is not None and self.inputs is None:
            raise ValueError("a model workload needs its inputs")


@dataclass(frozen=True)
class Settings:
    """How to evaluate.

    Attributes:
        verify: check every output against the fixed-point reference (a difference raises
            ``sim.results.SimulationMismatch``).
        enforce_capacity: refuse layers that do not fit the machine's on-chip memories (the energy
            charges what does not fit as DRAM traffic instead, so it runs with False).
        energy: price the run (energy_model/).
        leakage: charge the static (leakage) energy; the clock network and control are always charged.
        energy_table: a per-action override file (TOML), or None.
        progress: progress bars on stderr.
    """

    verify: bool = False
    enforce_capacity: bool = True
    energy: bool = True
    leakage: bool = True
    energy_table: str | None = None
    progress: bool = False


@dataclass(frozen=True)
class Accuracy:
    """The engine's predictions against the labels, next to the float model's."""

    n: int
    engine_error_pct: float
    float_error_pct: float
    agreement_pct: float

    def to_doc(self) -> dict:
        return {"n": self.n, "engine_fixed_point_error_pct": self.engine_error_pct,
                "float_model_error_pct": self.float_error_pct, "engine_vs_float_agreement_pct": self.agreement_pct}

    @classmethod
    def from_doc(cls, d: dict) -> "Accuracy":
        return cls(int(d["n"]), float(d["engine_fixed_point_error_pct"]), float(d["float_model_error_pct"]),
                   float(d["engine_vs_float_agreement_pct"]))


@dataclass
class Evaluation:
    """One workload on one machine: the simulation, its accuracy, the model's storage and the energy."""

    workload: Workload
    machine: Any                      # the machine config
    settings: Settings
    simulation: Any                   # sim.results.SimRun
    accuracy: Accuracy | None = None
    storage: dict | None = None       # compress.pipeline.storage_report of a model (no EIE footprint)
    energy: Any = None                # energy_model.EnergyResult, or None
    reused_from: str = ""             # the sim.json the simulation was read from, if it was
    seconds: dict = field(default_factory=dict)

    @property
    def latency_us(self) -> float:
        """Latency per inference (all layers), us."""
        return self.simulation.latency_us_per_input

    def sim_doc(self) -> dict:
        """sim.json: the run, its accuracy, the machine and the reuse key."""
        doc = self.simulation.to_doc()
        doc["inputs"] = self.workload.inputs.description if self.workload.inputs else None
        if self.workload.inputs is not None:
            doc["inputs_labelled"] = self.workload.inputs.labels is not None
        if self.accuracy is not None:
            doc["accuracy"] = self.accuracy.to_doc()
        doc["accelerator_config"] = self.machine.to_dict()
        doc["run_key"] = run_key(self.workload, self.machine)
        doc["enforced_capacity"] = self.settings.enforce_capacity
        return doc

    def energy_doc(self) -> dict:
        """energy.json: the energy result with the simulation's totals, inputs and machine."""
        doc = self.energy.to_doc()
        doc["simulation"] = {"total": self.simulation.total(), "verified": self.simulation.verified}
        doc["inputs"] = self.workload.inputs.description if self.workload.inputs else None
        doc["accelerator_config"] = self.machine.to_dict()
        return doc

    def point_columns(self) -> dict[str, Any]:
        """The figures of a design-space point (``dcsim dse``), per inference, units in the names."""
        sim = self.simulation
        machine = get_machine(self.machine)
        cols: dict[str, Any] = {"inputs": sim.inputs, "layers": len(sim.layers),
                                "cycles_per_input": sim.total()["cycles_per_input"], "latency_us": self.latency_us,
                                **machine.point_columns(sim), "verified": bool(sim.verified)}
        e = self.energy
        if e is not None:
            from energy_model.model import CYCLE_ITEMS

            sc = e.scenarios or {}
            scen = sc.get("scenarios", {})
            cols.update(energy_pJ=e.energy_pJ,
                        energy_a_pJ=scen.get("a", {}).get("total_pJ"), energy_b_pJ=scen.get("b", {}).get("total_pJ"),
                        energy_c_pJ=scen.get("c", {}).get("total_pJ"),
                        a_over_c=sc.get("a_over_c"), b_over_c=sc.get("b_over_c"), fits_on_chip=sc.get("fits_on_chip"),
                        power_W=e.total.rates.power_W, frames_per_s=e.total.rates.frames_per_s,
                        frames_per_J=e.total.rates.frames_per_J, edp_pJ_us=e.energy_pJ * e.latency_us,
                        energy_access_pJ=e.total.access_pJ, area_mm2=e.area_mm2,
                        frames_per_s_per_mm2=e.total.rates.frames_per_s_per_mm2)
            for c in e.components:
                cols[f"energy_{c}_pJ"] = float(e.total.energy_pJ.get(c, 0.0))
            for k in CYCLE_ITEMS:
                cols.setdefault(f"energy_{k}_pJ", 0.0)
            for m, v in e.total.by_module_pJ.items():
                cols[f"energy_module_{m}_pJ"] = float(v)
        if self.storage is not None:
            t = self.storage["total"]
            for k in ("dense_bits", "storage_bits_p", "storage_bits_q", "storage_bits_pq", "storage_bits_pqh"):
                cols[k] = int(t[k])
            for k in ("compression_rate_p", "compression_rate_q", "compression_rate_pq", "compression_rate_pqh",
                      "weights_kept_pct"):
                cols[k] = float(t[k])
            cols["baseline_error_pct"] = t.get("baseline_test_error_pct")
            cols["pruned_error_pct"] = t.get("pruned_test_error_pct")
            cols["test_error_pct"] = t.get("test_error_pct")
            cols["engine_error_pct"] = None if self.accuracy is None else self.accuracy.engine_error_pct
        return cols

    def layer_rows(self) -> list[dict[str, Any]]:
        """Per layer of a design-space point: shape, cycles, latency, energy by component."""
        from energy_model.model import CYCLE_ITEMS

        rows = []
        energies = self.energy.layers if self.energy is not None else [None] * len(self.simulation.layers)
        for sl, el in zip(self.simulation.layers, energies):
            s = sl.summary()
            row = {"layer": sl.name, "rows": s["rows"], "cols": s["cols"], "cycles": float(s["cycles_per_input"]),
                   "latency_us": float(s["latency_us_per_input"])}
            for k in ("load_balance_efficiency", "fits_spmat_sram"):
                if k in s:
                    row[k] = s[k]
            if el is not None:
                row["energy_pJ"] = float(el.total_pJ)
                for c in self.energy.components:
                    row[f"energy_{c}_pJ"] = float(el.energy_pJ.get(c, 0.0))
                for k in CYCLE_ITEMS:
                    row.setdefault(f"energy_{k}_pJ", 0.0)
            rows.append(row)
        return rows


# ----------------------------------------------------------------------------- inputs
def inputs_from_array(x, fan_in: int | None, where: str, labels=None, count: int | None = None) -> Inputs:
    """Checked input vectors: numbers, finite, ``(K, fan_in)`` (a single vector is K = 1; more
    dimensions are flattened per vector; ``fan_in`` None: any), the first ``count`` of them.
    ``where`` names the source in the one-line errors."""
    x = np.asarray(x)
    want = f"(K, {fan_in if fan_in is not None else 'fan_in'})"
    if not np.issubdtype(x.dtype, np.number):
        raise DcsimError(f"{where}: holds {x.dtype}; need numbers of shape {want}")
    x = x[None, :] if x.ndim == 1 else x.reshape(len(x), -1)
    if len(x) == 0 or (fan_in is not None and x.shape[1] != fan_in):
        raise DcsimError(f"{where}: shape {x.shape}; need {want} with K >= 1")
    if not np.all(np.isfinite(x)):
        raise DcsimError(f"{where}: holds NaN or inf")
    if count is not None:
        x = x[:count]
        labels = None if labels is None else labels[:count]
    return Inputs(x.astype(np.float64), labels, f"{len(x)} vectors from {where}")


def load_input_file(path, fan_in: int, count: int | None = None, what: str = "--inputs") -> Inputs:
    """Inputs from a ``.npy`` file of samples, or an ``.npz`` with samples ``x`` and integer labels
    ``y`` (never unpickled)."""
    x = load_arrays(path, what)
    labels = None
    if isinstance(x, dict):
        if "x" not in x:
            raise DcsimError(f"{what} {path}: an .npz without an array x; give a .npy of shape (K, {fan_in}) or an "
                             ".npz with x (K samples) and optional labels y (K,)")
        x, labels = x["x"], x.get("y")
        if labels is not None:
            labels = np.asarray(labels)
            if labels.ndim != 1 or labels.dtype.kind not in "iu" or len(labels) != len(x):
                raise DcsimError(f"{what} {path}: y has shape {labels.shape} and dtype {labels.dtype}; y must be "
                                 f"{len(x)} integer labels, one per sample of x")
            labels = labels.astype(np.int64)
    if np.asarray(x).dtype.kind == "c":
        raise DcsimError(f"{what} {path}: holds complex numbers; inputs must be real")
    return inputs_from_array(x, fan_in, f"{what} {path}", labels=labels, count=count)


def mnist_test_inputs(fan_in: int, count: int | None = None, data_dir=None, progress: bool = False,
                      dataset=None) -> Inputs:
    """The first ``count`` MNIST test images (all by default) with their labels."""
    from network.mnist import load_mnist

    ds = dataset if dataset is not None else load_mnist(data_dir, progress=progress)
    n = len(ds.test_images) if count is None else min(count, len(ds.test_images))
    x = ds.test_images[:n].reshape(n, -1)
    if x.shape[1] != fan_in:
        raise ModelError(f"the MNIST test images have {x.shape[1]} pixels; the model takes {fan_in} inputs")
    return Inputs(x.astype(np.float64), ds.test_labels[:n], f"first {n} MNIST test images ({ds.source})")


# ----------------------------------------------------------------------------- reuse
def run_key(workload: Workload, machine) -> str:
    """What determines a simulation: the workload (model source and inputs, or layers and seed) and
    the machine. Two runs with the same key give the same sim.json, bar timings."""
    w = {"layers": list(workload.layers), "seed": workload.seed} if workload.layers else \
        {"model": workload.source or workload.name, "inputs": workload.inputs.digest}
    if workload.layers and workload.structure is not None:
        w["structure"] = workload.structure.digest
    return hashlib.sha256(json.dumps({"workload": w, "machine": machine.to_dict(), "v": 2}, sort_keys=True,
                                     default=json_default).encode()).hexdigest()


def reusable_run(path: Path, workload: Workload, machine, settings: Settings):
    """``(SimRun, Accuracy | None)`` read back from a sim.json with the same :func:`run_key` that
    satisfies ``settings`` (verified when verification is asked for), else None."""
    from sim.results import SimRun

    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
        if not isinstance(doc, dict) or doc.get("run_key") != run_key(workload, machine):
            return None
        if settings.verify and not doc.get("verified"):
            return None
        run = SimRun.from_doc(doc)
    except (OSError, ValueError, KeyError, TypeError, DcsimError):
        return None                       # missing, stale or foreign: simulate again
    if settings.enforce_capacity and not doc.get("enforced_capacity", False):
        return None                       # it may not fit: simulating again checks the capacity
    acc = Accuracy.from_doc(doc["accuracy"]) if isinstance(doc.get("accuracy"), dict) else None
    return run, acc


# ----------------------------------------------------------------------------- the flow
def evaluate(workload: Workload, machine, settings: Settings = Settings(), *, log: Log | None = None,
             reuse: Path | None = None, step=None) -> Evaluation:
    """Simulate ``workload`` on ``machine`` (a machine config), measure its accuracy, account the
    model's storage and price the run. ``reuse``: a sim.json to take the simulation from when it
    matches (:func:`reusable_run`). ``step(name)``: a context manager around the simulation and
    the pricing (a :class:`dcsim.progress.Steps` step)."""
    step = step or (lambda _name: contextlib.nullcontext())
    from sim.network import simulate_model, simulate_workload
    from sim.reference import check_runnable
    from sim.results import SimRun

    say = log or (lambda _m: None)
    seconds: dict[str, float] = {}
    t0 = time.time()
    model = workload.model
    if model is not None:
        check_runnable(model)
    found = reusable_run(reuse, workload, machine, settings) if reuse is not None else None
    accuracy = None
    if found is not None:
        run, accuracy = found
        say(f"reusing the simulation in {reuse}")
    elif workload.layers:
        with step("simulate"):
            runs = [simulate_workload(n, machine, seed=workload.seed, verify=settings.verify,
                                      enforce_capacity=settings.enforce_capacity, structure=workload.structure)
                    for n in workload.layers]
        run = SimRun(",".join(workload.layers), [l for r in runs for l in r.layers], runs[0].outputs,
                     verified=all(r.verified for r in runs), meta={"seed": workload.seed, **(
                         {"structure": workload.structure.source} if workload.structure is not None else {})})
    else:
        x = workload.inputs.x
        with step("simulate"):
            run = simulate_model(model, x, machine, verify=settings.verify, progress=settings.progress, log=log,
                                 enforce_capacity=settings.enforce_capacity)
        labels = workload.inputs.labels
        if labels is not None:
            float_pred = model.to_network().predict(x.astype(np.float32))
            accuracy = Accuracy(n=int(len(labels)),
                                engine_error_pct=float(100.0 * np.mean(run.predictions != labels)),
                                float_error_pct=float(100.0 * np.mean(float_pred != labels)),
                                agreement_pct=float(100.0 * np.mean(run.predictions == float_pred)))
    seconds["simulation_s"] = time.time() - t0
    storage = None
    if model is not None:
        from compress.pipeline import storage_report

        storage = storage_report(model, eie=False)
    energy = None
    if settings.energy:
        from energy_model import evaluate_energy, load_energy_table

        t = time.time()
        with step("price the accesses"):
            table = load_energy_table(machine.tech_node, override=settings.energy_table)
            dram_form = None if storage is None else {l["layer"]: int(l["storage_bits_pq"])
                                                      for l in storage["layers"]}
            energy = evaluate_energy(run, table, get_machine(machine), leakage=settings.leakage,
                                     dram_form_bits=dram_form, independent_layers=model is None, chip_cfg=machine)
        seconds["energy_s"] = time.time() - t
    seconds["total_s"] = time.time() - t0
    return Evaluation(workload=workload, machine=machine, settings=settings, simulation=run, accuracy=accuracy,
                      storage=storage, energy=energy, reused_from=str(reuse) if found is not None else "",
                      seconds=seconds)
