"""The mouse-to-human transfer experiment, run like any evaluation: every arm (target-only
baselines, transfer strategies, pooled baselines) on the same target folds, compared
pairwise, plus a learning curve over the share of target training cells.

One job per module:

- :mod:`.settings`: :class:`TransferSettings`, what an experiment runs (its defaults, once,
  for the command line, the reproduction and the Python API), and their validation;
- :mod:`.arms`: the arms (names, roles, references, model specs) and their subsampled and
  few-shot variants;
- :mod:`.fits`: the evaluations (arms on a plan) a run makes, listed once, for running and
  for counting fits;
- :mod:`.run`: :func:`run_transfer`;
- :mod:`.results`: :class:`TransferResult` (gains, best target-only arm, curves);
- :mod:`.writer`: :func:`write_transfer`.

The names below are re-exported so that ``from ephys2type.evaluation.transfer import ...``
reaches every public name.
"""

from ephys2type.evaluation.transfer.arms import (
    TARGET_ONLY,
    TARGET_ONLY_MODELS,
    TRANSFER,
    PlannedArm,
    TransferArm,
    adapted_arm,
    few_shot,
    het_arm,
    native_arm,
    native_reference,
    planned_arms,
    strategy_arm,
    strategy_reference,
    subsampled,
    target_arm,
    transfer_arms,
)
from ephys2type.evaluation.transfer.fits import (
    PlannedEvaluation,
    count_fits,
    curve_pairs,
    planned_fits,
)
from ephys2type.evaluation.transfer.results import TransferResult
from ephys2type.evaluation.transfer.run import run_transfer
from ephys2type.evaluation.transfer.settings import (
    NATIVE_MODELS,
    TransferSettingError,
    TransferSettings,
)
from ephys2type.evaluation.transfer.writer import write_transfer

__all__ = [
    "NATIVE_MODELS",
    "TARGET_ONLY",
    "TARGET_ONLY_MODELS",
    "TRANSFER",
    "PlannedArm",
    "PlannedEvaluation",
    "TransferArm",
    "TransferResult",
    "TransferSettingError",
    "TransferSettings",
    "adapted_arm",
    "count_fits",
    "curve_pairs",
    "few_shot",
    "het_arm",
    "native_arm",
    "native_reference",
    "planned_arms",
    "planned_fits",
    "run_transfer",
    "strategy_arm",
    "strategy_reference",
    "subsampled",
    "target_arm",
    "transfer_arms",
    "write_transfer",
]
