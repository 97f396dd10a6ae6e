"""The training hyper-parameters, without torch: ``edgegru train`` builds its flags, and
their defaults, from this one record while ``edgegru --help`` must work on a base install."""

from __future__ import annotations

import math
from dataclasses import dataclass

from edgegru.core.errors import EdgeGruError
from edgegru.core.generator_limits import MAX_FRAME, MAX_LAYERS, MAX_SIZE
from edgegru.nn.model import VARIANTS
from edgegru.nn.schedule import SCHEDULES

REGRESSION_VAL_FRACTION = 0.2  # the automatic validation share of a regression dataset
# the automatic peak learning rates (docs/accuracy.md measures both on its datasets)
CLASSIFICATION_LR = 1e-2
REGRESSION_LR = 3e-3


@dataclass
class TrainConfig:
    """Hyper-parameters; the CLI flags map one to one onto these fields, and take their
    defaults from here (``--batch-size`` for ``batch_size``)."""

    hidden: int = 48
    layers: int = 1
    variant: str = "reset_after"
    epochs: int = 400
    # None: CLASSIFICATION_LR, or REGRESSION_LR, at which the sunspots seeds agree and beat a
    # rate of 1e-2 (see learning_rate)
    lr: float | None = None
    batch_size: int = 16
    seed: int = 0
    clip: float = 1.0  # max gradient norm; 0 disables clipping
    patience: int = (
        50  # epochs without a better watched loss (validation, or the training cases) before stopping
    )
    # None: 0 for classification (augmentation and label smoothing regularise it, and a fifth of
    # tens of cases is too few to stop on), REGRESSION_VAL_FRACTION for regression (see val_share)
    val_fraction: float | None = None
    refit: bool = True  # train again on all cases for the chosen epoch count (split validation only)
    schedule: str = "cosine"
    warmup: int = 5  # epochs of rising learning rate
    weight_decay: float = 1e-3  # AdamW's decoupled decay
    label_smoothing: float = 0.1  # classification only
    dropout: float = 0.0  # training only: the share of the head's inputs zeroed at each step
    jitter: float = 0.03  # augmentation strengths, in units of each channel's std (nn/augment.py)
    scale: float = 0.1
    magnitude_warp: float = 0.1
    time_warp: float = 0.1
    crop: float = 0.1  # the largest share of a sequence cut off its ends (nn/augment.py)
    forecast_gain: float = 0.4  # std of the log of one gain on a forecast window and its target
    chrono: bool = True  # update-gate biases for memories up to the longest sequence (nn/chrono.py)
    frame: int = 0  # samples per GRU step (data/frames.py); 0: chosen from the longest sequence

    def val_share(self, task: str) -> float:
        """The share of the training cases held out for validation on a ``task`` dataset."""
        if self.val_fraction is not None:
            return self.val_fraction
        return 0.0 if task == "classification" else REGRESSION_VAL_FRACTION

    def learning_rate(self, task: str) -> float:
        """The peak learning rate on a ``task`` dataset."""
        if self.lr is not None:
            return self.lr
        return CLASSIFICATION_LR if task == "classification" else REGRESSION_LR

    def check(self) -> None:
        if self.variant not in VARIANTS:
            raise EdgeGruError(f"--variant {self.variant}: expected one of {', '.join(VARIANTS)}")
        if self.schedule not in SCHEDULES:
            raise EdgeGruError(f"--schedule {self.schedule}: expected one of {', '.join(SCHEDULES)}")
        for name in ("hidden", "layers", "epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise EdgeGruError(f"--{name.replace('_', '-')} {getattr(self, name)}: expected >= 1")
        if self.hidden > MAX_SIZE:
            raise EdgeGruError(
                f"--hidden {self.hidden}: expected at most {MAX_SIZE} (the C generator's limit)"
            )
        if self.layers > MAX_LAYERS:
            raise EdgeGruError(
                f"--layers {self.layers}: expected at most {MAX_LAYERS} (the C generator's limit)"
            )
        if self.lr is not None and not (math.isfinite(self.lr) and self.lr > 0):
            raise EdgeGruError(f"--lr {self.lr}: expected a finite number > 0")
        for name in (
            "clip",
            "weight_decay",
            "jitter",
            "scale",
            "magnitude_warp",
            "time_warp",
            "crop",
            "forecast_gain",
        ):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise EdgeGruError(f"--{name.replace('_', '-')} {value}: expected a finite number >= 0")
        if self.crop >= 1.0:
            raise EdgeGruError(f"--crop {self.crop}: expected 0 <= c < 1 (a share of the sequence)")
        if not 0.0 <= self.dropout < 1.0:
            raise EdgeGruError(f"--dropout {self.dropout}: expected 0 <= d < 1 (a share of the units)")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise EdgeGruError(f"--label-smoothing {self.label_smoothing}: expected 0 <= s < 1")
        if self.patience < 0:
            raise EdgeGruError(f"--patience {self.patience}: expected >= 0")
        if not 0 <= self.frame <= MAX_FRAME:
            raise EdgeGruError(f"--frame {self.frame}: expected 0 (automatic) or 1..{MAX_FRAME}")
        if self.warmup < 0:
            raise EdgeGruError(f"--warmup {self.warmup}: expected >= 0")
        if not 0 <= self.seed < 2**32:
            raise EdgeGruError(f"--seed {self.seed}: expected 0 <= seed < 2^32")
        if self.val_fraction is not None and not 0.0 <= self.val_fraction < 1.0:
            raise EdgeGruError(f"--val-fraction {self.val_fraction}: expected 0 <= f < 1")
