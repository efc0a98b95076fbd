"""Cells with only some features: the deployed classifier against a model trained on exactly
those features, and against the complete model imputing the rest.

A lab rarely has every column of the Allen tables, and rarely whole protocols only. For
random feature sets (``n_draws`` draws of ``sizes`` features from ``families`` families, at
least one of them essential) the test cells of every fold keep only the set's features, and
four arms are scored on identical folds:

- ``imputed``: the model of every feature, the others imputed with training medians;
- ``routed``: the deployed classifier's call from the model of the features each cell has
  (fitted on demand from the training cells), abstention switched off;
- ``deployed``: the same with abstention (an unassigned cell counts as wrong; ``assigned``
  says how many were called);
- ``subset``: the registry model trained on exactly the set's features, on the whole
  training fold (the reference).

Beside them, each set's ``expected_accuracy`` (what the deployed classifier tells a lab,
measured on its calibration cells) against the accuracy the test cells got: the evidence
for the abstention floor.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ephys2type.data.columns import proba_columns
from ephys2type.data.container import PatchSeqData
from ephys2type.data.schema import FeatureSchema
from ephys2type.evaluation.folds import (
    FittedFold,
    add_serving_members,
    calls,
    fit_and_score,
    fold_predictions,
)
from ephys2type.evaluation.parallel import map_folds
from ephys2type.evaluation.splits import SplitPlan
from ephys2type.evaluation.stats import fold_scores, paired_test, summarize
from ephys2type.models.abstention import DECISION_RULES
from ephys2type.models.cell_classifier import ABSTAIN, CellTypeClassifier
from ephys2type.models.registry import ModelSpec, get_model

ARMS = ("imputed", "routed", "deployed", "subset")


def draw_feature_sets(
    schema: FeatureSchema,
    n_draws: int,
    *,
    sizes: tuple[int, int] = (6, 12),
    families: tuple[int, int] = (2, 3),
    random_state: int = 0,
) -> list[tuple[str, ...]]:
    """``n_draws`` feature sets: ``families`` (inclusive range) families, one of them
    essential when the schema has essential families, then ``sizes`` features among
    theirs, each family giving at least one (schema order; no set twice)."""
    rng = np.random.default_rng(random_state)
    essential = [f for f in schema.families if f.essential] or list(schema.families)
    out: list[tuple[str, ...]] = []
    for _ in range(200 * n_draws):
        if len(out) == n_draws:
            break
        k = int(rng.integers(families[0], families[1] + 1))
        first = essential[int(rng.integers(len(essential)))]
        others = [f for f in schema.families if f.name != first.name]
        chosen = [first, *(others[i] for i in rng.permutation(len(others))[: k - 1])]
        pool = [c for f in chosen for c in f.columns]
        n = int(rng.integers(sizes[0], sizes[1] + 1))
        if n < len(chosen) or n > len(pool):
            continue
        picked = {str(f.columns[int(rng.integers(len(f.columns)))]) for f in chosen}
        rest = [c for c in pool if c not in picked]
        picked |= {rest[i] for i in rng.permutation(len(rest))[: n - len(picked)]}
        features = tuple(c for c in schema.columns if c in picked)
        if len(features) == n and features not in out:
            out.append(features)
    return out


@dataclass
class FeatureSubsets:
    """Fold scores of the four arms on each feature set, and each set's expected accuracy."""

    plan: SplitPlan
    model: str
    sets: list[tuple[str, ...]]
    fold_metrics: pd.DataFrame  # set, arm, seed, fold, n_train, n_test, scores...
    expected: pd.DataFrame  # set, seed, fold, expected_accuracy, realized (routed) accuracy

    def table(self) -> list[dict[str, Any]]:
        """Per set: each arm's accuracy (mean, CI), the deployed model's share called and the
        accuracy of its calls, the expected accuracy, and the paired differences routed -
        subset and routed - imputed (accuracy)."""
        out = []
        for k, features in enumerate(self.sets):
            rows = self.fold_metrics[self.fold_metrics["set"] == k]
            n_train, n_test = rows["n_train"].mean(), rows["n_test"].mean()

            def scores(arm: str, metric: str = "accuracy", rows=rows) -> np.ndarray:
                part = rows[rows["arm"] == arm].sort_values(["seed", "fold"])
                return part[metric].to_numpy(dtype=float)

            deployed = rows[rows["arm"] == "deployed"]
            entry: dict[str, Any] = {
                "set": k,
                "features": list(features),
                "n_features": len(features),
                "expected_accuracy": float(
                    self.expected.loc[self.expected["set"] == k, "expected_accuracy"].mean()
                ),
                "assigned": float(deployed.get("assigned", pd.Series(1.0)).fillna(1.0).mean()),
                "accuracy_of_calls": float(
                    deployed.get("accuracy_assigned", deployed["accuracy"]).mean()
                ),
            }
            for arm in ARMS:
                entry[arm] = summarize(scores(arm), n_train, n_test)
            for other in ("subset", "imputed"):
                entry[f"routed_minus_{other}"] = paired_test(
                    scores("routed"), scores(other), n_train, n_test
                )
            out.append(entry)
        return out

    def summary(self) -> dict[str, Any]:
        """Across sets: mean accuracy per arm, how many sets the routed model is within the
        subset model's interval of, and the mean paired differences."""
        table = self.table()

        def mean(arm: str) -> float:
            return float(np.mean([e[arm]["mean"] for e in table]))

        within = sum(
            e["routed_minus_subset"]["ci_low"] <= 0 <= e["routed_minus_subset"]["ci_high"]
            for e in table
        )
        return {
            "n_sets": len(table),
            "mean_accuracy": {arm: mean(arm) for arm in ARMS},
            "routed_within_subset_interval": int(within),
            "mean_routed_minus_subset": float(
                np.mean([e["routed_minus_subset"]["mean_diff"] for e in table])
            ),
            "mean_routed_minus_imputed": float(
                np.mean([e["routed_minus_imputed"]["mean_diff"] for e in table])
            ),
            "mean_assigned": float(np.mean([e["assigned"] for e in table])),
            "expected_vs_realized": self.calibration(),
        }

    def calibration(self) -> dict[str, float]:
        """How well a set's expected accuracy predicts the accuracy of its test cells."""
        e = self.expected
        return {
            "mean_expected": float(e["expected_accuracy"].mean()),
            "mean_realized": float(e["realized_accuracy"].mean()),
            "mean_abs_error": float((e["expected_accuracy"] - e["realized_accuracy"]).abs().mean()),
            "correlation": float(np.corrcoef(e["expected_accuracy"], e["realized_accuracy"])[0, 1])
            if len(e) > 2
            else float("nan"),
        }


