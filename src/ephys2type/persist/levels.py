"""Per-level calls of a saved model, MapMyCells style: for each cell and level (subclass,
t-type) the label, its probability and the conformal prediction set, and the finest level
the sets support.

A model trained on two-level labels (``train --labels ttype``) keeps a calibration part of
its training cells apart (never used to fit the model or its temperature); the
non-conformity scores of those cells, per class and per level, are stored in the model's
sidecar, so a loaded model gives class-conditional conformal sets (through ``crepes``, as
:mod:`ephys2type.models.conformal` does) without pickled objects.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ephys2type.models.conformal import NO_CALL, levels_table, sets_from_proba
from ephys2type.models.hierarchy import parent_probabilities


@dataclass(frozen=True)
class LevelCalibration:
    """What a saved model needs to give per-level calls and sets.

    parent_of : class -> parent class; names : (parent level, class level) column prefixes;
    confidence : coverage promised by the sets; max_set_size : most classes in a set for a
    call at the class level; scores / parent_scores : calibration non-conformity scores
    (1 - calibrated probability of the true class) per class / per parent class.
    """

    parent_of: dict[str, str]
    names: tuple[str, str]
    confidence: float
    max_set_size: int
    scores: dict[str, list[float]]
    parent_scores: dict[str, list[float]]

    @classmethod
    def calibrate(
        cls,
        proba: np.ndarray,
        classes,
        y,
        parent_of: dict[str, str],
        *,
        names: tuple[str, str] = ("subclass", "t_type"),
        confidence: float = 0.9,
        max_set_size: int = 3,
    ) -> LevelCalibration:
        """Scores of the calibration cells (``proba``: their calibrated probabilities)."""
        classes = list(classes)
        y = np.asarray(y, dtype=object)
        position = {c: k for k, c in enumerate(classes)}
        rows = np.arange(len(y))
        alpha = 1.0 - proba[rows, [position[c] for c in y]]
        parents, top = parent_probabilities(proba, classes, parent_of)
        where = {p: j for j, p in enumerate(parents)}
        up = np.array([parent_of[c] for c in y], dtype=object)
        alpha_up = 1.0 - top[rows, [where[p] for p in up]]
        return cls(
            parent_of=dict(parent_of),
            names=tuple(names),
            confidence=float(confidence),
            max_set_size=int(max_set_size),
            scores={c: alpha[y == c].tolist() for c in classes},
            parent_scores={p: alpha_up[up == p].tolist() for p in parents},
        )

    def _crepes(self, labels, scores):
        from crepes import ConformalClassifier as Crepes

        alphas = np.concatenate([np.asarray(scores[c], dtype=float) for c in labels])
        bins = np.concatenate([np.full(len(scores[c]), k) for k, c in enumerate(labels)])
        return Crepes().fit(alphas, bins=bins)

    def table(self, proba: np.ndarray, classes, *, seed: int = 0) -> pd.DataFrame:
        """Per cell: ``<parent>``/``<class>`` label (top-down), ``_probability``, ``_set``
        (labels joined by '; '), ``_set_size``; and ``call`` / ``call_level``: the class
        when its set holds at most ``max_set_size`` classes, else the parent when its set
        holds one, else no call (``none``)."""
        classes = np.asarray(classes, dtype=object)
        parents, top = parent_probabilities(proba, classes, self.parent_of)
        sets = sets_from_proba(
            self._crepes(classes, self.scores), proba, self.confidence, seed=seed
        )
        up_sets = sets_from_proba(
            self._crepes(parents, self.parent_scores), top, self.confidence, seed=seed
        )
        table = levels_table(proba, classes, self.parent_of, sets, up_sets, self.max_set_size)
        up, fine = self.names
        out = pd.DataFrame(
            {
                up: table["parent"],
                f"{up}_probability": table["parent_probability"],
                f"{up}_set": table["parent_set"],
                f"{up}_set_size": table["parent_set_size"],
                fine: table["child"],
                f"{fine}_probability": table["child_probability"],
                f"{fine}_set": table["set"],
                f"{fine}_set_size": table["set_size"],
            }
        )
        level = table["call_level"]
        out["call_level"] = level.map({"class": fine, "parent": up, NO_CALL: NO_CALL})
        out["call"] = np.where(
            level == "class", out[fine], np.where(level == "parent", out[up], "")
        )
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "parent_of": self.parent_of,
            "names": list(self.names),
            "confidence": self.confidence,
            "max_set_size": self.max_set_size,
            "scores": self.scores,
            "parent_scores": self.parent_scores,
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> LevelCalibration:
        return cls(
            parent_of={str(k): str(v) for k, v in raw["parent_of"].items()},
            names=tuple(str(n) for n in raw["names"]),
            confidence=float(raw["confidence"]),
            max_set_size=int(raw["max_set_size"]),
            scores={str(k): [float(a) for a in v] for k, v in raw["scores"].items()},
            parent_scores={str(k): [float(a) for a in v] for k, v in raw["parent_scores"].items()},
        )
