"""``edgegru train``: its flags are TrainConfig's fields with TrainConfig's defaults, it says
what training did, and it refuses bad values of the recipe's flags by name."""

from __future__ import annotations

import re
from dataclasses import asdict, fields

import pytest

from edgegru.cli.main import main, parse_args
from edgegru.nn.model import Model
from edgegru.nn.train_config import TrainConfig


def test_every_field_is_a_flag_with_the_api_default():
    args = parse_args(["train", "data.ts"])
    for f in fields(TrainConfig):
        assert getattr(args, f.name) == getattr(TrainConfig(), f.name), f.name
    assert TrainConfig(**{f.name: getattr(args, f.name) for f in fields(TrainConfig)}) == TrainConfig()


def test_flags_reach_the_config():
    args = parse_args(["train", "d.ts", "--no-refit", "--no-chrono", "--schedule", "constant",
                       "--time-warp", "0.3", "--crop", "0.2", "--label-smoothing", "0",
                       "--batch-size", "8", "--dropout", "0.25"])  # fmt: skip
    config = TrainConfig(**{f.name: getattr(args, f.name) for f in fields(TrainConfig)})
    changed = {k: v for k, v in asdict(config).items() if v != getattr(TrainConfig(), k)}
    assert changed == {
        "refit": False,
        "chrono": False,
        "schedule": "constant",
        "time_warp": 0.3,
        "crop": 0.2,
        "label_smoothing": 0.0,
        "batch_size": 8,
        "dropout": 0.25,
    }


def test_train_prints_what_it_did(tmp_path, capsys):
    m = tmp_path / "m.egru"
    args = ["train", "--builtin", "gestures", "--samples", "48", "--hidden", "4", "--epochs", "3"]
    assert main([*args, "--val-fraction", "0.2", "--quiet", "-o", str(m)]) == 0
    out = capsys.readouterr().out
    found = re.search(
        r"^training: restored epoch (\d+) of 3 \(stopped: max epochs\), "
        r"then refit on all 48 cases for (\d+) epochs, [\d.]+ s$",
        out,
        re.MULTILINE,
    )
    assert found, out
    done = Model.load(m).metadata["training"]
    assert int(found[1]) == int(found[2]) == done["restored_epoch"]
    assert (done["epochs_run"], done["stop_reason"], done["refit_cases"]) == (3, "max epochs", 48)


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--jitter", "-1"], "--jitter -1.0: expected a finite number >= 0"),
        (["--magnitude-warp", "nan"], "--magnitude-warp nan: expected a finite number >= 0"),
        (["--label-smoothing", "1"], "--label-smoothing 1.0: expected 0 <= s < 1"),
        (["--warmup", "-2"], "--warmup -2: expected >= 0"),
        (["--layers", "9"], "--layers 9: expected at most 8 (the C generator's limit)"),
    ],
)
def test_bad_recipe_values_are_one_line_before_any_work(flags, message, tmp_path, capsys):
    """Checked before the data are read (the data file here does not exist) and nothing written."""
    m = tmp_path / "m.egru"
    assert main(["train", str(tmp_path / "absent.ts"), *flags, "--quiet", "-o", str(m)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"edgegru: error: {message}"
    assert not m.exists()


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--schedule", "step"], "argument --schedule: invalid choice: 'step'"),
        (["--refit", "yes"], "unrecognized arguments: yes"),
        (["--time-warp", "fast"], "argument --time-warp: invalid float value: 'fast'"),
    ],
)
def test_malformed_recipe_flags_are_usage_errors(flags, message, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["train", "data.ts", *flags, "-o", str(tmp_path / "m.egru")])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
