"""Metrics, corrected intervals and the paired test, against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from ephys2type.evaluation.stats import corrected_interval, fold_scores, paired_test, summarize


def test_fold_scores():
    y = ["a", "a", "a", "b", "b", "c"]
    p = ["a", "a", "b", "b", "b", "a"]
    s = fold_scores(y, p, ["a", "b", "c"])
    assert s["accuracy"] == pytest.approx(4 / 6)
    assert s["balanced_accuracy"] == pytest.approx((2 / 3 + 1 + 0) / 3)
    f1_a, f1_b, f1_c = 2 / 3, 0.8, 0.0  # a: P 2/3 R 2/3; b: P 2/3 R 1
    assert s["f1:a"] == pytest.approx(f1_a) and s["f1:b"] == pytest.approx(f1_b)
    assert s["macro_f1"] == pytest.approx((f1_a + f1_b + f1_c) / 3)
    assert s["recall:c"] == 0.0 and s["precision:c"] == 0.0


def test_corrected_interval_by_hand():
    v = np.array([0.90, 0.92, 0.91, 0.93, 0.89, 0.90])
    mean, lo, hi = corrected_interval(v, n_train=400, n_test=100)
    se = np.sqrt((1 / 6 + 100 / 400) * v.var(ddof=1))
    half = stats.t.ppf(0.975, 5) * se
    assert mean == pytest.approx(v.mean())
    assert (lo, hi) == pytest.approx((v.mean() - half, v.mean() + half))
    naive = stats.t.ppf(0.975, 5) * v.std(ddof=1) / np.sqrt(6)
    assert hi - mean > naive  # wider than the naive interval that ignores overlap


def test_summarize_reports_per_seed():
    s = summarize([1, 2, 3, 4], 4, 1, seeds=[0, 0, 1, 1])
    assert s["per_seed"] == {0: 1.5, 1: 3.5}
    assert s["mean"] == 2.5 and s["n_folds"] == 4
    assert s["sd"] == pytest.approx(np.std([1, 2, 3, 4], ddof=1))


def test_paired_test():
    rng = np.random.default_rng(0)
    a = rng.normal(0.8, 0.02, 25)
    same = paired_test(a, a, 400, 100)
    assert same["mean_diff"] == 0 and same["p"] == 1.0
    e = rng.normal(0, 0.005, 25)
    better = paired_test(a + 0.05 + e, a, 400, 100)
    assert better["mean_diff"] == pytest.approx(0.05, abs=0.005)
    # each side's mean on the paired folds, beside their difference
    assert better["mean_b"] == pytest.approx(a.mean())
    assert better["mean_a"] - better["mean_b"] == pytest.approx(better["mean_diff"])
    assert better["p"] < 1e-6 and better["ci_low"] > 0
    noise = paired_test(a + rng.normal(0, 0.02, 25), a, 400, 100)
    assert noise["p"] > 0.05 and noise["ci_low"] < 0 < noise["ci_high"]
    # Nadeau and Bengio's corrected t by hand, on the differences tested
    d = (a + 0.05 + e) - a
    t = d.mean() / np.sqrt((1 / 25 + 100 / 400) * d.var(ddof=1))
    assert better["t"] == pytest.approx(t) and better["n_folds"] == 25
    assert better["p"] == pytest.approx(2 * stats.t.sf(abs(t), 24))


def test_expected_calibration_error():
    from ephys2type.evaluation.stats import expected_calibration_error

    rng = np.random.default_rng(0)
    n = 20000
    conf = rng.uniform(0.5, 1.0, n)
    correct = rng.uniform(size=n) < conf  # calibrated by construction
    proba = np.column_stack([conf, 1 - conf])
    y = np.where(correct, "a", "b")
    good = expected_calibration_error(y, proba, ["a", "b"])
    assert good["ece"] < 0.02
    overconfident = np.column_stack([np.full(n, 0.99), np.full(n, 0.01)])
    bad = expected_calibration_error(
        np.where(rng.uniform(size=n) < 0.7, "a", "b"), overconfident, ["a", "b"]
    )
    assert bad["ece"] == pytest.approx(0.29, abs=0.02)
    assert sum(b["n"] for b in good["bins"]) == n


def test_temperature_scaling_recovers_the_temperature():
    from ephys2type.models.calibration import fit_temperature

    rng = np.random.default_rng(1)
    logits = rng.normal(scale=4.0, size=(5000, 4))
    p = np.exp(logits / 2.5)
    p /= p.sum(axis=1, keepdims=True)
    y = np.array([rng.choice(4, p=row) for row in p])
    assert fit_temperature(logits, y) == pytest.approx(2.5, rel=0.1)


def test_a_single_fit_is_shown_without_a_made_up_spread():
    """`--protocol holdout --seeds 1` gives one fit: no '± nan'."""
    from ephys2type.evaluation.stats import format_difference, format_summary

    one = summarize([0.8], 100, 25)
    assert format_summary(one) == "80.00 (1 fit: no SD or CI)"
    stored = {**one, "sd": None, "ci_low": None, "ci_high": None}  # as read back from JSON
    assert format_summary(stored) == "80.00 (1 fit: no SD or CI)"
    diff = paired_test([0.8], [0.7], 100, 25)
    assert "nan" not in format_difference(diff, with_p=True)
