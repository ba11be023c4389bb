"""The compression flow as plain stage functions over explicit data.

``step_baseline -> step_prune -> step_quantize -> step_encode`` turn a network
(network/) into a :class:`CompressedModel`; :func:`storage_report` accounts its bits. The
pruner and the quantizer are the recipe's methods from the registry (compress/methods/).
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from arch.config import AcceleratorConfig
from arch.errors import DcsimError
from arch.fileio import atomic_write_bytes, load_arrays
from network import models
from network.data import TrainData
from network.graph import Network, augmented
from network.train import QuantState, apply_quant, check_masks_hold, train

from .config import CompressionConfig
from .methods import QUANTIZERS, prune_mask, quantize_matrix
from .model import CompressedLayer, CompressedModel
from .storage import eie_footprint, encode_form, layer_storage, total_storage

Log = Callable[[str], None]


def _opt(cfg: CompressionConfig, epochs: int, lr_scale: float, seed_offset: int) -> dict:
    return dict(epochs=epochs, lr=cfg.learning_rate * lr_scale, momentum=cfg.momentum,
                weight_decay=cfg.weight_decay, batch_size=cfg.batch_size, seed=cfg.seed + seed_offset,
                augment_shift=cfg.augment_shift)


# --------------------------------------------------------------------- stages
def cache_dir() -> Path:
    return Path(os.environ.get("DCSIM_CACHE", Path.home() / ".cache" / "dcsim")) / "baselines"


def baseline_key(model: str, cfg: CompressionConfig, data: TrainData) -> str:
    d = {"model": model, "epochs": cfg.baseline_epochs, "lr": cfg.learning_rate, "bs": cfg.batch_size,
         "mom": cfg.momentum, "wd": cfg.weight_decay, "seed": cfg.seed, "shift": cfg.augment_shift, "data": data.fingerprint, "v": 1}
    return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:20]


def step_baseline(model: str, cfg: CompressionConfig, data: TrainData, *, use_cache: bool = True,
                  progress: bool = True, log: Log = print) -> Network:
    """Train the float baseline of a built-in model, or reuse a cached one with the same recipe and data."""
    net = models.build(model, seed=cfg.seed)
    path = cache_dir() / f"{model}-{baseline_key(model, cfg, data)}.npz"
    if use_cache and path.is_file():
        try:
            params = load_arrays(path, "baseline cache")
        except DcsimError:
            params = {}                   # unreadable: trained again and replaced
        if isinstance(params, dict) and set(params) == set(net.params) \
                and all(params[k].shape == net.params[k].shape for k in params):
            net.params = {k: params[k].astype(np.float32) for k in params}
            log(f"baseline: reused {path}")
            return net
    t = time.time()
    train(net, data.x_train, data.y_train, progress=progress, desc="baseline", **_opt(cfg, cfg.baseline_epochs, 1.0, 0))
    log(f"baseline: trained {cfg.baseline_epochs} epochs in {time.time() - t:.1f} s")
    if use_cache:
        import io
        buf = io.BytesIO()
        np.savez(buf, **net.params)
        try:
            atomic_write_bytes(path, buf.getvalue())
        except OSError:
            pass
    return net


def prune_masks(net: Network, cfg: CompressionConfig, fraction: float = 1.0,
                previous: dict[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """Masks for every weight layer with the recipe's pruner (biases are never pruned). A
    connection pruned earlier stays pruned (``previous``)."""
    masks = {}
    for s in net.specs:
        w = net.params[s.name]
        if previous is not None and s.name in previous:
            w = w * previous[s.name]
        m = prune_mask(w, s.name, cfg, fraction)
        if previous is not None and s.name in previous:
            m &= previous[s.name]
        masks[s.name] = m
    return masks


def densities(masks: dict[str, np.ndarray]) -> dict[str, float]:
    """The kept fraction of each layer."""
    return {k: float(np.asarray(m).mean()) for k, m in masks.items()}


def density_text(masks: dict[str, np.ndarray]) -> str:
    """``fc1 6.5%, fc2 8.0%, ...``: the kept fraction of each layer, for the log."""
    return ", ".join(f"{k} {100 * d:.1f}%" for k, d in densities(masks).items())


def step_prune(net: Network, cfg: CompressionConfig, data: TrainData | None, *, progress: bool = True,
               log: Log = print) -> dict[str, np.ndarray]:
    """Prune in ``cfg.prune_iterations`` steps, retraining with masks after each (if data is given).

    Modifies ``net`` in place; returns the final masks (True = kept)."""
    masks = None
    T = cfg.prune_iterations
    for it in range(1, T + 1):
        masks = prune_masks(net, cfg, fraction=it / T, previous=masks)
        for k, m in masks.items():
            net.params[k] *= m
        if data is not None and cfg.retrain_epochs > 0:
            train(net, data.x_train, data.y_train, masks=masks, progress=progress,
                  desc=f"prune {it}/{T} retrain", **_opt(cfg, cfg.retrain_epochs, cfg.retrain_lr_scale, it))
        log(f"prune {it}/{T}: density {density_text(masks)}")
    assert masks is not None and check_masks_hold(net, masks)
    return masks


def step_quantize(net: Network, cfg: CompressionConfig, data: TrainData | None, *, progress: bool = True,
                  log: Log = print) -> dict[str, QuantState]:
    """Weight sharing per layer over ``[W | b]`` with the recipe's quantizer, then centroid
    fine-tuning (if data is given and the quantizer fine-tunes)."""
    quantizer = QUANTIZERS.get(cfg.quantizer)
    quant = {}
    for s in net.specs:
        aug = augmented(net, s.name)
        del net.params[s.name]          # [W | b] stands in for W until apply_quant writes centroids[idx] back
        quant[s.name] = quantize_matrix(aug, quantizer.bits_for(cfg, s.name, s.kind), cfg)
        del aug
    apply_quant(net, quant)
    if data is not None and cfg.finetune_epochs > 0 and quantizer.finetune:
        train(net, data.x_train, data.y_train, quant=quant, progress=progress, desc="fine-tune centroids",
              **_opt(cfg, cfg.finetune_epochs, cfg.finetune_lr_for(), 100))
    log("quantize: " + quant_text(quant))
    return quant


def quant_text(quant: dict[str, QuantState]) -> str:
    """``fc1 6 bits, fc2 6 bits, ...``: each layer's codebook index bits, for the log."""
    return ", ".join(f"{k} {q.bits} bits" for k, q in quant.items())


