"""The in-memory dataset every loader produces and the trainer consumes.

Sequences of different lengths share one zero-padded array plus a ``lengths``
vector, because that is what both batched training and the reference forward pass
need: a sequence's output is read at its last valid step, so padding after it never
influences a result. Keeping the padding exactly zero (not NaN, not garbage) makes
that property cheap to check and arrays safe to feed to any framework.

The helpers here are shared by the file loaders so that every format reports the
same problems (empty data, mixed channel counts, NaN, unknown labels) the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgegru.core.errors import EdgeGruError, quote
from edgegru.core.generator_limits import MAX_OUTPUTS
from edgegru.data.limits import check_cap

TASKS = ("classification", "regression")
NO_IMPUTE = "edgegru does not impute missing values: fill them or drop the case"
FLOAT32_MAX = float(np.finfo(np.float32).max)  # data become float32: larger values would be Inf


@dataclass
class Dataset:
    """Padded sequences with their labels; see the module docstring.

    ``x`` is (N, T_max, D) float32, zero after each sequence's length; ``lengths`` is
    (N,) int64; ``y`` is (N,) int64 class indices for classification or (N, C)
    float32 targets for regression. ``class_names[i]`` names class index ``i``;
    ``channel_names[d]`` input channel ``d``, when the file names its channels.
    """

    x: np.ndarray
    lengths: np.ndarray
    y: np.ndarray
    task: str
    class_names: list[str] | None
    source: str
    channel_names: list[str] | None = None
    # y[i] is the next sample of the series x[i] is a window of (forecast_windows): one gain
    # applied to both keeps them a true pair, which training uses (nn/train.py)
    forecast: bool = False

    def __post_init__(self) -> None:
        self.x = np.asarray(self.x, dtype=np.float32)
        self.lengths = np.asarray(self.lengths, dtype=np.int64)
        if self.task == "classification":
            self.y = np.asarray(self.y, dtype=np.int64)
        else:
            self.y = np.asarray(self.y, dtype=np.float32)
        self._check()

    def _check(self) -> None:
        """Enforce the invariants above, so a malformed Dataset fails where it is made."""
        where = self.source
        if self.task not in TASKS:
            raise EdgeGruError(f"{where}: task {self.task!r}, expected one of {TASKS}")
        if self.x.ndim != 3 or self.x.shape[0] == 0 or self.x.shape[1] == 0:
            raise EdgeGruError(f"{where}: x has shape {self.x.shape}, expected (N>0, T>0, D)")
        n, t_max, dims = self.x.shape
        if self.channel_names is not None and len(self.channel_names) != dims:
            raise EdgeGruError(f"{where}: {len(self.channel_names)} channel names for {dims} channels")
        if self.lengths.shape != (n,):
            raise EdgeGruError(f"{where}: lengths has shape {self.lengths.shape}, expected ({n},)")
        if self.lengths.min() < 1 or self.lengths.max() > t_max:
            raise EdgeGruError(f"{where}: lengths must lie in 1..{t_max}")
        if not np.all(np.isfinite(self.x)):
            raise EdgeGruError(f"{where}: x holds NaN or Inf")
        if np.any(self.x[~valid_mask(self.lengths, t_max)]):
            raise EdgeGruError(f"{where}: x is not zero after each sequence's length")
        if self.task == "classification":
            k = len(self.class_names or ())
            if self.y.shape != (n,) or k == 0 or self.y.min() < 0 or self.y.max() >= k:
                raise EdgeGruError(f"{where}: y must be ({n},) class indices in 0..{k - 1}")
        else:
            if self.class_names is not None:
                raise EdgeGruError(f"{where}: a regression dataset has no class names")
            if self.y.ndim != 2 or self.y.shape[0] != n or self.y.shape[1] == 0:
                raise EdgeGruError(f"{where}: y has shape {self.y.shape}, expected ({n}, C)")
            if not np.all(np.isfinite(self.y)):
                raise EdgeGruError(f"{where}: y holds NaN or Inf")

    def __len__(self) -> int:
        return int(self.x.shape[0])

    @property
    def n(self) -> int:
        return len(self)

    @property
    def input_size(self) -> int:
        return int(self.x.shape[2])

    @property
    def output_size(self) -> int:
        """Number of classes, or number of regression targets."""
        if self.class_names is not None:
            return len(self.class_names)
        return int(self.y.shape[1])

    def subset(self, indices: Sequence[int] | np.ndarray) -> Dataset:
        """The cases at ``indices`` (in that order), keeping class names and T_max."""
        idx = np.asarray(indices, dtype=np.int64)
        return Dataset(
            x=self.x[idx],
            lengths=self.lengths[idx],
            y=self.y[idx],
            task=self.task,
            class_names=self.class_names,
            source=self.source,
            channel_names=self.channel_names,
            forecast=self.forecast,
        )

    def split(self, fraction: float, seed: int) -> tuple[Dataset, Dataset]:
        """Split into (train, validation) with about ``fraction`` of the cases in validation.

        Classification splits each class separately (stratified) so that a small
        validation set still sees every class that has at least two cases; a class
        with one case stays in training. The result depends only on ``seed``.
        """
        if not 0.0 < fraction < 1.0:
            raise EdgeGruError(f"validation fraction {fraction}: expected 0 < fraction < 1")
        rng = np.random.default_rng(seed)
        groups = (
            [np.flatnonzero(self.y == c) for c in range(self.output_size)]
            if self.task == "classification"
            else [np.arange(self.n)]
        )
        val: list[np.ndarray] = []
        for members in groups:
            if len(members) < 2:
                continue
            k = min(max(round(len(members) * fraction), 1), len(members) - 1)
            val.append(rng.permutation(members)[:k])
        val_idx = np.sort(np.concatenate(val)) if val else np.empty(0, dtype=np.int64)
        if len(val_idx) == 0:
            raise EdgeGruError(f"{self.source}: {self.n} cases are too few to split off validation")
        train_idx = np.setdiff1d(np.arange(self.n), val_idx)
        return self.subset(train_idx), self.subset(val_idx)


def existing_file(path: str | Path) -> Path:
    """``path`` as a Path, or an error if there is no such file."""
    path = Path(path)
    if not path.exists():
        raise EdgeGruError(f"{path}: no such file")
    if not path.is_file():
        raise EdgeGruError(f"{path}: not a file")
    return path


def valid_mask(lengths: np.ndarray, t_max: int) -> np.ndarray:
    """(N, T_max) boolean mask, True at the valid steps of each sequence."""
    return np.arange(t_max)[None, :] < np.asarray(lengths)[:, None]


def pad_sequences(sequences: Sequence[np.ndarray], where: str) -> tuple[np.ndarray, np.ndarray]:
    """Stack (T_i, D) sequences into a zero-padded (N, T_max, D) array and lengths.

    Callers have checked values, channel counts and the padded size
    (:func:`~edgegru.data.limits.check_padded`) where they can name the line; ``where``
    names the file if there are no sequences at all.
    """
    if not sequences:
        raise EdgeGruError(f"{where}: holds no cases")
    dims = sequences[0].shape[1]
    lengths = np.array([len(s) for s in sequences], dtype=np.int64)
    x = np.zeros((len(sequences), int(lengths.max()), dims), dtype=np.float32)
    for i, seq in enumerate(sequences):
        x[i, : len(seq)] = seq
    return x, lengths


def parse_float(text: str, where: str) -> float:
    """One number from text that float32 holds, or an error naming the value and where it was."""
    text = text.strip()
    try:
        value = float(text)
    except ValueError:
        if text in ("", "?"):
            raise EdgeGruError(f"{where}: missing value {quote(text)} ({NO_IMPUTE})") from None
        raise EdgeGruError(f"{where}: {quote(text)} is not a number") from None
    if not np.isfinite(value):
        raise EdgeGruError(f"{where}: value {quote(text)} is not finite ({NO_IMPUTE})")
    if abs(value) > FLOAT32_MAX:
        raise EdgeGruError(f"{where}: value {quote(text)} is beyond the float32 range (±{FLOAT32_MAX:.3g})")
    return value


def parse_floats(tokens: Sequence[str], where: str, first: int = 1) -> np.ndarray:
    """Float64 values from text tokens, each finite and within float32 range; on a bad one,
    name it and its position (``first`` is the position of ``tokens[0]``)."""
    try:
        values = np.array(tokens, dtype=np.float64)
        if not np.any(out_of_range(values)):
            return values
    except ValueError:
        pass
    return np.array([parse_float(t, f"{where} value {first + i}") for i, t in enumerate(tokens)])


def out_of_range(values: np.ndarray) -> np.ndarray:
    """True where a value is NaN, infinite or beyond float32 (training and the C use float32)."""
    if values.dtype.kind != "f":
        return np.zeros(values.shape, dtype=bool)
    if values.dtype.itemsize <= 4:  # float16 and float32: every finite value fits
        return ~np.isfinite(values)
    bad = np.isnan(values)
    bad |= values > FLOAT32_MAX
    bad |= values < -FLOAT32_MAX
    return bad


def resolve_task(found: str, requested: str | None, where: str) -> str:
    """The file decides the task; a caller's request must agree with it."""
    if requested is not None and requested not in TASKS:
        raise EdgeGruError(f"task {requested!r}: expected one of {TASKS}")
    if requested is not None and requested != found:
        raise EdgeGruError(f"{where}: holds {found} labels, but task {requested!r} was requested")
    return found


