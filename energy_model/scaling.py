"""Technology scaling of dynamic energy from 45 nm to 32/28/22/16/14/10/7 nm.

The 45 nm per-action table (``data/45nm.toml``) is Horowitz's (ISSCC 2014), given
at 45 nm and 0.9 V. Other nodes multiply each entry by a factor chosen by the
entry's ``scale`` kind:

- ``logic``: adders, multipliers, registers. The factor is Stillmaker & Baas's
  fitted energy-per-operation polynomial ``E(V) = a V^2 + b V + c`` for the
  high-performance (HP) device of each node, evaluated at the node's supply
  voltage, divided by the same polynomial for 45 nm at 0.9 V:

      factor(node) = E_node(Vdd_node) / E_45(0.9 V)

  Source: A. Stillmaker and B. Baas, "Scaling equations for the accurate
  prediction of CMOS device performance from 180 nm to 7 nm", Integration, the
  VLSI Journal 58 (2017) 74-81, doi:10.1016/j.vlsi.2017.02.002 (energy
  coefficients of the HP models). The coefficients below are as reproduced in the
  MIT-licensed ``nodeScale`` tool (UCLA NanoCAD, github.com/wromaszkan/nodeScale);
  the 32 nm HP row (0.8367, -0.4341, 0.1701) and its value 0.4571 at 0.9 V are
  confirmed by the authors' own corrigendum on the paper's web page. The other
  rows were not checked against the paper's table here.
- ``sram``: SRAM dynamic energy. dcsim assumption: it follows the same CV^2
  factor as logic. SRAM supply voltages scale less than logic (bit-cell Vmin) and
  array energy is dominated by bit- and word-line wires, so this is optimistic
  at the smaller nodes; override the SRAM anchors if you have a characterised
  macro for your node.
- ``wire``: the activation broadcast wires. dcsim assumption: scaled like logic.
- ``dram``: not scaled. The DRAM is a separate chip in its own process; its
  energy per bit is set by the DRAM array and the off-chip interface (I/O
  drivers, termination, channel capacitance), none of which changes when the
  accelerator's logic moves to another node.
- ``leakage``: not scaled (no simple scaling law holds for static power; give
  your node's value as an override).

Supply voltages per node are a dcsim assumption (typical nominal supplies of
each generation), except 45 nm at 0.9 V, which is the voltage of Horowitz's
table, and 32 nm at 0.9 V, the voltage of Stillmaker & Baas's own worked
example. 28 nm and 22 nm are not in Stillmaker & Baas's table; their factors are
interpolated linearly in log(factor) against log(node) between 32 nm and 20 nm
(a dcsim assumption).
"""
from __future__ import annotations

import math

from arch.config import TECH_NODES
from arch.errors import DcsimError

#: Nodes dcsim scales to: the machine's allowed ``tech_node`` values.
NODES = TECH_NODES
BASE_NODE = 45

STILLMAKER = ("Stillmaker & Baas, 'Scaling equations for the accurate prediction of CMOS device "
              "performance from 180 nm to 7 nm', Integration 58 (2017) 74-81, HP energy fit")

#: Energy-per-operation polynomial (a, b, c) of E(V) = a V^2 + b V + c, HP devices.
STILLMAKER_HP_ENERGY: dict[int, tuple[float, float, float]] = {
    45: (1.018, -0.3107, 0.1539),
    32: (0.8367, -0.4341, 0.1701),
    20: (0.373, -0.1582, 0.04104),
    16: (0.2958, -0.1241, 0.03024),
    14: (0.2363, -0.09675, 0.02239),
    10: (0.2068, -0.09311, 0.02375),
    7: (0.1776, -0.09097, 0.02447),
}

#: Supply voltage (V) at which each fitted node is evaluated.
NODE_VDD: dict[int, float] = {45: 0.9, 32: 0.9, 20: 0.9, 16: 0.8, 14: 0.8, 10: 0.75, 7: 0.7}
VDD_SOURCE = {
    45: "0.9 V: the voltage of Horowitz's 45 nm table",
    32: "0.9 V: Stillmaker & Baas's worked example (corrigendum)",
    20: "0.9 V: dcsim assumption (typical nominal supply)",
    16: "0.8 V: dcsim assumption (typical nominal supply)",
    14: "0.8 V: dcsim assumption (typical nominal supply)",
    10: "0.75 V: dcsim assumption (typical nominal supply)",
    7: "0.7 V: dcsim assumption (typical nominal supply)",
}

#: How each kind of table entry scales with the node.
SCALE_KINDS = ("logic", "sram", "wire", "dram", "leakage")


class ScalingError(DcsimError, ValueError):
    """An unknown node or scale kind."""


def _poly(node: int) -> float:
    a, b, c = STILLMAKER_HP_ENERGY[node]
    v = NODE_VDD[node]
    return a * v * v + b * v + c


def _check_node(node: object) -> int:
    if isinstance(node, bool) or not isinstance(node, int) or node not in NODES:
        raise ScalingError(f"tech_node = {node!r} is not allowed; choose one of "
                           f"{', '.join(map(str, NODES))} (nm)")
    return node


def logic_factor(node: int) -> float:
    """Dynamic-energy factor of logic at ``node`` relative to 45 nm / 0.9 V (1.0 at 45 nm)."""
    node = _check_node(node)
    if node in STILLMAKER_HP_ENERGY:
        return _poly(node) / _poly(BASE_NODE)
    # 28 and 22 nm: log-log interpolation between the fitted 32 and 20 nm points
    lo, hi = 20, 32
    t = (math.log(hi) - math.log(node)) / (math.log(hi) - math.log(lo))
    lf = (1 - t) * math.log(_poly(hi)) + t * math.log(_poly(lo))
    return math.exp(lf) / _poly(BASE_NODE)


