"""Everything the report says, read once from a run folder: :class:`RunSummary`.

A run folder holds ``run.json`` (the configuration, which declares each stage's species,
labels and protocol) and one folder per stage; :func:`read_run` finds each stage by what
the configuration declares (so renaming a stage in a preset cannot make the report read
"not run") and reads its files into typed records, one object per section's inputs. Nothing
here loads a dataset: every fact the report quotes is in the folder, so a report rebuilt
from it says what that run found.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from ephys2type.errors import Ephys2TypeError
from ephys2type.study.config import ModelStage, ReproduceConfig
from ephys2type.study.report.analyses import (
    FeatureSubsets,
    PartialProtocols,
    Separation,
    TrainingSets,
)
from ephys2type.study.report.data_facts import DataFacts
from ephys2type.study.report.evaluations import (
    Evaluation,
    HeldOutDatasets,
    LevelsResult,
    TransferResult,
)
from ephys2type.study.report.paper import (
    HUMAN_LABELS,
    MOUSE,
    PAPER_TRANSFER_PROTOCOL,
    PaperRow,
    paper_rows,
)
from ephys2type.study.stages import holdout_folder, stage_folders, stage_name, stage_sections

T = TypeVar("T")


@dataclass(frozen=True)
class StageTime:
    """One stage of the run: its folder, the seconds it took and whether it was reused."""

    name: str
    seconds: float
    cached: bool

    def to_dict(self) -> dict[str, Any]:
        return {"stage": self.name, "seconds": self.seconds, "cached": self.cached}


@dataclass(frozen=True)
class PaperComparison:
    """The report's first section: our numbers beside the paper's (``rows``), and what its
    verdicts and its note on the human label columns read: the mouse and human (by label
    column) classifiers, the transfer experiment on the paper's protocol, and the human
    cells whose two subclass columns disagree (None: not recorded)."""

    rows: tuple[PaperRow, ...]
    mouse: Evaluation | None
    human: dict[str, Evaluation | None]
    transfer: TransferResult | None
    subclass_columns_disagree: int | None


@dataclass(frozen=True)
class SeparationResults:
    """The sparse-PCA stages that wrote results, and the human table's feature count and
    sPCA folder, which the loadings caption names (None: not recorded)."""

    results: tuple[Separation, ...]
    human_features: int | None
    human_folder: str


@dataclass(frozen=True)
class ClassifierResult:
    """A declared model stage and its evaluation (None: not written)."""

    stage: ModelStage
    evaluation: Evaluation | None


@dataclass(frozen=True)
class TransferResults:
    """The transfer experiment per declared protocol (None: not written), and the number of
    aligned features it ran on (None: not recorded)."""

    by_protocol: dict[str, TransferResult | None]
    aligned_features: int | None


@dataclass(frozen=True)
class DatasetResults:
    """Cells of other datasets, for one species: each bundled dataset held out, and which
    datasets to train on (None: not written)."""

    species: str
    held_out: HeldOutDatasets
    training: TrainingSets | None


@dataclass(frozen=True)
class RunSummary:
    """A run folder read once (see module docstring): the configuration, one typed object
    per section's inputs, and the run's stages with the section each feeds."""

    root: Path
    config: ReproduceConfig
    paper: PaperComparison
    data: DataFacts
    separation: SeparationResults
    classifiers: tuple[ClassifierResult, ...]
    transfer: TransferResults
    partial_protocols: tuple[PartialProtocols, ...]
    feature_subsets: tuple[FeatureSubsets, ...]
    ttypes: tuple[LevelsResult, ...]
    datasets: tuple[DatasetResults, ...]
    stages: tuple[StageTime, ...]
    #: each stage folder of the configuration with the id of the section that reads it
    stage_sections: dict[str, str]

    def to_json(self) -> dict[str, Any]:
        """What ``summary.json`` holds: the configuration's outline, our numbers beside the
        paper's and the stages of the run."""
        cfg = self.config
        return {
            "config": {
                "quick": cfg.quick,
                "seeds": cfg.seeds,
                "folds": cfg.folds,
                "max_epochs": cfg.max_epochs,
            },
            "paper_vs_ours": [row.to_dict() for row in self.paper.rows],
            "stages": [s.to_dict() for s in self.stages],
        }


