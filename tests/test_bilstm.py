"""The attention BiLSTM: scikit-learn conformance, masking, heads, determinism, no leakage.

Runs on synthetic cells (five families, chirp missing for 60% of cells): fast, and the same
code paths as the real tables.
"""

from __future__ import annotations

import hashlib
from typing import ClassVar

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.utils.estimator_checks import parametrize_with_checks

from ephys2type.evaluation.runner import run_evaluation
from ephys2type.evaluation.splits import make_plan
from ephys2type.evaluation.writers import write_evaluation
from ephys2type.models.bilstm.estimator import FamilyBiLSTMClassifier, bilstm_pipeline
from ephys2type.models.bilstm.network import FamilyAttentionBiLSTM, NetworkConfig
from ephys2type.models.preprocessing import FamilyPreprocessor
from ephys2type.models.registry import ModelSpec, get_model, model_names
from ephys2type.testing.synthetic import make_synthetic

QUICK = {"max_epochs": 8, "patience": 4}


@parametrize_with_checks([FamilyPreprocessor(), FamilyPreprocessor(flags=True)])
def test_sklearn_conformance(estimator, check):
    check(estimator)


@pytest.mark.slow  # scikit-learn's checks of a slow estimator (make test-slow): make test's time
@parametrize_with_checks([FamilyBiLSTMClassifier(max_epochs=3, random_state=0)])
def test_sklearn_conformance_of_the_network(estimator, check):
    check(estimator)


@pytest.fixture(scope="module")
def human():
    """Stands in for 300 human cells: 4 classes, chirp missing for most cells."""
    return make_synthetic(300, random_state=1)


def test_family_flags_record_missingness_before_imputation():
    X = np.array([[1.0, np.nan, np.nan], [np.nan, np.nan, 2.0], [np.nan, np.nan, np.nan]])
    out = FamilyPreprocessor(families=[[0, 1], [2]], flags=True).fit_transform(X)
    assert out.shape == (3, 5)
    assert out[:, 3:].tolist() == [[1, 0], [0, 1], [0, 0]]
    assert not np.isnan(out).any()  # features imputed


def test_preprocessor_matches_sklearn_imputer_and_scaler_exactly():
    from sklearn.impute import SimpleImputer
    from sklearn.preprocessing import StandardScaler

    X = make_synthetic(200, random_state=5).X.to_numpy().copy()
    X[:, 3] = np.nan  # an empty column is filled with 0
    ref = StandardScaler().fit_transform(
        SimpleImputer(strategy="median", keep_empty_features=True).fit_transform(X)
    )
    prep = FamilyPreprocessor().fit(X)
    assert np.array_equal(prep.transform(X), ref)
    again = FamilyPreprocessor.from_dict(prep.to_dict())
    assert np.array_equal(again.transform(X), ref)


@torch.no_grad()
def test_attention_masks_missing_families():
    torch.manual_seed(0)
    module = FamilyAttentionBiLSTM([[0, 1], [2], [3, 4, 5]], 6, 3).eval()
    x = torch.randn(4, 6)
    mask = torch.tensor([[1, 1, 1], [1, 0, 1], [0, 0, 1], [0, 0, 0]], dtype=torch.bool)
    logits, weights = module(x, mask)
    assert logits.shape == (4, 3)
    assert torch.allclose(weights.sum(dim=1), torch.ones(4))
    assert weights[1, 1] == 0 and weights[2, 0] == 0 and weights[2, 1] == 0
    assert weights[2, 2] == pytest.approx(1.0)
    assert (weights[3] > 0).all()  # no family at all: attend to everything rather than NaN
    # a masked family's values cannot change the output
    x2 = x.clone()
    x2[1, 2] = 1e3
    assert torch.allclose(module(x2, mask)[0][1], logits[1], atol=1e-6)


@torch.no_grad()
def test_mean_pooling_weights_present_families_equally():
    module = FamilyAttentionBiLSTM([[0], [1], [2]], 3, 2, NetworkConfig(attention=False)).eval()
    _, weights = module(torch.randn(2, 3), torch.tensor([[1, 1, 0], [1, 1, 1]], dtype=torch.bool))
    assert torch.allclose(weights[0], torch.tensor([0.5, 0.5, 0.0]))
    assert torch.allclose(weights[1], torch.full((3,), 1 / 3))


