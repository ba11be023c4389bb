"""The compression methods of the literature, compared on one network and the same accelerator.

For each method (a config file of ``examples/methods/``, laid over the network's default recipe;
``deep-compression`` is the recipe itself) and each seed: compress the built-in network on MNIST
(the float baseline is trained once per seed and cached), then simulate the compressed model on
the default EIE machine over the MNIST test images, every output checked bit for bit against the
fixed-point reference (``--verify``; a difference fails the run), and price the run. Writes JSON (every run,
the config and the machine), a markdown table and two plots (test error and access energy per image
-- the energy the access counts price, without the clock, control and leakage, which follow the
cycles --
against the compressed size, every method on the same axes, the Pareto front marked):

    .venv/bin/python benchmarks/methods.py --model lenet-300-100 --out runs/bench/methods-lenet-300-100.json

Rates are counted the project's way (all bits: relative indices, fillers, codebooks, Huffman
tables and pointers; against the float model before any structural change). The test error is
the end-of-training error of the compressed float model on the full test set (10,000 images)
unless ``--inputs`` says otherwise; the engine's error on the simulated images is beside it.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from _common import machine_info, write_json  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
METHODS_DIR = ROOT / "examples" / "methods"


def method_files() -> dict[str, Path | None]:
    """``name -> config file`` of every method (``deep-compression``: the recipe, no file)."""
    out: dict[str, Path | None] = {"deep-compression": None}
    for p in sorted(METHODS_DIR.glob("*.toml")):
        out[p.stem] = p
    return out


def run_one(model: str, name: str, path: Path | None, seed: int, data, dataset, n_inputs: int, progress: bool) -> dict:
    """Compress ``model`` with one method and seed, then simulate and price it on the default machine."""
    import numpy as np

    from arch.config import AcceleratorConfig
    from compress.pipeline import compress_builtin
    from compress.recipes import default_recipe
    from dcsim.configfile import read_config_file
    from dcsim.flow import Settings, Workload, evaluate, mnist_test_inputs

    base = default_recipe(model)
    accel, cfg = (None, base) if path is None else read_config_file(path, compress_base=base)
    cfg = (cfg or base).replace(seed=seed)
    accel = accel or AcceleratorConfig()
    t0 = time.time()
    cm, report, stages = compress_builtin(model, cfg, accel, data, progress=progress, log=lambda _m: None)
    wall = time.time() - t0
    t = report["total"]
    inputs = mnist_test_inputs(int(np.prod(cm.input_shape)), n_inputs, dataset=dataset)
    ev = evaluate(Workload(cm.name, model=cm, inputs=inputs), AcceleratorConfig(),
                  Settings(verify=True, energy=True, enforce_capacity=False, progress=False))
    cols = ev.point_columns()
    return {"method": name, "config": None if path is None else str(path.relative_to(ROOT)), "seed": seed,
            "rate_p": t["compression_rate_p"], "rate_pq": t["compression_rate_pq"],
            "rate_pqh": t["compression_rate_pqh"], "storage_bits_pqh": t["storage_bits_pqh"],
            "dense_bits": t["dense_bits"], "weights_kept_pct": t["weights_kept_pct"],
            "test_error_pct": t["test_error_pct"], "baseline_error_pct": t["baseline_test_error_pct"],
            "engine_error_pct": cols.get("engine_error_pct"), "inputs": cols["inputs"],
            "cycles_per_image": cols["cycles_per_input"], "access_energy_pJ_per_image": cols.get("energy_access_pJ"),
            "energy_pJ_per_image": cols.get("energy_pJ"),
            "latency_us": cols["latency_us"], "verified": True, "train_s": wall - stages.get("baseline_s", 0.0),
            "baseline_s": stages.get("baseline_s", 0.0), "stages_s": stages,
            "layers": [{"layer": l["layer"], "shape": [l["n_weights"] // max(1, l["n_bias"]), l["n_bias"]],
                        "kept_pct": l["weights_kept_pct"], "bits": l["weight_bits"]} for l in report["layers"]],
            "recipe": cfg.to_dict()}


def summarize(runs: list[dict]) -> list[dict]:
    """One row per method: the mean over seeds (and the spread when there are several)."""
    rows = []
    order = list(method_files())
    for name in sorted(dict.fromkeys(r["method"] for r in runs), key=lambda m: order.index(m) if m in order else 99):
        rs = [r for r in runs if r["method"] == name]
        row = {"method": name, "seeds": len(rs)}
        for k in ("rate_p", "rate_pq", "rate_pqh", "test_error_pct", "baseline_error_pct", "engine_error_pct",
                  "cycles_per_image", "access_energy_pJ_per_image", "energy_pJ_per_image", "train_s",
                  "storage_bits_pqh"):
            vals = [r[k] for r in rs if r.get(k) is not None]
            row[k] = statistics.fmean(vals) if vals else None
            row[k + "_sd"] = statistics.stdev(vals) if len(vals) > 1 else None
        rows.append(row)
    return rows


def pareto(points: list[tuple[float, float]]) -> list[int]:
    """Indices of the points no other point beats in both coordinates (lower is better in both)."""
    out = []
    for i, (a, b) in enumerate(points):
        if not any((c <= a and d <= b) and (c < a or d < b) for j, (c, d) in enumerate(points) if j != i):
            out.append(i)
    return out


def table_md(model: str, rows: list[dict], n_inputs: int) -> str:
    def f(v, fmt):
        return "n/a" if v is None else format(v, fmt)

    lines = ["| method | rate P (x) | rate P+Q (x) | rate P+Q+H (x) | test error (%) | baseline (%) | "
             "EIE cycles / image | access energy / image (nJ) | training (s) | seeds |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        err = f(r["test_error_pct"], ".2f") + (f" ± {r['test_error_pct_sd']:.2f}" if r["test_error_pct_sd"] else "")
        lines.append(f"| {r['method']} | {f(r['rate_p'], '.1f')} | {f(r['rate_pq'], '.1f')} | "
                     f"{f(r['rate_pqh'], '.1f')} | {err} | {f(r['baseline_error_pct'], '.2f')} | "
                     f"{f(r['cycles_per_image'], ',.0f')} | "
                     f"{f(None if r['access_energy_pJ_per_image'] is None else r['access_energy_pJ_per_image'] / 1e3, '.1f')} | "
                     f"{f(r['train_s'], '.0f')} | {r['seeds']} |")
    return (f"{model}: EIE on the default machine (64 PEs, FIFO depth 8, 800 MHz, 45 nm) over {n_inputs:,} "
            "MNIST test images per run\n\n" + "\n".join(lines) + "\n")


def plot(model: str, rows: list[dict], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8))
    good = [r for r in rows if r["storage_bits_pqh"] and r["test_error_pct"] is not None]
    for ax, key, label in ((axes[0], "test_error_pct", "test error (%)"),
                           (axes[1], "access_energy_pJ_per_image", "EIE access energy per image (nJ)")):
        pts = [(r["storage_bits_pqh"] / 8 / 1024, r[key] / (1e3 if "energy" in key else 1.0))
               for r in good if r[key] is not None]
        names = [r["method"] for r in good if r[key] is not None]
        for (x, y), n in zip(pts, names):
            ax.scatter([x], [y], s=30)
            ax.annotate(n, (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
        front = sorted(pareto(pts), key=lambda i: pts[i][0])
        if front:
            ax.plot([pts[i][0] for i in front], [pts[i][1] for i in front], "k--", lw=1, marker="o", ms=11,
                    mfc="none", mec="k", label=f"Pareto front ({len(front)} method{'s' if len(front) > 1 else ''})")
            ax.legend(fontsize=8)
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_xlabel("compressed size, P+Q+H (KiB)")
        ax.set_ylabel(label)
        ax.grid(True, alpha=0.3)
    fig.suptitle(f"{model}: compression methods on the same EIE machine")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def write_results(out: Path, model: str, runs: list[dict], n_inputs: int, tables: bool = True, **config) -> list[dict]:
    """The JSON of ``runs`` (config, machine, runs, per-method summary) at ``out`` and, with
    ``tables``, its markdown table and plot beside it; returns the summary rows."""
    rows = summarize([x for x in runs if "error" not in x])
    write_json(out, {"benchmark": "methods",
                     "config": {"model": model, "methods": sorted({x["method"] for x in runs}),
                                "seeds": sorted({x["seed"] for x in runs}), "inputs": n_inputs,
                                "machine": "default AcceleratorConfig", **config},
                     "machine": machine_info(), "runs": runs, "summary": rows})
    if tables:
        out.with_suffix(".md").write_text(table_md(model, rows, n_inputs))
        plot(model, rows, out.with_suffix(".png"))
        print(table_md(model, rows, n_inputs))
        print(f"wrote {out}, {out.with_suffix('.md')}, {out.with_suffix('.png')}")
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="lenet-300-100", choices=["lenet-300-100", "lenet-5"])
    ap.add_argument("--methods", default="all", help="comma-separated method names (examples/methods/*.toml "
                    "stems and deep-compression), or all (default)")
    ap.add_argument("--seeds", default="0", help="comma-separated seeds (default 0)")
    ap.add_argument("--inputs", type=int, default=10000, help="MNIST test images simulated per run (default all)")
    ap.add_argument("--out", default=None, help="the JSON (default runs/bench/methods-MODEL.json); the table "
                    "(.md) and the plot (.png) are written beside it")
    ap.add_argument("--update", action="store_true", help="keep the runs already in --out and replace only the "
                    "methods and seeds run now")
    ap.add_argument("--merge", default=None, metavar="A.json,B.json",
                    help="run nothing: combine the runs of these JSON files (a later file's run of a method and "
                    "seed replaces an earlier one's) into --out, with its table and plot")
    ap.add_argument("--quiet", action="store_true")
    a = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    if a.merge:
        import json

        out = Path(a.out or f"runs/bench/methods-{a.model}.json")
        merged: dict = {}
        for f in a.merge.split(","):
            doc = json.loads(Path(f.strip()).read_text())
            if doc.get("config", {}).get("model") != a.model:
                print(f"--merge: {f.strip()} is not a {a.model} run", file=sys.stderr)
                return 2
            merged.update({(r["method"], r["seed"]): r for r in doc["runs"]})
        runs = list(merged.values())
        write_results(out, a.model, runs, max((x.get("inputs") or 0 for x in runs), default=0),
                      merged_from=a.merge.split(","))
        return 0
    from network.data import data_from_dataset
    from network.mnist import load_mnist

    files = method_files()
    names = list(files) if a.methods == "all" else [m.strip() for m in a.methods.split(",")]
    unknown = [m for m in names if m not in files]
    if unknown:
        print(f"--methods: unknown {', '.join(unknown)}; choose from {', '.join(files)}", file=sys.stderr)
        return 2
    seeds = [int(s) for s in a.seeds.split(",")]
    out = Path(a.out or f"runs/bench/methods-{a.model}.json")
    ds = load_mnist(None, progress=not a.quiet)
    data = data_from_dataset(ds)
    runs = []
    if a.update and out.is_file():
        import json

        redo = {(m, s) for m in names for s in seeds}
        runs = [r for r in json.loads(out.read_text())["runs"] if (r["method"], r["seed"]) not in redo]
    for seed in seeds:
        for name in names:
            t = time.time()
            try:
                r = run_one(a.model, name, files[name], seed, data, ds, a.inputs, progress=not a.quiet)
            except Exception as e:  # noqa: BLE001 - one failed method does not stop the others
                r = {"method": name, "seed": seed, "error": f"{type(e).__name__}: {e}"}
            runs.append(r)
            msg = r.get("error") or (f"{r['rate_pqh']:.1f}x at {r['test_error_pct']:.2f}% "
                                     f"({r['cycles_per_image']:,.0f} cycles, {r['access_energy_pJ_per_image'] / 1e3:.1f} nJ "
                                     f"per image)")
            print(f"{a.model} {name} seed {seed}: {msg} in {time.time() - t:.0f} s", file=sys.stderr, flush=True)
            # after every run: an interrupted benchmark keeps its runs
            write_results(out, a.model, runs, a.inputs, tables=False)
    write_results(out, a.model, runs, a.inputs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
