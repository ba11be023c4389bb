"""Verilog export of a layer on an AcceleratorConfig, with ``$readmemh`` init files and a manifest.

:func:`export_layer` writes into ``out_dir``:

* ``<name>.v``: the array top (hw/array.py) from Amaranth's Verilog backend. Amaranth 0.5 bakes
  every memory's contents into the Verilog as an ``initial`` block of ``mem[i] = ...``
  assignments (it never emits ``$readmemh``), so this file is self-contained.
* ``<name>_readmemh.v``: the same Verilog with each of those ``initial`` blocks replaced by
  ``initial $readmemh("<file>.hex", mem);`` (file names relative to the simulator's working
  directory, e.g. the cocotb build directory, or a synthesis tool's run directory).
* one ``.hex`` file per memory, full depth, one word per line, two's complement for signed
  contents, made from the same image (hw/image.py) as the memories' init values:
  ``pe<p>_spmat.hex`` (sparse-matrix SRAM), ``pe<p>_ptr_even.hex`` / ``pe<p>_ptr_odd.hex``
  (pointer banks, all passes), ``pe<p>_codebook.hex`` (each PE's copy of the codebook) and
  ``acts.hex`` (input activations, one batch per word);
* ``<name>.json``: the manifest: ports (name, direction, width), parameters (the config, the
  layer's shape, passes, batches, format), and memories (name, Verilog module and memory name,
  width, depth, init file, layout).
"""
from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from pathlib import Path

from amaranth.back import verilog

from arch.config import AcceleratorConfig
from arch.fileio import atomic_write_text, json_text
from arch.fixedpoint import LayerFormat

from .array import EIEArray
from .pe import LOAD_CODEBOOK, LOAD_PTR_EVEN, LOAD_PTR_ODD, LOAD_SPMAT

__all__ = ["TOP_NAME", "ExportEstimate", "estimate_export", "export_layer", "memory_table", "hex_text", "read_hex",
           "verilog_inits", "to_readmemh"]

#: Module name of the generated top.
TOP_NAME = "eie_top"


