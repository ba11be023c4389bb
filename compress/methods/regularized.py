"""Pruning methods that train with a penalty first: ``l1``, ``ssl``, ``sws``, ``variational_dropout``.

Each pruner's :meth:`~compress.methods.Pruner.train_hooks` returns a
:class:`network.train.TrainHooks` whose :meth:`penalty` the trainer adds to the **mean
cross-entropy of a batch**; :func:`compress.pipeline.step_prune` trains ``penalty_epochs`` with
it (strength ``penalty``) before each pruning step's masks, then the masks are taken and the
usual masked retraining (``retrain_epochs``) follows. Biases are never penalised nor pruned.

- ``l1`` (:class:`L1Pruner`): L1 regularisation, Han, Pool, Tran and Dally, "Learning both
  Weights and Connections for Efficient Neural Networks", NIPS 2015 (Sec. 3.1 compares L1 and L2;
  the L1 penalty is the "biased weight decay" of Hanson and Pratt, NIPS 1988), then magnitude
  masks as ``density``.
- ``ssl`` (:class:`SSLPruner`): group lasso, Wen, Wu, Wang, Chen and Li, "Learning Structured
  Sparsity in Deep Neural Networks", NIPS 2016, then masks of whole rows and whole columns.
- ``sws`` (:class:`SWSPruner`, and the quantizer :class:`SWSQuantizer`): soft weight-sharing,
  Ullrich, Meeds and Welling, "Soft Weight-Sharing for Neural Network Compression", ICLR 2017: a
  learned Gaussian-mixture prior prunes (component 0) and quantizes (the other components) at once.
- ``variational_dropout`` (:class:`VariationalDropoutPruner`): sparse variational dropout,
  Molchanov, Ashukha and Vetrov, "Variational Dropout Sparsifies Deep Neural Networks", ICML 2017.

How they run on EIE: every one of them only decides which weights are zero (and, for ``sws``,
which shared values the others take); the result is an ordinary pruned, weight-shared matrix in
EIE's CSC storage, so the machine is unchanged. Zeros cost nothing but the relative-index
fillers of long zero runs; a zero *column* (``ssl``) costs only its column pointer and its
activation is never broadcast (EIE skips zero activations, and a column of zeros does no work),
a zero *row* costs nothing but leaves a PE's output slot at ``relu(bias)``. To really shrink the
matrices (fewer rows and columns, fewer pointers), run the structural transform
``structure = "l1_filter"`` (compress/methods/structured.py) on a network trained with ``ssl``.

Extra parameters (the ``sws`` mixture, the ``variational_dropout`` log-variances) are not
stepped by the trainer's SGD: each has its own ``torch.optim.Adam`` (:class:`_HookAdam`, stepped in
``after_step``), as both papers train them, with the papers' learning rates; the weights stay
with the trainer. (Fed to the trainer's momentum, an RMS-normalised step moved them ~10x further
than meant and never settled: log s^2 ran to its clamp, the mixture means out of the weights'
range.) ``variational_dropout`` computes fc layers with the local reparameterisation trick
(``fc_output``, which the trainer calls instead of ``weight`` when a hook defines it).

May import arch, network and numpy; torch only inside the hooks (lazily, through the trainer).
"""
from __future__ import annotations

import weakref

import numpy as np

from network.train import TrainHooks

from .magnitude import mask_by_density
from .registry import PRUNERS, QUANTIZERS, Pruner, Quantizer

__all__ = ["L1Hooks", "L1Pruner", "GroupLassoHooks", "SSLPruner", "MixturePrior", "SWSPruner", "SWSQuantizer",
           "VariationalDropoutHooks", "VariationalDropoutPruner", "output_layers", "structured_mask",
           "mixture_for", "VD_K1", "VD_K2", "VD_K3"]


def _weight_keys(net) -> list[str]:
    return [s.name for s in net.specs]


