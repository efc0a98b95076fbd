"""Read feature and label tables strictly, with errors that name file, column and line.

Everything the user hands to ephys2type as a table passes through here, the bundled Allen
tables included, so one set of checks guards every entry point: the file exists and is a
table (comma-, semicolon- or tab-separated text, or an ``.xlsx`` sheet: what labs export is
recognised by :mod:`ephys2type.data.table_formats`, each assumption said in one warning)
with a header and at least one row; the id column exists, has no blanks and no duplicates;
every column the schema needs is present; every value is a number or empty (NaN); no value
is infinite; column medians are in the schema's plausible range (so a table in seconds where
milliseconds are expected is caught).

Its parts, each in a module of its own: files as text and values as numbers
(:mod:`ephys2type.data.table_text`), the id column (:mod:`ephys2type.data.id_columns`), the
schema of a table's columns (:mod:`ephys2type.data.schema_match`) and checked cells x
features, however they come (:mod:`ephys2type.data.feature_frames`). This module reads a
feature table with them (:func:`read_feature_table`).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from ephys2type.data.feature_frames import (
    FeatureFrame,
    validate_features,
    warn_absent,
)
from ephys2type.data.h5ad import is_h5ad, read_h5ad_features, read_h5ad_obs
from ephys2type.data.id_columns import (
    H5AD_ID_COLUMN,
    ID_COLUMNS,
    detect_id_column,
    index_by_id,
)
from ephys2type.data.mapping import ColumnMapping
from ephys2type.data.recordings.check_table import CHECK_COLUMNS, checks_from_columns
from ephys2type.data.schema import FeatureSchema
from ephys2type.data.schema_match import (
    SCHEMA_GIVEN,
    SCHEMA_OF_MODEL,
    check_schema_match,
    near_names,
    none_there,
    other_schema_match,
    rename_hint,
    their_column,
)
from ephys2type.data.table_text import (
    line_number,
    read_table_text,
    settle_unnamed_column,
)
from ephys2type.data.unit_checks import check_units
from ephys2type.errors import Ephys2TypeWarning, TableError
from ephys2type.wording import shown


def check_columns(
    frame: pd.DataFrame,
    schema: FeatureSchema,
    *,
    path: str | Path,
    ignore: Sequence[str] = (),
    allow_missing: bool = False,
) -> list[str]:
    """Raise if a schema column is missing (unless ``allow_missing``); return the extra
    (ignored) columns."""
    missing = [c for c in schema.columns if c not in frame.columns]
    if missing and not allow_missing:
        shown = ", ".join(missing[:12]) + (
            f", ... ({len(missing)} in all)" if len(missing) > 12 else ""
        )
        raise TableError(
            f"{path}: missing {len(missing)} column(s) required by schema {schema.name!r}: "
            f"{shown}; a model is trained on every column of its schema (`predict` and `data "
            f"check --model` serve cells with fewer)"
        )
    known = set(schema.columns) | set(ignore)
    return [c for c in frame.columns if c not in known]


def read_feature_table(
    path: str | Path,
    schema: FeatureSchema,
    *,
    id_column: str | None = "cell_id",
    preferred_id_column: str | None = None,
    ignore: Sequence[str] = (),
    check_unit_ranges: bool = True,
    obsm_key: str | None = None,
    allow_missing: bool = False,
    mapping: ColumnMapping | None = None,
    schema_source: str = SCHEMA_GIVEN,
    note_absent: bool = False,
    sheet: str | int | None = None,
) -> pd.DataFrame:
    """Read an IPFX feature table: float64 columns in schema order, indexed by cell id
    (:func:`validate_features`), as a :class:`FeatureFrame` a model does not check again.

    A CSV, ``;``- or tab-separated text, an ``.xlsx`` sheet (as :func:`read_csv_text`
    reads them), or an AnnData ``.h5ad`` file (features in ``.X`` with ``.var_names``, or in the
    data frame ``.obsm[obsm_key]``; the ids are its ``.obs_names``). ``id_column=None``
    finds the id column of a CSV (:func:`detect_id_column`, trying ``preferred_id_column``
    first). Columns not in the schema (and not in ``ignore``) are dropped with a warning.
    With ``allow_missing``, schema columns absent from the file are left out of the result
    (a lab without some protocols) instead of being an error; at least one must be there.
    A ``mapping`` (:mod:`ephys2type.data.mapping`) renames another lab's columns to the
    schema's features and converts their units before the unit check; the converted values
    are checked again. ``schema_source`` says where the schema came from (:data:`SCHEMA_OF_MODEL`,
    :data:`SCHEMA_GIVEN`), so that errors name the fix that applies; ``note_absent`` says the
    absent schema columns in one warning (once: a model given this frame does not repeat it).
    ``sheet`` names the sheet of an ``.xlsx`` workbook (a name or a 0-based position).
    """
    locate = None
    named = str(path)  # how errors about its columns name the table
    other_sheets = False  # a workbook's sheet chosen among others
    renames = False  # a mapping that renames columns
    if is_h5ad(path):
        if sheet is not None:
            raise TableError(f"{path}: a sheet applies to .xlsx workbooks only")
        raw = read_h5ad_features(path, obsm_key=obsm_key)
        # the recording checks travel in .obs, as in a CSV's own columns; by position (the
        # same .obs rows): a join on repeated obs_names would multiply them (review)
        for column, values in read_h5ad_obs(path, CHECK_COLUMNS).items():
            if column not in raw.columns:
                raw[column] = values.to_numpy()
        raw = raw.reset_index(names=H5AD_ID_COLUMN)
        id_column = H5AD_ID_COLUMN
        ids = raw[H5AD_ID_COLUMN]
        locate = lambda pos: f"cell {ids.iloc[pos]!r}"  # noqa: E731 - no file lines in HDF5
    else:
        if obsm_key is not None:
            raise TableError(f"{path}: an .obsm key applies to .h5ad files only")
        raw, read_as = read_table_text(path, what="feature table", sheet=sheet)
        read_as.warn(stacklevel=2)
        named = read_as.where(path)
        other_sheets = bool(read_as.other_sheets)
    if mapping is not None:
        absent = mapping.absent(raw)
        if absent:
            taken = [
                *(c.source for c in mapping.columns),
                *schema.columns,
                *ID_COLUMNS,
                *([id_column] if id_column else []),
            ]
            warnings.warn(
                f"{path}: {len(absent)} column(s) of the mapping are not in the table: "
                f"{shown(absent)}{near_names(absent, raw.columns, taken)}",
                Ephys2TypeWarning,
                stacklevel=2,
            )
        mapping = mapping.present(raw)
        other = other_schema_match(raw.columns, schema)
        renames = any(c.source != c.feature for c in mapping.columns)
        raw = mapping.rename(raw)
        if other is not None and renames:
            warnings.warn(
                f"{path}: most of its columns are named as features of the built-in "
                f"{other[0]!r} schema, and the mapping renames some onto schema "
                f"{schema.name!r}: if these are cells of the other species, do not trust "
                "the calls or the batch check's estimate (across species it estimated 77-84% "
                "where 33-36% were right, docs/mappings.md); if `ephys2type features` "
                f"computed them, compute them again with --schema {schema.species}",
                Ephys2TypeWarning,
                stacklevel=2,
            )
    if not renames:  # a mapping that renames says what the columns are: the other
        # schema's columns it leaves are ignored, not taken for that schema's table
        check_schema_match(raw.columns, schema, path=path, source=schema_source)
    if not any(c in raw.columns for c in schema.columns):
        raise TableError(none_there(named, schema, mapping, other_sheets=other_sheets))
    if id_column is None:
        id_column = detect_id_column(raw, schema, preferred=preferred_id_column, path=path)
    raw = settle_unnamed_column(raw, id_column, path=path)
    index = index_by_id(raw, id_column, path=path).index  # id column present, no blanks/dupes
    checks = checks_from_columns(raw, str(path))  # the checks `ephys2type features` wrote
    if checks is not None:
        checks.index = index
    extra = check_columns(
        raw,
        schema,
        path=path,
        ignore=[id_column, *ignore, *CHECK_COLUMNS],
        allow_missing=allow_missing,
    )
    absent = [c for c in schema.columns if c not in raw.columns]
    if note_absent and absent:
        warn_absent(absent, schema, what=str(path), stacklevel=3, source=schema_source)
    if extra:
        warnings.warn(
            f"{path}: ignoring {len(extra)} column(s) "
            + (  # "not in schema" read as "not in my table" (new-user trial)
                f"the model does not use (not features of its schema {schema.name!r}): "
                if schema_source == SCHEMA_OF_MODEL
                else f"that are not features of schema {schema.name!r}: "
            )
            + f"{shown(extra)}{rename_hint(schema, mapping) if absent else ''}",
            Ephys2TypeWarning,
            stacklevel=2,
        )
    if locate is None:  # the file's lines: the rows keep read_csv's 0-based labels
        rows = raw.index
        locate = lambda pos: f"line {line_number(rows, pos)}"  # noqa: E731
    try:
        X = validate_features(raw.set_axis(index, axis=0), schema, what=path, locate=locate)
    except TableError as exc:
        raise TableError(their_column(str(exc), mapping)) from None
    if mapping is not None:  # converted values are checked again (a factor may overflow)
        X = validate_features(mapping.convert(X), schema, what=path)
    if check_unit_ranges:
        check_units(X.reindex(columns=schema.columns), schema, path=path, mapping=mapping)
    return FeatureFrame.of(
        X, schema, source=str(path), absent_noted=note_absent, mapping=mapping, checks=checks
    )
