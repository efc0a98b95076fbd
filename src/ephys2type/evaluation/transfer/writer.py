"""Write a transfer result as a results folder: what ``evaluate`` writes for its arms, plus
the gains (gains.csv, gains_vs_best.csv) and the learning and few-shot curves (CSV and
figure)."""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

from ephys2type.evaluation.transfer.results import TransferResult
from ephys2type.evaluation.writers import write_evaluation


def write_transfer(
    result: TransferResult,
    out_dir: str | Path,
    *,
    overwrite: bool = False,
    figures: Collection[str] | None = None,
) -> Path:
    """Write a transfer run like ``evaluate`` does, plus gains.csv, gains_vs_best.csv and
    the learning and few-shot curves (``figures``: the arms whose per-model figures are
    drawn, as in :func:`~ephys2type.evaluation.writers.write_evaluation`; None: every arm)."""
    from ephys2type.evaluation.plots import plot_learning_curve, save_figure

    def extra(folder: Path) -> None:
        result.gains("macro_f1").to_csv(folder / "gains.csv", float_format="%.6g")
        result.gains_vs_best("macro_f1").to_csv(folder / "gains_vs_best.csv", float_format="%.6g")
        if result.few_shot is not None:
            result.few_shot.to_csv(folder / "few_shot.csv", index=False, float_format="%.6g")
            fig = plot_learning_curve(
                result.few_shot,
                title=f"{result.source} -> {result.target}: few-shot gain vs {result.target} "
                f"training cells per class ({result.evaluation.plan.description})",
            )
            save_figure(fig, folder / "few_shot.png")
        if result.curve is not None:
            result.curve.to_csv(folder / "learning_curve.csv", index=False, float_format="%.6g")
            fig = plot_learning_curve(
                result.curve,
                title=f"{result.source} -> {result.target}: gain from {result.source} data vs "
                f"{result.target} training cells ({result.evaluation.plan.description})",
            )
            save_figure(fig, folder / "learning_curve.png")

    return write_evaluation(
        result.evaluation,
        out_dir,
        overwrite=overwrite,
        extra_metrics=result.to_metrics(),
        extra_files=extra,
        figures=figures,
    )
