"""Prediction sets with a coverage guarantee: class-conditional split conformal prediction.

A calibrated probability says how sure a model is; a prediction set says which classes the
data cannot tell apart, with a promise: at confidence 0.9, the set holds the true class of at
least 90% of new cells of each class (class-conditional, or Mondrian, conformal prediction,
so rare types get their coverage too, not only the common ones). The guarantee needs the
calibration cells to be exchangeable with the new cells; it says nothing about cells unlike
the training data.

The conformal step is the ``crepes`` library's method (``ConformalClassifier`` with one
Mondrian category per class, non-conformity 1 - p(class), the hinge score, smoothed
p-values); this module splits the training cells into a proper training part and a
calibration part, and computes crepes' sets in vectorised form (:func:`sets_from_proba`,
checked equal to crepes' own by the tests).

With ``parent_of`` (t-type -> subclass) the sets are calibrated at both levels (the parent
level from the summed probabilities of its children), calls are made top-down so the levels
never disagree, and a cell whose t-type set is large is called at the subclass only
(:meth:`ConformalClassifier.predict_levels`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

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
        self.scores_ = ConformalScores.calibrate(
            proba,
            self.classes_,
            y[calibration],
            confidence=self.confidence,
            parent_of=self.parent_of,
        )
        self.n_calibration_ = np.array([len(self.scores_.scores[c]) for c in self.classes_])
        if self.parent_of is not None:
            self.parents_ = np.asarray(self.scores_.parents, dtype=object)
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
        check_is_fitted(self, "scores_")
        return self._sets(self.predict_proba(X), confidence, level)

    def _sets(self, proba: np.ndarray, confidence: float | None, level: str) -> np.ndarray:
        if level not in ("class", "parent"):
            raise ValueError(f"level must be 'class' or 'parent', not {level!r}")
        if level == "parent" and self.parent_of is None:
            raise ValueError("parent-level sets need parent_of")
        scores = self.scores_ if confidence is None else self.scores_.at(confidence)
        if level == "class":
            return scores.sets(proba, self.classes_, seed=self.random_state)
        return scores.parent_sets(proba, self.classes_, seed=self.random_state)

    def predict_levels(self, X, confidence: float | None = None) -> pd.DataFrame:
        """Per cell and level: the call (top-down), its probability and the prediction set,
        and the finest level the sets support (``call_level``: ``class`` when the class set
        has at most ``max_set_size`` classes, else ``parent`` when the parent set has one
        class, else ``none``)."""
        check_is_fitted(self, "parents_")
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


@dataclass(frozen=True)
class ConformalScores:
    """What class-conditional conformal sets need, kept as numbers: the non-conformity
    scores (1 - probability of the true class) of the calibration cells, per class, and,
    with ``parent_of``, per parent class (from the summed probabilities of its children).

    Stored as plain lists, a saved model carries its sets without pickled objects.
    """

    confidence: float
    scores: dict[str, list[float]]
    parent_of: dict[str, str] | None = None
    parent_scores: dict[str, list[float]] | None = None

    @classmethod
    def calibrate(
        cls,
        proba: np.ndarray,
        classes,
        y,
        *,
        confidence: float = 0.9,
        parent_of: Mapping[str, str] | None = None,
    ) -> ConformalScores:
        """Scores of the calibration cells ``y`` (``proba``: their probabilities)."""
        if not 0 < confidence < 1:
            raise ValueError(f"confidence must be between 0 and 1, not {confidence}")
        classes = [str(c) for c in classes]
        y = np.asarray(y, dtype=object)
        position = {c: k for k, c in enumerate(classes)}
        rows = np.arange(len(y))
        alpha = 1.0 - proba[rows, [position[c] for c in y]]
        parent_scores = None
        if parent_of is not None:
            parent_of = {str(k): str(v) for k, v in parent_of.items()}
            parents, top = parent_probabilities(proba, classes, parent_of)
            where = {p: j for j, p in enumerate(parents)}
            up = np.array([parent_of[c] for c in y], dtype=object)
            alpha_up = 1.0 - top[rows, [where[p] for p in up]]
            parent_scores = {p: alpha_up[up == p].tolist() for p in parents}
        return cls(
            confidence=float(confidence),
            scores={c: alpha[y == c].tolist() for c in classes},
            parent_of=None if parent_of is None else dict(parent_of),
            parent_scores=parent_scores,
        )

    @property
    def parents(self) -> list[str]:
        if self.parent_scores is None:
            raise ValueError("parent-level sets need parent_of")
        return list(self.parent_scores)

    def at(self, confidence: float) -> ConformalScores:
        """The same scores promising another coverage."""
        return replace(self, confidence=float(confidence))

    def sets(self, proba: np.ndarray, classes, *, seed: int = 0) -> np.ndarray:
        """Boolean cells x ``classes``: the classes in each cell's set."""
        labels = [str(c) for c in classes]
        return sets_from_proba(self.scores, labels, proba, self.confidence, seed=seed)

    def parent_sets(self, proba: np.ndarray, classes, *, seed: int = 0) -> np.ndarray:
        """Boolean cells x :attr:`parents`: the parent classes in each cell's set."""
        parents, top = parent_probabilities(proba, classes, self.parent_of)
        if list(parents) != self.parents:
            raise ValueError("the parent classes differ from the calibrated ones")
        return sets_from_proba(self.parent_scores, self.parents, top, self.confidence, seed=seed)

    def to_dict(self) -> dict[str, Any]:
        return {
            "confidence": self.confidence,
            "scores": self.scores,
            "parent_of": self.parent_of,
            "parent_scores": self.parent_scores,
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> ConformalScores:
        def floats(d):
            return None if d is None else {str(k): [float(a) for a in v] for k, v in d.items()}

        parent_of = raw.get("parent_of")
        return cls(
            confidence=float(raw["confidence"]),
            scores=floats(raw["scores"]),
            parent_of=None if parent_of is None else {str(k): str(v) for k, v in parent_of.items()},
            parent_scores=floats(raw.get("parent_scores")),
        )


def sets_from_proba(
    scores: Mapping[str, Any], labels, proba: np.ndarray, confidence: float, *, seed: int
) -> np.ndarray:
    """Class-conditional prediction sets: class ``labels[k]`` is in a cell's set when its
    smoothed Mondrian p-value (non-conformity 1 - p, against ``scores[labels[k]]``) is at
    least 1 - ``confidence``.

    The same sets as crepes' ``ConformalClassifier.predict_set`` with the class positions as
    Mondrian categories, ``smoothing=True`` and ``seed`` (same formula, same random draws;
    tests/test_conformal.py checks equality). Not crepes itself: crepes scores every class
    of every cell against every category in a Python loop, which made sets the slowest step
    of ``predict`` (4 s of a 30 s test reproduction); here each class is two binary searches.
    """
    alphas = 1.0 - np.asarray(proba, dtype=float)
    n, n_classes = alphas.shape
    # crepes draws its smoothing noise as one (cells x classes) matrix after np.random.seed
    thetas = np.random.RandomState(seed).rand(n, n_classes)
    out = np.zeros((n, n_classes), dtype=bool)
    for k, label in enumerate(labels):
        cal = np.sort(np.asarray(scores[label], dtype=float))
        q = len(cal)
        above = np.searchsorted(cal, alphas[:, k], side="right")
        below = np.searchsorted(cal, alphas[:, k], side="left")
        p_values = ((q - above) + thetas[:, k] * ((above - below) + 1)) / (q + 1)
        out[:, k] = p_values >= 1 - confidence
    return out
