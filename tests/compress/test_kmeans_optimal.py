"""compress.methods.kmeans: the exact 1-D k-means optimum (init="optimal", dynamic programming)."""
import itertools

import numpy as np
import pytest

from compress.config import CompressionConfig, KMeansInit
from compress.methods import share_values
from compress.methods.kmeans import INITS, init_centroids, kmeans_1d


def _brute_force(x, k, w=None):
    """The least weighted WCSS over all partitions of sorted(x) into at most k contiguous runs."""
    order = np.argsort(x, kind="stable")
    xs = x[order]
    ws = np.ones_like(xs) if w is None else w[order]
    n = xs.size
    best = np.inf
    for m in range(1, min(k, n) + 1):
        for cuts in itertools.combinations(range(1, n), m - 1):
            b = (0, *cuts, n)
            tot = 0.0
            for lo, hi in zip(b[:-1], b[1:]):
                W = ws[lo:hi].sum()
                if W > 0:
                    c = np.dot(ws[lo:hi], xs[lo:hi]) / W
                    tot += float(np.dot(ws[lo:hi], (xs[lo:hi] - c) ** 2))
            best = min(best, tot)
    return best


def _direct_wcss(x, res, w=None):
    d = x - res.centroids[res.labels]
    return float(np.dot(d, d)) if w is None else float(np.dot(w * d, d))


@pytest.mark.parametrize("weighted", [False, True])
def test_dp_equals_brute_force(weighted):
    rng = np.random.default_rng(123 + weighted)
    for trial in range(300):
        n = int(rng.integers(1, 11))
        k = int(rng.integers(1, 5))
        if trial % 3 == 0:   # duplicates, often fewer distinct values than k
            x = rng.choice([-1.5, 0.0, 0.25, 2.0], size=n)
        else:
            x = np.round(rng.normal(size=n), 2 if trial % 3 == 1 else 12)
        w = None
        if weighted:
            w = rng.exponential(size=n)
            w[rng.random(n) < 0.2] = 0.0          # zero weights too
            if not np.any(w > 0):
                w[0] = 1.0
        res = kmeans_1d(x, k, init="optimal", sample_weight=w)
        bf = _brute_force(x, k, w)
        scale = float(np.sum(x * x)) + 1.0
        assert res.wcss == pytest.approx(bf, rel=1e-9, abs=1e-12 * scale), (x, w, k)
        # the reported WCSS is that of the labels and centroids; labels are nearest-centroid
        c, lab = res.centroids, res.labels
        assert c.shape == (k,) and np.all(np.diff(c) >= 0)
        assert lab.dtype == np.int32 and lab.shape == x.shape
        assert res.wcss == pytest.approx(_direct_wcss(x, res, w), rel=1e-12, abs=1e-15)
        np.testing.assert_array_equal(lab, np.searchsorted(0.5 * c[:-1] + 0.5 * c[1:], x, side="right"))
        assert res.n_iter == 0 and res.init_wcss == res.wcss
        # no other init (plain or with relocation) does better
        for init in ("linear", "density", "random"):
            for reloc in (False, True):
                other = kmeans_1d(x, k, init=init, max_iter=100, seed=trial, relocate_empty=reloc, sample_weight=w)
                assert res.wcss <= other.wcss * (1 + 1e-9) + 1e-12 * scale


def _quadratic_dp(x, k):
    """O(k n^2) DP without the monotonicity shortcut (the reference for larger n)."""
    xs = np.sort(x)
    n = xs.size
    cost = np.zeros((n + 1, n + 1))
    for j in range(n):
        for i in range(j + 1, n + 1):
            cost[j, i] = float(np.sum((xs[j:i] - xs[j:i].mean()) ** 2))
    D = cost[0].copy()
    for m in range(1, min(k, n)):
        D = np.array([min((D[j] + cost[j, i] for j in range(m, i)), default=np.inf) for i in range(n + 1)])
    return D[n]


def test_divide_and_conquer_equals_quadratic_dp():
    rng = np.random.default_rng(7)
    for trial in range(12):
        n = int(rng.integers(20, 60))
        k = int(rng.integers(2, 9))
        x = rng.laplace(size=n) if trial % 2 else np.round(rng.normal(size=n), 1)   # many ties
        res = kmeans_1d(x, k, init="optimal")
        assert res.wcss == pytest.approx(_quadratic_dp(x, k), rel=1e-9, abs=1e-12)


