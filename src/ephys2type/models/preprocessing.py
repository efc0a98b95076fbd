"""In-fold preprocessing: impute -> standardize [+ flags] -> [sparse PCA] -> [SMOTE] -> model.

:class:`FamilyPreprocessor` is the one implementation of median imputation, standardization
and family-presence flags. Every model uses it (the tree and linear pipelines, the BiLSTM,
each species in the transfer estimators), and a saved model stores its statistics and
predicts through the same ``transform``, so training and deployment cannot drift apart.

Everything that learns from data lives in one imbalanced-learn ``Pipeline`` that is fitted on
the training fold only, so medians, means, sparse components and synthetic SMOTE cells never
see a test cell (``tests/test_leakage.py`` proves it).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.impute import SimpleImputer
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted, validate_data

from ephys2type.data.schema import FeatureSchema
from ephys2type.models.sparse_pca import FamilySparsePCA

if TYPE_CHECKING:
    from imblearn.pipeline import Pipeline


class FamilyPreprocessor(TransformerMixin, BaseEstimator):
    """Median imputation and standardization, optionally followed by family-presence flags.

    Medians are those of the training cells (a column that is empty in training is filled
    with 0); means and scales are those of the imputed training cells (``StandardScaler``;
    a constant column keeps scale 1).

    Parameters
    ----------
    families : sequence of sequence of int, default=None
        Column positions of each feature family. Needed for ``flags``; stored with a saved
        model. None: every column is one family.
    flags : bool, default=False
        Append one column per family: 1.0 if the cell has any measured value in it, else 0.0.
        Computed before imputation, so the flags record the cell's real missingness (the
        layout :class:`~ephys2type.models.bilstm.estimator.FamilyBiLSTMClassifier` reads
        with ``mask_columns=True``).

    Attributes
    ----------
    medians_ : ndarray of shape (n_features,)
        Values that replace missing entries.
    means_ : ndarray of shape (n_features,)
        Means of the imputed training columns.
    scales_ : ndarray of shape (n_features,)
        Standard deviations of the imputed training columns (1 where constant).
    families_ : list of list of int
        The families used for the flags.
    n_features_in_ : int
        Number of input columns.

    Examples
    --------
    >>> import numpy as np
    >>> from ephys2type.models.preprocessing import FamilyPreprocessor
    >>> X = np.array([[1.0, np.nan], [3.0, 4.0], [5.0, 8.0]])
    >>> prep = FamilyPreprocessor(families=[[0], [1]], flags=True).fit(X)
    >>> prep.medians_.tolist()
    [3.0, 6.0]
    >>> prep.transform(X)[0, 2:].tolist()  # cell 0 has family 0 but not family 1
    [1.0, 0.0]
    """

    def __init__(self, *, families: Sequence[Sequence[int]] | None = None, flags: bool = False):
        self.families = families
        self.flags = flags

    def fit(self, X, y=None):
        X = validate_data(self, X, dtype=np.float64, ensure_all_finite="allow-nan")
        imputer = SimpleImputer(strategy="median", keep_empty_features=True).fit(X)
        scaler = StandardScaler().fit(imputer.transform(X))
        self.medians_ = np.asarray(imputer.statistics_, dtype=np.float64)
        self.means_ = np.asarray(scaler.mean_, dtype=np.float64)
        self.scales_ = np.asarray(scaler.scale_, dtype=np.float64)
        self.families_ = self._families(X.shape[1])
        return self

    def _families(self, n_features: int) -> list[list[int]]:
        if self.families is None:
            return [list(range(n_features))]
        families = [[int(c) for c in f] for f in self.families]
        if any(c < 0 or c >= n_features for f in families for c in f):
            raise ValueError(f"families refer to columns beyond the {n_features} features")
        return families

    def standardize(self, X) -> tuple[np.ndarray, np.ndarray]:
        """The imputed, standardized features and the family-presence flags, separately."""
        check_is_fitted(self, "medians_")
        X = validate_data(self, X, dtype=np.float64, ensure_all_finite="allow-nan", reset=False)
        present = np.column_stack([~np.isnan(X[:, f]).all(axis=1) for f in self.families_])
        Z = (np.where(np.isnan(X), self.medians_, X) - self.means_) / self.scales_
        return Z, present.astype(np.float64)

    def standardize_measured(self, X) -> np.ndarray:
        """The standardized features with missing values left missing (NaN), not imputed."""
        check_is_fitted(self, "medians_")
        X = validate_data(self, X, dtype=np.float64, ensure_all_finite="allow-nan", reset=False)
        return (X - self.means_) / self.scales_

    def transform(self, X):
        Z, present = self.standardize(X)
        return np.hstack([Z, present]) if self.flags else Z

    def get_feature_names_out(self, input_features=None):
        check_is_fitted(self, "medians_")
        names = getattr(self, "feature_names_in_", None)
        names = list(names) if names is not None else [f"x{i}" for i in range(len(self.means_))]
        if self.flags:
            names += [f"present:{i}" for i in range(len(self.families_))]
        return np.asarray(names, dtype=object)

    def to_dict(self) -> dict[str, Any]:
        """The fitted statistics as JSON-ready lists (the saved-model sidecar's keys)."""
        check_is_fitted(self, "medians_")
        return {
            "medians": self.medians_.tolist(),
            "means": self.means_.tolist(),
            "scales": self.scales_.tolist(),
            "families": self.families_,
        }

    @classmethod
    def from_dict(
        cls,
        raw: dict[str, Any],
        *,
        flags: bool = False,
        feature_names: Sequence[str] | None = None,
    ) -> FamilyPreprocessor:
        """A fitted preprocessor from :meth:`to_dict` output (``feature_names``: the column
        names it then expects, as if fitted on a DataFrame)."""
        families = [[int(c) for c in f] for f in raw["families"]]
        prep = cls(families=families, flags=flags)
        prep.medians_ = np.asarray(raw["medians"], dtype=np.float64)
        prep.means_ = np.asarray(raw["means"], dtype=np.float64)
        prep.scales_ = np.asarray(raw["scales"], dtype=np.float64)
        if not (len(prep.medians_) == len(prep.means_) == len(prep.scales_)):
            raise ValueError("medians, means and scales differ in length")
        prep.families_ = prep._families(len(prep.medians_))
        prep.n_features_in_ = len(prep.medians_)
        if feature_names is not None:
            if len(feature_names) != prep.n_features_in_:
                raise ValueError("feature_names do not match the statistics' length")
            prep.feature_names_in_ = np.asarray(list(feature_names), dtype=object)
        return prep

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True  # imputing (and recording) missingness is the point
        return tags


def preprocessing_steps(
    schema: FeatureSchema,
    *,
    flags: bool = False,
    spca: bool = False,
    random_state: int | None = None,
) -> list[tuple[str, object]]:
    """The in-fold steps before resampling and the model: ``prep`` [, ``spca``]."""
    steps: list[tuple[str, object]] = [
        ("prep", FamilyPreprocessor(families=schema.family_index(), flags=flags))
    ]
    if spca:
        steps.append(
            (
                "spca",
                FamilySparsePCA(
                    families=schema.family_index(),
                    family_names=schema.family_names,
                    random_state=random_state,
                ),
            )
        )
    return steps


def make_pipeline(
    model: BaseEstimator,
    schema: FeatureSchema,
    *,
    flags: bool = False,
    spca: bool = False,
    smote: bool = False,
    random_state: int | None = None,
) -> Pipeline:
    """impute -> scale [+ flags] -> [family sparse PCA] -> [SMOTE] -> ``model``, fitted in-fold."""
    # imported here: imbalanced-learn adds a quarter second to every command that only
    # loads a saved model
    from imblearn.over_sampling import SMOTE
    from imblearn.pipeline import Pipeline

    steps = preprocessing_steps(schema, flags=flags, spca=spca, random_state=random_state)
    if smote:
        steps.append(("smote", SMOTE(random_state=random_state)))
    steps.append(("model", model))
    return Pipeline(steps)
