"""Synthetic rows of a design-space sweep, as the sweep runner (dcsim/dse/) writes them, for the
tests of the DSE plots and report: one result row, a grid of them, a compressed model's row, a
synthesis row, layer rows, a manifest, and rows like the demo sweep's (examples/dse/demo.toml:
three grids, long compression settings read back from results.csv as JSON text)."""
from arch.config import ACCESS_COMPONENTS as COMPONENTS

#: Dense fp32 bits of LeNet-300-100's weights.
DENSE = 266_200 * 32


def result_row(point, workload="eie:alex-7", *, fifo=8, n_pe=64, status="ok", series="", **kw):
    """One results row with the runner's columns; cycles fall with PEs and with the FIFO depth."""
    kind = workload.split(":", 1)[0]
    cycles = 1000.0 * 64 / n_pe * (1 + 1 / fifo)
    r = {"point": point, "point_id": f"p{point:03d}", "series": series, "workload": workload,
         "workload_kind": kind, "status": status, "error": "" if status == "ok" else "boom: out of SRAM",
         "accel.n_pe": n_pe, "accel.fifo_depth": fifo, "accel.clock_mhz": 800.0, "accel.tech_node": 45,
         "compress.density": None, "compress.fc_bits": None,
         "layers": 1, "inputs": 4, "cycles_per_input": cycles, "latency_us": cycles / 800.0,
         "load_balance_efficiency": fifo / (fifo + 1.0), "useful_efficiency": 0.5, "filler_pct": 1.0,
         "fits_spmat_sram": True, "verified": True,
         "energy_pJ": 1e5 + 10.0 * n_pe, "energy_a_pJ": 1e7, "energy_b_pJ": 1e6, "a_over_c": 100.0,
         "b_over_c": 10.0, "fits_on_chip": True, "power_W": 0.1, "frames_per_s": 1e5, "frames_per_J": 1e7,
         "dense_bits": None, "storage_bits_p": None, "storage_bits_q": None, "storage_bits_pq": None,
         "storage_bits_pqh": None, "compression_rate_p": None, "compression_rate_q": None,
         "compression_rate_pq": None, "compression_rate_pqh": None, "weights_kept_pct": None,
         "baseline_error_pct": None, "pruned_error_pct": None, "test_error_pct": None, "engine_error_pct": None,
         "time.simulate_s": 0.1}
    for c in COMPONENTS:
        r[f"energy_{c}_pJ"] = 1.0
    r["energy_leakage_pJ"] = 0.0
    if status != "ok":
        for k in ("cycles_per_input", "latency_us", "energy_pJ", "load_balance_efficiency"):
            r[k] = None
    r.update(kw)
    return r


def grid_rows(depths=(1, 4, 16), pes=(8, 16, 32), workloads=("eie:alex-7",)):
    """One ok row per workload, FIFO depth and PE count."""
    rows = []
    for w in workloads:
        for d in depths:
            for p in pes:
                rows.append(result_row(len(rows), w, fifo=d, n_pe=p))
    return rows


def sweep_manifest(axes=("accel.fifo_depth", "accel.n_pe"), grids=None, **kw):
    return {"name": "test-sweep", "axes": list(axes), "grids": grids or [{"label": "", "axes": {}}],
            "workloads": ["eie:alex-7"], "n_points": 0, "command": "dcsim dse sweep.toml --out out", **kw}


def layer_rows_of(row, layers=("fc1", "fc2")):
    """The layer rows of one result row: component energies (k + 1) * (j + 1) pJ for layer k and
    component j, no leakage."""
    out = []
    for k, name in enumerate(layers):
        lr = {"point": row["point"], "point_id": row["point_id"], "workload": row["workload"], "layer": name,
              "rows": 100, "cols": 100, "cycles": 10.0, "latency_us": 0.1, "load_balance_efficiency": 0.9}
        for j, c in enumerate(COMPONENTS):
            lr[f"energy_{c}_pJ"] = float((k + 1) * (j + 1))
        lr["energy_leakage_pJ"] = 0.0
        lr["energy_pJ"] = sum(lr[f"energy_{c}_pJ"] for c in COMPONENTS)
        out.append(lr)
    return out


