"""Low-bit quantizers (and the TWN pruner): fixed-point, ternary, binary and hashed weights.

Registered names (``CompressionConfig.quantizer`` / ``prune_method``):

============== ========= ==========================================================================
name           kind      paper
============== ========= ==========================================================================
uniform        quantizer Vanhoucke, Senior, Mao, "Improving the speed of neural networks on CPUs", 2011
fixed16        quantizer Gupta, Agrawal, Gopalakrishnan, Narayanan, "Deep Learning with Limited
                         Numerical Precision", ICML 2015
twn            pruner    Li, Zhang, Liu, "Ternary Weight Networks", 2016 (the threshold Delta)
ternary        quantizer Li, Zhang, Liu, "Ternary Weight Networks", 2016 (the scale alpha)
ttq            quantizer Zhu, Han, Mao, Dally, "Trained Ternary Quantization", ICLR 2017
binaryconnect  quantizer Courbariaux, Bengio, David, "BinaryConnect", NIPS 2015
xnor           quantizer Rastegari, Ordonez, Redmon, Farhadi, "XNOR-Net", ECCV 2016 (weights only)
hashed         quantizer Chen, Wilson, Tyree, Weinberger, Chen, "Compressing Neural Networks with
                         the Hashing Trick", ICML 2015
============== ========= ==========================================================================

Everything here is a dcsim codebook layer: a layer's augmented matrix ``[W | b]`` (the bias is
one more column, quantized with the weights, same codebook) becomes indices into one codebook
of ``2**bits`` entries whose entry 0 is the pruned weight 0. On EIE such a layer runs as any
Deep Compression layer: the codebook width is ``index_bits = bits`` (the 4-bit weight index of
the paper's PE becomes ``bits`` wide) and the codebook's entries are the machine's weight width
(``weight_bits``, 16-bit fixed point on the default EIE): the float32 codebook below is what the
simulator rounds to that format. No method here changes the machine.

Quantization-aware training (``train_hooks``, run for ``qat_epochs`` before sharing when
training data is given) uses a straight-through estimator: the forward pass uses ``q(w)`` of the
nonzero entries of ``[W | b]`` (``w + (q(w) - w).detach()``: the gradient reaches the float
weights unchanged) and pruned entries stay 0. The per-layer statistics ``q`` needs (max |w|,
mean |w|, the per-row means of XNOR) are those of the current float ``[W | b]``: taken from the
network when the hooks are made and refreshed after every update (:meth:`TrainHooks.after_step`);
the forward pass treats them as constants.
"""
from __future__ import annotations

import math

import numpy as np

from network.train import TrainHooks

from .kmeans import kmeans_1d
from .registry import PRUNERS, QUANTIZERS, Pruner, Quantizer

__all__ = ["uniform_scale", "uniform_share", "fixed16_frac_bits", "twn_threshold", "twn_mask", "ternary_share",
           "binary_share", "xnor_share", "xnor_quantize_matrix", "hash_codes", "hashed_share",
           "UniformQuantizer", "Fixed16Quantizer", "TWNPruner", "TernaryQuantizer", "TTQQuantizer",
           "BinaryConnectQuantizer", "XnorQuantizer", "HashedQuantizer"]


def _config_error(msg: str):
    from arch.configio import ConfigError
    return ConfigError(msg)


def _at_least_2_bits(cfg, layer, kind, method: str, levels: str) -> int:
    """The recipe's bits of ``layer``, refused in one line below 2 (two nonzero levels need codes 1 and 2)."""
    b = cfg.bits_for(layer, kind)
    if b < 2:
        raise _config_error(f"layer {layer}: quantizer {method!r} needs at least 2 bits ({levels}); got {b}")
    return b


def _codebook(bits: int) -> np.ndarray:
    return np.zeros(1 << bits, dtype=np.float32)


