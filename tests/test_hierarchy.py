"""Subclass, then t-type: the two levels never disagree and add up."""

from __future__ import annotations

import numpy as np
import pytest

from ephys2type.models.hierarchy import HierarchicalClassifier
from ephys2type.testing.synthetic import make_synthetic

PARENT = {"type_A": "AB", "type_B": "AB", "type_C": "CD", "type_D": "CD", "type_E": "E"}


@pytest.fixture(scope="module")
def fitted():
    data = make_synthetic(600, n_classes=5, separation=1.0, random_state=4)
    clf = HierarchicalClassifier(
        model="logreg", schema=data.schema, parent_of=PARENT, random_state=0
    ).fit(data.X, data.y)
    return data, clf


def test_levels_are_consistent_and_probabilities_add_up(fitted):
    data, clf = fitted
    assert list(clf.parents_) == ["AB", "CD", "E"] and "E" not in clf.child_models_
    proba = clf.predict_proba(data.X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    top = clf.parent_model_.predict_proba(data.X)
    for j, p in enumerate(clf.parents_):
        kids = [list(clf.classes_).index(c) for c in clf.children_[p]]
        np.testing.assert_allclose(proba[:, kids].sum(axis=1), top[:, j])  # marginals = parent
    levels = clf.predict_levels(data.X)
    assert all(PARENT[c] == p for c, p in zip(levels["child"], levels["parent"], strict=True))
    assert (levels["child_probability"] <= levels["parent_probability"] + 1e-12).all()
    assert list(levels.index) == list(data.X.index)
    assert (clf.predict(data.X) == levels["child"].to_numpy()).all()


def test_it_learns_the_structure(fitted):
    data, clf = fitted
    assert (clf.predict(data.X) == data.y.to_numpy()).mean() > 0.6  # chance: 0.2


def test_labels_without_a_parent_are_refused():
    data = make_synthetic(100, n_classes=3, random_state=0)
    with pytest.raises(ValueError, match="labels without a parent: type_C"):
        HierarchicalClassifier(
            model="logreg", schema=data.schema, parent_of={"type_A": "x", "type_B": "x"}
        ).fit(data.X, data.y)
