"""Which column of a table holds the cell ids, and the table indexed by them: no blank, no
duplicate (a row repeated whole is one cell). Part of reading a table
(:mod:`ephys2type.data.tables`).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from ephys2type.data.h5ad import is_h5ad
from ephys2type.data.recordings.check_table import CHECK_COLUMNS
from ephys2type.data.schema import FeatureSchema
from ephys2type.data.table_formats import (
    UNNAMED_COLUMN,
)
from ephys2type.data.table_text import (
    line_number,
    read_table_text,
)
from ephys2type.errors import Ephys2TypeWarning, TableError
from ephys2type.wording import shown

#: The id column of a table read from an ``.h5ad`` file: its ``.obs_names``.
H5AD_ID_COLUMN = "obs_names"
#: Cell-id column names recognised without being named (Allen releases and common exports).
ID_COLUMNS = ("cell_id", "specimen_id", "cell_specimen_id", "ID", "cell_name", "sample_id")
#: A text column whose values repeat in at most 1 - this share of its rows (one repeat in a
#: table of under 10) is taken for the id column: its repeats are then refused as duplicate
#: ids, with their lines.
MOSTLY_UNIQUE = 0.9


def index_by_id(frame: pd.DataFrame, id_column: str, *, path: str | Path) -> pd.DataFrame:
    """Index a table by its cell-id column, refusing blank and duplicate ids."""
    if id_column not in frame.columns:
        shown = ", ".join(list(frame.columns)[:8]) + (", ..." if frame.shape[1] > 8 else "")
        raise TableError(f"{path}: no id column {id_column!r} (columns: {shown})")
    ids = frame[id_column].astype("string").str.strip()
    blank = ids.isna() | (ids == "")
    if blank.any():
        pos = int(np.flatnonzero(blank.to_numpy())[0])
        raise TableError(
            f"{path}: line {line_number(frame, pos)}: empty cell id in column {id_column!r}"
        )
    dup = ids.duplicated(keep=False)
    if dup.any():
        first = ids[dup].iloc[0]
        lines = [line_number(frame, int(p)) for p in np.flatnonzero((ids == first).to_numpy())]
        raise TableError(
            f"{path}: duplicate cell id {first!r} in column {id_column!r} "
            f"(lines {', '.join(map(str, lines[:5]))}); give each cell one row (if "
            f"{id_column!r} holds no ids, name the id column with --id-column)"
        )
    out = frame.drop(columns=[id_column])
    out.index = pd.Index(ids.to_numpy(dtype=object), name="cell_id")
    return out


def usable_ids(values: pd.Series) -> bool:
    """Whether a column's values can be cell ids: none blank, none repeated."""
    ids = values.astype("string").str.strip()
    return bool(ids.notna().all() and (ids != "").all() and ids.is_unique)


