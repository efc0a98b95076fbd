"""Which evaluation a dataset and its options call for, as one library call.

``ephys2type evaluate`` and the Python API ask :func:`evaluate_models` for an evaluation and
:func:`write_result` to write it; the choice between the kinds lives here, not in the
command:

- two-level labels (``--labels ttype``): each model as deployed with the label hierarchy,
  scored per level (:func:`~ephys2type.evaluation.levels.run_levels`);
- ``available_families``: each model's three arms on test cells with only those families
  (:func:`~ephys2type.evaluation.protocols.evaluate_available`);
- otherwise every model on the plan (:func:`~ephys2type.evaluation.runner.run_evaluation`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from ephys2type.data.container import PatchSeqData
from ephys2type.errors import Ephys2TypeError
from ephys2type.evaluation.levels import LevelEvaluation, level_specs, run_levels, write_levels
from ephys2type.evaluation.results import Evaluation
from ephys2type.evaluation.splits import SplitPlan
from ephys2type.models.deployed import resolve_model
from ephys2type.models.registry import ModelSpec

Result = Evaluation | LevelEvaluation


def _specs(models: Sequence[str | ModelSpec]) -> list[ModelSpec]:
    return [resolve_model(m) if isinstance(m, str) else m for m in models]


def check_options(
    data: PatchSeqData,
    *,
    importance: bool = False,
    available_families: Sequence[str] | None = None,
    hierarchical: bool = False,
) -> None:
    """Refuse combinations no evaluation offers, before any work (one clear error each)."""
    levels = data.label_parents(required=False) is not None
    if levels and (importance or available_families is not None):
        raise Ephys2TypeError(
            f"--labels {data.label_scheme} is scored per level; --importance and "
            "--available-families work with one-level labels only"
        )
    if hierarchical and not levels:
        raise Ephys2TypeError("--hierarchical needs two-level labels (--labels ttype)")
    if available_families is not None:
        if importance:
            raise Ephys2TypeError("--importance cannot be combined with --available-families")
        data.schema.restrict(available_families)  # unknown names fail here, listing them


def count_fits(
    data: PatchSeqData,
    models: Sequence[str | ModelSpec],
    plan: SplitPlan,
    *,
    hierarchical: bool = False,
) -> int:
    """How many models :func:`evaluate_models` fits (its progress bar's length)."""
    parent_of = data.label_parents(required=False)
    n_models = (
        len(level_specs(_specs(models), parent_of, hierarchical=hierarchical))
        if parent_of is not None
        else len(models)
    )
    return len(plan.folds) * n_models


def evaluate_models(
    data: PatchSeqData,
    models: Sequence[str | ModelSpec],
    plan: SplitPlan,
    *,
    importance: bool = False,
    available_families: Sequence[str] | None = None,
    confidence: float = 0.9,
    max_set_size: int = 3,
    hierarchical: bool = False,
    n_jobs: int = 1,
    progress: Callable[[str], None] | None = None,
) -> Result:
    """The evaluation ``data`` and the options call for (see the module docstring)."""
    check_options(
        data,
        importance=importance,
        available_families=available_families,
        hierarchical=hierarchical,
    )
    specs = _specs(models)
    if data.label_parents(required=False) is not None:
        return run_levels(
            data,
            specs,
            plan,
            confidence=confidence,
            max_set_size=max_set_size,
            hierarchical=hierarchical,
            n_jobs=n_jobs,
            progress=progress,
        )
    if available_families is not None:
        from ephys2type.evaluation.protocols import evaluate_available

        return evaluate_available(
            data, specs, plan, list(available_families), n_jobs=n_jobs, progress=progress
        )
    from ephys2type.evaluation.runner import run_evaluation

    return run_evaluation(
        data, specs, plan, importance=importance, n_jobs=n_jobs, progress=progress
    )


def write_result(
    result: Result, data: PatchSeqData, out_dir: str | Path, *, overwrite: bool = False
) -> Path:
    """Write an evaluation's folder (per level for two-level labels; with the breakdowns by
    dataset and layer the cells carry otherwise)."""
    if isinstance(result, LevelEvaluation):
        return write_levels(result, out_dir, overwrite=overwrite)
    from ephys2type.evaluation.breakdown import group_breakdowns
    from ephys2type.evaluation.writers import write_evaluation

    return write_evaluation(
        result, out_dir, overwrite=overwrite, breakdowns=group_breakdowns(result, data.meta)
    )
