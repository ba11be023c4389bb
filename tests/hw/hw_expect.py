"""What the RTL must show after ``done``, from the reference and the engine (shared by the Amaranth
simulator tests and the cocotb testbenches of tests/hw/).

* :func:`reference_accumulators`: every row's raw accumulator (before write-back) by the
  reference's integer arithmetic (arch.fixedpoint ``term`` and ``accumulate``, column order);
* :func:`engine_run`: ``sim.engine.run_layer``'s result and the raw accumulators the engine holds
  before its write-back;
* :func:`spmat_reads_model`: per PE, the sparse-matrix SRAM word reads of
  docs/microarchitecture.md's access table (a fetch whose word differs from the PE's previous
  fetch in the tile), with the word of an entry taken at its address in the PE's SRAM as
  hw/image.py lays the passes out one after another (what the RTL reads and sim.engine counts);
* :func:`expectations`: all of it as the JSON-able dict the cocotb testbenches read.
"""
from __future__ import annotations

from unittest import mock

import numpy as np

import sim.engine
from arch.fixedpoint import accumulate, term
from sim.engine import prepare_layer, run_layer
from sim.reference import reference_layer

__all__ = ["reference_accumulators", "engine_run", "spmat_reads_model", "expectations", "check_engine_accesses"]


def reference_accumulators(case) -> list[int]:
    """Every row's accumulator after the layer, before write-back: ``accumulate`` of each column's
    ``term`` in column order (the bias column included), the reference's own arithmetic."""
    idx = np.asarray(case.indices)
    cb = np.asarray(case.codebook_q, dtype=np.int64)
    acc = np.zeros(idx.shape[0], dtype=np.int64)
    for j, a in enumerate(np.asarray(case.x, dtype=np.int64)):
        if a:
            acc = accumulate(acc, term(a, cb[idx[:, j]], case.fmt), case.fmt)
    return [int(v) for v in acc]


def engine_run(case, prep=None):
    """``run_layer`` on ``case`` and the raw accumulators it wrote back (taken where
    ``run_layer`` hands them to ``make_result``). Returns ``(result, accumulators)``."""
    prep = prep if prep is not None else prepare_layer(case.indices, case.cfg)
    held = {}
    real = sim.engine.make_result

    def spy(prep_, acc, *args, **kw):
        held["acc"] = np.array(acc, dtype=np.int64, copy=True)
        return real(prep_, acc, *args, **kw)

    with mock.patch.object(sim.engine, "make_result", spy):
        res = run_layer(prep, case.codebook_q, case.x, case.fmt, case.relu)
    return res, [int(v) for v in held["acc"]]


def spmat_reads_model(case) -> list[int]:
    """Per PE, the SRAM word reads of the access table, tile by tile (passes outer, batches inner):
    a fetch reads when its word (``address >> slot_bits``) differs from the PE's previous fetch in
    the tile; the first fetch of a tile always reads. Addresses are in the PE's SRAM, each pass's
    stream after the previous passes', as hw/image.py stores them."""
    cfg = case.cfg
    prep = prepare_layer(case.indices, cfg)
    x = np.asarray(case.x)
    sb = cfg.slot_bits
    reads = [0] * cfg.n_pe
    base = [0] * cfg.n_pe
    bb = prep.batch_bounds
    for k, streams in enumerate(prep.streams):
        for b in range(len(bb) - 1):
            J = [j for j in range(int(bb[b]), int(bb[b + 1])) if x[j] != 0]
            for p, pe in enumerate(streams.pes):
                last = None
                for j in J:
                    for a in range(int(pe.col_ptr[j]) + base[p], int(pe.col_ptr[j + 1]) + base[p]):
                        if a >> sb != last:
                            reads[p] += 1
                            last = a >> sb
        for p, pe in enumerate(streams.pes):
            base[p] += int(pe.n_entries)
    return reads


def check_engine_accesses(case, res) -> tuple[list[int], list[int]]:
    """The engine's access counts against the table's rule: its ``spmat_sram`` reads are
    :func:`spmat_reads_model`'s, its ``ptr_sram`` reads 2 per pop (every PE pops every broadcast).
    Returns the per-PE counts ``(spmat_reads, ptr_reads)`` the RTL must show."""
    spmat = spmat_reads_model(case)
    assert sum(spmat) == res.accesses["spmat_sram"]["reads"], (spmat, res.accesses["spmat_sram"])
    ptr = [2 * int(res.broadcasts)] * case.cfg.n_pe
    assert sum(ptr) == res.accesses["ptr_sram"]["reads"], (ptr, res.accesses["ptr_sram"])
    return spmat, ptr


def expectations(case) -> dict:
    """The reference's outputs and raw accumulators, the engine's cycles and busy cycles, the
    expected per-PE access counts (checked against the engine's by :func:`check_engine_accesses`),
    and the engine's raw accumulators (checked equal to the reference's here)."""
    ref = [int(o) for o in reference_layer(case.indices, case.codebook_q, case.x, case.fmt, case.relu)]
    res, eacc = engine_run(case)
    racc = reference_accumulators(case)
    assert eacc == racc, "the engine's raw accumulators differ from the reference's"
    assert [int(o) for o in res.outputs] == ref
    spmat, ptr = check_engine_accesses(case, res)
    return {"n_pe": case.cfg.n_pe, "n_rows": int(np.asarray(case.indices).shape[0]), "cycles": int(res.cycles),
            "busy": [int(b) for b in res.busy], "outputs": ref, "accs": racc,
            "spmat_reads": spmat, "ptr_reads": ptr,
            "engine_spmat_reads": int(res.accesses["spmat_sram"]["reads"]),
            "engine_ptr_reads": int(res.accesses["ptr_sram"]["reads"])}
