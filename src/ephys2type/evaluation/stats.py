"""Classification metrics, summaries with confidence intervals, and paired tests.

Folds of repeated cross-validation share training cells, so the spread of fold scores
understates the uncertainty of the mean. Intervals and tests here use the corrected
resampled t statistic of Nadeau & Bengio (2003): the variance of the J fold scores (or of
the J paired differences) is inflated by ``1/J + n_test/n_train`` instead of ``1/J``.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from scipy import stats
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
)

HEADLINE = ("accuracy", "balanced_accuracy", "macro_f1")
CI_METHOD = (
    "95% interval from the corrected resampled t statistic (Nadeau & Bengio 2003): "
    "mean +- t(0.975, J-1) * sqrt((1/J + n_test/n_train) * var) over the J folds"
)


def fold_scores(y_true: Sequence, y_pred: Sequence, classes: Sequence[str]) -> dict[str, float]:
    """Headline and per-class scores of one fold. A prediction that is no class (a cell left
    unassigned) counts as wrong; then ``assigned`` (the share of cells called) and
    ``accuracy_assigned`` (the accuracy of those calls) are added."""
    called = np.isin(np.asarray(y_pred, dtype=object), np.asarray(list(classes), dtype=object))
    with warnings.catch_warnings():
        # a test fold without some class the model calls (a held-out dataset): balanced
        # accuracy is the mean recall over the classes the fold holds, as intended
        warnings.filterwarnings("ignore", "y_pred contains classes not in y_true", UserWarning)
        balanced = (
            balanced_accuracy_score(y_true, y_pred)
            if called.all()
            else _macro_recall(np.asarray(y_true, dtype=object), np.asarray(y_pred, dtype=object))
        )
    out = {
        "accuracy": accuracy_score(y_true, y_pred),
        "balanced_accuracy": balanced,
        "macro_f1": f1_score(
            y_true, y_pred, labels=list(classes), average="macro", zero_division=0
        ),
    }
    p, r, f, _ = precision_recall_fscore_support(
        y_true, y_pred, labels=list(classes), zero_division=0
    )
    for cls, pi, ri, fi in zip(classes, p, r, f, strict=True):
        out[f"precision:{cls}"] = pi
        out[f"recall:{cls}"] = ri
        out[f"f1:{cls}"] = fi
    if not called.all():
        out["assigned"] = called.mean()
        truth = np.asarray(y_true, dtype=object)[called]
        out["accuracy_assigned"] = (
            float(np.mean(truth == np.asarray(y_pred, dtype=object)[called]))
            if called.any()
            else float("nan")
        )
    return {k: float(v) for k, v in out.items()}


def _macro_recall(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Balanced accuracy (mean recall over the classes present) when some predictions are
    no class at all (cells left unassigned, counted as missed)."""
    return float(np.mean([np.mean(y_pred[y_true == c] == c) for c in np.unique(y_true)]))


def corrected_interval(
    values: Sequence[float], n_train: float, n_test: float, level: float = 0.95
) -> tuple[float, float, float]:
    """Mean and corrected resampled-t interval of fold scores (or paired differences)."""
    v = np.asarray(values, dtype=float)
    j = len(v)
    mean = float(v.mean())
    if j < 2:
        return mean, float("nan"), float("nan")
    se = np.sqrt((1 / j + n_test / n_train) * v.var(ddof=1))
    half = float(stats.t.ppf(0.5 + level / 2, j - 1) * se)
    return mean, mean - half, mean + half


def summarize(
    values: Sequence[float],
    n_train: float,
    n_test: float,
    seeds: Sequence[int] | None = None,
    bounds: tuple[float, float] | None = (0.0, 1.0),
) -> dict[str, Any]:
    """Mean, SD over folds, corrected 95% CI, and the per-seed means.

    The interval is clipped to ``bounds`` (proportions cannot leave [0, 1], though a
    t-interval over few folds can).
    """
    v = np.asarray(values, dtype=float)
    mean, lo, hi = corrected_interval(v, n_train, n_test)
    if bounds is not None and np.isfinite(lo):
        lo, hi = max(lo, bounds[0]), min(hi, bounds[1])
    out: dict[str, Any] = {
        "mean": mean,
        "sd": float(v.std(ddof=1)) if len(v) > 1 else float("nan"),
        "ci_low": lo,
        "ci_high": hi,
        "n_folds": len(v),
    }
    if seeds is not None:
        seeds = np.asarray(seeds)
        per_seed = {int(s): float(v[seeds == s].mean()) for s in np.unique(seeds)}
        out["per_seed"] = per_seed
        out["sd_between_seeds"] = (
            float(np.std(list(per_seed.values()), ddof=1)) if len(per_seed) > 1 else float("nan")
        )
    return out


