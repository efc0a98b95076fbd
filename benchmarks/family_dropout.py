"""Benchmark: the BiLSTM trained with random family dropout, on complete and partial cells.

Run on demand (not part of the test suite; about 10 minutes on 2 cores):

    .venv/bin/python benchmarks/family_dropout.py [--species mouse] [--seeds 3] [--out FILE.json]

Issue 14 asked whether a BiLSTM trained with random family dropout (each family a training
cell has is hidden from it with chance 0.25, ``bilstm-smote-famdrop``) serves cells recorded
with fewer protocols as well as the per-subset models ``ephys2type train`` deploys, and
whether it closes the paper BiLSTM's gap on complete cells. On identical folds:

- complete cells (stratified 5-fold x ``--seeds``): the paper's ``bilstm-smote`` against
  ``bilstm-smote-famdrop``, accuracy and macro-F1 with 95% CIs and the paired difference;
- cells with only each plausible family subset (stratified 5-fold, first seed): the
  family-dropout BiLSTM as one model (absent families masked out of its attention), the
  paper's BiLSTM as one model (masked the same way), the BiLSTM per-subset models as
  deployed, and the random forest as deployed (the tool's default model).

The dropout rate is fixed in the registry (0.25), not chosen on these folds.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from ephys2type import load_human, load_mouse
from ephys2type.evaluation.protocols import run_partial_protocols
from ephys2type.evaluation.runner import run_evaluation
from ephys2type.evaluation.splits import make_plan
from ephys2type.evaluation.stats import format_difference, format_summary
from ephys2type.files import atomic_write_text, dumps_json

PAPER, DROPOUT = "bilstm-smote", "bilstm-smote-famdrop"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--species", choices=("mouse", "human"), default="mouse")
    parser.add_argument("--seeds", type=int, default=3, help="seeds of the complete-cell run")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    out = args.out or Path(f"benchmarks/results/family_dropout_{args.species}.json")
    start = time.perf_counter()
    data = load_mouse() if args.species == "mouse" else load_human(datasets="lee2023")

    plan = make_plan(data, "strat5x5", seeds=args.seeds)
    complete = run_evaluation(data, [PAPER, DROPOUT], plan, n_jobs=args.jobs)
    result: dict = {
        "benchmark": "BiLSTM with random family dropout (issue 14)",
        "species": data.species,
        "labels": data.label_scheme,
        "n_cells": len(data),
        "complete": {
            "protocol": f"stratified 5-fold x {args.seeds} seeds",
            PAPER: complete.summary(PAPER),
            DROPOUT: complete.summary(DROPOUT),
            "dropout_minus_paper": {
                m: complete.compare(DROPOUT, PAPER, m) for m in ("accuracy", "macro_f1")
            },
        },
    }
    print(f"complete cells ({len(data)}, {result['complete']['protocol']}):")
    for model in (PAPER, DROPOUT):
        s = result["complete"][model]
        print(
            f"  {model:22s} accuracy {format_summary(s['accuracy'])}  "
            f"macro-F1 {format_summary(s['macro_f1'])}"
        )
    diff = result["complete"]["dropout_minus_paper"]
    print(f"  dropout - paper: accuracy {format_difference(diff['accuracy'], with_p=True)}")

    first = plan.first_seeds(1)
    partial = {
        model: run_partial_protocols(data, model, first, n_jobs=args.jobs).table()
        for model in (DROPOUT, PAPER, "rf")
    }
    rows = []
    for k, entry in enumerate(partial[DROPOUT]):
        row = {
            "subset": entry["name"],
            "dropout_one_model": entry["imputed"],
            "dropout_per_subset_deployed": entry["deployed"],
            "bilstm_trained_on_subset": entry["subset"],
            "paper_one_model": partial[PAPER][k]["imputed"],
            "rf_deployed": partial["rf"][k]["deployed"],
        }
        rows.append(row)
        print(
            f"{entry['name']}: accuracy "
            + ", ".join(
                f"{name} {100 * value['accuracy']['mean']:.1f}"
                for name, value in row.items()
                if name != "subset"
            )
        )
    result["partial"] = {"protocol": "stratified 5-fold, first seed", "subsets": rows}
    result["seconds"] = time.perf_counter() - start
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, dumps_json(result), overwrite=True)
    print(f"{result['seconds']:.0f} s; written to {out}")


if __name__ == "__main__":
    main()