def run_feature_subsets(
    data: PatchSeqData,
    model: str | ModelSpec,
    plan: SplitPlan,
    sets: Sequence[Sequence[str]],
    *,
    n_jobs: int = 1,
    progress: Callable[[str], None] | None = None,
) -> FeatureSubsets:
    """Score the four arms on every feature set of ``sets`` (see the module docstring);
    ``n_jobs`` > 1 runs folds in parallel processes (identical results)."""
    plan.check_matches(data)
    spec = get_model(model) if isinstance(model, str) else model
    sets = [tuple(c for c in data.schema.columns if c in set(s)) for s in sets]
    results = map_folds(_fold, [(data, spec, fold, sets) for fold in plan.folds], n_jobs=n_jobs)
    rows, expected = [], []
    for fold, (fold_rows, fold_expected) in zip(plan.folds, results, strict=True):
        rows += fold_rows
        expected += fold_expected
        if progress is not None:
            progress(f"{spec.name} seed {fold.seed} fold {fold.fold}")
    return FeatureSubsets(
        plan=plan,
        model=spec.name,
        sets=list(sets),
        fold_metrics=pd.DataFrame(rows),
        expected=pd.DataFrame(expected),
    )


def _fold(data: PatchSeqData, spec: ModelSpec, fold, sets, *, one_job: bool):
    # the classifier as shipped, but its protocol-subset members are fitted only when a
    # feature set's cells would be served by one (random sets of a few features rarely
    # are): what each cell gets is what the classifier fitted with all of them gives
    def build(seed: int) -> CellTypeClassifier:
        return CellTypeClassifier(
            model=spec, schema=data.schema, random_state=seed, family_subsets=False
        )

    return fit_and_score(
        build,
        data.X,
        data.y.to_numpy(dtype=object),
        fold,
        lambda fitted: _arms(data, spec, fold, sets, fitted, one_job),
        one_job=one_job,
    )


