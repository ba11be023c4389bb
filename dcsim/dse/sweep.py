"""Sweep files for ``dcsim dse``: parse, validate and expand into design points.

A sweep file is TOML (docs/dse.md has the reference and examples/dse/ the studies)::

    [sweep]
    name = "fifo-depth"                  # default: the file's stem
    workloads = ["eie:all"]              # eie:NAME | eie:all, model:lenet-300-100 | model:lenet-5,
                                         # archive:PATH (a model.dcz; relative to the sweep file)
    inputs = 1000                        # MNIST test images simulated per model/archive point (0 = all)
    input_file = "x.npy"                 # or these input vectors (K, fan_in) instead of MNIST
    seed = 0                             # seed of the EIE benchmark-layer generator
    structure = "model.dcz:fc1"          # eie: workloads' weight positions follow this real pruned layer's
                                         # row/column densities (ARCHIVE:LAYER, relative to the sweep file)
    verify = true                        # every output checked against the fixed-point reference
    leakage = true                       # charge the static energy (false: leave it out)
    energy_table = "override.toml"       # per-action energy overrides (relative to the sweep file)
    synth = { target = "ecp5", pnr = false }   # FPGA resources per point (hw/synth.py)
    data_dir = "/path/to/mnist"          # folder of the MNIST IDX files (default $DCSIM_DATA/mnist)
    max_points = 100000                  # refuse a sweep that expands to more points (default 100,000)

    [base]                               # the configs every point starts from
    config = "../fpga.toml"              # a dcsim config file ([accel], [compress])
    accel = { n_pe = 64 }                # keys laid over it
    compress = { layer_density = {} }

    [axes]                               # one grid: the Cartesian product of every list
    accel.fifo_depth = [1, 2, 4, 8]

    [[grid]]                             # or several grids, one after the other; `label` names the
    label = "quantization only"          # grid in the results' `series` column
    compress.density = [1.0]
    compress.fc_bits = [2, 4, 6, 8]

An axis is ``accel.<field>`` (a field of the base machine's config: AcceleratorConfig for
``kind = "eie"``, the default) or ``compress.<field>`` (CompressionConfig, the method names
``prune_method`` and ``quantizer`` included);
a per-layer table entry is ``compress.layer_density.fc1``. For a ``model:`` workload the
compression base is the model's built-in recipe (``dcsim recipe MODEL``), as for ``dcsim
compress --model``; ``compress.*`` axes need a ``model:`` workload (an archive or an EIE
layer is already compressed). Every point's configs are built and validated before anything
runs, so a bad value stops the sweep with one line naming it, and nothing is written.
"""
from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from arch.config import AcceleratorConfig
from arch.configio import ConfigError, from_dict, to_dict
from arch.fileio import load_arrays, read_toml
from arch.machine import machine_config_from_dict
from compress.config import CompressionConfig

#: Version of the point record; part of every point id, so a change recomputes (2: the clock,
#: control, leakage and area of the whole chip).
POINT_FORMAT = 2
#: Version of the compressed models and synthesis results a sweep caches (unchanged by the above).
CACHE_FORMAT = 1
SWEEP_KEYS = ("name", "workloads", "inputs", "input_file", "seed", "verify", "leakage", "energy_table", "synth",
              "data_dir", "max_points", "structure")
#: A sweep that expands to more points is refused before anything is built (``max_points``, ``--max-points``).
DEFAULT_MAX_POINTS = 100_000
SYNTH_KEYS = ("target", "pnr", "seed")
TOP_KEYS = ("sweep", "base", "axes", "grid")


class SweepError(ConfigError):
    """A bad sweep file or value: one line naming the file, key and what is allowed."""


def _digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass(frozen=True)
class Workload:
    """What a point runs: an EIE benchmark layer, a built-in model (compressed per point) or an archive."""

    text: str        # as written in the results, e.g. "eie:alex-7"
    kind: str        # "eie" | "model" | "archive"
    target: str      # layer name, model name or the archive's absolute path
    sha256: str = ""  # of the archive file


