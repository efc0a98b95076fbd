"""A user's own IPFX feature table and labels table, loaded like the bundled data.

:func:`load_table` reads a features table (checked against a schema by
:func:`~ephys2type.data.tables.read_feature_table`) and an optional labels table
(:func:`read_labels`), then labels, QCs and aligns them as the bundled data are
(:func:`~ephys2type.data.prepare.prepare`). :func:`read_labels` is also how
:func:`~ephys2type.data.added_cells.with_added_cells` reads the labels of a lab's added cells.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pandas as pd

from ephys2type.data.container import PatchSeqData
from ephys2type.data.id_columns import (
    H5AD_ID_COLUMN,
    collapse_duplicate_rows,
    detect_id_column,
    find_id_column,
    index_by_id,
)
from ephys2type.data.labels import AS_IS, get_scheme
from ephys2type.data.mapping import load_mapping
from ephys2type.data.prepare import prepare
from ephys2type.data.recordings.check_table import warn_blocked_training_cells
from ephys2type.data.schema import FeatureSchema, get_schema
from ephys2type.data.table_formats import UNNAMED_COLUMN
from ephys2type.data.table_text import read_csv_text, settle_unnamed_column
from ephys2type.data.tables import read_feature_table
from ephys2type.errors import Ephys2TypeWarning, TableError


def load_table(
    features: str | Path,
    labels: str | Path | None = None,
    schema: str | Path | FeatureSchema = "mouse",
    *,
    species: str | None = None,
    id_column: str | None = None,
    label_column: str = "subclass",
    donor_column: str | None = None,
    label_scheme: str = AS_IS,
    qc: str | None = None,
    aligned: bool = False,
    mapping: str | Path | None = None,
) -> PatchSeqData:
    """Load a user's own IPFX feature table (and optional labels) like the bundled data.

    ``features`` is a CSV with one row per cell, an ``id_column`` and every column of
    ``schema`` (extra columns are ignored with a warning). ``id_column=None`` finds it as
    ``predict`` does (``cell_id``, ``specimen_id``, ..., else the one column of unique text
    ids); the labels use the same column name. ``labels`` is a CSV with the same
    ids, the ``label_column`` and optionally a donor column; other columns become metadata.
    With ``label_scheme="as_is"`` labels are used as written; a built-in scheme (e.g.
    ``mouse5``) maps them, given ``species``. ``mapping`` (a file,
    :mod:`ephys2type.data.mapping`) renames the table's columns and converts their units onto
    the schema, as for ``predict`` (a trial: ``train --table --mapping`` ignored it).
    """
    schema = get_schema(schema)
    species = species or schema.species
    if id_column is None:
        id_column = find_id_column(features, schema)
    # a plain frame, as in every PatchSeqData (the FeatureFrame read is for a model's input)
    columns = None if mapping is None else load_mapping(mapping, schema)
    read = read_feature_table(features, schema, id_column=id_column, mapping=columns)
    warn_blocked_training_cells(getattr(read, "checks", None), str(features))
    X = pd.DataFrame(read)
    meta = pd.DataFrame(index=X.index)
    if labels is not None:
        lab = read_labels(labels, id_column, X.index, required=[label_column], schema=schema)
        meta = lab.reindex(X.index)
        meta["label"] = meta[label_column]
        if label_scheme != AS_IS:
            # a built-in scheme reads its own metadata column (e.g. revised_subclass): the
            # user's label column stands in for it, and for the subclass
            column = get_scheme(label_scheme, species).column
            for target in {column, "subclass"}:
                if target not in meta.columns:
                    meta[target] = meta[label_column]
    meta.insert(0, "species", species)
    if donor_column is not None:
        if donor_column not in meta.columns:
            raise TableError(f"{labels}: no donor column {donor_column!r}")
        meta["donor"] = donors_or_own(meta[donor_column], what=f"{labels}", column=donor_column)
    elif "donor" in meta.columns:  # a labels column named so is read as the donors
        meta["donor"] = donors_or_own(meta["donor"], what=f"{labels}", column="donor")
    else:
        meta["donor"] = meta.index.to_numpy()  # each cell its own group
    data = PatchSeqData(X=X, meta=meta, schema=schema, species=species, id_column=id_column)
    return prepare(
        data,
        labels=label_scheme if labels is not None else None,
        qc=qc,
        features="aligned" if aligned else "native",
    )


#: Donor values that say the donor is not known (compared without case): such a cell is its
#: own donor, as a blank one is (an "unknown" donor is no one donor of all such cells).
NO_DONOR = ("nan", "none", "na", "n/a", "unknown", "unk", "missing", "null", "?", "-")


def donors_or_own(donors: pd.Series, *, what: str, column: str) -> pd.Series:
    """Each cell's donor as text; a cell whose donor is blank (or :data:`NO_DONOR`) is its
    own donor (as every cell is without a donor column), with a warning naming how many and
    which. Lab metadata has gaps (new-user trial: 4 of 40 layer-1 cells without a donor
    ended donor-grouped folds in an internal error)."""
    text = donors.astype(object).where(donors.notna(), "").astype(str).str.strip()
    blank = (text == "") | text.str.casefold().isin(NO_DONOR)
    if blank.any():
        shown = ", ".join(map(str, donors.index[blank][:3])) + (", ..." if blank.sum() > 3 else "")
        warnings.warn(
            f"{what}: {int(blank.sum())} cell(s) have no donor in column {column!r} ({shown}): "
            "each is counted as its own donor in donor-grouped folds; give them their donor "
            "if they share one",
            Ephys2TypeWarning,
            stacklevel=3,
        )
    return text.where(~blank, pd.Series(donors.index.astype(str), index=donors.index))


def read_labels(
    path: str | Path,
    id_column: str,
    feature_ids: pd.Index,
    *,
    required: list[str],
    schema: FeatureSchema | None = None,
) -> pd.DataFrame:
    """The labels table at ``path`` indexed by cell id, its text stripped.

    Its ``id_column`` holds the ids of the features table (``feature_ids``); when the
    features came from an ``.h5ad`` file or R row names (no id column name), the labels
    name their own id column, found as :func:`~ephys2type.data.id_columns.detect_id_column`
    finds it. Every ``required`` column must be there. Rows repeated exactly are kept once
    and rows matching no feature row are ignored, each with one warning; no matching row
    at all is an error.
    """
    raw = read_csv_text(path, what="label table")
    if (
        id_column not in raw.columns
        and schema is not None
        and (id_column in (H5AD_ID_COLUMN, UNNAMED_COLUMN) or UNNAMED_COLUMN in raw.columns)
    ):
        # an .h5ad file's ids are its obs_names, R row names have no column name: the labels
        # name their own id column (or hold the ids in their own unnamed first column)
        id_column = detect_id_column(raw, schema, path=path)
    raw = settle_unnamed_column(raw, id_column, path=path, stacklevel=3)
    shown = ", ".join(map(str, list(raw.columns)[:8]))
    if id_column not in raw.columns:
        raise TableError(
            f"{path}: no column {id_column!r} (columns: {shown}); the labels name each cell "
            f"in a column called as in the features table ({id_column!r}): rename yours"
        )
    for col in required:
        if col not in raw.columns:
            raise TableError(
                f"{path}: no column {col!r} (columns: {shown}); name the column that holds "
                f"the labels with --label-column (label_column=...)"
            )
    raw, collapsed = collapse_duplicate_rows(raw, id_column)
    if collapsed:
        warnings.warn(
            f"{path}: {len(collapsed)} cell id(s) listed twice with identical rows; kept once "
            f"({', '.join(collapsed[:3])})",
            Ephys2TypeWarning,
            stacklevel=3,
        )
    lab = index_by_id(raw, id_column, path=path)
    matched = lab.index.isin(feature_ids)
    if not matched.any():
        decimals = pd.Index(lab.index.astype(str)).str.replace(r"\.0+$", "", regex=True)
        other = pd.Index(pd.Index(feature_ids).astype(str)).str.replace(r"\.0+$", "", regex=True)
        fix = ""
        if decimals.isin(other).any():  # 1001441596.0 against 1001441596: a spreadsheet's
            fix = (
                "; the same ids, one file's written as decimals (a spreadsheet?): save the id "
                "columns as text, without the '.0'"
            )
        raise TableError(
            f"{path}: no label row matches a feature row (label ids look like "
            f"{lab.index[0]!r}, feature ids like {feature_ids[0]!r}){fix}"
        )
    if not matched.all():
        warnings.warn(
            f"{path}: {int((~matched).sum())} label row(s) match no feature row and are ignored",
            Ephys2TypeWarning,
            stacklevel=3,
        )
    for col in lab.columns:
        lab[col] = lab[col].str.strip()
    return lab


__all__ = ["load_table", "read_labels"]
