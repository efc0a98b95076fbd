"""Write an evaluation as a results folder a user can diff: ``metrics.json``,
``fold_metrics.csv``, ``oof_predictions.csv``, ``split_plan.json``, confusion, reliability,
attention and importance figures, and ``timings.json`` (the one file that differs between
identical runs)."""

from __future__ import annotations

from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

import pandas as pd

from ephys2type.evaluation.breakdown import batch_checks
from ephys2type.evaluation.results import Evaluation
from ephys2type.files import atomic_directory, dumps_json

#: Columns of fold tables that measure time, not results: kept out of fold_metrics.csv
TIMING_COLUMNS = ["fit_seconds", "predict_seconds"]


def write_fold_tables(fold_metrics: pd.DataFrame, folder: Path, by: str | list[str]) -> None:
    """``fold_metrics.csv`` without the timing columns (so identical runs write identical
    files) and ``timings.json``: their sum and mean per ``by`` group."""
    fold_metrics.drop(columns=TIMING_COLUMNS).to_csv(
        folder / "fold_metrics.csv", index=False, float_format="%.10g"
    )
    timings = fold_metrics.groupby(by)[TIMING_COLUMNS].agg(["sum", "mean"])
    timings.columns = [f"{a}_{b}" for a, b in timings.columns]
    if isinstance(by, list):
        timings.index = [" ".join(map(str, key)) for key in timings.index]
    (folder / "timings.json").write_text(dumps_json(timings.to_dict(orient="index")))


def write_evaluation(
    evaluation: Evaluation,
    out_dir: str | Path,
    *,
    overwrite: bool = False,
    extra_metrics: dict[str, Any] | None = None,
    extra_files: Callable[[Path], None] | None = None,
    breakdowns: dict[str, pd.DataFrame] | None = None,
    figures: Collection[str] | None = None,
) -> Path:
    """Write the results folder atomically: it appears complete, or not at all.

    ``figures``: the models whose figures (confusion matrix, reliability, attention,
    importance: about a quarter of a second each) are drawn; None draws every model's. The
    tables behind them (``oof_predictions.csv``, ``metrics.json``) hold every model.

    ``extra_files(folder)`` may add files to the folder before it is moved into place.
    ``breakdowns`` (from :func:`~ephys2type.evaluation.breakdown.group_breakdowns`) are
    written as ``by_<column>.csv`` and under ``by_<column>`` in ``metrics.json``.
    """
    from ephys2type.evaluation.plots import (  # matplotlib: imported when writing
        plot_attention,
        plot_confusion,
        plot_importance,
        plot_reliability,
        save_figure,
    )

    out_dir = Path(out_dir)
    breakdowns = breakdowns or {}
    checks = batch_checks(evaluation)
    metrics = (
        evaluation.to_metrics()
        | ({} if checks is None else {"batch_checks": checks.to_dict(orient="records")})
        | {f"by_{column}": frame.to_dict(orient="records") for column, frame in breakdowns.items()}
        | (extra_metrics or {})
    )
    with atomic_directory(out_dir, overwrite=overwrite) as tmp:
        (tmp / "metrics.json").write_text(dumps_json(metrics))
        (tmp / "split_plan.json").write_text(evaluation.plan.to_json())
        write_fold_tables(evaluation.fold_metrics, tmp, "model")
        evaluation.predictions.to_csv(tmp / "oof_predictions.csv", index=False, float_format="%.6g")
        if evaluation.importance is not None:
            evaluation.importance.to_csv(
                tmp / "family_importance.csv", index=False, float_format="%.6g"
            )
        drawn = [m for m in evaluation.models if figures is None or m in figures]
        for name in drawn:
            data = evaluation.plan.dataset
            fig = plot_confusion(
                evaluation.confusion(name),
                evaluation.classes,
                title=f"{name}\n{data.get('species', '')}, {data.get('label_scheme', '')}, "
                f"{evaluation.plan.description}\n(counts summed over "
                f"{len(evaluation.plan.seeds)} seed(s): each cell counted once per seed)",
            ).figure
            save_figure(fig, tmp / f"confusion_{name}.png")
            ax = plot_reliability(evaluation.calibration(name), title=f"{name}: reliability")
            save_figure(ax.figure, tmp / f"reliability_{name}.png")
            att = evaluation.attention(name)
            if att is not None:
                ax = plot_attention(att, title=f"{name}: mean attention per class")
                save_figure(ax.figure, tmp / f"attention_{name}.png")
            interp = evaluation.interpretability(name) or {}
            if "permutation_importance_macro_f1" in interp:
                ax = plot_importance(
                    pd.Series(interp["permutation_importance_macro_f1"]),
                    pd.Series(interp.get("mean_attention", {}), dtype=float),
                    title=f"{name}: family permutation importance (test folds)",
                )
                save_figure(ax.figure, tmp / f"importance_{name}.png")
        for column, frame in breakdowns.items():
            frame.to_csv(tmp / f"by_{column}.csv", index=False, float_format="%.6g")
        if extra_files is not None:
            extra_files(tmp)
    return out_dir