@dataclass(frozen=True)
class Point:
    """One design point: a workload on a machine, with the compression recipe for a model."""

    index: int
    series: str
    workload: Workload
    accel: AcceleratorConfig
    compress: CompressionConfig | None
    axes: dict[str, Any]
    point_id: str
    compress_key: str | None = None   # model points: the compression they share
    synth_key: str | None = None      # with synthesis: the synthesis run they share


@dataclass
class Sweep:
    """A parsed sweep file and its points, in order."""

    path: Path
    name: str
    settings: dict[str, Any]
    base_accel: AcceleratorConfig
    base_compress: CompressionConfig | None
    grids: list[dict[str, Any]]      # [{"label": str, "axes": {path: [values]}}]
    workloads: list[Workload]
    points: list[Point] = field(default_factory=list)
    duplicates: int = 0
    warnings: list[str] = field(default_factory=list)

    @property
    def axes(self) -> list[str]:
        out: list[str] = []
        for g in self.grids:
            out += [a for a in g["axes"] if a not in out]
        return out

    def manifest(self) -> dict[str, Any]:
        """What dse.json records about the sweep (the table holds the points)."""
        return {"name": self.name, "sweep_file": str(self.path), "axes": self.axes,
                "grids": [{"label": g["label"], "axes": g["axes"]} for g in self.grids],
                "workloads": [w.text for w in self.workloads], "n_points": len(self.points),
                "settings": {k: v for k, v in self.settings.items()
                             if k not in ("input_vectors", "structure_profile", "structure_key")},
                "base": {"accel": self.base_accel.to_dict(),
                         "compress": None if self.base_compress is None else self.base_compress.to_dict()}}


# --------------------------------------------------------------------------- parsing
def _err(p: Path, msg: str) -> SweepError:
    return SweepError(f"{p}: {msg}")


def _rel(p: Path, text: str) -> Path:
    q = Path(os.path.expanduser(text))
    return q if q.is_absolute() else (p.parent / q)


def _settings(p: Path, t: dict) -> dict[str, Any]:
    unknown = sorted(set(t) - set(SWEEP_KEYS))
    if unknown:
        raise _err(p, f"[sweep] unknown key {unknown[0]!r}; allowed keys: {', '.join(SWEEP_KEYS)}")
    s: dict[str, Any] = {"name": p.stem, "inputs": 1000, "seed": 0, "verify": True, "leakage": True,
                         "energy_table": None, "synth": None, "data_dir": None, "input_file": None,
                         "max_points": DEFAULT_MAX_POINTS, "structure": None}
    for k, v in t.items():
        s[k] = v
    if not isinstance(s["name"], str) or not s["name"].strip():
        raise _err(p, f"[sweep] name = {s['name']!r}; use a non-empty string")
    if not _plain_name(s["name"]):
        raise _err(p, f"[sweep] name = {s['name']!r}; use a plain folder name (no '/', '\\', '..' or leading '.'): "
                      "the default --out is runs/dse/NAME")
    for k, lo in (("inputs", 0), ("seed", 0), ("max_points", 1)):
        if not isinstance(s[k], int) or isinstance(s[k], bool) or s[k] < lo:
            raise _err(p, f"[sweep] {k} = {s[k]!r}; use an integer >= {lo}")
    for k in ("verify", "leakage"):
        if not isinstance(s[k], bool):
            raise _err(p, f"[sweep] {k} = {s[k]!r}; use true or false")
    for k in ("energy_table", "data_dir", "input_file"):
        if s[k] is not None:
            if not isinstance(s[k], str):
                raise _err(p, f"[sweep] {k} = {s[k]!r}; use a path string")
            q = _rel(p, s[k])
            if k in ("energy_table", "input_file") and not q.is_file():
                raise _err(p, f"[sweep] {k} = {s[k]!r}: no such file ({q})")
            if k == "data_dir" and not q.is_dir():
                raise _err(p, f"[sweep] data_dir = {s[k]!r}: no such folder ({q})")
            s[k] = str(q.resolve())
    if s["input_file"] is not None:
        s["input_vectors"] = _input_vectors(p, Path(s["input_file"]))
    if s["structure"] is not None:
        s["structure_profile"], s["structure_key"] = _structure(p, s["structure"])
    if s["synth"] is not None:
        from hw.synth import TARGETS

        sy = s["synth"]
        if isinstance(sy, str):
            sy = {"target": sy}
        if not isinstance(sy, dict) or "target" not in sy:
            raise _err(p, "[sweep] synth: use a table such as { target = \"ecp5\", pnr = false }")
        bad = sorted(set(sy) - set(SYNTH_KEYS))
        if bad:
            raise _err(p, f"[sweep] synth: unknown key {bad[0]!r}; allowed keys: {', '.join(SYNTH_KEYS)}")
        if sy["target"] not in TARGETS:
            raise _err(p, f"[sweep] synth.target = {sy['target']!r}; choose one of {', '.join(TARGETS)}")
        sy = {"target": sy["target"], "pnr": sy.get("pnr", False), "seed": sy.get("seed", 0)}
        if not isinstance(sy["pnr"], bool):
            raise _err(p, f"[sweep] synth.pnr = {sy['pnr']!r}; use true or false")
        if not isinstance(sy["seed"], int) or sy["seed"] < 0:
            raise _err(p, f"[sweep] synth.seed = {sy['seed']!r}; use an integer >= 0")
        s["synth"] = sy
    return s


