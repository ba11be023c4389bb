"""Built-in reference networks (LeNet-300-100, LeNet-5 Caffe variant) and their
default compression recipes."""
from __future__ import annotations

from .config import CompressionConfig, LayerKind, PruneMethod
from .nn import LayerSpec, Network, init_params

MODELS = ("lenet-300-100", "lenet-5")


def build(name: str, seed: int = 0) -> Network:
    """A freshly initialised built-in network."""
    if name == "lenet-300-100":
        specs = [LayerSpec("fc1", LayerKind.FC, (300, 784), relu=True),
                 LayerSpec("fc2", LayerKind.FC, (100, 300), relu=True),
                 LayerSpec("fc3", LayerKind.FC, (10, 100), relu=False)]
        net = Network(name, (784,), specs)
    elif name == "lenet-5":
        # Caffe LeNet: conv 20@5x5, pool 2, conv 50@5x5, pool 2, fc 500, fc 10 (ReLU after the convs too)
        specs = [LayerSpec("conv1", LayerKind.CONV, (20, 1, 5, 5), relu=True, pool=2),
                 LayerSpec("conv2", LayerKind.CONV, (50, 20, 5, 5), relu=True, pool=2),
                 LayerSpec("fc1", LayerKind.FC, (500, 800), relu=True),
                 LayerSpec("fc2", LayerKind.FC, (10, 500), relu=False)]
        net = Network(name, (1, 28, 28), specs)
    else:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}")
    return init_params(net, seed)


def default_recipe(name: str) -> CompressionConfig:
    """The recipe that meets the acceptance figures (docs/results.md)."""
    if name == "lenet-300-100":
        return CompressionConfig(
            prune_method=PruneMethod.DENSITY,
            layer_density={"fc1": 0.065, "fc2": 0.08, "fc3": 0.25},
            density=0.08, prune_iterations=2, retrain_epochs=5, retrain_lr_scale=1.0,
            fc_bits=6, finetune_epochs=2, baseline_epochs=20, augment_shift=2,
            batch_size=64, learning_rate=0.05)
    if name == "lenet-5":
        return CompressionConfig(
            prune_method=PruneMethod.DENSITY,
            layer_density={"conv1": 0.66, "conv2": 0.12, "fc1": 0.065, "fc2": 0.19},
            density=0.08, prune_iterations=2, retrain_epochs=4,
            conv_bits=8, fc_bits=5, conv_rel_bits=5, finetune_epochs=2, baseline_epochs=15, augment_shift=2,
            retrain_lr_scale=1.0, batch_size=64, learning_rate=0.05)
    raise ValueError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}")
