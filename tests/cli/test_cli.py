"""The edgegru command: help, the whole chain, and one clear line for every bad input."""

from __future__ import annotations

import os
import subprocess
import sys
from itertools import pairwise

import pytest

from edgegru.cli.main import main
from edgegru.nn.model import Model
from edgegru.nn.synthetic import random_model
from tests.helpers import FIXTURES, ROOT, make_qmodel, rewrite_meta

COMMANDS = [
    "demo",
    "train",
    "search",
    "quantize",
    "export",
    "verify",
    "report",
    "run",
    "engine",
    "import",
    "info",
    "pi",
    "bench",
    "example",
]


def edgegru(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "edgegru.cli", *args], capture_output=True, text=True, cwd=cwd
    )


def test_help_lists_every_command_with_one_line():
    out = edgegru("--help").stdout
    for command in COMMANDS:
        assert any(line.strip().startswith(command + " ") for line in out.splitlines()), command
    for command in COMMANDS:
        sub = edgegru(command, "--help")
        assert sub.returncode == 0 and "examples:" in sub.stdout, command


def _bad(capsys, *args: str) -> str:
    assert main(list(args)) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("edgegru: error: ") and "\n" not in err and "Traceback" not in err
    return err


TS_HEAD = "@problemName t\n@timeStamps false\n@univariate true\n@classLabel true a b\n@data\n"
BAD_INPUTS = {
    "missing.ts": None,
    "data.xyz": "1,2,3\n",
    "channels.ts": "@problemName t\n@timeStamps false\n@univariate false\n@dimensions 2\n"
    "@classLabel true a b\n@data\n1,2,3:4,5,6:a\n1,2,3:a\n",
    "nan.ts": TS_HEAD + "1,NaN,3:a\n",
    "label.ts": TS_HEAD + "1,2,3:c\n",
    "empty.ts": TS_HEAD,
}


@pytest.mark.parametrize("name", sorted(BAD_INPUTS))
def test_bad_training_data_leaves_no_model(tmp_path, capsys, name):
    path = tmp_path / name
    if BAD_INPUTS[name] is not None:
        path.write_text(BAD_INPUTS[name])
    err = _bad(capsys, "train", str(path), "-o", str(tmp_path / "m.egru"), "--quiet")
    assert name in err
    assert not (tmp_path / "m.egru").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [name] if BAD_INPUTS[name] is not None else []
    )


def test_model_from_a_newer_version(tmp_path, capsys):
    path = tmp_path / "m.npz"
    random_model(2, [3], "reset_after").save(path)
    rewrite_meta(path, format_version=7)
    err = _bad(capsys, "info", str(path))
    assert "newer edgegru" in err


def test_whole_chain_from_the_cli(tmp_path, capsys):
    """train -> quantize -> export (c99, cortex-m, onnx, tflite) -> verify, on a built-in task."""
    m, q = str(tmp_path / "m.egru"), str(tmp_path / "q.egru")
    args = ["--builtin", "gestures", "--samples", "200"]
    assert main(["train", *args, "--hidden", "8", "--epochs", "3", "--quiet", "-o", m]) == 0
    assert Model.load(m).hidden_sizes == [8]
    assert main(["quantize", m, *args, "-o", q]) == 0
    assert "int8" in capsys.readouterr().out
    assert main(["export", q, "--target", "c99", "-o", str(tmp_path / "c")]) == 0
    assert main(["export", q, "--target", "cortex-m", "--cpu", "cortex-m7", "-o", str(tmp_path / "m7")]) == 0
    assert (tmp_path / "m7" / "model_footprint.json").exists()
    assert main(["export", m, "--target", "onnx", "-o", str(tmp_path / "m.onnx")]) == 0
    assert main(["export", m, "--target", "tflite", "-o", str(tmp_path / "m.tflite")]) == 0
    assert main(["verify", q, "--target", "host", "--sequences", "5", "--steps", "20"]) == 0
    out = capsys.readouterr().out
    assert "5 sequences, 100 steps, 800 state values and 500 outputs compared, 0 mismatches" in out
    # options and positionals in any order: the data file after the options is found
    csv = tmp_path / "steps.csv"
    csv.write_text(
        "sequence,step,a,b,c,label\n" + "".join(f"0,{t},0.1,0.2,{t / 10},rest\n" for t in range(12))
    )
    assert main(["verify", q, "--target", "host", str(csv)]) == 0
    # trained on gestures of up to 80 samples, the model takes frames of 2: 12 samples, 6 steps
    assert Model.load(m).frame == 2
    assert (
        "1 sequences, 6 steps, 48 state values and 30 outputs compared, 0 mismatches"
        in capsys.readouterr().out
    )
    # the wrong kind of model for a stage is refused by name
    err = _bad(capsys, "export", m, "--target", "c99", "-o", str(tmp_path / "x"))
    assert "a float model; --target c99 needs a quantised one" in err
    err = _bad(capsys, "verify", q, "--target", "host", "--builtin", "adding")
    assert "2 channels, the model takes 6 inputs per step (frames of 2 samples x 3)" in err


