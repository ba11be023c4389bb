"""compress.methods.kmeans: exact 1-D Lloyd k-means for weight sharing."""
import numpy as np
import pytest
from hypothesis import given, strategies as st
from hypothesis.extra import numpy as hnp

from compress.config import KMeansInit
from compress.methods.kmeans import KMeansResult, init_centroids, kmeans_1d

INITS = ["linear", "density", "random"]

finite = st.floats(min_value=-1e3, max_value=1e3, allow_nan=False, allow_infinity=False, width=64)
data = st.one_of(
    hnp.arrays(np.float64, st.integers(1, 300), elements=finite),
    # few distinct values, many repeats (fewer distinct values than k is common here)
    hnp.arrays(np.float64, st.integers(1, 300), elements=st.sampled_from([-2.0, -0.5, 0.0, 0.25, 3.0])),
)


def _check_result(x, res: KMeansResult, k: int):
    c, lab = res.centroids, res.labels
    assert c.dtype == np.float64 and c.shape == (k,)
    assert np.all(np.diff(c) >= 0), "centroids must be sorted ascending"
    assert lab.dtype == np.int32 and lab.shape == (x.size,)
    assert lab.min() >= 0 and lab.max() < k
    scale = float(np.sum(x * x)) + float(x.size) * float(np.ptp(x)) ** 2 + 1.0
    # the reported WCSS is that of the returned labels and centroids
    assert res.wcss == pytest.approx(float(np.sum((x - c[lab]) ** 2)), rel=1e-12, abs=1e-12 * scale)
    # labels are a nearest-centroid assignment
    d_lab = np.abs(x - c[lab])
    d_min = np.min(np.abs(x[:, None] - c[None, :]), axis=1)
    assert np.all(d_lab <= d_min + 1e-12 * (np.abs(x) + np.abs(c[lab]) + 1.0))
    # Lloyd never increases the WCSS
    assert res.wcss <= res.init_wcss + 1e-9 * scale


@given(x=data, k=st.integers(1, 20), init=st.sampled_from(INITS), seed=st.integers(0, 2**32 - 1),
       max_iter=st.integers(0, 50))
def test_kmeans_properties(x, k, init, seed, max_iter):
    res = kmeans_1d(x, k, init=init, max_iter=max_iter, seed=seed)
    _check_result(x, res, k)
    assert 0 <= res.n_iter <= max_iter


@given(x=data, k=st.integers(1, 20), init=st.sampled_from(INITS), seed=st.integers(0, 1000))
def test_converged_centroids_are_cluster_means(x, k, init, seed):
    res = kmeans_1d(x, k, init=init, max_iter=1000, seed=seed)
    assert res.n_iter < 1000, "1-D Lloyd on <= 300 points must converge"
    for j in np.unique(res.labels):
        m = x[res.labels == j].mean()
        assert res.centroids[j] == pytest.approx(m, rel=1e-9, abs=1e-9 * (np.abs(x).max() + 1))


@given(x=data, k=st.integers(1, 20), init=st.sampled_from(INITS), seed=st.integers(0, 1000))
def test_max_iter_zero_returns_the_initial_centroids(x, k, init, seed):
    res = kmeans_1d(x, k, init=init, max_iter=0, seed=seed)
    np.testing.assert_array_equal(res.centroids, init_centroids(x, k, init, seed))
    assert res.n_iter == 0
    assert res.wcss == pytest.approx(res.init_wcss, rel=1e-12, abs=1e-12)


def test_hand_example():
    x = np.array([11.0, 1.0, 3.0, 12.0, 2.0, 10.0])
    res = kmeans_1d(x, 2, init="linear")
    # linear init: [1, 12], split at 6.5 -> {1,2,3} and {10,11,12}, init WCSS 5 + 5
    assert res.init_wcss == 10.0
    np.testing.assert_array_equal(res.centroids, [2.0, 11.0])
    np.testing.assert_array_equal(res.labels, [1, 0, 0, 1, 0, 1])
    assert res.wcss == 4.0
    assert res.n_iter == 1


def test_k1_gives_the_mean():
    x = np.random.default_rng(1).normal(size=1001)
    for init in INITS:
        res = kmeans_1d(x, 1, init=init)
        assert res.centroids[0] == pytest.approx(x.mean(), abs=1e-12)
        assert np.all(res.labels == 0)
        assert res.wcss == pytest.approx(np.sum((x - x.mean()) ** 2), rel=1e-12)


def test_degenerate_inputs():
    r = kmeans_1d([3.5], 4)
    assert r.wcss == 0.0 and r.init_wcss == 0.0
    assert r.centroids[r.labels[0]] == 3.5
    r = kmeans_1d(np.full(50, -1.25), 8, init="density")
    assert np.all(r.centroids[r.labels] == -1.25) and r.wcss == 0.0
    r = kmeans_1d([0.0, 1.0], 5, init="random", seed=3)  # fewer points than clusters
    assert r.wcss == 0.0 and set(r.centroids[r.labels]) == {0.0, 1.0}
    r = kmeans_1d(np.arange(12.0).reshape(3, 4), 3)  # any shape, flattened
    assert r.labels.shape == (12,)


