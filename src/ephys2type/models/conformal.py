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
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.model_selection import train_test_split
from sklearn.utils.validation import check_is_fitted


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

    Attributes
    ----------
    estimator_ : the fitted estimator; classes_ : its classes.

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
    ):
        self.estimator = estimator
        self.confidence = confidence
        self.calibration_size = calibration_size
        self.random_state = random_state

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
        return self

    def predict_proba(self, X) -> np.ndarray:
        check_is_fitted(self, "estimator_")
        return self.estimator_.predict_proba(X)

    def predict(self, X) -> np.ndarray:
        return self.classes_[self.predict_proba(X).argmax(axis=1)]

    def predict_set(self, X, confidence: float | None = None) -> np.ndarray:
        """Boolean matrix cells x ``classes_``: the classes in each cell's prediction set."""
        check_is_fitted(self, "crepes_")
        return sets_from_proba(
            self.crepes_,
            self.predict_proba(X),
            self.confidence if confidence is None else confidence,
            seed=self.random_state,
        )


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
