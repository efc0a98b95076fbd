"""How a model does on cells recorded with fewer protocols: the partial-protocol table.

For each family subset a lab plausibly has, the test cells of every fold lose the other
families (their columns emptied, as in a lab without those protocols), and three models are
scored on identical folds:

- ``imputed``: the model trained on every family, the absent ones imputed with training
  medians (what a plain model does with such cells);
- ``deployed``: what ``ephys2type train`` saves and ``predict`` runs, the
  :class:`~ephys2type.models.cell_classifier.CellTypeClassifier` that sends each cell to
  the model of the features it has and leaves it unassigned without evidence (an
  unassigned cell counts as wrong; ``assigned`` says how many were called);
- ``subset``: the model trained on exactly the subset's families (the reference).

One :class:`CellTypeClassifier` is fitted per fold and serves all three (its model of every
feature, and its model of the subset's features), so all three are fitted on the same
cells and the table costs one fit per subset and fold.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ephys2type.data.columns import proba_columns
from ephys2type.data.container import PatchSeqData
from ephys2type.evaluation.folds import FittedFold, calls, fit_and_score, fold_predictions
from ephys2type.evaluation.parallel import map_folds
from ephys2type.evaluation.results import Evaluation
from ephys2type.evaluation.splits import SplitPlan
from ephys2type.evaluation.stats import fold_scores, paired_test, summarize
from ephys2type.models.cell_classifier import CellTypeClassifier
from ephys2type.models.registry import ModelSpec

#: The three models scored on each subset, in table order.
ARMS = ("imputed", "deployed", "subset")
ARM_TITLES = {
    "imputed": "trained on all families, absent ones imputed",
    "deployed": "deployed: the model of each cell's features, unassigned without evidence",
    "subset": "trained on exactly these families",
}


def subset_label(families: Sequence[str]) -> str:
    """``subthreshold+spike_train+long_square``: how a family subset is named in results."""
    return "+".join(families)


@dataclass
class PartialProtocols:
    """Fold scores and out-of-fold predictions of the three arms on each family subset."""

    plan: SplitPlan
    model: str
    classes: list[str]
    subsets: list[tuple[str, ...]]
    fold_metrics: pd.DataFrame  # subset, arm, seed, fold, n_train, n_test, scores...
    predictions: pd.DataFrame  # subset, arm, seed, fold, cell_id, true, predicted, proba:*

    def evaluation(self, subset: Sequence[str]) -> Evaluation:
        """The arms on one subset as an :class:`Evaluation` (models named by arm)."""
        label = subset_label(subset)
        rows = self.fold_metrics[self.fold_metrics["subset"] == label].drop(columns="subset")
        preds = self.predictions[self.predictions["subset"] == label].drop(columns="subset")
        return Evaluation(
            plan=self.plan,
            classes=self.classes,
            models={f"{self.model} {arm}": ARM_TITLES[arm] for arm in ARMS},
            fold_metrics=rows.assign(model=rows.pop("arm").map(lambda a: f"{self.model} {a}")),
            predictions=preds.assign(model=preds.pop("arm").map(lambda a: f"{self.model} {a}")),
        )

    def table(self) -> list[dict[str, Any]]:
        """Per subset: each arm's accuracy and macro-F1 (mean, SD, CI), the share of cells
        the deployed model called, and the paired differences deployed - imputed and
        deployed - subset (macro-F1)."""
        out = []
        for subset in self.subsets:
            label = subset_label(subset)
            rows = self.fold_metrics[self.fold_metrics["subset"] == label]
            n_train, n_test = rows["n_train"].mean(), rows["n_test"].mean()

            def scores(arm: str, metric: str, rows=rows) -> np.ndarray:
                part = rows[rows["arm"] == arm].sort_values(["seed", "fold"])
                return part[metric].to_numpy()

            entry: dict[str, Any] = {"name": label, "families": list(subset)}
            for arm in ARMS:
                entry[arm] = {
                    m: summarize(scores(arm, m), n_train, n_test) for m in ("accuracy", "macro_f1")
                }
            deployed = rows[rows["arm"] == "deployed"]
            entry["deployed_assigned"] = (
                float(deployed["assigned"].fillna(1.0).mean())
                if "assigned" in deployed.columns
                else 1.0
            )
            for other in ("imputed", "subset"):
                entry[f"deployed_minus_{other}"] = paired_test(
                    scores("deployed", "macro_f1"), scores(other, "macro_f1"), n_train, n_test
                )
            out.append(entry)
        return out


def run_partial_protocols(
    data: PatchSeqData,
    model: str | ModelSpec,
    plan: SplitPlan,
    *,
    subsets: Sequence[Sequence[str]] | None = None,
    n_jobs: int = 1,
    progress: Callable[[str], None] | None = None,
) -> PartialProtocols:
    """Score ``model`` on cells that have only each family subset (see the module docstring).

    ``subsets`` default to :meth:`FeatureSchema.protocol_subsets` without the complete one.
    ``n_jobs`` > 1 runs folds in parallel; the results are identical to a serial run.
    """
    plan.check_matches(data)
    name = model if isinstance(model, str) else model.name
    full = tuple(data.schema.family_names)
    wanted = data.schema.protocol_subsets() if subsets is None else subsets
    wanted = [tuple(data.schema.restrict(s).family_names) for s in wanted]
    wanted = [s for s in dict.fromkeys(wanted) if s != full] or [full]
    results = map_folds(
        _score_fold, [(data, model, fold, wanted) for fold in plan.folds], n_jobs=n_jobs
    )
    rows, frames = [], []
    for fold, (fold_rows, fold_frames) in zip(plan.folds, results, strict=True):
        rows += fold_rows
        frames += fold_frames
        if progress is not None:
            progress(f"{name} seed {fold.seed} fold {fold.fold}")
    return PartialProtocols(
        plan=plan,
        model=name,
        classes=data.classes,
        subsets=wanted,
        fold_metrics=pd.DataFrame(rows),
        predictions=pd.concat(frames, ignore_index=True),
    )


def _score_fold(data: PatchSeqData, model: str | ModelSpec, fold, subsets, *, one_job: bool):
    def build(seed: int) -> CellTypeClassifier:
        return CellTypeClassifier(model=model, schema=data.schema, random_state=seed)

    return fit_and_score(
        build,
        data.X,
        data.y.to_numpy(),
        fold,
        lambda fitted: _arms(data, fold, subsets, fitted),
        one_job=one_job,
    )


def _arms(data: PatchSeqData, fold, subsets, fitted: FittedFold):
    """The three arms on each subset, from the one classifier fitted on the fold."""
    classes = data.classes
    clf: CellTypeClassifier = fitted.estimator
    t0 = time.perf_counter()
    members = {frozenset(m.features): m for m in clf.members_}
    X_test, y_test = data.X.iloc[fold.test], data.y.to_numpy()[fold.test]
    for subset in subsets:  # a subset that is no protocol subset: its model, fitted now
        kept = data.schema.restrict(subset).columns
        if frozenset(kept) not in members:
            members[frozenset(kept)] = clf.fit_member(kept)
    fit_seconds = fitted.fit_seconds + time.perf_counter() - t0
    rows, frames = [], []
    for subset in subsets:
        label = subset_label(subset)
        kept = data.schema.restrict(subset).columns
        blanked = X_test.copy()
        blanked[[c for c in data.schema.columns if c not in kept]] = np.nan
        t1 = time.perf_counter()
        deployed = fold_predictions(clf, blanked, classes)
        reads = {
            "imputed": _read(clf.members_[0].probabilities(blanked, classes), classes),
            "deployed": (deployed.predicted, deployed.proba),
            "subset": _read(members[frozenset(kept)].probabilities(blanked, classes), classes),
        }
        predict_seconds = (time.perf_counter() - t1) / len(reads)
        for arm, (predicted, proba) in reads.items():
            base = {"subset": label, "arm": arm, "seed": fold.seed, "fold": fold.fold}
            rows.append(
                {
                    **base,
                    "n_train": len(fold.train),
                    "n_test": len(fold.test),
                    # one fit serves every arm: each row carries the fit of all subsets
                    "fit_seconds": fit_seconds,
                    "predict_seconds": predict_seconds,
                    **fold_scores(y_test, predicted, classes),
                }
            )
            frame = pd.DataFrame(
                {**base, "cell_id": X_test.index.to_numpy(), "true": y_test, "predicted": predicted}
            )
            frame[proba_columns(classes)] = proba
            frames.append(frame)
    return rows, frames


def _read(proba: np.ndarray, classes) -> tuple[np.ndarray, np.ndarray]:
    return calls(proba, classes), proba


def evaluate_available(
    data: PatchSeqData,
    models: Sequence[str | ModelSpec],
    plan: SplitPlan,
    families: Sequence[str],
    *,
    n_jobs: int = 1,
    progress: Callable[[str], None] | None = None,
) -> Evaluation:
    """``evaluate --available-families``: each model's three arms (``<model> imputed``,
    ``<model> deployed``, ``<model> subset``) on test cells that have only ``families``,
    as one :class:`Evaluation` on ``plan`` (paired comparisons included)."""
    subset = tuple(data.schema.restrict(families).family_names)
    parts = [
        run_partial_protocols(
            data, m, plan, subsets=[subset], n_jobs=n_jobs, progress=progress
        ).evaluation(subset)
        for m in models
    ]
    return Evaluation(
        plan=plan,
        classes=data.classes,
        models={name: title for part in parts for name, title in part.models.items()},
        fold_metrics=pd.concat([p.fold_metrics for p in parts], ignore_index=True),
        predictions=pd.concat([p.predictions for p in parts], ignore_index=True),
        families=list(subset),
    )


def write_partial_protocols(result: PartialProtocols, data: PatchSeqData, out) -> None:
    """``partial_protocols.json`` (the table, with the plan), ``fold_metrics.csv`` and a
    figure per metric in the folder ``out``."""
    from pathlib import Path

    from ephys2type.evaluation.plots import plot_partial_protocols, save_figure
    from ephys2type.evaluation.writers import write_fold_tables
    from ephys2type.files import atomic_write_text, dumps_json

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    payload = {
        "model": result.model,
        "species": data.species,
        "labels": data.label_scheme,
        "n_cells": len(data),
        "protocol": {
            "name": result.plan.protocol,
            "seeds": len({f.seed for f in result.plan.folds}),
            "folds": len(result.plan.folds),
        },
        "families": data.schema.family_names,
        "arms": ARM_TITLES,
        "subsets": result.table(),
    }
    atomic_write_text(out / "partial_protocols.json", dumps_json(payload), overwrite=True)
    write_fold_tables(result.fold_metrics, out, ["subset", "arm"])
    for metric in ("accuracy", "macro_f1"):
        ax = plot_partial_protocols(
            payload["subsets"],
            metric=metric,
            title=f"{data.species} ({data.label_scheme}), {result.model}: "
            "cells with only the protocols named",
        )
        save_figure(ax.figure, out / f"partial_protocols_{metric}.png")
