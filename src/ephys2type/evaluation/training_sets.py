"""Which datasets to train on: each arm trained on some datasets' training cells, every arm
scored on each dataset's test cells, on identical folds.

The question a lab asks of a new public table ("does adding it help my cells, and does it
hurt the cells the model already served?") is a paired comparison: the folds run over the
union of the datasets (donor-grouped: a donor's cells, in any dataset, stay on one side),
and in every fold each arm is fitted on the training cells of its datasets only, then scored
on the test cells of each dataset separately. An arm may also keep only the features every
one of its datasets measured (``common_features``): when a dataset lacks some features,
imputing them with one value for all its cells makes a pattern a model can read as "this
dataset" rather than as physiology, and this arm shows how much of a gain survives without it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ephys2type.data.container import PatchSeqData
from ephys2type.evaluation.breakdown import breakdown, group_scores
from ephys2type.evaluation.folds import FittedFold, fit_and_score
from ephys2type.evaluation.parallel import map_folds
from ephys2type.evaluation.splits import SplitPlan
from ephys2type.evaluation.stats import paired_test, summarize
from ephys2type.models.registry import get_model

METRICS = ("accuracy", "balanced_accuracy", "macro_f1")


@dataclass(frozen=True)
class TrainingArm:
    """Train on the cells of ``datasets`` (with only the features all of them measured
    when ``common_features``)."""

    name: str
    datasets: tuple[str, ...]
    common_features: bool = False

    def describe(self) -> str:
        text = " + ".join(self.datasets)
        return text + (", features all of them have" if self.common_features else "")


def default_arms(datasets: Sequence[str]) -> list[TrainingArm]:
    """The first dataset alone, all of them, and all of them on their common features."""
    first, every = (datasets[0],), tuple(datasets)
    return [
        TrainingArm(f"{first[0]} only", first),
        TrainingArm("all datasets", every),
        TrainingArm("all datasets, common features", every, common_features=True),
    ]


@dataclass
class TrainingSetComparison:
    """Fold scores of every arm on every dataset's test cells (see the module docstring)."""

    model: str
    arms: list[TrainingArm]
    plan: SplitPlan
    scores: pd.DataFrame  # arm, dataset, seed, fold, n_train, n_test, n_features, METRICS
    predictions: pd.DataFrame  # model (the arm), seed, fold, cell_id, true, predicted

    def by(self, groups: pd.Series, name: str) -> pd.DataFrame:
        """Each arm's out-of-fold predictions broken down by ``groups`` (e.g. the layer of
        each cell): :func:`~ephys2type.evaluation.breakdown.breakdown`."""
        return breakdown(self.predictions, groups, name).rename(columns={"model": "arm"})

    def summary(self) -> list[dict[str, Any]]:
        """Per arm and dataset: mean, SD and corrected 95% CI of each metric."""
        out = []
        for (arm, dataset), rows in self.scores.groupby(["arm", "dataset"], sort=False):
            n_train, n_test = float(rows["n_train"].mean()), float(rows["n_test"].mean())
            out.append(
                {
                    "arm": arm,
                    "dataset": dataset,
                    "n_test_cells": n_test,
                    **{m: summarize(rows[m], n_train, n_test) for m in METRICS},
                }
            )
        return out

    def compare(self, a: str, b: str, dataset: str, metric: str = "accuracy") -> dict[str, Any]:
        """Paired difference ``a - b`` on one dataset's test cells over identical folds."""
        keys = ["seed", "fold"]
        rows = self.scores[self.scores["dataset"] == dataset]
        left = rows[rows["arm"] == a].sort_values(keys)
        right = rows[rows["arm"] == b].sort_values(keys)
        out = paired_test(
            left[metric].to_numpy(),
            right[metric].to_numpy(),
            float(left["n_train"].mean()),
            float(left["n_test"].mean()),
        )
        return {"a": a, "b": b, "dataset": dataset, "metric": metric, **out}

    def comparisons(self) -> list[dict[str, Any]]:
        """Every later arm against the first, and the last against the one before it, on
        every dataset and metric."""
        names = [arm.name for arm in self.arms]
        pairs = [(b, names[0]) for b in names[1:]]
        if len(names) > 2:
            pairs.append((names[-2], names[-1]))
        datasets = list(dict.fromkeys(self.scores["dataset"]))
        return [self.compare(a, b, d, m) for a, b in pairs for d in datasets for m in METRICS]