def detect_id_column(
    frame: pd.DataFrame,
    schema: FeatureSchema,
    *,
    preferred: str | None = None,
    path: str | Path = "features",
) -> str:
    """The column of ``frame`` that holds the cell ids.

    In order: ``preferred`` (e.g. the id column a model was trained with) if present; the one
    column among :data:`ID_COLUMNS` present (several: the one whose values are unique and
    not blank); otherwise the one column outside the schema whose values are unique,
    non-blank and not numbers; otherwise an unnamed first column (:data:`UNNAMED_COLUMN`:
    R row names) of unique text; otherwise the one such text column whose values repeat a
    few times (:data:`MOSTLY_UNIQUE`: ids with a duplicate, which :func:`index_by_id` then
    names); otherwise an unnamed first column of unique numbers (a pandas index). Anything
    else is one error listing the candidates.
    """
    if preferred is not None and preferred in frame.columns and preferred != UNNAMED_COLUMN:
        return preferred  # (an unnamed column may only number this file's rows: see below)

    def usable(col: str) -> bool:
        return usable_ids(frame[col])

    known = [c for c in ID_COLUMNS if c in frame.columns]
    if len(known) == 1:
        return known[0]
    if len(known) > 1:
        unique = [c for c in known if usable(c)]
        if len(unique) == 1:
            return unique[0]
        raise TableError(
            f"{path}: several possible cell id columns ({', '.join(known)}); "
            f"name one with --id-column (id_column=...)"
        )
    not_ids = {*schema.columns, UNNAMED_COLUMN, *CHECK_COLUMNS}  # the checks are text too
    others = [c for c in frame.columns if c not in not_ids]
    textual = [
        c for c in others if pd.to_numeric(frame[c], errors="coerce").isna().all() and usable(c)
    ]
    if len(textual) == 1:
        numbered = _numbered(frame, others, usable)
        if numbered:  # an app trial: ids read from 'Slice' beside a 'Cell' of whole numbers
            warnings.warn(
                f"{path}: cell ids read from column {textual[0]!r}, its one column of unique "
                f"text; {shown(numbered)} {'holds' if len(numbered) == 1 else 'hold'} unique "
                f"whole numbers: if those are the ids, say so with --id-column {numbered[0]}",
                Ephys2TypeWarning,
                stacklevel=3,
            )
        return textual[0]
    unnamed = UNNAMED_COLUMN in frame.columns and usable(UNNAMED_COLUMN)
    row_numbers = unnamed and pd.to_numeric(frame[UNNAMED_COLUMN], errors="coerce").notna().all()
    if not textual and unnamed and not row_numbers:
        return UNNAMED_COLUMN  # R row names of the ids
    # one column of text ids but for a few repeats (at most MOSTLY_UNIQUE's share, and one in
    # a small table): the id column, whose duplicates the reading then names with their lines
    # (new-user trial: "no cell id column found" for one repeated id sent the user looking
    # for a column that was there); before row numbers, which are no ids
    repeated = [
        c
        for c in others
        if pd.to_numeric(frame[c], errors="coerce").isna().all()
        and frame[c].astype("string").str.strip().replace("", pd.NA).notna().all()
        and 0 < len(frame) - frame[c].nunique() <= max(1, (1 - MOSTLY_UNIQUE) * len(frame))
    ]
    if not textual and len(repeated) == 1:
        return repeated[0]
    if not textual and unnamed:
        return UNNAMED_COLUMN  # a pandas index of the ids, or row numbers (said when read)
    if not textual:
        # whole numbers are ids too, but also counts: named, never taken (a trial: a lab's
        # "Cell" of 25 unique numbers was told to add an id column it had)
        numbered = _numbered(frame, others, usable)
        hint = (
            f"; {shown(numbered)} {'holds' if len(numbered) == 1 else 'hold'} unique whole "
            f"numbers: if those are the ids, say so with --id-column {numbered[0]}"
            if numbered
            else ""
        )
        raise TableError(
            f"{path}: no cell id column found (looked for {', '.join(ID_COLUMNS)} or one "
            f"column of unique text ids); add a column of unique cell ids, or name the one "
            f"that holds them with --id-column (id_column=...){hint}"
        )
    raise TableError(
        f"{path}: cannot tell which column holds the cell ids ({', '.join(textual)}); "
        f"name one with --id-column (id_column=...)"
    )


def _numbered(frame: pd.DataFrame, columns, usable) -> list[str]:
    """The ``columns`` of unique whole numbers: ids, or counts (named, never taken)."""
    return [
        c
        for c in columns
        if usable(c)
        and (v := pd.to_numeric(frame[c], errors="coerce")).notna().all()
        and (v == v.round()).all()
    ]


def find_id_column(path: str | Path, schema: FeatureSchema, *, preferred: str | None = None) -> str:
    """The id column of a features table, found as ``predict`` finds it
    (:func:`detect_id_column`); the ``.obs_names`` of an ``.h5ad`` file.

    The file's format notes are not shown: the reading of the table that follows says them.
    """
    if is_h5ad(path):
        return H5AD_ID_COLUMN
    frame, _ = read_table_text(path, what="feature table")
    return detect_id_column(frame, schema, preferred=preferred, path=path)


def collapse_duplicate_rows(frame: pd.DataFrame, id_column: str) -> tuple[pd.DataFrame, list[str]]:
    """Drop rows that repeat another row exactly; conflicting rows with one id stay an error.

    Returns the de-duplicated table and the ids that were collapsed.
    """
    ids = frame[id_column].astype("string").str.strip()
    exact = frame.assign(**{id_column: ids}).duplicated(keep="first")
    collapsed = sorted(set(ids[exact].dropna()))
    out = frame.loc[~exact.to_numpy()].copy()
    out[id_column] = ids[~exact.to_numpy()]
    return out, collapsed
