"""How the batch check reads a batch's cells: their features as the same cells read them,
in an order that does not depend on the table's, and each call's confidence at the level its
accuracy is judged by. Shared by the shift test (:mod:`ephys2type.models.batch_shift`) and the
accuracy estimate (:mod:`ephys2type.models.batch_accuracy`)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ephys2type.models.cell_scores import CellScores
from ephys2type.models.conformal import same_cell_values
from ephys2type.models.hierarchy import parent_probabilities


def canonical_values(X: pd.DataFrame) -> np.ndarray:
    """The features as the same cells read them (:func:`same_cell_values`), as float64: a
    CSV and an .xlsx of a table differ in the 15th digit, which must not re-order the batch
    or break a tie with a training cell's value (the same cells gave p = 0.048 and 0.044)."""
    return same_cell_values(X).astype(float)


def canonical_order(scores: CellScores) -> np.ndarray:
    """The batch's cells sorted by their features (rows in any order give the same pseudo-
    batches and bootstrap replicates, so the same p-value and interval: a table sorted
    another way is the same batch)."""
    return np.lexsort(canonical_values(scores.X).T[::-1])


def call_confidence(clf, proba: np.ndarray) -> np.ndarray:
    """Each cell's confidence at the level its expected accuracy is judged by."""
    if clf.parent_of is None:
        return proba.max(axis=1)
    _, top = parent_probabilities(proba, clf.classes_, clf.parent_of)
    return top.max(axis=1)
