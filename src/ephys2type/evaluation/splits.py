"""Split plans: the folds every model is judged on, computed once and shared.

A :class:`SplitPlan` fixes, for one dataset (cells, labels, donors) and one protocol, the
train and test cells of every fold of every seed. Every model in a run is evaluated on the
same plan, so two models are always compared on identical folds (paired comparisons), and
the plan is saved with the results (``split_plan.json``) so another run can reuse it.

Protocols
---------
``strat5x5``   stratified 5-fold cross-validation repeated over 5 seeds (the default).
``group5x5``   donor-grouped stratified 5-fold over 5 seeds: a donor's cells never straddle
               train and test.
``holdout``    stratified 80/20 train/test over 5 seeds; models that early-stop take their
               validation set (25% of train) from the training part, giving the paper's
               60/20/20 train/validation/test protocol.
``leave-dataset-out``  one fold per bundled dataset: train on the others, test on all of its
               cells (needs cells of two datasets or more, e.g. ``--datasets
               lee2023,chartrand2023_l1``); the folds are the same for every seed, the models'
               random states are not. A donor in two datasets is removed from the training
               side of the fold that tests one of them.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold, train_test_split

from ephys2type.data.container import PatchSeqData
from ephys2type.errors import Ephys2TypeError

PROTOCOLS = {
    "strat5x5": "stratified 5-fold CV x 5 seeds",
    "group5x5": "donor-grouped stratified 5-fold CV x 5 seeds",
    "holdout": "stratified 80/20 hold-out x 5 seeds (60/20/20 with the inner validation split)",
    "leave-dataset-out": "train on all bundled datasets but one, test on that one",
}

#: Fraction of the training part used as validation by early-stopping models, per protocol.
INNER_VALIDATION = {"strat5x5": 0.2, "group5x5": 0.2, "holdout": 0.25, "leave-dataset-out": 0.2}


@dataclass(frozen=True)
class Fold:
    """One train/test split: positions into the plan's ``cells``."""

    seed: int
    fold: int
    train: np.ndarray
    test: np.ndarray


