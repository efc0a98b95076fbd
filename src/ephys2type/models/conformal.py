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
checked equal to crepes' own by the tests, given crepes' random draws). One departure: the
smoothing's random draw is each cell's own (:func:`cell_draws`, seeded by its features),
where crepes draws by row position, so a cell's set does not depend on the rows around it.

With ``parent_of`` (t-type -> subclass) the sets are calibrated at both levels (the parent
level from the summed probabilities of its children), calls are made top-down so the levels
never disagree, and a cell whose t-type set is large is called at the subclass only
(:meth:`ConformalClassifier.predict_levels`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from numbers import Integral, Real
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.model_selection import train_test_split
from sklearn.utils import get_tags
from sklearn.utils._param_validation import HasMethods, Interval
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from ephys2type.data.columns import SET_SEPARATOR
from ephys2type.models.accuracy_record import AccuracyRecord
from ephys2type.models.calibration import fit_temperature, probability_logits, softmax
from ephys2type.models.hierarchy import parent_probabilities, top_down

#: ``call_level`` of a cell whose parent set, too, holds more than one class
NO_CALL = "none"


class ConformalClassifier(ClassifierMixin, BaseEstimator):
    """A classifier that also gives class-conditional conformal prediction sets: one
    estimator calibrated by :func:`calibrate`, the conformal core every member of a
    :class:`~ephys2type.models.cell_classifier.CellTypeClassifier` is calibrated by too.

    Parameters
    ----------
    estimator : classifier with ``predict_proba``
        Fitted on the proper training part of the cells (a clone).
    confidence : float, default 0.9
        Default coverage promised by :meth:`predict_set`.
    calibration_size : float, default 0.25
        Share of the training cells held out (stratified) to calibrate the sets.
    random_state : int, default 0
        Seed of the calibration split and of the smoothed p-values' draws
        (:func:`cell_draws`).
    parent_of : mapping class -> parent class, optional
        Also calibrate sets at the parent level and offer :meth:`predict_levels`.
    max_set_size : int, default 3
        A cell whose class set holds more classes than this is called at the parent level
        only (:meth:`predict_levels`).
    temperature : bool, default True
        Temperature-scale the probabilities on the calibration cells first (as deployed).

    Attributes
    ----------
    estimator_ : the fitted estimator; classes_ : its classes; calibration_ : its
    :class:`Calibration`; parents_ : the parent classes (with ``parent_of``);
    n_calibration_ : calibration cells per class.

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

    _parameter_constraints: ClassVar[dict] = {
        "estimator": [HasMethods(["fit", "predict_proba"]), None],
        "confidence": [Interval(Real, 0, 1, closed="neither")],
        "calibration_size": [Interval(Real, 0, 1, closed="neither")],
        "random_state": [Interval(Integral, 0, None, closed="left")],
        "parent_of": [Mapping, None],
        "max_set_size": [Interval(Integral, 1, None, closed="left")],
        "temperature": ["boolean"],
    }

    def __init__(
        self,
        *,
        estimator=None,
        confidence: float = 0.9,
        calibration_size: float = 0.25,
        random_state: int = 0,
        parent_of: Mapping[str, str] | None = None,
        max_set_size: int = 3,
        temperature: bool = True,
    ):
        self.estimator = estimator
        self.confidence = confidence
        self.calibration_size = calibration_size
        self.random_state = random_state
        self.parent_of = parent_of
        self.max_set_size = max_set_size
        self.temperature = temperature

    def fit(self, X, y) -> ConformalClassifier:
        """Fit the estimator on the proper training part; calibrate on the rest."""
        self._validate_params()
        if self.estimator is None:
            raise ValueError("ConformalClassifier needs an estimator")
        # checked as scikit-learn checks (sparse, complex, shapes, y); the estimator is
        # given X as it came (a DataFrame keeps its column names)
        checked, _ = validate_data(self, X, y, ensure_all_finite="allow-nan", dtype=None)
        if not hasattr(X, "iloc"):
            X = checked
        y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        index = np.arange(len(y))
        proper, calibration = train_test_split(
            index, test_size=self.calibration_size, stratify=y, random_state=self.random_state
        )
        rows = (lambda i: X.iloc[i]) if hasattr(X, "iloc") else (lambda i: X[i])
        self.estimator_ = clone(self.estimator).fit(rows(proper), y[proper])
        self.classes_ = np.asarray(self.estimator_.classes_)
        self.calibration_ = calibrate(
            self.estimator_.predict_proba(rows(calibration)),
            y[calibration],
            self.classes_,
            confidence=self.confidence,
            parent_of=self.parent_of,
            temperature=self.temperature,
        )
        scores = self.calibration_.conformal
        self.n_calibration_ = np.array([len(scores.scores[str(c)]) for c in self.classes_])
        if self.parent_of is not None:
            self.parents_ = np.asarray(scores.parents, dtype=object)
        return self

    @property
    def scores_(self) -> ConformalScores:
        """The calibration cells' conformal scores."""
        check_is_fitted(self, "calibration_")
        return self.calibration_.conformal

    def predict_proba(self, X) -> np.ndarray:
        """Calibrated class probabilities (columns in ``classes_`` order)."""
        check_is_fitted(self, "estimator_")
        validate_data(self, X, reset=False, ensure_all_finite="allow-nan", dtype=None)
        return self.calibration_.probabilities(self.estimator_.predict_proba(X))

    def predict(self, X) -> np.ndarray:
        proba = self.predict_proba(X)
        return self.classes_[proba.argmax(axis=1)]

    def predict_set(
        self, X, confidence: float | None = None, *, level: str = "class"
    ) -> np.ndarray:
        """Boolean matrix cells x ``classes_`` (``level="parent"``: cells x ``parents_``):
        the classes in each cell's prediction set."""
        check_is_fitted(self, "calibration_")
        return self._sets(self._draws(X), self.predict_proba(X), confidence, level)

    def _draws(self, X) -> np.ndarray:
        """Each cell's own smoothing draws (:func:`cell_draws`), for both levels."""
        return cell_draws(X, len(self.classes_), self.random_state)

    def _sets(
        self, draws: np.ndarray, proba: np.ndarray, confidence: float | None, level: str
    ) -> np.ndarray:
        if level not in ("class", "parent"):
            raise ValueError(f"level must be 'class' or 'parent', not {level!r}")
        if level == "parent" and self.parent_of is None:
            raise ValueError("parent-level sets need parent_of")
        scores = self.scores_.at(self.confidence if confidence is None else confidence)
        if level == "class":
            return scores.sets(proba, self.classes_, draws=draws)
        return scores.parent_sets(proba, self.classes_, draws=draws)

    def predict_levels(self, X, confidence: float | None = None) -> pd.DataFrame:
        """Per cell and level: the call (top-down), its probability and the prediction set,
        and the finest level the sets support (``call_level``: ``class`` when the class set
        has at most ``max_set_size`` classes and holds the call, else ``parent`` when the
        parent set is the parent call alone, else ``none``)."""
        check_is_fitted(self, "parents_")
        proba, draws = self.predict_proba(X), self._draws(X)
        table = levels_table(
            proba,
            self.classes_,
            self.parent_of,
            self._sets(draws, proba, confidence, "class"),
            self._sets(draws, proba, confidence, "parent"),
            self.max_set_size,
            call_inside_set=True,
        )
        if hasattr(X, "index"):
            table.index = X.index
        return table

    def explain(self, X) -> pd.DataFrame:
        """The prediction sets as boolean columns ``set:<class>`` (and ``parent_set:<parent>``
        with ``parent_of``), for evaluations that measure coverage and set size."""
        proba, draws = self.predict_proba(X), self._draws(X)
        sets = self._sets(draws, proba, None, "class")
        out = pd.DataFrame(sets, columns=[f"set:{c}" for c in self.classes_])
        if self.parent_of is not None:
            up = self._sets(draws, proba, None, "parent")
            out[[f"parent_set:{p}" for p in self.parents_]] = up
        return out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        if self.estimator is not None:  # missing values: as the wrapped estimator takes them
            tags.input_tags.allow_nan = get_tags(self.estimator).input_tags.allow_nan
        return tags


def call_levels(
    set_size,
    parent_set_size,
    max_set_size: int,
    *,
    call_in_set=None,
    parent_call_in_set=None,
) -> np.ndarray:
    """The finest level the sets support, per cell: ``class`` when the class set holds at
    most ``max_set_size`` classes, else ``parent`` when the parent set holds one, else
    :data:`NO_CALL`. Given ``call_in_set`` / ``parent_call_in_set`` (whether each level's
    top-down call lies inside that level's set), a level gives a call only where it does."""
    set_size, parent_set_size = np.asarray(set_size), np.asarray(parent_set_size)
    fine = set_size <= max_set_size
    coarse = parent_set_size == 1
    if call_in_set is not None:
        fine = fine & np.asarray(call_in_set, dtype=bool)
    if parent_call_in_set is not None:
        coarse = coarse & np.asarray(parent_call_in_set, dtype=bool)
    return np.where(fine, "class", np.where(coarse, "parent", NO_CALL))


def levels_table(
    proba: np.ndarray,
    classes,
    parent_of: Mapping[str, str],
    sets: np.ndarray,
    parent_sets: np.ndarray,
    max_set_size: int,
    *,
    call_inside_set: bool = False,
) -> pd.DataFrame:
    """Per cell: the top-down calls and their probabilities (``parent``, ``child``), both
    levels' sets ('; '-joined) and sizes, and ``call_level`` (:func:`call_levels`; with
    ``call_inside_set``, a level gives a call only when its call lies inside its set)."""
    classes = np.asarray(classes, dtype=object)
    parents, _ = parent_probabilities(proba, classes, parent_of)
    table = top_down(proba, classes, parent_of)
    table["parent_set"] = [SET_SEPARATOR.join(parents[row]) for row in parent_sets]
    table["parent_set_size"] = parent_sets.sum(axis=1)
    table["set"] = [SET_SEPARATOR.join(map(str, classes[row])) for row in sets]
    table["set_size"] = sets.sum(axis=1)
    inside = parent_inside = None
    if call_inside_set:
        rows = np.arange(len(table))
        child_pos = {c: k for k, c in enumerate(classes)}
        parent_pos = {p: j for j, p in enumerate(parents)}
        inside = sets[rows, [child_pos[c] for c in table["child"]]]
        parent_inside = parent_sets[rows, [parent_pos[p] for p in table["parent"]]]
    table["call_level"] = call_levels(
        table["set_size"],
        table["parent_set_size"],
        max_set_size,
        call_in_set=inside,
        parent_call_in_set=parent_inside,
    )
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
        y = np.asarray([str(v) for v in y], dtype=object)  # scores are keyed by name
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

    def sets(
        self, proba: np.ndarray, classes, *, seed: int = 0, draws: np.ndarray | None = None
    ) -> np.ndarray:
        """Boolean cells x ``classes``: the classes in each cell's set (``seed``, ``draws``:
        :func:`sets_from_proba`)."""
        labels = [str(c) for c in classes]
        return sets_from_proba(self.scores, labels, proba, self.confidence, seed=seed, draws=draws)

    def parent_sets(
        self, proba: np.ndarray, classes, *, seed: int = 0, draws: np.ndarray | None = None
    ) -> np.ndarray:
        """Boolean cells x :attr:`parents`: the parent classes in each cell's set."""
        parents, top = parent_probabilities(proba, classes, self.parent_of)
        if list(parents) != self.parents:
            raise ValueError("the parent classes differ from the calibrated ones")
        return sets_from_proba(
            self.parent_scores, self.parents, top, self.confidence, seed=seed, draws=draws
        )

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


@dataclass(frozen=True)
class Calibration:
    """What the held-out calibration cells of one model say about it.

    temperature : its softmax temperature; conformal : its class-conditional conformal
    scores; accuracy : accuracy of its calls on the calibration cells (with two-level
    labels, of the top-down finest-level calls); parent_accuracy : of the parent-level calls
    (two-level labels only); n_calibration : how many cells; confidence / predicted /
    correct : per calibration cell (in the order of the calibration cells), the probability
    of its call, the call and whether it was right, at the level its expected accuracy is
    judged by (the parent level with two-level labels): the reference of a label-free
    estimate of a new batch's accuracy (:mod:`ephys2type.models.batch_check`); record :
    every training cell's out-of-fold call (:mod:`ephys2type.models.accuracy_record`), when
    the classifier keeps one: then the member's expected accuracy and the reference of the
    estimate.
    """

    temperature: float
    conformal: ConformalScores
    accuracy: float
    n_calibration: int
    parent_accuracy: float | None = None
    confidence: tuple[float, ...] = ()
    predicted: tuple[str, ...] = ()
    correct: tuple[bool, ...] = ()
    record: AccuracyRecord | None = None

    def probabilities(self, raw: np.ndarray) -> np.ndarray:
        """Calibrated probabilities from the model's raw ones."""
        return softmax(probability_logits(raw), self.temperature)

    def to_dict(self) -> dict[str, Any]:
        return {
            "temperature": self.temperature,
            "conformal": self.conformal.to_dict(),
            "accuracy": self.accuracy,
            "parent_accuracy": self.parent_accuracy,
            "n_calibration": self.n_calibration,
            "calibration_cells": {
                "confidence": list(self.confidence),
                "predicted": list(self.predicted),
                "correct": [bool(c) for c in self.correct],
            },
            "record": None if self.record is None else self.record.to_dict(),
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Calibration:
        cells = raw.get("calibration_cells") or {}
        parent = raw.get("parent_accuracy")
        return cls(
            temperature=float(raw["temperature"]),
            conformal=ConformalScores.from_dict(raw["conformal"]),
            accuracy=float(raw["accuracy"]),
            n_calibration=int(raw["n_calibration"]),
            parent_accuracy=None if parent is None else float(parent),
            confidence=tuple(float(v) for v in cells.get("confidence", ())),
            predicted=tuple(str(v) for v in cells.get("predicted", ())),
            correct=tuple(bool(v) for v in cells.get("correct", ())),
            record=None if raw.get("record") is None else AccuracyRecord.from_dict(raw["record"]),
        )


def calibrate(
    raw: np.ndarray,
    y,
    classes: Sequence[str],
    *,
    confidence: float,
    parent_of: Mapping[str, str] | None = None,
    temperature: bool = True,
) -> Calibration:
    """Calibrate a model from its raw probabilities ``raw`` (columns in ``classes`` order)
    on held-out cells labelled ``y``: the temperature (1 when not ``temperature``), then, on
    the tempered probabilities, the conformal scores and the accuracies."""
    classes = np.asarray(classes, dtype=object)
    y = np.asarray(y, dtype=object)
    position = {c: k for k, c in enumerate(classes)}
    truth = np.array([position[c] for c in y])
    t = fit_temperature(probability_logits(raw), truth) if temperature else 1.0
    proba = softmax(probability_logits(raw), t) if temperature else np.asarray(raw, dtype=float)
    conformal = ConformalScores.calibrate(
        proba, classes, y, confidence=confidence, parent_of=parent_of
    )
    calls = judged_calls(proba, classes, y, parent_of)
    return Calibration(
        temperature=float(t),
        conformal=conformal,
        accuracy=calls.accuracy,
        n_calibration=len(y),
        parent_accuracy=calls.parent_accuracy,
        confidence=calls.confidence,
        predicted=calls.predicted,
        correct=calls.correct,
    )


@dataclass(frozen=True)
class JudgedCalls:
    """Cells' calls at the level a model's expected accuracy is judged by (the parent level
    with two-level labels): each call's probability, the call, whether it was right; and
    the accuracy of the finest-level calls (top-down with two-level labels) and of the
    parent-level ones (two-level labels only)."""

    confidence: tuple[float, ...]
    predicted: tuple[str, ...]
    correct: tuple[bool, ...]
    accuracy: float
    parent_accuracy: float | None


def judged_calls(
    proba: np.ndarray, classes, y, parent_of: Mapping[str, str] | None = None
) -> JudgedCalls:
    """The calls of calibrated probabilities ``proba`` (columns in ``classes`` order) on
    cells labelled ``y``, as :class:`JudgedCalls`."""
    classes = np.asarray(classes, dtype=object)
    y = np.asarray(y, dtype=object)
    calls = classes[proba.argmax(axis=1)]
    call_proba = proba.max(axis=1)
    correct = calls == y
    accuracy = float(np.mean(correct))
    parent_accuracy = None
    if parent_of is not None:
        # the parent level is what a two-level member's expected accuracy is judged by, so
        # its cells keep their parent-level calls
        levels = top_down(proba, classes, parent_of)
        truth_up = np.array([parent_of[c] for c in y], dtype=object)
        calls = levels["parent"].to_numpy(dtype=object)
        call_proba = levels["parent_probability"].to_numpy(dtype=float)
        correct = calls == truth_up
        parent_accuracy = float(np.mean(correct))
        accuracy = float(np.mean(levels["child"].to_numpy(dtype=object) == y))
    return JudgedCalls(
        confidence=tuple(float(v) for v in call_proba),
        predicted=tuple(str(c) for c in calls),
        correct=tuple(bool(v) for v in correct),
        accuracy=accuracy,
        parent_accuracy=parent_accuracy,
    )


def cell_draws(X, n: int, seed: int) -> np.ndarray:
    """Per cell (row of ``X``, its features), ``n`` uniform draws in [0, 1) that depend on
    nothing but its features and ``seed``: the smoothing noise of its conformal p-values.
    Drawn per position in the batch (crepes' way), a cell's set would change with the rows
    around it: the same cell, alone, in another order or another file, got another set; so
    a cell's draws are seeded by a hash of its own values, and the same cell always gets
    the same set. Numbers are hashed in single precision with missing values and -0.0 made
    canonical (a value converted from another unit and back, tau in ms mapped to s, can
    differ in its last bits and is the same cell); a table with other column types (a
    pipeline that encodes strings) by pandas' row hash."""
    key = int(seed).to_bytes(8, "little", signed=True)
    try:
        values = same_cell_values(X)
    except (TypeError, ValueError):  # strings, pd.NA: not numbers yet
        rows = pd.util.hash_pandas_object(pd.DataFrame(X), index=False).to_numpy()
        encoded = [r.tobytes() for r in rows]
    else:
        encoded = [row.tobytes() for row in np.ascontiguousarray(values)]
    out = np.empty((len(encoded), n))
    for i, data in enumerate(encoded):
        digest = hashlib.blake2b(data, digest_size=16, key=key).digest()
        out[i] = np.random.default_rng(int.from_bytes(digest, "little")).random(n)
    return out


def same_cell_values(X) -> np.ndarray:
    """The cells' features (rows of ``X``) in single precision, missing values and -0.0
    made canonical: what makes two rows the same cell. The same table read from a CSV and
    from an .xlsx, or a value converted to another unit and back, differs in the last bits
    of float64; those must not change a cell's set (:func:`cell_draws`) or a batch's check
    (:mod:`ephys2type.models.batch_check`)."""
    values = np.asarray(X, dtype=np.float64).astype(np.float32)
    return np.where(np.isnan(values), np.float32(np.nan), values + np.float32(0.0))


def sets_from_proba(
    scores: Mapping[str, Any],
    labels,
    proba: np.ndarray,
    confidence: float,
    *,
    seed: int,
    draws: np.ndarray | None = None,
) -> np.ndarray:
    """Class-conditional prediction sets: class ``labels[k]`` is in a cell's set when its
    smoothed Mondrian p-value (non-conformity 1 - p, against ``scores[labels[k]]``) is at
    least 1 - ``confidence``.

    The same sets as crepes' ``ConformalClassifier.predict_set`` with the class positions as
    Mondrian categories, ``smoothing=True`` and ``seed`` (same formula, same random draws;
    tests/test_conformal.py checks equality) when ``draws`` is None; ``draws`` (cells x at
    least ``len(labels)``, :func:`cell_draws`) gives each cell its own smoothing noise
    instead, which is how ephys2type's models call it. Not crepes itself: crepes scores every class
    of every cell against every category in a Python loop, which made sets the slowest step
    of ``predict`` (4 s of a 30 s test reproduction); here each class is two binary searches.
    """
    alphas = 1.0 - np.asarray(proba, dtype=float)
    n, n_classes = alphas.shape
    if draws is None:
        # crepes draws its smoothing noise as one (cells x classes) matrix after np.random.seed
        thetas = np.random.RandomState(seed).rand(n, n_classes)
    else:
        thetas = np.asarray(draws, dtype=float)
        if thetas.ndim != 2 or thetas.shape[0] != n or thetas.shape[1] < n_classes:
            raise ValueError(
                f"draws must be one row of at least {n_classes} per cell ({n} cells), got "
                f"shape {thetas.shape}"
            )
        thetas = thetas[:, :n_classes]
    out = np.zeros((n, n_classes), dtype=bool)
    for k, label in enumerate(labels):
        cal = np.sort(np.asarray(scores[label], dtype=float))
        q = len(cal)
        above = np.searchsorted(cal, alphas[:, k], side="right")
        below = np.searchsorted(cal, alphas[:, k], side="left")
        p_values = ((q - above) + thetas[:, k] * ((above - below) + 1)) / (q + 1)
        out[:, k] = p_values >= 1 - confidence
    return out
