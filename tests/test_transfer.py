"""Mouse-to-human transfer: preprocessing per species, CORAL, arms, learning curve, CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ephys2type import load_human, load_mouse
from ephys2type.splits import make_plan
from ephys2type.transfer import (
    _PRETRAINED,
    PooledClassifier,
    SourceData,
    Subsample,
    TransferClassifier,
    coral,
    count_fits,
    reference_arm,
    run_transfer,
    transfer_arms,
)

QUICK = {"resample": "smote", "max_epochs": 6, "patience": 3}


@pytest.fixture(scope="module")
def mouse():
    data = load_mouse(labels="aligned4", features="aligned")
    rng = np.random.default_rng(0)
    return data.subset(data.X.index[np.sort(rng.choice(len(data), 800, replace=False))])


@pytest.fixture(scope="module")
def human():
    data = load_human(labels="aligned4", features="aligned")
    rng = np.random.default_rng(0)
    return data.subset(data.X.index[np.sort(rng.choice(len(data), 240, replace=False))])


def test_coral_matches_the_target_covariance():
    rng = np.random.default_rng(0)
    source = rng.normal(size=(2000, 3)) @ np.diag([1.0, 2.0, 0.5])
    target = rng.normal(size=(1500, 3)) @ np.array([[1, 0.8, 0], [0, 1, 0], [0, 0, 3]])
    mapped = coral(source, target, eps=1e-6)
    assert np.allclose(np.cov(mapped, rowvar=False), np.cov(target, rowvar=False), atol=1e-6)
    assert np.allclose(mapped.mean(axis=0), target.mean(axis=0))


def test_each_species_is_standardized_on_its_own_cells(mouse, human):
    src = SourceData.from_data(mouse)
    model = TransferClassifier(src, "finetune", bilstm_params=QUICK, random_state=0)
    model.fit(human.X, human.y)
    human_mean = model.target_prep_.named_steps["prep"].transformers_[0][1]["scale"].mean_
    mouse_mean = model.source_prep_.named_steps["prep"].transformers_[0][1]["scale"].mean_
    expected_h = human.X.fillna(human.X.median()).mean().to_numpy()
    expected_m = mouse.X.fillna(mouse.X.median()).mean().to_numpy()
    assert np.allclose(human_mean, expected_h) and np.allclose(mouse_mean, expected_m)
    assert not np.allclose(human_mean, mouse_mean)
    proba = model.predict_proba(human.X)
    assert proba.shape == (240, 4) and list(model.classes_) == ["Lamp5", "Pvalb", "Sst", "Vip"]


def test_zero_shot_never_uses_target_labels(mouse, human):
    src = SourceData.from_data(mouse)
    a = TransferClassifier(src, "zero-shot", bilstm_params=QUICK, random_state=0)
    b = TransferClassifier(src, "zero-shot", bilstm_params=QUICK, random_state=0)
    shuffled = human.y.sample(frac=1, random_state=1).to_numpy()
    pa = a.fit(human.X, human.y).predict_proba(human.X)
    pb = b.fit(human.X, shuffled).predict_proba(human.X)
    assert np.array_equal(pa, pb)


def test_pretraining_is_shared_by_the_folds_of_a_seed(mouse, human):
    _PRETRAINED.clear()
    src = SourceData.from_data(mouse)
    for fold in range(3):  # folds 0-2 of plan seed 2 -> random_state 2000 + fold
        TransferClassifier(src, "finetune", bilstm_params=QUICK, random_state=2000 + fold).fit(
            human.X, human.y
        )
    assert len(_PRETRAINED) == 1
    TransferClassifier(src, "finetune", bilstm_params=QUICK, random_state=3000).fit(
        human.X, human.y
    )
    assert len(_PRETRAINED) == 2
    TransferClassifier(src, "finetune", coral=True, bilstm_params=QUICK, random_state=3001).fit(
        human.X, human.y
    )
    assert len(_PRETRAINED) == 2  # CORAL makes the source fold-specific: never cached


@pytest.mark.parametrize("strategy", ["freeze-warmup", "joint"])
def test_other_strategies_train(mouse, human, strategy):
    model = TransferClassifier(
        SourceData.from_data(mouse), strategy, bilstm_params=QUICK, random_state=0
    ).fit(human.X, human.y)
    assert model.predict(human.X).shape == (240,)
    assert set(model.stages_) >= {"finetune_epochs"}
    attention = model.explain(human.X)
    assert np.allclose(attention.sum(axis=1), 1, atol=1e-5)


def test_pooled_forest_marks_the_species(mouse, human):
    model = PooledClassifier(SourceData.from_data(mouse), "rf", random_state=0)
    model.fit(human.X, human.y)
    assert model.estimator_.n_features_in_ == human.X.shape[1] + 1
    assert model.predict_proba(human.X).shape == (240, 4)
    with pytest.raises(ValueError, match="model must be"):
        PooledClassifier(SourceData.from_data(mouse), "svm").fit(human.X, human.y)


def test_subsample_is_stratified(human):
    from sklearn.tree import DecisionTreeClassifier

    model = Subsample(DecisionTreeClassifier(random_state=0), 0.25, random_state=0)
    model.fit(human.X.fillna(0), human.y)
    assert model.n_train_ == 60
    assert set(model.classes_) == set(human.y)


def test_unknown_strategy(mouse, human):
    with pytest.raises(ValueError, match="strategy must be"):
        TransferClassifier(SourceData.from_data(mouse), "distill").fit(human.X, human.y)


def test_run_transfer_reports_gains_and_a_learning_curve(mouse, human):
    plan = make_plan(human, "strat5x5", seeds=1, n_folds=3)
    steps = []
    result = run_transfer(
        mouse,
        human,
        plan,
        bilstm_params=QUICK,
        strategies=("zero-shot", "joint"),
        fractions=(0.5,),
        progress=steps.append,
    )
    # the progress total the commands announce is the number of fits actually made
    assert len(steps) == count_fits(3, strategies=("zero-shot", "joint"), fractions=(0.5,))
    names = list(result.evaluation.models)
    assert names == [
        "human_bilstm",
        "human_rf",
        "human_hgb",
        "zero_shot",
        "joint",
        "pooled_rf",
        "pooled_hgb",
    ]
    gains = result.gains()
    assert list(gains.index) == ["zero_shot", "joint", "pooled_rf", "pooled_hgb"]
    assert gains.loc["pooled_rf", "reference"] == "human_rf"
    diff = result.evaluation.scores("joint", "macro_f1") - result.evaluation.scores(
        "human_bilstm", "macro_f1"
    )
    assert gains.loc["joint", "mean_diff"] == pytest.approx(diff.mean())
    curve = result.curve
    assert sorted(curve["fraction"]) == [0.5, 1.0]
    assert curve.loc[curve.fraction == 1.0, "gain"].iloc[0] == pytest.approx(diff.mean())
    assert set(result.to_metrics()) == {"transfer", "learning_curve"}
    assert reference_arm("pooled_hgb") == "human_hgb" and reference_arm("joint") == "human_bilstm"


def test_arms_for_the_other_direction(human):
    arms = transfer_arms(SourceData.from_data(human), "mouse", strategies=("finetune",))
    assert list(arms) == [
        "mouse_bilstm",
        "mouse_rf",
        "mouse_hgb",
        "finetune",
        "pooled_rf",
        "pooled_hgb",
    ]
    assert "pretrained on human" in arms["finetune"].description


def test_transfer_command_validation(run_cli, clean_error, tmp_path):
    clean_error(run_cli("transfer", "--source", "mouse", "--target", "mouse"), "different")
    clean_error(run_cli("transfer", "--strategy", "distill"), "--strategy")
    clean_error(run_cli("transfer", "--fractions", "0.5,2"), "strictly between 0 and 1")
    clean_error(run_cli("transfer", "--protocol", "holdout"), "--protocol")
    (tmp_path / "exists").mkdir()
    clean_error(run_cli("transfer", "--out", tmp_path / "exists"), "already exists")


def test_transfer_command_runs(run_cli, tmp_path):
    out = tmp_path / "t"
    result = run_cli(
        "transfer",
        "--seeds",
        "1",
        "--folds",
        "2",
        "--strategy",
        "zero-shot",
        "--strategy",
        "finetune",
        "--curve-arm",
        "finetune",
        "--fractions",
        "0.5",
        "--max-epochs",
        "5",
        "--out",
        out,
    )
    assert result.code == 0, result
    assert "transfer minus human-only" in result.out
    metrics = json.loads((out / "metrics.json").read_text())
    assert {g["arm"] for g in metrics["transfer"]["gains_macro_f1"]} == {
        "zero_shot",
        "finetune",
        "pooled_rf",
        "pooled_hgb",
    }
    assert {"learning_curve.png", "learning_curve.csv", "gains.csv"} <= {
        p.name for p in out.iterdir()
    }
