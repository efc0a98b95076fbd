"""Benchmark: what imputing a cell's missing features costs its call, against the expected
accuracy ``predict`` states for the model that served it (that of cells with every feature).

Run on demand (human about 1 minute per seed on 2 cores; mouse about half a minute with
``--shares 0.05,0.1``: beyond, many mouse cells fit no saved model and get one fitted on
demand per feature pattern, for hours):

    .venv/bin/python benchmarks/imputed_features.py --species human [--seeds 3]
        [--shares 0.05,0.1,0.15,0.2] [--out benchmarks/results/imputed_features_human.json]

Per seed, the deployed random forest (as ``train`` saves it) is fitted on a stratified 60% of
the bundled cells and predicts the other 40% several times: as they are, and with features
most training cells have blanked in every test cell (so the router sends the cell to a model
that imputes them, as long as it lacks at most a fifth of them):

- ``random k``: k such features drawn at random per cell (5, 10, 15 and 20% of them);
- ``subthreshold``: v_baseline, input_resistance, tau and sag, the four a new user's table
  lacked (a trial: the calls of those cells were 6 points less often right than with them).

Per variant: the share of cells called, the accuracy of the calls (unassigned cells left
out), the mean expected accuracy the calls were given, and the paired difference of the
calls' accuracy from the cells as they are (mean over seeds with a 95% t interval).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from scipy import stats
from sklearn.model_selection import train_test_split

from benchmark_output import write_result
from ephys2type import load_human, load_mouse
from ephys2type.models.call_table import ABSTAIN
from ephys2type.persist.train import train_model

SHARES = (0.05, 0.10, 0.15, 0.20)
SUBTHRESHOLD = ("v_baseline", "input_resistance", "tau", "sag")


def _variants(X, usual: list[str], rng: np.random.Generator, shares=SHARES) -> dict[str, object]:
    """The test cells as they are and with features blanked (module docstring)."""
    out = {"as they are": X}
    for share in shares:
        k = round(share * len(usual))
        blanked = X.copy()
        where = [blanked.columns.get_loc(c) for c in usual]
        values = blanked.to_numpy(copy=True)
        for i in range(len(values)):
            values[i, rng.choice(where, k, replace=False)] = np.nan
        blanked.loc[:, :] = values
        out[f"random {k} ({share:.0%})"] = blanked
    present = [c for c in SUBTHRESHOLD if c in X.columns]
    if present:
        out["subthreshold"] = X.assign(**{c: np.nan for c in present})
    return out


def _one_seed(data, seed: int, shares=SHARES) -> dict[str, dict[str, float]]:
    train, test = train_test_split(
        np.arange(len(data.X)), test_size=0.4, stratify=data.y, random_state=seed
    )
    clf = train_model(data.subset(data.X.index[train]), "rf", random_state=seed)
    usual = [c for c, u in zip(data.X.columns, clf.usually_measured_, strict=True) if u]
    truth = data.y.iloc[test].to_numpy(dtype=object)
    found = {}
    variants = _variants(data.X.iloc[test], usual, np.random.default_rng(seed), shares)
    for name, X in variants.items():
        table = clf.predict_table(X)
        called = (table["predicted"] != ABSTAIN).to_numpy()
        right = table["predicted"].to_numpy(dtype=object) == truth
        found[name] = {
            "called": float(called.mean()),
            "accuracy_of_calls": float(right[called].mean()),
            "expected_accuracy": float(table.loc[called, "expected_accuracy"].mean()),
            "n_imputed_mean": float(table["n_imputed"].mean()),
        }
        print(f"seed {seed} {name}: {found[name]}", flush=True)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--species", choices=("human", "mouse"), default="human")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument(
        "--shares",
        default=",".join(map(str, SHARES)),
        help="shares of the usually measured features blanked at random (comma-separated); "
        "on mouse cells, 15%% and more leave many cells no saved model fits, and one is "
        "fitted on demand per feature pattern (hours)",
    )
    args = parser.parse_args()
    out = args.out or Path(f"benchmarks/results/imputed_features_{args.species}.json")
    start = time.perf_counter()
    data = (
        load_human(datasets="lee2023,chartrand2023_l1") if args.species == "human" else load_mouse()
    )
    shares = tuple(float(v) for v in args.shares.split(","))
    runs = [_one_seed(data, seed, shares) for seed in range(args.seeds)]
    summary = {}
    for name in runs[0]:
        rows = [run[name] for run in runs]
        diff = np.array(
            [
                r["accuracy_of_calls"] - run["as they are"]["accuracy_of_calls"]
                for r, run in zip(rows, runs, strict=True)
            ]
        )
        half = (
            float(stats.t.ppf(0.975, len(diff) - 1) * diff.std(ddof=1) / np.sqrt(len(diff)))
            if len(diff) > 1
            else float("nan")
        )
        summary[name] = {key: float(np.mean([r[key] for r in rows])) for key in rows[0]} | {
            "difference": float(diff.mean()),
            "difference_ci95": [diff.mean() - half, diff.mean() + half],
        }
    write_result(
        {
            "benchmark": "imputed_features",
            "species": args.species,
            "cells": len(data.X),
            "seeds": args.seeds,
            "test_share": 0.4,
            "shares": list(shares),
            "variants": summary,
            "runs": runs,
        },
        out,
        start,
    )


if __name__ == "__main__":
    main()