def step_encode(net: Network, quant: dict[str, QuantState], cfg: CompressionConfig, accel: AcceleratorConfig,
                meta: dict | None = None) -> CompressedModel:
    """Build the CompressedModel: indices, codebooks and the Huffman-coded storage form per layer."""
    layers = []
    for s in net.specs:
        q = quant[s.name]
        bits = q.bits
        form = encode_form(q.idx, bits, cfg.rel_bits_for(s.kind))
        layers.append(CompressedLayer(spec=s, bits=bits, centroids=q.centroids.astype(np.float32).copy(),
                                      indices=q.idx.copy(), form=form))
    return CompressedModel(name=net.name, input_shape=tuple(net.input_shape), layers=layers,
                           compression=cfg, accel=accel, meta=dict(meta or {}),
                           nodes=None if net.nodes is None else list(net.nodes))


@dataclass(frozen=True)
class EvalSet:
    """Labelled samples to measure accuracy on, and where they come from."""

    x: np.ndarray
    y: np.ndarray
    description: str

    def error_pct(self, net: Network) -> float:
        return net.error_pct(self.x, self.y)


def compress_network(net: Network, cfg: CompressionConfig, accel: AcceleratorConfig, *,
                     train: TrainData | None = None, eval_set: EvalSet | None = None, meta: dict | None = None,
                     progress: bool = True, log: Log = print, step=None) -> tuple[CompressedModel, dict[str, float]]:
    """Prune (+ masked retraining with ``train``), quantize (+ centroid fine-tuning), encode.

    ``net`` is the float model (modified in place). With ``eval_set`` the error (%) of the float
    model, after pruning and after quantization (Huffman coding is lossless, so P+Q+H equals P+Q)
    is measured and stored in ``model.meta`` (``baseline_test_error_pct``,
    ``pruned_test_error_pct``, ``test_error_pct``, ``n_test_images``); without it they are None
    and every report says accuracy was not measured. ``step(name)``: a context manager around
    each of the three stages (a progress bar's step, :class:`dcsim.progress.Steps`); ``progress``
    shows the training bars. Returns ``(model, stage seconds)``.
    """
    step = step or (lambda _name: contextlib.nullcontext())
    cfg.check_layer_names([s.name for s in net.specs])
    stages: dict[str, float] = {}
    err = (lambda n: None) if eval_set is None else eval_set.error_pct
    base_err = err(net)
    if base_err is not None:
        log(f"baseline test error: {base_err:.2f}%")
    t = time.time()
    with step("prune"):
        step_prune(net, cfg, train, progress=progress, log=log)
        pruned_err = err(net)
    stages["prune_s"] = time.time() - t
    if pruned_err is not None:
        log(f"pruned test error: {pruned_err:.2f}%")
    t = time.time()
    with step("quantize"):
        quant = step_quantize(net, cfg, train, progress=progress, log=log)
    stages["quantize_s"] = time.time() - t
    t = time.time()
    with step("encode and Huffman-code"):
        m = {**(meta or {}), "baseline_test_error_pct": base_err, "pruned_test_error_pct": pruned_err}
        cm = step_encode(net, quant, cfg, accel, m)
        cm.meta["test_error_pct"] = None if eval_set is None else eval_set.error_pct(cm.to_network())
        cm.meta["n_test_images"] = None if eval_set is None else int(len(eval_set.y))
    if eval_set is not None:
        cm.meta["eval_data"] = eval_set.description
        log(f"compressed test error: {cm.meta['test_error_pct']:.2f}% (on {eval_set.description})")
    stages["encode_s"] = time.time() - t
    return cm, stages


