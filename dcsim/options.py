"""What the commands share: the machine options, the config loader, the output folder and the
workload of an ARCHIVE or ``--layer`` run.

- :func:`add_machine_options` / :func:`load_configs`: ``--config FILE.toml`` (``[accel]`` and
  ``[compress]``), then the machine flags ``--pes``, ``--fifo`` and ``--tech`` over it, for
  every command that takes a machine;
- :func:`out_dir` / :func:`out_file` / :func:`make_out` / :func:`writing`: ``--out`` is checked
  early (a writable folder or one that can be created), created only right before the first file
  is written, and a failed write is one line naming it;
- :func:`workload_from_args`: an archive on its input vectors, or EIE benchmark layers.

Every problem raises :class:`UserError` (a ``DcsimError``): one line, exit code 2.
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import hashlib
import os
import shutil
import sys
from pathlib import Path

import numpy as np

from arch.configio import ConfigError
from arch.errors import DcsimError

__all__ = ["UserError", "add_machine_options", "add_run_options", "load_configs", "log", "make_out", "out_dir",
           "out_file", "check_strict", "structure_from_args", "workload_from_args", "writing"]

#: ``--flag`` -> the machine-config field it sets (over ``--config``).
MACHINE_FLAGS = (("pes", "--pes", "n_pe"), ("fifo", "--fifo", "fifo_depth"), ("tech", "--tech", "tech_node"))


class UserError(DcsimError):
    """A bad argument: reported in one line, exit code 2."""


def log(msg: str) -> None:
    """Progress and notes go to stderr; results go to stdout."""
    if "tqdm" in sys.modules:          # a bar may be on screen: print above it, and redraw it
        sys.modules["tqdm"].tqdm.write(msg, file=sys.stderr)
        sys.stderr.flush()
    else:
        print(msg, file=sys.stderr, flush=True)


def _creatable(p: Path, flag: str, what: str) -> None:
    """Raise UserError unless the missing folder ``p`` can be created: its nearest existing
    ancestor must be a writable folder."""
    a = p.parent
    while not a.exists() and a != a.parent:
        a = a.parent
    if not a.is_dir():
        raise UserError(f"{flag} {p}: cannot create the {what}: {a} is a file, not a folder")
    if not os.access(a, os.W_OK | os.X_OK):
        raise UserError(f"{flag} {p}: cannot create the {what}: the folder {a} is not writable")


def out_dir(path: str, flag: str = "--out") -> Path:
    """Check ``--out`` early (a writable folder, or one that can be created); it is created only
    when there is something to write (:func:`make_out`)."""
    p = Path(path)
    if p.exists():
        if not p.is_dir():
            raise UserError(f"{flag} {p}: exists and is not a folder")
        if not os.access(p, os.W_OK | os.X_OK):
            raise UserError(f"{flag} {p}: the folder is not writable")
    else:
        _creatable(p, flag, "folder")
    return p


def out_file(path: str, flag: str = "--out") -> Path:
    """Check an output file's path early: not a folder, in a folder that is writable or can be created."""
    p = Path(path)
    if p.is_dir():
        raise UserError(f"{flag} {p}: is a folder; give a file name")
    if p.parent.exists():
        if not p.parent.is_dir():
            raise UserError(f"{flag} {p}: {p.parent} is a file, not a folder")
        if not os.access(p.parent, os.W_OK | os.X_OK):
            raise UserError(f"{flag} {p}: the folder {p.parent} is not writable")
    else:
        _creatable(p.parent, flag, "folder")
    return p


def make_out(p: Path, flag: str = "--out") -> Path:
    """Create the output folder right before the first file is written into it."""
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"{flag} {p}: cannot create the folder ({e.strerror or e})") from None
    return p


