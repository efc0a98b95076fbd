"""Typed records of the evaluation files a run's stages write (``metrics.json`` of
:func:`~ephys2type.evaluation.writers.write_evaluation`, and its transfer, t-type and
held-out-dataset extensions), keeping what the report quotes.

Each record remembers the folder its file is in: the figures beside it are read from there.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ephys2type.evaluation.stats import curve_gain
from ephys2type.study.report.estimates import (
    Comparison,
    Difference,
    Interval,
    find_comparison,
    number,
)


@dataclass(frozen=True)
class Provenance:
    """What every number of an evaluation says it is of: the dataset (species, labels, QC,
    features, cells) and the split protocol (its description, and the models run on fewer
    fits than the others)."""

    species: str
    label_scheme: str
    qc_profile: str
    features: str
    n_cells: int
    protocol: str
    fewer_fits: dict[str, int]

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Provenance:
        d, p = raw["dataset"], raw["protocol"]
        return cls(
            species=d["species"],
            label_scheme=d["label_scheme"],
            qc_profile=d["qc_profile"],
            features=d["features"],
            n_cells=d["n_cells"],
            protocol=p["description"],
            fewer_fits=dict(p.get("fewer_fits") or {}),
        )


@dataclass(frozen=True)
class Attention:
    """A BiLSTM's mean attention per feature family beside the family permutation importance
    (macro-F1 drop), and their Spearman rank correlation (None where undefined)."""

    mean_attention: dict[str, float]
    importance: dict[str, float]
    rho_of_means: float | None
    n_families: int
    rho_per_fold_mean: float | None
    rho_per_fold_sd: float | None

    @classmethod
    def from_json(cls, raw: Mapping[str, Any] | None) -> Attention | None:
        """None unless both attention and importance were computed."""
        if not raw or "spearman_attention_vs_importance" not in raw:
            return None
        rho = raw["spearman_attention_vs_importance"]
        return cls(
            mean_attention=dict(raw["mean_attention"]),
            importance=dict(raw["permutation_importance_macro_f1"]),
            rho_of_means=rho["rho_of_means"],
            n_families=rho["n_families"],
            rho_per_fold_mean=rho["rho_per_fold_mean"],
            rho_per_fold_sd=rho["rho_per_fold_sd"],
        )


@dataclass(frozen=True)
class ModelScores:
    """One model's out-of-fold scores: intervals of accuracy, balanced accuracy and macro-F1,
    F1 per class (in the file's class order), expected calibration error, attention."""

    name: str
    description: str
    accuracy: Interval | None
    balanced_accuracy: Interval | None
    macro_f1: Interval | None
    f1_per_class: dict[str, float]
    ece: float | None
    attention: Attention | None

    @classmethod
    def from_json(cls, name: str, raw: Mapping[str, Any]) -> ModelScores:
        return cls(
            name=name,
            description=raw.get("description", ""),
            accuracy=Interval.from_json(raw.get("accuracy")),
            balanced_accuracy=Interval.from_json(raw.get("balanced_accuracy")),
            macro_f1=Interval.from_json(raw.get("macro_f1")),
            f1_per_class={c: v["f1"] for c, v in (raw.get("per_class") or {}).items()},
            ece=(raw.get("calibration") or {}).get("ece"),
            attention=Attention.from_json(raw.get("interpretability")),
        )


@dataclass(frozen=True)
class Evaluation:
    """Models evaluated on one dataset and split plan (a ``metrics.json``): their scores in
    run order, the classes, and the paired comparisons between them."""

    folder: Path
    provenance: Provenance
    classes: tuple[str, ...]
    models: dict[str, ModelScores]
    comparisons: tuple[Comparison, ...]

    @classmethod
    def from_json(cls, folder: Path, raw: Mapping[str, Any]) -> Evaluation:
        return cls(**_evaluation_fields(folder, raw))

    def comparison(self, a: str, b: str, metric: str) -> Comparison | None:
        """``a - b`` in ``metric`` on identical folds; None if not compared."""
        return find_comparison(self.comparisons, a, b, metric)


@dataclass(frozen=True)
class CurvePoint:
    """One point of a transfer learning or few-shot curve: a transfer arm and its human-only
    reference trained on the same share (``point``: a fraction, or cells per class)."""

    point: float
    n_train_cells: float
    arm: str
    reference: str
    arm_macro_f1: float
    reference_macro_f1: float
    gain: Difference
    n_folds: int | None
    #: 95% intervals of the two macro-F1s (None in results written without them)
    arm_ci: tuple[float, float] | None = None
    reference_ci: tuple[float, float] | None = None

    @classmethod
    def from_json(cls, raw: Mapping[str, Any], point: str) -> CurvePoint:
        def ci(side: str) -> tuple[float, float] | None:
            low, high = number(raw.get(f"{side}_ci_low")), number(raw.get(f"{side}_ci_high"))
            return None if low is None or high is None else (low, high)

        return cls(
            point=raw[point],
            n_train_cells=raw["n_train_cells"],
            arm=raw["arm"],
            reference=raw["reference"],
            arm_macro_f1=raw["arm_macro_f1"],
            reference_macro_f1=raw["reference_macro_f1"],
            gain=Difference.from_json(curve_gain(raw)),
            n_folds=raw.get("n_folds"),
            arm_ci=ci("arm"),
            reference_ci=ci("reference"),
        )


@dataclass(frozen=True, kw_only=True)
class TransferResult(Evaluation):
    """A transfer experiment on one human split protocol: every arm's scores, each transfer
    arm's macro-F1 gain over its human-only reference, the best human-only arm and the gains
    over it (None: not computed), and the learning and few-shot curves (None: not run)."""

    gains: tuple[Comparison, ...]
    best_target_only: str | None
    gains_vs_best: tuple[Comparison, ...] | None
    learning_curve: tuple[CurvePoint, ...] | None
    few_shot: tuple[CurvePoint, ...] | None

    @classmethod
    def from_json(cls, folder: Path, raw: Mapping[str, Any]) -> TransferResult:
        block = raw["transfer"]
        vs_best = block.get("gains_vs_best_macro_f1")
        curves = {
            key: tuple(CurvePoint.from_json(r, point) for r in raw[key]) if key in raw else None
            for key, point in (("learning_curve", "fraction"), ("few_shot", "per_class"))
        }
        return cls(
            **_evaluation_fields(folder, raw),
            gains=tuple(Comparison.from_json(g) for g in block["gains_macro_f1"]),
            best_target_only=block.get("best_target_only"),
            gains_vs_best=(
                None if vs_best is None else tuple(Comparison.from_json(g) for g in vs_best)
            ),
            **curves,
        )

    def gain(self, arm: str) -> Comparison | None:
        """The macro-F1 gain of transfer arm ``arm`` over its reference; None if not run."""
        return next((g for g in self.gains if g.a == arm), None)


@dataclass(frozen=True)
class Estimate:
    """A value with its 95% interval (None or NaN: not defined at this level)."""

    value: float | None
    ci_low: float | None
    ci_high: float | None


@dataclass(frozen=True)
class LevelRow:
    """One model at one level (subclass or t-type): scores with intervals, the coverage of
    its conformal sets, their mean size, the share of cells called and the calls' accuracy."""

    model: str
    level: str
    accuracy: Estimate
    balanced_accuracy: Estimate
    macro_f1: Estimate
    top3_accuracy: Estimate
    coverage: Estimate
    accuracy_when_called: Estimate
    mean_set_size: float
    called: float

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> LevelRow:
        def estimate(metric: str) -> Estimate:
            return Estimate(
                raw.get(metric), raw.get(f"{metric}_ci_low"), raw.get(f"{metric}_ci_high")
            )

        return cls(
            model=raw["model"],
            level=raw["level"],
            accuracy=estimate("accuracy"),
            balanced_accuracy=estimate("balanced_accuracy"),
            macro_f1=estimate("macro_f1"),
            top3_accuracy=estimate("top3_accuracy"),
            coverage=estimate("coverage"),
            accuracy_when_called=estimate("accuracy_when_called"),
            mean_set_size=raw["mean_set_size"],
            called=raw["called"],
        )


@dataclass(frozen=True)
class Levels:
    """Subclass, then t-type: the conformal settings, the t-types and their subclasses, the
    table of rows and the published anchors the report sets beside it."""

    confidence: float
    max_set_size: int
    n_classes: int
    n_parents: int
    rows: tuple[LevelRow, ...]
    anchors: dict[str, float]

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Levels:
        return cls(
            confidence=raw["confidence"],
            max_set_size=raw["max_set_size"],
            n_classes=raw["n_classes"],
            n_parents=raw["n_parents"],
            rows=tuple(LevelRow.from_json(r) for r in raw["table"]),
            anchors=dict(raw["anchors"]),
        )


@dataclass(frozen=True)
class LevelsResult:
    """The t-type stage of one species: where its numbers come from and its levels."""

    folder: Path
    provenance: Provenance
    levels: Levels

    @classmethod
    def from_json(cls, folder: Path, raw: Mapping[str, Any]) -> LevelsResult | None:
        """None for a metrics.json without levels."""
        if "levels" not in raw:
            return None
        return cls(folder, Provenance.from_json(raw), Levels.from_json(raw["levels"]))


@dataclass(frozen=True)
class GroupScores:
    """Scores of the cells of one group (a held-out dataset, or a layer) under one model or
    training arm, in [0, 1] (None: not defined, e.g. 'flagged' of a model that flags none)."""

    who: str
    group: str
    cells: float
    accuracy: float | None
    balanced_accuracy: float | None
    macro_f1: float | None
    called: float | None = None
    flagged: float | None = None
    accuracy_flagged: float | None = None
    accuracy_unflagged: float | None = None
    #: seeds the scores are the mean of
    seeds: int = 1

    @classmethod
    def from_json(cls, raw: Mapping[str, Any], who: str, group: str) -> GroupScores:
        return cls(
            who=raw[who],
            group=raw[group],
            cells=raw["cells"],
            accuracy=raw["accuracy"],
            balanced_accuracy=raw["balanced_accuracy"],
            macro_f1=raw["macro_f1"],
            called=raw.get("called"),
            flagged=raw.get("flagged"),
            accuracy_flagged=raw.get("accuracy_flagged"),
            accuracy_unflagged=raw.get("accuracy_unflagged"),
            seeds=int(raw.get("seeds") or 1),
        )


@dataclass(frozen=True)
class HeldOutFold:
    """One bundled dataset held out: its test cells, the training cells, the cells of
    shared donors left out, and the test classes the training cells do not hold."""

    held_out: str
    n_test: int
    n_train: int
    shared_donor_cells_removed: int
    missing_classes: tuple[str, ...]
    cells_of_missing_classes: int

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> HeldOutFold:
        return cls(
            held_out=raw["held_out"],
            n_test=raw["n_test"],
            n_train=raw["n_train"],
            shared_donor_cells_removed=raw["train_cells_of_shared_donors_removed"],
            missing_classes=tuple(raw["test_classes_missing_from_training"]),
            cells_of_missing_classes=raw["test_cells_of_those_classes"],
        )


@dataclass(frozen=True)
class BatchCheck:
    """What ``predict`` said of one held-out dataset as a batch (a deployed model, one
    seed): whether the shift test fired and whether ``predict`` warned, the estimated
    accuracy with its interval, the stated (in-distribution) accuracy, and the real accuracy
    of the quantity estimated."""

    model: str
    seed: int
    fold: int
    n_test: int
    shift_detected: bool
    warned: bool | None
    estimated: float | None
    low: float | None
    high: float | None
    stated: float | None
    real: float | None
    #: the interval's allowance of a batch declared shifted (None: a run from before it)
    shift_allowance: float | None = None
    #: share of the batch flagged out of distribution (counted wrong by the estimate)
    flagged: float | None = None

    @property
    def error(self) -> float | None:
        """The estimate minus the real accuracy (None where either is missing)."""
        if self.estimated is None or self.real is None:
            return None
        return self.estimated - self.real

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> BatchCheck:
        def stored(key: str) -> float | None:
            return number(raw.get(key))

        return cls(
            model=raw["model"],
            seed=int(raw["seed"]),
            fold=int(raw["fold"]),
            n_test=int(raw["n_test"]),
            shift_detected=bool(raw["batch_shift_detected"]),
            warned=None if raw.get("batch_warned") is None else bool(raw["batch_warned"]),
            estimated=stored("estimated_accuracy"),
            low=stored("estimated_accuracy_low"),
            high=stored("estimated_accuracy_high"),
            stated=stored("stated_accuracy"),
            real=stored("real_accuracy"),
            shift_allowance=stored("batch_shift_allowance"),
            flagged=stored("out_of_distribution"),
        )


@dataclass(frozen=True)
class HeldOutDatasets:
    """Each bundled dataset held out in turn (the leave-dataset-out ``metrics.json``): the
    folds, the scores per held-out dataset and the batch checks of the deployed models."""

    folds: tuple[HeldOutFold, ...]
    by_dataset: tuple[GroupScores, ...]
    batch_checks: tuple[BatchCheck, ...] = ()

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> HeldOutDatasets:
        return cls(
            folds=tuple(
                HeldOutFold.from_json(n) for n in raw.get("dataset", {}).get("held_out_folds", [])
            ),
            by_dataset=tuple(
                GroupScores.from_json(r, "model", "dataset") for r in raw.get("by_dataset", [])
            ),
            batch_checks=tuple(BatchCheck.from_json(r) for r in raw.get("batch_checks", [])),
        )


def _evaluation_fields(folder: Path, raw: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "folder": folder,
        "provenance": Provenance.from_json(raw),
        "classes": tuple(raw["classes"]),
        "models": {name: ModelScores.from_json(name, r) for name, r in raw["models"].items()},
        "comparisons": tuple(Comparison.from_json(c) for c in raw.get("comparisons", [])),
    }
