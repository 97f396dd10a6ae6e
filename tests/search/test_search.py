"""``edgegru search`` end to end on a tiny space: real training, real arm-none-eabi-gcc footprints,
real unicorn instruction counts, a real SQLite study (two processes on one file included)."""

from __future__ import annotations

import base64
import csv
import os
import shlex
import socket
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import optuna
import pytest
import unicorn  # noqa: F401  # the search counts instructions with it (the 'bench' extra)

from edgegru.cli.main import main
from edgegru.data import builtin_dataset
from edgegru.data.frames import model_input
from edgegru.nn.train import train
from edgegru.quant import calibrate, quantize
from edgegru.quant.calibrate import CLI_METHOD, CLI_PERCENTILE
from edgegru.quant.qmodel import QuantizedModel
from edgegru.search.budgets import Budgets
from edgegru.search.folds import fold_indices
from edgegru.search.space import Candidate, SearchSpace
from edgegru.search.storage import STUDY_NAME, open_study, study_identity
from edgegru.search.trial import deploy, shape_footprint, shape_model
from edgegru.targets.cortex_m.footprint import measure_footprint
from tests.helpers import SEARCH_DATA, SEARCH_SPACE

DATA = SEARCH_DATA
SPACE = [*SEARCH_SPACE, "--epochs", "1:2", "--folds", "2"]
CPU = "cortex-m4"


def _flash_of(hidden: int) -> int:
    """The flash of a gestures model of ``hidden`` units, measured: the tests' budget."""
    ds = builtin_dataset("gestures", 60, 0)
    return measure_footprint(shape_model(ds, [hidden], "reset_after", 16), CPU).flash


def _search(tmp: Path, storage: str, out: str, trials: int, *extra: str) -> int:
    return main(
        [
            "search",
            *DATA,
            *SPACE,
            "--cpu",
            CPU,
            "--trials",
            str(trials),
            "--storage",
            str(tmp / storage),
            "-o",
            str(tmp / out),
            *extra,
        ]
    )


def _study(path: Path):  # type: ignore[no-untyped-def]
    return optuna.load_study(study_name=STUDY_NAME, storage=f"sqlite:///{path}")


