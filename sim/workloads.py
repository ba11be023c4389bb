"""The nine EIE benchmark layers (EIE, ISCA 2016, Table III) as seeded synthetic workloads.

The paper gives each layer's shape, weight density and input-activation
density, not its weights. :func:`make_workload` draws a layer with exactly
those figures:

- **weights**: exactly ``round(weight_density * n_in * n_out)`` nonzero positions,
  a uniformly random subset of the matrix; their values are drawn from
  N(0, 0.05) and weight-shared by compress's ``kmeans`` quantizer
  (:func:`compress.methods.share_values` with :data:`SHARING`: k-means with linear
  initialisation over the nonzeros into ``2**index_bits - 1`` shared values; index 0 is
  the zero weight, centroid 0 is 0). Only the nonzero values are ever held as floats, so VGG-6 (25088 x 4096)
  costs its 100 MB of uint8 indices and little more.
- **activations**: exactly ``round(act_density * n_in)`` nonzero positions,
  uniformly at random; their values are post-ReLU-like, positive and uniform
  over (0, 4], drawn on the machine's activation grid (integer multiples of
  ``2**-act_frac_bits``, at most the largest representable activation) so that
  quantizing them is exact and no nonzero activation rounds to zero.
- no bias column (the paper's layers have none) and no ReLU.

The random stream is ``numpy.random.default_rng([seed, crc32(name)])``: the same
seed gives the same workload, and different layers differ.

**Structured positions** (``structure=``, a :class:`StructureProfile` from a real pruned
matrix: :func:`structure_from_archive`, :func:`structure_from_matrix`). Uniform positions give
every PE a binomially equal share of the work, so the PEs balance far better than on a real
pruned layer, whose rows and columns are dense or empty as a whole. With a profile, the layer
keeps its shape, its exact nonzero count and its values and activations as above, but the
positions follow the real matrix's per-row and per-column densities:

1. the profile's row densities are resampled to ``n_out`` values and its column densities to
   ``n_in`` (:func:`resample_profile`): the sorted densities are interpolated at the target's
   quantiles (the *distribution* of densities is kept: the same fraction of empty rows, the same
   spread), rescaled to the source's mean, then put in an order drawn from the seed (a real
   layer's rows are not in a meaningful order for another shape);
2. the position (i, j) gets probability ``p_ij = min(1, s * r_i * c_j)`` with ``s`` such that the
   ``p_ij`` add up to exactly the layer's nonzero count ``nnz``; the positions with ``p_ij = 1``
   are all taken, and the rest of the ``nnz`` are a weighted sample without replacement of the
   remaining positions, weight ``r_i * c_j`` (successive sampling: draws with replacement in
   batches, the first distinct ones in draw order). Memory O(nnz): VGG-6 (4.1 M nonzeros) takes
   about 3 s with its weight sharing (0.4 s with uniform positions).

A profile whose nonzero rows x nonzero columns hold fewer positions than ``nnz`` is refused.
"""
from __future__ import annotations

import hashlib
import zlib
from dataclasses import dataclass

import numpy as np

from arch.config import AcceleratorConfig
from arch.fixedpoint import signed_max
from compress.config import CompressionConfig, KMeansInit
from compress.methods import index_dtype, share_values

__all__ = ["LayerShape", "EIE_LAYERS", "LAYER_NAMES", "StructureProfile", "Workload", "make_workload",
           "check_structure", "parse_layer_names", "split_structure", "resample_profile", "structure_from_archive", "structure_from_matrix"]

WEIGHT_STD = 0.05     # standard deviation of the nonzero weights before weight sharing
ACT_MAX = 4.0         # nonzero activations are uniform over (0, ACT_MAX]
#: How the generated weights are shared: k-means, linear initialisation, at most 100 iterations.
SHARING = CompressionConfig(quantizer="kmeans", kmeans_init=KMeansInit.LINEAR, kmeans_max_iter=100, seed=0)


@dataclass(frozen=True)
class LayerShape:
    """One benchmark layer of EIE Table III (shape in -> out; densities of nonzero weights and inputs)."""

    name: str
    paper_name: str
    n_in: int
    n_out: int
    weight_density: float
    act_density: float
    description: str


