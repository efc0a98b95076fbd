"""Benchmark: t-types per level, flat vs hierarchical, with conformal sets, for several models.

Run on demand (not part of the test suite):

    .venv/bin/python benchmarks/ttype_hierarchy.py [--species mouse] [--model rf --model logreg]
        [--seeds 1] [--out FILE.json]

Cells with a t-type of >= 10 cells (label scheme ``ttype``, QC default), stratified 5-fold x
``--seeds``, the same folds for every model. Each model runs as deployed, flat
(``<model>-deployed``) and with hierarchical members (``<model>-hier-deployed``), with
class-conditional conformal prediction at 90% (a fifth of each training fold calibrates),
exactly as ``evaluate --labels ttype --hierarchical`` does
(:func:`ephys2type.evaluation.levels.run_levels`). Written: per model and level, accuracy,
balanced accuracy, macro-F1, top-3 accuracy, coverage and mean set size (mean and 95% CI), the
share of cells called at the t-type, and the spread of coverage over classes. Targets of issue
15: mouse t-type balanced accuracy >= 0.45; coverage within 2 points of 90% at each level.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from ephys2type import load_species
from ephys2type.evaluation.levels import ANCHORS, run_levels
from ephys2type.evaluation.splits import make_plan
from ephys2type.files import atomic_write_text, dumps_json


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--species", default="mouse", choices=("mouse", "human"))
    parser.add_argument("--model", action="append", help="registry model (repeatable; rf)")
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    models = args.model or ["rf"]
    out = args.out or Path(f"benchmarks/results/ttype_{args.species}.json")
    start = time.perf_counter()
    datasets = "lee2023" if args.species == "human" else None  # the published numbers' cells
    data = load_species(args.species, labels="ttype", datasets=datasets)
    plan = make_plan(data, "strat5x5", seeds=args.seeds, n_folds=5)
    result = run_levels(data, models, plan, hierarchical=True, n_jobs=args.jobs)
    table = result.table()
    per_class = result.per_class()
    spread = (
        per_class.groupby(["model", "level"])["coverage"]
        .agg(["min", "median", lambda c: int((c < 0.85).sum())])
        .set_axis(["coverage_min", "coverage_median", "classes_below_0.85"], axis=1)
        .reset_index()
    )
    report = {
        "benchmark": f"{args.species} t-types per level, flat vs hierarchical, conformal at 90%",
        "plan": plan.description,
        "n_cells": len(data),
        "n_types": len(data.classes),
        "seconds": time.perf_counter() - start,
        "levels": table.to_dict(orient="records"),
        "coverage_over_classes": spread.to_dict(orient="records"),
        "anchors": ANCHORS,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, dumps_json(report), overwrite=True)
    shown = ["model", "level", "accuracy", "balanced_accuracy", "macro_f1", "top3_accuracy"]
    print(table[[*shown, "coverage", "mean_set_size", "called"]].round(3).to_string(index=False))
    print(spread.round(3).to_string(index=False))
    print(f"{report['seconds']:.0f} s; written to {out}")


if __name__ == "__main__":
    main()
