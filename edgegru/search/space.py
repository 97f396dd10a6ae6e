"""What a search explores: model shape, integer state width and training choices.

A :class:`SearchSpace` holds the ranges (from the ``edgegru search`` flags); Optuna picks one
:class:`Candidate` from it per trial. A candidate's deployed model is exactly one
``edgegru train`` run plus one ``edgegru quantize`` run on all the training data (its fold
models are the same runs on part of it), which is why :meth:`Candidate.commands` can print
the two commands that rebuild the chosen model alone.

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
    folds: int = 5  # K of the cross-validation every trial is scored by (edgegru.search.folds)

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

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def recipe_params(self, task: str) -> dict[str, Any] | None:
        """The default recipe's choices under the names :meth:`suggest` draws them by, or None
        when this space does not hold them (Optuna takes the value of each one suggest() draws
        and ignores those it fixes itself, a range of one value).

        A new study runs this candidate first (Optuna's ``enqueue_trial``): the recipe is
        tuned on real datasets (docs/accuracy.md), and a score of 20 trials drawn from
        eight dimensions rarely lands next to it, so without it a search can return a model
        that cross-validates worse than plain ``edgegru train`` in the same budget.
        """
        from edgegru.nn.train_config import TrainConfig

        recipe = TrainConfig()
        ranges = {
            "hidden": (recipe.hidden, self.hidden),
            "layers": (recipe.layers, self.layers),
            "epochs": (recipe.epochs, self.epochs),
            "lr": (recipe.learning_rate(task), self.lr),
            "weight_decay": (recipe.weight_decay, self.weight_decay),
        }
        options = {
            "variant": (recipe.variant, self.variants),
            "state_bits": (16, self.state_bits),  # edgegru quantize's default
            "batch_size": (recipe.batch_size, self.batch_sizes),
        }
        inside = all(lo <= value <= hi for value, (lo, hi) in ranges.values())
        if not inside or not all(value in held for value, held in options.values()):
            return None
        return {name: value for name, (value, _) in (ranges | options).items()}

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
            folds=self.folds,
            seed=seed,
        )


@dataclass(frozen=True)
class Candidate:
    """One trial's choices: a training configuration, the state width it is quantised to, and
    the folds it is cross-validated on.

    Its models (one per fold, and the deployed one on all the training data) are trained with
    the recipe of ``edgegru train`` for the task, so that the model the search ranks is the one
    ``edgegru train`` would give for these choices.
    """

    hidden: int
    layers: int
    variant: str
    state_bits: int
    epochs: int
    lr: float
    batch_size: int
    weight_decay: float
    folds: int
    seed: int

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Candidate:
        return cls(**values)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def train_config(self, task: str) -> TrainConfig:
        """The recipe's configuration with the candidate's choices, for data of ``task``: its
        automatic validation share spelled out (none for classification, an inner split for
        early stopping then a refit on all cases for regression), so that the rebuild commands
        do not depend on today's default."""
        from edgegru.nn.train import TrainConfig

        recipe = TrainConfig()
        return TrainConfig(
            hidden=self.hidden, layers=self.layers, variant=self.variant, epochs=self.epochs, lr=self.lr,
            batch_size=self.batch_size, weight_decay=self.weight_decay, val_fraction=recipe.val_share(task),
            seed=self.seed, refit=recipe.refit,
        )  # fmt: skip

    def describe(self) -> str:
        layers = f"{self.layers}x{self.hidden}" if self.layers > 1 else str(self.hidden)
        return f"H={layers} {self.variant} int{self.state_bits} state, lr {self.lr:.2g}, {self.epochs} epochs"

    def commands(self, data_args: list[str], task: str, float_path: str, int8_path: str) -> list[str]:
        """The ``edgegru train`` and ``edgegru quantize`` commands that rebuild this candidate's
        deployed model (trained on all the training data) alone.

        ``data_args`` are the data arguments the search was given (DATA or --builtin/--series);
        every field of the training configuration is spelled out (``edgegru train`` has one flag
        per field), so a later change of a default cannot change the model.
        """
        from edgegru.quant.calibrate import CLI_METHOD, CLI_PERCENTILE

        train = ["edgegru", "train", *data_args]
        for name, value in asdict(self.train_config(task)).items():
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
