import re
import json

import pytest
from hypothesis import given, strategies as st

from arch.config import AcceleratorConfig
from arch.configio import ConfigError
from compress.config import CompressionConfig, KMeansInit


def test_defaults_are_eie():
    a = AcceleratorConfig()
    assert (a.n_pe, a.index_bits, a.rel_index_bits, a.sram_word_bits) == (64, 4, 4, 64)
    assert a.entries_per_word == 8 and a.slot_bits == 3
    assert a.spmat_capacity_entries == 128 * 1024  # 128 KiB of 8-bit entries
    assert a.pointer_bits == 18                    # addresses 0..131072


@given(n_pe=st.integers(1, 4096), ib=st.integers(1, 8), rb=st.integers(1, 8),
       wexp=st.integers(4, 10), kib=st.integers(1, 512))
def test_accel_roundtrip(n_pe, ib, rb, wexp, kib):
    w = 1 << wexp
    if w < ib + rb:
        with pytest.raises(ConfigError):
            AcceleratorConfig(n_pe=n_pe, index_bits=ib, rel_index_bits=rb, sram_word_bits=w)
        return
    a = AcceleratorConfig(n_pe=n_pe, index_bits=ib, rel_index_bits=rb, sram_word_bits=w, spmat_sram_bytes=kib * 1024)
    assert AcceleratorConfig.from_toml(a.to_toml()) == a
    assert AcceleratorConfig.from_json(a.to_json()) == a
    assert (1 << a.pointer_bits) > a.spmat_capacity_entries >= (1 << (a.pointer_bits - 1))


def test_ptr_bits_must_address_capacity():
    a = AcceleratorConfig()
    assert AcceleratorConfig(ptr_bits=18).pointer_bits == 18
    with pytest.raises(ConfigError, match="ptr_bits = 16 does not address"):
        AcceleratorConfig(ptr_bits=16)  # the paper's 16 bits cannot address 128 KiB of entries
    assert a.required_ptr_bits == 18


@pytest.mark.parametrize("kw, frag", [
    ({"n_pe": 0}, "n_pe = 0"), ({"index_bits": 9}, "index_bits = 9"), ({"sram_word_bits": 48}, "sram_word_bits = 48"),
    ({"rel_index_bits": 0}, "rel_index_bits = 0"), ({"spmat_sram_bytes": 1}, "spmat_sram_bytes = 1"),
])
def test_accel_errors_name_the_value(kw, frag):
    with pytest.raises(ConfigError, match=frag):
        AcceleratorConfig(**kw)


def test_compression_roundtrip_and_lookups():
    c = CompressionConfig(layer_density={"fc1": 0.08}, layer_bits={"fc3": 4}, kmeans_init=KMeansInit.DENSITY)
    assert CompressionConfig.from_toml(c.to_toml()) == c
    assert CompressionConfig.from_json(c.to_json()) == c
    assert c.density_for("fc1") == 0.08 and c.density_for("fc2") == c.density
    assert c.bits_for("fc3", "fc") == 4 and c.bits_for("fc1", "fc") == 5 and c.bits_for("conv1", "conv") == 8
    assert c.rel_bits_for("fc") == 5 and c.rel_bits_for("conv") == 8
    assert CompressionConfig.from_dict({"prune_method": "threshold"}).prune_method == "threshold"


@pytest.mark.parametrize("data, frag", [
    ({"density": 0.0}, "density = 0.0"), ({"kmeans_init": "kmeans++"}, "kmeans_init = 'kmeans++'"),
    ({"fc_bits": 9}, "fc_bits = 9"), ({"layer_density": {"fc1": 1.5}}, "layer_density.fc1 = 1.5"),
    ({"bogus": 1}, "unknown key 'bogus'"), ({"seed": "x"}, "seed = 'x'"),
])
def test_compression_errors(data, frag):
    with pytest.raises(ConfigError, match=frag.replace("+", r"\+").replace(".", r"\.")):
        CompressionConfig.from_dict(data)


