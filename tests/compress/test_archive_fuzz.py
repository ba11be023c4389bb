"""Hostile ``.dcz`` archives with a valid checksum: the loader ends in ArchiveError or succeeds, nothing else.

The mutations go past the SHA-256 trailer (the file is resealed), so they reach the header and
array validation of ``compress/archive.py`` and ``compress/model.py``: structured header
mutations (any field of the model description or of the array table replaced by Infinity, NaN,
huge or negative ints, strings, lists, objects, deep nesting; keys deleted), replaced arrays,
and flipped bytes in the data section. ``HYPOTHESIS_PROFILE=slow`` runs over 100,000 cases.
"""
from __future__ import annotations

import copy
import hashlib
import json
import math
import os
import struct
import subprocess
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from arch.config import AcceleratorConfig
from compress.archive import MAGIC, ArchiveError, decode_container, encode_container
from compress.config import CompressionConfig
from compress.model import CompressedLayer, CompressedModel, from_bytes, load, to_bytes
from compress.storage import encode_form
from network.graph import LayerKind, LayerSpec, Node

SLOW = os.environ.get("HYPOTHESIS_PROFILE", "default") == "slow"
NAME = "fuzz.dcz"
FIXED = 28


def _layer(spec: LayerSpec, idx: np.ndarray, bits: int, rel_bits: int, seed: int) -> CompressedLayer:
    rng = np.random.default_rng(seed)
    cent = np.concatenate([[0.0], rng.standard_normal((1 << bits) - 1)]).astype(np.float32)
    return CompressedLayer(spec=spec, bits=bits, centroids=cent, indices=idx, form=encode_form(idx, bits, rel_bits))


def tiny_model(long_codes: bool = False) -> CompressedModel:
    """Two layers (a strided conv and an fc), an explicit graph; ``long_codes``: Huffman words > 8 bits."""
    rng = np.random.default_rng(1)
    conv = LayerSpec("c1", LayerKind.CONV, (2, 1, 2, 2), relu=True, stride=(2, 2), padding=(1, 0, 1, 0))
    fc = LayerSpec("f1", LayerKind.FC, (3, 8), relu=False)
    if long_codes:
        fc = LayerSpec("f1", LayerKind.FC, (40, 100), relu=False)
    n_fc = fc.shape[0] * (fc.fan_in + 1)
    if long_codes:  # a skewed distribution over 255 values: the rare ones get codes of 12+ bits
        v = np.minimum(rng.geometric(0.08, size=n_fc), 255)
        v = np.where(rng.random(n_fc) < 0.05, rng.integers(1, 256, size=n_fc), v)
        idx_fc, bits_fc = (v * (rng.random(n_fc) < 0.7)).reshape(fc.shape[0], -1).astype(np.int64), 8
    else:
        idx_fc, bits_fc = (rng.integers(1, 8, size=n_fc) * (rng.random(n_fc) < 0.5)).reshape(3, 9), 3
    idx_c = rng.integers(0, 4, size=(2, 5))
    layers = [_layer(conv, idx_c, 2, 3, 2), _layer(fc, idx_fc.astype(np.int64), bits_fc, 4, 3)]
    nodes = [Node("c1", "conv", ("input",)), Node("flat", "flatten", ("c1",), {"axis": 1}),
             Node("f1", "fc", ("flat",))]
    return CompressedModel(name="fuzz", input_shape=(1, 4, 4), layers=layers,
                           compression=CompressionConfig(fc_bits=3, retrain_epochs=0, finetune_epochs=0),
                           accel=AcceleratorConfig(n_pe=2), meta={"note": "fuzz", "err": [1.5, None]}, nodes=nodes)


MODEL = tiny_model()
RAW = to_bytes(MODEL, NAME)
META, ARRAYS = decode_container(RAW, NAME)
HEADER = json.loads(RAW[FIXED:FIXED + struct.unpack_from("<Q", RAW, 12)[0]])
DATA_START = (FIXED + struct.unpack_from("<Q", RAW, 12)[0] + 7) // 8 * 8