def encode_classes(
    labels: Sequence[str],
    places: Sequence[str],
    file_classes: Sequence[str] | None,
    class_names: Sequence[str] | None,
) -> tuple[np.ndarray, list[str]]:
    """Map string labels to class indices.

    ``places[i]`` says where label ``i`` came from (file and line) for messages.
    Labels must belong to ``file_classes`` when the file declares its classes. The
    index order is ``class_names`` when given (a test file reusing the training
    file's mapping), else the file's declared order, else the sorted labels
    (numerically when they are all numbers, so that "10" follows "9").
    """
    if file_classes is not None:
        declared = set(file_classes)
        for label, place in zip(labels, places, strict=True):
            if label not in declared:
                raise EdgeGruError(f"{place}: label {quote(label)} is not one of {shown(file_classes)}")
    if class_names is not None:
        names = list(class_names)
    elif file_classes is not None:
        names = list(file_classes)
    else:
        names = _distinct(labels, places)
    index = {name: i for i, name in enumerate(names)}
    y = np.empty(len(labels), dtype=np.int64)
    for i, (label, place) in enumerate(zip(labels, places, strict=True)):
        if label not in index:
            raise EdgeGruError(f"{place}: label {quote(label)} is not one of the classes {shown(names)}")
        y[i] = index[label]
    return y, names


def shown(names: Sequence[str], limit: int = 10) -> str:
    """Names from a file as a one-line list for a message, each quoted, the first ``limit``."""
    more = f", ... ({len(names) - limit} more)" if len(names) > limit else ""
    return "[" + ", ".join(quote(name) for name in names[:limit]) + more + "]"


def _distinct(labels: Sequence[str], places: Sequence[str]) -> list[str]:
    """The labels' classes, sorted; refused at the label that makes them too many."""
    seen: set[str] = set()
    for label, place in zip(labels, places, strict=True):
        seen.add(label)
        check_cap(len(seen), MAX_OUTPUTS, place, "the number of distinct labels", "classes")
    return sorted(seen, key=_label_sort_key)


def _label_sort_key(label: str) -> tuple[int, float, str]:
    try:
        value = float(label)
    except ValueError:
        return (1, 0.0, label)
    return (0, value, label) if np.isfinite(value) else (1, 0.0, label)
