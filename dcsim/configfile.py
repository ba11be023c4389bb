"""TOML config files: ``[accel]`` fills AcceleratorConfig, ``[compress]`` fills CompressionConfig.

A table sets only the keys it names; the others keep the base config's values
(the built-in model's recipe for ``dcsim compress --model``, else the
defaults). A per-layer table such as ``[compress.layer_density]`` replaces the
base's whole table.
"""
from __future__ import annotations

import os
import tomllib
from pathlib import Path

from arch.config import AcceleratorConfig
from arch.configio import ConfigError, from_dict, to_dict
from compress.config import CompressionConfig

TABLES = ("accel", "compress")


def read_config_file(path: str | os.PathLike, accel_base: AcceleratorConfig | None = None,
                     compress_base: CompressionConfig | None = None
                     ) -> tuple[AcceleratorConfig | None, CompressionConfig | None]:
    """The configs a TOML file sets, each table laid over its base (or the defaults).

    A table that is absent gives None (the caller's default applies).
    """
    p = Path(path)
    data = read_toml(p, "config file")
    unknown = sorted(set(data) - set(TABLES))
    if unknown:
        raise ConfigError(f"{p}: unknown table [{unknown[0]}]; allowed tables: [accel], [compress]")
    accel = _overlay(AcceleratorConfig, accel_base, data, "accel", p)
    comp = _overlay(CompressionConfig, compress_base, data, "compress", p)
    return accel, comp


def read_toml(p: Path, what: str, error: type[ConfigError] = ConfigError) -> dict:
    """The TOML file ``p`` as a dict; any problem raises ``error`` with one line naming the file."""
    try:
        return tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise error(f"{p}: no such {what}") from None
    except IsADirectoryError:
        raise error(f"{p}: is a folder; give a {what} (.toml)") from None
    except OSError as e:
        raise error(f"{p}: cannot read {what} ({e.strerror})") from None
    except UnicodeDecodeError:
        raise error(f"{p}: not a UTF-8 text file") from None
    except tomllib.TOMLDecodeError as e:
        raise error(f"{p}: not valid TOML ({e})") from None


def _overlay(cls, base, data: dict, table: str, p: Path):
    if table not in data:
        return None
    where = f"{p}: [{table}] "
    given = data[table]
    if not isinstance(given, dict):
        raise ConfigError(f"{where}must be a table")
    merged = {**to_dict(base), **given} if base is not None else given
    return from_dict(cls, merged, where=where)


def recipe_toml(model: str) -> str:
    """The complete config file of a built-in model's default recipe (what ``dcsim recipe MODEL`` prints)."""
    from compress.models import default_recipe

    head = (f"# The default recipe of `dcsim compress --model {model}` (compress/models.py),\n"
            f"# written by `dcsim recipe {model}`. Copy it and edit any key; see docs/configs.md.\n")
    accel = AcceleratorConfig().to_toml().strip()
    comp = default_recipe(model).to_toml().strip()
    comp = "\n".join(("[compress." + ln[1:]) if ln.startswith("[") and not ln.startswith("[compress") else ln
                     for ln in comp.splitlines())
    return f"{head}[accel]\n{accel}\n\n[compress]\n{comp}\n"
