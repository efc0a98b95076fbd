"""A predicted batch in words: what ``ephys2type predict`` prints above its table, and what
the app's summary shows, from one function (:func:`prediction_lines`) so that the two say
the same (new-user trial: the page lacked the 90% sets, the QC count and the feature sets
the command line named)."""

from __future__ import annotations

from ephys2type.data.qc import RULE_WORDS
from ephys2type.models.abstention import FailedRecordingCheck
from ephys2type.models.call_table import ABSTAIN
from ephys2type.persist.predict import FeatureSetUse, Prediction
from ephys2type.wording import plural, shown

#: Feature sets listed one per line; the rest are summed in one line.
SHOWN_SETS = 10


def feature_set_line(use: FeatureSetUse, *, called: bool = False) -> str:
    """``9 cells predicted by the model of 43 features (expected accuracy 84% [77%, 89%],
    fitted on demand)``, with the features that set it apart from the other sets of its size;
    ``called``: the cells counted are those it called (``predict``: a cell a model read and
    left unassigned is not counted, where ``data check`` counts every cell it will read)."""
    k = len(use.features)
    verb = "called" if called else "predicted"
    line = (
        f"{plural(use.n_cells, 'cell')} {verb} by the model of {plural(k, 'feature')} "
        f"(expected accuracy {use.expected_accuracy:.0%} [{use.low:.0%}, {use.high:.0%}]"
        + (", fitted on demand)" if use.on_demand else ")")
    )
    if use.distinct:
        names = shown(use.distinct)
        others = "set" if use.same_size == 2 else "sets"
        line += f"; unlike the other {k}-feature {others}, with {names}"
    if use.n_imputing:  # new-user trial: the figure of complete cells, said of others
        names = shown(use.imputed, 6)
        who = "it" if use.n_cells == 1 else f"{use.n_imputing} of them"
        verb = "lacks" if use.n_cells == 1 or use.n_imputing == 1 else "lack"
        line += (
            f"; {who} {verb} features most training cells have ({names}), imputed: the "
            "expected accuracy is that of cells that have them"
        )
    return line


def called_despite_checks(result: Prediction) -> int:
    """How many cells were called although a recording check that leaves a cell unassigned
    by default failed (``--call-failed-checks``)."""
    checks = result.scores.recording_checks
    if checks is None or result.model.refuse_failed_checks:
        return 0
    called = (result.table["predicted"] != ABSTAIN).to_numpy()
    return sum(bool(c and b) for c, b in zip(called, checks.blocking, strict=True))


def prediction_lines(result: Prediction, *, batch: bool = True) -> list[str]:
    """The batch in words, one line each: the calls per class; the cells unlike the training
    cells and those failing a training QC rule; why cells are unassigned (and how to have
    those a recording check blocked called); the batch's estimated accuracy and its note
    (``batch=False`` leaves these two to a caller that shows the batch check itself); the
    feature sets whose models called the cells; how many calls their prediction set backs
    alone (or, with two-level labels, the level each call is made at)."""
    trained, preds, summary = result.model, result.table, result.batch
    called = preds["predicted"] != ABSTAIN
    n_called, n_unassigned = int(called.sum()), int((~called).sum())
    counts = preds.loc[called, "predicted"].value_counts().sort_index()
    if n_called == 0:
        head = f"{plural(len(preds), 'cell')}, " + (
            "unassigned" if len(preds) == 1 else "all unassigned"
        )
    else:
        head = f"{plural(len(preds), 'cell')}: " + ", ".join(f"{c} {n}" for c, n in counts.items())
        head += f"; {n_unassigned} {ABSTAIN}" if n_unassigned else ""
    lines = [head]
    n_ood, n_qc = int(preds["out_of_distribution"].sum()), int((preds["qc_flag"] != "").sum())
    expected = summary.expected_out_of_distribution
    shown = f"{expected:.2f}" if expected < 1 else f"{expected:.1f}"  # 0.25 for 50 cells
    rules = preds.loc[preds["qc_flag"] != "", "qc_flag"].str.split(":").str[0].value_counts()
    which = ", ".join(f"{n} {RULE_WORDS.get(rule, rule)}" for rule, n in rules.items())
    lines.append(
        # "unlike the training cells" is also an unassigned reason, a stricter one (farther
        # than every held-out training cell): a flagged cell may be called (new-user trial)
        f"{n_ood} flagged out of distribution (beyond 99.5% of the training cells; {shown} "
        f"of {plural(len(preds), 'cell')} expected by chance alone; called unless beyond every "
        "held-out training cell); "
        f"{n_qc} failing a training QC rule"
        + (f" ({which}; the qc_flag column says which)" if which else "")
    )
    for kind, n in summary.unassigned_reasons.items():
        how = ""
        if kind == FailedRecordingCheck.kind:  # new-user trial: how to have them called
            where = (
                "empty their checks_failed and checks_blocking cells in the features table"
                if result.checks_in_table
                else f"remove their check rows from {result.checks_source}"
            )
            how = f" (after looking at their traces: --call-failed-checks calls them, or {where})"
        lines.append(f"{plural(n, 'cell')} {ABSTAIN}: {kind}{how}")
    if anyway := called_despite_checks(result):
        lines.append(
            f"{plural(anyway, 'cell')} called although a recording check failed "
            "(--call-failed-checks; the recording_checks column says which)"
        )
    if batch and (line := summary.accuracy_line()) is not None:
        lines.append(line)
    elif batch and summary.warning() is None:  # the warning says it when there is one
        lines.append(summary.no_estimate_line())
    if batch and (line := summary.note()) is not None:  # a shift that is no warning
        lines.append(f"note: {line}")
    sets = result.feature_sets()
    lines.extend(feature_set_line(use, called=True) for use in sets[:SHOWN_SETS])
    rest = sets[SHOWN_SETS:]
    if rest:
        low = min(u.expected_accuracy for u in rest)
        high = max(u.expected_accuracy for u in rest)
        lines.append(
            f"{plural(sum(u.n_cells for u in rest), 'cell')} called by the models of "
            f"{plural(len(rest), 'other feature set')} (expected accuracy {low:.0%} to "
            f"{high:.0%}; each cell's is in the expected_accuracy column of the predictions file)"
        )
    if "set_size" in preds.columns and n_called:  # one-level labels: calls the sets back alone
        single = int((called & (preds["set_size"] == 1)).sum())
        are, their = ("is", "its") if n_called == 1 else ("are", "their")
        lines.append(
            f"{single} of {plural(n_called, 'call')} {are} the only class in {their} "
            f"{trained.confidence:.0%} prediction set (on shifted batches, the calls that held "
            f"up best)"
        )
    if trained.parent_of is not None:
        up, fine = trained.level_names
        level_counts = preds["call_level"].value_counts()
        lines.append(
            f"prediction sets at {trained.confidence:.0%}: "
            f"{plural(int(level_counts.get(fine, 0)), 'cell')} called at the {fine} (set of at "
            f"most {trained.max_set_size}), {level_counts.get(up, 0)} at the {up} only"
        )
    return lines
