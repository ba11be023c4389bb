"""CompressedModel: the compressed network in memory, and its ``.dcz`` archive.

Per layer the archive holds (docs/design.md, "Formats"): float32 centroids and the
codebook indices of ``[W | b]`` (the dequantized weights are
``centroids[idx]`` exactly), Deep Compression's Huffman-coded storage form,
the bias, the ReLU flag, and both configs. Loading decodes the Huffman form
and checks it against the indices, so a file that loads is self-consistent.
"""
from __future__ import annotations

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
from .archive import ArchiveError, decode_container, encode_container, read_container
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

    def to_network(self) -> Network:
        """The dequantized float network (for evaluation)."""
        net = Network(self.name, tuple(self.input_shape), [l.spec for l in self.layers],
                      nodes=None if self.nodes is None else list(self.nodes))
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


def _from_container(meta: dict, arrays: dict, p) -> CompressedModel:
    def bad(msg: str) -> ArchiveError:
        return ArchiveError(f"{p}: {msg}")

    if meta.get("kind") != ARCHIVE_KIND:
        raise bad(f"not a dcsim compressed model (kind {meta.get('kind')!r})")
    if meta.get("model_format") != MODEL_FORMAT:
        raise bad(f"unsupported model format {meta.get('model_format')!r} (this dcsim reads {MODEL_FORMAT})")
    try:
        ccfg = CompressionConfig.from_dict(meta["compression_config"])
        acfg = machine_config_from_dict(meta["accelerator_config"])
        layers = []
        for i, lm in enumerate(meta["layers"]):
            pfx = f"L{i}."
            spec = LayerSpec.from_dict(lm)
            bits, rel_bits, n = int(lm["bits"]), int(lm["rel_bits"]), int(lm["n_entries"])
            cent = arrays[pfx + "centroids"]
            idx = arrays[pfx + "indices"]
            out = spec.shape[0]
            fan_in = int(np.prod(spec.shape[1:]))
            if idx.shape != (out, fan_in + 1) or cent.shape != (1 << bits,):
                raise bad(f"layer {spec.name}: array shapes do not match the layer description")
            if idx.size and (int(idx.max()) >= (1 << bits) or int(idx.min()) < 0):
                raise bad(f"layer {spec.name}: codebook index out of range for {bits}-bit codebook")
            v_code = huffman.HuffmanCode(lengths=arrays[pfx + "v_lengths"])
            z_code = huffman.HuffmanCode(lengths=arrays[pfx + "z_lengths"])
            v_payload = arrays[pfx + "v_payload"].tobytes()
            z_payload = arrays[pfx + "z_payload"].tobytes()
            v = huffman.decode(v_payload, int(lm["v_nbits"]), n, v_code)
            z = huffman.decode(z_payload, int(lm["z_nbits"]), n, z_code)
            row_ptr = arrays[pfx + "row_ptr"]
            if row_ptr.shape != (out + 1,) or row_ptr[0] != 0 or row_ptr[-1] != n or np.any(np.diff(row_ptr) < 0):
                raise bad(f"layer {spec.name}: row pointers are inconsistent")
            if not np.array_equal(decode_form(v, z, row_ptr, out, fan_in + 1, rel_bits), idx):
                raise bad(f"layer {spec.name}: the Huffman-coded storage form does not decode to the indices")
            form = StorageForm(n_rows=out, n_cols=fan_in + 1, bits=bits, rel_bits=rel_bits,
                               v=np.asarray(v), z=np.asarray(z), row_ptr=row_ptr, v_code=v_code, z_code=z_code,
                               v_payload=v_payload, v_nbits=int(lm["v_nbits"]), z_payload=z_payload,
                               z_nbits=int(lm["z_nbits"]))
            layer = CompressedLayer(spec=spec, bits=bits, centroids=cent, indices=idx, form=form)
            if not np.array_equal(layer.bias, arrays[pfx + "bias"]):
                raise bad(f"layer {spec.name}: stored bias differs from centroids[indices]")
            layers.append(layer)
        nodes = None if meta.get("graph") is None else [Node.from_dict(d) for d in meta["graph"]]
        model = CompressedModel(name=str(meta["name"]), input_shape=tuple(int(s) for s in meta["input_shape"]),
                                layers=layers, compression=ccfg, accel=acfg, meta=dict(meta.get("meta", {})),
                                nodes=nodes)
        model.to_network().check()
        return model
    except ArchiveError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, ConfigError) as e:
        raise bad(f"malformed model description ({type(e).__name__}: {e})") from None
