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
from network.train import QuantState, apply_quant, chain_hooks, check_masks_hold, train

from .config import CompressionConfig
from .methods import PRUNERS, QUANTIZERS, prune_mask, quantize_matrix
from .model import CompressedLayer, CompressedModel
from .storage import FLOAT_BITS, eie_footprint, encode_form, layer_storage, total_storage

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
         "mom": cfg.momentum, "wd": cfg.weight_decay, "seed": cfg.seed, "shift": cfg.augment_shift, "data": data.fingerprint, "v": 2}
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


def _importance(net: Network, cfg: CompressionConfig, data: TrainData | None, kind: str, what: str,
                name: str) -> dict[str, np.ndarray]:
    """The diagonal ``kind`` importance of every layer (``[W | b]`` layout) from ``cfg.importance_samples``
    training samples; a one-line ConfigError without training data."""
    from arch.configio import ConfigError

    from .methods.hessian import diag_importance

    if data is None:
        raise ConfigError(f"{what} {name!r} needs training data (for the diagonal {kind} of the loss); "
                          f"give training data or choose another {what}")
    return diag_importance(net, data.x_train, data.y_train, kind=kind, n_samples=cfg.importance_samples,
                           seed=cfg.seed)


def prune_masks(net: Network, cfg: CompressionConfig, fraction: float = 1.0,
                previous: dict[str, np.ndarray] | None = None, *, data: TrainData | None = None,
                importance: dict[str, np.ndarray] | None = None, hooks=None) -> dict[str, np.ndarray]:
    """Masks for every weight layer with the recipe's pruner (biases are never pruned). A
    connection pruned earlier stays pruned (``previous``).

    A pruner that asks for an importance (:attr:`Pruner.importance`, e.g. ``obd``) gets each
    layer's W part of ``importance`` (``{layer: [W | b] array}``, :func:`diag_importance`), which
    is computed here from ``data`` (``cfg.importance_samples`` training samples, at the current
    weights with ``previous`` applied) when not given; without either, ConfigError. A pruner whose
    ``wants_hooks`` is true gets its own :meth:`Pruner.train_hooks` object as ``hooks`` (the state
    its training learned, e.g. per-weight dropout rates)."""
    pruner = PRUNERS.get(cfg.prune_method)
    if pruner.importance is not None and importance is None:
        work = net
        if previous is not None:
            work = net.copy()
            for k, m in previous.items():
                work.params[k] = work.params[k] * m
        importance = _importance(work, cfg, data, pruner.importance, "prune_method", cfg.prune_method)
    masks = {}
    for s in net.specs:
        w = net.params[s.name]
        if previous is not None and s.name in previous:
            w = w * previous[s.name]
        imp = None if pruner.importance is None else importance[s.name][:, :-1].reshape(w.shape)
        extra = {"hooks": hooks} if getattr(pruner, "wants_hooks", False) else {}
        m = prune_mask(w, s.name, cfg, fraction, importance=imp, **extra)
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


def step_structure(net: Network, cfg: CompressionConfig, data: TrainData | None, *, progress: bool = True,
                   log: Log = print, hooks=None) -> tuple[Network, CompressionConfig]:
    """The recipe's structural transform (``cfg.structure``, compress/methods/: whole neurons or
    filters removed, or fc layers factorized), then ``retrain_epochs`` of retraining when data is
    given. Returns the new network (``net`` is not modified) and the recipe for it: the per-layer
    tables of a layer that was split (``fc1`` into ``fc1_a`` and ``fc1_b``) apply to both parts."""
    from .methods import TRANSFORMS

    n0, layers0 = net.n_weights, [s.name for s in net.specs]
    out = TRANSFORMS.get(cfg.structure).apply(net, cfg, log=log)
    shapes = ", ".join(f"{s.name} {s.n_out}x{int(np.prod(s.shape[1:]))}" for s in out.specs
                       if s.name not in layers0 or s.shape != net.spec(s.name).shape)
    log(f"structure {cfg.structure}: {n0:,} -> {out.n_weights:,} weights" + (f" ({shapes})" if shapes else ""))
    if data is not None and cfg.retrain_epochs > 0 and out is not net:
        train(out, data.x_train, data.y_train, progress=progress, desc=f"{cfg.structure} retrain", hooks=hooks,
              **_opt(cfg, cfg.retrain_epochs, cfg.retrain_lr_scale, 50))
    origin = {}
    for s in out.specs:
        parent = s.name[:-2] if s.name[-2:] in ("_a", "_b") else None
        origin[s.name] = parent if s.name not in layers0 and parent in layers0 else s.name
    tables = {t: {n: getattr(cfg, t)[o] for n, o in origin.items() if o in getattr(cfg, t)}
              for t in cfg.LAYER_TABLES if t not in cfg.STRUCTURE_TABLES}
    return out, cfg.replace(**tables)


