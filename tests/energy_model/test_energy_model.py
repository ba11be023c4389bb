"""energy_model: the per-action table, SRAM model, node scaling, overrides, layer energy and scenarios.

Small cases are computed by hand; the fit/spill decision is checked exactly at the SRAM boundary.
"""
import math

import numpy as np
import pytest

from arch.config import ACCESS_COMPONENTS as COMPONENTS
from arch.config import AcceleratorConfig
from energy_model import (CAPACITY_EXPONENT, CAPACITY_FIT, EIE_PRICING, NODES, EnergyTableError, action_energies,
                          base_table, fit_capacity_exponent, layer_energy, load_energy_table, logic_factor,
                          scale_factor, scenario_energies, sram_access, sram_energy_pJ)
from energy_model.sram import HOROWITZ_CACHE_64B, KIB

T45 = load_energy_table(45)
CFG = AcceleratorConfig()


def approx(x, rel=1e-12):
    return pytest.approx(x, rel=rel, abs=1e-12)


# ---------------------------------------------------------------------------
# the table
# ---------------------------------------------------------------------------

def test_45nm_defaults_are_the_published_figures():
    p = T45.pJ
    assert (p("int32_add"), p("fp32_add"), p("int32_mult"), p("fp32_mult")) == (0.1, 0.9, 3.1, 3.7)
    assert p("sram_read_32b_32KiB") == 5.0
    assert p("dram_per_bit") * 32 == 640.0
    assert (p("int8_add"), p("int16_add"), p("int8_mult")) == (0.03, 0.05, 0.2)
    # 16-bit multiply: the quadratic width rule from both published points, geometric mean
    from_8, from_32 = p("int8_mult") * 4, p("int32_mult") / 4
    assert from_32 <= p("int16_mult") <= from_8
    assert p("int16_mult") == pytest.approx(math.sqrt(from_8 * from_32), abs=5e-4)
    for name, (e, kind) in base_table().items():
        assert e.pJ > 0 and e.unit.startswith("per ") and e.source.strip(), name
        assert kind in ("logic", "sram", "wire", "dram", "leakage"), name
        # every number is either cited or marked as an assumption or a derivation
        assert any(s in e.source for s in ("H14", "EIE", "dcsim assumption", "derived")), name


# ---------------------------------------------------------------------------
# SRAM model
# ---------------------------------------------------------------------------

def test_sram_model_reproduces_the_anchor_and_write_equals_read():
    assert sram_access(32 * KIB, 32, T45).pJ == approx(5.0)
    assert sram_access(32 * KIB, 32, T45, write=True).pJ == approx(5.0)
    assert sram_energy_pJ(32 * KIB, 64) == approx(10.0)      # linear in width


def test_sram_capacity_exponent_is_the_least_squares_fit_of_horowitz_cache_points():
    fit = fit_capacity_exponent(HOROWITZ_CACHE_64B)
    assert fit.exponent == approx(CAPACITY_EXPONENT)
    # by hand: x = log2 KB = 3, 5, 10; y = log2 pJ of 10, 20, 100
    x = np.array([3.0, 5.0, 10.0])
    y = np.log2([10.0, 20.0, 100.0])
    b = np.sum((x - x.mean()) * (y - y.mean())) / np.sum((x - x.mean()) ** 2)
    assert CAPACITY_EXPONENT == pytest.approx(b, rel=1e-9)
    assert 0.47 < CAPACITY_EXPONENT < 0.48
    assert max(abs(r) for r in CAPACITY_FIT.residuals_pct) < 3.0


def test_sram_model_is_monotone_in_capacity_and_width():
    caps = [64, 256, 1 * KIB, 2 * KIB, 8 * KIB, 32 * KIB, 128 * KIB, 1024 * KIB]
    e = [sram_access(c, 16, T45).pJ for c in caps]
    assert all(a <= b for a, b in zip(e, e[1:]))
    assert e[-1] > e[0]
    widths = [8, 16, 18, 32, 64, 128]
    e = [sram_access(128 * KIB, w, T45).pJ for w in widths]
    assert all(a < b for a, b in zip(e, e[1:]))


