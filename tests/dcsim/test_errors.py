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
                       ("bad_quantizer", "[compress]\nquantizer = \"ternary\"\n"),
                       ("layer_typo", "[compress.layer_density]\nfc_1 = 0.05\n"),
                       ("bad_energy", "[actions.dram_per_bit]\npJ = -1\nsource = \"x\"\n"),
                       ("bad_sweep", "[sweep]\nworkloads = [\"eie:alex-77\"]\n")):
        f[name] = d / f"{name}.toml"
        f[name].write_text(text)
    f["bad_idx"] = d / "idx"
    f["bad_idx"].mkdir()
    for n in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        (f["bad_idx"] / n).write_bytes(b"\x00\x00\x08\x03" + b"\x00" * 7)
    f["binary"] = d / "binary.toml"
    f["binary"].write_bytes(b"\xff\xfe\x00")
    return f


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
         "quantizer = 'ternary' is not allowed"),
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
        ("archive layer", lambda f: ["verilog", f["archive"], "--archive-layer", "fc9"], "fc1, fc2"),
        ("synth target", lambda f: ["synth", "--target", "asic"], "--target asic"),
        ("sweep file", lambda f: ["dse", f["bad_sweep"]], "alex-77"),
        ("sweep missing", lambda f: ["dse", f["dir"] / "none.toml"], "no such sweep file"),
        ("--jobs", lambda f: ["dse", f["bad_sweep"], "--jobs", "0"], "--jobs 0"),
        ("--scheduler", lambda f: ["dse", f["bad_sweep"], "--scheduler", "http://x"], "--scheduler http://x"),
        ("report without archive", lambda f: ["report"], "ARCHIVE"),
    ]


# the commands that write into --out (the others are given none)
_WRITES = {"compress", "simulate", "energy", "report", "verilog", "synth", "dse"}
_NEEDS_OUT = {"compress", "report", "verilog", "synth"}


@pytest.mark.parametrize("build, fragment", [c[1:] for c in _cases()], ids=[c[0] for c in _cases()])
def test_bad_input_gives_one_line_exit_2_and_writes_nothing(files, tmp_path, capsys, build, fragment):
    argv = [str(a) for a in build(files)]
    out = tmp_path / "out"
    if argv[0] in _WRITES:
        argv += ["--out", str(out)]
    if argv[0] != "inspect" and argv[0] != "dse" and argv[0] != "synth":
        argv.append("--quiet")
    rc = main(argv)
    err = capsys.readouterr().err
    lines = [l for l in err.splitlines() if l.startswith("dcsim: ")]
    assert rc == 2, err
    assert len(lines) == 1 and lines[0].startswith("dcsim: error: "), err
    assert fragment in lines[0], lines[0]
    assert "Traceback" not in err
    assert not out.exists(), "nothing is written for a bad input, not even the folder"


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
