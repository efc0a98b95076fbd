"""The facts of the data the report quotes, typed, as the qc stage wrote them (``qc.json``):
cells per label scheme and QC profile, the loading notes, the feature counts, and the human
cells whose two subclass columns disagree.

The report reads these from the run folder rather than loading the data again: a report
rebuilt from a folder says what that run's data were.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class SchemeCounts:
    """Cells kept under one label scheme and QC profile, per class."""

    scheme: str
    profile: str
    n_cells: int
    class_counts: dict[str, int]


@dataclass(frozen=True)
class SpeciesFacts:
    """One species' table: cells with features, feature columns (None: not recorded by the
    run), loading notes, the cells under each scheme and profile, and the cells whose two
    subclass columns (``subclass``, ``revised_subclass``) disagree (None: no second column,
    or not recorded)."""

    species: str
    n_cells_with_features: int
    n_features: int | None
    notes: tuple[str, ...]
    schemes: tuple[SchemeCounts, ...]
    subclass_columns_disagree: int | None

    @classmethod
    def from_json(cls, species: str, raw: Mapping[str, Any]) -> SpeciesFacts:
        schemes = []
        for key, s in raw["schemes"].items():
            scheme, profile = key.split("/")
            schemes.append(SchemeCounts(scheme, profile, s["n_cells"], dict(s["class_counts"])))
        return cls(
            species=species,
            n_cells_with_features=raw["n_cells_with_features"],
            n_features=raw.get("n_features"),
            notes=tuple(raw.get("notes", ())),
            schemes=tuple(schemes),
            subclass_columns_disagree=raw.get("subclass_columns_disagree"),
        )

    def counts(self, scheme: str, profile: str) -> SchemeCounts | None:
        """The cells under ``scheme`` and ``profile``; None if not counted."""
        return next((s for s in self.schemes if (s.scheme, s.profile) == (scheme, profile)), None)


@dataclass(frozen=True)
class DataFacts:
    """Every species' facts in the order the qc stage wrote them, and the number of features
    of the aligned cross-species schema (None: not recorded by the run)."""

    species: tuple[SpeciesFacts, ...]
    aligned_features: int | None

    @classmethod
    def from_json(cls, raw: Mapping[str, Any] | None) -> DataFacts:
        """The facts of a parsed ``qc.json`` (None or empty: none)."""
        raw = raw or {}
        return cls(
            species=tuple(
                SpeciesFacts.from_json(name, block)
                for name, block in raw.items()
                if isinstance(block, Mapping) and "schemes" in block
            ),
            aligned_features=(raw.get("aligned") or {}).get("n_features"),
        )

    def of(self, species: str) -> SpeciesFacts | None:
        return next((s for s in self.species if s.species == species), None)
