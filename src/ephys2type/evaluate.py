"""Run models over a split plan and write their results as files a user can diff.

:func:`run_evaluation` fits each model on every training fold of one :class:`SplitPlan`
and predicts the matching test fold, so every model is scored on identical folds.
:class:`Evaluation` summarises the scores (mean, SD, corrected 95% CI), compares models
pairwise with the corrected resampled t-test, and :func:`write_evaluation` writes
``metrics.json``, ``fold_metrics.csv``, ``oof_predictions.csv``, ``split_plan.json``,
confusion-matrix PNGs and ``timings.json`` (the one file that differs between identical runs).
"""

from __future__ import annotations

import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.base import clone
from sklearn.pipeline import Pipeline

from . import __version__
from .files import atomic_directory, dumps_json
from .metrics import (
    CI_METHOD,
    HEADLINE,
    expected_calibration_error,
    fold_scores,
    paired_test,
    pooled_confusion,
    summarize,
)
from .models import ModelSpec, get_model
from .patchseq import PatchSeqData
from .splits import SplitPlan

Progress = Callable[[str], None]


@dataclass
class Evaluation:
    """Scores and out-of-fold predictions of several models on one split plan."""

    plan: SplitPlan
    classes: list[str]
    models: dict[str, str]
    fold_metrics: pd.DataFrame
    predictions: pd.DataFrame
    importance: pd.DataFrame | None = None
    families: list[str] = field(default_factory=list)

    @property
    def n_train(self) -> float:
        return float(self.fold_metrics.groupby("model")["n_train"].mean().iloc[0])

    @property
    def n_test(self) -> float:
        return float(self.fold_metrics.groupby("model")["n_test"].mean().iloc[0])

    def scores(self, model: str, metric: str) -> np.ndarray:
        rows = self.fold_metrics[self.fold_metrics["model"] == model]
        return rows.sort_values(["seed", "fold"])[metric].to_numpy()

    def summary(self, model: str) -> dict[str, Any]:
        rows = self.fold_metrics[self.fold_metrics["model"] == model].sort_values(["seed", "fold"])
        seeds = rows["seed"].to_numpy()
        out = {m: summarize(rows[m], self.n_train, self.n_test, seeds) for m in HEADLINE}
        out["per_class"] = {
            cls: {
                k: summarize(rows[f"{k}:{cls}"], self.n_train, self.n_test)["mean"]
                for k in ("precision", "recall", "f1")
            }
            for cls in self.classes
        }
        return out

    def compare(self, a: str, b: str, metric: str = "macro_f1") -> dict[str, Any]:
        """Paired difference ``a - b`` on identical folds, with corrected CI and p-value."""
        result = paired_test(
            self.scores(a, metric), self.scores(b, metric), self.n_train, self.n_test
        )
        return {"a": a, "b": b, "metric": metric, **result}

    def calibration(self, model: str) -> dict[str, Any]:
        """ECE and reliability bins of the out-of-fold probabilities (all seeds pooled)."""
        p = self.predictions[self.predictions["model"] == model]
        proba = p[[f"proba:{c}" for c in self.classes]].to_numpy()
        return expected_calibration_error(p["true"], proba, self.classes)

    def confusion(self, model: str) -> np.ndarray:
        p = self.predictions[self.predictions["model"] == model]
        return pooled_confusion(p["true"], p["predicted"], self.classes)

    def table(self) -> pd.DataFrame:
        """One row per model: mean, SD and CI of the headline metrics."""
        rows = []
        for model in self.models:
            s = self.summary(model)
            row = {"model": model}
            for m in HEADLINE:
                row |= {
                    f"{m}": s[m]["mean"],
                    f"{m}_sd": s[m]["sd"],
                    f"{m}_ci_low": s[m]["ci_low"],
                    f"{m}_ci_high": s[m]["ci_high"],
                }
            rows.append(row)
        return pd.DataFrame(rows).set_index("model")

    def attention(self, model: str) -> pd.DataFrame | None:
        """Mean attention per true class x family, over all out-of-fold predictions."""
        cols = [f"attention:{f}" for f in self.families]
        p = self.predictions[self.predictions["model"] == model]
        if not set(cols) <= set(p.columns) or p[cols].isna().all().all():
            return None
        table = p.groupby("true")[cols].mean()
        table.columns = self.families
        table.loc["all cells"] = p[cols].mean().to_numpy()
        return table

    def interpretability(self, model: str) -> dict[str, Any] | None:
        """Family permutation importance, mean attention, and their rank correlation."""
        out: dict[str, Any] = {}
        att = self.attention(model)
        if att is not None:
            out["mean_attention"] = att.loc["all cells"].to_dict()
            out["attention_per_class"] = att.drop(index="all cells").to_dict(orient="index")
        if self.importance is not None and (self.importance["model"] == model).any():
            imp = self.importance[self.importance["model"] == model]
            mean_imp = imp.groupby("family")["importance"].mean().reindex(self.families)
            out["permutation_importance_macro_f1"] = mean_imp.to_dict()
            if att is not None:
                out["spearman_attention_vs_importance"] = self._attention_vs_importance(
                    model, att.loc["all cells"], mean_imp, imp
                )
        return out or None

    def _attention_vs_importance(self, model, mean_att, mean_imp, imp) -> dict[str, Any]:
        """Spearman correlation of attention and importance: of the fold means, and per fold.

        Undefined (None) when either is constant, e.g. attention under mean pooling.
        """

        def rho(a, b) -> tuple[float | None, float | None]:
            a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
            if np.ptp(a) < 1e-12 or np.ptp(b) < 1e-12:
                return None, None
            r = stats.spearmanr(a, b)
            return float(r.statistic), float(r.pvalue)

        pred = self.predictions[self.predictions["model"] == model]
        cols = [f"attention:{f}" for f in self.families]
        per_fold = []
        for (seed, fold), part in imp.groupby(["seed", "fold"]):
            fold_att = pred[(pred.seed == seed) & (pred.fold == fold)][cols].mean()
            r, _ = rho(fold_att, part.set_index("family").loc[self.families, "importance"])
            if r is not None:
                per_fold.append(r)
        r_means, p_means = rho(mean_att, mean_imp)
        return {
            "rho_of_means": r_means,
            "p_of_means": p_means,
            "n_families": len(self.families),
            "rho_per_fold_mean": float(np.mean(per_fold)) if per_fold else None,
            "rho_per_fold_sd": float(np.std(per_fold, ddof=1)) if len(per_fold) > 1 else None,
            "n_folds_defined": len(per_fold),
            **(
                {}
                if r_means is not None
                else {"note": "attention or importance is constant across families; undefined"}
            ),
        }

    def to_metrics(self) -> dict[str, Any]:
        """Everything ``metrics.json`` holds: protocol, data, versions, scores, comparisons."""
        names = list(self.models)
        return {
            "ephys2type": __version__,
            "versions": package_versions(),
            "dataset": self.plan.dataset,
            "protocol": {
                "name": self.plan.protocol,
                "description": self.plan.description,
                "seeds": list(self.plan.seeds),
                "n_folds": self.plan.n_folds,
                "n_fits_per_model": len(self.plan.folds),
                "split_plan_sha256": self.plan.sha256,
                "mean_n_train": self.n_train,
                "mean_n_test": self.n_test,
                "inner_validation_fraction": self.plan.inner_validation,
            },
            "ci_method": CI_METHOD,
            "classes": self.classes,
            "models": {
                name: {
                    "description": self.models[name],
                    **self.summary(name),
                    "confusion": self.confusion(name).tolist(),
                    "calibration": self.calibration(name),
                    **(
                        {"interpretability": interp}
                        if (interp := self.interpretability(name))
                        else {}
                    ),
                }
                for name in names
            },
            "comparisons": [
                self.compare(a, b, metric) for a, b in combinations(names, 2) for metric in HEADLINE
            ],
        }


