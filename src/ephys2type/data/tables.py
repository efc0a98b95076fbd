"""Read feature and label tables strictly, with errors that name file, column and line.

Everything the user hands to ephys2type as a table passes through here, the bundled Allen
tables included, so one set of checks guards every entry point: the file exists and is a
table (comma-, semicolon- or tab-separated text, or an ``.xlsx`` sheet: what labs export is
recognised by :mod:`ephys2type.data.table_formats`, each assumption said in one warning)
with a header and at least one row; the id column exists, has no blanks and no duplicates;
every column the schema needs is present; every value is a number or empty (NaN); no value
is infinite; column medians are in the schema's plausible range (so a table in seconds where
milliseconds are expected is caught).

Line numbers count the header as line 1, assuming one line per record (for a workbook: the
sheet's row numbers).

Cells x features, however they come (a file read by :func:`read_feature_table`, or a
DataFrame, array or AnnData object given to a model and turned into a frame by
:func:`as_feature_frame`), are checked by one validator, :func:`validate_features`. A file
read by :func:`read_feature_table` comes back as a :class:`FeatureFrame`, which records that
it passed; :func:`as_feature_frame` accepts that very object without checking it again.
"""

from __future__ import annotations

import csv
import difflib
import io
import re
import warnings
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd

from ephys2type.data.h5ad import is_h5ad, read_h5ad_features, read_h5ad_obs
from ephys2type.data.mapping import ColumnMapping
from ephys2type.data.recordings.check_table import CHECK_COLUMNS, checks_from_columns
from ephys2type.data.schema import FeatureSchema
from ephys2type.data.table_formats import (
    DELIMITER_NAMES,
    SNIFF_LINES,
    UNNAMED_COLUMN,
    TableFormat,
    blank_cells,
    blank_spreadsheet_errors,
    decode_text,
    delimiter_note,
    drop_blank_trailing_rows,
    fields_problem,
    is_workbook,
    read_decimal_commas,
    refuse_non_table,
    row_counter,
    sniff_delimiter,
    workbook_as_text,
)
from ephys2type.data.unit_checks import check_units
from ephys2type.errors import Ephys2TypeWarning, TableError

#: No IPFX feature in any unit comes near this; larger values are corrupt input (and would
#: overflow standardization).
MAX_ABS_VALUE = 1e9
#: The id column of a table read from an ``.h5ad`` file: its ``.obs_names``.
H5AD_ID_COLUMN = "obs_names"
#: Where the schema a table is read with came from: a model's (``predict``), or given by the
#: user (``--schema``; ``schema=`` in Python). Errors name the fix that applies to each.
SCHEMA_OF_MODEL = "model"
SCHEMA_GIVEN = "given"
_DECIMAL_COMMA = re.compile(r"[+-]?\d+,\d+(?:[eE][+-]?\d+)?")


def _shown(names: Sequence[str], limit: int = 8) -> str:
    """The first ``limit`` names, comma-separated, with '...' when there are more."""
    return ", ".join(map(str, names[:limit])) + (", ..." if len(names) > limit else "")


def _line(frame: pd.DataFrame | pd.Index, pos: int) -> int:
    """File line of the row at position ``pos`` of a table (or of its row labels): tables
    keep read_csv's 0-based row labels."""
    label = (frame if isinstance(frame, pd.Index) else frame.index)[pos]
    return int(label) + 2 if isinstance(label, (int, np.integer)) else pos + 2


def read_csv_text(
    path: str | Path,
    *,
    what: str = "table",
    repeated_columns: bool = False,
    sheet: str | int | None = None,
) -> pd.DataFrame:
    """Read a table as strings (empty cells and NA markers become NaN), refusing malformed files.

    The file is what :func:`read_table_text` reads (CSV, ``;``- or tab-separated text in
    UTF-8 or Windows-1252, an ``.xlsx`` sheet); each assumption made in reading it is one
    :class:`~ephys2type.errors.Ephys2TypeWarning`. A column name given twice is an error,
    unless ``repeated_columns`` and both columns hold the same values (then it is read once):
    some published metadata tables repeat their id.
    """
    frame, found = read_table_text(path, what=what, repeated_columns=repeated_columns, sheet=sheet)
    found.warn(stacklevel=2)
    return frame