# ============================================================================ STE hooks
class _LayerHooks(TrainHooks):
    """Straight-through quantization of every layer's ``[W | b]``: ``weight(key, w)`` returns
    ``w + (q(w) - w).detach()`` where ``q = self.quantize(rows2d, stats, name)`` on the row layout
    (one row per output neuron, the bias a column of its own), 0 kept at 0. ``stats(aug)`` gives
    the per-layer statistics from the current float ``[W | b]`` (a torch tensor), refreshed in
    :meth:`after_step`."""

    def __init__(self, net):
        import torch

        self.torch = torch
        self.layers = [s.name for s in net.specs]
        self._names = set(self.layers)
        self.stats_of: dict[str, object] = {}
        with torch.no_grad():
            for s in net.specs:
                W = torch.from_numpy(np.asarray(net.params[s.name], dtype=np.float32))
                b = torch.from_numpy(np.asarray(net.params[s.name + "_bias"], dtype=np.float32))
                self.stats_of[s.name] = self.stats(self._aug(W, b), s.name)

    @staticmethod
    def _aug(W, b):
        import torch
        return torch.cat([W.reshape(W.shape[0], -1), b.reshape(-1, 1)], dim=1)

    # --- to implement
    def stats(self, aug, name):
        raise NotImplementedError

    def quantize(self, rows, st, name):
        """The quantized values of ``rows`` (a 2-D tensor: some columns of ``[W | b]``)."""
        raise NotImplementedError

    # --- TrainHooks
    def _split(self, key):
        if key in self._names:
            return key, False
        if key.endswith("_bias") and key[:-5] in self._names:
            return key[:-5], True
        return None, False

    def weight(self, key, w):
        name, is_bias = self._split(key)
        if name is None:
            return w
        rows = w.reshape(-1, 1) if is_bias else w.reshape(w.shape[0], -1)
        with self.torch.no_grad():
            q = self.quantize(rows.detach(), self.stats_of[name], name)
            q = self.torch.where(rows.detach() != 0, q, self.torch.zeros_like(q)).reshape(w.shape)
        return w + (q - w).detach()

    def after_step(self, params):
        self.clip(params)
        for name in self.layers:
            self.stats_of[name] = self.stats(self._aug(params[name].detach(), params[name + "_bias"].detach()), name)

    def clip(self, params):
        """Changes of the float weights after each update (BinaryConnect's clipping)."""


def _nz_abs_mean(aug, torch):
    a = aug.abs()
    n = (a > 0).sum()
    return (a.sum() / n.clamp(min=1)).to(torch.float32)


# ============================================================================ uniform
def uniform_scale(values, bits: int) -> float:
    """The step of the symmetric ``bits``-bit grid: ``max|w| / M``, ``M = 2**(bits-1) - 1``, so
    the largest magnitude is exactly the outermost level ``+-M * scale``."""
    M = (1 << (bits - 1)) - 1
    mx = float(np.max(np.abs(values))) if np.size(values) else 0.0
    return mx / M if mx > 0 else 1.0


def _uniform_levels(w, scale, M, xp):
    m = xp.clip(xp.round(w / scale), -M, M)
    one = xp.where(w > 0, 1.0, -1.0) if xp is np else xp.where(w > 0, xp.ones_like(w), -xp.ones_like(w))
    return xp.where(m == 0, one, m)


def uniform_share(values, bits: int):
    """Vanhoucke et al.'s linear fixed point on a symmetric grid: levels ``scale * m`` for the
    nonzero integers ``m`` in ``[-M, M]`` (``M = 2**(bits-1) - 1``; :func:`uniform_scale`). A
    value that rounds to level 0 takes the nearest nonzero level ``+-scale`` (pruning, not
    quantization, makes zeros). Code of ``m > 0`` is ``m``, of ``m < 0`` is ``M + |m|``; code
    ``2**bits - 1`` is unused (a symmetric grid has ``2M = 2**bits - 2`` nonzero levels)."""
    if bits < 2:
        raise _config_error(f"quantizer 'uniform' needs at least 2 index bits (levels +-scale); got {bits}")
    v = np.asarray(values, dtype=np.float64)
    M = (1 << (bits - 1)) - 1
    scale = uniform_scale(v, bits)
    m = _uniform_levels(v, scale, M, np).astype(np.int64)
    codes = np.where(m > 0, m, M - m)
    c = _codebook(bits)
    ks = np.arange(1, M + 1)
    c[ks] = (scale * ks).astype(np.float32)
    c[M + ks] = (-scale * ks).astype(np.float32)
    return codes, c


