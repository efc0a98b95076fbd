"""Benchmark: should the expected-accuracy floor judge a feature set by its point estimate or
by its interval?

A deployed classifier leaves a cell unassigned ("low expected accuracy") when the feature-set
model that reads it is expected to be right less than 60% of the time (``min_expected_accuracy``),
judged today on the point estimate: the accuracy of its calibration cells. On a lab's own
small table that estimate rests on a dozen or two cells. A new-user trial met it: one fold's
model stated 56.5% on about 22 calibration cells, so all 25 of its test cells were refused,
while 82.6% of them were right. The alternative: refuse only when the whole 95% (Wilson)
interval of the expected accuracy lies below the floor, i.e. when the evidence says the model
is below it. Run on demand (about 10 minutes on 2 cores):

    .venv/bin/python benchmarks/accuracy_floor.py [--seeds 3]
        [--out benchmarks/results/accuracy_floor.json]

Tables, per species (human: Lee, Dalley and the layer-1 cells of Chartrand et al., the
default human model's cells; mouse: Gouwens et al.): ``--seeds`` stratified draws of 60, 100
and 200 cells (classes left with fewer than 5 cells dropped, as a lab's table would be), each
with all its features and with 8 features drawn at random (the others missing, a lab that
measured little); and the whole table once, both ways. Each table is cross-validated (5
stratified folds): the deployed random forest as ``train`` fits it, with the floor off; both
rules are then applied to the same calls (the floor changes no probability, only which cells
are called), so they are compared on identical fits. For time, its forests have 100 trees
(``train``'s have 500; a fit of eight feature-set models on 48 cells took 19 s) and fit on one
thread each: the rules differ in how they read the calibration cells, which the trees do not
change.

The rule to ship, written 2026-12-08 before the first run: the interval rule becomes the
default if (1) pooled over the small tables (60-200 cells, both species, both feature
conditions), the accuracy with unassigned cells counted wrong rises by at least 1 point;
(2) the cells it calls that the point rule refused are right at least 60% of the time (the
floor's own promise), pooled and in each species; (3) the accuracy of the calls falls by at
most 2 points on the small tables and by at most 0.5 points on the whole tables. Otherwise
the point rule stays and this result is reported.
"""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedKFold

from benchmark_output import seeds_and_out, write_result
from ephys2type import load_human, load_mouse
from ephys2type.limits import RunLimits, limited
from ephys2type.models.call_table import ABSTAIN
from ephys2type.persist.train import train_model

FLOOR = 0.6
SIZES = (60, 100, 200)
N_FEATURES = 8
FOLDS = 5
TREES = 100


def _draw(data, size: int | None, features: str, seed: int):
    """A lab-like table: ``size`` cells drawn stratified (None: all), classes with fewer
    than 5 cells dropped; ``features`` "all" or "8 random" (the others set missing)."""
    rng = np.random.default_rng(seed)
    index = data.X.index
    if size is not None:
        shares = data.y.value_counts(normalize=True)
        picks = []
        for label, share in shares.items():
            cells = index[(data.y == label).to_numpy()]
            n = min(len(cells), round(share * size))
            picks.extend(rng.choice(cells, size=n, replace=False))
        index = pd.Index(picks)
    counts = data.y.loc[index].value_counts()
    index = index[data.y.loc[index].isin(counts[counts >= FOLDS].index).to_numpy()]
    sub = data.subset(index)
    if features != "all":
        keep = rng.choice(sub.X.columns, size=N_FEATURES, replace=False)
        X = sub.X.copy()
        X.loc[:, ~X.columns.isin(keep)] = np.nan
        sub = replace(sub, X=X)
    return sub


def _cross_validated(data, seed: int) -> pd.DataFrame:
    """Per test cell: its call with the floor off, the truth, the expected accuracy and its
    interval's high end, and the reason of a cell left unassigned."""
    rows = []
    folds = StratifiedKFold(FOLDS, shuffle=True, random_state=seed)
    for train, test in folds.split(data.X, data.y):
        clf = train_model(data.subset(data.X.index[train]), "rf", random_state=seed)
        clf.set_params(min_expected_accuracy=0.0)
        table = clf.predict_table(data.X.iloc[test])
        rows.append(
            pd.DataFrame(
                {
                    "predicted": table["predicted"].to_numpy(dtype=object),
                    "true": data.y.iloc[test].to_numpy(dtype=object),
                    "expected": table["expected_accuracy"].to_numpy(dtype=float),
                    "high": table["expected_accuracy_high"].to_numpy(dtype=float),
                }
            )
        )
    return pd.concat(rows, ignore_index=True)


def _rules(cells: pd.DataFrame) -> dict[str, float]:
    """Both rules on the same calls: share called, accuracy (unassigned wrong), accuracy of
    the calls; the cells the interval rule calls and the point rule refuses, and how many of
    them are right."""
    base = (cells["predicted"] != ABSTAIN).to_numpy()
    right = (cells["predicted"] == cells["true"]).to_numpy()
    point = base & ~(cells["expected"].to_numpy() < FLOOR)
    interval = base & ~(cells["high"].to_numpy() < FLOOR)
    out: dict[str, float] = {"cells": len(cells)}
    for name, called in (("point", point), ("interval", interval)):
        out[f"{name}_called"] = int(called.sum())
        out[f"{name}_right"] = int((right & called).sum())
    newly = interval & ~point
    out["newly_called"] = int(newly.sum())
    out["newly_right"] = int((right & newly).sum())
    return out


def main() -> None:
    args = seeds_and_out(__doc__, "accuracy_floor").parse_args()
    start = time.perf_counter()
    species = {
        "human": load_human(datasets="lee2023,chartrand2023_l1"),
        "mouse": load_mouse(),
    }
    rows = []
    with limited(RunLimits(max_trees=TREES, max_jobs=1)):
        _run(species, args.seeds, rows)
    write_result({"floor": FLOOR, "folds": FOLDS, "trees": TREES, "rows": rows}, args.out, start)


def _run(species: dict, n_seeds: int, rows: list) -> None:
    for name, data in species.items():
        for features in ("all", f"{N_FEATURES} random"):
            for size in (*SIZES, None):
                seeds = range(n_seeds) if size is not None else range(1)
                for seed in seeds:
                    t0 = time.perf_counter()
                    table = _draw(data, size, features, seed)
                    found = _rules(_cross_validated(table, seed))
                    rows.append(
                        {
                            "species": name,
                            "features": features,
                            "size": "whole" if size is None else size,
                            "seed": seed,
                            **found,
                        }
                    )
                    print(
                        f"{name} {features} {size or 'whole'} seed {seed}: "
                        f"point {found['point_called']}/{found['cells']} called, "
                        f"interval {found['interval_called']}, newly "
                        f"{found['newly_right']}/{found['newly_called']} right "
                        f"({time.perf_counter() - t0:.0f} s)",
                        flush=True,
                    )


if __name__ == "__main__":
    main()
