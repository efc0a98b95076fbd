"""Will the stated accuracy hold on this batch? A shift test and a label-free accuracy estimate.

Each call carries an ``expected_accuracy``: the accuracy of its feature set's model on
held-out training cells, an in-distribution figure. A batch from another lab, rig or
preparation can be far below it. Per batch, this module answers two questions, both against
the calibration cells (training cells no member was fitted on, exchangeable with new cells
of the training kind):

**Does the batch differ from the training cells, beyond its class mix?** A lab that records
one Cre line sends a batch of one class; that is composition, not shift. The batch's class
proportions are estimated from its cells' calibrated probabilities (EM, Saerens et al. 2002),
and the calibration cells are re-weighted to them (weight q(y) / p(y) of a cell of class y).
Under a pure change of class mix, the batch's features are then distributed as the weighted
calibration cells' (Lipton et al. 2018). Per feature, the Kolmogorov-Smirnov distance between
the batch and the weighted calibration cells, scaled by its effective sample size; the batch
statistic is the largest over features, and its p-value comes from pseudo-batches of the same
size drawn from the weighted calibration cells (a max-statistic test: one p-value for the
whole batch, the family-wise error controlled across features without assuming them
independent). The batch is declared shifted at p < :data:`ALPHA`. EM's mix can be wrong on a
batch whose mix is the training mix (random human batches: off by an L1 distance of about 0.3,
and the re-weighted cells then differ from the batch by that error alone), so the test is
repeated with a second candidate mix, the mean of the cells' calibrated probabilities (steadier
on such batches; pulled towards the training mix on a one-class batch, where EM is close), and
the batch is declared shifted only when neither mix explains it (its p-value: EM's when EM's
mix explains it, else the larger of the two; its most shifted features: that test's).
Measured by ``benchmarks/batch_check.py`` over five splits: training-like batches declared
shifted, human 24 -> 16 of 260, mouse 23 -> 16 of 400; every shifted split still declared.

**How accurate are its calls likely to be?** Average thresholded confidence (ATC; Garg et al.
2022, ICLR, "Leveraging unlabeled data to predict out-of-distribution performance"): on the
calibration cells, the confidence threshold above which their share equals their accuracy;
the batch's estimated accuracy is the share of its cells above it. A cell flagged out of
distribution (farther from the training cells than 99.5% of held-out training cells) is not
counted, whatever its confidence: far from the training cells a model's confidence says
little, and ATC alone over-estimated such batches (a model of layer-1 cells predicting deeper
ones: 76% estimated, 16% right). The calibration cells are
re-weighted to the batch's estimated class mix first, so a batch of other proportions (the
case where plain ATC failed: layer-1 cells of two classes) is judged against cells of its own
mix; that mix is shrunk towards the training mix as :data:`CLASS_MIX_PRIOR_CELLS`
training-like cells would, because a small batch's EM mix is noisy and a mix of one class
rests the threshold on that class's few calibration cells (measured by
``benchmarks/batch_check.py``: on 1,040 training-like mouse batches it cut the warnings whose
accuracy held from 48 to 31, with no loss on the shifted splits; the shift test and the
reported ``estimated_priors`` keep the batch's own mix). Per member (feature set)
its own calibration cells; a 95% interval from a bootstrap over the batch's and the
calibration cells, each replicate's calls then right or wrong by their own chance (their
calibrated confidence; without it a few confident cells got a zero-width interval). The
quantity is the accuracy of each cell's most probable class (what ``expected_accuracy``
measures, at the parent level for two-level labels), before abstention. That interval counts
chance, not the estimate's bias where the cells changed (a mouse model on human cells: 18-32
points too high), so a batch declared shifted gets an interval that also holds the estimate
plus and minus :data:`SHIFT_ALLOWANCE`, the error that held 90% of shifted sets in
``benchmarks/shift_allowance.py`` (split-conformal over shifts).

**When does the user get a warning?** When the answer to the user's question, "will the
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

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ephys2type.data.cell_copies import same_feature_cells, same_id_cells
from ephys2type.models.call_table import ABSTAIN
from ephys2type.models.cell_scores import CellScores
from ephys2type.models.conformal import same_cell_values
from ephys2type.models.hierarchy import parent_probabilities
from ephys2type.models.novelty import QUANTILE
from ephys2type.models.priors import adapt_priors
from ephys2type.models.shift_allowance import shift_allowance
from ephys2type.wording import plural

#: A batch is declared shifted when the max-statistic test's p-value is below this.
ALPHA = 0.05
#: Pseudo-batches drawn for the shift test's null distribution.
N_NULL = 500
#: Bootstrap replicates of the accuracy estimate's interval.
N_BOOT = 200
#: Fewest cells of the batch that must have a feature for it to be tested.
MIN_CELLS = 3
#: Fewest cells a model read for an accuracy estimate: the estimate is a share of them, so
#: one cell gives 0% or 100%, and its bootstrap a zero-width interval (new-user trial: one
#: cell called of five, "0% [0%, 0%]").
MIN_ESTIMATE_CELLS = 5
#: Fewest cells (not training cells) for the shift test: its false-alarm rate was measured
#: on batches of 10 to 300 cells, and on two or three cells it declared shifts of medians
#: 0.01 SD apart (new-user trial).
MIN_SHIFT_CELLS = 5
#: How many of the most shifted features the summary names.
N_SHIFTED = 5
#: The estimated accuracy "holds" the stated one unless it lies more than this below it and
#: is lower than a batch of its size of the training kind gives by chance (one-sided binomial
#: p < :data:`ALPHA`, :func:`below_stated_p`): 30 cells miss a stated 85% by 10 points by
#: chance, 300 do not.
TOLERANCE = 0.05
#: A detected shift is a warning by itself when a feature's median moved at least this many
#: training SDs beyond the sampling error of a batch of its size (:func:`median_margin`; a
#: unit, protocol or rig difference); smaller detected shifts (a Cre line's sub-population
#: within its classes) are reported as a note, and warn only when the estimated accuracy
#: does not hold.
LARGE_SHIFT_SD = 1.0
#: The accuracy estimate's class mix is ``(n q + c p) / (n + c)`` for n cells a model read, with
#: EM mix q and training mix p: c training-like pseudo-cells (30 fixed before measuring, not
#: tuned; benchmarks/batch_check.py records the unshrunk estimate beside it).
CLASS_MIX_PRIOR_CELLS = 30.0
#: The candidate class mixes the shift test re-weights the training cells to, in the order
#: tried (:func:`shift_test`): the batch's EM mix, then the mean of its cells' calibrated
#: probabilities. ``benchmarks/batch_check.py`` records the EM mix alone beside it.
CLASS_MIXES: tuple[str, ...] = ("em", "mean")
#: The variable of the shift test that is not a feature: the confidence of each call (the
#: probability of its most probable class), whose shift is in probability, not SDs.
CONFIDENCE = "model confidence"
#: How far the estimate of a batch declared shifted may be off, beyond its sampling error: the
#: interval of such a batch also holds the estimate plus and minus this (split-conformal over
#: shifts; :mod:`ephys2type.models.shift_allowance` computes it from the sets it was measured
#: on, packaged). ``benchmarks/shift_allowance.py`` (rule written before it was computed,
#: 2026-12-07): the conformal 90% quantile of the estimate's absolute error on the 39
#: declared-shifted whole held-out sets of 13 shifted splits, three seeds each (the old eight
#: of batch_check.py and five of the six of fresh_shift_splits.py; mouse VISp -> other areas
#: was never declared shifted), 21.1 points. Left one split out at a time, the widened
#: interval held the real accuracy of 95% of those sets (the bootstrap interval alone 82%), at
#: a median width of 49 points (24 before); this value on the same sets 37 of 39, median width
#: 42 points. A split's seeds share its shift: counted once per split, by its largest error,
#: the quantile would be the largest of the 13, 32 points.
SHIFT_ALLOWANCE: float = shift_allowance()


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
    n_training_cells : cells the model was trained on, left out of the test and estimate;
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
            which = f"the {self.n_read} of the batch's {self.n_cells} cells a model read"
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
        p = f"p < {1.0 / N_NULL:.3g}" if floor else f"p = {self.shift_p:.3g}"
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


@dataclass(frozen=True)
class ShiftTest:
    """The shift test's result: its p-value (None: nothing to test), the batch's estimated
    class mix, the most shifted features, and the p-value under each candidate class mix
    tested (:data:`CLASS_MIXES`)."""

    p: float | None
    priors: np.ndarray
    shifted: list[dict[str, Any]]
    p_by_mix: dict[str, float | None] = field(default_factory=dict)

    @property
    def detected(self) -> bool:
        return self.p is not None and self.p < ALPHA


@dataclass(frozen=True)
class AccuracyEstimate:
    """The label-free accuracy estimate: ``estimate`` with its interval (``low``, ``high``;
    95% bootstrap, or :meth:`widened` for a batch declared shifted), ``stated``, the mean
    expected accuracy of the same cells, and ``n``, how many cells they are."""

    estimate: float
    low: float
    high: float
    stated: float
    n: int

    def widened(self, allowance: float) -> AccuracyEstimate:
        """The same estimate with an interval that also holds ``estimate +- allowance``
        (within [0, 1]): what a batch declared shifted gets (:data:`SHIFT_ALLOWANCE`)."""
        return replace(
            self,
            low=max(0.0, min(self.low, self.estimate - allowance)),
            high=min(1.0, max(self.high, self.estimate + allowance)),
        )

    @property
    def holds(self) -> bool:
        """The estimate is not both more than :data:`TOLERANCE` below the stated accuracy and
        lower than chance allows for a batch of its size (:func:`below_stated_p`)."""
        return not (
            self.estimate < self.stated - TOLERANCE
            and below_stated_p(self.estimate, self.stated, self.n) < ALPHA
        )


def median_margin(n: int) -> float:
    """How far, in SDs, the median of ``n`` cells of the training kind strays by chance
    (one-sided 95%: the normal quantile times the median's standard error, sqrt(pi / 2) /
    sqrt(n) SDs): 0.65 for 10 cells, 0.21 for 100. The median of 10 cells of one Cre line
    moved 1-1.5 training SDs while their calls held (benchmarks/batch_check.py: the Chat and
    Cck lines); a unit or protocol difference moves it by far more than the margin."""
    return float(stats.norm.ppf(1.0 - ALPHA) * np.sqrt(np.pi / 2.0 / max(n, 1)))


def below_stated_p(estimate: float, stated: float, n: int) -> float:
    """How often ``n`` cells of the training kind, each right with probability ``stated``,
    have an accuracy as low as ``estimate`` or lower (binomial; by construction the share of
    calibration cells above the ATC threshold is their accuracy). Measured
    (benchmarks/batch_check.py): on the whole held-out set of six shifted human splits it
    separated the four whose accuracy fell 24-66 points from the two where it held."""
    return float(stats.binom.cdf(round(estimate * n), n, stated))


def shift_test(
    clf,
    scores: CellScores,
    *,
    random_state: int | None = None,
    mixes: Sequence[str] = CLASS_MIXES,
    every_mix: bool = False,
) -> ShiftTest:
    """Does the batch differ from the training cells beyond its class mix? (module
    docstring)

    ``mixes`` are the candidate class mixes the training cells are re-weighted to: ``"em"``,
    the batch's EM mix; ``"mean"``, the mean of its cells' calibrated probabilities. With
    several, the batch is declared shifted only when it is shifted under each (each tested
    with the same seed), and its p-value is the largest found. They are tried in order, and
    testing stops at the first under which the batch is not shifted (p >= :data:`ALPHA`: the
    decision is then made whatever the others give, so a batch like the training cells pays
    for one test); ``every_mix`` tests each all the same (``p_by_mix`` then holds them all)."""
    if not mixes or set(mixes) - set(CLASS_MIXES):
        raise ValueError(f"mixes must be some of {CLASS_MIXES}, got {tuple(mixes)}")
    seed = clf.random_state if random_state is None else random_state
    order = _canonical_order(scores)
    proba = scores.proba[order[scores.routed[order]]]
    q = _batch_priors(proba, clf.training_priors())
    candidates = {"em": q, "mean": _mean_priors(proba, clf.training_priors())}
    found: dict[str, tuple[float | None, list[dict[str, Any]]]] = {}
    for name in mixes:
        # the same mix twice (e.g. no cell a member read: both are the training mix) is one test
        same = next((t for t in found if np.allclose(candidates[t], candidates[name])), None)
        found[name] = (
            found[same]
            if same is not None
            else _shift_test(clf, scores, candidates[name], np.random.default_rng(seed), order)
        )
        if not every_mix and found[name][0] is not None and found[name][0] >= ALPHA:
            break
    tested = [name for name in found if found[name][0] is not None]
    by_mix = {name: p for name, (p, _) in found.items()}
    if not tested:
        return ShiftTest(None, q, [], by_mix)
    p, shifted = found[max(tested, key=lambda name: found[name][0])]
    return ShiftTest(p, q, shifted, by_mix)


def estimate_accuracy(
    clf,
    scores: CellScores,
    *,
    random_state: int | None = None,
    count_unlike: bool = False,
    unlike_at_chance: bool = False,
    weighted: bool = True,
    shrink: float = CLASS_MIX_PRIOR_CELLS,
    flatten: float = 1.0,
    method: str = "atc",
) -> AccuracyEstimate | None:
    """The batch's accuracy, estimated without labels (module docstring); None when fewer
    than :data:`MIN_ESTIMATE_CELLS` cells were routed to a member. A cell flagged out of
    distribution is not counted as a likely right call, whatever its confidence (far from
    the training cells a model's confidence means little); ``count_unlike`` counts it as ATC
    alone would; ``unlike_at_chance`` counts it as right by chance (one in as many classes as
    the level has), its confidence ignored (measured, not shipped: on two cross-species
    splits it changed the error by at most 0.3 points, too few cells being flagged there).
    ``weighted=False`` leaves the calibration cells unweighted (ATC as published, blind to
    the batch's class mix).

    Variants measured by ``benchmarks/batch_check.py`` (the defaults are what ships):
    ``shrink`` pulls the batch's estimated class mix towards the training mix as that many
    training-like cells would (``(n q + shrink p) / (n + shrink)`` for a batch of n cells; 0:
    the batch's own EM mix);
    ``flatten`` raises the class weights to that power (1: the weights; 0: none; Shimodaira
    2000's flattened importance weights); ``method="doc"`` takes the batch's mean confidence
    plus the (weighted) calibration cells' accuracy minus their mean confidence in place of
    ATC (difference of confidences, Guillory et al. 2021)."""
    if shrink < 0:
        raise ValueError(f"shrink must be >= 0 (pseudo-cells of the training mix), got {shrink}")
    if method not in ("atc", "doc"):
        raise ValueError(f"method must be 'atc' or 'doc', got {method!r}")
    rng = np.random.default_rng(clf.random_state if random_state is None else random_state)
    found = _accuracy(
        clf,
        scores,
        clf.training_priors(),
        rng,
        count_unlike=count_unlike,
        unlike_at_chance=unlike_at_chance,
        weighted=weighted,
        shrink=shrink,
        flatten=flatten,
        method=method,
    )
    return None if not found else AccuracyEstimate(**found)


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
    kinds = pd.Series(reasons[unassigned]).str.split(":", n=1).str[0].str.strip()
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
        unassigned_reasons={str(k): int(v) for k, v in kinds.value_counts().items()},
        n_failed_checks=0
        if checks is None
        else int(sum(bool(b or o) for b, o in zip(checks.blocking, checks.other, strict=True))),
        n_read=int(read.routed.sum()),
        n_training_cells=left_out,
        shift_allowance=allowance,
        allowance_held=allowance_held(clf) if allowance else "",
        level=None if clf.parent_of is None else clf.level_names[0],
    )


#: How often the shipped allowance held the real accuracy of declared-shifted whole held-out
#: sets (benchmarks/shift_allowance.py: the forest's 39, left one split out, 95%; the
#: BiLSTM's 39, 79%), by the kind of model; said in a shifted batch's accuracy line.
ALLOWANCE_HELD = {
    "forest": "9 in 10 of a random forest's",
    "bilstm": "8 in 10 of a BiLSTM's",
    "other": "9 in 10 of a random forest's and 8 in 10 of a BiLSTM's",
}


def allowance_held(clf) -> str:
    """:data:`ALLOWANCE_HELD` of ``clf``'s kind of model (the two measured kinds; both
    figures for another)."""
    spec = clf.model_spec()
    if spec.kind == "bilstm":
        return ALLOWANCE_HELD["bilstm"]
    return ALLOWANCE_HELD["forest" if spec.name == "rf" else "other"]


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
    summary.n_failing_qc = int((table["qc_flag"] != "").sum())
    summary.n_unassigned = int((table["predicted"] == ABSTAIN).sum())
    if (note := training_cells_note(clf, scores.X, copies)) is not None:
        summary.notes.append(note)
    return summary


def training_copies(clf, cells: pd.DataFrame) -> list[tuple[int, str]]:
    """``(row, training id)`` of the rows of ``cells`` whose features agree with a cell
    ``clf`` was trained on (:func:`~ephys2type.data.cell_copies.same_feature_cells`), or
    that have its id and most of its features (recomputed ones:
    :func:`~ephys2type.data.cell_copies.same_id_cells`), by position, so ids that read alike
    (``1`` and ``"1"``) are not confused."""
    trained = getattr(clf, "X_train_", None)
    if trained is None or not len(cells):
        return []
    found = {
        int(row): theirs
        for row, theirs in same_feature_cells(cells.reset_index(drop=True), trained)
    }
    for row, theirs in same_id_cells(cells, trained):  # the same cell, features recomputed
        found.setdefault(row, theirs)
    return sorted(found.items())


def training_mask(copies: list[tuple[int, str]], n: int) -> np.ndarray:
    """Which of ``n`` rows are training copies (:func:`training_copies`)."""
    mask = np.zeros(n, dtype=bool)
    mask[[row for row, _ in copies]] = True
    return mask


def training_cells_note(
    clf, cells: pd.DataFrame, copies: list[tuple[int, str]] | None = None
) -> str | None:
    """What to say when cells to predict are cells the model was trained on: their features
    agree with a training cell's, under another id, or most of them under its id (``copies``, as
    :func:`training_copies` gives them; found when not given). Their calls are those of
    cells it learnt (new-user trial: 36 of 40 'new' layer-1 cells were bundled training
    cells, and nothing said so), so the batch check leaves them out
    (:func:`summarize_batch`). Cells that only share an id with a training cell are said
    apart: a lab's cell1..cellN are other cells. None when neither."""
    trained = getattr(clf, "X_train_", None)
    if trained is None or not len(cells):
        return None
    copies = training_copies(clf, cells) if copies is None else copies
    copied, ids = {row for row, _ in copies}, set(trained.index.astype(str))
    names = cells.index.astype(str)
    shared_id = [c for k, c in enumerate(names) if c in ids and k not in copied]
    if not copies and not shared_id:
        return None
    parts = []
    if copies:
        row, theirs = copies[0]
        mine = names[row]
        same = "" if mine == theirs else f" as {theirs!r}"
        others = len(cells) - len(copied)
        one = len(copies) == 1
        judged = (  # not "read only the other N": some of those may be unassigned (a trial)
            f"the shift test and the estimated accuracy leave {'it' if one else 'them'} out"
            if others
            else "no shift test or accuracy estimate is made"
        )
        parts.append(
            f"{len(copies)} of its {plural(len(cells), 'cell')} "
            f"{'is a cell' if one else 'are cells'} this model was trained on "
            f"({'its' if one else 'their'} features, or most of them under its id, agree with "
            f"a training cell's, e.g. {mine!r}{same}): "
            f"{'its call is that of a cell' if one else 'their calls are those of cells'} it "
            f"learnt, more often right than a new cell's, so {judged}; measure accuracy on "
            "cells it did not see"
        )
    if shared_id:
        parts.append(
            f"{plural(len(shared_id), 'cell')} "
            f"{'shares' if len(shared_id) == 1 else 'share'} an id with a training cell but few "
            "of its features "
            f"(e.g. {shared_id[0]!r}): "
            + (
                "another cell, or the same cell measured again"
                if len(shared_id) == 1
                else "other cells, or the same cells measured again"
            )
        )
    return "; ".join(parts)


# -- the batch's class mix -----------------------------------------------------------------------


def _batch_priors(proba: np.ndarray, priors: np.ndarray) -> np.ndarray:
    """The batch's class proportions, estimated from calibrated probabilities (EM); the
    training proportions when the batch has no cell a member read."""
    if not len(proba):
        return priors.copy()
    # proportions to 1e-4 are plenty for weights; the default 1e-6 takes ~10x the iterations
    return adapt_priors(proba, np.maximum(priors, 1e-6), tol=1e-4).priors


def _mean_priors(proba: np.ndarray, priors: np.ndarray) -> np.ndarray:
    """The batch's class proportions as the mean of its cells' calibrated probabilities (no
    EM: pulled towards the training mix, but steadier on a random batch); the training
    proportions when the batch has no cell a member read."""
    if not len(proba):
        return priors.copy()
    mean = np.asarray(proba, dtype=float).mean(axis=0)
    return mean / mean.sum()


def _label_weights(y, classes, q: np.ndarray, priors: np.ndarray) -> np.ndarray:
    """Weight q(y) / p(y) of each calibration cell (class ``y``)."""
    ratio = dict(zip(classes, q / np.maximum(priors, 1e-12), strict=True))
    return np.array([ratio[c] for c in y], dtype=float)


# -- the shift test --------------------------------------------------------------------------------


def _ks(values: np.ndarray, ref_sorted: np.ndarray, ref_cum: np.ndarray) -> float:
    """KS distance between the sorted ``values`` of the batch and a weighted reference
    (sorted values, cumulative normalised weights)."""
    k = len(values)
    points = np.concatenate([values, ref_sorted])
    f_batch = np.searchsorted(values, points, side="right") / k
    where = np.searchsorted(ref_sorted, points, side="right")
    f_ref = np.where(where > 0, ref_cum[np.maximum(where - 1, 0)], 0.0)
    # left limits at the batch's own points, where its ECDF jumps
    left = np.searchsorted(values, values, side="left") / k
    where_l = np.searchsorted(ref_sorted, values, side="left")
    f_ref_l = np.where(where_l > 0, ref_cum[np.maximum(where_l - 1, 0)], 0.0)
    return float(max(np.abs(f_batch - f_ref).max(), np.abs(left - f_ref_l).max()))


def _ks_null(
    codes: np.ndarray, ref_cum: np.ndarray, ref_total: np.ndarray, n_values: int
) -> tuple[np.ndarray, np.ndarray]:
    """KS distances under the null, between pseudo-batches and pseudo-references both drawn
    from the reference (the real comparison has the sampling error of both sides): ``codes``
    (pseudo-batches x cells) hold each drawn value's position among the reference's
    ``n_values`` distinct values (-1: missing); ``ref_cum`` (pseudo-batches x values) is a
    bootstrap of the reference's cumulative weight at each of them, ``ref_total``
    (pseudo-batches x 1) its total. Both ECDFs jump only at the reference's values, so
    comparing them there is exact. Returns the distances and the pseudo-batches' cell
    counts."""
    n_null, n = codes.shape
    counts = (codes >= 0).sum(axis=1)
    if 2 * n + 2 > n_values // 10:  # a large batch: both ECDFs at every value
        # values x replicates, the faster way round for numpy's cumulative sum
        valid = codes >= 0
        flat = (codes * n_null + np.arange(n_null)[:, None])[valid]
        hist = np.bincount(flat, minlength=n_null * n_values).reshape(n_values, n_null)
        batch = np.cumsum(hist, axis=0) / np.maximum(counts, 1e-300)[None, :]
        return np.abs(batch - ref_cum.T / ref_total.T).max(axis=0), counts
    # a small batch's ECDF is flat between its few values, and the reference's is monotone:
    # the largest gap lies at an end of a flat stretch (a batch value c, or c - 1), so the
    # same distances are read there, not at every value (the same numbers, 2x faster)
    ordered = np.sort(codes, axis=1)  # missing (-1) first
    width = n_values + 2
    rows = np.arange(n_null)[:, None]
    keys = (ordered + 1 + rows * width).ravel()  # each row's values, rows apart: sorted
    ends = np.broadcast_to(np.array([0, n_values - 1]), (n_null, 2))
    at = np.concatenate([ordered, ordered - 1, ends], axis=1).clip(0, n_values - 1)
    upto = np.searchsorted(keys, (at + 1 + rows * width).ravel(), side="right")
    upto = upto.reshape(at.shape) - rows * n - (n - counts)[:, None]  # batch values <= at
    batch = upto / np.maximum(counts, 1e-300)[:, None]
    reference = np.take_along_axis(ref_cum, at, axis=1) / ref_total
    return np.abs(batch - reference).max(axis=1), counts


def _bootstrap_cumulative(
    codes: np.ndarray, mix: np.ndarray, drawn: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Each bootstrap replicate of a reference whose cell ``r`` takes, in group ``g``, the
    value coded ``codes[g, r]`` (-1: none) with weight ``mix[g, r]``, drawn ``drawn[r, b]``
    times in replicate ``b``: the cumulative weight at each distinct value (replicates x
    values) and the total (replicates x 1). Every code from 0 to its largest must occur.
    Summed cell by cell in the order of their values (cells x replicates, the faster way
    round for numpy), read at each value's last cell: a histogram of each replicate's
    draws, summed in another order (equal to about 1e-14; the p-values of 32 bundled batches
    and of 720 random cases the same), 3x faster on the bundled tables."""
    g, c = np.nonzero(codes >= 0)
    by_value = np.argsort(codes[g, c], kind="stable")
    g, c = g[by_value], c[by_value]
    cum = np.cumsum(drawn[c] * mix[g, c][:, None], axis=0)
    last = np.append(np.flatnonzero(np.diff(codes[g, c])), len(c) - 1)
    return cum[last].T, np.maximum(cum[-1], 1e-300)[:, None]


def _variable(
    table: np.ndarray,
    group: np.ndarray,
    values: np.ndarray,
    w: np.ndarray,
    draws: np.ndarray,
    drawn: np.ndarray,
) -> tuple[float, np.ndarray, float, float] | None:
    """One tested variable: the batch's ``values`` (NaN: not measured) against the weighted
    calibration cells, where calibration cell ``r`` takes the value ``table[g, r]`` for a batch
    cell of group ``g`` (``group``, -1: none); one group for a feature, one per member for the
    confidence. Returns the observed statistic, its null (pseudo-batches), the KS distance
    and the reference's weighted median; None when too little to test."""
    measured = ~np.isnan(values) & (group >= 0)
    if measured.sum() < MIN_CELLS:
        return None
    n_groups = table.shape[0]
    share = np.bincount(group[measured], minlength=n_groups) / measured.sum()
    mix = w[None, :] * share[:, None]  # the reference: a mixture of the groups' values
    have = ~np.isnan(table) & (mix > 0)
    if have.sum() < 10:
        return None
    distinct, code = np.unique(table[have], return_inverse=True)
    codes = np.full(table.shape, -1)
    codes[have] = code.ravel()
    cw = np.bincount(code.ravel(), weights=mix[have], minlength=len(distinct))
    cdf = np.cumsum(cw) / cw.sum()
    m_eff = mix[have].sum() ** 2 / (mix[have] ** 2).sum()
    mine = np.sort(values[measured])
    d = _ks(mine, distinct, cdf)
    observed = d * np.sqrt(len(mine) * m_eff / (len(mine) + m_eff))
    batch_codes = np.where(measured[None, :], codes[np.maximum(group, 0)[None, :], draws], -1)
    d_null, n_null = _ks_null(batch_codes, *_bootstrap_cumulative(codes, mix, drawn), len(distinct))
    null = d_null * np.sqrt(n_null * m_eff / np.maximum(n_null + m_eff, 1e-12))
    return observed, null, d, _weighted_median(distinct, cw)


def _reference(weights: np.ndarray, n: int, rng: np.random.Generator):
    """Normalised weights, and the null's draws from a reference of ``len(weights)`` cells:
    pseudo-batches of ``n`` cells (drawn by weight) and bootstraps of the reference (cells x
    replicates: how many times each replicate drew each cell)."""
    w = weights / weights.sum()
    draws = rng.choice(len(w), size=(N_NULL, n), p=w)
    resampled = rng.integers(0, len(w), size=(N_NULL, len(w)))
    offset = np.arange(N_NULL)[:, None] * len(w)
    drawn = np.bincount((resampled + offset).ravel(), minlength=N_NULL * len(w))
    return w, draws, np.ascontiguousarray(drawn.reshape(N_NULL, len(w)).T)


def _shift_test(
    clf, scores: CellScores, q: np.ndarray, rng: np.random.Generator, order: np.ndarray
) -> tuple[float | None, list[dict[str, Any]]]:
    """The max-statistic KS test of the batch against the training cells re-weighted to its
    class mix ``q``, over every feature and the confidence of the calls (module docstring),
    the batch's cells taken in ``order`` (:func:`_canonical_order`); the p-value and the most
    shifted variables.

    The features are compared with every training cell (each once): a cell's features do
    not depend on what was fitted on it, only its label counts, so all of them are valid
    reference cells and the test's power grows with them. The confidence is compared with
    the calibration cells only (a cell a member was fitted on is more confident than a new
    one)."""
    once = clf.repeats_ == 1
    y_all = np.asarray(clf.y_train_, dtype=object)
    classes = clf.classes_
    fitted_share = pd.Series(y_all[once]).value_counts().reindex(classes).fillna(0)
    fitted_share = (fitted_share / fitted_share.sum()).to_numpy(dtype=float)
    weights = _label_weights(y_all[once], classes, q, fitted_share)
    if weights.sum() <= 0:
        return None, []
    ref = _canonical_values(clf.X_train_)[once]
    batch = _canonical_values(scores.X)[order]
    n = len(batch)
    w, draws, drawn = _reference(weights, n, rng)
    one_group = np.zeros(n, dtype=int)
    tested: list[tuple[dict[str, Any], float, np.ndarray]] = []
    for j, column in enumerate(clf.schema_.columns):
        found = _variable(ref[None, :, j], one_group, batch[:, j], w, draws, drawn)
        if found is None:
            continue
        observed, null, d, centre = found
        mine = batch[~np.isnan(batch[:, j]), j]
        # the SD of the training cells that have the feature (the imputed column's SD is
        # smaller, the more so the sparser the feature: 1.5 times for human chirp features)
        scale = float(np.nanstd(ref[:, j])) or 1.0
        entry = {
            "feature": column,
            "ks": d,
            "statistic": float(observed),
            "shift_sd": float((np.median(mine) - centre) / scale),
            "n_cells": len(mine),
        }
        tested.append((entry, observed, null))
    confidence = _confidence_variable(clf, scores)
    y_cal = np.asarray(clf.y_train_[clf.calibration_], dtype=object)
    cal_weights = _label_weights(y_cal, classes, q, clf.training_priors())
    if confidence is not None and cal_weights.sum() > 0:
        table, group, values = confidence
        group, values = group[order], values[order]
        w_cal, draws_cal, drawn_cal = _reference(cal_weights, n, rng)
        found = _variable(table, group, values, w_cal, draws_cal, drawn_cal)
        if found is not None:
            observed, null, d, centre = found
            entry = {
                "feature": CONFIDENCE,
                "ks": d,
                "statistic": float(observed),
                "shift_sd": float(np.nanmedian(values) - centre),  # in probability
                "n_cells": int((~np.isnan(values)).sum()),
            }
            tested.append((entry, observed, null))
    if not tested:
        return None, []
    observed = np.array([t[1] for t in tested])
    null = np.column_stack([t[2] for t in tested])
    p = float((1 + (null.max(axis=1) >= observed.max()).sum()) / (N_NULL + 1))
    shifts = sorted((t[0] for t in tested), key=lambda f: -f["statistic"])
    return p, shifts[:N_SHIFTED]


def _canonical_values(X: pd.DataFrame) -> np.ndarray:
    """The features as the same cells read them (:func:`same_cell_values`), as float64: a
    CSV and an .xlsx of a table differ in the 15th digit, which must not re-order the batch
    or break a tie with a training cell's value (the same cells gave p = 0.048 and 0.044)."""
    return same_cell_values(X).astype(float)


def _canonical_order(scores: CellScores) -> np.ndarray:
    """The batch's cells sorted by their features (rows in any order give the same pseudo-
    batches and bootstrap replicates, so the same p-value and interval: a table sorted
    another way is the same batch)."""
    return np.lexsort(_canonical_values(scores.X).T[::-1])


def _confidence_variable(clf, scores: CellScores):
    """The confidence of each routed cell's call, with its member's calibration cells'
    confidences as the reference (one group per member); None when none was routed or a
    member lacks its calibration cells' confidences."""
    members: dict[int, int] = {}
    table = []
    group = np.full(scores.n, -1)
    n_cal = int(clf.calibration_.sum())
    for i, member in enumerate(scores.members):
        if member is None or not scores.routed[i]:
            continue
        if id(member) not in members:
            if len(member.calibration.confidence) != n_cal:
                return None
            members[id(member)] = len(table)
            table.append(np.asarray(member.calibration.confidence, dtype=float))
        group[i] = members[id(member)]
    if not table:
        return None
    values = np.where(group >= 0, _confidence(clf, scores.proba), np.nan)
    return np.vstack(table), group, values


def _weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    """Median of sorted ``values`` under ``weights``."""
    cum = np.cumsum(weights) / weights.sum()
    return float(values[min(np.searchsorted(cum, 0.5), len(values) - 1)])


# -- the accuracy estimate -------------------------------------------------------------------------


def _confidence(clf, proba: np.ndarray) -> np.ndarray:
    """Each cell's confidence at the level its expected accuracy is judged by."""
    if clf.parent_of is None:
        return proba.max(axis=1)
    _, top = parent_probabilities(proba, clf.classes_, clf.parent_of)
    return top.max(axis=1)


def shrunk_mix(q: np.ndarray, priors: np.ndarray, n: int, pseudo_cells: float) -> np.ndarray:
    """A batch's class mix ``q`` (of ``n`` cells) pulled towards the training mix ``priors``
    as ``pseudo_cells`` training-like cells would: ``(n q + c p) / (n + c)``."""
    if pseudo_cells < 0:
        raise ValueError(f"pseudo_cells must be >= 0, got {pseudo_cells}")
    return (n * q + pseudo_cells * priors) / (n + pseudo_cells)


def _em(proba: np.ndarray, priors: np.ndarray, *, tol: float = 1e-3) -> np.ndarray:
    """Saerens et al.'s EM for many batches at once: ``proba`` (batches x cells x classes,
    calibrated to ``priors``) -> each batch's class proportions (batches x classes), to
    ``tol`` (weights need no more; near-empty classes converge slowly below it)."""
    old = np.maximum(priors, 1e-6)
    q = np.tile(old, (len(proba), 1))
    for _ in range(1000):
        weighted = proba * (q / old)[:, None, :]
        new = (weighted / weighted.sum(axis=2, keepdims=True)).mean(axis=1)
        done = np.abs(new - q).max() < tol
        q = new
        if done:
            break
    return q


def _atc(conf_cal: np.ndarray, right: np.ndarray, w: np.ndarray, conf: np.ndarray) -> np.ndarray:
    """ATC for many replicates at once (rows): per row, the threshold t where the weighted
    share of calibration cells (``conf_cal``, ``right``, weights ``w``) above t equals their
    weighted accuracy; the share of the row's batch confidences ``conf`` above it."""
    total = w.sum(axis=1)
    accuracy = (w * right).sum(axis=1) / total
    order = np.argsort(conf_cal, axis=1, kind="stable")
    sorted_conf = np.take_along_axis(conf_cal, order, axis=1)
    cum = np.cumsum(np.take_along_axis(w, order, axis=1), axis=1) / total[:, None]
    # the share above t is 1 - cum(t): it equals the accuracy where cum reaches 1 - accuracy
    k = np.minimum((cum < (1.0 - accuracy)[:, None] - 1e-12).sum(axis=1), conf_cal.shape[1] - 1)
    threshold = sorted_conf[np.arange(len(k)), k]
    return (conf > threshold[:, None]).mean(axis=1)


def _doc(conf_cal: np.ndarray, right: np.ndarray, w: np.ndarray, conf: np.ndarray) -> np.ndarray:
    """Difference of confidences for many replicates at once (rows): the mean of the row's
    batch confidences ``conf`` (a cell never counted as right, -inf, taken at confidence 0, so
    it adds the gap alone) plus the weighted calibration cells' accuracy minus their weighted
    mean confidence."""
    total = w.sum(axis=1)
    gap = ((w * right).sum(axis=1) - (w * conf_cal).sum(axis=1)) / total
    return np.clip(np.where(np.isfinite(conf), conf, 0.0).mean(axis=1) + gap, 0.0, 1.0)


def _accuracy(
    clf,
    scores: CellScores,
    priors: np.ndarray,
    rng: np.random.Generator,
    *,
    count_unlike: bool,
    unlike_at_chance: bool,
    weighted: bool,
    shrink: float,
    flatten: float,
    method: str = "atc",
) -> dict:
    """The ATC estimate over the routed cells, per member, with its bootstrap interval
    (``shrink``, ``flatten``: :func:`estimate_accuracy`)."""
    order = _canonical_order(scores)
    routed = order[scores.routed[order]]
    if len(routed) < MIN_ESTIMATE_CELLS:
        return {}
    conf = _confidence(clf, scores.proba)
    chance = np.clip(conf, 0.0, 1.0)  # each call's own chance of being right (the interval)
    unlike = scores.distance > 1.0
    # right by chance: one in as many classes as the level the accuracy is judged at has
    guess = 1.0 / len(clf.classes_ if clf.parent_of is None else set(clf.parent_of.values()))
    at_chance = unlike if unlike_at_chance and not count_unlike else np.zeros_like(unlike)
    chance = np.where(at_chance, guess, chance)
    if not count_unlike:  # below every threshold: never counted as a likely right call
        conf = np.where(unlike, -np.inf, conf)
    groups: dict[int, tuple[Any, list[int]]] = {}
    for i in routed:
        member = scores.members[i]
        groups.setdefault(id(member), (member, []))[1].append(i)
    # the reference: every training cell's out-of-fold call when every member keeps that
    # record (record_folds), else the calibration cells
    once = clf.repeats_ == 1
    records = [member.calibration.record for member, _ in groups.values()]
    if all(r is not None and r.n == once.sum() for r in records):
        y_cal = np.asarray(clf.y_train_[once], dtype=object)
        # the record's class shares (stratified: the calibration cells' within rounding)
        shares = pd.Series(y_cal).value_counts(normalize=True)
        priors = shares.reindex(clf.classes_).fillna(0.0).to_numpy(dtype=float)
        references = records
    else:
        y_cal = np.asarray(clf.y_train_[clf.calibration_], dtype=object)
        references = [member.calibration for member, _ in groups.values()]
    position = {c: k for k, c in enumerate(clf.classes_)}
    y_pos = np.array([position[c] for c in y_cal])
    ratio_of = 1.0 / np.maximum(priors, 1e-12)
    members = []
    for (_, rows), ref in zip(groups.values(), references, strict=True):
        if len(ref.confidence) != len(y_cal):  # a member saved without its calibration cells
            return {}
        members.append(
            (
                np.asarray(rows),
                np.asarray(ref.confidence, dtype=float),
                np.asarray(ref.correct, dtype=float),
            )
        )

    def estimate(batch_rows: list[np.ndarray], cal_rows: np.ndarray) -> np.ndarray:
        """Rows: replicates; ``batch_rows`` per member (replicates x its cells),
        ``cal_rows`` (replicates x calibration cells)."""
        cells = np.concatenate(batch_rows, axis=1)
        q = _em(scores.proba[cells], priors) if weighted else np.tile(priors, (len(cells), 1))
        q = shrunk_mix(q, priors, cells.shape[1], shrink)
        w = (q * ratio_of)[np.arange(len(q))[:, None], y_pos[cal_rows]]
        if flatten != 1.0:
            w = w**flatten
        w = np.where(w.sum(axis=1, keepdims=True) > 0, w, 1.0)
        total = np.zeros(len(cal_rows))
        for (_, c_conf, c_right), rows in zip(members, batch_rows, strict=True):
            share = (_atc if method == "atc" else _doc)(
                c_conf[cal_rows], c_right[cal_rows], w, conf[rows]
            )
            total += share * rows.shape[1] + guess * at_chance[rows].sum(axis=1)
        return total / cells.shape[1]

    every = np.arange(len(y_cal))[None, :]
    point = float(estimate([m[0][None, :] for m in members], every)[0])
    batch_rows = [rng.choice(m[0], size=(N_BOOT, len(m[0])), replace=True) for m in members]
    cal_rows = rng.integers(0, len(y_cal), size=(N_BOOT, len(y_cal)))
    # the batch's accuracy is a share of its calls, each right or wrong by its own chance:
    # without it, a few confident cells got a zero-width interval (5 cells: 100% [100, 100])
    p = chance[np.concatenate(batch_rows, axis=1)]
    luck = (rng.random(p.shape) < p).mean(axis=1) - p.mean(axis=1)
    replicates = np.clip(estimate(batch_rows, cal_rows) + luck, 0.0, 1.0)
    low, high = np.quantile(replicates, [0.025, 0.975])
    stated = float(np.mean(scores.expected_accuracy[routed]))
    return {
        "estimate": point,
        "low": float(low),
        "high": float(high),
        "stated": stated,
        "n": len(routed),
    }