class _UniformHooks(_LayerHooks):
    def __init__(self, net, bits_of):
        self.bits_of = bits_of
        super().__init__(net)

    def stats(self, aug, name):
        M = (1 << (self.bits_of[name] - 1)) - 1
        mx = float(aug.abs().max()) if aug.numel() else 0.0
        return (mx / M if mx > 0 else 1.0), M

    def quantize(self, rows, st, name):
        scale, M = st
        return _uniform_levels(rows, scale, M, self.torch) * scale


class UniformQuantizer(Quantizer):
    """``uniform``: linear (uniform) fixed point, Vanhoucke, Senior and Mao, "Improving the speed
    of neural networks on CPUs" (NIPS workshop 2011), whose 8-bit weights are ``scale * m``.

    Per layer, over the nonzero ``[W | b]``: ``scale = max|w| / (2**(bits-1) - 1)`` (the largest
    weight sits on the outermost level, nothing is clipped), levels ``scale * m`` for
    ``m = +-1 .. +-(2**(bits-1) - 1)`` (:func:`uniform_share`); a weight that rounds to 0 gets
    ``+-scale``. The grid is fixed (``finetune = False``); QAT (``qat_epochs``) trains the float
    weights through it with a straight-through estimator. ``bits``: the recipe's (``fc_bits``,
    ``conv_bits``, ``layer_bits``), at least 2.

    On EIE: ``index_bits = bits`` (``bits = 8``: 254 levels of the 255 codes, code 255 unused),
    the codebook entries are the levels in the machine's 16-bit fixed point.
    """

    finetune = False

    def bits_for(self, cfg, layer, kind):
        return _at_least_2_bits(cfg, layer, kind, "uniform", "levels +-scale")

    def share(self, values, bits, cfg, importance=None):
        return uniform_share(values, bits)

    def train_hooks(self, net, cfg):
        return _UniformHooks(net, {s.name: self.bits_for(cfg, s.name, s.kind) for s in net.specs})


# ============================================================================ fixed16
FIXED_WORD = 16


def fixed16_frac_bits(max_abs: float, word: int = FIXED_WORD) -> int:
    """Fraction bits FL of the ``word``-bit fixed point ``<IL, FL>`` (``IL = word - FL``, sign
    included) of a layer whose largest magnitude is ``max_abs``: ``FL = word - 1 - E`` with
    ``E = ceil(log2 max_abs)``, so the range ``[-2**E, 2**E - 2**-FL]`` holds the layer (the one
    value ``2**E`` itself saturates by one step). ``max_abs = 0`` gives ``FL = word - 1``."""
    if not max_abs > 0:
        return word - 1
    return word - 1 - int(math.ceil(math.log2(max_abs)))


class _Fixed16Hooks(TrainHooks):
    """Gupta et al.'s training: after each SGD update every weight and bias is rounded
    stochastically to its layer's 16-bit grid (``floor(w / eps + u) * eps``, ``u ~ U[0, 1)``,
    saturated to the range); the forward pass uses the nearest grid value (straight-through)."""

    def __init__(self, net, seed: int):
        import torch

        self.torch = torch
        self.gen = torch.Generator().manual_seed(int(seed))
        self.fmt = {}
        for s in net.specs:
            mx = max(float(np.max(np.abs(net.params[s.name]), initial=0.0)),
                     float(np.max(np.abs(net.params[s.name + "_bias"]), initial=0.0)))
            fl = fixed16_frac_bits(mx)
            lim = float(1 << (FIXED_WORD - 1))
            fmt = (2.0 ** -fl, -lim, lim - 1)
            self.fmt[s.name] = self.fmt[s.name + "_bias"] = fmt

    def weight(self, key, w):
        if key not in self.fmt:
            return w
        eps, lo, hi = self.fmt[key]
        q = (self.torch.clamp(self.torch.round(w.detach() / eps), lo, hi) * eps)
        return w + (q - w).detach()

    def after_step(self, params):
        torch = self.torch
        for k, (eps, lo, hi) in self.fmt.items():
            p = params[k]
            u = torch.rand(p.shape, generator=self.gen, dtype=p.dtype)
            p.copy_(torch.clamp(torch.floor(p / eps + u), lo, hi) * eps)


