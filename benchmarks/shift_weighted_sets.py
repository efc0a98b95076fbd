"""Benchmark: can prediction sets keep their promise on a shifted batch by weighting?

Run on demand (about 2 minutes on 2 cores):

    .venv/bin/python benchmarks/shift_weighted_sets.py
        [--out benchmarks/results/shift_weighted_sets.json]

``held_out_condition.py`` found that the class-conditional conformal sets of the deployed
forest cover 90% of cells like the training cells but only 70% of slice-culture cells
predicted by a model of acute cells. Weighted conformal prediction (Tibshirani, Barber,
Candès & Ramdas 2019, "Conformal prediction under covariate shift") restores coverage when
only the distribution of the features moved: each calibration cell counts in proportion to
how much more likely its features are in the batch than in the calibration cells, a ratio
estimated from the unlabelled batch with a classifier (calibration cells vs batch cells,
logistic regression on the standardized features, out-of-fold probabilities).

For each split (the held-out condition, region and lab/layer splits of
``held_out_condition.py``, plus a control: a quarter of the training domain held back), the
deployed forest is trained as ``train`` trains it; the batch's cells that its full-feature
member serves are scored against that member's calibration cells (Mondrian: per class),
with every weight 1 (the sets of ``predict``'s set function: checked, cell by cell) and with
the estimated weights. Reported: coverage, per-class coverage and mean set size at 90%.

Written by hand rather than with a library: crepes has no weights, and crepes-weighted is a
0.1 research fork; the weighted p-value is four lines (see ``weighted_sets``).
"""

from __future__ import annotations

import time
import warnings

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_predict, train_test_split

from benchmark_output import seeds_and_out, write_result
from ephys2type.errors import Ephys2TypeWarning
from ephys2type.models.conformal import cell_draws
from ephys2type.persist.train import train_model
from human_shift_splits import human_shift_splits

CONFIDENCE = 0.9


def weighted_sets(
    cal_scores: dict[str, np.ndarray],
    cal_weights: dict[str, np.ndarray],
    alphas: np.ndarray,
    test_weights: np.ndarray,
    classes: list[str],
    confidence: float,
    *,
    draws: np.ndarray,
) -> np.ndarray:
    """Boolean cells x classes: class k is in a cell's set when its smoothed weighted
    Mondrian p-value is at least 1 - confidence: the weight of the calibration cells of class
    k more non-conforming, plus a uniform draw times (the weight of those as non-conforming
    plus the cell's own), over the total weight. With every weight 1 these are the sets
    ``predict`` gives (:func:`ephys2type.models.conformal.sets_from_proba`, with the same
    per-cell ``draws``, :func:`~ephys2type.models.conformal.cell_draws`)."""
    thetas = draws[:, : alphas.shape[1]]
    out = np.zeros(alphas.shape, dtype=bool)
    for k, c in enumerate(classes):
        scores, w = cal_scores[c], cal_weights[c]
        above = (scores[None, :] > alphas[:, k][:, None]) @ w
        tied = (scores[None, :] == alphas[:, k][:, None]) @ w
        p_values = (above + thetas[:, k] * (tied + test_weights)) / (w.sum() + test_weights)
        out[:, k] = p_values >= 1 - confidence
    return out


def density_ratio(Z_cal: np.ndarray, Z_batch: np.ndarray, seed: int) -> tuple[np.ndarray, ...]:
    """Out-of-fold estimates of p_batch(x) / p_cal(x) for the calibration and batch cells."""
    Z = np.nan_to_num(np.vstack([Z_cal, Z_batch]))  # NaN: the training mean
    side = np.r_[np.zeros(len(Z_cal)), np.ones(len(Z_batch))]
    p = cross_val_predict(
        LogisticRegression(C=0.1, max_iter=2000),
        Z,
        side,
        cv=5,
        method="predict_proba",
    )[:, 1]
    p = np.clip(p, 0.01, 0.99)
    ratio = p / (1 - p) * len(Z_cal) / len(Z_batch)
    return ratio[: len(Z_cal)], ratio[len(Z_cal) :]


def _coverage(sets: np.ndarray, y: np.ndarray, classes: list[str]) -> dict:
    position = {c: k for k, c in enumerate(classes)}
    known = np.array([t in position for t in y])
    covered = np.array(
        [bool(sets[i, position[t]]) if t in position else False for i, t in enumerate(y)]
    )
    return {
        "coverage": float(covered[known].mean()),
        "per_class": {c: float(covered[y == c].mean()) for c in classes if (y == c).sum() >= 10},
        "mean_set_size": float(sets[known].sum(axis=1).mean()),
    }


