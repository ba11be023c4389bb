"""Per-layer sensitivity analysis and accuracy budgets.

:func:`sensitivity_scan` measures how much accuracy a float network loses when **one layer
alone** is pruned to each of a list of densities, or weight-shared to each of a list of bit
widths, with the recipe's own pruner and quantizer (compress/methods/) and no retraining: the
sensitivity curves of Han et al. (NIPS 2015: accuracy against the weights pruned, per layer) and
Deep Compression (ICLR 2016: accuracy against the bits of the shared weights), as Distiller's and
AIMET's per-layer sensitivity analyses compute them.

:func:`budget_recipe` turns a scan into per-layer densities (``layer_density``; the ``threshold``
pruner gets the equivalent ``layer_quality``) and bits (``layer_bits``) that compress as much as
it can while the accuracy drops by at most a budget, and checks the choice on the whole network:

1. Every layer starts dense at the most bits scanned. Moves tighten one layer's density or bits
   to a scanned value; the next move is always the one that saves the most estimated bits per
   point of estimated drop (the estimate: the sum over layers of each choice's drop measured
   alone, negative drops counted as 0; a move that saves bits at no cost goes first). This
   gives one path of moves from the loosest to the tightest recipe, whatever the budget.
2. The budget takes the longest beginning of that path whose estimated drop stays within it:
   no layer is ever given a density or bit width whose drop *alone* exceeds the budget (such a
   layer stays dense).
3. The choice is verified: all layers are pruned and quantized together, exactly as the
   pipeline's ``step_prune`` / ``step_quantize`` do with the returned config (before any
   retraining), and the network is evaluated. While the measured drop exceeds the budget, the
   last move is undone (the one with the worst drop per bit saved) and the network checked again.

Because the path does not depend on the budget, a looser budget never gives a lower estimated
compression rate than a tighter one. Retraining (``retrain_epochs``, ``finetune_epochs``)
usually wins back part of the drop, so the choice is conservative. Nothing here draws random
numbers (the quantizer uses the recipe's ``seed``), so a scan and a recipe are reproducible.

The rate is an estimate in Deep Compression's storage form (docs/compression.md): per layer,
entries (nonzeros of ``[W | b]`` plus the fillers of the relative indices) x (bits + relative-index
bits) + the codebook (2^bits x 32 bits), against 32-bit dense weights and biases; row pointers
and Huffman coding are left out.
"""
from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from arch.errors import DcsimError
from network.graph import LayerKind, Network, augmented, set_augmented

from .config import CompressionConfig
from .methods import PRUNERS, QUANTIZERS, prune_mask, quantize_matrix
from .storage import CODEBOOK_ENTRY_BITS, FLOAT_BITS

__all__ = ["DEFAULT_BITS", "DEFAULT_DENSITIES", "Evaluate", "SensitivityError", "SensitivityResult",
           "budget_recipe", "estimated_layer_bits", "sensitivity_scan"]

#: ``evaluate(net) -> accuracy in percent`` (higher is better), e.g. ``100 - net.error_pct(x, y)``.
Evaluate = Callable[[Network], float]

#: The densities a scan tries by default (1.0 = dense, the reference point).
DEFAULT_DENSITIES = (1.0, 0.8, 0.6, 0.5, 0.4, 0.3, 0.2, 0.15, 0.1, 0.05)
#: The codebook index bits a scan tries by default.
DEFAULT_BITS = (8, 7, 6, 5, 4, 3, 2)

#: Two accuracies closer than this are the same (float noise of ``100 * mean``).
_TOL = 1e-9

RATE_NOTE = ("estimated: per layer entries (nonzeros of [W | b] + relative-index fillers) x (bits + rel_bits) "
             "+ codebook (2^bits x 32 bits), against 32-bit dense weights and biases; pointers and Huffman "
             "coding left out; before retraining")


class SensitivityError(DcsimError, ValueError):
    """A sensitivity scan or budget cannot be made as asked. One line naming the value and what is allowed."""


