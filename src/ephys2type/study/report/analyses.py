"""Typed records of the analysis stages' own files, keeping what the report quotes: the
sparse-PCA separation (``metrics.json`` of an ``spca_<species>`` stage), cells recorded with
fewer protocols (``partial_protocols.json``), cells with only some features
(``feature_subsets.json``) and which datasets to train on (``training_sets.json``).

Each record remembers the folder its file is in: the figures beside it are read from there.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ephys2type.study.report.estimates import Comparison, Difference, Interval
from ephys2type.study.report.evaluations import GroupScores


@dataclass(frozen=True)
class Separation:
    """How well the subclasses separate in sparse-PCA space: the kept components, silhouettes
    per class and overall, and the cross-validated k-NN accuracy in sPCA space and on the
    standardized features."""

    folder: Path
    species: str
    n_components: int
    silhouette_per_class: dict[str, float]
    silhouette_all: float
    knn_spca: Interval | None
    knn_standardized: Interval | None
    #: the k-NN's folds and seeds (None: not recorded)
    knn_folds: int | None = None
    knn_seeds: int | None = None

    @classmethod
    def from_json(cls, folder: Path, raw: Mapping[str, Any]) -> Separation:
        accuracy = raw["knn"]["spca"]["accuracy"]
        return cls(
            folder=folder,
            species=raw["dataset"]["species"],
            n_components=raw["n_components"],
            silhouette_per_class=dict(raw["silhouette_per_class"]),
            silhouette_all=raw["silhouette_all"],
            knn_spca=Interval.from_json(accuracy),
            knn_standardized=Interval.from_json(raw["knn"]["standardized"]["accuracy"]),
            knn_folds=accuracy.get("n_folds"),
            knn_seeds=len(accuracy["per_seed"]) if accuracy.get("per_seed") else None,
        )


@dataclass(frozen=True)
class ArmScores:
    """Accuracy and macro-F1 of one arm, as intervals over folds."""

    accuracy: Interval | None
    macro_f1: Interval | None

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> ArmScores:
        return cls(Interval.from_json(raw["accuracy"]), Interval.from_json(raw["macro_f1"]))


@dataclass(frozen=True)
class ProtocolSubset:
    """The test cells of every fold reduced to one set of protocols (feature families):
    imputed, deployed and subset-trained arms, and deployed minus imputed in macro-F1."""

    name: str
    imputed: ArmScores
    deployed: ArmScores
    subset: ArmScores
    deployed_minus_imputed: Difference
    #: share of the test cells the deployed classifier called (None: not recorded)
    deployed_called: float | None = None

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> ProtocolSubset:
        return cls(
            name=raw["name"],
            imputed=ArmScores.from_json(raw["imputed"]),
            deployed=ArmScores.from_json(raw["deployed"]),
            subset=ArmScores.from_json(raw["subset"]),
            deployed_minus_imputed=Difference.from_json(raw["deployed_minus_imputed"]),
            deployed_called=raw.get("deployed_assigned"),
        )


@dataclass(frozen=True)
class PartialProtocols:
    """Cells recorded with fewer protocols, on one species: the dataset, the model, the
    split (its preset's name, its folds over all seeds, its seeds: what ran is
    :func:`~ephys2type.study.report.wording.split_text` of them) and one entry per set of
    protocols."""

    folder: Path
    species: str
    labels: str
    n_cells: int
    model: str
    protocol: str
    folds: int
    seeds: int
    subsets: tuple[ProtocolSubset, ...]

    @classmethod
    def from_json(cls, folder: Path, raw: Mapping[str, Any]) -> PartialProtocols:
        return cls(
            folder=folder,
            species=raw["species"],
            labels=raw["labels"],
            n_cells=raw["n_cells"],
            model=raw["model"],
            protocol=raw["protocol"]["name"],
            folds=raw["protocol"]["folds"],
            seeds=raw["protocol"]["seeds"],
            subsets=tuple(ProtocolSubset.from_json(e) for e in raw["subsets"]),
        )


@dataclass(frozen=True)
class FeatureSet:
    """One random set of features the test cells keep: the accuracy the deployed classifier
    expects for it, the imputed, routed and subset arms, the deployed classifier's share of
    cells called and the accuracy of its calls, and routed minus subset."""

    features: tuple[str, ...]
    n_features: int
    expected_accuracy: float
    imputed: Interval | None
    routed: Interval | None
    subset: Interval | None
    assigned: float
    accuracy_of_calls: float
    routed_minus_subset: Difference

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> FeatureSet:
        return cls(
            features=tuple(raw["features"]),
            n_features=raw["n_features"],
            expected_accuracy=raw["expected_accuracy"],
            imputed=Interval.from_json(raw["imputed"]),
            routed=Interval.from_json(raw["routed"]),
            subset=Interval.from_json(raw["subset"]),
            assigned=raw["assigned"],
            accuracy_of_calls=raw["accuracy_of_calls"],
            routed_minus_subset=Difference.from_json(raw["routed_minus_subset"]),
        )


@dataclass(frozen=True)
class FeatureSubsets:
    """Cells with only some features, on one species: the dataset, the model, the split (as
    :class:`PartialProtocols` has it), each feature set, and the means over the sets
    (accuracy per arm, the sets where the routed model is within the subset model's paired
    interval, the share of cells called)."""

    folder: Path
    species: str
    labels: str
    n_cells: int
    model: str
    protocol: str
    folds: int
    seeds: int
    sets: tuple[FeatureSet, ...]
    n_sets: int
    mean_accuracy: dict[str, float]
    routed_within_subset_interval: int
    mean_assigned: float
    #: accuracy of always guessing the most common class (None: not recorded)
    majority_share: float | None = None

    @classmethod
    def from_json(cls, folder: Path, raw: Mapping[str, Any]) -> FeatureSubsets:
        summary = raw["summary"]
        return cls(
            folder=folder,
            species=raw["species"],
            labels=raw["labels"],
            n_cells=raw["n_cells"],
            model=raw["model"],
            protocol=raw["protocol"]["name"],
            folds=raw["protocol"]["folds"],
            seeds=raw["protocol"].get("seeds", 1),
            sets=tuple(FeatureSet.from_json(e) for e in raw["sets"]),
            n_sets=summary["n_sets"],
            mean_accuracy=dict(summary["mean_accuracy"]),
            routed_within_subset_interval=summary["routed_within_subset_interval"],
            mean_assigned=summary["mean_assigned"],
            majority_share=raw.get("majority_share"),
        )


@dataclass(frozen=True)
class ArmOnDataset:
    """One training arm scored on one dataset's held-out cells."""

    arm: str
    dataset: str
    accuracy: Interval | None
    macro_f1: Interval | None


@dataclass(frozen=True)
class TrainingSets:
    """Which datasets to train on, for one species: the model, the split, the cells per
    dataset, each arm on each dataset, the paired comparisons and the scores per layer."""

    species: str
    model: str
    protocol: str
    cells_per_dataset: dict[str, int]
    scores: tuple[ArmOnDataset, ...]
    comparisons: tuple[Comparison, ...]
    by_layer: tuple[GroupScores, ...]
    #: each arm's name and what it was trained on (empty in results written without it)
    arms: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> TrainingSets:
        return cls(
            species=raw["species"],
            model=raw["model"],
            protocol=raw["protocol"]["description"],
            cells_per_dataset=dict(raw["cells_per_dataset"]),
            scores=tuple(
                ArmOnDataset(
                    r["arm"],
                    r["dataset"],
                    Interval.from_json(r["accuracy"]),
                    Interval.from_json(r["macro_f1"]),
                )
                for r in raw["summary"]
            ),
            comparisons=tuple(Comparison.from_json(c) for c in raw["comparisons"]),
            by_layer=tuple(
                GroupScores.from_json(r, "arm", "layer") for r in raw.get("by_layer", [])
            ),
            arms={a["name"]: a["description"] for a in raw.get("arms", [])},
        )
