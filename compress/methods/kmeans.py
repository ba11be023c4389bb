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

A fourth, ``optimal``, is not a starting point but the exact optimum of 1-D k-means, by dynamic
programming over the sorted values (Wang and Song, "Ckmeans.1d.dp", R Journal 2011; Groenlund
et al., "Fast exact k-means, k-medians and Bregman divergence clustering in 1D", 2017):
D[m][i] = min_j D[m-1][j] + cost(j..i), the within-cluster cost from prefix sums of (weighted)
x and x^2, each row by divide and conquer (the optimal split is monotone in i), so
O(k n log n) time and a k x n int32 backtracking table (n = number of distinct values; refused
above ``DP_MAX_CELLS`` cells).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

INITS = ("linear", "density", "random", "optimal")


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


# ----------------------------------------------------------------------------- the exact optimum
#: Above this many cells (distinct values x clusters) the DP's k x n int32 backtracking table
#: (4 bytes a cell: 800 MB at the limit) is refused: ``init="optimal"`` raises ValueError.
DP_MAX_CELLS = 200_000_000
#: ``relocate_empty`` also computes the DP optimum when points x clusters (n * k) is at most this.
#: Measured on one core: n = 235,200, k = 63 (1.5e7) 0.55 s; 3e7 cells 1.0-1.7 s (n = 117,600 at
#: k = 255: 1.0 s; n = 476,000 at k = 63: 1.4 s; n = 4e6 at k = 7: 1.7 s). Above it the heuristic
#: result stands (it may be slightly above the optimum).
RELOCATE_DP_CELLS = 30_000_000


@njit(cache=True)
def _dp_cost(c0, c1, c2, j, i):
    """Weighted within-cluster sum of squares of the points j..i-1 (prefix sums of w, w d, w d^2)."""
    w = c0[i] - c0[j]
    if w <= 0.0:
        return 0.0
    s = c1[i] - c1[j]
    v = (c2[i] - c2[j]) - s * s / w
    return v if v > 0.0 else 0.0


@njit(cache=True)
def _dp_table(c0, c1, c2, k):
    """Optimal partition of n sorted points into k contiguous runs (k <= n).

    Row m of D (m + 1 clusters over the first i points) is
    D[m][i] = min_{m <= j < i} D[m-1][j] + cost(j, i), computed by divide and conquer: the
    (leftmost) optimal j is nondecreasing in i (the cost satisfies the quadrangle inequality),
    so each row costs O(n log n). Returns (run starts: int64 array of k + 1 offsets, optimum)."""
    n = c0.shape[0] - 1
    prev = np.empty(n + 1)
    cur = np.empty(n + 1)
    arg = np.empty((k, n + 1), dtype=np.int32)
    for i in range(1, n + 1):
        prev[i] = _dp_cost(c0, c1, c2, 0, i)
        arg[0, i] = 0
    stack = np.empty((256, 4), dtype=np.int64)
    for m in range(1, k):
        lo_i = m + 1
        hi_i = n - (k - 1 - m)        # the later clusters need a point each
        if m == k - 1:
            lo_i = n
        stack[0, 0] = lo_i
        stack[0, 1] = hi_i
        stack[0, 2] = m
        stack[0, 3] = hi_i - 1
        top = 1
        while top > 0:
            top -= 1
            ilo = stack[top, 0]
            ihi = stack[top, 1]
            jlo = stack[top, 2]
            jhi = stack[top, 3]
            if ilo > ihi:
                continue
            mid = (ilo + ihi) // 2
            jend = min(jhi, mid - 1)
            best = np.inf
            bj = jlo
            for j in range(jlo, jend + 1):
                v = prev[j] + _dp_cost(c0, c1, c2, j, mid)
                if v < best:
                    best = v
                    bj = j
            cur[mid] = best
            arg[m, mid] = bj
            # the right half first on the stack, so the left half is solved first (any order works)
            stack[top, 0] = mid + 1
            stack[top, 1] = ihi
            stack[top, 2] = bj
            stack[top, 3] = jhi
            top += 1
            stack[top, 0] = ilo
            stack[top, 1] = mid - 1
            stack[top, 2] = jlo
            stack[top, 3] = bj
            top += 1
        for i in range(lo_i, hi_i + 1):
            prev[i] = cur[i]
    b = np.empty(k + 1, dtype=np.int64)
    b[k] = n
    i = n
    for m in range(k - 1, -1, -1):
        i = arg[m, i]
        b[m] = i
    return b, prev[n]


