"""Hand-computed cases of the arithmetic contract (arch/fixedpoint.py)."""
import math

import numpy as np
import pytest

from arch.config import AcceleratorConfig, Overflow
from arch.fixedpoint import (FixedPointError, LayerFormat, accumulate, dequantize_acts, layer_format, one,
                             quantize_acts, quantize_codebook, term, weight_frac_bits, writeback)

CFG = AcceleratorConfig()  # act 16 bits / 8 frac, weight 16 bits, acc 32 bits / 16 frac, saturate


def fmt_with(s: int = 2, r: int = 8, acc_bits: int = 32, overflow=Overflow.SATURATE, act_bits: int = 16,
             act_frac: int = 8) -> LayerFormat:
    """A LayerFormat with the given product and write-back shifts (self-consistent fields)."""
    acc_frac = act_frac + r
    fw = acc_frac - act_frac + s
    return LayerFormat(act_bits, act_frac, 16, fw, acc_bits, acc_frac, overflow, s, r)


# ------------------------------------------------------------------- activations
@pytest.mark.parametrize("x, q", [
    (0.0, 0), (1.0, 256), (0.5 / 256, 1), (0.3 / 256, 0), (0.7 / 256, 1), (1.5 / 256, 2),
    (-0.5 / 256, 0),          # -0.5 LSB rounds half up, to 0
    (-1.5 / 256, -1), (-2.5 / 256, -2), (-0.7 / 256, -1), (-1.0, -256),
    (127.99609375, 32767), (128.0, 32767), (1e9, 32767),        # clamp high
    (-128.0, -32768), (-200.0, -32768), (-1e9, -32768),         # clamp low
])
def test_quantize_acts_rounds_half_up_and_clamps(x, q):
    assert quantize_acts(np.array([x]), CFG).tolist() == [q]
    assert quantize_acts(np.array([x]), CFG).dtype == np.int64


def test_dequantize_acts_and_bias_one():
    assert one(CFG) == 256
    assert quantize_acts(np.array([1.0]), CFG)[0] == one(CFG)
    assert one(AcceleratorConfig(act_frac_bits=0, acc_frac_bits=8)) == 1
    assert one(AcceleratorConfig(act_bits=8, act_frac_bits=6, acc_bits=16, acc_frac_bits=12)) == 64
    assert dequantize_acts(np.array([256, -384, 1]), CFG).tolist() == [1.0, -1.5, 1 / 256]
    fmt = layer_format(np.array([0.0, 0.25], np.float32), CFG)
    assert one(fmt) == 256


# ------------------------------------------------------------------------- term
def test_term_floors_negative_products():
    f = fmt_with(s=2)
    assert term(3, 5, f) == 3            # 15 / 4 = 3.75 -> 3
    assert term(3, -5, f) == -4          # -3.75 -> floor -4, not truncation to -3
    assert term(-3, 5, f) == -4
    assert term(-3, -5, f) == 3
    assert term(-1, 1, f) == -1          # -0.25 -> -1
    assert term(4, -1, f) == -1          # exact: -4 / 4
    assert term(0, -7, f) == 0
    assert term(np.array([-8, -7, 7, 8]), 1, f).tolist() == [-2, -2, 1, 2]
    assert term(7, 3, fmt_with(s=0)) == 21
    big = term(np.int64(-32768), np.int64(-32768), fmt_with(s=0))   # largest product magnitude, 16 x 16 bits
    assert big == 1 << 30


# ------------------------------------------------------------------ accumulator
def test_accumulate_saturates_at_the_boundary():
    f = fmt_with(acc_bits=32, overflow=Overflow.SATURATE)
    hi, lo = 2**31 - 1, -2**31
    assert accumulate(np.array([hi - 10]), np.array([10]), f).tolist() == [hi]      # exactly the max: kept
    assert accumulate(np.array([hi - 10]), np.array([11]), f).tolist() == [hi]
    assert accumulate(np.array([hi - 10]), np.array([20]), f).tolist() == [hi]
    assert accumulate(np.array([lo + 5]), np.array([-5]), f).tolist() == [lo]
    assert accumulate(np.array([lo + 5]), np.array([-10]), f).tolist() == [lo]
    assert accumulate(np.array([hi]), np.array([-1]), f).tolist() == [hi - 1]


def test_accumulate_wraps_twos_complement():
    f = fmt_with(acc_bits=32, overflow=Overflow.WRAP)
    hi, lo = 2**31 - 1, -2**31
    assert accumulate(np.array([hi - 10]), np.array([10]), f).tolist() == [hi]
    assert accumulate(np.array([hi - 10]), np.array([11]), f).tolist() == [lo]
    assert accumulate(np.array([hi - 10]), np.array([20]), f).tolist() == [lo + 9]
    assert accumulate(np.array([lo + 5]), np.array([-10]), f).tolist() == [hi - 4]
    f16 = fmt_with(acc_bits=16, r=4, overflow=Overflow.WRAP, act_bits=12, act_frac=4)
    assert accumulate(np.array([30000]), np.array([30000]), f16).tolist() == [60000 - 65536]
    assert accumulate(np.array([0]), np.array([-32769]), f16).tolist() == [32767]


def test_saturation_order_matters():
    # the same terms in another order give another result: hence "column order" in the contract
    f = fmt_with(acc_bits=16, r=4, act_bits=12, act_frac=4)
    a = np.array([0])
    for t in (30000, 10000, -10000):
        a = accumulate(a, np.array([t]), f)
    b = np.array([0])
    for t in (-10000, 30000, 10000):
        b = accumulate(b, np.array([t]), f)
    assert a.tolist() == [22767] and b.tolist() == [30000]