@pytest.fixture(scope="module")
def searched(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    """A 4-trial search with a flash budget between the space's smallest and largest model."""
    tmp = tmp_path_factory.mktemp("search")
    budget = _flash_of(6)
    assert _search(tmp, "a.db", "out", 4, "--flash", str(budget)) == 0
    return tmp, budget


def test_every_trial_is_recorded_with_its_own_measured_figures(searched: tuple[Path, int]) -> None:
    tmp, budget = searched
    trials = _study(tmp / "a.db").get_trials()
    assert len(trials) == 4
    fits = {t.number: t.user_attrs["flash"] <= budget for t in trials}
    assert set(fits.values()) == {True, False}, "the budget should split this seed's trials"
    for t in trials:
        assert t.constraints == {
            "flash": t.user_attrs["flash"] - budget
        }  # infeasible ones kept, with the figure
        if fits[t.number]:
            assert t.state.name == "COMPLETE"
            assert t.values == [
                t.user_attrs["val_score"],
                t.user_attrs["flash"],
                t.user_attrs["instructions"],
            ]
        else:  # its shape alone is over the budget: recorded untrained, as pruned
            assert t.state.name == "PRUNED" and "val_score" not in t.user_attrs
    # Deploy one feasible and one infeasible candidate: the feasible one gives the trial's model
    # again, and both measure on the core what the trial recorded (flash and RAM are the shape's).
    train_ds = builtin_dataset("gestures", 60, 0)
    test_ds = builtin_dataset("gestures", 15, 1000)
    for wanted in (True, False):
        t = next(t for t in trials if fits[t.number] is wanted)
        candidate = Candidate.from_dict(t.user_attrs["candidate"])
        again = deploy(train_ds, test_ds, candidate, Budgets(CPU)).deployed
        assert (again.flash, again.ram) == (
            t.user_attrs["flash"],
            t.user_attrs["ram"],
        )
        shape = shape_footprint(train_ds, candidate, CPU)
        assert (shape.flash, shape.ram) == (t.user_attrs["flash"], t.user_attrs["ram"])
        if wanted:
            assert again.model_hash == t.user_attrs["model_hash"]
            assert again.instructions == t.user_attrs["instructions"]


def test_outputs_are_the_chosen_feasible_trial_and_its_commands_rebuild_it(
    searched: tuple[Path, int], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tmp, budget = searched
    out = tmp / "out"
    trials = _study(tmp / "a.db").get_trials()
    qm = QuantizedModel.load(out / "model-int8.egru")
    chosen = [t for t in trials if t.user_attrs.get("model_hash") == qm.fingerprint()]
    assert chosen and chosen[0].user_attrs["flash"] <= budget
    best = max(t.user_attrs["val_score"] for t in trials if t.state.name == "COMPLETE")
    assert chosen[0].user_attrs["val_score"] == best
    rows = {int(r["trial"]): r for r in csv.DictReader((out / "trials.csv").open())}
    row = rows[chosen[0].number]
    assert [float(row["val_score_fold1"]), float(row["val_score_fold2"])] == chosen[0].user_attrs[
        "fold_scores"
    ]
    export = (out / "model_c" / "model_footprint.json").read_text()
    assert f'"flash_bytes": {chosen[0].user_attrs["flash"]}' in export
    assert (out / "pareto.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = (out / "report.html").read_text()
    plot = base64.b64encode((out / "pareto.png").read_bytes()).decode("ascii")
    assert "<h2>Search: the Pareto front</h2>" in page and plot in page
    assert "edgegru report: model-int8.egru on" in page and "rebuild trial" in page
    text = (out / "pareto.md").read_text()
    commands = [line.strip() for line in text.splitlines() if line.strip().startswith("edgegru ")]
    assert len(commands) == 2
    monkeypatch.chdir(tmp_path)
    for command in commands:
        assert main(shlex.split(command)[1:]) == 0
    assert QuantizedModel.load(tmp_path / "model-int8.egru").fingerprint() == qm.fingerprint()


def test_objective_is_the_pooled_score_of_the_out_of_fold_int8_models(searched: tuple[Path, int]) -> None:
    """Each fold's model trained and quantised here, its held-out cases predicted and counted: the
    chosen trial's objective is the accuracy over all of them, and its model none of these."""
    tmp, _ = searched
    deployed = QuantizedModel.load(tmp / "out" / "model-int8.egru")
    trial = next(
        t
        for t in _study(tmp / "a.db").get_trials()
        if t.user_attrs.get("model_hash") == deployed.fingerprint()
    )
    candidate = Candidate.from_dict(trial.user_attrs["candidate"])
    train_ds = builtin_dataset("gestures", 60, 0)
    config = replace(candidate.train_config(train_ds.task), frame=deployed.frame)
    correct, fold_scores, fold_hashes = 0, [], set()
    for held in fold_indices(train_ds, 2, candidate.seed):
        fit = train_ds.subset(np.setdiff1d(np.arange(train_ds.n), held))
        model = train(fit, config, progress=False).model
        qm = quantize(
            model, calibrate(model, fit.x, fit.lengths, CLI_METHOD, CLI_PERCENTILE), candidate.state_bits
        )
        cases = model_input(train_ds.subset(held), qm.frame, qm.input_size)
        right = qm.predict(cases.x, cases.lengths) == cases.y
        correct += int(right.sum())
        fold_scores.append(float(right.mean()))
        fold_hashes.add(qm.fingerprint())
    assert trial.user_attrs["val_score"] == correct / train_ds.n
    assert trial.user_attrs["fold_scores"] == fold_scores
    assert trial.user_attrs["model_hash"] not in fold_hashes  # the deployed model is the all-data one


def test_same_command_is_reproducible_and_continues_its_study(searched: tuple[Path, int]) -> None:
    tmp, budget = searched
    flash = ["--flash", str(budget)]
    assert _search(tmp, "b.db", "out-b", 3, *flash) == 0  # a new file: the same first trials
    assert _search(tmp, "b.db", "out-b", 4, *flash) == 0  # continued: the trial an uninterrupted run had
    first, again = _study(tmp / "a.db").get_trials(), _study(tmp / "b.db").get_trials()
    assert [t.number for t in again] == [0, 1, 2, 3]
    assert [t.params for t in first] == [t.params for t in again]
    assert [t.user_attrs.get("model_hash") for t in first] == [t.user_attrs.get("model_hash") for t in again]
    assert _search(tmp, "b.db", "out-b", 4, *flash) == 0  # complete: nothing more is run
    assert len(_study(tmp / "b.db").get_trials()) == 4


def test_two_processes_add_to_one_study_file(tmp_path: Path) -> None:
    command = [
        sys.executable,
        "-m",
        "edgegru.cli.main",
        "search",
        *DATA,
        *SPACE,
        "--cpu",
        CPU,
        "--trials",
        "6",
        "--storage",
        str(tmp_path / "shared.db"),
        "--quiet",
    ]
    procs = [
        subprocess.Popen(
            [*command, "-o", str(tmp_path / name)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for name in ("out1", "out2")
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err.decode()
    trials = _study(tmp_path / "shared.db").get_trials()
    assert len(trials) >= 4 and all(t.state.name == "COMPLETE" for t in trials)
    workers = {t.user_attrs["worker"].rpartition(":")[2] for t in trials}
    assert workers == {str(proc.pid) for proc in procs}  # each process ran some of them
    assert len({t.number for t in trials}) == len(trials)


def _error_line(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("edgegru: error: "), err
    return err[0]


def test_storage_of_another_dataset_or_budget_is_refused(searched: tuple[Path, int], capsys) -> None:  # type: ignore[no-untyped-def]
    tmp, budget = searched
    base = ["search", *SPACE, "--storage", str(tmp / "a.db"), "-o", str(tmp / "other")]
    line = _error_line(capsys, [*base, "--builtin", "gestures", "--samples", "70", "--flash", str(budget)])
    assert "a study of other training data" in line
    line = _error_line(capsys, [*base, *DATA, "--flash", str(budget + 1)])
    assert f"'flash' '{budget}' there, '{budget + 1}' here" in line
    line = _error_line(capsys, [*base, *DATA, "--flash", str(budget), "--folds", "3"])
    assert "a study of another search space ('folds' '2' there, '3' here)" in line
    not_a_study = tmp / "notes.db"
    not_a_study.write_text("my notes\n")
    line = _error_line(capsys, ["search", *DATA, *SPACE, "--storage", str(not_a_study), "-o", str(tmp / "x")])
    assert "not an SQLite database" in line and not_a_study.read_text() == "my notes\n"


def test_budget_no_model_can_meet_names_it_and_the_smallest_figure(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    smallest = _flash_of(4)
    line = _error_line(
        capsys,
        [
            "search",
            *DATA,
            *SPACE,
            "--flash",
            str(smallest - 1),
            "--storage",
            str(tmp_path / "s.db"),
            "-o",
            str(tmp_path / "o"),
        ],
    )
    assert f"--flash {smallest - 1} bytes: no model of the search space can meet it" in line
    assert f"measures {smallest} bytes on {CPU}" in line
    assert not (tmp_path / "s.db").exists() and not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    ("folds", "expected"),
    [("1", "--folds 1: expected K >= 2"), ("60", "--folds 60: expected 2 <= K <= ")],
)
def test_bad_folds_are_one_line_before_any_work(tmp_path: Path, capsys, folds: str, expected: str) -> None:  # type: ignore[no-untyped-def]
    argv = [
        "search",
        *DATA,
        *SPACE,
        "--folds",
        folds,
        "--storage",
        str(tmp_path / "s.db"),
        "-o",
        str(tmp_path / "o"),
    ]
    line = _error_line(capsys, argv)
    assert line.startswith(f"edgegru: error: {expected}")
    assert not (tmp_path / "s.db").exists() and not (tmp_path / "o").exists()


def test_core_without_a_counter_is_refused(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    line = _error_line(capsys, ["search", *DATA, "--cpu", "cortex-m55", "--storage", str(tmp_path / "s.db")])
    assert "instruction counting is not available for cortex-m55" in line


def test_ray_unreachable_is_one_line(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    line = _error_line(
        capsys,
        [
            "search",
            *DATA,
            *SPACE,
            "--ray",
            f"127.0.0.1:{port}",
            "--storage",
            str(tmp_path / "s.db"),
            "-o",
            str(tmp_path / "o"),
        ],
    )
    assert f"--ray 127.0.0.1:{port}: no Ray head answers there" in line
    assert not (tmp_path / "s.db").exists()


def test_ray_not_installed_is_one_line(tmp_path: Path) -> None:
    """A Python where ``import ray`` fails as it does without the extra."""
    code = (
        "import sys; sys.modules['ray'] = None\n"
        "from edgegru.cli.main import main; sys.exit(main(sys.argv[1:]))"
    )
    argv = [
        "search",
        *DATA,
        *SPACE,
        "--ray",
        "auto",
        "--storage",
        str(tmp_path / "s.db"),
        "-o",
        str(tmp_path / "o"),
    ]
    proc = subprocess.run(
        [sys.executable, "-c", code, *argv],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "RAY_ADDRESS": ""},
    )
    assert proc.returncode == 2
    assert (
        proc.stderr.strip()
        == "edgegru: error: edgegru search needs ray, which is not installed: pip install 'edgegru[ray]'"
    )


@pytest.mark.parametrize(("task", "lr"), [("classification", 1e-2), ("regression", 3e-3)])
def test_a_new_study_runs_the_default_recipe_first(tmp_path: Path, task: str, lr: float) -> None:
    """The default space holds ``edgegru train``'s recipe, so a new study's first trial is it
    (int16 state, as ``edgegru quantize``), at the task's automatic rate; opening the file
    again (a second process, a continued run) does not queue it twice."""
    space = SearchSpace()
    params = space.recipe_params(task)
    data = builtin_dataset("gestures" if task == "classification" else "adding", 8, seed=0)
    identity = study_identity(data, None, {"cpu": CPU}, space.as_dict())
    study = open_study(tmp_path / "s.db", identity, 0, params)
    open_study(tmp_path / "s.db", identity, 0, params)
    assert len(study.get_trials(states=(optuna.trial.TrialState.WAITING,))) == 1
    candidate = space.suggest(study.ask(), seed=0)
    expected = {"hidden": 48, "layers": 1, "variant": "reset_after", "state_bits": 16, "epochs": 400}
    assert {k: getattr(candidate, k) for k in expected} == expected
    assert (candidate.lr, candidate.batch_size, candidate.weight_decay) == (lr, 16, 1e-3)
    assert len(study.get_trials(states=(optuna.trial.TrialState.WAITING,))) == 0


def test_recipe_outside_the_space_is_not_queued_and_fixed_choices_keep_it() -> None:
    """A space without the recipe queues nothing; a space that fixes some choices to the
    recipe's values (so suggest() draws fewer parameters) still runs the recipe first."""
    assert SearchSpace(hidden=(4, 32)).recipe_params("classification") is None
    assert SearchSpace(variants=("reset_before",)).recipe_params("classification") is None
    fixed = SearchSpace(layers=(1, 1), variants=("reset_after",), state_bits=(16,), lr=(1e-2, 1e-2))
    study = optuna.create_study()
    study.enqueue_trial(fixed.recipe_params("classification"))
    candidate = fixed.suggest(study.ask(), seed=0)
    recipe = (48, 1, "reset_after", 16, 400, 1e-2, 16, 1e-3)
    assert (candidate.hidden, candidate.layers, candidate.variant, candidate.state_bits, candidate.epochs,
            candidate.lr, candidate.batch_size, candidate.weight_decay) == recipe  # fmt: skip


def test_regression_search_minimises_the_pooled_rmse_of_blocked_folds(tmp_path: Path) -> None:
    """A forecast-like regression search: the study minimises RMSE, each trial's objective is
    the RMSE over every out-of-fold case (so its square is the case-weighted mean of the folds'
    squares, not the mean of their RMSEs), and the chosen trial has the lowest."""
    args = ["search", "--builtin", "adding", "--samples", "40", *SEARCH_SPACE, "--epochs", "1:2"]
    args += ["--folds", "3", "--cpu", CPU, "--trials", "2", "--storage", str(tmp_path / "r.db")]
    assert main([*args, "-o", str(tmp_path / "out")]) == 0
    study = _study(tmp_path / "r.db")
    assert study.directions[0] == optuna.study.StudyDirection.MINIMIZE
    train_ds = builtin_dataset("adding", 40, seed=0)  # what --builtin adding --samples 40 trains on
    sizes = [len(held) for held in fold_indices(train_ds, 3, 0)]
    done = [t for t in study.get_trials() if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(done) == 2
    for trial in done:
        folds = np.array(trial.user_attrs["fold_scores"])
        pooled = np.sqrt(np.sum(folds**2 * sizes) / np.sum(sizes))
        assert trial.user_attrs["val_score"] == pytest.approx(pooled, rel=1e-12)
    chosen = QuantizedModel.load(tmp_path / "out" / "model-int8.egru").fingerprint()
    best = min(done, key=lambda t: t.user_attrs["val_score"])
    assert best.user_attrs["model_hash"] == chosen