def test_training_progress_in_a_log(tmp_path, capsys):
    """Not on a terminal (capsys, like a CI log), training reports plain lines, not a redrawn bar."""
    m = str(tmp_path / "m.egru")
    args = ["train", "--builtin", "gestures", "--samples", "60", "--hidden", "4", "--epochs", "20", "-o", m]
    assert main([*args, "--val-fraction", "0.2"]) == 0
    err = capsys.readouterr().err
    assert "\r" not in err
    epochs = [line for line in err.splitlines() if line.startswith("train: epoch ")]
    assert [line.split()[2] for line in epochs] == [f"{k}/20" for k in range(2, 21, 2)], err
    assert all("loss=" in line and "val_accuracy=" in line for line in epochs)
    # without a split (a classifier's default), the watched figures are the training cases'
    assert main(args) == 0
    err = capsys.readouterr().err
    epochs = [line for line in err.splitlines() if line.startswith("train: epoch ")]
    assert epochs and all("fit_accuracy=" in line and "val_" not in line for line in epochs), err


def test_patience_zero_trains_while_validation_improves(tmp_path, capsys):
    """--patience 0 stops at the first epoch without a better validation loss, not before."""
    from edgegru.data import builtin_dataset
    from edgegru.nn.train import TrainConfig, train

    ds = builtin_dataset("gestures", 60, seed=0)
    result = train(ds, TrainConfig(hidden=4, epochs=8, patience=0, seed=0, val_fraction=0.2), progress=False)
    losses = [row["val_loss"] for row in result.history]
    assert len(losses) >= 2 and all(b < a for a, b in pairwise(losses[:-1]))
    assert len(losses) == 8 or losses[-1] >= min(losses[:-1])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["export", "M", "--target", "c99", "--cpu", "cortex-m0plus", "-o", "c"],
            "--cpu applies to --target cortex-m",
        ),
        (
            ["export", "M", "--target", "onnx", "--prefix", "x", "-o", "m.onnx"],
            "--prefix applies to --target c99",
        ),
        (
            ["export", "M", "--target", "onnx", "--dtype", "int8", "-o", "m.onnx"],
            "--dtype applies to --target tflite",
        ),
        (["export", "Q", "--target", "c99", "--flash-budget", "9", "-o", "c"], "--flash-budget applies to"),
        (["verify", "Q", "--target", "host", "--emulate"], "--emulate and --cpu apply to --target cortex-m"),
        (["verify", "Q", "--builtin", "gestures", "--sequences", "5"], "with data they do not apply"),
        (["train", "--builtin", "gestures", "--test", "t.csv"], "--test FILE goes with a data file"),
        (["train", "--builtin", "gestures", "--lr", "nan"], "--lr nan: expected a finite number > 0"),
        (["train", "--builtin", "gestures", "--hidden", "100000"], "--hidden 100000: expected at most 512"),
        (["train", "--builtin", "gestures", "-o", "nodir/m.egru"], "nodir does not exist"),
    ],
)
def test_options_that_do_not_apply_or_make_no_sense_are_refused(args, message, tmp_path, capsys):
    """An option the chosen target or data ignores is an error, not silently dropped; nonsense
    values are refused before any work."""
    model, quantised = tmp_path / "m.egru", tmp_path / "q.egru"
    random_model(3, [4], "reset_after", "classification", output_size=5).save(model)
    make_qmodel(3, [4], "reset_after", "classification").save(quantised)
    files = {
        "M": str(model),
        "Q": str(quantised),
        **{a: str(tmp_path / a) for a in ("c", "m.onnx", "nodir/m.egru")},
    }
    args = [files.get(a, a) for a in args]
    err = _bad(capsys, *args)
    assert message in err


