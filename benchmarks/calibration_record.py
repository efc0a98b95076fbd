"""Benchmark: would a larger calibration record make the accuracy estimate better?

Run on demand (not part of the test suite):

    .venv/bin/python benchmarks/calibration_record.py --part human --splits 5
    .venv/bin/python benchmarks/calibration_record.py --part mouse --splits 5
    .venv/bin/python benchmarks/calibration_record.py --part shifted
    .venv/bin/python benchmarks/calibration_record.py --part fresh --seed S

The batch check's accuracy estimate (ATC) and each call's stated accuracy rest on the
calibration cells alone by default: 469 mouse and 105 human cells of a model trained on 60% of
the bundled cells. The variant measured here is ``record_folds=4``
(:mod:`ephys2type.models.accuracy_record`): every training cell is part of the record, the
calibration cells with the member's own calls, and each of four stratified quarters of the
other (proper) cells called by a model of the same feature set fitted on the training cells
less that quarter (the same number of cells as the member), its probabilities calibrated with
the member's temperature. One model is trained with the record; the shipped default is the
same model with its members' records set aside (the same fits). Until 2026-12-07 this
benchmark built the record itself; the library's ``record_folds=4`` gives the same record and
estimates (checked equal on human split 0: every member's record, and the estimate, interval
and stated accuracy of four batches; and every field of split 30's 52 batches of
``--part human --seed 30``).

Parts: ``human`` / ``mouse``, training-like batches (``--splits`` 60/40 splits from seed
``--seed``, 0 by default; random and one-class batches of 10, 30, 100 and 300 cells, 4 per kind,
size and split);
``shifted``, the whole held-out sets of the eight shifted splits of ``batch_check.py`` (six
human, two cross-species) and their controls (``--seed``: of the control quarter, the model
and the record's quarters; 0 by default); ``fresh``, likewise the whole held-out sets of the
six splits of ``fresh_shift_splits.py`` and their controls. Each batch: its real accuracy, the
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
from sklearn.model_selection import train_test_split

from batch_check import SIZES, cross_species_sets, detection_sets
from benchmark_output import write_result
from ephys2type.data.datasets import dataset_names, load_species
from ephys2type.errors import Ephys2TypeWarning
from ephys2type.models.batch_check import estimate_accuracy
from ephys2type.persist.train import train_model
from fresh_shift_splits import fresh_shift_splits

QUARTERS = 4


def calibration_only(model):
    """A shallow copy of ``model`` whose members keep no record (the shipped default), and
    its members by ``id`` of the model's: the same fits, judged on the calibration cells."""
    twins = {
        id(m): replace(m, calibration=replace(m.calibration, record=None)) for m in model.members_
    }
    plain = copy.copy(model)
    plain.members_ = [twins[id(m)] for m in model.members_]
    return plain, twins


def one(model, plain, twins, X, y) -> dict:
    """The estimate of the batch ``X`` judged against the calibration cells (shipped) and
    against every training cell's out-of-fold call (the record), beside its real accuracy."""
    scores = model.score_cells(X)
    routed = scores.routed
    right = scores.top_class() == np.asarray(y, dtype=object)
    plain_scores = copy.copy(scores)
    # a member fitted on demand (none in the runs the docs report) keeps its record in both
    plain_scores.members = [None if m is None else twins.get(id(m), m) for m in scores.members]
    shipped = estimate_accuracy(plain, plain_scores, random_state=0)
    variant = estimate_accuracy(model, scores, random_state=0)

    def fields(found, suffix):
        return {
            f"stated{suffix}": None if found is None else found.stated,
            f"estimate{suffix}": None if found is None else found.estimate,
            f"low{suffix}": None if found is None else found.low,
            f"high{suffix}": None if found is None else found.high,
            f"holds{suffix}": None if found is None else found.holds,
        }

    return {
        "n": len(X),
        "real": float(right[routed].mean()) if routed.any() else None,
        **fields(shipped, ""),
        **fields(variant, "_cross_fitted"),
    }


def training_like(species: str, n_splits: int, first_seed: int = 0) -> list[dict]:
    data = load_species(species, datasets=dataset_names(species))
    rng = np.random.default_rng(0)
    rows = []
    for seed in range(first_seed, first_seed + n_splits):
        train, test = train_test_split(
            np.asarray(data.X.index), test_size=0.4, stratify=data.y, random_state=seed
        )
        model = train_model(
            data.subset(pd.Index(train)), "rf", random_state=seed, record_folds=QUARTERS
        )
        plain, twins = calibration_only(model)
        y = data.y.loc[test]
        kinds = {"random": pd.Index(test)}
        kinds |= {f"one class: {c}": y.index[y == c] for c in sorted(y.unique())}
        for kind, pool in kinds.items():
            for size in SIZES:
                for _ in range(4 if len(pool) >= size else 0):
                    cells = pd.Index(rng.choice(pool, size, replace=False))
                    found = one(model, plain, twins, data.X.loc[cells], data.y.loc[cells])
                    rows.append({"split": seed, "kind": kind, "size": size, **found})
        print(f"{species}: split {seed} done", flush=True)
    return rows


def shifted(seed: int = 0, fresh: bool = False) -> list[dict]:
    """The whole held-out set and the control of each shifted split: the old eight, or with
    ``fresh`` the six of ``fresh_shift_splits.py``."""
    rows = []
    splits = (
        detection_sets(seed, fresh_shift_splits)
        if fresh
        else chain(detection_sets(seed), cross_species_sets(seed))
    )
    for name, data, fit_cells, held_out, control in splits:
        model = train_model(
            data.subset(pd.Index(fit_cells)), "rf", random_state=seed, record_folds=QUARTERS
        )
        plain, twins = calibration_only(model)
        for tag, (where, cells) in (("held_out", held_out), ("control", control)):
            cells = pd.Index(cells)
            found = one(model, plain, twins, where.X.loc[cells], where.y.loc[cells])
            rows.append({"split": name, "tag": tag, **found})
            print(name, tag, {k: v for k, v in found.items() if "estimate" in k}, flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", choices=("human", "mouse", "shifted", "fresh"), required=True)
    parser.add_argument("--splits", type=int, default=5)
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        help="shifted, fresh: the seed of the control, model and record; human/mouse: the "
        "first split's",
    )
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    warnings.simplefilter("ignore", Ephys2TypeWarning)
    warnings.filterwarnings("ignore", message=".*sklearn.utils.parallel.delayed.*")
    start = time.perf_counter()
    if args.part in ("shifted", "fresh"):
        rows = shifted(args.seed, fresh=args.part == "fresh")
    else:
        rows = training_like(args.part, args.splits, args.seed)
    out = args.out or Path(f"benchmarks/results/calibration_record_{args.part}.json")
    result = {"part": args.part, "splits": args.splits, "seed": args.seed, "batches": rows}
    write_result(result, out, start)


if __name__ == "__main__":
    main()
