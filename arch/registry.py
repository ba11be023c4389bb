"""Named registries: the seams where a new compression method or machine plugs in.

A :class:`Registry` maps names to implementations. Built-in implementations live in
modules the registry imports on first use (so this package imports nothing above it), and
so do plugins: every module named in ``$DCSIM_PLUGINS`` (comma-separated module names) and
every ``dcsim.plugins`` entry point is imported once per process before the first lookup.
A plugin module registers what it adds when it is imported, e.g.::

    from compress.methods import QUANTIZERS
    QUANTIZERS.register("sign", SignQuantizer())

Worker processes (the process pool and Dask workers of ``dcsim dse``) inherit
``$DCSIM_PLUGINS`` and so see the same names.
"""
from __future__ import annotations

import importlib
import os
from importlib import metadata
from typing import Generic, Iterator, TypeVar

from .errors import DcsimError

__all__ = ["Registry", "RegistryError", "load_plugins", "PLUGINS_ENV"]

T = TypeVar("T")
PLUGINS_ENV = "DCSIM_PLUGINS"
ENTRY_POINT_GROUP = "dcsim.plugins"
_loaded_plugins: set[str] = set()


class RegistryError(DcsimError, ValueError):
    """An unknown name, or a plugin module that cannot be imported."""


def load_plugins() -> list[str]:
    """Import every module of ``$DCSIM_PLUGINS`` and every ``dcsim.plugins`` entry point not imported yet.

    Returns the names imported by this call. A module that fails to import raises
    :class:`RegistryError` naming it.
    """
    names = [n.strip() for n in os.environ.get(PLUGINS_ENV, "").split(",") if n.strip()]
    done = []
    for name in names:
        if name in _loaded_plugins:
            continue
        try:
            importlib.import_module(name)
        except Exception as e:  # noqa: BLE001 - any failure of a user's module is reported in one line
            raise RegistryError(f"${PLUGINS_ENV}: cannot import plugin module {name!r} "
                                f"({type(e).__name__}: {e})") from None
        _loaded_plugins.add(name)
        done.append(name)
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        key = f"entry point {ep.name} = {ep.value}"
        if key in _loaded_plugins:
            continue
        try:
            ep.load()
        except Exception as e:  # noqa: BLE001
            raise RegistryError(f"cannot load the dcsim plugin {key} ({type(e).__name__}: {e})") from None
        _loaded_plugins.add(key)
        done.append(key)
    return done


class Registry(Generic[T]):
    """Name -> implementation, filled by the built-in modules and by plugins.

    Args:
        what: what the names are, for messages ("quantizer", "machine kind").
        builtins: modules imported before the first lookup; they register the built-in names.
    """

    def __init__(self, what: str, builtins: tuple[str, ...] = ()):
        self.what = what
        self._builtins = builtins
        self._items: dict[str, T] = {}
        self._ready = False

    def register(self, name: str, item: T, *, replace: bool = False) -> T:
        """Add ``item`` under ``name``; a name registered twice is an error unless ``replace``."""
        if not isinstance(name, str) or not name.strip() or name != name.strip():
            raise RegistryError(f"{self.what} name {name!r}: use a non-empty string without surrounding spaces")
        if name in self._items and not replace and self._items[name] is not item:
            raise RegistryError(f"{self.what} {name!r} is registered already")
        self._items[name] = item
        return item

    def unregister(self, name: str) -> None:
        """Remove ``name`` (tests that add a toy implementation clean up with this)."""
        self._items.pop(name, None)

    def _load(self) -> None:
        if self._ready:
            return
        self._ready = True
        for mod in self._builtins:
            importlib.import_module(mod)
        load_plugins()

    def get(self, name: str) -> T:
        """The implementation registered as ``name``; an unknown name raises :class:`RegistryError`
        listing the known ones."""
        self._load()
        if name not in self._items:
            load_plugins()  # a plugin named in $DCSIM_PLUGINS after the first lookup
        try:
            return self._items[name]
        except (KeyError, TypeError):
            raise RegistryError(f"unknown {self.what} {name!r}; known: {', '.join(self.names())}") from None

    def names(self) -> tuple[str, ...]:
        self._load()
        return tuple(self._items)

    def __contains__(self, name: object) -> bool:
        self._load()
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