def step_prune(net: Network, cfg: CompressionConfig, data: TrainData | None, *, progress: bool = True,
               log: Log = print, hooks=None) -> dict[str, np.ndarray]:
    """Prune in ``cfg.prune_iterations`` steps, retraining with masks after each (if data is given).
    A pruner that needs an importance (``obd``) has it computed from ``data`` at every step; one
    that trains with a penalty (:meth:`Pruner.train_hooks`) trains ``penalty_epochs`` with it
    before each step's masks. ``hooks``: added to every training here (distillation).

    Modifies ``net`` in place; returns the final masks (True = kept)."""
    masks = None
    T = cfg.prune_iterations
    pruner = PRUNERS.get(cfg.prune_method)
    own = pruner.train_hooks(net, cfg) if data is not None else None
    for it in range(1, T + 1):
        if own is not None and cfg.penalty_epochs > 0:
            train(net, data.x_train, data.y_train, masks=masks, progress=progress, hooks=chain_hooks(own, hooks),
                  desc=f"prune {it}/{T} {cfg.prune_method}", **_opt(cfg, cfg.penalty_epochs, cfg.retrain_lr_scale,
                                                                     200 + it))
        masks = prune_masks(net, cfg, fraction=it / T, previous=masks, data=data, hooks=own)   # importance: once per iteration
        for k, m in masks.items():
            net.params[k] *= m
        if data is not None and cfg.retrain_epochs > 0:
            train(net, data.x_train, data.y_train, masks=masks, progress=progress, hooks=hooks,
                  desc=f"prune {it}/{T} retrain", **_opt(cfg, cfg.retrain_epochs, cfg.retrain_lr_scale, it))
        log(f"prune {it}/{T}: density {density_text(masks)}")
    assert masks is not None and check_masks_hold(net, masks)
    return masks


def step_quantize(net: Network, cfg: CompressionConfig, data: TrainData | None, *, progress: bool = True,
                  log: Log = print, hooks=None) -> dict[str, QuantState]:
    """Weight sharing per layer over ``[W | b]`` with the recipe's quantizer, then centroid
    fine-tuning (if data is given and the quantizer fine-tunes). A quantizer that needs an
    importance (``hessian_kmeans``) gets it computed from ``data`` first (ConfigError without data)."""
    quantizer = QUANTIZERS.get(cfg.quantizer)
    own = quantizer.train_hooks(net, cfg) if data is not None and cfg.qat_epochs > 0 else None
    if own is not None:                  # quantization-aware training of the float weights; zeros stay 0
        keep = {s.name: net.params[s.name] != 0 for s in net.specs}
        train(net, data.x_train, data.y_train, masks=keep, progress=progress, hooks=chain_hooks(own, hooks),
              desc=f"{cfg.quantizer} training", **_opt(cfg, cfg.qat_epochs, cfg.qat_lr_for(), 150))
        del keep
    importance = None
    if quantizer.importance is not None:
        importance = _importance(net, cfg, data, quantizer.importance, "quantizer", cfg.quantizer)
    quant = {}
    for s in net.specs:
        aug = augmented(net, s.name)
        del net.params[s.name]          # [W | b] stands in for W until apply_quant writes centroids[idx] back
        imp = None if importance is None else importance.pop(s.name)
        quant[s.name] = quantize_matrix(aug, quantizer.bits_for(cfg, s.name, s.kind), cfg, importance=imp,
                                        layer=s.name, log=log)
        del imp
        del aug
    apply_quant(net, quant)
    if data is not None and cfg.finetune_epochs > 0 and quantizer.finetune:
        train(net, data.x_train, data.y_train, quant=quant, progress=progress, desc="fine-tune centroids",
              hooks=hooks, **_opt(cfg, cfg.finetune_epochs, cfg.finetune_lr_for(), 100))
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
    cfg.check_layer_names([s.name for s in net.specs], tables=cfg.STRUCTURE_TABLES)
    stages: dict[str, float] = {}
    err = (lambda n: None) if eval_set is None else eval_set.error_pct
    base_err = err(net)
    if base_err is not None:
        log(f"baseline test error: {base_err:.2f}%")
    original_dense_bits = FLOAT_BITS * sum(int(np.prod(s.shape)) + s.n_out for s in net.specs)
    hooks = None
    if cfg.distill and train is not None:
        from .distill import DistillHooks

        hooks = DistillHooks(net, cfg.distill_temperature, cfg.distill_alpha)
    if cfg.structure != "none":
        t = time.time()
        with step(f"restructure ({cfg.structure})"):
            net, cfg = step_structure(net, cfg, train, progress=progress, log=log, hooks=hooks)
        stages["structure_s"] = time.time() - t
        if eval_set is not None:
            log(f"restructured test error: {err(net):.2f}%")
    cfg.check_layer_names([s.name for s in net.specs],
                          tables=tuple(t for t in cfg.LAYER_TABLES if t not in cfg.STRUCTURE_TABLES))
    t = time.time()
    with step("prune"):
        step_prune(net, cfg, train, progress=progress, log=log, hooks=hooks)
        pruned_err = err(net)
    stages["prune_s"] = time.time() - t
    if pruned_err is not None:
        log(f"pruned test error: {pruned_err:.2f}%")
    t = time.time()
    with step("quantize"):
        quant = step_quantize(net, cfg, train, progress=progress, log=log, hooks=hooks)
    stages["quantize_s"] = time.time() - t
    t = time.time()
    with step("encode and Huffman-code"):
        m = {**(meta or {}), "baseline_test_error_pct": base_err, "pruned_test_error_pct": pruned_err}
        if cfg.structure != "none":
            m["original_dense_bits"] = original_dense_bits   # the rates are against the model before the transform
        cm = step_encode(net, quant, cfg, accel, m)
        cm.meta["test_error_pct"] = None if eval_set is None else eval_set.error_pct(cm.to_network())
        cm.meta["n_test_images"] = None if eval_set is None else int(len(eval_set.y))
    if eval_set is not None:
        cm.meta["eval_data"] = eval_set.description
        log(f"compressed test error: {cm.meta['test_error_pct']:.2f}% (on {eval_set.description})")
    stages["encode_s"] = time.time() - t
    return cm, stages


def compress_steps(cfg: CompressionConfig) -> int:
    """The steps :func:`compress_network` takes with ``cfg`` (for a progress bar's total)."""
    return 3 + (cfg.structure != "none")


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
    # after a structural transform the rates are against the original float model
    total = total_storage(rows, dense_bits=model.meta.get("original_dense_bits") or None)
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
