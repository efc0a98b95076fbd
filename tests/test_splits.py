"""Split plans on the real data: partitions, stratification, donor grouping, reuse."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ephys2type import load_human
from ephys2type.errors import Ephys2TypeError
from ephys2type.evaluation.splits import SplitPlan, make_plan


@pytest.fixture(scope="module")
def human():
    return load_human()


def test_stratified_plan_partitions_every_seed(human):
    plan = make_plan(human, "strat5x5")
    assert len(plan.folds) == 25 and plan.seeds == (0, 1, 2, 3, 4)
    y = human.y.to_numpy()
    overall = pd.Series(y).value_counts(normalize=True)
    for seed in plan.seeds:
        folds = [f for f in plan.folds if f.seed == seed]
        tests = np.concatenate([f.test for f in folds])
        assert sorted(tests) == list(range(len(human)))  # each cell tested exactly once
        for f in folds:
            assert not set(f.train) & set(f.test)
            assert len(f.train) + len(f.test) == len(human)
            share = pd.Series(y[f.test]).value_counts(normalize=True)
            assert (share - overall).abs().max() < 0.02  # stratified
    # different seeds shuffle differently
    assert not np.array_equal(plan.folds[0].test, plan.folds[5].test)


def test_grouped_plan_never_splits_a_donor(human):
    plan = make_plan(human, "group5x5", seeds=3)
    donors = human.groups.to_numpy()
    for f in plan.folds:
        assert not set(donors[f.train]) & set(donors[f.test])
    for seed in plan.seeds:
        tests = np.concatenate([f.test for f in plan.folds if f.seed == seed])
        assert sorted(tests) == list(range(len(human)))


def test_holdout_plan(human):
    plan = make_plan(human, "holdout", seeds=[7, 8])
    assert len(plan.folds) == 2 and plan.inner_validation == 0.25
    for f in plan.folds:
        assert len(f.test) == pytest.approx(0.2 * len(human), abs=1)
        assert not set(f.train) & set(f.test)


def test_plans_are_deterministic_and_round_trip(human, tmp_path):
    a, b = make_plan(human, "strat5x5", seeds=2), make_plan(human, "strat5x5", seeds=2)
    assert a.sha256 == b.sha256
    assert make_plan(human, "strat5x5", seeds=[1, 2]).sha256 != a.sha256
    path = tmp_path / "plan.json"
    path.write_text(a.to_json())
    again = SplitPlan.load(path)
    assert again.sha256 == a.sha256 and again.dataset == a.dataset
    again.check_matches(human)


def test_a_plan_refuses_other_cells(human):
    plan = make_plan(human, "strat5x5", seeds=1)
    with pytest.raises(Ephys2TypeError, match="cannot be reused"):
        plan.check_matches(human.subset(human.X.index[:-1]))


def test_plan_errors(human, tmp_path):
    with pytest.raises(Ephys2TypeError, match="unknown protocol"):
        make_plan(human, "loo")
    tiny = human.subset(human.X.index[:30])
    with pytest.raises(Ephys2TypeError, match="fewer than the 5 folds"):
        make_plan(tiny, "strat5x5")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(Ephys2TypeError, match="cannot read split plan"):
        SplitPlan.load(bad)
