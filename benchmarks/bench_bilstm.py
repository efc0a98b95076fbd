"""Benchmark: BiLSTM training time on one mouse fold, prediction throughput, BiLSTM/RF ratio.

Targets (issue 4): one mouse fold (about 3,100 training cells) trains in at most 20 s on
2 CPU cores; prediction runs at 20,000 cells/s or faster. Run on demand:

    .venv/bin/python benchmarks/bench_bilstm.py [--out benchmarks/results/bilstm_speed.json]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from benchmark_output import write_result
from ephys2type import load_mouse
from ephys2type.evaluation.runner import fold_seed
from ephys2type.evaluation.splits import make_plan
from ephys2type.models.registry import get_model

TRAIN_TARGET_S = 20.0
PREDICT_TARGET = 20_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/bilstm_speed.json"))
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data = load_mouse()
    fold = make_plan(data, "strat5x5", seeds=1).folds[0]
    X_train, y_train = data.X.iloc[fold.train], data.y.iloc[fold.train]
    result = {"threads": args.threads, "cpus": os.cpu_count(), "n_train": len(fold.train)}
    for name in ("rf", "bilstm-smote", "bilstm"):
        model = get_model(name).build(data.schema, fold_seed(fold.seed, fold.fold))
        t0 = time.perf_counter()
        model.fit(X_train, y_train)
        fit_s = time.perf_counter() - t0
        # throughput on 100,000 cells (the test fold resampled), in one call
        big = pd.concat([data.X.iloc[fold.test]] * int(np.ceil(100_000 / len(fold.test))))
        big = big.iloc[:100_000]
        model.predict_proba(big.iloc[:1000])  # warm-up
        t0 = time.perf_counter()
        model.predict_proba(big)
        rate = len(big) / (time.perf_counter() - t0)
        entry = {"fit_seconds": fit_s, "predict_cells_per_second": rate}
        if name != "rf":
            entry["epochs"] = int(model[-1].n_epochs_)
            entry["meets_train_target"] = fit_s <= TRAIN_TARGET_S
            entry["meets_predict_target"] = rate >= PREDICT_TARGET
        result[name] = entry
        print(name, {k: round(v, 2) if isinstance(v, float) else v for k, v in entry.items()})
    for name in ("bilstm-smote", "bilstm"):
        result[name]["train_time_ratio_vs_rf"] = (
            result[name]["fit_seconds"] / result["rf"]["fit_seconds"]
        )
    write_result(result, args.out)


if __name__ == "__main__":
    main()
