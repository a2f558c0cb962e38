"""Classification metrics on logits: top-k accuracy, mean class accuracy, confusion matrix."""

from __future__ import annotations

import numpy as np


def topk_accuracy(logits: np.ndarray, labels: np.ndarray, k: int = 1) -> float:
    """Share of samples whose label is among the ``k`` highest logits (0 for no samples)."""
    if len(labels) == 0:
        return 0.0
    k = min(k, logits.shape[1])
    top = np.argpartition(-logits, k - 1, axis=1)[:, :k]
    return float((top == labels[:, None]).any(axis=1).mean())


def confusion_matrix(predictions: np.ndarray, labels: np.ndarray, num_classes: int) -> np.ndarray:
    """``matrix[true, predicted]`` counts."""
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (labels, predictions), 1)
    return matrix


def mean_class_accuracy(matrix: np.ndarray) -> float:
    """Mean over the classes present of their recall (the metric mmaction2 reports)."""
    support = matrix.sum(axis=1)
    present = support > 0
    if not present.any():
        return 0.0
    return float((np.diag(matrix)[present] / support[present]).mean())


def classification_metrics(logits: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    matrix = confusion_matrix(logits.argmax(axis=1), labels, logits.shape[1])
    return {
        "top1": topk_accuracy(logits, labels, 1),
        "top5": topk_accuracy(logits, labels, 5),
        "mean_class_accuracy": mean_class_accuracy(matrix),
    }
