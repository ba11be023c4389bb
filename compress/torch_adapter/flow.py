"""The whole Deep Compression flow on a torch module with the user's own training loop:
:func:`compress_module` (prune and retrain, quantize and fine-tune, encode)."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from network.graph import augmented
from network.torch_import import import_torch, network_from_module

from ..config import CompressionConfig
from ..pipeline import density_text, quant_text, step_encode
from .steps import export_quant, prune_module, quantize_module

__all__ = ["TrainFn", "compress_module"]

TrainFn = Callable[[Any, str], Any]
"""``train_fn(module, phase)``: trains ``module`` in place; ``phase`` is ``"prune it/T"`` or ``"finetune"``."""


def compress_module(module, cfg: CompressionConfig, accel, train_fn: TrainFn | None = None, *,
                    input_shape: tuple[int, ...] | None = None, name: str | None = None,
                    meta: dict | None = None, log: Callable[[str], None] | None = None):
    """Deep Compression of a torch module with the user's own training loop.

    1. prune in ``cfg.prune_iterations`` steps (:func:`prune_module` at fraction
       ``it / T``), calling ``train_fn(module, f"prune {it}/{T}")`` after each;
    2. :func:`quantize_module`, then ``train_fn(module, "finetune")``;
    3. :func:`export_quant`, ``net = network_from_module(module, input_shape)``
       and :func:`compress.pipeline.step_encode`.

    ``train_fn`` trains ``module`` in place however the user likes; dcsim's
    parametrizations make that masked retraining / centroid fine-tuning. It
    should build its optimizer from ``module.parameters()`` on every call
    (quantization replaces the trainable tensors). The module is left
    pruned and weight-shared (see :func:`strip_parametrizations`).

    Returns the :class:`compress.model.CompressedModel`; ``model.meta``
    records the source and torch version besides ``meta``.
    """
    torch = import_torch()
    say = log or (lambda s: None)
    T = cfg.prune_iterations
    masks = None
    for it in range(1, T + 1):
        masks = prune_module(module, cfg, fraction=it / T, previous=masks)
        if train_fn is not None:
            train_fn(module, f"prune {it}/{T}")
        say(f"prune {it}/{T}: density " + density_text({k: v.cpu().numpy() for k, v in masks.items()}))
    q0 = quantize_module(module, cfg)
    if train_fn is not None:
        train_fn(module, "finetune")
    quant = export_quant(module, q0)
    net = network_from_module(module, input_shape, name=name)
    for s in net.specs:
        q = quant[s.name]
        if not np.array_equal(augmented(net, s.name), q.centroids[q.idx]):
            raise AssertionError(f"layer {s.name}: module weights differ from centroids[idx]")
    say("quantize: " + quant_text(quant))
    m = {"source": "torch", "torch_version": str(torch.__version__), **(meta or {})}
    return step_encode(net, quant, cfg, accel, m)
