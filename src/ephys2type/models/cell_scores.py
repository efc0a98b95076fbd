"""The one computation a batch of cells gets: routed probabilities, sets, distances, reasons.

:meth:`CellTypeClassifier.score_cells <ephys2type.models.cell_classifier.
CellTypeClassifier.score_cells>` fills a :class:`CellScores` once per batch; ``predict``,
``predict_proba``, ``predict_table``, ``explain`` and the batch check all read it, so the
call, its probability, its set, its reason and the batch's summary come from the same
numbers and are never recomputed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import pandas as pd

from ephys2type.data.mapping import ColumnMapping
from ephys2type.data.schema import FeatureSchema
from ephys2type.models.members import Member
from ephys2type.models.novelty import FeatureDistance
from ephys2type.models.plausibility import PlausibleRanges
from ephys2type.models.priors import PriorShift


class Deciding(Protocol):
    """What the abstention rules and the table read of a fitted classifier (its
    parameters and fitted parts), so they need not import it."""

    schema_: FeatureSchema
    classes_: np.ndarray
    ranges_: PlausibleRanges
    distance_: FeatureDistance
    confidence: float
    max_set_size: int
    min_expected_accuracy: float
    level_names: tuple[str, str]
    call_inside_set: bool
    refuse_failed_checks: bool

    def qc_flags(self, X: pd.DataFrame) -> pd.Series: ...


@dataclass
class RecordingChecks:
    """The recording checks of each cell (from ``ephys2type features``): ``blocking``, the
    failed checks that make its features describe something other than an interneuron at
    rest (``""``: none), and ``other``, the rest of its failed checks (shown, not acted on)."""

    blocking: np.ndarray
    other: np.ndarray

    @classmethod
    def of(cls, per_cell: pd.DataFrame) -> RecordingChecks:
        """From a table with ``blocking`` and ``other`` columns, one row per cell (what
        :func:`~ephys2type.data.recordings.check_table.cell_checks` and
        :func:`~ephys2type.data.recordings.check_table.checks_from_columns` give)."""
        return cls(
            blocking=per_cell["blocking"].to_numpy(dtype=object),
            other=per_cell["other"].to_numpy(dtype=object),
        )


@dataclass
class CellScores:
    """Everything known about each cell of one batch (rows in the caller's order).

    X : the cells in schema order; measured / has_family : which features and families
    each has; members : the member that served it (None: not routed); proba : calibrated
    class probabilities (the training class proportions where no member served the cell;
    never NaN); routed : a member served it; sets / parent_sets : its prediction sets;
    levels : with two-level labels, each level's call, probability and set, and
    ``call_level``; distance : its distance to the training cells (units of the 99.5%
    threshold); reasons : why it is not called (``""``: called); prior_shift : the batch's
    estimated class proportions when the classifier adapts them; top_families : the
    families with the most attention (BiLSTM members); recording_checks : the recording
    checks passed in with the cells; mapping : the mapping that renamed the lab's columns
    (reasons name their column beside the feature).
    """

    X: pd.DataFrame
    classes: np.ndarray
    measured: np.ndarray
    has_family: np.ndarray
    members: list[Member | None]
    proba: np.ndarray
    routed: np.ndarray
    distance: np.ndarray
    reasons: np.ndarray
    sets: np.ndarray = field(default=None)  # type: ignore[assignment]
    parent_sets: np.ndarray | None = None
    levels: pd.DataFrame | None = None
    prior_shift: PriorShift | None = None
    top_families: np.ndarray | None = None
    recording_checks: RecordingChecks | None = None
    mapping: ColumnMapping | None = None

    def rows(self, keep: np.ndarray) -> CellScores:
        """The same scores of the cells where ``keep`` (a boolean mask) is true, in order;
        what describes the batch as a whole (``classes``, ``prior_shift``, ``mapping``) is
        kept as it is."""
        keep = np.asarray(keep, dtype=bool)

        def cut(a):
            return None if a is None else a[keep]

        return CellScores(
            X=self.X.loc[keep],
            classes=self.classes,
            measured=self.measured[keep],
            has_family=self.has_family[keep],
            members=[m for m, k in zip(self.members, keep, strict=True) if k],
            proba=self.proba[keep],
            routed=self.routed[keep],
            distance=self.distance[keep],
            reasons=self.reasons[keep],
            sets=cut(self.sets),
            parent_sets=cut(self.parent_sets),
            levels=None if self.levels is None else self.levels[keep].reset_index(drop=True),
            prior_shift=self.prior_shift,
            top_families=cut(self.top_families),
            recording_checks=None
            if self.recording_checks is None
            else RecordingChecks(
                blocking=self.recording_checks.blocking[keep],
                other=self.recording_checks.other[keep],
            ),
            mapping=self.mapping,
        )

    def their_column(self, feature: str) -> str:
        """The lab's name of ``feature`` when a mapping renamed it (``""``: its own)."""
        mapped = None if self.mapping is None else self.mapping.of_feature(feature)
        return "" if mapped is None else mapped.source

    @property
    def n(self) -> int:
        return len(self.X)

    @property
    def expected_accuracy(self) -> np.ndarray:
        """Per cell, the expected accuracy of its member's calls (NaN: not routed)."""
        return np.array(
            [np.nan if m is None else m.expected_accuracy for m in self.members], dtype=float
        )

    @property
    def called(self) -> np.ndarray:
        return self.reasons == ""

    def top_class(self) -> np.ndarray:
        """The most probable class of each cell (at the finest level)."""
        return self.classes[self.proba.argmax(axis=1)]

    def top_in_set(self) -> np.ndarray:
        """Whether each cell's most probable class lies inside its own (finest) set."""
        return self.sets[np.arange(self.n), self.proba.argmax(axis=1)]