def scale_factor(kind: str, node: int) -> tuple[float, str]:
    """(factor, source) that multiplies a 45 nm entry of this ``kind`` at ``node``."""
    node = _check_node(node)
    if kind not in SCALE_KINDS:
        raise ScalingError(f"scale = {kind!r} is not allowed; choose one of {', '.join(SCALE_KINDS)}")
    if kind in ("dram", "leakage") or node == BASE_NODE:
        why = {"dram": "DRAM energy is not scaled by the logic node (separate chip and I/O)",
               "leakage": "leakage is not scaled (give the node's value as an override)"}
        return 1.0, why.get(kind, "45 nm: no scaling")
    f = logic_factor(node)
    interp = " (interpolated log-log between 32 and 20 nm: dcsim assumption)" if node in (28, 22) else ""
    base = (f"scaled 45 -> {node} nm by x{f:.4g}: {STILLMAKER}, E({node} nm)/E(45 nm at 0.9 V){interp}")
    if kind == "sram":
        base += "; dcsim assumption: SRAM dynamic energy follows the logic factor (optimistic)"
    elif kind == "wire":
        base += "; dcsim assumption: broadcast wires follow the logic factor"
    return f, base


def scaling_rows() -> list[dict]:
    """One row per node: the factor for each kind, the supply voltage and its source (for docs)."""
    rows = []
    for n in NODES:
        row = {"node_nm": n}
        for k in SCALE_KINDS:
            row[k] = scale_factor(k, n)[0]
        row["vdd_V"] = NODE_VDD.get(n)
        row["vdd_source"] = VDD_SOURCE.get(n, "interpolated between 32 and 20 nm")
        rows.append(row)
    return rows


# ---------------------------------------------------------------------------
# area scaling (energy_model/data/area_45nm.toml, energy_model/chip.py)
# ---------------------------------------------------------------------------

#: How each kind of area entry scales with the node.
AREA_SCALE_KINDS = ("sram_area", "logic_area")

#: Published high-density 6T SRAM bit-cell areas (um^2) per node, with their sources.
SRAM_BITCELL_UM2: dict[int, tuple[float, str]] = {
    45: (0.346, "Intel 45 nm 6T cell 0.346 um^2 (Mistry et al., IEDM 2007)"),
    32: (0.171, "Intel 32 nm 6T cell 0.171 um^2 (Natarajan et al., IEDM 2008)"),
    22: (0.092, "Intel 22 nm 6T cell 0.092 um^2 (Auth et al., VLSI 2012)"),
    14: (0.0588, "Intel 14 nm 6T cell 0.0588 um^2 (Natarajan et al., IEDM 2014)"),
    10: (0.0312, "Intel 10 nm high-density 6T cell 0.0312 um^2 (Auth et al., IEDM 2017)"),
    7: (0.027, "TSMC 7 nm high-density 6T cell 0.027 um^2 (Wu et al., IEDM 2016)"),
}


def _bitcell(node: int) -> tuple[float, str]:
    if node in SRAM_BITCELL_UM2:
        return SRAM_BITCELL_UM2[node]
    # 28 nm between 32 and 22, 16 nm between 22 and 14: linear in log(area) against log(node)
    lo, hi = max(n for n in SRAM_BITCELL_UM2 if n < node), min(n for n in SRAM_BITCELL_UM2 if n > node)
    t = (math.log(hi) - math.log(node)) / (math.log(hi) - math.log(lo))
    a = math.exp((1 - t) * math.log(SRAM_BITCELL_UM2[hi][0]) + t * math.log(SRAM_BITCELL_UM2[lo][0]))
    return a, (f"{a:.4g} um^2 interpolated log-log between {hi} nm ({SRAM_BITCELL_UM2[hi][1]}) and {lo} nm "
               f"({SRAM_BITCELL_UM2[lo][1]}): dcsim assumption")


def area_scale_factor(kind: str, node: int) -> tuple[float, str]:
    """(factor, source) that multiplies a 45 nm area entry of this ``kind`` at ``node``.

    - ``sram_area``: the ratio of published 6T bit-cell areas (:data:`SRAM_BITCELL_UM2`;
      28 and 16 nm interpolated log-log, a dcsim assumption).
    - ``logic_area``: ``(node / 45)^2`` (dcsim assumption: ideal area scaling of standard
      cells; real cells shrink less than this at 16 nm and below, so it is optimistic there).
    """
    node = _check_node(node)
    if kind not in AREA_SCALE_KINDS:
        raise ScalingError(f"scale = {kind!r} is not allowed for an area; choose one of {', '.join(AREA_SCALE_KINDS)}")
    if node == BASE_NODE:
        return 1.0, "45 nm: no scaling"
    if kind == "sram_area":
        a, src = _bitcell(node)
        f = a / SRAM_BITCELL_UM2[BASE_NODE][0]
        return f, f"scaled 45 -> {node} nm by x{f:.4g}: bit-cell area ratio, {src} / {SRAM_BITCELL_UM2[BASE_NODE][1]}"
    f = (node / BASE_NODE) ** 2
    return f, (f"scaled 45 -> {node} nm by x{f:.4g} = ({node}/45)^2: dcsim assumption (ideal standard-cell "
               f"area scaling; optimistic at 16 nm and below)")
