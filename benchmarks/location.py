"""Benchmark: does where a cell sits (its layer, or normalized depth) help call it?

Run on demand (about 3 minutes on 2 cores):

    .venv/bin/python benchmarks/location.py [--seeds 3] [--out benchmarks/results/location.json]

Every Patch-seq cell has a layer, and the bundled metadata carry it (human:
``Cortical_layer`` of Lee, Dalley and the layer of the layer-1 table's ``roi``; mouse: the
layer of ``structure``). The random forest of the registry is trained with and without it as
one more feature (the layer as a number, as ``train --location`` adds it:
:func:`ephys2type.data.location.layer_number`), on the same folds:

- human, both datasets, donor-grouped 5-fold: scored on each dataset's test cells;
- human, the layer-1 cells held out (trained on Lee, Dalley's cells of other donors);
- mouse, stratified 5-fold (in distribution).

Differences are paired over folds (corrected resampled t).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.ensemble import RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline

from benchmark_output import write_result
from ephys2type import load_human, load_mouse
from ephys2type.data.location import layer_number
from ephys2type.evaluation.splits import make_plan
from ephys2type.evaluation.stats import paired_test


def _forest(seed: int):
    # the registry's forest (500 trees, class-balanced) behind a median imputer: trees need
    # no scaling, and the location column is outside the schemas
    return make_pipeline(
        SimpleImputer(strategy="median"),
        RandomForestClassifier(
            n_estimators=500, class_weight="balanced", n_jobs=2, random_state=seed
        ),
    )


def _scores(data, location: pd.Series, plan, groups: pd.Series | None) -> dict:
    X = data.X.to_numpy(dtype=float)
    Xl = np.column_stack([X, location.reindex(data.X.index).to_numpy(dtype=float)])
    y = data.y.to_numpy(dtype=object)
    rows = []
    for fold in plan.folds:
        seed = fold.seed * 100 + fold.fold
        for arm, matrix in (("without", X), ("with location", Xl)):
            model = _forest(seed).fit(matrix[fold.train], y[fold.train])
            right = model.predict(matrix[fold.test]) == y[fold.test]
            parts = (
                {"all": right}
                if groups is None
                else {
                    g: right[(groups.to_numpy()[fold.test] == g)]
                    for g in pd.unique(groups.to_numpy()[fold.test])
                }
            )
            for g, r in parts.items():
                rows.append(
                    {"arm": arm, "group": g, "seed": fold.seed, "fold": fold.fold,
                     "n_train": len(fold.train), "n_test": len(r), "accuracy": float(r.mean())}
                )  # fmt: skip
    frame = pd.DataFrame(rows)
    out = {}
    for g, part in frame.groupby("group"):
        a = part[part["arm"] == "with location"].sort_values(["seed", "fold"])
        b = part[part["arm"] == "without"].sort_values(["seed", "fold"])
        out[str(g)] = {
            "without": float(b["accuracy"].mean()),
            "with_location": float(a["accuracy"].mean()),
            "difference": paired_test(
                a["accuracy"].to_numpy(),
                b["accuracy"].to_numpy(),
                float(a["n_train"].mean()),
                float(a["n_test"].mean()),
            ),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/location.json"))
    args = parser.parse_args()
    start = time.perf_counter()
    both = load_human(datasets="lee2023,chartrand2023_l1")
    layer = layer_number(both.meta["layer"].astype(object))
    mouse = load_mouse()
    mouse_layer = layer_number(mouse.meta["structure"].astype(object))
    result = {
        "human, donor-grouped 5-fold over both datasets": _scores(
            both, layer, make_plan(both, "group5x5", seeds=args.seeds), both.meta["dataset"]
        ),
        "human, layer-1 cells held out": _scores(
            both,
            layer,
            make_plan(both, "leave-dataset-out", seeds=args.seeds),
            both.meta["dataset"],
        ),
        "mouse, stratified 5-fold": _scores(
            mouse, mouse_layer, make_plan(mouse, "strat5x5", seeds=1), None
        ),
        "missing location": {
            "human": float(layer.isna().mean()),
            "mouse": float(mouse_layer.isna().mean()),
        },
    }
    for setting, groups in result.items():
        if setting == "missing location":
            continue
        for g, r in groups.items():
            d = r["difference"]
            print(
                f"{setting:48s} {g:18s} without {100 * r['without']:.1f} with "
                f"{100 * r['with_location']:.1f}: {100 * d['mean_diff']:+.2f} "
                f"[{100 * d['ci_low']:+.2f}, {100 * d['ci_high']:+.2f}] p = {d['p']:.3f}"
            )
    write_result(result, args.out, start)


if __name__ == "__main__":
    main()
