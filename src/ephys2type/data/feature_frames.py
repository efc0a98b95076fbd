"""Cells x features, checked once. However they come (a file read by
:func:`~ephys2type.data.tables.read_feature_table`, or a DataFrame, array or AnnData object
given to a model and turned into a frame by :func:`as_feature_frame`), they are checked by
one validator, :func:`validate_features`. A file read by ``read_feature_table`` comes back as
a :class:`FeatureFrame`, which records that it passed; :func:`as_feature_frame` accepts that
very object without checking it again.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd

from ephys2type.data.id_columns import (
    detect_id_column,
    usable_ids,
)
from ephys2type.data.mapping import ColumnMapping
from ephys2type.data.schema import FeatureSchema
from ephys2type.data.schema_match import (
    SCHEMA_OF_MODEL,
    check_schema_match,
)
from ephys2type.data.table_text import (
    to_numeric,
)
from ephys2type.errors import Ephys2TypeWarning, TableError
from ephys2type.wording import shown


class FeatureFrame(pd.DataFrame):
    """Cells x features as :func:`validate_features` returned them for a schema: float64
    columns of the schema, in its order, indexed by unique cell ids.

    What :func:`read_feature_table` returns. It records the schema and the columns it was
    checked with, so that :func:`as_feature_frame` (a model's input check) accepts this very
    object without checking it again. Anything derived from it (a copy, a subset, arithmetic)
    is a plain DataFrame and is checked as any other input; values set in place after the
    read are trusted.
    """

    _metadata: ClassVar[list[str]] = [
        "schema_name",
        "schema_columns",
        "source",
        "absent_noted",
        "mapping",
        "checks",
    ]

    @property
    def _constructor(self) -> type[pd.DataFrame]:
        return pd.DataFrame  # derived frames are plain: the record holds for this object only

    @classmethod
    def of(
        cls,
        frame: pd.DataFrame,
        schema: FeatureSchema,
        *,
        source: str = "features",
        absent_noted: bool = False,
        mapping: ColumnMapping | None = None,
        checks: pd.DataFrame | None = None,
    ) -> FeatureFrame:
        """``frame`` (the output of :func:`validate_features` for ``schema``), recorded as
        checked; ``source`` names it in messages (its file), ``absent_noted`` records that
        its absent schema columns were already named in a warning, ``mapping`` the mapping
        that renamed its columns (so a unit slip names the line to change; a frame derived
        from this one is plain and has none, so its unit slips suggest a new line),
        ``checks`` the recording checks its table's columns carried (indexed as ``frame``;
        :func:`~ephys2type.data.recordings.check_table.checks_from_columns`)."""
        out = cls(frame)
        out.schema_name = schema.name
        out.schema_columns = tuple(frame.columns)
        out.source = source
        out.absent_noted = absent_noted
        out.mapping = mapping
        out.checks = checks
        return out

    def is_checked_for(self, schema: FeatureSchema) -> bool:
        """Still as checked for ``schema``: same schema, same columns, all float64, unique
        ids (a cheap look at the structure; the values are not read)."""
        columns = tuple(self.columns)
        present = set(columns)
        return (
            getattr(self, "schema_name", None) == schema.name
            and getattr(self, "schema_columns", None) == columns
            and columns == tuple(c for c in schema.columns if c in present)
            and all(dtype == np.float64 for dtype in self.dtypes)
            and self.index.is_unique
        )


def validate_features(
    frame: pd.DataFrame,
    schema: FeatureSchema,
    *,
    what: str | Path = "features",
    locate: Callable[[int], str] | None = None,
) -> pd.DataFrame:
    """The one check of cells x features against a schema: ids unique, every value of the
    schema's columns a number or empty, none infinite or implausibly large.

    ``frame`` is indexed by cell id; its columns of ``schema`` are checked (it may lack
    some; columns outside the schema are not read: the caller says what it ignores).
    Returns them as float64 in schema order, with the same index. Errors name ``what`` and
    the place (``locate(position)``; by default the row's cell id). Both a file read
    (:func:`read_feature_table`) and a model's input (:func:`as_feature_frame`) pass here.
    """
    if not frame.index.is_unique:
        dup = frame.index[frame.index.duplicated()][0]
        raise TableError(f"{what}: duplicate cell id {dup!r}")
    columns = [c for c in schema.columns if c in frame.columns]
    X = to_numeric(
        frame,
        columns,
        path=what,
        locate=locate or (lambda pos: f"row {frame.index[pos]!r}"),
    )
    X.index = frame.index
    return X


def _index_names_cells(index: pd.Index) -> bool:
    """Whether a DataFrame's index holds cell ids the caller chose (named, or text), not
    row numbers (an unnamed integer index, as ``read_csv`` or ``sample`` leave)."""
    return index.name is not None or not pd.api.types.is_integer_dtype(index.dtype)


def as_feature_frame(
    features,
    schema: FeatureSchema,
    *,
    id_column: str | None = None,
    preferred_id_column: str | None = None,
    what: str = "features",
) -> pd.DataFrame:
    """Cells given to a model, as a float DataFrame in schema order indexed by cell id.

    ``features`` is a DataFrame with (some of) the schema's columns, a 2-D array with all of
    them in schema order, or an AnnData object (its ``.to_df()``). The ids are the column
    ``id_column``, else the model's own id column (``preferred_id_column``) when the table
    has it (with an index of ids, only if none of its values is blank or repeated), else the
    DataFrame's index when it names cells (a named index, as
    ``read_csv(index_col=0)`` gives, or one of text; new-user trial: a unique date column
    replaced it), else a column found as :func:`detect_id_column` finds it (none: the index).
    Absent schema columns become NaN (one warning); extra columns are ignored (one warning);
    text, infinite or huge values, duplicate ids, an empty table, or a table of another
    schema's features are errors (:func:`validate_features`). A :class:`FeatureFrame` from
    :func:`read_feature_table` for this schema was checked when read: only its absent
    columns are added.
    """
    read = isinstance(features, FeatureFrame) and id_column is None
    if read and features.is_checked_for(schema):
        return _in_schema_order(features, schema, what=what)
    if hasattr(features, "to_df") and hasattr(features, "obs_names"):
        features = features.to_df()  # an AnnData object: obs_names x var_names
    if isinstance(features, np.ndarray) or (
        not isinstance(features, pd.DataFrame) and hasattr(features, "__array__")
    ):
        array = np.asarray(features)
        if array.ndim != 2 or array.shape[1] != len(schema.columns):
            raise TableError(
                f"{what}: expected an array of shape (cells, {len(schema.columns)}) "
                f"with the columns of feature_names_in_, got {array.shape}"
            )
        features = pd.DataFrame(array, columns=schema.columns)
    if not isinstance(features, pd.DataFrame):
        raise TableError(f"{what} must be a pandas DataFrame or a 2-D array (rows: cells)")
    if features.empty:
        raise TableError(f"{what} table is empty")
    features = features.rename(columns=str)
    if features.columns.has_duplicates:  # before any column is added (review: pandas' error)
        twice = sorted(set(features.columns[features.columns.duplicated()]))
        raise TableError(f"{what}: columns named twice: {shown(twice)}; keep one of each")
    check_schema_match(features.columns, schema, path=what, source=SCHEMA_OF_MODEL)
    missing = [c for c in schema.columns if c not in features.columns]
    if len(missing) == len(schema.columns):
        raise TableError(
            f"{what}: none of the model's {len(missing)} feature columns "
            f"({', '.join(missing[:4])}, ...) is in the table"
        )
    if missing:
        warn_absent(missing, schema, what=what, stacklevel=4)
        # one block, not a column at a time (pandas warned of a fragmented frame)
        features = features.reindex(columns=[*features.columns, *missing])
    extra = [c for c in features.columns if c not in schema.columns]
    if (
        id_column is None
        and preferred_id_column in extra  # the model's own id column, over an index of ids
        and (not _index_names_cells(features.index) or usable_ids(features[preferred_id_column]))
    ):  # when it can be (review: blanks or repeats took over a good index)
        id_column = preferred_id_column
    elif id_column is None and extra and not _index_names_cells(features.index):
        try:
            id_column = detect_id_column(
                features[extra], schema, preferred=preferred_id_column, path=what
            )
        except TableError:
            id_column = None
    if id_column is not None:
        if id_column not in features.columns:
            raise TableError(f"{what}: no id column {id_column!r}")
        features = features.set_index(id_column)
        extra = [c for c in extra if c != id_column]
    if extra:
        warnings.warn(
            f"ignoring {len(extra)} column(s) the model does not use: {shown(extra)}",
            Ephys2TypeWarning,
            stacklevel=3,
        )
    return validate_features(features, schema, what=what)


def warn_absent(
    missing: list[str],
    schema: FeatureSchema,
    *,
    what: str,
    stacklevel: int,
    source: str = SCHEMA_OF_MODEL,
) -> None:
    """One warning for the schema columns a model's input lacks; ``stacklevel`` from here
    to the caller of :func:`as_feature_frame`'s caller (the model method called)."""
    of = (
        f"of the model's {len(schema.columns)} feature columns"
        if source == SCHEMA_OF_MODEL
        else f"of the {len(schema.columns)} feature columns of schema {schema.name!r}"
    )
    warnings.warn(
        f"{what}: {len(missing)} {of} absent, each cell is predicted from the features it "
        f"has: {shown(missing)}",
        Ephys2TypeWarning,
        stacklevel=stacklevel,
    )


def _in_schema_order(cells: FeatureFrame, schema: FeatureSchema, *, what: str) -> pd.DataFrame:
    """A checked :class:`FeatureFrame` with every schema column (absent ones NaN, one
    warning unless the read said it), as the plain float64 frame :func:`validate_features`
    would have returned."""
    missing = [c for c in schema.columns if c not in cells.columns]
    frame: pd.DataFrame = cells
    if missing:
        if not getattr(cells, "absent_noted", False):  # said once, when the file was read
            warn_absent(missing, schema, what=what, stacklevel=5)
        frame = cells.assign(**{c: np.nan for c in missing})
    block = frame[schema.columns].to_numpy(dtype=np.float64)
    return pd.DataFrame(block, index=cells.index, columns=schema.columns)
