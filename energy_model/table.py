"""The per-action energy table: 45 nm data, node scaling and user overrides.

``load_energy_table(tech_node, override)`` reads ``data/45nm.toml`` (Horowitz's
45 nm figures as EIE and Deep Compression quote them, plus the documented dcsim
assumptions), scales every entry to ``tech_node`` by its kind
(:mod:`energy_model.scaling`), and then applies the user's override file.

**An override is the value at the configured node**: it is applied after the
scaling and is never scaled itself. So ``--tech 7nm --energy-table my7nm.toml``
takes the numbers in ``my7nm.toml`` as 7 nm numbers.

An override file has the same shape as the data file::

    [actions.dram_per_bit]
    pJ = 10.0
    source = "LPDDR4 datasheet, ..."
    unit = "per bit"          # optional; if given it must match the entry's unit

Every entry keeps a ``source`` string: every number carries its source.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from arch.errors import DcsimError
from arch.fileio import read_toml

from .scaling import NODES, SCALE_KINDS, ScalingError, scale_factor

DATA_DIR = Path(__file__).resolve().parent / "data"
BASE_FILE = DATA_DIR / "45nm.toml"


class EnergyTableError(DcsimError, ValueError):
    """A bad energy table, override file, node or entry. The message is one line naming it."""


@dataclass(frozen=True)
class EnergyEntry:
    """One action's energy: ``pJ`` picojoules per ``unit``, and where the number comes from."""

    pJ: float
    unit: str
    source: str

    def to_dict(self) -> dict:
        return {"pJ": self.pJ, "unit": self.unit, "source": self.source}


@dataclass(frozen=True)
class EnergyTable:
    """The per-action energies at one technology node (after scaling and overrides)."""

    node: int
    entries: dict[str, EnergyEntry]
    override: str | None = None   # the override file applied, if any

    def __getitem__(self, name: str) -> EnergyEntry:
        try:
            return self.entries[name]
        except KeyError:
            raise EnergyTableError(f"no energy action {name!r}; known: {', '.join(self.entries)}") from None

    def pJ(self, name: str) -> float:
        """Energy of action ``name`` in pJ per its unit."""
        return self[name].pJ

    def to_dict(self) -> dict:
        """Plain data for energy.json: ``node_nm``, ``override`` and every entry with pJ, unit, source."""
        return {"node_nm": self.node, "override": self.override,
                "entries": {k: e.to_dict() for k, e in self.entries.items()}}


def parse_node(tech_node: object) -> int:
    """A node given as 45, "45" or "45nm" -> 45; anything else -> EnergyTableError."""
    v = tech_node
    if isinstance(v, str):
        s = v.strip().lower().removesuffix("nm").strip()
        v = int(s) if s.isdigit() else v
    if isinstance(v, bool) or not isinstance(v, int) or v not in NODES:
        raise EnergyTableError(f"tech_node = {tech_node!r} is not allowed; choose one of "
                               f"{', '.join(map(str, NODES))} (nm)")
    return v


def _read_toml(path: Path) -> dict:
    return read_toml(path, "energy table", EnergyTableError)


def _positive(path: Path, name: str, value: object, key: str = "pJ", section: str = "actions",
              what: str = "picojoules") -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise EnergyTableError(f"energy table {path}: [{section}.{name}] {key} = {value!r} is not allowed; "
                               f"use a positive, finite number of {what}")
    return float(value)


def read_entry_file(path: Path, *, section: str = "actions", key: str = "pJ", kinds: tuple[str, ...] = SCALE_KINDS,
                    what: str = "picojoules") -> dict[str, tuple[float, str, str, str]]:
    """A 45 nm data file of ``[section.NAME]`` entries with exactly ``key``, unit, scale, source.

    Shared by the energy table (``actions``, ``pJ``) and the area table (energy_model/chip.py:
    ``areas``, ``um2``). Returns name -> (value, unit, scale kind, source), validated: the file
    needs ``node_nm = 45``, every value is positive and finite, every kind is one of ``kinds``.
    Raises :class:`EnergyTableError` (one line naming the file and key).
    """
    doc = _read_toml(path)
    if doc.get("node_nm") != 45 or not isinstance(doc.get(section), dict):
        raise EnergyTableError(f"energy table {path}: needs node_nm = 45 and an [{section}] table")
    out = {}
    for name, a in doc[section].items():
        if not isinstance(a, dict) or set(a) != {key, "unit", "scale", "source"}:
            raise EnergyTableError(f"energy table {path}: [{section}.{name}] needs exactly {key}, unit, scale, source")
        if a["scale"] not in kinds:
            raise EnergyTableError(f"energy table {path}: [{section}.{name}] scale = {a['scale']!r} is not "
                                   f"allowed; choose one of {', '.join(kinds)}")
        out[name] = (_positive(path, name, a[key], key, section, what), str(a["unit"]), a["scale"], str(a["source"]))
    return out