def read_table_text(
    path: str | Path,
    *,
    what: str = "table",
    repeated_columns: bool = False,
    sheet: str | int | None = None,
) -> tuple[pd.DataFrame, TableFormat]:
    """Read a table as strings, and how it was read (its notes not yet shown).

    Comma-, semicolon- or tab-separated text (UTF-8 with or without byte-order mark, UTF-16
    with one, else Windows-1252), decimal commas, or one sheet of an ``.xlsx`` workbook
    (``sheet``, else as :func:`~ephys2type.data.table_formats.workbook_as_text` chooses):
    see :mod:`ephys2type.data.table_formats`. Spreadsheet error values are missing values;
    rows of empty cells at the end and empty unnamed columns are dropped; an unnamed first
    column is kept as :data:`UNNAMED_COLUMN`. Recordings, binary files and files in another
    encoding are refused with one line saying what to do. A plain UTF-8 CSV gives no notes.
    """
    path = Path(path)
    if not path.exists():
        raise TableError(f"{path}: {what} not found")
    if path.is_dir():
        recordings = any(p.suffix.lower() in (".abf", ".nwb") for p in path.iterdir())
        hint = (
            f"; for a folder of recordings run 'ephys2type features {path} --out "
            f"features.csv' first"
            if recordings
            else ""
        )
        raise TableError(f"{path}: is a folder, expected a CSV {what}{hint}")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise TableError(f"{path}: cannot read {what} ({exc.strerror})") from exc
    refuse_non_table(path, data, what=what)
    notes: list[str] = []
    if is_workbook(data):
        text, sheet_name, sheet_notes, others = workbook_as_text(path, what=what, sheet=sheet)
        notes += sheet_notes
        found = TableFormat(kind="xlsx", encoding=None, sheet=sheet_name, other_sheets=others)
        what_sheet = f"{what} {found.sheet_phrase()}"
    else:
        if sheet is not None:
            raise TableError(f"{path}: a sheet applies to .xlsx workbooks only")
        text, encoding, note = decode_text(data, path=path)
        notes += [note] if note else []
        delimiter = sniff_delimiter(text)
        notes += [n for n in [delimiter_note(path, delimiter)] if n]
        found = TableFormat(encoding=encoding, delimiter=delimiter)
        what_sheet = what
    delimiter = found.delimiter
    first = text.split("\n", 1)[0]
    if not first.strip():
        raise TableError(f"{path}: {what_sheet} is empty")
    try:
        header = next(csv.reader(io.StringIO(text), delimiter=delimiter))
    except csv.Error as exc:
        raise TableError(f"{path}: cannot parse the header of the {what} ({exc})") from exc
    if len(header) == 1:
        sample = "\n".join(text.splitlines()[:SNIFF_LINES])
        for sep, label in ((";", "semicolon"), ("\t", "tab"), ("|", "pipe")):
            if sep in header[0]:
                if sep == "|":
                    raise TableError(
                        f"{path}: {what} looks pipe-separated; ephys2type reads ',', ';' or "
                        f"tab-separated files (save it as CSV with ',' between columns)"
                    )
                problem = fields_problem(sample, sep) or "its columns cannot be told apart"
                raise TableError(
                    f"{path}: {what} looks {label}-separated, but {problem}; check that line's "
                    f"separators and quotes"
                )
    names = [h.strip() for h in header]
    try:
        frame = pd.read_csv(
            io.StringIO(text),
            sep=delimiter,
            dtype=str,
            skipinitialspace=True,
            on_bad_lines="error",
        )
    except pd.errors.EmptyDataError as exc:
        raise TableError(f"{path}: {what_sheet} is empty") from exc
    except (pd.errors.ParserError, csv.Error, ValueError) as exc:
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        kind = "CSV" if delimiter == "," else f"{DELIMITER_NAMES[delimiter]}-separated text"
        raise TableError(f"{path}: cannot parse {what} as {kind} ({msg})") from exc
    frame.columns = [str(c).strip() for c in frame.columns]
    frame, note = drop_blank_trailing_rows(frame, path=path)
    notes += [note] if note else []
    if frame.empty:
        raise TableError(f"{path}: {what_sheet} has a header but no rows")
    frame, names, note = _unnamed_columns(frame, names, path=path)
    notes += [note] if note else []
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes and not repeated_columns:
        raise TableError(f"{path}: duplicate column name(s) in the header: {', '.join(dupes)}")
    frame, note = blank_spreadsheet_errors(frame, path=path, text=text)
    notes += [note] if note else []
    frame, decimal_note = read_decimal_commas(frame, path=path, text=text, delimiter=delimiter)
    notes += [decimal_note] if decimal_note else []
    if dupes:
        frame = _drop_repeated_columns(frame, names, path=path)
    found = replace(found, decimal="," if decimal_note else ".", notes=tuple(notes))
    return frame, found