def _structure(p: Path, text: Any):
    """``structure = "PATH.dcz:LAYER"``: the layer's StructureProfile (labelled as written) and the
    point-id key (the archive's SHA-256 and the layer)."""
    from arch.errors import DcsimError
    from sim.workloads import StructureProfile, split_structure, structure_from_archive

    spec = split_structure(text)
    if spec is None:
        raise _err(p, f"[sweep] structure = {text!r}; use \"ARCHIVE:LAYER\" (a model.dcz relative to the sweep file "
                      "and one of its weight layers), e.g. \"../runs/demo/model.dcz:fc1\"")
    path, layer = spec
    q = _rel(p, path)
    if not q.is_file():
        raise _err(p, f"[sweep] structure = {text!r}: no such archive ({q})")
    try:
        prof = structure_from_archive(q.resolve(), layer)
    except (DcsimError, ValueError) as e:
        raise _err(p, f"[sweep] structure = {text!r}: {e}") from None
    return (StructureProfile(text, prof.row_density, prof.col_density), {"archive": file_sha256(q), "layer": layer})


def _plain_name(name: str) -> bool:
    """A name that stays one folder inside runs/dse/: no separators, not absolute, not '.' or '..'."""
    return (name == name.strip() and "/" not in name and "\\" not in name and not name.startswith(".")
            and "\0" not in name and not os.path.isabs(name) and ":" not in name[:2])


def count_points(n_workloads: int, grids: list[dict[str, Any]]) -> int:
    """How many points the grids expand to (duplicates included), from the axes' lengths alone."""
    import math
    return n_workloads * sum(math.prod(len(v) for v in g["axes"].values()) for g in grids)


def _input_vectors(p: Path, q: Path):
    """The ``input_file`` array (K, fan_in) of float64 (numbers only, never unpickled)."""
    from dcsim.flow import inputs_from_array

    where = f"{p}: [sweep] input_file {q}"
    x = load_arrays(q, where, SweepError)
    if isinstance(x, dict):
        raise _err(p, f"[sweep] input_file {q}: a .npz of several arrays; give a .npy of shape (K, fan_in)")
    return inputs_from_array(x, None, where).x


def _workloads(p: Path, given: Any) -> list[Workload]:
    from network.models import MODELS
    from sim.workloads import parse_layer_names

    if not isinstance(given, list) or not given or not all(isinstance(w, str) for w in given):
        raise _err(p, "[sweep] workloads: give a non-empty list such as [\"eie:alex-7\", "
                      "\"model:lenet-300-100\", \"archive:model.dcz\"]")
    out: list[Workload] = []
    for w in given:
        kind, _, name = w.partition(":")
        kind, name = kind.strip().lower(), name.strip()
        if kind == "eie":
            try:
                names = parse_layer_names(name)
            except ValueError as e:
                raise _err(p, f"[sweep] workload {w!r}: {e}") from None
            out += [Workload(f"eie:{n}", "eie", n) for n in names]
        elif kind == "model":
            if name not in MODELS:
                raise _err(p, f"[sweep] workload {w!r}: unknown model; choose one of "
                              f"{', '.join('model:' + m for m in MODELS)}")
            out.append(Workload(f"model:{name}", "model", name))
        elif kind == "archive":
            q = _rel(p, name)
            if not name or not q.is_file():
                raise _err(p, f"[sweep] workload {w!r}: no such archive ({q})")
            out.append(Workload(f"archive:{name}", "archive", str(q.resolve()), file_sha256(q)))
        else:
            raise _err(p, f"[sweep] workload {w!r}: use eie:NAME, eie:all, model:NAME or archive:PATH")
    seen: set[str] = set()
    uniq = []
    for w in out:
        if w.text not in seen:
            seen.add(w.text)
            uniq.append(w)
    return uniq


