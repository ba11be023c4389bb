"""CompressedModel: the compressed network in memory, and its ``.dcz`` archive.

Per layer the archive holds (docs/design.md, "Formats"): float32 centroids and the
codebook indices of ``[W | b]`` (the dequantized weights are
``centroids[idx]`` exactly), Deep Compression's Huffman-coded storage form,
the bias, the ReLU flag, and both configs. Loading decodes the Huffman form
and checks it against the indices, so a file that loads is self-consistent.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from arch.configio import ConfigError
from arch.fileio import atomic_write_bytes
from arch.machine import machine_config_from_dict
from network.graph import FLOAT, LayerSpec, Network, Node

from . import huffman
from .archive import ArchiveError, _one_line, decode_container, encode_container, read_container
from .config import CompressionConfig
from .storage import StorageForm, decode_form

ARCHIVE_KIND = "dcsim.CompressedModel"
MODEL_FORMAT = 1


@dataclass(eq=False)
class CompressedLayer:
    """One weight-shared, pruned layer. ``indices`` is (out, fan_in + 1); the last column is the bias."""

    spec: LayerSpec
    bits: int
    centroids: np.ndarray
    indices: np.ndarray
    form: StorageForm

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def augmented(self) -> np.ndarray:
        """Dequantized ``[W | b]`` (float32), exactly ``centroids[indices]``."""
        return self.centroids[self.indices]

    @property
    def weights(self) -> np.ndarray:
        return np.ascontiguousarray(self.augmented[:, :-1]).reshape(self.spec.shape)

    @property
    def bias(self) -> np.ndarray:
        return self.centroids[self.indices[:, -1]]

    def __eq__(self, other) -> bool:
        if not isinstance(other, CompressedLayer):
            return NotImplemented
        return (self.spec == other.spec and self.bits == other.bits
                and np.array_equal(self.centroids, other.centroids)
                and self.centroids.dtype == other.centroids.dtype
                and np.array_equal(self.indices, other.indices)
                and self.form.rel_bits == other.form.rel_bits
                and self.form.v_payload == other.form.v_payload
                and self.form.z_payload == other.form.z_payload
                and np.array_equal(self.form.row_ptr, other.form.row_ptr))


@dataclass(eq=False)
class CompressedModel:
    """A compressed network plus the configs that made it."""

    name: str
    input_shape: tuple[int, ...]
    layers: list[CompressedLayer]
    compression: CompressionConfig
    accel: Any  # the machine config (AcceleratorConfig for EIE)
    meta: dict = field(default_factory=dict)
    nodes: list[Node] | None = None   # the graph (network/graph.py); None: the chain of the layers

    def layer(self, name: str) -> CompressedLayer:
        for l in self.layers:
            if l.name == name:
                return l
        raise KeyError(f"no layer {name!r}; layers: {', '.join(l.name for l in self.layers)}")

    def structure(self) -> Network:
        """The network's layers and graph without parameters (for checks and the fixed-point run,
        which need no float weights)."""
        return Network(self.name, tuple(self.input_shape), [l.spec for l in self.layers],
                       nodes=None if self.nodes is None else list(self.nodes))

    def to_network(self) -> Network:
        """The dequantized float network (for evaluation)."""
        net = self.structure()
        for l in self.layers:
            net.params[l.name] = l.weights.astype(FLOAT)
            net.params[l.name + "_bias"] = l.bias.astype(FLOAT)
        return net

    def __eq__(self, other) -> bool:
        if not isinstance(other, CompressedModel):
            return NotImplemented
        return (self.name == other.name and tuple(self.input_shape) == tuple(other.input_shape)
                and self.compression == other.compression and self.accel == other.accel
                and self.meta == other.meta and len(self.layers) == len(other.layers)
                and self.nodes == other.nodes
                and all(a == b for a, b in zip(self.layers, other.layers)))


def save(model: CompressedModel, path: str | os.PathLike) -> None:
    """Write ``model`` as a ``.dcz`` archive (atomic)."""
    atomic_write_bytes(path, to_bytes(model, path))


def to_bytes(model: CompressedModel, path: str | os.PathLike = "<bytes>") -> bytes:
    """The ``.dcz`` archive of ``model`` as bytes (what :func:`save` writes)."""
    arrays: dict[str, np.ndarray] = {}
    layers_meta = []
    for i, l in enumerate(model.layers):
        f = l.form
        p = f"L{i}."
        arrays[p + "centroids"] = np.asarray(l.centroids, dtype=np.float32)
        arrays[p + "indices"] = np.asarray(l.indices)
        arrays[p + "bias"] = np.asarray(l.bias, dtype=np.float32)
        arrays[p + "row_ptr"] = np.asarray(f.row_ptr, dtype=np.int64)
        arrays[p + "v_lengths"] = np.asarray(f.v_code.lengths, dtype=np.uint8)
        arrays[p + "z_lengths"] = np.asarray(f.z_code.lengths, dtype=np.uint8)
        arrays[p + "v_payload"] = np.frombuffer(f.v_payload, dtype=np.uint8)
        arrays[p + "z_payload"] = np.frombuffer(f.z_payload, dtype=np.uint8)
        layers_meta.append({**l.spec.to_dict(), "bits": l.bits, "rel_bits": f.rel_bits,
                            "n_entries": f.n_entries, "v_nbits": f.v_nbits, "z_nbits": f.z_nbits})
    meta = {
        "kind": ARCHIVE_KIND,
        "model_format": MODEL_FORMAT,
        "name": model.name,
        "input_shape": list(model.input_shape),
        "layers": layers_meta,
        "compression_config": model.compression.to_dict(),
        "accelerator_config": model.accel.to_dict(),
        "meta": model.meta,
    }
    if model.nodes is not None:
        meta["graph"] = [n.to_dict() for n in model.nodes]
    return encode_container(meta, arrays, path)


def load(path: str | os.PathLike) -> CompressedModel:
    """Read a ``.dcz`` archive; any inconsistency raises ArchiveError naming the file."""
    p = Path(path)
    return _from_container(*read_container(p), p)


def from_bytes(data: bytes, name: str = "<bytes>") -> CompressedModel:
    """Inverse of :func:`to_bytes` (``name`` labels errors)."""
    return _from_container(*decode_container(data, name), name)


_MAX_INT = (1 << 31) - 1      # bound on every size and geometry value in a model description
_MAX_CODEBOOK_BITS = 16       # bits and rel_bits: 1..16
_MAX_INPUT_NDIM = 8
_LAYER_ARRAYS = {"centroids": "f", "indices": "iu", "bias": "f", "row_ptr": "iu", "v_lengths": "u",
                 "z_lengths": "u", "v_payload": "u", "z_payload": "u"}


def _short(v, limit: int = 60) -> str:
    r = repr(v)
    return r if len(r) <= limit else r[:limit - 3] + "..."


def _int(v, what: str, lo: int, hi: int = _MAX_INT) -> int:
    """``v`` if it is an int (not a bool, float or string) in lo..hi, else ValueError naming ``what``."""
    if type(v) is not int or not lo <= v <= hi:
        raise ValueError(f"{what} = {_short(v)} is not allowed; use an integer in {lo}..{hi}")
    return v


def _ints(v, what: str, n: tuple[int, int], lo: int, hi: int = _MAX_INT) -> list[int]:
    """``v`` if it is a list of ``n[0]..n[1]`` ints in lo..hi, else ValueError."""
    if not isinstance(v, list) or not n[0] <= len(v) <= n[1] or not all(type(x) is int and lo <= x <= hi for x in v):
        count = f"{n[0]}" if n[0] == n[1] else f"{n[0]}..{n[1]}"
        raise ValueError(f"{what} = {_short(v)} is not allowed; use a list of {count} integers in {lo}..{hi}")
    return v


def _str(v, what: str) -> str:
    if not isinstance(v, str):
        raise ValueError(f"{what} = {_short(v)} is not allowed; use a string")
    return v


def _check_layer_meta(i: int, lm) -> None:
    """Types and ranges of one layer's description (before LayerSpec.from_dict converts it)."""
    if not isinstance(lm, dict):
        raise ValueError(f"layers[{i}] must be an object, got {type(lm).__name__}")
    w = f"layers[{i}]."
    _str(lm.get("name"), w + "name")
    if lm.get("kind") not in ("fc", "conv"):
        raise ValueError(f"{w}kind = {_short(lm.get('kind'))} is not allowed; use 'fc' or 'conv'")
    nd = 2 if lm["kind"] == "fc" else 4
    _ints(lm.get("shape"), w + "shape", (nd, nd), 1)
    if not isinstance(lm.get("relu"), bool):
        raise ValueError(f"{w}relu = {_short(lm.get('relu'))} is not allowed; use true or false")
    _int(lm.get("pool", 0), w + "pool", 0)
    _ints(lm.get("stride", [1, 1]), w + "stride", (2, 2), 1)
    _ints(lm.get("padding", [0, 0, 0, 0]), w + "padding", (4, 4), 0)
    _ints(lm.get("dilation", [1, 1]), w + "dilation", (2, 2), 1)
    _int(lm.get("groups", 1), w + "groups", 1)
    _int(lm.get("bits"), w + "bits", 1, _MAX_CODEBOOK_BITS)
    _int(lm.get("rel_bits"), w + "rel_bits", 1, _MAX_CODEBOOK_BITS)
    for k in ("n_entries", "v_nbits", "z_nbits"):
        _int(lm.get(k), w + k, 0, 1 << 62)


