"""Benchmark: class-balanced random forest over a full 5x5 mouse plan (target < 2 min, 2 cores).

Run on demand (not part of the test suite):

    .venv/bin/python benchmarks/bench_rf.py [--out benchmarks/results/rf_mouse.json]

Writes wall time, per-fit times and the scores to a JSON file and prints a summary.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

from ephys2type import load_mouse
from ephys2type.evaluation.runner import run_evaluation
from ephys2type.evaluation.splits import make_plan
from ephys2type.files import dumps_json

TARGET_SECONDS = 120.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/rf_mouse.json"))
    args = parser.parse_args()
    data = load_mouse()
    plan = make_plan(data, "strat5x5", seeds=5, n_folds=5)
    start = time.perf_counter()
    evaluation = run_evaluation(data, ["rf"], plan)
    wall = time.perf_counter() - start
    summary = evaluation.summary("rf")
    fits = evaluation.fold_metrics
    result = {
        "benchmark": "rf over a 5x5 stratified plan, mouse5, QC default",
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "processor": platform.processor() or platform.machine(),
        },
        "n_cells": len(data),
        "n_fits": len(plan.folds),
        "wall_seconds": wall,
        "target_seconds": TARGET_SECONDS,
        "meets_target": wall < TARGET_SECONDS,
        "fit_seconds_mean": float(fits["fit_seconds"].mean()),
        "predict_seconds_mean": float(fits["predict_seconds"].mean()),
        "accuracy": summary["accuracy"],
        "macro_f1": summary["macro_f1"],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(dumps_json(result))
    print(
        json.dumps(
            {
                k: result[k]
                for k in ("n_cells", "n_fits", "wall_seconds", "meets_target", "fit_seconds_mean")
            },
            indent=2,
        )
    )
    print(f"accuracy {100 * summary['accuracy']['mean']:.2f}%, written to {args.out}")


if __name__ == "__main__":
    main()