def test_register_file_floor():
    # 16 x 16-bit codebook = 32 bytes: the power law gives less than the floor
    model = sram_energy_pJ(32, 16)
    assert model < 0.01 * 16
    e = sram_access(32, 16, T45)
    assert e.pJ == approx(0.16) and "floor" in e.source
    # a 64 x 32-bit register file (256 B) is above the floor: the model applies
    assert sram_access(256, 32, T45).pJ == approx(5.0 * (256 / (32 * KIB)) ** CAPACITY_EXPONENT)


@pytest.mark.parametrize("cap,width", [(0, 16), (-1, 16), (1024, 0), (1, 16)])
def test_sram_model_rejects_impossible_arrays(cap, width):
    with pytest.raises(ValueError):
        sram_energy_pJ(cap, width)


# ---------------------------------------------------------------------------
# node scaling
# ---------------------------------------------------------------------------

def _poly(a, b, c, v):
    return a * v * v + b * v + c


def test_scaling_factors_by_hand():
    base = _poly(1.018, -0.3107, 0.1539, 0.9)          # 45 nm HP at 0.9 V
    assert _poly(0.8367, -0.4341, 0.1701, 0.9) == pytest.approx(0.4571, abs=1e-4)   # the authors' corrigendum
    assert logic_factor(32) == approx(_poly(0.8367, -0.4341, 0.1701, 0.9) / base)
    assert logic_factor(7) == approx(_poly(0.1776, -0.09097, 0.02447, 0.7) / base)
    assert logic_factor(45) == 1.0
    f = [logic_factor(n) for n in NODES]
    assert all(a > b for a, b in zip(f, f[1:]))       # smaller node, less energy


def test_45_to_7nm_lowers_logic_and_sram_by_the_documented_factor_and_leaves_dram():
    t7 = load_energy_table(7)
    f = logic_factor(7)
    assert 0.06 < f < 0.08
    for name in ("int32_add", "int16_mult", "fp32_mult", "regfile_floor_per_bit"):
        assert t7.pJ(name) == approx(T45.pJ(name) * f), name
        assert "Stillmaker" in t7[name].source
    assert t7.pJ("sram_read_32b_32KiB") == approx(5.0 * scale_factor("sram", 7)[0])
    assert scale_factor("sram", 7)[0] == f
    assert t7.pJ("broadcast_wire_per_bit_pe") == approx(T45.pJ("broadcast_wire_per_bit_pe") * f)
    assert t7.pJ("dram_per_bit") == T45.pJ("dram_per_bit") == 20.0
    for name in ("sram_leakage_per_bit", "logic_leakage_per_gate", "ff_leakage"):
        assert t7.pJ(name) == T45.pJ(name), name                # leakage is not scaled
    # the component energies follow
    c7 = AcceleratorConfig(tech_node=7)
    a45, a7 = action_energies(CFG, T45), action_energies(c7, t7)
    for comp in ("spmat_sram", "mul", "add", "broadcast"):
        assert a7[comp].pJ == approx(a45[comp].pJ * f, rel=1e-9), comp
    assert a7["dram"].pJ == a45["dram"].pJ


@pytest.mark.parametrize("node", [65, 40, 5, 0, "abc", "45um", None, 45.0, True])
def test_unknown_node_rejected(node):
    with pytest.raises(EnergyTableError, match="tech_node"):
        load_energy_table(node)


def test_node_as_string_and_table_machine_mismatch():
    assert load_energy_table("7nm").node == 7 and load_energy_table("28").node == 28
    with pytest.raises(EnergyTableError, match="7 nm"):
        action_energies(AcceleratorConfig(tech_node=7), T45)


# ---------------------------------------------------------------------------
# overrides
# ---------------------------------------------------------------------------