def read_run(
    out: str | Path,
    config: ReproduceConfig | None = None,
    stages: Iterable[Mapping[str, Any]] | None = None,
) -> RunSummary:
    """Read the run folder ``out`` into a :class:`RunSummary`.

    ``config`` defaults to the folder's ``run.json``; ``stages`` lists
    ``{"stage", "seconds", "cached"}`` of this run (default: as recorded in each stage.json).
    A folder without a readable run.json, or with a stage missing, is one clear error.
    """
    root = Path(out)
    cfg = config or read_config(root)
    if stages is None:
        times = tuple(
            StageTime(name, recorded_seconds(root / name), False) for name in stage_folders(cfg)
        )
    else:
        times = tuple(StageTime(s["stage"], s["seconds"], s["cached"]) for s in stages)

    facts = DataFacts.from_json(_load_json(root / stage_name("qc") / "qc.json"))
    classifiers = tuple(
        ClassifierResult(s, _one(root / s.name / "results" / "metrics.json", Evaluation.from_json))
        for s in cfg.model_stages
    )
    models = {(c.stage.species, c.stage.labels): c.evaluation for c in classifiers}
    holdout = {
        d: _one(
            root / stage_name("holdout") / holdout_folder(*d) / "metrics.json",
            Evaluation.from_json,
        )
        for d in cfg.holdout_datasets()
    }
    transfer = {
        p: _one(
            root / stage_name("transfer", p) / "results" / "metrics.json",
            TransferResult.from_json,
        )
        for p in cfg.transfer_protocols
    }
    human = facts.of("human")
    return RunSummary(
        root=root,
        config=cfg,
        paper=PaperComparison(
            rows=paper_rows(facts, models, holdout, transfer.get(PAPER_TRANSFER_PROTOCOL)),
            mouse=models.get(MOUSE),
            human={labels: models.get((species, labels)) for species, labels in HUMAN_LABELS},
            transfer=transfer.get(PAPER_TRANSFER_PROTOCOL),
            subclass_columns_disagree=human.subclass_columns_disagree if human else None,
        ),
        data=facts,
        separation=SeparationResults(
            results=_each(
                (root / stage_name("spca", s) / "metrics.json" for s in cfg.spca_species),
                Separation.from_json,
            ),
            human_features=human.n_features if human else None,
            human_folder=stage_name("spca", "human"),
        ),
        classifiers=classifiers,
        transfer=TransferResults(transfer, facts.aligned_features),
        partial_protocols=_each(
            (
                root / stage_name("partial_protocols", s) / "results" / "partial_protocols.json"
                for s in cfg.partial_protocols_species
            ),
            PartialProtocols.from_json,
        ),
        feature_subsets=_each(
            (
                root / stage_name("feature_subsets", s) / "results" / "feature_subsets.json"
                for s in cfg.feature_subsets_species
            ),
            FeatureSubsets.from_json,
        ),
        ttypes=_each(
            (
                root / stage_name("ttypes", s) / "results" / "metrics.json"
                for s in cfg.ttype_species
            ),
            LevelsResult.from_json,
        ),
        datasets=tuple(
            _datasets(root, s) for s in cfg.datasets_species if _held_out_path(root, s).is_file()
        ),
        stages=times,
        stage_sections=stage_sections(cfg),
    )


def read_config(root: Path) -> ReproduceConfig:
    """The configuration a run folder records in ``run.json``."""
    try:
        return ReproduceConfig.from_dict(json.loads((root / "run.json").read_text()))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise Ephys2TypeError(f"{root}: not a reproduce run folder (no readable run.json)") from exc


def recorded_seconds(folder: Path) -> float:
    """The seconds a finished stage recorded in its ``stage.json``."""
    try:
        return float(json.loads((folder / "stage.json").read_text())["seconds"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise Ephys2TypeError(
            f"{folder}: stage missing or incomplete; run `ephys2type reproduce` again"
        ) from exc


def _load_json(path: Path) -> dict[str, Any] | None:
    """A result file's content; None when the stage did not write it (or not readably)."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _one(path: Path, read: Callable[[Path, dict[str, Any]], T | None]) -> T | None:
    """The record ``read(folder, content)`` of the file at ``path``; None when the stage did
    not write it."""
    raw = _load_json(path)
    return read(path.parent, raw) if raw else None


def _each(paths: Iterable[Path], read: Callable[[Path, dict[str, Any]], T | None]) -> tuple[T, ...]:
    """The records of the files among ``paths`` that were written, in order (a file
    ``read`` finds nothing in is left out)."""
    records = (_one(path, read) for path in paths)
    return tuple(r for r in records if r is not None)


def _held_out_path(root: Path, species: str) -> Path:
    return root / stage_name("datasets", species) / "leave_dataset_out" / "metrics.json"


def _datasets(root: Path, species: str) -> DatasetResults:
    folder = root / stage_name("datasets", species)
    training = _load_json(folder / "training_sets" / "training_sets.json")
    return DatasetResults(
        species=species,
        held_out=HeldOutDatasets.from_json(_load_json(_held_out_path(root, species)) or {}),
        training=TrainingSets.from_json(training) if training else None,
    )