def _unnamed_columns(
    frame: pd.DataFrame, names: list[str], *, path: Path
) -> tuple[pd.DataFrame, list[str], str | None]:
    """Drop empty columns without a name (a note), keep an unnamed first column that holds
    values as :data:`UNNAMED_COLUMN`; another unnamed column with values is an error."""
    if "" not in names:
        return frame, names, None
    blank = blank_cells(frame)
    drop = [i for i, n in enumerate(names) if n == "" and bool(blank.iloc[:, i].all())]
    for pos, name in enumerate(names):
        if name == "" and pos not in drop and pos > 0:
            row = int(np.flatnonzero(~blank.iloc[:, pos].to_numpy())[0])
            raise TableError(
                f"{path}: column {pos + 1} of the header has no name; give it one (it holds "
                f"values, e.g. {frame.iloc[row, pos]!r} on line {_line(frame, row)})"
            )
    keep = [i for i in range(len(names)) if i not in drop]
    names = [UNNAMED_COLUMN if (i == 0 and names[i] == "") else names[i] for i in keep]
    frame = frame.iloc[:, keep].copy()
    frame.columns = [
        UNNAMED_COLUMN if n == UNNAMED_COLUMN else c
        for n, c in zip(names, frame.columns, strict=True)
    ]
    note = f"{path}: dropped {len(drop)} empty column(s) without a name" if drop else None
    return frame, names, note


def _drop_repeated_columns(frame: pd.DataFrame, names: list[str], *, path: Path) -> pd.DataFrame:
    """Keep the first of each repeated column, refusing repeats whose values differ."""
    seen: set[str] = set()
    keep = []
    for position, name in enumerate(names):
        if name in seen:
            first = frame.iloc[:, names.index(name)]
            if not first.equals(frame.iloc[:, position]):
                raise TableError(f"{path}: column {name!r} is given twice with different values")
        else:
            seen.add(name)
            keep.append(position)
    out = frame.iloc[:, keep]
    out.columns = [names[i] for i in keep]
    return out


def settle_unnamed_column(
    frame: pd.DataFrame, id_column: str, *, path: str | Path, stacklevel: int = 2
) -> pd.DataFrame:
    """Decide what an unnamed first column (:data:`UNNAMED_COLUMN`) is, once the id column
    is known, saying so in one warning.

    It is the id column: a note says so. It only numbers the rows (0..n-1, a pandas index,
    or 1..n) beside another id column: it is dropped, with a note. Otherwise it stays, an
    extra column like any other.
    """
    if UNNAMED_COLUMN not in frame.columns:
        return frame
    if id_column == UNNAMED_COLUMN:
        counts = row_counter(frame[UNNAMED_COLUMN])
        note = (
            f"{path}: the unnamed first column holds the cell ids, though it only numbers the "
            f"rows {counts}: the table has no other id column"
            if counts
            else f"{path}: the unnamed first column (R row names or a pandas index) holds the "
            f"cell ids"
        )
        warnings.warn(note, Ephys2TypeWarning, stacklevel=stacklevel + 1)
        return frame
    counts = row_counter(frame[UNNAMED_COLUMN])
    if counts is None:
        return frame
    warnings.warn(
        f"{path}: ignored the unnamed first column: it numbers the rows {counts} (a pandas "
        f"index or R row numbers) and the cell ids are in column {id_column!r}",
        Ephys2TypeWarning,
        stacklevel=stacklevel + 1,
    )
    return frame.drop(columns=[UNNAMED_COLUMN])


