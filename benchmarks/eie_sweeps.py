"""FIFO-depth and PE-count sweeps of the nine EIE benchmark layers on the cycle-level engine.

For each layer of EIE Table III (sim/workloads.py's seeded generator; ``--layers all``
or a comma list), on the machine of arch/config.py (EIE's defaults otherwise):

* **FIFO-depth sweep** at ``--pes`` PEs (default 64), depths 1, 2, 4, ..., 256: cycles,
  load-balance efficiency, useful efficiency, filler overhead and the mean busy, stalled
  and idle cycles per PE. The layer is encoded once (the encoding depends on the PE count,
  not on the FIFO depth) and run at every depth.
* **PE-count sweep** at FIFO depth ``--fifo`` (default 8), 1, 2, 4, ..., 256 PEs: cycles and
  the speedup over 1 PE (cycles at 1 PE / cycles at N PEs) against the ideal N.

Below 64 PEs a PE must hold more of the layer than EIE's 128 KiB sparse-matrix SRAM
does, so the PE sweep keeps the base machine's *total* sparse-matrix SRAM
(``spmat_sram_bytes x 64 / N`` per PE, doubled further if a layer still does not fit);
the SRAM size does not enter the timing model (docs/microarchitecture.md), only the
capacity check. Every point's outputs are compared with the numpy fixed-point reference
(sim.reference.reference_layer, computed once per layer: the outputs do not depend on
the PE count or FIFO depth), and every result's cycle accounting is checked
(LayerResult.check_invariants).

Writes the JSON (config, per layer per point all figures, the acceptance checks, the
machine, the wall time) to ``--out`` and three PNGs beside it:
``eie_fifo_efficiency.png``, ``eie_fifo_cycles.png`` (cycles relative to depth 8) and
``eie_pe_speedup.png``.

    python benchmarks/eie_sweeps.py                       # the full sweep, runs/bench/eie_sweeps.json
    python benchmarks/eie_sweeps.py --quick --layers nt-we,alex-8 --out /tmp/x.json
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from arch.config import AcceleratorConfig  # noqa: E402
from arch.encoding import EncodingError  # noqa: E402
from arch.fixedpoint import layer_format, quantize_acts, quantize_codebook  # noqa: E402
from _common import machine_info, write_json  # noqa: E402

FULL_DEPTHS = [1 << k for k in range(9)]       # 1 .. 256 entries
FULL_PES = [1 << k for k in range(9)]          # 1 .. 256 PEs
QUICK_DEPTHS = [1, 8, 64]
QUICK_PES = [1, 8, 64]
REF_DEPTH = 8                                  # cycles are normalised to this depth (EIE's)
FLAT_LIMIT_PCT = 10.0                          # acceptance: the deepest FIFO saves < 10% against depth 8
PNG_NAMES = {"fifo_efficiency": "eie_fifo_efficiency.png", "fifo_cycles": "eie_fifo_cycles.png",
             "pe_speedup": "eie_pe_speedup.png"}
MAX_SRAM = 1 << 30                             # AcceleratorConfig's limit on spmat_sram_bytes


def _int_list(text: str) -> list[int]:
    vals = sorted({int(v) for v in str(text).split(",") if v.strip()})
    if not vals or vals[0] < 1:
        raise argparse.ArgumentTypeError(f"need a comma list of integers >= 1; got {text!r}")
    return vals


def _sram_for(base: AcceleratorConfig, n_pe: int) -> int:
    """Per-PE sparse-matrix SRAM that keeps the base machine's total (at least the base's per-PE size)."""
    per_pe = base.spmat_sram_bytes * base.n_pe // n_pe if n_pe < base.n_pe else base.spmat_sram_bytes
    return min(MAX_SRAM, max(base.spmat_sram_bytes, per_pe))


def _prepare(indices, cfg: AcceleratorConfig):
    """prepare_layer, doubling the sparse-matrix (or pointer) SRAM while the layer does not fit. Returns (prep, cfg)."""
    from sim.engine import prepare_layer

    while True:
        try:
            return prepare_layer(indices, cfg), cfg
        except EncodingError as e:
            if "pointer SRAM" in str(e) and cfg.ptr_sram_bytes * 2 <= MAX_SRAM:
                cfg = cfg.replace(ptr_sram_bytes=cfg.ptr_sram_bytes * 2)   # the timing does not depend on it
                continue
            if "sparse-matrix SRAM" not in str(e) or cfg.spmat_sram_bytes * 2 > MAX_SRAM:
                raise
            cfg = cfg.replace(spmat_sram_bytes=cfg.spmat_sram_bytes * 2)


def _with_fifo(prep, depth: int):
    """The same encoded layer on a machine with another FIFO depth (the encoding does not depend on it)."""
    tiled = dataclasses.replace(prep.tiled, cfg=prep.cfg.replace(fifo_depth=depth))
    return dataclasses.replace(prep, tiled=tiled)


def _point(r, prep, ref: np.ndarray) -> dict:
    """All figures of one run (cycles per PE are means over the PEs)."""
    cfg = prep.cfg
    r.check_invariants()
    return {
        "n_pe": cfg.n_pe, "fifo_depth": cfg.fifo_depth, "spmat_sram_bytes": cfg.spmat_sram_bytes,
        "passes": prep.n_passes, "batches": prep.n_batches, "tiles": prep.n_tiles,
        "cycles": int(r.cycles), "latency_us": r.cycles * cfg.cycle_ns / 1000.0,
        "load_balance_efficiency": r.load_balance_efficiency, "useful_efficiency": r.useful_efficiency,
        "filler_overhead": r.filler_overhead,
        "entries": int(r.entries), "fillers": int(r.fillers), "broadcasts": int(r.broadcasts),
        "mean_pe_busy_cycles": float(np.mean(r.busy)), "max_pe_busy_cycles": r.max_pe_busy,
        "mean_pe_stalled_cycles": float(np.mean(r.stalled)), "mean_pe_idle_cycles": float(np.mean(r.idle)),
        "engine_seconds": r.engine_seconds,
        "outputs_match_reference": bool(np.array_equal(r.outputs, ref)),
    }


def _fifo_acceptance(points: list[dict]) -> dict:
    """Cycles fall monotonically up to depth 8 and flatten past it (deepest saves < 10% against 8)."""
    by = {p["fifo_depth"]: p["cycles"] for p in points}
    ds = sorted(by)
    increases = [[a, b] for a, b in zip(ds, ds[1:]) if by[b] > by[a]]
    upto = [d for d in ds if d <= REF_DEPTH]
    acc = {"cycles_increase_between_depths": increases,
           "monotone_non_increasing": not increases,
           "strictly_decreasing_up_to_8": all(by[b] < by[a] for a, b in zip(upto, upto[1:])) if len(upto) > 1 else None}
    if REF_DEPTH in by and ds[-1] > REF_DEPTH:
        deep = ds[-1]
        saving = 100.0 * (by[REF_DEPTH] - by[deep]) / by[REF_DEPTH]
        acc.update({"deepest_depth": deep, "saving_deepest_vs_8_pct": saving,
                    "flat_past_8": saving < FLAT_LIMIT_PCT})
    if 1 in by and REF_DEPTH in by:
        acc["saving_8_vs_1_pct"] = 100.0 * (by[1] - by[REF_DEPTH]) / by[1]
    return acc


def _grid(title: str, layers: list[str], names: dict, xs: list[int], values: dict, fmt) -> str:
    """A layers x sweep-points table; ``values[layer][x]`` -> a number, shown with ``fmt``."""
    from reports.tables import format_table

    rows = [{"layer": names[l], **{f"x{x}": fmt(values[l][x]) for x in xs}} for l in layers]
    return format_table(rows, [("layer", "layer")] + [(f"x{x}", str(x)) for x in xs], title=title)


def main(argv=None) -> int:
    """Run the sweeps; returns 0, or 1 if an output differs from the reference or an invariant fails."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--layers", default="all", help="comma-separated layer names or 'all' (default %(default)s)")
    ap.add_argument("--seed", type=int, default=0, help="workload generator seed (default %(default)s)")
    ap.add_argument("--pes", type=int, default=64, help="PEs of the FIFO-depth sweep (default %(default)s)")
    ap.add_argument("--fifo", type=int, default=REF_DEPTH, help="FIFO depth of the PE sweep (default %(default)s)")
    ap.add_argument("--depths", type=_int_list, default=None,
                    help="FIFO depths, comma list (default 1,2,4,...,256; --quick: 1,8,64)")
    ap.add_argument("--pe-counts", type=_int_list, default=None,
                    help="PE counts, comma list; 1 is always added (default 1,2,4,...,256; --quick: 1,8,64)")
    ap.add_argument("--quick", action="store_true", help="smoke run: depths 1,8,64 and PEs 1,8,64")
    ap.add_argument("--no-progress", action="store_true", help="no progress bar")
    ap.add_argument("--out", default="runs/bench/eie_sweeps.json",
                    help="JSON file; the PNGs go beside it (default %(default)s)")
    args = ap.parse_args(argv)
    t_start = time.perf_counter()

    from tqdm import tqdm

    from reports.plots import plot_fifo_sweep, plot_pe_scaling
    from sim.engine import run_layer
    from sim.reference import reference_layer
    from sim.workloads import EIE_LAYERS, make_workload, parse_layer_names

    layers = parse_layer_names(args.layers)
    depths = args.depths or (QUICK_DEPTHS if args.quick else FULL_DEPTHS)
    pes = sorted(set(args.pe_counts or (QUICK_PES if args.quick else FULL_PES)) | {1})
    base = AcceleratorConfig(n_pe=args.pes, fifo_depth=args.fifo)
    names = {l: EIE_LAYERS[l].paper_name for l in layers}
    out = Path(args.out)

    docs: dict[str, dict] = {}
    ok = True
    bar = tqdm(total=len(layers) * (len(depths) + len(pes)), desc="eie sweeps", unit="point",
               file=sys.stderr, disable=args.no_progress, dynamic_ncols=True)
    for name in layers:
        bar.set_postfix_str(f"{names[name]}: generate")
        t = time.perf_counter()
        w = make_workload(name, base, seed=args.seed)
        t_gen = time.perf_counter() - t
        fmt = layer_format(w.centroids, base)
        cb = quantize_codebook(w.centroids, fmt)
        x = quantize_acts(w.x, base)
        bar.set_postfix_str(f"{names[name]}: reference")
        t = time.perf_counter()
        ref = reference_layer(w.indices, cb, x, fmt, w.relu)
        t_ref = time.perf_counter() - t
        t_prep = 0.0

        # FIFO-depth sweep: one encoding at --pes PEs, every depth
        bar.set_postfix_str(f"{names[name]}: FIFO sweep at {base.n_pe} PEs")
        t = time.perf_counter()
        prep_fifo, cfg_fifo = _prepare(w.indices, base)
        t_prep += time.perf_counter() - t
        fifo_points = []
        for d in depths:
            prep = _with_fifo(prep_fifo, d)
            fifo_points.append(_point(run_layer(prep, cb, x, fmt, w.relu), prep, ref))
            bar.update(1)
        ref_cycles = {p["fifo_depth"]: p["cycles"] for p in fifo_points}.get(REF_DEPTH)
        for p in fifo_points:
            p["cycles_vs_depth_8"] = p["cycles"] / ref_cycles if ref_cycles else None

        # PE-count sweep at --fifo
        pe_points = []
        for n in pes:
            bar.set_postfix_str(f"{names[name]}: {n} PEs")
            if n == base.n_pe:
                prep = _with_fifo(prep_fifo, args.fifo)
            else:
                t = time.perf_counter()
                prep, _ = _prepare(w.indices, base.replace(n_pe=n, spmat_sram_bytes=_sram_for(base, n)))
                t_prep += time.perf_counter() - t
            pe_points.append(_point(run_layer(prep, cb, x, fmt, w.relu), prep, ref))
            del prep
            bar.update(1)
        c1 = pe_points[0]["cycles"]
        for p in pe_points:
            p["speedup"] = c1 / p["cycles"]
            p["ideal_speedup"] = float(p["n_pe"])
            p["parallel_efficiency"] = p["speedup"] / p["n_pe"]

        checked = fifo_points + pe_points
        match = all(p["outputs_match_reference"] for p in checked)
        ok &= match
        s = w.shape
        docs[name] = {
            "paper_name": s.paper_name, "description": s.description,
            "shape": {"n_in": s.n_in, "n_out": s.n_out, "weight_density": s.weight_density,
                      "act_density": s.act_density, "nonzero_weights": int(np.count_nonzero(w.indices)),
                      "nonzero_acts": int(np.count_nonzero(x))},
            "weight_frac_bits": fmt.weight_frac_bits,
            "fifo_sweep": fifo_points,
            "pe_sweep": pe_points,
            "fifo_acceptance": _fifo_acceptance(fifo_points),
            "verification": {"reference": "sim.reference.reference_layer", "points_checked": len(checked),
                             "all_outputs_match": match, "reference_seconds": t_ref,
                             "note": "one reference per layer (outputs do not depend on PEs or FIFO depth); "
                                     "every point's outputs compared with it; check_invariants on every result"},
            "seconds": {"generate": t_gen, "prepare": t_prep, "reference": t_ref,
                        "engine": sum(p["engine_seconds"] for p in checked)},
        }
        del w, prep_fifo, ref
    bar.set_postfix_str("done")
    bar.close()

    # plots
    pct = lambda v: 100.0 * v  # noqa: E731
    eff = {names[l]: [pct(p["load_balance_efficiency"]) for p in docs[l]["fifo_sweep"]] for l in layers}
    norm_ok = REF_DEPTH in depths
    cyc = {names[l]: [p["cycles_vs_depth_8"] if norm_ok else p["cycles"] / docs[l]["fifo_sweep"][-1]["cycles"]
                      for p in docs[l]["fifo_sweep"]] for l in layers}
    spd = {names[l]: [p["speedup"] for p in docs[l]["pe_sweep"]] for l in layers}
    ref_d = REF_DEPTH if norm_ok else depths[-1]
    pngs = {k: out.parent / v for k, v in PNG_NAMES.items()}
    figs = [
        plot_fifo_sweep(depths, eff, ylabel="load-balance efficiency (%)",
                        title=f"EIE layers: load-balance efficiency vs FIFO depth ({base.n_pe} PEs)",
                        path=pngs["fifo_efficiency"]),
        plot_fifo_sweep(depths, cyc, ylabel=f"cycles relative to depth {ref_d} (x)",
                        title=f"EIE layers: cycles vs FIFO depth ({base.n_pe} PEs, normalised to depth {ref_d})",
                        path=pngs["fifo_cycles"]),
        plot_pe_scaling(pes, spd, path=pngs["pe_speedup"],
                        title=f"EIE layers: speedup vs PE count (FIFO depth {args.fifo})"),
    ]
    del figs

    wall = time.perf_counter() - t_start
    doc = {
        "benchmark": "eie_sweeps",
        "command": "python benchmarks/eie_sweeps.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "config": {
            "layers": layers, "seed": args.seed, "quick": bool(args.quick),
            "fifo_sweep": {"n_pe": base.n_pe, "fifo_depths": depths},
            "pe_sweep": {"fifo_depth": args.fifo, "n_pes": pes},
            "reference_depth": REF_DEPTH, "flat_limit_pct": FLAT_LIMIT_PCT,
            "accelerator_config": base.to_dict(),
            "sram_policy": (f"PE sweep: spmat_sram_bytes = max({base.spmat_sram_bytes}, {base.spmat_sram_bytes} x "
                            f"{base.n_pe} / N) per PE (the base machine's total), doubled until the layer fits; "
                            "the SRAM size does not affect the timing"),
            "verify": "every point's outputs against sim.reference.reference_layer",
        },
        "layers": docs,
        "plots": {k: str(p) for k, p in pngs.items()},
        "ok": bool(ok),
        "machine": machine_info(),
        "wall_seconds": wall,
    }
    write_json(out, doc)

    # tables
    f_int = lambda v: int(v)  # noqa: E731
    f_pct = lambda v: round(100.0 * v, 2)  # noqa: E731
    f_1 = lambda v: round(float(v), 1)  # noqa: E731
    f_3 = lambda v: round(float(v), 3)  # noqa: E731

    def fifo_vals(key):
        return {l: {p["fifo_depth"]: p[key] for p in docs[l]["fifo_sweep"]} for l in layers}

    def pe_vals(key):
        return {l: {p["n_pe"]: p[key] for p in docs[l]["pe_sweep"]} for l in layers}

    at = f"{base.n_pe} PEs; columns: FIFO depth (entries)"
    print(_grid(f"Cycles (cycles) vs FIFO depth, {at}", layers, names, depths, fifo_vals("cycles"), f_int))
    print()
    if norm_ok:
        print(_grid(f"Cycles relative to depth {REF_DEPTH} (x), {at}", layers, names, depths,
                    fifo_vals("cycles_vs_depth_8"), f_3))
        print()
    print(_grid(f"Load-balance efficiency (%), {at}", layers, names, depths,
                fifo_vals("load_balance_efficiency"), f_pct))
    print()
    print(_grid(f"Useful efficiency (%), {at}", layers, names, depths, fifo_vals("useful_efficiency"), f_pct))
    print()
    print(_grid(f"Mean stalled cycles per PE (cycles), {at}", layers, names, depths,
                fifo_vals("mean_pe_stalled_cycles"), f_1))
    print()
    print(_grid(f"Mean idle cycles per PE (cycles), {at}", layers, names, depths,
                fifo_vals("mean_pe_idle_cycles"), f_1))
    print()
    at = f"FIFO depth {args.fifo}; columns: PEs"
    print(_grid(f"Cycles (cycles) vs PE count, {at}", layers, names, pes, pe_vals("cycles"), f_int))
    print()
    print(_grid(f"Speedup over 1 PE (x; ideal = PEs), {at}", layers, names, pes, pe_vals("speedup"), f_3))
    print()
    print(_grid(f"Load-balance efficiency (%), {at}", layers, names, pes, pe_vals("load_balance_efficiency"), f_pct))
    print()
    print(_grid(f"Useful efficiency (%), {at}", layers, names, pes, pe_vals("useful_efficiency"), f_pct))
    print()
    for l in layers:
        a = docs[l]["fifo_acceptance"]
        line = f"{names[l]:<8} cycles non-increasing in depth: {'yes' if a['monotone_non_increasing'] else 'NO ' + str(a['cycles_increase_between_depths'])}"
        if a.get("strictly_decreasing_up_to_8") is not None:
            line += f"; strictly falling 1..{REF_DEPTH}: {'yes' if a['strictly_decreasing_up_to_8'] else 'NO'}"
        if "saving_deepest_vs_8_pct" in a:
            line += (f"; depth {a['deepest_depth']} saves {a['saving_deepest_vs_8_pct']:.2f}% vs depth {REF_DEPTH} "
                     f"({'flat' if a['flat_past_8'] else 'NOT flat'}, limit {FLAT_LIMIT_PCT:g}%)")
        v = docs[l]["verification"]
        line += f"; outputs = reference at {v['points_checked']} points: {'yes' if v['all_outputs_match'] else 'NO'}"
        print(line)
    print(f"wall time {wall:.1f} s -> {out}, {', '.join(str(p) for p in pngs.values())}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