def test_known_optimum_and_degenerate_inputs():
    # two clear groups; k = 2 optimum splits them
    r = kmeans_1d([1.0, 2.0, 3.0, 10.0, 11.0, 12.0], 2, init="optimal")
    np.testing.assert_allclose(r.centroids, [2.0, 11.0])
    assert r.wcss == pytest.approx(4.0)
    r = kmeans_1d(np.full(20, -1.25), 8, init="optimal")
    assert r.wcss == 0.0 and np.all(r.centroids == -1.25)
    r = kmeans_1d([0.0, 1.0, 1.0], 5, init="optimal")          # fewer distinct values than clusters
    assert r.wcss == 0.0 and set(r.centroids[r.labels]) == {0.0, 1.0}
    r = kmeans_1d([3.5], 1, init=KMeansInit.OPTIMAL)
    assert r.centroids.tolist() == [3.5] and r.wcss == 0.0
    # a run of equal values is never split
    x = np.array([0.0] * 5 + [1.0] * 5 + [1.1])
    r = kmeans_1d(x, 4, init="optimal")
    assert len(set(r.labels[:5])) == 1 and len(set(r.labels[5:10])) == 1
    assert r.wcss == 0.0
    # far from 0 and tightly spread: the centred prefix sums keep the precision
    y = 1e6 + np.random.default_rng(0).normal(scale=1e-3, size=1000)
    r = kmeans_1d(y, 4, init="optimal")
    assert r.wcss <= kmeans_1d(y, 4, init="density", max_iter=1000, relocate_empty=True).wcss * (1 + 1e-9)
    np.testing.assert_array_equal(init_centroids(y, 4, "optimal"), r.centroids)
    assert "optimal" in INITS


def test_too_large_is_refused(monkeypatch):
    import compress.methods.kmeans as km
    monkeypatch.setattr(km, "DP_MAX_CELLS", 1000)
    x = np.random.default_rng(0).normal(size=500)
    with pytest.raises(ValueError, match=r"3 x 500 backtracking table"):
        kmeans_1d(x, 3, init="optimal")
    # relocation above its budget keeps the heuristic result, no error
    monkeypatch.setattr(km, "RELOCATE_DP_CELLS", 10)
    assert kmeans_1d(x, 3, relocate_empty=True).wcss > 0


def _pruned(dist: str) -> np.ndarray:
    rng = np.random.default_rng(0)
    w = rng.normal(scale=0.05, size=100_000) if dist == "normal" else rng.laplace(scale=0.05, size=100_000)
    return w[np.abs(w) > np.quantile(np.abs(w), 0.9)]


@pytest.mark.parametrize("dist", ["normal", "laplace"])
def test_optimal_on_pruned_weights(dist):
    from sklearn.cluster import KMeans

    x = _pruned(dist)
    for k in (15, 63):
        opt = kmeans_1d(x, k, init="optimal")
        sk = KMeans(n_clusters=k, n_init=1, random_state=0).fit(x.reshape(-1, 1)).inertia_
        assert opt.wcss <= sk * (1 + 1e-9)
        for init in ("linear", "density", "random"):
            for reloc in (False, True):
                other = kmeans_1d(x, k, init=init, max_iter=1000, relocate_empty=reloc)
                assert opt.wcss <= other.wcss * (1 + 1e-9)
        # plain Lloyd from linear init leaves clusters empty here: strictly worse (the test can fail)
        assert kmeans_1d(x, k, init="linear", max_iter=1000).wcss > opt.wcss * (1 + 1e-6)
        assert np.all(np.bincount(opt.labels, minlength=k) > 0)


def test_weighted_optimal_and_quantizer():
    rng = np.random.default_rng(1)
    x = rng.laplace(scale=0.05, size=3000)
    h = rng.exponential(size=3000)
    opt = kmeans_1d(x, 7, init="optimal", sample_weight=h)
    assert opt.wcss == pytest.approx(_direct_wcss(x, opt, h), rel=1e-12)
    for init in ("linear", "density", "random"):
        for reloc in (False, True):
            assert opt.wcss <= kmeans_1d(x, 7, init=init, max_iter=1000, relocate_empty=reloc,
                                         sample_weight=h).wcss * (1 + 1e-9)
    # the weighted optimum is not the unweighted one
    assert not np.allclose(opt.centroids, kmeans_1d(x, 7, init="optimal").centroids)
    # through the recipe
    _, cb = share_values(x, 3, CompressionConfig(kmeans_init="optimal"))
    np.testing.assert_array_equal(cb[1:], kmeans_1d(x, 7, init="optimal").centroids.astype(np.float32))