def _check_node_meta(i: int, d) -> None:
    if not isinstance(d, dict):
        raise ValueError(f"graph[{i}] must be an object, got {type(d).__name__}")
    _str(d.get("name"), f"graph[{i}].name")
    _str(d.get("op"), f"graph[{i}].op")
    ins = d.get("inputs")
    if not isinstance(ins, list) or not all(isinstance(x, str) for x in ins):
        raise ValueError(f"graph[{i}].inputs = {_short(ins)} is not allowed; use a list of strings")
    if not isinstance(d.get("attrs", {}), dict):
        raise ValueError(f"graph[{i}].attrs = {_short(d.get('attrs'))} is not allowed; use an object")


def _layer_arrays(i: int, lm: dict, arrays: dict) -> dict[str, np.ndarray]:
    """Layer ``i``'s arrays, checked against its (type-checked) description before anything is allocated."""
    pfx = f"L{i}."
    a = {}
    for k, kinds in _LAYER_ARRAYS.items():
        x = arrays.get(pfx + k)
        if x is None:
            raise ValueError(f"array {pfx + k} is missing")
        if x.dtype.kind not in kinds or (k.endswith(("_lengths", "_payload")) and x.dtype.itemsize != 1):
            raise ValueError(f"array {pfx + k} has dtype {x.dtype}")
        a[k] = x
    name, shape, bits, rel_bits = lm["name"], lm["shape"], lm["bits"], lm["rel_bits"]
    out, cols = shape[0], math.prod(shape[1:]) + 1
    what = f"layer {name!r}"
    if a["indices"].shape != (out, cols):
        raise ValueError(f"{what}: indices have shape {a['indices'].shape}, the layer description needs {(out, cols)}")
    for k, want in (("centroids", (1 << bits,)), ("bias", (out,)), ("row_ptr", (out + 1,)),
                    ("v_lengths", (1 << bits,)), ("z_lengths", (1 << rel_bits,))):
        if a[k].shape != want:
            raise ValueError(f"{what}: {k} has shape {a[k].shape}, the layer description needs {want}")
    n = lm["n_entries"]
    for s in ("v", "z"):
        payload, nbits = a[s + "_payload"], lm[s + "_nbits"]
        if payload.ndim != 1 or nbits > 8 * payload.size:
            raise ValueError(f"{what}: {s}_nbits = {nbits} exceeds the {payload.size}-byte {s} payload")
        if n > nbits:
            raise ValueError(f"{what}: n_entries = {n} exceeds the {nbits} bits of the {s} payload")
    return a


