"""What a search explores: model shape, integer state width and training choices.

A :class:`SearchSpace` holds the ranges (from the ``edgegru search`` flags); Optuna picks one
:class:`Candidate` from it per trial. A candidate is exactly one ``edgegru train`` run plus
one ``edgegru quantize`` run, which is why :meth:`Candidate.commands` can print the two
commands that rebuild the chosen model alone.

Only the standard library is imported at the top: the parser uses :func:`parse_range`.
"""

from __future__ import annotations

import argparse
import shlex
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from edgegru.core.errors import EdgeGruError
from edgegru.core.generator_limits import MAX_LAYERS, MAX_SIZE

if TYPE_CHECKING:
    import optuna

    from edgegru.nn.train import TrainConfig


def parse_range(text: str) -> tuple[int, int]:
    """``"4:64"`` -> (4, 64); ``"16"`` -> (16, 16): an inclusive range of whole numbers."""
    lo_text, sep, hi_text = text.partition(":")
    try:
        lo = int(lo_text)
        hi = int(hi_text) if sep else lo
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected LOW:HIGH or one number, e.g. 4:64") from None
    if not 1 <= lo <= hi:
        raise argparse.ArgumentTypeError(f"{text!r}: expected 1 <= LOW <= HIGH")
    return lo, hi


def parse_list(text: str) -> tuple[str, ...]:
    """``"reset_after,reset_before"`` -> the items, each once, in the order given."""
    items = tuple(dict.fromkeys(item.strip() for item in text.split(",")))
    if not all(items):
        raise argparse.ArgumentTypeError(f"{text!r}: expected comma-separated values")
    return items


def parse_state_bits(text: str) -> tuple[int, ...]:
    """``"16,8"`` -> (16, 8): the state widths the quantiser takes."""
    items = parse_list(text)
    if any(item not in ("16", "8") for item in items):
        raise argparse.ArgumentTypeError(f"{text!r}: expected 16 and/or 8, comma-separated")
    return tuple(int(item) for item in items)


@dataclass(frozen=True)
class SearchSpace:
    """The ranges a search draws from; the recipe's other options keep their defaults."""

    hidden: tuple[int, int] = (4, 64)
    layers: tuple[int, int] = (1, 2)
    variants: tuple[str, ...] = ("reset_after", "reset_before")
    state_bits: tuple[int, ...] = (16, 8)
    epochs: tuple[int, int] = (100, 400)
    lr: tuple[float, float] = (1e-3, 3e-2)
    batch_sizes: tuple[int, ...] = (8, 16, 32)
    weight_decay: tuple[float, float] = (1e-4, 1e-2)
    val_fraction: float = 0.2  # the held-out share every trial is scored on

    def check(self) -> None:
        """Refuse ranges the generator or the trainer would refuse, before any trial runs."""
        if self.hidden[1] > MAX_SIZE:
            raise EdgeGruError(f"--hidden up to {self.hidden[1]}: the C generator takes at most {MAX_SIZE}")
        if self.layers[1] > MAX_LAYERS:
            raise EdgeGruError(f"--layers up to {self.layers[1]}: the C generator takes at most {MAX_LAYERS}")
        unknown = [v for v in self.variants if v not in ("reset_after", "reset_before")]
        if unknown:
            raise EdgeGruError(f"--variants {unknown[0]!r}: expected reset_after and/or reset_before")
        bad_bits = [b for b in self.state_bits if b not in (16, 8)]
        if bad_bits:
            raise EdgeGruError(f"--state-bits {bad_bits[0]}: expected 16 and/or 8")
        if not 0.0 < self.val_fraction < 1.0:
            raise EdgeGruError(
                f"--val-fraction {self.val_fraction:g}: expected 0 < f < 1 (every trial is scored on it)"
            )

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def suggest(self, trial: optuna.trial.Trial, seed: int) -> Candidate:
        """The trial's candidate, drawn by Optuna's sampler; a range of one value is fixed."""

        def integer(name: str, bounds: tuple[int, int], log: bool = False) -> int:
            lo, hi = bounds
            return lo if lo == hi else trial.suggest_int(name, lo, hi, log=log)

        def choice(name: str, options: tuple[Any, ...]) -> Any:
            return options[0] if len(options) == 1 else trial.suggest_categorical(name, list(options))

        return Candidate(
            hidden=integer("hidden", self.hidden, log=True),
            layers=integer("layers", self.layers),
            variant=choice("variant", self.variants),
            state_bits=choice("state_bits", self.state_bits),
            epochs=integer("epochs", self.epochs),
            lr=trial.suggest_float("lr", *self.lr, log=True),
            batch_size=choice("batch_size", self.batch_sizes),
            weight_decay=trial.suggest_float("weight_decay", *self.weight_decay, log=True),
            val_fraction=self.val_fraction,
            seed=seed,
        )


@dataclass(frozen=True)
class Candidate:
    """One trial's choices: a training configuration and the state width it is quantised to.

    Trials train without the recipe's refit, so that the validation share a trial is scored
    on stays unseen by its model; the model written is the trial's own.
    """

    hidden: int
    layers: int
    variant: str
    state_bits: int
    epochs: int
    lr: float
    batch_size: int
    weight_decay: float
    val_fraction: float
    seed: int

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Candidate:
        return cls(**values)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def train_config(self) -> TrainConfig:
        from edgegru.nn.train import TrainConfig

        return TrainConfig(
            hidden=self.hidden, layers=self.layers, variant=self.variant, epochs=self.epochs, lr=self.lr,
            batch_size=self.batch_size, weight_decay=self.weight_decay, val_fraction=self.val_fraction,
            seed=self.seed, refit=False,
        )  # fmt: skip

    def describe(self) -> str:
        layers = f"{self.layers}x{self.hidden}" if self.layers > 1 else str(self.hidden)
        return f"H={layers} {self.variant} int{self.state_bits} state, lr {self.lr:.2g}, {self.epochs} epochs"

    def commands(self, data_args: list[str], float_path: str, int8_path: str) -> list[str]:
        """The ``edgegru train`` and ``edgegru quantize`` commands that rebuild this candidate alone.

        ``data_args`` are the data arguments the search was given (DATA or --builtin/--series);
        every field of the training configuration is spelled out (``edgegru train`` has one flag
        per field), so a later change of a default cannot change the model.
        """
        from edgegru.quant.calibrate import CLI_METHOD, CLI_PERCENTILE

        train = ["edgegru", "train", *data_args]
        for name, value in asdict(self.train_config()).items():
            flag = "--" + name.replace("_", "-")
            if isinstance(value, bool):
                train.append(flag if value else f"--no-{flag[2:]}")
            else:
                train += [flag, repr(value) if isinstance(value, float) else str(value)]
        quantize = [
            "edgegru", "quantize", float_path, *data_args, "--method", CLI_METHOD,
            "--percentile", repr(CLI_PERCENTILE), "--state-bits", str(self.state_bits),
            "--seed", str(self.seed), "-o", int8_path,
        ]  # fmt: skip
        return [shlex.join([*train, "-o", float_path]), shlex.join(quantize)]
