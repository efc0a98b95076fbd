"""Every training cell's out-of-fold call (``record_folds``): each cell called by a model
that never saw it, the expected accuracy and the batch estimate judged against it, kept by a
saved model, and off by default."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from sklearn.impute import SimpleImputer
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline

from ephys2type.models.accuracy_record import held_out_folds
from ephys2type.models.batch_check import estimate_accuracy
from ephys2type.models.cell_classifier import CellTypeClassifier
from ephys2type.models.registry import ModelSpec
from ephys2type.persist.format import load_model, save_model
from ephys2type.testing.synthetic import make_synthetic


@pytest.fixture(scope="module")
def data():
    return make_synthetic(240, separation=0.8, missing_families={}, random_state=2)


def _fit(data, **params):
    clf = CellTypeClassifier(model="logreg", schema=data.schema, family_subsets=False, **params)
    return clf.fit(data.X, data.y.to_numpy(dtype=object))


@pytest.fixture(scope="module")
def with_record(data):
    return _fit(data, record_folds=4)


def test_the_record_holds_every_cell_and_the_calibration_cells_own_calls(data, with_record):
    member = with_record.members_[0]
    record = member.calibration.record
    assert record.n == len(data) and record.folds == 4
    cal = with_record.calibration_
    assert np.array(record.confidence)[cal].tolist() == list(member.calibration.confidence)
    assert np.array(record.predicted)[cal].tolist() == list(member.calibration.predicted)
    right = np.array(record.predicted) == data.y.to_numpy(dtype=object)
    assert list(right) == list(record.correct)
    assert member.expected_accuracy == pytest.approx(right.mean())
    assert member.n_record == len(data)
    # the interval is of every training cell, so narrower than of the calibration cells
    plain = _fit(data).members_[0]
    assert np.diff(member.interval())[0] < np.diff(plain.interval())[0]
    assert plain.calibration.record is None and plain.n_record == cal.sum()


def test_no_cell_is_called_by_a_model_fitted_on_it():
    """Labels with no signal and a one-nearest-neighbour model: a cell called by a model
    fitted on it is always right, a cell called by one fitted without it half the time."""
    data = make_synthetic(300, n_classes=2, separation=0.0, missing_families={}, random_state=3)
    spec = ModelSpec(
        "1nn",
        "one nearest neighbour",
        lambda schema, seed: make_pipeline(SimpleImputer(), KNeighborsClassifier(1)),
    )
    clf = CellTypeClassifier(model=spec, schema=data.schema, family_subsets=False, record_folds=4)
    clf.fit(data.X, data.y.to_numpy(dtype=object))
    member = clf.members_[0]
    fitted_on = ~clf.calibration_
    seen = member.estimator.predict(data.X[fitted_on]) == data.y.to_numpy(dtype=object)[fitted_on]
    assert seen.mean() == 1.0  # the spy: a model calls the cells it was fitted on right
    assert 0.35 < member.calibration.record.accuracy < 0.65


def test_the_batch_estimate_is_judged_against_the_record(data, with_record):
    cells = data.X.iloc[::3]
    scores = with_record.score_cells(cells)
    found = estimate_accuracy(with_record, scores, random_state=0)
    assert found.stated == pytest.approx(with_record.members_[0].expected_accuracy)
    # without the record, the estimate is the calibration cells' one, as a model fitted
    # without record_folds gives it (the members are the same fits)
    stripped = _fit(data, record_folds=4)
    for member in stripped.members_:
        member.calibration = replace(member.calibration, record=None)
    plain = _fit(data)
    a = estimate_accuracy(stripped, stripped.score_cells(cells), random_state=0)
    b = estimate_accuracy(plain, plain.score_cells(cells), random_state=0)
    assert (a.estimate, a.low, a.high, a.stated) == (b.estimate, b.low, b.high, b.stated)
    # ATC by hand on the record (unweighted, every cell counted): the threshold above which
    # the record's share equals its accuracy, and the batch's share above it
    record = with_record.members_[0].calibration.record
    conf, right = np.array(record.confidence), np.array(record.correct, dtype=float)
    ordered = np.sort(conf)
    share_below = np.arange(1, len(conf) + 1) / len(conf)
    threshold = ordered[min((share_below < 1 - right.mean() - 1e-12).sum(), len(conf) - 1)]
    routed = scores.routed
    expected = (scores.proba[routed].max(axis=1) > threshold).mean()
    by_hand = estimate_accuracy(
        with_record, scores, random_state=0, weighted=False, count_unlike=True
    )
    assert by_hand.estimate == pytest.approx(expected)
    plain_by_hand = estimate_accuracy(
        plain, plain.score_cells(cells), random_state=0, weighted=False, count_unlike=True
    )
    assert by_hand.estimate != plain_by_hand.estimate  # the record, not the calibration cells


def test_the_record_is_saved_repeated_cells_stay_out_and_same_seed_same_record(data, tmp_path):
    repeats = np.ones(len(data), dtype=int)
    repeats[:10] = 3
    clf = CellTypeClassifier(
        model="logreg", schema=data.schema, family_subsets=False, record_folds=3
    ).fit(data.X, data.y.to_numpy(dtype=object), sample_repeats=repeats)
    record = clf.members_[0].calibration.record
    assert record.n == len(data) - 10 and record.folds == 3
    loaded = load_model(save_model(clf, tmp_path / "m"))
    assert loaded.record_folds == 3
    assert loaded.members_[0].calibration.record == record
    cells = data.X.iloc[::2]
    a = estimate_accuracy(clf, clf.score_cells(cells), random_state=0)
    b = estimate_accuracy(loaded, loaded.score_cells(cells), random_state=0)
    assert a == b
    again = CellTypeClassifier(
        model="logreg", schema=data.schema, family_subsets=False, record_folds=3
    ).fit(data.X, data.y.to_numpy(dtype=object), sample_repeats=repeats)
    assert again.members_[0].calibration.record == record


def test_a_member_fitted_on_demand_keeps_a_record_too(data, with_record):
    features = data.schema.family("subthreshold").columns
    member = with_record.fit_member(features, origin="on demand")
    assert member.calibration.record is not None
    assert member.calibration.record.n == len(data)


def test_folds_are_stratified_and_a_class_of_one_cell_still_gets_a_fold():
    y = np.array(["a"] * 8 + ["b"] * 4 + ["c"] * 2)
    proper = np.ones(len(y), dtype=bool)
    proper[[0, 8]] = False  # calibration cells: in no fold
    fold = held_out_folds(y, proper, 3, random_state=0)
    assert fold[0] == fold[8] == 0 and set(fold[proper]) == {1, 2, 3}
    assert all(
        len(set(fold[(y == c) & proper])) == min(3, ((y == c) & proper).sum()) for c in "abc"
    )
    assert set(held_out_folds(np.array(["a", "b"]), np.ones(2, dtype=bool), 4, 0)) == {1}
    with pytest.raises(ValueError, match="record_folds"):
        CellTypeClassifier(record_folds=1).fit(np.zeros((8, 2)), ["a", "b"] * 4)


def test_one_record_fold_is_one_clear_line(run_cli, clean_error, tmp_path):
    result = run_cli("train", "--species", "human", "--record-folds", "1", "--out", tmp_path / "m")
    clean_error(result, "--record-folds", "at least 2")
    assert not (tmp_path / "m").exists()


def test_two_level_labels_keep_a_record_at_the_parent_level(data):
    """With a level above the classes the record, like the calibration cells, is judged by
    the parent-level calls, and the finest level's accuracy is kept beside it."""
    parent_of = {"type_A": "AB", "type_B": "AB", "type_C": "CD", "type_D": "CD"}
    clf = _fit(data, record_folds=3, parent_of=parent_of)
    record = clf.members_[0].calibration.record
    parents = np.array([parent_of[c] for c in data.y.to_numpy(dtype=object)])
    assert set(record.predicted) <= {"AB", "CD"}
    assert record.parent_accuracy == pytest.approx((np.array(record.predicted) == parents).mean())
    assert clf.members_[0].expected_accuracy == record.parent_accuracy
    assert record.accuracy <= record.parent_accuracy


def test_a_model_saved_without_a_record_is_judged_on_its_calibration_cells(data, tmp_path):
    """A folder written before records (no record_folds, no record) loads, and its estimate
    is the calibration cells' as before."""
    import hashlib
    import json

    plain = _fit(data)
    folder = save_model(plain, tmp_path / "m")
    sidecar = json.loads((folder / "model.json").read_text())
    sidecar["params"].pop("record_folds")
    for entry in sidecar["members"]:
        member_file = folder / entry["folder"] / "member.json"
        raw = json.loads(member_file.read_text())
        raw.pop("record")
        member_file.write_text(json.dumps(raw))
        entry["sidecar_sha256"] = hashlib.sha256(member_file.read_bytes()).hexdigest()
    (folder / "model.json").write_text(json.dumps(sidecar))
    loaded = load_model(folder)
    assert loaded.record_folds == 0 and loaded.members_[0].calibration.record is None
    cells = data.X.iloc[::3]
    a = estimate_accuracy(plain, plain.score_cells(cells), random_state=0)
    b = estimate_accuracy(loaded, loaded.score_cells(cells), random_state=0)
    assert a == b
