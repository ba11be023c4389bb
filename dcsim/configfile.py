"""TOML config files: ``[accel]`` fills AcceleratorConfig, ``[compress]`` fills CompressionConfig."""
from __future__ import annotations

import os
import tomllib
from pathlib import Path

from arch.config import AcceleratorConfig
from arch.configio import ConfigError, from_dict
from compress.config import CompressionConfig

TABLES = ("accel", "compress")


def read_config_file(path: str | os.PathLike) -> tuple[AcceleratorConfig | None, CompressionConfig | None]:
    """The configs a TOML file sets; a table that is absent gives None (the caller's default applies)."""
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{p}: no such config file") from None
    except OSError as e:
        raise ConfigError(f"{p}: cannot read config file ({e.strerror})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{p}: not a UTF-8 text file") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{p}: not valid TOML ({e})") from None
    unknown = sorted(set(data) - set(TABLES))
    if unknown:
        raise ConfigError(f"{p}: unknown table [{unknown[0]}]; allowed tables: [accel], [compress]")
    accel = from_dict(AcceleratorConfig, data["accel"], where=f"{p}: [accel] ") if "accel" in data else None
    comp = from_dict(CompressionConfig, data["compress"], where=f"{p}: [compress] ") if "compress" in data else None
    return accel, comp