@contextlib.contextmanager
def writing(p: Path, flag: str = "--out"):
    """Create the output folder ``p`` right before the first file is written, and turn an OSError
    while writing into one line naming it. If anything fails and the folder was made here, it is
    removed again, so a failed command leaves nothing behind."""
    created = not p.exists()
    make_out(p, flag)
    try:
        yield p
    except BaseException as e:
        if created:
            shutil.rmtree(p, ignore_errors=True)
        if isinstance(e, OSError):
            where = f" {e.filename}" if getattr(e, "filename", None) else ""
            raise UserError(f"{flag} {p}: cannot write{where} ({e.strerror or e})") from None
        raise


def check_strict(doc, name: str) -> None:
    """Refuse, before anything is written, a result ``doc`` that strict JSON cannot hold (a NaN or
    infinity: extreme inputs); names the file and the key."""
    from arch.fileio import find_non_finite

    hit = find_non_finite(doc)
    if hit is not None:
        raise UserError(f"{name} would hold a non-finite number at {hit} (from extreme input values); "
                        "nothing written")


def add_machine_options(q: argparse.ArgumentParser, *, tech: bool = False, config_help: str | None = None) -> None:
    """``--config`` and the machine flags of one subcommand."""
    q.add_argument("--config", metavar="FILE.toml",
                   help=config_help or "TOML whose [accel] table sets the machine (kind, PEs, widths, SRAMs, ...)")
    q.add_argument("--pes", type=int, metavar="N", help="number of PEs (overrides the config)")
    q.add_argument("--fifo", type=int, metavar="D", help="activation FIFO depth (overrides the config)")
    if tech:
        q.add_argument("--tech", metavar="NODE", help="technology node, e.g. 45nm (default: the config's tech_node)")


def _tech(text):
    if text is None:
        return None
    t = str(text).strip().lower().removesuffix("nm")
    if not t.isdigit():
        raise UserError(f"--tech {text}: use a node such as 45nm, 28nm, 16nm or 7nm")
    return int(t)


def load_configs(args, compress_base=None):
    """``(machine config, compression config)`` of a command: ``--config`` laid over the defaults
    (``compress_base`` for ``[compress]``), then ``--pes`` / ``--fifo`` / ``--tech``."""
    from arch.config import AcceleratorConfig
    from dcsim.configfile import read_config_file

    accel, comp = None, None
    if getattr(args, "config", None):
        accel, comp = read_config_file(args.config, compress_base=compress_base)
    accel = accel or AcceleratorConfig()
    comp = comp or compress_base
    for attr, flag, name in MACHINE_FLAGS:
        value = getattr(args, attr, None)
        if attr == "tech":
            value = _tech(value)
        if value is None:
            continue
        if name not in {f.name for f in dataclasses.fields(accel)}:
            raise UserError(f"{flag}: the {accel.kind} machine has no {name}")
        try:
            accel = accel.replace(**{name: value})
        except ConfigError as e:
            raise UserError(f"{flag}: {e}") from None
    return accel, comp


def add_run_options(q: argparse.ArgumentParser, *, layers: bool, energy: bool) -> None:
    """The options of a run: ARCHIVE (or ``--layer``), the machine, the inputs, the energy."""
    q.add_argument("archive", nargs="?", metavar="ARCHIVE", help="a model.dcz file")
    if layers:
        q.add_argument("--layer", metavar="NAME", help="EIE benchmark layer(s): alex-6, alex-7, alex-8, vgg-6, "
                       "vgg-7, vgg-8, nt-we, nt-wd, nt-lstm, a comma-separated list, or all")
        q.add_argument("--seed", type=int, help="seed of the benchmark-layer generator (default 0)")
        q.add_argument("--structure", metavar="ARCHIVE:LAYER", help="with --layer: place the generated layer's "
                       "nonzero weights after the row and column densities of a real pruned layer (e.g. "
                       "runs/demo/model.dcz:fc1; a conv layer as its im2col matrix) instead of uniformly at random; "
                       "shape and nonzero count stay the benchmark layer's")
    add_machine_options(q, tech=energy)
    q.add_argument("--inputs", metavar="mnist-test|FILE.npy|FILE.npz", help="inputs of an ARCHIVE run: the "
                   "MNIST test images (default), a .npy of samples, or an .npz with x and labels y (the accuracy "
                   "of the fixed-point engine is then reported)")
    q.add_argument("--count", type=int, metavar="K", default=None, help="use the first K inputs (default: all)")
    q.add_argument("--data-dir", metavar="DIR", help="folder holding the MNIST IDX files")
    q.add_argument("--quiet", action="store_true", help="no progress bars")
    if energy:
        q.add_argument("--energy-table", metavar="FILE.toml", help="per-action energies overriding the defaults "
                       "(see examples/energy_override.toml)")
        q.add_argument("--leakage", action=argparse.BooleanOptionalAction, default=True,
                       help="charge the static (leakage) energy of the SRAMs and logic per cycle (default: on; "
                            "--no-leakage leaves it out); the clock network and control are always charged")


