"""Exact 1-D k-means (Lloyd's algorithm) for weight sharing (Deep Compression, Sec. 3).

In one dimension the nearest-centroid assignment for sorted centroids is a
partition of the sorted data into contiguous runs, separated at the
midpoints between neighbouring centroids. So the data is sorted once, and
every Lloyd iteration costs O(k log n): the run boundaries come from
``np.searchsorted`` on the sorted data, and the run sums from a prefix sum of
it. The labels of the original points are computed once, at the end.

Three initialisations are offered (Han et al. compare them and use linear):

- ``linear``:  k values evenly spaced over [min, max];
- ``density``: the quantiles of the data at levels ``(i + 0.5) / k``;
- ``random``:  Forgy, k distinct samples drawn with ``np.random.default_rng(seed)``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

INITS = ("linear", "density", "random")


@dataclass(frozen=True)
class KMeansResult:
    """The outcome of :func:`kmeans_1d`.

    - ``centroids``: float64, sorted ascending, shape ``(k,)``. A cluster that
      ends up empty keeps its last centroid, so with fewer distinct values
      than ``k`` some centroids may be unused or repeated.
    - ``labels``: int32, one per input point (original order), an index into
      ``centroids``; always the nearest-centroid assignment for ``centroids``
      (ties between two centroids go to the higher one).
    - ``wcss``: the within-cluster sum of squares of ``labels``/``centroids``.
    - ``init_wcss``: the WCSS of each point assigned to its nearest initial centroid.
    - ``n_iter``: the number of Lloyd updates (centroid recomputations) done.
    """

    centroids: np.ndarray
    labels: np.ndarray
    wcss: float
    init_wcss: float
    n_iter: int

    @property
    def k(self) -> int:
        """Number of centroids."""
        return int(len(self.centroids))


def _as_data(x) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64).ravel()
    if a.size == 0:
        raise ValueError("k-means needs at least one value; got an empty array")
    if not np.all(np.isfinite(a)):
        raise ValueError("k-means input contains NaN or infinite values")
    return a


def _check_k(k) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k = {k!r} is not allowed; use an integer >= 1")
    return int(k)


def _init_name(init) -> str:
    name = str(getattr(init, "value", init))
    if name not in INITS:
        raise ValueError(f"k-means init {name!r} is not allowed; use one of {', '.join(INITS)}")
    return name


def _init_from(x: np.ndarray, xs: np.ndarray, k: int, init: str, seed) -> np.ndarray:
    """Initial centroids (sorted float64) for data ``x`` whose sorted copy is ``xs``."""
    if init == "linear":
        c = np.linspace(xs[0], xs[-1], k)
    elif init == "density":
        levels = (np.arange(k, dtype=np.float64) + 0.5) / k
        c = np.quantile(xs, levels)
    else:  # random (Forgy)
        rng = np.random.default_rng(seed)
        n = x.size
        if n >= k:
            pick = rng.choice(n, size=k, replace=False)
        else:  # every point once, then repeats to reach k centroids
            pick = np.concatenate([rng.permutation(n), rng.choice(n, size=k - n, replace=True)])
        c = x[pick]
    return np.sort(np.asarray(c, dtype=np.float64))


def init_centroids(x, k: int, init="linear", seed: int | None = 0) -> np.ndarray:
    """Initial centroids for 1-D k-means, sorted ascending (float64, shape ``(k,)``).

    ``init`` is ``"linear"``, ``"density"`` or ``"random"`` (or a
    ``compress.config.KMeansInit``); ``seed`` only matters for ``"random"``.
    """
    k = _check_k(k)
    name = _init_name(init)
    a = _as_data(x)
    return _init_from(a, np.sort(a), k, name, seed)


def _midpoints(c: np.ndarray) -> np.ndarray:
    # 0.5 * a + 0.5 * b cannot overflow, unlike (a + b) / 2
    return 0.5 * c[:-1] + 0.5 * c[1:]


def _bounds(xs: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Run boundaries (k + 1 offsets into xs) of the nearest-centroid assignment.

    Cluster j holds xs[b[j]:b[j+1]], i.e. the points with m[j-1] <= x < m[j]
    for the midpoints m (the same rule as ``searchsorted(m, x, 'right')``).
    """
    b = np.empty(len(c) + 1, dtype=np.int64)
    b[0] = 0
    b[-1] = len(xs)
    b[1:-1] = np.searchsorted(xs, _midpoints(c), side="left")
    return b