@dataclass(frozen=True)
class SplitPlan:
    """The folds of one protocol on one dataset (see module docstring)."""

    protocol: str
    seeds: tuple[int, ...]
    n_folds: int
    cells: tuple[str, ...]
    folds: tuple[Fold, ...]
    dataset: dict[str, Any]

    @property
    def inner_validation(self) -> float:
        return INNER_VALIDATION[self.protocol]

    @property
    def description(self) -> str:
        """E.g. 'stratified 5-fold CV x 5 seeds (0-4)'."""
        seeds = f"{len(self.seeds)} seed{'s' if len(self.seeds) > 1 else ''}"
        if self.protocol == "holdout":
            return f"stratified 80/20 hold-out x {seeds}"
        if self.protocol == "leave-dataset-out":
            held = ", ".join(self.dataset.get("held_out", []))
            return f"leave-one-dataset-out ({held}) x {seeds}"
        kind = "donor-grouped stratified" if self.protocol == "group5x5" else "stratified"
        return f"{kind} {self.n_folds}-fold CV x {seeds}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "protocol": self.protocol,
            "description": self.description,
            "seeds": list(self.seeds),
            "n_folds": self.n_folds,
            "dataset": self.dataset,
            "cells": list(self.cells),
            "folds": [
                {
                    "seed": f.seed,
                    "fold": f.fold,
                    "train": f.train.tolist(),
                    "test": f.test.tolist(),
                }
                for f in self.folds
            ],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"), sort_keys=True)

    @property
    def sha256(self) -> str:
        """Fingerprint of the folds: equal hashes mean identical folds on identical cells."""
        core = {"cells": list(self.cells), "folds": self.to_dict()["folds"]}
        return hashlib.sha256(json.dumps(core, sort_keys=True).encode()).hexdigest()

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> SplitPlan:
        try:
            return cls(
                protocol=raw["protocol"],
                seeds=tuple(int(s) for s in raw["seeds"]),
                n_folds=int(raw["n_folds"]),
                cells=tuple(str(c) for c in raw["cells"]),
                folds=tuple(
                    Fold(
                        seed=int(f["seed"]),
                        fold=int(f["fold"]),
                        train=np.asarray(f["train"], dtype=np.int64),
                        test=np.asarray(f["test"], dtype=np.int64),
                    )
                    for f in raw["folds"]
                ),
                dataset=dict(raw.get("dataset", {})),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise Ephys2TypeError(f"not a valid split plan ({exc})") from exc

    @classmethod
    def load(cls, path: str | Path) -> SplitPlan:
        try:
            raw = json.loads(Path(path).read_text("utf-8"))
        except (OSError, ValueError) as exc:
            raise Ephys2TypeError(f"{path}: cannot read split plan ({exc})") from exc
        return cls.from_dict(raw)

    def first_seeds(self, n: int) -> SplitPlan:
        """The same plan with only its first ``n`` seeds (their folds are unchanged)."""
        if n < 1:
            raise Ephys2TypeError("at least one seed is needed")
        keep = self.seeds[:n]
        return SplitPlan(
            protocol=self.protocol,
            seeds=keep,
            n_folds=self.n_folds,
            cells=self.cells,
            folds=tuple(f for f in self.folds if f.seed in keep),
            dataset=self.dataset,
        )

    def check_matches(self, data: PatchSeqData) -> None:
        """Raise unless the plan was made for exactly these cells."""
        if tuple(map(str, data.X.index)) != self.cells:
            raise Ephys2TypeError(
                f"the split plan was made for {len(self.cells)} other cells "
                f"({self.dataset.get('description', 'unknown dataset')}); it cannot be reused "
                f"on these {len(data)} cells"
            )


def dataset_description(data: PatchSeqData) -> dict[str, Any]:
    """What a plan (and every number computed on it) was made on."""
    return {
        "species": data.species,
        "label_scheme": data.label_scheme,
        "qc_profile": data.qc.profile if data.qc else None,
        "features": data.schema.name,
        "n_cells": len(data),
        "class_counts": {str(k): int(v) for k, v in data.class_counts().items()},
        "n_donors": int(data.groups.nunique()),
        "sources": dict(sorted(data.sources.items())),
        "datasets": data.datasets,
        "description": (
            f"{data.species}"
            + (f" ({', '.join(data.datasets)})" if data.datasets else "")
            + f", labels {data.label_scheme}, QC "
            f"{data.qc.profile if data.qc else 'none'}, {data.schema.name} features, "
            f"{len(data)} cells"
        ),
    }


def make_plan(
    data: PatchSeqData,
    protocol: str = "strat5x5",
    *,
    seeds: int | list[int] = 5,
    n_folds: int = 5,
) -> SplitPlan:
    """Compute the folds of ``protocol`` for ``data`` (deterministic given the seeds)."""
    if protocol not in PROTOCOLS:
        raise Ephys2TypeError(f"unknown protocol {protocol!r}; protocols: {', '.join(PROTOCOLS)}")
    if data.y is None or data.y.isna().any():
        raise Ephys2TypeError("a split plan needs a label for every cell (apply QC first)")
    seed_list = list(range(seeds)) if isinstance(seeds, int) else [int(s) for s in seeds]
    if not seed_list:
        raise Ephys2TypeError("at least one seed is needed")
    y = data.y.to_numpy()
    counts = pd.Series(y).value_counts()
    if len(counts) == 0:
        raise Ephys2TypeError("no labelled cells to split")
    if len(counts) == 1:
        raise Ephys2TypeError(
            f"classification needs at least two classes; all {len(y)} cells are {counts.index[0]!r}"
        )
    if protocol == "leave-dataset-out":
        return _leave_dataset_out(data, seed_list)
    if protocol != "holdout" and counts.min() < n_folds:
        raise Ephys2TypeError(
            f"class {counts.idxmin()!r} has {counts.min()} cells, fewer than the {n_folds} "
            f"folds; use a QC profile with rare_class, or fewer folds"
        )
    positions = np.arange(len(y))
    folds: list[Fold] = []
    for seed in seed_list:
        if protocol == "strat5x5":
            splitter = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
            parts = splitter.split(positions, y)
        elif protocol == "group5x5":
            groups = data.groups.to_numpy()
            if pd.Series(groups).nunique() < n_folds:
                raise Ephys2TypeError(f"donor-grouped CV needs at least {n_folds} donors")
            splitter = StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
            parts = splitter.split(positions, y, groups)
        else:
            train, test = train_test_split(positions, test_size=0.2, stratify=y, random_state=seed)
            parts = [(np.sort(train), np.sort(test))]
        for k, (train, test) in enumerate(parts):
            folds.append(Fold(seed=seed, fold=k, train=np.asarray(train), test=np.asarray(test)))
    return SplitPlan(
        protocol=protocol,
        seeds=tuple(seed_list),
        n_folds=1 if protocol == "holdout" else n_folds,
        cells=tuple(map(str, data.X.index)),
        folds=tuple(folds),
        dataset=dataset_description(data),
    )


def _leave_dataset_out(data: PatchSeqData, seeds: list[int]) -> SplitPlan:
    """One fold per dataset (see the module docstring)."""
    names = data.datasets
    if len(names) < 2:
        raise Ephys2TypeError(
            "leave-dataset-out needs cells of two datasets or more (e.g. --datasets "
            f"lee2023,chartrand2023_l1); these cells come from {', '.join(names) or 'your table'}"
        )
    dataset = data.meta["dataset"].to_numpy()
    donors = data.groups.to_numpy()
    y = data.y.to_numpy(dtype=object)
    parts, notes = [], []
    for name in names:
        test = np.flatnonzero(dataset == name)
        held_donors = np.unique(donors[test])
        others = dataset != name
        train = np.flatnonzero(others & ~np.isin(donors, held_donors))
        missing = sorted(set(y[test]) - set(y[train]))
        parts.append((train, test))
        notes.append(
            {
                "held_out": name,
                "n_train": len(train),
                "n_test": len(test),
                "train_cells_of_shared_donors_removed": int(others.sum() - len(train)),
                "test_classes_missing_from_training": missing,
                "test_cells_of_those_classes": int(np.isin(y[test], missing).sum()),
            }
        )
    description = dataset_description(data)
    description["held_out"] = list(names)
    description["held_out_folds"] = notes
    return SplitPlan(
        protocol="leave-dataset-out",
        seeds=tuple(seeds),
        n_folds=len(names),
        cells=tuple(map(str, data.X.index)),
        folds=tuple(
            Fold(seed=seed, fold=k, train=train, test=test)
            for seed in seeds
            for k, (train, test) in enumerate(parts)
        ),
        dataset=description,
    )
