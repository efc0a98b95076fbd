"""The report's section on cells of other datasets and layers (the ``datasets_<species>``
stages): each bundled dataset held out in turn, per dataset and per layer, the batch check on
each held-out dataset, and which datasets to train on."""

from __future__ import annotations

from ephys2type.study.report.analyses import TrainingSets
from ephys2type.study.report.builder import ReportBuilder
from ephys2type.study.report.evaluations import GroupScores, HeldOutDatasets
from ephys2type.study.report.summary import DatasetResults
from ephys2type.study.report.wording import fmt_gain, fmt_pct, pct

#: The paired comparisons of the training sets the report shows.
COMPARED_METRICS = ("accuracy", "macro_f1")


def datasets_section(b: ReportBuilder, results: tuple[DatasetResults, ...]) -> None:
    """Write the section for every species whose held-out datasets were evaluated."""
    if not results:
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
    for result in results:
        _held_out(b, result.species, result.held_out)
        if result.training:
            _training_sets(b, result.training)


def _scores(row: GroupScores) -> list[str]:
    """Cells, accuracy, balanced accuracy and macro-F1 of one group (in %)."""
    return [f"{row.cells:.0f}", pct(row.accuracy), pct(row.balanced_accuracy), pct(row.macro_f1)]


def _held_out(b: ReportBuilder, species: str, held_out: HeldOutDatasets) -> None:
    b.heading(f"{species}: each dataset held out", 3)
    b.bullets(
        f"holding out {n.held_out}: {n.n_test} test cells, {n.n_train} training "
        f"cells ({n.shared_donor_cells_removed} cells of shared donors left out)"
        + (
            "; the training cells hold no "
            + ", ".join(n.missing_classes)
            + f" ({n.cells_of_missing_classes} test cells cannot be right)"
            if n.missing_classes
            else ""
        )
        for n in held_out.folds
    )
    rows = [
        [
            r.who,
            r.group,
            *_scores(r),
            pct(r.called),
            pct(r.flagged),
            f"{pct(r.accuracy_flagged)} / {pct(r.accuracy_unflagged)}",
        ]
        for r in held_out.by_dataset
    ]
    header = ["model", "held-out dataset", "cells", "accuracy", "balanced acc.", "macro-F1"]
    seeds = max((r.seeds for r in held_out.by_dataset), default=1)
    b.table(
        [*header, "called", "flagged", "accuracy flagged / not"],
        rows,
        ("in %, mean over seeds" if seeds > 1 else "in %, one seed")
        + "; 'called', 'flagged': the deployed classifier only; 'accuracy flagged / not': "
        "of the cells flagged out of distribution and of the others, an unassigned cell "
        "counted as wrong (a flagged cell farther than every held-out training cell is left "
        "unassigned, so a dataset flagged that far scores 0)",
    )
    if held_out.batch_checks:
        names = [n.held_out for n in held_out.folds]
        allowances = {c.shift_allowance for c in held_out.batch_checks if c.shift_allowance}
        interval = (
            "its interval: the bootstrap's 95% (the batch's and the calibration cells' chance), "
            "and for a batch declared shifted at least "
            + " or ".join(f"{100 * a:.0f}" for a in sorted(allowances))
            + " points either side"
            if allowances
            else "its 95% interval"
        )
        b.table(
            [
                "model",
                "held-out dataset",
                "seed",
                "shift detected",
                "warning",
                "flagged",
                "estimated accuracy [interval]",
                "stated (in-distribution)",
                "real",
                "estimated minus real (points)",
            ],
            [
                [
                    c.model,
                    names[c.fold] if c.fold < len(names) else str(c.fold),
                    str(c.seed),
                    "yes" if c.shift_detected else "no",
                    "—" if c.warned is None else ("yes" if c.warned else "no"),
                    pct(c.flagged),
                    f"{pct(c.estimated)} [{pct(c.low)}, {pct(c.high)}]",
                    pct(c.stated),
                    pct(c.real),
                    "—" if c.error is None else f"{100 * c.error:+.1f}",
                ]
                for c in held_out.batch_checks
            ],
            "what `predict` says of each held-out dataset as one batch (the deployed "
            "classifier): the shift test, whether `predict` warns (the estimate below the "
            "stated accuracy by more than chance allows, or a feature moved 1 SD or more "
            f"beyond chance), and the accuracy it estimates without labels ({interval}) beside "
            "the accuracy each call states and the real one (each cell's most probable class, "
            "before abstention), in %; a cell flagged out of distribution counts as wrong in "
            "the estimate, so a batch flagged almost whole is estimated near 0",
        )


def _training_sets(b: ReportBuilder, training: TrainingSets) -> None:
    b.heading(f"{training.species}: which datasets to train on ({training.model})", 3)
    b.para(
        f"{training.protocol}; every arm scored on each dataset's test cells. Cells per "
        "dataset: "
        + ", ".join(f"{k} {v}" for k, v in training.cells_per_dataset.items())
        + "."
        + (
            " Arms, each trained on the training cells of: "
            + "; ".join(f"'{name}', {what}" for name, what in training.arms.items())
            + "."
            if training.arms
            else ""
        ),
        "note",
    )
    b.table(
        ["trained on", "scored on", "accuracy", "macro-F1"],
        [[r.arm, r.dataset, fmt_pct(r.accuracy), fmt_pct(r.macro_f1)] for r in training.scores],
    )
    b.table(
        ["a - b", "scored on", "metric", "difference (points) [95% CI], p"],
        [
            [f"{c.a} - {c.b}", c.dataset, c.metric, fmt_gain(c)]
            for c in training.comparisons
            if c.metric in COMPARED_METRICS
        ],
    )
    if training.by_layer:
        b.table(
            ["trained on", "layer", "cells", "accuracy", "balanced acc.", "macro-F1"],
            [[r.who, r.group, *_scores(r)] for r in training.by_layer],
            "the same held-out cells by their layer (out-of-fold, in %, "
            + (
                "mean over seeds"
                if max(r.seeds for r in training.by_layer) > 1
                else "one seed; a layer of a few cells gives a coarse figure"
            )
            + ")",
        )
