"""Every training cell's out-of-fold call: a larger record of how often a member is right.

By default a member's expected accuracy, and the label-free estimate of a batch's accuracy
(:mod:`ephys2type.models.batch_check`), rest on the calibration cells alone: a fifth of the
training cells (105 human cells of a model trained on 60% of the bundled ones). The
estimate's threshold then rests on a handful of cells per class, and a batch of one class
leans on that class's few. With ``record_folds=k`` a
:class:`~ephys2type.models.cell_classifier.CellTypeClassifier` keeps, per member, a record
of every training cell (the cells not repeated): the calibration cells with the member's own
calls, and each of k stratified folds of the other (proper) cells called by a model of the
same feature set fitted on the training cells less that fold (as many cells as the member
was fitted on when k is 4 and the calibration share a fifth), its probabilities calibrated
with the member's temperature. That is k more fits per member. The member's expected
accuracy is the record's, and the batch estimate is judged against the record.

Measured with the random forest (``benchmarks/batch_check.py --record-folds 4``,
docs/shifted-batches.md): on training-like human batches (splits 30-34) the estimate's mean
error fell from 10.1 to 8.5 points and the warnings while the accuracy held from 16 to 3
(mouse: 4.9 to 4.4 points, 4 to 5 warnings); on the shifted whole sets
(``benchmarks/calibration_record.py``) it was worse on one seed of three and better on two.
The prediction sets stay calibrated on the calibration cells alone (the fold models are
other models than the member).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.model_selection import StratifiedKFold


@dataclass(frozen=True)
class AccuracyRecord:
    """A member's out-of-fold calls on every training cell not repeated (training order),
    at the level its expected accuracy is judged by (the parent level with two-level
    labels): each call's calibrated probability, the call, whether it was right; the
    accuracy of the finest-level calls and (two-level labels) of the parent-level ones;
    ``folds``: how many folds of the proper cells were called by models fitted without
    them."""

    confidence: tuple[float, ...]
    predicted: tuple[str, ...]
    correct: tuple[bool, ...]
    accuracy: float
    parent_accuracy: float | None
    folds: int

    @property
    def n(self) -> int:
        return len(self.correct)

    @property
    def expected_accuracy(self) -> float:
        """The accuracy the calls are judged by (the parent level's with two-level labels)."""
        return self.accuracy if self.parent_accuracy is None else self.parent_accuracy

    @classmethod
    def of(cls, calls: Any, folds: int) -> AccuracyRecord:
        """The record of :class:`~ephys2type.models.conformal.JudgedCalls`."""
        return cls(
            confidence=calls.confidence,
            predicted=calls.predicted,
            correct=calls.correct,
            accuracy=calls.accuracy,
            parent_accuracy=calls.parent_accuracy,
            folds=int(folds),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "folds": self.folds,
            "accuracy": self.accuracy,
            "parent_accuracy": self.parent_accuracy,
            "confidence": list(self.confidence),
            "predicted": list(self.predicted),
            "correct": [bool(c) for c in self.correct],
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> AccuracyRecord:
        parent = raw.get("parent_accuracy")
        return cls(
            confidence=tuple(float(v) for v in raw["confidence"]),
            predicted=tuple(str(v) for v in raw["predicted"]),
            correct=tuple(bool(v) for v in raw["correct"]),
            accuracy=float(raw["accuracy"]),
            parent_accuracy=None if parent is None else float(parent),
            folds=int(raw["folds"]),
        )


def held_out_folds(y, proper: np.ndarray, k: int, random_state: int) -> np.ndarray:
    """Per training cell (labels ``y``), the fold (1..``k``) of the ``proper`` cells it is
    held out in, stratified by class; 0 for a cell no fold holds out."""
    y = np.asarray(y, dtype=object)
    rows = np.flatnonzero(proper)
    fold = np.zeros(len(y), dtype=int)
    # a class with fewer proper cells than folds is left out of some folds (a warning
    # scikit-learn raises for any split of a rare class, not a problem here)
    if not len(rows):
        return fold
    counts = np.unique(y[rows], return_counts=True)[1]
    if counts.max() < 2:  # one cell per class: one fold, fitted on the other training cells
        fold[rows] = 1
        return fold
    splitter = StratifiedKFold(min(k, int(counts.max())), shuffle=True, random_state=random_state)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        for j, (_, held) in enumerate(splitter.split(rows, y[rows]), start=1):
            fold[rows[held]] = j
    return fold
