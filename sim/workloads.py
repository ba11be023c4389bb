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
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

from arch.config import AcceleratorConfig
from arch.fixedpoint import signed_max
from compress.config import CompressionConfig, KMeansInit
from compress.methods import index_dtype, share_values

__all__ = ["LayerShape", "EIE_LAYERS", "LAYER_NAMES", "Workload", "make_workload", "parse_layer_names"]

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


def make_workload(name: str, cfg: AcceleratorConfig, seed: int = 0) -> Workload:
    """Generate benchmark layer ``name`` (see :data:`EIE_LAYERS`) for machine ``cfg`` (its index and activation widths)."""
    key = str(name).strip().lower()
    if key not in EIE_LAYERS:
        raise _unknown(name)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed = {seed!r} is not allowed; use an integer >= 0")
    shape = EIE_LAYERS[key]
    rng = np.random.default_rng([int(seed), zlib.crc32(key.encode())])
    n_w = shape.n_in * shape.n_out
    nnz = int(round(shape.weight_density * n_w))
    bits = cfg.index_bits

    # weights: positions, values, then weight sharing (only the nonzeros are ever floats)
    pos = _sample_positions(rng, n_w, nnz)
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
                    weight_density=shape.weight_density, act_density=shape.act_density, seed=int(seed))


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