class Fixed16Quantizer(Quantizer):
    """``fixed16``: 16-bit fixed point with stochastic rounding in training, Gupta, Agrawal,
    Gopalakrishnan and Narayanan, "Deep Learning with Limited Numerical Precision", ICML 2015.

    Training (``qat_epochs``): after every update each weight and bias is rounded stochastically
    to its layer's ``<IL, FL>`` grid, ``WL = 16``, ``FL`` from the layer's ``[W | b]`` range when
    the training starts (:func:`fixed16_frac_bits`: the smallest integer part that holds max |w|;
    fixed for the run, values beyond it saturate); the forward pass uses the rounded weights.

    dcsim's stored form is a codebook of at most ``2**8`` entries (``bits`` 1..8), and EIE looks
    weights up through it, so a layer of 16-bit words cannot be stored as such. The 16-bit values
    are therefore shared into the recipe's ``bits`` codebook by 1-D k-means (as ``kmeans``: the
    recipe's ``kmeans_init``, ``kmeans_max_iter``, ``kmeans_relocate``, ``seed``), each centroid
    rounded to the layer's 16-bit grid; centroid fine-tuning follows (``finetune = True``). The
    result is what the archive holds: ``index_bits = bits`` and 16-bit fixed-point codebook
    entries, not 16-bit words per weight. Without ``qat_epochs`` it is k-means on a 16-bit grid.
    """

    finetune = True

    def share(self, values, bits, cfg, importance=None):
        codes, c = QUANTIZERS.get("kmeans").share(values, bits, cfg)
        eps = 2.0 ** -fixed16_frac_bits(float(np.max(np.abs(values))))
        lim = 1 << (FIXED_WORD - 1)
        c = (np.clip(np.round(c.astype(np.float64) / eps), -lim, lim - 1) * eps).astype(np.float32)
        c[0] = 0.0
        return codes, c

    def train_hooks(self, net, cfg):
        return _Fixed16Hooks(net, cfg.seed)


# ============================================================================ ternary
TWN_RATIO = 0.7


def twn_threshold(w) -> float:
    """TWN's threshold ``Delta = 0.7 * mean |w|`` over all entries of ``w`` (Li et al., Eq. 9)."""
    return TWN_RATIO * float(np.mean(np.abs(w))) if np.size(w) else 0.0


def twn_mask(w) -> np.ndarray:
    """TWN's nonzero ternary weights: ``|w| > Delta``."""
    return np.abs(w) > twn_threshold(w)


class TWNPruner(Pruner):
    """``twn``: the zeros of Ternary Weight Networks (Li, Zhang and Liu, 2016): keep ``|w| > Delta``
    with ``Delta = 0.7 * mean |w|`` over the layer's weights (the paper's approximation of the
    optimal threshold for normally / uniformly distributed weights). ``density`` and
    ``layer_density`` are ignored; biases are never pruned (as for every pruner). With
    ``prune_iterations = T`` step t uses ``t / T * Delta`` (the mean over all entries, pruned
    zeros included, which matters little since those were the smallest); ``T = 1`` is the paper.
    Pair with ``quantizer = "ternary"`` or ``"ttq"``."""

    def mask(self, w, layer, cfg, fraction=1.0):
        return np.abs(w) > fraction * twn_threshold(w)


