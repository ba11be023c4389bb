"""Reading a design-space sweep's rows, for its plots (:mod:`reports.dse_plots`) and its report
(:mod:`reports.dse_report`).

The sweep runner (``dcsim dse``, dcsim/dse/) turns every finished point into one flat row (a
dict: ``point``, ``workload``, ``status``, ``accel.<field>``, ``compress.<field>``, the
simulation, energy, compression and synthesis columns). This module holds what both readers
need: the ok rows, numbers out of cells (which may be strings when read back from results.csv),
the manifest's axes and which of them vary, short axis names, and Pareto fronts.
"""
from __future__ import annotations

import json
import math
from typing import Any, Iterable, Mapping, Sequence

__all__ = [
    "area_rows", "finite_number", "latency_energy_rows", "pareto_front_nd", "load_balance_pct", "manifest_axes", "ok_rows", "pareto_front",
    "pareto_rows", "positive_number", "short_axis_names", "value_key", "varying_axes",
]


def ok_rows(rows: Iterable[Mapping]) -> list[Mapping]:
    """The rows with ``status == "ok"`` (a row without a status counts as ok)."""
    return [r for r in rows if r.get("status", "ok") == "ok"]


def finite_number(v: Any) -> float | None:
    """A finite float, or None (None, bools, empty or non-numeric strings, NaN, inf)."""
    if v is None or isinstance(v, bool):
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def positive_number(v: Any) -> float | None:
    """A finite float > 0, or None."""
    f = finite_number(v)
    return f if f is not None and f > 0 else None


def load_balance_pct(row: Mapping) -> float | None:
    """The row's load-balance efficiency in percent, or None."""
    v = finite_number(row.get("load_balance_efficiency"))
    return None if v is None else 100.0 * v


def value_key(v: Any) -> Any:
    """A hashable stand-in for a cell value (lists and dicts as canonical JSON)."""
    if isinstance(v, (list, dict, tuple)):
        return json.dumps(v, sort_keys=True, default=str)
    return v


def manifest_axes(manifest: Mapping | None) -> list[str]:
    """The manifest's axes: ``axes``, then any grid axis not in it."""
    manifest = manifest or {}
    axes = list(manifest.get("axes") or [])
    for g in manifest.get("grids") or []:
        for a in (g.get("axes") or {}):
            if a not in axes:
                axes.append(a)
    return axes


def varying_axes(rows: Sequence[Mapping], manifest: Mapping | None) -> list[str]:
    """The manifest's axes (``axes``, then any grid axis not in it) with more than one distinct
    value among the ok rows (None counts as a value), in the manifest's order."""
    ok = ok_rows(rows)
    return [a for a in manifest_axes(manifest) if len({value_key(r.get(a)) for r in ok}) > 1]


def short_axis_names(axes: Sequence[str]) -> dict[str, str]:
    """``{axis: name}``: ``accel.n_pe`` -> ``n_pe`` when no other axis ends in ``.n_pe`` (or is
    ``n_pe``), else the full name."""
    tails: dict[str, int] = {}
    for a in axes:
        t = a.split(".", 1)[-1]
        tails[t] = tails.get(t, 0) + 1
    return {a: (a.split(".", 1)[-1] if tails[a.split(".", 1)[-1]] == 1 else a) for a in axes}


def pareto_front(xs: Sequence[float], ys: Sequence[float]) -> list[int]:
    """Indices of the non-dominated points when minimising both x and y, sorted by x.

    A point is dominated when another is no worse in both and better in one. Points equal in
    both coordinates are kept once (the lowest index). Points with a None or non-finite
    coordinate are never on the front.
    """
    if len(xs) != len(ys):
        raise ValueError(f"pareto_front: {len(xs)} x values for {len(ys)} y values")
    pts = [(float(x), float(y), i) for i, (x, y) in enumerate(zip(xs, ys))
           if finite_number(x) is not None and finite_number(y) is not None]
    pts.sort()
    front, best_y = [], math.inf
    for x, y, i in pts:
        if y < best_y:                 # strictly better y than every point with x' <= x
            front.append(i)
            best_y = y
    return front


def latency_energy_rows(rows: Sequence[Mapping]) -> dict[str, list[Mapping]]:
    """workload -> its ok rows with a positive latency and energy (sweep order)."""
    out: dict[str, list[Mapping]] = {}
    for r in ok_rows(rows):
        if positive_number(r.get("latency_us")) is not None and positive_number(r.get("energy_pJ")) is not None:
            out.setdefault(str(r.get("workload", "")), []).append(r)
    return out


def pareto_front_nd(points: Sequence[Sequence[float]]) -> list[int]:
    """Indices of the non-dominated points when minimising every coordinate (any number of
    them), in input order. Points equal in every coordinate are kept once (the lowest index);
    points with a None or non-finite coordinate are never on the front."""
    ok = [(i, tuple(float(v) for v in p)) for i, p in enumerate(points)
          if all(finite_number(v) is not None for v in p)]
    front = []
    for i, p in ok:
        dominated = any(all(a <= b for a, b in zip(q, p)) and (q != p or j < i) for j, q in ok if j != i)
        if not dominated:
            front.append(i)
    return front


def area_rows(rows: Sequence[Mapping]) -> dict[str, list[Mapping]]:
    """workload -> its ok rows with a positive latency, energy and chip area (sweep order)."""
    return {w: [r for r in wr if positive_number(r.get("area_mm2")) is not None]
            for w, wr in latency_energy_rows(rows).items()
            if any(positive_number(r.get("area_mm2")) is not None for r in wr)}


def pareto_rows(workload_rows: Sequence[Mapping]) -> list[Mapping]:
    """The rows of one workload (from :func:`latency_energy_rows`) on its energy-latency Pareto
    front, by increasing latency."""
    idx = pareto_front([float(r["latency_us"]) for r in workload_rows],
                       [float(r["energy_pJ"]) for r in workload_rows])
    return [workload_rows[i] for i in idx]
