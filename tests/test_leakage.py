"""No test cell ever reaches imputation, scaling, sparse PCA, SMOTE or the model's fit.

Two independent proofs, both through the real evaluation harness:

1. spies between the pipeline steps record the cell ids each step is *fitted* on; they must
   be exactly the training cells of the fold;
2. poisoning: replacing a fold's test cells by absurd values must not change a single byte
   of what the final model is trained on (after imputation, scaling, sparse PCA and SMOTE),
   while poisoning one training cell does change it (so the check can fail).
"""

from __future__ import annotations

import hashlib
from dataclasses import replace

import numpy as np
import pytest
from imblearn.over_sampling import SMOTE
from imblearn.pipeline import Pipeline
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin

from ephys2type.evaluation.runner import run_evaluation
from ephys2type.evaluation.splits import make_plan
from ephys2type.models.preprocessing import preprocessing_steps
from ephys2type.models.registry import ModelSpec
from ephys2type.testing.synthetic import make_synthetic

LOG: dict[str, list] = {}


class Spy(TransformerMixin, BaseEstimator):
    """Pass-through step that records the cell ids it is fitted on."""

    def __init__(self, key: str = "", where: str = ""):
        self.key = key
        self.where = where

    def fit(self, X, y=None):
        LOG.setdefault(self.key, []).append((self.where, frozenset(X.index)))
        self.columns_ = np.asarray(X.columns, dtype=object)
        return self

    def transform(self, X):
        return X

    def get_feature_names_out(self, input_features=None):
        return self.columns_


class FingerprintClassifier(ClassifierMixin, BaseEstimator):
    """Records a hash of exactly what it is trained on; predicts the majority class."""

    def __init__(self, key: str = ""):
        self.key = key

    def fit(self, X, y):
        data = np.ascontiguousarray(np.asarray(X, dtype=np.float64))
        labels = np.asarray(y).astype(str)
        digest = hashlib.sha256(data.tobytes() + "|".join(labels).encode()).hexdigest()
        LOG.setdefault(self.key, []).append(("model", digest, len(data)))
        self.classes_, counts = np.unique(labels, return_counts=True)
        self.prior_ = counts / counts.sum()
        return self

    def predict_proba(self, X):
        return np.tile(self.prior_, (len(X), 1))


def _full_pipeline(schema, seed, key, spies: bool) -> Pipeline:
    """Our own in-fold steps (impute + scale, family sparse PCA), spies between them."""
    steps = [("spy_input", Spy(key, "input"))] if spies else []
    for name, step in preprocessing_steps(schema, spca=True, random_state=seed):
        steps.append((name, step))
        if spies:
            steps.append((f"spy_{name}", Spy(key, name)))
    steps += [("smote", SMOTE(random_state=seed)), ("model", FingerprintClassifier(key))]
    pipe = Pipeline(steps)
    return pipe.set_output(transform="pandas") if spies else pipe


@pytest.fixture(scope="module")
def small():
    """240 synthetic cells: imbalanced classes, a family missing for most cells."""
    return make_synthetic(240, random_state=4)


def test_spies_see_only_training_cells(small):
    key = "spies"
    LOG.pop(key, None)
    spec = ModelSpec("spy", "", lambda schema, seed: _full_pipeline(schema, seed, key, True))
    plan = make_plan(small, "strat5x5", seeds=[1], n_folds=3)
    run_evaluation(small, [spec], plan)
    fits = [e for e in LOG[key] if e[0] != "model"]
    per_fold = len(fits) // len(plan.folds)
    assert per_fold == 3 and len(fits) == 3 * len(plan.folds)
    cells = np.asarray(plan.cells)
    for i, fold in enumerate(plan.folds):
        train, test = set(cells[fold.train]), set(cells[fold.test])
        for where, seen in fits[i * per_fold : (i + 1) * per_fold]:
            assert seen == train, f"{where} step of fold {i} was fitted on other cells"
            assert not seen & test
    # SMOTE balanced the classes with synthetic cells made from training cells only
    models = [e for e in LOG[key] if e[0] == "model"]
    assert all(n > len(plan.folds[0].train) for _, _, n in models)


def _fingerprints(data, plan, key):
    LOG.pop(key, None)
    spec = ModelSpec("fp", "", lambda schema, seed: _full_pipeline(schema, seed, key, False))
    run_evaluation(data, [spec], plan)
    return [e[1] for e in LOG[key]]


def _poison(data, rows):
    X = data.X.copy()
    block = X.iloc[rows].to_numpy().copy()
    block[:] = 1e6
    block[:, ::3] = np.nan
    X.iloc[rows] = block
    return replace(data, X=X)


@pytest.fixture(scope="module")
def clean(small):
    """The plan of the poisoning tests and what each of its folds' models learns unpoisoned."""
    plan = make_plan(small, "strat5x5", seeds=[3], n_folds=3)
    return plan, _fingerprints(small, plan, "clean")


def test_poisoned_test_cells_change_nothing_the_model_learns(small, clean):
    plan, learnt = clean
    fold = plan.folds[0]
    poisoned = _fingerprints(_poison(small, fold.test), plan, "poisoned")
    assert poisoned[0] == learnt[0]
    # the other folds train on some of those cells, so they must change: the check has teeth
    assert poisoned[1] != learnt[1] and poisoned[2] != learnt[2]


def test_poisoning_one_training_cell_is_detected(small, clean):
    plan, learnt = clean
    first = replace(plan, folds=plan.folds[:1])  # the fold whose training cell is poisoned
    assert _fingerprints(small, first, "unpoisoned")[0] == learnt[0]  # alone, it learns alike
    poisoned = _fingerprints(_poison(small, plan.folds[0].train[:1]), first, "poisoned2")
    assert poisoned[0] != learnt[0]


@pytest.mark.slow  # three sparse PCA fits (make test-slow): make test's time
def test_the_separation_knn_fits_its_sparse_pca_on_training_cells_only():
    """The k-NN accuracy of the sPCA separation (study/separation.py), a harness of its own:
    poisoning a fold's test cells leaves the fitted pipeline's calls on clean cells as they
    were; poisoning its training cells changes them (so the check can fail)."""
    from ephys2type.study.separation import knn_fit

    data = make_synthetic(150, random_state=4)
    fold = make_plan(data, "strat5x5", seeds=1, n_folds=3).folds[0]
    clean = knn_fit(data, fold, True, 5)
    probe = data.X.iloc[fold.test]

    def poisoned(rows):
        X = data.X.copy()
        X.iloc[rows] = X.iloc[rows].to_numpy() * 0 + 1e6
        return knn_fit(replace(data, X=X), fold, True, 5)

    reference = clean.named_steps[list(clean.named_steps)[-2]]  # the sparse PCA
    assert "SparsePCA" in type(reference).__name__
    after_test = poisoned(fold.test)
    assert np.array_equal(after_test.predict_proba(probe), clean.predict_proba(probe))
    after_train = poisoned(fold.train[:10])
    assert not np.array_equal(after_train.predict_proba(probe), clean.predict_proba(probe))