def ternary_share(values, bits: int, *, two_scales: bool = False, name: str = "ternary"):
    """Two codes: 1 = ``+a_p`` for positive values, 2 = ``-a_n`` for negative ones. One scale
    (TWN, Eq. 10): ``a_p = a_n = mean |values|``; ``two_scales`` (TTQ's initial W_p, W_n): the mean
    of the positive values and of the magnitudes of the negative ones."""
    if bits < 2:
        raise _config_error(f"quantizer {name!r} needs at least 2 index bits (codes 0, +a, -a); got {bits}")
    v = np.asarray(values, dtype=np.float64)
    pos = v > 0
    c = _codebook(bits)
    if two_scales:
        c[1] = float(np.mean(v[pos])) if pos.any() else 0.0
        c[2] = -float(np.mean(-v[~pos])) if (~pos).any() else 0.0
    else:
        a = float(np.mean(np.abs(v))) if v.size else 0.0
        c[1], c[2] = a, -a
    return np.where(pos, 1, 2).astype(np.int64), c


class _TernaryHooks(_LayerHooks):
    def __init__(self, net, two_scales):
        self.two = two_scales
        super().__init__(net)

    def stats(self, aug, name):
        torch = self.torch
        if not self.two:
            a = _nz_abs_mean(aug, torch)
            return a, a
        p, n = aug[aug > 0], aug[aug < 0]
        return (p.mean() if p.numel() else torch.tensor(0.0)), (-n.mean() if n.numel() else torch.tensor(0.0))

    def quantize(self, rows, st, name):
        ap, an = st
        return self.torch.where(rows > 0, ap.expand_as(rows), -an.expand_as(rows))


class TernaryQuantizer(Quantizer):
    """``ternary``: Ternary Weight Networks (Li, Zhang and Liu, 2016): the kept weights (the
    ``twn`` pruner makes the zeros, ``|w| <= 0.7 mean|w|``) become ``+-alpha`` with one scale
    ``alpha = mean |w|`` over the layer's kept ``[W | b]`` (Eq. 10). The scale is the formula, not
    trained (``finetune = False``); QAT (``qat_epochs``) trains the float weights through the
    ternary forward weights with a straight-through estimator (the zero pattern is the pruner's
    and stays fixed while training, unlike the paper's re-thresholding in every step).

    ``bits``: always 2 (``bits_for``): a ternary codebook has three entries (0, +alpha, -alpha)
    and a wider one only costs index bits; the recipe's ``fc_bits`` / ``conv_bits`` are ignored.
    Sharing with fewer than 2 bits is refused. On EIE: ``index_bits = 2`` (code 3 unused), the
    two nonzero codebook entries in 16-bit fixed point.
    """

    finetune = False
    two_scales = False

    def bits_for(self, cfg, layer, kind):
        return 2

    def share(self, values, bits, cfg, importance=None):
        return ternary_share(values, bits, two_scales=self.two_scales, name="ttq" if self.two_scales else "ternary")

    def train_hooks(self, net, cfg):
        return _TernaryHooks(net, self.two_scales)


class TTQQuantizer(TernaryQuantizer):
    """``ttq``: Trained Ternary Quantization (Zhu, Han, Mao and Dally, ICLR 2017): the ternary
    assignment of ``ternary`` with two scales, ``+W_p`` for the positive and ``-W_n`` for the
    negative kept weights, both learned. TTQ's scale gradients (Eq. 7: dL/dW_p is the sum of the
    gradients of the weights assigned to W_p, likewise W_n) are exactly dcsim's centroid
    fine-tuning of the codebook's entries 1 and 2, so ``finetune = True`` and
    ``finetune_epochs`` learns them; they start from the mean of the positive kept weights and
    of the negative ones' magnitudes. QAT (``qat_epochs``) trains the float weights first through
    the ternary forward weights ``+-W_p/W_n`` (at their current means) with a straight-through
    estimator. TTQ's threshold ``t * max|w|`` is replaced by the ``twn`` pruner's (or any
    pruner's) zeros. ``bits`` = 2 as ``ternary``; on EIE ``index_bits = 2``, two 16-bit entries.
    """

    finetune = True
    two_scales = True


