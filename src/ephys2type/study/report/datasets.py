"""The report's section on cells of other datasets and layers (the ``datasets_<species>``
stage): each bundled dataset held out in turn, per dataset and per layer, the batch check on
each held-out dataset, and which datasets to train on."""

from __future__ import annotations

from pathlib import Path

from ephys2type.study.report.builder import ReportBuilder, fmt_gain, fmt_pct, load_json
from ephys2type.study.stages import stage_name


def _pct(value) -> str:
    return "—" if value is None or value != value else f"{100 * value:.1f}"


def _scores(row: dict) -> list[str]:
    """Cells, accuracy, balanced accuracy and macro-F1 of one breakdown row (in %)."""
    return [
        f"{row['cells']:.0f}",
        *(_pct(row[k]) for k in ("accuracy", "balanced_accuracy", "macro_f1")),
    ]


def datasets_section(b: ReportBuilder, root: Path, cfg) -> None:
    """Write the section for every species the run's ``datasets_species`` names."""
    species_list = [
        s
        for s in getattr(cfg, "datasets_species", ())
        if (root / stage_name("datasets", s) / "leave_dataset_out" / "metrics.json").is_file()
    ]
    if not species_list:
        return
    b.heading("Cells from other datasets and layers")
    b.para(
        "The headline numbers pool cells like the training cells. Here each bundled dataset "
        "is held out in turn (a model trained on the others, a donor in two datasets kept "
        "off the training side), every evaluation is broken down by dataset and by layer "
        "(scores over the classes each group holds), and the forest trained with and "
        "without the other datasets is scored on each dataset's cells on identical "
        "donor-grouped folds."
    )
    for species in species_list:
        folder = root / stage_name("datasets", species)
        metrics = load_json(folder / "leave_dataset_out" / "metrics.json") or {}
        _held_out(b, species, metrics)
        training = load_json(folder / "training_sets" / "training_sets.json")
        if training:
            _training_sets(b, training)


def _held_out(b: ReportBuilder, species: str, metrics: dict) -> None:
    b.heading(f"{species}: each dataset held out", 3)
    notes = metrics.get("dataset", {}).get("held_out_folds", [])
    b.bullets(
        [
            f"holding out {n['held_out']}: {n['n_test']} test cells, {n['n_train']} training "
            f"cells ({n['train_cells_of_shared_donors_removed']} cells of shared donors left "
            f"out)"
            + (
                "; the training cells hold no "
                + ", ".join(n["test_classes_missing_from_training"])
                + f" ({n['test_cells_of_those_classes']} test cells cannot be right)"
                if n["test_classes_missing_from_training"]
                else ""
            )
            for n in notes
        ]
    )
    rows = [
        [
            r["model"],
            r["dataset"],
            *_scores(r),
            _pct(r["called"]),
            _pct(r["flagged"]),
            f"{_pct(r['accuracy_flagged'])} / {_pct(r['accuracy_unflagged'])}",
        ]
        for r in metrics.get("by_dataset", [])
    ]
    header = ["model", "held-out dataset", "cells", "accuracy", "balanced acc.", "macro-F1"]
    b.table(
        [*header, "called", "flagged", "accuracy flagged / not"],
        rows,
        "in %, mean over seeds; 'called', 'flagged': the deployed classifier only",
    )


def _training_sets(b: ReportBuilder, training: dict) -> None:
    b.heading(f"{training['species']}: which datasets to train on ({training['model']})", 3)
    b.para(
        f"{training['protocol']['description']}; every arm scored on each dataset's test "
        f"cells. Cells per dataset: "
        + ", ".join(f"{k} {v}" for k, v in training["cells_per_dataset"].items())
        + ".",
        "note",
    )
    b.table(
        ["trained on", "scored on", "accuracy", "macro-F1"],
        [
            [r["arm"], r["dataset"], fmt_pct(r["accuracy"]), fmt_pct(r["macro_f1"])]
            for r in training["summary"]
        ],
    )
    b.table(
        ["a - b", "scored on", "metric", "difference (points) [95% CI], p"],
        [
            [f"{c['a']} - {c['b']}", c["dataset"], c["metric"], fmt_gain(c)]
            for c in training["comparisons"]
            if c["metric"] in ("accuracy", "macro_f1")
        ],
    )
    layers = training.get("by_layer", [])
    if layers:
        b.table(
            ["trained on", "layer", "cells", "accuracy", "balanced acc.", "macro-F1"],
            [[r["arm"], r["layer"], *_scores(r)] for r in layers],
            "the same held-out cells by their layer (out-of-fold, in %, mean over seeds)",
        )
