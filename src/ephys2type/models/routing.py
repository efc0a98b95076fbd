"""Which member serves which cell: routing by the features a cell has.

A lab rarely measures every column of a schema. The router sends each cell to the fitted
member of exactly its features if there is one, else to the member with the most of its
features among those that fit it: the cell has at least :data:`PRESENT_SHARE` of the
member's features of each stimulus protocol, and lacks at most ``max_imputed_share`` of the
member's features (features many training cells lack do not count: they are imputed as
routinely as in training). A cell no member fits needs a member of exactly its measured
features; the router says so (:meth:`MemberRouter.missing`) and never fits one itself:
fitting is the classifier's job, done explicitly (``fit_missing``) or, inside one call of
``predict``, for that call only.

A member fitted on demand serves only cells of exactly its features: one fitted for another
lab's 10 features must not answer for a cell with 9 of them and 2 others.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from ephys2type.data.schema import FeatureSchema
from ephys2type.models.members import Member

#: A member serves a cell only if the cell has at least this share of its features of
#: each stimulus protocol.
PRESENT_SHARE = 0.5


class MemberRouter:
    """Routes measured-feature patterns (schema-wide boolean masks) to members.

    Parameters
    ----------
    schema : the classifier's schema; members : the members fitted with the classifier
    (largest first); on_demand : members fitted on demand, each serving exactly its
    features; usually_measured : per schema column, whether most training cells have it;
    max_imputed_share : most of a member's (usually measured) features a cell may lack.
    """

    def __init__(
        self,
        schema: FeatureSchema,
        members: Sequence[Member],
        on_demand: Iterable[Member],
        usually_measured: np.ndarray,
        max_imputed_share: float,
    ):
        self.schema = schema
        self.members = list(members)
        self.on_demand = {frozenset(m.features): m for m in on_demand}
        self.usually_measured = np.asarray(usually_measured, dtype=bool)
        self.max_imputed_share = max_imputed_share
        self._position = {c: j for j, c in enumerate(schema.columns)}

    def features_of(self, measured: np.ndarray) -> tuple[str, ...]:
        """The schema columns a pattern has (schema order)."""
        return tuple(c for c, m in zip(self.schema.columns, measured, strict=True) if m)

    def serves(self, member: Member, measured: np.ndarray) -> tuple[bool, int, int]:
        """Whether ``member`` fits a cell measured as ``measured`` (schema-wide mask), with
        how many of its features the cell has and lacks."""
        position = self._position
        cols = np.array([position[c] for c in member.features])
        has = measured[cols]
        lacking = int((~has).sum())
        # a feature many training cells lack (e.g. an ISI at a one-spike rheobase) is imputed
        # as routinely as in training: it does not count against the cell
        unusual = int((~has & self.usually_measured[cols]).sum())
        if unusual > self.max_imputed_share * len(cols):
            return False, int(has.sum()), lacking
        wanted = set(member.features)
        for protocol in self.schema.protocols:
            inside = [
                position[c]
                for fam in self.schema.families
                if fam.stimulus == protocol
                for c in fam.columns
                if c in wanted
            ]
            if inside and measured[inside].mean() < PRESENT_SHARE:
                return False, int(has.sum()), lacking
        return True, int(has.sum()), lacking

    def member_for(self, measured: np.ndarray) -> Member | None:
        """The member serving a cell measured as ``measured``: one of exactly its features
        (fitted with the classifier, then on demand), else the fitted member that fits it
        best (most of its features, fewest imputed); None when it needs a member of its own."""
        wanted = frozenset(self.features_of(measured))
        for member in self.members:
            if frozenset(member.features) == wanted:
                return member
        if wanted in self.on_demand:
            return self.on_demand[wanted]
        best, key = None, None
        for member in self.members:
            ok, has, lacking = self.serves(member, measured)
            if ok and (key is None or (has, -lacking) > key):
                best, key = member, (has, -lacking)
        return best

    def missing(self, patterns: np.ndarray) -> list[tuple[str, ...]]:
        """The feature sets of ``patterns`` (rows: measured masks) no member serves, most
        frequent first, each once."""
        if not len(patterns):
            return []
        unique, inverse = np.unique(patterns, axis=0, return_inverse=True)
        order = np.argsort(-np.bincount(inverse.ravel(), minlength=len(unique)), kind="stable")
        return [self.features_of(unique[k]) for k in order if self.member_for(unique[k]) is None]