def test_network_config_is_the_one_hyperparameter_list():
    clf = FamilyBiLSTMClassifier(width=8, head="arcface", arcface_margin=0.3)
    config = NetworkConfig.from_params(clf.get_params())
    assert config == NetworkConfig(width=8, head="arcface", arcface_margin=0.3)
    # every network hyperparameter is an estimator parameter with the same default
    defaults = FamilyBiLSTMClassifier().get_params()
    assert all(defaults[k] == v for k, v in vars(NetworkConfig()).items())


@pytest.mark.parametrize("name", model_names("bilstm"))
def test_every_variant_trains_and_explains(human, name):
    pipe = get_model(name).build(human.schema, 0)
    pipe.set_params(**{f"model__{k}": v for k, v in QUICK.items()})
    pipe.fit(human.X, human.y)
    proba = pipe.predict_proba(human.X)
    assert proba.shape == (300, 4) and np.allclose(proba.sum(axis=1), 1)
    assert np.array_equal(pipe.predict(human.X), pipe.classes_[proba.argmax(axis=1)])
    attention = pipe[-1].explain(pipe[:-1].transform(human.X))
    assert list(attention.columns) == [f"attention:{f}" for f in human.schema.family_names]
    assert np.allclose(attention.sum(axis=1), 1, atol=1e-5)
    # chirp is missing for most cells: it must get zero attention there
    no_chirp = human.X[human.schema.family("chirp").columns].isna().all(axis=1).to_numpy()
    assert no_chirp.sum() > 50
    assert (attention.loc[no_chirp, "attention:chirp"] == 0).all()


def test_smote_touches_only_the_inner_training_part(human):
    model = bilstm_pipeline(human.schema, 0, resample="smote", **QUICK).fit(human.X, human.y)[-1]
    assert model.n_val_ == round(0.2 * 300)
    counts = human.y.value_counts()
    assert model.n_train_ > 300 - model.n_val_  # synthetic cells added to training only
    assert model.n_train_ == pytest.approx(len(counts) * counts.max() * 0.8, rel=0.05)


def test_same_seed_same_probabilities(human):
    a = bilstm_pipeline(human.schema, 7, resample="smote", **QUICK).fit(human.X, human.y)
    b = bilstm_pipeline(human.schema, 7, resample="smote", **QUICK).fit(human.X, human.y)
    c = bilstm_pipeline(human.schema, 8, resample="smote", **QUICK).fit(human.X, human.y)
    pa, pb, pc = (m.predict_proba(human.X) for m in (a, b, c))
    assert np.array_equal(pa, pb)
    assert not np.array_equal(pa, pc)


def test_seeded_fit_leaves_global_rng_alone(human):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    bilstm_pipeline(human.schema, 0, **QUICK).fit(human.X, human.y)
    assert torch.equal(torch.rand(3), expected)


def test_arcface_logits_are_bounded_cosines(human):
    pipe = bilstm_pipeline(human.schema, 0, head="arcface", **QUICK).fit(human.X, human.y)
    logits = pipe[-1].decision_function(pipe[:-1].transform(human.X))
    assert np.abs(logits).max() <= 16.0 + 1e-4


def test_early_stopping_stops_after_patience_and_keeps_the_best_epoch():
    """Cells of no separation at a high learning rate: the validation loss is lowest early,
    so training stops ``patience`` epochs later and keeps the best epoch's weights, the
    weights a fit that ends at that epoch has (a test audit: on separable cells the loss
    fell to the last epoch, and stopping was never exercised)."""
    noise = make_synthetic(300, separation=0.0, random_state=1)
    fit = {"lr": 1e-2, "patience": 5}
    model = bilstm_pipeline(noise.schema, 0, max_epochs=60, **fit).fit(noise.X, noise.y)[-1]
    losses = [h["val_loss"] for h in model.history_]
    assert model.best_epoch_ == int(np.argmin(losses)) + 1
    assert model.best_epoch_ < model.n_epochs_ == model.best_epoch_ + 5 < 60
    assert len(losses) == model.n_epochs_
    short = bilstm_pipeline(noise.schema, 0, max_epochs=model.best_epoch_, **fit)
    short = short.fit(noise.X, noise.y)[-1]
    kept, ended = model.module_.state_dict(), short.module_.state_dict()
    assert all(torch.equal(kept[k], ended[k]) for k in kept)


