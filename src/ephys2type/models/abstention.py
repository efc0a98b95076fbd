"""When a cell gets no call: abstention rules as an ordered list of small objects.

Like the QC rules of :mod:`ephys2type.data.qc`, each rule looks at the cells and gives a
reason (``"<kind>: <detail>"``) for those it stops, or none. A cell is left ``unassigned``
by the first rule that stops it, with that rule's reason. Rules read the one computation a
batch gets (:class:`~ephys2type.models.cell_scores.CellScores`), so a reason, the call, its
probability and its set always come from the same numbers.

Each rule runs at one stage of that computation:

``features``  before a cell is routed to a member (it has no features, an implausible
              value, no essential family, or a failed recording check): such cells are not
              routed, and their probabilities are the training class proportions;
``member``    once its member's probabilities are known (the feature set's expected
              accuracy, the distance to the training cells);
``sets``      once its prediction set is known (a large set, an empty set).

:data:`RULES` lists them in the order they apply; :func:`rule_names` gives their kinds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ephys2type.data.columns import set_classes
from ephys2type.models.cell_scores import CellScores, Deciding
from ephys2type.models.conformal import NO_CALL

#: The stages of the computation, in order.
STAGES = ("features", "member", "sets")


def _none(n: int) -> np.ndarray:
    return np.full(n, "", dtype=object)


@dataclass(frozen=True)
class Rule:
    """A rule: its reason kind (``kind``), the stage it runs at, and :meth:`reasons`."""

    kind: ClassVar[str] = ""
    stage: ClassVar[str] = "features"

    def reasons(self, scores: CellScores, clf: Deciding) -> np.ndarray:
        """Per cell, the reason this rule stops it (``""``: not stopped)."""
        raise NotImplementedError


@dataclass(frozen=True)
class NoFeatures(Rule):
    kind: ClassVar[str] = "no features"

    def reasons(self, scores, clf):
        out = _none(scores.n)
        out[~scores.measured.any(axis=1)] = f"{self.kind}: the cell has no measured feature"
        return out


@dataclass(frozen=True)
class FailedRecordingCheck(Rule):
    """A recording check (:mod:`ephys2type.data.recordings.checks`) that says the cell may
    not be an interneuron, or fires at rest: its features describe something else."""

    kind: ClassVar[str] = "failed recording check"

    def reasons(self, scores, clf):
        out = _none(scores.n)
        if scores.recording_checks is None or not clf.refuse_failed_checks:
            return out
        for i, text in enumerate(scores.recording_checks.blocking):
            if text:
                out[i] = f"{self.kind}: {text}"
        return out


@dataclass(frozen=True)
class ImplausibleValue(Rule):
    kind: ClassVar[str] = "implausible value"

    def reasons(self, scores, clf):
        out = _none(scores.n)
        bad = clf.ranges_.implausible(scores.X).to_numpy()
        units = {f.name: f.unit for f in clf.schema_.features}
        for i in np.flatnonzero(bad.any(axis=1)):
            j = int(np.flatnonzero(bad[i])[0])
            col = clf.schema_.columns[j]
            more = int(bad[i].sum()) - 1
            out[i] = (
                f"{self.kind}: "
                + clf.ranges_.describe(
                    col, float(scores.X.iat[i, j]), units[col], their=scores.their_column(col)
                )
                + (f" and {more} more" if more else "")
            )
        return out


@dataclass(frozen=True)
class NoEssentialFamily(Rule):
    kind: ClassVar[str] = "no essential family"

    def reasons(self, scores, clf):
        out = _none(scores.n)
        families = clf.schema_.families
        essential = [k for k, fam in enumerate(families) if fam.essential]
        if essential:
            names = ", ".join(families[k].name for k in essential)
            lacking = ~scores.has_family[:, essential].any(axis=1)
            out[lacking] = f"{self.kind}: none of {names} measured"
        return out


@dataclass(frozen=True)
class LowExpectedAccuracy(Rule):
    kind: ClassVar[str] = "low expected accuracy"
    stage: ClassVar[str] = "member"

    def reasons(self, scores, clf):
        out = _none(scores.n)
        expected = scores.expected_accuracy
        n_features = scores.measured.sum(axis=1)
        for i in np.flatnonzero(expected < clf.min_expected_accuracy):
            out[i] = (
                f"{self.kind}: its {int(n_features[i])} features support about "
                f"{expected[i]:.0%} accuracy, below the floor of "
                f"{clf.min_expected_accuracy:.0%}"
            )
        return out


@dataclass(frozen=True)
class UnlikeTraining(Rule):
    kind: ClassVar[str] = "unlike the training cells"
    stage: ClassVar[str] = "member"

    def reasons(self, scores, clf):
        out = _none(scores.n)
        limit = clf.distance_.max_training_score_
        for i in np.flatnonzero(scores.distance > limit):
            out[i] = (
                f"{self.kind}: distance {scores.distance[i]:.2f} x the 99.5% threshold, "
                f"farther than every held-out training cell ({limit:.2f})"
            )
        return out


@dataclass(frozen=True)
class LargeSet(Rule):
    """More classes in the set than ``max_set_size`` (with two-level labels: no level gives
    a call, and the level above holds more than one class)."""

    kind: ClassVar[str] = "large prediction set"
    stage: ClassVar[str] = "sets"

    def reasons(self, scores, clf):
        out = _none(scores.n)
        classes = clf.classes_
        if scores.levels is None:
            size = scores.sets.sum(axis=1)
            for i in np.flatnonzero(scores.routed & (size > clf.max_set_size)):
                out[i] = (
                    f"{self.kind}: {size[i]} of {len(classes)} classes at "
                    f"{clf.confidence:.0%} ({'; '.join(map(str, classes[scores.sets[i]]))})"
                )
            return out
        up = clf.level_names[0]
        undecided = (scores.levels["call_level"] == NO_CALL).to_numpy() & scores.routed
        if clf.call_inside_set:  # an empty or one-class parent set is another reason
            undecided &= scores.levels[f"{up}_set_size"].to_numpy() > 1
        for i in np.flatnonzero(undecided):
            out[i] = (
                f"{self.kind}: more than one {up} at {clf.confidence:.0%} "
                f"({scores.levels[f'{up}_set'].iloc[i]})"
            )
        return out


@dataclass(frozen=True)
class NoTypicalClass(Rule):
    """The call must lie inside its own set. An empty prediction set means no class is
    typical of the cell at the promised confidence, so the most probable class is not
    backed by the calibration; a call outside a non-empty set (its class atypical while
    another is typical) likewise. With two-level labels, at the level above when no level
    gives a call."""

    kind: ClassVar[str] = "no typical class"
    stage: ClassVar[str] = "sets"

    def reasons(self, scores, clf):
        out = _none(scores.n)
        if not clf.call_inside_set:
            return out
        at = f"{clf.confidence:.0%}"
        if scores.levels is None:
            size = scores.sets.sum(axis=1)
            top = scores.top_class()
            for i in np.flatnonzero(scores.routed & ~scores.top_in_set()):
                out[i] = (
                    f"{self.kind}: no class is typical at {at}"
                    if size[i] == 0
                    else _disagree(
                        self.kind, str(top[i]), at, list(map(str, clf.classes_[scores.sets[i]]))
                    )
                )
            return out
        up = clf.level_names[0]
        levels = scores.levels
        undecided = (levels["call_level"] == NO_CALL).to_numpy() & scores.routed
        size = levels[f"{up}_set_size"].to_numpy()
        for i in np.flatnonzero(undecided & (size <= 1)):
            out[i] = (
                f"{self.kind}: no {up} is typical at {at}"
                if size[i] == 0
                else _disagree(
                    self.kind,
                    str(levels[up].iloc[i]),
                    at,
                    set_classes(levels[f"{up}_set"].iloc[i]),
                    level=up,
                )
            )
        return out


def _disagree(kind: str, top: str, at: str, typical: list[str], level: str = "") -> str:
    """Why a cell whose most probable class lies outside its set gets no call: the two
    disagree, so neither is called (new-user trial: "Pvalb is most probable but not typical
    (set: Sst)" read as a reason to call it Sst)."""
    what = level or "class"
    them = "; ".join(typical)
    those = f"{them}, the one {what} typical" if len(typical) == 1 else f"{them}, those typical"
    return (
        f"{kind}: {top} is the most probable {what} but not typical at {at}, and {those} at "
        f"{at}, less probable: the probabilities and the set disagree, so neither is called "
        f"({level + ' ' if level else ''}set: {them})"
    )


#: The rules in the order they apply (stages in :data:`STAGES` order).
RULES: tuple[Rule, ...] = (
    NoFeatures(),
    FailedRecordingCheck(),
    ImplausibleValue(),
    NoEssentialFamily(),
    LowExpectedAccuracy(),
    UnlikeTraining(),
    LargeSet(),
    NoTypicalClass(),
)


#: The rules about how sure a call must be (as opposed to whether the cell can be read at
#: all): an evaluation that switches them off still gets a call from every cell a member
#: read.
DECISION_RULES = (LowExpectedAccuracy.kind, LargeSet.kind, NoTypicalClass.kind)


def rule_names() -> list[str]:
    """The reason kinds, in the order the rules apply."""
    return [rule.kind for rule in RULES]


def apply(stage: str, scores: CellScores, clf: Deciding) -> None:
    """Apply the rules of ``stage`` to the cells ``scores`` has no reason for yet, in order;
    each cell keeps the first reason it gets."""
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}; stages: {', '.join(STAGES)}")
    for rule in RULES:
        if rule.stage != stage:
            continue
        found = rule.reasons(scores, clf)
        fresh = (scores.reasons == "") & (found != "")
        scores.reasons[fresh] = found[fresh]