def _split(data, train_cells, test_cells, name: str, seed: int) -> dict:
    y_all = data.y
    tr, control = train_test_split(
        np.asarray(train_cells),
        test_size=min(len(test_cells), len(train_cells) // 4),
        stratify=y_all.loc[train_cells],
        random_state=seed,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Ephys2TypeWarning)
        model = train_model(data.subset(pd.Index(tr)), "rf", random_state=seed)
    classes = [str(c) for c in model.classes_]
    member = model.members_[0]
    cal = model.calibration_
    X_cal, y_cal = model.X_train_[cal], np.asarray(model.y_train_)[cal].astype(str)
    alpha_cal = (
        1
        - member.probabilities(X_cal, classes)[
            np.arange(len(y_cal)), [classes.index(c) for c in y_cal]
        ]
    )
    Z_cal = model.scaler_.standardize_measured(X_cal)
    out = {"split": name, "n_train": len(tr), "n_calibration": int(cal.sum())}
    for side, cells in (("held_out", pd.Index(test_cells)), ("control", pd.Index(control))):
        X = data.X.loc[cells]
        served = (model.route(X) == len(member.features)).to_numpy()
        X, y = X[served], y_all.loc[cells][served].astype(str).to_numpy()
        alphas = 1 - member.probabilities(X, classes)
        w_cal, w_test = density_ratio(Z_cal, model.scaler_.standardize_measured(X), seed)
        by_class = {c: alpha_cal[y_cal == c] for c in classes}
        ones = {c: np.ones((y_cal == c).sum()) for c in classes}
        weights = {c: w_cal[y_cal == c] for c in classes}
        # each cell's smoothing draws, as predict draws them
        draws = cell_draws(model.score_cells(X).X, len(classes), model.random_state)
        plain = weighted_sets(
            by_class, ones, alphas, np.ones(len(X)), classes, CONFIDENCE, draws=draws
        )
        given = member.conformal.sets(1 - alphas, classes, draws=draws)  # predict's set function
        assert (plain == given).all(), "unweighted sets differ from predict's"
        shifted = weighted_sets(by_class, weights, alphas, w_test, classes, CONFIDENCE, draws=draws)
        out[side] = {
            "n_cells": len(X),
            "n_cells_not_served_by_the_full_member": int((~served).sum()),
            "unweighted": _coverage(plain, y, classes),
            "weighted": _coverage(shifted, y, classes),
            "weight_spread": {
                "calibration_p90_over_p10": float(
                    np.percentile(w_cal, 90) / np.percentile(w_cal, 10)
                ),
                "effective_calibration_share": float(
                    w_cal.sum() ** 2 / (w_cal**2).sum() / len(w_cal)
                ),
            },
        }
        u, w = out[side]["unweighted"], out[side]["weighted"]
        print(
            f"{name:42s} {side:8s} n={len(X):4d} coverage {100 * u['coverage']:.1f}% "
            f"(size {u['mean_set_size']:.2f}) -> weighted {100 * w['coverage']:.1f}% "
            f"(size {w['mean_set_size']:.2f}); per class {u['per_class']} -> {w['per_class']}"
        )
    return out


def _mean(rows: list[dict], side: str, arm: str) -> dict:
    """Coverage and set size of one side and arm, averaged over seeds."""
    return {
        key: float(np.mean([r[side][arm][key] for r in rows]))
        for key in ("coverage", "mean_set_size")
    }


def main() -> None:
    args = seeds_and_out(__doc__, "shift_weighted_sets").parse_args()
    start = time.perf_counter()
    result: dict = {"confidence": CONFIDENCE, "seeds": args.seeds, "splits": []}
    for split in human_shift_splits():
        name = split.name
        runs = [
            _split(split.data, split.train, split.test, name, seed) for seed in range(args.seeds)
        ]
        summary = {
            side: {arm: _mean(runs, side, arm) for arm in ("unweighted", "weighted")}
            for side in ("held_out", "control")
        }
        result["splits"].append({"split": name, "mean_over_seeds": summary, "runs": runs})
        for side, arms in summary.items():
            u, w = arms["unweighted"], arms["weighted"]
            print(
                f"MEAN {name:42s} {side:8s} coverage {100 * u['coverage']:.1f}% "
                f"(size {u['mean_set_size']:.2f}) -> weighted {100 * w['coverage']:.1f}% "
                f"(size {w['mean_set_size']:.2f})"
            )
    write_result(result, args.out, start)


if __name__ == "__main__":
    main()