def _flatten(prefix: str, t: Any, out: dict[str, Any], p: Path, where: str) -> None:
    if isinstance(t, dict):
        for k, v in t.items():
            _flatten(f"{prefix}.{k}" if prefix else k, v, out, p, where)
        return
    if not isinstance(t, list) or not t:
        raise _err(p, f"{where} {prefix} = {t!r}: an axis is a non-empty list of values, e.g. [1, 2, 4]")
    out[prefix] = t


def _grids(p: Path, data: dict, accel_class: type) -> list[dict[str, Any]]:
    grids = []
    if "axes" in data:
        if not isinstance(data["axes"], dict):
            raise _err(p, "[axes] must be a table of lists, e.g. accel.n_pe = [16, 32, 64]")
        grids.append(("", data["axes"], "[axes]"))
    g = data.get("grid", [])
    if not isinstance(g, list) or not all(isinstance(x, dict) for x in g):
        raise _err(p, "[[grid]] must be an array of tables")
    for i, t in enumerate(g):
        label = t.get("label", f"grid {i + 1}")
        if not isinstance(label, str):
            raise _err(p, f"[[grid]] #{i + 1} label = {label!r}; use a string")
        grids.append((label, {k: v for k, v in t.items() if k != "label"}, f"[[grid]] #{i + 1}"))
    if not grids:
        grids.append(("", {}, "[axes]"))
    out = []
    for label, t, where in grids:
        axes: dict[str, Any] = {}
        _flatten("", t, axes, p, where)
        for path in axes:
            _check_path(p, where, path, accel_class)
        out.append({"label": label, "axes": axes})
    return out


def _check_path(p: Path, where: str, path: str, accel_class: type) -> None:
    group, _, rest = path.partition(".")
    classes = {"accel": accel_class, "compress": CompressionConfig}
    if group not in classes or not rest:
        raise _err(p, f"{where} axis {path!r}: use accel.<field> or compress.<field>")
    if path == "accel.kind":
        raise _err(p, f"{where} axis {path!r}: the machine cannot be an axis; set [base] accel = {{ kind = ... }} "
                      "and run one sweep per machine")
    cls = classes[group]
    fields = {f.name: f for f in dataclasses.fields(cls)}
    name, _, sub = rest.partition(".")
    if name not in fields:
        raise _err(p, f"{where} axis {path!r}: {cls.__name__} has no field {name!r}; "
                      f"allowed: {', '.join(sorted(fields))}")
    is_table = isinstance(getattr(cls(), name), dict)
    if sub and not is_table:
        raise _err(p, f"{where} axis {path!r}: {group}.{name} is not a per-layer table")
    if "." in sub:
        raise _err(p, f"{where} axis {path!r}: a per-layer entry is {group}.{name}.LAYER")


def _apply(cfg, group: str, changes: dict[str, Any], where: str):
    """``cfg`` with the axis values in ``changes`` (paths within ``group``), validated."""
    d = to_dict(cfg)
    for path, v in changes.items():
        name, _, sub = path.partition(".")
        if sub:
            d[name] = {**d.get(name, {}), sub: v}
        else:
            d[name] = v
    if group == "accel" and "ptr_bits" not in changes and any(
            k in changes for k in ("spmat_sram_bytes", "sram_word_bits", "index_bits", "rel_index_bits")):
        d.pop("ptr_bits", None)  # derived again from the new capacity unless swept itself
    if group == "accel":
        return machine_config_from_dict(d, where=where)
    return from_dict(CompressionConfig, d, where=where)


