"""Full-quality Deep Compression of a built-in LeNet on the full MNIST test set.

Runs ``dcsim compress --model MODEL`` and writes a JSON with the acceptance
figures (compression rate P+Q+H, test error, baseline error), the paper's
figures for comparison, the per-layer table and the full configs.

    python benchmarks/bench_lenet.py --model lenet-300-100 --out runs/bench/lenet-300-100.json
    python benchmarks/bench_lenet.py --model lenet-5       --out runs/bench/lenet-5.json
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# Deep Compression (Han, Mao, Dally, ICLR 2016), Table 1 (errors) and Tables 2-3 (per layer).
# "size_pq_pct" / "size_pqh_pct" are the paper's "compress rate" columns: compressed size as a
# percentage of the 32-bit dense layer; the rate is 100 / that percentage.
def _layer(kept, wb, wbh, ib, ibh, pq, pqh):
    return {"weights_kept_pct": kept, "weight_bits_pq": wb, "weight_bits_pqh": wbh, "index_bits_pq": ib,
            "index_bits_pqh": ibh, "size_pq_pct": pq, "size_pqh_pct": pqh,
            "compression_rate_pq": round(100 / pq, 1), "compression_rate_pqh": round(100 / pqh, 1)}


PAPER = {
    "lenet-300-100": {
        "compression_rate": 40, "test_error_pct": 1.58, "baseline_test_error_pct": 1.64,
        "layers": {"fc1": _layer(8, 6, 4.4, 5, 3.7, 3.1, 2.32),
                   "fc2": _layer(9, 6, 4.4, 5, 4.3, 3.8, 3.04),
                   "fc3": _layer(26, 6, 4.3, 5, 3.2, 15.7, 12.70)},
        "total": _layer(8, 6, 5.1, 5, 3.7, 3.1, 2.49)},
    "lenet-5": {
        "compression_rate": 39, "test_error_pct": 0.74, "baseline_test_error_pct": 0.80,
        "layers": {"conv1": _layer(66, 8, 7.2, 5, 1.5, 78.5, 67.45),
                   "conv2": _layer(12, 8, 7.2, 5, 3.9, 6.0, 5.28),
                   "fc1": _layer(8, 5, 4.5, 5, 4.5, 2.7, 2.45),
                   "fc2": _layer(19, 5, 5.2, 5, 3.7, 6.9, 6.13)},
        "total": _layer(8, 5.3, 4.1, 5, 4.4, 3.05, 2.55)},
}


def comparison_markdown(res: dict) -> str:
    """The per-layer table next to the paper's, as markdown (docs/results.md)."""
    paper = PAPER[res["model"]]
    cols = [("weights_kept_pct", "kept %", 2), ("weight_bits_pq", "w bits P+Q", 1), ("weight_bits_pqh", "w bits P+Q+H", 2),
            ("index_bits_pq", "idx bits P+Q", 1), ("index_bits_pqh", "idx bits P+Q+H", 2),
            ("compression_rate_pq", "rate P+Q (x)", 1), ("compression_rate_pqh", "rate P+Q+H (x)", 1)]
    ours_key = {"weight_bits_pq": "avg_weight_bits_pq", "weight_bits_pqh": "avg_weight_bits_pqh",
                "index_bits_pq": "avg_index_bits_pq", "index_bits_pqh": "avg_index_bits_pqh"}
    lines = ["| layer | source | " + " | ".join(c[1] for c in cols) + " |",
             "|---|---|" + "---:|" * len(cols)]
    rows = [(l["layer"], l, paper["layers"].get(l["layer"])) for l in res["layers"]]
    rows.append(("total", res["total"], paper["total"]))
    for name, ours, theirs in rows:
        vals = [f"{ours[ours_key.get(k, k)]:.{d}f}" for k, _, d in cols]
        lines.append(f"| {name} | dcsim | " + " | ".join(vals) + " |")
        if theirs:
            lines.append(f"| {name} | paper | " + " | ".join(f"{theirs[k]:g}" for k, _, _ in cols) + " |")
    t = res["total"]
    lines += ["", f"Test error {t['test_error_pct']:.2f}% (baseline {t['baseline_test_error_pct']:.2f}%) "
              f"on {t.get('n_test_images')} test images; paper {paper['test_error_pct']}% "
              f"(baseline {paper['baseline_test_error_pct']}%)."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", choices=sorted(PAPER), default="lenet-300-100")
    ap.add_argument("--out", default=None, help="JSON file (default runs/bench/MODEL.json)")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--no-cache", action="store_true", help="retrain the baseline")
    args = ap.parse_args(argv)
    from _common import machine_info, write_json
    from dcsim.cli import main as dcsim_main

    out_json = Path(args.out or f"runs/bench/{args.model}.json")
    run_dir = out_json.with_suffix("")
    cmd = ["compress", "--model", args.model, "--out", str(run_dir)]
    if args.seed is not None:
        cmd += ["--seed", str(args.seed)]
    if args.data_dir:
        cmd += ["--data-dir", args.data_dir]
    if args.no_cache:
        cmd.append("--no-cache")
    t = time.time()
    rc = dcsim_main(cmd)
    if rc:
        return rc
    doc = json.loads((run_dir / "compression.json").read_text())
    t_all = doc["total"]
    res = {
        "benchmark": "bench_lenet",
        "command": "dcsim " + " ".join(cmd),
        "model": args.model,
        "wall_s": time.time() - t,
        "compression_rate_pqh": t_all["compression_rate"],
        "compression_rate_pq": t_all["compression_rate_pq"],
        "compression_rate_p": t_all["compression_rate_p"],
        "test_error_pct": t_all["test_error_pct"],
        "baseline_test_error_pct": t_all["baseline_test_error_pct"],
        "n_test_images": t_all.get("n_test_images"),
        "paper": PAPER[args.model],
        "layers": doc["layers"],
        "total": t_all,
        "compression_config": doc["compression_config"],
        "accelerator_config": doc["accelerator_config"],
        "stages_s": doc["stages_s"],
        "machine": machine_info(),
    }
    out_json.parent.mkdir(parents=True, exist_ok=True)
    from arch.fileio import atomic_write_text

    write_json(out_json, res)
    md = comparison_markdown(res)
    atomic_write_text(out_json.with_suffix(".md"), md)
    print("\n" + md)
    print(f"\n{args.model}: {res['compression_rate_pqh']:.1f}x (P+Q+H) at {res['test_error_pct']:.2f}% test error "
          f"(baseline {res['baseline_test_error_pct']:.2f}%); paper {PAPER[args.model]['compression_rate']}x at "
          f"{PAPER[args.model]['test_error_pct']}%  -> {out_json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
