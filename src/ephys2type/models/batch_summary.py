"""What the batch check says: :class:`BatchSummary`, the fields of
``<predictions>.summary.json`` and the lines ``predict`` and the app show (the whole check:
:mod:`ephys2type.models.batch_check`).

A warning comes when the answer to the user's question, "will the
stated accuracy hold here?", is no: the estimate lies below the stated accuracy by more than
a batch of its size would by chance (:func:`below_stated_p`), or a feature moved so far
(:data:`LARGE_SHIFT_SD`, beyond the sampling error of the batch's median:
:func:`median_margin`) that a unit, protocol or rig difference is likely whatever the
estimate says. A detected shift short of that, with an estimate that holds, is a note, not a
warning: a batch of one Cre line is a sub-population within its classes (a few t-types,
some layers), which the test rightly finds different from the training mix while the calls
stay as accurate as stated.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from scipy import stats

from ephys2type.models.batch_accuracy import ALLOWANCE_HELD, MIN_ESTIMATE_CELLS, below_stated_p
from ephys2type.models.batch_shift import ALPHA, CONFIDENCE, MIN_SHIFT_CELLS, N_NULL
from ephys2type.wording import plural

#: A detected shift is a warning by itself when a feature's median moved at least this many
#: training SDs beyond the sampling error of a batch of its size (:func:`median_margin`; a
#: unit, protocol or rig difference); smaller detected shifts (a Cre line's sub-population
#: within its classes) are reported as a note, and warn only when the estimated accuracy
#: does not hold.
LARGE_SHIFT_SD = 1.0


#: What each field of ``<predictions>.summary.json`` (:meth:`BatchSummary.to_dict`) is, in a
#: line the app shows beside it (new-user trial: p_flagged, ks, shift_sd were raw numbers).
FIELDS: dict[str, str] = {
    "n_cells": "cells in the batch",
    "n_out_of_distribution": "cells farther from the training cells than 99.5% of held-out "
    "training cells",
    "expected_out_of_distribution": "how many of them a batch like the training cells has by "
    "chance (0.5% of its cells)",
    "p_flagged": "the chance of flagging that many or more out of distribution if the batch were "
    "like the training cells (binomial)",
    "shift_p": "the shift test's p-value: do these cells differ from the training cells beyond "
    "their mix of types? (tested against the EM mix, and when that rejects also against the mean "
    "of the cells' probabilities: the larger p-value; empty: fewer than 5 cells the model was "
    "not trained on)",
    "shift_detected": "shift_p below 0.05",
    "most_shifted_features": "the features that moved most: ks, the distance between the "
    "batch's values and the training cells' (0 to 1); statistic, that distance scaled by the "
    "numbers of cells (what the features are ranked by); shift_sd, how far the batch's median "
    "moved, in training SDs; n_cells, the cells that have the feature; 'model confidence' is "
    "the calls' confidence, not a feature",
    "estimated_priors": "the class mix the shift test weights the training cells to (EM on "
    "the probabilities of the cells a model read), a device of the test, not a count: on random "
    "human batches it was off by 0.3-0.4 (L1); count the calls for the batch's mix (empty: no "
    "cell read)",
    "n_read": "cells a model read (the estimate needs at least 5), cells the model was "
    "trained on left out",
    "n_training_cells": "cells the model was trained on (their features agree with a "
    "training cell's): counted, but left out of the shift test and the estimate",
    "training_cells": "their ids (`ephys2type score` leaves them out when it measures the "
    "calls against labels)",
    "stated_accuracy": "the mean expected_accuracy of the cells a model read: the accuracy on "
    "cells like the training cells",
    "estimated_accuracy": "the accuracy estimated for this batch, without labels (average "
    "thresholded confidence)",
    "estimated_accuracy_low": "its interval, low end: 95% of the batch's and the calibration "
    "cells' chance, and for a batch declared shifted also the estimate minus shift_allowance",
    "estimated_accuracy_high": "its interval, high end (likewise)",
    "shift_allowance": "how far the estimate of a batch declared shifted may be off beyond "
    "chance, on each side (0 when not declared shifted): the conformal 90% quantile of the "
    "random forest's estimate errors on shifted test sets (benchmarks/shift_allowance.py; it "
    "held about 9 in 10 of a forest's such sets and 8 in 10 of a BiLSTM's)",
    "allowance_held": "how often estimates of this kind of model erred by less than the "
    "allowance on shifted test sets (measured for rf and bilstm-smote with their default "
    "parameters; another BiLSTM gets the BiLSTM's figure, another model both)",
    "accuracy_holds": "the estimate is not further below the stated accuracy than chance allows "
    "for a batch of its size",
    "families_used": "feature families some cell has",
    "families_missing": "feature families no cell has",
    "n_failing_qc": "cells failing a training QC rule (the qc_flag column)",
    "n_unassigned": "cells given no class",
    "unassigned_reasons": "how many cells each rule left unassigned",
    "n_failed_checks": "cells with a failed recording check",
    "level": "two-level labels: the level the accuracy is judged at",
    "notes": "notes on how the batch was read",
    "large_shift": "a feature moved a training SD or more beyond chance: a warning by itself",
    "warning": "what predict warns of (the estimate falls short, or a large shift)",
    "note": "a shift that is no warning (e.g. a batch of one Cre line)",
}


@dataclass
class BatchSummary:
    """What ``<predictions>.summary.json`` holds (see the module docstring).

    n_cells, n_out_of_distribution and expected_out_of_distribution : cells flagged out of
    distribution, against the share expected by construction; shift_p and shift_detected :
    the shift test; most_shifted_features : the features that moved most (KS distance,
    shift in training SDs); estimated_priors : the class mix the shift test weights the
    training cells to (empty when no model read a cell); n_read : the cells a model read;
    n_training_cells : cells the model was trained on, left out of the test and estimate
    (training_cells : their ids);
    stated_accuracy : the mean ``expected_accuracy`` of its routed cells (in-distribution);
    estimated_accuracy (low, high) : the ATC estimate and its interval (95% bootstrap, and
    for a batch declared shifted at least ``shift_allowance`` either side of the estimate);
    accuracy_holds : the estimate does not fall below the stated figure by more than chance
    allows for a batch of its size (:func:`below_stated_p`); families_used /
    families_missing; n_failing_qc; n_unassigned and unassigned_reasons; n_failed_checks :
    cells with a failed recording check.
    """

    n_cells: int
    n_out_of_distribution: int
    expected_out_of_distribution: float
    p_flagged: float
    shift_p: float | None
    shift_detected: bool
    most_shifted_features: list[dict[str, Any]]
    estimated_priors: dict[str, float]
    stated_accuracy: float | None
    estimated_accuracy: float | None
    estimated_accuracy_low: float | None
    estimated_accuracy_high: float | None
    accuracy_holds: bool | None
    families_used: list[str]
    families_missing: list[str]
    n_failing_qc: int
    n_unassigned: int
    unassigned_reasons: dict[str, int]
    n_failed_checks: int = 0
    n_read: int = 0
    n_training_cells: int = 0
    training_cells: list[str] = field(default_factory=list)
    shift_allowance: float = 0.0
    allowance_held: str = ""
    level: str | None = None
    notes: list[str] = field(default_factory=list)

    #: What ``to_dict`` adds to the fields: what they decide.
    DECIDED = ("large_shift", "warning", "note")

    def to_dict(self) -> dict[str, Any]:
        """The fields, with what they decide (:attr:`DECIDED`): ``large_shift``, ``warning``
        and ``note`` (None when there is none)."""
        return asdict(self) | {
            "large_shift": self.large_shift,
            "warning": self.warning(),
            "note": self.note(),
        }

    def accuracy_line(self) -> str | None:
        """``estimated accuracy on this batch 71% [64%, 78%] (for cells like the training
        cells, as each cell's expected_accuracy says: 84%)``; for a batch declared shifted,
        also why its interval is so wide."""
        if self.estimated_accuracy is None:
            return None
        held = self.allowance_held or ALLOWANCE_HELD["other"]
        wide = (
            f"; the interval is at least ±{100 * self.shift_allowance:.0f} points because "
            f"these cells differ from the training cells, and {held} such estimates on shifted "
            "test sets erred by less"
            if self.shift_allowance > 0
            else ""
        )
        return (
            f"{self._estimated()} (for cells like the training cells, as each cell's "
            f"expected_accuracy says: {self.stated_accuracy:.0%}{wide})"
        )

    def no_estimate_line(self) -> str | None:
        """Why the batch has no accuracy estimate (and, for fewer than
        :data:`MIN_SHIFT_CELLS` cells it was not trained on, no shift test); None when it
        has one."""
        if self.estimated_accuracy is not None:
            return None
        judged = self.n_cells - self.n_training_cells
        if not judged:
            return (
                "no accuracy estimate or shift test for this batch: all its cells are cells "
                "the model was trained on"
            )
        of = (  # not "0 of the batch's 30" when all 30 were called as training cells (review)
            f"the {plural(judged, 'cell')} it was not trained on"
            if self.n_training_cells
            else f"the batch's {plural(self.n_cells, 'cell')}"
        )
        why = (
            f"a model read {self.n_read} of {of}, and an estimate needs at least "
            f"{MIN_ESTIMATE_CELLS} (a cell unassigned by a recording check or for want of "
            "features is not read)"
            if self.n_read < MIN_ESTIMATE_CELLS
            # enough cells read: a model saved without its calibration cells (review)
            else "the model was saved without the calibration cells the estimate reads; "
            "train it again"
        )
        return f"no accuracy estimate for this batch: {why}" + (
            f"; nor a test of whether they differ from the training cells (it needs at least "
            f"{MIN_SHIFT_CELLS} cells the model was not trained on)"
            if judged < MIN_SHIFT_CELLS
            else ""
        )

    def accuracy_phrase(self) -> str | None:
        """``estimated accuracy on this batch 42% [15%, 70%], stated 83%``: the estimate
        beside the in-distribution figure, as a warning says it (:meth:`accuracy_line` says
        more)."""
        if self.estimated_accuracy is None:
            return None
        return f"{self._estimated()}, stated {self.stated_accuracy:.0%}"

    def _estimated(self) -> str:
        """``estimated accuracy on this batch 42% [15%, 70%]`` (on the cells the model was
        not trained on, when some were; on the cells a model read, when fewer)."""
        level = f" at the {self.level} level" if self.level else ""
        which = self._judged_cells() or "this batch"
        if self.n_read < self.n_cells - self.n_training_cells:
            # cells unassigned before a model read them are not in it (new-user trial: "on
            # the 36 cells it was not trained on" of an estimate resting on 21)
            which = (
                # an app trial read "the 5 of the batch's 25 cells a model read" as 20 unread
                f"the {self.n_read} cells a model read of the "
                f"{self.n_cells - self.n_training_cells} it was not trained on"
                if self.n_training_cells
                else f"the {self.n_read} of the batch's {self.n_cells} cells a model read"
            )
        return (
            f"estimated accuracy{level} on {which} {self.estimated_accuracy:.0%} "
            f"[{self.estimated_accuracy_low:.0%}, {self.estimated_accuracy_high:.0%}]"
        )

    def _judged_cells(self) -> str | None:
        """``the 2 cells it was not trained on`` when training cells were left out of the
        test and the estimate (:func:`check_batch`); None when none were."""
        if not self.n_training_cells:
            return None
        return f"the {self.n_cells - self.n_training_cells} cells it was not trained on"

    @property
    def large_shift(self) -> bool:
        """A detected shift in which a feature's median moved :data:`LARGE_SHIFT_SD` or more
        training SDs beyond the sampling error of the median of the cells that have it."""
        return self.shift_detected and any(
            f["feature"] != CONFIDENCE
            and abs(f["shift_sd"]) - median_margin(f["n_cells"]) >= LARGE_SHIFT_SD
            for f in self.most_shifted_features
        )

    @property
    def warns(self) -> bool:
        """Whether the batch gets a warning: its estimated accuracy does not hold the stated
        one, or a feature moved far (:attr:`large_shift`)."""
        return self.accuracy_holds is False or self.large_shift

    def shift_line(self) -> str | None:
        """``these 30 cells differ from the training cells, even allowing for their mix of
        types (p = ...; most shifted: ...)``; None when no shift was detected."""
        if not self.shift_detected:
            return None
        named = ", ".join(_shift_phrase(f) for f in self.most_shifted_features[:3])
        # no pseudo-batch as extreme: the p-value is below the smallest the test can show
        floor = self.shift_p <= 1.0 / (N_NULL + 1) + 1e-12
        # two digits: a p-value of 500 pseudo-batches is good to about 1/500 (a trial read
        # "p = 0.00998", which is 5/501)
        p = f"p < {1.0 / N_NULL:.3g}" if floor else f"p = {self.shift_p:.2g}"
        these = self._judged_cells() or f"these {self.n_cells} cells"
        mix = (
            "even allowing for their mix of types"
            if self.estimated_priors
            # no model read a cell: the training mix stood in (a trial read the claim)
            else "their mix of types unknown, as no model read them"
        )
        return f"{these} differ from the training cells, {mix} ({p}; most shifted: {named})"

    def warning(self) -> str | None:
        """One line for the user when the stated accuracy is unlikely to hold here (see
        :attr:`warns`); None otherwise."""
        if not self.warns:
            return None
        parts = [line] if (line := self.shift_line()) is not None else []
        if self.estimated_accuracy is not None:
            # short: the summary lines give accuracy_line() whole (a trial: it was said twice)
            line = self.accuracy_phrase()
            if self.accuracy_holds is False:
                # why, when the stated figure lies inside the interval (a trial asked): the
                # estimate itself is lower than that many cells give by chance
                p = below_stated_p(self.estimated_accuracy, self.stated_accuracy, self.n_read)
                p_text = "p < 0.001" if p < 0.001 else f"p = {p:.3g}"
                parts.append(
                    f"{line}, lower than chance allows for {plural(self.n_read, 'cell')} each "
                    f"right with probability {self.stated_accuracy:.0%} ({p_text}): read each "
                    "cell's prediction set, not only its call"
                )
            else:
                parts.append(f"{line}: check the shifted features (a unit or protocol?)")
        else:  # too few cells a model read: the features alone warn
            parts.append(  # "of these": all 5 cells given, fewer read (new-user trial)
                f"{self.n_read} of this batch's {plural(self.n_cells, 'cell')} were read by a "
                f"model, too few to estimate their accuracy (at least {MIN_ESTIMATE_CELLS}; a cell "
                "unassigned by a recording check or for want of features is not read"
                + (", nor one the model was trained on" if self.n_training_cells else "")
                + "): check the shifted features (a unit or protocol?)"
            )
        return "; ".join(parts)

    def note(self) -> str | None:
        """One line when a shift was detected that is no warning (:attr:`warns` is false):
        the cells differ, the calls' estimated accuracy holds (e.g. a batch of one Cre line,
        a sub-population of its classes)."""
        if self.warns or (line := self.shift_line()) is None:
            return None
        if self.estimated_accuracy is None:  # not "holds" of an estimate never made
            return f"{line}; their accuracy could not be estimated (too few cells read)"
        return f"{line}; the estimated accuracy holds"


def _shift_phrase(f: dict[str, Any]) -> str:
    """``sag (+1.20 SD)``; the model's confidence, in probability: ``model confidence (0.10
    lower)``."""
    if f["feature"] == CONFIDENCE:
        shift = f["shift_sd"]
        if abs(shift) < 0.005:  # its median moved less than the shown precision
            return f"{CONFIDENCE} (median unchanged)"
        return f"{CONFIDENCE} ({abs(shift):.2f} {'lower' if shift < 0 else 'higher'})"
    return f"{f['feature']} ({f['shift_sd']:+.2f} SD)"


def median_margin(n: int) -> float:
    """How far, in SDs, the median of ``n`` cells of the training kind strays by chance
    (one-sided 95%: the normal quantile times the median's standard error, sqrt(pi / 2) /
    sqrt(n) SDs): 0.65 for 10 cells, 0.21 for 100. The median of 10 cells of one Cre line
    moved 1-1.5 training SDs while their calls held (benchmarks/batch_check.py: the Chat and
    Cck lines); a unit or protocol difference moves it by far more than the margin."""
    return float(stats.norm.ppf(1.0 - ALPHA) * np.sqrt(np.pi / 2.0 / max(n, 1)))
