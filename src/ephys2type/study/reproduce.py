"""One-command reproduction of the study: QC, sPCA separation, baselines, BiLSTM ablations,
mouse-to-human transfer, and an HTML report that sets our numbers beside the paper's.

Each stage writes its own folder under the run folder, atomically, with a ``stage.json``
that records its cache key: a hash of the stage's configuration, the SHA-256 of the data
files, and a fingerprint of ephys2type's own source files. A later run reuses a stage only
when that key matches exactly, so changing the code, the data or the configuration never
serves a stale result. The report is written last; an interrupted run leaves no report.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from ephys2type._version import __version__
from ephys2type.data.datasets import load_species
from ephys2type.data.labels import scheme_names
from ephys2type.data.qc import profiles
from ephys2type.evaluation.levels import run_levels, write_levels
from ephys2type.evaluation.protocols import run_partial_protocols, write_partial_protocols
from ephys2type.evaluation.runner import run_evaluation
from ephys2type.evaluation.splits import SplitPlan, make_plan
from ephys2type.evaluation.transfer import run_transfer, write_transfer
from ephys2type.evaluation.writers import write_evaluation
from ephys2type.files import atomic_directory, dumps_json
from ephys2type.models.registry import ModelSpec, get_model
from ephys2type.study.config import ModelStage, ReproduceConfig, stage_name
from ephys2type.study.report.sections import write_report
from ephys2type.study.separation import separation, write_separation


def code_fingerprint() -> str:
    """Hash of ephys2type's own source and data files: a code change invalidates caches."""
    digest = hashlib.sha256(__version__.encode())
    root = resources.files("ephys2type")
    for path in sorted(Path(str(root)).rglob("*")):
        if path.suffix in (".py", ".toml", ".txt", ".css") and "__pycache__" not in path.parts:
            digest.update(path.relative_to(Path(str(root))).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


@dataclass
class StageResult:
    name: str
    folder: Path
    seconds: float
    cached: bool

    def to_dict(self) -> dict[str, Any]:
        return {"stage": self.name, "seconds": self.seconds, "cached": self.cached}


def rebuild_report(out: str | Path) -> Path:
    """Write the report again from a run folder's finished stages, without recomputing.

    Stage times are those recorded when each stage ran.
    """
    return write_report(out)


class Reproduction:
    """Runs the stages of a :class:`ReproduceConfig` into ``out`` (see module docstring)."""

    def __init__(
        self,
        config: ReproduceConfig,
        out: str | Path,
        *,
        stage_progress: Callable[[str, int], Callable[[str], None]] | None = None,
    ):
        self.config = config
        self.out = Path(out)
        self.stage_progress = stage_progress
        self.results: list[StageResult] = []
        self._code = code_fingerprint()
        self._sources: dict[str, str] = {}

    # -- stage machinery -------------------------------------------------------------------------

    def _key(self, stage: str, spec: dict[str, Any]) -> str:
        payload = {"stage": stage, "spec": spec, "sources": self._sources, "code": self._code}
        return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()

    def _run_stage(
        self,
        stage: str,
        spec: dict[str, Any],
        total: int,
        work: Callable[[Path, Callable[[str], None]], None],
    ) -> StageResult:
        folder = self.out / stage
        key = self._key(stage, spec)
        marker = folder / "stage.json"
        if marker.exists():
            try:
                if json.loads(marker.read_text())["key"] == key:
                    result = StageResult(stage, folder, 0.0, cached=True)
                    self.results.append(result)
                    if self.stage_progress is not None:
                        self.stage_progress(f"{stage} (cached)", 1)("cached")
                    return result
            except (OSError, ValueError, KeyError):
                pass  # unreadable marker: recompute
        advance = (
            self.stage_progress(stage, total)
            if self.stage_progress is not None
            else (lambda _text: None)
        )
        start = time.perf_counter()
        with atomic_directory(folder, overwrite=True) as tmp:
            work(tmp, advance)
            seconds = time.perf_counter() - start
            (tmp / "stage.json").write_text(
                dumps_json({"stage": stage, "key": key, "spec": spec, "seconds": seconds})
            )
        result = StageResult(stage, folder, seconds, cached=False)
        self.results.append(result)
        return result

    def _bilstm_params(self) -> dict[str, Any]:
        return {"max_epochs": self.config.max_epochs} if self.config.max_epochs else {}

    # -- the stages ------------------------------------------------------------------------------

    def run(self) -> Path:
        """Run every stage and write the report; returns the run folder."""
        self.out.mkdir(parents=True, exist_ok=True)
        for stale in ("report.html", "report.md", "summary.json"):  # no old report beside
            (self.out / stale).unlink(missing_ok=True)  # new stages
        (self.out / "run.json").write_text(dumps_json(self.config.to_dict()))
        for species in ("mouse", "human"):
            self._sources |= load_species(species, labels=None, qc=None).sources
        self.stage_qc()
        for species in self.config.spca_species:
            self.stage_spca(species)
        for stage in self.config.model_stages:
            self.stage_models(stage)
        for protocol in self.config.transfer_protocols:
            self.stage_transfer(protocol)
        if self.config.holdout_datasets():
            self.stage_holdout()
        for species in self.config.partial_protocols_species:
            self.stage_partial_protocols(species)
        for species in self.config.feature_subsets_species:
            self.stage_feature_subsets(species)
        for species in self.config.ttype_species:
            self.stage_ttypes(species)
        for species in self.config.datasets_species:
            self.stage_datasets(species)
        write_report(self.out, self.config, [r.to_dict() for r in self.results])
        return self.out

    def stage_qc(self) -> StageResult:
        def work(folder: Path, advance) -> None:
            summary: dict[str, Any] = {}
            for species in ("mouse", "human"):
                raw = load_species(species, labels=None, qc=None)
                summary[species] = {
                    "n_cells_with_features": len(raw),
                    "notes": list(raw.notes),
                    "schemes": {},
                }
                for scheme in scheme_names(species):
                    for profile in profiles():
                        data = load_species(species, labels=scheme, qc=profile)
                        summary[species]["schemes"][f"{scheme}/{profile}"] = {
                            "n_cells": len(data),
                            "class_counts": {
                                str(k): int(v) for k, v in data.class_counts().items()
                            },
                            "dropped_per_rule": data.qc.rule_counts().to_dict(),
                        }
                        if profile == "default" and scheme in ("mouse5", "revised"):
                            data.qc.drops.to_csv(folder / f"qc_drops_{species}.csv")
                advance(species)
            (folder / "qc.json").write_text(dumps_json(summary))

        return self._run_stage(stage_name("qc"), {"profiles": "all"}, 2, work)

    def stage_spca(self, species: str) -> StageResult:
        spec = {
            "species": species,
            "embedding": self.config.embedding,
            "seeds": 1,
            "folds": self.config.folds,
        }

        def work(folder: Path, advance) -> None:
            data = load_species(species)
            result = separation(
                data, embedding=self.config.embedding, seeds=1, n_folds=self.config.folds
            )
            write_separation(result, data, folder)
            advance(species)

        return self._run_stage(stage_name("spca", species), spec, 1, work)

    def stage_models(self, stage: ModelStage) -> StageResult:
        params = self._bilstm_params()
        seeds = stage.seeds or self.config.seeds
        spec = {
            **asdict(stage),
            "seeds": seeds,
            "folds": self.config.folds,
            "bilstm": params,
        }

        def model_spec(name: str) -> ModelSpec:
            base = get_model(name)
            return base.with_params(**params) if base.kind == "bilstm" and params else base

        data = load_species(stage.species, labels=stage.labels)
        plan = make_plan(data, "strat5x5", seeds=seeds, n_folds=self.config.folds)

        full = [m for m in stage.models if m not in stage.first_seed]
        first = [m for m in stage.models if m in stage.first_seed]
        first_plan = plan.first_seeds(1)

        def work(folder: Path, advance) -> None:
            def evaluate(models: list[str], on: SplitPlan):
                return run_evaluation(
                    data,
                    [model_spec(m) for m in models],
                    on,
                    importance=[m for m in stage.importance if m in models],
                    n_jobs=self.config.jobs,
                    progress=advance,
                )

            evaluation = evaluate(full, plan)
            if first:
                evaluation = evaluation.combine(evaluate(first, first_plan))
            write_evaluation(evaluation, folder / "results", overwrite=True)

        n_fits = len(plan.folds) * len(full) + len(first_plan.folds) * len(first)
        return self._run_stage(stage.name, spec, n_fits, work)

    def stage_holdout(self) -> StageResult:
        """The paper's protocol beside our CV: a stratified hold-out, one split per seed."""
        datasets = self.config.holdout_datasets()
        spec = {
            "models": list(self.config.holdout_models),
            "datasets": [list(d) for d in datasets],
            "seeds": self.config.seeds,
        }
        plans = []
        for species, labels in datasets:
            data = load_species(species, labels=labels)
            plans.append((data, make_plan(data, "holdout", seeds=self.config.seeds)))

        def work(folder: Path, advance) -> None:
            for (species, labels), (data, plan) in zip(datasets, plans, strict=True):
                evaluation = run_evaluation(
                    data,
                    [get_model(m) for m in self.config.holdout_models],
                    plan,
                    n_jobs=self.config.jobs,
                    progress=advance,
                )
                write_evaluation(evaluation, folder / f"{species}_{labels}", overwrite=True)

        n_fits = sum(len(p.folds) for _, p in plans) * len(self.config.holdout_models)
        return self._run_stage(stage_name("holdout"), spec, n_fits, work)

    def stage_partial_protocols(self, species: str) -> StageResult:
        """Cells with fewer protocols: imputed vs deployed vs subset-trained, per subset."""
        spec = {
            "species": species,
            "model": self.config.partial_protocols_model,
            "seeds": self.config.partial_protocols_seeds,
            "folds": self.config.folds,
        }
        data = load_species(species)
        plan = make_plan(
            data, "strat5x5", seeds=self.config.partial_protocols_seeds, n_folds=self.config.folds
        )

        def work(folder: Path, advance) -> None:
            result = run_partial_protocols(
                data,
                self.config.partial_protocols_model,
                plan,
                n_jobs=self.config.jobs,
                progress=advance,
            )
            write_partial_protocols(result, data, folder / "results")

        return self._run_stage(
            stage_name("partial_protocols", species), spec, len(plan.folds), work
        )

    def stage_feature_subsets(self, species: str) -> StageResult:
        """Cells with only some features: routed vs subset-trained vs imputed, per set."""
        from ephys2type.evaluation.feature_subsets import (
            draw_feature_sets,
            run_feature_subsets,
            write_feature_subsets,
        )

        spec = {
            "species": species,
            "model": self.config.feature_subsets_model,
            "draws": self.config.feature_subsets_draws,
            "folds": self.config.folds,
        }
        data = load_species(species)
        plan = make_plan(data, "strat5x5", seeds=1, n_folds=self.config.folds)
        sets = draw_feature_sets(data.schema, self.config.feature_subsets_draws, random_state=0)

        def work(folder: Path, advance) -> None:
            result = run_feature_subsets(
                data,
                self.config.feature_subsets_model,
                plan,
                sets,
                n_jobs=self.config.jobs,
                progress=advance,
            )
            write_feature_subsets(result, data, folder / "results")

        return self._run_stage(stage_name("feature_subsets", species), spec, len(plan.folds), work)

    def stage_ttypes(self, species: str) -> StageResult:
        """Subclass, then t-type: flat and hierarchical models with conformal sets."""
        spec = {
            "species": species,
            "models": list(self.config.ttype_models),
            "seeds": self.config.ttype_seeds,
            "folds": self.config.folds,
            "confidence": self.config.ttype_confidence,
        }
        data = load_species(species, labels="ttype")
        plan = make_plan(data, "strat5x5", seeds=self.config.ttype_seeds, n_folds=self.config.folds)

        def work(folder: Path, advance) -> None:
            result = run_levels(
                data,
                list(self.config.ttype_models),
                plan,
                confidence=self.config.ttype_confidence,
                n_jobs=self.config.jobs,
                progress=advance,
            )
            write_levels(result, folder / "results", overwrite=True)

        n_fits = 2 * len(plan.folds) * len(self.config.ttype_models)
        return self._run_stage(stage_name("ttypes", species), spec, n_fits, work)

    def stage_datasets(self, species: str) -> StageResult:
        """Cells of other datasets: each bundled dataset held out in turn, and each dataset's
        held-out cells under models trained with and without the other datasets."""
        from ephys2type.data.datasets import dataset_names
        from ephys2type.evaluation.breakdown import group_breakdowns
        from ephys2type.evaluation.training_sets import (
            compare_training_sets,
            write_training_sets,
        )

        data = load_species(species, datasets=dataset_names(species))
        seeds = self.config.datasets_seeds
        spec = {
            "species": species,
            "datasets": data.datasets,
            "sources": dict(sorted(data.sources.items())),
            "models": list(self.config.datasets_models),
            "compare_model": self.config.datasets_compare_model,
            "seeds": seeds,
            "folds": self.config.folds,
        }
        held_out = make_plan(data, "leave-dataset-out", seeds=seeds)
        grouped = make_plan(data, "group5x5", seeds=seeds, n_folds=self.config.folds)

        def work(folder: Path, advance) -> None:
            evaluation = run_evaluation(
                data,
                list(self.config.datasets_models),
                held_out,
                n_jobs=self.config.jobs,
                progress=advance,
            )
            write_evaluation(
                evaluation,
                folder / "leave_dataset_out",
                overwrite=True,
                breakdowns=group_breakdowns(evaluation, data.meta),
            )
            result = compare_training_sets(
                data,
                self.config.datasets_compare_model,
                grouped,
                n_jobs=self.config.jobs,
                progress=advance,
            )
            write_training_sets(result, data, folder / "training_sets")

        n_fits = len(held_out.folds) * len(self.config.datasets_models) + 3 * len(grouped.folds)
        return self._run_stage(stage_name("datasets", species), spec, n_fits, work)

    def stage_transfer(self, protocol: str) -> StageResult:
        settings = self.config.transfer_settings(protocol)
        seeds = self.config.transfer_seeds(protocol)
        spec = {
            "protocol": protocol,
            "seeds": seeds,
            "folds": self.config.folds,
            **settings.to_dict(),
        }
        source = load_species("mouse", labels="aligned4", features="aligned")
        target = load_species("human", labels="aligned4", features="aligned")
        native = load_species("human", labels="aligned4") if settings.native else None
        plan = make_plan(target, protocol, seeds=seeds, n_folds=self.config.folds)

        def work(folder: Path, advance) -> None:
            result = run_transfer(
                source,
                target,
                plan,
                settings,
                native=native,
                n_jobs=self.config.jobs,
                progress=advance,
            )
            write_transfer(result, folder / "results", overwrite=True)

        n_fits = settings.count_fits(plan, native=native is not None)
        return self._run_stage(stage_name("transfer", protocol), spec, n_fits, work)
