"""``edgegru example``: the board example leaves the package as a project that builds on its own."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from edgegru.cli.main import main
from edgegru.targets.cortex_m.examples import board_examples
from edgegru.targets.cortex_m.qemu import firmware_dir
from tests.helpers import make_qmodel


def _error(capsys, *args: str) -> str:
    assert main(list(args)) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("edgegru: error: ") and "\n" not in err and "Traceback" not in err
    return err


def test_the_copied_example_builds_and_runs_on_qemu(tmp_path: Path, capsys) -> None:
    """Copied out of the package, far from the repository, the STM32F4 example finds the
    harness it needs: its Makefile builds it with a freshly exported model and the program
    runs its 100 steps on QEMU's netduinoplus2."""
    assert shutil.which("arm-none-eabi-gcc") and shutil.which("qemu-system-arm"), "Debian packages missing"
    board = tmp_path / "board"
    assert main(["example", "stm32f4", str(board)]) == 0
    example = board / "examples" / "stm32f4"
    assert str(example) in capsys.readouterr().out
    shipped = sorted(p.name for p in (firmware_dir() / "examples" / "stm32f4").iterdir())
    assert sorted(p.name for p in example.iterdir()) == shipped

    qm = make_qmodel(5, [12], "reset_after", "classification", output_size=4, seed=3)
    qm.save(tmp_path / "q.egru")
    export = ["export", str(tmp_path / "q.egru"), "--target", "cortex-m", "--cpu", "cortex-m4"]
    assert main([*export, "-o", str(example / "model_c")]) == 0
    result = subprocess.run(
        ["make", "-C", str(example), "qemu"], capture_output=True, text=True, timeout=300
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-1000:] + result.stderr[-2000:]
    lines = dict(line.split(":", 1) for line in result.stdout.splitlines() if ":" in line)
    assert len(lines["output"].split()) == 4
    assert "done" in [line.strip() for line in result.stdout.splitlines()], result.stdout[-500:]


def test_a_directory_with_files_is_refused_and_left_alone(tmp_path: Path, capsys) -> None:
    board = tmp_path / "board"
    board.mkdir()
    (board / "main.c").write_text("/* mine */\n")
    err = _error(capsys, "example", "stm32f4", str(board))
    assert str(board) in err and "not empty" in err
    assert [p.name for p in board.iterdir()] == ["main.c"]
    assert (board / "main.c").read_text() == "/* mine */\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["board"]  # no temporary left beside it


def test_an_empty_directory_is_filled(tmp_path: Path) -> None:
    (tmp_path / "board").mkdir()
    assert main(["example", "stm32f4", str(tmp_path / "board")]) == 0
    assert (tmp_path / "board" / "examples" / "stm32f4" / "Makefile").is_file()
    assert (tmp_path / "board" / "edgegru_startup.c").is_file()
    assert not list((tmp_path / "board").rglob("*.py"))


def test_an_unknown_example_lists_the_examples(tmp_path: Path, capsys) -> None:
    err = _error(capsys, "example", "nrf52", str(tmp_path / "board"))
    assert "'nrf52'" in err and all(name in err for name in board_examples())
    assert "stm32f4" in board_examples()
    assert not list(tmp_path.iterdir())