@pytest.mark.parametrize(
    ("param", "value", "message"),
    [
        ("head", "cosine", "head must be"),
        ("loss", "hinge", "loss must be"),
        ("resample", "adasyn", "resample must be"),
        ("validation_fraction", 1.0, "in \\[0, 1\\)"),
        ("family_dropout", 1.0, "family_dropout must be in"),
    ],
)
def test_bad_parameters(param, value, message):
    X, y = np.random.default_rng(0).normal(size=(20, 3)), np.array([0, 1] * 10)
    with pytest.raises(ValueError, match=message):
        FamilyBiLSTMClassifier(**{param: value}).fit(X, y)


def test_family_dropout_hides_families_a_cell_has_and_never_all():
    from ephys2type.models.bilstm.training import drop_families

    mask = torch.ones(4000, 5, dtype=torch.bool)
    mask[:1000, 4] = False  # a family these cells lack stays absent
    mask[1000:1500, 1:] = False  # cells with a single family keep it
    out = drop_families(mask, 0.25, np.random.default_rng(0))
    assert not (out & ~mask).any()
    assert out.any(dim=1).all()
    assert out[1000:1500, 0].all()
    hidden = (mask & ~out)[1500:].float().mean().item()
    assert hidden == pytest.approx(0.25, abs=0.02)
    again = drop_families(mask, 0.25, np.random.default_rng(0))
    assert torch.equal(out, again)


def test_family_dropout_changes_training_and_stays_deterministic(human):
    def fit(rate):
        return bilstm_pipeline(human.schema, 0, family_dropout=rate, **QUICK).fit(human.X, human.y)

    plain, a, b = fit(0.0), fit(0.25), fit(0.25)
    assert np.array_equal(a.predict_proba(human.X), b.predict_proba(human.X))
    assert not np.array_equal(plain.predict_proba(human.X), a.predict_proba(human.X))


class FingerprintBiLSTM(FamilyBiLSTMClassifier):
    log: ClassVar[list[str]] = []
    sizes: ClassVar[list[tuple[int, int]]] = []

    def fit(self, X, y):
        super().fit(X, y)
        state = b"".join(t.numpy().tobytes() for t in self.module_.state_dict().values())
        # what the validation cells decide: their losses, the epoch kept, the temperature
        # (with no early stop the weights alone would not see test cells among them)
        chosen = repr(([h["val_loss"] for h in self.history_], self.best_epoch_))
        chosen += repr(self.temperature_)
        digest = hashlib.sha256(state + chosen.encode()).hexdigest()
        FingerprintBiLSTM.log.append(digest)
        FingerprintBiLSTM.sizes.append((len(y), self.n_val_))
        return self


def _fingerprint_spec():
    def build(schema, seed):
        pipe = bilstm_pipeline(schema, seed, resample="smote", **QUICK)
        pipe.steps[-1] = ("model", FingerprintBiLSTM(**pipe[-1].get_params()))
        return pipe

    return ModelSpec("fp", "", build)


def test_poisoned_test_cells_do_not_change_the_trained_network(human):
    plan = make_plan(human, "strat5x5", seeds=[0], n_folds=3)
    FingerprintBiLSTM.log = []
    run_evaluation(human, [_fingerprint_spec()], plan)
    clean = list(FingerprintBiLSTM.log)
    X = human.X.copy()
    block = X.iloc[plan.folds[0].test].to_numpy().copy()
    block[:] = 1e6
    X.iloc[plan.folds[0].test] = block
    from dataclasses import replace

    FingerprintBiLSTM.log = []
    run_evaluation(replace(human, X=X), [_fingerprint_spec()], plan)
    poisoned = FingerprintBiLSTM.log
    assert poisoned[0] == clean[0]  # fold 0 never saw its poisoned test cells
    assert poisoned[1] != clean[1]  # fold 1 trains on them, so the check can fail


