"""One model of one feature set, calibrated on cells it never saw, and where members fitted
on demand are kept.

A :class:`~ephys2type.models.cell_classifier.CellTypeClassifier` is a set of *members*, one
per feature set, each a fitted model with its
:class:`~ephys2type.models.conformal.Calibration` (made by the one conformal core,
:func:`~ephys2type.models.conformal.calibrate`, which
:class:`~ephys2type.models.conformal.ConformalClassifier` uses too).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import pandas as pd

from ephys2type.errors import Ephys2TypeError
from ephys2type.models.conformal import Calibration, ConformalScores


def wilson_interval(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a proportion ``k / n``."""
    if n == 0:
        return float("nan"), float("nan")
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return float(centre - half), float(centre + half)


def class_probabilities(estimator, X, classes: Sequence[str]) -> np.ndarray:
    """predict_proba with columns in ``classes`` order (zeros for classes the model lacks)."""
    proba = estimator.predict_proba(X)
    return (
        pd.DataFrame(proba, columns=list(estimator.classes_))
        .reindex(columns=list(classes), fill_value=0.0)
        .to_numpy()
    )


@dataclass
class Member:
    """A model of one feature set, fitted on the proper part of the training cells and
    calibrated on the rest.

    features : the columns it reads (schema order); calibration : see :class:`Calibration`;
    origin : ``"fit"`` (fitted with the classifier) or ``"on demand"``. ``estimator`` is the
    fitted pipeline (``predict_proba`` on a DataFrame of ``features``), or a loader
    returning it (a saved member is read when a cell first needs it).
    """

    features: tuple[str, ...]
    calibration: Calibration
    origin: str
    loader: Callable[[], Any] | None = field(default=None, repr=False)
    _estimator: Any = field(default=None, repr=False)

    @property
    def estimator(self) -> Any:
        if self._estimator is None:
            if self.loader is None:
                raise Ephys2TypeError("member without a fitted model")
            self._estimator = self.loader()
        return self._estimator

    @property
    def conformal(self) -> ConformalScores:
        return self.calibration.conformal

    @property
    def accuracy(self) -> float:
        """The accuracy of its finest-level calls: on every training cell's out-of-fold call
        when it keeps that record (:mod:`~ephys2type.models.accuracy_record`), else on the
        calibration cells."""
        record = self.calibration.record
        return self.calibration.accuracy if record is None else record.accuracy

    @property
    def n_calibration(self) -> int:
        return self.calibration.n_calibration

    @property
    def n_record(self) -> int:
        """How many cells its accuracy is measured on (the record's, else the calibration
        cells)."""
        record = self.calibration.record
        return self.n_calibration if record is None else record.n

    @property
    def expected_accuracy(self) -> float:
        """The accuracy its calls are judged by: the parent level's with two-level labels."""
        record = self.calibration.record
        if record is not None:
            return record.expected_accuracy
        parent = self.calibration.parent_accuracy
        return self.accuracy if parent is None else parent

    def interval(self, level: str = "call") -> tuple[float, float]:
        """Wilson interval of the expected accuracy (``level="class"``: of the finest
        level's accuracy)."""
        value = self.accuracy if level == "class" else self.expected_accuracy
        return wilson_interval(round(value * self.n_record), self.n_record)

    def probabilities(self, X: pd.DataFrame, classes: Sequence[str]) -> np.ndarray:
        """Calibrated probabilities (columns in ``classes`` order) of the cells ``X``."""
        raw = class_probabilities(self.estimator, X[list(self.features)], classes)
        return self.calibration.probabilities(raw)

    def attention(self, X: pd.DataFrame) -> pd.DataFrame | None:
        """Per-cell attention over the member's families (BiLSTM), else None."""
        from ephys2type.models.inspection import explain

        table = explain(self.estimator, X[list(self.features)])
        if table is None:
            return None
        table.index = X.index
        return table

    def describe(self) -> dict[str, Any]:
        """JSON-ready facts (not the model)."""
        low, high = self.interval()
        return {
            "features": list(self.features),
            **self.calibration.to_dict(),
            "expected_accuracy": self.expected_accuracy,
            "expected_accuracy_interval": [low, high],
            "origin": self.origin,
        }


class MemberStore(Protocol):
    """Where members fitted on demand are kept between calls: in memory
    (:class:`MemoryStore`) or in a folder (:class:`ephys2type.persist.format.FolderStore`)."""

    def get(self, features: Sequence[str]) -> Member | None: ...

    def put(self, member: Member) -> None: ...


class MemoryStore:
    """Members by feature set, in memory."""

    def __init__(self) -> None:
        self._members: dict[frozenset[str], Member] = {}

    def get(self, features: Sequence[str]) -> Member | None:
        return self._members.get(frozenset(features))

    def put(self, member: Member) -> None:
        self._members[frozenset(member.features)] = member

    def members(self) -> list[Member]:
        return list(self._members.values())
