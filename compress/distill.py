"""Knowledge distillation (Hinton, Vinyals and Dean, "Distilling the Knowledge in a Neural
Network", 2015) as a training option of every compression method (``CompressionConfig.distill``).

The float model before compression is the teacher; every retraining of the compressed student
(after a structural transform, after each pruning step, quantization-aware training and centroid
fine-tuning) minimises ``alpha x T^2 x KL(softmax(t / T) || softmax(s / T)) + (1 - alpha) x CE(s, y)``
for the student's logits ``s``, the teacher's ``t``, the temperature ``T = distill_temperature``
and ``alpha = distill_alpha``. The ``T^2`` keeps the soft term's gradients on the scale of the
hard term's. The teacher runs in PyTorch beside the student (one more forward pass per batch).
"""
from __future__ import annotations

from network.graph import Network
from network.train import TrainHooks

__all__ = ["DistillHooks"]


class DistillHooks(TrainHooks):
    """The distillation loss against ``teacher`` (a float :class:`Network`, copied)."""

    def __init__(self, teacher: Network, temperature: float, alpha: float):
        self.teacher = teacher.copy()
        self.temperature = float(temperature)
        self.alpha = float(alpha)
        self._module = None

    def loss(self, logits, y, x, default):
        import torch
        import torch.nn.functional as F

        from network.torch_train import to_torch

        if self._module is None:
            self._module = to_torch(self.teacher)
            self._module.eval()
        with torch.no_grad():
            t = self._module(x, logits=True).reshape(x.shape[0], -1)
        s = logits.reshape(logits.shape[0], -1)
        T = self.temperature
        soft = F.kl_div(F.log_softmax(s / T, dim=1), F.log_softmax(t / T, dim=1), reduction="batchmean",
                        log_target=True) * (T * T)
        return self.alpha * soft + (1.0 - self.alpha) * default(logits, y)