def _base(p: Path, data: dict):
    from dcsim.configfile import overlay, read_config_file

    b = data.get("base", {})
    if not isinstance(b, dict):
        raise _err(p, "[base] must be a table")
    bad = sorted(set(b) - {"config", "accel", "compress"})
    if bad:
        raise _err(p, f"[base] unknown key {bad[0]!r}; allowed keys: config, accel, compress")
    accel, comp_file = AcceleratorConfig(), None
    if "config" in b:
        if not isinstance(b["config"], str):
            raise _err(p, f"[base] config = {b['config']!r}; use a path string")
        a, c = read_config_file(_rel(p, b["config"]))
        accel = a or accel
        comp_file = _explicit_compress(_rel(p, b["config"])) if c is not None else None
    for k in ("accel", "compress"):
        if k in b and not isinstance(b[k], dict):
            raise _err(p, f"[base] {k} must be a table")
    if "accel" in b:
        accel = overlay("accel", accel, b["accel"], where=f"{p}: [base.accel] ")
    comp_over = dict(comp_file or {})
    comp_over.update(b.get("compress", {}))
    if comp_over:
        from_dict(CompressionConfig, {**CompressionConfig().to_dict(), **comp_over}, where=f"{p}: [base.compress] ")
    return accel, comp_over or None


def _explicit_compress(path: Path) -> dict:
    """The keys a config file's [compress] table sets (laid over each model's recipe)."""
    return dict(read_toml(path, "config file", ConfigError).get("compress", {}))


def load_sweep(path: str | os.PathLike, max_points: int | None = None) -> Sweep:
    """Parse and validate a sweep file and expand it into its points (see the module docstring).

    A sweep that would expand to more than ``max_points`` points (default: the file's
    ``max_points``, else :data:`DEFAULT_MAX_POINTS`) is refused, counted from the axes' lengths
    before any point is built.
    """
    from compress.recipes import default_recipe

    p = Path(path)
    data = read_toml(p, "sweep file", SweepError)
    unknown = sorted(set(data) - set(TOP_KEYS))
    if unknown:
        raise _err(p, f"unknown table [{unknown[0]}]; allowed: [sweep], [base], [axes], [[grid]]")
    if not isinstance(data.get("sweep"), dict):
        raise _err(p, "missing [sweep] table (it names the workloads)")
    settings = _settings(p, data["sweep"])
    workloads = _workloads(p, data["sweep"].get("workloads"))
    if settings["structure"] is not None:
        from sim.workloads import check_structure

        eie = [w for w in workloads if w.kind == "eie"]
        if not eie:
            raise _err(p, f"[sweep] structure = {settings['structure']!r} applies to eie: workloads; this sweep has "
                          "none (model: and archive: workloads run their own weights)")
        for w in eie:
            try:
                check_structure(settings["structure_profile"], w.target)
            except ValueError as e:
                raise _err(p, f"[sweep] structure: {e}") from None
    base_accel, comp_over = _base(p, data)
    grids = _grids(p, data, type(base_accel))
    limit = max_points if max_points is not None else settings["max_points"]
    n = count_points(len(workloads), grids)
    if n > limit:
        sizes = " + ".join(" x ".join(str(len(v)) for v in g["axes"].values()) or "1" for g in grids)
        raise _err(p, f"the sweep expands to {n:,} points ({len(workloads)} workloads x ({sizes})), more than "
                      f"max_points = {limit:,}; narrow the axes, or raise [sweep] max_points or --max-points")
    models = [w for w in workloads if w.kind == "model"]
    for g in grids:
        cax = [a for a in g["axes"] if a.startswith("compress.")]
        if cax and len(models) != len(workloads):
            other = next(w.text for w in workloads if w.kind != "model")
            raise _err(p, f"axis {cax[0]!r} needs model: workloads only; {other} is already compressed "
                          "(put it in a sweep of its own)")
    sweep = Sweep(p.resolve(), settings["name"], settings, base_accel, None, grids, workloads)
    recipes = {w.target: _recipe(p, default_recipe(w.target), comp_over) for w in models}
    if settings["input_file"]:
        from network.models import build
        for w in models:
            _check_fan_in(p, settings, w, int(np.prod(build(w.target).input_shape)))
    if len(recipes) == 1:
        sweep.base_compress = next(iter(recipes.values()))
    for m, r in recipes.items():
        for g in grids:
            if "compress.density" in g["axes"] and r.layer_density and not any(
                    a.startswith("compress.layer_density") for a in g["axes"]):
                sweep.warnings.append(
                    f"axis compress.density: model:{m}'s recipe sets layer_density for "
                    f"{', '.join(sorted(r.layer_density))}, which the axis does not change; set "
                    "[base] compress = { layer_density = {} } to sweep every layer")
                break
    archive_comp = {}
    for w in workloads:
        if w.kind == "archive":
            from compress.model import load
            cm = load(w.target)  # ArchiveError names the file
            archive_comp[w.target] = cm.compression
            _check_fan_in(p, settings, w, int(np.prod(cm.input_shape)))
    seen: dict[str, int] = {}
    for g in grids:
        names = list(g["axes"])
        for combo in itertools.product(*(g["axes"][a] for a in names)):
            values = dict(zip(names, combo))
            where = f"{p}: point {_fmt_axes(values) or '(base)'}: "
            accel = _apply(base_accel, "accel", {k[6:]: v for k, v in values.items() if k.startswith("accel.")},
                           where)
            for w in workloads:
                comp = None
                if w.kind == "model":
                    comp = _apply(recipes[w.target], "compress",
                                  {k[9:]: v for k, v in values.items() if k.startswith("compress.")}, where)
                elif w.kind == "archive":
                    comp = archive_comp[w.target]
                pid = point_id(w, accel, comp, settings)
                if pid in seen:
                    sweep.duplicates += 1
                    continue
                seen[pid] = len(sweep.points)
                ckey = compress_key(w, comp, settings) if w.kind == "model" else None
                skey = synth_key(accel, settings["synth"]) if settings["synth"] else None
                sweep.points.append(Point(len(sweep.points), g["label"], w, accel, comp, values, pid, ckey, skey))
    return sweep