def paired_test(
    a: Sequence[float], b: Sequence[float], n_train: float, n_test: float
) -> dict[str, float]:
    """Corrected resampled paired t-test of ``a - b`` over identical folds, with the two
    means on those folds (``mean_a``, ``mean_b``: a model run on fewer folds than the other
    is compared on its folds, where the other's mean differs from its overall one)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    d = a - b
    j = len(d)
    mean, lo, hi = corrected_interval(d, n_train, n_test)
    var = d.var(ddof=1) if j > 1 else 0.0
    if j < 2:
        t, p = float("nan"), float("nan")
    elif var == 0:  # identical differences on every fold
        t, p = (0.0, 1.0) if mean == 0 else (float(np.sign(mean) * np.inf), 0.0)
    else:
        t = float(mean / np.sqrt((1 / j + n_test / n_train) * var))
        p = float(2 * stats.t.sf(abs(t), j - 1))
    means = {"mean_a": float(a.mean()), "mean_b": float(b.mean())} if j else {}
    return {
        "mean_diff": mean,
        "ci_low": lo,
        "ci_high": hi,
        "t": t,
        "p": p,
        "n_folds": int(j),
        **means,
    }


def pooled_confusion(y_true: Sequence, y_pred: Sequence, classes: Sequence[str]) -> np.ndarray:
    """Confusion counts (rows: true class, columns: predicted class)."""
    return confusion_matrix(y_true, y_pred, labels=list(classes))


def expected_calibration_error(
    y_true: Sequence, proba: np.ndarray, classes: Sequence[str], n_bins: int = 15
) -> dict[str, Any]:
    """Top-label expected calibration error and the reliability-diagram bins.

    Cells are binned by the probability of their predicted class; ECE is the cell-weighted
    mean gap between that confidence and the accuracy within each bin.
    """
    proba = np.asarray(proba, dtype=float)
    confidence = proba.max(axis=1)
    correct = np.asarray(classes)[proba.argmax(axis=1)] == np.asarray(y_true)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1]), 0, n_bins - 1)
    bins, ece = [], 0.0
    for b in range(n_bins):
        sel = which == b
        if not sel.any():
            continue
        acc, conf = float(correct[sel].mean()), float(confidence[sel].mean())
        ece += sel.mean() * abs(acc - conf)
        bins.append(
            {
                "low": float(edges[b]),
                "high": float(edges[b + 1]),
                "n": int(sel.sum()),
                "accuracy": acc,
                "confidence": conf,
            }
        )
    return {"ece": float(ece), "n_bins": n_bins, "bins": bins}


def format_summary(summary: dict[str, Any] | None) -> str:
    """'92.17 ± 0.89 [91.18, 93.16]': mean ± SD [95% CI] of a proportion, in percent."""
    if summary is None or len(summary) == 0:
        return "n/a"

    def finite(*keys: str) -> bool:
        return all(summary.get(k) is not None and np.isfinite(summary[k]) for k in keys)

    if not finite("sd", "ci_low", "ci_high"):  # a single fit has no spread and no interval
        why = summary.get("no_interval", "1 fit")  # or folds that are not draws of one population
        return f"{100 * summary['mean']:.2f} ({why}: no SD or CI)"
    return (
        f"{100 * summary['mean']:.2f} ± {100 * summary['sd']:.2f} "
        f"[{100 * summary['ci_low']:.2f}, {100 * summary['ci_high']:.2f}]"
    )


def format_p(p: float | None) -> str:
    """A p-value to 3 significant digits; 'n/a' when undefined (a single fit)."""
    return "n/a" if p is None or not np.isfinite(p) else f"{p:.3g}"


def format_difference(result: dict[str, Any] | None, *, with_p: bool = False) -> str:
    """'+1.23 [-0.40, +2.86]' (points, 95% CI) of a paired comparison, optionally with p."""
    if result is None or len(result) == 0:
        return "n/a"
    if result.get("ci_low") is None or not np.isfinite(result["ci_low"]):
        why = result.get("no_interval", "1 fit")
        return f"{100 * result['mean_diff']:+.2f} ({why}: no CI or p)"
    text = (
        f"{100 * result['mean_diff']:+.2f} "
        f"[{100 * result['ci_low']:+.2f}, {100 * result['ci_high']:+.2f}]"
    )
    return text + (f", p = {result['p']:.3g}" if with_p else "")


def curve_gain(row: Mapping[str, Any]) -> dict[str, float]:
    """A transfer learning- or few-shot-curve row's gain as a paired comparison
    (``mean_diff``, ``ci_low``, ``ci_high``, ``p``: what :func:`format_difference` reads), from
    the columns :mod:`ephys2type.evaluation.transfer` writes (``gain``, ``gain_ci_low``, ...).
    """
    return {
        "mean_diff": row["gain"],
        "ci_low": row["gain_ci_low"],
        "ci_high": row["gain_ci_high"],
        "p": row["gain_p"],
    }
