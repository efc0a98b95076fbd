"""Benchmark: calls that lie outside their own prediction set, and what the rule does.

Run on demand (not part of the test suite):

    .venv/bin/python benchmarks/calls_and_sets.py [--model rf --model bilstm-smote] [--out F]

The deployed classifier (what ``train`` saves) is evaluated on stratified 5-fold x 1 seed
with the call-inside-set rule switched off (``call_inside_set=False``), on mouse (mouse5),
human (revised) and both species' t-types. Per dataset and model, among the cells called:
how many calls lie inside their own set at 90%, how many lie outside a non-empty set, how
many have an empty set, and how accurate each group is (t-types: at the level the call is
made). Then the same folds with the rule on (the default since this benchmark): the share
of cells called and the accuracy of the calls, so the price of the rule is measured on the
evaluation folds, not argued.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

from benchmark_output import write_result
from ephys2type.data.datasets import load_species
from ephys2type.evaluation.runner import run_evaluation
from ephys2type.evaluation.splits import make_plan
from ephys2type.models.cell_classifier import ABSTAIN
from ephys2type.models.deployed import deployed
from ephys2type.models.registry import get_model

DATASETS = (("mouse", "mouse5"), ("human", "revised"), ("mouse", "ttype"), ("human", "ttype"))


def _groups(preds: pd.DataFrame) -> dict:
    """Among the cells called: inside / outside a non-empty / empty set, with accuracy."""
    called = preds["predicted"] != ABSTAIN
    part = preds[called]
    sets = part["set"].fillna("").astype(str)
    inside = np.array(
        [c in s.split("; ") for c, s in zip(part["predicted"], sets, strict=True)], dtype=bool
    )
    empty = (sets == "").to_numpy()
    right = (part["predicted"] == part["true"]).to_numpy()
    out = {"n_cells": len(preds), "n_called": int(called.sum())}
    for name, mask in (("inside", inside), ("outside", ~inside & ~empty), ("empty", empty)):
        out[name] = {
            "n": int(mask.sum()),
            "accuracy": float(right[mask].mean()) if mask.any() else None,
        }
    return out


def _levels_groups(preds: pd.DataFrame, parent_of: dict[str, str]) -> dict:
    """The same for two-level labels, at the level each call is made (``call_level``):
    a t-type call against its t-type set, a subclass call against its subclass set."""
    called = preds["predicted"] != ABSTAIN
    part = preds[called]
    at_parent = (part["call_level"] == "parent").to_numpy()
    sets = np.where(at_parent, part["parent_set"].fillna(""), part["set"].fillna(""))
    truth = part["true"].to_numpy(dtype=object)
    truth = np.where(at_parent, [parent_of[t] for t in truth], truth)
    calls = part["predicted"].to_numpy(dtype=object)
    inside = np.array([c in str(s).split("; ") for c, s in zip(calls, sets, strict=True)])
    empty = np.array([not str(s) for s in sets])
    right = calls == truth
    out = {"n_cells": len(preds), "n_called": int(called.sum()), "at_parent": int(at_parent.sum())}
    for name, mask in (("inside", inside), ("outside", ~inside & ~empty), ("empty", empty)):
        out[name] = {
            "n": int(mask.sum()),
            "accuracy": float(right[mask].mean()) if mask.any() else None,
        }
    return out


def _accuracy_of_calls(preds: pd.DataFrame, parent_of: dict[str, str] | None) -> dict:
    called = (preds["predicted"] != ABSTAIN).to_numpy()
    calls, truth = preds["predicted"].to_numpy(), preds["true"].to_numpy()
    if parent_of is None:
        right = calls == truth
    else:
        parents = set(parent_of.values())
        right = np.array(
            [c == (parent_of[t] if c in parents else t) for c, t in zip(calls, truth, strict=True)]
        )
    return {
        "share_called": float(called.mean()),
        "accuracy_of_calls": float(right[called].mean()),
        "accuracy_all_cells": float(right.mean()),  # unassigned counted wrong
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", action="append", help="savable models (default rf)")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/calls_and_sets.json"))
    args = parser.parse_args()
    start = time.perf_counter()
    models = args.model or ["rf"]
    result: dict = {"protocol": f"stratified {args.folds}-fold x 1 seed", "rows": []}
    for species, labels in DATASETS:
        datasets = "lee2023" if species == "human" else None  # the published numbers' cells
        data = load_species(species, labels=labels, datasets=datasets)
        parent_of = data.label_parents(required=False)
        plan = make_plan(data, "strat5x5", seeds=1, n_folds=args.folds)
        for model in models:
            spec = get_model(model)
            arms = {
                "rule off": deployed(spec, parent_of=parent_of, call_inside_set=False),
                "rule on": deployed(spec, parent_of=parent_of, call_inside_set=True),
            }
            row = {"species": species, "labels": labels, "model": model}
            for arm, arm_spec in arms.items():
                preds = run_evaluation(data, [arm_spec], plan, n_jobs=args.jobs).predictions
                row[arm] = _accuracy_of_calls(preds, parent_of)
                if arm == "rule off":
                    row["groups"] = (
                        _groups(preds) if parent_of is None else _levels_groups(preds, parent_of)
                    )
            groups = "; ".join(
                f"{g} {v['n']} ({v['accuracy']})"
                for g, v in row["groups"].items()
                if isinstance(v, dict)
            )
            print(f"{species} {labels} {model}: {groups}")
            print(f"  rule off {row['rule off']}\n  rule on  {row['rule on']}")
            result["rows"].append(row)
    write_result(result, args.out, start)


if __name__ == "__main__":
    main()
