"""The output folder of a sweep: finished points (one JSON file each), the caches, the tables.

A point is written as soon as it finishes (temporary file, fsync, rename), under a content hash
of everything that determines it (dcsim/dse/sweep.py, ``point_id``), so a sweep killed at any
moment resumes by skipping the points on disk.

One ``dcsim dse`` at a time writes a folder: :func:`lock_output` holds ``fcntl.flock`` on
``DIR/.dse.lock`` for the whole run (the kernel drops it when the process ends, even by SIGKILL,
so a lock left by a killed run never blocks), and then removes the temporary files an
interrupted atomic write left behind (``.NAME.*.tmp``, arch/fileio.py).
"""
from __future__ import annotations

import json
import os
import re
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from arch.errors import DcsimError
from arch.fileio import atomic_write_text, json_text, non_finite_to_null

__all__ = ["LOCK_NAME", "OutputBusyError", "Store", "busy_error", "clean_stale_tmp", "lock_output", "output_busy",
           "read_json"]

LOCK_NAME = ".dse.lock"
#: arch/fileio.py's temporary files: ``.NAME.`` + mkstemp's random part + ``.tmp``
_TMP = re.compile(r"^\..+\.[A-Za-z0-9_]+\.tmp$")


class OutputBusyError(DcsimError):
    """Another ``dcsim dse`` is writing this output folder (one line, exit code 2)."""


def busy_error(out: Path) -> OutputBusyError:
    return OutputBusyError(f"--out {out}: another dcsim dse is running on this folder (it holds {out / LOCK_NAME}); "
                           "wait for it to finish or choose another --out")


def _try_lock(fd: int) -> bool:
    import fcntl
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False


def output_busy(out: Path) -> bool:
    """True when another process holds ``out``'s lock. Creates nothing (an early, cheap check)."""
    try:
        fd = os.open(out / LOCK_NAME, os.O_RDWR)
    except OSError:
        return False
    try:
        return not _try_lock(fd)
    finally:
        os.close(fd)  # closing drops our flock, if we got it


@contextmanager
def lock_output(out: Path, log=None) -> Iterator[Path]:
    """Create ``out``, hold its lock while the block runs, and remove stale temporary files.

    Raises :class:`OutputBusyError` when another process holds the lock.
    """
    out.mkdir(parents=True, exist_ok=True)
    fd = os.open(out / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        if not _try_lock(fd):
            raise busy_error(out)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        n = clean_stale_tmp(out)
        if n and log is not None:
            log(f"removed {n} temporary file{'s' if n > 1 else ''} left by an interrupted run in {out}")
        yield out
    finally:
        os.close(fd)  # releases the lock


def clean_stale_tmp(out: Path) -> int:
    """Remove the temporary files of interrupted atomic writes under ``out``; the number removed.

    Only call it holding the folder's lock: then no other writer can own them.
    """
    n = 0
    for d in (out, out / "points", out / "cache" / "compress", out / "cache" / "synth"):
        try:
            names = os.listdir(d)
        except OSError:
            continue
        for name in names:
            if _TMP.match(name):
                try:
                    os.unlink(d / name)
                    n += 1
                except (FileNotFoundError, IsADirectoryError, PermissionError):
                    pass
    return n


@dataclass
class Store:
    """The output folder: finished points, the caches and the tables."""

    root: Path

    @property
    def points(self) -> Path:
        return self.root / "points"

    def point_path(self, pid: str) -> Path:
        return self.points / f"{pid}.json"

    def read_point(self, pid: str) -> dict | None:
        p = self.point_path(pid)
        try:
            rec = json.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return None  # unreadable: computed again and replaced
        return rec if isinstance(rec, dict) and rec.get("point_id") == pid and "row" in rec else None

    def write_point(self, rec: dict) -> None:
        """Store a finished point as strict JSON; an undefined number (a 0/0 ratio) is ``null``."""
        atomic_write_text(self.point_path(rec["point_id"]), json_text(non_finite_to_null(rec), indent=None) + "\n")

    def compress_path(self, key: str) -> Path:
        return self.root / "cache" / "compress" / f"{key}.dcz"

    def synth_path(self, key: str) -> Path:
        return self.root / "cache" / "synth" / f"{key}.json"


def read_json(p: Path) -> dict | None:
    """A JSON object from ``p``, or None when it is missing or unreadable."""
    try:
        d = json.loads(p.read_text(encoding="utf-8"))
        return d if isinstance(d, dict) else None
    except (OSError, ValueError):
        return None