EIE_LAYERS: dict[str, LayerShape] = {s.name: s for s in (
    LayerShape("alex-6", "Alex-6", 9216, 4096, 0.09, 0.351, "AlexNet fc6 (compressed)"),
    LayerShape("alex-7", "Alex-7", 4096, 4096, 0.09, 0.353, "AlexNet fc7 (compressed)"),
    LayerShape("alex-8", "Alex-8", 4096, 1000, 0.25, 0.375, "AlexNet fc8 (compressed)"),
    LayerShape("vgg-6", "VGG-6", 25088, 4096, 0.04, 0.183, "VGG-16 fc6 (compressed)"),
    LayerShape("vgg-7", "VGG-7", 4096, 4096, 0.04, 0.375, "VGG-16 fc7 (compressed)"),
    LayerShape("vgg-8", "VGG-8", 4096, 1000, 0.23, 0.411, "VGG-16 fc8 (compressed)"),
    LayerShape("nt-we", "NT-We", 4096, 600, 0.10, 1.0, "NeuralTalk word embedding (compressed)"),
    LayerShape("nt-wd", "NT-Wd", 600, 8791, 0.11, 1.0, "NeuralTalk word decoder (compressed)"),
    LayerShape("nt-lstm", "NT-LSTM", 1201, 2400, 0.10, 1.0, "NeuralTalk LSTM (compressed)"),
)}

LAYER_NAMES: tuple[str, ...] = tuple(EIE_LAYERS)


@dataclass
class Workload:
    """One generated benchmark layer.

    ``indices``: (n_out, n_in) codebook indices (uint8 for up to 8 index bits;
    0 = zero weight; no bias column). ``centroids``: float32 codebook,
    ``2**index_bits`` entries, ``centroids[0] == 0``. ``x``: float64 input
    activations (n_in,), exactly representable in the machine's activation format.
    """

    name: str
    indices: np.ndarray
    centroids: np.ndarray
    x: np.ndarray
    relu: bool
    weight_density: float
    act_density: float
    seed: int
    structure: str = ""       # the StructureProfile's source ("" = uniform positions)

    @property
    def n_in(self) -> int:
        return int(self.indices.shape[1])

    @property
    def n_out(self) -> int:
        return int(self.indices.shape[0])

    @property
    def shape(self) -> LayerShape:
        return EIE_LAYERS[self.name]


def _unknown(name) -> ValueError:
    return ValueError(f"unknown benchmark layer {name!r}; choose from {', '.join(LAYER_NAMES)} (or 'all')")


def _sorted_unique(a: np.ndarray) -> np.ndarray:
    """Sorted distinct values (np.unique's hash path is several times slower on millions of int64)."""
    a = np.sort(a)
    keep = np.empty(len(a), dtype=bool)
    keep[:1] = True
    np.not_equal(a[1:], a[:-1], out=keep[1:])
    return a[keep]


