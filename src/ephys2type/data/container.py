"""The :class:`PatchSeqData` container that every loader returns and every model consumes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from ephys2type.data.schema import FeatureSchema
from ephys2type.errors import Ephys2TypeError


@dataclass(frozen=True)
class QCReport:
    """What QC did: the profile, per-rule drops, and the cells kept per class."""

    profile: str
    label_scheme: str | None
    n_input: int
    rules: tuple[str, ...]
    drops: pd.DataFrame  # index: cell_id; columns: rule, detail

    @property
    def n_kept(self) -> int:
        return self.n_input - len(self.drops)

    def rule_counts(self) -> pd.Series:
        """Cells dropped per rule, in profile order (zeros included)."""
        counts = self.drops["rule"].value_counts()
        return pd.Series({r: int(counts.get(r, 0)) for r in self.rules}, dtype="int64")

    def to_dict(self) -> dict[str, Any]:
        return {
            "profile": self.profile,
            "label_scheme": self.label_scheme,
            "n_input": self.n_input,
            "n_kept": self.n_kept,
            "dropped_per_rule": self.rule_counts().to_dict(),
        }


@dataclass(frozen=True, eq=False)
class PatchSeqData:
    """Patch-seq cells: features, labels, donors, metadata and the feature schema.

    Attributes
    ----------
    X : float feature table (cells x schema columns, in schema order), indexed by cell id.
    meta : per-cell metadata (species, donor, subclass, t_type, condition, structure, ...).
    schema : the :class:`~ephys2type.schema.FeatureSchema` describing the columns of ``X``.
    species : ``"mouse"``, ``"human"`` or a user-given name.
    y : class labels under ``label_scheme`` (NaN for unlabeled cells), or None.
    label_scheme : name of the label scheme that produced ``y``.
    qc : the QC report, when QC was applied.
    sources : reference file name -> SHA-256 of the files the data came from.
    notes : facts about the input worth reporting (e.g. rows collapsed or unmatched).
    id_column : the column that held the cell ids in the table the cells were read from
        (a saved model remembers it, so ``predict`` finds the ids in the same format).
    """

    X: pd.DataFrame
    meta: pd.DataFrame
    schema: FeatureSchema
    species: str
    y: pd.Series | None = None
    label_scheme: str | None = None
    qc: QCReport | None = None
    sources: dict[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    id_column: str = "cell_id"

    def __post_init__(self) -> None:
        if list(self.X.columns) != self.schema.columns:
            raise Ephys2TypeError(
                f"feature columns do not follow schema {self.schema.name!r} "
                f"({self.X.shape[1]} columns vs {len(self.schema.columns)} in the schema)"
            )
        if not self.X.index.equals(self.meta.index):
            raise Ephys2TypeError("features and metadata must share the same cell index")
        if self.y is not None and not self.X.index.equals(self.y.index):
            raise Ephys2TypeError("features and labels must share the same cell index")

    def __len__(self) -> int:
        return len(self.X)

    def __repr__(self) -> str:
        labels = (
            f", labels={self.label_scheme!r} ({len(self.classes)} classes)"
            if self.y is not None
            else ""
        )
        qc = f", qc={self.qc.profile!r}" if self.qc is not None else ""
        return (
            f"PatchSeqData({self.species}, {len(self)} cells x {self.X.shape[1]} features "
            f"in {len(self.schema.families)} families, schema={self.schema.name!r}{labels}{qc})"
        )

    @property
    def groups(self) -> pd.Series:
        """Donor of each cell (for donor-grouped cross-validation)."""
        return self.meta["donor"]

    @property
    def datasets(self) -> list[str]:
        """The bundled datasets the cells come from, in order of appearance (empty for a
        user's own table)."""
        if "dataset" not in self.meta.columns:
            return []
        return [str(d) for d in pd.unique(self.meta["dataset"].dropna())]

    @property
    def classes(self) -> list[str]:
        """Sorted class names present in ``y``."""
        if self.y is None:
            return []
        return sorted(self.y.dropna().unique().tolist())

    def class_counts(self) -> pd.Series:
        """Cells per class (sorted by class name)."""
        if self.y is None:
            return pd.Series(dtype="int64")
        return self.y.value_counts().reindex(self.classes).astype("int64")

    def label_parents(self, *, required: bool = True) -> dict[str, str] | None:
        """Each class -> its class one level up (t-type -> subclass), from the label scheme's
        ``parent`` (:func:`~ephys2type.data.labels.label_hierarchy`). Labels without a level
        above raise, or give None when not ``required``."""
        from ephys2type.data.labels import get_scheme, label_hierarchy

        if self.y is None or self.label_scheme is None:
            if not required:
                return None
            raise Ephys2TypeError("these cells have no labels, so no label hierarchy")
        if not required and get_scheme(self.label_scheme, self.species).parent is None:
            return None
        return label_hierarchy(self.meta, self.y, self.label_scheme, self.species)

    def restrict(self, families: Sequence[str]) -> PatchSeqData:
        """The same cells with only the features of ``families`` (a lab without the other
        protocols); the schema is restricted too."""
        schema = self.schema.restrict(families)
        return replace(self, X=self.X[schema.columns], schema=schema)

    def subset(self, cells: pd.Index | np.ndarray | list[Any]) -> PatchSeqData:
        """The same data restricted to ``cells`` (ids, or a boolean mask over the cells)."""
        if isinstance(cells, np.ndarray) and cells.dtype == bool:
            index = self.X.index[cells]
        else:
            index = pd.Index(cells)
        return replace(
            self,
            X=self.X.loc[index],
            meta=self.meta.loc[index],
            y=None if self.y is None else self.y.loc[index],
        )
