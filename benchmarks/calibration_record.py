"""Benchmark: would a larger calibration record make the accuracy estimate better?

Run on demand (not part of the test suite):

    .venv/bin/python benchmarks/calibration_record.py --part human --splits 5
    .venv/bin/python benchmarks/calibration_record.py --part mouse --splits 5
    .venv/bin/python benchmarks/calibration_record.py --part shifted

The batch check's accuracy estimate (ATC) and each call's stated accuracy rest on the
calibration cells alone: 469 mouse and 105 human cells of a model trained on 60% of the
bundled cells. The variant measured here makes every training cell part of the record: the
calibration cells keep the member's own calls, and each of four stratified quarters of the
other (proper) cells is called by a model of the same feature set fitted on the training cells
less that quarter (the same number of cells as the member), its probabilities calibrated with
the member's temperature. Every member (feature set) gets its own record; the estimate is then
``estimate_accuracy`` on a copy of the classifier whose calibration cells are all its training
cells, and the stated accuracy the record's accuracy. Not covered: repeated cells
(``sample_repeats``), two-level labels (the record is of the finest-level calls) and members
fitted on demand at predict (the variant then gives no estimate); none arose in the runs the
docs report.

Parts: ``human`` / ``mouse``, training-like batches (``--splits`` 60/40 splits from seed
``--seed``, 0 by default; random and one-class batches of 10, 30, 100 and 300 cells, 4 per kind,
size and split);
``shifted``, the whole held-out sets of the eight shifted splits of ``batch_check.py`` (six
human, two cross-species) and their controls (``--seed``: of the control quarter, the model
and the record's quarters; 0 by default). Each batch: its real accuracy, the
shipped and the variant's stated accuracy, estimate, interval and whether it holds.
"""

from __future__ import annotations

import argparse
import copy
import time
import warnings
from dataclasses import replace
from itertools import chain
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.model_selection import StratifiedKFold, train_test_split

from batch_check import cross_species_sets, detection_sets
from benchmark_output import write_result
from ephys2type.data.datasets import dataset_names, load_species
from ephys2type.errors import Ephys2TypeWarning
from ephys2type.models.batch_check import AccuracyEstimate, estimate_accuracy
from ephys2type.models.members import class_probabilities
from ephys2type.persist.train import train_model

SIZES = (10, 30, 100, 300)
QUARTERS = 4


def cross_fitted(model, seed: int):
    """A shallow copy of ``model`` whose calibration cells are all its training cells, and
    each member's twin whose record is every training cell's out-of-fold call (module
    docstring), by ``id`` of the member."""
    y = np.asarray(model.y_train_, dtype=object)
    cal = model.calibration_
    proper = np.flatnonzero(~cal)
    quarter = np.zeros(len(y), dtype=int)  # 0: the calibration cells
    folds = StratifiedKFold(QUARTERS, shuffle=True, random_state=seed)
    for k, (_, rows) in enumerate(folds.split(proper, y[proper]), start=1):
        quarter[proper[rows]] = k
    spec = model.fitted_spec()
    classes = np.asarray(model.classes_, dtype=object)
    twins = {}
    for member in model.members_:
        own = member.calibration
        confidence = np.empty(len(y))
        called = np.empty(len(y), dtype=object)
        confidence[cal], called[cal] = own.confidence, own.predicted
        X = model.X_train_[list(member.features)]
        for k in range(1, QUARTERS + 1):
            estimator = clone(spec.build(model.schema_.select(member.features), model.random_state))
            rows = np.flatnonzero(quarter != k)
            estimator.fit(X.iloc[rows], y[rows], **spec.fit_params)
            held = quarter == k
            proba = own.probabilities(class_probabilities(estimator, X[held], classes))
            confidence[held], called[held] = proba.max(axis=1), classes[proba.argmax(axis=1)]
        right = called == y
        record = replace(
            own,
            confidence=tuple(float(v) for v in confidence),
            predicted=tuple(str(v) for v in called),
            correct=tuple(bool(v) for v in right),
            accuracy=float(right.mean()),
            n_calibration=len(y),
        )
        twins[id(member)] = replace(member, calibration=record)
    widened = copy.copy(model)
    widened.calibration_ = np.ones(len(y), dtype=bool)
    return widened, twins