def test_a_share_the_builder_chose_is_kept():
    """The plan's share reaches a BiLSTM with the default share only (review: a builder's own
    was overwritten); other steps are left alone."""
    from sklearn.pipeline import Pipeline

    from ephys2type.evaluation.runner import with_inner_validation

    own = Pipeline([("model", FamilyBiLSTMClassifier(validation_fraction=0.1))])
    assert with_inner_validation(own, 0.25)[-1].validation_fraction == 0.1
    plain = Pipeline([("model", FamilyBiLSTMClassifier())])
    assert with_inner_validation(plain, 0.25)[-1].validation_fraction == 0.25


def test_the_bilstm_validates_on_the_plans_inner_share(human):
    """The paper's hold-out is 60/20/20: its BiLSTM early-stops on a quarter of the training
    cells (a test audit: it used its own fifth, 64/16/20, while metrics.json said 0.25)."""
    plan = make_plan(human, "holdout", seeds=[0], n_folds=5)
    FingerprintBiLSTM.sizes = []
    run_evaluation(human, [_fingerprint_spec()], plan)
    assert plan.inner_validation == 0.25
    assert FingerprintBiLSTM.sizes[0][1] == round(0.25 * FingerprintBiLSTM.sizes[0][0])


@pytest.mark.slow  # end to end (make test-slow): make test's time
def test_harness_reports_attention_and_importance(human, tmp_path):
    spec = get_model("bilstm")
    quick = ModelSpec(
        "bilstm", spec.description, lambda schema, seed: bilstm_pipeline(schema, seed, **QUICK)
    )
    plan = make_plan(human, "strat5x5", seeds=[0], n_folds=3)
    evaluation = run_evaluation(human, [quick, "logreg"], plan, importance=True)
    preds = evaluation.predictions
    att_cols = [f"attention:{f}" for f in human.schema.family_names]
    mine = preds[preds.model == "bilstm"]
    assert len(mine) == 300 and np.allclose(mine[att_cols].sum(axis=1), 1, atol=1e-5)
    assert preds.loc[preds.model == "logreg", att_cols].isna().all().all()
    table = evaluation.attention("bilstm")
    assert list(table.index) == [*human.classes, "all cells"]
    assert evaluation.attention("logreg") is None
    imp = evaluation.importance
    assert len(imp) == 2 * 3 * len(human.schema.families)
    interp = evaluation.interpretability("bilstm")
    rho = interp["spearman_attention_vs_importance"]
    assert -1 <= rho["rho_of_means"] <= 1 and rho["n_families"] == 5
    assert "mean_attention" not in evaluation.interpretability("logreg")
    out = write_evaluation(evaluation, tmp_path / "run")
    assert {
        "attention_bilstm.png",
        "importance_bilstm.png",
        "importance_logreg.png",
        "family_importance.csv",
    } <= {p.name for p in out.iterdir()}


@pytest.mark.slow
def test_parallel_folds_match_a_serial_run(human):
    quick = ModelSpec("q", "", lambda schema, seed: bilstm_pipeline(schema, seed, **QUICK))
    plan = make_plan(human, "strat5x5", seeds=[0], n_folds=3)
    serial = run_evaluation(human, [quick, "rf"], plan, n_jobs=1)
    parallel = run_evaluation(human, [quick, "rf"], plan, n_jobs=2)
    pd.testing.assert_frame_equal(serial.predictions, parallel.predictions)


def test_works_after_scaling_and_smote_in_an_imblearn_pipeline(human):
    from imblearn.over_sampling import SMOTE
    from imblearn.pipeline import Pipeline
    from sklearn.impute import SimpleImputer
    from sklearn.model_selection import GridSearchCV
    from sklearn.preprocessing import StandardScaler

    pipe = Pipeline(
        [
            ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
            ("scale", StandardScaler()),
            ("smote", SMOTE(random_state=0)),
            (
                "model",
                FamilyBiLSTMClassifier(
                    families=human.schema.family_index(), random_state=0, **QUICK
                ),
            ),
        ]
    )
    # parameters are settable through the pipeline, so sklearn tools can tune them
    search = GridSearchCV(pipe, {"model__width": [8, 16]}, cv=2, scoring="f1_macro")
    search.fit(human.X.to_numpy(), human.y.to_numpy())
    assert search.best_params_["model__width"] in (8, 16)
    assert search.predict_proba(human.X.to_numpy()).shape == (300, 4)
