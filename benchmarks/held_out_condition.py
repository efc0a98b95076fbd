"""Benchmark: human cells from another recording condition, region or donor, without outside data.

Run on demand (not part of the test suite):

    .venv/bin/python benchmarks/held_out_condition.py [--out FILE.json]

For each split a model is trained as ``ephys2type train`` trains it (random forest, family
subsets, temperature) on one part of the human cells (revised labels, QC default) and
predicts the other part as ``ephys2type predict`` does:

- condition: train on slice-culture cells, predict acute cells, and the reverse;
- region: train on MTG cells, predict the cells of every other region;
- dataset: train on Lee, Dalley et al., predict the layer-1 cells of Chartrand et al.
  (another lab and layer; Lee cells of donors in both left out);
- donor: donor-grouped 5-fold (no donor on both sides).

Each is paired with a control: a quarter of the training domain (stratified) is held back
and predicted by the same model, so "accuracy falls" and "flags rise" are measured against
cells of the training kind. Reported: accuracy and macro-F1 of the held-out cells; the
share flagged out of distribution and the accuracy of flagged vs unflagged cells; and
whether the conformal sets keep their promise there (coverage: the share of scored cells
whose set holds the true class, overall and per class with at least 10 cells, and the mean
set size). Whether a batch of
these cells is declared shifted, and how far its estimated accuracy is from the real one, is
``benchmarks/batch_check.py``.

Domain adaptation of a batch (issue 14: offer it only where this measurement shows a gain): on
the condition and region splits, a random forest on the standardized features is trained on
the training domain and predicts the held-out cells: as deployed (the batch scaled with the training
statistics), recentred (the batch standardized on its own cells), and after each skada adapter
fitted on the training cells and the recentred, unlabelled batch (CORAL, subspace alignment,
optimal transport; the transport cannot use the batch's labels, so it is class-blind there).
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import f1_score
from sklearn.model_selection import StratifiedGroupKFold, train_test_split

from benchmark_output import write_result
from ephys2type import load_human
from ephys2type.errors import Ephys2TypeWarning
from ephys2type.models.baselines import make_baseline
from ephys2type.models.cell_classifier import ABSTAIN
from ephys2type.models.preprocessing import FamilyPreprocessor
from ephys2type.models.transfer.adaptation import ADAPTERS, SpeciesAdapter
from ephys2type.persist.train import train_model
from human_shift_splits import human_shift_splits


def _score(model, data, cells: pd.Index, rng: np.random.Generator) -> dict:
    X, y = data.X.loc[cells], data.y.loc[cells]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Ephys2TypeWarning)
        table = model.predict_table(X)
    right = (table["predicted"] == y).to_numpy()  # an unassigned cell counts as wrong
    # the conformal sets: does each hold the true class as often as promised, per class?
    sets = table["set"].fillna("").astype(str)
    scored = (sets != "").to_numpy()
    covered = np.array([t in s.split("; ") for t, s in zip(y, sets, strict=True)])
    per_class = {
        str(c): float(covered[scored & (y == c).to_numpy()].mean())
        for c in data.classes
        if (scored & (y == c).to_numpy()).sum() >= 10
    }
    flagged = table["out_of_distribution"].to_numpy()
    called = (table["predicted"] != ABSTAIN).to_numpy()
    return {
        "n_cells": len(cells),
        "accuracy": float(right.mean()),
        "macro_f1": float(
            f1_score(y, table["predicted"], labels=data.classes, average="macro", zero_division=0)
        ),
        "assigned_share": float(called.mean()),
        "accuracy_of_calls": float(right[called].mean()) if called.any() else None,
        "flagged_share": float(flagged.mean()),
        "accuracy_flagged": float(right[flagged].mean()) if flagged.any() else None,
        "accuracy_unflagged": float(right[~flagged].mean()) if (~flagged).any() else None,
        "set_confidence": float(model.confidence),
        "set_coverage": float(covered[scored].mean()) if scored.any() else None,
        "set_coverage_per_class": per_class,
        "mean_set_size": float(table.loc[scored, "set_size"].mean()) if scored.any() else None,
        # calls whose set is that one class: what a stricter rule (call only then) would keep
        "single_class_set_share": float((called & (table["set_size"] == 1).to_numpy()).mean()),
        "accuracy_of_single_class_calls": (
            float(right[called & (table["set_size"] == 1).to_numpy()].mean())
            if (called & (table["set_size"] == 1).to_numpy()).any()
            else None
        ),
    }


def _adaptation(data, train_cells, test_cells, seed: int) -> dict:
    """Accuracy and macro-F1 of the held-out cells without and with each batch adapter."""
    X_tr = data.X.loc[train_cells].to_numpy(float)
    X_te = data.X.loc[test_cells].to_numpy(float)
    y_tr, y_te = data.y.loc[train_cells].to_numpy(), data.y.loc[test_cells].to_numpy()
    prep = FamilyPreprocessor().fit(X_tr)
    source = prep.transform(X_tr)
    batch = FamilyPreprocessor().fit_transform(X_te)  # the batch standardized on itself
    out = {}
    for name in ("none", "recentre", *ADAPTERS):
        s, b = source, batch
        if name == "none":  # as deployed: the batch scaled with the training statistics
            b = prep.transform(X_te)
        elif name != "recentre":
            adapter = SpeciesAdapter(name, seed).fit(source, y_tr, batch)
            s, b = adapter.source(source), adapter.target(batch)
        pred = make_baseline("rf", random_state=seed).fit(s, y_tr).predict(b)
        out[name] = {
            "accuracy": float(np.mean(pred == y_te)),
            "macro_f1": float(f1_score(y_te, pred, average="macro")),
        }
    return out


def _split(data, train_cells, test_cells, name: str, seed: int, *, adapt: bool = True) -> dict:
    """One model, trained on the training domain minus a random control set, predicts the
    held-out domain and the control set (same model, so the two are like for like)."""
    rng = np.random.default_rng(seed)
    n_control = min(len(test_cells), len(train_cells) // 4)
    y = data.y.loc[train_cells]
    tr, control = train_test_split(
        np.asarray(train_cells), test_size=n_control, stratify=y, random_state=seed
    )
    model = train_model(data.subset(pd.Index(tr)), "rf", random_state=seed)
    return {
        "split": name,
        "n_train": len(tr),
        "held_out": _score(model, data, test_cells, rng),
        "control": _score(model, data, pd.Index(control), rng),
        **(
            {"batch_adaptation": _adaptation(data, pd.Index(tr), test_cells, seed)} if adapt else {}
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", type=Path, default=Path("benchmarks/results/held_out_condition.json")
    )
    args = parser.parse_args()
    start = time.perf_counter()
    rows = [
        _split(split.data, split.train, split.test, split.name, 0, adapt=split.kind != "dataset")
        for split in human_shift_splits()
    ]
    data = load_human(datasets="lee2023")
    donor_scores = []
    folds = StratifiedGroupKFold(n_splits=5, shuffle=True, random_state=0)
    for k, (tr, te) in enumerate(folds.split(data.X, data.y, groups=data.groups)):
        model = train_model(data.subset(data.X.index[tr]), "rf", random_state=k)
        donor_scores.append(_score(model, data, data.X.index[te], np.random.default_rng(k)))
    rows.append(
        {
            "split": "donor-grouped 5-fold (mean over folds)",
            "held_out": {
                key: float(np.mean([s[key] for s in donor_scores if s[key] is not None]))
                for key, value in donor_scores[0].items()
                if not isinstance(value, dict)
            },
            "control": None,
        }
    )
    result = {
        "benchmark": "held-out condition / region / donor, human revised labels, rf as deployed",
        "n_cells": len(data),
        "splits": rows,
    }
    write_result(result, args.out, start)
    for r in rows:
        for side in ("held_out", "control"):
            s = r[side]
            if s is None:
                continue
            print(
                f"{r['split']:42s} {side:8s} n={s['n_cells']:4.0f} acc={100 * s['accuracy']:.1f} "
                f"F1={100 * s['macro_f1']:.1f} flagged={100 * s['flagged_share']:.1f}% "
                f"acc flagged={s['accuracy_flagged']} unflagged={s['accuracy_unflagged']} "
                f"set coverage={s['set_coverage']} (promised {s['set_confidence']}), "
                f"size={s['mean_set_size']}, per class={s.get('set_coverage_per_class')}"
            )
    for r in rows:
        if "batch_adaptation" in r:
            print(
                f"{r['split']:42s} batch adaptation, held-out accuracy / macro-F1: "
                + ", ".join(
                    f"{k} {100 * v['accuracy']:.1f} / {100 * v['macro_f1']:.1f}"
                    for k, v in r["batch_adaptation"].items()
                )
            )


if __name__ == "__main__":
    main()
