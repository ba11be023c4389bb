"""compress/methods: the registry, magnitude pruning and k-means weight sharing."""
import numpy as np
import pytest

from arch.configio import ConfigError
from arch.registry import RegistryError
from compress.config import CompressionConfig
from compress.methods import PRUNERS, QUANTIZERS, Quantizer, quantize_matrix, share_values
from compress.methods.magnitude import mask_by_density, mask_by_threshold

KMEANS = CompressionConfig(kmeans_max_iter=100)


def test_density_mask_keeps_largest():
    w = np.array([[0.1, -3.0, 0.5], [2.0, -0.05, 0.0]])
    m = mask_by_density(w, 0.5)
    assert m.sum() == 3 and m[0, 1] and m[1, 0] and m[0, 2]


def test_threshold_mask_is_quality_times_std():
    w = np.random.default_rng(0).normal(size=1000)
    m = mask_by_threshold(w, 1.0)
    assert np.all(np.abs(w[m]) >= w.std()) and np.all(np.abs(w[~m]) < w.std())


def test_quantize_matrix_index_zero_means_zero():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(20, 31)) * (rng.random((20, 31)) < 0.3)
    q = quantize_matrix(a, 4, KMEANS)
    assert q.centroids[0] == 0 and np.all((q.idx == 0) == (a == 0))
    assert np.all(q.centroids[1:][np.unique(q.idx[q.idx > 0]) - 1] != 0)
    assert q.bits == 4


def test_the_built_in_methods_are_registered_by_their_config_names():
    assert {"density", "threshold"} <= set(PRUNERS.names())
    assert "kmeans" in QUANTIZERS.names()
    with pytest.raises(ConfigError, match="quantizer = 'nope' is not allowed; choose one of 'kmeans'"):
        CompressionConfig(quantizer="nope")
    with pytest.raises(ConfigError, match="prune_method = 'nope' is not allowed"):
        CompressionConfig(prune_method="nope")
    with pytest.raises(RegistryError, match="unknown quantizer 'nope'; known: kmeans"):
        QUANTIZERS.get("nope")


class _Broken(Quantizer):
    def share(self, values, bits, cfg):
        return np.zeros(len(values), dtype=np.int64), np.zeros(1 << bits, dtype=np.float32)


def test_a_quantizer_that_breaks_the_contract_is_caught():
    QUANTIZERS.register("broken-test", _Broken())
    try:
        with pytest.raises(ValueError, match="quantizer 'broken-test' broke its contract"):
            share_values(np.array([0.5, -1.0]), 2, CompressionConfig(quantizer="broken-test"))
    finally:
        QUANTIZERS.unregister("broken-test")


def test_a_shared_value_of_exactly_zero_does_not_alias_the_pruned_code():
    class Zero(Quantizer):
        def share(self, values, bits, cfg):
            c = np.zeros(1 << bits, dtype=np.float32)
            return np.ones(len(values), dtype=np.int64), c

    QUANTIZERS.register("zero-test", Zero())
    try:
        codes, c = share_values(np.array([0.5, -1.0]), 2, CompressionConfig(quantizer="zero-test"))
        assert c[0] == 0 and c[1] == np.finfo(np.float32).tiny and c[2] == 0
    finally:
        QUANTIZERS.unregister("zero-test")


def test_density_mask_equals_a_stable_sort_of_the_magnitudes():
    """The partial-sort pruner keeps exactly the weights a stable sort by magnitude would,
    ties (zeros, repeated values) broken by position."""
    from compress.methods.magnitude import mask_by_density

    def by_sort(w, density):
        n = w.size
        k = min(max(int(round(density * n)), 1 if n else 0), n)
        mask = np.zeros(n, dtype=bool)
        mask[np.argsort(-np.abs(w.ravel()), kind="stable")[:k]] = True
        return mask.reshape(w.shape)

    rng = np.random.default_rng(0)
    for trial in range(800):
        shape = tuple(int(s) for s in rng.integers(1, 30, size=rng.integers(1, 4)))
        w = [rng.normal(size=shape), rng.integers(-3, 4, size=shape), np.zeros(shape),
             rng.integers(-1, 2, size=shape) * 0.5][trial % 4].astype(np.float32)
        d = float(rng.choice([1e-9, 0.01, 0.1, 0.33, 0.5, 0.9, 1.0, rng.random()]))
        assert np.array_equal(by_sort(w, d), mask_by_density(w, d)), (shape, d)
