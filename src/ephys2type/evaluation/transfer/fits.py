"""The fits a transfer run makes, listed before it runs: one list both runs the experiment
and counts its fits for the progress bars, so the count cannot drift from the run.

A run is a sequence of evaluations (:class:`PlannedEvaluation`): the arms on every fold of
the plan, the adapted and heterogeneous arms on the settings' ``extra_plan``, then each
learning-curve fraction and each few-shot point: the arms on the curves, as their
subsampled variants, on the ``curve_plan``. The evaluation runner fits every arm of an
evaluation on every fold of its plan, so an evaluation makes ``len(arms) * len(plan.folds)``
fits.
"""

from __future__ import annotations

from dataclasses import dataclass

from ephys2type.evaluation.splits import SplitPlan
from ephys2type.evaluation.transfer.arms import (
    TRANSFER,
    few_shot,
    native_reference,
    planned_arms,
    strategy_arm,
    subsampled,
)
from ephys2type.evaluation.transfer.settings import TransferSettings
from ephys2type.models.registry import ModelSpec


@dataclass(frozen=True)
class PlannedEvaluation:
    """One evaluation of a transfer run: the arms (by name) fitted on every fold of
    ``plan``, as they are or, on a curve, trained on ``fraction`` of each training fold or on
    at most ``per_class`` cells per class."""

    arms: tuple[str, ...]
    plan: SplitPlan
    fraction: float | None = None
    per_class: int | None = None

    @property
    def n_fits(self) -> int:
        """The models this evaluation fits (every arm on every fold of its plan)."""
        return len(self.arms) * len(self.plan.folds)

    @property
    def on_curve(self) -> bool:
        """Whether this is a learning-curve or few-shot point (not the arms themselves)."""
        return self.fraction is not None or self.per_class is not None

    def variant(self, spec: ModelSpec) -> ModelSpec:
        """The spec of an arm as this evaluation fits it."""
        if self.fraction is not None:
            return subsampled(spec, self.fraction)
        if self.per_class is not None:
            return few_shot(spec, self.per_class)
        return spec


def curve_pairs(
    settings: TransferSettings, target: str = "human", *, native: bool = False
) -> list[tuple[str, str]]:
    """(arm, target-only reference) pairs on the curves: each curve arm against its own
    model family (its reference among :func:`~.arms.planned_arms`) and, when run, against the
    target-only model on all the target's features."""
    references = {
        arm.name: arm.reference
        for arm in planned_arms(settings, target, native=native)
        if arm.role == TRANSFER
    }
    extra_reference = native_reference(settings, target, native)
    pairs = []
    for strategy in settings.curve:
        arm = strategy_arm(strategy)
        pairs.append((arm, references[arm]))
        if extra_reference is not None:
            pairs.append((arm, extra_reference))
    return pairs


def planned_fits(
    settings: TransferSettings, plan: SplitPlan, target: str = "human", *, native: bool = False
) -> list[PlannedEvaluation]:
    """The evaluations a transfer run on ``plan`` makes, in run order (``native``: whether
    the target's own feature table is given)."""
    arms = planned_arms(settings, target, native=native)
    steps = [PlannedEvaluation(tuple(a.name for a in arms if not a.extra), plan)]
    extra = tuple(a.name for a in arms if a.extra)
    if extra:
        steps.append(PlannedEvaluation(extra, settings.extra_plan(plan)))
    on_curves = tuple(
        sorted({n for pair in curve_pairs(settings, target, native=native) for n in pair})
    )
    curve_plan = settings.curve_plan(plan)
    steps += [PlannedEvaluation(on_curves, curve_plan, fraction=f) for f in settings.fractions]
    steps += [PlannedEvaluation(on_curves, curve_plan, per_class=n) for n in settings.per_class]
    return steps


def count_fits(
    settings: TransferSettings, plan: SplitPlan, target: str = "human", *, native: bool = False
) -> int:
    """How many models :func:`~ephys2type.evaluation.transfer.run_transfer` fits on
    ``plan`` (progress bars): the fits of :func:`planned_fits`, the list the run runs."""
    return sum(step.n_fits for step in planned_fits(settings, plan, target, native=native))