def test_config_file(tmp_path):
    from dcsim.configfile import read_config_file

    p = tmp_path / "c.toml"
    p.write_text("[accel]\nn_pe = 4\n[compress]\nfc_bits = 4\n")
    a, c = read_config_file(p)
    assert a.n_pe == 4 and c.fc_bits == 4
    p.write_text("[accel]\nn_pe = -1\n")
    with pytest.raises(ConfigError, match=r"c\.toml: \[accel\] n_pe = -1"):
        read_config_file(p)
    p.write_text("[acel]\n")
    with pytest.raises(ConfigError, match="unknown table"):
        read_config_file(p)
    p.write_text("not toml [")
    with pytest.raises(ConfigError, match="not valid TOML"):
        read_config_file(p)
    json.dumps(AcceleratorConfig().to_dict())


@pytest.mark.parametrize("model", ["lenet-300-100", "lenet-5"])
def test_examples_are_the_default_recipes(model):
    """examples/MODEL.toml is exactly what `dcsim recipe MODEL` prints, and reads back as the recipe."""
    from pathlib import Path

    from compress.recipes import default_recipe
    from dcsim.configfile import read_config_file, recipe_toml

    p = Path(__file__).resolve().parents[2] / "examples" / f"{model}.toml"
    assert p.read_text() == recipe_toml(model), f"regenerate with: dcsim recipe {model} --out {p}"
    a, c = read_config_file(p)
    assert a == AcceleratorConfig() and c == default_recipe(model)


def test_config_file_overlays_the_base(tmp_path):
    from compress.recipes import default_recipe
    from dcsim.configfile import read_config_file

    base = default_recipe("lenet-300-100")
    p = tmp_path / "c.toml"
    p.write_text("[compress]\nfc_bits = 4\n[compress.layer_density]\nfc1 = 0.05\n")
    a, c = read_config_file(p, compress_base=base)
    assert a is None
    assert c.fc_bits == 4 and c.layer_density == {"fc1": 0.05}
    assert c.replace(fc_bits=base.fc_bits, layer_density=base.layer_density) == base
    p.write_text("[compress]\nfc_bits = 9\n")
    with pytest.raises(ConfigError, match=r"fc_bits = 9 is not allowed"):
        read_config_file(p, compress_base=base)


def test_docs_list_every_field():
    """docs/configs.md documents every key of both configs."""
    import dataclasses
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "docs" / "configs.md").read_text()
    for cls in (AcceleratorConfig, CompressionConfig):
        for f in dataclasses.fields(cls):
            assert f"| `{f.name}` |" in text, f"docs/configs.md lacks {cls.__name__}.{f.name}"


@pytest.mark.parametrize("kw,frag", [
    ({"fifo_depth": 0}, "fifo_depth = 0"), ({"act_frac_bits": 15}, "act_frac_bits = 15"),
    ({"acc_bits": 8}, "acc_bits = 8"), ({"overflow": "clip"}, "'saturate', 'wrap'"),
    ({"tech_node": 40}, "tech_node = 40"), ({"clock_mhz": 0.5}, "clock_mhz = 0.5"),
    ({"ptr_sram_bytes": 1}, "ptr_sram_bytes = 1"),
])
def test_datapath_fields_validated(kw, frag):
    with pytest.raises(ConfigError, match=re.escape(frag)):
        AcceleratorConfig(**kw)


def test_example_machine_configs_load():
    """Every examples/*.toml is a valid config file."""
    from pathlib import Path

    from dcsim.configfile import read_config_file

    for p in sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.toml")):
        if p.name == "energy_override.toml":
            continue
        read_config_file(p)
    a, _ = read_config_file(Path(__file__).resolve().parents[2] / "examples" / "fpga.toml")
    assert a.spmat_sram_bytes <= 4096 and a.ptr_sram_bytes <= 4096