# ============================================================================ binary
def binary_share(values, bits: int, name: str = "binaryconnect"):
    """Two codes: 1 = ``+s`` (positive), 2 = ``-s`` (negative), ``s = mean |values|``."""
    return ternary_share(values, bits, two_scales=False, name=name)


class _BinaryHooks(_TernaryHooks):
    def __init__(self, net):
        super().__init__(net, False)

    def clip(self, params):
        for name in self.layers:
            for k in (name, name + "_bias"):
                params[k].clamp_(-1.0, 1.0)


class BinaryConnectQuantizer(Quantizer):
    """``binaryconnect``: BinaryConnect (Courbariaux, Bengio and David, NIPS 2015), deterministic
    variant: the forward weights are ``sign(w) * s``.

    BinaryConnect uses ``+-1`` with batch normalisation after every layer; dcsim's networks
    have float activations and no batch norm, so ``+-1`` would scale every pre-activation by
    ``1 / mean|w|`` (about 20x on LeNet-300-100). So the weights are ``+-s`` with one scale per
    layer, ``s = mean |w|`` over the nonzero ``[W | b]`` (the ``+-1`` of the paper times a
    per-layer constant that batch norm would absorb). QAT (``qat_epochs``): the forward pass uses
    ``sign(w) * s`` with a straight-through estimator, and after each update the float weights are
    clipped to ``[-1, 1]`` as in BinaryConnect. Sharing: codes 1 = ``+s`` and 2 = ``-s``, fixed
    (``finetune = False``). ``bits`` always 2: code 0 stays the pruned zero (unused by a layer
    that is not pruned, e.g. ``prune_method = "density"`` with ``density = 1.0``), code 3 is
    unused. On EIE: ``index_bits = 2``, two 16-bit entries.
    """

    finetune = False

    def bits_for(self, cfg, layer, kind):
        return 2

    def share(self, values, bits, cfg, importance=None):
        return binary_share(values, bits)

    def train_hooks(self, net, cfg):
        return _BinaryHooks(net)


def xnor_share(values, bits: int, rows=None, cfg=None):
    """XNOR-Net's binary weights with one scale per row (output neuron / filter) ``i``:
    ``alpha_i = mean |W_i|`` over the row's values (``rows``: the row of each value; None = one
    row). With ``R`` rows holding values: when ``2 R <= 2**bits - 1`` the codebook holds every
    ``+-alpha_i`` (codes ``1 + 2j`` / ``2 + 2j`` for the j-th row present); otherwise the
    ``alpha_i`` are clustered by 1-D k-means (:func:`kmeans_1d`, ``cfg``'s kmeans settings when
    given) into ``K = 2**(bits-1) - 1`` shared scales and row i uses ``+-c_k(i)``."""
    if bits < 2:
        raise _config_error(f"quantizer 'xnor' needs at least 2 index bits (codes 0, +a, -a); got {bits}")
    v = np.asarray(values, dtype=np.float64)
    r = np.zeros(v.size, dtype=np.int64) if rows is None else np.asarray(rows, dtype=np.int64).ravel()
    if r.shape != v.shape:
        raise ValueError(f"rows has {r.size} entries for {v.size} values")
    present, rid = np.unique(r, return_inverse=True)
    R = present.size
    alpha = np.bincount(rid, weights=np.abs(v), minlength=R) / np.maximum(np.bincount(rid, minlength=R), 1)
    c = _codebook(bits)
    if 2 * R <= (1 << bits) - 1:
        scales, group = alpha, np.arange(R)
    else:
        K = (1 << (bits - 1)) - 1
        kw = {} if cfg is None else dict(init=cfg.kmeans_init, max_iter=cfg.kmeans_max_iter, seed=cfg.seed,
                                         relocate_empty=cfg.kmeans_relocate)
        res = kmeans_1d(alpha, K, **kw)
        scales, group = res.centroids, res.labels.astype(np.int64)
    c[1:1 + 2 * len(scales):2] = scales.astype(np.float32)
    c[2:2 + 2 * len(scales):2] = (-scales).astype(np.float32)
    g = group[rid]
    return np.where(v > 0, 1 + 2 * g, 2 + 2 * g).astype(np.int64), c


