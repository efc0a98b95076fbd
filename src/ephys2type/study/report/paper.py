"""The study we reproduce and its published numbers, and our numbers beside them: one
:class:`PaperRow` per quantity the paper reports (what ``summary.json`` holds as
``paper_vs_ours`` and the report's first table shows).

The paper reports one human number per quantity without naming its label column, so each
human quantity gets a row per human label column.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from ephys2type.study.report.data_facts import DataFacts
from ephys2type.study.report.estimates import Interval
from ephys2type.study.report.evaluations import Evaluation, TransferResult
from ephys2type.study.report.wording import fmt_gain, fmt_pct, paper_inside, protocol_text

#: The study we reproduce, as our reference copy names it (it gives no arXiv identifier).
STUDY = (
    'Schwider T. & Ramezani R. (2026), "Cross-Species Transfer Learning for '
    'Electrophysiology-to-Transcriptomics Mapping in Cortical GABAergic Interneurons", '
    "cs.LG preprint"
)

#: Published numbers of the study we reproduce (Schwider & Ramezani 2026), in percent.
PAPER = {
    "mouse_cells": 3699,
    "human_cells": 506,
    "mouse_rf_accuracy": 90.72,
    "mouse_bilstm_smote_accuracy": 92.35,
    "human_rf_accuracy": 75.18,
    "human_bilstm_smote_macro_f1": 67.54,
    "transfer_human_only_macro_f1": 65.80,
    "transfer_macro_f1": 67.95,
}

#: The differences the paper claims between two of its numbers in one metric, in points:
#: its BiLSTM over its forest (mouse accuracy) and its transfer gain (human macro-F1,
#: pretraining on mouse then fine-tuning, over its human-only BiLSTM). The report sets each
#: against our paired interval of the same difference.
PAPER_DIFFERENCES = {
    "mouse_bilstm_minus_rf": round(
        PAPER["mouse_bilstm_smote_accuracy"] - PAPER["mouse_rf_accuracy"], 2
    ),
    "transfer_gain": round(PAPER["transfer_macro_f1"] - PAPER["transfer_human_only_macro_f1"], 2),
}
#: Our arm that does what the paper's transfer did (pretrain on mouse, fine-tune on human).
PAPER_TRANSFER_ARM = "finetune"

#: Cells in the paper's test sets: a fifth of its cells after QC (its one 60/20/20 hold-out),
#: which gives its numbers a sampling error of their own (:func:`paper_inside`).
PAPER_TEST_CELLS = {
    "mouse": round(0.2 * PAPER["mouse_cells"]),
    "human": round(0.2 * PAPER["human_cells"]),
}

#: The datasets (species, labels) the paper reports numbers for: mouse, and human under
#: both label columns (the paper does not say which it used).
MOUSE = ("mouse", "mouse5")
HUMAN_LABELS = (("human", "revised"), ("human", "subclass"))

#: The transfer protocol the paper's transfer numbers are set beside (our stratified CV).
PAPER_TRANSFER_PROTOCOL = "strat5x5"

NOT_RUN = "not run in this configuration"

Results = Mapping[tuple[str, str], Evaluation | None]


@dataclass(frozen=True)
class PaperRow:
    """One quantity the paper reports: its value, ours (mean ± SD [95% CI], or a count),
    whether the paper's value lies inside our interval ('yes', 'no', '' if unknown) and the
    protocol of ours."""

    quantity: str
    paper: float | None  # None: the paper has no such number (a row of ours beside its)
    ours: str
    paper_inside_ci: str
    protocol: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def paper_rows(
    facts: DataFacts, models: Results, holdout: Results, transfer: TransferResult | None
) -> tuple[PaperRow, ...]:
    """Our numbers beside the paper's: cells after QC (``facts``), the classifiers of each
    dataset (``models``, and the paper's hold-out protocol where run, ``holdout``; both by
    (species, labels)), and the transfer arms on :data:`PAPER_TRANSFER_PROTOCOL`."""
    rows: list[PaperRow] = []

    def add(
        what: str,
        paper: float | None,
        ours: str,
        protocol: str,
        score: Interval | None = None,
        species: str = "human",
    ):
        inside = paper_inside(paper, score, PAPER_TEST_CELLS[species])
        rows.append(PaperRow(what, paper, ours, inside, protocol))

    for species, scheme in (MOUSE, HUMAN_LABELS[0]):
        found = facts.of(species)
        default = found.counts(scheme, "default") if found else None
        complete = found.counts(scheme, "complete") if found else None
        ours = (
            f"{default.n_cells} (default QC); {complete.n_cells} (complete cases)"
            if default and complete
            else NOT_RUN
        )
        add(
            f"{species} cells after QC",
            PAPER[f"{species}_cells"],
            ours,
            f"{species}, labels {scheme}",
            species=species,
        )

    def model_row(
        dataset: tuple[str, str], what: str, model: str, metric: str, paper: str, source: Results
    ) -> None:
        evaluation = source.get(dataset)
        scores = evaluation.models.get(model) if evaluation else None
        score: Interval | None = getattr(scores, metric) if scores else None
        add(
            what,
            PAPER[paper],
            fmt_pct(score) if score else NOT_RUN,
            protocol_text(evaluation.provenance)
            if evaluation
            else "{}, labels {}".format(*dataset),
            score,
            species=dataset[0],
        )

    model_row(MOUSE, "mouse rf accuracy (%)", "rf", "accuracy", "mouse_rf_accuracy", models)
    if MOUSE in holdout:
        what = "mouse rf accuracy (%), the paper's hold-out protocol"
        model_row(MOUSE, what, "rf", "accuracy", "mouse_rf_accuracy", holdout)
    what = "mouse bilstm-smote accuracy (%)"
    model_row(MOUSE, what, "bilstm-smote", "accuracy", "mouse_bilstm_smote_accuracy", models)
    for dataset in HUMAN_LABELS:
        label = dataset[1]
        what = f"human rf accuracy (%), labels {label} (the paper's label column is not stated)"
        model_row(dataset, what, "rf", "accuracy", "human_rf_accuracy", models)
        if dataset in holdout:
            what = f"human rf accuracy (%), labels {label}, the paper's hold-out protocol"
            model_row(dataset, what, "rf", "accuracy", "human_rf_accuracy", holdout)
        what = f"human bilstm-smote macro-F1 (%), labels {label} (label column not stated)"
        model_row(dataset, what, "bilstm-smote", "macro_f1", "human_bilstm_smote_macro_f1", models)

    t = transfer
    protocol = protocol_text(t.provenance) + ", aligned features" if t else "human, labels aligned4"
    human_only = t.models.get("human_bilstm") if t else None
    add(
        "human-only macro-F1 (%), aligned 4-class",
        PAPER["transfer_human_only_macro_f1"],
        fmt_pct(human_only.macro_f1) if human_only else NOT_RUN,
        protocol,
        human_only.macro_f1 if human_only else None,
    )
    # the paper's method, pretrain on mouse then fine-tune on human, is our `finetune` arm
    # (run on the first seed's folds); `joint` trains on both species at once, our main arm,
    # chosen among the strategies on earlier runs: set beside the paper, it is not its method
    for arm, what, paper in (
        (
            PAPER_TRANSFER_ARM,
            "transfer as the paper did it (pretrain mouse, fine-tune human)",
            True,
        ),
        (
            "joint",
            "transfer by joint mouse + human training, then human fine-tune (ours, not the "
            "paper's method)",
            False,
        ),
    ):
        model = t.models.get(arm) if t else None
        gain = t.gain(arm) if t else None
        add(
            f"{what} macro-F1 (%)",
            PAPER["transfer_macro_f1"] if paper else None,
            fmt_pct(model.macro_f1) + f"; gain {fmt_gain(gain)}" if model else NOT_RUN,
            protocol,
            model.macro_f1 if model else None,
        )
    return tuple(rows)