def _sample_positions(rng: np.random.Generator, n: int, k: int) -> np.ndarray:
    """``k`` distinct positions of ``range(n)``, a uniformly random subset, sorted (int64).

    Draws positions with replacement until at least ``k`` are distinct, then
    keeps a uniformly random ``k`` of them: the distinct set is uniform given
    its size, so the result is uniform over the k-subsets. Memory O(k), not O(n).
    """
    if k > n:
        raise ValueError(f"cannot choose {k} positions out of {n}")
    if k == 0:
        return np.zeros(0, dtype=np.int64)
    if k * 4 > n:                                   # dense: a permutation is cheap enough
        return np.sort(rng.choice(n, size=k, replace=False)).astype(np.int64)
    got = _sorted_unique(rng.integers(0, n, size=k + k // 8 + 16, dtype=np.int64))
    while len(got) < k:
        more = rng.integers(0, n, size=2 * (k - len(got)) + 16, dtype=np.int64)
        got = _sorted_unique(np.concatenate([got, more]))
    if len(got) > k:
        # the chosen k of the sorted distinct positions, in order (= np.sort(got[chosen]), no sort)
        keep = np.zeros(len(got), dtype=bool)
        keep[rng.choice(len(got), size=k, replace=False)] = True
        got = got[keep]
    return got


# ----------------------------------------------------------------------------- structured positions
@dataclass(frozen=True, eq=False)
class StructureProfile:
    """The per-row and per-column nonzero densities of a real pruned matrix (each in [0, 1]).

    ``source`` names where it came from (``"runs/demo/model.dcz:fc1"``, say). Build one with
    :func:`structure_from_archive` or :func:`structure_from_matrix`; pass it to
    :func:`make_workload` as ``structure``.
    """

    source: str
    row_density: np.ndarray
    col_density: np.ndarray

    def __post_init__(self) -> None:
        for what in ("row_density", "col_density"):
            a = np.array(getattr(self, what), dtype=np.float64).reshape(-1) \
                if np.ndim(getattr(self, what)) == 1 else None
            if a is None or a.size == 0 or not np.all(np.isfinite(a)) or a.min() < 0 or a.max() > 1:
                raise ValueError(f"structure profile {self.source!r}: {what} must be a non-empty 1-D array of "
                                 "densities in [0, 1]")
            if not a.any():
                raise ValueError(f"structure profile {self.source!r}: the matrix has no nonzero weight")
            a.setflags(write=False)
            object.__setattr__(self, what, a)

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, columns) of the source matrix."""
        return len(self.row_density), len(self.col_density)

    @property
    def density(self) -> float:
        """The source matrix's nonzero density."""
        return float(self.row_density.mean())

    @property
    def digest(self) -> str:
        """SHA-256 of the source and both profiles (a cache key)."""
        h = hashlib.sha256(str(self.source).encode())
        for a in (self.row_density, self.col_density):
            h.update(str(a.shape).encode())
            h.update(np.ascontiguousarray(a).tobytes())
        return h.hexdigest()

    def describe(self) -> str:
        r, c = self.row_density, self.col_density
        return (f"{self.source}: {self.shape[0]} x {self.shape[1]}, density {self.density:.3f}, "
                f"{np.mean(r == 0):.0%} empty rows, {np.mean(c == 0):.0%} empty columns")


def structure_from_matrix(mask, source: str = "matrix") -> StructureProfile:
    """The profile of a 2-D matrix: per row and per column, the fraction of its entries that are nonzero."""
    m = np.asarray(mask)
    if m.ndim != 2 or m.size == 0:
        raise ValueError(f"structure {source!r}: need a non-empty 2-D matrix, got shape {m.shape}")
    nz = m != 0
    return StructureProfile(str(source), nz.mean(axis=1), nz.mean(axis=0))


def structure_from_archive(path, layer: str) -> StructureProfile:
    """The profile of weight layer ``layer`` of archive ``path`` (a model.dcz): the index matrix the
    simulator runs (a conv layer as its im2col matrix, out_channels x in_channels*kh*kw, a grouped
    conv block-diagonal), without its bias column. A missing or bad file raises the archive
    reader's ArchiveError, an unknown layer a ModelError naming the archive's layers (both DcsimErrors)."""
    from arch.errors import ModelError
    from compress.model import load
    from sim.reference import machine_indices

    cm = load(path)
    names = [l.name for l in cm.layers]
    if layer not in names:
        raise ModelError(f"{path}: no weight layer {layer!r}; its layers are {', '.join(names)}")
    mat = machine_indices(cm.layers[names.index(layer)])
    return structure_from_matrix(mat[:, :-1], f"{path}:{layer}")


def split_structure(text) -> tuple[str, str] | None:
    """``"ARCHIVE:LAYER"`` -> ``(archive path, layer)`` (split at the last colon, stripped), or None
    when ``text`` is not a string with both parts (the CLI's ``--structure`` and a sweep's
    ``structure`` say so in their own words)."""
    if not isinstance(text, str):
        return None
    path, _, layer = text.rpartition(":")
    return (path.strip(), layer.strip()) if path.strip() and layer.strip() else None


def check_structure(structure: StructureProfile, name: str) -> None:
    """Raise ValueError if benchmark layer ``name`` cannot be drawn from ``structure``: its nonzero
    rows and columns, resampled to the layer's shape, hold fewer positions than its nonzero weights."""
    shape = EIE_LAYERS[str(name).strip().lower()]
    nnz = int(round(shape.weight_density * shape.n_in * shape.n_out))
    support = int(np.count_nonzero(resample_profile(structure.row_density, shape.n_out))) * \
        int(np.count_nonzero(resample_profile(structure.col_density, shape.n_in)))
    if nnz > support:
        raise ValueError(f"structure {structure.source!r}: resampled to {shape.n_out} x {shape.n_in} ({shape.name}), "
                         f"its nonzero rows and columns hold {support:,} positions, fewer than the layer's "
                         f"{nnz:,} nonzero weights")


def resample_profile(values: np.ndarray, n: int, rng: np.random.Generator | None = None) -> np.ndarray:
    """``values`` (densities) resampled to ``n`` values that keep their distribution.

    The sorted values are linearly interpolated at the ``n`` quantiles ``(k + 0.5) / n``, rescaled
    to the source's mean (capped at 1), then put in a random order drawn from ``rng`` (sorted
    ascending when ``rng`` is None). Same length: the same values, reordered.
    """
    v = np.sort(np.asarray(values, dtype=np.float64).reshape(-1))
    m = len(v)
    if n == m:
        out = v.copy()
    else:
        q = (np.arange(n) + 0.5) / n * m - 0.5
        out = np.interp(q, np.arange(m), v)
        if out.mean() > 0:
            out = np.minimum(out * (v.mean() / out.mean()), 1.0)
    return out if rng is None else out[rng.permutation(n)]


def _capped_scale(r: np.ndarray, cs: np.ndarray, pre: np.ndarray, k: int) -> float:
    """The largest ``s`` found with sum_ij min(1, s r_i c_j) <= k (``cs``: the column weights sorted,
    ``pre``: their prefix sums), by bisection."""
    n = len(cs)

    def expected(s: float) -> float:
        n_lt = np.searchsorted(cs, 1.0 / (s * r), side="left")
        return float(np.sum(n - n_lt)) + s * float(np.dot(r, pre[n_lt]))

    lo = hi = k / (r.sum() * pre[-1])              # uncapped solution: expected(lo) <= k
    while expected(hi) < k:
        lo, hi = hi, hi * 2.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if mid <= lo or mid >= hi:
            break
        if expected(mid) <= k:
            lo = mid
        else:
            hi = mid
    return lo


def _structured_positions(rng: np.random.Generator, prof: StructureProfile, n_out: int, n_in: int,
                          k: int) -> np.ndarray:
    """``k`` distinct positions of an ``n_out x n_in`` matrix (sorted flat int64) drawn with
    P(i, j) = min(1, s r_i c_j) (see the module docstring)."""
    r_all = resample_profile(prof.row_density, n_out, rng)
    c = resample_profile(prof.col_density, n_in, rng)
    rows = np.flatnonzero(r_all > 0)
    r = r_all[rows]
    support = len(rows) * int(np.count_nonzero(c))
    if k > support:
        raise ValueError(f"structure {prof.source!r}: resampled to {n_out} x {n_in}, its nonzero rows and columns "
                         f"hold {support:,} positions, fewer than the layer's {k:,} nonzero weights")
    if k == 0:
        return np.zeros(0, dtype=np.int64)
    order = np.argsort(c, kind="stable")
    cs = c[order]
    pre = np.concatenate([[0.0], np.cumsum(cs)])
    s = _capped_scale(r, cs, pre, k)
    n_lt = np.searchsorted(cs, 1.0 / (s * r), side="left")     # per row: columns with p < 1
    # positions whose probability reaches 1: all taken
    cnt = n_in - n_lt
    n_certain = int(cnt.sum())
    start = np.cumsum(cnt) - cnt
    off = np.arange(n_certain, dtype=np.int64) - np.repeat(start, cnt)
    certain = np.repeat(rows.astype(np.int64), cnt) * n_in + order[np.repeat(n_lt, cnt) + off]
    # the rest: successive sampling (weight r_i c_j) among each row's columns with p < 1
    need = k - n_certain
    mass = r * pre[n_lt]
    cum = np.cumsum(mass)
    taken = np.zeros(0, dtype=np.int64)
    while need > 0:
        m = need + need // 4 + 64
        i = np.minimum(np.searchsorted(cum, (1.0 - rng.random(m)) * cum[-1], side="left"), len(rows) - 1)
        v = (1.0 - rng.random(m)) * pre[n_lt[i]]
        j = np.minimum(np.searchsorted(pre[1:], v, side="left"), n_lt[i] - 1)
        d = rows[i].astype(np.int64) * n_in + order[j]
        u, first = np.unique(d, return_index=True)
        if len(taken):
            at = np.minimum(np.searchsorted(taken, u), len(taken) - 1)
            fresh = taken[at] != u
            u, first = u[fresh], first[fresh]
        new = np.sort(u[np.argsort(first, kind="stable")[:need]])
        taken = np.sort(np.concatenate([taken, new]))
        need -= len(new)
    return np.sort(np.concatenate([certain, taken]))


def make_workload(name: str, cfg: AcceleratorConfig, seed: int = 0,
                  structure: StructureProfile | None = None) -> Workload:
    """Generate benchmark layer ``name`` (see :data:`EIE_LAYERS`) for machine ``cfg`` (its index and activation widths).

    ``structure``: draw the weights' positions from a real pruned matrix's row and column
    densities (:class:`StructureProfile`) instead of uniformly; None (the default) is uniform."""
    key = str(name).strip().lower()
    if key not in EIE_LAYERS:
        raise _unknown(name)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed = {seed!r} is not allowed; use an integer >= 0")
    if structure is not None and not isinstance(structure, StructureProfile):
        raise ValueError(f"structure = {structure!r}: use a StructureProfile (structure_from_archive) or None")
    shape = EIE_LAYERS[key]
    rng = np.random.default_rng([int(seed), zlib.crc32(key.encode())])
    n_w = shape.n_in * shape.n_out
    nnz = int(round(shape.weight_density * n_w))
    bits = cfg.index_bits

    # weights: positions, values, then weight sharing (only the nonzeros are ever floats)
    if structure is None:
        pos = _sample_positions(rng, n_w, nnz)
    else:
        pos = _structured_positions(rng, structure, shape.n_out, shape.n_in, nnz)
    vals = rng.normal(0.0, WEIGHT_STD, size=nnz)
    indices = np.zeros((shape.n_out, shape.n_in), dtype=index_dtype(bits))
    codes, centroids = share_values(vals, bits, SHARING)
    indices.reshape(-1)[pos] = codes.astype(indices.dtype)
    del codes, vals, pos

    # activations: on the activation grid, uniform over (0, ACT_MAX] (capped at the largest activation)
    n_act = int(round(shape.act_density * shape.n_in))
    scale = 1 << cfg.act_frac_bits
    top = min(int(ACT_MAX * scale), signed_max(cfg.act_bits))
    apos = _sample_positions(rng, shape.n_in, n_act)
    x = np.zeros(shape.n_in, dtype=np.float64)
    x[apos] = rng.integers(1, top + 1, size=n_act) / scale
    return Workload(name=key, indices=indices, centroids=centroids, x=x, relu=False,
                    weight_density=shape.weight_density, act_density=shape.act_density, seed=int(seed),
                    structure="" if structure is None else structure.source)


def parse_layer_names(text: str) -> list[str]:
    """``"all"`` or comma-separated layer names (case-insensitive) -> names in the order given, no repeats."""
    parts = [p.strip().lower() for p in str(text).split(",") if p.strip()]
    if not parts:
        raise ValueError(f"no layer named; choose from {', '.join(LAYER_NAMES)} (or 'all')")
    if "all" in parts:
        if len(parts) > 1:
            raise ValueError("'all' cannot be combined with other layer names")
        return list(LAYER_NAMES)
    out: list[str] = []
    for p in parts:
        if p not in EIE_LAYERS:
            raise _unknown(p)
        if p not in out:
            out.append(p)
    return out
