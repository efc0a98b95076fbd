"""Will the stated accuracy hold on this batch? A shift test and a label-free accuracy estimate.

Each call carries an ``expected_accuracy``: the accuracy of its feature set's model on
held-out training cells, an in-distribution figure. A batch from another lab, rig or
preparation can be far below it. Per batch, the check asks whether the batch differs from
the training cells beyond its class mix, and how accurate its calls are likely to be, both
against the calibration cells (training cells no member was fitted on, exchangeable with new
cells of the training kind).

The check has three parts, each in its own module: the shift test
(:mod:`ephys2type.models.batch_shift`), the label-free accuracy estimate
(:mod:`ephys2type.models.batch_accuracy`) and what the user is told
(:mod:`ephys2type.models.batch_summary`); the cells the model was trained on are found by
:mod:`ephys2type.models.training_cells` and left out. This module puts them together
(:func:`check_batch`, :func:`summarize_batch`) and gives their public names in one place.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from ephys2type.models.batch_accuracy import (
    ALLOWANCE_HELD,
    CLASS_MIX_PRIOR_CELLS,
    MIN_ESTIMATE_CELLS,
    N_BOOT,
    SHIFT_ALLOWANCE,
    TOLERANCE,
    AccuracyEstimate,
    allowance_held,
    below_stated_p,
    estimate_accuracy,
    shrunk_mix,
)
from ephys2type.models.batch_shift import (
    ALPHA,
    CLASS_MIXES,
    CONFIDENCE,
    MIN_CELLS,
    MIN_SHIFT_CELLS,
    N_NULL,
    N_SHIFTED,
    ShiftTest,
    shift_test,
)
from ephys2type.models.batch_summary import FIELDS, LARGE_SHIFT_SD, BatchSummary, median_margin
from ephys2type.models.call_table import ABSTAIN, reason_counts
from ephys2type.models.cell_scores import CellScores
from ephys2type.models.novelty import QUANTILE
from ephys2type.models.training_cells import training_cells_note, training_copies, training_mask

__all__ = [
    "ALLOWANCE_HELD",
    "ALPHA",
    "CLASS_MIXES",
    "CLASS_MIX_PRIOR_CELLS",
    "CONFIDENCE",
    "FIELDS",
    "LARGE_SHIFT_SD",
    "MIN_CELLS",
    "MIN_ESTIMATE_CELLS",
    "MIN_SHIFT_CELLS",
    "N_BOOT",
    "N_NULL",
    "N_SHIFTED",
    "SHIFT_ALLOWANCE",
    "TOLERANCE",
    "AccuracyEstimate",
    "BatchSummary",
    "ShiftTest",
    "allowance_held",
    "below_stated_p",
    "check_batch",
    "estimate_accuracy",
    "median_margin",
    "shift_test",
    "shrunk_mix",
    "summarize_batch",
    "training_cells_note",
    "training_copies",
    "training_mask",
]


def check_batch(
    clf,
    scores: CellScores,
    *,
    random_state: int | None = None,
    trained_on: np.ndarray | None = None,
) -> BatchSummary:
    """The batch check of the cells ``scores`` describes (``clf.score_cells(X)``), against
    ``clf``'s calibration cells. Deterministic for a given ``random_state`` (default: the
    classifier's). ``trained_on`` (a boolean mask, as :func:`training_mask` gives it) marks
    cells the model was trained on: counted (``n_training_cells``, the flags, the
    unassigned), but left out of the shift test and the accuracy estimate, since they are
    called with the confidence of cells it learnt (a new-user trial: a batch of 38 training
    cells in 40 was declared shifted by the calls' confidence, 0.21 higher, beside a note
    that they were training cells)."""
    n = scores.n
    reasons = np.asarray(scores.reasons, dtype=object)
    unassigned = reasons != ""
    flagged = int((scores.distance > 1.0).sum())
    expected_share = 1.0 - QUANTILE
    left_out = 0 if trained_on is None else int(np.count_nonzero(trained_on))
    read = scores.rows(~np.asarray(trained_on, dtype=bool)) if left_out else scores
    shift, estimate = ShiftTest(None, clf.training_priors(), []), None
    if read.n >= MIN_SHIFT_CELLS:
        shift = shift_test(clf, read, random_state=random_state)
    if read.n:  # None from fewer than MIN_ESTIMATE_CELLS read by a model
        estimate = estimate_accuracy(clf, read, random_state=random_state)
    allowance = SHIFT_ALLOWANCE if shift.detected and estimate is not None else 0.0
    if allowance:
        estimate = estimate.widened(allowance)
    observed = scores.measured.any(axis=0)
    families_used, families_missing = [], []
    for fam, cols in zip(clf.schema_.family_names, clf.schema_.family_index(), strict=True):
        (families_used if observed[cols].any() else families_missing).append(fam)
    checks = scores.recording_checks
    return BatchSummary(
        n_cells=n,
        n_out_of_distribution=flagged,
        expected_out_of_distribution=expected_share * n,
        p_flagged=float(stats.binomtest(flagged, n, expected_share, alternative="greater").pvalue),
        shift_p=shift.p,
        shift_detected=shift.detected,
        most_shifted_features=shift.shifted,
        estimated_priors=(
            {str(c): float(v) for c, v in zip(clf.classes_, shift.priors, strict=True)}
            if read.routed.any()
            else {}  # nothing estimated: it would be the training mix, shown as the batch's
        ),
        stated_accuracy=None if estimate is None else estimate.stated,
        estimated_accuracy=None if estimate is None else estimate.estimate,
        estimated_accuracy_low=None if estimate is None else estimate.low,
        estimated_accuracy_high=None if estimate is None else estimate.high,
        accuracy_holds=None if estimate is None else estimate.holds,
        families_used=families_used,
        families_missing=families_missing,
        n_failing_qc=0,
        n_unassigned=int(unassigned.sum()),
        unassigned_reasons=reason_counts(reasons),
        n_failed_checks=0
        if checks is None
        else int(sum(bool(b or o) for b, o in zip(checks.blocking, checks.other, strict=True))),
        n_read=int(read.routed.sum()),
        n_training_cells=left_out,
        shift_allowance=allowance,
        allowance_held=allowance_held(clf) if allowance else "",
        level=None if clf.parent_of is None else clf.level_names[0],
    )


def summarize_batch(
    clf,
    scores: CellScores,
    table: pd.DataFrame,
    *,
    copies: list[tuple[int, str]] | None = None,
) -> BatchSummary:
    """:func:`check_batch` with the cells the model was trained on left out of its test and
    estimate (``copies``, as :func:`training_copies` gives them; found when not given), the
    QC flags the table carries counted, and a note when cells are training cells
    (:func:`training_cells_note`)."""
    copies = training_copies(clf, scores.X) if copies is None else copies
    summary = check_batch(clf, scores, trained_on=training_mask(copies, scores.n))
    summary.training_cells = [str(scores.X.index[row]) for row, _ in copies]
    summary.n_failing_qc = int((table["qc_flag"] != "").sum())
    summary.n_unassigned = int((table["predicted"] == ABSTAIN).sum())
    if (note := training_cells_note(clf, scores.X, copies)) is not None:
        summary.notes.append(note)
    return summary