def package_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for pkg in ("numpy", "pandas", "scikit-learn", "imbalanced-learn", "torch", "scipy"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def fold_seed(seed: int, fold: int) -> int:
    """The random_state a model gets on one fold: distinct per fold, fixed by the plan."""
    return 1000 * seed + fold


def run_evaluation(
    data: PatchSeqData,
    models: Sequence[str | ModelSpec],
    plan: SplitPlan,
    *,
    importance: bool | Sequence[str] = False,
    importance_repeats: int = 3,
    n_jobs: int = 1,
    progress: Progress | None = None,
) -> Evaluation:
    """Fit every model on every training fold of ``plan`` and score its test fold.

    With ``importance``, each fitted model (``True``: every model; a list: the models named)
    is also scored with each feature family permuted across its test cells (family
    permutation importance, in macro-F1 points).
    ``n_jobs`` > 1 runs folds in parallel processes, each limited to one thread; the
    results are identical to a serial run.
    """
    plan.check_matches(data)
    specs = [get_model(m) if isinstance(m, str) else m for m in models]
    tasks = [(spec, fold) for spec in specs for fold in plan.folds]
    wanted = {s.name for s in specs} if importance is True else set(importance or ())

    if n_jobs == 1:
        results = (
            _evaluate_fold(
                spec, data, fold, importance=spec.name in wanted, repeats=importance_repeats
            )
            for spec, fold in tasks
        )
    else:
        from joblib import Parallel, delayed

        results = Parallel(n_jobs=n_jobs, return_as="generator")(
            delayed(_evaluate_fold)(
                spec,
                data,
                fold,
                importance=spec.name in wanted,
                repeats=importance_repeats,
                single_thread=True,
            )
            for spec, fold in tasks
        )
    fold_rows, pred_frames, importance_rows = [], [], []
    for (spec, fold), (row, frame, imp) in zip(tasks, results, strict=True):
        fold_rows.append(row)
        pred_frames.append(frame)
        importance_rows += imp
        if progress is not None:
            progress(f"{spec.name} seed {fold.seed} fold {fold.fold}")
    return Evaluation(
        plan=plan,
        classes=data.classes,
        models={s.name: s.description for s in specs},
        fold_metrics=pd.DataFrame(fold_rows),
        predictions=pd.concat(pred_frames, ignore_index=True),
        importance=pd.DataFrame(importance_rows) if importance else None,
        families=data.schema.family_names,
    )


def _evaluate_fold(
    spec: ModelSpec,
    data: PatchSeqData,
    fold,
    *,
    importance: bool,
    repeats: int,
    single_thread: bool = False,
):
    """Fit one model on one fold; score it (and its family importance) on the test cells."""
    if not single_thread:
        return _fold(spec, data, fold, importance, repeats, one_job=False)
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):  # one worker among several: do not oversubscribe the cores
        return _fold(spec, data, fold, importance, repeats, one_job=True)