def seal(header: dict | bytes, data: bytes) -> bytes:
    """A correctly checksummed container around ``header`` (a dict, or raw JSON bytes) and ``data``."""
    h = header if isinstance(header, bytes) else json.dumps(header).encode()
    start = (FIXED + len(h) + 7) // 8 * 8
    data = data + b"\0" * (-len(data) % 8)
    body = struct.pack("<8sIQQ", MAGIC, 1, len(h), len(data)) + h + b"\0" * (start - FIXED - len(h)) + data
    return body + hashlib.sha256(body).digest()


DATA = RAW[DATA_START:-32]


def load_ok_or_archive_error(raw: bytes):
    """Load ``raw``: a model or ArchiveError (one line, naming the file); anything else fails the test."""
    try:
        return from_bytes(raw, NAME)
    except ArchiveError as e:
        msg = str(e)
        assert msg.startswith(NAME + ": ") and "\n" not in msg and len(msg.splitlines()) == 1, msg
        return None


def test_tiny_model_round_trips():
    assert from_bytes(RAW, NAME) == MODEL
    assert seal(HEADER, DATA) == RAW
    assert "graph" in META and "stride" in META["layers"][0]


# -- strategies ------------------------------------------------------------------------------------------------

DEEP = "\x00DEEP\x00"  # placeholder replaced by raw nested JSON text after json.dumps

HOSTILE = [math.inf, -math.inf, math.nan, 10**12, 10**18, 2**31, 2**33, 2**63, 2**64, 10**30, -(10**30), -1, 0,
           1, 2, 17, 64, True, False, None, 1.5, 1e300, -0.0, "", "12", "fc", "x\ny", [], [0], [1], [-1], [[]],
           [math.inf], [10**30, 0], [1] * 70, [0, 10**30], [2, 2, 2, 2, 2], {}, {"a": 1}, {"name": []},
           "input", ["input"], [{}], DEEP]


def _paths(obj, prefix=()):
    """Every (path, value) inside ``obj`` (dict keys and list indices), the root excluded."""
    out = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.append((prefix + (k,), v))
            out.extend(_paths(v, prefix + (k,)))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out.append((prefix + (i,), v))
            out.extend(_paths(v, prefix + (i,)))
    return out


HEADER_PATHS = [p for p, _ in _paths(HEADER)]


def _get_parent(obj, path):
    for k in path[:-1]:
        obj = obj[k]
    return obj


def _near(v):
    """Values close to a valid int: off by one, doubled, negated, as float / string."""
    if type(v) is int:
        return [v - 1, v + 1, 2 * v, -v, v * 1000, float(v), str(v), v + 2**32]
    return []


def _hostile(draw):
    """A fresh copy of a value of :data:`HOSTILE`: a later mutation may write into a container it
    drew, which must neither change HOSTILE for the next examples nor put a container inside
    itself (the same ``{}`` drawn twice: json.dumps then fails with a circular reference)."""
    return copy.deepcopy(draw(st.sampled_from(HOSTILE)))


@st.composite
def header_mutations(draw) -> bytes:
    """The resealed file after 1-3 structured mutations of its JSON header (meta and array table)."""
    header = json.loads(json.dumps(HEADER))
    depth = draw(st.sampled_from([2, 99, 100, 101, 1000, 100_000]))
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(HEADER_PATHS))
        try:
            parent = _get_parent(header, path)
            old = parent[path[-1]]
        except (KeyError, IndexError, TypeError):
            continue
        if not isinstance(parent, (dict, list)):  # an earlier mutation put a string where a container was
            continue
        op = draw(st.sampled_from(["replace", "replace", "near", "delete", "wrap", "add_key"]))
        if op == "replace":
            parent[path[-1]] = _hostile(draw)
        elif op == "near" and _near(old):
            parent[path[-1]] = draw(st.sampled_from(_near(old)))
        elif op == "delete":
            del parent[path[-1]]
        elif op == "wrap":
            parent[path[-1]] = draw(st.sampled_from([[old], {"v": old}, [old, old]]))
        elif op == "add_key" and isinstance(parent, dict):
            parent[draw(st.sampled_from(["extra", "graph", "groups", "stride", "meta"]))] = _hostile(draw)
    text = json.dumps(header)
    nested = "[" * depth + "]" * depth if draw(st.booleans()) else "{\"a\":" * depth + "1" + "}" * depth
    return seal(text.replace(json.dumps(DEEP), nested).encode(), DATA)


