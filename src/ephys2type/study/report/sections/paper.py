"""The report's first section: our numbers beside the paper's, the paired comparisons the
paper makes said in words, and which human label column the paper's number is closer to."""

from __future__ import annotations

from ephys2type.study.report.builder import ReportBuilder
from ephys2type.study.report.estimates import Difference
from ephys2type.study.report.paper import PAPER, PAPER_DIFFERENCES, PAPER_TRANSFER_ARM
from ephys2type.study.report.summary import PaperComparison
from ephys2type.study.report.wording import because, verdict

#: The human label columns, as the Lee, Dalley metadata names them.
LABEL_COLUMNS = {"revised": "Revised_subclass_label", "subclass": "subclass_label"}


def paper_section(b: ReportBuilder, paper: PaperComparison) -> None:
    """The rows ``summary.json`` holds, the verdicts and the note on human labels."""
    b.heading("Our numbers beside the paper's")
    b.table(
        ["quantity", "paper", "ours: mean ± SD [95% CI]", "paper inside our CI?", "protocol"],
        [
            [r.quantity, "—" if r.paper is None else r.paper, r.ours, r.paper_inside_ci, r.protocol]
            for r in paper.rows
        ],
    )
    b.para(
        "The paper reports a single 60/20/20 hold-out split; we report stratified k-fold CV "
        "x seeds, and beside it, for the random forest, the paper's protocol: a stratified "
        "80/20 hold-out repeated over the same seeds (the rows marked 'hold-out'; its "
        "interval is over the repeats). For the BiLSTM, whose inner 20% validation split "
        "makes the hold-out 60/20/20, it runs with `ephys2type evaluate --protocol holdout` "
        "(five BiLSTM fits per dataset, left out of the reproduction for time). The paper's "
        "numbers come from one test set of a fifth of its cells (about 740 mouse and 101 "
        "human cells) and have a sampling error of their own: where the paper's value lies "
        "outside our interval, the last column says whether the difference also goes beyond "
        "both errors together (binomial for the paper, an approximation for a macro-F1). Its "
        "transfer number is of pretraining on mouse and fine-tuning on human, our finetune "
        "arm; our joint arm, which trains on both species at once, is beside it, not in its "
        "place.",
        "note",
    )
    b.bullets(verdicts(paper))
    _human_label_note(b, paper)


def verdicts(paper: PaperComparison) -> list[str]:
    """Each paired comparison the paper makes, said in words (which model is better, by how
    much, and whether the folds can tell)."""
    said = []
    if paper.mouse:
        for other, name in (("rf", "the random forest"), ("hgb", "gradient boosting")):
            c = paper.mouse.comparison("bilstm-smote", other, "accuracy")
            said.append(
                f"Mouse: the BiLSTM + SMOTE {verdict(c)} {name} in accuracy {because(c)}."
                + (
                    _paper_difference(c, PAPER_DIFFERENCES["mouse_bilstm_minus_rf"])
                    if other == "rf"
                    else ""
                )
            )
    human = paper.human.get("revised")
    if human:
        c = human.comparison("bilstm-smote", "rf", "macro_f1")
        said.append(
            f"Human (revised labels): the BiLSTM + SMOTE {verdict(c)} the random "
            f"forest in macro-F1 {because(c)}."
        )
    t = paper.transfer
    if t:
        for g in t.gains:
            said.append(
                f"Transfer arm {g.a} {verdict(g)} {g.b} in human macro-F1 {because(g)}."
                + (
                    _paper_difference(g, PAPER_DIFFERENCES["transfer_gain"])
                    if g.a == PAPER_TRANSFER_ARM
                    else ""
                )
            )
        for g in t.gains_vs_best or ():
            said.append(
                f"Against the best human-only model ({t.best_target_only}): transfer arm "
                f"{g.a} {verdict(g)} it in human macro-F1 {because(g)}."
            )
    return said


def _paper_difference(c: Difference | None, paper: float) -> str:
    """Whether the difference the paper reports lies inside our paired interval of it."""
    if c is None or c.ci_low is None or c.ci_high is None:
        return ""
    inside = 100 * c.ci_low <= paper <= 100 * c.ci_high
    return (
        f" The paper's difference, {paper:+.2f} points (one hold-out split, with a sampling "
        f"error of its own), lies "
        f"{'inside' if inside else 'outside'} this interval."
    )


def _human_label_note(b: ReportBuilder, paper: PaperComparison) -> None:
    """Which human label column the paper's human forest accuracy is closer to."""
    forests = {
        LABEL_COLUMNS[labels]: evaluation.models.get("rf") if evaluation else None
        for labels, evaluation in paper.human.items()
    }
    accuracy = {
        column: 100 * rf.accuracy.mean
        for column, rf in forests.items()
        if rf is not None and rf.accuracy is not None
    }
    if len(accuracy) < 2:
        return
    published = PAPER["human_rf_accuracy"]
    closer = min(accuracy, key=lambda k: abs(accuracy[k] - published))
    other = next(k for k in accuracy if k != closer)
    disagree = (
        f"; the two columns disagree for {paper.subclass_columns_disagree} cells"
        if paper.subclass_columns_disagree is not None
        else ""
    )
    b.para(
        f"Human labels: the paper's human random-forest accuracy ({published:.2f}%) is closer "
        f"to ours with {closer} ({accuracy[closer]:.2f}%) than with {other} "
        f"({accuracy[other]:.2f}%){disagree}.",
        "note",
    )