def _fold(spec: ModelSpec, data: PatchSeqData, fold, importance: bool, repeats: int, one_job: bool):
    classes = data.classes
    X, y = data.X, data.y.to_numpy()
    seed = fold_seed(fold.seed, fold.fold)
    estimator = clone(spec.build(data.schema, seed))
    if one_job:
        busy = {
            k: 1
            for k, v in estimator.get_params().items()
            if k.endswith("n_jobs") and v not in (None, 1)
        }
        estimator.set_params(**busy)
    t0 = time.perf_counter()
    estimator.fit(X.iloc[fold.train], y[fold.train])
    t1 = time.perf_counter()
    X_test, y_test = X.iloc[fold.test], y[fold.test]
    proba = class_probabilities(estimator, X_test, classes)
    t2 = time.perf_counter()
    predicted = np.asarray(classes)[proba.argmax(axis=1)]
    row = {
        "model": spec.name,
        "seed": fold.seed,
        "fold": fold.fold,
        "n_train": len(fold.train),
        "n_test": len(fold.test),
        "fit_seconds": t1 - t0,
        "predict_seconds": t2 - t1,
        **fold_scores(y_test, predicted, classes),
    }
    frame = pd.DataFrame(
        {
            "model": spec.name,
            "seed": fold.seed,
            "fold": fold.fold,
            "cell_id": X_test.index.to_numpy(),
            "true": y_test,
            "predicted": predicted,
        }
    )
    frame[[f"proba:{c}" for c in classes]] = proba
    extra = explain(estimator, X_test)
    if extra is not None:
        frame[list(extra.columns)] = extra.to_numpy()
    imp = []
    if importance:
        base = fold_scores(y_test, predicted, classes)["macro_f1"]
        rng = np.random.default_rng(seed)
        for fam in data.schema.families:
            drops = []
            for _ in range(repeats):
                shuffled = X_test.copy()
                shuffled[fam.columns] = X_test[fam.columns].to_numpy()[rng.permutation(len(X_test))]
                pred = np.asarray(classes)[
                    class_probabilities(estimator, shuffled, classes).argmax(axis=1)
                ]
                drops.append(base - fold_scores(y_test, pred, classes)["macro_f1"])
            imp.append(
                {
                    "model": spec.name,
                    "seed": fold.seed,
                    "fold": fold.fold,
                    "family": fam.name,
                    "importance": float(np.mean(drops)),
                }
            )
    return row, frame, imp