def xnor_quantize_matrix(aug: np.ndarray, bits: int, cfg=None):
    """:func:`compress.methods.quantize_matrix` for ``xnor`` with the row of every value known
    (per-row scales); returns a :class:`network.train.QuantState`."""
    from network.train import QuantState

    from . import index_dtype

    nz = aug != 0
    codes, c = xnor_share(aug[nz], bits, rows=np.nonzero(nz)[0], cfg=cfg)
    idx = np.zeros(aug.shape, dtype=index_dtype(bits))
    idx[nz] = codes
    return QuantState(idx=idx, centroids=c)


class _XnorHooks(_LayerHooks):
    def stats(self, aug, name):
        a = aug.abs()
        return a.sum(1) / (a > 0).sum(1).clamp(min=1)

    def quantize(self, rows, st, name):
        alpha = st.reshape(-1, 1).expand_as(rows)
        return self.torch.where(rows > 0, alpha, -alpha)


class XnorQuantizer(Quantizer):
    """``xnor``: the binary weights of XNOR-Net (Rastegari, Ordonez, Redmon and Farhadi, ECCV
    2016; activations stay as they are, so this is their "Binary-Weight-Network"): row i (an
    output neuron or filter, its bias included) becomes ``sign(W_i) * alpha_i`` with
    ``alpha_i = mean |W_i|`` over the row's nonzero ``[W | b]`` entries.

    dcsim has one codebook per layer, so the per-row scales are codebook entries ``+-alpha_i``:
    that fits when ``2 x rows <= 2**bits - 1`` (``bits`` 8: up to 127 rows); above that the
    ``alpha_i`` are clustered by 1-D k-means (:func:`kmeans_1d`, the recipe's ``kmeans_*`` and
    ``seed``) into ``2**(bits-1) - 1`` shared scales (:func:`xnor_share`). Methods have no
    logger: that clustering is said here and in docs/methods.md, not in the run's log. The scales
    are the formula (``finetune = False``); QAT (``qat_epochs``) trains the float weights through
    ``sign(w) * alpha_i`` (the current per-row means) with a straight-through estimator.
    ``bits``: the recipe's, at least 2.

    The registry's ``share(values, bits, cfg)`` gets the layer's nonzero values without their
    rows. :meth:`share` takes the rows as ``rows=`` (:func:`xnor_quantize_matrix` passes them);
    called without them (today's ``compress.methods.quantize_matrix``) it has to treat the layer
    as one row, i.e. one scale ``alpha = mean |w|`` (``binaryconnect``'s sharing).

    On EIE: ``index_bits = bits``, the ``+-alpha`` entries in 16-bit fixed point.
    """

    finetune = False
    wants_rows = True

    def bits_for(self, cfg, layer, kind):
        return _at_least_2_bits(cfg, layer, kind, "xnor", "+-alpha")

    def share(self, values, bits, cfg, importance=None, rows=None):
        return xnor_share(values, bits, rows=rows, cfg=cfg)

    def train_hooks(self, net, cfg):
        return _XnorHooks(net)


# ============================================================================ hashed
_HASH_MUL = np.uint64(0x9E3779B97F4A7C15)      # 2**64 / golden ratio (Knuth's multiplicative hash)
_SEED_MUL = np.uint64(0xBF58476D1CE4E5B9)


def _bucket(n: int, k: int, seed: int) -> np.ndarray:
    """Buckets ``1..k`` of positions ``0 .. n-1`` by the multiplicative hash of :func:`hash_codes`."""
    i = np.arange(1, n + 1, dtype=np.uint64)
    with np.errstate(over="ignore"):
        h = i * _HASH_MUL + np.uint64(seed) * _SEED_MUL
    return ((h >> np.uint64(32)) % np.uint64(k)).astype(np.int64) + 1


