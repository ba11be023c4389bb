"""Plain-text and markdown tables, per-layer CSV and JSON, written atomically.

:func:`format_value` is the one way every report writes a number or a cell (text tables,
markdown tables, plot legends and titles); :func:`markdown_table` is the one markdown table.
"""
from __future__ import annotations

import csv
import io
import json
import math
import numbers
import os
from typing import Any, Mapping, Sequence

from arch.fileio import atomic_write_text, json_text

__all__ = ["format_value", "format_table", "markdown_table", "write_csv", "write_json"]


def format_value(v: Any, *, none: str = "", exact: bool = False) -> str:
    """A number or cell value as text, the same in every table, legend and title.

    - ``None`` -> ``none`` (empty by default; legends pass ``"-"``);
    - bools -> ``yes`` / ``no``;
    - ints -> with thousands separators (``2,048``);
    - floats -> two decimals from 1 on (``46.34``, ``45189.95``), three significant digits below 1
      and from 1e6 on (``0.535``, ``0.0123``, ``1.72e+08``); ``0.00``, ``nan`` and ``inf`` as such. With ``exact`` (a config value in a
      legend or title, which must read as it was set), the shortest form (``0.065``, ``800``);
    - lists, tuples and dicts -> compact JSON; anything else -> ``str(v)``.
    """
    if v is None:
        return none
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, numbers.Integral):          # also numpy integers
        return str(int(v)) if exact else f"{int(v):,}"
    if isinstance(v, numbers.Real):              # also numpy floats
        v = float(v)
        if not math.isfinite(v):
            return str(v)
        if exact:
            return f"{v:g}"
        if v != 0 and (abs(v) >= 1e6 or abs(v) < 1):
            return f"{v:.3g}"
        return f"{v:.2f}"
    if isinstance(v, (list, tuple, dict)):
        return json.dumps(v, default=str)
    return str(v)


def format_table(rows: Sequence[dict], columns: Sequence[tuple[str, str]], title: str | None = None,
                 none: str = "") -> str:
    """Right-aligned text table; ``columns`` are (key, header-with-unit) pairs; ``none`` shows a missing value."""
    heads = [h for _, h in columns]
    body = [[format_value(r.get(k), none=none) for k, _ in columns] for r in rows]
    widths = [max(len(h), *(len(b[i]) for b in body)) if body else len(h) for i, h in enumerate(heads)]
    lines = []
    if title:
        lines.append(title)
    lines.append("  ".join(h.rjust(w) for h, w in zip(heads, widths)))
    lines.append("  ".join("-" * w for w in widths))
    for b in body:
        lines.append("  ".join(c.rjust(w) for c, w in zip(b, widths)))
    return "\n".join(lines)


def markdown_table(rows: Sequence[Mapping], columns: Sequence[tuple[str, str]], none: str = "") -> str:
    """A markdown table; ``columns`` are (key, header-with-unit) pairs, cells by :func:`format_value`
    (a missing key shows ``none``, empty by default; ``|`` is escaped and line breaks become spaces)."""
    def cell(v: Any) -> str:
        return format_value(v, none=none).replace("|", "\\|").replace("\r", " ").replace("\n", " ")

    lines = ["| " + " | ".join(h for _, h in columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(r.get(k)) for k, _ in columns) + " |" for r in rows]
    return "\n".join(lines)


def write_csv(path: str | os.PathLike, rows: Sequence[dict]) -> None:
    """Per-layer CSV (columns = union of keys in first-seen order)."""
    cols: list[str] = []
    for r in rows:
        for k in r:
            if k not in cols:
                cols.append(k)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: r.get(k, "") for k in cols})
    atomic_write_text(path, buf.getvalue())


def write_json(path: str | os.PathLike, obj) -> None:
    """``obj`` as strict JSON (no NaN / Infinity; :func:`arch.fileio.json_text`), written atomically.
    The text is made before the file is touched, so a refused value writes nothing."""
    atomic_write_text(path, json_text(obj, indent=2) + "\n")


