"""What a transfer run found: :class:`TransferResult` holds the evaluation of every arm on
the same target folds, each transfer arm's gain over its target-only reference and over the
best target-only arm, and the learning and few-shot curves (:func:`curve_rows` makes their
rows from an evaluation).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ephys2type.evaluation.results import Evaluation


@dataclass
class TransferResult:
    """The arms on one plan of target folds, the learning curve and the few-shot curve.
    ``references``: each transfer arm's target-only reference (:attr:`TransferArm.reference`);
    the evaluation's other models are the target-only arms."""

    evaluation: Evaluation
    curve: pd.DataFrame | None
    target: str
    source: str
    coral: bool
    few_shot: pd.DataFrame | None = None
    references: dict[str, str] = field(default_factory=dict)
    #: the run's settings (:meth:`TransferSettings.to_dict`: arms, adapters, curves, the
    #: BiLSTM's parameters with any epoch cap), recorded in metrics.json
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def target_only(self) -> list[str]:
        return [m for m in self.evaluation.models if m not in self.references]

    @property
    def transfer(self) -> list[str]:
        return [m for m in self.evaluation.models if m in self.references]

    def gains(self, metric: str = "macro_f1") -> pd.DataFrame:
        """Each transfer arm minus its target-only reference, paired on identical folds."""
        rows = [
            {"arm": arm, "reference": ref, **self.evaluation.compare(arm, ref, metric)}
            for arm in self.transfer
            for ref in [self.references[arm]]
        ]
        return pd.DataFrame(rows).set_index("arm")

    @property
    def best_target_only(self) -> str:
        """The target-only arm with the highest mean macro-F1 (on these folds: the strongest
        comparison a transfer arm can face, chosen after the fact, so if anything it favours
        the target-only side). Only arms run on every fold of the plan compete."""
        every = len(self.evaluation.plan.folds)
        only = [m for m in self.target_only if self.evaluation.n_fits(m) == every]
        return max(only, key=lambda m: self.evaluation.summary(m)["macro_f1"]["mean"])

    def gains_vs_best(self, metric: str = "macro_f1") -> pd.DataFrame:
        """Each transfer arm minus the best target-only arm, paired on identical folds."""
        best = self.best_target_only
        rows = [
            {"arm": arm, "reference": best, **self.evaluation.compare(arm, best, metric)}
            for arm in self.transfer
        ]
        return pd.DataFrame(rows).set_index("arm")

    def to_metrics(self) -> dict[str, Any]:
        """The gains, the best target-only arm and the curves, for metrics.json."""
        return {
            "transfer": {
                "source": self.source,
                "target": self.target,
                "coral": self.coral,
                "settings": self.settings,
                "gains_macro_f1": self.gains("macro_f1").reset_index().to_dict(orient="records"),
                "gains_accuracy": self.gains("accuracy").reset_index().to_dict(orient="records"),
                "best_target_only": self.best_target_only,
                "gains_vs_best_macro_f1": self.gains_vs_best("macro_f1")
                .reset_index()
                .to_dict(orient="records"),
            },
            **(
                {"learning_curve": self.curve.to_dict(orient="records")}
                if self.curve is not None
                else {}
            ),
            **(
                {"few_shot": self.few_shot.to_dict(orient="records")}
                if self.few_shot is not None
                else {}
            ),
        }


def curve_rows(
    evaluation: Evaluation,
    pairs: Sequence[tuple[str, str]],
    fraction: float,
    suffix: str,
    n_train: float | None = None,
) -> list[dict[str, Any]]:
    """One curve point: for each (arm, reference) pair, both arms' macro-F1 (their variants
    named ``<arm><suffix>`` in ``evaluation``) and the arm's paired gain; ``n_train``: the
    training cells of the point (None: ``fraction`` of the evaluation's training folds)."""
    rows = []
    n_train = evaluation.n_train * fraction if n_train is None else n_train
    for arm, ref in pairs:
        a, r = arm + suffix, ref + suffix
        sa, sr = evaluation.summary(a), evaluation.summary(r)
        gain = evaluation.compare(a, r, "macro_f1")
        rows.append(
            {
                "fraction": fraction,
                "n_train_cells": n_train,
                "arm": arm,
                "reference": ref,
                "arm_macro_f1": sa["macro_f1"]["mean"],
                "arm_ci_low": sa["macro_f1"]["ci_low"],
                "arm_ci_high": sa["macro_f1"]["ci_high"],
                "reference_macro_f1": sr["macro_f1"]["mean"],
                "reference_ci_low": sr["macro_f1"]["ci_low"],
                "reference_ci_high": sr["macro_f1"]["ci_high"],
                "gain": gain["mean_diff"],
                "gain_ci_low": gain["ci_low"],
                "gain_ci_high": gain["ci_high"],
                "gain_p": gain["p"],
                "n_folds": gain["n_folds"],
            }
        )
    return rows