# --------------------------------------------------------------------------------------- the scan
@dataclass
class SensitivityResult:
    """The outcome of :func:`sensitivity_scan`.

    ``rows`` holds one dict per layer and setting, layers in network order, pruning rows (by
    falling density) before quantization rows (by falling bits)::

        {"layer", "kind", "method": "prune" | "quantize", "density" (prune; None otherwise),
         "kept_pct" (weights kept by the mask, %; prune), "bits" (quantize; None otherwise),
         "accuracy_pct", "drop_pct" (baseline - accuracy, in points; negative = better)}
    """

    baseline_accuracy_pct: float
    rows: list[dict]
    densities: tuple[float, ...]
    bits: tuple[int, ...]
    prune_method: str
    quantizer: str
    layers: list[dict] = field(default_factory=list)   # [{"layer", "kind", "n_weights"}] in network order

    def rows_for(self, layer: str | None = None, method: str | None = None) -> list[dict]:
        """The rows of one layer and/or one method (``"prune"`` / ``"quantize"``)."""
        return [r for r in self.rows if (layer is None or r["layer"] == layer)
                and (method is None or r["method"] == method)]

    def to_dict(self) -> dict:
        """Plain data for JSON (``json.dumps(result.to_dict())``)."""
        return {"baseline_accuracy_pct": float(self.baseline_accuracy_pct),
                "prune_method": self.prune_method, "quantizer": self.quantizer,
                "densities": [float(d) for d in self.densities], "bits": [int(b) for b in self.bits],
                "layers": [dict(l) for l in self.layers], "rows": [dict(r) for r in self.rows],
                "note": "each layer alone, no retraining; drop_pct = baseline - accuracy (points)"}

    @classmethod
    def from_dict(cls, d: Any) -> "SensitivityResult":
        """The inverse of :meth:`to_dict` (a scan read back from JSON)."""
        try:
            rows = [dict(r) for r in d["rows"]]
            for r in rows:
                r["accuracy_pct"], r["drop_pct"] = float(r["accuracy_pct"]), float(r["drop_pct"])
                if r["method"] not in ("prune", "quantize") or not isinstance(r["layer"], str):
                    raise ValueError(r)
            return cls(baseline_accuracy_pct=float(d["baseline_accuracy_pct"]), rows=rows,
                       densities=tuple(float(x) for x in d["densities"]), bits=tuple(int(x) for x in d["bits"]),
                       prune_method=str(d["prune_method"]), quantizer=str(d["quantizer"]),
                       layers=[dict(l) for l in d.get("layers", [])])
        except (KeyError, TypeError, ValueError) as e:
            raise SensitivityError(f"not a sensitivity scan (as SensitivityResult.to_dict writes it): {e!r}") from None


def _check_densities(densities: Sequence[float]) -> tuple[float, ...]:
    out = set()
    for d in densities:
        ok = not isinstance(d, bool) and isinstance(d, (int, float, np.integer, np.floating)) and 0.0 < float(d) <= 1.0
        if not ok:
            raise SensitivityError(f"density {d!r} is not allowed; use numbers in (0, 1] (1 = dense)")
        out.add(float(d))
    return tuple(sorted(out, reverse=True))


def _check_bits(bits: Sequence[int]) -> tuple[int, ...]:
    out = set()
    for b in bits:
        if isinstance(b, bool) or not isinstance(b, (int, np.integer)) or not 1 <= int(b) <= 8:
            raise SensitivityError(f"bits {b!r} is not allowed; use integers in 1..8")
        out.add(int(b))
    return tuple(sorted(out, reverse=True))


def _accuracy(evaluate: Evaluate, net: Network, what: str) -> float:
    v = evaluate(net)
    try:
        f = float(v)
    except (TypeError, ValueError):
        f = math.nan
    if not math.isfinite(f):
        raise SensitivityError(f"evaluate returned {v!r} for {what}; it must return the accuracy in percent "
                               f"(a finite number, higher is better)")
    return f


def _quality_for_density(w: np.ndarray, density: float) -> float:
    """The ``threshold`` pruner's quality (|w| >= quality x std(w)) that keeps the same weights as
    the ``density`` pruner at ``density`` (up to ties), clipped to the config's range [0, 10]."""
    a = np.sort(np.abs(np.asarray(w, dtype=np.float64).ravel()))[::-1]
    n = a.size
    k = min(max(int(round(density * n)), 1 if n else 0), n)
    std = float(np.std(w)) if n else 0.0
    if k >= n or std == 0.0:
        return 0.0
    thr = a[k - 1] if a[k - 1] == a[k] else 0.5 * (a[k - 1] + a[k])
    return float(min(thr / std, 10.0))


