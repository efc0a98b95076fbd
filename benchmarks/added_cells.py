"""Benchmark: how much a lab's own labelled cells help (``train --add-table``).

Run on demand (about 20 minutes on 2 cores):

    .venv/bin/python benchmarks/added_cells.py [--draws 3]
        [--out benchmarks/results/added_cells.json]

Three settings where the model meets cells unlike its training cells:

- ``layer-1 cells``: the model trained on Lee, Dalley's cells (those of donors without
  layer-1 cells, as in the leave-dataset-out fold), the lab's cells drawn from the layer-1
  dataset (Lamp5 and Vip);
- ``acute, model of slice culture`` and ``slice culture, model of acute``: Lee, Dalley's
  cells of one recording condition train the model, the lab's cells are of the other.

For each of ``--draws`` draws, 20 cells per class of the lab's kind are set aside as the
pool the added cells come from, and the rest of that kind are the test cells (the same
for every arm of the draw). Arms: the deployed random forest without added cells, and with
5, 10, 20 per class from the pool, counted once (weight 1) or with the default weight of
``train --add-table``. Accuracy counts unassigned cells as wrong; differences are paired
over the draws (t-interval over draws).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from benchmark_output import write_result
from ephys2type import load_human
from ephys2type.data.datasets import added_repeats
from ephys2type.evaluation.splits import make_plan
from ephys2type.persist.train import train_model

PER_CLASS = (5, 10, 20)


def _interval(d: np.ndarray) -> dict:
    mean = float(d.mean())
    if len(d) < 2 or d.std(ddof=1) == 0:
        return {"mean_diff": mean, "ci_low": mean, "ci_high": mean, "p": float("nan")}
    se = d.std(ddof=1) / np.sqrt(len(d))
    half = float(stats.t.ppf(0.975, len(d) - 1) * se)
    p = float(2 * stats.t.sf(abs(mean / se), len(d) - 1))
    return {"mean_diff": mean, "ci_low": mean - half, "ci_high": mean + half, "p": p}


def _fit_score(data, train, added, weight: int, test, seed: int) -> float:
    """Accuracy on ``test`` of the deployed forest trained on ``train`` plus ``added``
    (each counted ``weight`` times); unassigned cells count as wrong."""
    subset = data.subset(train.append(added))
    repeats = [1] * len(train) + [weight] * len(added)
    model = train_model(
        subset, "rf", random_state=seed, family_subsets=False, sample_repeats=repeats
    )
    return float(np.mean(model.predict(data.X.loc[test]) == data.y.loc[test].to_numpy()))


def _setting(data, train: pd.Index, lab: pd.Index, draws: int) -> dict:
    y = data.y
    classes = sorted(set(y.loc[lab]))
    scores: dict[str, list[float]] = {"none": []}
    for k in PER_CLASS:
        scores[f"{k}/class, weight 1"] = []
        scores[f"{k}/class, default weight"] = []
    for draw in range(draws):
        rng = np.random.default_rng(draw)
        pool = {
            c: rng.permutation(lab[(y.loc[lab] == c).to_numpy()])[: max(PER_CLASS)] for c in classes
        }
        test = lab.difference(pd.Index(np.concatenate(list(pool.values()))))

        scores["none"].append(_fit_score(data, train, pd.Index([]), 1, test, draw))
        for k in PER_CLASS:
            added = pd.Index(np.concatenate([pool[c][:k] for c in classes]))
            auto = added_repeats(len(train), len(added))
            scores[f"{k}/class, weight 1"].append(_fit_score(data, train, added, 1, test, draw))
            scores[f"{k}/class, default weight"].append(
                _fit_score(data, train, added, auto, test, draw)
            )
        print(f"  draw {draw}: " + ", ".join(f"{a} {v[-1]:.3f}" for a, v in scores.items()))
    base = np.asarray(scores["none"])
    return {
        "n_training_cells": len(train),
        "n_test_cells": int(len(lab) - len(classes) * max(PER_CLASS)),
        "classes": classes,
        "default_weight": {k: added_repeats(len(train), k * len(classes)) for k in PER_CLASS},
        "accuracy": {a: float(np.mean(v)) for a, v in scores.items()},
        "gain_over_none": {
            a: _interval(np.asarray(v) - base) for a, v in scores.items() if a != "none"
        },
        "per_draw": scores,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/added_cells.json"))
    args = parser.parse_args()
    start = time.perf_counter()
    both = load_human(datasets="lee2023,chartrand2023_l1")
    fold = make_plan(both, "leave-dataset-out", seeds=1).folds[1]  # layer-1 cells held out
    cells = both.X.index
    lee = load_human(datasets="lee2023")
    condition = lee.meta["condition"]
    settings = {
        "layer-1 cells": (both, cells[fold.train], cells[fold.test]),
        "acute, model of slice culture": (
            lee,
            lee.X.index[condition == "culture"],
            lee.X.index[condition == "acute"],
        ),
        "slice culture, model of acute": (
            lee,
            lee.X.index[condition == "acute"],
            lee.X.index[condition == "culture"],
        ),
    }
    result: dict = {"settings": {}}
    for name, (data, train, lab) in settings.items():
        print(name)
        result["settings"][name] = _setting(data, train, lab, args.draws)
        row = result["settings"][name]
        for arm, gain in row["gain_over_none"].items():
            print(
                f"  {arm:28s} {100 * row['accuracy'][arm]:.1f} vs "
                f"{100 * row['accuracy']['none']:.1f}: "
                f"{100 * gain['mean_diff']:+.1f} [{100 * gain['ci_low']:+.1f}, "
                f"{100 * gain['ci_high']:+.1f}]"
            )
    write_result(result, args.out, start)


if __name__ == "__main__":
    main()
