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
        # the draws passed in (as ephys2type's models pass each cell's own) are the ones used
        theirs = np.random.RandomState(seed).rand(*proba.shape)
        given = sets_from_proba(scores, labels, proba, confidence, seed=99, draws=theirs)
        np.testing.assert_array_equal(given, expected)
    with pytest.raises(ValueError, match="one row of at least 4 per cell"):
        sets_from_proba(scores, labels, proba, 0.9, seed=0, draws=theirs[:1])


def test_a_cells_sets_do_not_depend_on_the_rows_around_it():
    """At both levels, and for an estimator whose input is not numbers yet (a pipeline that
    encodes a string column): the same cells in another order get the same sets."""
    import pandas as pd
    from sklearn.compose import make_column_transformer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    X, y = _data(1500, separation=0.7)
    parent_of = {c: ("left" if k < 2 else "right") for k, c in enumerate(np.unique(y))}
    clf = ConformalClassifier(estimator=LogisticRegression(max_iter=1000), parent_of=parent_of).fit(
        X, y
    )
    order = np.random.default_rng(0).permutation(len(y))
    for level in ("class", "parent"):
        sets = clf.predict_set(X, level=level)
        assert len({tuple(row) for row in sets}) > 2  # sets that differ between cells
        np.testing.assert_array_equal(clf.predict_set(X[order], level=level), sets[order])
    levels = clf.predict_levels(X)
    pd.testing.assert_frame_equal(
        clf.predict_levels(X[order]).reset_index(drop=True),
        levels.iloc[order].reset_index(drop=True),
    )
    table = pd.DataFrame(X[:, :3], columns=["a", "b", "c"]).assign(
        layer=np.where(X[:, 3] > 0, "L1", "L2/3")
    )
    encode = make_column_transformer((OneHotEncoder(), ["layer"]), remainder="passthrough")
    piped = ConformalClassifier(
        estimator=make_pipeline(encode, LogisticRegression(max_iter=1000))
    ).fit(table, y)
    sets = piped.predict_set(table)
    np.testing.assert_array_equal(piped.predict_set(table.iloc[order]), sets[order])
