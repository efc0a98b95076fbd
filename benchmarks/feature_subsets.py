"""Benchmark: cells with only some features, and what the abstention rules leave unassigned.

Run on demand (not part of the test suite; about 15 minutes on 2 cores for both species):

    .venv/bin/python benchmarks/feature_subsets.py [--species mouse human] [--model rf]
        [--draws 20] [--folds 5] [--out FILE.json]

1. Random feature sets (``--draws`` draws of 6-12 features from 2-3 families, one of them
   essential), stratified ``--folds``-fold, first seed: the deployed classifier's calls from
   the model of the features each cell has (``routed``; ``deployed`` with abstention),
   against the model trained on exactly those features (``subset``) and the complete model
   imputing the rest (``imputed``), on identical folds
   (:mod:`ephys2type.evaluation.feature_subsets`).
2. The same with 1-5 features from 1-2 families: where the expected-accuracy floor bites,
   and whether a set's expected accuracy (told to the lab) matches what its cells get.
3. The bundled tables as they are (stratified 5-fold): how many cells each abstention
   rule leaves unassigned (``evaluate --model <model>-deployed``).
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np

from benchmark_output import write_result
from ephys2type import load_human, load_mouse
from ephys2type.evaluation.feature_subsets import draw_feature_sets, run_feature_subsets
from ephys2type.evaluation.runner import run_evaluation
from ephys2type.evaluation.splits import make_plan
from ephys2type.models.cell_classifier import ABSTAIN, MIN_EXPECTED_ACCURACY


def _floor_table(results) -> list[dict]:
    """For floors 0.4 .. 0.8: the share of (set, fold) pairs below it, and the realized
    accuracy of the calls it keeps and of those it drops."""
    e = results
    out = []
    for floor in (0.4, 0.5, 0.6, 0.7, 0.8):
        below = e["expected_accuracy"] < floor
        out.append(
            {
                "floor": floor,
                "share_of_sets_below": float(below.mean()),
                "realized_accuracy_kept": float(e.loc[~below, "realized_accuracy"].mean()),
                "realized_accuracy_dropped": (
                    float(e.loc[below, "realized_accuracy"].mean()) if below.any() else None
                ),
            }
        )
    return out


def run_species(species: str, model: str, draws: int, folds: int, jobs: int) -> dict:
    data = load_mouse() if species == "mouse" else load_human(datasets="lee2023")
    plan = make_plan(data, "strat5x5", seeds=1, n_folds=folds)
    out: dict = {"species": species, "labels": data.label_scheme, "n_cells": len(data)}
    for name, sizes, families, n in (
        ("sets_6_12", (6, 12), (2, 3), draws),
        ("sets_1_5", (1, 5), (1, 2), max(draws // 2, 1)),
    ):
        t0 = time.perf_counter()
        sets = draw_feature_sets(data.schema, n, sizes=sizes, families=families, random_state=0)
        result = run_feature_subsets(data, model, plan, sets, n_jobs=jobs)
        out[name] = {
            "sizes": list(sizes),
            "families": list(families),
            "table": result.table(),
            "summary": result.summary(),
            "floors": _floor_table(result.expected),
            "seconds": time.perf_counter() - t0,
        }
        print(f"{species} {name}: {out[name]['summary']} ({out[name]['seconds']:.0f} s)")
    t0 = time.perf_counter()
    plan5 = make_plan(data, "strat5x5", seeds=1, n_folds=5)
    evaluation = run_evaluation(data, [f"{model}-deployed"], plan5, n_jobs=jobs)
    preds = evaluation.predictions
    unassigned = preds[preds["predicted"] == ABSTAIN]
    kinds = unassigned["reason"].str.split(":").str[0].value_counts()
    called = preds["predicted"] != ABSTAIN
    has_set = preds["set"].fillna("") != ""
    covered = [t in str(s).split("; ") for t, s in zip(preds["true"], preds["set"], strict=True)]
    out["bundled_table"] = {
        "protocol": "stratified 5-fold, first seed",
        "n_cells": len(preds),
        "n_unassigned": len(unassigned),
        "unassigned_per_rule": {str(k): int(v) for k, v in kinds.items()},
        "accuracy_all_cells": float(np.mean(preds["predicted"] == preds["true"])),
        "set_coverage_all_cells": float(np.mean(covered)),
        "set_coverage_called_cells": float(np.mean(np.asarray(covered)[called.to_numpy()])),
        "cells_with_a_set": int(has_set.sum()),
        "accuracy_of_calls": float(
            np.mean(preds.loc[called, "predicted"] == preds.loc[called, "true"])
        ),
        "seconds": time.perf_counter() - t0,
    }
    print(f"{species} bundled table: {out['bundled_table']}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--species", nargs="+", default=["mouse", "human"])
    parser.add_argument("--model", default="rf")
    parser.add_argument("--draws", type=int, default=20)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/feature_subsets.json"))
    args = parser.parse_args()
    warnings.simplefilter("ignore")  # absent columns are the point here
    start = time.perf_counter()
    result = {
        "benchmark": "cells with only some features; abstention (issue 24)",
        "model": args.model,
        "floor": MIN_EXPECTED_ACCURACY,
        "species": {
            s: run_species(s, args.model, args.draws, args.folds, args.jobs) for s in args.species
        },
    }
    write_result(result, args.out, start)


if __name__ == "__main__":
    main()