def test_pi_subcommands_parse(capsys):
    """`edgegru pi bench` has subcommands of its own; its options are checked (no Pi image is
    built for a refused value)."""
    err = _bad(capsys, "pi", "bench", "--steps", "0")
    assert "steps 0: expected at least 10" in err


def test_demo_leaves_no_directory_behind_when_refused(tmp_path, capsys):
    out = tmp_path / "dd"
    err = _bad(capsys, "demo", "--builtin", "nope", "--out", str(out))
    assert "builtin task 'nope'" in err and not out.exists()


def test_operating_system_refusals_are_one_line(capsys):
    from edgegru.core.errors import run_reporting

    def unreadable(_args):
        raise PermissionError(13, "Permission denied", "data.csv")

    assert run_reporting(unreadable, None) == 2
    assert capsys.readouterr().err == "edgegru: error: data.csv: Permission denied\n"


def test_quantize_numbers_labels_by_the_models_classes(tmp_path, capsys):
    """A data file's labels are the model's classes, in the model's order; a label the model
    does not know is refused (they used to be renumbered in sorted order)."""
    model = tmp_path / "m.egru"
    trained = random_model(3, [4], "reset_after", "classification", output_size=2)
    trained.head.class_names = ["zeta", "alpha"]
    trained.save(model)
    rows = "".join(f"{s},{t},0.1,0.2,0.3,{'zeta' if s else 'alpha'}\n" for s in range(2) for t in range(5))
    (tmp_path / "d.csv").write_text("sequence,step,a,b,c,label\n" + rows)
    assert main(["quantize", str(model), str(tmp_path / "d.csv"), "-o", str(tmp_path / "q.egru")]) == 0
    assert "calibration accuracy" in capsys.readouterr().out
    (tmp_path / "e.csv").write_text("sequence,step,a,b,c,label\n" + rows.replace("zeta", "omega"))
    err = _bad(capsys, "quantize", str(model), str(tmp_path / "e.csv"), "-o", str(tmp_path / "q2.egru"))
    assert "label 'omega' is not one of the classes ['zeta', 'alpha']" in err


# A base install: `pip install edgegru` without extras -------------------------------------

# Every optional dependency of pyproject.toml's extras (and LiteRT's fallback interpreter),
# refused at import as if it were not installed.
EXTRA_MODULES = ("torch", "onnx", "onnxruntime", "ai_edge_litert", "flatbuffers", "unicorn", "tflite_runtime")
BASE_INSTALL = f"""\
import sys

class NotInstalled:
    @staticmethod
    def find_spec(name, path=None, target=None):
        if name.partition(".")[0] in {EXTRA_MODULES!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None

sys.meta_path.insert(0, NotInstalled)
from edgegru.cli.main import main
sys.exit(main(sys.argv[1:]))
"""


