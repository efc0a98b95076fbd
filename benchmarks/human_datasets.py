"""Benchmark: does adding the layer-1 cells (Chartrand et al. 2023) help human calls?

Run on demand (about 5 minutes on 2 cores):

    .venv/bin/python benchmarks/human_datasets.py [--seeds 3]
        [--out benchmarks/results/human_datasets.json]

Cells: Lee, Dalley et al. 2023 (``lee2023``) and the Allen layer-1 cells of Chartrand et
al. 2023 (``chartrand2023_l1``), revised labels, QC default, a cell in both counted once.
Folds: donor-grouped stratified 5-fold over the union (a donor's cells, in either dataset,
never on both sides), per seed. In every fold three random forests (the registry's) are
trained and each is scored on the test cells of each dataset separately:

- ``lee_only``: the training cells of lee2023 only (today's human default);
- ``both``: the training cells of both datasets;
- ``both_common``: both datasets, on the 82 features both tables have. The layer-1 table
  lacks 11 of the 93 human features, so in ``both`` those are imputed for every layer-1
  cell with one value: a pattern a model could read as "layer-1 table" rather than as
  physiology. If ``both`` beats ``both_common`` on layer-1 cells, that pattern is suspect.

Also the leave-dataset-out direction that can be scored: trained on all lee2023 cells,
predicting every layer-1 cell (the classes that table holds: Lamp5 and Vip), with the
calls per true class. Differences are paired over folds (corrected resampled t).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import StratifiedGroupKFold

from ephys2type import load_human
from ephys2type.evaluation.stats import paired_test, summarize
from ephys2type.files import atomic_write_text, dumps_json
from ephys2type.models.registry import get_model

DATASETS = ("lee2023", "chartrand2023_l1")
ARMS = ("lee_only", "both", "both_common")


def _fit_predict(data, train: pd.Index, test: pd.Index, columns: list[str], seed: int):
    schema = data.schema.select(columns)
    model = get_model("rf").build(schema, seed)
    model.fit(data.X.loc[train, schema.columns], data.y.loc[train].to_numpy(dtype=object))
    return pd.Series(model.predict(data.X.loc[test, schema.columns]), index=test)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/human_datasets.json"))
    args = parser.parse_args()
    start = time.perf_counter()
    data = load_human(datasets=",".join(DATASETS))
    l1_only = load_human(labels=None, qc=None, datasets="chartrand2023_l1")
    common = [c for c in data.schema.columns if l1_only.X[c].notna().any()]
    dataset = data.meta["dataset"]
    y = data.y.to_numpy(dtype=object)
    scores: dict = {arm: {d: {"accuracy": [], "macro_f1": []} for d in DATASETS} for arm in ARMS}
    n_test = {d: [] for d in DATASETS}
    n_train = []
    for seed in range(args.seeds):
        splitter = StratifiedGroupKFold(5, shuffle=True, random_state=seed)
        for k, (tr, te) in enumerate(splitter.split(data.X, y, data.groups.to_numpy())):
            train, test = data.X.index[tr], data.X.index[te]
            n_train.append(len(train))
            calls = {
                "lee_only": _fit_predict(
                    data, train[dataset.loc[train] == "lee2023"], test, data.schema.columns, seed
                ),
                "both": _fit_predict(data, train, test, data.schema.columns, seed),
                "both_common": _fit_predict(data, train, test, common, seed),
            }
            for d in DATASETS:
                cells = test[dataset.loc[test] == d]
                n_test[d].append(len(cells))
                truth = data.y.loc[cells]
                for arm in ARMS:
                    got = calls[arm].loc[cells]
                    scores[arm][d]["accuracy"].append(accuracy_score(truth, got))
                    scores[arm][d]["macro_f1"].append(f1_score(truth, got, average="macro"))
            print(
                f"seed {seed} fold {k}: "
                + ", ".join(
                    f"{arm} L1 {scores[arm]['chartrand2023_l1']['accuracy'][-1]:.2f}"
                    for arm in ARMS
                )
            )
    result: dict = {
        "cells": {d: int((dataset == d).sum()) for d in DATASETS},
        "class_counts": {d: data.y[dataset == d].value_counts().to_dict() for d in DATASETS},
        "common_features": len(common),
        "protocol": f"donor-grouped stratified 5-fold x {args.seeds} seeds over the union",
        "arms": {},
        "paired": {},
    }
    mean_train = float(np.mean(n_train))
    for arm in ARMS:
        result["arms"][arm] = {
            d: {
                metric: summarize(values, mean_train, float(np.mean(n_test[d])))
                for metric, values in scores[arm][d].items()
            }
            for d in DATASETS
        }
    for a, b in (("both", "lee_only"), ("both_common", "lee_only"), ("both", "both_common")):
        result["paired"][f"{a} - {b}"] = {
            d: {
                metric: paired_test(
                    scores[a][d][metric],
                    scores[b][d][metric],
                    mean_train,
                    float(np.mean(n_test[d])),
                )
                for metric in ("accuracy", "macro_f1")
            }
            for d in DATASETS
        }
    # leave-dataset-out: all lee2023 cells -> every layer-1 cell
    lee_cells = data.X.index[dataset == "lee2023"]
    l1_cells = data.X.index[dataset == "chartrand2023_l1"]
    calls = _fit_predict(data, lee_cells, l1_cells, data.schema.columns, 0)
    truth = data.y.loc[l1_cells]
    result["lee2023_to_chartrand2023_l1"] = {
        "n_cells": len(l1_cells),
        "accuracy": float(accuracy_score(truth, calls)),
        "calls_per_true_class": pd.crosstab(truth, calls).to_dict(orient="index"),
    }
    result["seconds"] = time.perf_counter() - start
    for arm in ARMS:
        row = result["arms"][arm]
        print(
            arm,
            {d: round(100 * row[d]["accuracy"]["mean"], 1) for d in DATASETS},
            {d: round(100 * row[d]["macro_f1"]["mean"], 1) for d in DATASETS},
        )
    for key, row in result["paired"].items():
        print(
            key,
            {
                d: (
                    round(100 * row[d]["accuracy"]["mean_diff"], 2),
                    round(row[d]["accuracy"]["p"], 3),
                )
                for d in DATASETS
            },
        )
    print("lee2023 -> L1:", result["lee2023_to_chartrand2023_l1"])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out, dumps_json(result), overwrite=True)
    print(f"written to {args.out} ({result['seconds']:.0f} s)")


if __name__ == "__main__":
    main()
