"""Benchmark: the cells ``predict`` leaves unassigned for an implausible value, and what their
calls would be were those values blanked (the cell then routed to a model without them).

Two new-user trials met it: one value just outside its feature's plausible range, often in
an optional family (a chirp phase, a sag time constant), and the whole cell gets no call. Is
the rest of such a cell good evidence? Run on demand (about 2 minutes per seed on 2 cores):

    .venv/bin/python benchmarks/implausible_values.py [--seeds 3]
        [--out benchmarks/results/implausible_values.json]

Per seed, the deployed random forest (as ``train`` saves it) predicts:

- ``like training``: a stratified 40% of the bundled human cells, trained on the other 60%;
- ``layer-1 cells of another lab``: Chartrand et al.'s layer-1 cells that Lee, Dalley does
  not hold, trained on Lee, Dalley's cells (a shifted batch, where such values are common).

Per split: how many test cells are unassigned for an implausible value; of those, with the
implausible values blanked, how many are called and how many of the calls are right; beside
the accuracy of the split's other calls and the expected accuracy they were given. A
measurement for a decision not yet made; ``predict`` is unchanged.
"""

from __future__ import annotations

import time

import numpy as np
from sklearn.model_selection import train_test_split

from benchmark_output import seeds_and_out, write_result
from ephys2type import load_human
from ephys2type.models.call_table import ABSTAIN
from ephys2type.persist.train import train_model

IMPLAUSIBLE = "implausible value"


def _split(clf, X, truth: np.ndarray) -> dict[str, float]:
    """The split's calls, and those of its implausible cells with the values blanked."""
    table = clf.predict_table(X)
    kinds = table["reason"].astype(str).str.split(":").str[0].to_numpy()
    called = (table["predicted"] != ABSTAIN).to_numpy()
    right = table["predicted"].to_numpy(dtype=object) == truth
    odd = kinds == IMPLAUSIBLE
    out = {
        "cells": len(X),
        "called": int(called.sum()),
        "accuracy_of_calls": float(right[called].mean()),
        "expected_accuracy_of_calls": float(table.loc[called, "expected_accuracy"].mean()),
        "implausible": int(odd.sum()),
    }
    if odd.any():
        cells = X.loc[odd]
        blanked = cells.mask(clf.ranges_.implausible(cells).reindex(columns=cells.columns))
        again = clf.predict_table(blanked)
        now = (again["predicted"] != ABSTAIN).to_numpy()
        good = again["predicted"].to_numpy(dtype=object) == truth[odd]
        features = clf.ranges_.implausible(cells).sum(axis=0)
        out |= {
            "implausible_called_when_blanked": int(now.sum()),
            "implausible_right_when_blanked": int(good[now].sum()),
            "implausible_expected_accuracy": float(again.loc[now, "expected_accuracy"].mean())
            if now.any()
            else float("nan"),
            "values_blanked_per_cell": float(clf.ranges_.implausible(cells).sum(axis=1).mean()),
            "features": {str(k): int(v) for k, v in features[features > 0].items()},
        }
    return out


def _one_seed(seed: int) -> dict[str, dict]:
    both = load_human(datasets="lee2023,chartrand2023_l1")
    train, test = train_test_split(
        np.arange(len(both.X)), test_size=0.4, stratify=both.y, random_state=seed
    )
    clf = train_model(both.subset(both.X.index[train]), "rf", random_state=seed)
    found = {
        "like training": _split(clf, both.X.iloc[test], both.y.iloc[test].to_numpy(dtype=object))
    }
    lee = load_human(datasets="lee2023")
    layer1 = load_human(datasets="chartrand2023_l1")
    other = layer1.X.index.difference(lee.X.index)
    clf = train_model(lee, "rf", random_state=seed)
    found["layer-1 cells of another lab"] = _split(
        clf, layer1.X.loc[other], layer1.y.loc[other].to_numpy(dtype=object)
    )
    for name, row in found.items():
        print(f"seed {seed} {name}: {row}", flush=True)
    return found


def main() -> None:
    args = seeds_and_out(__doc__, "implausible_values").parse_args()
    start = time.perf_counter()
    runs = [_one_seed(seed) for seed in range(args.seeds)]
    summary = {}
    for name in runs[0]:
        rows = [run[name] for run in runs]
        n_odd = sum(r["implausible"] for r in rows)
        n_now = sum(r.get("implausible_called_when_blanked", 0) for r in rows)
        n_good = sum(r.get("implausible_right_when_blanked", 0) for r in rows)
        summary[name] = {
            "cells": sum(r["cells"] for r in rows),
            "implausible": n_odd,
            "called_when_blanked": n_now,
            "right_when_blanked": n_good,
            "accuracy_when_blanked": n_good / n_now if n_now else None,
            "accuracy_of_other_calls": float(np.mean([r["accuracy_of_calls"] for r in rows])),
            "expected_accuracy_of_calls": float(
                np.mean([r["expected_accuracy_of_calls"] for r in rows])
            ),
        }
        print(f"{name}: {summary[name]}", flush=True)
    write_result(
        {
            "benchmark": "implausible_values",
            "seeds": args.seeds,
            "splits": summary,
            "runs": runs,
        },
        args.out,
        start,
    )


if __name__ == "__main__":
    main()
