"""The numpy fixed-point reference (sim/reference.py) and the benchmark-layer generator (sim/workloads.py)."""
import dataclasses

import numpy as np
import pytest
from hypothesis import given, strategies as st

from arch.config import AcceleratorConfig, Overflow
from arch.fixedpoint import (LayerFormat, accumulate, dequantize_acts, layer_format, one, quantize_acts,
                             quantize_codebook, term, writeback)
from compress.config import CompressionConfig, LayerKind
from network.graph import LayerSpec, Network, init_params
from compress.pipeline import step_encode, step_prune, step_quantize
from sim.reference import NetworkReference, layer_input, model_formats, reference_layer, reference_network
from sim.workloads import EIE_LAYERS, LAYER_NAMES, Workload, _sample_positions, make_workload, parse_layer_names


# ----------------------------------------------------------- the slow reference
def slow_layer(idx, cb, x, fmt: LayerFormat, relu: bool) -> list[int]:
    """The contract as plain Python integers: one row at a time, columns ascending."""
    lo, hi = -(1 << (fmt.acc_bits - 1)), (1 << (fmt.acc_bits - 1)) - 1
    alo, ahi = -(1 << (fmt.act_bits - 1)), (1 << (fmt.act_bits - 1)) - 1
    out = []
    for i in range(len(idx)):
        acc = 0
        for j in range(len(x)):
            acc += (int(x[j]) * int(cb[int(idx[i][j])])) >> fmt.product_shift
            if fmt.overflow is Overflow.SATURATE:
                acc = min(max(acc, lo), hi)
            else:
                acc = (acc - lo) % (1 << fmt.acc_bits) + lo
        r = fmt.writeback_shift
        y = (acc + (1 << (r - 1))) >> r if r > 0 else acc
        if relu:
            y = max(y, 0)
        out.append(min(max(y, alo), ahi))
    return out


