"""The scores of a classifier beyond its accuracy: the confusion matrix and, per class,
precision, recall and F1.

Accuracy hides which classes a model confuses; a deployed model is judged by the class it
gets wrong most, so the report shows every class's figures and the matrix they come from.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class ClassScore:
    """One class's figures; precision is None when the model never predicts the class and
    recall None when the data hold no case of it (0/0 is not a score)."""

    name: str
    support: int  # cases of this class in the data
    predicted: int  # cases the model assigned to it
    precision: float | None
    recall: float | None

    @property
    def f1(self) -> float | None:
        if self.precision is None or self.recall is None or self.precision + self.recall == 0:
            return None
        return 2 * self.precision * self.recall / (self.precision + self.recall)


def confusion_matrix(truth: np.ndarray, predicted: np.ndarray, classes: int) -> np.ndarray:
    """(classes, classes) counts: row = the true class, column = the predicted one."""
    matrix = np.zeros((classes, classes), np.int64)
    np.add.at(matrix, (np.asarray(truth, np.int64), np.asarray(predicted, np.int64)), 1)
    return matrix


def class_scores(matrix: np.ndarray, names: list[str]) -> list[ClassScore]:
    """Precision and recall of each class from its confusion matrix."""
    correct = np.diag(matrix)
    support, predicted = matrix.sum(axis=1), matrix.sum(axis=0)
    return [
        ClassScore(
            name,
            int(support[i]),
            int(predicted[i]),
            float(correct[i] / predicted[i]) if predicted[i] else None,
            float(correct[i] / support[i]) if support[i] else None,
        )
        for i, name in enumerate(names)
    ]