ARRAY_NAMES = sorted(ARRAYS)


@st.composite
def array_mutations(draw) -> bytes:
    """The file rebuilt with one array replaced (other dtype, shape, values) or removed, or extra arrays."""
    arrays = dict(ARRAYS)
    meta = json.loads(json.dumps(META))
    name = draw(st.sampled_from(ARRAY_NAMES))
    a = arrays[name]
    op = draw(st.sampled_from(["values", "dtype", "shape", "drop", "grow", "shrink", "empty"]))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    if op == "values" and a.size:
        b = a.copy()
        flat = b.reshape(-1)
        k = rng.integers(0, flat.size)
        choices = [0, 1, -1, 255, 2**31 - 1, -(2**31), 2**62, np.iinfo(np.int64).max, np.iinfo(np.int64).min]
        val = choices[rng.integers(0, len(choices))]
        if b.dtype.kind == "f":
            flat[k] = [np.inf, np.nan, -0.0, 1e38, 0.0][rng.integers(0, 5)]
        else:
            flat[k] = np.array(val).astype(b.dtype)  # wraps for small dtypes: fine, any value is fair
        arrays[name] = b
    elif op == "dtype":
        arrays[name] = a.astype(draw(st.sampled_from(["<i8", "<u8", ">i8", "<f4", "<f8", "|u1", "|i1", "|b1", "<c8"])))
    elif op == "shape":
        arrays[name] = a.reshape(-1)[:, None] if a.size else a.reshape(0, 1)
    elif op == "drop":
        del arrays[name]
    elif op == "grow":
        arrays[name] = np.concatenate([a.reshape(-1), a.reshape(-1)[:1] if a.size else np.zeros(1, a.dtype)])
    elif op == "shrink":
        arrays[name] = a.reshape(-1)[:-1]
    else:
        arrays[name] = np.zeros((0,) * draw(st.integers(1, 3)), a.dtype)
    if draw(st.booleans()):  # keep the description consistent with a payload size change
        for lm in meta["layers"]:
            for s in ("v", "z"):
                if rng.random() < 0.3:
                    lm[s + "_nbits"] = int(rng.integers(0, 8 * 64))
            if rng.random() < 0.3:
                lm["n_entries"] = int(rng.integers(0, 64))
    return encode_container(meta, arrays, NAME)


@st.composite
def data_mutations(draw) -> bytes:
    """The data section with 1-8 bytes changed (XOR with a nonzero mask), resealed."""
    data = bytearray(DATA)
    for _ in range(draw(st.integers(1, 8))):
        i = draw(st.integers(0, len(data) - 1))
        data[i] ^= draw(st.integers(1, 255))
    return seal(HEADER, bytes(data))


def _n(default: int, slow: int) -> int:
    return slow if SLOW else default


FUZZ = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                                  HealthCheck.filter_too_much])


@settings(max_examples=_n(1500, 50_000), **FUZZ)
@given(raw=header_mutations())
def test_header_mutations_raise_archive_error_only(raw):
    load_ok_or_archive_error(raw)


@settings(max_examples=_n(800, 30_000), **FUZZ)
@given(raw=array_mutations())
def test_array_mutations_raise_archive_error_only(raw):
    load_ok_or_archive_error(raw)


@settings(max_examples=_n(700, 25_000), **FUZZ)
@given(raw=data_mutations())
def test_data_mutations_raise_archive_error_only(raw):
    load_ok_or_archive_error(raw)


# -- the audit's cases, one by one, with a bound on the memory the failed load may take ----------------------


def _with(path, value) -> dict:
    h = json.loads(json.dumps(HEADER))
    parent = _get_parent(h, path)
    parent[path[-1]] = value
    return h


