"""The trainer's entry point and the state it shares with the PyTorch loop.

One trainer serves every network (the built-in LeNets, imported ONNX graphs, ``.npz`` weights)
and every training Deep Compression needs; :func:`train` runs it (network/torch_train.py,
PyTorch, the CPU build):

- the float **baseline**;
- **masked retraining** after pruning: gradients and weights of pruned connections are forced
  to zero after every step, so masks hold;
- **centroid fine-tuning** after quantization: each layer's weights are ``centroids[idx]``; the
  gradient of centroid k is the sum of the gradients of the weights (and bias entries) whose
  index is k (Deep Compression, Eq. 3); centroid 0 is the pruned value and stays exactly 0.

This module holds what does not need torch (the batch schedule, the shared-weight state, the
mask checks), so importing it never imports torch.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass

import numpy as np

from .graph import FLOAT, Network


@dataclass
class QuantState:
    """A weight-shared layer: ``[W | b] = centroids[idx]``; centroids[0] == 0."""

    idx: np.ndarray        # (out, fan_in + 1) integer codebook indices
    centroids: np.ndarray  # (2**bits,) float32

    @property
    def bits(self) -> int:
        """Codebook index bits: the codebook has ``2**bits`` entries."""
        return int(len(self.centroids)).bit_length() - 1


_ROWS_CHUNK_VALUES = 1 << 22


class TrainHooks:
    """What a compression method adds to the one trainer (network/torch_train.py): every method
    trains through :func:`train`, and one that needs more than masked retraining or centroid
    fine-tuning passes an instance of a subclass as ``hooks``. Each method receives torch tensors;
    the defaults change nothing.

    - :meth:`extra_params`: tensors trained with the weights by the same SGD (no weight decay, no
      masks), e.g. learned quantization scales;
    - :meth:`weight`: the weight tensor the forward pass uses for a parameter (quantization with a
      straight-through estimator: ``w + (q(w) - w).detach()``);
    - :meth:`penalty`: a term added to the mean cross-entropy (L1, group lasso, a prior);
    - :meth:`loss`: the whole loss of a batch (knowledge distillation);
    - :meth:`after_step`: runs after each update, under ``torch.no_grad()`` (clipping, rounding);
    - ``fc_output(name, X, W, b)`` (optional, not defined here): a method that defines it computes
      the outputs of fc layers itself from the raw parameters, instead of :meth:`weight` and a
      linear layer (sparse variational dropout's local reparameterisation trick).
    """

    def extra_params(self, torch) -> dict:
        return {}

    def weight(self, key: str, w):
        return w

    def penalty(self, params: dict):
        return None

    def loss(self, logits, y, x, default):
        return default(logits, y)

    def after_step(self, params: dict) -> None:
        pass


class ChainHooks(TrainHooks):
    """Several methods' hooks at once: extra parameters and penalties add up, forward weights and
    after-step actions apply in order, and the last hook that defines a loss wraps the others'."""

    def __init__(self, hooks):
        self.hooks = [h for h in hooks if h is not None]
        owners = [h for h in self.hooks if getattr(h, "fc_output", None) is not None]
        if len(owners) > 1:
            raise ValueError(f"{type(owners[0]).__name__} and {type(owners[1]).__name__} both compute the fc "
                             "layers' outputs (fc_output); only one method may")
        if owners:
            own, others = owners[0], [h for h in self.hooks if h is not owners[0]]

            def fc_output(name, X, W, b):
                for h in others:                  # the others' forward weights, then the owner's outputs
                    W, b = h.weight(name, W), h.weight(name + "_bias", b)
                return own.fc_output(name, X, W, b)

            self.fc_output = fc_output

    def extra_params(self, torch) -> dict:
        out = {}
        for i, h in enumerate(self.hooks):
            out.update({f"{i}.{k}": v for k, v in h.extra_params(torch).items()})
        return out

    def weight(self, key, w):
        for h in self.hooks:
            w = h.weight(key, w)
        return w

    def penalty(self, params):
        terms = [t for t in (h.penalty(params) for h in self.hooks) if t is not None]
        return sum(terms[1:], terms[0]) if terms else None

    def loss(self, logits, y, x, default):
        for h in self.hooks:
            default = (lambda d, hh: (lambda lg, yy: hh.loss(lg, yy, x, d)))(default, h)
        return default(logits, y)

    def after_step(self, params) -> None:
        for h in self.hooks:
            h.after_step(params)


def chain_hooks(*hooks) -> TrainHooks | None:
    """One :class:`TrainHooks` of the given ones (None entries skipped; None when none is left)."""
    hs = [h for h in hooks if h is not None]
    return None if not hs else hs[0] if len(hs) == 1 else ChainHooks(hs)


def apply_quant(net: Network, quant: dict[str, QuantState]) -> None:
    """Write ``centroids[idx]`` into the network's weights and biases (as
    :func:`~network.graph.set_augmented` of it), a block of rows at a time: the memory beyond the
    layer is its new copy, never the whole dequantized matrix besides."""
    for name, q in quant.items():
        rows = q.idx.shape[0]
        new = np.empty(net.spec(name).shape, dtype=FLOAT)
        flat = new.reshape(rows, -1)
        step = max(1, _ROWS_CHUNK_VALUES // max(1, q.idx.shape[1]))
        for r0 in range(0, rows, step):
            flat[r0:r0 + step] = q.centroids[q.idx[r0:r0 + step, :-1]]
        net.params[name] = new
        net.params[name + "_bias"] = np.ascontiguousarray(q.centroids[q.idx[:, -1]], dtype=FLOAT)


def start_state(net: Network, masks, quant) -> tuple[dict, dict]:
    """What training does first: the shared weights written in, the masks applied; returns
    ``(masks, quant)`` as dicts (empty when not given)."""
    masks = masks or {}
    quant = quant or {}
    if quant:
        apply_quant(net, quant)
    if masks:
        apply_masks(net, masks)
    return masks, quant


def apply_masks(net: Network, masks: dict[str, np.ndarray]) -> None:
    for name, m in masks.items():
        net.params[name] *= m


def train(net: Network, x: np.ndarray, y: np.ndarray, *, epochs: int, lr: float, momentum: float,
          weight_decay: float, batch_size: int, seed: int,
          masks: dict[str, np.ndarray] | None = None,
          quant: dict[str, QuantState] | None = None,
          augment_shift: int = 0, progress: bool = True, desc: str = "train",
          hooks: TrainHooks | None = None) -> list[dict]:
    """Train ``net`` in place with SGD + momentum and a cosine learning-rate decay, in PyTorch
    (:func:`network.torch_train.train_torch`, one thread, deterministic for ``seed``).

    - ``masks``: pruned connections (False) get zero gradient and stay exactly 0.
    - ``quant``: those layers train only their centroids; the gradient of
      centroid k is the sum of the gradients of the entries of ``[W | b]`` whose
      index is k, and centroid 0 (pruned) never moves.
    - ``augment_shift``: each training image is shifted by a random offset of
      up to that many pixels in x and y (zero fill), drawn per sample.
    - ``hooks``: a method's additions (:class:`TrainHooks`).

    Returns one dict per epoch with the mean training loss.
    """
    from .torch_train import train_torch

    return train_torch(net, x, y, epochs=epochs, lr=lr, momentum=momentum, weight_decay=weight_decay,
                       batch_size=batch_size, seed=seed, masks=masks, quant=quant, augment_shift=augment_shift,
                       progress=progress, desc=desc, hooks=hooks)


class Schedule:
    """The trainer's mini-batch schedule.

    Iterating gives ``(xb, yb, lr_t)`` for every step of every epoch: the samples in a fresh
    permutation per epoch (from ``rng``), each image shifted by up to ``augment_shift`` pixels
    (:func:`random_shift`, same ``rng``), and the cosine-decayed learning rate
    ``lr / 2 * (1 + cos(pi * step / total))`` as float32. The caller reports each step's loss
    with :meth:`record`; ``history`` holds the mean loss of every epoch, shown on the progress bar.
    """

    def __init__(self, x, y, *, epochs: int, batch_size: int, lr: float, rng: np.random.Generator,
                 augment_shift: int = 0, progress: bool = True, desc: str = "train"):
        self.x, self.y, self.epochs, self.batch_size, self.lr = x, y, epochs, batch_size, lr
        self.rng, self.augment_shift, self.progress, self.desc = rng, augment_shift, progress, desc
        self.history: list[dict] = []
        self._losses: list[float] = []

    def record(self, loss: float) -> None:
        self._losses.append(float(loss))

    def __iter__(self):
        from tqdm import tqdm

        n = len(self.x)
        steps_per_epoch = max(1, (n + self.batch_size - 1) // self.batch_size)
        total = max(1, self.epochs * steps_per_epoch)
        step = 0
        bar = tqdm(range(self.epochs), desc=self.desc, unit="epoch", disable=not self.progress, file=sys.stderr,
                   leave=False)
        for ep in bar:
            perm = self.rng.permutation(n)
            self._losses = []
            for s in range(steps_per_epoch):
                bi = perm[s * self.batch_size:(s + 1) * self.batch_size]
                if len(bi) == 0:
                    continue
                xb = self.x[bi]
                if self.augment_shift:
                    xb = random_shift(xb, self.augment_shift, self.rng)
                yield xb, self.y[bi], FLOAT(0.5 * self.lr * (1.0 + np.cos(np.pi * step / total)))
                step += 1
            rec = {"epoch": ep + 1, "loss": float(np.mean(self._losses)) if self._losses else float("nan")}
            self.history.append(rec)
            bar.set_postfix(loss=f"{rec['loss']:.4f}")
        bar.close()


def random_shift(x: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Shift each image of ``x`` (B, H, W) or (B, C, H, W) by up to ``k`` pixels (zero fill)."""
    B = x.shape[0]
    H, W = x.shape[-2], x.shape[-1]
    pad = [(0, 0)] * (x.ndim - 2) + [(k, k), (k, k)]
    xp = np.pad(x, pad)
    dy = rng.integers(0, 2 * k + 1, size=B)
    dx = rng.integers(0, 2 * k + 1, size=B)
    out = np.empty_like(x)
    for sy in range(2 * k + 1):
        for sx in range(2 * k + 1):
            sel = np.nonzero((dy == sy) & (dx == sx))[0]
            if len(sel):
                out[sel] = xp[sel, ..., sy:sy + H, sx:sx + W]
    return out


def check_masks_hold(net: Network, masks: dict[str, np.ndarray]) -> bool:
    """True when every pruned connection is exactly 0 (checked a block at a time)."""
    for k, m in masks.items():
        w, mm = np.ravel(net.params[k]), np.ravel(m)
        for c0 in range(0, w.size, _ROWS_CHUNK_VALUES):
            if np.any(w[c0:c0 + _ROWS_CHUNK_VALUES][~mm[c0:c0 + _ROWS_CHUNK_VALUES]]):
                return False
    return True


__all__ = ["QuantState", "TrainHooks", "ChainHooks", "chain_hooks", "train", "apply_quant", "apply_masks", "check_masks_hold", "random_shift"]
