"""Benchmark: trees in the random forest vs accuracy and model folder size.

Run on demand (about 6 minutes on 2 cores):

    .venv/bin/python benchmarks/forest_size.py [--seeds 3] [--trees 50 100 200 300 500]
        [--out benchmarks/results/forest_size.json]

For each species (mouse5 labels, human revised), the registry's class-balanced forest with
its trees capped (``ephys2type.limits``, the cap the tests use) is scored on one stratified
5-fold plan x seeds, every tree count on the same folds, and compared with the shipped 500
trees (paired corrected t-test on accuracy and macro-F1). Each forest is also trained as
``ephys2type train`` trains it (family-subset members included) and saved: the folder's size
in MB. Answers: how small can a forest folder get before it loses accuracy.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from benchmark_output import folder_mb, write_result
from ephys2type import load_human, load_mouse
from ephys2type.evaluation.runner import run_evaluation
from ephys2type.evaluation.splits import make_plan
from ephys2type.limits import RunLimits, limited
from ephys2type.models.registry import get_model
from ephys2type.persist.format import save_model
from ephys2type.persist.train import train_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--trees", type=int, nargs="+", default=[50, 100, 200, 300, 500])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/forest_size.json"))
    args = parser.parse_args()
    shipped = max(args.trees)
    result: dict = {"seeds": args.seeds, "folds": 5, "shipped_trees": shipped, "species": {}}
    for data in (load_mouse(), load_human(datasets="lee2023")):
        plan = make_plan(data, "strat5x5", seeds=args.seeds, n_folds=5)
        evaluation = None
        sizes: dict[int, float] = {}
        train_seconds: dict[int, float] = {}
        for trees in args.trees:
            spec = replace(get_model("rf").with_params(n_estimators=trees), name=f"rf-{trees}")
            with limited(RunLimits(max_trees=trees)):
                one = run_evaluation(data, [spec], plan, n_jobs=2)
                start = time.perf_counter()
                trained = train_model(data, "rf", random_state=0)
                train_seconds[trees] = time.perf_counter() - start
            with tempfile.TemporaryDirectory() as tmp:
                sizes[trees] = folder_mb(save_model(trained, Path(tmp) / "rf"))
            evaluation = one if evaluation is None else evaluation.combine(one)
        assert evaluation is not None
        rows = []
        for trees in args.trees:
            name = f"rf-{trees}"
            summary = evaluation.summary(name)
            row = {
                "trees": trees,
                "folder_mb": sizes[trees],
                "train_seconds": train_seconds[trees],
                "accuracy": summary["accuracy"],
                "macro_f1": summary["macro_f1"],
            }
            if trees != shipped:
                row["accuracy_vs_shipped"] = evaluation.compare(name, f"rf-{shipped}", "accuracy")
                row["macro_f1_vs_shipped"] = evaluation.compare(name, f"rf-{shipped}", "macro_f1")
            rows.append(row)
            gain = row.get("accuracy_vs_shipped")
            print(
                f"{data.species} {trees:4d} trees: {sizes[trees]:6.1f} MB, accuracy "
                f"{100 * summary['accuracy']['mean']:.2f}"
                + (
                    f" ({100 * gain['mean_diff']:+.2f} [{100 * gain['ci_low']:+.2f}, "
                    f"{100 * gain['ci_high']:+.2f}] vs {shipped}, p = {gain['p']:.2f})"
                    if gain
                    else ""
                )
            )
        result["species"][data.species] = {"n_cells": len(data), "rows": rows}
    write_result(result, args.out)


if __name__ == "__main__":
    main()