def test_override_replaces_entries_and_is_not_scaled(tmp_path):
    f = tmp_path / "ov.toml"
    f.write_text('[actions.dram_per_bit]\npJ = 10\nsource = "my DRAM"\n\n'
                 '[actions.int32_add]\npJ = 0.07\nunit = "per 32-bit op"\nsource = "my adder"\n')
    t = load_energy_table(7, f)
    assert t.pJ("dram_per_bit") == 10.0 and t.pJ("int32_add") == 0.07      # as given, at 7 nm
    assert str(f) in t["int32_add"].source and "my adder" in t["int32_add"].source
    assert "not scaled" in t["int32_add"].source
    assert t.pJ("int32_mult") == approx(3.1 * logic_factor(7))             # the others are scaled
    assert t.override == str(f)


def test_example_override_loads():
    from pathlib import Path
    ex = Path(__file__).resolve().parents[2] / "examples" / "energy_override.toml"
    t = load_energy_table(45, ex)
    assert t.pJ("dram_per_bit") == 10.0


BAD = {
    "unknown_action": ('[actions.int64_add]\npJ = 1\nsource = "x"\n', "int64_add"),
    "unknown_key": ('[actions.int32_add]\npJ = 1\nsource = "x"\nscale = "logic"\n', "scale"),
    "unknown_top": ('node_nm = 7\n[actions.int32_add]\npJ = 1\nsource = "x"\n', "node_nm"),
    "negative": ('[actions.int32_add]\npJ = -1\nsource = "x"\n', "pJ"),
    "zero": ('[actions.int32_add]\npJ = 0\nsource = "x"\n', "pJ"),
    "string": ('[actions.int32_add]\npJ = "0.1"\nsource = "x"\n', "pJ"),
    "bool": ('[actions.int32_add]\npJ = true\nsource = "x"\n', "pJ"),
    "inf": ('[actions.int32_add]\npJ = inf\nsource = "x"\n', "pJ"),
    "nan": ('[actions.int32_add]\npJ = nan\nsource = "x"\n', "pJ"),
    "no_pJ": ('[actions.int32_add]\nsource = "x"\n', "pJ"),
    "no_source": ('[actions.int32_add]\npJ = 1\n', "source"),
    "empty_source": ('[actions.int32_add]\npJ = 1\nsource = " "\n', "source"),
    "unit_changed": ('[actions.int32_add]\npJ = 1\nsource = "x"\nunit = "per 16-bit op"\n', "unit"),
    "actions_not_table": ('actions = 3\n', "actions"),
    "action_not_table": ('[actions]\nint32_add = 3\n', "int32_add"),
    "bad_toml": ('[actions.int32_add\npJ = 1\n', "not valid TOML"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_override_names_the_file_and_key(tmp_path, case):
    text, key = BAD[case]
    f = tmp_path / f"{case}.toml"
    f.write_text(text)
    with pytest.raises(EnergyTableError) as ei:
        load_energy_table(45, f)
    msg = str(ei.value)
    assert str(f) in msg and key in msg and "\n" not in msg, msg


def test_missing_and_binary_override_files(tmp_path):
    with pytest.raises(EnergyTableError, match="no such energy table") as ei:
        load_energy_table(45, tmp_path / "nope.toml")
    assert "nope.toml" in str(ei.value)
    b = tmp_path / "bin.toml"
    b.write_bytes(b"\xff\xfe\x00\x01")
    with pytest.raises(EnergyTableError, match="bin.toml"):
        load_energy_table(45, b)


# ---------------------------------------------------------------------------
# action energies and layer energy
# ---------------------------------------------------------------------------

def test_action_energies_of_the_eie_machine_by_hand():
    ae = action_energies(CFG, T45)
    b = CAPACITY_EXPONENT
    assert set(COMPONENTS) <= set(ae)
    assert ae["spmat_sram"].pJ == approx(5.0 * 2 * 4 ** b)                      # 64 bits, 128 KiB
    assert ae["ptr_sram"].pJ == approx(5.0 * 18 / 32 * 0.5 ** b)                # 18 bits, 16 KiB bank
    assert ae["act_regs"].pJ == approx(5.0 * (256 / (32 * KIB)) ** b)          # 64 x 32 bits
    assert ae["act_sram"].pJ == approx(5.0 * 0.5 * (1 / 16) ** b)              # 16 bits, 2 KiB
    assert ae["codebook"].pJ == approx(0.16)                                   # floor, 16 bits
    assert ae["fifo"].pJ == approx(0.01 * 28)                                  # floor, 16 + 12 bits
    assert ae["mul"].pJ == 0.787 and ae["add"].pJ == 0.1
    assert ae["broadcast"].pJ == approx(28 * 64 * 0.05 + 28 * 3 * 0.01)
    assert ae["dram"].pJ == 20.0
    for k, e in ae.items():
        assert e.pJ > 0 and e.source and e.unit.startswith("per "), k


def test_integer_width_rule():
    t = T45
    c8 = AcceleratorConfig(act_bits=8, weight_bits=8, act_frac_bits=4, acc_bits=16, acc_frac_bits=8)
    assert action_energies(c8, t)["mul"].pJ == approx(0.2)
    assert action_energies(c8, t)["add"].pJ == approx(0.05)
    c32 = AcceleratorConfig(act_bits=32, weight_bits=32, acc_bits=32)
    assert action_energies(c32, t)["mul"].pJ == approx(3.1)
    c12 = AcceleratorConfig(act_bits=12, weight_bits=12, act_frac_bits=6, acc_bits=24, acc_frac_bits=12)
    ae = action_energies(c12, t)
    assert 0.2 < ae["mul"].pJ < 0.787 and 0.05 < ae["add"].pJ < 0.1
    assert "interpolation" in ae["mul"].source


def _eie32():
    """A machine whose sparse-matrix SRAM is the 32-bit, 32 KiB anchor."""
    return AcceleratorConfig(sram_word_bits=32, spmat_sram_bytes=32 * KIB)


def test_hand_computed_three_sram_reads_two_mults_one_dram_word():
    cfg = _eie32()
    acc = {"spmat_sram": {"reads": 3, "writes": 0}, "mul": {"reads": 2, "writes": 0}}
    e = layer_energy(acc, 10, cfg, T45, EIE_PRICING, per_cycle=False)
    assert e["energy_pJ"]["spmat_sram"] == approx(15.0)
    assert e["energy_pJ"]["mul"] == approx(2 * 0.787)
    dram_word = 32 * action_energies(cfg, T45)["dram"].pJ
    assert e["total_pJ"] + dram_word == approx(3 * 5.0 + 2 * 0.787 + 640.0)
    assert set(e["energy_pJ"]) == set(COMPONENTS) and "leakage" not in e["energy_pJ"]


def test_reads_and_writes_are_both_charged():
    acc = {"act_regs": {"reads": 4, "writes": 6}}
    e = layer_energy(acc, 1, CFG, T45, EIE_PRICING)
    r = action_energies(CFG, T45)["act_regs"].pJ
    assert e["energy_read_pJ"]["act_regs"] == approx(4 * r)
    assert e["energy_write_pJ"]["act_regs"] == approx(6 * r)
    assert e["energy_pJ"]["act_regs"] == approx(10 * r)


def test_units_power_is_energy_over_latency():
    # 800 pJ over 800 cycles at 800 MHz: 1 us, 0.8 mW
    cfg = _eie32()
    acc = {"spmat_sram": {"reads": 160, "writes": 0}}                # 160 x 5 pJ = 800 pJ
    e = layer_energy(acc, 800, cfg, T45, EIE_PRICING, per_cycle=False)
    assert e["total_pJ"] == approx(800.0)
    assert e["latency_us"] == approx(1.0)
    assert e["power_W"] == approx(8e-4)
    # pJ / us = 1e-6 W, for any clock
    c2 = cfg.replace(clock_mhz=250.0)
    e2 = layer_energy(acc, 1000, c2, T45, EIE_PRICING, per_cycle=False)
    assert e2["latency_us"] == approx(4.0)
    assert e2["power_W"] == approx(e2["total_pJ"] * 1e-12 / (e2["latency_us"] * 1e-6))
    assert e2["power_W"] == approx(200e-6)
    assert layer_energy({}, 0, cfg, T45, EIE_PRICING)["power_W"] == 0.0


def test_leakage_is_optional_and_clock_and_control_follow_the_cycles():
    acc = {"mul": {"reads": 1, "writes": 0}}
    ce = EIE_PRICING.cycle_energies(CFG, T45)
    off = layer_energy(acc, 100, CFG, T45, EIE_PRICING)
    on = layer_energy(acc, 100, CFG, T45, EIE_PRICING, leakage=True)
    bare = layer_energy(acc, 100, CFG, T45, EIE_PRICING, per_cycle=False)
    assert off["leakage_pJ"] == 0.0 and not off["leakage"] and "leakage" not in off["energy_pJ"]
    assert on["leakage_pJ"] == approx(100 * ce["leakage"].pJ) and ce["leakage"].pJ > 0
    assert on["total_pJ"] == approx(off["total_pJ"] + 100 * ce["leakage"].pJ)
    for k in ("clock", "control"):
        assert off["energy_pJ"][k] == approx(100 * ce[k].pJ) and ce[k].pJ > 0
        assert k not in bare["energy_pJ"]
    assert bare["total_pJ"] == approx(bare["access_pJ"]) == approx(off["access_pJ"])
    assert off["total_pJ"] == approx(off["access_pJ"] + 100 * (ce["clock"].pJ + ce["control"].pJ))
    double = layer_energy(acc, 200, CFG, T45, EIE_PRICING, leakage=True)
    assert double["total_pJ"] - double["access_pJ"] == approx(2 * (on["total_pJ"] - on["access_pJ"]))
    assert all(on["sources"][k] for k in ("clock", "control", "leakage"))


def test_module_and_kind_breakdowns_add_up_to_the_total():
    acc = {c: {"reads": 3 + i, "writes": (1 if c in EIE_PRICING.storage_components else 0)}
           for i, c in enumerate(COMPONENTS)}
    e = layer_energy(acc, 250, CFG, T45, EIE_PRICING, leakage=True)
    assert sum(e["energy_by_module_pJ"].values()) == approx(e["total_pJ"])
    assert sum(e["energy_by_kind_pJ"].values()) == approx(e["total_pJ"])
    shared = e["energy_by_module_shared_pJ"]               # the per-cycle items shared out to the modules
    assert sum(shared.values()) == approx(e["total_pJ"]) and not set(shared) & {"clock", "leakage"}
    split = EIE_PRICING.cycle_energies_by_module(CFG, T45)
    per_cycle = {m: sum(split[k].get(m, 0.0) for k in ("clock", "control", "leakage")) for m in split["clock"]}
    assert shared["act_rw"] == approx(e["energy_by_module_pJ"]["act_rw"] + 250 * per_cycle["act_rw"])
    m = e["energy_by_module_pJ"]
    assert list(m)[:5] == ["spmat_read", "ptr_read", "arithmetic", "act_rw", "act_queue"]
    assert m["spmat_read"] == approx(e["energy_pJ"]["spmat_sram"])
    assert m["arithmetic"] == approx(sum(e["energy_pJ"][c] for c in ("codebook", "mul", "add")))
    assert m["act_queue"] == approx(e["energy_pJ"]["fifo"] + e["energy_pJ"]["broadcast"])
    assert m["clock"] == approx(e["energy_pJ"]["clock"]) and m["leakage"] == approx(e["leakage_pJ"])
    k = e["energy_by_kind_pJ"]
    assert k["memory"] == approx(sum(e["energy_pJ"][c] for c in ("spmat_sram", "ptr_sram", "act_sram")))
    assert k["registers"] == approx(sum(e["energy_pJ"][c] for c in ("act_regs", "fifo", "codebook")))


@pytest.mark.parametrize("acc,match", [
    ({"dram": {"reads": 1}}, "unknown component"),
    ({"mul": {"reads": -1}}, "non-negative"),
    ({"mul": {"reads": "3"}}, "non-negative"),
    ({"mul": {"reads": 1, "writes": 1}}, "under 'reads'"),
    ({"fifo": {"pops": 1}}, "reads"),
])
def test_layer_energy_rejects_bad_counts(acc, match):
    with pytest.raises(ValueError, match=match):
        layer_energy(acc, 1, CFG, T45, EIE_PRICING)


# ---------------------------------------------------------------------------
# scenarios and the fit/spill rule
# ---------------------------------------------------------------------------

def _layer(entries, n_rows=8, n_cols=8, **kw):
    d = dict(name="L", n_rows=n_rows, n_cols=n_cols, dense_weights=n_rows * n_cols, nnz_weights=entries,
             entries=entries, index_bits=4, rel_index_bits=4, pointer_bits=7, act_nnz=4, macs_sparse=entries // 2,
             sim_accesses={"spmat_sram": {"reads": 10, "writes": 0}, "mul": {"reads": 5, "writes": 0}},
             cycles=100)
    d.update(kw)
    return d


def _tiny():
    # 1 PE, 8 words of 64 bits = 64 entries; pointers: 7 bits (addresses 0..64) in 64 bits
    cfg = AcceleratorConfig(n_pe=1, spmat_sram_bytes=64, ptr_sram_bytes=8)
    assert cfg.spmat_capacity_entries == 64 and cfg.pointer_bits == 7
    return cfg


def test_fit_spill_boundary_sparse_matrix():
    cfg = _tiny()
    cap = cfg.spmat_capacity_entries
    fit = scenario_energies([_layer(cap)], cfg, T45)
    spill = scenario_energies([_layer(cap + 1)], cfg, T45)
    assert fit["fits_on_chip"] and fit["spill"]["spmat_bits"] == 0
    assert fit["scenarios"]["c"]["energy_pJ"]["dram"] == 0.0
    assert not spill["fits_on_chip"]
    assert spill["spill"]["spmat_bits"] == 64                   # one more 64-bit word
    assert spill["scenarios"]["c"]["energy_pJ"]["dram"] == approx(64 * 20.0)
    # the same simulator counts: the difference is exactly the DRAM charge
    assert spill["scenarios"]["c"]["total_pJ"] - fit["scenarios"]["c"]["total_pJ"] == approx(1280.0)
    assert spill["layers"][0]["c_dram_bits"] == 64 and not spill["layers"][0]["fits_on_chip"]


def test_fit_spill_boundary_pointers():
    cfg = _tiny()
    # (n_cols + 1) pointers of 7 bits against 64 bits: 8 columns (63 bits) fit, 9 (70 bits) spill 6 bits
    fit = scenario_energies([_layer(8, n_cols=8)], cfg, T45)
    spill = scenario_energies([_layer(8, n_cols=9)], cfg, T45)
    assert fit["fits_on_chip"] and spill["spill"]["ptr_bits"] == 6 and not spill["fits_on_chip"]
    assert spill["scenarios"]["c"]["energy_pJ"]["dram"] == approx(6 * 20.0)


def test_spill_accumulates_over_layers_and_per_pe():
    cfg = AcceleratorConfig(n_pe=2, spmat_sram_bytes=64, ptr_sram_bytes=64)
    cap = cfg.spmat_capacity_entries                              # 64 per PE
    # layer 1 fills PE 0 and half of PE 1; layer 2 adds 8 entries (one word) to each PE
    l1 = _layer(cap + cap // 2, name="l1", pe_entries=[cap, cap // 2])
    l2 = _layer(16, name="l2", pe_entries=[8, 8])
    r = scenario_energies([l1, l2], cfg, T45)
    assert r["layers"][0]["fits_on_chip"] and not r["layers"][1]["fits_on_chip"]
    assert r["layers"][1]["c_spill_spmat_bits"] == 64             # PE 0's extra word only
    # max_pe_entries: every PE taken as full as the fullest (upper bound)
    r2 = scenario_energies([_layer(cap + 1, max_pe_entries=cap + 1)], cfg, T45)
    assert r2["spill"]["spmat_bits"] == 2 * 64
    # entries split evenly: 129 entries over 2 PEs = 65 + 64: one word spills
    r3 = scenario_energies([_layer(2 * cap + 1)], cfg, T45)
    assert r3["spill"]["spmat_bits"] == 64


def test_scenarios_by_hand():
    cfg = _tiny()
    L = _layer(32, n_rows=8, n_cols=8, act_nnz=4, macs_sparse=16)
    r = scenario_energies([L], cfg, T45)
    ae = action_energies(cfg, T45)
    a = r["scenarios"]["a"]["energy_pJ"]
    assert a["dram"] == approx(64 * 32 * 20.0)
    assert a["mul"] == approx(64 * 3.7) and a["add"] == approx(64 * 0.9)
    assert a["act_sram"] == approx((8 + 8) * 5.0)
    b = r["scenarios"]["b"]
    assert b["dram_bits"] == 32 * 8 + 1 * (8 + 1) * 7 + 16 * 16
    assert b["energy_pJ"]["mul"] == approx(16 * ae["mul"].pJ)
    c = r["scenarios"]["c"]["energy_pJ"]
    assert c["spmat_sram"] == approx(10 * ae["spmat_sram"].pJ) and c["dram"] == 0.0
    assert r["a_over_c"] == approx(r["scenarios"]["a"]["total_pJ"] / r["scenarios"]["c"]["total_pJ"])


def test_scenario_ordering_for_a_simulated_sparse_layer():
    """A 10%-dense layer with 35% nonzero activations through the engine: (a) > (b) > (c)."""
    from arch.fixedpoint import layer_format, one, quantize_acts, quantize_codebook
    from sim.engine import prepare_layer, run_layer

    rng = np.random.default_rng(1)
    n_rows, n_in = 256, 512
    idx = np.where(rng.random((n_rows, n_in + 1)) < 0.10, rng.integers(1, 16, (n_rows, n_in + 1)), 0)
    idx = idx.astype(np.uint8)
    centroids = np.concatenate([[0.0], np.linspace(-1, 1, 15)])
    fmt = layer_format(centroids, CFG)
    cb = quantize_codebook(centroids, fmt)
    x = np.where(rng.random(n_in) < 0.35, rng.random(n_in), 0.0)
    xa = np.concatenate([quantize_acts(x, CFG), [one(fmt)]]).astype(np.int64)
    prep = prepare_layer(idx, CFG)
    r = run_layer(prep, cb, xa, fmt, True)
    layer = dict(name="sparse", n_rows=n_rows, n_cols=n_in + 1, dense_weights=n_rows * (n_in + 1),
                 nnz_weights=int(np.count_nonzero(idx)), entries=int(prep.pe_entries.sum()),
                 pe_entries=prep.pe_entries, index_bits=4, rel_index_bits=4, pointer_bits=CFG.pointer_bits,
                 act_nnz=int(np.count_nonzero(xa)), macs_sparse=r.entries - r.fillers,
                 sim_accesses=r.accesses, cycles=r.cycles)
    s = scenario_energies([layer], CFG, T45)
    a, b, c = (s["scenarios"][k]["total_pJ"] for k in "abc")
    assert a > b > c > 0
    assert s["fits_on_chip"] and s["a_over_c"] > s["b_over_c"] > 1
    assert s["latency_us"] == approx(r.cycles / 800.0)
    assert s["power_W"] == approx(c * 1e-12 / (s["latency_us"] * 1e-6))


def test_scenario_input_errors():
    with pytest.raises(ValueError, match="non-empty"):
        scenario_energies([], CFG, T45)
    bad = _layer(8)
    del bad["cycles"]
    with pytest.raises(ValueError, match="layer L: missing cycles"):
        scenario_energies([bad], CFG, T45)
    with pytest.raises(ValueError, match="n_rows = -1"):
        scenario_energies([_layer(8, n_rows=-1)], CFG, T45)
    with pytest.raises(ValueError, match="index_bits = 2.5"):
        scenario_energies([_layer(8, index_bits=2.5)], CFG, T45)
    with pytest.raises(ValueError, match="pe_entries"):
        scenario_energies([_layer(8, pe_entries=[1, 2])], CFG, T45)
