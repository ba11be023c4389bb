"""The one error boundary: every input a user can give that dcsim cannot take (a file, a config, a
flag, an archive, a model, a sweep, a plugin) ends with one line on stderr naming it, exit code 2,
no traceback, and nothing written."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dcsim.cli import main

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Good and bad inputs, made once: weights, an fc archive, a conv archive, configs, vectors."""
    d = tmp_path_factory.mktemp("inputs")
    rng = np.random.default_rng(0)
    f = {"dir": d}
    f["weights"] = d / "w.npz"
    np.savez(f["weights"], fc1=rng.normal(size=(40, 64)).astype(np.float32),
             fc2=rng.normal(size=(10, 40)).astype(np.float32))
    f["conv_weights"] = d / "conv.npz"
    np.savez(f["conv_weights"], conv1=rng.normal(size=(4, 1, 3, 3)).astype(np.float32),
             fc1=rng.normal(size=(10, 36)).astype(np.float32))
    for name, w in (("archive", f["weights"]), ("conv_archive", f["conv_weights"])):
        out = d / name
        assert main(["compress", "--weights", str(w), "--out", str(out), "--quiet"]) == 0
        f[name] = out / "model.dcz"
    f["truncated"] = d / "truncated.dcz"
    f["truncated"].write_bytes(f["archive"].read_bytes()[:100])
    data = bytearray(f["archive"].read_bytes())
    data[len(data) // 2] ^= 0x10
    f["flipped"] = d / "flipped.dcz"
    f["flipped"].write_bytes(bytes(data))
    f["not_archive"] = d / "notes.txt"
    f["not_archive"].write_text("hello\n")
    f["pickled_npz"] = d / "obj.npz"
    np.savez(f["pickled_npz"], fc1=np.array([{"a": 1}], dtype=object))
    f["bad_shape_npz"] = d / "shape.npz"
    np.savez(f["bad_shape_npz"], fc1=np.zeros((3, 4, 5), np.float32))
    f["nan_npz"] = d / "nan.npz"
    np.savez(f["nan_npz"], fc1=np.full((4, 4), np.nan, np.float32))
    f["x"] = d / "x.npy"
    np.save(f["x"], rng.random((3, 64)))
    f["x_shape"] = d / "x_shape.npy"
    np.save(f["x_shape"], rng.random((3, 63)))
    f["x_nan"] = d / "x_nan.npy"
    np.save(f["x_nan"], np.full((2, 64), np.nan))
    f["x_object"] = d / "x_object.npy"
    np.save(f["x_object"], np.array([{"a": 1}], dtype=object), allow_pickle=True)
    for name, text in (("bad_value", "[compress]\nfc_bits = 12\n"), ("bad_key", "[accel]\nn_pes = 4\n"),
                       ("bad_table", "[acel]\nn_pe = 4\n"), ("bad_toml", "[accel\n"),
                       ("bad_kind", "[accel]\nkind = \"tpu\"\n"), ("bad_type", "[accel]\nn_pe = \"many\"\n"),
                       ("bad_overflow", "[accel]\noverflow = \"clip\"\n"),
                       ("bad_quantizer", "[compress]\nquantizer = \"trinary\"\n"),
                       ("layer_typo", "[compress.layer_density]\nfc_1 = 0.05\n"),
                       ("bad_energy", "[actions.dram_per_bit]\npJ = -1\nsource = \"x\"\n"),
                       ("bad_area", "[areas.sram_bitcell]\num2 = 0\nsource = \"x\"\n"),
                       ("bad_sweep", "[sweep]\nworkloads = [\"eie:alex-77\"]\n")):
        f[name] = d / f"{name}.toml"
        f[name].write_text(text)
    f["bad_idx"] = d / "idx"
    f["bad_idx"].mkdir()
    for n in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        (f["bad_idx"] / n).write_bytes(b"\x00\x00\x08\x03" + b"\x00" * 7)
    f["binary"] = d / "binary.toml"
    f["binary"].write_bytes(b"\xff\xfe\x00")
    _bad_weights(f, d, rng)
    _bad_archives(f, d)
    f["x_complex"] = d / "x_complex.npy"
    np.save(f["x_complex"], rng.random((2, 64)) + 1j)
    f["xy_complex"] = d / "xy_complex.npz"
    np.savez(f["xy_complex"], x=rng.random((2, 64)) + 1j, y=np.zeros(2, np.int64))
    for name, text in (("tiny_ptr", "[accel]\nptr_sram_bytes = 16\n"),
                       ("tiny_spmat", "[accel]\nspmat_sram_bytes = 8\nptr_sram_bytes = 8\n"),
                       ("bad_float", "[accel]\nclock_mhz = -5.0\n"), ("bad_bits", "[compress]\nconv_bits = 0\n"),
                       ("empty_sweep", "[sweep]\n"), ("bad_sweep_axis", "[sweep]\nworkloads = [\"eie:alex-8\"]\n"
                                                       "[sweep.axes]\n\"accel.n_pes\" = [1, 2]\n")):
        f[name] = d / f"{name}.toml"
        f[name].write_text(text)
    f["a_file"] = d / "a_file"
    f["a_file"].write_text("not a folder\n")
    f["ro"] = _unwritable_dir(d)
    return f


def _unwritable_dir(d):
    """A folder this process cannot write into: mode 0555, or (as root, who may write anywhere) a
    system folder no one can write; None when there is none (those cases are skipped)."""
    import os

    ro = d / "read_only"
    ro.mkdir()
    ro.chmod(0o555)
    if not os.access(ro, os.W_OK):
        return ro
    for cand in ("/proc/1", "/proc/self/fdinfo"):
        if Path(cand).is_dir() and not os.access(cand, os.W_OK):
            return Path(cand)
    return None


def _bad_weights(f, d, rng):
    """Weights files each wrong in one way (arch/fileio.load_arrays, network/npz.py)."""
    import zipfile

    w = lambda *shape: rng.normal(size=shape).astype(np.float32)  # noqa: E731
    for name, arrays in (
            ("empty_npz", {}),
            ("nan_bias", {"fc1": w(4, 4), "fc1_bias": np.array([np.nan, 0, 0, 0], np.float32)}),
            ("inf_bias", {"fc1": w(4, 4), "fc1.bias": np.array([np.inf, 0, 0, 0], np.float32)}),
            ("inf_weight", {"fc1": np.full((4, 4), -np.inf, np.float32)}),
            ("huge_weight", {"fc1": np.where(rng.random((40, 64)) > 0.5, 3e38, -3e38).astype(np.float32),
                             "fc2": w(10, 40)}),
            ("huge_bias", {"fc1": w(4, 4), "fc1_bias": np.full(4, 1e30, np.float32)}),
            ("unchained_fc", {"fc1": w(40, 64), "fc2": w(10, 30)}),
            ("unchained_conv", {"conv1": w(4, 1, 3, 3), "conv2": w(8, 3, 3, 3), "fc1": w(10, 8)}),
            ("conv_fc_size", {"conv1": w(4, 1, 3, 3), "fc1": w(10, 37)}),
            ("fc_then_conv", {"fc1": w(4, 9), "conv1": w(4, 1, 3, 3)}),
            ("complex_weight", {"fc1": (w(4, 4) + 1j).astype(np.complex64)}),
            ("int_weight", {"fc1": np.ones((4, 4), np.int32)}),
            ("complex_bias", {"fc1": w(4, 4), "fc1_bias": np.ones(4, np.complex64)}),
            ("bias_shape", {"fc1": w(4, 4), "fc1_bias": np.zeros(5, np.float32)}),
            ("orphan_bias", {"fc1": w(4, 4), "fc9_bias": np.zeros(4, np.float32)}),
            ("empty_weight", {"fc1": np.zeros((0, 4), np.float32)}),
            ("only_bias", {"fc1_bias": np.zeros(4, np.float32)}),
            ("weights_1d", {"fc1": np.zeros(4, np.float32)}),
            ("conv36", {"conv1": w(4, 1, 3, 3), "fc1": w(10, 36)})):
        f[name] = d / f"{name}.npz"
        np.savez(f[name], **arrays)
    f["npy_weights"] = d / "single.npy"
    np.save(f["npy_weights"], w(4, 4))
    f["txt_member"] = d / "txt_member.npz"
    with zipfile.ZipFile(f["txt_member"], "w") as z:
        z.writestr("fc1.txt", "hello")
    good = bytearray(f["weights"].read_bytes())
    good[200] ^= 0xFF                                   # inside fc1.npy's data: the CRC no longer matches
    f["bad_crc"] = d / "bad_crc.npz"
    f["bad_crc"].write_bytes(bytes(good))
    f["zip_truncated"] = d / "zip_truncated.npz"
    f["zip_truncated"].write_bytes(f["weights"].read_bytes()[:300])


def _bad_archives(f, d):
    """Archives that load as files but hold nothing to run: no layers, or a layer of no rows."""
    import dataclasses

    from compress.model import CompressedLayer, load, save
    from compress.storage import encode_form

    cm = load(f["archive"])
    f["zero_layers"] = d / "zero_layers.dcz"
    save(dataclasses.replace(cm, layers=[]), f["zero_layers"])
    last = cm.layers[-1]
    idx = np.zeros((0, last.indices.shape[1]), last.indices.dtype)
    empty = CompressedLayer(dataclasses.replace(last.spec, shape=(0, last.spec.shape[1])), last.bits, last.centroids,
                            idx, encode_form(idx, last.bits, last.form.rel_bits))
    f["zero_rows"] = d / "zero_rows.dcz"
    save(dataclasses.replace(cm, layers=[cm.layers[0], empty]), f["zero_rows"])


def _cases():
    """(id, argv builder, fragment of the one error line); ``{out}`` is a fresh output folder."""
    return [
        ("config value", lambda f: ["compress", "--weights", f["weights"], "--config", f["bad_value"]], "fc_bits = 12"),
        ("config key", lambda f: ["simulate", f["archive"], "--config", f["bad_key"]], "unknown key 'n_pes'"),
        ("config table", lambda f: ["simulate", f["archive"], "--config", f["bad_table"]], "unknown table [acel]"),
        ("config TOML", lambda f: ["energy", f["archive"], "--config", f["bad_toml"]], "not valid TOML"),
        ("config binary", lambda f: ["inspect", f["archive"], "--config", f["binary"]], "not a UTF-8 text file"),
        ("config missing", lambda f: ["simulate", f["archive"], "--config", f["dir"] / "no.toml"], "no such config file"),
        ("config folder", lambda f: ["simulate", f["archive"], "--config", f["dir"]], "is a folder"),
        ("machine kind", lambda f: ["simulate", f["archive"], "--config", f["bad_kind"]], "kind = 'tpu' is not allowed"),
        ("config type", lambda f: ["simulate", f["archive"], "--config", f["bad_type"]], "must be of type int"),
        ("config enum", lambda f: ["simulate", f["archive"], "--config", f["bad_overflow"]], "overflow = 'clip'"),
        ("method name", lambda f: ["compress", "--weights", f["weights"], "--config", f["bad_quantizer"]],
         "quantizer = 'trinary' is not allowed"),
        ("unknown layer in a per-layer table", lambda f: ["compress", "--weights", f["weights"], "--config",
                                                          f["layer_typo"]],
         "[compress.layer_density] fc_1: no such layer; the layers are fc1, fc2"),
        ("onnx not a model", lambda f: ["compress", "--onnx", f["not_archive"]], "notes.txt: not"),
        ("onnx missing", lambda f: ["compress", "--onnx", f["dir"] / "none.onnx"], "none.onnx: no such file"),
        ("input shape text", lambda f: ["compress", "--weights", f["conv_weights"], "--input-shape", "1,x"],
         "--input-shape 1,x"),
        ("input shape channels", lambda f: ["compress", "--weights", f["conv_weights"], "--input-shape", "3,8,8"],
         "with 1 input channels"),
        ("budget without eval data", lambda f: ["compress", "--weights", f["weights"], "--max-accuracy-drop", "1"],
         "give --eval-data too"),
        ("eval data missing", lambda f: ["compress", "--weights", f["weights"], "--eval-data", f["dir"] / "no.npz"],
         "no.npz"),
        ("--pes", lambda f: ["simulate", f["archive"], "--pes", "0"], "--pes: n_pe = 0"),
        ("--fifo", lambda f: ["energy", f["archive"], "--fifo", "-1"], "--fifo: fifo_depth = -1"),
        ("--tech", lambda f: ["energy", f["archive"], "--tech", "3nm"], "tech_node = 3"),
        ("--tech text", lambda f: ["energy", f["archive"], "--tech", "fast"], "--tech fast"),
        ("--count", lambda f: ["simulate", f["archive"], "--inputs", f["x"], "--count", "0"], "--count 0"),
        ("--seed", lambda f: ["compress", "--weights", f["weights"], "--seed", "-1"], "--seed -1"),
        ("--layer", lambda f: ["simulate", "--layer", "alex-77"], "alex-77"),
        ("--layer and --inputs", lambda f: ["energy", "--layer", "alex-8", "--inputs", f["x"]], "--inputs and --count"),
        ("archive and --layer", lambda f: ["simulate", f["archive"], "--layer", "alex-8"], "exactly one of ARCHIVE"),
        ("missing archive", lambda f: ["simulate", f["dir"] / "none.dcz"], "none.dcz"),
        ("truncated archive", lambda f: ["report", f["truncated"]], "truncated"),
        ("corrupted archive", lambda f: ["energy", f["flipped"]], "corrupted"),
        ("not an archive", lambda f: ["inspect", f["not_archive"]], "not a dcsim archive"),
        ("conv archive, simulate", lambda f: ["simulate", f["conv_archive"]], "compress it again with --input-shape"),
        ("conv archive, energy", lambda f: ["energy", f["conv_archive"]], "compress it again with --input-shape"),
        ("conv archive, report", lambda f: ["report", f["conv_archive"]], "compress it again with --input-shape"),
        ("conv archive, verilog", lambda f: ["verilog", f["conv_archive"]], "compress it again with --input-shape"),
        ("inputs missing", lambda f: ["simulate", f["archive"], "--inputs", f["dir"] / "none.npy"], "none.npy"),
        ("inputs shape", lambda f: ["simulate", f["archive"], "--inputs", f["x_shape"]], "(3, 63)"),
        ("inputs NaN", lambda f: ["simulate", f["archive"], "--inputs", f["x_nan"]], "NaN"),
        ("inputs pickled", lambda f: ["simulate", f["archive"], "--inputs", f["x_object"]], "x_object.npy"),
        ("inputs text", lambda f: ["simulate", f["archive"], "--inputs", f["not_archive"]], "notes.txt"),
        ("MNIST folder without the files", lambda f: ["simulate", f["archive"], "--data-dir", f["dir"]],
         "missing train-images"),
        ("weights missing", lambda f: ["compress", "--weights", f["dir"] / "nope.npz"], "nope.npz"),
        ("weights pickled", lambda f: ["compress", "--weights", f["pickled_npz"]], "obj.npz"),
        ("weights shape", lambda f: ["compress", "--weights", f["bad_shape_npz"]], "(3, 4, 5)"),
        ("weights NaN", lambda f: ["compress", "--weights", f["nan_npz"]], "NaN"),
        ("no source", lambda f: ["compress"], "--model"),
        ("data folder", lambda f: ["compress", "--model", "lenet-300-100", "--data-dir", f["dir"] / "nodata"], "nodata"),
        ("malformed IDX files", lambda f: ["compress", "--model", "lenet-300-100", "--data-dir", f["bad_idx"]], "idx"),
        ("energy table missing", lambda f: ["energy", f["archive"], "--energy-table", f["dir"] / "e.toml"],
         "no such energy table"),
        ("energy table value", lambda f: ["energy", f["archive"], "--energy-table", f["bad_energy"]], "pJ = -1"),
        ("area override value", lambda f: ["energy", f["archive"], "--energy-table", f["bad_area"]], "um2 = 0"),
        ("archive layer", lambda f: ["verilog", f["archive"], "--archive-layer", "fc9"], "fc1, fc2"),
        ("synth target", lambda f: ["synth", "--target", "asic"], "--target asic"),
        ("sweep file", lambda f: ["dse", f["bad_sweep"]], "alex-77"),
        ("sweep missing", lambda f: ["dse", f["dir"] / "none.toml"], "no such sweep file"),
        ("--jobs", lambda f: ["dse", f["bad_sweep"], "--jobs", "0"], "--jobs 0"),
        ("--scheduler", lambda f: ["dse", f["bad_sweep"], "--scheduler", "http://x"], "--scheduler http://x"),
        ("report without archive", lambda f: ["report"], "ARCHIVE"),
        *_more_cases(),
    ]


def _more_cases():
    """Every subcommand x bad archive, weights, inputs, configs, flags and output folders."""
    cases = []
    archive_runs = (("inspect", []), ("simulate", []), ("energy", []), ("report", []), ("verilog", []))
    for key, fragment in (("zero_layers", "zero_layers.dcz"), ("zero_rows", "zero_rows.dcz"), ("truncated", "truncated"),
                          ("flipped", "corrupted"), ("not_archive", "not a dcsim archive")):
        for cmd, extra in archive_runs:
            cases.append((f"{key} archive, {cmd}", lambda f, c=cmd, k=key, e=extra: [c, f[k], *e], fragment))
    for cmd in ("inspect", "energy", "report", "verilog"):
        cases.append((f"missing archive, {cmd}", lambda f, c=cmd: [c, f["dir"] / "none.dcz"], "none.dcz"))
    for cmd in ("inspect", "simulate"):
        cases.append((f"archive is a folder, {cmd}", lambda f, c=cmd: [c, f["dir"]], str("inputs")))
    for key, fragment in (
            ("empty_npz", "empty .npz"), ("npy_weights", "a single array"), ("txt_member", "'fc1.txt' is not a .npy"),
            ("bad_crc", "corrupted .npz"), ("zip_truncated", "zip_truncated.npz"),
            ("nan_bias", "bias 'fc1' holds NaN"), ("inf_bias", "bias 'fc1' holds NaN or inf"),
            ("inf_weight", "array 'fc1' holds NaN or inf"), ("huge_weight", "array 'fc1' holds a value of magnitude"),
            ("huge_bias", "bias 'fc1' holds a value of magnitude"),
            ("unchained_fc", "'fc2' takes 30 inputs but the layer before it, 'fc1', has 40 outputs"),
            ("unchained_conv", "'conv2' takes 3 input channels"), ("conv_fc_size", "not a multiple of the 4"),
            ("fc_then_conv", "conv layer 'conv1' follows fc layer 'fc1'"), ("complex_weight", "complex64"),
            ("int_weight", "int32"), ("complex_bias", "a bias must be real"), ("bias_shape", "expected (4,)"),
            ("orphan_bias", "'fc9' has no matching weight"), ("empty_weight", "(0, 4)"),
            ("only_bias", "no weight arrays"), ("weights_1d", "(4,)"), ("not_archive", "notes.txt")):
        cases.append((f"weights {key}", lambda f, k=key: ["compress", "--weights", f[k]], fragment))
    cases += [
        ("weights folder", lambda f: ["compress", "--weights", f["dir"]], "is a folder"),
        ("conv then fc, wrong input size", lambda f: ["compress", "--weights", f["conv36"], "--input-shape", "1,6,6"],
         "fc1 takes 36 inputs per product; it is given 64"),
        ("conv kernel larger than the input", lambda f: ["compress", "--weights", f["conv36"], "--input-shape",
                                                         "1,2,2"], "layer 'conv1' does not fit its input"),
        ("input shape of fc weights", lambda f: ["compress", "--weights", f["weights"], "--input-shape", "1,8,9"],
         "72 values"),
        ("input shape zero", lambda f: ["compress", "--weights", f["weights"], "--input-shape", "0,64"],
         "--input-shape 0,64"),
        ("input shape with --model", lambda f: ["compress", "--model", "lenet-5", "--input-shape", "1,28,28"],
         "apply to --weights and --onnx"),
        ("accuracy drop range", lambda f: ["compress", "--weights", f["weights"], "--max-accuracy-drop", "200"],
         "--max-accuracy-drop 200"),
        ("sensitivity without eval data", lambda f: ["compress", "--weights", f["weights"], "--sensitivity"],
         "give --eval-data too"),
        ("compress config bits", lambda f: ["compress", "--weights", f["weights"], "--config", f["bad_bits"]],
         "conv_bits = 0"),
        ("compress config float", lambda f: ["compress", "--weights", f["weights"], "--config", f["bad_float"]],
         "clock_mhz = -5.0"),
        ("inputs complex", lambda f: ["simulate", f["archive"], "--inputs", f["x_complex"]], "complex"),
        ("inputs complex npz", lambda f: ["energy", f["archive"], "--inputs", f["xy_complex"]], "complex"),
        ("inputs folder", lambda f: ["simulate", f["archive"], "--inputs", f["dir"]], "is a folder"),
        ("inputs NaN, energy", lambda f: ["energy", f["archive"], "--inputs", f["x_nan"]], "NaN"),
        ("inputs shape, report", lambda f: ["report", f["archive"], "--inputs", f["x_shape"]], "(3, 63)"),
        ("inputs shape, verilog", lambda f: ["verilog", f["archive"], "--inputs", f["x_shape"]], "(3, 63)"),
        ("eval data complex", lambda f: ["compress", "--weights", f["weights"], "--eval-data", f["xy_complex"]],
         "complex"),
        ("--layer empty, simulate", lambda f: ["simulate", "--layer", ""], "--layer '': no layer named"),
        ("--layer empty, energy", lambda f: ["energy", "--layer", ""], "--layer '': no layer named"),
        ("--layer empty, verilog", lambda f: ["verilog", "--layer", ""], "--layer '': no layer named"),
        ("--layer commas", lambda f: ["simulate", "--layer", " , "], "no layer named"),
        ("--layer all and more", lambda f: ["simulate", "--layer", "all,alex-8"], "'all' cannot be combined"),
        ("--layer two for verilog", lambda f: ["verilog", "--layer", "alex-8,nt-we"], "give one benchmark layer"),
        ("--seed negative, simulate", lambda f: ["simulate", "--layer", "alex-8", "--seed", "-1"], "--seed -1"),
        ("--seed negative, energy", lambda f: ["energy", "--layer", "alex-8", "--seed", "-2"], "--seed -2"),
        ("--seed negative, verilog", lambda f: ["verilog", "--layer", "alex-8", "--seed", "-1"], "--seed -1"),
        ("--seed negative, synth", lambda f: ["synth", "--target", "ice40", "--seed", "-1"], "--seed -1"),
        ("--count negative", lambda f: ["energy", f["archive"], "--inputs", f["x"], "--count", "-1"], "--count -1"),
        ("--count with --layer", lambda f: ["simulate", "--layer", "alex-8", "--count", "2"], "--inputs and --count"),
        ("neither archive nor --layer", lambda f: ["simulate"], "exactly one of ARCHIVE"),
        ("neither archive nor --layer, verilog", lambda f: ["verilog"], "exactly one of ARCHIVE"),
        ("--pes, verilog", lambda f: ["verilog", "--layer", "alex-8", "--pes", "-3"], "n_pe = -3"),
        ("--pes, synth", lambda f: ["synth", "--target", "ice40", "--pes", "0"], "n_pe = 0"),
        ("--fifo, simulate", lambda f: ["simulate", "--layer", "alex-8", "--fifo", "0"], "fifo_depth = 0"),
        ("--tech, report", lambda f: ["report", f["archive"], "--tech", "1nm"], "tech_node = 1"),
        ("config, verilog", lambda f: ["verilog", "--layer", "alex-8", "--config", f["bad_key"]], "n_pes"),
        ("config, synth", lambda f: ["synth", "--target", "ice40", "--config", f["bad_toml"]], "not valid TOML"),
        ("config, report", lambda f: ["report", f["archive"], "--config", f["bad_kind"]], "kind = 'tpu'"),
        ("config, inspect", lambda f: ["inspect", f["archive"], "--config", f["bad_table"]], "[acel]"),
        ("config float, energy", lambda f: ["energy", "--layer", "alex-8", "--config", f["bad_float"]],
         "clock_mhz = -5.0"),
        ("energy table, report", lambda f: ["report", f["archive"], "--energy-table", f["bad_energy"]], "pJ = -1"),
        ("energy table TOML", lambda f: ["energy", "--layer", "alex-8", "--energy-table", f["bad_toml"]],
         "not valid TOML"),
        ("pointer SRAM, simulate archive", lambda f: ["simulate", f["archive"], "--inputs", f["x"], "--config",
                                                      f["tiny_ptr"]], "column pointers"),
        ("pointer SRAM, simulate layer", lambda f: ["simulate", "--layer", "alex-8", "--config", f["tiny_ptr"]],
         "column pointers"),
        ("pointer SRAM, verilog", lambda f: ["verilog", f["archive"], "--config", f["tiny_ptr"], "--inputs", f["x"]],
         "column pointers"),
        ("sparse-matrix SRAM, simulate", lambda f: ["simulate", f["archive"], "--inputs", f["x"], "--config",
                                                    f["tiny_spmat"]], "sparse-matrix SRAM holds"),
        ("sparse-matrix SRAM, verilog", lambda f: ["verilog", "--layer", "nt-we", "--config", f["tiny_spmat"]],
         "sparse-matrix SRAM holds"),
        ("sweep without workloads", lambda f: ["dse", f["empty_sweep"]], "workloads"),
        ("sweep folder", lambda f: ["dse", f["dir"]], "is a folder"),
        ("sweep key", lambda f: ["dse", f["bad_sweep_axis"]], "unknown key 'axes'"),
        ("synth target, xilinx typo", lambda f: ["synth", "--target", "xilinx7"], "--target xilinx7"),
    ]
    # --out: a file, a path under a file, an existing folder that cannot be written
    for cmd, argv in (("compress", lambda f: ["compress", "--weights", f["weights"]]),
                      ("simulate", lambda f: ["simulate", "--layer", "nt-we"]),
                      ("energy", lambda f: ["energy", "--layer", "nt-we"]),
                      ("report", lambda f: ["report", f["archive"], "--inputs", f["x"]]),
                      ("verilog", lambda f: ["verilog", "--layer", "nt-we", "--pes", "2"]),
                      ("synth", lambda f: ["synth", "--target", "ice40"])):
        cases += [
            (f"--out is a file, {cmd}", lambda f, a=argv: [*a(f), "--out", f["a_file"]], "exists and is not a folder"),
            (f"--out under a file, {cmd}", lambda f, a=argv: [*a(f), "--out", f["a_file"] / "sub"],
             "a_file is a file, not a folder"),
            (f"--out not writable, {cmd}", lambda f, a=argv: [*a(f), "--out", f["ro"]], "is not writable"),
        ]
    cases += [
        ("--out not creatable, compress", lambda f: ["compress", "--weights", f["weights"], "--out", f["ro"] / "new"],
         "is not writable"),
        ("recipe --out folder", lambda f: ["recipe", "lenet-5", "--out", f["dir"]], "is a folder"),
        ("recipe --out under a file", lambda f: ["recipe", "lenet-5", "--out", f["a_file"] / "r.toml"],
         "a_file is a file, not a folder"),
        ("recipe --out not writable", lambda f: ["recipe", "lenet-5", "--out", f["ro"] / "r.toml"], "not writable"),
        ("recipe --out not creatable", lambda f: ["recipe", "lenet-300-100", "--out", f["ro"] / "a" / "r.toml"],
         "not writable"),
    ]
    return cases


# the commands that write into --out (the others are given none)
_WRITES = {"compress", "simulate", "energy", "report", "verilog", "synth", "dse"}
_NEEDS_OUT = {"compress", "report", "verilog", "synth"}


@pytest.mark.parametrize("build, fragment", [c[1:] for c in _cases()], ids=[c[0] for c in _cases()])
def test_bad_input_gives_one_line_exit_2_and_writes_nothing(files, tmp_path, capsys, build, fragment):
    raw = build(files)
    if any(a is None for a in raw) or (files["ro"] is None and "not writable" in fragment):
        pytest.skip("no folder this process cannot write into")
    argv = [str(a) for a in raw]
    out = tmp_path / "out"
    if argv[0] in _WRITES and "--out" not in argv:
        argv += ["--out", str(out)]
    if argv[0] not in ("inspect", "dse", "synth", "recipe"):
        argv.append("--quiet")
    before = sorted(str(q) for q in files["dir"].rglob("*"))
    rc = main(argv)
    err = capsys.readouterr().err
    lines = [l for l in err.splitlines() if l.startswith("dcsim: ")]
    assert rc == 2, err
    assert len(lines) == 1 and lines[0].startswith("dcsim: error: "), err
    assert fragment in lines[0], lines[0]
    assert "Traceback" not in err
    assert not out.exists(), "nothing is written for a bad input, not even the folder"
    assert sorted(str(q) for q in files["dir"].rglob("*")) == before, "nothing is written next to the inputs"


def test_the_table_is_large_and_its_ids_unique():
    ids = [c[0] for c in _cases()]
    assert len(ids) >= 130 and len(set(ids)) == len(ids)


def test_argparse_errors_are_one_line_and_exit_2(capsys):
    with pytest.raises(SystemExit) as e:
        main(["compress", "--model", "alexnet", "--out", "x"])
    assert e.value.code == 2
    assert "invalid choice: 'alexnet'" in capsys.readouterr().err


def _run(args, **env):
    import os
    return subprocess.run([sys.executable, "-m", "dcsim", *map(str, args)], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT), **env})


