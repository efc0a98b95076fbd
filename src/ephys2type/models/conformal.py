"""Prediction sets with a coverage guarantee: class-conditional split conformal prediction.

A calibrated probability says how sure a model is; a prediction set says which classes the
data cannot tell apart, with a promise: at confidence 0.9, the set holds the true class of at
least 90% of new cells of each class (class-conditional, or Mondrian, conformal prediction,
so rare types get their coverage too, not only the common ones). The guarantee needs the
calibration cells to be exchangeable with the new cells; it says nothing about cells unlike
the training data.

The conformal step is the ``crepes`` library's (``ConformalClassifier`` with one Mondrian
category per class, non-conformity 1 - p(class), the hinge score), not hand-written code;
this module only splits the training cells into a proper training part and a calibration
part and feeds crepes the model's probabilities.

With ``parent_of`` (t-type -> subclass) the sets are calibrated at both levels (the parent
level from the summed probabilities of its children), calls are made top-down so the levels
never disagree, and a cell whose t-type set is large is called at the subclass only
(:meth:`ConformalClassifier.predict_levels`).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.model_selection import train_test_split
from sklearn.utils.validation import check_is_fitted

from ephys2type.models.hierarchy import parent_probabilities, top_down

#: ``call_level`` of a cell whose parent set, too, holds more than one class
NO_CALL = "none"


class ConformalClassifier(ClassifierMixin, BaseEstimator):
    """A classifier that also gives class-conditional conformal prediction sets.

    Parameters
    ----------
    estimator : classifier with ``predict_proba``
        Fitted on the proper training part of the cells (a clone).
    confidence : float, default 0.9
        Default coverage promised by :meth:`predict_set`.
    calibration_size : float, default 0.25
        Share of the training cells held out (stratified) to calibrate the sets.
    random_state : int, default 0
        Seed of the calibration split and of crepes' smoothed p-values.
    parent_of : mapping class -> parent class, optional
        Also calibrate sets at the parent level and offer :meth:`predict_levels`.
    max_set_size : int, default 3
        A cell whose class set holds more classes than this is called at the parent level
        only (:meth:`predict_levels`).

    Attributes
    ----------
    estimator_ : the fitted estimator; classes_ : its classes; parents_ : the parent
    classes (with ``parent_of``); n_calibration_ : calibration cells per class.

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> from ephys2type.testing.synthetic import make_synthetic
    >>> data = make_synthetic(400, missing_families={}, missing_values=0.0, random_state=0)
    >>> clf = ConformalClassifier(estimator=LogisticRegression(max_iter=500), random_state=0)
    >>> clf = clf.fit(data.X.to_numpy(), data.y.to_numpy())
    >>> clf.predict_set(data.X.to_numpy()[:2]).shape
    (2, 4)
    """

    def __init__(
        self,
        *,
        estimator=None,
        confidence: float = 0.9,
        calibration_size: float = 0.25,
        random_state: int = 0,
        parent_of: Mapping[str, str] | None = None,
        max_set_size: int = 3,
    ):
        self.estimator = estimator
        self.confidence = confidence
        self.calibration_size = calibration_size
        self.random_state = random_state
        self.parent_of = parent_of
        self.max_set_size = max_set_size

    def fit(self, X, y) -> ConformalClassifier:
        """Fit the estimator on the proper training part; calibrate on the rest."""
        from crepes import ConformalClassifier as Crepes

        if not 0 < self.confidence < 1:
            raise ValueError(f"confidence must be between 0 and 1, not {self.confidence}")
        y = np.asarray(y, dtype=object)
        index = np.arange(len(y))
        proper, calibration = train_test_split(
            index, test_size=self.calibration_size, stratify=y, random_state=self.random_state
        )
        rows = (lambda i: X.iloc[i]) if hasattr(X, "iloc") else (lambda i: X[i])
        self.estimator_ = clone(self.estimator).fit(rows(proper), y[proper])
        self.classes_ = np.asarray(self.estimator_.classes_, dtype=object)
        proba = self.estimator_.predict_proba(rows(calibration))
        position = {c: k for k, c in enumerate(self.classes_)}
        truth = np.array([position[c] for c in y[calibration]])
        alphas = 1.0 - proba[np.arange(len(truth)), truth]  # hinge non-conformity
        self.crepes_ = Crepes().fit(alphas, bins=truth)
        self.n_calibration_ = np.bincount(truth, minlength=len(self.classes_))
        if self.parent_of is not None:
            self.parents_, top = parent_probabilities(proba, self.classes_, self.parent_of)
            where = {p: j for j, p in enumerate(self.parents_)}
            up = np.array([where[self.parent_of[c]] for c in y[calibration]])
            self.crepes_parent_ = Crepes().fit(1.0 - top[np.arange(len(up)), up], bins=up)
        return self

    def predict_proba(self, X) -> np.ndarray:
        check_is_fitted(self, "estimator_")
        return self.estimator_.predict_proba(X)

    def predict(self, X) -> np.ndarray:
        return self.classes_[self.predict_proba(X).argmax(axis=1)]

    def predict_set(
        self, X, confidence: float | None = None, *, level: str = "class"
    ) -> np.ndarray:
        """Boolean matrix cells x ``classes_`` (``level="parent"``: cells x ``parents_``):
        the classes in each cell's prediction set."""
        check_is_fitted(self, "crepes_")
        return self._sets(self.predict_proba(X), confidence, level)

    def _sets(self, proba: np.ndarray, confidence: float | None, level: str) -> np.ndarray:
        confidence = self.confidence if confidence is None else confidence
        if level == "class":
            return sets_from_proba(self.crepes_, proba, confidence, seed=self.random_state)
        if level != "parent":
            raise ValueError(f"level must be 'class' or 'parent', not {level!r}")
        if self.parent_of is None:
            raise ValueError("parent-level sets need parent_of")
        _, top = parent_probabilities(proba, self.classes_, self.parent_of)
        return sets_from_proba(self.crepes_parent_, top, confidence, seed=self.random_state)

    def predict_levels(self, X, confidence: float | None = None) -> pd.DataFrame:
        """Per cell and level: the call (top-down), its probability and the prediction set,
        and the finest level the sets support (``call_level``: ``class`` when the class set
        has at most ``max_set_size`` classes, else ``parent`` when the parent set has one
        class, else ``none``)."""
        check_is_fitted(self, "crepes_parent_")
        proba = self.predict_proba(X)
        table = levels_table(
            proba,
            self.classes_,
            self.parent_of,
            self._sets(proba, confidence, "class"),
            self._sets(proba, confidence, "parent"),
            self.max_set_size,
        )
        if hasattr(X, "index"):
            table.index = X.index
        return table

    def explain(self, X) -> pd.DataFrame:
        """The prediction sets as boolean columns ``set:<class>`` (and ``parent_set:<parent>``
        with ``parent_of``), for evaluations that measure coverage and set size."""
        proba = self.predict_proba(X)
        sets = self._sets(proba, None, "class")
        out = pd.DataFrame(sets, columns=[f"set:{c}" for c in self.classes_])
        if self.parent_of is not None:
            up = self._sets(proba, None, "parent")
            out[[f"parent_set:{p}" for p in self.parents_]] = up
        return out


