"""Run models over a split plan: every model is fitted on each training fold and scored on
the matching test fold, so all models are compared on identical folds.

Each fold goes through :func:`~ephys2type.evaluation.folds.fit_and_score`, the fold loop
every protocol shares; the seed a model gets is
:func:`~ephys2type.evaluation.folds.fold_seed` of the plan's seed and the fold.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from ephys2type.data.columns import proba_columns
from ephys2type.data.container import PatchSeqData
from ephys2type.evaluation.folds import (
    FittedFold,
    add_serving_members,
    calls,
    fit_and_score,
    fold_predictions,
    fold_seed,
    plan_seed,
)
from ephys2type.evaluation.parallel import map_folds
from ephys2type.evaluation.results import Evaluation
from ephys2type.evaluation.splits import SplitPlan
from ephys2type.evaluation.stats import fold_scores
from ephys2type.models.batch_check import summarize_batch, training_copies, training_mask
from ephys2type.models.cell_classifier import CellTypeClassifier
from ephys2type.models.deployed import resolve_model
from ephys2type.models.registry import ModelSpec

__all__ = ["calls", "fold_seed", "plan_seed", "run_evaluation"]

Progress = Callable[[str], None]


def run_evaluation(
    data: PatchSeqData,
    models: Sequence[str | ModelSpec],
    plan: SplitPlan,
    *,
    importance: bool | Sequence[str] = False,
    importance_repeats: int = 3,
    n_jobs: int = 1,
    progress: Progress | None = None,
) -> Evaluation:
    """Fit every model on every training fold of ``plan`` and score its test fold.

    With ``importance``, each fitted model (``True``: every model; a list: the models named)
    is also scored with each feature family permuted across its test cells (family
    permutation importance, in macro-F1 points).
    ``n_jobs`` > 1 runs folds in parallel processes, each limited to one thread; the
    results are identical to a serial run.
    """
    plan.check_matches(data)
    specs = [resolve_model(m) if isinstance(m, str) else m for m in models]
    tasks = [(spec, fold) for spec in specs for fold in plan.folds]
    wanted = {s.name for s in specs} if importance is True else set(importance or ())

    results = map_folds(
        _fold,
        [
            (spec, data, fold, spec.name in wanted, importance_repeats, plan.inner_validation)
            for spec, fold in tasks
        ],
        n_jobs=n_jobs,
    )
    fold_rows, pred_frames, importance_rows = [], [], []
    for (spec, fold), (row, frame, imp) in zip(tasks, results, strict=True):
        fold_rows.append(row)
        pred_frames.append(frame)
        importance_rows += imp
        if progress is not None:
            progress(f"{spec.name} seed {fold.seed} fold {fold.fold}")
    return Evaluation(
        plan=plan,
        classes=data.classes,
        models={s.name: s.description for s in specs},
        fold_metrics=pd.DataFrame(fold_rows),
        predictions=pd.concat(pred_frames, ignore_index=True),
        importance=pd.DataFrame(importance_rows) if importance else None,
        families=data.schema.family_names,
    )


def with_inner_validation(estimator, fraction: float):
    """``estimator`` with the plan's inner validation share (:attr:`SplitPlan.inner_validation`:
    0.25 of the training cells makes the paper's hold-out 60/20/20) given to each BiLSTM step
    of a pipeline that has the default share, in place; a share its builder chose is kept, the
    BiLSTMs a deployed classifier fits keep their own (its calibration cells are held back
    first), as do other models' internal splits."""
    bilstm = sys.modules.get("ephys2type.models.bilstm.estimator")
    if bilstm is None:  # no BiLSTM was built (and torch stays unimported)
        return estimator
    steps = estimator.steps if hasattr(estimator, "steps") else [(None, estimator)]
    default = bilstm.FamilyBiLSTMClassifier().validation_fraction
    for _, step in steps:
        # a share the model's builder chose itself is kept (review)
        if isinstance(step, bilstm.FamilyBiLSTMClassifier) and step.validation_fraction == default:
            step.set_params(validation_fraction=fraction)
    return estimator