class _HookAdam:
    """``torch.optim.Adam`` (Kingma and Ba, ICLR 2015) for a hook's extra parameters, as both
    papers train them.

    The trainer steps its extra parameters with its own SGD with momentum; a parameter
    :meth:`track`-ed here instead has its gradient captured by a tensor hook, which hands the
    trainer a zero gradient (its velocity stays 0, so it never moves the parameter), and
    :meth:`step` (called from the hook's ``after_step``) hands the captured gradients to an Adam
    with one parameter group per parameter, at that parameter's own learning rate (a parameter
    with no gradient this step is skipped, its step count unchanged). An Adam step moves each
    element by at most about ``lr`` whatever the scale of the gradient, so the extra parameters
    move at a known pace whatever ``penalty`` and the trainer's learning rate, momentum and
    schedule are (an RMS-normalised step fed to the trainer's momentum moves ~ lr x step /
    (1 - momentum) = 10x more, and never settles)."""

    def __init__(self, torch, betas=(0.9, 0.999), eps: float = 1e-8):
        self.torch, self.betas, self.eps = torch, (float(betas[0]), float(betas[1])), float(eps)
        self.entries: list[dict] = []
        self.opt = None

    def track(self, p, lr: float):
        e = {"p": p, "g": None}

        def hook(g, e=e):
            e["g"] = g.detach().clone()
            return g.new_zeros(g.shape)

        p.register_hook(hook)
        self.entries.append(e)
        group = {"params": [p], "lr": float(lr)}
        if self.opt is None:
            self.opt = self.torch.optim.Adam([group], betas=self.betas, eps=self.eps)
        else:
            self.opt.add_param_group(group)
        return p

    def step(self) -> None:
        if self.opt is None:
            return
        held = []
        for e in self.entries:                     # the captured gradients, for this step only
            held.append(e["p"].grad)
            e["p"].grad, e["g"] = e["g"], None
        self.opt.step()
        for e, g in zip(self.entries, held):
            e["p"].grad = g


# ----------------------------------------------------------------------------------- l1
class L1Hooks(TrainHooks):
    """The L1 penalty ``strength x sum |w|`` over every weight layer's weights (not biases).

    Added to the mean cross-entropy of each batch, so ``strength`` is the L1 coefficient of the
    per-sample loss (the subgradient ``strength x sign(w)`` pulls every weight towards 0 by
    ``lr x strength`` per step, as weight decay pulls by ``lr x weight_decay x w``)."""

    def __init__(self, keys, strength: float):
        self.keys, self.strength = list(keys), float(strength)

    def penalty(self, params):
        total = None
        for k in self.keys:
            t = params[k].abs().sum()
            total = t if total is None else total + t
        return None if total is None else self.strength * total


class L1Pruner(Pruner):
    """``prune_method = "l1"``: L1-regularised training, then magnitude pruning (Han, Pool, Tran and
    Dally, "Learning both Weights and Connections for Efficient Neural Networks", NIPS 2015; the L1
    term is Hanson and Pratt's "biased weight decay").

    Config keys: ``penalty`` (the L1 coefficient per sample: ``penalty x sum |w|`` is added to the
    mean cross-entropy of every batch), ``penalty_epochs`` (training with it before each pruning
    step), ``density`` / ``layer_density`` and ``prune_iterations`` (the kept fraction
    ``density_for(layer) ** fraction``, by magnitude, as ``density``), ``retrain_epochs``.

    On EIE: an ordinary unstructured sparse matrix; the L1 training only makes the small weights
    smaller, so magnitude pruning loses less."""

    def train_hooks(self, net, cfg):
        return L1Hooks(_weight_keys(net), cfg.penalty)

    def mask(self, w, layer, cfg, fraction=1.0):
        return mask_by_density(w, cfg.density_for(layer) ** fraction)


# ----------------------------------------------------------------------------------- ssl
def output_layers(net) -> set[str]:
    """The weight layers whose outputs reach the network's output through non-weight operations
    only (their rows are the classes; a chain network's last layer)."""
    nodes = {n.name: n for n in net.graph}
    weight_names = {s.name for s in net.specs}
    out, stack, seen = set(), [net.graph[-1].name], set()
    while stack:
        t = stack.pop()
        if t in seen or t not in nodes:
            continue
        seen.add(t)
        if t in weight_names:
            out.add(t)
        else:
            stack.extend(nodes[t].inputs)
    return out


