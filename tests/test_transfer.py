"""Mouse-to-human transfer: preprocessing per species, CORAL, arms, learning curve, CLI.

Estimator and experiment tests run on synthetic source/target cells that share their class
structure (fast); the command-line tests run on the real aligned tables.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from ephys2type.evaluation.runner import fold_seed, plan_seed
from ephys2type.evaluation.splits import make_plan
from ephys2type.evaluation.transfer import (
    TransferArm,
    TransferSettings,
    count_fits,
    planned_fits,
    run_transfer,
    transfer_arms,
)
from ephys2type.models.transfer.adaptation import ADAPTERS, SpeciesAdapter
from ephys2type.models.transfer.estimators import (
    PooledClassifier,
    SourceData,
    Subsample,
    TransferClassifier,
)
from ephys2type.testing.synthetic import make_synthetic

QUICK = {"resample": "smote", "max_epochs": 6, "patience": 3}


#: Boosting iterations of the pooled baselines built here without a model spec (a spec would
#: take them from the run limits; the product's 300 are not needed to test the code paths).
FEW = {"max_iter": 50}


@parametrize_with_checks(
    [
        PooledClassifier(model="hgb", params={"max_iter": 50}, random_state=0),
        Subsample(estimator=PooledClassifier(model="hgb", params={"max_iter": 50}), fraction=1.0),
    ]
)
def test_sklearn_conformance(estimator, check):
    check(estimator)


@pytest.mark.slow  # scikit-learn's checks of a slow estimator (make test-slow): make test's time
@parametrize_with_checks([TransferClassifier(bilstm_params={"max_epochs": 3}, random_state=0)])
def test_sklearn_conformance_of_the_transfer_network(estimator, check):
    check(estimator)


@pytest.fixture(scope="module")
def mouse():
    return make_synthetic(600, species="mouse", random_state=1)


@pytest.fixture(scope="module")
def human():
    return make_synthetic(240, species="human", shift=0.4, random_state=2)


def _tc(**params) -> TransferClassifier:
    return TransferClassifier(families=[[i] for i in range(19)], bilstm_params=QUICK, **params)


def test_coral_matches_the_target_covariance():
    """skada's CORAL (Ledoit-Wolf shrinkage, hence the tolerance) in the target's frame."""
    rng = np.random.default_rng(0)
    source = rng.normal(size=(2000, 3)) @ np.diag([1.0, 2.0, 0.5])
    target = rng.normal(size=(1500, 3)) @ np.array([[1, 0.8, 0], [0, 1, 0], [0, 0, 3]]) + 4
    mapped = SpeciesAdapter("coral").fit(source, None, target, None).source_onto_target(source)
    assert np.allclose(np.cov(mapped, rowvar=False), np.cov(target, rowvar=False), atol=0.1)
    assert np.allclose(mapped.mean(axis=0), target.mean(axis=0))
    with pytest.raises(ValueError, match="only CORAL"):
        SpeciesAdapter("sa").fit(source, None, target, None).source_onto_target(source)


def test_class_aware_transport_moves_source_cells_to_target_cells_of_their_class():
    """Target classes sit where the other source class is: a class-blind map would swap
    them, the labelled transport does not."""
    rng = np.random.default_rng(1)
    ys, yt = np.repeat(["a", "b"], 100), np.repeat(["a", "b"], 60)
    Xs = rng.normal(scale=0.3, size=(200, 2)) + np.where(ys[:, None] == "a", 0.0, 4.0)
    Xt = rng.normal(scale=0.3, size=(120, 2)) + np.where(yt[:, None] == "a", 4.0, 0.0)
    mapped = SpeciesAdapter("ot").fit(Xs, ys, Xt, yt).source(Xs)
    for c in ("a", "b"):
        assert np.allclose(mapped[ys == c].mean(axis=0), Xt[yt == c].mean(axis=0), atol=0.05)


@pytest.mark.parametrize(
    "adapter",
    # in make test-slow (make test's time); the adapters' own tests stay in make test
    [pytest.param(a, marks=pytest.mark.slow) for a in ADAPTERS],
)
def test_pooled_classifier_after_an_adapter(mouse, human, adapter):
    src = SourceData.from_data(mouse)
    train, test = human.X.iloc[:180], human.X.iloc[180:]

    def fit():
        model = PooledClassifier(model="hgb", adapter=adapter, params=FEW, random_state=0)
        return model.fit(train, human.y.iloc[:180], source=src)

    a, b = fit(), fit()
    proba = a.predict_proba(test)
    assert proba.shape == (60, 4) and np.array_equal(proba, b.predict_proba(test))
    # a test cell's call does not depend on the other test cells it is predicted with
    # (the adapter is not refitted at prediction)
    assert np.allclose(a.predict_proba(test.iloc[:1]), proba[:1])
    assert (
        a.adapter_ is not None
        and PooledClassifier(model="hgb", params=FEW).fit(train, human.y.iloc[:180]).adapter_
        is None
    )
    with pytest.raises(ValueError, match="unknown adapter"):
        PooledClassifier(model="hgb", adapter="mmd").fit(train, human.y.iloc[:180], source=src)


def test_each_species_is_standardized_on_its_own_cells(mouse, human):
    src = SourceData.from_data(mouse)
    model = TransferClassifier(
        strategy="finetune",
        families=human.schema.family_index(),
        bilstm_params=QUICK,
        random_state=0,
    )
    model.fit(human.X, human.y, source=src)
    expected_h = human.X.fillna(human.X.median()).mean().to_numpy()
    expected_m = mouse.X.fillna(mouse.X.median()).mean().to_numpy()
    assert np.allclose(model.target_prep_.means_, expected_h)
    assert np.allclose(model.source_prep_.means_, expected_m)
    assert not np.allclose(model.target_prep_.means_, model.source_prep_.means_)
    proba = model.predict_proba(human.X)
    assert proba.shape == (240, 4) and list(model.classes_) == human.classes


def test_zero_shot_never_uses_target_labels(mouse, human):
    src = SourceData.from_data(mouse)
    shuffled = human.y.sample(frac=1, random_state=1).to_numpy()
    pa = _tc(strategy="zero-shot", random_state=0).fit(human.X, human.y, source=src)
    pb = _tc(strategy="zero-shot", random_state=0).fit(human.X, shuffled, source=src)
    assert np.array_equal(pa.predict_proba(human.X), pb.predict_proba(human.X))
    with pytest.raises(ValueError, match="needs source data"):
        _tc(strategy="zero-shot").fit(human.X, human.y)


def test_without_a_source_it_is_a_target_only_model(human):
    model = _tc(strategy="finetune", random_state=0).fit(human.X, human.y)
    assert model.source_prep_ is None and set(model.stages_) == {"target_epochs"}
    assert model.predict(human.X).shape == (240,)


@pytest.mark.slow  # end to end (make test-slow): make test's time
def test_pretraining_is_shared_by_the_folds_given_one_pretrain_seed(mouse, human, tmp_path):
    """Networks pretrained on the source are shared through the folder the caller passes
    (``pretrain_cache``), one per (source, parameters, families, pretrain seed); without a
    folder nothing is shared and nothing global remembers them."""
    cache = str(tmp_path / "pretrained")

    def kept() -> int:
        return len(list((tmp_path / "pretrained").glob("pretrained-*.joblib")))

    src = SourceData.from_data(mouse)
    fitted = []
    for fold in range(3):  # folds 0-2 of plan seed 2
        seed = fold_seed(2, fold)
        fitted.append(
            _tc(pretrain_seed=plan_seed(seed), pretrain_cache=cache, random_state=seed).fit(
                human.X, human.y, source=src
            )
        )
    assert kept() == 1
    _tc(pretrain_seed=3, pretrain_cache=cache, random_state=fold_seed(3, 0)).fit(
        human.X, human.y, source=src
    )
    assert kept() == 2
    _tc(coral=True, pretrain_seed=3, pretrain_cache=cache, random_state=3001).fit(
        human.X, human.y, source=src
    )
    assert kept() == 2  # CORAL makes the source fold-specific: never shared
    assert plan_seed(fold_seed(7, 4)) == 7
    # a parameter whose value is a dict (class weights) is part of the key too
    weights = {c: 1.0 for c in mouse.classes}
    params = {**QUICK, "class_weight": weights}
    for _ in range(2):
        TransferClassifier(
            families=[[i] for i in range(19)],
            bilstm_params=params,
            pretrain_seed=3,
            pretrain_cache=cache,
        ).fit(human.X, human.y, source=src)
    assert kept() == 3
    # a network read back from the folder gives what pretraining it again gives
    again = _tc(pretrain_seed=plan_seed(fold_seed(2, 0)), random_state=fold_seed(2, 0))
    again.fit(human.X, human.y, source=src)
    np.testing.assert_allclose(again.predict_proba(human.X), fitted[0].predict_proba(human.X))


@pytest.mark.parametrize("strategy", ["freeze-warmup", "joint"])
def test_other_strategies_train(mouse, human, strategy):
    model = _tc(strategy=strategy, random_state=0).fit(
        human.X, human.y, source=SourceData.from_data(mouse)
    )
    assert model.predict(human.X).shape == (240,)
    assert set(model.stages_) >= {"finetune_epochs"}
    attention = model.explain(human.X)
    assert np.allclose(attention.sum(axis=1), 1, atol=1e-5)


def test_pooled_forest_marks_the_species(mouse, human):
    model = PooledClassifier(model="rf", params={"n_estimators": 50}, random_state=0)
    model.fit(human.X, human.y, source=SourceData.from_data(mouse))
    assert model.estimator_.n_features_in_ == human.X.shape[1] + 1
    assert model.estimator_.n_estimators == 50
    assert model.predict_proba(human.X).shape == (240, 4)
    with pytest.raises(ValueError, match="model must be"):
        PooledClassifier(model="svm").fit(human.X, human.y)


def test_a_source_with_other_columns_is_refused(human):
    src = SourceData(pd.DataFrame(np.zeros((10, 3))), pd.Series(["a", "b"] * 5))
    with pytest.raises(ValueError, match="same \\(aligned\\) columns"):
        PooledClassifier().fit(human.X, human.y, source=src)


def test_subsample_is_stratified(human):
    from sklearn.tree import DecisionTreeClassifier

    model = Subsample(
        estimator=DecisionTreeClassifier(random_state=0), fraction=0.25, random_state=0
    )
    model.fit(human.X.fillna(0), human.y)
    assert model.n_train_ == 60
    assert set(model.classes_) == set(human.y)


def test_unknown_strategy(mouse, human):
    with pytest.raises(ValueError, match="strategy must be"):
        _tc(strategy="distill").fit(human.X, human.y, source=SourceData.from_data(mouse))
    with pytest.raises(ValueError, match="unknown strategy"):
        TransferSettings(strategies=("distill",))
    with pytest.raises(ValueError, match="unknown adapter"):
        TransferSettings(adapters=("mmd",))
    with pytest.raises(ValueError, match="unknown heterogeneous strategy"):
        TransferSettings(heterogeneous=("zero-shot",))


@pytest.mark.slow
def test_run_transfer_reports_gains_and_a_learning_curve(mouse, human):
    plan = make_plan(human, "strat5x5", seeds=2, n_folds=2)
    steps = []
    settings = TransferSettings(
        strategies=("joint",),
        pooled=("rf",),
        adapters=("ot",),
        fractions=(0.5,),
        curve_seeds=1,
        bilstm_params=QUICK,
    )
    result = run_transfer(mouse, human, plan, settings, progress=steps.append)
    # the progress total the commands announce is the number of fits actually made
    assert len(steps) == count_fits(settings, plan) == 4 * 6 + 2 * 2
    names = list(result.evaluation.models)
    assert names == ["human_bilstm", "human_rf", "human_hgb", "joint", "pooled_rf", "pooled_hgb_ot"]
    gains = result.gains()
    assert list(gains.index) == ["joint", "pooled_rf", "pooled_hgb_ot"]
    assert gains.loc["pooled_rf", "reference"] == "human_rf"
    assert gains.loc["pooled_hgb_ot", "reference"] == "human_hgb"
    diff = result.evaluation.scores("joint", "macro_f1") - result.evaluation.scores(
        "human_bilstm", "macro_f1"
    )
    assert gains.loc["joint", "mean_diff"] == pytest.approx(diff.mean())
    curve = result.curve
    assert sorted(curve["fraction"]) == [0.5, 1.0]
    # the curve runs on the first seed only; its full-data point is read on the same folds
    first = result.evaluation.on_plan(plan.first_seeds(1))
    assert len(first.fold_metrics) == 2 * len(names)
    first_diff = first.scores("joint", "macro_f1") - first.scores("human_bilstm", "macro_f1")
    assert curve.loc[curve.fraction == 1.0, "gain"].iloc[0] == pytest.approx(first_diff.mean())
    assert set(result.to_metrics()) == {"transfer", "learning_curve"}
    # roles and references are fields of the result, not read from the arms' names
    assert result.target_only == ["human_bilstm", "human_rf", "human_hgb"]
    assert result.references == {
        "joint": "human_bilstm",
        "pooled_rf": "human_rf",
        "pooled_hgb_ot": "human_hgb",
    }


def test_settings_are_the_one_source_of_defaults(human):
    s = TransferSettings()
    assert s.strategies == ("zero-shot", "finetune", "freeze-warmup", "joint")
    assert s.curve == ("joint",) and s.fractions == (0.1, 0.25, 0.5)
    assert TransferSettings(strategies=("finetune",)).curve == ("finetune",)
    assert s.with_max_epochs(5).bilstm_params == {"resample": "smote", "max_epochs": 5}
    assert s.adapters == ("coral", "sa", "ot")
    # 3 target-only + 4 strategies + 2 pooled + 3 adapted arms, + joint and its reference at
    # 3 fractions
    plan = make_plan(human, "strat5x5", seeds=2, n_folds=5)
    assert count_fits(s, plan) == 10 * (3 + 4 + 2 + 3 + 2 * 3)
    # the curve on the first seed only: its 5 folds
    assert count_fits(replace(s, curve_seeds=1), plan) == 10 * (3 + 4 + 2 + 3) + 5 * 2 * 3
    # with the native table: + gradient boosting on it, and the heterogeneous arms (the
    # human-only network on the same layout, finetune and joint); adapted and heterogeneous
    # arms on the first seed when extra_seeds = 1
    # (the curves then also run gradient boosting on all features: 3 arms at 3 fractions)
    assert count_fits(s, plan, native=True) == 10 * (3 + 4 + 2 + 1 + 3 + 3) + 10 * 3 * 3
    assert count_fits(replace(s, extra_seeds=1), plan, native=True) == 10 * 10 + 5 * 6 + 90
    assert plan.first_seeds(1).seeds == (0,) and len(plan.first_seeds(1).folds) == 5
    with pytest.raises(ValueError, match="curve_seeds"):
        TransferSettings(curve_seeds=0)


def test_arms_for_the_other_direction(human):
    arms = transfer_arms(
        SourceData.from_data(human), "mouse", TransferSettings(strategies=("finetune",))
    )
    assert list(arms) == [
        "mouse_bilstm",
        "mouse_rf",
        "mouse_hgb",
        "finetune",
        "pooled_rf",
        "pooled_hgb",
        "pooled_hgb_coral",
        "pooled_hgb_sa",
        "pooled_hgb_ot",
    ]
    assert "pretrained on human" in arms["finetune"].spec.description
    assert "optimal transport" in arms["pooled_hgb_ot"].spec.description
    assert arms["finetune"].spec.fit_params["source"].name.startswith("human")
    roles = {name: (arm.role, arm.reference) for name, arm in arms.items()}
    assert roles["mouse_rf"] == ("target-only", None)
    assert roles["finetune"] == ("transfer", "mouse_bilstm")
    assert roles["pooled_rf"] == ("transfer", "mouse_rf")
    assert roles["pooled_hgb_ot"] == ("transfer", "mouse_hgb")
    with pytest.raises(ValueError, match="only a transfer arm, has a reference"):
        TransferArm(arms["mouse_rf"].spec, "target-only", "mouse_hgb")


def test_transfer_command_validation(run_cli, clean_error, tmp_path):
    clean_error(run_cli("transfer", "--source", "mouse", "--target", "mouse"), "different")
    clean_error(run_cli("transfer", "--strategy", "distill"), "--strategy")
    # results' underscore spelling is accepted: the error is about --curve-arm, not --strategy
    clean_error(
        run_cli("transfer", "--strategy", "zero_shot", "--curve-arm", "joint"), "--curve-arm"
    )
    clean_error(run_cli("transfer", "--pooled", "svm"), "--pooled")
    clean_error(run_cli("transfer", "--adapt", "coral,mmd"), "--adapt")
    clean_error(run_cli("transfer", "--heterogeneous", "zero-shot"), "--heterogeneous")
    clean_error(run_cli("transfer", "--fractions", "0.5,2"), "strictly between 0 and 1")
    clean_error(run_cli("transfer", "--native", "svm"), "--native")
    clean_error(run_cli("transfer", "--per-class", "10,0"), "--per-class")
    clean_error(run_cli("transfer", "--protocol", "holdout"), "--protocol")
    clean_error(run_cli("transfer", "--datasets", "allen2020"), "--datasets")
    # each range is checked once, by the settings, which name the setting that failed
    from ephys2type.evaluation.transfer import TransferSettingError

    with pytest.raises(TransferSettingError, match="unknown model 'svm'") as info:
        TransferSettings(native=("svm",))
    assert info.value.setting == "native"
    (tmp_path / "exists").mkdir()
    clean_error(run_cli("transfer", "--out", tmp_path / "exists"), "already exists")


@pytest.mark.slow
def test_transfer_command_writes_its_default_folder(
    run_cli, clean_error, tmp_path, monkeypatch, smoke_run
):
    """`ephys2type transfer --source mouse --target human` (it once crashed building the
    default folder): the folder is made, printed, and never replaced by a second run. One
    arm of each kind runs here (a strategy, an adapter, a heterogeneous arm, the curves; the
    default list is checked from the plan below, every arm's fitting in the tests above).
    The smoke limits shrink seeds, folds, epochs and trees only."""
    from ephys2type.evaluation.transfer import TransferSettings, planned_arms

    assert {a.name for a in planned_arms(TransferSettings(), native=True)} >= {
        "zero_shot",
        "finetune",
        "freeze_warmup",
        "joint",
        "pooled_rf",
        "pooled_hgb",
        "pooled_hgb_coral",
        "pooled_hgb_sa",
        "pooled_hgb_ot",
        "het_finetune",
        "het_joint",
    }
    monkeypatch.chdir(tmp_path)
    smoke_run()
    one_of_each = ("--strategy", "joint", "--pooled", "none", "--adapt", "coral")
    result = run_cli(
        "transfer",
        "--source",
        "mouse",
        "--target",
        "human",
        *one_of_each,
        "--heterogeneous",
        "joint",
        "--datasets",
        "lee2023",
    )
    assert result.code == 0, result
    out = Path("results") / "transfer_mouse_to_human_strat5x5"
    assert f"results: {out}" in result.out and "transfer minus human-only" in result.out
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["dataset"]["species"] == "human" and metrics["dataset"]["features"] == "aligned"
    # the study's human cells alone (a trial could not choose them), and the epoch cap the
    # smoke limits set, recorded and said (a trial's cap was in neither)
    assert metrics["dataset"]["datasets"] == ["lee2023"]
    capped = metrics["transfer"]["settings"]["bilstm"]["max_epochs"]
    assert f"BiLSTMs capped at {capped} epochs" in result.out
    assert metrics["protocol"]["n_folds"] == 2 and metrics["protocol"]["seeds"] == [0]
    assert {g["arm"] for g in metrics["transfer"]["gains_macro_f1"]} == {
        "joint",
        "pooled_hgb_coral",
        "het_joint",
    }
    # heterogeneous transfer on the real tables: the human-only BiLSTM on the same layout (the
    # 25 aligned features and the 68 human-only ones) is its reference
    gains = {g["arm"]: g for g in metrics["transfer"]["gains_macro_f1"]}
    assert gains["het_joint"]["reference"] == "human_bilstm_het"
    assert "68 human-only features" in metrics["models"]["het_joint"]["description"]
    # the smoke limits keep the first point of each curve (the default points are tested
    # with the settings in test_run_transfer_reports_gains_and_a_learning_curve)
    curve = pd.read_csv(out / "learning_curve.csv")
    assert sorted(set(curve["fraction"])) == [0.1, 1.0]
    assert {"learning_curve.png", "gains.csv"} <= {p.name for p in out.iterdir()}
    # the best human-only arm, gradient boosting on all 93 human features included, and the
    # few-shot curve (its first point, 10 cells per class), against both references
    assert "human_hgb_all" in metrics["models"]
    assert metrics["transfer"]["best_target_only"].startswith("human_")
    assert "transfer minus the best human-only arm" in " ".join(result.out.split())
    few = pd.read_csv(out / "few_shot.csv")
    assert sorted(set(few["per_class"])) == [10]
    assert set(few["reference"]) == {"human_bilstm", "human_hgb_all"}
    assert {"few_shot.png", "gains_vs_best.csv"} <= {p.name for p in out.iterdir()}
    before = (out / "metrics.json").read_bytes()
    again = run_cli("transfer", "--source", "mouse", "--target", "human", *one_of_each)
    clean_error(again, "already exists")
    assert (out / "metrics.json").read_bytes() == before


def test_few_shot_keeps_at_most_n_cells_per_class(human):
    from sklearn.tree import DecisionTreeClassifier

    counts = human.y.value_counts()
    model = Subsample(
        estimator=DecisionTreeClassifier(random_state=0), per_class=10, random_state=0
    )
    model.fit(human.X.fillna(0), human.y)
    assert model.n_train_ == int(counts.clip(upper=10).sum())
    again = Subsample(
        estimator=DecisionTreeClassifier(random_state=0), per_class=10, random_state=0
    )
    assert np.array_equal(
        again.fit(human.X.fillna(0), human.y).predict(human.X.fillna(0)),
        model.predict(human.X.fillna(0)),
    )
    with pytest.raises(ValueError, match="at least 1"):
        Subsample(estimator=DecisionTreeClassifier(), per_class=0).fit(human.X.fillna(0), human.y)


@pytest.mark.slow  # every arm at its full size, no limits (make test-slow)
def test_transfer_is_compared_with_the_best_target_model_on_all_its_features(
    mouse, human, no_limits
):
    """The target's own wider table (here: the aligned columns plus 12 more, informative)
    gives target-only arms on the same folds; every transfer arm is compared with the best
    target-only arm; the few-shot curve runs against both references."""
    from ephys2type.data.container import PatchSeqData
    from ephys2type.evaluation.runner import run_evaluation
    from ephys2type.models.registry import get_model
    from ephys2type.testing.synthetic import synthetic_schema

    rng = np.random.default_rng(0)
    codes = pd.factorize(human.y)[0]
    extra = pd.DataFrame(
        rng.normal(size=(len(human), 12)) + codes[:, None] * 1.5,
        index=human.X.index,
        columns=[f"own_{k}" for k in range(12)],
    )
    wide_schema = synthetic_schema(
        (("subthreshold", 4), ("spike_train", 5), ("long_square", 4), ("ramp", 3), ("own", 12)),
        optional=(),
        name="wide",
    )
    native = PatchSeqData(
        X=pd.concat([human.X.iloc[:, :16], extra], axis=1),
        meta=human.meta,
        schema=wide_schema,
        species="human",
        y=human.y,
        label_scheme=human.label_scheme,
    )
    plan = make_plan(human, "strat5x5", seeds=1, n_folds=2)
    steps = []
    settings = TransferSettings(
        strategies=("joint",),
        pooled=(),
        adapters=(),
        heterogeneous=(),  # needs a species' own schema (tested on the real tables)
        fractions=(),
        per_class=(10,),
        bilstm_params=QUICK,
    )
    result = run_transfer(mouse, human, plan, settings, native=native, progress=steps.append)
    assert len(steps) == count_fits(settings, plan, native=True) == 2 * 5 + 2 * 3
    ev = result.evaluation
    assert "human_hgb_all" in ev.models
    # the arm on all features is exactly gradient boosting evaluated on the wide table itself
    direct = run_evaluation(native, [get_model("hgb")], plan)
    np.testing.assert_allclose(
        ev.scores("human_hgb_all", "macro_f1"), direct.scores("hgb", "macro_f1")
    )
    # the extra informative features make it the best target-only arm
    assert result.best_target_only == "human_hgb_all"
    vs_best = result.gains_vs_best()
    assert list(vs_best.index) == ["joint"] and vs_best.loc["joint", "reference"] == "human_hgb_all"
    diff = ev.scores("joint", "macro_f1") - ev.scores("human_hgb_all", "macro_f1")
    assert vs_best.loc["joint", "mean_diff"] == pytest.approx(diff.mean())
    few = result.few_shot
    assert set(few["reference"]) == {"human_bilstm", "human_hgb_all"}
    assert set(few["per_class"]) == {10} and (few["arm"] == "joint").all()
    assert few["n_train_cells"].iloc[0] == pytest.approx(
        (human.y.value_counts() * 0.5).clip(upper=10).sum()
    )
    metrics = result.to_metrics()
    assert metrics["transfer"]["best_target_only"] == "human_hgb_all" and "few_shot" in metrics
    # a native table of other cells or labels is refused
    with pytest.raises(Exception, match="same cells with the same labels"):
        run_transfer(mouse, human, plan, settings, native=native.subset(native.X.index[:-1]))


def _counted_run(monkeypatch, source, target, plan, settings, native) -> tuple[int, list[str]]:
    """Run the transfer experiment with every arm's model swapped for a small tree (the
    arms, their variants, plans and fold loop unchanged) and count the fits the fold function
    makes."""
    from sklearn.tree import DecisionTreeClassifier

    from ephys2type.evaluation import runner
    from ephys2type.evaluation.transfer import run as transfer_run

    real_arms, real_fit = transfer_run.transfer_arms, runner.fit_and_score
    fits = []

    def quick_arms(*args, **kwargs):
        arms = real_arms(*args, **kwargs)
        for depth, (name, arm) in enumerate(arms.items()):
            spec = replace(
                arm.spec,
                build=lambda schema, seed, d=depth: DecisionTreeClassifier(
                    max_depth=2 + d % 3, max_features=0.5, random_state=seed + d
                ),
                fit_params={},
                factory=None,
            )
            arms[name] = replace(arm, spec=spec)
        return arms

    def counted(*args, **kwargs):
        fits.append(1)
        return real_fit(*args, **kwargs)

    monkeypatch.setattr(transfer_run, "transfer_arms", quick_arms)
    monkeypatch.setattr(runner, "fit_and_score", counted)
    steps = []
    run_transfer(source, target, plan, settings, native=native, progress=steps.append)
    return len(fits), steps


@pytest.mark.parametrize("preset", ["quick", "full"])
def test_the_counted_fits_are_the_fits_a_run_makes(monkeypatch, preset):
    """For every transfer protocol of the shipped presets, the fit count the progress bars
    announce (:func:`count_fits`, from :func:`planned_fits`) is the number of times the fold
    function fits a model in the run (on the real tables; each arm's model swapped for a small
    tree, so the plans, arms and variants are the run's own)."""
    from ephys2type.study.config import ReproduceConfig
    from ephys2type.study.stages import study_data

    config = ReproduceConfig.preset(preset)
    source = study_data("mouse", labels="aligned4", features="aligned")
    target = study_data("human", labels="aligned4", features="aligned")
    for protocol in config.transfer_protocols:
        settings = config.transfer_settings(protocol)
        native = study_data("human", labels="aligned4") if settings.native else None
        # a small plan (at most 2 seeds, so the first-seed parts are still a part)
        plan = make_plan(target, protocol, seeds=min(config.transfer_seeds(protocol), 2), n_folds=2)
        fits, steps = _counted_run(monkeypatch, source, target, plan, settings, native)
        counted = count_fits(settings, plan, native=native is not None)
        assert fits == len(steps) == counted, (preset, protocol)
        planned = planned_fits(settings, plan, native=native is not None)
        assert counted == sum(len(step.arms) * len(step.plan.folds) for step in planned)
        if preset == "full" and protocol == config.transfer_protocols[0]:
            # the parts on fewer seeds ran too: heterogeneous arms and few-shot points
            assert any(name.startswith("het_") for step in planned for name in step.arms)
            assert any(step.per_class for step in planned)
            assert len({len(step.plan.folds) for step in planned}) == 2
            # the strategies read for direction run on the first seed, joint on every seed
            main, extra = planned[0], planned[1]
            assert "joint" in main.arms and "finetune" not in main.arms
            assert {"zero_shot", "finetune", "freeze_warmup"} <= set(extra.arms)
            assert len(extra.plan.folds) < len(main.plan.folds)


def test_extra_strategies_must_be_strategies_the_run_runs():
    from ephys2type.evaluation.transfer import TransferSettingError

    with pytest.raises(TransferSettingError, match="not among the strategies run"):
        TransferSettings(strategies=("joint",), extra_strategies=("finetune",))
    # the settings' record (a run's cache key) names them only when there are some
    assert "extra_strategies" not in TransferSettings().to_dict()
    assert TransferSettings(extra_strategies=("finetune",)).to_dict()["extra_strategies"] == [
        "finetune"
    ]
