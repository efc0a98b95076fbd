"""Class-conditional conformal prediction sets (crepes) keep their promised coverage."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from ephys2type.models.conformal import ConformalClassifier
from ephys2type.testing.synthetic import make_synthetic


def _data(n, separation, seed=0):
    data = make_synthetic(
        n,
        n_classes=5,
        separation=separation,
        missing_families={},
        missing_values=0.0,
        random_state=seed,
    )
    return data.X.to_numpy(), data.y.to_numpy()


@pytest.mark.parametrize("confidence", [0.8, 0.9])
def test_coverage_holds_overall_and_for_each_class(confidence):
    """Overlapping classes (about 80% accuracy): the sets cover the true class at the
    promised rate overall, and for every class, not only the common ones."""
    X, y = _data(6000, separation=0.7)
    train, test = np.arange(len(y)) < 3000, np.arange(len(y)) >= 3000
    coverage = []
    for seed in range(3):  # average over calibration splits: the guarantee is on average
        clf = ConformalClassifier(
            estimator=LogisticRegression(max_iter=1000), confidence=confidence, random_state=seed
        ).fit(X[train], y[train])
        sets = clf.predict_set(X[test])
        position = {c: k for k, c in enumerate(clf.classes_)}
        truth = np.array([position[c] for c in y[test]])
        coverage.append(sets[np.arange(len(truth)), truth])
    covered = np.mean(coverage, axis=0)
    assert abs(covered.mean() - confidence) < 0.03
    for k in range(len(clf.classes_)):
        assert covered[truth == k].mean() > confidence - 0.07, clf.classes_[k]
    assert clf.predict(X[test]).shape == (len(truth),)


def test_sets_grow_with_confidence_and_shrink_with_separation():
    X, y = _data(3000, separation=0.7)
    clf = ConformalClassifier(estimator=LogisticRegression(max_iter=1000)).fit(X, y)
    small, large = clf.predict_set(X, 0.7), clf.predict_set(X, 0.95)
    assert (large >= small).all() and large.sum() > small.sum()
    # well separated classes: no set holds a second class, and a non-empty set is right (at
    # 90% a tenth of the sets are empty: with every score tied near 0, the smoothed p-value
    # of even the true class falls below 0.1 that often)
    X, y = _data(3000, separation=4.0, seed=1)
    clf = ConformalClassifier(estimator=LogisticRegression(max_iter=1000)).fit(X, y)
    sets = clf.predict_set(X)
    assert np.mean(sets.sum(axis=1) <= 1) > 0.99
    single = sets.sum(axis=1) == 1
    assert (clf.classes_[sets[single].argmax(axis=1)] == y[single]).mean() > 0.99


def test_bad_confidence_is_refused():
    X, y = _data(200, separation=1.0)
    with pytest.raises(ValueError, match=r"'confidence' parameter .* range"):
        ConformalClassifier(estimator=LogisticRegression(), confidence=90).fit(X, y)


@pytest.mark.parametrize("seed", [0, 7])
def test_vectorised_sets_equal_crepes_own(seed):
    """sets_from_proba replaces crepes' per-element loop for speed; the sets must be the ones
    crepes gives (same p-values, same smoothing draws), ties included."""
    from crepes import ConformalClassifier as Crepes

    from ephys2type.models.conformal import sets_from_proba

    rng = np.random.default_rng(seed)
    labels = ["a", "b", "c", "d"]
    # rounded scores make ties between calibration and test scores; "d" has few scores
    scores = {c: np.round(rng.uniform(0, 1, 3 if c == "d" else 40), 1).tolist() for c in labels}
    proba = np.round(rng.dirichlet(np.ones(4), size=60), 1)
    alphas = np.concatenate([scores[c] for c in labels])
    bins = np.concatenate([np.full(len(scores[c]), k) for k, c in enumerate(labels)])
    crepes = Crepes().fit(alphas, bins=bins)
    for confidence in (0.5, 0.8, 0.95):
        expected = np.column_stack(
            [
                crepes.predict_set(
                    1 - proba, np.full(len(proba), k), confidence=confidence, seed=seed
                )[:, k]
                for k in range(len(labels))
            ]
        ).astype(bool)
        got = sets_from_proba(scores, labels, proba, confidence, seed=seed)
        assert got.dtype == bool and 0 < got.sum() < got.size
        np.testing.assert_array_equal(got, expected)
