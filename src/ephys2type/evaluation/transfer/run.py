"""Run the mouse-to-human transfer experiment like any evaluation: every arm (target-only
baselines, transfer strategies, pooled and adapted baselines, heterogeneous transfer) on the
same target folds, compared pairwise, then the learning curve over the share of target
training cells and the few-shot curve over target training cells per class.

The run goes through the evaluations :func:`~.fits.planned_fits` lists, the same list
:func:`~.fits.count_fits` counts.
"""

from __future__ import annotations

import tempfile
from functools import reduce

import pandas as pd

from ephys2type.data.container import PatchSeqData
from ephys2type.errors import Ephys2TypeError
from ephys2type.evaluation.results import Evaluation
from ephys2type.evaluation.runner import Progress, run_evaluation
from ephys2type.evaluation.splits import SplitPlan
from ephys2type.evaluation.transfer.arms import TRANSFER, TransferArm, transfer_arms
from ephys2type.evaluation.transfer.fits import curve_pairs, planned_fits
from ephys2type.evaluation.transfer.results import TransferResult, curve_rows
from ephys2type.evaluation.transfer.settings import TransferSettings
from ephys2type.models.transfer.estimators import SourceData


def run_transfer(
    source: PatchSeqData,
    target: PatchSeqData,
    plan: SplitPlan,
    settings: TransferSettings | None = None,
    *,
    native: PatchSeqData | None = None,
    importance: bool = False,
    n_jobs: int = 1,
    progress: Progress | None = None,
) -> TransferResult:
    """All arms on ``plan`` (target folds), then the learning curve over training fractions
    and the few-shot curve over cells per class. ``native``: the same target cells with all
    their own features (adds the ``settings.native`` target-only arms on them)."""
    settings = settings or TransferSettings()
    if source.schema.columns != target.schema.columns:
        raise Ephys2TypeError(
            f"source ({source.schema.name}) and target ({target.schema.name}) features differ; "
            "load both species with features='aligned'"
        )
    if native is not None and not native.y.reindex(target.X.index).equals(target.y):
        raise Ephys2TypeError(
            "the native target table must hold the same cells with the same labels as the "
            "aligned one (load both with the same label scheme and QC)"
        )
    # the run owns the folder its folds share pretrained networks through, and removes it
    with tempfile.TemporaryDirectory(prefix="ephys2type-pretrained-") as cache:
        arms = transfer_arms(SourceData.from_data(source), target.species, settings, native, cache)
        return _run_arms(
            arms, source.species, target, plan, settings, native, importance, n_jobs, progress
        )


def _run_arms(
    arms: dict[str, TransferArm],
    source_species: str,
    target: PatchSeqData,
    plan: SplitPlan,
    settings: TransferSettings,
    native: PatchSeqData | None,
    importance: bool,
    n_jobs: int,
    progress: Progress | None,
) -> TransferResult:
    """The evaluations of :func:`~.fits.planned_fits` in order: the arms (their results
    combined into one evaluation), then the learning-curve and few-shot points."""
    has_native = native is not None
    pairs = curve_pairs(settings, target.species, native=has_native)
    counts = target.y.value_counts() * (1 - 1 / plan.n_folds)  # per class in a fold
    arm_parts: list[Evaluation] = []
    curve: list[dict] = []
    few: list[dict] = []
    for step in planned_fits(settings, plan, target.species, native=has_native):
        specs = [step.variant(arms[name].spec) for name in step.arms]
        if not step.on_curve:
            arm_parts.append(
                run_evaluation(
                    target,
                    specs,
                    step.plan,
                    importance=importance,
                    n_jobs=n_jobs,
                    progress=progress,
                )
            )
            continue
        part = run_evaluation(target, specs, step.plan, n_jobs=n_jobs, progress=progress)
        if step.fraction is not None:
            curve += curve_rows(part, pairs, step.fraction, f"@{step.fraction:g}")
        else:
            n = step.per_class
            cells = float(counts.clip(upper=n).sum())
            few += [
                {"per_class": n, **row}
                for row in curve_rows(part, pairs, 1.0, f"@{n}pc", n_train=cells)
            ]
    evaluation = reduce(Evaluation.combine, arm_parts)  # the arms on all their folds
    if settings.fractions:  # the full-data point, read on the curve's folds
        curve += curve_rows(evaluation.on_plan(settings.curve_plan(plan)), pairs, 1.0, "")
    references = {name: arm.reference for name, arm in arms.items() if arm.role == TRANSFER}
    return TransferResult(
        evaluation,
        pd.DataFrame(curve) if settings.fractions else None,
        target.species,
        source_species,
        settings.coral,
        pd.DataFrame(few).drop(columns="fraction") if settings.per_class else None,
        references,
        settings.to_dict(),
    )
