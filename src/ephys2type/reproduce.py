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

from . import __version__
from .datasets import load_species
from .evaluate import run_evaluation, write_evaluation
from .files import atomic_directory, dumps_json
from .splits import make_plan

BILSTM_ABLATIONS = (
    "bilstm-smote",
    "bilstm",
    "bilstm-smote-mean",
    "bilstm-smote-focal",
    "bilstm-smote-arcface",
)


@dataclass(frozen=True)
class ModelStage:
    """One dataset evaluated with a list of models on one split plan."""

    name: str
    species: str
    labels: str
    models: tuple[str, ...]
    importance: tuple[str, ...] = ()  # models whose family permutation importance is computed


@dataclass(frozen=True)
class ReproduceConfig:
    """What a reproduction runs. ``quick`` trades seeds, folds and epochs for speed."""

    quick: bool = False
    seeds: int = 5
    folds: int = 5
    jobs: int = 2
    max_epochs: int | None = None
    embedding: str = "umap"
    spca_species: tuple[str, ...] = ("mouse", "human")
    model_stages: tuple[ModelStage, ...] = ()
    transfer_protocols: tuple[str, ...] = ("strat5x5", "group5x5")
    transfer_fractions: tuple[float, ...] = (0.1, 0.25, 0.5)
    transfer_curve_protocols: tuple[str, ...] = ("strat5x5",)  # learning curve only here
    transfer_strategies: tuple[str, ...] = ("zero-shot", "finetune", "freeze-warmup", "joint")
    transfer_pooled: tuple[str, ...] = ("rf", "hgb")

    @classmethod
    def full(cls, jobs: int = 2) -> ReproduceConfig:
        baselines = ("rf", "rf-spca", "hgb", "logreg")
        return cls(
            jobs=jobs,
            model_stages=(
                ModelStage(
                    "models_mouse_mouse5",
                    "mouse",
                    "mouse5",
                    baselines + BILSTM_ABLATIONS,
                    importance=("bilstm-smote",),
                ),
                ModelStage(
                    "models_mouse_aligned4",
                    "mouse",
                    "aligned4",
                    ("rf", "hgb", "logreg", *BILSTM_ABLATIONS),
                ),
                ModelStage(
                    "models_human_revised",
                    "human",
                    "revised",
                    baselines + BILSTM_ABLATIONS,
                    importance=("bilstm-smote",),
                ),
                ModelStage(
                    "models_human_subclass",
                    "human",
                    "subclass",
                    ("rf", "hgb", "logreg", "bilstm-smote"),
                ),
            ),
        )

    @classmethod
    def quick_run(cls, jobs: int = 2) -> ReproduceConfig:
        return cls(
            quick=True,
            seeds=1,
            folds=3,
            jobs=jobs,
            max_epochs=25,
            embedding="pca",
            model_stages=(
                ModelStage(
                    "models_mouse_mouse5",
                    "mouse",
                    "mouse5",
                    ("rf", "hgb", "logreg", *BILSTM_ABLATIONS),
                    importance=("bilstm-smote",),
                ),
                ModelStage(
                    "models_mouse_aligned4", "mouse", "aligned4", ("rf", "logreg", "bilstm-smote")
                ),
                ModelStage(
                    "models_human_revised",
                    "human",
                    "revised",
                    ("rf", "hgb", "logreg", *BILSTM_ABLATIONS),
                    importance=("bilstm-smote",),
                ),
                ModelStage(
                    "models_human_subclass", "human", "subclass", ("rf", "logreg", "bilstm-smote")
                ),
            ),
            transfer_protocols=("strat5x5",),
            transfer_fractions=(0.25,),
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> ReproduceConfig:
        fields = dict(raw)
        fields["model_stages"] = tuple(
            ModelStage(**{**s, "models": tuple(s["models"]), "importance": tuple(s["importance"])})
            for s in raw["model_stages"]
        )
        for key in (
            "transfer_protocols",
            "transfer_fractions",
            "transfer_curve_protocols",
            "transfer_strategies",
            "transfer_pooled",
            "spca_species",
        ):
            fields[key] = tuple(raw[key])
        return cls(**fields)

    def protocol_note(self) -> str:
        note = f"stratified {self.folds}-fold CV x {self.seeds} seed(s)"
        if self.max_epochs:
            note += f", BiLSTM capped at {self.max_epochs} epochs"
        return note


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


def rebuild_report(out: str | Path) -> Path:
    """Write the report again from a run folder's finished stages, without recomputing.

    Stage times are those recorded when each stage ran.
    """
    from .errors import Ephys2TypeError
    from .report import write_report

    out = Path(out)
    try:
        config = ReproduceConfig.from_dict(json.loads((out / "run.json").read_text()))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise Ephys2TypeError(f"{out}: not a reproduce run folder (no readable run.json)") from exc
    run = Reproduction(config, out)
    for name in [
        "qc",
        *(f"spca_{s}" for s in config.spca_species),
        *(s.name for s in config.model_stages),
        *(f"transfer_{p}" for p in config.transfer_protocols),
    ]:
        try:
            stage = json.loads((out / name / "stage.json").read_text())
        except (OSError, ValueError) as exc:
            raise Ephys2TypeError(
                f"{out / name}: stage missing or incomplete; run `ephys2type reproduce` again"
            ) from exc
        run.results.append(StageResult(name, out / name, float(stage["seconds"]), False))
    return write_report(run)


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
        from .report import write_report

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
        write_report(self)
        return self.out

    def stage_qc(self) -> StageResult:
        from .labels import scheme_names
        from .qc import profiles

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

        return self._run_stage("qc", {"profiles": "all"}, 2, work)

    def stage_spca(self, species: str) -> StageResult:
        from .separation import separation, write_separation

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

        return self._run_stage(f"spca_{species}", spec, 1, work)

    def stage_models(self, stage: ModelStage) -> StageResult:
        from .bilstm import VARIANTS, bilstm_pipeline
        from .models import ModelSpec, get_model

        params = self._bilstm_params()
        spec = {
            **asdict(stage),
            "seeds": self.config.seeds,
            "folds": self.config.folds,
            "bilstm": params,
        }

        def model_spec(name: str) -> ModelSpec:
            base = get_model(name)
            if name in VARIANTS and params:
                p = {**VARIANTS[name][1], **params}
                return ModelSpec(
                    name,
                    base.description,
                    lambda schema, seed, p=p: bilstm_pipeline(schema, seed, **p),
                )
            return base

        data = load_species(stage.species, labels=stage.labels)
        plan = make_plan(data, "strat5x5", seeds=self.config.seeds, n_folds=self.config.folds)

        def work(folder: Path, advance) -> None:
            evaluation = run_evaluation(
                data,
                [model_spec(m) for m in stage.models],
                plan,
                importance=stage.importance,
                n_jobs=self.config.jobs,
                progress=advance,
            )
            write_evaluation(evaluation, folder / "results", overwrite=True)

        return self._run_stage(stage.name, spec, len(plan.folds) * len(stage.models), work)

    def stage_transfer(self, protocol: str) -> StageResult:
        from .transfer import count_fits, run_transfer, write_transfer

        params = {"resample": "smote", **self._bilstm_params()}
        fractions = (
            self.config.transfer_fractions
            if protocol in self.config.transfer_curve_protocols
            else ()
        )
        strategies, pooled = self.config.transfer_strategies, self.config.transfer_pooled
        curve = ("joint",) if "joint" in strategies else strategies[-1:]
        spec = {
            "protocol": protocol,
            "seeds": self.config.seeds,
            "folds": self.config.folds,
            "bilstm": params,
            "fractions": list(fractions),
            "strategies": list(strategies),
            "pooled": list(pooled),
            "curve_arms": list(curve),
        }
        source = load_species("mouse", labels="aligned4", features="aligned")
        target = load_species("human", labels="aligned4", features="aligned")
        plan = make_plan(target, protocol, seeds=self.config.seeds, n_folds=self.config.folds)
        n_fits = count_fits(
            len(plan.folds),
            strategies=strategies,
            pooled=pooled,
            fractions=fractions,
            curve_arms=curve,
        )

        def work(folder: Path, advance) -> None:
            result = run_transfer(
                source,
                target,
                plan,
                bilstm_params=params,
                strategies=strategies,
                pooled=pooled,
                fractions=fractions,
                curve_arms=curve,
                n_jobs=self.config.jobs,
                progress=advance,
            )

            write_transfer(result, folder / "results", overwrite=True)

        return self._run_stage(f"transfer_{protocol}", spec, n_fits, work)
