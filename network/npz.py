"""The ``.npz`` importer: a network from a file of numpy weight arrays (``dcsim compress --weights``)."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from arch.errors import ModelError
from arch.fileio import load_arrays

from .graph import LayerKind, LayerSpec, Network, weights_only_input_shape

__all__ = ["MAX_ABS_PARAM", "check_chain", "check_forward", "check_params", "network_from_npz"]

#: The largest magnitude a weight or bias may have. The float32 sums of squares (weight errors)
#: and k-means sums of a layer of up to ~3e8 values stay finite below it; real weights are far smaller.
MAX_ABS_PARAM = 1e15


def network_from_npz(path: str | os.PathLike) -> Network:
    """A network from a user's ``.npz``: 2-D arrays are fc (out x in), 4-D are conv
    (out x in x kh x kw); ``NAME_bias`` / ``NAME.bias`` is that layer's bias (zeros when absent).
    Layers keep the file's order; ReLU is on for every layer but the last. Pickled data is
    never loaded. Any problem raises :class:`~arch.errors.ModelError` naming the file and array."""
    p = Path(path)
    arrays = load_arrays(p, "--weights", ModelError)
    if not isinstance(arrays, dict):
        raise ModelError(f"--weights {p}: a single array; give a .npz of named weight arrays")
    biases = {}
    weights = []
    for k, a in arrays.items():
        for suf in ("_bias", ".bias"):
            if k.endswith(suf):
                biases[k[: -len(suf)]] = a
                break
        else:
            weights.append((k, a))
    if not weights:
        raise ModelError(f"{p}: no weight arrays found (need 2-D fc or 4-D conv arrays)")
    specs, params = [], {}
    for i, (k, a) in enumerate(weights):
        if a.ndim not in (2, 4) or not np.issubdtype(a.dtype, np.floating) or a.size == 0:
            raise ModelError(f"{p}: array {k!r} has shape {a.shape} and dtype {a.dtype}; "
                             "weights must be non-empty float 2-D (fc, out x in) or 4-D (conv, out x in x kh x kw)")
        kind = LayerKind.FC if a.ndim == 2 else LayerKind.CONV
        b = biases.pop(k, None)
        if b is None:
            b = np.zeros(a.shape[0], dtype=np.float32)
        elif not (np.issubdtype(b.dtype, np.floating) or np.issubdtype(b.dtype, np.integer)):
            raise ModelError(f"{p}: bias of {k!r} has dtype {b.dtype}; a bias must be real numbers")
        if b.shape != (a.shape[0],):
            raise ModelError(f"{p}: bias of {k!r} has shape {b.shape}; expected ({a.shape[0]},)")
        specs.append(LayerSpec(k, kind, tuple(int(s) for s in a.shape), relu=i < len(weights) - 1))
        params[k] = a
        params[k + "_bias"] = b
    if biases:
        raise ModelError(f"{p}: bias {next(iter(biases))!r} has no matching weight array")
    check_params(params, f"{p}")
    check_chain(specs, f"{p}")
    params = {k: v.astype(np.float32, copy=False) for k, v in params.items()}
    return Network(p.stem, weights_only_input_shape(specs), specs, params)


def check_params(params: dict[str, np.ndarray], source: str) -> None:
    """Refuse, naming the array, a weight or bias holding NaN, an infinity or a magnitude above
    :data:`MAX_ABS_PARAM` (or one that float32 rounds to an infinity)."""
    for k, a in params.items():
        what = f"bias {k[:-len('_bias')]!r}" if k.endswith("_bias") else f"array {k!r}"
        a = np.asarray(a)
        if a.size == 0:
            continue
        hi, lo = (float(a.max()), float(a.min())) if a.dtype.kind == "f" else \
            (float(np.max(np.abs(a.astype(np.float64)))), 0.0)
        if not (np.isfinite(hi) and np.isfinite(lo)):    # max and min are NaN or infinite when any value is
            raise ModelError(f"{source}: {what} holds NaN or inf")
        big = max(abs(hi), abs(lo))
        if big > MAX_ABS_PARAM:
            raise ModelError(f"{source}: {what} holds a value of magnitude {big:.3g}; weights and biases must be "
                             f"at most {MAX_ABS_PARAM:.0e} in magnitude (larger ones overflow float32 sums)")


def check_chain(specs: list[LayerSpec], source: str) -> list[str]:
    """Check that a chain of layers (a weights file: each layer feeds the next) fits together as far
    as the weights alone tell: fc after fc (its inputs = the previous outputs), conv after conv (its
    input channels = the previous output channels), no conv after fc. Raises ModelError naming the
    two layers. Returns notes on what could not be checked without the input shape (an fc layer
    after a conv layer: only that its inputs are a multiple of the channels)."""
    notes = []
    for prev, s in zip(specs, specs[1:]):
        out = prev.shape[0]
        if s.kind is LayerKind.FC and prev.kind is LayerKind.FC:
            if s.shape[1] != out:
                raise ModelError(f"{source}: layer {s.name!r} takes {s.shape[1]} inputs but the layer before it, "
                                 f"{prev.name!r}, has {out} outputs (shapes {prev.shape} then {s.shape})")
        elif s.kind is LayerKind.CONV and prev.kind is LayerKind.CONV:
            if s.shape[1] * s.groups != out:
                raise ModelError(f"{source}: conv layer {s.name!r} takes {s.shape[1] * s.groups} input channels but "
                                 f"the layer before it, {prev.name!r}, has {out} output channels")
        elif s.kind is LayerKind.CONV:
            raise ModelError(f"{source}: conv layer {s.name!r} follows fc layer {prev.name!r}; a weights file is a "
                             "chain, and a conv layer needs a C,H,W input (use --onnx for other graphs)")
        else:                                    # fc after conv: flattened C x H x W
            if s.shape[1] % out:
                raise ModelError(f"{source}: layer {s.name!r} takes {s.shape[1]} inputs, not a multiple of the "
                                 f"{out} output channels of conv layer {prev.name!r} before it")
            notes.append(f"{s.name} takes {s.shape[1]} inputs = {out} channels of {prev.name} x "
                         f"{s.shape[1] // out} positions")
    return notes


def check_forward(net: Network, source: str) -> None:
    """Run the float network on one zero sample of its (known) input shape: every layer's input must
    have the size the layer takes, and no output may be empty. Raises ModelError naming the layer."""
    from .graph import FloatArith, expand_groups, place_outputs, receptive_fields

    shape = tuple(int(s) for s in net.input_shape)
    current = [net.specs[0].name]

    def layer(spec, node, h):
        current[0] = spec.name
        W = expand_groups(net.params[spec.name].reshape(spec.n_out, -1), spec)
        X, lead = receptive_fields(spec, node, h)
        if X.shape[0] == 0:
            raise ModelError(f"layer {spec.name}: its input {tuple(h.shape[1:])} is smaller than its "
                             f"{spec.shape[2]}x{spec.shape[3]} kernel" if spec.kind is LayerKind.CONV
                             else f"layer {spec.name}: its input is empty")
        return place_outputs(spec, X @ W.T + net.params[spec.name + "_bias"], lead)

    try:
        with np.errstate(all="ignore"):
            net.run_graph(np.zeros((1,) + shape, dtype=np.float32), layer, FloatArith())
    except ModelError as e:
        raise ModelError(f"{source}: with input shape {shape}: {e}") from None
    except (ValueError, IndexError) as e:
        raise ModelError(f"{source}: with input shape {shape}, layer {current[0]!r} does not fit its input "
                         f"({e})") from None
