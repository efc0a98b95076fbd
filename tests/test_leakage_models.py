"""Every model we score learns nothing from its test cells, end to end.

``test_leakage.py`` proves it step by step for our own in-fold preprocessing, with spies and a
fingerprint of what a stand-in model is trained on. This file proves it for the models
themselves, as the harnesses fit them: every registered model, each savable one as deployed
(routed, calibrated, conformal sets, abstention), and the arms of mouse-to-human transfer. A
cell's out-of-fold probabilities must not change when *other* test cells of its fold are
poisoned (absurd values, missing features, the wrong labels), while poisoning three training
cells must change them, so the check can fail. A model whose imputation, scaling, SMOTE,
early stopping or calibration saw a test cell, or its label, would fail it.

``<model>-deployed-adapt`` is left out on purpose: it re-weights each test fold to the class
mix it estimates from that fold's unlabelled cells, so its calls depend on the other test
cells by design (and never on their labels).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from ephys2type.evaluation.runner import run_evaluation
from ephys2type.evaluation.splits import make_plan
from ephys2type.evaluation.transfer import TransferSettings, run_transfer
from ephys2type.models.deployed import deployed
from ephys2type.models.registry import MODELS, get_model
from ephys2type.testing.synthetic import make_synthetic

#: A few epochs: the code paths (SMOTE, the inner validation split, early stopping) are what
#: is tested, not the network's accuracy.
QUICK_BILSTM = {"max_epochs": 4, "patience": 2}
#: In make test (its time): the logistic regression, plain and deployed; the rest, 1-5 s
#: each, in make test-slow.
FAST = {("logreg", False), ("logreg", True)}


def _spec(name: str, as_deployed: bool):
    spec = get_model(name)
    if spec.kind == "bilstm":
        spec = spec.with_params(**QUICK_BILSTM)
    return deployed(spec) if as_deployed else spec


def _poison(data, rows, *, labels: bool = False):
    """``data`` with the cells at positions ``rows`` made absurd: 1e6 everywhere, every
    third feature missing; with ``labels``, each of their labels also moved to the next
    class (a model or harness that read test labels would learn otherwise)."""
    X = data.X.copy()
    block = np.full((len(rows), X.shape[1]), 1e6)
    block[:, ::3] = np.nan
    X.iloc[rows] = block
    if not labels:
        return replace(data, X=X)
    classes = sorted(data.y.unique())
    y = data.y.copy()
    y.iloc[rows] = [classes[(classes.index(c) + 1) % len(classes)] for c in y.iloc[rows]]
    return replace(data, X=X, y=y)


def _probabilities(predictions: pd.DataFrame, cells) -> np.ndarray:
    """The out-of-fold probabilities of ``cells``, in that order, model by model."""
    proba = [c for c in predictions.columns if c.startswith("proba:")]
    rows = predictions.set_index(["model", "cell_id"]).sort_index()
    return np.stack(
        [
            rows.loc[model].loc[list(cells), proba].to_numpy(dtype=float)
            for model in sorted(predictions["model"].unique())
        ]
    )


def _check(fit, data, plan):
    """``fit(data)`` -> out-of-fold predictions of ``plan``'s one fold; the three runs."""
    fold = plan.folds[0]
    watched = np.asarray(plan.cells)[fold.test[1::2]]  # the cells whose calls are compared
    clean = _probabilities(fit(data), watched)
    assert np.isfinite(clean).all() and len(watched) >= 20
    others = _probabilities(fit(_poison(data, fold.test[::2], labels=True)), watched)
    np.testing.assert_array_equal(others, clean, err_msg="calls moved with other test cells")
    trained = _probabilities(fit(_poison(data, fold.train[:3])), watched)
    assert not np.array_equal(trained, clean), "poisoning training cells changed nothing"


@pytest.fixture(scope="module")
def cells():
    """240 synthetic cells (imbalanced classes, a family missing for most cells) and one
    fold of three."""
    data = make_synthetic(240, random_state=4)
    plan = make_plan(data, "strat5x5", seeds=[3], n_folds=3)
    return data, replace(plan, folds=plan.folds[:1])


MODEL_CASES = [
    pytest.param(name, as_deployed, marks=[] if (name, as_deployed) in FAST else [pytest.mark.slow])
    for name in MODELS
    for as_deployed in (False, True)
    if not as_deployed or MODELS[name].savable
]


@pytest.mark.parametrize(("name", "as_deployed"), MODEL_CASES)
def test_a_models_calls_ignore_the_other_test_cells(cells, name, as_deployed):
    data, plan = cells
    spec = _spec(name, as_deployed)
    _check(lambda d: run_evaluation(d, [spec], plan).predictions, data, plan)


@pytest.mark.slow  # two mouse pretrainings and four arms, three times (make test-slow)
def test_transfer_arms_ignore_the_other_target_test_cells():
    """Joint training, fine-tuning (with their early stopping), the human-only arms and pooled
    boosting after CORAL, through ``run_transfer``: the human test cells poisoned, the mouse
    cells untouched."""
    mouse = make_synthetic(300, species="mouse", random_state=1)
    human = make_synthetic(200, species="human", shift=0.4, random_state=2)
    plan = make_plan(human, "strat5x5", seeds=[3], n_folds=3)
    plan = replace(plan, folds=plan.folds[:1])
    settings = TransferSettings(
        strategies=("finetune", "joint"),
        pooled=("hgb",),
        adapters=("coral",),
        fractions=(),
        bilstm_params={"resample": "smote", **QUICK_BILSTM},
    )
    _check(
        lambda target: run_transfer(mouse, target, plan, settings).evaluation.predictions,
        human,
        plan,
    )
