"""Config plumbing shared by every frozen config dataclass in dcsim.

One implementation serves ``AcceleratorConfig`` (arch/) and ``CompressionConfig``
(compress/): conversion to and from plain dicts, TOML and JSON, with enum and
tuple handling and errors that name the bad key and what is allowed.
"""
from __future__ import annotations

import dataclasses
import enum
import json
import os
import tomllib
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

from .errors import DcsimError

T = TypeVar("T")


class ConfigError(DcsimError, ValueError):
    """A config value, key or file is invalid. The message is one line naming it."""


def _field_types(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls) if f.init}


def _to_plain(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {k: _to_plain(v) for k, v in to_dict(value).items()}
    if isinstance(value, (tuple, list)):
        return [_to_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _to_plain(v) for k, v in value.items()}
    return value


def to_dict(cfg: Any) -> dict[str, Any]:
    """Plain-data dict of a config dataclass (enums as their values, tuples as lists).

    Fields set to ``None`` are left out, so the dict is valid TOML.
    """
    out: dict[str, Any] = {}
    for f in dataclasses.fields(cfg):
        if not f.init:
            continue
        v = getattr(cfg, f.name)
        if v is None:
            continue
        out[f.name] = _to_plain(v)
    return out


def _coerce(name: str, tp: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        non_none = [a for a in args if a is not type(None)]
        if len(non_none) == 1:
            return _coerce(name, non_none[0], value, where)
        return value
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        try:
            return tp(value)
        except ValueError:
            allowed = ", ".join(repr(m.value) for m in tp)
            raise ConfigError(f"{where}{name} = {value!r} is not allowed; choose one of {allowed}") from None
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}{name} = {value!r} must be a list")
        inner = args[0] if args else Any
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(name, inner, v, where) for v in value)
        return tuple(value)
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}{name} = {value!r} must be a table")
        vt = args[1] if len(args) == 2 else Any
        return {str(k): _coerce(f"{name}.{k}", vt, v, where) for k, v in value.items()}
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp in (int, float, str, bool):
        if tp is int and isinstance(value, bool) or not isinstance(value, tp):
            raise ConfigError(f"{where}{name} = {value!r} must be of type {tp.__name__}")
    return value


def from_dict(cls: type[T], data: dict[str, Any], where: str = "") -> T:
    """Build a config from a plain dict; unknown keys and bad types raise ConfigError."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}config must be a table/object, got {type(data).__name__}")
    types_ = _field_types(cls)
    unknown = sorted(set(data) - set(types_))
    if unknown:
        raise ConfigError(
            f"{where}unknown key {unknown[0]!r} for {cls.__name__}; allowed keys: {', '.join(sorted(types_))}"
        )
    kwargs = {k: _coerce(k, types_[k], v, where) for k, v in data.items()}
    try:
        return cls(**kwargs)
    except ConfigError as e:
        raise ConfigError(f"{where}{e}") from None


def to_json(cfg: Any) -> str:
    return json.dumps(to_dict(cfg), indent=2, sort_keys=True)


def from_json(cls: type[T], text: str, where: str = "") -> T:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ConfigError(f"{where}not valid JSON: {e}") from None
    return from_dict(cls, data, where)


def to_toml(cfg: Any) -> str:
    import tomli_w

    return tomli_w.dumps(to_dict(cfg))


def from_toml(cls: type[T], text: str, where: str = "", table: str | None = None) -> T:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{where}not valid TOML: {e}") from None
    if table is not None:
        data = data.get(table, {})
    return from_dict(cls, data, where)


def load_toml_table(path: str | os.PathLike, table: str, cls: type[T]) -> T:
    """Read table ``[table]`` of a TOML file into ``cls``; a missing table gives the defaults."""
    from .fileio import read_toml

    p = Path(path)
    return from_dict(cls, read_toml(p, "config file", ConfigError).get(table, {}), where=f"{p}: [{table}] ")


def check(cond: bool, msg: str) -> None:
    """Raise ConfigError(msg) unless cond; used by every __post_init__."""
    if not cond:
        raise ConfigError(msg)


class ConfigMixin:
    """Round-trip helpers for a frozen config dataclass."""

    def to_dict(self) -> dict[str, Any]:
        return to_dict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]):
        return from_dict(cls, data)

    def to_json(self) -> str:
        return to_json(self)

    @classmethod
    def from_json(cls, text: str):
        return from_json(cls, text)

    def to_toml(self) -> str:
        return to_toml(self)

    @classmethod
    def from_toml(cls, text: str):
        return from_toml(cls, text)

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)