L1 = ("meta", "layers", 1)
AUDIT = [
    (L1 + ("shape", 0), math.inf), (L1 + ("n_entries",), math.inf), (L1 + ("bits",), math.inf),
    (L1 + ("pool",), math.inf), (("meta", "input_shape", 0), math.inf), (L1 + ("v_nbits",), math.inf),
    (L1 + ("n_entries",), 10**12), (L1 + ("bits",), 10**18), (L1 + ("bits",), 2**33), (L1 + ("shape",), []),
    (L1 + ("shape",), [1] * 70), (L1 + ("shape",), [10**30, 0]), (L1 + ("bits",), True), (L1 + ("bits",), 3.0),
    (L1 + ("bits",), "3"), (L1 + ("bits",), 0), (L1 + ("bits",), 17), (L1 + ("rel_bits",), 2**40),
    (L1 + ("z_nbits",), 10**15), (L1 + ("n_entries",), -1), (("meta", "layers", 0, "stride"), [math.inf, 1]),
    (("meta", "layers", 0, "padding"), [-1, 0, 0, 0]), (("meta", "layers", 0, "groups"), 10**30),
    (("meta", "layers", 0, "dilation"), "2"), (("meta", "graph"), [{"name": "x"}]),
    (("meta", "graph", 0, "inputs"), [[]]), (("meta", "graph", 0, "attrs"), []), (("meta", "graph"), {"a": 1}),
    (("meta", "name"), ["x"]), (("meta", "meta"), "x"), (("meta", "compression_config"), []),
    (("meta", "accelerator_config", "n_pe"), math.nan), (("meta", "compression_config", "density"), math.inf),
    (("arrays", 0, "shape"), [10**30, 0]), (("arrays", 0, "shape"), [1] * 70), (("arrays", 0, "nbytes"), math.inf),
    (("arrays", 0, "offset"), 2**64), (("arrays", 0, "dtype"), "(1000000000,)f8"),
]


@pytest.mark.parametrize("path, value", AUDIT, ids=[f"{'.'.join(map(str, p))}={str(v)[:20]}" for p, v in AUDIT])
def test_audit_cases_fail_cleanly_and_cheaply(path, value):
    raw = seal(_with(path, value), DATA)
    tracemalloc.start()
    try:
        with pytest.raises(ArchiveError) as ei:
            from_bytes(raw, NAME)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    msg = str(ei.value)
    assert msg.startswith(NAME + ": ") and len(msg.splitlines()) == 1, msg
    assert peak < 20 * len(raw) + (1 << 20), f"{peak} bytes allocated for a {len(raw)}-byte file"


@pytest.mark.parametrize("depth", [101, 1000, 100_000])
def test_deeply_nested_header(depth):
    h = json.dumps(_with(("meta", "meta"), DEEP)).replace(json.dumps(DEEP), "[" * depth + "]" * depth).encode()
    with pytest.raises(ArchiveError, match="nested more than"):
        from_bytes(seal(h, DATA), NAME)


def test_moderate_nesting_still_loads():
    h = json.dumps(_with(("meta", "meta"), {"deep": DEEP})).replace(json.dumps(DEEP), "[" * 90 + "]" * 90)
    x, levels = from_bytes(seal(h.encode(), DATA), NAME).meta["deep"], 0
    while x:
        x, levels = x[0], levels + 1
    assert levels == 89


def test_writer_refuses_what_the_reader_refuses():
    deep: list = []
    for _ in range(150):
        deep = [deep]
    with pytest.raises(ValueError, match="nested"):
        encode_container({"x": deep}, {})


# -- the decoder with and without the JIT -------------------------------------------------------------------


def test_long_code_archive_loads_without_jit(tmp_path):
    """NUMBA_DISABLE_JIT=1 (the pure-Python kernel) loads an archive whose Huffman words exceed 8 bits."""
    m = tiny_model(long_codes=True)
    assert max(l.form.v_code.max_len for l in m.layers) > 8
    p = tmp_path / "long.dcz"
    p.write_bytes(to_bytes(m, p))
    code = (f"import sys; sys.path.insert(0, {str(Path(__file__).resolve().parents[2])!r})\n"
            f"from compress.model import load\nm = load({str(p)!r})\n"
            "print(sum(l.form.n_entries for l in m.layers))")
    env = {**os.environ, "NUMBA_DISABLE_JIT": "1"}
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert int(r.stdout.strip()) == sum(l.form.n_entries for l in m.layers)
    assert load(p) == m