def compare_training_sets(
    data: PatchSeqData,
    model: str,
    plan: SplitPlan,
    arms: Sequence[TrainingArm] | None = None,
    *,
    n_jobs: int = 1,
    progress: Callable[[str], None] | None = None,
) -> TrainingSetComparison:
    """Fit ``model`` (a registry name) for every arm on every fold of ``plan``; score each
    on each dataset's test cells."""
    plan.check_matches(data)
    if len(data.datasets) < 2:
        raise ValueError("comparing training sets needs cells of two datasets or more")
    arms = list(arms or default_arms(data.datasets))
    results = map_folds(
        _fold, [(data, model, arm, fold) for fold in plan.folds for arm in arms], n_jobs=n_jobs
    )
    rows, frames = [], []
    for (arm, fold), (fold_rows, frame) in zip(
        [(arm, fold) for fold in plan.folds for arm in arms], results, strict=True
    ):
        rows += fold_rows
        frames.append(frame)
        if progress is not None:
            progress(f"{arm.name} seed {fold.seed} fold {fold.fold}")
    return TrainingSetComparison(
        model, arms, plan, pd.DataFrame(rows), pd.concat(frames, ignore_index=True)
    )


def _fold(data: PatchSeqData, model: str, arm: TrainingArm, fold, *, one_job: bool):
    dataset = data.meta["dataset"].to_numpy()
    train = fold.train[np.isin(dataset[fold.train], arm.datasets)]
    columns = data.schema.columns
    if arm.common_features:
        measured = data.X.iloc[train].notna().groupby(dataset[train]).any()
        columns = [c for c in columns if measured[c].all()]
    schema = data.schema.select(columns)
    spec = get_model(model)
    return fit_and_score(
        lambda seed: spec.build(schema, seed),
        data.X[schema.columns],
        data.y.to_numpy(dtype=object),
        fold,
        lambda fitted: _scores(data, arm, fold, fitted, schema.columns),
        one_job=one_job,
        rows=train,
        fit_params=spec.fit_params,
    )


def _scores(data: PatchSeqData, arm: TrainingArm, fold, fitted: FittedFold, columns: list[str]):
    """The arm's scores on each dataset's test cells."""
    dataset = data.meta["dataset"].to_numpy()
    train = fitted.rows
    estimator = fitted.estimator
    test = data.X.iloc[fold.test]
    predicted = pd.Series(estimator.predict(test[columns]), index=test.index)
    truth = data.y.iloc[fold.test]
    rows = []
    for name in dict.fromkeys(dataset[fold.test]):
        cells = dataset[fold.test] == name
        part = pd.DataFrame({"true": truth[cells], "predicted": predicted[cells]})
        rows.append(
            {
                "arm": arm.name,
                "dataset": str(name),
                "seed": fold.seed,
                "fold": fold.fold,
                "n_train": len(train),
                "n_features": len(columns),
                **{k: v for k, v in group_scores(part).items() if k in (*METRICS, "cells")},
            }
        )
    for row in rows:
        row["n_test"] = int(row.pop("cells"))
    frame = pd.DataFrame(
        {
            "model": arm.name,
            "seed": fold.seed,
            "fold": fold.fold,
            "cell_id": test.index.astype(str),
            "true": truth.to_numpy(dtype=object),
            "predicted": predicted.to_numpy(dtype=object),
        }
    )
    return rows, frame


def write_training_sets(result: TrainingSetComparison, data: PatchSeqData, out: Path) -> None:
    """``training_sets.json`` (arms, summary, paired comparisons, plan, and each arm by the
    layer of the cells when they carry one), ``fold_scores.csv`` and
    ``oof_predictions.csv`` in the folder ``out``."""
    from ephys2type.files import atomic_write_text, dumps_json

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    payload = {
        "model": result.model,
        "species": data.species,
        "labels": data.label_scheme,
        "datasets": data.datasets,
        "cells_per_dataset": {
            str(k): int(v) for k, v in data.meta["dataset"].value_counts(sort=False).items()
        },
        "protocol": {"name": result.plan.protocol, "description": result.plan.description},
        "arms": [
            {
                "name": a.name,
                "datasets": list(a.datasets),
                "common_features": a.common_features,
                "description": a.describe(),
            }
            for a in result.arms
        ],
        "summary": result.summary(),
        "comparisons": result.comparisons(),
    }
    if "layer" in data.meta.columns:
        layer = data.meta["layer"].copy()
        layer.index = layer.index.astype(str)
        payload["by_layer"] = result.by(layer, "layer").to_dict(orient="records")
    atomic_write_text(out / "training_sets.json", dumps_json(payload), overwrite=True)
    result.scores.to_csv(out / "fold_scores.csv", index=False, float_format="%.10g")
    result.predictions.to_csv(out / "oof_predictions.csv", index=False)
