"""How unlike the training cells is a cell? A distance estimator in scikit-learn's style.

:class:`FeatureDistance` works like scikit-learn's ``EllipticEnvelope``: ``fit`` on the
standardized training cells, ``distance`` per new cell (relative to a threshold, larger is
farther; ``score_samples`` is its negative, scikit-learn's sign), ``predict`` (+1 inlier,
-1 outlier). It differs in two ways
that matter for Patch-seq tables:

- a cell's distance uses only the features it has: the Mahalanobis distance of the
  marginal of those features (Ledoit-Wolf covariance), divided by the square root of the
  chi-square quantile for their number, so a cell missing much never looks typical merely
  for having fewer terms;
- the threshold is cross-fitted: the 99.5th percentile of the same quantity for *held-out*
  training cells (5 folds), because cells scored against a covariance fitted on themselves
  look closer than new cells do (in-sample, 6% of held-out human cells were flagged instead
  of 0.5%). The largest held-out distance is kept too (``max_training_score_``): a cell
  beyond it is farther from the training cells than any training cell was.

Above :data:`MAX_FEATURES` features (thousands of IPFX feature-vector values) the distance
is taken on each family's leading principal components (:class:`FamilyProjection`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, OutlierMixin
from sklearn.covariance import LedoitWolf
from sklearn.utils.validation import check_is_fitted, validate_data

#: The held-out training quantile a flagged cell exceeds.
QUANTILE = 0.995
#: Above this many features the distance is measured on each family's leading principal
#: components: a full covariance of thousands of vector elements would be slow to fit and
#: large to store, and unstable from few cells.
MAX_FEATURES = 256
#: Principal components kept per family in that case.
COMPONENTS = 5


@dataclass
class FamilyProjection:
    """Each family's standardized values projected on its leading principal components
    (fitted on the training cells); a family counts as measured for a cell when at least
    half of its values are. A shift outside those leading components is not seen: the price
    of a distance that a few hundred cells can estimate."""

    columns: list[np.ndarray]
    means: list[np.ndarray]
    components: list[np.ndarray]

    @classmethod
    def fit(
        cls, Z: np.ndarray, families: list[list[int]], n_components: int = COMPONENTS
    ) -> FamilyProjection:
        columns, means, components = [], [], []
        for cols in families:
            block = Z[:, cols]
            k = max(1, min(n_components, len(cols), len(Z) - 1))
            mean = block.mean(axis=0)
            _, _, vt = np.linalg.svd(block - mean, full_matrices=False)
            columns.append(np.asarray(cols, int))
            means.append(mean)
            components.append(vt[:k])
        return cls(columns, means, components)

    def transform(self, Z: np.ndarray, observed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        parts, seen = [], []
        for cols, mean, comp in zip(self.columns, self.means, self.components, strict=True):
            parts.append((Z[:, cols] - mean) @ comp.T)
            present = observed[:, cols].mean(axis=1) >= 0.5
            seen.append(np.repeat(present[:, None], len(comp), axis=1))
        return np.hstack(parts), np.hstack(seen)

    def to_dict(self) -> list[dict[str, Any]]:
        return [
            {"columns": c.tolist(), "mean": m.tolist(), "components": v.tolist()}
            for c, m, v in zip(self.columns, self.means, self.components, strict=True)
        ]

    @classmethod
    def from_dict(cls, raw: list[dict[str, Any]]) -> FamilyProjection:
        return cls(
            [np.asarray(r["columns"], int) for r in raw],
            [np.asarray(r["mean"], float) for r in raw],
            [np.asarray(r["components"], float).reshape(-1, len(r["mean"])) for r in raw],
        )


def _normalised(Z: np.ndarray, observed: np.ndarray, precision: np.ndarray) -> np.ndarray:
    """Marginal Mahalanobis distance over each cell's observed columns, divided by the
    square root of the chi-square quantile for their number; inf when nothing is observed."""
    from scipy.stats import chi2

    cov = np.linalg.inv(precision)
    out = np.full(len(Z), np.inf)  # nothing measured: infinitely far from anything learnt
    patterns, inverse = np.unique(observed, axis=0, return_inverse=True)
    for i, pattern in enumerate(patterns):
        k = int(pattern.sum())
        if k == 0:
            continue
        rows = np.flatnonzero(inverse.ravel() == i)
        z = Z[np.ix_(rows, pattern)]
        sub = precision if k == len(pattern) else np.linalg.inv(cov[np.ix_(pattern, pattern)])
        d = np.sqrt(np.einsum("ij,jk,ik->i", z, sub, z))
        out[rows] = d / np.sqrt(chi2.ppf(QUANTILE, k))
    return out


class FeatureDistance(OutlierMixin, BaseEstimator):
    """Distance of cells to the training cells on the features each cell has.

    Parameters
    ----------
    families : list of list of int, optional
        Column positions of each family; used only above :data:`MAX_FEATURES` columns.
    n_splits : int, default 5
        Folds of the cross-fitted threshold.
    random_state : int, default 0

    Attributes
    ----------
    location_, precision_ : the Ledoit-Wolf location and precision (of the projected
        space, for wide schemas); threshold_ : the cross-fitted 99.5th percentile;
    max_training_score_ : the largest held-out training score (in threshold units);
    projection_ : :class:`FamilyProjection` or None.

    Input ``Z`` is standardized; NaN marks a feature the cell lacks.
    """

    def __init__(
        self,
        *,
        families: list[list[int]] | None = None,
        n_splits: int = 5,
        random_state: int = 0,
    ):
        self.families = families
        self.n_splits = n_splits
        self.random_state = random_state

    def _space(self, Z, observed, projection):
        if projection is None:
            return Z, observed
        return projection.transform(Z, observed)

    def fit(self, Z, y=None) -> FeatureDistance:
        from sklearn.model_selection import KFold

        Z = validate_data(self, Z, ensure_all_finite="allow-nan", dtype=np.float64)
        observed = ~np.isnan(Z)
        Z = np.nan_to_num(Z)
        wide = self.families is not None and Z.shape[1] > MAX_FEATURES

        def projection_of(rows):
            return FamilyProjection.fit(Z[rows], self.families) if wide else None

        every = np.arange(len(Z))
        self.projection_ = projection_of(every)
        T, _ = self._space(Z, observed, self.projection_)
        cov = LedoitWolf().fit(T)
        r = np.empty(len(Z))
        folds = KFold(self.n_splits, shuffle=True, random_state=self.random_state)
        for train, test in folds.split(Z):
            projection = projection_of(train)
            T_train, _ = self._space(Z[train], observed[train], projection)
            part = LedoitWolf().fit(T_train)
            T_test, seen = self._space(Z[test], observed[test], projection)
            r[test] = _normalised(T_test - part.location_, seen, part.precision_)
        self.location_ = cov.location_
        self.precision_ = cov.precision_
        self.threshold_ = float(np.quantile(r, QUANTILE))
        self.max_training_score_ = float(r.max() / self.threshold_)
        self.offset_ = -1.0  # score_samples above -1: inside the 99.5% region
        return self

    def distance(self, Z) -> np.ndarray:
        """Distance relative to the threshold (> 1: beyond 99.5% of held-out training
        cells); computed on each cell's measured (non-NaN) features, inf with none."""
        check_is_fitted(self, "precision_")
        Z = validate_data(self, Z, reset=False, ensure_all_finite="allow-nan", dtype=np.float64)
        observed = ~np.isnan(Z)
        T, seen = self._space(np.nan_to_num(Z), observed, self.projection_)
        return _normalised(T - self.location_, seen, self.precision_) / self.threshold_

    def score_samples(self, Z) -> np.ndarray:
        """scikit-learn's sign: higher is more typical (minus :meth:`distance`)."""
        return -self.distance(Z)

    def decision_function(self, Z) -> np.ndarray:
        """Positive inside the 99.5% region, negative outside (scikit-learn's sign:
        ``score_samples - offset_``)."""
        return self.score_samples(Z) - self.offset_

    def predict(self, Z) -> np.ndarray:
        return np.where(self.distance(Z) > 1.0, -1, 1)

    def to_dict(self) -> dict[str, Any]:
        """The fitted state as JSON-ready values."""
        check_is_fitted(self, "precision_")
        out = {
            "location": self.location_.tolist(),
            "precision": self.precision_.tolist(),
            "threshold": self.threshold_,
            "max_training_score": self.max_training_score_,
            "quantile": QUANTILE,
            "n_features": self.n_features_in_,
        }
        if self.projection_ is not None:
            out["family_projection"] = self.projection_.to_dict()
        return out

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> FeatureDistance:
        est = cls()
        est.location_ = np.asarray(raw["location"], float)
        est.precision_ = np.asarray(raw["precision"], float)
        est.threshold_ = float(raw["threshold"])
        est.max_training_score_ = float(raw["max_training_score"])
        est.n_features_in_ = int(raw["n_features"])
        est.offset_ = -1.0
        projection = raw.get("family_projection")
        est.projection_ = None if projection is None else FamilyProjection.from_dict(projection)
        return est

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True  # missing features are left out of the distance
        return tags