def _with_densities(cfg: CompressionConfig, net: Network, dens: dict[str, float]) -> CompressionConfig:
    """``cfg`` with the per-layer densities ``dens``: ``layer_density`` for the pruners that read it,
    the equivalent ``layer_quality`` for the ``threshold`` pruner."""
    if cfg.prune_method == "threshold":
        q = {k: _quality_for_density(net.params[k], d) for k, d in dens.items()}
        return cfg.replace(layer_quality={**cfg.layer_quality, **q})
    return cfg.replace(layer_density={**cfg.layer_density, **{k: float(d) for k, d in dens.items()}})


def _refuse_importance(cfg: CompressionConfig) -> None:
    """The scan has no training data: refuse, in one line, a method that needs an importance."""
    for what, name, method in (("prune_method", cfg.prune_method, PRUNERS.get(cfg.prune_method)),
                               ("quantizer", cfg.quantizer, QUANTIZERS.get(cfg.quantizer))):
        if method.importance is not None:
            raise SensitivityError(f"{what} {name!r} needs the diagonal {method.importance} of the training loss, "
                                   f"which the sensitivity analysis does not compute; scan with another {what}")


def sensitivity_scan(net: Network, cfg: CompressionConfig, evaluate: Evaluate,
                     densities: Sequence[float] = DEFAULT_DENSITIES, bits: Sequence[int] = DEFAULT_BITS,
                     progress: bool = True) -> SensitivityResult:
    """Accuracy of ``net`` with each weight layer alone pruned to each density, and alone
    weight-shared to each bit width; no retraining.

    Pruning uses the recipe's pruner (``prune_mask`` with the layer's density set; the
    ``threshold`` pruner gets the quality that keeps that fraction), the other layers left
    dense. Quantization uses the recipe's quantizer on the layer's augmented matrix ``[W | b]``
    (``quantize_matrix``), unpruned, the dequantized values written back. ``evaluate(net)``
    returns the accuracy in percent (higher is better). ``net`` is not modified. A tqdm bar on
    stderr when ``progress``. A density of 1.0 is the baseline itself (drop 0, not re-evaluated).
    """
    from tqdm import tqdm

    _refuse_importance(cfg)
    dens = _check_densities(densities)
    bits_ = _check_bits(bits)
    work = net.copy()
    baseline = _accuracy(evaluate, work, "the float network")
    rows: list[dict] = []
    layers = [{"layer": s.name, "kind": LayerKind(s.kind).value, "n_weights": int(np.prod(s.shape))}
              for s in net.specs]
    bar = tqdm(total=len(net.specs) * (len(dens) + len(bits_)), desc="sensitivity", unit="eval",
               disable=not progress, file=sys.stderr, leave=False)
    try:
        for s in net.specs:
            kind = LayerKind(s.kind).value
            w0, b0 = work.params[s.name], work.params[s.name + "_bias"]
            for d in dens:
                bar.set_postfix_str(f"{s.name} density {d:g}")
                m = prune_mask(w0, s.name, _with_densities(cfg, net, {s.name: d}))
                if m.all():
                    acc = baseline
                else:
                    work.params[s.name] = w0 * m
                    try:
                        acc = _accuracy(evaluate, work, f"{s.name} pruned to density {d:g}")
                    finally:
                        work.params[s.name] = w0
                rows.append({"layer": s.name, "kind": kind, "method": "prune", "density": d, "bits": None,
                             "kept_pct": 100.0 * float(m.mean()) if m.size else 100.0,
                             "accuracy_pct": acc, "drop_pct": baseline - acc})
                bar.update(1)
            aug = augmented(work, s.name)
            for b in bits_:
                bar.set_postfix_str(f"{s.name} {b} bits")
                q = quantize_matrix(aug, b, cfg)
                set_augmented(work, s.name, q.centroids[q.idx])
                try:
                    acc = _accuracy(evaluate, work, f"{s.name} quantized to {b} bits")
                finally:
                    work.params[s.name], work.params[s.name + "_bias"] = w0, b0
                rows.append({"layer": s.name, "kind": kind, "method": "quantize", "density": None, "bits": b,
                             "kept_pct": None, "accuracy_pct": acc, "drop_pct": baseline - acc})
                bar.update(1)
    finally:
        bar.close()
    return SensitivityResult(baseline_accuracy_pct=baseline, rows=rows, densities=dens, bits=bits_,
                             prune_method=cfg.prune_method, quantizer=cfg.quantizer, layers=layers)