# ------------------------------------------------------------------- write-back
@pytest.mark.parametrize("acc, y", [
    (0, 0), (256, 1), (128, 1), (127, 0), (383, 1), (384, 2),       # r = 8: 0.5 LSB rounds up
    (-128, 0), (-129, -1), (-384, -1), (-385, -2), (-256, -1),      # negative: half up, towards +inf
    (2**31 - 1, 32767), (-2**31, -32768),                            # clamp to 16 bits
    (32767 * 256, 32767), (32767 * 256 + 127, 32767), (32767 * 256 + 128, 32767),
    (-32768 * 256, -32768), (-32768 * 256 - 129, -32768),
])
def test_writeback_rounds_half_up_and_clamps(acc, y):
    f = fmt_with(r=8)
    assert writeback(np.array([acc]), f, relu=False).tolist() == [y]
    assert writeback(np.array([acc]), f, relu=True).tolist() == [max(y, 0)]


def test_writeback_without_shift_and_relu():
    f = fmt_with(r=0)
    assert writeback(np.array([5, -5, 40000, -40000]), f, relu=False).tolist() == [5, -5, 32767, -32768]
    assert writeback(np.array([5, -5, 40000, -40000]), f, relu=True).tolist() == [5, 0, 32767, 0]
    f1 = fmt_with(r=1)
    assert writeback(np.array([1, -1, 3, -3]), f1, relu=False).tolist() == [1, 0, 2, -1]


# ------------------------------------------------------------------- codebooks
def _fits(c, f, bits):
    q = np.floor(np.asarray(c, np.float64) * 2.0**f + 0.5)
    return q.min() >= -(1 << (bits - 1)) and q.max() <= (1 << (bits - 1)) - 1


@pytest.mark.parametrize("cent, fw", [
    ([0.0, 0.5, -0.25], 15),     # 0.5 * 2**16 = 32768 does not fit; 2**15 does
    ([0.0, -0.5], 16),           # -32768 fits: the range is asymmetric
    ([0.0, 0.9], 15),
    ([0.0, 0.99999], 14),        # 0.99999 * 2**15 rounds to 32768: rounding decides
    ([0.0, 0.999984], 15),       # 32766.98 rounds to 32767: fits
    ([0.0, 3.0, -1.0], 13),
    ([0.0, 100.0], 8),           # 100 * 256 = 25600
])
def test_weight_frac_bits_is_the_largest_that_fits(cent, fw):
    c = np.array(cent, np.float32)
    f = weight_frac_bits(c, CFG)
    assert f == fw
    assert _fits(c, f, 16) and not _fits(c, f + 1, 16)
    q = quantize_codebook(c, layer_format(c, CFG))
    assert q[0] == 0 and q.dtype == np.int64
    assert np.max(np.abs(q)) <= 32768


def test_weight_frac_bits_cap_and_zero_codebook():
    cap = CFG.acc_frac_bits - CFG.act_frac_bits + CFG.weight_bits + 8
    assert cap == 32
    assert weight_frac_bits(np.zeros(16, np.float32), CFG) == cap
    tiny = np.array([0.0, np.finfo(np.float32).tiny], np.float32)
    assert weight_frac_bits(tiny, CFG) == cap
    q = quantize_codebook(tiny, layer_format(tiny, CFG))
    assert q.tolist() == [0, 0]          # a centroid below the LSB becomes a zero weight


def test_quantize_codebook_values_and_entry_zero():
    c = np.array([0.0, 0.5, -0.25, 0.1], np.float32)
    fmt = layer_format(c, CFG)
    assert fmt.weight_frac_bits == 15 and fmt.product_shift == 8 + 15 - 16 and fmt.writeback_shift == 8
    q = quantize_codebook(c, fmt)
    assert q.tolist() == [0, 16384, -8192, math.floor(float(np.float32(0.1)) * 2**15 + 0.5)]
    with pytest.raises(FixedPointError, match="entry 0"):
        quantize_codebook(np.array([0.25, 0.5], np.float32), fmt)


def test_layer_format_fields():
    c = np.array([0.0, 0.3, -0.2], np.float32)
    fmt = layer_format(c, CFG)
    assert (fmt.act_bits, fmt.act_frac_bits, fmt.weight_bits, fmt.acc_bits, fmt.acc_frac_bits) == (16, 8, 16, 32, 16)
    assert fmt.overflow is Overflow.SATURATE
    assert fmt.product_shift == fmt.act_frac_bits + fmt.weight_frac_bits - fmt.acc_frac_bits >= 0
    assert fmt.writeback_shift == 8
    assert fmt.to_dict()["overflow"] == "saturate"
    assert layer_format(c, AcceleratorConfig(overflow="wrap")).overflow is Overflow.WRAP


def test_layer_format_rejects_huge_codebooks():
    # 1000 needs fw <= 5 in 16 bits, fewer than acc_frac - act_frac = 8: the product shift would be negative
    with pytest.raises(FixedPointError, match="fractional bits"):
        layer_format(np.array([0.0, 1000.0], np.float32), CFG)
    with pytest.raises(FixedPointError):
        layer_format(np.array([0.0, -1e30], np.float32), CFG)
    with pytest.raises(FixedPointError, match="NaN"):
        layer_format(np.array([0.0, np.nan], np.float32), CFG)
    # the largest magnitude that still works: 127 * 256 = 32512 fits, s = 0
    fmt = layer_format(np.array([0.0, 127.0], np.float32), CFG)
    assert fmt.weight_frac_bits == 8 and fmt.product_shift == 0