#: The steps :func:`compress_network` takes (for a progress bar's total).
COMPRESS_STEPS = 3


def compress_builtin(model: str, cfg: CompressionConfig, accel: AcceleratorConfig, data: TrainData, *,
                     meta: dict | None = None, use_cache: bool = True, progress: bool = True,
                     log: Log = print, step=None) -> tuple[CompressedModel, dict, dict[str, float]]:
    """The whole flow for a built-in model: baseline (cached), then :func:`compress_network` with
    ``data``'s training set and its test set for the accuracy, then :func:`storage_report`
    (``step`` as theirs, around the baseline too).

    Returns ``(model, storage report, stage seconds)``. ``dcsim compress --model`` and the
    design-space sweeps (dcsim/dse/) both run this.
    """
    step = step or (lambda _name: contextlib.nullcontext())
    t = time.time()
    with step("baseline"):
        net = step_baseline(model, cfg, data, use_cache=use_cache, progress=progress, log=log)
    stages = {"baseline_s": time.time() - t}
    cm, st = compress_network(net, cfg, accel, train=data, eval_set=EvalSet(data.x_test, data.y_test, "the test set"),
                              meta={**(meta or {}), "model": model}, progress=progress, log=log, step=step)
    cm.meta.pop("eval_data", None)
    stages.update(st)
    return cm, storage_report(cm, step=step), stages


#: The accuracy figures a compressed model carries in its ``meta`` (measured by the flow that made it).
ACCURACY_KEYS = ("test_error_pct", "baseline_test_error_pct", "pruned_test_error_pct", "n_test_images")


def storage_report(model: CompressedModel, *, eie: bool = True, step=None) -> dict:
    """Per-layer and total storage (Table 2 columns), with the model's measured test errors
    beside them (None: not measured), plus EIE's on-chip footprint, apart, when ``eie`` and the
    archive's machine is EIE. ``step(name)``: a context manager around each layer's encoding (a
    progress bar's step, :class:`dcsim.progress.Steps`)."""
    eie = eie and getattr(model.accel, "kind", "eie") == "eie"
    step = step or (lambda _name: contextlib.nullcontext())
    rows = []
    for l in model.layers:
        W = l.indices[:, :-1]
        row = {"layer": l.name, "kind": l.spec.kind.value,
               **layer_storage(l.form, n_weights=int(W.size), n_bias=int(l.indices.shape[0]),
                               nnz_weights=int(np.count_nonzero(W)))}
        if eie:
            with step(f"encode {l.name} for EIE"):
                row.update(eie_footprint(l.indices, l.bits, model.accel))
        rows.append(row)
    total = total_storage(rows)
    for k in ACCURACY_KEYS:
        total[k] = model.meta.get(k)
    if eie:
        for k in ("eie_entries", "eie_fillers", "eie_spmat_bits", "eie_ptr_bits", "eie_padding_bits",
                  "eie_codebook_bits", "eie_total_bits"):
            total[k] = int(sum(r[k] for r in rows))
        total["eie_fits"] = all(r["eie_fits"] for r in rows)
    return {"layers": rows, "total": total}


# ------------------------------------------------------------------- user weights
def weight_error(original: Network, model: CompressedModel) -> list[dict]:
    """Per-layer error of the dequantized weights against the originals (computed a block of rows
    at a time, so the memory stays small whatever the layer's size)."""
    out = []
    for l in model.layers:
        W = original.params[l.name]
        W2 = W.reshape(W.shape[0], -1)
        b = original.params[l.name + "_bias"]
        rows = W2.shape[0]
        step = max(1, (1 << 22) // max(1, W2.shape[1] + 1))
        sq_err = sq_ref = 0.0
        max_err = 0.0
        n = 0
        for r0 in range(0, rows, step):
            a = np.concatenate([W2[r0:r0 + step], b[r0:r0 + step, None]], axis=1).astype(np.float64)
            err = l.centroids[l.indices[r0:r0 + step]].astype(np.float64) - a
            sq_err += float(np.sum(err * err))
            sq_ref += float(np.sum(a * a))
            max_err = max(max_err, float(np.max(np.abs(err))) if err.size else 0.0)
            n += err.size
        norm = float(np.sqrt(sq_ref))
        out.append({"layer": l.name, "weight_rms_error": float(np.sqrt(sq_err / n)) if n else 0.0,
                    "weight_rel_error": float(np.sqrt(sq_err)) / norm if norm else 0.0,
                    "weight_max_abs_error": max_err})
    return out