def _groups(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(row norms, column norms) of a weight array: rows are output filters / neurons
    (``w[o]``), columns input channels / features (``w[:, c]``)."""
    a = np.asarray(w, dtype=np.float64)
    a2 = (a * a).reshape(a.shape[0], a.shape[1], -1).sum(axis=2)    # (out, in)
    return np.sqrt(a2.sum(axis=1)), np.sqrt(a2.sum(axis=0))


def structured_mask(w: np.ndarray, density: float, rows: bool = True) -> np.ndarray:
    """A mask of whole rows and whole columns of ``w`` keeping about ``density`` of its weights.

    Rows (``w[o]``) and columns (``w[:, c]``, a conv layer's input channels) are ranked together by
    their RMS (L2 norm / sqrt(group size), so a row and a column compare per weight) and removed
    lowest first, one group at a time, until ``kept rows x kept columns <= density x rows x
    columns`` (the first count at or below the target; at least one row and one column stay).
    ``rows=False`` removes columns only (the output layer, whose rows are the classes)."""
    R, C = w.shape[0], w.shape[1]
    rn, cn = _groups(w)
    per = int(np.prod(w.shape[2:])) if w.ndim > 2 else 1
    r_rms = rn / np.sqrt(C * per)
    c_rms = cn / np.sqrt(R * per)
    r_order = np.argsort(r_rms, kind="stable") if rows else np.zeros(0, dtype=np.int64)
    c_order = np.argsort(c_rms, kind="stable")
    target = density * R * C
    kr, kc = R, C
    i = j = 0
    while kr * kc > target:
        can_r = rows and i < len(r_order) and kr > 1
        can_c = j < len(c_order) and kc > 1
        if not (can_r or can_c):
            break
        if can_r and (not can_c or r_rms[r_order[i]] <= c_rms[c_order[j]]):
            i += 1
            kr -= 1
        else:
            j += 1
            kc -= 1
    keep_r = np.ones(R, dtype=bool)
    keep_r[r_order[:i]] = False
    keep_c = np.ones(C, dtype=bool)
    keep_c[c_order[:j]] = False
    m = keep_r[:, None] & keep_c[None, :]
    return np.broadcast_to(m.reshape((R, C) + (1,) * (w.ndim - 2)), w.shape).copy()


class GroupLassoHooks(TrainHooks):
    """``strength x`` the group lasso of :func:`compress.methods.structured.group_lasso_penalty`
    (one group per row and one per column of every weight layer), added to the mean cross-entropy
    of each batch. The output layers' rows (the classes) carry no penalty, only their columns."""

    def __init__(self, keys, strength: float, protected=()):
        self.keys, self.strength, self.protected = list(keys), float(strength), set(protected)

    def penalty(self, params):
        from .structured import group_lasso_penalty

        total = None
        for k in self.keys:
            t = group_lasso_penalty([params[k]], filters=0.0 if k in self.protected else 1.0, channels=1.0)
            total = t if total is None else total + t
        return None if total is None else self.strength * total


class SSLPruner(Pruner):
    """``prune_method = "ssl"``: Structured Sparsity Learning (Wen, Wu, Wang, Chen and Li,
    "Learning Structured Sparsity in Deep Neural Networks", NIPS 2016): group-lasso training
    (filter-wise rows and channel-wise columns, Sec. 3.1), then masks of whole rows and columns.

    Config keys: ``penalty`` (the group-lasso coefficient: ``penalty x (sum of row norms + sum of
    column norms)`` added to the mean cross-entropy of each batch), ``penalty_epochs``,
    ``density`` / ``layer_density`` and ``prune_iterations``: the mask keeps about the fraction
    ``density_for(layer) ** fraction`` of the layer's *weights*, as whole rows x whole columns
    (:func:`structured_mask`: the lowest-RMS rows and columns are dropped, together in one
    ranking, until the kept rectangle is at most that fraction). The output layer's rows (the
    classes) are never removed and carry no penalty; without the hooks (no training data) the
    output layer is not known, so only columns are removed.

    On EIE: a zero column costs only its column pointer (its activation's broadcast does no work),
    a zero row nothing; the matrices keep their shape. The structural transform
    ``structure = "l1_filter"`` (with ``layer_keep``) is what removes the zero rows and the
    consumers' columns for real, giving smaller matrices."""

    wants_hooks = True

    def train_hooks(self, net, cfg):
        return GroupLassoHooks(_weight_keys(net), cfg.penalty, protected=output_layers(net))

    def mask(self, w, layer, cfg, fraction=1.0, hooks=None):
        rows = hooks is not None and layer not in getattr(hooks, "protected", ())
        return structured_mask(w, cfg.density_for(layer) ** fraction, rows=rows)


# ----------------------------------------------------------------------------------- sws
_LOG2PI = float(np.log(2 * np.pi))

#: The mixture priors of the networks being compressed with ``sws``: id(net) -> (weakref, prior).
_MIXTURES: dict[int, tuple] = {}
_LATEST: list[int] = []


def _register_mixture(net, prior) -> None:
    key = id(net)

    def gone(_ref, key=key):
        _MIXTURES.pop(key, None)
        if key in _LATEST:
            _LATEST.remove(key)

    _MIXTURES[key] = (weakref.ref(net, gone), prior)
    if key in _LATEST:
        _LATEST.remove(key)
    _LATEST.append(key)


def mixture_for(net=None):
    """The :class:`MixturePrior` trained for ``net`` by the ``sws`` pruner (None: the one of the
    network registered last that is still alive), or None."""
    if net is not None:
        e = _MIXTURES.get(id(net))
        return e[1] if e is not None and e[0]() is net else None
    for key in reversed(_LATEST):
        e = _MIXTURES.get(key)
        if e is not None and e[0]() is not None:
            return e[1]
    return None


class MixturePrior(TrainHooks):
    """The Gaussian-mixture prior of soft weight-sharing over all weights of a network (biases too:
    they are shared in the same codebook), J components.

    Component 0 has its mean fixed at 0 (the pruned weights) and starts with the mixing proportion
    ``pi0`` (0.99; the paper fixes it at 0.999 and trains ~100 epochs, so that the weights have
    gathered around the means when the most probable component decides; after the one or two
    epochs here a fixed 0.999 prunes ~99.5% of fc1 and the network breaks, a learned pi0 follows
    the weights); the other J - 1 means start evenly spaced over the weights' range ``[lo, hi]``
    (the zero component's neighbours included), all standard deviations at a quarter of that
    spacing. Learned (extra parameters, each by its own Adam at the paper's learning rates: means
    ``lr_mu`` 1e-4, log-variances ``lr_logs2`` 3e-3, mixing logits ``lr_pi`` 3e-3): the J - 1
    means, the J log-variances, the J mixing logits. The weights themselves are trained by the
    trainer (its SGD, learning rate and schedule). Instead of the paper's Gamma hyper-priors on
    the precisions and Beta prior on pi0, clamps after each step: each standard deviation in
    ``[1e-3, 0.5] x (hi - lo)`` (no variance collapse), each mean in ``[lo, hi]`` (the codebook
    stays within the trained weights' range, representable in the machine's fixed point) and
    ``pi0 >= 0.5``.

    ``penalty = strength x (-log p(w))``, ``-log p(w) = -sum_i log sum_j pi_j N(w_i | mu_j, s_j^2)``,
    added to the mean cross-entropy of a batch: ``strength`` is the paper's tau / N (per training
    sample; tau = 0.005 and N = 60,000 MNIST images give 8.3e-8)."""

    def __init__(self, net, strength: float, J: int, pi0: float = 0.99, lr_mu: float = 1e-4,
                 lr_logs2: float = 3e-3, lr_pi: float = 3e-3):
        self.keys = [k for s in net.specs for k in (s.name, s.name + "_bias")]
        w = np.concatenate([np.ravel(net.params[k]) for k in self.keys]).astype(np.float64)
        lo, hi = float(w.min()), float(w.max())
        self.lo, self.hi = lo, hi
        self.range = max(hi - lo, 1e-6)
        self.J, self.strength, self.pi0 = int(J), float(strength), float(pi0)
        self.lrs = {"mu": float(lr_mu), "logs2": float(lr_logs2), "logit": float(lr_pi)}
        spacing = self.range / max(J - 2, 1)
        self.mu_init = np.linspace(lo, hi, J - 1) if J > 2 else np.array([hi if abs(hi) > abs(lo) else lo])
        self.logs2_init = np.full(J, 2 * np.log(spacing / 4))
        self.logit_init = np.log(np.r_[pi0, np.full(J - 1, (1 - pi0) / (J - 1))])
        self._p = None
        self._adam = None

    # -- the parameters
    def extra_params(self, torch):
        if self._p is None:
            self._adam = _HookAdam(torch)
            self._p = {k: self._adam.track(torch.nn.Parameter(torch.tensor(v, dtype=torch.float32)), self.lrs[k])
                       for k, v in (("mu", self.mu_init), ("logs2", self.logs2_init), ("logit", self.logit_init))}
        return self._p

    def _log_pi(self, logit: np.ndarray) -> np.ndarray:
        lg = np.asarray(logit, dtype=np.float64)
        return lg - np.logaddexp.reduce(lg)

    def mixture(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(means, log-variances, log mixing proportions) as float64 arrays of J entries."""
        if self._p is None:
            mu, ls, lg = self.mu_init, self.logs2_init, self.logit_init
        else:
            mu, ls, lg = (self._p[k].detach().double().numpy() for k in ("mu", "logs2", "logit"))
        return np.r_[0.0, mu], np.asarray(ls, dtype=np.float64), self._log_pi(lg)

    def _torch_terms(self, torch):
        p = self.extra_params(torch)
        mu = torch.cat([torch.zeros(1, dtype=p["mu"].dtype), p["mu"]])
        return mu, p["logs2"], torch.log_softmax(p["logit"], 0)

    def neg_log_prior(self, params):
        """``-sum log p(w)`` over the prior's parameters (a torch scalar; its gradients computed
        in one fused pass from the responsibilities, :func:`_mixture_nll`)."""
        import torch

        mu, ls, lpi = self._torch_terms(torch)
        w = torch.cat([params[k].reshape(-1) for k in self.keys])
        return _mixture_nll(torch).apply(w, mu, ls, lpi)

    def penalty(self, params):
        return self.strength * self.neg_log_prior(params)

    def after_step(self, params):
        if self._p is None:
            return
        import torch

        self._adam.step()
        lo, hi = 2 * np.log(1e-3 * self.range), 2 * np.log(0.5 * self.range)
        self._p["logs2"].clamp_(float(lo), float(hi))
        self._p["mu"].clamp_(self.lo, self.hi)
        lg = self._p["logit"]
        lg[0] = torch.maximum(lg[0], torch.logsumexp(lg[1:], 0))          # pi0 >= 0.5

    def stats(self) -> dict:
        """The mixture's state, for logs and tests: means, standard deviations, mixing proportions."""
        mu, ls, lpi = self.mixture()
        return {"mu": mu, "sigma": np.exp(0.5 * ls), "pi": np.exp(lpi)}

    # -- the decisions
    def log_joint(self, values: np.ndarray) -> np.ndarray:
        """``log pi_j + log N(v | mu_j, s_j^2)`` of each value (rows) and component (columns)."""
        mu, ls, lpi = self.mixture()
        v = np.asarray(values, dtype=np.float64).ravel()[:, None]
        return lpi[None, :] - 0.5 * (_LOG2PI + ls[None, :] + (v - mu[None, :]) ** 2 / np.exp(ls)[None, :])

    def component(self, values: np.ndarray, nonzero: bool = False) -> np.ndarray:
        """The most probable component of each value (of the non-zero ones with ``nonzero``),
        computed in chunks; the shape of ``values``."""
        v = np.asarray(values, dtype=np.float64).ravel()
        out = np.empty(v.size, dtype=np.int64)
        step = max(1, (1 << 22) // self.J)
        for c0 in range(0, v.size, step):
            lj = self.log_joint(v[c0:c0 + step])
            if nonzero:
                lj[:, 0] = -np.inf
            out[c0:c0 + step] = np.argmax(lj, axis=1)
        return out.reshape(np.shape(values))


_NLL_FN = None


def _mixture_nll(torch):
    """A torch autograd Function: ``-sum_i log sum_j exp(lpi_j) N(w_i | mu_j, exp(ls_j))`` and its
    gradients by the responsibilities r_ij (d/dw_i = sum_j r_ij (w_i - mu_j) / s_j^2, ...): about
    twice as fast as autograd through the (weights x components) graph."""
    global _NLL_FN
    if _NLL_FN is None:
        class MixtureNLL(torch.autograd.Function):
            @staticmethod
            def forward(ctx, w, mu, ls, lpi):
                inv = torch.exp(-ls)
                d = w[:, None] - mu[None, :]
                logp = (lpi - 0.5 * (_LOG2PI + ls))[None, :] - 0.5 * d * d * inv[None, :]
                m = logp.max(1).values
                r = torch.exp(logp.sub_(m[:, None]))              # one exp over the (n, J) array
                tot = r.sum(1)
                r.div_(tot[:, None])
                lse = m + torch.log(tot)
                rd = r * d
                ctx.save_for_backward(rd.mul(inv[None, :]).sum(1), -rd.sum(0) * inv,
                                      0.5 * (r.sum(0) - (rd * d).sum(0) * inv), -r.sum(0))
                return -lse.sum()

            @staticmethod
            def backward(ctx, g):
                gw, gmu, gls, glpi = ctx.saved_tensors
                return g * gw, g * gmu, g * gls, g * glpi

        _NLL_FN = MixtureNLL
    return _NLL_FN


def _sws_components(cfg, net) -> int:
    return 1 << max(cfg.bits_for(s.name, s.kind) for s in net.specs)


class SWSPruner(Pruner):
    """``prune_method = "sws"``: soft weight-sharing (Ullrich, Meeds and Welling, "Soft
    Weight-Sharing for Neural Network Compression", ICLR 2017), the pruning half.

    Training (``penalty_epochs``) with the prior of :class:`MixturePrior` (J = 2**bits components,
    bits the largest ``fc_bits`` / ``conv_bits`` / ``layer_bits`` of the network; strength
    ``penalty`` = tau / N per training sample) pulls the weights into J clusters, the one at 0
    holding most of them. Then a weight is pruned when its most probable component is component 0
    (``density`` is not used: the prior decides how many stay; ``fraction`` neither, so use
    ``prune_iterations = 1``). Without the hooks (no training data), magnitude pruning as ``density``.

    The trained mixture is kept for the ``sws`` quantizer in a module-level cache keyed by the
    network object (id, with a weak reference), see :func:`mixture_for`.

    On EIE: an unstructured sparse matrix, as ``density``; with the ``sws`` quantizer its codebook
    is the mixture's means."""

    wants_hooks = True

    def train_hooks(self, net, cfg):
        prior = MixturePrior(net, cfg.penalty, _sws_components(cfg, net))
        _register_mixture(net, prior)
        return prior

    def mask(self, w, layer, cfg, fraction=1.0, hooks=None):
        if not isinstance(hooks, MixturePrior):
            return mask_by_density(w, cfg.density_for(layer) ** fraction)
        return (hooks.component(w) != 0) & (np.asarray(w) != 0)


class SWSQuantizer(Quantizer):
    """``quantizer = "sws"``: soft weight-sharing's quantization: each nonzero value takes the code
    of its most probable non-zero mixture component, the codebook is the component means (entry
    0 the pruned zero); then the usual centroid fine-tuning (``finetune_epochs``).

    The mixture is the one the ``sws`` pruner trained for this network. ``share`` is not told
    which network its values come from, so it uses the mixture of the network registered last by
    the ``sws`` pruner that is still alive (in one :func:`compress.pipeline.compress_network`
    run: this one's). With ``qat_epochs > 0`` the quantizer's :meth:`train_hooks` trains the
    nonzero weights and the mixture further through the same prior (the zeros stay 0) and makes
    that network's mixture the current one. With no mixture, or a layer whose codebook has fewer
    than J entries, k-means (the ``kmeans`` quantizer, its recipe keys) instead.

    On EIE: an ordinary weight-shared layer; the codebook holds the component means."""

    finetune = True

    def train_hooks(self, net, cfg):
        prior = mixture_for(net)
        if prior is not None:
            _register_mixture(net, prior)
        return prior

    def share(self, values, bits, cfg, importance=None):
        prior = mixture_for()
        if prior is None or prior.J > (1 << bits):
            return QUANTIZERS.get("kmeans").share(values, bits, cfg)
        mu, _, _ = prior.mixture()
        codes = prior.component(values, nonzero=True)
        centroids = np.zeros(1 << bits, dtype=np.float32)
        centroids[1:prior.J] = mu[1:]
        centroids[prior.J:] = mu[-1]                   # unused entries of a wider codebook
        return codes.astype(np.int64), centroids


# ----------------------------------------------------------------------------------- variational dropout
VD_K1, VD_K2, VD_K3 = 0.63576, 1.87320, 1.48695

#: log alpha is clipped to this range in the noise and in the KL, as the paper's code does.
VD_LOG_ALPHA_CLIP = (-8.0, 8.0)


def neg_kl(log_alpha, torch):
    """The approximation of -KL(q || log-uniform prior) per weight, Molchanov et al. (2017), Eq. 14:
    ``k1 sigmoid(k2 + k3 log a) - 0.5 log(1 + 1/a) - k1`` (C = -k1, so -KL -> 0 as a -> inf)."""
    return VD_K1 * torch.sigmoid(VD_K2 + VD_K3 * log_alpha) - 0.5 * torch.nn.functional.softplus(-log_alpha) - VD_K1


class VariationalDropoutHooks(TrainHooks):
    """Sparse variational dropout's training, the paper's additive reparameterisation: the weights
    are the means theta (trained by the trainer), per-weight ``log s^2`` are extra parameters
    (start at ``init`` = -10, trained by their own Adam at ``lr``, the paper trains everything with
    Adam), ``log alpha = log s^2 - log theta^2`` clipped to [-8, 8] (as the paper's code).

    The forward pass uses ``theta + sqrt(alpha) |theta| eps`` (the noise variance is
    ``alpha theta^2`` with the *clipped* alpha, as the paper's code, so a weight driven to 0 takes
    its noise with it), fresh Gaussian ``eps`` per step (torch's random stream, seeded by the
    trainer's ``torch.manual_seed``), on non-zero weights only (pruned weights stay 0); the
    penalty is ``strength x sum KL`` (Eq. 14 on the clipped log alpha), added to the mean
    cross-entropy: ``strength`` = 1 / N per training sample gives the paper's variational lower
    bound per example. Test time (and everything after training) uses theta only.

    One noise draw per weight is shared by the batch: unbiased, but noisier than the paper's
    local reparameterisation trick (noise on the pre-activations, per sample), which needs the
    layer's input and so a change to the trainer's forward pass."""

    def __init__(self, net, strength: float, init: float = -10.0, lr: float = 1e-2):
        self.keys = _weight_keys(net)
        self.shapes = {k: tuple(np.shape(net.params[k])) for k in self.keys}
        self.strength, self.init, self.lr = float(strength), float(init), float(lr)
        self._p = None
        self._adam = None

    def extra_params(self, torch):
        if self._p is None:
            self._adam = _HookAdam(torch)
            self._p = {k: self._adam.track(torch.nn.Parameter(torch.full(self.shapes[k], self.init)), self.lr)
                       for k in self.keys}
        return self._p

    def log_alpha_t(self, key, w, torch):
        """The clipped log alpha of a layer (torch)."""
        la = self.extra_params(torch)[key] - torch.log(w * w + 1e-16)
        return torch.clamp(la, *VD_LOG_ALPHA_CLIP)

    def weight(self, key, w):
        if self._p is None or key not in self._p:
            return w
        import torch

        std = torch.exp(0.5 * self.log_alpha_t(key, w, torch)) * w.abs()
        return w + std * torch.randn_like(w)

    def fc_output(self, key, X, w, b):
        """The local reparameterisation trick (the paper's Sec. 4.1, Kingma et al. 2015) for an fc
        layer: the pre-activations are sampled from their Gaussian, mean ``X theta^T + b`` and
        variance ``X^2 (alpha theta^2)^T``, a fresh draw per sample (the trainer calls this instead
        of :meth:`weight` for fc layers). Conv layers, and a trainer through ``ChainHooks``, use
        the weight noise of :meth:`weight`."""
        import torch

        mean = torch.nn.functional.linear(X, w, b)
        if self._p is None or key not in self._p:
            return mean
        s2 = torch.exp(self.log_alpha_t(key, w, torch)) * (w * w)
        var = torch.nn.functional.linear(X * X, s2)
        return mean + torch.sqrt(var + 1e-8) * torch.randn_like(mean)

    def penalty(self, params):
        import torch

        total = None
        for k in self.keys:
            t = -neg_kl(self.log_alpha_t(k, params[k], torch), torch).sum()
            total = t if total is None else total + t
        return None if total is None else self.strength * total

    def after_step(self, params):
        if self._p is not None:
            self._adam.step()
            for p in self._p.values():
                p.clamp_(-20.0, 0.0)

    def log_alpha(self, layer: str, w: np.ndarray) -> np.ndarray:
        """``log alpha = log s^2 - log w^2`` of a layer's weights (numpy, not clipped; +inf for a
        zero weight)."""
        ls = self.init if self._p is None else self._p[layer].detach().double().numpy()
        w = np.asarray(w, dtype=np.float64)
        with np.errstate(divide="ignore"):
            return ls - np.log(w * w)

    def stats(self) -> dict:
        """Per layer: (min, median, max) of log s^2, for logs and tests."""
        if self._p is None:
            return {}
        out = {}
        for k, p in self._p.items():
            a = p.detach().double().numpy()
            out[k] = (float(a.min()), float(np.median(a)), float(a.max()))
        return out


class VariationalDropoutPruner(Pruner):
    """``prune_method = "variational_dropout"``: sparse variational dropout (Molchanov, Ashukha and
    Vetrov, "Variational Dropout Sparsifies Deep Neural Networks", ICML 2017).

    Training (``penalty_epochs``, strength ``penalty``: 1 / N per training sample is the paper's
    ELBO) learns a dropout rate per weight (:class:`VariationalDropoutHooks`). The mask:

    - ``density_for(layer) == 1`` (``density = 1`` or ``layer_density.<layer> = 1``): the paper's
      rule, prune the weights with ``log alpha > 3``;
    - otherwise keep the fraction ``density_for(layer) ** fraction`` with the lowest ``log alpha``
      (the most certain weights), so the recipe's densities hold.

    Without the hooks (no training data), magnitude pruning as ``density``.

    On EIE: an unstructured sparse matrix, as ``density``."""

    wants_hooks = True

    def train_hooks(self, net, cfg):
        return VariationalDropoutHooks(net, cfg.penalty)

    def mask(self, w, layer, cfg, fraction=1.0, hooks=None):
        d = cfg.density_for(layer) ** fraction
        if not isinstance(hooks, VariationalDropoutHooks):
            return mask_by_density(w, d)
        la = hooks.log_alpha(layer, w)
        if cfg.density_for(layer) >= 1.0:
            return la <= 3.0
        n = la.size
        k = min(max(int(round(d * n)), 1), n)
        flat = la.ravel()
        keep = np.argsort(flat, kind="stable")[:k]
        m = np.zeros(n, dtype=bool)
        m[keep] = True
        return m.reshape(np.shape(w))


PRUNERS.register("l1", L1Pruner())
PRUNERS.register("ssl", SSLPruner())
PRUNERS.register("sws", SWSPruner())
PRUNERS.register("variational_dropout", VariationalDropoutPruner())
QUANTIZERS.register("sws", SWSQuantizer())