def _sorted_wcss(xs: np.ndarray, b: np.ndarray, c: np.ndarray) -> float:
    """WCSS of the run assignment ``b`` with centroids ``c`` (computed directly, no cancellation)."""
    rep = np.repeat(c, np.diff(b))
    d = xs - rep
    return float(np.dot(d, d))


def kmeans_1d(x, k: int, init="linear", max_iter: int = 100, tol: float = 0.0,
              seed: int | None = 0) -> KMeansResult:
    """Cluster the values ``x`` (any shape, flattened) into ``k`` clusters with Lloyd's algorithm.

    Each iteration assigns every point to its nearest centroid and moves every
    non-empty cluster's centroid to the cluster mean (an empty cluster keeps
    its centroid). It stops when the assignment no longer changes, when no
    centroid moved by more than ``tol``, or after ``max_iter`` iterations
    (``max_iter = 0`` returns the initial centroids). The returned labels are
    the nearest-centroid assignment for the returned centroids, so
    ``wcss <= init_wcss`` (Lloyd's algorithm never increases the WCSS).

    Raises ValueError for empty or non-finite input, ``k < 1``, a negative
    ``max_iter`` or ``tol``, or an unknown ``init``.
    """
    k = _check_k(k)
    name = _init_name(init)
    if isinstance(max_iter, bool) or not isinstance(max_iter, (int, np.integer)) or max_iter < 0:
        raise ValueError(f"max_iter = {max_iter!r} is not allowed; use an integer >= 0")
    if not (tol >= 0.0):
        raise ValueError(f"tol = {tol!r} is not allowed; use a number >= 0")
    a = _as_data(x)
    xs = np.sort(a)
    c = _init_from(a, xs, k, name, seed)
    n = xs.size

    # Prefix sums of the data shifted by its median: keeps the running sums
    # small, so run sums (differences of prefix sums) lose little precision.
    shift = xs[n // 2]
    cs = np.empty(n + 1, dtype=np.float64)
    cs[0] = 0.0
    np.cumsum(xs - shift, out=cs[1:])

    b = _bounds(xs, c)
    init_wcss = _sorted_wcss(xs, b, c)
    n_iter = 0
    for _ in range(max_iter):
        counts = np.diff(b)
        sums = cs[b[1:]] - cs[b[:-1]]
        nonempty = counts > 0
        c_new = c.copy()
        c_new[nonempty] = sums[nonempty] / counts[nonempty] + shift
        # a mean lies within its run, so the order is kept up to rounding; make sure
        if np.any(c_new[1:] < c_new[:-1]):
            c_new.sort()
        n_iter += 1
        moved = float(np.max(np.abs(c_new - c)))
        c = c_new
        b_new = _bounds(xs, c)
        same = np.array_equal(b_new, b)
        b = b_new
        if same or moved <= tol:
            break

    labels = np.searchsorted(_midpoints(c), a, side="right").astype(np.int32)
    d = a - c[labels]
    wcss = float(np.dot(d, d))
    return KMeansResult(centroids=c, labels=labels, wcss=wcss, init_wcss=init_wcss, n_iter=n_iter)


# ----------------------------------------------------------------------------- the quantizer
from .registry import QUANTIZERS, Quantizer  # noqa: E402


class KMeansQuantizer(Quantizer):
    """Deep Compression's trained quantization: the nonzero values of a layer are clustered by
    1-D k-means into ``2**bits - 1`` shared values (``kmeans_init``, ``kmeans_max_iter`` and
    ``seed`` of the recipe); code k + 1 is cluster k."""

    def share(self, values, bits, cfg):
        res = kmeans_1d(values, (1 << bits) - 1, init=cfg.kmeans_init, max_iter=cfg.kmeans_max_iter, seed=cfg.seed)
        centroids = np.zeros(1 << bits, dtype=np.float32)
        centroids[1:1 + len(res.centroids)] = res.centroids.astype(np.float32)
        return res.labels.astype(np.int64) + 1, centroids


QUANTIZERS.register("kmeans", KMeansQuantizer())
