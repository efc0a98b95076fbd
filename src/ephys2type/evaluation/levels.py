"""Two-level labels (subclass, then t-type): the deployed classifier, scored per level on one
split plan.

Each model is scored as ``ephys2type train --labels ttype`` ships it:
``<model>-deployed``, the :class:`~ephys2type.models.cell_classifier.CellTypeClassifier`
with the label hierarchy (a fifth of each training fold calibrates the temperature and the
sets at both levels; routed by the features each cell has; abstaining), and, with
``hierarchical``, ``<model>-hier-deployed`` (its members a subclass model, then a t-type
model within each subclass; ``train --hierarchical``). Calls are made top-down, so the
levels never disagree, and at the finest level the sets support. Per level and fold:
accuracy, balanced accuracy, macro-F1, top-3 accuracy (of the top-down calls, every cell),
empirical coverage of the sets and their mean size; and how often a cell is called at the
level (``called``: the t-type, or the subclass or finer), with the accuracy of those calls.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score

from ephys2type.data.columns import proba_columns, set_classes
from ephys2type.data.container import PatchSeqData
from ephys2type.errors import Ephys2TypeError
from ephys2type.evaluation.results import Evaluation
from ephys2type.evaluation.runner import Progress, run_evaluation
from ephys2type.evaluation.splits import SplitPlan
from ephys2type.evaluation.stats import summarize
from ephys2type.models.cell_classifier import ABSTAIN
from ephys2type.models.conformal import NO_CALL
from ephys2type.models.deployed import deployed
from ephys2type.models.hierarchy import parent_probabilities, top_down
from ephys2type.models.registry import ModelSpec, get_model

#: Per-level scores, in table order.
LEVEL_METRICS = (
    "accuracy",
    "balanced_accuracy",
    "macro_f1",
    "top3_accuracy",
    "coverage",
    "mean_set_size",
)
#: Published anchors for mouse V1 (balanced accuracy unless marked), shown beside our numbers.
ANCHORS = {
    "MapMySpikes 2024 winner (hierarchical gradient boosting, 29 features), subclass": 0.765,
    "MapMySpikes 2024 winner, t-type": 0.351,
    "coupled autoencoders (Gala et al. 2021), ~54 types, ephys only (accuracy)": 0.30,
}


def level_specs(
    models: Sequence[str | ModelSpec],
    parent_of: Mapping[str, str],
    *,
    confidence: float = 0.9,
    max_set_size: int = 3,
    hierarchical: bool = False,
) -> list[ModelSpec]:
    """Each model as deployed with the label hierarchy (``<model>-deployed``) and, with
    ``hierarchical``, with hierarchical members (``<model>-hier-deployed``)."""
    parent_of = dict(parent_of)
    specs: list[ModelSpec] = []
    for m in models:
        spec = get_model(m) if isinstance(m, str) else m
        for hier in (False, True) if hierarchical else (False,):
            specs.append(
                deployed(
                    spec,
                    parent_of=parent_of,
                    confidence=confidence,
                    max_set_size=max_set_size,
                    hierarchical=hier,
                )
            )
    return specs


@dataclass(frozen=True)
class _Level:
    """One level of a block of predictions: its labels, probabilities, top-down calls and
    their probability, the truth, the sets, and which cells the sets let it call."""

    name: str
    labels: np.ndarray
    proba: np.ndarray
    call: np.ndarray
    call_probability: np.ndarray
    truth: np.ndarray
    sets: np.ndarray
    called: np.ndarray

    @property
    def positions(self) -> np.ndarray:
        where = {c: k for k, c in enumerate(self.labels)}
        return np.array([where[c] for c in self.truth])

    @property
    def covered(self) -> np.ndarray:
        return self.sets[np.arange(len(self.truth)), self.positions]


@dataclass
class LevelEvaluation:
    """The models' out-of-fold predictions with both levels' sets, and per-level scores."""

    evaluation: Evaluation
    parent_of: dict[str, str]
    confidence: float
    max_set_size: int
    level_names: tuple[str, str] = ("subclass", "t-type")

    @property
    def models(self) -> list[str]:
        return list(self.evaluation.models)

    def fold_scores(self) -> pd.DataFrame:
        """One row per model, level and fold: the :data:`LEVEL_METRICS`, plus the share of
        cells called at the level (``called``) and the accuracy of those calls."""
        rows = []
        preds = self.evaluation.predictions
        for (model, seed, fold), p in preds.groupby(["model", "seed", "fold"], sort=True):
            rows += self._fold_rows(model, seed, fold, p)
        return pd.DataFrame(rows)

    def _levels(self, p: pd.DataFrame) -> list[_Level]:
        """Both levels (parent first) of one block of out-of-fold predictions."""
        classes = np.asarray(self.evaluation.classes, dtype=object)
        proba = p[proba_columns(classes)].to_numpy()
        calls = top_down(proba, classes, self.parent_of)
        parents, top = parent_probabilities(proba, classes, self.parent_of)
        truth = p["true"].to_numpy(dtype=object)
        sets = _members(p["set"], classes)
        up_sets = _members(p["parent_set"], parents)
        called = (p["predicted"] != ABSTAIN).to_numpy()
        level = np.where(called, p["call_level"].to_numpy(dtype=object), NO_CALL)
        return [
            _Level(
                self.level_names[0],
                parents,
                top,
                calls["parent"].to_numpy(dtype=object),
                calls["parent_probability"].to_numpy(),
                np.array([self.parent_of[c] for c in truth], dtype=object),
                up_sets,
                level != NO_CALL,  # a t-type call is a subclass call too
            ),
            _Level(
                self.level_names[1],
                classes,
                proba,
                calls["child"].to_numpy(dtype=object),
                calls["child_probability"].to_numpy(),
                truth,
                sets,
                level == "class",
            ),
        ]

    def _fold_rows(self, model, seed, fold, p: pd.DataFrame) -> list[dict[str, Any]]:
        out = []
        for lv in self._levels(p):
            top3 = np.argsort(-lv.proba, axis=1)[:, :3]
            right = lv.call == lv.truth
            out.append(
                {
                    "model": model,
                    "seed": seed,
                    "fold": fold,
                    "level": lv.name,
                    "n_test": len(p),
                    "accuracy": accuracy_score(lv.truth, lv.call),
                    "balanced_accuracy": balanced_accuracy_score(lv.truth, lv.call),
                    "macro_f1": f1_score(
                        lv.truth, lv.call, labels=list(lv.labels), average="macro", zero_division=0
                    ),
                    "top3_accuracy": float((top3 == lv.positions[:, None]).any(axis=1).mean()),
                    "coverage": float(lv.covered.mean()),
                    "mean_set_size": float(lv.sets.sum(axis=1).mean()),
                    "called": float(lv.called.mean()),
                    "accuracy_when_called": (
                        float(right[lv.called].mean()) if lv.called.any() else np.nan
                    ),
                }
            )
        return out

    def table(self) -> pd.DataFrame:
        """Mean [95% CI] of each metric per model and level (corrected resampled t)."""
        scores = self.fold_scores()
        n_train, n_test = self.evaluation.n_train, self.evaluation.n_test
        rows = []
        for (model, level), part in scores.groupby(["model", "level"], sort=False):
            row: dict[str, Any] = {"model": model, "level": level}
            for metric in (*LEVEL_METRICS, "called", "accuracy_when_called"):
                values = part[metric].dropna()
                if values.empty:  # no cell was called at this level on any fold
                    row[metric] = row[f"{metric}_ci_low"] = row[f"{metric}_ci_high"] = np.nan
                    continue
                s = summarize(
                    values,
                    n_train,
                    n_test,
                    bounds=None if metric == "mean_set_size" else (0.0, 1.0),
                )
                row[metric] = s["mean"]
                row[f"{metric}_ci_low"] = s["ci_low"]
                row[f"{metric}_ci_high"] = s["ci_high"]
            rows.append(row)
        return pd.DataFrame(rows)

    def per_class(self) -> pd.DataFrame:
        """Per model, level and class (out-of-fold cells pooled over folds): cells,
        recall of the top-down call, coverage and mean set size."""
        rows = []
        for model, p in self.evaluation.predictions.groupby("model", sort=False):
            for lv in self._levels(p):
                right = lv.call == lv.truth
                size = lv.sets.sum(axis=1)
                for c in lv.labels:
                    mine = lv.truth == c
                    rows.append(
                        {
                            "model": model,
                            "level": lv.name,
                            "class": c,
                            "n_cells": int(mine.sum()),
                            "recall": float(right[mine].mean()),
                            "coverage": float(lv.covered[mine].mean()),
                            "mean_set_size": float(size[mine].mean()),
                        }
                    )
        return pd.DataFrame(rows)

    def selective_curve(self, steps: int = 21) -> pd.DataFrame:
        """Accuracy of the calls a model makes vs the share of cells it calls, when it
        calls only cells whose top-down probability reaches a threshold (per level)."""
        rows = []
        for model, p in self.evaluation.predictions.groupby("model", sort=False):
            for lv in self._levels(p):
                right = lv.call == lv.truth
                for q in np.linspace(0.0, 0.95, steps):
                    threshold = float(np.quantile(lv.call_probability, q))
                    kept = lv.call_probability >= threshold
                    rows.append(
                        {
                            "model": model,
                            "level": lv.name,
                            "threshold": threshold,
                            "share_called": float(kept.mean()),
                            "accuracy": float(right[kept].mean()),
                        }
                    )
        return pd.DataFrame(rows)

    def to_metrics(self) -> dict[str, Any]:
        return {
            "levels": {
                "names": list(self.level_names),
                "confidence": self.confidence,
                "max_set_size": self.max_set_size,
                "n_classes": len(self.evaluation.classes),
                "n_parents": len(set(self.parent_of.values())),
                "table": self.table().to_dict(orient="records"),
                "anchors": ANCHORS,
            }
        }


def _members(sets: pd.Series, labels: np.ndarray) -> np.ndarray:
    """Boolean cells x ``labels`` from '; '-joined sets (empty: no set)."""
    position = {str(c): k for k, c in enumerate(labels)}
    out = np.zeros((len(sets), len(labels)), dtype=bool)
    for i, text in enumerate(sets):
        for label in set_classes(text):
            out[i, position[label]] = True
    return out


def run_levels(
    data: PatchSeqData,
    models: Sequence[str | ModelSpec],
    plan: SplitPlan,
    *,
    confidence: float = 0.9,
    max_set_size: int = 3,
    hierarchical: bool = False,
    parent_of: Mapping[str, str] | None = None,
    n_jobs: int = 1,
    progress: Progress | None = None,
) -> LevelEvaluation:
    """``models`` as deployed with the label hierarchy (and, with ``hierarchical``, with
    hierarchical members) on ``plan``, scored per level.

    ``parent_of`` (class -> parent class) defaults to the label scheme's hierarchy
    (:meth:`~ephys2type.data.container.PatchSeqData.label_parents`).
    """
    if not 0 < confidence < 1:
        raise Ephys2TypeError(f"confidence must lie between 0 and 1, not {confidence}")
    parent_of = dict(parent_of) if parent_of is not None else data.label_parents()
    specs = level_specs(
        models,
        parent_of,
        confidence=confidence,
        max_set_size=max_set_size,
        hierarchical=hierarchical,
    )
    evaluation = run_evaluation(data, specs, plan, n_jobs=n_jobs, progress=progress)
    return LevelEvaluation(evaluation, parent_of, confidence, max_set_size)


def write_levels(
    result: LevelEvaluation,
    out_dir: str | Path,
    *,
    overwrite: bool = False,
    figures: Collection[str] | None = None,
) -> Path:
    """Write the evaluation like ``evaluate`` does, plus levels.csv, level_folds.csv,
    coverage_per_class.csv, selective.csv and the accuracy-vs-share-called figure
    (``figures``: the models whose per-model figures are drawn; None: all)."""
    from ephys2type.evaluation.plots import plot_selective, save_figure
    from ephys2type.evaluation.writers import write_evaluation

    def extra(folder: Path) -> None:
        result.table().to_csv(folder / "levels.csv", index=False, float_format="%.6g")
        result.fold_scores().to_csv(folder / "level_folds.csv", index=False, float_format="%.6g")
        result.per_class().to_csv(
            folder / "coverage_per_class.csv", index=False, float_format="%.6g"
        )
        curve = result.selective_curve()
        curve.to_csv(folder / "selective.csv", index=False, float_format="%.6g")
        save_figure(plot_selective(curve, result.table()), folder / "accuracy_vs_called.png")

    return write_evaluation(
        result.evaluation,
        out_dir,
        overwrite=overwrite,
        extra_metrics=result.to_metrics(),
        extra_files=extra,
        figures=figures,
    )
