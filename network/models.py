"""The built-in reference networks: LeNet-300-100 and LeNet-5 (Caffe variant), for MNIST."""
from __future__ import annotations

from arch.errors import ModelError

from .graph import LayerKind, LayerSpec, Network, init_params

__all__ = ["MODELS", "build"]

MODELS = ("lenet-300-100", "lenet-5")


def build(name: str, seed: int = 0) -> Network:
    """A freshly initialised built-in network (He-uniform weights, zero biases, seeded)."""
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
        raise ModelError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}")
    return init_params(net, seed)