def _check_fan_in(p: Path, settings: dict, w: Workload, fan_in: int) -> None:
    x = settings.get("input_vectors")
    if x is not None and x.shape[1] != fan_in:
        raise _err(p, f"[sweep] input_file {settings['input_file']}: vectors of {x.shape[1]} values; "
                      f"{w.text} takes {fan_in}")


def _recipe(p: Path, recipe: CompressionConfig, over: dict | None) -> CompressionConfig:
    if not over:
        return recipe
    return from_dict(CompressionConfig, {**recipe.to_dict(), **over}, where=f"{p}: [base.compress] ")


def _fmt_axes(values: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in values.items())


# --------------------------------------------------------------------------- keys
def run_settings(w: Workload, settings: dict) -> dict:
    """The settings that change a point's results."""
    s = {"verify": settings["verify"], "leakage": settings["leakage"]}
    if settings["energy_table"]:
        s["energy_table"] = file_sha256(Path(settings["energy_table"]))
    if w.kind == "eie":
        s["seed"] = settings["seed"]
        if settings.get("structure_key"):
            s["structure"] = settings["structure_key"]
    elif settings["input_file"]:
        s["input_file"] = file_sha256(Path(settings["input_file"]))
    else:
        s["inputs"] = settings["inputs"]
        s["data_dir"] = settings["data_dir"]
    if settings["synth"]:
        s["synth"] = settings["synth"]
    return s


def point_id(w: Workload, accel: AcceleratorConfig, comp: CompressionConfig | None, settings: dict) -> str:
    """Content hash of everything that determines a point's results (its file name in points/)."""
    return _digest({"format": POINT_FORMAT, "workload": w.text, "archive": w.sha256, "accel": accel.to_dict(),
                    "compress": None if comp is None else comp.to_dict(), "run": run_settings(w, settings)})


def compress_key(w: Workload, comp: CompressionConfig, settings: dict) -> str:
    return _digest({"format": CACHE_FORMAT, "model": w.target, "compress": comp.to_dict(),
                    "data_dir": settings["data_dir"]})


def synth_key(accel: AcceleratorConfig, synth: dict) -> str:
    return _digest({"format": CACHE_FORMAT, "accel": accel.to_dict(), "synth": synth})