def test_init_centroids():
    x = np.random.default_rng(2).laplace(size=999)
    np.testing.assert_allclose(init_centroids(x, 5, "linear"), np.linspace(x.min(), x.max(), 5))
    np.testing.assert_allclose(init_centroids(x, 4, "density"), np.quantile(x, [0.125, 0.375, 0.625, 0.875]))
    r1 = init_centroids(x, 7, "random", seed=5)
    r2 = init_centroids(x, 7, KMeansInit.RANDOM, seed=5)
    np.testing.assert_array_equal(r1, r2)
    assert np.all(np.diff(r1) >= 0) and np.all(np.isin(r1, x)) and len(np.unique(r1)) == 7
    assert not np.array_equal(r1, init_centroids(x, 7, "random", seed=6))
    for init in KMeansInit:
        assert init_centroids(x, 3, init).shape == (3,)
        assert kmeans_1d(x, 3, init=init).centroids.shape == (3,)


def test_bad_arguments():
    x = np.arange(10.0)
    with pytest.raises(ValueError, match="'kmeans\\+\\+'.*linear, density, random"):
        kmeans_1d(x, 3, init="kmeans++")
    with pytest.raises(ValueError, match="nope"):
        init_centroids(x, 3, init="nope")
    with pytest.raises(ValueError, match="empty"):
        kmeans_1d(np.array([]), 3)
    with pytest.raises(ValueError, match="NaN"):
        kmeans_1d([1.0, np.nan], 2)
    for k in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="k = "):
            kmeans_1d(x, k)
    with pytest.raises(ValueError, match="max_iter"):
        kmeans_1d(x, 2, max_iter=-1)
    with pytest.raises(ValueError, match="tol"):
        kmeans_1d(x, 2, tol=-1.0)


def test_tol_stops_early():
    x = np.random.default_rng(3).normal(size=20000)
    full = kmeans_1d(x, 16, max_iter=500)
    early = kmeans_1d(x, 16, max_iter=500, tol=1e-2)
    assert early.n_iter < full.n_iter
    assert full.wcss <= early.wcss <= early.init_wcss


def _pruned_gaussian(n: int, seed: int) -> np.ndarray:
    """The nonzeros of N(0, 0.05) weights magnitude-pruned to 10% density (n // 10 values)."""
    w = np.random.default_rng(seed).normal(scale=0.05, size=n)
    return w[np.abs(w) > np.quantile(np.abs(w), 0.9)]


@pytest.mark.parametrize("init,data", [
    ("linear", lambda: np.random.default_rng(4).laplace(scale=0.05, size=2000)),
    ("density", lambda: _pruned_gaussian(20000, 4)),
    ("random", lambda: _pruned_gaussian(20000, 5)),
])
def test_matches_sklearn_with_the_same_init(init, data):
    """Same initial centroids -> same Lloyd run as scikit-learn's.

    scikit-learn moves an empty cluster to a far point where dcsim keeps its
    centroid, so the data sets are ones on which no cluster empties.
    """
    sklearn_cluster = pytest.importorskip("sklearn.cluster")
    x = data()
    k = 15
    c0 = init_centroids(x, k, init, seed=1)
    ours = kmeans_1d(x, k, init=init, max_iter=300, seed=1)
    assert np.all(np.bincount(ours.labels, minlength=k) > 0), "precondition: no empty cluster"
    km = sklearn_cluster.KMeans(n_clusters=k, init=c0.reshape(-1, 1), n_init=1, max_iter=300, tol=0.0,
                                algorithm="lloyd").fit(x.reshape(-1, 1))
    assert ours.n_iter < 300
    assert abs(ours.n_iter - km.n_iter_) <= 1  # scikit-learn also counts the pass that finds no change
    assert ours.wcss == pytest.approx(km.inertia_, rel=1e-9)
    np.testing.assert_allclose(ours.centroids, np.sort(km.cluster_centers_.ravel()), rtol=1e-9, atol=1e-12)


def test_linear_init_on_pruned_weights_keeps_empty_clusters():
    """Linear init puts centroids in the pruned gap around 0; they stay there, unused."""
    x = _pruned_gaussian(20000, 4)
    lin = kmeans_1d(x, 15, init="linear", max_iter=300)
    used = np.bincount(lin.labels, minlength=15) > 0
    assert not used.all()
    assert np.all(np.abs(lin.centroids[~used]) < np.abs(x).min())
    assert lin.wcss <= lin.init_wcss


def test_large_input_is_handled():
    x = np.random.default_rng(5).normal(size=1_000_000)
    res = kmeans_1d(x, 32, max_iter=30)
    assert res.labels.shape == x.shape
    assert res.wcss <= res.init_wcss
    assert np.all(np.bincount(res.labels, minlength=32) > 0)
