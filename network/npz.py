"""The ``.npz`` importer: a network from a file of numpy weight arrays (``dcsim compress --weights``)."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from arch.errors import ModelError
from arch.fileio import load_arrays

from .graph import LayerKind, LayerSpec, Network, weights_only_input_shape

__all__ = ["network_from_npz"]


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
        if not np.all(np.isfinite(a)):
            raise ModelError(f"{p}: array {k!r} holds NaN or inf")
        kind = LayerKind.FC if a.ndim == 2 else LayerKind.CONV
        b = biases.pop(k, None)
        if b is None:
            b = np.zeros(a.shape[0], dtype=np.float32)
        if b.shape != (a.shape[0],):
            raise ModelError(f"{p}: bias of {k!r} has shape {b.shape}; expected ({a.shape[0]},)")
        specs.append(LayerSpec(k, kind, tuple(int(s) for s in a.shape), relu=i < len(weights) - 1))
        params[k] = a.astype(np.float32)
        params[k + "_bias"] = b.astype(np.float32)
    if biases:
        raise ModelError(f"{p}: bias {next(iter(biases))!r} has no matching weight array")
    return Network(p.stem, weights_only_input_shape(specs), specs, params)