@lru_cache(maxsize=1)
def _base() -> tuple[dict[str, EnergyEntry], dict[str, str]]:
    """The 45 nm entries and each entry's scale kind, validated."""
    raw = read_entry_file(BASE_FILE)
    entries = {name: EnergyEntry(v, unit, src) for name, (v, unit, _, src) in raw.items()}
    kinds = {name: kind for name, (_, _, kind, _) in raw.items()}
    return entries, kinds


def action_names() -> tuple[str, ...]:
    """Names of every action an override may set."""
    return tuple(_base()[0])


def base_table() -> dict[str, tuple[EnergyEntry, str]]:
    """The unscaled 45 nm table: name -> (entry, scale kind) (for docs and tests)."""
    entries, kinds = _base()
    return {k: (e, kinds[k]) for k, e in entries.items()}


#: The top-level keys of an override file: per-action energies, areas (energy_model/chip.py), a description.
OVERRIDE_SECTIONS = ("actions", "areas", "description")


def apply_override(entries: dict, path: Path, node: int, section: str = "actions", key: str = "pJ",
                   make=EnergyEntry, what: str = "energy action") -> None:
    """Replace ``entries`` (name -> entry with ``.unit``) by the ``[section.NAME]`` tables of the
    override file ``path`` (``key`` = the value, ``source``, optional ``unit``); ``make(value, unit,
    source)`` builds an entry. Other sections of the file are another loader's (their names are
    checked here, their contents there). Raises EnergyTableError (one line naming the file and key)."""
    doc = _read_toml(path)
    for k in doc:
        if k not in OVERRIDE_SECTIONS:
            raise EnergyTableError(f"energy table {path}: unknown key {k!r}; allowed: {', '.join(OVERRIDE_SECTIONS)}")
    acts = doc.get(section, {})
    if not isinstance(acts, dict):
        raise EnergyTableError(f"energy table {path}: {section} must be a table of [{section}.NAME] entries")
    allowed = (key, "source", "unit")
    for name, a in acts.items():
        if name not in entries:
            raise EnergyTableError(f"energy table {path}: [{section}.{name}] is not an {what}; "
                                   f"allowed: {', '.join(entries)}")
        if not isinstance(a, dict):
            raise EnergyTableError(f"energy table {path}: {section}.{name} must be a table with {key} and source")
        for k in a:
            if k not in allowed:
                raise EnergyTableError(f"energy table {path}: [{section}.{name}] key {k!r} is not allowed; "
                                       f"allowed: {', '.join(allowed)}")
        if key not in a:
            raise EnergyTableError(f"energy table {path}: [{section}.{name}] has no {key}; give {key} = "
                                   f"<positive number>")
        v = _positive(path, name, a[key], key, section, "picojoules" if key == "pJ" else "square micrometres")
        src = a.get("source")
        if not isinstance(src, str) or not src.strip():
            raise EnergyTableError(f"energy table {path}: [{section}.{name}] needs source = \"...\" "
                                   f"(every number carries its source)")
        unit = a.get("unit", entries[name].unit)
        if unit != entries[name].unit:
            raise EnergyTableError(f"energy table {path}: [{section}.{name}] unit = {unit!r} is not allowed; "
                                   f"the unit of {name} is {entries[name].unit!r}")
        entries[name] = make(v, unit, f"override from {path}: {src.strip()} (taken as the value at {node} nm, "
                                      f"not scaled)")


def load_energy_table(tech_node: int | str = 45, override: str | os.PathLike | None = None) -> EnergyTable:
    """The energy table at ``tech_node`` (45, 32, 28, 22, 16, 14, 10 or 7; "7nm" works too).

    Each 45 nm entry is multiplied by its kind's scaling factor
    (:func:`energy_model.scaling.scale_factor`; DRAM and leakage stay as they
    are) and its source says so. Then ``override`` (a TOML file path), if given,
    replaces entries; an override is the value at ``tech_node`` and is not scaled.

    Raises :class:`EnergyTableError` (one line naming the file and key) for an
    unknown node, a missing or malformed file, an unknown action or key, a
    non-numeric or non-positive ``pJ``, a missing ``source`` or a changed ``unit``.
    """
    node = parse_node(tech_node)
    base, kinds = _base()
    entries: dict[str, EnergyEntry] = {}
    for name, e in base.items():
        try:
            f, why = scale_factor(kinds[name], node)
        except ScalingError as err:  # pragma: no cover - parse_node checked the node
            raise EnergyTableError(str(err)) from None
        entries[name] = e if node == 45 else EnergyEntry(e.pJ * f, e.unit, f"{e.source}; {why}")
    path = None
    if override is not None:
        path = Path(override)
        apply_override(entries, path, node)
    return EnergyTable(node=node, entries=entries, override=None if path is None else str(path))