def _fold(
    spec: ModelSpec,
    data: PatchSeqData,
    fold,
    importance: bool,
    repeats: int,
    inner_validation: float,
    *,
    one_job: bool,
):
    """Fit one model on one fold; score it (and its family importance) on the test cells.

    A deployed classifier is fitted without its protocol-subset members, and only those its
    test cells would be served by are added (:func:`add_serving_members`): each cell gets
    exactly what the classifier with every member gives, for a fraction of the fits (cells
    of the bundled tables mostly have every family). Not with family importance, whose
    masked families route cells to other members."""
    y = data.y.to_numpy()
    lean = spec.kind == "deployed" and not importance

    def build(seed: int):
        estimator = spec.build(data.schema, seed)
        if lean and getattr(estimator, "family_subsets", False):
            estimator.set_params(family_subsets=False)
        return with_inner_validation(estimator, inner_validation)

    def score(fitted: FittedFold):
        if lean and isinstance(fitted.estimator, CellTypeClassifier):
            add_serving_members(fitted.estimator, data.X.iloc[fold.test])
        return _score(spec, data, fold, fitted, importance, repeats)

    return fit_and_score(
        build,
        data.X,
        y,
        fold,
        score,
        one_job=one_job,
        fit_params=spec.fit_params,
    )


def _score(spec: ModelSpec, data: PatchSeqData, fold, fitted: FittedFold, importance, repeats):
    classes = data.classes
    estimator = fitted.estimator
    X_test, y_test = data.X.iloc[fold.test], data.y.to_numpy()[fold.test]
    read = fold_predictions(estimator, X_test, classes)
    predicted = read.predicted
    row = {
        "model": spec.name,
        "seed": fold.seed,
        "fold": fold.fold,
        "n_train": len(fold.train),
        "n_test": len(fold.test),
        "fit_seconds": fitted.fit_seconds,
        "predict_seconds": read.seconds,
        **fold_scores(y_test, predicted, classes),
    }
    frame = pd.DataFrame(
        {
            "model": spec.name,
            "seed": fold.seed,
            "fold": fold.fold,
            "cell_id": X_test.index.to_numpy(),
            "true": y_test,
            "predicted": predicted,
        }
    )
    parts = [frame, pd.DataFrame(read.proba, columns=proba_columns(classes))]
    if read.explanation is not None:
        parts.append(read.explanation.reset_index(drop=True))
    frame = pd.concat(parts, axis=1)
    if read.table is not None:
        row.update(_batch_check(estimator, read.scores, read.table, y_test))
    imp = []
    if importance:
        base = fold_scores(y_test, predicted, classes)["macro_f1"]
        rng = np.random.default_rng(fitted.seed)
        for fam in data.schema.families:
            drops = []
            for _ in range(repeats):
                shuffled = X_test.copy()
                shuffled[fam.columns] = X_test[fam.columns].to_numpy()[rng.permutation(len(X_test))]
                pred = fold_predictions(estimator, shuffled, classes, explained=False).predicted
                drops.append(base - fold_scores(y_test, pred, classes)["macro_f1"])
            imp.append(
                {
                    "model": spec.name,
                    "seed": fold.seed,
                    "fold": fold.fold,
                    "family": fam.name,
                    "importance": float(np.mean(drops)),
                }
            )
    return row, frame, imp


def _batch_check(
    model: CellTypeClassifier, scores, table: pd.DataFrame, truth: np.ndarray
) -> dict[str, float]:
    """What ``predict`` would tell about the test cells as one batch: the share flagged out
    of distribution, whether the shift test fires (1.0) or not (0.0), the batch's estimated
    and stated (in-distribution) accuracy, and the real accuracy of the quantity estimated
    (each routed cell's most probable class, at the level the expected accuracy is judged,
    of the cells the estimate reads: a test cell whose features copy a training cell's, e.g.
    two mouse cells of different classes with the same 39 values, is left out of both)."""
    copies = training_copies(model, scores.X)
    batch = summarize_batch(model, scores, table, copies=copies)

    def number(value) -> float:
        return float("nan") if value is None else float(value)

    routed = scores.routed & ~training_mask(copies, scores.n)
    top = scores.top_class()
    if model.parent_of is not None:
        up = np.array([model.parent_of[c] for c in top], dtype=object)
        truth = np.array([model.parent_of[c] for c in truth], dtype=object)
        top = up
    real = float(np.mean(top[routed] == truth[routed])) if routed.any() else float("nan")
    return {
        "out_of_distribution": batch.n_out_of_distribution / max(batch.n_cells, 1),
        "batch_shift_detected": float(batch.shift_detected),
        "batch_warned": float(batch.warns),
        "estimated_accuracy": number(batch.estimated_accuracy),
        "estimated_accuracy_low": number(batch.estimated_accuracy_low),
        "estimated_accuracy_high": number(batch.estimated_accuracy_high),
        "batch_shift_allowance": float(batch.shift_allowance),
        "stated_accuracy": number(batch.stated_accuracy),
        "real_accuracy": real,
    }