def one(model, widened, twins, X, y) -> dict:
    """The shipped and the cross-fitted estimate of the batch ``X`` beside its real accuracy."""
    scores = model.score_cells(X)
    routed = scores.routed
    right = scores.top_class() == np.asarray(y, dtype=object)
    shipped = estimate_accuracy(model, scores, random_state=0)
    twin_scores = copy.copy(scores)
    twin_scores.members = [None if m is None else twins.get(id(m), m) for m in scores.members]
    variant = estimate_accuracy(widened, twin_scores, random_state=0)
    used = [m for m, r in zip(scores.members, routed, strict=True) if r]
    stated = (
        float(np.mean([twins[id(m)].calibration.accuracy for m in used]))
        if used and all(id(m) in twins for m in used)
        else None
    )

    def holds(found, stated_here):
        if found is None or stated_here is None:
            return None
        return AccuracyEstimate(found.estimate, 0.0, 1.0, stated_here, int(routed.sum())).holds

    def fields(found, suffix, stated_here):
        return {
            f"stated{suffix}": stated_here,
            f"estimate{suffix}": None if found is None else found.estimate,
            f"low{suffix}": None if found is None else found.low,
            f"high{suffix}": None if found is None else found.high,
            f"holds{suffix}": holds(found, stated_here),
        }

    return {
        "n": len(X),
        "real": float(right[routed].mean()) if routed.any() else None,
        **fields(shipped, "", None if shipped is None else shipped.stated),
        **fields(variant, "_cross_fitted", stated),
    }


def training_like(species: str, n_splits: int, first_seed: int = 0) -> list[dict]:
    data = load_species(species, datasets=dataset_names(species))
    rng = np.random.default_rng(0)
    rows = []
    for seed in range(first_seed, first_seed + n_splits):
        train, test = train_test_split(
            np.asarray(data.X.index), test_size=0.4, stratify=data.y, random_state=seed
        )
        model = train_model(data.subset(pd.Index(train)), "rf", random_state=seed)
        widened, twins = cross_fitted(model, seed)
        y = data.y.loc[test]
        kinds = {"random": pd.Index(test)}
        kinds |= {f"one class: {c}": y.index[y == c] for c in sorted(y.unique())}
        for kind, pool in kinds.items():
            for size in SIZES:
                for _ in range(4 if len(pool) >= size else 0):
                    cells = pd.Index(rng.choice(pool, size, replace=False))
                    found = one(model, widened, twins, data.X.loc[cells], data.y.loc[cells])
                    rows.append({"split": seed, "kind": kind, "size": size, **found})
        print(f"{species}: split {seed} done", flush=True)
    return rows


def shifted(seed: int = 0) -> list[dict]:
    rows = []
    for name, data, fit_cells, held_out, control in chain(
        detection_sets(seed), cross_species_sets(seed)
    ):
        model = train_model(data.subset(pd.Index(fit_cells)), "rf", random_state=seed)
        widened, twins = cross_fitted(model, seed)
        for tag, (where, cells) in (("held_out", held_out), ("control", control)):
            cells = pd.Index(cells)
            found = one(model, widened, twins, where.X.loc[cells], where.y.loc[cells])
            rows.append({"split": name, "tag": tag, **found})
            print(name, tag, {k: v for k, v in found.items() if "estimate" in k}, flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", choices=("human", "mouse", "shifted"), required=True)
    parser.add_argument("--splits", type=int, default=5)
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        help="shifted: the seed of the control, model and record; human/mouse: the first split's",
    )
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    warnings.simplefilter("ignore", Ephys2TypeWarning)
    warnings.filterwarnings("ignore", message=".*sklearn.utils.parallel.delayed.*")
    start = time.perf_counter()
    if args.part == "shifted":
        rows = shifted(args.seed)
    else:
        rows = training_like(args.part, args.splits, args.seed)
    out = args.out or Path(f"benchmarks/results/calibration_record_{args.part}.json")
    result = {"part": args.part, "splits": args.splits, "seed": args.seed, "batches": rows}
    write_result(result, out, start)


if __name__ == "__main__":
    main()
