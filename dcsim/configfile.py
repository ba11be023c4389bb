"""TOML config files: ``[accel]`` fills the machine config, ``[compress]`` fills CompressionConfig.

``[accel] kind`` selects the machine (arch/machine.py; default ``"eie"``, whose config is
AcceleratorConfig). A table sets only the keys it names; the others keep the base config's
values (the built-in model's recipe for ``dcsim compress --model``, else the defaults). A
per-layer table such as ``[compress.layer_density]`` replaces the base's whole table.
"""
from __future__ import annotations

import os
from pathlib import Path

from arch.configio import ConfigError, to_dict
from arch.fileio import read_toml
from arch.machine import machine_config_from_dict
from compress.config import CompressionConfig

__all__ = ["TABLES", "read_config_file", "overlay", "recipe_toml"]

TABLES = ("accel", "compress")


def read_config_file(path: str | os.PathLike, accel_base=None, compress_base: CompressionConfig | None = None):
    """``(accel, compress)``: the configs a TOML file sets, each table laid over its base (or the
    defaults). A table that is absent gives None (the caller's default applies)."""
    p = Path(path)
    data = read_toml(p, "config file", ConfigError)
    unknown = sorted(set(data) - set(TABLES))
    if unknown:
        raise ConfigError(f"{p}: unknown table [{unknown[0]}]; allowed tables: [accel], [compress]")
    where = {t: f"{p}: [{t}] " for t in TABLES}
    accel = overlay("accel", accel_base, data["accel"], where["accel"]) if "accel" in data else None
    comp = overlay("compress", compress_base, data["compress"], where["compress"]) if "compress" in data else None
    return accel, comp


def overlay(group: str, base, given, where: str = ""):
    """The config of ``group`` (``"accel"`` or ``"compress"``) with the keys of ``given`` laid over
    ``base`` (None: the defaults). A different ``kind`` of machine starts from that machine's
    defaults rather than from ``base``."""
    if not isinstance(given, dict):
        raise ConfigError(f"{where}must be a table")
    if group == "accel":
        keep_base = base is not None and given.get("kind", base.kind) == base.kind
        return machine_config_from_dict({**to_dict(base), **given} if keep_base else given, where=where)
    from arch.configio import from_dict

    return from_dict(CompressionConfig, {**to_dict(base), **given} if base is not None else given, where=where)


def recipe_toml(model: str) -> str:
    """The complete config file of a built-in model's default recipe (what ``dcsim recipe MODEL`` prints)."""
    from arch.config import AcceleratorConfig
    from compress.recipes import default_recipe

    head = (f"# The default recipe of `dcsim compress --model {model}` (compress/recipes.py),\n"
            f"# written by `dcsim recipe {model}`. Copy it and edit any key; see docs/configs.md.\n")
    accel = AcceleratorConfig().to_toml().strip()
    comp = default_recipe(model).to_toml().strip()
    comp = "\n".join(("[compress." + ln[1:]) if ln.startswith("[") and not ln.startswith("[compress") else ln
                     for ln in comp.splitlines())
    return f"{head}[accel]\n{accel}\n\n[compress]\n{comp}\n"
