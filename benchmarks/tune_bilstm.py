"""Choose BiLSTM hyperparameters without looking at a fold's own test cells.

For each candidate configuration and each of the 5 folds of seed 0, the *training* part of
the fold is split again (stratified 80/20): the model trains on the 80% (taking its own
early-stopping split from it) and is scored on the 20% "tuning" cells. A fold's test cells
are never used for it; but a tuning cell of one fold is a test cell of another, so the
selection is not nested in the evaluation (docs/methods.md says how many cells that is). The
configuration with the best mean tuning macro-F1, averaged over mouse (mouse5) and
human (revised), becomes the default in ephys2type.bilstm.

    .venv/bin/python benchmarks/tune_bilstm.py [--out benchmarks/results/tune_bilstm.json]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import f1_score
from sklearn.model_selection import train_test_split

from ephys2type import load_human, load_mouse
from ephys2type.evaluation.splits import make_plan
from ephys2type.files import dumps_json
from ephys2type.models.bilstm.estimator import bilstm_pipeline

CONFIGS = {
    "A lr3e-3 w32 d0.1": {"lr": 3e-3, "width": 32, "lstm_size": 32, "dropout": 0.1},
    "B lr1e-3 w32 d0.1": {"lr": 1e-3, "width": 32, "lstm_size": 32, "dropout": 0.1},
    "C lr1e-3 w64 d0.2": {"lr": 1e-3, "width": 64, "lstm_size": 64, "dropout": 0.2},
    "D lr1e-3 w32 d0.3 p25": {
        "lr": 1e-3,
        "width": 32,
        "lstm_size": 32,
        "dropout": 0.3,
        "patience": 25,
    },
    "E lr3e-3 w64 d0.3": {"lr": 3e-3, "width": 64, "lstm_size": 64, "dropout": 0.3},
    "F lr1e-3 w64 d0.3 wd0.05": {
        "lr": 1e-3,
        "width": 64,
        "lstm_size": 64,
        "dropout": 0.3,
        "weight_decay": 0.05,
    },
}


def tune(data, configs) -> pd.DataFrame:
    plan = make_plan(data, "strat5x5", seeds=[0])
    X, y = data.X, data.y.to_numpy()
    rows = []
    for name, params in configs.items():
        for fold in plan.folds:
            fit_idx, tune_idx = train_test_split(
                fold.train, test_size=0.2, stratify=y[fold.train], random_state=fold.fold
            )
            t0 = time.perf_counter()
            pipe = bilstm_pipeline(data.schema, fold.fold, resample="smote", **params)
            pipe.fit(X.iloc[fit_idx], y[fit_idx])
            pred = pipe.predict(X.iloc[tune_idx])
            rows.append(
                {
                    "species": data.species,
                    "config": name,
                    "fold": fold.fold,
                    "tuning_macro_f1": f1_score(y[tune_idx], pred, average="macro"),
                    "tuning_accuracy": float(np.mean(pred == y[tune_idx])),
                    "epochs": pipe[-1].n_epochs_,
                    "seconds": time.perf_counter() - t0,
                }
            )
            print(rows[-1], flush=True)
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/tune_bilstm.json"))
    args = parser.parse_args()
    results = pd.concat(
        [tune(load_mouse(), CONFIGS), tune(load_human(datasets="lee2023"), CONFIGS)]
    )
    table = (
        results.groupby(["config", "species"])[
            ["tuning_macro_f1", "tuning_accuracy", "epochs", "seconds"]
        ]
        .mean()
        .unstack()
    )
    table[("mean_macro_f1", "both")] = table["tuning_macro_f1"].mean(axis=1)
    table = table.sort_values(("mean_macro_f1", "both"), ascending=False)
    print(table.round(4).to_string())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        dumps_json(
            {
                "protocol": "seed-0 folds; training part split 80/20 into fit/tuning cells; "
                "test folds never used",
                "configs": CONFIGS,
                "per_fold": results.to_dict(orient="records"),
                "ranking": [str(c) for c in table.index],
                "best": str(table.index[0]),
            }
        )
    )


if __name__ == "__main__":
    main()
