"""Benchmark: re-estimating a batch's class proportions (Saerens et al. 2002) before calling.

Run on demand (about 9 minutes on 2 cores):

    .venv/bin/python benchmarks/prior_shift.py [--seeds 3]
        [--out benchmarks/results/prior_shift.json]

For each deployed model (random forest, gradient boosting, logistic regression as ``train``
saves them) the same fits predict each batch twice: as deployed, and with
``adapt_priors`` (``<model>-deployed-adapt``); the batch is each fold's test cells. Batches:

- ``layer-1 cells, model of both datasets``: donor-grouped 5-fold over Lee, Dalley and the
  layer-1 cells, each fold's test batch kept to its layer-1 cells (mostly Lamp5 and Vip; the
  case of a lab predicting a layer-1 batch with ``train``'s default model);
- ``layer-1 cells, held-out dataset``: trained on Lee, Dalley only (the leave-dataset-out
  fold; the class mix and the cells' kind both changed);
- ``slice culture -> acute`` and ``acute -> slice culture`` (Lee, Dalley): another recording
  condition, similar class mix;
- ``control``: stratified 5-fold on Lee, Dalley (batches like the training cells).

Accuracy counts unassigned cells as wrong; differences are paired over the folds and seeds.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from benchmark_output import write_result
from ephys2type import load_human
from ephys2type.evaluation.runner import run_evaluation
from ephys2type.evaluation.splits import Fold, SplitPlan, make_plan

MODELS = ("rf", "hgb", "logreg")


def _restricted(plan: SplitPlan, keep: np.ndarray) -> SplitPlan:
    """The plan with each test fold kept to the cells ``keep`` marks."""
    folds = tuple(Fold(f.seed, f.fold, f.train, f.test[keep[f.test]]) for f in plan.folds)
    return SplitPlan(plan.protocol, plan.seeds, plan.n_folds, plan.cells, folds, plan.dataset)


def _one_split(data, train: np.ndarray, test: np.ndarray, seeds: int, name: str) -> SplitPlan:
    folds = tuple(Fold(seed, 0, train, test) for seed in range(seeds))
    return SplitPlan(name, tuple(range(seeds)), 1, tuple(map(str, data.X.index)), folds, {})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/prior_shift.json"))
    args = parser.parse_args()
    start = time.perf_counter()
    both = load_human(datasets="lee2023,chartrand2023_l1")
    lee = load_human(datasets="lee2023")
    l1 = (both.meta["dataset"] == "chartrand2023_l1").to_numpy()
    condition = lee.meta["condition"].to_numpy()
    batches = {
        "layer-1 cells, model of both datasets": (
            both,
            _restricted(make_plan(both, "group5x5", seeds=args.seeds), l1),
        ),
        "layer-1 cells, held-out dataset": (
            both,
            _restricted(make_plan(both, "leave-dataset-out", seeds=args.seeds), l1),
        ),
        **{
            f"{a} -> {b}": (
                lee,
                _one_split(
                    lee,
                    np.flatnonzero(condition == c),
                    np.flatnonzero(condition == d),
                    args.seeds,
                    f"{c}->{d}",
                ),
            )
            for a, c, b, d in (
                ("slice culture", "culture", "acute", "acute"),
                ("acute", "acute", "slice culture", "culture"),
            )
        },
        "control (stratified 5-fold, Lee, Dalley)": (lee, make_plan(lee, "strat5x5", seeds=1)),
    }
    result: dict = {"batches": {}}
    for name, (data, plan) in batches.items():
        plan = SplitPlan(
            plan.protocol,
            plan.seeds,
            plan.n_folds,
            plan.cells,
            tuple(f for f in plan.folds if len(f.test)),
            plan.dataset,
        )
        models = [m + s for m in MODELS for s in ("-deployed", "-deployed-adapt")]
        evaluation = run_evaluation(data, models, plan, n_jobs=2)
        rows = {}
        for m in MODELS:
            a, b = f"{m}-deployed-adapt", f"{m}-deployed"
            rows[m] = {
                "deployed": float(np.mean(evaluation.scores(b, "accuracy"))),
                "adapted": float(np.mean(evaluation.scores(a, "accuracy"))),
                "deployed_macro_f1": float(np.mean(evaluation.scores(b, "macro_f1"))),
                "adapted_macro_f1": float(np.mean(evaluation.scores(a, "macro_f1"))),
                "accuracy_difference": evaluation.compare(a, b, "accuracy"),
                "macro_f1_difference": evaluation.compare(a, b, "macro_f1"),
                "n_test_cells": float(evaluation.n_test),
                "n_fits": evaluation.n_fits(b),
            }
            d = rows[m]["accuracy_difference"]
            print(
                f"{name:45s} {m:7s} deployed {100 * rows[m]['deployed']:.1f} adapted "
                f"{100 * rows[m]['adapted']:.1f}  diff {100 * d['mean_diff']:+.2f} "
                f"[{100 * d['ci_low']:+.2f}, {100 * d['ci_high']:+.2f}] p = {d['p']:.3f}"
            )
        result["batches"][name] = rows
    write_result(result, args.out, start)


if __name__ == "__main__":
    main()
