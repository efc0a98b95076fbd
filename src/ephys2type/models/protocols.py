"""Predict from the protocols a lab has: one model per plausible family subset, routed per cell.

A lab without the ramp or short-square protocols has none of those families. A model trained
on every family and fed such cells imputes the absent families with training medians, and
its accuracy falls (mouse5, gradient boosting: 93% -> 74%), while a model trained on just the
families present keeps it (92%). :class:`ProtocolSubsetClassifier` therefore fits the base
model once per plausible subset (:meth:`FeatureSchema.protocol_subsets`: the long-square
families plus any combination of the other protocols) and sends each cell to the model of
the largest subset it has. Chosen over one BiLSTM trained with random family dropout
(``bilstm-smote-famdrop``) by measurement (``benchmarks/family_dropout.py``, mouse5, 5 folds):
on cells with only the long-square families that single network reaches 88.9% accuracy (the
paper's BiLSTM, absent families masked, 84.1%), the per-subset BiLSTMs 90.6% and the
per-subset random forests 91.5%. Per-subset models also work for every model of the registry
and, by construction, equal a model trained on the families a cell has.

:func:`families_present` and :func:`route` are shared with saved models
(:mod:`ephys2type.persist.format`), so evaluation and deployment route cells the same way.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.utils.validation import check_is_fitted

from ephys2type.data.schema import FeatureSchema
from ephys2type.models.registry import ModelSpec, get_model

#: A family counts as present in a cell when at least this share of its features is measured.
PRESENT_SHARE = 0.5


def families_present(X: pd.DataFrame, schema: FeatureSchema) -> pd.DataFrame:
    """Cells x families: whether the cell has the family (>= half its features measured)."""
    measured = X.reindex(columns=schema.columns).notna()
    return pd.DataFrame(
        {fam.name: measured[fam.columns].mean(axis=1) >= PRESENT_SHARE for fam in schema.families},
        index=X.index,
    )


def route(present: pd.DataFrame, subsets: Sequence[Sequence[str]]) -> np.ndarray:
    """For each cell, the position in ``subsets`` (largest first) of the first subset whose
    families the cell all has; 0 (the first, complete subset) when it has none of them, so
    such a cell is predicted with imputation and flagged by the QC rules."""
    choice = np.full(len(present), -1)
    for k, subset in enumerate(subsets):
        has = present[list(subset)].all(axis=1).to_numpy()
        choice[(choice < 0) & has] = k
    choice[choice < 0] = 0
    return choice


def subset_label(families: Sequence[str]) -> str:
    """``subthreshold+spike_train+long_square``: how a family subset is named in results."""
    return "+".join(families)


class ProtocolSubsetClassifier(ClassifierMixin, BaseEstimator):
    """One fitted copy of a registered model per family subset; each cell is predicted by
    the model of the largest subset it has (see the module docstring).

    Parameters
    ----------
    model : str or ModelSpec
        A model of the registry (``rf``, ``hgb``, ``bilstm-smote``, ...), or its spec (e.g.
        a BiLSTM with fewer epochs from :meth:`ModelSpec.with_params`).
    schema : FeatureSchema
        The schema of the columns of ``X``.
    subsets : list of family-name tuples, optional
        The subsets to fit; default :meth:`FeatureSchema.protocol_subsets`. The complete
        schema is always fitted (first).
    random_state : int, default 0
        Seed of every fitted copy.
    n_jobs : int, optional
        Overrides the ``n_jobs`` of the copies (e.g. 1 inside parallel folds).

    Attributes
    ----------
    classes_ : ndarray of the class labels.
    subsets_ : the family subsets fitted, complete schema first.
    estimators_ : the fitted model of each subset.

    Examples
    --------
    >>> from ephys2type.testing.synthetic import make_synthetic
    >>> data = make_synthetic(200, random_state=0)
    >>> clf = ProtocolSubsetClassifier(model="logreg", schema=data.schema, random_state=0)
    >>> clf = clf.fit(data.X, data.y)
    >>> [len(s) for s in clf.subsets_]
    [5, 4, 4, 3]
    >>> no_ramp = data.X.assign(**{c: float("nan") for c in data.schema.family("ramp").columns})
    >>> int(clf.route(no_ramp.iloc[:3]).max())
    2
    """

    def __init__(
        self,
        *,
        model: str | ModelSpec = "rf",
        schema: FeatureSchema | None = None,
        subsets: Sequence[Sequence[str]] | None = None,
        random_state: int = 0,
        n_jobs: int | None = None,
    ):
        self.model = model
        self.schema = schema
        self.subsets = subsets
        self.random_state = random_state
        self.n_jobs = n_jobs

    def _subsets(self) -> list[tuple[str, ...]]:
        wanted = self.schema.protocol_subsets() if self.subsets is None else self.subsets
        full = tuple(self.schema.family_names)
        out = [full] + [tuple(s) for s in wanted if set(s) != set(full)]
        for subset in out:
            self.schema.restrict(subset)  # unknown families raise here
        return list(dict.fromkeys(out))

    def fit(self, X: pd.DataFrame, y, **fit_params) -> ProtocolSubsetClassifier:
        """Fit the model on every subset's columns (``fit_params`` go to each fit)."""
        if self.schema is None:
            raise ValueError("ProtocolSubsetClassifier needs the schema of X")
        spec = get_model(self.model) if isinstance(self.model, str) else self.model
        X = X.reindex(columns=self.schema.columns)
        self.subsets_ = self._subsets()
        self.estimators_ = []
        for subset in self.subsets_:
            sub = self.schema.restrict(subset)
            estimator = clone(spec.build(sub, self.random_state))
            if self.n_jobs is not None:
                estimator.set_params(
                    **{k: self.n_jobs for k in estimator.get_params() if k.endswith("n_jobs")}
                )
            estimator.fit(X[sub.columns], y, **{**spec.fit_params, **fit_params})
            self.estimators_.append(estimator)
        self.classes_ = np.asarray(self.estimators_[0].classes_)
        self.feature_names_in_ = np.asarray(self.schema.columns, dtype=object)
        self.n_features_in_ = len(self.schema.columns)
        return self

    def route(self, X: pd.DataFrame) -> np.ndarray:
        """The position in ``subsets_`` of the model each cell is predicted with."""
        check_is_fitted(self, "estimators_")
        return route(families_present(X, self.schema), self.subsets_)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Class probabilities, each cell from the model of the largest subset it has."""
        X = pd.DataFrame(X, columns=self.schema.columns) if not isinstance(X, pd.DataFrame) else X
        X = X.reindex(columns=self.schema.columns)
        choice = self.route(X)
        proba = np.zeros((len(X), len(self.classes_)))
        for k in np.unique(choice):
            rows = choice == k
            columns = self.schema.restrict(self.subsets_[k]).columns
            estimator = self.estimators_[k]
            part = estimator.predict_proba(X.loc[rows, columns])
            order = [list(estimator.classes_).index(c) for c in self.classes_]
            proba[rows] = part[:, order]
        return proba

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """The class of each cell (see :meth:`predict_proba`)."""
        return self.classes_[self.predict_proba(X).argmax(axis=1)]