def model_row(point, *, fc_bits=4, kept=8.0, rate_p=12.0, rate_q=7.0, rate_pq=40.0, rate_pqh=50.0, n_pe=64,
              base=1.6, pruned=1.7, test=1.75, workload="model:lenet-300-100", **kw):
    """A compressed model's row: storage at every stage from the rates, error rates."""
    return result_row(point, workload, n_pe=n_pe, **{
        "compress.density": kept / 100, "compress.fc_bits": fc_bits, "dense_bits": DENSE,
        "storage_bits_p": DENSE / rate_p, "storage_bits_q": DENSE / rate_q, "storage_bits_pq": DENSE / rate_pq,
        "storage_bits_pqh": DENSE / rate_pqh, "compression_rate_p": rate_p, "compression_rate_q": rate_q,
        "compression_rate_pq": rate_pq, "compression_rate_pqh": rate_pqh, "weights_kept_pct": kept,
        "baseline_error_pct": base, "pruned_error_pct": pruned, "test_error_pct": test, **kw})


def synth_row(point, n_pe, luts, ffs, brams, dsps, target="ice40", device="up5k", **kw):
    """A row with synthesis results on an iCE40 UP5K (capacities 5280 LUTs and FFs, 30 BRAMs, 8 DSPs)."""
    return result_row(point, n_pe=n_pe, synth_target=target, synth_device=device, synth_luts=luts, synth_ffs=ffs,
                      synth_brams=brams, synth_dsps=dsps, synth_luts_capacity=5280, synth_ffs_capacity=5280,
                      synth_brams_capacity=30, synth_dsps_capacity=8, synth_lut_unit="LUT4",
                      synth_fits=luts <= 5280, synth_fmax_MHz=24.0, **kw)


#: The demo's per-layer densities, as results.csv holds them (JSON text).
DEMO_LAYER_DENSITY = '{"fc1": 0.065, "fc2": 0.08, "fc3": 0.25}'
DEMO_AXES = ["accel.n_pe", "accel.fifo_depth", "compress.fc_bits", "compress.finetune_lr_scale", "compress.density",
             "compress.layer_density", "compress.retrain_epochs"]


def demo_manifest():
    """The manifest of examples/dse/demo.toml: a machine grid and two compression grids."""
    return sweep_manifest(
        axes=DEMO_AXES, name="demo", workloads=["model:lenet-300-100"], n_points=16,
        grids=[{"label": "machine", "axes": {"accel.n_pe": [16, 32, 64], "accel.fifo_depth": [1, 2, 4, 8]}},
               {"label": "pruning + quantization", "axes": {"compress.fc_bits": [3, 4, 5],
                                                            "compress.finetune_lr_scale": [0.1]}},
               {"label": "quantization only", "axes": {"compress.density": [1.0], "compress.layer_density": [{}],
                                                       "compress.retrain_epochs": [0],
                                                       "compress.finetune_lr_scale": [0.001],
                                                       "compress.fc_bits": [4]}}])


def demo_rows():
    """16 ok rows like the demo sweep's: 12 machine points (PEs x FIFO depth) of the base model
    (fc_bits 6, per-layer densities, no centroid fine-tuning rate), 3 pruned and quantized models
    (fc_bits 3, 4, 5) and 1 quantized-only model (density 1)."""
    base = {"compress.layer_density": DEMO_LAYER_DENSITY, "compress.retrain_epochs": 5,
            "compress.finetune_lr_scale": None}
    rows = []
    for n_pe in (16, 32, 64):
        for fifo in (1, 2, 4, 8):
            rows.append(model_row(len(rows), fc_bits=6, n_pe=n_pe, fifo=fifo, rate_p=10.2, rate_pq=32.9,
                                  rate_pqh=43.2, series="machine", **base,
                                  load_balance_efficiency=0.9 - 0.3 / fifo - n_pe / 1000,
                                  cycles_per_input=1000.0 * 16 / n_pe ** 0.6 * (1 + 0.5 / fifo)))
    for bits, pq, pqh in ((3, 45.7, 56.4), (4, 40.6, 51.0), (5, 36.5, 46.7)):
        rows.append(model_row(len(rows), fc_bits=bits, rate_p=10.2, rate_pq=pq, rate_pqh=pqh,
                              series="pruning + quantization",
                              **{**base, "compress.finetune_lr_scale": 0.1}))
    rows.append(model_row(len(rows), fc_bits=4, kept=100.0, rate_p=0.86, rate_q=3.5, rate_pq=3.5, rate_pqh=7.3,
                          series="quantization only", **{"compress.layer_density": "{}",
                                                         "compress.retrain_epochs": 0,
                                                         "compress.finetune_lr_scale": 0.001}))
    for r in rows:
        r["latency_us"] = r["cycles_per_input"] / 800.0
    return rows