def _arms(data: PatchSeqData, spec: ModelSpec, fold, sets, fitted: FittedFold, one_job: bool):
    """The four arms on each feature set: three from the classifier fitted on the fold, the
    reference fitted on exactly the set's features."""
    classes = data.classes
    clf: CellTypeClassifier = fitted.estimator
    y = data.y.to_numpy(dtype=object)
    X_test, y_test = data.X.iloc[fold.test], y[fold.test]
    rows, expected = [], []
    for k, features in enumerate(sets):
        blanked = X_test.copy()
        blanked[[c for c in data.schema.columns if c not in features]] = np.nan
        add_serving_members(clf, blanked)
        deployed = clf.predict_table(blanked)
        routed = routed_calls(deployed, clf.classes_)
        reference = fit_and_score(
            lambda seed, f=features: spec.build(data.schema.select(f), seed),
            data.X[list(features)],
            y,
            fold,
            lambda ref, f=features: (
                fold_predictions(ref.estimator, X_test[list(f)], classes, explained=False).predicted
            ),
            one_job=one_job,
            fit_params=spec.fit_params,
        )
        predictions = {
            "imputed": calls(clf.members_[0].probabilities(blanked, classes), classes),
            "routed": routed,
            "deployed": deployed["predicted"].to_numpy(dtype=object),
            "subset": reference,
        }
        for arm, predicted in predictions.items():
            rows.append(
                {
                    "set": k,
                    "arm": arm,
                    "seed": fold.seed,
                    "fold": fold.fold,
                    "n_train": len(fold.train),
                    "n_test": len(fold.test),
                    **fold_scores(y_test, predicted, classes),
                }
            )
        served = routed != ABSTAIN
        expected.append(
            {
                "set": k,
                "seed": fold.seed,
                "fold": fold.fold,
                "expected_accuracy": float(deployed.loc[served, "expected_accuracy"].mean()),
                "realized_accuracy": float(np.mean(routed == y_test)),
            }
        )
    return rows, expected


def routed_calls(table: pd.DataFrame, classes) -> np.ndarray:
    """The calls of a deployed table with its decision rules off (how sure a call must be:
    :data:`~ephys2type.models.abstention.DECISION_RULES`): each cell a member read gets its
    most probable class; cells no model could read stay unassigned."""
    classes = np.asarray(classes, dtype=object)
    proba = table[proba_columns(classes)].to_numpy(dtype=float)
    kind = table["reason"].astype(str).str.split(":", n=1).str[0]
    open_ = ((table["reason"] == "") | kind.isin(DECISION_RULES)).to_numpy()
    return np.where(open_, classes[proba.argmax(axis=1)], ABSTAIN).astype(object)


def write_feature_subsets(result: FeatureSubsets, data: PatchSeqData, out) -> None:
    """``feature_subsets.json`` (table, summary, plan), ``fold_metrics.csv`` and
    ``feature_subsets.png`` in the folder ``out``."""
    from pathlib import Path

    from ephys2type.evaluation.plots import plot_feature_subsets, save_figure
    from ephys2type.files import atomic_write_text, dumps_json

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    table = result.table()
    payload = {
        "model": result.model,
        "species": data.species,
        "labels": data.label_scheme,
        "n_cells": len(data),
        # what a guess of the most common class scores, to read the imputed arm against
        "majority_share": float(data.y.value_counts(normalize=True).max()),
        "protocol": {
            "name": result.plan.protocol,
            "seeds": len({f.seed for f in result.plan.folds}),
            "folds": len(result.plan.folds),
        },
        "arms": list(ARMS),
        "sets": table,
        "summary": result.summary(),
    }
    atomic_write_text(out / "feature_subsets.json", dumps_json(payload), overwrite=True)
    result.fold_metrics.to_csv(out / "fold_metrics.csv", index=False)
    result.expected.to_csv(out / "expected_accuracy.csv", index=False)
    fig = plot_feature_subsets(
        table, title=f"{data.species} ({data.label_scheme}), {result.model}: random feature sets"
    )
    save_figure(fig, out / "feature_subsets.png")
