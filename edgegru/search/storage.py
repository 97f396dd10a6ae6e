"""The study's SQLite file, and the identity that keeps one file to one search.

A study file holds one study, named :data:`STUDY_NAME`, whose user attribute
``edgegru`` records what its trials were measured against: the fingerprints of the training
and test data, the task, the core, the budgets and the search space. Re-running the same
command adds to the study; a command with different data, core, budgets or space is refused
in one line rather than mixing trials that cannot be compared. SQLite's locking lets two
processes add trials to one file; each waits up to :data:`LOCK_TIMEOUT_S` for the other's
write.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgegru.core.errors import EdgeGruError, quote
from edgegru.search.sampler import TrialSeededSampler

if TYPE_CHECKING:
    import optuna

    from edgegru.data import Dataset

STUDY_NAME = "edgegru-search"
IDENTITY_KEY = "edgegru"
LOCK_TIMEOUT_S = 120
FORMAT = 2  # 2: trials scored by K-fold cross-validation, their model trained on all the data


def dataset_fingerprint(ds: Dataset | None) -> str | None:
    """A SHA-256 of what a model learns from: the arrays, the task and the class names."""
    if ds is None:
        return None
    digest = hashlib.sha256()
    for array in (ds.x, ds.lengths, ds.y):
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        digest.update(array.tobytes())
    digest.update(json.dumps([ds.task, ds.class_names]).encode())
    return digest.hexdigest()[:16]


def study_identity(
    train: Dataset, test: Dataset | None, budgets: dict[str, Any], space: dict[str, Any]
) -> dict[str, Any]:
    """What the trials of one study are measured against (JSON: it is stored in the file)."""
    identity = {
        "format": FORMAT,
        "data": dataset_fingerprint(train),
        "test": dataset_fingerprint(test),
        "task": train.task,
        "budgets": budgets,
        "space": space,
    }
    return json.loads(json.dumps(identity))  # tuples as lists, as they come back from the file


def _url(path: Path) -> str:
    return f"sqlite:///{path.resolve()}"


def _check_is_study_file(path: Path) -> None:
    """Refuse a file that is not an SQLite database before Optuna would write its tables into it."""
    if not path.exists():
        if not path.parent.is_dir():
            raise EdgeGruError(f"--storage {path}: directory {path.parent} does not exist")
        return
    if not path.is_file():
        raise EdgeGruError(f"--storage {path}: not a regular file")
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
            tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    except sqlite3.DatabaseError:
        raise EdgeGruError(
            f"--storage {path}: not an SQLite database (a study file of edgegru search)"
        ) from None
    if tables and "studies" not in tables:
        raise EdgeGruError(f"--storage {path}: an SQLite database of something else, not a search study")


def open_study(
    path: Path, identity: dict[str, Any], seed: int, first: dict[str, Any] | None = None
) -> optuna.Study:
    """The study in ``path``, created if new, when it is given ``first`` (a trial's parameters,
    :meth:`~edgegru.search.space.SearchSpace.recipe_params`) to run before any it draws;
    EdgeGruError if it belongs to another search."""
    import optuna

    _check_is_study_file(path)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    # Two processes starting on a new file at once would both create Optuna's tables and the
    # study, and both record an identity: the opening is done one process at a time, under an
    # flock of the file (independent of SQLite's own fcntl locks; no SQLite transaction is open
    # when it is released).
    with path.open("ab") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        storage = optuna.storages.RDBStorage(
            _url(path), engine_kwargs={"connect_args": {"timeout": LOCK_TIMEOUT_S}}
        )
        names = [s.study_name for s in optuna.get_all_study_summaries(storage)]
        if any(name != STUDY_NAME for name in names):
            raise EdgeGruError(
                f"--storage {path}: holds a study not made by edgegru search ({quote(names[0])})"
            )
        study = optuna.create_study(
            storage=storage,
            study_name=STUDY_NAME,
            sampler=TrialSeededSampler(seed),
            directions=_directions(identity["task"]),
            load_if_exists=True,
        )
        stored = study.user_attrs.get(IDENTITY_KEY)
        if stored is None:
            study.set_user_attr(IDENTITY_KEY, identity)
            stored = identity
            if first is not None:
                study.enqueue_trial(first)
    _check_same(path, stored, identity)
    return study


def _directions(task: str) -> list[str]:
    """Accuracy up (RMSE down), flash down, instructions down."""
    return ["maximize" if task == "classification" else "minimize", "minimize", "minimize"]


def _check_same(path: Path, stored: dict[str, Any], identity: dict[str, Any]) -> None:
    """One line naming the first thing that differs between the file's study and this one."""
    what = {
        "format": "a study written by another edgegru version",
        "data": "a study of other training data",
        "test": "a study with another test set",
        "task": "a study of another task",
        "budgets": "a study for other budgets or another core",
        "space": "a study of another search space",
    }
    for key, meaning in what.items():
        if stored.get(key) != identity[key]:
            detail = _difference(stored.get(key), identity[key])
            raise EdgeGruError(
                f"--storage {path}: {meaning} ({detail}); give a new --storage file for this search"
            )


def _difference(stored: Any, given: Any) -> str:
    """The first differing field; the file's values quoted, as any string from a file."""
    if isinstance(stored, dict) and isinstance(given, dict):
        for key in sorted(set(stored) | set(given), key=str):
            if stored.get(key) != given.get(key):
                return f"{quote(key)} {quote(stored.get(key))} there, {quote(given.get(key))} here"
    return f"{quote(stored)} there, {quote(given)} here"