def archive_from_args(args):
    """``(model, sha256)`` of the ARCHIVE argument, checked runnable on the simulator."""
    from compress.model import load
    from sim.reference import check_runnable

    path = Path(args.archive)
    cm = load(path)
    check_runnable(cm)
    return cm, hashlib.sha256(path.read_bytes()).hexdigest()


def inputs_from_args(args, model, count: int | None):
    """The input vectors of a model run: ``--inputs`` (mnist-test, the default, or a .npy), ``--count``."""
    from dcsim.flow import load_input_file, mnist_test_inputs

    fan_in = int(np.prod(model.input_shape))
    src = args.inputs or "mnist-test"
    if src == "mnist-test":
        return mnist_test_inputs(fan_in, count, args.data_dir, progress=not args.quiet)
    return load_input_file(src, fan_in, count)


def structure_from_args(text: str | None, names=()):
    """The :class:`sim.workloads.StructureProfile` of ``--structure ARCHIVE:LAYER`` (None without it),
    checked against the benchmark layers ``names``."""
    if text is None:
        return None
    from sim.workloads import check_structure, split_structure, structure_from_archive

    spec = split_structure(text)
    if spec is None:
        raise UserError(f"--structure {text}: use ARCHIVE:LAYER, e.g. runs/demo/model.dcz:fc1")
    try:
        prof = structure_from_archive(*spec)
        for n in names:
            check_structure(prof, n)
    except (DcsimError, ValueError) as e:
        raise UserError(f"--structure {text}: {e}") from None
    return prof


def workload_from_args(args, *, count_default: int | None = None, check_model=None, step=None):
    """The :class:`dcsim.flow.Workload` of an ARCHIVE (on ``--inputs``) or ``--layer`` run.
    ``check_model(model)`` runs on the archive before its inputs are read. ``step(name)``: a
    context manager around reading the archive (a :class:`dcsim.progress.Steps` step)."""
    from dcsim.flow import Workload
    from sim.workloads import parse_layer_names

    layer = getattr(args, "layer", None)
    if getattr(args, "structure", None) is not None and layer is None:
        raise UserError("--structure needs --layer: it places a benchmark layer's weights (an ARCHIVE runs its own)")
    if (args.archive is None) == (layer is None):
        raise UserError("give exactly one of ARCHIVE or --layer NAME")
    count = args.count if args.count is not None else count_default
    if count is not None and count < 1:
        raise UserError(f"--count {count}: must be >= 1")
    seed = getattr(args, "seed", None)
    seed = 0 if seed is None else seed
    if seed < 0:
        raise UserError(f"--seed {seed}: must be >= 0")
    if layer is not None:
        if args.inputs or args.count is not None:
            raise UserError("--inputs and --count apply to an ARCHIVE; a --layer uses the generator's activations")
        try:
            names = parse_layer_names(layer)
        except ValueError as e:
            raise UserError(f"--layer {layer!r}: {e}") from None
        return Workload(",".join(names), layers=tuple(names), seed=seed,
                        structure=structure_from_args(getattr(args, "structure", None), names))
    with (step or (lambda _n: contextlib.nullcontext()))("read and check the archive"):
        cm, digest = archive_from_args(args)
    if check_model is not None:
        check_model(cm)
    return Workload(cm.name, model=cm, inputs=inputs_from_args(args, cm, count), source=digest)
