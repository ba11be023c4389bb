"""Verilog export of a single-tile layer on an AcceleratorConfig (memory contents baked in as init)."""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np
from amaranth.back import verilog

from arch.config import AcceleratorConfig
from arch.fixedpoint import LayerFormat

from .array import EIEArray

__all__ = ["TOP_NAME", "export_layer"]

#: Module name of the generated top.
TOP_NAME = "eie_top"


def _atomic_write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def export_layer(out_dir, cfg: AcceleratorConfig, indices, codebook_q, x, fmt: LayerFormat, relu: bool,
                 name: str = TOP_NAME) -> Path:
    """Write ``<out_dir>/<name>.v`` (the array top with the layer in its memories) and a manifest.

    Returns the path of the Verilog file. The manifest ``<name>.json`` lists the ports (name,
    direction, width), the config and the layer format.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    top = EIEArray(cfg, indices, codebook_q, x, fmt, relu)
    text = verilog.convert(top, name=name, emit_src=False)
    vpath = out / f"{name}.v"
    _atomic_write(vpath, text)
    ports = [{"name": pname, "direction": member.flow.value, "width": len(getattr(top, pname))}
             for pname, member in top.signature.members.items()]
    manifest = {"top": name, "ports": ports, "clock": "clk", "reset": "rst",
                "n_rows": top.n_rows, "n_cols": top.n_cols, "relu": bool(relu),
                "config": cfg.to_dict() if hasattr(cfg, "to_dict") else None, "format": fmt.to_dict(),
                "entries_per_pe": [pe.n_entries for pe in top.streams.pes]}
    _atomic_write(out / f"{name}.json", json.dumps(manifest, indent=1, default=str))
    return vpath