# ------------------------------------------------------------------------------------ the estimate
def _fillers(nz: np.ndarray, rel_bits: int) -> int:
    """Filler entries of the storage form of a matrix whose nonzeros are ``nz`` (rows = outputs):
    a gap of g zero columns before an entry of its row takes ``g // 2**rel_bits`` fillers."""
    r, c = np.nonzero(nz)
    if r.size == 0:
        return 0
    gap = c.astype(np.int64).copy()
    same = np.zeros(r.size, dtype=bool)
    same[1:] = r[1:] == r[:-1]
    gap[same] = c[same] - c[np.flatnonzero(same) - 1] - 1
    return int(np.sum(gap >> rel_bits))


def estimated_layer_bits(aug_nonzero: np.ndarray, bits: int, rel_bits: int) -> dict:
    """The estimated storage of one layer whose augmented matrix ``[W | b]`` has the nonzeros
    ``aug_nonzero``: entries (nonzeros + fillers) x (bits + rel_bits) + codebook, and the dense
    32-bit bits of the same matrix (see the module docstring)."""
    nz = np.asarray(aug_nonzero, dtype=bool)
    entries = int(nz.sum()) + _fillers(nz, rel_bits)
    est = entries * (bits + rel_bits) + (1 << bits) * CODEBOOK_ENTRY_BITS
    return {"entries": entries, "estimated_bits": est, "dense_bits": FLOAT_BITS * int(nz.size)}


# ------------------------------------------------------------------------------------- the budget
@dataclass
class _Layer:
    name: str
    kind: str
    rel_bits: int
    dens: list[tuple[float, float]]      # (density, drop alone >= 0), loosest first
    bits: list[tuple[int, float]]        # (bits, drop alone >= 0), most bits first
    dens_raw: dict[float, float]         # density -> drop alone as measured (may be < 0)
    bits_raw: dict[int, float]


def _layer_options(net: Network, cfg: CompressionConfig, scan: SensitivityResult) -> list[_Layer]:
    quantizer = QUANTIZERS.get(cfg.quantizer)
    out = []
    for s in net.specs:
        dens_raw = {1.0: 0.0}
        dens_raw.update({float(r["density"]): float(r["drop_pct"]) for r in scan.rows_for(s.name, "prune")})
        bits_raw = {int(r["bits"]): float(r["drop_pct"]) for r in scan.rows_for(s.name, "quantize")}
        default = int(quantizer.bits_for(cfg, s.name, s.kind))
        probe = 3 if default != 3 else 4
        honours = int(quantizer.bits_for(cfg.replace(layer_bits={**cfg.layer_bits, s.name: probe}),
                                         s.name, s.kind)) == probe
        if not honours or not bits_raw:        # the quantizer fixes the width, or no bits were scanned
            bits_raw = {default: bits_raw.get(default, 0.0)}
        out.append(_Layer(name=s.name, kind=LayerKind(s.kind).value, rel_bits=cfg.rel_bits_for(s.kind),
                          dens=[(d, max(v, 0.0)) for d, v in sorted(dens_raw.items(), reverse=True)],
                          bits=[(b, max(v, 0.0)) for b, v in sorted(bits_raw.items(), reverse=True)],
                          dens_raw=dens_raw, bits_raw=bits_raw))
    return out


def _check_budget(max_drop_pct) -> float:
    ok = not isinstance(max_drop_pct, bool) and isinstance(max_drop_pct, (int, float, np.integer, np.floating)) \
        and math.isfinite(float(max_drop_pct)) and 0.0 <= float(max_drop_pct) <= 100.0
    if not ok:
        raise SensitivityError(f"max accuracy drop {max_drop_pct!r} is not allowed; use a number of "
                               f"percentage points in [0, 100]")
    return float(max_drop_pct)