def edgegru_base(*args: str, cwd=None) -> subprocess.CompletedProcess:
    """The edgegru command of this checkout as a base install runs it: none of the extras importable."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    command = [sys.executable, "-c", BASE_INSTALL, *args]
    return subprocess.run(command, capture_output=True, text=True, cwd=cwd, env=env, timeout=300)


def test_help_and_version_work_on_a_base_install():
    assert edgegru_base("--version").stdout.startswith("edgegru ")
    for args in (["--help"], *([c, "--help"] for c in COMMANDS), ["pi", "bench", "--help"]):
        out = edgegru_base(*args)
        assert out.returncode == 0 and out.stdout.startswith("usage: edgegru") and not out.stderr, args


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "--builtin", "gestures", "-o", "m.egru"],
         "edgegru train needs torch, which is not installed: pip install 'edgegru[train]'"),
        (["demo", "--out", "demo"],
         "edgegru demo needs torch, which is not installed: pip install 'edgegru[train]'"),
        (["import", "gru.onnx"],
         "edgegru import needs onnx, which is not installed: pip install 'edgegru[onnx]'"),
        (["export", "M", "--target", "onnx", "-o", "m.onnx"],
         "edgegru export needs onnx, which is not installed: pip install 'edgegru[onnx]'"),
        (["export", "M", "--target", "tflite", "-o", "m.tflite"], "pip install 'edgegru[tflite]'"),
    ],
)  # fmt: skip
def test_a_command_needing_a_missing_extra_names_it_in_one_line(tmp_path, args, message):
    random_model(3, [4], "reset_after", "classification").save(tmp_path / "M")
    out = edgegru_base(*args, cwd=tmp_path)
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.startswith("edgegru: error: ") and out.stderr.count("\n") == 1, out.stderr
    assert message in out.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["M"]  # nothing written


def test_c_export_verify_and_info_work_on_a_base_install(tmp_path):
    make_qmodel(3, [4], "reset_after", "classification").save(tmp_path / "q.egru")
    for args in (
        ["info", "q.egru"],
        ["export", "q.egru", "--target", "c99", "-o", "c"],
        ["verify", "q.egru", "--target", "host", "--sequences", "2", "--steps", "5"],
    ):
        out = edgegru_base(*args, cwd=tmp_path)
        assert out.returncode == 0, (args, out.stderr)
    assert "0 mismatches" in out.stdout
    assert (tmp_path / "c" / "model.c").is_file()


EXPORTERS = FIXTURES / "exporters"


@pytest.mark.parametrize(
    ("name", "variant", "head"),
    [
        ("keras3_ra_norm_last_softmax.keras", "reset_after", "classification"),
        ("tfkeras_rb_norm_last_linear.h5", "reset_before", "regression"),
        ("tf2onnx_ra_td_linear.onnx", "reset_after", "regression"),
    ],
)
def test_import_tells_keras_from_onnx_by_content(tmp_path, name, variant, head):
    source = tmp_path / "model.bin"  # no telling suffix: the content decides
    source.write_bytes((EXPORTERS / name).read_bytes())
    out = edgegru("import", "model.bin", "-o", "m.egru", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.rstrip().endswith("wrote m.egru")
    imported = Model.load(tmp_path / "m.egru")
    assert imported.variant == variant and imported.head is not None and imported.head.kind == head


def test_import_of_a_file_that_is_neither_keras_nor_onnx_is_one_line(tmp_path):
    (tmp_path / "notes.txt").write_text("a GRU, honestly\n")
    out = edgegru("import", "notes.txt", "-o", "m.egru", cwd=tmp_path)
    assert out.returncode == 2 and out.stderr.startswith("edgegru: error: ") and out.stderr.count("\n") == 1
    assert "notes.txt" in out.stderr and not (tmp_path / "m.egru").exists()


def test_a_reader_that_goes_away_ends_the_command_quietly(tmp_path):
    """`edgegru info MODEL | head -1`: once the pipe's reader has gone, the command stops with
    exit 0 and nothing on stderr, as Unix tools do, instead of an error line."""
    import subprocess
    import sys

    from edgegru.nn.synthetic import random_model

    random_model(3, [4], "reset_after", "classification").save(tmp_path / "m.egru")
    proc = subprocess.Popen(
        [sys.executable, "-m", "edgegru.cli", "info", str(tmp_path / "m.egru")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # gone before Python has even started: its first write fails
    assert proc.wait(timeout=60) == 0
    assert proc.stderr.read() == b""


def test_export_budgets_take_sizes_as_search_does():
    """`export --flash-budget 16K` means what `search --flash 16K` means; a bad size is one line."""
    from edgegru.cli.main import parse_args

    command = ["export", "q.egru", "--target", "cortex-m", "-o", "c"]
    args = parse_args([*command, "--flash-budget", "16K", "--ram-budget", "2048"])
    assert (args.flash_budget, args.ram_budget) == (16384, 2048)
    with pytest.raises(SystemExit):
        parse_args([*command, "--flash-budget", "lots"])


def test_demo_runs_the_whole_chain_bit_exact(tmp_path, capsys):
    """The README's first command: the built-in task's model steps once per frame of samples,
    and the C it exports matches the integer reference on the host and under QEMU."""
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--epochs", "3"]) == 0
    summary = capsys.readouterr().out.split("\nsummary\n")[1]
    verified = [line for line in summary.splitlines() if line.strip().startswith("verified")]
    assert len(verified) == 3, summary
    assert all(line.endswith(", 0 mismatches") for line in verified), summary
    assert "cortex-m4 on qemu" in verified[2]
    assert "(frames of 2 x 3)" in summary  # the case that broke it: frames of several samples
    assert {p.name for p in out.iterdir()} == {"model.egru", "model-int8.egru", "c-cortex-m4"}
