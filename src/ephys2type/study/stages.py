"""The stages of a reproduction, as objects.

A :class:`Stage` owns everything about one stage: its folder name, the settings its cache
key hashes, how many fits its progress bar counts, the work that writes its folder, and
the report section that reads it. The kinds of stage are an explicit registry,
:data:`STAGE_KINDS`, in run order; which stages of a kind a configuration runs (a species,
a split protocol, a declared model stage) is read off the configuration by that kind. The
runner (:mod:`ephys2type.study.reproduce`) and the report ask this module for names and
folders; nothing else spells them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ephys2type.data.datasets import load_species
from ephys2type.data.labels import scheme_names
from ephys2type.data.qc import profiles
from ephys2type.evaluation.levels import run_levels, write_levels
from ephys2type.evaluation.protocols import run_partial_protocols, write_partial_protocols
from ephys2type.evaluation.runner import run_evaluation
from ephys2type.evaluation.splits import SplitPlan, make_plan
from ephys2type.evaluation.transfer import count_fits, run_transfer, write_transfer
from ephys2type.evaluation.writers import write_evaluation
from ephys2type.files import dumps_json
from ephys2type.models.registry import ModelSpec, get_model
from ephys2type.study.config import FIGURE_MODELS, STUDY_DATASETS, ReproduceConfig
from ephys2type.study.separation import separation, write_separation


def study_data(species: str, **options: Any):
    """A species' cells as the study reads them: the paper's datasets (:data:`STUDY_DATASETS`)."""
    return load_species(species, datasets=STUDY_DATASETS[species], **options)


#: Called with a short text each time a stage finishes one unit of work (a fit).
Advance = Callable[[str], None]


@dataclass(frozen=True)
class Stage:
    """One stage of a run: computed into ``<run folder>/<name>`` by ``work``.

    ``spec`` is what the stage's cache key hashes besides the data and the code (change it
    and the stage is recomputed); ``n_fits`` is the length of its progress bar, ``fits`` the
    number of models it fits (:func:`~ephys2type.evaluation.folds.fit_and_score` calls); ``section``
    is the id of the report section that reads its folder.
    """

    kind: str
    name: str
    spec: dict[str, Any]
    n_fits: int
    work: Callable[[Path, Advance], None]
    section: str
    #: the models it fits (each fold's fit of each model, derived from the plan): what the
    #: budget test holds to a ceiling; the progress bar may count coarser units
    fits: int = 0


@dataclass(frozen=True)
class StageKind:
    """A kind of stage: which of it a configuration runs (``keys``, each a species, a
    protocol or a model stage's name; ``None`` for a stage without a key) and how one is
    built (``build``, which may load data). ``section`` is the report section it feeds."""

    kind: str
    section: str
    keys: Callable[[ReproduceConfig], tuple[str | None, ...]]
    build: Callable[[ReproduceConfig, str | None], Stage]
    #: the key is the folder's whole name (a model stage's name, declared in the preset)
    key_is_name: bool = False

    def name(self, key: str | None) -> str:
        """The stage's folder: ``<kind>_<key>``, the kind alone without a key, or the key
        itself where it is the name."""
        if self.key_is_name and key is not None:
            return key
        return self.kind if key is None else f"{self.kind}_{key}"


def _stage(
    kind: str, key: str | None, spec: dict, n_fits: int, work, fits: int | None = None
) -> Stage:
    entry = STAGE_KINDS[kind]
    fits = n_fits if fits is None else fits
    return Stage(kind, entry.name(key), spec, n_fits, work, entry.section, fits)


def _bilstm_params(config: ReproduceConfig) -> dict[str, Any]:
    return {"max_epochs": config.max_epochs} if config.max_epochs else {}


# -- the stages ------------------------------------------------------------------------------


def _qc(config: ReproduceConfig, key: None) -> Stage:
    """The data's facts the report quotes, in ``qc.json``: per species the cells with
    features, the feature columns, the loaders' notes, the cells kept per label scheme and QC
    profile (with the drops per rule), and where the table has two subclass columns
    (human: ``subclass``, ``revised_subclass``) the cells they disagree on; and the number of
    features of the aligned cross-species schema. The report reads them from here, never
    from the data."""

    def work(folder: Path, advance: Advance) -> None:
        from ephys2type.data.schema import get_schema

        summary: dict[str, Any] = {}
        for species in ("mouse", "human"):
            raw = study_data(species, labels=None, qc=None)
            summary[species] = {
                "n_cells_with_features": len(raw),
                "n_features": len(raw.schema.columns),
                "notes": list(raw.notes),
                "schemes": {},
            }
            meta = raw.meta
            if {"subclass", "revised_subclass"} <= set(meta.columns):
                disagree = meta["subclass"].astype(str) != meta["revised_subclass"].astype(str)
                summary[species]["subclass_columns_disagree"] = int(disagree.sum())
            for scheme in scheme_names(species):
                for profile in profiles():
                    data = study_data(species, labels=scheme, qc=profile)
                    summary[species]["schemes"][f"{scheme}/{profile}"] = {
                        "n_cells": len(data),
                        "class_counts": {str(k): int(v) for k, v in data.class_counts().items()},
                        "dropped_per_rule": data.qc.rule_counts().to_dict(),
                    }
                    if profile == "default" and scheme in ("mouse5", "revised"):
                        data.qc.drops.to_csv(folder / f"qc_drops_{species}.csv")
            advance(species)
        summary["aligned"] = {"n_features": len(get_schema("aligned").columns)}
        (folder / "qc.json").write_text(dumps_json(summary))

    return _stage("qc", key, {"profiles": "all"}, 2, work, fits=0)


def _spca(config: ReproduceConfig, species: str) -> Stage:
    spec = {"species": species, "embedding": config.embedding, "seeds": 1, "folds": config.folds}

    def work(folder: Path, advance: Advance) -> None:
        data = study_data(species)
        result = separation(
            data, embedding=config.embedding, seeds=1, n_folds=config.folds, n_jobs=config.jobs
        )
        write_separation(result, data, folder)
        advance(species)

    return _stage("spca", species, spec, 1, work, fits=0)


def _models(config: ReproduceConfig, name: str) -> Stage:
    """One dataset evaluated with a list of models (a declared :class:`ModelStage`)."""
    stage = next(s for s in config.model_stages if s.name == name)
    params = _bilstm_params(config)
    seeds = stage.seeds or config.seeds
    spec = {**asdict(stage), "seeds": seeds, "folds": config.folds, "bilstm": params}

    def model_spec(model: str) -> ModelSpec:
        base = get_model(model)
        return base.with_params(**params) if base.kind == "bilstm" and params else base

    data = study_data(stage.species, labels=stage.labels)
    plan = make_plan(data, "strat5x5", seeds=seeds, n_folds=config.folds)
    full = [m for m in stage.models if m not in stage.first_seed]
    first = [m for m in stage.models if m in stage.first_seed]
    first_plan = plan.first_seeds(1)

    def work(folder: Path, advance: Advance) -> None:
        def evaluate(models: list[str], on: SplitPlan):
            return run_evaluation(
                data,
                [model_spec(m) for m in models],
                on,
                importance=[m for m in stage.importance if m in models],
                n_jobs=config.jobs,
                progress=advance,
            )

        evaluation = evaluate(full, plan)
        if first:
            evaluation = evaluation.combine(evaluate(first, first_plan))
        write_evaluation(evaluation, folder / "results", overwrite=True, figures=FIGURE_MODELS)

    n_fits = len(plan.folds) * len(full) + len(first_plan.folds) * len(first)
    return _stage("models", name, spec, n_fits, work)


def _transfer(config: ReproduceConfig, protocol: str) -> Stage:
    settings = config.transfer_settings(protocol)
    seeds = config.transfer_seeds(protocol)
    spec = {"protocol": protocol, "seeds": seeds, "folds": config.folds, **settings.to_dict()}
    source = study_data("mouse", labels="aligned4", features="aligned")
    target = study_data("human", labels="aligned4", features="aligned")
    native = study_data("human", labels="aligned4") if settings.native else None
    plan = make_plan(target, protocol, seeds=seeds, n_folds=config.folds)

    def work(folder: Path, advance: Advance) -> None:
        result = run_transfer(
            source, target, plan, settings, native=native, n_jobs=config.jobs, progress=advance
        )
        # no per-arm figures: the report shows the gains and curves (write_transfer's own)
        write_transfer(result, folder / "results", overwrite=True, figures=())

    n_fits = count_fits(settings, plan, native=native is not None)
    return _stage("transfer", protocol, spec, n_fits, work)


def _holdout(config: ReproduceConfig, key: None) -> Stage:
    """The paper's protocol beside our CV: a stratified hold-out, one split per seed."""
    datasets = config.holdout_datasets()
    spec = {
        "models": list(config.holdout_models),
        "datasets": [list(d) for d in datasets],
        "seeds": config.seeds,
    }
    plans = []
    for species, labels in datasets:
        data = study_data(species, labels=labels)
        plans.append((data, make_plan(data, "holdout", seeds=config.seeds)))

    def work(folder: Path, advance: Advance) -> None:
        for (species, labels), (data, plan) in zip(datasets, plans, strict=True):
            evaluation = run_evaluation(
                data,
                [get_model(m) for m in config.holdout_models],
                plan,
                n_jobs=config.jobs,
                progress=advance,
            )
            write_evaluation(
                evaluation,
                folder / holdout_folder(species, labels),
                overwrite=True,
                figures=FIGURE_MODELS,
            )

    n_fits = sum(len(p.folds) for _, p in plans) * len(config.holdout_models)
    return _stage("holdout", key, spec, n_fits, work)


def holdout_folder(species: str, labels: str) -> str:
    """The hold-out stage's sub-folder of one dataset."""
    return f"{species}_{labels}"


def _partial_protocols(config: ReproduceConfig, species: str) -> Stage:
    """Cells with fewer protocols: imputed vs deployed vs subset-trained, per subset."""
    spec = {
        "species": species,
        "model": config.partial_protocols_model,
        "seeds": config.partial_protocols_seeds,
        "folds": config.folds,
    }
    data = study_data(species)
    plan = make_plan(data, "strat5x5", seeds=config.partial_protocols_seeds, n_folds=config.folds)

    def work(folder: Path, advance: Advance) -> None:
        result = run_partial_protocols(
            data, config.partial_protocols_model, plan, n_jobs=config.jobs, progress=advance
        )
        write_partial_protocols(result, data, folder / "results")

    return _stage("partial_protocols", species, spec, len(plan.folds), work)


def _feature_subsets(config: ReproduceConfig, species: str) -> Stage:
    """Cells with only some features: routed vs subset-trained vs imputed, per set."""
    from ephys2type.evaluation.feature_subsets import (
        draw_feature_sets,
        run_feature_subsets,
        write_feature_subsets,
    )

    spec = {
        "species": species,
        "model": config.feature_subsets_model,
        "draws": config.feature_subsets_draws,
        "folds": config.folds,
    }
    data = study_data(species)
    plan = make_plan(data, "strat5x5", seeds=1, n_folds=config.folds)
    sets = draw_feature_sets(data.schema, config.feature_subsets_draws, random_state=0)

    def work(folder: Path, advance: Advance) -> None:
        result = run_feature_subsets(
            data, config.feature_subsets_model, plan, sets, n_jobs=config.jobs, progress=advance
        )
        write_feature_subsets(result, data, folder / "results")

    # each fold: the deployed classifier, and a model of exactly each set's features
    fits = len(plan.folds) * (1 + len(sets))
    return _stage("feature_subsets", species, spec, len(plan.folds), work, fits=fits)


def _ttypes(config: ReproduceConfig, species: str) -> Stage:
    """Subclass, then t-type: each model as `train --labels ttype` ships it (deployed, with
    conformal sets at both levels)."""
    spec = {
        "species": species,
        "models": list(config.ttype_models),
        "seeds": config.ttype_seeds,
        "folds": config.folds,
        "confidence": config.ttype_confidence,
    }
    data = study_data(species, labels="ttype")
    plan = make_plan(data, "strat5x5", seeds=config.ttype_seeds, n_folds=config.folds)

    def work(folder: Path, advance: Advance) -> None:
        result = run_levels(
            data,
            list(config.ttype_models),
            plan,
            confidence=config.ttype_confidence,
            n_jobs=config.jobs,
            progress=advance,
        )
        # the report shows the accuracy-vs-share-called figure; a t-type confusion matrix
        # (55 x 55 for mouse, 10 s to draw) is drawn by `evaluate --labels ttype`
        write_levels(result, folder / "results", overwrite=True, figures=FIGURE_MODELS)

    n_fits = len(plan.folds) * len(config.ttype_models)
    return _stage("ttypes", species, spec, n_fits, work)


def _datasets(config: ReproduceConfig, species: str) -> Stage:
    """Cells of other datasets: each bundled dataset held out in turn, and each dataset's
    held-out cells under models trained with and without the other datasets."""
    from ephys2type.data.datasets import dataset_names
    from ephys2type.evaluation.breakdown import group_breakdowns
    from ephys2type.evaluation.training_sets import compare_training_sets, write_training_sets

    data = load_species(species, datasets=dataset_names(species))
    seeds = config.datasets_seeds
    spec = {
        "species": species,
        "datasets": data.datasets,
        "sources": dict(sorted(data.sources.items())),
        "models": list(config.datasets_models),
        "compare_model": config.datasets_compare_model,
        "seeds": seeds,
        "folds": config.folds,
    }
    held_out = make_plan(data, "leave-dataset-out", seeds=seeds)
    grouped = make_plan(data, "group5x5", seeds=seeds, n_folds=config.folds)

    def work(folder: Path, advance: Advance) -> None:
        evaluation = run_evaluation(
            data, list(config.datasets_models), held_out, n_jobs=config.jobs, progress=advance
        )
        write_evaluation(
            evaluation,
            folder / "leave_dataset_out",
            overwrite=True,
            breakdowns=group_breakdowns(evaluation, data.meta),
            figures=FIGURE_MODELS,
        )
        result = compare_training_sets(
            data, config.datasets_compare_model, grouped, n_jobs=config.jobs, progress=advance
        )
        write_training_sets(result, data, folder / "training_sets")

    n_fits = len(held_out.folds) * len(config.datasets_models) + 3 * len(grouped.folds)
    return _stage("datasets", species, spec, n_fits, work)


#: Every kind of stage, in run order, with the report section (an id of
#: :data:`ephys2type.study.report.sections.SECTIONS`) that reads it.
STAGE_KINDS: dict[str, StageKind] = {
    kind.kind: kind
    for kind in (
        StageKind("qc", "data", lambda c: (None,), _qc),
        StageKind("spca", "spca", lambda c: c.spca_species, _spca),
        StageKind(
            "models",
            "classifiers",
            lambda c: tuple(s.name for s in c.model_stages),
            _models,
            key_is_name=True,
        ),
        StageKind("transfer", "transfer", lambda c: c.transfer_protocols, _transfer),
        StageKind(
            "holdout", "summary", lambda c: (None,) if c.holdout_datasets() else (), _holdout
        ),
        StageKind(
            "partial_protocols",
            "partial_protocols",
            lambda c: c.partial_protocols_species,
            _partial_protocols,
        ),
        StageKind(
            "feature_subsets",
            "feature_subsets",
            lambda c: c.feature_subsets_species,
            _feature_subsets,
        ),
        StageKind("ttypes", "ttypes", lambda c: c.ttype_species, _ttypes),
        StageKind("datasets", "datasets", lambda c: c.datasets_species, _datasets),
    )
}


def stage_name(kind: str, key: str | None = None) -> str:
    """The folder (and name) of a stage of ``kind`` with ``key``; the one place stage
    folders are spelled, for the runner and the report alike."""
    if kind not in STAGE_KINDS:
        raise ValueError(f"unknown stage kind {kind!r}; kinds: {', '.join(STAGE_KINDS)}")
    return STAGE_KINDS[kind].name(key)


def planned(config: ReproduceConfig) -> list[tuple[StageKind, str | None]]:
    """The (kind, key) of every stage ``config`` runs, in run order (nothing built)."""
    return [(kind, key) for kind in STAGE_KINDS.values() for key in kind.keys(config)]


def stage_folders(config: ReproduceConfig) -> list[str]:
    """The stage folders a run of ``config`` writes, in run order."""
    return [kind.name(key) for kind, key in planned(config)]


def stage_sections(config: ReproduceConfig) -> dict[str, str]:
    """Each stage folder of ``config`` with the id of the report section that reads it."""
    return {kind.name(key): kind.section for kind, key in planned(config)}