def budget_recipe(net: Network, cfg: CompressionConfig, evaluate: Evaluate, max_drop_pct: float,
                  scan: SensitivityResult | None = None, *, progress: bool = True
                  ) -> tuple[CompressionConfig, dict]:
    """Per-layer densities and bits with the highest estimated compression rate whose measured
    accuracy drop (all layers pruned and quantized together, no retraining) is at most
    ``max_drop_pct`` points below the float network's (see the module docstring for the method).

    ``scan`` is a :func:`sensitivity_scan` of the same network, recipe and evaluation (made with
    the default densities and bits when None, with a progress bar when ``progress``).

    Returns ``(cfg', summary)``: ``cfg'`` is ``cfg`` with ``layer_density`` (the ``threshold``
    pruner: ``layer_quality``) and ``layer_bits`` set for every layer; ``summary`` (plain data)
    holds the choice per layer, the measured combined accuracy and drop, whether the budget is
    met (False only if even every layer dense at the most bits scanned exceeds it), and the
    estimated storage and compression rate (``estimated_*``, see :data:`RATE_NOTE`).
    """
    budget = _check_budget(max_drop_pct)
    _refuse_importance(cfg)
    if scan is None:
        scan = sensitivity_scan(net, cfg, evaluate, progress=progress)
    names = [s.name for s in net.specs]
    scanned = [l["layer"] for l in scan.layers] if scan.layers else list(dict.fromkeys(r["layer"] for r in scan.rows))
    if scanned != names:
        raise SensitivityError(f"the scan covers the layers {', '.join(scanned) or '(none)'} but the network has "
                               f"{', '.join(names) or '(none)'}; scan this network")
    if (scan.prune_method, scan.quantizer) != (cfg.prune_method, cfg.quantizer):
        raise SensitivityError(f"the scan was made with prune_method {scan.prune_method!r} and quantizer "
                               f"{scan.quantizer!r}, the recipe uses {cfg.prune_method!r} and {cfg.quantizer!r}; "
                               f"scan with this recipe")
    work = net.copy()
    originals = {k: v for k, v in work.params.items()}
    baseline = _accuracy(evaluate, work, "the float network")
    if abs(baseline - scan.baseline_accuracy_pct) > 1e-6:
        raise SensitivityError(f"the scan's baseline accuracy is {scan.baseline_accuracy_pct:.4g}% but this network "
                               f"evaluates to {baseline:.4g}%: the scan was made on another network or evaluation "
                               f"set; scan again")
    quantizer = QUANTIZERS.get(cfg.quantizer)
    layers = _layer_options(net, cfg, scan)
    specs = {s.name: s for s in net.specs}

    # the nonzeros of [W | b] at each density (the storage estimate)
    nz_cache: dict[tuple[int, int], np.ndarray] = {}

    def nonzeros(i: int, di: int) -> np.ndarray:
        if (i, di) not in nz_cache:
            lay = layers[i]
            w = originals[lay.name]
            m = prune_mask(w, lay.name, _with_densities(cfg, net, {lay.name: lay.dens[di][0]}))
            nz_cache[(i, di)] = np.concatenate([(w * m).reshape(w.shape[0], -1) != 0,
                                                (originals[lay.name + "_bias"] != 0)[:, None]], axis=1)
        return nz_cache[(i, di)]

    cost_cache: dict[tuple[int, int, int], dict] = {}

    def cost(i: int, di: int, bi: int) -> dict:
        if (i, di, bi) not in cost_cache:
            cost_cache[(i, di, bi)] = estimated_layer_bits(nonzeros(i, di), layers[i].bits[bi][0], layers[i].rel_bits)
        return cost_cache[(i, di, bi)]

    # 1. the path of moves, loosest to tightest, the best bits saved per point of drop first
    state = [[0, 0] for _ in layers]
    states = [tuple(tuple(s) for s in state)]
    moves: list[dict] = []
    while True:
        best = None
        for i, lay in enumerate(layers):
            now = cost(i, *state[i])["estimated_bits"]
            for m, opts in ((0, lay.dens), (1, lay.bits)):
                cur = state[i][m]
                for j in range(cur + 1, len(opts)):
                    new = list(state[i])
                    new[m] = j
                    saved = now - cost(i, *new)["estimated_bits"]
                    if saved <= 0:
                        continue
                    delta = opts[j][1] - opts[cur][1]
                    key = ((0, -saved) if delta <= 0 else (1, -saved / delta)) + (i, m, j)
                    if best is None or key < best[0]:
                        best = (key, i, m, j, saved, delta)
        if best is None:
            break
        _, i, m, j, saved, delta = best
        lay = layers[i]
        frm = state[i][m]
        state[i][m] = j
        states.append(tuple(tuple(s) for s in state))
        moves.append({"layer": lay.name, "method": "prune" if m == 0 else "quantize",
                      "from": (lay.dens if m == 0 else lay.bits)[frm][0], "to": (lay.dens if m == 0 else lay.bits)[j][0],
                      "saved_bits": int(saved), "added_drop_pct": float(delta)})

    def estimate(st) -> float:
        return float(sum(layers[i].dens[di][1] + layers[i].bits[bi][1] for i, (di, bi) in enumerate(st)))

    # 2. the longest beginning of the path whose estimated drop stays within the budget
    k = 0
    while k + 1 < len(states) and estimate(states[k + 1]) <= budget + _TOL:
        k += 1
    k_estimated = k

    # 3. verify on the whole network; undo the last move while the measured drop exceeds the budget
    quant_cache: dict[tuple[int, int, int], tuple[np.ndarray, np.ndarray]] = {}

    def state_cfg(st) -> CompressionConfig:
        c = _with_densities(cfg, net, {layers[i].name: layers[i].dens[di][0] for i, (di, _) in enumerate(st)})
        return c.replace(layer_bits={**cfg.layer_bits, **{layers[i].name: layers[i].bits[bi][0]
                                                          for i, (_, bi) in enumerate(st)}})

    def measure(st) -> tuple[float, CompressionConfig]:
        c = state_cfg(st)
        for i, (di, bi) in enumerate(st):
            name = layers[i].name
            key = (i, di, bi)
            if key not in quant_cache:
                w = originals[name]
                mask = prune_mask(w, name, c)             # exactly the pipeline's stages, without retraining
                work.params[name], work.params[name + "_bias"] = w * mask, originals[name + "_bias"]
                q = quantize_matrix(augmented(work, name), int(quantizer.bits_for(c, name, specs[name].kind)), c)
                set_augmented(work, name, q.centroids[q.idx])
                quant_cache[key] = (work.params[name], work.params[name + "_bias"])
            work.params[name], work.params[name + "_bias"] = quant_cache[key]
        try:
            return _accuracy(evaluate, work, "the pruned and quantized network"), c
        finally:
            work.params.update(originals)

    evaluations = 0
    while True:
        acc, chosen_cfg = measure(states[k])
        evaluations += 1
        drop = baseline - acc
        if drop <= budget + _TOL or k == 0:
            break
        k -= 1
    met = drop <= budget + _TOL

    # the summary
    final = states[k]
    rows, total_est, total_dense = [], 0, 0
    for i, (di, bi) in enumerate(final):
        lay = layers[i]
        w = originals[lay.name]
        mask = prune_mask(w, lay.name, chosen_cfg)
        est = cost(i, di, bi)
        total_est += est["estimated_bits"]
        total_dense += est["dense_bits"]
        row = {"layer": lay.name, "kind": lay.kind, "density": lay.dens[di][0],
               "kept_pct": 100.0 * float(mask.mean()) if mask.size else 100.0,
               "bits": int(quantizer.bits_for(chosen_cfg, lay.name, specs[lay.name].kind)),
               "rel_bits": lay.rel_bits, "prune_drop_pct": lay.dens_raw[lay.dens[di][0]],
               "quantize_drop_pct": lay.bits_raw.get(lay.bits[bi][0]), **est,
               "estimated_rate": est["dense_bits"] / est["estimated_bits"] if est["estimated_bits"] else math.inf}
        if cfg.prune_method == "threshold":
            row["quality"] = chosen_cfg.quality_for(lay.name)
        rows.append(row)
    summary = {
        "max_drop_pct": budget,
        "baseline_accuracy_pct": baseline,
        "accuracy_pct": acc,
        "drop_pct": drop,
        "budget_met": met,
        "estimated_drop_pct": estimate(final),
        "prune_method": cfg.prune_method,
        "quantizer": cfg.quantizer,
        "layers": rows,
        "estimated_storage_bits": int(total_est),
        "dense_bits": int(total_dense),
        "estimated_compression_rate": total_dense / total_est if total_est else math.inf,
        "rate_note": RATE_NOTE,
        "moves": moves[:k],
        "moves_on_path": len(moves),
        "moves_undone": k_estimated - k,
        "evaluations": evaluations,
        "note": ("accuracy measured with every layer pruned and quantized together, before retraining; "
                 "retraining usually recovers part of the drop"),
    }
    return chosen_cfg, summary
