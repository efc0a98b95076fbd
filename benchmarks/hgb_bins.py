"""Benchmark: gradient boosting with 255 vs 63 bins per feature (fit time, accuracy).

Run on demand (about 2 minutes on 2 cores):

    .venv/bin/python benchmarks/hgb_bins.py [--out benchmarks/results/hgb_bins.json]

scikit-learn 1.8+ uses the sample weights (here: the class weights) when it bins features,
through one weighted-percentile call per bin edge and feature (scikit-learn issue #34304,
fixed by pull request #34248, not yet released in 1.9.1): on these tables that binning was
most of the fit. Fewer bins means fewer calls. Stratified 5-fold, one seed, the registry's
gradient boosting (300 iterations, class-balanced) on mouse5 and human revised, paired folds.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import StratifiedKFold

from benchmark_output import write_result
from ephys2type import load_human, load_mouse
from ephys2type.models.preprocessing import make_pipeline


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/hgb_bins.json"))
    args = parser.parse_args()
    result: dict = {}
    for data in (load_mouse(), load_human(datasets="lee2023")):
        X, y = data.X, data.y.to_numpy()
        per_bins: dict = {}
        for bins in (255, 63):
            accuracy, macro_f1, seconds = [], [], []
            for train, test in StratifiedKFold(5, shuffle=True, random_state=0).split(X, y):
                model = HistGradientBoostingClassifier(
                    class_weight="balanced", max_iter=300, max_bins=bins, random_state=0
                )
                pipe = make_pipeline(model, data.schema)
                t0 = time.perf_counter()
                pipe.fit(X.iloc[train], y[train])
                seconds.append(time.perf_counter() - t0)
                predicted = pipe.predict(X.iloc[test])
                accuracy.append(accuracy_score(y[test], predicted))
                macro_f1.append(f1_score(y[test], predicted, average="macro"))
            per_bins[bins] = {
                "accuracy_per_fold": accuracy,
                "macro_f1_per_fold": macro_f1,
                "accuracy": float(np.mean(accuracy)),
                "macro_f1": float(np.mean(macro_f1)),
                "fit_seconds": float(np.mean(seconds)),
            }
            print(data.species, bins, per_bins[bins]["accuracy"], per_bins[bins]["fit_seconds"])
        result[data.species] = per_bins
    write_result(result, args.out)


if __name__ == "__main__":
    main()