@st.composite
def layers(draw):
    """A small layer, a LayerFormat (narrow accumulators, so saturation and wrap happen) and a batch."""
    act_bits = draw(st.sampled_from([6, 8, 12, 16]))
    act_frac = draw(st.integers(0, act_bits - 2))
    acc_bits = draw(st.integers(max(act_bits, 12), 24))
    r = draw(st.integers(0, min(8, acc_bits - 2 - act_frac)))
    s = draw(st.integers(0, 6))
    weight_bits = draw(st.sampled_from([4, 8, 12, 16]))
    overflow = draw(st.sampled_from([Overflow.SATURATE, Overflow.WRAP]))
    acc_frac = act_frac + r
    fmt = LayerFormat(act_bits, act_frac, weight_bits, acc_frac - act_frac + s, acc_bits, acc_frac, overflow, s, r)
    rows, cols, batch = draw(st.integers(1, 8)), draw(st.integers(1, 16)), draw(st.integers(1, 3))
    k = draw(st.integers(2, 16))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    wlo, whi = -(1 << (weight_bits - 1)), (1 << (weight_bits - 1)) - 1
    cb = np.concatenate([[0], rng.choice([wlo, whi, whi // 2, -whi // 3, 1, -1], size=k - 1)
                         if draw(st.booleans()) else rng.integers(wlo, whi + 1, size=k - 1)]).astype(np.int64)
    density = draw(st.sampled_from([0.2, 0.6, 1.0]))
    idx = rng.integers(1, k, size=(rows, cols)) * (rng.random((rows, cols)) < density)
    alo, ahi = -(1 << (act_bits - 1)), (1 << (act_bits - 1)) - 1
    extremes = draw(st.booleans())       # activations at the limits of the range
    if extremes:
        x = rng.choice([alo, ahi, ahi - 1, alo + 1, 0], size=(batch, cols))
    else:
        x = rng.integers(alo, ahi + 1, size=(batch, cols)) * (rng.random((batch, cols)) < 0.7)
    relu = draw(st.booleans())
    return idx, cb, x.astype(np.int64), fmt, relu


@given(layers())
def test_reference_layer_equals_the_slow_loop(case):
    idx, cb, x, fmt, relu = case
    y = reference_layer(idx, cb, x, fmt, relu)
    assert y.dtype == np.int64 and y.shape == (len(x), len(idx))
    for b in range(len(x)):
        assert y[b].tolist() == slow_layer(idx, cb, x[b], fmt, relu)
        assert np.array_equal(reference_layer(idx, cb, x[b], fmt, relu), y[b])     # one vector = batch row


def _narrow_fmt(overflow: Overflow) -> LayerFormat:
    # act 8 bits / 0 frac; weights 8 frac bits; acc 16 bits / 8 frac; s = 0, r = 8
    return LayerFormat(8, 0, 8, 8, 16, 8, overflow, 0, 8)


@pytest.mark.parametrize("overflow, expected", [(Overflow.SATURATE, [64, -65, 127]), (Overflow.WRAP, [126, -127, -4])])
def test_overflow_actually_happens_and_follows_column_order(overflow, expected):
    fmt = _narrow_fmt(overflow)
    cb = np.array([0, 127, -128], np.int64)
    x = np.array([127, 127, 127, 127], np.int64)       # terms: index 1 -> +16129, index 2 -> -16256
    idx = np.array([[1, 1, 1, 2], [2, 2, 2, 1], [1, 1, 1, 1]])
    # saturate: row 0 runs 16129, 32258, 32767 (clamped), 16511 -> (16511 + 128) >> 8 = 64;
    #           row 1 runs -16256, -32512, -32768 (clamped), -16639 -> -65; row 2 stops at 32767 -> 127 (act clamp)
    # wrap:     the sums 32131, -32639 and 64516 - 65536 = -1020 -> 126, -127, -4
    y = reference_layer(idx, cb, x, fmt, relu=False)
    assert y.tolist() == expected == slow_layer(idx, cb, x, fmt, False)
    assert reference_layer(idx, cb, x, fmt, relu=True).tolist() == [max(v, 0) for v in expected]
    rev = idx[:, ::-1].copy()                            # the same terms in the other order
    if overflow is Overflow.SATURATE:
        assert reference_layer(rev, cb, x, fmt, False).tolist() == [126, -127, 127] == slow_layer(rev, cb, x, fmt, False)
    else:
        assert reference_layer(rev, cb, x, fmt, False).tolist() == expected   # wrap-around is order-free


def test_batch_and_single_vector_agree_on_a_larger_layer():
    rng = np.random.default_rng(3)
    cfg = AcceleratorConfig(acc_bits=20, acc_frac_bits=10)
    cent = np.concatenate([[0.0], rng.normal(0, 0.5, 15)]).astype(np.float32)
    fmt = layer_format(cent, cfg)
    cb = quantize_codebook(cent, fmt)
    idx = rng.integers(1, 16, size=(70, 121)) * (rng.random((70, 121)) < 0.3)
    idx[:, 5] = rng.integers(1, 16, size=70)            # a dense column: the whole-array path
    x = layer_input(rng.uniform(-20, 20, (6, 120)) * (rng.random((6, 120)) < 0.5), cfg, bias=True)
    x[:, 7] = 0                                          # a column that is zero for the whole batch
    y = reference_layer(idx, cb, x, fmt, relu=True)
    for b in range(len(x)):
        assert np.array_equal(reference_layer(idx, cb, x[b], fmt, True), y[b])
        assert y[b].tolist() == slow_layer(idx, cb, x[b], fmt, True)
    assert np.all(y >= 0)


def test_reference_layer_rejects_bad_inputs():
    fmt = _narrow_fmt(Overflow.SATURATE)
    cb = np.array([0, 1, 2], np.int64)
    idx = np.array([[1, 2]])
    with pytest.raises(ValueError, match="shape"):
        reference_layer(idx, cb, np.array([1, 2, 3]), fmt, False)
    with pytest.raises(ValueError, match="integers"):
        reference_layer(idx, cb, np.array([1.0, 2.0]), fmt, False)
    with pytest.raises(ValueError, match="codebook has 3"):
        reference_layer(np.array([[1, 3]]), cb, np.array([1, 2]), fmt, False)
    with pytest.raises(ValueError, match="8-bit range"):
        reference_layer(idx, cb, np.array([1, 200]), fmt, False)


def test_layer_input_appends_the_bias_one():
    cfg = AcceleratorConfig()
    q = layer_input(np.array([[0.5, -1.0], [1.0, 0.0]]), cfg, bias=True)
    assert q.dtype == np.int64 and q.tolist() == [[128, -256, 256], [256, 0, 256]]
    assert layer_input(np.array([0.25]), cfg, bias=False).tolist() == [64]
    assert layer_input(np.array([0.25]), cfg, bias=True).tolist() == [64, one(cfg)]
    with pytest.raises(ValueError, match="NaN"):
        layer_input(np.array([0.25, np.nan]), cfg, bias=True)


# ------------------------------------------------------------- whole networks
def _tiny_model(seed=0, cfg=None):
    specs = [LayerSpec("fc1", LayerKind.FC, (40, 64), relu=True), LayerSpec("fc2", LayerKind.FC, (10, 40), relu=False)]
    net = init_params(Network("tiny", (64,), specs), seed)
    rng = np.random.default_rng(seed)
    for s in specs:                                       # nonzero biases, so the bias column matters
        net.params[s.name + "_bias"] = rng.normal(0, 0.1, s.n_out).astype(np.float32)
    ccfg = CompressionConfig(density=0.5, fc_bits=5, retrain_epochs=0, finetune_epochs=0)
    step_prune(net, ccfg, None, progress=False, log=lambda m: None)
    quant = step_quantize(net, ccfg, None, progress=False, log=lambda m: None)
    return step_encode(net, quant, ccfg, cfg or AcceleratorConfig(n_pe=4))


def test_reference_network_matches_the_float_model():
    model = _tiny_model()
    cfg = AcceleratorConfig()
    x = np.random.default_rng(1).random((400, 64))
    ref = reference_network(model, x, cfg)
    assert isinstance(ref, NetworkReference)
    assert [o.shape for o in ref.outputs] == [(400, 40), (400, 10)]
    assert all(o.dtype == np.int64 for o in ref.outputs)
    assert ref.formats == model_formats(model, cfg)
    assert np.array_equal(ref.predictions, np.argmax(ref.outputs[-1], axis=1))
    assert np.array_equal(ref.logits, dequantize_acts(ref.outputs[-1], ref.formats[-1]))
    assert np.all(ref.outputs[0] >= 0)                  # ReLU on fc1
    net = model.to_network()
    float_logits = net.forward(x.astype(np.float32))
    assert np.max(np.abs(ref.logits - float_logits)) < 0.1
    agree = np.mean(ref.predictions == float_logits.argmax(1))
    assert agree >= 0.95, agree
    # layer by layer: each output is the next layer's input, plus the bias column
    for k, l in enumerate(model.layers):
        fmt = ref.formats[k]
        inp = ref.layer_input(k)
        assert np.array_equal(inp[:, -1], np.full(len(x), one(fmt)))
        assert np.array_equal(inp[:, :-1], quantize_acts(x, cfg) if k == 0 else ref.outputs[k - 1])
        y = reference_layer(l.indices, quantize_codebook(l.centroids, fmt), inp, fmt, l.spec.relu)
        assert np.array_equal(y, ref.outputs[k])
    # one image at a time gives the same
    one_ref = reference_network(model, x[3], cfg)
    assert np.array_equal(one_ref.outputs[-1][0], ref.outputs[-1][3])


def test_reference_network_rejects_bad_inputs_and_a_conv_layer_without_an_image_shape():
    model = _tiny_model()
    with pytest.raises(ValueError, match="takes 64"):
        reference_network(model, np.zeros((2, 63)), AcceleratorConfig())
    with pytest.raises(ValueError, match="NaN"):
        reference_network(model, np.full((2, 64), np.nan), AcceleratorConfig())
    l0 = model.layers[0]
    model.layers[0] = dataclasses.replace(l0, spec=LayerSpec("conv1", LayerKind.CONV, (40, 1, 8, 8), relu=True))
    with pytest.raises(ValueError, match=r"layer conv1: a conv layer needs \(batch, channels, height, width\)"):
        reference_network(model, np.zeros((2, 64)), AcceleratorConfig())


# ------------------------------------------------------------------- workloads
@pytest.fixture(scope="module")
def workloads():
    cfg = AcceleratorConfig()
    return {n: make_workload(n, cfg, seed=0) for n in LAYER_NAMES}


def test_all_nine_layers_have_the_papers_figures(workloads):
    cfg = AcceleratorConfig()
    assert list(EIE_LAYERS) == ["alex-6", "alex-7", "alex-8", "vgg-6", "vgg-7", "vgg-8", "nt-we", "nt-wd", "nt-lstm"]
    assert (EIE_LAYERS["vgg-6"].n_in, EIE_LAYERS["vgg-6"].n_out) == (25088, 4096)
    assert EIE_LAYERS["nt-lstm"].paper_name == "NT-LSTM"
    for n, w in workloads.items():
        s = EIE_LAYERS[n]
        assert isinstance(w, Workload) and w.name == n and w.seed == 0 and w.relu is False
        assert w.indices.shape == (s.n_out, s.n_in) and w.indices.dtype == np.uint8
        assert np.count_nonzero(w.indices) == round(s.weight_density * s.n_in * s.n_out)
        assert int(w.indices.max()) < 16
        assert w.centroids.dtype == np.float32 and w.centroids.shape == (16,) and w.centroids[0] == 0
        assert np.all(w.centroids[1:] != 0)
        assert w.x.shape == (s.n_in,) and w.x.dtype == np.float64
        n_act = round(s.act_density * s.n_in)
        assert np.count_nonzero(w.x) == n_act
        assert np.all((w.x == 0) | ((w.x > 0) & (w.x <= 4.0)))
        q = quantize_acts(w.x, cfg)
        assert np.count_nonzero(q) == n_act and np.array_equal(dequantize_acts(q, cfg), w.x)   # on the grid
        assert (w.weight_density, w.act_density) == (s.weight_density, s.act_density)
        layer_format(w.centroids, cfg)                   # representable on the default machine


def test_workload_weights_are_spread_uniformly(workloads):
    w = workloads["alex-7"]
    per_row = np.count_nonzero(w.indices, axis=1)
    per_col = np.count_nonzero(w.indices, axis=0)
    p = 0.09
    for counts, n in ((per_row, 4096), (per_col, 4096)):
        assert abs(counts.mean() - p * n) < 1e-6 + p * n * 0.01
        assert 0.8 < counts.std() / np.sqrt(n * p * (1 - p)) < 1.2    # binomial spread
    used = np.bincount(w.indices[w.indices > 0], minlength=16)
    assert np.all(used[1:] > 0)                                      # every shared value is used


def test_workload_matches_the_contract_column_by_column(workloads):
    cfg = AcceleratorConfig()
    w = workloads["nt-lstm"]
    fmt = layer_format(w.centroids, cfg)
    cb = quantize_codebook(w.centroids, fmt)
    x = quantize_acts(w.x, cfg)
    W = cb[w.indices]
    acc = np.zeros(w.n_out, dtype=np.int64)
    for j in range(w.n_in):                              # the contract, literally
        acc = accumulate(acc, term(x[j], W[:, j], fmt), fmt)
    assert np.array_equal(reference_layer(w.indices, cb, x, fmt, w.relu), writeback(acc, fmt, w.relu))


def test_workloads_are_deterministic_by_seed():
    cfg = AcceleratorConfig()
    a, b, c = (make_workload("nt-lstm", cfg, seed=s) for s in (5, 5, 6))
    assert np.array_equal(a.indices, b.indices) and np.array_equal(a.centroids, b.centroids)
    assert np.array_equal(a.x, b.x)
    assert not np.array_equal(a.indices, c.indices) and not np.array_equal(a.x, c.x)
    # the name is part of the seed: two layers of one shape differ
    d, e = make_workload("alex-8", cfg), make_workload("vgg-8", cfg)
    assert d.indices.shape == e.indices.shape and not np.array_equal(d.x != 0, e.x != 0)


def test_workload_follows_the_machine_widths():
    cfg = AcceleratorConfig(index_bits=5, act_bits=8, act_frac_bits=6, acc_bits=24, acc_frac_bits=12)
    w = make_workload("NT-We", cfg, seed=1)
    assert w.name == "nt-we" and w.centroids.shape == (32,) and int(w.indices.max()) == 31
    top = 127 / 64                                        # 4.0 does not fit Q2.6: the largest activation
    assert w.x.max() <= top and np.count_nonzero(quantize_acts(w.x, cfg)) == 4096


def test_unknown_workload_and_layer_names():
    with pytest.raises(ValueError, match="alex-6, alex-7, alex-8, vgg-6, vgg-7, vgg-8, nt-we, nt-wd, nt-lstm"):
        make_workload("alex-9", AcceleratorConfig())
    assert parse_layer_names("all") == list(LAYER_NAMES)
    assert parse_layer_names(" alex-6, VGG-8 ,alex-6") == ["alex-6", "vgg-8"]
    assert parse_layer_names("nt-lstm") == ["nt-lstm"]
    for bad in ("", " , ", "alex-6,foo", "all,alex-6"):
        with pytest.raises(ValueError):
            parse_layer_names(bad)
    with pytest.raises(ValueError, match="choose from"):
        parse_layer_names("foo")


def test_sample_positions_is_uniform_and_distinct():
    rng = np.random.default_rng(0)
    hits = np.zeros(200, dtype=np.int64)
    for _ in range(2000):
        p = _sample_positions(rng, 200, 7)              # the sparse (draw-and-deduplicate) path
        assert len(p) == 7 and len(np.unique(p)) == 7 and np.all(np.diff(p) > 0)
        hits[p] += 1
    expected = 2000 * 7 / 200
    assert np.all(np.abs(hits - expected) < 6 * np.sqrt(expected))
    chi2 = float(np.sum((hits - expected) ** 2 / expected))
    assert chi2 < 300                                    # 199 degrees of freedom
