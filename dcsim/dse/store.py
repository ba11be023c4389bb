"""The output folder of a sweep: finished points (one JSON file each), the caches, the tables.

A point is written as soon as it finishes (temporary file, fsync, rename), under a content hash
of everything that determines it (dcsim/dse/sweep.py, ``point_id``), so a sweep killed at any
moment resumes by skipping the points on disk.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from arch.fileio import atomic_write_text, json_default

__all__ = ["Store", "read_json"]


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
        atomic_write_text(self.point_path(rec["point_id"]), json.dumps(rec, default=json_default) + "\n")

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