def _optimal_centroids(xs: np.ndarray, ws: np.ndarray | None, k: int) -> np.ndarray:
    """The centroids (sorted, shape ``(k,)``) of an exact optimum of 1-D k-means on the sorted
    values ``xs`` (weights ``ws`` aligned with them, or None).

    Equal values are merged first (one point with their total weight), so a run of equal values
    is never split and with fewer distinct values ``u`` than ``k`` the DP uses ``u`` clusters:
    every distinct value its own centroid, the last one repeated to reach ``k``. A cluster of
    total weight 0 (only zero-weight points) gets the plain mean of its values."""
    n = xs.size
    first = np.empty(n, dtype=bool)
    first[0] = True
    np.not_equal(xs[1:], xs[:-1], out=first[1:])
    starts = np.flatnonzero(first)
    ux = xs[starts]
    uw = np.diff(np.append(starts, n)).astype(np.float64) if ws is None else np.add.reduceat(ws, starts)
    u = ux.size
    kk = min(k, u)
    if u * kk > DP_MAX_CELLS:
        raise ValueError(f"init='optimal' needs a {kk} x {u} backtracking table ({u * kk * 4 / 1e9:.1f} GB; "
                         f"limit {DP_MAX_CELLS} cells): use fewer clusters or another init")
    # prefix sums of the data centred on its (weighted-point) median, in float64
    d = ux - xs[n // 2]
    c0 = np.zeros(u + 1)
    c1 = np.zeros(u + 1)
    c2 = np.zeros(u + 1)
    np.cumsum(uw, out=c0[1:])
    np.cumsum(uw * d, out=c1[1:])
    np.cumsum(uw * d * d, out=c2[1:])
    b, _ = _dp_table(c0, c1, c2, kk)
    lo = b[:-1]
    W = np.add.reduceat(uw, lo)
    S = np.add.reduceat(uw * ux, lo)          # direct run sums: no cancellation
    with np.errstate(divide="ignore", invalid="ignore"):
        c = np.where(W > 0, S / np.where(W > 0, W, 1.0), np.add.reduceat(ux, lo) / np.diff(b))
    # a weighted mean lies within its run, so the order is kept up to rounding; make sure
    c = np.clip(c, ux[lo], ux[b[1:] - 1])
    if kk < k:
        c = np.concatenate([c, np.full(k - kk, c[-1])])
    return np.sort(c)


def _init_from(x: np.ndarray, xs: np.ndarray, k: int, init: str, seed) -> np.ndarray:
    """Initial centroids (sorted float64) for data ``x`` whose sorted copy is ``xs``."""
    if init == "optimal":
        return _optimal_centroids(xs, None, k)
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

    ``init`` is ``"linear"``, ``"density"``, ``"random"`` or ``"optimal"`` (the centroids of the
    exact optimum, unweighted) or a ``compress.config.KMeansInit``; ``seed`` only matters for
    ``"random"``.
    """
    k = _check_k(k)
    name = _init_name(init)
    a = _as_data(x)
    return _init_from(a, np.sort(a), k, name, seed)


def _midpoints(c: np.ndarray) -> np.ndarray:
    # 0.5 * a + 0.5 * b cannot overflow, unlike (a + b) / 2
    return 0.5 * c[:-1] + 0.5 * c[1:]


_LABELS_BY_COUNTING = 32
"""Up to this many midpoints, :func:`_labels` counts the midpoints at or below each point (one
vectorised comparison per midpoint) instead of a binary search per point: the same labels,
several times faster on millions of points."""


def _labels(m: np.ndarray, a: np.ndarray) -> np.ndarray:
    """``searchsorted(m, a, side="right")`` as int32 (the nearest-centroid label of each point of
    ``a`` for the midpoints ``m``), for non-decreasing ``m`` and finite ``a``: the number of
    midpoints ``<= x`` for each point x."""
    if 0 < len(m) <= _LABELS_BY_COUNTING and bool(np.all(m[1:] >= m[:-1])):
        count = np.zeros(a.shape[0], dtype=np.int8)
        ge = np.empty(a.shape[0], dtype=bool)
        for x in m:
            np.greater_equal(a, x, out=ge)
            count += ge
        return count.astype(np.int32)
    return np.searchsorted(m, a, side="right").astype(np.int32)


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


def _sorted_wcss(xs: np.ndarray, b: np.ndarray, c: np.ndarray, ws: np.ndarray | None = None) -> float:
    """WCSS of the run assignment ``b`` with centroids ``c`` (computed directly, no cancellation);
    weighted by ``ws`` (aligned with ``xs``) when given."""
    rep = np.repeat(c, np.diff(b))
    d = xs - rep
    return float(np.dot(d, d)) if ws is None else float(np.dot(ws * d, d))


def _check_weights(w, n: int) -> np.ndarray:
    h = np.asarray(w, dtype=np.float64).ravel()
    if h.size != n:
        raise ValueError(f"sample_weight has {h.size} values for {n} data points; give one weight per point")
    if not np.all(np.isfinite(h)) or np.any(h < 0):
        raise ValueError("sample_weight must be finite and >= 0")
    if not np.any(h > 0):
        raise ValueError("sample_weight is 0 everywhere; at least one weight must be > 0")
    return h


def _run_stats(b, cs, ws_cs):
    """(total weight, weighted sum of (x - shift)) of each run ``xs[b[j]:b[j+1]]``."""
    sums = cs[b[1:]] - cs[b[:-1]]
    wsum = np.diff(b).astype(np.float64) if ws_cs is None else ws_cs[b[1:]] - ws_cs[b[:-1]]
    return wsum, sums


def _relocated_centroids(xs, ws, b, c, cs, ws_cs, shift, empty) -> np.ndarray | None:
    """The Lloyd update of centroids ``c`` (runs ``b``) with scikit-learn's relocation of the
    ``empty`` clusters, or None when no point can be relocated.

    The points farthest from their own centroid (squared distance, times the point's weight when
    weighted) become the centroids of the empty clusters, the farthest first and each point
    once; the clusters they leave are averaged without them. Only points at a positive
    (weighted) distance are taken, so a relocation lowers the WCSS by at least their distance.
    In 1-D the farthest points of a run are a prefix and a suffix of it, so each donor's new mean
    is exact (a difference of prefix sums over the trimmed run)."""
    cnt = np.diff(b)
    d = xs - np.repeat(c, cnt)
    d *= d
    if ws is not None:
        d *= ws
    m = min(int(empty.size), int(np.count_nonzero(d > 0)))
    if m == 0:
        return None
    far = np.argpartition(d, d.size - m)[d.size - m:] if m < d.size else np.arange(d.size)
    far = far[np.argsort(-d[far], kind="stable")]          # the farthest first
    owner = np.searchsorted(b, far, side="right") - 1        # the run each point is in
    left = xs[far] < c[owner]
    lo, hi = b[:-1].copy(), b[1:].copy()
    np.add.at(lo, owner[left], 1)
    np.add.at(hi, owner[~left], -1)
    sums = cs[hi] - cs[lo]
    wsum = (hi - lo).astype(np.float64) if ws_cs is None else ws_cs[hi] - ws_cs[lo]
    c_new = c.copy()
    ok = (hi > lo) & (wsum > 0)
    c_new[ok] = sums[ok] / wsum[ok] + shift
    c_new[empty[:m]] = xs[far]
    c_new.sort()
    return c_new


def _swap(xs, b, c, cs, ws_cs, sq, shift) -> np.ndarray | None:
    """Relocation of the least useful cluster (a split-merge step), or None when none pays.

    For converged centroids ``c`` (runs ``b``, none empty): the two neighbouring clusters whose
    merging raises the sum of squares least are merged, and the cluster whose best split in two
    contiguous parts lowers its sum of squares the most is split (the freed centroid and the
    split one go to the two parts' means). Returned only when the estimated gain exceeds the
    estimated cost; the caller runs Lloyd and keeps the result only if the WCSS fell."""
    k = len(c)
    n = len(xs)
    cnt = np.diff(b)
    if np.any(cnt == 0):
        return None
    lo, hi = b[:-1], b[1:]

    def ss(l, h):
        W = (h - l).astype(np.float64) if ws_cs is None else ws_cs[h] - ws_cs[l]
        S1 = cs[h] - cs[l]
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(W > 0, (sq[h] - sq[l]) - S1 * S1 / np.where(W > 0, W, 1.0), 0.0)

    own = ss(lo, hi)
    # cost of merging neighbours p and p + 1 (exact: the merged cluster's sum of squares)
    merge = ss(lo[:-1], hi[1:]) - own[:-1] - own[1:]
    p = int(np.argmin(merge))
    # best split of each run: every split position s (lo < s < hi) at once
    s = np.arange(1, n, dtype=np.int64)
    run = np.searchsorted(b, s, side="right") - 1
    inside = s > lo[run]
    s, run = s[inside], run[inside]
    if s.size == 0:
        return None

    gain_s = own[run] - ss(lo[run], s) - ss(s, hi[run])
    best = np.full(k, -np.inf)
    np.maximum.at(best, run, gain_s)
    best[p:p + 2] = -np.inf
    i = int(np.argmax(best))
    if not best[i] > merge[p]:
        return None
    pos = s[(run == i)][int(np.argmax(gain_s[run == i]))]

    def mean(l, h):
        W = (h - l) if ws_cs is None else ws_cs[h] - ws_cs[l]
        return (cs[h] - cs[l]) / W + shift

    c_new = c.copy()
    c_new[p] = mean(lo[p], hi[p + 1])
    c_new[i] = mean(lo[i], pos)
    c_new[p + 1] = mean(pos, hi[i])
    return np.sort(c_new)


def kmeans_1d(x, k: int, init="linear", max_iter: int = 100, tol: float = 0.0,
              seed: int | None = 0, relocate_empty: bool = False, sample_weight=None,
              _alt: bool = True) -> KMeansResult:
    """Cluster the values ``x`` (any shape, flattened) into ``k`` clusters with Lloyd's algorithm.

    Each iteration assigns every point to its nearest centroid and moves every
    non-empty cluster's centroid to the cluster mean (an empty cluster keeps
    its centroid). It stops when the assignment no longer changes, when no
    centroid moved by more than ``tol``, or after ``max_iter`` iterations
    (``max_iter = 0`` returns the initial centroids). The returned labels are
    the nearest-centroid assignment for the returned centroids, so
    ``wcss <= init_wcss`` (Lloyd's algorithm never increases the WCSS).

    ``relocate_empty``: whenever a cluster is empty after an assignment, its centroid moves to
    the point farthest from its own centroid (as scikit-learn does: one point per empty
    cluster, the farthest first, no point twice, only points at a positive distance; the
    clusters that lose a point are averaged without it), and the iterations go on. So a
    cluster left empty by the initialisation (linear init on magnitude-pruned weights leaves
    the gap around 0 without points) is put to use. Repeated in every iteration that has an
    empty cluster, until none is left or no point is left to move; each relocation lowers the
    WCSS, so the invariants hold. Off by default (the results are those of plain Lloyd).

    ``sample_weight``: one weight ``h_i >= 0`` per point (not all 0). The objective becomes
    ``sum h_i (x_i - c)^2`` and a centroid the h-weighted mean of its cluster (Hessian-weighted
    k-means, Choi et al., ICLR 2017); ``wcss`` and ``init_wcss`` are then weighted. The
    assignment is still to the nearest centroid, so the sorted-run method works with prefix
    sums of ``h`` and ``h x``. A cluster of total weight 0 counts as empty. The ``density`` and
    ``random`` initialisations ignore the weights; ``optimal`` minimises the weighted objective.

    Raises ValueError for empty or non-finite input, ``k < 1``, a negative
    ``max_iter`` or ``tol``, an unknown ``init``, bad weights, or a too large ``optimal`` problem.
    """
    k = _check_k(k)
    name = _init_name(init)
    if isinstance(max_iter, bool) or not isinstance(max_iter, (int, np.integer)) or max_iter < 0:
        raise ValueError(f"max_iter = {max_iter!r} is not allowed; use an integer >= 0")
    if not (tol >= 0.0):
        raise ValueError(f"tol = {tol!r} is not allowed; use a number >= 0")
    a = _as_data(x)
    n = a.size
    if sample_weight is None:
        xs = np.sort(a)
        ws = None
    else:
        h = _check_weights(sample_weight, n)
        order = np.argsort(a, kind="stable")
        xs, ws = a[order], h[order]
        del order
    if name == "optimal":
        # the exact optimum: Lloyd (and relocation) cannot improve it, so none is run (n_iter = 0)
        c = _optimal_centroids(xs, ws, k)
        labels = _labels(_midpoints(c), a)
        d = a - c[labels]
        wcss = float(np.dot(d, d)) if sample_weight is None else float(np.dot(h * d, d))
        return KMeansResult(centroids=c, labels=labels, wcss=wcss, init_wcss=wcss, n_iter=0)
    c = _init_from(a, xs, k, name, seed)

    # Prefix sums of the data shifted by its median: keeps the running sums
    # small, so run sums (differences of prefix sums) lose little precision.
    shift = xs[n // 2]
    cs = np.empty(n + 1, dtype=np.float64)
    cs[0] = 0.0
    if ws is None:
        np.cumsum(xs - shift, out=cs[1:])
        ws_cs = None
    else:
        np.cumsum(ws * (xs - shift), out=cs[1:])
        ws_cs = np.empty(n + 1, dtype=np.float64)
        ws_cs[0] = 0.0
        np.cumsum(ws, out=ws_cs[1:])

    b = _bounds(xs, c)
    init_wcss = _sorted_wcss(xs, b, c, ws)

    def lloyd(c, b, budget):
        """Lloyd iterations from centroids ``c`` (runs ``b``): (centroids, runs, updates done)."""
        done = 0
        for _ in range(budget):
            wsum, sums = _run_stats(b, cs, ws_cs)
            nonempty = wsum > 0
            c_new = None
            if relocate_empty and not nonempty.all():
                c_new = _relocated_centroids(xs, ws, b, c, cs, ws_cs, shift, np.flatnonzero(~nonempty))
            if c_new is None:
                c_new = c.copy()
                c_new[nonempty] = sums[nonempty] / wsum[nonempty] + shift
            # a mean lies within its run, so the order is kept up to rounding; make sure
            if np.any(c_new[1:] < c_new[:-1]):
                c_new.sort()
            done += 1
            moved = float(np.max(np.abs(c_new - c)))
            c = c_new
            b_new = _bounds(xs, c)
            same = np.array_equal(b_new, b)
            b = b_new
            if same or moved <= tol:
                break
        return c, b, done

    c, b, n_iter = lloyd(c, b, max_iter)
    if relocate_empty and k > 1 and max_iter > 0:
        sq = None
        wcss_now = _sorted_wcss(xs, b, c, ws)
        for _ in range(2 * k):
            if sq is None:
                sq = np.empty(n + 1, dtype=np.float64)
                sq[0] = 0.0
                d0 = xs - shift
                np.cumsum(d0 * d0 if ws is None else ws * d0 * d0, out=sq[1:])
                del d0
            c_try = _swap(xs, b, c, cs, ws_cs, sq, shift)
            if c_try is None:
                break
            c2, b2, used = lloyd(c_try, _bounds(xs, c_try), max_iter)
            n_iter += used
            w2 = _sorted_wcss(xs, b2, c2, ws)
            if not w2 < wcss_now:
                break
            c, b, wcss_now = c2, b2, w2

    if relocate_empty and k > 1 and max_iter > 0 and _alt:
        best = _sorted_wcss(xs, b, c, ws)
        if name != "density":
            # a second start from the density init (relocations and swaps as well); the lower WCSS wins
            alt = kmeans_1d(a, k, init="density", max_iter=max_iter, tol=tol, seed=seed, relocate_empty=True,
                            sample_weight=sample_weight, _alt=False)
            n_iter += alt.n_iter
            if alt.wcss < best:
                c, best = alt.centroids, alt.wcss
        if n * k <= RELOCATE_DP_CELLS:
            # and the exact optimum (dynamic programming), which no start can beat
            c_opt = _optimal_centroids(xs, ws, k)
            if _sorted_wcss(xs, _bounds(xs, c_opt), c_opt, ws) < best:
                c = c_opt

    labels = _labels(_midpoints(c), a)
    d = a - c[labels]
    if sample_weight is None:
        wcss = float(np.dot(d, d))
    else:
        wcss = float(np.dot(h * d, d))
    return KMeansResult(centroids=c, labels=labels, wcss=wcss, init_wcss=init_wcss, n_iter=n_iter)


# ----------------------------------------------------------------------------- the quantizer
from .registry import QUANTIZERS, Quantizer  # noqa: E402


class KMeansQuantizer(Quantizer):
    """Deep Compression's trained quantization: the nonzero values of a layer are clustered by
    1-D k-means into ``2**bits - 1`` shared values (``kmeans_init``, ``kmeans_max_iter``,
    ``kmeans_relocate`` and ``seed`` of the recipe); code k + 1 is cluster k."""

    def share(self, values, bits, cfg, importance=None):
        res = kmeans_1d(values, (1 << bits) - 1, init=cfg.kmeans_init, max_iter=cfg.kmeans_max_iter, seed=cfg.seed,
                        relocate_empty=cfg.kmeans_relocate)
        centroids = np.zeros(1 << bits, dtype=np.float32)
        centroids[1:1 + len(res.centroids)] = res.centroids.astype(np.float32)
        return res.labels.astype(np.int64) + 1, centroids


QUANTIZERS.register("kmeans", KMeansQuantizer())