def call_levels(set_size, parent_set_size, max_set_size: int) -> np.ndarray:
    """The finest level the sets support, per cell: ``class`` when the class set holds at
    most ``max_set_size`` classes, else ``parent`` when the parent set holds one, else
    :data:`NO_CALL`."""
    set_size, parent_set_size = np.asarray(set_size), np.asarray(parent_set_size)
    return np.where(
        set_size <= max_set_size, "class", np.where(parent_set_size == 1, "parent", NO_CALL)
    )


def levels_table(
    proba: np.ndarray,
    classes,
    parent_of: Mapping[str, str],
    sets: np.ndarray,
    parent_sets: np.ndarray,
    max_set_size: int,
) -> pd.DataFrame:
    """Per cell: the top-down calls and their probabilities (``parent``, ``child``), both
    levels' sets ('; '-joined) and sizes, and ``call_level`` (:func:`call_levels`)."""
    classes = np.asarray(classes, dtype=object)
    parents, _ = parent_probabilities(proba, classes, parent_of)
    table = top_down(proba, classes, parent_of)
    table["parent_set"] = ["; ".join(parents[row]) for row in parent_sets]
    table["parent_set_size"] = parent_sets.sum(axis=1)
    table["set"] = ["; ".join(classes[row]) for row in sets]
    table["set_size"] = sets.sum(axis=1)
    table["call_level"] = call_levels(table["set_size"], table["parent_set_size"], max_set_size)
    return table


def sets_from_proba(crepes_model, proba: np.ndarray, confidence: float, *, seed: int) -> np.ndarray:
    """Class-conditional prediction sets from probabilities and a fitted crepes classifier
    (its Mondrian categories: the class positions)."""
    alphas = 1.0 - proba
    n = len(proba)
    columns = [
        crepes_model.predict_set(
            alphas, np.full(n, k), confidence=confidence, smoothing=True, seed=seed
        )[:, k]
        for k in range(proba.shape[1])
    ]
    return np.column_stack(columns).astype(bool)
