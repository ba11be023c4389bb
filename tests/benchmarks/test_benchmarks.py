"""The benchmark scripts run and write their JSON (tiny sizes; the figures are in docs/benchmarks.md)."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("script,args,keys", [
    ("bench_kmeans.py", ["--n", "20000", "--k", "8", "--repeat", "1"],
     ["config", "dcsim", "sklearn_same_init", "wcss_ratio", "machine"]),
    ("bench_huffman.py", ["--n", "5000", "--repeat", "1"], ["config", "streams", "machine"]),
    ("bench_encoding.py", ["--repeat", "1"], ["layers", "accelerator_config", "machine"]),
    ("sim_speed.py", ["--layers", "nt-we", "--no-cold", "--repeat", "1", "--small", "64x64"], ["machine"]),
    ("sim_batch.py", ["--vectors", "50", "--repeat", "1"], ["config", "machine"]),
    ("onnx_import.py", ["--samples", "200"], ["config", "models", "machine"]),
])
def test_benchmark_writes_json(tmp_path, script, args, keys):
    out = tmp_path / "b.json"
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), *args, "--out", str(out)],
                       capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert r.returncode == 0, r.stderr
    doc = json.loads(out.read_text())
    for k in keys:
        assert k in doc, k
    if script == "bench_kmeans.py":
        # Lloyd never ends worse than its initial assignment
        assert doc["dcsim"]["wcss"] <= doc["dcsim"]["init_wcss"]
    if script == "bench_huffman.py":
        for s in doc["streams"]:
            assert s["roundtrip_ok"]
            assert s["entropy_bits_per_symbol"] - 1e-9 <= s["huffman_bits_per_symbol"] < s["entropy_bits_per_symbol"] + 1
