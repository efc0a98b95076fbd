"""Subclass, then t-type within it: a two-level classifier whose levels never disagree.

A flat classifier over 55 mouse t-types can call a cell "Sst Calb2 Pdlim5" while its most
likely subclass is Pvalb. :class:`HierarchicalClassifier` fits one model for the parent level
(subclass) and one per parent for its children (t-types), with any model of the registry at
each node. The leaf probabilities are P(parent) x P(child | parent), so summing a parent's
children gives back exactly the parent level's probability, and the call is made top-down:
the most likely parent, then its most likely child.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from ephys2type.data.schema import FeatureSchema
from ephys2type.models.registry import ModelSpec, get_model


class HierarchicalClassifier(ClassifierMixin, BaseEstimator):
    """Parent level (e.g. subclass), then child level (e.g. t-type) within each parent.

    Parameters
    ----------
    model : str or ModelSpec
        The registry model fitted at every node.
    schema : FeatureSchema, optional
        Schema of the columns of ``X`` (None: its columns as one family).
    parent_of : mapping child label -> parent label, optional
        Every label of ``y`` must have a parent (None: one parent for all, a flat model).
    random_state : int, default 0

    Attributes
    ----------
    classes_ : the child labels (leaves); parents_ : the parent labels; parent_of_ : the
    hierarchy used;
    parent_model_ : the parent-level model; child_models_ : parent -> its child-level model
    (absent for a parent with a single child).

    Examples
    --------
    >>> from ephys2type.testing.synthetic import make_synthetic
    >>> data = make_synthetic(300, n_classes=4, random_state=0)
    >>> parent_of = {c: ("AB" if c in ("type_A", "type_B") else "CD") for c in data.classes}
    >>> clf = HierarchicalClassifier(
    ...     model="logreg", schema=data.schema, parent_of=parent_of
    ... ).fit(data.X, data.y)
    >>> list(clf.parents_)
    ['AB', 'CD']
    >>> table = clf.predict_levels(data.X.iloc[:2])
    >>> list(table.columns)
    ['parent', 'parent_probability', 'child', 'child_probability']
    """

    def __init__(
        self,
        *,
        model: str | ModelSpec = "rf",
        schema: FeatureSchema | None = None,
        parent_of: Mapping[str, str] | None = None,
        random_state: int = 0,
    ):
        self.model = model
        self.schema = schema
        self.parent_of = parent_of
        self.random_state = random_state

    def fit(self, X: pd.DataFrame, y) -> HierarchicalClassifier:
        """Fit the parent-level model and one child-level model per parent."""
        spec = get_model(self.model) if isinstance(self.model, str) else self.model
        checked, y = validate_data(self, X, y, ensure_all_finite="allow-nan", dtype=None)
        if not hasattr(X, "iloc"):
            X = pd.DataFrame(np.asarray(checked, dtype=np.float64))
            X.columns = [f"x{j}" for j in range(X.shape[1])]
        y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        schema = self.schema if self.schema is not None else FeatureSchema.generic(X.columns)
        parent_of = self.parent_of if self.parent_of is not None else dict.fromkeys(y, "all")
        orphans = sorted(set(y) - set(parent_of), key=str)
        if orphans:
            raise ValueError(f"labels without a parent: {', '.join(map(str, orphans[:5]))}")
        parents = np.array([parent_of[c] for c in y], dtype=object)
        self.parent_of_ = dict(parent_of)
        if len(set(parents)) == 1:  # one parent: nothing to tell apart at that level
            self.parent_model_ = None
            self.parents_ = np.asarray([parents[0]], dtype=object)
        else:
            self.parent_model_ = clone(spec.build(schema, self.random_state))
            self.parent_model_.fit(X, parents)
            self.parents_ = np.asarray(self.parent_model_.classes_, dtype=object)
        self.children_ = {p: sorted(set(y[parents == p])) for p in self.parents_}
        self.child_models_ = {}
        for p, kids in self.children_.items():
            if len(kids) > 1:
                rows = parents == p
                model = clone(spec.build(schema, self.random_state))
                part = X.loc[rows] if hasattr(X, "loc") else X[rows]
                self.child_models_[p] = model.fit(part, y[rows])
        self.classes_ = np.asarray([c for p in self.parents_ for c in self.children_[p]])
        return self

    def _frame(self, X):
        """``X`` as the models were fitted on it (a bare array: named ``x0``, ``x1``, ...)."""
        checked = validate_data(self, X, reset=False, ensure_all_finite="allow-nan", dtype=None)
        if hasattr(X, "iloc"):
            return X
        frame = pd.DataFrame(np.asarray(checked, dtype=np.float64))
        frame.columns = [f"x{j}" for j in range(frame.shape[1])]
        return frame

    def predict_proba(self, X) -> np.ndarray:
        """Leaf probabilities P(parent) x P(child | parent), columns in ``classes_`` order."""
        check_is_fitted(self, "parents_")
        X = self._frame(X)
        if self.parent_model_ is None:
            return self._leaf_proba(X, np.ones((len(X), 1)))
        return self._leaf_proba(X, self.parent_model_.predict_proba(X))

    def _leaf_proba(self, X, top: np.ndarray) -> np.ndarray:
        out = []
        for j, p in enumerate(self.parents_):
            kids = self.children_[p]
            if p in self.child_models_:
                model = self.child_models_[p]
                within = pd.DataFrame(model.predict_proba(X), columns=list(model.classes_))
                within = within.reindex(columns=kids, fill_value=0.0).to_numpy()
            else:
                within = np.ones((len(top), 1))
            out.append(top[:, [j]] * within)
        return np.hstack(out)

    def predict_levels(self, X) -> pd.DataFrame:
        """Per cell: the most likely parent and, within it, the most likely child, with
        their probabilities (the child's is P(parent) x P(child | parent))."""
        check_is_fitted(self, "parents_")
        table = top_down(self.predict_proba(X), self.classes_, self.parent_of_)
        if hasattr(X, "index"):
            table.index = X.index
        return table

    def predict(self, X) -> np.ndarray:
        """The child-level call, made top-down (never outside the predicted parent)."""
        return self.predict_levels(X)["child"].to_numpy().astype(self.classes_.dtype)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True  # the registry's pipelines impute
        return tags


def parent_probabilities(
    proba: np.ndarray, classes, parent_of: Mapping[str, str]
) -> tuple[np.ndarray, np.ndarray]:
    """The parent labels (sorted) and each cell's parent probabilities: the sums of its
    children's probabilities."""
    parents = np.asarray(sorted({parent_of[c] for c in classes}), dtype=object)
    position = {p: j for j, p in enumerate(parents)}
    member = np.zeros((len(classes), len(parents)))
    for k, c in enumerate(classes):
        member[k, position[parent_of[c]]] = 1.0
    return parents, np.asarray(proba) @ member


def top_down(proba: np.ndarray, classes, parent_of: Mapping[str, str]) -> pd.DataFrame:
    """Calls made top-down from child probabilities: the most likely parent (sum of its
    children), then its most likely child, so the two levels never disagree; for any model,
    flat or hierarchical."""
    classes = np.asarray(classes, dtype=object)
    parents, top = parent_probabilities(proba, classes, parent_of)
    parent_pos = top.argmax(axis=1)
    owner = np.array([parent_of[c] for c in classes], dtype=object)
    inside = owner[None, :] == parents[parent_pos][:, None]
    within = np.where(inside, proba, -np.inf)
    child_pos = within.argmax(axis=1)
    rows = np.arange(len(top))
    return pd.DataFrame(
        {
            "parent": parents[parent_pos],
            "parent_probability": top[rows, parent_pos],
            "child": classes[child_pos],
            "child_probability": np.asarray(proba)[rows, child_pos],
        }
    )