def index_by_id(frame: pd.DataFrame, id_column: str, *, path: str | Path) -> pd.DataFrame:
    """Index a table by its cell-id column, refusing blank and duplicate ids."""
    if id_column not in frame.columns:
        shown = ", ".join(list(frame.columns)[:8]) + (", ..." if frame.shape[1] > 8 else "")
        raise TableError(f"{path}: no id column {id_column!r} (columns: {shown})")
    ids = frame[id_column].astype("string").str.strip()
    blank = ids.isna() | (ids == "")
    if blank.any():
        pos = int(np.flatnonzero(blank.to_numpy())[0])
        raise TableError(f"{path}: line {_line(frame, pos)}: empty cell id in column {id_column!r}")
    dup = ids.duplicated(keep=False)
    if dup.any():
        first = ids[dup].iloc[0]
        lines = [_line(frame, int(p)) for p in np.flatnonzero((ids == first).to_numpy())]
        raise TableError(
            f"{path}: duplicate cell id {first!r} in column {id_column!r} "
            f"(lines {', '.join(map(str, lines[:5]))}); give each cell one row (if "
            f"{id_column!r} holds no ids, name the id column with --id-column)"
        )
    out = frame.drop(columns=[id_column])
    out.index = pd.Index(ids.to_numpy(dtype=object), name="cell_id")
    return out


def to_numeric(
    frame: pd.DataFrame,
    columns: Sequence[str],
    *,
    path: str | Path,
    locate: Callable[[int], str] | None = None,
) -> pd.DataFrame:
    """Convert ``columns`` of a table to float64; text or infinity is an error.

    Errors name the place as ``locate(position)``; by default the file line, which is right
    because ``frame`` keeps read_csv's row labels.
    """
    where = locate or (lambda pos: f"line {_line(frame, pos)}")
    columns = list(columns)
    try:  # every value a number or empty: one conversion of the whole block
        block = frame[columns].to_numpy(dtype=np.float64)
    except (ValueError, TypeError):
        block = None
    if block is not None and not (
        np.isinf(block).any() or (np.abs(np.nan_to_num(block)) > MAX_ABS_VALUE).any()
    ):
        return pd.DataFrame(block, index=frame.index, columns=columns)
    # otherwise column by column, to name the bad values: text first, every column's first
    # such value, so that one upload shows them all (new-user trial: one fix per upload; a
    # review: an infinite value in an earlier column hid them)
    numbers = {col: pd.to_numeric(frame[col], errors="coerce").astype("float64") for col in columns}
    texts: list[str] = []
    for col in columns:
        raw, num = frame[col], numbers[col]
        bad = num.isna() & raw.notna() & (raw.astype("string").str.strip() != "")
        if bad.any():
            pos = int(np.flatnonzero(bad.to_numpy())[0])
            hint = (
                " (a decimal comma, in a table whose other numbers have decimal points: write "
                "all decimals one way)"
                if _DECIMAL_COMMA.fullmatch(str(raw.iloc[pos]).strip())
                else ""
            )
            more = int(bad.sum()) - 1
            others = f" (and {more} more in this column)" if more else ""
            texts.append(
                f"column {col!r}, {where(pos)}: value {raw.iloc[pos]!r} is not a number"
                f"{hint}{others}"
            )
    if texts:
        shown = "; ".join(texts[:MAX_TEXT_COLUMNS_SHOWN])
        if len(texts) > MAX_TEXT_COLUMNS_SHOWN:
            shown += f"; and {len(texts) - MAX_TEXT_COLUMNS_SHOWN} more columns with text"
        raise TableError(
            f"{path}: {shown}: write each value as a plain number, without its unit (declare a "
            "column's unit in a --mapping file), and leave a value that was not measured empty"
        )
    data: dict[str, np.ndarray] = {}
    for col in columns:
        raw, values = frame[col], numbers[col].to_numpy()
        huge = np.abs(np.nan_to_num(values, posinf=0.0, neginf=0.0)) > MAX_ABS_VALUE
        if huge.any():
            pos = int(np.flatnonzero(huge)[0])
            raise TableError(
                f"{path}: column {col!r}, {where(pos)}: value {raw.iloc[pos]!r} is implausibly "
                f"large for an IPFX feature (beyond ±{MAX_ABS_VALUE:g})"
            )
        inf = np.isinf(values)
        if inf.any():
            pos = int(np.flatnonzero(inf)[0])
            raise TableError(
                f"{path}: column {col!r}, {where(pos)}: value {raw.iloc[pos]!r} is "
                f"infinite; use an empty cell for a missing value"
            )
        data[col] = values
    return pd.DataFrame(data, index=frame.index, columns=list(columns))


