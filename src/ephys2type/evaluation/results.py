"""The result of an evaluation: fold scores and out-of-fold predictions of several models
on one split plan, with summaries (mean, SD, corrected 95% CI), paired comparisons on
identical folds, calibration, confusion matrices and interpretability."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ephys2type._version import __version__, package_versions
from ephys2type.data.columns import proba_columns
from ephys2type.evaluation.splits import SplitPlan
from ephys2type.evaluation.stats import (
    CI_METHOD,
    HEADLINE,
    expected_calibration_error,
    paired_test,
    pooled_confusion,
    summarize,
)
from ephys2type.models.call_table import ABSTAIN, reason_counts


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

    @cached_property
    def n_train(self) -> float:
        return float(self.fold_metrics.groupby("model")["n_train"].mean().iloc[0])

    @cached_property
    def n_test(self) -> float:
        return float(self.fold_metrics.groupby("model")["n_test"].mean().iloc[0])

    @cached_property
    def _by_fold(self) -> dict[str, pd.DataFrame]:
        """Per metric, (seed, fold) x model, filled on first use (:meth:`compare` pairs
        hundreds of columns of it in ``to_metrics``)."""
        return {}

    def _fold_table(self, metric: str) -> pd.DataFrame:
        if metric not in self._by_fold:
            self._by_fold[metric] = self.fold_metrics.pivot(
                index=["seed", "fold"], columns="model", values=metric
            ).sort_index()
        return self._by_fold[metric]

    def scores(self, model: str, metric: str) -> np.ndarray:
        rows = self.fold_metrics[self.fold_metrics["model"] == model]
        return rows.sort_values(["seed", "fold"])[metric].to_numpy()

    @property
    def pools_folds(self) -> bool:
        """Whether the folds are draws of one population, so that a mean over them has an
        interval and two models' differences a paired test: not when each fold holds out a
        whole dataset (a reviewer: a 17.9% and a 52.2% fold got a pooled interval clipped to
        [0, 1], and a paired difference of ±234 points)."""
        return self.plan.protocol not in UNPOOLED

    def summary(self, model: str) -> dict[str, Any]:
        rows = self.fold_metrics[self.fold_metrics["model"] == model].sort_values(["seed", "fold"])
        seeds = rows["seed"].to_numpy()
        out = {m: summarize(rows[m], self.n_train, self.n_test, seeds) for m in HEADLINE}
        if not self.pools_folds:
            out = {m: _unpooled(out[m]) for m in HEADLINE}
        out["per_class"] = {
            cls: {
                k: summarize(rows[f"{k}:{cls}"], self.n_train, self.n_test)["mean"]
                for k in ("precision", "recall", "f1")
            }
            for cls in self.classes
        }
        return out

    def on_plan(self, plan: SplitPlan) -> Evaluation:
        """The scores and predictions of the folds of ``plan`` only (e.g. its first seeds,
        from :meth:`SplitPlan.first_seeds`)."""
        keep = {(f.seed, f.fold) for f in plan.folds}

        def rows(frame: pd.DataFrame | None) -> pd.DataFrame | None:
            if frame is None:
                return None
            mask = [(s, f) in keep for s, f in zip(frame["seed"], frame["fold"], strict=True)]
            return frame[mask].reset_index(drop=True)

        return Evaluation(
            plan=plan,
            classes=self.classes,
            models=self.models,
            fold_metrics=rows(self.fold_metrics),
            predictions=rows(self.predictions),
            importance=rows(self.importance),
            families=self.families,
        )

    def combine(self, other: Evaluation) -> Evaluation:
        """This evaluation and ``other`` (other models, on this plan or on some of its folds,
        e.g. its first seed) as one; comparisons pair the folds both models ran on."""
        if set(self.models) & set(other.models):
            raise ValueError("the two evaluations share models")
        if not {(f.seed, f.fold) for f in other.plan.folds} <= {
            (f.seed, f.fold) for f in self.plan.folds
        }:
            raise ValueError("the other evaluation ran on folds outside this plan")

        def both(a: pd.DataFrame | None, b: pd.DataFrame | None) -> pd.DataFrame | None:
            frames = [f for f in (a, b) if f is not None]
            return pd.concat(frames, ignore_index=True) if frames else None

        return Evaluation(
            plan=self.plan,
            classes=self.classes,
            models={**self.models, **other.models},
            fold_metrics=both(self.fold_metrics, other.fold_metrics),
            predictions=both(self.predictions, other.predictions),
            importance=both(self.importance, other.importance),
            families=self.families,
        )

    def n_fits(self, model: str) -> int:
        """The folds ``model`` ran on (fewer than the plan's for a model run on its first
        seed only, see :meth:`combine`)."""
        return int((self.fold_metrics["model"] == model).sum())

    def compare(self, a: str, b: str, metric: str = "macro_f1") -> dict[str, Any]:
        """Paired difference ``a - b`` on the folds both ran on (all of them, unless one
        model ran on fewer; see :meth:`combine`), with corrected CI and p-value."""
        pair = [a, b]
        ran = self._fold_table("n_test").reindex(columns=pair).notna().all(axis=1).to_numpy()
        scores = self._fold_table(metric).reindex(columns=pair).to_numpy()[ran]
        result = paired_test(scores[:, 0], scores[:, 1], self.n_train, self.n_test)
        if not self.pools_folds:
            result = _unpooled(result) | {"t": float("nan"), "p": float("nan")}
        return {"a": a, "b": b, "metric": metric, **result}

    def calibration(self, model: str) -> dict[str, Any]:
        """ECE and reliability bins of the out-of-fold probabilities (all seeds pooled)."""
        p = self.predictions[self.predictions["model"] == model]
        proba = p[proba_columns(self.classes)].to_numpy()
        return expected_calibration_error(p["true"], proba, self.classes)

    def confusion(self, model: str) -> np.ndarray:
        p = self.predictions[self.predictions["model"] == model]
        return pooled_confusion(p["true"], p["predicted"], self.classes)

    def unassigned(self, model: str) -> tuple[int, int, dict[str, int]]:
        """How many of ``model``'s test predictions are ``unassigned`` (counted wrong by
        every headline metric), of how many, and how many each reason left so, most first
        (its kind: the text before the reason's colon)."""
        p = self.predictions[self.predictions["model"] == model]
        none = p[p["predicted"] == ABSTAIN]
        reasons = none["reason"] if "reason" in none.columns else []
        return len(none), len(p), reason_counts(reasons)

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
                # models run on fewer folds than the plan's (e.g. its first seed only)
                "fewer_fits": {
                    name: self.n_fits(name)
                    for name in names
                    if self.n_fits(name) < len(self.plan.folds)
                },
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


#: Protocols whose folds are not draws of one population (each holds out a dataset): their
#: means are given without an interval and their differences without a test (read each
#: held-out dataset's own score instead).
UNPOOLED = ("leave-dataset-out",)
#: Why such a score has no interval (``format_summary`` and ``format_difference`` say it).
UNPOOLED_REASON = "folds are datasets"


def _unpooled(summary: dict[str, Any]) -> dict[str, Any]:
    """``summary`` without the spread, interval and per-seed spread a pooled score has."""
    out = {k: v for k, v in summary.items() if k != "sd_between_seeds"}
    return out | {
        "sd": float("nan"),
        "ci_low": float("nan"),
        "ci_high": float("nan"),
        "no_interval": UNPOOLED_REASON,
    }
