"""Benchmark: does adding the layer-1 cells (Chartrand et al. 2023) help human calls?

Run on demand (about 1 minute on 2 cores):

    .venv/bin/python benchmarks/human_datasets.py [--seeds 3]
        [--out benchmarks/results/human_datasets.json]

Cells: Lee, Dalley et al. 2023 (``lee2023``) and the Allen layer-1 cells of Chartrand et
al. 2023 (``chartrand2023_l1``), revised labels, QC default, a cell in both counted once.
:func:`ephys2type.evaluation.training_sets.compare_training_sets` with the random forest on
donor-grouped stratified 5-fold over the union, per seed: ``lee2023 only`` (today's
evaluation default), ``all datasets`` (train's default), and ``all datasets, common
features`` (the 82 features both tables have: the layer-1 table lacks 11, which are imputed
with one value for all its cells otherwise), each scored on each dataset's test cells (scores
over the classes those cells hold), paired over folds (corrected resampled t).

Also the direction a held-out-dataset evaluation can score: trained on all lee2023 cells,
predicting every layer-1 cell, with the calls per true class.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd

from benchmark_output import write_result
from ephys2type import load_human
from ephys2type.evaluation.splits import make_plan
from ephys2type.evaluation.training_sets import compare_training_sets, write_training_sets
from ephys2type.models.registry import get_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/human_datasets.json"))
    args = parser.parse_args()
    start = time.perf_counter()
    data = load_human(datasets="lee2023,chartrand2023_l1")
    plan = make_plan(data, "group5x5", seeds=args.seeds)
    result = compare_training_sets(data, "rf", plan, n_jobs=2)
    folder = args.out.with_suffix("")
    write_training_sets(result, data, folder)
    for row in result.summary():
        print(
            f"{row['arm']:32s} {row['dataset']:18s} accuracy "
            f"{100 * row['accuracy']['mean']:.1f} [{100 * row['accuracy']['ci_low']:.1f}, "
            f"{100 * row['accuracy']['ci_high']:.1f}]  macro-F1 {100 * row['macro_f1']['mean']:.1f}"
        )
    for c in result.comparisons():
        if c["metric"] in ("accuracy", "macro_f1"):
            print(
                f"{c['a']} - {c['b']} on {c['dataset']}, {c['metric']}: "
                f"{100 * c['mean_diff']:+.2f} [{100 * c['ci_low']:+.2f}, "
                f"{100 * c['ci_high']:+.2f}] p = {c['p']:.3f}"
            )
    dataset = data.meta["dataset"]
    lee, l1 = data.X.index[dataset == "lee2023"], data.X.index[dataset == "chartrand2023_l1"]
    model = get_model("rf").build(data.schema, 0)
    model.fit(data.X.loc[lee], data.y.loc[lee].to_numpy(dtype=object))
    calls = pd.Series(model.predict(data.X.loc[l1]), index=l1)
    truth = data.y.loc[l1]
    held_out = {
        "n_cells": len(l1),
        "accuracy": float((calls == truth).mean()),
        "calls_per_true_class": pd.crosstab(truth, calls).to_dict(orient="index"),
    }
    print("lee2023 -> chartrand2023_l1:", held_out)
    payload = {
        "training_sets": str(folder / "training_sets.json"),
        "summary": result.summary(),
        "comparisons": result.comparisons(),
        "lee2023_to_chartrand2023_l1": held_out,
        "seconds": time.perf_counter() - start,
    }
    write_result(payload, args.out)


if __name__ == "__main__":
    main()