#: Columns with text values one error names (each by its first such value).
MAX_TEXT_COLUMNS_SHOWN = 5


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


#: Cell-id column names recognised without being named (Allen releases and common exports).
ID_COLUMNS = ("cell_id", "specimen_id", "cell_specimen_id", "ID", "cell_name", "sample_id")


#: A text column whose values repeat in at most 1 - this share of its rows (one repeat in a
#: table of under 10) is taken for the id column: its repeats are then refused as duplicate
#: ids, with their lines.
MOSTLY_UNIQUE = 0.9


def _usable_ids(values: pd.Series) -> bool:
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
        return _usable_ids(frame[col])

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
        numbered = [
            c
            for c in others
            if usable(c)
            and (v := pd.to_numeric(frame[c], errors="coerce")).notna().all()
            and (v == v.round()).all()
        ]
        hint = (
            f"; {_shown(numbered)} {'holds' if len(numbered) == 1 else 'hold'} unique whole "
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


def find_id_column(path: str | Path, schema: FeatureSchema, *, preferred: str | None = None) -> str:
    """The id column of a features table, found as ``predict`` finds it
    (:func:`detect_id_column`); the ``.obs_names`` of an ``.h5ad`` file.

    The file's format notes are not shown: the reading of the table that follows says them.
    """
    if is_h5ad(path):
        return H5AD_ID_COLUMN
    frame, _ = read_table_text(path, what="feature table")
    return detect_id_column(frame, schema, preferred=preferred, path=path)


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
                f"{_shown(absent)}{_near_names(absent, raw.columns, taken)}",
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
        raise TableError(_none_there(named, schema, mapping, other_sheets=other_sheets))
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
        _warn_absent(absent, schema, what=str(path), stacklevel=3, source=schema_source)
    if extra:
        warnings.warn(
            f"{path}: ignoring {len(extra)} column(s) "
            + (  # "not in schema" read as "not in my table" (new-user trial)
                f"the model does not use (not features of its schema {schema.name!r}): "
                if schema_source == SCHEMA_OF_MODEL
                else f"that are not features of schema {schema.name!r}: "
            )
            + f"{_shown(extra)}{_rename_hint(schema, mapping) if absent else ''}",
            Ephys2TypeWarning,
            stacklevel=2,
        )
    if locate is None:  # the file's lines: the rows keep read_csv's 0-based labels
        rows = raw.index
        locate = lambda pos: f"line {_line(rows, pos)}"  # noqa: E731
    try:
        X = validate_features(raw.set_axis(index, axis=0), schema, what=path, locate=locate)
    except TableError as exc:
        raise TableError(_their_column(str(exc), mapping)) from None
    if mapping is not None:  # converted values are checked again (a factor may overflow)
        X = validate_features(mapping.convert(X), schema, what=path)
    if check_unit_ranges:
        check_units(X.reindex(columns=schema.columns), schema, path=path, mapping=mapping)
    return FeatureFrame.of(
        X, schema, source=str(path), absent_noted=note_absent, mapping=mapping, checks=checks
    )


def _their_column(message: str, mapping: ColumnMapping | None) -> str:
    """An error about a feature's column, naming the lab's own column a mapping renamed
    (new-user trial: "column 'v_baseline', line 7" where the table's column is 'Vrest')."""
    for c in () if mapping is None else mapping.columns:
        if c.source != c.feature:
            message = message.replace(
                f"column {c.feature!r},",
                f"column {c.source!r} (which {mapping.origin} maps onto {c.feature}),",
            )
    return message


def _rename_hint(schema: FeatureSchema, mapping: ColumnMapping | None) -> str:
    """The end of the warning on ignored columns when some of the schema's are absent: they
    may be the schema's features under the lab's own names (a renamed essential column is
    otherwise lost without a word on the fix)."""
    if mapping is not None:
        return f"; if any is one of the absent features, add its line to {mapping.origin}"
    return (
        "; if any is one of the absent features under another name (or unit), map it with "
        f"--mapping map.toml (mapping=...): `{families_command(schema)}` lists the features"
    )


def _near_names(names: Sequence[str], columns: Sequence[str], taken: Sequence[str]) -> str:
    """`` (the table has 'Rin (MOhm)' for 'Rin (MOhms)': a typo?)``: the table's columns
    nearest the missing names, of those nothing else claims (``taken``: the mapping's other
    columns, the schema's features, the usual id columns)."""
    free = [str(c) for c in columns if str(c) not in set(taken)]
    near = {n: difflib.get_close_matches(n, free, n=1) for n in names}
    found = [f"{m[0]!r} for {n!r}" for n, m in near.items() if m]
    return f" (the table has {', '.join(found)}: a typo?)" if found else ""


def _none_there(
    path: str | Path,
    schema: FeatureSchema,
    mapping: ColumnMapping | None,
    *,
    other_sheets: bool = False,
) -> str:
    """The error for a table without a single column of ``schema``, naming the fix: the
    sheet first when a workbook's sheet was chosen among others (a trial: a 'Notes' sheet
    read before 'Ephys' was blamed on the mapping)."""
    lists = families_command(schema)
    sheet = "if the features are on another sheet, name it with --sheet; else " * other_sheets
    if mapping is not None:
        return (
            f"{path}: none of the columns of schema {schema.name!r} is there, even with the "
            f"mapping {mapping.origin}; {sheet}its [columns] must map your column names onto "
            f"the schema's features, which `{lists}` lists with their units"
        )
    return (
        f"{path}: none of the columns of schema {schema.name!r} is there; {sheet}if your "
        f"columns have other names (or units), map them onto the schema's with --mapping "
        f"map.toml (mapping=...): `{lists}` lists the schema's columns with their units"
    )


def families_command(schema: FeatureSchema) -> str:
    """The command that lists ``schema``'s columns: ``ephys2type data families --species
    human`` for a built-in schema, else with ``--schema <file>``."""
    from ephys2type.data.schema import BUILTIN_SCHEMAS, get_schema

    for name in BUILTIN_SCHEMAS:
        if get_schema(name).name == schema.name:
            return f"ephys2type data families --species {name}"
    return "ephys2type data families --schema <schema file>"


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


def other_schema_match(columns: Sequence[str], schema: FeatureSchema) -> tuple[str, int] | None:
    """A built-in schema whose feature names match more of ``columns`` than ``schema``
    does (its name and how many match), or None: a table of another schema's features."""
    from ephys2type.data.schema import BUILTIN_SCHEMAS, get_schema

    given = set(map(str, columns))
    own = len(given & set(schema.columns))
    best = None
    for name in BUILTIN_SCHEMAS:
        other = get_schema(name)
        if set(other.columns) == set(schema.columns):
            continue
        n = len(given & set(other.columns))
        if n > own and (best is None or n > best[1]):
            best = (name, n)
    return best


def check_schema_match(
    columns: Sequence[str],
    schema: FeatureSchema,
    *,
    path: str | Path,
    source: str = SCHEMA_GIVEN,
) -> None:
    """Refuse a table whose columns are another built-in schema's, naming it and the fix
    (``source``: :data:`SCHEMA_OF_MODEL` or :data:`SCHEMA_GIVEN`)."""
    found = other_schema_match(columns, schema)
    if found is None:
        return
    name, n = found
    own = len(set(map(str, columns)) & set(schema.columns))
    if source == SCHEMA_OF_MODEL:
        train = "--features aligned" if name == "aligned" else f"--species {name}"
        raise TableError(
            f"{path}: {n} columns are features of the built-in {name!r} schema and only {own} "
            f"of this model's schema {schema.name!r} ({schema.species}); use a model trained "
            f"on the {name} schema (ephys2type train {train}); if they are "
            f"{schema.species} cells whose features were computed from recordings with the "
            f"{name} schema, compute them again with --schema {schema.species} "
            f"(ephys2type features --schema {schema.species}; in Python, "
            f"extract_files(..., schema={schema.species!r}))"
        )
    raise TableError(
        f"{path}: {n} columns are features of the built-in {name!r} schema and only {own} of "
        f"schema {schema.name!r}; read it with --schema {name} (schema={name!r}), or leave "
        f"--schema out: a command finds the schema from the columns"
    )


def detect_schema(columns: Sequence[str], *, path: str | Path = "features") -> FeatureSchema:
    """The built-in schema whose feature names most of ``columns`` are (a table given
    without a schema); one error naming ``--schema`` and ``--mapping`` when none or two
    schemas match as well."""
    from ephys2type.data.schema import BUILTIN_SCHEMAS, get_schema

    given = set(map(str, columns))
    counts = {name: len(given & set(get_schema(name).columns)) for name in BUILTIN_SCHEMAS}
    best = max(counts.values())
    if best == 0:
        raise TableError(
            f"{path}: none of its columns is a feature of a built-in schema "
            f"({', '.join(BUILTIN_SCHEMAS)}); name the schema with --schema (a TOML/JSON file "
            f"for your own), or map your columns onto a built-in one with --mapping map.toml "
            f"(`ephys2type data families --species mouse|human` lists their columns)"
        )
    top = [name for name, n in counts.items() if n == best]
    if len(top) > 1:
        raise TableError(
            f"{path}: its columns fit the built-in schemas {' and '.join(map(repr, top))} "
            f"equally ({best} features each); name one with --schema"
        )
    return get_schema(top[0])


def feature_table_columns(
    path: str | Path, *, obsm_key: str | None = None, sheet: str | int | None = None
) -> list[str]:
    """The column names of a features file (a CSV or sheet as :func:`read_table_text` reads
    it; an ``.h5ad`` file's feature names), without checking its values."""
    return feature_table_header(path, obsm_key=obsm_key, sheet=sheet)[0]


def feature_table_header(
    path: str | Path, *, obsm_key: str | None = None, sheet: str | int | None = None
) -> tuple[list[str], str]:
    """The column names of a features file and how errors about them name it (with the
    sheet read, when a workbook has others: :meth:`TableFormat.where`)."""
    if is_h5ad(path):
        return [str(c) for c in read_h5ad_features(path, obsm_key=obsm_key).columns], str(path)
    frame, found = read_table_text(path, what="feature table", sheet=sheet)
    return [str(c) for c in frame.columns], found.where(path)


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
        raise TableError(f"{what}: columns named twice: {_shown(twice)}; keep one of each")
    check_schema_match(features.columns, schema, path=what, source=SCHEMA_OF_MODEL)
    missing = [c for c in schema.columns if c not in features.columns]
    if len(missing) == len(schema.columns):
        raise TableError(
            f"{what}: none of the model's {len(missing)} feature columns "
            f"({', '.join(missing[:4])}, ...) is in the table"
        )
    if missing:
        _warn_absent(missing, schema, what=what, stacklevel=4)
        # one block, not a column at a time (pandas warned of a fragmented frame)
        features = features.reindex(columns=[*features.columns, *missing])
    extra = [c for c in features.columns if c not in schema.columns]
    if (
        id_column is None
        and preferred_id_column in extra  # the model's own id column, over an index of ids
        and (not _index_names_cells(features.index) or _usable_ids(features[preferred_id_column]))
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
            f"ignoring {len(extra)} column(s) the model does not use: {_shown(extra)}",
            Ephys2TypeWarning,
            stacklevel=3,
        )
    return validate_features(features, schema, what=what)


def _warn_absent(
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
        f"has: {_shown(missing)}",
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
            _warn_absent(missing, schema, what=what, stacklevel=5)
        frame = cells.assign(**{c: np.nan for c in missing})
    block = frame[schema.columns].to_numpy(dtype=np.float64)
    return pd.DataFrame(block, index=cells.index, columns=schema.columns)