def _from_container(meta: dict, arrays: dict, p) -> CompressedModel:
    def bad(msg: str) -> ArchiveError:
        return ArchiveError(f"{p}: {_one_line(msg)}")

    if meta.get("kind") != ARCHIVE_KIND:
        raise bad(f"not a dcsim compressed model (kind {_short(meta.get('kind'))})")
    if meta.get("model_format") != MODEL_FORMAT or type(meta.get("model_format")) is not int:
        raise bad(f"unsupported model format {_short(meta.get('model_format'))} (this dcsim reads {MODEL_FORMAT})")
    try:
        # 1. types and ranges of every field, and the arrays against them, before any allocation
        name = _str(meta.get("name"), "name")
        input_shape = _ints(meta.get("input_shape"), "input_shape", (1, _MAX_INPUT_NDIM), 0)
        layers_meta = meta.get("layers")
        if not isinstance(layers_meta, list) or not layers_meta:
            raise ValueError(f"layers = {_short(layers_meta)} is not allowed; use a non-empty list of objects")
        extra = meta.get("meta", {})
        if not isinstance(extra, dict):
            raise ValueError(f"meta = {_short(extra)} is not allowed; use an object")
        for k in ("compression_config", "accelerator_config"):
            if not isinstance(meta.get(k), dict):
                raise ValueError(f"{k} = {_short(meta.get(k))} is not allowed; use an object")
        graph = meta.get("graph")
        if graph is not None:
            if not isinstance(graph, list):
                raise ValueError(f"graph = {_short(graph)} is not allowed; use a list of node objects")
            for j, d in enumerate(graph):
                _check_node_meta(j, d)
        layer_arrays = []
        for i, lm in enumerate(layers_meta):
            _check_layer_meta(i, lm)
            layer_arrays.append(_layer_arrays(i, lm, arrays))

        # 2. build and cross-check
        ccfg = CompressionConfig.from_dict(meta["compression_config"])
        acfg = machine_config_from_dict(meta["accelerator_config"])
        layers = []
        for lm, a in zip(layers_meta, layer_arrays):
            spec = LayerSpec.from_dict(lm)
            bits, rel_bits, n = lm["bits"], lm["rel_bits"], lm["n_entries"]
            cent, idx = a["centroids"], a["indices"]
            out, cols = idx.shape
            if idx.size and (int(idx.max()) >= (1 << bits) or int(idx.min()) < 0):
                raise bad(f"layer {spec.name}: codebook index out of range for {bits}-bit codebook")
            v_code = huffman.HuffmanCode(lengths=a["v_lengths"])
            z_code = huffman.HuffmanCode(lengths=a["z_lengths"])
            v_payload = a["v_payload"].tobytes()
            z_payload = a["z_payload"].tobytes()
            v = huffman.decode(v_payload, lm["v_nbits"], n, v_code)
            z = huffman.decode(z_payload, lm["z_nbits"], n, z_code)
            row_ptr = a["row_ptr"]
            if (row_ptr[0] != 0 or row_ptr[-1] != n or int(row_ptr.max()) > n
                    or np.any(row_ptr[1:] < row_ptr[:-1])):
                raise bad(f"layer {spec.name}: row pointers are inconsistent")
            row_ptr = row_ptr.astype(np.int64)
            if not np.array_equal(decode_form(v, z, row_ptr, out, cols, rel_bits, dtype=idx.dtype), idx):
                raise bad(f"layer {spec.name}: the Huffman-coded storage form does not decode to the indices")
            form = StorageForm(n_rows=out, n_cols=cols, bits=bits, rel_bits=rel_bits,
                               v=np.asarray(v), z=np.asarray(z), row_ptr=row_ptr, v_code=v_code, z_code=z_code,
                               v_payload=v_payload, v_nbits=lm["v_nbits"], z_payload=z_payload,
                               z_nbits=lm["z_nbits"])
            layer = CompressedLayer(spec=spec, bits=bits, centroids=cent, indices=idx, form=form)
            if not np.array_equal(layer.bias, a["bias"]):
                raise bad(f"layer {spec.name}: stored bias differs from centroids[indices]")
            layers.append(layer)
        nodes = None if graph is None else [Node.from_dict(d) for d in graph]
        model = CompressedModel(name=name, input_shape=tuple(input_shape), layers=layers, compression=ccfg,
                                accel=acfg, meta=dict(extra), nodes=nodes)
        model.structure().check()
        return model
    except ArchiveError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, ArithmeticError, ConfigError) as e:
        raise bad(f"malformed model description ({type(e).__name__}: {e})") from None