def class_probabilities(estimator, X: pd.DataFrame, classes: Sequence[str]) -> np.ndarray:
    """predict_proba with columns in ``classes`` order (zeros for classes the model lacks)."""
    proba = estimator.predict_proba(X)
    return (
        pd.DataFrame(proba, columns=list(estimator.classes_))
        .reindex(columns=list(classes), fill_value=0.0)
        .to_numpy()
    )


def explain(estimator, X: pd.DataFrame) -> pd.DataFrame | None:
    """Per-cell explanation (e.g. attention over families) if the model offers one."""
    final = estimator[-1] if isinstance(estimator, Pipeline) else estimator
    method = getattr(final, "explain", None)
    if not callable(method):
        return None
    Xt = estimator[:-1].transform(X) if isinstance(estimator, Pipeline) else X
    return method(Xt).reset_index(drop=True)


def write_evaluation(
    evaluation: Evaluation,
    out_dir: str | Path,
    *,
    overwrite: bool = False,
    extra_metrics: dict[str, Any] | None = None,
    extra_files: Callable[[Path], None] | None = None,
) -> Path:
    """Write the results folder atomically: it appears complete, or not at all.

    ``extra_files(folder)`` may add files to the folder before it is moved into place.
    """
    from .plots import (
        plot_attention,
        plot_confusion,
        plot_importance,
        plot_reliability,
        save_figure,
    )

    out_dir = Path(out_dir)
    metrics = evaluation.to_metrics() | (extra_metrics or {})
    timing_cols = ["fit_seconds", "predict_seconds"]
    with atomic_directory(out_dir, overwrite=overwrite) as tmp:
        (tmp / "metrics.json").write_text(dumps_json(metrics))
        (tmp / "split_plan.json").write_text(evaluation.plan.to_json())
        evaluation.fold_metrics.drop(columns=timing_cols).to_csv(
            tmp / "fold_metrics.csv", index=False, float_format="%.10g"
        )
        evaluation.predictions.to_csv(tmp / "oof_predictions.csv", index=False, float_format="%.6g")
        if evaluation.importance is not None:
            evaluation.importance.to_csv(
                tmp / "family_importance.csv", index=False, float_format="%.6g"
            )
        timings = evaluation.fold_metrics.groupby("model")[timing_cols].agg(["sum", "mean"])
        timings.columns = [f"{a}_{b}" for a, b in timings.columns]
        (tmp / "timings.json").write_text(dumps_json(timings.to_dict(orient="index")))
        for name in evaluation.models:
            data = evaluation.plan.dataset
            fig = plot_confusion(
                evaluation.confusion(name),
                evaluation.classes,
                title=f"{name}\n{data.get('species', '')}, {data.get('label_scheme', '')}, "
                f"{evaluation.plan.description}",
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
        if extra_files is not None:
            extra_files(tmp)
    return out_dir
