"""Shared by the benchmark scripts: the machine description and the atomic JSON write."""
from __future__ import annotations

import json
import os
import platform
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from arch.fileio import atomic_write_text  # noqa: E402


def machine_info() -> dict:
    """What a figure was measured on."""
    import numpy as np

    return {"cpus": os.cpu_count(), "python": platform.python_version(), "numpy": np.__version__,
            "platform": platform.platform()}


def write_json(path: str | os.PathLike, doc: dict) -> Path:
    """Write one benchmark's result (atomic); returns the path."""
    p = Path(path)
    atomic_write_text(p, json.dumps(doc, indent=2) + "\n")
    return p
