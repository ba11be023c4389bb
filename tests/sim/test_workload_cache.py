"""simulate_workload generates and encodes a benchmark layer once per (layer, seed, stream format)."""
import numpy as np

from arch.config import AcceleratorConfig
from arch.machine import get_machine
from sim import network
from sim.network import clear_workload_cache, simulate_workload

FIELDS = ("cycles", "tile_cycles", "entries", "fillers", "broadcasts", "accesses", "stored_entries",
          "max_pe_entries", "n_tiles")


def _same(a, b):
    ra, rb = a.layers[0].result, b.layers[0].result
    assert all(getattr(ra, f) == getattr(rb, f) for f in FIELDS)
    for f in ("outputs", "busy", "idle", "stalled"):
        assert np.array_equal(getattr(ra, f), getattr(rb, f))
    assert a.layers[0].config == b.layers[0].config


def test_a_fifo_sweep_encodes_once_and_equals_fresh_runs(monkeypatch):
    machine = get_machine("eie")
    calls = []
    real = machine.prepare
    monkeypatch.setattr(type(machine), "prepare",
                        lambda self, *a, **k: calls.append(a[1]) or real(*a, **k))
    clear_workload_cache()
    cached = [simulate_workload("nt-lstm", AcceleratorConfig(n_pe=8, fifo_depth=d), verify=True) for d in (1, 2, 8, 1)]
    assert len(calls) == 1                                  # one encoding for every FIFO depth
    for d, run in zip((1, 2, 8), cached):
        clear_workload_cache()
        _same(run, simulate_workload("nt-lstm", AcceleratorConfig(n_pe=8, fifo_depth=d)))
        assert run.layers[0].config.fifo_depth == d
    _same(cached[0], cached[3])
    assert cached[0].layers[0].result.cycles != cached[2].layers[0].result.cycles   # the depth mattered


def test_another_pe_count_or_seed_is_encoded_again(monkeypatch):
    clear_workload_cache()
    a = simulate_workload("nt-lstm", AcceleratorConfig(n_pe=8))
    b = simulate_workload("nt-lstm", AcceleratorConfig(n_pe=16))
    c = simulate_workload("nt-lstm", AcceleratorConfig(n_pe=8), seed=1)
    assert a.layers[0].result.n_pe == 8 and b.layers[0].result.n_pe == 16
    assert a.layers[0].result.cycles != c.layers[0].result.cycles or not np.array_equal(
        a.layers[0].result.outputs, c.layers[0].result.outputs)
    assert len(network._cache) == 5          # two generated layers (seeds 0, 1), three encodings


def test_the_cache_is_bounded(monkeypatch):
    clear_workload_cache()
    monkeypatch.setattr(network, "WORKLOAD_CACHE_BYTES", 1)
    simulate_workload("nt-lstm", AcceleratorConfig(n_pe=8))
    simulate_workload("nt-lstm", AcceleratorConfig(n_pe=16))
    assert len(network._cache) == 1
    clear_workload_cache()


def test_the_reference_is_computed_once_and_still_catches_a_wrong_output(monkeypatch):
    import pytest

    from sim import reference
    from sim.results import SimulationMismatch

    clear_workload_cache()
    calls = []
    real = reference.reference_layer
    monkeypatch.setattr(reference, "reference_layer", lambda *a: calls.append(1) or real(*a))
    for n_pe in (8, 16):
        for d in (1, 4):
            assert simulate_workload("nt-lstm", AcceleratorConfig(n_pe=n_pe, fifo_depth=d), verify=True).verified
    assert len(calls) == 1
    machine = get_machine("eie")
    real_run = type(machine).run

    def wrong(self, *a):
        r = real_run(self, *a)
        r.outputs[0] += 1
        return r

    monkeypatch.setattr(type(machine), "run", wrong)
    with pytest.raises(SimulationMismatch):
        simulate_workload("nt-lstm", AcceleratorConfig(n_pe=32), verify=True)
    clear_workload_cache()


def test_the_cache_counts_every_array_a_prepared_layer_holds():
    cfg = AcceleratorConfig(n_pe=8, act_regs_per_pe=16)
    prep = get_machine(cfg).prepare(np.random.default_rng(0).integers(0, 16, (300, 200)), cfg)
    streams = sum(a.nbytes for s in prep.tiled.streams for pe in s.pes for a in vars(pe).values()
                  if isinstance(a, np.ndarray))
    flat = sum(getattr(prep, f).nbytes for f in ("nz_ptr", "nz_pe", "nz_c0", "nz_off", "ent"))
    assert prep.n_passes > 1 and streams > 0
    assert network._nbytes(prep) >= flat + streams            # the per-pass streams, not only the flat arrays
    assert network._nbytes([prep, prep]) == network._nbytes(prep)   # each array once
