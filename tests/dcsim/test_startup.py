"""Start-up: the CLI imports only what a command needs (docs/benchmarks.md, "Start-up")."""
import subprocess
import sys

HEAVY = ("matplotlib", "amaranth", "torch", "dask", "distributed", "pandas", "onnx", "onnxruntime")


def _imported_after(code: str) -> list[str]:
    probe = code + f"\nimport sys\nprint('IMPORTED:', *(m for m in {HEAVY!r} if m in sys.modules))\n"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    return out.split("IMPORTED:")[-1].split()


def test_importing_the_cli_imports_none_of_the_heavy_libraries():
    assert _imported_after("import dcsim.cli") == []


def test_simulating_a_benchmark_layer_imports_none_of_the_heavy_libraries():
    code = "from dcsim.cli import main\nmain(['simulate', '--layer', 'nt-lstm', '--pes', '8', '--quiet'])"
    assert _imported_after(code) == []