def test_in_a_real_process_no_traceback(files):
    """The same boundary in a process of its own: the conv archive that once gave a traceback, and a
    plugin module that does not import."""
    for args, env, fragment in (
            (["simulate", files["conv_archive"], "--quiet"], {}, "compress it again with --input-shape"),
            (["simulate", "--layer", "alex-8"], {"DCSIM_PLUGINS": "no_such_plugin_module"}, "no_such_plugin_module")):
        r = _run(args, **env)
        assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
        assert r.stderr.count("dcsim: error:") == 1 and fragment in r.stderr


def test_a_closed_pipe_is_not_a_traceback(files):
    """`dcsim inspect ARCHIVE | true`: the reader is gone before dcsim writes; dcsim stops quietly."""
    import os
    import shlex

    cmd = f"{shlex.quote(sys.executable)} -m dcsim inspect {shlex.quote(str(files['archive']))} | true"
    r = subprocess.run(["bash", "-c", cmd + " >/dev/null"], capture_output=True, text=True, cwd=ROOT,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert "Traceback" not in r.stderr and "BrokenPipe" not in r.stderr, r.stderr


@pytest.mark.parametrize("argv, fragment", [
    (lambda f: ["simulate", "--layer", "nt-we", "--structure", f["archive"] + ":fc9"], "its layers are fc1, fc2"),
    (lambda f: ["simulate", "--layer", "nt-we", "--structure", f["dir"] + "/missing.dcz:fc1"], "cannot read"),
    (lambda f: ["simulate", "--layer", "nt-we", "--structure", f["not_archive"] + ":fc1"], "not a dcsim archive"),
    (lambda f: ["simulate", "--layer", "nt-we", "--structure", f["archive"]], "use ARCHIVE:LAYER"),
    (lambda f: ["simulate", "--structure", f["archive"] + ":fc1"], "--structure needs --layer"),
    (lambda f: ["simulate", f["archive"], "--structure", f["archive"] + ":fc1"], "--structure needs --layer"),
    (lambda f: ["energy", "--layer", "nt-we", "--structure", f["archive"] + ":fc9"], "its layers are fc1, fc2"),
], ids=["unknown-layer", "missing-file", "not-an-archive", "no-layer-part", "without-layer", "with-archive",
        "energy-unknown-layer"])
def test_structure_errors_are_one_line_and_exit_2(files, tmp_path, capsys, argv, fragment):
    f = {k: str(v) for k, v in files.items() if v is not None}
    out = tmp_path / "out"
    rc = main([*argv(f), "--out", str(out), "--quiet"])
    err = capsys.readouterr().err
    lines = [l for l in err.splitlines() if l.startswith("dcsim: ")]
    assert rc == 2 and len(lines) == 1 and lines[0].startswith("dcsim: error: --structure"), err
    assert fragment in lines[0] and "Traceback" not in err
    assert not out.exists()


def test_structure_from_a_conv_archive_runs(files, tmp_path, capsys):
    """--structure with an fc and a conv layer (its im2col matrix): the run records the structure."""
    import json

    for layer in ("fc1", "conv1"):
        src = files["archive"] if layer == "fc1" else files["conv_archive"]
        out = tmp_path / layer
        assert main(["simulate", "--layer", "nt-we", "--structure", f"{src}:{layer}", "--out", str(out),
                     "--quiet"]) == 0
        doc = json.loads((out / "sim.json").read_text())
        assert doc["structure"] == f"{src}:{layer}"
    capsys.readouterr()
