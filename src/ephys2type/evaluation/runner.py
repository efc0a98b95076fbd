"""Run models over a split plan: every model is fitted on each training fold and scored on
the matching test fold, so all models are compared on identical folds.

The seed a model gets on a fold is :func:`fold_seed` of the plan's seed and the fold;
:func:`plan_seed` inverts it, for estimators that share work across the folds of one seed
(the pretrained network of a transfer arm).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
from sklearn.base import clone

from ephys2type.data.columns import proba_columns
from ephys2type.data.container import PatchSeqData
from ephys2type.evaluation.parallel import map_folds
from ephys2type.evaluation.results import Evaluation
from ephys2type.evaluation.splits import SplitPlan
from ephys2type.evaluation.stats import fold_scores
from ephys2type.limits import with_jobs
from ephys2type.models.batch_shift import summarize_batch
from ephys2type.models.cell_classifier import ABSTAIN, CellTypeClassifier, resolve_model
from ephys2type.models.cell_classifier import class_probabilities as ordered_probabilities
from ephys2type.models.inspection import explain
from ephys2type.models.registry import ModelSpec

Progress = Callable[[str], None]

#: fold_seed(seed, fold) = SEED_STRIDE * seed + fold; folds per seed must stay below it.
SEED_STRIDE = 1000


def fold_seed(seed: int, fold: int) -> int:
    """The random_state a model gets on one fold: distinct per fold, fixed by the plan."""
    if not 0 <= fold < SEED_STRIDE:
        raise ValueError(f"fold must be in [0, {SEED_STRIDE}), not {fold}")
    return SEED_STRIDE * seed + fold


def plan_seed(random_state: int) -> int:
    """The plan seed a fold's ``random_state`` came from (inverse of :func:`fold_seed`)."""
    return int(random_state) // SEED_STRIDE


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
        [(spec, data, fold, spec.name in wanted, importance_repeats) for spec, fold in tasks],
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


def _fold(
    spec: ModelSpec, data: PatchSeqData, fold, importance: bool, repeats: int, *, one_job: bool
):
    """Fit one model on one fold; score it (and its family importance) on the test cells."""
    classes = data.classes
    X, y = data.X, data.y.to_numpy()
    seed = fold_seed(fold.seed, fold.fold)
    estimator = clone(spec.build(data.schema, seed))
    if one_job:  # a worker among several: its models use one core
        if isinstance(estimator, CellTypeClassifier):  # None: "the models' own n_jobs"
            estimator.set_params(n_jobs=1)
        with_jobs(estimator, 1)
    t0 = time.perf_counter()
    estimator.fit(X.iloc[fold.train], y[fold.train], **spec.fit_params)
    t1 = time.perf_counter()
    X_test, y_test = X.iloc[fold.test], y[fold.test]
    proba = class_probabilities(estimator, X_test, classes)
    t2 = time.perf_counter()
    predicted = calls(proba, classes)
    row = {
        "model": spec.name,
        "seed": fold.seed,
        "fold": fold.fold,
        "n_train": len(fold.train),
        "n_test": len(fold.test),
        "fit_seconds": t1 - t0,
        "predict_seconds": t2 - t1,
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
    parts = [frame, pd.DataFrame(proba, columns=proba_columns(classes))]
    extra = explain(estimator, X_test)
    if extra is not None:
        parts.append(extra.reset_index(drop=True))
    frame = pd.concat(parts, axis=1)
    if isinstance(estimator, CellTypeClassifier):
        row.update(_batch_check(estimator, X_test))
    imp = []
    if importance:
        base = fold_scores(y_test, predicted, classes)["macro_f1"]
        rng = np.random.default_rng(seed)
        for fam in data.schema.families:
            drops = []
            for _ in range(repeats):
                shuffled = X_test.copy()
                shuffled[fam.columns] = X_test[fam.columns].to_numpy()[rng.permutation(len(X_test))]
                pred = calls(class_probabilities(estimator, shuffled, classes), classes)
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


def _batch_check(model: CellTypeClassifier, cells: pd.DataFrame) -> dict[str, float]:
    """What ``predict`` would tell about the test cells as one batch: the share flagged out
    of distribution, and whether the batch shift check fires (1.0) or not (0.0)."""
    batch = summarize_batch(model, cells, model.predict_table(cells))
    return {
        "out_of_distribution": batch.n_out_of_distribution / max(batch.n_cells, 1),
        "batch_shift_detected": float(batch.shift_detected),
    }


def class_probabilities(estimator, X: pd.DataFrame, classes: Sequence[str]) -> np.ndarray:
    """predict_proba with columns in ``classes`` order (zeros for classes the model lacks;
    NaN rows for cells the model leaves unassigned)."""
    return ordered_probabilities(estimator, X, classes)


def calls(proba: np.ndarray, classes: Sequence[str]) -> np.ndarray:
    """The most probable class of each cell; :data:`ABSTAIN` for a NaN row (a cell the
    model left unassigned)."""
    proba = np.asarray(proba, dtype=float)
    scored = ~np.isnan(proba).any(axis=1)
    best = np.asarray(classes, dtype=object)[np.nan_to_num(proba).argmax(axis=1)]
    return np.where(scored, best, ABSTAIN).astype(object)