def hex_text(values, width: int) -> str:
    """``$readmemh`` text: one word per line, ``ceil(width / 4)`` hex digits, two's complement."""
    digits = max(1, -(-width // 4))
    mask = (1 << width) - 1
    return "".join(f"{int(v) & mask:0{digits}x}\n" for v in values)


def read_hex(path) -> list[int]:
    """Parse a ``$readmemh`` file written by :func:`hex_text` (unsigned words; ``//`` comments skipped)."""
    out = []
    for line in Path(path).read_text().splitlines():
        line = line.split("//")[0].strip()
        if line:
            out.extend(int(tok, 16) for tok in line.split())
    return out


def memory_table(top: EIEArray, name: str = TOP_NAME) -> list[dict]:
    """Every memory of the top: name, Verilog module and memory name, width, depth, contents, file."""
    cfg, img = top.cfg, top.image
    mems = [{"name": "acts", "module": name, "memory": "acts", "width": img.act_word_bits,
             "depth": len(img.acts), "signed": False, "values": img.acts, "file": "acts.hex",
             "layout": f"one input batch per word: column b*{cfg.cols_per_batch}+s in bits "
                       f"[s*{cfg.act_bits}, (s+1)*{cfg.act_bits}) of word b"}]
    for p, pe in enumerate(img.pes):
        mod = f"{name}.pe{p}"
        mems += [
            {"name": f"pe{p}_spmat", "module": mod, "memory": "spmat", "width": cfg.sram_word_bits,
             "depth": len(pe.spmat), "signed": False, "values": pe.spmat, "file": f"pe{p}_spmat.hex",
             "layout": f"entries of all passes one after another, {cfg.entries_per_word} per word, "
                       f"entry = v | z << {cfg.index_bits}"},
            {"name": f"pe{p}_ptr_even", "module": mod, "memory": "ptr_even", "width": cfg.pointer_bits,
             "depth": len(pe.ptr_even), "signed": False, "values": pe.ptr_even, "file": f"pe{p}_ptr_even.hex",
             "layout": f"pointer j (even) of pass k at k*{img.ptr_stride // 2}+(j>>1)"},
            {"name": f"pe{p}_ptr_odd", "module": mod, "memory": "ptr_odd", "width": cfg.pointer_bits,
             "depth": len(pe.ptr_odd), "signed": False, "values": pe.ptr_odd, "file": f"pe{p}_ptr_odd.hex",
             "layout": f"pointer j (odd) of pass k at k*{img.ptr_stride // 2}+(j>>1)"},
            {"name": f"pe{p}_codebook", "module": mod, "memory": "codebook", "width": cfg.weight_bits,
             "depth": len(img.codebook), "signed": True, "values": img.codebook, "file": f"pe{p}_codebook.hex",
             "layout": "codebook index -> weight (two's complement)"},
        ]
    return mems


_MODULE = re.compile(r"^module\s+(\\\S+|\w+)\s*\(", re.M)
_INIT = re.compile(r"^(\s*)reg \[(\d+):0\] (\w+) \[(\d+):0\];\n\s*initial begin\n((?:\s*\w+\[\d+\] = [^;]+;\n)*)\s*end\n",
                   re.M)
_ASSIGN = re.compile(r"(\w+)\[(\d+)\] = (\d+)'h([0-9a-fA-FxzXZ_]+);")


def _modules(text: str):
    """``(module name without the escape, start, end)`` of each module in the Verilog text."""
    starts = [(m.group(1).lstrip("\\"), m.start()) for m in _MODULE.finditer(text)]
    for k, (nm, s) in enumerate(starts):
        yield nm, s, starts[k + 1][1] if k + 1 < len(starts) else len(text)


def verilog_inits(text: str) -> dict[tuple[str, str], list[int]]:
    """The baked init contents of every memory in Amaranth's Verilog: ``(module, memory) -> words``."""
    out = {}
    for mod, s, e in _modules(text):
        for m in _INIT.finditer(text, s, e):
            depth = int(m.group(4)) + 1
            vals = [0] * depth
            for a in _ASSIGN.finditer(m.group(5)):
                vals[int(a.group(2))] = int(a.group(4).replace("_", ""), 16)
            out[(mod, m.group(3))] = vals
    return out


def to_readmemh(text: str, files: dict[tuple[str, str], str]) -> str:
    """Replace the baked ``initial`` blocks of the memories in ``files`` by ``$readmemh``."""
    pieces, pos, done = [], 0, set()
    for mod, s, e in _modules(text):
        for m in _INIT.finditer(text, s, e):
            key = (mod, m.group(3))
            if key not in files:
                continue
            pieces.append(text[pos:m.start()])
            ind = m.group(1).lstrip("\n")
            # ascending address range: $readmemh starts at address 0 under 1364-1995 and -2005 alike
            pieces.append(f"{ind}reg [{m.group(2)}:0] {m.group(3)} [0:{m.group(4)}];\n"
                          f"{ind}initial $readmemh(\"{files[key]}\", {m.group(3)});\n")
            pos = m.end()
            done.add(key)
    pieces.append(text[pos:])
    missing = set(files) - done
    if missing:
        raise RuntimeError(f"memories not found in the Verilog: {sorted(missing)}")
    return "".join(pieces)


#: Calibration of :func:`estimate_export` (docs/hardware.md, "Output size and time"), measured with
#: Amaranth 0.5 on layers of 10 x 71 for 1-64 PEs, 256 B-128 KiB of sparse-matrix SRAM and 1-64
#: activation registers per PE R: the Verilog bytes of a PE's logic (everything but the memory
#: initialisers, the broadcaster and LNZD included) are ``LOGIC_BYTES_PER_PE + LOGIC_BYTES_PER_REG
#: x R + LOGIC_BYTES_PER_REG2 x R**2`` (within 12% of the measured ones), and Amaranth's Verilog
#: backend takes about ``SECONDS_PER_MB`` per MB of ``<name>.v`` (with Python's cyclic garbage
#: collector run rarely, as ``dcsim verilog`` runs it; 1.5-2.5x as long with its default thresholds).
#: The raw-accumulator read port and the two access counters per PE (SRAM word reads, pointer
#: reads) with the SRAM read enable added about 2,500 bytes per PE (measured at 1-16 PEs, R = 1-64).
LOGIC_BYTES_PER_PE = 31_100
LOGIC_BYTES_PER_REG = 1_260
LOGIC_BYTES_PER_REG2 = 25
SECONDS_PER_MB = 2.1


@dataclass(frozen=True)
class ExportEstimate:
    """What :func:`export_layer` will write for a machine and layer shape (bytes) and take (s)."""

    verilog_bytes: int        # <name>.v: the logic and every memory's init values
    readmemh_bytes: int       # <name>_readmemh.v: the logic (0 for the host top)
    hex_bytes: int            # the .hex files
    manifest_bytes: int       # <name>.json
    init_words: int           # memory words baked into <name>.v
    seconds: float            # rough time of the export, mostly Amaranth's Verilog backend

    @property
    def total_bytes(self) -> int:
        return self.verilog_bytes + self.readmemh_bytes + self.hex_bytes + self.manifest_bytes


def _digits_below(n: int) -> int:
    """Decimal digits of 0, 1, ..., n - 1 together (the addresses of the init lines)."""
    total, lo, d = 0, 0, 1
    while lo < n:
        hi = min(n, 10 ** d)
        total += (hi - lo) * d
        lo, d = hi, d + 1
    return total


def estimate_export(cfg: AcceleratorConfig, n_rows: int, n_cols: int, host: bool = False) -> ExportEstimate:
    """Size and time of :func:`export_layer` for an ``n_rows x n_cols`` layer (bias column included),
    without building anything.

    Amaranth bakes every memory word into ``<name>.v`` as one ``mem[i] = W'h...;`` line (all-zero
    words and the host top's empty memories included), so the memory part is exact from the
    memory shapes: per PE the sparse-matrix SRAM (``cfg.spmat_words`` words: the dominant term,
    ``n_pe x spmat_words`` lines), the two pointer banks and the codebook, and the activation
    memory (one ``cols_per_batch x act_bits``-bit word per input batch). The logic is ``n_pe``
    times the calibrated bytes per PE (above). The total came within 12% of the measured outputs
    (within 1% above 10 MB, where the memory images dominate); the time, ``SECONDS_PER_MB`` per MB of ``<name>.v``, is
    rough: 0.7-1.1x of it was measured on the calibration machine, and a slower one takes longer.
    """
    n_passes = max(1, -(-n_rows // cfg.rows_per_pass))
    n_batches = max(1, -(-n_cols // cfg.cols_per_batch))
    stride = (n_cols + 1) + ((n_cols + 1) & 1)
    ptr_depth = n_passes * stride // 2
    per_pe = [("spmat", cfg.spmat_words, cfg.sram_word_bits), ("ptr_even", ptr_depth, cfg.pointer_bits),
              ("ptr_odd", ptr_depth, cfg.pointer_bits), ("codebook", cfg.codebook_size, cfg.weight_bits)]
    top = [("acts", n_batches, cfg.cols_per_batch * cfg.act_bits)]

    def sizes(mems):
        init = hexb = words = 0
        for mem, depth, width in mems:
            digits = -(-width // 4)
            # "    mem[i] = W'h<digits>;\n"
            init += depth * (13 + len(mem) + len(str(width)) + digits) + _digits_below(depth)
            hexb += depth * (digits + 1)
            words += depth
        return init, hexb, words

    (pe_init, pe_hex, pe_words), (top_init, top_hex, top_words) = sizes(per_pe), sizes(top)
    regs = cfg.act_regs_per_pe
    logic = cfg.n_pe * (LOGIC_BYTES_PER_PE + LOGIC_BYTES_PER_REG * regs + LOGIC_BYTES_PER_REG2 * regs * regs)
    verilog_bytes = logic + top_init + cfg.n_pe * pe_init
    hexb, words = top_hex + cfg.n_pe * pe_hex, top_words + cfg.n_pe * pe_words
    return ExportEstimate(verilog_bytes=verilog_bytes, readmemh_bytes=0 if host else logic, hex_bytes=hexb,
                          manifest_bytes=4_000 + 1_000 * cfg.n_pe, init_words=words,
                          seconds=SECONDS_PER_MB * verilog_bytes / 1e6)


def _to_verilog(top, name: str, step) -> str:
    """``verilog.convert(top, name=name, emit_src=False)`` in its two stages, each a ``step``: the
    Amaranth netlist as RTLIL, then Yosys' ``write_verilog`` (the same text; the Verilog backend
    has no progress hooks of its own)."""
    from amaranth.back import rtlil

    to_text = getattr(verilog, "_convert_rtlil_text", None)
    if to_text is None:                 # another Amaranth: one step
        with step("convert to Verilog (Amaranth and Yosys)"):
            return verilog.convert(top, name=name, emit_src=False)
    with step("build the netlist (Amaranth, RTLIL)"):
        il = rtlil.convert(top, name=name, emit_src=False)
    with step("write Verilog (Yosys)"):
        return to_text(il)


def export_layer(out_dir, cfg: AcceleratorConfig, indices, codebook_q, x, fmt: LayerFormat, relu: bool,
                 name: str = TOP_NAME, host: bool = False, step=None) -> Path:
    """Write the Verilog, the ``.hex`` init files and the manifest of one layer (module docstring).

    Args:
        out_dir: the output folder (created).
        cfg: the machine; indices: (n_rows, n_cols) codebook indices (bias column included);
        codebook_q: integer codebook; x: int activations (n_cols,); fmt: the layer's formats;
        relu: ReLU at write-back; name: the top module's name.
        host: export the host-interface top (``EIEArray(..., host=True)``): every memory starts
            empty and is written through the ports (``start``, ``act_*``, ``ld_*``); the ``.hex``
            files then hold what the host loads, no ``_readmemh.v`` is written, and the manifest
            has ``"host": true`` and the ``ld_mem`` codes.
        step: ``step(name)``, a context manager around each of its four stages
            (a :class:`dcsim.progress.Steps` step), or None.

    Returns:
        The path of ``<name>.v`` (memories baked in). ``<name>_readmemh.v``, the hex files and
        ``<name>.json`` are beside it.
    """
    step = step or (lambda _name: contextlib.nullcontext())
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with step("build the PE array and its memory images"):
        top = EIEArray(cfg, indices, codebook_q, x, fmt, relu, host=host)
    ports = [{"name": pname, "direction": member.flow.value, "width": len(getattr(top, pname))}
             for pname, member in top.signature.members.items()]
    text = _to_verilog(top, name, step)
    with step("write the Verilog, memory images and manifest"):
        return _write_export(out, top, name, text, ports, cfg, fmt, relu, host)


def _write_export(out: Path, top, name: str, text: str, ports: list, cfg, fmt: LayerFormat, relu: bool,
                  host: bool) -> Path:
    """The files of :func:`export_layer` from the built array ``top`` and its Verilog ``text``."""
    vpath = out / f"{name}.v"
    atomic_write_text(vpath, text)
    mems = memory_table(top, name)
    for mem in mems:
        atomic_write_text(out / mem["file"], hex_text(mem["values"], mem["width"]))
    if not host:
        atomic_write_text(out / f"{name}_readmemh.v",
                          to_readmemh(text, {(mem["module"], mem["memory"]): mem["file"] for mem in mems}))
    img = top.image
    manifest = {
        "top": name, "verilog": vpath.name, "verilog_readmemh": None if host else f"{name}_readmemh.v",
        "host": bool(host),
        **({"load_mem_codes": {"spmat": LOAD_SPMAT, "ptr_even": LOAD_PTR_EVEN, "ptr_odd": LOAD_PTR_ODD,
                                "codebook": LOAD_CODEBOOK}} if host else {}),
        "clock": "clk", "reset": "rst (synchronous, active high)",
        "ports": [{"name": "clk", "direction": "in", "width": 1}, {"name": "rst", "direction": "in", "width": 1}]
                 + ports,
        "parameters": {
            "n_pe": cfg.n_pe, "n_rows": img.n_rows, "n_cols": img.n_cols, "relu": bool(relu),
            "n_passes": img.n_passes, "n_batches": img.n_batches, "rows_per_pass": cfg.rows_per_pass,
            "cols_per_batch": cfg.cols_per_batch, "ptr_stride": img.ptr_stride,
            "entries_per_pe": [pe.n_entries for pe in img.pes],
            "config": cfg.to_dict() if hasattr(cfg, "to_dict") else None, "format": fmt.to_dict(),
        },
        "memories": [{k: v for k, v in mem.items() if k != "values"} for mem in mems],
    }
    atomic_write_text(out / f"{name}.json", json_text(manifest, indent=1))
    return vpath
