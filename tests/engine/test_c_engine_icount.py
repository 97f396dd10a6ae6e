"""Instructions per step of the C engine on aarch64 (unicorn): exact, and of code that
computes the integer reference's outputs (count_step_instructions checks every step)."""

from __future__ import annotations

import pytest

from edgegru.cli.main import main
from edgegru.engine.icount import count_step_instructions
from tests.helpers import make_qmodel


@pytest.mark.parametrize("board", ["pi4", "pi5"])
def test_block_counts_equal_instruction_by_instruction_counts(board):
    qm = make_qmodel(6, [16, 8], "reset_before", "classification", 8, seed=1)
    by_block = count_step_instructions(qm, board, steps=6)
    one_by_one = count_step_instructions(qm, board, steps=6, by_block=False)
    assert by_block == one_by_one
    assert [c.entry for c in by_block] == ["edgegru_engine_step", "edgegru_engine_step_float"]
    step, step_float = by_block
    assert 0 < step.min <= step.mean <= step.max < step_float.min  # quantising the floats costs


def test_count_grows_with_the_model_and_the_command_prints_it(tmp_path, capsys):
    small = count_step_instructions(make_qmodel(6, [8], "reset_after", "classification", seed=2), steps=4)
    qm = make_qmodel(6, [32], "reset_after", "classification", seed=2)
    large = count_step_instructions(qm, steps=4)
    assert large[0].min > 4 * small[0].max  # about H^2 multiply-adds: 16x the products
    qm.save(tmp_path / "m.egru")
    assert main(["engine", str(tmp_path / "m.egru"), "--target", "pi4", "--count"]) == 0
    out = capsys.readouterr().out
    assert f"edgegru_engine_step: mean {large[0].mean:.1f}" in out
    assert main(["engine", str(tmp_path / "m.egru"), "--count"]) == 2
    assert "give --target pi4 or pi5" in capsys.readouterr().err


@pytest.mark.parametrize("bits", [16, 8])
def test_pi5_step_runs_the_sdot_kernel(bits):
    """The Pi 5's library takes the SDOT kernel (the A76 has the dot-product extension): its
    step, checked against the integer reference at every step like every count, executes
    fewer instructions than the Pi 4's SMLAL step. Odd sizes, two layers, reset_before's r·h:
    every form of the kernel's byte split."""
    qm = make_qmodel(33, [40, 17], "reset_before", "classification", bits, seed=3)
    pi4, pi5 = (count_step_instructions(qm, board, steps=8)[0] for board in ("pi4", "pi5"))
    assert pi5.max < pi4.min
