"""Benchmark: how well is a batch's class mix estimated, and what does a wrong one do to the
shift test? (docs/shifted-batches.md, "Over five splits")

Run on demand (not part of the test suite):

    .venv/bin/python benchmarks/class_mix.py [--species human] [--splits 8] [--out FILE.json]

Per split (stratified 60/40, seeds ``--first-seed`` on; the deployed random forest as
``train`` fits it, trained on the 60%), random and one-class batches of 30, 100 and 300
held-out cells (where the class has that many). For each batch, the L1 distance between its
real class mix and four estimates from its cells' calibrated probabilities: EM (Saerens et
al. 2002) as the batch check runs it (priors: the calibration cells' mix), EM with uniform
priors (the forest is class-balanced), the mean probability, and the confusion-matrix
estimate (BBSE, Lipton et al. 2018) from each serving model's calibration cells. For the
random batches, the shift test's p-value with the EM mix (as shipped), the batch's real mix
and the training mix: the false alarms the mix alone causes.
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import nnls
from sklearn.model_selection import train_test_split

from benchmark_output import write_result
from ephys2type.data.datasets import dataset_names, load_species
from ephys2type.models import batch_shift
from ephys2type.models.batch_cells import canonical_order
from ephys2type.models.priors import adapt_priors
from ephys2type.persist.train import train_model

SIZES = (30, 100, 300)


def _bbse(model, scores) -> np.ndarray:
    """The confusion-matrix estimate: the batch's share of calls per class against each
    serving model's confusion matrix on its calibration cells (non-negative least squares,
    summing to 1)."""
    classes = list(model.classes_)
    k = len(classes)
    truth = np.array([classes.index(c) for c in model.y_train_[model.calibration_]])
    routed = np.flatnonzero(scores.routed)
    calls = np.bincount(scores.proba[routed].argmax(axis=1), minlength=k) / len(routed)
    confusion = np.zeros((k, k))
    members = pd.Series([id(scores.members[i]) for i in routed]).value_counts()
    by_id = {id(scores.members[i]): scores.members[i] for i in routed}
    for key, count in members.items():
        called = np.array([classes.index(c) for c in by_id[key].calibration.predicted])
        for j in range(k):
            mine = truth == j
            confusion[:, j] += (
                count / len(routed) * np.bincount(called[mine], minlength=k) / max(mine.sum(), 1)
            )
    q, _ = nnls(np.vstack([confusion, 100 * np.ones(k)]), np.concatenate([calls, [100.0]]))
    return q / q.sum()


def run(species: str, n_splits: int, first_seed: int) -> dict:
    data = load_species(species, datasets=dataset_names(species))
    rows = []
    for seed in range(first_seed, first_seed + n_splits):
        train, test = train_test_split(
            np.asarray(data.X.index), test_size=0.4, stratify=data.y, random_state=seed
        )
        model = train_model(data.subset(pd.Index(train)), "rf", random_state=seed)
        classes = model.classes_
        priors = np.maximum(model.training_priors(), 1e-6)
        rng = np.random.default_rng(seed)
        y = data.y.loc[test]
        kinds = {"random": pd.Index(test)}
        kinds |= {f"one class: {c}": pd.Index(test)[(y == c).to_numpy()] for c in classes}
        for kind, pool in kinds.items():
            for size in SIZES:
                if len(pool) < size:
                    continue
                cells = pd.Index(rng.choice(pool, size=size, replace=False))
                scores = model.score_cells(data.X.loc[cells])
                routed = scores.routed
                proba = scores.proba[routed]
                real = data.y.loc[cells][routed].value_counts().reindex(classes).fillna(0)
                real = (real / real.sum()).to_numpy(dtype=float)
                estimates = {
                    "em": adapt_priors(proba, priors, tol=1e-4).priors,
                    "em_uniform": adapt_priors(
                        proba, np.full(len(classes), 1 / len(classes)), tol=1e-4
                    ).priors,
                    "mean_probability": proba.mean(axis=0),
                    "bbse": _bbse(model, scores),
                }
                row = {"seed": seed, "kind": kind, "size": size}
                row |= {f"{k}_l1": float(np.abs(v - real).sum()) for k, v in estimates.items()}
                if kind == "random":
                    order = canonical_order(scores)
                    for name, mix in (
                        ("em", estimates["em"]),
                        ("real", real),
                        ("training", priors),
                    ):
                        p, _ = batch_shift._shift_test(
                            model, scores, mix, np.random.default_rng(seed), order
                        )
                        row[f"shift_p_{name}_mix"] = p
                rows.append(row)
        print(f"{species}: split {seed} done", flush=True)
    frame = pd.DataFrame(rows)
    frame["batch"] = np.where(frame["kind"] == "random", "random", "one class")
    summary = []
    for (batch, size), part in frame.groupby(["batch", "size"]):
        entry = {"batch": batch, "size": int(size), "n": len(part)}
        entry |= {c: float(part[c].mean()) for c in part.columns if c.endswith("_l1")}
        for c in [c for c in part.columns if c.startswith("shift_p_")]:
            if part[c].notna().any():
                entry[c.replace("shift_p_", "declared_shifted_")] = float((part[c] < 0.05).mean())
                entry[c.replace("shift_p_", "mean_p_")] = float(part[c].mean())
        summary.append(entry)
        print(entry, flush=True)
    return {
        "species": species,
        "splits": n_splits,
        "first_seed": first_seed,
        "summary": summary,
        "rows": rows,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--species", action="append", help="default: human and mouse")
    parser.add_argument("--splits", type=int, default=8)
    parser.add_argument("--first-seed", type=int, default=100)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/class_mix.json"))
    args = parser.parse_args()
    warnings.simplefilter("ignore")  # scikit-learn's chatter inside forests' threads
    start = time.perf_counter()
    result = {
        "runs": [run(s, args.splits, args.first_seed) for s in args.species or ["human", "mouse"]]
    }
    write_result(result, args.out, start)


if __name__ == "__main__":
    main()
