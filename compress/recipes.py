"""The default compression recipes of the built-in networks (network/models.py)."""
from __future__ import annotations

from arch.errors import ModelError
from network.models import MODELS

from .config import CompressionConfig

__all__ = ["default_recipe"]


def default_recipe(name: str) -> CompressionConfig:
    """The recipe that meets the acceptance figures (docs/results.md)."""
    if name == "lenet-300-100":
        return CompressionConfig(
            prune_method="density",
            layer_density={"fc1": 0.065, "fc2": 0.08, "fc3": 0.25},
            density=0.08, prune_iterations=2, retrain_epochs=5, retrain_lr_scale=1.0,
            fc_bits=6, finetune_epochs=2, baseline_epochs=20, augment_shift=2,
            batch_size=64, learning_rate=0.05)
    if name == "lenet-5":
        return CompressionConfig(
            prune_method="density",
            layer_density={"conv1": 0.66, "conv2": 0.12, "fc1": 0.065, "fc2": 0.19},
            density=0.08, prune_iterations=2, retrain_epochs=4,
            conv_bits=8, fc_bits=5, conv_rel_bits=5, finetune_epochs=2, baseline_epochs=15, augment_shift=2,
            retrain_lr_scale=1.0, batch_size=64, learning_rate=0.05)
    raise ModelError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}")