def hash_codes(n: int, bits: int, seed: int = 0) -> np.ndarray:
    """The HashedNets bucket (code) of positions ``0 .. n-1``: a multiplicative hash
    ``h = ((i + 1) * A + seed * B) mod 2**64`` (A = 2**64 / phi, B a second odd constant),
    its high 32 bits ``mod (2**bits - 1)``, plus 1 (code 0 is the pruned weight)."""
    return _bucket(n, (1 << bits) - 1, seed)


def hashed_share(values, bits: int, seed: int = 0):
    """HashedNets with the sign kept: the value's sign picks one half of the codebook (codes
    ``1..H`` for positive values, ``H+1..2H`` for negative ones, ``H = (2**bits - 1) // 2``; with
    ``bits = 1`` one bucket for all), and :func:`hash_codes` of the value's position picks the
    bucket within it; each bucket starts at the mean of its values (a bucket without values stays
    0, unused)."""
    v = np.asarray(values, dtype=np.float64)
    n = 1 << bits
    half = (n - 1) // 2
    if half == 0:
        codes = np.ones(v.size, dtype=np.int64)
    else:
        h = _bucket(v.size, half, seed)
        codes = np.where(v > 0, h, h + half)
    s = np.bincount(codes, weights=v, minlength=n)
    cnt = np.bincount(codes, minlength=n)
    c = np.where(cnt > 0, s / np.maximum(cnt, 1), 0.0).astype(np.float32)
    c[0] = 0.0
    return codes, c


class HashedQuantizer(Quantizer):
    """``hashed``: HashedNets (Chen, Wilson, Tyree, Weinberger and Chen, "Compressing Neural
    Networks with the Hashing Trick", ICML 2015): the weights of a layer share ``K = 2**bits - 1``
    values, weight -> bucket by a fixed hash of its position (:func:`hash_codes` with the recipe's
    ``seed``; the position is the index in the row-major list of the layer's nonzero ``[W | b]``
    entries, so it depends on the pruning pattern). Each bucket starts at the mean of its weights,
    and centroid fine-tuning (``finetune = True``) trains the bucket values exactly as HashedNets
    trains its shared parameters (the gradient of a bucket is the sum of its weights' gradients).
    HashedNets' second (sign) hash xi(i, j) is replaced by the weight's own sign, which picks one
    half of the codebook (:func:`hashed_share`): HashedNets trains from scratch around its hashes,
    while dcsim hashes a trained, pruned layer, whose weights of both signs would average to
    about 0 in every bucket (measured on LeNet-300-100: 89.7% error with position-only buckets).
    ``bits``: the recipe's.

    On EIE it is an ordinary codebook layer: ``index_bits = bits``, 16-bit entries. dcsim stores
    each weight's index although HashedNets recomputes it from the hash, so the reported rate
    counts ``bits`` per kept weight (plus the relative indices of the sparse form). The
    HashedNets count of a layer, with no index storage, is ``K x weight_bits`` bits
    (``(2**bits - 1) x 16`` on EIE), plus the sparsity pattern when the layer is pruned
    (``n_nonzero x rel_bits`` in dcsim's form); the whole network's ratio against 32-bit floats
    is ``32 x sum(rows x (cols + 1)) / sum(K x 16 [+ n_nonzero x rel_bits])``.
    """

    finetune = True

    def share(self, values, bits, cfg, importance=None):
        return hashed_share(values, bits, cfg.seed)


QUANTIZERS.register("uniform", UniformQuantizer())
QUANTIZERS.register("fixed16", Fixed16Quantizer())
QUANTIZERS.register("ternary", TernaryQuantizer())
QUANTIZERS.register("ttq", TTQQuantizer())
QUANTIZERS.register("binaryconnect", BinaryConnectQuantizer())
QUANTIZERS.register("xnor", XnorQuantizer())
QUANTIZERS.register("hashed", HashedQuantizer())
PRUNERS.register("twn", TWNPruner())
